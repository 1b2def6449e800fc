//! A catalog change acknowledged as durable (`Ok` returned) survives SIGKILL of
//! the process that made it, and an atomic batch is seen whole or not at all.
//!
//! The test binary re-runs itself as the child: with `STRIPECAST_KILL_CHILD_DIR`
//! set, the same test function writes records to the catalog in that directory,
//! printing `ACKED <i>` after each acknowledged one, and never stops; the parent
//! reads some acknowledgements, kills the child mid-stream and reopens the catalog.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use stripecast_persistence::{Batch, Catalog, HomeBlock, ObjectRecord, VolumeIncarnation};

const CHILD_ENV: &str = "STRIPECAST_KILL_CHILD_DIR";
const TEST_NAME: &str = "acknowledged_changes_survive_sigkill";

fn rec(i: u64) -> ObjectRecord {
    ObjectRecord {
        name: format!("obj/{i:06}"),
        length: i * 1000,
        incarnation: stripecast_persistence::Incarnation::new(1),
        fragment_count: 4,
        parity: 1,
        stripe_size: 65536,
        layout_version: stripecast_persistence::layout::LAYOUT_VERSION,
        checksum: i as u32,
        creation_time_ns: i,
    }
}

fn child(dir: &str) -> ! {
    let c = Catalog::open(dir).expect("child: open catalog");
    c.put_homeblock(&HomeBlock::new(
        1,
        4,
        0,
        VolumeIncarnation::new(7),
        0,
        "vol",
    ))
    .expect("child: homeblock");
    println!("ACKED homeblock");
    for i in 0.. {
        // Object record + dirty mark for member 3 + journal entry: one atomic, durable batch.
        let mut b = Batch::new();
        b.put_object(rec(i))
            .mark_dirty(3, rec(i).name)
            .journal_append(i.to_le_bytes().to_vec());
        c.apply(&b).expect("child: apply");
        println!("ACKED {i}");
    }
    unreachable!()
}

#[test]
fn acknowledged_changes_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = proc.stdout.take().unwrap();
    let mut acked = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ACKED ") {
            if let Ok(i) = n.parse::<u64>() {
                acked = Some(i);
                if i >= 40 {
                    break;
                }
            }
        }
    }
    // SIGKILL while the child is still writing.
    proc.kill().unwrap();
    proc.wait().unwrap();
    let acked = acked.expect("child acknowledged nothing");

    let c = Catalog::open(dir.path()).unwrap();
    assert_eq!(
        c.homeblock().unwrap().unwrap().incarnation,
        VolumeIncarnation::new(7)
    );
    for i in 0..=acked {
        assert_eq!(
            c.get_object(&rec(i).name).unwrap(),
            Some(rec(i)),
            "acknowledged record {i} lost"
        );
    }
    // Atomicity: whatever got in (acknowledged or not), each batch is whole.
    let objects = c.list_objects().unwrap();
    let dirty = c.dirty(3).unwrap();
    let journal = c.journal_since(0).unwrap();
    assert!(objects.len() as u64 > acked);
    assert_eq!(
        objects.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        dirty
    );
    assert_eq!(journal.len(), objects.len());
    for (seq, entry) in journal {
        assert_eq!(entry, seq.to_le_bytes().to_vec());
    }
}
