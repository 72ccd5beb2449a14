//! The revocation deny-list in memory, so a JWT check never reads the store. Loaded from
//! the store at start and written through on every revocation, so it survives restarts.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::oauth::{Revocation, Revoked};

/// Expired entries are swept when an insert finds this many.
const SWEEP_AT: usize = 4096;

#[derive(Default)]
pub struct DenyList {
    /// One map per kind: value → expiry (unix seconds).
    maps: RwLock<[HashMap<String, u64>; 3]>,
}

fn slot(kind: Revoked) -> usize {
    match kind {
        Revoked::Jti => 0,
        Revoked::Digest => 1,
        Revoked::Client => 2,
    }
}

impl DenyList {
    pub fn new(entries: Vec<Revocation>) -> DenyList {
        let list = DenyList::default();
        for r in entries {
            list.insert(&r, 0);
        }
        list
    }

    pub fn insert(&self, r: &Revocation, now: u64) {
        let Ok(mut maps) = self.maps.write() else {
            return;
        };
        let map = &mut maps[slot(r.kind)];
        if map.len() >= SWEEP_AT {
            map.retain(|_, exp| *exp >= now);
        }
        let exp = map.entry(r.value.clone()).or_insert(0);
        *exp = (*exp).max(r.expires_at);
    }

    pub fn contains(&self, kind: Revoked, value: &str) -> bool {
        // A poisoned lock means a writer panicked mid-update: deny rather than guess.
        self.maps
            .read()
            .map_or(true, |maps| maps[slot(kind)].contains_key(value))
    }

    pub fn is_empty(&self, kind: Revoked) -> bool {
        self.maps
            .read()
            .is_ok_and(|maps| maps[slot(kind)].is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_separate_and_sweeps_keep_live_entries() {
        let d = DenyList::new(vec![Revocation {
            kind: Revoked::Jti,
            value: "a".into(),
            expires_at: 10,
        }]);
        assert!(d.contains(Revoked::Jti, "a"));
        assert!(!d.contains(Revoked::Client, "a"));
        assert!(d.is_empty(Revoked::Digest));
        for i in 0..SWEEP_AT + 1 {
            d.insert(
                &Revocation {
                    kind: Revoked::Jti,
                    value: i.to_string(),
                    expires_at: if i == 7 { 100 } else { 1 },
                },
                50,
            );
        }
        assert!(
            d.contains(Revoked::Jti, "7"),
            "live entry survives the sweep"
        );
        assert!(!d.contains(Revoked::Jti, "a"), "expired entry swept");
    }
}
