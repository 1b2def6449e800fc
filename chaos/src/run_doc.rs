//! The documents `stripecast chaos --json FILE` writes: [`RunDoc`] for a
//! run (its parameters, its schedule, whether the cluster converged and the
//! checker's [`Report`]) and [`CheckDoc`] for `stripecast chaos check`
//! (the report alone). Defined once here, written by the command and read
//! by its tests and by operators' scripts, so a renamed field is a compile
//! error on both sides rather than a missing key.

use serde::{Deserialize, Serialize};

use crate::checker::Report;
use crate::schedule::FaultEvent;

/// One chaos run, as `--json` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDoc {
    pub seed: u64,
    pub members: u32,
    pub parity: u8,
    pub duration_s: f64,
    pub clients: u32,
    pub keys: usize,
    /// The fault kinds drawn from, by name.
    pub faults: Vec<String>,
    /// Every fault the run did, in order.
    pub schedule: Vec<FaultEvent>,
    /// Whether every member was up and current after the final heal.
    pub converged: bool,
    /// Time from the final heal to convergence (or to giving up on it).
    pub converge_ms: u64,
    /// No violation.
    pub ok: bool,
    pub report: Report,
}

/// A history checked again (`stripecast chaos check --json FILE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckDoc {
    pub report: Report,
}
