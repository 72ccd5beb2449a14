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
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// Who may call a route; checked before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// The admin's password, or a bearer token with scope `register`.
    Admin,
    /// Only the admin's password, never a token.
    Password,
}

pub struct Route {
    /// `/services/{name}`; a last segment `{rest*}` takes the remainder of the path.
    pub pattern: String,
    pub methods: Vec<(Method, Access, Handler)>,
    /// Errors before the handler runs are OWS ExceptionReports, not JSON.
    pub ows: bool,
}

fn route(pattern: &str, methods: &[(Method, Access, Handler)]) -> Route {
    Route {
        pattern: pattern.to_string(),
        methods: methods.to_vec(),
        ows: false,
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

fn ows_route(pattern: String, handler: Handler) -> Route {
    Route {
        pattern,
        methods: OWS_METHODS
            .iter()
            .map(|m| (*m, Access::Public, handler))
            .collect(),
        ows: true,
    }
}

/// All routes. `ows_prefix` (`twitcher.ows_proxy_protected_path`) adds the proxy and
/// verify endpoints under it, None leaves them out. `test_hooks` adds
/// `/__test__/panic`, which the test suite uses to check that a panicking handler
/// answers 500 and the server lives on.
pub fn table(test_hooks: bool, ows_prefix: Option<&str>) -> Vec<Route> {
    use Access::*;
    use Method::*;
    let mut t = vec![
        route("/", &[(Get, Public, front::frontpage)]),
        route("/info", &[(Get, Public, front::info)]),
        route("/versions", &[(Get, Public, front::versions)]),
        route("/__api__", &[(Get, Public, front::openapi)]),
        route("/api-explorer", &[(Get, Public, front::api_explorer)]),
        route("/healthz", &[(Get, Public, front::healthz)]),
        route("/readyz", &[(Get, Public, front::readyz)]),
        route("/stats", &[(Get, Admin, front::stats)]),
        route("/metrics", &[(Get, Admin, front::metrics)]),
        route("/settings", &[(Get, Admin, front::settings)]),
        route(
            "/services",
            &[
                (Get, Admin, registry_api::list),
                (Post, Admin, registry_api::register),
                (Delete, Admin, registry_api::clear),
            ],
        ),
        route(
            "/services/{name}",
            &[
                (Get, Admin, registry_api::get),
                (Delete, Admin, registry_api::unregister),
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
        route(
            "/oauth/introspect",
            &[(Post, Public, oauth_api::introspect)],
        ),
    ];
    if let Some(p) = ows_prefix {
        for (kind, handler) in [
            ("proxy", ows_api::proxy as Handler),
            ("verify", ows_api::verify),
        ] {
            t.push(ows_route(format!("{p}/{kind}/{{service}}"), handler));
            t.push(ows_route(
                format!("{p}/{kind}/{{service}}/{{extra*}}"),
                handler,
            ));
        }
    }
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

/// Matches `path` against `pattern`; None when it does not fit.
fn matches(pattern: &str, path: &str) -> Option<Params> {
    // A trailing slash is ignored, except where a tail keeps the path as sent.
    let path = if path.len() > 1 && !pattern.ends_with("*}") {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    let mut params = Vec::new();
    let mut pat = pattern.split('/');
    let mut segs = path.split('/');
    loop {
        match (pat.next(), segs.next()) {
            (None, None) => return Some(Params(params)),
            (Some(p), Some(s)) if p.starts_with('{') && p.ends_with("*}") => {
                let rest: Vec<&str> = std::iter::once(s).chain(segs).collect();
                params.push((p[1..p.len() - 2].to_string(), rest.join("/")));
                return Some(Params(params));
            }
            (Some(p), Some(s)) if p.starts_with('{') && p.ends_with('}') => {
                if s.is_empty() {
                    return None;
                }
                params.push((p[1..p.len() - 1].to_string(), decode(s)?));
            }
            (Some(p), Some(s)) if p == s => {}
            _ => return None,
        }
    }
}

pub fn dispatch(app: &App, routes: &[Route], req: &mut Request) -> Response {
    let too_large = req.content_length().is_some_and(|len| len > req.max_body());
    for r in routes {
        let Some(params) = matches(&r.pattern, &req.path) else {
            continue;
        };
        if too_large {
            return if r.ows {
                let e = OwsError::other(
                    413,
                    "NoApplicableCode",
                    format!(
                        "The request body is larger than the limit of {} bytes",
                        req.max_body()
                    ),
                );
                Response::bytes(413, "text/xml; charset=utf-8", e.to_xml())
            } else {
                errors::body(super::http::BodyError::TooLarge(req.max_body()))
            };
        }
        let wanted = if req.method == Method::Head {
            Method::Get
        } else {
            req.method
        };
        if let Some((_, access, handler)) = r.methods.iter().find(|(m, _, _)| *m == wanted) {
            let allowed = match access {
                Access::Public => Ok(()),
                Access::Admin => app.require_admin(req),
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
        return errors::method_not_allowed(req.method.as_str(), &allow.join(", "));
    }
    if too_large {
        return errors::body(super::http::BodyError::TooLarge(req.max_body()));
    }
    errors::not_found(&req.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("/", "/").is_some());
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
