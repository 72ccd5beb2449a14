//! twitcherctl against a real `twitcher serve`: every command, the original's flags and
//! tutorial, exit codes, prompting on a terminal, and the README's scripting example.
//! Nothing here needs Python Twitcher.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A folder holding a `twitcherctl` link to the binary, as install.sh makes it.
struct Ctl {
    dir: TempDir,
}

impl Ctl {
    fn new() -> Ctl {
        let dir = TempDir::new("ctl");
        std::os::unix::fs::symlink(BIN, dir.path("twitcherctl")).unwrap();
        Ctl { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path("twitcherctl")
    }

    /// A command with none of the caller's TWITCHER_* settings and no stdin.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.path());
        c.args(args).stdin(Stdio::null());
        for k in [
            "TWITCHER_URL",
            "TWITCHER_USERNAME",
            "TWITCHER_PASSWORD",
            "TWITCHER_CLIENT_ID",
            "TWITCHER_CLIENT_SECRET",
        ] {
            c.env_remove(k);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        Out(self.cmd(args).output().unwrap())
    }

    /// Runs a command line split at whitespace, as a shell would split one without quotes.
    fn line(&self, line: &str) -> Out {
        self.run(&line.split_whitespace().collect::<Vec<_>>())
    }

    /// Runs with the server's URL and the admin's credentials before `args`.
    fn admin(&self, s: &Server, args: &[&str]) -> Out {
        let mut all = vec!["-s", &s.url, "-u", ADMIN.0, "-p", ADMIN.1];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// `gentoken` as the client `add` printed, with `args` after it.
    fn gentoken(&self, s: &Server, client: &Value, args: &[&str]) -> Out {
        let mut all = vec![
            "-s",
            &s.url,
            "gentoken",
            "-i",
            str_of(client, "client_id"),
            "-s",
            str_of(client, "client_secret"),
        ];
        all.extend_from_slice(args);
        self.run(&all)
    }
}

struct Out(Output);

impl Out {
    fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Stdout as the one JSON document it must be, after exit 0.
    fn json(&self) -> Value {
        assert_eq!(self.code(), 0, "stderr: {}", self.stderr());
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", self.stdout()))
    }

    fn fails(&self, code: i32, stderr_has: &str) {
        assert_eq!(
            self.code(),
            code,
            "stdout: {} stderr: {}",
            self.stdout(),
            self.stderr()
        );
        assert!(self.stdout().is_empty(), "stdout: {}", self.stdout());
        assert!(
            self.stderr().contains(stderr_has),
            "stderr lacks {stderr_has:?}: {}",
            self.stderr()
        );
    }
}

fn services(s: &Server) -> Vec<Value> {
    let r = get(&format!("{}/services", s.url), Some(&admin_auth()));
    assert_eq!(r.status, 200);
    r.json().as_array().unwrap().clone()
}

fn introspect(s: &Server, token: &str) -> Value {
    request(
        "POST",
        &format!("{}/oauth/introspect", s.url),
        Some(&admin_auth()),
        Some(format!("token={token}").as_bytes()),
    )
    .json()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {v}"))
}

#[test]
fn twitcherctl_and_twitcher_ctl_are_the_same_program() {
    let ctl = Ctl::new();
    let as_link = ctl.run(&["--help"]);
    assert_eq!(as_link.code(), 0);
    let as_word = Out(Command::new(BIN).args(["ctl", "--help"]).output().unwrap());
    assert_eq!(as_word.code(), 0);
    assert_eq!(as_link.stdout(), as_word.stdout());
    let via_help = Out(Command::new(BIN).args(["help", "ctl"]).output().unwrap());
    assert_eq!(via_help.stdout(), as_link.stdout());
    for c in [
        "add",
        "gentoken",
        "list",
        "clear",
        "register",
        "unregister",
        "get",
        "clients",
        "remove-client",
        "revoke",
        "introspect",
        "status",
    ] {
        assert!(as_link.stdout().contains(&format!("\n  {c} ")), "{c}");
    }
    // The twitcher face has no such commands.
    Out(Command::new(BIN).arg("list").output().unwrap()).fails(2, "unknown command `list`");
    let v = ctl.run(&["--version"]);
    assert_eq!(
        v.stdout(),
        format!("twitcherctl {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// The tutorial's commands (Twitcher's "Twitcher CLI" docs), as written there.
#[test]
fn the_tutorial_examples_run_as_written() {
    let s = Server::start();
    let ctl = Ctl::new();
    let (url, user, pass) = (&s.url, ADMIN.0, ADMIN.1);

    let client = ctl
        .line(&format!(
            "-k -s {url} --username {user} --password {pass} add --name demo_app"
        ))
        .json();
    assert_eq!(client["name"], "demo_app");
    assert_eq!(client["scope"], serde_json::json!(["compute"]));
    let (id, secret) = (
        str_of(&client, "client_id"),
        str_of(&client, "client_secret"),
    );

    let token = ctl
        .line(&format!(
            "-k -s {url} gentoken -i {id} -s {secret} --scope compute"
        ))
        .json();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "compute");
    assert_eq!(token["expires_in"], 3600);
    let grant = introspect(&s, str_of(&token, "access_token"));
    assert_eq!(grant["active"], true);
    assert_eq!(grant["client_id"], id);

    let reg = ctl
        .line(&format!(
            "-k -s {url} --username {user} --password {pass} register http://localhost:5000/wps"
        ))
        .json();
    let name = str_of(&reg, "name");
    let (adjective, bird) = name.split_once('_').expect("an adjective_bird name");
    assert!(
        adjective.chars().all(|c| c.is_ascii_lowercase())
            && bird.chars().all(|c| c.is_ascii_lowercase()),
        "{name}"
    );
    assert_eq!(reg["url"], "http://localhost:5000/wps");
    assert_eq!(reg["type"], "wps");
    assert_eq!(reg["auth"], "token");

    let list = ctl
        .line(&format!(
            "-k -s {url} --username {user} --password {pass} list"
        ))
        .json();
    assert_eq!(list, Value::Array(services(&s)));
    assert_eq!(list[0]["name"], name);

    let named = ctl
        .line(&format!("-k -s {url} --username {user} --password {pass} register --name emu http://localhost:5000/wps"))
        .json();
    assert_eq!(named["name"], "emu");
    assert_eq!(services(&s).len(), 2);
}

#[test]
fn every_command_does_what_it_says() {
    let s = Server::start();
    let ctl = Ctl::new();

    let register = "register --name emu --type wms --purl http://public/wps --auth public \
                    --verify false http://127.0.0.1:5000/wps?x=1";
    let emu = ctl
        .admin(&s, &register.split_whitespace().collect::<Vec<_>>())
        .json();
    let stored = get(&format!("{}/services/emu", s.url), Some(&admin_auth())).json();
    assert_eq!(emu, stored);
    assert_eq!(stored["type"], "wms");
    assert_eq!(stored["purl"], "http://public/wps");
    assert_eq!(stored["public"], true);
    assert_eq!(stored["verify"], false);
    assert_eq!(stored["url"], "http://127.0.0.1:5000/wps");

    assert_eq!(ctl.admin(&s, &["get", "emu"]).json(), stored);
    ctl.admin(&s, &["get", "nosuch"])
        .fails(1, "No service named nosuch");

    let client = ctl
        .admin(
            &s,
            &[
                "add",
                "-n",
                "app",
                "-r",
                "http://app/cb",
                "-S",
                "compute",
                "register",
            ],
        )
        .json();
    assert_eq!(client["redirect_uri"], "http://app/cb");
    assert_eq!(client["scope"], serde_json::json!(["compute", "register"]));
    let id = str_of(&client, "client_id").to_string();
    let secret = str_of(&client, "client_secret").to_string();
    let listed = ctl.admin(&s, &["clients"]).json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["client_id"], id.as_str());
    assert!(listed[0].get("client_secret").is_none());

    // Several scope words, or one quoted; both reach the server.
    for scope_args in [
        &["-S", "compute", "register"][..],
        &["--scope", "compute register"][..],
    ] {
        let mut args = vec!["-s", &s.url, "gentoken", "-i", &id, "-s", &secret];
        args.extend_from_slice(scope_args);
        assert_eq!(ctl.run(&args).json()["scope"], "compute register");
    }
    let token = ctl
        .run(&[
            "-s", &s.url, "gentoken", "-i", &id, "-s", &secret, "-S", "register",
        ])
        .json();
    let token = str_of(&token, "access_token").to_string();

    let seen = ctl.admin(&s, &["introspect", &token]).json();
    assert_eq!(seen["active"], true);
    assert_eq!(seen["scope"], "register");
    assert_eq!(seen["client_id"], id.as_str());
    assert_eq!(ctl.admin(&s, &["revoke", &token]).json(), true);
    assert_eq!(introspect(&s, &token)["active"], false);
    assert_eq!(
        ctl.admin(&s, &["introspect", &token]).json()["active"],
        false
    );

    let status = ctl.run(&["-s", &s.url, "status"]).json();
    assert_eq!(status["reachable"], true);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["url"], s.url.as_str());
    assert!(status["latency_ms"].as_f64().unwrap() >= 0.0);

    assert_eq!(ctl.admin(&s, &["remove-client", &id]).json(), true);
    assert!(
        ctl.admin(&s, &["clients"])
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    ctl.admin(&s, &["remove-client", &id])
        .fails(1, &format!("No client with id {id}"));
    // Its tokens went with it.
    ctl.run(&["-s", &s.url, "gentoken", "-i", &id, "-s", &secret])
        .fails(1, "invalid_client");

    assert_eq!(ctl.admin(&s, &["unregister", "emu"]).json(), true);
    ctl.admin(&s, &["unregister", "emu"])
        .fails(1, "no service named emu");
    ctl.admin(&s, &["register", "http://a/wps"]).json();
    ctl.admin(&s, &["register", "http://b/wps"]).json();
    assert_eq!(services(&s).len(), 2);
    assert_eq!(ctl.admin(&s, &["clear"]).json(), true);
    assert!(services(&s).is_empty());
}

#[test]
fn table_output_is_for_people() {
    let s = Server::start();
    let ctl = Ctl::new();
    ctl.admin(
        &s,
        &["register", "--name", "emu", "http://localhost:5000/wps"],
    )
    .json();
    let out = ctl.admin(&s, &["--output", "table", "list"]);
    assert_eq!(out.code(), 0);
    let lines: Vec<&str> = out
        .0
        .stdout
        .split(|b| *b == b'\n')
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    assert!(
        lines[0].starts_with("URL ") && lines[0].contains("  NAME  "),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("http://localhost:5000/wps  emu "),
        "{}",
        lines[1]
    );
    let one = ctl.admin(&s, &["-o", "table", "get", "emu"]);
    assert!(one.stdout().contains("\nname    emu\n"), "{}", one.stdout());
}

/// A registry whose first `POST /services` finds the name taken (412), as when another
/// `register` took the same generated name between listing and posting.
#[test]
fn a_generated_name_taken_meanwhile_is_not_overwritten() {
    let (url, posts) = support::registry_taking_the_first_name();
    let ctl = Ctl::new();
    let out = ctl.run(&[
        "-s",
        &url,
        "-u",
        "admin",
        "-p",
        "x",
        "register",
        "http://b/wps",
    ]);
    assert_eq!(out.code(), 0, "{}", out.stderr());
    let posts = posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_ne!(posts[0].0, posts[1].0, "a second name is tried");
    assert!(
        posts.iter().all(|(_, p)| p.as_deref() == Some("*")),
        "{posts:?}"
    );
    assert_eq!(out.json()["name"], posts[1].0.as_str());
}

#[test]
fn an_auth_that_is_neither_token_nor_cert_is_warned_about() {
    let s = Server::start();
    let ctl = Ctl::new();
    let out = ctl.admin(
        &s,
        &["register", "--name", "aa", "--auth", "none", "http://a/wps"],
    );
    assert_eq!(out.json()["public"], true);
    assert!(
        out.stderr()
            .contains("warning: --auth `none` is neither token nor cert: the service is public"),
        "{}",
        out.stderr()
    );
    for auth in ["public", "Token", "CERT", " token"] {
        let out = ctl.admin(
            &s,
            &["register", "--name", "bb", "--auth", auth, "http://b/wps"],
        );
        assert_eq!(out.json()["public"], auth == "public", "{auth}");
        assert!(
            !out.stderr().contains("warning"),
            "{auth}: {}",
            out.stderr()
        );
    }
}

/// Two long names cut to the same 25 characters are one service: the second
/// registration replaces the first, so the cut is said out loud.
#[test]
fn a_changed_name_or_an_unknown_type_is_warned_about() {
    let s = Server::start();
    let ctl = Ctl::new();
    let out = ctl.admin(
        &s,
        &[
            "register",
            "--name",
            "climate_model_service_alpha",
            "http://a/wps",
        ],
    );
    assert_eq!(out.json()["name"], "climate_model_service_alp");
    assert!(
        out.stderr().contains(
            "warning: the server stored the name `climate_model_service_alpha` as `climate_model_service_alp`"
        ),
        "{}",
        out.stderr()
    );
    let out = ctl.admin(&s, &["register", "--name", "emu", "http://a/wps"]);
    assert!(!out.stderr().contains("warning"), "{}", out.stderr());
    // A type the proxy does not know cannot stand in for a missing `service`.
    let out = ctl.admin(
        &s,
        &["register", "--name", "odd", "--type", "foo", "http://a/x"],
    );
    assert_eq!(out.code(), 0);
    assert!(
        out.stderr()
            .contains("warning: --type `foo` is none of wps, wms, wfs, wcs, wmts"),
        "{}",
        out.stderr()
    );
    let out = ctl.admin(
        &s,
        &["register", "--name", "maps", "--type", "WMS", "http://a/x"],
    );
    assert!(!out.stderr().contains("warning"), "{}", out.stderr());
}

#[test]
fn refusals_exit_1_with_the_servers_message() {
    let s = Server::start();
    let ctl = Ctl::new();
    ctl.run(&["-s", &s.url, "-u", "admin", "-p", "wrong", "list"])
        .fails(
            1,
            "401 Unauthorized: Admin credentials (HTTP Basic) are missing or wrong",
        );
    ctl.run(&["-s", &s.url, "gentoken", "-i", "nope", "-s", "wrong"])
        .fails(1, "401 Unauthorized: invalid_client");
    let client = ctl.admin(&s, &["add"]).json();
    ctl.gentoken(&s, &client, &["-S", "register"])
        .fails(1, "invalid_scope");
    ctl.admin(&s, &["add", "-S", "admin"])
        .fails(1, "scope: unknown scope `admin`");
    // An answer that is not the API's: a WPS backend's XML.
    let (wps, _) = wps_backend();
    ctl.run(&["-s", &wps, "status"]).fails(
        1,
        "unexpected answer from the server (200 OK): not the JSON expected",
    );
    // JSON of another shape: an empty object is not the API's `true`.
    let other = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let other_url = format!(
        "http://127.0.0.1:{}",
        other.server_addr().to_ip().unwrap().port()
    );
    std::thread::spawn(move || {
        for rq in other.incoming_requests() {
            let _ = rq.respond(tiny_http::Response::from_string("{}"));
        }
    });
    for args in [
        &["remove-client", "some-id"][..],
        &["unregister", "emu"][..],
    ] {
        let mut all = vec!["-s", &other_url, "-u", "admin", "-p", "x"];
        all.extend_from_slice(args);
        ctl.run(&all).fails(
            1,
            "unexpected answer from the server (200 OK): not the JSON expected",
        );
    }
    // An answer without end is cut off at the cap rather than read into memory.
    let endless = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let endless_url = format!(
        "http://127.0.0.1:{}",
        endless.server_addr().to_ip().unwrap().port()
    );
    std::thread::spawn(move || {
        for rq in endless.incoming_requests() {
            let body = std::io::repeat(b'[');
            let _ = rq.respond(tiny_http::Response::new(
                200.into(),
                vec![],
                body,
                None,
                None,
            ));
        }
    });
    ctl.run(&["-s", &endless_url, "-u", "admin", "-p", "x", "list"])
        .fails(1, "an answer larger than 32 MiB");
    // A redirect is not followed, and says where it points, password masked.
    let moved = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let moved_url = format!(
        "http://127.0.0.1:{}",
        moved.server_addr().to_ip().unwrap().port()
    );
    std::thread::spawn(move || {
        for rq in moved.incoming_requests() {
            let to = tiny_http::Header::from_bytes("Location", "http://u:hunter2@elsewhere:8000/x")
                .unwrap();
            let _ = rq.respond(tiny_http::Response::empty(302).with_header(to));
        }
    });
    let out = ctl.run(&["-s", &moved_url, "status"]);
    out.fails(1, "a redirect to http://u:***@elsewhere:8000/x");
    assert!(!out.stderr().contains("hunter2"));
}

#[test]
fn an_unreachable_or_silent_server_exits_3_within_the_timeout() {
    let ctl = Ctl::new();
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let url = format!("http://127.0.0.1:{port}");
    ctl.run(&["-s", &url, "-u", "a", "-p", "b", "list"])
        .fails(3, &format!("cannot reach {url}/services"));
    ctl.run(&["-s", &url, "status"]).fails(3, "cannot reach");

    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let held = Arc::new(Mutex::new(Vec::new()));
    let h = held.clone();
    std::thread::spawn(move || {
        for conn in silent.incoming().flatten() {
            h.lock().unwrap().push(conn);
        }
    });
    let start = Instant::now();
    let out = ctl.run(&["-s", &url, "--timeout", "0.5", "-u", "a", "-p", "b", "list"]);
    let took = start.elapsed();
    out.fails(3, &format!("no answer from {url}/services within 0.5 s"));
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let out = ctl.run(&[
        "-s",
        &url,
        "--timeout",
        "0.3",
        "gentoken",
        "-i",
        "a",
        "-s",
        "b",
    ]);
    out.fails(3, "within 0.3 s");
    assert!(!held.lock().unwrap().is_empty(), "the client did connect");
}

#[test]
fn usage_errors_exit_2_with_usage_on_stderr() {
    let ctl = Ctl::new();
    for (args, says) in [
        (&["list", "--bogus"][..], "unknown option --bogus"),
        (&["--bogus", "list"][..], "unknown option --bogus"),
        (&["frobnicate"][..], "unknown command `frobnicate`"),
        (&[][..], "a command is needed"),
        (&["register"][..], "missing argument URL"),
        (&["unregister", "a", "b"][..], "unexpected argument `b`"),
        (&["unregister", ""][..], "the service name is empty"),
        (&["get", " "][..], "the service name is empty"),
        (&["remove-client", ""][..], "the client id is empty"),
        (
            &["register", "--verify", "maybe", "http://x/wps"][..],
            "--verify `maybe`",
        ),
        (
            &["register", "localhost:5000/wps"][..],
            "not an http:// or https:// URL",
        ),
        (
            &["-s", "localhost:8000", "list"][..],
            "--serverurl `localhost:8000`",
        ),
        (&["--timeout", "-1", "status"][..], "--timeout"),
        (&["--timeout", "1e-9", "status"][..], "from 0.001 to 86400"),
        (&["-o", "yaml", "status"][..], "--output `yaml`"),
        (&["gentoken", "--scope"][..], "--scope"),
        (
            &["gentoken", "--realm", "r"][..],
            "--realm needs --keycloak",
        ),
        (
            &["gentoken", "--client", "x"][..],
            "ambiguous option --client",
        ),
    ] {
        let out = ctl.run(args);
        out.fails(2, says);
        assert!(
            out.stderr().contains("Usage: twitcherctl"),
            "{args:?}: {}",
            out.stderr()
        );
    }
    let help = ctl.run(&["register", "--help"]);
    assert_eq!(help.code(), 0);
    assert!(
        help.stdout()
            .starts_with("Usage: twitcherctl [GLOBAL OPTIONS] register [OPTIONS] URL\n")
    );
}

/// An argument that is not UTF-8 is refused, not registered under another spelling.
#[test]
fn arguments_that_are_not_utf8_are_usage_errors() {
    use std::os::unix::ffi::OsStrExt;
    let odd = std::ffi::OsStr::from_bytes(b"ab\xff");
    let out = Out(Command::new(BIN)
        .args(["ctl", "-s", "http://127.0.0.1:9", "register", "--name"])
        .arg(odd)
        .arg("http://h/wps")
        .output()
        .unwrap());
    out.fails(2, "is not valid UTF-8");
    let out = Out(Command::new(BIN)
        .args(["ctl", "-s", "http://127.0.0.1:9", "get"])
        .arg(odd)
        .output()
        .unwrap());
    out.fails(2, "is not valid UTF-8");
}

#[test]
fn argparse_spellings_of_the_original_work() {
    let s = Server::start();
    let ctl = Ctl::new();
    let serv = format!("--serv={}", s.url);
    let out = ctl.run(&[
        &serv,
        "--user",
        ADMIN.0,
        "--pass",
        ADMIN.1,
        "add",
        "--redirect",
        "http://cb",
        "-nshort",
    ]);
    let client = out.json();
    assert_eq!(client["name"], "short");
    assert_eq!(client["redirect_uri"], "http://cb");
    let id = str_of(&client, "client_id");
    let secret = format!("--client-s={}", str_of(&client, "client_secret"));
    assert_eq!(
        ctl.run(&[
            "-s",
            &s.url,
            "gentoken",
            "--client-i",
            id,
            &secret,
            "-Scompute"
        ])
        .json()["scope"],
        "compute"
    );
}

#[test]
fn credentials_come_from_the_environment() {
    let s = Server::start();
    let ctl = Ctl::new();
    let out = ctl
        .cmd(&["add", "-n", "envapp"])
        .env("TWITCHER_URL", &s.url)
        .env("TWITCHER_USERNAME", ADMIN.0)
        .env("TWITCHER_PASSWORD", ADMIN.1)
        .output()
        .unwrap();
    let client = Out(out).json();
    let out = ctl
        .cmd(&["gentoken"])
        .env("TWITCHER_URL", &s.url)
        .env("TWITCHER_CLIENT_ID", str_of(&client, "client_id"))
        .env("TWITCHER_CLIENT_SECRET", str_of(&client, "client_secret"))
        .output()
        .unwrap();
    let token = Out(out).json();
    let access = str_of(&token, "access_token");
    assert_eq!(introspect(&s, access)["active"], true);
    // The client itself, without the admin's password, may introspect and revoke
    // its token (RFC 7662 and 7009 take the client's credentials).
    let as_client = |args: &[&str]| {
        Out(ctl
            .cmd(args)
            .env("TWITCHER_URL", &s.url)
            .env("TWITCHER_CLIENT_ID", str_of(&client, "client_id"))
            .env("TWITCHER_CLIENT_SECRET", str_of(&client, "client_secret"))
            .output()
            .unwrap())
    };
    assert_eq!(as_client(&["introspect", access]).json()["active"], true);
    assert_eq!(as_client(&["revoke", access]).json(), true);
    assert_eq!(introspect(&s, access)["active"], false);
    // Flags do the same; one without the other is a usage error.
    let id = str_of(&client, "client_id");
    let out = ctl.run(&[
        "-s",
        &s.url,
        "introspect",
        "--client-id",
        id,
        "--client-secret",
        "wrong",
        access,
    ]);
    out.fails(1, "invalid_client");
    ctl.run(&["-s", &s.url, "revoke", "--client-id", id, access])
        .fails(2, "--client-id and --client-secret go together");
}

/// The environment's client is `gentoken`'s: an admin named on the command line or in
/// the environment still signs `revoke` and `introspect`, half a client in the
/// environment is no usage error, and `-s` after the command is still the server.
#[test]
fn the_admin_named_wins_over_the_environments_client() {
    let s = Server::start();
    let ctl = Ctl::new();
    let mine = ctl.admin(&s, &["add", "-n", "mine"]).json();
    let other = ctl.admin(&s, &["add", "-n", "other"]).json();
    let as_admin = |args: &[&'static str], token: &str| -> Vec<String> {
        let mut all: Vec<String> = ["-s", &s.url, "-u", ADMIN.0, "-p", ADMIN.1]
            .map(String::from)
            .to_vec();
        all.extend(args.iter().map(|a| a.to_string()));
        all.push(token.to_string());
        all
    };
    let access = || {
        let out = ctl.gentoken(&s, &mine, &[]);
        str_of(&out.json(), "access_token").to_string()
    };
    let run_env = |args: &[String], env: &[(&str, &str)]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = ctl.cmd(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Out(cmd.output().unwrap())
    };
    let token = access();
    let half = [("TWITCHER_CLIENT_ID", str_of(&other, "client_id"))];
    let out = run_env(&as_admin(&["introspect"], &token), &half);
    assert_eq!(out.json()["active"], true);
    let others = [
        ("TWITCHER_CLIENT_ID", str_of(&other, "client_id")),
        ("TWITCHER_CLIENT_SECRET", str_of(&other, "client_secret")),
    ];
    let out = run_env(&as_admin(&["revoke"], &token), &others);
    assert_eq!(out.json(), true);
    assert_eq!(introspect(&s, &token)["active"], false);
    // The admin from the environment wins too.
    let token = access();
    let env = [
        others[0],
        others[1],
        ("TWITCHER_USERNAME", ADMIN.0),
        ("TWITCHER_PASSWORD", ADMIN.1),
    ];
    let args = ["-s", &s.url, "revoke", &token].map(String::from);
    let out = run_env(&args, &env);
    assert_eq!(out.json(), true);
    // `-s` after the command.
    let out = ctl.run(&[
        "-u",
        ADMIN.0,
        "-p",
        ADMIN.1,
        "introspect",
        "-s",
        &s.url,
        &token,
    ]);
    assert_eq!(out.json()["active"], false);
}

#[test]
fn missing_credentials_without_a_terminal_are_a_usage_error() {
    let s = Server::start();
    let ctl = Ctl::new();
    ctl.run(&["-s", &s.url, "list"]).fails(
        2,
        "no user name: give -u/--username or set TWITCHER_USERNAME",
    );
    ctl.run(&["-s", &s.url, "-u", "admin", "list"]).fails(
        2,
        "no password: give -p/--password or set TWITCHER_PASSWORD",
    );
    ctl.run(&["-s", &s.url, "gentoken"])
        .fails(2, "no client id");
    ctl.run(&["-s", &s.url, "gentoken", "-i", "x"])
        .fails(2, "no client secret");
    // status needs none.
    assert_eq!(ctl.run(&["-s", &s.url, "status"]).json()["reachable"], true);
}

#[test]
fn a_token_argument_of_dash_is_read_from_stdin() {
    let s = Server::start();
    let ctl = Ctl::new();
    let client = ctl.admin(&s, &["add"]).json();
    let token = ctl
        .run(&[
            "-s",
            &s.url,
            "gentoken",
            "-i",
            str_of(&client, "client_id"),
            "-s",
            str_of(&client, "client_secret"),
        ])
        .json();
    let token = str_of(&token, "access_token");
    let mut child = ctl
        .cmd(&["-s", &s.url, "-u", ADMIN.0, "-p", ADMIN.1, "revoke", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
    assert_eq!(Out(child.wait_with_output().unwrap()).json(), true);
    assert_eq!(introspect(&s, token)["active"], false);
}

#[test]
fn debug_logs_requests_and_never_secrets() {
    let s = Server::start();
    let ctl = Ctl::new();
    let out = ctl.admin(&s, &["--debug", "add"]);
    let client = out.json();
    assert!(
        out.stderr().contains(&format!(
            "DEBUG GET {}/oauth/client?name=&redirect_uri= -> 200",
            s.url
        )),
        "{}",
        out.stderr()
    );
    assert!(!out.stderr().contains(ADMIN.1));
    let secret = str_of(&client, "client_secret");
    let out = ctl.run(&[
        "--debug",
        "-s",
        &s.url,
        "gentoken",
        "-i",
        str_of(&client, "client_id"),
        "-s",
        secret,
    ]);
    let token = out.json();
    let log = out.stderr();
    assert!(
        log.contains(&format!("DEBUG POST {}/oauth/token -> 200", s.url)),
        "{log}"
    );
    assert!(!log.contains(secret), "{log}");
    assert!(!log.contains(str_of(&token, "access_token")), "{log}");
}

/// Path and form of each token request a fake Keycloak received.
type Requests = Arc<Mutex<Vec<(String, HashMap<String, String>)>>>;

/// A fake Keycloak: answers every token request and records path and form.
fn fake_keycloak() -> (String, Requests) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}",
        server.server_addr().to_ip().unwrap().port()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut rq in server.incoming_requests() {
            let mut body = String::new();
            rq.as_reader().read_to_string(&mut body).unwrap();
            let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
            log.lock().unwrap().push((rq.url().to_string(), form));
            let token = r#"{"access_token":"kc-token","expires_in":300,"refresh_expires_in":0,"token_type":"Bearer","not-before-policy":0,"scope":"profile email"}"#;
            let _ = rq.respond(tiny_http::Response::from_string(token));
        }
    });
    (url, seen)
}

#[test]
fn gentoken_asks_keycloak_at_the_legacy_path_or_any_token_url() {
    let ctl = Ctl::new();
    let (kc, seen) = fake_keycloak();
    let token = ctl
        .run(&[
            "-s",
            &kc,
            "gentoken",
            "-K",
            "-i",
            "demo",
            "-s",
            "kc-secret",
            "--scope",
            "compute",
        ])
        .json();
    assert_eq!(token["access_token"], "kc-token");
    assert_eq!(token["scope"], "profile email");
    ctl.run(&[
        "-s",
        &kc,
        "gentoken",
        "--keycloak",
        "--realm",
        "birdhouse",
        "-i",
        "demo",
        "-s",
        "x",
    ])
    .json();
    ctl.run(&[
        "gentoken",
        "--token-url",
        &format!("{kc}/realms/r/protocol/openid-connect/token"),
        "-i",
        "demo",
        "-s",
        "x",
        "-S",
        "a",
        "b",
    ])
    .json();
    let seen = seen.lock().unwrap();
    let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/auth/realms/demo/protocol/openid-connect/token",
            "/auth/realms/birdhouse/protocol/openid-connect/token",
            "/realms/r/protocol/openid-connect/token",
        ]
    );
    let form = &seen[0].1;
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "demo");
    assert_eq!(form["client_secret"], "kc-secret");
    assert_eq!(form["scope"], "compute");
    assert_eq!(seen[2].1["scope"], "a b");
}

#[test]
fn insecure_skips_the_certificate_check() {
    let dir = TempDir::new("tls");
    let (key, cert) = (dir.path("key.pem"), dir.path("cert.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(made.success());
    std::fs::write(
        dir.path("info"),
        r#"{"package": "twitcher", "version": "9.9.9"}"#,
    )
    .unwrap();
    std::fs::write(dir.path("versions"), "[]").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // openssl's own TLS server, serving the folder's files as /info and /versions.
    let mut server = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-WWW",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
        ])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(10, "openssl s_server", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    let ctl = Ctl::new();
    let url = format!("https://127.0.0.1:{port}");
    ctl.run(&["-s", &url, "status"])
        .fails(3, "-k/--insecure skips the certificate check");
    let status = ctl.run(&["-k", "-s", &url, "status"]).json();
    assert_eq!(status["version"], "9.9.9");
    // Plain HTTP to the TLS server: it closes without an answer.
    ctl.run(&["-s", &format!("http://127.0.0.1:{port}"), "status"])
        .fails(3, "the server may want https://");
    let _ = server.kill();
    let _ = server.wait();
}

/// A pseudo-terminal whose slave side is the child's stdin and stderr (its controlling
/// terminal, so Ctrl-C reaches it); the test reads and types on the master side.
struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
    seen: Vec<u8>,
}

impl Pty {
    fn open() -> Pty {
        let (mut m, mut s) = (0, 0);
        // SAFETY: openpty fills in two descriptors that we then own.
        let rc = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty");
        // SAFETY: fresh descriptors from openpty.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
        // SAFETY: plain fcntl on a descriptor we own.
        unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        Pty {
            master,
            slave,
            seen: Vec::new(),
        }
    }

    fn spawn(&self, mut cmd: Command) -> std::process::Child {
        cmd.stdin(Stdio::from(self.slave.try_clone().unwrap()))
            .stderr(Stdio::from(self.slave.try_clone().unwrap()))
            .stdout(Stdio::piped());
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn().unwrap()
    }

    /// Waits until the child has written `text` to the terminal.
    fn expect(&mut self, text: &str) {
        let mut f = std::fs::File::from(self.master.try_clone().unwrap());
        wait_for(20, text, || {
            let mut buf = [0u8; 1024];
            if let Ok(n) = f.read(&mut buf) {
                self.seen.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&self.seen)
                .contains(text)
                .then_some(())
        });
    }

    fn type_in(&self, text: &str) {
        std::fs::File::from(self.master.try_clone().unwrap())
            .write_all(text.as_bytes())
            .unwrap();
    }

    /// Everything the terminal showed, up to now.
    fn screen(&mut self) -> String {
        let mut f = std::fs::File::from(self.master.try_clone().unwrap());
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = f.read(&mut buf) {
            self.seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    fn echo_is_on(&self) -> bool {
        // SAFETY: tcgetattr fills in a termios for a descriptor we own.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(self.slave.as_raw_fd(), &mut t), 0);
            t.c_lflag & libc::ECHO != 0
        }
    }
}

#[test]
fn a_terminal_is_asked_for_the_user_and_the_password_without_echo() {
    let s = Server::start();
    let ctl = Ctl::new();
    let mut pty = Pty::open();
    let child = pty.spawn(ctl.cmd(&["-s", &s.url, "add", "--name", "asked"]));
    pty.expect("Username: ");
    pty.type_in("admin\n");
    pty.expect("Password: ");
    pty.type_in(&format!("{}\n", ADMIN.1));
    let out = Out(child.wait_with_output().unwrap());
    assert_eq!(out.json()["name"], "asked");
    let screen = pty.screen();
    assert!(
        screen.contains("Username: admin"),
        "the user name is echoed: {screen:?}"
    );
    assert!(!screen.contains(ADMIN.1), "the password is not: {screen:?}");
    assert!(pty.echo_is_on(), "echo is back on");

    // gentoken asks for the client instead, as the original does.
    let client = out.json();
    let mut pty = Pty::open();
    let child = pty.spawn(ctl.cmd(&["-s", &s.url, "gentoken"]));
    pty.expect("Client ID: ");
    pty.type_in(&format!("{}\n", str_of(&client, "client_id")));
    pty.expect("Client Secret: ");
    pty.type_in(&format!("{}\n", str_of(&client, "client_secret")));
    let token = Out(child.wait_with_output().unwrap()).json();
    assert_eq!(token["token_type"], "Bearer");
    assert!(!pty.screen().contains(str_of(&client, "client_secret")));
}

#[test]
fn ctrl_c_at_the_password_prompt_leaves_echo_on() {
    let ctl = Ctl::new();
    let mut pty = Pty::open();
    let mut child = pty.spawn(ctl.cmd(&["-s", "http://127.0.0.1:9", "-u", "admin", "list"]));
    pty.expect("Password: ");
    assert!(!pty.echo_is_on(), "echo is off while the password is typed");
    pty.type_in("\x03");
    let status = wait_for(20, "the child to end", || child.try_wait().unwrap());
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    assert!(pty.echo_is_on(), "echo is restored");

    // End of input at the prompt is an error, not an empty password.
    let mut pty = Pty::open();
    let child = pty.spawn(ctl.cmd(&["-s", "http://127.0.0.1:9", "-u", "admin", "list"]));
    pty.expect("Password: ");
    pty.type_in("\x04");
    let out = Out(child.wait_with_output().unwrap());
    assert_eq!(out.code(), 2);
    assert!(pty.echo_is_on());
}

#[test]
fn the_man_page_and_completions_come_from_the_flag_table() {
    let man = Out(Command::new(BIN)
        .args(["man", "twitcherctl"])
        .output()
        .unwrap());
    assert_eq!(man.code(), 0);
    assert_eq!(man.stdout(), include_str!("../man/twitcherctl.1"));

    let dir = TempDir::new("completions");
    let script = dir.path("twitcher.bash");
    let out = Out(Command::new(BIN)
        .args(["completions", "bash"])
        .output()
        .unwrap());
    assert_eq!(out.code(), 0);
    std::fs::write(&script, out.stdout()).unwrap();
    // Drives the completion functions as bash's readline would.
    let drive = format!(
        r#"source {}
comp() {{ COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); local f=_$1; "${{f//-/_}}"; echo "${{COMPREPLY[*]}}"; }}
comp twitcherctl gen
comp twitcherctl -s http://x gentoken --client-s
comp twitcherctl -s http://x unreg
comp twitcher ctl register --na
comp twitcher db re
comp twitcherctl list -o t
comp twitcherctl --output ""
"#,
        script.display()
    );
    let out = Out(Command::new("bash").arg("-c").arg(drive).output().unwrap());
    assert_eq!(out.code(), 0, "{}", out.stderr());
    assert_eq!(
        out.stdout(),
        "gentoken\n--client-secret\nunregister\n--name\nreset-password\ntable\njson table\n"
    );
    for shell in ["zsh", "fish"] {
        let out = Out(Command::new(BIN)
            .args(["completions", shell, "twitcherctl"])
            .output()
            .unwrap());
        assert_eq!(out.code(), 0);
        assert!(
            out.stdout().contains("client-secret") && !out.stdout().contains("gencert"),
            "{shell}"
        );
        assert!(
            out.stdout().contains("json table"),
            "{shell}: -o offers its values"
        );
    }
    Out(Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap())
    .fails(2, "no completions for `tcsh`");
}

/// A WPS backend in the test: answers every request with a small document and records
/// the request lines it saw.
fn wps_backend() -> (String, Arc<Mutex<Vec<String>>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/wps",
        server.server_addr().to_ip().unwrap().port()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for rq in server.incoming_requests() {
            log.lock().unwrap().push(rq.url().to_string());
            let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<wps:ExecuteResponse xmlns:wps="http://www.opengis.net/wps/1.0.0" service="WPS" version="1.0.0"><wps:Status><wps:ProcessSucceeded>hello tux from the test backend</wps:ProcessSucceeded></wps:Status></wps:ExecuteResponse>"#;
            let ct =
                tiny_http::Header::from_bytes("Content-Type", "text/xml; charset=utf-8").unwrap();
            let _ = rq.respond(tiny_http::Response::from_string(doc).with_header(ct));
        }
    });
    (url, seen)
}

/// The README's scripting example, run as a user would: it registers a service, adds a
/// client, gets a token and calls the OWS proxy, whose backend must see the Execute.
#[test]
fn the_readme_scripting_example_runs() {
    let script_path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart.sh");
    let script = std::fs::read_to_string(script_path).unwrap();
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(&script),
        "README.md shows examples/quickstart.sh as it is"
    );

    let s = Server::start();
    let ctl = Ctl::new();
    let (wps, seen) = wps_backend();
    let path = format!(
        "{}:{}",
        ctl.dir.0.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Out(Command::new("bash")
        .arg(script_path)
        .env("PATH", path)
        .env("TWITCHER_URL", &s.url)
        .env("TWITCHER_USERNAME", ADMIN.0)
        .env("TWITCHER_PASSWORD", ADMIN.1)
        .env("WPS_URL", &wps)
        .env_remove("TWITCHER_CLIENT_ID")
        .env_remove("TWITCHER_CLIENT_SECRET")
        .stdin(Stdio::null())
        .output()
        .unwrap());

    // Up to the proxy call: the service, the client and a token.
    let registered = services(&s);
    assert_eq!(registered.len(), 1, "stderr: {}", out.stderr());
    assert_eq!(registered[0]["url"], wps.as_str());
    let name = str_of(&registered[0], "name").to_string();
    assert!(
        out.stderr()
            .contains(&format!("registered the service as {name}")),
        "{}",
        out.stderr()
    );
    let clients = get(&format!("{}/oauth/clients", s.url), Some(&admin_auth())).json();
    assert_eq!(clients[0]["name"], "quickstart");

    // The proxy call itself.
    assert_eq!(
        out.code(),
        0,
        "stdout: {} stderr: {}",
        out.stdout(),
        out.stderr()
    );
    assert!(
        out.stdout().contains("hello tux from the test backend"),
        "{}",
        out.stdout()
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("/wps?"), "{}", seen[0]);
    for part in [
        "service=WPS",
        "request=Execute",
        "identifier=hello",
        "DataInputs=name=tux",
    ] {
        assert!(seen[0].contains(part), "{part} in {}", seen[0]);
    }
}
