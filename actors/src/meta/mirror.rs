//! The member's [`Applier`]: carries what the metadata group applied into
//! this member's catalog, HomeBlock and fragment directory
//! (`LocalStore::mirror`), and the whole state after a snapshot
//! (`LocalStore::reconcile`).

use std::collections::BTreeMap;

use super::group::{AppliedEntry, Applier};
use super::state::{Applied, MetaCommand, MetaState};
use crate::service::record_from_wire;
use crate::store::{MirrorChange, SharedStore, StoreError, VolumeMirror};

/// Mirrors the group into one member's store.
pub struct StoreMirror {
    store: SharedStore,
    /// Members of the cluster (fragments per object).
    members: u32,
}

impl StoreMirror {
    pub fn new(store: SharedStore, members: u32) -> StoreMirror {
        StoreMirror { store, members }
    }
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
        store.reconcile(&objects, &state.dirty, self.members, volume(state))
    }

    fn applied(&mut self, entries: &[AppliedEntry], state: &MetaState) -> Result<(), StoreError> {
        let changes: Vec<MirrorChange> = entries.iter().flat_map(changes_of).collect();
        let store = self.store.get()?;
        let count = u8::try_from(self.members).unwrap_or(u8::MAX);
        store.mirror(&changes, volume(state), count)
    }

    fn persist(&mut self) -> Result<(), StoreError> {
        self.store.get()?.flush_catalog()
    }
}
