use std::io::Error as IoError;
use std::io::{self, Cursor, ErrorKind, Read, Write};

use std::fmt;
use std::net::SocketAddr;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};

use crate::connection::Connection;
use crate::response::PrintError;
use crate::util::{
    BodyGuard, BodyState, EqualReader, FusedReader, ABANDONED, BROKEN, COMPLETE,
};
use crate::{HTTPVersion, Header, Method, Response};
use chunked_transfer::Decoder;

/// Represents an HTTP request made by a client.
///
/// A `Request` object is what is produced by the server, and is your what
/// your code must analyse and answer.
///
/// This object implements the `Send` trait, therefore you can dispatch your requests to
/// worker threads.
///
/// # Pipelining
///
/// If a client sends multiple requests in a row (without waiting for the response), then you will
/// get multiple `Request` objects simultaneously. This is called *requests pipelining*.
/// Tiny-http automatically reorders the responses so that you don't need to worry about the order
/// in which you call `respond` or `into_writer`.
///
/// This mechanic is disabled if:
///
///  - The body of a request is large enough (handling requires pipelining requires storing the
///    body of the request in a buffer ; if the body is too big, tiny-http will avoid doing that)
///  - A request sends a `Expect: 100-continue` header (which means that the client waits to
///    know whether its body will be processed before sending it)
///  - A request sends a `Connection: close` header or `Connection: upgrade` header (used for
///    websockets), which indicates that this is the last request that will be received on this
///    connection
///
/// # Automatic cleanup
///
/// If a `Request` object is destroyed without `into_writer` or `respond` being called,
/// an empty response with a 500 status code (internal server error) will automatically be
/// sent back to the client.
/// This means that if your code fails during the handling of a request, this "internal server
/// error" response will automatically be sent during the stack unwinding.
///
/// # Testing
///
/// If you want to build fake requests to test your server, use [`TestRequest`](crate::test::TestRequest).
pub struct Request {
    // where to read the body from
    data_reader: Option<Box<dyn Read + Send + 'static>>,

    // if this writer is empty, then the request has been answered
    response_writer: Option<Box<dyn Write + Send + 'static>>,

    remote_addr: Option<SocketAddr>,

    // true if HTTPS, false if HTTP
    secure: bool,

    method: Method,

    path: String,

    http_version: HTTPVersion,

    headers: Vec<Header>,

    body_length: Option<usize>,

    // whether `100 Continue` went out; `None` when the client does not wait for one
    continue_sent: Option<Arc<AtomicBool>>,

    // If Some, a message must be sent after responding
    notify_when_responded: Option<Sender<()>>,

    // whether the body was read to its end; shared with the body reader and the connection
    body_state: BodyState,

    // a handle on the socket, to close it after a response when the body was left unread
    closer: Option<Arc<Connection>>,

    // the `Server` header of responses that have none
    server_name: &'static str,
}

struct NotifyOnDrop<R> {
    sender: Sender<()>,
    inner: R,
}

impl<R: Read> Read for NotifyOnDrop<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}
impl<R: Write> Write for NotifyOnDrop<R> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
impl<R> Drop for NotifyOnDrop<R> {
    fn drop(&mut self) {
        self.sender.send(()).unwrap();
    }
}

/// A request's response writer, shared with its body reader while that may still send
/// `100 Continue`.
type SharedWriter = Arc<Mutex<Option<Box<dyn Write + Send + 'static>>>>;

/// The response side of a `SharedWriter`. Dropping it drops the writer, so the
/// next response on the connection does not wait for the body reader to go too, and
/// the reader can no longer send `100 Continue` once a response has begun.
struct ResponseWriter(SharedWriter);

impl ResponseWriter {
    fn with<T>(&self, f: impl FnOnce(&mut dyn Write) -> io::Result<T>) -> io::Result<T> {
        match self.0.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            Some(writer) => f(writer),
            None => Err(ErrorKind::BrokenPipe.into()),
        }
    }
}

impl Write for ResponseWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.with(|w| w.write(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.with(|w| w.flush())
    }
}

impl Drop for ResponseWriter {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}

/// Sends `100 Continue` on the first read of the body. Upstream sent it when the handler
/// asked for the reader, before deciding anything, so a request then refused (401)
/// still made the client upload its body. It is exactly the status line: RFC 9110
/// forbids a `Content-Length` on a 1xx response, which upstream sent with it.
struct ContinueReader<R> {
    inner: R,
    writer: Option<SharedWriter>,
    sent: Arc<AtomicBool>,
}

impl<R: Read> Read for ContinueReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(shared) = self.writer.take() {
            if let Some(writer) = shared.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
                writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
                writer.flush()?;
                self.sent.store(true, Ordering::Release);
            }
        }
        self.inner.read(buf)
    }
}

/// Error that can happen when building a `Request` object.
#[derive(Debug)]
pub enum RequestCreationError {
    /// The client sent an `Expect` header that was not recognized by tiny-http.
    ExpectationFailed,

    /// Error while reading data from the socket during the creation of the `Request`.
    CreationIoError(IoError),

    /// The headers do not say unambiguously where the body ends (400).
    BadFraming(&'static str),

    /// The body comes in a transfer coding that tiny-http cannot decode (501).
    UnknownTransferCoding,
}

/// Where the body ends, as RFC 9112 section 6.3 has it: a length, chunked, or neither.
///
/// Upstream took the first `Content-Length` and read any value that was not a number
/// as 0, and took any `Transfer-Encoding` (even `xchunked` or `gzip`) as chunked, with
/// a `Content-Length` beside it kept: each way a body could be parsed as a further
/// request, one that a front proxy framing the message correctly never saw. Every
/// ambiguous head is refused, and the connection closed, instead.
fn body_framing(
    version: &HTTPVersion,
    headers: &[Header],
) -> Result<(Option<usize>, bool), RequestCreationError> {
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.field.equiv(name))
            .map(|h| h.value.as_str())
    };
    let content_length = content_length(values("Content-Length"))?;
    if values("Transfer-Encoding").next().is_none() {
        return Ok((content_length, false));
    }
    if content_length.is_some() {
        return Err(RequestCreationError::BadFraming(
            "Content-Length and Transfer-Encoding together",
        ));
    }
    if *version < (1, 1) {
        return Err(RequestCreationError::BadFraming(
            "Transfer-Encoding in an HTTP/1.0 request",
        ));
    }
    // Codings without their parameters; a list may have empty members.
    let codings: Vec<&str> = values("Transfer-Encoding")
        .flat_map(|v| v.split(','))
        .map(|c| c.split(';').next().unwrap_or("").trim_matches([' ', '\t']))
        .filter(|c| !c.is_empty())
        .collect();
    match codings.split_last() {
        Some((last, before)) if last.eq_ignore_ascii_case("chunked") => {
            if before.iter().any(|c| c.eq_ignore_ascii_case("chunked")) {
                Err(RequestCreationError::BadFraming("chunked applied twice"))
            } else if !before.is_empty() {
                Err(RequestCreationError::UnknownTransferCoding)
            } else {
                Ok((None, true))
            }
        }
        _ => Err(RequestCreationError::BadFraming(
            "Transfer-Encoding does not end with chunked",
        )),
    }
}

/// The length every `Content-Length` field and list member agrees on: each must be
/// digits only (no sign, no hex, no space inside), and fit a `usize`.
fn content_length<'a>(
    values: impl Iterator<Item = &'a str>,
) -> Result<Option<usize>, RequestCreationError> {
    let bad = || RequestCreationError::BadFraming("invalid Content-Length");
    let mut length = None;
    for member in values.flat_map(|v| v.split(',')) {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() || !member.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: usize = member.parse().map_err(|_| bad())?;
        if length.is_some_and(|l| l != n) {
            return Err(bad());
        }
        length = Some(n);
    }
    Ok(length)
}

impl From<IoError> for RequestCreationError {
    fn from(err: IoError) -> RequestCreationError {
        RequestCreationError::CreationIoError(err)
    }
}

/// Builds a new request.
///
/// After the request line and headers have been read from the socket, a new `Request` object
/// is built.
///
/// You must pass a `Read` that will allow the `Request` object to read from the incoming data.
/// It is the responsibility of the `Request` to read only the data of the request and not further.
///
/// The `Write` object will be used by the `Request` to write the response.
#[allow(clippy::too_many_arguments)]
pub fn new_request<R, W>(
    secure: bool,
    method: Method,
    path: String,
    version: HTTPVersion,
    headers: Vec<Header>,
    remote_addr: Option<SocketAddr>,
    mut source_data: R,
    writer: W,
    body_state: BodyState,
    closer: Option<Arc<Connection>>,
) -> Result<Request, RequestCreationError>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let (content_length, chunked) = body_framing(&version, &headers)?;

    // true if the client sent a `Expect: 100-continue` header
    let expects_continue = {
        match headers
            .iter()
            .find(|h: &&Header| h.field.equiv("Expect"))
            .map(|h| h.value.as_str())
        {
            None => false,
            // An HTTP/1.0 client cannot take a 1xx answer (RFC 9110 section 10.1.1).
            Some(v) if v.eq_ignore_ascii_case("100-continue") => version >= (1, 1),
            _ => return Err(RequestCreationError::ExpectationFailed),
        }
    };

    // true if the client sent a `Connection: upgrade` header
    let connection_upgrade = {
        match headers
            .iter()
            .find(|h: &&Header| h.field.equiv("Connection"))
            .map(|h| h.value.as_str())
        {
            Some(v) if v.to_ascii_lowercase().contains("upgrade") => true,
            _ => false,
        }
    };

    // we wrap `source_data` around a reading whose nature depends on the transfer-encoding and
    // content-length headers
    // only the two streaming readers below can leave part of a body unread
    body_state.store(COMPLETE, Ordering::Release);
    let reader = if connection_upgrade {
        // if we have a `Connection: upgrade`, always keeping the whole reader
        Box::new(source_data) as Box<dyn Read + Send + 'static>
    } else if let Some(content_length) = content_length {
        if content_length == 0 {
            Box::new(io::empty()) as Box<dyn Read + Send + 'static>
        } else if content_length <= 1024 && !expects_continue {
            // if the content-length is small enough, we just read everything into a buffer

            let mut buffer = vec![0; content_length];
            let mut offset = 0;

            while offset != content_length {
                let read = source_data.read(&mut buffer[offset..])?;
                if read == 0 {
                    // the socket returned EOF, but we were before the expected content-length
                    // aborting
                    let info = "Connection has been closed before we received enough data";
                    let err = IoError::new(ErrorKind::ConnectionAborted, info);
                    return Err(RequestCreationError::CreationIoError(err));
                }

                offset += read;
            }

            Box::new(Cursor::new(buffer)) as Box<dyn Read + Send + 'static>
        } else {
            let (data_reader, _) = EqualReader::new(source_data, content_length); // TODO:
            Box::new(BodyGuard::new(
                FusedReader::new(data_reader),
                body_state.clone(),
            )) as Box<dyn Read + Send + 'static>
        }
    } else if chunked {
        Box::new(BodyGuard::new(
            FusedReader::new(Decoder::new(source_data)),
            body_state.clone(),
        )) as Box<dyn Read + Send + 'static>
    } else {
        // if we have neither a Content-Length nor a Transfer-Encoding,
        // assuming that we have no data
        // TODO: could also be multipart/byteranges
        Box::new(io::empty()) as Box<dyn Read + Send + 'static>
    };

    let has_body = chunked || content_length.is_some_and(|n| n > 0);
    let (reader, writer, continue_sent) = if expects_continue && has_body && !connection_upgrade {
        let writer: SharedWriter = Arc::new(Mutex::new(Some(Box::new(writer))));
        let sent = Arc::new(AtomicBool::new(false));
        let reader = ContinueReader {
            inner: reader,
            writer: Some(writer.clone()),
            sent: sent.clone(),
        };
        (
            Box::new(reader) as Box<dyn Read + Send + 'static>,
            Box::new(ResponseWriter(writer)) as Box<dyn Write + Send + 'static>,
            Some(sent),
        )
    } else {
        (
            reader,
            Box::new(writer) as Box<dyn Write + Send + 'static>,
            None,
        )
    };

    Ok(Request {
        data_reader: Some(reader),
        response_writer: Some(writer),
        remote_addr,
        secure,
        method,
        path,
        http_version: version,
        headers,
        body_length: content_length,
        continue_sent,
        notify_when_responded: None,
        body_state,
        closer,
        server_name: crate::response::DEFAULT_SERVER,
    })
}

impl Request {
    /// Returns true if the request was made through HTTPS.
    #[inline]
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Returns the method requested by the client (eg. `GET`, `POST`, etc.).
    #[inline]
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Returns the resource requested by the client.
    #[inline]
    pub fn url(&self) -> &str {
        &self.path
    }

    /// Returns a list of all headers sent by the client.
    #[inline]
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// Returns the HTTP version of the request.
    #[inline]
    pub fn http_version(&self) -> &HTTPVersion {
        &self.http_version
    }

    /// Returns the length of the body in bytes.
    ///
    /// Returns `None` if the length is unknown.
    #[inline]
    pub fn body_length(&self) -> Option<usize> {
        self.body_length
    }

    /// Returns the address of the client that sent this request.
    ///
    /// The address is always `Some` for TCP listeners, but always `None` for UNIX listeners
    /// (as the remote address of a UNIX client is almost always unnamed).
    ///
    /// Note that this is gathered from the socket. If you receive the request from a proxy,
    /// this function will return the address of the proxy and not the address of the actual
    /// user.
    #[inline]
    pub fn remote_addr(&self) -> Option<&SocketAddr> {
        self.remote_addr.as_ref()
    }

    /// Sends a response with a `Connection: upgrade` header, then turns the `Request` into a `Stream`.
    ///
    /// The main purpose of this function is to support websockets.
    /// If you detect that the request wants to use some kind of protocol upgrade, you can
    ///  call this function to obtain full control of the socket stream.
    ///
    /// If you call this on a non-websocket request, tiny-http will wait until this `Stream` object
    ///  is destroyed before continuing to read or write on the socket. Therefore you should always
    ///  destroy it as soon as possible.
    pub fn upgrade<R: Read>(
        mut self,
        protocol: &str,
        response: Response<R>,
    ) -> Box<dyn ReadWrite + Send> {
        use crate::util::CustomStream;

        response
            .raw_print(
                self.response_writer.as_mut().unwrap().by_ref(),
                self.http_version.clone(),
                &self.headers,
                false,
                Some(protocol),
            )
            .ok(); // TODO: unused result

        self.response_writer.as_mut().unwrap().flush().ok(); // TODO: unused result

        let stream = CustomStream::new(self.extract_reader_impl(), self.extract_writer_impl());
        if let Some(sender) = self.notify_when_responded.take() {
            let stream = NotifyOnDrop {
                sender,
                inner: stream,
            };
            Box::new(stream) as Box<dyn ReadWrite + Send>
        } else {
            Box::new(stream) as Box<dyn ReadWrite + Send>
        }
    }

    /// Allows to read the body of the request.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # extern crate rustc_serialize;
    /// # extern crate tiny_http;
    /// # use rustc_serialize::json::Json;
    /// # use std::io::Read;
    /// # fn get_content_type(_: &tiny_http::Request) -> &'static str { "" }
    /// # fn main() {
    /// # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
    /// let mut request = server.recv().unwrap();
    ///
    /// if get_content_type(&request) == "application/json" {
    ///     let mut content = String::new();
    ///     request.as_reader().read_to_string(&mut content).unwrap();
    ///     let json: Json = content.parse().unwrap();
    /// }
    /// # }
    /// ```
    ///
    /// If the client sent a `Expect: 100-continue` header with the request, the first
    ///  read from the reader sends back a `100 Continue` response.
    #[inline]
    pub fn as_reader(&mut self) -> &mut dyn Read {
        self.data_reader.as_mut().unwrap()
    }

    /// Turns the `Request` into a writer.
    ///
    /// The writer has a raw access to the stream to the user.
    /// This function is useful for things like CGI.
    ///
    /// Note that the destruction of the `Writer` object may trigger
    /// some events. For exemple if a client has sent multiple requests and the requests
    /// have been processed in parallel, the destruction of a writer will trigger
    /// the writing of the next response.
    /// Therefore you should always destroy the `Writer` as soon as possible.
    #[inline]
    pub fn into_writer(mut self) -> Box<dyn Write + Send + 'static> {
        let writer = self.extract_writer_impl();
        if let Some(sender) = self.notify_when_responded.take() {
            let writer = NotifyOnDrop {
                sender,
                inner: writer,
            };
            Box::new(writer) as Box<dyn Write + Send + 'static>
        } else {
            writer
        }
    }

    /// Extract the response `Writer` object from the Request, dropping this `Writer` has the same side effects
    /// as the object returned by `into_writer` above.
    ///
    /// This may only be called once on a single request.
    fn extract_writer_impl(&mut self) -> Box<dyn Write + Send + 'static> {
        use std::mem;

        assert!(self.response_writer.is_some());

        let mut writer = None;
        mem::swap(&mut self.response_writer, &mut writer);
        writer.unwrap()
    }

    /// Extract the body `Reader` object from the Request.
    ///
    /// This may only be called once on a single request.
    fn extract_reader_impl(&mut self) -> Box<dyn Read + Send + 'static> {
        use std::mem;

        assert!(self.data_reader.is_some());

        let mut reader = None;
        mem::swap(&mut self.data_reader, &mut reader);
        reader.unwrap()
    }

    /// Sends a response to this request.
    #[inline]
    pub fn respond<R>(mut self, response: Response<R>) -> Result<(), IoError>
    where
        R: Read,
    {
        let res = self.respond_impl(response);
        if let Some(sender) = self.notify_when_responded.take() {
            sender.send(()).unwrap();
        }
        res
    }

    fn respond_impl<R>(&mut self, mut response: Response<R>) -> Result<(), IoError>
    where
        R: Read,
    {
        // A body left unread means the connection cannot carry another request: the
        // response says so and the socket is closed after it. A client still waiting for
        // `100 Continue` has sent no body, so there is nothing to drain.
        if self
            .continue_sent
            .as_ref()
            .is_some_and(|sent| !sent.load(Ordering::Acquire))
        {
            self.body_state.store(ABANDONED, Ordering::Release);
        }
        response.set_default_server(self.server_name);
        let close = self.body_state.load(Ordering::Acquire) != COMPLETE;
        if close {
            response.force_connection_close();
        }

        let mut writer = self.extract_writer_impl();

        let do_not_send_body = self.method == Method::Head;

        let printed = response.print(
            writer.by_ref(),
            self.http_version.clone(),
            &self.headers,
            do_not_send_body,
            None,
        );
        // A body that failed part-way leaves the client a response that looks complete
        // only if the connection goes on: it must end, and carry no further request.
        let broken = match printed {
            Err(PrintError::Body(e)) => Some(e),
            Err(PrintError::Write(e)) => {
                Self::ignore_client_closing_errors(Err(e))?;
                None
            }
            Ok(()) => None,
        };
        if broken.is_some() {
            let _ = self
                .body_state
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                    (s != ABANDONED).then_some(BROKEN)
                });
        }

        let flushed = Self::ignore_client_closing_errors(writer.flush());
        if close || broken.is_some() {
            // Lingering close: end our side, drain what the client still sends (bounded),
            // then close, so the client reads the response before any reset.
            if let Some(socket) = &self.closer {
                let _ = socket.shutdown(std::net::Shutdown::Write);
                let _ = socket.set_read_timeout(Some(std::time::Duration::from_secs(1)));
            }
            drop(self.data_reader.take());
            if let Some(socket) = &self.closer {
                let _ = socket.shutdown(std::net::Shutdown::Both);
            }
        }
        match broken {
            Some(e) => Err(e),
            None => flushed,
        }
    }

    fn ignore_client_closing_errors(result: io::Result<()>) -> io::Result<()> {
        result.or_else(|err| match err.kind() {
            ErrorKind::BrokenPipe => Ok(()),
            ErrorKind::ConnectionAborted => Ok(()),
            ErrorKind::ConnectionRefused => Ok(()),
            ErrorKind::ConnectionReset => Ok(()),
            _ => Err(err),
        })
    }

    pub(crate) fn with_server_name(mut self, name: &'static str) -> Self {
        self.server_name = name;
        self
    }

    pub(crate) fn with_notify_sender(mut self, sender: Sender<()>) -> Self {
        self.notify_when_responded = Some(sender);
        self
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> Result<(), fmt::Error> {
        write!(
            formatter,
            "Request({} {} from {:?})",
            self.method, self.path, self.remote_addr
        )
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if self.response_writer.is_some() {
            let response = Response::empty(500);
            let _ = self.respond_impl(response); // ignoring any potential error
            if let Some(sender) = self.notify_when_responded.take() {
                sender.send(()).unwrap();
            }
        }
    }
}

/// Dummy trait that regroups the `Read` and `Write` traits.
///
/// Automatically implemented on all types that implement both `Read` and `Write`.
pub trait ReadWrite: Read + Write {}
impl<T> ReadWrite for T where T: Read + Write {}

#[cfg(test)]
mod tests {
    use super::Request;

    #[test]
    fn must_be_send() {
        #![allow(dead_code)]
        fn f<T: Send>(_: &T) {}
        fn bar(rq: &Request) {
            f(rq);
        }
    }
}
