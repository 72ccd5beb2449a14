//! Commands that work on files without a server: `config check` and `db ...`.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use std::sync::Arc;

use common::*;
use serde_json::json;

fn twitcher(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(&dir.0)
        .env_remove("TWITCHER_CONFIG")
        .env_remove("TWITCHER_PASSWORD")
        .env_remove("TWITCHER_DB");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn config_check_prints_settings_with_secrets_masked() {
    let dir = TempDir::new("cfg");
    let out = twitcher(
        &dir,
        &["config", "check"],
        &[("TWITCHER_PASSWORD", "hunter2-secret")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("twitcher.bind") && stdout.contains("127.0.0.1:8000"));
    assert!(stdout.contains("env TWITCHER_PASSWORD"));
    let url_line = stdout
        .lines()
        .find(|l| l.starts_with("twitcher.url"))
        .unwrap();
    assert!(
        url_line.contains("= http://127.0.0.1:8000")
            && url_line.ends_with("# derived from twitcher.bind"),
        "{url_line}"
    );
    assert!(!stdout.contains("hunter2-secret") && !text(&out.stderr).contains("hunter2-secret"));

    // A URL's password and key parameters, in the table and in an error about it.
    let out = twitcher(
        &dir,
        &["config", "check"],
        &[
            ("TWITCHER_TOKEN_TYPE", "keycloak_token"),
            ("KEYCLOAK_JWKS_URL", "ftp://u:Secr3t@kc/certs?apiKey=K3y"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        stderr.contains("`ftp://u:***@kc/certs?apiKey=***` is not an http(s) URL"),
        "{stderr}"
    );
    assert!(
        stdout.contains("= ftp://u:***@kc/certs?apiKey=***"),
        "{stdout}"
    );
    for shown in [&stdout, &stderr] {
        assert!(
            !shown.contains("Secr3t") && !shown.contains("K3y"),
            "{shown}"
        );
    }

    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/twitcher.ini"),
        dir.path("t.ini"),
    )
    .unwrap();
    let out = twitcher(&dir, &["config", "check", "t.ini"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("/tmp/peer-twitcher.sqlite"), "{stdout}");
    assert!(
        !stdout
            .lines()
            .any(|l| l.starts_with("twitcher.password") && l.contains("demo"))
    );
}

#[test]
fn config_check_names_every_invalid_key_and_exits_2() {
    let dir = TempDir::new("cfgbad");
    std::fs::write(
        dir.path("bad.ini"),
        "[app:main]\ntwitcher.ows_security = sometimes\ntwitcher.workers = 0\n[server:main]\nport = 99999\n",
    )
    .unwrap();
    let out = twitcher(&dir, &["config", "check", "bad.ini"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let errors: Vec<String> = text(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(String::from)
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    for key in ["twitcher.bind", "twitcher.workers", "twitcher.ows_security"] {
        assert!(errors.iter().any(|e| e.contains(key)), "{key}: {errors:?}");
    }
    let out = twitcher(&dir, &["config", "check", "missing.ini"], &[]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(dir.path("broken.ini"), "[app:main]\nurl = %(nope)s\n").unwrap();
    let out = twitcher(&dir, &["config", "check", "broken.ini"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nope"));
}

#[test]
fn db_migrate_check_and_backup() {
    let dir = Arc::new(TempDir::new("db"));
    let out = twitcher(&dir, &["db", "migrate"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("schema version 0 -> "));
    assert_eq!(file_mode(&dir.path("twitcher.sqlite")), 0o600);
    let out = twitcher(&dir, &["db", "migrate"], &[]);
    assert!(text(&out.stdout).contains("(latest)"));

    // A running server holds the file while it is backed up.
    let s = Launch::default().in_dir(dir.clone()).default_db().start();
    let body = json!({"name": "kept", "url": "http://h/wps"}).to_string();
    assert_eq!(
        request(
            "POST",
            &format!("{}/services", s.url),
            Some(&admin_auth()),
            Some(body.as_bytes())
        )
        .status,
        200
    );
    let out = twitcher(&dir, &["db", "check"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(": ok"));

    let out = twitcher(&dir, &["db", "backup", "copy.sqlite"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(file_mode(&dir.path("copy.sqlite")), 0o600);
    let copy = rusqlite::Connection::open(dir.path("copy.sqlite")).unwrap();
    let name: String = copy
        .query_row("SELECT name FROM service", [], |r| r.get(0))
        .unwrap();
    assert_eq!(name, "kept");
    let out = twitcher(&dir, &["db", "backup", "copy.sqlite"], &[]);
    assert_eq!(out.status.code(), Some(1), "never overwrites");

    let out = twitcher(&dir, &["db", "check", "--db", "copy.sqlite"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn db_check_finds_damage() {
    let dir = TempDir::new("damage");
    assert_eq!(
        twitcher(&dir, &["db", "migrate"], &[]).status.code(),
        Some(0)
    );
    let path = dir.path("twitcher.sqlite");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA journal_mode = DELETE; CREATE TABLE filler (x BLOB); INSERT INTO filler VALUES (zeroblob(50000));").unwrap();
    }
    // Overwrite the middle of the file: a page of the b-tree turns to garbage.
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    for b in &mut bytes[4096..n.min(4096 * 3)] {
        *b = 0x5a;
    }
    std::fs::write(&path, bytes).unwrap();
    let out = twitcher(&dir, &["db", "check"], &[]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = twitcher(&dir, &["db", "check", "--db", "nothere.sqlite"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !dir.path("nothere.sqlite").exists(),
        "check creates nothing"
    );
}

#[test]
fn db_reset_password_replaces_the_generated_one() {
    let dir = Arc::new(TempDir::new("reset"));
    // A mistyped --db is said, not made.
    let out = twitcher(&dir, &["db", "reset-password"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no database at"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path("twitcher.sqlite").exists());
    assert_eq!(
        twitcher(&dir, &["db", "migrate"], &[]).status.code(),
        Some(0)
    );
    let out = twitcher(&dir, &["db", "reset-password"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let password = text(&out.stderr)
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: ").map(String::from))
        .unwrap();
    let s = Launch::default()
        .in_dir(dir)
        .default_db()
        .generated_password()
        .start();
    assert_eq!(
        get(
            &format!("{}/services", s.url),
            Some(&basic("admin", &password))
        )
        .status,
        200
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let dir = TempDir::new("usage");
    let out = twitcher(&dir, &["serve", "--nope"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--nope"));
    assert_eq!(twitcher(&dir, &["frobnicate"], &[]).status.code(), Some(2));
    let out = twitcher(&dir, &["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("db backup"));
    let out = twitcher(&dir, &["--version"], &[]);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("twitcher {}", env!("CARGO_PKG_VERSION"))
    );
}

/// A setting whose value is not UTF-8 read as unset: `config check` showed the default
/// database path, and `serve` would have used it.
#[test]
fn a_setting_that_is_not_utf8_is_an_error_not_a_default() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("not-utf8");
    let bad = std::ffi::OsStr::from_bytes(b"/srv/tw\xffitcher.sqlite");
    for args in [&["config", "check"][..], &["ctl", "list"][..]] {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(&dir.0)
            .env("TWITCHER_DB", bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            text(&out.stderr),
            "error: the environment variable TWITCHER_DB is not valid UTF-8\n"
        );
    }
}

/// `twitcher config check | head -1`: the reader is gone before the output is written
/// (here: a pipe whose read end is already closed). The command ends on SIGPIPE, as Unix
/// tools do, instead of panicking with "failed printing to stdout".
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = TempDir::new("pipe");
    for args in [
        &["config", "check"][..],
        &["man", "twitcherctl"],
        &["ctl", "--help"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(BIN)
            .args(args)
            .current_dir(&dir.0)
            .env_remove("TWITCHER_CONFIG")
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "{args:?}: {:?}, stderr: {}",
            out.status,
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains("panicked"), "{args:?}");
    }
}

/// A database written by Python Twitcher 0.11.3 itself (`tests/fixtures`), with the
/// rows a user of the original has: services, a client, a token.
#[test]
fn db_import_carries_a_python_twitcher_database_over() {
    let dir = Arc::new(TempDir::new("import"));
    let py = dir.path("py.sqlite");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/python-twitcher-0.11.3.sqlite"
        ),
        &py,
    )
    .unwrap();
    {
        let c = rusqlite::Connection::open(&py).unwrap();
        c.execute_batch(
            "UPDATE token SET expires = strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 hour');
             INSERT INTO services (url, name, type, purl, auth, _verify)
                 VALUES ('https://maps.example.org/wms?map=x', 'My Maps', 'wms', '', 'token', 0),
                        ('ftp://files.example.org/', 'ftp', 'wps', '', 'token', 1),
                        ('http://b/wps', 'EMU', 'wms', '', 'token', 1),
                        ('http://c/wps', 'odd_verify', 'wps', '', 'token', 'yes'),
                        ('http://d/wps', 'Tok', 'wps', '', 'Token', 1);
             INSERT INTO client (client_id, client_secret, default_scope, _redirect_uris, name)
                 VALUES ('c2', 's2', 'superpowers', '', 'odd');",
        )
        .unwrap();
    }
    let before = std::fs::read(&py).unwrap();
    let import = || {
        twitcher(
            &dir,
            &["db", "import", "py.sqlite", "--db", "twitcher.sqlite"],
            &[],
        )
    };
    let out = import();
    let stdout = text(&out.stdout);
    // Refused rows are named and make the exit 1; the others are imported all the same.
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    for line in [
        "service emu: imported (http://127.0.0.1:5000/wps)",
        "service pub: imported (http://127.0.0.1:5000/wps)",
        "service My Maps: imported as my_maps (https://maps.example.org/wms)",
        "service ftp: not imported: url: must be an http:// or https:// URL with a host",
        "service EMU: not imported: its name becomes emu, as service emu's does",
        "service odd_verify: not imported: _verify: a value of type text where the schema has another",
        "service Tok: auth `Token` made it public in Twitcher; here it is protected as `token`",
        "service Tok: imported as tok (http://d/wps)",
        "client 58c0240a305c4920a15a77cec097971d (demo_app): imported, its secret unchanged",
        "client c2: not imported: scope: unknown scope `superpowers`; known scopes are compute, register",
        "tokens: 1 not yet expired in py.sqlite, not imported: clients ask for new ones with the same credentials",
        "twitcher.sqlite: 4 of 7 services and 1 of 2 clients imported from py.sqlite (alembic revision d9cff565b8db)",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "no line `{line}` in:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("75e21587b7314294b790364c4b773be9"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(&py).unwrap(),
        before,
        "the Python file is left untouched"
    );

    // Again: nothing is added twice, nothing is overwritten.
    let again = text(&import().stdout);
    assert!(
        again.contains("service emu: already registered here, left as it is")
            && again
                .contains("client 58c0240a305c4920a15a77cec097971d: already here, left as it is")
            && again.contains("0 of 7 services and 0 of 2 clients imported"),
        "{again}"
    );

    let s = Launch::default().in_dir(dir.clone()).start();
    let listed = get(&format!("{}/services", s.url), Some(&admin_auth())).json();
    assert_eq!(
        listed,
        json!([
            {"url": "http://127.0.0.1:5000/wps", "name": "emu", "type": "wps", "purl": "",
             "auth": "token", "public": false, "verify": true},
            {"url": "http://127.0.0.1:5000/wps", "name": "pub", "type": "wps", "purl": "",
             "auth": "public", "public": true, "verify": true},
            {"url": "https://maps.example.org/wms", "name": "my_maps", "type": "wms", "purl": "",
             "auth": "token", "public": false, "verify": false},
            {"url": "http://d/wps", "name": "tok", "type": "wps", "purl": "",
             "auth": "token", "public": false, "verify": true},
        ])
    );
    // The client's credentials from the original still work, and its token opens Execute.
    let token = client_token(
        &s,
        "58c0240a305c4920a15a77cec097971d",
        "75e21587b7314294b790364c4b773be9",
        "compute",
    );
    let execute = format!(
        "{}/ows/verify/emu?service=WPS&version=1.0.0&request=Execute&identifier=hello",
        s.url
    );
    assert_eq!(get(&execute, Some(&bearer(&token))).status, 200);
    assert_eq!(get(&execute, None).status, 401);
    let wrong = request(
        "POST",
        &format!("{}/oauth/token", s.url),
        Some(&basic(
            "58c0240a305c4920a15a77cec097971d",
            "75e21587b7314294b790364c4b773bea",
        )),
        Some(b"grant_type=client_credentials"),
    );
    assert_eq!(wrong.status, 401, "{}", wrong.text());
}

#[test]
fn db_import_refuses_what_is_not_a_python_twitcher_database() {
    let dir = TempDir::new("import-not");
    let ours = twitcher(&dir, &["db", "migrate", "--db", "ours.sqlite"], &[]);
    assert_eq!(ours.status.code(), Some(0), "{}", text(&ours.stderr));
    let out = twitcher(
        &dir,
        &["db", "import", "ours.sqlite", "--db", "new.sqlite"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("ours.sqlite is not a Python Twitcher database"),
        "{}",
        text(&out.stderr)
    );
    let out = twitcher(
        &dir,
        &["db", "import", "missing.sqlite", "--db", "new.sqlite"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.sqlite: no such file"));
    assert!(
        !dir.path("new.sqlite").exists(),
        "nothing is created on a failed import"
    );
}
