//! [`SwitchField`]: the fields of the switch file that rules can blame.
//!
//! The switch file's counterpart of [`crate::field::Field`]; its Display form
//! is the dotted path used in error messages, e.g. `feeds[1].output` or
//! `timeouts.heartbeat_timeout_ms`.

use std::fmt;

/// A field of a switch configuration, addressed by its TOML path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SwitchField {
    DataDir,
    Control,
    Http,
    Direction,
    ClusterName,
    ClusterSecret,
    HeartbeatInterval,
    HeartbeatTimeout,
    KeepFinishedInserts,
    Feeds,
    /// `feeds[i].input`, `i` being the position in the file.
    FeedInput(usize),
    FeedOutput(usize),
    FeedCueObject(usize),
    Systems,
    /// `systems[i].member`.
    SystemMember(usize),
}

impl fmt::Display for SwitchField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchField::DataDir => f.write_str("data_dir"),
            SwitchField::Control => f.write_str("control"),
            SwitchField::Http => f.write_str("http"),
            SwitchField::Direction => f.write_str("direction"),
            SwitchField::ClusterName => f.write_str("cluster.name"),
            SwitchField::ClusterSecret => f.write_str("cluster.secret"),
            SwitchField::HeartbeatInterval => f.write_str("timeouts.heartbeat_interval_ms"),
            SwitchField::HeartbeatTimeout => f.write_str("timeouts.heartbeat_timeout_ms"),
            SwitchField::KeepFinishedInserts => f.write_str("keep_finished_inserts"),
            SwitchField::Feeds => f.write_str("feeds"),
            SwitchField::FeedInput(i) => write!(f, "feeds[{i}].input"),
            SwitchField::FeedOutput(i) => write!(f, "feeds[{i}].output"),
            SwitchField::FeedCueObject(i) => write!(f, "feeds[{i}].cue_object"),
            SwitchField::Systems => f.write_str("systems"),
            SwitchField::SystemMember(i) => write!(f, "systems[{i}].member"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(SwitchField::FeedOutput(1).to_string(), "feeds[1].output");
        assert_eq!(
            SwitchField::SystemMember(2).to_string(),
            "systems[2].member"
        );
        assert_eq!(
            SwitchField::HeartbeatTimeout.to_string(),
            "timeouts.heartbeat_timeout_ms"
        );
    }
}
