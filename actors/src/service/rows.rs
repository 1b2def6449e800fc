//! [`RowCutter`]: cuts a streamed PUT body into whole rows (FIG. 9: a row is
//! one stripe block per data member), counting the object's length and its
//! CRC-32C on the way. Pure state, no I/O: the PUT feeds it the body's
//! chunks as they arrive and sends each row it returns.
//!
//! Invariants: every row returned is exactly `row_bytes` long; the rows,
//! concatenated, are the bytes pushed, the last one padded with zeros
//! (the length says where the object ends); rows come out in order.

use stripecast_persistence::checksum::crc32c_append;

/// Cuts a byte stream into rows of `row_bytes`.
#[derive(Debug)]
pub(crate) struct RowCutter {
    row_bytes: usize,
    buf: Vec<u8>,
    length: u64,
    crc: u32,
}

impl RowCutter {
    pub(crate) fn new(row_bytes: usize) -> RowCutter {
        debug_assert!(row_bytes > 0);
        RowCutter {
            row_bytes,
            buf: Vec::with_capacity(row_bytes),
            length: 0,
            crc: 0,
        }
    }

    /// Takes the next chunk of the body; answers the rows it completed.
    pub(crate) fn push(&mut self, mut chunk: &[u8]) -> Vec<Vec<u8>> {
        self.crc = crc32c_append(self.crc, chunk);
        self.length += chunk.len() as u64;
        let mut rows = Vec::new();
        while !chunk.is_empty() {
            let take = (self.row_bytes - self.buf.len()).min(chunk.len());
            self.buf.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.buf.len() == self.row_bytes {
                let next = Vec::with_capacity(self.row_bytes);
                rows.push(std::mem::replace(&mut self.buf, next));
            }
        }
        rows
    }

    /// The body ended: the last, partial row padded with zeros (none when
    /// the body filled its rows exactly), the object's length and CRC-32C.
    pub(crate) fn finish(mut self) -> (Option<Vec<u8>>, u64, u32) {
        let last = (!self.buf.is_empty()).then(|| {
            self.buf.resize(self.row_bytes, 0);
            self.buf
        });
        (last, self.length, self.crc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rows_by_table() {
        // (row bytes, chunk sizes) -> (rows from the pushes, padded last row?)
        let table: [(usize, &[usize], usize, bool); 6] = [
            (4, &[], 0, false),
            (4, &[4], 1, false),
            (4, &[3], 0, true),
            (4, &[1, 1, 1, 1, 1], 1, true),
            (4, &[9], 2, true),
            (4, &[2, 6], 2, false),
        ];
        for (row_bytes, chunks, full, padded) in table {
            let mut c = RowCutter::new(row_bytes);
            let mut n = 0;
            for &len in chunks {
                n += c.push(&vec![7; len]).len();
            }
            let (last, length, _) = c.finish();
            assert_eq!(n, full, "{chunks:?}");
            assert_eq!(last.is_some(), padded, "{chunks:?}");
            assert_eq!(length, chunks.iter().sum::<usize>() as u64);
        }
    }

    proptest! {
        #[test]
        fn rows_are_the_body_padded(
            body in prop::collection::vec(any::<u8>(), 0..300),
            cuts in prop::collection::vec(1usize..50, 0..20),
            row_bytes in 1usize..64,
        ) {
            let mut c = RowCutter::new(row_bytes);
            let mut out = Vec::new();
            let mut rest: &[u8] = &body;
            for cut in cuts.iter().copied().chain(std::iter::once(usize::MAX)) {
                let take = cut.min(rest.len());
                for row in c.push(&rest[..take]) {
                    prop_assert_eq!(row.len(), row_bytes);
                    out.extend(row);
                }
                rest = &rest[take..];
            }
            let (last, length, crc) = c.finish();
            if let Some(row) = last {
                prop_assert_eq!(row.len(), row_bytes);
                out.extend(row);
            }
            prop_assert_eq!(length, body.len() as u64);
            prop_assert_eq!(crc, crc32c_append(0, &body));
            prop_assert_eq!(out.len() % row_bytes, 0);
            prop_assert!(out.len() < body.len() + row_bytes);
            prop_assert_eq!(&out[..body.len()], &body[..]);
            prop_assert!(out[body.len()..].iter().all(|&b| b == 0));
        }
    }
}
