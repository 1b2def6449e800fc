//! The member-to-member request/response vocabulary carried by the transport.
//!
//! The transport moves these values without looking inside; the data path
//! (object service, fragment store) gives them meaning. Block payloads are
//! `serde_bytes` so MessagePack carries them as one bin, not an array of ints.
//! Invariant: every request gets exactly one response (an `Error` at worst).

use serde::{Deserialize, Serialize};

/// A request one member sends another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Liveness and round-trip check.
    Ping,
    /// Transport diagnostics and benchmarks: the peer answers
    /// [`Response::Echo`] with the same bytes (a payload-carrying round trip
    /// that needs no storage).
    Echo {
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Pong,
    /// The answer to [`Request::Echo`]: the payload it carried.
    Echo {
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// The request failed on the peer; `kind` is machine-readable.
    Error {
        kind: ErrorKind,
        message: String,
    },
}

/// Why a peer refused or failed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    NotFound,
    Corrupt,
    Conflict,
    Unavailable,
    BadRequest,
    Internal,
}

/// What a member says about itself in every heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The member's HomeBlock incarnation.
    pub incarnation: u32,
    /// The HomeBlock's dirty bit.
    pub dirty: bool,
    /// True while the member rebuilds and must not serve its stale fragments.
    pub rebuilding: bool,
    /// Objects left in this member's own rebuild.
    pub rebuild_remaining: u64,
}
