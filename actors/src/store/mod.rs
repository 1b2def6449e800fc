//! This member's storage: the fragment files and the sled catalog
//! ([`LocalStore`]), the store actor that owns them under supervision, and the
//! upload actors that write new fragments.

pub mod group_commit;
mod local;
pub mod upload;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use actix::prelude::*;
use stripecast_config::MemberId;
use stripecast_persistence::packed::PackedError;
use stripecast_persistence::{CatalogError, FragmentError};
use tracing::error;

pub use local::{FragmentAt, LocalStore, MirrorChange, VolumeMirror};
pub use upload::{UploadActor, Uploads};

use crate::protocol::ErrorKind;

/// What can go wrong in this member's storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Fragment(#[from] FragmentError),
    #[error(transparent)]
    Packed(#[from] PackedError),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("the store is not open")]
    Closed,
    #[error("{0}")]
    BadRequest(String),
    /// A bounded queue is full: retry later.
    #[error("busy: {0}")]
    Busy(String),
    /// The disk is full (what failed, for the log).
    #[error("{0}")]
    StorageFull(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether this failure is a full disk (so the member is left out of
    /// the write as a down one is, and a write that loses its quorum to
    /// full disks is answered 507).
    pub fn is_storage_full(&self) -> bool {
        let full = |e: &std::io::Error| e.kind() == std::io::ErrorKind::StorageFull;
        match self {
            StoreError::StorageFull(_) => true,
            StoreError::Io { source, .. } => full(source),
            StoreError::Fragment(FragmentError::Io { source, .. }) => full(source),
            StoreError::Packed(PackedError::Io { source, .. }) => full(source),
            _ => false,
        }
    }

    /// What a client or a peer is told: the kind of failure without the
    /// paths and the lower layers' detail the full message carries (that
    /// goes to this member's log).
    pub fn public_message(&self) -> String {
        if self.is_storage_full() {
            return "cannot store: storage full".to_string();
        }
        match self {
            StoreError::Io { source, .. } => format!("storage I/O failed ({})", source.kind()),
            StoreError::Catalog(_) => "the catalog failed".to_string(),
            StoreError::Fragment(FragmentError::ChecksumMismatch { .. }) => {
                "fragment checksum mismatch".to_string()
            }
            StoreError::Fragment(FragmentError::Io { source, .. }) => {
                format!("fragment I/O failed ({})", source.kind())
            }
            StoreError::Fragment(_) => "fragment unreadable".to_string(),
            StoreError::Packed(_) => "packed fragment store failed".to_string(),
            StoreError::Internal(_) | StoreError::StorageFull(_) => "internal error".to_string(),
            StoreError::NotFound(_)
            | StoreError::Closed
            | StoreError::BadRequest(_)
            | StoreError::Busy(_) => self.to_string(),
        }
    }

    /// The wire kind of this error.
    pub fn kind(&self) -> ErrorKind {
        if self.is_storage_full() {
            return ErrorKind::StorageFull;
        }
        match self {
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::Fragment(FragmentError::ChecksumMismatch { .. }) => ErrorKind::Corrupt,
            StoreError::Fragment(FragmentError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                ErrorKind::NotFound
            }
            StoreError::Fragment(_) => ErrorKind::Corrupt,
            StoreError::Packed(PackedError::Damaged { .. }) => ErrorKind::Corrupt,
            StoreError::Closed | StoreError::Busy(_) => ErrorKind::Unavailable,
            StoreError::BadRequest(_) | StoreError::Packed(PackedError::Invalid(_)) => {
                ErrorKind::BadRequest
            }
            _ => ErrorKind::Internal,
        }
    }
}

/// Where the store actor publishes the open store; empty while it restarts.
#[derive(Clone, Default)]
pub struct SharedStore(Arc<RwLock<Option<Arc<LocalStore>>>>);

impl SharedStore {
    pub fn get(&self) -> Result<Arc<LocalStore>, StoreError> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(StoreError::Closed)
    }

    fn set(&self, store: Option<Arc<LocalStore>>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = store;
    }

    /// Runs `f` on the store on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&LocalStore) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.get()?;
        actix_rt::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Internal(format!("storage task failed: {e}")))?
    }
}

/// Owns the open store: opens it on (re)start, publishes it, closes it on stop.
/// Build it with `ChildSpec::try_new`: a store that cannot open is this
/// child's abnormal exit, retried by its supervisor.
pub struct StoreActor {
    shared: SharedStore,
}

impl StoreActor {
    pub fn open(
        shared: SharedStore,
        data_dir: &Path,
        member: MemberId,
        reader_cache_files: usize,
    ) -> Result<StoreActor, StoreError> {
        let store = LocalStore::open(data_dir, member, reader_cache_files).inspect_err(|e| {
            error!(%member, error = %e, "cannot open the store");
        })?;
        shared.set(Some(Arc::new(store)));
        Ok(StoreActor { shared })
    }
}

impl Actor for StoreActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.shared.set(None);
    }
}
