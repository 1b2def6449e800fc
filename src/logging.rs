//! Tracing setup for the binary: human-readable events on stderr, filtered by
//! `RUST_LOG` (default `info` for stripecast crates, `warn` for the rest).

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,stripecast=info,stripecast_supervisors=info,stripecast_actors=info,stripecast_persistence=info")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
