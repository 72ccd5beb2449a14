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
        "Request worker threads. Empty: 4 per CPU.",
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
        "twitcher.oauth",
        "TWITCHER_OAUTH",
        "true",
        Kind::Bool,
        "Serve the OAuth2 endpoints.",
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
