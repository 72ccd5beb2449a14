//! The original's own client against this server: Python Twitcher 0.11.3's
//! `twitcherctl add` and `gentoken` (requests-oauthlib's BackendApplicationClient),
//! from the reference deployment's venv (`../shared/reference/setup.sh`). It needs that
//! venv, so it is ignored by default: `cargo test --test python_clients -- --ignored`.
//! CI runs the same clients from pinned versions in the interop suite (tests/interop).

mod common;

use std::process::Command;

use common::*;

const TWITCHERCTL: &str = "/tmp/peer-venvs/twitcher/bin/twitcherctl";

/// Runs the Python twitcherctl; it prints its result to stderr.
fn twitcherctl(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(TWITCHERCTL)
        .args(args)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("run twitcherctl");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `{'client_id': '…', …}` (a Python repr) → the value of `key`.
fn repr_field(repr: &str, key: &str) -> String {
    let start = repr
        .find(&format!("'{key}': '"))
        .unwrap_or_else(|| panic!("no {key} in {repr}"))
        + key.len()
        + 5;
    repr[start..].split('\'').next().unwrap().to_string()
}

#[test]
#[ignore = "needs the reference venv at /tmp/peer-venvs; run with --ignored"]
fn python_twitcherctl_add_and_gentoken_work_against_this_server() {
    for kind in ["random_token", "custom_token"] {
        let s = Launch::default()
            .env("TWITCHER_TOKEN_TYPE", kind)
            .env("TWITCHER_TOKEN_SECRET", "0123456789abcdef0123456789abcdef")
            .start();
        let (_, pass) = ADMIN;
        let (code, out) = twitcherctl(&[
            "-s", &s.url, "-u", "admin", "-p", pass, "add", "--name", "demo_app",
        ]);
        // twitcherctl exits 1 on success: sys.exit(result).
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("'name': 'demo_app'"), "{out}");
        assert!(out.contains("'scope': ['compute']"), "{out}");
        let id = repr_field(&out, "client_id");
        let secret = repr_field(&out, "client_secret");

        let (code, out) = twitcherctl(&[
            "-s", &s.url, "gentoken", "-i", &id, "-s", &secret, "--scope", "compute",
        ]);
        assert_eq!(code, Some(1), "{kind}: {out}");
        assert!(out.contains("'token_type': 'Bearer'"), "{kind}: {out}");
        assert!(out.contains("'expires_in': 3600"), "{kind}: {out}");
        let token = repr_field(&out, "access_token");
        let r = request(
            "POST",
            &format!("{}/oauth/introspect", s.url),
            Some(&basic(&id, &secret)),
            Some(format!("token={token}").as_bytes()),
        );
        assert_eq!(
            r.json()["active"],
            true,
            "{kind}: the token it got is valid"
        );

        let (code, out) = twitcherctl(&[
            "-s", &s.url, "gentoken", "-i", &id, "-s", "wrong", "--scope", "compute",
        ]);
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains("invalid_client"), "{kind}: {out}");
    }
}
