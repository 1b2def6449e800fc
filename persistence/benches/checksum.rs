//! Per-block checksum candidates at 64 KiB: CRC-32C (hardware SSE4.2 / ARMv8 CRC)
//! vs BLAKE3 (SIMD, single thread), with memcpy of the same block as the baseline.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const BLOCK: usize = 64 << 10;

fn checksums(c: &mut Criterion) {
    let block: Vec<u8> = (0..BLOCK)
        .map(|i| (i as u32).wrapping_mul(2654435761) as u8)
        .collect();
    let mut g = c.benchmark_group("checksum_64KiB");
    g.throughput(Throughput::Bytes(BLOCK as u64));
    let mut dst = vec![0u8; BLOCK];
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&block));
            black_box(&dst);
        })
    });
    g.bench_function("crc32c", |b| {
        b.iter(|| black_box(crc32c::crc32c(black_box(&block))))
    });
    g.bench_function("blake3", |b| {
        b.iter(|| black_box(blake3::hash(black_box(&block))))
    });
    g.finish();
}

criterion_group!(benches, checksums);
criterion_main!(benches);
