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
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::oauth::StoredToken;

const MAX_AGE: Duration = Duration::from_secs(2);
/// At this many entries, an insert first drops the aged ones, then all if none were.
const MAX_ENTRIES: usize = 8192;

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
}

/// Taken before a store read; `insert` keeps the result only if nothing was removed since.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl RecentTokens {
    pub fn get(&self, digest: &[u8]) -> Option<Arc<StoredToken>> {
        let map = self.map.read().ok()?;
        map.get(digest)
            .filter(|e| e.loaded.elapsed() < MAX_AGE)
            .map(|e| e.token.clone())
    }

    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::SeqCst))
    }

    pub fn insert(&self, ticket: Ticket, token: Arc<StoredToken>) {
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
}
