//! `stripecast bench streams`: the video-on-demand origin case. Many
//! clients each play one object at a constant bit rate (`--rate`, e.g.
//! `3.75Mbit`), reading it with one streaming GET and consuming it no
//! faster than the rate (TCP back-pressure paces the member). A client
//! *stalls* when its playout, started after a `--buffer-s` head start,
//! overtakes what it received: the share of clients that never stalled is
//! the figure, healthy and with one member SIGKILLed mid-run. The baseline
//! of the same run is the rate itself: a client keeps it or it does not.
//! Clients spread over the members and over `--objects` objects (several
//! readers per object and different objects at once); bytes are checked
//! against what was written.

use std::io::Read as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use serde::Serialize;

use crate::cmd::client::encode_name;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Members in the cluster.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Concurrent streaming clients.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Each client's rate in bits per second (suffixes K, M, G + "bit": 3.75Mbit).
    #[arg(long, default_value = "3.75Mbit", value_parser = parse_rate)]
    rate: u64,
    /// Seconds each phase (healthy, then one member killed) plays.
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// Objects the clients play (each read by clients / objects clients).
    #[arg(long, default_value_t = 8)]
    objects: usize,
    /// Seconds of media a client buffers before it starts playing.
    #[arg(long, default_value_t = 2.0)]
    buffer_s: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Run the members from this binary (another build, for a before/after comparison).
    #[arg(long)]
    member_bin: Option<std::path::PathBuf>,
}

/// Parses `3.75Mbit` (or `3750000`) into bits per second.
fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim().trim_end_matches("bit").trim_end_matches("bps");
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1e3),
        Some('M' | 'm') => (&t[..t.len() - 1], 1e6),
        Some('G' | 'g') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    let v: f64 = num.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if !(v > 0.0 && v * mult < 1e12) {
        return Err(format!("{s:?}: out of range"));
    }
    Ok((v * mult) as u64)
}

#[derive(Debug, Serialize)]
struct Phase {
    clients: usize,
    /// Clients that never stalled over the phase.
    kept_rate: usize,
    kept_share: f64,
    /// Clients whose stream failed (no answer, an error mid-stream): not
    /// stalls, but they did not keep the rate either.
    failed: usize,
    /// The first failure's message.
    first_failure: Option<String>,
    /// Bytes delivered over the bytes the rate asked for.
    delivered_vs_rate: f64,
    /// Longest stall seen by any client, in ms.
    worst_stall_ms: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    nodes: usize,
    rate_bits_per_s: u64,
    duration_s: u64,
    healthy: Phase,
    one_member_killed: Phase,
}

fn object_name(o: usize) -> String {
    format!("bench/stream/{o:03}")
}

fn body(o: usize, len: usize) -> Vec<u8> {
    super::xorshift_bytes(len, 0x51_7CC1_B727_220A ^ o as u64)
}

/// Plays one phase: every client streams its object at the rate for
/// `duration`; `during` runs once the clients are under way.
fn phase(
    args: &Args,
    bases: &[String],
    objects: &[Vec<u8>],
    during: &mut dyn FnMut(),
) -> anyhow::Result<Phase> {
    let bytes_per_s = args.rate as f64 / 8.0;
    let duration = Duration::from_secs(args.duration_s);
    let kept = AtomicUsize::new(0);
    let delivered = AtomicU64::new(0);
    let worst_stall_us = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let errored = AtomicUsize::new(0);
    let first_failure = std::sync::Mutex::new(None::<String>);
    let started = AtomicUsize::new(0);
    let result: anyhow::Result<()> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.clients)
            .map(|c| {
                let (kept, delivered, worst, failed, started) =
                    (&kept, &delivered, &worst_stall_us, &failed, &started);
                let base = &bases[c % bases.len()];
                let o = c % objects.len();
                let want = &objects[o];
                std::thread::Builder::new()
                    .stack_size(256 << 10)
                    .spawn_scoped(s, move || -> anyhow::Result<()> {
                        let url = format!("{base}/v1/objects/{}", encode_name(&object_name(o)));
                        let agent = ureq::AgentBuilder::new()
                            .timeout_read(Duration::from_secs(30))
                            .build();
                        let t0 = Instant::now();
                        let resp = agent.get(&url).call().map_err(|e| {
                            failed.store(true, Ordering::Relaxed);
                            match e {
                                // The member's reason, not only its status.
                                ureq::Error::Status(code, resp) => anyhow::anyhow!(
                                    "GET {url}: {code} {}",
                                    resp.into_string().unwrap_or_default()
                                ),
                                e => anyhow::anyhow!("GET {url}: {e}"),
                            }
                        })?;
                        started.fetch_add(1, Ordering::Relaxed);
                        let mut body = resp.into_reader();
                        let mut buf = vec![0u8; 16 << 10];
                        let mut got = 0usize;
                        let mut stalled_us = 0u64;
                        let mut stall_max_us = 0u64;
                        let head = Duration::from_secs_f64(args.buffer_s);
                        while t0.elapsed() < duration + head && got < want.len() {
                            // Consume no faster than the rate (after the head start).
                            let allowed = (bytes_per_s
                                * (t0.elapsed().as_secs_f64() + args.buffer_s))
                                as usize;
                            if got >= allowed {
                                std::thread::sleep(Duration::from_millis(20));
                                continue;
                            }
                            let want_now = (allowed - got).min(buf.len());
                            let before = Instant::now();
                            let n = body.read(&mut buf[..want_now])?;
                            ensure!(n > 0, "{url}: ended after {got} bytes");
                            ensure!(
                                buf[..n] == want[got..got + n],
                                "{url}: wrong bytes at {got}"
                            );
                            got += n;
                            // Playout position: the rate since the head start.
                            let played = (bytes_per_s
                                * (t0.elapsed().as_secs_f64() - args.buffer_s).max(0.0))
                                as usize;
                            if got < played {
                                let waited = before.elapsed().as_micros() as u64;
                                stalled_us += waited;
                                stall_max_us = stall_max_us.max(waited);
                            }
                        }
                        delivered.fetch_add(got as u64, Ordering::Relaxed);
                        worst.fetch_max(stall_max_us, Ordering::Relaxed);
                        if stalled_us == 0 {
                            kept.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(())
                    })
            })
            .collect::<std::io::Result<_>>()?;
        // Let the clients start, then whatever the phase does.
        let t = Instant::now();
        while started.load(Ordering::Relaxed) < args.clients
            && !failed.load(Ordering::Relaxed)
            && t.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(duration / 3);
        during();
        for h in handles {
            // A client that failed (an error, wrong bytes) did not keep its rate;
            // wrong bytes fail the whole bench.
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.to_string().contains("wrong bytes") => return Err(e),
                Ok(Err(e)) => {
                    errored.fetch_add(1, Ordering::Relaxed);
                    first_failure
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert_with(|| e.to_string());
                    tracing::warn!(error = %e, "a stream failed")
                }
                Err(_) => anyhow::bail!("a client panicked"),
            }
        }
        Ok(())
    });
    result?;
    let asked = bytes_per_s * (duration.as_secs_f64() + args.buffer_s) * args.clients as f64;
    let kept = kept.load(Ordering::Relaxed);
    Ok(Phase {
        clients: args.clients,
        kept_rate: kept,
        kept_share: kept as f64 / args.clients.max(1) as f64,
        failed: errored.load(Ordering::Relaxed),
        first_failure: first_failure
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
        delivered_vs_rate: delivered.load(Ordering::Relaxed) as f64 / asked.max(1.0),
        worst_stall_ms: worst_stall_us.load(Ordering::Relaxed) as f64 / 1e3,
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.nodes >= 3, "--nodes must be at least 3");
    ensure!(
        args.clients >= 1 && args.objects >= 1,
        "--clients and --objects must be at least 1"
    );
    let (_dir, mut cluster, bases) = super::cluster::start_cluster(
        args.nodes,
        1,
        args.member_bin.clone(),
        stripecast_config::StoreSettings::default(),
    )?;
    // Long enough for a phase and the head start, and a little more.
    let len = ((args.rate as f64 / 8.0) * (args.duration_s as f64 + args.buffer_s + 5.0)) as usize;
    let objects: Vec<Vec<u8>> = (0..args.objects).map(|o| body(o, len)).collect();
    let agent = ureq::AgentBuilder::new().build();
    for (o, b) in objects.iter().enumerate() {
        let url = format!("{}/v1/objects/{}", bases[0], encode_name(&object_name(o)));
        agent
            .put(&url)
            .send_bytes(b)
            .map_err(|e| anyhow::anyhow!("PUT {url}: {e}"))?;
    }
    let healthy = phase(&args, &bases, &objects, &mut || {})?;
    // The victim's clients go to the others: a killed member's own HTTP
    // clients reconnect elsewhere in real life; here they are not counted.
    let victim = args.nodes - 1;
    let survivors = &bases[..victim];
    let killed = phase(&args, survivors, &objects, &mut || cluster.kill(victim))?;
    cluster.stop();
    let r = Report {
        nodes: args.nodes,
        rate_bits_per_s: args.rate,
        duration_s: args.duration_s,
        healthy,
        one_member_killed: killed,
    };
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} clients at {:.2} Mbit/s for {} s, {} objects, {} members",
            args.clients,
            args.rate as f64 / 1e6,
            args.duration_s,
            args.objects,
            args.nodes
        );
        for (what, p) in [
            ("healthy", &r.healthy),
            ("1 member SIGKILLed", &r.one_member_killed),
        ] {
            println!(
                "  {what:<20} {:>5} of {} kept the rate ({:.2}), {} failed, delivered {:.2}x the rate, worst stall {:.0} ms",
                p.kept_rate, p.clients, p.kept_share, p.failed, p.delivered_vs_rate, p.worst_stall_ms
            );
            if let Some(e) = &p.first_failure {
                println!("  {:<20} first failure: {e}", "");
            }
        }
    }
    Ok(())
}
