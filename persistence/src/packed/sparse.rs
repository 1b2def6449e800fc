//! How one fragment image is stored in a segment: as is, or *sparse*, with
//! its longest run of zero bytes left out.
//!
//! An object smaller than a row is still striped as FIG. 9 says, so most of
//! its fragments' blocks are zero padding: a 4 KiB object on five members at
//! the 64 KiB stripe is five images of about 66 KB, three of them all zeros
//! past the header. Stored sparse, they take a few hundred bytes each.
//!
//! ```text
//! raw record:     the image itself (starts with FIG. 6D's major version, 1)
//! sparse record:  off size
//!                   0   8  magic "SCSPARS1" (its first byte is never 1)
//!                   8   4  image length (bytes, little-endian)
//!                  12   4  hole offset in the image
//!                  16   4  hole length
//!                  20   4  CRC-32C of bytes 0..20
//!                  24      the image without the hole
//! ```
//!
//! Invariants: [`decode`] never panics and gives back exactly the image
//! [`encode`] was given, or an error (a damaged record header is caught by
//! its CRC; the image's own checksums catch the rest, as for a file); a
//! record is sparse only when the hole saves more than its header
//! ([`MIN_HOLE_BYTES`]); the hole never covers the image's 512-byte header,
//! so a stored record still shows the FIG. 6D header right after its own.

use crate::checksum::crc32c;
use crate::fragment::HEADER_LEN;

/// The first bytes of a sparse record.
pub const MAGIC: [u8; 8] = *b"SCSPARS1";

/// Bytes of a sparse record's header.
pub const RECORD_HEADER_LEN: usize = 24;

/// The shortest zero run worth leaving out, in bytes.
pub const MIN_HOLE_BYTES: usize = 512;

/// Why stored bytes are not an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SparseError {
    #[error("sparse record header damaged (checksum mismatch)")]
    Checksum,
    #[error("sparse record of {stored} bytes does not match its header (image {image_len} bytes, hole {hole_at}+{hole_len})")]
    Shape {
        stored: usize,
        image_len: u32,
        hole_at: u32,
        hole_len: u32,
    },
}

/// The longest run of zero bytes in `image` past its header: (offset,
/// length). Word at a time (8 bytes), as it runs on every packed write: a
/// run worth leaving out ([`MIN_HOLE_BYTES`]) holds many zero words, and
/// its ends are found byte by byte around them.
fn longest_zero_run(image: &[u8]) -> (usize, usize) {
    const WORD: usize = 8;
    let mut best = (0, 0);
    let body = image.get(HEADER_LEN..).unwrap_or_default();
    let words = body.chunks_exact(WORD);
    let mut run: Option<usize> = None; // first zero word of the current run
    let close = |first_word: usize, end_word: usize, best: &mut (usize, usize)| {
        // Extend the run of whole zero words by the zero bytes around it.
        let mut start = HEADER_LEN + first_word * WORD;
        while start > HEADER_LEN && image[start - 1] == 0 {
            start -= 1;
        }
        let mut end = HEADER_LEN + end_word * WORD;
        while end < image.len() && image[end] == 0 {
            end += 1;
        }
        if end - start > best.1 {
            *best = (start, end - start);
        }
    };
    let count = body.len() / WORD;
    for (i, w) in words.enumerate() {
        let zero = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) == 0;
        match (zero, run) {
            (true, None) => run = Some(i),
            (false, Some(first)) => {
                close(first, i, &mut best);
                run = None;
            }
            _ => {}
        }
    }
    if let Some(first) = run {
        close(first, count, &mut best);
    }
    best
}

/// `bytes` without its trailing zeros: the length up to and including its
/// last non-zero byte. Word at a time: a one-row PUT trims every block of
/// its zero-padded row (FIG. 9 padding is the member's to add back).
pub fn trimmed_len(bytes: &[u8]) -> usize {
    const WORD: usize = 8;
    let whole = bytes.len() - bytes.len() % WORD;
    if let Some(end) = bytes[whole..].iter().rposition(|&b| b != 0) {
        return whole + end + 1;
    }
    let last_word = bytes[..whole]
        .rchunks_exact(WORD)
        .position(|w| u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) != 0);
    match last_word {
        None => 0,
        Some(from_end) => {
            let end = whole - from_end * WORD;
            let start = end - WORD;
            start
                + bytes[start..end]
                    .iter()
                    .rposition(|&b| b != 0)
                    .map_or(0, |i| i + 1)
        }
    }
}

/// The record that stores `image`: sparse when a zero run of at least
/// [`MIN_HOLE_BYTES`] can be left out, else the image itself.
pub fn encode(image: &[u8]) -> Vec<u8> {
    let (at, len) = longest_zero_run(image);
    let (Ok(image_len), Ok(hole_at), Ok(hole_len)) = (
        u32::try_from(image.len()),
        u32::try_from(at),
        u32::try_from(len),
    ) else {
        return image.to_vec();
    };
    if len < MIN_HOLE_BYTES {
        return image.to_vec();
    }
    let mut out = Vec::with_capacity(RECORD_HEADER_LEN + image.len() - len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&image_len.to_le_bytes());
    out.extend_from_slice(&hole_at.to_le_bytes());
    out.extend_from_slice(&hole_len.to_le_bytes());
    let crc = crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&image[..at]);
    out.extend_from_slice(&image[at + len..]);
    debug_assert_eq!(decode(out.clone()).as_deref(), Ok(image));
    out
}

/// A sparse record's header: (image length, hole offset, hole length), if
/// `head` starts with one (checked); `Ok(None)` for a raw record.
pub fn record_header(head: &[u8]) -> Result<Option<(u32, u32, u32)>, SparseError> {
    if !head.starts_with(&MAGIC) {
        return Ok(None);
    }
    let Some(h) = head.get(..RECORD_HEADER_LEN) else {
        return Err(SparseError::Checksum);
    };
    let word = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    if crc32c(&h[..20]) != word(20) {
        return Err(SparseError::Checksum);
    }
    Ok(Some((word(8), word(12), word(16))))
}

/// The image a stored record holds.
pub fn decode(stored: Vec<u8>) -> Result<Vec<u8>, SparseError> {
    let Some((image_len, hole_at, hole_len)) = record_header(&stored)? else {
        return Ok(stored);
    };
    let shape = || SparseError::Shape {
        stored: stored.len(),
        image_len,
        hole_at,
        hole_len,
    };
    let (n, at, len) = (image_len as usize, hole_at as usize, hole_len as usize);
    let fits = at >= HEADER_LEN
        && at.checked_add(len).is_some_and(|end| end <= n)
        && n <= super::MAX_IMAGE_BYTES
        && stored.len() == RECORD_HEADER_LEN + n - len;
    if !fits {
        return Err(shape());
    }
    let body = &stored[RECORD_HEADER_LEN..];
    let mut image = Vec::with_capacity(n);
    image.extend_from_slice(&body[..at]);
    image.resize(at + len, 0);
    image.extend_from_slice(&body[at..]);
    Ok(image)
}

/// Where the image's own bytes start in a stored record, and how many of
/// them are stored (for tools that walk segments, e.g. to inject rot past
/// the image's header): `None` if `head` is a damaged sparse header.
pub fn stored_image(head: &[u8], stored_len: u64) -> Option<(u64, u64)> {
    match record_header(head) {
        Ok(None) => Some((0, stored_len)),
        Ok(Some(_)) => Some((
            RECORD_HEADER_LEN as u64,
            stored_len.checked_sub(RECORD_HEADER_LEN as u64)?,
        )),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn image_with(data: &[u8], len: usize) -> Vec<u8> {
        let mut image = vec![1u8; HEADER_LEN];
        image.extend_from_slice(data);
        image.resize(len - 8, 0);
        image.extend_from_slice(&[7u8; 8]);
        image
    }

    #[test]
    fn a_padded_block_is_stored_in_a_few_hundred_bytes() {
        let image = image_with(b"hello", HEADER_LEN + 65536 + 4 + 8);
        let stored = encode(&image);
        assert!(stored.len() < HEADER_LEN + 64, "{}", stored.len());
        assert!(stored.starts_with(&MAGIC));
        assert_eq!(decode(stored).unwrap(), image);
    }

    #[test]
    fn random_blocks_are_stored_raw() {
        let data: Vec<u8> = (0..65536u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 1)
            .collect();
        let image = image_with(&data, HEADER_LEN + 65536 + 12);
        let stored = encode(&image);
        assert_eq!(stored, image);
        assert_eq!(decode(stored).unwrap(), image);
    }

    #[test]
    fn the_header_is_never_part_of_the_hole() {
        let mut image = vec![0u8; HEADER_LEN + 4096];
        image[HEADER_LEN + 100] = 9;
        let stored = encode(&image);
        let (_, at, _) = record_header(&stored).unwrap().unwrap();
        assert!(at as usize >= HEADER_LEN);
        assert_eq!(decode(stored).unwrap(), image);
    }

    #[test]
    fn a_damaged_record_header_is_an_error() {
        let image = image_with(b"x", HEADER_LEN + 8192);
        let mut stored = encode(&image);
        stored[13] ^= 0x40;
        assert_eq!(decode(stored.clone()), Err(SparseError::Checksum));
        assert_eq!(stored_image(&stored, stored.len() as u64), None);
    }

    proptest! {
        #[test]
        fn encode_then_decode_gives_the_image(
            runs in proptest::collection::vec((any::<bool>(), 1usize..3000), 0..12),
            tail in 0usize..64,
        ) {
            let mut image = vec![1u8; HEADER_LEN];
            for (zero, n) in runs {
                let b = if zero { 0 } else { 0x5a };
                image.extend(std::iter::repeat_n(b, n));
            }
            image.extend(std::iter::repeat_n(3u8, tail));
            let stored = encode(&image);
            prop_assert!(stored.len() <= image.len());
            let (skip, len) = stored_image(&stored, stored.len() as u64).unwrap();
            prop_assert_eq!(&stored[skip as usize..][..HEADER_LEN], &image[..HEADER_LEN]);
            prop_assert_eq!(skip + len, stored.len() as u64);
            prop_assert_eq!(decode(stored).unwrap(), image);
        }

        /// Trimming a word at a time ends where a byte-by-byte scan does.
        #[test]
        fn trimmed_len_is_the_byte_scan(
            bytes in proptest::collection::vec(prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 0..200),
            zeros in 0usize..40,
        ) {
            let mut bytes = bytes;
            bytes.resize(bytes.len() + zeros, 0);
            let byte_scan = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            prop_assert_eq!(trimmed_len(&bytes), byte_scan);
        }

        /// The word-at-a-time scan finds a longest run, as a byte-by-byte one
        /// does (for runs long enough to hold an aligned zero word).
        #[test]
        fn the_longest_zero_run_is_found(
            runs in proptest::collection::vec((any::<bool>(), 1usize..200), 0..30),
        ) {
            let mut image = vec![1u8; HEADER_LEN];
            for (zero, n) in runs {
                image.extend(std::iter::repeat_n(if zero { 0 } else { 7 }, n));
            }
            let (mut naive, mut cur) = (0, 0);
            for &b in &image[HEADER_LEN..] {
                cur = if b == 0 { cur + 1 } else { 0 };
                naive = naive.max(cur);
            }
            let (at, len) = longest_zero_run(&image);
            if naive >= 15 {
                prop_assert_eq!(len, naive);
                prop_assert!(image[at..at + len].iter().all(|&b| b == 0));
            }
        }

        #[test]
        fn damaged_records_never_panic(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            sparse in any::<bool>(),
        ) {
            if sparse && bytes.len() >= RECORD_HEADER_LEN {
                bytes[..8].copy_from_slice(&MAGIC);
                let crc = crc32c(&bytes[..20]);
                bytes[20..24].copy_from_slice(&crc.to_le_bytes());
            }
            let _ = decode(bytes);
        }
    }
}
