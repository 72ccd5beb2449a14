//! Random tokens found in the store recently, so a bearer's every request is not a
//! store read (a read transaction takes file locks, and the store's connection pool a
//! mutex, on the proxy's hot path).
//!
//! Only tokens that were found are kept, never misses: a token issued by another
//! process sharing the file works at once, and random guesses cannot fill the map.
//! Revocations through this process drop their entries at once. An entry lives at
//! most `MAX_AGE`, so a token deleted by another `twitcher serve` on the same file
//! stops working within that.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::oauth::StoredToken;

const MAX_AGE: Duration = Duration::from_secs(2);
/// At this many entries, an insert first drops the aged ones, then all if none were.
const MAX_ENTRIES: usize = 8192;
/// Locks that let one lookup per token go to the store once its entry has aged out.
const LOADING_STRIPES: usize = 16;

struct Entry {
    token: Arc<StoredToken>,
    loaded: Instant,
}

#[derive(Default)]
pub struct RecentTokens {
    map: RwLock<HashMap<Vec<u8>, Entry>>,
    /// Bumped by every removal, so a lookup that raced with one does not put back
    /// what it read before the token was deleted.
    generation: AtomicU64,
    /// A token used on many connections at once ages out on all of them at once;
    /// without these, each would read the store on a connection of its own.
    loading: [Mutex<()>; LOADING_STRIPES],
}

/// Taken before a store read; `insert` keeps the result only if nothing was removed since.
#[derive(Clone, Copy)]
struct Ticket(u64);

impl RecentTokens {
    /// `Ok(Some)` while fresh, `Err(())` once aged, `Ok(None)` when never found.
    fn lookup(&self, digest: &[u8]) -> Result<Option<Arc<StoredToken>>, ()> {
        let Ok(map) = self.map.read() else {
            return Ok(None);
        };
        match map.get(digest) {
            Some(e) if e.loaded.elapsed() < MAX_AGE => Ok(Some(e.token.clone())),
            Some(_) => Err(()),
            None => Ok(None),
        }
    }

    /// The token from memory, else from `load` (the store), kept when found. Once an
    /// entry has aged, one caller per token loads it and the others wait for that.
    /// Tokens never found take no lock: guesses cannot hold up real ones.
    pub fn get_or_load<E>(
        &self,
        digest: &[u8],
        load: impl FnOnce() -> Result<Option<StoredToken>, E>,
    ) -> Result<Option<Arc<StoredToken>>, E> {
        let _turn = match self.lookup(digest) {
            Ok(Some(t)) => return Ok(Some(t)),
            Ok(None) => None,
            Err(()) => {
                let stripe = usize::from(digest.first().copied().unwrap_or(0)) % LOADING_STRIPES;
                let turn = self.loading[stripe]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if let Ok(Some(t)) = self.lookup(digest) {
                    return Ok(Some(t));
                }
                Some(turn)
            }
        };
        let ticket = self.ticket();
        Ok(load()?.map(|t| {
            let t = Arc::new(t);
            self.insert(ticket, t.clone());
            t
        }))
    }

    fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::SeqCst))
    }

    fn insert(&self, ticket: Ticket, token: Arc<StoredToken>) {
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if self.generation.load(Ordering::SeqCst) != ticket.0 {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| e.loaded.elapsed() < MAX_AGE);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        let entry = Entry {
            token: token.clone(),
            loaded: Instant::now(),
        };
        map.insert(token.digest.clone(), entry);
    }

    pub fn remove(&self, digest: &[u8]) {
        self.remove_where(|t| t.digest == digest);
    }

    pub fn remove_client(&self, client_id: &str) {
        self.remove_where(|t| t.client_id == client_id);
    }

    fn remove_where(&self, gone: impl Fn(&StoredToken) -> bool) {
        // Bumped before the entries go: a lookup holding an older ticket is refused.
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.map.write() {
            map.retain(|_, e| !gone(&e.token));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl RecentTokens {
        fn get(&self, digest: &[u8]) -> Option<Arc<StoredToken>> {
            self.lookup(digest).ok().flatten()
        }
    }

    fn token(digest: u8, client: &str) -> Arc<StoredToken> {
        Arc::new(StoredToken {
            digest: vec![digest; 32],
            client_id: client.to_string(),
            scopes: vec!["compute".into()],
            expires_at: u64::MAX,
        })
    }

    #[test]
    fn kept_until_removed() {
        let r = RecentTokens::default();
        r.insert(r.ticket(), token(1, "a"));
        r.insert(r.ticket(), token(2, "b"));
        assert_eq!(r.get(&[1; 32]).unwrap().client_id, "a");
        r.remove(&[1; 32]);
        assert!(r.get(&[1; 32]).is_none());
        assert!(r.get(&[2; 32]).is_some());
        r.remove_client("b");
        assert!(r.get(&[2; 32]).is_none());
    }

    #[test]
    fn a_lookup_older_than_a_removal_is_not_kept() {
        let r = RecentTokens::default();
        let before = r.ticket();
        r.remove(&[1; 32]);
        r.insert(before, token(1, "a"));
        assert!(r.get(&[1; 32]).is_none());
        r.insert(r.ticket(), token(1, "a"));
        assert!(r.get(&[1; 32]).is_some());
    }

    #[test]
    fn bounded() {
        let r = RecentTokens::default();
        for i in 0..(MAX_ENTRIES + 10) {
            let mut t = StoredToken::clone(&token(0, "a"));
            t.digest = (i as u64).to_be_bytes().to_vec();
            r.insert(r.ticket(), Arc::new(t));
        }
        assert!(r.map.read().unwrap().len() <= MAX_ENTRIES);
    }

    #[test]
    fn an_aged_token_is_loaded_once_for_many_waiting_callers() {
        let r = Arc::new(RecentTokens::default());
        r.insert(r.ticket(), token(7, "a"));
        for e in r.map.write().unwrap().values_mut() {
            e.loaded = Instant::now().checked_sub(MAX_AGE).unwrap();
        }
        let loads = Arc::new(AtomicU64::new(0));
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (r, loads, barrier) = (r.clone(), loads.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    r.get_or_load(&[7; 32], || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50));
                        Ok::<_, ()>(Some(StoredToken::clone(&token(7, "a"))))
                    })
                    .unwrap()
                    .map(|t| t.client_id.clone())
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap().as_deref(), Some("a"));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn tokens_never_found_are_looked_up_every_time_and_not_kept() {
        let r = RecentTokens::default();
        let mut loads = 0;
        for _ in 0..3 {
            let got = r.get_or_load(&[9; 32], || {
                loads += 1;
                Ok::<_, ()>(None)
            });
            assert!(got.unwrap().is_none());
        }
        assert_eq!(loads, 3);
        assert!(r.map.read().unwrap().is_empty());
    }
}
