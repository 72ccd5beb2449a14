
use std::io::Error as IoError;
use std::io::Result as IoResult;
use std::io::{BufRead, BufReader, BufWriter, ErrorKind};

use std::net::SocketAddr;

use crate::common::{HTTPVersion, Header, HeaderField, Method};
use crate::util::RefinedTcpStream;
use crate::util::{SequentialReader, SequentialReaderBuilder, SequentialWriterBuilder};
use crate::{Limits, Request};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::connection::Connection;
use crate::util::{discard, BodyState, COMPLETE};
use crate::Response;
use std::io::Write;
use std::net::Shutdown;
use std::time::{Duration, Instant};

/// Room for a response head and a small body together: with 1 KiB, a write of the body
/// (8 KiB at a time from `io::copy`) flushed the head on its own first, so every response
/// left in at least two TCP segments, each a wake-up of the client.
const WRITE_BUFFER: usize = 16 * 1024;

/// A ClientConnection is an object that will store a socket to a client
/// and return Request objects.
pub struct ClientConnection {
    // address of the client
    remote_addr: IoResult<Option<SocketAddr>>,

    // sequence of Readers to the stream, so that the data is not read in
    //  the wrong order
    source: SequentialReaderBuilder<BufReader<RefinedTcpStream>>,

    // sequence of Writers to the stream, to avoid writing response #2 before
    //  response #1
    sink: SequentialWriterBuilder<BufWriter<RefinedTcpStream>>,

    // Reader to read the next header from
    next_header_source: SequentialReader<BufReader<RefinedTcpStream>>,

    // set to true if we know that the previous request is the last one
    no_more_requests: bool,

    // true if the connection goes through SSL
    secure: bool,

    // bounds on request heads
    limits: Limits,

    // whether the previous request's body was read to its end
    prev_body: BodyState,

    // a handle on the socket, for requests that must close it
    closer: Option<Arc<Connection>>,
}

/// Error that can happen when reading a request.
#[derive(Debug)]
enum ReadError {
    WrongRequestLine,
    WrongHeader(HTTPVersion),
    /// a line too long, too many headers, or a head that took too long
    HeadTooLarge,
    /// an HTTP version other than 1.x: HTTP/0.9 has no head to answer with, and HTTP/2
    /// and 3 do not start with a request line
    VersionNotSupported,
    /// a byte outside ASCII in the request line
    NotAscii,
    /// a header line that is not UTF-8 (obs-text in another charset)
    NotUtf8,
    /// the client sent an unrecognized `Expect` header
    ExpectationFailed(HTTPVersion),
    /// the head does not say unambiguously where the body ends
    BadFraming(HTTPVersion, &'static str),
    /// the body is in a transfer coding other than chunked
    UnknownTransferCoding(HTTPVersion),
    ReadIoError(IoError),
}

impl ClientConnection {
    /// Creates a new `ClientConnection` that takes ownership of the `TcpStream`.
    pub fn new(
        write_socket: RefinedTcpStream,
        mut read_socket: RefinedTcpStream,
        limits: Limits,
        closer: Option<Arc<Connection>>,
    ) -> ClientConnection {
        let remote_addr = read_socket.peer_addr();
        let secure = read_socket.secure();

        let mut source = SequentialReaderBuilder::new(BufReader::with_capacity(1024, read_socket));
        let first_header = source.next().unwrap();

        ClientConnection {
            source,
            sink: SequentialWriterBuilder::new(BufWriter::with_capacity(WRITE_BUFFER, write_socket)),
            remote_addr,
            next_header_source: first_header,
            no_more_requests: false,
            secure,
            limits,
            prev_body: Arc::new(AtomicU8::new(COMPLETE)),
            closer,
        }
    }

    /// true if the connection is HTTPS
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Reads the next line from self.next_header_source.
    ///
    /// Reads until `CRLF` is reached. The next read will start
    ///  at the first byte of the new line.
    /// The head deadline starts with the first byte of the request, so idle keep-alive
    /// connections are left to the socket's own read timeout.
    fn read_next_line(&mut self, deadline: &mut Option<Instant>) -> Result<String, ReadError> {
        let mut buf = Vec::new();
        let max = self.limits.max_header_line;

        loop {
            let source = self.next_header_source.buffered();
            let available = match source.fill_buf() {
                Ok([]) => {
                    return Err(ReadError::ReadIoError(IoError::new(
                        ErrorKind::ConnectionAborted,
                        "Unexpected EOF",
                    )))
                }
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::ReadIoError(e)),
            };
            match deadline {
                None => {
                    // The first byte of a request arrives only once the previous body
                    // reader is gone, so its verdict is final here.
                    if self.prev_body.load(Ordering::Acquire) != COMPLETE {
                        return Err(ReadError::ReadIoError(IoError::new(
                            ErrorKind::ConnectionAborted,
                            "previous request body left unread",
                        )));
                    }
                    *deadline = Some(Instant::now() + self.limits.head_timeout)
                }
                Some(d) if Instant::now() > *d => {
                    return Err(ReadError::ReadIoError(IoError::new(
                        ErrorKind::TimedOut,
                        "request head too slow",
                    )))
                }
                Some(_) => {}
            }

            // The line ends at the first LF right after a CR; a CR may end the last chunk.
            let mut end = None;
            let mut from = 0;
            while let Some(i) = available[from..].iter().position(|&b| b == b'\n') {
                let i = from + i;
                let after_cr = match i {
                    0 => buf.last() == Some(&b'\r'),
                    _ => available[i - 1] == b'\r',
                };
                if after_cr {
                    end = Some(i);
                    break;
                }
                from = i + 1;
            }
            let taken = end.map_or(available.len(), |i| i + 1);
            // As many bytes as the line may hold with its CR; one more is too many.
            if buf.len() + taken > max {
                return Err(ReadError::HeadTooLarge);
            }
            buf.extend_from_slice(&available[..end.unwrap_or(taken)]);
            source.consume(taken);
            if end.is_some() {
                buf.pop(); // removing the '\r'
                // A header value may have bytes above 0x7F (obs-text); those that make
                // UTF-8 are kept, others refused rather than dropped without a word.
                return String::from_utf8(buf).map_err(|_| ReadError::NotUtf8);
            }
        }
    }

    /// Answers a request that cannot be served and ends the connection, as nobody knows
    /// where the next request would start. Our side is shut first and what the client
    /// still sends is drained (bounded), so the close does not reset the answer away.
    fn refuse(&mut self, status: u16, version: HTTPVersion, why: &str) {
        let mut response = Response::from_string(why).with_status_code(status);
        response.force_connection_close();
        response.set_default_server(self.limits.server_name);
        let mut writer = self.sink.next().unwrap();
        let _ = response.raw_print(&mut writer, version, &[], false, None);
        let _ = writer.flush();
        drop(writer);
        if let Some(socket) = &self.closer {
            let _ = socket.shutdown(Shutdown::Write);
            let _ = socket.set_read_timeout(Some(Duration::from_secs(1)));
            discard(self.next_header_source.buffered());
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Reads a request from the stream.
    /// Blocks until the header has been read.
    fn read(&mut self) -> Result<Request, ReadError> {
        let mut deadline = None;
        let (method, path, version, headers) = {
            // reading the request line
            let (method, path, version) = {
                let line = self.read_next_line(&mut deadline)?;
                if !line.is_ascii() {
                    return Err(ReadError::NotAscii);
                }
                parse_request_line(line.trim())?
            };

            // getting all headers
            let headers = {
                let mut headers = Vec::with_capacity(8);
                loop {
                    let line = self.read_next_line(&mut deadline)?;

                    if line.is_empty() {
                        break;
                    };
                    if headers.len() >= self.limits.max_headers {
                        return Err(ReadError::HeadTooLarge);
                    }
                    headers.push(match header_from_line(line) {
                        Ok(h) => h,
                        _ => return Err(ReadError::WrongHeader(version)),
                    });
                }

                headers
            };

            (method, path, version, headers)
        };

        // building the writer for the request
        let writer = self.sink.next().unwrap();

        // follow-up for next potential request
        let mut data_source = self.source.next().unwrap();
        std::mem::swap(&mut self.next_header_source, &mut data_source);

        // building the next reader
        self.prev_body = Arc::new(AtomicU8::new(COMPLETE));
        let request = crate::request::new_request(
            self.secure,
            method,
            path,
            version.clone(),
            headers,
            *self.remote_addr.as_ref().unwrap(),
            data_source,
            writer,
            self.prev_body.clone(),
            self.closer.clone(),
        )
        .map(|rq| rq.with_server_name(self.limits.server_name))
        .map_err(|e| {
            use crate::request;
            match e {
                request::RequestCreationError::CreationIoError(e) => ReadError::ReadIoError(e),
                request::RequestCreationError::ExpectationFailed => {
                    ReadError::ExpectationFailed(version)
                }
                request::RequestCreationError::BadFraming(why) => {
                    ReadError::BadFraming(version, why)
                }
                request::RequestCreationError::UnknownTransferCoding => {
                    ReadError::UnknownTransferCoding(version)
                }
            }
        })?;

        // return the request
        Ok(request)
    }
}

/// Parses a header line as `Header::from_str` does, keeping the line's buffer for the
/// value: one string per header instead of two.
///
/// Only SP and HTAB are whitespace here (RFC 9112 §5): `str::trim` also strips Unicode
/// spaces, so with UTF-8 lines `\u{a0}Content-Length: 33` would have framed a body that
/// a front proxy saw as an unknown header. A line that starts with whitespace (obs-fold)
/// is refused, as before it was taken for a header of its own.
fn header_from_line(line: String) -> Result<Header, ()> {
    if line.starts_with([' ', '\t']) {
        return Err(());
    }
    let (name, value) = line.split_once(':').ok_or(())?;
    let field: HeaderField = name.parse()?;
    let value = value.trim_matches([' ', '\t']);
    let (start, len) = (
        value.as_ptr() as usize - line.as_ptr() as usize,
        value.len(),
    );
    let mut value = line;
    value.truncate(start + len);
    value.drain(..start);
    Ok(Header { field, value })
}

impl Iterator for ClientConnection {
    type Item = Request;

    /// Blocks until the next Request is available.
    /// Returns None when no new Requests will come from the client.
    fn next(&mut self) -> Option<Request> {
        // the client sent a "connection: close" header in this previous request
        //  or is using HTTP 1.0, meaning that no new request will come
        if self.no_more_requests {
            return None;
        }

        let rq = match self.read() {
            Ok(rq) => rq,
            Err(ReadError::WrongRequestLine) => {
                self.refuse(400, HTTPVersion(1, 1), "Bad request line");
                return None;
            }
            Err(ReadError::WrongHeader(ver)) => {
                self.refuse(400, ver, "Bad header line");
                return None;
            }
            Err(ReadError::HeadTooLarge) => {
                self.refuse(431, HTTPVersion(1, 1), "Request head too large");
                return None;
            }
            Err(ReadError::VersionNotSupported) => {
                self.refuse(
                    505,
                    HTTPVersion(1, 1),
                    "This server only supports HTTP versions 1.0 and 1.1",
                );
                return None;
            }
            Err(ReadError::NotAscii) => {
                self.refuse(400, HTTPVersion(1, 1), "Non-ASCII byte in the request line");
                return None;
            }
            Err(ReadError::NotUtf8) => {
                self.refuse(400, HTTPVersion(1, 1), "A header that is not UTF-8");
                return None;
            }
            Err(ReadError::ReadIoError(ref err)) if err.kind() == ErrorKind::TimedOut => {
                self.refuse(408, HTTPVersion(1, 1), "Request head too slow");
                return None;
            }
            Err(ReadError::ExpectationFailed(ver)) => {
                self.refuse(417, ver, "Only 100-continue is supported in Expect");
                return None;
            }
            Err(ReadError::BadFraming(ver, why)) => {
                self.refuse(400, ver, why);
                return None;
            }
            Err(ReadError::UnknownTransferCoding(ver)) => {
                self.refuse(501, ver, "Only the chunked transfer coding is supported");
                return None;
            }
            Err(ReadError::ReadIoError(_)) => return None,
        };

        // updating the status of the connection
        let connection_header = rq
            .headers()
            .iter()
            .find(|h| h.field.equiv("Connection"))
            .map(|h| h.value.as_str());

        let lowercase = connection_header.map(|h| h.to_ascii_lowercase());

        match lowercase {
            Some(ref val) if val.contains("close") => self.no_more_requests = true,
            Some(ref val) if val.contains("upgrade") => self.no_more_requests = true,
            // HTTP/1.0 is never kept alive, so a body of unknown length can end with the
            // connection instead of being buffered whole (see response.rs).
            _ if *rq.http_version() == HTTPVersion(1, 0) => self.no_more_requests = true,
            _ => (),
        };

        Some(rq)
    }
}

/// Parses a "HTTP/1.1" string.
///
/// Upstream also took HTTP/0.9, 2.0 and 3.0: it answered 0.9 with a 1.x-style head under
/// `HTTP/0.9`, and for 2.0 and 3.0 (the HTTP/2 preface, `PRI * HTTP/2.0`, among them)
/// queued a 505 without sending it and waited for the next request, with no timeout.
/// A later 1.x is taken as 1.1, the highest minor version this server implements, as
/// RFC 9110 §2.5 asks.
fn parse_http_version(version: &str) -> Result<HTTPVersion, ReadError> {
    match version.as_bytes() {
        b"HTTP/1.0" => Ok(HTTPVersion(1, 0)),
        b"HTTP/1.1" => Ok(HTTPVersion(1, 1)),
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            Ok(HTTPVersion(1, 1))
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && *major != b'1' && minor.is_ascii_digit() =>
        {
            Err(ReadError::VersionNotSupported)
        }
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() && *major != b'1' => {
            Err(ReadError::VersionNotSupported)
        }
        _ => Err(ReadError::WrongRequestLine),
    }
}

/// Parses the request line of the request.
/// eg. GET / HTTP/1.1
fn parse_request_line(line: &str) -> Result<(Method, String, HTTPVersion), ReadError> {
    let mut parts = line.split(' ');
    let method = parts.next().and_then(|w| w.parse().ok());
    let path = parts.next().map(ToOwned::to_owned);
    let version = parse_http_version(parts.next().unwrap_or(""))?;
    match (method, path) {
        (Some(method), Some(path)) => Ok((method, path, version)),
        _ => Err(ReadError::WrongRequestLine),
    }
}

#[cfg(test)]
mod test {
    #[test]
    fn test_parse_request_line() {
        let (method, path, ver) = super::parse_request_line("GET /hello HTTP/1.1").unwrap();

        assert!(method == crate::Method::Get);
        assert!(path == "/hello");
        assert!(ver == crate::common::HTTPVersion(1, 1));

        assert!(super::parse_request_line("GET /hello").is_err());
        assert!(super::parse_request_line("qsd qsd qsd").is_err());
        for later in ["HTTP/1.2", "HTTP/1.9"] {
            let (_, _, ver) = super::parse_request_line(&format!("GET / {later}")).unwrap();
            assert!(ver == crate::common::HTTPVersion(1, 1), "{later}");
        }
        for other in ["HTTP/0.9", "HTTP/2.0", "HTTP/3.0", "HTTP/2"] {
            assert!(matches!(
                super::parse_request_line(&format!("GET / {other}")),
                Err(super::ReadError::VersionNotSupported)
            ));
        }
        assert!(matches!(
            super::parse_request_line("GET / HTTP/1.10"),
            Err(super::ReadError::WrongRequestLine)
        ));
    }
}
