//! The member's [`Applier`]: carries what the metadata group applied into
//! this member's catalog, HomeBlock and fragment directory
//! (`LocalStore::mirror`), and the whole state after a snapshot
//! (`LocalStore::reconcile`).

use std::collections::BTreeMap;

use super::group::{AppliedEntry, Applier};
use super::numbers::LogIndex;
use super::state::{Applied, MetaCommand, MetaState};
use crate::service::record_from_wire;
use crate::store::{MirrorChange, SharedStore, StoreError, VolumeMirror};

/// Mirrors the group into one member's store.
pub struct StoreMirror {
    store: SharedStore,
    /// Members of the cluster (fragments per object).
    members: u32,
    /// The log index the catalog holds changes through (read from it at
    /// the first batch): entries up to it are not mirrored again.
    mirrored_to: Option<LogIndex>,
}

impl StoreMirror {
    pub fn new(store: SharedStore, members: u32) -> StoreMirror {
        StoreMirror {
            store,
            members,
            mirrored_to: None,
        }
    }
}

/// The entries of `entries` a catalog that holds changes through `held`
/// still needs; `applied` is where the group's state now is. A mark past
/// it is not from this log (the metadata was reset under a kept catalog):
/// nothing is skipped then.
pub fn to_mirror(entries: &[AppliedEntry], held: LogIndex, applied: LogIndex) -> &[AppliedEntry] {
    if held > applied {
        return entries;
    }
    let skip = entries.partition_point(|e| e.index <= held);
    &entries[skip..]
}

fn volume(state: &MetaState) -> VolumeMirror {
    VolumeMirror {
        incarnation: state.volume_incarnation,
        dirty: !state.dirty.is_empty(),
    }
}

/// What one applied command changes on a member (nothing for a refused one).
pub fn changes_of(entry: &AppliedEntry) -> Vec<MirrorChange> {
    match (&entry.command, &entry.result) {
        (MetaCommand::Commit { record, missing }, Applied::Committed { replaced }) => {
            let mut out = vec![MirrorChange::Put {
                record: record_from_wire(record),
                replaced: *replaced,
            }];
            out.extend(missing.iter().map(|&member| MirrorChange::Mark {
                member,
                name: record.name.clone(),
            }));
            out
        }
        (MetaCommand::Delete { name, missing, .. }, Applied::Deleted { removed: Some(inc) }) => {
            let mut out = vec![MirrorChange::Remove {
                name: name.clone(),
                removed: *inc,
            }];
            out.extend(missing.iter().map(|&member| MirrorChange::Mark {
                member,
                name: name.clone(),
            }));
            out
        }
        (MetaCommand::ClearDirty { member, name, .. }, Applied::Cleared(true)) => {
            vec![MirrorChange::Clear {
                member: *member,
                name: name.clone(),
            }]
        }
        _ => Vec::new(),
    }
}

impl Applier for StoreMirror {
    fn reset(&mut self, state: &MetaState) -> Result<(), StoreError> {
        let store = self.store.get()?;
        let objects: BTreeMap<_, _> = state
            .objects
            .iter()
            .map(|(n, r)| (n.clone(), record_from_wire(r)))
            .collect();
        store.reconcile(
            &objects,
            &state.dirty,
            self.members,
            volume(state),
            state.applied_index.get(),
        )?;
        self.mirrored_to = Some(state.applied_index);
        Ok(())
    }

    fn applied(&mut self, entries: &[AppliedEntry], state: &MetaState) -> Result<(), StoreError> {
        let store = self.store.get()?;
        let held = match self.mirrored_to {
            Some(m) => m,
            None => {
                let m = LogIndex::new(store.mirrored_to()?);
                self.mirrored_to = Some(m);
                m
            }
        };
        let fresh = to_mirror(entries, held, state.applied_index);
        if fresh.len() < entries.len() {
            tracing::info!(
                member = %store.member(),
                skipped = entries.len() - fresh.len(),
                held = %held,
                "entries the catalog already holds are not mirrored again"
            );
        }
        let changes: Vec<MirrorChange> = fresh.iter().flat_map(changes_of).collect();
        let count = u8::try_from(self.members).unwrap_or(u8::MAX);
        let through = fresh.last().map_or(held, |e| e.index);
        store.mirror(&changes, volume(state), count, through.get())?;
        if !changes.is_empty() {
            self.mirrored_to = Some(through);
        }
        Ok(())
    }

    fn persist(&mut self) -> Result<(), StoreError> {
        self.store.get()?.flush_catalog()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::numbers::Term;
    use stripecast_config::MemberId;
    use stripecast_persistence::Incarnation;

    fn entries(indexes: &[u64]) -> Vec<AppliedEntry> {
        indexes
            .iter()
            .map(|&i| AppliedEntry {
                index: LogIndex::new(i),
                term: Term::new(1),
                proposal: None,
                command: MetaCommand::Reserve {
                    member: MemberId::new(0),
                    count: 1,
                },
                result: Applied::Reserved {
                    first: Incarnation::new(1),
                    count: 1,
                },
            })
            .collect()
    }

    /// What a replay after a restart still has to mirror.
    #[test]
    fn only_entries_past_the_catalogs_mark_are_mirrored() {
        let batch = entries(&[5, 6, 7, 8]);
        let idx = |e: &[AppliedEntry]| e.iter().map(|e| e.index.get()).collect::<Vec<_>>();
        // (held, applied) -> indexes mirrored
        let table: [(u64, u64, &[u64]); 6] = [
            (0, 8, &[5, 6, 7, 8]), // nothing recorded: all
            (4, 8, &[5, 6, 7, 8]), // the mark before the batch
            (6, 8, &[7, 8]),       // a replay through 6
            (8, 8, &[]),           // all held already
            (8, 9, &[]),
            (20, 8, &[5, 6, 7, 8]), // a mark from another log: skip nothing
        ];
        for (held, applied, want) in table {
            let got = to_mirror(&batch, LogIndex::new(held), LogIndex::new(applied));
            assert_eq!(idx(got), want, "held {held}, applied {applied}");
        }
    }
}
