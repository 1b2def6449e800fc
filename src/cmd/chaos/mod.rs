//! `stripecast chaos`: a seeded nemesis against a concurrent workload on a
//! local cluster of real member processes, and a checker over the whole
//! history; `stripecast chaos check FILE` checks a history again on its own.
//!
//! A run: start the cluster (as `up` does, on free loopback ports, with the
//! `inject` test hook), print the schedule, run `--clients` clients for
//! `--duration` while the nemesis follows the schedule, heal everything,
//! wait for convergence (every member sees every member `up` with nothing
//! left to rebuild), read every key from every member, scrub every member,
//! check, report. Exit status 0 only with no violation.
//!
//! The pure parts (schedule, workload, payloads, history, checker) live in
//! the `stripecast-chaos` crate; this module is the I/O around them.

mod clients;
mod nemesis;
mod report;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use stripecast_actors::gateway::ClusterDoc;
use stripecast_chaos::history::{self, Entry, FaultSpan};
use stripecast_chaos::{check, CheckDoc, FaultKind, RunDoc, Schedule, Workload};
use stripecast_config::{try_local_cluster, try_local_witness};

use self::clients::Shared;
use self::nemesis::Nemesis;
use super::launch::LocalCluster;
use super::ring::parse_duration;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    check: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Check a history file (JSON lines, e.g. from --history or an outside workload).
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// The history to check.
    file: PathBuf,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Members of the local cluster (2: the mirror, with its witness).
    #[arg(long, default_value_t = 5)]
    members: u32,
    /// Parity blocks per row.
    #[arg(long, default_value_t = 1)]
    parity: u8,
    /// Seed of the fault schedule and of every client's operations (random if absent).
    #[arg(long)]
    seed: Option<u64>,
    /// How long the workload runs under faults (e.g. 60s, 90s, 2m).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: u32,
    /// Keys the clients share.
    #[arg(long, default_value_t = 12)]
    keys: usize,
    /// Fault kinds, comma-separated: kill, stop, partition, drop, delay,
    /// duplicate, reorder, corrupt, rot, kill2, restart-all, inject, or all.
    #[arg(long, default_value = "all")]
    faults: String,
    /// Where the cluster keeps its data, kept after the run (an empty or new
    /// directory); a temporary directory, removed after, if absent.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the history as JSON lines here (`stripecast chaos check` reads it).
    #[arg(long)]
    history: Option<PathBuf>,
    /// How long to wait for the healed cluster to converge before calling it a violation.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    converge_timeout: Duration,
    /// Print the schedule and each client's first operations, and run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Test-only hook for every member (see `stripecast node --test-hook`), e.g.
    /// `serve-unverified` to plant a fault the checker must find.
    #[arg(long = "test-hook", value_name = "NAME")]
    test_hooks: Vec<String>,
    /// Run the peer mesh inside TLS (`[cluster] peer_tls = "on"`), as a
    /// cluster across machines does.
    #[arg(long)]
    peer_tls: bool,
}

/// The stripe size of the local clusters `chaos` starts (the config default).
const STRIPE_BYTES: usize = 65536;
/// Operations per client shown by `--dry-run`.
const DRY_RUN_OPS: usize = 20;

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.check {
        Some(Sub::Check(c)) => check_file(c),
        None => run_chaos(args.run),
    }
}

fn check_file(a: CheckArgs) -> anyhow::Result<()> {
    let f =
        std::fs::File::open(&a.file).with_context(|| format!("opening {}", a.file.display()))?;
    let entries = history::read(std::io::BufReader::new(f))
        .with_context(|| format!("reading {}", a.file.display()))?;
    let report = check(&entries);
    print!("{}", report::summary(&report));
    if let Some(path) = &a.json {
        report::write_json(
            path,
            &CheckDoc {
                report: report.clone(),
            },
        )?;
    }
    verdict(&report)
}

fn verdict(report: &stripecast_chaos::Report) -> anyhow::Result<()> {
    if report.ok() {
        Ok(())
    } else {
        bail!("{} violations", report.violations.len())
    }
}

/// A base port with `n` free consecutive loopback ports for HTTP and `n` for peers.
fn free_ports(n: u16) -> anyhow::Result<(u16, u16)> {
    let free =
        |base: u16| (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
    // Below Linux's ephemeral range (32768..), where outgoing connections
    // would take ports between our check and the members' bind.
    for _ in 0..200 {
        let http = rand::random::<u16>() % 12000 + 20000;
        let peer = http + 64;
        if free(http) && free(peer) {
            return Ok((http, peer));
        }
    }
    bail!("no free loopback ports found")
}

fn run_chaos(a: RunArgs) -> anyhow::Result<()> {
    let kinds = FaultKind::parse_list(&a.faults).map_err(anyhow::Error::msg)?;
    if !(2..=64).contains(&a.members) {
        bail!("--members must be 2 to 64");
    }
    if a.clients == 0 || a.keys == 0 {
        bail!("--clients and --keys must be at least 1");
    }
    let seed = a.seed.unwrap_or_else(rand::random);
    let duration_ms = a.duration.as_millis() as u64;
    let schedule = Schedule::generate(seed, duration_ms, a.members, &kinds);
    let data_members = a.members as usize - usize::from(a.parity);
    let workload = Workload::new(seed, a.keys, a.members, data_members, STRIPE_BYTES);
    let kind_names = kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(",");
    println!(
        "chaos: seed {seed}, {} members, parity {}, {:.0}s, {} clients, {} keys, faults {kind_names}",
        a.members,
        a.parity,
        a.duration.as_secs_f64(),
        a.clients,
        a.keys
    );
    print!("{schedule}");
    if a.dry_run {
        for c in 0..a.clients {
            println!("client {c}:");
            for op in workload.client(c).take(DRY_RUN_OPS) {
                println!(
                    "  #{:<3} {:<6} {} {:>8} B  member {}",
                    op.seq,
                    format!("{:?}", op.kind).to_uppercase(),
                    op.key,
                    op.len,
                    op.member
                );
            }
        }
        return Ok(());
    }

    let temp;
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            // Objects left by an earlier run would be values no write of this history wrote.
            if std::fs::read_dir(d)
                .with_context(|| format!("reading {}", d.display()))?
                .next()
                .is_some()
            {
                bail!("{} is not empty: chaos needs a fresh cluster", d.display());
            }
            d.canonicalize()?
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("stripecast-chaos-")
                .tempdir()
                .context("creating a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    // One more peer port: the mirror's witness.
    let (http_base, peer_base) = free_ports(a.members as u16 + 1)?;
    let secret: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let mut configs = try_local_cluster(
        "chaos", &secret, a.members, &dir, http_base, peer_base, a.parity,
    )?;
    // The 2-member mirror runs with its witness, as `up` starts it.
    let mut witness = if a.members == 2 {
        Some(try_local_witness(&mut configs, &dir, peer_base)?)
    } else {
        None
    };
    if a.peer_tls {
        for c in configs.iter_mut().chain(witness.iter_mut()) {
            c.cluster.peer_tls = stripecast_config::PeerTls::On;
        }
    }
    let mut node_args = vec!["--test-hook".to_string(), "inject".to_string()];
    for h in &a.test_hooks {
        node_args.extend(["--test-hook".to_string(), h.clone()]);
    }
    let mut cluster = LocalCluster::start_with(configs, node_args)?;
    if let Some(w) = &witness {
        cluster.start_witness(w)?;
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted.clone())
        .context("SIGINT handler")?;
    if !cluster.wait_ready(Duration::from_secs(60), &|| {
        interrupted.load(Ordering::SeqCst)
    })? {
        bail!("interrupted");
    }
    let members: Vec<String> = cluster
        .configs
        .iter()
        .map(|c| format!("http://{}", c.me().http))
        .collect();
    println!("cluster up in {} (HTTP {}..)", dir.display(), members[0]);

    let shared = Shared {
        t0: Instant::now(),
        history: Default::default(),
        stop: Arc::new(AtomicBool::new(false)),
        members: Arc::new(members),
    };
    let workload = Arc::new(workload);
    let threads: Vec<_> = (0..a.clients)
        .map(|c| {
            let (shared, workload) = (shared.clone(), workload.clone());
            std::thread::spawn(move || clients::run_client(shared, c, workload.client(c)))
        })
        .collect();

    let mut nemesis = Nemesis::new(cluster, workload.keys.clone());
    follow_schedule(
        &schedule,
        &mut nemesis,
        &shared,
        Duration::from_millis(duration_ms),
        &interrupted,
    );
    shared.stop.store(true, Ordering::SeqCst);
    eprintln!("chaos: workload done; waiting for the clients' last operations");
    for t in threads {
        let _ = t.join();
    }

    nemesis.heal_all();
    let healed = Instant::now();
    let converged = wait_converged(&shared.members, a.converge_timeout, &|| {
        interrupted.load(Ordering::SeqCst)
    });
    let after_ms = healed.elapsed().as_millis() as u64;
    shared.record(Entry::Converged {
        after_ms,
        converged,
    });
    println!(
        "healed; {} after {:.1}s",
        if converged {
            "converged"
        } else {
            "NOT converged"
        },
        after_ms as f64 / 1000.0
    );

    let mut seq = 0;
    for key in &workload.keys {
        for m in 0..a.members {
            shared.record(Entry::Op(clients::final_read(&shared, seq, key, m)));
            seq += 1;
        }
    }
    for m in 0..a.members {
        shared.record(scrub(&shared.members[m as usize], m));
    }

    let entries = shared.snapshot();
    if let Some(path) = &a.history {
        write_history(path, &entries)?;
    }
    let report = check(&entries);
    print!("{}", report::summary(&report));
    if let Some(path) = &a.json {
        report::write_json(
            path,
            &RunDoc {
                seed,
                members: a.members,
                parity: a.parity,
                duration_s: a.duration.as_secs_f64(),
                clients: a.clients,
                keys: a.keys,
                faults: kinds.iter().map(|k| k.name().to_string()).collect(),
                schedule: schedule.events.clone(),
                converged,
                converge_ms: after_ms,
                ok: report.ok(),
                report: report.clone(),
            },
        )?;
    }
    nemesis.cluster.stop();
    verdict(&report)
}

/// Does each scheduled fault at its time and heals it after its duration,
/// recording its span, until `run_end`; draws the progress line meanwhile.
fn follow_schedule(
    schedule: &Schedule,
    nemesis: &mut Nemesis,
    shared: &Shared,
    run_end: Duration,
    interrupted: &AtomicBool,
) {
    let mut progress = report::Progress::new(schedule.events.len());
    let mut wait_until = |progress_faults: usize, at: Duration| {
        progress.faults_done = progress_faults;
        while shared.t0.elapsed() < at && !interrupted.load(Ordering::SeqCst) {
            progress.tick(shared);
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    for (i, e) in schedule.events.iter().enumerate() {
        wait_until(i, Duration::from_millis(e.at_ms));
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        let start_us = shared.now_us();
        let detail = nemesis.inject(e);
        wait_until(i + 1, Duration::from_millis(e.at_ms + e.duration_ms));
        nemesis.heal(e);
        shared.record(Entry::Fault(FaultSpan {
            kind: e.kind.name().to_string(),
            members: e.members.clone(),
            start_us,
            end_us: shared.now_us(),
            detail,
        }));
    }
    wait_until(schedule.events.len(), run_end);
    progress.finish(shared);
}

fn write_history(path: &Path, entries: &[Entry]) -> anyhow::Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    history::write(std::io::BufWriter::new(f), entries)
        .with_context(|| format!("writing {}", path.display()))
}

/// Waits until every member answers and sees every member `up` with nothing to rebuild.
fn wait_converged(members: &[String], timeout: Duration, stop: &dyn Fn() -> bool) -> bool {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(2))
        .build();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline && !stop() {
        let settled = members.iter().all(|m| {
            agent
                .get(&format!("{m}/v1/cluster"))
                .call()
                .ok()
                .and_then(|r| r.into_json::<ClusterDoc>().ok())
                .is_some_and(|doc| {
                    doc.members.len() == members.len()
                        && doc.members.iter().all(|d| {
                            d.state == stripecast_actors::gateway::MemberState::Up && d.dirty == 0
                        })
                })
        });
        if settled {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Member `member`'s final scrub.
fn scrub(base: &str, member: u32) -> Entry {
    #[derive(serde::Deserialize)]
    struct Scrubbed {
        corrupt: u64,
        repaired: u64,
        unrepairable: u64,
    }
    let res = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
        .post(&format!("{base}/v1/scrub"))
        .call();
    match res.map(|r| r.into_json::<Scrubbed>()) {
        Ok(Ok(s)) => Entry::Scrub {
            member,
            corrupt: s.corrupt,
            repaired: s.repaired,
            unrepairable: s.unrepairable,
            error: None,
        },
        Ok(Err(e)) => scrub_error(member, format!("unreadable report: {e}")),
        Err(e) => scrub_error(member, e.to_string()),
    }
}

fn scrub_error(member: u32, error: String) -> Entry {
    Entry::Scrub {
        member,
        corrupt: 0,
        repaired: 0,
        unrepairable: 0,
        error: Some(error),
    }
}
