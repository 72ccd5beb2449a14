//! OWS 1.1 `ExceptionReport` documents: every error of the proxy, in the shape OWSLib
//! and Twitcher's clients parse.

use std::borrow::Cow;

/// `exceptionCode` values of OGC 06-121r3 that twitcher uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionCode {
    MissingParameterValue,
    InvalidParameterValue,
    OperationNotSupported,
    NoApplicableCode,
}

impl ExceptionCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ExceptionCode::MissingParameterValue => "MissingParameterValue",
            ExceptionCode::InvalidParameterValue => "InvalidParameterValue",
            ExceptionCode::OperationNotSupported => "OperationNotSupported",
            ExceptionCode::NoApplicableCode => "NoApplicableCode",
        }
    }
}

/// Characters of a request's value that an error quotes.
const QUOTED: usize = 64;
/// Characters of any one text of a report: a last bound, whatever a message holds.
const REPORTED: usize = 1024;

/// A value from the request as an error quotes it, cut to its first characters: an
/// error about a 16 MiB parameter name is not itself 16 MiB, nor copied on the way.
pub fn clip(s: &str) -> Cow<'_, str> {
    cut(s, QUOTED)
}

fn cut(s: &str, chars: usize) -> Cow<'_, str> {
    match s.char_indices().nth(chars) {
        None => Cow::Borrowed(s),
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
    }
}

fn bounded(s: String) -> String {
    match cut(&s, REPORTED) {
        Cow::Owned(c) => c,
        Cow::Borrowed(_) => s,
    }
}

/// One exception, with the HTTP status it is sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwsError {
    pub status: u16,
    pub code: ExceptionCode,
    pub locator: String,
    pub text: String,
    /// Why, beside `text`: a second `ExceptionText`, so that the first stays the
    /// original's words for clients that match them.
    pub detail: Option<String>,
}

impl OwsError {
    pub fn new(
        status: u16,
        code: ExceptionCode,
        locator: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        OwsError {
            status,
            code,
            locator: bounded(locator.into()),
            text: bounded(text.into()),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> OwsError {
        self.detail = Some(bounded(detail.into()));
        self
    }

    pub fn missing(param: &str) -> OwsError {
        OwsError::new(
            400,
            ExceptionCode::MissingParameterValue,
            param,
            format!("Parameter \"{param}\" is missing"),
        )
    }

    pub fn invalid(param: &str, text: impl Into<String>) -> OwsError {
        OwsError::new(400, ExceptionCode::InvalidParameterValue, param, text)
    }

    /// OGC 06-121r9 gives OperationNotSupported the status 501.
    pub fn not_supported(operation: String) -> OwsError {
        OwsError::new(
            501,
            ExceptionCode::OperationNotSupported,
            "request",
            format!("request {operation} is not supported"),
        )
    }

    /// Anything else, with Twitcher's locators (`AccessForbidden`, `NotAcceptable`, ...).
    pub fn other(status: u16, locator: &str, text: impl Into<String>) -> OwsError {
        OwsError::new(status, ExceptionCode::NoApplicableCode, locator, text)
    }

    pub fn to_xml(&self) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<ExceptionReport version="1.0.0"
    xmlns="http://www.opengis.net/ows/1.1"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="http://www.opengis.net/ows/1.1 http://schemas.opengis.net/ows/1.1.0/owsExceptionReport.xsd">
    <Exception exceptionCode="{}" locator="{}">
        <ExceptionText>{}</ExceptionText>{}
    </Exception>
</ExceptionReport>
"#,
            self.code.as_str(),
            escape(&self.locator),
            escape(&self.text),
            self.detail
                .as_deref()
                .map(|d| format!("\n        <ExceptionText>{}</ExceptionText>", escape(d)))
                .unwrap_or_default()
        )
    }
}

/// Escapes text for XML content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_shape_and_escaping() {
        let x = OwsError::missing("service").to_xml();
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
        assert!(
            x.contains("<Exception exceptionCode=\"MissingParameterValue\" locator=\"service\">")
        );
        assert!(
            x.contains("<ExceptionText>Parameter &quot;service&quot; is missing</ExceptionText>")
        );
        let x = OwsError::other(404, "NotAcceptable", "Could not find service: <a&b>").to_xml();
        assert!(x.contains("Could not find service: &lt;a&amp;b&gt;"));
    }
}
