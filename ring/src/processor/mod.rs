//! A member's video-system processor (the `ring` child of the member tree):
//! connects to the switch, watches the feed the switch sends it, reports the
//! SCTE-35 cues it sees, fetches its inserts from the cluster (degraded reads
//! included) and streams them back to the switch at their times.
//!
//! Invariants: one connection to the switch at a time, redialled with capped
//! backoff; everything learnt from a connection (position, feed, orders,
//! stream) is dropped with it, since the switch re-assigns on reconnect; a
//! heartbeat goes out every interval, so a stopped member is failed by
//! silence and a killed one by its closed socket.

pub mod player;

use std::net::SocketAddr;
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use bytes::Bytes;
use futures::StreamExt;
use stripecast_config::{MemberConfig, MemberId, RingLink};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};

use self::player::Player;
use super::conn;
use super::now_ms;
use super::protocol::{RingMsg, MAX_PREROLL_MS, SWITCH_ID};
use stripecast_actors::service::{ObjectService, ServiceError};
use stripecast_actors::transport::handshake::{self, HandshakeConfig};
use stripecast_actors::transport::wire::FrameCodec;
use stripecast_actors::transport::{Connection, PeerStream};
use stripecast_ts::program::ProgramWatcher;
use stripecast_ts::{Packet, PACKET_SIZE, PTS_WRAP};

/// How often streams are driven and fetches started.
const DRIVE: Duration = Duration::from_millis(10);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_millis(1000);

struct Link {
    gen: u64,
    tx: mpsc::Sender<Bytes>,
    _kill: oneshot::Sender<()>,
}

pub struct RingProcessor {
    me: MemberId,
    switch: SocketAddr,
    hs: HandshakeConfig,
    svc: ObjectService,
    heartbeat: Duration,
    connect_timeout: Duration,
    link: Option<Link>,
    gen: u64,
    attempt: u32,
    position: Option<usize>,
    feed: Option<usize>,
    player: Player,
    watcher: ProgramWatcher,
    last_pcr: Option<u64>,
}

impl RingProcessor {
    pub fn new(cfg: &MemberConfig, link: RingLink, svc: ObjectService) -> Self {
        let hs = HandshakeConfig::new(
            cfg.id,
            cfg.cluster.name.clone(),
            cfg.cluster.secret.as_bytes(),
            [cfg.id, SWITCH_ID],
        );
        RingProcessor {
            me: cfg.id,
            switch: link.switch,
            hs,
            svc,
            heartbeat: Duration::from_millis(cfg.timeouts.heartbeat_interval_ms),
            connect_timeout: Duration::from_millis(cfg.timeouts.connect_timeout_ms),
            link: None,
            gen: 0,
            attempt: 0,
            position: None,
            feed: None,
            player: Player::default(),
            watcher: ProgramWatcher::new(),
            last_pcr: None,
        }
    }

    fn send(&self, msg: RingMsg) {
        let Some(link) = &self.link else { return };
        match crate::protocol::encode(msg) {
            Ok(b) => {
                if link.tx.try_send(b).is_err() {
                    debug!(member = %self.me, "switch queue full; message dropped");
                }
            }
            Err(e) => warn!(member = %self.me, error = %e, "cannot encode a ring message"),
        }
    }

    fn dial(&mut self, ctx: &mut Context<Self>) {
        self.gen += 1;
        let gen = self.gen;
        let (addr, hs, limit) = (self.switch, self.hs.clone(), self.connect_timeout);
        let fut = async move {
            let stream = tokio::time::timeout(limit, TcpStream::connect(addr))
                .await
                .map_err(|_| DialError::ConnectTimeout)??;
            let _ = stream.set_nodelay(true);
            let mut framed = Framed::new(PeerStream::from(stream), FrameCodec::handshake());
            tokio::time::timeout(limit, handshake::dial(&mut framed, &hs, SWITCH_ID, &[]))
                .await
                .map_err(|_| DialError::HandshakeTimeout)??;
            Ok::<_, DialError>(Connection::from_handshake(framed, addr))
        };
        ctx.spawn(wrap_future::<_, Self>(fut).map(move |res, act, ctx| {
            if gen != act.gen {
                return;
            }
            match res {
                Ok(conn) => act.attach(conn, ctx),
                Err(e) => {
                    debug!(member = %act.me, switch = %act.switch, error = %e, "cannot reach the switch");
                    act.retry(ctx);
                }
            }
        }));
    }

    fn retry(&mut self, ctx: &mut Context<Self>) {
        let delay = BACKOFF_MIN
            .saturating_mul(1 << self.attempt.min(5))
            .min(BACKOFF_MAX);
        self.attempt += 1;
        ctx.run_later(delay, |act, ctx| act.dial(ctx));
    }

    fn attach(&mut self, conn: crate::protocol::RingConnection, ctx: &mut Context<Self>) {
        info!(member = %self.me, switch = %self.switch, "connected to the switch");
        self.attempt = 0;
        let gen = self.gen;
        let (me, me2) = (ctx.address(), ctx.address());
        let handle = conn::run(
            conn,
            1024,
            move |msg| me.do_send(Inbound { gen, msg }),
            move |reason| me2.do_send(Lost { gen, reason }),
        );
        self.link = Some(Link {
            gen,
            tx: handle.tx,
            _kill: handle.kill,
        });
        self.send(RingMsg::Ping);
    }

    fn forget(&mut self) {
        self.link = None;
        self.position = None;
        self.feed = None;
        self.player.reset();
        self.watcher = ProgramWatcher::new();
        self.last_pcr = None;
    }

    fn drive(&mut self, ctx: &mut Context<Self>) {
        if self.link.is_none() {
            return;
        }
        let now = now_ms();
        for (id, object) in self.player.to_fetch(now) {
            let svc = self.svc.clone();
            let gen = self.gen;
            let fut = fetch(svc, object.clone());
            ctx.spawn(wrap_future::<_, Self>(fut).map(move |res, act, _| {
                if gen != act.gen {
                    return;
                }
                if let Err(e) = &res {
                    warn!(member = %act.me, insert = id, object = %object, error = %e, "cannot fetch the insert");
                }
                if let Some(msg) = act.player.fetched(id, res) {
                    act.send(msg);
                }
            }));
        }
        for msg in self.player.drive(now) {
            self.send(msg);
        }
    }

    /// Watches the feed for cues.
    fn watch(&mut self, feed: usize, ts: &[u8]) {
        for chunk in ts.chunks_exact(PACKET_SIZE) {
            let Ok(p) = Packet::parse(chunk) else {
                continue;
            };
            if let (Some(pcr), Some(pmt)) = (p.pcr(), self.watcher.pmt()) {
                if p.pid() == pmt.pcr_pid {
                    self.last_pcr = Some(pcr);
                }
            }
            for cue in self.watcher.push(&p) {
                if cue.cancel || !cue.out_of_network {
                    continue;
                }
                let preroll_ms = match (cue.splice_time, self.last_pcr) {
                    (Some(pts), Some(pcr)) => {
                        let ahead = (pts + PTS_WRAP - (pcr / 300) % PTS_WRAP) % PTS_WRAP;
                        Some(ahead / 90)
                            .filter(|ms| *ms <= MAX_PREROLL_MS)
                            .unwrap_or(0)
                    }
                    _ => 0,
                };
                info!(
                    member = %self.me,
                    feed,
                    event = cue.splice_event_id,
                    preroll_ms,
                    "SCTE-35 cue in the feed"
                );
                self.send(RingMsg::Cue {
                    feed,
                    event_id: cue.splice_event_id,
                    preroll_ms,
                });
            }
        }
    }
}

/// Why the switch could not be reached (the processor dials again).
#[derive(Debug, thiserror::Error)]
enum DialError {
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("connect: {0}")]
    Connect(#[from] std::io::Error),
    #[error("handshake timed out")]
    HandshakeTimeout,
    #[error("handshake: {0}")]
    Handshake(#[from] handshake::HandshakeError),
}

async fn fetch(svc: ObjectService, name: String) -> Result<Vec<u8>, ServiceError> {
    let obj = svc.open(&name).await?;
    let len = obj.len();
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    let mut chunks = std::pin::pin!(svc.stream(obj, 0, len));
    while let Some(c) = chunks.next().await {
        out.extend_from_slice(&c?);
    }
    Ok(out)
}

impl Actor for RingProcessor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        info!(member = %self.me, switch = %self.switch, "ring processor started");
        self.dial(ctx);
        ctx.run_interval(self.heartbeat, |act, _| act.send(RingMsg::Ping));
        ctx.run_interval(DRIVE, |act, ctx| act.drive(ctx));
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Inbound {
    gen: u64,
    msg: RingMsg,
}

impl Handler<Inbound> for RingProcessor {
    type Result = ();

    fn handle(&mut self, m: Inbound, ctx: &mut Context<Self>) {
        if self.link.as_ref().map(|l| l.gen) != Some(m.gen) {
            return;
        }
        match m.msg {
            RingMsg::Assign {
                position,
                feed,
                inserts,
            } => {
                if self.feed != feed || self.position != Some(position) {
                    info!(member = %self.me, position, feed = ?feed, inserts = inserts.len(), "assignment");
                    self.watcher = ProgramWatcher::new();
                    self.last_pcr = None;
                }
                self.position = Some(position);
                self.feed = feed;
                self.player.assign(feed, inserts);
                self.drive(ctx);
            }
            RingMsg::Feed { feed, ts } => {
                if self.feed == Some(feed) {
                    self.watch(feed, &ts);
                }
            }
            RingMsg::Progress { id, played, done } => {
                self.player.progress(id, played, done);
                self.drive(ctx);
            }
            other => debug!(
                member = %self.me,
                kind = other.kind(),
                "unexpected message from the switch"
            ),
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Lost {
    gen: u64,
    reason: String,
}

impl Handler<Lost> for RingProcessor {
    type Result = ();

    fn handle(&mut self, m: Lost, ctx: &mut Context<Self>) {
        if self.link.as_ref().map(|l| l.gen) != Some(m.gen) {
            return;
        }
        warn!(member = %self.me, switch = %self.switch, reason = %m.reason, "lost the switch");
        self.forget();
        self.retry(ctx);
    }
}
