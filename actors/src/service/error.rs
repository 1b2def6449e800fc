//! Errors of the object service, each mapping to one HTTP status.
//!
//! The two kinds a client cannot fix, 503 and 500, carry their cause as
//! data ([`Unavailable`], [`Internal`]): a caller (the rebuild job, the
//! ring's fetch, a test) can tell a write quorum lost from a metadata
//! timeout or a codec failure without reading the message. The message
//! is what the error body shows; it never names a path or a secret.

use stripecast_config::MemberId;
use stripecast_persistence::{CodecError, DecodeError, Incarnation};

use crate::meta::runner::WaitError;
use crate::meta::Applied;
use crate::protocol::ErrorKind;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// Not enough members to serve this safely (HTTP 503): never wrong bytes.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// A member this request needed could not be reached (HTTP 503); the
    /// cause keeps its kind (down, busy, timed out...).
    #[error("member {member}: {cause}")]
    Unreachable {
        member: MemberId,
        cause: crate::transport::TransportError,
    },
    /// A fault of this member or a peer (HTTP 500).
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// Why a request cannot be served safely now (HTTP 503; the client retries).
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// Members failed during a write and too few are left to take it;
    /// `full` of them answered that their disk is full.
    #[error("cannot write: only {left} members could take their fragments ({failed:?} failed, {full:?} of them full); writes need {needed}")]
    WriteFailed {
        left: usize,
        failed: Vec<MemberId>,
        full: Vec<MemberId>,
        needed: usize,
    },
    /// Too many members are down to start a write.
    #[error("cannot write: members {down:?} are down; writes need {needed} of {members} members")]
    MembersDown {
        down: Vec<MemberId>,
        needed: usize,
        members: usize,
    },
    /// This member's metadata replica is not running.
    #[error("member {member}: the metadata replica is not running; retry")]
    NoMetadata { member: MemberId },
    /// The metadata group did not answer (no leader confirms, busy, timeout).
    #[error("member {member}: metadata group: {cause}; retry")]
    Metadata {
        member: MemberId,
        #[source]
        cause: WaitError,
    },
    /// The PUT's incarnation came from a block reserved too long ago.
    #[error("commit of {object:?}: incarnation {incarnation} was reserved too long ago; retry")]
    ReservationExpired {
        object: String,
        incarnation: Incarnation,
    },
    /// More fragments of the object are unreadable than parity covers.
    #[error("object {object:?}: fragments on members {missing:?} are unavailable and parity covers {parity}")]
    FragmentsMissing {
        object: String,
        missing: Vec<MemberId>,
        parity: usize,
    },
    /// Too few blocks of one row are readable to rebuild it.
    #[error("object {object:?} row {row}: only {have} of the {needed} blocks needed to rebuild are readable")]
    RowUnreadable {
        object: String,
        row: u64,
        have: usize,
        needed: usize,
    },
    /// A peer answered that it cannot serve this now.
    #[error("member {member}: {message}")]
    Remote { member: MemberId, message: String },
    /// This member's store cannot serve this now.
    #[error(transparent)]
    Store(StoreError),
}

/// A fault of the cluster rather than of the request (HTTP 500).
#[derive(Debug, thiserror::Error)]
pub enum Internal {
    /// The metadata group applied a command with an outcome this step
    /// does not expect.
    #[error("{what}: unexpected outcome {outcome:?}")]
    Unexpected { what: String, outcome: Box<Applied> },
    /// The erasure code failed on blocks that passed their checks.
    #[error("{what}: {source}")]
    Codec {
        what: String,
        #[source]
        source: CodecError,
    },
    /// A stored record does not decode.
    #[error("record of {object:?}: {source}")]
    Record {
        object: String,
        #[source]
        source: DecodeError,
    },
    /// A block the read planned for is not there (or too short).
    #[error("object {object:?} block {block}: {why}")]
    Block {
        object: String,
        block: u64,
        why: String,
    },
    /// A peer answered with an internal error.
    #[error("member {member}: {message}")]
    Remote { member: MemberId, message: String },
    /// This member's store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl ServiceError {
    /// The error body's message: this one's, with a store failure told by
    /// its kind only ([`StoreError::public_message`]), never its paths.
    pub fn public_message(&self) -> String {
        match self {
            ServiceError::Unavailable(Unavailable::Store(e))
            | ServiceError::Internal(Internal::Store(e)) => e.public_message(),
            _ => self.to_string(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ServiceError::NotFound(_) => 404,
            ServiceError::BadRequest(_) => 400,
            // The quorum was lost to full disks: 507 (the client should
            // not just retry; someone must make room).
            ServiceError::Unavailable(Unavailable::WriteFailed {
                left, full, needed, ..
            }) if !full.is_empty() && left + full.len() >= *needed => 507,
            ServiceError::Unavailable(_) | ServiceError::Unreachable { .. } => 503,
            ServiceError::Internal(_) => 500,
        }
    }

    /// From a peer's error answer.
    pub fn from_wire(member: MemberId, kind: ErrorKind, message: &str) -> ServiceError {
        let message = message.to_string();
        match kind {
            ErrorKind::NotFound => ServiceError::NotFound(format!("member {member}: {message}")),
            ErrorKind::BadRequest => {
                ServiceError::BadRequest(format!("member {member}: {message}"))
            }
            ErrorKind::Unavailable | ErrorKind::StorageFull => {
                Unavailable::Remote { member, message }.into()
            }
            _ => Internal::Remote { member, message }.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e.kind() {
            ErrorKind::NotFound => ServiceError::NotFound(e.to_string()),
            ErrorKind::BadRequest => ServiceError::BadRequest(e.to_string()),
            ErrorKind::Unavailable | ErrorKind::StorageFull => Unavailable::Store(e).into(),
            _ => Internal::Store(e).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that lost its quorum is 507 when the full disks alone made
    /// the difference, 503 otherwise.
    #[test]
    fn a_quorum_lost_to_full_disks_is_507() {
        let m = |ids: &[u32]| ids.iter().map(|&i| MemberId::new(i)).collect::<Vec<_>>();
        for (left, failed, full, needed, status) in [
            (3, m(&[3, 4]), m(&[3, 4]), 4, 507),
            (3, m(&[3, 4]), m(&[4]), 4, 507),
            (2, m(&[2, 3, 4]), m(&[4]), 4, 503),
            (3, m(&[3, 4]), m(&[]), 4, 503),
        ] {
            let e = ServiceError::from(Unavailable::WriteFailed {
                left,
                failed: failed.clone(),
                full: full.clone(),
                needed,
            });
            assert_eq!(e.status(), status, "left {left}, full {full:?}");
        }
    }

    /// An error body tells a store failure by its kind, never by its path.
    #[test]
    fn store_failures_show_no_path() {
        let io = || std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let path = std::path::Path::new("/srv/secret-place/fragments/ab/x.0of3");
        for e in [
            ServiceError::from(StoreError::io(path, io())),
            Internal::Store(StoreError::io(path, io())).into(),
            Unavailable::Store(StoreError::io(path, io())).into(),
        ] {
            assert!(e.to_string().contains("secret-place"), "the log keeps it");
            let body = e.public_message();
            assert!(
                !body.contains("secret-place") && !body.contains("/srv"),
                "{body}"
            );
            assert!(body.contains("storage full"), "{body}");
            assert_eq!(StoreError::io(path, io()).kind(), ErrorKind::StorageFull);
        }
    }

    /// A peer's answer keeps its kind, and so its status, and names the peer.
    #[test]
    fn wire_kinds_map_to_statuses_and_keep_the_member() {
        let m = MemberId::new(2);
        for (kind, status) in [
            (ErrorKind::NotFound, 404),
            (ErrorKind::BadRequest, 400),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::Internal, 500),
        ] {
            let e = ServiceError::from_wire(m, kind, "why");
            assert_eq!(e.status(), status, "{kind:?}");
            assert_eq!(e.to_string(), "member 2: why");
        }
        assert!(matches!(
            ServiceError::from_wire(m, ErrorKind::Unavailable, "x"),
            ServiceError::Unavailable(Unavailable::Remote { member, .. }) if member == m
        ));
    }

    /// A metadata wait keeps its cause: a timeout is not a refusal.
    #[test]
    fn a_metadata_wait_keeps_its_cause() {
        let e: ServiceError = Unavailable::Metadata {
            member: MemberId::new(1),
            cause: WaitError::Timeout,
        }
        .into();
        assert_eq!(e.status(), 503);
        assert!(matches!(
            e,
            ServiceError::Unavailable(Unavailable::Metadata {
                cause: WaitError::Timeout,
                ..
            })
        ));
        assert!(e
            .to_string()
            .starts_with("member 1: metadata group: no answer"));
    }
}
