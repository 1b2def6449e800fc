//! PUT as a coordinator: take a fresh incarnation from the block this member
//! reserved in the metadata group, stream the body row by row (never holding
//! the object whole), compute each row's parity, send every block to its
//! member in parallel with a bounded window of rows in flight, have every
//! member finish its fragment (fsync, rename), then propose
//! `Commit{record, missing}` and acknowledge once it is applied here.
//!
//! Invariants:
//! * Incarnations come from the group's `Reserve`, so two writes never share
//!   one, whatever restarts: a fragment file names exactly one write.
//! * A member that fails during the upload is left out (its blocks are
//!   rebuilt later: it goes into `missing`, the dirty sets) as long as the
//!   write quorum still holds; below it the PUT fails.
//! * A PUT that fails before its commit was proposed aborts its upload on
//!   every member, and so does one whose client went away meanwhile (the
//!   dropped request spawns the abort: nothing waits for the idle timeout);
//!   one whose commit outcome is unknown (no answer in time)
//!   keeps its fragments, since the commit may still be applied, and the
//!   client gets 503: retrying is safe (a new incarnation).

use crate::meta::ObjectAttrs;
use std::collections::BTreeSet;
use std::sync::Mutex;
use stripecast_persistence::Incarnation;

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use serde::Serialize;
use stripecast_config::MemberId;
use stripecast_persistence::checksum::crc32c_append;
use stripecast_persistence::packed::packable;

use super::rows::RowCutter;
use super::{next_id, now_ns, CallError, Internal, ObjectService, ServiceError, Unavailable};
use crate::meta::runner::WaitError;
use crate::meta::{Applied, MetaCommand, MetaHandle};
use crate::protocol::{ErrorKind, RecordWire, Request, UploadSpec};

/// Incarnations one `Reserve` asks for: one proposal per this many PUTs.
pub const RESERVE_INCARNATIONS: u32 = 1024;

/// A reserved block is not used after this long (the group refuses blocks
/// older than `RESERVATION_HORIZON_ENTRIES` log entries; at under 1,600
/// entries a second a block this old is still usable).
const POOL_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Incarnations reserved from the metadata group and not used yet.
pub(crate) struct IncarnationPool {
    left: std::ops::Range<u32>,
    reserved_at: std::time::Instant,
}

impl IncarnationPool {
    pub(crate) fn empty() -> IncarnationPool {
        IncarnationPool {
            left: 0..0,
            reserved_at: std::time::Instant::now(),
        }
    }

    fn take(&mut self) -> Option<Incarnation> {
        if self.reserved_at.elapsed() > POOL_MAX_AGE {
            self.left = 0..0;
        }
        self.left.next().map(Incarnation::new)
    }
}

/// How a PUT's fragments are being written, for undoing them.
#[derive(Clone)]
enum Upload {
    /// Row by row through an upload session on each member.
    Streamed(u64),
    /// Whole, one request per member, stored packed.
    Packed {
        name: String,
        incarnation: Incarnation,
        members: u8,
    },
}

/// Reads the start of `body`: until it ends or holds more than `limit`
/// bytes. Answers the bytes and whether the body ended.
async fn read_head<S, E>(body: &mut S, limit: usize) -> Result<(Vec<u8>, bool), ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut head = Vec::new();
    while head.len() <= limit {
        match body.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            Some(Err(e)) => {
                return Err(ServiceError::BadRequest(format!(
                    "reading the request body: {e}"
                )))
            }
            None => return Ok((head, true)),
        }
    }
    Ok((head, false))
}

/// Why a PUT's commit can never happen (its fragments are dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Abandon {
    /// The incarnation's reservation is too old to commit.
    Expired,
    /// The group applied it and refused it.
    Refused,
    /// The object's bucket was deleted before the commit.
    NoBucket,
    /// The first proposal never entered the log (busy or refused before it).
    NotLogged,
}

/// What one commit proposal's answer means for the PUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CommitVerdict {
    /// Committed now or by an earlier attempt: acknowledge the PUT.
    Stored,
    /// It can never commit: drop the fragments and fail the PUT.
    Abandon(Abandon),
    /// The outcome is unknown: propose again (idempotent), keep the
    /// fragments (an earlier attempt may still commit).
    AskAgain,
}

/// Decides on the answer to commit attempt `attempt` (from 0).
fn commit_verdict(attempt: usize, answer: &Result<Applied, WaitError>) -> CommitVerdict {
    match answer {
        Ok(Applied::Committed { .. } | Applied::Superseded) => CommitVerdict::Stored,
        Ok(Applied::Expired) => CommitVerdict::Abandon(Abandon::Expired),
        Ok(Applied::NoBucket(_)) => CommitVerdict::Abandon(Abandon::NoBucket),
        Ok(_) => CommitVerdict::Abandon(Abandon::Refused),
        // Only the first attempt is known to be out of the log: after an
        // attempt with an unknown outcome, a refusal does not say that one
        // will not commit.
        Err(WaitError::Busy | WaitError::Refused(_)) if attempt == 0 => {
            CommitVerdict::Abandon(Abandon::NotLogged)
        }
        Err(_) => CommitVerdict::AskAgain,
    }
}

/// How many times a commit whose outcome is unknown is proposed again
/// (idempotent: the same record) before the PUT answers 503.
const COMMIT_ATTEMPTS: usize = 3;

/// What a PUT commits beside its record, given once the body is stored
/// (see `ObjectService::put_with`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seal {
    /// What an S3 client stored beside the bytes.
    pub attrs: Option<ObjectAttrs>,
    /// The bucket the object must still be in when it commits (S3); a
    /// commit after it was deleted is refused (`ServiceError::NotFound`).
    pub bucket: Option<String>,
}

/// What a successful PUT made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PutOutcome {
    pub name: String,
    pub length: u64,
    pub incarnation: Incarnation,
    /// Members that hold no fragment of it and will rebuild it.
    pub missed_by: Vec<MemberId>,
}

/// Members that dropped out of one PUT, and the members it started with.
struct Writers<'a> {
    live: &'a [MemberId],
    failed: Mutex<Failed>,
    quorum: usize,
}

/// Members left out of a PUT, and which of them for a full disk.
#[derive(Default)]
struct Failed {
    all: BTreeSet<MemberId>,
    full: BTreeSet<MemberId>,
}

impl Writers<'_> {
    fn active(&self) -> Vec<MemberId> {
        let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        self.live
            .iter()
            .copied()
            .filter(|m| !failed.all.contains(m))
            .collect()
    }

    fn is_active(&self, m: MemberId) -> bool {
        !self
            .failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .all
            .contains(&m)
    }

    /// Leaves `member` out; fails the PUT when too few remain.
    fn fail(&self, member: MemberId, e: CallError) -> Result<(), ServiceError> {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(&e, CallError::Remote(ErrorKind::StorageFull, _)) {
            failed.full.insert(member);
        }
        if failed.all.insert(member) {
            tracing::warn!(peer = %member, error = %e.into_service(member), "member left out of a PUT");
        }
        let left = self.live.len() - failed.all.len();
        if left < self.quorum {
            return Err(Unavailable::WriteFailed {
                left,
                failed: failed.all.iter().copied().collect(),
                full: failed.full.iter().copied().collect(),
                needed: self.quorum,
            }
            .into());
        }
        Ok(())
    }

    /// Settles the answers of one round: failures leave their member out.
    fn settle(
        &self,
        members: &[MemberId],
        results: Vec<Result<crate::protocol::Response, CallError>>,
    ) -> Result<(), ServiceError> {
        for (&m, r) in members.iter().zip(results) {
            if let Err(e) = r {
                self.fail(m, e)?;
            }
        }
        Ok(())
    }
}

impl ObjectService {
    /// A fresh incarnation from this member's reserved block (reserving a
    /// new block through the group when it is used up).
    async fn allocate_incarnation(&self, meta: &MetaHandle) -> Result<Incarnation, ServiceError> {
        {
            let mut pool = self
                .inner
                .incarnations
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(inc) = pool.take() {
                return Ok(inc);
            }
        }
        let cmd = MetaCommand::Reserve {
            member: self.inner.me,
            count: RESERVE_INCARNATIONS,
        };
        match meta.propose(cmd).await {
            Ok(Applied::Reserved { first, count }) => {
                let mut pool = self
                    .inner
                    .incarnations
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if pool.left.is_empty() {
                    *pool = IncarnationPool {
                        left: first.get().saturating_add(1)..first.get().saturating_add(count),
                        reserved_at: std::time::Instant::now(),
                    };
                }
                Ok(first)
            }
            Ok(other) => Err(Internal::Unexpected {
                what: "reserving incarnations".into(),
                outcome: Box::new(other),
            }
            .into()),
            Err(e) => Err(self.meta_unavailable(e)),
        }
    }

    /// Stores the byte stream `body` as object `name`.
    pub async fn put<S, E>(&self, name: &str, body: S) -> Result<PutOutcome, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.put_with(name, body, || Ok(Seal::default())).await
    }

    /// Stores `body` as object `name` with the attributes `seal` gives once
    /// the whole body is stored on the members and before it is committed
    /// (an S3 ETag is the MD5 of the body): an error from `seal` (a body
    /// that does not match its digest) drops the upload, and nothing is
    /// stored.
    pub async fn put_with<S, E, F>(
        &self,
        name: &str,
        mut body: S,
        seal: F,
    ) -> Result<PutOutcome, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
        F: FnOnce() -> Result<Seal, ServiceError>,
    {
        let meta = self.meta_handle()?;
        let (live, down) = self.live_and_down();
        self.require_write_quorum(&live, &down)?;
        // An object of at most one row goes whole, in one request per
        // member (stored packed); a longer one streams row by row.
        let row_bytes = self.inner.layout.data_per_row() * self.inner.stripe as usize;
        let (head, ended) = read_head(&mut body, row_bytes).await?;
        let incarnation = self.allocate_incarnation(&meta).await?;
        let writers = Writers {
            live: &live,
            failed: Mutex::new(Failed::default()),
            quorum: self.write_quorum(),
        };
        let packable = ended && packable(1, self.inner.stripe, name.len());
        let upload = if packable {
            Upload::Packed {
                name: name.to_string(),
                incarnation,
                members: self.inner.layout.fragment_count(),
            }
        } else {
            Upload::Streamed(next_id())
        };
        // Armed until the commit is proposed: a PUT dropped before (its
        // client went away) still tells every member to drop the upload.
        let mut guard = AbortOnDrop {
            service: self.clone(),
            upload: Some(upload.clone()),
            members: live.clone(),
        };
        let written = match &upload {
            Upload::Packed { .. } => self.put_packed(name, head, incarnation, &writers).await,
            Upload::Streamed(id) => {
                let body = futures::stream::iter([Ok(Bytes::from(head))]).chain(body);
                self.put_inner(name, body, incarnation, *id, &writers).await
            }
        };
        let sealed = written.and_then(|r| Ok((r, seal()?)));
        let (record, sealed) = match sealed {
            Ok(r) => r,
            Err(e) => {
                guard.disarm();
                self.abort_upload(&upload, &live).await;
                return Err(e);
            }
        };
        let holders = writers.active();
        let missing: Vec<MemberId> = MemberId::all(self.inner.layout.members())
            .filter(|m| !holders.contains(m))
            .collect();
        // Members that failed mid-way hold a partial upload: drop it.
        let dropped: Vec<MemberId> = live
            .iter()
            .copied()
            .filter(|m| !holders.contains(m))
            .collect();
        self.abort_upload(&upload, &dropped).await;
        guard.disarm();
        self.commit(&meta, name, &upload, (record, sealed), missing, &holders)
            .await
    }

    /// The last step of a PUT: commits `record` through the metadata group
    /// (with the members that hold no fragment of it as `missing`), asking
    /// again while the outcome is unknown. A commit that cannot happen
    /// drops the uploaded fragments; one whose outcome stays unknown keeps
    /// them (it may still commit).
    async fn commit(
        &self,
        meta: &MetaHandle,
        name: &str,
        upload: &Upload,
        (record, sealed): (RecordWire, Seal),
        missing: Vec<MemberId>,
        holders: &[MemberId],
    ) -> Result<PutOutcome, ServiceError> {
        let incarnation = record.incarnation;
        let cmd = MetaCommand::Commit {
            record: record.clone(),
            missing: missing.clone(),
            attrs: sealed.attrs,
            bucket: sealed.bucket,
        };
        let mut last = WaitError::Timeout;
        for attempt in 0..COMMIT_ATTEMPTS {
            let answer = meta.propose(cmd.clone()).await;
            match commit_verdict(attempt, &answer) {
                CommitVerdict::Stored => {
                    tracing::info!(member = %self.inner.me, object = %name, %incarnation, length = record.length, ?missing, "object stored");
                    return Ok(PutOutcome {
                        name: name.to_string(),
                        length: record.length,
                        incarnation,
                        missed_by: missing,
                    });
                }
                CommitVerdict::AskAgain => {
                    if let Err(e) = answer {
                        last = e;
                    }
                }
                CommitVerdict::Abandon(why) => {
                    if why == Abandon::Expired {
                        *self
                            .inner
                            .incarnations
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) = IncarnationPool::empty();
                    }
                    self.abort_upload(upload, holders).await;
                    return Err(match (why, answer) {
                        (Abandon::Expired, _) => Unavailable::ReservationExpired {
                            object: name.to_string(),
                            incarnation,
                        }
                        .into(),
                        (Abandon::NoBucket, Ok(Applied::NoBucket(b))) => {
                            ServiceError::NotFound(format!("bucket {b} does not exist"))
                        }
                        (_, Err(e)) => self.meta_unavailable(e),
                        (_, Ok(other)) => Internal::Unexpected {
                            what: format!("commit of {name:?}"),
                            outcome: Box::new(other),
                        }
                        .into(),
                    });
                }
            }
        }
        tracing::warn!(member = %self.inner.me, object = %name, %incarnation, "commit outcome unknown; fragments kept");
        Err(self.meta_unavailable(last))
    }

    /// Tells `members` to forget the upload and any fragment it wrote.
    async fn abort_upload(&self, upload: &Upload, members: &[MemberId]) {
        let aborts = members.iter().map(|&m| {
            let req = match upload {
                Upload::Streamed(id) => Request::AbortUpload { upload: *id },
                Upload::Packed {
                    name,
                    incarnation,
                    members,
                } => Request::ForgetFragment {
                    name: name.clone(),
                    incarnation: *incarnation,
                    members: *members,
                },
            };
            self.call(m, req)
        });
        futures::future::join_all(aborts).await;
    }

    /// Writes an object of at most one row (`data`) in one request per
    /// member: each stores its whole fragment packed. Answers the record
    /// to commit; members that fail are left out in `writers`.
    async fn put_packed(
        &self,
        name: &str,
        data: Vec<u8>,
        incarnation: Incarnation,
        writers: &Writers<'_>,
    ) -> Result<RecordWire, ServiceError> {
        let layout = self.inner.layout;
        let n = layout.members();
        let length = data.len() as u64;
        let crc = crc32c_append(0, &data);
        let created = now_ns();
        self.inner
            .metrics
            .bytes_in
            .fetch_add(length, std::sync::atomic::Ordering::Relaxed);
        let mut blocks: Vec<Vec<u8>> = vec![Vec::new(); n];
        if length > 0 {
            let mut row = data;
            row.resize(layout.data_per_row() * self.inner.stripe as usize, 0);
            for (member, mut block) in self.encode_row(0, row)? {
                // Trailing zeros are the member's to add back (FIG. 9 padding).
                block.truncate(stripecast_persistence::packed::sparse::trimmed_len(&block));
                blocks[member.position()] = block;
            }
        }
        let sends = writers.live.iter().map(|&m| {
            let block = std::mem::take(&mut blocks[m.position()]);
            self.call(
                m,
                Request::StoreFragment {
                    spec: self.upload_spec(name, incarnation, created, m),
                    object_len: length,
                    block,
                },
            )
        });
        let results = futures::future::join_all(sends).await;
        writers.settle(writers.live, results)?;
        Ok(self.new_record(name, length, incarnation, crc, created))
    }

    fn upload_spec(
        &self,
        name: &str,
        incarnation: Incarnation,
        created: u64,
        member: MemberId,
    ) -> UploadSpec {
        let layout = self.inner.layout;
        UploadSpec {
            name: name.to_string(),
            incarnation,
            creation_time_ns: created,
            stripe_size: self.inner.stripe,
            members: layout.fragment_count(),
            parity: layout.parity_count(),
            fragment_index: member.fragment_index().unwrap_or(u8::MAX),
        }
    }

    fn new_record(
        &self,
        name: &str,
        length: u64,
        incarnation: Incarnation,
        crc: u32,
        created: u64,
    ) -> RecordWire {
        let layout = self.inner.layout;
        RecordWire {
            name: name.to_string(),
            length,
            incarnation,
            members: layout.fragment_count(),
            parity: layout.parity_count(),
            stripe_size: self.inner.stripe,
            crc32c: crc,
            creation_time_ns: created,
        }
    }

    /// Uploads the fragments; answers the record to commit. Members that
    /// fail are left out in `writers`.
    async fn put_inner<S, E>(
        &self,
        name: &str,
        body: S,
        incarnation: Incarnation,
        upload: u64,
        writers: &Writers<'_>,
    ) -> Result<RecordWire, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let created = now_ns();
        self.begin_upload(name, incarnation, created, upload, writers)
            .await?;
        let (length, crc) = self.stream_rows(body, upload, writers).await?;
        self.finish_upload(upload, length, writers).await?;
        Ok(self.new_record(name, length, incarnation, crc, created))
    }

    /// Step 1 of a streamed PUT: every live member opens its fragment.
    async fn begin_upload(
        &self,
        name: &str,
        incarnation: Incarnation,
        created: u64,
        upload: u64,
        writers: &Writers<'_>,
    ) -> Result<(), ServiceError> {
        let live = writers.live;
        let begins = live.iter().map(|&m| {
            self.call(
                m,
                Request::BeginUpload {
                    upload,
                    spec: self.upload_spec(name, incarnation, created, m),
                },
            )
        });
        writers.settle(live, futures::future::join_all(begins).await)
    }

    /// Step 2: the body, cut into rows, each row's blocks sent to their
    /// members with at most `write_window` rows in flight; answers the
    /// object's length and CRC-32C.
    async fn stream_rows<S, E>(
        &self,
        mut body: S,
        upload: u64,
        writers: &Writers<'_>,
    ) -> Result<(u64, u32), ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let row_bytes = self.inner.layout.data_per_row() * self.inner.stripe as usize;
        let mut cutter = RowCutter::new(row_bytes);
        let mut row: u64 = 0;
        let mut inflight = FuturesUnordered::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk
                .map_err(|e| ServiceError::BadRequest(format!("reading the request body: {e}")))?;
            self.inner
                .metrics
                .bytes_in
                .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
            for full in cutter.push(&chunk) {
                inflight.push(self.send_row(upload, row, full, writers));
                row += 1;
                while inflight.len() >= self.inner.write_window {
                    if let Some(r) = inflight.next().await {
                        r?;
                    }
                }
            }
        }
        let (last, length, crc) = cutter.finish();
        if let Some(last) = last {
            inflight.push(self.send_row(upload, row, last, writers));
        }
        while let Some(r) = inflight.next().await {
            r?;
        }
        Ok((length, crc))
    }

    /// Step 3: the members still in the PUT make their fragments durable.
    async fn finish_upload(
        &self,
        upload: u64,
        length: u64,
        writers: &Writers<'_>,
    ) -> Result<(), ServiceError> {
        let active = writers.active();
        let finishes = active.iter().map(|&m| {
            self.call(
                m,
                Request::FinishUpload {
                    upload,
                    object_len: length,
                },
            )
        });
        writers.settle(&active, futures::future::join_all(finishes).await)
    }

    /// A row's blocks with its parity, each with the member that holds it.
    fn encode_row(
        &self,
        row: u64,
        data: Vec<u8>,
    ) -> Result<Vec<(MemberId, Vec<u8>)>, ServiceError> {
        let layout = self.inner.layout;
        let stripe = self.inner.stripe as usize;
        let mut shards: Vec<Vec<u8>> = data.chunks_exact(stripe).map(<[u8]>::to_vec).collect();
        debug_assert_eq!(shards.len(), layout.data_per_row());
        let parity = self
            .inner
            .codec
            .encode_row(&shards)
            .map_err(|source| Internal::Codec {
                what: format!("parity of row {row}"),
                source,
            })?;
        shards.extend(parity);
        Ok(shards
            .into_iter()
            .enumerate()
            .map(|(s, block)| {
                let member = MemberId::of_position(layout.shard_member(row, s));
                debug_assert!(member.position() < layout.members());
                (member, block)
            })
            .collect())
    }

    /// Computes the row's parity and sends each of its blocks to its member
    /// (those still in the PUT).
    async fn send_row(
        &self,
        upload: u64,
        row: u64,
        data: Vec<u8>,
        writers: &Writers<'_>,
    ) -> Result<(), ServiceError> {
        let blocks = self.encode_row(row, data)?;
        let sends = blocks.into_iter().filter_map(|(member, block)| {
            (writers.live.contains(&member) && writers.is_active(member)).then_some(async move {
                let r = self
                    .call(
                        member,
                        Request::AppendBlock {
                            upload,
                            lbn: row,
                            data: block,
                        },
                    )
                    .await;
                (member, r)
            })
        });
        for (member, r) in futures::future::join_all(sends).await {
            if let Err(e) = r {
                writers.fail(member, e)?;
            }
        }
        Ok(())
    }
}

/// Aborts an upload when the PUT that owns it is dropped unfinished (the
/// HTTP layer drops the request when its client disconnects): the abort is
/// spawned, since a drop cannot wait.
struct AbortOnDrop {
    service: ObjectService,
    upload: Option<Upload>,
    members: Vec<MemberId>,
}

impl AbortOnDrop {
    /// The PUT goes on to its commit (or aborts by itself): nothing to do.
    fn disarm(&mut self) {
        self.upload = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        let Some(upload) = self.upload.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // shutting down: the members' idle timeout aborts it
        };
        let service = self.service.clone();
        let members = std::mem::take(&mut self.members);
        tracing::info!(member = %service.inner.me, "PUT dropped before its commit (client gone); aborting its upload");
        runtime.spawn(async move {
            service.abort_upload(&upload, &members).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_verdicts_by_table() {
        use CommitVerdict::{AskAgain, Stored};
        let abandon = CommitVerdict::Abandon;
        let refused = || WaitError::Refused("no leader".into());
        let table: Vec<(usize, Result<Applied, WaitError>, CommitVerdict)> = vec![
            (0, Ok(Applied::Committed { replaced: None }), Stored),
            (
                2,
                Ok(Applied::Committed {
                    replaced: Some(Incarnation::new(3)),
                }),
                Stored,
            ),
            // an earlier attempt committed it
            (1, Ok(Applied::Superseded), Stored),
            (0, Ok(Applied::Expired), abandon(Abandon::Expired)),
            (
                1,
                Ok(Applied::NoBucket("films".into())),
                abandon(Abandon::NoBucket),
            ),
            (
                1,
                Ok(Applied::Refused("bad".into())),
                abandon(Abandon::Refused),
            ),
            (0, Ok(Applied::Cleared(true)), abandon(Abandon::Refused)),
            // the first attempt is known not to be in the log
            (0, Err(WaitError::Busy), abandon(Abandon::NotLogged)),
            (0, Err(refused()), abandon(Abandon::NotLogged)),
            // later ones are not: an earlier one may still commit
            (1, Err(WaitError::Busy), AskAgain),
            (2, Err(refused()), AskAgain),
            (0, Err(WaitError::Timeout), AskAgain),
            (0, Err(WaitError::Stopped), AskAgain),
        ];
        for (attempt, answer, want) in table {
            assert_eq!(
                commit_verdict(attempt, &answer),
                want,
                "{attempt} {answer:?}"
            );
        }
    }
}
