//! The `stripecast` command line: one binary for running members (`node`, `up`),
//! operating a cluster (`put`, `get`, `ls`, `rm`, `status`), inspecting what lies
//! on disk (`fragment inspect`, `layout`) and measuring (`bench`).
//!
//! Every subcommand lives in its own module under `cmd/`; this file only parses
//! arguments and reports errors with context (anyhow).

mod cmd;
mod logging;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "stripecast",
    version,
    about = "Fault-tolerant striped storage and video-delivery cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a small supervision tree, crash children on purpose, and show restarts and an escalation.
    DemoSupervision(cmd::demo_supervision::Args),
    /// Print which member and local block hold each data and parity block (FIG. 7 for 3 members).
    Layout(cmd::layout::Args),
    /// Inspect fragment files.
    #[command(subcommand)]
    Fragment(cmd::fragment::FragmentCommand),
    /// Measure codecs and the cluster against baselines taken in the same run.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init();
    let result = match cli.command {
        Command::DemoSupervision(args) => cmd::demo_supervision::run(args),
        Command::Layout(args) => cmd::layout::run(args),
        Command::Fragment(c) => cmd::fragment::run(c),
        Command::Bench(c) => cmd::bench::run(c),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stripecast: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
