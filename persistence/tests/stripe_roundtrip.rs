//! End to end, the way the member runtime uses this crate: stripe an object over
//! N fragment files row by row (Layout + Codec + FragmentWriter), then read it
//! back (FragmentReader) with up to m members missing and a corrupted block,
//! rebuilding what is missing from the rest of its row and repairing in place.

use proptest::prelude::*;
use std::path::PathBuf;
use stripecast_persistence::{
    Codec, FragmentError, FragmentReader, FragmentSpec, FragmentWriter, Layout,
};

const STRIPE: u32 = 256;

fn object(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(151).wrapping_add(seed))
        .collect()
}

/// Writes `data` over `layout.members()` directories; returns each member's fragment path.
fn put(dirs: &[tempfile::TempDir], layout: Layout, data: &[u8]) -> Vec<PathBuf> {
    let codec = Codec::for_layout(&layout).unwrap();
    let geo = layout.geometry(data.len() as u64, STRIPE);
    let mut writers: Vec<FragmentWriter> = (0..layout.members())
        .map(|i| {
            FragmentWriter::create(
                dirs[i].path(),
                FragmentSpec {
                    name: "dir/obj".into(),
                    incarnation: stripecast_persistence::Incarnation::new(1),
                    creation_time_ns: 0,
                    stripe_size: STRIPE,
                    layout,
                    fragment_index: i,
                },
            )
            .unwrap()
        })
        .collect();
    for row in 0..geo.rows() {
        let blocks: Vec<Vec<u8>> = layout
            .row_blocks(row)
            .map(|bn| {
                let start = geo.block_offset(bn) as usize;
                let mut b =
                    data[start.min(data.len())..start.min(data.len()) + geo.block_len(bn)].to_vec();
                b.resize(STRIPE as usize, 0);
                b
            })
            .collect();
        let parity = codec.encode_row(&blocks).unwrap();
        for (shard, block) in blocks.iter().chain(&parity).enumerate() {
            writers[layout.shard_member(row, shard)]
                .append_block(block)
                .unwrap();
        }
    }
    writers
        .into_iter()
        .map(|w| w.finish(data.len() as u64).unwrap())
        .collect()
}

/// Reads the object back with the members in `down` unavailable.
fn get(paths: &[PathBuf], layout: Layout, len: u64, down: &[usize]) -> Result<Vec<u8>, String> {
    let codec = Codec::for_layout(&layout).unwrap();
    let geo = layout.geometry(len, STRIPE);
    let readers: Vec<Option<FragmentReader>> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| (!down.contains(&i)).then(|| FragmentReader::open(p).unwrap()))
        .collect();
    let mut out = Vec::with_capacity(len as usize);
    for bn in 0..geo.data_blocks() {
        let loc = layout.locate(bn);
        let direct = readers[loc.member]
            .as_ref()
            .and_then(|r| r.read_block(loc.lbn).ok());
        let block = match direct {
            Some(b) => b,
            None => {
                let row = loc.lbn;
                let mut shards: Vec<Option<Vec<u8>>> = (0..layout.members())
                    .map(|s| {
                        let m = layout.shard_member(row, s);
                        readers[m].as_ref().and_then(|r| r.read_block(row).ok())
                    })
                    .collect();
                codec
                    .reconstruct_data(&mut shards)
                    .map_err(|e| e.to_string())?;
                shards[layout.index_in_row(bn)].take().unwrap()
            }
        };
        out.extend_from_slice(&block[..geo.block_len(bn)]);
    }
    Ok(out)
}

fn layouts() -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::new(2, 1).unwrap()),
        (3usize..=8).prop_map(|n| Layout::raid5(n).unwrap()),
        (1usize..=5).prop_map(|n| Layout::new(n, 0).unwrap()),
        (3usize..=9, 2usize..=3).prop_filter_map("k>=1", |(n, m)| Layout::new(n, m).ok()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    #[test]
    fn put_then_get_with_members_down(layout in layouts(), len in 0usize..4000, seed in any::<u8>(), down_seed in any::<u64>()) {
        let dirs: Vec<_> = (0..layout.members()).map(|_| tempfile::tempdir().unwrap()).collect();
        let data = object(len, seed);
        let paths = put(&dirs, layout, &data);
        prop_assert_eq!(get(&paths, layout, len as u64, &[]).unwrap(), data.clone());
        // Take down m distinct members (chosen by down_seed): still readable.
        let n = layout.members();
        let first = (down_seed % n as u64) as usize;
        let down: Vec<usize> = (0..layout.parity()).map(|i| (first + i) % n).collect();
        prop_assert_eq!(get(&paths, layout, len as u64, &down).unwrap(), data.clone());
        // One more member down and a data block on it is lost: a clear error.
        if len > 0 {
            let extra = layout.locate(0).member;
            if !down.contains(&extra) {
                let mut more = down.clone();
                more.push(extra);
                let r = get(&paths, layout, len as u64, &more);
                prop_assert!(r.is_err());
                prop_assert!(r.unwrap_err().contains("cannot reconstruct"));
            }
        }
    }
}

#[test]
fn corrupt_block_is_rebuilt_and_repaired() {
    let layout = Layout::raid5(4).unwrap();
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let data = object(5000, 3);
    let paths = put(&dirs, layout, &data);
    let loc = layout.locate(4);
    // Corrupt data block 4 on disk.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&paths[loc.member])
            .unwrap();
        let off = 512 + loc.lbn * u64::from(STRIPE) + 3;
        f.write_all_at(&[0xEE], off).unwrap();
    }
    let mut r = FragmentReader::open_rw(&paths[loc.member]).unwrap();
    match r.read_block(loc.lbn) {
        Err(FragmentError::ChecksumMismatch { lbn, .. }) => assert_eq!(lbn, loc.lbn),
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    // The read path treats it like a missing block and gets the right bytes.
    assert_eq!(get(&paths, layout, 5000, &[]).unwrap(), data);
    // Repair: rebuild from the row and rewrite in place.
    let codec = Codec::for_layout(&layout).unwrap();
    let mut shards: Vec<Option<Vec<u8>>> = (0..4)
        .map(|s| {
            let m = layout.shard_member(loc.lbn, s);
            FragmentReader::open(&paths[m])
                .unwrap()
                .read_block(loc.lbn)
                .ok()
        })
        .collect();
    codec.reconstruct(&mut shards).unwrap();
    let shard = layout.member_shard(loc.lbn, loc.member);
    r.rewrite_block(loc.lbn, shards[shard].as_ref().unwrap())
        .unwrap();
    assert!(FragmentReader::open(&paths[loc.member])
        .unwrap()
        .verify_all()
        .unwrap()
        .iter()
        .all(|c| c.ok()));
}
