//! The backend URLs rewritten in the proxy's answers, each with the public URL that
//! stands for it: made once per registry snapshot (and, for the URL a backend makes
//! from the forwarded headers, again only when the scheme and host change) rather than
//! for every answer, where a registry of many services cost a few allocations per
//! service per request.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::app::App;
use crate::log;
use crate::ows::rewrite::Base;
use crate::registry::{PATH_SEGMENT, Service, url_parts};

pub struct Named {
    /// The service as in the snapshot `base` was made from.
    pub service: Arc<Service>,
    pub base: Base,
    /// The last `forwarded_base` made for the service: the clients of one front end
    /// send one scheme and host, and making one costs more than the rest of a rewrite.
    forwarded: Mutex<Option<Forwarded>>,
}

struct Forwarded {
    proto: String,
    host: String,
    base: Option<Arc<Base>>,
}

impl Named {
    /// The service's `forwarded_base` for this scheme and host, made unless it was the
    /// last one asked for.
    pub fn forwarded(&self, app: &App, proto: &str, host: &str) -> Option<Arc<Base>> {
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
        let base = forwarded_base(app, &self.service, proto, host).map(Arc::new);
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
                    service: s.clone(),
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

/// `forwarded_from` for a service of this proxy's.
pub fn forwarded_base(app: &App, service: &Service, proto: &str, host: &str) -> Option<Base> {
    forwarded_from(
        &service.url,
        &public_url(app, service),
        &app.url,
        &app.settings.ows_proxy_protected_path,
        (proto, host),
    )
}

/// The backend's URL `url` as a backend that builds its URLs from the forwarded
/// headers (`told`: the scheme and host it was sent) writes it: MapProxy, or GeoServer
/// told to use them, writes that scheme and host with the path of its registered URL,
/// which no client can reach; `public` stands for it.
///
/// Only for a host of this proxy's own (`own_url`'s or `public`'s): the client picks
/// `Host`, and `Host: www.opengis.net` would have `http://www.opengis.net/wps` in
/// namespaces rewritten, in an answer a cache may keep for everyone. None too for a
/// scheme but http and https, when it is the registered URL itself, when the path is
/// empty, or when it is a prefix of the proxy's own paths (`/ows` against
/// `/ows/proxy/...`) or of `public`, whose URLs it would take for the backend's.
fn forwarded_from(
    url: &str,
    public: &str,
    own_url: &str,
    protected_path: &str,
    (proto, host): (&str, &str),
) -> Option<Base> {
    let ours = [own_url, public]
        .iter()
        .any(|u| url_parts(u).0.eq_ignore_ascii_case(host));
    if !ours || !matches!(proto, "http" | "https") {
        return None;
    }
    let url = url.trim_end_matches('/');
    let path = url_parts(url).1.trim_end_matches('/');
    let from = format!("{proto}://{host}{path}");
    let own_path = format!("{}{protected_path}/", own_url.trim_end_matches('/'));
    let prefix_of = |s: &str| {
        s.get(..from.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(&from))
            && (s.len() == from.len() || s[from.len()..].starts_with(['/', '?']))
    };
    if path.is_empty() || prefix_of(url) || prefix_of(&own_path) || prefix_of(public) {
        return None;
    }
    Base::new(&from, public)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ows::rewrite::{Form, rewrite};

    const PUBLIC: &str = "https://tw.example/ows/proxy/mp";
    const OWN: &str = "https://tw.example";

    fn base(url: &str, proto: &str, host: &str) -> Option<Base> {
        forwarded_from(url, PUBLIC, OWN, "/ows", (proto, host))
    }

    fn rewritten(base: Option<Base>, text: &str) -> String {
        let base = base.expect("a base");
        String::from_utf8(rewrite(text.as_bytes(), &[&base], Form::Plain).unwrap()).unwrap()
    }

    #[test]
    fn the_backends_url_as_told_by_the_forwarded_headers() {
        let b = base("http://10.0.0.5:8080/service", "https", "tw.example");
        assert_eq!(
            rewritten(
                b,
                "href=\"https://tw.example/service?\" x=\"https://tw.example/services\""
            ),
            "href=\"https://tw.example/ows/proxy/mp?\" x=\"https://tw.example/services\""
        );
        // The purl's host counts as this proxy's.
        let b = forwarded_from(
            "http://10.0.0.5/a/wms/",
            "http://[::1]:8000/maps",
            OWN,
            "/ows",
            ("http", "[::1]:8000"),
        );
        assert_eq!(
            rewritten(b, "http://[::1]:8000/a/wms/x"),
            "http://[::1]:8000/maps/x"
        );
        assert!(base("http://10.0.0.5/service", "http", "TW.Example").is_some());
    }

    #[test]
    fn no_forwarded_base_that_would_take_other_urls() {
        for (url, proto, host) in [
            // A host the client picked: namespaces and schemas are no backend URLs.
            ("http://10.0.0.5/wps", "http", "www.opengis.net"),
            ("http://10.0.0.5/wps", "https", "tw.example.evil"),
            ("http://10.0.0.5/service", "https", ""),
            (
                "http://10.0.0.5/service",
                "https",
                "tw.example, evil.example",
            ),
            ("http://10.0.0.5/service", "ftp", "tw.example"),
            // At the root, or under the proxy's prefix: every URL of the proxy's.
            ("http://10.0.0.5:8080", "https", "tw.example"),
            ("http://10.0.0.5:8080/", "https", "tw.example"),
            ("http://10.0.0.5:8080/ows", "https", "tw.example"),
            ("http://10.0.0.5:8080/ows/proxy", "https", "tw.example"),
            // The registered URL itself, which has its own base.
            ("https://tw.example/service", "https", "tw.example"),
            ("https://TW.example/service", "https", "tw.example"),
            // A URL without a path, whose query holds a `/`.
            ("http://10.0.0.5:8080?map=/x.map", "https", "tw.example"),
        ] {
            assert!(base(url, proto, host).is_none(), "{url} {proto} {host}");
        }
        // A purl under the backend's own path would be taken for it.
        let b = forwarded_from(
            "http://10.0.0.5/svc",
            "https://tw.example/svc/x",
            OWN,
            "/ows",
            ("https", "tw.example"),
        );
        assert!(b.is_none());
        // So would the URLs of a proxy that is itself below that path.
        let b = forwarded_from(
            "http://10.0.0.5/twitcher",
            PUBLIC,
            "https://tw.example/twitcher",
            "/ows",
            ("https", "tw.example"),
        );
        assert!(b.is_none());
    }
}
