//! Self-identifying payloads.
//!
//! A payload of `len` bytes written by `client` as its operation `seq` on
//! `key` is a 28-byte header (magic `SCX1`, FNV-1a of the key, client, seq,
//! len; little-endian) followed by bytes that are a pure function of
//! (key, client, seq, offset). [`identify`] accepts a body only if it is
//! exactly that payload, byte for byte: a body that is the first bytes of
//! one write, or mixes blocks of two writes, or is another key's write,
//! matches nothing, and the reason says what it looked like.
//!
//! Invariant: `identify(key, &encode(key, id, len)) == Ok(id)` for every
//! `len >= MIN_LEN`, and any single changed, missing or extra byte makes
//! `identify` fail. Payloads are at least [`MIN_LEN`] long, not just the
//! header: with no stream bytes after it, a flipped bit in the header's
//! client or seq would read as another write's valid payload.

use std::fmt;

/// Bytes of the header.
pub const HEADER_LEN: usize = 28;
/// Shortest payload: the header and 8 stream bytes that depend on its id.
pub const MIN_LEN: usize = HEADER_LEN + 8;
const MAGIC: &[u8; 4] = b"SCX1";

/// Which write a payload belongs to (unique per key: a client's sequence numbers never repeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriteId {
    pub client: u32,
    pub seq: u64,
}

impl fmt::Display for WriteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}.{}", self.client, self.seq)
    }
}

impl std::str::FromStr for WriteId {
    type Err = String;

    /// Parses `c<client>.<seq>`, the form [`fmt::Display`] writes.
    fn from_str(s: &str) -> Result<WriteId, String> {
        let bad = || format!("{s:?} is not a write id (c<client>.<seq>)");
        let (c, q) = s
            .strip_prefix('c')
            .and_then(|r| r.split_once('.'))
            .ok_or_else(bad)?;
        Ok(WriteId {
            client: c.parse().map_err(|_| bad())?,
            seq: q.parse().map_err(|_| bad())?,
        })
    }
}

fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn stream_seed(key: &str, id: WriteId) -> u64 {
    (u64::from(fnv1a(key.as_bytes())) << 32 ^ u64::from(id.client)).wrapping_mul(0x9e37_79b9)
        ^ id.seq.rotate_left(17)
}

/// Fills `buf` with the body bytes at offsets `offset..offset + buf.len()` (offsets >= HEADER_LEN).
fn fill(seed: u64, offset: usize, buf: &mut [u8]) {
    debug_assert!(offset >= HEADER_LEN);
    let mut i = 0;
    while i < buf.len() {
        let at = offset + i;
        let word = splitmix(seed ^ (at / 8) as u64).to_le_bytes();
        let from = at % 8;
        let n = (8 - from).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&word[from..from + n]);
        i += n;
    }
}

fn encode_header(key: &str, id: WriteId, len: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(MAGIC);
    h[4..8].copy_from_slice(&fnv1a(key.as_bytes()).to_le_bytes());
    h[8..12].copy_from_slice(&id.client.to_le_bytes());
    h[12..20].copy_from_slice(&id.seq.to_le_bytes());
    h[20..28].copy_from_slice(&(len as u64).to_le_bytes());
    h
}

/// The payload of write `id` on `key`, `len` bytes long (at least [`MIN_LEN`]).
pub fn encode(key: &str, id: WriteId, len: usize) -> Vec<u8> {
    let len = len.max(MIN_LEN);
    let mut out = vec![0u8; len];
    out[..HEADER_LEN].copy_from_slice(&encode_header(key, id, len));
    fill(stream_seed(key, id), HEADER_LEN, &mut out[HEADER_LEN..]);
    out
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Why a body is no write of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// Shorter than any payload.
    Short { len: usize },
    /// No payload header; the first bytes.
    NoHeader { len: usize, first: [u8; 8] },
    /// The header of a write of another key.
    OtherKey { len: usize, id: WriteId },
    /// The header of write `id`, which is `claimed` bytes long, not `len`.
    Length {
        len: usize,
        id: WriteId,
        claimed: u64,
    },
    /// The header and length of write `id`, other bytes from `offset` on.
    Differs {
        len: usize,
        id: WriteId,
        offset: usize,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Short { len } => write!(f, "{len} bytes, shorter than any payload"),
            Mismatch::NoHeader { len, first } => {
                write!(f, "{len} bytes with no payload header (starts {first:02x?})")
            }
            Mismatch::OtherKey { len, id } => {
                write!(f, "{len} bytes whose header is write {id} of another key")
            }
            Mismatch::Length { len, id, claimed } => {
                write!(f, "{len} bytes whose header is write {id} of {claimed} bytes")
            }
            Mismatch::Differs { len, id, offset } => write!(
                f,
                "{len} bytes whose header is write {id}, differing from it at offset {offset} (block of 64 KiB #{})",
                offset / 65536
            ),
        }
    }
}

/// Whether `body[range]` holds write `id`'s bytes (of a `len`-byte payload of `key`) there.
pub fn matches_at(
    key: &str,
    id: WriteId,
    len: usize,
    body: &[u8],
    range: std::ops::Range<usize>,
) -> bool {
    if range.end > len || range.end > body.len() || range.start >= range.end {
        return false;
    }
    let header = encode_header(key, id, len);
    let seed = stream_seed(key, id);
    let mut expect = [0u8; 4096];
    let mut at = range.start;
    while at < range.end {
        let n = if at < HEADER_LEN {
            let n = (HEADER_LEN - at).min(range.end - at);
            expect[..n].copy_from_slice(&header[at..at + n]);
            n
        } else {
            let n = (range.end - at).min(expect.len());
            fill(seed, at, &mut expect[..n]);
            n
        };
        if expect[..n] != body[at..at + n] {
            return false;
        }
        at += n;
    }
    true
}

/// Which write of `key` `body` is, or why it is none.
pub fn identify(key: &str, body: &[u8]) -> Result<WriteId, Mismatch> {
    let len = body.len();
    if len < MIN_LEN {
        return Err(Mismatch::Short { len });
    }
    if &body[0..4] != MAGIC {
        let mut first = [0u8; 8];
        first.copy_from_slice(&body[..8]);
        return Err(Mismatch::NoHeader { len, first });
    }
    let id = WriteId {
        client: le_u32(&body[8..12]),
        seq: le_u64(&body[12..20]),
    };
    let claimed_len = le_u64(&body[20..28]);
    if le_u32(&body[4..8]) != fnv1a(key.as_bytes()) {
        return Err(Mismatch::OtherKey { len, id });
    }
    if claimed_len != len as u64 {
        return Err(Mismatch::Length {
            len,
            id,
            claimed: claimed_len,
        });
    }
    let seed = stream_seed(key, id);
    let mut expect = [0u8; 4096];
    let mut at = HEADER_LEN;
    while at < body.len() {
        let n = (body.len() - at).min(expect.len());
        fill(seed, at, &mut expect[..n]);
        if let Some(d) = (0..n).find(|&j| expect[j] != body[at + j]) {
            return Err(Mismatch::Differs {
                len,
                id,
                offset: at + d,
            });
        }
        at += n;
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: WriteId = WriteId { client: 3, seq: 17 };

    #[test]
    fn write_ids_round_trip_as_text() {
        assert_eq!("c3.17".parse::<WriteId>(), Ok(ID));
        assert_eq!(ID.to_string().parse::<WriteId>(), Ok(ID));
        assert!("3.17".parse::<WriteId>().is_err());
        assert!("c3-17".parse::<WriteId>().is_err());
    }

    #[test]
    fn identifies_its_own_write_at_every_size() {
        for len in [MIN_LEN, 40, 1000, 65536, 65537, 786_439, 1_300_000] {
            let body = encode("k01", ID, len);
            assert_eq!(body.len(), len);
            assert_eq!(identify("k01", &body), Ok(ID));
        }
    }

    #[test]
    fn refuses_prefixes_mixes_and_other_keys() {
        let a = encode("k01", ID, 300_000);
        let b = encode("k01", WriteId { client: 1, seq: 2 }, 300_000);
        // The first 1,000 bytes of a longer write.
        assert!(identify("k01", &a[..1000])
            .unwrap_err()
            .to_string()
            .contains("of 300000 bytes"));
        // One 64 KiB block of another write.
        let mut mixed = a.clone();
        mixed[65536..131072].copy_from_slice(&b[65536..131072]);
        let why = identify("k01", &mixed).unwrap_err();
        assert_eq!(
            why,
            Mismatch::Differs {
                len: 300_000,
                id: ID,
                offset: 65536
            }
        );
        assert!(why.to_string().contains("offset 65536"), "{why}");
        // The wrong block is recognisably b's, the rest a's.
        let other = WriteId { client: 1, seq: 2 };
        assert!(matches_at("k01", other, 300_000, &mixed, 65536..131072));
        assert!(!matches_at("k01", ID, 300_000, &mixed, 65536..131072));
        assert!(matches_at("k01", ID, 300_000, &mixed, 0..65536));
        assert!(matches_at("k01", ID, 300_000, &a[..1000], 0..1000));
        assert!(!matches_at("k01", ID, 300_000, &a[..1000], 0..1001));
        // Another key's write.
        assert!(identify("k02", &a)
            .unwrap_err()
            .to_string()
            .contains("another key"));
        // Zeros.
        assert!(identify("k01", &[0u8; 100]).is_err());
        assert!(identify("k01", &[]).is_err());
    }

    proptest! {
        #[test]
        fn any_single_byte_change_is_caught(len in MIN_LEN..5000usize, at in any::<prop::sample::Index>(), x in 1u8..=255) {
            let mut body = encode("key", ID, len);
            let i = at.index(len);
            body[i] ^= x;
            prop_assert!(identify("key", &body).is_err());
        }

        #[test]
        fn distinct_writes_have_distinct_bodies(s1 in 0u64..1000, s2 in 0u64..1000) {
            prop_assume!(s1 != s2);
            let a = encode("key", WriteId { client: 0, seq: s1 }, 200);
            let b = encode("key", WriteId { client: 0, seq: s2 }, 200);
            prop_assert_ne!(&a[HEADER_LEN..], &b[HEADER_LEN..]);
        }
    }
}
