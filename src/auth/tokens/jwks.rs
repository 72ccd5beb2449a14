//! A Keycloak realm's signing keys from its JWKS, fetched on first use and again when a
//! token names a key id we do not know (Keycloak rotated its keys), at most once per
//! `keycloak.jwks_min_interval`, so tokens with made-up key ids cannot flood Keycloak.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, TryLockError};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::client::mask_url;
use crate::log;

/// Keys older than this are fetched again on the next check, so a key Keycloak has
/// withdrawn stops working within the hour.
const MAX_AGE: Duration = Duration::from_secs(3600);
/// A JWKS is a few KiB; anything much larger is not one.
const MAX_BODY: u64 = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A realm's signing key, with the one algorithm its JWK names, if it names one: a key
/// is for one algorithm (RFC 8725 §3.1), so a token may not pick another of the
/// allowed ones for it.
pub struct RealmKey {
    pub key: DecodingKey,
    pub alg: Option<Algorithm>,
}

#[derive(Default)]
struct Cached {
    /// Keys by `kid`; keys without one are kept under "".
    keys: HashMap<String, Arc<RealmKey>>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
    /// Which of the candidate URLs answered last.
    url: usize,
}

pub struct Jwks {
    /// Tried in order until one answers with a JWKS: `/realms/R/...` and the legacy
    /// `/auth/realms/R/...`, or the one explicit URL.
    urls: Vec<String>,
    min_interval: Duration,
    agent: ureq::Agent,
    cache: RwLock<Cached>,
    /// Held while fetching, so concurrent misses cause one fetch.
    fetching: Mutex<()>,
}

/// The realm's JWKS URLs for both Keycloak layouts, newest first.
pub fn realm_urls(base: &str, realm: &str) -> Vec<String> {
    let base = base.trim_end_matches('/');
    let path = format!("realms/{realm}/protocol/openid-connect/certs");
    if base.ends_with("/auth") {
        vec![format!("{base}/{path}")]
    } else {
        vec![format!("{base}/{path}"), format!("{base}/auth/{path}")]
    }
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl Jwks {
    pub fn new(urls: Vec<String>, min_interval: Duration) -> Jwks {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_connect(Some(CONNECT_TIMEOUT))
                .timeout_recv_response(Some(RESPONSE_TIMEOUT))
                .timeout_global(Some(RESPONSE_TIMEOUT + CONNECT_TIMEOUT))
                .build(),
        );
        Jwks {
            urls,
            min_interval,
            agent,
            cache: RwLock::new(Cached::default()),
            fetching: Mutex::new(()),
        }
    }

    /// The key for a token's `kid`. A token without `kid` is checked with the realm's
    /// only key, if it has exactly one.
    pub fn key(&self, kid: Option<&str>) -> Option<Arc<RealmKey>> {
        let (found, fresh) = self.lookup(kid);
        if found.is_some() && fresh {
            return found;
        }
        // Requests never queue behind a slow Keycloak: while one thread fetches, the
        // others answer with what is known.
        let _one_at_a_time = match self.fetching.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return found,
        };
        // Another thread may have fetched just before.
        let (again, fresh) = self.lookup(kid);
        if again.is_some() && fresh {
            return again;
        }
        let due = self
            .cache
            .read()
            .map(|c| c.attempted.is_none_or(|t| t.elapsed() >= self.min_interval))
            .unwrap_or(false);
        if due {
            self.refresh();
        }
        self.lookup(kid).0.or(again)
    }

    /// (the key, whether the cache is younger than MAX_AGE)
    fn lookup(&self, kid: Option<&str>) -> (Option<Arc<RealmKey>>, bool) {
        let Ok(c) = self.cache.read() else {
            return (None, false);
        };
        let fresh = c.fetched.is_some_and(|t| t.elapsed() < MAX_AGE);
        let key = match kid {
            Some(k) => c.keys.get(k).cloned(),
            None if c.keys.len() == 1 => c.keys.values().next().cloned(),
            None => None,
        };
        (key, fresh)
    }

    /// Fetches the set; on failure the keys already known stay.
    fn refresh(&self) {
        let start = self.cache.read().map(|c| c.url).unwrap_or(0);
        if let Ok(mut c) = self.cache.write() {
            c.attempted = Some(Instant::now());
        }
        let mut problems = Vec::new();
        for i in (0..self.urls.len()).map(|n| (start + n) % self.urls.len()) {
            let url = &self.urls[i];
            match self.fetch(url) {
                Ok(keys) => {
                    log::info(&format!(
                        "keycloak: {} signing key(s) from {}",
                        keys.len(),
                        mask_url(url)
                    ));
                    if let Ok(mut c) = self.cache.write() {
                        c.keys = keys;
                        c.fetched = Some(Instant::now());
                        c.url = i;
                    }
                    return;
                }
                Err(e) => problems.push(format!("{}: {e}", mask_url(url))),
            }
        }
        log::warn(&format!(
            "keycloak: cannot fetch the JWKS ({}); next try in {}s at the earliest",
            problems.join("; "),
            self.min_interval.as_secs()
        ));
    }

    fn fetch(&self, url: &str) -> Result<HashMap<String, Arc<RealmKey>>, String> {
        let mut resp = self.agent.get(url).call().map_err(|e| e.to_string())?;
        if resp.status() != 200 {
            return Err(format!("HTTP {}", resp.status().as_u16()));
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| e.to_string())?;
        let set: RawSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWKS: {e}"))?;
        let keys = signing_keys(set);
        if keys.is_empty() {
            return Err("no RSA signing key in the JWKS".into());
        }
        Ok(keys)
    }
}

/// The RSA signature keys of a set. Other entries (encryption keys, by `use` or by
/// `alg`, EC keys, kinds jsonwebtoken does not know) are skipped one by one rather than
/// failing the set.
fn signing_keys(set: RawSet) -> HashMap<String, Arc<RealmKey>> {
    let mut keys = HashMap::new();
    for value in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        let rsa = matches!(jwk.algorithm, AlgorithmParameters::RSA(_));
        let signs = matches!(
            jwk.common.public_key_use,
            None | Some(PublicKeyUse::Signature)
        );
        let alg = match jwk.common.key_algorithm {
            None => None,
            Some(a) => match Algorithm::try_from(a) {
                Ok(a) => Some(a),
                Err(_) => continue,
            },
        };
        if !rsa || !signs {
            continue;
        }
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            let id = jwk.common.key_id.clone().unwrap_or_default();
            keys.insert(id, Arc::new(RealmKey { key, alg }));
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_url_layouts() {
        assert_eq!(
            realm_urls("http://kc:8080/", "demo"),
            [
                "http://kc:8080/realms/demo/protocol/openid-connect/certs",
                "http://kc:8080/auth/realms/demo/protocol/openid-connect/certs"
            ]
        );
        assert_eq!(
            realm_urls("http://kc/auth", "r"),
            ["http://kc/auth/realms/r/protocol/openid-connect/certs"]
        );
    }

    #[test]
    fn only_rsa_signature_keys_are_kept() {
        let set: RawSet = serde_json::from_str(
            r#"{"keys": [
                {"kid": "sig", "kty": "RSA", "alg": "RS256", "use": "sig", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
                {"kid": "enc", "kty": "RSA", "alg": "RSA-OAEP", "use": "enc", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
                {"kid": "oaep", "kty": "RSA", "alg": "RSA-OAEP", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
                {"kid": "any", "kty": "RSA", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
                {"kid": "ec", "kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
                {"kid": "odd", "kty": "unheard-of"}
            ]}"#,
        )
        .unwrap();
        let keys = signing_keys(set);
        let mut kids: Vec<_> = keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        assert_eq!(
            kids,
            ["any", "sig"],
            "an encryption alg without use is no signing key"
        );
        assert_eq!(keys["sig"].alg, Some(Algorithm::RS256));
        assert_eq!(keys["any"].alg, None);
    }
}
