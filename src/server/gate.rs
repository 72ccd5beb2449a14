//! How many requests run at once, and the drain at shutdown. Requests run on the
//! thread that read them from their connection; the gate holds the surplus back, and
//! once closed turns new ones away while the ones inside finish.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

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
}

/// A place inside the gate; leaving it lets the next request in.
pub struct Pass<'a>(&'a Gate);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let g = self.0;
        g.inside.fetch_sub(1, SeqCst);
        // SeqCst pairs this with the waiter's count-then-check under the lock: either
        // it sees the place freed, or this sees it waiting and wakes it.
        // One place freed lets one waiter in: waking them all under overload had every
        // waiter take the lock and go back to sleep but one. The drain waits on the same
        // condition, so once the gate is closed everyone is woken.
        if g.closed.load(SeqCst) {
            let _held = g.lock.lock();
            g.changed.notify_all();
        } else if g.waiting.load(SeqCst) > 0 {
            let _held = g.lock.lock();
            g.changed.notify_one();
        }
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
        }
    }

    /// Waits for a free place; None once the gate is closed.
    pub fn enter(&self) -> Option<Pass<'_>> {
        loop {
            if self.closed.load(SeqCst) {
                return None;
            }
            let n = self.inside.load(SeqCst);
            if n < self.places {
                if self
                    .inside
                    .compare_exchange_weak(n, n + 1, SeqCst, SeqCst)
                    .is_ok()
                {
                    return Some(Pass(self));
                }
                continue;
            }
            let mut held = self.lock.lock().ok()?;
            self.waiting.fetch_add(1, SeqCst);
            while self.inside.load(SeqCst) >= self.places && !self.closed.load(SeqCst) {
                match self.changed.wait(held) {
                    Ok(h) => held = h,
                    Err(_) => {
                        self.waiting.fetch_sub(1, SeqCst);
                        return None;
                    }
                }
            }
            self.waiting.fetch_sub(1, SeqCst);
        }
    }

    /// Closes the gate and waits until the requests inside are done or `deadline`
    /// passes; returns how many are still running.
    pub fn drain(&self, deadline: Instant) -> usize {
        self.closed.store(true, SeqCst);
        let Ok(mut held) = self.lock.lock() else {
            return 0;
        };
        self.changed.notify_all();
        while self.inside.load(SeqCst) > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.changed.wait_timeout(held, left) {
                Ok((next, _)) => held = next,
                Err(_) => return 0,
            }
        }
        self.inside.load(SeqCst)
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
        let stuck = Gate::new(1);
        let _p = stuck.enter().unwrap();
        assert_eq!(stuck.drain(Instant::now() + Duration::from_millis(20)), 1);
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
