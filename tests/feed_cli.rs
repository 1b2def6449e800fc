//! Black-box tests of `stripecast feed` and `stripecast ts`: the real binary
//! sends a generated stream over UDP on loopback to a socket here; the
//! received bytes must be a valid TS that arrived over about its real
//! duration. ffprobe also reads the output when it is installed.

mod common;

use common::ffprobe_if_present;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use stripecast_ts::check::check;
use stripecast_ts::gen::marker;
use stripecast_ts::packet::packets;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stripecast"))
}

/// Receives datagrams until `child` has exited and nothing came for 500 ms (or 20 s pass).
fn receive(
    sock: &UdpSocket,
    child: &mut std::process::Child,
) -> (Vec<u8>, Vec<usize>, Option<Duration>) {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 65536];
    let mut data = Vec::new();
    let mut sizes = Vec::new();
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut exited_at = None::<Instant>;
    while Instant::now() < deadline {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                let now = Instant::now();
                first.get_or_insert(now);
                last = Some(now);
                data.extend_from_slice(&buf[..n]);
                sizes.push(n);
            }
            Err(_) => {
                if exited_at.is_none() && child.try_wait().unwrap().is_some() {
                    exited_at = Some(Instant::now());
                }
                if exited_at.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) {
                    break;
                }
            }
        }
    }
    let span = first.zip(last).map(|(a, b)| b - a);
    (data, sizes, span)
}

#[test]
fn feed_generate_arrives_valid_at_real_rate() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut child = bin()
        .args(["feed", "--generate", "1", "--tag", "CLI0", "--to"])
        .arg(format!("udp://127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (data, sizes, span) = receive(&sock, &mut child);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 1 s at 1.5 Mbit/s = 998 packets; loopback UDP does not drop at this rate
    assert_eq!(data.len(), 998 * 188);
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&n| n == 1316),
        "{sizes:?}"
    );
    let r = check(&data);
    assert!(r.is_valid(), "{:?}", r.errors());
    let span = span.unwrap();
    assert!(
        span >= Duration::from_millis(700),
        "arrived over only {span:?}"
    );
    let tags: Vec<_> = packets(&data)
        .filter_map(Result::ok)
        .filter_map(|p| marker(p.payload()))
        .collect();
    assert!(!tags.is_empty() && tags.iter().all(|m| m.tag == "CLI0"));
    ffprobe_if_present(&data);
}

#[test]
fn feed_loop_stays_continuous() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("short.ts");
    let st = bin()
        .args(["ts", "gen", "--seconds", "0.4", "--tag", "LOOP", "-o"])
        .arg(&file)
        .status()
        .unwrap();
    assert!(st.success());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut child = bin()
        .arg("feed")
        .arg(&file)
        .args(["--loop", "--to"])
        .arg(format!("udp://127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // take ~1.5 s (about 4 loops), then stop the feeder
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 65536];
    let mut data = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1500) {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            data.extend_from_slice(&buf[..n]);
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let r = check(&data);
    assert!(r.is_valid(), "{:?}", r.errors());
    assert!(r.duration_secs > 1.0, "{}", r.duration_secs);
}

#[test]
fn ts_gen_and_check_cli() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.ts");
    let st = bin()
        .args([
            "ts",
            "gen",
            "--seconds",
            "2",
            "--tag",
            "AD-x",
            "--cue-at",
            "0.5",
            "-o",
        ])
        .arg(&file)
        .status()
        .unwrap();
    assert!(st.success());
    let out = bin()
        .args(["ts", "check", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["cc_error_count"], 0);
    assert_eq!(v["cues"].as_array().map(Vec::len), Some(1));
    let d = v["duration_secs"].as_f64().unwrap();
    assert!((d - 2.0).abs() < 0.1, "{d}");
    let text = bin().args(["ts", "check"]).arg(&file).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("valid"));
    // a damaged file fails
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.drain(188 * 50..188 * 51);
    bytes.push(0x47);
    std::fs::write(&file, &bytes).unwrap();
    let bad = bin()
        .args(["ts", "check", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["trailing_bytes"], 1);
    ffprobe_if_present(&std::fs::read(dir.path().join("a.ts")).unwrap()[..188 * 50]);
}
