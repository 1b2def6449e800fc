//! Black-box tests of `stripecast layout`: the real binary, its JSON and text output.

use std::process::Command;

fn layout(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stripecast"))
        .arg("layout")
        .args(args)
        .output()
        .expect("run stripecast")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = layout(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

#[test]
fn fig7_exactly() {
    let v = json(&["--members", "3", "--blocks", "8", "--json"]);
    assert_eq!(
        v,
        serde_json::json!({
            "members": 3,
            "rows": [
                ["P", "B0", "B1"],
                ["B2", "P", "B3"],
                ["B4", "B5", "P"],
                ["P", "B6", "B7"],
            ]
        })
    );
}

#[test]
fn fig7_as_a_table() {
    let out = layout(&["--members", "3", "--blocks", "8"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.starts_with("LBN"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["0", "P", "B0", "B1"],
            vec!["1", "B2", "P", "B3"],
            vec!["2", "B4", "B5", "P"],
            vec!["3", "P", "B6", "B7"],
        ]
    );
}

#[test]
fn every_block_once_for_many_member_counts() {
    for members in [3usize, 4, 7, 13, 32] {
        let blocks = 3 * members as u64 + 1;
        let v = json(&[
            "--members",
            &members.to_string(),
            "--blocks",
            &blocks.to_string(),
            "--json",
        ]);
        let rows = v["rows"].as_array().unwrap();
        assert_eq!(rows.len() as u64, blocks.div_ceil(members as u64 - 1));
        let mut seen = Vec::new();
        for (lbn, row) in rows.iter().enumerate() {
            let row = row.as_array().unwrap();
            assert_eq!(row.len(), members);
            // Row r's parity is on member r mod N.
            assert_eq!(row[lbn % members], "P", "members {members} row {lbn}");
            for cell in row {
                let c = cell.as_str().unwrap();
                if let Some(n) = c.strip_prefix('B') {
                    seen.push(n.parse::<u64>().unwrap());
                }
            }
        }
        assert_eq!(seen, (0..blocks).collect::<Vec<_>>());
    }
}

#[test]
fn reed_solomon_mirror_and_raid0() {
    let v = json(&["--members", "5", "--blocks", "6", "--parity", "2", "--json"]);
    assert_eq!(
        v["rows"][0],
        serde_json::json!(["P0", "P1", "B0", "B1", "B2"])
    );
    assert_eq!(
        v["rows"][1],
        serde_json::json!(["B3", "P0", "P1", "B4", "B5"])
    );
    let v = json(&["--members", "2", "--blocks", "3", "--json"]);
    assert_eq!(
        v["rows"],
        serde_json::json!([["P", "B0"], ["B1", "P"], ["P", "B2"]])
    );
    let v = json(&["--members", "3", "--blocks", "4", "--parity", "0", "--json"]);
    assert_eq!(
        v["rows"],
        serde_json::json!([["B0", "B1", "B2"], ["B3", "-", "-"]])
    );
}

#[test]
fn impossible_layout_is_an_error() {
    let out = layout(&["--members", "2", "--blocks", "4", "--parity", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no layout"));
}
