//! One member's replica of the metadata Raft group, sans I/O.
//!
//! [`MetaNode`] wraps raft-rs's `RawNode` over [`SledStorage`] and the
//! [`MetaState`] machine. Whoever drives it (an actor on a timer, or a
//! test's simulated network) calls [`MetaNode::tick`] on a clock,
//! [`MetaNode::step`] with each message a peer sent, [`MetaNode::propose`]
//! with commands, and [`MetaNode::ready`] after any of these: that persists
//! what raft-rs asks (entries, hard state, snapshots, fsynced before any
//! message that depends on them is handed out), applies committed commands
//! in log order and returns the messages to send and what was applied.
//!
//! Raft ids are member ids + 1 (raft-rs reserves 0). Proposals carry their
//! proposer and a sequence number in the entry context, so a proposer
//! recognises its own command when it is applied: that, not the proposal, is
//! the moment an acknowledgement may be given.
//!
//! Restart: the state machine is rebuilt from the last snapshot plus the
//! committed log after it (raft-rs hands committed entries above `applied`
//! out again). The log is compacted every `compact_every_entries` applied
//! entries but never more often than once per as many entries as the state
//! has objects ([`compaction_due`]), keeping a snapshot of the state for
//! lagging followers.

use protobuf::Message as _;
use raft::eraftpb::{ConfChange, Entry, EntryType, Message, MessageType};
use raft::{Config, RawNode, StateRole};

use super::numbers::{LogIndex, Term};
use super::state::{Applied, MetaCommand, MetaState};
use super::storage::{MetaStoreError, SledStorage};
use crate::store::StoreError;
use stripecast_config::MemberId;
use stripecast_persistence::DurableDb;

/// A replica's part in the group (as `/v1/cluster` shows it: `leader`,
/// `follower`, `candidate`, `pre-candidate`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum MetaRole {
    Leader,
    #[default]
    Follower,
    Candidate,
    PreCandidate,
}

/// Why the metadata group could not do something.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error(transparent)]
    Store(#[from] MetaStoreError),
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error("undecodable raft message: {0}")]
    BadMessage(String),
    #[error("undecodable command at index {index}: {error}")]
    BadCommand { index: u64, error: String },
    #[error("snapshot does not decode: {0}")]
    BadSnapshot(String),
    #[error("command does not encode: {0}")]
    Encode(String),
    #[error("applying to the member's storage: {0}")]
    Apply(#[from] crate::store::StoreError),
}

/// Timing and bounds of the group.
#[derive(Debug, Clone)]
pub struct MetaConfig {
    /// Ticks without a leader's heartbeat before a follower stands for election.
    pub election_ticks: usize,
    /// Ticks between a leader's heartbeats.
    pub heartbeat_ticks: usize,
    /// Applied entries between two compactions of the log (a snapshot
    /// each), at least; more while the state holds more objects.
    pub compact_every_entries: u64,
    /// Largest append message, in bytes.
    pub max_message_bytes: u64,
    /// Appends in flight per follower.
    pub max_inflight_messages: usize,
    /// The witness's id, if the group has one: a voter that holds no data
    /// and so must not stay leader (it cannot do the controller's duty).
    /// It may win an election (its log can be the most complete one) but
    /// hands leadership to a caught-up member at once (see [`hand_over_to`]).
    pub witness: Option<MemberId>,
}

impl Default for MetaConfig {
    fn default() -> Self {
        MetaConfig {
            election_ticks: 10,
            heartbeat_ticks: 2,
            compact_every_entries: 10_000,
            max_message_bytes: 1 << 20,
            max_inflight_messages: 256,
            witness: None,
        }
    }
}

/// Identifies one proposal of one member's replica since it opened. `boot`
/// is drawn at random when the replica opens: an entry proposed before a
/// restart and applied after it must not answer a new proposal that
/// happens to have the same sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProposalId {
    pub member: MemberId,
    pub boot: u64,
    pub seq: u64,
}

impl ProposalId {
    fn encode(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(20);
        v.extend_from_slice(&self.member.get().to_le_bytes());
        v.extend_from_slice(&self.boot.to_le_bytes());
        v.extend_from_slice(&self.seq.to_le_bytes());
        v
    }

    fn decode(b: &[u8]) -> Option<ProposalId> {
        let member = MemberId::new(u32::from_le_bytes(b.get(0..4)?.try_into().ok()?));
        let boot = u64::from_le_bytes(b.get(4..12)?.try_into().ok()?);
        let seq = u64::from_le_bytes(b.get(12..20)?.try_into().ok()?);
        Some(ProposalId { member, boot, seq })
    }
}

/// One command as it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedEntry {
    pub index: LogIndex,
    pub term: Term,
    /// Set when this member proposed it.
    pub proposal: Option<ProposalId>,
    pub command: MetaCommand,
    pub result: Applied,
}

/// What one [`MetaNode::ready`] produced.
#[derive(Debug, Default)]
pub struct Output {
    /// Encoded raft messages, by destination member id.
    pub messages: Vec<(MemberId, Vec<u8>)>,
    pub applied: Vec<AppliedEntry>,
    /// Confirmed read indexes: (request context, index to wait for).
    pub reads: Vec<(Vec<u8>, u64)>,
    /// The state was replaced by a snapshot from the leader (before `applied`).
    pub snapshot_installed: bool,
}

/// Whom a leading witness hands leadership to, given each other voter's
/// (id, matched index, recently active): the active one furthest along
/// (raft-rs first brings it up to date, then tells it to campaign), the
/// lowest id among equals; nobody when none is active.
pub(crate) fn hand_over_to(followers: &[(MemberId, u64, bool)]) -> Option<MemberId> {
    followers
        .iter()
        .filter(|(_, _, active)| *active)
        .max_by_key(|(id, matched, _)| (*matched, std::cmp::Reverse(*id)))
        .map(|(id, _, _)| *id)
}

pub(crate) fn raft_id(member: MemberId) -> u64 {
    u64::from(member.get()) + 1
}

fn member_id(raft: u64) -> Option<MemberId> {
    u32::try_from(raft.checked_sub(1)?).ok().map(MemberId::new)
}

/// The log's term at an index, `None` when the log has no entry there
/// (past its end, or compacted into the snapshot and not its last entry).
pub type TermAt<'a> = &'a dyn Fn(LogIndex) -> Option<Term>;

/// Carries what the group applied into the member's own storage (its
/// catalog, its HomeBlock, its fragment files).
///
/// Called on the replica's thread inside [`MetaNode::ready`], after the
/// state machine applied a batch and before the log is compacted past it,
/// so a crash between the two only replays entries (an applier must be
/// idempotent). An error stops the replica: nothing more is applied or
/// acknowledged by a member whose storage cannot follow the log.
pub trait Applier: Send + 'static {
    /// The state was replaced wholesale (a snapshot from the leader).
    /// `term_at` gives the log's term at an index (`None`: not in the log).
    fn reset(&mut self, state: &MetaState, term_at: TermAt<'_>) -> Result<(), StoreError>;
    /// `entries` were applied, in order; `state` is the state after them.
    fn applied(
        &mut self,
        entries: &[AppliedEntry],
        state: &MetaState,
        term_at: TermAt<'_>,
    ) -> Result<(), StoreError>;
    /// Everything applied so far must be durable: the log is about to be
    /// compacted past it (it can no longer be replayed).
    fn persist(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// One member's replica of the metadata group.
pub struct MetaNode {
    me: MemberId,
    raw: RawNode<SledStorage>,
    storage: SledStorage,
    state: MetaState,
    /// Drawn at random at open (see [`ProposalId`]).
    boot: u64,
    next_seq: u64,
    compact_every: u64,
    applier: Option<Box<dyn Applier>>,
    /// Set on the witness: it hands leadership over whenever it leads.
    is_witness: bool,
}

impl MetaNode {
    /// Opens this member's replica in `db`; a new group of `members` is
    /// bootstrapped the first time (every founding member with the same list).
    pub fn open(
        me: MemberId,
        members: &[MemberId],
        db: &DurableDb,
        cfg: &MetaConfig,
    ) -> Result<MetaNode, MetaError> {
        let storage = SledStorage::open(db)?;
        let voters: Vec<u64> = members.iter().map(|&m| raft_id(m)).collect();
        if !storage.is_initialized() {
            storage.initialize(&voters)?;
        } else {
            // The group's voters are what it recorded, not the config: a
            // witness added to (or a member removed from) the config of an
            // existing group is a membership change this version does not make.
            let mut recorded = storage.conf_state().voters;
            recorded.sort_unstable();
            let mut configured = voters.clone();
            configured.sort_unstable();
            if recorded != configured {
                tracing::warn!(
                    member = %me,
                    ?recorded,
                    ?configured,
                    "the metadata group's recorded voters (raft ids) differ from the config; the recorded ones count"
                );
            }
        }
        let began = std::time::Instant::now();
        let (state, applied) = match storage.snapshot_data()? {
            Some(data) if !data.is_empty() => {
                let s = MetaState::from_snapshot(&data)
                    .map_err(|e| MetaError::BadSnapshot(e.to_string()))?;
                let at = s.applied_index;
                (s, at)
            }
            _ => (MetaState::new(), LogIndex::default()),
        };
        tracing::info!(
            member = %me,
            objects = state.objects.len(),
            applied = %applied,
            load_ms = began.elapsed().as_millis(),
            "metadata state loaded from the last snapshot (the log after it is replayed)"
        );
        let config = Config {
            id: raft_id(me),
            election_tick: cfg.election_ticks,
            heartbeat_tick: cfg.heartbeat_ticks,
            applied: applied.get(),
            max_size_per_msg: cfg.max_message_bytes,
            max_inflight_msgs: cfg.max_inflight_messages,
            check_quorum: true,
            pre_vote: true,
            ..Config::default()
        };
        config.validate()?;
        let raw = RawNode::new(&config, storage.clone(), &super::logging::logger(me))?;
        Ok(MetaNode {
            me,
            raw,
            storage,
            state,
            boot: rand::random(),
            next_seq: 0,
            compact_every: cfg.compact_every_entries.max(1),
            applier: None,
            is_witness: cfg.witness == Some(me),
        })
    }

    /// Has `applier` follow everything applied from now on.
    pub fn set_applier(&mut self, applier: Box<dyn Applier>) {
        self.applier = Some(applier);
    }

    pub fn me(&self) -> MemberId {
        self.me
    }

    /// The applied state.
    pub fn state(&self) -> &MetaState {
        &self.state
    }

    /// The current leader, if known.
    pub fn leader(&self) -> Option<MemberId> {
        member_id(self.raw.raft.leader_id)
    }

    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    pub fn term(&self) -> Term {
        Term::new(self.raw.raft.term)
    }

    /// This replica's part in the group now.
    pub fn role(&self) -> MetaRole {
        match self.raw.raft.state {
            StateRole::Leader => MetaRole::Leader,
            StateRole::Follower => MetaRole::Follower,
            StateRole::Candidate => MetaRole::Candidate,
            StateRole::PreCandidate => MetaRole::PreCandidate,
        }
    }

    pub fn commit_index(&self) -> LogIndex {
        LogIndex::new(self.raw.raft.raft_log.committed)
    }

    /// Advances the logical clock one tick. A witness that leads starts
    /// handing leadership over (raft-rs aborts a transfer that has not
    /// finished within an election timeout; the next tick starts another).
    pub fn tick(&mut self) {
        self.raw.tick();
        if self.is_witness && self.is_leader() && self.raw.raft.lead_transferee.is_none() {
            let me = raft_id(self.me);
            let followers: Vec<(MemberId, u64, bool)> = self
                .raw
                .raft
                .prs()
                .iter()
                .filter(|(id, _)| **id != me)
                .filter_map(|(id, p)| Some((member_id(*id)?, p.matched, p.recent_active)))
                .collect();
            if let Some(to) = hand_over_to(&followers) {
                tracing::info!(
                    member = %self.me,
                    peer = %to,
                    term = %self.term(),
                    "witness hands leadership over"
                );
                self.raw.transfer_leader(raft_id(to));
            }
        }
    }

    /// Hands a message that arrived from peer `from` (directly, or relayed
    /// by it) to raft. Refused: a message for another member or claiming to
    /// come from this one, a type raft only makes locally, and a term-0
    /// message other than the forwarded kinds (raft-rs reads term 0 as
    /// "local", so a forged one would skip the term check).
    pub fn step(&mut self, from: MemberId, bytes: &[u8]) -> Result<(), MetaError> {
        let mut msg =
            Message::parse_from_bytes(bytes).map_err(|e| MetaError::BadMessage(e.to_string()))?;
        if msg.to != raft_id(self.me) || msg.from == raft_id(self.me) || msg.from == 0 {
            return Err(MetaError::BadMessage(format!(
                "from {} to {} arrived through member {from}",
                msg.from, msg.to
            )));
        }
        let kind = msg.get_msg_type();
        let forwarded = matches!(
            kind,
            MessageType::MsgPropose | MessageType::MsgReadIndex | MessageType::MsgReadIndexResp
        );
        let local_only = matches!(
            kind,
            MessageType::MsgHup
                | MessageType::MsgBeat
                | MessageType::MsgUnreachable
                | MessageType::MsgSnapStatus
                | MessageType::MsgCheckQuorum
        );
        // raft-rs panics on a forwarded proposal or read with no entry, or
        // one carrying a term (it would forward it again).
        let malformed = match kind {
            MessageType::MsgPropose => msg.term != 0 || msg.entries.is_empty(),
            MessageType::MsgReadIndex => msg.term != 0 || msg.entries.len() != 1,
            _ => false,
        };
        if local_only || (msg.term == 0 && !forwarded) || malformed {
            return Err(MetaError::BadMessage(format!(
                "{kind:?} of term {} with {} entries is not a peer's message",
                msg.term,
                msg.entries.len()
            )));
        }
        if self.survive_lost_logs(&mut msg) {
            self.raw.step(msg)?;
        }
        Ok(())
    }

    /// A member whose disk was replaced comes back with an empty log, which
    /// raft-rs assumes never happens: the leader still believes it holds
    /// what it acknowledged, sends heartbeats committing past its log (a
    /// panic in raft-rs) and ignores its rejections as stale; and the
    /// member would vote as if it had never acknowledged anything, so a
    /// candidate missing an acknowledged entry could win with its vote.
    /// So (answers false when the message must not be stepped at all):
    /// * a replica with an empty log grants no vote or pre-vote to a
    ///   candidate with a non-empty one (it cannot judge; a cluster being
    ///   bootstrapped has only empty logs, so that still elects);
    /// * a heartbeat commits past this member's log only up to its last
    ///   entry, and only when that entry is of the leader's term (it then
    ///   came from this leader); otherwise not past what is committed here;
    /// * a leader told by a rejection that a follower holds less than it
    ///   had matched believes it and replicates from there (or a snapshot).
    fn survive_lost_logs(&mut self, msg: &mut Message) -> bool {
        let log = &self.raw.raft.raft_log;
        match msg.get_msg_type() {
            MessageType::MsgRequestVote | MessageType::MsgRequestPreVote
                if log.last_index() == 0 && msg.index > 0 =>
            {
                tracing::info!(member = %self.me, candidate = ?member_id(msg.from), "empty metadata log: no vote until caught up");
                false
            }
            MessageType::MsgHeartbeat => {
                let last = log.last_index();
                if msg.commit > last {
                    let from_this_leader = log.term(last).is_ok_and(|t| t == msg.term);
                    msg.commit = if from_this_leader {
                        last
                    } else {
                        log.committed
                    };
                }
                true
            }
            MessageType::MsgAppendResponse if msg.reject && self.is_leader() => {
                let me = self.me;
                if let Some(pr) = self.raw.raft.mut_prs().get_mut(msg.from) {
                    if msg.reject_hint < pr.matched {
                        tracing::warn!(member = %me, peer = ?member_id(msg.from), matched = pr.matched, holds = msg.reject_hint, "a member lost its metadata log (replaced disk); replicating it again");
                        pr.matched = msg.reject_hint;
                    }
                }
                true
            }
            _ => true,
        }
    }

    /// Proposes a command; it is forwarded to the leader when there is one.
    /// The proposal is done only when it comes back applied with this id.
    pub fn propose(&mut self, cmd: &MetaCommand) -> Result<ProposalId, MetaError> {
        let id = ProposalId {
            member: self.me,
            boot: self.boot,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let data = rmp_serde::to_vec(cmd).map_err(|e| MetaError::Encode(e.to_string()))?;
        self.raw.propose(id.encode(), data)?;
        Ok(id)
    }

    /// Asks for a linearizable read point (read-index); answered in
    /// [`Output::reads`] once the leader confirmed it still leads. `ctx` is
    /// prefixed with this replica's `boot`, and answers carrying another
    /// boot (asked before a restart) are dropped: an old answer names an
    /// old index, and taking it for a new read would read stale state.
    pub fn read_index(&mut self, ctx: Vec<u8>) {
        let mut full = self.boot.to_le_bytes().to_vec();
        full.extend_from_slice(&ctx);
        self.raw.read_index(full);
    }

    /// Persists, applies and collects everything raft-rs has ready.
    pub fn ready(&mut self) -> Result<Output, MetaError> {
        let mut out = Output::default();
        if !self.raw.has_ready() {
            return Ok(out);
        }
        let mut rd = self.raw.ready();
        // Messages of a leader may go before its own persistence (raft's
        // thesis 10.2.1); followers' messages come as persisted_messages.
        self.collect(rd.take_messages(), &mut out);
        if !rd.snapshot().is_empty() {
            let snap = rd.snapshot().clone();
            let state = MetaState::from_snapshot(&snap.data)
                .map_err(|e| MetaError::BadSnapshot(e.to_string()))?;
            self.storage.apply_snapshot(snap)?;
            self.state = state;
            out.snapshot_installed = true;
        }
        let boot = self.boot.to_le_bytes();
        for rs in rd.take_read_states() {
            if let Some(ctx) = rs.request_ctx.strip_prefix(&boot[..]) {
                out.reads.push((ctx.to_vec(), rs.index));
            }
        }
        let committed = rd.take_committed_entries();
        self.apply_entries(committed, &mut out)?;
        self.storage.persist(rd.entries(), rd.hs().cloned())?;
        self.collect(rd.take_persisted_messages(), &mut out);
        let mut light = self.raw.advance(rd);
        if let Some(commit) = light.commit_index() {
            self.storage.set_commit(commit)?;
        }
        self.collect(light.take_messages(), &mut out);
        let committed = light.take_committed_entries();
        self.apply_entries(committed, &mut out)?;
        self.raw.advance_apply();
        if let Some(a) = self.applier.as_mut() {
            let log = &self.raw.raft.raft_log;
            let term_at = |i: LogIndex| log.term(i.get()).ok().filter(|&t| t != 0).map(Term::new);
            if out.snapshot_installed {
                a.reset(&self.state, &term_at).map_err(MetaError::Apply)?;
            }
            if !out.applied.is_empty() {
                a.applied(&out.applied, &self.state, &term_at)
                    .map_err(MetaError::Apply)?;
            }
        }
        self.maybe_compact()?;
        Ok(out)
    }

    fn collect(&self, msgs: Vec<Message>, out: &mut Output) {
        for m in msgs {
            let Some(to) = member_id(m.to) else { continue };
            match m.write_to_bytes() {
                Ok(b) => out.messages.push((to, b)),
                Err(e) => {
                    tracing::error!(member = %self.me, peer = %to, error = %e, "raft message does not encode")
                }
            }
        }
    }

    fn apply_entries(&mut self, entries: Vec<Entry>, out: &mut Output) -> Result<(), MetaError> {
        for e in entries {
            if e.data.is_empty() {
                // A new leader's empty entry.
                self.state.applied_index = self.state.applied_index.max(LogIndex::new(e.index));
                continue;
            }
            match e.get_entry_type() {
                EntryType::EntryNormal => {
                    let command: MetaCommand =
                        rmp_serde::from_slice(&e.data).map_err(|err| MetaError::BadCommand {
                            index: e.index,
                            error: err.to_string(),
                        })?;
                    let result = self.state.apply(LogIndex::new(e.index), &command);
                    let proposal = ProposalId::decode(&e.context)
                        .filter(|p| p.member == self.me && p.boot == self.boot);
                    tracing::debug!(
                        member = %self.me,
                        index = e.index,
                        term = e.term,
                        ?command,
                        ?result,
                        "applied"
                    );
                    out.applied.push(AppliedEntry {
                        index: LogIndex::new(e.index),
                        term: Term::new(e.term),
                        proposal,
                        command,
                        result,
                    });
                }
                EntryType::EntryConfChange => {
                    let cs = self.raw.apply_conf_change(&parse::<ConfChange>(&e)?)?;
                    self.conf_applied(e.index, cs)?;
                }
                EntryType::EntryConfChangeV2 => {
                    let cc = parse::<raft::eraftpb::ConfChangeV2>(&e)?;
                    let cs = self.raw.apply_conf_change(&cc)?;
                    self.conf_applied(e.index, cs)?;
                }
            }
        }
        Ok(())
    }

    /// Records a membership change applied at `index`.
    fn conf_applied(&mut self, index: u64, cs: raft::eraftpb::ConfState) -> Result<(), MetaError> {
        self.storage.set_conf_state(cs)?;
        self.state.applied_index = self.state.applied_index.max(LogIndex::new(index));
        Ok(())
    }

    /// Compacts the log up to the applied index when [`compaction_due`].
    fn maybe_compact(&mut self) -> Result<(), MetaError> {
        // raft-rs's own numbers from here on.
        let applied = self.state.applied_index.get();
        let first = raft::Storage::first_index(&self.storage)?;
        let entries = (applied + 1).saturating_sub(first);
        if compaction_due(entries, self.state.objects.len() as u64, self.compact_every) {
            if let Some(a) = self.applier.as_mut() {
                a.persist().map_err(MetaError::Apply)?;
            }
            let data = self
                .state
                .to_snapshot()
                .map_err(|e| MetaError::Encode(e.to_string()))?;
            self.storage.compact(applied + 1, data)?;
        }
        Ok(())
    }
}

/// Whether a log of `entries` applied entries is compacted now, the state
/// holding `objects` objects: every `every` entries, and never before the
/// log holds as many entries as the state has objects. A snapshot costs
/// O(objects) (the whole state is encoded and written), so spacing them
/// by at least that many entries keeps its cost per entry constant however
/// many objects are stored; the log is then at most about the state's size.
pub fn compaction_due(entries: u64, objects: u64, every: u64) -> bool {
    entries >= every.max(1).max(objects)
}

/// Decodes the protobuf payload of a log entry.
fn parse<M: protobuf::Message>(e: &Entry) -> Result<M, MetaError> {
    M::parse_from_bytes(&e.data).map_err(|err| MetaError::BadCommand {
        index: e.index,
        error: err.to_string(),
    })
}

#[cfg(test)]
mod tests;
