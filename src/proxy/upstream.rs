//! The connection to backends: two shared ureq agents (one checking TLS certificates,
//! one for services registered with `verify = false`), so connections are reused.

use std::io::Read;

use ureq::config::AutoHeaderValue;
use ureq::tls::TlsConfig;
use ureq::{Agent, SendBody};

use crate::config::ProxySettings;

/// Per connection; the defaults (128 KiB each way) would make idle pooled connections
/// the largest part of the proxy's memory.
const INPUT_BUFFER: usize = 64 * 1024;
const OUTPUT_BUFFER: usize = 16 * 1024;
const MAX_IDLE: usize = 64;
const MAX_IDLE_PER_HOST: usize = 32;

pub struct Upstream {
    verifying: Agent,
    insecure: Agent,
}

/// The request body to send on.
pub enum Outbody<'a> {
    None,
    /// Streamed; `length` is the client's Content-Length, else it goes chunked.
    Reader {
        reader: &'a mut dyn Read,
        length: Option<u64>,
    },
}

/// Where and how a request goes.
pub struct Target<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub verify_tls: bool,
}

/// The backend's answer; the body is read as it is sent on.
pub struct Incoming {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub length: Option<u64>,
    pub body: ureq::Body,
}

#[derive(Debug)]
pub enum Failure {
    /// No connection, or it broke (502).
    Unreachable(String),
    /// The backend did not answer in time (504).
    Timeout,
    /// The target could not be expressed as a request (400).
    BadRequest(String),
}

fn agent(s: &ProxySettings, verify: bool) -> Agent {
    Agent::new_with_config(
        Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .allow_non_standard_methods(true)
            .user_agent(AutoHeaderValue::None)
            .accept(AutoHeaderValue::None)
            .timeout_connect(Some(s.connect_timeout))
            .timeout_recv_response(Some(s.timeout))
            .timeout_per_read(Some(s.timeout))
            .timeout_per_write(Some(s.timeout))
            .input_buffer_size(INPUT_BUFFER)
            .output_buffer_size(OUTPUT_BUFFER)
            .max_idle_connections(MAX_IDLE)
            .max_idle_connections_per_host(MAX_IDLE_PER_HOST)
            .tls_config(TlsConfig::builder().disable_verification(!verify).build())
            .build(),
    )
}

impl Upstream {
    pub fn new(s: &ProxySettings) -> Upstream {
        Upstream {
            verifying: agent(s, true),
            insecure: agent(s, false),
        }
    }

    pub fn send(&self, to: &Target, body: Outbody) -> Result<Incoming, Failure> {
        let method = ureq::http::Method::from_bytes(to.method.as_bytes()).map_err(|_| {
            Failure::BadRequest(format!("method {} cannot be forwarded", to.method))
        })?;
        let mut b = ureq::http::Request::builder().method(method).uri(to.url);
        for (k, v) in to.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let agent = if to.verify_tls {
            &self.verifying
        } else {
            &self.insecure
        };
        let bad = |e: ureq::http::Error| {
            Failure::BadRequest(format!("the request cannot be forwarded: {e}"))
        };
        let sent = match body {
            Outbody::None => agent.run(b.body(SendBody::none()).map_err(bad)?),
            Outbody::Reader { reader, length } => {
                if let Some(n) = length {
                    b = b.header("Content-Length", n.to_string());
                }
                agent.run(b.body(SendBody::from_reader(reader)).map_err(bad)?)
            }
        };
        let resp = sent.map_err(|e| match e {
            ureq::Error::Timeout(_) => Failure::Timeout,
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => Failure::Timeout,
            ureq::Error::BadUri(m) => Failure::BadRequest(m),
            other => Failure::Unreachable(other.to_string()),
        })?;
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let length = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok(Incoming {
            status,
            headers,
            length,
            body: resp.into_body(),
        })
    }
}
