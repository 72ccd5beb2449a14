//! TCP connections to backends for ureq: its own TCP transport, but for how a pooled
//! connection is checked. ureq probes a connection each time it goes into the pool and
//! each time it comes out, and its probe switches the socket to non-blocking, reads,
//! and switches back: six system calls per proxied request. Here a probe is one
//! `recv(MSG_PEEK | MSG_DONTWAIT)`, which tells the same things (nothing waiting:
//! open; end of stream, an error, or bytes nobody asked for: not reusable) without
//! touching the socket's mode, and only the probe on the way out is made: whatever the
//! one on the way in would see (bytes after the body, the backend's close) is still
//! there, or has happened, when the connection comes out.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Weak};

use ureq::Timeout;
use ureq::unversioned::transport::time::Duration;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};

/// Opens plain TCP connections; a connection made earlier in the chain (a CONNECT
/// proxy's) passes through.
#[derive(Debug, Default)]
pub struct TcpConnector;

impl<In: Transport> Connector<In> for TcpConnector {
    type Out = Either<In, Tcp>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() {
            return Ok(chained.map(Either::A));
        }
        let config = details.config;
        let stream = connect(details)?;
        if config.no_delay() {
            stream.set_nodelay(true)?;
        }
        let transport = Tcp {
            stream: Arc::new(stream),
            buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()),
            read_timeout: None,
            write_timeout: None,
            answer_read: false,
        };
        let handle: Weak<dyn ShutdownHandle> = Arc::downgrade(&transport.stream) as _;
        (details.register_shutdown)(handle)?;
        Ok(Some(Either::B(transport)))
    }
}

/// Tries the resolved addresses in turn, within the connect timeout.
fn connect(details: &ConnectionDetails) -> Result<TcpStream, ureq::Error> {
    let started = std::time::Instant::now();
    let budget = details.timeout.not_zero().map(|d: Duration| *d);
    let count = details.addrs.len();
    let mut last = None;
    for (i, addr) in details.addrs.iter().enumerate() {
        let attempt = match budget.map(|b| b.saturating_sub(started.elapsed())) {
            Some(left) if left.is_zero() => return Err(ureq::Error::Timeout(Timeout::Connect)),
            Some(left) => TcpStream::connect_timeout(addr, attempt_budget(left, count - i)),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(s) => return Ok(s),
            Err(e) if timed_out(&e) => last = Some(ureq::Error::Timeout(Timeout::Connect)),
            Err(e) => last = Some(ureq::Error::Io(e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        ureq::Error::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "no address to connect to",
        ))
    }))
}

/// What one attempt may take of what is `left`, with `untried` addresses to go (this
/// one included): an equal share, so that an address that swallows its packets (a
/// host's IPv6 address on a network without IPv6, say) cannot take the whole connect
/// timeout from the ones after it. The last address gets all that is left.
fn attempt_budget(left: std::time::Duration, untried: usize) -> std::time::Duration {
    let share = left / u32::try_from(untried.max(1)).unwrap_or(u32::MAX);
    // connect_timeout refuses a zero duration.
    share.max(std::time::Duration::from_millis(1)).min(left)
}

pub struct Tcp {
    /// Shared (weakly) with the agent, which may shut it down from another thread.
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    /// What the socket is set to, so an unchanged timeout costs no system call.
    read_timeout: Option<std::time::Duration>,
    write_timeout: Option<std::time::Duration>,
    /// Bytes came since the last `is_open`: the next one is ureq returning the
    /// connection to the pool after an answer.
    answer_read: bool,
}

impl fmt::Debug for Tcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tcp")
            .field("peer", &self.stream.peer_addr().ok())
            .finish()
    }
}

/// The timeout this call may take, or ureq's timeout error when none is left.
fn budget(t: NextTimeout) -> Result<(Option<std::time::Duration>, Timeout), ureq::Error> {
    if t.after.is_zero() {
        return Err(ureq::Error::Timeout(t.reason));
    }
    Ok((t.not_zero().map(|d: Duration| *d), t.reason))
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

impl Tcp {
    /// `recv(MSG_PEEK | MSG_DONTWAIT)` of one byte: 1 when bytes wait, 0 at end of
    /// stream, -1 with errno set otherwise (`EAGAIN` when nothing waits).
    fn peek(&self) -> isize {
        let mut byte = 0u8;
        // SAFETY: a one-byte buffer that lives across the call, on a socket this owns.
        unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        }
    }
}

impl Transport for Tcp {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let (timeout, reason) = budget(timeout.for_write())?;
        if timeout != self.write_timeout {
            self.stream.set_write_timeout(timeout)?;
            self.write_timeout = timeout;
        }
        let output = &self.buffers.output()[..amount];
        match (&*self.stream).write_all(output) {
            Ok(()) => Ok(()),
            Err(e) if timed_out(&e) => Err(ureq::Error::Timeout(reason)),
            Err(e) => Err(e.into()),
        }
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let (timeout, reason) = budget(timeout.for_read())?;
        if timeout != self.read_timeout {
            self.stream.set_read_timeout(timeout)?;
            self.read_timeout = timeout;
        }
        let input = self.buffers.input_append_buf();
        let n = loop {
            match (&*self.stream).read(input) {
                Ok(n) => break n,
                // A signal: the socket's timeout starts again, as it would in ureq's
                // transport without a deadline.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if timed_out(&e) => return Err(ureq::Error::Timeout(reason)),
                Err(e) => return Err(e.into()),
            }
        };
        self.buffers.input_appended(n);
        self.answer_read |= n > 0;
        Ok(n > 0)
    }

    /// ureq asks as a connection goes into the pool, right after its answer was read,
    /// and again as it comes out; only the second one probes (see the module's doc).
    fn is_open(&mut self) -> bool {
        if std::mem::take(&mut self.answer_read) {
            return true;
        }
        self.peek() < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration as StdDuration;

    #[test]
    fn each_address_gets_a_share_of_the_connect_timeout_and_the_last_all_that_is_left() {
        let ms = StdDuration::from_millis;
        assert_eq!(attempt_budget(ms(5000), 2), ms(2500));
        assert_eq!(attempt_budget(ms(5000), 4), ms(1250));
        assert_eq!(attempt_budget(ms(3000), 1), ms(3000));
        // Never zero, which connect_timeout refuses, and never more than is left.
        assert_eq!(attempt_budget(StdDuration::from_micros(1500), 3), ms(1));
        assert_eq!(
            attempt_budget(StdDuration::from_micros(500), 3),
            StdDuration::from_micros(500)
        );
        assert_eq!(attempt_budget(ms(10), 0), ms(10));
    }

    fn pair() -> (Tcp, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, _) = l.accept().unwrap();
        let t = Tcp {
            stream: Arc::new(client),
            buffers: LazyBuffers::new(1024, 1024),
            read_timeout: None,
            write_timeout: None,
            answer_read: false,
        };
        (t, server)
    }

    #[test]
    fn open_while_nothing_is_waiting() {
        let (mut t, _server) = pair();
        assert!(t.is_open());
        assert!(
            t.is_open(),
            "a probe must not change what the next one sees"
        );
    }

    #[test]
    fn not_reusable_after_a_close_or_unasked_bytes() {
        let (mut t, server) = pair();
        drop(server);
        // The FIN may trail the close a moment.
        let closed = (0..1000).any(|_| {
            std::thread::yield_now();
            !t.is_open()
        });
        assert!(closed);

        let (mut t, mut server) = pair();
        server.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
        let seen = (0..1000).any(|_| {
            std::thread::yield_now();
            !t.is_open()
        });
        assert!(seen);
    }

    #[test]
    fn only_the_check_on_the_way_out_of_the_pool_probes() {
        let (mut t, mut server) = pair();
        server
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .unwrap();
        let timeout = NextTimeout {
            after: Duration::NotHappening,
            reason: Timeout::RecvResponse,
            per_read: None,
            per_write: None,
        };
        assert!(t.await_input(timeout).unwrap());
        // Bytes nobody asked for, after the answer.
        server.write_all(b"junk").unwrap();
        let arrived = (0..1000).any(|_| {
            std::thread::yield_now();
            t.peek() == 1
        });
        assert!(arrived);
        assert!(t.is_open(), "going into the pool: no probe");
        assert!(!t.is_open(), "coming out: the probe sees the unasked bytes");
    }
}
