//! The ring part of `stripecast up --ring N`: a switch with N feeds, video
//! system i on member i and the spare at position N, N looping generated
//! feeds (each with an SCTE-35 cue every loop), and a demo insert stored in
//! the cluster, so a newcomer sees inserts, failover and the spare with one
//! command.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Context as _};
use stripecast_config::{
    FeedConfig, MemberConfig, MemberId, OutputTarget, RingDirection, RingLink, SwitchConfig,
    SwitchTimeouts, SystemConfig,
};
use stripecast_ts::gen::{generate, GenParams};

use super::client::{encode_name, http_error, NodeOpt};
use super::launch::LocalCluster;

/// The object a cue in a demo feed inserts.
pub const DEMO_AD: &str = "demo/ad.ts";
/// Seconds per loop of a demo feed; its cue comes 4 s into each loop.
const LOOP_SECS: u32 = 20;
const CUE_AT_SECS: u32 = 4;

/// Ports of the ring's pieces.
#[derive(Debug, Clone, Copy)]
pub struct RingPorts {
    /// Switch control port; its HTTP port is the next one.
    pub switch: u16,
    /// Feed g arrives on UDP (this + g); OUT_g goes to UDP (this + 100 + g).
    pub udp: u16,
}

/// A loopback socket address.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Adds the `[ring]` link to members 0..=n and returns the switch's config.
pub fn plan(
    dir: &Path,
    n: usize,
    ports: RingPorts,
    configs: &mut [MemberConfig],
) -> anyhow::Result<SwitchConfig> {
    ensure!(n >= 2, "--ring wants at least 2 feeds");
    ensure!(
        configs.len() > n,
        "--ring {n} needs at least {} members (one per feed plus the spare); use --nodes {}",
        n + 1,
        n + 1
    );
    let first = configs
        .first()
        .context("a cluster has members")?
        .cluster
        .clone();
    let link = RingLink {
        switch: local(ports.switch),
        switch_http: local(ports.switch + 1),
    };
    for c in configs.iter_mut().take(n + 1) {
        c.ring = Some(link);
    }
    let cfg = SwitchConfig {
        data_dir: dir.join("switch"),
        control: link.switch,
        http: link.switch_http,
        direction: RingDirection::Either,
        cluster_name: first.name,
        secret: first.secret,
        timeouts: SwitchTimeouts::default(),
        keep_finished_inserts: stripecast_config::DEFAULT_KEEP_FINISHED_INSERTS,
        feeds: (0..n)
            .map(|g| FeedConfig {
                input: local(ports.udp + g as u16),
                output: OutputTarget::Udp(local(ports.udp + 100 + g as u16)),
                cue_object: Some(DEMO_AD.to_owned()),
            })
            .collect(),
        systems: (0..=n)
            .map(|i| SystemConfig {
                member: MemberId::new(i as u32),
            })
            .collect(),
    };
    cfg.validate()?;
    Ok(cfg)
}

/// How the generated feeds play.
#[derive(Debug, Clone, Copy)]
pub struct FeedPlan {
    /// Seconds of stream (per loop when looping).
    pub seconds: u32,
    pub looped: bool,
    /// An SCTE-35 cue this many seconds in (every loop).
    pub cue_at: Option<u32>,
}

impl FeedPlan {
    /// The demo's: 20 s loops with a cue 4 s in.
    pub const DEMO: FeedPlan = FeedPlan {
        seconds: LOOP_SECS,
        looped: true,
        cue_at: Some(CUE_AT_SECS),
    };
}

/// Starts the switch and one generated feed per configured input.
pub fn start(
    cluster: &mut LocalCluster,
    cfg: &SwitchConfig,
    feeds: FeedPlan,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let path = cfg.data_dir.join("switch.toml");
    cfg.save(&path)?;
    cluster.spawn_extra(
        "switch",
        &[
            "switch".into(),
            "--config".into(),
            path.display().to_string(),
        ],
        &cfg.data_dir.join("switch.log"),
    )?;
    for (g, f) in cfg.feeds.iter().enumerate() {
        let mut args: Vec<String> = vec![
            "feed".into(),
            "--generate".into(),
            feeds.seconds.to_string(),
            "--tag".into(),
            format!("FEED{g}"),
            "--to".into(),
            format!("udp://{}", f.input),
        ];
        if feeds.looped {
            args.push("--loop".into());
        }
        if let Some(at) = feeds.cue_at {
            args.extend(["--cue-at".into(), at.to_string()]);
        }
        cluster.spawn_extra(
            &format!("feed {g}"),
            &args,
            &cfg.data_dir.join(format!("feed-{g}.log")),
        )?;
    }
    Ok(())
}

/// Stores the demo insert (a 3 s generated stream tagged AD) unless present.
pub fn store_demo_ad(node: &NodeOpt) -> anyhow::Result<()> {
    let path = format!("/v1/objects/{}", encode_name(DEMO_AD));
    if node.request("HEAD", &path)?.call().is_ok() {
        return Ok(());
    }
    let mut p = GenParams::new("AD");
    p.pcr_start = 500 * stripecast_ts::PCR_HZ;
    let ts = generate(Duration::from_secs(3), &p).context("generating the demo insert")?;
    node.request("PUT", &path)?
        .send_bytes(&ts)
        .map_err(|e| http_error(e, "storing the demo insert"))?;
    Ok(())
}
