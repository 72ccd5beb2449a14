//! Salted PBKDF2-SHA256 password hashes in a self-describing string:
//! `pbkdf2-sha256$ITERATIONS$SALT$HASH` (base64url, no padding).

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, pbkdf2};

const ALG: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;
const PREFIX: &str = "pbkdf2-sha256";
/// OWASP's 2023 figure for PBKDF2-HMAC-SHA256. A successful check is cached by the
/// admin authenticator, so the cost is paid once per credential, not per request.
const ITERATIONS: u32 = 600_000;
/// The most iterations a hash may ask for: checks run one at a time, so a configured
/// hash of a billion iterations would hold every admin sign-in for minutes.
const MAX_ITERATIONS: u32 = 10 * ITERATIONS;

/// Fills `n` bytes from the operating system's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random generator failed");
    buf
}

/// A random password with 144 bits of entropy, safe to paste into a shell.
pub fn generate() -> String {
    B64.encode(random_bytes(18))
}

pub fn hash(password: &str) -> String {
    let salt = random_bytes(16);
    let mut out = [0u8; digest::SHA256_OUTPUT_LEN];
    let iterations = NonZeroU32::new(ITERATIONS).expect("non-zero");
    pbkdf2::derive(ALG, iterations, &salt, password.as_bytes(), &mut out);
    format!(
        "{PREFIX}${ITERATIONS}${}${}",
        B64.encode(salt),
        B64.encode(out)
    )
}

/// Constant-time check of `password` against a string made by `hash`.
pub fn verify(stored: &str, password: &str) -> bool {
    let Ok((iterations, salt, expected)) = parse(stored) else {
        return false;
    };
    pbkdf2::verify(ALG, iterations, &salt, password.as_bytes(), &expected).is_ok()
}

/// Why `stored` is not a hash `verify` can check: a hash given in the configuration
/// that no password matches would lock the admin out without a word.
pub fn check_hash(stored: &str) -> Result<(), String> {
    parse(stored).map(drop)
}

fn parse(stored: &str) -> Result<(NonZeroU32, Vec<u8>, Vec<u8>), String> {
    let mut parts = stored.split('$');
    let (Some(PREFIX), Some(iter), Some(salt), Some(expected), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err("not of the form pbkdf2-sha256$ITERATIONS$SALT$HASH".into());
    };
    let iterations = iter
        .parse()
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or("its iteration count is not a positive number")?;
    if iterations.get() > MAX_ITERATIONS {
        return Err(format!(
            "its iteration count is over {MAX_ITERATIONS}, ten times the one used here"
        ));
    }
    let salt = B64
        .decode(salt)
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or("its salt is not base64url without padding")?;
    let expected = B64
        .decode(expected)
        .ok()
        .filter(|h| h.len() == digest::SHA256_OUTPUT_LEN)
        .ok_or("its hash is not 32 bytes of base64url without padding")?;
    Ok((iterations, salt, expected))
}

pub fn is_hash(s: &str) -> bool {
    s.starts_with(&format!("{PREFIX}$"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash("s3cret");
        assert!(is_hash(&h));
        assert!(verify(&h, "s3cret"));
        assert!(!verify(&h, "s3cret "));
        assert!(!verify("garbage", "s3cret"));
        assert_eq!(check_hash(&h), Ok(()));
        for bad in [
            "pbkdf2-sha256$garbage",
            "pbkdf2-sha256$0$c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "pbkdf2-sha256$1000$!!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "pbkdf2-sha256$1000$c2FsdA$c2hvcnQ",
            "pbkdf2-sha256$4000000000$c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(check_hash(bad).is_err(), "{bad}");
        }
        assert_ne!(hash("s3cret"), h, "salted");
        assert_eq!(generate().len(), 24);
    }
}
