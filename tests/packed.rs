//! Objects of one row are stored packed (segment files under `packed/`,
//! the fragment's exact bytes): written in one request per member, made
//! durable by shared flushes, verified on every read, repaired by the
//! scrub like fragment files.

mod common;

use std::sync::Arc;

use common::{pattern, Cluster};

const S: usize = 65536;

/// Offset of the packed image of `name` in member `i`'s segments: the
/// header's FIG. 6D name field (byte 20) holds a short name.
fn find_image(c: &Cluster, i: usize, name: &str) -> (std::path::PathBuf, usize) {
    let dir = c.data_dir(i).join("packed");
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "pack") {
            let bytes = std::fs::read(&p).unwrap();
            let needle = name.as_bytes();
            if let Some(pos) = bytes.windows(needle.len()).position(|w| w == needle) {
                return (p, pos - 20);
            }
        }
    }
    panic!("no packed image of {name} on member {i}");
}

#[test]
fn concurrent_small_puts_share_flushes_and_read_back() {
    let c = Arc::new(Cluster::start(3));
    let workers: Vec<_> = (0..16)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for k in 0..25 {
                    let name = format!("gc/{t:02}/{k:02}");
                    let body = pattern(1000 + 97 * k, (t * 100 + k) as u64);
                    assert_eq!(c.put((t + k) % 3, &name, &body).0, 201, "{name}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    for t in 0..16 {
        for k in [0, 24] {
            let name = format!("gc/{t:02}/{k:02}");
            let (status, got) = c.get(t % 3, &name);
            assert_eq!(status, 200);
            assert!(
                got == pattern(1000 + 97 * k, (t * 100 + k) as u64),
                "{name}"
            );
        }
    }
    for i in 0..3 {
        let flushes = c.metric(i, "stripecast_group_commit_flushes_total");
        let fragments = c.metric(i, "stripecast_group_commit_fragments_total");
        assert_eq!(fragments, 400, "member {i} stored every fragment packed");
        assert_eq!(c.metric(i, "stripecast_packed_fragments"), 400);
        assert!(
            flushes < fragments,
            "member {i}: {fragments} fragments took {flushes} flushes"
        );
    }
    // Nothing went into fragment files.
    assert!((0..3).all(|i| c.fragments(i).is_empty()));
}

#[test]
fn rot_in_a_packed_fragment_is_never_served_and_the_scrub_repairs_it() {
    let c = Cluster::start(3);
    let data = pattern(2 * S, 11);
    assert_eq!(c.put(0, "rotp/one-row", &data).0, 201);
    let (seg, start) = find_image(&c, 1, "rotp/one-row");
    let mut bytes = std::fs::read(&seg).unwrap();
    for off in [start + 512 + 100, start + 512 + 101, start + 512 + S - 1] {
        bytes[off] ^= 0x5a;
    }
    std::fs::write(&seg, &bytes).unwrap();
    for i in 0..3 {
        let (status, got) = c.get(i, "rotp/one-row");
        assert_eq!(status, 200);
        assert!(got == data, "correct bytes via {i} despite the rot");
    }
    // A reader that met the rot repaired it at once (a data block); else
    // (parity, which reads skip) the scrub finds and repairs it.
    let report = c.scrub(1);
    assert_eq!(report.repaired, report.corrupt, "{report:?}");
    let by_readers: u64 = (0..3)
        .map(|i| c.metric(i, "stripecast_block_repairs_total"))
        .sum();
    let by_scrub = report.repaired;
    assert!(
        by_readers + by_scrub >= 1,
        "the rot was repaired ({report:?})"
    );
    let again = c.scrub(1);
    assert_eq!(again.corrupt, 0, "{again:?}");
    // Still exact with member 0 gone (member 1's block is needed now).
    let mut c = c;
    c.kill(0);
    c.wait_until(
        "member 0 seen down",
        std::time::Duration::from_secs(10),
        || c.get(2, "rotp/one-row").0 == 200,
    );
    let (status, got) = c.get(1, "rotp/one-row");
    assert_eq!(status, 200);
    assert!(got == data);
}

/// A one-row object is read whole at open with one request per data member
/// and nothing pinned; a larger object pins its fragments. A one-row object
/// overwritten while it is read gives either version's bytes, never a mix.
#[test]
fn one_row_gets_pin_nothing_and_never_mix_versions() {
    let c = Arc::new(Cluster::start(3));
    let pins = |c: &Cluster| -> u64 {
        (0..3)
            .map(|i| c.metric(i, "stripecast_read_pins_total"))
            .sum()
    };
    let small = pattern(2 * S - 7, 1);
    assert_eq!(c.put(0, "pin/small", &small).0, 201);
    for i in 0..3 {
        assert_eq!(c.get(i, "pin/small"), (200, small.clone()));
    }
    assert_eq!(pins(&c), 0, "a one-row GET pinned fragments");
    let large = pattern(2 * S + 1, 2);
    assert_eq!(c.put(0, "pin/large", &large).0, 201);
    assert_eq!(c.get(1, "pin/large"), (200, large.clone()));
    assert_eq!(pins(&c), 3, "a two-row GET pins one fragment per member");

    let a = pattern(S + 3, 10);
    let b = pattern(2 * S - 100, 11);
    assert_eq!(c.put(0, "pin/race", &a).0, 201);
    let writer = {
        let c = c.clone();
        let (a, b) = (a.clone(), b.clone());
        std::thread::spawn(move || {
            for n in 0..40 {
                let body = if n % 2 == 0 { &b } else { &a };
                assert_eq!(c.put(n % 3, "pin/race", body).0, 201);
            }
        })
    };
    let readers: Vec<_> = (0..4)
        .map(|t| {
            let c = c.clone();
            let (a, b) = (a.clone(), b.clone());
            std::thread::spawn(move || {
                let mut ok = 0;
                for n in 0..40 {
                    let (status, got) = c.get((t + n) % 3, "pin/race");
                    if status == 200 {
                        assert!(
                            got == a || got == b,
                            "a GET mixed versions ({} bytes)",
                            got.len()
                        );
                        ok += 1;
                    } else {
                        assert_eq!(status, 503, "{}", String::from_utf8_lossy(&got));
                    }
                }
                ok
            })
        })
        .collect();
    writer.join().unwrap();
    let ok: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(
        ok >= 150,
        "only {ok} of 160 GETs answered during overwrites"
    );
}
