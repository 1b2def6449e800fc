//! The 188-byte TS packet: a checked owned view ([`Packet`]) and a builder
//! ([`PacketBuilder`]).
//!
//! Layout: sync 0x47, then TEI/PUSI/priority + 13-bit PID, then scrambling,
//! adaptation field control (AFC) and the 4-bit continuity counter (CC); an
//! optional adaptation field (length byte, flags, PCR, stuffing) and the payload.
//!
//! Invariants of a [`Packet`] (checked by [`Packet::parse`], kept by every setter):
//! - it is exactly 188 bytes and starts with 0x47;
//! - AFC is not the reserved value 0;
//! - the adaptation field, when present, fits inside the packet, and when AFC
//!   says "adaptation only" it fills all 184 bytes after the header.
//!
//! PCR values are kept as one 27 MHz count: `base * 300 + extension`.

use thiserror::Error;

/// Bytes in one TS packet.
pub const PACKET_SIZE: usize = 188;
/// The sync byte every packet starts with.
pub const SYNC_BYTE: u8 = 0x47;
/// The null packet PID (stuffing).
pub const NULL_PID: u16 = 0x1FFF;
/// Payload bytes of a packet without an adaptation field.
pub const MAX_PAYLOAD: usize = 184;

/// Why bytes are not a TS packet.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PacketError {
    #[error("a TS packet is 188 bytes, got {0}")]
    Length(usize),
    #[error("bad sync byte 0x{0:02x} (want 0x47)")]
    Sync(u8),
    #[error("reserved adaptation_field_control 0")]
    ReservedAfc,
    #[error("adaptation field length {len} does not fit (max {max})")]
    AdaptationLength { len: usize, max: usize },
    #[error("PID {0:#x} is out of range (13 bits)")]
    Pid(u16),
    #[error("packet has no adaptation field with a PCR")]
    NoPcrField,
}

/// One checked 188-byte TS packet.
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    bytes: [u8; PACKET_SIZE],
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("pid", &self.pid())
            .field("pusi", &self.pusi())
            .field("cc", &self.cc())
            .field("pcr", &self.pcr())
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

impl Packet {
    /// Checks `bytes` (exactly 188 of them) and copies them into a packet.
    pub fn parse(bytes: &[u8]) -> Result<Packet, PacketError> {
        let arr: [u8; PACKET_SIZE] = bytes
            .try_into()
            .map_err(|_| PacketError::Length(bytes.len()))?;
        let p = Packet { bytes: arr };
        if p.bytes[0] != SYNC_BYTE {
            return Err(PacketError::Sync(p.bytes[0]));
        }
        match p.afc() {
            0 => return Err(PacketError::ReservedAfc),
            2 => {
                let len = usize::from(p.bytes[4]);
                if len > 183 {
                    return Err(PacketError::AdaptationLength { len, max: 183 });
                }
            }
            3 => {
                let len = usize::from(p.bytes[4]);
                if len > 182 {
                    return Err(PacketError::AdaptationLength { len, max: 182 });
                }
            }
            _ => {}
        }
        Ok(p)
    }

    /// A null packet (PID 0x1FFF, payload of 0xFF).
    pub fn null() -> Packet {
        let mut bytes = [0xFFu8; PACKET_SIZE];
        bytes[0] = SYNC_BYTE;
        bytes[1] = 0x1F;
        bytes[2] = 0xFF;
        bytes[3] = 0x10;
        Packet { bytes }
    }

    /// The raw 188 bytes.
    pub fn as_bytes(&self) -> &[u8; PACKET_SIZE] {
        &self.bytes
    }

    /// transport_error_indicator.
    pub fn tei(&self) -> bool {
        self.bytes[1] & 0x80 != 0
    }

    /// payload_unit_start_indicator.
    pub fn pusi(&self) -> bool {
        self.bytes[1] & 0x40 != 0
    }

    /// The 13-bit PID.
    pub fn pid(&self) -> u16 {
        (u16::from(self.bytes[1] & 0x1F) << 8) | u16::from(self.bytes[2])
    }

    /// Rewrites the PID.
    pub fn set_pid(&mut self, pid: u16) -> Result<(), PacketError> {
        if pid > NULL_PID {
            return Err(PacketError::Pid(pid));
        }
        self.bytes[1] = (self.bytes[1] & 0xE0) | ((pid >> 8) as u8 & 0x1F);
        self.bytes[2] = pid as u8;
        Ok(())
    }

    /// adaptation_field_control: 1 payload only, 2 adaptation only, 3 both.
    pub fn afc(&self) -> u8 {
        (self.bytes[3] >> 4) & 0x03
    }

    /// Whether the packet carries payload (AFC 1 or 3); the CC increments only on these.
    pub fn has_payload(&self) -> bool {
        self.afc() & 0x01 != 0
    }

    /// Whether an adaptation field is present (AFC 2 or 3).
    pub fn has_adaptation(&self) -> bool {
        self.afc() & 0x02 != 0
    }

    /// The 4-bit continuity counter.
    pub fn cc(&self) -> u8 {
        self.bytes[3] & 0x0F
    }

    /// Rewrites the continuity counter (low 4 bits of `cc`).
    pub fn set_cc(&mut self, cc: u8) {
        self.bytes[3] = (self.bytes[3] & 0xF0) | (cc & 0x0F);
    }

    /// The adaptation field after its length byte (flags, PCR, ..., stuffing).
    pub fn adaptation(&self) -> Option<&[u8]> {
        if !self.has_adaptation() {
            return None;
        }
        let len = usize::from(self.bytes[4]);
        Some(&self.bytes[5..5 + len])
    }

    fn af_flags(&self) -> u8 {
        match self.adaptation() {
            Some(af) if !af.is_empty() => af[0],
            _ => 0,
        }
    }

    /// discontinuity_indicator of the adaptation field.
    pub fn discontinuity(&self) -> bool {
        self.af_flags() & 0x80 != 0
    }

    /// Sets discontinuity_indicator; fails when the packet has no adaptation field flags byte.
    pub fn set_discontinuity(&mut self, on: bool) -> Result<(), PacketError> {
        match self.adaptation() {
            Some(af) if !af.is_empty() => {
                if on {
                    self.bytes[5] |= 0x80;
                } else {
                    self.bytes[5] &= !0x80;
                }
                Ok(())
            }
            _ => Err(PacketError::NoPcrField),
        }
    }

    /// random_access_indicator of the adaptation field.
    pub fn random_access(&self) -> bool {
        self.af_flags() & 0x40 != 0
    }

    /// The PCR (27 MHz count), when the adaptation field carries one.
    pub fn pcr(&self) -> Option<u64> {
        let af = self.adaptation()?;
        if af.len() < 7 || af[0] & 0x10 == 0 {
            return None;
        }
        Some(decode_pcr(&af[1..7]))
    }

    /// Rewrites the PCR in place; fails when the packet has no PCR field.
    pub fn set_pcr(&mut self, pcr: u64) -> Result<(), PacketError> {
        if self.pcr().is_none() {
            return Err(PacketError::NoPcrField);
        }
        let enc = encode_pcr(pcr);
        self.bytes[6..12].copy_from_slice(&enc);
        Ok(())
    }

    fn payload_start(&self) -> usize {
        match self.afc() {
            1 => 4,
            3 => 5 + usize::from(self.bytes[4]),
            _ => PACKET_SIZE,
        }
    }

    /// The payload bytes (empty when AFC says adaptation only).
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.payload_start().min(PACKET_SIZE)..]
    }

    /// The payload bytes, mutable (for in-place PTS rewriting).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let s = self.payload_start().min(PACKET_SIZE);
        &mut self.bytes[s..]
    }
}

/// Decodes the 6-byte PCR field (33-bit base, 6 reserved, 9-bit extension).
pub fn decode_pcr(b: &[u8]) -> u64 {
    if b.len() < 6 {
        return 0;
    }
    let base = (u64::from(b[0]) << 25)
        | (u64::from(b[1]) << 17)
        | (u64::from(b[2]) << 9)
        | (u64::from(b[3]) << 1)
        | (u64::from(b[4]) >> 7);
    let ext = (u64::from(b[4] & 0x01) << 8) | u64::from(b[5]);
    base * 300 + ext
}

/// Encodes a 27 MHz count (taken modulo the PCR wrap) as the 6-byte PCR field.
pub fn encode_pcr(pcr: u64) -> [u8; 6] {
    let pcr = pcr % super::PCR_WRAP;
    let base = pcr / 300;
    let ext = pcr % 300;
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        (((base & 1) as u8) << 7) | 0x7E | ((ext >> 8) as u8 & 0x01),
        ext as u8,
    ]
}

/// Builds packets: header fields plus an optional PCR; the payload fills what
/// is left and a short payload is padded with adaptation-field stuffing.
#[derive(Debug, Clone, Default)]
pub struct PacketBuilder {
    pub pid: u16,
    pub pusi: bool,
    pub cc: u8,
    pub pcr: Option<u64>,
    pub discontinuity: bool,
    pub random_access: bool,
}

impl PacketBuilder {
    /// A builder for `pid` with CC `cc`.
    pub fn new(pid: u16, cc: u8) -> Self {
        PacketBuilder {
            pid,
            cc,
            ..Default::default()
        }
    }

    /// The most payload bytes one packet built by this builder can carry.
    pub fn capacity(&self) -> usize {
        if self.pcr.is_some() {
            MAX_PAYLOAD - 8
        } else if self.discontinuity || self.random_access {
            MAX_PAYLOAD - 2
        } else {
            MAX_PAYLOAD
        }
    }

    /// Builds one packet with as much of `payload` as fits; returns it and how
    /// many payload bytes it took. An empty payload gives an adaptation-only packet.
    pub fn build(&self, payload: &[u8]) -> Result<(Packet, usize), PacketError> {
        if self.pid > NULL_PID {
            return Err(PacketError::Pid(self.pid));
        }
        let n = payload.len().min(self.capacity());
        let mut b = [0xFFu8; PACKET_SIZE];
        b[0] = SYNC_BYTE;
        b[1] = (if self.pusi { 0x40 } else { 0 }) | ((self.pid >> 8) as u8 & 0x1F);
        b[2] = self.pid as u8;
        let flags = (if self.discontinuity { 0x80 } else { 0 })
            | (if self.random_access { 0x40 } else { 0 })
            | (if self.pcr.is_some() { 0x10 } else { 0 });
        let need_af = n < MAX_PAYLOAD || flags != 0;
        if !need_af {
            b[3] = 0x10 | (self.cc & 0x0F);
            b[4..].copy_from_slice(&payload[..n]);
        } else {
            let afc = if n == 0 { 0x20 } else { 0x30 };
            b[3] = afc | (self.cc & 0x0F);
            let af_len = 183 - n; // bytes after the length byte
            b[4] = af_len as u8;
            if af_len > 0 {
                b[5] = flags;
                if let Some(pcr) = self.pcr {
                    b[6..12].copy_from_slice(&encode_pcr(pcr));
                }
            }
            b[5 + af_len..].copy_from_slice(&payload[..n]);
        }
        Ok((Packet { bytes: b }, n))
    }
}

/// Splits a byte stream into 188-byte chunks and parses each; a trailing
/// partial packet yields a [`PacketError::Length`].
pub fn packets(ts: &[u8]) -> impl Iterator<Item = Result<Packet, PacketError>> + '_ {
    ts.chunks(PACKET_SIZE).map(Packet::parse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ts_packet_null() {
        let p = Packet::null();
        assert_eq!(p.pid(), NULL_PID);
        assert_eq!(p.payload().len(), 184);
        assert!(Packet::parse(p.as_bytes()).is_ok());
    }

    #[test]
    fn ts_packet_errors() {
        assert_eq!(Packet::parse(&[0x47; 10]), Err(PacketError::Length(10)));
        let mut b = *Packet::null().as_bytes();
        b[0] = 0x48;
        assert_eq!(Packet::parse(&b), Err(PacketError::Sync(0x48)));
        b[0] = 0x47;
        b[3] = 0x00;
        assert_eq!(Packet::parse(&b), Err(PacketError::ReservedAfc));
        b[3] = 0x30;
        b[4] = 183;
        assert!(matches!(
            Packet::parse(&b),
            Err(PacketError::AdaptationLength { .. })
        ));
    }

    #[test]
    fn ts_packet_short_payload_is_stuffed() {
        let (p, n) = PacketBuilder::new(0x100, 3).build(b"abc").unwrap();
        assert_eq!(n, 3);
        assert_eq!(p.payload(), b"abc");
        assert_eq!(p.afc(), 3);
        let (p, n) = PacketBuilder::new(0x100, 3).build(&[7u8; 183]).unwrap();
        assert_eq!(n, 183);
        assert_eq!(p.adaptation().map(<[u8]>::len), Some(0));
        let (p, n) = PacketBuilder::new(0x100, 3).build(&[]).unwrap();
        assert_eq!(n, 0);
        assert_eq!(p.afc(), 2);
        assert!(!p.has_payload());
    }

    proptest! {
        #[test]
        fn ts_packet_roundtrip(pid in 0u16..0x1FFF, cc in 0u8..16, pusi: bool,
                               pcr in proptest::option::of(0u64..super::super::PCR_WRAP),
                               disc: bool, ra: bool,
                               payload in proptest::collection::vec(any::<u8>(), 0..200)) {
            let b = PacketBuilder { pid, pusi, cc, pcr, discontinuity: disc, random_access: ra };
            let (p, n) = b.build(&payload).unwrap();
            let q = Packet::parse(p.as_bytes()).unwrap();
            prop_assert_eq!(q.pid(), pid);
            prop_assert_eq!(q.cc(), cc);
            prop_assert_eq!(q.pusi(), pusi);
            prop_assert_eq!(q.pcr(), pcr);
            prop_assert_eq!(q.payload(), &payload[..n]);
            prop_assert_eq!(n, payload.len().min(b.capacity()));
            if pcr.is_some() || n < MAX_PAYLOAD { prop_assert_eq!(q.discontinuity(), disc); }
        }

        #[test]
        fn ts_packet_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            for p in packets(&bytes).flatten() {
                let _ = (p.pcr(), p.payload().len(), p.adaptation(), p.discontinuity());
            }
            let mut b = bytes.clone();
            b.resize(PACKET_SIZE, 0);
            b[0] = SYNC_BYTE;
            if let Ok(mut p) = Packet::parse(&b) {
                let _ = (p.pcr(), p.payload().len(), p.payload_mut().len());
                let _ = p.set_pcr(1);
            }
        }

        #[test]
        fn ts_pcr_encode_decode(pcr in 0u64..super::super::PCR_WRAP) {
            prop_assert_eq!(decode_pcr(&encode_pcr(pcr)), pcr);
        }
    }
}
