//! The member's sled catalog: object records, the HomeBlock, per-member dirty
//! sets, job checkpoints and the controller's task journal.
//!
//! Trees and keys:
//!
//! | tree          | key                                   | value                        |
//! |---------------|---------------------------------------|------------------------------|
//! | `objects`     | object name (UTF-8)                   | [`ObjectRecord`] (enveloped) |
//! | `dirty`       | member id (u16 big-endian) ++ name    | dirty mark (enveloped u64)   |
//! | `checkpoints` | job id (UTF-8)                        | caller bytes (enveloped)     |
//! | `journal`     | sequence number (u64 big-endian)      | caller bytes (enveloped)     |
//! | `meta`        | `homeblock`                           | the 84-byte FIG. 6 HomeBlock |
//! | `meta`        | `journal_next`                        | next journal seq (u64 LE)    |
//! | `meta`        | `object_count`                        | records in `objects` (u64 LE)|
//! | `meta`        | `mirrored_to`                         | [`MirrorMark`]: log index, term (u64 LE each) |
//!
//! Big-endian integer keys keep sled's byte order equal to numeric order, so a
//! member's dirty set and the journal are prefix/range scans.
//!
//! **Counts without scans.** `object_count` changes in the same transaction
//! as the records it counts, so opening a catalog of a million records and
//! asking how many there are reads one key (a catalog written before the
//! key existed is counted once, on open). `mirrored_to` is how far into its
//! source (the metadata log) the catalog has taken changes, written in the
//! same transaction as those changes: after a crash the catalog and the mark
//! agree, and a replay can skip what the catalog already holds.
//!
//! **Durability policy.** sled buffers writes in memory and flushes its log in
//! the background every 500 ms. Every public mutating method here (and
//! [`Catalog::apply`] for a batch) calls [`Catalog::flush`] before it returns
//! `Ok`: *an `Ok` is an acknowledgement that the change survives a process kill
//! or power loss*. `flush` is `Db::flush` (which writes the log and, on Linux,
//! only `sync_file_range`s it: that neither persists the grown file size nor
//! flushes the drive's cache) followed by a real `fsync` of sled's log file
//! (`<dir>/db`). Values are capped at [`MAX_VALUE_LEN`] so they stay inline in
//! that log; sled 0.34 writes larger ones to separate blob files it does not
//! fsync. Callers that need many changes to be durable together put them in one
//! [`Batch`], which is one sled transaction (atomic: all or nothing, also across
//! a crash) and one flush.
//!
//! **Dirty marks.** Each mark carries a fresh number (sled's `generate_id`,
//! monotonic across restarts). A rebuild job that reads a member's dirty set and
//! later clears an object uses [`Catalog::clear_dirty_if`] with the mark it read,
//! so an object written again while it was being rebuilt stays dirty.
//!
//! Invariant: a value that does not decode is reported as
//! [`CatalogError::Corrupt`] naming the tree and key, never a panic.

use crate::error::{CatalogError, DecodeError};
use crate::fragment::header::MAX_NAME_LEN;
use crate::homeblock::HomeBlock;
use crate::record::{decode_mark, encode_mark, frame, unframe, ObjectRecord, RecordKind};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

const T_OBJECTS: &str = "objects";
const T_DIRTY: &str = "dirty";
const T_CHECKPOINTS: &str = "checkpoints";
const T_JOURNAL: &str = "journal";
const T_META: &str = "meta";
const K_HOMEBLOCK: &[u8] = b"homeblock";
const K_JOURNAL_NEXT: &[u8] = b"journal_next";
const K_OBJECT_COUNT: &[u8] = b"object_count";
const K_MIRRORED_TO: &[u8] = b"mirrored_to";

/// Longest job id.
pub const MAX_JOB_ID_LEN: usize = 1024;
/// Largest checkpoint or journal entry (see the durability policy above).
pub const MAX_VALUE_LEN: usize = 64 << 10;

fn check_value(what: &str, v: &[u8]) -> Result<(), CatalogError> {
    if v.len() > MAX_VALUE_LEN {
        return Err(CatalogError::Invalid(format!(
            "{what} of {} bytes is over the {MAX_VALUE_LEN}-byte limit",
            v.len()
        )));
    }
    Ok(())
}

fn corrupt(tree: &'static str, key: &[u8], source: DecodeError) -> CatalogError {
    tracing::warn!(tree, key = %String::from_utf8_lossy(key), error = %source, "corrupt catalog entry");
    CatalogError::Corrupt {
        tree,
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    }
}

fn check_name(name: &str) -> Result<(), CatalogError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(CatalogError::Invalid(format!(
            "object name length {} not in 1..={MAX_NAME_LEN}",
            name.len()
        )));
    }
    Ok(())
}

fn check_job(job_id: &str) -> Result<(), CatalogError> {
    if job_id.is_empty() || job_id.len() > MAX_JOB_ID_LEN {
        return Err(CatalogError::Invalid(format!(
            "job id length {} not in 1..={MAX_JOB_ID_LEN}",
            job_id.len()
        )));
    }
    Ok(())
}

fn dirty_prefix(member: usize) -> Result<[u8; 2], CatalogError> {
    u16::try_from(member)
        .map(u16::to_be_bytes)
        .map_err(|_| CatalogError::Invalid(format!("member id {member} out of range")))
}

fn dirty_key(member: usize, name: &str) -> Result<Vec<u8>, CatalogError> {
    check_name(name)?;
    let mut k = dirty_prefix(member)?.to_vec();
    k.extend_from_slice(name.as_bytes());
    Ok(k)
}

fn decode_journal_next(v: &[u8]) -> Result<u64, DecodeError> {
    decode_counter("journal counter", v)
}

/// A u64 LE counter of the `meta` tree.
fn decode_counter(what: &'static str, v: &[u8]) -> Result<u64, DecodeError> {
    let arr: [u8; 8] = v
        .try_into()
        .map_err(|_| DecodeError::invalid(what, "length", format!("{} bytes", v.len())))?;
    Ok(u64::from_le_bytes(arr))
}

/// One change inside a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Insert or replace an object record.
    PutObject(ObjectRecord),
    /// Remove an object record.
    RemoveObject(String),
    /// Add an object to a member's dirty set (with a fresh mark).
    MarkDirty {
        /// Member id.
        member: usize,
        /// Object name.
        name: String,
    },
    /// Remove an object from a member's dirty set.
    ClearDirty {
        /// Member id.
        member: usize,
        /// Object name.
        name: String,
    },
    /// Store a job checkpoint.
    PutCheckpoint {
        /// Job id.
        job_id: String,
        /// Opaque state.
        data: Vec<u8>,
    },
    /// Remove a job checkpoint.
    RemoveCheckpoint(String),
    /// Store the HomeBlock.
    PutHomeBlock(HomeBlock),
    /// Append a journal entry (its sequence number is returned by `apply`).
    JournalAppend(Vec<u8>),
    /// Record how far into its source the catalog has taken changes.
    SetMirroredTo(MirrorMark),
}

/// How far into its source (a replicated log) the catalog has taken
/// changes: the index of the last entry taken and that entry's term. The
/// term tells the source's log from another one that reached the same
/// index (a log that was started again), so the mark only ever lets a
/// replay skip entries of the very log it was taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirrorMark {
    pub index: u64,
    /// 0 when unknown (a mark written before terms were kept): such a mark
    /// matches no log, so nothing is skipped on its account.
    pub term: u64,
}

impl MirrorMark {
    fn encode(self) -> Vec<u8> {
        let mut v = self.index.to_le_bytes().to_vec();
        v.extend_from_slice(&self.term.to_le_bytes());
        v
    }

    /// Decodes 16 bytes (index, term) or the 8 bytes of an index alone.
    fn decode(v: &[u8]) -> Result<MirrorMark, DecodeError> {
        let (index, term) = v.split_at(v.len().min(8));
        let index = decode_counter("mirror mark index", index)?;
        let term = match term.len() {
            0 => 0,
            _ => decode_counter("mirror mark term", term)?,
        };
        Ok(MirrorMark { index, term })
    }
}

/// Changes applied atomically and made durable together by [`Catalog::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<BatchOp>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds any operation.
    pub fn push(&mut self, op: BatchOp) -> &mut Batch {
        self.ops.push(op);
        self
    }

    /// Insert or replace an object record.
    pub fn put_object(&mut self, record: ObjectRecord) -> &mut Batch {
        self.push(BatchOp::PutObject(record))
    }

    /// Remove an object record.
    pub fn remove_object(&mut self, name: impl Into<String>) -> &mut Batch {
        self.push(BatchOp::RemoveObject(name.into()))
    }

    /// Add `name` to `member`'s dirty set.
    pub fn mark_dirty(&mut self, member: usize, name: impl Into<String>) -> &mut Batch {
        self.push(BatchOp::MarkDirty {
            member,
            name: name.into(),
        })
    }

    /// Remove `name` from `member`'s dirty set.
    pub fn clear_dirty(&mut self, member: usize, name: impl Into<String>) -> &mut Batch {
        self.push(BatchOp::ClearDirty {
            member,
            name: name.into(),
        })
    }

    /// Store a job checkpoint.
    pub fn put_checkpoint(&mut self, job_id: impl Into<String>, data: Vec<u8>) -> &mut Batch {
        self.push(BatchOp::PutCheckpoint {
            job_id: job_id.into(),
            data,
        })
    }

    /// Remove a job checkpoint.
    pub fn remove_checkpoint(&mut self, job_id: impl Into<String>) -> &mut Batch {
        self.push(BatchOp::RemoveCheckpoint(job_id.into()))
    }

    /// Store the HomeBlock.
    pub fn put_homeblock(&mut self, hb: HomeBlock) -> &mut Batch {
        self.push(BatchOp::PutHomeBlock(hb))
    }

    /// Append a journal entry.
    pub fn journal_append(&mut self, entry: Vec<u8>) -> &mut Batch {
        self.push(BatchOp::JournalAppend(entry))
    }

    /// Record that the catalog holds its source's changes up to `index`.
    pub fn set_mirrored_to(&mut self, mark: MirrorMark) -> &mut Batch {
        self.push(BatchOp::SetMirroredTo(mark))
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// True if there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Keys and values of a batch, encoded and validated before the transaction runs.
enum Prepared {
    Put(&'static str, Vec<u8>, Vec<u8>),
    Remove(&'static str, Vec<u8>),
    Mark(Vec<u8>),
    Journal(Vec<u8>),
}

/// The catalog of one member. Cheap to clone (shared handles).
#[derive(Debug, Clone)]
pub struct Catalog {
    db: sled::Db,
    /// sled's log file, fsynced by `flush` (see the durability policy).
    log: Option<Arc<File>>,
    objects: sled::Tree,
    dirty: sled::Tree,
    checkpoints: sled::Tree,
    journal: sled::Tree,
    meta: sled::Tree,
}

/// A sled database whose flush is durable: sled's flush and a real fsync
/// of its log file (the durability policy above). Cheap to clone.
#[derive(Clone)]
pub struct DurableDb {
    db: sled::Db,
    log: Option<Arc<File>>,
}

impl DurableDb {
    /// Opens (creating if needed) a sled database in directory `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<DurableDb, CatalogError> {
        let (db, log) = open_durable(sled::Config::new(), dir.as_ref())?;
        Ok(DurableDb { db, log })
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), CatalogError> {
        flush_durable(&self.db, self.log.as_deref())
    }
}

impl std::ops::Deref for DurableDb {
    type Target = sled::Db;

    fn deref(&self) -> &sled::Db {
        &self.db
    }
}

/// How long an open waits for the previous holder of a database's file lock
/// (sled's flusher thread keeps it a moment after the database is dropped,
/// e.g. when a restarted store reopens it), in ms.
const LOCK_WAIT_MS: u64 = 2000;

/// Opens `config`'s database, trying again while another handle in this
/// process still holds its lock, for at most [`LOCK_WAIT_MS`].
fn open_waiting_for_lock(config: &sled::Config) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(LOCK_WAIT_MS);
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Opens (creating if needed) a sled database in `dir` with `config`, and
/// its log file for [`flush_durable`]; the directory entries of a fresh
/// database are made durable.
pub(crate) fn open_durable(
    config: sled::Config,
    dir: &Path,
) -> Result<(sled::Db, Option<Arc<File>>), CatalogError> {
    let db = open_waiting_for_lock(&config.path(dir))?;
    let log = File::open(dir.join("db")).ok().map(Arc::new);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| CatalogError::Sled(e.into()))?;
    Ok((db, log))
}

/// sled's flush followed by a real fsync of its log (see the durability policy).
pub(crate) fn flush_durable(db: &sled::Db, log: Option<&File>) -> Result<(), CatalogError> {
    db.flush()?;
    if let Some(log) = log {
        log.sync_all().map_err(|e| CatalogError::Sled(e.into()))?;
    }
    Ok(())
}

impl Catalog {
    /// Opens (creating if needed) the catalog in directory `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Catalog, CatalogError> {
        let (db, log) = open_durable(sled::Config::new(), dir.as_ref())?;
        let catalog = Catalog {
            log,
            objects: db.open_tree(T_OBJECTS)?,
            dirty: db.open_tree(T_DIRTY)?,
            checkpoints: db.open_tree(T_CHECKPOINTS)?,
            journal: db.open_tree(T_JOURNAL)?,
            meta: db.open_tree(T_META)?,
            db,
        };
        let kept = catalog.meta.get(K_OBJECT_COUNT)?;
        if kept
            .as_deref()
            .map(|v| decode_counter("object count", v))
            .and_then(Result::ok)
            .is_none()
        {
            // Written before the count was kept, or the count is unreadable:
            // count once, durably (the count is only shown, never trusted
            // for data, so it must not keep a member from opening).
            let n = catalog.objects.len() as u64;
            catalog.meta.insert(K_OBJECT_COUNT, &n.to_le_bytes())?;
            catalog.flush()?;
        }
        Ok(catalog)
    }

    /// Writes everything sled has buffered and fsyncs its log.
    pub fn flush(&self) -> Result<(), CatalogError> {
        flush_durable(&self.db, self.log.as_deref())
    }

    // ---- objects ----

    /// Inserts or replaces an object record; durable on `Ok`.
    pub fn put_object(&self, record: &ObjectRecord) -> Result<(), CatalogError> {
        self.apply(Batch::new().put_object(record.clone()))
            .map(drop)
    }

    /// The record of `name`, if any.
    pub fn get_object(&self, name: &str) -> Result<Option<ObjectRecord>, CatalogError> {
        match self.objects.get(name.as_bytes())? {
            None => Ok(None),
            Some(v) => ObjectRecord::decode(&v)
                .map(Some)
                .map_err(|e| corrupt(T_OBJECTS, name.as_bytes(), e)),
        }
    }

    /// Removes the record of `name`, returning it; durable on `Ok`.
    pub fn remove_object(&self, name: &str) -> Result<Option<ObjectRecord>, CatalogError> {
        let old = self.get_object(name)?;
        self.apply(Batch::new().remove_object(name))?;
        Ok(old)
    }

    /// All object records in name order.
    pub fn list_objects(&self) -> Result<Vec<ObjectRecord>, CatalogError> {
        self.list_objects_after(None, usize::MAX)
    }

    /// Up to `limit` records with names strictly after `after` (paging), in name order.
    pub fn list_objects_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>, CatalogError> {
        let iter = match after {
            None => self.objects.iter(),
            Some(a) => {
                let mut start = a.as_bytes().to_vec();
                start.push(0);
                self.objects.range(start..)
            }
        };
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (k, v) = item?;
            out.push(ObjectRecord::decode(&v).map_err(|e| corrupt(T_OBJECTS, &k, e))?);
        }
        Ok(out)
    }

    /// Number of object records (one key read, no scan); an unreadable
    /// count is an error here (opening recounts it).
    pub fn object_count(&self) -> Result<u64, CatalogError> {
        match self.meta.get(K_OBJECT_COUNT)? {
            None => Ok(0),
            Some(v) => {
                decode_counter("object count", &v).map_err(|e| corrupt(T_META, K_OBJECT_COUNT, e))
            }
        }
    }

    /// How far into its source the catalog has taken changes (`None`:
    /// nothing recorded). An unreadable mark counts as none, which only
    /// means the whole source is taken again (its changes are idempotent).
    pub fn mirrored_to(&self) -> Result<Option<MirrorMark>, CatalogError> {
        let Some(v) = self.meta.get(K_MIRRORED_TO)? else {
            return Ok(None);
        };
        match MirrorMark::decode(&v) {
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                tracing::warn!(error = %e, "catalog's mirror mark is unreadable: the source is taken again");
                Ok(None)
            }
        }
    }

    // ---- HomeBlock ----

    /// Stores the HomeBlock (its 84-byte encoding); durable on `Ok`.
    pub fn put_homeblock(&self, hb: &HomeBlock) -> Result<(), CatalogError> {
        self.apply(Batch::new().put_homeblock(*hb)).map(drop)
    }

    /// The stored HomeBlock, if any.
    pub fn homeblock(&self) -> Result<Option<HomeBlock>, CatalogError> {
        match self.meta.get(K_HOMEBLOCK)? {
            None => Ok(None),
            Some(v) => HomeBlock::decode(&v)
                .map(Some)
                .map_err(|e| corrupt(T_META, K_HOMEBLOCK, e)),
        }
    }

    // ---- dirty sets ----

    /// Adds `name` to `member`'s dirty set (written or deleted while `member`
    /// was down); durable on `Ok`. Returns the mark.
    pub fn mark_dirty(&self, member: usize, name: &str) -> Result<u64, CatalogError> {
        let out = self.apply(Batch::new().mark_dirty(member, name))?;
        out.marks
            .first()
            .copied()
            .ok_or_else(|| CatalogError::Invalid("mark_dirty produced no mark".into()))
    }

    /// Object names in `member`'s dirty set, in name order.
    pub fn dirty(&self, member: usize) -> Result<Vec<String>, CatalogError> {
        Ok(self
            .dirty_marks(member)?
            .into_iter()
            .map(|(n, _)| n)
            .collect())
    }

    /// `member`'s dirty set with each object's current mark.
    pub fn dirty_marks(&self, member: usize) -> Result<Vec<(String, u64)>, CatalogError> {
        let prefix = dirty_prefix(member)?;
        let mut out = Vec::new();
        for item in self.dirty.scan_prefix(prefix) {
            let (k, v) = item?;
            let name = k
                .get(2..)
                .and_then(|n| std::str::from_utf8(n).ok())
                .ok_or_else(|| {
                    corrupt(
                        T_DIRTY,
                        &k,
                        DecodeError::invalid("dirty key", "name", "not UTF-8"),
                    )
                })?;
            let mark = decode_mark(&v).map_err(|e| corrupt(T_DIRTY, &k, e))?;
            out.push((name.to_owned(), mark));
        }
        Ok(out)
    }

    /// Size of `member`'s dirty set.
    pub fn dirty_count(&self, member: usize) -> Result<usize, CatalogError> {
        let prefix = dirty_prefix(member)?;
        let mut n = 0;
        for item in self.dirty.scan_prefix(prefix) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// True if `member`'s dirty set is not empty (reads one key at most).
    pub fn has_dirty(&self, member: usize) -> Result<bool, CatalogError> {
        let prefix = dirty_prefix(member)?;
        match self.dirty.scan_prefix(prefix).next() {
            Some(item) => item.map(|_| true).map_err(CatalogError::from),
            None => Ok(false),
        }
    }

    /// True if `name` is in `member`'s dirty set.
    pub fn is_dirty(&self, member: usize, name: &str) -> Result<bool, CatalogError> {
        Ok(self.dirty.contains_key(dirty_key(member, name)?)?)
    }

    /// Removes `name` from `member`'s dirty set; durable on `Ok`.
    pub fn clear_dirty(&self, member: usize, name: &str) -> Result<(), CatalogError> {
        self.apply(Batch::new().clear_dirty(member, name)).map(drop)
    }

    /// Removes `name` from `member`'s dirty set only if its mark is still `mark`
    /// (not re-marked since it was read); durable on `Ok`. Returns whether it was removed.
    pub fn clear_dirty_if(
        &self,
        member: usize,
        name: &str,
        mark: u64,
    ) -> Result<bool, CatalogError> {
        let key = dirty_key(member, name)?;
        let expected = encode_mark(mark);
        let swapped = self
            .dirty
            .compare_and_swap(key, Some(expected), None as Option<&[u8]>)?;
        let removed = swapped.is_ok();
        if removed {
            self.flush()?;
        }
        Ok(removed)
    }

    // ---- checkpoints ----

    /// Stores a job checkpoint; durable on `Ok`.
    pub fn put_checkpoint(&self, job_id: &str, data: &[u8]) -> Result<(), CatalogError> {
        self.apply(Batch::new().put_checkpoint(job_id, data.to_vec()))
            .map(drop)
    }

    /// The checkpoint of `job_id`, if any.
    pub fn checkpoint(&self, job_id: &str) -> Result<Option<Vec<u8>>, CatalogError> {
        match self.checkpoints.get(job_id.as_bytes())? {
            None => Ok(None),
            Some(v) => unframe(RecordKind::Checkpoint, &v)
                .map(|p| Some(p.to_vec()))
                .map_err(|e| corrupt(T_CHECKPOINTS, job_id.as_bytes(), e)),
        }
    }

    /// Removes the checkpoint of `job_id`; durable on `Ok`.
    pub fn remove_checkpoint(&self, job_id: &str) -> Result<(), CatalogError> {
        self.apply(Batch::new().remove_checkpoint(job_id)).map(drop)
    }

    /// All checkpoints, by job id.
    pub fn checkpoints(&self) -> Result<Vec<(String, Vec<u8>)>, CatalogError> {
        let mut out = Vec::new();
        for item in self.checkpoints.iter() {
            let (k, v) = item?;
            let p =
                unframe(RecordKind::Checkpoint, &v).map_err(|e| corrupt(T_CHECKPOINTS, &k, e))?;
            out.push((String::from_utf8_lossy(&k).into_owned(), p.to_vec()));
        }
        Ok(out)
    }

    // ---- journal ----

    /// Appends an entry to the controller's task journal; durable on `Ok`.
    /// Returns its sequence number (gapless, from 0).
    pub fn journal_append(&self, entry: &[u8]) -> Result<u64, CatalogError> {
        let out = self.apply(Batch::new().journal_append(entry.to_vec()))?;
        out.journal_seqs.first().copied().ok_or_else(|| {
            CatalogError::Invalid("journal_append produced no sequence number".into())
        })
    }

    /// Journal entries with sequence number `>= seq`, in order.
    pub fn journal_since(&self, seq: u64) -> Result<Vec<(u64, Vec<u8>)>, CatalogError> {
        let mut out = Vec::new();
        for item in self.journal.range(seq.to_be_bytes()..) {
            let (k, v) = item?;
            let s = k.as_ref().try_into().map(u64::from_be_bytes).map_err(|_| {
                corrupt(
                    T_JOURNAL,
                    &k,
                    DecodeError::invalid("journal key", "length", format!("{} bytes", k.len())),
                )
            })?;
            let p = unframe(RecordKind::Journal, &v).map_err(|e| corrupt(T_JOURNAL, &k, e))?;
            out.push((s, p.to_vec()));
        }
        Ok(out)
    }

    /// The sequence number the next append will get.
    pub fn journal_next_seq(&self) -> Result<u64, CatalogError> {
        match self.meta.get(K_JOURNAL_NEXT)? {
            None => Ok(0),
            Some(v) => decode_journal_next(&v).map_err(|e| corrupt(T_META, K_JOURNAL_NEXT, e)),
        }
    }

    /// Drops journal entries below `seq` (after the task they describe is done); durable on `Ok`.
    pub fn journal_truncate_before(&self, seq: u64) -> Result<usize, CatalogError> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for item in self.journal.range(..seq.to_be_bytes()) {
            let (k, _) = item?;
            batch.remove(k);
            n += 1;
        }
        self.journal.apply_batch(batch)?;
        self.flush()?;
        Ok(n)
    }

    // ---- batches ----

    /// Applies `batch` atomically (one sled transaction over all trees) and
    /// flushes; durable on `Ok`. Validation errors reject the whole batch before
    /// anything is written.
    pub fn apply(&self, batch: &Batch) -> Result<Applied, CatalogError> {
        let applied = self.apply_unflushed(batch)?;
        self.flush()?;
        Ok(applied)
    }

    /// [`Catalog::apply`] without the flush: atomic and visible at once, but
    /// durable only with a later [`Catalog::flush`] (for a caller that can
    /// replay the batch after a crash, e.g. from a log it keeps until then).
    pub fn apply_unflushed(&self, batch: &Batch) -> Result<Applied, CatalogError> {
        let mut prepared = Vec::with_capacity(batch.ops.len());
        for op in &batch.ops {
            prepared.push(match op {
                BatchOp::PutObject(r) => {
                    check_name(&r.name)?;
                    let v = r
                        .encode()
                        .map_err(|e| CatalogError::Invalid(e.to_string()))?;
                    Prepared::Put(T_OBJECTS, r.name.as_bytes().to_vec(), v)
                }
                BatchOp::RemoveObject(name) => {
                    check_name(name)?;
                    Prepared::Remove(T_OBJECTS, name.as_bytes().to_vec())
                }
                BatchOp::MarkDirty { member, name } => Prepared::Mark(dirty_key(*member, name)?),
                BatchOp::ClearDirty { member, name } => {
                    Prepared::Remove(T_DIRTY, dirty_key(*member, name)?)
                }
                BatchOp::PutCheckpoint { job_id, data } => {
                    check_job(job_id)?;
                    check_value("checkpoint", data)?;
                    Prepared::Put(
                        T_CHECKPOINTS,
                        job_id.as_bytes().to_vec(),
                        frame(RecordKind::Checkpoint, data),
                    )
                }
                BatchOp::RemoveCheckpoint(job_id) => {
                    check_job(job_id)?;
                    Prepared::Remove(T_CHECKPOINTS, job_id.as_bytes().to_vec())
                }
                BatchOp::PutHomeBlock(hb) => {
                    Prepared::Put(T_META, K_HOMEBLOCK.to_vec(), hb.encode().to_vec())
                }
                BatchOp::JournalAppend(entry) => {
                    check_value("journal entry", entry)?;
                    Prepared::Journal(frame(RecordKind::Journal, entry))
                }
                BatchOp::SetMirroredTo(mark) => {
                    Prepared::Put(T_META, K_MIRRORED_TO.to_vec(), mark.encode())
                }
            });
        }
        // Marks are allocated outside the transaction: generate_id is unique and
        // monotonic even if the transaction retries (a retry only wastes ids).
        let mut marks = Vec::new();
        for p in &prepared {
            if let Prepared::Mark(_) = p {
                marks.push(self.db.generate_id()?);
            }
        }
        let result = (
            &self.objects,
            &self.dirty,
            &self.checkpoints,
            &self.journal,
            &self.meta,
        )
            .transaction(|(objects, dirty, checkpoints, journal, meta)| {
                let tree = |name: &str| -> &TransactionalTree {
                    match name {
                        T_OBJECTS => objects,
                        T_DIRTY => dirty,
                        T_CHECKPOINTS => checkpoints,
                        T_JOURNAL => journal,
                        _ => meta,
                    }
                };
                let mut seqs = Vec::new();
                let mut next_mark = marks.iter();
                let mut next_seq: Option<u64> = None;
                // Records added less records removed (kept in `object_count`).
                let mut delta: i64 = 0;
                for p in &prepared {
                    match p {
                        Prepared::Put(t, k, v) => {
                            let before = tree(t).insert(k.as_slice(), v.as_slice())?;
                            if *t == T_OBJECTS && before.is_none() {
                                delta += 1;
                            }
                        }
                        Prepared::Remove(t, k) => {
                            let before = tree(t).remove(k.as_slice())?;
                            if *t == T_OBJECTS && before.is_some() {
                                delta -= 1;
                            }
                        }
                        Prepared::Mark(k) => {
                            let mark = next_mark.next().copied().unwrap_or_default();
                            dirty.insert(k.as_slice(), encode_mark(mark))?;
                        }
                        Prepared::Journal(v) => {
                            let seq = match next_seq {
                                Some(s) => s,
                                None => match meta.get(K_JOURNAL_NEXT)? {
                                    None => 0,
                                    Some(raw) => decode_journal_next(&raw).map_err(|e| {
                                        ConflictableTransactionError::Abort((K_JOURNAL_NEXT, e))
                                    })?,
                                },
                            };
                            journal.insert(&seq.to_be_bytes(), v.as_slice())?;
                            seqs.push(seq);
                            next_seq = Some(seq + 1);
                        }
                    }
                }
                if let Some(n) = next_seq {
                    meta.insert(K_JOURNAL_NEXT, &n.to_le_bytes())?;
                }
                if delta != 0 {
                    // An unreadable count is dropped, never a reason to
                    // refuse the records: the next open counts again.
                    match meta
                        .get(K_OBJECT_COUNT)?
                        .map(|raw| decode_counter("object count", &raw))
                    {
                        Some(Err(_)) => {
                            meta.remove(K_OBJECT_COUNT)?;
                        }
                        kept => {
                            let count = kept.and_then(Result::ok).unwrap_or(0);
                            let count = count.saturating_add_signed(delta);
                            meta.insert(K_OBJECT_COUNT, &count.to_le_bytes())?;
                        }
                    }
                }
                Ok::<_, ConflictableTransactionError<(&'static [u8], DecodeError)>>(seqs)
            });
        let journal_seqs = match result {
            Ok(s) => s,
            Err(TransactionError::Abort((key, e))) => return Err(corrupt(T_META, key, e)),
            Err(TransactionError::Storage(e)) => return Err(CatalogError::Sled(e)),
        };
        Ok(Applied {
            journal_seqs,
            marks,
        })
    }
}

/// What [`Catalog::apply`] assigned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Sequence numbers of the batch's journal entries, in order.
    pub journal_seqs: Vec<u64>,
    /// Marks of the batch's `MarkDirty` operations, in order.
    pub marks: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::LAYOUT_VERSION;
    use crate::VolumeIncarnation;

    fn rec(name: &str, inc: u32) -> ObjectRecord {
        ObjectRecord {
            name: name.into(),
            length: 1000,
            incarnation: crate::Incarnation::new(inc),
            fragment_count: 3,
            parity: 1,
            stripe_size: 65536,
            layout_version: LAYOUT_VERSION,
            checksum: 7,
            creation_time_ns: 1,
        }
    }

    #[test]
    fn objects() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        assert!(c.log.is_some(), "sled's log file was not found for fsync");
        assert_eq!(c.get_object("a").unwrap(), None);
        for n in ["b", "a", "c/d"] {
            c.put_object(&rec(n, 1)).unwrap();
        }
        c.put_object(&rec("a", 2)).unwrap();
        assert_eq!(
            c.get_object("a").unwrap().unwrap().incarnation,
            crate::Incarnation::new(2)
        );
        let names: Vec<_> = c
            .list_objects()
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, vec!["a", "b", "c/d"]);
        let page: Vec<_> = c
            .list_objects_after(Some("a"), 1)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(page, vec!["b"]);
        assert_eq!(c.remove_object("b").unwrap().unwrap().name, "b");
        assert_eq!(c.remove_object("b").unwrap(), None);
        assert_eq!(c.object_count().unwrap(), 2);
        assert!(matches!(
            c.put_object(&rec("", 1)),
            Err(CatalogError::Invalid(_))
        ));
    }

    /// The kept count follows new, replaced and removed records inside
    /// batches (also twice in one batch), survives a reopen, and a catalog
    /// without it is counted once on open.
    #[test]
    fn the_object_count_is_kept_without_scans() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Catalog::open(dir.path()).unwrap();
            let mut b = Batch::new();
            b.put_object(rec("a", 1))
                .put_object(rec("b", 1))
                .put_object(rec("a", 2))
                .remove_object("b")
                .remove_object("never");
            c.apply(&b).unwrap();
            assert_eq!(c.object_count().unwrap(), 1);
            let mut b = Batch::new();
            b.put_object(rec("b", 3))
                .put_object(rec("c", 1))
                .set_mirrored_to(MirrorMark { index: 42, term: 7 });
            c.apply(&b).unwrap();
            assert_eq!(c.object_count().unwrap(), 3);
            assert_eq!(
                c.mirrored_to().unwrap(),
                Some(MirrorMark { index: 42, term: 7 })
            );
        }
        {
            let c = Catalog::open(dir.path()).unwrap();
            assert_eq!(c.object_count().unwrap(), 3);
            assert_eq!(
                c.mirrored_to().unwrap(),
                Some(MirrorMark { index: 42, term: 7 })
            );
            c.meta.remove(K_OBJECT_COUNT).unwrap();
            c.flush().unwrap();
        }
        let c = Catalog::open(dir.path()).unwrap();
        assert_eq!(c.object_count().unwrap(), 3, "counted on open");
        assert_eq!(c.object_count().unwrap() as usize, c.objects.len());
    }

    /// An unreadable count or mark never stops writes or opening: the
    /// count is dropped and counted again on open, the mark reads as none;
    /// a mark of the earlier format (an index alone) reads with term 0.
    #[test]
    fn unreadable_counts_and_marks_do_not_stop_the_catalog() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Catalog::open(dir.path()).unwrap();
            c.put_object(&rec("a", 1)).unwrap();
            c.meta.insert(K_OBJECT_COUNT, &[1, 2, 3][..]).unwrap();
            c.meta.insert(K_MIRRORED_TO, &[9][..]).unwrap();
            assert!(c.object_count().is_err());
            assert_eq!(c.mirrored_to().unwrap(), None);
            c.put_object(&rec("b", 1)).unwrap();
            assert!(c.get_object("b").unwrap().is_some());
            c.meta.insert(K_OBJECT_COUNT, &[1, 2, 3][..]).unwrap();
            c.meta
                .insert(K_MIRRORED_TO, &5u64.to_le_bytes()[..])
                .unwrap();
            c.flush().unwrap();
            assert_eq!(
                c.mirrored_to().unwrap(),
                Some(MirrorMark { index: 5, term: 0 })
            );
        }
        let c = Catalog::open(dir.path()).unwrap();
        assert_eq!(c.object_count().unwrap(), 2, "counted again on open");
    }

    #[test]
    fn dirty_sets() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        c.mark_dirty(3, "x").unwrap();
        c.mark_dirty(3, "y").unwrap();
        c.mark_dirty(4, "x").unwrap();
        assert_eq!(c.dirty(3).unwrap(), vec!["x", "y"]);
        assert_eq!(c.dirty_count(3).unwrap(), 2);
        assert_eq!(c.dirty_count(4).unwrap(), 1);
        assert_eq!(c.dirty_count(5).unwrap(), 0);
        c.clear_dirty(3, "x").unwrap();
        assert_eq!(c.dirty(3).unwrap(), vec!["y"]);
        // Conditional clear: a re-mark in between keeps the object dirty.
        let (_, m1) = c.dirty_marks(3).unwrap()[0].clone();
        let m2 = c.mark_dirty(3, "y").unwrap();
        assert!(m2 > m1);
        assert!(!c.clear_dirty_if(3, "y", m1).unwrap());
        assert!(c.is_dirty(3, "y").unwrap());
        assert!(c.clear_dirty_if(3, "y", m2).unwrap());
        assert!(!c.is_dirty(3, "y").unwrap());
        assert!(c.mark_dirty(70_000, "x").is_err());
    }

    #[test]
    fn checkpoints_homeblock_journal() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        assert_eq!(c.homeblock().unwrap(), None);
        let hb = HomeBlock::new(9, 3, 0, VolumeIncarnation::new(1), 2, "vol");
        c.put_homeblock(&hb).unwrap();
        assert_eq!(c.homeblock().unwrap(), Some(hb));
        assert_eq!(
            c.meta.get(K_HOMEBLOCK).unwrap().unwrap().as_ref(),
            &hb.encode()[..]
        );

        c.put_checkpoint("rebuild-3", b"row 17").unwrap();
        assert!(c
            .put_checkpoint("big", &vec![0; MAX_VALUE_LEN + 1])
            .is_err());
        assert!(c.journal_append(&vec![0; MAX_VALUE_LEN + 1]).is_err());
        assert_eq!(c.checkpoint("rebuild-3").unwrap().unwrap(), b"row 17");
        assert_eq!(c.checkpoints().unwrap().len(), 1);
        c.remove_checkpoint("rebuild-3").unwrap();
        assert_eq!(c.checkpoint("rebuild-3").unwrap(), None);

        assert_eq!(c.journal_append(b"a").unwrap(), 0);
        assert_eq!(c.journal_append(b"b").unwrap(), 1);
        let out = c
            .apply(
                Batch::new()
                    .journal_append(b"c".to_vec())
                    .journal_append(b"d".to_vec()),
            )
            .unwrap();
        assert_eq!(out.journal_seqs, vec![2, 3]);
        let since: Vec<_> = c.journal_since(1).unwrap();
        assert_eq!(
            since,
            vec![(1, b"b".to_vec()), (2, b"c".to_vec()), (3, b"d".to_vec())]
        );
        assert_eq!(c.journal_truncate_before(2).unwrap(), 2);
        assert_eq!(c.journal_since(0).unwrap().len(), 2);
        assert_eq!(c.journal_next_seq().unwrap(), 4);
    }

    #[test]
    fn batch_is_atomic_and_validated_first() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        let mut b = Batch::new();
        b.put_object(rec("obj", 5))
            .mark_dirty(3, "obj")
            .put_checkpoint("j", vec![1]);
        let applied = c.apply(&b).unwrap();
        assert_eq!(applied.marks.len(), 1);
        assert_eq!(
            c.get_object("obj").unwrap().unwrap().incarnation,
            crate::Incarnation::new(5)
        );
        assert_eq!(c.dirty(3).unwrap(), vec!["obj"]);
        // A batch with one invalid op writes nothing.
        let mut bad = Batch::new();
        bad.put_object(rec("other", 1)).mark_dirty(3, "");
        assert!(c.apply(&bad).is_err());
        assert_eq!(c.get_object("other").unwrap(), None);
    }

    #[test]
    fn corrupt_values_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        c.put_object(&rec("a", 1)).unwrap();
        let mut v = c.objects.get("a").unwrap().unwrap().to_vec();
        v[20] ^= 0x40;
        c.objects.insert("a", v).unwrap();
        assert!(matches!(
            c.get_object("a"),
            Err(CatalogError::Corrupt {
                tree: "objects",
                ..
            })
        ));
        assert!(c.list_objects().is_err());
        c.meta.insert(K_HOMEBLOCK, &[1u8, 2, 3][..]).unwrap();
        assert!(matches!(
            c.homeblock(),
            Err(CatalogError::Corrupt { tree: "meta", .. })
        ));
        c.dirty.insert(&[0u8, 1, 0xff][..], encode_mark(1)).unwrap();
        assert!(matches!(
            c.dirty(1),
            Err(CatalogError::Corrupt { tree: "dirty", .. })
        ));
        c.checkpoints.insert("j", &b"junk"[..]).unwrap();
        assert!(c.checkpoint("j").is_err());
        c.journal
            .insert(&[1u8, 2][..], frame(RecordKind::Journal, b"x"))
            .unwrap();
        assert!(c.journal_since(0).is_err());
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Catalog::open(dir.path()).unwrap();
            c.put_object(&rec("keep", 9)).unwrap();
            c.journal_append(b"x").unwrap();
        }
        let c = Catalog::open(dir.path()).unwrap();
        assert_eq!(
            c.get_object("keep").unwrap().unwrap().incarnation,
            crate::Incarnation::new(9)
        );
        assert_eq!(c.journal_append(b"y").unwrap(), 1);
    }
}
