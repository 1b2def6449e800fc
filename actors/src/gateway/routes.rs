//! The HTTP API under `/v1`, plus `/metrics`. Every error is JSON
//! `{"error": message, "status": code}`; nothing here panics on input.

use actix_web::body::SizedStream;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use stripecast_persistence::Incarnation;

use super::docs::{ErrorDoc, ObjectEntry};
use super::range::{resolve, Served};
use super::{names, GatewayState};
use crate::service::ServiceError;
use stripecast_config::MemberId;

/// An error answer: `{"error": message, "status": code}` with that status
/// (the one shape of every error body of the HTTP API, for the systems
/// plugged into a member too).
pub fn error_response(status: u16, message: &str) -> HttpResponse {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(code).json(ErrorDoc {
        error: message.to_owned(),
        status: code.as_u16(),
    })
}

fn service_error(e: &ServiceError) -> HttpResponse {
    if e.status() >= 500 {
        tracing::warn!(status = e.status(), error = %e, "request failed");
    }
    error_response(e.status(), &e.public_message())
}

/// The object name of the request, or the 400 to answer.
fn object_name(req: &HttpRequest) -> Result<String, Box<HttpResponse>> {
    let name = req.match_info().get("name").unwrap_or("").to_string();
    names::check(&name).map_err(|e| Box::new(error_response(400, &e.to_string())))?;
    Ok(name)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/objects", web::get().to(list))
        .route("/v1/objects/{name:.*}", web::put().to(put))
        .route("/v1/objects/{name:.*}", web::get().to(get))
        .route("/v1/objects/{name:.*}", web::head().to(head))
        .route("/v1/objects/{name:.*}", web::delete().to(delete))
        .route("/v1/cluster", web::get().to(cluster))
        .route("/v1/scrub", web::post().to(scrub))
        .route("/v1/faults", web::get().to(faults_all))
        .route("/v1/faults/{peer}", web::get().to(faults_get))
        .route("/v1/faults/{peer}", web::put().to(faults_put))
        .route("/v1/faults/{peer}", web::delete().to(faults_clear))
        .route("/v1/inject", web::post().to(inject))
        .route("/metrics", web::get().to(metrics))
        .default_service(web::to(|| async {
            error_response(404, "no such endpoint")
        }));
}

async fn put(req: HttpRequest, body: web::Payload, st: web::Data<GatewayState>) -> HttpResponse {
    let name = match object_name(&req) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let (block_bytes, timeout) = st.service.body_pace();
    let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let body = super::pace::Paced::new(body, block_bytes, timeout, cut.clone());
    match st.service.put(&name, body).await {
        Ok(outcome) => HttpResponse::Created().json(outcome),
        Err(e) if cut.load(std::sync::atomic::Ordering::Relaxed) => {
            tracing::info!(object = %name, error = %e, "PUT body too slow; upload dropped");
            error_response(408, &e.public_message())
        }
        Err(e) => service_error(&e),
    }
}

async fn list(st: web::Data<GatewayState>) -> HttpResponse {
    match st.service.list().await {
        Ok(records) => HttpResponse::Ok().json(
            records
                .into_iter()
                .map(|r| ObjectEntry {
                    name: r.name,
                    length: r.length,
                    incarnation: r.incarnation,
                    created_ns: r.creation_time_ns,
                })
                .collect::<Vec<_>>(),
        ),
        Err(e) => service_error(&e),
    }
}

fn object_headers(b: &mut actix_web::HttpResponseBuilder, incarnation: Incarnation) {
    b.insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::ETAG, format!("\"{incarnation:08x}\"")))
        .insert_header(("x-stripecast-incarnation", incarnation.to_string()))
        .content_type("application/octet-stream");
}

async fn head(req: HttpRequest, st: web::Data<GatewayState>) -> HttpResponse {
    let name = match object_name(&req) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    match st.service.record(&name).await {
        Ok(r) => {
            let mut b = HttpResponse::Ok();
            object_headers(&mut b, r.incarnation);
            // HEAD: actix sends the headers of this sized body and never polls it.
            b.body(SizedStream::new(
                r.length,
                futures::stream::empty::<Result<bytes::Bytes, ServiceError>>(),
            ))
        }
        Err(e) => HttpResponse::build(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
        .finish(),
    }
}

async fn get(req: HttpRequest, st: web::Data<GatewayState>) -> HttpResponse {
    let name = match object_name(&req) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let obj = match st.service.open(&name).await {
        Ok(o) => o,
        Err(e) => return service_error(&e),
    };
    let len = obj.len();
    let incarnation = obj.record.incarnation;
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok());
    match resolve(range, len) {
        Served::Unsatisfiable => {
            let mut r = error_response(416, &format!("range not satisfiable for {len} bytes"));
            if let Ok(v) = header::HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
        Served::Whole => {
            let mut b = HttpResponse::Ok();
            object_headers(&mut b, incarnation);
            b.body(SizedStream::new(len, st.service.stream(obj, 0, len)))
        }
        Served::Partial { start, end } => {
            let mut b = HttpResponse::PartialContent();
            object_headers(&mut b, incarnation);
            b.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{len}", end - 1),
            ));
            b.body(SizedStream::new(
                end - start,
                st.service.stream(obj, start, end),
            ))
        }
    }
}

async fn delete(req: HttpRequest, st: web::Data<GatewayState>) -> HttpResponse {
    let name = match object_name(&req) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    match st.service.delete(&name).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(e) => service_error(&e),
    }
}

/// Verifies every block of this member's fragments (parity included) and repairs bad ones.
async fn scrub(st: web::Data<GatewayState>) -> HttpResponse {
    match st.service.scrub().await {
        Ok(report) => HttpResponse::Ok().json(report),
        Err(e) => service_error(&e),
    }
}

async fn cluster(st: web::Data<GatewayState>) -> HttpResponse {
    HttpResponse::Ok().json((st.cluster)())
}

async fn metrics(st: web::Data<GatewayState>) -> HttpResponse {
    let links: Vec<(MemberId, bool)> = MemberId::all(st.service.layout().members())
        .filter(|&m| m != st.service.me())
        .map(|m| (m, st.service.is_up(m)))
        .collect();
    let mut extra: Vec<(&str, &str, u64)> = vec![
        (
            "stripecast_rebuild_remaining",
            "Objects this member still has to rebuild.",
            st.service.rebuild_remaining(),
        ),
        (
            "stripecast_read_ahead_bytes",
            "Read-ahead reserved by the GET streams this member serves (at most 1 GiB together).",
            st.service.read_ahead_bytes(),
        ),
    ];
    if let Ok(store) = st.service.store().get() {
        let gc = store.group_commit_stats();
        let (packed, dead) = store.packed_counts();
        extra.extend([
            (
                "stripecast_packed_fragments",
                "Fragments of one-row objects held packed in segment files.",
                packed,
            ),
            (
                "stripecast_packed_dead_bytes",
                "Bytes of packed segments no longer used (reclaimed by compaction).",
                dead,
            ),
            (
                "stripecast_read_pins_total",
                "Fragments this member pinned for a read session (GETs of objects of more than one row).",
                store.read_pins(),
            ),
            (
                "stripecast_group_commit_flushes_total",
                "Flushes that made packed fragments durable.",
                gc.flushes.load(std::sync::atomic::Ordering::Relaxed),
            ),
            (
                "stripecast_group_commit_fragments_total",
                "Packed fragments made durable (over flushes: fragments per fsync).",
                gc.fragments.load(std::sync::atomic::Ordering::Relaxed),
            ),
        ]);
    }
    if let Some(p) = &st.peers {
        let t = p.stats();
        extra.extend([
            (
                "stripecast_peer_connections_accepted",
                "TCP connections accepted on the peer port.",
                t.tcp_accepted,
            ),
            (
                "stripecast_peer_handshakes_accepted",
                "Inbound peer handshakes completed.",
                t.handshakes_accepted,
            ),
            (
                "stripecast_peer_handshakes_dialed",
                "Outbound peer handshakes completed.",
                t.handshakes_dialed,
            ),
            (
                "stripecast_peer_handshake_failures",
                "Peer handshakes refused or failed.",
                t.handshake_failures,
            ),
            (
                "stripecast_peer_handshakes_evicted",
                "Inbound peer handshakes closed to admit a newer connection (a crowded peer port).",
                t.handshakes_evicted,
            ),
            (
                "stripecast_peer_bad_frames",
                "Peer connections closed for an undecodable frame.",
                t.bad_frames,
            ),
        ]);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(st.service.metrics().render(&links, &extra))
}

fn fault_handle(
    st: &GatewayState,
) -> Result<crate::transport::faults::FaultHandle, Box<HttpResponse>> {
    st.peers
        .as_ref()
        .map(|p| p.faults())
        .ok_or_else(|| Box::new(error_response(503, "no transport")))
}

fn peer_id(req: &HttpRequest, st: &GatewayState) -> Result<MemberId, Box<HttpResponse>> {
    let n = st.service.layout().members();
    req.match_info()
        .get("peer")
        .and_then(|p| p.parse::<MemberId>().ok())
        .filter(|&p| p.position() < n && p != st.service.me())
        .ok_or_else(|| {
            Box::new(error_response(
                400,
                &format!("peer must be another member id below {n}"),
            ))
        })
}

/// Faults injected on this member's links, by peer.
async fn faults_all(st: web::Data<GatewayState>) -> HttpResponse {
    match fault_handle(&st) {
        Ok(f) => HttpResponse::Ok().json(f.snapshot()),
        Err(r) => *r,
    }
}

async fn faults_get(req: HttpRequest, st: web::Data<GatewayState>) -> HttpResponse {
    match (fault_handle(&st), peer_id(&req, &st)) {
        (Ok(f), Ok(p)) => HttpResponse::Ok().json(f.get(p)),
        (Err(r), _) | (_, Err(r)) => *r,
    }
}

/// Sets the faults on the link to one peer, e.g. `{"partition": true}` or `{"delay_ms": 50}`.
async fn faults_put(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<GatewayState>,
) -> HttpResponse {
    let (f, p) = match (fault_handle(&st), peer_id(&req, &st)) {
        (Ok(f), Ok(p)) => (f, p),
        (Err(r), _) | (_, Err(r)) => return *r,
    };
    match serde_json::from_slice::<crate::transport::faults::LinkFaults>(&body) {
        Ok(faults) => {
            tracing::warn!(
                member = %st.service.me(),
                peer = %p,
                ?faults,
                "fault injection set"
            );
            f.set(p, faults.clone());
            HttpResponse::Ok().json(faults)
        }
        Err(e) => error_response(400, &format!("fault spec: {e}")),
    }
}

/// `POST /v1/inject`: a crafted peer message, handled as if `from` had sent
/// it: a `request` (to the request handler) or a `heartbeat` status (to the
/// membership view). Test-only hook `inject`; see `crate::testing`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Injection {
    from: MemberId,
    #[serde(default)]
    request: Option<crate::protocol::Request>,
    #[serde(default)]
    heartbeat: Option<crate::protocol::NodeStatus>,
}

async fn inject(body: web::Bytes, st: web::Data<GatewayState>) -> HttpResponse {
    if !st.service.test_hooks().inject {
        return error_response(
            403,
            "message injection is off (start the member with --test-hook inject)",
        );
    }
    let inj = match serde_json::from_slice::<Injection>(&body) {
        Ok(i) => i,
        Err(e) => return error_response(400, &format!("injection: {e}")),
    };
    let n = st.service.layout().members();
    if inj.from.position() >= n || inj.from == st.service.me() {
        return error_response(400, &format!("from must be another member id below {n}"));
    }
    match (inj.request, inj.heartbeat) {
        (Some(request), None) => {
            tracing::warn!(
                member = %st.service.me(),
                peer = %inj.from,
                ?request,
                "injected peer request"
            );
            HttpResponse::Ok().json(st.service.handle(inj.from, request).await)
        }
        (None, Some(status)) => {
            tracing::warn!(
                member = %st.service.me(),
                peer = %inj.from,
                ?status,
                "injected heartbeat"
            );
            let Some(to) = &st.heartbeats else {
                return error_response(503, "no membership view to inject into");
            };
            to.do_send(crate::transport::LinkEvent::Status {
                peer: inj.from,
                status,
            });
            HttpResponse::Accepted().json(serde_json::json!({ "delivered": true }))
        }
        _ => error_response(
            400,
            "injection: give exactly one of `request` and `heartbeat`",
        ),
    }
}

async fn faults_clear(req: HttpRequest, st: web::Data<GatewayState>) -> HttpResponse {
    match (fault_handle(&st), peer_id(&req, &st)) {
        (Ok(f), Ok(p)) => {
            f.clear(p);
            HttpResponse::NoContent().finish()
        }
        (Err(r), _) | (_, Err(r)) => *r,
    }
}
