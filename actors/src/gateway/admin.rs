//! Keys, buckets and grants over HTTP (admin key only, see `auth`): what
//! `stripecast key ...` and `stripecast bucket ...` call. Every change is a
//! command through the metadata group, answered once it is applied here.
//!
//! * `GET /v1/keys`, `POST /v1/keys` `{"name", "admin"}` (the answer holds
//!   the secret, the only time it is shown), `DELETE /v1/keys/{name}`;
//! * `GET /v1/buckets`, `PUT /v1/buckets/{bucket}` (create),
//!   `DELETE /v1/buckets/{bucket}` (only when empty),
//!   `PUT /v1/buckets/{bucket}/grants/{key}` `{"read", "write"}`,
//!   `PUT /v1/buckets/{bucket}/public-read` `{"public_read"}`.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::routes::error_response;
use super::GatewayState;
use crate::meta::{AccessCommand, AccessRefusal, Applied, Grant, KeyEntry, MetaCommand};
use crate::service::now_ns;

/// A key as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDoc {
    pub name: String,
    pub access_key_id: String,
    pub admin: bool,
    pub created_ns: u64,
}

/// A key just made: the only answer that holds its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKeyDoc {
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub admin: bool,
}

/// What `POST /v1/keys` takes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewKeyRequest {
    pub name: String,
    #[serde(default)]
    pub admin: bool,
}

/// A bucket as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketDoc {
    pub name: String,
    pub public_read: bool,
    pub grants: BTreeMap<String, Grant>,
    pub created_ns: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicReadRequest {
    pub public_read: bool,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/keys", web::get().to(list_keys))
        .route("/v1/keys", web::post().to(create_key))
        .route("/v1/keys/{name}", web::delete().to(delete_key))
        .route("/v1/buckets", web::get().to(list_buckets))
        .route("/v1/buckets/{bucket}", web::put().to(create_bucket))
        .route("/v1/buckets/{bucket}", web::delete().to(delete_bucket))
        .route(
            "/v1/buckets/{bucket}/grants/{key}",
            web::put().to(set_grant),
        )
        .route(
            "/v1/buckets/{bucket}/public-read",
            web::put().to(set_public_read),
        );
}

/// A random string of `len` characters from `alphabet`.
fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// A fresh access key id (20 characters, as AWS's) and secret (40).
pub fn new_credential() -> (String, String) {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const ANY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (
        format!("SC{}", random_string(18, UPPER)),
        random_string(40, ANY),
    )
}

/// Proposes an access command; the HTTP answer for its outcome.
async fn change(st: &GatewayState, cmd: AccessCommand, ok: HttpResponse) -> HttpResponse {
    let Some(meta) = st.service.meta() else {
        return error_response(503, "the metadata replica is not running; retry");
    };
    match meta.propose(MetaCommand::access(cmd)).await {
        Ok(Applied::AccessChanged) => ok,
        Ok(Applied::AccessRefused(why)) => {
            let status = match why {
                AccessRefusal::NoSuchKey(_) | AccessRefusal::NoSuchBucket(_) => 404,
                AccessRefusal::KeyExists(_)
                | AccessRefusal::BucketExists(_)
                | AccessRefusal::BucketNotEmpty(_) => 409,
                AccessRefusal::Full(_) => 507,
                AccessRefusal::Invalid(_) => 400,
            };
            error_response(status, &why.to_string())
        }
        Ok(other) => {
            tracing::error!(outcome = ?other, "unexpected outcome of an access command");
            error_response(500, "unexpected outcome")
        }
        Err(e) => error_response(503, &e.to_string()),
    }
}

async fn list_keys(st: web::Data<GatewayState>) -> HttpResponse {
    let Some(meta) = st.service.meta() else {
        return error_response(503, "the metadata replica is not running; retry");
    };
    match meta
        .read(|s| {
            s.access
                .keys
                .values()
                .map(|k| KeyDoc {
                    name: k.name.clone(),
                    access_key_id: k.access_key_id.clone(),
                    admin: k.admin,
                    created_ns: k.created_ns,
                })
                .collect::<Vec<_>>()
        })
        .await
    {
        Ok(mut keys) => {
            keys.sort_by(|a, b| a.name.cmp(&b.name));
            HttpResponse::Ok().json(keys)
        }
        Err(e) => error_response(503, &e.to_string()),
    }
}

async fn create_key(st: web::Data<GatewayState>, body: web::Json<NewKeyRequest>) -> HttpResponse {
    let (access_key_id, secret) = new_credential();
    let key = KeyEntry {
        name: body.name.clone(),
        access_key_id: access_key_id.clone(),
        secret: secret.clone(),
        admin: body.admin,
        created_ns: now_ns(),
    };
    tracing::info!(key = %body.name, %access_key_id, admin = body.admin, "key created");
    let doc = NewKeyDoc {
        name: body.name.clone(),
        access_key_id,
        secret_access_key: secret,
        admin: body.admin,
    };
    change(
        &st,
        AccessCommand::CreateKey(key),
        HttpResponse::Created().json(doc),
    )
    .await
}

async fn delete_key(req: HttpRequest, st: web::Data<GatewayState>) -> HttpResponse {
    let name = req.match_info().get("name").unwrap_or("").to_string();
    change(
        &st,
        AccessCommand::DeleteKey { name },
        HttpResponse::NoContent().finish(),
    )
    .await
}

async fn list_buckets(st: web::Data<GatewayState>) -> HttpResponse {
    let Some(meta) = st.service.meta() else {
        return error_response(503, "the metadata replica is not running; retry");
    };
    match meta
        .read(|s| {
            s.access
                .buckets
                .iter()
                .map(|(name, b)| BucketDoc {
                    name: name.clone(),
                    public_read: b.public_read,
                    grants: b.grants.clone(),
                    created_ns: b.created_ns,
                })
                .collect::<Vec<_>>()
        })
        .await
    {
        Ok(buckets) => HttpResponse::Ok().json(buckets),
        Err(e) => error_response(503, &e.to_string()),
    }
}

fn bucket_of(req: &HttpRequest) -> String {
    req.match_info().get("bucket").unwrap_or("").to_string()
}

async fn create_bucket(req: HttpRequest, st: web::Data<GatewayState>) -> HttpResponse {
    let bucket = bucket_of(&req);
    change(
        &st,
        AccessCommand::CreateBucket {
            bucket,
            created_ns: now_ns(),
        },
        HttpResponse::Created().finish(),
    )
    .await
}

async fn delete_bucket(req: HttpRequest, st: web::Data<GatewayState>) -> HttpResponse {
    let bucket = bucket_of(&req);
    change(
        &st,
        AccessCommand::DeleteBucket { bucket },
        HttpResponse::NoContent().finish(),
    )
    .await
}

async fn set_grant(
    req: HttpRequest,
    st: web::Data<GatewayState>,
    body: web::Json<Grant>,
) -> HttpResponse {
    let bucket = bucket_of(&req);
    let key = req.match_info().get("key").unwrap_or("").to_string();
    change(
        &st,
        AccessCommand::Grant {
            bucket,
            key,
            grant: body.into_inner(),
        },
        HttpResponse::NoContent().finish(),
    )
    .await
}

async fn set_public_read(
    req: HttpRequest,
    st: web::Data<GatewayState>,
    body: web::Json<PublicReadRequest>,
) -> HttpResponse {
    let bucket = bucket_of(&req);
    change(
        &st,
        AccessCommand::PublicRead {
            bucket,
            public_read: body.public_read,
        },
        HttpResponse::NoContent().finish(),
    )
    .await
}
