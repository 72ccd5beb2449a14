//! The backend URL of a proxied request: the service URL, the extra path with its
//! percent-encoding kept, and the query without the proxy's own parameters.

use crate::server::http::query_key_in;

/// Query parameters that belong to twitcher and never reach a backend.
const OWN_PARAMS: &[&str] = &["access_token"];

/// Refuses `.` and `..` segments, raw or percent-encoded (also doubly encoded, as
/// Jetty's `%uXXXX`, with encoded or back slashes, and with `;parameters`), and NUL
/// bytes: the backend must never be walked out of the registered service URL.
pub fn check_extra(extra: &str) -> Result<(), String> {
    /// Encodings of encodings deeper than this are refused rather than unwrapped.
    const MAX_ROUNDS: usize = 4;
    let mut text = extra.to_string();
    for _ in 0..=MAX_ROUNDS {
        if text.contains('\0') {
            return Err("the path holds a NUL byte".into());
        }
        // Tomcat and Jetty drop a segment's `;parameters` before resolving dots.
        let dots = |seg: &str| matches!(seg.split(';').next(), Some("." | ".."));
        if text.split(['/', '\\']).any(dots) {
            return Err("the path may not hold `.` or `..` segments".into());
        }
        // Nothing left to decode: the common case, and cheap to see.
        if !text.contains('%') {
            return Ok(());
        }
        let decoded =
            decode_percent_u(&percent_encoding::percent_decode_str(&text).decode_utf8_lossy());
        if decoded == text {
            return Ok(());
        }
        text = decoded;
    }
    Err("the path is percent-encoded too many times over".into())
}

/// Decodes `%uXXXX`, which Jetty took for any code point: `%u002e` for a dot
/// (CVE-2021-34429), `%u002f` for a slash, `%u003b` for a `;`.
fn decode_percent_u(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let code = rest
            .get(1..6)
            .and_then(|u| u.strip_prefix(['u', 'U']))
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u32::from_str_radix(hex, 16).ok());
        match code {
            Some(c) => {
                out.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
                rest = &rest[6..];
            }
            None => {
                out.push('%');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Bytes allowed as they are in a path; everything else is percent-encoded.
fn path_byte_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b)
}

/// Whether a `key=value` pair of a query or form body is one of twitcher's own.
fn own_pair(pair: &[u8]) -> bool {
    let key = pair.split(|&b| b == b'=').next().unwrap_or_default();
    query_key_in(&String::from_utf8_lossy(key), OWN_PARAMS)
}

/// Appends `?` and the query as sent, without twitcher's own parameters; the other
/// pairs keep their encoding and order. Nothing when no pair is left.
fn push_forwarded_query(url: &mut String, query: &str) {
    let mut separator = '?';
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        if own_pair(pair.as_bytes()) {
            continue;
        }
        url.push(separator);
        url.push_str(pair);
        separator = '&';
    }
}

/// A form body without twitcher's own parameters, as the query loses them: the token
/// stays with the proxy. The other pairs keep their bytes and order.
pub fn forwarded_form(body: Vec<u8>) -> Vec<u8> {
    if !body.split(|&b| b == b'&').any(own_pair) {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    for pair in body
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty() && !own_pair(p))
    {
        if !out.is_empty() {
            out.push(b'&');
        }
        out.extend_from_slice(pair);
    }
    out
}

/// Appends `path` with every byte that may not stand as it is in a URL path
/// percent-encoded; `%` stays, so an encoding already there is kept.
pub fn push_encoded_path(out: &mut String, path: &str) {
    for b in path.bytes() {
        if path_byte_ok(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// `service_url[/extra][?query]`; `extra` must have passed `check_extra`.
pub fn target_url(service_url: &str, extra: &str, query: &str) -> String {
    let mut url = if extra.is_empty() {
        service_url.to_string()
    } else {
        let mut u = service_url.trim_end_matches('/').to_string();
        u.push('/');
        push_encoded_path(&mut u, extra);
        u
    };
    push_forwarded_query(&mut url, query);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_in_every_disguise_is_refused() {
        for bad in [
            "..",
            "a/../b",
            "./x",
            "%2e%2e/x",
            "%2E%2E",
            "a/%2e%2e%2fb",
            "%252e%252e/x",
            "a%2f..%2fb",
            "..\\x",
            "a%5c..%5cb",
            "x%00",
            "..;/x",
            "a/..;jsessionid=1/b",
            "..%3b/x",
            ".;",
            "%u002e%u002e/x",
            "%U002E/x",
            "%u002e%u002e%u002fadmin",
            "..%u002f..%u002fadmin",
            "..%u005cadmin",
            "%u002e%u002e%u003bx/admin",
            "x%u0000",
            "%25252e%25252e/x",
            "%2525252525252e",
            "%252525252541",
        ] {
            assert!(check_extra(bad).is_err(), "{bad}");
        }
        for good in [
            "outputs/x.nc",
            "a..b/c",
            "...",
            "%2e%2ex",
            "a%20b",
            "",
            "x;..",
            "...;a",
            "%u00e9t%C3%A9",
            "%u002",
            "100%u",
            "%uzzzz",
            "%25252541",
        ] {
            assert!(check_extra(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            target_url(
                "http://b/wps",
                "",
                "service=WPS&access_token=abc&request=Execute"
            ),
            "http://b/wps?service=WPS&request=Execute"
        );
        assert_eq!(
            target_url("http://b/wps/", "outputs/a%20b.nc", "ACCESS_TOKEN=x"),
            "http://b/wps/outputs/a%20b.nc"
        );
        assert_eq!(
            target_url("http://b/wps", "a b|c", ""),
            "http://b/wps/a%20b%7Cc"
        );
        let forwarded = |q| {
            let mut url = String::new();
            push_forwarded_query(&mut url, q);
            url
        };
        assert_eq!(forwarded("a=1&&access%5Ftoken=2&b"), "?a=1&b");
        assert_eq!(
            forwarded("Access_Token=x&ACCESS+TOKEN=y"),
            "?ACCESS+TOKEN=y"
        );
        assert_eq!(forwarded("access_token=x"), "");
        assert_eq!(
            forwarded_form(b"a=1&access_token=t&b=%20".to_vec()),
            b"a=1&b=%20"
        );
        assert_eq!(forwarded_form(b"a=1&&b".to_vec()), b"a=1&&b", "untouched");
        assert_eq!(forwarded_form(b"Access%5FToken=t".to_vec()), b"");
    }
}
