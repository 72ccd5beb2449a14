//! The `twitcherctl` program's flag table, flag-compatible with Python Twitcher 0.11's
//! argparse one, and its parse into plain commands.

use crate::client::Credentials;
use std::ffi::OsString;
use std::time::Duration;

use super::{Arity, Command, Flag, Matches, Program, UsageError, usage_err};
use crate::config::{parse_bool, valid_http_url};

pub const DEFAULT_URL: &str = "http://localhost:8000";
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_REALM: &str = "demo";

pub const SERVERURL: Flag = Flag {
    short: Some('s'),
    long: "serverurl",
    arity: Arity::One("URL"),
    env: Some("TWITCHER_URL"),
    help: "URL on which the twitcher server is listening. Default: http://localhost:8000.",
};
pub const USERNAME: Flag = Flag {
    short: Some('u'),
    long: "username",
    arity: Arity::One("USERNAME"),
    env: Some("TWITCHER_USERNAME"),
    help: "Admin user name; asked for when missing and stdin is a terminal.",
};
pub const INSECURE: Flag = Flag {
    short: Some('k'),
    long: "insecure",
    arity: Arity::Switch,
    env: None,
    help: "Do not verify the server's TLS certificate.",
};
pub const PASSWORD: Flag = Flag {
    short: Some('p'),
    long: "password",
    arity: Arity::One("PASSWORD"),
    env: Some("TWITCHER_PASSWORD"),
    help: "Admin password; asked for, without echo, when missing and stdin is a terminal.",
};

static GLOBALS: &[Flag] = &[
    Flag {
        short: Some('h'),
        long: "help",
        arity: Arity::Switch,
        env: None,
        help: "Print help, for the program or the command it follows.",
    },
    Flag {
        short: None,
        long: "debug",
        arity: Arity::Switch,
        env: None,
        help: "Log each request's method, URL, status and time to stderr, secrets masked.",
    },
    SERVERURL,
    USERNAME,
    PASSWORD,
    INSECURE,
    Flag {
        short: Some('o'),
        long: "output",
        arity: Arity::One("json|table"),
        env: None,
        help: "json (the default): one JSON document on stdout; table: aligned columns for people.",
    },
    Flag {
        short: None,
        long: "timeout",
        arity: Arity::One("SECONDS"),
        env: None,
        help: "Give up on a request that has no answer after this long, and exit 3. Default: 10.",
    },
    Flag {
        short: Some('V'),
        long: "version",
        arity: Arity::Switch,
        env: None,
        help: "Print the version.",
    },
];

static ADD_FLAGS: &[Flag] = &[
    Flag {
        short: Some('n'),
        long: "name",
        arity: Arity::One("NAME"),
        env: None,
        help: "Client application name.",
    },
    Flag {
        short: Some('r'),
        long: "redirect-uri",
        arity: Arity::One("URI"),
        env: None,
        help: "Client application redirect URI.",
    },
    Flag {
        short: Some('S'),
        long: "scope",
        arity: Arity::Many("SCOPE"),
        env: None,
        help: "Scopes the client may ask for: compute, register. Default: compute.",
    },
];

/// `revoke` and `introspect` may sign in as the token's own client (RFC 7009 §2.1,
/// RFC 7662 §2.1) rather than as the admin. Long names only: `-s` stays the
/// server's URL wherever it is written, and the environment's client (which
/// `gentoken` reads) serves only when no admin is named (see `token_client`).
static TOKEN_CLIENT_FLAGS: &[Flag] = &[
    Flag {
        short: None,
        long: "client-id",
        arity: Arity::One("ID"),
        env: None,
        help: "Sign in as this OAuth client (with --client-secret) instead of the admin. Without either, and with no admin user name given, TWITCHER_CLIENT_ID and TWITCHER_CLIENT_SECRET serve.",
    },
    Flag {
        short: None,
        long: "client-secret",
        arity: Arity::One("SECRET"),
        env: None,
        help: "The client's secret, with --client-id.",
    },
];

static GENTOKEN_FLAGS: &[Flag] = &[
    Flag {
        short: Some('i'),
        long: "client-id",
        arity: Arity::One("ID"),
        env: Some("TWITCHER_CLIENT_ID"),
        help: "OAuth client id; asked for when missing and stdin is a terminal.",
    },
    Flag {
        short: Some('s'),
        long: "client-secret",
        arity: Arity::One("SECRET"),
        env: Some("TWITCHER_CLIENT_SECRET"),
        help: "OAuth client secret; asked for, without echo, when missing and stdin is a terminal.",
    },
    Flag {
        short: Some('S'),
        long: "scope",
        arity: Arity::Many("SCOPE"),
        env: None,
        help: "OAuth scope: compute or register, as several words or one quoted. Default: compute.",
    },
    Flag {
        short: Some('K'),
        long: "keycloak",
        arity: Arity::Switch,
        env: None,
        help: "Ask the Keycloak token endpoint under the server URL: /auth/realms/REALM/protocol/openid-connect/token.",
    },
    Flag {
        short: None,
        long: "realm",
        arity: Arity::One("REALM"),
        env: None,
        help: "Keycloak realm, with --keycloak. Default: demo.",
    },
    Flag {
        short: None,
        long: "token-url",
        arity: Arity::One("URL"),
        env: None,
        help: "Ask this token endpoint (any OAuth2 server) instead of the server's /oauth/token.",
    },
];

static REGISTER_FLAGS: &[Flag] = &[
    Flag {
        short: None,
        long: "name",
        arity: Arity::One("NAME"),
        env: None,
        help: "Service name. Without it, an unused adjective_bird name is generated.",
    },
    Flag {
        short: None,
        long: "type",
        arity: Arity::One("TYPE"),
        env: None,
        help: "Service type (wps, wms, ...). Default: wps.",
    },
    Flag {
        short: None,
        long: "purl",
        arity: Arity::One("PURL"),
        env: None,
        help: "Public URL of the service, used in rewritten documents. Default: none.",
    },
    Flag {
        short: None,
        long: "auth",
        arity: Arity::One("AUTH"),
        env: None,
        help: "Access control: token, cert (either in any case), or public; any other value makes the service public too, as in Twitcher. Default: token.",
    },
    Flag {
        short: None,
        long: "verify",
        arity: Arity::One("VERIFY"),
        env: None,
        help: "Verify the service's TLS certificate: true or false. Default: true.",
    },
];

static COMMANDS: &[Command] = &[
    Command {
        name: "add",
        args: "",
        about: "Add an OAuth2 client application; prints its client_id and client_secret.",
        flags: ADD_FLAGS,
        positionals: (0, 0),
    },
    Command {
        name: "gentoken",
        args: "",
        about: "Get an OAuth2 access token with the client-credentials grant.",
        flags: GENTOKEN_FLAGS,
        positionals: (0, 0),
    },
    Command {
        name: "list",
        args: "",
        about: "List the OWS services registered for the OWS proxy.",
        flags: &[],
        positionals: (0, 0),
    },
    Command {
        name: "clear",
        args: "",
        about: "Remove every OWS service from the registry.",
        flags: &[],
        positionals: (0, 0),
    },
    Command {
        name: "register",
        args: "URL",
        about: "Add an OWS service to the registry, or update the one of that name.",
        flags: REGISTER_FLAGS,
        positionals: (1, 1),
    },
    Command {
        name: "unregister",
        args: "NAME",
        about: "Remove an OWS service from the registry; exit 1 when there is none of that name.",
        flags: &[],
        positionals: (1, 1),
    },
    Command {
        name: "get",
        args: "NAME",
        about: "Show one registered OWS service.",
        flags: &[],
        positionals: (1, 1),
    },
    Command {
        name: "clients",
        args: "",
        about: "List the OAuth2 client applications, without their secrets.",
        flags: &[],
        positionals: (0, 0),
    },
    Command {
        name: "remove-client",
        args: "ID",
        about: "Remove a client application and every token it holds.",
        flags: &[],
        positionals: (1, 1),
    },
    Command {
        name: "revoke",
        args: "TOKEN",
        about: "Revoke an access token (RFC 7009), signed in as the admin or, with --client-id/--client-secret, as the token's client; TOKEN - reads it from stdin.",
        flags: TOKEN_CLIENT_FLAGS,
        positionals: (1, 1),
    },
    Command {
        name: "introspect",
        args: "TOKEN",
        about: "Show whether an access token is active and what it grants (RFC 7662), signed in as the admin or, with --client-id/--client-secret, as a client; TOKEN - reads it from stdin.",
        flags: TOKEN_CLIENT_FLAGS,
        positionals: (1, 1),
    },
    Command {
        name: "status",
        args: "",
        about: "Check that the server answers: its version and the round trip time.",
        flags: &[],
        positionals: (0, 0),
    },
    Command {
        name: "help",
        args: "[COMMAND]",
        about: "Show help for the program or a command.",
        flags: &[],
        positionals: (0, 1),
    },
];

pub static PROGRAM: Program = Program {
    name: "twitcherctl",
    about: "control a twitcher server from the command line",
    description: "twitcherctl registers OWS services with a twitcher server, adds OAuth2 client \
        applications and gets access tokens for them, over the server's HTTP API. It takes the \
        commands and flags of Python Twitcher 0.11's twitcherctl. Every command prints one JSON \
        document on stdout (or a table with --output table) and reports errors on stderr. It is \
        the twitcher binary run under the name twitcherctl, or as twitcher ctl. Global options go \
        before or after the command; where a command has a flag of the same letter (gentoken -s), \
        after the command the command's own wins.",
    globals: GLOBALS,
    commands: COMMANDS,
    man_sections: &[
        (
            "EXIT STATUS",
            ".TP\n0\nSuccess.\n.TP\n1\nThe server refused the request (wrong password, unknown \
             name, invalid value) or gave an answer that is not the API's; its message goes to \
             stderr.\n.TP\n2\nA usage error: an unknown command or flag, a missing argument, an \
             invalid value, or credentials that are missing while stdin is not a terminal.\n.TP\n3\n\
             The server cannot be reached, or gave no answer within \\fB\\-\\-timeout\\fR.",
        ),
        (
            "EXAMPLES",
            "Register a WPS service under a generated name, add a client application, get it a \
             token and call the OWS proxy with it:\n.PP\n.nf\nexport TWITCHER_URL=http://localhost:8000 \
             TWITCHER_USERNAME=admin TWITCHER_PASSWORD=...\nname=$(twitcherctl register \
             http://127.0.0.1:5000/wps | jq \\-r .name)\nclient=$(twitcherctl add \\-\\-name demo_app)\n\
             token=$(twitcherctl gentoken \\-i \"$(jq \\-r .client_id <<<\"$client\")\" \\e\n    \
             \\-s \"$(jq \\-r .client_secret <<<\"$client\")\" \\-\\-scope compute | jq \\-r .access_token)\n\
             curl \\-H \"Authorization: Bearer $token\" \\e\n    \
             \"$TWITCHER_URL/ows/proxy/$name?service=WPS&version=1.0.0&request=Execute&identifier=hello&DataInputs=name=tux\"\n.fi",
        ),
        ("SEE ALSO", "twitcher(1), jq(1)"),
    ],
    abbreviations: true,
};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Table,
}

/// Which server to talk to and as whom: `-s/-u/-p/-k` with their environment
/// fallbacks, shared by twitcherctl and `twitcher tui`.
#[derive(Debug)]
pub struct Connection {
    pub serverurl: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub insecure: bool,
}

/// The connection flags from `m`, else from the environment, else the defaults.
pub fn connection(
    m: &Matches,
    env: &dyn Fn(&str) -> Option<String>,
    cmd: &'static Command,
) -> Result<Connection, UsageError> {
    let serverurl = value(m, &SERVERURL, env).unwrap_or_else(|| DEFAULT_URL.to_string());
    Ok(Connection {
        serverurl: http_url(&serverurl, "--serverurl", Some(cmd))?,
        username: value(m, &USERNAME, env),
        password: value(m, &PASSWORD, env),
        insecure: m.switch(INSECURE.long),
    })
}

/// The global options, with the environment's values already applied.
#[derive(Debug)]
pub struct Globals {
    pub serverurl: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub insecure: bool,
    pub debug: bool,
    pub output: Output,
    pub timeout: Duration,
}

/// Which token endpoint `gentoken` asks.
#[derive(Debug, PartialEq, Eq)]
pub enum Endpoint {
    Twitcher,
    Keycloak(String),
    Url(String),
}

#[derive(Debug)]
pub enum Cmd {
    Add {
        name: String,
        redirect_uri: String,
        scopes: Vec<String>,
    },
    GenToken {
        client_id: Option<String>,
        client_secret: Option<String>,
        scopes: Vec<String>,
        endpoint: Endpoint,
    },
    List,
    Clear,
    Register {
        url: String,
        name: Option<String>,
        kind: String,
        purl: String,
        auth: String,
        verify: bool,
    },
    Unregister(String),
    Get(String),
    Clients,
    RemoveClient(String),
    Revoke(String, Option<Credentials>),
    Introspect(String, Option<Credentials>),
    Status,
}

/// A command to run with its global options.
#[derive(Debug)]
pub struct Run {
    pub globals: Globals,
    pub cmd: Cmd,
}

/// A parsed command line: what to print, or what to do.
#[derive(Debug)]
pub enum Invocation {
    Help(Option<&'static Command>),
    Version,
    Run(Box<Run>),
}

/// A flag's value from the command line, else from its environment variable; empty
/// values count as missing.
fn value(m: &Matches, flag: &Flag, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    m.value(flag.long)
        .map(str::to_string)
        .or_else(|| flag.env.and_then(env))
        .filter(|v| !v.is_empty())
}

fn flag(table: &'static [Flag], long: &str) -> &'static Flag {
    table
        .iter()
        .find(|f| f.long == long)
        .expect("flag in table")
}

/// Scopes given as several words (`-S compute register`) or in one (`-S "compute register"`).
fn scopes(m: &Matches) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in m.values("scope").unwrap_or_default() {
        for s in w.split_whitespace() {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
    }
    out
}

fn http_url(value: &str, what: &str, cmd: Option<&'static Command>) -> Result<String, UsageError> {
    if valid_http_url(value) {
        Ok(value.to_string())
    } else {
        Err(usage_err(
            format!(
                "{what} `{}` is not an http:// or https:// URL with a host and a valid port",
                crate::client::mask_url(value)
            ),
            cmd,
        ))
    }
}

/// The client that `revoke` or `introspect` signs in as, if not the admin: the flags'
/// first; else the environment's, but only when no admin user name is given (by
/// flag or `TWITCHER_USERNAME`), since `gentoken` reads the same variables.
fn token_client(
    m: &Matches,
    env: &dyn Fn(&str) -> Option<String>,
    cmd: &'static Command,
) -> Result<Option<Credentials>, UsageError> {
    let given = |long: &str| m.value(long).filter(|v| !v.is_empty()).map(str::to_string);
    match (given("client-id"), given("client-secret")) {
        (Some(username), Some(password)) => return Ok(Some(Credentials { username, password })),
        (None, None) => {}
        _ => {
            return Err(usage_err(
                "--client-id and --client-secret go together",
                Some(cmd),
            ));
        }
    }
    if value(m, &USERNAME, env).is_some() {
        return Ok(None);
    }
    let from_env = |k: &str| env(k).filter(|v| !v.is_empty());
    Ok(
        match (
            from_env("TWITCHER_CLIENT_ID"),
            from_env("TWITCHER_CLIENT_SECRET"),
        ) {
            (Some(username), Some(password)) => Some(Credentials { username, password }),
            _ => None,
        },
    )
}

fn globals(
    m: &Matches,
    env: &dyn Fn(&str) -> Option<String>,
    cmd: &'static Command,
) -> Result<Globals, UsageError> {
    let conn = connection(m, env, cmd)?;
    let output = match m.value("output").unwrap_or("json") {
        "json" => Output::Json,
        "table" => Output::Table,
        other => {
            return Err(usage_err(
                format!("--output `{other}`: expected json or table"),
                Some(cmd),
            ));
        }
    };
    let timeout = match m.value("timeout") {
        None => Duration::from_secs(DEFAULT_TIMEOUT_SECS),
        Some(t) => match t.trim().parse::<f64>() {
            Ok(s) if (0.001..=86_400.0).contains(&s) => Duration::from_secs_f64(s),
            _ => {
                return Err(usage_err(
                    format!("--timeout `{t}`: expected seconds, from 0.001 to 86400"),
                    Some(cmd),
                ));
            }
        },
    };
    Ok(Globals {
        serverurl: conn.serverurl,
        username: conn.username,
        password: conn.password,
        insecure: conn.insecure,
        debug: m.switch("debug"),
        output,
        timeout,
    })
}

fn endpoint(m: &Matches, cmd: &'static Command) -> Result<Endpoint, UsageError> {
    let keycloak = m.switch("keycloak");
    match (m.value("realm"), m.value("token-url")) {
        (Some(_), Some(_)) => Err(usage_err(
            "--realm and --token-url exclude each other",
            Some(cmd),
        )),
        (Some(_), None) if !keycloak => Err(usage_err("--realm needs --keycloak", Some(cmd))),
        (_, Some(url)) => Ok(Endpoint::Url(http_url(url, "--token-url", Some(cmd))?)),
        (realm, None) if keycloak => {
            let realm = realm.unwrap_or(DEFAULT_REALM);
            if realm.is_empty() || realm.contains('/') {
                return Err(usage_err(
                    format!("--realm `{realm}` is not a realm name"),
                    Some(cmd),
                ));
            }
            Ok(Endpoint::Keycloak(realm.to_string()))
        }
        (_, None) => Ok(Endpoint::Twitcher),
    }
}

pub fn parse(
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Invocation, UsageError> {
    let m = PROGRAM.parse(args)?;
    if m.switch("version") {
        return Ok(Invocation::Version);
    }
    if m.switch("help") {
        return Ok(Invocation::Help(m.command));
    }
    let Some(cmd) = m.command else {
        return Err(usage_err("a command is needed", None));
    };
    let arg = |i: usize| m.positionals[i].clone();
    // An empty name would address the collection: `DELETE /services/` is `clear`.
    let name_arg = |what: &str| {
        let v = arg(0);
        if v.trim().is_empty() {
            Err(usage_err(format!("the {what} is empty"), Some(cmd)))
        } else {
            Ok(v)
        }
    };
    let opt = |long: &str| m.value(long).map(str::to_string);
    let run = match cmd.name {
        "help" => {
            return match m.positionals.first() {
                None => Ok(Invocation::Help(None)),
                Some(name) => match PROGRAM.command(name) {
                    Some(c) => Ok(Invocation::Help(Some(c))),
                    None => Err(usage_err(format!("unknown command `{name}`"), Some(cmd))),
                },
            };
        }
        "add" => Cmd::Add {
            name: opt("name").unwrap_or_default(),
            redirect_uri: opt("redirect-uri").unwrap_or_default(),
            scopes: scopes(&m),
        },
        "gentoken" => {
            let mut scopes = scopes(&m);
            if scopes.is_empty() {
                scopes.push("compute".to_string());
            }
            Cmd::GenToken {
                client_id: value(&m, flag(GENTOKEN_FLAGS, "client-id"), env),
                client_secret: value(&m, flag(GENTOKEN_FLAGS, "client-secret"), env),
                scopes,
                endpoint: endpoint(&m, cmd)?,
            }
        }
        "list" => Cmd::List,
        "clear" => Cmd::Clear,
        "register" => {
            let verify = m.value("verify").unwrap_or("true");
            let Some(verify) = parse_bool(verify) else {
                return Err(usage_err(
                    format!("--verify `{verify}`: expected true or false"),
                    Some(cmd),
                ));
            };
            Cmd::Register {
                url: http_url(&arg(0), "service URL", Some(cmd))?,
                name: opt("name"),
                kind: opt("type").unwrap_or_else(|| "wps".to_string()),
                purl: opt("purl").unwrap_or_default(),
                auth: opt("auth").unwrap_or_else(|| "token".to_string()),
                verify,
            }
        }
        "unregister" => Cmd::Unregister(name_arg("service name")?),
        "get" => Cmd::Get(name_arg("service name")?),
        "clients" => Cmd::Clients,
        "remove-client" => Cmd::RemoveClient(name_arg("client id")?),
        "revoke" | "introspect" => {
            let client = token_client(&m, env, cmd)?;
            if cmd.name == "revoke" {
                Cmd::Revoke(arg(0), client)
            } else {
                Cmd::Introspect(arg(0), client)
            }
        }
        "status" => Cmd::Status,
        other => unreachable!("command `{other}` in the table but not parsed"),
    };
    Ok(Invocation::Run(Box::new(Run {
        globals: globals(&m, env, cmd)?,
        cmd: run,
    })))
}

pub fn man_page() -> String {
    super::man::render(&PROGRAM, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(args: &[&str], env: &[(&str, &str)]) -> Result<Invocation, UsageError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(args.iter().map(Into::into).collect(), &move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    fn run(args: &[&str]) -> (Globals, Cmd) {
        match parse_with(args, &[]).unwrap() {
            Invocation::Run(r) => (r.globals, r.cmd),
            other => panic!("{other:?}"),
        }
    }

    /// Seeded random command lines of commands, flags, values and oddities (`--`,
    /// `-`, `--flag=`, empty and non-ASCII words): parsing either works or is a usage
    /// error, never a panic, for twitcherctl and for twitcher.
    #[test]
    fn random_command_lines_parse_or_are_usage_errors() {
        let mut next = crate::test_support::seeded(0x94d0_49bb_1331_11eb);
        let words = [
            "gentoken",
            "add",
            "register",
            "unregister",
            "list",
            "status",
            "clear",
            "get",
            "clients",
            "remove-client",
            "revoke",
            "introspect",
            "serve",
            "tui",
            "db",
            "import",
            "migrate",
            "config",
            "check",
            "man",
            "-s",
            "-u",
            "-p",
            "-k",
            "-i",
            "-e",
            "-S",
            "-o",
            "--scope",
            "--name",
            "--auth",
            "--verify",
            "--timeout",
            "--token-url",
            "--debug",
            "--help",
            "-h",
            "--version",
            "--",
            "-",
            "--name=",
            "--timeout=-1",
            "--timeout=1e99",
            "http://h:1",
            "http://h:0",
            "",
            " ",
            "気象",
            "-\u{e9}",
            "-xyz",
            "json",
            "table",
            "true",
            "nope",
            "5",
            "-1",
        ];
        for _ in 0..5000 {
            let args: Vec<&str> = (0..next(9)).map(|_| words[next(words.len())]).collect();
            let _ = parse_with(&args, &[]);
            let _ = crate::cli::twitcher::parse(args.iter().map(Into::into).collect(), &|_| None);
        }
    }

    #[test]
    fn s_is_the_server_before_gentoken_and_the_secret_after_it() {
        let (g, c) = run(&["-s", "http://h:1", "gentoken", "-i", "ID", "-s", "SECRET"]);
        assert_eq!(g.serverurl, "http://h:1");
        let Cmd::GenToken {
            client_id,
            client_secret,
            scopes,
            endpoint,
        } = c
        else {
            panic!()
        };
        assert_eq!(client_id.as_deref(), Some("ID"));
        assert_eq!(client_secret.as_deref(), Some("SECRET"));
        assert_eq!(scopes, ["compute"]);
        assert_eq!(endpoint, Endpoint::Twitcher);
    }

    #[test]
    fn scopes_as_several_words_or_one() {
        for args in [
            &["gentoken", "-S", "compute", "register"][..],
            &["gentoken", "--scope", "compute register"][..],
            &["gentoken", "--scope", "compute", "register", "compute"][..],
        ] {
            let (_, Cmd::GenToken { scopes, .. }) = run(args) else {
                panic!()
            };
            assert_eq!(scopes, ["compute", "register"], "{args:?}");
        }
    }

    #[test]
    fn environment_fills_in_what_flags_leave_out() {
        let env = [
            ("TWITCHER_URL", "https://env:9"),
            ("TWITCHER_USERNAME", "envuser"),
            ("TWITCHER_PASSWORD", "envpass"),
        ];
        let globals = |args: &[&str], env: &[(&str, &str)]| match parse_with(args, env).unwrap() {
            Invocation::Run(r) => r.globals,
            other => panic!("{other:?}"),
        };
        let g = globals(&["list"], &env);
        assert_eq!(g.serverurl, "https://env:9");
        assert_eq!(g.username.as_deref(), Some("envuser"));
        assert_eq!(g.password.as_deref(), Some("envpass"));
        let g = globals(&["-u", "flag", "list"], &env);
        assert_eq!(g.username.as_deref(), Some("flag"));
        let g = globals(&["list"], &[("TWITCHER_PASSWORD", "")]);
        assert_eq!(g.password, None);
        assert_eq!(g.serverurl, DEFAULT_URL);
        assert_eq!(g.timeout, Duration::from_secs(10));
    }

    #[test]
    fn keycloak_endpoints() {
        let ep = |args: &[&str]| match run(args).1 {
            Cmd::GenToken { endpoint, .. } => endpoint,
            _ => panic!(),
        };
        assert_eq!(
            ep(&["gentoken", "-K"]),
            Endpoint::Keycloak("demo".to_string())
        );
        assert_eq!(
            ep(&["gentoken", "-K", "--realm", "birdhouse"]),
            Endpoint::Keycloak("birdhouse".to_string())
        );
        assert_eq!(
            ep(&["gentoken", "--token-url", "https://kc/token"]),
            Endpoint::Url("https://kc/token".to_string())
        );
        for bad in [
            &["gentoken", "--realm", "x"][..],
            &["gentoken", "-K", "--realm", "x", "--token-url", "http://a"][..],
            &["gentoken", "--token-url", "kc/token"][..],
            &["gentoken", "-K", "--realm", "a/b"][..],
        ] {
            assert!(parse_with(bad, &[]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn register_defaults_and_bad_values() {
        let (_, c) = run(&["register", "http://localhost:5000/wps"]);
        let Cmd::Register {
            url,
            name,
            kind,
            purl,
            auth,
            verify,
        } = c
        else {
            panic!()
        };
        assert_eq!(
            (
                url.as_str(),
                name,
                kind.as_str(),
                purl.as_str(),
                auth.as_str(),
                verify
            ),
            ("http://localhost:5000/wps", None, "wps", "", "token", true)
        );
        let (_, Cmd::Register { verify, .. }) = run(&["register", "--verify", "False", "http://x"])
        else {
            panic!()
        };
        assert!(!verify);
        for bad in [
            &["register", "--verify", "maybe", "http://x"][..],
            &["register", "ftp://x"][..],
            &["register"][..],
            &["-s", "localhost:8000", "list"][..],
            &["--timeout", "0", "list"][..],
            &["--timeout", "soon", "list"][..],
            &["-o", "yaml", "list"][..],
            &[][..],
            &["nope"][..],
            &["help", "nope"][..],
        ] {
            assert!(parse_with(bad, &[]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn help_covers_every_flag_of_the_table() {
        for c in PROGRAM.commands {
            let help = PROGRAM.help(Some(c));
            for f in c.flags.iter().chain(PROGRAM.globals) {
                let head = super::super::flag_head(f);
                assert!(help.contains(head.trim()), "{} lacks {head}", c.name);
                assert!(help.contains(f.help), "{} lacks {}", c.name, f.help);
            }
        }
        let top = PROGRAM.help(None);
        for c in PROGRAM.commands {
            assert!(top.contains(c.name) && top.contains(c.about), "{}", c.name);
        }
    }

    #[test]
    fn man_page_covers_every_flag_of_the_table() {
        use super::super::man::esc;
        let page = man_page();
        for c in PROGRAM.commands {
            assert!(page.contains(&format!(".SS {}\n", esc(&Program::command_usage(c)))));
            for f in c.flags.iter().chain(PROGRAM.globals) {
                assert!(
                    page.contains(&format!("\\-\\-{}\\fR", esc(f.long))),
                    "{}",
                    f.long
                );
                assert!(page.contains(&esc(f.help)), "{}", f.long);
                if let Some(env) = f.env {
                    assert!(page.contains(&format!("\\fB{env}\\fR")), "{env}");
                }
            }
        }
    }

    /// The committed man page is what the flag table renders; regenerate it with
    /// `twitcher man twitcherctl > man/twitcherctl.1`.
    #[test]
    fn committed_man_page_matches_the_flag_table() {
        let committed = include_str!("../../man/twitcherctl.1");
        assert!(
            committed == man_page(),
            "man/twitcherctl.1 is stale: run `twitcher man twitcherctl > man/twitcherctl.1`"
        );
    }
}
