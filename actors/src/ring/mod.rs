//! Ring video insertion (issue #6, patent FIG. 11-17): the pure core.
//!
//! `n` network feeds, `n` active video systems and one spare in a ring.
//! [`planner`] decides which live processor covers which feed and how the
//! ring shifts on failures and returns; [`switch_table`] turns that into the
//! switch-element selections of each switched system (FIG. 16/17). No I/O:
//! the actor that drives real switches and reports status wraps these.
//! See "Ring video insertion" in ARCHITECTURE.md at the repository root.

mod conn;
pub mod planner;
pub mod processor;
pub mod protocol;
pub mod switch;
pub mod switch_table;

pub use planner::{
    Direction, FailOutcome, Plan, RingError, RingState, RingStatus, Shift, SystemState, Walk,
};

#[cfg(test)]
mod tests;

/// Wall-clock Unix milliseconds: the time base of insert schedules (`at`),
/// shared by the switch and the processors.
pub fn now_ms() -> u64 {
    crate::service::now_ns() / 1_000_000
}
