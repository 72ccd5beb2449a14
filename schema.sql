-- The schema of twitcher's SQLite store, as a sequence of migrations.
--
-- Each block that starts with `-- migration N: ...` upgrades a database at
-- PRAGMA user_version N-1 to N. The server applies the missing blocks in order,
-- each in one transaction, and then sets user_version to N. Released blocks are
-- never edited: a change to the schema is a new block at the end.

-- migration 1: service registry and server metadata
CREATE TABLE service (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    url        TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    purl       TEXT    NOT NULL DEFAULT '',
    auth       TEXT    NOT NULL DEFAULT 'token',
    verify     INTEGER NOT NULL DEFAULT 1 CHECK (verify IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Small server-wide values, such as the hash of a generated admin password.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
