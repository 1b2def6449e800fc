//! The 512-byte header block of a named fragment file (FIG. 6D), with our
//! extension fields in its reserved area.
//!
//! ```text
//! off  size  field                                  (FIG. 6D unless marked ext)
//!   0    1   major version = 1
//!   1    1   minor version = 1 (0 is the bare patent format: no extension, refused)
//!   2    1   fragment count N (members of the layout)
//!   3    1   RAID level: 0, 1 (2-member mirror), 5 (XOR), 6 (Reed-Solomon m >= 2)
//!   4    4   stripe size in bytes
//!   8    4   object incarnation
//!  12    8   creation time, ns since the Unix epoch
//!  20   32   object name, zero-padded, truncated to 32 bytes
//!  52    1   ext: fragment index (= member column, 0-based, < N)
//!  53    1   ext: parity count m
//!  54    1   ext: parity code: 0 none, 1 XOR, 2 Reed-Solomon GF(2^8) (codec::rs)
//!  55    1   ext: per-block checksum kind: 1 CRC-32C (4 bytes per block)
//!  56    8   ext: object length in bytes
//!  64    8   ext: block count of this fragment (= rows of the object)
//!  72    2   ext: full name length L, 1..=1024
//!  74    1   ext: full name placement: 0 inline at 80, 1 in the file's name tail
//!  75    1   ext: MBZ
//!  76    4   ext: CRC-32C of the full name
//!  80  428   ext: full name, zero-padded, when placement 0 (L <= 428); MBZ otherwise
//! 508    4   CRC-32C of bytes 0..508
//! ```
//!
//! The placement is canonical: names up to [`INLINE_NAME_MAX`] bytes are inline,
//! longer ones in the tail, so every header has exactly one encoding. All
//! integers are little-endian.
//!
//! Versioning: the major number changes the meaning of FIG. 6D's fields; the
//! minor number versions the extension area. A reader accepts only the minor
//! numbers it knows, because unknown extension fields would otherwise fail the
//! MBZ check or, worse, be ignored.
//!
//! Invariant: [`FragmentHeader::decode`] never panics; every header it accepts
//! is self-consistent (layout, RAID level, parity code, block count and object
//! length agree), so a reader can trust the arithmetic it derives from it.

use crate::checksum::{crc32c, le, ChecksumKind};
use crate::codec::rs::RS_CODE_ID;
use crate::error::DecodeError;
use crate::incarnation::Incarnation;
use crate::layout::{check_stripe, Layout, RaidLevel};

/// Size of the header block.
pub const HEADER_LEN: usize = 512;
/// Major version written and accepted.
pub const MAJOR: u8 = 1;
/// Minor version written and accepted (the extension-area layout above).
pub const MINOR: u8 = 1;
/// Longest object name (bytes of UTF-8).
pub const MAX_NAME_LEN: usize = 1024;
/// Longest name kept inline in the header; longer names go to the name tail.
pub const INLINE_NAME_MAX: usize = CHECKSUM_OFF - NAME_INLINE_OFF;
/// Length of FIG. 6D's name field.
pub const SHORT_NAME_LEN: usize = 32;

/// Parity code byte: no parity.
pub const PARITY_CODE_NONE: u8 = 0;
/// Parity code byte: XOR.
pub const PARITY_CODE_XOR: u8 = 1;

const WHAT: &str = "fragment header";
const SHORT_NAME_OFF: usize = 20;
const NAME_LEN_OFF: usize = 72;
const NAME_PLACEMENT_OFF: usize = 74;
const NAME_CRC_OFF: usize = 76;
const NAME_INLINE_OFF: usize = 80;
const CHECKSUM_OFF: usize = 508;

/// Where the full object name is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderName {
    /// The name itself (inline in the header, or already read from the tail).
    Full(String),
    /// In the name tail of the file, not yet read: its length and CRC-32C.
    InTail {
        /// Bytes.
        len: u16,
        /// CRC-32C of the name bytes.
        crc: u32,
    },
}

/// A decoded fragment header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentHeader {
    /// Fragment count N (members of the layout).
    pub fragment_count: u8,
    /// Parity blocks per row m.
    pub parity: u8,
    /// This fragment's index (member column) in `0..N`.
    pub fragment_index: u8,
    /// Stripe (block) size in bytes.
    pub stripe_size: u32,
    /// Object incarnation.
    pub incarnation: Incarnation,
    /// Creation time, ns since the Unix epoch.
    pub creation_time_ns: u64,
    /// Object length in bytes.
    pub object_len: u64,
    /// Per-block checksum algorithm.
    pub checksum_kind: ChecksumKind,
    /// The object name.
    pub name: HeaderName,
}

/// The parity code byte a layout's fragments carry.
pub fn parity_code_for(layout: &Layout) -> u8 {
    match layout.parity() {
        0 => PARITY_CODE_NONE,
        1 => PARITY_CODE_XOR,
        _ => RS_CODE_ID,
    }
}

/// Validates an object name: 1..=1024 bytes (it is UTF-8 by construction).
pub fn check_name(name: &str) -> Result<(), DecodeError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(DecodeError::invalid(
            WHAT,
            "name",
            format!("length {} not in 1..={MAX_NAME_LEN}", name.len()),
        ));
    }
    Ok(())
}

impl FragmentHeader {
    /// The layout the header describes.
    pub fn layout(&self) -> Result<Layout, DecodeError> {
        Layout::new(usize::from(self.fragment_count), usize::from(self.parity))
            .map_err(|e| DecodeError::invalid(WHAT, "fragment count / parity", e.to_string()))
    }

    /// RAID level implied by the layout.
    pub fn raid_level(&self) -> Result<RaidLevel, DecodeError> {
        Ok(self.layout()?.raid_level())
    }

    /// Blocks in this fragment (rows of the object).
    pub fn block_count(&self) -> Result<u64, DecodeError> {
        Ok(self
            .layout()?
            .geometry(self.object_len, self.stripe_size)
            .rows())
    }

    /// The full name, if known (always, once read through a `FragmentReader`).
    pub fn full_name(&self) -> Option<&str> {
        match &self.name {
            HeaderName::Full(s) => Some(s),
            HeaderName::InTail { .. } => None,
        }
    }

    /// Name bytes that belong in the file's name tail (names longer than
    /// [`INLINE_NAME_MAX`]), empty otherwise.
    pub fn name_tail(&self) -> &[u8] {
        match &self.name {
            HeaderName::Full(s) if s.len() > INLINE_NAME_MAX => s.as_bytes(),
            _ => &[],
        }
    }

    /// Length of the name tail in the file.
    pub fn name_tail_len(&self) -> usize {
        match &self.name {
            HeaderName::Full(s) if s.len() > INLINE_NAME_MAX => s.len(),
            HeaderName::InTail { len, .. } => usize::from(*len),
            _ => 0,
        }
    }

    /// Replaces an [`HeaderName::InTail`] by the name read from the tail, checking
    /// its length, CRC and UTF-8.
    pub fn attach_name_tail(&mut self, tail: &[u8]) -> Result<(), DecodeError> {
        if let HeaderName::InTail { len, crc } = self.name {
            if tail.len() != usize::from(len) {
                return Err(DecodeError::Truncated {
                    what: "fragment name tail",
                    need: usize::from(len),
                    got: tail.len(),
                });
            }
            let computed = crc32c(tail);
            if computed != crc {
                return Err(DecodeError::ChecksumMismatch {
                    what: "fragment name tail",
                    stored: crc,
                    computed,
                });
            }
            let s = std::str::from_utf8(tail)
                .map_err(|e| DecodeError::invalid("fragment name tail", "name", e.to_string()))?;
            self.name = HeaderName::Full(s.to_owned());
        }
        Ok(())
    }

    /// Checks that the fields describe a fragment that can exist.
    pub fn validate(&self) -> Result<(), DecodeError> {
        let layout = self.layout()?;
        if self.fragment_index >= self.fragment_count {
            return Err(DecodeError::invalid(
                WHAT,
                "fragment index",
                format!("{} >= count {}", self.fragment_index, self.fragment_count),
            ));
        }
        check_stripe(u64::from(self.stripe_size))
            .map_err(|e| DecodeError::invalid(WHAT, "stripe size", e.to_string()))?;
        // The file length (header + blocks + table + tail) must fit in a u64.
        let rows = layout.geometry(self.object_len, self.stripe_size).rows();
        let per_block = u64::from(self.stripe_size) + self.checksum_kind.size() as u64;
        if rows.checked_mul(per_block).is_none_or(|b| b > u64::MAX / 2) {
            return Err(DecodeError::invalid(WHAT, "object length", "too large"));
        }
        match &self.name {
            HeaderName::Full(s) => check_name(s)?,
            HeaderName::InTail { len, .. } => {
                let len = usize::from(*len);
                if len <= INLINE_NAME_MAX || len > MAX_NAME_LEN {
                    return Err(DecodeError::invalid(
                        WHAT,
                        "name length",
                        format!("{len} is not a tail length"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The 512-byte header block.
    pub fn encode(&self) -> Result<[u8; HEADER_LEN], DecodeError> {
        self.validate()?;
        let layout = self.layout()?;
        let mut b = [0u8; HEADER_LEN];
        b[0] = MAJOR;
        b[1] = MINOR;
        b[2] = self.fragment_count;
        b[3] = layout.raid_level().as_u8();
        b[4..8].copy_from_slice(&self.stripe_size.to_le_bytes());
        b[8..12].copy_from_slice(&self.incarnation.get().to_le_bytes());
        b[12..20].copy_from_slice(&self.creation_time_ns.to_le_bytes());
        b[52] = self.fragment_index;
        b[53] = self.parity;
        b[54] = parity_code_for(&layout);
        b[55] = self.checksum_kind.as_u8();
        b[56..64].copy_from_slice(&self.object_len.to_le_bytes());
        b[64..72].copy_from_slice(
            &layout
                .geometry(self.object_len, self.stripe_size)
                .rows()
                .to_le_bytes(),
        );
        let (len, crc, short): (u16, u32, &[u8]) = match &self.name {
            HeaderName::Full(s) => {
                let bytes = s.as_bytes();
                // check_name in validate bounds the length to 1024.
                (bytes.len() as u16, crc32c(bytes), bytes)
            }
            HeaderName::InTail { .. } => {
                return Err(DecodeError::invalid(
                    WHAT,
                    "name",
                    "cannot encode a header whose name was not read",
                ))
            }
        };
        let short_len = short.len().min(SHORT_NAME_LEN);
        b[SHORT_NAME_OFF..SHORT_NAME_OFF + short_len].copy_from_slice(&short[..short_len]);
        b[NAME_LEN_OFF..NAME_LEN_OFF + 2].copy_from_slice(&len.to_le_bytes());
        b[NAME_CRC_OFF..NAME_CRC_OFF + 4].copy_from_slice(&crc.to_le_bytes());
        if short.len() <= INLINE_NAME_MAX {
            b[NAME_PLACEMENT_OFF] = 0;
            b[NAME_INLINE_OFF..NAME_INLINE_OFF + short.len()].copy_from_slice(short);
        } else {
            b[NAME_PLACEMENT_OFF] = 1;
        }
        let sum = crc32c(&b[..CHECKSUM_OFF]);
        b[CHECKSUM_OFF..].copy_from_slice(&sum.to_le_bytes());
        Ok(b)
    }

    /// Decodes a header block. Exactly [`HEADER_LEN`] bytes.
    pub fn decode(b: &[u8]) -> Result<FragmentHeader, DecodeError> {
        if b.len() < HEADER_LEN {
            return Err(DecodeError::Truncated {
                what: WHAT,
                need: HEADER_LEN,
                got: b.len(),
            });
        }
        if b.len() > HEADER_LEN {
            return Err(DecodeError::TrailingBytes {
                what: WHAT,
                extra: b.len() - HEADER_LEN,
            });
        }
        let (major, minor) = (le::u8_at(b, 0), le::u8_at(b, 1));
        if major != MAJOR || minor != MINOR {
            return Err(DecodeError::UnsupportedVersion {
                what: WHAT,
                major,
                minor,
            });
        }
        let stored = le::u32_at(b, CHECKSUM_OFF);
        let computed = crc32c(b.get(..CHECKSUM_OFF).unwrap_or_default());
        if stored != computed {
            tracing::warn!(stored, computed, "fragment header checksum mismatch");
            return Err(DecodeError::ChecksumMismatch {
                what: WHAT,
                stored,
                computed,
            });
        }
        if let Some((offset, value)) = le::first_nonzero(b, 75, 76) {
            return Err(DecodeError::NonZeroMbz {
                what: WHAT,
                offset,
                value,
            });
        }
        let fragment_count = le::u8_at(b, 2);
        let raid = le::u8_at(b, 3);
        let parity = le::u8_at(b, 53);
        let parity_code = le::u8_at(b, 54);
        let checksum_kind = ChecksumKind::from_u8(le::u8_at(b, 55)).ok_or_else(|| {
            DecodeError::invalid(
                WHAT,
                "checksum kind",
                format!("unknown kind {}", le::u8_at(b, 55)),
            )
        })?;
        let name_len = le::u16_at(b, NAME_LEN_OFF);
        let name_crc = le::u32_at(b, NAME_CRC_OFF);
        let name = match le::u8_at(b, NAME_PLACEMENT_OFF) {
            0 => {
                let len = usize::from(name_len);
                if len == 0 || len > INLINE_NAME_MAX {
                    return Err(DecodeError::invalid(
                        WHAT,
                        "name length",
                        format!("{len} cannot be inline"),
                    ));
                }
                let end = NAME_INLINE_OFF + len;
                if let Some((offset, value)) = le::first_nonzero(b, end, CHECKSUM_OFF) {
                    return Err(DecodeError::NonZeroMbz {
                        what: WHAT,
                        offset,
                        value,
                    });
                }
                let bytes = b.get(NAME_INLINE_OFF..end).unwrap_or_default();
                let computed = crc32c(bytes);
                if computed != name_crc {
                    return Err(DecodeError::ChecksumMismatch {
                        what: "fragment header name",
                        stored: name_crc,
                        computed,
                    });
                }
                let s = std::str::from_utf8(bytes)
                    .map_err(|e| DecodeError::invalid(WHAT, "name", e.to_string()))?;
                HeaderName::Full(s.to_owned())
            }
            1 => {
                if let Some((offset, value)) = le::first_nonzero(b, NAME_INLINE_OFF, CHECKSUM_OFF) {
                    return Err(DecodeError::NonZeroMbz {
                        what: WHAT,
                        offset,
                        value,
                    });
                }
                HeaderName::InTail {
                    len: name_len,
                    crc: name_crc,
                }
            }
            other => {
                return Err(DecodeError::invalid(
                    WHAT,
                    "name placement",
                    format!("unknown placement {other}"),
                ))
            }
        };
        let h = FragmentHeader {
            fragment_count,
            parity,
            fragment_index: le::u8_at(b, 52),
            stripe_size: le::u32_at(b, 4),
            incarnation: Incarnation::new(le::u32_at(b, 8)),
            creation_time_ns: le::u64_at(b, 12),
            object_len: le::u64_at(b, 56),
            checksum_kind,
            name,
        };
        h.validate()?;
        let layout = h.layout()?;
        if raid != layout.raid_level().as_u8() {
            return Err(DecodeError::invalid(
                WHAT,
                "RAID level",
                format!(
                    "{raid} does not match {} members with parity {}",
                    fragment_count, parity
                ),
            ));
        }
        if parity_code != parity_code_for(&layout) {
            return Err(DecodeError::invalid(
                WHAT,
                "parity code",
                format!("{parity_code} unknown to this build for parity {parity}"),
            ));
        }
        let rows = le::u64_at(b, 64);
        if rows != layout.geometry(h.object_len, h.stripe_size).rows() {
            return Err(DecodeError::invalid(
                WHAT,
                "block count",
                format!("{rows} does not match the object length {}", h.object_len),
            ));
        }
        // FIG. 6D's short name must be the (truncated) full name, or it is stale.
        let short = b
            .get(SHORT_NAME_OFF..SHORT_NAME_OFF + SHORT_NAME_LEN)
            .unwrap_or_default();
        let expected_short: Vec<u8> = match &h.name {
            HeaderName::Full(s) => {
                let mut v = s.as_bytes()[..s.len().min(SHORT_NAME_LEN)].to_vec();
                v.resize(SHORT_NAME_LEN, 0);
                v
            }
            // Tail names are longer than 32 bytes: the field is full, checked once read.
            HeaderName::InTail { .. } => short.to_vec(),
        };
        if short != expected_short.as_slice() {
            return Err(DecodeError::invalid(
                WHAT,
                "short name",
                "does not match the full name",
            ));
        }
        Ok(h)
    }

    /// FIG. 6D's 32-byte name field of an encoded header (for display).
    pub fn short_name(block: &[u8]) -> String {
        let raw = block
            .get(SHORT_NAME_OFF..SHORT_NAME_OFF + SHORT_NAME_LEN)
            .unwrap_or_default();
        let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
        String::from_utf8_lossy(&raw[..end]).into_owned()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample(name: &str) -> FragmentHeader {
        FragmentHeader {
            fragment_count: 3,
            parity: 1,
            fragment_index: 1,
            stripe_size: 65536,
            incarnation: Incarnation::new(7),
            creation_time_ns: 1_700_000_000_123_456_789,
            object_len: 5 * 65536 + 17,
            checksum_kind: ChecksumKind::Crc32c,
            name: HeaderName::Full(name.to_owned()),
        }
    }

    fn resign(b: &mut [u8; HEADER_LEN]) {
        let sum = crc32c(&b[..CHECKSUM_OFF]);
        b[CHECKSUM_OFF..].copy_from_slice(&sum.to_le_bytes());
    }

    #[test]
    fn fig6d_offsets() {
        let h = sample("movies/trailer.mp4");
        let b = h.encode().unwrap();
        assert_eq!(b[0], 1);
        assert_eq!(b[1], MINOR);
        assert_eq!(b[2], 3);
        assert_eq!(b[3], 5);
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 65536);
        assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 7);
        assert_eq!(
            u64::from_le_bytes(b[12..20].try_into().unwrap()),
            1_700_000_000_123_456_789
        );
        assert_eq!(&b[20..38], b"movies/trailer.mp4");
        assert!(b[38..52].iter().all(|&x| x == 0));
        assert_eq!(b[52], 1);
        assert_eq!(b[53], 1);
        assert_eq!(b[54], PARITY_CODE_XOR);
        assert_eq!(b[55], 1);
        assert_eq!(
            u64::from_le_bytes(b[56..64].try_into().unwrap()),
            5 * 65536 + 17
        );
        assert_eq!(u64::from_le_bytes(b[64..72].try_into().unwrap()), 3);
        assert_eq!(u16::from_le_bytes(b[72..74].try_into().unwrap()), 18);
        assert_eq!(&b[80..98], b"movies/trailer.mp4");
        assert_eq!(
            u32::from_le_bytes(b[508..512].try_into().unwrap()),
            crc32c(&b[..508])
        );
        assert_eq!(FragmentHeader::decode(&b).unwrap(), h);
        assert_eq!(FragmentHeader::short_name(&b), "movies/trailer.mp4");
    }

    #[test]
    fn long_names_go_to_the_tail() {
        let name = "x/".repeat(300);
        let h = sample(&name);
        let b = h.encode().unwrap();
        assert_eq!(b[74], 1);
        assert_eq!(h.name_tail(), name.as_bytes());
        let mut d = FragmentHeader::decode(&b).unwrap();
        assert_eq!(d.full_name(), None);
        assert_eq!(d.name_tail_len(), 600);
        assert!(d.attach_name_tail(b"short").is_err());
        let mut bad = name.clone().into_bytes();
        bad[3] ^= 1;
        assert!(matches!(
            d.attach_name_tail(&bad),
            Err(DecodeError::ChecksumMismatch { .. })
        ));
        d.attach_name_tail(name.as_bytes()).unwrap();
        assert_eq!(d, h);
    }

    #[test]
    fn typed_errors() {
        let b = sample("a").encode().unwrap();
        assert!(matches!(
            FragmentHeader::decode(&b[..100]),
            Err(DecodeError::Truncated {
                need: 512,
                got: 100,
                ..
            })
        ));
        let mut long = b.to_vec();
        long.push(0);
        assert!(matches!(
            FragmentHeader::decode(&long),
            Err(DecodeError::TrailingBytes { extra: 1, .. })
        ));
        let mut v = b;
        v[0] = 2;
        resign(&mut v);
        assert!(matches!(
            FragmentHeader::decode(&v),
            Err(DecodeError::UnsupportedVersion { major: 2, .. })
        ));
        let mut v = b;
        v[1] = 0;
        resign(&mut v);
        assert!(matches!(
            FragmentHeader::decode(&v),
            Err(DecodeError::UnsupportedVersion { minor: 0, .. })
        ));
        let mut v = b;
        v[400] = 9;
        resign(&mut v);
        assert!(matches!(
            FragmentHeader::decode(&v),
            Err(DecodeError::NonZeroMbz {
                offset: 400,
                value: 9,
                ..
            })
        ));
        let mut v = b;
        v[75] = 1;
        resign(&mut v);
        assert!(matches!(
            FragmentHeader::decode(&v),
            Err(DecodeError::NonZeroMbz { offset: 75, .. })
        ));
        let mut v = b;
        v[300] ^= 4;
        assert!(matches!(
            FragmentHeader::decode(&v),
            Err(DecodeError::ChecksumMismatch { .. })
        ));
        let mut v = b;
        v[3] = 6;
        resign(&mut v);
        assert!(matches!(
            FragmentHeader::decode(&v),
            Err(DecodeError::InvalidField {
                field: "RAID level",
                ..
            })
        ));
        let mut v = b;
        v[64] += 1;
        resign(&mut v);
        assert!(matches!(
            FragmentHeader::decode(&v),
            Err(DecodeError::InvalidField {
                field: "block count",
                ..
            })
        ));
        let mut v = b;
        v[52] = 3;
        resign(&mut v);
        assert!(matches!(
            FragmentHeader::decode(&v),
            Err(DecodeError::InvalidField {
                field: "fragment index",
                ..
            })
        ));
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        for name in ["movie", &"long-name/".repeat(60)] {
            let b = sample(name).encode().unwrap();
            for bit in 0..HEADER_LEN * 8 {
                let mut v = b;
                v[bit / 8] ^= 1 << (bit % 8);
                assert!(FragmentHeader::decode(&v).is_err(), "bit {bit} undetected");
            }
        }
    }

    fn headers() -> impl Strategy<Value = FragmentHeader> {
        (
            (1usize..=255, 0usize..=8, any::<u8>()),
            (1u32..=1024).prop_map(|s| s * 64),
            any::<u32>(),
            any::<u64>(),
            0u64..(1 << 40),
            "\\PC{1,40}|[a-z/]{400,1024}",
        )
            .prop_filter_map(
                "valid layout",
                |((n, m, idx), stripe, inc, t, len, name)| {
                    let layout = Layout::new(n, m).ok()?;
                    let name = truncate_utf8(name, MAX_NAME_LEN);
                    Some(FragmentHeader {
                        fragment_count: layout.fragment_count(),
                        parity: layout.parity_count(),
                        fragment_index: idx % layout.fragment_count(),
                        stripe_size: stripe,
                        incarnation: Incarnation::new(inc),
                        creation_time_ns: t,
                        object_len: len,
                        checksum_kind: ChecksumKind::Crc32c,
                        name: HeaderName::Full(name),
                    })
                },
            )
    }

    fn truncate_utf8(mut s: String, max: usize) -> String {
        while s.len() > max {
            s.pop();
        }
        s
    }

    proptest! {
        #[test]
        fn round_trip(h in headers()) {
            let b = h.encode().unwrap();
            let mut d = FragmentHeader::decode(&b).unwrap();
            d.attach_name_tail(h.name_tail()).unwrap();
            prop_assert_eq!(d, h);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = FragmentHeader::decode(&bytes);
        }

        #[test]
        fn signed_garbage_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 512)) {
            bytes[0] = MAJOR;
            bytes[1] = MINOR;
            let sum = crc32c(&bytes[..CHECKSUM_OFF]);
            bytes[CHECKSUM_OFF..].copy_from_slice(&sum.to_le_bytes());
            let _ = FragmentHeader::decode(&bytes);
        }
    }
}
