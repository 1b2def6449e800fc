//! [`ProgramWatcher`]: follows one TS's program (PAT -> PMT -> SCTE-35 PID)
//! and reports the `splice_insert` cues it carries.
//!
//! Used by the splicer (to know the main's PIDs) and by ring processors (to
//! react to cues in the feed they watch). Invariants: only the first program
//! of the PAT is followed; a PMT or PAT change is picked up as soon as its
//! section completes; malformed sections are ignored, never fatal.

use std::collections::HashMap;

use super::packet::Packet;
use super::psi::{self, Pat, Pmt, SectionAssembler, SpliceCommand, SpliceInfo, SpliceInsert};

/// Learns a stream's program from its PSI.
#[derive(Debug, Default)]
pub struct ProgramWatcher {
    pmt_pid: Option<u16>,
    pmt: Option<Pmt>,
    asm: HashMap<u16, SectionAssembler>,
}

impl ProgramWatcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// The PMT's PID, once the PAT was seen.
    pub fn pmt_pid(&self) -> Option<u16> {
        self.pmt_pid
    }

    /// The program's PMT, once seen.
    pub fn pmt(&self) -> Option<&Pmt> {
        self.pmt.as_ref()
    }

    /// Whether `pid` is the program's SCTE-35 PID.
    pub fn is_scte35(&self, pid: u16) -> bool {
        self.pmt.as_ref().is_some_and(|m| {
            m.streams
                .iter()
                .any(|s| s.pid == pid && s.stream_type == psi::STREAM_TYPE_SCTE35)
        })
    }

    /// Takes one packet; returns the `splice_insert` commands completed by it.
    pub fn push(&mut self, p: &Packet) -> Vec<SpliceInsert> {
        let pid = p.pid();
        let scte = self.is_scte35(pid);
        if pid != psi::PAT_PID && Some(pid) != self.pmt_pid && !scte {
            return Vec::new();
        }
        let mut cues = Vec::new();
        for s in self.asm.entry(pid).or_default().push(p) {
            if pid == psi::PAT_PID {
                if let Some(e) = Pat::parse(&s)
                    .ok()
                    .and_then(|pat| pat.programs.into_iter().find(|e| e.program_number != 0))
                {
                    self.pmt_pid = Some(e.pid);
                }
            } else if scte {
                if let Ok(SpliceInfo {
                    command: SpliceCommand::Insert(ins),
                    ..
                }) = SpliceInfo::parse(&s)
                {
                    cues.push(ins);
                }
            } else if let Ok(pmt) = Pmt::parse(&s) {
                self.pmt = Some(pmt);
            }
        }
        cues
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{generate, Cue, GenParams};
    use crate::packet::packets;
    use std::time::Duration;

    #[test]
    fn ts_program_learns_pmt_and_reports_cues() {
        let mut p = GenParams::new("W");
        p.cues.push(Cue {
            at: Duration::from_millis(200),
            preroll: Duration::from_millis(500),
            event_id: 77,
            out_of_network: true,
            break_duration: None,
        });
        let ts = generate(Duration::from_millis(600), &p).unwrap();
        let mut w = ProgramWatcher::new();
        let mut cues = Vec::new();
        for pk in packets(&ts) {
            cues.extend(w.push(&pk.unwrap()));
        }
        assert_eq!(w.pmt_pid(), Some(p.pmt_pid));
        assert!(w.is_scte35(0x1F0));
        assert!(!w.is_scte35(p.video_pid));
        assert_eq!(cues.len(), 1);
        assert_eq!(cues[0].splice_event_id, 77);
        // nothing learned from a stream without PSI
        let mut w = ProgramWatcher::new();
        assert!(w.push(&Packet::null()).is_empty());
        assert!(w.pmt().is_none());
    }
}
