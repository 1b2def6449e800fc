//! The five behaviours the first chaos runs found (before the metadata
//! went onto Raft), each replayed on purpose against real members. Every
//! answer is checked: a 200 must carry exactly the acknowledged bytes, a
//! deleted object is never served, and once the cluster says it has
//! converged every member serves again. 503 is allowed while it settles.
//!
//! These deterministic replays pass on the build before the metadata went
//! onto Raft as well (`STRIPECAST_TEST_MEMBER_BIN=path/to/old/stripecast`
//! runs the members from another build): the old faults needed concurrent
//! clients and unlucky timing. The seeded chaos runs in `chaos_cli.rs`
//! (`*_stays_fixed`) are the ones that fail on that build.

mod common;

use std::time::{Duration, Instant};

use common::{pattern, Cluster, MemberState};
use nix::sys::signal::Signal;

const T: Duration = Duration::from_secs(60);
/// How long answers are watched right after a member comes back.
const WATCH: Duration = Duration::from_secs(4);

/// GETs `name` from every member for `WATCH`, then until each answered
/// 200: every 200 must be exactly `want`.
fn watch_reads(c: &Cluster, name: &str, want: &[u8]) {
    let start = Instant::now();
    let mut served = vec![false; c.n()];
    while start.elapsed() < WATCH || !served.iter().all(|s| *s) {
        assert!(
            start.elapsed() < T,
            "not every member served {name}: {served:?}"
        );
        for (i, ok) in served.iter_mut().enumerate() {
            let (status, got) = c.get(i, name);
            assert!(
                status == 200 || status == 503,
                "GET {name} via {i}: {status}"
            );
            if status == 200 {
                assert!(
                    got == want,
                    "GET {name} via {i}: {} bytes that are not the acknowledged {} bytes",
                    got.len(),
                    want.len()
                );
                *ok = true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Seen: one whole 64 KiB block wrong (the old column of the member just
/// back from a partition), from every member, for seconds.
#[test]
fn a_member_back_from_a_partition_never_lends_its_old_block() {
    let c = Cluster::start(3);
    let v1 = pattern(400_000, 1);
    let v2 = pattern(400_000, 2);
    assert_eq!(c.put(0, "same-length", &v1).0, 201);
    c.isolate(2, true);
    c.wait_down(&[2], T);
    assert_eq!(c.put(0, "same-length", &v2).0, 201);
    c.isolate(2, false);
    watch_reads(&c, "same-length", &v2);
}

/// Seen: a 1,000-byte body that was the first 1,000 bytes of a 1.3 MB
/// write (one write's length, another's blocks), after a kill.
#[test]
fn a_member_back_from_a_kill_never_mixes_two_writes() {
    let mut c = Cluster::start(3);
    let long = pattern(1_300_000, 3);
    let short = pattern(1_000, 4);
    assert_eq!(c.put(0, "k", &long).0, 201);
    c.kill(1);
    c.wait_down(&[1], T);
    assert_eq!(c.put(0, "k", &short).0, 201);
    c.spawn(1);
    c.wait_until("member 1 answers HTTP", T, || c.cluster_doc(1).is_some());
    watch_reads(&c, "k", &short);
}

/// Seen: a PUT coordinated by a member 80 ms after SIGCONT (from 4 s of
/// SIGSTOP) was acknowledged, and the key kept an older value.
#[test]
fn a_put_acknowledged_right_after_sigcont_is_not_lost() {
    let c = Cluster::start(3);
    let v1 = pattern(200_000, 5);
    let v2 = pattern(200_000, 6);
    let v3 = pattern(150_000, 7);
    assert_eq!(c.put(0, "p", &v1).0, 201);
    c.signal(2, Signal::SIGSTOP);
    c.wait_down(&[2], T);
    assert_eq!(c.put(0, "p", &v2).0, 201);
    c.signal(2, Signal::SIGCONT);
    std::thread::sleep(Duration::from_millis(80));
    let (status, body) = c.put(2, "p", &v3);
    assert!(status == 201 || status == 503, "PUT via 2: {status} {body}");
    let want = if status == 201 { &v3 } else { &v2 };
    watch_reads(&c, "p", want);
}

/// Seen: an object deleted (204) served for 4 s by a member just healed
/// from a partition.
#[test]
fn a_deleted_object_is_never_served_by_a_healed_member() {
    let c = Cluster::start(3);
    let v = pattern(120_000, 8);
    assert_eq!(c.put(0, "gone", &v).0, 201);
    c.isolate(2, true);
    c.wait_down(&[2], T);
    assert_eq!(c.delete(0, "gone"), 204);
    c.isolate(2, false);
    let start = Instant::now();
    let mut not_found = false;
    while start.elapsed() < WATCH || !not_found {
        assert!(start.elapsed() < T, "member 2 never answered 404");
        let (status, _) = c.get(2, "gone");
        assert!(
            status == 404 || status == 503,
            "the healed member answered {status} for a deleted object"
        );
        not_found = status == 404;
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Seen: every member reported every member up, yet one answered 503 to
/// every GET for 30 s and more.
#[test]
fn once_every_member_is_up_every_member_serves() {
    let mut c = Cluster::start(3);
    let values: Vec<Vec<u8>> = (0..4)
        .map(|k| pattern(90_000 + k * 1000, 10 + k as u64))
        .collect();
    for (k, v) in values.iter().enumerate() {
        assert_eq!(c.put(0, &format!("o{k}"), v).0, 201);
    }
    c.kill(1);
    c.wait_down(&[1], T);
    assert_eq!(c.put(0, "o0", &values[3]).0, 201);
    c.spawn(1);
    c.wait_all_up(T);
    c.isolate(2, true);
    c.wait_down(&[2], T);
    // Member 1 may still be rebuilding: a write may need it as a writer.
    c.wait_until("PUT o1 with member 2 cut off", T, || {
        let (status, body) = c.put(0, "o1", &values[2]);
        assert!(status == 201 || status == 503, "PUT o1: {status} {body}");
        status == 201
    });
    c.isolate(2, false);
    c.wait_all_up(T);
    c.wait_until("every member up in every view", T, || {
        (0..3).all(|i| {
            c.states(i)
                .is_some_and(|s| s.iter().all(|x| *x == MemberState::Up))
        })
    });
    // Converged by the cluster's own account: now every member must serve.
    let deadline = Instant::now() + Duration::from_secs(10);
    let want = [&values[3], &values[2], &values[2], &values[3]];
    for (k, v) in want.iter().enumerate() {
        for i in 0..3 {
            loop {
                let (status, got) = c.get(i, &format!("o{k}"));
                if status == 200 {
                    assert!(got == **v, "o{k} via {i}: wrong bytes");
                    break;
                }
                assert_eq!(status, 503, "o{k} via {i}");
                assert!(
                    Instant::now() < deadline,
                    "member {i} still answers 503 for o{k} 10 s after every member was up"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
