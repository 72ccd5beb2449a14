//! RSA keys: the PEM files of signed_token, Keycloak's bare realm key, and the key
//! pair `twitcher gencert` writes. Every key is parsed with the `rsa` crate first, so a
//! broken or weak key is refused at start rather than on the first token.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::pkcs1::{
    DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey, EncodeRsaPublicKey,
};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use rsa::{Generate, PrivateKey, PublicKey};

/// Smaller RSA keys are refused (NIST SP 800-131A).
const MIN_BITS: usize = 2048;

fn strong_enough(key: &PublicKey) -> Result<(), String> {
    let bits = key.size() * 8;
    if bits < MIN_BITS {
        return Err(format!(
            "is a {bits}-bit RSA key; use {MIN_BITS} bits or more"
        ));
    }
    Ok(())
}

fn decoding_key(public: &PublicKey) -> Result<DecodingKey, String> {
    let der = public.to_pkcs1_der().map_err(|e| e.to_string())?;
    Ok(DecodingKey::from_rsa_der(der.as_bytes()))
}

/// A public key that checks signed_token JWTs, with what the JWKS publishes of it.
pub struct RsaPublic {
    pub decoding: DecodingKey,
    /// RFC 7638 thumbprint: the same key gets the same id on every server and restart,
    /// with nothing to configure.
    pub kid: String,
    /// Modulus and exponent, unsigned big-endian in base64url (RFC 7518 §6.3.1).
    pub n: String,
    pub e: String,
}

impl std::fmt::Debug for RsaPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaPublic").field("kid", &self.kid).finish()
    }
}

impl RsaPublic {
    fn of(public: &PublicKey) -> Result<RsaPublic, String> {
        let n = URL_SAFE_NO_PAD.encode(public.n_bytes());
        let e = URL_SAFE_NO_PAD.encode(public.e_bytes());
        Ok(RsaPublic {
            decoding: decoding_key(public)?,
            kid: thumbprint(&n, &e),
            n,
            e,
        })
    }

    /// The key as a JWK for the JWKS document.
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": self.n,
            "e": self.e,
        })
    }
}

/// SHA-256 of the key's required members in lexicographic order, without whitespace.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// A PEM private key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`), for signing,
/// with the public key that checks its signatures.
pub fn read_private(path: &Path) -> Result<(EncodingKey, RsaPublic), String> {
    let pem = read(path)?;
    let key = PrivateKey::from_pkcs8_pem(&pem)
        .or_else(|_| PrivateKey::from_pkcs1_pem(&pem))
        .map_err(|_| format!("{} is not a PEM RSA private key", path.display()))?;
    let public = key.to_public_key();
    strong_enough(&public).map_err(|e| format!("{} {e}", path.display()))?;
    let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
    Ok((
        EncodingKey::from_rsa_der(der.as_bytes()),
        RsaPublic::of(&public)?,
    ))
}

/// A PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`) or X.509 `CERTIFICATE`.
pub fn read_public(path: &Path) -> Result<RsaPublic, String> {
    let pem = read(path)?;
    let not_rsa = || {
        format!(
            "{} is not a PEM RSA public key or certificate",
            path.display()
        )
    };
    if let Ok(public) =
        PublicKey::from_public_key_pem(&pem).or_else(|_| PublicKey::from_pkcs1_pem(&pem))
    {
        strong_enough(&public).map_err(|e| format!("{} {e}", path.display()))?;
        return RsaPublic::of(&public);
    }
    // A certificate: jsonwebtoken finds the key in it; the rsa crate then checks it.
    let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| not_rsa())?;
    let der = key.try_get_as_bytes().map_err(|_| not_rsa())?;
    let public = PublicKey::from_pkcs1_der(der).map_err(|_| not_rsa())?;
    strong_enough(&public).map_err(|e| format!("{} {e}", path.display()))?;
    RsaPublic::of(&public)
}

/// Keycloak's realm public key as its admin console shows it: base64 DER without armour.
pub fn keycloak_realm_key(b64: &str) -> Result<DecodingKey, String> {
    let compact: String = b64.split_whitespace().collect();
    let der = STANDARD
        .decode(compact)
        .map_err(|_| "is not base64".to_string())?;
    let public =
        PublicKey::from_public_key_der(&der).map_err(|_| "is not an RSA public key".to_string())?;
    strong_enough(&public)?;
    decoding_key(&public)
}

/// Writes a new RSA key pair to `dir/key.pem` (PKCS#8, mode 0600) and `dir/pubkey.pem`,
/// refusing to overwrite either. A missing `dir` is made (mode 0700), as a rotation to
/// a new folder (`gencert --dir new/`) needs.
pub fn generate_pair(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    if !dir.as_os_str().is_empty() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))?;
    }
    let key_path = dir.join("key.pem");
    let pub_path = dir.join("pubkey.pem");
    for p in [&key_path, &pub_path] {
        if p.exists() {
            return Err(format!("{} exists; refusing to overwrite it", p.display()));
        }
    }
    let key = PrivateKey::generate();
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the key: {e}"))?;
    let public_pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the public key: {e}"))?;
    write_new(&key_path, private_pem.as_bytes(), 0o600)?;
    write_new(&pub_path, public_pem.as_bytes(), 0o644)?;
    Ok((key_path, pub_path))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 7638 §3.1.
    #[test]
    fn key_ids_are_rfc7638_thumbprints() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn junk_is_refused_with_the_file_named() {
        let dir = std::env::temp_dir().join(format!("tw-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        assert!(read_public(&junk).unwrap_err().contains("junk.pem"));
        assert!(read_private(&junk).unwrap_err().contains("junk.pem"));
        assert!(
            read_private(&dir.join("missing.pem"))
                .unwrap_err()
                .contains("cannot read")
        );
        assert!(keycloak_realm_key("public_key_from_keycloak").is_err());
        assert!(keycloak_realm_key("AAAA").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
