//! `stripecast witness --config FILE`: run the cluster's witness (a
//! metadata-only voter, the `[witness]` of every member's config) until
//! SIGINT/SIGTERM. Its config is a member config whose `id` is the
//! witness's id.

use std::path::PathBuf;

use anyhow::Context as _;
use stripecast_actors::witness::start_witness;
use stripecast_config::MemberConfig;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The witness's TOML configuration (`id` = the `[witness]` id).
    #[arg(long)]
    config: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = MemberConfig::load(&args.config)?;
    if !cfg.is_witness() {
        anyhow::bail!(
            "{}: id {} is not this config's [witness] id; run a member with `stripecast node`",
            args.config.display(),
            cfg.id
        );
    }
    super::serve::keep_private(&cfg, &args.config)?;
    let id = cfg.id;
    super::serve::until_signal("witness", id, async move {
        start_witness(cfg)
            .await
            .with_context(|| format!("starting witness {id}"))
    })
}
