//! PES packets with PTS (and optional DTS), and their packetization into TS
//! packets.
//!
//! Invariants:
//! - a PES built here starts with 00 00 01, stream_id, PES_packet_length
//!   (0 = unbounded when the packet would exceed 65535 bytes, allowed for video
//!   stream ids 0xE0..=0xEF), and an optional header with PTS/DTS;
//! - packetization puts the PES start in a PUSI packet and fills every other
//!   packet fully but the last (padded with adaptation-field stuffing);
//! - [`shift_timestamps`] rewrites PTS/DTS in place in the PES header at the
//!   start of a PUSI packet's payload, modulo 2^33, and never panics.

use super::packet::{Packet, PacketBuilder, PacketError};
use super::PTS_WRAP;
use thiserror::Error;

/// Why bytes are not a PES packet.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PesError {
    #[error("PES truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("missing PES start code")]
    StartCode,
    #[error("malformed PES header: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Packet(#[from] PacketError),
}

/// One PES packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pes {
    pub stream_id: u8,
    /// 90 kHz, 33 bits.
    pub pts: Option<u64>,
    /// 90 kHz, 33 bits; only written when `pts` is set.
    pub dts: Option<u64>,
    pub data_alignment: bool,
    pub payload: Vec<u8>,
}

/// The first video stream_id.
pub const STREAM_ID_VIDEO: u8 = 0xE0;

fn put_ts(out: &mut Vec<u8>, prefix: u8, ts: u64) {
    let ts = ts % PTS_WRAP;
    out.push((prefix << 4) | (((ts >> 30) as u8 & 0x07) << 1) | 1);
    let mid = ((ts >> 15) & 0x7FFF) as u16;
    out.extend_from_slice(&((mid << 1) | 1).to_be_bytes());
    let low = (ts & 0x7FFF) as u16;
    out.extend_from_slice(&((low << 1) | 1).to_be_bytes());
}

fn get_ts(b: &[u8]) -> u64 {
    (u64::from((b[0] >> 1) & 0x07) << 30)
        | (u64::from(u16::from_be_bytes([b[1], b[2]]) >> 1) << 15)
        | u64::from(u16::from_be_bytes([b[3], b[4]]) >> 1)
}

fn write_ts_keep_prefix(b: &mut [u8], ts: u64) {
    let prefix = b[0] >> 4;
    let mut v = Vec::with_capacity(5);
    put_ts(&mut v, prefix, ts);
    b[..5].copy_from_slice(&v);
}

impl Pes {
    /// The PES bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(14);
        let flags = match (self.pts, self.dts) {
            (Some(_), Some(_)) => 0xC0,
            (Some(_), None) => 0x80,
            _ => 0x00,
        };
        h.push(0x80 | if self.data_alignment { 0x04 } else { 0 });
        h.push(flags);
        let hl = match flags {
            0xC0 => 10,
            0x80 => 5,
            _ => 0,
        };
        h.push(hl);
        if let Some(pts) = self.pts {
            put_ts(&mut h, if self.dts.is_some() { 0x3 } else { 0x2 }, pts);
            if let Some(dts) = self.dts {
                put_ts(&mut h, 0x1, dts);
            }
        }
        let len = h.len() + self.payload.len();
        let field = if len > 0xFFFF { 0 } else { len as u16 };
        let mut out = Vec::with_capacity(6 + len);
        out.extend_from_slice(&[0, 0, 1, self.stream_id]);
        out.extend_from_slice(&field.to_be_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&self.payload);
        out
    }

    /// Parses a PES packet (the whole PES; with PES_packet_length 0 the rest of `b` is payload).
    pub fn parse(b: &[u8]) -> Result<Pes, PesError> {
        let h = parse_header(b)?;
        let end = if h.packet_length == 0 {
            b.len()
        } else {
            6 + h.packet_length
        };
        if b.len() < end || end < h.payload_offset {
            return Err(PesError::Truncated {
                need: end.max(h.payload_offset),
                have: b.len(),
            });
        }
        Ok(Pes {
            stream_id: b[3],
            pts: h.pts,
            dts: h.dts,
            data_alignment: b[6] & 0x04 != 0,
            payload: b[h.payload_offset..end].to_vec(),
        })
    }

    /// Splits the PES into TS packets on `pid`, starting at CC `*cc` (advanced
    /// past them). The first packet carries `pcr` and random_access when given.
    pub fn packetize(
        &self,
        pid: u16,
        cc: &mut u8,
        pcr: Option<u64>,
    ) -> Result<Vec<Packet>, PesError> {
        packetize_bytes(&self.to_bytes(), pid, cc, pcr)
    }
}

/// Splits PES bytes into TS packets (see [`Pes::packetize`]).
pub fn packetize_bytes(
    bytes: &[u8],
    pid: u16,
    cc: &mut u8,
    pcr: Option<u64>,
) -> Result<Vec<Packet>, PesError> {
    let mut out = Vec::with_capacity(bytes.len() / 184 + 1);
    let mut off = 0;
    while off < bytes.len() || out.is_empty() {
        let first = off == 0;
        let b = PacketBuilder {
            pid,
            pusi: first,
            cc: *cc,
            pcr: if first { pcr } else { None },
            discontinuity: false,
            random_access: first && pcr.is_some(),
        };
        let (p, n) = b.build(&bytes[off..])?;
        out.push(p);
        *cc = (*cc + 1) & 0x0F;
        off += n;
        if n == 0 {
            break;
        }
    }
    Ok(out)
}

/// The fixed part of a PES header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PesHeader {
    pub stream_id: u8,
    pub packet_length: usize,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// Where the payload starts, from the start code.
    pub payload_offset: usize,
}

fn has_optional_header(stream_id: u8) -> bool {
    !matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF
    )
}

/// Parses the PES header at the start of `b` (enough bytes of it must be present).
pub fn parse_header(b: &[u8]) -> Result<PesHeader, PesError> {
    if b.len() < 6 {
        return Err(PesError::Truncated {
            need: 6,
            have: b.len(),
        });
    }
    if b[..3] != [0, 0, 1] {
        return Err(PesError::StartCode);
    }
    let stream_id = b[3];
    let packet_length = usize::from(u16::from_be_bytes([b[4], b[5]]));
    if !has_optional_header(stream_id) {
        return Ok(PesHeader {
            stream_id,
            packet_length,
            pts: None,
            dts: None,
            payload_offset: 6,
        });
    }
    if b.len() < 9 {
        return Err(PesError::Truncated {
            need: 9,
            have: b.len(),
        });
    }
    if b[6] & 0xC0 != 0x80 {
        return Err(PesError::Malformed("optional header marker bits"));
    }
    let flags = b[7] >> 6;
    let hl = usize::from(b[8]);
    let payload_offset = 9 + hl;
    let need = match flags {
        2 => 5,
        3 => 10,
        1 => return Err(PesError::Malformed("PTS_DTS_flags 01")),
        _ => 0,
    };
    if hl < need {
        return Err(PesError::Malformed("header too short for its PTS/DTS"));
    }
    if b.len() < 9 + need {
        return Err(PesError::Truncated {
            need: 9 + need,
            have: b.len(),
        });
    }
    let pts = (flags >= 2).then(|| get_ts(&b[9..14]));
    let dts = (flags == 3).then(|| get_ts(&b[14..19]));
    Ok(PesHeader {
        stream_id,
        packet_length,
        pts,
        dts,
        payload_offset,
    })
}

/// Adds `delta` (mod 2^33) to the PTS and DTS of the PES header that starts
/// `payload` (a PUSI packet's payload). Returns the new PTS, or `None` when
/// there is no PES header with a PTS there (nothing is changed then).
pub fn shift_timestamps(payload: &mut [u8], delta: u64) -> Option<u64> {
    let h = parse_header(payload).ok()?;
    let pts = h.pts?;
    let new_pts = (pts + delta) % PTS_WRAP;
    write_ts_keep_prefix(&mut payload[9..14], new_pts);
    if let Some(dts) = h.dts {
        write_ts_keep_prefix(&mut payload[14..19], (dts + delta) % PTS_WRAP);
    }
    Some(new_pts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ts_pes_roundtrip(pts in proptest::option::of(0u64..PTS_WRAP),
                            dts in 0u64..PTS_WRAP, with_dts: bool, align: bool,
                            payload in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let pes = Pes { stream_id: STREAM_ID_VIDEO, pts, dts: if pts.is_some() && with_dts { Some(dts) } else { None },
                            data_alignment: align, payload };
            let b = pes.to_bytes();
            prop_assert_eq!(Pes::parse(&b).unwrap(), pes.clone());
            let mut cc = 5;
            let pkts = pes.packetize(0x100, &mut cc, Some(1234)).unwrap();
            prop_assert!(pkts[0].pusi());
            prop_assert_eq!(pkts[0].pcr(), Some(1234));
            let mut joined = Vec::new();
            for (i, p) in pkts.iter().enumerate() {
                prop_assert_eq!(p.cc(), ((5 + i) & 0x0F) as u8);
                joined.extend_from_slice(p.payload());
            }
            prop_assert_eq!(joined, b);
        }

        #[test]
        fn ts_pes_shift(pts in 0u64..PTS_WRAP, dts in 0u64..PTS_WRAP, delta in 0u64..PTS_WRAP) {
            let pes = Pes { stream_id: STREAM_ID_VIDEO, pts: Some(pts), dts: Some(dts), data_alignment: true, payload: vec![1, 2, 3] };
            let mut b = pes.to_bytes();
            prop_assert_eq!(shift_timestamps(&mut b, delta), Some((pts + delta) % PTS_WRAP));
            let q = Pes::parse(&b).unwrap();
            prop_assert_eq!(q.pts, Some((pts + delta) % PTS_WRAP));
            prop_assert_eq!(q.dts, Some((dts + delta) % PTS_WRAP));
            prop_assert_eq!(q.payload, vec![1, 2, 3]);
        }

        #[test]
        fn ts_pes_parse_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..64), sc: bool) {
            if sc && bytes.len() >= 3 { bytes[0] = 0; bytes[1] = 0; bytes[2] = 1; }
            let _ = Pes::parse(&bytes);
            let _ = shift_timestamps(&mut bytes, 77);
        }
    }
}
