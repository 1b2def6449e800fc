//! `stripecast node --config FILE`: run one member until SIGINT/SIGTERM.

use std::path::PathBuf;

use anyhow::Context as _;
use stripecast_actors::node::start_member_with;
use stripecast_actors::testing::TestHooks;
use stripecast_config::MemberConfig;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The member's TOML configuration.
    #[arg(long)]
    config: PathBuf,
    /// Test-only hook (repeatable): `inject` opens POST /v1/inject for crafted
    /// peer messages; `serve-unverified` serves blocks without checking them
    /// (a planted fault). Never on a production member.
    #[arg(long = "test-hook", value_name = "NAME")]
    test_hooks: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let hooks = TestHooks::parse(&args.test_hooks)?;
    let cfg = MemberConfig::load(&args.config)?;
    super::serve::keep_private(&cfg, &args.config)?;
    let id = cfg.id;
    super::serve::until_signal("member", id, async move {
        let extend = |cfg: &MemberConfig, service: &stripecast_actors::service::ObjectService| {
            stripecast_ring::member_extension(cfg, service)
                .and(stripecast_s3::member_extension(cfg, service))
        };
        start_member_with(cfg, hooks, Box::new(extend))
            .await
            .with_context(|| format!("starting member {id}"))
    })
}
