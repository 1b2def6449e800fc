//! `stripecast fragment inspect FILE [--json]`: decodes a fragment file's header,
//! checks its file name against it, verifies every block checksum and prints
//! what it found. Exits non-zero when the header does not decode or any block
//! fails its checksum, after printing the report.

use std::path::{Path, PathBuf};
use stripecast_persistence::Incarnation;

use serde::Serialize;
use stripecast_persistence::fragment::{BlockCheck, FragmentName};
use stripecast_persistence::{Cell, FragmentReader};

#[derive(clap::Subcommand, Debug)]
pub enum FragmentCommand {
    /// Decode a fragment header and verify every block checksum.
    Inspect {
        /// The fragment file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: FragmentCommand) -> anyhow::Result<()> {
    match cmd {
        FragmentCommand::Inspect { file, json } => inspect(&file, json),
    }
}

fn cell_label(r: &FragmentReader, lbn: u64) -> String {
    let layout = r.layout();
    let index = usize::from(r.header().fragment_index);
    match layout.cell(index, lbn) {
        Cell::Data(bn)
            if bn
                < layout
                    .geometry(r.header().object_len, r.stripe_size())
                    .data_blocks() =>
        {
            format!("B{bn}")
        }
        Cell::Data(_) => "-".to_owned(),
        Cell::Parity { .. } if layout.parity() == 1 => "P".to_owned(),
        Cell::Parity { index, .. } => format!("P{index}"),
    }
}

/// `fragment inspect --json` of a file that does not open.
#[derive(Serialize)]
struct OpenFailedDoc {
    file: String,
    ok: bool,
    error: String,
}

/// `fragment inspect --json`: the header, every block's checksum, the verdict.
#[derive(Serialize)]
struct InspectDoc<'a> {
    file: String,
    ok: bool,
    file_name: FileNameDoc,
    header: HeaderDoc<'a>,
    blocks: Vec<BlockDoc>,
    bad_blocks: Vec<u64>,
}

/// Whether the file's name is a canonical fragment name, and names its header.
#[derive(Serialize)]
struct FileNameDoc {
    canonical: bool,
    matches_header: Option<bool>,
}

/// The header's fields (FIG. 6).
#[derive(Serialize)]
struct HeaderDoc<'a> {
    major: u8,
    minor: u8,
    fragment_count: u8,
    fragment_index: u8,
    raid_level: u8,
    parity: u8,
    stripe_size: u32,
    incarnation: Incarnation,
    creation_time_ns: u64,
    object_name: &'a str,
    object_len: u64,
    block_count: u64,
    checksum_kind: &'static str,
}

/// One block's checksum, stored and computed (hex).
#[derive(Serialize)]
struct BlockDoc {
    lbn: u64,
    cell: String,
    stored: String,
    computed: String,
    ok: bool,
}

fn inspect(file: &Path, as_json: bool) -> anyhow::Result<()> {
    let parsed_name = file
        .file_name()
        .and_then(|n| n.to_str())
        .map(FragmentName::parse);
    let reader = match FragmentReader::open(file) {
        Ok(r) => r,
        Err(e) => {
            if as_json {
                let doc = OpenFailedDoc {
                    file: file.display().to_string(),
                    ok: false,
                    error: e.to_string(),
                };
                println!("{}", serde_json::to_string(&doc)?);
            }
            return Err(anyhow::Error::new(e).context("fragment does not open"));
        }
    };
    let h = reader.header();
    let layout = reader.layout();
    let checks: Vec<BlockCheck> = reader.verify_all()?;
    let bad: Vec<u64> = checks.iter().filter(|c| !c.ok()).map(|c| c.lbn).collect();
    let name_matches = match &parsed_name {
        Some(Ok(n)) => Some(reader.matches_name(n)),
        _ => None,
    };
    if as_json {
        let doc = InspectDoc {
            file: file.display().to_string(),
            ok: bad.is_empty(),
            file_name: FileNameDoc {
                canonical: matches!(parsed_name, Some(Ok(_))),
                matches_header: name_matches,
            },
            header: HeaderDoc {
                major: stripecast_persistence::fragment::header::MAJOR,
                minor: stripecast_persistence::fragment::header::MINOR,
                fragment_count: h.fragment_count,
                fragment_index: h.fragment_index,
                raid_level: layout.raid_level().as_u8(),
                parity: h.parity,
                stripe_size: h.stripe_size,
                incarnation: h.incarnation,
                creation_time_ns: h.creation_time_ns,
                object_name: reader.object_name(),
                object_len: h.object_len,
                block_count: reader.block_count(),
                checksum_kind: h.checksum_kind.name(),
            },
            blocks: checks
                .iter()
                .map(|c| BlockDoc {
                    lbn: c.lbn,
                    cell: cell_label(&reader, c.lbn),
                    stored: format!("{:08x}", c.stored),
                    computed: format!("{:08x}", c.computed),
                    ok: c.ok(),
                })
                .collect(),
            bad_blocks: bad.clone(),
        };
        println!("{}", serde_json::to_string(&doc)?);
    } else {
        println!("file            {}", file.display());
        match (&parsed_name, name_matches) {
            (Some(Ok(_)), Some(true)) => println!("file name       canonical, matches header"),
            (Some(Ok(_)), _) => println!("file name       canonical, DOES NOT match header"),
            (Some(Err(e)), _) => println!("file name       not a canonical fragment name ({e})"),
            (None, _) => println!("file name       not UTF-8"),
        }
        println!("object          {:?}", reader.object_name());
        println!("object length   {} bytes", h.object_len);
        println!("incarnation     {}", h.incarnation);
        println!(
            "created         {} ns since the Unix epoch",
            h.creation_time_ns
        );
        println!(
            "fragment        {} of {} (0-based), RAID level {}, {} parity per row",
            h.fragment_index,
            h.fragment_count,
            layout.raid_level().as_u8(),
            h.parity
        );
        println!("stripe size     {} bytes", h.stripe_size);
        println!(
            "blocks          {} ({} checksums)",
            reader.block_count(),
            h.checksum_kind.name()
        );
        for c in &checks {
            println!(
                "  lbn {:<6} {:<8} {:08x} {}",
                c.lbn,
                cell_label(&reader, c.lbn),
                c.stored,
                if c.ok() {
                    "ok".to_owned()
                } else {
                    format!("CHECKSUM MISMATCH (computed {:08x})", c.computed)
                }
            );
        }
        if bad.is_empty() {
            println!("result          all {} blocks verified", checks.len());
        } else {
            println!("result          {} bad block(s): {:?}", bad.len(), bad);
        }
    }
    anyhow::ensure!(
        bad.is_empty(),
        "{} of {} blocks failed checksum verification: lbn {:?}",
        bad.len(),
        checks.len(),
        bad
    );
    Ok(())
}
