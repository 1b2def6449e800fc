//! `stripecast ts gen --seconds N --tag T -o FILE.ts` writes a synthetic valid
//! TS; `stripecast ts check FILE.ts [--json]` validates one and prints packets
//! per PID, CC errors, the PCR range and the duration (exit 1 when invalid).

use anyhow::Context as _;
use std::path::PathBuf;
use std::time::Duration;
use stripecast_ts::check::check;
use stripecast_ts::gen::{generate, Cue, GenParams};

#[derive(clap::Subcommand, Debug)]
pub enum TsCommand {
    /// Write a synthetic TS (PAT, PMT, one video PID with PCR, SCTE-35 PID).
    Gen(GenArgs),
    /// Validate a TS file.
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct GenArgs {
    /// Seconds of stream.
    #[arg(long)]
    seconds: f64,
    #[command(flatten)]
    opts: GenOpts,
    /// Output file.
    #[arg(short = 'o', long)]
    output: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The TS file.
    file: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// How a generated stream looks (shared by `ts gen` and `feed --generate`).
#[derive(clap::Args, Debug)]
pub struct GenOpts {
    /// Marker tag in every video packet.
    #[arg(long, default_value = "FEED0")]
    pub tag: String,
    /// Bits per second (for `feed FILE`: the pacing of a file without PCRs).
    #[arg(long, default_value_t = 1_500_000)]
    pub bitrate: u64,
    /// Send an SCTE-35 splice_insert at this many seconds in (splice 1 s later).
    #[arg(long)]
    pub cue_at: Option<f64>,
    /// break_duration of the cue, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub cue_break: f64,
}

impl GenOpts {
    pub fn params(&self) -> anyhow::Result<GenParams> {
        let mut p = GenParams::new(&self.tag);
        p.bitrate = self.bitrate;
        if let Some(at) = self.cue_at {
            p.cues.push(Cue {
                at: secs(at, "--cue-at")?,
                preroll: Duration::from_secs(1),
                event_id: 1,
                out_of_network: true,
                break_duration: Some(secs(self.cue_break, "--cue-break")?),
            });
        }
        Ok(p)
    }
}

pub fn secs(v: f64, what: &str) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        v.is_finite() && (0.0..=86_400.0).contains(&v),
        "{what} wants 0..=86400 seconds"
    );
    Ok(Duration::from_secs_f64(v))
}

/// `ts check --json`: the report, whether it is a valid stream, and why not.
#[derive(serde::Serialize)]
struct CheckDoc<'a> {
    #[serde(flatten)]
    report: &'a stripecast_ts::check::Report,
    valid: bool,
    errors: Vec<String>,
}

pub fn run(cmd: TsCommand) -> anyhow::Result<()> {
    match cmd {
        TsCommand::Gen(a) => {
            let p = a.opts.params()?;
            let ts = generate(secs(a.seconds, "--seconds")?, &p).context("generating")?;
            std::fs::write(&a.output, &ts)
                .with_context(|| format!("writing {}", a.output.display()))?;
            eprintln!("wrote {} packets to {}", ts.len() / 188, a.output.display());
            Ok(())
        }
        TsCommand::Check(a) => {
            let ts =
                std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
            let r = check(&ts);
            let errors = r.errors();
            if a.json {
                let doc = CheckDoc {
                    report: &r,
                    valid: errors.is_empty(),
                    errors: errors.clone(),
                };
                println!("{}", serde_json::to_string(&doc)?);
            } else {
                println!("packets: {}", r.packets);
                println!(
                    "{:>8} {:>10} {:>9} {:>6}  stream_type",
                    "PID", "packets", "cc_errors", "pcrs"
                );
                for (pid, s) in &r.pids {
                    let st = r
                        .streams
                        .get(pid)
                        .map(|t| format!("0x{t:02x}"))
                        .unwrap_or_default();
                    println!(
                        "{:>#8x} {:>10} {:>9} {:>6}  {st}",
                        pid, s.packets, s.cc_errors, s.pcrs
                    );
                }
                match (r.pcr_first, r.pcr_last) {
                    (Some(a), Some(b)) => {
                        println!("PCR: {a} .. {b} (max gap {:.1} ms)", r.pcr_max_gap_ms)
                    }
                    _ => println!("PCR: none"),
                }
                println!("duration: {:.3} s", r.duration_secs);
                for c in &r.cues {
                    println!(
                        "SCTE-35 splice_insert at packet {}: event {} out_of_network {} pts {:?} break {:?}",
                        c.packet, c.splice_event_id, c.out_of_network, c.splice_time, c.break_duration
                    );
                }
                if errors.is_empty() {
                    println!("valid");
                } else {
                    for e in &errors {
                        println!("error: {e}");
                    }
                }
            }
            anyhow::ensure!(errors.is_empty(), "{} is not a valid TS", a.file.display());
            Ok(())
        }
    }
}
