//! Black-box tests of `stripecast fragment inspect`: fragments written with the
//! persistence crate, then inspected by the real binary, whole and corrupted.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stripecast_persistence::{FragmentSpec, FragmentWriter, Layout};

const STRIPE: usize = 4096;

fn write_fragment(dir: &Path, name: &str) -> PathBuf {
    let layout = Layout::raid5(3).unwrap();
    let mut w = FragmentWriter::create(
        dir,
        FragmentSpec {
            name: name.into(),
            incarnation: stripecast_persistence::Incarnation::new(5),
            creation_time_ns: 1_700_000_000_000_000_000,
            stripe_size: STRIPE as u32,
            layout,
            fragment_index: 1,
        },
    )
    .unwrap();
    // An object of 6 blocks minus 100 bytes: 3 rows.
    for lbn in 0..3u8 {
        w.append_block(&vec![lbn + 1; STRIPE]).unwrap();
    }
    w.finish(6 * STRIPE as u64 - 100).unwrap()
}

fn inspect(path: &Path, json: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stripecast"));
    cmd.args(["fragment", "inspect"]).arg(path);
    if json {
        cmd.arg("--json");
    }
    cmd.output().expect("run stripecast")
}

fn flip_bit(path: &Path, offset: u64) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    f.write_all_at(&[b[0] ^ 0x01], offset).unwrap();
}

#[test]
fn whole_fragment_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_fragment(dir.path(), "videos/ad-17.ts");
    let out = inspect(&path, true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["bad_blocks"], serde_json::json!([]));
    assert_eq!(v["header"]["object_name"], "videos/ad-17.ts");
    assert_eq!(v["header"]["fragment_count"], 3);
    assert_eq!(v["header"]["fragment_index"], 1);
    assert_eq!(v["header"]["raid_level"], 5);
    assert_eq!(v["header"]["incarnation"], 5);
    assert_eq!(v["header"]["block_count"], 3);
    assert_eq!(v["header"]["object_len"], 6 * STRIPE - 100);
    assert_eq!(v["file_name"]["matches_header"], true);
    // Member 1 of 3 holds B0, P, B5 (FIG. 7).
    let cells: Vec<&str> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["cell"].as_str().unwrap())
        .collect();
    assert_eq!(cells, vec!["B0", "P", "B5"]);

    let text = inspect(&path, false);
    assert!(text.status.success());
    let s = String::from_utf8(text.stdout).unwrap();
    assert!(s.contains("all 3 blocks verified"), "{s}");
}

#[test]
fn flipped_bit_reports_the_bad_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_fragment(dir.path(), "obj");
    // One bit in block 2 (LBN 2), past the 512-byte header.
    flip_bit(&path, 512 + 2 * STRIPE as u64 + 77);
    let out = inspect(&path, true);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["bad_blocks"], serde_json::json!([2]));
    assert_eq!(v["blocks"][2]["ok"], false);
    assert_eq!(v["blocks"][0]["ok"], true);
    assert!(String::from_utf8_lossy(&out.stderr).contains("lbn [2]"));

    let text = inspect(&path, false);
    assert!(!text.status.success());
    let s = String::from_utf8(text.stdout).unwrap();
    let line = s.lines().find(|l| l.contains("lbn 2")).unwrap();
    assert!(line.contains("CHECKSUM MISMATCH"), "{s}");
}

#[test]
fn flipped_header_bit_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_fragment(dir.path(), "obj");
    flip_bit(&path, 9); // incarnation
    let out = inspect(&path, true);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(
        v["error"].as_str().unwrap().contains("checksum mismatch"),
        "{v}"
    );
}

#[test]
fn truncated_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_fragment(dir.path(), "obj");
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(512 + STRIPE as u64).unwrap();
    let out = inspect(&path, false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("header implies"));
}
