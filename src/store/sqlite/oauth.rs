//! Queries on the `client`, `token` and `revocation` tables.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::oauth::{Client, Revocation, Revoked, StoredToken, split_scopes};

/// Expired tokens removed per write, so cleaning up never makes one write slow.
const PRUNE_BATCH: i64 = 100;

fn ts(t: u64) -> i64 {
    t.min(i64::MAX as u64) as i64
}

fn client_from_row(r: &Row) -> rusqlite::Result<Client> {
    Ok(Client {
        client_id: r.get(0)?,
        name: r.get(1)?,
        secret_digest: r.get(2)?,
        redirect_uri: r.get(3)?,
        scopes: split_scopes(&r.get::<_, String>(4)?),
        created_at: r.get::<_, i64>(5)?.max(0) as u64,
    })
}

const CLIENT_COLUMNS: &str = "client_id, name, secret_digest, redirect_uri, scope, created_at";

pub fn create_client(conn: &Connection, c: &Client) -> rusqlite::Result<()> {
    conn.execute(
        &format!("INSERT INTO client ({CLIENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            c.client_id,
            c.name,
            c.secret_digest,
            c.redirect_uri,
            c.scopes.join(" "),
            ts(c.created_at)
        ],
    )?;
    Ok(())
}

pub fn get_client(conn: &Connection, client_id: &str) -> rusqlite::Result<Option<Client>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CLIENT_COLUMNS} FROM client WHERE client_id = ?1"
    ))?;
    stmt.query_row([client_id], client_from_row).optional()
}

pub fn list_clients(conn: &Connection) -> rusqlite::Result<Vec<Client>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CLIENT_COLUMNS} FROM client ORDER BY rowid"
    ))?;
    let rows = stmt.query_map([], client_from_row)?;
    rows.collect()
}

/// Deletes the client (its tokens go with it, by cascade); whether it existed.
pub fn delete_client(conn: &Connection, client_id: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM client WHERE client_id = ?1", [client_id])? > 0)
}

/// Stores a token and removes a batch of expired ones.
pub fn save_token(conn: &Connection, t: &StoredToken, now: u64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "DELETE FROM token WHERE digest IN
           (SELECT digest FROM token WHERE expires_at < ?1 LIMIT ?2)",
    )?
    .execute(params![ts(now), PRUNE_BATCH])?;
    conn.prepare_cached(
        "INSERT INTO token (digest, client_id, scope, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        t.digest,
        t.client_id,
        t.scopes.join(" "),
        ts(t.expires_at)
    ])?;
    Ok(())
}

pub fn get_token(conn: &Connection, digest: &[u8]) -> rusqlite::Result<Option<StoredToken>> {
    let mut stmt = conn.prepare_cached(
        "SELECT digest, client_id, scope, expires_at FROM token WHERE digest = ?1",
    )?;
    stmt.query_row([digest], |r| {
        Ok(StoredToken {
            digest: r.get(0)?,
            client_id: r.get(1)?,
            scopes: split_scopes(&r.get::<_, String>(2)?),
            expires_at: r.get::<_, i64>(3)?.max(0) as u64,
        })
    })
    .optional()
}

pub fn delete_token(conn: &Connection, digest: &[u8]) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM token WHERE digest = ?1", [digest])? > 0)
}

/// Records a revocation; a second one of the same token keeps the later expiry.
pub fn add_revocation(conn: &Connection, r: &Revocation) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO revocation (kind, value, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (kind, value) DO UPDATE
           SET expires_at = max(expires_at, excluded.expires_at)",
        params![r.kind.as_str(), r.value, ts(r.expires_at)],
    )?;
    Ok(())
}

/// Removes the revocations whose tokens have all expired.
pub fn prune_revocations(conn: &Connection, now: u64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM revocation WHERE expires_at < ?1", [ts(now)])
}

pub fn revocations(conn: &Connection) -> rusqlite::Result<Vec<Revocation>> {
    let mut stmt = conn.prepare("SELECT kind, value, expires_at FROM revocation")?;
    let rows = stmt.query_map([], |r| {
        let kind: String = r.get(0)?;
        Ok((kind, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (kind, value, expires_at) = row?;
        // The CHECK constraint admits only known kinds.
        if let Some(kind) = Revoked::parse(&kind) {
            out.push(Revocation {
                kind,
                value,
                expires_at: expires_at.max(0) as u64,
            });
        }
    }
    Ok(out)
}
