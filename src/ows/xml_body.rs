//! An OWS request body in XML, checked as it streams to the backend.
//!
//! The access decision needs only the root element, so that is read first and the rest
//! is forwarded as it arrives instead of being buffered. Every byte still passes a
//! parser on its way: a DTD, an undefined entity, nesting deeper than `MAX_DEPTH`,
//! malformed XML or a body over the size limit stops the upload, and the handler then
//! answers 400 (413) instead of the backend's answer to a cut-off request.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, BufReader, Read};
use std::rc::Rc;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::exception::clip;

/// Deeper documents are refused; OWS requests nest a dozen levels at most.
pub const MAX_DEPTH: usize = 64;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Larger than the body limit (413).
    TooLarge,
    /// Not acceptable XML (400); the text says why.
    Invalid(String),
    /// The client's connection failed while sending.
    Io(String),
}

/// The request element: its local name and attributes, namespaces dropped (and
/// namespace declarations left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub name: String,
    pub attributes: Vec<(String, String)>,
}

/// Keeps a copy of every byte read, so the raw body can be forwarded as parsed.
struct Tap<R> {
    inner: R,
    seen: Rc<RefCell<VecDeque<u8>>>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.borrow_mut().extend(&buf[..n]);
        Ok(n)
    }
}

pub struct XmlBody<R: Read> {
    parser: quick_xml::Reader<BufReader<Tap<R>>>,
    /// Bytes read from the client and not yet handed on.
    seen: Rc<RefCell<VecDeque<u8>>>,
    /// How many bytes were handed on; only bytes the parser has passed are.
    handed: u64,
    scratch: Vec<u8>,
    depth: usize,
    root_seen: bool,
    root_closed: bool,
    ended: bool,
    fault: Option<Fault>,
}

impl<R: Read> XmlBody<R> {
    pub fn new(body: R) -> XmlBody<R> {
        let seen = Rc::new(RefCell::new(VecDeque::new()));
        let tap = Tap {
            inner: body,
            seen: seen.clone(),
        };
        let mut parser = quick_xml::Reader::from_reader(BufReader::with_capacity(16 * 1024, tap));
        let config = parser.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        XmlBody {
            parser,
            seen,
            handed: 0,
            scratch: Vec::new(),
            depth: 0,
            root_seen: false,
            root_closed: false,
            ended: false,
            fault: None,
        }
    }

    /// Why the body was refused, once reading it has failed.
    pub fn fault(&self) -> Option<&Fault> {
        self.fault.as_ref()
    }

    /// Reads up to the root element; its bytes stay queued for forwarding.
    pub fn root(&mut self) -> Result<Root, Fault> {
        loop {
            if let Some(f) = &self.fault {
                return Err(f.clone());
            }
            if self.ended {
                return Err(Fault::Invalid("the body holds no XML element".into()));
            }
            if let Some(root) = self.advance() {
                return Ok(root);
            }
        }
    }

    fn fail(&mut self, f: Fault) {
        if self.fault.is_none() {
            self.fault = Some(f);
        }
    }

    /// Parses one event, checking it; returns the root element when this was it.
    fn advance(&mut self) -> Option<Root> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let mut root = None;
        let event = self.parser.read_event_into(&mut scratch);
        match event {
            Ok(Event::Start(e)) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    self.fail(Fault::Invalid(format!(
                        "XML nested deeper than {MAX_DEPTH} elements"
                    )));
                } else if self.depth == 1 {
                    root = self.open_root(&e);
                }
            }
            Ok(Event::Empty(e)) => {
                if self.depth == 0 {
                    root = self.open_root(&e);
                    self.root_closed = true;
                }
            }
            Ok(Event::End(_)) => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    self.root_closed = true;
                }
            }
            // The parser reads UTF-8; a backend that honours another declared encoding
            // (libxml2 takes UTF-7) would read other elements than were checked here.
            // Single-byte encodings that keep ASCII as it is cannot hide markup.
            Ok(Event::Decl(d)) => match d.encoding() {
                None => {}
                Some(Ok(enc)) if keeps_ascii(&enc) => {}
                Some(Ok(enc)) => self.fail(Fault::Invalid(format!(
                    "the XML declares the encoding {}; send it as UTF-8",
                    enc.chars()
                        .filter(|c| !c.is_control())
                        .take(40)
                        .collect::<String>()
                ))),
                Some(Err(e)) => self.fail(Fault::Invalid(format!("bad XML declaration: {e}"))),
            },
            Ok(Event::DocType(_)) => {
                self.fail(Fault::Invalid(
                    "a DTD (<!DOCTYPE ...>) is not allowed in a request".into(),
                ));
            }
            Ok(Event::GeneralRef(r)) => {
                let name = r.xml10_content().into_owned();
                let predefined = matches!(name.as_str(), "lt" | "gt" | "amp" | "apos" | "quot");
                let bad_char = r.is_char_ref() && r.resolve_char_ref().is_err();
                if !r.is_char_ref() && !predefined {
                    self.fail(Fault::Invalid(format!(
                        "undefined entity &{};",
                        clip(&name)
                    )));
                } else if bad_char {
                    self.fail(Fault::Invalid("invalid character reference".into()));
                }
            }
            Ok(Event::Text(t)) => {
                if self.depth == 0 && !t.chars().all(|c| c.is_ascii_whitespace()) {
                    self.fail(Fault::Invalid("text outside the root element".into()));
                } else if has_control_char(t.as_bytes()) {
                    self.fail(Fault::Invalid(
                        "a control character XML does not allow".into(),
                    ));
                }
            }
            Ok(Event::CData(_)) if self.depth == 0 => {
                self.fail(Fault::Invalid("CDATA outside the root element".into()));
            }
            Ok(Event::CData(c)) if has_control_char(c.as_bytes()) => {
                self.fail(Fault::Invalid(
                    "a control character XML does not allow".into(),
                ));
            }
            Ok(Event::Eof) => {
                if self.root_seen && !self.root_closed {
                    self.fail(Fault::Invalid("the XML document is cut off".into()));
                }
                self.ended = true;
            }
            Ok(_) => {}
            Err(quick_xml::Error::Io(e)) => {
                if e.kind() == io::ErrorKind::FileTooLarge {
                    self.fail(Fault::TooLarge);
                } else {
                    self.fail(Fault::Io(e.to_string()));
                }
            }
            Err(e) => self.fail(Fault::Invalid(format!(
                "malformed XML: {}",
                clip(&e.to_string())
            ))),
        }
        self.scratch = scratch;
        root
    }

    fn open_root(&mut self, e: &BytesStart) -> Option<Root> {
        if self.root_seen {
            self.fail(Fault::Invalid("more than one root element".into()));
            return None;
        }
        self.root_seen = true;
        read_root(e).map_err(|f| self.fail(f)).ok()
    }
}

/// Whether a declared encoding reads ASCII bytes as ASCII and no byte as markup
/// otherwise: UTF-8, US-ASCII, ISO 8859 and Windows-1252.
fn keeps_ascii(encoding: &str) -> bool {
    let e = encoding.trim().to_ascii_lowercase();
    matches!(
        e.as_str(),
        "utf-8" | "utf8" | "us-ascii" | "ascii" | "latin1" | "latin-1" | "windows-1252" | "cp1252"
    ) || e
        .strip_prefix("iso-8859-")
        .and_then(|n| n.parse::<u8>().ok())
        .is_some_and(|n| (1..=16).contains(&n) && n != 12)
}

/// XML 1.0 allows no C0 control characters but tab, line feed and carriage return.
fn has_control_char(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
}

fn read_root(e: &BytesStart) -> Result<Root, Fault> {
    let name = e.local_name().as_ref().to_string();
    let mut attributes = Vec::new();
    for a in e.attributes().with_checks(true) {
        let a = a.map_err(|err| Fault::Invalid(format!("bad attribute: {err}")))?;
        // Namespace declarations bind prefixes; they are no parameters.
        if a.key.as_namespace_binding().is_some() {
            continue;
        }
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| Fault::Invalid(format!("bad attribute value: {err}")))?
            .into_owned();
        attributes.push((a.key.local_name().as_ref().to_string(), value));
    }
    Ok(Root { name, attributes })
}

impl<R: Read> Read for XmlBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(f) = &self.fault {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("request body refused: {f:?}"),
                ));
            }
            // Bytes go on only once the parser has passed them, and the last one only
            // once the end was checked: a refused document never reaches the backend
            // whole, even when the backend counts the bytes (Content-Length) and would
            // act on them before the upload is cut.
            let checked = if self.ended {
                u64::MAX
            } else {
                self.parser.buffer_position().saturating_sub(1)
            };
            let ready = (checked - self.handed).min(self.seen.borrow().len() as u64) as usize;
            // A buffer's worth goes on at once (one event can be 3 bytes, and a write
            // per event is a system call each), but what is ready is not held back
            // to wait on the client for more: parsing on could block on the client
            // when what is buffered cannot end the next event. That event ends at the
            // `>` of a tag, the `;` of a reference, or the `<` or `&` after text;
            // without it buffered, the next event may need the client. (A `>` inside
            // an attribute value or an unfinished comment or CDATA slips by; the
            // client then just waits as it would for any slow upload.)
            let buffered = self.parser.get_ref().buffer();
            let waits_on_client = match buffered.first() {
                None => true,
                Some(b'<') => memchr::memchr(b'>', buffered).is_none(),
                Some(b'&') => memchr::memchr(b';', buffered).is_none(),
                Some(_) => memchr::memchr2(b'<', b'&', buffered).is_none(),
            };
            if ready >= buf.len() || (ready > 0 && (self.ended || waits_on_client)) {
                let n = ready.min(buf.len());
                let mut seen = self.seen.borrow_mut();
                let (front, back) = seen.as_slices();
                let first = n.min(front.len());
                buf[..first].copy_from_slice(&front[..first]);
                buf[first..n].copy_from_slice(&back[..n - first]);
                seen.drain(..n);
                self.handed += n as u64;
                return Ok(n);
            }
            if self.ended {
                return Ok(0);
            }
            self.advance();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(xml: &str) -> Result<(Root, Vec<u8>), Fault> {
        let mut b = XmlBody::new(xml.as_bytes());
        let root = b.root()?;
        let mut out = Vec::new();
        match b.read_to_end(&mut out) {
            Ok(_) => Ok((root, out)),
            Err(_) => Err(b.fault().cloned().unwrap()),
        }
    }

    #[test]
    fn root_and_bytes_pass_through_unchanged() {
        let xml = r#"<?xml version="1.0"?>
<!-- c --><wps:Execute xmlns:wps="http://www.opengis.net/wps/1.0.0" service="WPS" wps:version="1.0.0"><a>x &amp; &#65;</a><b/></wps:Execute>
"#;
        let (root, out) = pass(xml).unwrap();
        assert_eq!(root.name, "Execute");
        assert_eq!(
            root.attributes,
            [
                ("service".to_string(), "WPS".to_string()),
                ("version".to_string(), "1.0.0".to_string()),
            ]
        );
        assert_eq!(out, xml.as_bytes());
    }

    /// Seeded random documents (well-formed or not: DTDs, entities, CDATA, deep
    /// nesting, cut short, stray bytes): the parser never panics, and a body it lets
    /// through reaches the backend byte for byte.
    #[test]
    fn random_bodies_pass_unchanged_or_are_refused() {
        let mut next = crate::test_support::seeded(0x2545_f491_4f6c_dd1d);
        let parts: &[&[u8]] = &[
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            b"<!DOCTYPE x [<!ENTITY e \"boom\">]>",
            b"<!-- c -->",
            b"<wps:Execute xmlns:wps=\"http://www.opengis.net/wps/1.0.0\" service=\"WPS\" version=\"1.0.0\">",
            b"</wps:Execute>",
            b"<GetCapabilities service='WMS'>",
            b"</GetCapabilities>",
            b"<a>",
            b"</a>",
            b"<b x=\"1\" x=\"2\"/>",
            b"&amp;",
            b"&e;",
            b"&#0;",
            b"&#x110000;",
            b"<![CDATA[<not/>]]>",
            b"text \xc3\xa9 \xe6\xb0\x97",
            b"\xff\xfe",
            b"\x00",
            b"<:/>",
            b"<a:b:c/>",
            b" ",
        ];
        let children: &[&[u8]] = &[
            b"<a>x</a>",
            b"<b y='1'/>",
            b"&amp;&#65;",
            b"<![CDATA[<not/>]]>",
            b"<!-- c -->",
            b"text \xc3\xa9",
            b"<ows:Identifier xmlns:ows=\"http://www.opengis.net/ows/1.1\">hello</ows:Identifier>",
        ];
        for _ in 0..3000 {
            let mut doc = Vec::new();
            if next(2) == 0 {
                // Well-formed: a declaration, an OWS root, children nested within limits.
                if next(2) == 0 {
                    doc.extend_from_slice(parts[0]);
                }
                doc.extend_from_slice(parts[3 + 2 * next(2)]);
                for _ in 0..next(10) {
                    let depth = next(20);
                    doc.extend(b"<d>".repeat(depth));
                    doc.extend_from_slice(children[next(children.len())]);
                    doc.extend(b"</d>".repeat(depth));
                }
                doc.extend_from_slice(if doc.windows(5).any(|w| w == b"<wps:") {
                    parts[4]
                } else {
                    parts[6]
                });
            } else {
                for _ in 0..next(12) {
                    if next(6) == 0 {
                        // Deep nesting, past the depth limit now and then.
                        let depth = next(300);
                        doc.extend(b"<d>".repeat(depth));
                        doc.extend(b"</d>".repeat(next(depth + 1)));
                    } else {
                        doc.extend_from_slice(parts[next(parts.len())]);
                    }
                }
            }
            if !doc.is_empty() && next(4) == 0 {
                doc.truncate(next(doc.len()));
            }
            let mut body = XmlBody::new(&doc[..]);
            let Ok(root) = body.root() else {
                continue;
            };
            let _ =
                crate::ows::request::from_xml(&root, crate::ows::request::Registered::of("wps"));
            let mut out = Vec::new();
            if body.read_to_end(&mut out).is_ok() {
                assert_eq!(out, doc, "{}", String::from_utf8_lossy(&doc));
            }
        }
    }

    #[test]
    fn refusals() {
        let deep = format!(
            "<a>{}{}</a>",
            "<b>".repeat(MAX_DEPTH),
            "</b>".repeat(MAX_DEPTH)
        );
        let cases = [
            r#"<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>"#.to_string(),
            "<x>&e;</x>".to_string(),
            "<x><y></x>".to_string(),
            "<x></x><y/>".to_string(),
            "<x>".to_string(),
            "not xml".to_string(),
            "".to_string(),
            "<x>a\u{0}b</x>".to_string(),
            "<x><![CDATA[\u{1}]]></x>".to_string(),
            deep,
        ];
        for c in &cases {
            let r = pass(c);
            assert!(matches!(r, Err(Fault::Invalid(_))), "{c:?} gave {r:?}");
        }
    }

    /// The backend counts bytes: had it got all of a cut-off document, it would act on
    /// it before the upload is stopped.
    #[test]
    fn a_cut_off_document_never_goes_on_whole() {
        let doc = r#"<wps:Execute xmlns:wps="x" service="WPS"><a>"#;
        let mut b = XmlBody::new(doc.as_bytes());
        assert_eq!(b.root().unwrap().name, "Execute");
        let mut handed = Vec::new();
        let mut buf = [0u8; 4096];
        let err = loop {
            match b.read(&mut buf) {
                Ok(0) => panic!("the cut-off document ended cleanly"),
                Ok(n) => handed.extend_from_slice(&buf[..n]),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(handed.len() < doc.len(), "{} bytes handed on", handed.len());
    }

    /// One write to the backend per parser event made a body of small elements
    /// take a system call every few bytes.
    #[test]
    fn small_events_go_on_a_buffer_at_a_time() {
        // Elements; escaped text, with no raw `>`; text with a raw `>`.
        for piece in ["<a/>", "&lt;a/&gt;", "a &gt; 5 &amp; b; <e>x > y</e>"] {
            let mut doc = String::from(r#"<Execute service="WPS" version="1.0.0"><d>"#);
            for _ in 0..30_000 {
                doc.push_str(piece);
            }
            doc.push_str("</d></Execute>");
            let mut b = XmlBody::new(doc.as_bytes());
            assert_eq!(b.root().unwrap().name, "Execute");
            let (mut out, mut reads) = (Vec::new(), 0);
            let mut buf = [0u8; 8192];
            loop {
                match b.read(&mut buf).unwrap() {
                    0 => break,
                    n => {
                        out.extend_from_slice(&buf[..n]);
                        reads += 1;
                    }
                }
            }
            assert_eq!(out, doc.as_bytes(), "{piece}");
            assert!(
                reads <= 2 * doc.len() / buf.len() + 2,
                "{piece}: {reads} reads"
            );
        }
    }

    /// A client that sends part of a document and then pauses: what the parser has
    /// checked goes on now, not once the client sends more.
    #[test]
    fn checked_bytes_are_not_held_back_while_the_client_pauses() {
        struct Pausing(&'static [u8], bool);
        impl Read for Pausing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                assert!(!self.1, "read the client again while bytes were ready");
                self.1 = true;
                buf[..self.0.len()].copy_from_slice(self.0);
                Ok(self.0.len())
            }
        }
        // The client stops inside a tag, a reference, and text.
        for part in [
            &br#"<Execute service="WPS" version="1.0.0"><a>hello world</a><b"#[..],
            br#"<Execute service="WPS" version="1.0.0"><a>x &lt; y &am"#,
            br#"<Execute service="WPS" version="1.0.0"><a>x &lt; y, and mo"#,
        ] {
            let mut b = XmlBody::new(Pausing(part, false));
            assert_eq!(b.root().unwrap().name, "Execute");
            let mut buf = [0u8; 8192];
            let n = b.read(&mut buf).unwrap();
            assert!(n > 0 && buf[..n].starts_with(b"<Execute"), "{n}");
        }
    }

    #[test]
    fn a_failing_reader_is_reported() {
        struct Big(usize);
        impl Read for Big {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::FileTooLarge, "limit"));
                }
                let head = b"<x>";
                let n = head.len().min(buf.len());
                buf[..n].copy_from_slice(&head[..n]);
                self.0 -= 1;
                Ok(n)
            }
        }
        let mut b = XmlBody::new(Big(1));
        assert_eq!(b.root().unwrap().name, "x");
        let mut out = Vec::new();
        assert!(b.read_to_end(&mut out).is_err());
        assert_eq!(b.fault(), Some(&Fault::TooLarge));
    }
}
