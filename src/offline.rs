//! Commands that work without a running server: `config check` and `db ...` on the file.

use crate::config::{self, Overrides, Settings};
use crate::log;
use crate::server;
use crate::store::sqlite::{OpenError, SqliteStore, latest_version};

/// Loads and validates settings; on failure prints one line per problem and gives the
/// exit code (2).
pub fn settings(over: &Overrides) -> Result<(config::Raw, Settings), i32> {
    let raw = match config::load(over, &|k| std::env::var(k).ok()) {
        Ok(r) => r,
        Err(e) => {
            log::error(&e.to_string());
            return Err(2);
        }
    };
    for w in &raw.warnings {
        log::warn(w);
    }
    match Settings::from_raw(&raw) {
        Ok(s) => Ok((raw, s)),
        Err(errors) => {
            for e in errors {
                log::error(&format!("invalid setting {e}"));
            }
            Err(2)
        }
    }
}

fn open_error_code(e: &OpenError) -> i32 {
    match e {
        OpenError::PythonSchema { .. } | OpenError::TooNew { .. } => 2,
        OpenError::Other(_) => 1,
    }
}

pub fn config_check(over: &Overrides) -> i32 {
    let raw = match config::load(over, &|k| std::env::var(k).ok()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    match &raw.config_file {
        Some(f) => println!("# config file: {}", f.display()),
        None => println!("# config file: none (embedded defaults)"),
    }
    let settings = Settings::from_raw(&raw);
    let derived = settings.as_ref().map_or(Vec::new(), |s| s.derived(None));
    let rows = raw.report(&derived);
    let width = rows.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    for (key, value, source) in rows {
        println!("{key:width$} = {value}    # {source}");
    }
    for w in &raw.warnings {
        eprintln!("warning: {w}");
    }
    match settings {
        Ok(s) => match crate::auth::tokens::TokenService::check_settings(&s.token) {
            Ok(()) => {
                eprintln!("settings are valid");
                0
            }
            Err(errors) => {
                for e in errors {
                    eprintln!("error: {e}");
                }
                2
            }
        },
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            2
        }
    }
}

pub fn db_migrate(over: &Overrides) -> i32 {
    let (_, s) = match settings(over) {
        Ok(v) => v,
        Err(code) => return code,
    };
    match SqliteStore::open(&s.db) {
        Ok((_, m)) if m.from == m.to => {
            println!("{}: schema is at version {} (latest)", s.db.display(), m.to);
            0
        }
        Ok((_, m)) => {
            println!("{}: schema version {} -> {}", s.db.display(), m.from, m.to);
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            open_error_code(&e)
        }
    }
}

pub fn db_check(over: &Overrides) -> i32 {
    let (_, s) = match settings(over) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let (store, version) = match SqliteStore::inspect(&s.db) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return open_error_code(&e);
        }
    };
    match store.check() {
        Ok(problems) if problems.is_empty() => {
            let note = if version < latest_version() {
                format!(
                    "; `twitcher db migrate` upgrades it to {}",
                    latest_version()
                )
            } else {
                String::new()
            };
            println!("{}: ok (schema version {version}{note})", s.db.display());
            0
        }
        Ok(problems) => {
            for p in &problems {
                println!("{}: {p}", s.db.display());
            }
            1
        }
        Err(e) => {
            eprintln!("error: {}: {e}", s.db.display());
            1
        }
    }
}

pub fn db_backup(over: &Overrides, dest: &std::path::Path) -> i32 {
    let (_, s) = match settings(over) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let store = match SqliteStore::inspect(&s.db) {
        Ok((store, _)) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return open_error_code(&e);
        }
    };
    match store.backup(dest) {
        Ok(()) => {
            println!("{} -> {}", s.db.display(), dest.display());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

pub fn db_reset_password(over: &Overrides) -> i32 {
    let (_, s) = match settings(over) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let store = match SqliteStore::open(&s.db) {
        Ok((store, _)) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return open_error_code(&e);
        }
    };
    if s.password.is_some() {
        log::warn("twitcher.password is set, so the server uses it instead of the stored hash");
    }
    match server::new_admin_password(&store) {
        Ok((plain, _)) => {
            server::announce_password(&s.username, &plain);
            log::info("a running server picks the new password up when restarted");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// `twitcher gencert`: the original's `make gencert`, without openssl.
pub fn gencert(dir: &std::path::Path) -> i32 {
    match crate::auth::tokens::keys::generate_pair(dir) {
        Ok((key, public)) => {
            let abs =
                |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            eprintln!(
                "wrote {} (mode 0600) and {}; settings for [app:main]:",
                key.display(),
                public.display()
            );
            println!("twitcher.token.type = signed_token");
            println!("twitcher.token.keyfile = {}", abs(&key).display());
            println!("twitcher.token.certfile = {}", abs(&public).display());
            0
        }
        Err(e) => {
            log::error(&e);
            1
        }
    }
}

/// `twitcher gensecret`: the original's `make gensecret`, with 256 bits instead of 122.
pub fn gensecret() -> i32 {
    println!("{}", crate::auth::secrets::random_hex(32));
    0
}
