//! The Raft log, hard state, configuration and last snapshot in sled: the
//! `raft::Storage` of the metadata group.
//!
//! Two trees of one sled database: `raft_log` (key: entry index, 8 bytes
//! big-endian, so keys sort by index; value: the protobuf `Entry`) and
//! `raft_state` (`hard_state`, `conf_state`, `snapshot_meta`,
//! `snapshot_data`). Every mutation is flushed before it returns (sled's
//! flush and a real fsync of its log file: `DurableDb`; sled's flush alone
//! only `sync_file_range`s), because raft-rs assumes that what it was told
//! is persisted survives a crash: a vote or an acknowledged append
//! forgotten after a restart is how Raft loses committed entries. One
//! `Ready` is one flush (`persist`: its entries and hard state together);
//! the commit index alone is written unflushed (`set_commit`).
//!
//! Invariants: the log holds exactly the indexes `first..=last` with no gap;
//! `first = snapshot.index + 1`; `term(snapshot.index)` is the snapshot's
//! term. Decoding stored bytes never panics: a damaged value is a
//! `StorageError::Other`. Mutators refuse (with an error, not a panic) what
//! would break the invariants: appending with a gap or into the compacted
//! prefix, compacting past the last entry.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, StorageError};
use stripecast_persistence::DurableDb;

/// Why the metadata storage failed.
#[derive(Debug, thiserror::Error)]
pub enum MetaStoreError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error(transparent)]
    Durable(#[from] stripecast_persistence::CatalogError),
    #[error("stored {what} does not decode: {error}")]
    Decode { what: &'static str, error: String },
    #[error("log append at {first} leaves a gap after {last}")]
    Gap { first: u64, last: u64 },
    #[error("log append at {first} overwrites the compacted prefix (first kept: {kept})")]
    Compacted { first: u64, kept: u64 },
    #[error("compaction to {to} is past the last entry {last}")]
    CompactPastEnd { to: u64, last: u64 },
    #[error("snapshot at {index} is older than the log's first index {first}")]
    SnapshotOutOfDate { index: u64, first: u64 },
}

impl From<MetaStoreError> for raft::Error {
    fn from(e: MetaStoreError) -> raft::Error {
        raft::Error::Store(StorageError::Other(Box::new(e)))
    }
}

const HARD_STATE: &[u8] = b"hard_state";
const CONF_STATE: &[u8] = b"conf_state";
const SNAPSHOT_META: &[u8] = b"snapshot_meta";
const SNAPSHOT_DATA: &[u8] = b"snapshot_data";

/// What is kept in memory (and mirrored in sled).
#[derive(Debug, Default)]
struct Core {
    hard: HardState,
    conf: ConfState,
    snapshot: SnapshotMetadata,
    /// Index of the last entry in the log (the snapshot index when empty).
    last: u64,
}

impl Core {
    fn first(&self) -> u64 {
        self.snapshot.index + 1
    }
}

/// The metadata group's `raft::Storage` on sled. Cheap to clone (shared).
#[derive(Clone)]
pub struct SledStorage {
    log: sled::Tree,
    state: sled::Tree,
    db: DurableDb,
    core: Arc<RwLock<Core>>,
}

/// Whether persisting `entries` (none: `no_entries`) and the hard state
/// `new` (stored: `stored`) must wait for the disk. Entries, a term and a
/// vote must (Raft's safety rests on them); a Ready that only moves the
/// commit index need not, as [`SledStorage::set_commit`]: with no entries
/// in it, every entry that index covers was flushed by an earlier Ready,
/// and a commit index a crash rolls back is learnt again from the leader.
/// On the PUT path this spares the leader's and the coordinator's
/// commit-only Readies an fsync each.
pub fn persist_needs_flush(no_entries: bool, stored: &HardState, new: Option<&HardState>) -> bool {
    !no_entries || new.is_some_and(|h| h.term != stored.term || h.vote != stored.vote)
}

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn decode<M: protobuf::Message>(what: &'static str, bytes: &[u8]) -> Result<M, MetaStoreError> {
    M::parse_from_bytes(bytes).map_err(|e| MetaStoreError::Decode {
        what,
        error: e.to_string(),
    })
}

fn encode<M: protobuf::Message>(what: &'static str, m: &M) -> Result<Vec<u8>, MetaStoreError> {
    m.write_to_bytes().map_err(|e| MetaStoreError::Decode {
        what,
        error: e.to_string(),
    })
}

impl SledStorage {
    /// Opens (creating if needed) the Raft trees of `db`.
    pub fn open(db: &DurableDb) -> Result<SledStorage, MetaStoreError> {
        let log = db.open_tree("raft_log")?;
        let state = db.open_tree("raft_state")?;
        let mut core = Core::default();
        if let Some(b) = state.get(HARD_STATE)? {
            core.hard = decode("hard state", &b)?;
        }
        if let Some(b) = state.get(CONF_STATE)? {
            core.conf = decode("conf state", &b)?;
        }
        if let Some(b) = state.get(SNAPSHOT_META)? {
            core.snapshot = decode("snapshot metadata", &b)?;
        }
        core.last = match log.last()? {
            Some((_, v)) => decode::<Entry>("log entry", &v)?.index,
            None => core.snapshot.index,
        };
        Ok(SledStorage {
            log,
            state,
            db: db.clone(),
            core: Arc::new(RwLock::new(core)),
        })
    }

    fn rl(&self) -> RwLockReadGuard<'_, Core> {
        self.core.read().unwrap_or_else(|p| p.into_inner())
    }

    fn wl(&self) -> RwLockWriteGuard<'_, Core> {
        self.core.write().unwrap_or_else(|p| p.into_inner())
    }

    fn flush(&self) -> Result<(), MetaStoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// True once a configuration has been stored (the group was bootstrapped or joined).
    pub fn is_initialized(&self) -> bool {
        let c = self.rl();
        !c.conf.voters.is_empty() || !c.conf.learners.is_empty()
    }

    /// Bootstraps an empty storage with its first voters (the same on every founding member).
    pub fn initialize(&self, voters: &[u64]) -> Result<(), MetaStoreError> {
        if self.is_initialized() {
            return Ok(());
        }
        self.set_conf_state(ConfState {
            voters: voters.to_vec(),
            ..ConfState::default()
        })
    }

    pub fn hard_state(&self) -> HardState {
        self.rl().hard.clone()
    }

    pub fn conf_state(&self) -> ConfState {
        self.rl().conf.clone()
    }

    /// Persists the hard state (term, vote, commit).
    pub fn set_hard_state(&self, hs: HardState) -> Result<(), MetaStoreError> {
        self.persist(&[], Some(hs))
    }

    /// Persists what one `Ready` asks, entries first and then the hard
    /// state, with one flush (one fsync for both: group commit of every
    /// message and proposal the Ready gathered). sled recovers a prefix of
    /// its writes, so a crash before the flush leaves at most the entries
    /// without the hard state, never a commit index past the stored log.
    pub fn persist(&self, ents: &[Entry], hs: Option<HardState>) -> Result<(), MetaStoreError> {
        if ents.is_empty() && hs.is_none() {
            return Ok(());
        }
        let flush = persist_needs_flush(ents.is_empty(), &self.hard_state(), hs.as_ref());
        self.append_unflushed(ents)?;
        if let Some(hs) = &hs {
            self.state.insert(HARD_STATE, encode("hard state", hs)?)?;
        }
        if flush {
            self.flush()?;
        }
        if let Some(hs) = hs {
            self.wl().hard = hs;
        }
        Ok(())
    }

    /// Records a new commit index without waiting for the disk: it becomes
    /// durable with the next flush. A commit index that a crash rolls back
    /// is only learnt again from the leader (it is never past the stored
    /// log: entries are committed only once persisted here).
    pub fn set_commit(&self, commit: u64) -> Result<(), MetaStoreError> {
        let mut hs = self.hard_state();
        hs.commit = commit;
        self.state.insert(HARD_STATE, encode("hard state", &hs)?)?;
        self.wl().hard = hs;
        Ok(())
    }

    pub fn set_conf_state(&self, cs: ConfState) -> Result<(), MetaStoreError> {
        self.state.insert(CONF_STATE, encode("conf state", &cs)?)?;
        self.flush()?;
        self.wl().conf = cs;
        Ok(())
    }

    /// Appends entries, replacing any stored entries from `ents[0].index` on.
    pub fn append(&self, ents: &[Entry]) -> Result<(), MetaStoreError> {
        self.persist(ents, None)
    }

    fn append_unflushed(&self, ents: &[Entry]) -> Result<(), MetaStoreError> {
        let Some(head) = ents.first() else {
            return Ok(());
        };
        let mut core = self.wl();
        if head.index < core.first() {
            return Err(MetaStoreError::Compacted {
                first: head.index,
                kept: core.first(),
            });
        }
        if head.index > core.last + 1 {
            return Err(MetaStoreError::Gap {
                first: head.index,
                last: core.last,
            });
        }
        debug_assert!(ents.windows(2).all(|w| w[1].index == w[0].index + 1));
        let mut batch = sled::Batch::default();
        for i in head.index..=core.last {
            batch.remove(&key(i));
        }
        for e in ents {
            batch.insert(&key(e.index), encode("log entry", e)?);
        }
        self.log.apply_batch(batch)?;
        core.last = ents[ents.len() - 1].index;
        Ok(())
    }

    /// Discards entries before `index`, recording `data` as the snapshot of
    /// the state at `index - 1` (which must have been applied).
    pub fn compact(&self, index: u64, data: Vec<u8>) -> Result<(), MetaStoreError> {
        let mut core = self.wl();
        if index <= core.first() {
            return Ok(());
        }
        if index > core.last + 1 {
            return Err(MetaStoreError::CompactPastEnd {
                to: index,
                last: core.last,
            });
        }
        let at = index - 1;
        let term = match self.log.get(key(at))? {
            Some(b) => decode::<Entry>("log entry", &b)?.term,
            None => core.snapshot.term,
        };
        let meta = SnapshotMetadata {
            index: at,
            term,
            conf_state: protobuf::SingularPtrField::some(core.conf.clone()),
            ..SnapshotMetadata::default()
        };
        self.state
            .insert(SNAPSHOT_META, encode("snapshot metadata", &meta)?)?;
        self.state.insert(SNAPSHOT_DATA, data)?;
        let mut batch = sled::Batch::default();
        for i in core.first()..index {
            batch.remove(&key(i));
        }
        self.log.apply_batch(batch)?;
        self.flush()?;
        core.snapshot = meta;
        Ok(())
    }

    /// Replaces the log by a snapshot received from the leader.
    pub fn apply_snapshot(&self, mut snap: Snapshot) -> Result<(), MetaStoreError> {
        let mut core = self.wl();
        let meta = snap.take_metadata();
        if meta.index < core.first() && core.last >= core.first() {
            return Err(MetaStoreError::SnapshotOutOfDate {
                index: meta.index,
                first: core.first(),
            });
        }
        let mut batch = sled::Batch::default();
        for i in core.first()..=core.last {
            batch.remove(&key(i));
        }
        self.log.apply_batch(batch)?;
        let mut hard = core.hard.clone();
        hard.term = hard.term.max(meta.term);
        hard.commit = meta.index;
        let conf = meta.get_conf_state().clone();
        self.state
            .insert(SNAPSHOT_META, encode("snapshot metadata", &meta)?)?;
        self.state
            .insert(SNAPSHOT_DATA, snap.take_data().to_vec())?;
        self.state
            .insert(HARD_STATE, encode("hard state", &hard)?)?;
        self.state
            .insert(CONF_STATE, encode("conf state", &conf)?)?;
        self.flush()?;
        core.last = meta.index;
        core.hard = hard;
        core.conf = conf;
        core.snapshot = meta;
        Ok(())
    }

    /// The data of the last snapshot (the state machine at its index), if any.
    pub fn snapshot_data(&self) -> Result<Option<Vec<u8>>, MetaStoreError> {
        Ok(self.state.get(SNAPSHOT_DATA)?.map(|v| v.to_vec()))
    }

    fn load(&self, index: u64) -> Result<Entry, MetaStoreError> {
        match self.log.get(key(index))? {
            Some(b) => decode("log entry", &b),
            None => Err(MetaStoreError::Decode {
                what: "log entry",
                error: format!("entry {index} is missing"),
            }),
        }
    }
}

impl raft::Storage for SledStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let c = self.rl();
        Ok(RaftState {
            hard_state: c.hard.clone(),
            conf_state: c.conf.clone(),
        })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let max_size = max_size.into();
        let (first, last) = {
            let c = self.rl();
            (c.first(), c.last)
        };
        if low < first {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > last + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let mut out = Vec::with_capacity((high - low) as usize);
        let mut size: u64 = 0;
        for i in low..high {
            let e = self.load(i)?;
            size += u64::from(protobuf::Message::compute_size(&e));
            // At least one entry, then only while within max_size.
            if !out.is_empty() && max_size.is_some_and(|m| size > m) {
                break;
            }
            out.push(e);
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let (snap_index, snap_term, first, last) = {
            let c = self.rl();
            (c.snapshot.index, c.snapshot.term, c.first(), c.last)
        };
        if idx == snap_index {
            return Ok(snap_term);
        }
        if idx < first {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > last {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(self.load(idx)?.term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.rl().first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.rl().last)
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let meta = self.rl().snapshot.clone();
        if meta.index < request_index || meta.index == 0 {
            // The node compacts (and so snapshots) as it applies; ask again later.
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let mut snap = Snapshot::default();
        snap.set_data(self.snapshot_data()?.unwrap_or_default().into());
        snap.set_metadata(meta);
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use raft::storage::MemStorage;
    use raft::Storage;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: format!("e{index}t{term}").into_bytes().into(),
            ..Entry::default()
        }
    }

    fn open() -> (tempfile::TempDir, DurableDb, SledStorage) {
        let dir = tempfile::tempdir().unwrap();
        let db = DurableDb::open(dir.path().join("db")).unwrap();
        let s = SledStorage::open(&db).unwrap();
        (dir, db, s)
    }

    #[test]
    fn only_entries_terms_and_votes_wait_for_the_disk() {
        let hs = |term, vote, commit| HardState {
            term,
            vote,
            commit,
            ..HardState::default()
        };
        let stored = hs(3, 1, 10);
        // (no entries, new hard state) -> flush
        let table = [
            ((false, None), true),
            ((false, Some(hs(3, 1, 10))), true),
            ((true, Some(hs(3, 1, 11))), false),
            ((true, Some(hs(4, 1, 11))), true),
            ((true, Some(hs(3, 2, 10))), true),
            ((true, None), false),
        ];
        for ((no_entries, new), flush) in table {
            assert_eq!(
                persist_needs_flush(no_entries, &stored, new.as_ref()),
                flush,
                "{no_entries} {new:?}"
            );
        }
    }

    #[test]
    fn survives_a_reopen() {
        let (dir, db, s) = open();
        s.initialize(&[1, 2, 3]).unwrap();
        s.append(&[entry(1, 1), entry(2, 1), entry(3, 2)]).unwrap();
        let hs = HardState {
            term: 2,
            vote: 3,
            commit: 2,
            ..HardState::default()
        };
        s.set_hard_state(hs.clone()).unwrap();
        drop(s);
        drop(db);
        let db = DurableDb::open(dir.path().join("db")).unwrap();
        let s = SledStorage::open(&db).unwrap();
        assert!(s.is_initialized());
        assert_eq!(s.initial_state().unwrap().hard_state, hs);
        assert_eq!(s.conf_state().voters, vec![1, 2, 3]);
        assert_eq!(s.last_index().unwrap(), 3);
        assert_eq!(s.term(3).unwrap(), 2);
        assert_eq!(
            s.entries(1, 4, None, GetEntriesContext::empty(false))
                .unwrap(),
            vec![entry(1, 1), entry(2, 1), entry(3, 2)]
        );
    }

    #[test]
    fn compaction_keeps_a_snapshot_and_refuses_what_breaks_the_log() {
        let (_dir, _db, s) = open();
        s.initialize(&[1]).unwrap();
        s.append(&[entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)])
            .unwrap();
        s.compact(3, b"state@2".to_vec()).unwrap();
        assert_eq!(s.first_index().unwrap(), 3);
        assert_eq!(s.term(2).unwrap(), 1);
        assert!(matches!(
            s.term(1),
            Err(raft::Error::Store(StorageError::Compacted))
        ));
        let snap = s.snapshot(2, 0).unwrap();
        assert_eq!(snap.get_metadata().index, 2);
        assert_eq!(&snap.data[..], b"state@2");
        assert!(s.snapshot(3, 0).is_err());
        assert!(matches!(
            s.append(&[entry(1, 3)]),
            Err(MetaStoreError::Compacted { .. })
        ));
        assert!(matches!(
            s.append(&[entry(9, 3)]),
            Err(MetaStoreError::Gap { .. })
        ));
        assert!(matches!(
            s.compact(9, Vec::new()),
            Err(MetaStoreError::CompactPastEnd { .. })
        ));
        // A leader's snapshot replaces the log.
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = 10;
        snap.mut_metadata().term = 4;
        snap.mut_metadata().mut_conf_state().voters = vec![1, 2];
        snap.set_data(b"state@10".to_vec().into());
        s.apply_snapshot(snap).unwrap();
        assert_eq!(s.first_index().unwrap(), 11);
        assert_eq!(s.last_index().unwrap(), 10);
        assert_eq!(s.term(10).unwrap(), 4);
        assert_eq!(s.hard_state().commit, 10);
        assert_eq!(s.conf_state().voters, vec![1, 2]);
        s.append(&[entry(11, 4)]).unwrap();
        assert_eq!(s.last_index().unwrap(), 11);
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Append `n` entries of `term` from `last + 1 - back` on.
        Append {
            back: u64,
            n: u64,
            term: u64,
        },
        Compact {
            ahead: u64,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0u64..4, 1u64..5, 1u64..6).prop_map(|(back, n, term)| Step::Append { back, n, term }),
            1 => (0u64..6).prop_map(|ahead| Step::Compact { ahead }),
        ]
    }

    proptest! {
        /// The same valid operations on raft-rs's `MemStorage` and ours give the
        /// same answers to every `Storage` query.
        #[test]
        fn behaves_like_raft_mem_storage(steps in prop::collection::vec(step(), 1..40)) {
            let (_dir, _db, ours) = open();
            let theirs = MemStorage::new();
            for st in steps {
                let (first, last) = (theirs.first_index().unwrap(), theirs.last_index().unwrap());
                match st {
                    Step::Append { back, n, term } => {
                        let start = (last + 1).saturating_sub(back).max(first);
                        let ents: Vec<Entry> = (start..start + n).map(|i| entry(i, term)).collect();
                        theirs.wl().append(&ents).unwrap();
                        ours.append(&ents).unwrap();
                    }
                    Step::Compact { ahead } => {
                        let to = (first + ahead).min(last);
                        if to > first {
                            theirs.wl().compact(to).unwrap();
                            ours.compact(to, Vec::new()).unwrap();
                        }
                    }
                }
                let (first, last) = (theirs.first_index().unwrap(), theirs.last_index().unwrap());
                prop_assert_eq!(ours.first_index().unwrap(), first);
                prop_assert_eq!(ours.last_index().unwrap(), last);
                for i in first..=last {
                    prop_assert_eq!(ours.term(i).unwrap(), theirs.term(i).unwrap());
                    let ctx = || GetEntriesContext::empty(false);
                    prop_assert_eq!(
                        ours.entries(i, last + 1, None, ctx()).unwrap(),
                        theirs.entries(i, last + 1, None, ctx()).unwrap()
                    );
                    prop_assert_eq!(
                        ours.entries(i, last + 1, Some(30), ctx()).unwrap(),
                        theirs.entries(i, last + 1, Some(30), ctx()).unwrap()
                    );
                }
            }
        }
    }
}
