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
//! Status: the group and its storage stand on their own and are tested
//! over a simulated network (elections, replication, partitions, restarts,
//! snapshots); wiring it under the object service is the rest of the
//! metadata issue.

mod logging;

pub mod group;
pub mod state;
pub mod storage;

pub use group::{AppliedEntry, MetaConfig, MetaError, MetaNode, Output, ProposalId};
pub use state::{Applied, MetaCommand, MetaState};
pub use storage::{MetaStoreError, SledStorage};
