//! Commands that work without a running server: `config check` and `db ...` on the file.

use std::path::Path;

use serde_json::json;

use crate::auth::secrets::Digester;
use crate::config::{self, Overrides, Settings};
use crate::log;
use crate::oauth::{self, Client};
use crate::registry::{self, Service};
use crate::server;
use crate::store::Store;
use crate::store::python_db::{self, PythonClient, PythonService, ReadError};
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
        Ok(s) => match crate::auth::tokens::TokenService::load_keys(&s.token) {
            Ok(_) => {
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
    // A mistyped --db names no database: say so rather than make a new one.
    let store = match SqliteStore::inspect(&s.db).and_then(|_| SqliteStore::open(&s.db)) {
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

/// `twitcher db import FILE`: the services and clients of a Python Twitcher database,
/// so that a deployment swaps the original out without registering anything again.
/// Clients keep their ids and secrets (only a keyed digest of the secret is stored).
pub fn db_import(over: &Overrides, source: &Path) -> i32 {
    let (_, s) = match settings(over) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let py = match python_db::read(source) {
        Ok(py) => py,
        Err(e) => {
            eprintln!("error: {e}");
            return match e {
                ReadError::NotPython(_) => 2,
                ReadError::Other(_) => 1,
            };
        }
    };
    let store = match SqliteStore::open(&s.db) {
        Ok((store, _)) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return open_error_code(&e);
        }
    };
    let digester = match Digester::from_store(&store) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {}: {e}", s.db.display());
            return 1;
        }
    };
    let mut refused = 0;
    let mut services = Vec::new();
    // The names as the file has them, beside `services`: registration may sanitize them.
    let mut names = Vec::new();
    for row in &py.services {
        let (shown, svc) = match row {
            Ok(row) => (row.name.as_str(), service_from(row)),
            Err(u) => (u.row.as_str(), Err(u.why.clone())),
        };
        // Two names of the file can sanitize to one: the first keeps it.
        let svc =
            svc.and_then(
                |svc| match services.iter().position(|s: &Service| s.name == svc.name) {
                    Some(i) => Err(format!(
                        "its name becomes {}, as service {}'s does",
                        svc.name, names[i]
                    )),
                    None => Ok(svc),
                },
            );
        match svc {
            Ok(svc) => {
                // The original matched `token` and `cert` exactly: `Token` was public.
                if let Ok(PythonService {
                    auth: Some(given), ..
                }) = row
                    && given.trim() != svc.auth
                    && !svc.public
                {
                    println!(
                        "service {shown}: auth `{given}` made it public in Twitcher; here it \
                         is protected as `{}`",
                        svc.auth
                    );
                }
                services.push(svc);
                names.push(shown);
            }
            Err(m) => {
                refused += 1;
                println!("service {shown}: not imported: {m}");
            }
        }
    }
    let mut clients = Vec::new();
    for row in &py.clients {
        let (shown, client) = match row {
            Ok(row) => (row.client_id.as_str(), client_from(row, &digester)),
            Err(u) => (u.row.as_str(), Err(u.why.clone())),
        };
        match client {
            Ok(c) => clients.push(c),
            Err(m) => {
                refused += 1;
                println!("client {shown}: not imported: {m}");
            }
        }
    }
    let added = match store.import(&services, &clients) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {}: {e}", s.db.display());
            return 1;
        }
    };
    for (svc, name) in services.iter().zip(names) {
        let renamed = if svc.name == name {
            String::new()
        } else {
            format!(" as {}", svc.name)
        };
        if added.services.contains(&svc.name) {
            println!("service {name}: imported{renamed} ({})", svc.url);
        } else {
            println!("service {name}: already registered here{renamed}, left as it is");
        }
    }
    for c in &clients {
        if added.clients.contains(&c.client_id) {
            println!(
                "client {} ({}): imported, its secret unchanged",
                c.client_id, c.name
            );
        } else {
            println!("client {}: already here, left as it is", c.client_id);
        }
    }
    if py.live_tokens > 0 {
        println!(
            "tokens: {} not yet expired in {}, not imported: clients ask for new ones with \
             the same credentials",
            py.live_tokens,
            source.display()
        );
    }
    println!(
        "{}: {} of {} services and {} of {} clients imported from {} (alembic revision {})",
        s.db.display(),
        added.services.len(),
        py.services.len(),
        added.clients.len(),
        py.clients.len(),
        source.display(),
        py.revision
    );
    if refused > 0 { 1 } else { 0 }
}

/// Checked as a registration through the REST API is, so an imported service is one
/// that could have been registered here.
fn service_from(row: &PythonService) -> Result<Service, String> {
    let body = json!({
        "name": row.name,
        "url": row.url,
        "type": row.kind,
        "purl": row.purl,
        "auth": row.auth,
        "verify": row.verify.map(|v| v != 0),
    });
    registry::service_from_body(&body).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("{}: {}", e.name, e.description))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

fn client_from(row: &PythonClient, digester: &Digester) -> Result<Client, String> {
    let id = row.client_id.trim();
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the client id is empty, longer than 128 or not printable ASCII".into());
    }
    if row.secret.is_empty() {
        return Err("it has no secret".into());
    }
    let first_redirect_uri = row
        .redirect_uris
        .as_deref()
        .and_then(|u| u.split_whitespace().next())
        .unwrap_or("");
    let fields = oauth::client_fields(
        row.name.as_deref().unwrap_or(""),
        first_redirect_uri,
        row.scope.as_deref(),
    )
    .map_err(|(field, m)| format!("{field}: {m}"))?;
    Ok(Client {
        client_id: id.to_string(),
        name: fields.name.to_string(),
        secret_digest: digester.digest(&row.secret),
        redirect_uri: fields.redirect_uri.to_string(),
        scopes: fields.scopes,
        created_at: oauth::now(),
    })
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
