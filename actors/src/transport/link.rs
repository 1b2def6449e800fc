//! `PeerLink`: the actor that owns this member's connection to one peer.
//!
//! One incarnation per peer at a time (a supervised child `link-<id>`). It
//! holds at most one authenticated connection; the member with the lower id
//! dials (and redials with capped exponential backoff), the other waits for
//! the listener to hand it the connection (`Attach`), replacing any older one.
//!
//! I/O model. Reading happens inside the actor: the connection's framed read
//! half is added with `ctx.add_stream`, so frames are handled one at a time,
//! in order, and a peer that floods us is slowed by TCP backpressure instead
//! of filling a queue; cancelling the stream's handle drops the read half.
//! Writing happens in a tokio task per connection fed by a bounded channel
//! (`Outgoing`): the task applies the fault layer (delay, drop, duplicate,
//! reorder, corrupt), batches frames and flushes, and may block on a slow
//! socket without blocking the actor (actix's `FramedWrite` buffers without
//! bound and cannot delay frames). Frames are encoded by whoever produces them
//! (the caller of `Peers::request`, the task serving an inbound request), so
//! the actor never serializes a block.
//!
//! Two lanes feed the writer: control (heartbeats, goodbyes, the metadata
//! group's Raft messages and their answers) and data (everything else); the
//! writer always takes a waiting control frame first, and control requests
//! skip the request window and the inbound limit. So a member busy streaming
//! hundreds of blocks still answers heartbeats and Raft on time, instead of
//! missing elections and read-index deadlines behind its own bulk traffic.
//!
//! Invariants:
//! * every frame from a connection carries that connection's generation;
//!   events from a replaced connection are ignored;
//! * `slot.up` is true exactly while `conn` is `Some`, and each transition is
//!   announced once (`LinkEvent::Up` / `LinkEvent::Down`);
//! * every pending request is answered exactly once: by its response, by
//!   `Timeout` when its deadline passes, or by `PeerDown` when the connection
//!   (or this incarnation) goes away;
//! * inbound requests run concurrently as tasks, at most `max_inbound` at once;
//! * a partitioned peer's frames are discarded unseen (they are not signs of life).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::stream::{PeerRead, PeerStream, PeerWrite};
use actix::fut::wrap_future;
use actix::prelude::*;
use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use stripecast_config::MemberId;
use stripecast_supervisors::Backoff;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::codec::{Framed, FramedParts, FramedWrite};
use tracing::{debug, info, warn};

use super::faults::{self, FaultHandle};
use super::handshake::{self, HandshakeError};
use super::wire::{self, Frame, FrameCodec, WireError};
use super::{LinkEvent, PeerSlot, Shared, Stats, TransportError};
use crate::protocol::{ErrorKind, NodeStatus, Response};

/// How long the fault layer's `reorder` holds a frame when no next frame comes.
const REORDER_HOLD: Duration = Duration::from_millis(20);

/// Frames queued for the writer beyond the request window (responses).
const WRITER_HEADROOM_FRAMES: usize = 64;

/// Control frames (heartbeats, Raft messages and their answers) queued for
/// the writer, at most; a control request beyond it fails with `Busy`.
const CONTROL_LANE_FRAMES: usize = 256;

/// The writer's two queues: a waiting control frame goes before any waiting
/// data frame. Under an injected `delay` the lanes merge in queue order
/// instead (a delayed link delays everything alike, as a slow wire does;
/// control first would starve data, each control frame being held its delay).
struct Lanes {
    control: mpsc::Receiver<Outgoing>,
    data: mpsc::Receiver<Outgoing>,
    /// The head of each lane, taken off its channel but not yet written.
    next_control: Option<Outgoing>,
    next_data: Option<Outgoing>,
    control_open: bool,
    data_open: bool,
}

impl Lanes {
    fn new(control: mpsc::Receiver<Outgoing>, data: mpsc::Receiver<Outgoing>) -> Lanes {
        Lanes {
            control,
            data,
            next_control: None,
            next_data: None,
            control_open: true,
            data_open: true,
        }
    }

    /// Moves what is already queued to the heads, without waiting.
    fn peek(&mut self) {
        if self.next_control.is_none() && self.control_open {
            match self.control.try_recv() {
                Ok(out) => self.next_control = Some(out),
                Err(mpsc::error::TryRecvError::Disconnected) => self.control_open = false,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
        }
        if self.next_data.is_none() && self.data_open {
            match self.data.try_recv() {
                Ok(out) => self.next_data = Some(out),
                Err(mpsc::error::TryRecvError::Disconnected) => self.data_open = false,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
        }
    }

    /// The next frame (control first, or the older of the two heads when
    /// `in_queue_order`); `None` once both lanes are closed and empty.
    async fn recv(&mut self, in_queue_order: bool) -> Option<Outgoing> {
        loop {
            self.peek();
            match (self.next_control.take(), self.next_data.take()) {
                (Some(c), Some(d)) if in_queue_order && d.at < c.at => {
                    self.next_control = Some(c);
                    return Some(d);
                }
                (Some(c), d) => {
                    self.next_data = d;
                    return Some(c);
                }
                (None, Some(d)) => return Some(d),
                (None, None) => {}
            }
            if !self.control_open && !self.data_open {
                return None;
            }
            tokio::select! {
                biased;
                got = self.control.recv(), if self.control_open => match got {
                    Some(out) => self.next_control = Some(out),
                    None => self.control_open = false,
                },
                got = self.data.recv(), if self.data_open => match got {
                    Some(out) => self.next_data = Some(out),
                    None => self.data_open = false,
                },
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.next_control.is_none()
            && self.next_data.is_none()
            && self.control.is_empty()
            && self.data.is_empty()
    }
}

/// An authenticated connection, ready for a link (member links carry no
/// application messages; another system's link carries its own, `A`).
pub struct Connection<A = wire::NoApp> {
    pub addr: SocketAddr,
    pub reader: Framed<PeerRead, FrameCodec<A>>,
    pub writer: FramedWrite<PeerWrite, FrameCodec>,
}

impl<A> Connection<A> {
    /// Splits a connection that has just completed its handshake, keeping any
    /// bytes already read past the handshake and lifting the frame limit.
    pub fn from_handshake(framed: Framed<PeerStream, FrameCodec>, addr: SocketAddr) -> Self {
        let parts = framed.into_parts();
        let (r, w) = parts.io.split();
        let mut read = FramedParts::new::<Bytes>(r, FrameCodec::connection());
        read.read_buf = parts.read_buf;
        Connection {
            addr,
            reader: Framed::from_parts(read),
            writer: FramedWrite::new(w, FrameCodec::connection()),
        }
    }
}

/// Hands an accepted, authenticated connection to the link (from the listener).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Attach(pub Connection);

/// Sends one request (already encoded with its `id`) and registers `reply`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Call {
    pub id: u64,
    pub frame: Bytes,
    /// Goes on the control lane ([`Request::is_control`](crate::protocol::Request::is_control)).
    pub control: bool,
    pub reply: oneshot::Sender<Result<Response, TransportError>>,
}

/// The writer task of connection `gen` failed.
#[derive(Message)]
#[rtype(result = "()")]
struct WriterFailed {
    gen: u64,
    reason: String,
}

/// What the read half produced.
enum ReadEvent {
    Frame(Frame),
    Bad(WireError),
    Closed,
}

struct Inbound {
    gen: u64,
    event: ReadEvent,
}

struct Outgoing {
    frame: Bytes,
    /// When it was queued: the `delay` fault counts from here.
    at: Instant,
}

struct Conn {
    gen: u64,
    addr: SocketAddr,
    /// The data lane.
    tx: mpsc::Sender<Outgoing>,
    /// The control lane.
    control: mpsc::Sender<Outgoing>,
    writer: tokio::task::JoinHandle<()>,
    reader: SpawnHandle,
    since: Instant,
    last_seen: Instant,
    /// Inbound request ids already served on this connection.
    served: super::dedup::SeenIds,
}

struct Pending {
    reply: oneshot::Sender<Result<Response, TransportError>>,
    deadline: Instant,
}

#[derive(Debug, thiserror::Error)]
enum DialError {
    #[error("connect failed: {0}")]
    Connect(std::io::Error),
    #[error("handshake failed: {0}")]
    Handshake(HandshakeError),
    #[error("no connection within the connect timeout")]
    Timeout,
}

pub(crate) struct PeerLink {
    sh: Arc<Shared>,
    slot: Arc<PeerSlot>,
    me: MemberId,
    peer: MemberId,
    /// We have the lower id: we dial, and redial.
    dialer: bool,
    backoff: Backoff,
    conn: Option<Conn>,
    next_gen: u64,
    connecting: bool,
    retry: Option<SpawnHandle>,
    /// Failed attempts in a row, for the backoff.
    streak: u32,
    pending: HashMap<u64, Pending>,
    inbound: Arc<Semaphore>,
    last_status: Option<NodeStatus>,
    hb_seq: u64,
    torn_down: bool,
}

impl PeerLink {
    pub fn new(sh: Arc<Shared>, slot: Arc<PeerSlot>) -> Self {
        let t = &sh.timeouts;
        PeerLink {
            me: sh.me,
            peer: slot.id,
            dialer: sh.me < slot.id,
            backoff: Backoff::new(t.reconnect_backoff_initial(), t.reconnect_backoff_max()),
            inbound: Arc::new(Semaphore::new(sh.limits.max_inbound.max(1))),
            sh,
            slot,
            conn: None,
            next_gen: 1,
            connecting: false,
            retry: None,
            streak: 0,
            pending: HashMap::new(),
            last_status: None,
            hb_seq: 0,
            torn_down: false,
        }
    }

    fn faults(&self) -> &FaultHandle {
        &self.sh.faults
    }

    // ---- connecting ----------------------------------------------------

    fn dial(&mut self, ctx: &mut Context<Self>) {
        self.retry = None;
        if self.conn.is_some() || self.connecting || self.torn_down {
            return;
        }
        if self.faults().is_partitioned(self.peer) {
            debug!(
                member = %self.me,
                peer = %self.peer,
                "not dialing: partitioned"
            );
            self.schedule_retry(ctx);
            return;
        }
        self.connecting = true;
        let fut = dial_peer(self.sh.clone(), self.peer, self.slot.addr);
        ctx.spawn(wrap_future::<_, Self>(fut).map(|res, act, ctx| {
            act.connecting = false;
            match res {
                Ok(conn) if act.faults().is_partitioned(act.peer) => {
                    drop(conn);
                    act.schedule_retry(ctx);
                }
                Ok(conn) => {
                    Stats::bump(&act.sh.stats.handshakes_dialed);
                    act.install(conn, ctx);
                }
                Err(e) => {
                    let addr = act.slot.addr;
                    match &e {
                        DialError::Handshake(_) => {
                            Stats::bump(&act.sh.stats.handshake_failures);
                            warn!(member = %act.me, peer = %act.peer, %addr, reason = %e, "outbound handshake failed; connection closed");
                        }
                        _ if act.streak == 0 => {
                            info!(member = %act.me, peer = %act.peer, %addr, reason = %e, "cannot reach peer; will retry")
                        }
                        _ => {
                            debug!(member = %act.me, peer = %act.peer, %addr, reason = %e, "cannot reach peer; will retry")
                        }
                    }
                    act.schedule_retry(ctx);
                }
            }
        }));
    }

    fn schedule_retry(&mut self, ctx: &mut Context<Self>) {
        if !self.dialer || self.retry.is_some() || self.torn_down {
            return;
        }
        let delay = self.backoff.delay(self.streak);
        self.streak = self.streak.saturating_add(1);
        self.retry = Some(ctx.run_later(delay, |act, ctx| act.dial(ctx)));
    }

    fn install(&mut self, conn: Connection, ctx: &mut Context<Self>) {
        if self.conn.is_some() {
            self.close(
                "replaced by a new connection from the same peer".into(),
                ctx,
            );
        }
        let gen = self.next_gen;
        self.next_gen += 1;
        let addr = conn.addr;
        let (tx, rx) = mpsc::channel(self.sh.limits.max_in_flight.max(1) + WRITER_HEADROOM_FRAMES);
        let (control, control_rx) = mpsc::channel(CONTROL_LANE_FRAMES);
        let lanes = Lanes::new(control_rx, rx);
        let writer = actix_rt::spawn(writer_task(
            lanes,
            conn.writer,
            self.faults().clone(),
            self.peer,
            self.sh.timeouts.connect_timeout(),
            ctx.address(),
            gen,
        ));
        let frames = conn.reader.map(move |r| Inbound {
            gen,
            event: match r {
                Ok(frame) => ReadEvent::Frame(frame),
                Err(e) => ReadEvent::Bad(e),
            },
        });
        let closed = futures::stream::once(async move {
            Inbound {
                gen,
                event: ReadEvent::Closed,
            }
        });
        let reader = ctx.add_stream(frames.chain(closed));
        let now = Instant::now();
        self.conn = Some(Conn {
            gen,
            addr,
            tx,
            control,
            writer,
            reader,
            since: now,
            last_seen: now,
            served: super::dedup::SeenIds::new(super::dedup::SEEN_REQUEST_IDS),
        });
        self.slot.up.store(true, Ordering::Release);
        info!(member = %self.me, peer = %self.peer, %addr, gen, dialer = %self.dialer, "link up");
        self.sh.emit(LinkEvent::Up { peer: self.peer });
        // Let the peer learn our status without waiting a heartbeat interval.
        self.heartbeat();
    }

    /// Drops the connection (if any) and announces the link down.
    fn close(&mut self, reason: String, ctx: &mut Context<Self>) -> Option<Duration> {
        let conn = self.conn.take()?;
        ctx.cancel_future(conn.reader);
        conn.writer.abort();
        self.mark_down(&reason, Some(conn.addr));
        Some(conn.since.elapsed())
    }

    /// Closes the connection and, on the dialer side, schedules a redial.
    fn disconnect(&mut self, reason: String, ctx: &mut Context<Self>) {
        if let Some(lived) = self.close(reason, ctx) {
            if lived >= self.backoff.reset_after {
                self.streak = 0;
            }
            self.schedule_retry(ctx);
        }
    }

    fn mark_down(&mut self, reason: &str, addr: Option<SocketAddr>) {
        let was_up = self.slot.up.swap(false, Ordering::AcqRel);
        self.last_status = None;
        for (_, p) in self.pending.drain() {
            let _ = p.reply.send(Err(TransportError::PeerDown(self.peer)));
        }
        if was_up {
            let addr = addr.map(|a| a.to_string()).unwrap_or_default();
            warn!(member = %self.me, peer = %self.peer, %addr, %reason, "link down");
            self.sh.emit(LinkEvent::Down {
                peer: self.peer,
                reason: reason.to_string(),
            });
        }
    }

    /// Final cleanup of this incarnation (stop, kill or drop): says goodbye
    /// if it can, fails what is pending, announces the link down.
    fn teardown(&mut self, reason: &str) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        let addr = self.conn.as_ref().map(|c| c.addr);
        if let Some(conn) = self.conn.take() {
            // The writer flushes the goodbye and closes when the channel ends;
            // the read half goes with the actor's context.
            if let Ok(frame) = wire::encode(&Frame::Goodbye {
                reason: reason.to_string(),
            }) {
                let _ = conn.control.try_send(Outgoing {
                    frame,
                    at: Instant::now(),
                });
            }
        }
        self.mark_down(reason, addr);
    }

    // ---- timers ----------------------------------------------------------

    fn heartbeat(&mut self) {
        let Some(conn) = &self.conn else { return };
        self.hb_seq += 1;
        let frame = match wire::encode(&Frame::Heartbeat {
            seq: self.hb_seq,
            status: self.sh.status.get(),
        }) {
            Ok(f) => f,
            Err(e) => {
                warn!(member = %self.me, peer = %self.peer, error = %e, "cannot encode heartbeat");
                return;
            }
        };
        if conn
            .control
            .try_send(Outgoing {
                frame,
                at: Instant::now(),
            })
            .is_err()
        {
            debug!(
                member = %self.me,
                peer = %self.peer,
                "writer queue full; heartbeat skipped"
            );
        }
    }

    fn check(&mut self, ctx: &mut Context<Self>) {
        let timeout = self.sh.timeouts.heartbeat_timeout();
        if let Some(conn) = &self.conn {
            let silent = conn.last_seen.elapsed();
            if silent > timeout {
                self.disconnect(
                    format!(
                        "no frame for {} ms (heartbeat timeout {} ms)",
                        silent.as_millis(),
                        timeout.as_millis()
                    ),
                    ctx,
                );
            }
        }
        // Requests past their deadline (or whose caller gave up).
        let now = Instant::now();
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| now >= p.deadline || p.reply.is_closed())
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(p) = self.pending.remove(&id) {
                let _ = p.reply.send(Err(TransportError::Timeout(self.peer)));
            }
        }
    }

    // ---- inbound frames ----------------------------------------------------

    fn on_frame(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        match frame {
            Frame::Heartbeat { status, .. } => {
                if self.last_status.as_ref() != Some(&status) {
                    self.last_status = Some(status.clone());
                    self.sh.emit(LinkEvent::Status {
                        peer: self.peer,
                        status,
                    });
                }
            }
            Frame::Request { id, body } => self.serve(id, body),
            Frame::Response { id, body } => match self.pending.remove(&id) {
                Some(p) => {
                    let _ = p.reply.send(Ok(body));
                }
                None => debug!(
                    member = %self.me,
                    peer = %self.peer,
                    id,
                    "response to no pending request (late or duplicated)"
                ),
            },
            Frame::Goodbye { reason } => {
                self.disconnect(format!("peer closed the link: {reason}"), ctx)
            }
            other @ (Frame::Hello(_) | Frame::Proof { .. } | Frame::App(_)) => {
                Stats::bump(&self.sh.stats.bad_frames);
                self.disconnect(
                    format!(
                        "protocol violation: {} frame on a member link",
                        other.kind()
                    ),
                    ctx,
                );
            }
        }
    }

    fn serve(&mut self, id: u64, body: crate::protocol::Request) {
        let Some(conn) = &mut self.conn else { return };
        if !conn.served.first_time(id) {
            // A duplicated frame: the original is (being) served and answered.
            debug!(
                member = %self.me,
                peer = %self.peer,
                id,
                "duplicate request dropped"
            );
            return;
        }
        let control = body.is_control();
        let tx = if control {
            conn.control.clone()
        } else {
            conn.tx.clone()
        };
        // Control requests are answered at once (a step into the Raft
        // replica's bounded inbox): they take no inbound slot.
        let permit = if control {
            None
        } else if let Ok(permit) = self.inbound.clone().try_acquire_owned() {
            Some(permit)
        } else {
            let busy = Response::Error {
                kind: ErrorKind::Unavailable,
                message: format!(
                    "member {} has too many requests from member {}",
                    self.me, self.peer
                ),
            };
            if let Some(frame) = encode_response(id, busy) {
                let _ = tx.try_send(Outgoing {
                    frame,
                    at: Instant::now(),
                });
            }
            return;
        };
        let handler = self.sh.handler.clone();
        let (me, peer) = (self.me, self.peer);
        actix_rt::spawn(async move {
            let answer =
                match std::panic::catch_unwind(AssertUnwindSafe(|| handler.handle(peer, body))) {
                    Ok(fut) => AssertUnwindSafe(fut).catch_unwind().await,
                    Err(p) => Err(p),
                };
            let response = answer.unwrap_or_else(|_| {
                warn!(member = %me, %peer, id, "request handler panicked");
                Response::Error {
                    kind: ErrorKind::Internal,
                    message: "request handler panicked".into(),
                }
            });
            drop(permit);
            if let Some(frame) = encode_response(id, response) {
                // Fails only if the connection is gone; the requester then sees PeerDown.
                let _ = tx
                    .send(Outgoing {
                        frame,
                        at: Instant::now(),
                    })
                    .await;
            }
        });
    }
}

fn encode_response(id: u64, body: Response) -> Option<Bytes> {
    match wire::encode(&Frame::Response { id, body }) {
        Ok(f) => Some(f),
        Err(e) => {
            let fallback = Response::Error {
                kind: ErrorKind::Internal,
                message: format!("response could not be sent: {e}"),
            };
            wire::encode(&Frame::Response { id, body: fallback }).ok()
        }
    }
}

/// Connects to `addr` and runs the dialer's handshake, all within connect_timeout.
async fn dial_peer(
    sh: Arc<Shared>,
    peer: MemberId,
    addr: SocketAddr,
) -> Result<Connection, DialError> {
    let attempt = async {
        let stream = TcpStream::connect(addr).await.map_err(DialError::Connect)?;
        let _ = stream.set_nodelay(true);
        let stream = sh
            .security
            .connect(stream)
            .await
            .map_err(DialError::Connect)?;
        let binding = super::secure::channel_binding(&stream);
        let mut framed = Framed::new(stream, FrameCodec::handshake());
        handshake::dial(&mut framed, &sh.handshake, peer, &binding)
            .await
            .map_err(DialError::Handshake)?;
        Ok(Connection::from_handshake(framed, addr))
    };
    match tokio::time::timeout(sh.timeouts.connect_timeout(), attempt).await {
        Ok(r) => r,
        Err(_) => Err(DialError::Timeout),
    }
}

/// Writes queued frames through the fault layer until the link drops the
/// channel (then flushes and closes, bounded by `close_limit`) or a write fails.
async fn writer_task(
    mut rx: Lanes,
    mut sink: FramedWrite<PeerWrite, FrameCodec>,
    faults: FaultHandle,
    peer: MemberId,
    close_limit: Duration,
    link: Addr<PeerLink>,
    gen: u64,
) {
    let result: Result<(), WireError> = async {
        let mut held: Option<Vec<Bytes>> = None;
        let mut rng = faults::FaultRng::new(peer);
        // Whether the last frame's faults had a delay (read once per frame:
        // the lanes' order follows a change of faults one frame late).
        let mut in_queue_order = false;
        loop {
            let next = if held.is_some() {
                match tokio::time::timeout(REORDER_HOLD, rx.recv(in_queue_order)).await {
                    Ok(next) => next,
                    Err(_) => {
                        // Nothing to swap with: release the held frame.
                        for b in held.take().unwrap_or_default() {
                            sink.feed(b).await?;
                        }
                        sink.flush().await?;
                        continue;
                    }
                }
            } else {
                rx.recv(in_queue_order).await
            };
            let Some(out) = next else { break };
            let f = faults.get(peer);
            in_queue_order = f.delay_ms > 0;
            if f.delay_ms > 0 {
                let due = out.at + Duration::from_millis(f.delay_ms);
                if due > Instant::now() {
                    // What is already written must not wait behind this frame.
                    sink.flush().await?;
                    tokio::time::sleep_until(due.into()).await;
                }
            }
            let verdict = faults::apply(&f, out.frame, &mut rng);
            let mut batch = verdict.copies;
            if verdict.hold && held.is_none() && !batch.is_empty() {
                held = Some(batch);
                continue;
            }
            match held.take() {
                // Reordering: the held frame goes after this one.
                Some(h) if verdict.hold => batch.extend(h),
                // Reordering was switched off: the held frame goes first.
                Some(mut h) => {
                    h.extend(batch);
                    batch = h;
                }
                None => {}
            }
            for b in batch {
                sink.feed(b).await?;
            }
            if rx.is_empty() {
                sink.flush().await?;
            }
        }
        for b in held.take().unwrap_or_default() {
            sink.feed(b).await?;
        }
        // Flush what is left (a goodbye) and send FIN, but never hang on a dead peer.
        let _ = tokio::time::timeout(close_limit, sink.close()).await;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        link.do_send(WriterFailed {
            gen,
            reason: e.to_string(),
        });
    }
}

impl Actor for PeerLink {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let t = &self.sh.timeouts;
        info!(member = %self.me, peer = %self.peer, addr = %self.slot.addr, dialer = %self.dialer, "link started");
        ctx.run_interval(t.heartbeat_interval(), |act, _| act.heartbeat());
        // Check silence several times per timeout so detection is prompt.
        let every =
            (t.heartbeat_timeout() / 5).clamp(Duration::from_millis(1), t.heartbeat_interval());
        ctx.run_interval(every, |act, ctx| act.check(ctx));
        if self.dialer {
            self.dial(ctx);
        }
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.teardown("link stopped");
        Running::Stop
    }
}

impl Drop for PeerLink {
    fn drop(&mut self) {
        // Reached without `stopping` when the incarnation is killed.
        self.teardown("link killed");
    }
}

impl StreamHandler<Inbound> for PeerLink {
    fn handle(&mut self, item: Inbound, ctx: &mut Context<Self>) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if conn.gen != item.gen {
            return;
        }
        match item.event {
            ReadEvent::Frame(frame) => {
                if self.sh.faults.is_partitioned(self.peer) {
                    return;
                }
                conn.last_seen = Instant::now();
                self.on_frame(frame, ctx);
            }
            ReadEvent::Bad(WireError::Io(e)) => {
                self.disconnect(format!("connection error: {e}"), ctx);
            }
            ReadEvent::Bad(e) => {
                Stats::bump(&self.sh.stats.bad_frames);
                warn!(member = %self.me, peer = %self.peer, addr = %conn.addr, error = %e, "undecodable frame; closing the connection");
                self.disconnect(format!("undecodable frame: {e}"), ctx);
            }
            ReadEvent::Closed => {
                self.disconnect("connection closed by the peer".into(), ctx);
            }
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {
        // Each connection's stream ends with `ReadEvent::Closed`; the link
        // itself outlives its connections.
    }
}

impl Handler<Attach> for PeerLink {
    type Result = ();

    fn handle(&mut self, Attach(conn): Attach, ctx: &mut Context<Self>) {
        if self.dialer {
            warn!(member = %self.me, peer = %self.peer, addr = %conn.addr, "inbound connection for a peer we dial; dropped");
            return;
        }
        if self.faults().is_partitioned(self.peer) {
            return;
        }
        self.install(conn, ctx);
    }
}

impl Handler<Call> for PeerLink {
    type Result = ();

    fn handle(&mut self, call: Call, _: &mut Context<Self>) {
        let peer = self.peer;
        let Some(conn) = &self.conn else {
            let _ = call.reply.send(Err(TransportError::PeerDown(peer)));
            return;
        };
        let lane = if call.control {
            &conn.control
        } else {
            &conn.tx
        };
        match lane.try_send(Outgoing {
            frame: call.frame,
            at: Instant::now(),
        }) {
            Ok(()) => {
                self.pending.insert(
                    call.id,
                    Pending {
                        reply: call.reply,
                        deadline: Instant::now() + self.sh.timeouts.request_timeout(),
                    },
                );
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                let _ = call.reply.send(Err(TransportError::Busy(peer)));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                let _ = call.reply.send(Err(TransportError::PeerDown(peer)));
            }
        }
    }
}

impl Handler<WriterFailed> for PeerLink {
    type Result = ();

    fn handle(&mut self, msg: WriterFailed, ctx: &mut Context<Self>) {
        if self.conn.as_ref().is_some_and(|c| c.gen == msg.gen) {
            self.disconnect(format!("write failed: {}", msg.reason), ctx);
        }
    }
}
