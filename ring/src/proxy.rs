//! `/v1/ring` on a member: forwarded to the switch named by the member's
//! `[ring]` link, so operators can ask any member about the ring.
//!
//! The switch's answer (status and body) is passed on as is; a member without
//! a ring link answers 404, an unreachable switch 503.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use stripecast_actors::gateway::error_response;

const TIMEOUT: Duration = Duration::from_secs(5);

enum Forward {
    Get,
    Post(web::Bytes),
}

/// The switch's HTTP address, where `/v1/ring` is forwarded (none: this
/// member has no `[ring]` link).
#[derive(Debug, Clone, Copy)]
struct SwitchHttp(Option<SocketAddr>);

/// The routes a member serves `/v1/ring` with, given its `[ring]` link's
/// switch (if any).
pub fn routes(switch_http: Option<SocketAddr>) -> stripecast_actors::node::Routes {
    std::sync::Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(SwitchHttp(switch_http)))
            .route("/v1/ring", web::get().to(status))
            .route("/v1/ring/inserts", web::post().to(add_insert));
    })
}

async fn forward(st: &SwitchHttp, path: String, how: Forward) -> HttpResponse {
    let Some(addr) = st.0 else {
        return error_response(404, "this member has no [ring] link to a switch");
    };
    let answer = web::block(move || call(addr, &path, how)).await;
    match answer {
        Ok(Ok((status, body))) => {
            HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY))
                .content_type("application/json")
                .body(body)
        }
        Ok(Err(e)) => error_response(503, &format!("switch at {addr} unreachable: {e}")),
        Err(e) => error_response(500, &e.to_string()),
    }
}

/// Why the switch gave no answer.
#[derive(Debug, thiserror::Error)]
enum ProxyError {
    #[error(transparent)]
    Http(#[from] Box<ureq::Error>),
    #[error("reading the answer: {0}")]
    Body(#[from] std::io::Error),
}

fn call(addr: SocketAddr, path: &str, how: Forward) -> Result<(u16, Vec<u8>), ProxyError> {
    let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
    let url = format!("http://{addr}{path}");
    let res = match how {
        Forward::Get => agent.get(&url).call(),
        Forward::Post(body) => agent
            .post(&url)
            .set("content-type", "application/json")
            .send_bytes(&body),
    };
    let res = match res {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(Box::new(e).into()),
    };
    let status = res.status();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut res.into_reader(), &mut body)?;
    Ok((status, body))
}

/// `GET /v1/ring`, its query (the page of inserts) passed on.
async fn status(st: web::Data<SwitchHttp>, req: actix_web::HttpRequest) -> HttpResponse {
    let path = match req.query_string() {
        "" => "/v1/ring".to_owned(),
        q => format!("/v1/ring?{q}"),
    };
    forward(&st, path, Forward::Get).await
}

async fn add_insert(st: web::Data<SwitchHttp>, body: web::Bytes) -> HttpResponse {
    forward(&st, "/v1/ring/inserts".to_owned(), Forward::Post(body)).await
}
