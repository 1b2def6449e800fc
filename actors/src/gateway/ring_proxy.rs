//! `/v1/ring` on a member: forwarded to the switch named by the member's
//! `[ring]` link, so operators can ask any member about the ring.
//!
//! The switch's answer (status and body) is passed on as is; a member without
//! a ring link answers 404, an unreachable switch 503.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::routes::error_response;
use super::GatewayState;

const TIMEOUT: Duration = Duration::from_secs(5);

enum Forward {
    Get,
    Post(web::Bytes),
}

async fn forward(st: &GatewayState, path: &'static str, how: Forward) -> HttpResponse {
    let Some(addr) = st.ring_http else {
        return error_response(404, "this member has no [ring] link to a switch");
    };
    let answer = web::block(move || call(addr, path, how)).await;
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

fn call(addr: SocketAddr, path: &str, how: Forward) -> Result<(u16, Vec<u8>), String> {
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
        Err(e) => return Err(e.to_string()),
    };
    let status = res.status();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut res.into_reader(), &mut body).map_err(|e| e.to_string())?;
    Ok((status, body))
}

pub async fn status(st: web::Data<GatewayState>) -> HttpResponse {
    forward(&st, "/v1/ring", Forward::Get).await
}

pub async fn add_insert(st: web::Data<GatewayState>, body: web::Bytes) -> HttpResponse {
    forward(&st, "/v1/ring/inserts", Forward::Post(body)).await
}
