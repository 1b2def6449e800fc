//! The control port: processors connect here, prove the cluster secret with
//! the member handshake (the switch answers as [`SWITCH_ID`]), and then
//! exchange [`RingMsg`]s with the fabric.
//!
//! Invariants: a connection that fails the handshake (garbage, wrong secret,
//! a member without a ring position, silence) is closed and logged, and
//! nothing else is touched; each authenticated connection has a reader task
//! (frames to the fabric incarnation it registered with) and a writer task
//! (a bounded queue, so a stuck processor cannot make the fabric buffer
//! without bound); the fabric closes a connection by dropping its kill
//! sender and queue; a non-ring frame closes the connection.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use actix::prelude::*;
use stripecast_config::MemberId;
use stripecast_supervisors::{ChildContext, ChildRef};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;
use tracing::{info, warn};

use super::fabric::{Fabric, FromProc, Gone, Register};
use crate::conn;
use crate::protocol::SWITCH_ID;
use stripecast_actors::transport::handshake::{self, HandshakeConfig};
use stripecast_actors::transport::wire::FrameCodec;
use stripecast_actors::transport::{Connection, PeerStream};

/// Frames queued for one processor before new ones are dropped.
pub const QUEUE_MESSAGES: usize = 4096;
/// Time allowed for a handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct ControlListener {
    addr: SocketAddr,
    hs: HandshakeConfig,
    fabric: ChildRef<Fabric>,
    cctx: ChildContext,
}

impl ControlListener {
    /// `members`: the ring's member ids (only they may connect).
    pub fn new(
        addr: SocketAddr,
        cluster: &str,
        secret: &str,
        members: Vec<MemberId>,
        fabric: ChildRef<Fabric>,
        cctx: ChildContext,
    ) -> Self {
        let hs = HandshakeConfig::new(
            SWITCH_ID,
            cluster,
            secret.as_bytes(),
            members.into_iter().chain([SWITCH_ID]),
        );
        ControlListener {
            addr,
            hs,
            fabric,
            cctx,
        }
    }
}

type Accepted = io::Result<(TcpStream, SocketAddr)>;

impl Actor for ControlListener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let listener = std::net::TcpListener::bind(self.addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std);
        let listener = match listener {
            Ok(l) => l,
            Err(e) => {
                warn!(addr = %self.addr, error = %e, "cannot listen on the control port");
                self.cctx
                    .fail(ctx, format!("cannot listen on {}: {e}", self.addr));
                return;
            }
        };
        info!(addr = %self.addr, "switch control port listening");
        let accepts = futures::stream::unfold(listener, |l| async move {
            let next = l.accept().await;
            if next.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Some((next, l))
        });
        ctx.add_stream(accepts);
    }
}

impl StreamHandler<Accepted> for ControlListener {
    fn handle(&mut self, item: Accepted, ctx: &mut Context<Self>) {
        let (stream, addr) = match item {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "accept failed");
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let hs = self.hs.clone();
        let fabric = self.fabric.clone();
        // the connection outlives a restart of the listener
        let _ = ctx;
        actix_rt::spawn(serve(stream, addr, hs, fabric));
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.cctx.fail(ctx, "accept stream ended");
    }
}

async fn serve(stream: TcpStream, addr: SocketAddr, hs: HandshakeConfig, fabric: ChildRef<Fabric>) {
    let mut framed = Framed::new(PeerStream::from(stream), FrameCodec::handshake());
    let member = match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake::accept(&mut framed, &hs, &[], |_| true),
    )
    .await
    {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            warn!(peer = %addr, reason = %e, "processor handshake failed; connection closed");
            return;
        }
        Err(_) => {
            warn!(peer = %addr, "processor handshake timed out; connection closed");
            return;
        }
    };
    let Some(fab) = fabric.live_addr() else {
        return;
    };
    let conn = Connection::from_handshake(framed, addr);
    // the fabric learns the connection's id when it registers it
    let id = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let (on_msg, on_end) = {
        let (fab, fab2, id, id2) = (fab.clone(), fab.clone(), id.clone(), id.clone());
        (
            move |msg| {
                fab.do_send(FromProc {
                    conn: id.get(),
                    msg,
                })
            },
            move |reason| {
                fab2.do_send(Gone {
                    conn: id2.get(),
                    reason,
                })
            },
        )
    };
    let handle = conn::run(conn, QUEUE_MESSAGES, on_msg, on_end);
    match fab
        .send(Register {
            member,
            addr,
            tx: handle.tx,
            kill: handle.kill,
        })
        .await
    {
        Ok(Ok(conn_id)) => id.set(conn_id),
        Ok(Err(why)) => warn!(peer = %addr, %member, reason = %why, "processor refused"),
        Err(_) => {}
    }
}
