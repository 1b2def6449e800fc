//! `stripecast bench s3`: the S3 API against the `/v1` API, in one run on
//! one local cluster: PUT and GET MB/s of large objects and objects/s of
//! small ones, `--clients` at once, each figure as a ratio to `/v1`'s.
//!
//! The bench cluster is open (no `[auth]`, loopback only), so S3 requests
//! go unsigned: the figure is the S3 surface's cost (s3s's parsing, the
//! ETag's MD5, the XML), not SigV4's HMACs, which a signed client adds on
//! its own side.

use anyhow::{ensure, Context as _};
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Members in the cluster.
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
    v1: super::load::Figures,
    s3: super::load::Figures,
    /// s3 / v1 for each figure (1.0: the S3 surface costs nothing).
    #[serde(flatten)]
    ratios: super::load::Ratios,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.nodes >= 3, "--nodes must be at least 3");
    let (_dir, cluster, bases) = super::cluster::start_cluster(
        args.nodes,
        1,
        None,
        stripecast_config::StoreSettings::default(),
    )?;
    let s3: Vec<String> = cluster
        .configs
        .iter()
        .filter_map(|c| c.me().s3.map(|a| format!("http://{a}")))
        .collect();
    ensure!(s3.len() == args.nodes, "every bench member serves S3");
    // The bucket the S3 half writes into.
    ureq::put(&format!("{}/bench", s3[0]))
        .call()
        .context("creating the bench bucket")?;
    let pick = |name: &str, urls: &[String]| {
        let k: usize = name.bytes().map(usize::from).sum();
        urls[k % urls.len()].clone()
    };
    let load = args.load;
    let plain = ureq::Agent::new;
    let v1 = load.measure(&plain, &|name| {
        format!("{}/v1/objects/v1bench/{name}", pick(name, &bases))
    })?;
    let s3f = load.measure(&plain, &|name| format!("{}/bench/{name}", pick(name, &s3)))?;
    let report = Report {
        nodes: args.nodes,
        clients: args.load.clients,
        large_size: args.load.large_size,
        v1,
        s3: s3f,
        ratios: s3f.over(&v1),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let title = format!(
            "bench s3: {} members, {} clients ({} MiB large objects)",
            report.nodes,
            report.clients,
            report.large_size >> 20
        );
        super::load::print_table(&title, ("/v1", "S3"), &v1, &s3f);
    }
    drop(cluster);
    Ok(())
}
