//! One line per request on stderr, in logfmt. Secrets in the query are replaced by `***`.

use std::net::SocketAddr;
use std::time::Duration;

/// Query parameters whose values never reach the log.
const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "client_secret",
    "password",
    "token",
    "refresh_token",
    "code",
];

/// The query with secret values masked, or empty.
pub fn redact_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    query
        .split('&')
        .map(|pair| {
            let (k, _) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_encoding::percent_decode_str(k).decode_utf8_lossy();
            if SECRET_PARAMS.iter().any(|s| key.eq_ignore_ascii_case(s)) {
                format!("{k}=***")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Quotes a value for logfmt when it has spaces, quotes or control characters.
fn quoted(v: &str) -> String {
    if v.is_empty()
        || v.chars()
            .any(|c| c == ' ' || c == '"' || c == '=' || c.is_control())
    {
        format!("{v:?}")
    } else {
        v.to_string()
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

pub fn write(e: &Entry) {
    let target = if e.query.is_empty() {
        e.path.to_string()
    } else {
        format!("{}?{}", e.path, redact_query(e.query))
    };
    let peer = e
        .peer
        .map(|p| p.ip().to_string())
        .unwrap_or_else(|| "-".into());
    crate::log::line(
        "ACCESS",
        &format!(
            "rid={} peer={peer} method={} path={} status={} bytes={} ms={:.2}",
            quoted(e.request_id),
            e.method,
            quoted(&target),
            e.status,
            e.bytes,
            e.duration.as_secs_f64() * 1000.0
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_only() {
        assert_eq!(
            redact_query("service=WPS&access_token=abc.def&Client_Secret=s&x=1"),
            "service=WPS&access_token=***&Client_Secret=***&x=1"
        );
        assert_eq!(redact_query("acc%65ss_token=zzz"), "acc%65ss_token=***");
        assert_eq!(redact_query(""), "");
        assert_eq!(quoted("/a b"), "\"/a b\"");
    }
}
