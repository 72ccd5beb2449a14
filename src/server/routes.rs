//! The routing table: every path the server answers, and the handler per method.

use super::app::App;
use super::errors;
use super::front;
use super::http::{Method, Request, Response};
use super::oauth_api;
use super::ows_api;
use super::registry_api;
use crate::ows::exception::OwsError;

pub type Handler = fn(&App, &mut Request, &Params) -> Response;

/// Values captured from the path: `{name}` segments percent-decoded, a `{name*}` tail raw.
#[derive(Debug, Default)]
pub struct Params<'r>(Vec<(&'r str, String)>);

impl Params<'_> {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// Who may call a route; checked before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// The admin's password, or a bearer token with scope `register`: the registry.
    Registry,
    /// Only the admin's password, never a token.
    Password,
}

pub struct Route {
    /// `/services/{name}`; a last segment `{rest*}` takes the remainder of the path.
    pub pattern: String,
    /// The pattern split once, so matching a request allocates nothing until it fits.
    segments: Vec<Segment>,
    pub methods: Vec<(Method, Access, Handler)>,
    pub family: Family,
}

/// Which protocol a path speaks, so that the errors answered before a handler runs
/// (404, 405, 413) come in that protocol's own format, as the handler's would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// The REST API's JSON errors.
    Rest,
    /// RFC 6749 JSON errors, not to be cached.
    OAuth,
    /// OWS ExceptionReports.
    OwsProxy,
    /// Twitcher's `{"description", "access"}` JSON.
    OwsVerify,
}

enum Segment {
    Literal(String),
    /// `{name}`: one non-empty segment, percent-decoded.
    Param(String),
    /// `{name*}`: the rest of the path, raw.
    Tail(String),
}

fn segments(pattern: &str) -> Vec<Segment> {
    pattern
        .split('/')
        .skip(1)
        .map(
            |p| match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('*') {
                    Some(tail) => Segment::Tail(tail.to_string()),
                    None => Segment::Param(name.to_string()),
                },
                None => Segment::Literal(p.to_string()),
            },
        )
        .collect()
}

fn route(pattern: &str, methods: &[(Method, Access, Handler)]) -> Route {
    Route {
        pattern: pattern.to_string(),
        segments: segments(pattern),
        methods: methods.to_vec(),
        family: if pattern.starts_with("/oauth/") {
            Family::OAuth
        } else {
            Family::Rest
        },
    }
}

/// The methods a backend may be sent; HEAD goes with GET.
pub const OWS_METHODS: [Method; 6] = [
    Method::Get,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Patch,
    Method::Options,
];

fn ows_route(pattern: String, handler: Handler, family: Family) -> Route {
    Route {
        segments: segments(&pattern),
        pattern,
        methods: OWS_METHODS
            .iter()
            .map(|m| (*m, Access::Public, handler))
            .collect(),
        family,
    }
}

/// All routes. `ows_prefix` (`twitcher.ows_proxy_protected_path`) adds the proxy and
/// verify endpoints under it, None leaves them out. `test_hooks` adds
/// `/__test__/panic`, which the test suite uses to check that a panicking handler
/// answers 500 and the server lives on.
pub fn table(test_hooks: bool, ows_prefix: Option<&str>) -> Vec<Route> {
    use Access::*;
    use Method::*;
    // The proxy's routes first: they take nearly every request, and no other route
    // can match their paths (the configuration refuses a prefix that would hide one).
    let mut t = Vec::new();
    if let Some(p) = ows_prefix {
        for (kind, handler, family) in [
            ("proxy", ows_api::proxy as Handler, Family::OwsProxy),
            ("verify", ows_api::verify, Family::OwsVerify),
        ] {
            t.push(ows_route(
                format!("{p}/{kind}/{{service}}"),
                handler,
                family,
            ));
            t.push(ows_route(
                format!("{p}/{kind}/{{service}}/{{extra*}}"),
                handler,
                family,
            ));
        }
    }
    t.extend([
        route("/", &[(Get, Public, front::frontpage)]),
        route("/info", &[(Get, Public, front::info)]),
        route("/versions", &[(Get, Public, front::versions)]),
        route("/__api__", &[(Get, Public, front::openapi)]),
        route("/api-explorer", &[(Get, Public, front::api_explorer)]),
        route("/healthz", &[(Get, Public, front::healthz)]),
        route("/readyz", &[(Get, Public, front::readyz)]),
        route("/stats", &[(Get, Password, front::stats)]),
        route("/metrics", &[(Get, Password, front::metrics)]),
        route("/settings", &[(Get, Password, front::settings)]),
        route(
            "/services",
            &[
                (Get, Registry, registry_api::list),
                (Post, Registry, registry_api::register),
                (Delete, Registry, registry_api::clear),
            ],
        ),
        route(
            "/services/{name}",
            &[
                (Get, Registry, registry_api::get),
                (Delete, Registry, registry_api::unregister),
            ],
        ),
        route(
            "/oauth/client",
            &[
                (Get, Password, oauth_api::register_client),
                (Post, Password, oauth_api::register_client),
            ],
        ),
        route(
            "/oauth/clients",
            &[(Get, Password, oauth_api::list_clients)],
        ),
        route(
            "/oauth/clients/{client_id}",
            &[(Delete, Password, oauth_api::delete_client)],
        ),
        route(
            "/oauth/token",
            &[
                (Get, Public, oauth_api::token),
                (Post, Public, oauth_api::token),
            ],
        ),
        route("/oauth/revoke", &[(Post, Public, oauth_api::revoke)]),
        route("/oauth/jwks", &[(Get, Public, oauth_api::jwks)]),
        route("/.well-known/jwks.json", &[(Get, Public, oauth_api::jwks)]),
        route(
            "/oauth/introspect",
            &[(Post, Public, oauth_api::introspect)],
        ),
    ]);
    if test_hooks {
        t.push(route(
            "/__test__/panic",
            &[(Get, Public, |_, _, _| panic!("test hook"))],
        ));
    }
    t
}

fn decode(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Matches the segments of a path (after its leading `/`) against a route's; None when
/// it does not fit. A trailing slash is ignored, except where a tail keeps the path as
/// sent.
fn matches<'r>(route: &'r [Segment], path: &str) -> Option<Params<'r>> {
    let rest = path.strip_prefix('/')?;
    let has_tail = matches!(route.last(), Some(Segment::Tail(_)));
    let rest = if has_tail || rest.is_empty() {
        rest
    } else {
        rest.strip_suffix('/').unwrap_or(rest)
    };
    let mut params = Vec::new();
    let mut pos = 0;
    for (i, seg) in route.iter().enumerate() {
        if pos > rest.len() {
            return None;
        }
        let here = &rest[pos..];
        match seg {
            Segment::Tail(name) => {
                params.push((name.as_str(), here.to_string()));
                return Some(Params(params));
            }
            Segment::Param(name) => {
                let (part, next) = match here.find('/') {
                    Some(j) => (&here[..j], pos + j + 1),
                    None => (here, rest.len() + 1),
                };
                if part.is_empty() {
                    return None;
                }
                params.push((name.as_str(), decode(part)?));
                pos = next;
            }
            // Without looking for the next `/`: most routes tried fail here.
            Segment::Literal(lit) => {
                let after = here.strip_prefix(lit.as_str())?;
                if !(after.is_empty() || after.starts_with('/')) {
                    return None;
                }
                pos += lit.len() + 1;
            }
        }
        if i == route.len() - 1 {
            return (pos > rest.len()).then_some(Params(params));
        }
    }
    // The root route `/` has one empty literal segment, handled above.
    None
}

/// Whether `value` is an authority without user info, as RFC 9112 §3.2 asks of `Host`:
/// a registered name or IPv4 address (RFC 3986 `reg-name` characters), or an IPv6
/// literal in brackets, and an optional port up to 65535. An empty `Host` is allowed
/// (for a target without an authority); an empty authority in a target is not.
fn authority_ok(value: &str, may_be_empty: bool) -> bool {
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return may_be_empty;
    }
    let (host, port) = match value.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            // An address may carry a zone (RFC 6874: `[fe80::1%25eth0]`).
            Some((addr, rest)) if ipv6_literal(addr) => match rest.strip_prefix(':') {
                Some(port) => ("v6", Some(port)),
                None if rest.is_empty() => ("v6", None),
                None => return false,
            },
            _ => return false,
        },
        None => match value.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b));
    let port_ok = port.is_none_or(|p| {
        p.is_empty()
            || (p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| n <= 65535))
    });
    host_ok && port_ok
}

/// The inside of `[...]` in a host: an IPv6 address, with or without a zone id.
fn ipv6_literal(inside: &str) -> bool {
    let (addr, zone) = match inside.split_once("%25") {
        Some((addr, zone)) => (addr, Some(zone)),
        None => (inside, None),
    };
    addr.parse::<std::net::Ipv6Addr>().is_ok()
        && zone.is_none_or(|z| {
            !z.is_empty()
                && z.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b))
        })
}

pub fn dispatch(app: &App, routes: &[Route], req: &mut Request) -> Response {
    // RFC 9112 §3.2: one Host, and in HTTP/1.1 always one; two would let the host a
    // backend sees (X-Forwarded-Host) differ from the one this server read.
    // Header values may be UTF-8, but a host name is ASCII (IDNA): the backend builds
    // URLs from X-Forwarded-Host, which a trusted proxy's request passes on as it came.
    // Two Authorization headers: the one this server checks might not be the one a
    // backend or a log reads.
    // Two X-Ssl-Client-Verify: a front that adds its own rather than replacing the
    // client's would have this server believe the client's.
    let (mut hosts, mut authorizations, mut verdicts) = (0, 0, 0);
    for (name, value) in req.header_pairs() {
        let host = name.eq_ignore_ascii_case("Host");
        hosts += usize::from(host);
        authorizations += usize::from(name.eq_ignore_ascii_case("Authorization"));
        verdicts += usize::from(name.eq_ignore_ascii_case("X-Ssl-Client-Verify"));
        if (host || name.eq_ignore_ascii_case("X-Forwarded-Host")) && !value.is_ascii() {
            return early_error(
                family_of(routes, &req.path),
                400,
                "header",
                format!("The {name} header is not ASCII"),
            );
        }
        if host && !authority_ok(value, true) {
            return early_error(
                family_of(routes, &req.path),
                400,
                "header",
                "The Host header is not a host and port".into(),
            );
        }
    }
    if req
        .target_host
        .as_deref()
        .is_some_and(|t| !authority_ok(t, false))
    {
        return early_error(
            family_of(routes, &req.path),
            400,
            "path",
            "The request target's host is not a host and port".into(),
        );
    }
    if verdicts > 1 {
        return early_error(
            family_of(routes, &req.path),
            400,
            "header",
            "A request may hold one X-Ssl-Client-Verify header".into(),
        );
    }
    if hosts > 1 || (hosts == 0 && req.http_11()) {
        return early_error(
            family_of(routes, &req.path),
            400,
            "header",
            "A request needs exactly one Host header".into(),
        );
    }
    if authorizations > 1 {
        return early_error(
            family_of(routes, &req.path),
            400,
            "header",
            "A request may hold one Authorization header".into(),
        );
    }
    for r in routes {
        let Some(params) = matches(&r.segments, &req.path) else {
            continue;
        };
        // The OAuth endpoints take forms, which have a smaller limit of their own.
        let limit = match r.family {
            Family::OAuth => oauth_api::form_limit(req),
            _ => req.max_body(),
        };
        if req.content_length().is_some_and(|len| len > limit) {
            return too_large_error(r.family, limit);
        }
        let wanted = if req.method == Method::Head {
            Method::Get
        } else {
            req.method
        };
        if let Some((_, access, handler)) = r.methods.iter().find(|(m, _, _)| *m == wanted) {
            let allowed = match access {
                Access::Public => Ok(()),
                Access::Registry => app.require_registry(req),
                Access::Password => app.require_password(req),
            };
            if let Err(denied) = allowed {
                return denied;
            }
            return handler(app, req, &params);
        }
        let mut allow: Vec<&str> = r.methods.iter().map(|(m, _, _)| m.as_str()).collect();
        if allow.contains(&"GET") {
            allow.push("HEAD");
        }
        let text = format!(
            "The method {} is not allowed for this resource",
            req.method.as_str()
        );
        return early_error(r.family, 405, "method", text).header("Allow", allow.join(", "));
    }
    let family = family_of(routes, &req.path);
    if req.content_length().is_some_and(|len| len > req.max_body()) {
        return too_large_error(family, req.max_body());
    }
    early_error(family, 404, "url", format!("Not Found: {}", req.path))
}

/// The family of a path no route fits: that of the OAuth or OWS endpoints it is under.
fn family_of(routes: &[Route], path: &str) -> Family {
    if path.starts_with("/oauth/") {
        return Family::OAuth;
    }
    let under = |base: &str| {
        path.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    routes
        .iter()
        .filter(|r| matches!(r.family, Family::OwsProxy | Family::OwsVerify))
        .find(|r| r.pattern.split("/{").next().is_some_and(under))
        .map_or(Family::Rest, |r| r.family)
}

fn too_large_error(family: Family, limit: u64) -> Response {
    let text = format!("Request body larger than the limit of {limit} bytes");
    early_error(family, 413, "body", text)
}

/// An error in the family's format. `location` is where the REST API's cornice-style
/// errors say the problem is; the OAuth family answers `invalid_request` for all.
fn early_error(family: Family, status: u16, location: &'static str, text: String) -> Response {
    match family {
        Family::Rest => errors::one(status, location, "", text),
        Family::OAuth => oauth_api::oauth_error(status, "invalid_request", Some(&text)),
        Family::OwsProxy | Family::OwsVerify => {
            let mode = if family == Family::OwsVerify {
                ows_api::Mode::Verify
            } else {
                ows_api::Mode::Proxy
            };
            ows_api::refuse(mode, &OwsError::other(status, "NoApplicableCode", text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, path: &str) -> Option<Params<'static>> {
        // Leaked: a test's few routes, so the params can borrow their names.
        super::matches(Box::leak(segments(pattern).into_boxed_slice()), path)
    }

    #[test]
    fn hosts_are_a_host_and_a_port() {
        for ok in [
            "example.org",
            "example.org:8000",
            "127.0.0.1:80",
            "[::1]:8080",
            "[fe80::1]",
            "[fe80::1%25eth0]:8000",
            "xn--bcher-kva.example",
            "host:",
        ] {
            assert!(authority_ok(ok, false), "{ok}");
        }
        for bad in [
            "a b",
            "a\"b",
            "a/b",
            "user@evil",
            "user:pw@evil",
            "h:99999",
            "h:8x",
            "[::1",
            "[nope]:80",
            "[fe80::1%25]",
            "[fe80::1%eth0]",
            "[::1]x",
            ":80",
            "a:b:c",
            "",
        ] {
            assert!(!authority_ok(bad, false), "{bad}");
        }
        assert!(
            authority_ok("", true),
            "an empty Host, for a target without one"
        );
    }

    #[test]
    fn patterns() {
        assert!(matches("/", "/").is_some());
        assert!(matches("/", "/x").is_none());
        assert!(matches("/info", "/").is_none());
        assert!(matches("/info", "/info").is_some());
        assert!(matches("/info", "/infox").is_none());
        assert!(matches("/info", "/info/x").is_none());
        assert!(
            matches("/ows/proxy/{service}", "/ows/proxy/emu")
                .unwrap()
                .get("service")
                == "emu"
        );
        assert!(matches("/ows/proxy/{service}", "/ows/proxy/emu/x").is_none());
        assert!(matches("/ows/proxy/{service}/{extra*}", "/ows/proxy/emu").is_none());
        assert!(matches("/services", "/services/").is_some());
        assert!(matches("/services", "/services/x").is_none());
        let p = matches("/services/{name}", "/services/caf%C3%A9").unwrap();
        assert_eq!(p.get("name"), "café");
        assert!(matches("/services/{name}", "/services/").is_none());
        assert!(matches("/services/{name}", "/services/%FF").is_none());
        let p = matches("/ows/proxy/{service}/{extra*}", "/ows/proxy/emu/a/b%2Fc").unwrap();
        assert_eq!(p.get("service"), "emu");
        assert_eq!(p.get("extra"), "a/b%2Fc");
        let p = matches("/ows/proxy/{service}/{extra*}", "/ows/proxy/emu/out/").unwrap();
        assert_eq!(p.get("extra"), "out/");
    }
}
