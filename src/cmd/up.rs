//! `stripecast up`: a local cluster of member processes on one machine.
//!
//! Writes one config per member under `DIR/member-<i>/config.toml` (a fresh
//! random secret the first time, the same one after, so a second `up` on the
//! same directory comes back with its data), starts every member as a child
//! process logging to `DIR/member-<i>/member.log`, waits until every member
//! sees all the others, prints how to use it, and on Ctrl-C (or SIGTERM)
//! stops the members cleanly (SIGTERM, then SIGKILL after 10 s).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use stripecast_config::{try_local_cluster, MemberConfig};

use super::client::{fetch_cluster, NodeOpt};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of members.
    #[arg(long, default_value_t = 5)]
    nodes: u32,
    /// Where the members keep their data and configs.
    #[arg(long, default_value = "./stripecast-data")]
    dir: PathBuf,
    /// Member i serves HTTP on 127.0.0.1:(this + i).
    #[arg(long, default_value_t = 8400)]
    http_base_port: u16,
    /// Member i listens for peers on 127.0.0.1:(this + i).
    #[arg(long, default_value_t = 7400)]
    peer_base_port: u16,
    /// Parity blocks per row (1 = RAID-5; 2+ = Reed-Solomon; 0 = none).
    #[arg(long, default_value_t = 1)]
    parity: u8,
}

fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The secret and name of an earlier `up` on this directory, if any.
fn previous(dir: &Path) -> Option<(String, String)> {
    let cfg = MemberConfig::load(&dir.join("member-0").join("config.toml")).ok()?;
    Some((cfg.cluster.name, cfg.cluster.secret))
}

struct Members {
    children: Vec<(u32, Child)>,
}

impl Members {
    fn stop(&mut self) {
        for (_, c) in &self.children {
            if let Ok(pid) = i32::try_from(c.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (id, c) in &mut self.children {
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    _ => {
                        eprintln!("member {id} did not stop in time; killing it");
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                }
            }
        }
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let dir = args.dir.canonicalize().with_context(|| format!("resolving {}", args.dir.display()))?;
    let (name, secret) = previous(&dir).unwrap_or_else(|| ("local".to_string(), random_secret()));
    let configs = try_local_cluster(
        &name,
        &secret,
        args.nodes,
        &dir,
        args.http_base_port,
        args.peer_base_port,
        args.parity,
    )?;
    let exe = std::env::current_exe().context("finding the stripecast binary")?;
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone()).context("SIGINT handler")?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone()).context("SIGTERM handler")?;

    let mut members = Members { children: Vec::new() };
    for cfg in &configs {
        std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating {}", cfg.data_dir.display()))?;
        let path = cfg.data_dir.join("config.toml");
        cfg.save(&path)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cfg.data_dir.join("member.log"))
            .context("opening the member log")?;
        let child = Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("member log")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting member {}", cfg.id))?;
        members.children.push((cfg.id, child));
    }

    // Ready when every member sees every member up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let nodes: Vec<NodeOpt> = configs
        .iter()
        .map(|c| NodeOpt {
            node: format!("http://{}", c.me().http),
        })
        .collect();
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        for (id, c) in &mut members.children {
            if let Ok(Some(status)) = c.try_wait() {
                bail!(
                    "member {id} exited during start-up ({status}); see {}",
                    dir.join(format!("member-{id}")).join("member.log").display()
                );
            }
        }
        let ready = nodes.iter().all(|n| {
            fetch_cluster(n).is_ok_and(|v| {
                v.get("members")
                    .and_then(|m| m.as_array())
                    .is_some_and(|ms| ms.iter().all(|m| m.get("state").and_then(|s| s.as_str()) == Some("up")))
            })
        });
        if ready {
            break;
        }
        if Instant::now() > deadline {
            bail!("the cluster did not come up within 60 s; see the member logs under {}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    println!("stripecast: {} members up (data in {})", configs.len(), dir.display());
    for c in &configs {
        println!("  member {}  http://{}  (peer port {})", c.id, c.me().http, c.me().peer.port());
    }
    let first = &nodes[0].node;
    println!();
    println!("try:");
    println!("  stripecast put movies/intro.ts ./some-file      # store a file (any member: --node URL)");
    println!("  stripecast get movies/intro.ts -o copy.ts       # read it back");
    println!("  stripecast ls ; stripecast status");
    println!("  curl {first}/v1/cluster");
    println!("  curl -H 'Range: bytes=0-99' {first}/v1/objects/movies/intro.ts");
    println!("Ctrl-C stops the cluster; run `stripecast up` again on the same --dir to get it back.");

    while !stop.load(Ordering::SeqCst) {
        for (id, c) in &mut members.children {
            if let Ok(Some(status)) = c.try_wait() {
                eprintln!("stripecast: member {id} exited ({status})");
            }
        }
        members.children.retain_mut(|(_, c)| !matches!(c.try_wait(), Ok(Some(_))));
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("stopping the members");
    members.stop();
    members.children.clear();
    println!("stopped");
    Ok(())
}
