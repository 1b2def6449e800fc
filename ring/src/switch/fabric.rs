//! The fabric: the n+1 switched systems as one actor. It holds the ring
//! planner, one [`Splicer`] per output, the insert schedule and its journal,
//! and the processors' connections.
//!
//! Data path: each feed datagram is spliced packet by packet (one output
//! packet per input packet, so an output is clocked by its network feed and
//! never gaps, whatever the processors do), written to OUT_g, and forwarded to
//! the processor covering feed g. That processor's insert packets come back
//! over its connection and are appended to the splicer's streamed insert.
//!
//! Failover: a processor whose connection closes, or which is silent beyond
//! the heartbeat timeout, is failed in the planner; the ring shifts, the
//! insert it was playing is interrupted at the packet count already output
//! (journaled), and every processor gets its new assignment; the new coverer
//! resumes the insert from there. A returning processor becomes a spare.
//!
//! Invariants: insert packets are taken only from the processor that covers
//! the insert's feed now; at most one insert is armed or playing per output;
//! every change of the ring or of an insert record is handed to the journal
//! before the processors hear of it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use stripecast_config::{MemberId, SwitchConfig};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::io::OutputSink;
use super::journal::Journal;
use super::schedule::{InsertRec, InsertState, Origin, Schedule};
use super::status::{FailoverDoc, FeedDoc, RingDoc, SystemDoc};
use crate::now_ms;
use crate::planner::{FailOutcome, RingState};
use crate::protocol::{RingMsg, MAX_PREROLL_MS};
use stripecast_ts::splice::{Insert, SpliceEvent, SpliceState, Splicer};
use stripecast_ts::PACKET_SIZE;

/// Insert packets between two progress reports to the processor (and journal writes).
const PROGRESS_EVERY: u64 = 70;
/// How often liveness and the start-up grace period are checked.
const TICK: Duration = Duration::from_millis(25);

struct FeedPath {
    splicer: Splicer,
    sink: OutputSink,
    packets_in: u64,
    packets_out: u64,
    dropped: u64,
    /// The insert armed or playing here.
    current: Option<u64>,
    last_progress: u64,
}

struct Proc {
    conn: u64,
    member: MemberId,
    addr: SocketAddr,
    tx: mpsc::Sender<Bytes>,
    last_seen: Instant,
    /// Dropping it closes the connection's reader.
    _kill: oneshot::Sender<()>,
}

/// What the switch does with a processor's `InsertStart` for insert `id`
/// on `feed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartVerdict {
    /// Arm it in the feed's splicer.
    Arm,
    /// The sender does not cover that feed (now): ignored.
    NotCovering,
    /// No such insert (or one of another feed): ignored.
    Unknown,
    /// Already playing, done or failed: ignored.
    NotPending,
    /// The output plays another insert: ignored until it ends.
    OutputBusy(u64),
}

/// The decision on an `InsertStart`, no I/O: from the sender's coverage,
/// the insert's record and the insert the feed's output plays now.
fn start_verdict(
    covers: Option<usize>,
    feed: usize,
    rec: Option<&InsertRec>,
    current: Option<u64>,
    id: u64,
) -> StartVerdict {
    if covers != Some(feed) {
        return StartVerdict::NotCovering;
    }
    let Some(rec) = rec.filter(|r| r.feed == feed) else {
        return StartVerdict::Unknown;
    };
    if !rec.state.pending() {
        return StartVerdict::NotPending;
    }
    match current.filter(|c| *c != id) {
        Some(other) => StartVerdict::OutputBusy(other),
        None => StartVerdict::Arm,
    }
}

pub struct Fabric {
    cfg: Arc<SwitchConfig>,
    input_dropped: Arc<Vec<std::sync::atomic::AtomicU64>>,
    ring: RingState,
    schedule: Schedule,
    journal: Journal,
    feeds: Vec<FeedPath>,
    procs: Vec<Option<Proc>>,
    next_conn: u64,
    started: Instant,
    grace_over: bool,
    failovers: u64,
    last_failover: Option<FailoverDoc>,
}

/// Why the fabric could not start.
#[derive(Debug, thiserror::Error)]
pub enum FabricError {
    #[error("{0}")]
    Journal(#[from] super::journal::JournalError),
    #[error("ring: {0}")]
    Ring(#[from] crate::RingError),
    #[error("output {target}: {source}")]
    Output {
        target: String,
        source: std::io::Error,
    },
    #[error("the journal's ring ({journal} positions) does not match the config ({config})")]
    Mismatch { journal: usize, config: usize },
}

impl Fabric {
    /// `input_dropped`: per feed, the datagrams its reader dropped at a
    /// full mailbox (reported in the status).
    pub fn open(
        cfg: Arc<SwitchConfig>,
        input_dropped: Arc<Vec<std::sync::atomic::AtomicU64>>,
    ) -> Result<Fabric, FabricError> {
        let (journal, loaded) = Journal::open(&cfg.data_dir.join("journal"))?;
        let fresh = RingState::new(cfg.direction.into(), cfg.members())?;
        let ring = match loaded.ring {
            Some(r) if r.members() == fresh.members() && r.direction() == fresh.direction() => r,
            Some(r) if r.positions() != fresh.positions() => {
                return Err(FabricError::Mismatch {
                    journal: r.positions(),
                    config: fresh.positions(),
                })
            }
            _ => fresh,
        };
        let feeds = cfg
            .feeds
            .iter()
            .map(|f| {
                Ok(FeedPath {
                    splicer: Splicer::new(),
                    sink: OutputSink::open(&f.output).map_err(|source| FabricError::Output {
                        target: f.output.to_string(),
                        source,
                    })?,
                    packets_in: 0,
                    packets_out: 0,
                    dropped: 0,
                    current: None,
                    last_progress: 0,
                })
            })
            .collect::<Result<Vec<_>, FabricError>>()?;
        let positions = ring.positions();
        let schedule = Schedule::restore(loaded.inserts);
        Ok(Fabric {
            cfg,
            input_dropped,
            ring,
            schedule,
            journal,
            feeds,
            procs: (0..positions).map(|_| None).collect(),
            next_conn: 1,
            started: Instant::now(),
            grace_over: false,
            failovers: 0,
            last_failover: None,
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.timeouts.heartbeat_timeout_ms)
    }

    /// How long processors have to connect after a (re)start before the
    /// ones that did not are failed.
    fn grace(&self) -> Duration {
        (self.timeout() * 10).max(Duration::from_secs(2))
    }

    fn send(&self, position: usize, msg: RingMsg) {
        let Some(p) = self.procs.get(position).and_then(Option::as_ref) else {
            return;
        };
        let kind = msg.kind();
        match crate::protocol::encode(msg) {
            Ok(bytes) => {
                if p.tx.try_send(bytes).is_err() {
                    debug!(
                        position,
                        member = %p.member,
                        kind,
                        "processor queue full; message dropped"
                    );
                }
            }
            Err(e) => warn!(position, kind, error = %e, "cannot encode a ring message"),
        }
    }

    /// Journals the ring (when `ring`) and the inserts `ids`, and forgets
    /// the finished inserts beyond `keep_finished_inserts` (schedule and
    /// journal both).
    fn save(&mut self, ring: bool, ids: &[u64]) {
        let forgotten = self.schedule.prune_finished(self.cfg.keep_finished_inserts);
        let recs: Vec<&InsertRec> = ids.iter().filter_map(|id| self.schedule.get(*id)).collect();
        self.journal
            .save(ring.then_some(&self.ring), &recs, &forgotten);
    }

    /// Tells every connected processor what it covers and what to play.
    fn assign_all(&self) {
        let coverage = self.ring.coverage();
        for (position, feed) in coverage.into_iter().enumerate() {
            let inserts = feed
                .map(|g| self.schedule.orders_for(g))
                .unwrap_or_default();
            self.send(
                position,
                RingMsg::Assign {
                    position,
                    feed,
                    inserts,
                },
            );
        }
    }

    /// Stops feed `g`'s insert because its processor is gone; it resumes
    /// later from the packets already out.
    fn interrupt(&mut self, g: usize) {
        let Some(f) = self.feeds.get_mut(g) else {
            return;
        };
        let Some(id) = f.current.take() else {
            return;
        };
        let position = f.splicer.position();
        f.splicer.abort_insert();
        if let Some(r) = self.schedule.get_mut(id) {
            if let Some(pos) = position {
                r.played = r.played.max(pos as u64);
            }
            if r.state.running() {
                r.state = InsertState::Interrupted;
            }
            info!(
                feed = g,
                insert = id,
                played = r.played,
                "insert interrupted"
            );
        }
        self.save(false, &[id]);
    }

    /// Position `p`'s processor is gone (or never came): fail it in the planner.
    fn lose(&mut self, p: usize, reason: &str) {
        let Some(member) = self.ring.members().get(p).copied() else {
            warn!(
                position = p,
                reason, "a position the ring does not have; ignored"
            );
            return;
        };
        let had = self.procs.get_mut(p).and_then(Option::take);
        if let Some(old) = &had {
            info!(position = p, %member, peer = %old.addr, reason, "processor lost");
        }
        let feed = self.ring.covers(p);
        let before = self.ring.assignment();
        if self.ring.is_alive(p) {
            match self.ring.fail(p) {
                Ok(outcome) => {
                    self.failovers += 1;
                    let now_covered_by = feed.and_then(|g| self.ring.coverer(g));
                    match &outcome {
                        FailOutcome::Covered(plan) => {
                            info!(position = p, %member, feed = ?feed, shifts = plan.shifts.len(), walk = ?plan.walk, "ring shifted")
                        }
                        FailOutcome::Uncovered { feed } => {
                            warn!(
                                position = p,
                                %member,
                                feed,
                                "no spare left: output carries its network feed without inserts"
                            )
                        }
                        _ => {
                            info!(position = p, %member, outcome = ?outcome, "ring position failed")
                        }
                    }
                    self.last_failover = Some(FailoverDoc {
                        position: p,
                        member,
                        at: now_ms(),
                        reason: reason.to_owned(),
                        feed,
                        now_covered_by,
                    });
                }
                Err(e) => warn!(position = p, error = %e, "planner refused a failure"),
            }
            self.save(true, &[]);
        }
        self.interrupt_moved(&before);
        if let Some(g) = feed {
            self.interrupt(g);
        }
        self.assign_all();
    }

    /// Interrupts the insert of every feed whose processor changed since
    /// `before`: the processor that played it has moved on, the new one resumes it.
    fn interrupt_moved(&mut self, before: &[Option<usize>]) {
        let after = self.ring.assignment();
        for (g, (b, a)) in before.iter().zip(after).enumerate() {
            if *b != a {
                self.interrupt(g);
            }
        }
    }

    fn position_of_conn(&self, conn: u64) -> Option<usize> {
        self.procs
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.conn == conn))
    }

    fn on_events(&mut self, g: usize) {
        let events = self.feeds[g].splicer.take_events();
        for ev in events {
            match ev {
                SpliceEvent::Started { name, from, .. } => {
                    let Ok(id) = name.parse::<u64>() else {
                        continue;
                    };
                    if let Some(r) = self.schedule.get_mut(id) {
                        r.state = InsertState::Playing;
                        r.started_at.get_or_insert_with(now_ms);
                        info!(feed = g, insert = id, from, object = %r.object, "insert playing");
                    }
                    self.save(false, &[id]);
                }
                SpliceEvent::Finished { name, position, .. } => {
                    let Ok(id) = name.parse::<u64>() else {
                        continue;
                    };
                    let Some(r) = self.schedule.get_mut(id) else {
                        continue;
                    };
                    // an abort already marked it interrupted
                    if r.state != InsertState::Playing {
                        continue;
                    }
                    r.state = InsertState::Done;
                    r.played = position as u64;
                    r.finished_at = Some(now_ms());
                    info!(feed = g, insert = id, packets = position, "insert done");
                    if self.feeds[g].current == Some(id) {
                        self.feeds[g].current = None;
                    }
                    self.save(false, &[id]);
                    if let Some(p) = self.ring.coverer(g) {
                        self.send(
                            p,
                            RingMsg::Progress {
                                id,
                                played: position as u64,
                                done: true,
                            },
                        );
                    }
                }
                SpliceEvent::Cue(c) => debug!(feed = g, event = c.splice_event_id, "cue passed"),
            }
        }
    }

    fn report_progress(&mut self, g: usize) {
        let f = &mut self.feeds[g];
        let (Some(id), SpliceState::Inserting { position }) = (f.current, f.splicer.state()) else {
            return;
        };
        let played = position as u64;
        if played < f.last_progress + PROGRESS_EVERY {
            return;
        }
        f.last_progress = played;
        if let Some(r) = self.schedule.get_mut(id) {
            r.played = r.played.max(played);
        }
        self.save(false, &[id]);
        if let Some(p) = self.ring.coverer(g) {
            self.send(
                p,
                RingMsg::Progress {
                    id,
                    played,
                    done: false,
                },
            );
        }
    }

    /// A message from the processor at position `p`: each kind is a step
    /// of its own below.
    fn on_processor(&mut self, p: usize, msg: RingMsg) {
        let Some(member) = self.ring.members().get(p).copied() else {
            warn!(
                position = p,
                "a message from a position the ring does not have; ignored"
            );
            return;
        };
        let covers = self.ring.covers(p);
        match msg {
            RingMsg::Ping => {}
            RingMsg::Cue {
                feed,
                event_id,
                preroll_ms,
            } => self.on_cue(covers, feed, event_id, preroll_ms),
            RingMsg::InsertStart {
                id,
                feed,
                from,
                psi,
            } => self.on_insert_start(p, member, covers, id, feed, from, &psi),
            RingMsg::InsertData { id, ts } => {
                let Some(g) = covers.filter(|g| self.feeds[*g].current == Some(id)) else {
                    return;
                };
                if let Err(e) = self.feeds[g].splicer.append(&id.to_string(), &ts) {
                    warn!(feed = g, insert = id, error = %e, "bad insert packets; insert failed");
                    self.fail_insert(g, id, e.to_string());
                }
            }
            RingMsg::InsertEnd { id } => {
                if let Some(g) = covers.filter(|g| self.feeds[*g].current == Some(id)) {
                    self.feeds[g].splicer.finish(&id.to_string());
                }
            }
            RingMsg::InsertFailed { id, error } => {
                let Some(g) = covers else { return };
                if self.schedule.get(id).is_some_and(|r| r.feed == g) {
                    warn!(feed = g, insert = id, %member, error = %error, "processor cannot play the insert");
                    self.fail_insert(g, id, error);
                }
            }
            other => {
                debug!(
                    position = p,
                    kind = other.kind(),
                    "unexpected message from a processor"
                )
            }
        }
    }

    /// An SCTE-35 cue the coverer of `feed` saw: schedules the feed's cue
    /// object once per cue (event id), `preroll_ms` from now.
    fn on_cue(&mut self, covers: Option<usize>, feed: usize, event_id: u32, preroll_ms: u64) {
        if covers != Some(feed) {
            return;
        }
        let Some(object) = self.cfg.feeds.get(feed).and_then(|f| f.cue_object.clone()) else {
            info!(
                feed,
                event = event_id,
                "cue seen; no cue_object configured for this feed"
            );
            return;
        };
        if self.schedule.has_cue(feed, event_id) {
            return;
        }
        let at = now_ms() + preroll_ms.min(MAX_PREROLL_MS);
        let id = self
            .schedule
            .add(feed, at, &object, Origin::Cue(event_id))
            .id;
        info!(feed, event = event_id, insert = id, object = %object, at, "cue scheduled an insert");
        self.save(false, &[id]);
        self.assign_all();
    }

    /// A processor starts (or resumes at packet `from`) insert `id` on
    /// `feed`: armed in the feed's splicer when [`start_verdict`] allows.
    #[allow(clippy::too_many_arguments)]
    fn on_insert_start(
        &mut self,
        p: usize,
        member: MemberId,
        covers: Option<usize>,
        id: u64,
        feed: usize,
        from: u64,
        psi: &[u8],
    ) {
        let current = self.feeds.get(feed).and_then(|f| f.current);
        match start_verdict(covers, feed, self.schedule.get(id), current, id) {
            StartVerdict::Arm => {}
            StartVerdict::NotCovering => {
                warn!(
                    position = p,
                    %member,
                    feed,
                    insert = id,
                    "insert start from a processor not covering the feed; ignored"
                );
                return;
            }
            StartVerdict::Unknown => return,
            StartVerdict::NotPending => {
                debug!(
                    insert = id,
                    "insert start for an insert not pending; ignored"
                );
                return;
            }
            StartVerdict::OutputBusy(other) => {
                debug!(
                    insert = id,
                    busy = other,
                    "output busy with another insert; start ignored"
                );
                return;
            }
        }
        let armed = Insert::open(&id.to_string(), psi, from as usize)
            .and_then(|ins| self.feeds[feed].splicer.arm(ins, from as usize));
        let Some(r) = self.schedule.get_mut(id) else {
            return;
        };
        match armed {
            Ok(()) => {
                if r.state == InsertState::Interrupted {
                    r.resumes += 1;
                }
                r.state = InsertState::Armed;
                r.by = Some(member);
                if r.players.last() != Some(&member) {
                    r.players.push(member);
                }
                info!(feed, insert = id, %member, %from, "insert armed");
                self.feeds[feed].current = Some(id);
                self.feeds[feed].last_progress = from;
            }
            Err(e) => {
                warn!(feed, insert = id, error = %e, "insert refused");
                r.state = InsertState::Failed;
                r.finished_at = Some(now_ms());
                r.error = Some(e.to_string());
            }
        }
        self.save(false, &[id]);
    }

    fn fail_insert(&mut self, g: usize, id: u64, error: String) {
        if self.feeds[g].current == Some(id) {
            self.feeds[g].current = None;
            self.feeds[g].splicer.abort_insert();
        }
        if let Some(r) = self.schedule.get_mut(id) {
            if r.state != InsertState::Done {
                r.state = InsertState::Failed;
                r.finished_at = Some(now_ms());
                r.error = Some(error);
            }
        }
        self.save(false, &[id]);
        self.on_events(g);
    }

    fn doc(&self) -> RingDoc {
        let st = self.ring.status();
        let feeds = st
            .feeds
            .iter()
            .map(|f| {
                let path = &self.feeds[f.feed];
                FeedDoc {
                    feed: f.feed,
                    system: f.system,
                    member: f.member,
                    input: format!("udp://{}", self.cfg.feeds[f.feed].input),
                    output: self.cfg.feeds[f.feed].output.to_string(),
                    packets_in: path.packets_in,
                    packets_out: path.packets_out,
                    underflow_packets: path.splicer.underflows(),
                    input_dropped_datagrams: self
                        .input_dropped
                        .get(f.feed)
                        .map_or(0, |n| n.load(std::sync::atomic::Ordering::Relaxed)),
                    inserting: path.current,
                }
            })
            .collect();
        let systems = st
            .systems
            .iter()
            .map(|s| SystemDoc {
                position: s.position,
                member: s.member,
                alive: s.alive,
                state: s.state,
                covers: s.covers,
                connected: self.procs[s.position].is_some(),
            })
            .collect();
        RingDoc {
            direction: st.direction,
            feeds,
            spare: st.spare,
            spares: st.spares,
            systems,
            uncovered: st.uncovered,
            inserts: self.schedule.all().cloned().collect(),
            next_inserts_after: None,
            failovers: self.failovers,
            last_failover: self.last_failover.clone(),
        }
    }

    fn tick(&mut self) {
        let timeout = self.timeout();
        let silent: Vec<usize> = self
            .procs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                p.as_ref()
                    .filter(|p| p.last_seen.elapsed() > timeout)
                    .map(|_| i)
            })
            .collect();
        for p in silent {
            self.lose(
                p,
                &format!("silent for more than {} ms", timeout.as_millis()),
            );
        }
        if !self.grace_over && self.started.elapsed() > self.grace() {
            self.grace_over = true;
            for p in 0..self.procs.len() {
                if self.procs[p].is_none() && self.ring.is_alive(p) {
                    self.lose(p, "did not connect after the switch started");
                }
            }
        }
    }
}

impl Actor for Fabric {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(super::io::FABRIC_MAILBOX_MESSAGES);
        info!(
            feeds = self.feeds.len(),
            positions = self.ring.positions(),
            direction = ?self.ring.direction(),
            inserts = self.schedule.all().count(),
            "switch fabric started"
        );
        ctx.run_interval(TICK, |act, _| act.tick());
    }
}

/// A datagram of network feed `feed`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Input {
    pub feed: usize,
    pub data: Bytes,
}

impl Handler<Input> for Fabric {
    type Result = ();

    fn handle(&mut self, msg: Input, _: &mut Context<Self>) {
        let g = msg.feed;
        let Some(f) = self.feeds.get_mut(g) else {
            return;
        };
        let whole = msg.data.len() / PACKET_SIZE * PACKET_SIZE;
        let mut out = Vec::with_capacity(whole);
        for chunk in msg.data[..whole].chunks_exact(PACKET_SIZE) {
            f.packets_in += 1;
            match f.splicer.push(chunk) {
                Ok(p) => out.extend_from_slice(p.as_bytes()),
                Err(e) => {
                    f.dropped += 1;
                    debug!(feed = g, error = %e, "bad packet in the network feed; dropped");
                }
            }
        }
        match f.sink.send(&out) {
            Ok(true) => f.packets_out += (out.len() / PACKET_SIZE) as u64,
            Ok(false) => f.dropped += (out.len() / PACKET_SIZE) as u64,
            Err(e) => warn!(feed = g, error = %e, "output write failed"),
        }
        self.on_events(g);
        self.report_progress(g);
        if let Some(p) = self.ring.coverer(g) {
            self.send(
                p,
                RingMsg::Feed {
                    feed: g,
                    ts: msg.data.to_vec(),
                },
            );
        }
    }
}

/// Why the fabric refuses a processor or an insert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The processor's member holds no position in the ring.
    #[error("member {0} has no ring position")]
    NoPosition(MemberId),
    /// An insert names a feed the ring does not have.
    #[error("no feed {feed} (the ring has feeds 0..{feeds})")]
    NoFeed { feed: usize, feeds: usize },
}

/// A processor passed the handshake; `Ok(conn id)` or why it is refused.
#[derive(Message)]
#[rtype(result = "Result<u64, Refused>")]
pub struct Register {
    pub member: MemberId,
    pub addr: SocketAddr,
    pub tx: mpsc::Sender<Bytes>,
    pub kill: oneshot::Sender<()>,
}

impl Handler<Register> for Fabric {
    type Result = Result<u64, Refused>;

    fn handle(&mut self, msg: Register, _: &mut Context<Self>) -> Self::Result {
        let Some(p) = self.ring.members().iter().position(|m| *m == msg.member) else {
            return Err(Refused::NoPosition(msg.member));
        };
        if self.procs[p].is_some() {
            self.lose(p, "replaced by a new connection");
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        let returning = !self.ring.is_alive(p);
        let before = self.ring.assignment();
        self.procs[p] = Some(Proc {
            conn,
            member: msg.member,
            addr: msg.addr,
            tx: msg.tx,
            last_seen: Instant::now(),
            _kill: msg.kill,
        });
        if returning {
            match self.ring.recover(p) {
                Ok(plans) => {
                    info!(
                        position = p,
                        member = %msg.member,
                        plans = plans.len(),
                        "processor returned (spare unless it re-covers a feed)"
                    )
                }
                Err(e) => warn!(position = p, error = %e, "planner refused a return"),
            }
            self.save(true, &[]);
            self.interrupt_moved(&before);
        } else {
            info!(position = p, member = %msg.member, peer = %msg.addr, "processor connected");
        }
        self.assign_all();
        Ok(conn)
    }
}

/// A message from the processor on connection `conn`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FromProc {
    pub conn: u64,
    pub msg: RingMsg,
}

impl Handler<FromProc> for Fabric {
    type Result = ();

    fn handle(&mut self, msg: FromProc, _: &mut Context<Self>) {
        let Some(p) = self.position_of_conn(msg.conn) else {
            return;
        };
        if let Some(proc_) = self.procs[p].as_mut() {
            proc_.last_seen = Instant::now();
        }
        self.on_processor(p, msg.msg);
    }
}

/// Connection `conn` ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Gone {
    pub conn: u64,
    pub reason: String,
}

impl Handler<Gone> for Fabric {
    type Result = ();

    fn handle(&mut self, msg: Gone, _: &mut Context<Self>) {
        if let Some(p) = self.position_of_conn(msg.conn) {
            self.lose(p, &msg.reason);
        }
    }
}

/// Schedule an insert (`POST /v1/ring/inserts`).
#[derive(Message)]
#[rtype(result = "Result<InsertRec, Refused>")]
pub struct AddInsert {
    pub feed: usize,
    /// Unix ms; `None` = now.
    pub at: Option<u64>,
    pub object: String,
}

impl Handler<AddInsert> for Fabric {
    type Result = Result<InsertRec, Refused>;

    fn handle(&mut self, msg: AddInsert, _: &mut Context<Self>) -> Self::Result {
        if msg.feed >= self.feeds.len() {
            return Err(Refused::NoFeed {
                feed: msg.feed,
                feeds: self.feeds.len(),
            });
        }
        let at = msg.at.unwrap_or_else(now_ms);
        let rec = self
            .schedule
            .add(msg.feed, at, &msg.object, Origin::Api)
            .clone();
        info!(feed = msg.feed, insert = rec.id, object = %rec.object, at, "insert scheduled");
        self.save(false, &[rec.id]);
        self.assign_all();
        Ok(rec)
    }
}

/// The status document.
#[derive(Message)]
#[rtype(result = "RingDoc")]
pub struct GetDoc;

impl Handler<GetDoc> for Fabric {
    type Result = MessageResult<GetDoc>;

    fn handle(&mut self, _: GetDoc, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.doc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(feed: usize, state: InsertState) -> InsertRec {
        let mut s = Schedule::default();
        let id = s.add(feed, 0, "ad", Origin::Api).id;
        let mut r = s.get(id).cloned().unwrap_or_else(|| unreachable!());
        r.state = state;
        r
    }

    /// Every way an `InsertStart` is taken or ignored.
    #[test]
    fn insert_start_verdicts() {
        use InsertState::*;
        use StartVerdict::*;
        let scheduled = rec(1, Scheduled);
        let interrupted = rec(1, Interrupted);
        let playing = rec(1, Playing);
        let done = rec(1, Done);
        let other_feed = rec(0, Scheduled);
        let id = scheduled.id;
        let table = [
            (Some(1), Some(&scheduled), None, Arm),
            (Some(1), Some(&interrupted), None, Arm),
            // The output already armed with this very insert: arm again (resume).
            (Some(1), Some(&scheduled), Some(id), Arm),
            (Some(0), Some(&scheduled), None, NotCovering),
            (None, Some(&scheduled), None, NotCovering),
            (Some(1), None, None, Unknown),
            (Some(1), Some(&other_feed), None, Unknown),
            (Some(1), Some(&playing), None, NotPending),
            (Some(1), Some(&scheduled), Some(id + 7), OutputBusy(id + 7)),
        ];
        for (covers, r, current, want) in table {
            assert_eq!(
                start_verdict(covers, 1, r, current, id),
                want,
                "covers {covers:?}, record {r:?}, current {current:?}"
            );
        }
        assert_eq!(start_verdict(Some(1), 1, Some(&done), None, id), NotPending);
    }
}
