//! Bad input: names the API refuses, and garbage or a wrong secret on a peer port.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{pattern, Cluster, MemberState};
use std::collections::BTreeMap;
use stripecast_actors::gateway::ClusterDoc;
use stripecast_actors::transport::faults::LinkFaults;
use stripecast_config::MemberId;

/// Sends a raw request line (no client-side path normalisation) and returns the status.
fn raw_status(addr: &str, method: &str, path: &str) -> u16 {
    raw_request(addr, method, path, "x", "").0
}

/// Sends `method path` with this Host header and body; answers the status
/// line's code and the whole answer.
fn raw_request(addr: &str, method: &str, path: &str, host: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    let code = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, buf)
}

#[test]
fn bad_names_get_400() {
    let c = Cluster::start(3);
    let addr = c.configs[0].me().http.to_string();
    let long = "n".repeat(1025);
    for path in [
        "/v1/objects/a/../b".to_string(),
        "/v1/objects/..".to_string(),
        "/v1/objects/a/%2E%2E/b".to_string(),
        "/v1/objects/a//b".to_string(),
        "/v1/objects/a/".to_string(),
        "/v1/objects/a%01b".to_string(),
        "/v1/objects/a%0Ab".to_string(),
        format!("/v1/objects/{long}"),
    ] {
        for method in ["PUT", "GET", "DELETE"] {
            assert_eq!(raw_status(&addr, method, &path), 400, "{method} {path}");
        }
    }
    // A name of exactly 1024 bytes is fine.
    let ok = "n".repeat(1024);
    assert_eq!(c.put(0, &ok, b"x").0, 201);
    assert_eq!(c.get(1, &ok).1, b"x");
}

#[test]
fn garbage_and_a_wrong_secret_on_peer_ports_are_refused_and_service_goes_on() {
    let c = Cluster::start(3);
    let data = pattern(300_000, 3);
    assert_eq!(c.put(0, "before", &data).0, 201);

    // Random bytes, an HTTP request, and a half frame, on every peer port.
    for i in 0..3 {
        let peer = c.configs[i].me().peer;
        for junk in [
            pattern(4096, 77 + i as u64),
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            vec![0, 0, 0, 50, 1, 2],
        ] {
            let mut s = TcpStream::connect(peer).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(&junk);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut sink = Vec::new();
            // The member closes the connection (EOF or reset), it does not hang.
            let r = s.read_to_end(&mut sink);
            assert!(r.is_ok() || r.is_err(), "closed");
        }
    }

    // An impostor claiming to be member 2 with the wrong secret.
    let dir = tempfile::tempdir().unwrap();
    let mut fake = c.configs[2].clone();
    fake.cluster.secret = "this-is-not-the-cluster-secret".into();
    fake.data_dir = dir.path().join("impostor");
    let ports = common::free_ports(2);
    fake.members[2].peer.set_port(ports[0]);
    fake.members[2].http.set_port(ports[1]);
    std::fs::create_dir_all(&fake.data_dir).unwrap();
    fake.save(&fake.data_dir.join("config.toml")).unwrap();
    let mut impostor = std::process::Command::new(common::BIN)
        .args(["node", "--config"])
        .arg(fake.data_dir.join("config.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let impostor_view = ureq::get(&format!("http://{}/v1/cluster", fake.me().http))
        .call()
        .ok()
        .and_then(|r| r.into_json::<ClusterDoc>().ok());
    let _ = impostor.kill();
    let _ = impostor.wait();
    if let Some(v) = impostor_view {
        let states: Vec<MemberState> = v.members.iter().map(|m| m.state).collect();
        assert_eq!(
            &states[..2],
            &[MemberState::Down, MemberState::Down],
            "the impostor is never let in"
        );
    }

    // The real cluster kept serving throughout.
    for i in 0..3 {
        assert_eq!(c.states(i).unwrap(), [MemberState::Up; 3]);
        assert!(c.get(i, "before").1 == data);
    }
    assert_eq!(c.put(1, "after", &data).0, 201);
    assert!(c.get(2, "after").1 == data);
    let refused = (0..2).any(|i| c.log(i).contains("handshake"));
    assert!(refused, "a member logged the failed handshake");
}

#[test]
fn faults_can_be_injected_and_cleared_over_http() {
    let c = Cluster::start(3);
    let data = pattern(200_000, 8);
    assert_eq!(c.put(0, "f", &data).0, 201);
    let url = format!("{}/v1/faults/1", c.url(0));
    // Unknown fields and bad peers are refused.
    let bad = ureq::put(&url).send_string(r#"{"partitio": true}"#);
    assert!(matches!(bad, Err(ureq::Error::Status(400, _))));
    let me = ureq::put(&format!("{}/v1/faults/0", c.url(0))).send_string("{}");
    assert!(matches!(me, Err(ureq::Error::Status(400, _))));
    ureq::put(&url)
        .send_string(r#"{"partition": true}"#)
        .unwrap();
    let all: BTreeMap<MemberId, LinkFaults> = ureq::get(&format!("{}/v1/faults", c.url(0)))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert!(all[&MemberId::new(1)].partition);
    c.wait_until(
        "the partition is seen by both sides",
        Duration::from_secs(10),
        || {
            c.states(0).is_some_and(|s| s[1] == MemberState::Down)
                && c.states(1).is_some_and(|s| s[0] == MemberState::Down)
        },
    );
    // Members 0 and 2 (a majority) still serve.
    assert!(c.get(0, "f").1 == data);
    assert!(c.get(2, "f").1 == data);
    assert_eq!(ureq::delete(&url).call().unwrap().status(), 204);
    c.wait_until("healed", Duration::from_secs(20), || {
        (0..3).all(|i| c.states(i).is_some_and(|s| s == [MemberState::Up; 3]))
    });
    assert!(c.get(1, "f").1 == data);
}

/// Everything a member writes (fragments, packed segments, the catalog, the
/// metadata log) is its user's alone: files 0600, directories 0700, the data
/// directory too even when something else created it. (`config.toml` and
/// `member.log` are written by this harness, not by the member.)
#[test]
fn a_members_files_are_private() {
    let c = Cluster::start(3);
    for (i, len) in [(0, 300_000usize), (1, 2_000)] {
        let name = format!("private/{i}");
        assert_eq!(c.put(0, &name, &pattern(len, i as u64)).0, 201);
    }
    for m in 0..c.n() {
        let root = c.data_dir(m);
        let mut seen = 0;
        let mut todo = vec![root.to_path_buf()];
        while let Some(dir) = todo.pop() {
            let mode = std::fs::metadata(&dir).unwrap().permissions();
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                mode.mode() & 0o077,
                0,
                "{} is {:o}",
                dir.display(),
                mode.mode()
            );
            for e in std::fs::read_dir(&dir).unwrap() {
                let e = e.unwrap();
                let path = e.path();
                if dir == root
                    && ["config.toml", "member.log"].contains(&e.file_name().to_str().unwrap_or(""))
                {
                    continue;
                }
                let meta = e.metadata().unwrap();
                if meta.is_dir() {
                    todo.push(path);
                } else {
                    seen += 1;
                    let mode = meta.permissions().mode();
                    assert_eq!(mode & 0o077, 0, "{} is {:o}", path.display(), mode);
                }
            }
        }
        assert!(seen >= 5, "member {m}: only {seen} files looked at");
        // This harness's secret is 28 bytes: accepted, with a warning that
        // does not show it.
        let log = c.log(m);
        assert!(
            log.contains("weak cluster secret"),
            "{}",
            common::tail(&log, 20)
        );
        assert!(!log.contains("test-secret"), "the log shows the secret");
    }
}

/// Files in member `i`'s fragments-being-written directory.
fn temporaries(c: &Cluster, i: usize) -> usize {
    std::fs::read_dir(c.data_dir(i).join("fragments").join(".tmp"))
        .map(|rd| rd.count())
        .unwrap_or(0)
}

/// Starts a PUT of `name` announcing `total` bytes on member 0, sends the
/// first `sent`, and waits until every member holds part of the upload.
fn open_put(c: &Cluster, name: &str, total: usize, sent: usize) -> TcpStream {
    let addr = c.url(0).trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "PUT /v1/objects/{name} HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n"
    )
    .unwrap();
    s.write_all(&pattern(sent, 7)).unwrap();
    c.wait_until(
        "every member writes the upload",
        Duration::from_secs(10),
        || (0..3).all(|i| temporaries(c, i) > 0),
    );
    s
}

/// A client that goes away in the middle of a PUT leaves nothing behind:
/// every member drops its part of the upload at once (not after the
/// members' one-minute idle timeout), and the object does not exist.
#[test]
fn a_put_whose_client_disconnects_leaves_no_temporaries() {
    let c = Cluster::start(3);
    let s = open_put(&c, "gone", 16 << 20, 2 << 20);
    drop(s);
    c.wait_until(
        "every member dropped the upload",
        Duration::from_secs(15),
        || (0..3).all(|i| temporaries(&c, i) == 0),
    );
    assert_eq!(c.get(1, "gone").0, 404);
}

/// A body that trickles (a byte every 200 ms, far below a block per
/// `body_progress_timeout_ms`) is cut with 408, and its upload leaves
/// nothing behind on any member; a body at a steady pace is not cut.
#[test]
fn a_trickling_put_body_is_cut_and_leaves_nothing() {
    let c = Cluster::start_with(
        3,
        common::Opts {
            body_progress_timeout_ms: Some(1_500),
            ..common::Opts::default()
        },
    );
    let mut s = open_put(&c, "slow", 4 << 20, 1 << 20);
    let started = std::time::Instant::now();
    let mut answer = String::new();
    while started.elapsed() < Duration::from_secs(15) {
        if s.write_all(b"x").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        if let Ok(n) = s.read(&mut buf) {
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        s.set_nonblocking(false).unwrap();
        if answer.contains("\r\n\r\n") {
            break;
        }
    }
    if !answer.contains("\r\n\r\n") {
        let mut rest = String::new();
        let _ = s.read_to_string(&mut rest);
        answer.push_str(&rest);
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("too slow"), "{answer:?}");
    c.wait_until(
        "every member dropped the upload",
        Duration::from_secs(10),
        || (0..3).all(|i| temporaries(&c, i) == 0),
    );
    assert_eq!(c.get(1, "slow").0, 404);
    // A steady body of many blocks is not cut.
    let data = pattern(3 << 20, 4);
    assert_eq!(c.put(0, "steady", &data).0, 201);
    assert_eq!(c.get(1, "steady").1, data);
}

/// With `[http] allowed_hosts`, a request naming another host (a DNS name
/// rebound to a member's address, as a web page would send) is refused
/// with 403 and changes nothing; the allowed names, with or without port,
/// are served.
#[test]
fn requests_for_hosts_not_allowed_are_refused() {
    let c = Cluster::start_with(
        3,
        common::Opts {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into()],
            ..common::Opts::default()
        },
    );
    let addr = c.url(0).trim_start_matches("http://").to_string();
    let port = addr.rsplit(':').next().unwrap().to_string();
    for host in [
        "rebound.example",
        &format!("rebound.example:{port}"),
        "localhost.evil.example",
    ] {
        let (code, body) = raw_request(&addr, "PUT", "/v1/objects/rebound", host, "hello");
        assert_eq!(code, 403, "{host}: {body}");
        assert!(body.contains("host not allowed"), "{body}");
        assert_eq!(raw_request(&addr, "GET", "/v1/cluster", host, "").0, 403);
    }
    assert_eq!(c.get(1, "rebound").0, 404, "nothing stored");
    for host in ["localhost", &format!("127.0.0.1:{port}"), "LOCALHOST"] {
        let (code, body) = raw_request(&addr, "PUT", "/v1/objects/allowed", host, "hello");
        assert_eq!(code, 201, "{host}: {body}");
    }
    assert_eq!(c.get(1, "allowed").1, b"hello");
}
