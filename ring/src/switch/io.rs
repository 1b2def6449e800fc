//! The switch's edges: a UDP reader per network feed and a sink per output.
//!
//! Invariants: a feed reader owns only its socket; each datagram goes to the
//! fabric's live incarnation whole (the fabric cuts it into TS packets), and
//! nothing is queued for a fabric that is restarting. A sink never blocks the
//! fabric: a UDP send that would block is dropped and counted; a file output
//! is appended to as packets are produced, so a reader of the file sees the
//! output as it goes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use bytes::Bytes;
use stripecast_config::OutputTarget;
use stripecast_supervisors::{ChildContext, ChildRef};
use tracing::{info, warn};

use super::fabric::{Fabric, Input};

/// Where an output's packets go.
#[derive(Debug)]
pub enum OutputSink {
    Udp { sock: UdpSocket, to: SocketAddr },
    File { file: File },
}

impl OutputSink {
    pub fn open(target: &OutputTarget) -> io::Result<OutputSink> {
        match target {
            OutputTarget::Udp(to) => {
                let bind: SocketAddr = if to.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let sock = UdpSocket::bind(bind)?;
                sock.set_nonblocking(true)?;
                Ok(OutputSink::Udp { sock, to: *to })
            }
            OutputTarget::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let file = OpenOptions::new().create(true).append(true).open(path)?;
                Ok(OutputSink::File { file })
            }
        }
    }

    /// Sends one datagram's worth of packets; `Ok(false)` if it was dropped.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<bool> {
        match self {
            OutputSink::Udp { sock, to } => match sock.send_to(bytes, *to) {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
                // nobody listening yet (ICMP port unreachable): not our failure
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(false),
                Err(e) => Err(e),
            },
            OutputSink::File { file } => file.write_all(bytes).map(|()| true),
        }
    }
}

/// Messages waiting in the fabric's mailbox, at most: past it a feed's
/// datagram is dropped (UDP's own way) and counted, so a fabric that falls
/// behind its feeds holds a bounded backlog.
pub const FABRIC_MAILBOX_MESSAGES: usize = 4096;

/// Reads one network feed's datagrams and hands them to the fabric.
pub struct FeedInput {
    feed: usize,
    addr: SocketAddr,
    fabric: ChildRef<Fabric>,
    cctx: ChildContext,
    /// Per feed: datagrams dropped at a full mailbox (the fabric reports them).
    dropped: Arc<Vec<AtomicU64>>,
    /// One sender kept for the fabric's life: actix lets a fresh sender
    /// past a full mailbox once, so a clone per datagram would never see
    /// it full.
    to_fabric: Option<Addr<Fabric>>,
}

impl FeedInput {
    pub fn new(
        feed: usize,
        addr: SocketAddr,
        fabric: ChildRef<Fabric>,
        cctx: ChildContext,
        dropped: Arc<Vec<AtomicU64>>,
    ) -> Self {
        FeedInput {
            feed,
            addr,
            fabric,
            cctx,
            dropped,
            to_fabric: None,
        }
    }
}

impl Actor for FeedInput {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let sock = UdpSocket::bind(self.addr)
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .and_then(tokio::net::UdpSocket::from_std);
        let sock = match sock {
            Ok(s) => s,
            Err(e) => {
                warn!(feed = self.feed, addr = %self.addr, error = %e, "cannot bind the feed input");
                self.cctx
                    .fail(ctx, format!("cannot bind feed input {}: {e}", self.addr));
                return;
            }
        };
        info!(feed = self.feed, addr = %self.addr, "feed input listening");
        // one receive buffer for the reader's life; each datagram is copied out at its size
        let datagrams =
            futures::stream::unfold((sock, vec![0u8; 65_536]), |(s, mut buf)| async move {
                let r = s
                    .recv(&mut buf)
                    .await
                    .map(|n| Bytes::copy_from_slice(&buf[..n]));
                Some((r, (s, buf)))
            });
        ctx.add_stream(datagrams);
    }
}

impl StreamHandler<io::Result<Bytes>> for FeedInput {
    fn handle(&mut self, item: io::Result<Bytes>, _: &mut Context<Self>) {
        match item {
            Ok(data) => {
                if self.to_fabric.is_none() {
                    self.to_fabric = self.fabric.live_addr();
                }
                if let Some(f) = &self.to_fabric {
                    match f.try_send(Input {
                        feed: self.feed,
                        data,
                    }) {
                        Ok(()) => {}
                        Err(SendError::Full(_)) => {
                            if let Some(n) = self.dropped.get(self.feed) {
                                n.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        // The fabric restarted: the next datagram goes to the new one.
                        Err(SendError::Closed(_)) => self.to_fabric = None,
                    }
                }
            }
            Err(e) => warn!(feed = self.feed, error = %e, "feed input receive failed"),
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}
