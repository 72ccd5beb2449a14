//! Command-line parsing from flag tables, after ripgrep's `flags`: one table per program
//! drives the parser, `--help`, the man page and shell completions, so they cannot drift.

pub mod completions;
pub mod man;
pub mod twitcher;
pub mod twitcherctl;

use std::collections::HashMap;
use std::fmt;

/// How many values a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Switch,
    One(&'static str),
    /// One or more values, up to the next option, as argparse's `nargs='+'`.
    Many(&'static str),
}

impl Arity {
    /// The value's name as help shows it, e.g. `URL` or `SCOPE...`.
    pub fn metavar(self) -> Option<String> {
        match self {
            Arity::Switch => None,
            Arity::One(v) => Some(v.to_string()),
            Arity::Many(v) => Some(format!("{v}...")),
        }
    }
}

#[derive(Debug)]
pub struct Flag {
    pub short: Option<char>,
    pub long: &'static str,
    pub arity: Arity,
    pub env: Option<&'static str>,
    pub help: &'static str,
}

#[derive(Debug)]
pub struct Command {
    /// One or two words, e.g. `serve` or `db backup`.
    pub name: &'static str,
    /// Positional arguments for the usage line, e.g. `DEST` or `[FILE]`.
    pub args: &'static str,
    pub about: &'static str,
    pub flags: &'static [Flag],
    /// How many positional arguments it takes, at least and at most.
    pub positionals: (usize, usize),
}

#[derive(Debug)]
pub struct Program {
    pub name: &'static str,
    pub about: &'static str,
    pub description: &'static str,
    /// Flags accepted before the command (and after it, unless the command has its own).
    pub globals: &'static [Flag],
    pub commands: &'static [Command],
    /// Sections appended to the man page: (title, roff body).
    pub man_sections: &'static [(&'static str, &'static str)],
    /// Accept a unique prefix of a long option (`--serv` for `--serverurl`), as argparse
    /// does, so scripts written for Python Twitcher's `twitcherctl` keep working.
    pub abbreviations: bool,
}

/// The result of parsing: which command, its flags by long name, and its positionals.
#[derive(Debug, Default)]
pub struct Matches {
    pub command: Option<&'static Command>,
    /// A command group asked for help without a subcommand (`twitcher db --help`).
    pub group: Option<String>,
    /// The values of each occurrence of a flag, by its long name.
    values: HashMap<&'static str, Vec<Vec<String>>>,
    pub positionals: Vec<String>,
}

impl Matches {
    pub fn switch(&self, long: &str) -> bool {
        self.values.contains_key(long)
    }

    /// The last value given for a flag.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.values
            .get(long)
            .and_then(|occ| occ.last())
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// The values of a flag's last occurrence; as in argparse, a repeated flag replaces.
    pub fn values(&self, long: &str) -> Option<&[String]> {
        self.values
            .get(long)
            .and_then(|occ| occ.last())
            .map(Vec::as_slice)
    }
}

/// A usage error; the caller prints it with the usage and exits 2.
#[derive(Debug)]
pub struct UsageError {
    pub message: String,
    pub command: Option<&'static Command>,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn usage_err(message: impl Into<String>, command: Option<&'static Command>) -> UsageError {
    UsageError {
        message: message.into(),
        command,
    }
}

fn find_flag<'a>(flags: &'a [Flag], arg: &lexopt::Arg) -> Option<&'a Flag> {
    flags.iter().find(|f| match arg {
        lexopt::Arg::Short(c) => f.short == Some(*c),
        lexopt::Arg::Long(l) => f.long == *l,
        lexopt::Arg::Value(_) => false,
    })
}

/// The one long flag that `prefix` abbreviates; Err names the candidates when several do.
fn find_prefix<'a>(flags: &'a [Flag], prefix: &str) -> Result<Option<&'a Flag>, String> {
    let found: Vec<&Flag> = flags
        .iter()
        .filter(|f| f.long.starts_with(prefix))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(many
            .iter()
            .map(|f| format!("--{}", f.long))
            .collect::<Vec<_>>()
            .join(", ")),
    }
}

fn arg_name(arg: &lexopt::Arg) -> String {
    match arg {
        lexopt::Arg::Short(c) => format!("-{c}"),
        lexopt::Arg::Long(l) => format!("--{l}"),
        lexopt::Arg::Value(v) => v.to_string_lossy().into_owned(),
    }
}

impl Program {
    pub fn command(&self, name: &str) -> Option<&'static Command>
    where
        Self: 'static,
    {
        self.commands.iter().find(|c| c.name == name)
    }

    /// Parses `args` (without the program name).
    pub fn parse(&'static self, args: Vec<std::ffi::OsString>) -> Result<Matches, UsageError> {
        /// An argument as text; one that is not UTF-8 is refused rather than changed
        /// (a name would be registered under another spelling, a password would differ).
        fn utf8(
            v: std::ffi::OsString,
            cmd: Option<&'static Command>,
        ) -> Result<String, UsageError> {
            v.into_string().map_err(|v| {
                usage_err(format!("`{}` is not valid UTF-8", v.to_string_lossy()), cmd)
            })
        }
        use lexopt::Arg;
        let mut parser = lexopt::Parser::from_args(args);
        let mut m = Matches::default();
        let mut first_word: Option<String> = None;
        loop {
            let arg = parser
                .next()
                .map_err(|e| usage_err(e.to_string(), m.command))?;
            let Some(arg) = arg else { break };
            match arg {
                Arg::Value(v) if m.command.is_none() => {
                    let word = utf8(v, None)?;
                    let name = match first_word.take() {
                        Some(group) => format!("{group} {word}"),
                        None => word.clone(),
                    };
                    if let Some(cmd) = self.command(&name) {
                        m.command = Some(cmd);
                    } else if self
                        .commands
                        .iter()
                        .any(|c| c.name.starts_with(&format!("{name} ")))
                    {
                        first_word = Some(name);
                    } else {
                        return Err(usage_err(format!("unknown command `{name}`"), None));
                    }
                }
                Arg::Value(v) => m.positionals.push(utf8(v, m.command)?),
                ref flag => {
                    let f = self.lookup(m.command, flag)?;
                    let occurrence = match f.arity {
                        Arity::Switch => Vec::new(),
                        Arity::One(_) => {
                            let v = parser
                                .value()
                                .map_err(|e| usage_err(e.to_string(), m.command))?;
                            vec![utf8(v, m.command)?]
                        }
                        Arity::Many(_) => parser
                            .values()
                            .map_err(|e| usage_err(e.to_string(), m.command))?
                            .map(|v| utf8(v, m.command))
                            .collect::<Result<_, _>>()?,
                    };
                    m.values.entry(f.long).or_default().push(occurrence);
                }
            }
        }
        if let Some(group) = first_word {
            if m.switch("help") {
                m.group = Some(group);
                return Ok(m);
            }
            let subcommands: Vec<&str> = self
                .group_commands(&group)
                .map(|c| &c.name[group.len() + 1..])
                .collect();
            return Err(usage_err(
                format!(
                    "`{group}` needs a subcommand: {}; `{} {group} --help` says more",
                    subcommands.join(", "),
                    self.name
                ),
                None,
            ));
        }
        if let (Some(cmd), false) = (m.command, m.switch("help")) {
            let (lo, hi) = cmd.positionals;
            let n = m.positionals.len();
            if n < lo {
                return Err(usage_err(
                    format!("missing argument {}", cmd.args),
                    Some(cmd),
                ));
            }
            if n > hi {
                return Err(usage_err(
                    format!("unexpected argument `{}`", m.positionals[hi]),
                    Some(cmd),
                ));
            }
        }
        Ok(m)
    }

    /// The flag `arg` names: the command's own first, then the globals; exact names
    /// before abbreviations.
    fn lookup(
        &'static self,
        command: Option<&'static Command>,
        arg: &lexopt::Arg,
    ) -> Result<&'static Flag, UsageError> {
        let own = command.map_or(&[][..], |c| c.flags);
        if let Some(f) = find_flag(own, arg).or_else(|| find_flag(self.globals, arg)) {
            return Ok(f);
        }
        if let (true, lexopt::Arg::Long(prefix)) = (self.abbreviations, arg) {
            for flags in [own, self.globals] {
                match find_prefix(flags, prefix) {
                    Ok(Some(f)) => return Ok(f),
                    Ok(None) => {}
                    Err(candidates) => {
                        return Err(usage_err(
                            format!("ambiguous option --{prefix}: could be {candidates}"),
                            command,
                        ));
                    }
                }
            }
        }
        Err(usage_err(
            format!("unknown option {}", arg_name(arg)),
            command,
        ))
    }

    /// What to print on stderr for a usage error: the error, then the usage.
    pub fn usage_error(&self, e: &UsageError) -> String {
        let mut out = format!("error: {e}\n\n");
        match e.command {
            Some(c) => out.push_str(&format!(
                "Usage: {}\n\nRun `{} help {}` for more.\n",
                self.usage(c),
                self.name,
                c.name
            )),
            None => out.push_str(&self.help(None)),
        }
        out
    }

    fn flag_lines(flags: &[Flag]) -> String {
        let heads: Vec<String> = flags.iter().map(flag_head).collect();
        let width = heads.iter().map(String::len).max().unwrap_or(0);
        let mut out = String::new();
        for (f, head) in flags.iter().zip(&heads) {
            out.push_str(&format!("  {head:width$}  {}", f.help));
            if let Some(env) = f.env {
                out.push_str(&format!(" [env: {env}]"));
            }
            out.push('\n');
        }
        out
    }

    /// The commands whose names begin with the word `group` (`db` has `db check`, ...).
    pub fn group_commands<'p>(&'p self, group: &str) -> impl Iterator<Item = &'p Command> {
        let prefix = format!("{group} ");
        self.commands
            .iter()
            .filter(move |c| c.name.starts_with(&prefix))
    }

    /// `--help` text for a command group: its commands and what each does.
    pub fn group_help(&self, group: &str) -> String {
        let mut out = format!(
            "Usage: {} {group} <COMMAND> [ARGS]\n\nCommands:\n",
            self.name
        );
        let width = self
            .group_commands(group)
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0);
        for c in self.group_commands(group) {
            out.push_str(&format!("  {:width$}  {}\n", c.name, c.about));
        }
        out.push_str(&format!(
            "\nRun `{} help {group} COMMAND` for a command's options.\n",
            self.name
        ));
        out
    }

    /// `--help` text for the program or one command.
    pub fn help(&self, command: Option<&Command>) -> String {
        match command {
            None => {
                let mut out = format!(
                    "{} {} - {}\n\nUsage: {} [OPTIONS] <COMMAND> [ARGS]\n\nCommands:\n",
                    self.name,
                    env!("CARGO_PKG_VERSION"),
                    self.about,
                    self.name
                );
                let width = self
                    .commands
                    .iter()
                    .map(|c| c.name.len())
                    .max()
                    .unwrap_or(0);
                for c in self.commands {
                    out.push_str(&format!("  {:width$}  {}\n", c.name, c.about));
                }
                if !self.globals.is_empty() {
                    out.push_str("\nOptions:\n");
                    out.push_str(&Self::flag_lines(self.globals));
                }
                out.push_str(&format!(
                    "\nRun `{} help COMMAND` or `{} COMMAND --help` for a command's options.\n",
                    self.name, self.name
                ));
                out
            }
            Some(c) => {
                let mut out = format!("Usage: {}\n\n{}\n", self.usage(c), c.about);
                if !c.flags.is_empty() {
                    out.push_str("\nOptions:\n");
                    out.push_str(&Self::flag_lines(c.flags));
                }
                if !self.globals.is_empty() {
                    out.push_str("\nGlobal options:\n");
                    out.push_str(&Self::flag_lines(self.globals));
                }
                out
            }
        }
    }

    pub fn usage(&self, c: &Command) -> String {
        let mut u = format!("{} ", self.name);
        if !self.globals.is_empty() {
            u.push_str("[GLOBAL OPTIONS] ");
        }
        u.push_str(&Self::command_usage(c));
        u
    }

    /// The command's part of the usage line, e.g. `register [OPTIONS] URL`.
    pub fn command_usage(c: &Command) -> String {
        let mut u = c.name.to_string();
        if !c.flags.is_empty() {
            u.push_str(" [OPTIONS]");
        }
        if !c.args.is_empty() {
            u.push(' ');
            u.push_str(c.args);
        }
        u
    }
}

/// `-c, --config FILE` as shown in help.
pub fn flag_head(f: &Flag) -> String {
    let mut head = match f.short {
        Some(c) => format!("-{c}, --{}", f.long),
        None => format!("    --{}", f.long),
    };
    if let Some(v) = f.arity.metavar() {
        head.push(' ');
        head.push_str(&v);
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    static GLOBALS: &[Flag] = &[
        Flag {
            short: Some('s'),
            long: "serverurl",
            arity: Arity::One("URL"),
            env: None,
            help: "server",
        },
        Flag {
            short: Some('h'),
            long: "help",
            arity: Arity::Switch,
            env: None,
            help: "help",
        },
    ];
    static CMDS: &[Command] = &[
        Command {
            name: "gentoken",
            args: "",
            about: "token",
            flags: &[
                Flag {
                    short: Some('s'),
                    long: "client-secret",
                    arity: Arity::One("S"),
                    env: None,
                    help: "secret",
                },
                Flag {
                    short: Some('S'),
                    long: "scope",
                    arity: Arity::Many("SCOPE"),
                    env: None,
                    help: "scopes",
                },
                Flag {
                    short: None,
                    long: "client-id",
                    arity: Arity::One("ID"),
                    env: None,
                    help: "id",
                },
            ],
            positionals: (0, 0),
        },
        Command {
            name: "db backup",
            args: "DEST",
            about: "backup",
            flags: &[],
            positionals: (1, 1),
        },
    ];
    static PROG: Program = Program {
        name: "p",
        about: "a",
        description: "",
        globals: GLOBALS,
        commands: CMDS,
        man_sections: &[],
        abbreviations: true,
    };

    fn parse(args: &[&str]) -> Result<Matches, UsageError> {
        PROG.parse(args.iter().map(Into::into).collect())
    }

    #[test]
    fn short_flag_means_different_things_before_and_after_the_command() {
        let m = parse(&["-s", "http://x", "gentoken", "-s", "sec", "--help"]).unwrap();
        assert_eq!(m.value("serverurl"), Some("http://x"));
        assert_eq!(m.value("client-secret"), Some("sec"));
        assert!(m.switch("help"));
    }

    #[test]
    fn many_values_run_to_the_next_option_and_a_repeat_replaces() {
        let m = parse(&["gentoken", "-S", "compute", "register", "-s", "x"]).unwrap();
        assert_eq!(m.values("scope").unwrap(), ["compute", "register"]);
        assert_eq!(m.value("client-secret"), Some("x"));
        let m = parse(&["gentoken", "--scope=a", "--scope", "b", "c"]).unwrap();
        assert_eq!(m.values("scope").unwrap(), ["b", "c"]);
        assert!(
            parse(&["gentoken", "--scope", "-s", "x"])
                .unwrap_err()
                .message
                .contains("scope")
        );
    }

    #[test]
    fn unique_prefixes_abbreviate_long_options() {
        let m = parse(&["--serv", "http://x", "gentoken", "--client-s", "y"]).unwrap();
        assert_eq!(m.value("serverurl"), Some("http://x"));
        assert_eq!(m.value("client-secret"), Some("y"));
        let e = parse(&["gentoken", "--client", "y"]).unwrap_err();
        assert!(e.message.contains("ambiguous"), "{}", e.message);
        assert!(e.message.contains("--client-id"), "{}", e.message);
        // Exact names win over prefixes of longer ones.
        static EXACT: &[Flag] = &[
            Flag {
                short: None,
                long: "name",
                arity: Arity::One("N"),
                env: None,
                help: "",
            },
            Flag {
                short: None,
                long: "names",
                arity: Arity::Switch,
                env: None,
                help: "",
            },
        ];
        static CMD: &[Command] = &[Command {
            name: "c",
            args: "",
            about: "",
            flags: EXACT,
            positionals: (0, 0),
        }];
        static P: Program = Program {
            name: "p",
            about: "",
            description: "",
            globals: &[],
            commands: CMD,
            man_sections: &[],
            abbreviations: true,
        };
        let m = P
            .parse(["c", "--name", "v"].iter().map(Into::into).collect())
            .unwrap();
        assert_eq!(m.value("name"), Some("v"));
    }

    #[test]
    fn two_word_commands_and_positionals() {
        let m = parse(&["db", "backup", "/tmp/x"]).unwrap();
        assert_eq!(m.command.unwrap().name, "db backup");
        assert_eq!(m.positionals, ["/tmp/x"]);
        assert!(
            parse(&["db", "backup"])
                .unwrap_err()
                .message
                .contains("DEST")
        );
        assert!(parse(&["db"]).unwrap_err().message.contains("subcommand"));
        assert!(parse(&["nope"]).is_err());
        assert!(
            parse(&["gentoken", "--bogus"])
                .unwrap_err()
                .message
                .contains("--bogus")
        );
    }
}
