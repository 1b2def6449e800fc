//! The two tasks of an authenticated processor <-> switch connection, the
//! same on both ends: a writer draining a bounded queue of encoded frames,
//! and a reader handing each ring message on.
//!
//! Invariants: the connection closes when its owner drops the kill sender
//! (no end callback then: the owner already knows) or the queue's sender,
//! or when the peer closes, errs or sends a frame that is not a ring message
//! (the end callback gets the reason).

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::protocol::RingMsg;
use stripecast_actors::transport::wire::Frame;

use super::protocol::RingConnection;

/// What the owner holds: the queue to the peer and the kill switch.
pub(crate) struct Handle {
    pub tx: mpsc::Sender<Bytes>,
    pub kill: oneshot::Sender<()>,
}

/// Spawns the writer and reader of `conn`.
pub(crate) fn run(
    conn: RingConnection,
    queue: usize,
    mut on_msg: impl FnMut(RingMsg) + 'static,
    on_end: impl FnOnce(String) + 'static,
) -> Handle {
    let (tx, mut rx) = mpsc::channel::<Bytes>(queue);
    let (kill, mut killed) = oneshot::channel::<()>();
    let stripecast_actors::transport::Connection {
        mut reader,
        mut writer,
        ..
    } = conn;
    actix_rt::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.send(bytes).await.is_err() {
                break;
            }
        }
    });
    actix_rt::spawn(async move {
        let reason = loop {
            tokio::select! {
                _ = &mut killed => break None,
                next = reader.next() => match next {
                    Some(Ok(Frame::App(msg))) => on_msg(*msg),
                    Some(Ok(other)) => break Some(format!("protocol violation: {} frame", other.kind())),
                    Some(Err(e)) => break Some(format!("connection error: {e}")),
                    None => break Some("connection closed".to_owned()),
                }
            }
        };
        if let Some(reason) = reason {
            on_end(reason);
        }
    });
    Handle { tx, kill }
}
