//! The insert schedule: every insert the switch was asked to play, and where
//! each one is. Pure state; the fabric drives it and journals every record it
//! changes.
//!
//! Life of an insert:
//! ```text
//! scheduled --InsertStart--> armed --first packet out--> playing --last packet--> done
//!                               \                           |
//!                                \---- processor lost ------+--> interrupted --InsertStart--> armed ...
//! any state before done --InsertFailed--> failed
//! ```
//! Invariants: `played` (packets of the insert already output) never
//! decreases; an interrupted insert resumes at `played`; `done` and `failed`
//! are final.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::protocol::InsertOrder;
use stripecast_config::MemberId;

/// Where an insert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsertState {
    Scheduled,
    Armed,
    Playing,
    Interrupted,
    Done,
    Failed,
}

impl InsertState {
    /// Whether a processor should (re)start it.
    pub fn pending(self) -> bool {
        matches!(self, InsertState::Scheduled | InsertState::Interrupted)
    }

    /// Whether it is with a processor now.
    /// Done or failed: nothing more happens to it.
    pub fn finished(self) -> bool {
        matches!(self, InsertState::Done | InsertState::Failed)
    }

    pub fn running(self) -> bool {
        matches!(self, InsertState::Armed | InsertState::Playing)
    }
}

/// Why an insert was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `POST /v1/ring/inserts`.
    Api,
    /// An SCTE-35 splice_insert cue in the feed (its event id).
    Cue(u32),
}

/// One insert, as journaled and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsertRec {
    pub id: u64,
    pub feed: usize,
    /// Unix ms at which it is to start.
    pub at: u64,
    pub object: String,
    pub origin: Origin,
    pub state: InsertState,
    /// Packets of the insert output so far.
    pub played: u64,
    /// The member whose processor plays (or last played) it.
    pub by: Option<MemberId>,
    /// Every member that played part of it, in order.
    pub players: Vec<MemberId>,
    /// Unix ms of its first packet out / its last.
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    /// How many times it was resumed after an interruption.
    pub resumes: u32,
    pub error: Option<String>,
}

impl InsertRec {
    /// The order a processor gets for it.
    pub fn order(&self) -> InsertOrder {
        InsertOrder {
            id: self.id,
            feed: self.feed,
            at_ms: self.at,
            object: self.object.clone(),
            resume_from: self.played,
        }
    }
}

/// All inserts by id.
#[derive(Debug, Default, Clone)]
pub struct Schedule {
    inserts: BTreeMap<u64, InsertRec>,
    next_id: u64,
}

impl Schedule {
    /// A schedule from journaled records; running ones become interrupted
    /// (whoever played them is not connected to this switch incarnation).
    pub fn restore(records: impl IntoIterator<Item = InsertRec>) -> Self {
        let mut s = Schedule::default();
        for mut r in records {
            if r.state.running() {
                r.state = InsertState::Interrupted;
            }
            s.next_id = s.next_id.max(r.id + 1);
            s.inserts.insert(r.id, r);
        }
        s.next_id = s.next_id.max(1);
        s
    }

    /// Adds an insert; returns its record.
    pub fn add(&mut self, feed: usize, at: u64, object: &str, origin: Origin) -> &InsertRec {
        let id = self.next_id.max(1);
        self.next_id = id + 1;
        self.inserts.entry(id).or_insert(InsertRec {
            id,
            feed,
            at,
            object: object.to_owned(),
            origin,
            state: InsertState::Scheduled,
            played: 0,
            by: None,
            players: Vec::new(),
            started_at: None,
            finished_at: None,
            resumes: 0,
            error: None,
        })
    }

    /// Whether an insert for a cue with this event id is still to play on
    /// `feed` (a cue is repeated until its splice point; a looping feed
    /// repeats it every loop, and each loop gets its insert).
    pub fn has_cue(&self, feed: usize, event_id: u32) -> bool {
        self.inserts.values().any(|r| {
            r.feed == feed
                && r.origin == Origin::Cue(event_id)
                && !matches!(r.state, InsertState::Done | InsertState::Failed)
        })
    }

    pub fn get(&self, id: u64) -> Option<&InsertRec> {
        self.inserts.get(&id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut InsertRec> {
        self.inserts.get_mut(&id)
    }

    /// The orders for the processor covering `feed`: its pending inserts, by time.
    pub fn orders_for(&self, feed: usize) -> Vec<InsertOrder> {
        let mut v: Vec<&InsertRec> = self
            .inserts
            .values()
            .filter(|r| r.feed == feed && r.state.pending())
            .collect();
        v.sort_by_key(|r| (r.at, r.id));
        v.into_iter().map(InsertRec::order).collect()
    }

    /// Every record, by id.
    pub fn all(&self) -> impl Iterator<Item = &InsertRec> {
        self.inserts.values()
    }

    /// Forgets the finished inserts (done or failed) beyond the newest
    /// `keep`, those that finished first going first; answers their ids
    /// (for the journal to forget them too). Bounds the schedule at `keep`
    /// finished inserts plus the ones still to play (and the highest id,
    /// which a restarted switch counts on to hand out fresh ids).
    pub fn prune_finished(&mut self, keep: usize) -> Vec<u64> {
        if self.inserts.len() <= keep {
            return Vec::new();
        }
        let highest = self.inserts.keys().next_back().copied();
        let mut finished: Vec<(u64, u64)> = self
            .inserts
            .values()
            .filter(|r| r.state.finished() && Some(r.id) != highest)
            // A record without a finish time (journaled by an older switch)
            // counts as finished last: it is not forgotten first.
            .map(|r| (r.finished_at.unwrap_or(u64::MAX), r.id))
            .collect();
        let Some(excess) = finished.len().checked_sub(keep).filter(|&n| n > 0) else {
            return Vec::new();
        };
        finished.sort_unstable();
        finished[..excess]
            .iter()
            .map(|&(_, id)| {
                self.inserts.remove(&id);
                id
            })
            .collect()
    }

    /// Counts per state, for metrics.
    pub fn count(&self, state: InsertState) -> usize {
        self.inserts.values().filter(|r| r.state == state).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_pending_inserts_of_the_feed_by_time() {
        let mut s = Schedule::default();
        let a = s.add(0, 2000, "ad-a", Origin::Api).id;
        let b = s.add(0, 1000, "ad-b", Origin::Api).id;
        let c = s.add(1, 1000, "ad-c", Origin::Cue(7)).id;
        assert!(a != b && b != c);
        let ids: Vec<u64> = s.orders_for(0).iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![b, a]);
        s.get_mut(b).unwrap().state = InsertState::Playing;
        assert_eq!(s.orders_for(0).len(), 1);
        let r = s.get_mut(b).unwrap();
        r.state = InsertState::Interrupted;
        r.played = 500;
        let o = &s.orders_for(0)[0];
        assert_eq!((o.id, o.resume_from), (b, 500));
        assert!(s.has_cue(1, 7) && !s.has_cue(0, 7) && !s.has_cue(1, 8));
        s.get_mut(c).unwrap().state = InsertState::Done;
        assert!(
            !s.has_cue(1, 7),
            "a played cue insert does not block the next loop's"
        );
    }

    /// The schedule keeps the newest `keep` finished inserts (by when they
    /// finished) and every one still to play, however many were added.
    #[test]
    fn finished_inserts_beyond_the_limit_are_forgotten_oldest_first() {
        let mut s = Schedule::default();
        let ids: Vec<u64> = (0..10).map(|i| s.add(0, i, "ad", Origin::Api).id).collect();
        // Eight finish, in the reverse order of their ids; two wait.
        for (n, &id) in ids[..8].iter().rev().enumerate() {
            let r = s.get_mut(id).unwrap();
            r.state = if n % 3 == 0 {
                InsertState::Failed
            } else {
                InsertState::Done
            };
            r.finished_at = Some(1000 + n as u64);
        }
        assert_eq!(s.prune_finished(20), Vec::<u64>::new());
        let mut gone = s.prune_finished(3);
        gone.sort_unstable();
        // The first to finish were the highest ids among the eight.
        assert_eq!(gone, ids[3..8].to_vec());
        assert_eq!(s.all().count(), 5);
        for id in &ids[..3] {
            assert!(s.get(*id).unwrap().state.finished());
        }
        assert_eq!(s.orders_for(0).len(), 2, "pending inserts are kept");
        assert_eq!(s.prune_finished(3), Vec::<u64>::new());
        assert_eq!(s.prune_finished(0).len(), 3);
        assert_eq!(s.all().count(), 2);
        // The highest id stays, finished or not: a restarted switch hands
        // out ids above it, never one of a forgotten insert again.
        for &id in &ids[8..] {
            let r = s.get_mut(id).unwrap();
            r.state = InsertState::Done;
            r.finished_at = Some(5000 + id);
        }
        assert_eq!(s.prune_finished(0), vec![ids[8]]);
        let mut restored = Schedule::restore(s.all().cloned().collect::<Vec<_>>());
        assert_eq!(restored.add(0, 0, "next", Origin::Api).id, ids[9] + 1);
    }

    #[test]
    fn restore_interrupts_running_inserts_and_keeps_ids_unique() {
        let mut s = Schedule::default();
        s.add(0, 1, "x", Origin::Api);
        s.add(0, 2, "y", Origin::Api);
        s.get_mut(2).unwrap().state = InsertState::Playing;
        s.get_mut(2).unwrap().played = 10;
        s.get_mut(1).unwrap().state = InsertState::Done;
        let mut r = Schedule::restore(s.all().cloned().collect::<Vec<_>>());
        assert_eq!(r.get(2).unwrap().state, InsertState::Interrupted);
        assert_eq!(r.get(1).unwrap().state, InsertState::Done);
        assert_eq!(r.orders_for(0)[0].resume_from, 10);
        assert_eq!(r.add(1, 3, "z", Origin::Api).id, 3);
    }
}
