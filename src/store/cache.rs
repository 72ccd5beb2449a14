//! The registry in memory for the proxy's hot path: one store read after each change
//! instead of one per request. Writes go through the registry API of this process,
//! which drops the snapshot; it is also dropped after `MAX_AGE`, so a change made to
//! the file by another process shows within seconds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, TryLockError};
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

type Load = Box<dyn Fn() -> StoreResult<Vec<Service>> + Send + Sync>;

pub struct ServiceCache {
    load: Load,
    max_age: Duration,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// Bumped on every change, so a reload that raced with one is not kept.
    generation: AtomicU64,
    /// Held by the one thread that reloads. Without it, every worker that saw the
    /// snapshot age out read the store at once, each on a connection of its own: a
    /// stall of all requests for tens of milliseconds every `MAX_AGE` under load.
    reloading: Mutex<()>,
}

impl ServiceCache {
    pub fn new(store: Arc<dyn Store>) -> ServiceCache {
        ServiceCache::with_loader(MAX_AGE, Box::new(move || store.list_services(Page::ALL)))
    }

    fn with_loader(max_age: Duration, load: Load) -> ServiceCache {
        ServiceCache {
            load,
            max_age,
            snapshot: RwLock::new(None),
            generation: AtomicU64::new(0),
            reloading: Mutex::new(()),
        }
    }

    pub fn get(&self, name: &str) -> StoreResult<Option<Arc<Service>>> {
        Ok(self.current()?.services.get(name).cloned())
    }

    /// Every service, by name.
    pub fn all(&self) -> StoreResult<Arc<[Arc<Service>]>> {
        Ok(self.current()?.listed.clone())
    }

    /// The snapshot, reloaded by one thread once it is older than `max_age`; the others
    /// go on with the aged one meanwhile. After `invalidate` there is none to go on
    /// with, so they wait for the reload, and see this process's writes at once.
    fn current(&self) -> StoreResult<Arc<Snapshot>> {
        let held = self.held();
        if let Some(s) = held.as_ref().filter(|s| s.loaded.elapsed() < self.max_age) {
            return Ok(s.clone());
        }
        let _turn = match (held, self.reloading.try_lock()) {
            (_, Ok(turn)) => turn,
            (_, Err(TryLockError::Poisoned(p))) => p.into_inner(),
            (Some(aged), Err(TryLockError::WouldBlock)) => return Ok(aged),
            (None, Err(TryLockError::WouldBlock)) => self.wait_turn(),
        };
        // Another thread may have reloaded while this one waited for its turn.
        match self.held().filter(|s| s.loaded.elapsed() < self.max_age) {
            Some(s) => Ok(s),
            None => self.reload(),
        }
    }

    fn held(&self) -> Option<Arc<Snapshot>> {
        self.snapshot.read().ok().and_then(|s| s.clone())
    }

    fn wait_turn(&self) -> MutexGuard<'_, ()> {
        self.reloading.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut s) = self.snapshot.write() {
            *s = None;
        }
    }

    fn reload(&self) -> StoreResult<Arc<Snapshot>> {
        let generation = self.generation.load(Ordering::SeqCst);
        let mut listed: Vec<Arc<Service>> = (self.load)()?.into_iter().map(Arc::new).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::sync::atomic::AtomicUsize;

    fn service(name: &str) -> Service {
        Service::new(
            name.into(),
            "http://127.0.0.1:1/wps".into(),
            "wps".into(),
            String::new(),
            "token".into(),
            true,
        )
    }

    /// A cache whose loads take 50 ms and are counted.
    fn slow_cache(max_age: Duration) -> (Arc<ServiceCache>, Arc<AtomicUsize>) {
        let loads = Arc::new(AtomicUsize::new(0));
        let counted = loads.clone();
        let cache = ServiceCache::with_loader(
            max_age,
            Box::new(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                Ok(vec![service("emu")])
            }),
        );
        (Arc::new(cache), loads)
    }

    /// `n` threads ask at once; returns how many found `emu`.
    fn ask_at_once(cache: &Arc<ServiceCache>, n: usize) -> usize {
        let barrier = Arc::new(Barrier::new(n));
        let threads: Vec<_> = (0..n)
            .map(|_| {
                let (cache, barrier) = (cache.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    cache.get("emu").unwrap().is_some()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&found| found)
            .count()
    }

    #[test]
    fn one_load_for_many_waiting_readers() {
        let (cache, loads) = slow_cache(MAX_AGE);
        assert_eq!(ask_at_once(&cache, 8), 8);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        cache.invalidate();
        assert_eq!(ask_at_once(&cache, 8), 8);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_aged_snapshot_is_reloaded_by_one_reader() {
        let (cache, loads) = slow_cache(Duration::ZERO);
        assert!(cache.get("emu").unwrap().is_some());
        // Every snapshot is aged at once: one reader reloads at a time and the rest go
        // on with the aged one, instead of each of the 16 loading its own.
        assert_eq!(ask_at_once(&cache, 16), 16);
        let n = loads.load(Ordering::SeqCst);
        assert!((2..=8).contains(&n), "{n} loads");
    }
}
