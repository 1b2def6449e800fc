//! The cluster volume HomeBlock of FIG. 5, 6 and 6A: 84 bytes that tell a
//! returning member whether the volume changed while it was away.
//!
//! ```text
//! off size field
//!  0   1   major version (1)
//!  1   1   minor version (0)
//!  2   1   member count
//!  3   1   logical id (this member's unit id within the volume)
//!  4   4   cluster volume id (assigned at creation, never modified)
//!  8   4   cluster volume incarnation
//! 12   8   creation time, ns since the Unix epoch (FIG. 6: low word at 12, high at 16)
//! 20   4   state: bit 0 = dirty (written since the incarnation was advanced);
//!          other bits must be zero
//! 24  32   volume name, zero-padded
//! 56  24   MBZ
//! 80   4   CRC-32C of bytes 0..80
//! ```
//!
//! All integers little-endian. The catalog stores exactly these 84 bytes.
//!
//! Invariant: [`HomeBlock::decode`] never panics and accepts only blocks that
//! [`HomeBlock::encode`] could have produced.

use crate::checksum::{crc32c, le};
use crate::error::DecodeError;
use crate::volume_incarnation::VolumeIncarnation;

/// Encoded size.
pub const HOMEBLOCK_LEN: usize = 84;
/// Major version written and accepted.
pub const HOMEBLOCK_MAJOR: u8 = 1;
/// Minor version written and accepted.
pub const HOMEBLOCK_MINOR: u8 = 0;
/// State bit: the volume was written since its incarnation was last advanced.
pub const STATE_DIRTY: u32 = 1;
/// Length of the name field.
pub const VOLUME_NAME_LEN: usize = 32;

const WHAT: &str = "HomeBlock";
const STATE_KNOWN: u32 = STATE_DIRTY;

/// A decoded HomeBlock. (Serde derives are for the wire between members; on
/// disk it is always the 84-byte encoding.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct HomeBlock {
    /// Members participating in the volume.
    pub member_count: u8,
    /// This member's unit id within the volume.
    pub logical_id: u8,
    /// Cluster volume id.
    pub volume_id: u32,
    /// Cluster volume incarnation.
    pub incarnation: VolumeIncarnation,
    /// Creation time, ns since the Unix epoch.
    pub creation_time_ns: u64,
    /// State bits ([`STATE_DIRTY`]).
    pub state: u32,
    /// Volume name, zero-padded.
    pub name: [u8; VOLUME_NAME_LEN],
}

impl HomeBlock {
    /// A clean HomeBlock. `name` is truncated to 32 bytes (on a character boundary).
    pub fn new(
        volume_id: u32,
        member_count: u8,
        logical_id: u8,
        incarnation: VolumeIncarnation,
        creation_time_ns: u64,
        name: &str,
    ) -> HomeBlock {
        let mut field = [0u8; VOLUME_NAME_LEN];
        let mut end = name.len().min(VOLUME_NAME_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        field[..end].copy_from_slice(&name.as_bytes()[..end]);
        HomeBlock {
            member_count,
            logical_id,
            volume_id,
            incarnation,
            creation_time_ns,
            state: 0,
            name: field,
        }
    }

    /// True if the dirty bit is set.
    pub fn is_dirty(&self) -> bool {
        self.state & STATE_DIRTY != 0
    }

    /// Sets or clears the dirty bit.
    pub fn set_dirty(&mut self, dirty: bool) {
        if dirty {
            self.state |= STATE_DIRTY;
        } else {
            self.state &= !STATE_DIRTY;
        }
    }

    /// The controller's step when a member fails: next incarnation, dirty bit clear.
    pub fn advance_incarnation(&mut self) {
        self.incarnation = self.incarnation.next();
        self.set_dirty(false);
    }

    /// The name up to its first zero byte, lossily decoded.
    pub fn name_str(&self) -> String {
        let end = self
            .name
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(VOLUME_NAME_LEN);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    /// The 84-byte encoding.
    pub fn encode(&self) -> [u8; HOMEBLOCK_LEN] {
        let mut b = [0u8; HOMEBLOCK_LEN];
        b[0] = HOMEBLOCK_MAJOR;
        b[1] = HOMEBLOCK_MINOR;
        b[2] = self.member_count;
        b[3] = self.logical_id;
        b[4..8].copy_from_slice(&self.volume_id.to_le_bytes());
        b[8..12].copy_from_slice(&self.incarnation.get().to_le_bytes());
        b[12..20].copy_from_slice(&self.creation_time_ns.to_le_bytes());
        b[20..24].copy_from_slice(&self.state.to_le_bytes());
        b[24..56].copy_from_slice(&self.name);
        let sum = crc32c(&b[..80]);
        b[80..84].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// Decodes exactly 84 bytes.
    pub fn decode(b: &[u8]) -> Result<HomeBlock, DecodeError> {
        if b.len() < HOMEBLOCK_LEN {
            return Err(DecodeError::Truncated {
                what: WHAT,
                need: HOMEBLOCK_LEN,
                got: b.len(),
            });
        }
        if b.len() > HOMEBLOCK_LEN {
            return Err(DecodeError::TrailingBytes {
                what: WHAT,
                extra: b.len() - HOMEBLOCK_LEN,
            });
        }
        let (major, minor) = (le::u8_at(b, 0), le::u8_at(b, 1));
        if major != HOMEBLOCK_MAJOR || minor != HOMEBLOCK_MINOR {
            return Err(DecodeError::UnsupportedVersion {
                what: WHAT,
                major,
                minor,
            });
        }
        let stored = le::u32_at(b, 80);
        let computed = crc32c(b.get(..80).unwrap_or_default());
        if stored != computed {
            tracing::warn!(stored, computed, "HomeBlock checksum mismatch");
            return Err(DecodeError::ChecksumMismatch {
                what: WHAT,
                stored,
                computed,
            });
        }
        if let Some((offset, value)) = le::first_nonzero(b, 56, 80) {
            return Err(DecodeError::NonZeroMbz {
                what: WHAT,
                offset,
                value,
            });
        }
        let state = le::u32_at(b, 20);
        if state & !STATE_KNOWN != 0 {
            return Err(DecodeError::invalid(
                WHAT,
                "state",
                format!("unknown state bits {:#x}", state & !STATE_KNOWN),
            ));
        }
        Ok(HomeBlock {
            member_count: le::u8_at(b, 2),
            logical_id: le::u8_at(b, 3),
            volume_id: le::u32_at(b, 4),
            incarnation: VolumeIncarnation::new(le::u32_at(b, 8)),
            creation_time_ns: le::u64_at(b, 12),
            state,
            name: le::array(b, 24),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> HomeBlock {
        let mut h = HomeBlock::new(
            0xDEAD_BEEF,
            3,
            1,
            VolumeIncarnation::new(42),
            1_700_000_000_000_000_000,
            "vol-a",
        );
        h.set_dirty(true);
        h
    }

    fn resign(b: &mut [u8; HOMEBLOCK_LEN]) {
        let sum = crc32c(&b[..80]);
        b[80..].copy_from_slice(&sum.to_le_bytes());
    }

    #[test]
    fn fig6_offsets() {
        let b = sample().encode();
        assert_eq!(&b[0..4], &[1, 0, 3, 1]);
        assert_eq!(&b[4..8], &0xDEAD_BEEFu32.to_le_bytes());
        assert_eq!(&b[8..12], &42u32.to_le_bytes());
        assert_eq!(&b[12..20], &1_700_000_000_000_000_000u64.to_le_bytes());
        assert_eq!(&b[20..24], &1u32.to_le_bytes());
        assert_eq!(&b[24..29], b"vol-a");
        assert!(b[29..80].iter().all(|&x| x == 0));
        assert_eq!(&b[80..84], &crc32c(&b[..80]).to_le_bytes());
        assert_eq!(HomeBlock::decode(&b).unwrap(), sample());
        assert_eq!(sample().name_str(), "vol-a");
    }

    #[test]
    fn dirty_and_incarnation() {
        let mut h = sample();
        assert!(h.is_dirty());
        h.advance_incarnation();
        assert_eq!(h.incarnation, VolumeIncarnation::new(43));
        assert!(!h.is_dirty());
    }

    #[test]
    fn name_truncated_on_char_boundary() {
        let h = HomeBlock::new(1, 3, 0, VolumeIncarnation::new(0), 0, &"é".repeat(20));
        assert_eq!(h.name_str(), "é".repeat(16));
    }

    #[test]
    fn typed_errors() {
        let b = sample().encode();
        assert!(matches!(
            HomeBlock::decode(&b[..83]),
            Err(DecodeError::Truncated {
                need: 84,
                got: 83,
                ..
            })
        ));
        assert!(matches!(
            HomeBlock::decode(&[b.as_slice(), &[0]].concat()),
            Err(DecodeError::TrailingBytes { .. })
        ));
        let mut v = b;
        v[0] = 2;
        resign(&mut v);
        assert!(matches!(
            HomeBlock::decode(&v),
            Err(DecodeError::UnsupportedVersion { major: 2, .. })
        ));
        let mut v = b;
        v[60] = 1;
        resign(&mut v);
        assert!(matches!(
            HomeBlock::decode(&v),
            Err(DecodeError::NonZeroMbz { offset: 60, .. })
        ));
        let mut v = b;
        v[21] = 1;
        resign(&mut v);
        assert!(matches!(
            HomeBlock::decode(&v),
            Err(DecodeError::InvalidField { field: "state", .. })
        ));
        let mut v = b;
        v[10] ^= 1;
        assert!(matches!(
            HomeBlock::decode(&v),
            Err(DecodeError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let b = sample().encode();
        for bit in 0..HOMEBLOCK_LEN * 8 {
            let mut v = b;
            v[bit / 8] ^= 1 << (bit % 8);
            assert!(HomeBlock::decode(&v).is_err(), "bit {bit} undetected");
        }
    }

    proptest! {
        #[test]
        fn round_trip(vol in any::<u32>(), n in any::<u8>(), id in any::<u8>(), inc in any::<u32>(),
                      t in any::<u64>(), dirty in any::<bool>(), name in "\\PC{0,40}") {
            let mut h = HomeBlock::new(vol, n, id, VolumeIncarnation::new(inc), t, &name);
            h.set_dirty(dirty);
            prop_assert_eq!(HomeBlock::decode(&h.encode()).unwrap(), h);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = HomeBlock::decode(&bytes);
        }
    }
}
