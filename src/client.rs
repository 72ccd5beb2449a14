//! The HTTP client for a twitcher server's REST and OAuth API, shared by `twitcherctl`
//! and the TUI: one method per endpoint, typed results, and errors that tell a refusal
//! by the server from a server that cannot be reached or does not speak the API.
//!
//! It also talks to Python Twitcher 0.11, so it sends what that server accepts: the
//! client of `/oauth/token` in the form body, never only in HTTP Basic.

use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine;
use percent_encoding::utf8_percent_encode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::registry::PATH_SEGMENT;

/// Query parameters whose values a trace never shows.
const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "refresh_token",
    "client_secret",
    "password",
    "token",
    "api_key",
    "apikey",
];

/// Credentials for HTTP Basic: the admin's, or an OAuth client's id and secret. Debug
/// output never shows the password.
#[derive(Clone, PartialEq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// The server's base URL, e.g. `http://localhost:8000`; a path prefix is kept.
    pub base_url: String,
    /// Sent to every admin endpoint; None sends no Authorization header.
    pub credentials: Option<Credentials>,
    /// Accept any TLS certificate (`-k`).
    pub insecure: bool,
    /// For the whole of one request, from connecting to the end of the body.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The server answered with an error status; `message` comes from its JSON body.
    Refused { status: u16, message: String },
    /// No connection: refused, host unknown, network down.
    Unreachable { url: String, reason: String },
    /// No complete answer within the timeout.
    Timeout { url: String, after: Duration },
    /// The TLS handshake failed, e.g. on an untrusted certificate.
    Tls { url: String, reason: String },
    /// An answer that is not the API's: not JSON, the wrong shape, a redirect.
    BadResponse { status: u16, reason: String },
    /// A URL that cannot be requested.
    InvalidUrl(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Refused { status, message } => match reason(*status) {
                // `404 Not Found: /x`, not `404 Not Found: Not Found: /x`.
                Some(r) if message.starts_with(r) => write!(f, "{status} {message}"),
                _ => write!(f, "{}: {message}", status_line(*status)),
            },
            Error::Unreachable { url, reason } => write!(f, "cannot reach {url}: {reason}"),
            Error::Timeout { url, after } => {
                write!(f, "no answer from {url} within {} s", after.as_secs_f64())
            }
            Error::Tls { url, reason } => write!(f, "TLS with {url} failed: {reason}"),
            Error::BadResponse { status: 0, reason } => {
                write!(f, "unexpected answer from the server: {reason}")
            }
            Error::BadResponse { status, reason } => write!(
                f,
                "unexpected answer from the server ({}): {reason}",
                status_line(*status)
            ),
            Error::InvalidUrl(u) => write!(f, "invalid URL: {u}"),
        }
    }
}

impl std::error::Error for Error {}

fn reason(status: u16) -> Option<&'static str> {
    ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
}

fn status_line(status: u16) -> String {
    match reason(status) {
        Some(r) => format!("{status} {r}"),
        None => format!("HTTP {status}"),
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// What `GET /info` tells.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Info {
    pub package: String,
    pub version: String,
}

/// One entry of `GET /versions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    pub name: String,
    pub version: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A registered OWS service, as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub url: String,
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub purl: String,
    #[serde(default)]
    pub auth: String,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub verify: bool,
}

/// A service to register, or to update under its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewService {
    pub name: String,
    pub url: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub purl: String,
    pub auth: String,
    pub verify: bool,
}

/// A client application just added: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewClient {
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub redirect_uri: String,
    #[serde(default)]
    pub scope: Vec<String>,
}

/// A client application as listed, without its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientInfo {
    pub name: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Vec<String>,
    pub created_at: u64,
}

/// Which token endpoint to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenEndpoint {
    /// The server's own `/oauth/token`.
    Twitcher,
    /// A Keycloak realm under the server URL, in the legacy `/auth/realms/R/...` layout
    /// that Python Twitcher's client hard-codes (for the realm `demo`).
    Keycloak { realm: String },
    /// Any OAuth2 token endpoint.
    Url(String),
}

#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub endpoint: TokenEndpoint,
    pub client_id: String,
    pub client_secret: String,
    /// Empty asks for every scope the client has.
    pub scopes: Vec<String>,
}

/// An access token from the client-credentials grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
    pub token_type: String,
    #[serde(default)]
    pub scope: Option<String>,
}

/// What `/oauth/introspect` tells about a token (RFC 7662).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
}

/// The links of `GET /` that the TUI follows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrontPage {
    pub information_uri: String,
    /// None when the OWS proxy is off (`twitcher.ows_proxy = false`).
    #[serde(default)]
    pub owsproxy_uri: Option<String>,
}

impl FrontPage {
    /// The OWS proxy's path under the server's base URL, e.g. `/ows/proxy`; None when
    /// the proxy is off. The links name the public URL, which may differ from the one
    /// this client talks to, so only the path is kept.
    pub fn proxy_path(&self) -> Option<String> {
        let proxy = self.owsproxy_uri.as_deref()?;
        let public = self.information_uri.strip_suffix("/info").unwrap_or("");
        let path = match proxy.strip_prefix(public) {
            Some(p) if !public.is_empty() => p,
            _ => crate::registry::url_parts(proxy).1,
        };
        Some(path.trim_end_matches('/').to_string())
    }
}

/// `GET /healthz` or `GET /readyz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

/// One OWS service's counters in `GET /stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCounts {
    pub name: String,
    pub requests: u64,
    pub refused: u64,
}

/// `GET /stats`: the server's traffic counters since it started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub uptime_seconds: u64,
    pub requests: u64,
    pub in_flight: u64,
    pub bytes_sent: u64,
    /// By status class: `1xx` .. `5xx`.
    pub status: std::collections::BTreeMap<String, u64>,
    pub latency_ms: Percentiles,
    /// `[upper bound in ms, count]` of every bucket that holds a request.
    pub latency_buckets: Vec<(f64, u64)>,
    pub services: Vec<ServiceCounts>,
    #[serde(default)]
    pub other_services: u64,
}

/// One row of `GET /settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub key: String,
    /// Secrets come masked.
    pub value: String,
    pub source: String,
}

/// `GET /settings`: the settings the server runs with, secrets masked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsReport {
    pub config_file: Option<String>,
    pub settings: Vec<Setting>,
}

/// A GetCapabilities round trip through the OWS proxy.
#[derive(Debug, Clone)]
pub struct CapabilitiesCheck {
    /// What was asked, without the base URL.
    pub path: String,
    pub status: u16,
    pub latency: Duration,
    pub content_type: String,
    pub bytes: usize,
    pub scan: crate::ows::capabilities::Scan,
}

/// One request as it went, for debug logs: never a body, secrets in the URL masked.
#[derive(Debug)]
pub struct Trace<'a> {
    pub method: &'a str,
    pub url: String,
    /// The status, or why there is none.
    pub outcome: std::result::Result<u16, &'a Error>,
    pub elapsed: Duration,
}

/// An answer of any status.
struct Answer {
    status: u16,
    content_type: String,
    /// Where a redirect points.
    location: Option<String>,
    body: Vec<u8>,
}

enum Body {
    Empty,
    Json(Vec<u8>),
    /// JSON that creates a resource only where there is none (`If-None-Match: *`).
    NewJson(Vec<u8>),
    Form(String),
}

/// Whether a request carries the admin credentials.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    None,
    Admin,
}

type TraceFn = Box<dyn Fn(&Trace) + Send + Sync>;

pub struct Client {
    base: String,
    credentials: Option<Credentials>,
    timeout: Duration,
    agent: ureq::Agent,
    trace: Option<TraceFn>,
}

impl Client {
    pub fn new(settings: Settings) -> Result<Client> {
        let base = settings.base_url.trim_end_matches('/').to_string();
        if !crate::config::valid_http_url(&base) {
            return Err(Error::InvalidUrl(format!(
                "`{}` is not a valid http:// or https:// URL",
                shown_url(&settings.base_url)
            )));
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(settings.timeout))
            .user_agent(format!("twitcher/{}", env!("CARGO_PKG_VERSION")));
        if settings.insecure {
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .disable_verification(true)
                    .build(),
            );
        }
        Ok(Client {
            base,
            credentials: settings.credentials,
            timeout: settings.timeout,
            agent: ureq::Agent::new_with_config(config.build()),
            trace: None,
        })
    }

    /// The admin credentials from now on: the TUI asks again for a refused password.
    pub fn set_credentials(&mut self, credentials: Option<Credentials>) {
        self.credentials = credentials;
    }

    /// Calls `f` after every request, e.g. to log it.
    pub fn with_trace(mut self, f: impl Fn(&Trace) + Send + Sync + 'static) -> Client {
        self.trace = Some(Box::new(f));
        self
    }

    /// The server's URL to show: a password in it masked.
    pub fn base_url(&self) -> String {
        mask_url(&self.base)
    }

    pub fn info(&self) -> Result<Info> {
        self.json("GET", "/info", Auth::None, Body::Empty)
    }

    pub fn versions(&self) -> Result<Vec<Version>> {
        self.json("GET", "/versions", Auth::None, Body::Empty)
    }

    pub fn frontpage(&self) -> Result<FrontPage> {
        self.json("GET", "/", Auth::None, Body::Empty)
    }

    pub fn health(&self) -> Result<Health> {
        self.json("GET", "/healthz", Auth::None, Body::Empty)
    }

    /// `GET /readyz`; a server that is up but not ready answers 503 with its reason,
    /// which is an answer here, not an error.
    pub fn readiness(&self) -> Result<Health> {
        let answer = self.request(
            "GET",
            "/readyz",
            Auth::None,
            Body::Empty,
            "application/json",
        )?;
        match answer.status {
            200 | 503 => parse(answer.status, &String::from_utf8_lossy(&answer.body)),
            status => Err(Error::Refused {
                status,
                message: refusal_message(status, &String::from_utf8_lossy(&answer.body)),
            }),
        }
    }

    pub fn stats(&self) -> Result<Stats> {
        self.json("GET", "/stats", Auth::Admin, Body::Empty)
    }

    pub fn settings(&self) -> Result<SettingsReport> {
        self.json("GET", "/settings", Auth::Admin, Body::Empty)
    }

    /// GetCapabilities for a service through the OWS proxy under `proxy_path` (see
    /// [`FrontPage::proxy_path`]), without credentials, as any OWS client would ask.
    /// Any status is an answer; only a failed exchange is an error.
    pub fn check_capabilities(
        &self,
        proxy_path: &str,
        name: &str,
        kind: &str,
    ) -> Result<CapabilitiesCheck> {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("service", &kind.to_uppercase())
            .append_pair("request", "GetCapabilities");
        let path = format!(
            "{proxy_path}/{}?{}",
            utf8_percent_encode(name, PATH_SEGMENT),
            q.finish()
        );
        let start = Instant::now();
        let answer = self.request(
            "GET",
            &path,
            Auth::None,
            Body::Empty,
            "text/xml, application/xml;q=0.9, */*;q=0.1",
        )?;
        let latency = start.elapsed();
        Ok(CapabilitiesCheck {
            path,
            status: answer.status,
            latency,
            content_type: answer.content_type,
            bytes: answer.body.len(),
            scan: crate::ows::capabilities::scan(&String::from_utf8_lossy(&answer.body)),
        })
    }

    pub fn list_services(&self) -> Result<Vec<Service>> {
        self.json("GET", "/services", Auth::Admin, Body::Empty)
    }

    /// A service by name; an unknown name is `Refused` with status 404.
    pub fn get_service(&self, name: &str) -> Result<Service> {
        let path = format!("/services/{}", utf8_percent_encode(name, PATH_SEGMENT));
        let (status, body) = self.send("GET", &path, Auth::Admin, Body::Empty)?;
        // Python Twitcher answers an unknown name with 200 `{}`.
        if body.trim() == "{}" {
            return Err(Error::Refused {
                status: 404,
                message: format!("No service named {name}"),
            });
        }
        parse(status, &body)
    }

    pub fn register_service(&self, service: &NewService) -> Result<Service> {
        let body = serde_json::to_vec(service).expect("a service serialises");
        self.json("POST", "/services", Auth::Admin, Body::Json(body))
    }

    /// Registers a service only if its name is free: `Ok(None)` when it is taken. A
    /// server without the precondition (Python Twitcher) registers it either way.
    pub fn register_new_service(&self, service: &NewService) -> Result<Option<Service>> {
        let body = serde_json::to_vec(service).expect("a service serialises");
        match self.json("POST", "/services", Auth::Admin, Body::NewJson(body)) {
            Ok(s) => Ok(Some(s)),
            Err(Error::Refused { status: 412, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether there was a service of that name to remove.
    pub fn unregister_service(&self, name: &str) -> Result<bool> {
        let path = format!("/services/{}", utf8_percent_encode(name, PATH_SEGMENT));
        self.json("DELETE", &path, Auth::Admin, Body::Empty)
    }

    pub fn clear_services(&self) -> Result<bool> {
        self.json("DELETE", "/services", Auth::Admin, Body::Empty)
    }

    /// Adds a client application; empty `scopes` leaves the server's default (compute).
    /// A GET with query parameters, the one form Python Twitcher takes too.
    pub fn add_client(
        &self,
        name: &str,
        redirect_uri: &str,
        scopes: &[String],
    ) -> Result<NewClient> {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("name", name)
            .append_pair("redirect_uri", redirect_uri);
        if !scopes.is_empty() {
            q.append_pair("scope", &scopes.join(" "));
        }
        let path = format!("/oauth/client?{}", q.finish());
        self.json("GET", &path, Auth::Admin, Body::Empty)
    }

    pub fn list_clients(&self) -> Result<Vec<ClientInfo>> {
        self.json("GET", "/oauth/clients", Auth::Admin, Body::Empty)
    }

    /// Removes a client and its tokens; an unknown id is `Refused` with status 404.
    pub fn remove_client(&self, client_id: &str) -> Result<bool> {
        let path = format!(
            "/oauth/clients/{}",
            utf8_percent_encode(client_id, PATH_SEGMENT)
        );
        self.json("DELETE", &path, Auth::Admin, Body::Empty)
    }

    /// The client-credentials grant (RFC 6749 §4.4).
    pub fn fetch_token(&self, req: &TokenRequest) -> Result<Token> {
        let url = match &req.endpoint {
            TokenEndpoint::Twitcher => "/oauth/token".to_string(),
            TokenEndpoint::Keycloak { realm } => format!(
                "/auth/realms/{}/protocol/openid-connect/token",
                utf8_percent_encode(realm, PATH_SEGMENT)
            ),
            TokenEndpoint::Url(u) => u.clone(),
        };
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &req.client_id)
            .append_pair("client_secret", &req.client_secret);
        if !req.scopes.is_empty() {
            form.append_pair("scope", &req.scopes.join(" "));
        }
        self.json("POST", &url, Auth::None, Body::Form(form.finish()))
    }

    /// Revokes a token as the admin (RFC 7009); the server answers the same whether or
    /// not the token was valid.
    pub fn revoke(&self, token: &str) -> Result<()> {
        let (status, body) = self.send("POST", "/oauth/revoke", Auth::Admin, token_form(token))?;
        expect_success(status, &body)
    }

    pub fn introspect(&self, token: &str) -> Result<Introspection> {
        self.json("POST", "/oauth/introspect", Auth::Admin, token_form(token))
    }

    fn json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        auth: Auth,
        body: Body,
    ) -> Result<T> {
        let (status, text) = self.send(method, path, auth, body)?;
        parse(status, &text)
    }

    /// One request; `path` is under the base URL unless it is a whole URL. Ok is a
    /// status below 300 with its body.
    fn send(&self, method: &str, path: &str, auth: Auth, body: Body) -> Result<(u16, String)> {
        let answer = self.request(method, path, auth, body, "application/json")?;
        let status = answer.status;
        let text = String::from_utf8(answer.body).map_err(|_| Error::BadResponse {
            status,
            reason: "a body that is not UTF-8".to_string(),
        })?;
        match status {
            200..=299 => Ok((status, text)),
            300..=399 => Err(Error::BadResponse {
                status,
                reason: match answer.location {
                    Some(to) => format!("a redirect to {to}; point the client there"),
                    None => "a redirect without a Location".to_string(),
                },
            }),
            _ => Err(Error::Refused {
                status,
                message: refusal_message(status, &text),
            }),
        }
    }

    /// One request and its answer whatever the status, traced.
    fn request(
        &self,
        method: &str,
        path: &str,
        auth: Auth,
        body: Body,
        accept: &str,
    ) -> Result<Answer> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let start = Instant::now();
        let result = self.exchange(method, &url, auth, body, accept);
        if let Some(trace) = &self.trace {
            trace(&Trace {
                method,
                url: mask_url(&url),
                outcome: result.as_ref().map(|a| a.status),
                elapsed: start.elapsed(),
            });
        }
        result
    }

    fn exchange(
        &self,
        method: &str,
        url: &str,
        auth: Auth,
        body: Body,
        accept: &str,
    ) -> Result<Answer> {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("Accept", accept);
        if let (Auth::Admin, Some(c)) = (auth, &self.credentials) {
            let pair = format!("{}:{}", c.username, c.password);
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            req = req.header("Authorization", format!("Basic {basic}"));
        }
        let bytes = match body {
            Body::Empty => Vec::new(),
            Body::Json(b) => {
                req = req.header("Content-Type", "application/json");
                b
            }
            Body::NewJson(b) => {
                req = req
                    .header("Content-Type", "application/json")
                    .header("If-None-Match", "*");
                b
            }
            Body::Form(f) => {
                req = req.header("Content-Type", "application/x-www-form-urlencoded");
                f.into_bytes()
            }
        };
        let req = req
            .body(bytes)
            .map_err(|e| Error::InvalidUrl(format!("{}: {e}", shown_url(url))))?;
        let resp = self.agent.run(req).map_err(|e| self.transport(url, e))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let location = resp
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .map(shown_url);
        let body = resp
            .into_body()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Error::BadResponse {
                    status,
                    reason: format!("an answer larger than {} MiB", MAX_ANSWER >> 20),
                },
                e => self.transport(url, e),
            })?;
        Ok(Answer {
            status,
            content_type,
            location,
            body,
        })
    }

    fn transport(&self, url: &str, e: ureq::Error) -> Error {
        let url = shown_url(url);
        let unreachable = |reason: String| Error::Unreachable {
            url: url.clone(),
            reason,
        };
        match e {
            ureq::Error::Timeout(_) => Error::Timeout {
                url,
                after: self.timeout,
            },
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Error::Timeout {
                url,
                after: self.timeout,
            },
            // rustls reports a refused certificate as an io error of kind InvalidData.
            ureq::Error::Io(io)
                if url.starts_with("https://") && io.kind() == std::io::ErrorKind::InvalidData =>
            {
                Error::Tls {
                    url,
                    reason: io.to_string(),
                }
            }
            ureq::Error::Io(io) => unreachable(io.to_string()),
            ureq::Error::HostNotFound => unreachable("host not found".to_string()),
            ureq::Error::ConnectionFailed => unreachable("connection failed".to_string()),
            ureq::Error::Tls(m) => Error::Tls {
                url,
                reason: m.to_string(),
            },
            ureq::Error::Rustls(r) => Error::Tls {
                url,
                reason: r.to_string(),
            },
            // ureq's text repeats the URL unmasked.
            ureq::Error::BadUri(_) => Error::InvalidUrl(format!("{url}: not a valid URL")),
            ureq::Error::Protocol(p) => Error::BadResponse {
                status: 0,
                reason: format!("not HTTP: {p}"),
            },
            other => unreachable(other.to_string()),
        }
    }
}

fn token_form(token: &str) -> Body {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token);
    Body::Form(form.finish())
}

fn parse<T: DeserializeOwned>(status: u16, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| Error::BadResponse {
        status,
        reason: format!("not the JSON expected ({e})"),
    })
}

/// An empty or JSON body; anything else is not the API's.
fn expect_success(status: u16, body: &str) -> Result<()> {
    if body.trim().is_empty() {
        return Ok(());
    }
    parse::<Value>(status, body).map(drop)
}

/// The message of an error body: cornice's `{"status": "error", "errors": [...]}`, or
/// OAuth's `{"error", "error_description"}`; else the status alone. A field of the body
/// or query is named in front of its problem.
fn refusal_message(status: u16, body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if let Some(errors) = v.get("errors").and_then(Value::as_array) {
        let parts: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                let description = e.get("description")?.as_str()?;
                let field = matches!(
                    e.get("location").and_then(Value::as_str),
                    Some("body" | "querystring")
                );
                Some(match e.get("name").and_then(Value::as_str) {
                    Some(name) if field && !name.is_empty() => format!("{name}: {description}"),
                    _ => description.to_string(),
                })
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    if let Some(code) = v.get("error").and_then(Value::as_str) {
        return match v.get("error_description").and_then(Value::as_str) {
            Some(d) if !d.is_empty() => format!("{code}: {d}"),
            _ => code.to_string(),
        };
    }
    reason(status).unwrap_or("no error message").to_string()
}

/// The largest answer read. A registry of 200,000 services fits; an answer is held
/// about three times over while it is parsed, so a larger cap let a server that sends
/// garbage without end take most of a gigabyte.
const MAX_ANSWER: u64 = 32 << 20;

/// A URL as messages show it: masked, and cut short (a 70 KB name makes a 70 KB URL).
fn shown_url(url: &str) -> String {
    const MAX: usize = 200;
    let masked = mask_url(url);
    match masked.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &masked[..cut]),
        None => masked,
    }
}

/// `url` with the password of its user info and the values of secret query parameters
/// (named in any case, percent-encoded or not) replaced by `***`. The user info ends at
/// the last `@` before the query, so a password holding `/` is masked too.
pub fn mask_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let head = match head.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((user, host)) => {
                let name = user.split([':', '/']).next().unwrap_or("");
                format!("{scheme}://{name}:***@{host}")
            }
            None => head.to_string(),
        },
        None => head.to_string(),
    };
    let Some(query) = query else { return head };
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if secret_param(k) => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{head}?{}", masked.join("&"))
}

fn secret_param(key: &str) -> bool {
    let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
    SECRET_PARAMS.iter().any(|p| key.eq_ignore_ascii_case(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_come_from_either_json_shape() {
        let cornice = r#"{"status": "error", "errors": [{"location": "body", "name": "url", "description": "must be an http:// URL"}]}"#;
        assert_eq!(refusal_message(400, cornice), "url: must be an http:// URL");
        let auth = r#"{"status":"error","errors":[{"location":"header","name":"Authorization","description":"Admin credentials (HTTP Basic) are missing or wrong"}]}"#;
        assert_eq!(
            refusal_message(401, auth),
            "Admin credentials (HTTP Basic) are missing or wrong"
        );
        let named = r#"{"status":"error","errors":[{"location":"path","name":"name","description":"No service named x"}]}"#;
        assert_eq!(refusal_message(404, named), "No service named x");
        assert_eq!(
            refusal_message(401, r#"{"error": "invalid_client"}"#),
            "invalid_client"
        );
        assert_eq!(
            refusal_message(
                400,
                r#"{"error": "invalid_request", "error_description": "Missing token parameter."}"#
            ),
            "invalid_request: Missing token parameter."
        );
        assert_eq!(
            refusal_message(401, "<html>401 Unauthorized</html>"),
            "Unauthorized"
        );
        assert_eq!(
            Error::Refused {
                status: 404,
                message: "No service named x".into()
            }
            .to_string(),
            "404 Not Found: No service named x"
        );
        assert_eq!(
            Error::Refused {
                status: 404,
                message: "Not Found: /x".into()
            }
            .to_string(),
            "404 Not Found: /x"
        );
    }

    #[test]
    fn traces_mask_secrets() {
        assert_eq!(
            mask_url("http://h/oauth/token?grant_type=x&client_secret=s3&access_token=t"),
            "http://h/oauth/token?grant_type=x&client_secret=***&access_token=***"
        );
        assert_eq!(
            mask_url("https://admin:pw@h:8/services"),
            "https://admin:***@h:8/services"
        );
        assert_eq!(
            mask_url("http://h/oauth/client?name=a"),
            "http://h/oauth/client?name=a"
        );
        assert_eq!(
            mask_url("http://u:p/ss@kc/certs?apiKey=1&API_KEY=2&Token=3&%61pi_key=4&a=5"),
            "http://u:***@kc/certs?apiKey=***&API_KEY=***&Token=***&%61pi_key=***&a=5"
        );
    }

    #[test]
    fn the_proxy_path_comes_from_the_front_page_links() {
        let page = |info: &str, proxy: Option<&str>| FrontPage {
            information_uri: info.to_string(),
            owsproxy_uri: proxy.map(str::to_string),
        };
        assert_eq!(
            page("http://h:8000/info", Some("http://h:8000/ows/proxy")).proxy_path(),
            Some("/ows/proxy".to_string())
        );
        // A public URL with a path prefix, behind a front proxy.
        assert_eq!(
            page(
                "https://pub/twitcher/info",
                Some("https://pub/twitcher/secure/proxy/")
            )
            .proxy_path(),
            Some("/secure/proxy".to_string())
        );
        assert_eq!(
            page("weird", Some("https://other/x/proxy")).proxy_path(),
            Some("/x/proxy".to_string())
        );
        assert_eq!(page("http://h/info", None).proxy_path(), None);
    }

    #[test]
    fn base_url_must_be_http_and_loses_its_trailing_slash() {
        let settings = |u: &str| Settings {
            base_url: u.to_string(),
            credentials: None,
            insecure: false,
            timeout: Duration::from_secs(1),
        };
        assert!(matches!(
            Client::new(settings("localhost:8000")),
            Err(Error::InvalidUrl(_))
        ));
        let c = Client::new(settings("https://h/twitcher/")).unwrap();
        assert_eq!(c.base_url(), "https://h/twitcher");
    }
}
