//! The switch fabric process (`stripecast switch --config FILE`): the n+1
//! switched systems of the ring, the hardware the patent assumes does not
//! fail, run as a supervised process that restarts fast and resumes from
//! its journal.
//!
//! ```text
//! switch (one_for_one)
//! ├── fabric       planner, splicers, insert schedule, journal (permanent)
//! ├── control      TCP port for processors (handshake, then ring messages)
//! ├── feed-<g>     one UDP reader per network feed
//! └── http         /v1/ring, /v1/ring/inserts, /metrics
//! ```
//!
//! The edges find the fabric through its child ref, so a restarted fabric is
//! reached at once; connections registered with the old incarnation end and
//! their processors reconnect (keeping their positions: the journaled ring
//! says they are alive).

pub mod control;
pub mod fabric;
pub mod http;
pub mod io;
pub mod journal;
pub mod schedule;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use stripecast_config::SwitchConfig;
use stripecast_supervisors::{
    Backoff, ChildSpec, Strategy, Supervisor, SupervisorHandle, SupervisorSpec,
};

pub use fabric::{Fabric, FabricError};
pub use schedule::{InsertRec, InsertState, Origin};
pub use status::{InsertPage, RingDoc, INSERTS_PAGE_DEFAULT, INSERTS_PAGE_MAX};

/// Starts the switch's tree in the current actix system.
pub async fn start_switch(cfg: SwitchConfig) -> Result<SupervisorHandle, FabricError> {
    let cfg = Arc::new(cfg);
    std::fs::create_dir_all(&cfg.data_dir).map_err(|source| FabricError::Output {
        target: cfg.data_dir.display().to_string(),
        source,
    })?;
    // opened here so a bad journal or output is reported, not retried; the
    // first start uses it, a restart opens afresh
    // Datagrams each feed's reader dropped because the fabric's mailbox was
    // full (shared: the reader counts, the fabric reports).
    let input_dropped: Arc<Vec<std::sync::atomic::AtomicU64>> = Arc::new(
        cfg.feeds
            .iter()
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect(),
    );
    let first = std::sync::Mutex::new(Some(Fabric::open(cfg.clone(), input_dropped.clone())?));
    let backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    let (fabric, fabric_ref) = {
        let (cfg, input_dropped) = (cfg.clone(), input_dropped.clone());
        ChildSpec::try_new_with_ref("fabric", move |_| {
            let opened = first.lock().map(|mut f| f.take()).unwrap_or(None);
            opened.map_or_else(|| Fabric::open(cfg.clone(), input_dropped.clone()), Ok)
        })
    };
    let control = {
        let (cfg, fabric_ref) = (cfg.clone(), fabric_ref.clone());
        ChildSpec::new("control", move |cctx| {
            control::ControlListener::new(
                cfg.control,
                &cfg.cluster_name,
                &cfg.secret,
                cfg.members(),
                fabric_ref.clone(),
                cctx.clone(),
            )
        })
        .backoff(backoff)
    };
    let mut spec = SupervisorSpec::new("switch", Strategy::OneForOne)
        .intensity(20, Duration::from_secs(10))
        .child(fabric)
        .child(control);
    for (g, feed) in cfg.feeds.iter().enumerate() {
        let (addr, fabric_ref) = (feed.input, fabric_ref.clone());
        let input_dropped = input_dropped.clone();
        spec = spec.child(
            ChildSpec::new(format!("feed-{g}"), move |cctx| {
                io::FeedInput::new(
                    g,
                    addr,
                    fabric_ref.clone(),
                    cctx.clone(),
                    input_dropped.clone(),
                )
            })
            .backoff(backoff),
        );
    }
    let http = {
        let (addr, fabric_ref) = (cfg.http, fabric_ref.clone());
        ChildSpec::try_new("http", move |_| {
            http::SwitchHttp::bind(addr, fabric_ref.clone())
        })
        .backoff(backoff)
    };
    Ok(Supervisor::start(spec.child(http)).await)
}
