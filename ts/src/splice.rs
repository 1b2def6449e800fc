//! The [`Splicer`]: one output TS from a main feed and, during an insert, the
//! insert's packets.
//!
//! Model: one main packet in, exactly one packet out ([`Splicer::push`]), so
//! the output keeps the main feed's packet rate and pacing, and never gaps.
//!
//! Decisions and invariants:
//! - **Switch points.** An armed insert starts at the main video PID's next
//!   PUSI packet (a PES start), so the main's last PES is cut at its end. On
//!   return the main's video (and other elementary) packets are replaced by
//!   null packets until the main video's next PUSI, so no orphan PES tail is
//!   output. The main's PAT, PMT and SCTE-35 packets always pass.
//! - **PID mapping.** The insert is carried on the main program's PIDs: each
//!   insert elementary stream maps to the main stream of the same
//!   stream_type (else the next unused one, in PMT order); the insert's PAT,
//!   PMT, SCTE-35 and unmapped packets become null packets, which keeps its
//!   timing (an insert made like the main, same bitrate and PSI rate,
//!   plays at its real speed). The output PSI stays the main's.
//! - **Continuity.** Every output PID's CC is rewritten to run on
//!   continuously (duplicates in the main stay duplicates); null packets are
//!   not counted.
//! - **Timeline.** The insert's PCR and PTS/DTS are shifted by one offset
//!   chosen at the switch so the insert continues the main's clock (the
//!   main's PCR extrapolated to the switch packet). On return, a main PCR
//!   that does not advance by 0 < step <= 1 s over the last output PCR gets
//!   its discontinuity_indicator set.
//! - **Resume.** [`Splicer::arm`] takes a start packet offset `K` into the
//!   insert: a new processor resumes an interrupted insert from its journaled
//!   [`Splicer::position`] and the output carries insert packets `K..` (the
//!   first may continue a PES; its CC is continuous all the same).

use super::packet::{Packet, PacketError, NULL_PID, PACKET_SIZE};
use super::pes;
use super::program::ProgramWatcher;
use super::psi::{self, Pmt, SpliceInsert};
use super::{PCR_WRAP, PTS_WRAP};
use std::collections::HashMap;
use thiserror::Error;

/// Why a splice cannot proceed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SpliceError {
    #[error("packet {index} of the insert: {source}")]
    InsertPacket { index: usize, source: PacketError },
    #[error("main packet: {0}")]
    MainPacket(#[from] PacketError),
    #[error("the insert has no {0}")]
    InsertPsi(&'static str),
    #[error("start packet {start} is past the insert's end ({len} packets)")]
    Start { start: usize, len: usize },
}

/// A stored insert, parsed: its packets and program. Either whole
/// ([`Insert::new`]) or streamed ([`Insert::open`] then [`Insert::append`]
/// and [`Insert::finish`]), in which case it may start at packet `base` and
/// its packets arrive while it plays.
#[derive(Debug, Clone)]
pub struct Insert {
    pub name: String,
    packets: Vec<Packet>,
    /// The insert's packet number of `packets[0]`.
    base: usize,
    complete: bool,
    pmt_pid: u16,
    pmt: Pmt,
}

fn parse_packets(ts: &[u8], first: usize) -> Result<Vec<Packet>, SpliceError> {
    ts.chunks(PACKET_SIZE)
        .enumerate()
        .map(|(i, c)| {
            Packet::parse(c).map_err(|source| SpliceError::InsertPacket {
                index: first + i,
                source,
            })
        })
        .collect()
}

/// The first program's PMT PID and PMT found in `packets`.
fn find_program(packets: &[Packet]) -> Result<(u16, Pmt), SpliceError> {
    let mut w = ProgramWatcher::new();
    for p in packets {
        w.push(p);
        if let (Some(pid), Some(pmt)) = (w.pmt_pid(), w.pmt()) {
            return Ok((pid, pmt.clone()));
        }
    }
    Err(SpliceError::InsertPsi(if w.pmt_pid().is_some() {
        "PMT"
    } else {
        "PAT"
    }))
}

impl Insert {
    /// Parses a whole insert TS; it must carry a PAT and the PMT of its first program.
    pub fn new(name: &str, ts: &[u8]) -> Result<Insert, SpliceError> {
        let packets = parse_packets(ts, 0)?;
        let (pmt_pid, pmt) = find_program(&packets)?;
        Ok(Insert {
            name: name.to_owned(),
            packets,
            base: 0,
            complete: true,
            pmt_pid,
            pmt,
        })
    }

    /// Opens a streamed insert whose packets from `base` on will be
    /// appended; `psi` carries its PAT and PMT (any packets holding them).
    pub fn open(name: &str, psi: &[u8], base: usize) -> Result<Insert, SpliceError> {
        let (pmt_pid, pmt) = find_program(&parse_packets(psi, 0)?)?;
        Ok(Insert {
            name: name.to_owned(),
            packets: Vec::new(),
            base,
            complete: false,
            pmt_pid,
            pmt,
        })
    }

    /// Appends the next packets of a streamed insert.
    pub fn append(&mut self, ts: &[u8]) -> Result<(), SpliceError> {
        let more = parse_packets(ts, self.len())?;
        self.packets.extend(more);
        Ok(())
    }

    /// Marks a streamed insert as having all its packets.
    pub fn finish(&mut self) {
        self.complete = true;
    }

    /// Whether every packet is here.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The packet number after the last one held (positions run up to it).
    pub fn len(&self) -> usize {
        self.base + self.packets.len()
    }

    /// Whether it holds no packets.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// The insert's own PMT PID.
    pub fn pmt_pid(&self) -> u16 {
        self.pmt_pid
    }

    /// The insert's own PMT.
    pub fn pmt(&self) -> &Pmt {
        &self.pmt
    }

    fn get(&self, pos: usize) -> Option<&Packet> {
        pos.checked_sub(self.base).and_then(|i| self.packets.get(i))
    }

    /// The packets held from `start` on.
    fn from(&self, start: usize) -> &[Packet] {
        let i = start.saturating_sub(self.base).min(self.packets.len());
        &self.packets[i..]
    }

    /// Whether it can start at `start`: its timeline is known (a PCR is held
    /// from there) or no more packets will come.
    fn ready_at(&self, start: usize) -> bool {
        self.complete
            || self
                .from(start)
                .iter()
                .any(|p| p.pid() == self.pmt.pcr_pid && p.pcr().is_some())
    }

    /// Ticks per packet from the insert's first two PCRs on one PID.
    fn pcr_rate(&self) -> Option<f64> {
        let mut it = self
            .packets
            .iter()
            .enumerate()
            .filter(|(_, p)| p.pcr().is_some() && p.pid() == self.pmt.pcr_pid);
        let (i0, p0) = it.next()?;
        let (i1, p1) = it.next()?;
        let step = (p1.pcr()? + PCR_WRAP - p0.pcr()?) % PCR_WRAP;
        Some(step as f64 / (i1 - i0) as f64)
    }
}

/// Where the splicer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpliceState {
    /// Passing the main feed.
    Main,
    /// An insert waits for the main's next video PES start.
    Armed,
    /// Playing an insert; `position` is its next packet.
    Inserting { position: usize },
    /// The insert ended; waiting for the main video's next PES start.
    Returning,
}

/// Something that happened during [`Splicer::push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpliceEvent {
    /// The insert began at output packet `output_packet`, from its packet `from`.
    Started {
        name: String,
        output_packet: u64,
        from: usize,
    },
    /// The insert stopped before output packet `output_packet`, at its
    /// packet `position` (its length when it played to the end).
    Finished {
        name: String,
        output_packet: u64,
        position: usize,
    },
    /// A `splice_insert` arrived on the main feed's SCTE-35 PID.
    Cue(SpliceInsert),
}

#[derive(Debug)]
struct Active {
    insert: Insert,
    pos: usize,
    pid_map: HashMap<u16, u16>,
    pcr_offset: u64,
}

/// Splices inserts into a main feed; see the module docs.
#[derive(Debug, Default)]
pub struct Splicer {
    program: ProgramWatcher,
    out_cc: HashMap<u16, u8>,
    main_last_cc: HashMap<u16, u8>,
    main_pcr: Option<(u64, u64)>,
    main_rate: Option<f64>,
    last_out_pcr: Option<u64>,
    in_index: u64,
    out_index: u64,
    armed: Option<(Insert, usize)>,
    active: Option<Active>,
    returning: bool,
    events: Vec<SpliceEvent>,
    underflows: u64,
}

impl Splicer {
    /// A splicer passing the main feed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `insert` to start at its packet `start` at the main's next video PES start.
    /// Replaces an armed one; an insert already playing plays on.
    pub fn arm(&mut self, insert: Insert, start: usize) -> Result<(), SpliceError> {
        if start < insert.base || (insert.complete && start >= insert.len()) {
            return Err(SpliceError::Start {
                start,
                len: insert.len(),
            });
        }
        tracing::debug!(name = %insert.name, start, "insert armed");
        self.armed = Some((insert, start));
        Ok(())
    }

    /// Drops the armed insert and stops the playing one (if any), returning
    /// to the main feed as on an insert's end.
    pub fn abort_insert(&mut self) {
        self.armed = None;
        if let Some(a) = self.active.take() {
            self.events.push(SpliceEvent::Finished {
                name: a.insert.name,
                output_packet: self.out_index,
                position: a.pos,
            });
            self.returning = true;
        }
    }

    /// The state.
    pub fn state(&self) -> SpliceState {
        match (&self.active, &self.armed, self.returning) {
            (Some(a), _, _) => SpliceState::Inserting { position: a.pos },
            (None, Some(_), _) => SpliceState::Armed,
            (None, None, true) => SpliceState::Returning,
            _ => SpliceState::Main,
        }
    }

    /// The playing insert's next packet (the position to journal for a resume).
    pub fn position(&self) -> Option<usize> {
        self.active.as_ref().map(|a| a.pos)
    }

    /// Appends packets to the armed or playing streamed insert called `name`;
    /// `false` if there is none.
    pub fn append(&mut self, name: &str, ts: &[u8]) -> Result<bool, SpliceError> {
        match self.streamed(name) {
            Some(i) => i.append(ts).map(|()| true),
            None => Ok(false),
        }
    }

    /// Marks the armed or playing streamed insert `name` complete.
    pub fn finish(&mut self, name: &str) -> bool {
        self.streamed(name).map(Insert::finish).is_some()
    }

    fn streamed(&mut self, name: &str) -> Option<&mut Insert> {
        if let Some(a) = self.active.as_mut().filter(|a| a.insert.name == name) {
            return Some(&mut a.insert);
        }
        self.armed
            .as_mut()
            .map(|(i, _)| i)
            .filter(|i| i.name == name)
    }

    /// The name of the armed or playing insert.
    pub fn current(&self) -> Option<&str> {
        self.active
            .as_ref()
            .map(|a| a.insert.name.as_str())
            .or(self.armed.as_ref().map(|(i, _)| i.name.as_str()))
    }

    /// Slots a streamed insert had no packet for (filled with null packets).
    pub fn underflows(&self) -> u64 {
        self.underflows
    }

    /// The events since the last call.
    pub fn take_events(&mut self) -> Vec<SpliceEvent> {
        std::mem::take(&mut self.events)
    }

    /// The main program's PMT, once seen.
    pub fn main_pmt(&self) -> Option<&Pmt> {
        self.program.pmt()
    }

    fn main_video_pid(&self) -> Option<u16> {
        let pmt = self.program.pmt()?;
        if pmt.streams.iter().any(|s| s.pid == pmt.pcr_pid) {
            return Some(pmt.pcr_pid);
        }
        pmt.streams
            .iter()
            .find(|s| s.stream_type != psi::STREAM_TYPE_SCTE35)
            .map(|s| s.pid)
    }

    fn is_main_psi(&self, pid: u16) -> bool {
        pid == psi::PAT_PID
            || pid == NULL_PID
            || Some(pid) == self.program.pmt_pid()
            || self.program.is_scte35(pid)
    }

    fn learn(&mut self, p: &Packet) {
        let pid = p.pid();
        for cue in self.program.push(p) {
            self.events.push(SpliceEvent::Cue(cue));
        }
        if let (Some(pcr), Some(pmt)) = (p.pcr(), self.program.pmt()) {
            if pid == pmt.pcr_pid {
                if let Some((lp, li)) = self.main_pcr {
                    let step = (pcr + PCR_WRAP - lp) % PCR_WRAP;
                    if !p.discontinuity()
                        && step > 0
                        && step <= super::check::MAX_PCR_STEP
                        && self.in_index > li
                    {
                        self.main_rate = Some(step as f64 / (self.in_index - li) as f64);
                    }
                }
                self.main_pcr = Some((pcr, self.in_index));
            }
        }
    }

    /// The main clock extrapolated to the current input packet.
    fn main_now(&self) -> Option<u64> {
        let (pcr, idx) = self.main_pcr?;
        let rate = self.main_rate.unwrap_or(0.0);
        Some((pcr + (rate * (self.in_index - idx) as f64) as u64) % PCR_WRAP)
    }

    fn start_insert(&mut self, insert: Insert, start: usize) {
        let Some(main) = self.program.pmt().cloned() else {
            self.armed = Some((insert, start));
            return;
        };
        let mut pid_map = HashMap::new();
        let mut used: Vec<u16> = Vec::new();
        let main_es: Vec<_> = main
            .streams
            .iter()
            .filter(|s| s.stream_type != psi::STREAM_TYPE_SCTE35)
            .collect();
        let ins_es: Vec<_> = insert
            .pmt
            .streams
            .iter()
            .filter(|s| s.stream_type != psi::STREAM_TYPE_SCTE35)
            .collect();
        for s in &ins_es {
            if let Some(m) = main_es
                .iter()
                .find(|m| m.stream_type == s.stream_type && !used.contains(&m.pid))
            {
                pid_map.insert(s.pid, m.pid);
                used.push(m.pid);
            }
        }
        for s in &ins_es {
            if pid_map.contains_key(&s.pid) {
                continue;
            }
            if let Some(m) = main_es.iter().find(|m| !used.contains(&m.pid)) {
                pid_map.insert(s.pid, m.pid);
                used.push(m.pid);
            }
        }
        // the timeline offset: insert clock at `start` -> main clock now
        let first_pcr = insert.from(start).iter().enumerate().find_map(|(k, p)| {
            (p.pid() == insert.pmt.pcr_pid)
                .then(|| p.pcr())
                .flatten()
                .map(|v| (k, v))
        });
        let pcr_offset = match (first_pcr, self.main_now()) {
            (Some((k, pcr)), Some(now)) => {
                let rate = insert.pcr_rate().or(self.main_rate).unwrap_or(0.0);
                let at_start = (pcr + PCR_WRAP - ((rate * k as f64) as u64 % PCR_WRAP)) % PCR_WRAP;
                (now + PCR_WRAP - at_start) % PCR_WRAP
            }
            _ => 0,
        };
        tracing::info!(name = %insert.name, start, ?pid_map, pcr_offset, "insert started");
        self.events.push(SpliceEvent::Started {
            name: insert.name.clone(),
            output_packet: self.out_index,
            from: start,
        });
        self.returning = false;
        self.active = Some(Active {
            insert,
            pos: start,
            pid_map,
            pcr_offset,
        });
    }

    /// The next insert packet remapped and retimed, or `None` at its end.
    fn next_insert_packet(&mut self) -> Option<Packet> {
        let a = self.active.as_mut()?;
        let Some(src) = a.insert.get(a.pos) else {
            if !a.insert.complete {
                // the stream is late: hold the slot, keep the timing
                self.underflows += 1;
                return Some(Packet::null());
            }
            let a = self.active.take()?;
            tracing::info!(name = %a.insert.name, "insert finished");
            self.events.push(SpliceEvent::Finished {
                name: a.insert.name,
                output_packet: self.out_index,
                position: a.pos,
            });
            self.returning = true;
            return None;
        };
        a.pos += 1;
        let Some(&to) = a.pid_map.get(&src.pid()) else {
            return Some(Packet::null());
        };
        let mut p = src.clone();
        let _ = p.set_pid(to);
        if let Some(pcr) = p.pcr() {
            let _ = p.set_pcr((pcr + a.pcr_offset) % PCR_WRAP);
        }
        if p.pusi() {
            let _ = pes::shift_timestamps(p.payload_mut(), (a.pcr_offset / 300) % PTS_WRAP);
        }
        Some(p)
    }

    fn stamp_cc(&mut self, p: &mut Packet, main_duplicate: bool) {
        let pid = p.pid();
        if pid == NULL_PID {
            return;
        }
        let cc = match self.out_cc.get(&pid) {
            None => p.cc(),
            Some(&last) if p.has_payload() && !main_duplicate => (last + 1) & 0x0F,
            Some(&last) => last,
        };
        p.set_cc(cc);
        self.out_cc.insert(pid, cc);
    }

    /// Takes one main packet and returns the one output packet for its slot.
    pub fn push(&mut self, main: &[u8]) -> Result<Packet, SpliceError> {
        let p = Packet::parse(main)?;
        self.learn(&p);
        let pid = p.pid();
        let is_video_start = p.pusi() && self.main_video_pid() == Some(pid);
        let ready = self.armed.as_ref().is_some_and(|(i, k)| i.ready_at(*k));
        if is_video_start && self.active.is_none() && ready {
            if let Some((insert, start)) = self.armed.take() {
                self.start_insert(insert, start);
            }
        }
        let dup =
            p.has_payload() && !p.discontinuity() && self.main_last_cc.get(&pid) == Some(&p.cc());
        if p.has_payload() {
            self.main_last_cc.insert(pid, p.cc());
        }
        self.in_index += 1;
        let mut out = if self.is_main_psi(pid) {
            (p, dup)
        } else if self.active.is_some() {
            match self.next_insert_packet() {
                Some(ip) => (ip, false),
                None if is_video_start => {
                    self.returning = false;
                    (p, dup)
                }
                None => (Packet::null(), false),
            }
        } else if self.returning {
            if is_video_start {
                self.returning = false;
                (p, dup)
            } else {
                (Packet::null(), false)
            }
        } else {
            (p, dup)
        };
        if let Some(pcr) = out.0.pcr() {
            if let Some(last) = self.last_out_pcr {
                let step = (pcr + PCR_WRAP - last) % PCR_WRAP;
                if step == 0 || step > super::check::MAX_PCR_STEP {
                    let _ = out.0.set_discontinuity(true);
                }
            }
            self.last_out_pcr = Some(pcr);
        }
        self.stamp_cc(&mut out.0, out.1);
        self.out_index += 1;
        Ok(out.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::gen::{generate, marker, GenParams};
    use crate::packet::packets;
    use std::time::Duration;

    fn ad(name: &str, ms: u64) -> (Vec<u8>, usize) {
        let mut p = GenParams::new(name);
        p.pcr_start = 500 * crate::PCR_HZ; // a timeline far from the main's
        p.video_pid = 0x200;
        p.pmt_pid = 0x300;
        p.stream_type = 0x1B;
        let ts = generate(Duration::from_millis(ms), &p).unwrap();
        let videos = packets(&ts)
            .filter(|k| k.as_ref().is_ok_and(|k| k.pid() == 0x200))
            .count();
        (ts, videos)
    }

    fn run(
        main: &[u8],
        splicer: &mut Splicer,
        arm_at: usize,
        insert: Option<(Insert, usize)>,
    ) -> Vec<u8> {
        let mut insert = insert;
        let mut out = Vec::with_capacity(main.len());
        for (i, c) in main.chunks(PACKET_SIZE).enumerate() {
            if i == arm_at {
                if let Some((ins, k)) = insert.take() {
                    splicer.arm(ins, k).unwrap();
                }
            }
            out.extend_from_slice(splicer.push(c).unwrap().as_bytes());
        }
        out
    }

    fn markers(ts: &[u8]) -> Vec<(String, u32)> {
        packets(ts)
            .filter_map(Result::ok)
            .filter(|p| p.pid() == 0x100)
            .filter_map(|p| marker(p.payload()))
            .map(|m| (m.tag, m.seq))
            .collect()
    }

    #[test]
    fn ts_splice_insert_in_the_middle() {
        let main = generate(Duration::from_secs(6), &GenParams::new("FEED0")).unwrap();
        let (ad_ts, ad_videos) = ad("AD-one", 2000);
        let insert = Insert::new("AD-one", &ad_ts).unwrap();
        let mut s = Splicer::new();
        let arm_at = 1000 * 2; // ~2 s in
        let out = run(&main, &mut s, arm_at, Some((insert, 0)));
        assert_eq!(out.len(), main.len());
        let r = check(&out);
        assert!(r.is_valid(), "{:?}", r.errors());
        assert!(r.pcr_max_gap_ms < 100.0, "{}", r.pcr_max_gap_ms);
        let m = markers(&out);
        // the ad whole and in order
        let ad_seqs: Vec<u32> = m
            .iter()
            .filter(|(t, _)| t == "AD-one")
            .map(|x| x.1)
            .collect();
        assert_eq!(ad_seqs, (0..ad_videos as u32).collect::<Vec<_>>());
        // main before and after, contiguous ad block
        let first_ad = m.iter().position(|(t, _)| t == "AD-one").unwrap();
        let last_ad = m.iter().rposition(|(t, _)| t == "AD-one").unwrap();
        assert_eq!(last_ad - first_ad + 1, ad_videos);
        assert!(m[..first_ad].iter().all(|(t, _)| t == "FEED0"));
        assert!(m[last_ad + 1..].iter().all(|(t, _)| t == "FEED0"));
        assert!(m.len() - last_ad > 1000, "main resumed after the insert");
        // the main's seqs before the insert are contiguous, then jump past the insert's time
        let before: Vec<u32> = m[..first_ad].iter().map(|x| x.1).collect();
        assert!(before.windows(2).all(|w| w[1] == w[0] + 1));
        let ev = s.take_events();
        assert!(matches!(ev[0], SpliceEvent::Started { from: 0, .. }));
        assert!(matches!(ev[1], SpliceEvent::Finished { .. }));
        assert_eq!(s.state(), SpliceState::Main);
        // the insert's first PCR continues the main's clock
        let pcrs: Vec<(u16, u64)> = packets(&out)
            .filter_map(Result::ok)
            .filter_map(|p| p.pcr().map(|v| (p.pid(), v)))
            .collect();
        assert!(pcrs.iter().all(|&(pid, _)| pid == 0x100));
        assert!(pcrs.windows(2).filter(|w| w[1].1 < w[0].1).count() <= 1);
    }

    #[test]
    fn ts_splice_resume_from_offset() {
        let main = generate(Duration::from_secs(4), &GenParams::new("FEED0")).unwrap();
        let (ad_ts, ad_videos) = ad("AD-two", 2000);
        let insert = Insert::new("AD-two", &ad_ts).unwrap();
        // a first splicer plays part of the insert, then "dies"; a second resumes
        let mut s1 = Splicer::new();
        let mut out1 = Vec::new();
        let mut journaled = None;
        for (i, c) in main.chunks(PACKET_SIZE).enumerate().take(1500) {
            if i == 200 {
                s1.arm(insert.clone(), 0).unwrap();
            }
            out1.extend_from_slice(s1.push(c).unwrap().as_bytes());
            journaled = s1.position().or(journaled);
        }
        let k = journaled.unwrap();
        assert!(k > 100 && k < insert.len());
        let seen1: Vec<u32> = markers(&out1)
            .into_iter()
            .filter(|x| x.0 == "AD-two")
            .map(|x| x.1)
            .collect();
        let mut s2 = Splicer::new();
        let out2 = run(&main[1500 * PACKET_SIZE..], &mut s2, 50, Some((insert, k)));
        let r = check(&out2);
        assert!(r.is_valid(), "{:?}", r.errors());
        let seen2: Vec<u32> = markers(&out2)
            .into_iter()
            .filter(|x| x.0 == "AD-two")
            .map(|x| x.1)
            .collect();
        let mut all = seen1.clone();
        all.extend(&seen2);
        assert_eq!(
            all,
            (0..ad_videos as u32).collect::<Vec<_>>(),
            "whole insert across the failover"
        );
        assert!(!seen1.is_empty() && !seen2.is_empty());
    }

    #[test]
    fn ts_splice_streamed_insert_arrives_while_playing() {
        let main = generate(Duration::from_secs(5), &GenParams::new("FEED0")).unwrap();
        let (ad_ts, ad_videos) = ad("AD-s", 1500);
        let whole = Insert::new("AD-s", &ad_ts).unwrap();
        let n = whole.len();
        // the first packets carry the PSI; the stream starts at packet 0
        let psi = &ad_ts[..40 * PACKET_SIZE];
        let mut s = Splicer::new();
        s.arm(Insert::open("AD-s", psi, 0).unwrap(), 0).unwrap();
        assert!(!s.append("other", &ad_ts[..PACKET_SIZE]).unwrap());
        let mut out = Vec::new();
        let mut sent = 0usize;
        for (i, c) in main.chunks(PACKET_SIZE).enumerate() {
            // packets arrive in bursts of 70, with a stall of 300 slots at 600
            if i % 50 == 0 && sent < n && !(600..900).contains(&i) {
                let to = (sent + 70).min(n);
                assert!(s
                    .append("AD-s", &ad_ts[sent * PACKET_SIZE..to * PACKET_SIZE])
                    .unwrap());
                sent = to;
                if sent == n {
                    assert!(s.finish("AD-s"));
                }
            }
            out.extend_from_slice(s.push(c).unwrap().as_bytes());
        }
        assert_eq!(sent, n);
        assert!(
            s.underflows() > 0,
            "the stall was bridged with null packets"
        );
        let r = check(&out);
        assert!(r.is_valid(), "{:?}", r.errors());
        let ad_seqs: Vec<u32> = markers(&out)
            .into_iter()
            .filter(|x| x.0 == "AD-s")
            .map(|x| x.1)
            .collect();
        assert_eq!(ad_seqs, (0..ad_videos as u32).collect::<Vec<_>>());
        assert_eq!(s.state(), SpliceState::Main);
        // a streamed insert resumed at packet k starts there
        let mut s = Splicer::new();
        let k = n / 2;
        let mut ins = Insert::open("AD-r", psi, k).unwrap();
        assert!(matches!(
            s.arm(ins.clone(), k - 1),
            Err(SpliceError::Start { .. })
        ));
        ins.append(&ad_ts[k * PACKET_SIZE..]).unwrap();
        ins.finish();
        s.arm(ins, k).unwrap();
        let out = run(&main[..2 * PACKET_SIZE * 1000], &mut s, usize::MAX, None);
        let seqs: Vec<u32> = markers(&out)
            .into_iter()
            .filter(|x| x.0 == "AD-s")
            .map(|x| x.1)
            .collect();
        assert_eq!(seqs.last().copied(), Some(ad_videos as u32 - 1));
        assert!(seqs.len() < ad_videos && seqs.len() > ad_videos / 3);
        assert!(check(&out).is_valid());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn ts_splice_any_point_any_offset(arm_at in 0usize..1200, k_frac in 0.0f64..0.95) {
            let main = generate(Duration::from_millis(2500), &GenParams::new("FEED0")).unwrap();
            let (ad_ts, ad_videos) = ad("AD-p", 600);
            let insert = Insert::new("AD-p", &ad_ts).unwrap();
            let k = (insert.len() as f64 * k_frac) as usize;
            let mut s = Splicer::new();
            let out = run(&main, &mut s, arm_at, Some((insert, k)));
            let r = check(&out);
            proptest::prop_assert!(r.is_valid(), "{:?}", r.errors());
            let m = markers(&out);
            let ad_seqs: Vec<u32> = m.iter().filter(|(t, _)| t == "AD-p").map(|x| x.1).collect();
            // a contiguous run of the insert's video packets up to its last one
            proptest::prop_assert!(!ad_seqs.is_empty());
            proptest::prop_assert!(ad_seqs.windows(2).all(|w| w[1] == w[0] + 1));
            proptest::prop_assert_eq!(ad_seqs.last().copied(), Some(ad_videos as u32 - 1));
            if k == 0 {
                proptest::prop_assert_eq!(ad_seqs[0], 0);
            }
            let first = m.iter().position(|(t, _)| t == "AD-p").unwrap();
            let last = m.iter().rposition(|(t, _)| t == "AD-p").unwrap();
            proptest::prop_assert_eq!(last - first + 1, ad_seqs.len());
            proptest::prop_assert!(m[last + 1..].iter().all(|(t, _)| t == "FEED0"));
        }
    }

    #[test]
    fn ts_splice_errors_and_cues() {
        assert!(matches!(
            Insert::new("x", &[0x47; 10]),
            Err(SpliceError::InsertPacket { .. })
        ));
        let nulls: Vec<u8> = (0..10).flat_map(|_| *Packet::null().as_bytes()).collect();
        assert_eq!(
            Insert::new("x", &nulls).unwrap_err(),
            SpliceError::InsertPsi("PAT")
        );
        let (ad_ts, _) = ad("AD", 200);
        let insert = Insert::new("AD", &ad_ts).unwrap();
        let mut s = Splicer::new();
        assert!(matches!(
            s.arm(insert.clone(), insert.len()),
            Err(SpliceError::Start { .. })
        ));
        assert!(s.push(&[0u8; 188]).is_err());
        // a cue on the main is reported
        let mut p = GenParams::new("FEED0");
        p.cues.push(crate::gen::Cue {
            at: Duration::from_millis(300),
            preroll: Duration::from_secs(1),
            event_id: 9,
            out_of_network: true,
            break_duration: None,
        });
        let main = generate(Duration::from_secs(1), &p).unwrap();
        let _ = run(&main, &mut s, usize::MAX, None);
        let ev = s.take_events();
        assert!(ev
            .iter()
            .any(|e| matches!(e, SpliceEvent::Cue(c) if c.splice_event_id == 9)));
    }
}
