//! The HTTP gateway of one member: an actix-web server under supervision.
//!
//! The socket is bound when the actor is built (a bind failure is the child's
//! abnormal exit, retried by the supervisor); the server runs its own worker
//! threads and stops gracefully with the actor.

pub mod docs;
pub mod names;
mod pace;
pub mod range;
pub(crate) mod routes;

pub use docs::{ClusterDoc, MemberDoc, MemberState, WitnessDoc};
pub use routes::error_response;

use std::net::SocketAddr;
use std::sync::Arc;

use actix::prelude::*;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use tracing::info;

use crate::service::ObjectService;

/// What the request handlers share.
pub struct GatewayState {
    pub service: ObjectService,
    pub cluster: Arc<dyn Fn() -> ClusterDoc + Send + Sync>,
    /// The transport's links: fault injection and connection counters.
    pub peers: Option<crate::transport::Peers>,
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
        heartbeats: Option<actix::Recipient<crate::transport::LinkEvent>>,
        extra_routes: Vec<crate::node::Routes>,
        http: stripecast_config::HttpSettings,
    ) -> std::io::Result<Gateway> {
        let http = Arc::new(http);
        let state = web::Data::new(GatewayState {
            service,
            cluster,
            peers,
            heartbeats,
        });
        let metrics = state.service.metrics().clone();
        let server = HttpServer::new(move || {
            let metrics = metrics.clone();
            let http = http.clone();
            App::new()
                .app_data(state.clone())
                .wrap_fn(move |req, srv| {
                    let method = req.method().to_string();
                    let metrics = metrics.clone();
                    // `[http] allowed_hosts`: a Host this member does not
                    // answer to (a DNS name rebound to it) gets 403 before
                    // any route runs.
                    let host = req
                        .headers()
                        .get(actix_web::http::header::HOST)
                        .and_then(|h| h.to_str().ok());
                    let fut = if http.allows(host) {
                        futures::future::Either::Right(actix_web::dev::Service::call(srv, req))
                    } else {
                        tracing::info!(host = ?host.map(str::to_owned), "request for a host not allowed; refused");
                        let res = req.into_response(routes::error_response(403, "host not allowed"));
                        futures::future::Either::Left(futures::future::ready(Ok(res)))
                    };
                    async move {
                        let res = fut.await?;
                        metrics.request(&method, res.status().as_u16());
                        Ok(res)
                    }
                })
                .configure(|cfg| {
                    for extra in &extra_routes {
                        extra(cfg);
                    }
                    routes::configure(cfg);
                })
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
