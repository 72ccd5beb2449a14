//! `/oauth/*`: client registration (admin), the client-credentials token endpoint
//! (RFC 6749 §4.4, wire-compatible with Twitcher 0.11, transcripts 10-23), revocation
//! (RFC 7009) and introspection (RFC 7662).

use std::io::Read;

use serde_json::json;

use super::app::App;
use super::errors;
use super::http::{Method, Request, Response};
use super::routes::Params;
use crate::auth::admin::parse_basic;
use crate::auth::tokens::{IssueError, RevokeError, Revoker};
use crate::oauth::{self, split_scopes};
use crate::store::StoreError;

/// The OAuth endpoints read small forms; larger bodies are refused unread.
const MAX_FORM: u64 = 64 * 1024;

/// The largest form these endpoints take: theirs, or a smaller server-wide limit.
pub fn form_limit(req: &Request) -> u64 {
    MAX_FORM.min(req.max_body())
}

/// Decoded parameters of the query and, for POST, the form body.
struct Form(Vec<(String, String)>);

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn repeated(&self, names: &[&'static str]) -> Option<&'static str> {
        names
            .iter()
            .find(|n| self.0.iter().filter(|(k, _)| k == *n).count() > 1)
            .copied()
    }
}

/// `/oauth/jwks` and `/.well-known/jwks.json`: the public keys of signed_token, for
/// services and gateways that check this server's tokens themselves (RFC 7517).
pub fn jwks(app: &App, _: &mut Request, _: &Params) -> Response {
    match app.tokens.jwks() {
        Some(doc) => Response::json(200, doc).header("Cache-Control", "public, max-age=300"),
        None => oauth_error(
            404,
            "not_found",
            Some(&format!(
                "this server's tokens ({}) are not signed with a public key; only signed_token publishes keys",
                app.tokens.kind().name()
            )),
        ),
    }
}

/// RFC 6749 §5.2 error: `{"error": code[, "error_description": ...]}`, never cached.
pub fn oauth_error(status: u16, code: &str, description: Option<&str>) -> Response {
    let body = match description {
        Some(d) => json!({"error": code, "error_description": d}),
        None => json!({"error": code}),
    };
    no_store(Response::json(status, &body))
}

fn no_store(resp: Response) -> Response {
    resp.header("Cache-Control", "no-store")
        .header("Pragma", "no-cache")
}

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::Busy => oauth_error(
            503,
            "temporarily_unavailable",
            Some("The database is busy; try again"),
        )
        .header("Retry-After", "1"),
        StoreError::Other(m) => {
            crate::log::error(&format!("store: {m}"));
            oauth_error(500, "server_error", None)
        }
    }
}

/// The query, plus the form body of a POST. `Err` is the response to send.
fn form(req: &mut Request) -> Result<Form, Response> {
    let mut pairs = req.query_pairs();
    if req.method == Method::Post {
        let form_type = req.header("Content-Type").is_none_or(|t| {
            t.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        let limit = form_limit(req);
        let too_large = || {
            oauth_error(
                413,
                "invalid_request",
                Some(&format!(
                    "Request body larger than the limit of {limit} bytes"
                )),
            )
        };
        if req.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        // Never more than limit + 1 bytes, whatever the body claims to be.
        let mut body = Vec::new();
        match req.body_reader().take(limit + 1).read_to_end(&mut body) {
            Ok(_) if body.len() as u64 > limit => return Err(too_large()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => return Err(too_large()),
            Err(_) => {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    Some("The request body could not be read"),
                ));
            }
        }
        if !body.is_empty() && !form_type {
            return Err(oauth_error(
                400,
                "invalid_request",
                Some("Parameters must be sent as application/x-www-form-urlencoded"),
            ));
        }
        pairs.extend(form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }
    Ok(Form(pairs))
}

/// A form-urlencoded part of Basic credentials (RFC 6749 §2.3.1).
fn form_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Client credentials from HTTP Basic or the parameters; `bool` tells Basic.
fn client_credentials(req: &Request, p: &Form) -> Result<Option<(String, String, bool)>, Response> {
    let basic = req.header("Authorization").and_then(parse_basic);
    let Some((user, pass)) = basic else {
        return Ok(match (p.get("client_id"), p.get("client_secret")) {
            (Some(id), Some(secret)) if !id.is_empty() => {
                Some((id.to_string(), secret.to_string(), false))
            }
            _ => None,
        });
    };
    let (id, secret) = (form_decode(&user), form_decode(&pass));
    // requests-oauthlib sends the credentials both ways; they must agree.
    let differs = |name: &str, value: &str| p.get(name).is_some_and(|v| v != value);
    if differs("client_id", &id) || differs("client_secret", &secret) {
        return Err(oauth_error(
            400,
            "invalid_request",
            Some("Client credentials in the Authorization header and the parameters differ"),
        ));
    }
    Ok(Some((id, secret, true)))
}

/// With the Basic challenge also when the credentials came in the body or not at all:
/// every 401 names a scheme (RFC 7235 §3.1), and RFC 6749 §2.3.1 makes Basic the one
/// every server supports.
/// The description does not say whether the client id exists.
fn invalid_client(given: bool) -> Response {
    let why = if given {
        "Unknown client, or a wrong client secret."
    } else {
        "No usable client credentials: send them in HTTP Basic, or as client_id and client_secret."
    };
    oauth_error(401, "invalid_client", Some(why))
        .header("WWW-Authenticate", errors::BASIC_CHALLENGE)
}

/// `/oauth/client`: registers a client application and shows its secret, once.
pub fn register_client(app: &App, req: &mut Request, _: &Params) -> Response {
    let p = match form(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(name) = p.repeated(&["name", "redirect_uri", "scope"]) {
        return errors::one(
            400,
            "querystring",
            name,
            format!("{name} is given more than once"),
        );
    }
    let fields = oauth::client_fields(
        p.get("name").unwrap_or(""),
        p.get("redirect_uri").unwrap_or(""),
        p.get("scope"),
    );
    let (name, redirect_uri, scopes) = match fields {
        Ok(f) => (f.name, f.redirect_uri, f.scopes),
        Err((field, m)) => return errors::one(400, "querystring", field, m),
    };
    match app.tokens.new_client(name, redirect_uri, scopes) {
        Ok((c, secret)) => no_store(Response::json(
            200,
            &json!({
                "name": c.name,
                "client_id": c.client_id,
                "client_secret": secret,
                "redirect_uri": c.redirect_uri,
                "scope": c.scopes,
            }),
        )),
        Err(e) => errors::store(e),
    }
}

/// `GET /oauth/clients`: every client, without secrets.
pub fn list_clients(app: &App, _: &mut Request, _: &Params) -> Response {
    match app.store.list_clients() {
        Ok(clients) => {
            let infos: Vec<_> = clients.iter().map(|c| c.info()).collect();
            Response::json(200, &infos)
        }
        Err(e) => errors::store(e),
    }
}

/// `DELETE /oauth/clients/{client_id}`: the client and every token it holds.
pub fn delete_client(app: &App, _: &mut Request, params: &Params) -> Response {
    let id = params.get("client_id");
    match app.tokens.delete_client(id) {
        Ok(true) => Response::json(200, &true),
        Ok(false) => errors::one(404, "path", "client_id", format!("No client with id {id}")),
        Err(e) => errors::store(e),
    }
}

/// `/oauth/token`: the client-credentials grant.
pub fn token(app: &App, req: &mut Request, _: &Params) -> Response {
    let p = match form(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(name) = p.repeated(&["grant_type", "client_id", "client_secret", "scope"]) {
        return oauth_error(
            400,
            "invalid_request",
            Some(&format!("Duplicate {name} parameter.")),
        );
    }
    match p.get("grant_type") {
        None | Some("") => {
            return oauth_error(
                400,
                "invalid_request",
                Some("Request is missing grant type."),
            );
        }
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                400,
                "unsupported_grant_type",
                Some("Only the client_credentials grant is supported."),
            );
        }
    }
    if !app.tokens.issues() {
        return oauth_error(
            400,
            "unsupported_grant_type",
            Some(&format!(
                "This server only checks tokens ({}); get one from their issuer",
                app.tokens.kind().name()
            )),
        );
    }
    let (id, secret, _) = match client_credentials(req, &p) {
        Ok(Some(c)) => c,
        Ok(None) => return invalid_client(false),
        Err(r) => return r,
    };
    let client = match app.tokens.authenticate_client(&id, &secret) {
        Ok(Some(c)) => c,
        Ok(None) => return invalid_client(true),
        Err(e) => return store_error(e),
    };
    let asked = split_scopes(p.get("scope").unwrap_or(""));
    let scopes = if asked.is_empty() {
        client.scopes.clone()
    } else {
        asked
    };
    if scopes.iter().any(|s| !client.scopes.contains(s)) {
        return oauth_error(
            400,
            "invalid_scope",
            Some(&format!(
                "A scope asked for is not one of this client's: {}.",
                client.scopes.join(" ")
            )),
        );
    }
    match app.tokens.issue(&client.client_id, &scopes) {
        Ok(t) => no_store(Response::json(
            200,
            &json!({
                "access_token": t.access_token,
                "expires_in": t.expires_in,
                "token_type": "Bearer",
                "scope": scopes.join(" "),
            }),
        )),
        Err(IssueError::Store(e)) => store_error(e),
        Err(IssueError::NotAnIssuer) => oauth_error(400, "unsupported_grant_type", None),
        Err(IssueError::Sign(m)) => {
            crate::log::error(&format!("signing a token failed: {m}"));
            oauth_error(500, "server_error", None)
        }
    }
}

/// Who calls revoke or introspect: a registered client (by its credentials) or the
/// admin (by the password). `Err` is the response to send.
fn caller(app: &App, req: &Request, p: &Form) -> Result<Revoker, Response> {
    if app.admin.is_none() {
        return Ok(Revoker::Admin);
    }
    let (id, secret, basic) = match client_credentials(req, p)? {
        Some(c) => c,
        None => return Err(invalid_client(false)),
    };
    match app.tokens.authenticate_client(&id, &secret) {
        Ok(Some(c)) => Ok(Revoker::Client(c.client_id)),
        Ok(None) if basic && app.require_password(req).is_ok() => Ok(Revoker::Admin),
        Ok(None) => Err(invalid_client(true)),
        Err(e) => Err(store_error(e)),
    }
}

/// The `token` parameter of revoke and introspect, after the caller is known.
fn token_param(app: &App, req: &mut Request) -> Result<(Revoker, String), Response> {
    let p = form(req)?;
    let by = caller(app, req, &p)?;
    match p.get("token") {
        Some(t) if !t.is_empty() => Ok((by, t.to_string())),
        _ => Err(oauth_error(
            400,
            "invalid_request",
            Some("Missing token parameter."),
        )),
    }
}

/// `POST /oauth/revoke` (RFC 7009): 200 whether or not the token was still valid.
pub fn revoke(app: &App, req: &mut Request, _: &Params) -> Response {
    let (by, token) = match token_param(app, req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match app.tokens.revoke(&token, by) {
        Ok(_) => no_store(Response::new(200)),
        Err(RevokeError::NotYours) => oauth_error(
            400,
            "invalid_request",
            Some("The token was issued to another client"),
        ),
        Err(RevokeError::Store(e)) => store_error(e),
    }
}

/// `POST /oauth/introspect` (RFC 7662): whether a token is active, and what it grants.
pub fn introspect(app: &App, req: &mut Request, _: &Params) -> Response {
    let (by, token) = match token_param(app, req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    // A client learns about its own tokens only (RFC 7662 §4): to another one, a token
    // it was handed is as good as unknown.
    let theirs = |client: &str| match &by {
        Revoker::Admin => true,
        Revoker::Client(id) => id == client,
    };
    let body = match app.tokens.introspect(&token) {
        Some(g) if theirs(&g.client_id) => json!({
            "active": true,
            "scope": g.scopes.join(" "),
            "client_id": g.client_id,
            "token_type": "Bearer",
            "exp": g.expires_at,
        }),
        _ => json!({"active": false}),
    };
    no_store(Response::json(200, &body))
}
