//! The service registry's rules: what a service is, how names are sanitised, and how a
//! registration body is validated. Kept apart from HTTP and storage so both can share them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use serde_json::Value;

use crate::config::{parse_bool, valid_http_url};
use crate::ows::policy::ServiceAuth;

/// What a name keeps as it is in one URL path segment (RFC 3986 unreserved), so that
/// `my_wps` is `/ows/proxy/my_wps`, not `/ows/proxy/my%5Fwps`.
pub const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Limits that keep one registration from bloating every listing.
const MAX_URL_LEN: usize = 2048;
const MAX_WORD_LEN: usize = 40;
const NAME_MIN: usize = 2;
const NAME_MAX: usize = 25;

/// A registered OWS service, in the JSON shape of Twitcher 0.11.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub url: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub purl: String,
    pub auth: String,
    pub public: bool,
    pub verify: bool,
}

impl Service {
    pub fn new(
        name: String,
        url: String,
        kind: String,
        purl: String,
        auth: String,
        verify: bool,
    ) -> Service {
        let public = is_public_auth(&auth);
        Service {
            url,
            name,
            kind,
            purl,
            auth,
            public,
            verify,
        }
    }
}

/// Twitcher treats every `auth` other than `token` and `cert` as public.
pub fn is_public_auth(auth: &str) -> bool {
    ServiceAuth::of(auth) == ServiceAuth::Public
}

/// What a registration keeps as given, as the original does, but was probably not
/// meant (a typo in `auth` makes the service public): `twitcherctl register` prints
/// these, and the server logs them.
pub fn doubts(kind: &str, auth: &str) -> Vec<String> {
    let mut out = Vec::new();
    let given = auth.trim();
    if is_public_auth(given) && !given.eq_ignore_ascii_case("public") {
        out.push(format!(
            "auth `{}` is neither token nor cert: the service is public",
            crate::log::printable(auth)
        ));
    }
    if crate::ows::operation::ServiceType::parse(kind).is_none() {
        out.push(format!(
            "type `{}` is none of wps, wms, wfs, wcs, wmts: requests to it must name their \
             service",
            crate::log::printable(kind)
        ));
    }
    out
}

/// One validation problem, in the shape of cornice's `errors` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub location: &'static str,
    pub name: String,
    pub description: String,
}

impl FieldError {
    pub fn body(name: &str, description: impl Into<String>) -> FieldError {
        FieldError {
            location: "body",
            name: name.to_string(),
            description: description.into(),
        }
    }
}

/// Twitcher's `sanitize`: trimmed, lower-cased, cut to 25 characters, every non-word
/// character replaced by `_`, and a `_` in front of a leading digit.
pub fn sanitize_name(name: &str) -> Result<String, String> {
    let trimmed = name.trim();
    if trimmed.chars().count() < NAME_MIN {
        return Err(format!("name must have at least {NAME_MIN} chars."));
    }
    let mut out: String = trimmed
        .to_lowercase()
        .chars()
        .take(NAME_MAX)
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_numeric()) {
        out.insert(0, '_');
    }
    Ok(out)
}

/// Twitcher's `baseurl`: the URL without query and fragment, http(s) with a host only.
/// Unlike the original's, it is one the proxy can forward to: the scheme in lower case,
/// and the path's spaces and other characters a URL cannot hold percent-encoded.
pub fn base_url(url: &str) -> Result<String, String> {
    normalized_url(url, true)
}

/// A service's public URL (`purl`), in the same form as `base_url`'s. It is only
/// written into documents, never sent a request, so its host may be an
/// internationalised name.
pub fn public_url(url: &str) -> Result<String, String> {
    normalized_url(url, false)
}

/// The authority (host and port, with any user info) and the path of an absolute URL,
/// without its query or fragment, which may hold a `/` of their own.
pub fn url_parts(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    rest.split_at(rest.find('/').unwrap_or(rest.len()))
}

fn normalized_url(url: &str, for_requests: bool) -> Result<String, String> {
    let url = url.trim();
    if url.len() > MAX_URL_LEN {
        return Err(format!("URL longer than {MAX_URL_LEN} characters"));
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let url = format!("{}://{rest}", scheme.to_ascii_lowercase());
    if !valid_http_url(&url) {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    let base = url.split(['?', '#']).next().unwrap_or(&url).trim_end();
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let path_at = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let (origin, path) = base.split_at(path_at);
    if for_requests && !origin.is_ascii() {
        return Err(
            "the host must be ASCII: give an internationalised name in its xn-- form".into(),
        );
    }
    // Host names are case-insensitive, and the proxy finds the backend's URLs in its
    // documents byte for byte: `http://LOCALHOST:5000` would never match the
    // `http://localhost:5000` a backend writes. User info keeps its case.
    let host_at = origin.rfind('@').map_or(after_scheme, |i| i + 1);
    let mut encoded = origin[..host_at].to_string();
    encoded.push_str(&origin[host_at..].to_ascii_lowercase());
    crate::proxy::target::push_encoded_path(&mut encoded, path);
    if encoded.len() > MAX_URL_LEN {
        return Err(format!(
            "URL longer than {MAX_URL_LEN} characters once percent-encoded"
        ));
    }
    if for_requests {
        encoded
            .parse::<ureq::http::Uri>()
            .map_err(|e| format!("is not a URL requests can be sent to: {e}"))?;
    }
    Ok(encoded)
}

/// `verify` arrives as a JSON bool, a number, or a string such as "true" or "0".
fn parse_verify(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => parse_bool(s),
        _ => None,
    }
}

fn string_field(
    body: &serde_json::Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            errors.push(FieldError::body(
                name,
                format!("\"{other}\" is not a string"),
            ));
            None
        }
    }
}

/// Validates a registration body and builds the service to store.
pub fn service_from_body(body: &Value) -> Result<Service, Vec<FieldError>> {
    let Some(obj) = body.as_object() else {
        return Err(vec![FieldError::body("", "Required: a JSON object")]);
    };
    let mut errors = Vec::new();
    let name = string_field(obj, "name", &mut errors);
    let url = string_field(obj, "url", &mut errors);
    let kind = string_field(obj, "type", &mut errors).unwrap_or_else(|| "WPS".into());
    let purl = string_field(obj, "purl", &mut errors).unwrap_or_default();
    let auth = string_field(obj, "auth", &mut errors).unwrap_or_else(|| "token".into());

    let name = match name {
        None if !errors.iter().any(|e| e.name == "name") => {
            errors.push(FieldError::body("name", "Required"));
            None
        }
        None => None,
        Some(n) => sanitize_name(&n)
            .map_err(|m| errors.push(FieldError::body("name", m)))
            .ok(),
    };
    let url = match url {
        None if !errors.iter().any(|e| e.name == "url") => {
            errors.push(FieldError::body("url", "Required"));
            None
        }
        None => None,
        Some(u) => base_url(&u)
            .map_err(|m| errors.push(FieldError::body("url", m)))
            .ok(),
    };
    let purl = match purl.trim() {
        "" => String::new(),
        given => public_url(given).unwrap_or_else(|m| {
            errors.push(FieldError::body("purl", m));
            String::new()
        }),
    };
    let kind = kind.trim().to_string();
    if kind.is_empty() || kind.len() > MAX_WORD_LEN {
        errors.push(FieldError::body(
            "type",
            format!("must be 1 to {MAX_WORD_LEN} characters"),
        ));
    }
    let auth = match ServiceAuth::of(auth.trim()) {
        ServiceAuth::Token => "token".to_string(),
        ServiceAuth::Cert => "cert".to_string(),
        ServiceAuth::Public => auth.trim().to_string(),
    };
    if auth.is_empty() || auth.len() > MAX_WORD_LEN {
        errors.push(FieldError::body(
            "auth",
            format!("must be 1 to {MAX_WORD_LEN} characters"),
        ));
    }
    let verify = match obj.get("verify") {
        None | Some(Value::Null) => true,
        Some(v) => parse_verify(v).unwrap_or_else(|| {
            errors.push(FieldError::body(
                "verify",
                match v {
                    Value::String(s) => format!("\"{s}\" is neither true nor false"),
                    other => format!("\"{other}\" is neither true nor false"),
                },
            ));
            true
        }),
    };
    match (name, url) {
        (Some(name), Some(url)) if errors.is_empty() => {
            Ok(Service::new(name, url, kind, purl, auth, verify))
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sanitizes_like_twitcher() {
        assert_eq!(sanitize_name("Emu Two!").unwrap(), "emu_two_");
        assert_eq!(sanitize_name("  emu ").unwrap(), "emu");
        assert_eq!(sanitize_name("9lives").unwrap(), "_9lives");
        assert_eq!(sanitize_name("Ümlaut-Ö").unwrap(), "ümlaut_ö");
        assert_eq!(sanitize_name(&"a".repeat(40)).unwrap().len(), 25);
        assert!(sanitize_name(" x ").is_err());
    }

    #[test]
    fn body_defaults_and_query_stripping() {
        let s = service_from_body(
            &json!({"name": "Emu Two!", "url": "http://h:5000/wps?foo=bar", "auth": "public"}),
        )
        .unwrap();
        assert_eq!(s.url, "http://h:5000/wps");
        assert_eq!(s.name, "emu_two_");
        let p =
            service_from_body(&json!({"name": "ab", "url": "http://h/", "purl": " HTTP://p/a b "}))
                .unwrap();
        assert_eq!(p.purl, "http://p/a%20b", "stored as it is checked");
        assert_eq!(s.kind, "WPS");
        assert!(s.public && s.verify);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"url":"http://h:5000/wps","name":"emu_two_","type":"WPS","purl":"","auth":"public","public":true,"verify":true}"#
        );
    }

    #[test]
    fn urls_are_stored_as_the_proxy_can_send_them() {
        for (given, stored) in [
            ("HTTP://H:5000/wps", "http://h:5000/wps"),
            ("Https://h/a b/wps?x=1", "https://h/a%20b/wps"),
            ("http://h/é", "http://h/%C3%A9"),
            ("http://h/a%20b", "http://h/a%20b"),
            ("http://h", "http://h"),
            ("http://u:p@h:1/x", "http://u:p@h:1/x"),
            ("http://LocalHost:5000/WPS", "http://localhost:5000/WPS"),
            ("http://User:P@Host/x", "http://User:P@host/x"),
        ] {
            assert_eq!(base_url(given).as_deref(), Ok(stored), "{given}");
        }
        assert!(base_url("http://é.example/").unwrap_err().contains("xn--"));
        // Blanks before the query are no part of the path, as in the original.
        assert_eq!(
            base_url("http://h/a b/wps ?x=1").as_deref(),
            Ok("http://h/a%20b/wps")
        );
        // A public URL is never sent a request: its host may be an IDN.
        assert_eq!(
            public_url("HTTPS://wetter.bücher.example/a b?x=1").as_deref(),
            Ok("https://wetter.bücher.example/a%20b")
        );
        for bad in ["ftp://h/", "http:///x", "h/x", "http://h:0/", "http://a b/"] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn verify_forms() {
        for (v, want) in [
            (json!(false), false),
            (json!("false"), false),
            (json!("0"), false),
            (json!(0), false),
            (json!("true"), true),
            (json!("1"), true),
            (json!(true), true),
        ] {
            let s = service_from_body(&json!({"name": "ab", "url": "https://h/", "verify": v}))
                .unwrap();
            assert_eq!(s.verify, want, "{v}");
        }
        let e = service_from_body(&json!({"name": "ab", "url": "https://h/", "verify": "perhaps"}))
            .unwrap_err();
        assert_eq!(e[0].name, "verify");
    }

    #[test]
    fn errors_in_cornice_shape() {
        let e = service_from_body(&json!({"name": "x"})).unwrap_err();
        let names: Vec<_> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["name", "url"]);
        assert_eq!(
            service_from_body(&json!({"name": "xy"})).unwrap_err(),
            vec![FieldError::body("url", "Required")]
        );
        let e = service_from_body(&json!({"name": "ok", "url": "ftp://h/x"})).unwrap_err();
        assert_eq!(e[0].name, "url");
        for bad in [
            "http:///nohost",
            "http://h:99999/wps",
            "http://h:0/wps",
            "http://h:80x/wps",
            "http://h:/wps",
            "http://[::1/wps",
            "http://[::1]x/wps",
            "http://u:p@:80/wps",
            "http://h/w\u{1b}[2Jx",
            "http://h/\u{9b}x",
        ] {
            let e = service_from_body(&json!({"name": "ok", "url": bad})).unwrap_err();
            assert_eq!(e[0].name, "url", "{bad}");
        }
        for good in [
            "http://h:65535/wps",
            "http://[::1]:8080/wps",
            "http://[::1]/wps",
            "https://u:p@h/wps",
        ] {
            assert!(
                service_from_body(&json!({"name": "ok", "url": good})).is_ok(),
                "{good}"
            );
        }
        assert!(service_from_body(&json!([1])).is_err());
        let e = service_from_body(&json!({"name": 5, "url": "http://h"})).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].name, "name");
    }
}
