//! The registry in memory for the proxy's hot path: one store read after each change
//! instead of one per request. Writes go through the registry API of this process,
//! which drops the snapshot; it is also dropped after `MAX_AGE`, so a change made to
//! the file by another process shows within seconds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::{Page, Store, StoreResult};
use crate::registry::Service;

const MAX_AGE: Duration = Duration::from_secs(5);

struct Snapshot {
    services: HashMap<String, Arc<Service>>,
    /// The same services, by name.
    listed: Arc<[Arc<Service>]>,
    loaded: Instant,
}

pub struct ServiceCache {
    store: Arc<dyn Store>,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// Bumped on every change, so a reload that raced with one is not kept.
    generation: AtomicU64,
}

impl ServiceCache {
    pub fn new(store: Arc<dyn Store>) -> ServiceCache {
        ServiceCache {
            store,
            snapshot: RwLock::new(None),
            generation: AtomicU64::new(0),
        }
    }

    pub fn get(&self, name: &str) -> StoreResult<Option<Arc<Service>>> {
        Ok(self.current()?.services.get(name).cloned())
    }

    /// Every service, by name.
    pub fn all(&self) -> StoreResult<Arc<[Arc<Service>]>> {
        Ok(self.current()?.listed.clone())
    }

    fn current(&self) -> StoreResult<Arc<Snapshot>> {
        let fresh = self
            .snapshot
            .read()
            .ok()
            .and_then(|s| s.clone())
            .filter(|s| s.loaded.elapsed() < MAX_AGE);
        match fresh {
            Some(s) => Ok(s),
            None => self.reload(),
        }
    }

    /// Forgets the snapshot; the next lookup reads the store.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut s) = self.snapshot.write() {
            *s = None;
        }
    }

    fn reload(&self) -> StoreResult<Arc<Snapshot>> {
        let generation = self.generation.load(Ordering::SeqCst);
        let mut listed: Vec<Arc<Service>> = self
            .store
            .list_services(Page::ALL)?
            .into_iter()
            .map(Arc::new)
            .collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        let services = listed.iter().map(|s| (s.name.clone(), s.clone())).collect();
        let snap = Arc::new(Snapshot {
            services,
            listed: listed.into(),
            loaded: Instant::now(),
        });
        if let Ok(mut s) = self.snapshot.write()
            && self.generation.load(Ordering::SeqCst) == generation
        {
            *s = Some(snap.clone());
        }
        Ok(snap)
    }
}
