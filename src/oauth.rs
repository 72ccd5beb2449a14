//! The OAuth2 model: client applications, scopes, the random tokens kept in the store,
//! and revocations. Kept apart from HTTP and storage so both can share it.

use serde::Serialize;

/// Scopes this server grants. `compute` opens protected OWS operations (the default, as
/// in Twitcher); `register` opens the registry API in place of the admin's password.
pub const SCOPES: &[&str] = &["compute", "register"];
pub const DEFAULT_SCOPE: &str = "compute";

/// Limits that keep one client from bloating every listing.
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_REDIRECT_URI_LEN: usize = 2048;

/// A registered client application. The secret exists only as its keyed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub secret_digest: Vec<u8>,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub created_at: u64,
}

/// A client as listed by `GET /oauth/clients`: everything but the secret.
#[derive(Debug, Serialize)]
pub struct ClientInfo<'a> {
    pub name: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a [String],
    pub created_at: u64,
}

impl Client {
    pub fn info(&self) -> ClientInfo<'_> {
        ClientInfo {
            name: &self.name,
            client_id: &self.client_id,
            redirect_uri: &self.redirect_uri,
            scope: &self.scopes,
            created_at: self.created_at,
        }
    }
}

/// A `random_token`, stored under the keyed digest of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub digest: Vec<u8>,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: u64,
}

/// What a revocation denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Revoked {
    /// A JWT by its `jti`.
    Jti,
    /// A JWT without `jti`, by the hex keyed digest of the whole token.
    Digest,
    /// Every token of a deleted client.
    Client,
}

impl Revoked {
    pub const ALL: [Revoked; 3] = [Revoked::Jti, Revoked::Digest, Revoked::Client];

    pub fn as_str(self) -> &'static str {
        match self {
            Revoked::Jti => "jti",
            Revoked::Digest => "digest",
            Revoked::Client => "client",
        }
    }

    pub fn parse(s: &str) -> Option<Revoked> {
        Revoked::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A deny-list entry; it can be forgotten once every token it covers has expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub kind: Revoked,
    pub value: String,
    pub expires_at: u64,
}

/// Splits a space-separated `scope` parameter; repeats are dropped, order kept.
pub fn split_scopes(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in s.split([' ', '\t']).filter(|w| !w.is_empty()) {
        if !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    }
    out
}

/// Scopes asked for a new client: known ones only, `compute` when none.
pub fn client_scopes(requested: Option<&str>) -> Result<Vec<String>, String> {
    let scopes = split_scopes(requested.unwrap_or(""));
    if scopes.is_empty() {
        return Ok(vec![DEFAULT_SCOPE.to_string()]);
    }
    match scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        Some(bad) => Err(format!(
            "unknown scope `{bad}`; known scopes are {}",
            SCOPES.join(", ")
        )),
        None => Ok(scopes),
    }
}

/// A client's name, redirect URI and scopes, trimmed and checked as registration takes
/// them, through `/oauth/client` or `twitcher db import`.
pub struct ClientFields<'a> {
    pub name: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: Vec<String>,
}

/// The fields, or the one that is wrong (`name`, `redirect_uri` or `scope`) and why.
pub fn client_fields<'a>(
    name: &'a str,
    redirect_uri: &'a str,
    scope: Option<&str>,
) -> Result<ClientFields<'a>, (&'static str, String)> {
    let name = name.trim();
    if name.chars().count() > MAX_NAME_LEN {
        return Err((
            "name",
            format!("must have at most {MAX_NAME_LEN} characters"),
        ));
    }
    let redirect_uri = redirect_uri.trim();
    if redirect_uri.len() > MAX_REDIRECT_URI_LEN || redirect_uri.chars().any(char::is_control) {
        return Err((
            "redirect_uri",
            format!("must be a URI of at most {MAX_REDIRECT_URI_LEN} characters"),
        ));
    }
    let scopes = client_scopes(scope).map_err(|m| ("scope", m))?;
    Ok(ClientFields {
        name,
        redirect_uri,
        scopes,
    })
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One check for `/oauth/client` and `db import`: trimmed, bounded, known scopes.
    #[test]
    fn client_fields_are_trimmed_and_the_wrong_one_named() {
        let f = client_fields(" app ", " http://x/cb ", Some("compute register")).unwrap();
        assert_eq!((f.name, f.redirect_uri), ("app", "http://x/cb"));
        assert_eq!(f.scopes, ["compute", "register"]);
        assert_eq!(client_fields("", "", None).unwrap().scopes, [DEFAULT_SCOPE]);
        let long = "n".repeat(MAX_NAME_LEN + 1);
        assert_eq!(client_fields(&long, "", None).err().unwrap().0, "name");
        assert_eq!(
            client_fields("app", "http://x/\u{7}", None)
                .err()
                .unwrap()
                .0,
            "redirect_uri"
        );
        assert_eq!(
            client_fields("app", "", Some("root")).err().unwrap().0,
            "scope"
        );
    }

    #[test]
    fn scopes() {
        assert_eq!(
            split_scopes(" compute  register compute"),
            ["compute", "register"]
        );
        assert_eq!(client_scopes(None).unwrap(), ["compute"]);
        assert_eq!(client_scopes(Some("")).unwrap(), ["compute"]);
        assert_eq!(
            client_scopes(Some("register compute")).unwrap(),
            ["register", "compute"]
        );
        assert!(
            client_scopes(Some("compute admin"))
                .unwrap_err()
                .contains("admin")
        );
        for r in Revoked::ALL {
            assert_eq!(Revoked::parse(r.as_str()), Some(r));
        }
    }
}
