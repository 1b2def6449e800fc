//! Test-only hooks a member can be started with (`stripecast node
//! --test-hook NAME`, repeatable). Off by default; a member started without
//! them has neither the endpoint nor the behaviour below.
//!
//! * `inject`: `POST /v1/inject` with `{"from": PEER, "request": REQUEST}`
//!   or `{"from": PEER, "heartbeat": STATUS}`. A heartbeat STATUS (a
//!   [`crate::protocol::NodeStatus`]) enters the membership view as PEER's
//!   latest status, exactly as one arriving on PEER's link would, and stays
//!   until PEER's real status next changes (links report changes only). A
//!   member told that a peer holds a newer HomeBlock incarnation must treat
//!   itself as stale (answer 503 or rebuild), never serve or acknowledge
//!   anything wrong. A REQUEST is handed (any [`crate::protocol::Request`], in its serde JSON form,
//!   e.g. `{"Raft": {"msg": [...]}}`) to this member's request handler
//!   exactly as if peer PEER had sent it over its authenticated link, and
//!   answers the handler's [`crate::protocol::Response`] as JSON. What a
//!   member must do with the crafted messages `stripecast chaos` injects
//!   ([`stale_raft_message`]): a Raft append, vote request or heartbeat of
//!   a term below the current one (a deposed leader's, e.g. carrying a
//!   stale `Commit`) changes nothing, whatever it carries. Every other
//!   request is injectable too and is handled as from a peer; forging a
//!   block write is possible and is exactly as destructive as a malicious
//!   member would be: that is what the hook is for.
//! * `serve-unverified`: blocks are served to peers without checking their
//!   CRC-32C. A planted fault: with disk rot, such a member serves wrong
//!   bytes, which `stripecast chaos` must report.

use std::fmt;

use protobuf::Message as _;
use raft::eraftpb::{Entry, Message, MessageType};

use crate::meta::group::raft_id;
use crate::meta::MetaCommand;
use stripecast_config::MemberId;

/// A Raft message a deposed member could still send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaleRaft {
    /// An append carrying `command` as a new entry after `index`.
    Append { command: MetaCommand, index: u64 },
    /// A vote request.
    Vote,
    /// A leader's heartbeat.
    Heartbeat,
}

/// The encoded Raft message `from` would send `to` as a member of `term`
/// (for `Request::Raft`): what a deposed leader or candidate still sends.
pub fn stale_raft_message(
    kind: &StaleRaft,
    from: MemberId,
    to: MemberId,
    term: u64,
) -> Result<Vec<u8>, StaleRaftError> {
    let mut m = Message {
        from: raft_id(from),
        to: raft_id(to),
        term,
        ..Default::default()
    };
    match kind {
        StaleRaft::Append { command, index } => {
            m.set_msg_type(MessageType::MsgAppend);
            m.index = *index;
            m.log_term = term;
            m.commit = *index + 1;
            let e = Entry {
                term,
                index: index + 1,
                data: rmp_serde::to_vec(command)?.into(),
                ..Default::default()
            };
            m.entries = vec![e].into();
        }
        StaleRaft::Vote => {
            m.set_msg_type(MessageType::MsgRequestVote);
            m.index = 0;
            m.log_term = term;
        }
        StaleRaft::Heartbeat => m.set_msg_type(MessageType::MsgHeartbeat),
    }
    Ok(m.write_to_bytes()?)
}

/// Why a stale Raft message could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StaleRaftError {
    #[error("command: {0}")]
    Command(#[from] rmp_serde::encode::Error),
    #[error("raft message: {0}")]
    Message(#[from] protobuf::ProtobufError),
}

/// The hooks a member runs with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestHooks {
    /// `POST /v1/inject` is open.
    pub inject: bool,
    /// Block reads skip checksum verification (a planted fault).
    pub serve_unverified: bool,
}

/// A hook name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown test hook `{0}` (known: inject, serve-unverified)")]
pub struct UnknownHook(pub String);

impl TestHooks {
    /// The hooks named in `names` (`inject`, `serve-unverified`).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<TestHooks, UnknownHook> {
        let mut h = TestHooks::default();
        for n in names {
            match n.as_ref() {
                "inject" => h.inject = true,
                "serve-unverified" => h.serve_unverified = true,
                other => return Err(UnknownHook(other.to_string())),
            }
        }
        Ok(h)
    }

    pub fn any(&self) -> bool {
        *self != TestHooks::default()
    }
}

impl fmt::Display for TestHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = Vec::new();
        if self.inject {
            names.push("inject");
        }
        if self.serve_unverified {
            names.push("serve-unverified");
        }
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_hooks_and_names_unknown_ones() {
        assert_eq!(TestHooks::parse::<&str>(&[]).unwrap(), TestHooks::default());
        let h = TestHooks::parse(&["inject", "serve-unverified"]).unwrap();
        assert!(h.inject && h.serve_unverified && h.any());
        assert_eq!(h.to_string(), "inject,serve-unverified");
        assert_eq!(
            TestHooks::parse(&["injekt"]).unwrap_err().to_string(),
            "unknown test hook `injekt` (known: inject, serve-unverified)"
        );
    }
}
