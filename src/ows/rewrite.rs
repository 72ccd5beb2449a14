//! Backend URLs in XML responses, rewritten to the proxy's public URL, so that clients
//! follow capabilities hrefs, WMS OnlineResource, WPS `statusLocation`,
//! `serviceInstance` and output references through the proxy and never around it.
//!
//! The document is edited as bytes, not re-serialised: the XML declaration, comments,
//! namespace prefixes and formatting stay as the backend wrote them.

use super::exception::escape;

/// What may not follow a matched URL: more of its last path segment, so `…/wps` does
/// not match inside `…/wpsx`.
fn continues_segment(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%".contains(&b)
}

/// Media types whose bodies are XML: `text/xml`, `application/xml`, `*/*+xml` and the
/// OGC `application/vnd.ogc.*_xml` types, with or without parameters.
pub fn is_xml(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.contains('/')
        && (essence.ends_with("/xml") || essence.ends_with("+xml") || essence.ends_with("_xml"))
}

/// `doc` with every occurrence of `from` (the backend's service URL) replaced by `to`;
/// None when it has none. Both are taken without a trailing slash.
pub fn rewrite(doc: &[u8], from: &str, to: &str) -> Option<Vec<u8>> {
    let from = from.trim_end_matches('/').as_bytes();
    if from.is_empty() {
        return None;
    }
    let to = escape(to.trim_end_matches('/'));
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for start in memchr::memmem::find_iter(doc, from) {
        let end = start + from.len();
        // Matches cannot overlap in a URL without repeats; skip any that would.
        if start < copied || doc.get(end).is_some_and(|b| continues_segment(*b)) {
            continue;
        }
        let o = out.get_or_insert_with(|| Vec::with_capacity(doc.len() + 256));
        o.extend_from_slice(&doc[copied..start]);
        o.extend_from_slice(to.as_bytes());
        copied = end;
    }
    let mut o = out?;
    o.extend_from_slice(&doc[copied..]);
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rewrites_in_attributes_and_text_and_keeps_the_rest() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<!-- PyWPS 4.6.0 -->
<wps:ExecuteResponse serviceInstance="http://b:5000/wps?request=GetCapabilities&amp;service=WPS" statusLocation="http://b:5000/wps/outputs/1.xml">
<wps:Reference href="http://b:5000/wps/outputs/out.nc"/><x>http://b:5000/wps</x><y>http://b:5000/wpsx</y><z>http://b:5000/other</z>
</wps:ExecuteResponse>"#;
        let out = rewrite(doc, "http://b:5000/wps/", "http://tw/ows/proxy/emu").unwrap();
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
        assert_eq!(
            rewrite(b"<a>nothing</a>", "http://b:5000/wps", "http://tw"),
            None
        );
        let amp = rewrite(b"<a>http://b/w</a>", "http://b/w", "http://p/?a=1&b=2").unwrap();
        assert_eq!(amp, b"<a>http://p/?a=1&amp;b=2</a>");
    }
}
