//! Black-box test harness: a cluster of real `stripecast node` processes on
//! free loopback ports in a temporary directory, and a small HTTP client.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use stripecast_actors::gateway::{ClusterDoc, MemberState};
use stripecast_actors::service::ScrubReport;
use stripecast_config::{
    ClusterConfig, MemberConfig, MemberEntry, MemberId, Timeouts, WitnessEntry,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_stripecast");

/// The binary cluster members run: `BIN`, or `STRIPECAST_TEST_MEMBER_BIN`
/// when set (to show that a regression test fails on an older build).
pub fn member_bin() -> String {
    std::env::var("STRIPECAST_TEST_MEMBER_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// `n` distinct free loopback ports (held open together so they differ).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// An HTTP client trusting the CA in `ca` (PEM) when given.
pub fn agent_trusting(ca: Option<&Path>) -> ureq::Agent {
    let Some(ca) = ca else {
        return ureq::Agent::new();
    };
    let tls = stripecast_actors::tls::client_config(ca).expect("the cluster's CA");
    ureq::AgentBuilder::new().tls_config(tls).build()
}

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub configs: Vec<MemberConfig>,
    procs: Vec<Option<Child>>,
    /// Extra arguments for every `stripecast node` (e.g. test hooks).
    node_args: Vec<String>,
    /// The witness's config and process (`Opts::witness`).
    pub witness: Option<(MemberConfig, Option<Child>)>,
    /// Data dirs that are small tmpfs mounts (`Opts::small_disk_mib`).
    mounts: Vec<PathBuf>,
    /// The CA of the members' HTTPS certificates (`Opts::tls`).
    pub ca: Option<PathBuf>,
    /// The HTTP client of the harness's calls (trusting `ca`).
    pub agent: ureq::Agent,
    /// `Opts::read_token`, sent with the harness's reads of the cluster.
    read_token: Option<String>,
}

/// Whether this process may mount a tmpfs (root in a container that
/// allows it); tests of a full disk are skipped, saying so, when not.
pub fn can_mount_tmpfs() -> bool {
    let Ok(dir) = tempfile::tempdir() else {
        return false;
    };
    let ok = mount_tmpfs(dir.path(), 1);
    if ok {
        umount(dir.path());
    }
    ok
}

fn mount_tmpfs(dir: &Path, mib: u64) -> bool {
    std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={mib}m,mode=0700"),
            "tmpfs",
        ])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn umount(dir: &Path) {
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(dir)
        .status();
}

pub struct Opts {
    pub parity: u8,
    pub stripe_size: u32,
    /// The `[ring]` link every member gets.
    pub ring: Option<stripecast_config::RingLink>,
    /// Extra arguments for every `stripecast node` (e.g. `--test-hook inject`).
    pub node_args: Vec<String>,
    /// Also run a witness (id N, a metadata-only voter).
    pub witness: bool,
    /// `[timeouts] body_progress_timeout_ms`, when not the default.
    pub body_progress_timeout_ms: Option<u64>,
    /// Members whose data dir is a tmpfs of this many MiB: a real disk
    /// that fills up (needs [`can_mount_tmpfs`]).
    pub small_disk_mib: Vec<(usize, u64)>,
    /// `[http] allowed_hosts` of every member.
    pub allowed_hosts: Vec<String>,
    /// Every member also serves S3 (`members[].s3`, a free port each).
    pub s3: bool,
    /// The root credential (`[auth]`): access key id, secret.
    pub auth: Option<(String, String)>,
    /// `[cluster] peer_tls` of every member.
    pub peer_tls: stripecast_config::PeerTls,
    /// HTTPS on every member's HTTP and S3 listeners, with a certificate
    /// of a local CA made in the cluster's dir ([`Cluster::ca`]).
    pub tls: bool,
    /// `[http] read_token` of every member (the harness sends it).
    pub read_token: Option<String>,
    /// `[store] multipart_expiry_s`, when not the default.
    pub multipart_expiry_s: Option<u64>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            parity: 1,
            stripe_size: 65536,
            ring: None,
            node_args: Vec::new(),
            witness: false,
            body_progress_timeout_ms: None,
            small_disk_mib: Vec::new(),
            allowed_hosts: Vec::new(),
            s3: false,
            auth: None,
            peer_tls: stripecast_config::PeerTls::Auto,
            tls: false,
            read_token: None,
            multipart_expiry_s: None,
        }
    }
}

impl Cluster {
    pub fn start(n: usize) -> Cluster {
        Self::start_with(n, Opts::default())
    }

    pub fn start_with(n: usize, opts: Opts) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = free_ports(3 * n + 1);
        let witness = opts.witness.then(|| WitnessEntry {
            id: MemberId::new(n as u32),
            peer: SocketAddr::from(([127, 0, 0, 1], ports[2 * n])),
        });
        let members: Vec<MemberEntry> = (0..n)
            .map(|i| MemberEntry {
                id: MemberId::new(i as u32),
                peer: SocketAddr::from(([127, 0, 0, 1], ports[2 * i])),
                http: SocketAddr::from(([127, 0, 0, 1], ports[2 * i + 1])),
                s3: opts
                    .s3
                    .then(|| SocketAddr::from(([127, 0, 0, 1], ports[2 * n + 1 + i]))),
            })
            .collect();
        let tls = opts.tls.then(|| {
            stripecast_actors::tls::local_certificates(&dir.path().join("tls"))
                .expect("make a local CA")
        });
        let configs: Vec<MemberConfig> = (0..n)
            .map(|i| MemberConfig {
                id: MemberId::new(i as u32),
                data_dir: dir.path().join(format!("member-{i}")),
                cluster: ClusterConfig {
                    name: "test".into(),
                    secret: "0123456789abcdef-test-secret".into(),
                    stripe_size: opts.stripe_size,
                    parity: opts.parity,
                    peer_tls: opts.peer_tls,
                },
                timeouts: Timeouts {
                    body_progress_timeout_ms: opts
                        .body_progress_timeout_ms
                        .unwrap_or(Timeouts::default().body_progress_timeout_ms),
                    ..Timeouts::default()
                },
                store: stripecast_config::StoreSettings {
                    multipart_expiry_s: opts
                        .multipart_expiry_s
                        .unwrap_or(stripecast_config::StoreSettings::default().multipart_expiry_s),
                    ..Default::default()
                },
                http: stripecast_config::HttpSettings {
                    allowed_hosts: opts.allowed_hosts.clone(),
                    tls_cert: tls.as_ref().map(|t| t.cert.clone()),
                    tls_key: tls.as_ref().map(|t| t.key.clone()),
                    read_token: opts.read_token.clone().map(stripecast_config::Token),
                    ..Default::default()
                },
                members: members.clone(),
                ring: opts.ring,
                witness: witness.clone(),
                auth: opts
                    .auth
                    .as_ref()
                    .map(|(id, secret)| stripecast_config::AuthSettings {
                        access_key_id: id.clone(),
                        secret_access_key: secret.clone(),
                    }),
            })
            .collect();
        let witness = witness.map(|w| {
            let mut own = configs[0].clone();
            own.id = w.id;
            own.data_dir = dir.path().join("witness");
            own.ring = None;
            std::fs::create_dir_all(&own.data_dir).unwrap();
            own.save(&own.data_dir.join("config.toml"))
                .expect("save witness config");
            (own, None)
        });
        let mut mounts = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            std::fs::create_dir_all(&c.data_dir).unwrap();
            if let Some(&(_, mib)) = opts.small_disk_mib.iter().find(|(m, _)| *m == i) {
                assert!(
                    mount_tmpfs(&c.data_dir, mib),
                    "cannot mount a tmpfs on member {i}'s data dir"
                );
                mounts.push(c.data_dir.clone());
            }
            c.save(&c.data_dir.join("config.toml"))
                .expect("save config");
        }
        let mut cluster = Cluster {
            dir,
            configs,
            procs: (0..n).map(|_| None).collect(),
            node_args: opts.node_args,
            witness,
            mounts,
            agent: agent_trusting(tls.as_ref().map(|t| t.ca.as_path())),
            ca: tls.map(|t| t.ca),
            read_token: opts.read_token,
        };
        cluster.spawn_witness();
        for i in 0..n {
            cluster.spawn(i);
        }
        cluster.wait_all_up(Duration::from_secs(30));
        cluster
    }

    pub fn n(&self) -> usize {
        self.configs.len()
    }

    pub fn data_dir(&self, i: usize) -> &Path {
        &self.configs[i].data_dir
    }

    pub fn spawn(&mut self, i: usize) {
        let cfg = &self.configs[i];
        let child = spawn_logged(&member_bin(), "node", cfg, "member.log", &self.node_args);
        self.procs[i] = Some(child);
    }

    /// Starts the witness (again), when the cluster has one.
    pub fn spawn_witness(&mut self) {
        let Some((cfg, proc)) = &mut self.witness else {
            return;
        };
        *proc = Some(spawn_logged(BIN, "witness", cfg, "witness.log", &[]));
    }

    /// SIGKILLs the witness, and reaps it.
    pub fn kill_witness(&mut self) {
        if let Some((_, Some(mut c))) = self.witness.as_mut().map(|(c, p)| (c, p.take())) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Cuts member `i` off from every other member (both directions), or
    /// heals it (`cut == false`).
    pub fn isolate(&self, i: usize, cut: bool) {
        for peer in (0..self.n()).filter(|&p| p != i) {
            for (at, other) in [(i, peer), (peer, i)] {
                let url = format!("{}/v1/faults/{other}", self.url(at));
                let r = if cut {
                    self.agent.put(&url).send_string(r#"{"partition": true}"#)
                } else {
                    self.agent.delete(&url).call()
                };
                r.expect("set a link fault");
            }
        }
    }

    /// A GET of an open read (`/v1/cluster`, `/metrics`), with the read
    /// token when the members have one.
    fn open_read(&self, url: &str) -> ureq::Request {
        let req = self.agent.get(url).timeout(Duration::from_secs(2));
        match &self.read_token {
            Some(t) => req.set("Authorization", &format!("Bearer {t}")),
            None => req,
        }
    }

    pub fn url(&self, i: usize) -> String {
        format!(
            "{}://{}",
            self.configs[i].http.scheme(),
            self.configs[i].me().http
        )
    }

    pub fn pid(&self, i: usize) -> Option<i32> {
        self.procs[i].as_ref().map(|c| c.id() as i32)
    }

    pub fn signal(&self, i: usize, sig: nix::sys::signal::Signal) {
        if let Some(pid) = self.pid(i) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(&mut self, i: usize) -> std::process::ExitStatus {
        self.signal(i, nix::sys::signal::Signal::SIGTERM);
        let mut c = self.procs[i].take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("member {i} did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.configs[i].data_dir.join("member.log")).unwrap_or_default()
    }

    pub fn cluster_doc(&self, i: usize) -> Option<ClusterDoc> {
        self.open_read(&format!("{}/v1/cluster", self.url(i)))
            .call()
            .ok()?
            .into_json()
            .ok()
    }

    /// States of all members as member `i` sees them.
    pub fn states(&self, i: usize) -> Option<Vec<MemberState>> {
        Some(
            self.cluster_doc(i)?
                .members
                .iter()
                .map(|m| m.state)
                .collect(),
        )
    }

    pub fn wait_until(&self, what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !ok() {
            if Instant::now() > deadline {
                let logs: String = (0..self.n())
                    .map(|i| format!("--- member {i}\n{}", tail(&self.log(i), 30)))
                    .collect();
                panic!("timed out waiting for {what}\n{logs}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn wait_all_up(&self, timeout: Duration) {
        let running: Vec<usize> = (0..self.n()).filter(|&i| self.procs[i].is_some()).collect();
        self.wait_until("every member up", timeout, || {
            running.iter().all(|&i| {
                self.states(i)
                    .is_some_and(|s| running.iter().all(|&j| s[j] == MemberState::Up))
            })
        });
    }

    pub fn put(&self, i: usize, name: &str, data: &[u8]) -> (u16, String) {
        let r = self
            .agent
            .put(&format!("{}/v1/objects/{}", self.url(i), name))
            .timeout(Duration::from_secs(120))
            .send_bytes(data);
        status_body(r)
    }

    pub fn get(&self, i: usize, name: &str) -> (u16, Vec<u8>) {
        self.get_with(i, name, None)
    }

    pub fn get_with(&self, i: usize, name: &str, range: Option<&str>) -> (u16, Vec<u8>) {
        let mut req = self
            .agent
            .get(&format!("{}/v1/objects/{}", self.url(i), name))
            .timeout(Duration::from_secs(120));
        if let Some(r) = range {
            req = req.set("Range", r);
        }
        match req.call() {
            Ok(resp) => {
                let status = resp.status();
                let mut buf = Vec::new();
                use std::io::Read;
                resp.into_reader().read_to_end(&mut buf).expect("read body");
                (status, buf)
            }
            Err(ureq::Error::Status(code, resp)) => {
                (code, resp.into_string().unwrap_or_default().into_bytes())
            }
            Err(e) => panic!("GET {name} on member {i}: {e}"),
        }
    }

    pub fn delete(&self, i: usize, name: &str) -> u16 {
        match self
            .agent
            .delete(&format!("{}/v1/objects/{}", self.url(i), name))
            .call()
        {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("DELETE: {e}"),
        }
    }

    /// `POST /v1/scrub` on member `i`: its report.
    pub fn scrub(&self, i: usize) -> ScrubReport {
        self.agent
            .post(&format!("{}/v1/scrub", self.url(i)))
            .call()
            .unwrap()
            .into_json()
            .unwrap()
    }

    /// Fragments member `i` holds: files plus packed images (objects of one row).
    pub fn fragment_count(&self, i: usize) -> usize {
        self.fragments(i).len() + self.metric(i, "stripecast_packed_fragments") as usize
    }

    /// Member `i`'s fragment files (in the 256 shards of `fragments/`), sorted.
    pub fn fragments(&self, i: usize) -> Vec<PathBuf> {
        let root = self.data_dir(i).join("fragments");
        let list = |dir: &Path| -> Vec<PathBuf> {
            std::fs::read_dir(dir)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default()
        };
        let mut v: Vec<PathBuf> = list(&root)
            .into_iter()
            .filter(|p| p.is_dir())
            .flat_map(|shard| list(&shard))
            .collect();
        v.retain(|p| p.extension().is_some_and(|e| e == "frag"));
        v.sort();
        v
    }
}

/// `BIN SUBCOMMAND --config DATA_DIR/config.toml ARGS`, logging to `DATA_DIR/LOG`.
fn spawn_logged(
    bin: &str,
    subcommand: &str,
    cfg: &MemberConfig,
    log: &str,
    args: &[String],
) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cfg.data_dir.join(log))
        .unwrap();
    Command::new(bin)
        .args([subcommand, "--config"])
        .arg(cfg.data_dir.join("config.toml"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {subcommand}: {e}"))
}

/// The status and body of a request's answer (0 and the error when none came).
pub fn status_body(r: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match r {
        Ok(resp) => (resp.status(), resp.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_string().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in self.procs.iter_mut().flatten() {
            let _ = p.kill();
            let _ = p.wait();
        }
        self.kill_witness();
        for m in &self.mounts {
            umount(m);
        }
    }
}

impl Cluster {
    /// A counter from member `i`'s `/metrics` (summed over label sets).
    pub fn metric(&self, i: usize, name: &str) -> u64 {
        let text = self
            .open_read(&format!("{}/metrics", self.url(i)))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Waits until every running member other than those in `down` sees `down` as down.
    pub fn wait_down(&self, down: &[usize], timeout: Duration) {
        let watchers: Vec<usize> = (0..self.n())
            .filter(|i| !down.contains(i) && self.procs[*i].is_some())
            .collect();
        self.wait_until("members seen down", timeout, || {
            watchers.iter().all(|&w| {
                self.states(w)
                    .is_some_and(|s| down.iter().all(|&d| s[d] == MemberState::Down))
            })
        });
    }

    /// Waits until member `i` reports itself `up`.
    pub fn wait_member_up(&self, i: usize, timeout: Duration) {
        self.wait_until(&format!("member {i} up"), timeout, || {
            self.states(i).is_some_and(|s| s[i] == MemberState::Up)
        });
    }

    /// Waits until every running member sees member `i` up (a write that
    /// any of them coordinates counts it then).
    pub fn wait_seen_up(&self, i: usize, timeout: Duration) {
        let watchers: Vec<usize> = (0..self.n()).filter(|w| self.procs[*w].is_some()).collect();
        self.wait_until(&format!("member {i} seen up by all"), timeout, || {
            watchers
                .iter()
                .all(|&w| self.states(w).is_some_and(|s| s[i] == MemberState::Up))
        });
    }
}

/// Runs ffprobe on `ts` when it is installed (silent when it is not): it must
/// read it without errors and see the generated program (2 streams, PCR on 0x100).
pub fn ffprobe_if_present(ts: &[u8]) {
    let Ok(probe) = std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
    else {
        return;
    };
    if !probe.status.success() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("probe.ts");
    std::fs::write(&f, ts).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_programs", "-of", "json"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["programs"].as_array().is_some_and(|p| !p.is_empty()),
        "ffprobe sees no program: {v}"
    );
    assert_eq!(v["programs"][0]["nb_streams"], 2, "{v}");
    assert_eq!(v["programs"][0]["pcr_pid"], 0x100, "{v}");
}

/// Whether `program args` runs; else the test is skipped (or fails in CI).
pub fn have(program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("STRIPECAST_REQUIRE_CLIENTS").is_err(),
            "{program} is required (STRIPECAST_REQUIRE_CLIENTS) but does not run"
        );
        eprintln!("skipped: {program} is not installed (.ci/run installs it)");
    }
    ok
}

/// The aws cli against one S3 endpoint, with one key (a credentials file
/// and an empty config of its own in `dir`, so nothing of the machine's
/// leaks in).
pub struct AwsCli {
    endpoint: String,
    creds: PathBuf,
    config: PathBuf,
    ca: Option<PathBuf>,
}

impl AwsCli {
    pub fn new(dir: &Path, endpoint: &str, (id, secret): (&str, &str)) -> AwsCli {
        let creds = dir.join("aws-credentials");
        std::fs::write(
            &creds,
            format!("[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
        )
        .unwrap();
        AwsCli {
            endpoint: endpoint.to_string(),
            creds,
            config: dir.join("no-aws-config"),
            ca: None,
        }
    }

    /// Trusts the CA in `ca` (an https endpoint).
    pub fn with_ca(mut self, ca: &Path) -> AwsCli {
        self.ca = Some(ca.to_path_buf());
        self
    }

    /// `aws ARGS`, which must succeed; its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("aws");
        cmd.args(args)
            .args(["--endpoint-url", &self.endpoint])
            .env("AWS_SHARED_CREDENTIALS_FILE", &self.creds)
            .env("AWS_CONFIG_FILE", &self.config)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        if let Some(ca) = &self.ca {
            cmd.arg("--ca-bundle").arg(ca).env_remove("AWS_CA_BUNDLE");
        }
        let out = cmd.output().expect("run aws");
        assert!(
            out.status.success(),
            "aws {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
