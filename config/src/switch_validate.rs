//! The cross-field rules a switch configuration must satisfy.
//!
//! Like the member rules (`crate::validate`), they run on the clean model and
//! report the first broken rule as a [`Violation`] naming the field to blame;
//! the parser maps it to a line. Order: identity (data_dir, cluster), timeouts,
//! counts (feeds, systems), system members, listening addresses, outputs,
//! cue objects.
//!
//! Decisions:
//! * control, HTTP and every feed input are sockets the switch binds, so each
//!   may appear once among them, with a non-zero port;
//! * a UDP output is where the switch sends: it must be distinct from the other
//!   UDP outputs (two feeds on one destination would interleave) and from every
//!   bound address (the switch would feed itself); port 0 is refused as well;
//! * file outputs are compared by their written path (no canonicalisation: the
//!   files may not exist yet);
//! * a cue object name is 1..=255 bytes, has no control characters and does
//!   not start with '/', so it is a plain object key.

use crate::MemberId;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use crate::field::Violation;
use crate::limits::{MAX_KEEP_FINISHED_INSERTS, MAX_RING_FEEDS, MAX_TIMEOUT_MS, MIN_SECRET_LEN};
use crate::switch_field::SwitchField;
use crate::{ErrorKind, OutputTarget, SwitchConfig};

/// Fewest feeds a ring can have.
const MIN_RING_FEEDS: usize = 2;

/// Longest accepted `cue_object`, in bytes.
const MAX_CUE_OBJECT_LEN: usize = 255;

type Result = std::result::Result<(), Violation<SwitchField>>;

/// Checks every rule, returning the first one broken.
pub(crate) fn check(c: &SwitchConfig) -> Result {
    if c.data_dir.as_os_str().is_empty() {
        return Err(Violation::new(
            SwitchField::DataDir,
            ErrorKind::DataDir,
            "data_dir must not be empty",
        ));
    }
    check_cluster_identity(c)?;
    check_timeouts(c)?;
    check_keep_finished(c)?;
    check_counts(c)?;
    check_systems(c)?;
    check_addresses(c)?;
    check_outputs(c)?;
    check_cue_objects(c)
}

fn check_keep_finished(c: &SwitchConfig) -> Result {
    if !(1..=MAX_KEEP_FINISHED_INSERTS).contains(&c.keep_finished_inserts) {
        return Err(Violation::new(
            SwitchField::KeepFinishedInserts,
            ErrorKind::InvalidValue,
            format!(
                "keep_finished_inserts must be 1..={MAX_KEEP_FINISHED_INSERTS}, got {}",
                c.keep_finished_inserts
            ),
        ));
    }
    Ok(())
}

fn check_cluster_identity(c: &SwitchConfig) -> Result {
    if c.cluster_name.trim().is_empty() {
        return Err(Violation::new(
            SwitchField::ClusterName,
            ErrorKind::ClusterName,
            "the cluster name must not be empty",
        ));
    }
    // Lengths only: the secret itself must never appear in a message.
    let len = c.secret.len();
    if len < MIN_SECRET_LEN {
        return Err(Violation::new(
            SwitchField::ClusterSecret,
            ErrorKind::Secret,
            format!("the secret is {len} bytes long; at least {MIN_SECRET_LEN} bytes are required"),
        ));
    }
    Ok(())
}

fn check_timeouts(c: &SwitchConfig) -> Result {
    let t = &c.timeouts;
    for (value, field) in [
        (t.heartbeat_interval_ms, SwitchField::HeartbeatInterval),
        (t.heartbeat_timeout_ms, SwitchField::HeartbeatTimeout),
    ] {
        if value == 0 {
            return Err(Violation::new(
                field,
                ErrorKind::Timeout,
                "must be greater than 0",
            ));
        }
        if value > MAX_TIMEOUT_MS {
            return Err(Violation::new(
                field,
                ErrorKind::Timeout,
                format!("{value} ms is too large: at most {MAX_TIMEOUT_MS} ms (one day)"),
            ));
        }
    }
    if t.heartbeat_timeout_ms <= t.heartbeat_interval_ms {
        return Err(Violation::new(
            SwitchField::HeartbeatTimeout,
            ErrorKind::Timeout,
            format!(
                "heartbeat_timeout_ms ({}) must be greater than heartbeat_interval_ms ({}), \
                 or every processor would be declared failed between two heartbeats",
                t.heartbeat_timeout_ms, t.heartbeat_interval_ms
            ),
        )
        .or(SwitchField::HeartbeatInterval));
    }
    Ok(())
}

fn check_counts(c: &SwitchConfig) -> Result {
    let n = c.feeds.len();
    if n < MIN_RING_FEEDS {
        return Err(Violation::new(
            SwitchField::Feeds,
            ErrorKind::TooFewFeeds,
            format!("a ring needs at least {MIN_RING_FEEDS} feeds, found {n}"),
        ));
    }
    if n > MAX_RING_FEEDS {
        return Err(Violation::new(
            SwitchField::Feeds,
            ErrorKind::TooManyFeeds,
            format!("a ring can have at most {MAX_RING_FEEDS} feeds, found {n}"),
        ));
    }
    let systems = c.systems.len();
    if systems != n + 1 {
        return Err(Violation::new(
            SwitchField::Systems,
            ErrorKind::SystemCount,
            format!(
                "{n} feeds need {} systems (one per feed plus the spare), found {systems}",
                n + 1
            ),
        ));
    }
    Ok(())
}

fn check_systems(c: &SwitchConfig) -> Result {
    let mut first_index: HashMap<MemberId, usize> = HashMap::with_capacity(c.systems.len());
    for (i, s) in c.systems.iter().enumerate() {
        if let Some(first) = first_index.insert(s.member, i) {
            return Err(Violation::new(
                SwitchField::SystemMember(i),
                ErrorKind::DuplicateSystemMember,
                format!(
                    "member {} already holds ring position {first} (systems[{first}])",
                    s.member
                ),
            ));
        }
    }
    Ok(())
}

/// The addresses the switch binds: control, HTTP, every feed input.
fn bound_addresses(c: &SwitchConfig) -> Vec<(SocketAddr, SwitchField)> {
    let mut out = vec![
        (c.control, SwitchField::Control),
        (c.http, SwitchField::Http),
    ];
    out.extend(
        c.feeds
            .iter()
            .enumerate()
            .map(|(i, f)| (f.input, SwitchField::FeedInput(i))),
    );
    out
}

fn check_addresses(c: &SwitchConfig) -> Result {
    let mut used: HashMap<SocketAddr, SwitchField> = HashMap::new();
    for (addr, field) in bound_addresses(c) {
        if addr.port() == 0 {
            return Err(Violation::new(
                field,
                ErrorKind::BadAddress,
                format!("{addr} has port 0; the switch needs a fixed port"),
            ));
        }
        if let Some(first) = used.insert(addr, field) {
            return Err(Violation::new(
                field,
                ErrorKind::DuplicateAddress,
                format!("address {addr} is already used by {first}"),
            ));
        }
    }
    Ok(())
}

fn check_outputs(c: &SwitchConfig) -> Result {
    let bound: HashMap<SocketAddr, SwitchField> = bound_addresses(c).into_iter().collect();
    let mut udp: HashMap<SocketAddr, usize> = HashMap::new();
    let mut files: HashMap<&Path, usize> = HashMap::new();
    for (i, feed) in c.feeds.iter().enumerate() {
        let field = SwitchField::FeedOutput(i);
        match &feed.output {
            OutputTarget::Udp(addr) => {
                if addr.port() == 0 {
                    return Err(Violation::new(
                        field,
                        ErrorKind::BadAddress,
                        format!("{addr} has port 0; an output needs a destination port"),
                    ));
                }
                if let Some(other) = bound.get(addr) {
                    return Err(Violation::new(
                        field,
                        ErrorKind::DuplicateAddress,
                        format!("output udp://{addr} is {other}, an address the switch listens on"),
                    ));
                }
                if let Some(first) = udp.insert(*addr, i) {
                    return Err(Violation::new(
                        field,
                        ErrorKind::DuplicateAddress,
                        format!("output udp://{addr} is already used by feeds[{first}].output"),
                    ));
                }
            }
            OutputTarget::File(path) => {
                if path.as_os_str().is_empty() {
                    return Err(Violation::new(
                        field,
                        ErrorKind::BadOutput,
                        "file:// needs a path, e.g. \"file:///tmp/out.ts\"",
                    ));
                }
                if let Some(first) = files.insert(path, i) {
                    return Err(Violation::new(
                        field,
                        ErrorKind::DuplicateOutput,
                        format!(
                            "output file {} is already used by feeds[{first}].output",
                            path.display()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_cue_objects(c: &SwitchConfig) -> Result {
    for (i, feed) in c.feeds.iter().enumerate() {
        let Some(name) = &feed.cue_object else {
            continue;
        };
        let field = SwitchField::FeedCueObject(i);
        let len = name.len();
        let problem = if len == 0 {
            Some("must not be empty".to_owned())
        } else if len > MAX_CUE_OBJECT_LEN {
            Some(format!(
                "is {len} bytes long; at most {MAX_CUE_OBJECT_LEN} bytes are allowed"
            ))
        } else if name.chars().any(char::is_control) {
            Some(format!("{name:?} contains a control character"))
        } else if name.starts_with('/') {
            Some(format!(
                "{name:?} must not start with '/' (an object name, not a path)"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(Violation::new(
                field,
                ErrorKind::CueObject,
                format!("the cue object name {problem}"),
            ));
        }
    }
    Ok(())
}
