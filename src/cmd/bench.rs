//! `stripecast bench ...`: measurements printed as ratios against baselines taken in the same run.

pub mod cluster;
pub mod codec;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// XOR and Reed-Solomon encode/reconstruct at 64 KiB blocks against memcpy.
    Codec(codec::Args),
    /// PUT and GET through a local cluster against raw loopback TCP and raw disk writes.
    Cluster(cluster::Args),
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Codec(args) => codec::run(args),
        BenchCommand::Cluster(args) => cluster::run(args),
    }
}
