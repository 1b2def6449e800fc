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
//! [`MetaHandle::propose`] answers when the command is applied on this
//! member (the moment an acknowledgement may be given);
//! [`MetaHandle::read`] is a read-index read: it runs on the state once
//! this member has applied what the leader had committed when it was asked.
//! Both fail after `WAIT_MS` (a timed-out proposal's outcome is unknown).
//! What was forwarded to a leader and not answered within `RESUBMIT_MS`, or
//! sent to a leader that has since lost its place, is sent again: raft-rs
//! never resends a forwarded proposal or read, and a lossy link or a dying
//! leader loses them. Every command is idempotent (see `state`), so a
//! proposal applied twice changes nothing more than once.
//!
//! Reads are batched: every read taken in one turn of the loop shares one
//! read-index request (one round of heartbeats at the leader), so hundreds
//! of GETs opening at once cost a few rounds, not hundreds.
//!
//! Invariant: the inbox is bounded (`INBOX_EVENTS`); a message that does not
//! fit is dropped and counted, which Raft tolerates (it resends), and a
//! proposal or read that does not fit fails at once (`Busy`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::numbers::{LogIndex, Term};

use std::collections::BTreeMap;

use stripecast_config::MemberId;
use tokio::sync::oneshot;

use super::access::AccessState;
use super::group::{Applier, MetaConfig, MetaError, MetaNode, ProposalId};
use super::state::{Applied, MetaCommand, MetaState};
use stripecast_persistence::DurableDb;

/// Events waiting for the node, at most.
pub const INBOX_EVENTS: usize = 4096;

/// What `/v1/cluster` shows of the metadata group on one member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaStatus {
    /// The leader this member knows of (the active controller).
    pub leader: Option<MemberId>,
    /// The Raft term (the controller epoch).
    pub term: Term,
    pub role: super::group::MetaRole,
    /// The highest log index known committed.
    pub commit_index: LogIndex,
    /// The highest log index applied here.
    pub applied_index: LogIndex,
    /// Peer messages dropped because the inbox was full.
    pub dropped_messages: u64,
    /// Read-index requests this member has sent (each answers a batch of reads).
    #[serde(default)]
    pub read_index_requests: u64,
    /// The volume incarnation (HomeBlock epoch) in the applied state.
    #[serde(default)]
    pub volume_incarnation: stripecast_persistence::VolumeIncarnation,
    /// The members down at the controller's last committed step.
    #[serde(default)]
    pub volume_down: Vec<MemberId>,
    /// The controller's tasks in progress, as the log has them: per member
    /// with objects to rebuild, how many are left.
    #[serde(default)]
    pub rebuilds: BTreeMap<MemberId, u64>,
}

/// How long a proposal or a read may wait for the group before it fails.
/// A proposal that timed out may still be applied later: its outcome is unknown.
pub const WAIT_MS: u64 = 5000;

/// Why a proposal or a read got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error("the metadata group is busy (inbox full)")]
    Busy,
    #[error("the metadata replica is stopped")]
    Stopped,
    #[error("no answer from the metadata group within {WAIT_MS} ms (outcome unknown)")]
    Timeout,
    #[error("the metadata group refused: {0}")]
    Refused(String),
}

type Reader = Box<dyn FnOnce(&MetaState) + Send>;
type ReadDone = oneshot::Sender<Result<(), WaitError>>;
type ProposeDone = oneshot::Sender<Result<Applied, WaitError>>;

enum Event {
    Step(MemberId, Vec<u8>),
    Propose(MetaCommand, ProposeDone),
    Read(Reader, ReadDone),
}

/// Sends raft messages to peers: (member id, encoded message).
pub type Sender = Arc<dyn Fn(MemberId, Vec<u8>) + Send + Sync>;

/// The member's way to the metadata replica. Cheap to clone.
#[derive(Clone)]
pub struct MetaHandle {
    inbox: SyncSender<Event>,
    /// Set by [`MetaHandle::stop`]: the thread ends within a tick, whatever clones remain.
    stopping: Arc<AtomicBool>,
    status: Arc<RwLock<MetaStatus>>,
    /// Keys, buckets and grants as this member last applied them: what a
    /// request is authorised against without a round to the leader.
    access: Arc<RwLock<Arc<AccessState>>>,
    thread: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl MetaHandle {
    /// Opens the replica in `db` and starts its thread; `applier` (if any)
    /// follows everything it applies.
    pub fn start(
        me: MemberId,
        members: Vec<MemberId>,
        db: DurableDb,
        cfg: MetaConfig,
        tick: Duration,
        send: Sender,
        applier: Option<Box<dyn Applier>>,
    ) -> Result<MetaHandle, MetaError> {
        let mut node = MetaNode::open(me, &members, &db, &cfg)?;
        if let Some(a) = applier {
            node.set_applier(a);
        }
        let (inbox, rx) = sync_channel(INBOX_EVENTS);
        let status = Arc::new(RwLock::new(MetaStatus::default()));
        let published = status.clone();
        let access = Arc::new(RwLock::new(Arc::new(node.state().access.clone())));
        let access_published = access.clone();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop_seen = stopping.clone();
        let thread = std::thread::Builder::new()
            .name(format!("meta-{me}"))
            .spawn(move || {
                run(
                    node,
                    rx,
                    tick,
                    send,
                    Published {
                        status: published,
                        access: access_published,
                    },
                    stop_seen,
                )
            })
            .map_err(|e| MetaError::Encode(format!("starting the metadata thread: {e}")))?;
        Ok(MetaHandle {
            inbox,
            stopping,
            status,
            access,
            thread: Arc::new(std::sync::Mutex::new(Some(thread))),
        })
    }

    /// A raft message from peer `from`; dropped (and counted) when the inbox is full.
    pub fn step(&self, from: MemberId, msg: Vec<u8>) {
        if let Err(TrySendError::Full(_)) = self.inbox.try_send(Event::Step(from, msg)) {
            let mut s = self.status.write().unwrap_or_else(|p| p.into_inner());
            s.dropped_messages += 1;
        }
    }

    /// Puts an event in the inbox without waiting.
    fn offer(&self, event: Event) -> Result<(), WaitError> {
        self.inbox.try_send(event).map_err(|e| match e {
            TrySendError::Full(_) => WaitError::Busy,
            TrySendError::Disconnected(_) => WaitError::Stopped,
        })
    }

    /// Proposes a command and waits until it is applied on this member.
    /// Only then may anything that depends on it be acknowledged.
    pub async fn propose(&self, cmd: MetaCommand) -> Result<Applied, WaitError> {
        let (tx, rx) = oneshot::channel();
        self.offer(Event::Propose(cmd, tx))?;
        rx.await.map_err(|_| WaitError::Stopped)?
    }

    /// Runs `f` on the state once this member has applied everything the
    /// leader had committed when the read was asked (read-index): a
    /// linearizable read. Fails if no leader confirms in time.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&MetaState) -> T + Send + 'static,
    ) -> Result<T, WaitError> {
        let (value_tx, value_rx) = oneshot::channel();
        let (tx, rx) = oneshot::channel();
        let reader: Reader = Box::new(move |s| {
            let _ = value_tx.send(f(s));
        });
        self.offer(Event::Read(reader, tx))?;
        rx.await.map_err(|_| WaitError::Stopped)??;
        value_rx.await.map_err(|_| WaitError::Stopped)
    }

    /// Whether the replica's thread still runs (it ends on a storage failure).
    pub fn is_running(&self) -> bool {
        self.thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    pub fn status(&self) -> MetaStatus {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Keys, buckets and grants as this member last applied them (not a
    /// linearizable read: a key made a moment ago elsewhere may be missing;
    /// ask [`MetaHandle::read`] before refusing it).
    pub fn access(&self) -> Arc<AccessState> {
        self.access
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops the thread and waits for it (the sled database is closed after).
    /// Other clones of the handle then fail with `Stopped`.
    pub fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(self.inbox);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// How long a proposal or read forwarded to the leader may go unanswered
/// before it is sent again: raft-rs does not resend a forwarded proposal or
/// read-index request that a lossy link or a dying leader lost.
pub const RESUBMIT_MS: u64 = 1000;

/// Hands a proposal to the node, or a read to `batch` (a leader is known).
fn submit(
    node: &mut MetaNode,
    waiting: &mut Waiting,
    batch: &mut Vec<ReadWaiter>,
    deadline: Instant,
    event: Event,
) {
    match event {
        Event::Propose(cmd, tx) => {
            let done = Arc::new(std::sync::Mutex::new(Some(tx)));
            propose(node, waiting, deadline, cmd, done);
        }
        Event::Read(reader, tx) => batch.push(ReadWaiter {
            deadline,
            reader,
            tx,
        }),
        Event::Step(..) => {}
    }
}

fn propose(
    node: &mut MetaNode,
    waiting: &mut Waiting,
    deadline: Instant,
    cmd: MetaCommand,
    done: SharedDone,
) {
    match node.propose(&cmd) {
        Ok(id) => {
            waiting.proposals.insert(
                id,
                Pending {
                    deadline,
                    cmd,
                    done,
                    sent_at: Instant::now(),
                    leader: node.leader(),
                    resent: false,
                },
            );
        }
        Err(e) => {
            answer(&done, Err(WaitError::Refused(e.to_string())));
        }
    }
}

/// Sends one read-index request for all of `readers` (none: nothing sent).
fn ask(node: &mut MetaNode, waiting: &mut Waiting, readers: Vec<ReadWaiter>) {
    if readers.is_empty() {
        return;
    }
    let seq = waiting.next_read;
    waiting.next_read += 1;
    waiting.read_index_requests += 1;
    node.read_index(seq.to_le_bytes().to_vec());
    waiting.asked.insert(
        seq,
        Asked {
            readers,
            sent_at: Instant::now(),
            leader: node.leader(),
        },
    );
}

/// Answers a proposal once (the first of its copies to be applied).
fn answer(done: &SharedDone, result: Result<Applied, WaitError>) {
    if let Some(tx) = done.lock().unwrap_or_else(|p| p.into_inner()).take() {
        let _ = tx.send(result);
    }
}

/// Answers a proposal or a read that cannot be taken.
fn refuse(event: Event, e: WaitError) {
    match event {
        Event::Propose(_, tx) => {
            let _ = tx.send(Err(e));
        }
        Event::Read(_, tx) => {
            let _ = tx.send(Err(e));
        }
        Event::Step(..) => {}
    }
}

/// A proposal's answer, shared by its copies (a resent proposal is a new
/// entry; every command is idempotent, so whichever copy applies first answers).
type SharedDone = Arc<std::sync::Mutex<Option<ProposeDone>>>;

struct Pending {
    deadline: Instant,
    cmd: MetaCommand,
    done: SharedDone,
    sent_at: Instant,
    /// The leader when it was sent.
    leader: Option<MemberId>,
    /// A copy was sent since.
    resent: bool,
}

/// One read waiting for its answer.
struct ReadWaiter {
    deadline: Instant,
    reader: Reader,
    tx: ReadDone,
}

/// One read-index request in flight and the reads it answers.
struct Asked {
    readers: Vec<ReadWaiter>,
    sent_at: Instant,
    leader: Option<MemberId>,
}

/// Proposals and reads waiting for the group, with their deadlines.
struct Waiting {
    /// Proposals and reads held while no leader is known (at most `INBOX_EVENTS`).
    held: std::collections::VecDeque<(Instant, Event)>,
    proposals: BTreeMap<ProposalId, Pending>,
    /// Read-index requests in flight, by their context sequence number.
    asked: BTreeMap<u64, Asked>,
    /// Reads confirmed at a log index, waiting for it to be applied here
    /// (until their deadline: a member cut off after the confirmation
    /// may never apply that index).
    confirmed: Vec<(u64, ReadWaiter)>,
    next_read: u64,
    /// Read-index requests sent so far (for the status).
    read_index_requests: u64,
}

impl Waiting {
    /// Fails everything past its deadline.
    fn expire(&mut self, now: Instant) {
        let (late, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(d, _)| *d <= now);
        self.held = keep.into();
        for (_, event) in late {
            refuse(event, WaitError::Timeout);
        }
        self.proposals.retain(|_, p| {
            if p.deadline <= now {
                answer(&p.done, Err(WaitError::Timeout));
                return false;
            }
            true
        });
        let (late, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.confirmed)
            .into_iter()
            .partition(|(_, r)| r.deadline <= now);
        self.confirmed = keep;
        for (_, r) in late {
            let _ = r.tx.send(Err(WaitError::Timeout));
        }
        self.asked.retain(|_, a| {
            let (late, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut a.readers)
                .into_iter()
                .partition(|r| r.deadline <= now);
            a.readers = keep;
            for r in late {
                let _ = r.tx.send(Err(WaitError::Timeout));
            }
            !a.readers.is_empty()
        });
    }

    /// Sends again what the leader may have lost: anything sent to another
    /// leader than today's, and anything forwarded `RESUBMIT_MS` ago without
    /// an answer. A leader's own proposals are in its log; they are resent
    /// only if it stopped leading.
    fn resend(&mut self, node: &mut MetaNode, now: Instant) {
        let leader = node.leader();
        if leader.is_none() {
            return;
        }
        let me_leads = leader == Some(node.me());
        let overdue =
            |sent_at: Instant| now.duration_since(sent_at) >= Duration::from_millis(RESUBMIT_MS);
        let again: Vec<ProposalId> = self
            .proposals
            .iter()
            .filter(|(_, p)| !p.resent && (p.leader != leader || (!me_leads && overdue(p.sent_at))))
            .map(|(id, _)| *id)
            .collect();
        for id in again {
            let Some(p) = self.proposals.get_mut(&id) else {
                continue;
            };
            if p.done.lock().unwrap_or_else(|e| e.into_inner()).is_none() {
                continue;
            }
            p.resent = true;
            let (deadline, cmd, done) = (p.deadline, p.cmd.clone(), p.done.clone());
            propose(node, self, deadline, cmd, done);
        }
        // Reads are asked again even by a leader: a new leader drops
        // read-index requests until it has committed in its own term.
        let again: Vec<u64> = self
            .asked
            .iter()
            .filter(|(_, a)| a.leader != leader || overdue(a.sent_at))
            .map(|(k, _)| *k)
            .collect();
        let readers: Vec<ReadWaiter> = again
            .into_iter()
            .filter_map(|k| self.asked.remove(&k))
            .flat_map(|a| a.readers)
            .collect();
        ask(node, self, readers);
    }
}

/// Events stepped into the node before it persists one `Ready`, at most
/// (bounds the work between two fsyncs, so ticks stay on time).
const READY_BATCH_EVENTS: usize = 256;

/// Steps a peer's message into the node, or holds a proposal or read
/// until a leader is known.
fn take(node: &mut MetaNode, waiting: &mut Waiting, wait: Duration, event: Event) {
    match event {
        Event::Step(from, msg) => {
            if let Err(e) = node.step(from, &msg) {
                tracing::warn!(member = %node.me(), peer = %from, error = %e, "raft message refused");
            }
        }
        event @ (Event::Propose(..) | Event::Read(..)) => {
            if waiting.held.len() >= INBOX_EVENTS {
                refuse(event, WaitError::Busy);
            } else {
                waiting.held.push_back((Instant::now() + wait, event));
            }
        }
    }
}

/// What the replica's thread publishes to the member.
struct Published {
    status: Arc<RwLock<MetaStatus>>,
    access: Arc<RwLock<Arc<AccessState>>>,
}

fn run(
    mut node: MetaNode,
    rx: Receiver<Event>,
    tick: Duration,
    send: Sender,
    out_to: Published,
    stopping: Arc<AtomicBool>,
) {
    let status = out_to.status;
    let me = node.me();
    let wait = Duration::from_millis(WAIT_MS);
    let mut waiting = Waiting {
        held: std::collections::VecDeque::new(),
        proposals: BTreeMap::new(),
        asked: BTreeMap::new(),
        confirmed: Vec::new(),
        next_read: 0,
        read_index_requests: 0,
    };
    let mut next_tick = Instant::now() + tick;
    // (leader, term, commit index, applied index, read-index requests) last published.
    let never = LogIndex::new(u64::MAX);
    let mut published = (None, Term::new(u64::MAX), never, never, u64::MAX);
    while !stopping.load(Ordering::SeqCst) {
        let timeout = next_tick.saturating_duration_since(Instant::now());
        match rx.recv_timeout(timeout) {
            Ok(event) => take(&mut node, &mut waiting, wait, event),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // Everything already waiting goes into the same Ready: one fsync
        // for all of it (group commit), instead of one per message.
        for _ in 1..READY_BATCH_EVENTS {
            match rx.try_recv() {
                Ok(event) => take(&mut node, &mut waiting, wait, event),
                Err(_) => break,
            }
        }
        if node.leader().is_some() {
            // Raft drops proposals and reads while no leader is known: they
            // wait here for one (until their deadline) instead of failing.
            let mut batch = Vec::new();
            while let Some((deadline, event)) = waiting.held.pop_front() {
                submit(&mut node, &mut waiting, &mut batch, deadline, event);
            }
            ask(&mut node, &mut waiting, batch);
        }
        let now = Instant::now();
        if now >= next_tick {
            node.tick();
            next_tick += tick;
            if next_tick < now {
                // Stopped (SIGSTOP) or starved: do not burst the missed ticks.
                next_tick = now + tick;
            }
            waiting.expire(now);
            waiting.resend(&mut node, now);
        }
        let applied_before = node.state().applied_index;
        match node.ready() {
            Ok(out) => {
                // Access changes are rare: published when an access command
                // applied, or when a snapshot (no entries) moved the state.
                let by_entries = out.applied.len() as u64;
                let jumped = node.state().applied_index.entries_since(applied_before) > by_entries;
                if jumped
                    || out
                        .applied
                        .iter()
                        .any(|a| matches!(a.command, MetaCommand::Access { .. }))
                {
                    *out_to.access.write().unwrap_or_else(|p| p.into_inner()) =
                        Arc::new(node.state().access.clone());
                }
                for (to, msg) in out.messages {
                    send(to, msg);
                }
                for a in out.applied {
                    if let Some(p) = a.proposal.and_then(|p| waiting.proposals.remove(&p)) {
                        answer(&p.done, Ok(a.result));
                    }
                }
                for (ctx, index) in out.reads {
                    let seq = ctx
                        .get(..8)
                        .and_then(|b| b.try_into().ok())
                        .map(u64::from_le_bytes);
                    if let Some(a) = seq.and_then(|s| waiting.asked.remove(&s)) {
                        waiting
                            .confirmed
                            .extend(a.readers.into_iter().map(|r| (index, r)));
                    }
                }
            }
            Err(e) => {
                // A storage failure: stop rather than acknowledge anything unpersisted.
                tracing::error!(member = %me, error = %e, "metadata replica failed; stopping it");
                break;
            }
        }
        let applied = node.state().applied_index;
        let (ready, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut waiting.confirmed)
            .into_iter()
            .partition(|(index, _)| *index <= applied.get());
        waiting.confirmed = pending;
        for (_, r) in ready {
            (r.reader)(node.state());
            let _ = r.tx.send(Ok(()));
        }
        // Published once per change, not once per message: the loop runs
        // for every Raft message, the status changes far less often.
        let seen = (
            node.leader(),
            node.term(),
            node.commit_index(),
            applied,
            waiting.read_index_requests,
        );
        if seen != published {
            published = seen;
            let mut s = status.write().unwrap_or_else(|p| p.into_inner());
            let dropped = s.dropped_messages;
            *s = MetaStatus {
                leader: node.leader(),
                term: node.term(),
                role: node.role(),
                commit_index: node.commit_index(),
                applied_index: applied,
                dropped_messages: dropped,
                read_index_requests: waiting.read_index_requests,
                volume_incarnation: node.state().volume_incarnation,
                volume_down: node.state().volume_down.iter().copied().collect(),
                rebuilds: node
                    .state()
                    .dirty
                    .iter()
                    .map(|(m, names)| (*m, names.len() as u64))
                    .collect(),
            };
        }
    }
    tracing::info!(member = %me, "metadata replica stopped");
}

#[cfg(test)]
mod tests;
