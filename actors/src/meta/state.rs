//! The replicated state machine of the cluster's metadata.
//!
//! Every member applies the same committed [`MetaCommand`]s in log order to
//! a [`MetaState`]; `apply` is a pure function of the state and the command,
//! so all members hold the same state at the same applied index. The state
//! is what decides: which incarnation of an object is current (the last
//! committed `Commit`, in log order, not "the larger number"), which objects
//! are deleted, which members missed which objects (dirty sets), the volume
//! incarnation, and the incarnations handed out so far.
//!
//! Invariants (checked by the tests):
//! * an incarnation is handed out once: `Reserve` gives the next block above
//!   every incarnation ever reserved, and a `Commit` of an incarnation that
//!   was never reserved, or that some object already used, is refused;
//! * replaying a committed command (a retried proposal) changes nothing;
//! * a `Delete` leaves a tombstone, so the name's old incarnations are never
//!   current again;
//! * memory is bounded: a block expires `RESERVATION_HORIZON_ENTRIES` log
//!   entries after its `Reserve` (its incarnations can no longer be
//!   committed), and what is remembered only for expired blocks (committed
//!   incarnations, tombstones) is forgotten;
//! * `ClearDirty` removes a mark only if the object is still at the
//!   incarnation the member rebuilt (or gone when it expected it gone).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::access::{AccessCommand, AccessRefusal, AccessState};
use super::attrs::ObjectAttrs;
use super::numbers::LogIndex;
use crate::protocol::RecordWire;
use stripecast_config::MemberId;
use stripecast_persistence::VolumeIncarnation;

/// An object incarnation as handed out by the metadata group.
pub use stripecast_persistence::Incarnation;

/// How many incarnations one `Reserve` hands out at most.
pub const MAX_RESERVE_INCARNATIONS: u32 = 1 << 16;

/// Log entries a reserved block stays usable: a `Commit` of an incarnation
/// reserved longer ago than this is refused (`Expired`). This is what bounds
/// the memory of committed incarnations (`used`) and tombstones: anything
/// below the oldest usable block can never be committed again, so it need
/// not be remembered.
pub const RESERVATION_HORIZON_ENTRIES: u64 = 100_000;

/// One command of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaCommand {
    /// Hand `count` fresh incarnations to `member` (it allocates from them
    /// locally; a restart forgets the rest, which leaves only a gap).
    Reserve { member: MemberId, count: u32 },
    /// Make `record` the current incarnation of its object; `missing` are
    /// the members without a fragment of it (they join its dirty sets).
    Commit {
        record: RecordWire,
        missing: Vec<MemberId>,
        /// What an S3 client stored beside the bytes (ETag, Content-Type,
        /// user metadata); `None` for a `/v1` write.
        #[serde(default)]
        attrs: Option<ObjectAttrs>,
        /// The bucket the object must still be in (an S3 write): refused
        /// with [`Applied::NoBucket`] when it was deleted meanwhile, so an
        /// acknowledged write is never one no listing can show.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bucket: Option<String>,
    },
    /// Remove the object if it is still at `incarnation` (the one the
    /// deleter read; a copy of this command applied after a newer write
    /// must not remove that write); `missing` are the members that did not
    /// remove their fragments (they join its dirty sets).
    Delete {
        name: String,
        incarnation: Incarnation,
        missing: Vec<MemberId>,
    },
    /// `member` rebuilt `name` at `incarnation` (`None`: removed it).
    ClearDirty {
        member: MemberId,
        name: String,
        incarnation: Option<Incarnation>,
    },
    /// The controller's step when the set of down members changed: the
    /// volume incarnation (raised when a member went down, kept when one
    /// came back) and the members down at this step.
    AdvanceVolume {
        incarnation: VolumeIncarnation,
        #[serde(default)]
        down: Vec<MemberId>,
    },
    /// A change to keys, buckets or grants; `op` (random, chosen by the
    /// proposer) makes a resent copy a no-op.
    Access { op: u64, cmd: AccessCommand },
}

impl MetaCommand {
    /// An access command with a fresh op id.
    pub fn access(cmd: AccessCommand) -> MetaCommand {
        MetaCommand::Access {
            op: rand::random(),
            cmd,
        }
    }
}

/// What applying a command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// Incarnations `first .. first + count` now belong to the proposer.
    Reserved {
        first: Incarnation,
        count: u32,
    },
    /// The record is current; `replaced` was the previous incarnation.
    Committed {
        replaced: Option<Incarnation>,
    },
    /// This incarnation was committed before and is no longer current (a
    /// retried proposal): nothing changed, and the write did happen.
    Superseded,
    /// The object is gone; `removed` was its incarnation (`None`: it was already absent).
    Deleted {
        removed: Option<Incarnation>,
    },
    /// Whether the dirty mark was removed.
    Cleared(bool),
    VolumeAdvanced {
        incarnation: VolumeIncarnation,
    },
    /// The incarnation's block was reserved more than
    /// `RESERVATION_HORIZON_ENTRIES` ago: reserve a new one.
    Expired,
    /// The command was refused; nothing changed.
    Refused(String),
    /// A commit whose bucket no longer exists; nothing changed.
    NoBucket(String),
    /// Keys, buckets or grants changed as asked.
    AccessChanged,
    /// The access command was refused; nothing changed.
    AccessRefused(AccessRefusal),
}

/// The whole replicated metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaState {
    /// The current record of every object.
    pub objects: BTreeMap<String, RecordWire>,
    /// Deleted names and their last incarnation.
    pub tombstones: BTreeMap<String, Incarnation>,
    /// Per member, the objects it missed.
    pub dirty: BTreeMap<MemberId, BTreeSet<String>>,
    /// The cluster volume incarnation (HomeBlock epoch).
    pub volume_incarnation: VolumeIncarnation,
    /// The members down when the volume incarnation last changed hands
    /// (the controller's last committed step).
    #[serde(default)]
    pub volume_down: BTreeSet<MemberId>,
    /// The next incarnation `Reserve` hands out (0 is never used).
    pub next_incarnation: Incarnation,
    /// Incarnations committed at least once (a retried commit of one is
    /// `Superseded`, never current again); only those of usable blocks.
    pub used: BTreeSet<Incarnation>,
    /// Usable reserved blocks: first incarnation -> (count, log index reserved at).
    pub reservations: BTreeMap<Incarnation, (u32, LogIndex)>,
    /// The log index of the last command applied.
    pub applied_index: LogIndex,
    /// Per current object, what an S3 client stored beside its bytes.
    #[serde(default)]
    pub attrs: BTreeMap<String, ObjectAttrs>,
    /// Keys, buckets and grants.
    #[serde(default)]
    pub access: AccessState,
}

impl MetaState {
    pub fn new() -> MetaState {
        MetaState {
            next_incarnation: Incarnation::FIRST,
            ..MetaState::default()
        }
    }

    /// Applies the command committed at `index` (in log order, each index once).
    pub fn apply(&mut self, index: LogIndex, cmd: &MetaCommand) -> Applied {
        debug_assert!(index > self.applied_index || index == LogIndex::default());
        self.applied_index = self.applied_index.max(index);
        match cmd {
            MetaCommand::Reserve { member: _, count } => {
                let count = (*count).clamp(1, MAX_RESERVE_INCARNATIONS);
                let first = self.next_incarnation.max(Incarnation::FIRST);
                match first.checked_add(count) {
                    Some(next) => {
                        self.next_incarnation = next;
                        self.reservations.insert(first, (count, index));
                        self.forget_expired(index);
                        Applied::Reserved { first, count }
                    }
                    None => Applied::Refused("incarnations exhausted".into()),
                }
            }
            MetaCommand::Commit {
                record,
                missing,
                attrs,
                bucket,
            } => {
                let inc = record.incarnation;
                if inc == Incarnation::default() || inc >= self.next_incarnation {
                    return Applied::Refused(format!("incarnation {inc} was never reserved"));
                }
                let current = self.objects.get(&record.name);
                if current == Some(record) {
                    return Applied::Committed {
                        replaced: Some(inc),
                    };
                }
                self.forget_expired(index);
                if !self.is_usable(inc) {
                    return Applied::Expired;
                }
                if self.used.contains(&inc) {
                    // A retried proposal of a commit that was applied and
                    // has since been replaced (or deleted): it happened.
                    return Applied::Superseded;
                }
                if let Some(b) = bucket
                    .as_ref()
                    .filter(|b| !self.access.buckets.contains_key(*b))
                {
                    return Applied::NoBucket(b.clone());
                }
                self.used.insert(inc);
                let replaced = self
                    .objects
                    .insert(record.name.clone(), record.clone())
                    .map(|r| r.incarnation);
                self.tombstones.remove(&record.name);
                match attrs {
                    Some(a) => self.attrs.insert(record.name.clone(), a.clone()),
                    None => self.attrs.remove(&record.name),
                };
                self.mark(&record.name, missing);
                Applied::Committed { replaced }
            }
            MetaCommand::Delete {
                name,
                incarnation,
                missing,
            } => {
                if self.objects.get(name).map(|r| r.incarnation) != Some(*incarnation) {
                    return Applied::Deleted { removed: None };
                }
                let removed = self.objects.remove(name).map(|r| r.incarnation);
                self.attrs.remove(name);
                if let Some(inc) = removed {
                    self.tombstones.insert(name.clone(), inc);
                    self.mark(name, missing);
                }
                Applied::Deleted { removed }
            }
            MetaCommand::ClearDirty {
                member,
                name,
                incarnation,
            } => {
                let now = self.objects.get(name).map(|r| r.incarnation);
                if now != *incarnation {
                    return Applied::Cleared(false);
                }
                let cleared = self
                    .dirty
                    .get_mut(member)
                    .is_some_and(|set| set.remove(name));
                if self.dirty.get(member).is_some_and(BTreeSet::is_empty) {
                    self.dirty.remove(member);
                }
                Applied::Cleared(cleared)
            }
            MetaCommand::AdvanceVolume { incarnation, down } => {
                self.volume_incarnation = self.volume_incarnation.max(*incarnation);
                self.volume_down = down.iter().copied().collect();
                Applied::VolumeAdvanced {
                    incarnation: self.volume_incarnation,
                }
            }
            MetaCommand::Access { op, cmd } => {
                let objects = &self.objects;
                // Open multipart uploads of the bucket count as its objects.
                let empty = |bucket: &str| {
                    !has_objects_under(objects, bucket)
                        && !has_objects_under(objects, &format!(".multipart/{bucket}"))
                };
                match self.access.apply_once(*op, index.get(), cmd, empty) {
                    Ok(()) => Applied::AccessChanged,
                    Err(why) => Applied::AccessRefused(why),
                }
            }
        }
    }

    /// Whether this member's fragment of (`name`, `inc`) can be removed: it
    /// is not the current incarnation and can never become it (committed
    /// before and since replaced, or its block expired before it was
    /// committed). A fragment of an incarnation whose commit may still come
    /// is never garbage.
    pub fn fragment_is_garbage(&self, name: &str, inc: Incarnation) -> bool {
        let current = self.objects.get(name).map(|r| r.incarnation) == Some(inc);
        let may_commit = self.is_usable(inc) && !self.used.contains(&inc);
        !current && !may_commit && inc < self.next_incarnation
    }

    /// Whether `inc` lies in a block that is still usable.
    fn is_usable(&self, inc: Incarnation) -> bool {
        self.reservations
            .range(..=inc)
            .next_back()
            .is_some_and(|(first, (count, _))| inc.in_block(*first, *count))
    }

    /// Drops blocks reserved `RESERVATION_HORIZON_ENTRIES` or more before
    /// `index`, and what is remembered only for them: blocks are reserved
    /// in increasing incarnation order, so the expired ones are a prefix.
    fn forget_expired(&mut self, index: LogIndex) {
        let expired: Vec<Incarnation> = self
            .reservations
            .iter()
            .take_while(|(_, (_, at))| index.entries_since(*at) >= RESERVATION_HORIZON_ENTRIES)
            .map(|(first, _)| *first)
            .collect();
        if expired.is_empty() {
            return;
        }
        for first in expired {
            self.reservations.remove(&first);
        }
        let floor = self
            .reservations
            .keys()
            .next()
            .copied()
            .unwrap_or(self.next_incarnation);
        self.used = self.used.split_off(&floor);
        self.tombstones.retain(|_, inc| *inc >= floor);
    }

    /// The current records named `BUCKET/...` after `after` (exclusive; `None`
    /// from the start) whose name (past `BUCKET/`) starts with `prefix`, in
    /// name order, lazily: a listing page takes what it needs in
    /// O(log objects + page).
    pub fn page<'a>(
        &'a self,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a RecordWire, Option<&'a ObjectAttrs>)> + 'a {
        use std::ops::Bound;
        let start = format!("{bucket}/{prefix}");
        let lower = match after.map(|a| format!("{bucket}/{a}")) {
            Some(a) if a >= start => Bound::Excluded(a),
            _ => Bound::Included(start.clone()),
        };
        self.objects
            .range::<String, _>((lower, Bound::Unbounded))
            .take_while(move |(name, _)| name.starts_with(&start))
            .map(|(name, r)| (r, self.attrs.get(name)))
    }

    fn mark(&mut self, name: &str, members: &[MemberId]) {
        for m in members {
            self.dirty.entry(*m).or_default().insert(name.to_string());
        }
    }

    /// The state as snapshot bytes (MessagePack).
    pub fn to_snapshot(&self) -> Result<Vec<u8>, rmp_serde::encode::Error> {
        rmp_serde::to_vec(self)
    }

    /// A state from snapshot bytes; never panics on bad input.
    pub fn from_snapshot(bytes: &[u8]) -> Result<MetaState, rmp_serde::decode::Error> {
        rmp_serde::from_slice(bytes)
    }
}

/// Whether any object is named `BUCKET/...`.
fn has_objects_under(objects: &BTreeMap<String, RecordWire>, bucket: &str) -> bool {
    let start = format!("{bucket}/");
    objects
        .range(start.clone()..)
        .next()
        .is_some_and(|(name, _)| name.starts_with(&start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(name: &str, incarnation: Incarnation) -> RecordWire {
        RecordWire {
            name: name.into(),
            length: 10,
            incarnation,
            members: 3,
            parity: 1,
            stripe_size: 65536,
            crc32c: incarnation.get(),
            creation_time_ns: 1,
        }
    }

    fn commit(name: &str, inc: Incarnation, missing: &[MemberId]) -> MetaCommand {
        MetaCommand::Commit {
            record: record(name, inc),
            missing: missing.to_vec(),
            attrs: None,
            bucket: None,
        }
    }

    #[test]
    fn a_commit_into_a_deleted_bucket_is_refused_and_uses_nothing() {
        use super::super::access::AccessCommand;
        let mut s = MetaState::new();
        s.apply(
            LogIndex::new(1),
            &MetaCommand::Reserve {
                member: MemberId::new(0),
                count: 10,
            },
        );
        let in_bucket = |inc: u32| MetaCommand::Commit {
            record: record("films/a", Incarnation::new(inc)),
            missing: vec![],
            attrs: None,
            bucket: Some("films".into()),
        };
        assert_eq!(
            s.apply(LogIndex::new(2), &in_bucket(1)),
            Applied::NoBucket("films".into())
        );
        assert!(s.objects.is_empty());
        s.apply(
            LogIndex::new(3),
            &MetaCommand::access(AccessCommand::CreateBucket {
                bucket: "films".into(),
                created_ns: 1,
            }),
        );
        // The refusal used nothing: the same incarnation commits now.
        assert_eq!(
            s.apply(LogIndex::new(4), &in_bucket(1)),
            Applied::Committed { replaced: None }
        );
        // A retried copy of an applied commit still says it happened.
        assert_eq!(
            s.apply(LogIndex::new(5), &in_bucket(1)),
            Applied::Committed {
                replaced: Some(Incarnation::new(1))
            }
        );
    }

    #[test]
    fn reservations_never_overlap_and_commits_need_one() {
        let mut s = MetaState::new();
        assert_eq!(
            s.apply(LogIndex::new(1), &commit("a", Incarnation::new(1), &[])),
            Applied::Refused("incarnation 1 was never reserved".into())
        );
        assert_eq!(
            s.apply(
                LogIndex::new(2),
                &MetaCommand::Reserve {
                    member: MemberId::new(0),
                    count: 10
                }
            ),
            Applied::Reserved {
                first: Incarnation::new(1),
                count: 10
            }
        );
        assert_eq!(
            s.apply(
                LogIndex::new(3),
                &MetaCommand::Reserve {
                    member: MemberId::new(1),
                    count: 10
                }
            ),
            Applied::Reserved {
                first: Incarnation::new(11),
                count: 10
            }
        );
        assert_eq!(
            s.apply(LogIndex::new(4), &commit("a", Incarnation::new(12), &[])),
            Applied::Committed { replaced: None }
        );
        // Log order decides, not the number: a later commit of a smaller incarnation wins.
        assert_eq!(
            s.apply(
                LogIndex::new(5),
                &commit("a", Incarnation::new(3), &[MemberId::new(2)])
            ),
            Applied::Committed {
                replaced: Some(Incarnation::new(12))
            }
        );
        assert_eq!(s.objects["a"].incarnation, Incarnation::new(3));
        assert!(s.dirty[&MemberId::new(2)].contains("a"));
        // A retried proposal changes nothing; an old incarnation committed
        // again (a retry that lost to a later write) is superseded, not current.
        let before = s.clone();
        assert_eq!(
            s.apply(
                LogIndex::new(6),
                &commit("a", Incarnation::new(3), &[MemberId::new(2)])
            ),
            Applied::Committed {
                replaced: Some(Incarnation::new(3))
            }
        );
        assert_eq!(
            s.apply(LogIndex::new(7), &commit("a", Incarnation::new(12), &[])),
            Applied::Superseded
        );
        assert_eq!(s.objects, before.objects);
        assert_eq!(s.applied_index, LogIndex::new(7));
    }

    #[test]
    fn deletes_leave_tombstones_and_marks() {
        let mut s = MetaState::new();
        s.apply(
            LogIndex::new(1),
            &MetaCommand::Reserve {
                member: MemberId::new(0),
                count: 5,
            },
        );
        s.apply(LogIndex::new(2), &commit("a", Incarnation::new(1), &[]));
        assert_eq!(
            s.apply(
                LogIndex::new(3),
                &MetaCommand::Delete {
                    name: "a".into(),
                    incarnation: Incarnation::new(1),
                    missing: vec![MemberId::new(1)]
                }
            ),
            Applied::Deleted {
                removed: Some(Incarnation::new(1))
            }
        );
        assert!(!s.objects.contains_key("a"));
        assert_eq!(s.tombstones["a"], Incarnation::new(1));
        assert!(s.dirty[&MemberId::new(1)].contains("a"));
        let delete_1 = MetaCommand::Delete {
            name: "a".into(),
            incarnation: Incarnation::new(1),
            missing: vec![],
        };
        assert_eq!(
            s.apply(LogIndex::new(4), &delete_1),
            Applied::Deleted { removed: None }
        );
        s.apply(LogIndex::new(5), &commit("a", Incarnation::new(2), &[]));
        assert!(s.tombstones.is_empty());
        // A copy of the first delete applied after the newer write keeps it.
        assert_eq!(
            s.apply(LogIndex::new(6), &delete_1),
            Applied::Deleted { removed: None }
        );
        assert_eq!(s.objects["a"].incarnation, Incarnation::new(2));
    }

    #[test]
    fn clear_dirty_only_for_the_incarnation_rebuilt() {
        let mut s = MetaState::new();
        s.apply(
            LogIndex::new(1),
            &MetaCommand::Reserve {
                member: MemberId::new(0),
                count: 5,
            },
        );
        s.apply(
            LogIndex::new(2),
            &commit("a", Incarnation::new(1), &[MemberId::new(2)]),
        );
        s.apply(
            LogIndex::new(3),
            &commit("a", Incarnation::new(2), &[MemberId::new(2)]),
        );
        let clear = |inc| MetaCommand::ClearDirty {
            member: MemberId::new(2),
            name: "a".into(),
            incarnation: inc,
        };
        assert_eq!(
            s.apply(LogIndex::new(4), &clear(Some(Incarnation::new(1)))),
            Applied::Cleared(false)
        );
        assert_eq!(
            s.apply(LogIndex::new(5), &clear(Some(Incarnation::new(2)))),
            Applied::Cleared(true)
        );
        assert!(!s.dirty.contains_key(&MemberId::new(2)));
        s.apply(
            LogIndex::new(6),
            &MetaCommand::Delete {
                name: "a".into(),
                incarnation: Incarnation::new(2),
                missing: vec![MemberId::new(2)],
            },
        );
        assert_eq!(
            s.apply(LogIndex::new(7), &clear(Some(Incarnation::new(2)))),
            Applied::Cleared(false)
        );
        assert_eq!(
            s.apply(LogIndex::new(8), &clear(None)),
            Applied::Cleared(true)
        );
    }

    #[test]
    fn blocks_expire_and_what_only_they_needed_is_forgotten() {
        let mut s = MetaState::new();
        let reserve = MetaCommand::Reserve {
            member: MemberId::new(0),
            count: 4,
        };
        s.apply(LogIndex::new(1), &reserve);
        s.apply(LogIndex::new(2), &commit("a", Incarnation::new(1), &[]));
        s.apply(
            LogIndex::new(3),
            &MetaCommand::Delete {
                name: "a".into(),
                incarnation: Incarnation::new(1),
                missing: vec![],
            },
        );
        assert!(s.used.contains(&Incarnation::new(1)) && s.tombstones.contains_key("a"));
        let late = 1 + RESERVATION_HORIZON_ENTRIES;
        // The block of 1..5 is too old: its last incarnations cannot commit.
        assert_eq!(
            s.apply(LogIndex::new(late), &commit("b", Incarnation::new(2), &[])),
            Applied::Expired
        );
        assert!(s.used.is_empty(), "forgotten with their block");
        assert!(s.tombstones.is_empty());
        assert!(!s.objects.contains_key("b"));
        // A fresh block works, above everything handed out before.
        assert_eq!(
            s.apply(LogIndex::new(late + 1), &reserve),
            Applied::Reserved {
                first: Incarnation::new(5),
                count: 4
            }
        );
        assert_eq!(
            s.apply(
                LogIndex::new(late + 2),
                &commit("b", Incarnation::new(5), &[])
            ),
            Applied::Committed { replaced: None }
        );
        assert_eq!(s.reservations.len(), 1);
    }

    #[test]
    fn only_fragments_that_can_never_be_current_are_garbage() {
        let mut s = MetaState::new();
        s.apply(
            LogIndex::new(1),
            &MetaCommand::Reserve {
                member: MemberId::new(0),
                count: 4,
            },
        );
        s.apply(
            LogIndex::new(2),
            &MetaCommand::Reserve {
                member: MemberId::new(1),
                count: 4,
            },
        );
        s.apply(LogIndex::new(3), &commit("a", Incarnation::new(6), &[]));
        // 6 is current; 2 (an older number) may still commit: both kept.
        assert!(!s.fragment_is_garbage("a", Incarnation::new(6)));
        assert!(!s.fragment_is_garbage("a", Incarnation::new(2)));
        // 2 commits after 6 (log order wins): now 6 is garbage.
        s.apply(LogIndex::new(4), &commit("a", Incarnation::new(2), &[]));
        assert!(s.fragment_is_garbage("a", Incarnation::new(6)));
        assert!(!s.fragment_is_garbage("a", Incarnation::new(2)));
        // Never reserved: not ours to judge.
        assert!(!s.fragment_is_garbage("a", Incarnation::new(99)));
        // 3 was never committed; once its block expires it never can be.
        assert!(!s.fragment_is_garbage("b", Incarnation::new(3)));
        s.apply(
            LogIndex::new(2 + RESERVATION_HORIZON_ENTRIES),
            &MetaCommand::Reserve {
                member: MemberId::new(0),
                count: 1,
            },
        );
        assert!(s.fragment_is_garbage("b", Incarnation::new(3)));
        assert!(
            !s.fragment_is_garbage("a", Incarnation::new(2)),
            "current stays"
        );
    }

    #[test]
    fn volume_incarnation_only_advances() {
        let mut s = MetaState::new();
        s.apply(
            LogIndex::new(1),
            &MetaCommand::AdvanceVolume {
                incarnation: VolumeIncarnation::new(5),
                down: vec![MemberId::new(2)],
            },
        );
        assert_eq!(
            s.apply(
                LogIndex::new(2),
                &MetaCommand::AdvanceVolume {
                    incarnation: VolumeIncarnation::new(3),
                    down: vec![]
                }
            ),
            Applied::VolumeAdvanced {
                incarnation: VolumeIncarnation::new(5)
            }
        );
        assert!(s.volume_down.is_empty(), "member 2 came back");
    }

    #[test]
    fn snapshots_round_trip_and_bad_bytes_are_errors() {
        let mut s = MetaState::new();
        s.apply(
            LogIndex::new(1),
            &MetaCommand::Reserve {
                member: MemberId::new(0),
                count: 5,
            },
        );
        s.apply(
            LogIndex::new(2),
            &commit("a", Incarnation::new(1), &[MemberId::new(1)]),
        );
        let bytes = s.to_snapshot().unwrap();
        assert_eq!(MetaState::from_snapshot(&bytes).unwrap(), s);
        assert!(MetaState::from_snapshot(&bytes[..bytes.len() / 2]).is_err());
        assert!(MetaState::from_snapshot(b"\xff\x00garbage").is_err());
    }

    fn command() -> impl Strategy<Value = MetaCommand> {
        let name = prop::sample::select(vec!["a", "b", "c"]);
        prop_oneof![
            (0u32..3, 1u32..4).prop_map(|(member, count)| MetaCommand::Reserve {
                member: MemberId::new(member),
                count
            }),
            (name.clone(), 1u32..20, prop::collection::vec(0u32..3, 0..2)).prop_map(|(n, i, m)| {
                commit(
                    n,
                    Incarnation::new(i),
                    &MemberId::from_numbers(m.iter().copied()),
                )
            }),
            (name.clone(), 1u32..20, prop::collection::vec(0u32..3, 0..2)).prop_map(
                |(n, incarnation, missing)| MetaCommand::Delete {
                    name: n.into(),
                    incarnation: Incarnation::new(incarnation),
                    missing: MemberId::from_numbers(missing.iter().copied()),
                }
            ),
            (0u32..3, name, prop::option::of(1u32..20)).prop_map(|(member, n, incarnation)| {
                MetaCommand::ClearDirty {
                    member: MemberId::new(member),
                    name: n.into(),
                    incarnation: incarnation.map(Incarnation::new),
                }
            }),
        ]
    }

    proptest! {
        /// Any log: every reserved block is fresh, no incarnation is current
        /// for two commits of one name, every current record's incarnation
        /// was reserved, and replaying the same log gives the same state.
        #[test]
        fn invariants_hold_for_any_log(cmds in prop::collection::vec(command(), 0..60)) {
            let mut s = MetaState::new();
            let mut handed = BTreeSet::new();
            for (i, c) in cmds.iter().enumerate() {
                if let Applied::Reserved { first, count } = s.apply(LogIndex::new(i as u64 + 1), c) {
                    for inc in (first.get()..first.get() + count).map(Incarnation::new) {
                        prop_assert!(handed.insert(inc), "incarnation {} handed out twice", inc);
                    }
                }
                for r in s.objects.values() {
                    prop_assert!(handed.contains(&r.incarnation));
                    prop_assert!(s.used.contains(&r.incarnation));
                    prop_assert!(!s.tombstones.contains_key(&r.name));
                }
            }
            let mut again = MetaState::new();
            for (i, c) in cmds.iter().enumerate() {
                again.apply(LogIndex::new(i as u64 + 1), c);
            }
            prop_assert_eq!(again, s);
        }
    }
}
