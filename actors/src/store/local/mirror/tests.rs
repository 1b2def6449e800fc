use std::collections::{BTreeMap, BTreeSet};
use stripecast_persistence::Incarnation;

use stripecast_config::MemberId;
use stripecast_persistence::{FragmentSpec, FragmentWriter, HomeBlock, Layout, ObjectRecord};

use super::*;

/// A log entry of term 1.
fn at(index: u64) -> MirrorMark {
    MirrorMark { index, term: 1 }
}

const MEMBERS: u8 = 3;

fn record(name: &str, incarnation: Incarnation) -> ObjectRecord {
    ObjectRecord {
        name: name.into(),
        length: 10,
        incarnation,
        fragment_count: MEMBERS,
        parity: 1,
        stripe_size: 4096,
        layout_version: stripecast_persistence::layout::LAYOUT_VERSION,
        checksum: 0,
        creation_time_ns: 0,
    }
}

/// Writes this member's (member 0) fragment of (name, incarnation).
fn fragment(store: &LocalStore, name: &str, incarnation: Incarnation) {
    let spec = FragmentSpec {
        name: name.into(),
        incarnation,
        creation_time_ns: 0,
        stripe_size: 4096,
        layout: Layout::new(usize::from(MEMBERS), 1).unwrap(),
        fragment_index: 0,
    };
    let mut w = FragmentWriter::create(store.fragment_dir(), spec).unwrap();
    w.append_block(&[incarnation.get() as u8; 4096]).unwrap();
    w.finish(10).unwrap();
}

fn has_fragment(store: &LocalStore, name: &str, incarnation: Incarnation) -> bool {
    store
        .fragment_path(name, incarnation, MEMBERS)
        .try_exists()
        .unwrap()
}

fn open() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path(), MemberId::new(0), 256).unwrap();
    store
        .set_homeblock(HomeBlock::new(
            7,
            MEMBERS,
            0,
            stripecast_persistence::VolumeIncarnation::new(1),
            0,
            "t",
        ))
        .unwrap();
    (dir, store)
}

const CLEAN: VolumeMirror = VolumeMirror {
    incarnation: stripecast_persistence::VolumeIncarnation::new(1),
    dirty: false,
};

fn put(name: &str, inc: Incarnation, replaced: Option<u32>) -> MirrorChange {
    let replaced = replaced.map(Incarnation::new);
    MirrorChange::Put {
        record: record(name, inc),
        replaced,
    }
}

#[test]
fn only_the_replaced_incarnation_is_unlinked() {
    let (_d, store) = open();
    for inc in [5, 9, 12] {
        fragment(&store, "a", Incarnation::new(inc));
    }
    store
        .mirror(
            &[put("a", Incarnation::new(9), None)],
            CLEAN,
            MEMBERS,
            at(1),
        )
        .unwrap();
    // 5 belongs to a PUT whose commit may still come: it stays.
    store
        .mirror(
            &[put("a", Incarnation::new(12), Some(9))],
            CLEAN,
            MEMBERS,
            at(2),
        )
        .unwrap();
    assert!(has_fragment(&store, "a", Incarnation::new(5)));
    assert!(!has_fragment(&store, "a", Incarnation::new(9)));
    assert!(has_fragment(&store, "a", Incarnation::new(12)));
    assert_eq!(
        store.record("a").unwrap().unwrap().incarnation,
        Incarnation::new(12)
    );
    // A later commit of the smaller incarnation wins by log order.
    store
        .mirror(
            &[put("a", Incarnation::new(5), Some(12))],
            CLEAN,
            MEMBERS,
            at(3),
        )
        .unwrap();
    assert_eq!(
        store.record("a").unwrap().unwrap().incarnation,
        Incarnation::new(5)
    );
    assert!(has_fragment(&store, "a", Incarnation::new(5)));
    assert!(!has_fragment(&store, "a", Incarnation::new(12)));
    assert_eq!(store.object_count(), 1);
}

#[test]
fn replaying_a_batch_changes_nothing() {
    let (_d, store) = open();
    fragment(&store, "a", Incarnation::new(3));
    fragment(&store, "b", Incarnation::new(4));
    let batch = vec![
        put("a", Incarnation::new(3), None),
        put("b", Incarnation::new(4), None),
        MirrorChange::Mark {
            member: MemberId::new(2),
            name: "a".into(),
        },
        // A retried commit of the current record: replaced is itself.
        put("a", Incarnation::new(3), Some(3)),
        MirrorChange::Remove {
            name: "b".into(),
            removed: Incarnation::new(4),
        },
    ];
    let dirty = VolumeMirror {
        incarnation: stripecast_persistence::VolumeIncarnation::new(2),
        dirty: true,
    };
    store.mirror(&batch, dirty, MEMBERS, at(4)).unwrap();
    store.mirror(&batch, dirty, MEMBERS, at(5)).unwrap();
    assert_eq!(store.object_count(), 1);
    assert!(has_fragment(&store, "a", Incarnation::new(3)));
    assert!(!has_fragment(&store, "b", Incarnation::new(4)));
    assert!(store.record("b").unwrap().is_none());
    assert_eq!(store.marks_for(3), vec![MemberId::new(2)]);
    let hb = store.homeblock().unwrap();
    assert_eq!(
        hb.incarnation,
        stripecast_persistence::VolumeIncarnation::new(2)
    );
    assert!(hb.is_dirty());
    store
        .mirror(
            &[MirrorChange::Clear {
                member: MemberId::new(2),
                name: "a".into(),
            }],
            VolumeMirror {
                incarnation: stripecast_persistence::VolumeIncarnation::new(1),
                dirty: false,
            },
            MEMBERS,
            at(20),
        )
        .unwrap();
    assert!(store.marks_for(3).is_empty());
    // The incarnation never goes back.
    assert_eq!(
        store.homeblock().unwrap().incarnation,
        stripecast_persistence::VolumeIncarnation::new(2)
    );
    assert!(!store.homeblock().unwrap().is_dirty());
}

#[test]
fn reconcile_makes_the_catalog_equal_to_the_snapshot() {
    let (_d, store) = open();
    for (n, inc) in [("a", 1), ("b", 2), ("c", 3)] {
        fragment(&store, n, Incarnation::new(inc));
    }
    fragment(&store, "a", Incarnation::new(8));
    store
        .mirror(
            &[
                put("a", Incarnation::new(1), None),
                put("b", Incarnation::new(2), None),
                put("c", Incarnation::new(3), None),
                MirrorChange::Mark {
                    member: MemberId::new(1),
                    name: "c".into(),
                },
            ],
            CLEAN,
            MEMBERS,
            at(20),
        )
        .unwrap();
    // The snapshot: a replaced by 8, b deleted, c unchanged, d new; marks moved.
    let objects: BTreeMap<String, ObjectRecord> = [
        record("a", Incarnation::new(8)),
        record("c", Incarnation::new(3)),
        record("d", Incarnation::new(9)),
    ]
    .into_iter()
    .map(|r| (r.name.clone(), r))
    .collect();
    let dirty: BTreeMap<MemberId, BTreeSet<String>> =
        [(MemberId::new(2), ["d".to_string()].into_iter().collect())]
            .into_iter()
            .collect();
    store
        .reconcile(
            &objects,
            &dirty,
            u32::from(MEMBERS),
            VolumeMirror {
                incarnation: stripecast_persistence::VolumeIncarnation::new(4),
                dirty: true,
            },
            at(30),
        )
        .unwrap();
    assert_eq!(
        store.mirrored_to().unwrap(),
        Some(at(30)),
        "the snapshot's entry"
    );
    let held: Vec<(String, u32)> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|r| (r.name, r.incarnation.get()))
        .collect();
    assert_eq!(
        held,
        vec![("a".into(), 8), ("c".into(), 3), ("d".into(), 9)]
    );
    assert!(!has_fragment(&store, "a", Incarnation::new(1)));
    assert!(has_fragment(&store, "a", Incarnation::new(8)));
    assert!(!has_fragment(&store, "b", Incarnation::new(2)));
    assert!(has_fragment(&store, "c", Incarnation::new(3)));
    assert_eq!(store.marks_for(3), vec![MemberId::new(2)]);
    assert_eq!(store.object_count(), 3);
    assert_eq!(
        store.homeblock().unwrap().incarnation,
        stripecast_persistence::VolumeIncarnation::new(4)
    );
}

/// The open-file cache holds at most `reader_cache_files` unpinned files.
/// (That reads list no directory is shown per process by `tests/scale.rs`:
/// the scan counter is process-wide and other unit tests open stores.)
#[test]
fn reads_keep_the_reader_cache_bounded_and_list_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path(), MemberId::new(0), 4).unwrap();
    store
        .set_homeblock(HomeBlock::new(
            7,
            MEMBERS,
            0,
            stripecast_persistence::VolumeIncarnation::new(1),
            0,
            "t",
        ))
        .unwrap();
    for k in 0..20 {
        fragment(&store, &format!("o{k}"), Incarnation::new(3));
    }
    for k in 0..20 {
        let block = store
            .read_block(&format!("o{k}"), Incarnation::new(3), 0, true)
            .unwrap();
        assert_eq!(block, vec![3u8; 4096]);
        assert!(store.open_readers() <= 4, "{} open", store.open_readers());
    }
    assert!(
        store
            .read_block("o0", Incarnation::new(4), 0, true)
            .is_err(),
        "another incarnation"
    );
}
