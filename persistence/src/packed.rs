//! Packed fragments: the images of small fragments (see
//! [`crate::fragment::fragment_image`]: the very bytes a fragment file
//! holds), appended to large segment files instead of each being a file.
//!
//! A fragment of one row costs, as a file of its own, an inode, a create,
//! a rename and two fsyncs (file and directory). Packed, the fragments
//! written together are appended to the current segment with one
//! `fdatasync` and indexed with one sled flush (group commit, see
//! [`PackedFragments::put_all`]); a read is one index lookup and one
//! positioned read.
//!
//! ```text
//! packed/
//!   index/                  sled: `at`     key -> (segment, offset, length)
//!                                 `in_seg` segment ++ offset -> key
//!                                 `meta`   "indexed_to" -> (segment, offset)
//!   0000000000000001.pack   records back to back, at most SEGMENT_BYTES
//!   0000000000000002.pack   (the highest is the one appended to)
//! ```
//!
//! A record is an image as is, or the image without its longest zero run
//! (see [`sparse`]: the padding of an object smaller than a row).
//!
//! Keys are `<shard>/<file name>` (the fragment's fan-out shard, see
//! [`crate::fragment::tree`], then its file name): a fragment is found by its
//! computed key, never by a scan; the scrub walks one shard at a time.
//!
//! Invariants:
//! * `put_all` is durable on `Ok`: images are written and `fdatasync`ed
//!   before the index points at them. The index itself is flushed (sled
//!   flush and an fsync of its log, the catalog's durability policy) only
//!   every [`INDEX_FLUSH_APPENDS`] appends or [`INDEX_FLUSH_BYTES`] bytes,
//!   when idle ([`PackedFragments::flush_index`]) and before a segment is
//!   deleted: every index change of an append also records how far the
//!   segments are indexed (`indexed_to`, in the same transaction), and
//!   opening re-indexes the records after it from the records themselves
//!   (see [`replay`]: each names its fragment). So a crash loses no
//!   acknowledged image, a group commit costs one `fdatasync`, and opening
//!   reads at most about `INDEX_FLUSH_BYTES` of segment.
//! * After a crash the index points only at synced bytes; bytes it does not
//!   point at are dead space. After a torn tail (the bytes of an append
//!   that never finished) opening starts a new segment, so no walk ever
//!   has to get past bytes that are not a whole record; a failed append
//!   cuts its segment back to where it started, for the same reason.
//! * Records of an append that failed (synced, never indexed, the writer
//!   told so) may be indexed by a replay after a crash: fragments of a PUT
//!   that left this member out, which its rebuild or the scrub replaces.
//! * The index's trees change together (one sled transaction), and so do
//!   the counts kept beside them in `meta` (images indexed, live bytes per
//!   segment): opening reads those few keys, never the whole index, so a
//!   member with a million packed images opens as fast as an empty one
//!   (an index written before the counts existed is counted once).
//! * A segment file is deleted only once no index entry points into it,
//!   after a durable flush of the index, so a reader never meets a deleted
//!   segment for a key it just looked up, except while compaction moves
//!   that key; `get` then looks it up again.
//! * Dead space is bounded: a sealed segment less than half alive is
//!   rewritten (`compact_step`, a bounded amount per call) and deleted.
//! * Removals are durable with the next flush; one lost to a crash leaves
//!   the fragment of a replaced incarnation, which the scrub removes.
//! * Locks are taken in one order: `writer`, then `live`, then `open`;
//!   `unflushed` alone.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::catalog::{flush_durable, open_durable};
use crate::error::CatalogError;
use crate::fragment::FragmentName;

mod replay;
pub mod sparse;

/// Largest fragment image kept packed, in bytes (a one-row fragment of a
/// 64 KiB stripe with its header and a long name fits).
pub const MAX_IMAGE_BYTES: usize = 80 << 10;

/// A segment is sealed once it holds this many bytes.
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// Open segment files kept for reads, at most.
pub const OPEN_SEGMENTS: usize = 64;

/// Bytes of images one [`PackedFragments::compact_step`] moves, at most.
pub const COMPACT_STEP_BYTES: u64 = 8 << 20;

/// Index changes (appends, removals) after which the index is flushed
/// durably, at most (the records appended since are re-indexed from the
/// segments on open).
pub const INDEX_FLUSH_APPENDS: u64 = 256;

/// Bytes appended after which the index is flushed durably, at most: what
/// opening after a crash reads again, about.
pub const INDEX_FLUSH_BYTES: u64 = 64 << 20;

/// The `meta` key of the position up to which the segments are indexed.
const INDEXED_TO: &[u8] = b"indexed_to";

/// The `meta` key of the number of images indexed (u64 LE); its presence
/// also says the live-byte counts below are kept.
const IMAGES: &[u8] = b"images";

/// The `meta` key prefix of a segment's live bytes (prefix ++ segment u64
/// BE -> u64 LE).
const LIVE_PREFIX: &[u8] = b"live/";

fn live_key(segment: u64) -> Vec<u8> {
    let mut k = LIVE_PREFIX.to_vec();
    k.extend_from_slice(&segment.to_be_bytes());
    k
}

fn decode_u64(v: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(v).ok().map(u64::from_le_bytes)
}

/// Adds `delta` to the u64 counter at `key` of a transaction's tree.
fn add_to(
    tree: &sled::transaction::TransactionalTree,
    key: &[u8],
    delta: i64,
) -> Result<(), sled::transaction::UnabortableTransactionError> {
    if delta == 0 {
        return Ok(());
    }
    let now = tree.get(key)?.and_then(|v| decode_u64(&v)).unwrap_or(0);
    tree.insert(key, &now.saturating_add_signed(delta).to_le_bytes())?;
    Ok(())
}

/// What can go wrong with packed fragments.
#[derive(Debug, thiserror::Error)]
pub enum PackedError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Index(#[from] CatalogError),
    #[error("corrupt packed index entry {key:?}")]
    CorruptIndex { key: String },
    #[error("packed fragment {key}: {source}")]
    Damaged {
        key: String,
        #[source]
        source: sparse::SparseError,
    },
    #[error("{0}")]
    Invalid(String),
}

impl From<sled::Error> for PackedError {
    fn from(e: sled::Error) -> PackedError {
        PackedError::Index(CatalogError::Sled(e))
    }
}

impl From<TransactionError<()>> for PackedError {
    fn from(e: TransactionError<()>) -> PackedError {
        match e {
            TransactionError::Storage(e) => e.into(),
            TransactionError::Abort(()) => PackedError::Invalid("index transaction aborted".into()),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackedError + '_ {
    move |source| PackedError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether a fragment of `rows` rows (at most one) of an object named with
/// `name_len` bytes at `stripe_size` is kept packed: its image (header,
/// block, checksum, at most the name as a tail) fits [`MAX_IMAGE_BYTES`].
/// The one rule the PUT coordinator and the heal both follow.
pub fn packable(rows: u64, stripe_size: u32, name_len: usize) -> bool {
    let image =
        crate::fragment::HEADER_LEN as u64 + rows * (u64::from(stripe_size) + 4) + name_len as u64;
    rows <= 1 && image <= MAX_IMAGE_BYTES as u64
}

/// The key of a fragment's image.
pub fn packed_key(name: &FragmentName) -> String {
    format!("{}/{}", name.shard(), name.file_name())
}

/// Where an image is: segment, offset, length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
}

impl Loc {
    fn encode(self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.segment.to_be_bytes());
        b[8..16].copy_from_slice(&self.offset.to_be_bytes());
        b[16..].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Loc> {
        Some(Loc {
            segment: u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
            offset: u64::from_be_bytes(b.get(8..16)?.try_into().ok()?),
            len: u32::from_be_bytes(b.get(16..20)?.try_into().ok()?),
        })
        .filter(|_| b.len() == 20)
    }

    /// The `in_seg` key: segment then offset, so a segment is a prefix.
    fn seg_key(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.encode()[..16]);
        b
    }
}

/// Encodes a (segment, offset) position.
fn position(segment: u64, offset: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&segment.to_be_bytes());
    b[8..].copy_from_slice(&offset.to_be_bytes());
    b
}

fn decode_position(b: &[u8]) -> Option<(u64, u64)> {
    let b: &[u8; 16] = b.try_into().ok()?;
    Some((
        u64::from_be_bytes(b[..8].try_into().ok()?),
        u64::from_be_bytes(b[8..].try_into().ok()?),
    ))
}

/// The segment being appended to.
struct Writer {
    segment: u64,
    file: File,
    len: u64,
}

/// The packed fragments of one member.
pub struct PackedFragments {
    dir: PathBuf,
    db: sled::Db,
    log: Option<Arc<File>>,
    at: sled::Tree,
    in_seg: sled::Tree,
    meta: sled::Tree,
    writer: Mutex<Writer>,
    /// Index changes and bytes appended since the last durable flush of
    /// the index. Taken with no other lock held.
    unflushed: Mutex<(u64, u64)>,
    /// Live (indexed) bytes per segment, and each sealed segment's size.
    live: Mutex<BTreeMap<u64, (u64, u64)>>,
    open: Mutex<HashMap<u64, Arc<File>>>,
    /// Images indexed (kept here: sled counts by scanning).
    count: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:016x}.pack"))
}

fn sync_dir(dir: &Path) -> Result<(), PackedError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

fn corrupt_key(key: &[u8]) -> PackedError {
    PackedError::CorruptIndex {
        key: String::from_utf8_lossy(key).into_owned(),
    }
}

/// The kept counts: images indexed (`images`, its value), and live bytes per
/// segment into `live`; `None` when one of them is unreadable (the index is
/// then counted again, never a reason not to open).
fn read_counts(
    meta: &sled::Tree,
    images: &[u8],
    sizes: &BTreeMap<u64, u64>,
    live: &mut BTreeMap<u64, (u64, u64)>,
) -> Result<Option<u64>, PackedError> {
    let Some(count) = decode_u64(images) else {
        tracing::warn!("packed index: the kept image count is unreadable; counting again");
        return Ok(None);
    };
    for kv in meta.scan_prefix(LIVE_PREFIX) {
        let (k, v) = kv?;
        let segment = k
            .get(LIVE_PREFIX.len()..)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes);
        let (Some(segment), Some(bytes)) = (segment, decode_u64(&v)) else {
            tracing::warn!("packed index: a kept live-byte count is unreadable; counting again");
            return Ok(None);
        };
        if bytes == 0 && !sizes.contains_key(&segment) {
            continue; // deleted, its count not yet
        }
        live.entry(segment).or_insert((0, 0)).0 = bytes;
    }
    Ok(Some(count))
}

/// Counts the index (images and live bytes per segment, into `live`) when
/// its counts were never kept or are unreadable: records them, durably,
/// replacing every count kept before (a segment without entries has none).
fn count_index(
    db: &sled::Db,
    at: &sled::Tree,
    meta: &sled::Tree,
    log: Option<&File>,
    live: &mut BTreeMap<u64, (u64, u64)>,
) -> Result<u64, PackedError> {
    let mut count = 0u64;
    let mut bytes: BTreeMap<u64, u64> = BTreeMap::new();
    for kv in at.iter() {
        count += 1;
        let (k, v) = kv?;
        let loc = Loc::decode(&v).ok_or_else(|| corrupt_key(&k))?;
        *bytes.entry(loc.segment).or_default() += u64::from(loc.len);
    }
    let mut batch = sled::Batch::default();
    for kv in meta.scan_prefix(LIVE_PREFIX) {
        batch.remove(kv?.0);
    }
    for (&segment, &b) in &bytes {
        live.entry(segment).or_insert((0, 0)).0 = b;
        batch.insert(live_key(segment), &b.to_le_bytes());
    }
    batch.insert(IMAGES, &count.to_le_bytes());
    meta.apply_batch(batch)?;
    flush_durable(db, log)?;
    Ok(count)
}

impl PackedFragments {
    /// Opens (creating if needed) the packed fragments in directory `dir`.
    /// Reads the kept counts to learn each segment's live bytes.
    pub fn open(dir: impl AsRef<Path>) -> Result<PackedFragments, PackedError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let (db, log) = open_durable(sled::Config::new(), &dir.join("index"))?;
        let at = db.open_tree("at")?;
        let in_seg = db.open_tree("in_seg")?;
        let meta = db.open_tree("meta")?;
        let mut sizes = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".pack"))
                .and_then(|n| u64::from_str_radix(n, 16).ok())
            else {
                continue;
            };
            let len = entry.metadata().map_err(io(&entry.path()))?.len();
            sizes.insert(id, len);
        }
        let mut live: BTreeMap<u64, (u64, u64)> =
            sizes.iter().map(|(&id, &len)| (id, (0, len))).collect();
        let kept = match meta.get(IMAGES)? {
            Some(v) => read_counts(&meta, &v, &sizes, &mut live)?,
            None => None,
        };
        let count = match kept {
            Some(count) => count,
            None => {
                // Never kept, or unreadable: count the index once.
                live = sizes.iter().map(|(&id, &len)| (id, (0, len))).collect();
                count_index(&db, &at, &meta, log.as_deref(), &mut live)?
            }
        };
        let current = sizes.keys().next_back().copied().unwrap_or(1);
        let path = segment_path(&dir, current);
        let file = OpenOptions::new()
            .create(true)
            .append(false)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        let len = file.metadata().map_err(io(&path))?.len();
        if !sizes.contains_key(&current) {
            sync_dir(&dir)?;
        }
        live.entry(current).or_insert((0, len));
        // No watermark: a new store (no segment before this open) is
        // indexed to its very start; a store written before the watermark
        // existed flushed its index on every append: it is indexed to its end.
        let indexed_to = match meta.get(INDEXED_TO)? {
            Some(v) => decode_position(&v).ok_or_else(|| PackedError::CorruptIndex {
                key: String::from_utf8_lossy(INDEXED_TO).into_owned(),
            })?,
            None if sizes.is_empty() => (current, 0),
            None => (current, len),
        };
        let packed = PackedFragments {
            writer: Mutex::new(Writer {
                segment: current,
                file,
                len,
            }),
            dir,
            db,
            log,
            at,
            in_seg,
            meta,
            unflushed: Mutex::new((0, 0)),
            live: Mutex::new(live),
            open: Mutex::new(HashMap::new()),
            count: AtomicU64::new(count),
        };
        packed.recover(&sizes, indexed_to)?;
        Ok(packed)
    }

    /// Indexes the records appended after `indexed_to` (their index entries
    /// did not reach the disk before a crash), moves appends past a torn
    /// tail (to a new segment), and makes the result durable. `sizes`: each
    /// segment file's length.
    fn recover(
        &self,
        sizes: &BTreeMap<u64, u64>,
        indexed_to: (u64, u64),
    ) -> Result<(), PackedError> {
        let mut w = lock(&self.writer);
        let mut reindexed = 0usize;
        let mut skipped = 0usize;
        for (&segment, &size) in sizes.range(indexed_to.0..) {
            let from = if segment == indexed_to.0 {
                indexed_to.1
            } else {
                0
            };
            let path = segment_path(&self.dir, segment);
            let file = File::open(&path).map_err(io(&path))?;
            let (records, end) = replay::records(&file, from, size);
            let mut entries: Vec<(String, Loc)> = Vec::new();
            for r in records {
                let mut stored = vec![0u8; r.len() as usize];
                file.read_exact_at(&mut stored, r.at).map_err(io(&path))?;
                match replay::key_of(&path, stored) {
                    Some(key) => entries.push((
                        key,
                        Loc {
                            segment,
                            offset: r.at,
                            len: r.len() as u32,
                        },
                    )),
                    None => skipped += 1,
                }
            }
            reindexed += entries.len();
            let entries: Vec<(&str, Loc, Option<Loc>)> = entries
                .iter()
                .map(|(k, loc)| (k.as_str(), *loc, None))
                .collect();
            self.index(&entries, (segment, end))?;
            if end < size {
                if segment == w.segment {
                    // A torn tail: appends go on in a new segment, so a
                    // later walk never has to get past it (the bytes stay,
                    // dead space, in case they are more than a tear).
                    w.len = size;
                    self.roll(&mut w)?;
                }
                tracing::warn!(
                    segment,
                    at = end,
                    bytes = size - end,
                    "packed segment: bytes past the last whole record left out"
                );
            }
        }
        // The watermark is on disk from the first open on, whatever follows.
        self.index(&[], (w.segment, w.len))?;
        drop(w);
        if reindexed > 0 || skipped > 0 {
            tracing::info!(reindexed, skipped, "packed index recovered from segments");
        }
        flush_durable(&self.db, self.log.as_deref())?;
        Ok(())
    }

    /// Makes every index change so far durable (sled flush and fsync), if
    /// any is not yet.
    pub fn flush_index(&self) -> Result<(), PackedError> {
        let mut unflushed = lock(&self.unflushed);
        if *unflushed != (0, 0) {
            flush_durable(&self.db, self.log.as_deref())?;
            *unflushed = (0, 0);
        }
        Ok(())
    }

    /// Counts an index change that appended `bytes`; flushes the index once
    /// enough waits (bounding what opening after a crash re-indexes). The
    /// change itself is done: a failed flush is logged (the next one, or
    /// the replay after a crash, covers it), never reported as the
    /// change's failure.
    fn changed(&self, bytes: u64) {
        let due = {
            let mut unflushed = lock(&self.unflushed);
            unflushed.0 += 1;
            unflushed.1 += bytes;
            unflushed.0 >= INDEX_FLUSH_APPENDS || unflushed.1 >= INDEX_FLUSH_BYTES
        };
        if due {
            if let Err(e) = self.flush_index() {
                tracing::warn!(error = %e, "packed index flush failed; retried with the next change");
            }
        }
    }

    /// Appends every (key, image) to the current segment, syncs it, and
    /// points the index at them, with one flush: durable on `Ok`. A key
    /// already present is replaced.
    pub fn put_all(&self, images: &[(String, Vec<u8>)]) -> Result<(), PackedError> {
        if let Some((key, image)) = images.iter().find(|(_, i)| i.len() > MAX_IMAGE_BYTES) {
            return Err(PackedError::Invalid(format!(
                "packed fragment {key} of {} bytes is over the {MAX_IMAGE_BYTES}-byte limit",
                image.len()
            )));
        }
        if images.is_empty() {
            return Ok(());
        }
        let records: Vec<Vec<u8>> = images.iter().map(|(_, i)| sparse::encode(i)).collect();
        let mut w = lock(&self.writer);
        let locs = self.append(&mut w, records.iter().map(Vec::as_slice))?;
        let entries: Vec<(&str, Loc, Option<Loc>)> = images
            .iter()
            .zip(locs)
            .map(|((k, _), loc)| (k.as_str(), loc, None))
            .collect();
        self.index(&entries, (w.segment, w.len))?;
        drop(w);
        self.changed(records.iter().map(|r| r.len() as u64).sum());
        Ok(())
    }

    /// Writes images at the end of the current segment (rolling to a new
    /// one when full) and syncs what it wrote.
    fn append<'a>(
        &self,
        w: &mut Writer,
        images: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Vec<Loc>, PackedError> {
        let mut locs = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut start = w.len;
        for image in images {
            if w.len > 0 && w.len + image.len() as u64 > SEGMENT_BYTES {
                self.write_out(w, start, &buf)?;
                buf.clear();
                self.roll(w)?;
                start = 0;
            }
            locs.push(Loc {
                segment: w.segment,
                offset: w.len,
                len: image.len() as u32,
            });
            buf.extend_from_slice(image);
            w.len += image.len() as u64;
        }
        self.write_out(w, start, &buf)?;
        Ok(locs)
    }

    /// Writes `buf` at `at` (where the current segment ended before this
    /// append) and syncs it. On failure the segment is cut back to `at`:
    /// nothing half-written stays between whole records, where it would
    /// end every later walk of the segment (see [`replay`]).
    fn write_out(&self, w: &mut Writer, at: u64, buf: &[u8]) -> Result<(), PackedError> {
        let path = segment_path(&self.dir, w.segment);
        let written = w
            .file
            .write_all_at(buf, at)
            .and_then(|()| w.file.sync_data());
        if let Err(e) = written {
            w.len = at;
            if let Err(cut) = w.file.set_len(at) {
                tracing::error!(segment = w.segment, error = %cut, "packed segment not cut back after a failed append");
            }
            return Err(io(&path)(e));
        }
        Ok(())
    }

    /// Seals the current segment and starts the next one.
    fn roll(&self, w: &mut Writer) -> Result<(), PackedError> {
        let next = w.segment + 1;
        let path = segment_path(&self.dir, next);
        let file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        sync_dir(&self.dir)?;
        let mut live = lock(&self.live);
        if let Some(e) = live.get_mut(&w.segment) {
            e.1 = w.len;
        }
        live.insert(next, (0, 0));
        *w = Writer {
            segment: next,
            file,
            len: 0,
        };
        tracing::debug!(segment = next, "packed segment started");
        Ok(())
    }

    /// Points each key at its new place, in one transaction. With an
    /// expected old place, a key that no longer points there (removed or
    /// replaced meanwhile) is left alone.
    /// `indexed_to`: where the segments are indexed up to once these
    /// entries are (recorded in the same transaction).
    fn index(
        &self,
        entries: &[(&str, Loc, Option<Loc>)],
        indexed_to: (u64, u64),
    ) -> Result<(), PackedError> {
        let watermark = position(indexed_to.0, indexed_to.1);
        let moved: Vec<(Option<Loc>, Option<Loc>)> = (&self.at, &self.in_seg, &self.meta)
            .transaction(|(at, in_seg, meta)| {
                meta.insert(INDEXED_TO, &watermark[..])?;
                let mut moved = Vec::with_capacity(entries.len());
                let mut bytes: BTreeMap<u64, i64> = BTreeMap::new();
                let mut images = 0i64;
                for (key, loc, expect) in entries {
                    let old = at.get(key.as_bytes())?.and_then(|v| Loc::decode(&v));
                    if expect.is_some() && old != *expect {
                        moved.push((None, None));
                        continue;
                    }
                    if let Some(old) = old {
                        in_seg.remove(&old.seg_key()[..])?;
                        *bytes.entry(old.segment).or_default() -= i64::from(old.len);
                    } else {
                        images += 1;
                    }
                    at.insert(key.as_bytes(), &loc.encode()[..])?;
                    in_seg.insert(&loc.seg_key()[..], key.as_bytes())?;
                    *bytes.entry(loc.segment).or_default() += i64::from(loc.len);
                    moved.push((old, Some(*loc)));
                }
                add_to(meta, IMAGES, images)?;
                for (segment, delta) in bytes {
                    add_to(meta, &live_key(segment), delta)?;
                }
                Ok::<_, ConflictableTransactionError<()>>(moved)
            })?;
        let mut live = lock(&self.live);
        for (old, new) in moved {
            if let Some(o) = old {
                if let Some(e) = live.get_mut(&o.segment) {
                    e.0 = e.0.saturating_sub(u64::from(o.len));
                }
            }
            if let Some(n) = new {
                live.entry(n.segment).or_insert((0, 0)).0 += u64::from(n.len);
                if old.is_none() {
                    self.count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// The image stored under `key` (expanded, if stored sparse).
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PackedError> {
        // Compaction may move the image between the lookup and the read
        // (and delete the old segment): then look it up once more.
        for _ in 0..2 {
            let Some(v) = self.at.get(key.as_bytes())? else {
                return Ok(None);
            };
            let loc = Loc::decode(&v).ok_or_else(|| PackedError::CorruptIndex {
                key: key.to_string(),
            })?;
            let file = match self.segment(loc.segment) {
                Ok(f) => f,
                Err(PackedError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            let mut record = vec![0u8; loc.len as usize];
            let path = segment_path(&self.dir, loc.segment);
            file.read_exact_at(&mut record, loc.offset)
                .map_err(io(&path))?;
            return sparse::decode(record)
                .map(Some)
                .map_err(|source| PackedError::Damaged {
                    key: key.to_string(),
                    source,
                });
        }
        Ok(None)
    }

    fn segment(&self, segment: u64) -> Result<Arc<File>, PackedError> {
        if let Some(f) = lock(&self.open).get(&segment) {
            return Ok(f.clone());
        }
        let path = segment_path(&self.dir, segment);
        let file = Arc::new(File::open(&path).map_err(io(&path))?);
        let mut open = lock(&self.open);
        if open.len() >= OPEN_SEGMENTS {
            open.clear();
        }
        open.insert(segment, file.clone());
        Ok(file)
    }

    /// Whether an image is stored under `key`.
    pub fn contains(&self, key: &str) -> Result<bool, PackedError> {
        Ok(self.at.contains_key(key.as_bytes())?)
    }

    /// Forgets the image under `key` (durable with the next flush).
    pub fn remove(&self, key: &str) -> Result<(), PackedError> {
        let removed = (&self.at, &self.in_seg, &self.meta).transaction(|(at, in_seg, meta)| {
            let old = at.remove(key.as_bytes())?.and_then(|v| Loc::decode(&v));
            if let Some(o) = old {
                in_seg.remove(&o.seg_key()[..])?;
                add_to(meta, IMAGES, -1)?;
                add_to(meta, &live_key(o.segment), -i64::from(o.len))?;
            }
            Ok::<_, ConflictableTransactionError<()>>(old)
        })?;
        if let Some(o) = removed {
            self.count.fetch_sub(1, Ordering::Relaxed);
            if let Some(e) = lock(&self.live).get_mut(&o.segment) {
                e.0 = e.0.saturating_sub(u64::from(o.len));
            }
        }
        self.changed(0);
        Ok(())
    }

    /// The keys in fan-out shard `shard`, in order.
    pub fn keys_in_shard(&self, shard: u8) -> Result<Vec<String>, PackedError> {
        let prefix = format!("{shard:02x}/");
        self.at
            .scan_prefix(prefix.as_bytes())
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }

    /// Images stored.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Segment files on disk.
    pub fn segments(&self) -> usize {
        lock(&self.live).len()
    }

    /// Bytes in segment files that no index entry points at.
    pub fn dead_bytes(&self) -> u64 {
        // Lock order: `writer` before `live`, as appends take them (one
        // at a time here).
        let (segment, len) = {
            let w = lock(&self.writer);
            (w.segment, w.len)
        };
        lock(&self.live)
            .iter()
            .map(|(&s, &(l, size))| {
                let size = if s == segment { len } else { size };
                size.saturating_sub(l)
            })
            .sum()
    }

    /// Rewrites up to [`COMPACT_STEP_BYTES`] of the live images of the
    /// sealed segment with the least alive under half, and deletes segments
    /// nothing points into. Answers whether there is more to do.
    pub fn compact_step(&self) -> Result<bool, PackedError> {
        let current = lock(&self.writer).segment;
        let (empty, victim): (Vec<u64>, Option<u64>) = {
            let live = lock(&self.live);
            let sealed = live.iter().filter(|(&s, _)| s != current);
            let empty = sealed
                .clone()
                .filter(|(_, &(l, _))| l == 0)
                .map(|(&s, _)| s);
            let victim = sealed
                .filter(|(_, &(l, size))| l > 0 && l * 2 < size)
                .min_by_key(|(_, &(l, _))| l)
                .map(|(&s, _)| s);
            (empty.collect(), victim)
        };
        if !empty.is_empty() {
            // The removals that emptied them must not come back with a
            // crash once the files are gone: flushed whatever the counter
            // says (a removal counts itself only after it is done).
            flush_durable(&self.db, self.log.as_deref())?;
        }
        for s in empty {
            if self.in_seg.scan_prefix(s.to_be_bytes()).next().is_none() {
                let path = segment_path(&self.dir, s);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&path)(e)),
                }
                sync_dir(&self.dir)?;
                // Nothing points into it: its count is 0 (a crash before
                // this leaves a 0 for a missing file, which opening ignores).
                self.meta.remove(live_key(s))?;
                lock(&self.live).remove(&s);
                lock(&self.open).remove(&s);
                tracing::debug!(segment = s, "packed segment deleted");
            }
        }
        let Some(s) = victim else {
            return Ok(false);
        };
        let mut batch: Vec<(String, Loc, Vec<u8>)> = Vec::new();
        let mut bytes = 0u64;
        for kv in self.in_seg.scan_prefix(s.to_be_bytes()) {
            let (_, k) = kv?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let Some(loc) = self.at.get(&k)?.and_then(|v| Loc::decode(&v)) else {
                continue;
            };
            if loc.segment != s {
                continue;
            }
            let file = self.segment(s)?;
            let mut image = vec![0u8; loc.len as usize];
            file.read_exact_at(&mut image, loc.offset)
                .map_err(io(&segment_path(&self.dir, s)))?;
            bytes += u64::from(loc.len);
            batch.push((key, loc, image));
            if bytes >= COMPACT_STEP_BYTES {
                break;
            }
        }
        let mut w = lock(&self.writer);
        // Under the writer lock no append can replace a key any more: drop
        // the ones replaced or removed since they were read, so no stale
        // copy lands after the new one (a replay takes the last record of a
        // key).
        let mut current = Vec::with_capacity(batch.len());
        for (key, loc, image) in batch {
            if self.at.get(key.as_bytes())?.and_then(|v| Loc::decode(&v)) == Some(loc) {
                current.push((key, loc, image));
            }
        }
        let batch = current;
        let locs = self.append(&mut w, batch.iter().map(|(_, _, i)| i.as_slice()))?;
        let entries: Vec<(&str, Loc, Option<Loc>)> = batch
            .iter()
            .zip(locs)
            .map(|((k, old, _), new)| (k.as_str(), new, Some(*old)))
            .collect();
        self.index(&entries, (w.segment, w.len))?;
        drop(w);
        self.changed(bytes);
        tracing::debug!(
            segment = s,
            moved = batch.len(),
            bytes,
            "packed segment compacted"
        );
        Ok(true)
    }
}

impl Drop for PackedFragments {
    /// A clean close leaves nothing to re-index on the next open.
    fn drop(&mut self) {
        if let Err(e) = self.flush_index() {
            tracing::warn!(error = %e, "packed index not flushed at close");
        }
    }
}

#[cfg(test)]
mod tests;

/// The records of the segment file at `path`, found by walking them from
/// the start: (offset of the image's own bytes, stored bytes of it) for each.
/// A record that does not decode, or one past the end, ends the walk (bytes
/// being appended). For tools (fault injection); the member reads by index.
pub fn images_in_segment(path: &Path) -> Vec<(u64, u64)> {
    let Ok(f) = File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    replay::records(&f, 0, len)
        .0
        .into_iter()
        .map(|r| (r.at + r.skip, r.stored))
        .collect()
}
