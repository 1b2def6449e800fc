//! The switch's journal: the ring's state and every insert record, in a sled
//! catalog under the switch's data dir, so a restarted switch resumes where
//! it stopped (seed 002: resume an interrupted task after its last committed
//! step).
//!
//! Keys (catalog checkpoints): `ring/state` -> MessagePack [`RingState`],
//! `ring/insert/<id, 20 digits>` -> MessagePack [`InsertRec`].
//!
//! Invariants: writes happen on the journal's own thread, never on the
//! fabric's (an fsync must not delay a spliced packet); what waits is one
//! map from key to latest value (a later entry for a key replaces an
//! earlier one not yet written, counted in [`Journal::coalesced`]), so the
//! handoff holds at most one entry per key: bounded by the schedule's own
//! bound (`keep_finished_inserts` finished inserts, the pending ones, the
//! ring), however slow the disk. What the writer takes is applied in one
//! atomic, durable batch; the thread ends, after writing what it holds,
//! when the [`Journal`] is dropped. Pruned inserts are deleted.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use serde::Serialize;
use stripecast_persistence::{Batch, Catalog, CatalogError};
use tracing::warn;

use super::schedule::InsertRec;
use crate::planner::RingState;

const RING_KEY: &str = "ring/state";
const INSERT_PREFIX: &str = "ring/insert/";

/// What waits for the writer: per key, the value to write (`Some`) or a
/// deletion (`None`); `closed` once the handle is dropped.
#[derive(Default)]
struct Pending {
    entries: BTreeMap<String, Option<Vec<u8>>>,
    closed: bool,
}

/// The handoff between the fabric and the writer thread.
#[derive(Default)]
struct Handoff {
    pending: Mutex<Pending>,
    ready: Condvar,
    /// Entries replaced before they were written.
    coalesced: AtomicU64,
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why the journal could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal catalog: {0}")]
    Catalog(#[from] CatalogError),
    #[error("journal entry {key}: {message}")]
    Decode { key: String, message: String },
    #[error("cannot start the journal thread: {0}")]
    Thread(std::io::Error),
}

/// What the journal held when opened.
#[derive(Debug, Default)]
pub struct Loaded {
    pub ring: Option<RingState>,
    pub inserts: Vec<InsertRec>,
}

/// A handle that writes entries in the background; dropping it waits for
/// the writes queued so far (and releases sled's lock for the next opener).
#[derive(Debug)]
pub struct Journal {
    handoff: Arc<Handoff>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("waiting", &self.lock().entries.len())
            .finish()
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.handoff.lock().closed = true;
        self.handoff.ready.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn encode<T: Serialize>(v: &T) -> Option<Vec<u8>> {
    rmp_serde::to_vec_named(v)
        .map_err(|e| warn!(error = %e, "cannot encode a journal entry"))
        .ok()
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, JournalError> {
    rmp_serde::from_slice(bytes).map_err(|e| JournalError::Decode {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and loads what it holds.
    pub fn open(dir: &Path) -> Result<(Journal, Loaded), JournalError> {
        let catalog = Catalog::open(dir)?;
        let mut loaded = Loaded::default();
        for (key, bytes) in catalog.checkpoints()? {
            if key == RING_KEY {
                let ring: RingState = decode(&key, &bytes)?;
                ring.check().map_err(|message| JournalError::Decode {
                    key: key.clone(),
                    message,
                })?;
                loaded.ring = Some(ring);
            } else if key.starts_with(INSERT_PREFIX) {
                loaded.inserts.push(decode(&key, &bytes)?);
            }
        }
        let handoff = Arc::new(Handoff::default());
        let h = handoff.clone();
        let thread = std::thread::Builder::new()
            .name("switch-journal".into())
            .spawn(move || writer(catalog, &h))
            .map_err(JournalError::Thread)?;
        Ok((
            Journal {
                handoff,
                thread: Some(thread),
            },
            loaded,
        ))
    }

    /// Queues the ring's state and these insert records for writing, and
    /// the records of the inserts `forgotten` (pruned) for deletion.
    pub fn save(&self, ring: Option<&RingState>, inserts: &[&InsertRec], forgotten: &[u64]) {
        let mut entries = Vec::with_capacity(inserts.len() + forgotten.len() + 1);
        if let Some(bytes) = ring.and_then(encode) {
            entries.push((RING_KEY.to_owned(), Some(bytes)));
        }
        for r in inserts {
            if let Some(bytes) = encode(r) {
                entries.push((insert_key(r.id), Some(bytes)));
            }
        }
        for &id in forgotten {
            entries.push((insert_key(id), None));
        }
        if entries.is_empty() {
            return;
        }
        let mut pending = self.handoff.lock();
        for (k, v) in entries {
            if pending.entries.insert(k, v).is_some() {
                self.handoff.coalesced.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(pending);
        self.handoff.ready.notify_one();
    }

    /// Entries replaced by a later one for the same key before they were
    /// written (the disk was slower than the changes).
    pub fn coalesced(&self) -> u64 {
        self.handoff.coalesced.load(Ordering::Relaxed)
    }

    /// Entries waiting for the writer (at most one per key).
    pub fn waiting(&self) -> usize {
        self.handoff.lock().entries.len()
    }
}

fn insert_key(id: u64) -> String {
    format!("{INSERT_PREFIX}{id:020}")
}

fn writer(catalog: Catalog, handoff: &Handoff) {
    loop {
        let pending = {
            let mut p = handoff.lock();
            while p.entries.is_empty() && !p.closed {
                p = handoff
                    .ready
                    .wait(p)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if p.entries.is_empty() {
                return;
            }
            std::mem::take(&mut p.entries)
        };
        let mut batch = Batch::new();
        for (k, v) in pending {
            match v {
                Some(v) => batch.put_checkpoint(k, v),
                None => batch.remove_checkpoint(k),
            };
        }
        if let Err(e) = catalog.apply(&batch) {
            warn!(error = %e, "journal write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::Direction;
    use crate::switch::schedule::{Origin, Schedule};
    use stripecast_config::MemberId;

    #[test]
    fn journal_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = RingState::new(
            Direction::Either,
            vec![MemberId::new(0), MemberId::new(1), MemberId::new(2)],
        )
        .unwrap();
        ring.fail(1).unwrap();
        let mut s = Schedule::default();
        let id = s.add(1, 42, "ad", Origin::Api).id;
        s.get_mut(id).unwrap().played = 99;
        {
            let (j, loaded) = Journal::open(dir.path()).unwrap();
            assert!(loaded.ring.is_none() && loaded.inserts.is_empty());
            j.save(Some(&ring), &[s.get(id).unwrap()], &[]);
            s.get_mut(id).unwrap().played = 100;
            j.save(None, &[s.get(id).unwrap()], &[]);
        }
        // dropping the handle waited for the writes and released the lock
        let (_, loaded) = Journal::open(dir.path()).unwrap();
        assert_eq!(loaded.ring.as_ref(), Some(&ring));
        assert_eq!(loaded.inserts.len(), 1);
        assert_eq!(loaded.inserts[0].played, 100);
    }

    #[test]
    fn forgotten_inserts_are_deleted_and_a_burst_waits_once_per_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Schedule::default();
        let a = s.add(0, 1, "a", Origin::Api).id;
        let b = s.add(0, 2, "b", Origin::Api).id;
        {
            let (j, _) = Journal::open(dir.path()).unwrap();
            j.save(None, &[s.get(a).unwrap(), s.get(b).unwrap()], &[]);
            // A burst of saves of one key holds one entry for it.
            for played in 0..1000 {
                s.get_mut(b).unwrap().played = played;
                j.save(None, &[s.get(b).unwrap()], &[]);
            }
            assert!(j.waiting() <= 2, "{} entries wait", j.waiting());
            j.save(None, &[], &[a]);
        }
        let (j, loaded) = Journal::open(dir.path()).unwrap();
        assert_eq!(loaded.inserts.len(), 1, "insert a was forgotten");
        assert_eq!(loaded.inserts[0].id, b);
        assert_eq!(loaded.inserts[0].played, 999);
        drop(j);
    }
}
