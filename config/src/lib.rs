//! Typed configuration of one stripecast cluster member, read from TOML, and
//! of the ring's switch fabric ([`SwitchConfig`], see its module docs).
//!
//! Every member process reads one file (see `DESIGN.md` section 6) naming its own
//! id and data directory, the cluster-wide settings (name, secret, stripe size,
//! parity), the failure-detection timeouts and the full member list.
//!
//! The pipeline is: TOML syntax check -> deserialization into a raw mirror whose
//! leaves carry byte spans ([`toml::Spanned`]) -> conversion to the public model
//! -> validation of the cross-field rules. Every failure becomes a [`ConfigError`]
//! naming the file, the 1-based line and column, and the field path
//! (`cluster.stripe_size`, `members[2].id`, ...).
//!
//! Invariants the rest of the workspace may rely on for any [`MemberConfig`]
//! obtained from [`MemberConfig::load`], [`MemberConfig::parse`] or
//! [`try_local_cluster`] (see [`limits`] for the numbers):
//!
//! * 2 <= N <= 255 members whose ids are exactly `0..N` (in any order), so an id
//!   is also the member's position in the block layout and fits the on-disk `u8`
//!   fields;
//! * this member's `id` is in the list, so [`MemberConfig::me`] cannot fail;
//! * all peer and HTTP socket addresses are distinct and have a non-zero port;
//! * `stripe_size` is a power of two in 4 KiB..=16 MiB;
//! * `parity < N`, and N = 2 (the mirror) has `parity == 1`;
//! * the secret has at least 16 bytes and the cluster name is not blank;
//! * every timeout is in 1..=86_400_000 ms and the heartbeat timeout exceeds the
//!   heartbeat interval;
//! * the optional `[ring]` link ([`RingLink`]) names two distinct switch
//!   addresses with non-zero ports.
//!
//! The switch file ([`SwitchConfig::parse`], [`SwitchConfig::load`]) goes
//! through the same pipeline with its own raw mirror and rules, and its errors
//! have the same form, e.g. `switch.toml:20:10: feeds[1].output: ...`.
//!
//! The public structs are plain data with public fields, so code that builds or
//! mutates one by hand should call [`MemberConfig::validate`].
//!
//! ```
//! use std::path::Path;
//! use stripecast_config::{ErrorKind, MemberConfig};
//!
//! let text = r#"
//! id = 0
//! data_dir = "/var/lib/stripecast/member-0"
//! [cluster]
//! name = "demo"
//! secret = "0123456789abcdef"
//! stripe_size = 1000
//! [[members]]
//! id = 0
//! peer = "127.0.0.1:7400"
//! http = "127.0.0.1:8400"
//! [[members]]
//! id = 1
//! peer = "127.0.0.1:7401"
//! http = "127.0.0.1:8401"
//! "#;
//! let err = MemberConfig::parse(text, Path::new("member-0.toml")).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::StripeSize);
//! assert_eq!(
//!     err.to_string(),
//!     "member-0.toml:7:15: cluster.stripe_size: 1000 is not a power of two"
//! );
//!
//! let fixed = text.replace("stripe_size = 1000", "stripe_size = 4096");
//! let config = MemberConfig::parse(&fixed, Path::new("member-0.toml")).unwrap();
//! assert!(config.is_mirror());
//! assert_eq!(config.me().http.port(), 8400);
//! ```
//!
//! ```
//! use std::path::Path;
//! use stripecast_config::{ErrorKind, MemberId, SwitchConfig};
//!
//! let text = r#"
//! data_dir = "/tmp/ring/switch"
//! control = "127.0.0.1:8600"
//! http = "127.0.0.1:8601"
//! [cluster]
//! name = "demo"
//! secret = "0123456789abcdef"
//! [[feeds]]
//! input = "udp://127.0.0.1:9000"
//! output = "udp://127.0.0.1:9100"
//! [[feeds]]
//! input = "udp://127.0.0.1:9001"
//! output = "udp://127.0.0.1:9000"
//! [[systems]]
//! member = 0
//! [[systems]]
//! member = 1
//! [[systems]]
//! member = 2
//! "#;
//! let err = SwitchConfig::parse(text, Path::new("switch.toml")).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::DuplicateAddress);
//! assert_eq!(
//!     err.to_string(),
//!     "switch.toml:13:10: feeds[1].output: output udp://127.0.0.1:9000 is \
//!      feeds[0].input, an address the switch listens on"
//! );
//!
//! let fixed = text.replace("9100\"", "9100\"\ncue_object = \"ad-cue\"")
//!     .replace("output = \"udp://127.0.0.1:9000\"", "output = \"file://out/1.ts\"");
//! let config = SwitchConfig::parse(&fixed, Path::new("switch.toml")).unwrap();
//! assert_eq!(config.feed_count(), 2);
//! assert_eq!(config.members(), [0, 1, 2].map(MemberId::new));
//! ```

mod endpoint;
mod error;
mod field;
mod file;
mod ids;
mod keymap;
pub mod limits;
mod local;
mod model;
mod parse;
mod position;
mod raw;
mod render;
mod switch_field;
mod switch_model;
mod switch_parse;
mod switch_raw;
mod switch_render;
mod switch_validate;
mod timeouts;
mod validate;

pub use error::{ConfigError, ErrorKind};
pub use ids::MemberId;
pub use local::{local_cluster, secure_local_cluster, try_local_cluster, try_local_witness};
pub use model::{
    AuthSettings, ClusterConfig, HttpSettings, MemberConfig, MemberEntry, PeerTls, StoreSettings,
    Token, WitnessEntry,
};
pub use switch_model::{
    FeedConfig, OutputTarget, RingDirection, RingLink, SwitchConfig, SwitchTimeouts, SystemConfig,
    DEFAULT_KEEP_FINISHED_INSERTS,
};
pub use timeouts::Timeouts;
