//! The listener: accepts connections on this member's peer address, runs the
//! acceptor's side of the handshake, and hands each authenticated connection
//! to the link of the member it proved to be (which replaces any older one).
//!
//! Invariants:
//! * handshakes run concurrently, each bounded by `hello_timeout_ms` for its
//!   first bytes and `connect_timeout` in all; at most `max_handshakes` at
//!   once (`max_handshakes_per_source` from one address): a newcomer beyond
//!   them is admitted by closing the oldest silent handshake (`admission`),
//!   so a flood of idle connections cannot keep a configured peer out;
//! * a failed handshake (garbage, HTTP, half a frame, wrong secret, unknown or
//!   higher id, silence) closes that connection and logs a warning with the
//!   remote address and the reason (silence and a close say so at debug
//!   level: a flood of them would flood the log); nothing else is affected;
//! * the listener owns no authenticated connection: a restarted listener only
//!   rebinds the port, and the links keep theirs;
//! * a bind failure is an abnormal exit, so the supervisor retries with backoff.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use stripecast_config::MemberId;
use stripecast_supervisors::ChildContext;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

use super::stream::PeerStream;
use tracing::{debug, info, warn};

use super::admission::{self, InProgress};
use super::handshake::{self, HandshakeError};
use super::link::{Attach, Connection};
use super::wire::FrameCodec;
use super::{Shared, Stats};

/// Pause after a failed `accept` (e.g. out of file descriptors), so the
/// listener does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

pub(crate) struct Listener {
    sh: Arc<Shared>,
    cctx: ChildContext,
    /// Handshakes in progress, by order of arrival (at most
    /// `max_handshakes`).
    pending: BTreeMap<u64, Pending>,
    next_seq: u64,
}

/// One inbound handshake in progress.
struct Pending {
    handle: SpawnHandle,
    source: IpAddr,
    /// Set once its first bytes arrived.
    talking: Arc<AtomicBool>,
}

type Accepted = io::Result<(TcpStream, SocketAddr)>;

impl Listener {
    pub fn new(sh: Arc<Shared>, cctx: ChildContext) -> Self {
        Listener {
            sh,
            cctx,
            pending: BTreeMap::new(),
            next_seq: 0,
        }
    }

    fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        // std's bind sets SO_REUSEADDR on Unix, so a restarted member can
        // rebind at once; binding synchronously keeps `started` simple.
        let std = std::net::TcpListener::bind(addr)?;
        std.set_nonblocking(true)?;
        TcpListener::from_std(std)
    }

    fn hand_off(&mut self, peer: MemberId, conn: Connection) {
        let addr = conn.addr;
        match self.sh.slots.get(&peer).and_then(|s| s.live_link()) {
            Some(link) => {
                Stats::bump(&self.sh.stats.handshakes_accepted);
                link.do_send(Attach(conn));
            }
            None => {
                warn!(member = %self.sh.me, %peer, %addr, "link not running; inbound connection dropped")
            }
        }
    }
}

async fn accept_one(
    sh: Arc<Shared>,
    stream: TcpStream,
    talking: Arc<AtomicBool>,
) -> Result<(MemberId, Framed<PeerStream, FrameCodec>), HandshakeError> {
    let _ = stream.set_nodelay(true);
    let hello = Duration::from_millis(sh.limits.hello_timeout_ms);
    match tokio::time::timeout(hello, stream.readable()).await {
        Ok(Ok(())) => talking.store(true, Ordering::Relaxed),
        Ok(Err(_)) => return Err(HandshakeError::Closed),
        Err(_) => return Err(HandshakeError::Timeout),
    }
    // TLS (when the mesh is encrypted) and the secret handshake share one
    // deadline: a stranger holds a slot no longer either way.
    let run = async {
        let stream = sh
            .security
            .accept(stream)
            .await
            .map_err(|_| HandshakeError::Closed)?;
        let binding = super::secure::channel_binding(&stream);
        let mut framed = Framed::new(stream, FrameCodec::handshake());
        let faults = sh.faults.clone();
        let peer = handshake::accept(&mut framed, &sh.handshake, &binding, |id| {
            !faults.is_partitioned(id)
        })
        .await?;
        Ok((peer, framed))
    };
    match tokio::time::timeout(sh.timeouts.connect_timeout(), run).await {
        Ok(r) => r,
        Err(_) => Err(HandshakeError::Timeout),
    }
}

impl Actor for Listener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let addr = self.sh.listen;
        let listener = match Self::bind(addr) {
            Ok(l) => l,
            Err(e) => {
                warn!(member = %self.sh.me, %addr, error = %e, "cannot listen on the peer address");
                self.cctx.fail(ctx, format!("cannot listen on {addr}: {e}"));
                return;
            }
        };
        info!(member = %self.sh.me, %addr, "listening for peers");
        let accepts = futures::stream::unfold(listener, |l| async move {
            let next = l.accept().await;
            if next.is_err() {
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
            Some((next, l))
        });
        ctx.add_stream(accepts);
    }
}

impl StreamHandler<Accepted> for Listener {
    fn handle(&mut self, item: Accepted, ctx: &mut Context<Self>) {
        let me = self.sh.me;
        let (stream, addr) = match item {
            Ok(x) => x,
            Err(e) => {
                warn!(member = %me, error = %e, "accept failed");
                return;
            }
        };
        Stats::bump(&self.sh.stats.tcp_accepted);
        let in_progress: Vec<InProgress> = self
            .pending
            .iter()
            .map(|(&seq, p)| InProgress {
                seq,
                source: p.source,
                talking: p.talking.load(Ordering::Relaxed),
            })
            .collect();
        let limits = &self.sh.limits;
        if let Some(gone) = admission::evict(
            &in_progress,
            addr.ip(),
            limits.max_handshakes,
            limits.max_handshakes_per_source,
        ) {
            if let Some(p) = self.pending.remove(&gone) {
                // Dropping the future closes its connection.
                ctx.cancel_future(p.handle);
                Stats::bump(&self.sh.stats.handshakes_evicted);
                debug!(member = %me, source = %p.source, "port crowded: oldest waiting handshake closed");
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let talking = Arc::new(AtomicBool::new(false));
        let fut = accept_one(self.sh.clone(), stream, talking.clone());
        let handle = ctx.spawn(wrap_future::<_, Self>(fut).map(move |res, act, _| {
            act.pending.remove(&seq);
            match res {
                Ok((peer, framed)) => act.hand_off(peer, Connection::from_handshake(framed, addr)),
                // An injected partition is expected, not suspicious.
                Err(e @ HandshakeError::Refused(_)) => {
                    debug!(member = %me, %addr, reason = %e, "inbound connection refused")
                }
                // Said nothing, or left: a flood's shape; one line each
                // would cost more than the connection did.
                Err(e @ (HandshakeError::Timeout | HandshakeError::Closed)) => {
                    Stats::bump(&act.sh.stats.handshake_failures);
                    debug!(member = %me, %addr, reason = %e, "inbound handshake abandoned; connection closed");
                }
                Err(e) => {
                    Stats::bump(&act.sh.stats.handshake_failures);
                    warn!(member = %me, %addr, reason = %e, "inbound handshake failed; connection closed");
                }
            }
        }));
        self.pending.insert(
            seq,
            Pending {
                handle,
                source: addr.ip(),
                talking,
            },
        );
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The accept stream never ends on its own; if it does, start over.
        self.cctx.fail(ctx, "accept stream ended");
    }
}
