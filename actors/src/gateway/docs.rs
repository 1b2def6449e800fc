//! The documents of the member HTTP API, defined once: the server writes
//! them, the CLI and the tests read them with the same types, so a renamed
//! field or a new state is a compile error in every reader, not a `?` in
//! its output. States are enums (their JSON names are the lowercase words
//! operators' scripts match on: `up`, `down`, `rebuilding`).

use serde::{Deserialize, Serialize};
use stripecast_config::MemberId;
pub use stripecast_persistence::{Incarnation, VolumeIncarnation};

pub use crate::meta::{LogIndex, MetaRole, MetaStatus, Term};
pub use crate::service::PutOutcome;

/// A member's state as `/v1/cluster` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    /// Serving, with every object current.
    Up,
    /// Unreachable from the member that answered.
    Down,
    /// Back, catching up on the objects written while it was away.
    Rebuilding,
}

impl MemberState {
    /// The JSON word.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Up => "up",
            MemberState::Down => "down",
            MemberState::Rebuilding => "rebuilding",
        }
    }
}

impl std::fmt::Display for MemberState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the answering member's link to a peer (the witness) is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    Up,
    Down,
}

/// One member as `/v1/cluster` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberDoc {
    pub id: MemberId,
    pub state: MemberState,
    pub http: String,
    /// Its HomeBlock's volume incarnation.
    pub incarnation: VolumeIncarnation,
    /// Objects this member still has to rebuild (0 when current).
    pub dirty: u64,
    /// The highest metadata log index the member has applied (its own, or
    /// as its heartbeats last said).
    #[serde(default)]
    pub applied_index: LogIndex,
    /// How far it is behind the commit index this member knows, in entries.
    #[serde(default)]
    pub lag: u64,
}

/// The `/v1/cluster` document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClusterDoc {
    /// The member that answered.
    pub id: MemberId,
    pub cluster: String,
    /// The answering member's HomeBlock volume incarnation.
    pub incarnation: VolumeIncarnation,
    pub controller: Option<MemberId>,
    pub members: Vec<MemberDoc>,
    pub objects: usize,
    /// This member's view of the metadata Raft group (absent while it is not running).
    #[serde(default)]
    pub meta: Option<MetaStatus>,
    /// The cluster's witness, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<WitnessDoc>,
}

impl ClusterDoc {
    /// Member `id` as this document shows it.
    pub fn member(&self, id: MemberId) -> Option<&MemberDoc> {
        self.members.iter().find(|m| m.id == id)
    }

    /// The metadata group's term this member knows (0 while it has none).
    pub fn term(&self) -> Term {
        self.meta.as_ref().map_or(Term::default(), |m| m.term)
    }
}

/// The witness as a member sees it: a voter of the metadata group, no data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessDoc {
    pub id: MemberId,
    pub state: LinkState,
}

/// One object of the `/v1/objects` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    pub name: String,
    pub length: u64,
    pub incarnation: Incarnation,
    pub created_ns: u64,
}

/// Every error body: `{"error": message, "status": code}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDoc {
    pub error: String,
    pub status: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words operators' scripts match on stay what they were.
    #[test]
    fn states_are_the_lowercase_words() {
        for (state, word) in [
            (MemberState::Up, "up"),
            (MemberState::Down, "down"),
            (MemberState::Rebuilding, "rebuilding"),
        ] {
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{word}\"")
            );
            assert_eq!(state.to_string(), word);
            let back: MemberState = serde_json::from_str(&format!("\"{word}\"")).unwrap();
            assert_eq!(back, state);
        }
        assert_eq!(serde_json::to_string(&LinkState::Down).unwrap(), "\"down\"");
        assert!(serde_json::from_str::<MemberState>("\"sideways\"").is_err());
    }
}
