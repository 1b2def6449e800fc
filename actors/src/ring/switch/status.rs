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
use crate::ring::planner::{Direction, SystemState};

/// One feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedDoc {
    pub feed: usize,
    /// Ring position of the covering video system (`None`: uncovered).
    pub system: Option<usize>,
    pub member: Option<u32>,
    pub input: String,
    pub output: String,
    pub packets_in: u64,
    pub packets_out: u64,
    /// Output slots a late insert stream filled with null packets.
    pub underflow_packets: u64,
    /// The insert armed or playing on this output.
    pub inserting: Option<u64>,
}

/// One switched system and its processor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemDoc {
    pub position: usize,
    pub member: u32,
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
    pub member: u32,
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
    pub inserts: Vec<InsertRec>,
    pub failovers: u64,
    pub last_failover: Option<FailoverDoc>,
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
