use crate::common::{HTTPVersion, Header, StatusCode};
use httpdate::HttpDate;
use std::cmp::Ordering;
use std::sync::mpsc::Receiver;

use std::io::Result as IoResult;
use std::io::{self, Cursor, Read, Write};

use std::fs::File;

use std::str::FromStr;
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Object representing an HTTP response whose purpose is to be given to a `Request`.
///
/// Some headers cannot be changed. Trying to define the value
/// of one of these will have no effect:
///
///  - `Connection`
///  - `Trailer`
///  - `Transfer-Encoding`
///  - `Upgrade`
///
/// Some headers have special behaviors:
///
///  - `Content-Encoding`: If you define this header, the library
///     will assume that the data from the `Read` object has the specified encoding
///     and will just pass-through.
///
///  - `Content-Length`: The length of the data should be set manually
///     using the `Reponse` object's API. Attempting to set the value of this
///     header will be equivalent to modifying the size of the data but the header
///     itself may not be present in the final result.
///
///  - `Content-Type`: You may only set this header to one value at a time. If you
///     try to set it more than once, the existing value will be overwritten. This
///     behavior differs from the default for most headers, which is to allow them to
///     be set multiple times in the same response.
///
pub struct Response<R> {
    reader: R,
    status_code: StatusCode,
    headers: Vec<Header>,
    /// See `with_raw_headers`.
    raw_headers: Vec<u8>,
    data_length: Option<usize>,
    chunked_threshold: Option<usize>,
    /// See `DEFAULT_SERVER`.
    default_server: &'static str,
}

/// A `Response` without a template parameter.
pub type ResponseBox = Response<Box<dyn Read + Send>>;

/// Transfer encoding to use when sending the message.
/// Note that only *supported* encoding are listed here.
#[derive(Copy, Clone)]
enum TransferEncoding {
    Identity,
    Chunked,
}

impl FromStr for TransferEncoding {
    type Err = ();

    fn from_str(input: &str) -> Result<TransferEncoding, ()> {
        if input.eq_ignore_ascii_case("identity") {
            Ok(TransferEncoding::Identity)
        } else if input.eq_ignore_ascii_case("chunked") {
            Ok(TransferEncoding::Chunked)
        } else {
            Err(())
        }
    }
}

/// How the body is framed, as the head says.
#[derive(Clone, Copy)]
enum Framing {
    Chunked,
    Length(usize),
    Unframed,
}

/// The `Server` header of responses that do not set one, unless the server is
/// configured with another name (`Limits::server_name`).
pub(crate) const DEFAULT_SERVER: &str = "tiny-http (Rust)";

/// The headers a response gets unless it has its own.
struct Defaults {
    server: Option<&'static str>,
    date: bool,
}

/// Whether a block of `Name: value\r\n` lines, as `Response::with_raw_headers` takes,
/// has a header of that name.
pub fn raw_headers_contain(block: &[u8], name: &str) -> bool {
    block.split(|&b| b == b'\n').any(|line| {
        line.len() > name.len()
            && line[name.len()] == b':'
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
    })
}

/// `n` in decimal, in the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// The `Date` line, formatted once a second per thread rather than for each response.
fn write_date<W: Write>(writer: &mut W) -> IoResult<()> {
    thread_local! {
        static LAST: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != second {
            *last = (second, HttpDate::from(now).to_string());
        }
        writer.write_all(b"Date: ")?;
        writer.write_all(last.1.as_bytes())?;
        writer.write_all(b"\r\n")
    })
}

/// Why a response could not be written out.
pub(crate) enum PrintError {
    /// Writing to the client failed.
    Write(io::Error),
    /// The body's reader failed part-way: what went out is incomplete, and only ending
    /// the connection tells the client so.
    Body(io::Error),
}

impl From<io::Error> for PrintError {
    fn from(e: io::Error) -> PrintError {
        PrintError::Write(e)
    }
}

impl PrintError {
    pub(crate) fn into_inner(self) -> io::Error {
        match self {
            PrintError::Write(e) | PrintError::Body(e) => e,
        }
    }
}

/// `n` in hexadecimal, in the end of `buf`.
fn hexadecimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789ABCDEF"[n % 16];
        n /= 16;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Copies the body as framed, through a buffer kept per thread: std's copy zeroes its
/// 8 KiB stack buffer for every body read through `dyn Read`, which has no `read_buf`.
///
/// A failing reader is `PrintError::Body`, and nothing more is written: upstream's
/// chunk encoder wrote the last chunk as it was dropped, so a body cut off by its
/// source (a backend gone mid-response) reached the client as complete. A body shorter
/// than its `Content-Length` fails the same way; one longer is cut at that length.
fn copy_body<R: Read + ?Sized, W: Write>(
    reader: &mut R,
    writer: &mut W,
    framing: Framing,
) -> Result<(), PrintError> {
    thread_local! {
        static BUFFER: RefCell<Box<[u8]>> = RefCell::new(vec![0; 8192].into_boxed_slice());
    }
    BUFFER.with(|buffer| {
        // A body whose reader writes a response itself finds the buffer taken.
        let mut own;
        let mut kept = buffer.try_borrow_mut();
        let buf: &mut [u8] = match &mut kept {
            Ok(kept) => kept,
            Err(_) => {
                own = vec![0; 8192];
                &mut own
            }
        };
        let mut left = match framing {
            Framing::Length(n) => n,
            _ => usize::MAX,
        };
        let mut digits = [0u8; 20];
        while left > 0 {
            let want = buf.len().min(left);
            let n = match reader.read(&mut buf[..want]) {
                Ok(0) if matches!(framing, Framing::Length(_)) => {
                    let short = "the body ended before its Content-Length";
                    return Err(PrintError::Body(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        short,
                    )));
                }
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(PrintError::Body(e)),
            };
            if let Framing::Chunked = framing {
                writer.write_all(hexadecimal(n, &mut digits))?;
                writer.write_all(b"\r\n")?;
                writer.write_all(&buf[..n])?;
                writer.write_all(b"\r\n")?;
            } else {
                writer.write_all(&buf[..n])?;
            }
            left -= n;
        }
        if let Framing::Chunked = framing {
            writer.write_all(b"0\r\n\r\n")?;
        }
        Ok(())
    })
}

fn write_message_header<W>(
    mut writer: W,
    http_version: &HTTPVersion,
    status_code: &StatusCode,
    headers: &[Header],
    defaults: Defaults,
    raw_headers: &[u8],
    framing: Framing,
) -> IoResult<()>
where
    W: Write,
{
    // writing status line, without the formatter: it runs for every response
    let mut digits = [0u8; 20];
    writer.write_all(b"HTTP/")?;
    writer.write_all(decimal(http_version.0.into(), &mut digits))?;
    writer.write_all(b".")?;
    writer.write_all(decimal(http_version.1.into(), &mut digits))?;
    writer.write_all(b" ")?;
    writer.write_all(decimal(status_code.0.into(), &mut digits))?;
    writer.write_all(b" ")?;
    writer.write_all(status_code.default_reason_phrase().as_bytes())?;
    writer.write_all(b"\r\n")?;
    if let Some(server) = defaults.server {
        writer.write_all(b"Server: ")?;
        writer.write_all(server.as_bytes())?;
        writer.write_all(b"\r\n")?;
    }
    if defaults.date {
        write_date(&mut writer)?;
    }

    // writing headers
    for header in headers.iter() {
        writer.write_all(header.field.as_str().as_ref())?;
        writer.write_all(b": ")?;
        writer.write_all(header.value.as_str().as_ref())?;
        writer.write_all(b"\r\n")?;
    }
    writer.write_all(raw_headers)?;
    match framing {
        Framing::Chunked => writer.write_all(b"Transfer-Encoding: chunked\r\n")?,
        Framing::Length(n) => {
            writer.write_all(b"Content-Length: ")?;
            writer.write_all(decimal(n as u64, &mut digits))?;
            writer.write_all(b"\r\n")?;
        }
        Framing::Unframed => {}
    }

    // separator between header and data
    writer.write_all(b"\r\n")?;

    Ok(())
}

fn choose_transfer_encoding(
    status_code: StatusCode,
    request_headers: &[Header],
    http_version: &HTTPVersion,
    entity_length: &Option<usize>,
    has_additional_headers: bool,
    chunked_threshold: usize,
) -> TransferEncoding {
    use crate::util;

    // HTTP 1.0 doesn't support other encoding
    if *http_version <= (1, 0) {
        return TransferEncoding::Identity;
    }

    // Per section 3.3.1 of RFC7230:
    // A server MUST NOT send a Transfer-Encoding header field in any response with a status code
    // of 1xx (Informational) or 204 (No Content).
    if status_code.0 < 200 || status_code.0 == 204 {
        return TransferEncoding::Identity;
    }

    // parsing the request's TE header
    let user_request = request_headers
        .iter()
        // finding TE
        .find(|h| h.field.equiv("TE"))
        // getting its value
        .map(|h| h.value.clone())
        // getting the corresponding TransferEncoding
        .and_then(|value| {
            // getting list of requested elements
            let mut parse = util::parse_header_value(value.as_str()); // TODO: remove conversion

            // sorting elements by most priority
            parse.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal));

            // trying to parse each requested encoding
            for value in parse.iter() {
                // q=0 are ignored
                if value.1 <= 0.0 {
                    continue;
                }

                if let Ok(te) = TransferEncoding::from_str(value.0) {
                    return Some(te);
                }
            }

            // encoding not found
            None
        });

    if let Some(user_request) = user_request {
        return user_request;
    }

    // if we have additional headers, using chunked
    if has_additional_headers {
        return TransferEncoding::Chunked;
    }

    // if we don't have a Content-Length, or if the Content-Length is too big, using chunks writer
    if entity_length
        .as_ref()
        .map_or(true, |val| *val >= chunked_threshold)
    {
        return TransferEncoding::Chunked;
    }

    // Identity by default
    TransferEncoding::Identity
}

impl<R> Response<R>
where
    R: Read,
{
    /// Creates a new Response object.
    ///
    /// The `additional_headers` argument is a receiver that
    ///  may provide headers even after the response has been sent.
    ///
    /// All the other arguments are straight-forward.
    pub fn new(
        status_code: StatusCode,
        headers: Vec<Header>,
        data: R,
        data_length: Option<usize>,
        additional_headers: Option<Receiver<Header>>,
    ) -> Response<R> {
        let mut response = Response {
            reader: data,
            status_code,
            headers: Vec::with_capacity(headers.len()),
            raw_headers: Vec::new(),
            data_length,
            chunked_threshold: None,
            default_server: DEFAULT_SERVER,
        };

        for h in headers {
            response.add_header(h)
        }

        // dummy implementation
        if let Some(additional_headers) = additional_headers {
            for h in additional_headers.iter() {
                response.add_header(h)
            }
        }

        response
    }

    /// Set a threshold for `Content-Length` where we chose chunked
    /// transfer. Notice that chunked transfer might happen regardless of
    /// this threshold, for instance when the request headers indicate
    /// it is wanted or when there is no `Content-Length`.
    pub fn with_chunked_threshold(mut self, length: usize) -> Response<R> {
        self.chunked_threshold = Some(length);
        self
    }

    /// Convert the response into the underlying `Read` type.
    ///
    /// This is mainly useful for testing as it must consume the `Response`.
    pub fn into_reader(self) -> R {
        self.reader
    }

    /// The current `Content-Length` threshold for switching over to
    /// chunked transfer. The default is 32768 bytes. Notice that
    /// chunked transfer is mutually exclusive with sending a
    /// `Content-Length` header as per the HTTP spec.
    pub fn chunked_threshold(&self) -> usize {
        self.chunked_threshold.unwrap_or(32768)
    }

    /// Adds a header to the list.
    /// Does all the checks.
    pub fn add_header<H>(&mut self, header: H)
    where
        H: Into<Header>,
    {
        let header = header.into();

        // ignoring forbidden headers
        if header.field.equiv("Connection")
            || header.field.equiv("Trailer")
            || header.field.equiv("Transfer-Encoding")
            || header.field.equiv("Upgrade")
        {
            return;
        }

        // if the header is Content-Length, setting the data length
        if header.field.equiv("Content-Length") {
            if let Ok(val) = usize::from_str(header.value.as_str()) {
                self.data_length = Some(val)
            }

            return;
        // if the header is Content-Type and it's already set, overwrite it
        } else if header.field.equiv("Content-Type") {
            if let Some(content_type_header) = self
                .headers
                .iter_mut()
                .find(|h| h.field.equiv("Content-Type"))
            {
                content_type_header.value = header.value;
                return;
            }
        }

        self.headers.push(header);
    }

    /// Returns the same request, but with an additional header.
    ///
    /// Some headers cannot be modified and some other have a
    ///  special behavior. See the documentation above.
    #[inline]
    pub fn with_header<H>(mut self, header: H) -> Response<R>
    where
        H: Into<Header>,
    {
        self.add_header(header.into());
        self
    }

    /// Returns the same response, with header lines the caller has written out, each
    /// `Name: value\r\n`, sent after the typed headers: one buffer instead of two
    /// strings per header. The caller vouches for them: no CR or LF inside a line, and
    /// none of the headers the response sets itself (`Connection`, `Content-Length`,
    /// `Trailer`, `Transfer-Encoding`, `Upgrade`). A `Date` or `Server` line here keeps
    /// the default one out.
    pub fn with_raw_headers(mut self, block: Vec<u8>) -> Response<R> {
        self.raw_headers = block;
        self
    }

    /// Returns the same request, but with a different status code.
    #[inline]
    pub fn with_status_code<S>(mut self, code: S) -> Response<R>
    where
        S: Into<StatusCode>,
    {
        self.status_code = code.into();
        self
    }

    /// Returns the same request, but with different data.
    pub fn with_data<S>(self, reader: S, data_length: Option<usize>) -> Response<S>
    where
        S: Read,
    {
        Response {
            reader,
            headers: self.headers,
            raw_headers: self.raw_headers,
            status_code: self.status_code,
            data_length,
            chunked_threshold: self.chunked_threshold,
            default_server: self.default_server,
        }
    }

    /// Prints the HTTP response to a writer.
    ///
    /// This function is the one used to send the response to the client's socket.
    /// Therefore you shouldn't expect anything pretty-printed or even readable.
    ///
    /// The HTTP version and headers passed as arguments are used to
    ///  decide which features (most notably, encoding) to use.
    ///
    /// Note: does not flush the writer.
    pub fn raw_print<W: Write>(
        self,
        writer: W,
        http_version: HTTPVersion,
        request_headers: &[Header],
        do_not_send_body: bool,
        upgrade: Option<&str>,
    ) -> IoResult<()> {
        self.print(writer, http_version, request_headers, do_not_send_body, upgrade)
            .map_err(PrintError::into_inner)
    }

    /// `raw_print`, telling a failed body from a failed write.
    pub(crate) fn print<W: Write>(
        mut self,
        mut writer: W,
        http_version: HTTPVersion,
        request_headers: &[Header],
        do_not_send_body: bool,
        upgrade: Option<&str>,
    ) -> Result<(), PrintError> {
        let mut transfer_encoding = Some(choose_transfer_encoding(
            self.status_code,
            request_headers,
            &http_version,
            &self.data_length,
            false, /* TODO */
            self.chunked_threshold(),
        ));

        // `Server` and `Date` when not given, written straight out rather than made
        // into headers first.
        let defaults = Defaults {
            server: (!self.headers.iter().any(|h| h.field.equiv("Server"))
                && !raw_headers_contain(&self.raw_headers, "Server"))
            .then_some(self.default_server),
            date: !self.headers.iter().any(|h| h.field.equiv("Date"))
                && !raw_headers_contain(&self.raw_headers, "Date"),
        };

        // handling upgrade
        if let Some(upgrade) = upgrade {
            self.headers.insert(
                0,
                Header::from_bytes(&b"Upgrade"[..], upgrade.as_bytes()).unwrap(),
            );
            self.headers.insert(
                0,
                Header::from_bytes(&b"Connection"[..], &b"upgrade"[..]).unwrap(),
            );
            transfer_encoding = None;
        }

        // Upstream buffered a body of unknown length whole for HTTP/1.0 clients, without a
        // bound. It is streamed instead and ends when the connection closes, which it does
        // because HTTP/1.0 connections are not kept alive (see client.rs).
        let (mut reader, data_length): (Box<dyn Read>, _) = (Box::new(self.reader), self.data_length);

        // checking whether to ignore the body of the response
        let do_not_send_body = do_not_send_body
            || match self.status_code.0 {
                // status code 1xx, 204 and 304 MUST not include a body
                100..=199 | 204 | 304 => true,
                _ => false,
            };

        // preparing headers for transfer; RFC 9110 §8.6: no Content-Length in a 1xx or
        // 204 response
        let framing = match (transfer_encoding, data_length) {
            _ if self.status_code.0 < 200 || self.status_code.0 == 204 => Framing::Unframed,
            (Some(TransferEncoding::Chunked), _) => Framing::Chunked,
            (Some(TransferEncoding::Identity), Some(n)) => Framing::Length(n),
            _ => Framing::Unframed,
        };

        // sending headers
        write_message_header(
            writer.by_ref(),
            &http_version,
            &self.status_code,
            &self.headers,
            defaults,
            &self.raw_headers,
            framing,
        )?;

        // sending the body
        if !do_not_send_body && transfer_encoding.is_some() {
            copy_body(&mut reader, &mut writer, framing)?;
        }

        Ok(())
    }

    /// The `Server` header to send when the response has none of its own.
    pub(crate) fn set_default_server(&mut self, name: &'static str) {
        self.default_server = name;
    }

    /// Adds `Connection: close`, which `add_header` refuses, for a connection that the
    /// server closes after this response.
    pub(crate) fn force_connection_close(&mut self) {
        self.headers
            .push(Header::from_bytes(&b"Connection"[..], &b"close"[..]).unwrap());
    }

    /// Retrieves the current value of the `Response` status code
    pub fn status_code(&self) -> StatusCode {
        self.status_code
    }

    /// Retrieves the current value of the `Response` data length
    pub fn data_length(&self) -> Option<usize> {
        self.data_length
    }

    /// Retrieves the current list of `Response` headers
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }
}

impl<R> Response<R>
where
    R: Read + Send + 'static,
{
    /// Turns this response into a `Response<Box<Read + Send>>`.
    pub fn boxed(self) -> ResponseBox {
        Response {
            reader: Box::new(self.reader) as Box<dyn Read + Send>,
            status_code: self.status_code,
            headers: self.headers,
            raw_headers: self.raw_headers,
            data_length: self.data_length,
            chunked_threshold: self.chunked_threshold,
            default_server: self.default_server,
        }
    }
}

impl Response<File> {
    /// Builds a new `Response` from a `File`.
    ///
    /// The `Content-Type` will **not** be automatically detected,
    ///  you must set it yourself.
    pub fn from_file(file: File) -> Response<File> {
        let file_size = file.metadata().ok().map(|v| v.len() as usize);

        Response::new(
            StatusCode(200),
            Vec::with_capacity(0),
            file,
            file_size,
            None,
        )
    }
}

impl Response<Cursor<Vec<u8>>> {
    pub fn from_data<D>(data: D) -> Response<Cursor<Vec<u8>>>
    where
        D: Into<Vec<u8>>,
    {
        let data = data.into();
        let data_len = data.len();

        Response::new(
            StatusCode(200),
            Vec::with_capacity(0),
            Cursor::new(data),
            Some(data_len),
            None,
        )
    }

    pub fn from_string<S>(data: S) -> Response<Cursor<Vec<u8>>>
    where
        S: Into<String>,
    {
        let data = data.into();
        let data_len = data.len();

        Response::new(
            StatusCode(200),
            vec![
                Header::from_bytes(&b"Content-Type"[..], &b"text/plain; charset=UTF-8"[..])
                    .unwrap(),
            ],
            Cursor::new(data.into_bytes()),
            Some(data_len),
            None,
        )
    }
}

impl Response<io::Empty> {
    /// Builds an empty `Response` with the given status code.
    pub fn empty<S>(status_code: S) -> Response<io::Empty>
    where
        S: Into<StatusCode>,
    {
        Response::new(
            status_code.into(),
            Vec::with_capacity(0),
            io::empty(),
            Some(0),
            None,
        )
    }

    /// DEPRECATED. Use `empty` instead.
    pub fn new_empty(status_code: StatusCode) -> Response<io::Empty> {
        Response::empty(status_code)
    }
}

impl Clone for Response<io::Empty> {
    fn clone(&self) -> Response<io::Empty> {
        Response {
            reader: io::empty(),
            status_code: self.status_code,
            headers: self.headers.clone(),
            raw_headers: self.raw_headers.clone(),
            data_length: self.data_length,
            chunked_threshold: self.chunked_threshold,
            default_server: self.default_server,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed<R: Read>(r: Response<R>) -> String {
        let mut out = Vec::new();
        r.raw_print(&mut out, HTTPVersion(1, 1), &[], false, None)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn no_length_on_a_204() {
        let head = printed(Response::empty(204)).to_ascii_lowercase();
        assert!(!head.contains("content-length"), "{}", head);
        assert!(!head.contains("transfer-encoding"), "{}", head);
        assert!(printed(Response::empty(200)).contains("Content-Length: 0"));
    }
}
