//! Parity for one row, whatever the scheme: callers never special-case XOR vs
//! Reed-Solomon vs none.
//!
//! A row is `k + m` equally long shards: data shards `0..k` in block-number order,
//! then parity shards `P0..P(m-1)` (the order [`crate::Layout::shard_member`] uses).
//!
//! * `m = 0` (RAID-0): encoding is a no-op, any missing shard is unrecoverable.
//! * `m = 1` (RAID-5, and the mirror where k = 1 so the "parity" is a copy): XOR.
//! * `m >= 2`: Reed-Solomon ([`rs`], code id [`rs::RS_CODE_ID`]).
//!
//! Invariant: any `<= m` missing shards of a row are restored byte-exact; more
//! than `m` missing is [`CodecError::TooManyMissing`], never garbage.

pub mod rs;
pub mod xor;

use crate::error::CodecError;
use crate::layout::Layout;

/// Which arithmetic a codec uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecKind {
    /// No parity.
    None,
    /// One XOR parity shard.
    Xor,
    /// `m >= 2` Reed-Solomon parity shards.
    ReedSolomon,
}

/// Encoder/reconstructor for rows of `k` data and `m` parity shards.
#[derive(Debug)]
pub struct Codec {
    k: usize,
    m: usize,
    rs: Option<rs::ReedSolomon>,
}

impl Codec {
    /// A codec for `k >= 1` data shards and `m` parity shards.
    pub fn new(k: usize, m: usize) -> Result<Codec, CodecError> {
        if k == 0 {
            return Err(CodecError::ShardCount {
                expected: 1,
                got: 0,
            });
        }
        let rs = if m >= 2 {
            Some(rs::ReedSolomon::new(k, m)?)
        } else {
            None
        };
        Ok(Codec { k, m, rs })
    }

    /// The codec for a layout's rows.
    pub fn for_layout(layout: &Layout) -> Result<Codec, CodecError> {
        Codec::new(layout.data_per_row(), layout.parity())
    }

    /// Data shards per row (k).
    pub fn data_shards(&self) -> usize {
        self.k
    }

    /// Parity shards per row (m).
    pub fn parity_shards(&self) -> usize {
        self.m
    }

    /// Which arithmetic this codec uses.
    pub fn kind(&self) -> CodecKind {
        match self.m {
            0 => CodecKind::None,
            1 => CodecKind::Xor,
            _ => CodecKind::ReedSolomon,
        }
    }

    fn check_len(&self, len: usize, want: usize) -> Result<(), CodecError> {
        if len != want {
            return Err(CodecError::ShardLength(format!(
                "shards of one row must have the same length: {len} != {want}"
            )));
        }
        Ok(())
    }

    /// Computes the `m` parity shards of a row of `k` data shards into `parity`.
    /// All shards must have the same length (the stripe size; pad the last row with zeros).
    pub fn encode<D: AsRef<[u8]>, P: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        data: &[D],
        parity: &mut [P],
    ) -> Result<(), CodecError> {
        if data.len() != self.k {
            return Err(CodecError::ShardCount {
                expected: self.k,
                got: data.len(),
            });
        }
        if parity.len() != self.m {
            return Err(CodecError::ShardCount {
                expected: self.m,
                got: parity.len(),
            });
        }
        let len = data[0].as_ref().len();
        for d in data {
            self.check_len(d.as_ref().len(), len)?;
        }
        for p in parity.iter_mut() {
            self.check_len(p.as_mut().len(), len)?;
        }
        match (&self.rs, parity) {
            (_, []) => Ok(()),
            (None, [p]) => {
                xor::xor_all(data, p.as_mut());
                Ok(())
            }
            (Some(rs), parity) => {
                if len == 0 {
                    return Ok(());
                }
                rs.encode(data, parity)
            }
            // m >= 2 always has an RS engine (see `new`).
            (None, _) => Err(CodecError::ReedSolomon("no engine".into())),
        }
    }

    /// Allocating form of [`Codec::encode`]: returns the `m` parity shards.
    pub fn encode_row<D: AsRef<[u8]>>(&self, data: &[D]) -> Result<Vec<Vec<u8>>, CodecError> {
        let len = data.first().map_or(0, |d| d.as_ref().len());
        let mut parity = vec![vec![0u8; len]; self.m];
        self.encode(data, &mut parity)?;
        Ok(parity)
    }

    /// Restores every missing shard (`None`) of a row of `k + m` shards in place.
    /// At most `m` may be missing.
    pub fn reconstruct(&self, shards: &mut [Option<Vec<u8>>]) -> Result<(), CodecError> {
        self.reconstruct_impl(shards, true)
    }

    /// Restores only the missing data shards (what a read needs); missing parity
    /// shards stay `None`. At most `m` shards in all may be missing.
    pub fn reconstruct_data(&self, shards: &mut [Option<Vec<u8>>]) -> Result<(), CodecError> {
        self.reconstruct_impl(shards, false)
    }

    fn reconstruct_impl(
        &self,
        shards: &mut [Option<Vec<u8>>],
        with_parity: bool,
    ) -> Result<(), CodecError> {
        let n = self.k + self.m;
        if shards.len() != n {
            return Err(CodecError::ShardCount {
                expected: n,
                got: shards.len(),
            });
        }
        let missing: Vec<usize> = (0..n).filter(|&i| shards[i].is_none()).collect();
        if missing.len() > self.m {
            return Err(CodecError::TooManyMissing {
                missing: missing.len(),
                max: self.m,
            });
        }
        let wanted: Vec<usize> = missing
            .iter()
            .copied()
            .filter(|&i| with_parity || i < self.k)
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let len =
            shards
                .iter()
                .flatten()
                .map(Vec::len)
                .next()
                .ok_or(CodecError::TooManyMissing {
                    missing: n,
                    max: self.m,
                })?;
        for s in shards.iter().flatten() {
            self.check_len(s.len(), len)?;
        }
        match &self.rs {
            None => {
                // m == 1: exactly one shard is missing; it is the XOR of all the others.
                let present: Vec<&[u8]> = shards.iter().flatten().map(Vec::as_slice).collect();
                let mut out = vec![0u8; len];
                xor::xor_all(&present, &mut out);
                shards[wanted[0]] = Some(out);
                Ok(())
            }
            Some(rs) => {
                if len == 0 {
                    for &i in &wanted {
                        shards[i] = Some(Vec::new());
                    }
                    return Ok(());
                }
                rs.reconstruct(shards, with_parity)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::subsequence;

    fn row(k: usize, len: usize, seed: u64) -> Vec<Vec<u8>> {
        let mut x = seed | 1;
        (0..k)
            .map(|_| {
                (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn mirror_parity_is_a_copy() {
        let c = Codec::for_layout(&Layout::new(2, 1).unwrap()).unwrap();
        let data = row(1, 128, 7);
        assert_eq!(c.encode_row(&data).unwrap()[0], data[0]);
    }

    #[test]
    fn raid0_cannot_reconstruct() {
        let c = Codec::new(3, 0).unwrap();
        assert!(c.encode_row(&row(3, 64, 1)).unwrap().is_empty());
        let mut shards: Vec<Option<Vec<u8>>> = row(3, 64, 1).into_iter().map(Some).collect();
        shards[1] = None;
        assert_eq!(
            c.reconstruct(&mut shards),
            Err(CodecError::TooManyMissing { missing: 1, max: 0 })
        );
    }

    #[test]
    fn rejects_bad_shapes() {
        let c = Codec::new(2, 2).unwrap();
        assert!(matches!(
            c.encode_row(&row(3, 64, 1)),
            Err(CodecError::ShardCount { .. })
        ));
        assert!(matches!(
            c.encode_row(&[vec![0u8; 64], vec![0u8; 62]]),
            Err(CodecError::ShardLength(_))
        ));
    }

    fn setup() -> impl Strategy<Value = (usize, usize, usize, u64, Vec<usize>)> {
        (1usize..=12, 0usize..=4, 1usize..=40, any::<u64>()).prop_flat_map(|(k, m, half, seed)| {
            let n = k + m;
            (
                Just(k),
                Just(m),
                Just(half * 2),
                Just(seed),
                subsequence((0..n).collect::<Vec<_>>(), 0..=n),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any <= m missing shards come back byte-exact; m+1 or more is a clear error.
        #[test]
        fn reconstruct_any_m((k, m, len, seed, lost) in setup()) {
            let codec = Codec::new(k, m).unwrap();
            let data = row(k, len, seed);
            let parity = codec.encode_row(&data).unwrap();
            let full: Vec<Vec<u8>> = data.into_iter().chain(parity).collect();
            let mut shards: Vec<Option<Vec<u8>>> = full.iter().cloned().map(Some).collect();
            for &i in &lost {
                shards[i] = None;
            }
            let mut data_only = shards.clone();
            let r = codec.reconstruct(&mut shards);
            if lost.len() <= m {
                prop_assert!(r.is_ok(), "{:?}", r);
                let got: Vec<Vec<u8>> = shards.into_iter().map(|s| s.unwrap()).collect();
                prop_assert_eq!(got, full.clone());
                codec.reconstruct_data(&mut data_only).unwrap();
                for i in 0..k {
                    prop_assert_eq!(data_only[i].as_ref(), Some(&full[i]));
                }
            } else {
                prop_assert_eq!(r, Err(CodecError::TooManyMissing { missing: lost.len(), max: m }));
            }
        }
    }
}
