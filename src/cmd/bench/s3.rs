//! `stripecast bench s3`: the S3 API against the `/v1` API, in one run on
//! one local cluster: PUT and GET MB/s of large objects and objects/s of
//! small ones, `--clients` at once, each figure as a ratio to `/v1`'s.
//!
//! The bench cluster is open (no `[auth]`, loopback only), so S3 requests
//! go unsigned: the figure is the S3 surface's cost (s3s's parsing, the
//! ETag's MD5, the XML), not SigV4's HMACs, which a signed client adds on
//! its own side.

use std::io::Read as _;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use serde::Serialize;

use super::heal::spread;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Members in the cluster.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Bytes per large object (suffixes K, M, G accepted).
    #[arg(long, default_value = "256M", value_parser = super::cluster::parse_size)]
    large_size: u64,
    /// Large objects per API.
    #[arg(long, default_value_t = 16)]
    large_objects: usize,
    /// Small objects (64 KiB) per API.
    #[arg(long, default_value_t = 2000)]
    small_objects: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// One API's figures.
#[derive(Debug, Serialize, Clone, Copy)]
struct Figures {
    large_put_mbps: f64,
    large_get_mbps: f64,
    small_put_per_s: f64,
    small_get_per_s: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    nodes: usize,
    clients: usize,
    large_size: u64,
    v1: Figures,
    s3: Figures,
    /// s3 / v1 for each figure (1.0: the S3 surface costs nothing).
    large_put_ratio: f64,
    large_get_ratio: f64,
    small_put_ratio: f64,
    small_get_ratio: f64,
}

const SMALL_BYTES: usize = 64 * 1024;

/// PUTs and GETs through `url(name)`; the figures.
fn measure(args: &Args, url: &(dyn Fn(&str) -> String + Sync)) -> anyhow::Result<Figures> {
    let large = super::xorshift_bytes(args.large_size as usize, 7);
    let small = super::xorshift_bytes(SMALL_BYTES, 11);
    let put = |name: String, body: &[u8], agent: &ureq::Agent| -> anyhow::Result<()> {
        agent
            .put(&url(&name))
            .send_bytes(body)
            .with_context(|| format!("PUT {name}"))?;
        Ok(())
    };
    let get = |name: String, want: usize, agent: &ureq::Agent| -> anyhow::Result<()> {
        let r = agent
            .get(&url(&name))
            .call()
            .with_context(|| format!("GET {name}"))?;
        let mut n = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        let mut body = r.into_reader();
        loop {
            let k = body.read(&mut buf)?;
            if k == 0 {
                break;
            }
            n += k;
        }
        ensure!(n == want, "GET {name}: {n} bytes, not {want}");
        Ok(())
    };
    let timed = |f: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<Duration> {
        let t = Instant::now();
        f()?;
        Ok(t.elapsed())
    };
    let large_bytes = args.large_size * args.large_objects as u64;
    let lp = timed(&|| {
        spread(args.large_objects, args.clients, &|k, a| {
            put(format!("large-{k}"), &large, a)
        })
    })?;
    let lg = timed(&|| {
        spread(args.large_objects, args.clients, &|k, a| {
            get(format!("large-{k}"), large.len(), a)
        })
    })?;
    let sp = timed(&|| {
        spread(args.small_objects, args.clients, &|k, a| {
            put(format!("small-{k}"), &small, a)
        })
    })?;
    let sg = timed(&|| {
        spread(args.small_objects, args.clients, &|k, a| {
            get(format!("small-{k}"), SMALL_BYTES, a)
        })
    })?;
    let per_s = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    Ok(Figures {
        large_put_mbps: super::cluster::mbps(large_bytes, lp),
        large_get_mbps: super::cluster::mbps(large_bytes, lg),
        small_put_per_s: per_s(args.small_objects, sp),
        small_get_per_s: per_s(args.small_objects, sg),
    })
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
    let v1 = measure(&args, &|name| {
        format!("{}/v1/objects/v1bench/{name}", pick(name, &bases))
    })?;
    let s3f = measure(&args, &|name| format!("{}/bench/{name}", pick(name, &s3)))?;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let report = Report {
        nodes: args.nodes,
        clients: args.clients,
        large_size: args.large_size,
        v1,
        s3: s3f,
        large_put_ratio: ratio(s3f.large_put_mbps, v1.large_put_mbps),
        large_get_ratio: ratio(s3f.large_get_mbps, v1.large_get_mbps),
        small_put_ratio: ratio(s3f.small_put_per_s, v1.small_put_per_s),
        small_get_ratio: ratio(s3f.small_get_per_s, v1.small_get_per_s),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "bench s3: {} members, {} clients ({} MiB large objects)",
            report.nodes,
            report.clients,
            report.large_size >> 20
        );
        println!("                  /v1          S3      S3 / v1");
        println!(
            "large PUT MB/s {:>8.1}  {:>10.1}   {:>6.2}x",
            v1.large_put_mbps, s3f.large_put_mbps, report.large_put_ratio
        );
        println!(
            "large GET MB/s {:>8.1}  {:>10.1}   {:>6.2}x",
            v1.large_get_mbps, s3f.large_get_mbps, report.large_get_ratio
        );
        println!(
            "64K PUT obj/s  {:>8.1}  {:>10.1}   {:>6.2}x",
            v1.small_put_per_s, s3f.small_put_per_s, report.small_put_ratio
        );
        println!(
            "64K GET obj/s  {:>8.1}  {:>10.1}   {:>6.2}x",
            v1.small_get_per_s, s3f.small_get_per_s, report.small_get_ratio
        );
    }
    drop(cluster);
    Ok(())
}
