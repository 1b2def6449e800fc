//! The ring of video systems for real: three member processes (each with a
//! processor), the switch process and two paced feed processes on loopback;
//! outputs captured from UDP. Members are SIGKILLed before and during
//! inserts; the captures must show no gap over 200 ms, every insert whole
//! (its marker sequence complete and in order) at its time, the shift the
//! configured way, and a valid TS (our checker, mpeg2ts-reader, and ffprobe
//! when installed).

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{free_ports, tail, Cluster, Opts, BIN};
use stripecast_config::{MemberId, RingLink};
use stripecast_ring::switch::http::InsertRequest;
use stripecast_ring::switch::{InsertRec, InsertState, Origin, RingDoc};
use stripecast_ring::{Direction, RingState};
use stripecast_ts::check::check;
use stripecast_ts::gen::{generate, marker, GenParams};
use stripecast_ts::packet::packets;
use stripecast_ts::PCR_HZ;

const INSERT_MS: u64 = 2000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// One datagram of an output: when it arrived (monotonic, wall ms) and its bytes.
type Datagram = (Instant, u64, Vec<u8>);

struct Capture {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Datagram>>,
}

fn capture() -> Capture {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while !flag.load(Ordering::SeqCst) {
            if let Ok(n) = sock.recv(&mut buf) {
                got.push((Instant::now(), now_ms(), buf[..n].to_vec()));
            }
        }
        got
    });
    Capture { addr, stop, thread }
}

fn free_udp_ports(n: usize) -> Vec<u16> {
    let socks: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    socks
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

/// An insert: tagged so its packets are recognisable, timed far from the feeds'.
fn insert_ts(tag: &str) -> (Vec<u8>, u32) {
    let mut p = GenParams::new(tag);
    p.pcr_start = 900 * PCR_HZ;
    let ts = generate(Duration::from_millis(INSERT_MS), &p).unwrap();
    let videos = packets(&ts)
        .filter_map(Result::ok)
        .filter(|k| k.pid() == p.video_pid && marker(k.payload()).is_some())
        .count() as u32;
    (ts, videos)
}

struct Rig {
    cluster: Cluster,
    switch: Option<Child>,
    feeds: Vec<Child>,
    caps: Vec<Capture>,
    switch_http: String,
    videos: u32,
    direction: Direction,
}

impl Rig {
    fn start(direction: &str) -> Rig {
        Self::start_with(direction, false)
    }

    /// With `cues`, each feed carries an SCTE-35 splice_insert 1.5 s in and
    /// the switch inserts `ads/ad<g>.ts` for it.
    fn start_with(direction: &str, cues: bool) -> Rig {
        let tcp = free_ports(2);
        let udp_in = free_udp_ports(2);
        let link = RingLink {
            switch: SocketAddr::from(([127, 0, 0, 1], tcp[0])),
            switch_http: SocketAddr::from(([127, 0, 0, 1], tcp[1])),
        };
        let cluster = Cluster::start_with(
            3,
            Opts {
                ring: Some(link),
                ..Opts::default()
            },
        );
        let mut videos = 0;
        for g in 0..2 {
            let (ts, v) = insert_ts(&format!("AD{g}"));
            videos = v;
            let (code, body) = cluster.put(0, &format!("ads/ad{g}.ts"), &ts);
            assert_eq!(code, 201, "{body}");
        }
        let caps = vec![capture(), capture()];
        let dir = cluster.dir.path().join("switch");
        std::fs::create_dir_all(&dir).unwrap();
        let secret = &cluster.configs[0].cluster.secret;
        let mut toml = format!(
            "data_dir = {:?}\ncontrol = \"{}\"\nhttp = \"{}\"\ndirection = \"{direction}\"\n\
             [cluster]\nname = \"test\"\nsecret = \"{secret}\"\n",
            dir.display().to_string(),
            link.switch,
            link.switch_http
        );
        for g in 0..2 {
            toml += &format!(
                "[[feeds]]\ninput = \"udp://127.0.0.1:{}\"\noutput = \"udp://{}\"\n",
                udp_in[g], caps[g].addr
            );
            if cues {
                toml += &format!("cue_object = \"ads/ad{g}.ts\"\n");
            }
        }
        for m in 0..3 {
            toml += &format!("[[systems]]\nmember = {m}\n");
        }
        let cfg = dir.join("switch.toml");
        std::fs::write(&cfg, toml).unwrap();
        let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
        let switch = Command::new(BIN)
            .args(["switch", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log("switch.out"))
            .stderr(log("switch.log"))
            .spawn()
            .unwrap();
        let feeds = (0..2)
            .map(|g| {
                let mut c = Command::new(BIN);
                c.args(["feed", "--generate", "120", "--tag"])
                    .arg(format!("FEED{g}"));
                if cues {
                    c.args(["--cue-at", "1.5"]);
                }
                c.arg("--to")
                    .arg(format!("udp://127.0.0.1:{}", udp_in[g]))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log(&format!("feed-{g}.log")))
                    .spawn()
                    .unwrap()
            })
            .collect();
        let rig = Rig {
            cluster,
            switch: Some(switch),
            feeds,
            caps,
            switch_http: format!("http://{}", link.switch_http),
            videos,
            direction: match direction {
                "up" => Direction::Up,
                "down" => Direction::Down,
                _ => Direction::Either,
            },
        };
        rig.wait("every processor connected and both outputs flowing", |d| {
            d.systems.iter().all(|s| s.connected) && d.feeds.iter().all(|f| f.packets_out > 500)
        });
        rig
    }

    fn doc(&self) -> Option<RingDoc> {
        ureq::get(&format!("{}/v1/ring", self.switch_http))
            .timeout(Duration::from_secs(2))
            .call()
            .ok()?
            .into_json()
            .ok()
    }

    fn switch_log(&self) -> String {
        std::fs::read_to_string(self.cluster.dir.path().join("switch/switch.log"))
            .unwrap_or_default()
    }

    fn wait(&self, what: &str, mut ok: impl FnMut(&RingDoc) -> bool) -> RingDoc {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(d) = self.doc().filter(|d| ok(d)) {
                return d;
            }
            if Instant::now() > deadline {
                let members: String = (0..3)
                    .map(|i| format!("--- member {i}\n{}", tail(&self.cluster.log(i), 15)))
                    .collect();
                panic!(
                    "timed out waiting for {what}\nring: {:#?}\n--- switch\n{}\n{members}",
                    self.doc(),
                    tail(&self.switch_log(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(15));
        }
    }

    fn control_addr(&self) -> SocketAddr {
        self.cluster.configs[0].ring.unwrap().switch
    }

    /// Schedules through member `via` (which forwards to the switch); returns the id.
    fn insert(&self, via: usize, feed: usize, at: u64) -> u64 {
        let r: InsertRec = ureq::post(&format!("{}/v1/ring/inserts", self.cluster.url(via)))
            .send_json(InsertRequest {
                feed,
                at: Some(at),
                object: format!("ads/ad{feed}.ts"),
            })
            .unwrap()
            .into_json()
            .unwrap();
        r.id
    }

    fn wait_done(&self, ids: &[u64]) -> RingDoc {
        self.wait("the inserts done", |d| {
            ids.iter().all(|id| {
                d.inserts
                    .iter()
                    .any(|r| r.id == *id && r.state == InsertState::Done)
            })
        })
    }

    /// Stops the captures (after a little more output) and returns them.
    fn outputs(&mut self) -> Vec<Vec<Datagram>> {
        std::thread::sleep(Duration::from_millis(500));
        self.caps
            .drain(..)
            .map(|c| {
                c.stop.store(true, Ordering::SeqCst);
                c.thread.join().unwrap()
            })
            .collect()
    }

    /// The planner's view of the same history, to compare with the switch's.
    fn expected(&self, failures: &[usize], returns: &[usize]) -> RingState {
        let mut r = RingState::new(self.direction, (0..3).map(MemberId::new).collect()).unwrap();
        for &p in failures {
            r.fail(p).unwrap();
        }
        for &p in returns {
            r.recover(p).unwrap();
        }
        r
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for c in &self.caps {
            c.stop.store(true, Ordering::SeqCst);
        }
        for mut f in self.feeds.drain(..) {
            let _ = f.kill();
            let _ = f.wait();
        }
        if let Some(mut s) = self.switch.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

fn insert_rec(doc: &RingDoc, id: u64) -> InsertRec {
    doc.inserts.iter().find(|r| r.id == id).cloned().unwrap()
}

fn bytes(cap: &[Datagram]) -> Vec<u8> {
    cap.iter().flat_map(|d| d.2.iter().copied()).collect()
}

/// The longest silence between two datagrams of an output.
fn max_gap(cap: &[Datagram]) -> Duration {
    cap.windows(2)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or(Duration::MAX)
}

/// (tag, seq, wall ms of arrival) of every marked video packet.
fn marks(cap: &[Datagram]) -> Vec<(String, u32, u64)> {
    let mut out = Vec::new();
    for (_, ms, d) in cap {
        for p in packets(d).filter_map(Result::ok) {
            if let Some(m) = marker(p.payload()) {
                out.push((m.tag, m.seq, *ms));
            }
        }
    }
    out
}

/// The insert `tag` is whole (every seq once, in order); returns when its first packet arrived.
fn assert_whole(cap: &[Datagram], tag: &str, videos: u32) -> u64 {
    let m: Vec<_> = marks(cap).into_iter().filter(|x| x.0 == tag).collect();
    let seqs: Vec<u32> = m.iter().map(|x| x.1).collect();
    assert_eq!(
        seqs,
        (0..videos).collect::<Vec<_>>(),
        "insert {tag} is not whole and in order"
    );
    m[0].2
}

/// Our validator, an independent reader (mpeg2ts-reader) and ffprobe when installed.
fn assert_valid_ts(ts: &[u8]) {
    let r = check(ts);
    assert!(r.is_valid(), "{:?}", r.errors());
    let mut last_cc: std::collections::HashMap<u16, u8> = Default::default();
    for c in ts.chunks(188) {
        let p = mpeg2ts_reader::packet::Packet::new(c);
        let pid = u16::from(p.pid());
        if pid == 0x1FFF || !p.adaptation_control().has_payload() {
            continue;
        }
        let cc = p.continuity_counter().count();
        if let Some(&prev) = last_cc.get(&pid) {
            assert!(
                cc == (prev + 1) & 0x0F || cc == prev,
                "mpeg2ts-reader: PID {pid:#x} CC {prev} -> {cc}"
            );
        }
        last_cc.insert(pid, cc);
    }
    assert!(last_cc.contains_key(&0), "a PAT");
    common::ffprobe_if_present(ts);
}

fn assert_ring_matches(doc: &RingDoc, expected: &RingState) {
    let want = expected.status();
    for (g, f) in want.feeds.iter().enumerate() {
        assert_eq!(doc.feeds[g].system, f.system, "feed {g}: {doc:#?}");
    }
    for (p, s) in want.systems.iter().enumerate() {
        assert_eq!(doc.systems[p].state, s.state, "system {p}: {doc:#?}");
        assert_eq!(doc.systems[p].alive, s.alive, "system {p}");
    }
    assert_eq!(doc.spare, want.spare);
}

/// Down-wired ring (FIG. 13/14): the coverer of feed 1 is SIGKILLed in the
/// middle of both outputs' inserts; both inserts resume on the processors
/// that take the feeds over and play to their ends.
#[test]
fn ring_kill_during_inserts_shifts_down_and_inserts_resume() {
    let mut rig = Rig::start("down");
    // garbage and an impostor on the control port close those connections only
    {
        use std::io::{Read, Write};
        let mut junk = std::net::TcpStream::connect(rig.control_addr()).unwrap();
        junk.write_all(b"GET / HTTP/1.1\r\n\r\n\x00\x01garbage")
            .unwrap();
        junk.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        assert!(matches!(junk.read(&mut buf), Ok(0) | Err(_)), "closed");
    }
    let doc = rig.doc().unwrap();
    assert!(doc.systems.iter().all(|s| s.connected));
    assert_eq!(doc.failovers, 0);
    let at = now_ms() + 1500;
    let ids = [rig.insert(0, 0, at), rig.insert(2, 1, at)];
    rig.wait("both inserts well under way", |d| {
        ids.iter().all(|id| {
            let r = insert_rec(d, *id);
            r.state == InsertState::Playing && r.played >= 280
        })
    });
    rig.cluster.kill(1);
    let doc = rig.wait_done(&ids);
    // The inserts come a page at a time, through any member.
    let page = |query: &str| -> RingDoc {
        ureq::get(&format!("{}/v1/ring?{query}", rig.cluster.url(0)))
            .call()
            .unwrap()
            .into_json()
            .unwrap()
    };
    let mut sorted = ids;
    sorted.sort_unstable();
    let first = page("inserts_limit=1");
    assert_eq!(first.inserts.len(), 1);
    assert_eq!(first.inserts[0].id, sorted[0]);
    assert_eq!(first.next_inserts_after, Some(sorted[0]));
    let second = page(&format!("inserts_after={}", sorted[0]));
    assert_eq!(second.inserts.len(), 1);
    assert_eq!(second.inserts[0].id, sorted[1]);
    assert_eq!(second.next_inserts_after, None);
    match ureq::get(&format!(
        "{}/v1/ring?inserts_limit=many",
        rig.cluster.url(2)
    ))
    .call()
    {
        Err(ureq::Error::Status(code, _)) => assert_eq!(code, 400),
        other => panic!("a bad page query: {other:?}"),
    }
    // down: position 0 takes feed 1 (f - 1), the spare takes feed 0 (f + 1 shifts)
    assert_eq!(doc.feeds[1].system, Some(0), "{doc:#?}");
    assert_eq!(doc.feeds[0].system, Some(2), "{doc:#?}");
    assert_eq!(doc.spare, None);
    assert_ring_matches(&doc, &rig.expected(&[1], &[]));
    let r1 = insert_rec(&doc, ids[1]);
    assert_eq!(r1.players, [MemberId::new(1), MemberId::new(0)], "{r1:?}");
    assert_eq!(r1.resumes, 1);
    let r0 = insert_rec(&doc, ids[0]);
    assert_eq!(r0.players, [MemberId::new(0), MemberId::new(2)], "{r0:?}");

    let outs = rig.outputs();
    for (g, cap) in outs.iter().enumerate() {
        let gap = max_gap(cap);
        assert!(gap < Duration::from_millis(200), "output {g}: gap {gap:?}");
        let first = assert_whole(cap, &format!("AD{g}"), rig.videos);
        assert!(
            first + 50 >= at && first <= at + 500,
            "output {g}: insert began at {first}, scheduled {at}"
        );
        assert_valid_ts(&bytes(cap));
        // the network feed carries on around the insert
        let feed = marks(cap)
            .into_iter()
            .filter(|m| m.0 == format!("FEED{g}"))
            .count();
        assert!(feed > 2000, "output {g}: {feed} feed packets");
    }
}

/// Up-wired ring: the coverer of feed 1 dies before its insert, the spare
/// plays it at its time; the dead processor returns as the spare and covers
/// the next failure (of feed 0's processor), whose insert it plays.
#[test]
fn ring_returning_processor_is_the_spare_and_covers_a_second_failure() {
    let mut rig = Rig::start("up");
    rig.cluster.kill(1);
    let doc = rig.wait("feed 1 covered by the spare", |d| {
        d.feeds[1].system == Some(2)
    });
    assert_ring_matches(&doc, &rig.expected(&[1], &[]));
    assert_eq!(
        doc.feeds[0].system,
        Some(0),
        "up: nothing below the failure moves"
    );
    let at1 = now_ms() + 1500;
    let first = rig.insert(0, 1, at1);
    let doc = rig.wait_done(&[first]);
    assert_eq!(insert_rec(&doc, first).players, [MemberId::new(2)]);

    rig.cluster.spawn(1);
    rig.cluster.wait_member_up(1, Duration::from_secs(30));
    let doc = rig.wait("member 1 back as the spare", |d| {
        d.systems[1].connected && d.spare == Some(1)
    });
    assert_eq!(doc.feeds[1].system, Some(2), "nothing shifts back");
    assert_ring_matches(&doc, &rig.expected(&[1], &[1]));

    rig.cluster.kill(0);
    let doc = rig.wait("feed 0 covered by the returned processor", |d| {
        d.feeds[0].system == Some(1)
    });
    assert_eq!(doc.feeds[0].member, Some(MemberId::new(1)));
    assert_eq!(doc.spare, None);
    assert_ring_matches(&doc, &rig.expected(&[1, 0], &[1]));
    let at0 = now_ms() + 1500;
    let second = rig.insert(2, 0, at0);
    let doc = rig.wait_done(&[second]);
    assert_eq!(insert_rec(&doc, second).players, [MemberId::new(1)]);

    // no spare left: a further failure leaves feed 1 on its network feed, reported
    rig.cluster.kill(2);
    let doc = rig.wait("feed 1 uncovered", |d| d.uncovered == [1]);
    assert_eq!(doc.feeds[1].system, None);
    assert_eq!(doc.feeds[0].system, Some(1));
    let metrics = ureq::get(&format!("{}/metrics", rig.switch_http))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        metrics.contains("stripecast_ring_uncovered_feeds 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("stripecast_ring_feed_covered{feed=\"1\"} 0"),
        "{metrics}"
    );
    std::thread::sleep(Duration::from_millis(500));

    let outs = rig.outputs();
    for (g, cap) in outs.iter().enumerate() {
        let gap = max_gap(cap);
        assert!(gap < Duration::from_millis(200), "output {g}: gap {gap:?}");
        let at = if g == 0 { at0 } else { at1 };
        let first = assert_whole(cap, &format!("AD{g}"), rig.videos);
        assert!(
            first + 50 >= at && first <= at + 500,
            "output {g}: insert began at {first}, scheduled {at}"
        );
        assert_valid_ts(&bytes(cap));
    }
}

/// SCTE-35 cues in the feeds trigger inserts of each feed's cue object.
#[test]
fn ring_scte35_cues_trigger_inserts() {
    let mut rig = Rig::start_with("either", true);
    let doc = rig.wait("an insert per cue, done", |d| {
        (0..2).all(|g| {
            d.inserts
                .iter()
                .any(|r| r.feed == g && r.origin == Origin::Cue(1) && r.state == InsertState::Done)
        })
    });
    let recs = &doc.inserts;
    assert_eq!(recs.len(), 2, "one insert per cue: {recs:?}");
    let outs = rig.outputs();
    for (g, cap) in outs.iter().enumerate() {
        assert_whole(cap, &format!("AD{g}"), rig.videos);
        assert!(max_gap(cap) < Duration::from_millis(200));
        assert_valid_ts(&bytes(cap));
    }
}

/// A malformed switch config is refused with its file, line and field.
#[test]
fn ring_switch_config_errors_name_the_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("switch.toml");
    std::fs::write(
        &f,
        "data_dir = \"x\"\ncontrol = \"127.0.0.1:1\"\nhttp = \"127.0.0.1:2\"\n\
         [cluster]\nname = \"t\"\nsecret = \"0123456789abcdef\"\n\
         [[feeds]]\ninput = \"udp://127.0.0.1:3\"\noutput = \"udp://127.0.0.1:5\"\n\
         [[feeds]]\ninput = \"udp://127.0.0.1:4\"\noutput = \"tcp://x\"\n\
         [[systems]]\nmember = 0\n[[systems]]\nmember = 1\n[[systems]]\nmember = 2\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["switch", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("switch.toml:12:"), "{err}");
    assert!(err.contains("feeds[1].output"), "{err}");
}
