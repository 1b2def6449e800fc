//! The nemesis: does each scheduled fault to the local cluster and heals it.
//!
//! Processes: `kill`/`kill2`/`restart-all` SIGKILL members and start them
//! again at the heal; `stop` is SIGSTOP then SIGCONT. Links: `partition`
//! and the link faults go through each member's `/v1/faults/{peer}` on both
//! ends of every affected link, with the event's seed so link decisions
//! repeat. Disk: `rot` flips one byte in each of a few fragment files of one
//! member, past the 512-byte header. Messages: `inject` asks a member for a
//! key's record through `POST /v1/inject` and injects a stale or duplicate
//! commit or a stale delete of it, or a heartbeat from a peer claiming a
//! newer incarnation than it has (see `stripecast_actors::testing`).
//!
//! Invariant: [`Nemesis::heal_all`] leaves every member running, continued
//! and with clear links, whatever was done before.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use stripecast_actors::gateway::ClusterDoc;
use stripecast_actors::meta::MetaCommand;
use stripecast_actors::protocol::{NodeStatus, RecordWire, Request};
use stripecast_actors::testing::{stale_raft_message, StaleRaft};
use stripecast_actors::transport::LinkFaults;
use stripecast_chaos::{FaultEvent, FaultKind};

use crate::cmd::launch::LocalCluster;
use stripecast_config::MemberId;

/// Fragment files flipped per `rot` event, at most.
const ROT_FILES_PER_EVENT: usize = 3;
/// Bytes of the fragment header, left alone by `rot` (a rotten header is found at open, not per block).
const FRAGMENT_HEADER_BYTES: u64 = 512;

pub struct Nemesis {
    pub cluster: LocalCluster,
    agent: ureq::Agent,
    keys: Vec<String>,
}

impl Nemesis {
    pub fn new(cluster: LocalCluster, keys: Vec<String>) -> Nemesis {
        Nemesis {
            cluster,
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(1))
                .timeout(Duration::from_secs(3))
                .build(),
            keys,
        }
    }

    fn members(&self) -> u32 {
        self.cluster.configs.len() as u32
    }

    fn url(&self, member: u32, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.cluster.configs[member as usize].me().http
        )
    }

    /// Sets `faults` on the link from `a` to `b`; errors (a dead member) are ignored.
    fn set_link(&self, a: u32, b: u32, faults: &LinkFaults) {
        let _ = self
            .agent
            .put(&self.url(a, &format!("/v1/faults/{b}")))
            .send_json(faults);
    }

    fn clear_link(&self, a: u32, b: u32) {
        let _ = self
            .agent
            .delete(&self.url(a, &format!("/v1/faults/{b}")))
            .call();
    }

    /// The links between `side` and the other members, both directions.
    fn cut_links(&self, side: &[u32]) -> Vec<(u32, u32)> {
        let mut links = Vec::new();
        for &a in side {
            for b in (0..self.members()).filter(|b| !side.contains(b)) {
                links.push((a, b));
                links.push((b, a));
            }
        }
        links
    }

    /// Does `e`; returns a description of what exactly was done.
    pub fn inject(&mut self, e: &FaultEvent) -> String {
        let mut rng = ChaCha8Rng::seed_from_u64(e.seed);
        match e.kind {
            FaultKind::Kill | FaultKind::Kill2 | FaultKind::RestartAll => {
                for &m in &e.members {
                    self.cluster.kill(m as usize);
                }
                "SIGKILL".into()
            }
            FaultKind::Stop => {
                for &m in &e.members {
                    self.cluster.signal(m as usize, Signal::SIGSTOP);
                }
                "SIGSTOP".into()
            }
            FaultKind::Partition => {
                let spec = LinkFaults::partition();
                for (a, b) in self.cut_links(&e.members) {
                    self.set_link(a, b, &spec);
                }
                format!(
                    "cut off from the other {} members",
                    self.members() as usize - e.members.len()
                )
            }
            kind if kind.is_link() => {
                let mut spec = LinkFaults {
                    seed: Some(e.seed),
                    ..LinkFaults::default()
                };
                match kind {
                    FaultKind::Drop => spec.drop = 0.2,
                    FaultKind::Delay => spec.delay_ms = rng.gen_range(20..200),
                    FaultKind::Duplicate => spec.duplicate = 0.3,
                    FaultKind::Reorder => spec.reorder = true,
                    _ => spec.corrupt = 0.05,
                }
                for (a, b) in self.cut_links(&e.members) {
                    self.set_link(a, b, &spec);
                }
                format!("{spec:?}")
            }
            FaultKind::Rot => {
                let m = e.members[0] as usize;
                rot(
                    &self.cluster.configs[m].data_dir.join("fragments"),
                    &mut rng,
                )
            }
            FaultKind::Inject => self.inject_message(e.members[0], &mut rng),
            _ => String::new(),
        }
    }

    /// Ends `e` (nothing to do for one-off faults).
    pub fn heal(&mut self, e: &FaultEvent) {
        match e.kind {
            FaultKind::Kill | FaultKind::Kill2 | FaultKind::RestartAll => {
                for &m in &e.members {
                    if let Err(err) = self.cluster.spawn(m as usize) {
                        eprintln!("chaos: restarting member {m}: {err:#}");
                    }
                }
            }
            FaultKind::Stop => {
                for &m in &e.members {
                    self.cluster.signal(m as usize, Signal::SIGCONT);
                }
            }
            kind if kind == FaultKind::Partition || kind.is_link() => {
                for (a, b) in self.cut_links(&e.members) {
                    self.clear_link(a, b);
                }
            }
            _ => {}
        }
    }

    /// Every member running and continued, every link clear.
    pub fn heal_all(&mut self) {
        for m in 0..self.members() as usize {
            if self.cluster.is_running(m) {
                self.cluster.signal(m, Signal::SIGCONT);
            } else if let Err(err) = self.cluster.spawn(m) {
                eprintln!("chaos: restarting member {m}: {err:#}");
            }
        }
        for a in 0..self.members() {
            for b in (0..self.members()).filter(|&b| b != a) {
                self.clear_link(a, b);
            }
        }
    }

    /// Posts one injection (`{"from", "request"}` or `{"from", "heartbeat"}`)
    /// to `member`; the answer's text, or why it was refused.
    fn post_injection(&self, member: u32, body: serde_json::Value) -> String {
        match self
            .agent
            .post(&self.url(member, "/v1/inject"))
            .send_json(body)
        {
            Ok(r) => r.into_string().unwrap_or_default(),
            Err(e) => format!("refused: {e}"),
        }
    }

    fn inject_request(&self, member: u32, from: u32, request: &Request) -> String {
        self.post_injection(member, json!({ "from": from, "request": request }))
    }

    /// A heartbeat from `from` claiming a HomeBlock incarnation one above
    /// the one `member` knows for it.
    fn inject_heartbeat(&self, member: u32, from: u32) -> String {
        let known = self
            .agent
            .get(&self.url(member, "/v1/cluster"))
            .call()
            .ok()
            .and_then(|r| r.into_json::<ClusterDoc>().ok())
            .and_then(|d| d.members.into_iter().find(|m| m.id.get() == from))
            .map_or(Default::default(), |m| m.incarnation);
        let status = NodeStatus {
            incarnation: known.next(),
            ..NodeStatus::default()
        };
        let answer = self.post_injection(member, json!({ "from": from, "heartbeat": status }));
        format!(
            "heartbeat as from member {from} claiming incarnation {} (known {known}): {answer}",
            known.next()
        )
    }

    /// The Raft term `member` reports (0 if it does not answer).
    fn term_of(&self, member: u32) -> u64 {
        self.agent
            .get(&self.url(member, "/v1/cluster"))
            .call()
            .ok()
            .and_then(|r| r.into_json::<ClusterDoc>().ok())
            .map_or(0, |d| d.term().get())
    }

    /// A crafted peer message: a stale heartbeat, or a Raft message of a
    /// term below `member`'s (a deposed leader's append carrying a stale
    /// commit or delete of one key, a vote request, a heartbeat).
    fn inject_message(&self, member: u32, rng: &mut ChaCha8Rng) -> String {
        let Some(key) = self.keys.choose(rng).cloned() else {
            return String::new();
        };
        let from = (member + 1 + rng.gen_range(0..self.members() - 1)) % self.members();
        if rng.gen_range(0..4) == 0 {
            return self.inject_heartbeat(member, from);
        }
        let term = self.term_of(member);
        if term < 2 {
            return format!("no stale term below {term} on member {member}");
        }
        let stale = term - 1;
        let (what, kind) = match rng.gen_range(0..4) {
            0 => (
                "stale Commit",
                StaleRaft::Append {
                    command: MetaCommand::Commit {
                        record: RecordWire {
                            name: key.clone(),
                            length: 40,
                            incarnation: stripecast_persistence::Incarnation::new(1),
                            members: u8::try_from(self.members()).unwrap_or(u8::MAX),
                            parity: self.cluster.configs[0].cluster.parity,
                            stripe_size: 65536,
                            crc32c: 0,
                            creation_time_ns: 0,
                        },
                        missing: vec![],
                        attrs: None,
                        bucket: None,
                    },
                    index: 1,
                },
            ),
            1 => (
                "stale Delete",
                StaleRaft::Append {
                    command: MetaCommand::Delete {
                        name: key.clone(),
                        incarnation: stripecast_persistence::Incarnation::new(1),
                        missing: vec![],
                    },
                    index: 1,
                },
            ),
            2 => ("stale vote request", StaleRaft::Vote),
            _ => ("stale leader heartbeat", StaleRaft::Heartbeat),
        };
        let msg = match stale_raft_message(&kind, MemberId::new(from), MemberId::new(member), stale)
        {
            Ok(m) => m,
            Err(e) => return format!("{what}: cannot encode: {e}"),
        };
        let answer = self.inject_request(member, from, &Request::Raft { msg });
        format!("{what} of {key} (term {stale}, current {term}) as from member {from}: {answer}")
    }
}

/// Where rot may flip a byte: a fragment file past its header, or one
/// packed fragment image (start, length) in a segment file past its header.
enum RotTarget {
    File(PathBuf),
    Image(PathBuf, u64, u64),
}

/// Every fragment file and packed image under `dir`, in order.
fn rot_targets(dir: &Path) -> Vec<RotTarget> {
    let mut out: Vec<RotTarget> = fragment_files(dir)
        .into_iter()
        .map(RotTarget::File)
        .collect();
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir.join("packed"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    segments.retain(|p| p.extension().is_some_and(|x| x == "pack"));
    segments.sort();
    for seg in segments {
        for (start, len) in stripecast_persistence::packed::images_in_segment(&seg) {
            out.push(RotTarget::Image(seg.clone(), start, len));
        }
    }
    out
}

/// Every fragment file under `dir`, sorted (walks subdirectories too).
fn fragment_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "frag") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Flips one byte past the header in each of a few fragment files or
/// packed fragment images.
fn rot(dir: &Path, rng: &mut ChaCha8Rng) -> String {
    use std::os::unix::fs::FileExt;
    let targets = rot_targets(dir);
    let mut done = Vec::new();
    for target in targets.choose_multiple(rng, ROT_FILES_PER_EVENT) {
        let (path, start, len) = match target {
            RotTarget::File(p) => (p, 0, None),
            RotTarget::Image(p, start, len) => (p, *start, Some(*len)),
        };
        let Ok(f) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        else {
            continue;
        };
        let len = len.unwrap_or_else(|| f.metadata().map(|m| m.len()).unwrap_or(0));
        if len <= FRAGMENT_HEADER_BYTES {
            continue;
        }
        let at = start + rng.gen_range(FRAGMENT_HEADER_BYTES..len);
        let mask = rng.gen_range(1..=255u8);
        let mut b = [0u8; 1];
        if f.read_exact_at(&mut b, at).is_ok() && f.write_all_at(&[b[0] ^ mask], at).is_ok() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            done.push(match target {
                RotTarget::File(_) => format!("{name} @{at}"),
                RotTarget::Image(..) => format!("{name}+{start} @{at}"),
            });
        }
    }
    if done.is_empty() {
        "no fragment files yet".into()
    } else {
        done.join(", ")
    }
}
