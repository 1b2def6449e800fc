//! The cluster's metadata on Raft (raft-rs 0.7): the log in sled, the
//! replicated state machine, and one member's replica of the group, sans I/O.
//!
//! * [`storage`]: `raft::Storage` on sled (log, hard state, configuration,
//!   last snapshot), flushed before raft-rs is told anything is persisted.
//! * [`state`]: the commands and the pure state machine: current object
//!   records, tombstones, dirty sets, the volume incarnation, incarnations
//!   handed out.
//! * [`group`]: `MetaNode`, which ticks, steps peer messages, proposes,
//!   persists each `Ready`, applies committed commands in order and returns
//!   the messages to send.
//!
//! Why raft-rs and not openraft: raft-rs is sans-I/O (tick, step, ready), so
//! it sits inside one actor and its whole behaviour can be driven by a
//! simulated network in tests, exactly like the ring planner; openraft owns
//! its tasks, timers and network traits, which would sit beside our actors
//! and supervisors rather than inside them.
//!
//! * [`runner`]: the node on its own thread (fsync off the arbiters), its
//!   bounded inbox and the handle; [`actor`]: the supervised child that
//!   owns it, with Raft messages riding the peer links (`Request::Raft`).
//! * [`mirror`]: applies what the group decided into the member's catalog,
//!   HomeBlock and fragment directory.
//!
//! The object service resolves records, lists and dirty sets here
//! (read-index reads) and acknowledges a PUT or DELETE only once its
//! command is applied on the coordinator.

mod logging;

pub mod access;
pub mod actor;
pub mod attrs;
pub mod group;
pub mod mirror;
pub mod numbers;
pub mod runner;
pub mod state;
pub mod storage;

pub use access::{AccessCommand, AccessRefusal, AccessState, Action, Grant, KeyEntry};
pub use actor::{deliver, MetaActor, MetaHost};
pub use attrs::ObjectAttrs;
pub use group::{
    AppliedEntry, Applier, MetaConfig, MetaError, MetaNode, MetaRole, Output, ProposalId,
};
pub use numbers::{LogIndex, Term};
pub use runner::{MetaHandle, MetaStatus};
pub use state::{Applied, MetaCommand, MetaState};
pub use storage::{MetaStoreError, SledStorage};

/// A record for tests of the metadata group.
#[cfg(test)]
pub(crate) fn test_record(
    name: &str,
    incarnation: stripecast_persistence::Incarnation,
) -> crate::protocol::RecordWire {
    crate::protocol::RecordWire {
        name: name.into(),
        length: 1,
        incarnation,
        members: 3,
        parity: 1,
        stripe_size: 65536,
        crc32c: incarnation.get(),
        creation_time_ns: 0,
    }
}
