//! The supervised `meta` child of a member or of the witness: opens the
//! metadata replica (its own sled database, `DATA_DIR/meta`) when it
//! starts, publishes the handle to its [`MetaHost`] (which steps incoming
//! `Request::Raft` messages into it, see [`deliver`]) and stops the
//! replica's thread when it stops, so a restart reopens the database
//! cleanly. A replica whose thread ended on its own (a storage failure)
//! stops this child, and the supervisor restarts it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::group::{Applier, MetaConfig};
use super::runner::{MetaHandle, Sender};
use crate::protocol::Request;
use crate::service::PeerRequester;
use crate::transport::Peers;
use stripecast_config::MemberId;

/// Milliseconds between two Raft ticks: elections after 10-20 ticks
/// (0.5-1 s), leader heartbeats every 2 (100 ms).
pub const TICK_MS: u64 = 50;

/// What the `meta` child serves: a member's object service, or the witness.
pub trait MetaHost: Send + Sync + 'static {
    fn me(&self) -> MemberId;
    /// What follows the applied log (a member's catalog and fragments),
    /// built anew at each (re)start; `None` on the witness, which holds no data.
    fn applier(&self) -> Option<Box<dyn Applier>>;
    /// Publishes the running replica (`None` once it stops).
    fn publish(&self, handle: Option<MetaHandle>);
}

/// A Raft message that arrived from `from`, for member `to`: stepped into
/// this process's replica when `to` is `me`, else relayed (best effort,
/// like every Raft message: Raft resends).
pub fn deliver(
    me: MemberId,
    meta: Option<MetaHandle>,
    peers: Option<Arc<dyn PeerRequester>>,
    from: MemberId,
    to: MemberId,
    msg: Vec<u8>,
) {
    if to == me {
        if let Some(meta) = meta {
            meta.step(from, msg);
        }
    } else if let Some(peers) = peers {
        actix_rt::spawn(async move {
            let _ = peers.request(to, Request::Raft { msg }).await;
        });
    }
}

pub struct MetaActor {
    host: Arc<dyn MetaHost>,
    handle: Option<MetaHandle>,
}

impl MetaActor {
    /// Opens the replica of `host` in the group of `voters`, sending through `peers`.
    pub fn open(
        voters: Vec<MemberId>,
        witness: Option<MemberId>,
        data_dir: PathBuf,
        host: Arc<dyn MetaHost>,
        peers: Peers,
    ) -> std::io::Result<MetaActor> {
        let me = host.me();
        let db = stripecast_persistence::DurableDb::open(data_dir.join("meta"))
            .map_err(std::io::Error::other)?;
        let arbiter = Arbiter::current();
        let turn = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let send: Sender = Arc::new(move |to, msg| {
            let peers = peers.clone();
            // Direct when the link is up; else through another live member.
            let (via, req) = if peers.is_up(to) {
                (to, Request::Raft { msg })
            } else {
                let relays: Vec<MemberId> = peers
                    .peer_ids()
                    .into_iter()
                    .filter(|&p| p != to && peers.is_up(p))
                    .collect();
                if relays.is_empty() {
                    return;
                }
                let i = turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % relays.len();
                (relays[i], Request::RaftRelay { to, msg })
            };
            arbiter.spawn(async move {
                if let Err(e) = peers.request(via, req).await {
                    tracing::trace!(member = %me, peer = %to, %via, error = %e, "raft message not delivered");
                }
            });
        });
        let cfg = MetaConfig {
            witness,
            ..MetaConfig::default()
        };
        let handle = MetaHandle::start(
            me,
            voters,
            db,
            cfg,
            Duration::from_millis(TICK_MS),
            send,
            host.applier(),
        )
        .map_err(std::io::Error::other)?;
        host.publish(Some(handle.clone()));
        Ok(MetaActor {
            host,
            handle: Some(handle),
        })
    }
}

impl Actor for MetaActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // A replica that stopped itself (its storage failed) ends this child,
        // so the supervisor reopens it.
        ctx.run_interval(Duration::from_millis(TICK_MS * 4), |act, ctx| {
            if act.handle.as_ref().is_some_and(|h| !h.is_running()) {
                tracing::error!(
                    member = %act.host.me(),
                    "metadata replica stopped; restarting it"
                );
                ctx.stop();
            }
        });
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.host.publish(None);
        if let Some(h) = self.handle.take() {
            h.stop();
        }
        Running::Stop
    }
}
