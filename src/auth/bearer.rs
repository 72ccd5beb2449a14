//! Bearer tokens on incoming requests (RFC 6750): where a token is found, what a checked
//! token grants, and how a refusal is told to the client. The check itself is
//! `App::authorize`, one path for every token kind.

use std::borrow::Cow;

use crate::server::http::Request;

/// A validated access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: u64,
}

/// Why a token was refused. `Invalid` carries a short reason for logs (never the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Missing,
    Invalid(&'static str),
    InsufficientScope,
}

impl Denied {
    /// 401 for a missing or unusable token, 403 for a good one without the scope.
    pub fn status(&self) -> u16 {
        match self {
            Denied::Missing | Denied::Invalid(_) => 401,
            Denied::InsufficientScope => 403,
        }
    }

    /// What the client is told (RFC 6750's `error_description`), so that an expired
    /// token, one for another audience and a missing scope can be told apart. Made of
    /// fixed reasons only: nothing of the token.
    pub fn description(&self, scope: &str) -> String {
        match self {
            Denied::Missing => "no access token was given".to_string(),
            Denied::Invalid(why) => format!("the access token was refused: {why}"),
            Denied::InsufficientScope => format!("the access token lacks the scope {scope}"),
        }
    }
}

/// The request's token: `Authorization: Bearer …`, else the `access_token` query
/// parameter, else `access_token` in `form` (an application/x-www-form-urlencoded body the
/// caller has already read, or None).
pub fn token_from(req: &Request, form: Option<&[u8]>) -> Option<String> {
    token_in(
        req.header("Authorization"),
        form_urlencoded::parse(req.query.as_bytes()),
    )
    .or_else(|| form.and_then(form_token))
}

/// The token in the `Authorization` header, else in the query's already decoded pairs:
/// `token_from` for a caller that has decoded the query once for everything.
pub fn token_in<'a>(
    authorization: Option<&str>,
    query: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
) -> Option<String> {
    if let Some(t) = authorization.and_then(bearer_value) {
        return Some(t.to_string());
    }
    access_token(query)
}

/// The `access_token` of a form body.
pub fn form_token(form: &[u8]) -> Option<String> {
    access_token(form_urlencoded::parse(form))
}

/// Named as RFC 6750 names it, in lower case. The proxy keeps every spelling from the
/// backend, but takes only this one as the token: behind nginx, a spelling that the
/// `auth_request` check read as the token, and the front's match did not, would pass
/// the check and reach the backend in the query nginx forwards.
fn access_token<'a>(
    pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
) -> Option<String> {
    pairs
        .into_iter()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// The token of an `Authorization: Bearer TOKEN` value; the scheme is case-insensitive,
/// and a tab after it counts as the space (a header with the token must never be
/// mistaken for one without, which the proxy would forward).
pub fn bearer_value(header: &str) -> Option<&str> {
    let (scheme, value) = header.trim().split_once([' ', '\t'])?;
    let value = value.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !value.is_empty()).then_some(value)
}

/// The `WWW-Authenticate` value for a refusal, e.g.
/// `Bearer realm="twitcher", error="invalid_token", error_description="…"` or
/// `Bearer realm="twitcher", error="insufficient_scope", scope="compute", error_description="…"`.
pub fn challenge(denied: &Denied, scope: &str) -> String {
    let scope = scope.replace(['"', '\\'], "");
    let description = denied.description(&scope);
    match denied {
        Denied::Missing | Denied::Invalid(_) => format!(
            "Bearer realm=\"twitcher\", error=\"invalid_token\", error_description=\"{description}\""
        ),
        Denied::InsufficientScope => format!(
            "Bearer realm=\"twitcher\", error=\"insufficient_scope\", scope=\"{scope}\", error_description=\"{description}\""
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_values() {
        assert_eq!(bearer_value("Bearer abc"), Some("abc"));
        assert_eq!(bearer_value("Bearer\tabc"), Some("abc"));
        assert_eq!(bearer_value("bearer  abc "), Some("abc"));
        assert_eq!(bearer_value("Basic abc"), None);
        assert_eq!(bearer_value("Bearer "), None);
        assert_eq!(bearer_value("Bearer"), None);
    }

    #[test]
    fn challenges() {
        assert_eq!(
            challenge(&Denied::Invalid("expired"), "compute"),
            "Bearer realm=\"twitcher\", error=\"invalid_token\", \
             error_description=\"the access token was refused: expired\""
        );
        assert_eq!(
            challenge(&Denied::Missing, "compute"),
            "Bearer realm=\"twitcher\", error=\"invalid_token\", \
             error_description=\"no access token was given\""
        );
        assert_eq!(
            challenge(&Denied::InsufficientScope, "com\"pute"),
            "Bearer realm=\"twitcher\", error=\"insufficient_scope\", scope=\"compute\", \
             error_description=\"the access token lacks the scope compute\""
        );
        assert_eq!(Denied::InsufficientScope.status(), 403);
        assert_eq!(Denied::Missing.status(), 401);
    }
}
