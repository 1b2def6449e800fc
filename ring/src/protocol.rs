//! What a ring processor (a member's `ring` actor) and the switch fabric say
//! to each other, carried as application frames ([`RingFrame`]) on a TCP connection that
//! uses the member wire format and handshake (the processor
//! dials; the switch is [`SWITCH_ID`]).
//!
//! The exchange:
//! ```text
//! switch    -> Assign { position, feed, inserts }   on connect and on every change
//! switch    -> Feed { feed, ts }                    the network feed the processor watches
//! processor -> Ping                                 every heartbeat interval
//! processor -> Cue { feed, event_id, preroll_ms }   an SCTE-35 splice_insert seen in its feed
//! processor -> InsertStart { id, feed, from, psi }  an insert begins (or resumes at packet `from`)
//! processor -> InsertData { id, ts }                its next packets, at most a window ahead
//! processor -> InsertEnd { id }                     no more packets
//! switch    -> Progress { id, played, done }        packets of the insert played so far
//! ```
//!
//! Invariants: the switch only accepts insert packets from the processor that
//! covers the insert's feed now; `played` never decreases for an insert; an
//! `InsertOrder`'s `resume_from` is the journaled count of its packets
//! already played, so a new coverer continues an interrupted insert there.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use stripecast_actors::transport::wire::{self, Frame, WireError};
use stripecast_actors::transport::Connection;
use stripecast_config::MemberId;

/// A frame of a processor-switch connection: the member framing with ring
/// messages as its application messages.
pub type RingFrame = Frame<Box<RingMsg>>;

/// An authenticated processor-switch connection.
pub(crate) type RingConnection = Connection<Box<RingMsg>>;

/// Encodes `msg` as the body of a [`RingFrame`].
pub(crate) fn encode(msg: RingMsg) -> Result<Bytes, WireError> {
    wire::encode_app(&RingFrame::App(Box::new(msg)))
}

/// The longest preroll a cue may announce, in ms. A processor takes a
/// splice point that seems further ahead as immediate (a PTS just behind
/// the PCR wraps to nearly 2^33 ticks ahead); the switch never schedules a
/// cue's insert later than this from now.
pub const MAX_PREROLL_MS: u64 = 60_000;

/// The switch's id in the handshake (members have ids 0..=254).
pub const SWITCH_ID: MemberId = MemberId::new(u32::MAX);

/// One insert a processor is to play: feed, time, object, and where to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsertOrder {
    pub id: u64,
    pub feed: usize,
    /// Unix time in milliseconds at which the insert is to start.
    pub at_ms: u64,
    /// The stored object holding the insert's TS.
    pub object: String,
    /// First packet to send (non-zero when resuming an interrupted insert).
    pub resume_from: u64,
}

/// A message on a processor-switch connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RingMsg {
    /// Processor: still alive.
    Ping,
    /// Processor: an SCTE-35 splice_insert (out of network) in `feed`, the
    /// splice point `preroll_ms` from now.
    Cue {
        feed: usize,
        event_id: u32,
        preroll_ms: u64,
    },
    /// Processor: insert `id` starts at its packet `from`; `psi` holds the
    /// insert's PAT and PMT packets (so the switch can map its PIDs).
    InsertStart {
        id: u64,
        feed: usize,
        from: u64,
        #[serde(with = "serde_bytes")]
        psi: Vec<u8>,
    },
    /// Processor: the insert's next whole TS packets.
    InsertData {
        id: u64,
        #[serde(with = "serde_bytes")]
        ts: Vec<u8>,
    },
    /// Processor: the insert's last packet was sent.
    InsertEnd { id: u64 },
    /// Processor: the insert cannot be played (object unreadable, not a TS).
    InsertFailed { id: u64, error: String },
    /// Switch: the processor's ring position, the feed it covers now (`None`:
    /// spare) and the inserts of that feed still to play.
    Assign {
        position: usize,
        feed: Option<usize>,
        inserts: Vec<InsertOrder>,
    },
    /// Switch: packets of the feed the processor watches.
    Feed {
        feed: usize,
        #[serde(with = "serde_bytes")]
        ts: Vec<u8>,
    },
    /// Switch: how many of the insert's packets went out; `done` at its end.
    Progress { id: u64, played: u64, done: bool },
}

impl RingMsg {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            RingMsg::Ping => "ping",
            RingMsg::Cue { .. } => "cue",
            RingMsg::InsertStart { .. } => "insert_start",
            RingMsg::InsertData { .. } => "insert_data",
            RingMsg::InsertEnd { .. } => "insert_end",
            RingMsg::InsertFailed { .. } => "insert_failed",
            RingMsg::Assign { .. } => "assign",
            RingMsg::Feed { .. } => "feed",
            RingMsg::Progress { .. } => "progress",
        }
    }
}
