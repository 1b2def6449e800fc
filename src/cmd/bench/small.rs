//! The small-object part of `stripecast bench cluster`: PUTs of 4 KiB and
//! 64 KiB objects from concurrent clients (PUTs/s, and the p50/p99 latency
//! of a 64 KiB PUT), beside a baseline measured in the same run: the same
//! number of files of the same size written and fsynced by as many threads
//! on the same disk.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use serde::Serialize;

use crate::cmd::client::encode_name;

/// Small-object figures of one run.
#[derive(Debug, Serialize)]
pub struct SmallReport {
    pub clients: usize,
    pub objects_per_size: usize,
    pub put_4k_per_s: f64,
    pub put_64k_per_s: f64,
    pub put_64k_p50_ms: f64,
    pub put_64k_p99_ms: f64,
    /// Baseline: 64 KiB files written and fsynced per second by as many threads.
    pub raw_fsync_64k_per_s: f64,
    pub put_64k_vs_raw: f64,
}

/// `n` PUTs of `size` bytes spread over `clients` threads and the members'
/// `bases` (`http://host:port`); answers the wall time and each PUT's latency.
fn puts(
    bases: &[String],
    tag: &str,
    size: usize,
    n: usize,
    clients: usize,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let body = super::xorshift_bytes(size, size as u64 ^ 0x5DEE_CE66);
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    let per_client: Vec<anyhow::Result<Vec<Duration>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (body, next) = (&body, &next);
                s.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let agent = ureq::AgentBuilder::new().build();
                    let mut lat = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= n {
                            return Ok(lat);
                        }
                        let url = format!(
                            "{}/v1/objects/{}",
                            bases[(k + c) % bases.len()],
                            encode_name(&format!("bench/{tag}/{k:06}"))
                        );
                        let t = Instant::now();
                        agent
                            .put(&url)
                            .send_bytes(body)
                            .map_err(|e| anyhow::anyhow!("PUT {url}: {e}"))?;
                        lat.push(t.elapsed());
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("client panicked")))
            })
            .collect()
    });
    let wall = t.elapsed();
    let mut all = Vec::with_capacity(n);
    for r in per_client {
        all.extend(r?);
    }
    ensure!(all.len() == n, "{} of {n} PUTs done", all.len());
    Ok((wall, all))
}

/// `n` files of `size` bytes written and fsynced by `threads` threads under `dir`.
fn raw_fsync(dir: &Path, size: usize, n: usize, threads: usize) -> anyhow::Result<Duration> {
    let body = vec![0x5Au8; size];
    let base = dir.join("raw-small-baseline");
    std::fs::create_dir_all(&base)?;
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (body, next, base) = (&body, &next, &base);
                s.spawn(move || -> std::io::Result<()> {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= n {
                            return Ok(());
                        }
                        let path = base.join(format!("{k:06}"));
                        let mut f = std::fs::File::create(path)?;
                        std::io::Write::write_all(&mut f, body)?;
                        f.sync_all()?;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("baseline writer panicked"))??;
        }
        Ok(())
    })?;
    let d = t.elapsed();
    let _ = std::fs::remove_dir_all(&base);
    Ok(d)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// Runs the small-object PUTs against the members at `bases`.
pub fn run(bases: &[String], dir: &Path, n: usize, clients: usize) -> anyhow::Result<SmallReport> {
    let (wall_4k, _) = puts(bases, "4k", 4 << 10, n, clients)?;
    let (wall_64k, mut lat) = puts(bases, "64k", 64 << 10, n, clients)?;
    lat.sort_unstable();
    let raw = raw_fsync(dir, 64 << 10, n, clients)?;
    let per_s = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    Ok(SmallReport {
        clients,
        objects_per_size: n,
        put_4k_per_s: per_s(wall_4k),
        put_64k_per_s: per_s(wall_64k),
        put_64k_p50_ms: percentile(&lat, 0.50).as_secs_f64() * 1e3,
        put_64k_p99_ms: percentile(&lat, 0.99).as_secs_f64() * 1e3,
        raw_fsync_64k_per_s: per_s(raw),
        put_64k_vs_raw: raw.as_secs_f64() / wall_64k.as_secs_f64(),
    })
}
