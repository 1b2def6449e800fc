//! Running one supervised process of the cluster (a member or the witness)
//! in this process's actix system until SIGINT or SIGTERM, or until its
//! supervision tree gives up.

use std::future::Future;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::Context as _;
use stripecast_actors::node::Process;
use stripecast_config::{MemberConfig, MemberId};

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

/// From now on, what this process creates is its user's alone (files 0600,
/// directories 0700): fragments, the catalog, logs and configs hold the
/// objects and the cluster secret.
pub fn private_files() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
}

/// Before a member or witness opens its storage: new files private
/// ([`private_files`]), its data dir 0700 even when something else made it,
/// and a warning when its config (which holds the secret) is readable by
/// others or the secret is weak.
pub fn keep_private(cfg: &MemberConfig, config: &Path) -> anyhow::Result<()> {
    if let Some(why) = cfg.cluster.secret_weakness() {
        tracing::warn!(member = %cfg.id, config = %config.display(), "weak cluster secret: {why}");
    }
    if !cfg.is_witness() {
        let me = cfg.me();
        let public = |a: std::net::SocketAddr| !a.ip().is_loopback();
        if public(me.http) && cfg.http.read_token.is_none() {
            tracing::warn!(
                member = %cfg.id,
                http = %me.http,
                "/metrics and /v1/cluster are open to anyone who reaches {}: set [http] read_token",
                me.http
            );
        }
        if (public(me.http) || me.s3.is_some_and(public)) && !cfg.http.tls() {
            tracing::warn!(
                member = %cfg.id,
                "serving a non-loopback address without TLS: keys and objects cross the network in the clear; set [http] tls_cert and tls_key"
            );
        }
    }
    let data_dir = cfg.data_dir.as_path();
    private_files();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private (0700)", data_dir.display()))?;
    if let Ok(meta) = std::fs::metadata(config) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                config = %config.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the config holds the cluster secret and others can read it: chmod 600"
            );
        }
    }
    Ok(())
}
