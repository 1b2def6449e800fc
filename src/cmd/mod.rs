//! One module per subcommand.

pub mod bench;
pub mod demo_supervision;
pub mod fragment;
pub mod layout;
