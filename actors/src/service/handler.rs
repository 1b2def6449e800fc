//! What this member does with a request about its own fragments, whether it
//! came from a peer over the transport or from this member's own coordinator.

use stripecast_persistence::{FragmentSpec, Layout};

use super::ObjectService;
use crate::protocol::{Request, Response};
use crate::store::upload::{Abort, Append, Finish};
use crate::store::StoreError;

impl ObjectService {
    /// Handles one request; every failure becomes a `Response::Error`.
    pub async fn handle(&self, from: u32, req: Request) -> Response {
        match self.handle_inner(from, req).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(member = self.me(), peer = from, error = %e, "request failed");
                Response::Error {
                    kind: e.kind(),
                    message: e.to_string(),
                }
            }
        }
    }

    async fn handle_inner(&self, from: u32, req: Request) -> Result<Response, StoreError> {
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
                if u32::from(spec.fragment_index) != inner.me {
                    return Err(StoreError::BadRequest(format!(
                        "fragment {} sent to member {}",
                        spec.fragment_index, inner.me
                    )));
                }
                let layout = Layout::new(usize::from(spec.members), usize::from(spec.parity))
                    .map_err(|e| StoreError::BadRequest(e.to_string()))?;
                let fragments = inner.fragments.live_addr().ok_or_else(|| {
                    StoreError::Internal("fragments supervisor not running".into())
                })?;
                let fspec = FragmentSpec {
                    name: spec.name,
                    incarnation: spec.incarnation,
                    creation_time_ns: spec.creation_time_ns,
                    stripe_size: spec.stripe_size,
                    layout,
                    fragment_index: usize::from(spec.fragment_index),
                };
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
