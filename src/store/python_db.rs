//! A Python Twitcher 0.11 database (alembic schema: `services`, `client`, `token`), read
//! for `twitcher db import`. The file is opened read-only and never changed.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

pub struct PythonDb {
    pub revision: String,
    pub services: Vec<Result<PythonService, Unreadable>>,
    pub clients: Vec<Result<PythonClient, Unreadable>>,
    /// Access tokens that have not expired yet; they are not carried over.
    pub live_tokens: u64,
}

/// A `services` row; the optional columns are absent in some alembic revisions.
pub struct PythonService {
    pub name: String,
    pub url: String,
    pub kind: Option<String>,
    pub purl: Option<String>,
    pub auth: Option<String>,
    pub verify: Option<i64>,
}

/// A `client` row. The original keeps the secret as it was handed out.
pub struct PythonClient {
    pub client_id: String,
    pub secret: String,
    pub name: Option<String>,
    /// Space-separated, as oauthlib's models keep them.
    pub scope: Option<String>,
    pub redirect_uris: Option<String>,
}

/// A row whose cells do not have the types the schema gives them (SQLite stores any
/// value in any column): it is named and left out, and the other rows are read.
#[derive(Debug)]
pub struct Unreadable {
    /// The row's name or client id as far as it reads, else its rowid.
    pub row: String,
    pub why: String,
}

#[derive(Debug)]
pub enum ReadError {
    /// The file is a database, but not one of Python Twitcher's.
    NotPython(String),
    Other(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotPython(m) | ReadError::Other(m) => f.write_str(m),
        }
    }
}

pub fn read(path: &Path) -> Result<PythonDb, ReadError> {
    let at = path.display();
    if !path.is_file() {
        return Err(ReadError::Other(format!("{at}: no such file")));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| ReadError::Other(format!("{at}: cannot open: {e}")))?;
    let revision: String = conn
        .query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0))
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
                ReadError::Other(format!("{at} is not an SQLite database"))
            }
            _ => ReadError::NotPython(format!(
                "{at} is not a Python Twitcher database (it has no alembic_version)"
            )),
        })?;
    let bad =
        |e: rusqlite::Error| ReadError::Other(format!("{at} (alembic revision {revision}): {e}"));
    let services = read_services(&conn).map_err(bad)?;
    let clients = read_clients(&conn).map_err(bad)?;
    let live_tokens = count_live_tokens(&conn).map_err(bad)?;
    Ok(PythonDb {
        revision,
        services,
        clients,
        live_tokens,
    })
}

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<HashSet<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = stmt.query_map([table], |r| r.get(0))?;
    names.collect()
}

/// The rows of `table` in insertion order: its rowid, each `required` column and each
/// `optional` one (NULL where this alembic revision lacks it); none when the table is
/// missing. A row `row` cannot read is an `Unreadable` naming its first column.
fn select<T>(
    conn: &Connection,
    table: &str,
    required: &[&str],
    optional: &[&str],
    mut row: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<Result<T, Unreadable>>> {
    let have = columns(conn, table)?;
    if have.is_empty() {
        return Ok(Vec::new());
    }
    let optional = optional
        .iter()
        .map(|&c| if have.contains(c) { c } else { "NULL" });
    let list: Vec<&str> = ["rowid"]
        .into_iter()
        .chain(required.iter().copied())
        .chain(optional)
        .collect();
    let sql = format!("SELECT {} FROM {table} ORDER BY rowid", list.join(", "));
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(row(r).map_err(|e| Unreadable {
            row: match r.get_ref(1) {
                Ok(ValueRef::Text(t)) => String::from_utf8_lossy(t).into_owned(),
                _ => format!("at rowid {}", r.get::<_, i64>(0).unwrap_or_default()),
            },
            why: match e {
                rusqlite::Error::InvalidColumnType(_, name, ty) => format!(
                    "{name}: a value of type {} where the schema has another",
                    ty.to_string().to_lowercase()
                ),
                e => e.to_string(),
            },
        }));
    }
    Ok(out)
}

fn read_services(conn: &Connection) -> rusqlite::Result<Vec<Result<PythonService, Unreadable>>> {
    let optional = ["type", "purl", "auth", "_verify"];
    select(conn, "services", &["name", "url"], &optional, |r| {
        Ok(PythonService {
            name: r.get(1)?,
            url: r.get(2)?,
            kind: r.get(3)?,
            purl: r.get(4)?,
            auth: r.get(5)?,
            verify: r.get(6)?,
        })
    })
}

fn read_clients(conn: &Connection) -> rusqlite::Result<Vec<Result<PythonClient, Unreadable>>> {
    let required = ["client_id", "client_secret"];
    let optional = ["name", "default_scope", "_redirect_uris"];
    select(conn, "client", &required, &optional, |r| {
        Ok(PythonClient {
            client_id: r.get(1)?,
            secret: r.get(2)?,
            name: r.get(3)?,
            scope: r.get(4)?,
            redirect_uris: r.get(5)?,
        })
    })
}

/// SQLAlchemy writes `expires` as naive UTC text, `2026-12-06 21:54:53.679203`, which
/// sorts as it compares.
fn count_live_tokens(conn: &Connection) -> rusqlite::Result<u64> {
    let have = columns(conn, "token")?;
    if !have.contains("access_token") || !have.contains("expires") {
        return Ok(0);
    }
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM token WHERE access_token IS NOT NULL \
         AND expires > strftime('%Y-%m-%d %H:%M:%f', 'now')",
        [],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}
