//! The supervised `meta` child of a member: opens the metadata replica
//! (its own sled database, `DATA_DIR/meta`) when it starts, publishes the
//! handle to the object service (which steps incoming `Request::Raft`
//! messages into it) and stops the replica's thread when it stops, so a
//! restart reopens the database cleanly. A replica whose thread ended on
//! its own (a storage failure) stops this child, and the supervisor
//! restarts it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::group::MetaConfig;
use super::mirror::StoreMirror;
use super::runner::{MetaHandle, Sender};
use crate::protocol::Request;
use crate::service::ObjectService;
use crate::transport::Peers;

/// Milliseconds between two Raft ticks: elections after 10-20 ticks
/// (0.5-1 s), leader heartbeats every 2 (100 ms).
pub const TICK_MS: u64 = 50;

pub struct MetaActor {
    service: ObjectService,
    handle: Option<MetaHandle>,
}

impl MetaActor {
    /// Opens the replica of member `me` of `members`, sending through `peers`.
    pub fn open(
        me: u32,
        members: Vec<u32>,
        data_dir: PathBuf,
        service: ObjectService,
        peers: Peers,
    ) -> std::io::Result<MetaActor> {
        let db = sled::open(data_dir.join("meta")).map_err(std::io::Error::other)?;
        let arbiter = Arbiter::current();
        let turn = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let send: Sender = Arc::new(move |to, msg| {
            let peers = peers.clone();
            // Direct when the link is up; else through another live member.
            let (via, req) = if peers.is_up(to) {
                (to, Request::Raft { msg })
            } else {
                let relays: Vec<u32> = peers
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
                    tracing::trace!(member = me, peer = to, via, error = %e, "raft message not delivered");
                }
            });
        });
        let mirror = StoreMirror::new(service.store().clone(), members.len() as u32);
        let handle = MetaHandle::start(
            me,
            members,
            db,
            MetaConfig::default(),
            Duration::from_millis(TICK_MS),
            send,
            Some(Box::new(mirror)),
        )
        .map_err(std::io::Error::other)?;
        service.set_meta(Some(handle.clone()));
        Ok(MetaActor {
            service,
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
                    member = act.service.me(),
                    "metadata replica stopped; restarting it"
                );
                ctx.stop();
            }
        });
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.service.set_meta(None);
        if let Some(h) = self.handle.take() {
            h.stop();
        }
        Running::Stop
    }
}
