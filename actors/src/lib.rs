//! The stripecast member runtime: everything a member process runs, as actix
//! actors under stripecast-supervisors.

pub mod protocol;
