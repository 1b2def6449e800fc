//! A few "members" in one process: each runs membership + transport under its
//! own supervisor, on 127.0.0.1 ports found free by binding port 0.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures::future::BoxFuture;
use stripecast_actors::membership::{
    link_events, membership_spec, MemberState, Membership, MembershipView, Subscribe, ViewChanged,
    ViewSnapshot,
};
use stripecast_actors::protocol::{ErrorKind, Request, Response};
use stripecast_actors::transport::{
    transport_spec_with, Peers, RequestHandler, StatusSource, TransportLimits,
};
use stripecast_config::{ClusterConfig, MemberConfig, MemberEntry, MemberId, Timeouts};
use stripecast_supervisors::{ChildRef, Strategy, Supervisor, SupervisorHandle, SupervisorSpec};

/// The reason of a member never seen up.
pub const NOT_CONNECTED: &str = "not connected yet";

pub const SECRET: &str = "0123456789abcdef-test-secret";

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
}

/// Ports that were free a moment ago (all bound at once, so distinct).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Fast failure detection for tests: heartbeat 50 ms, down after 300 ms.
pub fn fast_timeouts() -> Timeouts {
    Timeouts {
        heartbeat_interval_ms: 50,
        heartbeat_timeout_ms: 300,
        connect_timeout_ms: 500,
        request_timeout_ms: 5_000,
        reconnect_backoff_initial_ms: 20,
        reconnect_backoff_max_ms: 200,
        ..Timeouts::default()
    }
}

pub fn configs(n: u32, timeouts: Timeouts) -> Vec<MemberConfig> {
    let ports = free_ports(2 * n as usize);
    let members: Vec<MemberEntry> = (0..n)
        .map(|id| MemberEntry {
            id: MemberId::new(id),
            peer: SocketAddr::from(([127, 0, 0, 1], ports[id as usize])),
            http: SocketAddr::from(([127, 0, 0, 1], ports[(n + id) as usize])),
            s3: None,
        })
        .collect();
    (0..n)
        .map(|id| {
            let cfg = MemberConfig {
                id: MemberId::new(id),
                data_dir: PathBuf::from(format!("/nonexistent/member-{id}")),
                cluster: ClusterConfig {
                    name: "transport-test".into(),
                    secret: SECRET.into(),
                    stripe_size: 64 * 1024,
                    parity: 1,
                    peer_tls: stripecast_config::PeerTls::Auto,
                },
                timeouts: timeouts.clone(),
                store: stripecast_config::StoreSettings::default(),
                http: stripecast_config::HttpSettings::default(),
                members: members.clone(),
                ring: None,
                witness: None,
                auth: None,
            };
            cfg.validate().unwrap();
            cfg
        })
        .collect()
}

/// Answers Ping with Pong and echoes Echo payloads, after an optional delay,
/// counting how many requests it serves at once.
#[derive(Default)]
pub struct TestHandler {
    pub delay_ms: std::sync::atomic::AtomicU64,
    pub active: AtomicUsize,
    pub max_active: AtomicUsize,
    pub served: AtomicUsize,
    /// Control (Raft) requests served.
    pub control_served: AtomicUsize,
}

impl TestHandler {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn with_delay(ms: u64) -> Arc<Self> {
        let h = Self::default();
        h.delay_ms.store(ms, Ordering::SeqCst);
        Arc::new(h)
    }
}

struct Handler(Arc<TestHandler>);

impl RequestHandler for Handler {
    fn handle(&self, _from: MemberId, req: Request) -> BoxFuture<'static, Response> {
        let h = self.0.clone();
        Box::pin(async move {
            if req.is_control() {
                // Raft messages are stepped at once, as a member does.
                h.control_served.fetch_add(1, Ordering::SeqCst);
                return Response::Done;
            }
            let now = h.active.fetch_add(1, Ordering::SeqCst) + 1;
            h.max_active.fetch_max(now, Ordering::SeqCst);
            let delay = h.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            h.active.fetch_sub(1, Ordering::SeqCst);
            h.served.fetch_add(1, Ordering::SeqCst);
            match req {
                Request::Ping => Response::Pong,
                Request::Echo { payload } => Response::Echo { payload },
                #[allow(unreachable_patterns)]
                _ => Response::Error {
                    kind: ErrorKind::BadRequest,
                    message: "test handler".into(),
                },
            }
        })
    }
}

/// Records every ViewChanged it gets.
pub struct Recorder(pub Arc<Mutex<Vec<ViewSnapshot>>>);

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl actix::Handler<ViewChanged> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: ViewChanged, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(msg.view);
    }
}

pub struct Node {
    pub id: MemberId,
    pub cfg: MemberConfig,
    pub sup: SupervisorHandle,
    pub peers: Peers,
    pub view: MembershipView,
    pub membership: ChildRef<Membership>,
    pub changes: Arc<Mutex<Vec<ViewSnapshot>>>,
    pub handler: Arc<TestHandler>,
    pub status: StatusSource,
}

impl Node {
    pub async fn start(cfg: &MemberConfig) -> Node {
        Self::start_with(cfg, TestHandler::new(), TransportLimits::default()).await
    }

    pub async fn start_with(
        cfg: &MemberConfig,
        handler: Arc<TestHandler>,
        limits: TransportLimits,
    ) -> Node {
        let (mspec, membership, view) = membership_spec(cfg);
        let events = link_events(&membership);
        let status = StatusSource::new();
        let (tspec, peers) = transport_spec_with(
            cfg,
            limits,
            Arc::new(Handler(handler.clone())),
            status.clone(),
            events,
        );
        let sup = Supervisor::start(
            SupervisorSpec::new(format!("member-{}", cfg.id), Strategy::OneForOne)
                .child(mspec)
                .child(tspec),
        )
        .await;
        let changes = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder(changes.clone()).start();
        membership
            .addr()
            .unwrap()
            .send(Subscribe(recorder.recipient()))
            .await
            .unwrap();
        Node {
            id: cfg.id,
            cfg: cfg.clone(),
            sup,
            peers,
            view,
            membership,
            changes,
            handler,
            status,
        }
    }

    /// True if this node sees exactly `up` as its live peers (through both
    /// the transport and the membership view).
    pub fn sees_up(&self, peer: MemberId) -> bool {
        self.peers.is_up(peer) && self.view.is_up(peer)
    }

    pub fn sees_down(&self, peer: MemberId) -> bool {
        !self.peers.is_up(peer) && !self.view.is_up(peer)
    }

    /// Every state change of `peer` recorded by the subscriber, in order,
    /// from its first connection on (the initial "not connected yet" is left out).
    pub fn transitions(&self, peer: MemberId) -> Vec<MemberState> {
        let mut out: Vec<MemberState> = Vec::new();
        for v in self.changes.lock().unwrap().iter() {
            let m = &v.members[peer.position()];
            if m.reason.as_deref() == Some(NOT_CONNECTED) {
                continue;
            }
            let s = m.state;
            if out.last() != Some(&s) {
                out.push(s);
            }
        }
        out
    }

    /// The recorded "down" reasons of `peer`.
    pub fn down_reasons(&self, peer: MemberId) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in self.changes.lock().unwrap().iter() {
            if let Some(r) = &v.members[peer.position()].reason {
                if out.last() != Some(r) {
                    out.push(r.clone());
                }
            }
        }
        out
    }
}

/// Polls `cond` every 5 ms until it holds or `limit` passes; true if it held.
pub async fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until every node sees every other one up.
pub async fn wait_mesh(nodes: &[&Node], limit: Duration) {
    let ok = wait_for(limit, || {
        nodes
            .iter()
            .all(|a| nodes.iter().all(|b| a.id == b.id || a.sees_up(b.id)))
    })
    .await;
    assert!(ok, "mesh not up within {limit:?}");
}

pub async fn start_cluster(cfgs: &[MemberConfig]) -> Vec<Node> {
    let mut nodes = Vec::new();
    for cfg in cfgs {
        nodes.push(Node::start(cfg).await);
    }
    nodes
}
