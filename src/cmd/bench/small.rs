//! The small-object part of `stripecast bench cluster`: PUTs of 4 KiB and
//! 64 KiB objects from concurrent clients (PUTs/s, and the p50/p99 latency
//! of a 64 KiB PUT), beside a baseline measured in the same run: the same
//! number of files of the same size written and fsynced by as many threads
//! on the same disk.
//!
//! With stages (`--small-stages 1000,10000`), the 64 KiB PUT and GET rates
//! are measured again after filling the cluster with 4 KiB objects up to
//! each stored count, as ratios to the first stage: per-operation cost must
//! not grow with the objects stored.

use std::io::Read as _;
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
    /// GETs of the 4 KiB objects per second, by as many clients.
    pub get_4k_per_s: f64,
    pub put_64k_per_s: f64,
    pub put_64k_p50_ms: f64,
    pub put_64k_p99_ms: f64,
    /// Baseline: 64 KiB files written and fsynced per second by as many threads.
    pub raw_fsync_64k_per_s: f64,
    pub put_64k_vs_raw: f64,
    /// GETs of the 64 KiB objects per second, by as many clients.
    pub get_64k_per_s: f64,
    pub get_64k_vs_raw: f64,
    pub get_64k_p50_ms: f64,
    pub get_64k_p99_ms: f64,
    /// CPU time the members used per request (user + system, all member
    /// processes together), in microseconds: a rate on a saturated
    /// machine is CPU per request, this shows it without the noise of the
    /// disk's and the scheduler's moods.
    pub member_cpu_us_per_put_64k: f64,
    pub member_cpu_us_per_get_64k: f64,
    /// The rates again with more objects stored (`--small-stages`).
    pub stages: Vec<SmallStage>,
    /// Requests answered 503 and tried again (fills included).
    pub retried_503: usize,
}

/// The 64 KiB rates with `stored` objects already in the cluster (the
/// objects being measured not counted).
#[derive(Debug, Serialize)]
pub struct SmallStage {
    pub stored: usize,
    pub put_64k_per_s: f64,
    pub get_64k_per_s: f64,
    /// Ratios to the first stage (the goal is >= 0.9).
    pub put_vs_first: f64,
    pub get_vs_first: f64,
}

/// `n` PUTs (or, with `get`, GETs checked for length) of `size` bytes spread
/// over `clients` threads and the members' `bases` (`http://host:port`);
/// answers the wall time and each request's latency.
/// A 503 answer is tried again (as S3 clients do) this many times at most...
const TRIES_ON_503: usize = 5;
/// ... after this pause, in ms, doubled each time.
const RETRY_503_MS: u64 = 50;

/// 503 answers tried again, over the whole run (reported).
static RETRIED_503: AtomicUsize = AtomicUsize::new(0);

/// Sends one request (built afresh each try), trying a 503 again.
fn with_503_retries(
    mut send: impl FnMut() -> Result<ureq::Response, Box<ureq::Error>>,
    what: &str,
) -> anyhow::Result<ureq::Response> {
    let mut pause = Duration::from_millis(RETRY_503_MS);
    for _ in 1..TRIES_ON_503 {
        match send() {
            Err(e) if matches!(*e, ureq::Error::Status(503, _)) => {
                RETRIED_503.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(pause);
                pause *= 2;
            }
            other => return other.map_err(|e| crate::cmd::client::http_error(*e, what)),
        }
    }
    send().map_err(|e| crate::cmd::client::http_error(*e, what))
}

fn requests(
    bases: &[String],
    tag: &str,
    size: usize,
    n: usize,
    clients: usize,
    get: bool,
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
                        if get {
                            let mut got = Vec::with_capacity(size);
                            with_503_retries(
                                || agent.get(&url).call().map_err(Box::new),
                                &format!("GET {url}"),
                            )?
                            .into_reader()
                            .read_to_end(&mut got)?;
                            ensure!(got.len() == size, "GET {url}: {} bytes", got.len());
                        } else {
                            with_503_retries(
                                || agent.put(&url).send_bytes(body).map_err(Box::new),
                                &format!("PUT {url}"),
                            )?;
                        }
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

/// CPU time (user + system) the processes `pids` have used so far, from
/// `/proc/PID/stat` (fields 14 and 15, in USER_HZ ticks: 100 per second on
/// Linux). A process that is gone counts nothing.
fn cpu_of(pids: &[i32]) -> Duration {
    const TICKS_PER_S: u64 = 100;
    let ticks: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // The command name (field 2) may hold spaces: count from its end.
            let rest = stat.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    Duration::from_millis(ticks * 1000 / TICKS_PER_S)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// Runs the small-object PUTs and GETs against the members at `bases`
/// (processes `pids`), then each stage of `stages` (stored-object counts,
/// ascending).
pub fn run(
    bases: &[String],
    pids: &[i32],
    dir: &Path,
    n: usize,
    clients: usize,
    stages: &[usize],
) -> anyhow::Result<SmallReport> {
    let (wall_4k, _) = requests(bases, "4k", 4 << 10, n, clients, false)?;
    let cpu_at_start = cpu_of(pids);
    let (wall_64k, mut lat) = requests(bases, "64k", 64 << 10, n, clients, false)?;
    let cpu_put_64k = cpu_of(pids).saturating_sub(cpu_at_start);
    let (get_4k, _) = requests(bases, "4k", 4 << 10, n, clients, true)?;
    let cpu_at_start = cpu_of(pids);
    let (get_64k, mut get_lat) = requests(bases, "64k", 64 << 10, n, clients, true)?;
    let cpu_get_64k = cpu_of(pids).saturating_sub(cpu_at_start);
    let cpu_us_per = |d: Duration| d.as_secs_f64() * 1e6 / n.max(1) as f64;
    lat.sort_unstable();
    get_lat.sort_unstable();
    let raw = raw_fsync(dir, 64 << 10, n, clients)?;
    let per_s = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    let mut stored = 2 * n;
    let mut measured: Vec<SmallStage> = Vec::new();
    for (i, &target) in stages.iter().enumerate() {
        if target > stored {
            // Fill with 4 KiB objects (not timed) up to the stage's count.
            requests(
                bases,
                &format!("fill{i}"),
                4 << 10,
                target - stored,
                clients,
                false,
            )?;
            stored = target;
        }
        let before = stored;
        let tag = format!("stage{i}");
        let (put, _) = requests(bases, &tag, 64 << 10, n, clients, false)?;
        let (get, _) = requests(bases, &tag, 64 << 10, n, clients, true)?;
        stored += n;
        let (put, get) = (per_s(put), per_s(get));
        let first = measured
            .first()
            .map_or((put, get), |f| (f.put_64k_per_s, f.get_64k_per_s));
        measured.push(SmallStage {
            stored: before,
            put_64k_per_s: put,
            get_64k_per_s: get,
            put_vs_first: put / first.0,
            get_vs_first: get / first.1,
        });
    }
    Ok(SmallReport {
        get_64k_per_s: per_s(get_64k),
        get_64k_vs_raw: raw.as_secs_f64() / get_64k.as_secs_f64(),
        stages: measured,
        clients,
        objects_per_size: n,
        put_4k_per_s: per_s(wall_4k),
        get_4k_per_s: per_s(get_4k),
        get_64k_p50_ms: percentile(&get_lat, 0.50).as_secs_f64() * 1e3,
        get_64k_p99_ms: percentile(&get_lat, 0.99).as_secs_f64() * 1e3,
        put_64k_per_s: per_s(wall_64k),
        put_64k_p50_ms: percentile(&lat, 0.50).as_secs_f64() * 1e3,
        put_64k_p99_ms: percentile(&lat, 0.99).as_secs_f64() * 1e3,
        raw_fsync_64k_per_s: per_s(raw),
        put_64k_vs_raw: raw.as_secs_f64() / wall_64k.as_secs_f64(),
        retried_503: RETRIED_503.load(Ordering::Relaxed),
        member_cpu_us_per_put_64k: cpu_us_per(cpu_put_64k),
        member_cpu_us_per_get_64k: cpu_us_per(cpu_get_64k),
    })
}
