//! SigV4 keys and grants for the S3 listener: s3s checks the signature
//! with the secret [`Keys`] gives for an access key id (the root key of
//! `[auth]` or a key of the replicated metadata), and [`Grants`] decides
//! each operation from the bucket's grants, as the `/v1` API does
//! (`stripecast_actors::authority`).
//!
//! Which action an operation needs: reads (GET, HEAD) a read grant or a
//! public-read bucket; writes (PUT, POST, DELETE of objects, DeleteObjects)
//! a write grant; CreateBucket and DeleteBucket an admin key; ListBuckets
//! any valid key (the answer holds only the buckets it may read).

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{s3_error, S3Result};
use stripecast_actors::authority::{Authority, Denied};
use stripecast_actors::meta::Action;

/// The secret of an access key id.
pub struct Keys(pub Authority);

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.key(access_key).await {
            Ok(Some(k)) => Ok(SecretKey::from(k.secret)),
            Ok(None) => Err(s3_error!(InvalidAccessKeyId)),
            Err(_) => Err(s3_error!(
                ServiceUnavailable,
                "keys cannot be checked now; retry"
            )),
        }
    }
}

/// What an operation on `path` with `method` needs.
pub fn action_of(
    op: &str,
    method: &http::Method,
    path: &S3Path,
) -> Option<(Action, Option<String>)> {
    let read = method == http::Method::GET || method == http::Method::HEAD;
    match path {
        S3Path::Root => None,
        S3Path::Bucket { bucket } => {
            let action = match op {
                "CreateBucket" | "DeleteBucket" => Action::Admin,
                _ if read => Action::Read,
                _ => Action::Write,
            };
            Some((action, Some(format!("{bucket}/"))))
        }
        S3Path::Object { bucket, key } => Some((
            if read { Action::Read } else { Action::Write },
            Some(format!("{bucket}/{key}")),
        )),
    }
}

/// Grants per operation.
pub struct Grants(pub Authority);

#[async_trait::async_trait]
impl S3Access for Grants {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let key = match cx.credentials() {
            Some(c) => match self.0.key(&c.access_key).await {
                Ok(k) => k,
                Err(_) => {
                    return Err(s3_error!(
                        ServiceUnavailable,
                        "keys cannot be checked now; retry"
                    ))
                }
            },
            None => None,
        };
        let Some((action, name)) = action_of(cx.s3_op().name(), cx.method(), cx.s3_path()) else {
            // ListBuckets: any valid key.
            return if key.is_some() {
                Ok(())
            } else {
                Err(s3_error!(AccessDenied, "authentication required"))
            };
        };
        match self.0.allows(key.as_ref(), action, name.as_deref()) {
            Ok(()) => Ok(()),
            Err(Denied::Unavailable) => Err(s3_error!(ServiceUnavailable)),
            Err(_) => Err(s3_error!(AccessDenied)),
        }
    }
}
