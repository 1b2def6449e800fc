//! Runs one member's [`MetaNode`] on its own thread, and the handle the
//! rest of the member talks to it through.
//!
//! Persisting a Raft `Ready` means fsync (sled flush): blocking work that
//! must not run on an actor's arbiter thread, and that must finish before
//! the messages depending on it leave. So the node lives on a dedicated
//! thread: it ticks every `tick_ms`, steps messages and proposals from a
//! bounded inbox, handles each `Ready`, hands outgoing messages to `send`
//! and publishes a [`MetaStatus`]. The thread ends when every [`MetaHandle`]
//! is dropped (or [`MetaHandle::stop`] is called), closing the sled database.
//!
//! Invariant: the inbox is bounded (`INBOX_EVENTS`); a message that does not
//! fit is dropped and counted, which Raft tolerates (it resends), and a
//! proposal that does not fit fails at once instead of waiting.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::group::{MetaConfig, MetaError, MetaNode};
use super::state::MetaCommand;

/// Events waiting for the node, at most.
pub const INBOX_EVENTS: usize = 4096;

/// What `/v1/cluster` shows of the metadata group on one member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaStatus {
    /// The leader this member knows of (the active controller).
    pub leader: Option<u32>,
    /// The Raft term (the controller epoch).
    pub term: u64,
    /// `leader`, `follower`, `candidate` or `pre-candidate`.
    pub role: String,
    /// The highest log index known committed.
    pub commit_index: u64,
    /// The highest log index applied here.
    pub applied_index: u64,
    /// Peer messages dropped because the inbox was full.
    pub dropped_messages: u64,
}

enum Event {
    Step(Vec<u8>),
    Propose(MetaCommand),
}

/// Sends raft messages to peers: (member id, encoded message).
pub type Sender = Arc<dyn Fn(u32, Vec<u8>) + Send + Sync>;

/// The member's way to the metadata replica. Cheap to clone.
#[derive(Clone)]
pub struct MetaHandle {
    inbox: SyncSender<Event>,
    status: Arc<RwLock<MetaStatus>>,
    thread: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl MetaHandle {
    /// Opens the replica in `db` and starts its thread.
    pub fn start(
        me: u32,
        members: Vec<u32>,
        db: sled::Db,
        cfg: MetaConfig,
        tick: Duration,
        send: Sender,
    ) -> Result<MetaHandle, MetaError> {
        let node = MetaNode::open(me, &members, &db, &cfg)?;
        let (inbox, rx) = sync_channel(INBOX_EVENTS);
        let status = Arc::new(RwLock::new(MetaStatus::default()));
        let published = status.clone();
        let thread = std::thread::Builder::new()
            .name(format!("meta-{me}"))
            .spawn(move || run(node, rx, tick, send, published))
            .map_err(|e| MetaError::Encode(format!("starting the metadata thread: {e}")))?;
        Ok(MetaHandle {
            inbox,
            status,
            thread: Arc::new(std::sync::Mutex::new(Some(thread))),
        })
    }

    /// A raft message from a peer; dropped (and counted) when the inbox is full.
    pub fn step(&self, msg: Vec<u8>) {
        if let Err(TrySendError::Full(_)) = self.inbox.try_send(Event::Step(msg)) {
            let mut s = self.status.write().unwrap_or_else(|p| p.into_inner());
            s.dropped_messages += 1;
        }
    }

    /// Proposes a command (fire and forget for now; see the module docs).
    pub fn propose(&self, cmd: MetaCommand) -> bool {
        self.inbox.try_send(Event::Propose(cmd)).is_ok()
    }

    pub fn status(&self) -> MetaStatus {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops the thread and waits for it (the sled database is closed after).
    pub fn stop(self) {
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(self.inbox);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

fn run(
    mut node: MetaNode,
    rx: Receiver<Event>,
    tick: Duration,
    send: Sender,
    status: Arc<RwLock<MetaStatus>>,
) {
    let me = node.me();
    let mut next_tick = Instant::now() + tick;
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(Event::Step(msg)) => {
                if let Err(e) = node.step(&msg) {
                    tracing::warn!(member = me, error = %e, "raft message refused");
                }
            }
            Ok(Event::Propose(cmd)) => {
                if let Err(e) = node.propose(&cmd) {
                    tracing::warn!(member = me, error = %e, "proposal refused");
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next_tick {
            node.tick();
            next_tick += tick;
            if next_tick < Instant::now() {
                // Stopped (SIGSTOP) or starved: do not burst the missed ticks.
                next_tick = Instant::now() + tick;
            }
        }
        match node.ready() {
            Ok(out) => {
                for (to, msg) in out.messages {
                    send(to, msg);
                }
            }
            Err(e) => {
                // A storage failure: stop rather than acknowledge anything unpersisted.
                tracing::error!(member = me, error = %e, "metadata replica failed; stopping it");
                break;
            }
        }
        let mut s = status.write().unwrap_or_else(|p| p.into_inner());
        let dropped = s.dropped_messages;
        *s = MetaStatus {
            leader: node.leader(),
            term: node.term(),
            role: node.role().to_string(),
            commit_index: node.commit_index(),
            applied_index: node.state().applied_index,
            dropped_messages: dropped,
        };
    }
    tracing::info!(member = me, "metadata replica stopped");
}
