//! The SQLite store: one file, WAL journal, a small connection pool, and migrations from
//! `schema.sql`.
//!
//! Durability: `synchronous = FULL` in WAL mode syncs the WAL on every commit, so a
//! write acknowledged to a client survives a crash of the process and of the machine.
//! `NORMAL` would be faster but may drop the last commits on power loss. Writes here are
//! admin actions and token grants, rare next to reads, so FULL costs little.

mod group;
mod meta;
mod oauth;
mod services;

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::{Imported, Page, Store, StoreError, StoreResult};
use crate::oauth::{Client, Revocation, StoredToken};
use crate::registry::Service;

/// The schema, as a sequence of `-- migration N:` blocks.
pub const SCHEMA: &str = include_str!("../../../schema.sql");

/// How long a writer waits for another before it reports `Busy`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept for reuse; more are opened under load and closed after.
const POOL_IDLE: usize = 16;

/// Why a database file cannot be used.
#[derive(Debug)]
pub enum OpenError {
    /// The file holds Python Twitcher's (alembic) schema; we leave it untouched.
    PythonSchema {
        path: PathBuf,
        revision: String,
    },
    /// The file was written by a newer twitcher.
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    Other(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::PythonSchema { path, revision } => write!(
                f,
                "{} is a database of the Python Twitcher (alembic revision {revision}, tables \
                 services/client/token). twitcher leaves it untouched. Point --db (or \
                 sqlalchemy.url) at a new file and copy the services and clients into it \
                 with `twitcher db import {}`.",
                path.display(),
                path.display()
            ),
            OpenError::TooNew { path, found, known } => write!(
                f,
                "{} has schema version {found}, newer than the {known} this twitcher knows; \
                 run a newer twitcher",
                path.display()
            ),
            OpenError::Other(m) => f.write_str(m),
        }
    }
}

/// Numbered migration blocks of `SCHEMA`; a block starts at a line `-- migration N: ...`.
pub fn migrations() -> Vec<(u32, &'static str)> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in SCHEMA.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("-- migration ") {
            let num: u32 = rest
                .split(':')
                .next()
                .and_then(|n| n.trim().parse().ok())
                .expect("schema.sql: `-- migration N:` needs a number");
            starts.push((num, offset));
        }
        offset += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &(num, start))| {
            let end = starts.get(i + 1).map_or(SCHEMA.len(), |next| next.1);
            (num, &SCHEMA[start..end])
        })
        .collect()
}

pub fn latest_version() -> u32 {
    migrations().last().map_or(0, |(n, _)| *n)
}

fn other(e: rusqlite::Error) -> StoreError {
    other_ref(&e)
}

fn other_ref(e: &rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => StoreError::Busy,
        _ => StoreError::Other(e.to_string()),
    }
}

pub struct SqliteStore {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
    /// Started on the first random-token grant.
    token_writer: OnceLock<StoreResult<group::GroupWriter>>,
}

/// A pooled connection, handed back on drop.
struct Pooled<'a> {
    conn: Option<Connection>,
    store: &'a SqliteStore,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut pool)) = (self.conn.take(), self.store.pool.lock())
            && pool.len() < POOL_IDLE
        {
            pool.push(conn);
        }
    }
}

/// Opens a connection with the pragmas every connection needs.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Creates the file with mode 0600 before SQLite sees it; SQLite gives its -wal and
/// -shm files the same mode.
fn create_private(path: &Path) -> Result<(), OpenError> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(OpenError::Other(format!(
            "cannot create database {}: folder {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(|_| ())
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(OpenError::Other(format!(
                "cannot create database {}: {e}",
                path.display()
            ))),
        })
}

/// What `open` found and did to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub from: u32,
    pub to: u32,
}

impl SqliteStore {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<(SqliteStore, Migrated), OpenError> {
        create_private(path)?;
        let mut conn = connect(path).map_err(|e| {
            OpenError::Other(format!("cannot open database {}: {e}", path.display()))
        })?;
        refuse_foreign_schema(&conn, path)?;
        set_wal(&conn, path)?;
        let migrated = migrate(&mut conn, path)?;
        let store = SqliteStore {
            path: path.to_path_buf(),
            pool: Mutex::new(vec![conn]),
            token_writer: OnceLock::new(),
        };
        Ok((store, migrated))
    }

    /// Opens an existing database as it is, without creating or migrating anything;
    /// returns it with its schema version.
    pub fn inspect(path: &Path) -> Result<(SqliteStore, u32), OpenError> {
        if !path.is_file() {
            return Err(OpenError::Other(format!(
                "no database at {}",
                path.display()
            )));
        }
        let conn = connect(path).map_err(|e| {
            OpenError::Other(format!("cannot open database {}: {e}", path.display()))
        })?;
        refuse_foreign_schema(&conn, path)?;
        let version: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| OpenError::Other(format!("{}: {e}", path.display())))?;
        let store = SqliteStore {
            path: path.to_path_buf(),
            pool: Mutex::new(vec![conn]),
            token_writer: OnceLock::new(),
        };
        Ok((store, version))
    }
}

fn set_wal(conn: &Connection, path: &Path) -> Result<(), OpenError> {
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| OpenError::Other(format!("{}: {e}", path.display())))?;
    if mode.eq_ignore_ascii_case("wal") {
        Ok(())
    } else {
        Err(OpenError::Other(format!(
            "{}: cannot switch to WAL journal mode (got {mode})",
            path.display()
        )))
    }
}

impl SqliteStore {
    fn conn(&self) -> StoreResult<Pooled<'_>> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let conn = match pooled {
            Some(c) => c,
            None => connect(&self.path).map_err(other)?,
        };
        Ok(Pooled {
            conn: Some(conn),
            store: self,
        })
    }

    /// Runs `f` in a write transaction that takes the write lock up front, so two writers
    /// queue on the busy timeout instead of failing on a lock upgrade.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(other)?;
        let out = f(&tx).map_err(other)?;
        tx.commit().map_err(other)?;
        Ok(out)
    }

    /// `PRAGMA integrity_check` and `foreign_key_check`; an empty list means healthy.
    pub fn check(&self) -> StoreResult<Vec<String>> {
        let conn = self.conn()?;
        let mut problems = Vec::new();
        let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(other)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(other)?;
        for row in rows {
            let line = row.map_err(other)?;
            if line != "ok" {
                problems.push(line);
            }
        }
        let mut stmt = conn.prepare("PRAGMA foreign_key_check").map_err(other)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(format!(
                    "foreign key violation in table {} row {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?
                ))
            })
            .map_err(other)?;
        for row in rows {
            problems.push(row.map_err(other)?);
        }
        Ok(problems)
    }

    /// Copies the live database to `dest` with SQLite's online backup API.
    pub fn backup(&self, dest: &Path) -> Result<(), String> {
        if dest.exists() {
            return Err(format!(
                "{} exists; refusing to overwrite it",
                dest.display()
            ));
        }
        create_private(dest).map_err(|e| e.to_string())?;
        let conn = self.conn().map_err(|e| e.to_string())?;
        let mut target = Connection::open(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        {
            let backup = rusqlite::backup::Backup::new(&conn, &mut target)
                .map_err(|e| format!("backup: {e}"))?;
            backup
                .run_to_completion(256, Duration::from_millis(5), None)
                .map_err(|e| format!("backup: {e}"))?;
        }
        // The copy is a plain rollback-journal file, readable without its -wal.
        target
            .pragma_update(None, "journal_mode", "DELETE")
            .map_err(|e| format!("{}: {e}", dest.display()))?;
        Ok(())
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Store for SqliteStore {
    fn list_services(&self, page: Page) -> StoreResult<Vec<Service>> {
        services::list(&*self.conn()?, page).map_err(other)
    }
    fn get_service(&self, name: &str) -> StoreResult<Option<Service>> {
        services::get(&*self.conn()?, name).map_err(other)
    }
    fn save_service(&self, service: &Service) -> StoreResult<()> {
        self.write(|tx| services::save(tx, service, unix_now()))
    }
    fn create_service(&self, service: &Service) -> StoreResult<bool> {
        self.write(|tx| services::create(tx, service, unix_now()))
    }
    fn delete_service(&self, name: &str) -> StoreResult<bool> {
        self.write(|tx| services::delete(tx, name))
    }
    fn clear_services(&self) -> StoreResult<usize> {
        self.write(|tx| services::clear(tx))
    }
    fn get_meta(&self, key: &str) -> StoreResult<Option<String>> {
        meta::get(&*self.conn()?, key).map_err(other)
    }
    fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        self.write(|tx| meta::set(tx, key, value))
    }
    fn create_client(&self, client: &Client) -> StoreResult<()> {
        self.write(|tx| oauth::create_client(tx, client))
    }
    fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        oauth::get_client(&*self.conn()?, client_id).map_err(other)
    }
    fn list_clients(&self) -> StoreResult<Vec<Client>> {
        oauth::list_clients(&*self.conn()?).map_err(other)
    }
    fn delete_client(&self, client_id: &str, revocation: &Revocation) -> StoreResult<bool> {
        self.write(|tx| {
            let found = oauth::delete_client(tx, client_id)?;
            if found {
                oauth::add_revocation(tx, revocation)?;
            }
            Ok(found)
        })
    }
    fn import(&self, services: &[Service], clients: &[Client]) -> StoreResult<Imported> {
        self.write(|tx| {
            let now = unix_now();
            let mut added = Imported::default();
            for s in services {
                if services::get(tx, &s.name)?.is_none() {
                    services::save(tx, s, now)?;
                    added.services.push(s.name.clone());
                }
            }
            for c in clients {
                if oauth::get_client(tx, &c.client_id)?.is_none() {
                    oauth::create_client(tx, c)?;
                    added.clients.push(c.client_id.clone());
                }
            }
            Ok(added)
        })
    }
    fn save_token(&self, token: &StoredToken, now: u64) -> StoreResult<()> {
        match self
            .token_writer
            .get_or_init(|| group::GroupWriter::start(self.path.clone()))
        {
            Ok(w) => w.save(token, now),
            Err(e) => Err(StoreError::Other(e.to_string())),
        }
    }
    fn get_token(&self, digest: &[u8]) -> StoreResult<Option<StoredToken>> {
        oauth::get_token(&*self.conn()?, digest).map_err(other)
    }
    fn delete_token(&self, digest: &[u8]) -> StoreResult<bool> {
        self.write(|tx| oauth::delete_token(tx, digest))
    }
    fn add_revocation(&self, revocation: &Revocation) -> StoreResult<()> {
        self.write(|tx| oauth::add_revocation(tx, revocation))
    }
    fn revocations(&self, now: u64) -> StoreResult<Vec<Revocation>> {
        self.write(|tx| {
            oauth::prune_revocations(tx, now)?;
            oauth::revocations(tx)
        })
    }
}

fn refuse_foreign_schema(conn: &Connection, path: &Path) -> Result<(), OpenError> {
    let has_alembic: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| OpenError::Other(format!("{} is not a usable SQLite database: {e}", path.display())))?;
    if has_alembic {
        let revision = conn
            .query_row("SELECT version_num FROM alembic_version", [], |r| {
                r.get::<_, String>(0)
            })
            .unwrap_or_else(|_| "unknown".into());
        return Err(OpenError::PythonSchema {
            path: path.to_path_buf(),
            revision,
        });
    }
    Ok(())
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<Migrated, OpenError> {
    let fail =
        |e: rusqlite::Error| OpenError::Other(format!("{}: migration failed: {e}", path.display()));
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    let from: u32 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(fail)?;
    let known = latest_version();
    if from > known {
        return Err(OpenError::TooNew {
            path: path.to_path_buf(),
            found: from,
            known,
        });
    }
    if from == 0 {
        let tables: i64 = tx
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
                [],
                |r| r.get(0),
            )
            .map_err(fail)?;
        if tables > 0 {
            return Err(OpenError::Other(format!(
                "{} already holds tables that are not twitcher's; use another file",
                path.display()
            )));
        }
    }
    for (num, sql) in migrations() {
        if num > from {
            tx.execute_batch(sql).map_err(fail)?;
        }
    }
    tx.pragma_update(None, "user_version", known)
        .map_err(fail)?;
    tx.commit().map_err(fail)?;
    Ok(Migrated { from, to: known })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_3_makes_client_blocks_last() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (_, sql) in migrations().into_iter().filter(|(n, _)| *n <= 2) {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "INSERT INTO revocation VALUES ('client', 'c1', 100), ('jti', 'j1', 100);",
        )
        .unwrap();
        let m = migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!((m.from, m.to), (2, latest_version()));
        let expiry = |kind: &str| -> i64 {
            conn.query_row(
                "SELECT expires_at FROM revocation WHERE kind = ?1",
                [kind],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(expiry("client"), i64::MAX);
        assert_eq!(expiry("jti"), 100);
    }

    #[test]
    fn schema_blocks_are_numbered_from_one_without_gaps() {
        let m = migrations();
        assert!(!m.is_empty());
        for (i, (n, _)) in m.iter().enumerate() {
            assert_eq!(*n as usize, i + 1);
        }
    }
}
