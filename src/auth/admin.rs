//! HTTP Basic authentication of the admin, with constant-time comparisons.
//!
//! A stored (generated) password is a PBKDF2 hash that costs tens of milliseconds to
//! check, far too slow per request. After one successful check the credential's keyed
//! HMAC is remembered, so later requests cost one HMAC and a set lookup.

use std::collections::HashSet;
use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

use super::password;

/// Remembered credentials; the set is emptied when it grows past this.
const CACHE_MAX: usize = 64;

enum Secret {
    /// A password from the settings, kept only as its keyed HMAC.
    Plain(hmac::Tag),
    /// A PBKDF2 hash from the store or the settings.
    Hashed(String),
}

pub struct AdminAuth {
    key: hmac::Key,
    user: hmac::Tag,
    secret: Secret,
    verified: RwLock<HashSet<Vec<u8>>>,
}

impl AdminAuth {
    /// `password` is either a plain password or a `pbkdf2-sha256$...` hash.
    pub fn new(username: &str, password: &str) -> AdminAuth {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &password::random_bytes(32));
        let secret = if password::is_hash(password) {
            Secret::Hashed(password.to_string())
        } else {
            Secret::Plain(hmac::sign(&key, password.as_bytes()))
        };
        AdminAuth {
            user: hmac::sign(&key, username.as_bytes()),
            key,
            secret,
            verified: RwLock::new(HashSet::new()),
        }
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> bool {
        let Some((user, pass)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let mut both = Vec::with_capacity(user.len() + pass.len() + 1);
        both.extend_from_slice(user.as_bytes());
        both.push(0);
        both.extend_from_slice(pass.as_bytes());
        let mac = hmac::sign(&self.key, &both).as_ref().to_vec();
        if self.verified.read().is_ok_and(|v| v.contains(&mac)) {
            return true;
        }
        let user_ok = hmac::verify(&self.key, user.as_bytes(), self.user.as_ref()).is_ok();
        let pass_ok = match &self.secret {
            Secret::Plain(tag) => hmac::verify(&self.key, pass.as_bytes(), tag.as_ref()).is_ok(),
            Secret::Hashed(h) => password::verify(h, &pass),
        };
        if user_ok
            && pass_ok
            && let Ok(mut v) = self.verified.write()
        {
            if v.len() >= CACHE_MAX {
                v.clear();
            }
            v.insert(mac);
        }
        user_ok && pass_ok
    }
}

/// `Basic base64(user:password)` → (user, password).
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(value.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str, p: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{u}:{p}")))
    }

    #[test]
    fn plain_and_hashed_secrets() {
        let a = AdminAuth::new("demo", "demo");
        assert!(a.check(Some(&basic("demo", "demo"))));
        assert!(a.check(Some(&basic("demo", "demo"))), "cached path");
        assert!(!a.check(Some(&basic("demo", "demO"))));
        assert!(!a.check(Some(&basic("Demo", "demo"))));
        assert!(!a.check(Some("Bearer x")));
        assert!(!a.check(None));
        let h = AdminAuth::new("admin", &password::hash("p:w"));
        assert!(h.check(Some(&basic("admin", "p:w"))), "colons in passwords");
        assert!(!h.check(Some(&basic("admin", "p"))));
    }
}
