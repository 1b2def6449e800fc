//! `stripecast bench tls`: what encryption costs. Two local clusters in one
//! run, alike but for TLS: the baseline plain, the other with HTTPS on
//! every HTTP port (a local CA's certificate) and its peer mesh inside TLS
//! 1.3 (`peer_tls = "on"`). The same `/v1` load on each (large-object
//! MB/s, 64 KiB objects/s, `--clients` at once), each figure of the TLS
//! cluster as a ratio to the plain one's.

use anyhow::ensure;
use serde::Serialize;

use super::load::{Figures, Load};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Members in each cluster.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    #[command(flatten)]
    load: super::load::Load,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    nodes: usize,
    clients: usize,
    large_size: u64,
    plain: Figures,
    tls: Figures,
    /// tls / plain for each figure (1.0: encryption costs nothing).
    #[serde(flatten)]
    ratios: super::load::Ratios,
}

/// Runs `load` on a fresh cluster, encrypted or not.
fn run_one(args: &Args, load: &Load, encrypted: bool) -> anyhow::Result<Figures> {
    let (_dir, cluster, bases) =
        super::cluster::start_cluster_with(args.nodes, 1, None, &|dir, c| {
            if !encrypted {
                return Ok(None);
            }
            let files = stripecast_actors::tls::local_certificates(&dir.join("tls"))?;
            c.http.tls_cert = Some(files.cert);
            c.http.tls_key = Some(files.key);
            c.cluster.peer_tls = stripecast_config::PeerTls::On;
            Ok(Some(files.ca))
        })?;
    let ca = cluster.ca.clone();
    ensure!(
        encrypted == bases.iter().all(|b| b.starts_with("https://")),
        "the cluster serves the scheme asked for"
    );
    let agent =
        || crate::cmd::client::agent_trusting(ca.as_deref()).unwrap_or_else(|_| ureq::Agent::new());
    let pick = |name: &str| {
        let k: usize = name.bytes().map(usize::from).sum();
        bases[k % bases.len()].clone()
    };
    let figures = load.measure(&agent, &|name| {
        format!("{}/v1/objects/bench/{name}", pick(name))
    })?;
    drop(cluster);
    Ok(figures)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.nodes >= 3, "--nodes must be at least 3");
    let load = args.load;
    let plain = run_one(&args, &load, false)?;
    let tls = run_one(&args, &load, true)?;
    let report = Report {
        nodes: args.nodes,
        clients: args.load.clients,
        large_size: args.load.large_size,
        plain,
        tls,
        ratios: tls.over(&plain),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let title = format!(
            "bench tls: {} members, {} clients ({} MiB large objects); HTTPS + encrypted mesh against plain",
            report.nodes,
            report.clients,
            report.large_size >> 20
        );
        super::load::print_table(&title, ("plain", "TLS"), &plain, &tls);
    }
    Ok(())
}
