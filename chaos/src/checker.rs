//! The history checker: which violations a history shows, and its figures.
//!
//! Each key is a register; a PUT writes its value id, a DELETE writes
//! "absent", the initial value is "absent". A write acknowledged (`ok`)
//! took effect between its start and end; an `info` write may have taken
//! effect at any time after its start (or never); a `fail` write never did.
//! The checks, each a necessary condition of linearizability (so a flag is
//! always a real violation, never an artefact of concurrency):
//!
//! * **wrong bytes**: a 200 whose body is no write of its key (matched
//!   nothing, names a write that does not exist or was refused, or one that
//!   started only after the read had ended);
//! * **stale read**: a read returned the value of write W (or "absent" from
//!   the initial state or a delete) although an acknowledged write W2 that
//!   began after W (every candidate W) had ended was itself acknowledged
//!   before the read began;
//! * **lost write**: the same, for a read of the final state: the
//!   acknowledged write is gone for good;
//! * **divergence**: members answer the final read of a key differently;
//! * **unavailable after convergence**: a final read or scrub refused;
//! * **not converged**: the healed cluster never settled;
//! * **unrepaired rot**: a final scrub found blocks it could not repair.
//!
//! Figures: operations, the share that succeeded, per fault kind the share
//! of operations overlapping one of its intervals that succeeded, and the
//! time to converge.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::history::{Entry, FaultSpan, Op, OpKind, Outcome};

/// The kinds of violation, in the order the report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    WrongBytes,
    StaleRead,
    LostWrite,
    Divergence,
    UnavailableAfterConvergence,
    NotConverged,
    UnrepairedRot,
}

impl ViolationKind {
    /// Every kind, in report order.
    pub const ALL: [ViolationKind; 7] = [
        ViolationKind::WrongBytes,
        ViolationKind::StaleRead,
        ViolationKind::LostWrite,
        ViolationKind::Divergence,
        ViolationKind::UnavailableAfterConvergence,
        ViolationKind::NotConverged,
        ViolationKind::UnrepairedRot,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ViolationKind::WrongBytes => "wrong bytes",
            ViolationKind::StaleRead => "stale read",
            ViolationKind::LostWrite => "lost acknowledged write",
            ViolationKind::Divergence => "members disagree",
            ViolationKind::UnavailableAfterConvergence => "unavailable after convergence",
            ViolationKind::NotConverged => "did not converge",
            ViolationKind::UnrepairedRot => "rot scrub could not repair",
        }
    }
}

/// One violation, with enough to find it in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub kind: ViolationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<u32>,
    /// When the offending operation started (µs from the run's start).
    pub at_us: u64,
    pub detail: String,
}

/// Operations and how many succeeded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub ops: u64,
    pub ok: u64,
    /// `ok / ops`, 0 when there were none.
    pub share: f64,
}

impl Share {
    fn add(&mut self, ok: bool) {
        self.ops += 1;
        self.ok += u64::from(ok);
        self.share = self.ok as f64 / self.ops as f64;
    }
}

/// The figures of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Every workload operation (final reads not included).
    pub all: Share,
    pub puts: Share,
    pub gets: Share,
    pub deletes: Share,
    /// Per fault kind: the operations that overlapped one of its intervals.
    pub per_fault: BTreeMap<String, Share>,
    /// Operations that overlapped no fault.
    pub no_fault: Share,
    pub faults: u64,
    pub final_reads: u64,
    /// Time from heal to convergence, when the history says.
    pub converge_ms: Option<u64>,
}

/// What the checker found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub violations: Vec<Violation>,
    /// Violations per kind (every kind listed, zeros included).
    pub counts: BTreeMap<ViolationKind, u64>,
    pub figures: Figures,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// An instant that may be unbounded (an `info` write may take effect forever after).
fn effective_end(op: &Op) -> Option<u64> {
    match op.outcome {
        Outcome::Ok => Some(op.end_us),
        Outcome::Info | Outcome::Fail => None,
    }
}

/// Checks a whole history.
pub fn check(entries: &[Entry]) -> Report {
    let mut report = Report::default();
    let ops: Vec<&Op> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Op(op) => Some(op),
            _ => None,
        })
        .collect();
    let faults: Vec<&FaultSpan> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Fault(f) => Some(f),
            _ => None,
        })
        .collect();

    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in &ops {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    for (key, ops) in &by_key {
        check_key(key, ops, &mut report.violations);
        check_final(key, ops, &mut report.violations);
    }
    for e in entries {
        match e {
            Entry::Converged {
                after_ms,
                converged,
            } => {
                report.figures.converge_ms = Some(*after_ms);
                if !converged {
                    report.violations.push(Violation {
                        kind: ViolationKind::NotConverged,
                        key: None,
                        member: None,
                        at_us: 0,
                        detail: format!("not converged {after_ms} ms after the heal"),
                    });
                }
            }
            Entry::Scrub {
                member,
                unrepairable,
                error,
                ..
            } => {
                if *unrepairable > 0 {
                    report.violations.push(Violation {
                        kind: ViolationKind::UnrepairedRot,
                        key: None,
                        member: Some(*member),
                        at_us: 0,
                        detail: format!("scrub left {unrepairable} blocks unrepaired"),
                    });
                }
                if let Some(err) = error {
                    report.violations.push(Violation {
                        kind: ViolationKind::UnavailableAfterConvergence,
                        key: None,
                        member: Some(*member),
                        at_us: 0,
                        detail: format!("scrub failed: {err}"),
                    });
                }
            }
            Entry::Op(_) | Entry::Fault(_) => {}
        }
    }
    report.violations.sort_by(|a, b| {
        (a.kind, a.at_us, &a.key, a.member).cmp(&(b.kind, b.at_us, &b.key, b.member))
    });
    for kind in ViolationKind::ALL {
        report.counts.insert(kind, 0);
    }
    for v in &report.violations {
        *report.counts.entry(v.kind).or_default() += 1;
    }
    report.figures = Figures {
        converge_ms: report.figures.converge_ms,
        ..figures(&ops, &faults)
    };
    report
}

fn figures(ops: &[&Op], faults: &[&FaultSpan]) -> Figures {
    let mut f = Figures {
        faults: faults.len() as u64,
        ..Figures::default()
    };
    for kind in faults
        .iter()
        .map(|s| s.kind.as_str())
        .collect::<BTreeSet<_>>()
    {
        f.per_fault.insert(kind.to_string(), Share::default());
    }
    for op in ops {
        if op.final_read {
            f.final_reads += 1;
            continue;
        }
        let ok = op.outcome == Outcome::Ok;
        f.all.add(ok);
        match op.kind {
            OpKind::Put => f.puts.add(ok),
            OpKind::Get => f.gets.add(ok),
            OpKind::Delete => f.deletes.add(ok),
        }
        let during: BTreeSet<&str> = faults
            .iter()
            .filter(|s| op.start_us < s.end_us.max(s.start_us + 1) && op.end_us > s.start_us)
            .map(|s| s.kind.as_str())
            .collect();
        if during.is_empty() {
            f.no_fault.add(ok);
        }
        for kind in during {
            if let Some(s) = f.per_fault.get_mut(kind) {
                s.add(ok);
            }
        }
    }
    f
}

fn violation(kind: ViolationKind, op: &Op, detail: String) -> Violation {
    Violation {
        kind,
        key: Some(op.key.clone()),
        member: Some(op.member),
        at_us: op.start_us,
        detail,
    }
}

fn describe(w: &Op) -> String {
    match w.kind {
        OpKind::Put => format!(
            "PUT {} (client {}, {}..{} µs)",
            w.value.as_deref().unwrap_or("?"),
            w.client,
            w.start_us,
            w.end_us
        ),
        _ => format!(
            "DELETE (client {}, {}..{} µs)",
            w.client, w.start_us, w.end_us
        ),
    }
}

/// Where a read of "absent" may have got it from, the latest candidate.
#[derive(Debug, Clone, Copy)]
enum Absent {
    /// Only the initial state: no delete that could precede the read.
    Initial,
    /// A delete acknowledged by this instant.
    Until(u64),
    /// A delete that was never acknowledged: it may take effect at any time.
    Unbounded,
}

impl Absent {
    fn later(self, delete_end: Option<u64>) -> Absent {
        match (self, delete_end) {
            (Absent::Unbounded, _) | (_, None) => Absent::Unbounded,
            (Absent::Initial, Some(e)) => Absent::Until(e),
            (Absent::Until(a), Some(e)) => Absent::Until(a.max(e)),
        }
    }
}

/// Wrong bytes and stale reads (lost writes, for final reads) of one key.
fn check_key(key: &str, ops: &[&Op], out: &mut Vec<Violation>) {
    let writes: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|o| o.is_write() && o.outcome != Outcome::Fail)
        .collect();
    let acked: Vec<&Op> = writes
        .iter()
        .copied()
        .filter(|o| o.outcome == Outcome::Ok)
        .collect();
    // Value ids are unique per key: the first PUT naming one is its write.
    let mut put_of: HashMap<&str, &Op> = HashMap::new();
    for o in ops.iter().filter(|o| o.kind == OpKind::Put) {
        if let Some(v) = o.value.as_deref() {
            put_of.entry(v).or_insert(o);
        }
    }
    let reads = ops
        .iter()
        .filter(|o| o.kind == OpKind::Get && o.outcome == Outcome::Ok);
    for r in reads {
        let stale_kind = if r.final_read {
            ViolationKind::LostWrite
        } else {
            ViolationKind::StaleRead
        };
        if let Some(why) = &r.unmatched {
            out.push(violation(
                ViolationKind::WrongBytes,
                r,
                format!("200 with {why}"),
            ));
            continue;
        }
        match &r.value {
            Some(v) => {
                let Some(w) = put_of.get(v.as_str()).copied() else {
                    out.push(violation(
                        ViolationKind::WrongBytes,
                        r,
                        format!("200 with value {v}, which no write of {key} wrote"),
                    ));
                    continue;
                };
                if w.outcome == Outcome::Fail {
                    out.push(violation(
                        ViolationKind::WrongBytes,
                        r,
                        format!(
                            "200 with the bytes of {}, a write that was refused",
                            describe(w)
                        ),
                    ));
                    continue;
                }
                if w.start_us > r.end_us {
                    out.push(violation(
                        ViolationKind::WrongBytes,
                        r,
                        format!(
                            "200 with the bytes of {}, which began after this read ended",
                            describe(w)
                        ),
                    ));
                    continue;
                }
                let w_end = effective_end(w);
                let newer = acked
                    .iter()
                    .filter(|w2| !std::ptr::eq(**w2, w))
                    .filter(|w2| w_end.is_some_and(|e| w2.start_us > e) && w2.end_us < r.start_us)
                    .max_by_key(|w2| w2.end_us);
                if let Some(w2) = newer {
                    out.push(violation(
                        stale_kind,
                        r,
                        format!(
                            "read {} although {} replaced it before the read began",
                            describe(w),
                            describe(w2)
                        ),
                    ));
                }
            }
            None => {
                // The latest "absent" this read could see: the initial state or a delete.
                let source = writes
                    .iter()
                    .filter(|d| d.kind == OpKind::Delete && d.start_us < r.end_us)
                    .fold(Absent::Initial, |acc, d| acc.later(effective_end(d)));
                let newer = acked
                    .iter()
                    .filter(|w2| w2.kind == OpKind::Put && w2.end_us < r.start_us)
                    .filter(|w2| match source {
                        Absent::Initial => true,
                        Absent::Until(e) => w2.start_us > e,
                        Absent::Unbounded => false,
                    })
                    .max_by_key(|w2| w2.end_us);
                if let Some(w2) = newer {
                    out.push(violation(
                        stale_kind,
                        r,
                        format!(
                            "404 although {} was acknowledged before the read began and no delete could follow it",
                            describe(w2)
                        ),
                    ));
                }
            }
        }
    }
}

/// Divergence and unavailability in the final reads of one key.
fn check_final(key: &str, ops: &[&Op], out: &mut Vec<Violation>) {
    let finals: Vec<&Op> = ops.iter().copied().filter(|o| o.final_read).collect();
    let mut seen: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for r in &finals {
        if r.outcome != Outcome::Ok {
            out.push(violation(
                ViolationKind::UnavailableAfterConvergence,
                r,
                format!(
                    "final read answered {}{}",
                    r.status.map_or("nothing".to_string(), |s| s.to_string()),
                    r.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ),
            ));
            continue;
        }
        let v = match (&r.value, &r.unmatched) {
            (_, Some(_)) => "wrong bytes".to_string(),
            (Some(v), None) => v.clone(),
            (None, None) => "absent".to_string(),
        };
        seen.entry(v).or_default().push(r.member);
    }
    if seen.len() > 1 {
        let detail = seen
            .iter()
            .map(|(v, ms)| format!("{v} from members {ms:?}"))
            .collect::<Vec<_>>()
            .join("; ");
        out.push(Violation {
            kind: ViolationKind::Divergence,
            key: Some(key.to_string()),
            member: None,
            at_us: finals.first().map_or(0, |r| r.start_us),
            detail,
        });
    }
}

#[cfg(test)]
mod tests;
