//! `stripecast up` as a user runs it: start, put and get through the CLI, stop
//! on SIGINT, start again on the same directory and find the object.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_ports, pattern, BIN};
use stripecast_actors::gateway::ClusterDoc;
use stripecast_ring::planner::SystemState;
use stripecast_ring::switch::{InsertState, RingDoc};

fn start_up(
    dir: &std::path::Path,
    http: u16,
    peer: u16,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    start_up_with(dir, http, peer, &["--nodes".into(), "3".into()])
}

std::thread_local! {
    /// The credentials file of the `up` this test thread started.
    static CREDENTIALS: std::cell::RefCell<Option<std::path::PathBuf>> =
        const { std::cell::RefCell::new(None) };
}

fn start_up_with(
    dir: &std::path::Path,
    http: u16,
    peer: u16,
    extra: &[String],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    CREDENTIALS.with(|c| *c.borrow_mut() = Some(dir.join("credentials")));
    // S3 on the block after the peers' (see `port_bases`).
    let s3 = peer + 3;
    let mut child = Command::new(BIN)
        .args(["up", "--dir"])
        .arg(dir)
        .args([
            "--http-base-port",
            &http.to_string(),
            "--peer-base-port",
            &peer.to_string(),
            "--s3-base-port",
            &s3.to_string(),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains("members up") => break,
            Ok(_) => {}
            Err(_) if Instant::now() > deadline => {
                panic!("stripecast up did not report the cluster up")
            }
            Err(_) => {}
        }
    }
    (child, rx)
}

/// Nine consecutive free ports (HTTP base, peer base = HTTP + 3, S3 base =
/// HTTP + 6) for one
/// `up`. Blocks are handed out in turn from below the kernel's ephemeral
/// range (32768 and up), so neither another test of this binary nor the
/// source port of some outgoing connection can take one between this check
/// and `up`'s bind.
fn port_bases() -> (u16, u16) {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % 1000) as u16 * 12;
    loop {
        let p = 20_000 + start.wrapping_add(NEXT.fetch_add(9, Ordering::Relaxed)) % 12_000;
        let ok = (0..9).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok());
        if ok {
            return (p, p + 3);
        }
    }
}

/// Waits (30 s at most) for `up` to exit after a SIGINT.
fn wait_exit(up: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = up.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "up did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `stripecast get NAME -o OUT` via `node`, which must succeed; the bytes.
fn cli_get(node: &str, name: &str, out: &std::path::Path) -> Vec<u8> {
    let get = cli(node, &["get", name, "-o", out.to_str().unwrap()]);
    assert!(
        get.status.success(),
        "get {name} via {node}: {}",
        String::from_utf8_lossy(&get.stderr)
    );
    std::fs::read(out).unwrap()
}

/// SIGINT to `up`.
fn interrupt(up: &std::process::Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(up.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
}

/// `stripecast ARGS --node NODE`, with the key `up` wrote (the ring's
/// status is open: it is read without one).
fn cli(node: &str, args: &[&str]) -> std::process::Output {
    let creds = CREDENTIALS.with(|c| c.borrow().clone());
    let mut cmd = Command::new(BIN);
    cmd.args(args).args(["--node", node]);
    if let Some(path) = creds {
        cmd.arg("--credentials").arg(path);
    }
    cmd.output().unwrap()
}

#[test]
fn up_serves_cli_put_and_get_stops_on_sigint_and_comes_back_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (http, peer) = port_bases();
    let (mut up, _lines) = start_up(&data_dir, http, peer);
    let node = format!("http://127.0.0.1:{}", http + 1);

    let file = dir.path().join("in.bin");
    let data = pattern(3 << 20, 11);
    std::fs::write(&file, &data).unwrap();
    // `up` wrote its admin key where aws cli and this CLI read it, private.
    let creds = data_dir.join("credentials");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&creds).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&creds).unwrap();
    assert!(
        text.starts_with("[default]\naws_access_key_id = "),
        "{text}"
    );
    assert!(text.contains("aws_secret_access_key = "), "{text}");
    // Without it a write is refused, and nothing is stored.
    let anonymous = Command::new(BIN)
        .args([
            "put",
            "videos/anon.ts",
            file.to_str().unwrap(),
            "--node",
            &node,
        ])
        .current_dir(dir.path())
        .env_remove("STRIPECAST_KEY")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .output()
        .unwrap();
    assert!(!anonymous.status.success());
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("401"));
    let put = cli(&node, &["put", "videos/a.ts", file.to_str().unwrap()]);
    assert!(
        put.status.success(),
        "put: {}",
        String::from_utf8_lossy(&put.stderr)
    );
    let out = dir.path().join("out.bin");
    let got = cli_get(
        &format!("http://127.0.0.1:{}", http + 2),
        "videos/a.ts",
        &out,
    );
    assert!(got == data);
    let ls = cli(&node, &["ls"]);
    let listed = String::from_utf8_lossy(&ls.stdout);
    assert!(listed.contains("videos/a.ts"));
    assert!(!listed.contains("anon"), "the refused write stored nothing");
    // Keys and grants through the CLI: a new key writes where it is allowed.
    let made = cli(&node, &["key", "create", "app"]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let made = String::from_utf8_lossy(&made.stdout).into_owned();
    let app_key = made
        .lines()
        .find_map(|l| l.strip_prefix("STRIPECAST_KEY="))
        .expect("the new key")
        .to_string();
    for args in [
        &["bucket", "create", "media"][..],
        &[
            "bucket", "allow", "media", "--key", "app", "--read", "--write",
        ][..],
    ] {
        let out = cli(&node, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let as_app = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .args(["--node", &node, "--key", &app_key])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    assert!(as_app(&["put", "media/by-app.ts", file.to_str().unwrap()])
        .status
        .success());
    assert!(
        !as_app(&["put", "videos/by-app.ts", file.to_str().unwrap()])
            .status
            .success(),
        "no grant there"
    );
    let keys = String::from_utf8_lossy(&cli(&node, &["key", "list"]).stdout).into_owned();
    assert!(
        keys.contains("app") && !keys.contains(app_key.split(':').nth(1).unwrap()),
        "{keys}"
    );
    let buckets = String::from_utf8_lossy(&cli(&node, &["bucket", "list"]).stdout).into_owned();
    assert!(
        buckets.contains("media") && buckets.contains("app:rw"),
        "{buckets}"
    );
    assert!(cli(&node, &["key", "delete", "app"]).status.success());
    assert!(
        !as_app(&["put", "media/again.ts", file.to_str().unwrap()])
            .status
            .success(),
        "deleted key"
    );
    let status = cli(&node, &["status", "--json"]);
    let v: ClusterDoc = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v.members.len(), 3);

    // Ctrl-C: every member stops and `up` exits cleanly.
    interrupt(&up);
    let code = wait_exit(&mut up);
    assert!(code.success(), "up exited with {code}");
    for i in 0..3 {
        assert!(
            !data_dir.join(format!("member-{i}/member.pid")).exists(),
            "member {i} removed its pid file on a clean stop"
        );
    }

    // Same directory again: the object is still there.
    let (mut up2, _lines2) = start_up(&data_dir, http, peer);
    let out2 = dir.path().join("out2.bin");
    let got = cli_get(&format!("http://127.0.0.1:{http}"), "videos/a.ts", &out2);
    assert!(got == data, "after restart");
    interrupt(&up2);
    let _ = up2.wait();
}

/// A base port `p` with `p + i` free for every `i` in `offsets` (TCP or UDP).
fn free_run(offsets: &[u16], udp: bool) -> u16 {
    loop {
        let p = free_ports(1)[0];
        if !(1024..=60000).contains(&p) {
            continue;
        }
        let ok = offsets.iter().all(|i| {
            if udp {
                std::net::UdpSocket::bind(("127.0.0.1", p + i)).is_ok()
            } else {
                std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok()
            }
        });
        if ok {
            return p;
        }
    }
}

fn ring_doc(node: &str) -> Option<RingDoc> {
    let out = cli(node, &["ring", "status", "--json"]);
    serde_json::from_slice(&out.stdout).ok()
}

fn wait_ring(node: &str, what: &str, ok: impl Fn(&RingDoc) -> bool) -> RingDoc {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        if let Some(d) = ring_doc(node).filter(|d| ok(d)) {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            ring_doc(node)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn up_ring_runs_switch_feeds_and_cue_inserts_and_shifts_on_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (http, peer) = port_bases();
    let switch = free_run(&[0, 1], false);
    let udp = free_run(&[0, 1, 100, 101], true);
    let extra: Vec<String> = [
        "--nodes",
        "3",
        "--ring",
        "2",
        "--ring-switch-port",
        &switch.to_string(),
        "--ring-udp-base-port",
        &udp.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (mut up, _lines) = start_up_with(&data_dir, http, peer, &extra);
    let node = format!("http://127.0.0.1:{http}");
    // the demo feeds carry a cue 4 s into each loop; each inserts the demo ad
    let doc = wait_ring(&node, "a cue insert done on each feed", |d| {
        (0..2).all(|g| {
            d.inserts
                .iter()
                .any(|r| r.feed == g && r.state == InsertState::Done && r.object == "demo/ad.ts")
        })
    });
    assert_eq!(doc.spare, Some(2), "{doc:?}");
    assert_eq!(doc.feeds[1].system, Some(1));
    let pid: i32 = std::fs::read_to_string(data_dir.join("member-1/member.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // either: shifting up takes one shift (the spare takes feed 1), down two
    let doc = wait_ring(&node, "feed 1 on the spare", |d| {
        d.feeds[1].system == Some(2)
    });
    assert!(!doc.systems[1].alive);
    assert_eq!(doc.systems[2].state, SystemState::FailUp);
    let text = cli(&node, &["ring", "status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("fail_up") && text.contains("demo/ad.ts"),
        "{text}"
    );

    interrupt(&up);
    let code = wait_exit(&mut up);
    assert!(code.success(), "up exited with {code}");
    // the switch and the feeds were stopped with it: their ports are free again
    assert!(std::net::TcpListener::bind(("127.0.0.1", switch)).is_ok());
    assert!(std::net::UdpSocket::bind(("127.0.0.1", udp)).is_ok());
}

/// `up --nodes 2` is the mirror with its witness: a member SIGKILLed,
/// reads and writes through the other go on.
#[test]
fn up_with_two_nodes_runs_a_witness_and_serves_with_a_member_down() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (http, peer) = port_bases();
    let (mut up, _lines) = start_up_with(&data_dir, http, peer, &["--nodes".into(), "2".into()]);
    let node = |i: u16| format!("http://127.0.0.1:{}", http + i);
    assert!(
        data_dir.join("witness/config.toml").exists(),
        "the witness's config"
    );
    let file = dir.path().join("in.bin");
    let out = dir.path().join("out.bin");
    let pid = |i: usize| -> i32 {
        std::fs::read_to_string(data_dir.join(format!("member-{i}/member.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (down, up_member) = (0usize, 1u16);
    {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid(down)),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let data = pattern(300_000, 20 + down as u64);
        std::fs::write(&file, &data).unwrap();
        // Until the survivor has noticed (heartbeats, an election) a write may get 503.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let put = cli(
                &node(up_member),
                &["put", "after-kill", file.to_str().unwrap()],
            );
            if put.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "put with member {down} down: {}",
                String::from_utf8_lossy(&put.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        assert!(cli_get(&node(up_member), "after-kill", &out) == data);
    }
    interrupt(&up);
    let code = wait_exit(&mut up);
    assert!(code.success(), "up exited with {code}");
    assert!(
        !data_dir.join("witness/member.pid").exists(),
        "the witness stopped cleanly"
    );
}

#[test]
fn up_tls_serves_https_with_its_own_ca_and_an_encrypted_mesh() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (http, peer) = port_bases();
    let (mut up, lines) = start_up_with(
        &data_dir,
        http,
        peer,
        &["--nodes".into(), "3".into(), "--tls".into()],
    );
    let ca = data_dir.join("tls/ca.pem");
    assert!(ca.is_file(), "up --tls made a CA");
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(data_dir.join("tls/member-key.pem"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(
        key_mode & 0o777,
        0o600,
        "the private key is the user's alone"
    );
    let node = |i: u16| format!("https://127.0.0.1:{}", http + i);
    let mut printed = String::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
        printed.push_str(&line);
        printed.push('\n');
    }
    assert!(
        printed.contains(&node(0)),
        "the endpoints are https:\n{printed}"
    );

    // The CLI with --ca: put through one member, get through another.
    let data = pattern(700_000, 31);
    let file = dir.path().join("in.bin");
    std::fs::write(&file, &data).unwrap();
    let with_ca = |node: &str, args: &[&str]| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--ca", ca.to_str().unwrap()]);
        cli(node, &a)
    };
    let put = with_ca(&node(0), &["put", "secure/in.bin", file.to_str().unwrap()]);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let out = dir.path().join("out.bin");
    let get = with_ca(
        &node(2),
        &["get", "secure/in.bin", "-o", out.to_str().unwrap()],
    );
    assert!(
        get.status.success(),
        "{}",
        String::from_utf8_lossy(&get.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), data);
    // Without the CA the certificate is not trusted, and plain HTTP gets
    // no answer: nothing is served unencrypted.
    assert!(!cli(&node(1), &["status"]).status.success());
    let plain = format!("http://127.0.0.1:{}", http + 1);
    assert!(!cli(&plain, &["status"]).status.success());
    // Every member's config asks for the encrypted mesh.
    for i in 0..3 {
        let cfg =
            std::fs::read_to_string(data_dir.join(format!("member-{i}/config.toml"))).unwrap();
        assert!(cfg.contains("peer_tls = \"on\""), "{cfg}");
    }
    interrupt(&up);
    assert!(wait_exit(&mut up).success());
}
