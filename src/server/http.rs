//! Plain request and response values for handlers, over tiny_http.

use std::borrow::Cow;
use std::io::Read;
use std::net::SocketAddr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Other,
}

impl Method {
    pub fn from_tiny(m: &tiny_http::Method) -> Method {
        match m {
            tiny_http::Method::Get => Method::Get,
            tiny_http::Method::Head => Method::Head,
            tiny_http::Method::Post => Method::Post,
            tiny_http::Method::Put => Method::Put,
            tiny_http::Method::Delete => Method::Delete,
            tiny_http::Method::Patch => Method::Patch,
            tiny_http::Method::Options => Method::Options,
            _ => Method::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Other => "OTHER",
        }
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    TooLarge(u64),
    Io(std::io::Error),
}

/// `http://host/path?q` → (`host`, `/path?q`); a target in origin form is returned as it
/// is. A server must take the absolute form too (RFC 9112 §3.2.2). An empty path is
/// left empty (`http://host?q` → `?q`) for the caller to read as `/`.
fn split_absolute_form(target: &str) -> (Option<&str>, &str) {
    let scheme_len = ["http://", "https://"].iter().find_map(|s| {
        target
            .get(..s.len())
            .filter(|t| t.eq_ignore_ascii_case(s))
            .map(|_| s.len())
    });
    let Some(n) = scheme_len else {
        return (None, target);
    };
    let rest = &target[n..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host, origin) = rest.split_at(end);
    (Some(host), origin)
}

/// One incoming request. The body is read on demand, never more than the limit.
pub struct Request<'a> {
    inner: &'a mut tiny_http::Request,
    pub method: Method,
    /// The path as sent, still percent-encoded.
    pub path: String,
    /// The query as sent, without `?`.
    pub query: String,
    /// The authority of a request target in absolute form (`GET http://host/path`),
    /// which RFC 9112 §3.2.2 puts in place of `Host`.
    pub target_host: Option<String>,
    pub peer: Option<SocketAddr>,
    /// The OWS service the request was for, set by its handler, for the traffic counters.
    pub service: Option<String>,
    max_body: u64,
}

impl<'a> Request<'a> {
    pub fn new(inner: &'a mut tiny_http::Request, max_body: u64) -> Request<'a> {
        let method = Method::from_tiny(inner.method());
        let (target_host, origin_form) = split_absolute_form(inner.url());
        let (mut path, query) = match origin_form.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (origin_form.to_string(), String::new()),
        };
        if path.is_empty() {
            path.push('/');
        }
        let target_host = target_host.map(str::to_string);
        let peer = inner.remote_addr().copied();
        Request {
            inner,
            method,
            path,
            query,
            target_host,
            peer,
            service: None,
            max_body,
        }
    }

    /// The first header of that name, compared without regard to case.
    pub fn header<'s>(&'s self, name: &str) -> Option<&'s str> {
        self.inner
            .headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Whether the request line said HTTP/1.1 (or later), which makes `Host` required.
    pub fn http_11(&self) -> bool {
        let v = self.inner.http_version();
        (v.0, v.1) >= (1, 1)
    }

    /// Every value of one header, in order.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> {
        self.inner
            .headers()
            .iter()
            .filter(move |h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every header as sent, in order.
    pub fn headers(&self) -> Vec<(&str, &str)> {
        self.header_pairs().collect()
    }

    /// As `headers`, without collecting them.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.inner
            .headers()
            .iter()
            .map(|h| (h.field.as_str().as_str(), h.value.as_str()))
    }

    /// Whether the client sends a body: a non-zero length, or chunks.
    pub fn has_body(&self) -> bool {
        self.content_length().is_some_and(|n| n > 0)
            || self
                .header("Transfer-Encoding")
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    /// Decoded query parameters in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        decode_pairs(&self.query)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The length tiny_http framed the body by, so that both agree on whether there is
    /// a body: it also takes the list form `Content-Length: 96, 96`.
    pub fn content_length(&self) -> Option<u64> {
        self.inner.body_length().map(|n| n as u64)
    }

    pub fn max_body(&self) -> u64 {
        self.max_body
    }

    /// The body, as a reader that fails once it passes the size limit.
    pub fn body_reader(&mut self) -> impl Read + '_ {
        LimitedReader {
            inner: self.inner.as_reader(),
            left: self.max_body,
            limit: self.max_body,
        }
    }

    /// The whole body in memory, refused when larger than the limit.
    pub fn read_body(&mut self) -> Result<Vec<u8>, BodyError> {
        if let Some(len) = self.content_length()
            && len > self.max_body
        {
            return Err(BodyError::TooLarge(self.max_body));
        }
        let max = self.max_body;
        let mut buf = Vec::with_capacity(self.content_length().unwrap_or(0).min(1 << 20) as usize);
        match self.body_reader().read_to_end(&mut buf) {
            Ok(_) => Ok(buf),
            Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => Err(BodyError::TooLarge(max)),
            Err(e) => Err(BodyError::Io(e)),
        }
    }
}

/// The pairs of an `application/x-www-form-urlencoded` string, as
/// `form_urlencoded::parse` gives them, with pairs that need no decoding borrowed
/// without going through its decoder: on every proxied request, most need none.
pub fn decode_pairs(q: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    q.split('&').filter(|p| !p.is_empty()).map(|pair| {
        if pair.bytes().any(|b| b == b'%' || b == b'+') {
            return form_urlencoded::parse(pair.as_bytes())
                .next()
                .unwrap_or_default();
        }
        match pair.split_once('=') {
            Some((k, v)) => (Cow::Borrowed(k), Cow::Borrowed(v)),
            None => (Cow::Borrowed(pair), Cow::Borrowed("")),
        }
    })
}

/// Whether a query key as sent (still encoded) names one of `names`, compared
/// without regard to case. Decodes only when it has to: this runs on every request.
pub fn query_key_in(raw: &str, names: &[&str]) -> bool {
    let decoded;
    let key = if raw.bytes().any(|b| b == b'%' || b == b'+') {
        decoded = form_urlencoded::parse(raw.as_bytes())
            .next()
            .map(|(k, _)| k)
            .unwrap_or_default();
        &*decoded
    } else {
        raw
    };
    names.iter().any(|n| key.eq_ignore_ascii_case(n))
}

/// Fails with `FileTooLarge` once more than `limit` bytes have come.
struct LimitedReader<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Ask for one byte more than allowed, to tell "exactly at the limit" from "over".
        let want = (buf.len() as u64).min(self.left + 1) as usize;
        // Waiting on the client holds no place in the gate (see `gate`).
        let held = self.limit - self.left;
        let n = super::gate::waiting_on_client(held, || self.inner.read(&mut buf[..want]))?;
        if n as u64 > self.left {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("body larger than {} bytes", self.limit),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// Sent as it is read; `length` is known up front or the body goes chunked.
    Stream {
        reader: Box<dyn Read + Send>,
        length: Option<u64>,
    },
}

/// An RFC 9110 field name: one or more token characters.
pub fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Visible ASCII, spaces and tabs: nothing that could end the line or the head.
pub fn valid_header_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Appends `name: value` and its line end to a block of header lines.
pub fn push_header_line(block: &mut Vec<u8>, name: &str, value: &[u8]) {
    block.extend_from_slice(name.as_bytes());
    block.extend_from_slice(b": ");
    block.extend_from_slice(value);
    block.extend_from_slice(b"\r\n");
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(Cow<'static, str>, String)>,
    /// Header lines already written out and checked (`Name: value\r\n` each), sent
    /// before `headers`: how a backend's headers are passed on without a string each.
    pub header_lines: Vec<u8>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            header_lines: Vec::new(),
            body: Body::Empty,
        }
    }

    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status)
            .header("Content-Type", content_type)
            .with_body(Body::Bytes(body.into()))
    }

    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
        // Serialising our own plain types cannot fail.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
        Response::bytes(status, "application/json", body)
    }

    pub fn header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn with_body(mut self, body: Body) -> Response {
        self.body = body;
        self
    }

    /// Whether the response has a header of that name, among either kind.
    pub fn has_header(&self, name: &str) -> bool {
        self.get_header(name).is_some() || tiny_http::raw_headers_contain(&self.header_lines, name)
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_decode_as_form_urlencoded_does() {
        for q in [
            "",
            "service=WPS&request=GetCapabilities",
            "a=1&&b=&c&=d&",
            "DataInputs=name=x;y=%3D&k=v",
            "na+me=va+lue&x%20y=%C3%A9",
            "bad=%FF%&e=%zz",
            "&&&",
            "k==v",
        ] {
            let ours: Vec<_> = decode_pairs(q).collect();
            let theirs: Vec<_> = form_urlencoded::parse(q.as_bytes()).collect();
            assert_eq!(ours, theirs, "{q}");
        }
    }
}
