//! Failure-detection and networking timeouts of a member, in milliseconds.
//!
//! The `[timeouts]` table is optional and so is each key in it; missing keys
//! take the values of [`Timeouts::default`]. The defaults keep failure
//! detection well under a second (`DESIGN.md` section 5): a heartbeat every
//! 100 ms, a peer declared failed after 500 ms of silence.
//!
//! [`TimeoutKey`] is the single list of key names: rendering, raw parsing spans
//! and validation all go through it so a key cannot be forgotten in one place.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Timeouts in milliseconds; the accessor methods return [`Duration`]s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// How often a member sends a heartbeat on each peer link.
    pub heartbeat_interval_ms: u64,
    /// Silence after which a peer is declared failed; must exceed the interval.
    pub heartbeat_timeout_ms: u64,
    /// Limit for establishing a TCP connection to a peer.
    pub connect_timeout_ms: u64,
    /// Limit for one request to a peer (e.g. a block read or write).
    pub request_timeout_ms: u64,
    /// First delay before reconnecting a failed peer link.
    pub reconnect_backoff_initial_ms: u64,
    /// Cap of the exponential reconnect backoff.
    pub reconnect_backoff_max_ms: u64,
    /// A request body must deliver at least one block (`stripe_size`
    /// bytes) or end within this long, again and again: a minimum rate of
    /// a block per this time. A slower body is refused (408) and its upload
    /// dropped, so slow clients cannot hold open fragments on every member.
    pub body_progress_timeout_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            heartbeat_interval_ms: 100,
            heartbeat_timeout_ms: 500,
            connect_timeout_ms: 1_000,
            request_timeout_ms: 10_000,
            reconnect_backoff_initial_ms: 50,
            reconnect_backoff_max_ms: 2_000,
            body_progress_timeout_ms: 10_000,
        }
    }
}

impl Timeouts {
    /// Interval between heartbeats on each peer link.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }

    /// Silence after which a peer is declared failed.
    pub fn heartbeat_timeout(&self) -> Duration {
        Duration::from_millis(self.heartbeat_timeout_ms)
    }

    /// Limit for establishing a connection to a peer.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// Limit for one request to a peer.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// First reconnect delay of a failed peer link.
    pub fn reconnect_backoff_initial(&self) -> Duration {
        Duration::from_millis(self.reconnect_backoff_initial_ms)
    }

    /// Largest reconnect delay of a failed peer link.
    pub fn reconnect_backoff_max(&self) -> Duration {
        Duration::from_millis(self.reconnect_backoff_max_ms)
    }

    /// Time a request body has to deliver each block.
    pub fn body_progress_timeout(&self) -> Duration {
        Duration::from_millis(self.body_progress_timeout_ms)
    }
}

/// One key of the `[timeouts]` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeoutKey {
    HeartbeatInterval,
    HeartbeatTimeout,
    Connect,
    Request,
    BackoffInitial,
    BackoffMax,
    BodyProgress,
}

impl TimeoutKey {
    /// All keys, in the order they are rendered.
    pub(crate) const ALL: [TimeoutKey; 7] = [
        TimeoutKey::HeartbeatInterval,
        TimeoutKey::HeartbeatTimeout,
        TimeoutKey::Connect,
        TimeoutKey::Request,
        TimeoutKey::BackoffInitial,
        TimeoutKey::BackoffMax,
        TimeoutKey::BodyProgress,
    ];

    /// The TOML key name (must match the serde field names above).
    pub(crate) fn name(self) -> &'static str {
        match self {
            TimeoutKey::HeartbeatInterval => "heartbeat_interval_ms",
            TimeoutKey::HeartbeatTimeout => "heartbeat_timeout_ms",
            TimeoutKey::Connect => "connect_timeout_ms",
            TimeoutKey::Request => "request_timeout_ms",
            TimeoutKey::BackoffInitial => "reconnect_backoff_initial_ms",
            TimeoutKey::BackoffMax => "reconnect_backoff_max_ms",
            TimeoutKey::BodyProgress => "body_progress_timeout_ms",
        }
    }

    /// The value of this key in `t`.
    pub(crate) fn get(self, t: &Timeouts) -> u64 {
        match self {
            TimeoutKey::HeartbeatInterval => t.heartbeat_interval_ms,
            TimeoutKey::HeartbeatTimeout => t.heartbeat_timeout_ms,
            TimeoutKey::Connect => t.connect_timeout_ms,
            TimeoutKey::Request => t.request_timeout_ms,
            TimeoutKey::BackoffInitial => t.reconnect_backoff_initial_ms,
            TimeoutKey::BackoffMax => t.reconnect_backoff_max_ms,
            TimeoutKey::BodyProgress => t.body_progress_timeout_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_match_milliseconds() {
        let t = Timeouts::default();
        assert_eq!(t.heartbeat_interval(), Duration::from_millis(100));
        assert_eq!(t.heartbeat_timeout(), Duration::from_millis(500));
        assert_eq!(t.connect_timeout(), Duration::from_secs(1));
        assert_eq!(t.request_timeout(), Duration::from_secs(10));
        assert_eq!(t.reconnect_backoff_initial(), Duration::from_millis(50));
        assert_eq!(t.reconnect_backoff_max(), Duration::from_secs(2));
    }

    #[test]
    fn defaults_detect_failure_well_under_a_second() {
        let t = Timeouts::default();
        assert!(t.heartbeat_timeout_ms > t.heartbeat_interval_ms);
        assert!(t.heartbeat_timeout() < Duration::from_secs(1));
    }

    #[test]
    fn key_names_match_serde_names() {
        // Serializing through serde and comparing against `name()` catches a
        // renamed field that the hand-written renderer would otherwise miss.
        let t = Timeouts::default();
        let table = toml::Table::try_from(&t).unwrap();
        for key in TimeoutKey::ALL {
            let v = table.get(key.name()).and_then(toml::Value::as_integer);
            assert_eq!(v, Some(key.get(&t) as i64), "{}", key.name());
        }
        assert_eq!(table.len(), TimeoutKey::ALL.len());
    }
}
