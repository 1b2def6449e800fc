//! `stripecast bench ring`: the ring's video-insertion failover, measured over
//! `--runs` fresh local rings (3 members with a `[ring]` link, the switch, two
//! paced generated feeds, outputs captured on UDP sockets the bench binds).
//!
//! In each run an insert (tag `AD1`) is scheduled on feed 1; when the switch
//! reports it playing with at least 280 packets played, the member whose
//! processor covers feed 1 is SIGKILLed. Measured:
//!
//! * failover: from the SIGKILL to the arrival on output 1 of the first insert
//!   packet whose marker seq is higher than any seen before the kill (the
//!   first packet of the insert produced by the new processor);
//! * the longest gap between datagrams of each output, from the moment both
//!   outputs flow until 3 s after the kill (and, separately, the longest
//!   one from the last datagram before the kill on).
//!
//! Baseline, from the same run: the normal spacing of each output's datagrams
//! (median and longest gap before the kill), so the longest gap is also shown
//! as a ratio to the normal (median) spacing. Results are min/median/max
//! across runs. Nothing is asserted on the timings.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use stripecast_config::{OutputTarget, RingLink};
use stripecast_ring::switch::http::InsertRequest;
use stripecast_ring::switch::{InsertRec, InsertState, RingDoc};
use stripecast_ts::gen::{generate, marker, GenParams};
use stripecast_ts::packet::packets;
use stripecast_ts::PCR_HZ;

use super::cluster::bench_configs;
use crate::cmd::client::{agent, encode_name, http_error};
use crate::cmd::launch::LocalCluster;
use crate::cmd::ring_demo::{self, local, RingPorts};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Repeated runs, each on a fresh local ring.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

const FEEDS: usize = 2;
const MEMBERS: usize = FEEDS + 1;
/// The feed whose insert is interrupted by the kill.
const FEED: usize = 1;
const INSERT_TAG: &str = "AD1";
const INSERT_OBJECT: &str = "bench/ad1.ts";
const INSERT_MS: u64 = 3000;
/// Packets of the insert played before the kill.
const PLAYED_BEFORE_KILL: u64 = 280;
/// Capture kept going after the kill.
const AFTER_KILL: Duration = Duration::from_secs(3);

/// One datagram of an output: when it arrived and its bytes.
type Datagram = (Instant, Vec<u8>);

struct Capture {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Datagram>>>,
}

impl Capture {
    fn start() -> anyhow::Result<Capture> {
        let sock = UdpSocket::bind("127.0.0.1:0").context("binding a capture socket")?;
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .context("capture socket timeout")?;
        let addr = sock.local_addr().context("capture socket address")?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 65_536];
            while !flag.load(Ordering::SeqCst) {
                if let Ok(n) = sock.recv(&mut buf) {
                    got.push((Instant::now(), buf[..n].to_vec()));
                }
            }
            got
        });
        Ok(Capture {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    fn finish(mut self) -> anyhow::Result<Vec<Datagram>> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .context("a capture finished twice")?
            .join()
            .map_err(|_| anyhow::anyhow!("a capture thread panicked"))
    }
}

impl Drop for Capture {
    /// A run that fails part-way still stops its capture thread.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn free_tcp_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("finding free TCP ports")?;
    ls.iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect::<Result<_, std::io::Error>>()
        .context("finding free TCP ports")
}

fn free_udp_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let socks: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("finding free UDP ports")?;
    socks
        .iter()
        .map(|s| Ok(s.local_addr()?.port()))
        .collect::<Result<_, std::io::Error>>()
        .context("finding free UDP ports")
}

/// Gaps between consecutive arrival times.
fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Min, median (the mean of the middle two for an even count) and max.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    min: f64,
    median: f64,
    max: f64,
}

fn summarise(xs: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Summary {
        min: v[0],
        median,
        max: v[n - 1],
    })
}

/// Given (arrival, seq) of the insert's marked packets in arrival order, the
/// arrival of the first one after `kill` whose seq is above every seq that
/// arrived before `kill`.
fn first_new_after(marks: &[(Instant, u32)], kill: Instant) -> Option<Instant> {
    let before = marks.iter().filter(|m| m.0 < kill).map(|m| m.1).max();
    marks
        .iter()
        .filter(|m| m.0 >= kill)
        .find(|m| before.is_none_or(|b| m.1 > b))
        .map(|m| m.0)
}

/// (arrival, seq) of every marked video packet tagged `tag`.
fn marks(cap: &[Datagram], tag: &str) -> Vec<(Instant, u32)> {
    let mut out = Vec::new();
    for (t, d) in cap {
        for p in packets(d).filter_map(Result::ok) {
            if let Some(m) = marker(p.payload()) {
                if m.tag == tag {
                    out.push((*t, m.seq));
                }
            }
        }
    }
    out
}

/// What one run measured.
struct Run {
    failover: Option<Duration>,
    /// Per output: the longest gap over the run, the longest from the last
    /// datagram before the kill on, the median and longest gap before the kill.
    max_gap: Vec<Duration>,
    after_kill_gap: Vec<Duration>,
    base_median: Vec<Duration>,
    base_max: Vec<Duration>,
    killed: u32,
    players: String,
}

fn ring_doc(url: &str) -> Option<RingDoc> {
    agent()
        .get(url)
        .timeout(Duration::from_secs(2))
        .call()
        .ok()?
        .into_json()
        .ok()
}

/// Polls the switch's status every 10 ms until `ok` holds.
fn wait_for(
    url: &str,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&RingDoc) -> bool,
) -> anyhow::Result<(RingDoc, Instant)> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(d) = ring_doc(url).filter(|d| ok(d)) {
            return Ok((d, Instant::now()));
        }
        if Instant::now() > deadline {
            bail!(
                "timed out after {timeout:?} waiting for {what}; last status: {:?}",
                ring_doc(url)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn insert_rec(doc: &RingDoc, id: u64) -> Option<&InsertRec> {
    doc.inserts.iter().find(|r| r.id == id)
}

fn one_run(insert: &[u8]) -> anyhow::Result<Run> {
    let dir = tempfile::Builder::new()
        .prefix("stripecast-bench-ring-")
        .tempdir()
        .context("bench directory")?;
    let mut configs = bench_configs(dir.path(), MEMBERS, 1)?;
    // Plan on placeholder ports, then point everything at free ones and the captures.
    let mut cfg = ring_demo::plan(
        dir.path(),
        FEEDS,
        RingPorts { switch: 1, udp: 10 },
        &mut configs,
    )?;
    let tcp = free_tcp_ports(2)?;
    let udp_in = free_udp_ports(FEEDS)?;
    let link = RingLink {
        switch: local(tcp[0]),
        switch_http: local(tcp[1]),
    };
    for c in &mut configs {
        if c.ring.is_some() {
            c.ring = Some(link);
        }
    }
    cfg.control = link.switch;
    cfg.http = link.switch_http;
    let caps = (0..FEEDS)
        .map(|_| Capture::start())
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (g, f) in cfg.feeds.iter_mut().enumerate() {
        f.input = local(udp_in[g]);
        f.output = OutputTarget::Udp(caps[g].addr);
        f.cue_object = None;
    }
    cfg.validate()?;

    let mut cluster = LocalCluster::start(configs)?;
    cluster.wait_ready(Duration::from_secs(60), &|| false)?;
    let node = cluster.node(0);
    agent()
        .put(&node.url(&format!("/v1/objects/{}", encode_name(INSERT_OBJECT))))
        .send_bytes(insert)
        .map_err(|e| http_error(e, "storing the insert"))?;

    ring_demo::start(
        &mut cluster,
        &cfg,
        ring_demo::FeedPlan {
            seconds: 120,
            looped: false,
            cue_at: None,
        },
    )?;
    let status = format!("http://{}/v1/ring", link.switch_http);
    let (_, flowing) = wait_for(
        &status,
        "every processor connected and both outputs flowing",
        Duration::from_secs(30),
        |d| d.systems.iter().all(|s| s.connected) && d.feeds.iter().all(|f| f.packets_out > 500),
    )?;

    let at = stripecast_ring::now_ms() + 1500;
    let r: InsertRec = agent()
        .post(&node.url("/v1/ring/inserts"))
        .send_json(InsertRequest {
            feed: FEED,
            at: Some(at),
            object: INSERT_OBJECT.into(),
        })
        .map_err(|e| http_error(e, "scheduling the insert"))?
        .into_json()
        .context("the insert's record")?;
    let id = r.id;
    let (doc, _) = wait_for(
        &status,
        "the insert well under way",
        Duration::from_secs(30),
        |d| {
            insert_rec(d, id)
                .is_some_and(|r| r.state == InsertState::Playing && r.played >= PLAYED_BEFORE_KILL)
        },
    )?;
    let killed = doc
        .feeds
        .get(FEED)
        .and_then(|f| f.member)
        .context("feed 1's member in the switch status")?;
    let victim = killed.position();
    ensure!(
        victim < MEMBERS,
        "feed {FEED} covered by unknown member {killed}"
    );
    cluster.kill(victim);
    let kill = Instant::now();
    std::thread::sleep(AFTER_KILL);
    let end = Instant::now();
    let players = ring_doc(&status)
        .and_then(|d| insert_rec(&d, id).map(|r| format!("{:?}", r.players)))
        .unwrap_or_else(|| "?".into());
    let outs = caps
        .into_iter()
        .map(Capture::finish)
        .collect::<anyhow::Result<Vec<_>>>()?;
    drop(cluster);

    let mut run = Run {
        failover: first_new_after(&marks(&outs[FEED], INSERT_TAG), kill).map(|t| t - kill),
        max_gap: Vec::new(),
        after_kill_gap: Vec::new(),
        base_median: Vec::new(),
        base_max: Vec::new(),
        killed: killed.get(),
        players,
    };
    for (g, cap) in outs.iter().enumerate() {
        let times: Vec<Instant> = cap
            .iter()
            .map(|d| d.0)
            .filter(|t| *t >= flowing && *t <= end)
            .collect();
        let before: Vec<Instant> = times.iter().copied().filter(|t| *t < kill).collect();
        let mut base = gaps(&before);
        ensure!(!base.is_empty(), "output {g}: no datagrams before the kill");
        base.sort();
        run.base_median.push(base[base.len() / 2]);
        run.base_max.push(base[base.len() - 1]);
        // A silence running to the end of the capture counts as a gap too.
        let mut all = gaps(&times);
        all.push(end - times.last().copied().unwrap_or(flowing));
        run.max_gap
            .push(all.iter().copied().max().unwrap_or_default());
        run.after_kill_gap.push(
            all[before.len() - 1..]
                .iter()
                .copied()
                .max()
                .unwrap_or_default(),
        );
    }
    Ok(run)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn row(label: &str, xs: &[f64], unit: &str) {
    match summarise(xs) {
        Some(s) => println!(
            "{label:<44} {:>10.2} {:>10.2} {:>10.2}  {unit}",
            s.min, s.median, s.max
        ),
        None => println!("{label:<44} {:>10} {:>10} {:>10}  {unit}", "-", "-", "-"),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.runs >= 1, "--runs must be at least 1");
    let mut p = GenParams::new(INSERT_TAG);
    p.pcr_start = 900 * PCR_HZ;
    let insert = generate(Duration::from_millis(INSERT_MS), &p).context("generating the insert")?;
    let mut runs = Vec::new();
    for i in 0..args.runs {
        let r = one_run(&insert).with_context(|| format!("run {}", i + 1))?;
        println!(
            "run {}: killed member {}, insert players {}, failover {}, longest gaps {}",
            i + 1,
            r.killed,
            r.players,
            r.failover
                .map(|d| format!("{:.2} ms", ms(d)))
                .unwrap_or_else(|| "none seen".into()),
            r.max_gap
                .iter()
                .map(|d| format!("{:.2} ms", ms(*d)))
                .collect::<Vec<_>>()
                .join(" / ")
        );
        runs.push(r);
    }
    let failovers: Vec<f64> = runs.iter().filter_map(|r| r.failover).map(ms).collect();
    println!();
    println!(
        "ring failover: {} runs, {MEMBERS} members, {FEEDS} feeds, {INSERT_MS} ms insert on feed {FEED}, \
         SIGKILL of its processor after {PLAYED_BEFORE_KILL} insert packets",
        runs.len()
    );
    println!("{:<44} {:>10} {:>10} {:>10}", "", "min", "median", "max");
    row(
        "kill -> first new-processor insert packet",
        &failovers,
        "ms",
    );
    if failovers.len() < runs.len() {
        println!(
            "  ({} of {} runs saw no new insert packet within {AFTER_KILL:?})",
            runs.len() - failovers.len(),
            runs.len()
        );
    }
    for g in 0..FEEDS {
        let col = |f: &dyn Fn(&Run) -> f64| runs.iter().map(f).collect::<Vec<_>>();
        row(
            &format!("output {g}: normal spacing, median (baseline)"),
            &col(&|r| ms(r.base_median[g])),
            "ms",
        );
        row(
            &format!("output {g}: normal spacing, longest before kill"),
            &col(&|r| ms(r.base_max[g])),
            "ms",
        );
        row(
            &format!("output {g}: longest gap over the run"),
            &col(&|r| ms(r.max_gap[g])),
            "ms",
        );
        row(
            &format!("output {g}: longest gap from the kill on"),
            &col(&|r| ms(r.after_kill_gap[g])),
            "ms",
        );
        row(
            &format!("output {g}: longest gap / normal spacing"),
            &col(&|r| r.max_gap[g].as_secs_f64() / r.base_median[g].as_secs_f64().max(1e-9)),
            "x",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarise_odd_even_and_empty() {
        assert_eq!(summarise(&[]), None);
        assert_eq!(
            summarise(&[3.0, 1.0, 2.0]),
            Some(Summary {
                min: 1.0,
                median: 2.0,
                max: 3.0
            })
        );
        assert_eq!(
            summarise(&[4.0, 1.0, 3.0, 2.0]),
            Some(Summary {
                min: 1.0,
                median: 2.5,
                max: 4.0
            })
        );
    }

    #[test]
    fn gaps_between_arrivals() {
        let t = Instant::now();
        let ts = [
            t,
            t + Duration::from_millis(2),
            t + Duration::from_millis(7),
        ];
        assert_eq!(
            gaps(&ts),
            vec![Duration::from_millis(2), Duration::from_millis(5)]
        );
        assert!(gaps(&ts[..1]).is_empty());
    }

    #[test]
    fn first_new_after_skips_replayed_and_old_packets() {
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        let kill = at(10);
        // seqs 0..=5 before the kill; after it a late 5 and a replayed 3, then 6.
        let m = [
            (at(1), 0),
            (at(5), 5),
            (at(11), 5),
            (at(12), 3),
            (at(20), 6),
            (at(21), 7),
        ];
        assert_eq!(first_new_after(&m, kill), Some(at(20)));
        assert_eq!(first_new_after(&m[..4], kill), None);
        // nothing before the kill: the first packet after it counts
        assert_eq!(first_new_after(&m[2..], kill), Some(at(11)));
    }
}
