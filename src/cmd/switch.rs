//! `stripecast switch --config FILE`: run the ring's switch fabric until
//! SIGINT/SIGTERM.

use std::path::PathBuf;

use anyhow::Context as _;
use stripecast_config::SwitchConfig;
use stripecast_ring::switch::start_switch;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The switch's TOML configuration.
    #[arg(long)]
    config: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = SwitchConfig::load(&args.config)?;
    actix::System::new().block_on(async move {
        let (feeds, http) = (cfg.feeds.len(), cfg.http);
        let tree = start_switch(cfg).await.context("starting the switch")?;
        tracing::info!(feeds, %http, "switch running");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        let exit = tokio::select! {
            _ = tokio::signal::ctrl_c() => None,
            _ = term.recv() => None,
            reason = tree.wait_exit() => Some(reason),
        };
        if let Some(reason) = exit {
            anyhow::bail!("switch: supervision tree gave up: {reason}");
        }
        tree.shutdown().await;
        Ok(())
    })
}
