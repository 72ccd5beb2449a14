//! `twitcher tui`: the interactive admin in the terminal. This file owns the terminal
//! (raw mode and the alternate screen, restored on exit, on panic, on Ctrl-C and on
//! SIGTERM/SIGHUP) and runs the loop: messages from the input thread and the network
//! workers go to [`app::App`], its requests go to the workers, and [`ui`] draws.

mod app;
mod claims;
mod event;
mod fmt;
mod form;
mod traffic;
mod ui;
mod worker;

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

use crate::cli::twitcherctl::{Connection, DEFAULT_TIMEOUT_SECS};
use crate::client::{Client, Settings};
use app::{App, Msg};
use worker::{Request, Worker};

/// Polls give up sooner than admin actions, so a server gone silent shows soon.
const POLL_TIMEOUT: Duration = Duration::from_secs(5);

/// Puts the terminal back as it was: cooked mode, the main screen, a cursor. Safe to
/// call more than once.
fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

/// Restores the terminal when dropped, however the loop ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore();
    }
}

/// A panic anywhere restores the terminal before its message prints, then ends the
/// process: a UI whose worker died cannot go on.
fn restore_on_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
        std::process::exit(101);
    }));
}

fn stdout_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(libc::STDOUT_FILENO) == 1 }
}

/// A worker thread for `client`; its replies come back as messages.
fn spawn_worker(
    name: &str,
    client: Client,
    started: Instant,
    ui: Sender<Msg>,
) -> io::Result<Sender<Request>> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            Worker::new(client, started).run(rx, |r| ui.send(Msg::Reply(r)).is_ok());
        })?;
    Ok(tx)
}

pub fn run(conn: Connection) -> i32 {
    if !stdout_is_tty() {
        eprintln!("error: twitcher tui needs a terminal (use twitcherctl for scripts)");
        return 2;
    }
    let credentials = match crate::ctl::admin_credentials(conn.username, conn.password) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let username = credentials.username.clone();
    let client = |timeout| {
        Client::new(Settings {
            base_url: conn.serverurl.clone(),
            credentials: Some(credentials.clone()),
            insecure: conn.insecure,
            timeout,
        })
    };
    let (actions, polls) = match (
        client(Duration::from_secs(DEFAULT_TIMEOUT_SECS)),
        client(POLL_TIMEOUT),
    ) {
        (Ok(a), Ok(p)) => (a, p),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    let workers = spawn_worker("tui-actions", actions, started, tx.clone())
        .and_then(|a| Ok((a, spawn_worker("tui-polls", polls, started, tx.clone())?)));
    let (actions, polls) = match workers {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: cannot start the TUI's threads: {e}");
            return 1;
        }
    };
    event::catch_signals();
    restore_on_panic();
    if let Err(e) = enable_raw_mode() {
        eprintln!("error: cannot put the terminal in raw mode: {e}");
        return 1;
    }
    let guard = Restore;
    if let Err(e) = execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste) {
        drop(guard);
        eprintln!("error: cannot set up the terminal: {e}");
        return 1;
    }
    let code = match Terminal::new(CrosstermBackend::new(io::stdout())) {
        Ok(terminal) => {
            let input = tx.clone();
            let spawned = std::thread::Builder::new()
                .name("tui-input".into())
                .spawn(move || event::run(input, started));
            match spawned {
                Ok(_) => {
                    let mut app = App::new(&conn.serverurl, &username);
                    event_loop(terminal, &mut app, &rx, &actions, &polls)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    drop(guard);
    match code {
        Ok(()) => event::exit_code_of_signal().unwrap_or(0),
        Err(e) => {
            eprintln!("error: the terminal failed: {e}");
            1
        }
    }
}

/// Hands the terminal back as it was, stops the process as the shell's suspend key
/// would, and once continued (`fg`) takes the terminal again and redraws all of it.
fn suspend(terminal: &mut Terminal<CrosstermBackend<io::Stdout>>) -> io::Result<()> {
    restore();
    // SAFETY: stops this process; SIGCONT resumes it here.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste)?;
    terminal.clear()
}

fn dispatch(reqs: Vec<Request>, actions: &Sender<Request>, polls: &Sender<Request>) {
    for r in reqs {
        if let Request::SignIn(_) = r {
            let _ = polls.send(r.clone());
        }
        let to = if r == Request::Stats { polls } else { actions };
        // A worker only stops when the UI does.
        let _ = to.send(r);
    }
}

fn event_loop(
    mut terminal: Terminal<CrosstermBackend<io::Stdout>>,
    app: &mut App,
    rx: &Receiver<Msg>,
    actions: &Sender<Request>,
    polls: &Sender<Request>,
) -> io::Result<()> {
    dispatch(app.start(), actions, polls);
    loop {
        terminal.draw(|f| ui::draw(f, app))?;
        let Ok(msg) = rx.recv() else {
            return Ok(());
        };
        if let Msg::Suspend = msg {
            suspend(&mut terminal)?;
            continue;
        }
        dispatch(app.update(msg), actions, polls);
        // Take what else is waiting before drawing again.
        while let Ok(msg) = rx.try_recv() {
            dispatch(app.update(msg), actions, polls);
        }
        if app.quit {
            return Ok(());
        }
    }
}
