//! Striped writes and streaming reads through real member processes.

mod common;

use common::{pattern, Cluster, Opts};
use stripecast_actors::gateway::docs::ObjectEntry;

const S: usize = 65536;

fn lengths(k: usize) -> Vec<usize> {
    vec![0, 1, S - 1, S, S + 1, 2 * k * S, 3 * k * S + 12_345]
}

fn round_trips(c: &Cluster, k: usize, tag: &str) {
    for (seed, len) in lengths(k).into_iter().enumerate() {
        let name = format!("{tag}/obj-{len}");
        let data = pattern(len, seed as u64 + 1);
        let (status, body) = c.put(0, &name, &data);
        assert_eq!(status, 201, "PUT {name}: {body}");
        for i in 0..c.n() {
            let (status, got) = c.get(i, &name);
            assert_eq!(status, 200, "GET {name} via member {i}");
            assert_eq!(got.len(), data.len(), "length of {name} via member {i}");
            assert!(got == data, "bytes of {name} via member {i} differ");
        }
    }
}

#[test]
fn round_trips_on_three_members() {
    let c = Cluster::start(3);
    round_trips(&c, 2, "three");
}

#[test]
fn round_trips_on_five_members() {
    let c = Cluster::start(5);
    round_trips(&c, 4, "five");
}

#[test]
fn round_trips_on_the_two_member_mirror_and_reads_alternate() {
    let c = Cluster::start(2);
    round_trips(&c, 1, "mirror");
    // Reads through member 0 were served from both copies.
    let m = ureq::get(&format!("{}/metrics", c.url(0)))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let from = |i: u32| -> u64 {
        m.lines()
            .find(|l| {
                l.starts_with("stripecast_blocks_read_total")
                    && l.contains(&format!("from=\"{i}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        from(0) > 0 && from(1) > 0,
        "reads alternate between the copies:\n{m}"
    );
}

#[test]
fn a_64_mib_object_round_trips_through_every_member() {
    let c = Cluster::start(3);
    let data = pattern(64 << 20, 42);
    let (status, body) = c.put(1, "big/64MiB", &data);
    assert_eq!(status, 201, "{body}");
    for i in 0..3 {
        let (status, got) = c.get(i, "big/64MiB");
        assert_eq!(status, 200);
        assert!(got == data, "64 MiB object via member {i} differs");
    }
}

#[test]
fn range_reads_match_the_original_bytes() {
    let c = Cluster::start(3);
    let len = 5 * S + 777;
    let data = pattern(len, 9);
    assert_eq!(c.put(0, "ranges", &data).0, 201);
    let cases: Vec<(String, usize, usize)> = vec![
        ("bytes=0-0".into(), 0, 1),
        ("bytes=0-99".into(), 0, 100),
        ("bytes=100-70000".into(), 100, 70001),
        (format!("bytes={}-{}", S - 10, S + 10), S - 10, S + 11),
        (format!("bytes={}-", len - 1000), len - 1000, len),
        ("bytes=-5000".into(), len - 5000, len),
        (format!("bytes=-{}", len + 10), 0, len),
        (format!("bytes=3-{}", len + 500), 3, len),
        (format!("bytes={}-{}", 2 * S, 4 * S - 1), 2 * S, 4 * S),
    ];
    for i in 0..3 {
        for (range, start, end) in &cases {
            let (status, got) = c.get_with(i, "ranges", Some(range));
            assert_eq!(status, 206, "{range} via {i}");
            assert!(
                got == data[*start..*end],
                "{range} via member {i}: wrong bytes"
            );
        }
    }
    let (status, _) = c.get_with(0, "ranges", Some(&format!("bytes={len}-")));
    assert_eq!(status, 416);
    // Several ranges: served whole (allowed by RFC 9110).
    let (status, got) = c.get_with(0, "ranges", Some("bytes=0-1,5-6"));
    assert_eq!((status, got.len()), (200, len));
}

#[test]
fn fragments_on_disk_have_one_per_member_valid_headers_and_xor_parity() {
    use stripecast_persistence::{Cell, FragmentReader};
    let c = Cluster::start(3);
    let data = pattern(4 * 2 * S + 1000, 5);
    assert_eq!(c.put(2, "disk/check", &data).0, 201);
    assert_eq!(c.put(2, "disk/other", &pattern(10, 6)).0, 201);
    let mut readers = Vec::new();
    for i in 0..3 {
        // The object of one row is packed; the other is a file.
        let frags = c.fragments(i);
        assert_eq!(
            (frags.len(), c.metric(i, "stripecast_packed_fragments")),
            (1, 1),
            "member {i} holds one fragment per object: {frags:?}"
        );
        let f = frags
            .iter()
            .map(|p| FragmentReader::open(p).expect("header decodes"))
            .find(|r| r.object_name() == "disk/check")
            .expect("fragment of disk/check");
        assert_eq!(f.header().fragment_index as usize, i);
        assert_eq!(f.header().fragment_count, 3);
        assert_eq!(f.header().object_len, data.len() as u64);
        readers.push(f);
    }
    let layout = readers[0].layout();
    let rows = readers[0].block_count();
    assert_eq!(rows, 5);
    for row in 0..rows {
        let blocks: Vec<Vec<u8>> = readers.iter().map(|r| r.read_block(row).unwrap()).collect();
        let mut xor = vec![0u8; S];
        for (m, b) in blocks.iter().enumerate() {
            match layout.cell(m, row) {
                Cell::Data(bn) => {
                    let start = bn as usize * S;
                    let end = (start + S).min(data.len());
                    let mut want = if start < data.len() {
                        data[start..end].to_vec()
                    } else {
                        vec![]
                    };
                    want.resize(S, 0);
                    assert!(*b == want, "data block {bn} on member {m}");
                }
                Cell::Parity { .. } => {}
            }
            for (x, y) in xor.iter_mut().zip(b) {
                *x ^= y;
            }
        }
        assert!(
            xor.iter().all(|&x| x == 0),
            "row {row}: parity is the XOR of the data blocks"
        );
    }
}

#[test]
fn overwrites_and_concurrent_puts_never_mix_bytes() {
    let c = Cluster::start(3);
    let a = pattern(3 * S + 11, 100);
    let b = pattern(5 * S + 7, 200);
    assert_eq!(c.put(0, "mix", &a).0, 201);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut seen_b = false;
            for i in 0..40 {
                let (status, got) = c.get(i % 3, "mix");
                assert_eq!(status, 200);
                if got == b {
                    seen_b = true;
                } else {
                    assert!(got == a, "read {i}: neither the old nor the new object");
                }
            }
            seen_b
        });
        for _ in 0..4 {
            assert_eq!(c.put(1, "mix", &b).0, 201);
            assert_eq!(c.put(2, "mix", &a).0, 201);
        }
        assert_eq!(c.put(1, "mix", &b).0, 201);
        let _ = reader.join().unwrap();
    });
    let (_, got) = c.get(0, "mix");
    assert!(got == b);

    // Two PUTs of one name at once, through different members: one winner, whole, everywhere.
    for round in 0..4 {
        // Both of two rows (fragment files): a one-row object would be
        // packed, and this counts files.
        let x = pattern(2 * S + 1 + round, 300 + round as u64);
        let y = pattern(3 * S + round, 400 + round as u64);
        std::thread::scope(|s| {
            let t1 = s.spawn(|| c.put(0, "race", &x).0);
            let t2 = s.spawn(|| c.put(2, "race", &y).0);
            assert_eq!(t1.join().unwrap(), 201);
            assert_eq!(t2.join().unwrap(), 201);
        });
        let views: Vec<Vec<u8>> = (0..3).map(|i| c.get(i, "race").1).collect();
        assert!(views[0] == x || views[0] == y, "round {round}: mixed bytes");
        assert!(
            views.iter().all(|v| *v == views[0]),
            "round {round}: members disagree on the winner"
        );
        // A member the loaded machine left out of the winning PUT (it
        // answered late) is in the object's dirty set and rebuilds it:
        // count once nothing is left to rebuild. A fragment lost any other
        // way stays lost, and fails the count.
        c.wait_until(
            "no member left with objects to rebuild",
            std::time::Duration::from_secs(30),
            || {
                (0..3).all(|i| {
                    c.cluster_doc(i)
                        .is_some_and(|d| d.members.iter().all(|m| m.dirty == 0))
                })
            },
        );
        for i in 0..3 {
            let frags: Vec<_> = c
                .fragments(i)
                .into_iter()
                .filter(|p| p.to_string_lossy().contains("race"))
                .collect();
            assert_eq!(
                frags.len(),
                1,
                "member {i} keeps only the winner's fragment: {frags:?}"
            );
        }
    }
}

#[test]
fn delete_head_and_list() {
    let c = Cluster::start(3);
    let data = pattern(S + 5, 1);
    assert_eq!(c.put(0, "dir/a", &data).0, 201);
    assert_eq!(c.put(0, "dir/b", b"hello").0, 201);
    let list: Vec<ObjectEntry> = ureq::get(&format!("{}/v1/objects", c.url(1)))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let names: Vec<&str> = list.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, vec!["dir/a", "dir/b"]);
    assert_eq!(list[0].length, (S + 5) as u64);
    let head = ureq::head(&format!("{}/v1/objects/dir/a", c.url(2)))
        .call()
        .unwrap();
    assert_eq!(head.header("content-length"), Some(&*(S + 5).to_string()));
    assert_eq!(c.cluster_doc(0).unwrap().objects, 2);
    assert_eq!(c.delete(1, "dir/a"), 204);
    // Every member applies the delete from the metadata log, each at its pace.
    c.wait_until(
        "every member applied the delete",
        std::time::Duration::from_secs(10),
        || (0..3).all(|i| c.cluster_doc(i).is_some_and(|d| d.objects == 1)),
    );
    for i in 0..3 {
        assert_eq!(c.get(i, "dir/a").0, 404);
        assert!(
            c.fragments(i)
                .iter()
                .all(|p| !p.to_string_lossy().contains("dir_a")
                    && !p.to_string_lossy().contains("dir-a")),
            "{:?}",
            c.fragments(i)
        );
        // Objects of one row are packed: one of them is left.
        assert_eq!(c.fragment_count(i), 1);
    }
    assert_eq!(c.delete(1, "dir/a"), 404);
}

#[test]
fn parity_two_on_five_members_round_trips() {
    let c = Cluster::start_with(
        5,
        Opts {
            parity: 2,
            ..Opts::default()
        },
    );
    round_trips(&c, 3, "rs");
}

/// A GET stream reserves its read-ahead from the member's budget while it
/// lives (`stripecast_read_ahead_bytes`) and gives it back when the client
/// goes away mid-body; a one-row object reserves nothing.
#[test]
fn a_streams_read_ahead_is_reserved_while_it_lives() {
    use std::io::Read;
    let c = Cluster::start(3);
    let data = pattern(64 * S, 5);
    assert_eq!(c.put(0, "ahead/big", &data).0, 201);
    assert_eq!(c.put(0, "ahead/small", &pattern(S, 6)).0, 201);
    let reserved = || c.metric(1, "stripecast_read_ahead_bytes");
    assert_eq!(reserved(), 0);
    let resp = ureq::get(&format!("{}/v1/objects/ahead/big", c.url(1)))
        .call()
        .unwrap();
    let mut body = resp.into_reader();
    let mut head = vec![0u8; S];
    body.read_exact(&mut head).unwrap();
    assert!(head == data[..S]);
    assert!(reserved() > 0, "an open stream holds its read-ahead");
    drop(body);
    c.wait_until(
        "the read-ahead given back",
        std::time::Duration::from_secs(10),
        || reserved() == 0,
    );
    assert_eq!(c.get(1, "ahead/small").0, 200);
    assert_eq!(c.get(1, "ahead/big"), (200, data));
    assert_eq!(reserved(), 0, "finished streams hold nothing");
}
