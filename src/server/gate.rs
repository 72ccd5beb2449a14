//! How many requests run at once, and the drain at shutdown. Requests run on the
//! thread that read them from their connection; the gate holds the surplus back, and
//! once closed turns new ones away while the ones inside finish.
//!
//! A request gives its place up while it waits on its client's body
//! (`waiting_on_client`): otherwise a few dozen clients sending a body a byte a minute,
//! with no token, would hold every place and stop the server.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// Bytes that requests away from the gate may hold between them. A request that has
/// read more than what is left keeps its place while it reads on, so a flood of large
/// bodies stays bounded by the places as before.
const AWAY_BUDGET: usize = 256 << 20;

/// Entering and leaving are atomic operations on `inside`; the lock and the condition
/// variable are only touched when a request has to wait or the drain has begun, so a
/// request that finds a free place costs no system call (a condvar notify is a futex
/// call even with nobody waiting, and 32 threads contend on a mutex).
pub struct Gate {
    places: usize,
    inside: AtomicUsize,
    closed: AtomicBool,
    /// Requests waiting for a place; counted under `lock`.
    waiting: AtomicUsize,
    lock: Mutex<()>,
    changed: Condvar,
    /// Requests under way, with a place or without one for now: what the drain waits for.
    running: AtomicUsize,
    /// What requests away from their place have read so far, within `AWAY_BUDGET`.
    away_bytes: AtomicUsize,
}

/// This thread's request and its place.
struct Holding {
    gate: Option<Arc<Gate>>,
    /// Whether it holds its place now (not while it waits on its client, nor once it
    /// has given the place up for good).
    placed: bool,
    /// Whether it gives the place up while it waits on its client: an anonymous request
    /// does, one that a token or certificate let through keeps it from then on.
    yields: bool,
}

thread_local! {
    static HOLDING: RefCell<Holding> = const {
        RefCell::new(Holding { gate: None, placed: false, yields: false })
    };
}

/// A request under way, from the place it took until it has answered.
pub struct Pass(Arc<Gate>);

impl Drop for Pass {
    fn drop(&mut self) {
        let placed = HOLDING.with(|h| {
            let mut h = h.borrow_mut();
            h.gate = None;
            std::mem::take(&mut h.placed)
        });
        if placed {
            self.0.release();
        }
        self.0.running.fetch_sub(1, SeqCst);
        if self.0.closed.load(SeqCst) {
            self.0.wake_all();
        }
    }
}

/// A request away from its place while it waits on its client; it takes one again
/// when it comes back, even from a panic.
struct Away<'a> {
    gate: &'a Gate,
    held: usize,
}

impl Drop for Away<'_> {
    fn drop(&mut self) {
        // Only a poisoned lock keeps it out; then it must not give back a place later.
        let back = self.gate.take(true);
        self.gate.away_bytes.fetch_sub(self.held, SeqCst);
        HOLDING.with(|h| h.borrow_mut().placed = back);
    }
}

/// Runs `read`, a read from the client, with this thread's place given up when its
/// request holds one, gives it up while waiting, and `held` (the bytes it has read so
/// far) fits in what is left of `AWAY_BUDGET`; the place is taken again, waiting for
/// one if need be, before it returns.
pub fn waiting_on_client<T>(held: u64, read: impl FnOnce() -> T) -> T {
    let gate = HOLDING.with(|h| {
        let h = h.borrow();
        h.gate.clone().filter(|_| h.placed && h.yields)
    });
    let Some(gate) = gate else {
        return read();
    };
    let held = usize::try_from(held).unwrap_or(usize::MAX);
    let before = gate.away_bytes.fetch_add(held, SeqCst);
    if before.saturating_add(held) > AWAY_BUDGET {
        gate.away_bytes.fetch_sub(held, SeqCst);
        return read();
    }
    HOLDING.with(|h| h.borrow_mut().placed = false);
    let _back = Away { gate: &gate, held };
    gate.release();
    read()
}

/// This thread's request keeps its place while it reads on: a token or certificate has
/// let it through, and it is no longer put behind new arrivals at each read.
pub fn keep_place() {
    HOLDING.with(|h| h.borrow_mut().yields = false);
}

/// Gives this thread's place up for good, the request still counting as under way:
/// for an answer held whole in memory, whose writing waits only on the client (and on
/// draining what it still sends of an unread body).
pub fn leave_place() {
    let gate = HOLDING.with(|h| {
        let mut h = h.borrow_mut();
        let placed = std::mem::take(&mut h.placed);
        h.gate.clone().filter(|_| placed)
    });
    if let Some(gate) = gate {
        gate.release();
    }
}

impl Gate {
    pub fn new(places: usize) -> Gate {
        Gate {
            places: places.max(1),
            inside: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            lock: Mutex::new(()),
            changed: Condvar::new(),
            running: AtomicUsize::new(0),
            away_bytes: AtomicUsize::new(0),
        }
    }

    fn release(&self) {
        self.inside.fetch_sub(1, SeqCst);
        // SeqCst pairs this with the waiter's count-then-check under the lock: either
        // it sees the place freed, or this sees it waiting and wakes it.
        // One place freed lets one waiter in: waking them all under overload had every
        // waiter take the lock and go back to sleep but one. The drain waits on the same
        // condition, so once the gate is closed everyone is woken.
        if self.closed.load(SeqCst) {
            self.wake_all();
        } else if self.waiting.load(SeqCst) > 0 {
            let _held = self.lock.lock();
            self.changed.notify_one();
        }
    }

    /// Wakes every waiter and the drain; under the lock, so none misses it between its
    /// check and its wait.
    fn wake_all(&self) {
        let _held = self.lock.lock();
        self.changed.notify_all();
    }

    /// Waits for a free place and takes it; false once the gate is closed, unless
    /// `returning`: a request already under way takes its place back even then, over
    /// the number if need be.
    fn take(&self, returning: bool) -> bool {
        loop {
            if self.closed.load(SeqCst) {
                if returning {
                    self.inside.fetch_add(1, SeqCst);
                }
                return returning;
            }
            let n = self.inside.load(SeqCst);
            if n < self.places {
                if self
                    .inside
                    .compare_exchange_weak(n, n + 1, SeqCst, SeqCst)
                    .is_ok()
                {
                    return true;
                }
                continue;
            }
            let Ok(mut held) = self.lock.lock() else {
                return false;
            };
            self.waiting.fetch_add(1, SeqCst);
            while self.inside.load(SeqCst) >= self.places && !self.closed.load(SeqCst) {
                match self.changed.wait(held) {
                    Ok(h) => held = h,
                    Err(_) => {
                        self.waiting.fetch_sub(1, SeqCst);
                        return false;
                    }
                }
            }
            self.waiting.fetch_sub(1, SeqCst);
        }
    }

    /// Waits for a free place; None once the gate is closed.
    pub fn enter(self: &Arc<Self>) -> Option<Pass> {
        // Counted before the place is taken, so the drain never misses it.
        self.running.fetch_add(1, SeqCst);
        if !self.take(false) {
            self.running.fetch_sub(1, SeqCst);
            self.wake_all();
            return None;
        }
        HOLDING.with(|h| {
            *h.borrow_mut() = Holding {
                gate: Some(self.clone()),
                placed: true,
                yields: true,
            }
        });
        Some(Pass(self.clone()))
    }

    /// Closes the gate and waits until the requests under way are done or `deadline`
    /// passes; returns how many are still running.
    pub fn drain(&self, deadline: Instant) -> usize {
        self.closed.store(true, SeqCst);
        let Ok(mut held) = self.lock.lock() else {
            return 0;
        };
        self.changed.notify_all();
        while self.running.load(SeqCst) > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.changed.wait_timeout(held, left) {
                Ok((next, _)) => held = next,
                Err(_) => return 0,
            }
        }
        self.running.load(SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn places_are_bounded_and_the_drain_waits_for_them() {
        let gate = Arc::new(Gate::new(1));
        let first = gate.enter().unwrap();
        let g = gate.clone();
        let waiter = std::thread::spawn(move || g.enter().is_some());
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !waiter.is_finished(),
            "the second request waits for a place"
        );
        drop(first);
        assert!(waiter.join().unwrap());
        let inside = gate.enter().unwrap();
        let g = gate.clone();
        let drain = std::thread::spawn(move || g.drain(Instant::now() + Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !drain.is_finished(),
            "the drain waits for the request inside"
        );
        assert!(gate.enter().is_none(), "a closed gate lets nobody in");
        drop(inside);
        assert_eq!(drain.join().unwrap(), 0);
        let stuck = Arc::new(Gate::new(1));
        let _p = stuck.enter().unwrap();
        assert_eq!(stuck.drain(Instant::now() + Duration::from_millis(20)), 1);
    }

    #[test]
    fn a_request_waiting_on_its_client_lets_another_in_and_comes_back() {
        use std::sync::mpsc;
        let gate = Arc::new(Gate::new(1));
        let (to_reader, reading) = mpsc::channel::<()>();
        let (entered, other_in) = mpsc::channel::<()>();
        let g = gate.clone();
        let slow = std::thread::spawn(move || {
            let _pass = g.enter().unwrap();
            waiting_on_client(10, || {
                entered.send(()).unwrap();
                // The client's bytes arrive only once the other request was served.
                reading.recv().unwrap();
            });
            // Back inside: the only place is this request's again.
            assert_eq!(g.inside.load(SeqCst), 1);
        });
        other_in.recv().unwrap();
        assert_eq!(
            (gate.inside.load(SeqCst), gate.running.load(SeqCst)),
            (0, 1)
        );
        let other = gate.enter().expect("the place given up is free");
        drop(other);
        to_reader.send(()).unwrap();
        slow.join().unwrap();
        let counts = |g: &Gate| {
            (
                g.inside.load(SeqCst),
                g.running.load(SeqCst),
                g.away_bytes.load(SeqCst),
            )
        };
        assert_eq!(counts(&gate), (0, 0, 0));
        // Without a place held (the liveness probe), over the budget, or once a
        // credential let the request through, it just reads.
        assert_eq!(waiting_on_client(0, || 7), 7);
        let pass = gate.enter().unwrap();
        waiting_on_client(AWAY_BUDGET as u64 + 1, || {
            assert_eq!(gate.inside.load(SeqCst), 1, "a large body keeps its place");
        });
        keep_place();
        waiting_on_client(1, || assert_eq!(gate.inside.load(SeqCst), 1));
        // Given up for good, the place is free but the request still runs, once.
        leave_place();
        leave_place();
        assert_eq!(counts(&gate), (0, 1, 0));
        drop(pass);
        assert_eq!(counts(&gate), (0, 0, 0));
    }

    #[test]
    fn the_drain_waits_for_requests_away_and_lets_them_back() {
        let gate = Arc::new(Gate::new(1));
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let (away, is_away) = std::sync::mpsc::channel::<()>();
        let g = gate.clone();
        let slow = std::thread::spawn(move || {
            let _pass = g.enter().unwrap();
            waiting_on_client(1, || {
                away.send(()).unwrap();
                wait.recv().unwrap();
            });
        });
        is_away.recv().unwrap();
        // Closed for new requests, but not drained while one is away.
        assert_eq!(gate.drain(Instant::now() + Duration::from_millis(20)), 1);
        assert!(gate.enter().is_none());
        go.send(()).unwrap();
        slow.join().unwrap();
        assert_eq!(gate.drain(Instant::now() + Duration::from_secs(10)), 0);
        assert_eq!(gate.inside.load(SeqCst), 0);
    }

    #[test]
    fn many_threads_never_exceed_the_places_and_all_get_in() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let gate = Arc::new(Gate::new(3));
        let (now, most, done) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (gate, now, most, done) =
                    (gate.clone(), now.clone(), most.clone(), done.clone());
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        let _p = gate.enter().unwrap();
                        let n = now.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(n, SeqCst);
                        std::thread::yield_now();
                        now.fetch_sub(1, SeqCst);
                        done.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(done.load(SeqCst), 16 * 500);
        assert!(most.load(SeqCst) <= 3, "{}", most.load(SeqCst));
        assert_eq!(gate.drain(Instant::now()), 0);
    }
}
