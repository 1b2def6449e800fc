//! `stripecast bench heal`: how fast a member that missed writes catches up.
//!
//! Starts a local cluster, SIGKILLs one member, PUTs `--objects` objects of
//! `--size` bytes from `--clients` clients (the cluster's own PUT rate, with
//! that member down: the baseline of this run), restarts the member and
//! times its heal, from the moment it is seen rebuilding until it is up with
//! an empty dirty set. Healed MB/s counts the object bytes it caught up on;
//! the figure that matters is its ratio to the PUT rate (goal >= 0.5).
//! The healed bytes are then checked: another member is SIGKILLed and every
//! object is read back (each row needs the healed member's block or its
//! reconstruction from it) and compared.

use std::io::Read as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use serde::Serialize;

use crate::cmd::client::encode_name;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Members in the cluster.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Parity blocks per row.
    #[arg(long, default_value_t = 1)]
    parity: u8,
    /// Objects written while the member is down.
    #[arg(long, default_value_t = 64)]
    objects: usize,
    /// Bytes per object (suffixes K, M, G accepted).
    #[arg(long, default_value = "16M", value_parser = super::cluster::parse_size)]
    size: u64,
    /// Concurrent clients of the PUTs.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// The members' `[store] heal_max_mb_per_s` (0: unthrottled), to see
    /// the throttle hold the heal to it.
    #[arg(long, default_value_t = 0)]
    heal_max_mb_per_s: u32,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Run the members from this binary (another build, for a before/after comparison).
    #[arg(long)]
    member_bin: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
struct Report {
    nodes: usize,
    objects: usize,
    object_bytes: u64,
    /// PUT MB/s with the member down (the baseline).
    put_mbps: f64,
    /// Object MB/s healed by the returning member.
    heal_mbps: f64,
    /// heal_mbps / put_mbps (goal >= 0.5).
    heal_vs_put: f64,
    heal_s: f64,
    /// The throttle the members ran with (0: none).
    heal_max_mb_per_s: u32,
    /// Objects read back exactly through the healed member with another down.
    verified_objects: usize,
}

fn body(k: usize, size: u64) -> Vec<u8> {
    super::xorshift_bytes(size as usize, 0xA076_1D64_78BD_642F ^ k as u64)
}

fn url(base: &str, k: usize) -> String {
    format!(
        "{base}/v1/objects/{}",
        encode_name(&format!("bench/heal/{k:05}"))
    )
}

/// Runs `work(k)` for k in 0..n on `clients` threads.
pub(super) fn spread(
    n: usize,
    clients: usize,
    work: &(dyn Fn(usize, &ureq::Agent) -> anyhow::Result<()> + Sync),
) -> anyhow::Result<()> {
    spread_with(n, clients, &ureq::Agent::new, work)
}

/// [`spread`], each client with an agent from `agent`.
pub(super) fn spread_with(
    n: usize,
    clients: usize,
    agent: &(dyn Fn() -> ureq::Agent + Sync),
    work: &(dyn Fn(usize, &ureq::Agent) -> anyhow::Result<()> + Sync),
) -> anyhow::Result<()> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients.max(1))
            .map(|_| {
                let next = &next;
                s.spawn(move || -> anyhow::Result<()> {
                    let agent = agent();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= n {
                            return Ok(());
                        }
                        work(k, &agent)?;
                    }
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("client panicked")))
        })
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.nodes >= 3, "--nodes must be at least 3");
    let (_dir, mut cluster, bases) = super::cluster::start_cluster(
        args.nodes,
        args.parity,
        args.member_bin.clone(),
        stripecast_config::StoreSettings {
            heal_max_mb_per_s: args.heal_max_mb_per_s,
            ..Default::default()
        },
    )?;
    let victim = args.nodes - 1;
    cluster.kill(victim);
    // Writes through the members that stay up.
    let up = &bases[..victim];
    let crcs: Vec<AtomicUsize> = (0..args.objects).map(|_| AtomicUsize::new(0)).collect();
    let t = Instant::now();
    spread(args.objects, args.clients, &|k, agent| {
        let b = body(k, args.size);
        crcs[k].store(crc32c::crc32c(&b) as usize, Ordering::Relaxed);
        let u = url(&up[k % up.len()], k);
        // The first PUTs may meet the cluster still noticing the kill.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match agent.put(&u).send_bytes(&b) {
                Ok(_) => return Ok(()),
                Err(ureq::Error::Status(503, _)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => anyhow::bail!("PUT {u}: {e}"),
            }
        }
    })?;
    let put = t.elapsed();
    let total = args.size * args.objects as u64;

    cluster.spawn(victim)?;
    let heal = super::cluster::wait_rebuilt(&cluster, victim, Duration::from_secs(1800))?;

    // The healed blocks are needed now: another member goes down.
    cluster.kill(0);
    let via = &bases[victim];
    spread(args.objects, args.clients, &|k, agent| {
        let u = url(via, k);
        let deadline = Instant::now() + Duration::from_secs(30);
        let got = loop {
            match agent.get(&u).call() {
                Ok(resp) => {
                    let mut got = Vec::with_capacity(args.size as usize);
                    resp.into_reader().read_to_end(&mut got)?;
                    break got;
                }
                Err(ureq::Error::Status(503, _)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => anyhow::bail!("GET {u}: {e}"),
            }
        };
        ensure!(
            got.len() as u64 == args.size
                && crc32c::crc32c(&got) as usize == crcs[k].load(Ordering::Relaxed),
            "object {k} read back different bytes after the heal"
        );
        Ok(())
    })?;
    cluster.stop();

    let put_mbps = super::cluster::mbps(total, put);
    let heal_mbps = super::cluster::mbps(total, heal);
    let r = Report {
        nodes: args.nodes,
        objects: args.objects,
        object_bytes: total,
        put_mbps,
        heal_mbps,
        heal_vs_put: heal_mbps / put_mbps,
        heal_s: heal.as_secs_f64(),
        heal_max_mb_per_s: args.heal_max_mb_per_s,
        verified_objects: args.objects,
    };
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "heal of {} objects x {} bytes ({} MiB) on {} members",
            r.objects,
            args.size,
            total >> 20,
            r.nodes
        );
        println!("  PUT, 1 down  {:>9.1} MB/s   (baseline)", r.put_mbps);
        println!(
            "  heal        {:>9.1} MB/s   {:.2}x PUT ({:.1} s){}",
            r.heal_mbps,
            r.heal_vs_put,
            r.heal_s,
            if r.heal_max_mb_per_s > 0 {
                format!(
                    ", throttled to {} MB/s of fragment bytes",
                    r.heal_max_mb_per_s
                )
            } else {
                String::new()
            }
        );
        println!(
            "  verified     {} objects read back exactly with member 0 down",
            r.verified_objects
        );
    }
    Ok(())
}
