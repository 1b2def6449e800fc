//! Running one supervised process of the cluster (a member or the witness)
//! in this process's actix system until SIGINT or SIGTERM, or until its
//! supervision tree gives up.

use std::future::Future;

use anyhow::Context as _;
use stripecast_actors::node::Process;
use stripecast_config::MemberId;

/// Starts `start` (inside the system) and serves until a signal; `label`
/// names the process in errors and logs.
pub fn until_signal<P: Process>(
    label: &str,
    id: MemberId,
    start: impl Future<Output = anyhow::Result<P>>,
) -> anyhow::Result<()> {
    actix::System::new().block_on(async move {
        let process = start.await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        let exit = tokio::select! {
            _ = tokio::signal::ctrl_c() => None,
            _ = term.recv() => None,
            reason = process.tree().wait_exit() => Some(reason),
        };
        if let Some(reason) = exit {
            anyhow::bail!("{label} {id}: supervision tree gave up: {reason}");
        }
        tracing::info!(member = %id, "stopping");
        process.shutdown().await;
        Ok(())
    })
}
