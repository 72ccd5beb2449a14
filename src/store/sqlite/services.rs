//! Queries on the `service` table.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::registry::Service;
use crate::store::Page;

const COLUMNS: &str = "name, url, type, purl, auth, verify";

fn from_row(r: &Row) -> rusqlite::Result<Service> {
    Ok(Service::new(
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get::<_, i64>(5)? != 0,
    ))
}

pub fn list(conn: &Connection, page: Page) -> rusqlite::Result<Vec<Service>> {
    let limit = page.limit.map_or(-1, |l| l.min(i64::MAX as u64) as i64);
    let offset = page.offset.min(i64::MAX as u64) as i64;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM service ORDER BY id LIMIT ?1 OFFSET ?2"
    ))?;
    let rows = stmt.query_map(params![limit, offset], from_row)?;
    rows.collect()
}

pub fn get(conn: &Connection, name: &str) -> rusqlite::Result<Option<Service>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM service WHERE name = ?1"))?;
    stmt.query_row([name], from_row).optional()
}

/// Inserts the service, or updates the one with the same name.
pub fn save(conn: &Connection, s: &Service, now: i64) -> rusqlite::Result<()> {
    insert(
        conn,
        s,
        now,
        "DO UPDATE SET url = excluded.url, type = excluded.type, purl = excluded.purl,
           auth = excluded.auth, verify = excluded.verify, updated_at = excluded.updated_at",
    )
    .map(drop)
}

/// Inserts the service unless one has its name; whether it did.
pub fn create(conn: &Connection, s: &Service, now: i64) -> rusqlite::Result<bool> {
    insert(conn, s, now, "DO NOTHING")
}

/// `INSERT` with `on_conflict` for a name already there; whether a row was written.
fn insert(conn: &Connection, s: &Service, now: i64, on_conflict: &str) -> rusqlite::Result<bool> {
    let n = conn.execute(
        &format!(
            "INSERT INTO service (name, url, type, purl, auth, verify, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (name) {on_conflict}"
        ),
        params![s.name, s.url, s.kind, s.purl, s.auth, s.verify as i64, now],
    )?;
    Ok(n > 0)
}

pub fn delete(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM service WHERE name = ?1", [name])? > 0)
}

pub fn clear(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM service", [])
}
