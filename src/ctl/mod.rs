//! `twitcherctl`: the commands of Python Twitcher's admin CLI and a few more, run against
//! a server through [`crate::client`]. One result goes to stdout as JSON (or a table);
//! errors go to stderr, and the exit code tells their kind:
//! 0 done, 1 refused by the server, 2 usage, 3 server unreachable or silent.

pub mod names;
mod output;
mod prompt;

use std::ffi::OsString;
use std::fmt;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::twitcherctl::{Cmd, Endpoint, Globals, Invocation, PROGRAM, parse};
use crate::client::{self, Client, Credentials, NewService, Settings, TokenEndpoint, TokenRequest};

/// Why a command failed; each kind has its exit code.
enum Failure {
    /// The invocation cannot work as given: exit 2.
    Usage(String),
    /// The server has no such thing: exit 1.
    Missing(String),
    Client(client::Error),
}

impl Failure {
    fn exit_code(&self) -> i32 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Missing(_) => 1,
            Failure::Client(e) => match e {
                client::Error::Refused { .. } | client::Error::BadResponse { .. } => 1,
                client::Error::Unreachable { .. }
                | client::Error::Timeout { .. }
                | client::Error::Tls { .. } => 3,
                client::Error::InvalidUrl(_) => 2,
            },
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) | Failure::Missing(m) => f.write_str(m),
            Failure::Client(e @ client::Error::Tls { reason, .. }) => {
                let hint = if reason.contains("certificate") {
                    " (-k/--insecure skips the certificate check)"
                } else if reason.contains("corrupt message") {
                    " (the server may not speak TLS there: http://?)"
                } else {
                    ""
                };
                write!(f, "{e}{hint}")
            }
            // A TLS server closes on a plain-HTTP request without an answer.
            Failure::Client(e @ client::Error::Unreachable { url, reason })
                if url.starts_with("http://") && reason.contains("disconnected") =>
            {
                write!(f, "{e} (the server may want https://)")
            }
            Failure::Client(e) => write!(f, "{e}"),
        }
    }
}

impl From<client::Error> for Failure {
    fn from(e: client::Error) -> Failure {
        Failure::Client(e)
    }
}

pub fn run(args: Vec<OsString>) -> i32 {
    let env = |k: &str| std::env::var(k).ok();
    let (globals, cmd) = match parse(args, &env) {
        Ok(Invocation::Run(r)) => (r.globals, r.cmd),
        Ok(Invocation::Help(c)) => {
            print!("{}", PROGRAM.help(c));
            return 0;
        }
        Ok(Invocation::Version) => {
            println!("twitcherctl {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Err(e) => {
            eprint!("{}", PROGRAM.usage_error(&e));
            return 2;
        }
    };
    match execute(&globals, cmd) {
        Ok(value) => {
            print!("{}", output::render(&value, globals.output));
            0
        }
        Err(f) => {
            eprintln!("error: {}", output::printable(&f.to_string()));
            f.exit_code()
        }
    }
}

/// A value given, or asked for on the terminal. `what` names it and `how` says how to
/// give it, for the error when it can be neither.
fn given_or_asked(
    value: Option<String>,
    prompt: &str,
    secret: bool,
    (what, how): (&str, &str),
) -> Result<String, String> {
    if let Some(v) = value {
        return Ok(v);
    }
    if !prompt::stdin_is_tty() {
        return Err(format!(
            "no {what}: {how} (stdin is not a terminal to ask on)"
        ));
    }
    let answer = if secret {
        prompt::ask_secret(prompt)
    } else {
        prompt::ask(prompt)
    };
    answer.map_err(|e| format!("no {what}: {e}"))
}

/// The admin's credentials as given, else asked for on the terminal; shared with the TUI.
pub fn admin_credentials(
    username: Option<String>,
    password: Option<String>,
) -> Result<Credentials, String> {
    let username = given_or_asked(
        username,
        "Username: ",
        false,
        ("user name", "give -u/--username or set TWITCHER_USERNAME"),
    )?;
    let password = given_or_asked(
        password,
        "Password: ",
        true,
        ("password", "give -p/--password or set TWITCHER_PASSWORD"),
    )?;
    Ok(Credentials { username, password })
}

fn admin(g: &Globals) -> Result<Credentials, Failure> {
    admin_credentials(g.username.clone(), g.password.clone()).map_err(Failure::Usage)
}

/// A token argument; `-` reads it from stdin, so it need not show in the process list.
fn token_arg(token: String) -> Result<String, Failure> {
    if token != "-" {
        return Ok(token);
    }
    let read = if prompt::stdin_is_tty() {
        prompt::ask_secret("Token: ")
    } else {
        prompt::read_line()
    };
    match read.map(|t| t.trim().to_string()) {
        Ok(t) if !t.is_empty() => Ok(t),
        Ok(_) => Err(Failure::Usage("no token on stdin".to_string())),
        Err(e) => Err(Failure::Usage(format!("no token on stdin: {e}"))),
    }
}

fn client(g: &Globals, credentials: Option<Credentials>) -> Result<Client, Failure> {
    let c = Client::new(Settings {
        base_url: g.serverurl.clone(),
        credentials,
        insecure: g.insecure,
        timeout: g.timeout,
    })?;
    Ok(if g.debug {
        c.with_trace(|t| {
            let outcome = match t.outcome {
                Ok(status) => status.to_string(),
                Err(e) => e.to_string(),
            };
            crate::log::line(
                "DEBUG",
                &format!(
                    "{} {} -> {outcome} ({} ms)",
                    t.method,
                    t.url,
                    t.elapsed.as_millis()
                ),
            );
        })
    } else {
        c
    })
}

fn to_json(v: impl Serialize) -> Value {
    serde_json::to_value(v).expect("results serialise")
}

/// The credentials a command signs in with: none for gentoken and status, a client's
/// for revoke and introspect when given, the admin's otherwise.
fn credentials(g: &Globals, cmd: &Cmd) -> Result<Option<Credentials>, Failure> {
    match cmd {
        Cmd::GenToken { .. } | Cmd::Status => Ok(None),
        Cmd::Revoke(_, Some(client)) | Cmd::Introspect(_, Some(client)) => Ok(Some(client.clone())),
        _ => admin(g).map(Some),
    }
}

fn execute(g: &Globals, cmd: Cmd) -> Result<Value, Failure> {
    let credentials = credentials(g, &cmd)?;
    let c = client(g, credentials)?;
    Ok(match cmd {
        Cmd::Add {
            name,
            redirect_uri,
            scopes,
        } => to_json(c.add_client(&name, &redirect_uri, &scopes)?),
        Cmd::GenToken {
            client_id,
            client_secret,
            scopes,
            endpoint,
        } => {
            let client_id = given_or_asked(
                client_id,
                "Client ID: ",
                false,
                ("client id", "give -i/--client-id or set TWITCHER_CLIENT_ID"),
            )
            .map_err(Failure::Usage)?;
            let client_secret = given_or_asked(
                client_secret,
                "Client Secret: ",
                true,
                (
                    "client secret",
                    "give -s/--client-secret or set TWITCHER_CLIENT_SECRET",
                ),
            )
            .map_err(Failure::Usage)?;
            let endpoint = match endpoint {
                Endpoint::Twitcher => TokenEndpoint::Twitcher,
                Endpoint::Keycloak(realm) => TokenEndpoint::Keycloak { realm },
                Endpoint::Url(u) => TokenEndpoint::Url(u),
            };
            to_json(c.fetch_token(&TokenRequest {
                endpoint,
                client_id,
                client_secret,
                scopes,
            })?)
        }
        Cmd::List => to_json(c.list_services()?),
        Cmd::Clear => to_json(c.clear_services()?),
        Cmd::Register {
            url,
            name,
            kind,
            purl,
            auth,
            verify,
        } => {
            for doubt in crate::registry::doubts(&kind, &auth) {
                eprintln!("warning: --{doubt}");
            }
            let service = NewService {
                name: name.clone().unwrap_or_default(),
                url,
                kind,
                purl,
                auth,
                verify,
            };
            if let Some(given) = name {
                let stored = c.register_service(&service)?;
                // Names are cleaned and cut to 25 characters, as Twitcher does: two
                // long names can end up one, and the second replaces the first.
                if stored.name != given {
                    eprintln!(
                        "warning: the server stored the name `{}` as `{}`",
                        output::printable(&given),
                        output::printable(&stored.name)
                    );
                }
                return Ok(to_json(stored));
            }
            match names::register_generated(&c, service)? {
                Some(s) => to_json(s),
                None => {
                    return Err(Failure::Usage(
                        "every generated name is taken: give --name".to_string(),
                    ));
                }
            }
        }
        Cmd::Unregister(name) => {
            if !c.unregister_service(&name)? {
                return Err(Failure::Missing(format!("no service named {name}")));
            }
            json!(true)
        }
        Cmd::Get(name) => to_json(c.get_service(&name)?),
        Cmd::Clients => to_json(c.list_clients()?),
        Cmd::RemoveClient(id) => {
            if !c.remove_client(&id)? {
                return Err(Failure::Missing(format!("no client with id {id}")));
            }
            json!(true)
        }
        Cmd::Revoke(token, _) => {
            c.revoke(&token_arg(token)?)?;
            json!(true)
        }
        Cmd::Introspect(token, _) => to_json(c.introspect(&token_arg(token)?)?),
        Cmd::Status => {
            let start = Instant::now();
            let info = c.info()?;
            let latency = start.elapsed();
            let versions = c.versions()?;
            json!({
                "url": c.base_url(),
                "reachable": true,
                "package": info.package,
                "version": info.version,
                "versions": versions,
                "latency_ms": (latency.as_secs_f64() * 1e4).round() / 10.0,
            })
        }
    })
}
