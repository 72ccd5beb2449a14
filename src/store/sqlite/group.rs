//! Group commit for random-token grants. Every grant is a write, and with
//! `synchronous = FULL` every commit waits for an fsync (milliseconds on most disks), so
//! one commit per token caps issuance at a few hundred per second. Here the grants that
//! arrive while a commit is syncing wait together and share the next transaction and its
//! fsync; each is acknowledged only after that commit, so durability is unchanged.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

use rusqlite::{Connection, TransactionBehavior};

use super::{connect, oauth, other, other_ref};
use crate::oauth::StoredToken;
use crate::store::{StoreError, StoreResult};

/// Grants per transaction at most, so one commit stays short.
const MAX_BATCH: usize = 512;

struct Job {
    token: StoredToken,
    now: u64,
    done: SyncSender<StoreResult<()>>,
}

/// The queue to the one thread that writes token grants.
pub struct GroupWriter {
    jobs: Sender<Job>,
}

impl GroupWriter {
    pub fn start(path: PathBuf) -> StoreResult<GroupWriter> {
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("token-writer".into())
            .spawn(move || run(&path, rx))
            .map_err(|e| StoreError::Other(format!("cannot start the token writer: {e}")))?;
        Ok(GroupWriter { jobs })
    }

    /// Returns once the token is committed and synced.
    pub fn save(&self, token: &StoredToken, now: u64) -> StoreResult<()> {
        let stopped = || StoreError::Other("the token writer stopped".into());
        let (done, result) = mpsc::sync_channel(1);
        self.jobs
            .send(Job {
                token: token.clone(),
                now,
                done,
            })
            .map_err(|_| stopped())?;
        result.recv().map_err(|_| stopped())?
    }
}

fn run(path: &Path, rx: Receiver<Job>) {
    let mut conn = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = commit(&mut conn, path, &batch);
        for (job, r) in batch.into_iter().zip(results) {
            let _ = job.done.send(r);
        }
    }
}

/// One transaction for the batch; each grant in its own savepoint, so one that fails
/// (its client was just deleted) fails alone.
fn commit(conn: &mut Option<Connection>, path: &Path, batch: &[Job]) -> Vec<StoreResult<()>> {
    let all = |e: &rusqlite::Error| batch.iter().map(|_| Err(other_ref(e))).collect();
    let c = match conn {
        Some(c) => c,
        None => match connect(path) {
            Ok(c) => conn.insert(c),
            Err(e) => return all(&e),
        },
    };
    let mut tx = match c.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return all(&e),
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let r = tx.savepoint().and_then(|sp| {
            oauth::save_token(&sp, &job.token, job.now)?;
            sp.commit()
        });
        results.push(r.map_err(other));
    }
    match tx.commit() {
        Ok(()) => results,
        Err(e) => all(&e),
    }
}
