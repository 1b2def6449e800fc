//! `stripecast bench ...`: measurements printed as ratios against baselines taken in the same run.

pub mod cluster;
pub mod codec;
pub mod heal;
mod load;
pub mod ring;
pub mod s3;
mod small;
pub mod streams;
pub mod tls;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// XOR and Reed-Solomon encode/reconstruct at 64 KiB blocks against memcpy.
    Codec(codec::Args),
    /// PUT and GET through a local cluster against raw loopback TCP and raw disk writes.
    Cluster(cluster::Args),
    /// Heal: MB/s a member that missed writes catches up, against the cluster's PUT rate.
    Heal(heal::Args),
    /// Video-on-demand origin: concurrent clients each streaming an object at a constant rate, healthy and with a member SIGKILLed.
    Streams(streams::Args),
    /// The S3 API against /v1: large-object MB/s and 64 KiB objects/s, as ratios.
    S3(s3::Args),
    /// TLS: HTTPS listeners and an encrypted peer mesh against a plain cluster, as ratios.
    Tls(tls::Args),
    /// Ring insert failover: SIGKILL to the new processor's first insert packet, and output gaps against normal spacing.
    Ring(ring::Args),
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Codec(args) => codec::run(args),
        BenchCommand::Cluster(args) => cluster::run(args),
        BenchCommand::Heal(args) => heal::run(args),
        BenchCommand::Ring(args) => ring::run(args),
        BenchCommand::Streams(args) => streams::run(args),
        BenchCommand::S3(args) => s3::run(args),
        BenchCommand::Tls(args) => tls::run(args),
    }
}

/// Deterministic pseudo-random bytes (xorshift64) for benchmark payloads:
/// incompressible enough, cheap to make, the same in every run.
pub fn xorshift_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}
