//! The catalog as a mirror of the replicated metadata.
//!
//! The metadata group (`crate::meta`) decides which incarnation of an object
//! is current, which objects are gone and which members missed what; every
//! member applies those decisions here, into its sled catalog, its HomeBlock
//! and its fragment directory. The catalog is then what the scrub, the
//! listing of this member's own objects and the heartbeat status read; it
//! is never what decides a client's answer (the group is).
//!
//! Invariants:
//! * Applying is idempotent: after a crash the group replays entries this
//!   member already mirrored, and the outcome is the same.
//! * Only the fragment of the incarnation a change *replaced* (or removed)
//!   is unlinked, never "every older one": incarnations are handed out in
//!   blocks, so a lower number may belong to a PUT whose commit is still on
//!   its way, and its fragments must survive until it is decided.
//! * One atomic catalog batch per call, flushed only when it changes the
//!   HomeBlock: the group's log holds every mirrored change until the log is
//!   compacted, and the replica makes the catalog durable ([`LocalStore::
//!   flush_catalog`], through `Applier::persist`) before it compacts. A crash
//!   in between replays the changes; so a PUT's acknowledgement waits for
//!   the Raft log's fsync, not for a second one of the catalog.
//! * Every batch records the log entry (index and term) it mirrors through
//!   (`mirrored_to`, same transaction): a restart skips the entries the
//!   catalog already holds, when the log still has that entry at that term,
//!   instead of mirroring up to a whole log of them again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use stripecast_persistence::Incarnation;

use stripecast_config::MemberId;
use stripecast_persistence::{packed_key, Batch, MirrorMark, ObjectRecord};
use tracing::{debug, info};

use super::FragmentAt;

use super::{lock, LocalStore};
use crate::store::StoreError;

/// One decision of the metadata group this member mirrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorChange {
    /// `record` is current; `replaced` was the incarnation before it.
    Put {
        record: ObjectRecord,
        replaced: Option<Incarnation>,
    },
    /// The object is gone; `removed` was its incarnation.
    Remove { name: String, removed: Incarnation },
    /// `member` missed `name` (it joins the member's dirty set).
    Mark { member: MemberId, name: String },
    /// `member` has rebuilt `name` (it leaves the member's dirty set).
    Clear { member: MemberId, name: String },
}

/// The volume-wide part of the state a HomeBlock carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeMirror {
    /// The volume incarnation the group reached (the HomeBlock takes it if larger).
    pub incarnation: stripecast_persistence::VolumeIncarnation,
    /// Whether any member has objects to rebuild (the HomeBlock's dirty bit).
    pub dirty: bool,
}

impl LocalStore {
    /// Mirrors `changes` (in log order) and the volume state, in one batch.
    /// `fragment_count` names a removed object's files when the catalog has
    /// no record of it to take the count from.
    /// `through` is the log entry (index, term) the last of `changes` come from.
    pub fn mirror(
        &self,
        changes: &[MirrorChange],
        volume: VolumeMirror,
        fragment_count: u8,
        through: MirrorMark,
    ) -> Result<(), StoreError> {
        let _guard = lock(&self.commit_lock);
        let mut batch = Batch::new();
        // Presence and fragment count of each touched name as the batch goes.
        let mut seen: HashMap<String, Option<u8>> = HashMap::new();
        let mut unlink: Vec<(String, Incarnation, u8)> = Vec::new();
        let mut delta: i64 = 0;
        for c in changes {
            match c {
                MirrorChange::Put { record, replaced } => {
                    let before = self.presence(&mut seen, &record.name)?;
                    if before.is_none() {
                        delta += 1;
                    }
                    if let Some(old) = replaced.filter(|old| *old != record.incarnation) {
                        unlink.push((
                            record.name.clone(),
                            old,
                            before.unwrap_or(record.fragment_count),
                        ));
                    }
                    seen.insert(record.name.clone(), Some(record.fragment_count));
                    batch.put_object(record.clone());
                }
                MirrorChange::Remove { name, removed } => {
                    let before = self.presence(&mut seen, name)?;
                    if before.is_some() {
                        delta -= 1;
                    }
                    unlink.push((name.clone(), *removed, before.unwrap_or(fragment_count)));
                    seen.insert(name.clone(), None);
                    batch.remove_object(name.clone());
                }
                MirrorChange::Mark { member, name } => {
                    batch.mark_dirty(member.position(), name.clone());
                }
                MirrorChange::Clear { member, name } => {
                    batch.clear_dirty(member.position(), name.clone());
                }
            }
        }
        let hb = self.volume_homeblock(&mut batch, volume);
        if batch.is_empty() {
            return Ok(());
        }
        batch.set_mirrored_to(through);
        if hb.is_some() {
            self.catalog.apply(&batch)?;
        } else {
            self.catalog.apply_unflushed(&batch)?;
        }
        if let Some(hb) = hb {
            *lock(&self.homeblock) = Some(hb);
        }
        self.drop_fragments(&unlink);
        self.count_objects(delta);
        Ok(())
    }

    /// The log entry the catalog holds the changes through (`None`: none recorded).
    pub fn mirrored_to(&self) -> Result<Option<MirrorMark>, StoreError> {
        Ok(self.catalog.mirrored_to()?)
    }

    /// Makes everything mirrored so far durable.
    pub fn flush_catalog(&self) -> Result<(), StoreError> {
        Ok(self.catalog.flush()?)
    }

    /// Makes the catalog equal to the group's whole state (after a snapshot
    /// replaced it): records, dirty sets of members `0..members`, volume;
    /// `through` is the log entry the state is at.
    pub fn reconcile(
        &self,
        objects: &BTreeMap<String, ObjectRecord>,
        dirty: &BTreeMap<MemberId, BTreeSet<String>>,
        members: u32,
        volume: VolumeMirror,
        through: MirrorMark,
    ) -> Result<(), StoreError> {
        let _guard = lock(&self.commit_lock);
        let mut batch = Batch::new();
        let mut unlink = Vec::new();
        let held = self.catalog.list_objects()?;
        for r in &held {
            match objects.get(&r.name) {
                Some(now) if now == r => {}
                Some(now) => {
                    if now.incarnation != r.incarnation {
                        unlink.push((r.name.clone(), r.incarnation, r.fragment_count));
                    }
                    batch.put_object(now.clone());
                }
                None => {
                    unlink.push((r.name.clone(), r.incarnation, r.fragment_count));
                    batch.remove_object(r.name.clone());
                }
            }
        }
        let held_names: BTreeSet<&str> = held.iter().map(|r| r.name.as_str()).collect();
        for (name, r) in objects {
            if !held_names.contains(name.as_str()) {
                batch.put_object(r.clone());
            }
        }
        let empty = BTreeSet::new();
        for m in MemberId::all(members as usize) {
            let want = dirty.get(&m).unwrap_or(&empty);
            let have: BTreeSet<String> = self.catalog.dirty(m.position())?.into_iter().collect();
            for name in want.difference(&have) {
                batch.mark_dirty(m.position(), name.clone());
            }
            for name in have.difference(want) {
                batch.clear_dirty(m.position(), name.clone());
            }
        }
        let hb = self.volume_homeblock(&mut batch, volume);
        batch.set_mirrored_to(through);
        self.catalog.apply(&batch)?;
        if let Some(hb) = hb {
            *lock(&self.homeblock) = Some(hb);
        }
        self.objects
            .store(objects.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.drop_fragments(&unlink);
        info!(
            member = %self.member,
            objects = objects.len(),
            removed = unlink.len(),
            "catalog reconciled with the metadata snapshot"
        );
        Ok(())
    }

    /// Whether `name` is in the catalog (as this batch left it), and its fragment count.
    fn presence(
        &self,
        seen: &mut HashMap<String, Option<u8>>,
        name: &str,
    ) -> Result<Option<u8>, StoreError> {
        if let Some(p) = seen.get(name) {
            return Ok(*p);
        }
        let p = self.catalog.get_object(name)?.map(|r| r.fragment_count);
        seen.insert(name.to_string(), p);
        Ok(p)
    }

    /// The HomeBlock after the volume state, put in `batch` if it changed
    /// (only once this member has joined: a fresh one gets its HomeBlock by rebuilding).
    fn volume_homeblock(
        &self,
        batch: &mut Batch,
        volume: VolumeMirror,
    ) -> Option<stripecast_persistence::HomeBlock> {
        let mut hb = (*lock(&self.homeblock))?;
        let before = hb;
        hb.incarnation = hb.incarnation.max(volume.incarnation);
        hb.set_dirty(volume.dirty);
        if hb == before {
            return None;
        }
        batch.put_homeblock(hb);
        Some(hb)
    }

    fn count_objects(&self, delta: i64) {
        use std::sync::atomic::Ordering::Relaxed;
        if delta >= 0 {
            self.objects.fetch_add(delta as u64, Relaxed);
        } else {
            let _ = self.objects.fetch_update(Relaxed, Relaxed, |n| {
                Some(n.saturating_sub(delta.unsigned_abs()))
            });
        }
    }

    /// Unlinks the named fragments (after the catalog no longer points at
    /// them) and forgets their cached open files; pinned readers keep theirs.
    /// Removes this member's fragment of `name` at `incarnation` (of
    /// `count` fragments), wherever it is: a rebuild that finished after
    /// the group replaced or deleted that incarnation leaves none behind.
    pub fn drop_fragment(&self, name: &str, incarnation: Incarnation, count: u8) {
        self.drop_fragments(&[(name.to_string(), incarnation, count)]);
    }

    fn drop_fragments(&self, fragments: &[(String, Incarnation, u8)]) {
        for (name, incarnation, count) in fragments {
            self.forget_readers(name);
            self.unlink(&self.fragment_path(name, *incarnation, *count));
            self.remove_at(&FragmentAt::Packed(packed_key(&self.fragment_name(
                name,
                *incarnation,
                *count,
            ))));
            debug!(member = %self.member, object = %name, %incarnation, "replaced fragment removed");
        }
    }
}

#[cfg(test)]
mod tests;
