use super::*;

fn key(i: usize) -> String {
    packed_key(&FragmentName::new(
        &format!("obj/{i}"),
        crate::Incarnation::new(i as u32),
        1,
        3,
    ))
}

fn image(i: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|b| (b as u8) ^ (i as u8).wrapping_mul(31))
        .collect()
}

#[test]
fn one_row_fragments_of_a_64k_stripe_are_packable() {
    assert!(packable(1, 65536, 1024));
    assert!(packable(0, 65536, 1024));
    assert!(!packable(2, 4096, 10), "two rows are a file");
    assert!(!packable(1, 1 << 20, 10), "a 1 MiB block is a file");
}

#[test]
fn images_survive_a_reopen_and_are_found_by_key_and_shard() {
    let dir = tempfile::tempdir().unwrap();
    {
        let p = PackedFragments::open(dir.path()).unwrap();
        let images: Vec<(String, Vec<u8>)> =
            (0..50).map(|i| (key(i), image(i, 70 << 10))).collect();
        p.put_all(&images[..20]).unwrap();
        p.put_all(&images[20..]).unwrap();
        p.remove(&key(0)).unwrap();
        // Replacing a key leaves one entry, the new bytes.
        p.put_all(&[(key(1), image(99, 1000))]).unwrap();
        p.put_all(&[]).unwrap();
    }
    let p = PackedFragments::open(dir.path()).unwrap();
    assert_eq!(p.len(), 49);
    assert!(!p.contains(&key(0)).unwrap());
    assert_eq!(p.get(&key(0)).unwrap(), None);
    assert_eq!(p.get(&key(1)).unwrap().unwrap(), image(99, 1000));
    assert_eq!(p.get(&key(7)).unwrap().unwrap(), image(7, 70 << 10));
    let mut by_shard = 0;
    for shard in 0..=u8::MAX {
        for k in p.keys_in_shard(shard).unwrap() {
            assert!(k.starts_with(&format!("{shard:02x}/")));
            by_shard += 1;
        }
    }
    assert_eq!(by_shard, 49);
    // The removed image and the replaced one are dead space.
    assert_eq!(p.dead_bytes(), 2 * (70 << 10));
    assert!(p
        .put_all(&[(key(1), vec![0; MAX_IMAGE_BYTES + 1])])
        .is_err());
    assert_eq!(p.get(&key(1)).unwrap().unwrap(), image(99, 1000));
}

/// Bytes a crash left after the last indexed image are dead space: the
/// index never points at them and appends go on after them.
#[test]
fn a_torn_tail_is_never_read() {
    let dir = tempfile::tempdir().unwrap();
    {
        let p = PackedFragments::open(dir.path()).unwrap();
        p.put_all(&[(key(1), image(1, 5000))]).unwrap();
    }
    let seg = dir.path().join(format!("{:016x}.pack", 1));
    let f = OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut &f, &[0xAB; 777]).unwrap();
    drop(f);
    let p = PackedFragments::open(dir.path()).unwrap();
    assert_eq!(p.dead_bytes(), 777);
    p.put_all(&[(key(2), image(2, 3000))]).unwrap();
    assert_eq!(p.get(&key(1)).unwrap().unwrap(), image(1, 5000));
    assert_eq!(p.get(&key(2)).unwrap().unwrap(), image(2, 3000));
}

/// Segments roll at their size; a sealed segment mostly dead is rewritten
/// and deleted, every live image still reads back exactly, and the space
/// comes back.
#[test]
fn compaction_moves_live_images_and_deletes_dead_segments() {
    let dir = tempfile::tempdir().unwrap();
    let p = PackedFragments::open(dir.path()).unwrap();
    let len = 80 << 10;
    let n = (SEGMENT_BYTES as usize / len) + 100;
    for chunk in (0..n).collect::<Vec<_>>().chunks(128) {
        let images: Vec<(String, Vec<u8>)> =
            chunk.iter().map(|&i| (key(i), image(i, len))).collect();
        p.put_all(&images).unwrap();
    }
    assert_eq!(p.segments(), 2);
    // Most of the first segment dies.
    let kept: Vec<usize> = (0..n).filter(|i| i % 10 == 0 || *i >= n - 100).collect();
    for i in 0..n {
        if !kept.contains(&i) {
            p.remove(&key(i)).unwrap();
        }
    }
    let dead_before = p.dead_bytes();
    assert!(dead_before > SEGMENT_BYTES / 2);
    let mut steps = 0;
    while p.compact_step().unwrap() {
        steps += 1;
        assert!(steps < 100, "compaction does not finish");
    }
    // One more step deletes the emptied segment.
    p.compact_step().unwrap();
    assert!(!dir.path().join(format!("{:016x}.pack", 1)).exists());
    assert_eq!(p.segments(), 1);
    assert!(p.dead_bytes() < dead_before / 10);
    for &i in &kept {
        assert_eq!(p.get(&key(i)).unwrap().unwrap(), image(i, len), "image {i}");
    }
    drop(p);
    let p = PackedFragments::open(dir.path()).unwrap();
    assert_eq!(p.len(), kept.len());
    for &i in &kept {
        assert_eq!(
            p.get(&key(i)).unwrap().unwrap(),
            image(i, len),
            "image {i} after reopen"
        );
    }
}

/// The fragment image of one member of a `len`-byte object on 5 members at
/// the 64 KiB stripe (its block: `data`, zero-padded).
fn small_object_image(i: usize, data: &[u8], len: u64) -> Vec<u8> {
    let spec = crate::fragment::FragmentSpec {
        name: format!("obj/{i}"),
        incarnation: crate::Incarnation::new(3),
        creation_time_ns: 1,
        stripe_size: 65536,
        layout: crate::layout::Layout::raid5(5).unwrap(),
        fragment_index: i % 5,
    };
    crate::fragment::fragment_image(&spec, len, &[data]).unwrap()
}

/// Zero padding is not stored: the fragments of a 4 KiB object take a few
/// KB of segment instead of five 64 KiB blocks, read back exactly, survive
/// a reopen, and a tool walking the segment finds every
/// record (raw or sparse) with the image's header where it expects it.
#[test]
fn padding_is_not_stored_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let p = PackedFragments::open(dir.path()).unwrap();
    let data: Vec<u8> = (0..4096u32).map(|b| (b % 251) as u8 + 1).collect();
    let mut want = Vec::new();
    for i in 0..10 {
        // Columns 1..3 hold zero blocks, 0 and 4 (parity) the 4 KiB.
        let block: &[u8] = if i % 5 == 0 || i % 5 == 4 { &data } else { &[] };
        want.push((key(i), small_object_image(i, block, 4096)));
    }
    // One full, incompressible block among them stays raw.
    want.push((key(10), image(10, 70 << 10)));
    p.put_all(&want).unwrap();
    let seg = dir.path().join(format!("{:016x}.pack", 1));
    let on_disk = std::fs::metadata(&seg).unwrap().len();
    let full: usize = want.iter().map(|(_, i)| i.len()).sum();
    assert!(
        on_disk < (70 << 10) + 10 * 6000,
        "{on_disk} bytes on disk for {full} bytes of images"
    );
    for (k, img) in &want {
        assert_eq!(p.get(k).unwrap().as_ref(), Some(img), "{k}");
    }
    let walked = images_in_segment(&seg);
    assert_eq!(
        walked.len(),
        10,
        "the raw record of key 10 has no FIG. 6D header"
    );
    for &(at, len) in &walked {
        let mut head = vec![0u8; crate::fragment::HEADER_LEN];
        std::fs::File::open(&seg)
            .unwrap()
            .read_exact_at(&mut head, at)
            .unwrap();
        assert!(crate::fragment::FragmentHeader::decode(&head).is_ok());
        assert!(len < 6000);
    }
    // Neighbours removed, then reopened: the index finds the records.
    for (k, _) in &want[5..] {
        p.remove(k).unwrap();
    }
    drop(p);
    let p = PackedFragments::open(dir.path()).unwrap();
    for (k, img) in &want[..5] {
        assert_eq!(p.get(k).unwrap().as_ref(), Some(img), "{k} after reopen");
    }
}

/// A sparse record whose header rots is a typed error, never other bytes.
#[test]
fn a_damaged_sparse_header_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = PackedFragments::open(dir.path()).unwrap();
    let img = small_object_image(1, &[], 4096);
    p.put_all(&[(key(1), img)]).unwrap();
    let seg = dir.path().join(format!("{:016x}.pack", 1));
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(&[0xFF], 10).unwrap();
    assert!(matches!(p.get(&key(1)), Err(PackedError::Damaged { .. })));
}

/// The image of fragment `i` of a 4 KiB object, its block all non-zero
/// and different for each `i`.
fn filled_image(i: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..4096).map(|b| ((b * 7 + i) % 251) as u8 + 1).collect();
    small_object_image(i, &data, 4096)
}

/// The key under which a member stores `small_object_image(i, ..)`.
fn image_key(i: usize) -> String {
    packed_key(&FragmentName::new(
        &format!("obj/{i}"),
        crate::Incarnation::new(3),
        (i % 5) as u8,
        5,
    ))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The index is flushed only now and then, not by every group commit: a
/// crash that loses the index entries of acknowledged appends (their
/// segment bytes were synced) loses no image. Opening finds them again
/// from the records, skips a record that does not verify, leaves a torn
/// tail alone and appends in a new segment after it.
#[test]
fn appends_whose_index_entries_a_crash_lost_are_found_again() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let crashed = dir.path().join("crashed");
    let img = filled_image;
    let batch = |r: std::ops::Range<usize>| -> Vec<(String, Vec<u8>)> {
        r.map(|i| (image_key(i), img(i))).collect()
    };
    PackedFragments::open(&live)
        .unwrap()
        .put_all(&batch(0..10))
        .unwrap();
    // The index as a crash finds it: flushed after the first ten.
    copy_dir(&live, &crashed);
    {
        let p = PackedFragments::open(&live).unwrap();
        for r in [10..15, 15..25, 25..30] {
            p.put_all(&batch(r)).unwrap();
        }
    }
    let seg = |root: &Path| root.join(format!("{:016x}.pack", 1));
    std::fs::copy(seg(&live), seg(&crashed)).unwrap();
    // Record 17 rots inside its block; a torn append follows record 29.
    let records = images_in_segment(&seg(&crashed));
    assert_eq!(records.len(), 30);
    let f = OpenOptions::new().write(true).open(seg(&crashed)).unwrap();
    let (at, _) = records[17];
    f.write_all_at(&[0xEE], at + crate::fragment::HEADER_LEN as u64 + 10)
        .unwrap();
    let torn = sparse::encode(&img(99));
    let end = f.metadata().unwrap().len();
    f.write_all_at(&torn[..torn.len() / 2], end).unwrap();
    drop(f);

    let p = PackedFragments::open(&crashed).unwrap();
    for i in (0..30).filter(|&i| i != 17) {
        assert_eq!(p.get(&image_key(i)).unwrap(), Some(img(i)), "image {i}");
    }
    assert_eq!(
        p.get(&image_key(17)).unwrap(),
        None,
        "a rotten record is not indexed"
    );
    assert_eq!(p.len(), 29);
    assert_eq!(p.segments(), 2, "appends go on past the torn tail");
    p.put_all(&batch(30..31)).unwrap();
    drop(p);
    let p = PackedFragments::open(&crashed).unwrap();
    assert_eq!(p.len(), 30);
    assert_eq!(p.get(&image_key(30)).unwrap(), Some(img(30)));
    assert_eq!(p.get(&image_key(29)).unwrap(), Some(img(29)));
}

/// A new store crashes before its index was ever flushed after appends:
/// the watermark written at its first open makes the replay start at the
/// segment's beginning, so nothing acknowledged is lost.
#[test]
fn a_new_store_that_crashes_before_its_first_index_flush_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let crashed = dir.path().join("crashed");
    let img = filled_image;
    {
        let p = PackedFragments::open(&live).unwrap();
        // The index as the crash finds it: as the first open left it.
        copy_dir(&live, &crashed);
        let batch: Vec<(String, Vec<u8>)> = (0..5).map(|i| (image_key(i), img(i))).collect();
        p.put_all(&batch).unwrap();
    }
    let seg = |root: &Path| root.join(format!("{:016x}.pack", 1));
    std::fs::copy(seg(&live), seg(&crashed)).unwrap();
    let p = PackedFragments::open(&crashed).unwrap();
    assert_eq!(p.len(), 5);
    for i in 0..5 {
        assert_eq!(p.get(&image_key(i)).unwrap(), Some(img(i)), "image {i}");
    }
}

/// What opening learns of the store: images, dead bytes, segment files.
fn counts(p: &PackedFragments) -> (usize, u64, usize) {
    (p.len(), p.dead_bytes(), p.segments())
}

/// Reopens `dir` twice: with the counts kept in the index, and once more
/// after forgetting them (so the index is counted): both agree.
fn reopen_both_ways(dir: &Path) -> (usize, u64, usize) {
    let kept = {
        let p = PackedFragments::open(dir).unwrap();
        let c = counts(&p);
        p.meta.remove(IMAGES).unwrap();
        p.flush_index().unwrap();
        c
    };
    let p = PackedFragments::open(dir).unwrap();
    assert_eq!(counts(&p), kept, "kept counts == counted index");
    assert!(p.meta.get(IMAGES).unwrap().is_some(), "counted once, kept");
    kept
}

/// The counts kept beside the index follow appends, replacements,
/// removals and compaction exactly as a count of the index would.
#[test]
fn kept_counts_equal_a_count_of_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let len = 80 << 10;
    let n = (SEGMENT_BYTES as usize / len) + 50;
    {
        let p = PackedFragments::open(dir.path()).unwrap();
        for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
            let images: Vec<(String, Vec<u8>)> =
                chunk.iter().map(|&i| (key(i), image(i, len))).collect();
            p.put_all(&images).unwrap();
        }
        p.put_all(&[(key(3), image(3, 1000))]).unwrap();
        for i in (0..n).filter(|i| i % 3 != 0) {
            p.remove(&key(i)).unwrap();
        }
    }
    let before = reopen_both_ways(dir.path());
    assert_eq!(before.0, n.div_ceil(3));
    {
        let p = PackedFragments::open(dir.path()).unwrap();
        while p.compact_step().unwrap() {}
        p.compact_step().unwrap();
    }
    let after = reopen_both_ways(dir.path());
    assert_eq!(after.0, before.0, "compaction keeps every image");
    assert!(
        after.1 < before.1,
        "and frees space: {after:?} vs {before:?}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Any mix of writes, replacements and removals, with reopens between.
    #[test]
    fn kept_counts_follow_any_history(
        ops in proptest::collection::vec((0usize..20, 0usize..3, 1usize..4000), 1..40)
    ) {
        let dir = tempfile::tempdir().unwrap();
        for (round, chunk) in ops.chunks(10).enumerate() {
            {
                let p = PackedFragments::open(dir.path()).unwrap();
                for &(k, op, len) in chunk {
                    match op {
                        0 => p.remove(&key(k)).unwrap(),
                        _ => p.put_all(&[(key(k), image(k + round, len))]).unwrap(),
                    }
                }
            }
            reopen_both_ways(dir.path());
        }
    }
}

/// A recount replaces every kept live-byte count (a stale one of a segment
/// left without entries included), and unreadable counts are counted
/// again instead of keeping the store closed.
#[test]
fn stale_or_unreadable_counts_are_counted_again() {
    let dir = tempfile::tempdir().unwrap();
    let truth = {
        let p = PackedFragments::open(dir.path()).unwrap();
        p.put_all(&[(key(1), image(1, 5000)), (key(2), image(2, 7000))])
            .unwrap();
        p.remove(&key(2)).unwrap();
        p.flush_index().unwrap();
        counts(&p)
    };
    for damage in [
        [(IMAGES.to_vec(), vec![1u8, 2, 3])],
        [(live_key(1), vec![9u8])],
    ] {
        {
            let p = PackedFragments::open(dir.path()).unwrap();
            // A stale count for a segment that has no entries.
            p.meta.insert(live_key(7), &123u64.to_le_bytes()).unwrap();
            for (k, v) in &damage {
                p.meta.insert(k.as_slice(), v.as_slice()).unwrap();
            }
            p.meta.remove(IMAGES).unwrap();
            if damage[0].0 == IMAGES {
                p.meta.insert(IMAGES, &[1u8, 2, 3][..]).unwrap();
            } else {
                p.meta.insert(IMAGES, &1u64.to_le_bytes()).unwrap();
                p.meta.remove(live_key(7)).unwrap();
            }
            p.flush_index().unwrap();
        }
        let p = PackedFragments::open(dir.path()).unwrap();
        assert_eq!(counts(&p), truth, "{damage:?}");
        assert!(p.get(&key(1)).unwrap().is_some());
    }
    // A stale count left from an index changed without its counts (an
    // earlier version) is dropped by the recount.
    {
        let p = PackedFragments::open(dir.path()).unwrap();
        p.meta.insert(live_key(7), &123u64.to_le_bytes()).unwrap();
        p.meta.remove(IMAGES).unwrap();
        p.flush_index().unwrap();
    }
    let p = PackedFragments::open(dir.path()).unwrap();
    assert_eq!(counts(&p), truth);
    assert!(
        p.meta.get(live_key(7)).unwrap().is_none(),
        "stale count dropped"
    );
}
