//! `stripecast bench codec [--json]`: XOR parity (4+1, 8+1) and Reed-Solomon 8+2
//! encode/reconstruct at 64 KiB blocks, each against a memcpy of the same data
//! bytes measured in the same run.
//!
//! Throughput counts data bytes (k x 64 KiB per row) and uses decimal GB/s.
//! Each figure is the median of several timed batches after a warm-up, so one
//! scheduling hiccup does not move it. Build with `--release` for real numbers.

use std::hint::black_box;
use std::time::{Duration, Instant};

use stripecast_persistence::Codec;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Timed batches per figure (the median is reported).
    #[arg(long, default_value_t = 7)]
    samples: usize,
    /// Milliseconds per timed batch.
    #[arg(long, default_value_t = 100)]
    batch_ms: u64,
}

const BLOCK: usize = 64 << 10;

fn blocks(k: usize, seed: u64) -> Vec<Vec<u8>> {
    (0..k as u64)
        .map(|i| super::xorshift_bytes(BLOCK, seed.wrapping_add(i.wrapping_mul(0x9E37_79B9))))
        .collect()
}

/// Median throughput in GB/s of `f`, which processes `bytes` per call.
fn measure(bytes: usize, samples: usize, batch: Duration, mut f: impl FnMut()) -> f64 {
    let warm = Instant::now();
    let mut calls_per_batch = 0u64;
    while warm.elapsed() < batch {
        f();
        calls_per_batch += 1;
    }
    let mut rates: Vec<f64> = (0..samples.max(1))
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls_per_batch.max(1) {
                f();
            }
            (bytes as f64 * calls_per_batch.max(1) as f64) / t.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// `bench codec --json`.
#[derive(serde::Serialize)]
struct CodecDoc {
    memcpy_gbps: f64,
    memcpy_4_blocks_gbps: f64,
    block_bytes: usize,
    cases: Vec<CaseDoc>,
}

/// One codec's throughput, as a ratio to memcpy of the same bytes.
#[derive(serde::Serialize)]
struct CaseDoc {
    name: String,
    gbps: f64,
    ratio: f64,
    memcpy_gbps: f64,
}

struct Case {
    name: String,
    gbps: f64,
    memcpy_gbps: f64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let batch = Duration::from_millis(args.batch_ms.max(1));
    let samples = args.samples;
    let memcpy = |k: usize| {
        let src = blocks(k, 11);
        let mut dst = vec![vec![0u8; BLOCK]; k];
        measure(k * BLOCK, samples, batch, || {
            for (d, s) in dst.iter_mut().zip(&src) {
                d.copy_from_slice(black_box(s));
            }
            black_box(&mut dst);
        })
    };
    let memcpy4 = memcpy(4);
    let memcpy8 = memcpy(8);
    let mut cases = Vec::new();

    for (k, base) in [(4usize, memcpy4), (8, memcpy8)] {
        let codec = Codec::new(k, 1)?;
        let data = blocks(k, k as u64);
        let mut parity = vec![vec![0u8; BLOCK]];
        let gbps = measure(k * BLOCK, samples, batch, || {
            codec
                .encode(black_box(&data), &mut parity)
                .expect("encode of well-formed rows");
            black_box(&mut parity);
        });
        cases.push(Case {
            name: format!("xor {k}+1 encode"),
            gbps,
            memcpy_gbps: base,
        });
        let full: Vec<Option<Vec<u8>>> = data.iter().chain(&parity).cloned().map(Some).collect();
        let mut shards = full.clone();
        let gbps = measure(k * BLOCK, samples, batch, || {
            shards[1] = None;
            codec
                .reconstruct_data(black_box(&mut shards))
                .expect("one missing shard is recoverable");
        });
        cases.push(Case {
            name: format!("xor {k}+1 reconstruct"),
            gbps,
            memcpy_gbps: base,
        });
    }

    let (k, m) = (8, 2);
    let codec = Codec::new(k, m)?;
    let data = blocks(k, 99);
    let mut parity = vec![vec![0u8; BLOCK]; m];
    let gbps = measure(k * BLOCK, samples, batch, || {
        codec
            .encode(black_box(&data), &mut parity)
            .expect("encode of well-formed rows");
        black_box(&mut parity);
    });
    cases.push(Case {
        name: "rs 8+2 encode".into(),
        gbps,
        memcpy_gbps: memcpy8,
    });
    let mut shards: Vec<Option<Vec<u8>>> = data.iter().chain(&parity).cloned().map(Some).collect();
    let gbps = measure(k * BLOCK, samples, batch, || {
        // Two data shards lost: the worst case for a read.
        shards[0] = None;
        shards[5] = None;
        codec
            .reconstruct_data(black_box(&mut shards))
            .expect("two missing shards are recoverable");
    });
    cases.push(Case {
        name: "rs 8+2 reconstruct 2 data".into(),
        gbps,
        memcpy_gbps: memcpy8,
    });

    if args.json {
        let doc = CodecDoc {
            memcpy_gbps: memcpy8,
            memcpy_4_blocks_gbps: memcpy4,
            block_bytes: BLOCK,
            cases: cases
                .iter()
                .map(|c| CaseDoc {
                    name: c.name.clone(),
                    gbps: c.gbps,
                    ratio: c.gbps / c.memcpy_gbps,
                    memcpy_gbps: c.memcpy_gbps,
                })
                .collect(),
        };
        println!("{}", serde_json::to_string(&doc)?);
    } else {
        println!("codec throughput at 64 KiB blocks (data bytes, GB/s = 1e9 B/s)");
        println!("memcpy 4 x 64 KiB: {memcpy4:8.2} GB/s");
        println!("memcpy 8 x 64 KiB: {memcpy8:8.2} GB/s");
        for c in &cases {
            println!(
                "{:<28} {:8.2} GB/s  {:5.2}x memcpy of the same bytes",
                c.name,
                c.gbps,
                c.gbps / c.memcpy_gbps
            );
        }
        if cfg!(debug_assertions) {
            println!("(debug build: run `cargo run --release -- bench codec` for real figures)");
        }
    }
    Ok(())
}
