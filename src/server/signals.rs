//! SIGTERM and SIGINT, taken synchronously with `sigwait` instead of in a handler.

fn termination_set() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local value.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Blocks the signals in the calling thread and every thread it starts later.
pub fn block_termination() {
    let set = termination_set();
    // SAFETY: changes only this thread's signal mask.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits for SIGTERM or SIGINT and names it.
pub fn wait() -> &'static str {
    let set = termination_set();
    let mut sig: libc::c_int = 0;
    // SAFETY: the signals are blocked, so sigwait receives them.
    unsafe {
        libc::sigwait(&set, &mut sig);
    }
    if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

/// A second signal during a graceful stop ends the process at once.
pub fn exit_on_second_signal() {
    std::thread::spawn(|| {
        let name = wait();
        crate::log::warn(&format!("{name} received again: exiting now"));
        crate::log::flush(std::time::Duration::from_millis(200));
        std::process::exit(1);
    });
}
