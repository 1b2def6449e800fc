//! The public model of the switch fabric's configuration (`stripecast switch
//! --config FILE`) and of a member's link to it (the `[ring]` table of a
//! member file).
//!
//! The switch holds the n+1 switched systems of the ring (patent FIG. 11-17):
//! n network feeds in, n outputs out, and one ring position per processor,
//! the last one starting as the spare. Values obtained through
//! [`SwitchConfig::parse`] / [`SwitchConfig::load`] are validated:
//!
//! * 2 <= n <= [`crate::limits::MAX_RING_FEEDS`] feeds and exactly n + 1 systems;
//! * the systems' member ids are distinct (position = index in the file);
//! * the control, HTTP and feed input addresses are distinct with non-zero
//!   ports; UDP outputs have non-zero ports, are distinct and none is one of
//!   those listening addresses; file outputs name a path and are distinct;
//! * a `cue_object` is 1..=255 bytes, without control characters and not
//!   starting with '/';
//! * the secret has at least 16 bytes, the cluster name is not blank;
//! * heartbeat timeout > heartbeat interval, both in 1..=86_400_000 ms.
//!
//! Parsing lives in `switch_raw` / `switch_parse`, the rules in
//! `switch_validate`, rendering in `switch_render`, files in `file`.

use crate::MemberId;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which neighbour may take a failed processor's feed (the ring's wiring).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RingDirection {
    /// The processor one position above takes the feed.
    Up,
    /// The processor one position below (FIG. 13/14).
    Down,
    /// Whichever needs fewer shifts (FIG. 15/16); ties go down.
    #[default]
    Either,
}

impl fmt::Display for RingDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RingDirection::Up => "up",
            RingDirection::Down => "down",
            RingDirection::Either => "either",
        })
    }
}

/// Where an output goes: `udp://HOST:PORT` or `file://PATH`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OutputTarget {
    Udp(SocketAddr),
    /// A relative path is relative to the process's working directory.
    File(PathBuf),
}

impl fmt::Display for OutputTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputTarget::Udp(a) => write!(f, "udp://{a}"),
            OutputTarget::File(p) => write!(f, "file://{}", p.display()),
        }
    }
}

/// One network feed and its output (one `[[feeds]]` entry); feed g is the
/// g-th entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedConfig {
    /// `udp://HOST:PORT` the switch listens on for this feed's TS.
    pub input: SocketAddr,
    /// OUT_g.
    pub output: OutputTarget,
    /// The stored object an SCTE-35 splice_insert cue in this feed inserts
    /// (`None`: cues are reported but insert nothing).
    pub cue_object: Option<String>,
}

/// One ring position (one `[[systems]]` entry, position = index): the member
/// whose `ring` actor is this position's processor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemConfig {
    pub member: MemberId,
}

/// Finished inserts a switch keeps unless its file says otherwise.
pub const DEFAULT_KEEP_FINISHED_INSERTS: usize = 1000;

/// Failure detection between the switch and the processors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchTimeouts {
    /// How often a processor pings the switch (default 100).
    pub heartbeat_interval_ms: u64,
    /// Silence after which a processor counts as failed (default 500).
    pub heartbeat_timeout_ms: u64,
}

impl Default for SwitchTimeouts {
    fn default() -> Self {
        SwitchTimeouts {
            heartbeat_interval_ms: 100,
            heartbeat_timeout_ms: 500,
        }
    }
}

/// The switch fabric's configuration (one TOML file).
#[derive(Clone, PartialEq, Eq)]
pub struct SwitchConfig {
    /// Holds the switch's journal (insert schedule, progress, ring state).
    pub data_dir: PathBuf,
    /// TCP address processors connect to.
    pub control: SocketAddr,
    /// HTTP API (`/v1/ring`, `/v1/ring/inserts`, `/metrics`).
    pub http: SocketAddr,
    pub direction: RingDirection,
    /// Cluster name, checked in the processors' handshake.
    pub cluster_name: String,
    /// The cluster's shared secret (>= 16 bytes).
    pub secret: String,
    pub timeouts: SwitchTimeouts,
    /// Finished inserts (done or failed) kept in the schedule, the journal
    /// and `/v1/ring`, at most; the oldest go first (default
    /// [`DEFAULT_KEEP_FINISHED_INSERTS`]).
    pub keep_finished_inserts: usize,
    pub feeds: Vec<FeedConfig>,
    /// n + 1 positions; the last starts as the spare.
    pub systems: Vec<SystemConfig>,
}

// Hand-written so that logging a config cannot leak the secret.
impl fmt::Debug for SwitchConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwitchConfig")
            .field("data_dir", &self.data_dir)
            .field("control", &self.control)
            .field("http", &self.http)
            .field("direction", &self.direction)
            .field("cluster_name", &self.cluster_name)
            .field(
                "secret",
                &format_args!("<redacted, {} bytes>", self.secret.len()),
            )
            .field("timeouts", &self.timeouts)
            .field("keep_finished_inserts", &self.keep_finished_inserts)
            .field("feeds", &self.feeds)
            .field("systems", &self.systems)
            .finish()
    }
}

impl SwitchConfig {
    /// Number of feeds (n).
    pub fn feed_count(&self) -> usize {
        self.feeds.len()
    }

    /// Member id per ring position.
    pub fn members(&self) -> Vec<MemberId> {
        self.systems.iter().map(|s| s.member).collect()
    }
}

/// A member's link to the switch (the optional `[ring]` table of a member file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingLink {
    /// The switch's control address (its `control`).
    pub switch: SocketAddr,
    /// The switch's HTTP address (its `http`), for `/v1/ring` on members.
    pub switch_http: SocketAddr,
}
