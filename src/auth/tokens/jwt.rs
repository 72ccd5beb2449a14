//! JWTs with jsonwebtoken: the claims this server writes, and the one check every JWT
//! kind goes through (algorithm allow-list, signature, exp/nbf with leeway, iss, aud).

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::jwks::{Jwks, RealmKey};
use crate::auth::secrets::random_hex;
use crate::oauth::split_scopes;

/// Selects jsonwebtoken's RustCrypto backend for the process. jsonwebtoken 12 picks its
/// backend at run time and would panic on first use without one; call this at start.
pub fn install_crypto() -> Result<(), String> {
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    jsonwebtoken::crypto::CryptoProvider::try_get_default()
        .map(|_| ())
        .ok_or_else(|| "no JWT crypto provider could be installed".to_string())
}

/// The claims of a JWT this server issues. `client_id` and `sub` both name the client
/// (RFC 9068); `scope` is space-separated.
#[derive(Serialize)]
struct IssuedClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    client_id: &'a str,
    scope: &'a str,
    iat: u64,
    exp: u64,
    jti: &'a str,
}

/// Signs the JWTs of custom_token (HS256) and signed_token (RS256).
pub struct Signer {
    key: EncodingKey,
    header: Header,
    issuer: String,
}

impl Signer {
    pub fn new(key: EncodingKey, alg: Algorithm, issuer: &str) -> Signer {
        Signer {
            key,
            header: Header::new(alg),
            issuer: issuer.to_string(),
        }
    }

    /// Names the key in each token's header, so checkers pick it from a JWKS.
    pub fn with_kid(mut self, kid: &str) -> Signer {
        self.header.kid = Some(kid.to_string());
        self
    }

    pub fn sign(
        &self,
        client_id: &str,
        scopes: &[String],
        iat: u64,
        exp: u64,
    ) -> Result<String, String> {
        let scope = scopes.join(" ");
        let claims = IssuedClaims {
            iss: &self.issuer,
            sub: client_id,
            client_id,
            scope: &scope,
            iat,
            exp,
            jti: &random_hex(16),
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key).map_err(|e| e.to_string())
    }
}

/// `scope` as a space-separated string, or a list as some issuers write it.
#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeClaim {
    Text(String),
    List(Vec<String>),
}

/// The claims read from a checked JWT. Times may be floats (PyJWT writes them so).
#[derive(Deserialize)]
struct ReadClaims {
    exp: f64,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    /// Keycloak's "authorized party": the client the token was issued to.
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    scope: Option<ScopeClaim>,
    #[serde(default)]
    scp: Option<ScopeClaim>,
}

/// What a valid JWT says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: u64,
    pub jti: Option<String>,
}

impl From<ReadClaims> for Claims {
    fn from(c: ReadClaims) -> Claims {
        let scopes = match c.scope.or(c.scp) {
            Some(ScopeClaim::Text(s)) => split_scopes(&s),
            Some(ScopeClaim::List(l)) => l,
            None => Vec::new(),
        };
        Claims {
            client_id: c.client_id.or(c.azp).or(c.sub).unwrap_or_default(),
            scopes,
            expires_at: c.exp.max(0.0) as u64,
            jti: c.jti.filter(|j| !j.is_empty()),
        }
    }
}

/// Where the key that checks a JWT comes from.
pub enum Keys {
    Fixed(DecodingKey),
    /// This server's signed_token keys by id, the signing one first: a token names its
    /// key; one without a name (issued before keys had ids) may have been signed by any.
    Own(Vec<(String, DecodingKey)>),
    Jwks(Jwks),
}

/// Checks the JWTs of one kind.
pub struct Checker {
    validation: Validation,
    keys: Keys,
}

/// What a kind's JWTs must satisfy besides their signature.
pub struct Rules<'a> {
    /// The allow-list; never empty, never mixing HMAC with RSA.
    pub algorithms: &'a [Algorithm],
    pub leeway: u64,
    pub issuer: Option<&'a str>,
    pub audience: Option<&'a str>,
}

impl Checker {
    pub fn new(keys: Keys, rules: Rules) -> Checker {
        let mut v = Validation::new(rules.algorithms[0]);
        v.algorithms = rules.algorithms.to_vec();
        v.leeway = rules.leeway;
        v.validate_exp = true;
        v.validate_nbf = true;
        // jsonwebtoken checks `iss` and `aud` only when present: require them too.
        let mut required = vec!["exp"];
        match rules.issuer {
            Some(iss) => {
                v.set_issuer(&[iss]);
                required.push("iss");
            }
            None => v.iss = None,
        }
        match rules.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                required.push("aud");
            }
            // Tokens without an expected audience: `aud` is deliberately not checked.
            None => v.validate_aud = false,
        }
        v.set_required_spec_claims(&required);
        Checker {
            validation: v,
            keys,
        }
    }

    pub fn check(&self, token: &str) -> Result<Claims, &'static str> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| reason(e.kind()))?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err("algorithm not allowed");
        }
        let realm_key: Arc<RealmKey>;
        let key = match &self.keys {
            Keys::Fixed(k) => k,
            Keys::Own(keys) => match header.kid.as_deref() {
                Some(kid) => {
                    &keys
                        .iter()
                        .find(|(id, _)| id == kid)
                        .ok_or("unknown signing key")?
                        .1
                }
                None => return self.check_with_any(token, keys),
            },
            Keys::Jwks(jwks) => {
                realm_key = jwks
                    .key(header.kid.as_deref())
                    .ok_or("unknown signing key")?;
                if realm_key.alg.is_some_and(|a| a != header.alg) {
                    return Err("algorithm not allowed for this key");
                }
                &realm_key.key
            }
        };
        jsonwebtoken::decode::<ReadClaims>(token, key, &self.validation)
            .map(|data| data.claims.into())
            .map_err(|e| reason(e.kind()))
    }

    /// The first key whose signature holds decides; a bad signature under every key is
    /// a bad signature.
    fn check_with_any(
        &self,
        token: &str,
        keys: &[(String, DecodingKey)],
    ) -> Result<Claims, &'static str> {
        let mut last = "unknown signing key";
        for (_, key) in keys {
            match jsonwebtoken::decode::<ReadClaims>(token, key, &self.validation) {
                Ok(data) => return Ok(data.claims.into()),
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                    last = reason(e.kind());
                }
                Err(e) => return Err(reason(e.kind())),
            }
        }
        Err(last)
    }
}

fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not yet valid",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidAlgorithm => "algorithm not allowed",
        ErrorKind::MissingRequiredClaim(_) => "missing claim",
        _ => "malformed",
    }
}
