//! One line per request on stderr, in logfmt. Secrets in the query are replaced by `***`.

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Duration;

use super::http::query_key_in;
use crate::log::push_padded;

/// Query parameters whose values never reach the log.
const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "client_secret",
    "password",
    "token",
    "refresh_token",
    "code",
];

/// `path?query` with secret values masked, built in one allocation. Splits with byte
/// scans: a `str` pattern search costs more to set up than these short pairs take.
fn path_and_query(path: &str, query: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1 + query.len());
    out.push_str(path);
    out.push('?');
    let mut rest = query;
    loop {
        let end = rest.bytes().position(|b| b == b'&').unwrap_or(rest.len());
        let pair = &rest[..end];
        match pair.bytes().position(|b| b == b'=') {
            Some(eq) if query_key_in(&pair[..eq], SECRET_PARAMS) => {
                out.push_str(&pair[..eq]);
                out.push_str("=***");
            }
            _ => out.push_str(pair),
        }
        if end == rest.len() {
            return out;
        }
        out.push('&');
        rest = &rest[end + 1..];
    }
}

/// Appends a value for logfmt, quoted when it has spaces, quotes, `=` or control
/// characters. Printable ASCII, the usual case, is quoted without the formatter.
fn push_value(out: &mut String, v: &str) {
    let plain = |b: u8| b.is_ascii_graphic() && b != b'"' && b != b'=';
    if !v.is_empty() && v.bytes().all(plain) {
        out.push_str(v);
    } else if v.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        out.push('"');
        let mut copied = 0;
        for (i, b) in v.bytes().enumerate() {
            if b == b'"' || b == b'\\' {
                out.push_str(&v[copied..i]);
                out.push('\\');
                copied = i;
            }
        }
        out.push_str(&v[copied..]);
        out.push('"');
    } else {
        let _ = write!(out, "{v:?}");
    }
}

pub struct Entry<'a> {
    pub request_id: &'a str,
    pub peer: Option<SocketAddr>,
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub status: u16,
    pub bytes: u64,
    pub duration: Duration,
}

/// Writes the line with one allocation and one `write`: it runs for every request.
pub fn write(e: &Entry) {
    crate::log::line_with(
        crate::log::ACCESS,
        160 + e.path.len() + e.query.len(),
        |line| {
            line.push_str("rid=");
            push_value(line, e.request_id);
            line.push_str(" peer=");
            match e.peer {
                Some(p) => crate::log::push_ip(line, p.ip()),
                None => line.push('-'),
            }
            line.push_str(" method=");
            line.push_str(e.method);
            line.push_str(" path=");
            if e.query.is_empty() {
                push_value(line, e.path);
            } else {
                push_value(line, &path_and_query(e.path, e.query));
            }
            line.push_str(" status=");
            push_padded(line, e.status.into(), 1);
            line.push_str(" bytes=");
            push_padded(line, e.bytes, 1);
            line.push_str(" ms=");
            push_millis(line, e.duration);
        },
    );
}

/// Milliseconds with two decimals (half a hundredth rounds up), without float
/// formatting, which costs more than the rest of the line.
fn push_millis(out: &mut String, d: Duration) {
    let hundredths = (d.as_micros() + 5) / 10;
    push_padded(out, u64::try_from(hundredths / 100).unwrap_or(u64::MAX), 1);
    out.push('.');
    push_padded(out, (hundredths % 100) as u64, 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_only() {
        assert_eq!(
            path_and_query("/p", "service=WPS&access_token=abc.def&Client_Secret=s&x=1"),
            "/p?service=WPS&access_token=***&Client_Secret=***&x=1"
        );
        assert_eq!(
            path_and_query("/p", "acc%65ss_token=zzz&&code=1&password"),
            "/p?acc%65ss_token=***&&code=***&password"
        );
    }

    #[test]
    fn values_quoted_as_debug_does() {
        for v in [
            "/a b",
            "",
            "/ows/proxy/emu?DataInputs=name=x",
            "say \"hi\"",
            "back\\slash\\ x",
            "tab\there",
            "caf\u{e9}",
            "\u{200b}zero-width",
            "\"",
        ] {
            let mut q = String::new();
            push_value(&mut q, v);
            assert_eq!(q, format!("{v:?}"), "{v}");
        }
        let mut q = String::new();
        push_value(&mut q, "/ows/proxy/emu/outputs/a.nc");
        assert_eq!(q, "/ows/proxy/emu/outputs/a.nc");
    }

    #[test]
    fn milliseconds_with_two_decimals() {
        for (micros, text) in [
            (0, "0.00"),
            (4, "0.00"),
            (5, "0.01"),
            (1_234, "1.23"),
            (1_995, "2.00"),
            (12_345_678, "12345.68"),
        ] {
            let mut s = String::new();
            push_millis(&mut s, Duration::from_micros(micros));
            assert_eq!(s, text, "{micros} us");
        }
    }
}
