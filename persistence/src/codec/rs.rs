//! Reed-Solomon parity for `m >= 2`: a systematic Vandermonde-derived code over
//! GF(2^8) from the `reed-solomon-erasure` crate (with its `simd-accel` feature).
//!
//! Why this crate: measured at 8+2 with 64 KiB shards on the project's machine
//! (`cargo bench -p stripecast-persistence --bench codec`), counting data bytes:
//!
//! | case                     | reed-solomon-erasure (simd-accel) | reed-solomon-simd |
//! |--------------------------|-----------------------------------|-------------------|
//! | encode                   | ~25 GiB/s                         | ~13-17 GiB/s      |
//! | reconstruct 2 data lost  | ~16 GiB/s                         | ~1.0-1.5 GiB/s    |
//!
//! (Without `simd-accel`, `reed-solomon-erasure` manages ~1.9 GiB/s either way.)
//! Encoding is the write path and both are far above disk and network speed, but
//! reconstruction is the degraded-read and rebuild path, where the FFT code of
//! `reed-solomon-simd` would spend a core per ~1.4 GB/s; for the small m this
//! system uses, the O(k·m) matrix code wins by an order of magnitude.
//!
//! Cost of the choice: `simd-accel` compiles a small C kernel with the system C
//! compiler, for x86-64 with `-march=haswell` (AVX2) unless the build sets
//! `RUST_REED_SOLOMON_ERASURE_ARCH` (e.g. `x86-64` for pre-2013 CPUs).
//!
//! Invariant: the parity bytes are a function of this exact code; fragment
//! headers record it as [`RS_CODE_ID`] and a reader refuses any other, so a
//! future change of crate cannot silently misread old fragments.

use crate::error::CodecError;
use reed_solomon_erasure::galois_8::ReedSolomon as Gf8;

/// Identifies this Reed-Solomon code in fragment headers (parity code byte).
pub const RS_CODE_ID: u8 = 2;

/// A k+m Reed-Solomon code (`k + m <= 256`).
#[derive(Debug)]
pub struct ReedSolomon {
    inner: Gf8,
}

fn rs_err(e: reed_solomon_erasure::Error) -> CodecError {
    CodecError::ReedSolomon(format!("{e:?}"))
}

impl ReedSolomon {
    /// A code with `k` data and `m` parity shards per row.
    pub fn new(k: usize, m: usize) -> Result<Self, CodecError> {
        Ok(ReedSolomon {
            inner: Gf8::new(k, m).map_err(rs_err)?,
        })
    }

    /// Writes the `m` parity shards of `data` (k non-empty shards of equal length) into `parity`.
    pub fn encode<D: AsRef<[u8]>, P: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        data: &[D],
        parity: &mut [P],
    ) -> Result<(), CodecError> {
        self.inner.encode_sep(data, parity).map_err(rs_err)
    }

    /// Restores the missing (`None`) shards of a row of k data then m parity shards,
    /// all of them or only the data ones.
    pub fn reconstruct(
        &self,
        shards: &mut [Option<Vec<u8>>],
        with_parity: bool,
    ) -> Result<(), CodecError> {
        if with_parity {
            self.inner.reconstruct(shards).map_err(rs_err)
        } else {
            self.inner.reconstruct_data(shards).map_err(rs_err)
        }
    }
}
