//! The `stripecast` command line: one binary for running members (`node`, `up`),
//! operating a cluster (`put`, `get`, `ls`, `rm`, `status`), inspecting what lies
//! on disk (`fragment inspect`, `layout`), measuring (`bench`) and proving
//! correctness under faults (`chaos`).
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
    /// Run one cluster member.
    Node(cmd::node::Args),
    /// Run the cluster's witness: a metadata-only voter (2-member mirror).
    Witness(cmd::witness::Args),
    /// Start a local cluster of member processes (the main job).
    Up(cmd::up::Args),
    /// Store a file as an object.
    Put(cmd::client::PutArgs),
    /// Read an object.
    Get(cmd::client::GetArgs),
    /// List objects.
    Ls(cmd::client::LsArgs),
    /// Remove an object.
    Rm(cmd::client::RmArgs),
    /// Show the members, their states and incarnations.
    Status(cmd::client::StatusArgs),
    /// Access keys (kept in the cluster's replicated metadata).
    #[command(subcommand)]
    Key(cmd::access::KeyCommand),
    /// Buckets and what each key may do in them.
    #[command(subcommand)]
    Bucket(cmd::access::BucketCommand),
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
    /// Play a TS file (or a generated stream) over UDP at its real bitrate, paced by PCR.
    Feed(cmd::feed::Args),
    /// Run the ring's switch fabric (feeds in, outputs out, processors on its control port).
    Switch(cmd::switch::Args),
    /// The ring of video systems: status and inserts.
    #[command(subcommand)]
    Ring(cmd::ring::RingCommand),
    /// Run a seeded nemesis against a concurrent workload on a local cluster and check the history.
    Chaos(cmd::chaos::Args),
    /// Generate or validate MPEG-TS files.
    #[command(subcommand)]
    Ts(cmd::ts::TsCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init();
    let result = match cli.command {
        Command::Node(args) => cmd::node::run(args),
        Command::Witness(args) => cmd::witness::run(args),
        Command::Up(args) => cmd::up::run(args),
        Command::Put(a) => cmd::client::put(a),
        Command::Get(a) => cmd::client::get(a),
        Command::Ls(a) => cmd::client::ls(a),
        Command::Rm(a) => cmd::client::rm(a),
        Command::Status(a) => cmd::client::status(a),
        Command::Key(c) => cmd::access::key(c),
        Command::Bucket(c) => cmd::access::bucket(c),
        Command::DemoSupervision(args) => cmd::demo_supervision::run(args),
        Command::Layout(args) => cmd::layout::run(args),
        Command::Fragment(c) => cmd::fragment::run(c),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Feed(a) => cmd::feed::run(a),
        Command::Ts(c) => cmd::ts::run(c),
        Command::Chaos(a) => cmd::chaos::run(a),
        Command::Switch(a) => cmd::switch::run(a),
        Command::Ring(c) => cmd::ring::run(c),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stripecast: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
