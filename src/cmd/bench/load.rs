//! One client load, measured the same way for every benchmark that
//! compares two ways of reaching a cluster (`bench s3`: S3 against `/v1`;
//! `bench tls`: HTTPS and an encrypted mesh against plain): PUT then GET
//! of large objects (MB/s) and of 64 KiB objects (objects/s), `clients`
//! at once, every GET's length checked.

use std::io::Read as _;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use serde::Serialize;

use super::heal::spread_with;

/// Bytes of a small object.
pub const SMALL_BYTES: usize = 64 * 1024;

/// What one measurement does (the same flags on every bench that uses it).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Load {
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Bytes per large object (suffixes K, M, G accepted).
    #[arg(long, default_value = "256M", value_parser = super::cluster::parse_size)]
    pub large_size: u64,
    /// Large objects per way measured.
    #[arg(long, default_value_t = 16)]
    pub large_objects: usize,
    /// Small objects (64 KiB) per way measured.
    #[arg(long, default_value_t = 2000)]
    pub small_objects: usize,
}

/// One way's figures.
#[derive(Debug, Serialize, Clone, Copy)]
pub struct Figures {
    pub large_put_mbps: f64,
    pub large_get_mbps: f64,
    pub small_put_per_s: f64,
    pub small_get_per_s: f64,
}

/// One way's figures over the baseline's (1.0: the same).
#[derive(Debug, Serialize, Clone, Copy)]
pub struct Ratios {
    pub large_put_ratio: f64,
    pub large_get_ratio: f64,
    pub small_put_ratio: f64,
    pub small_get_ratio: f64,
}

impl Figures {
    /// Each of `self`'s figures over `base`'s.
    pub fn over(&self, base: &Figures) -> Ratios {
        let r = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        Ratios {
            large_put_ratio: r(self.large_put_mbps, base.large_put_mbps),
            large_get_ratio: r(self.large_get_mbps, base.large_get_mbps),
            small_put_ratio: r(self.small_put_per_s, base.small_put_per_s),
            small_get_ratio: r(self.small_get_per_s, base.small_get_per_s),
        }
    }
}

/// Prints `base` and `measured` side by side (columns named `names`) with
/// the ratios, under `title`.
pub fn print_table(title: &str, names: (&str, &str), base: &Figures, measured: &Figures) {
    let r = measured.over(base);
    println!("{title}");
    println!(
        "               {:>10}  {:>10}   {} / {}",
        names.0, names.1, names.1, names.0
    );
    for (what, b, m, ratio) in [
        (
            "large PUT MB/s",
            base.large_put_mbps,
            measured.large_put_mbps,
            r.large_put_ratio,
        ),
        (
            "large GET MB/s",
            base.large_get_mbps,
            measured.large_get_mbps,
            r.large_get_ratio,
        ),
        (
            "64K PUT obj/s ",
            base.small_put_per_s,
            measured.small_put_per_s,
            r.small_put_ratio,
        ),
        (
            "64K GET obj/s ",
            base.small_get_per_s,
            measured.small_get_per_s,
            r.small_get_ratio,
        ),
    ] {
        println!("{what} {b:>10.1}  {m:>10.1}   {ratio:>6.2}x");
    }
}

impl Load {
    /// PUTs and GETs through `url(name)`, each client with an agent from
    /// `agent`; the figures.
    pub fn measure(
        &self,
        agent: &(dyn Fn() -> ureq::Agent + Sync),
        url: &(dyn Fn(&str) -> String + Sync),
    ) -> anyhow::Result<Figures> {
        let large = super::xorshift_bytes(self.large_size as usize, 7);
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
        let (clients, large_n, small_n) = (self.clients, self.large_objects, self.small_objects);
        let lp = timed(&|| {
            spread_with(large_n, clients, agent, &|k, a| {
                put(format!("large-{k}"), &large, a)
            })
        })?;
        let lg = timed(&|| {
            spread_with(large_n, clients, agent, &|k, a| {
                get(format!("large-{k}"), large.len(), a)
            })
        })?;
        let sp = timed(&|| {
            spread_with(small_n, clients, agent, &|k, a| {
                put(format!("small-{k}"), &small, a)
            })
        })?;
        let sg = timed(&|| {
            spread_with(small_n, clients, agent, &|k, a| {
                get(format!("small-{k}"), SMALL_BYTES, a)
            })
        })?;
        let per_s = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
        let large_bytes = self.large_size * large_n as u64;
        Ok(Figures {
            large_put_mbps: super::cluster::mbps(large_bytes, lp),
            large_get_mbps: super::cluster::mbps(large_bytes, lg),
            small_put_per_s: per_s(small_n, sp),
            small_get_per_s: per_s(small_n, sg),
        })
    }
}
