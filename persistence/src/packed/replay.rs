//! Walking a segment's records, and finding what an image is (its key) from
//! the image alone: what lets the index lag behind the segments.
//!
//! A record is self-describing: a sparse record's CRC'd header gives its
//! length, a raw one is a fragment image whose header gives it; every image
//! names its object, incarnation, index and count, so its key can be
//! computed. [`super::PackedFragments::open`] re-indexes the records
//! appended after the index's watermark (the appends whose index entries a
//! crash may have lost) with these.
//!
//! Invariants: a walk never reads past the file's end and never panics on
//! any bytes; it stops at the first record whose framing does not decode
//! (a torn tail: the bytes being appended when the member died). A record
//! whose framing decodes but whose image does not verify (a block checksum
//! fails) yields no key and is skipped, never indexed.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{packed_key, sparse};
use crate::fragment::{FragmentHeader, FragmentName, FragmentReader, HEADER_LEN};

/// One record of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Record {
    /// Where the record starts in the segment.
    pub at: u64,
    /// Bytes before the image's own (stored) bytes: the sparse header, or 0.
    pub skip: u64,
    /// Bytes of the image as stored (without a sparse record's hole).
    pub stored: u64,
}

impl Record {
    /// The record's whole length (what the index points at).
    pub fn len(&self) -> u64 {
        self.skip + self.stored
    }
}

/// The records of `file` (of `len` bytes) from offset `from` on, and where
/// the last whole one ends (the walk stops at a record that does not decode
/// or does not fit).
pub(super) fn records(file: &File, from: u64, len: u64) -> (Vec<Record>, u64) {
    let mut out = Vec::new();
    let mut at = from;
    let mut head = [0u8; sparse::RECORD_HEADER_LEN + HEADER_LEN];
    loop {
        let n = head.len().min(len.saturating_sub(at) as usize);
        if n < HEADER_LEN || file.read_exact_at(&mut head[..n], at).is_err() {
            break;
        }
        let (skip, stored) = match sparse::record_header(&head[..n]) {
            // A sparse record: its length is in its header.
            Ok(Some((image_len, _, hole_len))) => (
                sparse::RECORD_HEADER_LEN as u64,
                u64::from(image_len.saturating_sub(hole_len)),
            ),
            Ok(None) => {
                let Ok(h) = FragmentHeader::decode(&head[..HEADER_LEN]) else {
                    break;
                };
                let Ok(blocks) = h.block_count() else { break };
                let image = HEADER_LEN as u64
                    + blocks * (u64::from(h.stripe_size) + 4)
                    + h.name_tail_len() as u64;
                (0, image)
            }
            Err(_) => break,
        };
        let record = Record { at, skip, stored };
        let Some(end) = at.checked_add(record.len()).filter(|&e| e <= len) else {
            break;
        };
        out.push(record);
        at = end;
    }
    (out, at)
}

/// The key of the image a record holds (`stored`: the record's bytes), if
/// it decodes and every block verifies.
pub(super) fn key_of(label: &Path, stored: Vec<u8>) -> Option<String> {
    let image = sparse::decode(stored).ok()?;
    let reader = FragmentReader::from_image(label, image).ok()?;
    if !reader.verify_all().ok()?.iter().all(|c| c.ok()) {
        return None;
    }
    let h = reader.header();
    let name = FragmentName::new(
        reader.object_name(),
        h.incarnation,
        h.fragment_index,
        h.fragment_count,
    );
    Some(packed_key(&name))
}
