//! stripecast-chaos: the pure half of `stripecast chaos`.
//!
//! `stripecast chaos` runs a concurrent workload against a real local cluster
//! while a nemesis injects faults, then checks the whole history. Everything
//! here is deterministic and free of I/O (apart from reading and writing
//! history files), so it is table- and property-tested on its own:
//!
//! * [`schedule`]: the seeded nemesis schedule (which fault, on which members,
//!   when, for how long). Same seed, same schedule.
//! * [`workload`]: each client's seeded sequence of operations (PUT / GET /
//!   DELETE, key, payload size, member). Same seed, same sequence.
//! * [`payload`]: self-identifying payloads: every byte of a write is a
//!   function of (key, client, sequence, offset), so a body is either exactly
//!   one write of its key or provably none.
//! * [`history`]: the history as JSON lines (operations, fault intervals,
//!   convergence, scrub results), written by the runner and read back by
//!   `stripecast chaos check`, including histories from outside workloads.
//! * [`checker`]: the violations a history shows (wrong bytes, stale reads,
//!   lost acknowledged writes, divergence, unavailability after convergence,
//!   unrepaired rot) and the figures (success shares overall and per fault).
//!
//! Invariant: the checker never flags a history that some linearization of
//! each key as a register (deletes writing "absent") explains; every check
//! is a necessary condition of linearizability, so a flag is always real.

pub mod checker;
pub mod history;
pub mod payload;
pub mod run_doc;
pub mod schedule;
pub mod workload;

pub use checker::{check, Report, Violation, ViolationKind};
pub use history::{Entry, FaultSpan, Op, OpKind, Outcome};
pub use run_doc::{CheckDoc, RunDoc};
pub use schedule::{FaultEvent, FaultKind, Schedule};
pub use workload::{ClientOp, Workload};
