//! The S3 API of a stripecast member: its own listener (`members[].s3`),
//! a supervised child of the member like the HTTP gateway.
//!
//! Why s3s: it parses S3's REST surface (path- and virtual-host-style
//! addressing — `BUCKET.localhost` and `BUCKET.` each of `[http]
//! s3_domains`, see [`host`] — XML bodies and errors, `aws-chunked` bodies with trailers,
//! presigned URLs) and verifies SigV4 and SigV2 signatures, which we must
//! not write by hand; its `S3` trait maps one operation to one method, so
//! this crate is only the mapping onto the cluster ([`backend`]), the keys
//! and grants ([`access`]), the listing rules ([`listing`]) and the body
//! digests ([`digest`]).
//!
//! Connections are served on the member's arbiter (hyper's HTTP/1 server,
//! one local task per connection), so the object service's futures run
//! where they belong. Invariant: garbage on the port closes that
//! connection and nothing else (hyper refuses it; nothing here panics on
//! input).

pub mod access;
pub mod backend;
pub mod digest;
pub mod expiry;
pub mod host;
pub mod listing;
pub mod multipart;

use std::net::SocketAddr;

use actix::prelude::*;
use stripecast_actors::authority::Authority;
use stripecast_actors::service::ObjectService;

/// Connections served at once, at most; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 4096;

/// A request's head must arrive within this (also bounds how long an idle
/// kept-alive connection holds its slot).
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;

/// Bytes of a browser-form upload (PostObject) s3s may buffer: none are
/// served (PostObject is not implemented), so none are taken in.
pub const POST_FORM_MAX_BYTES: usize = 1024;

/// One member's S3 listener.
pub struct S3Listener {
    addr: SocketAddr,
    listener: Option<std::net::TcpListener>,
    service: s3s::service::S3Service,
    /// `[http] allowed_hosts`, as the HTTP gateway applies it (a member
    /// without `[auth]` is reachable only this way from a browser page).
    http: std::sync::Arc<stripecast_config::HttpSettings>,
    /// `[http] tls_cert`/`tls_key`: the listener serves HTTPS only.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl S3Listener {
    /// Binds `addr` (a bind failure is the child's abnormal exit, retried
    /// by the supervisor); serving starts with the actor.
    pub fn bind(
        addr: SocketAddr,
        service: ObjectService,
        auth: Option<stripecast_config::AuthSettings>,
        http: &stripecast_config::HttpSettings,
    ) -> std::io::Result<S3Listener> {
        let s3_domains = &http.s3_domains;
        let tls = match (&http.tls_cert, &http.tls_key) {
            (Some(cert), Some(key)) => Some(tokio_rustls::TlsAcceptor::from(
                stripecast_actors::tls::server_config(cert, key, &[b"http/1.1"])
                    .map_err(std::io::Error::other)?,
            )),
            _ => None,
        };
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let authority = Authority::new(auth, service.clone());
        let mut builder = s3s::service::S3ServiceBuilder::new(backend::Backend {
            service,
            authority: authority.clone(),
        });
        builder.set_host(host::Domains::new(s3_domains));
        // s3s buffers a PostObject form's file in memory before any access
        // check (5 GiB by default): keep an anonymous client from doing so.
        let mut limits = s3s::config::S3Config::default();
        limits.post_object_max_file_size = POST_FORM_MAX_BYTES as u64;
        limits.form_max_field_size = POST_FORM_MAX_BYTES;
        limits.form_max_fields_size = POST_FORM_MAX_BYTES;
        limits.form_max_parts = 8;
        builder.set_config(std::sync::Arc::new(s3s::config::StaticConfigProvider::new(
            std::sync::Arc::new(limits),
        )));
        if authority.enabled() {
            builder.set_auth(access::Keys(authority.clone()));
            builder.set_access(access::Grants(authority));
        }
        Ok(S3Listener {
            addr,
            listener: Some(listener),
            service: builder.build(),
            http: std::sync::Arc::new(http.clone()),
            tls,
        })
    }
}

impl Actor for S3Listener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(std_listener) = self.listener.take() else {
            return;
        };
        let listener = match tokio::net::TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(addr = %self.addr, error = %e, "s3 listener failed");
                ctx.stop();
                return;
            }
        };
        let service = self.service.clone();
        let hosts = self.http.clone();
        let tls = self.tls.clone();
        let addr = self.addr;
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        ctx.spawn(
            async move {
                loop {
                    let Ok(permit) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let (stream, peer) = match listener.accept().await {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::warn!(%addr, error = %e, "s3 accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let service = service.clone();
                    let hosts = hosts.clone();
                    let tls = tls.clone();
                    actix_rt::spawn(async move {
                        // A Host this member does not answer to (a DNS name
                        // rebound to it) gets 403 before s3s sees the request.
                        let checked = hyper::service::service_fn(
                            move |req: http::Request<hyper::body::Incoming>| {
                                let host = req
                                    .headers()
                                    .get(http::header::HOST)
                                    .and_then(|h| h.to_str().ok());
                                let allowed = hosts.allows(host);
                                let service = service.clone();
                                async move {
                                    if allowed {
                                        hyper::service::Service::call(&service, req).await
                                    } else {
                                        let mut res = http::Response::new(s3s::Body::from(
                                            "host not allowed".to_string(),
                                        ));
                                        *res.status_mut() = http::StatusCode::FORBIDDEN;
                                        Ok(res)
                                    }
                                }
                            },
                        );
                        let ended = match tls {
                            None => serve(stream, checked).await,
                            // The TLS handshake has the header deadline
                            // too: a silent client holds a slot no longer.
                            Some(tls) => match tokio::time::timeout(
                                std::time::Duration::from_millis(HEADER_READ_TIMEOUT_MS),
                                tls.accept(stream),
                            )
                            .await
                            {
                                Ok(Ok(stream)) => serve(stream, checked).await,
                                Ok(Err(e)) => Err(format!("TLS handshake: {e}")),
                                Err(_) => Err("TLS handshake timed out".to_string()),
                            },
                        };
                        if let Err(e) = ended {
                            tracing::debug!(%peer, error = %e, "s3 connection ended");
                        }
                        drop(permit);
                    });
                }
            }
            .into_actor(self),
        );
        tracing::info!(addr = %self.addr, "s3 listener up");
    }
}

/// Serves one S3 connection (plain or TLS) with HTTP/1.1 until it ends.
async fn serve<IO, S>(io: IO, service: S) -> Result<(), String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
    S: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<s3s::Body>,
        > + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: 'static,
{
    hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_millis(HEADER_READ_TIMEOUT_MS))
        .keep_alive(true)
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .await
        .map_err(|e| e.to_string())
}

/// What the S3 API adds to a member (see `stripecast_actors::node::Extension`):
/// its listener, when the member's entry names an `s3` address.
pub fn member_extension(
    cfg: &stripecast_config::MemberConfig,
    service: &ObjectService,
) -> stripecast_actors::node::Extension {
    let mut children = Vec::new();
    if let Some(addr) = cfg.member(cfg.id).and_then(|m| m.s3) {
        let (sweeper, expiry_s) = (service.clone(), cfg.store.multipart_expiry_s);
        children.push(stripecast_supervisors::ChildSpec::new(
            "multipart-expiry",
            move |_| {
                expiry::UploadExpiry::new(sweeper.clone(), std::time::Duration::from_secs(expiry_s))
            },
        ));
        let (service, auth) = (service.clone(), cfg.auth.clone());
        let http = cfg.http.clone();
        children.push(stripecast_supervisors::ChildSpec::try_new(
            "s3",
            move |_| S3Listener::bind(addr, service.clone(), auth.clone(), &http),
        ));
    }
    stripecast_actors::node::Extension {
        children,
        routes: Vec::new(),
    }
}
