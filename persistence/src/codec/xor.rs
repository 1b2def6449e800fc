//! XOR parity: the RAID-5 parity block of a row and the rebuild of one missing block.
//!
//! Written in safe Rust so that LLVM vectorises it: the inner loop works on
//! fixed 64-byte chunks (`chunks_exact`) whose bounds the compiler can see, which
//! becomes SSE2 (or AVX2 with `-C target-cpu`) loads, xors and stores with no
//! bounds checks (checked with `cargo asm`-style inspection of the release build
//! and by `stripecast bench codec`, which compares it with memcpy).
//!
//! The output is built tile by tile (a tile fits in L1), so each input is read
//! once from wherever it lives; within a tile, four sources are folded per pass
//! in registers, so the parity tile is loaded and stored once per four inputs.

/// Bytes of output produced per pass over the inputs; small enough to stay in L1.
const TILE: usize = 4096;
/// Vector-friendly chunk the inner loop works on.
const CHUNK: usize = 64;

/// `dst ^= src` over the common length of the two slices.
#[inline]
pub fn xor_into(dst: &mut [u8], src: &[u8]) {
    let len = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..len], &src[..len]);
    let mut d = dst.chunks_exact_mut(CHUNK);
    let mut s = src.chunks_exact(CHUNK);
    for (dc, sc) in (&mut d).zip(&mut s) {
        for (a, b) in dc.iter_mut().zip(sc) {
            *a ^= *b;
        }
    }
    for (a, b) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *a ^= *b;
    }
}

/// `dst = (acc ? dst : 0) ^ srcs[0] ^ ... ^ srcs[N-1]` over `dst`'s length.
///
/// Each 64-byte chunk of the output is built in registers from all `N` sources
/// and stored once, so a pass costs `N` (+1) loads and one store per vector
/// instead of two loads and a store per source.
#[inline]
fn kernel<const N: usize>(dst: &mut [u8], srcs: [&[u8]; N], acc: bool) {
    let len = dst.len();
    // Slicing to `len` up front lets LLVM drop the bounds checks below.
    let srcs = srcs.map(|s| &s[..len]);
    let whole = len / CHUNK * CHUNK;
    for o in (0..whole).step_by(CHUNK) {
        let Ok(d) = <&mut [u8; CHUNK]>::try_from(&mut dst[o..o + CHUNK]) else {
            continue;
        };
        let mut x = if acc { *d } else { [0u8; CHUNK] };
        for s in &srcs {
            let Ok(c) = <&[u8; CHUNK]>::try_from(&s[o..o + CHUNK]) else {
                continue;
            };
            for j in 0..CHUNK {
                x[j] ^= c[j];
            }
        }
        *d = x;
    }
    for o in whole..len {
        let mut x = if acc { dst[o] } else { 0 };
        for s in &srcs {
            x ^= s[o];
        }
        dst[o] = x;
    }
}

/// `out = inputs[0] ^ inputs[1] ^ ...`; with no inputs `out` is zeroed, with one
/// it is a copy.
///
/// # Panics
/// If an input is shorter than `out` ([`crate::Codec`] checks lengths first).
pub fn xor_all<T: AsRef<[u8]>>(inputs: &[T], out: &mut [u8]) {
    if inputs.is_empty() {
        out.fill(0);
        return;
    }
    let len = out.len();
    let mut start = 0;
    while start < len {
        let end = (start + TILE).min(len);
        let tile = &mut out[start..end];
        let mut acc = false;
        // Four sources per pass: enough to keep the vector units busy, few
        // enough that the accumulator and sources stay in registers.
        for group in inputs.chunks(4) {
            let s = |i: usize| &group[i].as_ref()[start..end];
            match group.len() {
                4 => kernel(tile, [s(0), s(1), s(2), s(3)], acc),
                3 => kernel(tile, [s(0), s(1), s(2)], acc),
                2 => kernel(tile, [s(0), s(1)], acc),
                _ => kernel(tile, [s(0)], acc),
            }
            acc = true;
        }
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(inputs: &[Vec<u8>], len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        for i in inputs {
            for (o, b) in out.iter_mut().zip(i) {
                *o ^= b;
            }
        }
        out
    }

    proptest! {
        #[test]
        fn matches_naive(count in 0usize..7, len in 0usize..10_000, seed in any::<u8>()) {
            let inputs: Vec<Vec<u8>> = (0..count)
                .map(|i| (0..len).map(|j| (j as u8).wrapping_mul(31).wrapping_add(seed ^ i as u8)).collect())
                .collect();
            let mut out = vec![0xAAu8; len];
            xor_all(&inputs, &mut out);
            prop_assert_eq!(out, naive(&inputs, len));
        }
    }
}
