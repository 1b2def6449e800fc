//! The stripecast member runtime: everything a member process runs, as actix
//! actors under stripecast-supervisors.

pub mod membership;
pub mod protocol;
pub mod transport;
