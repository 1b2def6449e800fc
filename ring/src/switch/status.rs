//! The ring's status document (`GET /v1/ring`, `stripecast ring status`) and
//! its Prometheus metrics.
//!
//! The document holds at least, as the operators' scripts expect:
//! `{"feeds": [{"feed", "system", "member"}], "spare", "systems": [{"position",
//! "member", "alive", "state"}]}` where `system` is the ring position of the
//! video system covering the feed (null when uncovered), `spare` the position
//! of the idle spare (null when used up) and `state` one of `normal`,
//! `fail_up`, `fail_down`. Everything else is extra.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::schedule::{InsertRec, InsertState};
use crate::planner::{Direction, SystemState};
use stripecast_config::MemberId;

/// One feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedDoc {
    pub feed: usize,
    /// Ring position of the covering video system (`None`: uncovered).
    pub system: Option<usize>,
    pub member: Option<MemberId>,
    pub input: String,
    pub output: String,
    pub packets_in: u64,
    pub packets_out: u64,
    /// Output slots a late insert stream filled with null packets.
    pub underflow_packets: u64,
    /// Datagrams of this feed dropped because the fabric was behind (its
    /// mailbox full, `FABRIC_MAILBOX_MESSAGES`).
    #[serde(default)]
    pub input_dropped_datagrams: u64,
    /// The insert armed or playing on this output.
    pub inserting: Option<u64>,
}

/// One switched system and its processor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemDoc {
    pub position: usize,
    pub member: MemberId,
    pub alive: bool,
    pub state: SystemState,
    /// The feed its processor serves (`None`: spare or dead).
    pub covers: Option<usize>,
    /// Whether its processor is connected to the switch now.
    pub connected: bool,
}

/// The last failover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverDoc {
    pub position: usize,
    pub member: MemberId,
    /// Unix ms when the switch noticed.
    pub at: u64,
    pub reason: String,
    /// The feed it covered, and who covers it now.
    pub feed: Option<usize>,
    pub now_covered_by: Option<usize>,
}

/// The whole document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingDoc {
    pub direction: Direction,
    pub feeds: Vec<FeedDoc>,
    pub spare: Option<usize>,
    pub spares: Vec<usize>,
    pub systems: Vec<SystemDoc>,
    /// Feeds whose output carries the network feed without inserts.
    pub uncovered: Vec<usize>,
    /// One page of the inserts, by id (see [`InsertPage`]).
    pub inserts: Vec<InsertRec>,
    /// When more inserts follow this page: ask again with
    /// `?inserts_after=` this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_inserts_after: Option<u64>,
    pub failovers: u64,
    pub last_failover: Option<FailoverDoc>,
}

/// Inserts on one page of `GET /v1/ring` unless `inserts_limit` says less.
pub const INSERTS_PAGE_DEFAULT: usize = 100;

/// Inserts on one page of `GET /v1/ring`, at most.
pub const INSERTS_PAGE_MAX: usize = 1000;

/// The query of `GET /v1/ring`: which page of the inserts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsertPage {
    /// Only inserts with a larger id.
    pub inserts_after: Option<u64>,
    /// At most this many ([`INSERTS_PAGE_DEFAULT`], capped at [`INSERTS_PAGE_MAX`]).
    pub inserts_limit: Option<usize>,
}

const STATES: [(InsertState, &str); 6] = [
    (InsertState::Scheduled, "scheduled"),
    (InsertState::Armed, "armed"),
    (InsertState::Playing, "playing"),
    (InsertState::Interrupted, "interrupted"),
    (InsertState::Done, "done"),
    (InsertState::Failed, "failed"),
];

impl RingDoc {
    /// This document with only the inserts of `page` (`inserts` is in id
    /// order), and where the next page starts if one follows.
    pub fn page_inserts(mut self, page: InsertPage) -> RingDoc {
        let limit = page
            .inserts_limit
            .unwrap_or(INSERTS_PAGE_DEFAULT)
            .min(INSERTS_PAGE_MAX);
        let after = page.inserts_after;
        self.inserts.retain(|r| after.is_none_or(|a| r.id > a));
        debug_assert!(self.inserts.windows(2).all(|w| w[0].id < w[1].id));
        self.next_inserts_after = None;
        if self.inserts.len() > limit {
            self.inserts.truncate(limit);
            self.next_inserts_after = self.inserts.last().map(|r| r.id);
        }
        self
    }

    /// Prometheus text.
    pub fn metrics(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# TYPE stripecast_ring_feeds gauge");
        let _ = writeln!(s, "stripecast_ring_feeds {}", self.feeds.len());
        let _ = writeln!(s, "# TYPE stripecast_ring_uncovered_feeds gauge");
        let _ = writeln!(
            s,
            "stripecast_ring_uncovered_feeds {}",
            self.uncovered.len()
        );
        let _ = writeln!(s, "# TYPE stripecast_ring_spares gauge");
        let _ = writeln!(s, "stripecast_ring_spares {}", self.spares.len());
        let _ = writeln!(s, "# TYPE stripecast_ring_failovers_total counter");
        let _ = writeln!(s, "stripecast_ring_failovers_total {}", self.failovers);
        for (name, f) in [
            (
                "packets_in_total",
                (|d: &FeedDoc| d.packets_in) as fn(&FeedDoc) -> u64,
            ),
            ("packets_out_total", |d| d.packets_out),
            ("underflow_packets_total", |d| d.underflow_packets),
            ("input_dropped_datagrams_total", |d| {
                d.input_dropped_datagrams
            }),
            ("feed_covered", |d| u64::from(d.system.is_some())),
        ] {
            let _ = writeln!(s, "# TYPE stripecast_ring_{name} counter");
            for d in &self.feeds {
                let _ = writeln!(s, "stripecast_ring_{name}{{feed=\"{}\"}} {}", d.feed, f(d));
            }
        }
        let _ = writeln!(s, "# TYPE stripecast_ring_processor_connected gauge");
        for d in &self.systems {
            let _ = writeln!(
                s,
                "stripecast_ring_processor_connected{{position=\"{}\",member=\"{}\"}} {}",
                d.position,
                d.member,
                u8::from(d.connected)
            );
        }
        let _ = writeln!(s, "# TYPE stripecast_ring_inserts gauge");
        for (state, name) in STATES {
            let n = self.inserts.iter().filter(|r| r.state == state).count();
            let _ = writeln!(s, "stripecast_ring_inserts{{state=\"{name}\"}} {n}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::Direction;
    use crate::switch::schedule::{Origin, Schedule};

    fn doc_with(inserts: usize) -> RingDoc {
        let mut s = Schedule::default();
        for i in 0..inserts {
            s.add(0, i as u64, "ad", Origin::Api);
        }
        RingDoc {
            direction: Direction::Either,
            feeds: Vec::new(),
            spare: None,
            spares: Vec::new(),
            systems: Vec::new(),
            uncovered: Vec::new(),
            inserts: s.all().cloned().collect(),
            next_inserts_after: None,
            failovers: 0,
            last_failover: None,
        }
    }

    /// Pages cover every insert once, in id order, and end.
    #[test]
    fn pages_cover_every_insert_once() {
        let all = doc_with(250);
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = all.clone().page_inserts(InsertPage {
                inserts_after: after,
                inserts_limit: Some(40),
            });
            assert!(page.inserts.len() <= 40);
            seen.extend(page.inserts.iter().map(|r| r.id));
            match page.next_inserts_after {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let want: Vec<u64> = all.inserts.iter().map(|r| r.id).collect();
        assert_eq!(seen, want);
        let first = all.clone().page_inserts(InsertPage::default());
        assert_eq!(first.inserts.len(), INSERTS_PAGE_DEFAULT);
        let capped = all.page_inserts(InsertPage {
            inserts_after: None,
            inserts_limit: Some(usize::MAX),
        });
        assert_eq!(capped.inserts.len(), 250);
        assert_eq!(capped.next_inserts_after, None);
    }
}
