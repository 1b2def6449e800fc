//! The HTTP API under `/v1`, plus `/metrics`. Every error is JSON
//! `{"error": message, "status": code}`; nothing here panics on input.

use actix_web::body::SizedStream;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::range::{resolve, Served};
use super::{names, GatewayState};
use crate::service::ServiceError;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    status: u16,
}

pub fn error_response(status: u16, message: &str) -> HttpResponse {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(code).json(ErrorBody {
        error: message,
        status: code.as_u16(),
    })
}

fn service_error(e: &ServiceError) -> HttpResponse {
    error_response(e.status(), &e.to_string())
}

/// The object name of the request, or the 400 to answer.
fn object_name(req: &HttpRequest) -> Result<String, Box<HttpResponse>> {
    let name = req.match_info().get("name").unwrap_or("").to_string();
    names::check(&name).map_err(|m| Box::new(error_response(400, &m)))?;
    Ok(name)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/objects", web::get().to(list))
        .route("/v1/objects/{name:.*}", web::put().to(put))
        .route("/v1/objects/{name:.*}", web::get().to(get))
        .route("/v1/objects/{name:.*}", web::head().to(head))
        .route("/v1/objects/{name:.*}", web::delete().to(delete))
        .route("/v1/cluster", web::get().to(cluster))
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
    match st.service.put(&name, body).await {
        Ok(outcome) => HttpResponse::Created().json(outcome),
        Err(e) => service_error(&e),
    }
}

#[derive(Serialize)]
struct ListEntry {
    name: String,
    length: u64,
    incarnation: u32,
    created_ns: u64,
}

async fn list(st: web::Data<GatewayState>) -> HttpResponse {
    match st.service.list().await {
        Ok(records) => HttpResponse::Ok().json(
            records
                .into_iter()
                .map(|r| ListEntry {
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

fn object_headers(b: &mut actix_web::HttpResponseBuilder, incarnation: u32) {
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

async fn cluster(st: web::Data<GatewayState>) -> HttpResponse {
    HttpResponse::Ok().json((st.cluster)())
}

async fn metrics(st: web::Data<GatewayState>) -> HttpResponse {
    let links: Vec<(u32, bool)> = (0..st.service.layout().members() as u32)
        .filter(|&m| m != st.service.me())
        .map(|m| (m, st.service.is_up(m)))
        .collect();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(st.service.metrics().render(&links, &[]))
}
