//! Shared by the integration tests: start the real binary on an ephemeral port with its
//! own temporary folder, and talk to it over HTTP.
#![allow(dead_code)] // each test binary uses its own subset

pub mod backend;
#[path = "../../src/test_support.rs"]
pub mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_twitcher");
pub const ADMIN: (&str, &str) = ("admin", "test-password");

/// A folder removed when the test ends.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "twitcher-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `f` every 10 ms until it returns Some, or panics after `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running `twitcher serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub url: String,
    pub db: PathBuf,
    pub stderr: Arc<Mutex<String>>,
    pub dir: Arc<TempDir>,
}

pub struct Launch {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dir: Option<Arc<TempDir>>,
    pub with_password: bool,
    pub default_db: bool,
}

impl Default for Launch {
    fn default() -> Launch {
        Launch {
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
            with_password: true,
            default_db: false,
        }
    }
}

impl Launch {
    pub fn arg(mut self, a: &str) -> Launch {
        self.args.push(a.to_string());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Launch {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    pub fn in_dir(mut self, dir: Arc<TempDir>) -> Launch {
        self.dir = Some(dir);
        self
    }

    /// Leaves out `--db`, so the server picks its default file in its working folder.
    pub fn default_db(mut self) -> Launch {
        self.default_db = true;
        self
    }

    pub fn generated_password(mut self) -> Launch {
        self.with_password = false;
        self
    }

    pub fn start(self) -> Server {
        self.try_start().expect("server did not start")
    }

    /// Starts the server and waits for its "listening on" line; Err carries the exit
    /// status and stderr when it exits instead.
    pub fn try_start(self) -> Result<Server, (ExitStatus, String)> {
        let dir = self.dir.unwrap_or_else(|| Arc::new(TempDir::new("srv")));
        let db = dir.path("twitcher.sqlite");
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").arg("--bind").arg("127.0.0.1:0");
        if !self.default_db {
            cmd.arg("--db").arg(&db);
        }
        cmd.args(&self.args)
            .current_dir(&dir.0)
            .env_remove("TWITCHER_CONFIG")
            .env_remove("TWITCHER_PASSWORD")
            .env_remove("TWITCHER_DB")
            .env("TWITCHER_WORKERS", "4")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if self.with_password {
            cmd.env("TWITCHER_PASSWORD", ADMIN.1);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn twitcher");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let started = wait_for(30, "the server's listening line", || {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Err(status));
            }
            let text = stderr.lock().unwrap();
            let pos = text.find("listening on http://")?;
            let rest = &text[pos + "listening on http://".len()..];
            let addr = rest.split_whitespace().next()?;
            Some(Ok(addr.rsplit(':').next()?.parse::<u16>().ok()?))
        });
        let port = match started {
            Ok(port) => port,
            Err(status) => {
                // The whole of stderr, up to the exit.
                let _ = reader.join();
                return Err((status, stderr.lock().unwrap().clone()));
            }
        };
        Ok(Server {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
            db,
            stderr,
            dir,
        })
    }
}

impl Server {
    pub fn start() -> Server {
        Launch::default().start()
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for a line the server logs while it answers: stderr reaches the test
    /// through a reader thread, so it may trail the response.
    pub fn wait_log(&self, needle: &str) -> String {
        wait_for(10, needle, || {
            let l = self.log();
            l.contains(needle).then_some(l)
        })
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    pub fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        wait_for(secs, "the server to exit", || {
            self.child.try_wait().unwrap()
        })
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build(),
    )
}

pub fn basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

pub fn admin_auth() -> String {
    basic(ADMIN.0, ADMIN.1)
}

/// Sends a request with ureq; `auth` is a whole Authorization header value.
pub fn request(method: &str, url: &str, auth: Option<&str>, body: Option<&[u8]>) -> Resp {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    request_with(method, url, &headers, body)
}

pub fn get(url: &str, auth: Option<&str>) -> Resp {
    request("GET", url, auth, None)
}

/// Writes raw bytes on a fresh connection and reads until the server closes it or
/// `timeout` passes.
pub fn raw(port: u16, bytes: &[u8], timeout: Duration) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub fn file_mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Registers a client with the admin's password; returns (id, secret).
pub fn new_client(s: &Server, scope: &str) -> (String, String) {
    let r = get(
        &format!(
            "{}/oauth/client?name=demo_app&scope={}",
            s.url,
            scope.replace(' ', "%20")
        ),
        Some(&admin_auth()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    (
        j["client_id"].as_str().unwrap().to_string(),
        j["client_secret"].as_str().unwrap().to_string(),
    )
}

/// A token by the client-credentials grant, the client in HTTP Basic.
pub fn client_token(s: &Server, id: &str, secret: &str, scope: &str) -> String {
    let r = request(
        "POST",
        &format!("{}/oauth/token", s.url),
        Some(&basic(id, secret)),
        Some(
            format!(
                "grant_type=client_credentials&scope={}",
                scope.replace(' ', "+")
            )
            .as_bytes(),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_string()
}

pub fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// Registers (or updates) a service with the admin's password.
pub fn register(s: &Server, name: &str, url: &str, kind: &str, auth: &str) {
    register_json(
        s,
        &serde_json::json!({"name": name, "url": url, "type": kind, "auth": auth}),
    );
}

/// Registers a service given as the JSON body of `POST /services`.
pub fn register_json(s: &Server, body: &serde_json::Value) {
    let r = request(
        "POST",
        &format!("{}/services", s.url),
        Some(&admin_auth()),
        Some(body.to_string().as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Sends a request with the given headers.
pub fn request_with(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b
        .body(body.map(<[u8]>::to_vec).unwrap_or_default())
        .unwrap();
    let resp = agent().run(req).expect("HTTP request failed");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = resp.into_body().read_to_vec().unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}
