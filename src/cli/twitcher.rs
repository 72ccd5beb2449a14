//! The `twitcher` program's flag table and its parse into plain commands.

use std::ffi::OsString;
use std::path::PathBuf;

use super::twitcherctl::{self, Connection, INSECURE, PASSWORD, SERVERURL, USERNAME};
use super::{Arity, Command, Flag, Matches, Program, UsageError};
use crate::config::Overrides;
use crate::config::keys::{KEYS, Kind};

const CONFIG: Flag = Flag {
    short: Some('c'),
    long: "config",
    arity: Arity::One("FILE"),
    env: Some("TWITCHER_CONFIG"),
    help: "INI file in Twitcher's format: [app:main] settings and the [server:main] address.",
};
const DB: Flag = Flag {
    short: None,
    long: "db",
    arity: Arity::One("PATH"),
    env: Some("TWITCHER_DB"),
    help: "SQLite database file (twitcher.db). Default: twitcher.sqlite in the working directory.",
};
const BIND: Flag = Flag {
    short: Some('b'),
    long: "bind",
    arity: Arity::One("HOST:PORT"),
    env: Some("TWITCHER_BIND"),
    help: "Address to listen on (twitcher.bind). Default: 127.0.0.1:8000; port 0 picks a free one.",
};
const WORKERS: Flag = Flag {
    short: Some('w'),
    long: "workers",
    arity: Arity::One("N"),
    env: Some("TWITCHER_WORKERS"),
    help: "Requests handled at once (twitcher.workers). Default: 32 per CPU.",
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
        short: Some('V'),
        long: "version",
        arity: Arity::Switch,
        env: None,
        help: "Print the version.",
    },
];

static SERVER_FLAGS: &[Flag] = &[CONFIG, BIND, DB, WORKERS];
static GENCERT_FLAGS: &[Flag] = &[Flag {
    short: Some('d'),
    long: "dir",
    arity: Arity::One("DIR"),
    env: None,
    help: "Folder to write key.pem and pubkey.pem into. Default: the working directory.",
}];
static DB_FLAGS: &[Flag] = &[CONFIG, DB];
/// twitcherctl's connection flags, so both take the same options and environment.
static TUI_FLAGS: &[Flag] = &[SERVERURL, USERNAME, PASSWORD, INSECURE];

static COMMANDS: &[Command] = &[
    Command {
        name: "serve",
        args: "[CONFIG.ini]",
        about: "Run the server: registry API, OAuth2 token service and OWS proxy. CONFIG.ini is the same as --config.",
        flags: SERVER_FLAGS,
        positionals: (0, 1),
    },
    Command {
        name: "config check",
        args: "[FILE]",
        about: "Print the effective settings with secrets masked; exit 2 when one is invalid.",
        flags: SERVER_FLAGS,
        positionals: (0, 1),
    },
    Command {
        name: "db migrate",
        args: "",
        about: "Create the database or bring its schema up to date.",
        flags: DB_FLAGS,
        positionals: (0, 0),
    },
    Command {
        name: "db check",
        args: "",
        about: "Run SQLite's integrity and foreign-key checks; exit 1 on damage.",
        flags: DB_FLAGS,
        positionals: (0, 0),
    },
    Command {
        name: "db backup",
        args: "DEST",
        about: "Copy the database, live, to a new file DEST with SQLite's online backup.",
        flags: DB_FLAGS,
        positionals: (1, 1),
    },
    Command {
        name: "db import",
        args: "FILE",
        about: "Copy the services and OAuth2 clients (ids and secrets kept) of a Python Twitcher database FILE into this one.",
        flags: DB_FLAGS,
        positionals: (1, 1),
    },
    Command {
        name: "db reset-password",
        args: "",
        about: "Generate a new admin password for an existing database, print it once and store its hash.",
        flags: DB_FLAGS,
        positionals: (0, 0),
    },
    Command {
        name: "gencert",
        args: "",
        about: "Write a new RSA key pair for signed_token: key.pem (mode 0600) and pubkey.pem; never overwrites.",
        flags: GENCERT_FLAGS,
        positionals: (0, 0),
    },
    Command {
        name: "gensecret",
        args: "",
        about: "Print a random 256-bit secret for twitcher.token.secret (custom_token).",
        flags: &[],
        positionals: (0, 0),
    },
    Command {
        name: "tui",
        args: "",
        about: "Run the terminal UI: services, clients, tokens, live traffic and settings of a server.",
        flags: TUI_FLAGS,
        positionals: (0, 0),
    },
    Command {
        name: "ctl",
        args: "[ARGS...]",
        about: "Run as twitcherctl, the admin CLI: `twitcher ctl list` is `twitcherctl list`.",
        flags: &[],
        positionals: (0, usize::MAX),
    },
    Command {
        name: "completions",
        args: "SHELL [PROGRAM]",
        about: "Print shell completions (bash, zsh or fish) for twitcher and twitcherctl, or only PROGRAM.",
        flags: &[],
        positionals: (1, 2),
    },
    Command {
        name: "man",
        args: "PAGE",
        about: "Print a man page (twitcher or twitcherctl) in roff.",
        flags: &[],
        positionals: (1, 1),
    },
    Command {
        name: "help",
        args: "[COMMAND]",
        about: "Show help for the program or a command.",
        flags: &[],
        positionals: (0, 2),
    },
];

pub static PROGRAM: Program = Program {
    name: "twitcher",
    about: "security proxy for OGC Web Services",
    description: "twitcher keeps a registry of OGC Web Services (WPS, WMS, WFS, WCS, WMTS), hands out \
        OAuth2 access tokens, and lets a request through to a backend only when it is public \
        (GetCapabilities, DescribeProcess, ...) or carries a valid token with the right scope. \
        It re-creates Python Twitcher 0.11 on the wire and reads its INI files. State lives in \
        one SQLite file. Settings come from defaults, then the INI file, then TWITCHER_* \
        environment variables, then flags; later ones win.",
    globals: GLOBALS,
    commands: COMMANDS,
    man_sections: &[
        (
            "EXIT STATUS",
            ".TP\n0\nSuccess, and a graceful stop after SIGTERM or SIGINT.\n.TP\n1\nA runtime failure: \
             the address is taken, the database cannot be opened, a check found damage.\n.TP\n2\nA usage \
             error or an invalid setting, or a database that holds another program's schema.",
        ),
        (
            "FILES",
            ".TP\ntwitcher.sqlite\nThe default database, in the working directory, created with mode 0600.",
        ),
        ("SEE ALSO", "twitcherctl(1)"),
    ],
    abbreviations: false,
};

/// A parsed `twitcher` command line.
#[derive(Debug)]
pub enum Cmd {
    Serve(Overrides),
    ConfigCheck(Overrides),
    DbMigrate(Overrides),
    DbCheck(Overrides),
    DbBackup(Overrides, PathBuf),
    DbImport(Overrides, PathBuf),
    DbResetPassword(Overrides),
    GenCert(PathBuf),
    GenSecret,
    Tui(Connection),
    Completions(String, Option<String>),
    Man(String),
    Help(Option<&'static Command>),
    /// Help for a command group such as `db`.
    GroupHelp(String),
    Version,
}

fn overrides(m: &Matches) -> Overrides {
    let mut o = Overrides {
        config: m.value("config").map(PathBuf::from),
        values: Vec::new(),
    };
    for (flag, key) in [
        ("bind", "twitcher.bind"),
        ("db", "twitcher.db"),
        ("workers", "twitcher.workers"),
    ] {
        if let Some(v) = m.value(flag) {
            o.values.push((key, v.to_string()));
        }
    }
    o
}

/// Parses `args`; `env` gives the environment fallbacks of `tui`'s flags.
pub fn parse(args: Vec<OsString>, env: &dyn Fn(&str) -> Option<String>) -> Result<Cmd, UsageError> {
    let m = PROGRAM.parse(args)?;
    if m.switch("version") {
        return Ok(Cmd::Version);
    }
    let Some(cmd) = m.command else {
        return Ok(m.group.map_or(Cmd::Help(None), Cmd::GroupHelp));
    };
    if m.switch("help") {
        return Ok(Cmd::Help(Some(cmd)));
    }
    let mut over = overrides(&m);
    Ok(match cmd.name {
        "serve" | "config check" => {
            // As with `pserve development.ini`: a file given here wins over --config.
            if let Some(file) = m.positionals.first() {
                over.config = Some(PathBuf::from(file));
            }
            if cmd.name == "serve" {
                Cmd::Serve(over)
            } else {
                Cmd::ConfigCheck(over)
            }
        }
        "db migrate" => Cmd::DbMigrate(over),
        "db check" => Cmd::DbCheck(over),
        "db backup" => Cmd::DbBackup(over, PathBuf::from(&m.positionals[0])),
        "db import" => Cmd::DbImport(over, PathBuf::from(&m.positionals[0])),
        "db reset-password" => Cmd::DbResetPassword(over),
        "gencert" => Cmd::GenCert(PathBuf::from(m.value("dir").unwrap_or("."))),
        "gensecret" => Cmd::GenSecret,
        "tui" => Cmd::Tui(twitcherctl::connection(&m, env, cmd)?),
        "completions" => Cmd::Completions(m.positionals[0].clone(), m.positionals.get(1).cloned()),
        "man" => Cmd::Man(m.positionals[0].clone()),
        // Only reached when `ctl` is not the first word (main hands that to twitcherctl).
        "ctl" => Cmd::Help(Some(cmd)),
        _ => {
            let asked = m.positionals.join(" ");
            match PROGRAM.command(&asked) {
                Some(c) => Cmd::Help(Some(c)),
                None if PROGRAM.group_commands(&asked).next().is_some() => Cmd::GroupHelp(asked),
                None => Cmd::Help(None),
            }
        }
    })
}

/// The CONFIGURATION section of the man page, from the settings table.
pub fn settings_man_section() -> String {
    let mut out = String::from(
        "Keys of the INI file's [app:main] section, as in Python Twitcher, and the environment \
         variable that overrides each.\n",
    );
    for k in KEYS {
        let default = match (k.kind, k.default) {
            (Kind::Secret, _) | (_, "") => String::new(),
            (_, d) => format!(" Default: {}.", super::man::esc(d)),
        };
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR (\\fB{}\\fR)\n{}{default}\n",
            super::man::esc(k.name),
            k.env,
            super::man::esc(k.help)
        ));
    }
    out
}

pub fn man_page() -> String {
    super::man::render(
        &PROGRAM,
        &[("CONFIGURATION".into(), settings_man_section())],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Cmd, UsageError> {
        parse(args.iter().map(Into::into).collect(), &|_| None)
    }

    #[test]
    fn tui_takes_twitcherctls_connection_options_and_environment() {
        let env = |k: &str| match k {
            "TWITCHER_URL" => Some("https://env:9".to_string()),
            "TWITCHER_PASSWORD" => Some("envpass".to_string()),
            _ => None,
        };
        let Cmd::Tui(c) = parse(
            ["tui", "-u", "root", "-k"].iter().map(Into::into).collect(),
            &env,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(c.serverurl, "https://env:9");
        assert_eq!(c.username.as_deref(), Some("root"));
        assert_eq!(c.password.as_deref(), Some("envpass"));
        assert!(c.insecure);
        let Cmd::Tui(c) = parse_str(&["tui", "-s", "http://h:1", "-p", "x"]).unwrap() else {
            panic!()
        };
        assert_eq!((c.serverurl.as_str(), c.username), ("http://h:1", None));
        assert!(!c.insecure);
        assert!(parse_str(&["tui", "-s", "h:1"]).is_err());
        assert!(parse_str(&["tui", "extra"]).is_err());
        let help = PROGRAM.help(PROGRAM.command("tui"));
        assert!(help.contains("-s, --serverurl URL") && help.contains("[env: TWITCHER_URL]"));
    }

    #[test]
    fn serve_flags_become_overrides() {
        let Cmd::Serve(o) = parse_str(&[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--db",
            "x.db",
            "-c",
            "t.ini",
            "-w",
            "3",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(o.config, Some(PathBuf::from("t.ini")));
        assert_eq!(o.values.len(), 3);
    }

    #[test]
    fn config_check_file_argument() {
        let Cmd::ConfigCheck(o) = parse_str(&["config", "check", "dev.ini"]).unwrap() else {
            panic!()
        };
        assert_eq!(o.config, Some(PathBuf::from("dev.ini")));
        assert!(matches!(parse_str(&["--version"]).unwrap(), Cmd::Version));
        assert!(matches!(parse_str(&[]).unwrap(), Cmd::Help(None)));
        for args in [&["db", "--help"][..], &["help", "db"], &["db", "-h"]] {
            assert!(
                matches!(parse_str(args).unwrap(), Cmd::GroupHelp(g) if g == "db"),
                "{args:?}"
            );
        }
        let e = parse_str(&["config"]).err().unwrap();
        assert_eq!(
            e.message,
            "`config` needs a subcommand: check; `twitcher config --help` says more"
        );
        let help = PROGRAM.group_help("db");
        assert!(
            help.contains("db backup") && !help.contains("serve"),
            "{help}"
        );
        assert!(
            matches!(parse_str(&["help", "db", "backup"]).unwrap(), Cmd::Help(Some(c)) if c.name == "db backup")
        );
        assert!(
            matches!(parse_str(&["serve", "--help"]).unwrap(), Cmd::Help(Some(c)) if c.name == "serve")
        );
        let Cmd::Serve(o) = parse_str(&["serve", "prod.ini"]).unwrap() else {
            panic!("serve")
        };
        assert_eq!(o.config, Some(PathBuf::from("prod.ini")));
        assert!(parse_str(&["serve", "a.ini", "b.ini"]).is_err());
    }

    /// The committed man page is what the flag table renders; regenerate it with
    /// `twitcher man twitcher > man/twitcher.1`.
    #[test]
    fn committed_man_page_matches_the_flag_table() {
        let committed = include_str!("../../man/twitcher.1");
        assert!(
            committed == man_page(),
            "man/twitcher.1 is stale: run `twitcher man twitcher > man/twitcher.1`"
        );
    }
}
