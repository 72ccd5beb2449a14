//! Asking for missing credentials when stdin is a terminal. Prompts go to stderr, so
//! stdout stays one JSON document. Secrets are read with echo off, and the terminal is
//! restored however the read ends: a value, an error, or a signal such as Ctrl-C.

use std::io::{self, BufRead, Write};
use std::mem::MaybeUninit;

pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// Asks with echo on.
pub fn ask(prompt: &str) -> io::Result<String> {
    eprint!("{prompt}");
    io::stderr().flush()?;
    read_line()
}

/// Asks with echo off, as getpass does.
pub fn ask_secret(prompt: &str) -> io::Result<String> {
    let quiet = EchoOff::new()?;
    eprint!("{prompt}");
    io::stderr().flush()?;
    let line = read_line();
    drop(quiet);
    // The Enter that ended the line was not echoed.
    eprintln!();
    line
}

/// One line of stdin without its line end; Err at end of input.
pub fn read_line() -> io::Result<String> {
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "end of input"));
    }
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(line)
}

/// The terminal settings to restore from a signal handler, which may not take locks.
static mut SAVED: MaybeUninit<libc::termios> = MaybeUninit::uninit();

const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

extern "C" fn restore_and_reraise(sig: libc::c_int) {
    // SAFETY: SAVED was written before this handler was installed; tcsetattr, signal and
    // raise are async-signal-safe.
    unsafe {
        libc::tcsetattr(
            libc::STDIN_FILENO,
            libc::TCSANOW,
            (&raw const SAVED).cast::<libc::termios>(),
        );
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Echo is off on stdin while this lives.
struct EchoOff {
    saved: libc::termios,
    old_actions: Vec<(libc::c_int, libc::sigaction)>,
}

impl EchoOff {
    fn new() -> io::Result<EchoOff> {
        // SAFETY: termios and sigaction are plain C structs that these calls fill in; the
        // handler only reads SAVED, which is written before it is installed.
        unsafe {
            let mut saved = MaybeUninit::<libc::termios>::uninit();
            if libc::tcgetattr(libc::STDIN_FILENO, saved.as_mut_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            let saved = saved.assume_init();
            (&raw mut SAVED).write(MaybeUninit::new(saved));
            let mut old_actions = Vec::new();
            for sig in SIGNALS {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = restore_and_reraise as *const () as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &action, &mut old) == 0 {
                    old_actions.push((sig, old));
                }
            }
            let guard = EchoOff { saved, old_actions };
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSAFLUSH, &quiet) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(guard)
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings and handlers saved in `new`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
            for (sig, old) in &self.old_actions {
                libc::sigaction(*sig, old, std::ptr::null_mut());
            }
        }
    }
}
