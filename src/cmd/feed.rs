//! `stripecast feed FILE.ts --to udp://HOST:PORT [--loop]`: plays a TS at its
//! real bitrate, paced by its PCRs, as UDP datagrams of 7 packets (1316
//! bytes). `--generate SECONDS [--tag NAME]` plays a synthetic stream instead
//! of a file. With `--loop` the stream repeats with its PCR, PTS and CCs
//! carried on, so the receiver sees one continuous valid TS.

use anyhow::Context as _;
use std::net::{SocketAddr, ToSocketAddrs as _, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use stripecast_ts::gen::generate;
use stripecast_ts::pacer::{datagrams, LoopStamper};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The TS file to play (omit with --generate).
    #[arg(required_unless_present = "generate")]
    file: Option<PathBuf>,
    /// Destination, udp://HOST:PORT.
    #[arg(long)]
    to: String,
    /// Repeat the stream until killed.
    #[arg(long = "loop")]
    repeat: bool,
    /// Play SECONDS of a generated stream instead of a file.
    #[arg(long, conflicts_with = "file")]
    generate: Option<f64>,
    #[command(flatten)]
    opts: super::ts::GenOpts,
    /// TS packets per datagram.
    #[arg(long, default_value_t = 7)]
    packets_per_datagram: usize,
}

/// Parses `udp://HOST:PORT`.
pub fn udp_target(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url
        .strip_prefix("udp://")
        .with_context(|| format!("--to {url}: want udp://HOST:PORT"))?;
    rest.to_socket_addrs()
        .with_context(|| format!("--to {url}: cannot resolve"))?
        .next()
        .with_context(|| format!("--to {url}: no address"))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let target = udp_target(&args.to)?;
    let ts = match (&args.file, args.generate) {
        (_, Some(secs)) => {
            anyhow::ensure!(
                secs.is_finite() && secs > 0.0 && secs <= 3600.0,
                "--generate wants 0 < SECONDS <= 3600"
            );
            let p = args.opts.params()?;
            generate(Duration::from_secs_f64(secs), &p).context("generating the stream")?
        }
        (Some(f), None) => std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
        (None, None) => anyhow::bail!("give a FILE or --generate SECONDS"),
    };
    anyhow::ensure!(
        (1..=64).contains(&args.packets_per_datagram),
        "--packets-per-datagram wants 1..=64"
    );
    let (plan, duration) = datagrams(&ts, args.packets_per_datagram, args.opts.bitrate)
        .context("pacing the stream")?;
    let bind = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = UdpSocket::bind(bind).context("binding a UDP socket")?;
    let stamper = args.repeat.then(|| LoopStamper::new(&ts, duration));
    tracing::info!(%target, bytes = ts.len(), secs = duration.as_secs_f64(), "feed starting");
    let start = Instant::now();
    let mut sent = 0u64;
    let mut n = 0u64;
    loop {
        let bytes = match &stamper {
            Some(s) if n > 0 => s.stamp(&ts, n),
            _ => ts.clone(),
        };
        let base = duration.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
        for dg in &plan {
            let due = start + base + dg.at;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let chunk = bytes
                .get(dg.bytes.clone())
                .context("datagram out of range")?;
            sock.send_to(chunk, target)
                .with_context(|| format!("sending to {target}"))?;
            sent += chunk.len() as u64;
        }
        n += 1;
        if !args.repeat {
            break;
        }
    }
    eprintln!(
        "feed: sent {sent} bytes to {target} in {:.3} s (stream {:.3} s x {n})",
        start.elapsed().as_secs_f64(),
        duration.as_secs_f64()
    );
    Ok(())
}
