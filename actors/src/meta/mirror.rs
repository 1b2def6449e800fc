//! The member's [`Applier`]: carries what the metadata group applied into
//! this member's catalog, HomeBlock and fragment directory
//! (`LocalStore::mirror`), and the whole state after a snapshot
//! (`LocalStore::reconcile`).

use std::collections::BTreeMap;

use stripecast_persistence::MirrorMark;

use super::group::{AppliedEntry, Applier, TermAt};
use super::numbers::{LogIndex, Term};
use super::state::{Applied, MetaCommand, MetaState};
use crate::service::record_from_wire;
use crate::store::{MirrorChange, SharedStore, StoreError, VolumeMirror};

/// Mirrors the group into one member's store.
pub struct StoreMirror {
    store: SharedStore,
    /// Members of the cluster (fragments per object).
    members: u32,
    /// The log entry the catalog holds changes through (read from it at
    /// the first batch; `Some(None)`: nothing recorded): entries up to it
    /// are not mirrored again while the log has that entry at that term.
    mirrored_to: Option<Option<MirrorMark>>,
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
/// still needs; `term_at` gives this log's term at an index. Entries up to
/// the mark are skipped only when this log has the marked entry at the
/// marked term: by Raft's log matching, the log up to there is then the one
/// the catalog took its changes from. A mark of another log (the metadata
/// was started again under a kept catalog), one past the end of this log or
/// one without a term skips nothing: mirroring is idempotent, skipping an
/// entry the catalog lacks is not.
pub fn to_mirror<'a>(
    entries: &'a [AppliedEntry],
    held: Option<MirrorMark>,
    term_at: TermAt<'_>,
) -> &'a [AppliedEntry] {
    let Some(held) = held else {
        return entries;
    };
    let skip = entries.partition_point(|e| e.index.get() <= held.index);
    if skip == 0
        || held.term == 0
        || term_at(LogIndex::new(held.index)) != Some(Term::new(held.term))
    {
        return entries;
    }
    &entries[skip..]
}

fn mark(index: LogIndex, term: Option<Term>) -> MirrorMark {
    MirrorMark {
        index: index.get(),
        term: term.map_or(0, Term::get),
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
        (
            MetaCommand::Commit {
                record, missing, ..
            },
            Applied::Committed { replaced },
        ) => {
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
    fn reset(&mut self, state: &MetaState, term_at: TermAt<'_>) -> Result<(), StoreError> {
        let store = self.store.get()?;
        let through = mark(state.applied_index, term_at(state.applied_index));
        let objects: BTreeMap<_, _> = state
            .objects
            .iter()
            .map(|(n, r)| (n.clone(), record_from_wire(r)))
            .collect();
        store.reconcile(&objects, &state.dirty, self.members, volume(state), through)?;
        self.mirrored_to = Some(Some(through));
        Ok(())
    }

    fn applied(
        &mut self,
        entries: &[AppliedEntry],
        state: &MetaState,
        term_at: TermAt<'_>,
    ) -> Result<(), StoreError> {
        let store = self.store.get()?;
        let held = match self.mirrored_to {
            Some(m) => m,
            None => store.mirrored_to()?,
        };
        let fresh = to_mirror(entries, held, term_at);
        if fresh.len() < entries.len() {
            tracing::info!(
                member = %store.member(),
                skipped = entries.len() - fresh.len(),
                held = ?held,
                "entries the catalog already holds are not mirrored again"
            );
        }
        let changes: Vec<MirrorChange> = fresh.iter().flat_map(changes_of).collect();
        let count = u8::try_from(self.members).unwrap_or(u8::MAX);
        let through = match (fresh.last(), held) {
            (Some(e), _) => mark(e.index, Some(e.term)),
            (None, Some(h)) => h,
            (None, None) => {
                self.mirrored_to = Some(None);
                return Ok(());
            }
        };
        store.mirror(&changes, volume(state), count, through)?;
        // What the catalog now holds through (unchanged on disk when the
        // batch changed nothing; later batches only hold later entries).
        self.mirrored_to = Some(Some(through));
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

    /// What a replay after a restart still has to mirror: entries up to the
    /// mark only when this log has the marked entry at the marked term.
    #[test]
    fn only_entries_past_the_catalogs_mark_are_mirrored() {
        let batch = entries(&[5, 6, 7, 8]);
        let idx = |e: &[AppliedEntry]| e.iter().map(|e| e.index.get()).collect::<Vec<_>>();
        // This log: entries 1..=8 at term 1, nothing past 8.
        let log = |i: LogIndex| (1..=8).contains(&i.get()).then_some(Term::new(1));
        let at = |index, term| Some(MirrorMark { index, term });
        // held -> indexes mirrored
        let table: [(Option<MirrorMark>, &[u64]); 8] = [
            (None, &[5, 6, 7, 8]),      // nothing recorded: all
            (at(4, 1), &[5, 6, 7, 8]),  // the mark before the batch
            (at(6, 1), &[7, 8]),        // a replay through 6
            (at(8, 1), &[]),            // all held already
            (at(6, 2), &[5, 6, 7, 8]),  // another log's entry 6: skip nothing
            (at(6, 0), &[5, 6, 7, 8]),  // a mark without its term
            (at(20, 1), &[5, 6, 7, 8]), // past this log's end
            (at(9, 1), &[5, 6, 7, 8]),  // ditto, just past
        ];
        for (held, want) in table {
            let got = to_mirror(&batch, held, &log);
            assert_eq!(idx(got), want, "held {held:?}");
        }
    }
}
