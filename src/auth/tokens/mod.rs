//! The token service: client secrets, issuing access tokens, and the one check that
//! every token kind goes through.
//!
//! - random_token: 256 random bits, stored as a keyed digest with client, scopes and
//!   expiry; checked by one indexed lookup.
//! - custom_token / signed_token: HS256 / RS256 JWTs of this server; keycloak_token:
//!   RS256 JWTs of a Keycloak realm. Checked without the store: signature with a per-kind
//!   algorithm allow-list, exp/nbf with leeway, iss/aud where configured, then the
//!   in-memory deny-list of revocations.
//!
//! Every kind then checks the scope, so a token without the scope is told apart (403)
//! from a missing or bad one (401).

mod deny;
mod jwks;
mod jwt;
pub mod keys;
mod recent;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use super::bearer::{Denied, Grant};
use super::secrets::{Digester, hex, random_hex};
use crate::client::mask_url;
use crate::config::{TokenKind, TokenSettings};
use crate::log;
use crate::oauth::{self, Client, Revocation, Revoked, StoredToken};
use crate::store::{Store, StoreError};
use deny::DenyList;
pub use jwt::install_crypto;
use jwt::{Checker, Keys, Rules, Signer};
use recent::RecentTokens;

/// Longer bearer values are refused unread; real JWTs are a few hundred bytes.
const MAX_TOKEN_LEN: usize = 8192;
/// Random tokens: 32 bytes as hex.
const RANDOM_TOKEN_LEN: usize = 64;

const HS: &[Algorithm] = &[Algorithm::HS256];
const RS: &[Algorithm] = &[Algorithm::RS256];
/// Keycloak realms may sign with any RSA algorithm; never HMAC, never `none`.
const KEYCLOAK_RS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// A token handed out by `/oauth/token`.
pub struct Issued {
    pub access_token: String,
    pub expires_in: u64,
}

#[derive(Debug)]
pub enum IssueError {
    /// This server only checks tokens (keycloak_token, or signed_token without a key).
    NotAnIssuer,
    Store(StoreError),
    Sign(String),
}

/// Who asks for a revocation.
pub enum Revoker {
    Admin,
    Client(String),
}

#[derive(Debug)]
pub enum RevokeError {
    /// A client tried to revoke another client's token.
    NotYours,
    Store(StoreError),
}

/// A valid token and what revoking it takes.
struct Verified {
    grant: Grant,
    handle: Handle,
}

enum Handle {
    Stored(Vec<u8>),
    Jwt(Option<String>),
}

pub struct TokenService {
    kind: TokenKind,
    expires_in: u64,
    leeway: u64,
    store: Arc<dyn Store>,
    digester: Digester,
    deny: DenyList,
    recent: RecentTokens,
    signer: Option<Signer>,
    /// None for random_token.
    checker: Option<Checker>,
    /// signed_token's public keys as a JWKS document, the signing key first.
    jwks: Option<serde_json::Value>,
}

/// What a token kind signs and checks with, and the public keys it publishes.
pub struct KindKeys {
    signer: Option<Signer>,
    checker: Option<Checker>,
    jwks: Option<serde_json::Value>,
}

impl KindKeys {
    fn unpublished(signer: Option<Signer>, checker: Option<Checker>) -> KindKeys {
        KindKeys {
            signer,
            checker,
            jwks: None,
        }
    }
}

fn named(key: &str, e: impl std::fmt::Display) -> String {
    format!("{key}: {e}")
}

/// A revocation's expiry that never comes (SQLite keeps signed 64-bit integers).
const NEVER: u64 = i64::MAX as u64;

/// Revocations whose token expired before this may go. A revocation keeps its token's
/// expiry and lasts the leeway in force beyond it, so raising `twitcher.token.leeway`
/// does not open revoked tokens again.
fn lapsed_before(now: u64, leeway: u64) -> u64 {
    now.saturating_sub(leeway)
}

impl TokenService {
    /// Starts with keys from [`TokenService::load_keys`] and the store's deny-list.
    pub fn new(
        s: &TokenSettings,
        keys: KindKeys,
        store: Arc<dyn Store>,
    ) -> Result<TokenService, String> {
        let digester = Digester::from_store(store.as_ref())
            .map_err(|e| format!("cannot read the secret digest key: {e}"))?;
        let revoked = store
            .revocations(lapsed_before(oauth::now(), s.leeway))
            .map_err(|e| format!("cannot read the revocations: {e}"))?;
        Ok(TokenService {
            kind: s.kind,
            expires_in: s.expires_in,
            leeway: s.leeway,
            store,
            digester,
            deny: DenyList::new(revoked),
            recent: RecentTokens::default(),
            signer: keys.signer,
            checker: keys.checker,
            jwks: keys.jwks,
        })
    }

    /// Loads the kind's keys, before anything is started or written: errors are one
    /// line each, naming the setting; warnings are logged.
    pub fn load_keys(s: &TokenSettings) -> Result<KindKeys, Vec<String>> {
        install_crypto().map_err(|e| vec![e])?;
        Self::kind_keys(s)
    }

    fn kind_keys(s: &TokenSettings) -> Result<KindKeys, Vec<String>> {
        Ok(match s.kind {
            TokenKind::Random => KindKeys::unpublished(None, None),
            TokenKind::Custom => {
                let secret = s.secret.as_deref().unwrap_or_default();
                if secret.len() < 32 {
                    log::warn(
                        "twitcher.token.secret is shorter than 32 characters; an HS256 key should have 256 bits (`twitcher gensecret`)",
                    );
                }
                let bad = |e: jsonwebtoken::errors::Error| vec![named("twitcher.token.secret", e)];
                let signing = EncodingKey::from_secret(secret.as_bytes()).map_err(bad)?;
                let signer = Signer::new(signing, Algorithm::HS256, &s.issuer);
                let key = DecodingKey::from_secret(secret.as_bytes()).map_err(bad)?;
                KindKeys::unpublished(Some(signer), Some(own_checker(Keys::Fixed(key), HS, s)))
            }
            TokenKind::Signed => signed(s)?,
            TokenKind::Keycloak => KindKeys::unpublished(None, Some(keycloak(s)?)),
        })
    }

    /// The JWKS document of signed_token's keys; None for the other kinds, whose keys
    /// are secret or someone else's.
    pub fn jwks(&self) -> Option<&serde_json::Value> {
        self.jwks.as_ref()
    }

    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// Whether `/oauth/token` can hand out tokens here.
    pub fn issues(&self) -> bool {
        self.kind == TokenKind::Random || self.signer.is_some()
    }

    /// Registers a client; returns it with its secret, which is not kept.
    pub fn new_client(
        &self,
        name: &str,
        redirect_uri: &str,
        scopes: Vec<String>,
    ) -> Result<(Client, String), StoreError> {
        let secret = random_hex(32);
        let client = Client {
            client_id: random_hex(16),
            name: name.to_string(),
            secret_digest: self.digester.digest(&secret),
            redirect_uri: redirect_uri.to_string(),
            scopes,
            created_at: oauth::now(),
        };
        self.store.create_client(&client)?;
        Ok((client, secret))
    }

    /// The client, when the id exists and the secret is its own.
    pub fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<Client>, StoreError> {
        match self.store.get_client(client_id)? {
            Some(c) if self.digester.verify(secret, &c.secret_digest) => Ok(Some(c)),
            Some(_) => Ok(None),
            None => {
                // The same work as for a known id, so timing does not tell ids apart.
                let _ = self.digester.verify(secret, &[0; 32]);
                Ok(None)
            }
        }
    }

    /// Deletes a client with its tokens: random ones go with it, and its JWTs are
    /// denied for good. Whether it existed. The block never lapses: its tokens may have
    /// been issued under a longer lifetime than the one in force now, and a client id
    /// is random and never comes back, so one row per deleted client is all it costs.
    pub fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let r = Revocation {
            kind: Revoked::Client,
            value: client_id.to_string(),
            expires_at: NEVER,
        };
        let found = self.store.delete_client(client_id, &r)?;
        self.recent.remove_client(client_id);
        if found {
            self.deny
                .insert(&r, lapsed_before(oauth::now(), self.leeway));
        }
        Ok(found)
    }

    pub fn issue(&self, client_id: &str, scopes: &[String]) -> Result<Issued, IssueError> {
        let now = oauth::now();
        let exp = now + self.expires_in;
        let access_token = match (&self.signer, self.kind) {
            (Some(signer), _) => signer
                .sign(client_id, scopes, now, exp)
                .map_err(IssueError::Sign)?,
            (None, TokenKind::Random) => {
                let token = random_hex(RANDOM_TOKEN_LEN / 2);
                let stored = StoredToken {
                    digest: self.digester.digest(&token),
                    client_id: client_id.to_string(),
                    scopes: scopes.to_vec(),
                    expires_at: exp,
                };
                self.store
                    .save_token(&stored, now)
                    .map_err(IssueError::Store)?;
                token
            }
            (None, _) => return Err(IssueError::NotAnIssuer),
        };
        Ok(Issued {
            access_token,
            expires_in: self.expires_in,
        })
    }

    /// The check behind every protected request: the token must be present, valid,
    /// unrevoked, and carry `scope` (when not empty).
    pub fn authorize(&self, token: Option<&str>, scope: &str) -> Result<Grant, Denied> {
        let token = token.filter(|t| !t.is_empty()).ok_or(Denied::Missing)?;
        let grant = self.verify(token)?.grant;
        if !scope.is_empty() && !grant.scopes.iter().any(|s| s == scope) {
            return Err(Denied::InsufficientScope);
        }
        Ok(grant)
    }

    fn verify(&self, token: &str) -> Result<Verified, Denied> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Denied::Invalid("too long"));
        }
        let Some(checker) = &self.checker else {
            return self.verify_stored(token);
        };
        let claims = checker.check(token).map_err(Denied::Invalid)?;
        let revoked = match &claims.jti {
            Some(jti) => self.deny.contains(Revoked::Jti, jti),
            None => {
                !self.deny.is_empty(Revoked::Digest)
                    && self
                        .deny
                        .contains(Revoked::Digest, &hex(&self.digester.digest(token)))
            }
        };
        if revoked || self.deny.contains(Revoked::Client, &claims.client_id) {
            return Err(Denied::Invalid("revoked"));
        }
        Ok(Verified {
            grant: Grant {
                client_id: claims.client_id,
                scopes: claims.scopes,
                expires_at: claims.expires_at,
            },
            handle: Handle::Jwt(claims.jti),
        })
    }

    fn verify_stored(&self, token: &str) -> Result<Verified, Denied> {
        if token.len() != RANDOM_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Denied::Invalid("malformed"));
        }
        let digest = self.digester.digest(token);
        let stored = match self
            .recent
            .get_or_load(&digest, || self.store.get_token(&digest))
        {
            Ok(Some(t)) => t,
            Ok(None) => return Err(Denied::Invalid("unknown token")),
            Err(e) => {
                log::error(&format!("token lookup failed: {e}"));
                return Err(Denied::Invalid("store unavailable"));
            }
        };
        if stored.expires_at <= oauth::now() {
            return Err(Denied::Invalid("expired"));
        }
        Ok(Verified {
            grant: Grant {
                client_id: stored.client_id.clone(),
                scopes: stored.scopes.clone(),
                expires_at: stored.expires_at,
            },
            handle: Handle::Stored(digest),
        })
    }

    /// What a token grants, for introspection; None when it is not active.
    pub fn introspect(&self, token: &str) -> Option<Grant> {
        self.verify(token).ok().map(|v| v.grant)
    }

    /// Revokes a token (RFC 7009). A token that is already invalid needs nothing and
    /// gives Ok(false); a random token is deleted, a JWT denied until it expires.
    pub fn revoke(&self, token: &str, by: Revoker) -> Result<bool, RevokeError> {
        let Ok(v) = self.verify(token) else {
            return Ok(false);
        };
        if let Revoker::Client(id) = &by
            && *id != v.grant.client_id
        {
            return Err(RevokeError::NotYours);
        }
        let now = oauth::now();
        match v.handle {
            Handle::Stored(digest) => {
                let deleted = self.store.delete_token(&digest);
                self.recent.remove(&digest);
                deleted.map_err(RevokeError::Store)
            }
            Handle::Jwt(jti) => {
                let (kind, value) = match jti {
                    Some(j) => (Revoked::Jti, j),
                    None => (Revoked::Digest, hex(&self.digester.digest(token))),
                };
                let r = Revocation {
                    kind,
                    value,
                    expires_at: v.grant.expires_at,
                };
                self.store.add_revocation(&r).map_err(RevokeError::Store)?;
                self.deny.insert(&r, lapsed_before(now, self.leeway));
                Ok(true)
            }
        }
    }
}

/// The checker of this server's own JWTs: its issuer, no audience.
fn own_checker(keys: Keys, algorithms: &[Algorithm], s: &TokenSettings) -> Checker {
    Checker::new(
        keys,
        Rules {
            algorithms,
            leeway: s.leeway,
            issuer: Some(&s.issuer),
            audience: None,
        },
    )
}

fn signed(s: &TokenSettings) -> Result<KindKeys, Vec<String>> {
    let private = match &s.keyfile {
        Some(p) => {
            Some(keys::read_private(p).map_err(|e| vec![named("twitcher.token.keyfile", e)])?)
        }
        None => None,
    };
    let public = match &s.certfile {
        Some(p) => {
            Some(keys::read_public(p).map_err(|e| vec![named("twitcher.token.certfile", e)])?)
        }
        None => None,
    };
    let (encoding, derived) = match private {
        Some((enc, public)) => (Some(enc), Some(public)),
        None => (None, None),
    };
    let Some(current) = public.or(derived) else {
        return Err(vec![named(
            "twitcher.token.keyfile",
            "signed_token needs a key",
        )]);
    };
    let signer =
        encoding.map(|enc| Signer::new(enc, Algorithm::RS256, &s.issuer).with_kid(&current.kid));
    // Retired keys still check the tokens they signed until those expire, and stay in
    // the JWKS for the services that check tokens themselves.
    let mut all = vec![current];
    for p in &s.retired_certfiles {
        let key =
            keys::read_public(p).map_err(|e| vec![named("twitcher.token.retired_certfiles", e)])?;
        if !all.iter().any(|k| k.kid == key.kid) {
            all.push(key);
        }
    }
    let jwks =
        serde_json::json!({"keys": all.iter().map(keys::RsaPublic::jwk).collect::<Vec<_>>()});
    let checker = own_checker(
        Keys::Own(all.into_iter().map(|k| (k.kid, k.decoding)).collect()),
        RS,
        s,
    );
    if let Some(signer) = &signer {
        // The certificate must check what the key signs, or every token would fail.
        let probe = signer
            .sign("probe", &[], oauth::now(), oauth::now() + 60)
            .map_err(|e| vec![named("twitcher.token.keyfile", e)])?;
        if checker.check(&probe).is_err() {
            return Err(vec![named(
                "twitcher.token.certfile",
                "does not match the private key in twitcher.token.keyfile",
            )]);
        }
    } else {
        log::info(
            "signed_token without twitcher.token.keyfile: this server checks tokens but does not issue them",
        );
    }
    Ok(KindKeys {
        signer,
        checker: Some(checker),
        jwks: Some(jwks),
    })
}

fn keycloak(s: &TokenSettings) -> Result<Checker, Vec<String>> {
    let k = &s.keycloak;
    let rules = Rules {
        algorithms: KEYCLOAK_RS,
        leeway: s.leeway,
        issuer: k.issuer.as_deref(),
        audience: k.audience.as_deref(),
    };
    if let Some(url) = &k.jwks_url {
        log::info(&format!(
            "keycloak_token: keys from the JWKS at {}, fetched on first use",
            mask_url(url)
        ));
        return Ok(Checker::new(
            Keys::Jwks(jwks::Jwks::new(vec![url.clone()], k.jwks_min_interval)),
            rules,
        ));
    }
    let bare = k.public_key.as_deref().map(keys::keycloak_realm_key);
    match (bare, &k.url) {
        (Some(Ok(key)), _) => Ok(Checker::new(Keys::Fixed(key), rules)),
        (bare, Some(url)) => {
            if let Some(Err(e)) = bare {
                log::warn(&format!(
                    "keycloak.token.secret {e} and cannot be used; taking the realm's keys from its JWKS instead"
                ));
            }
            let urls = jwks::realm_urls(url, &k.realm);
            log::info(&format!(
                "keycloak_token: keys from the JWKS at {}, fetched on first use",
                urls.iter()
                    .map(|u| mask_url(u))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
            Ok(Checker::new(
                Keys::Jwks(jwks::Jwks::new(urls, k.jwks_min_interval)),
                rules,
            ))
        }
        (Some(Err(e)), None) => Err(vec![named("keycloak.token.secret", e)]),
        (None, None) => Err(vec![named(
            "keycloak.url",
            "keycloak_token needs keycloak.url, keycloak.jwks_url or keycloak.token.secret",
        )]),
    }
}
