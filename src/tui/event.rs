//! Input and time for the UI loop: a thread that turns terminal events into messages
//! and sends a tick every `TICK`, so the countdowns and the spinner move and the
//! traffic poll is due on time. SIGTERM, SIGHUP, SIGINT and SIGQUIT end the loop like
//! `q` does; SIGTSTP and Ctrl-Z suspend it.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use super::app::{Clock, Msg};

pub const TICK: Duration = Duration::from_millis(250);

/// The signal that is to end the TUI, 0 while none came. Set from a signal handler,
/// which may do nothing else.
static TERMINATED_BY: AtomicI32 = AtomicI32::new(0);
/// SIGTSTP came and is not handled yet.
static STOP_ASKED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_termination(sig: libc::c_int) {
    TERMINATED_BY.store(sig, Ordering::SeqCst);
}

extern "C" fn on_stop(_: libc::c_int) {
    STOP_ASKED.store(true, Ordering::SeqCst);
}

/// SIGTERM, SIGHUP (the SSH session went away), SIGINT and SIGQUIT (`kill`, `timeout`,
/// a supervisor; the keys send none in raw mode) end the TUI through its normal exit,
/// which restores the terminal. SIGTSTP suspends it the same way Ctrl-Z does, so the
/// shell gets its terminal back in cooked mode.
pub fn catch_signals() {
    let handlers: [(libc::c_int, extern "C" fn(libc::c_int)); 5] = [
        (libc::SIGTERM, on_termination),
        (libc::SIGHUP, on_termination),
        (libc::SIGINT, on_termination),
        (libc::SIGQUIT, on_termination),
        (libc::SIGTSTP, on_stop),
    ];
    for (sig, handler) in handlers {
        // SAFETY: the handlers only store to atomics, which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// 128 plus the signal that ended the TUI, as a shell reports a process a signal ended.
pub fn exit_code_of_signal() -> Option<i32> {
    let sig = TERMINATED_BY.load(Ordering::SeqCst);
    (sig != 0).then_some(128 + sig)
}

fn is_ctrl_z(k: &event::KeyEvent) -> bool {
    k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('z')
}

pub fn clock(started: Instant) -> Clock {
    Clock {
        since_start: started.elapsed(),
        unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}

/// What waiting on the terminal found besides input or nothing.
enum Gone {
    /// Hung up, closed or invalid.
    Hangup,
    /// Readable with nothing to read: the end of file, or input that a change of the
    /// terminal's mode flushed after poll saw it (as suspending does).
    Empty,
}

/// How many times in a row the terminal must be readable with nothing to read before
/// that counts as its end, and how long to wait between the looks. A real end of file
/// stays; a flush is over at the next look.
const EMPTY_LOOKS: u32 = 3;
const EMPTY_PAUSE: Duration = Duration::from_millis(20);

/// Waits up to `wait` for input on the terminal; Err when it may be gone (hung up,
/// closed or at end of file). crossterm alone would read the end of file forever in a
/// busy loop once the SSH session or tmux pane went away.
fn input_ready(wait: Duration) -> Result<bool, Gone> {
    let mut fd = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = wait.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one pollfd on our stack, for the call's duration.
    let n = unsafe { libc::poll(&mut fd, 1, ms) };
    if n < 0 {
        // EINTR from a signal: the caller looks at the flag and polls again.
        return Ok(false);
    }
    if fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        return Err(Gone::Hangup);
    }
    if fd.revents & libc::POLLIN == 0 {
        return Ok(false);
    }
    // Readable with nothing to read is the end of file; asking how much waits does not
    // consume it, as a read would.
    let mut waiting: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to a live local.
    let ok = unsafe { libc::ioctl(libc::STDIN_FILENO, libc::FIONREAD, &mut waiting) } == 0;
    if ok && waiting == 0 {
        return Err(Gone::Empty);
    }
    Ok(true)
}

/// Reads the terminal until `tx` closes, a termination signal comes, or the input is gone.
pub fn run(tx: Sender<Msg>, started: Instant) {
    let mut next_tick = Instant::now();
    let mut empty_looks = 0;
    loop {
        if TERMINATED_BY.load(Ordering::SeqCst) != 0 {
            let _ = tx.send(Msg::Quit);
            return;
        }
        if STOP_ASKED.swap(false, Ordering::SeqCst) && tx.send(Msg::Suspend).is_err() {
            return;
        }
        let now = Instant::now();
        if now >= next_tick {
            if tx.send(Msg::Tick(clock(started))).is_err() {
                return;
            }
            next_tick = now + TICK;
        }
        let wait = next_tick.saturating_duration_since(Instant::now());
        match input_ready(wait) {
            Err(Gone::Hangup) => {
                let _ = tx.send(Msg::Quit);
                return;
            }
            Err(Gone::Empty) => {
                empty_looks += 1;
                if empty_looks >= EMPTY_LOOKS {
                    let _ = tx.send(Msg::Quit);
                    return;
                }
                std::thread::sleep(EMPTY_PAUSE);
                continue;
            }
            Ok(_) => empty_looks = 0,
        }
        // crossterm may hold more than one event from a read, and learns of resizes
        // through its own signal handler: take all it has.
        while let Ok(true) = event::poll(Duration::ZERO) {
            let msg = match event::read() {
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release && is_ctrl_z(&k) => {
                    Msg::Suspend
                }
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => Msg::Key(k),
                Ok(Event::Paste(text)) => Msg::Paste(text),
                Ok(Event::Resize(_, _)) => Msg::Resize,
                Ok(_) => continue,
                Err(_) => Msg::Quit,
            };
            let last = matches!(msg, Msg::Quit);
            if tx.send(msg).is_err() || last {
                return;
            }
        }
    }
}
