//! What this member does with a request about its own fragments, whether it
//! came from a peer over the transport or from this member's own coordinator.

use stripecast_config::MemberId;
use stripecast_persistence::fragment::fragment_image;
use stripecast_persistence::packed::MAX_IMAGE_BYTES;
use stripecast_persistence::{FragmentSpec, Layout};

use super::ObjectService;
use crate::protocol::{Request, Response, UploadSpec, READ_BLOCKS_MAX};
use crate::store::upload::{Abort, Append, Finish};
use crate::store::StoreError;

impl ObjectService {
    /// The fragment a write request describes, if it is this member's.
    fn fragment_spec(&self, spec: UploadSpec) -> Result<FragmentSpec, StoreError> {
        if MemberId::from(spec.fragment_index) != self.inner.me {
            return Err(StoreError::BadRequest(format!(
                "fragment {} sent to member {}",
                spec.fragment_index, self.inner.me
            )));
        }
        let layout = Layout::new(usize::from(spec.members), usize::from(spec.parity))
            .map_err(|e| StoreError::BadRequest(e.to_string()))?;
        Ok(FragmentSpec {
            name: spec.name,
            incarnation: spec.incarnation,
            creation_time_ns: spec.creation_time_ns,
            stripe_size: spec.stripe_size,
            layout,
            fragment_index: usize::from(spec.fragment_index),
        })
    }

    /// Handles one request; every failure becomes a `Response::Error`.
    pub async fn handle(&self, from: MemberId, req: Request) -> Response {
        match self.handle_inner(from, req).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(member = %self.me(), peer = %from, error = %e, "request failed");
                Response::Error {
                    kind: e.kind(),
                    message: e.public_message(),
                }
            }
        }
    }

    async fn handle_inner(&self, from: MemberId, req: Request) -> Result<Response, StoreError> {
        let inner = &self.inner;
        match req {
            Request::Ping => Ok(Response::Pong),
            Request::Raft { msg } => {
                crate::meta::deliver(inner.me, self.meta(), None, from, inner.me, msg);
                Ok(Response::Done)
            }
            Request::RaftRelay { to, msg } => {
                crate::meta::deliver(
                    inner.me,
                    self.meta(),
                    inner.peers.get().cloned(),
                    from,
                    to,
                    msg,
                );
                Ok(Response::Done)
            }
            Request::Echo { payload } => Ok(Response::Echo { payload }),
            Request::BeginUpload { upload, spec } => {
                let fspec = self.fragment_spec(spec)?;
                let fragments = inner.fragments.live_addr().ok_or_else(|| {
                    StoreError::Internal("fragments supervisor not running".into())
                })?;
                inner
                    .uploads
                    .begin(&fragments, inner.store.clone(), upload, fspec)
                    .await?;
                Ok(Response::Done)
            }
            Request::AppendBlock { upload, lbn, data } => {
                let actor = inner.uploads.get(upload)?;
                actor
                    .send(Append { lbn, data })
                    .await
                    .map_err(|e| StoreError::Internal(format!("upload {upload}: {e}")))??;
                Ok(Response::Done)
            }
            Request::FinishUpload { upload, object_len } => {
                let actor = inner.uploads.get(upload)?;
                actor
                    .send(Finish { object_len })
                    .await
                    .map_err(|e| StoreError::Internal(format!("upload {upload}: {e}")))??;
                Ok(Response::Done)
            }
            Request::AbortUpload { upload } => {
                if let Ok(actor) = inner.uploads.get(upload) {
                    actor.do_send(Abort);
                }
                Ok(Response::Done)
            }
            Request::StoreFragment {
                spec,
                object_len,
                block,
            } => {
                let fspec = self.fragment_spec(spec)?;
                let rows = fspec.layout.geometry(object_len, fspec.stripe_size).rows();
                let blocks: Vec<&[u8]> = match rows {
                    0 if block.is_empty() => vec![],
                    1 => vec![&block],
                    _ => {
                        return Err(StoreError::BadRequest(format!(
                            "a stored fragment holds one row; an object of {object_len} bytes has {rows}"
                        )))
                    }
                };
                let image = fragment_image(&fspec, object_len, &blocks)
                    .map_err(|e| StoreError::BadRequest(e.to_string()))?;
                if image.len() > MAX_IMAGE_BYTES {
                    return Err(StoreError::BadRequest(format!(
                        "a fragment of {} bytes is too large to store packed (limit {MAX_IMAGE_BYTES})",
                        image.len()
                    )));
                }
                let store = inner.store.get()?;
                store.put_packed(&fspec.fragment_name(), image).await?;
                Ok(Response::Done)
            }
            Request::ForgetFragment {
                name,
                incarnation,
                members,
            } => {
                inner
                    .store
                    .run(move |s| {
                        s.forget_packed(&name, incarnation, members);
                        Ok(())
                    })
                    .await?;
                Ok(Response::Done)
            }
            Request::OpenRead {
                session,
                name,
                incarnation,
            } => {
                inner
                    .store
                    .run(move |s| s.open_read(session, &name, incarnation))
                    .await?;
                Ok(Response::Done)
            }
            Request::ReadBlock {
                session: _,
                name,
                incarnation,
                lbn,
            } => {
                let verify = !self.test_hooks().serve_unverified;
                let data = inner
                    .store
                    .run(move |s| s.read_block(&name, incarnation, lbn, verify))
                    .await?;
                Ok(Response::Block(data))
            }
            Request::ReadBlocks {
                name,
                incarnation,
                first_lbn,
                count,
            } => {
                if count > READ_BLOCKS_MAX {
                    return Err(StoreError::BadRequest(format!(
                        "{count} blocks asked at once; at most {READ_BLOCKS_MAX}"
                    )));
                }
                let verify = !self.test_hooks().serve_unverified;
                let blocks = inner
                    .store
                    .run(move |s| {
                        let last = first_lbn.saturating_add(u64::from(count));
                        let mut out = Vec::with_capacity(count as usize);
                        for lbn in first_lbn..last {
                            match s.read_block(&name, incarnation, lbn, verify) {
                                Ok(b) => out.push(Some(serde_bytes::ByteBuf::from(b))),
                                // No fragment here at all: one error, not `count` Nones.
                                Err(e @ StoreError::NotFound(_)) if out.is_empty() => {
                                    return Err(e)
                                }
                                Err(_) => out.push(None),
                            }
                        }
                        Ok(out)
                    })
                    .await?;
                Ok(Response::Blocks(blocks))
            }
            Request::CloseRead { session } => {
                inner
                    .store
                    .run(move |s| {
                        s.close_read(session);
                        Ok(())
                    })
                    .await?;
                Ok(Response::Done)
            }
            Request::WriteBlock {
                name,
                incarnation,
                lbn,
                data,
            } => {
                inner
                    .store
                    .run(move |s| s.write_block(&name, incarnation, lbn, &data))
                    .await?;
                Ok(Response::Done)
            }
        }
    }
}
