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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use stripecast_persistence::fragment::tree::{adopt_flat_fragments, create_shards};
use stripecast_persistence::{
    Catalog, FragmentError, FragmentName, FragmentReader, HomeBlock, ObjectRecord,
};
use tracing::{debug, info, warn};

use crate::store::StoreError;

mod mirror;
pub use mirror::{MirrorChange, VolumeMirror};

/// Fragments a read session pins, and when it started.
struct Session {
    keys: Vec<(String, u32)>,
    opened: Instant,
}

/// Open fragment files, shared by readers; pinned ones are never evicted.
#[derive(Default)]
struct ReaderCache {
    open: HashMap<(String, u32), Arc<FragmentReader>>,
    pins: HashMap<(String, u32), usize>,
    sessions: HashMap<u64, Session>,
}

/// A read session that never closed (its coordinator died) is dropped after this.
const SESSION_TTL: Duration = Duration::from_secs(30 * 60);

pub struct LocalStore {
    member: u32,
    /// Objects in the catalog, kept here because sled counts by scanning and
    /// the count goes out in every heartbeat status.
    objects: std::sync::atomic::AtomicU64,
    /// `None` until this member has joined the volume (new, or a wiped disk).
    homeblock: Mutex<Option<HomeBlock>>,
    fragments: PathBuf,
    catalog: Catalog,
    commit_lock: Mutex<()>,
    readers: Mutex<ReaderCache>,
    /// Open fragment files kept for reuse (`[store] reader_cache_files`);
    /// files pinned by reads in progress come on top.
    reader_cache_files: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LocalStore {
    /// Opens (creating if needed) `data_dir/fragments` and `data_dir/catalog`.
    pub fn open(
        data_dir: &Path,
        member: u32,
        reader_cache_files: usize,
    ) -> Result<LocalStore, StoreError> {
        let fragments = data_dir.join("fragments");
        std::fs::create_dir_all(&fragments).map_err(|e| StoreError::io(&fragments, e))?;
        let catalog = Catalog::open(data_dir.join("catalog"))?;
        let adopted =
            adopt_flat_fragments(&fragments).map_err(|e| StoreError::io(&fragments, e))?;
        if adopted > 0 {
            info!(
                member,
                adopted, "flat fragment files moved into their shards"
            );
        }
        create_shards(&fragments).map_err(|e| StoreError::io(&fragments, e))?;
        let removed = stripecast_persistence::fragment::remove_stale_temps(&fragments)
            .map_err(|e| StoreError::io(&fragments, e))?;
        let homeblock = catalog.homeblock()?;
        info!(member, dir = %data_dir.display(), objects = catalog.object_count(), temp_removed = removed, incarnation = homeblock.map(|h| h.incarnation), "store opened");
        Ok(LocalStore {
            objects: std::sync::atomic::AtomicU64::new(catalog.object_count() as u64),
            homeblock: Mutex::new(homeblock),
            member,
            fragments,
            catalog,
            commit_lock: Mutex::new(()),
            readers: Mutex::new(ReaderCache::default()),
            reader_cache_files: reader_cache_files.max(1),
        })
    }

    pub fn member(&self) -> u32 {
        self.member
    }

    pub fn fragment_dir(&self) -> &Path {
        &self.fragments
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The path of this member's fragment of `record`'s incarnation.
    pub fn fragment_path(&self, name: &str, incarnation: u32, count: u8) -> PathBuf {
        let index = u8::try_from(self.member).unwrap_or(u8::MAX);
        FragmentName::new(name, incarnation, index, count).path_in(&self.fragments)
    }

    fn unlink(&self, path: &Path) {
        match std::fs::remove_file(path) {
            Ok(()) => debug!(member = self.member, path = %path.display(), "fragment removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(member = self.member, path = %path.display(), error = %e, "cannot remove fragment")
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
    pub fn marks_for(&self, n: u32) -> Vec<u32> {
        (0..n)
            .filter(|&m| self.catalog.has_dirty(m as usize).unwrap_or(false))
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
            member = self.member,
            incarnation = hb.incarnation,
            dirty = hb.is_dirty(),
            "homeblock stored"
        );
        Ok(())
    }

    pub fn dirty_count(&self, member: u32) -> Result<usize, StoreError> {
        Ok(self.catalog.dirty_count(member as usize)?)
    }

    /// Whether this member holds a whole, verified fragment of (name, incarnation).
    pub fn has_valid_fragment(&self, name: &str, incarnation: u32) -> bool {
        match self
            .find_fragment(name, incarnation)
            .and_then(|p| Ok(FragmentReader::open(&p)?))
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
    fn reader(&self, name: &str, incarnation: u32) -> Result<Arc<FragmentReader>, StoreError> {
        let key = (name.to_string(), incarnation);
        if let Some(r) = lock(&self.readers).open.get(&key) {
            return Ok(r.clone());
        }
        let path = self.find_fragment(name, incarnation)?;
        let reader = Arc::new(FragmentReader::open(&path)?);
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

    /// This member's fragment file of (name, incarnation), found by its
    /// computed path, never by listing a directory. Its fragment count is
    /// the catalog record's (the layout it was written with) or, failing
    /// that, the volume's (the HomeBlock's member count); a fragment of
    /// another count (an older incarnation while the volume grows) is not
    /// found, and the reader rebuilds that block from its row.
    fn find_fragment(&self, name: &str, incarnation: u32) -> Result<PathBuf, StoreError> {
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
            .map(|count| self.fragment_path(name, incarnation, count))
            .find(|p| p.is_file())
            .ok_or_else(|| StoreError::NotFound(format!("{name} incarnation {incarnation}")))
    }

    /// Pins this member's fragment of (name, incarnation) for `session`.
    pub fn open_read(&self, session: u64, name: &str, incarnation: u32) -> Result<(), StoreError> {
        self.reader(name, incarnation)?;
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
            warn!(member = self.member, session = id, "read session expired");
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
        incarnation: u32,
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
        incarnation: u32,
        lbn: u64,
        data: &[u8],
    ) -> Result<(), StoreError> {
        let path = self.find_fragment(name, incarnation)?;
        let mut rw = FragmentReader::open_rw(&path)?;
        rw.rewrite_block(lbn, data)?;
        info!(member = self.member, object = %name, incarnation, lbn, "block rewritten");
        Ok(())
    }

    /// Whether a fragment error means the block itself is bad (not the file missing).
    pub fn is_corruption(e: &FragmentError) -> bool {
        matches!(e, FragmentError::ChecksumMismatch { .. })
    }
}
