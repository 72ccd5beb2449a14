//! twitcher: one binary with three faces. This file only picks the face and the command:
//! from argv[0] (`twitcherctl`) and the first word (`ctl`).

mod auth;
mod cli;
mod client;
mod config;
mod ctl;
mod log;
mod oauth;
mod offline;
mod ows;
mod proxy;
mod registry;
mod server;
mod store;
#[cfg(test)]
mod test_support;
mod tui;

/// mimalloc, for every build. musl's allocator serialises threads on one lock: with a
/// thread per connection the static build served 2.5x fewer proxied requests. glibc's
/// takes an arena lock and consolidates its fast bins on every larger allocation: that
/// was 39% of the proxy's user time. Without transparent huge pages (with them 64
/// threads' heaps took 100 MiB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::ffi::OsString;
use std::path::Path;

use cli::completions::{self, Delegate, Shell};
use cli::twitcher::{Cmd, PROGRAM};

fn main() {
    sigpipe(libc::SIG_DFL);
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let args: Vec<OsString> = args.collect();
    if let Some(name) = setting_not_utf8() {
        eprintln!("error: the environment variable {name} is not valid UTF-8");
        std::process::exit(2);
    }
    let code = if Path::new(&argv0).file_name() == Some("twitcherctl".as_ref()) {
        ctl::run(args)
    } else if args.first().is_some_and(|a| a == "ctl") {
        ctl::run(args[1..].to_vec())
    } else {
        twitcher(args)
    };
    std::process::exit(code);
}

/// A `TWITCHER_*` variable whose value is not UTF-8. Read through `std::env::var`, it
/// would count as unset, and a command would go on with the default (a database path,
/// a password prompt) without a word about the value it was given.
fn setting_not_utf8() -> Option<String> {
    std::env::vars_os()
        .find(|(k, v)| {
            k.to_str().is_some_and(|k| k.starts_with("TWITCHER_")) && v.to_str().is_none()
        })
        .map(|(k, _)| k.to_string_lossy().into_owned())
}

/// A command whose output is piped into `head` ends quietly when the pipe closes, as
/// Unix tools do (Rust's default, SIGPIPE ignored, makes `println!` panic there). The
/// server and the TUI keep it ignored: a peer gone is an error to handle there, not
/// the end of the process.
fn sigpipe(action: libc::sighandler_t) {
    // SAFETY: called while the process has one thread, with a disposition libc defines.
    unsafe {
        libc::signal(libc::SIGPIPE, action);
    }
}

fn twitcher(args: Vec<OsString>) -> i32 {
    let cmd = match cli::twitcher::parse(args, &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}", PROGRAM.usage_error(&e));
            return 2;
        }
    };
    match cmd {
        Cmd::Serve(over) => match offline::settings(&over) {
            Ok((raw, settings)) => {
                sigpipe(libc::SIG_IGN);
                server::serve(&raw, settings)
            }
            Err(code) => code,
        },
        Cmd::ConfigCheck(over) => offline::config_check(&over),
        Cmd::DbMigrate(over) => offline::db_migrate(&over),
        Cmd::DbCheck(over) => offline::db_check(&over),
        Cmd::DbBackup(over, dest) => offline::db_backup(&over, &dest),
        Cmd::DbImport(over, source) => offline::db_import(&over, &source),
        Cmd::DbResetPassword(over) => offline::db_reset_password(&over),
        Cmd::GenCert(dir) => offline::gencert(&dir),
        Cmd::GenSecret => offline::gensecret(),
        Cmd::Tui(conn) => {
            sigpipe(libc::SIG_IGN);
            tui::run(conn)
        }
        Cmd::Completions(shell, program) => print_completions(&shell, program.as_deref()),
        Cmd::Man(page) => match page.as_str() {
            "twitcher" => {
                print!("{}", cli::twitcher::man_page());
                0
            }
            "twitcherctl" => {
                print!("{}", cli::twitcherctl::man_page());
                0
            }
            other => {
                eprintln!("error: no man page `{other}` (try: twitcher, twitcherctl)");
                2
            }
        },
        Cmd::Help(Some(c)) if c.name == "ctl" => {
            print!("{}", cli::twitcherctl::PROGRAM.help(None));
            0
        }
        Cmd::Help(c) => {
            print!("{}", PROGRAM.help(c));
            0
        }
        Cmd::GroupHelp(group) => {
            print!("{}", PROGRAM.group_help(&group));
            0
        }
        Cmd::Version => {
            println!("twitcher {}", env!("CARGO_PKG_VERSION"));
            0
        }
    }
}

fn print_completions(shell: &str, program: Option<&str>) -> i32 {
    let Some(shell) = Shell::parse(shell) else {
        eprintln!(
            "error: no completions for `{shell}` (try: {})",
            Shell::NAMES
        );
        return 2;
    };
    let programs = match program {
        None => vec![&PROGRAM, &cli::twitcherctl::PROGRAM],
        Some("twitcher") => vec![&PROGRAM],
        Some("twitcherctl") => vec![&cli::twitcherctl::PROGRAM],
        Some(other) => {
            eprintln!("error: no program `{other}` (try: twitcher, twitcherctl)");
            return 2;
        }
    };
    let ctl = Delegate {
        from: "twitcher",
        word: "ctl",
        to: "twitcherctl",
    };
    print!("{}", completions::render(shell, &programs, Some(ctl)));
    0
}
