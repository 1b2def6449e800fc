//! `LocalStore`: this member's fragments and catalog, as one thread-safe value.
//!
//! Everything here blocks (file I/O, fsync, sled flush); async callers run it
//! through `spawn_blocking`. Invariants:
//! * The catalog mirrors the metadata group's decisions (`mirror`), under
//!   one lock; it never decides which incarnation is current.
//! * A fragment pinned by a read session stays readable (its file open) until
//!   the session closes, even if a newer incarnation removes its file meanwhile:
//!   a reader sees the old object or the new one, whole.
//! * Temporary files from writes cut short by a crash are removed at open.
//! * A fragment is a file in its shard of `fragments/` or, for objects of one
//!   row, a packed image (`packed/`, the same bytes; see
//!   `stripecast_persistence::packed`); either is found by its computed
//!   name, and every reader, repair and removal handles both.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use stripecast_persistence::Incarnation;

use stripecast_config::MemberId;
use stripecast_persistence::fragment::tree::{adopt_flat_fragments, create_shards};
use stripecast_persistence::{
    packed_key, Catalog, FragmentError, FragmentName, FragmentReader, HomeBlock, ObjectRecord,
    PackedFragments,
};
use tracing::{debug, info, warn};

use crate::store::group_commit::{GroupCommit, GroupCommitStats};
use crate::store::StoreError;

mod mirror;
pub use mirror::{MirrorChange, VolumeMirror};

/// Fragments a read session pins, and when it started.
struct Session {
    keys: Vec<(String, Incarnation)>,
    opened: Instant,
}

/// Open fragment files, shared by readers; pinned ones are never evicted.
#[derive(Default)]
struct ReaderCache {
    open: HashMap<(String, Incarnation), Arc<FragmentReader>>,
    pins: HashMap<(String, Incarnation), usize>,
    sessions: HashMap<u64, Session>,
}

/// A read session that never closed (its coordinator died) is dropped after this.
const SESSION_TTL: Duration = Duration::from_secs(30 * 60);

/// Where one fragment of this member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FragmentAt {
    /// A file in its shard of the fragment directory.
    File(PathBuf),
    /// A packed image, by its key.
    Packed(String),
}

impl std::fmt::Display for FragmentAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FragmentAt::File(p) => write!(f, "{}", p.display()),
            FragmentAt::Packed(k) => write!(f, "packed {k}"),
        }
    }
}

pub struct LocalStore {
    member: MemberId,
    /// Objects in the catalog, kept here because sled counts by scanning and
    /// the count goes out in every heartbeat status.
    objects: std::sync::atomic::AtomicU64,
    /// `None` until this member has joined the volume (new, or a wiped disk).
    homeblock: Mutex<Option<HomeBlock>>,
    fragments: PathBuf,
    catalog: Catalog,
    packed: Arc<PackedFragments>,
    group_commit: GroupCommit,
    commit_lock: Mutex<()>,
    readers: Mutex<ReaderCache>,
    /// Open fragment files kept for reuse (`[store] reader_cache_files`);
    /// files pinned by reads in progress come on top.
    reader_cache_files: usize,
    /// Fragments pinned for a read session so far (`OpenRead`).
    read_pins: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LocalStore {
    /// Opens (creating if needed) `data_dir/fragments` and `data_dir/catalog`.
    pub fn open(
        data_dir: &Path,
        member: MemberId,
        reader_cache_files: usize,
    ) -> Result<LocalStore, StoreError> {
        let began = std::time::Instant::now();
        let fragments = data_dir.join("fragments");
        std::fs::create_dir_all(&fragments).map_err(|e| StoreError::io(&fragments, e))?;
        let catalog = Catalog::open(data_dir.join("catalog"))?;
        let catalog_ms = began.elapsed().as_millis();
        let adopted =
            adopt_flat_fragments(&fragments).map_err(|e| StoreError::io(&fragments, e))?;
        if adopted > 0 {
            info!(
                %member,
                adopted, "flat fragment files moved into their shards"
            );
        }
        // Before the shards (and `.tmp/`) are created: a store of an
        // earlier version is swept shard by shard once.
        let removed = stripecast_persistence::fragment::remove_stale_temps(&fragments)
            .map_err(|e| StoreError::io(&fragments, e))?;
        create_shards(&fragments).map_err(|e| StoreError::io(&fragments, e))?;
        let fragments_ms = began.elapsed().as_millis() - catalog_ms;
        let packed = Arc::new(PackedFragments::open(data_dir.join("packed"))?);
        let packed_ms = began.elapsed().as_millis() - catalog_ms - fragments_ms;
        let group_commit = GroupCommit::start(packed.clone(), member)
            .map_err(|e| StoreError::Internal(format!("starting the group commit: {e}")))?;
        let homeblock = catalog.homeblock()?;
        let objects = catalog.object_count()?;
        info!(
            %member,
            dir = %data_dir.display(),
            objects,
            temp_removed = removed,
            incarnation = homeblock.map(|h| h.incarnation.get()),
            catalog_ms,
            fragments_ms,
            packed_ms,
            "store opened"
        );
        Ok(LocalStore {
            objects: std::sync::atomic::AtomicU64::new(objects),
            homeblock: Mutex::new(homeblock),
            member,
            fragments,
            catalog,
            packed,
            group_commit,
            commit_lock: Mutex::new(()),
            readers: Mutex::new(ReaderCache::default()),
            reader_cache_files: reader_cache_files.max(1),
            read_pins: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn member(&self) -> MemberId {
        self.member
    }

    pub fn fragment_dir(&self) -> &Path {
        &self.fragments
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The path of this member's fragment of `record`'s incarnation.
    pub fn fragment_path(&self, name: &str, incarnation: Incarnation, count: u8) -> PathBuf {
        self.fragment_name(name, incarnation, count)
            .path_in(&self.fragments)
    }

    fn fragment_name(&self, name: &str, incarnation: Incarnation, count: u8) -> FragmentName {
        let index = self.member.fragment_index().unwrap_or(u8::MAX);
        FragmentName::new(name, incarnation, index, count)
    }

    /// Stores a fragment image packed; answers once it is durable (shared
    /// flushes: see `group_commit`).
    pub async fn put_packed(&self, name: &FragmentName, image: Vec<u8>) -> Result<(), StoreError> {
        self.group_commit.put(packed_key(name), image).await
    }

    /// Packed fragments held, and bytes of their segments no longer used.
    /// Fragments pinned for read sessions so far.
    pub fn read_pins(&self) -> u64 {
        self.read_pins.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn packed_counts(&self) -> (u64, u64) {
        (self.packed.len() as u64, self.packed.dead_bytes())
    }

    /// The group commit's counts.
    pub fn group_commit_stats(&self) -> &GroupCommitStats {
        self.group_commit.stats()
    }

    /// The packed fragments in fan-out shard `shard`, for the scrub.
    pub fn packed_in_shard(
        &self,
        shard: u8,
    ) -> Result<Vec<(FragmentAt, FragmentName)>, StoreError> {
        Ok(self
            .packed
            .keys_in_shard(shard)?
            .into_iter()
            .filter_map(|key| {
                let file = key.split_once('/')?.1;
                let name = FragmentName::parse(file).ok()?;
                Some((FragmentAt::Packed(key), name))
            })
            .collect())
    }

    /// Removes this member's packed fragment of (name, incarnation) of a
    /// layout of `members` fragments, if there is one.
    pub fn forget_packed(&self, name: &str, incarnation: Incarnation, members: u8) {
        let key = packed_key(&self.fragment_name(name, incarnation, members));
        self.remove_at(&FragmentAt::Packed(key));
    }

    /// Opens a fragment wherever it is.
    pub fn open_at(&self, at: &FragmentAt) -> Result<FragmentReader, StoreError> {
        match at {
            FragmentAt::File(path) => Ok(FragmentReader::open(path)?),
            FragmentAt::Packed(key) => {
                let image = self
                    .packed
                    .get(key)?
                    .ok_or_else(|| StoreError::NotFound(format!("packed fragment {key}")))?;
                Ok(FragmentReader::from_image(
                    &Path::new("packed").join(key),
                    image,
                )?)
            }
        }
    }

    /// Removes a fragment wherever it is (a missing one is not an error).
    pub fn remove_at(&self, at: &FragmentAt) {
        match at {
            FragmentAt::File(path) => self.unlink(path),
            FragmentAt::Packed(key) => {
                if let Err(e) = self.packed.remove(key) {
                    warn!(member = %self.member, key, error = %e, "cannot remove packed fragment");
                }
            }
        }
    }

    fn unlink(&self, path: &Path) {
        match std::fs::remove_file(path) {
            Ok(()) => debug!(member = %self.member, path = %path.display(), "fragment removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(member = %self.member, path = %path.display(), error = %e, "cannot remove fragment")
            }
        }
    }

    /// Drops cached open files of `name` that no read session pins, so removed
    /// fragments free their space and are never read again.
    fn forget_readers(&self, name: &str) {
        let mut cache = lock(&self.readers);
        let pins = cache.pins.clone();
        cache
            .open
            .retain(|k, _| k.0 != name || pins.contains_key(k));
    }

    /// Members (of `n`) whose dirty sets hold marks here.
    pub fn marks_for(&self, n: usize) -> Vec<MemberId> {
        MemberId::all(n)
            .filter(|m| self.catalog.has_dirty(m.position()).unwrap_or(false))
            .collect()
    }

    /// Objects in this member's catalog (without scanning it).
    pub fn object_count(&self) -> u64 {
        self.objects.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This member's HomeBlock (`None` while it has not joined).
    pub fn homeblock(&self) -> Option<HomeBlock> {
        *lock(&self.homeblock)
    }

    /// Stores `hb` durably as this member's HomeBlock.
    pub fn set_homeblock(&self, hb: HomeBlock) -> Result<(), StoreError> {
        let _guard = lock(&self.commit_lock);
        self.catalog.put_homeblock(&hb)?;
        *lock(&self.homeblock) = Some(hb);
        info!(
            member = %self.member,
            incarnation = %hb.incarnation,
            dirty = hb.is_dirty(),
            "homeblock stored"
        );
        Ok(())
    }

    pub fn dirty_count(&self, member: MemberId) -> Result<usize, StoreError> {
        Ok(self.catalog.dirty_count(member.position())?)
    }

    /// Whether this member holds a whole, verified fragment of (name, incarnation).
    pub fn has_valid_fragment(&self, name: &str, incarnation: Incarnation) -> bool {
        match self
            .find_fragment(name, incarnation)
            .and_then(|at| self.open_at(&at))
        {
            Ok(r) => r
                .verify_all()
                .is_ok_and(|checks| checks.iter().all(|c| c.ok())),
            Err(_) => false,
        }
    }

    pub fn record(&self, name: &str) -> Result<Option<ObjectRecord>, StoreError> {
        Ok(self.catalog.get_object(name)?)
    }

    pub fn list(&self) -> Result<Vec<ObjectRecord>, StoreError> {
        Ok(self.catalog.list_objects()?)
    }

    /// The open reader for (name, incarnation), opening the file if needed.
    fn reader(
        &self,
        name: &str,
        incarnation: Incarnation,
    ) -> Result<Arc<FragmentReader>, StoreError> {
        let key = (name.to_string(), incarnation);
        if let Some(r) = lock(&self.readers).open.get(&key) {
            return Ok(r.clone());
        }
        let at = self.find_fragment(name, incarnation)?;
        let reader = Arc::new(self.open_at(&at)?);
        let mut cache = lock(&self.readers);
        if cache.open.len() >= self.reader_cache_files {
            let pins = &cache.pins;
            let evict: Vec<_> = cache
                .open
                .keys()
                .filter(|k| !pins.contains_key(*k))
                .take(self.reader_cache_files.div_ceil(4))
                .cloned()
                .collect();
            for k in evict {
                cache.open.remove(&k);
            }
        }
        Ok(cache.open.entry(key).or_insert(reader).clone())
    }

    /// This member's fragment of (name, incarnation), packed or a file,
    /// found by its computed key and path, never by listing a directory. Its fragment count is
    /// the catalog record's (the layout it was written with) or, failing
    /// that, the volume's (the HomeBlock's member count); a fragment of
    /// another count (an older incarnation while the volume grows) is not
    /// found, and the reader rebuilds that block from its row.
    fn find_fragment(
        &self,
        name: &str,
        incarnation: Incarnation,
    ) -> Result<FragmentAt, StoreError> {
        let from_record = self
            .catalog
            .get_object(name)
            .ok()
            .flatten()
            .map(|r| r.fragment_count);
        let from_volume = self.homeblock().map(|h| h.member_count);
        let mut counts = [from_record, from_volume];
        if counts[0] == counts[1] {
            counts[1] = None;
        }
        counts
            .into_iter()
            .flatten()
            .find_map(|count| {
                let fname = self.fragment_name(name, incarnation, count);
                let key = packed_key(&fname);
                if self.packed.contains(&key).unwrap_or(false) {
                    return Some(FragmentAt::Packed(key));
                }
                let path = fname.path_in(&self.fragments);
                path.is_file().then_some(FragmentAt::File(path))
            })
            .ok_or_else(|| StoreError::NotFound(format!("{name} incarnation {incarnation}")))
    }

    /// Pins this member's fragment of (name, incarnation) for `session`.
    pub fn open_read(
        &self,
        session: u64,
        name: &str,
        incarnation: Incarnation,
    ) -> Result<(), StoreError> {
        self.reader(name, incarnation)?;
        self.read_pins
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = (name.to_string(), incarnation);
        let mut cache = lock(&self.readers);
        let now = Instant::now();
        let expired: Vec<u64> = cache
            .sessions
            .iter()
            .filter(|(_, s)| now.duration_since(s.opened) > SESSION_TTL)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            warn!(member = %self.member, session = id, "read session expired");
            Self::release(&mut cache, id);
        }
        *cache.pins.entry(key.clone()).or_default() += 1;
        cache
            .sessions
            .entry(session)
            .or_insert_with(|| Session {
                keys: Vec::new(),
                opened: now,
            })
            .keys
            .push(key);
        Ok(())
    }

    fn release(cache: &mut ReaderCache, session: u64) {
        if let Some(s) = cache.sessions.remove(&session) {
            for key in s.keys {
                if let Some(n) = cache.pins.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        cache.pins.remove(&key);
                    }
                }
            }
        }
    }

    /// Fragment files open in the reader cache (pinned or not).
    pub fn open_readers(&self) -> usize {
        lock(&self.readers).open.len()
    }

    pub fn close_read(&self, session: u64) {
        Self::release(&mut lock(&self.readers), session);
    }

    /// One block of this member's fragment of (name, incarnation),
    /// checksum-verified unless `verify` is off (only the test-only
    /// `serve-unverified` hook turns it off; see `crate::testing`).
    pub fn read_block(
        &self,
        name: &str,
        incarnation: Incarnation,
        lbn: u64,
        verify: bool,
    ) -> Result<Vec<u8>, StoreError> {
        let reader = self.reader(name, incarnation)?;
        Ok(if verify {
            reader.read_block(lbn)?
        } else {
            reader.read_block_unverified(lbn)?
        })
    }

    /// Replaces one block (with its checksum) and fsyncs: repair from parity.
    pub fn write_block(
        &self,
        name: &str,
        incarnation: Incarnation,
        lbn: u64,
        data: &[u8],
    ) -> Result<(), StoreError> {
        match self.find_fragment(name, incarnation)? {
            FragmentAt::File(path) => FragmentReader::open_rw(&path)?.rewrite_block(lbn, data)?,
            at @ FragmentAt::Packed(_) => {
                let mut rw = self.open_at(&at)?;
                rw.rewrite_block(lbn, data)?;
                if let (FragmentAt::Packed(key), Some(image)) = (&at, rw.image()) {
                    self.packed.put_all(&[(key.clone(), image.to_vec())])?;
                }
            }
        }
        self.forget_readers(name);
        info!(member = %self.member, object = %name, %incarnation, lbn, "block rewritten");
        Ok(())
    }

    /// Whether a fragment error means the block itself is bad (not the file missing).
    pub fn is_corruption(e: &FragmentError) -> bool {
        matches!(e, FragmentError::ChecksumMismatch { .. })
    }
}
