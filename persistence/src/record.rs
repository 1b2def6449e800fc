//! Encodings of the values kept in the sled catalog.
//!
//! Every value except the HomeBlock (which has its own FIG. 6 encoding and
//! checksum) is wrapped in one envelope:
//!
//! ```text
//! off  size  field
//!   0    1   envelope version (1)
//!   1    1   record kind: 1 object, 2 job checkpoint, 3 journal entry, 4 dirty mark
//!   2    2   MBZ
//!   4    4   payload length P
//!   8    P   payload
//! 8+P    4   CRC-32C of bytes 0..8+P
//! ```
//!
//! The kind byte catches a value written to the wrong tree; the CRC catches any
//! bit flip that sled's own log checksums would not (e.g. a bug writing the wrong
//! bytes). Checkpoint and journal payloads are the caller's bytes, opaque here.
//!
//! The object record payload is a hand-rolled fixed layout (rather than
//! MessagePack) so that every byte has one meaning, must-be-zero bytes can be
//! checked, and a single flipped bit can never decode to another valid record:
//!
//! ```text
//! off size field
//!  0   1   layout version (layout::LAYOUT_VERSION = 1)
//!  1   1   fragment count N
//!  2   1   parity count m
//!  3   1   MBZ
//!  4   4   stripe size
//!  8   4   incarnation
//! 12   4   CRC-32C of the whole object's bytes
//! 16   8   object length
//! 24   8   creation time, ns since the Unix epoch
//! 32   2   name length L (1..=1024)
//! 34   6   MBZ
//! 40   L   name (UTF-8)
//! ```
//!
//! Invariant: every decoder here never panics and returns [`DecodeError`].

use crate::checksum::{crc32c, le};
use crate::error::DecodeError;
use crate::fragment::header::MAX_NAME_LEN;
use crate::incarnation::Incarnation;
use crate::layout::{check_stripe, Geometry, Layout, LAYOUT_VERSION};

/// Envelope version written and accepted.
pub const ENVELOPE_VERSION: u8 = 1;
const ENVELOPE_OVERHEAD: usize = 12;
const OBJECT_FIXED: usize = 40;

/// What an enveloped value holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    /// An [`ObjectRecord`].
    Object = 1,
    /// A job checkpoint (opaque bytes).
    Checkpoint = 2,
    /// A controller journal entry (opaque bytes).
    Journal = 3,
    /// A dirty-set mark (u64 mark number).
    DirtyMark = 4,
}

impl RecordKind {
    fn what(self) -> &'static str {
        match self {
            RecordKind::Object => "object record",
            RecordKind::Checkpoint => "checkpoint record",
            RecordKind::Journal => "journal record",
            RecordKind::DirtyMark => "dirty mark",
        }
    }
}

/// Wraps `payload` in the envelope.
pub fn frame(kind: RecordKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + ENVELOPE_OVERHEAD);
    out.push(ENVELOPE_VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&[0, 0]);
    // Payloads are bounded by sled's value size, far below 4 GiB.
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let sum = crc32c(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Checks the envelope of `bytes` and returns its payload.
pub fn unframe(kind: RecordKind, bytes: &[u8]) -> Result<&[u8], DecodeError> {
    let what = kind.what();
    if bytes.len() < ENVELOPE_OVERHEAD {
        return Err(DecodeError::Truncated {
            what,
            need: ENVELOPE_OVERHEAD,
            got: bytes.len(),
        });
    }
    let version = le::u8_at(bytes, 0);
    if version != ENVELOPE_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            what,
            major: version,
            minor: 0,
        });
    }
    let len = le::u32_at(bytes, 4) as usize;
    let need = len.saturating_add(ENVELOPE_OVERHEAD);
    if bytes.len() < need {
        return Err(DecodeError::Truncated {
            what,
            need,
            got: bytes.len(),
        });
    }
    if bytes.len() > need {
        return Err(DecodeError::TrailingBytes {
            what,
            extra: bytes.len() - need,
        });
    }
    let body_end = 8 + len;
    let stored = le::u32_at(bytes, body_end);
    let computed = crc32c(bytes.get(..body_end).unwrap_or_default());
    if stored != computed {
        tracing::warn!(what, stored, computed, "catalog record checksum mismatch");
        return Err(DecodeError::ChecksumMismatch {
            what,
            stored,
            computed,
        });
    }
    if let Some((offset, value)) = le::first_nonzero(bytes, 2, 4) {
        return Err(DecodeError::NonZeroMbz {
            what,
            offset,
            value,
        });
    }
    let k = le::u8_at(bytes, 1);
    if k != kind as u8 {
        return Err(DecodeError::invalid(
            what,
            "kind",
            format!("record of kind {k}, expected {}", kind as u8),
        ));
    }
    Ok(bytes.get(8..body_end).unwrap_or_default())
}

/// What the catalog knows about one object.
///
/// Serde derives are for the wire between members; a record that arrives that
/// way has not been checked: call [`ObjectRecord::validate`] on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ObjectRecord {
    /// Object name (1..=1024 bytes).
    pub name: String,
    /// Length in bytes.
    pub length: u64,
    /// Incarnation of the current fragment set.
    pub incarnation: Incarnation,
    /// Fragment count N of the current set.
    pub fragment_count: u8,
    /// Parity blocks per row m.
    pub parity: u8,
    /// Stripe (block) size.
    pub stripe_size: u32,
    /// Version of the placement rules (`layout::LAYOUT_VERSION`).
    pub layout_version: u8,
    /// CRC-32C of the whole object.
    pub checksum: u32,
    /// Creation time, ns since the Unix epoch.
    pub creation_time_ns: u64,
}

impl ObjectRecord {
    /// The record's layout.
    pub fn layout(&self) -> Result<Layout, DecodeError> {
        Layout::new(usize::from(self.fragment_count), usize::from(self.parity))
            .map_err(|e| DecodeError::invalid("object record", "layout", e.to_string()))
    }

    /// The object's geometry (layout, stripe size, length): rows, blocks, block lengths.
    pub fn geometry(&self) -> Result<Geometry, DecodeError> {
        Ok(self.layout()?.geometry(self.length, self.stripe_size))
    }

    /// Checks the fields (name, layout, stripe size, layout version).
    pub fn validate(&self) -> Result<(), DecodeError> {
        let what = "object record";
        if self.layout_version != LAYOUT_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                what,
                major: self.layout_version,
                minor: 0,
            });
        }
        if self.name.is_empty() || self.name.len() > MAX_NAME_LEN {
            return Err(DecodeError::invalid(
                what,
                "name",
                format!("length {} not in 1..={MAX_NAME_LEN}", self.name.len()),
            ));
        }
        self.layout()?;
        check_stripe(u64::from(self.stripe_size))
            .map_err(|e| DecodeError::invalid(what, "stripe size", e.to_string()))?;
        Ok(())
    }

    /// The enveloped encoding.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        self.validate()?;
        let name = self.name.as_bytes();
        let mut p = vec![0u8; OBJECT_FIXED + name.len()];
        p[0] = self.layout_version;
        p[1] = self.fragment_count;
        p[2] = self.parity;
        p[4..8].copy_from_slice(&self.stripe_size.to_le_bytes());
        p[8..12].copy_from_slice(&self.incarnation.get().to_le_bytes());
        p[12..16].copy_from_slice(&self.checksum.to_le_bytes());
        p[16..24].copy_from_slice(&self.length.to_le_bytes());
        p[24..32].copy_from_slice(&self.creation_time_ns.to_le_bytes());
        // validate() bounded the name to 1024 bytes.
        p[32..34].copy_from_slice(&(name.len() as u16).to_le_bytes());
        p[OBJECT_FIXED..].copy_from_slice(name);
        Ok(frame(RecordKind::Object, &p))
    }

    /// Decodes an enveloped object record.
    pub fn decode(bytes: &[u8]) -> Result<ObjectRecord, DecodeError> {
        let what = "object record";
        let p = unframe(RecordKind::Object, bytes)?;
        if p.len() < OBJECT_FIXED {
            return Err(DecodeError::Truncated {
                what,
                need: OBJECT_FIXED,
                got: p.len(),
            });
        }
        for (start, end) in [(3, 4), (34, 40)] {
            if let Some((offset, value)) = le::first_nonzero(p, start, end) {
                return Err(DecodeError::NonZeroMbz {
                    what,
                    offset: offset + 8,
                    value,
                });
            }
        }
        let name_len = usize::from(le::u16_at(p, 32));
        let need = OBJECT_FIXED + name_len;
        if p.len() != need {
            return Err(if p.len() < need {
                DecodeError::Truncated {
                    what,
                    need,
                    got: p.len(),
                }
            } else {
                DecodeError::TrailingBytes {
                    what,
                    extra: p.len() - need,
                }
            });
        }
        let name = std::str::from_utf8(p.get(OBJECT_FIXED..).unwrap_or_default())
            .map_err(|e| DecodeError::invalid(what, "name", e.to_string()))?
            .to_owned();
        let r = ObjectRecord {
            name,
            layout_version: le::u8_at(p, 0),
            fragment_count: le::u8_at(p, 1),
            parity: le::u8_at(p, 2),
            stripe_size: le::u32_at(p, 4),
            incarnation: Incarnation::new(le::u32_at(p, 8)),
            checksum: le::u32_at(p, 12),
            length: le::u64_at(p, 16),
            creation_time_ns: le::u64_at(p, 24),
        };
        r.validate()?;
        Ok(r)
    }
}

/// Encodes a dirty-set mark.
pub fn encode_mark(mark: u64) -> Vec<u8> {
    frame(RecordKind::DirtyMark, &mark.to_le_bytes())
}

/// Decodes a dirty-set mark.
pub fn decode_mark(bytes: &[u8]) -> Result<u64, DecodeError> {
    let p = unframe(RecordKind::DirtyMark, bytes)?;
    let arr: [u8; 8] = p.try_into().map_err(|_| {
        DecodeError::invalid(
            "dirty mark",
            "payload",
            format!("{} bytes, expected 8", p.len()),
        )
    })?;
    Ok(u64::from_le_bytes(arr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample() -> ObjectRecord {
        ObjectRecord {
            name: "movies/a.mp4".into(),
            length: 123_456_789,
            incarnation: Incarnation::new(3),
            fragment_count: 5,
            parity: 1,
            stripe_size: 65536,
            layout_version: LAYOUT_VERSION,
            checksum: 0xABCD_EF01,
            creation_time_ns: 1_700_000_000_000_000_001,
        }
    }

    #[test]
    fn round_trip_and_errors() {
        let r = sample();
        let b = r.encode().unwrap();
        assert_eq!(ObjectRecord::decode(&b).unwrap(), r);
        assert!(matches!(
            ObjectRecord::decode(&b[..5]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            ObjectRecord::decode(&b[..b.len() - 1]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            ObjectRecord::decode(&[b.as_slice(), &[0]].concat()),
            Err(DecodeError::TrailingBytes { .. })
        ));
        let mut v = b.clone();
        v[0] = 9;
        assert!(matches!(
            ObjectRecord::decode(&v),
            Err(DecodeError::UnsupportedVersion { major: 9, .. })
        ));
        // Re-frame a payload with a non-zero MBZ byte.
        let p = unframe(RecordKind::Object, &b).unwrap().to_vec();
        let mut q = p.clone();
        q[36] = 1;
        assert!(matches!(
            ObjectRecord::decode(&frame(RecordKind::Object, &q)),
            Err(DecodeError::NonZeroMbz { offset: 44, .. })
        ));
        let mut q = p.clone();
        q[0] = 2;
        assert!(matches!(
            ObjectRecord::decode(&frame(RecordKind::Object, &q)),
            Err(DecodeError::UnsupportedVersion { major: 2, .. })
        ));
        let mut v = b.clone();
        v[2] = 1;
        assert!(ObjectRecord::decode(&v).is_err());
        assert!(matches!(
            ObjectRecord::decode(&frame(RecordKind::Checkpoint, &p)),
            Err(DecodeError::InvalidField { field: "kind", .. })
        ));
        assert_eq!(decode_mark(&encode_mark(77)).unwrap(), 77);
        assert!(decode_mark(&frame(RecordKind::DirtyMark, &[1, 2])).is_err());
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let b = sample().encode().unwrap();
        for bit in 0..b.len() * 8 {
            let mut v = b.clone();
            v[bit / 8] ^= 1 << (bit % 8);
            assert!(ObjectRecord::decode(&v).is_err(), "bit {bit} undetected");
        }
        let m = encode_mark(5);
        for bit in 0..m.len() * 8 {
            let mut v = m.clone();
            v[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_mark(&v).is_err(), "bit {bit} undetected");
        }
        let c = frame(RecordKind::Checkpoint, b"job state");
        for bit in 0..c.len() * 8 {
            let mut v = c.clone();
            v[bit / 8] ^= 1 << (bit % 8);
            assert!(
                unframe(RecordKind::Checkpoint, &v).is_err(),
                "bit {bit} undetected"
            );
        }
    }

    fn records() -> impl Strategy<Value = ObjectRecord> {
        (
            "\\PC{1,200}",
            any::<u64>(),
            any::<u32>(),
            (1usize..=255, 0usize..=6),
            (1u32..=1024).prop_map(|s| s * 64),
            any::<u32>(),
            any::<u64>(),
        )
            .prop_filter_map("layout", |(name, length, inc, (n, m), stripe, sum, t)| {
                let l = Layout::new(n, m).ok()?;
                Some(ObjectRecord {
                    name,
                    length,
                    incarnation: Incarnation::new(inc),
                    fragment_count: l.fragment_count(),
                    parity: l.parity_count(),
                    stripe_size: stripe,
                    layout_version: LAYOUT_VERSION,
                    checksum: sum,
                    creation_time_ns: t,
                })
            })
    }

    proptest! {
        #[test]
        fn object_round_trip(r in records()) {
            prop_assert_eq!(ObjectRecord::decode(&r.encode().unwrap()).unwrap(), r);
        }

        #[test]
        fn opaque_round_trip(payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let framed = frame(RecordKind::Journal, &payload);
            prop_assert_eq!(unframe(RecordKind::Journal, &framed).unwrap(), payload.as_slice());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ObjectRecord::decode(&bytes);
            let _ = decode_mark(&bytes);
            let _ = unframe(RecordKind::Journal, &bytes);
        }

        #[test]
        fn framed_garbage_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ObjectRecord::decode(&frame(RecordKind::Object, &payload));
        }
    }
}
