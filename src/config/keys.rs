//! The one table of settings: names as in Twitcher's INI, environment names, defaults and help.
//! `config check`, the README's reference and the validation in `Settings` all come from it.

/// How a value is checked and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bool,
    /// A whole number within the bounds.
    Int(u64, u64),
    /// A byte size: a whole number with an optional K, M or G suffix.
    Size,
    /// Never printed; `config check` shows whether it is set.
    Secret,
}

#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

const fn key(
    name: &'static str,
    env: &'static str,
    default: &'static str,
    kind: Kind,
    help: &'static str,
) -> Key {
    Key {
        name,
        env,
        default,
        kind,
        help,
    }
}

pub const KEYS: &[Key] = &[
    key(
        "twitcher.url",
        "TWITCHER_PUBLIC_URL",
        "",
        Kind::Text,
        "Public base URL, used in links and rewritten capabilities. Empty: derived from the bind address.",
    ),
    key(
        "twitcher.bind",
        "TWITCHER_BIND",
        "127.0.0.1:8000",
        Kind::Text,
        "HOST:PORT to listen on. The INI's [server:main] host/port, listen or bind also set it.",
    ),
    key(
        "twitcher.db",
        "TWITCHER_DB",
        "twitcher.sqlite",
        Kind::Text,
        "SQLite file holding the state. `sqlalchemy.url = sqlite:///PATH` also sets it.",
    ),
    key(
        "twitcher.workers",
        "TWITCHER_WORKERS",
        "",
        Kind::Int(1, 1024),
        "Requests handled at once, each on the thread that read it from its connection. Empty: 32 per CPU.",
    ),
    key(
        "twitcher.max_body_size",
        "TWITCHER_MAX_BODY_SIZE",
        "16M",
        Kind::Size,
        "Largest request body accepted; larger ones get 413.",
    ),
    key(
        "twitcher.max_connections",
        "TWITCHER_MAX_CONNECTIONS",
        "10000",
        Kind::Int(1, 1_000_000),
        "Most client connections open at once; further ones get 503.",
    ),
    key(
        "twitcher.idle_timeout",
        "TWITCHER_IDLE_TIMEOUT",
        "60",
        Kind::Int(1, 86_400),
        "Seconds a client socket may stay silent (idle keep-alive, slow body) before it is closed.",
    ),
    key(
        "twitcher.shutdown_timeout",
        "TWITCHER_SHUTDOWN_TIMEOUT",
        "30",
        Kind::Int(0, 3600),
        "Seconds in-flight requests get to finish after SIGTERM or SIGINT.",
    ),
    key(
        "twitcher.basicauth",
        "TWITCHER_BASICAUTH",
        "true",
        Kind::Bool,
        "Protect the admin API with HTTP Basic. false leaves it open to anyone who can reach it.",
    ),
    key(
        "twitcher.username",
        "TWITCHER_USERNAME",
        "admin",
        Kind::Text,
        "Admin user name for HTTP Basic.",
    ),
    key(
        "twitcher.password",
        "TWITCHER_PASSWORD",
        "",
        Kind::Secret,
        "Admin password. Empty: one is generated on first start, printed once, and only its hash stored.",
    ),
    key(
        "twitcher.adapter",
        "TWITCHER_ADAPTER",
        "default",
        Kind::Text,
        "Twitcher adapter. Only `default` exists here; Python adapters (Magpie) cannot be loaded.",
    ),
    key(
        "twitcher.ows_security",
        "TWITCHER_OWS_SECURITY",
        "true",
        Kind::Bool,
        "Check access to OWS services. false lets every request through.",
    ),
    key(
        "twitcher.ows_proxy",
        "TWITCHER_OWS_PROXY",
        "true",
        Kind::Bool,
        "Serve the OWS proxy.",
    ),
    key(
        "twitcher.ows_proxy_protected_path",
        "TWITCHER_OWS_PROXY_PROTECTED_PATH",
        "/ows",
        Kind::Text,
        "Path prefix of the OWS proxy and verify endpoints.",
    ),
    key(
        "twitcher.trusted_proxies",
        "TWITCHER_TRUSTED_PROXIES",
        "",
        Kind::Text,
        "Front proxies (CIDRs or addresses, comma- or space-separated) whose X-Ssl-Client-Verify and X-Forwarded-* headers are believed. Empty: nobody's.",
    ),
    key(
        "twitcher.proxy.cors_origins",
        "TWITCHER_PROXY_CORS_ORIGINS",
        "",
        Kind::Text,
        "Origins (such as https://app.example.org, comma- or space-separated, or *) whose browser apps may call the OWS proxy: twitcher answers their CORS preflights itself and marks its answers for them. Empty: no CORS.",
    ),
    key(
        "twitcher.proxy.forward_authorization",
        "TWITCHER_PROXY_FORWARD_AUTHORIZATION",
        "false",
        Kind::Bool,
        "Forward the client's `Authorization: Bearer` header to the backend. false: the token stays with twitcher.",
    ),
    key(
        "twitcher.proxy.pass_identity",
        "TWITCHER_PROXY_PASS_IDENTITY",
        "false",
        Kind::Bool,
        "Tell the backend who passed: X-Forwarded-User (the token's client id) and X-Forwarded-Scope on requests a token let through; the client's own values of these headers are dropped.",
    ),
    key(
        "twitcher.proxy.connect_timeout",
        "TWITCHER_PROXY_CONNECT_TIMEOUT",
        "5",
        Kind::Int(1, 600),
        "Seconds to connect to a backend before answering 502.",
    ),
    key(
        "twitcher.proxy.timeout",
        "TWITCHER_PROXY_TIMEOUT",
        "300",
        Kind::Int(1, 86_400),
        "Seconds a backend may take to answer, and to stay silent while sending its body, before 504 (long for synchronous WPS Execute).",
    ),
    key(
        "twitcher.proxy.rewrite_max_size",
        "TWITCHER_PROXY_REWRITE_MAX_SIZE",
        "1M",
        Kind::Size,
        "Largest XML, JSON or HTML response whose backend URLs are rewritten whole, keeping its length; larger ones are rewritten as they stream, and sent chunked. A whole one is held in memory twice while it is rewritten, for each request at once.",
    ),
    key(
        "twitcher.oauth",
        "TWITCHER_OAUTH",
        "true",
        Kind::Bool,
        "Serve the OAuth2 endpoints.",
    ),
    key(
        "twitcher.token.type",
        "TWITCHER_TOKEN_TYPE",
        "random_token",
        Kind::Text,
        "Kind of access token: random_token (opaque, kept hashed in the database), custom_token (HS256 JWT), signed_token (RS256 JWT) or keycloak_token (RS256 JWT from Keycloak, only checked).",
    ),
    key(
        "twitcher.token.expires_in",
        "TWITCHER_TOKEN_EXPIRES_IN",
        "3600",
        Kind::Int(1, 31_536_000),
        "Lifetime of the tokens this server issues, in seconds.",
    ),
    key(
        "twitcher.token.secret",
        "TWITCHER_TOKEN_SECRET",
        "",
        Kind::Secret,
        "HS256 key of custom_token, which refuses to start without it. `twitcher gensecret` prints a strong one.",
    ),
    key(
        "twitcher.token.issuer",
        "TWITCHER_TOKEN_ISSUER",
        "twitcher",
        Kind::Text,
        "`iss` of the JWTs this server issues, and the only issuer custom_token and signed_token accept.",
    ),
    key(
        "twitcher.token.keyfile",
        "TWITCHER_TOKEN_KEYFILE",
        "",
        Kind::Text,
        "PEM RSA private key that signs signed_token JWTs. `twitcher gencert` writes a key pair.",
    ),
    key(
        "twitcher.token.certfile",
        "TWITCHER_TOKEN_CERTFILE",
        "",
        Kind::Text,
        "PEM public key or X.509 certificate that checks signed_token JWTs. Empty: derived from the keyfile. Alone, without a keyfile: this server only checks tokens.",
    ),
    key(
        "twitcher.token.retired_certfiles",
        "TWITCHER_TOKEN_RETIRED_CERTFILES",
        "",
        Kind::Text,
        "Public keys (PEM files, separated by spaces or newlines) of former signed_token keys: tokens they signed are still accepted, and they stay in the JWKS. For key rotation; drop a file once its tokens have expired.",
    ),
    key(
        "twitcher.token.leeway",
        "TWITCHER_TOKEN_LEEWAY",
        "30",
        Kind::Int(0, 600),
        "Seconds of clock skew allowed when checking a JWT's exp and nbf.",
    ),
    key(
        "keycloak.url",
        "KEYCLOAK_URL",
        "",
        Kind::Text,
        "Keycloak's base URL. With keycloak.realm it locates the realm's JWKS, under /realms/R or the legacy /auth/realms/R.",
    ),
    key(
        "keycloak.realm",
        "KEYCLOAK_REALM",
        "demo",
        Kind::Text,
        "Keycloak realm whose keys sign the tokens.",
    ),
    key(
        "keycloak.token.secret",
        "KEYCLOAK_TOKEN_SECRET",
        "",
        Kind::Text,
        "The realm's RSA public key, base64 without PEM armour, as Keycloak shows it. Used instead of the JWKS from keycloak.url when it is a valid key.",
    ),
    key(
        "keycloak.jwks_url",
        "KEYCLOAK_JWKS_URL",
        "",
        Kind::Text,
        "URL of a JWKS to take the keys from; wins over keycloak.token.secret and keycloak.url.",
    ),
    key(
        "keycloak.audience",
        "KEYCLOAK_AUDIENCE",
        "account",
        Kind::Text,
        "`aud` that Keycloak tokens must carry. Empty: not checked.",
    ),
    key(
        "keycloak.issuer",
        "KEYCLOAK_ISSUER",
        "",
        Kind::Text,
        "`iss` that Keycloak tokens must carry. Empty: not checked.",
    ),
    key(
        "keycloak.jwks_min_interval",
        "KEYCLOAK_JWKS_MIN_INTERVAL",
        "10",
        Kind::Int(0, 86_400),
        "Fewest seconds between two fetches of the JWKS, which a token with an unknown key id triggers.",
    ),
];

pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_documents_every_key_with_its_environment_name() {
        let readme = include_str!("../../README.md");
        for k in KEYS {
            let row = format!("| `{}` | `{}` |", k.name, k.env);
            assert!(
                readme.contains(&row),
                "README.md lacks the row for {}",
                k.name
            );
        }
    }
}
