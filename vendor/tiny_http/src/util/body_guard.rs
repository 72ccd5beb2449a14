use std::io::{Read, Result as IoResult};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most unread body bytes, and time, spent discarding a body before its connection closes.
const MAX_DRAIN: usize = 1024 * 1024;
const MAX_DRAIN_TIME: Duration = Duration::from_secs(2);

/// The body may still have unread bytes.
pub const PENDING: u8 = 0;
/// The body was read to its end: the connection can carry the next request.
pub const COMPLETE: u8 = 1;
/// The client still waits for `100 Continue`, so the body never comes: do not drain.
pub const ABANDONED: u8 = 2;
/// The response broke off part-way, so the client cannot tell where the next one would
/// start: the connection must not carry another request.
pub const BROKEN: u8 = 3;

/// Shared between a request's body reader, the request and its connection.
pub type BodyState = Arc<AtomicU8>;

/// Wraps a request body and records whether it was read to its end.
///
/// A connection whose request body was left unread is closed after the response, instead
/// of parsing the rest of the body as the next request, which would let a body smuggle a
/// request past a front proxy that reuses connections. Before it closes, the rest is
/// drained on drop (bounded in bytes and time), so the close does not turn into a reset
/// that destroys the response in the client's buffers.
pub struct BodyGuard<R: Read> {
    inner: R,
    state: BodyState,
    ended: bool,
}

impl<R: Read> BodyGuard<R> {
    pub fn new(inner: R, state: BodyState) -> BodyGuard<R> {
        state.store(PENDING, Ordering::Release);
        BodyGuard {
            inner,
            state,
            ended: false,
        }
    }
}

impl<R: Read> BodyGuard<R> {
    /// Only a pending body becomes complete: a verdict given otherwise stands.
    fn ended(&mut self) {
        self.ended = true;
        let _ = self
            .state
            .compare_exchange(PENDING, COMPLETE, Ordering::AcqRel, Ordering::Acquire);
    }
}

impl<R: Read> Read for BodyGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.ended {
            self.ended();
        }
        Ok(n)
    }
}

impl<R: Read> Drop for BodyGuard<R> {
    fn drop(&mut self) {
        if self.ended || self.state.load(Ordering::Acquire) == ABANDONED {
            return;
        }
        if discard(&mut self.inner) {
            self.ended();
        }
    }
}

/// Reads and throws away what `reader` still has, at most `MAX_DRAIN` bytes for
/// `MAX_DRAIN_TIME`; true if it reached the end. Before a connection is closed with
/// bytes still coming, so the close does not turn into a reset that destroys the
/// response in the client's buffers.
pub fn discard<R: Read + ?Sized>(reader: &mut R) -> bool {
    let mut buf = [0u8; 8192];
    let mut budget = MAX_DRAIN;
    let deadline = Instant::now() + MAX_DRAIN_TIME;
    while budget > 0 && Instant::now() < deadline {
        match reader.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => budget = budget.saturating_sub(n),
            Err(_) => break,
        }
    }
    false
}
