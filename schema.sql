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

-- migration 2: OAuth2 clients, random access tokens and revocations
-- Client secrets and random tokens are kept only as keyed SHA-256 digests (HMAC
-- under the key in meta `secret_digest_key`); their plaintext never reaches the file.
CREATE TABLE client (
    client_id     TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL DEFAULT '',
    secret_digest BLOB    NOT NULL,
    redirect_uri  TEXT    NOT NULL DEFAULT '',
    scope         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE token (
    digest     BLOB    PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES client (client_id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX token_client ON token (client_id);
CREATE INDEX token_expires_at ON token (expires_at);

-- Tokens denied until `expires_at`, when every token an entry covers has expired:
-- a JWT's jti, the digest of a JWT without one, or a deleted client's id.
CREATE TABLE revocation (
    kind       TEXT    NOT NULL CHECK (kind IN ('jti', 'digest', 'client')),
    value      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
) STRICT, WITHOUT ROWID;

-- migration 3: a deleted client's block never lapses
-- Its JWTs may have been issued under a longer lifetime than the one in force when it
-- was deleted; client ids are random and never reused. A jti or digest row keeps its
-- token's expiry, and lasts the leeway in force beyond it.
UPDATE revocation SET expires_at = 9223372036854775807 WHERE kind = 'client';
