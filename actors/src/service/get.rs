//! GET as a coordinator: pin every member's fragment of the current
//! incarnation, then stream the blocks of the requested range in order, read
//! from all members in parallel (a window of blocks ahead, FIG. 6F's load
//! balance), parity skipped.
//!
//! An object of one row is read whole at open instead, without pins: one
//! request per data member (not an open, a read and a close on every
//! member). A block read names its incarnation, so a concurrent overwrite
//! can only make it fail (the fragment is gone), never give other bytes;
//! the open then reads the new record and tries again.
//!
//! A block whose member is down, unreachable or answers with a checksum
//! failure is rebuilt from the rest of its row as it is needed; a corrupt one
//! is also rewritten on its member. Invariant: a block is either its verified
//! bytes or a reconstruction from verified shards; when neither is possible
//! the stream ends with an error instead of wrong bytes.

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use stripecast_persistence::Incarnation;

use bytes::Bytes;
use std::ops::Range;

use futures::{Stream, StreamExt, TryStreamExt};
use stripecast_config::MemberId;
use stripecast_persistence::{Geometry, Layout, ObjectRecord};
use tracing::{info, warn};

use super::{next_id, CallError, Internal, ObjectService, ServiceError, Unavailable};
use crate::protocol::{ErrorKind, Request, Response};
use crate::transport::TransportError;

/// Tries of a block read from a member that is busy or slow (not down).
const SHARD_READ_TRIES: u32 = 3;

/// Pause before the second try of such a read, in ms (doubled after).
const SHARD_RETRY_PAUSE_MS: u64 = 20;

/// Read-ahead held by all GET streams of a member together, at most, in KiB
/// (1 GiB): a stream that cannot reserve its read-ahead from it when it
/// starts reads one row at a time (the row being sent is not counted: one
/// per stream, bounded by the HTTP connections).
pub const READ_AHEAD_BUDGET_KIB: usize = 1 << 20;

/// Tries to open an object (pin its fragments) before a GET answers 503.
const OPEN_ATTEMPTS: usize = 3;

/// Pause before trying again to open an object whose fragments could not
/// all be pinned (and not because a newer write replaced them), in ms.
const OPEN_RETRY_MS: u64 = 200;

/// An object opened for reading: its record and the pinned fragments.
pub struct OpenObject {
    svc: ObjectService,
    pub record: ObjectRecord,
    layout: Layout,
    geometry: Geometry,
    session: u64,
    /// Members whose fragment could not be pinned: their blocks are rebuilt.
    missing: HashSet<MemberId>,
    /// Whether `session` pinned fragments (closed when this is dropped).
    pinned: bool,
    /// The data blocks of an object of one row, read at open.
    row: Option<Vec<Bytes>>,
}

impl OpenObject {
    pub fn len(&self) -> u64 {
        self.record.length
    }

    pub fn is_empty(&self) -> bool {
        self.record.length == 0
    }
}

impl Drop for OpenObject {
    fn drop(&mut self) {
        if !self.pinned {
            return;
        }
        let svc = self.svc.clone();
        let session = self.session;
        let members: Vec<MemberId> = MemberId::all(self.layout.members())
            .filter(|m| !self.missing.contains(m))
            .collect();
        if tokio::runtime::Handle::try_current().is_ok() {
            actix_rt::spawn(async move {
                for m in members {
                    let _ = svc.call(m, Request::CloseRead { session }).await;
                }
            });
        }
    }
}

impl ObjectService {
    /// Opens `name` for reading: the current record, with every reachable
    /// fragment pinned. Fails with `Unavailable` if more fragments are missing
    /// than parity covers.
    pub async fn open(&self, name: &str) -> Result<OpenObject, ServiceError> {
        let mut last_missing = Vec::new();
        for attempt in 0..OPEN_ATTEMPTS {
            let record = self.record(name).await?;
            let layout = record.layout().map_err(|source| Internal::Record {
                object: name.to_string(),
                source,
            })?;
            let geometry = layout.geometry(record.length, record.stripe_size);
            if geometry.rows() <= 1 {
                match self.read_one_row(record, layout, geometry).await {
                    Ok(opened) => return Ok(opened),
                    Err((e, replaced)) => {
                        if attempt + 1 == OPEN_ATTEMPTS {
                            return Err(e);
                        }
                        if !replaced {
                            actix_rt::time::sleep(std::time::Duration::from_millis(OPEN_RETRY_MS))
                                .await;
                        }
                        continue;
                    }
                }
            }
            let session = next_id();
            let opens = MemberId::all(layout.members()).map(|m| {
                let req = Request::OpenRead {
                    session,
                    name: name.to_string(),
                    incarnation: record.incarnation,
                };
                async move {
                    if !self.is_up(m) {
                        return (m, Err(CallError::Down(TransportError::PeerDown(m))));
                    }
                    (m, self.call(m, req).await)
                }
            });
            let mut missing = HashSet::new();
            let mut replaced = false;
            for (m, r) in futures::future::join_all(opens).await {
                match r {
                    Ok(_) => {}
                    Err(CallError::Remote(ErrorKind::NotFound, _)) => {
                        replaced = true;
                        missing.insert(m);
                    }
                    Err(e) => {
                        warn!(member = %self.me(), object = %name, peer = %m, error = ?e, "fragment unavailable for read");
                        missing.insert(m);
                    }
                }
            }
            let opened = OpenObject {
                svc: self.clone(),
                record,
                layout,
                geometry,
                session,
                missing,
                pinned: true,
                row: None,
            };
            if opened.missing.len() <= layout.parity() {
                return Ok(opened);
            }
            last_missing = opened.missing.iter().copied().collect();
            last_missing.sort_unstable();
            // A newer incarnation replaced this one while we opened it: try
            // again at once. Otherwise a member failed to answer (a link
            // queue full under load, a member dying this instant whose
            // peers do not see it down yet): try again after a pause, once
            // the moment has passed, rather than answer 503 at once.
            if !replaced {
                if attempt + 1 == OPEN_ATTEMPTS {
                    break;
                }
                actix_rt::time::sleep(std::time::Duration::from_millis(OPEN_RETRY_MS)).await;
            }
        }
        Err(Unavailable::FragmentsMissing {
            object: name.to_string(),
            missing: last_missing,
            parity: self.inner.layout.parity(),
        }
        .into())
    }

    /// Reads the whole of a one-row object (its data blocks, rebuilt from
    /// parity if need be) without pinning. On failure, says whether a newer
    /// write replaced the record meanwhile (then the caller tries again).
    async fn read_one_row(
        &self,
        record: ObjectRecord,
        layout: Layout,
        geometry: Geometry,
    ) -> Result<OpenObject, (ServiceError, bool)> {
        let missing: HashSet<MemberId> = MemberId::all(layout.members())
            .filter(|&m| !self.is_up(m))
            .collect();
        let mut opened = OpenObject {
            svc: self.clone(),
            record,
            layout,
            geometry,
            session: 0,
            missing,
            pinned: false,
            row: None,
        };
        let blocks = 0..geometry.blocks_for_range(0, geometry.object_len).end;
        match self.row_blocks(&opened, 0, blocks).await {
            Ok(datas) => {
                opened.row = Some(datas.into_iter().map(Bytes::from).collect());
                Ok(opened)
            }
            Err(e) => {
                let name = &opened.record.name;
                let now = self.record(name).await.ok().map(|r| r.incarnation);
                let replaced = now != Some(opened.record.incarnation);
                if !replaced {
                    warn!(member = %self.me(), object = %name, error = %e, "one-row object unreadable");
                }
                Err((e, replaced))
            }
        }
    }

    /// The bytes `start..end` of the object, in order, as a stream of chunks.
    ///
    /// Works a row at a time (a window of rows ahead): a row's data blocks are
    /// read once each, and only when one cannot be read are the row's other
    /// shards (parity) fetched to rebuild it, reusing the blocks already read.
    pub fn stream(
        &self,
        obj: OpenObject,
        start: u64,
        end: u64,
    ) -> impl Stream<Item = Result<Bytes, ServiceError>> + 'static {
        let geometry = obj.geometry;
        let end = end.min(geometry.object_len);
        let blocks = geometry.blocks_for_range(start, end);
        let k = obj.layout.data_per_row() as u64;
        let rows = if blocks.is_empty() {
            0..0
        } else {
            blocks.start / k..(blocks.end - 1) / k + 1
        };
        let window = (self.inner.read_ahead as u64 / k).max(2) as usize;
        // Rows past the one being sent are read ahead only if the member's
        // budget has room for them for this stream's whole life (never
        // waited for: a stream without it reads row by row instead).
        let ahead_kib = ((window - 1) as u64 * k * u64::from(geometry.stripe)).div_ceil(1024);
        let reads_ahead = obj.row.is_none() && rows.end - rows.start > 1;
        let budget = if !reads_ahead {
            None
        } else {
            u32::try_from(ahead_kib).ok().and_then(|kib| {
                self.inner
                    .read_ahead_budget
                    .clone()
                    .try_acquire_many_owned(kib)
                    .ok()
            })
        };
        let window = if reads_ahead && budget.is_none() {
            1
        } else {
            window
        };
        let obj = Arc::new(obj);
        let svc = self.clone();
        futures::stream::iter(rows)
            .map(move |row| {
                let svc = svc.clone();
                let obj = obj.clone();
                let blocks = blocks.clone();
                async move {
                    let lo = blocks.start.max(row * k);
                    let hi = blocks.end.min((row + 1) * k);
                    let datas: Vec<Bytes> = match &obj.row {
                        // Read at open: the object's only row, block bn at bn.
                        Some(read) => (lo..hi)
                            .map(|bn| read.get(bn as usize).cloned().unwrap_or_default())
                            .collect(),
                        None => svc
                            .row_blocks(&obj, row, lo..hi)
                            .await?
                            .into_iter()
                            .map(Bytes::from)
                            .collect(),
                    };
                    let chunks: Vec<Result<Bytes, ServiceError>> = (lo..hi)
                        .zip(datas)
                        .map(|(bn, data)| {
                            let block_start = geometry.block_offset(bn);
                            let len = geometry.block_len(bn) as u64;
                            let from = start.max(block_start) - block_start;
                            let to = end.min(block_start + len) - block_start;
                            if data.len() < to as usize {
                                return Err(Internal::Block {
                                    object: obj.record.name.clone(),
                                    block: bn,
                                    why: format!("{} bytes, {to} needed", data.len()),
                                }
                                .into());
                            }
                            svc.inner.metrics.bytes_out.fetch_add(to - from, Relaxed);
                            Ok(data.slice(from as usize..to as usize))
                        })
                        .collect();
                    Ok::<_, ServiceError>(futures::stream::iter(chunks))
                }
            })
            .buffered(window)
            .try_flatten()
            // The reservation lives as long as the stream.
            .inspect(move |_| {
                let _ = &budget;
            })
    }

    /// Read-ahead reserved by GET streams now, in bytes.
    pub fn read_ahead_bytes(&self) -> u64 {
        let free = self.inner.read_ahead_budget.available_permits();
        (READ_AHEAD_BUDGET_KIB.saturating_sub(free) as u64) * 1024
    }

    /// Data block `bn` of an open object, rebuilt from its row if need be.
    pub async fn block(&self, obj: &OpenObject, bn: u64) -> Result<Vec<u8>, ServiceError> {
        let row = obj.layout.row_of(bn);
        self.row_blocks(obj, row, bn..bn + 1)
            .await?
            .pop()
            .ok_or_else(|| {
                Internal::Block {
                    object: obj.record.name.clone(),
                    block: bn,
                    why: "not read".into(),
                }
                .into()
            })
    }

    /// Reads data block `bn` where the layout puts it (either mirror copy,
    /// alternating). `Err(Some(slot))` names a slot whose block failed its checksum.
    async fn read_direct(
        &self,
        obj: &OpenObject,
        bn: u64,
    ) -> Result<Vec<u8>, Option<(MemberId, u64)>> {
        let places = obj.layout.read_locations(bn);
        let first = if places.len() > 1 {
            (self.next_mirror_turn() % places.len() as u64) as usize
        } else {
            0
        };
        let mut corrupt_on = None;
        for i in 0..places.len() {
            let loc = places[(first + i) % places.len()];
            let member = MemberId::of_position(loc.member);
            if obj.missing.contains(&member) || !self.is_up(member) {
                continue;
            }
            match self.read_shard(obj, member, loc.lbn).await {
                Ok(data) => {
                    self.inner.metrics.block_read(member);
                    return Ok(data);
                }
                Err(CallError::Remote(ErrorKind::Corrupt, msg)) => {
                    warn!(member = %self.me(), object = %obj.record.name, peer = %member, lbn = loc.lbn, error = %msg, "corrupt block; rebuilding from its row");
                    self.inner.metrics.corrupt_blocks.fetch_add(1, Relaxed);
                    corrupt_on.get_or_insert((member, loc.lbn));
                }
                Err(e) => {
                    warn!(member = %self.me(), object = %obj.record.name, peer = %member, error = ?e, "block read failed; rebuilding from its row");
                }
            }
        }
        Err(corrupt_on)
    }

    /// Reads one block of `member`'s fragment. A member that is only
    /// loaded (its request window full, or slow to answer) is asked again
    /// after a short pause, [`SHARD_READ_TRIES`] times in all: under load a
    /// stream must not lose a row for want of a retry (a second failing
    /// shard in a row with one member down leaves too few to rebuild).
    async fn read_shard(
        &self,
        obj: &OpenObject,
        member: MemberId,
        lbn: u64,
    ) -> Result<Vec<u8>, CallError> {
        // Built per try (not cloned up front): the first try, the hot path,
        // costs what it did before retries existed.
        let req = || Request::ReadBlock {
            session: obj.session,
            name: obj.record.name.clone(),
            incarnation: obj.record.incarnation,
            lbn,
        };
        let mut pause = std::time::Duration::from_millis(SHARD_RETRY_PAUSE_MS);
        let mut tries = 1;
        let answer = loop {
            match self.call(member, req()).await {
                Err(CallError::Down(TransportError::Busy(_) | TransportError::Timeout(_)))
                    if tries < SHARD_READ_TRIES && self.is_up(member) =>
                {
                    tries += 1;
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                other => break other?,
            }
        };
        match answer {
            Response::Block(d) => Ok(d),
            other => Err(CallError::Remote(
                ErrorKind::Internal,
                format!("unexpected answer {other:?}"),
            )),
        }
    }

    /// The data blocks `blocks` of `row`, in order; any that cannot be read is
    /// rebuilt from the rest of the row (and rewritten if it was corrupt).
    async fn row_blocks(
        &self,
        obj: &OpenObject,
        row: u64,
        blocks: Range<u64>,
    ) -> Result<Vec<Vec<u8>>, ServiceError> {
        let layout = obj.layout;
        let (n, k) = (layout.members(), layout.data_per_row());
        let first_bn = row * k as u64;
        let direct =
            futures::future::join_all(blocks.clone().map(|bn| self.read_direct(obj, bn))).await;
        if direct.iter().all(Result::is_ok) {
            return Ok(direct.into_iter().filter_map(Result::ok).collect());
        }
        let mut shards: Vec<Option<Vec<u8>>> = vec![None; n];
        let mut failed = vec![false; n];
        let mut corrupt = Vec::new();
        for (bn, r) in blocks.clone().zip(direct) {
            let s = (bn - first_bn) as usize;
            match r {
                Ok(d) => shards[s] = Some(d),
                Err(c) => {
                    failed[s] = true;
                    if let Some(slot) = c {
                        corrupt.push((s, slot));
                    }
                }
            }
        }
        let lost = failed.iter().filter(|f| **f).count();
        self.inner
            .metrics
            .reconstructions
            .fetch_add(lost as u64, Relaxed);
        // The other shards of the row: data blocks outside the range, and parity.
        let fetches = (0..n)
            .filter(|&s| shards[s].is_none() && !failed[s])
            .map(|s| {
                let member = MemberId::of_position(layout.shard_member(row, s));
                async move {
                    if obj.missing.contains(&member) || !self.is_up(member) {
                        return (s, None);
                    }
                    (s, self.read_shard(obj, member, row).await.ok())
                }
            });
        for (s, d) in futures::future::join_all(fetches).await {
            shards[s] = d;
        }
        let have = shards.iter().filter(|s| s.is_some()).count();
        if have < k {
            return Err(Unavailable::RowUnreadable {
                object: obj.record.name.clone(),
                row,
                have,
                needed: k,
            }
            .into());
        }
        self.inner
            .codec
            .reconstruct_data(&mut shards)
            .map_err(|source| Internal::Codec {
                what: format!("rebuilding row {row}"),
                source,
            })?;
        for (s, (member, lbn)) in corrupt {
            if let Some(d) = &shards[s] {
                self.repair(obj, member, lbn, d.clone());
            }
        }
        blocks
            .map(|bn| {
                shards[(bn - first_bn) as usize].take().ok_or_else(|| {
                    ServiceError::from(Internal::Block {
                        object: obj.record.name.clone(),
                        block: bn,
                        why: format!("not rebuilt from row {row}"),
                    })
                })
            })
            .collect()
    }

    /// This member's own block of `row` in (name, incarnation), decoded from
    /// the other members' blocks of the row (data or parity, whichever it is).
    /// `None` if too few of them can be read. Used by the rebuild and the scrub.
    pub async fn rebuild_own_block(
        &self,
        name: &str,
        incarnation: Incarnation,
        layout: stripecast_persistence::Layout,
        codec: &stripecast_persistence::Codec,
        row: u64,
    ) -> Option<Vec<u8>> {
        let me = self.me();
        let fetches = (0..layout.members()).map(|s| {
            let member = MemberId::of_position(layout.shard_member(row, s));
            let req = Request::ReadBlock {
                session: 0,
                name: name.to_string(),
                incarnation,
                lbn: row,
            };
            async move {
                if member == me || !self.is_up(member) {
                    return None;
                }
                match self.call(member, req).await {
                    Ok(Response::Block(d)) => Some(d),
                    _ => None,
                }
            }
        });
        let mut shards: Vec<Option<Vec<u8>>> = futures::future::join_all(fetches).await;
        codec.reconstruct(&mut shards).ok()?;
        shards[layout.member_shard(row, me.position())].take()
    }

    /// This member's blocks of `rows`, each rebuilt from its row: one
    /// `ReadBlocks` per other member for the whole run (a heal reads runs of
    /// rows, not a round trip per block). `None` when a row lacks blocks.
    pub async fn rebuild_own_rows(
        &self,
        name: &str,
        incarnation: Incarnation,
        layout: stripecast_persistence::Layout,
        codec: &stripecast_persistence::Codec,
        rows: Range<u64>,
    ) -> Option<Vec<Vec<u8>>> {
        let me = self.me();
        let count = u32::try_from(rows.end.saturating_sub(rows.start)).ok()?;
        debug_assert!(count <= crate::protocol::READ_BLOCKS_MAX);
        let fetches = MemberId::all(layout.members()).map(|member| {
            let req = Request::ReadBlocks {
                name: name.to_string(),
                incarnation,
                first_lbn: rows.start,
                count,
            };
            async move {
                if member == me || !self.is_up(member) {
                    return None;
                }
                match self.call(member, req).await {
                    Ok(Response::Blocks(b)) if b.len() == count as usize => Some(b),
                    _ => None,
                }
            }
        });
        let mut by_member = futures::future::join_all(fetches).await;
        let mut out = Vec::with_capacity(count as usize);
        for (i, row) in rows.enumerate() {
            let mut shards: Vec<Option<Vec<u8>>> = (0..layout.members())
                .map(|s| {
                    let member = layout.shard_member(row, s);
                    by_member
                        .get_mut(member)
                        .and_then(Option::as_mut)
                        .and_then(|b| b.get_mut(i))
                        .and_then(Option::take)
                        .map(serde_bytes::ByteBuf::into_vec)
                })
                .collect();
            codec.reconstruct(&mut shards).ok()?;
            out.push(
                shards
                    .get_mut(layout.member_shard(row, me.position()))?
                    .take()?,
            );
        }
        Some(out)
    }

    /// Rewrites a corrupt block on its member, in the background.
    fn repair(&self, obj: &OpenObject, member: MemberId, lbn: u64, data: Vec<u8>) {
        let svc = self.clone();
        let name = obj.record.name.clone();
        let incarnation = obj.record.incarnation;
        actix_rt::spawn(async move {
            let req = Request::WriteBlock {
                name: name.clone(),
                incarnation,
                lbn,
                data,
            };
            match svc.call(member, req).await {
                Ok(_) => {
                    svc.inner.metrics.repairs.fetch_add(1, Relaxed);
                    info!(member = %svc.me(), object = %name, peer = %member, lbn, "corrupt block repaired from parity");
                }
                Err(e) => {
                    warn!(member = %svc.me(), object = %name, peer = %member, lbn, error = ?e, "repair failed")
                }
            }
        });
    }
}
