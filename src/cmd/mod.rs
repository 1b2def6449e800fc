//! One module per subcommand.

pub mod access;
pub mod bench;
pub mod chaos;
pub mod client;
pub mod credentials;
pub mod demo_supervision;
pub mod feed;
pub mod fragment;
pub mod launch;
pub mod layout;
pub mod node;
pub mod ring;
pub mod ring_demo;
pub mod serve;
pub mod switch;
pub mod ts;
pub mod up;
pub mod witness;
