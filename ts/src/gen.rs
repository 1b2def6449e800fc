//! A generator of valid synthetic constant-bitrate TS: one program with a PAT
//! and PMT every `psi_interval`, one "video" PID carrying PES frames with PTS
//! and the PCR, an SCTE-35 PID declared in the PMT (stream_type 0x86) with
//! optional `splice_insert` cues at chosen times.
//!
//! Invariants of the output:
//! - exactly one packet per slot of `188 * 8 / bitrate` seconds (CBR): packet
//!   `i` has the nominal time `i * 1504 / bitrate` s and PCR `pcr_start + that`
//!   in 27 MHz units (every frame's first packet carries the PCR, so PCRs are
//!   at most one frame apart, well under 100 ms at >= 11 fps);
//! - CCs run continuously per PID; the PAT and PMT come first;
//! - every video packet's payload holds a marker `SCTS|<tag>|<seq:08>|`
//!   where `seq` counts that stream's video packets from 0 ([`marker`]
//!   finds it), so a capture tells which source each packet came from and
//!   whether a stream played whole and in order;
//! - frame `k` has PTS `pcr_start / 300 + PTS_DELAY + k * 90000 / fps`.

use super::packet::{Packet, PacketBuilder, PacketError, NULL_PID};
use super::pes::{Pes, STREAM_ID_VIDEO};
use super::psi::{self, Pat, PatEntry, Pmt, PmtStream, PsiError, SpliceInfo, SpliceInsert};
use super::{PACKET_SIZE, PCR_HZ, PTS_HZ};
use std::collections::VecDeque;
use std::time::Duration;
use thiserror::Error;

/// Presentation delay of frame PTS over the PCR of its first packet: 200 ms.
pub const PTS_DELAY: u64 = PTS_HZ / 5;
/// The marker's magic prefix.
pub const MARKER_MAGIC: &[u8] = b"SCTS|";

/// Why parameters cannot generate a stream.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GenError {
    #[error("invalid parameters: {0}")]
    Params(String),
    #[error(transparent)]
    Packet(#[from] PacketError),
    #[error(transparent)]
    Psi(#[from] PsiError),
}

/// An SCTE-35 `splice_insert` cue sent at `at` for a splice `preroll` later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// Stream time at which the cue section is sent.
    pub at: Duration,
    /// The splice point is `at + preroll` (its PTS goes into splice_time).
    pub preroll: Duration,
    pub event_id: u32,
    pub out_of_network: bool,
    pub break_duration: Option<Duration>,
}

/// Generator parameters. [`GenParams::new`] gives sensible defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenParams {
    /// The source tag written into every video packet's marker (ASCII, no `|`).
    pub tag: String,
    /// Bits per second of the whole TS.
    pub bitrate: u64,
    pub fps: u32,
    pub transport_stream_id: u16,
    pub program_number: u16,
    pub pmt_pid: u16,
    pub video_pid: u16,
    /// stream_type of the video PID (0x1B H.264 or 0x06 private PES).
    pub stream_type: u8,
    pub scte35_pid: Option<u16>,
    /// The first PCR (27 MHz).
    pub pcr_start: u64,
    pub psi_interval: Duration,
    pub cues: Vec<Cue>,
}

impl GenParams {
    /// 1.5 Mbit/s, 25 fps, PMT on 0x1000, video on 0x100 (stream_type 0x06,
    /// private PES: the payload is synthetic, so tools like ffprobe must not try
    /// to decode it as H.264; set 0x1B to pose as H.264),
    /// SCTE-35 on 0x1F0, PAT/PMT every 100 ms, PCR starting at 1 s.
    pub fn new(tag: &str) -> Self {
        GenParams {
            tag: tag.to_owned(),
            bitrate: 1_500_000,
            fps: 25,
            transport_stream_id: 1,
            program_number: 1,
            pmt_pid: 0x1000,
            video_pid: 0x100,
            stream_type: psi::STREAM_TYPE_PRIVATE_PES,
            scte35_pid: Some(0x1F0),
            pcr_start: PCR_HZ,
            psi_interval: Duration::from_millis(100),
            cues: Vec::new(),
        }
    }

    /// The PAT this stream sends.
    pub fn pat(&self) -> Pat {
        Pat {
            transport_stream_id: self.transport_stream_id,
            version: 0,
            programs: vec![PatEntry {
                program_number: self.program_number,
                pid: self.pmt_pid,
            }],
        }
    }

    /// The PMT this stream sends.
    pub fn pmt(&self) -> Pmt {
        let mut streams = vec![PmtStream {
            stream_type: self.stream_type,
            pid: self.video_pid,
            descriptors: Vec::new(),
        }];
        let mut program_info = Vec::new();
        if let Some(pid) = self.scte35_pid {
            program_info.extend_from_slice(&psi::CUEI_DESCRIPTOR);
            streams.push(PmtStream {
                stream_type: psi::STREAM_TYPE_SCTE35,
                pid,
                descriptors: Vec::new(),
            });
        }
        Pmt {
            program_number: self.program_number,
            version: 0,
            pcr_pid: self.video_pid,
            program_info,
            streams,
        }
    }

    /// The PTS (90 kHz) of stream time `t` on this stream's timeline.
    pub fn pts_at(&self, t: Duration) -> u64 {
        (self.pcr_start / 300
            + PTS_DELAY
            + (t.as_nanos() * u128::from(PTS_HZ) / 1_000_000_000) as u64)
            % super::PTS_WRAP
    }

    /// Packets per second (may be fractional; this is the rounded-down value).
    pub fn packets_per_second(&self) -> u64 {
        self.bitrate / (PACKET_SIZE as u64 * 8)
    }

    fn validate(&self) -> Result<(), GenError> {
        let bad = |m: &str| Err(GenError::Params(m.to_owned()));
        if self.bitrate < 100_000 || self.bitrate > 1_000_000_000 {
            return bad("bitrate must be 100 kbit/s ..= 1 Gbit/s");
        }
        if self.fps == 0 || self.fps > 120 {
            return bad("fps must be 1..=120");
        }
        if self.tag.is_empty()
            || self.tag.len() > 64
            || self.tag.bytes().any(|b| b == b'|' || !b.is_ascii_graphic())
        {
            return bad("tag must be 1..=64 printable ASCII characters without '|'");
        }
        let mut pids = vec![self.pmt_pid, self.video_pid];
        pids.extend(self.scte35_pid);
        if pids.iter().any(|p| !(0x10..NULL_PID).contains(p)) {
            return bad("PIDs must be in 0x10..0x1FFF");
        }
        pids.sort_unstable();
        pids.dedup();
        if pids.len() != 2 + usize::from(self.scte35_pid.is_some()) {
            return bad("PIDs must differ");
        }
        if !self.cues.is_empty() && self.scte35_pid.is_none() {
            return bad("cues need an scte35_pid");
        }
        if self.psi_interval.is_zero() {
            return bad("psi_interval must be > 0");
        }
        Ok(())
    }
}

/// A marker found in a video packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Marker {
    pub tag: String,
    pub seq: u32,
}

fn marker_record(tag: &str, seq: u32) -> Vec<u8> {
    format!("SCTS|{tag}|{seq:08}|").into_bytes()
}

/// Finds the first marker in a packet payload.
pub fn marker(payload: &[u8]) -> Option<Marker> {
    let start = payload
        .windows(MARKER_MAGIC.len())
        .position(|w| w == MARKER_MAGIC)?
        + MARKER_MAGIC.len();
    let rest = payload.get(start..)?;
    let bar = rest.iter().position(|&b| b == b'|')?;
    let tag = std::str::from_utf8(&rest[..bar]).ok()?.to_owned();
    let digits = rest.get(bar + 1..bar + 9)?;
    if rest.get(bar + 9) != Some(&b'|') {
        return None;
    }
    let seq = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(Marker { tag, seq })
}

/// An endless packet source; [`generate`] takes a prefix of it.
#[derive(Debug)]
pub struct Generator {
    params: GenParams,
    slot: u64,
    next_psi: u64,
    frame: u64,
    frame_pending: bool,
    video_seq: u32,
    cc_pat: u8,
    cc_pmt: u8,
    cc_video: u8,
    cc_scte: u8,
    cues_sent: usize,
    queue: VecDeque<Packet>,
    pat: Vec<u8>,
    pmt: Vec<u8>,
}

impl Generator {
    /// Checks the parameters and readies the PSI sections.
    pub fn new(params: GenParams) -> Result<Self, GenError> {
        params.validate()?;
        let pat = params.pat().to_section()?;
        let pmt = params.pmt().to_section()?;
        let mut params = params;
        params.cues.sort_by_key(|c| c.at);
        Ok(Generator {
            params,
            slot: 0,
            next_psi: 0,
            frame: 0,
            frame_pending: true,
            video_seq: 0,
            cc_pat: 0,
            cc_pmt: 0,
            cc_video: 0,
            cc_scte: 0,
            cues_sent: 0,
            queue: VecDeque::new(),
            pat,
            pmt,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &GenParams {
        &self.params
    }

    /// Nanoseconds of stream time at slot `i`.
    fn slot_ns(&self, i: u64) -> u128 {
        u128::from(i) * 1504 * 1_000_000_000 / u128::from(self.params.bitrate)
    }

    /// The number of slots in `d` of stream time (rounded up).
    pub fn slots_in(&self, d: Duration) -> u64 {
        let bits = d.as_nanos() * u128::from(self.params.bitrate);
        bits.div_ceil(1504 * 1_000_000_000) as u64
    }

    /// The next packet.
    pub fn next_packet(&mut self) -> Result<Packet, GenError> {
        let i = self.slot;
        self.slot += 1;
        let t_ns = self.slot_ns(i);
        let p = &self.params;
        let psi_ns = p.psi_interval.as_nanos();
        if t_ns >= u128::from(self.next_psi) * psi_ns {
            self.next_psi = (t_ns / psi_ns) as u64 + 1;
            let pat = psi::section_packets(psi::PAT_PID, &self.pat, &mut self.cc_pat)?;
            let pmt = psi::section_packets(p.pmt_pid, &self.pmt, &mut self.cc_pmt)?;
            self.queue.extend(pat);
            self.queue.extend(pmt);
        }
        while let Some(cue) = p.cues.get(self.cues_sent) {
            if t_ns < cue.at.as_nanos() {
                break;
            }
            let info = SpliceInfo::insert(SpliceInsert {
                splice_event_id: cue.event_id,
                cancel: false,
                out_of_network: cue.out_of_network,
                splice_time: Some(p.pts_at(cue.at + cue.preroll)),
                break_duration: cue.break_duration.map(|d| {
                    (
                        true,
                        (d.as_nanos() * u128::from(PTS_HZ) / 1_000_000_000) as u64,
                    )
                }),
                unique_program_id: p.program_number,
                avail_num: 0,
                avails_expected: 0,
            });
            let pid = p.scte35_pid.unwrap_or(NULL_PID);
            let pkts = psi::section_packets(pid, &info.to_section()?, &mut self.cc_scte)?;
            self.queue.extend(pkts);
            self.cues_sent += 1;
        }
        let frame_ns = (u128::from(self.frame) + 1) * 1_000_000_000 / u128::from(p.fps);
        if t_ns >= frame_ns {
            self.frame = (t_ns * u128::from(p.fps) / 1_000_000_000) as u64;
            self.frame_pending = true;
        }
        if let Some(pkt) = self.queue.pop_front() {
            return Ok(pkt);
        }
        let record = marker_record(&p.tag, self.video_seq);
        self.video_seq = self.video_seq.wrapping_add(1);
        let pkt = if self.frame_pending {
            self.frame_pending = false;
            let pcr = p.pcr_start
                + (u128::from(i) * 1504 * u128::from(PCR_HZ) / u128::from(p.bitrate)) as u64;
            let pts = (p.pcr_start / 300 + PTS_DELAY + self.frame * PTS_HZ / u64::from(p.fps))
                % super::PTS_WRAP;
            let mut bytes = Pes {
                stream_id: STREAM_ID_VIDEO,
                pts: Some(pts),
                dts: None,
                data_alignment: true,
                payload: Vec::new(),
            }
            .to_bytes();
            bytes[4] = 0; // PES_packet_length 0: unbounded video PES
            bytes[5] = 0;
            bytes.extend_from_slice(&record);
            let b = PacketBuilder {
                pid: p.video_pid,
                pusi: true,
                cc: self.cc_video,
                pcr: Some(pcr % super::PCR_WRAP),
                discontinuity: false,
                random_access: true,
            };
            bytes.resize(b.capacity(), b'.');
            b.build(&bytes)?.0
        } else {
            let b = PacketBuilder::new(p.video_pid, self.cc_video);
            let mut bytes = record;
            bytes.resize(b.capacity(), b'.');
            b.build(&bytes)?.0
        };
        self.cc_video = (self.cc_video + 1) & 0x0F;
        Ok(pkt)
    }
}

/// `duration` of synthetic TS (rounded up to whole packets).
pub fn generate(duration: Duration, params: &GenParams) -> Result<Vec<u8>, GenError> {
    let mut g = Generator::new(params.clone())?;
    let n = g.slots_in(duration);
    let mut out = Vec::with_capacity(n as usize * PACKET_SIZE);
    for _ in 0..n {
        out.extend_from_slice(g.next_packet()?.as_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::packets;

    #[test]
    fn ts_gen_markers_and_rate() {
        let p = GenParams::new("FEED0");
        let ts = generate(Duration::from_secs(2), &p).unwrap();
        let n = ts.len() / PACKET_SIZE;
        assert_eq!(ts.len() % PACKET_SIZE, 0);
        // 2 s at 1.5 Mbit/s = 1994.7 packets
        assert_eq!(n, 1995);
        let pkts: Vec<Packet> = packets(&ts).map(Result::unwrap).collect();
        assert_eq!(pkts[0].pid(), 0);
        assert_eq!(pkts[1].pid(), 0x1000);
        let seqs: Vec<u32> = pkts
            .iter()
            .filter(|k| k.pid() == 0x100)
            .map(|k| marker(k.payload()).unwrap())
            .map(|m| {
                assert_eq!(m.tag, "FEED0");
                m.seq
            })
            .collect();
        assert!(seqs.iter().enumerate().all(|(i, &s)| s as usize == i));
        let pcrs: Vec<u64> = pkts.iter().filter_map(Packet::pcr).collect();
        assert_eq!(pcrs.len(), 50);
        // the first PCR rides the first video packet, after the PAT and PMT
        assert_eq!(pcrs[0], PCR_HZ + 2 * 1504 * PCR_HZ / 1_500_000);
        assert!(pcrs
            .windows(2)
            .all(|w| w[1] > w[0] && w[1] - w[0] < PCR_HZ / 10));
    }

    #[test]
    fn ts_gen_rejects_bad_params() {
        let mut p = GenParams::new("a|b");
        assert!(Generator::new(p.clone()).is_err());
        p.tag = "ok".into();
        p.video_pid = p.pmt_pid;
        assert!(Generator::new(p).is_err());
    }

    #[test]
    fn ts_marker_parse() {
        assert_eq!(
            marker(b"xxSCTS|AD-x|00000012|...."),
            Some(Marker {
                tag: "AD-x".into(),
                seq: 12
            })
        );
        assert_eq!(marker(b"SCTS|AD-x|0000001"), None);
        assert_eq!(marker(b"SCTS|"), None);
    }
}
