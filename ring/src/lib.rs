//! Ring video insertion (issue #6, patent FIG. 11-17): the pure core.
//!
//! `n` network feeds, `n` active video systems and one spare in a ring.
//! [`planner`] decides which live processor covers which feed and how the
//! ring shifts on failures and returns; [`switch_table`] turns that into the
//! switch-element selections of each switched system (FIG. 16/17). No I/O:
//! the actor that drives real switches and reports status wraps these.
//! See "Ring video insertion" in ARCHITECTURE.md at the repository root.

mod conn;
pub mod planner;
pub mod processor;
pub mod protocol;
mod proxy;
pub mod switch;
pub mod switch_table;

pub use planner::{
    Direction, FailOutcome, Plan, RingError, RingState, RingStatus, Shift, SystemState, Walk,
};

#[cfg(test)]
mod tests;

/// What the ring adds to a member (see `stripecast_actors::node::Extension`):
/// its processor, when the member's config has a `[ring]` link, and
/// `/v1/ring` (forwarded to that link's switch; 404 without one).
pub fn member_extension(
    cfg: &stripecast_config::MemberConfig,
    service: &stripecast_actors::service::ObjectService,
) -> stripecast_actors::node::Extension {
    let mut children = Vec::new();
    if let Some(link) = cfg.ring {
        let (cfg, service) = (cfg.clone(), service.clone());
        children.push(stripecast_supervisors::ChildSpec::new("ring", move |_| {
            processor::RingProcessor::new(&cfg, link, service.clone())
        }));
    }
    stripecast_actors::node::Extension {
        children,
        routes: vec![proxy::routes(cfg.ring.map(|r| r.switch_http))],
    }
}

/// Wall-clock Unix milliseconds: the time base of insert schedules (`at`),
/// shared by the switch and the processors.
pub fn now_ms() -> u64 {
    stripecast_actors::service::now_ns() / 1_000_000
}
