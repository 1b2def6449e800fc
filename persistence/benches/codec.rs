//! Parity codecs at 64 KiB blocks against memcpy, and the two Reed-Solomon crates
//! against each other at 8+2 (the measurement behind choosing `reed-solomon-erasure`
//! with `simd-accel`), plus our `Codec` wrapper on the same rows.
//!
//! Throughput is counted in *data* bytes (k x 64 KiB per row) for every case, so
//! memcpy, XOR and Reed-Solomon figures compare directly.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stripecast_persistence::codec::xor;
use stripecast_persistence::Codec;

const BLOCK: usize = 64 << 10;

fn row(k: usize) -> Vec<Vec<u8>> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..k)
        .map(|_| {
            (0..BLOCK)
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

fn memcpy_and_xor(c: &mut Criterion) {
    let mut g = c.benchmark_group("xor");
    for k in [4usize, 8] {
        let data = row(k);
        g.throughput(Throughput::Bytes((k * BLOCK) as u64));
        let mut dst = vec![vec![0u8; BLOCK]; k];
        g.bench_function(BenchmarkId::new("memcpy", k), |b| {
            b.iter(|| {
                for (d, s) in dst.iter_mut().zip(&data) {
                    d.copy_from_slice(black_box(s));
                }
                black_box(&dst);
            })
        });
        let mut parity = vec![0u8; BLOCK];
        g.bench_function(BenchmarkId::new("xor_all", k), |b| {
            b.iter(|| {
                xor::xor_all(black_box(&data), &mut parity);
                black_box(&parity);
            })
        });
        let codec = Codec::new(k, 1).unwrap();
        let mut p = vec![vec![0u8; BLOCK]];
        g.bench_function(BenchmarkId::new("codec_encode", k), |b| {
            b.iter(|| {
                codec.encode(black_box(&data), &mut p).unwrap();
                black_box(&p);
            })
        });
    }
    g.finish();
}

fn reed_solomon(c: &mut Criterion) {
    let (k, m) = (8usize, 2usize);
    let data = row(k);
    let mut g = c.benchmark_group("rs_8+2");
    g.throughput(Throughput::Bytes((k * BLOCK) as u64));

    // reed-solomon-simd (GF(2^16), FFT), its one-shot API.
    g.bench_function("simd_encode", |b| {
        b.iter(|| black_box(reed_solomon_simd::encode(k, m, black_box(&data)).unwrap()))
    });
    let recovery = reed_solomon_simd::encode(k, m, &data).unwrap();
    g.bench_function("simd_reconstruct", |b| {
        b.iter(|| {
            let originals = data.iter().enumerate().skip(2);
            let rec = recovery.iter().enumerate();
            black_box(reed_solomon_simd::decode(k, m, originals, rec).unwrap())
        })
    });

    // reed-solomon-erasure (GF(2^8), matrix, simd-accel), called directly.
    let rse = reed_solomon_erasure::galois_8::ReedSolomon::new(k, m).unwrap();
    let mut erasure_parity = vec![vec![0u8; BLOCK]; m];
    g.bench_function("erasure_encode", |b| {
        b.iter(|| {
            rse.encode_sep(black_box(&data), &mut erasure_parity)
                .unwrap();
            black_box(&erasure_parity);
        })
    });
    let full: Vec<Option<Vec<u8>>> = data
        .iter()
        .chain(&erasure_parity)
        .cloned()
        .map(Some)
        .collect();
    g.bench_function("erasure_reconstruct", |b| {
        b.iter(|| {
            let mut shards = full.clone();
            shards[0] = None;
            shards[1] = None;
            rse.reconstruct_data(&mut shards).unwrap();
            black_box(shards)
        })
    });

    // Our Codec (the library's choice) on the same rows.
    let codec = Codec::new(k, m).unwrap();
    let mut parity = vec![vec![0u8; BLOCK]; m];
    g.bench_function("codec_encode", |b| {
        b.iter(|| {
            codec.encode(black_box(&data), &mut parity).unwrap();
            black_box(&parity);
        })
    });
    g.bench_function("codec_reconstruct", |b| {
        b.iter(|| {
            let mut shards = full.clone();
            shards[0] = None;
            shards[1] = None;
            codec.reconstruct_data(&mut shards).unwrap();
            black_box(shards)
        })
    });
    // What the clone in the reconstruct cases costs by itself.
    g.bench_function("clone_row_baseline", |b| b.iter(|| black_box(full.clone())));
    g.finish();
}

criterion_group!(benches, memcpy_and_xor, reed_solomon);
criterion_main!(benches);
