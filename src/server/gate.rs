//! How many requests run at once, and the drain at shutdown. Requests run on the
//! thread that read them from their connection; the gate holds the surplus back, and
//! once closed turns new ones away while the ones inside finish.

use std::sync::{Condvar, Mutex};
use std::time::Instant;

struct State {
    free: usize,
    inside: usize,
    closed: bool,
}

pub struct Gate {
    state: Mutex<State>,
    changed: Condvar,
}

/// A place inside the gate; leaving it lets the next request in.
pub struct Pass<'a>(&'a Gate);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.free += 1;
            s.inside -= 1;
        }
        self.0.changed.notify_all();
    }
}

impl Gate {
    pub fn new(places: usize) -> Gate {
        Gate {
            state: Mutex::new(State {
                free: places.max(1),
                inside: 0,
                closed: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// Waits for a free place; None once the gate is closed.
    pub fn enter(&self) -> Option<Pass<'_>> {
        let mut s = self.state.lock().ok()?;
        while s.free == 0 && !s.closed {
            s = self.changed.wait(s).ok()?;
        }
        if s.closed {
            return None;
        }
        s.free -= 1;
        s.inside += 1;
        Some(Pass(self))
    }

    /// Closes the gate and waits until the requests inside are done or `deadline`
    /// passes; returns how many are still running.
    pub fn drain(&self, deadline: Instant) -> usize {
        let Ok(mut s) = self.state.lock() else {
            return 0;
        };
        s.closed = true;
        self.changed.notify_all();
        while s.inside > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.changed.wait_timeout(s, left) {
                Ok((next, _)) => s = next,
                Err(_) => return 0,
            }
        }
        s.inside
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
}
