//! A WPS stand-in on tiny_http for the proxy tests: capabilities, an ExecuteResponse
//! with a `statusLocation`, a status document, large generated bodies, uploads, a
//! slow answer; and a record of every request it received.

use std::io::Read;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the backend saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body_len: u64,
    /// The first MiB of the body.
    pub body: Vec<u8>,
    pub body_hash: u64,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Backend {
    pub port: u16,
    /// The service URL to register: `http://127.0.0.1:PORT/wps`.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
    threads: Vec<JoinHandle<()>>,
}

/// FNV-1a, to compare large bodies without keeping them.
pub fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(hash, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}
pub const FNV_START: u64 = 0xcbf29ce484222325;

/// The byte at offset `i` of the generated bodies.
pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// `n` bytes of the pattern, produced as read.
pub struct Pattern {
    pub at: u64,
    pub left: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(self.at + i as u64);
        }
        self.at += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

fn caps(url: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- PyWPS 4.6.0 -->
<wps:Capabilities service="WPS" version="1.0.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:ows="http://www.opengis.net/ows/1.1">
    <ows:OperationsMetadata>
        <ows:Operation name="GetCapabilities"><ows:DCP><ows:HTTP><ows:Get xlink:href="{url}"/></ows:HTTP></ows:DCP></ows:Operation>
        <ows:Operation name="Execute"><ows:DCP><ows:HTTP><ows:Get xlink:href="{url}"/><ows:Post xlink:href="{url}"/></ows:HTTP></ows:DCP></ows:Operation>
    </ows:OperationsMetadata>
</wps:Capabilities>
"#
    )
}

fn execute_response(url: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<wps:ExecuteResponse xmlns:wps="http://www.opengis.net/wps/1.0.0" service="WPS" version="1.0.0" serviceInstance="{url}?request=GetCapabilities&amp;service=WPS" statusLocation="{url}/outputs/job-1.xml">
    <wps:Status><wps:ProcessAccepted>queued</wps:ProcessAccepted></wps:Status>
</wps:ExecuteResponse>
"#
    )
}

fn status_document(url: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<wps:ExecuteResponse xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:xlink="http://www.w3.org/1999/xlink" statusLocation="{url}/outputs/job-1.xml">
    <wps:Status><wps:ProcessSucceeded>done</wps:ProcessSucceeded></wps:Status>
    <wps:ProcessOutputs><wps:Output><wps:Reference href="{url}/outputs/result.txt" mimeType="text/plain"/></wps:Output></wps:ProcessOutputs>
</wps:ExecuteResponse>
"#
    )
}

/// Where PyWPS keeps them by default: beside the service URL, not under it.
fn beside_response(url: &str) -> String {
    let origin = url.trim_end_matches("/wps");
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<wps:ExecuteResponse xmlns:wps="http://www.opengis.net/wps/1.0.0" xmlns:xlink="http://www.w3.org/1999/xlink" serviceInstance="{url}?request=GetCapabilities&amp;service=WPS" statusLocation="{origin}/outputs/job-2.xml">
    <wps:ProcessOutputs><wps:Output><wps:Reference href="{origin}/outputs/result-2.txt" mimeType="text/plain"/></wps:Output></wps:ProcessOutputs>
</wps:ExecuteResponse>
"#
    )
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

fn header(ct: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes("Content-Type", ct).unwrap()
}

fn answer(mut rq: tiny_http::Request, url: &str, seen: &Mutex<Vec<Seen>>) {
    let full = rq.url().to_string();
    let (path, query) = full.split_once('?').unwrap_or((&full, ""));
    let (path, query) = (path.to_string(), query.to_string());
    let mut body = Vec::new();
    let mut body_len = 0u64;
    let mut body_hash = FNV_START;
    let mut buf = vec![0u8; 64 * 1024];
    let reader = rq.as_reader();
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                body_len += n as u64;
                body_hash = fnv(body_hash, &buf[..n]);
                if body.len() < 1 << 20 {
                    body.extend_from_slice(&buf[..n]);
                }
            }
        }
    }
    seen.lock().unwrap().push(Seen {
        method: rq.method().as_str().to_string(),
        path: path.clone(),
        query: query.clone(),
        headers: rq
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_string(),
                    h.value.as_str().to_string(),
                )
            })
            .collect(),
        body_len,
        body: body.clone(),
        body_hash,
    });
    let text = |status: u16, ct: &str, s: String| {
        tiny_http::Response::from_string(s)
            .with_status_code(status)
            .with_header(header(ct))
            .with_chunked_threshold(usize::MAX)
    };
    let request = param(&query, "request").unwrap_or("").to_ascii_lowercase();
    let posted = String::from_utf8_lossy(&body).to_string();
    let resp = match path.as_str() {
        // As MapProxy: its URLs from the forwarded scheme and host, with its own path.
        "/wps" if request == "getcapabilities" && param(&query, "urls") == Some("forwarded") => {
            let told = |name: &'static str| {
                rq.headers()
                    .iter()
                    .find(|h| h.field.equiv(name))
                    .map(|h| h.value.as_str().to_string())
                    .unwrap_or_default()
            };
            let url = format!(
                "{}://{}/wps",
                told("X-Forwarded-Proto"),
                told("X-Forwarded-Host")
            );
            text(200, "text/xml", caps(&url))
        }
        "/wps" if request == "getcapabilities" || posted.contains("GetCapabilities") => {
            text(200, "text/xml", caps(url))
        }
        "/wps" if request == "execute" && param(&query, "identifier") == Some("raw") => {
            text(200, "application/x-netcdf", "CDF\u{1}".into())
        }
        "/wps" if request == "execute" && param(&query, "identifier") == Some("beside") => {
            text(200, "text/xml", beside_response(url))
        }
        "/wps" if request == "execute" || posted.contains("Execute") => {
            text(200, "text/xml; charset=utf-8", execute_response(url))
        }
        "/wps" if request == "describeprocess" => text(
            200,
            "text/xml",
            format!("<ProcessDescriptions href=\"{url}\"/>"),
        ),
        "/wps/outputs/job-1.xml" => text(200, "text/xml", status_document(url)),
        // As MapServer's OGC API beside its OWS: pages that link each other.
        "/wps/ogcapi/collections" => text(
            200,
            "application/json",
            format!(
                r#"{{"links": [{{"href": "{url}/ogcapi/collections/pts/items?f=json&limit=10"}}, {{"href": "{}"}}]}}"#,
                // As PHP's json_encode writes a URL: slashes escaped.
                format!("{url}/ogcapi/collections?f=json").replace('/', r"\/")
            ),
        )
        .with_header(
            tiny_http::Header::from_bytes(
                "Link",
                format!(r#"<{url}/ogcapi/collections?f=html>; rel="alternate"; type="text/html""#),
            )
            .unwrap(),
        )
        // As pygeoapi with `cors: true`.
        .with_header(tiny_http::Header::from_bytes("Access-Control-Allow-Origin", "*").unwrap()),
        "/wps/ogcapi/items" => {
            let count: usize = param(&query, "count")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let links: Vec<String> = (0..count)
                .map(|i| format!(r#"{{"href": "{url}/ogcapi/items?offset={i}"}}"#))
                .collect();
            let doc = text(
                200,
                "application/geo+json",
                format!("[{}]", links.join(", ")),
            );
            if param(&query, "chunked").is_some() {
                doc.with_chunked_threshold(0)
            } else {
                doc
            }
        }
        // A document served in ranges, as a file server does.
        "/wps/ogcapi/doc.json" => {
            let doc = format!(r#"{{"href": "{url}/ogcapi/doc.json"}}"#);
            let range = rq
                .headers()
                .iter()
                .find(|h| h.field.equiv("Range"))
                .and_then(|h| h.value.as_str().strip_prefix("bytes=0-"))
                .and_then(|end| end.parse::<usize>().ok());
            match range {
                Some(end) => {
                    let end = end.min(doc.len() - 1);
                    text(206, "application/json", doc[..=end].to_string()).with_header(
                        tiny_http::Header::from_bytes(
                            "Content-Range",
                            format!("bytes 0-{end}/{}", doc.len()),
                        )
                        .unwrap(),
                    )
                }
                None => text(200, "application/json", doc),
            }
        }
        "/wps/ogcapi" => text(
            200,
            "text/html; charset=utf-8",
            format!(r#"<a href="{url}/ogcapi/collections?f=html&amp;lang=en">collections</a>"#),
        ),
        "/outputs/job-2.xml" => text(200, "text/xml", beside_response(url)),
        "/outputs/result-2.txt" => text(200, "text/plain", "Hello beside".into()),
        "/wps/outputs/result.txt" => text(200, "text/plain", "Hello tux".into()),
        "/wps/nothing" => text(204, "text/plain", String::new()),
        "/wps/outputs/data.nc" => text(200, "application/x-netcdf", "CDF\u{1}".into()),
        "/wps/redirect" => text(302, "text/plain", String::new()).with_header(
            tiny_http::Header::from_bytes("Location", format!("{url}/outputs/result.txt")).unwrap(),
        ),
        "/wps/slow" => {
            std::thread::sleep(Duration::from_secs(2));
            text(200, "text/plain", "late".into())
        }
        "/wps/big" | "/wps/big.xml" => {
            let size: u64 = param(&query, "size")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let ct = if path.ends_with(".xml") {
                "text/xml"
            } else {
                "application/octet-stream"
            };
            let known = param(&query, "chunked").is_none();
            let r = tiny_http::Response::new(
                tiny_http::StatusCode(200),
                vec![header(ct)],
                Pattern { at: 0, left: size },
                known.then_some(size as usize),
                None,
            )
            .with_chunked_threshold(usize::MAX);
            let _ = rq.respond(r);
            return;
        }
        _ if rq.method() != &tiny_http::Method::Get => text(
            200,
            "application/json",
            format!("{{\"bytes\": {body_len}, \"hash\": {body_hash}}}"),
        ),
        _ => text(404, "text/plain", "no such thing".into()),
    };
    let _ = rq.respond(resp);
}

impl Backend {
    pub fn start() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let one: libc::c_int = 1;
        // SAFETY: setsockopt on a socket we own with a live c_int; Linux copies
        // TCP_NODELAY to accepted sockets, sparing keep-alive responses 40 ms stalls.
        unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let port = listener.local_addr().unwrap().port();
        let server = Arc::new(tiny_http::Server::from_listener(listener, None).unwrap());
        let url = format!("http://127.0.0.1:{port}/wps");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..4)
            .map(|_| {
                let (server, url, seen) = (server.clone(), url.clone(), seen.clone());
                std::thread::spawn(move || {
                    while let Ok(rq) = server.recv() {
                        answer(rq, &url, &seen);
                    }
                })
            })
            .collect();
        Backend {
            port,
            url,
            seen,
            server,
            threads,
        }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The last request, waiting briefly for it to be recorded.
    pub fn last(&self) -> Seen {
        super::wait_for(5, "the backend to see a request", || {
            self.seen.lock().unwrap().last().cloned()
        })
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        for _ in &self.threads {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
