//! PSI sections: PAT, PMT and the SCTE-35 `splice_info_section` carrying a
//! `splice_insert`; their packetization into TS packets and reassembly.
//!
//! Invariants:
//! - every section built here ends with a correct CRC-32/MPEG-2, and every
//!   parse checks it ([`PsiError::Crc`]);
//! - parsing checks lengths before every read and never panics;
//! - SCTE-35 subset: `splice_insert` (command type 0x05) with
//!   `program_splice_flag = 1` only (component splices are rejected as
//!   [`PsiError::Unsupported`]), optional `splice_time` PTS (absent means
//!   `splice_immediate_flag`), optional `break_duration`; other commands parse
//!   as [`SpliceCommand::Other`]. Unencrypted sections only. The SCTE-35 PID
//!   is declared in the PMT with stream_type 0x86 and the program carries the
//!   "CUEI" registration descriptor.

use super::crc::crc32_mpeg2;
use super::packet::{Packet, PacketBuilder, PacketError};
use thiserror::Error;

/// The PAT's PID.
pub const PAT_PID: u16 = 0x0000;
/// stream_type of SCTE-35 cues in a PMT.
pub const STREAM_TYPE_SCTE35: u8 = 0x86;
/// stream_type of H.264 video.
pub const STREAM_TYPE_H264: u8 = 0x1B;
/// stream_type of private PES data.
pub const STREAM_TYPE_PRIVATE_PES: u8 = 0x06;

/// Why a section does not parse.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PsiError {
    #[error("section truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("unexpected table_id 0x{got:02x} (want 0x{want:02x})")]
    TableId { got: u8, want: u8 },
    #[error("CRC-32 mismatch")]
    Crc,
    #[error("malformed section: {0}")]
    Malformed(&'static str),
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    #[error("section too long ({0} bytes)")]
    TooLong(usize),
    #[error(transparent)]
    Packet(#[from] PacketError),
}

fn need(buf: &[u8], n: usize) -> Result<(), PsiError> {
    if buf.len() < n {
        Err(PsiError::Truncated {
            need: n,
            have: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// The total length of the section starting at `buf[0]` (3 + section_length).
pub fn section_len(buf: &[u8]) -> Result<usize, PsiError> {
    need(buf, 3)?;
    Ok(3 + ((usize::from(buf[1] & 0x0F) << 8) | usize::from(buf[2])))
}

/// Checks the CRC of a whole section (header through CRC) and returns it trimmed to its length.
fn checked(buf: &[u8]) -> Result<&[u8], PsiError> {
    let len = section_len(buf)?;
    need(buf, len)?;
    if len < 7 {
        return Err(PsiError::Malformed("section shorter than its CRC"));
    }
    let s = &buf[..len];
    if crc32_mpeg2(s) != 0 {
        return Err(PsiError::Crc);
    }
    Ok(s)
}

/// Wraps a long-form body (after the 5-byte extension header) into a section with CRC.
fn long_section(table_id: u8, ext: u16, version: u8, body: &[u8]) -> Result<Vec<u8>, PsiError> {
    let section_length = 5 + body.len() + 4;
    if section_length > 1021 {
        return Err(PsiError::TooLong(section_length + 3));
    }
    let mut s = Vec::with_capacity(section_length + 3);
    s.push(table_id);
    s.push(0xB0 | (section_length >> 8) as u8);
    s.push(section_length as u8);
    s.extend_from_slice(&ext.to_be_bytes());
    s.push(0xC1 | ((version & 0x1F) << 1));
    s.push(0); // section_number
    s.push(0); // last_section_number
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    Ok(s)
}

/// Returns (table_id_extension, version, body between header and CRC).
fn parse_long(buf: &[u8], want: u8) -> Result<(u16, u8, &[u8]), PsiError> {
    need(buf, 1)?;
    if buf[0] != want {
        return Err(PsiError::TableId { got: buf[0], want });
    }
    let s = checked(buf)?;
    if s.len() < 12 {
        return Err(PsiError::Malformed("long section shorter than 12 bytes"));
    }
    if s[1] & 0x80 == 0 {
        return Err(PsiError::Malformed("section_syntax_indicator is 0"));
    }
    let ext = u16::from_be_bytes([s[3], s[4]]);
    let version = (s[5] >> 1) & 0x1F;
    Ok((ext, version, &s[8..s.len() - 4]))
}

/// One PAT entry: program 0 names the network PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatEntry {
    pub program_number: u16,
    pub pid: u16,
}

/// The program association table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pat {
    pub transport_stream_id: u16,
    pub version: u8,
    pub programs: Vec<PatEntry>,
}

impl Pat {
    /// The section bytes (with CRC).
    pub fn to_section(&self) -> Result<Vec<u8>, PsiError> {
        let mut body = Vec::with_capacity(self.programs.len() * 4);
        for e in &self.programs {
            body.extend_from_slice(&e.program_number.to_be_bytes());
            body.extend_from_slice(&(0xE000 | (e.pid & 0x1FFF)).to_be_bytes());
        }
        long_section(0x00, self.transport_stream_id, self.version, &body)
    }

    /// Parses a PAT section.
    pub fn parse(buf: &[u8]) -> Result<Pat, PsiError> {
        let (ext, version, body) = parse_long(buf, 0x00)?;
        if body.len() % 4 != 0 {
            return Err(PsiError::Malformed("PAT body is not whole entries"));
        }
        let programs = body
            .chunks_exact(4)
            .map(|c| PatEntry {
                program_number: u16::from_be_bytes([c[0], c[1]]),
                pid: u16::from_be_bytes([c[2], c[3]]) & 0x1FFF,
            })
            .collect();
        Ok(Pat {
            transport_stream_id: ext,
            version,
            programs,
        })
    }
}

/// One elementary stream of a PMT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmtStream {
    pub stream_type: u8,
    pub pid: u16,
    pub descriptors: Vec<u8>,
}

/// The program map table of one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pmt {
    pub program_number: u16,
    pub version: u8,
    pub pcr_pid: u16,
    pub program_info: Vec<u8>,
    pub streams: Vec<PmtStream>,
}

/// The registration descriptor "CUEI" that announces SCTE-35 in a program.
pub const CUEI_DESCRIPTOR: [u8; 6] = [0x05, 0x04, b'C', b'U', b'E', b'I'];

impl Pmt {
    /// The section bytes (with CRC).
    pub fn to_section(&self) -> Result<Vec<u8>, PsiError> {
        let mut body = Vec::new();
        body.extend_from_slice(&(0xE000 | (self.pcr_pid & 0x1FFF)).to_be_bytes());
        if self.program_info.len() > 0x3FF {
            return Err(PsiError::TooLong(self.program_info.len()));
        }
        body.extend_from_slice(&(0xF000 | self.program_info.len() as u16).to_be_bytes());
        body.extend_from_slice(&self.program_info);
        for s in &self.streams {
            if s.descriptors.len() > 0x3FF {
                return Err(PsiError::TooLong(s.descriptors.len()));
            }
            body.push(s.stream_type);
            body.extend_from_slice(&(0xE000 | (s.pid & 0x1FFF)).to_be_bytes());
            body.extend_from_slice(&(0xF000 | s.descriptors.len() as u16).to_be_bytes());
            body.extend_from_slice(&s.descriptors);
        }
        long_section(0x02, self.program_number, self.version, &body)
    }

    /// Parses a PMT section.
    pub fn parse(buf: &[u8]) -> Result<Pmt, PsiError> {
        let (ext, version, body) = parse_long(buf, 0x02)?;
        need(body, 4)?;
        let pcr_pid = u16::from_be_bytes([body[0], body[1]]) & 0x1FFF;
        let pil = usize::from(u16::from_be_bytes([body[2], body[3]]) & 0x0FFF);
        need(body, 4 + pil)?;
        let program_info = body[4..4 + pil].to_vec();
        let mut rest = &body[4 + pil..];
        let mut streams = Vec::new();
        while !rest.is_empty() {
            need(rest, 5)?;
            let stream_type = rest[0];
            let pid = u16::from_be_bytes([rest[1], rest[2]]) & 0x1FFF;
            let eil = usize::from(u16::from_be_bytes([rest[3], rest[4]]) & 0x0FFF);
            need(rest, 5 + eil)?;
            streams.push(PmtStream {
                stream_type,
                pid,
                descriptors: rest[5..5 + eil].to_vec(),
            });
            rest = &rest[5 + eil..];
        }
        Ok(Pmt {
            program_number: ext,
            version,
            pcr_pid,
            program_info,
            streams,
        })
    }

    /// The PID of the first stream of `stream_type`, if any.
    pub fn pid_of(&self, stream_type: u8) -> Option<u16> {
        self.streams
            .iter()
            .find(|s| s.stream_type == stream_type)
            .map(|s| s.pid)
    }
}

/// A `splice_insert` command (program splice mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpliceInsert {
    pub splice_event_id: u32,
    pub cancel: bool,
    pub out_of_network: bool,
    /// The splice point's PTS (90 kHz, 33 bits); `None` means splice immediately.
    pub splice_time: Option<u64>,
    /// break_duration (90 kHz) and its auto_return flag.
    pub break_duration: Option<(bool, u64)>,
    pub unique_program_id: u16,
    pub avail_num: u8,
    pub avails_expected: u8,
}

/// The command of a `splice_info_section`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpliceCommand {
    Insert(SpliceInsert),
    /// Any other command: its type and raw bytes.
    Other {
        command_type: u8,
        bytes: Vec<u8>,
    },
}

/// An SCTE-35 `splice_info_section` (unencrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpliceInfo {
    pub pts_adjustment: u64,
    pub tier: u16,
    pub command: SpliceCommand,
    /// The raw splice_descriptor loop.
    pub descriptors: Vec<u8>,
}

fn put_pts33(out: &mut Vec<u8>, prefix: u8, pts: u64) {
    // prefix occupies the 7 high bits of the first byte (bit 0 is PTS bit 32)
    let pts = pts % super::PTS_WRAP;
    out.push(prefix | ((pts >> 32) as u8 & 0x01));
    out.extend_from_slice(&(pts as u32).to_be_bytes());
}

fn get_pts33(b: &[u8]) -> u64 {
    (u64::from(b[0] & 0x01) << 32) | u64::from(u32::from_be_bytes([b[1], b[2], b[3], b[4]]))
}

impl SpliceInsert {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.splice_event_id.to_be_bytes());
        out.push(if self.cancel { 0xFF } else { 0x7F });
        if !self.cancel {
            let flags = (if self.out_of_network { 0x80 } else { 0 })
                | 0x40 // program_splice_flag
                | (if self.break_duration.is_some() { 0x20 } else { 0 })
                | (if self.splice_time.is_none() { 0x10 } else { 0 })
                | 0x0F;
            out.push(flags);
            if let Some(pts) = self.splice_time {
                put_pts33(out, 0xFE, pts); // time_specified_flag 1 + reserved
            }
            if let Some((auto_return, d)) = self.break_duration {
                put_pts33(out, if auto_return { 0xFE } else { 0x7E }, d);
            }
            out.extend_from_slice(&self.unique_program_id.to_be_bytes());
            out.push(self.avail_num);
            out.push(self.avails_expected);
        }
    }

    fn decode(b: &[u8]) -> Result<SpliceInsert, PsiError> {
        need(b, 5)?;
        let splice_event_id = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let cancel = b[4] & 0x80 != 0;
        let mut s = SpliceInsert {
            splice_event_id,
            cancel,
            out_of_network: false,
            splice_time: None,
            break_duration: None,
            unique_program_id: 0,
            avail_num: 0,
            avails_expected: 0,
        };
        if cancel {
            return Ok(s);
        }
        need(b, 6)?;
        let flags = b[5];
        s.out_of_network = flags & 0x80 != 0;
        let program = flags & 0x40 != 0;
        let duration = flags & 0x20 != 0;
        let immediate = flags & 0x10 != 0;
        if !program {
            return Err(PsiError::Unsupported("component splice_insert"));
        }
        let mut i = 6;
        if !immediate {
            need(b, i + 1)?;
            if b[i] & 0x80 != 0 {
                need(b, i + 5)?;
                s.splice_time = Some(get_pts33(&b[i..i + 5]));
                i += 5;
            } else {
                i += 1;
            }
        }
        if duration {
            need(b, i + 5)?;
            s.break_duration = Some((b[i] & 0x80 != 0, get_pts33(&b[i..i + 5])));
            i += 5;
        }
        need(b, i + 4)?;
        s.unique_program_id = u16::from_be_bytes([b[i], b[i + 1]]);
        s.avail_num = b[i + 2];
        s.avails_expected = b[i + 3];
        Ok(s)
    }
}

impl SpliceInfo {
    /// A section carrying `insert` with no descriptors.
    pub fn insert(insert: SpliceInsert) -> SpliceInfo {
        SpliceInfo {
            pts_adjustment: 0,
            tier: 0xFFF,
            command: SpliceCommand::Insert(insert),
            descriptors: Vec::new(),
        }
    }

    /// The section bytes (table_id 0xFC, with CRC).
    pub fn to_section(&self) -> Result<Vec<u8>, PsiError> {
        let mut cmd = Vec::new();
        let cmd_type = match &self.command {
            SpliceCommand::Insert(i) => {
                i.encode(&mut cmd);
                0x05
            }
            SpliceCommand::Other {
                command_type,
                bytes,
            } => {
                cmd.extend_from_slice(bytes);
                *command_type
            }
        };
        if cmd.len() > 0xFFF || self.descriptors.len() > 0xFFFF {
            return Err(PsiError::TooLong(cmd.len()));
        }
        let mut s = vec![0xFC, 0, 0, 0]; // table_id, lengths later, protocol_version 0
        put_pts33(&mut s, 0x00, self.pts_adjustment); // encrypted 0, algorithm 0
        s.push(0); // cw_index
        let tier = self.tier & 0x0FFF;
        let cl = cmd.len() as u16;
        s.push((tier >> 4) as u8);
        s.push(((tier as u8) << 4) | ((cl >> 8) as u8 & 0x0F));
        s.push(cl as u8);
        s.push(cmd_type);
        s.extend_from_slice(&cmd);
        s.extend_from_slice(&(self.descriptors.len() as u16).to_be_bytes());
        s.extend_from_slice(&self.descriptors);
        let section_length = s.len() - 3 + 4;
        if section_length > 4093 {
            return Err(PsiError::TooLong(section_length + 3));
        }
        s[1] = 0x30 | (section_length >> 8) as u8; // syntax 0, private 0, sap_type 11
        s[2] = section_length as u8;
        let crc = crc32_mpeg2(&s);
        s.extend_from_slice(&crc.to_be_bytes());
        Ok(s)
    }

    /// Parses a `splice_info_section`.
    pub fn parse(buf: &[u8]) -> Result<SpliceInfo, PsiError> {
        need(buf, 1)?;
        if buf[0] != 0xFC {
            return Err(PsiError::TableId {
                got: buf[0],
                want: 0xFC,
            });
        }
        let s = checked(buf)?;
        need(s, 14 + 4)?;
        if s[4] & 0x80 != 0 {
            return Err(PsiError::Unsupported("encrypted splice_info_section"));
        }
        let pts_adjustment = get_pts33(&s[4..9]);
        let tier = (u16::from(s[10]) << 4) | u16::from(s[11] >> 4);
        let cl = (usize::from(s[11] & 0x0F) << 8) | usize::from(s[12]);
        let cmd_type = s[13];
        let end = s.len() - 4;
        let body = &s[14..end];
        let (cmd_bytes, rest) = if cl == 0xFFF {
            // legacy "unknown length": only splice_insert can be decoded then
            (body, &body[body.len()..])
        } else {
            need(body, cl)?;
            body.split_at(cl)
        };
        let command = match cmd_type {
            0x05 => SpliceCommand::Insert(SpliceInsert::decode(cmd_bytes)?),
            t => SpliceCommand::Other {
                command_type: t,
                bytes: cmd_bytes.to_vec(),
            },
        };
        let descriptors = if rest.len() >= 2 {
            let dl = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            need(&rest[2..], dl)?;
            rest[2..2 + dl].to_vec()
        } else {
            Vec::new()
        };
        Ok(SpliceInfo {
            pts_adjustment,
            tier,
            command,
            descriptors,
        })
    }
}

/// Packetizes one section onto `pid`: a PUSI packet with pointer_field 0, then
/// continuation packets, the last padded with 0xFF. `cc` is the next CC to use
/// and is advanced past the packets produced.
pub fn section_packets(pid: u16, section: &[u8], cc: &mut u8) -> Result<Vec<Packet>, PsiError> {
    let mut data = Vec::with_capacity(section.len() + 1);
    data.push(0); // pointer_field
    data.extend_from_slice(section);
    let mut out = Vec::new();
    let mut off = 0;
    while off < data.len() || out.is_empty() {
        let mut chunk = [0xFFu8; 184];
        let n = (data.len() - off).min(184);
        chunk[..n].copy_from_slice(&data[off..off + n]);
        let b = PacketBuilder {
            pid,
            pusi: off == 0,
            cc: *cc,
            ..Default::default()
        };
        let (p, _) = b.build(&chunk)?;
        out.push(p);
        *cc = (*cc + 1) & 0x0F;
        off += n;
    }
    Ok(out)
}

/// Reassembles sections on one PID from its packets' payloads.
#[derive(Debug, Default, Clone)]
pub struct SectionAssembler {
    buf: Vec<u8>,
    active: bool,
}

impl SectionAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one packet of the PID; returns the whole sections it completed.
    /// A packet lost mid-section drops that section (the caller sees a CC error).
    pub fn push(&mut self, p: &Packet) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let payload = p.payload();
        if payload.is_empty() {
            return out;
        }
        if p.pusi() {
            let pointer = usize::from(payload[0]);
            let Some(rest) = payload.get(1..) else {
                return out;
            };
            if self.active {
                if let Some(tail) = rest.get(..pointer) {
                    self.buf.extend_from_slice(tail);
                    self.drain(&mut out);
                }
            }
            self.buf.clear();
            self.active = true;
            if let Some(start) = rest.get(pointer..) {
                self.buf.extend_from_slice(start);
            } else {
                self.active = false;
            }
        } else if self.active {
            self.buf.extend_from_slice(payload);
        }
        self.drain(&mut out);
        out
    }

    fn drain(&mut self, out: &mut Vec<Vec<u8>>) {
        loop {
            if self.buf.is_empty() || self.buf[0] == 0xFF {
                self.buf.clear();
                self.active = false;
                return;
            }
            let Ok(len) = section_len(&self.buf) else {
                return;
            };
            if self.buf.len() < len {
                return;
            }
            out.push(self.buf.drain(..len).collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pmt() -> Pmt {
        Pmt {
            program_number: 1,
            version: 3,
            pcr_pid: 0x100,
            program_info: CUEI_DESCRIPTOR.to_vec(),
            streams: vec![
                PmtStream {
                    stream_type: STREAM_TYPE_H264,
                    pid: 0x100,
                    descriptors: vec![],
                },
                PmtStream {
                    stream_type: STREAM_TYPE_SCTE35,
                    pid: 0x1F0,
                    descriptors: vec![],
                },
            ],
        }
    }

    #[test]
    fn ts_pat_pmt_roundtrip() {
        let pat = Pat {
            transport_stream_id: 7,
            version: 1,
            programs: vec![PatEntry {
                program_number: 1,
                pid: 0x1000,
            }],
        };
        let s = pat.to_section().unwrap();
        assert_eq!(Pat::parse(&s).unwrap(), pat);
        let p = pmt();
        let s = p.to_section().unwrap();
        assert_eq!(Pmt::parse(&s).unwrap(), p);
        assert_eq!(p.pid_of(STREAM_TYPE_SCTE35), Some(0x1F0));
    }

    #[test]
    fn ts_pat_known_bytes() {
        // A PAT for tsid 1, program 1 on PID 0x1000, as muxers commonly emit it.
        let pat = Pat {
            transport_stream_id: 1,
            version: 0,
            programs: vec![PatEntry {
                program_number: 1,
                pid: 0x1000,
            }],
        };
        let s = pat.to_section().unwrap();
        assert_eq!(
            s,
            [
                0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00, 0x2A, 0xB1,
                0x04, 0xB2
            ]
        );
    }

    #[test]
    fn ts_psi_crc_error() {
        let mut s = pmt().to_section().unwrap();
        let n = s.len();
        s[n - 1] ^= 1;
        assert_eq!(Pmt::parse(&s), Err(PsiError::Crc));
        assert!(matches!(Pat::parse(&s), Err(PsiError::TableId { .. })));
    }

    #[test]
    fn ts_scte35_known_sample() {
        // The splice_insert sample from SCTE-35 (2019) section 14.2 style: build, parse back.
        let ins = SpliceInsert {
            splice_event_id: 0x4800_008F,
            cancel: false,
            out_of_network: true,
            splice_time: Some(0x0_7369_C02E),
            break_duration: Some((true, 0x0052_CCF5)),
            unique_program_id: 0,
            avail_num: 0,
            avails_expected: 0,
        };
        let info = SpliceInfo::insert(ins.clone());
        let s = info.to_section().unwrap();
        assert_eq!(s[0], 0xFC);
        assert_eq!(SpliceInfo::parse(&s).unwrap(), info);
        // the well-known base64 sample "/DAvAAAAAAAA///wFAVIAACPf+/+c2nALv4AUsz1AAAAAAAKAAhDVUVJAAABNWLbowo="
        let sample: [u8; 50] = [
            0xFC, 0x30, 0x2F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xF0, 0x14, 0x05,
            0x48, 0x00, 0x00, 0x8F, 0x7F, 0xEF, 0xFE, 0x73, 0x69, 0xC0, 0x2E, 0xFE, 0x00, 0x52,
            0xCC, 0xF5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0A, 0x00, 0x08, 0x43, 0x55, 0x45, 0x49,
            0x00, 0x00, 0x01, 0x35, 0x62, 0xDB, 0xA3, 0x0A,
        ];
        let parsed = SpliceInfo::parse(&sample).unwrap();
        assert_eq!(parsed.command, SpliceCommand::Insert(ins));
        assert_eq!(parsed.descriptors.len(), 10);
    }

    #[test]
    fn ts_section_packets_reassemble() {
        let mut p = pmt();
        for i in 0..40 {
            p.streams.push(PmtStream {
                stream_type: 6,
                pid: 0x200 + i,
                descriptors: vec![0x0A, 0x04, b'e', b'n', b'g', 0],
            });
        }
        let s = p.to_section().unwrap();
        assert!(s.len() > 184);
        let mut cc = 14;
        let pkts = section_packets(0x1000, &s, &mut cc).unwrap();
        assert!(pkts.len() >= 2);
        assert_eq!(cc, (14 + pkts.len() as u8) & 0x0F);
        let mut asm = SectionAssembler::new();
        let got: Vec<_> = pkts.iter().flat_map(|k| asm.push(k)).collect();
        assert_eq!(got, vec![s]);
    }

    proptest! {
        #[test]
        fn ts_splice_insert_roundtrip(id: u32, cancel: bool, oon: bool,
                                      t in proptest::option::of(0u64..(1 << 33)),
                                      d in proptest::option::of((any::<bool>(), 0u64..(1 << 33))),
                                      upid: u16, an: u8, ae: u8, adj in 0u64..(1 << 33)) {
            let ins = if cancel {
                SpliceInsert { splice_event_id: id, cancel, out_of_network: false, splice_time: None,
                               break_duration: None, unique_program_id: 0, avail_num: 0, avails_expected: 0 }
            } else {
                SpliceInsert { splice_event_id: id, cancel, out_of_network: oon, splice_time: t,
                               break_duration: d, unique_program_id: upid, avail_num: an, avails_expected: ae }
            };
            let mut info = SpliceInfo::insert(ins);
            info.pts_adjustment = adj;
            let s = info.to_section().unwrap();
            prop_assert_eq!(SpliceInfo::parse(&s).unwrap(), info);
        }

        #[test]
        fn ts_psi_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Pat::parse(&bytes);
            let _ = Pmt::parse(&bytes);
            let _ = SpliceInfo::parse(&bytes);
            // with a valid CRC so the body parsers run too
            let mut b = bytes.clone();
            if b.len() >= 3 {
                let len = (b.len() - 3 + 4).min(0xFFF);
                b[1] = (b[1] & 0xF0) | (len >> 8) as u8;
                b[2] = len as u8;
                let c = crc32_mpeg2(&b);
                b.extend_from_slice(&c.to_be_bytes());
                for t in [0x00u8, 0x02, 0xFC] {
                    b[0] = t;
                    let c = crc32_mpeg2(&b[..b.len() - 4]);
                    let n = b.len();
                    b[n - 4..].copy_from_slice(&c.to_be_bytes());
                    let _ = Pat::parse(&b);
                    let _ = Pmt::parse(&b);
                    let _ = SpliceInfo::parse(&b);
                }
            }
        }

        #[test]
        fn ts_assembler_never_panics(bytes in proptest::collection::vec(any::<u8>(), 188..188 * 4)) {
            let mut asm = SectionAssembler::new();
            for c in bytes.chunks_exact(188) {
                let mut c = c.to_vec();
                c[0] = 0x47;
                if let Ok(p) = Packet::parse(&c) {
                    let _ = asm.push(&p);
                }
            }
        }
    }
}
