//! Errors of the object service, each mapping to one HTTP status.

use crate::protocol::ErrorKind;
use crate::store::StoreError;
use stripecast_config::MemberId;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// Not enough members to serve this safely (HTTP 503): never wrong bytes.
    #[error("{0}")]
    Unavailable(String),
    /// A member this request needed could not be reached (HTTP 503); the
    /// cause keeps its kind (down, busy, timed out...).
    #[error("member {member}: {cause}")]
    Unreachable {
        member: MemberId,
        cause: crate::transport::TransportError,
    },
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::NotFound(_) => 404,
            ServiceError::BadRequest(_) => 400,
            ServiceError::Unavailable(_) | ServiceError::Unreachable { .. } => 503,
            ServiceError::Internal(_) => 500,
        }
    }

    /// From a peer's error answer.
    pub fn from_wire(member: MemberId, kind: ErrorKind, message: &str) -> ServiceError {
        let m = format!("member {member}: {message}");
        match kind {
            ErrorKind::NotFound => ServiceError::NotFound(m),
            ErrorKind::BadRequest => ServiceError::BadRequest(m),
            ErrorKind::Unavailable => ServiceError::Unavailable(m),
            _ => ServiceError::Internal(m),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e.kind() {
            ErrorKind::NotFound => ServiceError::NotFound(e.to_string()),
            ErrorKind::BadRequest => ServiceError::BadRequest(e.to_string()),
            ErrorKind::Unavailable => ServiceError::Unavailable(e.to_string()),
            _ => ServiceError::Internal(e.to_string()),
        }
    }
}
