//! Per-operation cost does not grow with the objects stored: a member finds
//! a fragment by computing its path (a file) or its key (packed), never by
//! listing a directory, and its fragment directory fans out into 256 shards.
//! Most objects here are of one row (packed); every tenth spans two rows
//! (a fragment file).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{pattern, Cluster};

const OBJECTS: usize = 20_000;
const THREADS: usize = 8;
const SCANS: &str = "stripecast_fragment_dir_scans_total";
const PACKED: &str = "stripecast_packed_fragments";

/// Every tenth object spans two rows of 3 members at a 64 KiB stripe.
fn object_len(k: usize) -> usize {
    if k % 10 == 0 {
        140_000 + k % 1000
    } else {
        1000 + k % 3000
    }
}

#[test]
fn twenty_thousand_small_objects_and_no_directory_listing_on_the_data_path() {
    let c = Arc::new(Cluster::start(3));
    let before: Vec<u64> = (0..3).map(|i| c.metric(i, SCANS)).collect();
    // Opening the store walks the shards once (stale temporary files).
    assert!(before.iter().all(|&n| n >= 256), "{SCANS}: {before:?}");
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (c, next) = (c.clone(), next.clone());
            std::thread::spawn(move || loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= OBJECTS {
                    return;
                }
                let body = pattern(object_len(k), k as u64);
                let (status, text) = c.put(k % 3, &format!("small/{k:05}"), &body);
                if status != 201 {
                    let logs: Vec<String> = (0..3)
                        .map(|i| format!("member {i}:\n{}", common::tail(&c.log(i), 25)))
                        .collect();
                    panic!("PUT small/{k:05}: {status} {text}\n{}", logs.join("\n"));
                }
                // Every 20th object read back at once, through another member.
                if k % 20 == 0 {
                    let (status, got) = c.get((k + 1) % 3, &format!("small/{k:05}"));
                    assert_eq!(status, 200, "GET small/{k:05}");
                    assert!(got == body, "small/{k:05}: wrong bytes");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a client thread failed");
    }
    // Overwrites, deletes and reads of the oldest objects, now that 20,000 are stored.
    for k in 0..200 {
        let name = format!("small/{k:05}");
        match k % 3 {
            0 => assert_eq!(c.put(k % 3, &name, &pattern(500, 7 + k as u64)).0, 201),
            1 => assert_eq!(c.delete(k % 3, &name), 204),
            _ => {
                let (status, got) = c.get(k % 3, &name);
                assert_eq!(status, 200);
                assert!(got == pattern(object_len(k), k as u64));
            }
        }
    }
    let after: Vec<u64> = (0..3).map(|i| c.metric(i, SCANS)).collect();
    assert_eq!(
        before, after,
        "fragment directories listed by PUT, GET or DELETE"
    );
    // No shard holds much more than its share.
    let root = c.data_dir(0).join("fragments");
    let mut largest = 0;
    let mut total = 0;
    for shard in std::fs::read_dir(&root).unwrap() {
        let shard = shard.unwrap().path();
        let n = std::fs::read_dir(&shard).unwrap().count();
        largest = largest.max(n);
        total += n;
    }
    let files = OBJECTS / 10;
    assert!(
        total >= files - 20 && total <= files,
        "{total} fragment files on member 0"
    );
    let packed = c.metric(0, PACKED) as usize;
    assert!(
        packed >= OBJECTS - files - 200 && packed <= OBJECTS - files,
        "{packed} packed fragments on member 0"
    );
    assert!(
        largest < 3 * files / 256,
        "a shard holds {largest} of {total} fragment files"
    );
}
