//! twitcher: one binary with three faces. This file only picks the face and the command.

mod auth;
mod client;
mod cli;
mod config;
mod log;
mod oauth;
mod offline;
mod registry;
mod server;
mod store;

use cli::twitcher::{Cmd, PROGRAM};

fn main() {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    std::process::exit(twitcher(args));
}

fn twitcher(args: Vec<std::ffi::OsString>) -> i32 {
    let cmd = match cli::twitcher::parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}", PROGRAM.usage_error(&e));
            return 2;
        }
    };
    match cmd {
        Cmd::Serve(over) => match offline::settings(&over) {
            Ok((_, settings)) => server::serve(settings),
            Err(code) => code,
        },
        Cmd::ConfigCheck(over) => offline::config_check(&over),
        Cmd::DbMigrate(over) => offline::db_migrate(&over),
        Cmd::DbCheck(over) => offline::db_check(&over),
        Cmd::DbBackup(over, dest) => offline::db_backup(&over, &dest),
        Cmd::DbResetPassword(over) => offline::db_reset_password(&over),
        Cmd::GenCert(dir) => offline::gencert(&dir),
        Cmd::GenSecret => offline::gensecret(),
        Cmd::Man(page) => match page.as_str() {
            "twitcher" => {
                print!("{}", cli::twitcher::man_page());
                0
            }
            other => {
                eprintln!("error: no man page `{other}` (try: twitcher)");
                2
            }
        },
        Cmd::Help(c) => {
            print!("{}", PROGRAM.help(c));
            0
        }
        Cmd::Version => {
            println!("twitcher {}", env!("CARGO_PKG_VERSION"));
            0
        }
    }
}
