//! The HTTP server: a tiny_http listener whose connection threads run the requests,
//! a gate that bounds how many run at once, and graceful shutdown.

pub mod access_log;
pub mod app;
pub mod errors;
pub mod front;
mod gate;
pub mod http;
pub mod oauth_api;
pub mod openapi;
pub mod ows_api;
pub mod registry_api;
mod rewrite_bases;
pub mod routes;
mod signals;
mod socket;
pub mod stats;

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use app::App;
use http::{Body, Request, Response, push_header_line, valid_header_name, valid_header_value};
use routes::Route;

use crate::auth::admin::AdminAuth;
use crate::auth::password;
use crate::auth::tokens::TokenService;
use crate::config::{Raw, Settings};
use crate::log;
use crate::proxy::upstream::Upstream;
use crate::store::Store;
use crate::store::cache::ServiceCache;
use crate::store::sqlite::{OpenError, SqliteStore};

/// Where the generated admin password's hash is kept.
pub const ADMIN_HASH_KEY: &str = "admin_password_hash";

/// Set in the environment to add routes that only the test suite uses.
const TEST_HOOKS_ENV: &str = "TWITCHER_TEST_HOOKS";

/// Runs the server until SIGTERM or SIGINT; returns the process exit code. `raw` is
/// what the settings were made from, for `GET /settings`.
pub fn serve(raw: &Raw, settings: Settings) -> i32 {
    // Before any thread exists, so every thread inherits the mask and only
    // `signals::wait` sees the signals.
    signals::block_termination();

    // Settings, then the socket, before the database is created or an admin password
    // generated: a start that fails leaves nothing behind.
    let keys = match TokenService::load_keys(&settings.token) {
        Ok(k) => k,
        Err(errors) => {
            for e in errors {
                log::error(&format!("invalid setting {e}"));
            }
            return 2;
        }
    };
    let listener = match socket::bind(&settings.bind, settings.idle_timeout) {
        Ok(l) => l,
        Err(e) => {
            log::error(&format!(
                "cannot listen on {}: {e} (another address: --bind HOST:PORT, \
                 twitcher.bind in the INI file, or TWITCHER_BIND)",
                settings.bind
            ));
            return 1;
        }
    };
    let store = match SqliteStore::open(&settings.db) {
        Ok((store, migrated)) => {
            if migrated.from != migrated.to {
                log::info(&format!(
                    "database {}: schema version {} -> {}",
                    settings.db.display(),
                    migrated.from,
                    migrated.to
                ));
            }
            Arc::new(store)
        }
        Err(e @ (OpenError::PythonSchema { .. } | OpenError::TooNew { .. })) => {
            log::error(&e.to_string());
            return 2;
        }
        Err(e) => {
            log::error(&e.to_string());
            return 1;
        }
    };
    let admin = match admin_auth(&settings, store.as_ref()) {
        Ok(a) => a,
        Err(e) => {
            log::error(&e);
            return 1;
        }
    };
    let tokens = match TokenService::new(&settings.token, keys, store.clone()) {
        Ok(t) => t,
        Err(e) => {
            log::error(&e);
            return 1;
        }
    };
    socket::raise_fd_limit();
    limit_malloc_arenas();
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            log::error(&format!("cannot read the bound address: {e}"));
            return 1;
        }
    };
    let listener_fd = socket::raw_fd(&listener);
    let url = settings
        .url
        .clone()
        .unwrap_or_else(|| crate::config::derived_url(local));
    let test_hooks = std::env::var_os(TEST_HOOKS_ENV).is_some();
    let oauth = settings.oauth;
    let ows_prefix = settings
        .ows_proxy
        .then_some(settings.ows_proxy_protected_path.as_str());
    let routes: Vec<Route> = routes::table(test_hooks, ows_prefix)
        .into_iter()
        .filter(|r| oauth || !r.pattern.starts_with("/oauth/"))
        .collect();
    let routes = Arc::new(routes);
    let openapi = serde_json::to_vec(&openapi::document(ows_prefix)).unwrap_or_default();
    let workers = settings.workers;
    let limits = tiny_http::Limits {
        max_connections: settings.max_connections,
        server_name: SERVER,
        ..tiny_http::Limits::default()
    };
    let mut derived = settings.derived(Some(local));
    if admin.is_some() && settings.password.is_none() {
        // Generated at the first start, or set by `db reset-password`: not "not set".
        derived.push(crate::config::Derived {
            key: "twitcher.password",
            value: "******** (a hash in the database)".into(),
            from: "the database",
        });
    }
    let settings_report =
        serde_json::to_vec(&front::settings_report(raw, &derived)).unwrap_or_default();
    let app = Arc::new(App {
        via_name: format!("twitcher-{}", crate::auth::secrets::random_hex(4)),
        openapi,
        settings_report,
        url,
        services: ServiceCache::new(store.clone()),
        rewrite_bases: Default::default(),
        stats: stats::Stats::default(),
        upstream: Upstream::new(&settings.proxy, workers),
        store,
        admin,
        tokens,
        settings,
    });
    let gate = Arc::new(gate::Gate::new(workers));
    let handler: tiny_http::Handler = {
        let (app, routes, gate) = (app.clone(), routes.clone(), gate.clone());
        Arc::new(move |rq| {
            // A liveness probe does not queue behind slow backends: the process is alive
            // while every place is taken by a request waiting on one.
            if rq.url() == "/healthz" {
                return handle(&app, &routes, rq);
            }
            match gate.enter() {
                Some(_inside) => handle(&app, &routes, rq),
                None => {
                    let _ = rq.respond(to_tiny(
                        errors::shutting_down(),
                        "-",
                        Arc::new(AtomicU64::new(0)),
                    ));
                }
            }
        })
    };
    // Every request logs a line from here on: one thread writes them.
    log::start_writer();
    // Kept for the server's lifetime: dropping it would close the connections.
    let _server = match tiny_http::Server::from_listener_with_handler(listener, limits, handler) {
        Ok(s) => s,
        Err(e) => {
            log::error(&format!("cannot start the HTTP server: {e}"));
            log::flush(Duration::from_secs(2));
            return 1;
        }
    };
    if test_hooks {
        log::warn(&format!(
            "{TEST_HOOKS_ENV} is set: test-only routes are enabled"
        ));
    }
    if !app.settings.ows_security {
        log::warn(
            "twitcher.ows_security = false: EVERY request to an OWS service is let through, with or without a token",
        );
    }
    if !app.settings.oauth {
        log::info("twitcher.oauth = false: the /oauth endpoints are off");
    }

    // Last, after every warning: tests and scripts wait for this line.
    log::info(&format!(
        "twitcher {} listening on http://{local} (public URL {}, {workers} workers, db {})",
        front::VERSION,
        app.url,
        app.settings.db.display()
    ));
    let signal = signals::wait();
    socket::stop_accepting(listener_fd);
    log::info(&format!(
        "{signal} received: no new connections; finishing requests in flight"
    ));
    signals::exit_on_second_signal();
    let running = gate.drain(Instant::now() + app.settings.shutdown_timeout);
    if running > 0 {
        log::warn(&format!(
            "{running} {} still running after the {}s shutdown timeout; exiting",
            if running == 1 { "request" } else { "requests" },
            app.settings.shutdown_timeout.as_secs()
        ));
    }
    log::info("stopped");
    log::flush(Duration::from_secs(2));
    0
}

/// Picks the admin's credentials; generates and stores a password on first start.
fn admin_auth(settings: &Settings, store: &dyn Store) -> Result<Option<AdminAuth>, String> {
    if !settings.basicauth {
        log::warn("twitcher.basicauth = false: the admin API is open to anyone who can reach it");
        return Ok(None);
    }
    if let Some(p) = &settings.password {
        return Ok(Some(AdminAuth::new(&settings.username, p)));
    }
    let stored = store
        .get_meta(ADMIN_HASH_KEY)
        .map_err(|e| format!("cannot read the admin password hash: {e}"))?;
    let hash = match stored {
        Some(h) => h,
        None => {
            let (plain, hash) = new_admin_password(store)?;
            announce_password(&settings.username, &plain);
            hash
        }
    };
    Ok(Some(AdminAuth::new(&settings.username, &hash)))
}

/// Generates a password, stores its hash, and returns both.
pub fn new_admin_password(store: &dyn Store) -> Result<(String, String), String> {
    let plain = password::generate();
    let hash = password::hash(&plain);
    store
        .set_meta(ADMIN_HASH_KEY, &hash)
        .map_err(|e| format!("cannot store the admin password hash: {e}"))?;
    Ok((plain, hash))
}

/// Shows a generated password once; only its hash is kept.
pub fn announce_password(user: &str, plain: &str) {
    log::info(&format!(
        "generated an admin password; it is shown only now and stored only as a hash:\n\
         \n    user:     {user}\n    password: {plain}\n\n\
         Set twitcher.password (or TWITCHER_PASSWORD) to choose one; \
         `twitcher db reset-password` makes a new one.\n"
    ));
}

/// Rust's allocations go to mimalloc, but SQLite's still go to glibc, which gives
/// threads that allocate at the same time arenas of their own (up to 8 per CPU) and
/// keeps what they free. Two arenas are plenty for the store's few connections.
#[cfg(target_env = "gnu")]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only tunes the allocator; it runs before the server's threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(target_env = "gnu"))]
fn limit_malloc_arenas() {}

/// A request id: the client's `X-Request-Id` when it is sane, else a fresh one.
fn request_id(rq: &tiny_http::Request) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let given = rq
        .headers()
        .iter()
        .find(|h| h.field.equiv("X-Request-Id"))
        .map(|h| h.value.as_str())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    if let Some(v) = given {
        return v.to_string();
    }
    let prefix = PREFIX.get_or_init(|| {
        password::random_bytes(4)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    });
    let mut id = String::with_capacity(prefix.len() + 17);
    id.push_str(prefix);
    id.push('-');
    push_hex(&mut id, COUNTER.fetch_add(1, Ordering::Relaxed));
    id
}

/// Appends `n` in lowercase hex without leading zeros, as `{n:x}` does.
fn push_hex(out: &mut String, n: u64) {
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        out.push(char::from(
            b"0123456789abcdef"[(n >> (i * 4) & 0xf) as usize],
        ));
    }
}

fn handle(app: &App, routes: &[Route], mut rq: tiny_http::Request) {
    let start = Instant::now();
    app.stats.begin();
    let rid = request_id(&rq);
    let (response, method, path, query, peer, service) = {
        let mut req = Request::new(&mut rq, app.settings.max_body_size);
        let response = catch_unwind(AssertUnwindSafe(|| routes::dispatch(app, routes, &mut req)))
            .unwrap_or_else(|_| errors::internal(&rid));
        (
            response,
            req.method,
            req.path,
            req.query,
            req.peer,
            req.service,
        )
    };
    let status = response.status;
    // An answer in memory needs no place to be written: the client may read it slowly,
    // and tiny_http drains what it still sends of an unread body first.
    if matches!(response.body, Body::Empty | Body::Bytes(_)) {
        gate::leave_place();
    }
    let sent = Arc::new(AtomicU64::new(0));
    if let Err(e) = rq.respond(to_tiny(response, &rid, sent.clone())) {
        log::warn(&format!("rid={rid}: sending the response failed: {e}"));
    }
    let (bytes, duration) = (sent.load(Ordering::Relaxed), start.elapsed());
    app.stats.end(&stats::Record {
        status,
        duration,
        bytes,
        service: service.as_deref(),
    });
    access_log::write(&access_log::Entry {
        request_id: &rid,
        peer,
        method: method.as_str(),
        path: &path,
        query: &query,
        status,
        bytes,
        duration,
    });
}

/// Counts the body bytes that went out, for the access log.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type TinyResponse = tiny_http::Response<Box<dyn Read + Send>>;

/// The `Server` header of every response, the HTTP layer's own refusals included.
const SERVER: &str = "twitcher";

/// Headers tiny_http sets or refuses itself: they go through its checks, not the block.
const FRAMING_HEADERS: [&str; 5] = [
    "Connection",
    "Content-Length",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
];

/// The headers go to tiny_http written out as one block: made into its header type,
/// each would cost two strings more.
fn to_tiny(resp: Response, rid: &str, sent: Arc<AtomicU64>) -> TinyResponse {
    let defaults = [
        ("Server", SERVER),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Request-Id", rid),
    ]
    .map(|(k, v)| (k, v, !resp.has_header(k)));
    let mut block = resp.header_lines;
    block.reserve(256);
    let mut framing = Vec::new();
    // One Content-Type, the last one set, as tiny_http kept it.
    let content_type = resp
        .headers
        .iter()
        .rposition(|(k, _)| k.eq_ignore_ascii_case("Content-Type"));
    for (i, (k, v)) in resp.headers.iter().enumerate() {
        if !valid_header_name(k) || !valid_header_value(v.as_bytes()) {
            log::warn(&format!(
                "rid={rid}: dropped an invalid response header {}",
                k.escape_debug()
            ));
        } else if FRAMING_HEADERS.iter().any(|f| f.eq_ignore_ascii_case(k)) {
            if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                framing.push(h);
            }
        } else if content_type.is_none_or(|last| last == i)
            || !k.eq_ignore_ascii_case("Content-Type")
        {
            push_header_line(&mut block, k, v.as_bytes());
        }
    }
    for (k, v, missing) in defaults {
        if missing {
            push_header_line(&mut block, k, v.as_bytes());
        }
    }
    let (reader, len): (Box<dyn Read + Send>, Option<u64>) = match resp.body {
        Body::Empty => (Box::new(std::io::empty()), Some(0)),
        Body::Bytes(b) => {
            let n = b.len() as u64;
            (Box::new(std::io::Cursor::new(b)), Some(n))
        }
        Body::Stream { reader, length } => (reader, length),
    };
    let reader: Box<dyn Read + Send> = Box::new(Counting {
        inner: reader,
        count: sent,
    });
    tiny_http::Response::new(
        tiny_http::StatusCode(resp.status),
        framing,
        reader,
        len.map(|l| l as usize),
        None,
    )
    .with_chunked_threshold(usize::MAX)
    .with_raw_headers(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(resp: Response) -> String {
        String::from_utf8(wire(resp).0).unwrap()
    }

    #[test]
    fn headers_reach_the_wire_once_each_and_only_when_valid() {
        let resp = Response::bytes(200, "text/plain", "hi")
            .header("Content-Type", "text/xml")
            .header("X-Split", "a\r\nX-Injected: 1")
            .header("Bad Name", "x")
            .header("Content-Length", "2")
            .header("Transfer-Encoding", "chunked")
            .header("X-Kept", "b\tc");
        let text = head(resp);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let lines: Vec<&str> = head.lines().collect();
        let count = |name: &str| {
            lines
                .iter()
                .filter(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:")))
                .count()
        };
        assert_eq!(lines[0], "HTTP/1.1 200 OK");
        assert_eq!(body, "hi");
        assert!(lines.contains(&"Content-Type: text/xml"), "{head}");
        assert!(lines.contains(&"Content-Length: 2"), "{head}");
        assert!(lines.contains(&"X-Kept: b\tc"), "{head}");
        assert!(lines.contains(&"Server: twitcher"), "{head}");
        assert!(lines.contains(&"X-Request-Id: rid-1"), "{head}");
        for (name, n) in [
            ("content-type", 1),
            ("content-length", 1),
            ("date", 1),
            ("server", 1),
            ("transfer-encoding", 0),
            ("x-split", 0),
            ("x-injected", 0),
            ("bad name", 0),
        ] {
            assert_eq!(count(name), n, "{name} in {head}");
        }
    }

    fn wire(resp: Response) -> (Vec<u8>, u64) {
        let sent = Arc::new(AtomicU64::new(0));
        let mut out = Vec::new();
        to_tiny(resp, "rid-1", sent.clone())
            .raw_print(&mut out, tiny_http::HTTPVersion(1, 1), &[], false, None)
            .unwrap();
        (out, sent.load(Ordering::Relaxed))
    }

    fn split_head(wire: &[u8]) -> (String, &[u8]) {
        let end = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8_lossy(&wire[..end]).into_owned(),
            &wire[end + 4..],
        )
    }

    fn dechunk(mut body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let line = body.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&body[..line]).unwrap(), 16).unwrap();
            body = &body[line + 2..];
            if size == 0 {
                return out;
            }
            out.extend_from_slice(&body[..size]);
            body = &body[size + 2..];
        }
    }

    #[test]
    fn bodies_larger_than_the_copy_buffer_arrive_whole_and_counted() {
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let (out, sent) = wire(Response::bytes(
            200,
            "application/octet-stream",
            big.clone(),
        ));
        let (head, body) = split_head(&out);
        assert!(head.contains("\r\nContent-Length: 100000"), "{head}");
        assert_eq!(body, &big[..]);
        assert_eq!(sent, 100_000);

        let stream = Response::new(200).with_body(Body::Stream {
            reader: Box::new(std::io::Cursor::new(big.clone())),
            length: None,
        });
        let (out, sent) = wire(stream);
        let (head, body) = split_head(&out);
        assert!(head.contains("\r\nTransfer-Encoding: chunked"), "{head}");
        assert_eq!(dechunk(body), big);
        assert_eq!(sent, 100_000);
    }

    #[test]
    fn hex_as_the_formatter_writes_it() {
        for n in [0, 1, 15, 16, 255, 0x1234_5678, u64::MAX] {
            let mut s = String::new();
            push_hex(&mut s, n);
            assert_eq!(s, format!("{n:x}"));
        }
    }

    #[test]
    fn a_backends_server_and_date_are_kept_not_doubled() {
        let resp = Response::bytes(200, "text/xml", "<a/>")
            .header("Server", "nginx")
            .header("Date", "Thu, 03 Dec 2026 08:00:00 GMT");
        let text = head(resp);
        assert!(text.contains("\r\nServer: nginx\r\n"), "{text}");
        assert!(
            text.contains("\r\nDate: Thu, 03 Dec 2026 08:00:00 GMT\r\n"),
            "{text}"
        );
        assert_eq!(text.matches("Server:").count(), 1, "{text}");
        assert_eq!(text.matches("Date:").count(), 1, "{text}");
    }
}
