//! Settings: defaults < INI file (`[app:main]`, `[server:main]`) < `TWITCHER_*` environment < flags.

pub mod cidr;
mod ini;
pub mod keys;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::auth::password;
use ini::Ini;
use keys::{KEYS, Kind};

/// Where a value came from, shown by `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    Ini,
    Env(&'static str),
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Ini => f.write_str("ini"),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag => f.write_str("flag"),
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub values: Vec<(&'static str, String)>,
}

/// Every key of the table with its value and origin, before validation.
#[derive(Debug)]
pub struct Raw {
    values: BTreeMap<&'static str, (String, Source)>,
    pub config_file: Option<PathBuf>,
    /// Keys that look like ours but are not known, and other things worth a line on stderr.
    pub warnings: Vec<String>,
}

impl Raw {
    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map(|(v, _)| v.as_str()).unwrap_or("")
    }

    pub fn source(&self, name: &str) -> Source {
        self.values
            .get(name)
            .map(|(_, s)| s.clone())
            .unwrap_or(Source::Default)
    }

    fn set(&mut self, name: &'static str, value: String, source: Source) {
        self.values.insert(name, (value, source));
    }

    /// Rows of `key, shown value, source`, with secrets masked. A key left empty shows
    /// the value in `derived` instead, so the report is what is in force.
    pub fn report(&self, derived: &[Derived]) -> Vec<(&'static str, String, String)> {
        KEYS.iter()
            .map(|k| {
                let v = self.get(k.name);
                if v.trim().is_empty()
                    && let Some(d) = derived.iter().find(|d| d.key == k.name)
                {
                    return (k.name, d.value.clone(), format!("derived from {}", d.from));
                }
                let shown = match k.kind {
                    Kind::Secret if v.is_empty() => "(not set)".to_string(),
                    Kind::Secret => "******** (set)".to_string(),
                    // A URL's password and secret query parameters (a JWKS behind a key).
                    _ if v.contains("://") => crate::client::mask_url(v),
                    _ => v.to_string(),
                };
                (k.name, shown, self.source(k.name).to_string())
            })
            .collect()
    }
}

/// A value the server works out for a key left empty.
#[derive(Debug, Clone)]
pub struct Derived {
    pub key: &'static str,
    pub value: String,
    pub from: &'static str,
}

/// The config file could not be read or parsed at all.
#[derive(Debug)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Gathers values from all sources. `env` is a parameter so tests need not touch the process.
pub fn load(over: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Raw, LoadError> {
    let mut raw = Raw {
        values: KEYS
            .iter()
            .map(|k| (k.name, (k.default.to_string(), Source::Default)))
            .collect(),
        config_file: None,
        warnings: Vec::new(),
    };
    let config = over.config.clone().or_else(|| {
        env("TWITCHER_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = config {
        read_ini(&mut raw, &path)?;
        raw.config_file = Some(path);
    }
    for k in KEYS {
        if let Some(v) = env(k.env) {
            raw.set(k.name, v, Source::Env(k.env));
        }
    }
    for (name, value) in &over.values {
        raw.set(name, value.clone(), Source::Flag);
    }
    Ok(raw)
}

fn read_ini(raw: &mut Raw, path: &Path) -> Result<(), LoadError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError(format!("cannot read config file {}: {e}", path.display())))?;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let here = abs
        .parent()
        .unwrap_or(Path::new("/"))
        .to_string_lossy()
        .to_string();
    let file = abs.to_string_lossy().to_string();
    let ini = Ini::parse(&text, &[("here", &here), ("__file__", &file)])
        .map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
    let app_section = if ini.has_section("app:main") {
        "app:main".to_string()
    } else {
        ini.section_names()
            .find(|n| n.starts_with("app:"))
            .map(str::to_string)
            .ok_or_else(|| LoadError(format!("{}: no [app:main] section", path.display())))?
    };
    let app = ini
        .items(&app_section)
        .map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
    if let Some(url) = app.get("sqlalchemy.url") {
        match sqlite_path_from_url(url) {
            Ok(p) => raw.set("twitcher.db", p, Source::Ini),
            Err(m) => {
                return Err(LoadError(format!(
                    "{}: sqlalchemy.url: {m}",
                    path.display()
                )));
            }
        }
    }
    for (k, v) in &app {
        if let Some(key) = keys::find(k) {
            raw.set(key.name, v.clone(), Source::Ini);
        } else if (k.starts_with("twitcher.") || k.starts_with("keycloak.")) && k != "twitcher.db" {
            raw.warnings.push(format!(
                "{}: unknown setting `{k}` is ignored",
                path.display()
            ));
        }
    }
    if ini.has_section("server:main") {
        let server = ini
            .items("server:main")
            .map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
        if let Some(bind) = bind_from_server_section(&server) {
            raw.set("twitcher.bind", bind, Source::Ini);
        }
    }
    Ok(())
}

/// SQLAlchemy's `sqlite:///relative` and `sqlite:////absolute` URLs name a file.
fn sqlite_path_from_url(url: &str) -> Result<String, String> {
    let Some(rest) = url.strip_prefix("sqlite:///") else {
        let scheme = url.split(':').next().unwrap_or("");
        return Err(format!(
            "only sqlite:///PATH URLs are supported, not `{scheme}:`; twitcher keeps its state in one SQLite file"
        ));
    };
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return Err("an in-memory database would lose every registration; name a file".into());
    }
    Ok(path.to_string())
}

/// waitress uses `host`/`port` or `listen`; gunicorn uses `bind`.
fn bind_from_server_section(s: &BTreeMap<String, String>) -> Option<String> {
    let first = |v: &str| v.split_whitespace().next().map(str::to_string);
    if let Some(b) = s.get("bind").and_then(|v| first(v)) {
        return Some(b);
    }
    if let Some(l) = s.get("listen").and_then(|v| first(v)) {
        return Some(match l.strip_prefix("*:") {
            Some(port) => format!("0.0.0.0:{port}"),
            None => l,
        });
    }
    match (s.get("host"), s.get("port")) {
        (Some(h), Some(p)) => Some(format!("{h}:{p}")),
        (None, Some(p)) => Some(format!("0.0.0.0:{p}")),
        (Some(h), None) => Some(format!("{h}:8080")),
        (None, None) => None,
    }
}

/// `http://HOST:PORT` for the bound address; an unspecified address becomes loopback.
pub fn derived_url(local: SocketAddr) -> String {
    let port = local.port();
    match local {
        SocketAddr::V4(a) if a.ip().is_unspecified() => format!("http://127.0.0.1:{port}"),
        SocketAddr::V4(a) => format!("http://{}:{port}", a.ip()),
        SocketAddr::V6(a) if a.ip().is_unspecified() => format!("http://[::1]:{port}"),
        SocketAddr::V6(a) => format!("http://[{}]:{port}", a.ip()),
    }
}

/// Validated, typed settings of the server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Public base URL without a trailing slash; None until derived from the bound address.
    pub url: Option<String>,
    pub bind: String,
    pub db: PathBuf,
    pub workers: usize,
    pub max_body_size: u64,
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub basicauth: bool,
    pub username: String,
    pub password: Option<String>,
    pub ows_security: bool,
    pub ows_proxy: bool,
    pub ows_proxy_protected_path: String,
    pub oauth: bool,
    /// Peers whose X-Ssl-Client-Verify and X-Forwarded-* headers are believed.
    pub trusted_proxies: Vec<cidr::Cidr>,
    pub proxy: ProxySettings,
    pub token: TokenSettings,
}

/// `twitcher.proxy.*`: how the OWS proxy talks to backends.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub forward_authorization: bool,
    pub pass_identity: bool,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub rewrite_max_size: u64,
    /// Lower case; `*` for any.
    pub cors_origins: Vec<String>,
}

/// `twitcher.token.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Random,
    Custom,
    Signed,
    Keycloak,
}

impl TokenKind {
    pub fn parse(v: &str) -> Option<TokenKind> {
        match v {
            "random_token" => Some(TokenKind::Random),
            "custom_token" => Some(TokenKind::Custom),
            "signed_token" => Some(TokenKind::Signed),
            "keycloak_token" => Some(TokenKind::Keycloak),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Random => "random_token",
            TokenKind::Custom => "custom_token",
            TokenKind::Signed => "signed_token",
            TokenKind::Keycloak => "keycloak_token",
        }
    }
}

/// `twitcher.token.*` and `keycloak.*`: what tokens are and how they are checked.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub kind: TokenKind,
    pub expires_in: u64,
    pub secret: Option<String>,
    pub issuer: String,
    pub keyfile: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    /// Public keys of former signing keys, still accepted and published.
    pub retired_certfiles: Vec<PathBuf>,
    pub leeway: u64,
    pub keycloak: KeycloakSettings,
}

#[derive(Debug, Clone)]
pub struct KeycloakSettings {
    /// Base URL without a trailing slash.
    pub url: Option<String>,
    pub realm: String,
    /// The realm's public key as Keycloak shows it: base64 DER without armour.
    pub public_key: Option<String>,
    pub jwks_url: Option<String>,
    pub audience: Option<String>,
    pub issuer: Option<String>,
    pub jwks_min_interval: Duration,
}

/// Collects one message per invalid key, so `config check` can list them all.
struct Checker<'a> {
    raw: &'a Raw,
    errors: Vec<String>,
}

impl Checker<'_> {
    fn fail(&mut self, key: &str, msg: impl fmt::Display) {
        let origin = match self.raw.source(key) {
            Source::Env(name) => format!(" (from {name})"),
            Source::Flag => " (from a flag)".to_string(),
            Source::Ini => " (from the config file)".to_string(),
            Source::Default => String::new(),
        };
        self.errors.push(format!("{key}{origin}: {msg}"));
    }

    fn text(&self, key: &str) -> String {
        self.raw.get(key).trim().to_string()
    }

    fn bool(&mut self, key: &str) -> bool {
        match parse_bool(self.raw.get(key)) {
            Some(b) => b,
            None => {
                self.fail(
                    key,
                    format!(
                        "`{}` is not a boolean (true/false, yes/no, on/off, 1/0)",
                        self.raw.get(key)
                    ),
                );
                false
            }
        }
    }

    fn int(&mut self, key: &str) -> u64 {
        let Some(k) = keys::find(key) else { return 0 };
        let Kind::Int(lo, hi) = k.kind else { return 0 };
        match self.raw.get(key).trim().parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => n,
            _ => {
                self.fail(
                    key,
                    format!(
                        "`{}` is not a whole number from {lo} to {hi}",
                        self.raw.get(key)
                    ),
                );
                lo
            }
        }
    }

    fn size(&mut self, key: &str) -> u64 {
        match parse_size(self.raw.get(key)) {
            Some(n) if n > 0 => n,
            _ => {
                self.fail(
                    key,
                    format!(
                        "`{}` is not a size such as 16M, 512K or 1048576",
                        self.raw.get(key)
                    ),
                );
                0
            }
        }
    }
}

/// Python's `pyramid.settings.asbool` words.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "y" | "t" | "1" => Some(true),
        "false" | "no" | "off" | "n" | "f" | "0" => Some(false),
        _ => None,
    }
}

fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, mult) = match v.char_indices().last()? {
        (i, 'k' | 'K') => (&v[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&v[..i], 1 << 20),
        (i, 'g' | 'G') => (&v[..i], 1 << 30),
        _ => (v, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// Paths that the server routes itself; the OWS prefix may not shadow them.
const RESERVED_PREFIXES: &[&str] = &[
    "/services",
    "/oauth",
    "/info",
    "/versions",
    "/__api__",
    "/api-explorer",
    "/healthz",
    "/readyz",
    "/stats",
    "/metrics",
    "/settings",
];

/// `twitcher.workers` when left empty: most requests wait on a backend, not a CPU.
const WORKERS_PER_CPU: usize = 32;

impl Settings {
    /// What the keys left empty become: the worker count, and the public URL from the
    /// address bound (`bound`), or from `twitcher.bind` when it is an IP address.
    pub fn derived(&self, bound: Option<SocketAddr>) -> Vec<Derived> {
        let mut derived = vec![Derived {
            key: "twitcher.workers",
            value: self.workers.to_string(),
            from: "the CPU count",
        }];
        let addr = match bound {
            Some(a) => Some((a, "the bound address")),
            None => self.bind.parse().ok().map(|a| (a, "twitcher.bind")),
        };
        if let Some((addr, from)) = addr {
            derived.push(Derived {
                key: "twitcher.url",
                value: derived_url(addr),
                from,
            });
        }
        derived
    }

    pub fn from_raw(raw: &Raw) -> Result<Settings, Vec<String>> {
        let mut c = Checker {
            raw,
            errors: Vec::new(),
        };
        let url = c.text("twitcher.url");
        let url = if url.is_empty() {
            None
        } else if valid_http_url(&url) {
            Some(url.trim_end_matches('/').to_string())
        } else {
            c.fail(
                "twitcher.url",
                format!("`{url}` is not an http(s) URL with a host"),
            );
            None
        };
        let bind = c.text("twitcher.bind");
        if let Err(m) = check_bind(&bind) {
            c.fail("twitcher.bind", m);
        }
        let db = c.text("twitcher.db");
        if db.is_empty() {
            c.fail("twitcher.db", "must name a file");
        }
        let workers = if raw.get("twitcher.workers").trim().is_empty() {
            std::thread::available_parallelism()
                .map_or(WORKERS_PER_CPU, |n| n.get() * WORKERS_PER_CPU)
        } else {
            c.int("twitcher.workers") as usize
        };
        let max_body_size = c.size("twitcher.max_body_size");
        let max_connections = c.int("twitcher.max_connections") as usize;
        let idle_timeout = Duration::from_secs(c.int("twitcher.idle_timeout"));
        let shutdown_timeout = Duration::from_secs(c.int("twitcher.shutdown_timeout"));
        let basicauth = c.bool("twitcher.basicauth");
        let username = c.text("twitcher.username");
        if username.is_empty() || username.contains(':') {
            c.fail("twitcher.username", "must be non-empty and without `:`");
        }
        let password = Some(raw.get("twitcher.password").to_string()).filter(|p| !p.is_empty());
        if let Some(Err(why)) = password
            .as_deref()
            .filter(|p| password::is_hash(p))
            .map(password::check_hash)
        {
            c.fail(
                "twitcher.password",
                format!("starts as a pbkdf2-sha256 hash, but {why}"),
            );
        }
        let adapter = c.text("twitcher.adapter");
        if adapter != "default" {
            c.fail(
                "twitcher.adapter",
                format!("`{adapter}` cannot be loaded: only the built-in `default` adapter exists"),
            );
        }
        let ows_security = c.bool("twitcher.ows_security");
        let ows_proxy = c.bool("twitcher.ows_proxy");
        let oauth = c.bool("twitcher.oauth");
        let path = c.text("twitcher.ows_proxy_protected_path");
        let path = path.trim_end_matches('/').to_string();
        let path_ok = path.starts_with('/')
            && path.len() > 1
            && path[1..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
            && !path.contains("//");
        if !path_ok {
            c.fail(
                "twitcher.ows_proxy_protected_path",
                format!("`{path}` is not a path such as /ows"),
            );
        } else if let Some(r) = RESERVED_PREFIXES
            .iter()
            .find(|r| path == **r || path.starts_with(&format!("{r}/")))
        {
            c.fail(
                "twitcher.ows_proxy_protected_path",
                format!("`{path}` would hide the built-in {r} endpoints"),
            );
        }
        let trusted_proxies =
            cidr::parse_list(raw.get("twitcher.trusted_proxies")).unwrap_or_else(|m| {
                c.fail("twitcher.trusted_proxies", m);
                Vec::new()
            });
        let proxy = ProxySettings {
            forward_authorization: c.bool("twitcher.proxy.forward_authorization"),
            pass_identity: c.bool("twitcher.proxy.pass_identity"),
            connect_timeout: Duration::from_secs(c.int("twitcher.proxy.connect_timeout")),
            timeout: Duration::from_secs(c.int("twitcher.proxy.timeout")),
            rewrite_max_size: c.size("twitcher.proxy.rewrite_max_size"),
            cors_origins: cors_origins(raw.get("twitcher.proxy.cors_origins")).unwrap_or_else(
                |m| {
                    c.fail("twitcher.proxy.cors_origins", m);
                    Vec::new()
                },
            ),
        };
        let token = token_settings(&mut c);
        if !c.errors.is_empty() {
            return Err(c.errors);
        }
        Ok(Settings {
            url,
            bind,
            db: PathBuf::from(db),
            workers,
            max_body_size,
            max_connections,
            idle_timeout,
            shutdown_timeout,
            basicauth,
            username,
            password,
            ows_security,
            ows_proxy,
            ows_proxy_protected_path: path,
            oauth,
            trusted_proxies,
            proxy,
            token,
        })
    }
}

/// `twitcher.proxy.cors_origins`: `*`, or origins as browsers send them, a scheme and
/// a host with an optional port and nothing after.
fn cors_origins(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for o in text.split([',', ' ', '\t']).filter(|o| !o.is_empty()) {
        let host = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"));
        let ok = o == "*"
            || host.is_some_and(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            });
        if !ok {
            return Err(format!(
                "`{o}` is not an origin such as https://app.example.org, nor *"
            ));
        }
        out.push(o.to_ascii_lowercase());
    }
    Ok(out)
}

fn non_empty(v: String) -> Option<String> {
    Some(v).filter(|v| !v.is_empty())
}

/// An optional http(s) URL setting, without a trailing slash.
fn optional_url(c: &mut Checker, key: &str) -> Option<String> {
    let url = non_empty(c.text(key))?;
    if valid_http_url(&url) {
        Some(url.trim_end_matches('/').to_string())
    } else {
        c.fail(
            key,
            format!(
                "`{}` is not an http(s) URL with a host",
                crate::client::mask_url(&url)
            ),
        );
        None
    }
}

fn token_settings(c: &mut Checker) -> TokenSettings {
    let kind_text = c.text("twitcher.token.type");
    let kind = TokenKind::parse(&kind_text).unwrap_or_else(|| {
        c.fail(
            "twitcher.token.type",
            format!(
                "`{kind_text}` is not one of random_token, custom_token, signed_token, keycloak_token"
            ),
        );
        TokenKind::Random
    });
    let secret = non_empty(c.raw.get("twitcher.token.secret").to_string());
    let keyfile = non_empty(c.text("twitcher.token.keyfile")).map(PathBuf::from);
    let certfile = non_empty(c.text("twitcher.token.certfile")).map(PathBuf::from);
    // A list, one path per line or separated by spaces, as Pyramid's `aslist`.
    let retired_certfiles = c
        .text("twitcher.token.retired_certfiles")
        .split_whitespace()
        .map(PathBuf::from)
        .collect();
    let realm = c.text("keycloak.realm");
    if realm.is_empty()
        || !realm
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        c.fail(
            "keycloak.realm",
            format!("`{realm}` is not a realm name (letters, digits, - . _ ~)"),
        );
    }
    let keycloak = KeycloakSettings {
        url: optional_url(c, "keycloak.url"),
        realm,
        public_key: non_empty(c.text("keycloak.token.secret")),
        jwks_url: optional_url(c, "keycloak.jwks_url"),
        audience: non_empty(c.text("keycloak.audience")),
        issuer: non_empty(c.text("keycloak.issuer")),
        jwks_min_interval: Duration::from_secs(c.int("keycloak.jwks_min_interval")),
    };
    match kind {
        TokenKind::Custom if secret.is_none() => c.fail(
            "twitcher.token.secret",
            "custom_token needs a secret to sign and check tokens; `twitcher gensecret` prints one",
        ),
        TokenKind::Signed if keyfile.is_none() && certfile.is_none() => c.fail(
            "twitcher.token.keyfile",
            "signed_token needs a private key (or, to only check tokens, twitcher.token.certfile); `twitcher gencert` writes a pair",
        ),
        TokenKind::Keycloak
            if keycloak.jwks_url.is_none()
                && keycloak.url.is_none()
                && keycloak.public_key.is_none() =>
        {
            c.fail(
                "keycloak.url",
                "keycloak_token needs keycloak.url, keycloak.jwks_url or keycloak.token.secret to find the realm's keys",
            )
        }
        _ => {}
    }
    TokenSettings {
        kind,
        expires_in: c.int("twitcher.token.expires_in"),
        secret,
        issuer: c.text("twitcher.token.issuer"),
        keyfile,
        certfile,
        retired_certfiles,
        leeway: c.int("twitcher.token.leeway"),
        keycloak,
    }
}

pub fn valid_http_url(url: &str) -> bool {
    if url.chars().any(char::is_control) {
        return false;
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(r) => {
            let authority = r.split(['/', '?', '#']).next().unwrap_or("");
            let host_port = authority.rsplit('@').next().unwrap_or("");
            !host_port.chars().any(char::is_whitespace) && host_and_port_ok(host_port)
        }
        None => false,
    }
}

/// `host`, `host:port` or `[v6]:port`, with a port from 1 to 65535 when one is given: a
/// URL that no connection can be made to is refused when it is stored, not at each use.
fn host_and_port_ok(host_port: &str) -> bool {
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, after)) => match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return false,
            },
            None => return false,
        },
        None => match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    let port_ok = |p: &str| {
        p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
    };
    !host.is_empty() && port.is_none_or(port_ok)
}

fn check_bind(bind: &str) -> Result<(), String> {
    let (host, port) = bind
        .rsplit_once(':')
        .ok_or_else(|| format!("`{bind}` is not HOST:PORT"))?;
    if host.is_empty() {
        return Err(format!(
            "`{bind}` has no host (use 0.0.0.0:PORT for all addresses)"
        ));
    }
    port.parse::<u16>()
        .map_err(|_| format!("`{port}` in `{bind}` is not a port number"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_alone_are_valid() {
        let raw = load(&Overrides::default(), &env_of(&[])).unwrap();
        let s = Settings::from_raw(&raw).unwrap();
        assert_eq!(s.bind, "127.0.0.1:8000");
        assert_eq!(s.db, PathBuf::from("twitcher.sqlite"));
        assert_eq!(s.max_body_size, 16 << 20);
        assert_eq!(s.username, "admin");
        assert!(s.password.is_none() && s.url.is_none());
    }

    #[test]
    fn the_report_shows_what_empty_keys_become() {
        let raw = load(&Overrides::default(), &env_of(&[])).unwrap();
        let s = Settings::from_raw(&raw).unwrap();
        let row = |derived: &[Derived], key: &str| {
            let rows = raw.report(derived);
            let (_, value, source) = rows.into_iter().find(|(k, _, _)| *k == key).unwrap();
            (value, source)
        };
        assert_eq!(
            row(&s.derived(None), "twitcher.url"),
            (
                "http://127.0.0.1:8000".into(),
                "derived from twitcher.bind".into()
            )
        );
        let bound = "0.0.0.0:4321".parse().ok();
        assert_eq!(
            row(&s.derived(bound), "twitcher.url"),
            (
                "http://127.0.0.1:4321".into(),
                "derived from the bound address".into()
            )
        );
        let (workers, source) = row(&s.derived(None), "twitcher.workers");
        assert_eq!(workers, s.workers.to_string());
        assert!(
            s.workers >= 32 && source.starts_with("derived from"),
            "{source}"
        );
        // A key given a value shows it, derived or not.
        let raw = load(
            &Overrides::default(),
            &env_of(&[("TWITCHER_PUBLIC_URL", "https://x.org")]),
        )
        .unwrap();
        assert_eq!(
            raw.report(&s.derived(None))
                .into_iter()
                .find(|(k, _, _)| *k == "twitcher.url")
                .unwrap(),
            (
                "twitcher.url",
                "https://x.org".into(),
                "env TWITCHER_PUBLIC_URL".into()
            )
        );
    }

    #[test]
    fn precedence_is_default_ini_env_flag() {
        let dir = std::env::temp_dir().join(format!("tw-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ini = dir.join("t.ini");
        std::fs::write(
            &ini,
            "[app:main]\nsqlalchemy.url = sqlite:///%(here)s/x.sqlite\ntwitcher.workers = 3\ntwitcher.username = ini\npyramid.foo = 1\ntwitcher.nonsense = 1\n[server:main]\nlisten = *:9000\n",
        )
        .unwrap();
        let over = Overrides {
            config: Some(ini.clone()),
            values: vec![("twitcher.workers", "5".into())],
        };
        let raw = load(
            &over,
            &env_of(&[("TWITCHER_USERNAME", "env"), ("TWITCHER_WORKERS", "4")]),
        )
        .unwrap();
        let s = Settings::from_raw(&raw).unwrap();
        assert_eq!(s.db, dir.join("x.sqlite"));
        assert_eq!(s.bind, "0.0.0.0:9000");
        assert_eq!(s.username, "env");
        assert_eq!(s.workers, 5);
        assert_eq!(raw.source("twitcher.workers"), Source::Flag);
        assert_eq!(raw.warnings.len(), 1, "{:?}", raw.warnings);
        assert!(raw.warnings[0].contains("twitcher.nonsense"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn server_section_forms() {
        let m = |pairs: &[(&str, &str)]| {
            bind_from_server_section(
                &pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        assert_eq!(
            m(&[("host", "0.0.0.0"), ("port", "8000")]).unwrap(),
            "0.0.0.0:8000"
        );
        assert_eq!(
            m(&[("listen", "localhost:6543 [::1]:6543")]).unwrap(),
            "localhost:6543"
        );
        assert_eq!(m(&[("bind", "127.0.0.1:8000")]).unwrap(), "127.0.0.1:8000");
        assert_eq!(m(&[]), None);
    }

    #[test]
    fn every_invalid_value_is_one_line_naming_its_key() {
        let over = Overrides {
            config: None,
            values: vec![
                ("twitcher.bind", "nope".into()),
                ("twitcher.basicauth", "maybe".into()),
                ("twitcher.max_body_size", "lots".into()),
                ("twitcher.ows_proxy_protected_path", "/services".into()),
                ("twitcher.adapter", "magpie.adapter.MagpieAdapter".into()),
                ("twitcher.url", "ftp://x".into()),
                ("twitcher.password", "pbkdf2-sha256$garbage".into()),
            ],
        };
        let raw = load(&over, &env_of(&[])).unwrap();
        let errs = Settings::from_raw(&raw).unwrap_err();
        assert_eq!(errs.len(), 7, "{errs:#?}");
        for (e, k) in errs.iter().zip([
            "twitcher.url",
            "twitcher.bind",
            "twitcher.max_body_size",
            "twitcher.basicauth",
            "twitcher.password",
            "twitcher.adapter",
            "twitcher.ows_proxy_protected_path",
        ]) {
            assert!(e.starts_with(k), "{e} should name {k}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn cors_origins_are_origins_or_a_star() {
        assert_eq!(
            cors_origins("https://App.example, http://[::1]:8080  *").unwrap(),
            ["https://app.example", "http://[::1]:8080", "*"]
        );
        assert!(cors_origins("").unwrap().is_empty());
        for bad in [
            "app.example",
            "https://",
            "https://app.example/",
            "https://app.example/path",
            "ftp://app.example",
            "null",
        ] {
            let e = cors_origins(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn sqlalchemy_urls() {
        assert_eq!(sqlite_path_from_url("sqlite:///rel.db").unwrap(), "rel.db");
        assert_eq!(
            sqlite_path_from_url("sqlite:////abs/x.db").unwrap(),
            "/abs/x.db"
        );
        assert!(sqlite_path_from_url("postgresql://u@h/db").is_err());
        assert!(sqlite_path_from_url("sqlite://").is_err());
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("x"), None);
    }
}
