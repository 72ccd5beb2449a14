//! One line per request on stderr, in logfmt. Secrets in the query are replaced by `***`.

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Duration;

use super::http::query_key_in;

/// Query parameters whose values never reach the log.
const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "client_secret",
    "password",
    "token",
    "refresh_token",
    "code",
];

/// `path?query` with secret values masked, built in one allocation.
fn path_and_query(path: &str, query: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1 + query.len());
    out.push_str(path);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) if query_key_in(k, SECRET_PARAMS) => {
                out.push_str(k);
                out.push_str("=***");
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// Appends a value for logfmt, quoted when it has spaces, quotes or control characters.
fn push_value(out: &mut String, v: &str) {
    if v.is_empty()
        || v.chars()
            .any(|c| c == ' ' || c == '"' || c == '=' || c.is_control())
    {
        let _ = write!(out, "{v:?}");
    } else {
        out.push_str(v);
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
    let mut line = String::with_capacity(160 + e.path.len() + e.query.len());
    line.push_str("rid=");
    push_value(&mut line, e.request_id);
    line.push_str(" peer=");
    match e.peer {
        Some(p) => crate::log::push_ip(&mut line, p.ip()),
        None => line.push('-'),
    }
    line.push_str(" method=");
    line.push_str(e.method);
    line.push_str(" path=");
    if e.query.is_empty() {
        push_value(&mut line, e.path);
    } else {
        push_value(&mut line, &path_and_query(e.path, e.query));
    }
    let _ = write!(
        line,
        " status={} bytes={} ms={:.2}",
        e.status,
        e.bytes,
        e.duration.as_secs_f64() * 1000.0
    );
    crate::log::line("ACCESS", &line);
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
        let mut q = String::new();
        push_value(&mut q, "/a b");
        assert_eq!(q, "\"/a b\"");
    }
}
