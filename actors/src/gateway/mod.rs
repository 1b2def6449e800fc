//! The HTTP gateway of one member: an actix-web server under supervision.
//!
//! The socket is bound when the actor is built (a bind failure is the child's
//! abnormal exit, retried by the supervisor); the server runs its own worker
//! threads and stops gracefully with the actor.

pub mod admin;
pub mod auth;
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
    /// Who may do what (`[auth]`, keys in the metadata).
    pub authority: crate::authority::Authority,
    /// `[http] read_token`: what the open reads then need.
    pub read_token: Option<stripecast_config::Token>,
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
        (http, auth): (
            stripecast_config::HttpSettings,
            Option<stripecast_config::AuthSettings>,
        ),
    ) -> std::io::Result<Gateway> {
        let tls = match (&http.tls_cert, &http.tls_key) {
            (Some(cert), Some(key)) => Some(
                crate::tls::server_config(cert, key, &[b"http/1.1"])
                    .map_err(std::io::Error::other)?,
            ),
            _ => None,
        };
        let http = Arc::new(http);
        let authority = crate::authority::Authority::new(auth, service.clone());
        let state = web::Data::new(GatewayState {
            service,
            cluster,
            peers,
            heartbeats,
            authority,
            read_token: http.read_token.clone(),
        });
        let metrics = state.service.metrics().clone();
        let server = HttpServer::new(move || {
            let metrics = metrics.clone();
            let http = http.clone();
            App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::from_fn(authorise))
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
                    admin::configure(cfg);
                    routes::configure(cfg);
                })
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(5);
        let server = match tls {
            Some(config) => server.bind_rustls_0_23(addr, Arc::unwrap_or_clone(config))?,
            None => server.bind(addr)?,
        }
        .run();
        Ok(Gateway {
            addr,
            handle: Some(server.handle()),
            server: Some(server),
        })
    }
}

/// Serves a request only if its credential allows what it needs (see
/// `auth`); 401 (with `WWW-Authenticate`) without one, 403 with a wrong
/// one or without the grant, before any route runs.
async fn authorise(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use crate::authority::Denied;
    let Some((authority, read_token)) = req
        .app_data::<web::Data<GatewayState>>()
        .map(|st| (st.authority.clone(), st.read_token.clone()))
    else {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    // The path the router matches (partly decoded), not the raw URI: what
    // is authorised is what is served.
    let need = auth::need(req.method(), req.match_info().as_str());
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let key = || async {
        match auth::credential(header) {
            auth::Credential::None => Ok(None),
            auth::Credential::Malformed => Err(Denied::BadCredential),
            auth::Credential::Bearer {
                access_key_id,
                secret,
            } => authority
                .check_secret(&access_key_id, &secret)
                .await
                .map(Some),
        }
    };
    let verdict = match (&need, &read_token) {
        (auth::Need::Open, None) => Ok(()),
        // Behind the read token: the token itself (a scraper's), or any key.
        (auth::Need::Open, Some(token)) if auth::is_token(header, &token.0) => Ok(()),
        (auth::Need::Open, Some(_)) => match key().await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Denied::Anonymous),
            Err(e) => Err(e),
        },
        (auth::Need::Allowed(..), _) if !authority.enabled() => Ok(()),
        (auth::Need::Allowed(action, name), _) => key()
            .await
            .and_then(|k| authority.allows(k.as_ref(), *action, name.as_deref())),
    };
    match verdict {
        Ok(()) => next.call(req).await.map(|r| r.map_into_boxed_body()),
        Err(denied) => {
            tracing::info!(method = %req.method(), path = %req.path(), why = %denied, "request refused");
            let mut res = routes::error_response(denied.status(), &denied.to_string());
            if denied == Denied::Anonymous {
                res.headers_mut().insert(
                    actix_web::http::header::WWW_AUTHENTICATE,
                    actix_web::http::header::HeaderValue::from_static(
                        "Bearer realm=\"stripecast\"",
                    ),
                );
            }
            Ok(req.into_response(res))
        }
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
