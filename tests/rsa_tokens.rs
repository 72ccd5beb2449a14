//! The RS256 token kinds over real HTTP: signed_token with a key pair from `twitcher
//! gencert`, and keycloak_token with a realm JWKS served by a test backend (key
//! rotation, rate limit, both URL layouts) or a bare realm key.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{Generate, PrivateKey};
use serde_json::{Value, json};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn services_with(s: &Server, t: &str) -> Resp {
    get(&format!("{}/services", s.url), Some(&format!("Bearer {t}")))
}

fn status(s: &Server, t: &str) -> u16 {
    services_with(s, t).status
}

/// A key the test made, able to mint RS256 tokens and to describe itself as a JWK.
struct TestKey {
    key: PrivateKey,
    kid: String,
}

impl TestKey {
    fn new(kid: &str) -> TestKey {
        TestKey {
            key: PrivateKey::generate(),
            kid: kid.to_string(),
        }
    }

    fn mint_as(&self, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
        let mut h = Header::new(alg);
        h.kid = kid.map(str::to_string);
        let der = self.key.to_pkcs1_der().unwrap();
        jsonwebtoken::encode(&h, claims, &EncodingKey::from_rsa_der(der.as_bytes())).unwrap()
    }

    fn mint(&self, claims: &Value) -> String {
        self.mint_as(Algorithm::RS256, Some(&self.kid), claims)
    }

    fn jwk(&self) -> Value {
        let public = self.key.to_public_key();
        json!({
            "kid": self.kid, "kty": "RSA", "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(public.n_bytes()),
            "e": URL_SAFE_NO_PAD.encode(public.e_bytes()),
        })
    }

    fn public_pem(&self) -> String {
        self.key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    }

    /// The realm key the way Keycloak's console shows it: base64 DER, no armour.
    fn bare(&self) -> String {
        let der = self.key.to_public_key().to_public_key_der().unwrap();
        STANDARD.encode(der.as_bytes())
    }
}

/// An HS256 token keyed with the RSA public key's PEM: the classic algorithm confusion.
fn confused(pem: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn alg_none(claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn tampered(t: &str) -> String {
    let mut t = t.to_string();
    let last = t.pop().unwrap();
    t.push(if last == 'A' { 'B' } else { 'A' });
    t
}

/// `gencert --dir` into a folder that does not exist yet, which it makes (0700).
fn gencert(dir: &TempDir, sub: &str) -> (String, String) {
    let d = dir.path(sub);
    let out = std::process::Command::new(BIN)
        .args(["gencert", "--dir"])
        .arg(&d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("twitcher.token.type = signed_token"),
        "{stdout}"
    );
    let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the folder gencert made");
    (
        d.join("key.pem").to_string_lossy().into_owned(),
        d.join("pubkey.pem").to_string_lossy().into_owned(),
    )
}

fn issue(s: &Server, id: &str, secret: &str) -> Resp {
    request(
        "POST",
        &format!("{}/oauth/token", s.url),
        Some(&basic(id, secret)),
        Some(b"grant_type=client_credentials"),
    )
}

#[test]
fn signed_tokens_are_rs256_and_refuse_forgeries() {
    let dir = Arc::new(TempDir::new("signed"));
    let (key, public) = gencert(&dir, "pair");
    assert_eq!(file_mode(std::path::Path::new(&key)), 0o600);
    let signed = || {
        Launch::default()
            .env("TWITCHER_TOKEN_TYPE", "signed_token")
            .env("TWITCHER_TOKEN_KEYFILE", &key)
            .env("TWITCHER_TOKEN_LEEWAY", "0")
    };
    let s = signed().env("TWITCHER_TOKEN_CERTFILE", &public).start();
    let (id, secret) = new_client(&s, "compute+register");
    let r = issue(&s, &id, &secret);
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        jsonwebtoken::decode_header(&t).unwrap().alg,
        Algorithm::RS256
    );
    assert_eq!(status(&s, &t), 200);

    let pem = std::fs::read_to_string(&public).unwrap();
    let claims =
        json!({"iss": "twitcher", "exp": now() + 600, "scope": "register", "client_id": "x"});
    let other = TestKey::new("other");
    for (what, bad) in [
        ("tampered", tampered(&t)),
        ("alg none", alg_none(&claims)),
        (
            "HS256 keyed with the public key PEM",
            confused(&pem, &claims),
        ),
        (
            "another key",
            other.mint_as(Algorithm::RS256, None, &claims),
        ),
    ] {
        let r = services_with(&s, &bad);
        assert_eq!(r.status, 401, "{what}: {}", r.text());
    }

    // Without a certfile the public key is derived from the keyfile: the same tokens
    // pass. With a certfile alone the server only checks tokens.
    let derived = signed().start();
    assert_eq!(status(&derived, &t), 200);
    let checker = Launch::default()
        .env("TWITCHER_TOKEN_TYPE", "signed_token")
        .env("TWITCHER_TOKEN_CERTFILE", &public)
        .start();
    assert_eq!(status(&checker, &t), 200);
    let (cid, csecret) = new_client(&checker, "compute");
    let r = issue(&checker, &cid, &csecret);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "unsupported_grant_type");
}

/// signed_token publishes its keys (RFC 7517) and rotates them: the new key signs, the
/// retired one still checks what it signed, and both are in the JWKS.
#[test]
fn signed_token_keys_are_published_and_rotate() {
    use rsa::pkcs8::DecodePrivateKey;
    let dir = Arc::new(TempDir::new("jwks"));
    let (key_a, public_a) = gencert(&dir, "a");
    let (key_b, _) = gencert(&dir, "b");
    let signed = |key: &str| {
        Launch::default()
            .env("TWITCHER_TOKEN_TYPE", "signed_token")
            .env("TWITCHER_TOKEN_KEYFILE", key)
    };
    let jwks = |s: &Server| {
        let r = get(&format!("{}/oauth/jwks", s.url), None);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("Cache-Control"), Some("public, max-age=300"));
        let well_known = get(&format!("{}/.well-known/jwks.json", s.url), None).json();
        assert_eq!(well_known, r.json());
        r.json()
    };
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();

    let a = signed(&key_a).start();
    let (id, secret) = new_client(&a, "compute+register");
    let token_a = issue(&a, &id, &secret).json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let set = jwks(&a);
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{set}");
    assert_eq!(keys[0]["kid"], kid(&token_a).as_str());
    assert_eq!(
        (keys[0]["kty"].as_str(), keys[0]["alg"].as_str()),
        (Some("RSA"), Some("RS256"))
    );
    // What the JWKS publishes checks the token, as a service holding only the JWKS would.
    let published = jsonwebtoken::DecodingKey::from_rsa_components(
        keys[0]["n"].as_str().unwrap(),
        keys[0]["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
    v.set_issuer(&["twitcher"]);
    let claims = jsonwebtoken::decode::<Value>(&token_a, &published, &v)
        .unwrap()
        .claims;
    assert_eq!(claims["client_id"], id.as_str());

    // Rotation: B signs, A is retired and still accepted.
    let b = signed(&key_b)
        .env("TWITCHER_TOKEN_RETIRED_CERTFILES", &public_a)
        .in_dir(a.dir.clone())
        .start();
    assert_eq!(status(&b, &token_a), 200, "a token of the retired key");
    let token_b = issue(&b, &id, &secret).json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(kid(&token_b), kid(&token_a));
    assert_eq!(status(&b, &token_b), 200);
    let kids: Vec<String> = jwks(&b)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kids,
        [kid(&token_b), kid(&token_a)],
        "the signing key first"
    );
    // A token from before key ids (no `kid`) is checked against every key.
    let pem_a = std::fs::read_to_string(&key_a).unwrap();
    let old = TestKey {
        key: PrivateKey::from_pkcs8_pem(&pem_a).unwrap(),
        kid: String::new(),
    };
    let claims =
        json!({"iss": "twitcher", "exp": now() + 600, "scope": "register", "client_id": id});
    assert_eq!(
        status(&b, &old.mint_as(Algorithm::RS256, None, &claims)),
        200
    );
    let stranger = TestKey::new("stranger");
    assert_eq!(
        status(&b, &stranger.mint_as(Algorithm::RS256, None, &claims)),
        401
    );
    assert_eq!(
        status(
            &b,
            &stranger.mint_as(Algorithm::RS256, Some(&kid(&token_a)), &claims)
        ),
        401
    );

    // Once A is dropped from the retired list, its tokens stop working.
    let only_b = signed(&key_b).in_dir(a.dir.clone()).start();
    assert_eq!(status(&only_b, &token_a), 401);
    assert_eq!(status(&only_b, &token_b), 200);

    // Another server that only has the JWKS URL checks the tokens (keycloak_token is
    // the kind that takes keys from a JWKS).
    let gateway = Launch::default()
        .env("TWITCHER_TOKEN_TYPE", "keycloak_token")
        .env("KEYCLOAK_JWKS_URL", &format!("{}/oauth/jwks", b.url))
        .env("KEYCLOAK_AUDIENCE", "")
        .env("KEYCLOAK_ISSUER", "twitcher")
        .start();
    assert_eq!(status(&gateway, &token_b), 200);
    assert_eq!(status(&gateway, &token_a), 200);
    assert_eq!(status(&gateway, &tampered(&token_b)), 401);

    // Kinds without a public key have no JWKS.
    let random = Server::start();
    let r = get(&format!("{}/oauth/jwks", random.url), None);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
}

#[test]
fn signed_tokens_expire() {
    let dir = Arc::new(TempDir::new("signedexp"));
    let (key, _) = gencert(&dir, "pair");
    let s = Launch::default()
        .env("TWITCHER_TOKEN_TYPE", "signed_token")
        .env("TWITCHER_TOKEN_KEYFILE", &key)
        .env("TWITCHER_TOKEN_LEEWAY", "0")
        .env("TWITCHER_TOKEN_EXPIRES_IN", "1")
        .start();
    let (id, secret) = new_client(&s, "register");
    let t = issue(&s, &id, &secret).json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(10, "the token to expire", || {
        (status(&s, &t) == 401).then_some(())
    });
}

#[test]
fn signed_token_key_problems_stop_the_start() {
    let dir = Arc::new(TempDir::new("signedbad"));
    let (key, _) = gencert(&dir, "a");
    let (_, other_public) = gencert(&dir, "b");
    let fail = |l: Launch, key_name: &str| {
        let (status, log) = match l.env("TWITCHER_TOKEN_TYPE", "signed_token").try_start() {
            Err(e) => e,
            Ok(_) => panic!("started despite a bad {key_name}"),
        };
        assert_eq!(status.code(), Some(2), "{log}");
        assert!(log.contains(key_name), "{log}");
    };
    fail(
        Launch::default()
            .env("TWITCHER_TOKEN_KEYFILE", &key)
            .env("TWITCHER_TOKEN_CERTFILE", &other_public),
        "twitcher.token.certfile",
    );
    fail(
        Launch::default().env("TWITCHER_TOKEN_KEYFILE", &other_public),
        "twitcher.token.keyfile",
    );
    fail(Launch::default(), "twitcher.token.keyfile");
    // A start that fails on its settings creates no database and no admin password.
    let empty = Arc::new(TempDir::new("signedbad-nothing"));
    let (status, log) = match Launch::default()
        .in_dir(empty.clone())
        .generated_password()
        .env("TWITCHER_TOKEN_TYPE", "signed_token")
        .env("TWITCHER_TOKEN_KEYFILE", "/nonexistent/key.pem")
        .try_start()
    {
        Err(e) => e,
        Ok(_) => panic!("started without a key"),
    };
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(!log.contains("password"), "{log}");
    assert!(!empty.path("twitcher.sqlite").exists());
    fail(
        Launch::default().env("TWITCHER_TOKEN_KEYFILE", &key).env(
            "TWITCHER_TOKEN_RETIRED_CERTFILES",
            &format!("{other_public} /nonexistent/old.pem"),
        ),
        "twitcher.token.retired_certfiles",
    );
    // `config check` loads the keys too.
    let out = std::process::Command::new(BIN)
        .args(["config", "check"])
        .env_remove("TWITCHER_CONFIG")
        .env("TWITCHER_TOKEN_TYPE", "signed_token")
        .env("TWITCHER_TOKEN_KEYFILE", &other_public)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: twitcher.token.keyfile"));
    // gencert never overwrites a key.
    let out = std::process::Command::new(BIN)
        .args(["gencert", "--dir"])
        .arg(dir.path("a"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!std::fs::read_to_string(&key).unwrap().is_empty());
}

/// A Keycloak stand-in: serves the JWKS at one path and counts the fetches.
struct Realm {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Realm {
    fn start(path: &'static str) -> Realm {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let keys = Arc::new(Mutex::new(Vec::new()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (keys.clone(), fetches.clone());
        std::thread::spawn(move || {
            for rq in server.incoming_requests() {
                let resp = if rq.url() == path {
                    f.fetch_add(1, Ordering::SeqCst);
                    let body = json!({"keys": *k.lock().unwrap()}).to_string();
                    tiny_http::Response::from_string(body).with_status_code(200)
                } else {
                    tiny_http::Response::from_string("not here").with_status_code(404)
                };
                let _ = rq.respond(resp);
            }
        });
        Realm {
            url: format!("http://127.0.0.1:{port}"),
            keys,
            fetches,
        }
    }

    fn publish(&self, keys: &[&TestKey]) {
        *self.keys.lock().unwrap() = keys.iter().map(|k| k.jwk()).collect();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

const CERTS: &str = "/realms/demo/protocol/openid-connect/certs";

fn keycloak(realm: &Realm) -> Launch {
    Launch::default()
        .env("TWITCHER_TOKEN_TYPE", "keycloak_token")
        .env("KEYCLOAK_URL", &realm.url)
        .env("TWITCHER_TOKEN_LEEWAY", "0")
}

fn kc_claims(scope: &str) -> Value {
    json!({"iss": "http://kc/realms/demo", "aud": "account", "azp": "demo-client",
           "exp": now() + 600, "jti": "j-1", "scope": scope})
}

#[test]
fn keycloak_tokens_from_a_jwks_are_checked_like_every_other_kind() {
    let realm = Realm::start(CERTS);
    let k1 = TestKey::new("k1");
    realm.publish(&[&k1]);
    let s = keycloak(&realm)
        .env("KEYCLOAK_ISSUER", "http://kc/realms/demo")
        .env("KEYCLOAK_JWKS_MIN_INTERVAL", "0")
        .start();
    assert_eq!(realm.fetches(), 0, "fetched on first use, not at start");
    assert_eq!(status(&s, &k1.mint(&kc_claims("profile register"))), 200);
    assert_eq!(realm.fetches(), 1);
    assert_eq!(status(&s, &k1.mint(&kc_claims("profile compute"))), 403);
    assert_eq!(realm.fetches(), 1, "known keys are cached");

    let mut claims = kc_claims("register");
    claims["aud"] = json!("someone-else");
    let wrong_aud = k1.mint(&claims);
    claims.as_object_mut().unwrap().remove("aud");
    let no_aud = k1.mint(&claims);
    let mut claims = kc_claims("register");
    claims["iss"] = json!("http://evil/realms/demo");
    let wrong_iss = k1.mint(&claims);
    let mut claims = kc_claims("register");
    claims["exp"] = json!(now() - 5);
    let expired = k1.mint(&claims);
    let good = kc_claims("register");
    // Each is refused, and says why.
    for (what, bad, reason) in [
        ("wrong aud", wrong_aud, "wrong audience"),
        ("no aud", no_aud, "missing claim"),
        ("wrong iss", wrong_iss, "wrong issuer"),
        ("expired", expired, "expired"),
        ("tampered", tampered(&k1.mint(&good)), "bad signature"),
        ("alg none", alg_none(&good), "malformed"),
        (
            "HS256 keyed with the public key PEM",
            confused(&k1.public_pem(), &good),
            "algorithm not allowed",
        ),
        (
            "RS512 under a key published for RS256",
            k1.mint_as(Algorithm::RS512, Some("k1"), &good),
            "algorithm not allowed for this key",
        ),
    ] {
        let r = services_with(&s, &bad);
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        let description = format!("the access token was refused: {reason}");
        assert!(r.text().contains(&description), "{what}: {}", r.text());
    }

    // Keycloak rotates: the new kid is fetched and accepted, the old one is gone.
    let k2 = TestKey::new("k2");
    realm.publish(&[&k2]);
    let before = realm.fetches();
    assert_eq!(status(&s, &k2.mint(&good)), 200, "rotated key");
    assert_eq!(realm.fetches(), before + 1);

    // Tokens cannot be issued here.
    let (id, secret) = new_client(&s, "compute");
    let r = issue(&s, &id, &secret);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "unsupported_grant_type");
}

#[test]
fn unknown_key_ids_do_not_flood_keycloak() {
    let realm = Realm::start(CERTS);
    let k1 = TestKey::new("k1");
    realm.publish(&[&k1]);
    let s = keycloak(&realm)
        .env("KEYCLOAK_JWKS_MIN_INTERVAL", "3600")
        .start();
    assert_eq!(status(&s, &k1.mint(&kc_claims("register"))), 200);
    assert_eq!(realm.fetches(), 1);
    for i in 0..5 {
        let t = k1.mint_as(
            Algorithm::RS256,
            Some(&format!("made-up-{i}")),
            &kc_claims("register"),
        );
        assert_eq!(status(&s, &t), 401);
    }
    assert_eq!(
        realm.fetches(),
        1,
        "no refetch within keycloak.jwks_min_interval"
    );
}

#[test]
fn keycloak_legacy_auth_layout_and_explicit_jwks_url() {
    let legacy = Realm::start("/auth/realms/demo/protocol/openid-connect/certs");
    let k = TestKey::new("k");
    legacy.publish(&[&k]);
    let s = keycloak(&legacy).start();
    assert_eq!(status(&s, &k.mint(&kc_claims("register"))), 200);

    let custom = Realm::start("/jwks.json");
    custom.publish(&[&k]);
    // A JWKS behind credentials: they are used, and never shown.
    let with_password = custom
        .url
        .replace("http://", "http://jwksuser:JwksPassw0rd@");
    let s = Launch::default()
        .env("TWITCHER_TOKEN_TYPE", "keycloak_token")
        .env("KEYCLOAK_JWKS_URL", &format!("{with_password}/jwks.json"))
        .env("KEYCLOAK_AUDIENCE", "")
        .start();
    let mut claims = kc_claims("register");
    claims.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        status(&s, &k.mint(&claims)),
        200,
        "aud not checked when empty"
    );
    let settings = get(&format!("{}/settings", s.url), Some(&admin_auth())).text();
    assert!(settings.contains("jwksuser:***@"), "{settings}");
    let log = s.wait_log("signing key(s) from");
    for shown in [&settings, &log] {
        assert!(!shown.contains("JwksPassw0rd"), "{shown}");
    }
}

#[test]
fn keycloak_bare_realm_key_as_in_the_original() {
    let k = TestKey::new("k");
    let s = Launch::default()
        .env("TWITCHER_TOKEN_TYPE", "keycloak_token")
        .env("KEYCLOAK_TOKEN_SECRET", &k.bare())
        .start();
    // Keycloak's tokens name a kid; with one fixed key it does not matter.
    assert_eq!(status(&s, &k.mint(&kc_claims("register"))), 200);
    assert_eq!(
        status(
            &s,
            &k.mint_as(Algorithm::RS256, None, &kc_claims("register"))
        ),
        200
    );
    assert_eq!(
        status(&s, &confused(&k.public_pem(), &kc_claims("register"))),
        401
    );
    let other = TestKey::new("k");
    assert_eq!(status(&s, &other.mint(&kc_claims("register"))), 401);

    // Revocation works on Keycloak's jti too.
    let t = k.mint(&kc_claims("register"));
    let r = request(
        "POST",
        &format!("{}/oauth/revoke", s.url),
        Some(&admin_auth()),
        Some(format!("token={t}").as_bytes()),
    );
    assert_eq!(r.status, 200);
    assert_eq!(status(&s, &t), 401);

    // An unusable bare key without any other source stops the start.
    let (code, log) = match Launch::default()
        .env("TWITCHER_TOKEN_TYPE", "keycloak_token")
        .env("KEYCLOAK_TOKEN_SECRET", "public_key_from_keycloak")
        .try_start()
    {
        Err(e) => e,
        Ok(_) => panic!("started with an unusable key"),
    };
    assert_eq!(code.code(), Some(2));
    assert!(log.contains("keycloak.token.secret"), "{log}");
}

#[test]
fn an_unusable_bare_key_falls_back_to_the_realm_jwks() {
    let realm = Realm::start(CERTS);
    let k = TestKey::new("k");
    realm.publish(&[&k]);
    let s = keycloak(&realm)
        .env("KEYCLOAK_TOKEN_SECRET", "public_key_from_keycloak")
        .start();
    assert!(s.log().contains("keycloak.token.secret"), "{}", s.log());
    assert_eq!(status(&s, &k.mint(&kc_claims("register"))), 200);
}
