//! Which headers cross the proxy, in each direction.

use ureq::http::{HeaderMap, HeaderName, HeaderValue};

use crate::auth::bearer::bearer_value;

/// Meaningful for one connection only (RFC 9110 §7.6.1), plus the pre-standard
/// `Proxy-Connection`.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Set by the transport or by the proxy itself, never copied from the client.
const SET_HERE: &[&str] = &[
    "host",
    "content-length",
    "expect",
    // The backend's XML may have to be rewritten, which needs it uncompressed.
    "accept-encoding",
];

/// Never forwarded: a CGI backend takes `Proxy` for its `HTTP_PROXY` environment
/// variable and sends its own outgoing requests through it ("httpoxy").
const NEVER: &[&str] = &["proxy"];

/// Headers by which Express, Rails, Laravel and Symfony backends take another method
/// than the request's, so that a POST can be a DELETE to them.
pub const METHOD_OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The headers the proxy adds itself (and so never copies from the client).
pub const FORWARDED: [&str; 3] = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"];

/// Who the proxy let through, for the backend when `twitcher.proxy.pass_identity` is
/// on (oauth2-proxy's names). A client's own values are dropped then, so a backend can
/// trust them.
pub const IDENTITY: [&str; 2] = ["x-forwarded-user", "x-forwarded-scope"];

/// Headers only a trusted front proxy may set; from anyone else they are dropped, with
/// every `X-Forwarded-*` but the three the proxy sets itself: backends build URLs and
/// take client addresses from them (Spring reads `X-Forwarded-Port` and `-Prefix`,
/// GeoServer `X-Forwarded-Path`, MapProxy `X-Script-Name`, Flask's reverse-proxy recipe
/// that header and `X-Scheme`, others RFC 7239 `Forwarded` or nginx's `X-Real-IP`), and
/// would otherwise take a client's word for them.
const FRONT_PROXY_ONLY: &[&str] = &[
    "x-ssl-client-verify",
    "x-ssl-client-dn",
    "x-ssl-client-cert",
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-original-url",
    "x-original-uri",
    "x-original-host",
    "x-rewrite-url",
    "x-script-name",
    "x-scheme",
    "x-forwarded",
];

/// Whether only a trusted front proxy may send this header. QGIS Server builds the URLs
/// it advertises from `X-Qgis-Service-Url` and `X-Qgis-W?s-Service-Url`.
fn front_proxy_only(name: &str) -> bool {
    let prefixed = |prefix: &str| {
        name.get(..prefix.len())
            .is_some_and(|p| same_name(p, prefix))
    };
    listed(FRONT_PROXY_ONLY, name) || prefixed("x-forwarded-") || prefixed("x-qgis-")
}

/// The headers a message's `Connection` headers name, which are hop-by-hop for that
/// message too. Most messages have none, and the list then costs nothing.
fn named_in_connection<'a>(connection_values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    connection_values
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

/// Hop-by-hop in a message whose `Connection` headers name `named`.
fn is_hop_by_hop(name: &str, named: &[&str]) -> bool {
    listed(HOP_BY_HOP, name) || listed(named, name)
}

/// Names compared as CGI servers (gunicorn before 22, uWSGI, PHP) see them: case and
/// `_` against `-` do not count, so `X_Forwarded_Host` is `X-Forwarded-Host` to them.
pub fn same_name(a: &str, b: &str) -> bool {
    let fold = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}

fn listed(names: &[&str], name: &str) -> bool {
    names.iter().any(|n| same_name(n, name))
}

/// What the request headers depend on besides the headers themselves.
pub struct Forwarding<'a> {
    /// The client's address.
    pub peer: Option<std::net::IpAddr>,
    pub peer_trusted: bool,
    /// Scheme of the public URL, for `X-Forwarded-Proto` when no trusted proxy set one.
    pub scheme: &'a str,
    pub forward_authorization: bool,
    pub pass_identity: bool,
    /// This proxy's name in `Via`.
    pub via_name: &'a str,
    /// The host of a request target in absolute form, which stands in for `Host`.
    pub target_host: Option<&'a str>,
}

/// The headers to send the backend.
pub fn request_headers<K: AsRef<str>, V: AsRef<str>>(
    incoming: &[(K, V)],
    f: &Forwarding,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(incoming.len() + 3);
    let named = named_in_connection(
        incoming
            .iter()
            .filter(|(k, _)| k.as_ref().eq_ignore_ascii_case("connection"))
            .map(|(_, v)| v.as_ref()),
    );
    for (k, v) in incoming {
        let (k, v) = (k.as_ref(), v.as_ref());
        if is_hop_by_hop(k, &named)
            || listed(SET_HERE, k)
            || listed(NEVER, k)
            || listed(&FORWARDED, k)
            || same_name(k, "via")
        {
            continue;
        }
        if !f.peer_trusted && front_proxy_only(k) {
            continue;
        }
        if f.pass_identity && listed(&IDENTITY, k) {
            continue;
        }
        if k.eq_ignore_ascii_case("authorization")
            && !f.forward_authorization
            && bearer_value(v).is_some()
        {
            continue;
        }
        out.push((k.to_string(), v.to_string()));
    }
    // Every value of a header, joined as one.
    let given = |name: &str| {
        let mut all = String::new();
        for (_, v) in incoming
            .iter()
            .filter(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
        {
            if !all.is_empty() {
                all.push_str(", ");
            }
            all.push_str(v.as_ref().trim());
        }
        all
    };
    // Room for the longest IPv6 address, so it is written without growing.
    let mut peer = String::with_capacity(39);
    if let Some(p) = f.peer {
        crate::log::push_ip(&mut peer, p);
    }
    let prior = if f.peer_trusted {
        given("X-Forwarded-For")
    } else {
        String::new()
    };
    let xff = match (prior.is_empty(), peer.is_empty()) {
        (false, false) => format!("{prior}, {peer}"),
        (false, true) => prior,
        (true, _) => peer,
    };
    if !xff.is_empty() {
        out.push(("X-Forwarded-For".into(), xff));
    }
    let proto = if f.peer_trusted {
        given("X-Forwarded-Proto")
    } else {
        String::new()
    };
    let proto = if proto.is_empty() {
        f.scheme.to_string()
    } else {
        proto
    };
    out.push(("X-Forwarded-Proto".into(), proto));
    let host = if f.peer_trusted {
        given("X-Forwarded-Host")
    } else {
        String::new()
    };
    let host = match (host.is_empty(), f.target_host) {
        (false, _) => host,
        (true, Some(target)) => target.to_string(),
        (true, None) => given("Host"),
    };
    if !host.is_empty() {
        out.push(("X-Forwarded-Host".into(), host));
    }
    let mut via = given("Via");
    if !via.is_empty() {
        via.push_str(", ");
    }
    via.push_str("1.1 ");
    via.push_str(f.via_name);
    out.push(("Via".into(), via));
    out
}

/// Whether a request's `Via` headers name this proxy: it has been here before.
pub fn passed<'a>(via_values: impl Iterator<Item = &'a str>, via_name: &str) -> bool {
    via_values
        .flat_map(|v| v.split(','))
        .any(|hop| hop.split_whitespace().nth(1) == Some(via_name))
}

/// The backend's response headers to pass on: all but hop-by-hop ones and the length,
/// which the server sets from the body it sends.
pub fn response_headers(backend: &HeaderMap) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    let named = named_in_connection(
        backend
            .get_all("connection")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    backend.iter().filter(move |(k, _)| {
        let k = k.as_str();
        !is_hop_by_hop(k, &named) && k != "content-length"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn names(v: &[(String, String)]) -> Vec<String> {
        v.iter().map(|(k, _)| k.to_ascii_lowercase()).collect()
    }

    fn value<'a>(v: &'a [(String, String)], name: &str) -> Option<&'a str> {
        v.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn request_side() {
        let incoming = h(&[
            ("Host", "tw:8000"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("X-Secret-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Authorization", "Bearer tok"),
            ("Cookie", "a=b"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Ssl-Client-Verify", "SUCCESS"),
            ("Forwarded", "for=1.2.3.4;host=evil;proto=https"),
            ("X-Real-IP", "1.2.3.4"),
            ("X-Script-Name", "//evil.example/x"),
            ("X-Scheme", "https"),
            ("Accept-Encoding", "gzip"),
            ("Content-Length", "5"),
            ("Accept", "text/xml"),
            ("Via", "1.0 fred"),
            ("via", "1.1 nginx"),
        ]);
        let peer = Some("10.0.0.9".parse().unwrap());
        let untrusted = Forwarding {
            peer,
            peer_trusted: false,
            scheme: "https",
            forward_authorization: false,
            pass_identity: false,
            via_name: "twitcher-ab12",
            target_host: None,
        };
        let out = request_headers(&incoming, &untrusted);
        assert_eq!(
            names(&out),
            [
                "cookie",
                "accept",
                "x-forwarded-for",
                "x-forwarded-proto",
                "x-forwarded-host",
                "via"
            ]
        );
        assert_eq!(
            value(&out, "via"),
            Some("1.0 fred, 1.1 nginx, 1.1 twitcher-ab12")
        );
        let vias = || ["1.0 fred, 1.1 twitcher-ab12 (comment)"].into_iter();
        assert!(passed(vias(), "twitcher-ab12"));
        assert!(!passed(vias(), "twitcher-ab1"));
        assert!(!passed(vias(), "1.0"));
        assert_eq!(value(&out, "x-forwarded-for"), Some("10.0.0.9"));
        assert_eq!(value(&out, "x-forwarded-proto"), Some("https"));
        assert_eq!(value(&out, "x-forwarded-host"), Some("tw:8000"));
        // A target in absolute form names the host in place of `Host`.
        let absolute = Forwarding {
            target_host: Some("front:443"),
            ..untrusted
        };
        let out = request_headers(&incoming, &absolute);
        assert_eq!(value(&out, "x-forwarded-host"), Some("front:443"));
        let trusted = Forwarding {
            peer_trusted: true,
            forward_authorization: true,
            ..untrusted
        };
        let out = request_headers(&incoming, &trusted);
        assert_eq!(value(&out, "authorization"), Some("Bearer tok"));
        assert_eq!(value(&out, "x-ssl-client-verify"), Some("SUCCESS"));
        assert_eq!(value(&out, "x-real-ip"), Some("1.2.3.4"));
        assert_eq!(value(&out, "x-script-name"), Some("//evil.example/x"));
        assert_eq!(value(&out, "x-scheme"), Some("https"));
        assert_eq!(value(&out, "x-forwarded-for"), Some("6.6.6.6, 10.0.0.9"));
        let basic = h(&[("Authorization", "Basic dTpw")]);
        let out = request_headers(&basic, &untrusted);
        assert_eq!(value(&out, "authorization"), Some("Basic dTpw"), "not ours");
        let tabbed = h(&[("Authorization", "Bearer\ttok")]);
        assert!(
            request_headers(&tabbed, &untrusted)
                .iter()
                .all(|(k, _)| k != "Authorization")
        );
        // Forwarding headers of a client's own never pass; a trusted front's do.
        let claimed = h(&[
            ("X-Forwarded-User", "admin"),
            ("x-forwarded-scope", "all"),
            ("X-Forwarded-Port", "666"),
            ("X-Forwarded-Prefix", "/evil"),
            ("True-Client-IP", "1.2.3.4"),
            ("X-Original-URL", "/admin"),
            ("X-Forwarded", "for=x"),
            ("X-Qgis-Service-Url", "http://evil.example/wms"),
            ("x_qgis_wms_service_url", "http://evil.example/wms"),
            // CGI servers read `_` as `-`.
            ("X_Forwarded_Host", "evil"),
            ("X-Forwarded_Prefix", "/evil"),
            ("X_Real_IP", "1.2.3.4"),
            ("Transfer_Encoding", "chunked"),
        ]);
        let out = request_headers(&claimed, &untrusted);
        assert_eq!(names(&out), ["x-forwarded-for", "x-forwarded-proto", "via"]);
        let out = request_headers(&claimed, &trusted);
        assert_eq!(value(&out, "x-forwarded-user"), Some("admin"));
        assert_eq!(value(&out, "x-forwarded-port"), Some("666"));
        // With pass_identity, the identity is the proxy's alone, whoever sent one.
        let owned = Forwarding {
            pass_identity: true,
            ..trusted
        };
        let out = request_headers(&claimed, &owned);
        assert_eq!(value(&out, "x-forwarded-user"), None);
        assert_eq!(value(&out, "x-forwarded-scope"), None);
    }

    #[test]
    fn response_side() {
        let mut backend = HeaderMap::new();
        for (k, v) in [
            ("Content-Type", "text/xml"),
            ("Content-Length", "10"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "close, X-Hop"),
            ("X-Hop", "1"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ] {
            backend.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_static(v),
            );
        }
        let kept: Vec<(&str, &str)> = response_headers(&backend)
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            kept,
            [
                ("content-type", "text/xml"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2")
            ]
        );
    }
}
