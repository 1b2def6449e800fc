//! The S3 operations on the cluster (s3s's `S3` trait): buckets are the
//! replicated metadata's buckets, object `KEY` of bucket `B` is the
//! cluster object `B/KEY`, its ETag, Content-Type and `x-amz-meta-*` are
//! committed with its record (`meta::attrs`).
//!
//! s3s wants `Send` futures; the object service's are the member's, bound
//! to its arbiter. So each operation runs as a local task of the arbiter
//! that serves the connection ([`local`]), and a GET body is handed over
//! through a bounded channel ([`ChannelBody`], `BODY_CHANNEL_CHUNKS`).
//! Nothing here answers wrong bytes: a read the cluster cannot serve
//! safely is `503 ServiceUnavailable`, a write is acknowledged only once
//! committed.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use stripecast_actors::authority::Authority;
use stripecast_actors::gateway::names;
use stripecast_actors::meta::{Action, KeyEntry, ObjectAttrs};
use stripecast_actors::service::{ObjectService, Seal, ServiceError};

use crate::digest::{Expected, Mismatch, Summed, Sums};
use crate::listing;
use crate::multipart;

/// Chunks of a GET body waiting between the member and the connection.
pub const BODY_CHANNEL_CHUNKS: usize = 4;

/// The cluster behind one member's S3 listener.
#[derive(Clone)]
pub struct Backend {
    pub service: ObjectService,
    pub authority: Authority,
}

/// Runs `f` as a task of the current arbiter (the member's futures are not
/// `Send`); its output crosses back.
async fn local<F, T>(f: F) -> S3Result<T>
where
    F: std::future::Future<Output = S3Result<T>> + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_local(f)
        .await
        .map_err(|e| S3Error::with_message(S3ErrorCode::InternalError, e.to_string()))?
}

/// A service error as S3 tells it (never a path: `public_message`).
fn s3_err(e: &ServiceError, key: &str) -> S3Error {
    let code = match e {
        ServiceError::NotFound(_) => S3ErrorCode::NoSuchKey,
        ServiceError::BadRequest(_) => S3ErrorCode::InvalidRequest,
        ServiceError::Unavailable(_) | ServiceError::Unreachable { .. } => {
            S3ErrorCode::ServiceUnavailable
        }
        ServiceError::Internal(_) => S3ErrorCode::InternalError,
    };
    if e.status() >= 500 {
        tracing::warn!(object = %key, error = %e, "s3 request failed");
    }
    S3Error::with_message(code, e.public_message())
}

/// The cluster object name of `key` in `bucket`.
fn object_name(bucket: &str, key: &str) -> S3Result<String> {
    let name = format!("{bucket}/{key}");
    names::check(&name).map_err(|e| {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("object key not supported: {e}"),
        )
    })?;
    Ok(name)
}

fn etag_of(attrs: Option<&ObjectAttrs>, incarnation: u64) -> ETag {
    match attrs {
        Some(a) => ETag::Strong(a.etag.trim_matches('"').to_string()),
        None => ETag::Strong(format!("{incarnation:08x}")),
    }
}

fn time_of(ns: u64) -> Timestamp {
    Timestamp::from(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
}

/// One stored part of a multipart upload.
struct StoredPart {
    number: i32,
    /// Its ETag: the MD5 of its bytes, hex.
    md5: String,
    size: u64,
    created_ns: u64,
    /// The part object's incarnation when listed: completing streams
    /// exactly that one (a part uploaded again meanwhile fails the
    /// completion, never mixes in).
    incarnation: u64,
}

/// What a write stores beside the bytes.
#[derive(Default)]
struct NewAttrs {
    content_type: Option<String>,
    user: HashMap<String, String>,
    /// The ETag to keep instead of the body's MD5 (a multipart object's).
    etag: Option<String>,
    /// The bucket the object must still be in when it commits (a bucket
    /// deleted meanwhile makes the write NoSuchBucket, never an object no
    /// listing shows).
    bucket: Option<String>,
}

/// A request's body, or an empty one when it has none.
fn body_or_empty(body: Option<StreamingBlob>) -> StreamingBlob {
    body.unwrap_or_else(|| {
        StreamingBlob::wrap(futures::stream::empty::<Result<Bytes, std::io::Error>>())
    })
}

/// A GET body handed from the member's task to the connection.
struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl Stream for ChannelBody {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// A failed wait on the metadata group as S3 tells it.
fn metadata_unavailable(e: stripecast_actors::meta::runner::WaitError) -> S3Error {
    S3Error::with_message(S3ErrorCode::ServiceUnavailable, e.to_string())
}

/// Deletes `name`; one already gone is deleted (S3's DELETE is idempotent).
async fn remove(service: &ObjectService, name: &str) -> S3Result<()> {
    match service.delete(name).await {
        Ok(_) | Err(ServiceError::NotFound(_)) => Ok(()),
        Err(e) => Err(s3_err(&e, name)),
    }
}

/// Sends a member's object stream into a body channel; false when the
/// stream failed (its error was sent) or the receiver went away.
async fn pump(
    stream: impl Stream<Item = Result<Bytes, ServiceError>>,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> bool {
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        let item = item.map_err(|e| std::io::Error::other(e.public_message()));
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            return false;
        }
    }
    true
}

/// The record and attributes of an object, read linearizably.
struct Found {
    length: u64,
    incarnation: u64,
    created_ns: u64,
    attrs: Option<ObjectAttrs>,
}

impl Found {
    /// Its ETag and Last-Modified, or the 412 / 304 the read's
    /// preconditions call for.
    fn validators(
        &self,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
        if_modified_since: Option<&Timestamp>,
        if_unmodified_since: Option<&Timestamp>,
    ) -> S3Result<(ETag, Timestamp)> {
        let etag = etag_of(self.attrs.as_ref(), self.incarnation);
        let modified = time_of(self.created_ns);
        let served = preconditions(
            &etag,
            &modified,
            if_match,
            if_none_match,
            if_modified_since,
            if_unmodified_since,
        )?;
        if !served {
            let mut e = S3Error::new(S3ErrorCode::Custom("NotModified".into()));
            e.set_status_code(http::StatusCode::NOT_MODIFIED);
            return Err(e);
        }
        Ok((etag, modified))
    }

    /// Its Content-Type (S3's default when none was stored) and user metadata.
    fn described(self) -> (Option<String>, Option<HashMap<String, String>>) {
        let a = self.attrs.unwrap_or_default();
        let content_type = a.content_type.or(Some("binary/octet-stream".into()));
        let metadata = (!a.user.is_empty()).then(|| a.user.into_iter().collect());
        (content_type, metadata)
    }
}

impl Backend {
    fn meta(&self) -> S3Result<stripecast_actors::meta::MetaHandle> {
        self.service
            .meta()
            .ok_or_else(|| s3_error!(ServiceUnavailable, "the metadata replica is not running"))
    }

    /// 404 NoSuchBucket unless `bucket` exists.
    async fn bucket_exists(&self, bucket: &str) -> S3Result<()> {
        if self.meta()?.access().buckets.contains_key(bucket) {
            return Ok(());
        }
        let b = bucket.to_string();
        let known = self
            .meta()?
            .read(move |s| s.access.buckets.contains_key(&b))
            .await
            .map_err(metadata_unavailable)?;
        if known {
            Ok(())
        } else {
            Err(s3_error!(NoSuchBucket))
        }
    }

    async fn find(&self, name: &str) -> S3Result<Found> {
        let n = name.to_string();
        let found = self
            .meta()?
            .read(move |s| {
                s.objects.get(&n).map(|r| Found {
                    length: r.length,
                    incarnation: u64::from(r.incarnation.get()),
                    created_ns: r.creation_time_ns,
                    attrs: s.attrs.get(&n).cloned(),
                })
            })
            .await
            .map_err(metadata_unavailable)?;
        found.ok_or_else(|| s3_error!(NoSuchKey))
    }

    /// Stores `body` as `name`, checking it against `expected` before the
    /// commit; its ETag.
    async fn store<S, E>(
        &self,
        name: String,
        body: S,
        expected: Expected,
        trailer: Option<(String, s3s::TrailingHeaders)>,
        attrs: NewAttrs,
    ) -> S3Result<String>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + 'static,
        E: std::fmt::Display + 'static,
    {
        let NewAttrs {
            content_type,
            user,
            etag: etag_override,
            bucket,
        } = attrs;
        let in_bucket = bucket.is_some();
        let algorithm = trailer.as_ref().map(|(a, _)| a.clone());
        let sums = Arc::new(Mutex::new(Some(Sums::for_expected(
            &expected,
            algorithm.as_deref(),
        ))));
        // A streaming-signed body (aws-chunked) whose chunk signature does
        // not hold fails mid-stream inside s3s; its error type is private,
        // so it is known by its message. Missed, it is still refused (400).
        let forged = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen_forged = forged.clone();
        let body = futures::TryStreamExt::inspect_err(body, move |e: &E| {
            if e.to_string().contains("SignatureMismatch") {
                seen_forged.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let body = Summed::new(body, sums.clone());
        let mismatch: Arc<Mutex<Option<Mismatch>>> = Arc::default();
        let etag: Arc<Mutex<String>> = Arc::default();
        let (seen_mismatch, seen_etag) = (mismatch.clone(), etag.clone());
        let service = self.service.clone();
        let key = name.clone();
        let result = local(async move {
            let seal = move || {
                let mut expected = expected;
                if let Some((algo, trailers)) = &trailer {
                    let header = format!("x-amz-checksum-{}", algo.to_ascii_lowercase());
                    let value = trailers.read(|h| {
                        h.get(header.as_str())
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    });
                    let slot = match algo.to_ascii_lowercase().as_str() {
                        "crc32" => &mut expected.crc32,
                        "crc32c" => &mut expected.crc32c,
                        "crc64nvme" => &mut expected.crc64nvme,
                        "sha1" => &mut expected.sha1,
                        _ => &mut expected.sha256,
                    };
                    if let Some(Some(v)) = value {
                        *slot = Some(v);
                    }
                }
                let sums = sums
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                    .ok_or_else(|| ServiceError::BadRequest("body digests lost".into()))?;
                let md5 = sums.verify(&expected).map_err(|m| {
                    let text = m.to_string();
                    *seen_mismatch.lock().unwrap_or_else(|p| p.into_inner()) = Some(m);
                    ServiceError::BadRequest(text)
                })?;
                let md5 = etag_override.unwrap_or(md5);
                let attrs = ObjectAttrs {
                    etag: format!("\"{md5}\""),
                    content_type,
                    user: user.into_iter().collect(),
                };
                attrs.check().map_err(ServiceError::BadRequest)?;
                *seen_etag.lock().unwrap_or_else(|p| p.into_inner()) = md5;
                Ok(Seal {
                    attrs: Some(attrs),
                    bucket,
                })
            };
            service
                .put_with(&key, body, seal)
                .await
                .map(|_| ())
                .map_err(|e| match e {
                    ServiceError::NotFound(_) if in_bucket => {
                        S3Error::with_message(S3ErrorCode::NoSuchBucket, e.public_message())
                    }
                    e => s3_err(&e, &key),
                })
        })
        .await;
        if let Some(m) = mismatch.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let code = match m {
                Mismatch::Md5 => S3ErrorCode::BadDigest,
                Mismatch::Checksum(_) => S3ErrorCode::BadDigest,
            };
            return Err(S3Error::with_message(code, m.to_string()));
        }
        if forged.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(S3Error::with_message(
                S3ErrorCode::SignatureDoesNotMatch,
                "a chunk's signature does not match its bytes",
            ));
        }
        result?;
        let tag = etag.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(tag)
    }

    /// The key a request was signed with (`None`: anonymous).
    async fn key_of<T>(&self, req: &S3Request<T>) -> Option<KeyEntry> {
        let c = req.credentials.as_ref()?;
        self.authority.key(&c.access_key).await.ok().flatten()
    }
}

/// Whether a read with these preconditions is served: `Ok(false)` is 304.
fn preconditions(
    etag: &ETag,
    modified: &Timestamp,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<bool> {
    let matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == etag.value(),
    };
    if let Some(c) = if_match {
        if !matches(c) {
            return Err(s3_error!(PreconditionFailed));
        }
    } else if let Some(t) = if_unmodified_since {
        if modified > t {
            return Err(s3_error!(PreconditionFailed));
        }
    }
    if let Some(c) = if_none_match {
        if matches(c) {
            return Ok(false);
        }
    } else if let Some(t) = if_modified_since {
        if modified <= t {
            return Ok(false);
        }
    }
    Ok(true)
}

fn expected_of(input: &PutObjectInput) -> Expected {
    Expected {
        md5: input.content_md5.clone(),
        crc32: input.checksum_crc32.clone(),
        crc32c: input.checksum_crc32c.clone(),
        crc64nvme: input.checksum_crc64nvme.clone(),
        sha1: input.checksum_sha1.clone(),
        sha256: input.checksum_sha256.clone(),
    }
}

/// The checksum algorithm named by `x-amz-trailer`, and the trailers.
fn trailer_of<T>(req: &mut S3Request<T>) -> Option<(String, s3s::TrailingHeaders)> {
    let algo = req
        .headers
        .get("x-amz-trailer")?
        .to_str()
        .ok()?
        .trim()
        .strip_prefix("x-amz-checksum-")?
        .to_string();
    Some((algo, req.trailing_headers.take()?))
}

#[async_trait::async_trait]
impl S3 for Backend {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let key = self.key_of(&req).await;
        let access = self.meta()?.access();
        let buckets: Vec<Bucket> = access
            .buckets
            .iter()
            .filter(|(name, _)| {
                !self.authority.enabled() || access.allows_bucket(key.as_ref(), Action::Read, name)
            })
            .map(|(name, b)| Bucket {
                name: Some(name.clone()),
                creation_date: Some(time_of(b.created_ns)),
                bucket_region: None,
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner {
                display_name: Some("stripecast".into()),
                id: Some("stripecast".into()),
            }),
            ..Default::default()
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        use stripecast_actors::meta::{AccessCommand, AccessRefusal, Applied, MetaCommand};
        let bucket = req.input.bucket.clone();
        let meta = self.meta()?;
        let cmd = MetaCommand::access(AccessCommand::CreateBucket {
            bucket: bucket.clone(),
            created_ns: stripecast_actors::service::now_ns(),
        });
        let outcome =
            local(async move { meta.propose(cmd).await.map_err(metadata_unavailable) }).await?;
        match outcome {
            Applied::AccessChanged => Ok(S3Response::new(CreateBucketOutput {
                location: Some(format!("/{bucket}")),
            })),
            Applied::AccessRefused(AccessRefusal::BucketExists(_)) => {
                Err(s3_error!(BucketAlreadyOwnedByYou))
            }
            Applied::AccessRefused(AccessRefusal::Invalid(m)) => {
                Err(S3Error::with_message(S3ErrorCode::InvalidBucketName, m))
            }
            other => Err(S3Error::with_message(
                S3ErrorCode::InternalError,
                format!("{other:?}"),
            )),
        }
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        use stripecast_actors::meta::{AccessCommand, AccessRefusal, Applied, MetaCommand};
        let meta = self.meta()?;
        let cmd = MetaCommand::access(AccessCommand::DeleteBucket {
            bucket: req.input.bucket.clone(),
        });
        let outcome =
            local(async move { meta.propose(cmd).await.map_err(metadata_unavailable) }).await?;
        match outcome {
            Applied::AccessChanged => Ok(S3Response::new(DeleteBucketOutput {})),
            Applied::AccessRefused(AccessRefusal::NoSuchBucket(_)) => Err(s3_error!(NoSuchBucket)),
            Applied::AccessRefused(AccessRefusal::BucketNotEmpty(_)) => {
                Err(s3_error!(BucketNotEmpty))
            }
            other => Err(S3Error::with_message(
                S3ErrorCode::InternalError,
                format!("{other:?}"),
            )),
        }
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket_exists(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.bucket_exists(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn put_object(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let trailer = trailer_of(&mut req);
        let input = req.input;
        self.bucket_exists(&input.bucket).await?;
        let name = object_name(&input.bucket, &input.key)?;
        let expected = expected_of(&input);
        let body = body_or_empty(input.body);
        let etag = self
            .store(
                name,
                body,
                expected,
                trailer,
                NewAttrs {
                    bucket: Some(input.bucket.to_string()),
                    content_type: input.content_type,
                    user: input.metadata.unwrap_or_default(),
                    etag: None,
                },
            )
            .await?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        self.bucket_exists(&input.bucket).await?;
        let name = object_name(&input.bucket, &input.key)?;
        let found = self.find(&name).await?;
        let (etag, modified) = found.validators(
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let len = found.length;
        let range = match &input.range {
            None => None,
            Some(r) => Some(r.check(len).map_err(|_| s3_error!(InvalidRange))?),
        };
        let (start, end) = range.clone().map_or((0, len), |r| (r.start, r.end));
        let (tx, rx) = tokio::sync::mpsc::channel(BODY_CHANNEL_CHUNKS);
        let service = self.service.clone();
        let key = name.clone();
        // Opened before answering: a read that cannot be served is an
        // error status, not a cut body.
        let opened = local(async move {
            let obj = service.open(&key).await.map_err(|e| s3_err(&e, &key))?;
            if u64::from(obj.record.incarnation.get()) != found.incarnation {
                // Overwritten since the record was read: the attributes
                // would not be this object's.
                return Err(s3_error!(ServiceUnavailable, "the object changed; retry"));
            }
            let stream = service.stream(obj, start, end);
            tokio::task::spawn_local(async move {
                pump(stream, &tx).await;
            });
            Ok(())
        })
        .await;
        opened?;
        let (content_type, metadata) = found.described();
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(ChannelBody { rx })),
            content_length: Some((end - start) as i64),
            content_range: range
                .map(|r| format!("bytes {}-{}/{len}", r.start, r.end.saturating_sub(1))),
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag),
            last_modified: Some(modified),
            content_type,
            metadata,
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        self.bucket_exists(&input.bucket).await?;
        let name = object_name(&input.bucket, &input.key)?;
        let found = self.find(&name).await?;
        let (etag, modified) = found.validators(
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let length = found.length;
        let (content_type, metadata) = found.described();
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(length as i64),
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag),
            last_modified: Some(modified),
            content_type,
            metadata,
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        self.bucket_exists(&input.bucket).await?;
        let name = object_name(&input.bucket, &input.key)?;
        let service = self.service.clone();
        local(async move { remove(&service, &name).await }).await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.bucket_exists(&input.bucket).await?;
        let bucket = input.bucket.clone();
        let quiet = input.delete.quiet.unwrap_or(false);
        let keys: Vec<String> = input.delete.objects.into_iter().map(|o| o.key).collect();
        let service = self.service.clone();
        let (deleted, errors) = local(async move {
            let mut deleted = Vec::new();
            let mut errors = Vec::new();
            for key in keys {
                let outcome = match object_name(&bucket, &key) {
                    Ok(name) => remove(&service, &name).await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(()) => deleted.push(DeletedObject {
                        key: Some(key),
                        ..Default::default()
                    }),
                    Err(e) => errors.push(Error {
                        key: Some(key),
                        code: Some(e.code().as_str().to_string()),
                        message: e.message().map(str::to_owned),
                        version_id: None,
                    }),
                }
            }
            Ok((deleted, errors))
        })
        .await?;
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!quiet).then_some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let key = self.key_of(&req).await;
        let input = req.input;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented, "copy from an access point"));
        };
        let src = object_name(src_bucket, src_key)?;
        self.authority
            .allows(key.as_ref(), Action::Read, Some(&src))
            .map_err(|_| s3_error!(AccessDenied, "no read grant on the copy source"))?;
        self.bucket_exists(src_bucket).await?;
        self.bucket_exists(&input.bucket).await?;
        let dst = object_name(&input.bucket, &input.key)?;
        let found = self.find(&src).await?;
        // x-amz-copy-source-if-*: the GET conditions on the source, except
        // that a copy not made is 412 whichever one failed (S3's rule).
        found
            .validators(
                input.copy_source_if_match.as_ref(),
                input.copy_source_if_none_match.as_ref(),
                input.copy_source_if_modified_since.as_ref(),
                input.copy_source_if_unmodified_since.as_ref(),
            )
            .map_err(|e| {
                if e.status_code() == Some(http::StatusCode::NOT_MODIFIED) {
                    s3_error!(
                        PreconditionFailed,
                        "the copy source's condition does not hold"
                    )
                } else {
                    e
                }
            })?;
        let source_incarnation = found.incarnation;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let old = found.attrs.clone().unwrap_or_default();
        let (content_type, user) = if replace {
            (
                input.content_type.clone(),
                input.metadata.clone().unwrap_or_default(),
            )
        } else {
            (
                old.content_type.clone(),
                old.user.clone().into_iter().collect(),
            )
        };
        // The source's bytes, streamed from the member into the new write.
        let (tx, rx) = tokio::sync::mpsc::channel(BODY_CHANNEL_CHUNKS);
        let service = self.service.clone();
        let from = src.clone();
        local(async move {
            let obj = service.open(&from).await.map_err(|e| s3_err(&e, &from))?;
            if u64::from(obj.record.incarnation.get()) != source_incarnation {
                // Overwritten since its attributes were read.
                return Err(s3_error!(ServiceUnavailable, "the source changed; retry"));
            }
            let len = obj.len();
            let stream = service.stream(obj, 0, len);
            tokio::task::spawn_local(async move {
                pump(stream, &tx).await;
            });
            Ok(())
        })
        .await?;
        let etag = self
            .store(
                dst,
                ChannelBody { rx },
                Expected::default(),
                None,
                NewAttrs {
                    bucket: Some(input.bucket.to_string()),
                    content_type,
                    user,
                    etag: None,
                },
            )
            .await?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(Timestamp::from(SystemTime::now())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        self.bucket_exists(&input.bucket).await?;
        object_name(&input.bucket, &input.key)?;
        let upload_id = multipart::new_upload_id();
        let mut user = input.metadata.unwrap_or_default();
        user.insert(multipart::KEY_ATTR.into(), input.key.clone());
        let info = multipart::info_name(&input.bucket, &upload_id);
        self.store(
            info,
            futures::stream::empty::<Result<Bytes, std::io::Error>>(),
            Expected::default(),
            None,
            NewAttrs {
                bucket: Some(input.bucket.to_string()),
                content_type: input.content_type,
                user,
                etag: None,
            },
        )
        .await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let trailer = trailer_of(&mut req);
        let input = req.input;
        let info = self
            .upload_info(&input.bucket, &input.key, &input.upload_id)
            .await?;
        drop(info);
        if !(1..=multipart::MAX_PART_NUMBER).contains(&input.part_number) {
            return Err(s3_error!(InvalidArgument, "part numbers are 1-10000"));
        }
        let expected = Expected {
            md5: input.content_md5.clone(),
            crc32: input.checksum_crc32.clone(),
            crc32c: input.checksum_crc32c.clone(),
            crc64nvme: input.checksum_crc64nvme.clone(),
            sha1: input.checksum_sha1.clone(),
            sha256: input.checksum_sha256.clone(),
        };
        let body = body_or_empty(input.body);
        let name = multipart::part_name(&input.bucket, &input.upload_id, input.part_number);
        let etag = self
            .store(
                name,
                body,
                expected,
                trailer,
                NewAttrs {
                    bucket: Some(input.bucket.to_string()),
                    ..NewAttrs::default()
                },
            )
            .await?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let info = self
            .upload_info(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let dst = object_name(&input.bucket, &input.key)?;
        let asked: Vec<CompletedPart> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if asked.is_empty() {
            return Err(s3_error!(MalformedXML, "no parts"));
        }
        let stored = self.parts(&input.bucket, &input.upload_id).await?;
        let mut names = Vec::with_capacity(asked.len());
        let mut md5s = Vec::with_capacity(asked.len());
        let mut previous = 0;
        for p in &asked {
            let n = p.part_number.unwrap_or(0);
            if n <= previous {
                return Err(s3_error!(InvalidPartOrder));
            }
            previous = n;
            let Some(found) = stored.iter().find(|s| s.number == n) else {
                return Err(s3_error!(InvalidPart));
            };
            let want = p
                .e_tag
                .as_ref()
                .map(|e| e.value().trim_matches('"').to_string());
            if want.is_some_and(|w| w != found.md5) {
                return Err(s3_error!(InvalidPart));
            }
            names.push((
                multipart::part_name(&input.bucket, &input.upload_id, n),
                found.incarnation,
            ));
            md5s.push(found.md5.clone());
        }
        let etag = multipart::multipart_etag(&md5s)
            .ok_or_else(|| s3_error!(InternalError, "a part's ETag is not an MD5"))?;
        // The parts, in order, streamed into the final object.
        let (tx, rx) = tokio::sync::mpsc::channel(BODY_CHANNEL_CHUNKS);
        let service = self.service.clone();
        let feed = names.clone();
        tokio::task::spawn_local(async move {
            for (name, incarnation) in feed {
                let obj = match service.open(&name).await {
                    Ok(o) if u64::from(o.record.incarnation.get()) == incarnation => o,
                    Ok(_) => {
                        // Uploaded again since it was checked: not this one.
                        let changed = std::io::Error::other("a part changed; complete again");
                        let _ = tx.send(Err(changed)).await;
                        return;
                    }
                    Err(e) => {
                        let _ = tx
                            .send(Err(std::io::Error::other(e.public_message())))
                            .await;
                        return;
                    }
                };
                let len = obj.len();
                if !pump(service.stream(obj, 0, len), &tx).await {
                    return;
                }
            }
        });
        let user: HashMap<String, String> = info
            .user
            .into_iter()
            .filter(|(k, _)| k != multipart::KEY_ATTR)
            .collect();
        self.store(
            dst,
            ChannelBody { rx },
            Expected::default(),
            None,
            NewAttrs {
                bucket: Some(input.bucket.to_string()),
                content_type: info.content_type,
                user,
                etag: Some(etag.clone()),
            },
        )
        .await?;
        // The object is committed: a part left behind is no reason to fail
        // the completion (an abort of the upload id removes it).
        if let Err(e) = self.drop_upload(&input.bucket, &input.upload_id).await {
            tracing::warn!(bucket = %input.bucket, upload = %input.upload_id, error = %e, "parts of a completed upload not removed");
        }
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.upload_info(&input.bucket, &input.key, &input.upload_id)
            .await?;
        self.drop_upload(&input.bucket, &input.upload_id).await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        self.upload_info(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let marker = input.part_number_marker.unwrap_or(0);
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let all: Vec<StoredPart> = self
            .parts(&input.bucket, &input.upload_id)
            .await?
            .into_iter()
            .filter(|p| p.number > marker)
            .collect();
        let truncated = all.len() > max;
        let page: Vec<Part> = all
            .iter()
            .take(max)
            .map(|p| Part {
                part_number: Some(p.number),
                e_tag: Some(ETag::Strong(p.md5.clone())),
                size: Some(p.size as i64),
                last_modified: Some(time_of(p.created_ns)),
                ..Default::default()
            })
            .collect();
        let next = truncated
            .then(|| page.last().and_then(|p| p.part_number))
            .flatten();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(page),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.bucket_exists(&input.bucket).await?;
        let bucket = input.bucket.clone();
        let prefix = input.prefix.clone().unwrap_or_default();
        let open = self
            .meta()?
            .read(move |s| {
                s.page(multipart::ROOT, &format!("{bucket}/"), None)
                    .take(listing::MAX_SCANNED_KEYS)
                    .filter(|(r, _)| r.name.ends_with("/info"))
                    .filter_map(|(r, attrs)| {
                        let key = attrs?.user.get(multipart::KEY_ATTR)?.clone();
                        let upload_id = r.name.rsplit('/').nth(1)?.to_string();
                        key.starts_with(&prefix).then_some(multipart::OpenUpload {
                            key,
                            upload_id,
                            initiated_ns: r.creation_time_ns,
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(metadata_unavailable)?;
        let max = input.max_uploads.map_or(listing::MAX_KEYS, |m| {
            (m.max(1) as usize).min(listing::MAX_KEYS)
        });
        let (page, truncated) = multipart::page_uploads(
            open,
            input.key_marker.as_deref().unwrap_or(""),
            input.upload_id_marker.as_deref().unwrap_or(""),
            max,
        );
        let last = page.last().cloned();
        let uploads = page
            .into_iter()
            .map(|u| MultipartUpload {
                key: Some(u.key),
                upload_id: Some(u.upload_id),
                initiated: Some(time_of(u.initiated_ns)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            next_key_marker: truncated
                .then(|| last.as_ref().map(|u| u.key.clone()))
                .flatten(),
            next_upload_id_marker: truncated
                .then(|| last.as_ref().map(|u| u.upload_id.clone()))
                .flatten(),
            uploads: Some(uploads),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        self.bucket_exists(&input.bucket).await?;
        let after = input
            .continuation_token
            .clone()
            .or_else(|| input.start_after.clone());
        let max_keys = input
            .max_keys
            .map_or(listing::MAX_KEYS, |m| m.max(0) as usize);
        let page = self
            .page(
                &input.bucket,
                input.prefix.as_deref().unwrap_or(""),
                input.delimiter.as_deref(),
                after.as_deref(),
                max_keys,
            )
            .await?;
        let key_count = (page.contents.len() + page.common_prefixes.len()) as i32;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            max_keys: Some(max_keys as i32),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            is_truncated: Some(page.next.is_some()),
            next_continuation_token: page.next,
            contents: Some(page.contents.into_iter().map(|(_, o)| o).collect()),
            common_prefixes: Some(
                page.common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix { prefix: Some(p) })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        self.bucket_exists(&input.bucket).await?;
        let max_keys = input
            .max_keys
            .map_or(listing::MAX_KEYS, |m| m.max(0) as usize);
        let page = self
            .page(
                &input.bucket,
                input.prefix.as_deref().unwrap_or(""),
                input.delimiter.as_deref(),
                input.marker.as_deref(),
                max_keys,
            )
            .await?;
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            marker: input.marker,
            max_keys: Some(max_keys as i32),
            is_truncated: Some(page.next.is_some()),
            next_marker: page.next,
            contents: Some(page.contents.into_iter().map(|(_, o)| o).collect()),
            common_prefixes: Some(
                page.common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix { prefix: Some(p) })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}

impl Backend {
    /// The attributes of an open upload of `key` (404 NoSuchUpload).
    async fn upload_info(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<ObjectAttrs> {
        self.bucket_exists(bucket).await?;
        if !multipart::valid_upload_id(upload_id) {
            return Err(s3_error!(NoSuchUpload));
        }
        let found = self
            .find(&multipart::info_name(bucket, upload_id))
            .await
            .map_err(|_| s3_error!(NoSuchUpload))?;
        let attrs = found.attrs.unwrap_or_default();
        if attrs.user.get(multipart::KEY_ATTR).map(String::as_str) != Some(key) {
            return Err(s3_error!(NoSuchUpload));
        }
        Ok(attrs)
    }

    /// The stored parts of an upload, in order.
    async fn parts(&self, bucket: &str, upload_id: &str) -> S3Result<Vec<StoredPart>> {
        let prefix = multipart::upload_prefix(bucket, upload_id);
        self.meta()?
            .read(move |s| {
                let strip = multipart::ROOT.len() + 1 + prefix.len();
                s.page(multipart::ROOT, &format!("{prefix}p"), None)
                    .take(multipart::MAX_PART_NUMBER as usize)
                    .filter_map(|(r, attrs)| {
                        let n = multipart::part_number(r.name.get(strip..)?)?;
                        let md5 = attrs?.etag.trim_matches('"').to_string();
                        Some(StoredPart {
                            number: n,
                            md5,
                            size: r.length,
                            created_ns: r.creation_time_ns,
                            incarnation: u64::from(r.incarnation.get()),
                        })
                    })
                    .collect()
            })
            .await
            .map_err(metadata_unavailable)
    }

    /// Removes an upload's parts and info.
    async fn drop_upload(&self, bucket: &str, upload_id: &str) -> S3Result<()> {
        let mut names: Vec<String> = self
            .parts(bucket, upload_id)
            .await?
            .into_iter()
            .map(|p| multipart::part_name(bucket, upload_id, p.number))
            .collect();
        names.push(multipart::info_name(bucket, upload_id));
        let service = self.service.clone();
        local(async move {
            for name in names {
                remove(&service, &name).await?;
            }
            Ok(())
        })
        .await
    }

    /// One page of a bucket's listing, read linearizably.
    async fn page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max_keys: usize,
    ) -> S3Result<listing::Page<Object>> {
        let (bucket, prefix) = (bucket.to_string(), prefix.to_string());
        let delimiter = delimiter.map(str::to_owned);
        let after = after.map(str::to_owned);
        self.meta()?
            .read(move |s| {
                let strip = bucket.len() + 1;
                let resume = after
                    .as_deref()
                    .map(|a| listing::resume_key(a, delimiter.as_deref()));
                let records = s.page(&bucket, &prefix, resume.as_deref());
                let keys = records.into_iter().map(|(r, attrs)| {
                    let key = r.name[strip..].to_string();
                    let object = Object {
                        key: Some(key.clone()),
                        size: Some(r.length as i64),
                        e_tag: Some(etag_of(attrs, u64::from(r.incarnation.get()))),
                        last_modified: Some(time_of(r.creation_time_ns)),
                        storage_class: Some(ObjectStorageClass::from_static(
                            ObjectStorageClass::STANDARD,
                        )),
                        ..Default::default()
                    };
                    (key, object)
                });
                listing::page(
                    keys,
                    &listing::Query {
                        prefix: &prefix,
                        delimiter: delimiter.as_deref(),
                        after: after.as_deref(),
                        max_keys,
                    },
                )
            })
            .await
            .map_err(metadata_unavailable)
    }
}
