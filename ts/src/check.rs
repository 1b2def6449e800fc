//! A TS validator for tests and `stripecast ts check`.
//!
//! [`check`] reads a whole byte stream and reports:
//! - packet errors (length, sync byte, reserved AFC, oversized adaptation field);
//! - continuity: per PID (the null PID excepted), a payload packet's CC is the
//!   previous one + 1 mod 16, or equal to it once (a duplicate), a packet
//!   without payload keeps the CC, and any CC is accepted on a packet with
//!   discontinuity_indicator set;
//! - PSI: the PAT and every PMT it names parse with a good CRC, every PID seen
//!   is declared (PAT, PMTs, their streams, the null PID);
//! - PCR on each PMT's PCR PID: advancing (mod the 2^33*300 wrap) by at most
//!   [`MAX_PCR_STEP`], else an error unless the packet flags a discontinuity;
//!   the largest gap between PCRs is reported (ISO/IEC 13818-1 asks <= 100 ms);
//! - SCTE-35 `splice_info_section`s on stream_type 0x86 PIDs.
//!
//! Invariant: [`check`] never panics; [`Report::is_valid`] is true exactly when
//! [`Report::errors`] is empty.

use super::packet::{Packet, NULL_PID, PACKET_SIZE};
use super::psi::{self, Pat, Pmt, SectionAssembler, SpliceCommand, SpliceInfo};
use super::{PCR_HZ, PCR_WRAP};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The largest PCR advance accepted between two PCRs without a discontinuity flag: 1 s.
pub const MAX_PCR_STEP: u64 = PCR_HZ;
const KEEP_ERRORS: usize = 50;

/// Per-PID counts.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PidStats {
    pub packets: u64,
    pub cc_errors: u64,
    pub duplicates: u64,
    pub pcrs: u64,
    pub pusi: u64,
}

/// One continuity error.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CcError {
    pub packet: u64,
    pub pid: u16,
    pub expected: u8,
    pub got: u8,
}

/// One SCTE-35 splice_insert seen.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CueSeen {
    pub packet: u64,
    pub pid: u16,
    pub splice_event_id: u32,
    pub out_of_network: bool,
    pub splice_time: Option<u64>,
    pub break_duration: Option<u64>,
}

/// What [`check`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub packets: u64,
    pub trailing_bytes: usize,
    pub packet_errors: u64,
    pub first_packet_errors: Vec<String>,
    pub pids: BTreeMap<u16, PidStats>,
    pub cc_errors: Vec<CcError>,
    pub cc_error_count: u64,
    pub psi_errors: Vec<String>,
    pub pat_sections: u64,
    pub pmt_sections: u64,
    /// program_number -> PMT PID.
    pub programs: BTreeMap<u16, u16>,
    /// elementary PID -> stream_type.
    pub streams: BTreeMap<u16, u8>,
    pub pcr_pids: BTreeSet<u16>,
    pub pcr_first: Option<u64>,
    pub pcr_last: Option<u64>,
    pub pcr_errors: Vec<String>,
    pub pcr_discontinuities: u64,
    /// The largest gap between consecutive PCRs of one PID, in ms.
    pub pcr_max_gap_ms: f64,
    /// Stream time covered by PCRs (sum of the advances), in seconds.
    pub duration_secs: f64,
    pub undeclared_pids: BTreeSet<u16>,
    pub cues: Vec<CueSeen>,
}

impl Report {
    /// Every reason this stream is not valid TS.
    pub fn errors(&self) -> Vec<String> {
        let mut e = Vec::new();
        if self.packets == 0 {
            e.push("no packets".to_owned());
        }
        if self.trailing_bytes != 0 {
            e.push(format!(
                "{} trailing bytes (not a whole packet)",
                self.trailing_bytes
            ));
        }
        if self.packet_errors != 0 {
            e.push(format!(
                "{} bad packets: {:?}",
                self.packet_errors, self.first_packet_errors
            ));
        }
        if self.cc_error_count != 0 {
            e.push(format!(
                "{} CC errors, first: {:?}",
                self.cc_error_count,
                self.cc_errors.first()
            ));
        }
        if !self.psi_errors.is_empty() {
            e.push(format!("PSI errors: {:?}", self.psi_errors));
        }
        if self.pat_sections == 0 {
            e.push("no PAT".to_owned());
        }
        if self.programs.is_empty() || self.pmt_sections == 0 {
            e.push("no PMT".to_owned());
        }
        if !self.pcr_errors.is_empty() {
            e.push(format!("PCR errors: {:?}", self.pcr_errors));
        }
        if !self.undeclared_pids.is_empty() {
            e.push(format!("undeclared PIDs: {:?}", self.undeclared_pids));
        }
        e
    }

    /// No errors.
    pub fn is_valid(&self) -> bool {
        self.errors().is_empty()
    }
}

#[derive(Default)]
struct PidState {
    last_cc: Option<u8>,
    dup_allowed: bool,
    last_pcr: Option<u64>,
    asm: SectionAssembler,
}

/// Validates a whole TS byte stream.
pub fn check(ts: &[u8]) -> Report {
    let mut r = Report {
        trailing_bytes: ts.len() % PACKET_SIZE,
        ..Default::default()
    };
    let mut st: HashMap<u16, PidState> = HashMap::new();
    let mut seen: BTreeSet<u16> = BTreeSet::new();
    let mut pmt_pids: BTreeSet<u16> = BTreeSet::new();
    let mut scte_pids: BTreeSet<u16> = BTreeSet::new();
    let mut pcr_sum: u64 = 0;
    let mut max_gap: u64 = 0;
    for (idx, chunk) in ts.chunks_exact(PACKET_SIZE).enumerate() {
        let idx = idx as u64;
        r.packets += 1;
        let p = match Packet::parse(chunk) {
            Ok(p) => p,
            Err(e) => {
                r.packet_errors += 1;
                if r.first_packet_errors.len() < KEEP_ERRORS {
                    r.first_packet_errors.push(format!("packet {idx}: {e}"));
                }
                continue;
            }
        };
        let pid = p.pid();
        let stats = r.pids.entry(pid).or_default();
        stats.packets += 1;
        stats.pusi += u64::from(p.pusi());
        if pid == NULL_PID {
            continue;
        }
        seen.insert(pid);
        let s = st.entry(pid).or_default();
        // continuity
        let cc = p.cc();
        if let (Some(last), false) = (s.last_cc, p.discontinuity()) {
            let ok = if p.has_payload() {
                if cc == (last + 1) & 0x0F {
                    s.dup_allowed = true;
                    true
                } else if cc == last && s.dup_allowed {
                    s.dup_allowed = false;
                    stats.duplicates += 1;
                    true
                } else {
                    false
                }
            } else {
                cc == last
            };
            if !ok {
                stats.cc_errors += 1;
                r.cc_error_count += 1;
                if r.cc_errors.len() < KEEP_ERRORS {
                    r.cc_errors.push(CcError {
                        packet: idx,
                        pid,
                        expected: if p.has_payload() {
                            (last + 1) & 0x0F
                        } else {
                            last
                        },
                        got: cc,
                    });
                }
            }
        } else {
            s.dup_allowed = p.has_payload();
        }
        s.last_cc = Some(cc);
        // PCR
        if let Some(pcr) = p.pcr() {
            stats.pcrs += 1;
            r.pcr_first.get_or_insert(pcr);
            r.pcr_last = Some(pcr);
            if let Some(prev) = s.last_pcr {
                let step = (pcr + PCR_WRAP - prev) % PCR_WRAP;
                if p.discontinuity() {
                    r.pcr_discontinuities += 1;
                } else if step > MAX_PCR_STEP {
                    if r.pcr_errors.len() < KEEP_ERRORS {
                        r.pcr_errors.push(format!(
                            "packet {idx} PID {pid:#x}: PCR {prev} -> {pcr} (unflagged jump)"
                        ));
                    }
                } else {
                    pcr_sum += step;
                    max_gap = max_gap.max(step);
                }
            }
            s.last_pcr = Some(pcr);
        }
        // PSI
        let is_pmt = pmt_pids.contains(&pid);
        let is_scte = scte_pids.contains(&pid);
        if pid == psi::PAT_PID || is_pmt || is_scte {
            for sec in s.asm.push(&p) {
                if pid == psi::PAT_PID {
                    match Pat::parse(&sec) {
                        Ok(pat) => {
                            r.pat_sections += 1;
                            for e in pat.programs.iter().filter(|e| e.program_number != 0) {
                                r.programs.insert(e.program_number, e.pid);
                                pmt_pids.insert(e.pid);
                            }
                        }
                        Err(e) => push_err(&mut r.psi_errors, format!("packet {idx}: PAT: {e}")),
                    }
                } else if is_pmt {
                    match Pmt::parse(&sec) {
                        Ok(pmt) => {
                            r.pmt_sections += 1;
                            r.pcr_pids.insert(pmt.pcr_pid);
                            for s in &pmt.streams {
                                r.streams.insert(s.pid, s.stream_type);
                                if s.stream_type == psi::STREAM_TYPE_SCTE35 {
                                    scte_pids.insert(s.pid);
                                }
                            }
                        }
                        Err(e) => push_err(&mut r.psi_errors, format!("packet {idx}: PMT: {e}")),
                    }
                } else {
                    match SpliceInfo::parse(&sec) {
                        Ok(info) => {
                            if let SpliceCommand::Insert(ins) = info.command {
                                r.cues.push(CueSeen {
                                    packet: idx,
                                    pid,
                                    splice_event_id: ins.splice_event_id,
                                    out_of_network: ins.out_of_network,
                                    splice_time: ins.splice_time,
                                    break_duration: ins.break_duration.map(|d| d.1),
                                });
                            }
                        }
                        Err(e) => {
                            push_err(&mut r.psi_errors, format!("packet {idx}: SCTE-35: {e}"))
                        }
                    }
                }
            }
        }
    }
    r.pcr_max_gap_ms = max_gap as f64 * 1000.0 / PCR_HZ as f64;
    r.duration_secs = pcr_sum as f64 / PCR_HZ as f64;
    for pid in seen {
        let declared = pid == psi::PAT_PID
            || pmt_pids.contains(&pid)
            || r.streams.contains_key(&pid)
            || r.pcr_pids.contains(&pid);
        if !declared {
            r.undeclared_pids.insert(pid);
        }
    }
    r
}

fn push_err(v: &mut Vec<String>, e: String) {
    if v.len() < KEEP_ERRORS {
        v.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{generate, Cue, GenParams};
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn ts_check_generated_is_valid() {
        let mut p = GenParams::new("FEED0");
        p.cues.push(Cue {
            at: Duration::from_millis(500),
            preroll: Duration::from_secs(2),
            event_id: 42,
            out_of_network: true,
            break_duration: Some(Duration::from_secs(10)),
        });
        let ts = generate(Duration::from_secs(3), &p).unwrap();
        let r = check(&ts);
        assert!(r.is_valid(), "{:?}", r.errors());
        assert_eq!(r.programs.get(&1), Some(&0x1000));
        assert_eq!(r.streams.get(&0x1F0), Some(&0x86));
        assert!(r.pcr_max_gap_ms <= 50.0, "{}", r.pcr_max_gap_ms);
        assert!((r.duration_secs - 2.96).abs() < 0.05, "{}", r.duration_secs);
        assert_eq!(r.cues.len(), 1);
        assert_eq!(r.cues[0].splice_event_id, 42);
        assert_eq!(
            r.cues[0].splice_time,
            Some(p.pts_at(Duration::from_millis(2500)))
        );
        assert_eq!(r.cues[0].break_duration, Some(900_000));
    }

    #[test]
    fn ts_check_finds_cc_errors_and_junk() {
        let p = GenParams::new("FEED0");
        let ts = generate(Duration::from_millis(500), &p).unwrap();
        // drop one video packet in the middle
        let mut cut = ts.clone();
        let at = 100 * PACKET_SIZE;
        cut.drain(at..at + PACKET_SIZE);
        let r = check(&cut);
        assert!(!r.is_valid());
        assert_eq!(r.cc_error_count, 1);
        // a duplicate is allowed
        let mut dup = ts[..at + PACKET_SIZE].to_vec();
        dup.extend_from_slice(&ts[at..]);
        assert!(check(&dup).is_valid(), "{:?}", check(&dup).errors());
        // trailing junk
        let mut junk = ts.clone();
        junk.extend_from_slice(&[0x47, 1, 2]);
        assert_eq!(check(&junk).trailing_bytes, 3);
        assert!(!check(&junk).is_valid());
    }

    proptest! {
        #[test]
        fn ts_check_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..188 * 5), syncs: bool) {
            let mut b = bytes;
            if syncs {
                for i in (0..b.len()).step_by(188) { b[i] = 0x47; }
            }
            let _ = check(&b);
        }
    }
}
