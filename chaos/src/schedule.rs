//! The nemesis schedule: which fault, on which members, when, for how long.
//!
//! Generated from a seed before the run and printed, so a run can be
//! repeated: the same seed, duration, member count and fault kinds give the
//! same schedule. Faults come one at a time, each followed by a quiet gap;
//! every one ends (is healed) before the run's end.
//!
//! Invariants: events are ordered by `at_ms` and never overlap; `members`
//! are valid member ids; single-member kinds hit one member, `kill2` two
//! distinct members, `restart-all` every member, `partition` a minority side
//! (one member or a random split); `rot` always hits the same member within
//! a run (one member's disk rots), so within a row it stays within parity.

use std::fmt;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A kind of fault the nemesis injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL one member, start it again at the end.
    Kill,
    /// SIGSTOP one member, SIGCONT at the end.
    Stop,
    /// Cut one member, or a random minority, off from the rest (both ways).
    Partition,
    /// Drop a share of the frames on every link of one member.
    Drop,
    /// Delay every frame on every link of one member.
    Delay,
    /// Send a share of the frames twice on every link of one member.
    Duplicate,
    /// Swap frames pairwise on every link of one member.
    Reorder,
    /// Flip a byte in a share of the frames on every link of one member.
    Corrupt,
    /// Flip bytes in fragment files on one member's disk.
    Rot,
    /// SIGKILL two members at once (beyond parity 1: service may stop, data must not be wrong).
    Kill2,
    /// SIGKILL every member and start them all again.
    RestartAll,
    /// Inject a crafted peer message into one member (`POST /v1/inject`).
    Inject,
}

impl FaultKind {
    pub const ALL: [FaultKind; 12] = [
        FaultKind::Kill,
        FaultKind::Stop,
        FaultKind::Partition,
        FaultKind::Drop,
        FaultKind::Delay,
        FaultKind::Duplicate,
        FaultKind::Reorder,
        FaultKind::Corrupt,
        FaultKind::Rot,
        FaultKind::Kill2,
        FaultKind::RestartAll,
        FaultKind::Inject,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Stop => "stop",
            FaultKind::Partition => "partition",
            FaultKind::Drop => "drop",
            FaultKind::Delay => "delay",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Reorder => "reorder",
            FaultKind::Corrupt => "corrupt",
            FaultKind::Rot => "rot",
            FaultKind::Kill2 => "kill2",
            FaultKind::RestartAll => "restart-all",
            FaultKind::Inject => "inject",
        }
    }

    /// A link fault (set through `/v1/faults` on the member's links).
    pub fn is_link(self) -> bool {
        matches!(
            self,
            FaultKind::Drop
                | FaultKind::Delay
                | FaultKind::Duplicate
                | FaultKind::Reorder
                | FaultKind::Corrupt
        )
    }

    /// Parses a comma-separated list (`all` for every kind).
    pub fn parse_list(s: &str) -> Result<Vec<FaultKind>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "all" {
                out.extend(FaultKind::ALL);
                continue;
            }
            let k = FaultKind::ALL
                .into_iter()
                .find(|k| k.name() == part)
                .ok_or_else(|| {
                    format!(
                        "unknown fault kind `{part}` (known: {}, all)",
                        FaultKind::ALL.map(FaultKind::name).join(", ")
                    )
                })?;
            out.push(k);
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err("no fault kinds given".into());
        }
        Ok(out)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultEvent {
    /// When it starts, from the start of the workload.
    pub at_ms: u64,
    /// How long it lasts before it is healed (0: a one-off act, e.g. rot).
    pub duration_ms: u64,
    pub kind: FaultKind,
    /// The members it acts on (for `partition`: the side cut off).
    pub members: Vec<u32>,
    /// Drives the fault's own random choices (link decisions, which files
    /// rot, which message is injected), so they repeat with the schedule.
    pub seed: u64,
}

impl fmt::Display for FaultEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = if self.members.len() == 1 {
            format!("member {}", self.members[0])
        } else {
            format!("members {:?}", self.members)
        };
        write!(
            f,
            "{:>7.1}s  {:<11} {:<18}",
            self.at_ms as f64 / 1000.0,
            self.kind.name(),
            who
        )?;
        if self.duration_ms > 0 {
            write!(f, " for {:.1}s", self.duration_ms as f64 / 1000.0)?;
        }
        Ok(())
    }
}

/// The whole schedule of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub seed: u64,
    pub events: Vec<FaultEvent>,
}

/// Quiet time before the first fault and after the last heal, in milliseconds.
const MARGIN_MS: u64 = 1000;

impl Schedule {
    /// The schedule for `seed` over `duration_ms` on `members` members.
    pub fn generate(seed: u64, duration_ms: u64, members: u32, kinds: &[FaultKind]) -> Schedule {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ids: Vec<u32> = (0..members).collect();
        let rot_member = rng.gen_range(0..members.max(1));
        let mut events = Vec::new();
        let mut t = MARGIN_MS;
        let end = duration_ms.saturating_sub(MARGIN_MS);
        while !kinds.is_empty() && members > 0 {
            let gap = rng.gen_range(500..2500);
            let kind = kinds[rng.gen_range(0..kinds.len())];
            let duration_ms = match kind {
                FaultKind::Rot | FaultKind::Inject => 0,
                FaultKind::RestartAll => rng.gen_range(200..1500),
                FaultKind::Kill | FaultKind::Stop | FaultKind::Partition | FaultKind::Kill2 => {
                    rng.gen_range(1000..5000)
                }
                _ => rng.gen_range(1000..4000),
            };
            let members_hit = match kind {
                FaultKind::Rot => vec![rot_member],
                FaultKind::RestartAll => ids.clone(),
                FaultKind::Kill2 => {
                    let mut two: Vec<u32> = ids.choose_multiple(&mut rng, 2).copied().collect();
                    two.sort();
                    two
                }
                FaultKind::Partition if members >= 4 && rng.gen_bool(0.3) => {
                    let side = rng.gen_range(1..=(members - 1) / 2) as usize;
                    let mut cut: Vec<u32> = ids.choose_multiple(&mut rng, side).copied().collect();
                    cut.sort();
                    cut
                }
                _ => vec![rng.gen_range(0..members)],
            };
            let at_ms = t + gap;
            if at_ms + duration_ms > end {
                break;
            }
            events.push(FaultEvent {
                at_ms,
                duration_ms,
                kind,
                members: members_hit,
                seed: rng.gen(),
            });
            t = at_ms + duration_ms;
        }
        Schedule { seed, events }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "nemesis schedule (seed {}): {} faults",
            self.seed,
            self.events.len()
        )?;
        for e in &self.events {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_lists() {
        assert_eq!(
            FaultKind::parse_list("rot, kill,rot").unwrap(),
            vec![FaultKind::Kill, FaultKind::Rot]
        );
        assert_eq!(FaultKind::parse_list("all").unwrap().len(), 12);
        assert_eq!(
            FaultKind::parse_list("restart-all,kill2").unwrap(),
            vec![FaultKind::Kill2, FaultKind::RestartAll]
        );
        assert!(FaultKind::parse_list("kil")
            .unwrap_err()
            .contains("unknown fault kind `kil`"));
        assert!(FaultKind::parse_list(" , ").is_err());
    }

    #[test]
    fn same_seed_same_schedule_other_seed_other_schedule() {
        let a = Schedule::generate(7, 60_000, 5, &FaultKind::ALL);
        let b = Schedule::generate(7, 60_000, 5, &FaultKind::ALL);
        let c = Schedule::generate(8, 60_000, 5, &FaultKind::ALL);
        assert_eq!(a, b);
        assert_eq!(a.to_string(), b.to_string());
        assert_ne!(a, c);
        assert!(a.events.len() >= 8, "{a}");
    }

    proptest! {
        #[test]
        fn events_are_ordered_disjoint_in_range_and_well_aimed(
            seed in any::<u64>(), duration_ms in 0u64..120_000, members in 3u32..8,
        ) {
            let s = Schedule::generate(seed, duration_ms, members, &FaultKind::ALL);
            let mut t = 0;
            let mut rot = None;
            for e in &s.events {
                prop_assert!(e.at_ms >= t);
                t = e.at_ms + e.duration_ms;
                prop_assert!(t <= duration_ms.saturating_sub(MARGIN_MS));
                prop_assert!(e.members.iter().all(|&m| m < members));
                let mut uniq = e.members.clone();
                uniq.dedup();
                prop_assert_eq!(uniq.len(), e.members.len());
                match e.kind {
                    FaultKind::Kill2 => prop_assert_eq!(e.members.len(), 2),
                    FaultKind::RestartAll => prop_assert_eq!(e.members.len(), members as usize),
                    FaultKind::Partition => prop_assert!(e.members.len() * 2 < members as usize),
                    FaultKind::Rot => {
                        prop_assert_eq!(*rot.get_or_insert(e.members[0]), e.members[0]);
                    }
                    _ => prop_assert_eq!(e.members.len(), 1),
                }
            }
        }
    }
}
