//! `stripecast node --config FILE`: run one member until SIGINT/SIGTERM.

use std::path::PathBuf;

use anyhow::Context as _;
use stripecast_actors::node::start_member;
use stripecast_config::MemberConfig;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The member's TOML configuration.
    #[arg(long)]
    config: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = MemberConfig::load(&args.config)?;
    let id = cfg.id;
    actix::System::new().block_on(async move {
        let member = start_member(cfg)
            .await
            .with_context(|| format!("starting member {id}"))?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        let exit = tokio::select! {
            _ = tokio::signal::ctrl_c() => None,
            _ = term.recv() => None,
            reason = member.tree.wait_exit() => Some(reason),
        };
        if let Some(reason) = exit {
            anyhow::bail!("member {id}: supervision tree gave up: {reason}");
        }
        tracing::info!(member = id, "stopping");
        member.shutdown().await;
        Ok(())
    })
}
