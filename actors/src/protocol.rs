//! The member-to-member request/response vocabulary carried by the transport.
//!
//! The transport moves these values without looking inside; the data path
//! (object service, fragment store) gives them meaning. Block payloads are
//! `serde_bytes` so MessagePack carries them as one bin, not an array of ints.
//! Invariant: every request gets exactly one response (an `Error` at worst).

use serde::{Deserialize, Serialize};
use stripecast_config::MemberId;
use stripecast_persistence::Incarnation;

/// Most blocks one [`Request::ReadBlocks`] asks for (4 MiB at a 64 KiB stripe).
pub const READ_BLOCKS_MAX: u32 = 64;

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
    /// Open an upload session writing this member's fragment of a new incarnation.
    BeginUpload { upload: u64, spec: UploadSpec },
    /// One block of the fragment; blocks may arrive out of order, each exactly once.
    AppendBlock {
        upload: u64,
        lbn: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// All blocks sent: write header and checksums, fsync, rename into place.
    FinishUpload { upload: u64, object_len: u64 },
    /// Forget the session and any file it wrote.
    AbortUpload { upload: u64 },
    /// The whole fragment of an object of at most one row, in one request:
    /// the member builds it (header, checksum) and stores it packed,
    /// durably (group commit), before it answers. `block` is the member's
    /// block of row 0, trailing zeros trimmed (empty for a zero-length
    /// object or an all-zero block).
    StoreFragment {
        spec: UploadSpec,
        object_len: u64,
        #[serde(with = "serde_bytes")]
        block: Vec<u8>,
    },
    /// Forget this member's packed fragment of (name, incarnation): a
    /// `StoreFragment` whose PUT failed before its commit was proposed.
    ForgetFragment {
        name: String,
        incarnation: Incarnation,
        members: u8,
    },
    /// Pin this member's fragment of (name, incarnation) open for a read session.
    OpenRead {
        session: u64,
        name: String,
        incarnation: Incarnation,
    },
    /// One block of a pinned fragment, checksum-verified.
    ReadBlock {
        session: u64,
        name: String,
        incarnation: Incarnation,
        lbn: u64,
    },
    /// Blocks `first_lbn..first_lbn + count` of this member's fragment of
    /// (name, incarnation), each checksum-verified (a bad one answers
    /// `None`), at most [`READ_BLOCKS_MAX`]: a rebuild reads a run of rows
    /// in one round trip per member.
    ReadBlocks {
        name: String,
        incarnation: Incarnation,
        first_lbn: u64,
        count: u32,
    },
    /// Release the pins of a read session.
    CloseRead { session: u64 },
    /// A message of the metadata Raft group (protobuf-encoded `eraftpb::Message`);
    /// answered `Done` at once, whatever Raft makes of it.
    Raft {
        #[serde(with = "serde_bytes")]
        msg: Vec<u8>,
    },
    /// A Raft message for member `to`, whose link with the sender is down:
    /// the receiver passes it on (as `Raft`, never relayed again). So a
    /// member cut off from the leader alone (a partial partition) still
    /// follows it through any member both can reach.
    RaftRelay {
        to: MemberId,
        #[serde(with = "serde_bytes")]
        msg: Vec<u8>,
    },
    /// Replace one block of this member's fragment (repair after bit rot or rebuild).
    WriteBlock {
        name: String,
        incarnation: Incarnation,
        lbn: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
}

impl Request {
    /// Control traffic (the metadata group's messages): small, and late only
    /// at the cost of elections and failed reads. It skips the data path's
    /// request window and queues on both sides and is written before any
    /// queued data (see the transport's lanes).
    pub fn is_control(&self) -> bool {
        matches!(self, Request::Raft { .. } | Request::RaftRelay { .. })
    }
}

/// The parameters of one member's fragment of a new incarnation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSpec {
    pub name: String,
    pub incarnation: Incarnation,
    pub creation_time_ns: u64,
    pub stripe_size: u32,
    pub members: u8,
    pub parity: u8,
    /// Which column of the layout this member holds.
    pub fragment_index: u8,
}

/// An object's catalog record as it travels between members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordWire {
    pub name: String,
    pub length: u64,
    pub incarnation: Incarnation,
    pub members: u8,
    pub parity: u8,
    pub stripe_size: u32,
    pub crc32c: u32,
    pub creation_time_ns: u64,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Pong,
    Done,
    Block(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The answer to [`Request::ReadBlocks`]: one entry per block, `None`
    /// where the block failed its checksum or could not be read.
    Blocks(Vec<Option<serde_bytes::ByteBuf>>),
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
    /// The member's disk is full: it cannot store this (a write leaves it
    /// out; a write that loses its quorum to full disks is 507).
    StorageFull,
}

/// What a member says about itself in every heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The member's HomeBlock incarnation.
    pub incarnation: stripecast_persistence::VolumeIncarnation,
    /// The HomeBlock's dirty bit.
    pub dirty: bool,
    /// True while the member rebuilds and must not serve its stale fragments.
    pub rebuilding: bool,
    /// Objects left in this member's own rebuild.
    pub rebuild_remaining: u64,
    /// No HomeBlock yet: a new member, or one whose disk was replaced.
    #[serde(default)]
    pub fresh: bool,
    /// Objects in this member's catalog.
    #[serde(default)]
    pub objects: u64,
    /// The cluster volume id from the HomeBlock (0 while fresh).
    #[serde(default)]
    pub volume_id: u32,
    /// Members whose dirty sets this member holds marks for: a member listed
    /// by any live peer is not current, whatever its incarnation.
    #[serde(default)]
    pub marks_for: Vec<MemberId>,
    /// The highest metadata log index this member has applied.
    #[serde(default)]
    pub applied_index: crate::meta::LogIndex,
}
