//! HTTP Basic authentication of the admin, with constant-time comparisons.
//!
//! A stored (generated) password is a PBKDF2 hash that costs about 175 ms of a CPU to
//! check, far too slow per request. After one successful check the credential's keyed
//! HMAC is remembered, so later requests cost one HMAC and a set lookup. Wrong
//! passwords cannot be remembered (an attacker varies them), so hash checks run one at
//! a time: a client sending wrong passwords in parallel takes one CPU, not all.

use std::collections::HashSet;
use std::sync::{Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

use super::password;

/// Remembered credentials; the set is emptied when it grows past this.
const CACHE_MAX: usize = 64;
/// How long a request waits for its turn at the hash check before it is told to retry.
const HASH_WAIT: Duration = Duration::from_secs(2);

/// What a check of an `Authorization` header found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCheck {
    Pass,
    Fail,
    /// Other hash checks kept the turn for `HASH_WAIT`: retry later.
    Busy,
}

/// A turn that one thread holds at a time, waited for with a deadline.
#[derive(Default)]
struct Turn {
    taken: Mutex<bool>,
    freed: Condvar,
}

impl Turn {
    fn run<T>(&self, wait: Duration, f: impl FnOnce() -> T) -> Option<T> {
        let deadline = Instant::now() + wait;
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        while *taken {
            let left = deadline.checked_duration_since(Instant::now())?;
            taken = self
                .freed
                .wait_timeout(taken, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *taken = true;
        drop(taken);
        // Handed back even if `f` panics.
        struct Release<'a>(&'a Turn);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                *self.0.taken.lock().unwrap_or_else(|e| e.into_inner()) = false;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        Some(f())
    }
}

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
    hashing: Turn,
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
            hashing: Turn::default(),
        }
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> AdminCheck {
        let Some((user, pass)) = authorization.and_then(parse_basic) else {
            return AdminCheck::Fail;
        };
        let mut both = Vec::with_capacity(user.len() + pass.len() + 1);
        both.extend_from_slice(user.as_bytes());
        both.push(0);
        both.extend_from_slice(pass.as_bytes());
        let mac = hmac::sign(&self.key, &both).as_ref().to_vec();
        if self.verified.read().is_ok_and(|v| v.contains(&mac)) {
            return AdminCheck::Pass;
        }
        let user_ok = hmac::verify(&self.key, user.as_bytes(), self.user.as_ref()).is_ok();
        let pass_ok = match &self.secret {
            Secret::Plain(tag) => hmac::verify(&self.key, pass.as_bytes(), tag.as_ref()).is_ok(),
            Secret::Hashed(h) => match self.hashing.run(HASH_WAIT, || password::verify(h, &pass)) {
                Some(ok) => ok,
                None => return AdminCheck::Busy,
            },
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
        if user_ok && pass_ok {
            AdminCheck::Pass
        } else {
            AdminCheck::Fail
        }
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
        use AdminCheck::{Fail, Pass};
        let a = AdminAuth::new("demo", "demo");
        assert_eq!(a.check(Some(&basic("demo", "demo"))), Pass);
        assert_eq!(a.check(Some(&basic("demo", "demo"))), Pass, "cached path");
        assert_eq!(a.check(Some(&basic("demo", "demO"))), Fail);
        assert_eq!(a.check(Some(&basic("Demo", "demo"))), Fail);
        assert_eq!(a.check(Some("Bearer x")), Fail);
        assert_eq!(a.check(None), Fail);
        let h = AdminAuth::new("admin", &password::hash("p:w"));
        assert_eq!(
            h.check(Some(&basic("admin", "p:w"))),
            Pass,
            "colons in passwords"
        );
        assert_eq!(h.check(Some(&basic("admin", "p"))), Fail);
    }

    #[test]
    fn hash_checks_take_turns_and_a_long_wait_is_busy() {
        let h = std::sync::Arc::new(AdminAuth::new("admin", &password::hash("pw")));
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let holder = {
            let h = h.clone();
            std::thread::spawn(move || h.hashing.run(HASH_WAIT, || wait.recv()))
        };
        while !*h.hashing.taken.lock().unwrap() {
            std::thread::yield_now();
        }
        assert_eq!(h.hashing.run(Duration::from_millis(20), || ()), None);
        assert_eq!(h.check(Some(&basic("admin", "pw"))), AdminCheck::Busy);
        go.send(()).unwrap();
        assert!(holder.join().unwrap().is_some());
        assert_eq!(h.check(Some(&basic("admin", "pw"))), AdminCheck::Pass);
    }
}
