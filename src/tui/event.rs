//! Input and time for the UI loop: a thread that turns terminal events into messages
//! and sends a tick every `TICK`, so the countdowns and the spinner move and the
//! traffic poll is due on time. SIGTERM and SIGHUP end the loop like `q` does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ratatui::crossterm::event::{self, Event, KeyEventKind};

use super::app::{Clock, Msg};

pub const TICK: Duration = Duration::from_millis(250);

/// Set from a signal handler, which may do nothing else.
static TERMINATED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    TERMINATED.store(true, Ordering::SeqCst);
}

/// SIGTERM and SIGHUP (the SSH session went away) end the TUI through its normal exit,
/// which restores the terminal.
pub fn catch_termination() {
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

pub fn clock(started: Instant) -> Clock {
    Clock {
        since_start: started.elapsed(),
        unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}

/// Reads the terminal until `tx` closes, a termination signal comes, or the input is gone.
pub fn run(tx: Sender<Msg>, started: Instant) {
    let mut next_tick = Instant::now();
    loop {
        if TERMINATED.load(Ordering::SeqCst) {
            let _ = tx.send(Msg::Quit);
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
        let msg = match event::poll(wait) {
            Ok(false) => continue,
            Ok(true) => match event::read() {
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => Msg::Key(k),
                Ok(Event::Paste(text)) => Msg::Paste(text),
                Ok(Event::Resize(_, _)) => Msg::Resize,
                Ok(_) => continue,
                Err(_) => Msg::Quit,
            },
            Err(_) => Msg::Quit,
        };
        let last = matches!(msg, Msg::Quit);
        if tx.send(msg).is_err() || last {
            return;
        }
    }
}
