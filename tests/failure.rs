//! Surviving member failure: real processes, SIGKILL, SIGSTOP, bit rot.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{pattern, Cluster, MemberState, Opts};
use nix::sys::signal::Signal;

const S: usize = 65536;
const T: Duration = Duration::from_secs(30);

#[test]
fn a_member_killed_during_a_streaming_get_does_not_break_the_stream() {
    let mut c = Cluster::start(3);
    let data = pattern(48 << 20, 1);
    assert_eq!(c.put(0, "movie", &data).0, 201);
    let resp = ureq::get(&format!("{}/v1/objects/movie", c.url(0)))
        .call()
        .unwrap();
    let mut body = resp.into_reader();
    let mut got = vec![0u8; 6 << 20];
    body.read_exact(&mut got).unwrap();
    c.kill(2);
    let mut rest = Vec::new();
    body.read_to_end(&mut rest).expect("the stream continues");
    got.extend_from_slice(&rest);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "every byte equal to the original");
    assert!(
        c.metric(0, "stripecast_reconstructions_total") > 0,
        "member 2's blocks were rebuilt from parity"
    );
}

#[test]
fn writes_go_on_with_a_member_down_and_it_rebuilds_exactly_what_changed() {
    let mut c = Cluster::start(3);
    let keep = pattern(3 * S + 1, 10);
    let changed = pattern(2 * S + 5, 11);
    let gone = pattern(S, 12);
    for (name, d) in [("keep", &keep), ("changed", &changed), ("gone", &gone)] {
        assert_eq!(c.put(0, name, d).0, 201);
    }
    c.kill(2);
    c.wait_down(&[2], T);
    let new1 = pattern(5 * S + 3, 20);
    let new2 = pattern(7, 21);
    let changed2 = pattern(4 * S, 22);
    assert_eq!(c.put(1, "new1", &new1).0, 201);
    assert_eq!(c.put(0, "new2", &new2).0, 201);
    assert_eq!(c.put(1, "changed", &changed2).0, 201);
    assert_eq!(c.delete(0, "gone"), 204);
    for i in 0..2 {
        for (name, d) in [
            ("keep", &keep),
            ("changed", &changed2),
            ("new1", &new1),
            ("new2", &new2),
        ] {
            let (status, got) = c.get(i, name);
            assert_eq!(status, 200, "{name} via {i}");
            assert!(got == *d, "{name} via member {i} with member 2 down");
        }
        assert_eq!(c.get(i, "gone").0, 404);
    }
    // The controller's step is asynchronous (and, if member 2 led the
    // metadata group, waits for the next leader): give it time.
    c.wait_until("the controller stepped the volume", T, || {
        c.cluster_doc(0).is_some_and(|d| d.incarnation.get() >= 2)
    });
    let doc = c.cluster_doc(0).unwrap();
    assert_eq!(doc.members[2].state, MemberState::Down);
    assert_eq!(
        doc.members[2].dirty, 4,
        "new1, new2, changed, gone: {doc:?}"
    );
    let inc_before = doc.incarnation;
    assert!(
        inc_before.get() >= 2,
        "the controller advanced the incarnation: {doc:?}"
    );

    c.spawn(2);
    c.wait_member_up(2, T);
    c.wait_until("dirty set cleared everywhere", T, || {
        (0..3).all(|i| c.cluster_doc(i).is_some_and(|d| d.members[2].dirty == 0))
    });
    assert_eq!(
        c.metric(2, "stripecast_objects_rebuilt_total"),
        4,
        "exactly the dirty objects"
    );
    // Its fragments of new1 (3 rows) and changed (2 rows) in whole blocks,
    // and new2's one-row image (its header, one block and a checksum).
    let rebuilt = c.metric(2, "stripecast_rebuild_bytes_total");
    assert!(
        (6 * S as u64..6 * S as u64 + 4096).contains(&rebuilt),
        "fragment bytes rebuilt: {rebuilt}"
    );
    let doc2 = c.cluster_doc(2).unwrap();
    assert_eq!(
        doc2.incarnation, inc_before,
        "member 2 took the volume's incarnation"
    );
    // No fragment of the deleted object, one of each other, on member 2.
    let frags = c.fragments(2);
    assert_eq!(c.fragment_count(2), 4, "{frags:?}");

    // Proof the rebuild wrote real data: lose another member and read through member 2.
    c.kill(0);
    c.wait_down(&[0], T);
    for (name, d) in [
        ("keep", &keep),
        ("changed", &changed2),
        ("new1", &new1),
        ("new2", &new2),
    ] {
        for i in [1, 2] {
            let (status, got) = c.get(i, name);
            assert_eq!(status, 200, "{name} via {i}");
            assert!(
                got == *d,
                "{name} via member {i} after the rebuild, member 0 down"
            );
        }
    }
}

#[test]
fn a_member_killed_mid_rebuild_resumes_and_completes() {
    let mut c = Cluster::start(3);
    c.kill(1);
    c.wait_down(&[1], T);
    let n = 60;
    for k in 0..n {
        assert_eq!(
            c.put(0, &format!("obj/{k:03}"), &pattern(8 * S, 100 + k)).0,
            201
        );
    }
    c.spawn(1);
    // Slow its links so the kill below surely lands mid-rebuild (faults live in
    // memory: the restarted member runs at full speed).
    c.wait_until("member 1 serving HTTP", T, || c.cluster_doc(1).is_some());
    for peer in [0, 2] {
        ureq::put(&format!("{}/v1/faults/{peer}", c.url(1)))
            .send_string(r#"{"delay_ms": 5}"#)
            .unwrap();
    }
    // Kill it while it rebuilds (several objects done, some left).
    c.wait_until("rebuild under way", T, || {
        c.cluster_doc(0)
            .map(|d| d.members[1].dirty)
            .is_some_and(|left| left > 0 && left + 5 <= n)
    });
    c.kill(1);
    let left_after_kill = c.cluster_doc(0).unwrap().members[1].dirty;
    assert!(left_after_kill > 0 && left_after_kill + 5 <= n);
    c.spawn(1);
    c.wait_member_up(1, Duration::from_secs(60));
    let second_run = c.metric(1, "stripecast_objects_rebuilt_total");
    assert!(
        second_run <= left_after_kill + 1,
        "resumed: rebuilt {second_run}, {left_after_kill} were left"
    );
    assert!(second_run < n, "did not start over");
    c.kill(2);
    c.wait_down(&[2], T);
    for k in [0, n / 2, n - 1] {
        let (status, got) = c.get(1, &format!("obj/{k:03}"));
        assert_eq!(status, 200);
        assert!(got == pattern(8 * S, 100 + k));
    }
}

#[test]
fn two_members_down_on_parity_one_is_a_clear_503_and_service_returns() {
    let mut c = Cluster::start(5);
    let data = pattern(8 * 4 * S, 5);
    assert_eq!(c.put(0, "wide", &data).0, 201);
    c.kill(3);
    c.kill(4);
    c.wait_down(&[3, 4], T);
    let (status, body) = c.get(0, "wide");
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    let msg = String::from_utf8_lossy(&body).to_string();
    assert!(
        msg.contains("3") && msg.contains("4"),
        "the error says what is missing: {msg}"
    );
    let (status, _) = c.put(1, "new", &pattern(S, 6));
    assert_eq!(status, 503, "no write below quorum");
    c.spawn(3);
    c.wait_member_up(3, T);
    // Member 1 coordinates the write below: it must see 3 back first.
    c.wait_seen_up(3, T);
    let (status, got) = c.get(0, "wide");
    assert_eq!(status, 200);
    assert!(got == data);
    assert_eq!(c.put(1, "new", &pattern(S, 6)).0, 201);
}

#[test]
fn flipped_bits_in_a_fragment_are_rebuilt_for_the_reader_and_repaired_on_disk() {
    use stripecast_persistence::FragmentReader;
    let c = Cluster::start(3);
    let data = pattern(6 * 2 * S, 7);
    assert_eq!(c.put(0, "rot", &data).0, 201);
    let path = c.fragments(1).pop().unwrap();
    let layout = FragmentReader::open(&path).unwrap().layout();
    // Two data blocks of member 1 (reads skip parity, so rot there waits for a scrub).
    let data_lbns: Vec<usize> = (0..6u64)
        .filter(|&l| matches!(layout.cell(1, l), stripecast_persistence::Cell::Data(_)))
        .map(|l| l as usize)
        .take(2)
        .collect();
    let mut bytes = std::fs::read(&path).unwrap();
    for off in [
        512 + data_lbns[0] * S + 100,
        512 + data_lbns[0] * S + 101,
        512 + data_lbns[1] * S + 7,
    ] {
        bytes[off] ^= 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    assert!(FragmentReader::open(&path)
        .unwrap()
        .verify_all()
        .unwrap()
        .iter()
        .any(|b| !b.ok()));
    for i in 0..3 {
        let (status, got) = c.get(i, "rot");
        assert_eq!(status, 200);
        assert!(got == data, "correct bytes via {i} despite the rot");
    }
    assert!(c.metric(0, "stripecast_corrupt_blocks_total") >= 1);
    c.wait_until("corrupt blocks repaired on disk", T, || {
        FragmentReader::open(&path)
            .is_ok_and(|r| r.verify_all().is_ok_and(|v| v.iter().all(|b| b.ok())))
    });
    let repairs: u64 = (0..3)
        .map(|i| c.metric(i, "stripecast_block_repairs_total"))
        .sum();
    assert!(repairs >= 2, "both bad blocks rewritten ({repairs})");
}

#[test]
fn a_stopped_member_is_marked_down_and_rejoins_after_sigcont() {
    let c = Cluster::start(3);
    let before = pattern(3 * S, 30);
    assert_eq!(c.put(0, "before", &before).0, 201);
    c.signal(2, Signal::SIGSTOP);
    let t = Instant::now();
    c.wait_down(&[2], T);
    let detected = t.elapsed();
    let during = pattern(5 * S + 9, 31);
    assert_eq!(c.put(1, "during", &during).0, 201);
    assert!(c.get(0, "before").1 == before);
    c.signal(2, Signal::SIGCONT);
    c.wait_until("member 2 current again", T, || {
        (0..3).all(|i| c.states(i).is_some_and(|s| s == [MemberState::Up; 3]))
            && c.cluster_doc(0).is_some_and(|d| d.members[2].dirty == 0)
    });
    assert_eq!(
        c.metric(2, "stripecast_objects_rebuilt_total"),
        1,
        "it rebuilt the one object written while stopped"
    );
    let (status, got) = c.get(2, "during");
    assert_eq!(status, 200);
    assert!(got == during);
    eprintln!("SIGSTOP detected after {detected:?}");
}

#[test]
fn parity_two_on_five_members_survives_two_members_down() {
    let mut c = Cluster::start_with(
        5,
        Opts {
            parity: 2,
            ..Opts::default()
        },
    );
    let a = pattern(9 * 3 * S + 11, 40);
    assert_eq!(c.put(0, "a", &a).0, 201);
    c.kill(1);
    c.kill(3);
    c.wait_down(&[1, 3], T);
    for i in [0, 2, 4] {
        assert!(c.get(i, "a").1 == a, "read via {i} with two down");
    }
    let b = pattern(4 * 3 * S + 5, 41);
    assert_eq!(c.put(2, "b", &b).0, 201, "writes go on with two down");
    for i in [0, 2, 4] {
        assert!(c.get(i, "b").1 == b);
    }
}

#[test]
fn a_member_with_a_wiped_data_dir_rebuilds_everything_it_should_hold() {
    let mut c = Cluster::start(3);
    let objs: Vec<(String, Vec<u8>)> = (0..12)
        .map(|k| (format!("w/{k:02}"), pattern(k * S + 17, 500 + k as u64)))
        .collect();
    for (name, d) in &objs {
        assert_eq!(c.put(0, name, d).0, 201);
    }
    c.kill(1);
    // A replaced disk: everything but the config is gone.
    let dir = c.data_dir(1).to_path_buf();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .is_some_and(|n| n != "config.toml" && n != "member.log")
        {
            if p.is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
    }
    c.wait_down(&[1], T);
    c.spawn(1);
    c.wait_member_up(1, Duration::from_secs(60));
    assert_eq!(
        c.metric(1, "stripecast_objects_rebuilt_total"),
        objs.len() as u64,
        "every object, once"
    );
    assert_eq!(c.fragment_count(1), objs.len());
    c.kill(0);
    c.wait_down(&[0], T);
    for (name, d) in &objs {
        let (status, got) = c.get(1, name);
        assert_eq!(status, 200, "{name}");
        assert!(
            got == *d,
            "{name} read through the rebuilt member with member 0 down"
        );
    }
}

#[test]
fn writes_during_a_rebuild_win_over_the_rebuilt_incarnation() {
    let mut c = Cluster::start(3);
    c.kill(2);
    c.wait_down(&[2], T);
    let n = 60u64;
    for k in 0..n {
        assert_eq!(
            c.put(0, &format!("r/{k:02}"), &pattern(16 * S, 700 + k)).0,
            201
        );
    }
    c.spawn(2);
    c.wait_until("member 2 serving HTTP", T, || c.cluster_doc(2).is_some());
    // Slow member 2's outgoing frames so its rebuild is certainly still running
    // while the writes below land.
    for peer in [0, 1] {
        ureq::put(&format!("{}/v1/faults/{peer}", c.url(2)))
            .send_string(r#"{"delay_ms": 10}"#)
            .unwrap();
    }
    c.wait_until("rebuild under way", T, || {
        c.cluster_doc(0)
            .map(|d| d.members[2].dirty)
            .is_some_and(|left| left < n)
    });
    // Overwrite one object likely rebuilt already, one likely not, and delete one.
    let first = pattern(3 * S + 1, 900);
    let last = pattern(2 * S + 2, 901);
    assert_eq!(c.put(1, "r/00", &first).0, 201);
    assert_eq!(c.put(1, &format!("r/{:02}", n - 1), &last).0, 201);
    assert_eq!(c.delete(0, "r/20"), 204);
    let during = c.cluster_doc(0).unwrap().members[2].state;
    assert_eq!(
        during,
        MemberState::Rebuilding,
        "the writes landed while member 2 was rebuilding"
    );
    c.wait_member_up(2, Duration::from_secs(60));
    c.wait_until("dirty set empty", T, || {
        c.cluster_doc(0).is_some_and(|d| d.members[2].dirty == 0)
    });
    c.kill(0);
    c.wait_down(&[0], T);
    for i in [1, 2] {
        assert!(c.get(i, "r/00").1 == first, "new r/00 via {i}");
        assert!(
            c.get(i, &format!("r/{:02}", n - 1)).1 == last,
            "new last via {i}"
        );
        assert_eq!(c.get(i, "r/20").0, 404);
        assert!(
            c.get(i, "r/10").1 == pattern(16 * S, 710),
            "untouched r/10 via {i}"
        );
    }
    // Member 2 keeps exactly one fragment per live object.
    assert_eq!(c.fragments(2).len(), (n - 1) as usize);
}

#[test]
fn a_scrub_finds_and_repairs_rot_in_parity_blocks_that_reads_never_touch() {
    use stripecast_persistence::{Cell, FragmentReader};
    let c = Cluster::start(3);
    let data = pattern(6 * 2 * S, 77);
    assert_eq!(c.put(0, "p", &data).0, 201);
    let path = c.fragments(2).pop().unwrap();
    let layout = FragmentReader::open(&path).unwrap().layout();
    let parity_lbn = (0..6u64)
        .find(|&l| matches!(layout.cell(2, l), Cell::Parity { .. }))
        .unwrap() as usize;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[512 + parity_lbn * S + 9] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    // Reads skip parity: they succeed and do not notice.
    assert!(c.get(0, "p").1 == data);
    assert!(FragmentReader::open(&path)
        .unwrap()
        .verify_all()
        .unwrap()
        .iter()
        .any(|b| !b.ok()));
    let report = c.scrub(2);
    assert_eq!(report.corrupt, 1, "{report:?}");
    assert_eq!(report.repaired, 1, "{report:?}");
    assert!(FragmentReader::open(&path)
        .unwrap()
        .verify_all()
        .unwrap()
        .iter()
        .all(|b| b.ok()));
    // The repaired parity is the right parity: lose a data member and read through it.
    let mut c = c;
    c.kill(0);
    c.wait_down(&[0], T);
    assert!(c.get(1, "p").1 == data);
    let clean = c.scrub(1);
    assert_eq!(clean.corrupt, 0);
}

/// A fragment whose removal was missed (here: put back after its
/// incarnation was replaced) is removed by the scrub, because the metadata
/// group says it can never be current again; the current one stays.
#[test]
fn a_scrub_removes_a_replaced_fragment_the_group_will_never_make_current() {
    let c = Cluster::start(3);
    let old = pattern(2 * S + 7, 60);
    let new = pattern(2 * S + 7, 61);
    assert_eq!(c.put(0, "g", &old).0, 201);
    c.wait_until("member 1 holds its fragment", T, || {
        c.fragments(1).len() == 1
    });
    let path = c.fragments(1)[0].clone();
    let saved = std::fs::read(&path).unwrap();
    assert_eq!(c.put(0, "g", &new).0, 201);
    c.wait_until("the replaced fragment unlinked", T, || {
        c.fragments(1).len() == 1 && c.fragments(1)[0] != path
    });
    std::fs::write(&path, &saved).unwrap();
    assert_eq!(c.fragments(1).len(), 2);
    let report = c.scrub(1);
    assert_eq!(report.stale_removed, 1, "{report:?}");
    assert_eq!(report.corrupt, 0, "{report:?}");
    assert!(!path.exists());
    assert_eq!(c.fragments(1).len(), 1);
    for i in 0..3 {
        assert!(c.get(i, "g").1 == new, "GET via {i}");
    }
}

/// Bytes of temporary (being written) fragment files under member `i`'s
/// fragment directory.
fn upload_bytes(c: &Cluster, i: usize) -> u64 {
    let root = c.data_dir(i).join("fragments");
    let Ok(shards) = std::fs::read_dir(&root) else {
        return 0;
    };
    shards
        .flatten()
        .filter_map(|s| std::fs::read_dir(s.path()).ok())
        .flat_map(|files| files.flatten())
        .filter(|f| f.file_name().to_string_lossy().ends_with(".tmp"))
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// A member SIGKILLed in the middle of a 200 MB PUT: the PUT goes on with
/// the others and is acknowledged, the bytes read back exactly, and the
/// member, once back, rebuilds that object from its dirty set.
#[test]
fn a_put_survives_a_member_killed_in_the_middle_of_it() {
    let mut c = Cluster::start(3);
    let data = std::sync::Arc::new(pattern(200 << 20, 77));
    let url = format!("{}/v1/objects/big/movie.ts", c.url(0));
    let body = data.clone();
    let put = std::thread::spawn(move || {
        common::status_body(
            ureq::put(&url)
                .timeout(Duration::from_secs(300))
                .send_bytes(&body),
        )
    });
    // Killed once its fragment is partly written (10 MB of 100).
    c.wait_until("member 2 writing its fragment", T, || {
        upload_bytes(&c, 2) > 10 << 20
    });
    c.kill(2);
    let (status, text) = put.join().unwrap();
    assert_eq!(status, 201, "the PUT after member 2 died: {text}");
    let (status, got) = c.get(1, "big/movie.ts");
    assert_eq!(status, 200);
    assert!(got == *data, "bytes read back after the PUT");
    // Back, member 2 rebuilds the object; then member 1 goes, so reads need it.
    c.spawn(2);
    c.wait_until(
        "member 2 rebuilt what it missed",
        Duration::from_secs(120),
        || {
            c.cluster_doc(2)
                .is_some_and(|d| d.members[2].state == MemberState::Up && d.members[2].dirty == 0)
        },
    );
    c.kill(1);
    c.wait_down(&[1], T);
    let (status, got) = c.get(0, "big/movie.ts");
    assert_eq!(status, 200);
    assert!(got == *data, "read with member 2's rebuilt fragment");
}

/// A cluster of `n` whose members `(i, MiB)` have small real disks (tmpfs);
/// `None`, saying the test is skipped, where mounts are not allowed.
fn with_small_disks(n: usize, disks: &[(usize, u64)]) -> Option<Cluster> {
    if !common::can_mount_tmpfs() {
        eprintln!(
            "skipped: this process cannot mount a tmpfs (needs root where mounts are allowed)"
        );
        return None;
    }
    Some(Cluster::start_with(
        n,
        Opts {
            small_disk_mib: disks.to_vec(),
            ..Opts::default()
        },
    ))
}

/// A member whose disk is full (a real one: a small tmpfs) is left out of
/// the writes it cannot store: each PUT is acknowledged with that member in
/// `missed_by` and its dirty set, the bytes read back exactly from the
/// others, and no answer shows a filesystem path. (A PUT coordinated by the
/// full member itself is sometimes cut off before its answer once its own
/// metadata cannot grow: not covered here, see the issue note.)
#[test]
fn a_full_disk_on_one_member_leaves_it_out_and_loses_nothing() {
    let Some(c) = with_small_disks(3, &[(2, 24)]) else {
        return;
    };
    let mut stored = Vec::new();
    let mut left_out = 0;
    for i in 0..16u64 {
        let name = format!("full/{i}");
        let data = pattern(4_000_000, i);
        let coordinator = if i % 4 == 3 { 1 } else { 0 };
        let (status, body) = c.put(coordinator, &name, &data);
        assert_eq!(status, 201, "PUT {name} via {coordinator}: {body}");
        assert!(!body.contains("/tmp"), "{body}");
        if body.contains("\"missed_by\":[2]") {
            left_out += 1;
        }
        stored.push((name, data));
    }
    assert!(
        left_out >= 3,
        "member 2's disk never filled ({left_out} PUTs left it out)"
    );
    for (name, data) in &stored {
        let (status, got) = c.get(1, name);
        assert_eq!(status, 200, "{name}");
        assert!(got == *data, "{name}: wrong bytes");
    }
    let doc = c.cluster_doc(0).expect("cluster doc");
    let dirty = doc
        .members
        .iter()
        .find(|m| m.id == stripecast_config::MemberId::new(2))
        .map(|m| m.dirty);
    assert!(
        dirty.is_some_and(|d| d >= left_out as u64),
        "dirty {dirty:?}, left out of {left_out}"
    );
    // Reads through the full member still serve right bytes.
    let (name, data) = &stored[stored.len() - 1];
    assert!(c.get(2, name).1 == *data);
}

/// When full disks leave too few members to take a write, the PUT is
/// refused with 507 (not 503: retrying will not help until someone makes
/// room), nothing is stored under its name, no answer shows a path, and
/// every object acknowledged before reads back exactly.
#[test]
fn a_write_quorum_lost_to_full_disks_is_507() {
    let Some(c) = with_small_disks(5, &[(3, 12), (4, 12)]) else {
        return;
    };
    let mut stored = Vec::new();
    let mut refused = None;
    for i in 0..40u64 {
        let name = format!("quorum/{i}");
        let data = pattern(4_000_000, i);
        let (status, body) = c.put(0, &name, &data);
        assert!(!body.contains("/tmp"), "{body}");
        match status {
            201 => stored.push((name, data)),
            507 => {
                refused = Some((name, body));
                break;
            }
            other => panic!("PUT {name}: {other} {body}"),
        }
    }
    let (name, body) = refused.expect("the two small disks never filled");
    assert!(body.contains("full"), "{body}");
    assert_eq!(c.get(1, &name).0, 404, "nothing stored under {name}");
    assert!(
        stored.len() >= 3,
        "only {} objects before the disks filled",
        stored.len()
    );
    for (name, data) in &stored {
        let (status, got) = c.get(1, name);
        assert_eq!(status, 200, "{name}");
        assert!(got == *data, "{name}: wrong bytes");
    }
}
