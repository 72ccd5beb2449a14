//! Random identifiers and secrets, and the keyed digests that stand for them on disk.
//!
//! Client secrets and random tokens carry 256 bits of entropy, so a keyed SHA-256
//! (HMAC) is as strong a stand-in as a slow password hash, and cheap enough to check on
//! every request. The key lives in the store next to the digests; what it buys is that
//! the file alone holds no value a client could present.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;

use super::password::random_bytes;
use crate::store::{Store, StoreError};

/// Where the digest key is kept in the store's meta table.
pub const DIGEST_KEY_META: &str = "secret_digest_key";

/// `n` random bytes from the OS, as lower-case hex: safe in URLs, shells and argv.
pub fn random_hex(n: usize) -> String {
    hex(&random_bytes(n))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Digester {
    key: hmac::Key,
}

impl Digester {
    /// The store's digest key, created on first use.
    pub fn from_store(store: &dyn Store) -> Result<Digester, StoreError> {
        let key = match store.get_meta(DIGEST_KEY_META)? {
            Some(k) => B64
                .decode(k)
                .map_err(|_| StoreError::Other(format!("meta {DIGEST_KEY_META} is not base64")))?,
            None => {
                let k = random_bytes(32);
                store.set_meta(DIGEST_KEY_META, &B64.encode(&k))?;
                k
            }
        };
        Ok(Digester::new(&key))
    }

    pub fn new(key: &[u8]) -> Digester {
        Digester {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    pub fn digest(&self, secret: &str) -> Vec<u8> {
        hmac::sign(&self.key, secret.as_bytes()).as_ref().to_vec()
    }

    /// Constant-time check of `secret` against a stored digest.
    pub fn verify(&self, secret: &str, digest: &[u8]) -> bool {
        hmac::verify(&self.key, secret.as_bytes(), digest).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_keyed_and_checked() {
        let d = Digester::new(b"k1");
        let stored = d.digest("s3cret");
        assert!(d.verify("s3cret", &stored));
        assert!(!d.verify("s3creT", &stored));
        assert!(!Digester::new(b"k2").verify("s3cret", &stored));
        assert_eq!(random_hex(32).len(), 64);
        assert_ne!(random_hex(16), random_hex(16));
        assert_eq!(hex(&[0, 255]), "00ff");
    }
}
