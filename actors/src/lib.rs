//! The stripecast member runtime: everything a member process runs, as actix
//! actors under stripecast-supervisors.

pub mod authority;
pub mod gateway;
pub mod jobs;
pub mod membership;
pub mod meta;
pub mod metrics;
pub mod node;
pub mod protocol;
pub mod service;
pub mod store;
pub mod testing;
pub mod tls;
pub mod transport;

pub mod volume;
pub mod witness;
