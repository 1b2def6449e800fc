//! `stripecast layout`: prints which member and local block hold each data and
//! parity block of an object of B blocks over N members (FIG. 7 for N = 3).
//!
//! Row i of the output is local block number i, column j is member j. Data
//! cells are `B<n>`, parity cells `P` (or `P0`, `P1`, ... with `--parity` >= 2),
//! and `-` marks the zero padding that fills the last row past the object's end.
//! With `--json`: `{"members": N, "rows": [["P","B0","B1"], ...]}`.

use anyhow::Context as _;
use stripecast_persistence::{Cell, Layout};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Members (fragment count) N.
    #[arg(long)]
    members: usize,
    /// Data blocks in the object.
    #[arg(long)]
    blocks: u64,
    /// Parity blocks per row: 0 (RAID-0), 1 (RAID-5; the mirror for 2 members), 2+ (Reed-Solomon).
    #[arg(long, default_value_t = 1)]
    parity: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The cell labels of the layout, row by row.
/// `layout --json`: each row's cells, member by member.
#[derive(serde::Serialize)]
struct LayoutDoc {
    members: usize,
    rows: Vec<Vec<String>>,
}

fn table(layout: &Layout, blocks: u64) -> Vec<Vec<String>> {
    let rows = layout.rows_for_blocks(blocks);
    (0..rows)
        .map(|lbn| {
            (0..layout.members())
                .map(|member| match layout.cell(member, lbn) {
                    Cell::Data(bn) if bn < blocks => format!("B{bn}"),
                    Cell::Data(_) => "-".to_owned(),
                    Cell::Parity { .. } if layout.parity() == 1 => "P".to_owned(),
                    Cell::Parity { index, .. } => format!("P{index}"),
                })
                .collect()
        })
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let layout = Layout::new(args.members, args.parity).with_context(|| {
        format!(
            "no layout for --members {} --parity {}",
            args.members, args.parity
        )
    })?;
    anyhow::ensure!(
        args.blocks <= 1_000_000,
        "--blocks {} is more than this tool prints (1000000)",
        args.blocks
    );
    let rows = table(&layout, args.blocks);
    if args.json {
        let doc = LayoutDoc {
            members: layout.members(),
            rows,
        };
        println!("{}", serde_json::to_string(&doc)?);
        return Ok(());
    }
    let scheme = match layout.scheme() {
        stripecast_persistence::Scheme::Striped => "RAID-0, no parity".to_owned(),
        stripecast_persistence::Scheme::Mirror => {
            "2-member mirror: P is a copy of the row's block".to_owned()
        }
        stripecast_persistence::Scheme::Xor => "RAID-5, XOR parity (FIG. 9)".to_owned(),
        stripecast_persistence::Scheme::ReedSolomon => {
            format!("Reed-Solomon {}+{}", layout.data_per_row(), layout.parity())
        }
    };
    println!(
        "{} members, {} data blocks, {} rows; {scheme}",
        layout.members(),
        args.blocks,
        rows.len()
    );
    let width = rows
        .iter()
        .flatten()
        .map(String::len)
        .chain((0..layout.members()).map(|m| format!("member{m}").len()))
        .max()
        .unwrap_or(1);
    let mut header = format!("{:<5}", "LBN");
    for m in 0..layout.members() {
        header.push_str(&format!("  {:<width$}", format!("member{m}")));
    }
    println!("{}", header.trim_end());
    for (lbn, row) in rows.iter().enumerate() {
        let mut line = format!("{lbn:<5}");
        for cell in row {
            line.push_str(&format!("  {cell:<width$}"));
        }
        println!("{}", line.trim_end());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fig7() {
        let t = table(&Layout::raid5(3).unwrap(), 8);
        assert_eq!(
            t,
            vec![
                vec!["P", "B0", "B1"],
                vec!["B2", "P", "B3"],
                vec!["B4", "B5", "P"],
                vec!["P", "B6", "B7"],
            ]
        );
    }

    #[test]
    fn padding_and_rs() {
        let t = table(&Layout::raid5(3).unwrap(), 3);
        assert_eq!(t[1], vec!["B2", "P", "-"]);
        let t = table(&Layout::new(5, 2).unwrap(), 3);
        assert_eq!(t[0], vec!["P0", "P1", "B0", "B1", "B2"]);
    }
}
