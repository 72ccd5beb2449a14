//! What a capabilities answer offers, for the TUI's "check a backend": the operations
//! an OWS 1.1 document (WPS, WFS 2, WCS 2, WMTS) lists as `ows:Operation name=...`, or
//! a WMS document as the children of `Capability/Request`; and the text of an
//! ExceptionReport when the answer is an error.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

/// Deeper documents are not read further; capabilities nest a dozen levels.
const MAX_DEPTH: usize = 64;
/// More operations than any OWS defines; the rest are not listed.
const MAX_OPERATIONS: usize = 64;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The root element's local name, e.g. `Capabilities` or `ExceptionReport`.
    pub root: String,
    pub operations: Vec<String>,
    /// The ExceptionText (or WMS ServiceException) of an error document.
    pub exception: Option<String>,
    /// Why the document could not be read to its end, if it could not.
    pub error: Option<String>,
}

fn name_attribute(e: &BytesStart) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == "name")
        .and_then(|a| a.normalized_value(XmlVersion::Implicit1_0).ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Reads `xml` for operations and exception text; never fails, says what it could not read.
pub fn scan(xml: &str) -> Scan {
    let mut out = Scan::default();
    let mut reader = quick_xml::Reader::from_str(xml);
    // Local names of the open elements.
    let mut path: Vec<String> = Vec::new();
    let mut exception = String::new();
    let mut add = |out: &mut Scan, op: String| {
        if out.operations.len() < MAX_OPERATIONS && !out.operations.contains(&op) {
            out.operations.push(op);
        }
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = e.local_name().as_ref().to_string();
                visit(&mut out, &path, &name, &e, &mut add);
                path.push(name);
                if path.len() > MAX_DEPTH {
                    out.error = Some(format!("nested deeper than {MAX_DEPTH} elements"));
                    break;
                }
            }
            Ok(Event::Empty(e)) => {
                let name = e.local_name().as_ref().to_string();
                visit(&mut out, &path, &name, &e, &mut add);
            }
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(t)) => {
                if path
                    .last()
                    .is_some_and(|n| n == "ExceptionText" || n == "ServiceException")
                {
                    if !exception.is_empty() {
                        exception.push(' ');
                    }
                    exception.push_str(t.xml10_content().trim());
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                out.error = Some(format!("malformed XML: {e}"));
                break;
            }
        }
    }
    let exception = exception.trim();
    if !exception.is_empty() {
        out.exception = Some(exception.to_string());
    }
    out
}

fn visit(
    out: &mut Scan,
    path: &[String],
    name: &str,
    e: &BytesStart,
    add: &mut impl FnMut(&mut Scan, String),
) {
    if path.is_empty() {
        out.root = name.to_string();
    }
    if name == "Operation"
        && let Some(op) = name_attribute(e)
    {
        add(out, op);
    }
    // WMS 1.1.1 and 1.3.0: Capability/Request/GetMap, ...
    if path.len() >= 2 && path[path.len() - 1] == "Request" && path[path.len() - 2] == "Capability"
    {
        add(out, name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wps_operations() {
        let s = scan(
            r#"<?xml version="1.0"?><wps:Capabilities xmlns:wps="w" xmlns:ows="o">
            <ows:OperationsMetadata>
              <ows:Operation name="GetCapabilities"><ows:DCP/></ows:Operation>
              <ows:Operation name="DescribeProcess"/>
              <ows:Operation name="Execute"></ows:Operation>
            </ows:OperationsMetadata></wps:Capabilities>"#,
        );
        assert_eq!(s.root, "Capabilities");
        assert_eq!(
            s.operations,
            ["GetCapabilities", "DescribeProcess", "Execute"]
        );
        assert_eq!((s.exception, s.error), (None, None));
    }

    #[test]
    fn wms_requests() {
        let s = scan(
            "<WMS_Capabilities><Service><Name>WMS</Name></Service><Capability><Request>\
             <GetCapabilities><Format>text/xml</Format></GetCapabilities><GetMap/>\
             <GetFeatureInfo/></Request><Layer/></Capability></WMS_Capabilities>",
        );
        assert_eq!(
            s.operations,
            ["GetCapabilities", "GetMap", "GetFeatureInfo"]
        );
    }

    #[test]
    fn exception_text_and_bad_documents() {
        let s = scan(
            r#"<ows:ExceptionReport xmlns:ows="o"><ows:Exception exceptionCode="NoApplicableCode">
            <ows:ExceptionText>The backend cannot be reached</ows:ExceptionText></ows:Exception></ows:ExceptionReport>"#,
        );
        assert_eq!(s.root, "ExceptionReport");
        assert!(s.operations.is_empty());
        assert_eq!(
            s.exception.as_deref(),
            Some("The backend cannot be reached")
        );
        let s = scan("<a><b></a>");
        assert!(s.error.is_some());
        let s = scan("not xml at all");
        assert!(s.operations.is_empty() && s.root.is_empty());
        let deep = "<a>".repeat(MAX_DEPTH + 5);
        assert!(scan(&deep).error.unwrap().contains("deeper"));
    }
}
