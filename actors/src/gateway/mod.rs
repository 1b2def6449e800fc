//! The HTTP gateway of one member: an actix-web server under supervision.
//!
//! The socket is bound when the actor is built (a bind failure is the child's
//! abnormal exit, retried by the supervisor); the server runs its own worker
//! threads and stops gracefully with the actor.

pub mod names;
pub mod range;
mod ring_proxy;
pub(crate) mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use actix::prelude::*;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::service::ObjectService;

/// One member as `/v1/cluster` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberDoc {
    pub id: u32,
    /// `up`, `down` or `rebuilding`.
    pub state: String,
    pub http: String,
    pub incarnation: u32,
    /// Objects this member still has to rebuild (0 when current).
    pub dirty: u64,
    /// The highest metadata log index the member has applied (its own, or
    /// as its heartbeats last said).
    #[serde(default)]
    pub applied_index: u64,
    /// How far it is behind the commit index this member knows, in entries.
    #[serde(default)]
    pub lag: u64,
}

/// The `/v1/cluster` document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClusterDoc {
    pub id: u32,
    pub cluster: String,
    pub incarnation: u32,
    pub controller: Option<u32>,
    pub members: Vec<MemberDoc>,
    pub objects: usize,
    /// This member's view of the metadata Raft group (absent while it is not running).
    #[serde(default)]
    pub meta: Option<crate::meta::MetaStatus>,
    /// The cluster's witness, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<WitnessDoc>,
}

/// The witness as a member sees it: a voter of the metadata group, no data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessDoc {
    pub id: u32,
    /// `up` while this member's link to it is up, else `down`.
    pub state: String,
}

/// What the request handlers share.
pub struct GatewayState {
    pub service: ObjectService,
    pub cluster: Arc<dyn Fn() -> ClusterDoc + Send + Sync>,
    /// The transport's links: fault injection and connection counters.
    pub peers: Option<crate::transport::Peers>,
    /// The switch's HTTP address, where `/v1/ring` is forwarded.
    pub ring_http: Option<SocketAddr>,
    /// Where injected heartbeats go (test hook `inject` only).
    pub heartbeats: Option<actix::Recipient<crate::transport::LinkEvent>>,
}

pub struct Gateway {
    addr: SocketAddr,
    server: Option<Server>,
    handle: Option<ServerHandle>,
}

impl Gateway {
    /// Binds the HTTP socket; the server starts with the actor.
    pub fn bind(
        addr: SocketAddr,
        service: ObjectService,
        cluster: Arc<dyn Fn() -> ClusterDoc + Send + Sync>,
        peers: Option<crate::transport::Peers>,
        ring_http: Option<SocketAddr>,
        heartbeats: Option<actix::Recipient<crate::transport::LinkEvent>>,
    ) -> std::io::Result<Gateway> {
        let state = web::Data::new(GatewayState {
            service,
            cluster,
            peers,
            ring_http,
            heartbeats,
        });
        let metrics = state.service.metrics().clone();
        let server = HttpServer::new(move || {
            let metrics = metrics.clone();
            App::new()
                .app_data(state.clone())
                .wrap_fn(move |req, srv| {
                    let method = req.method().to_string();
                    let metrics = metrics.clone();
                    let fut = actix_web::dev::Service::call(srv, req);
                    async move {
                        let res = fut.await?;
                        metrics.request(&method, res.status().as_u16());
                        Ok(res)
                    }
                })
                .configure(routes::configure)
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(5)
        .bind(addr)?
        .run();
        Ok(Gateway {
            addr,
            handle: Some(server.handle()),
            server: Some(server),
        })
    }
}

impl Actor for Gateway {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        if let Some(server) = self.server.take() {
            actix_rt::spawn(async move {
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "http server failed");
                }
            });
        }
        info!(addr = %self.addr, "http gateway listening");
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(h) = self.handle.take() {
            actix_rt::spawn(async move { h.stop(true).await });
        }
    }
}
