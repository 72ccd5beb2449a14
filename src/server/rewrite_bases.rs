//! The backend URLs rewritten in the proxy's answers, each with the public URL that
//! stands for it: made once per registry snapshot rather than for every answer, where
//! a registry of many services cost a few allocations per service per request.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::app::App;
use crate::log;
use crate::ows::rewrite::Base;
use crate::registry::{PATH_SEGMENT, Service};

pub struct Named {
    pub name: String,
    pub base: Base,
    /// The last `forwarded_base` made for the service: the clients of one front end
    /// send one scheme and host, and making it cost more than the rest of a rewrite.
    forwarded: Mutex<Option<Forwarded>>,
}

struct Forwarded {
    proto: String,
    host: String,
    base: Option<Arc<Base>>,
}

impl Named {
    /// The service's `forwarded_base` for this scheme and host, made by `make` unless
    /// it was the last one asked for.
    pub fn forwarded(
        &self,
        proto: &str,
        host: &str,
        make: impl FnOnce() -> Option<Base>,
    ) -> Option<Arc<Base>> {
        let mut last = self
            .forwarded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = last.as_ref()
            && f.proto == proto
            && f.host == host
        {
            return f.base.clone();
        }
        let base = make().map(Arc::new);
        *last = Some(Forwarded {
            proto: proto.to_string(),
            host: host.to_string(),
            base: base.clone(),
        });
        base
    }
}

type Built = (Arc<[Arc<Service>]>, Arc<[Named]>);

#[derive(Default)]
pub struct RewriteBases {
    /// The snapshot the bases were made from, compared by pointer.
    cached: RwLock<Option<Built>>,
}

impl RewriteBases {
    /// Every registered service's base, for the registry as it is now.
    pub fn current(&self, app: &App) -> Arc<[Named]> {
        let services = match app.services.all() {
            Ok(s) => s,
            Err(e) => {
                log::warn(&format!(
                    "only a service's own URLs are rewritten, the registry could not be read: {e}"
                ));
                return Arc::new([]);
            }
        };
        if let Ok(c) = self.cached.read()
            && let Some((from, bases)) = c.as_ref()
            && Arc::ptr_eq(from, &services)
        {
            return bases.clone();
        }
        let bases: Arc<[Named]> = services
            .iter()
            .filter_map(|s| {
                let base = Base::new(&s.url, &public_url(app, s))?;
                Some(Named {
                    name: s.name.clone(),
                    base,
                    forwarded: Mutex::new(None),
                })
            })
            .collect();
        if let Ok(mut c) = self.cached.write() {
            *c = Some((services, bases.clone()));
        }
        bases
    }
}

/// `purl` when it is set, else this proxy's URL for the service.
pub fn public_url(app: &App, service: &Service) -> String {
    if !service.purl.is_empty() {
        service.purl.trim_end_matches('/').to_string()
    } else {
        format!(
            "{}{}/proxy/{}",
            app.url,
            app.settings.ows_proxy_protected_path,
            percent_encoding::utf8_percent_encode(&service.name, PATH_SEGMENT)
        )
    }
}

/// The backend's URL `url` as a backend that builds its URLs from the forwarded
/// headers writes it (MapProxy, or GeoServer told to use them): the scheme and host this
/// proxy sent it, with the path of its registered URL, which no client can reach under
/// that host; `public` stands for it. None when that is the registered URL itself,
/// when the path is empty, or when it is a prefix of this proxy's own paths (`/ows`
/// against `/ows/proxy/...`), whose URLs it would then take for the backend's.
pub fn forwarded_base(
    url: &str,
    public: &str,
    protected_path: &str,
    proto: &str,
    host: &str,
) -> Option<Base> {
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    if !host_ok || !matches!(proto, "http" | "https") {
        return None;
    }
    let url = url.trim_end_matches('/');
    let after_scheme = url.find("://")? + 3;
    let path = url[after_scheme..]
        .find('/')
        .map_or("", |p| &url[after_scheme + p..]);
    let from = format!("{proto}://{host}{path}");
    let own_path = format!("{proto}://{host}{protected_path}/");
    let prefix_of = |s: &str| {
        s.strip_prefix(from.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if path.is_empty() || from == url || prefix_of(&own_path) || prefix_of(public) {
        return None;
    }
    Base::new(&from, public)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ows::rewrite::{Form, rewrite};

    fn rewritten(base: Option<Base>, text: &str) -> String {
        let base = base.expect("a base");
        String::from_utf8(rewrite(text.as_bytes(), &[&base], Form::Plain).unwrap()).unwrap()
    }

    #[test]
    fn the_backends_url_as_told_by_the_forwarded_headers() {
        let public = "https://tw.example/ows/proxy/mp";
        let b = forwarded_base(
            "http://10.0.0.5:8080/service",
            public,
            "/ows",
            "https",
            "tw.example",
        );
        assert_eq!(
            rewritten(
                b,
                "href=\"https://tw.example/service?\" x=\"https://tw.example/services\""
            ),
            "href=\"https://tw.example/ows/proxy/mp?\" x=\"https://tw.example/services\""
        );
        let b = forwarded_base(
            "http://10.0.0.5/a/wms/",
            public,
            "/ows",
            "http",
            "[::1]:8000",
        );
        assert_eq!(
            rewritten(b, "http://[::1]:8000/a/wms/x"),
            "https://tw.example/ows/proxy/mp/x"
        );
    }

    #[test]
    fn no_forwarded_base_that_would_take_this_proxys_own_urls() {
        let public = "https://tw.example/ows/proxy/mp";
        for (url, host) in [
            // At the root, or under the proxy's prefix: every URL of the proxy's.
            ("http://10.0.0.5:8080", "tw.example"),
            ("http://10.0.0.5:8080/", "tw.example"),
            ("http://10.0.0.5:8080/ows", "tw.example"),
            ("http://10.0.0.5:8080/ows/proxy", "tw.example"),
            // The registered URL itself, which has its own base.
            ("http://tw.example/service", "tw.example"),
            // Hosts that are no single host.
            ("http://10.0.0.5/service", "a.example, b.example"),
            ("http://10.0.0.5/service", ""),
            ("http://10.0.0.5/service", "a/b"),
        ] {
            let proto = if url.contains("tw.example") {
                "http"
            } else {
                "https"
            };
            assert!(
                forwarded_base(url, public, "/ows", proto, host).is_none(),
                "{url} {host}"
            );
        }
        assert!(
            forwarded_base(
                "http://10.0.0.5/service",
                public,
                "/ows",
                "ftp",
                "tw.example"
            )
            .is_none()
        );
        // A purl under the backend's own path would be taken for it.
        let b = forwarded_base(
            "http://10.0.0.5/svc",
            "https://tw.example/svc/x",
            "/ows",
            "https",
            "tw.example",
        );
        assert!(b.is_none());
    }
}
