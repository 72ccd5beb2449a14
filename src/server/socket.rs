//! The listening socket and its options, set with libc where std has no API.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

fn setsockopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> std::io::Result<()> {
    // SAFETY: `value` points to a live T of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Binds and sets, on the listener, options that Linux copies to every accepted socket:
/// TCP_NODELAY (without it a keep-alive response over ~1 KiB stalls 40 ms on delayed ACKs)
/// and receive/send timeouts (idle keep-alive, slow bodies and stalled readers end).
pub fn bind(addr: &str, idle: Duration) -> std::io::Result<TcpListener> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    let listener = TcpListener::bind(&addrs[..])?;
    let fd = listener.as_raw_fd();
    setsockopt(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_NODELAY,
        &(1 as libc::c_int),
    )?;
    let tv = libc::timeval {
        tv_sec: idle.as_secs() as _,
        tv_usec: idle.subsec_micros() as _,
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, &tv)?;
    Ok(listener)
}

pub fn raw_fd(listener: &TcpListener) -> RawFd {
    listener.as_raw_fd()
}

/// Makes the blocked `accept` fail, which ends tiny_http's accept thread; clients that
/// connect afterwards are refused instead of queued behind a server that is going away.
pub fn stop_accepting(fd: RawFd) {
    // SAFETY: shutdown on a descriptor we own; failure leaves it as it was.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

/// Lifts the soft open-files limit to the hard one, so thousands of connections do not
/// run into EMFILE at the default 1024.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
