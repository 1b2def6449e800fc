//! The switch's HTTP API: `GET /v1/ring`, `POST /v1/ring/inserts`,
//! `GET /metrics`. Members serve the same `/v1/ring` paths by forwarding here.
//!
//! Errors are JSON `{"error", "status"}` like the members'; a fabric that is
//! restarting answers 503.

use std::net::SocketAddr;

use actix::prelude::*;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;
use stripecast_supervisors::ChildRef;
use tracing::info;

use super::fabric::{AddInsert, Fabric, GetDoc};
use super::status::InsertPage;
use stripecast_actors::gateway::error_response;

/// The body of `POST /v1/ring/inserts`.
#[derive(Debug, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsertRequest {
    pub feed: usize,
    /// Unix time in milliseconds; omitted = now.
    pub at: Option<u64>,
    pub object: String,
}

struct State {
    fabric: ChildRef<Fabric>,
}

const RESTARTING: &str = "the switch fabric is restarting";

/// The status document, or the 503 to answer while the fabric restarts.
async fn doc(st: &State) -> Result<super::RingDoc, HttpResponse> {
    let f = st
        .fabric
        .live_addr()
        .ok_or_else(|| error_response(503, RESTARTING))?;
    f.send(GetDoc)
        .await
        .map_err(|_| error_response(503, RESTARTING))
}

/// `GET /v1/ring[?inserts_after=ID&inserts_limit=N]`: the status with one
/// page of the inserts.
async fn ring(st: web::Data<State>, req: actix_web::HttpRequest) -> HttpResponse {
    let page = match web::Query::<InsertPage>::from_query(req.query_string()) {
        Ok(q) if q.inserts_limit == Some(0) => {
            return error_response(400, "inserts_limit must be at least 1")
        }
        Ok(q) => q.into_inner(),
        Err(e) => {
            return error_response(400, &format!("want ?inserts_after=ID&inserts_limit=N: {e}"))
        }
    };
    match doc(&st).await {
        Ok(d) => HttpResponse::Ok().json(d.page_inserts(page)),
        Err(r) => r,
    }
}

async fn metrics(st: web::Data<State>) -> HttpResponse {
    match doc(&st).await {
        Ok(d) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(d.metrics()),
        Err(r) => r,
    }
}

async fn add_insert(st: web::Data<State>, body: web::Bytes) -> HttpResponse {
    let req: InsertRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                400,
                &format!("want JSON {{\"feed\": N, \"at\": unix-ms, \"object\": NAME}}: {e}"),
            )
        }
    };
    if let Err(m) = stripecast_actors::gateway::names::check(&req.object) {
        return error_response(400, &format!("object: {m}"));
    }
    let Some(f) = st.fabric.live_addr() else {
        return error_response(503, RESTARTING);
    };
    match f
        .send(AddInsert {
            feed: req.feed,
            at: req.at,
            object: req.object,
        })
        .await
    {
        Ok(Ok(rec)) => HttpResponse::Created().json(rec),
        Ok(Err(e)) => error_response(400, &e.to_string()),
        Err(_) => error_response(503, RESTARTING),
    }
}

/// The HTTP server as a supervised actor.
pub struct SwitchHttp {
    addr: SocketAddr,
    server: Option<Server>,
    handle: Option<ServerHandle>,
}

impl SwitchHttp {
    pub fn bind(addr: SocketAddr, fabric: ChildRef<Fabric>) -> std::io::Result<SwitchHttp> {
        let state = web::Data::new(State { fabric });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(64 << 10))
                .route("/v1/ring", web::get().to(ring))
                .route("/v1/ring/inserts", web::post().to(add_insert))
                .route("/metrics", web::get().to(metrics))
                .default_service(web::to(|| async {
                    error_response(404, "no such endpoint")
                }))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(2)
        .bind(addr)?
        .run();
        Ok(SwitchHttp {
            addr,
            handle: Some(server.handle()),
            server: Some(server),
        })
    }
}

impl Actor for SwitchHttp {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        if let Some(server) = self.server.take() {
            actix_rt::spawn(async move {
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "switch http server failed");
                }
            });
        }
        info!(addr = %self.addr, "switch http listening");
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(h) = self.handle.take() {
            actix_rt::spawn(async move { h.stop(true).await });
        }
    }
}
