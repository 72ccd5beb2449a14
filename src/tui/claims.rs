//! A token's claims as the Tokens tab shows them. JWTs (custom_token, signed_token,
//! keycloak) carry base64url JSON that is read here without checking the signature:
//! this is a display, the server decides. random_token values are opaque.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::fmt;

/// Longer values are not decoded; no JWT of this server comes near it.
const MAX_TOKEN: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The header's `alg`, e.g. `HS256`.
    pub alg: String,
    /// Claim names and values as shown, times with their date.
    pub claims: Vec<(String, String)>,
    pub iat: Option<u64>,
    pub exp: Option<u64>,
}

fn part(b64: &str) -> Option<Map<String, Value>> {
    // Some issuers pad; base64url proper does not.
    let bytes = URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn shown(name: &str, v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) if matches!(name, "exp" | "iat" | "nbf" | "auth_time") => {
            match n.as_u64() {
                Some(t) => format!("{t} ({})", fmt::utc(t)),
                None => n.to_string(),
            }
        }
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// The claims of a JWT; None for anything else (an opaque token).
pub fn decode(token: &str) -> Option<Decoded> {
    let token = token.trim();
    if token.len() > MAX_TOKEN {
        return None;
    }
    let mut parts = token.split('.');
    let (header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header = part(header)?;
    let payload = part(payload)?;
    let time = |k: &str| payload.get(k).and_then(Value::as_u64);
    Some(Decoded {
        alg: header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string(),
        iat: time("iat"),
        exp: time("exp"),
        claims: payload
            .iter()
            .map(|(k, v)| (k.clone(), shown(k, v)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn jwt_claims_are_read_without_the_key() {
        let t = jwt(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"iss":"twitcher","sub":"abc","scope":"compute","iat":1700000000,"exp":1700003600,"aud":["a","b"]}"#,
        );
        let d = decode(&t).unwrap();
        assert_eq!(d.alg, "HS256");
        assert_eq!((d.iat, d.exp), (Some(1_700_000_000), Some(1_700_003_600)));
        assert!(d.claims.contains(&("scope".into(), "compute".into())));
        assert!(d.claims.contains(&("aud".into(), "a b".into())));
        assert!(
            d.claims
                .contains(&("exp".into(), "1700003600 (2023-11-14 23:13:20 UTC)".into()))
        );
    }

    #[test]
    fn anything_else_is_opaque() {
        for t in [
            "",
            "8d3f0c9a1b2e4f6a",
            "a.b.c",
            "a.b",
            "x.y.z.w",
            &jwt("[1]", "{}"),
            &jwt(r#"{"alg":"none"}"#, "not json"),
            &"a.".repeat(MAX_TOKEN),
        ] {
            assert_eq!(decode(t), None, "{t:.40}");
        }
    }
}
