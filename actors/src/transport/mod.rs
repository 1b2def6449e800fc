//! The member-to-member transport: one authenticated TCP connection per pair
//! of members, requests multiplexed over it, heartbeats and failure detection.
//!
//! The subtree ([`transport_spec`]) is a `one_for_one` supervisor holding one
//! `PeerLink` actor per peer (`link-<id>`, started first) and the `listener`.
//! Links are restarted with backoff if they crash; a lost *connection* is not
//! a crash and is handled inside the link (the dialer side reconnects with
//! capped exponential backoff, the acceptor side waits for the peer to redial).
//!
//! * [`wire`]: frames and their encoding (length-delimited rmp-serde + CRC).
//! * [`handshake`]: version, cluster, member id, mutual HMAC proof.
//! * `admission`: which inbound handshake gives way when the port is
//!   crowded (the oldest silent one), so strangers cannot keep peers out.
//! * [`faults`]: run-time fault injection on every link.
//!
//! [`Peers`] is the handle the rest of the member uses: `request` a peer, ask
//! whether it `is_up`, set `faults`. It lives outside the actors, so it stays
//! valid across link restarts (it always reaches the current incarnation).
//!
//! Failure detection: a link is down at once when its connection closes, the
//! peer says goodbye, or a frame does not decode, and after
//! `heartbeat_timeout` without any inbound frame (checked five times per
//! timeout). Every up/down and every change of a peer's [`NodeStatus`] goes to
//! the `events` recipient as a [`LinkEvent`].
//!
//! Backpressure: per peer at most `max_in_flight` data requests are on the wire
//! and `max_queued` more wait (FIFO) for a slot; a request beyond both fails
//! at once with [`TransportError::Busy`] (nothing sent), so callers can pick
//! another member or rebuild from parity instead of piling up. Inbound, at
//! most `max_inbound` requests per peer are served at once. Control requests
//! (Raft, [`Request::is_control`]) are outside both windows and go on the
//! link's control lane, written before queued data (see `link`); the lane
//! holds at most 256 frames per connection, beyond which they are `Busy`.
//!
//! Restarts: the per-peer state that must outlive an incarnation (the
//! current address of the link, the up flag, the request semaphores, fault
//! settings, counters) lives in shared state owned by [`Peers`]. A restarted
//! link starts disconnected: if it dials, it dials at once; if it accepts, the
//! peer notices the old connection close (the old incarnation said goodbye or
//! its socket died with it) and redials, and the listener hands the new
//! connection to the new incarnation through the same shared slot. A
//! restarted listener only rebinds the port (SO_REUSEADDR); established
//! connections belong to the links and are not touched.
//!
//! Invariants: every request gets exactly one answer (its response, or a
//! [`TransportError`]) within `request_timeout`; a request is answered only
//! with the response carrying its own id; nothing a peer sends can take down
//! more than its own connection.
//!
//! Wiring, as a member does it:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use stripecast_actors::membership::{link_events, membership_spec};
//! # use stripecast_actors::protocol::{Request, Response};
//! # use stripecast_actors::transport::{transport_spec, RequestHandler, StatusSource};
//! # use stripecast_supervisors::{Strategy, Supervisor, SupervisorSpec};
//! # use futures::future::BoxFuture;
//! # use stripecast_config::MemberId;
//! struct Pong;
//! impl RequestHandler for Pong {
//!     fn handle(&self, _from: MemberId, _req: Request) -> BoxFuture<'static, Response> {
//!         Box::pin(async { Response::Pong })
//!     }
//! }
//! # async fn run(cfg: stripecast_config::MemberConfig) {
//! let (membership, membership_ref, view) = membership_spec(&cfg);
//! let status = StatusSource::new();
//! let (transport, peers) =
//!     transport_spec(&cfg, Arc::new(Pong), status.clone(), link_events(&membership_ref));
//! let member = Supervisor::start(
//!     SupervisorSpec::new("member", Strategy::RestForOne)
//!         .child(transport)
//!         .child(membership),
//! )
//! .await;
//! if peers.is_up(MemberId::new(1)) {
//!     let _ = peers.request(MemberId::new(1), Request::Ping).await;
//! }
//! println!("live: {:?}", view.live());
//! # member.shutdown().await;
//! # }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use actix::prelude::*;
use futures::future::BoxFuture;
use stripecast_config::{MemberConfig, MemberId};
use stripecast_supervisors::{Backoff, ChildRef, ChildSpec, Pid, Strategy, SupervisorSpec};
use tokio::sync::{oneshot, Semaphore};

use crate::protocol::{NodeStatus, Request, Response};

mod admission;
mod dedup;
pub mod faults;
pub mod handshake;
pub(crate) mod link;
mod listener;
pub mod secure;
pub mod stream;
pub mod wire;

pub use faults::{FaultHandle, LinkFaults};
pub use link::Connection;
use link::{Call, PeerLink};
use listener::Listener;
pub use secure::PeerTlsConfig;
pub use stream::PeerStream;

/// Serves the requests peers send to this member.
pub trait RequestHandler: Send + Sync + 'static {
    /// Called for each inbound request; runs concurrently with others.
    fn handle(&self, from: MemberId, req: Request) -> BoxFuture<'static, Response>;
}

/// What this member says about itself in its heartbeats; the owner (the
/// store) sets it, every link reads it at each heartbeat. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct StatusSource(Arc<RwLock<NodeStatus>>);

impl StatusSource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes a new status; peers see it with the next heartbeat.
    pub fn set(&self, status: NodeStatus) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = status;
    }

    pub fn get(&self) -> NodeStatus {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Why a request to a peer got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The peer is down (no connection), or went down with the request pending.
    #[error("member {0} is down")]
    PeerDown(MemberId),
    /// No response within `request_timeout` (time spent queued included).
    #[error("request to member {0} timed out")]
    Timeout(MemberId),
    /// The peer's in-flight window and waiting queue are full; nothing was sent.
    #[error("too many requests pending for member {0}")]
    Busy(MemberId),
    #[error("member {0} is not in the cluster")]
    UnknownPeer(MemberId),
    /// The encoded request exceeds the frame limit; nothing was sent.
    #[error("request to member {peer} is over the {max}-byte frame limit")]
    TooLarge { peer: MemberId, max: usize },
    #[error("request to member {peer} could not be encoded: {message}")]
    Encode { peer: MemberId, message: String },
    /// This member's transport is not running (yet, or any more).
    #[error("the transport is not running")]
    NotStarted,
}

/// A change in a link's state, sent to the transport's `events` recipient.
#[derive(Message, Clone, Debug, PartialEq)]
#[rtype(result = "()")]
pub enum LinkEvent {
    /// An authenticated connection to `peer` is established.
    Up { peer: MemberId },
    /// The connection to `peer` is gone (closed, garbage, silence, link stopped).
    Down { peer: MemberId, reason: String },
    /// `peer` reported a new status in a heartbeat (sent on the first
    /// heartbeat of a connection and whenever it changes, not on every one).
    Status { peer: MemberId, status: NodeStatus },
}

impl LinkEvent {
    pub fn peer(&self) -> MemberId {
        match self {
            LinkEvent::Up { peer }
            | LinkEvent::Down { peer, .. }
            | LinkEvent::Status { peer, .. } => *peer,
        }
    }
}

/// Bounds of the transport. [`Default`] suits a member; tests shrink them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportLimits {
    /// Requests to one peer on the wire at once (sent, response pending).
    pub max_in_flight: usize,
    /// Requests to one peer waiting for an in-flight slot; beyond
    /// `max_in_flight + max_queued` a request fails at once with `Busy`.
    pub max_queued: usize,
    /// Inbound requests from one peer being handled at once; beyond it the
    /// peer gets `Response::Error { kind: Unavailable }`. A well-behaved peer
    /// never reaches it (its own `max_in_flight` is lower).
    pub max_inbound: usize,
    /// Connections in the handshake at once on the listener; beyond it the
    /// oldest silent one is closed to admit the newcomer (see `admission`).
    pub max_handshakes: usize,
    /// Of those, from one source address at once (same rule within it).
    pub max_handshakes_per_source: usize,
    /// An inbound connection must send its first bytes within this; a
    /// dialing member sends its Hello at once.
    pub hello_timeout_ms: u64,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            max_in_flight: 64,
            max_queued: 1024,
            max_inbound: 256,
            max_handshakes: 64,
            max_handshakes_per_source: 16,
            hello_timeout_ms: 500,
        }
    }
}

/// Counters of one member's transport (for tests, metrics and `status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// TCP connections accepted on the peer port (before any handshake).
    pub tcp_accepted: u64,
    /// Inbound connections that completed the handshake.
    pub handshakes_accepted: u64,
    /// Outbound connections that completed the handshake.
    pub handshakes_dialed: u64,
    /// Handshakes that failed, either side.
    pub handshake_failures: u64,
    /// Inbound handshakes closed to make room for a newer connection.
    pub handshakes_evicted: u64,
    /// Connections closed because the peer sent a frame that did not decode.
    pub bad_frames: u64,
}

#[derive(Default)]
pub(crate) struct Stats {
    pub tcp_accepted: AtomicU64,
    pub handshakes_accepted: AtomicU64,
    pub handshakes_dialed: AtomicU64,
    pub handshake_failures: AtomicU64,
    pub handshakes_evicted: AtomicU64,
    pub bad_frames: AtomicU64,
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The state of the link to one peer shared by its actor incarnations,
/// [`Peers`] and the listener.
pub(crate) struct PeerSlot {
    pub id: MemberId,
    /// The peer's member-to-member address (dialed if we have the lower id).
    pub addr: SocketAddr,
    /// The link actor's current incarnation (set once, at spec building).
    pub link: OnceLock<ChildRef<PeerLink>>,
    /// Whether an authenticated connection is established (written by the link).
    pub up: AtomicBool,
    /// Permits for requests admitted (in flight or queued).
    pub admitted: Semaphore,
    /// Permits for requests on the wire.
    pub in_flight: Semaphore,
}

impl PeerSlot {
    pub fn live_link(&self) -> Option<Addr<PeerLink>> {
        self.link.get().and_then(|r| r.live_addr())
    }
}

/// Everything the transport's actors and [`Peers`] share.
pub(crate) struct Shared {
    pub me: MemberId,
    pub listen: SocketAddr,
    pub timeouts: stripecast_config::Timeouts,
    pub limits: TransportLimits,
    pub handshake: handshake::HandshakeConfig,
    /// Whether peer connections run inside TLS, and its configuration.
    pub security: PeerSecurity,
    pub slots: BTreeMap<MemberId, Arc<PeerSlot>>,
    pub handler: Arc<dyn RequestHandler>,
    pub status: StatusSource,
    pub events: Recipient<LinkEvent>,
    /// The witness's id: its link's events are not sent to `events` (the
    /// membership view is of the members, who hold data); `is_up` reports it.
    pub witness: Option<MemberId>,
    pub faults: FaultHandle,
    pub stats: Stats,
    pub next_id: AtomicU64,
}

impl Shared {
    /// Sends `event` to the events recipient; dropped if it is gone (see
    /// [`transport_spec`]).
    pub fn emit(&self, event: LinkEvent) {
        if Some(event.peer()) == self.witness {
            return;
        }
        self.events.do_send(event);
    }
}

/// How this process's peer connections are protected.
pub(crate) enum PeerSecurity {
    /// Plain TCP (`peer_tls` off, or `auto` on loopback only).
    Plain,
    /// TLS bound to the secret handshake (see `secure`).
    Tls(PeerTlsConfig),
    /// TLS is required but could not be set up: no connection is made
    /// (fail closed) and the reason is logged at start.
    Unavailable,
}

impl PeerSecurity {
    fn from_config(cfg: &MemberConfig) -> PeerSecurity {
        if !cfg.peer_encrypted() {
            if !cfg.all_peers_loopback() {
                tracing::warn!(
                    member = %cfg.id,
                    "peer_tls = \"off\" with non-loopback peer addresses: member-to-member \
                     traffic (object data, keys) crosses the network unencrypted"
                );
            }
            return PeerSecurity::Plain;
        }
        match PeerTlsConfig::generate() {
            Ok(tls) => PeerSecurity::Tls(tls),
            Err(e) => {
                tracing::error!(member = %cfg.id, error = %e, "peer TLS cannot be set up; no peer connection will be made");
                PeerSecurity::Unavailable
            }
        }
    }

    /// Wraps a connected socket as this process's peers expect it.
    pub async fn connect(&self, tcp: tokio::net::TcpStream) -> std::io::Result<PeerStream> {
        match self {
            PeerSecurity::Plain => Ok(PeerStream::from(tcp)),
            PeerSecurity::Tls(tls) => tls.connect(tcp).await.map_err(std::io::Error::other),
            PeerSecurity::Unavailable => Err(std::io::Error::other("peer TLS unavailable")),
        }
    }

    /// Wraps an accepted socket as this process's peers expect it.
    pub async fn accept(&self, tcp: tokio::net::TcpStream) -> std::io::Result<PeerStream> {
        match self {
            PeerSecurity::Plain => Ok(PeerStream::from(tcp)),
            PeerSecurity::Tls(tls) => tls.accept(tcp).await.map_err(std::io::Error::other),
            PeerSecurity::Unavailable => Err(std::io::Error::other("peer TLS unavailable")),
        }
    }
}

/// The handle to the transport: requests, link states, fault injection.
/// Cheap to clone; valid across restarts of the links and the listener.
#[derive(Clone)]
pub struct Peers {
    shared: Arc<Shared>,
}

impl Peers {
    /// Sends `req` to member `peer` and waits for its response.
    ///
    /// Fails at once with `PeerDown` if the link is down, `Busy` if the peer
    /// already has `max_in_flight + max_queued` requests pending (nothing is
    /// sent), `UnknownPeer` for an id outside the cluster. Otherwise waits
    /// (FIFO) for one of `max_in_flight` slots, sends, and returns the
    /// response, `PeerDown` if the connection is lost meanwhile, or `Timeout`
    /// after `request_timeout` in all. A request to this member's own id is
    /// served by the local handler, without the network.
    pub async fn request(&self, peer: MemberId, req: Request) -> Result<Response, TransportError> {
        let sh = &self.shared;
        let limit = sh.timeouts.request_timeout();
        if peer == sh.me {
            return tokio::time::timeout(limit, sh.handler.handle(peer, req))
                .await
                .map_err(|_| TransportError::Timeout(peer));
        }
        let slot = sh
            .slots
            .get(&peer)
            .ok_or(TransportError::UnknownPeer(peer))?;
        if !slot.up.load(Ordering::Acquire) {
            return Err(TransportError::PeerDown(peer));
        }
        // Control requests (Raft) skip the request window: they must not
        // wait behind, or be refused because of, the data path's traffic.
        let control = req.is_control();
        let _admitted = if control {
            None
        } else {
            Some(
                slot.admitted
                    .try_acquire()
                    .map_err(|_| TransportError::Busy(peer))?,
            )
        };
        let exchange = async {
            let _slot = if control {
                None
            } else {
                Some(
                    slot.in_flight
                        .acquire()
                        .await
                        .map_err(|_| TransportError::PeerDown(peer))?,
                )
            };
            let link = slot.live_link().ok_or(TransportError::PeerDown(peer))?;
            let id = sh.next_id.fetch_add(1, Ordering::Relaxed);
            let frame =
                wire::encode(&wire::Frame::Request { id, body: req }).map_err(|e| match e {
                    wire::WireError::TooLarge { max } => TransportError::TooLarge { peer, max },
                    other => TransportError::Encode {
                        peer,
                        message: other.to_string(),
                    },
                })?;
            let (reply, answer) = oneshot::channel();
            link.send(Call {
                id,
                frame,
                control,
                reply,
            })
            .await
            .map_err(|_| TransportError::PeerDown(peer))?;
            // A dropped sender means the link incarnation is gone.
            answer.await.unwrap_or(Err(TransportError::PeerDown(peer)))
        };
        match tokio::time::timeout(limit, exchange).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout(peer)),
        }
    }

    /// Whether an authenticated connection to `peer` is up right now (this
    /// member's own id: always).
    pub fn is_up(&self, peer: MemberId) -> bool {
        if peer == self.shared.me {
            return true;
        }
        self.shared
            .slots
            .get(&peer)
            .is_some_and(|s| s.up.load(Ordering::Acquire))
    }

    /// The run-time fault injection of this member's links.
    pub fn faults(&self) -> FaultHandle {
        self.shared.faults.clone()
    }

    /// This member's id.
    pub fn me(&self) -> MemberId {
        self.shared.me
    }

    /// The ids of the other members.
    pub fn peer_ids(&self) -> Vec<MemberId> {
        self.shared.slots.keys().copied().collect()
    }

    pub fn stats(&self) -> TransportStats {
        let s = &self.shared.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStats {
            tcp_accepted: get(&s.tcp_accepted),
            handshakes_accepted: get(&s.handshakes_accepted),
            handshakes_dialed: get(&s.handshakes_dialed),
            handshake_failures: get(&s.handshake_failures),
            handshakes_evicted: get(&s.handshakes_evicted),
            bad_frames: get(&s.bad_frames),
        }
    }

    /// The pid of the link actor to `peer` (current incarnation), e.g. to
    /// monitor it or, in tests, to kill it.
    pub fn link_pid(&self, peer: MemberId) -> Option<Pid> {
        self.shared
            .slots
            .get(&peer)
            .and_then(|s| s.link.get())
            .and_then(|r| r.pid())
    }
}

/// The transport subtree: a one_for_one supervisor `transport` holding one
/// `link-<id>` per peer and the `listener` (all with restart backoff from
/// the reconnect timeouts), with [`TransportLimits::default`].
///
/// `events` receives every [`LinkEvent`]. It is called with `do_send`, so if
/// its actor is gone the events are dropped: to survive restarts of the
/// membership actor, pass [`crate::membership::link_events`], which forwards
/// to the current incarnation and replays the latest state to a new one.
pub fn transport_spec(
    cfg: &MemberConfig,
    handler: Arc<dyn RequestHandler>,
    status: StatusSource,
    events: Recipient<LinkEvent>,
) -> (ChildSpec, Peers) {
    transport_spec_with(cfg, TransportLimits::default(), handler, status, events)
}

/// [`transport_spec`] with explicit limits.
pub fn transport_spec_with(
    cfg: &MemberConfig,
    limits: TransportLimits,
    handler: Arc<dyn RequestHandler>,
    status: StatusSource,
    events: Recipient<LinkEvent>,
) -> (ChildSpec, Peers) {
    let slots: BTreeMap<MemberId, Arc<PeerSlot>> = cfg
        .links()
        .map(|(id, addr)| {
            (
                id,
                Arc::new(PeerSlot {
                    id,
                    addr,
                    link: OnceLock::new(),
                    up: AtomicBool::new(false),
                    admitted: Semaphore::new(limits.max_in_flight.max(1) + limits.max_queued),
                    in_flight: Semaphore::new(limits.max_in_flight.max(1)),
                }),
            )
        })
        .collect();
    let shared = Arc::new(Shared {
        me: cfg.id,
        listen: cfg.my_peer_addr(),
        timeouts: cfg.timeouts.clone(),
        limits,
        handshake: handshake::HandshakeConfig::from_config(cfg),
        security: PeerSecurity::from_config(cfg),
        slots,
        handler,
        status,
        events,
        witness: cfg.witness.as_ref().map(|w| w.id),
        faults: FaultHandle::new(),
        stats: Stats::default(),
        next_id: AtomicU64::new(1),
    });
    let backoff = Backoff::new(
        cfg.timeouts.reconnect_backoff_initial(),
        cfg.timeouts.reconnect_backoff_max(),
    );
    let mut spec = SupervisorSpec::new("transport", Strategy::OneForOne)
        .intensity(20, Duration::from_secs(10));
    for slot in shared.slots.values() {
        let (sh, sl) = (shared.clone(), slot.clone());
        let (child, r) = ChildSpec::new_with_ref(format!("link-{}", slot.id), move |_| {
            PeerLink::new(sh.clone(), sl.clone())
        });
        // Set exactly once, here, before anything can read it.
        let _ = slot.link.set(r);
        spec = spec.child(child.backoff(backoff));
    }
    let sh = shared.clone();
    spec = spec.child(
        ChildSpec::new("listener", move |cctx| {
            Listener::new(sh.clone(), cctx.clone())
        })
        .backoff(backoff),
    );
    (ChildSpec::supervisor(spec), Peers { shared })
}
