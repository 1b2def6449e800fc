//! PUT as a coordinator: stream the body row by row (never holding the object
//! whole), compute each row's parity, send every block to its member in
//! parallel with a bounded window of rows in flight, then have every member
//! finish its fragment (fsync, rename) and commit the record. Acknowledged
//! only after the commits.
//!
//! Invariant: on any failure every member is told to abort, so no fragment of
//! a failed PUT is ever committed; the previous incarnation stays current.

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use serde::Serialize;
use stripecast_persistence::checksum::crc32c_append;

use super::{
    compose_incarnation, counter_of, incarnation_counter, next_id, now_ns, CallError,
    ObjectService, ServiceError,
};
use crate::protocol::{RecordWire, Request, Response, UploadSpec};

/// What a successful PUT made.
#[derive(Debug, Clone, Serialize)]
pub struct PutOutcome {
    pub name: String,
    pub length: u64,
    pub incarnation: u32,
    /// Members that were down and will rebuild this object when they return.
    pub missed_by: Vec<u32>,
}

impl ObjectService {
    /// A fresh incarnation for `name`, larger than any this member has seen or handed out.
    async fn allocate_incarnation(&self, name: &str) -> Result<u32, ServiceError> {
        let n = name.to_string();
        let current = self.inner.store.run(move |s| s.record(&n)).await?;
        let mut inflight = counter_of(self).lock().unwrap_or_else(|p| p.into_inner());
        let seen = current
            .map(|r| incarnation_counter(r.incarnation))
            .unwrap_or(0);
        let counter = seen.max(inflight.get(name).copied().unwrap_or(0)) + 1;
        if counter > 0x00ff_ffff {
            return Err(ServiceError::Internal(format!(
                "incarnations of {name:?} exhausted"
            )));
        }
        inflight.insert(name.to_string(), counter);
        Ok(compose_incarnation(counter, self.inner.me))
    }

    fn release_incarnation(&self, name: &str, incarnation: u32) {
        let mut inflight = counter_of(self).lock().unwrap_or_else(|p| p.into_inner());
        if inflight.get(name) == Some(&incarnation_counter(incarnation)) {
            inflight.remove(name);
        }
    }

    /// Stores the byte stream `body` as object `name`.
    pub async fn put<S, E>(&self, name: &str, body: S) -> Result<PutOutcome, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.require_current()?;
        let (live, down) = self.live_and_down();
        self.require_write_quorum(&live, &down)?;
        let incarnation = self.allocate_incarnation(name).await?;
        let upload = next_id();
        let result = self
            .put_inner(name, body, incarnation, upload, &live, &down)
            .await;
        self.release_incarnation(name, incarnation);
        if result.is_err() {
            let aborts = live
                .iter()
                .map(|&m| self.call(m, Request::AbortUpload { upload }));
            futures::future::join_all(aborts).await;
        }
        result
    }

    async fn put_inner<S, E>(
        &self,
        name: &str,
        mut body: S,
        incarnation: u32,
        upload: u64,
        live: &[u32],
        down: &[u32],
    ) -> Result<PutOutcome, ServiceError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let layout = self.inner.layout;
        let n = layout.members();
        let k = layout.data_per_row();
        let stripe = self.inner.stripe as usize;
        let created = now_ns();
        let begins = live.iter().map(|&m| {
            self.call(
                m,
                Request::BeginUpload {
                    upload,
                    spec: UploadSpec {
                        name: name.to_string(),
                        incarnation,
                        creation_time_ns: created,
                        stripe_size: self.inner.stripe,
                        members: n as u8,
                        parity: layout.parity() as u8,
                        fragment_index: m as u8,
                    },
                },
            )
        });
        expect_all(live, futures::future::join_all(begins).await)?;

        let row_bytes = k * stripe;
        let mut row_buf: Vec<u8> = Vec::with_capacity(row_bytes);
        let mut row: u64 = 0;
        let mut length: u64 = 0;
        let mut crc: u32 = 0;
        let mut inflight = FuturesUnordered::new();
        loop {
            let chunk = match body.next().await {
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    return Err(ServiceError::BadRequest(format!(
                        "reading the request body: {e}"
                    )))
                }
                None => break,
            };
            self.inner
                .metrics
                .bytes_in
                .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
            crc = crc32c_append(crc, &chunk);
            length += chunk.len() as u64;
            let mut rest: &[u8] = &chunk;
            while !rest.is_empty() {
                let take = (row_bytes - row_buf.len()).min(rest.len());
                row_buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if row_buf.len() == row_bytes {
                    let full = std::mem::replace(&mut row_buf, Vec::with_capacity(row_bytes));
                    inflight.push(self.send_row(upload, row, full, live));
                    row += 1;
                    while inflight.len() >= self.inner.write_window {
                        if let Some(r) = inflight.next().await {
                            r?;
                        }
                    }
                }
            }
        }
        if !row_buf.is_empty() {
            row_buf.resize(row_bytes, 0);
            inflight.push(self.send_row(upload, row, row_buf, live));
        }
        while let Some(r) = inflight.next().await {
            r?;
        }

        let finishes = live.iter().map(|&m| {
            self.call(
                m,
                Request::FinishUpload {
                    upload,
                    object_len: length,
                },
            )
        });
        expect_all(live, futures::future::join_all(finishes).await)?;

        let record = RecordWire {
            name: name.to_string(),
            length,
            incarnation,
            members: n as u8,
            parity: layout.parity() as u8,
            stripe_size: self.inner.stripe,
            crc32c: crc,
            creation_time_ns: created,
        };
        let commits = live.iter().map(|&m| {
            self.call(
                m,
                Request::Commit {
                    record: record.clone(),
                    dirty: down.to_vec(),
                },
            )
        });
        let results = futures::future::join_all(commits).await;
        self.mark_missed(name, live, &results).await;
        let committed = results.iter().filter(|r| r.is_ok()).count();
        if committed < self.write_quorum() {
            return Err(ServiceError::Unavailable(format!(
                "object {name:?} committed on {committed} members, needs {}",
                self.write_quorum()
            )));
        }
        tracing::info!(member = self.inner.me, object = %name, incarnation, length, ?down, "object stored");
        Ok(PutOutcome {
            name: name.to_string(),
            length,
            incarnation,
            missed_by: down.to_vec(),
        })
    }

    /// Computes the row's parity and sends each of its blocks to its member.
    async fn send_row(
        &self,
        upload: u64,
        row: u64,
        data: Vec<u8>,
        live: &[u32],
    ) -> Result<(), ServiceError> {
        let layout = self.inner.layout;
        let n = layout.members();
        let k = layout.data_per_row();
        let stripe = self.inner.stripe as usize;
        let mut shards: Vec<Vec<u8>> = data.chunks_exact(stripe).map(<[u8]>::to_vec).collect();
        debug_assert_eq!(shards.len(), k);
        let parity = self
            .inner
            .codec
            .encode_row(&shards)
            .map_err(|e| ServiceError::Internal(format!("parity of row {row}: {e}")))?;
        shards.extend(parity);
        let sends = shards.into_iter().enumerate().filter_map(|(s, block)| {
            let member = layout.shard_member(row, s) as u32;
            debug_assert!(member < n as u32);
            live.contains(&member).then_some(async move {
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
            r.map_err(|e| e.into_service(member))?;
        }
        Ok(())
    }
}

/// Every live member must have answered; the first failure is the PUT's error.
fn expect_all(live: &[u32], results: Vec<Result<Response, CallError>>) -> Result<(), ServiceError> {
    for (&m, r) in live.iter().zip(results) {
        r.map_err(|e| e.into_service(m))?;
    }
    Ok(())
}
