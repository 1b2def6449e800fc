//! The history of a chaos run, as JSON lines.
//!
//! One [`Entry`] per line, tagged by `"type"`: `op` (one client operation
//! with its interval, member, HTTP status, outcome and, for reads, which
//! write's bytes came back), `fault` (one nemesis interval), `converged`
//! (how long the healed cluster took to settle) and `scrub` (one member's
//! final scrub). A history written by an outside workload needs only `op`
//! lines: `{"type":"op","client":0,"seq":0,"kind":"put","key":"a",
//! "value":"w1","start_us":0,"end_us":10,"outcome":"ok"}`.
//!
//! Invariants: times are microseconds from the run's start on one clock;
//! `value` names a write uniquely within its key (`None` on a read means
//! the key was absent, a 404); a read whose 200 body matched no write has
//! `unmatched` set instead of `value`.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    Op(Op),
    Fault(FaultSpan),
    Converged {
        /// From "everything healed" to "every member sees every member up".
        after_ms: u64,
        /// False when the cluster had not converged when the runner gave up.
        #[serde(default = "yes")]
        converged: bool,
    },
    Scrub {
        member: u32,
        corrupt: u64,
        repaired: u64,
        unrepairable: u64,
        /// Set when the scrub request itself failed (e.g. the member answered 503).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

fn yes() -> bool {
    true
}

/// What an operation did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Put,
    Get,
    Delete,
}

/// What the client knows about an operation's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Acknowledged: a 2xx for writes, a 200 or 404 for reads.
    Ok,
    /// Definitely without effect (the request never reached a member).
    Fail,
    /// Unknown: a write may or may not have taken effect, at any time after it started
    /// (a timeout, a 4xx or 5xx, a connection cut mid-request).
    Info,
}

/// One client operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// The client that ran it; final reads use [`FINAL_CLIENT`].
    pub client: u32,
    /// The client's sequence number of this operation.
    pub seq: u64,
    pub kind: OpKind,
    pub key: String,
    /// The member the request went to.
    #[serde(default)]
    pub member: u32,
    pub start_us: u64,
    pub end_us: u64,
    /// HTTP status, absent when no answer came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub outcome: Outcome,
    /// Put: the id of the value written. Get: the id of the write whose bytes
    /// came back (`None`: the key was absent). Delete: unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Get: a 200 whose body is no write of this key, and what it looked like.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmatched: Option<String>,
    /// Body length written or read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u64>,
    /// A read of the final state, after the cluster was healed and converged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub final_read: bool,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The client id of the runner's final reads.
pub const FINAL_CLIENT: u32 = u32::MAX;

impl Op {
    pub fn is_write(&self) -> bool {
        matches!(self.kind, OpKind::Put | OpKind::Delete)
    }
}

/// One nemesis fault, from injection to heal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpan {
    /// The fault kind's name (`kill`, `stop`, ...; see [`crate::FaultKind`]).
    pub kind: String,
    pub members: Vec<u32>,
    pub start_us: u64,
    pub end_us: u64,
    /// What exactly was done (file flipped, message injected, link settings).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// Why a history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("line {line}: {source}")]
    Parse {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("reading the history: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a history of JSON lines (blank lines are skipped).
pub fn read(input: impl BufRead) -> Result<Vec<Entry>, HistoryError> {
    let mut out = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let e = serde_json::from_str(&line).map_err(|source| HistoryError::Parse {
            line: i + 1,
            source,
        })?;
        out.push(e);
    }
    Ok(out)
}

/// Writes a history as JSON lines.
pub fn write(mut out: impl Write, entries: &[Entry]) -> std::io::Result<()> {
    for e in entries {
        serde_json::to_writer(&mut out, e)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_minimal_outside_lines() {
        let entries = vec![
            Entry::Op(Op {
                client: 1,
                seq: 2,
                kind: OpKind::Get,
                key: "k".into(),
                member: 3,
                start_us: 5,
                end_us: 9,
                status: Some(200),
                outcome: Outcome::Ok,
                value: Some("c1.1".into()),
                unmatched: None,
                len: Some(40),
                final_read: false,
                error: None,
            }),
            Entry::Fault(FaultSpan {
                kind: "kill".into(),
                members: vec![2],
                start_us: 1,
                end_us: 4,
                detail: String::new(),
            }),
            Entry::Converged {
                after_ms: 12,
                converged: true,
            },
            Entry::Scrub {
                member: 0,
                corrupt: 1,
                repaired: 1,
                unrepairable: 0,
                error: None,
            },
        ];
        let mut buf = Vec::new();
        write(&mut buf, &entries).unwrap();
        assert_eq!(read(&buf[..]).unwrap(), entries);

        let outside = r#"{"type":"op","client":0,"seq":0,"kind":"put","key":"a","value":"w1","start_us":0,"end_us":10,"outcome":"ok"}"#;
        let e = read(outside.as_bytes()).unwrap();
        assert!(matches!(&e[0], Entry::Op(op) if op.value.as_deref() == Some("w1")));
    }

    #[test]
    fn a_bad_line_is_named() {
        let text = "\n{\"type\":\"op\"}\n";
        match read(text.as_bytes()) {
            Err(HistoryError::Parse { line, .. }) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
    }
}
