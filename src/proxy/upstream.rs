//! The connection to backends: ureq agents that keep connections for reuse, one
//! checking TLS certificates and one for services registered with `verify = false`.
//!
//! A ureq agent's pool is one mutex, held while it probes a pooled connection with
//! three system calls; with a thread per connection, every proxied request queued on
//! it. So each worker thread draws from a shard of its own.

use std::io::Read;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use ureq::config::{AutoHeaderValue, Config, IpFamily};
use ureq::http::header::CONTENT_LENGTH;
use ureq::http::uri::InvalidUri;
use ureq::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use ureq::tls::TlsConfig;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, RustlsConnector};
use ureq::{Agent, SendBody};

use super::headers::FORWARDED;
use super::transport::TcpConnector;

use crate::config::ProxySettings;

/// Per connection; the defaults (128 KiB each way) would make idle pooled connections
/// the largest part of the proxy's memory.
const INPUT_BUFFER: usize = 64 * 1024;
const OUTPUT_BUFFER: usize = 16 * 1024;
/// Per shard: a thread uses one connection at a time, but may talk to a few backends.
const MAX_IDLE: usize = 4;
const MAX_IDLE_PER_HOST: usize = 1;
/// Shards beyond this are shared by threads, round robin.
const MAX_SHARDS: usize = 256;

pub struct Upstream {
    settings: ProxySettings,
    shards: Box<[Shard]>,
}

/// Agents made on first use, so idle shards cost nothing.
#[derive(Default)]
struct Shard {
    verifying: OnceLock<Agent>,
    insecure: OnceLock<Agent>,
}

/// Which shard the current thread uses: threads are numbered as they first send.
fn shard_index(len: usize) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    INDEX.with(|i| i % len)
}

/// The request body to send on.
pub enum Outbody<'a> {
    None,
    /// Streamed; `length` is the client's Content-Length, else it goes chunked.
    Reader {
        reader: &'a mut dyn Read,
        length: Option<u64>,
    },
}

/// Where and how a request goes. The headers are owned: their values become the
/// request's without a copy.
pub struct Target<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: Vec<(String, String)>,
    pub verify_tls: bool,
}

/// The backend's answer; the body is read as it is sent on.
pub struct Incoming {
    pub status: u16,
    /// As ureq parsed them, names in lowercase.
    pub headers: ureq::http::HeaderMap,
    pub length: Option<u64>,
    pub body: ureq::Body,
}

/// Whether reading a backend's body failed because it stayed silent past the timeout
/// (ureq wraps its own timeout in an `io::Error` of kind Other).
pub fn silent_too_long(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)))
}

#[derive(Debug)]
pub enum Failure {
    /// No connection, or it broke (502).
    Unreachable(String),
    /// The backend did not answer in time (504).
    Timeout,
    /// The target could not be expressed as a request (400).
    BadRequest(String),
}

/// ureq's resolver formats `host:port` and asks the system on every request, even for
/// a host written as an IP address, as backends next to the proxy mostly are. Those
/// are taken as they are; names still go to ureq's resolver.
#[derive(Debug, Default)]
struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(addr) = literal_address(uri)
            && config.ip_family() == IpFamily::Any
        {
            let mut one = self.empty();
            one.push(addr);
            return Ok(one);
        }
        self.0.resolve(uri, config, timeout)
    }
}

/// The address of a URI whose host is an IP address, with its port or the scheme's.
fn literal_address(uri: &Uri) -> Option<std::net::SocketAddr> {
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: std::net::IpAddr = host.parse().ok()?;
    let port = uri.port_u16().or(match uri.scheme_str()? {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    Some(std::net::SocketAddr::new(ip, port))
}

/// The proxy's own headers by static name: `http` does not know them and would copy.
fn header_name(name: &str) -> Option<ureq::http::HeaderName> {
    FORWARDED
        .iter()
        .find(|n| n.eq_ignore_ascii_case(name))
        .map(|n| ureq::http::HeaderName::from_static(n))
}

/// `twitcher.proxy.timeout` bounds each read and write rather than the wait for the
/// response head: a backend that stays silent that long is cut off either way, and a
/// timeout that is the same on every call is set on the socket once, where a deadline
/// per response cost a `setsockopt` per request.
fn agent(s: &ProxySettings, verify: bool) -> Agent {
    // ureq's own chain, with TCP connections of our own (see `transport`).
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector)
            .chain(RustlsConnector::default());
    Agent::with_parts(
        Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .allow_non_standard_methods(true)
            .user_agent(AutoHeaderValue::None)
            .accept(AutoHeaderValue::None)
            .timeout_connect(Some(s.connect_timeout))
            .timeout_per_read(Some(s.timeout))
            .timeout_per_write(Some(s.timeout))
            .input_buffer_size(INPUT_BUFFER)
            .output_buffer_size(OUTPUT_BUFFER)
            .max_idle_connections(MAX_IDLE)
            .max_idle_connections_per_host(MAX_IDLE_PER_HOST)
            .tls_config(TlsConfig::builder().disable_verification(!verify).build())
            .build(),
        connector,
        LiteralFirst::default(),
    )
}

impl Upstream {
    /// `threads`: how many threads send at once, each given a shard while there are enough.
    pub fn new(s: &ProxySettings, threads: usize) -> Upstream {
        Upstream {
            settings: s.clone(),
            shards: (0..threads.clamp(1, MAX_SHARDS))
                .map(|_| Shard::default())
                .collect(),
        }
    }

    fn agent(&self, verify_tls: bool) -> &Agent {
        let shard = &self.shards[shard_index(self.shards.len())];
        let cell = if verify_tls {
            &shard.verifying
        } else {
            &shard.insecure
        };
        cell.get_or_init(|| agent(&self.settings, verify_tls))
    }

    fn run(
        &self,
        verify_tls: bool,
        method: ureq::http::Method,
        uri: Uri,
        headers: HeaderMap,
        body: SendBody<'_>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let mut request = ureq::http::Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        self.agent(verify_tls).run(request)
    }

    pub fn send(&self, to: Target, body: Outbody) -> Result<Incoming, Failure> {
        let method = ureq::http::Method::from_bytes(to.method.as_bytes()).map_err(|_| {
            Failure::BadRequest(format!("method {} cannot be forwarded", to.method))
        })?;
        let bad = |e: ureq::http::Error| {
            Failure::BadRequest(format!("the request cannot be forwarded: {e}"))
        };
        // Made in place rather than through `Request::builder`, which moves the whole
        // request through a closure for each header.
        let uri: Uri = to.url.parse().map_err(|e: InvalidUri| bad(e.into()))?;
        let mut headers = HeaderMap::with_capacity(to.headers.len() + 1);
        for (k, v) in to.headers {
            let name = match header_name(&k) {
                Some(name) => name,
                None => HeaderName::try_from(k).map_err(|e| bad(e.into()))?,
            };
            let value = HeaderValue::try_from(v).map_err(|e| bad(e.into()))?;
            headers.append(name, value);
        }
        let sent = match body {
            Outbody::None => self.run(to.verify_tls, method, uri, headers, SendBody::none()),
            Outbody::Reader { reader, length } => {
                if let Some(n) = length {
                    headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
                }
                let body = SendBody::from_reader(reader);
                self.run(to.verify_tls, method, uri, headers, body)
            }
        };
        let resp = sent.map_err(|e| match e {
            // No connection in time is an unreachable backend (502); 504 is for one
            // that was reached and then stayed silent.
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
                Failure::Unreachable("no connection within the connect timeout".into())
            }
            ureq::Error::Timeout(_) => Failure::Timeout,
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => Failure::Timeout,
            ureq::Error::BadUri(m) => Failure::BadRequest(m),
            other => Failure::Unreachable(other.to_string()),
        })?;
        let (parts, body) = resp.into_parts();
        let length = parts
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok(Incoming {
            status: parts.status.as_u16(),
            headers: parts.headers,
            length,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(uri: &str) -> Option<String> {
        literal_address(&uri.parse().unwrap()).map(|a| a.to_string())
    }

    #[test]
    fn ip_hosts_are_taken_as_written_and_names_left_to_the_resolver() {
        assert_eq!(
            addr("http://127.0.0.1:5000/wps").as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(addr("http://10.1.2.3/wps").as_deref(), Some("10.1.2.3:80"));
        assert_eq!(
            addr("https://10.1.2.3/wps").as_deref(),
            Some("10.1.2.3:443")
        );
        assert_eq!(addr("http://[::1]:8080/x").as_deref(), Some("[::1]:8080"));
        assert_eq!(addr("https://[fe80::1]/").as_deref(), Some("[fe80::1]:443"));
        assert_eq!(addr("http://localhost:5000/wps"), None);
        assert_eq!(addr("http://emu.example.org/wps"), None);
        assert_eq!(addr("http://127.0.0.1.example.org/wps"), None);
    }
}
