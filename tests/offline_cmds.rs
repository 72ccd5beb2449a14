//! Commands that work on files without a server: `config check` and `db ...`.

mod common;

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
