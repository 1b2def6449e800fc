//! Group commit of packed fragments: one thread per open store takes the
//! fragment images waiting in its bounded queue, appends them to the
//! current segment with one `fdatasync` for all (the index catches up
//! lazily, see `stripecast_persistence::packed`), and answers every writer.
//!
//! Concurrent PUTs of small objects thus share their fsyncs: under load a
//! flush carries as many fragments as arrived while the previous one ran
//! (up to `GROUP_COMMIT_MAX_FRAGMENTS`), alone it costs one flush, as
//! before. Invariants: a writer is answered `Ok` only after the flush that
//! made its image durable; the queue is bounded (`QUEUE_FRAGMENTS`): a
//! fragment that does not fit fails at once (the coordinator leaves this
//! member out of that PUT); the thread ends when the store is dropped.
//! The same thread compacts the segments (a bounded step when idle for
//! `IDLE_COMPACT_MS`, and once every `COMPACT_EVERY_FLUSHES` flushes), so
//! dead space left by replaced fragments does not grow without bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use stripecast_config::MemberId;
use stripecast_persistence::PackedFragments;
use tokio::sync::oneshot;

use crate::store::StoreError;

/// Fragments waiting for a flush, at most.
pub const QUEUE_FRAGMENTS: usize = 1024;

/// Fragments written by one flush, at most (bounds a batch to about 10 MiB).
pub const GROUP_COMMIT_MAX_FRAGMENTS: usize = 128;

/// With nothing to write for this long, a compaction step runs.
const IDLE_COMPACT_MS: u64 = 1000;

/// Under steady load, a compaction step runs once per this many flushes.
const COMPACT_EVERY_FLUSHES: u64 = 64;

type Done = oneshot::Sender<Result<(), StoreError>>;

/// Counts of the group commits so far.
#[derive(Debug, Default)]
pub struct GroupCommitStats {
    /// Flushes made.
    pub flushes: AtomicU64,
    /// Fragments made durable by them.
    pub fragments: AtomicU64,
}

/// The way into one store's group-commit thread.
pub struct GroupCommit {
    queue: SyncSender<(String, Vec<u8>, Done)>,
    stats: Arc<GroupCommitStats>,
}

impl GroupCommit {
    /// Starts the thread writing into `packed`.
    pub fn start(packed: Arc<PackedFragments>, member: MemberId) -> std::io::Result<GroupCommit> {
        let (queue, rx) = sync_channel(QUEUE_FRAGMENTS);
        let stats = Arc::new(GroupCommitStats::default());
        let s = stats.clone();
        std::thread::Builder::new()
            .name(format!("group-commit-{member}"))
            .spawn(move || run(packed, rx, s, member))?;
        Ok(GroupCommit { queue, stats })
    }

    /// Stores `image` under `key`; answers once it is durable.
    pub async fn put(&self, key: String, image: Vec<u8>) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        match self.queue.try_send((key, image, tx)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(StoreError::Busy(format!(
                    "{QUEUE_FRAGMENTS} fragments already wait for a flush"
                )))
            }
            Err(TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub fn stats(&self) -> &GroupCommitStats {
        &self.stats
    }
}

fn compact(packed: &PackedFragments, member: MemberId) {
    if let Err(e) = packed.compact_step() {
        tracing::warn!(%member, error = %e, "packed segment compaction failed");
    }
}

fn run(
    packed: Arc<PackedFragments>,
    rx: Receiver<(String, Vec<u8>, Done)>,
    stats: Arc<GroupCommitStats>,
    member: MemberId,
) {
    let mut flushes: u64 = 0;
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(IDLE_COMPACT_MS)) {
            Ok(first) => first,
            Err(RecvTimeoutError::Timeout) => {
                // Idle: make the index durable too, so a crash now has
                // nothing to re-index.
                if let Err(e) = packed.flush_index() {
                    tracing::warn!(%member, error = %e, "packed index flush failed");
                }
                compact(&packed, member);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        flushes += 1;
        if flushes % COMPACT_EVERY_FLUSHES == 0 {
            compact(&packed, member);
        }
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_MAX_FRAGMENTS {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (images, dones): (Vec<(String, Vec<u8>)>, Vec<Done>) =
            batch.into_iter().map(|(k, v, d)| ((k, v), d)).unzip();
        let result = packed.put_all(&images);
        stats.flushes.fetch_add(1, Ordering::Relaxed);
        match &result {
            Ok(()) => {
                stats
                    .fragments
                    .fetch_add(images.len() as u64, Ordering::Relaxed);
                tracing::debug!(%member, fragments = images.len(), "packed fragments flushed");
            }
            Err(e) => {
                tracing::error!(member = %member, fragments = images.len(), error = %e, "packed fragments not stored")
            }
        }
        for done in dones {
            let _ = done.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Internal(format!(
                    "storing packed fragments: {e}"
                ))),
            });
        }
    }
}
