//! Upload actors: one per fragment being written on this member, under the
//! member's `fragments` dynamic supervisor (temporary: a crashed upload is
//! not resumed; its coordinator sees the error and the PUT fails whole).
//!
//! Blocks may arrive out of order (requests are handled concurrently); the
//! actor keeps a bounded reorder buffer and appends them in LBN order on the
//! blocking pool, one batch at a time (`ctx.wait` holds the mailbox, so the
//! writer is never used from two places). Invariants: a block is appended
//! exactly once; `finish` succeeds only if blocks 0..rows were all appended;
//! an upload idle for `IDLE_TIMEOUT` (its coordinator died) aborts itself and
//! its temporary file is removed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::fut::wrap_future;
use actix::prelude::*;
use stripecast_persistence::{FragmentSpec, FragmentWriter};
use stripecast_supervisors::{ChildSpec, Restart, StartChild, Supervisor};
use tracing::{debug, warn};

use crate::store::{SharedStore, StoreError};

/// Blocks buffered ahead of the next one to append; a coordinator keeps fewer in flight.
const REORDER_LIMIT_BLOCKS: usize = 256;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The open upload sessions of this member, by upload id.
#[derive(Clone, Default)]
pub struct Uploads(Arc<Mutex<HashMap<u64, Addr<UploadActor>>>>);

impl Uploads {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Addr<UploadActor>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, upload: u64) -> Result<Addr<UploadActor>, StoreError> {
        self.lock()
            .get(&upload)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("upload {upload}")))
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Creates the temporary fragment file (on the blocking pool) and starts
    /// an upload actor owning it under the `fragments` supervisor.
    pub async fn begin(
        &self,
        fragments: &Addr<Supervisor>,
        store: SharedStore,
        upload: u64,
        spec: FragmentSpec,
    ) -> Result<(), StoreError> {
        if self.lock().contains_key(&upload) {
            return Err(StoreError::BadRequest(format!(
                "upload {upload} already open"
            )));
        }
        let writer = store
            .run(move |s| Ok(FragmentWriter::create(s.fragment_dir(), spec)?))
            .await?;
        let slot = Mutex::new(Some(writer));
        let registry = self.clone();
        let (child, actor) =
            ChildSpec::try_new_with_ref(format!("upload-{upload:016x}"), move |_| {
                let writer = slot
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                    .ok_or("an upload is never restarted")?;
                Ok::<_, &str>(UploadActor {
                    upload,
                    writer: Some(writer),
                    next: 0,
                    pending: BTreeMap::new(),
                    failed: None,
                    registry: registry.clone(),
                    last_activity: Instant::now(),
                })
            });
        fragments
            .send(StartChild(child.restart(Restart::Temporary)))
            .await
            .map_err(|e| StoreError::Internal(format!("fragments supervisor: {e}")))?
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let addr = actor
            .addr()
            .ok_or_else(|| StoreError::Internal(format!("upload {upload} did not start")))?;
        self.lock().insert(upload, addr);
        Ok(())
    }
}

pub struct UploadActor {
    upload: u64,
    writer: Option<FragmentWriter>,
    next: u64,
    pending: BTreeMap<u64, Vec<u8>>,
    failed: Option<Failure>,
    registry: Uploads,
    last_activity: Instant,
}

/// One block for the fragment.
#[derive(Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct Append {
    pub lbn: u64,
    pub data: Vec<u8>,
}

/// No more blocks: finalize the fragment (header, checksums, fsync, rename).
#[derive(Message)]
#[rtype(result = "Result<PathBuf, StoreError>")]
pub struct Finish {
    pub object_len: u64,
}

/// Give up: the temporary file is removed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Abort;

impl UploadActor {
    /// Appends the contiguous run of buffered blocks on the blocking pool.
    fn drain(&mut self, ctx: &mut Context<Self>) {
        let mut batch = Vec::new();
        while let Some(data) = self.pending.remove(&self.next) {
            batch.push(data);
            self.next += 1;
        }
        if batch.is_empty() {
            return;
        }
        let Some(mut writer) = self.writer.take() else {
            self.failed
                .get_or_insert_with(|| Failure::other("writer lost"));
            return;
        };
        let work = actix_rt::task::spawn_blocking(move || {
            let mut result = Ok(());
            for block in &batch {
                if let Err(e) = writer.append_block(block) {
                    result = Err(Failure::of(e));
                    break;
                }
            }
            (writer, result)
        });
        ctx.wait(wrap_future::<_, Self>(work).map(|res, act, _| match res {
            Ok((writer, Ok(()))) => act.writer = Some(writer),
            Ok((writer, Err(e))) => {
                act.writer = Some(writer);
                act.failed.get_or_insert(e);
            }
            Err(e) => {
                act.failed
                    .get_or_insert(Failure::other(format!("append task failed: {e}")));
            }
        }));
    }
}

impl Actor for UploadActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_secs(5), |act, ctx| {
            if act.last_activity.elapsed() > IDLE_TIMEOUT {
                warn!(upload = act.upload, "upload idle too long; aborting");
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.registry.lock().remove(&self.upload);
        // An unfinished writer removes its temporary file when dropped.
        self.writer.take();
    }
}

/// Why an upload can take no more blocks (kept so every later request
/// gets the same answer, with its kind: a full disk stays a full disk).
#[derive(Debug, Clone)]
struct Failure {
    message: String,
    storage_full: bool,
}

impl Failure {
    fn of(e: stripecast_persistence::FragmentError) -> Failure {
        let storage_full = matches!(
            &e,
            stripecast_persistence::FragmentError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::StorageFull
        );
        Failure {
            message: e.to_string(),
            storage_full,
        }
    }

    fn other(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            storage_full: false,
        }
    }

    fn to_error(&self) -> StoreError {
        if self.storage_full {
            StoreError::StorageFull(self.message.clone())
        } else {
            StoreError::Internal(self.message.clone())
        }
    }
}

impl Handler<Append> for UploadActor {
    type Result = Result<(), StoreError>;

    fn handle(&mut self, msg: Append, ctx: &mut Context<Self>) -> Self::Result {
        self.last_activity = Instant::now();
        if let Some(f) = &self.failed {
            return Err(f.to_error());
        }
        if msg.lbn < self.next || self.pending.contains_key(&msg.lbn) {
            return Err(StoreError::BadRequest(format!(
                "block {} sent twice",
                msg.lbn
            )));
        }
        if self.pending.len() >= REORDER_LIMIT_BLOCKS {
            return Err(StoreError::BadRequest(format!(
                "block {} too far ahead of block {}",
                msg.lbn, self.next
            )));
        }
        self.pending.insert(msg.lbn, msg.data);
        self.drain(ctx);
        Ok(())
    }
}

impl Handler<Finish> for UploadActor {
    // A plain future: it must outlive this actor, which stops right away.
    type Result = ResponseFuture<Result<PathBuf, StoreError>>;

    fn handle(&mut self, msg: Finish, ctx: &mut Context<Self>) -> Self::Result {
        self.last_activity = Instant::now();
        // Earlier appends finished before this message ran (ctx.wait holds the mailbox).
        let problem = if let Some(f) = &self.failed {
            Some(f.to_error())
        } else if !self.pending.is_empty() {
            Some(StoreError::Internal(format!(
                "missing block {} (have {} later ones)",
                self.next,
                self.pending.len()
            )))
        } else {
            None
        };
        let writer = self.writer.take();
        ctx.stop();
        let upload = self.upload;
        Box::pin(async move {
            if let Some(p) = problem {
                return Err(p);
            }
            let writer = writer.ok_or_else(|| StoreError::Internal("writer lost".into()))?;
            let path = actix_rt::task::spawn_blocking(move || writer.finish(msg.object_len))
                .await
                .map_err(|e| StoreError::Internal(format!("finish task failed: {e}")))??;
            debug!(upload, path = %path.display(), "fragment written");
            Ok(path)
        })
    }
}

impl Handler<Abort> for UploadActor {
    type Result = ();

    fn handle(&mut self, _: Abort, ctx: &mut Context<Self>) {
        self.writer.take();
        ctx.stop();
    }
}
