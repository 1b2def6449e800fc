//! Fragment file reader on damaged files: the input picks a layout, object
//! length and name, a valid fragment is written with `FragmentWriter`, then the
//! rest of the input flips bytes, truncates or extends it (optionally re-signing
//! the header so field validation is reached). Opening, reading every block and
//! verifying must give typed errors only, never a panic, and an undamaged file
//! must verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::os::unix::fs::FileExt;
use stripecast_persistence::checksum::crc32c;
use stripecast_persistence::{FragmentReader, FragmentSpec, FragmentWriter, Layout};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let n = 1 + usize::from(data[0] % 8);
    let Ok(layout) = Layout::new(n, usize::from(data[1]) % n) else {
        return;
    };
    let stripe = 64 * (1 + u32::from(data[2] % 4));
    let len = u64::from(u16::from_le_bytes([data[3], data[4]]) % 3000);
    let name = if data[5] & 0x80 != 0 {
        "n/".repeat(250)
    } else {
        format!("obj-{}", data[5])
    };
    let flags = data[6];
    let dir = std::env::temp_dir().join(format!("stripecast-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let Ok(mut w) = FragmentWriter::create(
        &dir,
        FragmentSpec {
            name,
            incarnation: u32::from(data[7]),
            creation_time_ns: 0,
            stripe_size: stripe,
            layout,
            fragment_index: usize::from(data[7]) % n,
        },
    ) else {
        return;
    };
    let rows = layout.geometry(len, stripe).rows();
    for lbn in 0..rows {
        let block = vec![lbn as u8; stripe as usize];
        if w.append_block(&block).is_err() {
            return;
        }
    }
    let Ok(path) = w.finish(len) else { return };
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    else {
        return;
    };
    let Ok(file_len) = f.metadata().map(|m| m.len()) else {
        return;
    };
    let mut damaged = false;
    for m in data[8..].chunks_exact(3) {
        let off = u64::from(u16::from_le_bytes([m[0], m[1]])) % file_len.max(1);
        let mut b = [0u8; 1];
        if f.read_exact_at(&mut b, off).is_ok() && m[2] != 0 {
            let _ = f.write_all_at(&[b[0] ^ m[2]], off);
            damaged = true;
        }
    }
    if flags & 1 != 0 {
        let _ = f.set_len(u64::from(data[7]) * 37 % (file_len + 100));
        damaged = true;
    }
    if flags & 2 != 0 {
        // Re-sign the header so the decoder's field checks get exercised.
        let mut h = [0u8; 512];
        if f.read_exact_at(&mut h, 0).is_ok() {
            let sum = crc32c(&h[..508]);
            let _ = f.write_all_at(&sum.to_le_bytes(), 508);
        }
    }
    drop(f);
    match FragmentReader::open(&path) {
        Ok(r) => {
            for lbn in 0..r.block_count().min(64) {
                let _ = r.read_block(lbn);
            }
            let checks = r.verify_all();
            let _ = r.read_block(r.block_count());
            if !damaged {
                assert!(checks.expect("verify").iter().all(|c| c.ok()));
            }
        }
        Err(e) => assert!(damaged, "undamaged fragment failed to open: {e}"),
    }
});
