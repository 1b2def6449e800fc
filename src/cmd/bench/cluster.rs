//! `stripecast bench cluster`: starts a local cluster, PUTs and GETs one object
//! of `--size` bytes, and prints MB/s beside two baselines measured in the same
//! run on the same machine: a raw loopback TCP copy and a raw file write+fsync
//! of the same number of bytes. The object's bytes are checked on the way back.
//! Before it, small objects (`--small`, see `small.rs`) from concurrent
//! clients; `--member-bin` runs the members from another build, so a
//! before/after comparison runs the same client and baselines.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use serde::Serialize;
use stripecast_actors::gateway::MemberState;
use stripecast_config::{ClusterConfig, MemberConfig, MemberEntry, MemberId, Timeouts};

use crate::cmd::client::encode_name;
use crate::cmd::launch::LocalCluster;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Members in the cluster.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Object size in bytes (suffixes K, M, G accepted).
    #[arg(long, default_value = "1G", value_parser = parse_size)]
    size: u64,
    /// Parity blocks per row.
    #[arg(long, default_value_t = 1)]
    parity: u8,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Small objects PUT per size (4 KiB and 64 KiB) before the large object; 0 skips them.
    #[arg(long, default_value_t = 1000)]
    small: usize,
    /// Concurrent clients of the small-object PUTs.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Stored-object counts at which the 64 KiB PUT/GET rates are measured
    /// again (e.g. 1000,10000,100000), after filling with 4 KiB objects.
    #[arg(long, value_delimiter = ',')]
    small_stages: Vec<usize>,
    /// Run the members from this binary (another build, for a before/after comparison).
    #[arg(long)]
    member_bin: Option<std::path::PathBuf>,
    /// Keep the cluster's directory (members' data, configs and
    /// `member.log`s) after the run, to read the logs or restart it with
    /// `stripecast up --dir`.
    #[arg(long)]
    keep: bool,
}

pub(super) fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|e| format!("{s:?}: {e}"))
}

#[derive(Serialize)]
struct Report {
    nodes: usize,
    size: u64,
    put_mbps: f64,
    get_mbps: f64,
    loopback_mbps: f64,
    disk_mbps: f64,
    put_vs_disk: f64,
    put_vs_loopback: f64,
    get_vs_loopback: f64,
    /// GET with one member SIGKILLed, and its ratio to the healthy GET.
    degraded_get_mbps: f64,
    degraded_vs_healthy: f64,
    /// From SIGKILL of a member to the first byte of a GET that needs its blocks rebuilt.
    kill_to_first_reconstructed_ms: f64,
    /// The returning member's rebuild job (fragment bytes it wrote over the
    /// time the job ran, from its `/metrics`), beside the raw disk baseline.
    rebuild_mbps: f64,
    rebuild_vs_disk: f64,
    /// From the returning member's process start to current with an empty
    /// dirty set: opening its store, replaying the metadata log, joining,
    /// the rebuild.
    rejoin_ms: f64,
    /// PUTs of small objects from concurrent clients (absent with `--small 0`).
    small: Option<super::small::SmallReport>,
}

/// A reader of `len` bytes cycling through `pattern`, with their CRC-32C.
struct PatternReader<'a> {
    pattern: &'a [u8],
    pos: u64,
    len: u64,
    crc: u32,
}

impl Read for PatternReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len - self.pos;
        if left == 0 {
            return Ok(0);
        }
        let off = (self.pos % self.pattern.len() as u64) as usize;
        let n = buf.len().min(self.pattern.len() - off).min(left as usize);
        buf[..n].copy_from_slice(&self.pattern[off..off + n]);
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reads a body to its end; answers its length and CRC-32C.
fn drain(mut body: impl Read) -> anyhow::Result<(u64, u32)> {
    let mut buf = vec![0u8; 1 << 20];
    let (mut got, mut crc) = (0u64, 0u32);
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            return Ok((got, crc));
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        got += n as u64;
    }
}

pub(super) fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64().max(1e-9)
}

fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    Ok(ls
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.port())
        .collect())
}

/// A local cluster on free ports under `dir`.
pub fn bench_configs(
    dir: &std::path::Path,
    nodes: usize,
    parity: u8,
) -> anyhow::Result<Vec<MemberConfig>> {
    let ports = free_ports(3 * nodes)?;
    let members: Vec<MemberEntry> = (0..nodes)
        .map(|i| MemberEntry {
            id: MemberId::new(i as u32),
            peer: SocketAddr::from(([127, 0, 0, 1], ports[2 * i])),
            http: SocketAddr::from(([127, 0, 0, 1], ports[2 * i + 1])),
            s3: Some(SocketAddr::from(([127, 0, 0, 1], ports[2 * nodes + i]))),
        })
        .collect();
    Ok((0..nodes)
        .map(|i| MemberConfig {
            id: MemberId::new(i as u32),
            data_dir: dir.join(format!("member-{i}")),
            cluster: ClusterConfig {
                name: "bench".into(),
                secret: "bench-secret-0123456789".into(),
                stripe_size: 65536,
                parity,
                peer_tls: stripecast_config::PeerTls::Auto,
            },
            timeouts: Timeouts::default(),
            store: stripecast_config::StoreSettings::default(),
            http: stripecast_config::HttpSettings::default(),
            members: members.clone(),
            ring: None,
            witness: None,
            auth: None,
        })
        .collect())
}

/// Starts a bench cluster of `nodes` members in a fresh directory here and
/// waits until it serves; answers the directory, the cluster and its
/// members' base URLs.
pub(super) fn start_cluster(
    nodes: usize,
    parity: u8,
    member_bin: Option<std::path::PathBuf>,
    store: stripecast_config::StoreSettings,
) -> anyhow::Result<(tempfile::TempDir, LocalCluster, Vec<String>)> {
    start_cluster_with(nodes, parity, member_bin, &|_, c| {
        c.store = store.clone();
        Ok(None)
    })
}

/// [`start_cluster`], each config changed by `configure(dir, config)`
/// before the members start; `configure` answers the CA that clients
/// must trust (HTTPS members), if any.
pub(super) fn start_cluster_with(
    nodes: usize,
    parity: u8,
    member_bin: Option<std::path::PathBuf>,
    configure: &dyn Fn(
        &std::path::Path,
        &mut MemberConfig,
    ) -> anyhow::Result<Option<std::path::PathBuf>>,
) -> anyhow::Result<(tempfile::TempDir, LocalCluster, Vec<String>)> {
    let dir = tempfile::Builder::new()
        .prefix("stripecast-bench-")
        .tempdir_in(".")
        .context("bench directory")?;
    let mut configs = bench_configs(dir.path(), nodes, parity)?;
    let mut ca = None;
    for c in &mut configs {
        ca = configure(dir.path(), c)?.or(ca);
    }
    let mut cluster = LocalCluster::start_exe(configs, Vec::new(), member_bin)?;
    cluster.ca = ca;
    cluster.wait_ready(Duration::from_secs(60), &|| false)?;
    let bases = (0..nodes)
        .map(|i| cluster.node(i).node.to_string())
        .collect();
    Ok((dir, cluster, bases))
}

/// Waits until member `victim`, just restarted, is up with an empty dirty
/// set; answers the time from when it was first seen rebuilding (process
/// start and join excluded).
pub(super) fn wait_rebuilt(
    cluster: &LocalCluster,
    victim: usize,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let mut began: Option<Instant> = None;
    loop {
        let v = crate::cmd::client::fetch_cluster(&cluster.node(0)).ok();
        let m = v.as_ref().and_then(|v| v.members.get(victim));
        let state = m.map(|m| m.state);
        if began.is_none() && state == Some(MemberState::Rebuilding) {
            began = Some(Instant::now());
        }
        if state == Some(MemberState::Up) && m.is_some_and(|m| m.dirty == 0) {
            break;
        }
        ensure!(
            t.elapsed() < timeout,
            "the rebuild did not finish in {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(began.map(|b| b.elapsed()).unwrap_or_else(|| t.elapsed()))
}

/// One sample of a member's `/metrics` (the sum over its label sets).
fn member_metric(base: &str, name: &str) -> anyhow::Result<f64> {
    let text = ureq::get(&format!("{base}/metrics"))
        .timeout(Duration::from_secs(5))
        .call()
        .map_err(|e| anyhow::anyhow!("{base}/metrics: {e}"))?
        .into_string()
        .context("reading /metrics")?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

fn loopback(pattern: &[u8], size: u64) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let sink = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    });
    let t = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    let mut sent = 0u64;
    while sent < size {
        let n = (size - sent).min(pattern.len() as u64) as usize;
        s.write_all(&pattern[..n])?;
        sent += n as u64;
    }
    drop(s);
    let got = sink
        .join()
        .map_err(|_| anyhow::anyhow!("loopback reader panicked"))??;
    ensure!(got == size, "loopback: {got} of {size} bytes");
    Ok(t.elapsed())
}

fn disk(dir: &std::path::Path, pattern: &[u8], size: u64) -> anyhow::Result<Duration> {
    let path = dir.join("raw-disk-baseline");
    let t = Instant::now();
    let mut f = std::fs::File::create(&path)?;
    let mut written = 0u64;
    while written < size {
        let n = (size - written).min(pattern.len() as u64) as usize;
        f.write_all(&pattern[..n])?;
        written += n as u64;
    }
    f.sync_all()?;
    let d = t.elapsed();
    drop(f);
    let _ = std::fs::remove_file(&path);
    Ok(d)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(
        args.nodes >= 3,
        "--nodes must be at least 3 (the bench takes one member down)"
    );
    let pat = super::xorshift_bytes(64 << 20, 0x9E37_79B9_7F4A_7C15);
    let (dir, mut cluster, bases) = start_cluster(
        args.nodes,
        args.parity,
        args.member_bin.clone(),
        stripecast_config::StoreSettings::default(),
    )?;
    let agent = ureq::AgentBuilder::new().build();
    let small = (args.small > 0)
        .then(|| {
            let pids: Vec<i32> = (0..args.nodes)
                .filter_map(|i| cluster.pid(i))
                .map(|p| p.as_raw())
                .collect();
            super::small::run(
                &bases,
                &pids,
                dir.path(),
                args.small,
                args.clients.max(1),
                &args.small_stages,
            )
        })
        .transpose()?;
    let urls: Vec<String> = (0..args.nodes)
        .map(|i| {
            format!(
                "{}/v1/objects/{}",
                cluster.node(i).node,
                encode_name("bench/object")
            )
        })
        .collect();
    let url = |i: usize| urls[i].clone();

    let mut reader = PatternReader {
        pattern: &pat,
        pos: 0,
        len: args.size,
        crc: 0,
    };
    let t = Instant::now();
    agent
        .put(&url(0))
        .set("Content-Length", &args.size.to_string())
        .send(&mut reader)
        .map_err(|e| anyhow::anyhow!("PUT: {e}"))?;
    let put = t.elapsed();
    let want_crc = reader.crc;

    let t = Instant::now();
    let resp = agent
        .get(&url(1 % args.nodes))
        .call()
        .map_err(|e| anyhow::anyhow!("GET: {e}"))?;
    let mut body = resp.into_reader();
    let mut buf = vec![0u8; 1 << 20];
    let (mut got, mut crc) = (0u64, 0u32);
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            break;
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        got += n as u64;
    }
    let get = t.elapsed();
    ensure!(
        got == args.size && crc == want_crc,
        "GET returned different bytes ({got} bytes)"
    );

    // One member down: the time to the first reconstructed block, then a whole degraded GET.
    let victim = args.nodes - 1;
    let t = Instant::now();
    cluster.kill(victim);
    let first_block = loop {
        // Data block victim-1 of row 0 lives on the victim (RAID-5 puts row 0's
        // parity on member 0), so this range needs a reconstruction.
        let start = (victim as u64 - 1) * 65536;
        let r = agent
            .get(&url(0))
            .set("Range", &format!("bytes={start}-{}", start + 65535))
            .call();
        if let Ok(resp) = r {
            let mut b = Vec::new();
            resp.into_reader().read_to_end(&mut b)?;
            if b.len() == 65536 {
                break t.elapsed();
            }
        }
        ensure!(
            t.elapsed() < Duration::from_secs(10),
            "no degraded read within 10 s"
        );
    };
    let t = Instant::now();
    let resp = agent
        .get(&url(0))
        .call()
        .map_err(|e| anyhow::anyhow!("degraded GET: {e}"))?;
    let (dgot, dcrc) = drain(resp.into_reader())?;
    let degraded = t.elapsed();
    ensure!(
        dgot == args.size && dcrc == want_crc,
        "degraded GET returned different bytes"
    );

    // Overwrite while it is down (its dirty set: this object), then time its rebuild.
    let mut reader = PatternReader {
        pattern: &pat,
        pos: 0,
        len: args.size,
        crc: 0,
    };
    agent
        .put(&url(0))
        .set("Content-Length", &args.size.to_string())
        .send(&mut reader)
        .map_err(|e| anyhow::anyhow!("PUT while degraded: {e}"))?;
    let restarted = Instant::now();
    cluster.spawn(victim)?;
    wait_rebuilt(&cluster, victim, Duration::from_secs(600))?;
    let rejoin = restarted.elapsed();
    let victim_base = &bases[victim];
    let rebuilt_bytes = member_metric(victim_base, "stripecast_rebuild_bytes_total")?;
    let rebuild = Duration::from_secs_f64(member_metric(
        victim_base,
        "stripecast_rebuild_seconds_total",
    )?);
    ensure!(
        rebuilt_bytes > 0.0 && !rebuild.is_zero(),
        "the returning member reports no rebuild"
    );
    let rebuilt_bytes = rebuilt_bytes as u64;
    cluster.stop();

    let lo = loopback(&pat, args.size)?;
    let dk = disk(dir.path(), &pat, args.size)?;
    let dk_small = disk(dir.path(), &pat, rebuilt_bytes)?;
    if args.keep {
        eprintln!("cluster directory kept: {}", dir.keep().display());
    }
    let r = Report {
        nodes: args.nodes,
        size: args.size,
        put_mbps: mbps(args.size, put),
        get_mbps: mbps(args.size, get),
        loopback_mbps: mbps(args.size, lo),
        disk_mbps: mbps(args.size, dk),
        put_vs_disk: dk.as_secs_f64() / put.as_secs_f64(),
        put_vs_loopback: lo.as_secs_f64() / put.as_secs_f64(),
        get_vs_loopback: lo.as_secs_f64() / get.as_secs_f64(),
        degraded_get_mbps: mbps(args.size, degraded),
        degraded_vs_healthy: get.as_secs_f64() / degraded.as_secs_f64(),
        kill_to_first_reconstructed_ms: first_block.as_secs_f64() * 1e3,
        rebuild_mbps: mbps(rebuilt_bytes, rebuild),
        rebuild_vs_disk: dk_small.as_secs_f64() / rebuild.as_secs_f64(),
        rejoin_ms: rejoin.as_secs_f64() * 1e3,
        small,
    };
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "cluster of {} members, object of {} MiB",
            r.nodes,
            r.size >> 20
        );
        println!(
            "  PUT       {:>9.1} MB/s   {:.2}x raw disk write+fsync, {:.2}x raw loopback",
            r.put_mbps, r.put_vs_disk, r.put_vs_loopback
        );
        println!(
            "  GET       {:>9.1} MB/s   {:.2}x raw loopback",
            r.get_mbps, r.get_vs_loopback
        );
        println!(
            "  GET, 1 down {:>7.1} MB/s   {:.2}x healthy GET",
            r.degraded_get_mbps, r.degraded_vs_healthy
        );
        println!(
            "  SIGKILL -> first reconstructed block served: {:.1} ms",
            r.kill_to_first_reconstructed_ms
        );
        println!(
            "  rebuild   {:>9.1} MB/s   {:.2}x raw disk write+fsync of the same bytes (the job; restart to current {:.0} ms)",
            r.rebuild_mbps, r.rebuild_vs_disk, r.rejoin_ms
        );
        println!(
            "  loopback  {:>9.1} MB/s   (baseline: one TCP stream on 127.0.0.1)",
            r.loopback_mbps
        );
        println!(
            "  disk      {:>9.1} MB/s   (baseline: one file, write then fsync)",
            r.disk_mbps
        );
        if let Some(s) = &r.small {
            println!(
                "  small objects, {} clients, {} per size:",
                s.clients, s.objects_per_size
            );
            println!("    4 KiB PUT   {:>8.0} /s", s.put_4k_per_s);
            println!("    4 KiB GET   {:>8.0} /s", s.get_4k_per_s);
            println!(
                "    64 KiB PUT  {:>8.0} /s   {:.2}x raw 64 KiB file write+fsync ({:.0} /s); p50 {:.1} ms, p99 {:.1} ms; members' CPU {:.0} us per PUT",
                s.put_64k_per_s, s.put_64k_vs_raw, s.raw_fsync_64k_per_s, s.put_64k_p50_ms, s.put_64k_p99_ms, s.member_cpu_us_per_put_64k
            );
            println!(
                "    64 KiB GET  {:>8.0} /s   {:.2}x raw 64 KiB file write+fsync; p50 {:.1} ms, p99 {:.1} ms; members' CPU {:.0} us per GET",
                s.get_64k_per_s, s.get_64k_vs_raw, s.get_64k_p50_ms, s.get_64k_p99_ms, s.member_cpu_us_per_get_64k
            );
            for st in &s.stages {
                println!(
                    "    with {:>8} stored: 64 KiB PUT {:>6.0} /s ({:.2}x first), GET {:>6.0} /s ({:.2}x first)",
                    st.stored, st.put_64k_per_s, st.put_vs_first, st.get_64k_per_s, st.get_vs_first
                );
            }
            if s.retried_503 > 0 {
                println!("    {} answers were 503 and tried again", s.retried_503);
            }
        }
    }
    Ok(())
}
