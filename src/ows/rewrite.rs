//! Backend URLs in XML responses, rewritten to the proxy's public URL, so that clients
//! follow capabilities hrefs, WMS OnlineResource, WPS `statusLocation`,
//! `serviceInstance` and output references through the proxy and never around it. JSON
//! and HTML too: the OGC API a backend such as MapServer serves beside its OWS links
//! its pages in them, and a client that followed such a link (GDAL's OAPIF driver
//! does) would take its token straight to the backend.
//!
//! The document is edited as bytes, not re-serialised: the XML declaration, comments,
//! namespace prefixes and formatting stay as the backend wrote them.

use std::io::{self, Read};
use std::sync::LazyLock;

use memchr::memmem::Finder;

use super::exception::escape;

/// What may not follow a matched URL: more of its last path segment, so `…/wps` does
/// not match inside `…/wpsx`.
fn continues_segment(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%".contains(&b)
}

/// A media type without its parameters, in lower case: `text/xml` for
/// `Text/XML; charset=UTF-8`.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Media types whose bodies are XML: `text/xml`, `application/xml`, `*/*+xml` and the
/// OGC `application/vnd.ogc.*_xml` types, with or without parameters.
pub fn is_xml(content_type: &str) -> bool {
    xml_essence(&essence(content_type))
}

fn xml_essence(essence: &str) -> bool {
    essence.contains('/')
        && (essence.ends_with("/xml") || essence.ends_with("+xml") || essence.ends_with("_xml"))
}

/// A backend's base URL and the public URL that stands for it: the service being
/// proxied, and also every other registered one, so that a WPS whose status documents
/// live beside its endpoint (PyWPS's default `/outputs`) points clients at the service
/// registered for them rather than around the proxy.
#[derive(Clone)]
pub struct Base {
    from: String,
    /// Where `://` is in `from`: every match is found from one of those in the text.
    scheme_len: usize,
    to: String,
    to_xml: String,
    to_json: String,
    /// `from` as JSON encoders that escape slashes write it (PHP's `json_encode` by
    /// default: `http:\/\/host\/wps`), and `to_json` written the same way.
    from_json_slashed: String,
    to_json_slashed: String,
}

impl Base {
    /// None for a base that is not an absolute URL; both are taken without a trailing
    /// slash, and `from` without user info, which a backend does not write into the
    /// URLs of its documents.
    pub fn new(from: &str, to: &str) -> Option<Base> {
        let from = from.trim_end_matches('/');
        let scheme_len = from.find("://")?;
        let authority_at = scheme_len + 3;
        let authority_len = from[authority_at..]
            .find('/')
            .unwrap_or(from.len() - authority_at);
        let from = match from[authority_at..authority_at + authority_len].rfind('@') {
            Some(at) => format!(
                "{}{}",
                &from[..authority_at],
                &from[authority_at + at + 1..]
            ),
            None => from.to_string(),
        };
        let to = to.trim_end_matches('/');
        let to_json = json_escape(to);
        Some(Base {
            from_json_slashed: from.replace('/', "\\/"),
            to_json_slashed: to_json.replace('/', "\\/"),
            from,
            scheme_len,
            to: to.to_string(),
            to_xml: escape(to),
            to_json,
        })
    }
}

/// How the replacement is written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Form {
    /// In an XML or HTML document: the public URL escaped as markup.
    Xml,
    /// In a JSON document: escaped as inside a JSON string.
    Json,
    /// In a header value: as it is.
    Plain,
}

/// How the URLs in a body of this media type are rewritten, if they are: XML (as
/// `is_xml`), HTML, and JSON (`application/json` and any `+json` type, such as
/// GeoJSON's and OpenAPI's).
pub fn body_form(content_type: &str) -> Option<Form> {
    let essence = essence(content_type);
    if xml_essence(&essence) || essence == "text/html" {
        Some(Form::Xml)
    } else if essence == "application/json" || (essence.contains('/') && essence.ends_with("+json"))
    {
        Some(Form::Json)
    } else {
        None
    }
}

/// `s` as it may stand inside a JSON string: serde_json's quoting, without the quotes.
fn json_escape(s: &str) -> String {
    let quoted = serde_json::Value::from(s).to_string();
    let inner = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"'));
    inner.unwrap_or(&quoted).to_string()
}

/// `text` with the backend URLs of `bases` replaced by their public URLs; the longest
/// match wins, and of equal ones the first in `bases`. None when nothing matched.
pub fn rewrite(text: &[u8], bases: &[&Base], form: Form) -> Option<Vec<u8>> {
    let mut out = None;
    let copied = rewrite_before(text, text.len(), bases, form, &mut out);
    let mut o = out?;
    o.extend_from_slice(&text[copied..]);
    Some(o)
}

/// Rewrites the matches that start before `upto`, each of which must lie whole in
/// `text` with the byte after it: writes the text before each match and its
/// replacement to `out` (made at the first match). Returns the end of the last match,
/// or 0: how far `text` went to `out`.
fn rewrite_before(
    text: &[u8],
    upto: usize,
    bases: &[&Base],
    form: Form,
    out: &mut Option<Vec<u8>>,
) -> usize {
    /// Built once: `find_iter` would build a searcher for every document.
    static SEPARATOR: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"://"));
    static SLASHED: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(br":\/\/"));
    let plain = SEPARATOR.find_iter(text).map(|at| (at, false));
    if form == Form::Json {
        // Escaped slashes are looked for in JSON only. The two kinds never start at
        // one place: in order, by merging.
        let slashed = SLASHED.find_iter(text).map(|at| (at, true));
        let separators = Merged(plain.peekable(), slashed.peekable());
        rewrite_at(text, separators, upto, bases, form, out)
    } else {
        rewrite_at(text, plain, upto, bases, form, out)
    }
}

/// `rewrite_before` at each `(position, slashed)` separator found in `text`.
fn rewrite_at(
    text: &[u8],
    separators: impl Iterator<Item = (usize, bool)>,
    upto: usize,
    bases: &[&Base],
    form: Form,
    out: &mut Option<Vec<u8>>,
) -> usize {
    let mut copied = 0;
    for (sep, slashed) in separators {
        let from = |b: &Base| {
            if slashed {
                b.from_json_slashed.len()
            } else {
                b.from.len()
            }
        };
        let mut best: Option<(usize, &Base)> = None;
        for &base in bases {
            let Some(start) = sep.checked_sub(base.scheme_len) else {
                continue;
            };
            let pattern = if slashed {
                &base.from_json_slashed
            } else {
                &base.from
            };
            let end = start + pattern.len();
            let longer = best.is_none_or(|(_, b)| from(base) > from(b));
            if longer
                && start >= copied
                && start < upto
                && text[start..].starts_with(pattern.as_bytes())
                && !text.get(end).is_some_and(|b| continues_segment(*b))
            {
                best = Some((start, base));
            }
        }
        let Some((start, base)) = best else {
            continue;
        };
        let o = out.get_or_insert_with(|| Vec::with_capacity(text.len() + 256));
        o.extend_from_slice(&text[copied..start]);
        o.extend_from_slice(match form {
            Form::Xml => base.to_xml.as_bytes(),
            Form::Json if slashed => base.to_json_slashed.as_bytes(),
            Form::Json => base.to_json.as_bytes(),
            Form::Plain => base.to.as_bytes(),
        });
        copied = start + from(base);
    }
    copied
}

/// Two ascending iterators of positions as one.
struct Merged<A: Iterator, B: Iterator>(std::iter::Peekable<A>, std::iter::Peekable<B>);

impl<A, B> Iterator for Merged<A, B>
where
    A: Iterator<Item = (usize, bool)>,
    B: Iterator<Item = (usize, bool)>,
{
    type Item = (usize, bool);

    fn next(&mut self) -> Option<(usize, bool)> {
        match (self.0.peek(), self.1.peek()) {
            (Some(a), Some(b)) if b.0 < a.0 => self.1.next(),
            (Some(_), _) => self.0.next(),
            (None, _) => self.1.next(),
        }
    }
}

/// Bytes read from the backend at a time by `Rewriting`.
const CHUNK: usize = 64 * 1024;

/// A body over the size cap, rewritten as it streams, in bounded memory: whatever could
/// still be the start of a backend URL is held back until the bytes after it arrive.
pub struct Rewriting<R> {
    inner: R,
    bases: Vec<Base>,
    form: Form,
    /// Held back at the end of what has arrived: the longest URL and the byte after it.
    keep: usize,
    /// Each read from `inner` lands here first: zeroed once, not for every read.
    chunk: Vec<u8>,
    pending: Vec<u8>,
    ready: Vec<u8>,
    at: usize,
    ended: bool,
}

impl<R: Read> Rewriting<R> {
    /// `head`: what was already read from `inner`.
    pub fn new(inner: R, bases: Vec<Base>, form: Form, head: Vec<u8>) -> Rewriting<R> {
        let keep = bases
            .iter()
            .map(|b| b.from_json_slashed.len())
            .max()
            .unwrap_or(0)
            + 1;
        Rewriting {
            inner,
            bases,
            form,
            keep,
            chunk: vec![0; CHUNK],
            pending: head,
            ready: Vec::new(),
            at: 0,
            ended: false,
        }
    }

    /// Reads a chunk, and makes ready what can be decided of what has arrived.
    fn fill(&mut self) -> io::Result<()> {
        let n = loop {
            match self.inner.read(&mut self.chunk) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        self.pending.extend_from_slice(&self.chunk[..n]);
        self.ended = n == 0;
        let upto = if self.ended {
            self.pending.len()
        } else {
            self.pending.len().saturating_sub(self.keep)
        };
        let bases: Vec<&Base> = self.bases.iter().collect();
        let mut out = Some(std::mem::take(&mut self.ready));
        let copied = rewrite_before(&self.pending, upto, &bases, self.form, &mut out);
        let mut ready = out.unwrap_or_default();
        let done = copied.max(upto);
        ready.extend_from_slice(&self.pending[copied..done]);
        self.pending.drain(..done);
        self.ready = ready;
        self.at = 0;
        Ok(())
    }
}

impl<R: Read> Read for Rewriting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.ready.len() {
            if self.ended {
                return Ok(0);
            }
            self.ready.clear();
            self.fill()?;
        }
        let n = buf.len().min(self.ready.len() - self.at);
        buf[..n].copy_from_slice(&self.ready[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_forms_by_media_type() {
        for (t, form) in [
            ("text/xml; charset=utf-8", Some(Form::Xml)),
            ("application/vnd.ogc.wms_xml", Some(Form::Xml)),
            ("Text/HTML; charset=UTF-8", Some(Form::Xml)),
            ("application/json", Some(Form::Json)),
            ("application/geo+json", Some(Form::Json)),
            (
                "application/vnd.oai.openapi+json;version=3.0",
                Some(Form::Json),
            ),
            ("application/jsonx", None),
            ("+json", None),
            ("image/png", None),
            ("text/plain", None),
            ("", None),
        ] {
            assert_eq!(body_form(t), form, "{t}");
        }
    }

    /// Hands out its text a few bytes at a time, so URLs fall across every boundary.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.1 = self.1 % 7 + 1;
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// `doc` through `Rewriting`, its first `head` bytes already read and the rest
    /// trickled.
    fn streamed(doc: &[u8], head: usize, bases: &[&Base], form: Form) -> Vec<u8> {
        let (read, rest) = doc.split_at(head);
        let owned = bases.iter().map(|b| (*b).clone()).collect();
        let mut out = Vec::new();
        Rewriting::new(Trickle(rest, 0), owned, form, read.to_vec())
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn a_stream_is_rewritten_as_a_whole_document_is() {
        let short = Base::new("http://b:5000/wps", "http://p/ows/proxy/emu").unwrap();
        let long = Base::new("http://b:5000/wps/outputs", "http://p/ows/proxy/out").unwrap();
        let mut doc = String::new();
        for i in 0..300 {
            doc.push_str(&format!(
                "<a href=\"http://b:5000/wps?i={i}\"/><b>http://b:5000/wps/outputs/{i}</b>\
                 <c>http://b:5000/wpsx</c>{}",
                "x".repeat(i % 13)
            ));
        }
        let bases = [&short, &long];
        let whole = rewrite(doc.as_bytes(), &bases, Form::Xml).unwrap();
        for head in [0, 1, 30, 4000] {
            let streamed = streamed(doc.as_bytes(), head, &bases, Form::Xml);
            assert!(streamed == whole, "head {head}");
        }
        let text = String::from_utf8(whole).unwrap();
        assert_eq!(text.matches("http://p/ows/proxy/emu?i=").count(), 300);
        assert_eq!(text.matches("http://p/ows/proxy/out/").count(), 300);
        assert_eq!(text.matches("http://b:5000/wpsx").count(), 300);
    }

    #[test]
    fn json_replacements_stay_inside_their_string() {
        let base = Base::new("http://b:5000/wps", "http://p/ows/proxy/x?a=\"b\\c").unwrap();
        let doc = br#"{"href": "http://b:5000/wps/collections?f=json&limit=10"}"#;
        let out = rewrite(doc, &[&base], Form::Json).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"href": "http://p/ows/proxy/x?a=\"b\\c/collections?f=json&limit=10"}"#
        );
    }

    #[test]
    fn json_with_escaped_slashes_is_rewritten_as_it_is_written() {
        let base = Base::new("http://b:5000/wps", "http://p/ows/proxy/emu").unwrap();
        let long = Base::new("http://b:5000/wps/outputs", "http://p/ows/proxy/out").unwrap();
        let doc = br#"{"a": "http:\/\/b:5000\/wps\/items?f=json", "b": "http://b:5000/wps",
            "c": "http:\/\/b:5000\/wps\/outputs\/1.nc", "d": "http:\/\/b:5000\/wpsx",
            "e": "http:\/\/b:5000\/wps"}"#;
        let want = r#"{"a": "http:\/\/p\/ows\/proxy\/emu\/items?f=json", "b": "http://p/ows/proxy/emu",
            "c": "http:\/\/p\/ows\/proxy\/out\/1.nc", "d": "http:\/\/b:5000\/wpsx",
            "e": "http:\/\/p\/ows\/proxy\/emu"}"#;
        let out = rewrite(doc, &[&base, &long], Form::Json).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), want);
        // Not in XML, where a backslash is no escape.
        assert!(rewrite(br"<a>http:\/\/b:5000\/wps</a>", &[&base], Form::Xml).is_none());
        // Streamed: each head length shifts where the reads end, so that over all of
        // them every byte of the document ends a read once.
        for head in 0..doc.len() {
            let streamed = streamed(doc, head, &[&base, &long], Form::Json);
            assert!(streamed == want.as_bytes(), "head {head}");
        }
    }

    #[test]
    fn xml_media_types() {
        for t in [
            "text/xml",
            "text/xml; charset=utf-8",
            "text/xml;charset=ISO-8859-1",
            "application/xml",
            "application/vnd.ogc.wms_xml",
            "application/vnd.ogc.se_xml",
            "application/atom+xml",
        ] {
            assert!(is_xml(t), "{t}");
        }
        for t in ["image/png", "application/json", "text/plain", "xml", ""] {
            assert!(!is_xml(t), "{t}");
        }
    }

    #[test]
    fn a_media_types_essence_drops_parameters_and_case() {
        assert_eq!(essence(" Text/XML ; charset=UTF-8"), "text/xml");
        assert_eq!(
            essence("application/octet-stream"),
            "application/octet-stream"
        );
        assert_eq!(essence(""), "");
    }

    #[test]
    fn rewrites_in_attributes_and_text_and_keeps_the_rest() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<!-- PyWPS 4.6.0 -->
<wps:ExecuteResponse serviceInstance="http://b:5000/wps?request=GetCapabilities&amp;service=WPS" statusLocation="http://b:5000/wps/outputs/1.xml">
<wps:Reference href="http://b:5000/wps/outputs/out.nc"/><x>http://b:5000/wps</x><y>http://b:5000/wpsx</y><z>http://b:5000/other</z>
</wps:ExecuteResponse>"#;
        let emu = Base::new("http://b:5000/wps/", "http://tw/ows/proxy/emu").unwrap();
        let emu = [&emu];
        let out = rewrite(doc, &emu, Form::Xml).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- PyWPS 4.6.0 -->")
        );
        assert!(out.contains(
            r#"serviceInstance="http://tw/ows/proxy/emu?request=GetCapabilities&amp;service=WPS""#
        ));
        assert!(out.contains(r#"statusLocation="http://tw/ows/proxy/emu/outputs/1.xml""#));
        assert!(out.contains(r#"href="http://tw/ows/proxy/emu/outputs/out.nc""#));
        assert!(out.contains("<x>http://tw/ows/proxy/emu</x>"));
        assert!(
            out.contains("<y>http://b:5000/wpsx</y>"),
            "segment boundary"
        );
        assert!(out.contains("<z>http://b:5000/other</z>"));
        assert_eq!(rewrite(b"<a>nothing</a>", &emu, Form::Xml), None);
        let amp = Base::new("http://b/w", "http://p/?a=1&b=2").unwrap();
        let amp = [&amp];
        let xml = rewrite(b"<a>http://b/w</a>", &amp, Form::Xml).unwrap();
        assert_eq!(xml, b"<a>http://p/?a=1&amp;b=2</a>");
        let plain = rewrite(b"http://b/w/x", &amp, Form::Plain).unwrap();
        assert_eq!(plain, b"http://p/?a=1&b=2/x");
        assert!(Base::new("relative/path", "http://p").is_none());
        // A backend writes its URLs without the user info it is reached with.
        let secret = Base::new("http://u:p@b:5000/wps", "http://tw/ows/proxy/emu").unwrap();
        let out = rewrite(b"<a>http://b:5000/wps/x</a>", &[&secret], Form::Xml).unwrap();
        assert_eq!(out, b"<a>http://tw/ows/proxy/emu/x</a>");
        let bare = Base::new("http://u@b", "http://p").unwrap();
        assert_eq!(
            rewrite(b"http://b/x", &[&bare], Form::Plain).unwrap(),
            b"http://p/x"
        );
    }

    #[test]
    fn other_registered_services_are_rewritten_too_and_the_longest_wins() {
        let bases = [
            Base::new("http://b:5000/wps", "http://tw/ows/proxy/emu").unwrap(),
            Base::new("http://b:5000/outputs", "http://tw/ows/proxy/emu-outputs").unwrap(),
            Base::new("http://b:5000/wps/special", "http://tw/ows/proxy/special").unwrap(),
            Base::new("http://b:5000/wps", "http://tw/ows/proxy/same-url").unwrap(),
        ];
        let doc = br#"<r a="http://b:5000/wps?x" s="http://b:5000/outputs/1.xml"><t>http://b:5000/wps/special/y</t><u>https://b:5000/wps</u> http://b:5000/wps/outputs/2.xml</r>"#;
        let bases: Vec<&Base> = bases.iter().collect();
        let out = String::from_utf8(rewrite(doc, &bases, Form::Xml).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"<r a="http://tw/ows/proxy/emu?x" s="http://tw/ows/proxy/emu-outputs/1.xml"><t>http://tw/ows/proxy/special/y</t><u>https://b:5000/wps</u> http://tw/ows/proxy/emu/outputs/2.xml</r>"#
        );
    }
}
