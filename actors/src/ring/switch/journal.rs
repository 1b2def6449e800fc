//! The switch's journal: the ring's state and every insert record, in a sled
//! catalog under the switch's data dir, so a restarted switch resumes where
//! it stopped (seed 002: resume an interrupted task after its last committed
//! step).
//!
//! Keys (catalog checkpoints): `ring/state` -> MessagePack [`RingState`],
//! `ring/insert/<id, 20 digits>` -> MessagePack [`InsertRec`].
//!
//! Invariants: writes happen on the journal's own thread, never on the
//! fabric's (an fsync must not delay a spliced packet); the entries handed
//! over together are applied in one atomic, durable batch, and a later entry
//! for a key replaces an earlier one not yet written; the thread ends, after
//! writing what it holds, when the [`Journal`] is dropped.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;

use serde::Serialize;
use stripecast_persistence::{Batch, Catalog, CatalogError};
use tracing::warn;

use super::schedule::InsertRec;
use crate::ring::planner::RingState;

const RING_KEY: &str = "ring/state";
const INSERT_PREFIX: &str = "ring/insert/";

/// Entries handed to the writer together: (key, value).
type Entries = Vec<(String, Vec<u8>)>;

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
    tx: Option<mpsc::Sender<Entries>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.tx = None;
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
        let (tx, rx) = mpsc::channel::<Entries>();
        let thread = std::thread::Builder::new()
            .name("switch-journal".into())
            .spawn(move || writer(catalog, rx))
            .map_err(JournalError::Thread)?;
        Ok((
            Journal {
                tx: Some(tx),
                thread: Some(thread),
            },
            loaded,
        ))
    }

    /// Queues the ring's state and these insert records for writing.
    pub fn save(&self, ring: Option<&RingState>, inserts: &[&InsertRec]) {
        let mut entries = Vec::with_capacity(inserts.len() + 1);
        if let Some(bytes) = ring.and_then(encode) {
            entries.push((RING_KEY.to_owned(), bytes));
        }
        for r in inserts {
            if let Some(bytes) = encode(r) {
                entries.push((format!("{INSERT_PREFIX}{:020}", r.id), bytes));
            }
        }
        if entries.is_empty() {
            return;
        }
        if self.tx.as_ref().is_none_or(|tx| tx.send(entries).is_err()) {
            warn!("journal thread is gone; entries not written");
        }
    }
}

fn writer(catalog: Catalog, rx: mpsc::Receiver<Entries>) {
    while let Ok(first) = rx.recv() {
        let mut pending: BTreeMap<String, Vec<u8>> = first.into_iter().collect();
        while let Ok(more) = rx.try_recv() {
            pending.extend(more);
        }
        let mut batch = Batch::new();
        for (k, v) in pending {
            batch.put_checkpoint(k, v);
        }
        if let Err(e) = catalog.apply(&batch) {
            warn!(error = %e, "journal write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::planner::Direction;
    use crate::ring::switch::schedule::{Origin, Schedule};

    #[test]
    fn journal_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = RingState::new(Direction::Either, vec![0, 1, 2]).unwrap();
        ring.fail(1).unwrap();
        let mut s = Schedule::default();
        let id = s.add(1, 42, "ad", Origin::Api).id;
        s.get_mut(id).unwrap().played = 99;
        {
            let (j, loaded) = Journal::open(dir.path()).unwrap();
            assert!(loaded.ring.is_none() && loaded.inserts.is_empty());
            j.save(Some(&ring), &[s.get(id).unwrap()]);
            s.get_mut(id).unwrap().played = 100;
            j.save(None, &[s.get(id).unwrap()]);
        }
        // dropping the handle waited for the writes and released the lock
        let (_, loaded) = Journal::open(dir.path()).unwrap();
        assert_eq!(loaded.ring.as_ref(), Some(&ring));
        assert_eq!(loaded.inserts.len(), 1);
        assert_eq!(loaded.inserts[0].played, 100);
    }
}
