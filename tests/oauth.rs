//! The OAuth2 token service over real HTTP: client registration, the client-credentials
//! grant (wire-compatible with Twitcher 0.11, reference transcripts 10-23), random and
//! HS256 tokens, scopes, revocation, introspection, and what reaches the database file.

mod common;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

fn custom() -> Launch {
    Launch::default()
        .env("TWITCHER_TOKEN_TYPE", "custom_token")
        .env("TWITCHER_TOKEN_SECRET", SECRET)
        .env("TWITCHER_TOKEN_LEEWAY", "0")
}

fn post_form(url: &str, auth: Option<&str>, form: &str) -> Resp {
    request("POST", url, auth, Some(form.as_bytes()))
}

fn token_resp(s: &Server, id: &str, secret: &str, scope: &str) -> Resp {
    post_form(
        &format!("{}/oauth/token", s.url),
        None,
        &format!(
            "grant_type=client_credentials&client_id={id}&client_secret={secret}&scope={scope}"
        ),
    )
}

fn token(s: &Server, id: &str, secret: &str, scope: &str) -> String {
    let r = token_resp(s, id, secret, scope);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_string()
}

/// GET /services with a bearer token: the registry wants scope `register`.
fn services_with(s: &Server, t: &str) -> Resp {
    get(&format!("{}/services", s.url), Some(&bearer(t)))
}

fn introspect(s: &Server, id: &str, secret: &str, t: &str) -> Value {
    let r = post_form(
        &format!("{}/oauth/introspect", s.url),
        Some(&basic(id, secret)),
        &format!("token={t}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn mint(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

type Starter = fn() -> Launch;

/// A server for each token kind, stored and JWT, and the reason a revoked token of that
/// kind is refused with: a stored token is gone, a JWT is on the deny list.
const TOKEN_KINDS: [(Starter, &str); 2] = [(Launch::default, "unknown token"), (custom, "revoked")];

/// A 401 that tells why: `reason` in the bearer challenge and in the JSON error.
fn assert_refused(r: &Resp, what: &str, reason: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.text());
    let challenges: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, v)| v.as_str())
        .collect();
    let description = format!("the access token was refused: {reason}");
    let challenge = format!(
        "Bearer realm=\"twitcher\", error=\"invalid_token\", error_description=\"{description}\""
    );
    assert!(
        challenges.contains(&challenge.as_str()),
        "{what}: {challenges:?}"
    );
    assert!(r.text().contains(&description), "{what}: {}", r.text());
}

#[test]
fn clients_get_ids_and_secrets_with_the_originals_shape() {
    let s = Server::start();
    let r = get(
        &format!(
            "{}/oauth/client?name=curl_app&redirect_uri=http://127.0.0.1/cb",
            s.url
        ),
        Some(&admin_auth()),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j = r.json();
    let keys: Vec<_> = j.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "name",
            "client_id",
            "client_secret",
            "redirect_uri",
            "scope"
        ]
    );
    assert_eq!(j["name"], "curl_app");
    assert_eq!(j["redirect_uri"], "http://127.0.0.1/cb");
    assert_eq!(
        j["scope"],
        json!(["compute"]),
        "default scope as in the original"
    );
    assert_eq!(j["client_id"].as_str().unwrap().len(), 32);
    assert_eq!(j["client_secret"].as_str().unwrap().len(), 64, "256 bits");

    // POST with a form works too, and asks for more scopes.
    let r = post_form(
        &format!("{}/oauth/client", s.url),
        Some(&admin_auth()),
        "name=ops&scope=compute+register",
    );
    assert_eq!(r.json()["scope"], json!(["compute", "register"]));
    let r = get(
        &format!("{}/oauth/client?scope=admin", s.url),
        Some(&admin_auth()),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errors"][0]["name"], "scope");
    // A name pasted unencoded (`a&name=b`) is not cut short to its first part.
    let r = get(
        &format!("{}/oauth/client?name=a&name=b", s.url),
        Some(&admin_auth()),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["errors"][0]["name"], "name");

    // Admin only: no credentials, or a bearer token, get 401.
    let r = get(&format!("{}/oauth/client?name=x", s.url), None);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic "));

    let list = get(&format!("{}/oauth/clients", s.url), Some(&admin_auth())).json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["name"], "curl_app");
    assert!(list[0].get("client_secret").is_none());
}

#[test]
fn token_endpoint_answers_like_the_original() {
    let s = Server::start();
    let (id, secret) = new_client(&s, "compute");
    let url = format!("{}/oauth/token", s.url);

    // 14/15: POST form, with and without scope.
    for form in [
        format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
        format!(
            "grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=compute"
        ),
    ] {
        let r = post_form(&url, None, &form);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("pragma"), Some("no-cache"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let j = r.json();
        let keys: Vec<_> = j.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["access_token", "expires_in", "token_type", "scope"]);
        assert_eq!(j["expires_in"], 3600);
        assert_eq!(j["token_type"], "Bearer");
        assert_eq!(j["scope"], "compute");
    }
    // 16: GET with the query.
    let r = get(
        &format!("{url}?grant_type=client_credentials&client_id={id}&client_secret={secret}"),
        None,
    );
    assert_eq!(r.status, 200);
    // 17: HTTP Basic client authentication, which the original refused.
    let r = post_form(
        &url,
        Some(&basic(&id, &secret)),
        "grant_type=client_credentials",
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let err = |r: &Resp, status: u16, body: Value| {
        assert_eq!(r.status, status, "{}", r.text());
        assert_eq!(r.json(), body);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("pragma"), Some("no-cache"));
    };
    // 18/19: bad secret, unknown client.
    let r = post_form(
        &url,
        None,
        &format!("grant_type=client_credentials&client_id={id}&client_secret=wrong"),
    );
    let wrong = json!({"error": "invalid_client", "error_description": "Unknown client, or a wrong client secret."});
    err(&r, 401, wrong.clone());
    // Every 401 names a scheme (RFC 7235), wherever the credentials were: Basic.
    let challenged = |r: &Resp| {
        assert!(
            r.header("www-authenticate")
                .is_some_and(|c| c.starts_with("Basic ")),
            "{:?}",
            r.header("www-authenticate")
        );
    };
    challenged(&r);
    let r = post_form(
        &url,
        None,
        "grant_type=client_credentials&client_id=nope&client_secret=wrong",
    );
    err(&r, 401, wrong.clone());
    challenged(&r);
    // ... with Basic, the challenge RFC 6749 asks for; with a malformed Basic, or none.
    let none = json!({"error": "invalid_client", "error_description": "No usable client credentials: send them in HTTP Basic, or as client_id and client_secret."});
    for (auth, body) in [
        (Some(basic(&id, "wrong")), &wrong),
        (Some("Basic !!!".to_string()), &none),
        (None, &none),
    ] {
        let r = post_form(&url, auth.as_deref(), "grant_type=client_credentials");
        err(&r, 401, body.clone());
        challenged(&r);
    }
    // 20: a scope the client does not have.
    let r = post_form(
        &url,
        None,
        &format!(
            "grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=register"
        ),
    );
    err(
        &r,
        400,
        json!({"error": "invalid_scope", "error_description": "A scope asked for is not one of this client's: compute."}),
    );
    // 21/22/23: grant types.
    let r = post_form(
        &url,
        None,
        &format!("grant_type=password&client_id={id}&client_secret={secret}"),
    );
    err(
        &r,
        400,
        json!({"error": "unsupported_grant_type", "error_description": "Only the client_credentials grant is supported."}),
    );
    let missing =
        json!({"error": "invalid_request", "error_description": "Request is missing grant type."});
    let r = post_form(
        &url,
        None,
        &format!("client_id={id}&client_secret={secret}"),
    );
    err(&r, 400, missing.clone());
    err(&get(&url, None), 400, missing);
    // Credentials given twice must agree.
    let r = post_form(
        &url,
        Some(&basic(&id, &secret)),
        "grant_type=client_credentials&client_id=someone_else",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_request");
    let r = post_form(
        &url,
        None,
        &format!(
            "grant_type=client_credentials&grant_type=client_credentials&client_id={id}&client_secret={secret}"
        ),
    );
    assert_eq!(
        r.json()["error_description"],
        "Duplicate grant_type parameter."
    );
}

#[test]
fn random_tokens_are_checked_by_lookup_with_scopes() {
    let s = Server::start();
    let (id, secret) = new_client(&s, "compute+register");
    let both = token(&s, &id, &secret, "");
    assert_eq!(both.len(), 64, "256 bits as hex");
    assert!(both.bytes().all(|b| b.is_ascii_hexdigit()));
    let compute = token(&s, &id, &secret, "compute");

    // register opens the registry in place of the password.
    assert_eq!(services_with(&s, &both).status, 200);
    let r = get(&format!("{}/services?access_token={both}", s.url), None);
    assert_eq!(r.status, 200, "access_token parameter");
    // A valid token without the scope is 403, not 401.
    let r = services_with(&s, &compute);
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            "Bearer realm=\"twitcher\", error=\"insufficient_scope\", scope=\"register\", \
             error_description=\"the access token lacks the scope register\""
        )
    );
    // Made-up tokens are 401 with both challenges.
    for (bad, reason) in [
        ("0".repeat(64), "unknown token"),
        ("not-a-token".to_string(), "malformed"),
        // The last hex digit changed (one in 16 tokens already ends in 0).
        (
            format!(
                "{}{}",
                &both[..63],
                if both.ends_with('0') { '1' } else { '0' }
            ),
            "unknown token",
        ),
    ] {
        assert_refused(&services_with(&s, &bad), &bad, reason);
    }
    let i = introspect(&s, &id, &secret, &both);
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], id.as_str());
    assert_eq!(i["scope"], "compute register");
    assert_eq!(i["token_type"], "Bearer");
    assert!(i["exp"].as_u64().unwrap() > now());
}

#[test]
fn random_tokens_expire() {
    let s = Launch::default()
        .env("TWITCHER_TOKEN_EXPIRES_IN", "1")
        .start();
    let (id, secret) = new_client(&s, "register");
    let t = token(&s, &id, &secret, "");
    wait_for(10, "the token to expire", || {
        (services_with(&s, &t).status == 401).then_some(())
    });
    assert_eq!(introspect(&s, &id, &secret, &t), json!({"active": false}));
}

#[test]
fn custom_tokens_are_hs256_jwts_with_scope_and_issuer() {
    let s = custom().start();
    let (id, secret) = new_client(&s, "compute+register");
    let t = token(&s, &id, &secret, "register");
    let header = jsonwebtoken::decode_header(&t).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    let c = payload(&t);
    assert_eq!(c["iss"], "twitcher");
    assert_eq!(c["client_id"], id.as_str());
    assert_eq!(c["sub"], id.as_str());
    assert_eq!(c["scope"], "register");
    assert_eq!(c["jti"].as_str().unwrap().len(), 32);
    let iat = c["iat"].as_u64().unwrap();
    assert_eq!(c["exp"].as_u64().unwrap(), iat + 3600);

    assert_eq!(services_with(&s, &t).status, 200);
    let compute_only = token(&s, &id, &secret, "compute");
    assert_eq!(services_with(&s, &compute_only).status, 403);
    // The register scope is the registry's, not the admin's: the settings and the
    // traffic counters still need the password.
    for path in ["/settings", "/stats", "/metrics"] {
        let url = format!("{}{path}", s.url);
        let r = get(&url, Some(&bearer(&t)));
        assert_eq!(r.status, 401, "{path}");
        assert!(
            r.header("www-authenticate").unwrap().starts_with("Basic "),
            "{path}"
        );
        assert_eq!(get(&url, Some(&admin_auth())).status, 200, "{path}");
    }

    // Tokens minted here with the server's own secret: scope and claims are checked.
    let good =
        json!({"iss": "twitcher", "exp": now() + 600, "client_id": "x", "scope": "register"});
    assert_eq!(services_with(&s, &mint(&good, SECRET)).status, 200);
    let no_scope = json!({"iss": "twitcher", "exp": now() + 600});
    assert_eq!(services_with(&s, &mint(&no_scope, SECRET)).status, 403);
    let refused = [
        (
            "another secret",
            mint(&good, "another secret of enough length 1234"),
            "bad signature",
        ),
        (
            "wrong issuer",
            mint(
                &json!({"iss": "evil", "exp": now() + 600, "scope": "register"}),
                SECRET,
            ),
            "wrong issuer",
        ),
        (
            "no issuer",
            mint(&json!({"exp": now() + 600, "scope": "register"}), SECRET),
            "missing claim",
        ),
        (
            "expired",
            mint(
                &json!({"iss": "twitcher", "exp": now() - 5, "scope": "register"}),
                SECRET,
            ),
            "expired",
        ),
        (
            "not yet valid",
            mint(
                &json!({"iss": "twitcher", "exp": now() + 600, "nbf": now() + 300, "scope": "register"}),
                SECRET,
            ),
            "not yet valid",
        ),
        (
            "no exp",
            mint(&json!({"iss": "twitcher", "scope": "register"}), SECRET),
            "malformed",
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&good)
            ),
            "malformed",
        ),
        (
            "tampered signature",
            {
                let mut t = t.clone();
                let last = t.pop().unwrap();
                t.push(if last == 'A' { 'B' } else { 'A' });
                t
            },
            "bad signature",
        ),
        (
            "tampered claims",
            {
                let parts: Vec<&str> = t.split('.').collect();
                let mut c = payload(&t);
                c["scope"] = json!("register compute");
                format!("{}.{}.{}", parts[0], b64(&c), parts[2])
            },
            "bad signature",
        ),
        ("not a JWT", "not.a.jwt".to_string(), "malformed"),
        ("random token", "ab".repeat(32), "malformed"),
    ];
    for (what, bad, reason) in &refused {
        assert_refused(&services_with(&s, bad), what, reason);
    }
    // The Python Twitcher's own custom tokens (`ref`, `iss`, `exp`, no scope) are valid
    // but grant nothing: its JWT kinds never checked scopes.
    let python = json!({"ref": "5400d22c-cf89-495e-b130-e7d7861f67f3", "iss": "twitcher", "exp": now() + 600});
    assert_eq!(services_with(&s, &mint(&python, SECRET)).status, 403);
}

#[test]
fn custom_tokens_expire() {
    let s = custom().env("TWITCHER_TOKEN_EXPIRES_IN", "1").start();
    let (id, secret) = new_client(&s, "register");
    let t = token(&s, &id, &secret, "");
    wait_for(10, "the token to expire", || {
        (services_with(&s, &t).status == 401).then_some(())
    });
    assert_refused(&services_with(&s, &t), "expired", "expired");
}

#[test]
fn custom_token_without_a_secret_refuses_to_start() {
    let (status, log) = match Launch::default()
        .env("TWITCHER_TOKEN_TYPE", "custom_token")
        .try_start()
    {
        Err(e) => e,
        Ok(_) => panic!("started without a secret"),
    };
    assert_eq!(status.code(), Some(2));
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(errors[0].contains("twitcher.token.secret"), "{log}");
}

#[test]
fn revocation_works_for_each_kind_and_survives_a_restart() {
    for (launch, revoked) in TOKEN_KINDS {
        let s = launch().start();
        let (a, a_secret) = new_client(&s, "register");
        let (b, b_secret) = new_client(&s, "register");
        let t = token(&s, &a, &a_secret, "");
        let other = token(&s, &a, &a_secret, "");
        let revoke = |auth: &str, t: &str| {
            post_form(
                &format!("{}/oauth/revoke", s.url),
                Some(auth),
                &format!("token={t}"),
            )
        };
        // Another client learns nothing of it, nor may revoke it; nobody without
        // credentials either.
        assert_eq!(introspect(&s, &b, &b_secret, &t), json!({"active": false}));
        assert_eq!(introspect(&s, &a, &a_secret, &t)["active"], true);
        let r = revoke(&basic(&b, &b_secret), &t);
        assert_eq!(r.status, 400, "{}", r.text());
        let r = post_form(
            &format!("{}/oauth/revoke", s.url),
            None,
            &format!("token={t}"),
        );
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"], "invalid_client");
        assert!(r.header("www-authenticate").is_some());
        assert_eq!(services_with(&s, &t).status, 200);
        // Its own client may, with the credentials in the form too.
        let r = post_form(
            &format!("{}/oauth/revoke", s.url),
            None,
            &format!("token={t}&client_id={a}&client_secret={a_secret}"),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_refused(&services_with(&s, &t), "revoked", revoked);
        assert_eq!(introspect(&s, &b, &b_secret, &t), json!({"active": false}));
        // Revoking again, or junk, is still 200 (RFC 7009 §2.2).
        assert_eq!(revoke(&basic(&a, &a_secret), &t).status, 200);
        assert_eq!(revoke(&basic(&a, &a_secret), "junk").status, 200);
        // The admin may revoke any token.
        assert_eq!(services_with(&s, &other).status, 200);
        assert_eq!(revoke(&admin_auth(), &other).status, 200);
        assert_refused(&services_with(&s, &other), "revoked by the admin", revoked);

        // After a restart on the same database, both stay revoked.
        let fresh = token(&s, &a, &a_secret, "");
        let dir = s.dir.clone();
        drop(s);
        let s = launch().in_dir(dir).start();
        assert_refused(&services_with(&s, &t), "revoked, after restart", revoked);
        assert_refused(
            &services_with(&s, &other),
            "revoked, after restart",
            revoked,
        );
        assert_eq!(services_with(&s, &fresh).status, 200);
    }
}

#[test]
fn deleting_a_client_revokes_its_tokens() {
    for (launch, revoked) in TOKEN_KINDS {
        let s = launch().start();
        let (a, a_secret) = new_client(&s, "register");
        let (b, b_secret) = new_client(&s, "register");
        let ta = token(&s, &a, &a_secret, "");
        let tb = token(&s, &b, &b_secret, "");
        let url = format!("{}/oauth/clients/{a}", s.url);
        assert_eq!(request("DELETE", &url, None, None).status, 401);
        let r = request("DELETE", &url, Some(&admin_auth()), None);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_refused(&services_with(&s, &ta), "client deleted", revoked);
        assert_eq!(
            services_with(&s, &tb).status,
            200,
            "other clients keep theirs"
        );
        assert_eq!(token_resp(&s, &a, &a_secret, "").status, 401);
        assert_eq!(
            request("DELETE", &url, Some(&admin_auth()), None).status,
            404
        );
        let dir = s.dir.clone();
        drop(s);
        let s = launch().in_dir(dir).start();
        assert_refused(
            &services_with(&s, &ta),
            "client deleted, after restart",
            revoked,
        );
    }
}

/// Revocations outlast a change of `expires_in` or `leeway` across a restart: a
/// deleted client's tokens issued under a longer lifetime, and a revoked token that
/// a larger leeway would let pass again.
#[test]
fn revocations_outlast_a_shorter_lifetime_and_a_larger_leeway() {
    let s = custom().start();
    let (a, a_secret) = new_client(&s, "register");
    let (b, b_secret) = new_client(&s, "register");
    let long_lived = token(&s, &a, &a_secret, "");
    let dir = s.dir.clone();
    drop(s);
    let s = custom()
        .env("TWITCHER_TOKEN_EXPIRES_IN", "1")
        .in_dir(dir.clone())
        .start();
    let short_lived = token(&s, &b, &b_secret, "");
    let r = post_form(
        &format!("{}/oauth/revoke", s.url),
        Some(&basic(&b, &b_secret)),
        &format!("token={short_lived}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let url = format!("{}/oauth/clients/{a}", s.url);
    assert_eq!(
        request("DELETE", &url, Some(&admin_auth()), None).status,
        200
    );
    assert_refused(&services_with(&s, &long_lived), "client deleted", "revoked");
    // Past the lifetime in force, and past the revoked token's expiry.
    let exp = payload(&short_lived)["exp"].as_u64().unwrap();
    wait_for(10, "the short lifetime to pass", || {
        (now() > exp + 1).then_some(())
    });
    drop(s);
    let s = custom()
        .env("TWITCHER_TOKEN_EXPIRES_IN", "1")
        .env("TWITCHER_TOKEN_LEEWAY", "600")
        .in_dir(dir)
        .start();
    assert_refused(
        &services_with(&s, &long_lived),
        "client deleted, after restart",
        "revoked",
    );
    assert_refused(
        &services_with(&s, &short_lived),
        "revoked, within the larger leeway",
        "revoked",
    );
    let (c, c_secret) = new_client(&s, "register");
    let fresh = token(&s, &c, &c_secret, "");
    assert_eq!(services_with(&s, &fresh).status, 200);
}

#[test]
fn secrets_and_random_tokens_never_reach_the_database_file() {
    let s = Server::start();
    let mut plain = Vec::new();
    for _ in 0..3 {
        let (id, secret) = new_client(&s, "compute");
        plain.push(token(&s, &id, &secret, ""));
        plain.push(secret);
    }
    assert!(
        services_with(&s, &plain[0]).status == 403,
        "the token works"
    );
    let mut files = 0;
    for entry in std::fs::read_dir(&s.dir.0).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("twitcher.sqlite") {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&path).unwrap();
        for p in &plain {
            let raw: Vec<u8> = (0..p.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&p[i..i + 2], 16).unwrap())
                .collect();
            for needle in [p.as_bytes(), &raw[..]] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{name} holds a secret or token in clear"
                );
            }
        }
    }
    assert!(files >= 2, "the database and its WAL were both searched");
}

#[test]
fn oauth_off_answers_404_and_accepts_no_tokens() {
    let s = Launch::default().env("TWITCHER_OAUTH", "false").start();
    for (method, path) in [
        ("GET", "/oauth/client"),
        ("GET", "/oauth/clients"),
        ("POST", "/oauth/token"),
        ("GET", "/oauth/token"),
        ("POST", "/oauth/revoke"),
        ("POST", "/oauth/introspect"),
    ] {
        let r = request(
            method,
            &format!("{}{path}", s.url),
            Some(&admin_auth()),
            None,
        );
        assert_eq!(r.status, 404, "{method} {path}");
    }
    let r = services_with(&s, &"ab".repeat(32));
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic "));
}

#[test]
fn concurrent_random_grants_are_all_kept_through_kill_9() {
    let mut s = Server::start();
    let (id, secret) = new_client(&s, "register");
    let url = s.url.clone();
    let tokens: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (url, id, secret) = (&url, &id, &secret);
                scope.spawn(move || {
                    (0..16)
                        .map(|_| {
                            let r = post_form(
                                &format!("{url}/oauth/token"),
                                Some(&basic(id, secret)),
                                "grant_type=client_credentials",
                            );
                            assert_eq!(r.status, 200, "{}", r.text());
                            r.json()["access_token"].as_str().unwrap().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(tokens.len(), 128);
    s.kill9();
    let s = Launch::default().in_dir(s.dir.clone()).start();
    for t in &tokens {
        assert_eq!(
            services_with(&s, t).status,
            200,
            "an acknowledged grant was lost"
        );
    }
}

/// A server-wide body limit below the forms' own 64 KiB is the one the OAuth
/// endpoints apply and name.
#[test]
fn a_smaller_server_limit_bounds_the_forms_too() {
    let s = Launch::default()
        .env("TWITCHER_MAX_BODY_SIZE", "1K")
        .start();
    let body = vec![b'a'; 5000];
    let r = request("POST", &format!("{}/oauth/token", s.url), None, Some(&body));
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json()["error_description"],
        "Request body larger than the limit of 1024 bytes"
    );
}
