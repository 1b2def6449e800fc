//! The supervisor actor: OTP's restart strategies, restart intensity with
//! escalation, orderly shutdown and run-time children, on actix.
//!
//! Invariants:
//! * `children` is in start order; stops always go in reverse of it.
//! * A slot is `Running` with the `seq` of its live incarnation; exit notices
//!   for any other `seq` are stale (a sibling we stopped on purpose, or an
//!   incarnation already replaced) and are ignored.
//! * While a group restart or shutdown stops children, the supervisor's mailbox
//!   is held (`ctx.wait`), so no request sees a half-restarted group.
//! * A supervisor that is dropped for any reason (killed, panicked) kills the
//!   children still running: nothing outlives its supervisor.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use actix::fut::wrap_future;
use actix::prelude::*;
use futures::future::join_all;
use tracing::{error, info, warn};

use crate::introspect::{
    ChildCounts, ChildInfo, ChildStatus, CountChildren, DescribeTree, TreeNode, WhichChildren,
};
use crate::spawn::{spawn_watched, ChildContext};
use crate::{ChildKind, ChildSpec, ExitReason, Intensity, Pid, Restart, Shutdown};

/// Which children are restarted when one of them must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Only the child that exited.
    OneForOne,
    /// All children: the others are stopped (reverse order), then all start again in order.
    OneForAll,
    /// The child that exited and every child started after it.
    RestForOne,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::OneForOne => "one_for_one",
            Strategy::OneForAll => "one_for_all",
            Strategy::RestForOne => "rest_for_one",
        })
    }
}

/// Everything needed to build (and rebuild) a supervisor.
#[derive(Clone, Debug)]
pub struct SupervisorSpec {
    pub(crate) name: String,
    pub(crate) strategy: Strategy,
    pub(crate) max_restarts: u32,
    pub(crate) period: Duration,
    pub(crate) children: Vec<ChildSpec>,
    pub(crate) dynamic: bool,
    pub(crate) max_children: Option<usize>,
}

impl SupervisorSpec {
    /// A static supervisor with OTP's default intensity (1 restart in 5 s).
    pub fn new(name: impl Into<String>, strategy: Strategy) -> Self {
        SupervisorSpec {
            name: name.into(),
            strategy,
            max_restarts: crate::intensity::DEFAULT_MAX_RESTARTS,
            period: crate::intensity::DEFAULT_PERIOD,
            children: Vec::new(),
            dynamic: false,
            max_children: None,
        }
    }

    /// A dynamic supervisor (one_for_one): children come and go at run time
    /// through [`StartChild`] and [`TerminateChild`], and a child that will not
    /// be restarted is forgotten.
    pub fn dynamic(name: impl Into<String>) -> Self {
        SupervisorSpec {
            dynamic: true,
            ..Self::new(name, Strategy::OneForOne)
        }
    }

    /// More than `max_restarts` restarts within `period` make the supervisor give up.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }

    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    /// A dynamic supervisor refuses children beyond this many.
    pub fn max_children(mut self, n: usize) -> Self {
        self.max_children = Some(n);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

#[derive(Debug)]
enum SlotState {
    Running {
        seq: u64,
        pid: Pid,
        supervisor: Option<Addr<Supervisor>>,
        since: Instant,
    },
    /// Will be started by a pending restart (after a group stop or a backoff delay).
    Restarting,
    Stopped,
}

struct Slot {
    spec: ChildSpec,
    state: SlotState,
    seq: u64,
    restarts: u32,
    /// Consecutive failures, for the backoff delay.
    streak: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    ShuttingDown,
    Done,
}

/// Tells a supervisor that one incarnation of a child ended.
#[derive(Message)]
#[rtype(result = "()")]
struct ChildExited {
    id: String,
    seq: u64,
    reason: ExitReason,
}

/// Why a run-time child operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChildError {
    #[error("a child with id `{0}` already exists")]
    AlreadyPresent(String),
    #[error("no child with id `{0}`")]
    NotFound(String),
    #[error("child `{0}` is running")]
    Running(String),
    #[error("the supervisor already has its maximum of {0} children")]
    MaxChildren(usize),
    #[error("the supervisor is shutting down")]
    ShuttingDown,
    #[error("child `{id}` failed to start: {reason}")]
    StartFailed { id: String, reason: ExitReason },
}

/// Adds and starts a child at run time; answers its pid.
#[derive(Message)]
#[rtype(result = "Result<Pid, ChildError>")]
pub struct StartChild(pub ChildSpec);

/// Stops a child (per its shutdown spec). A dynamic supervisor forgets it; a
/// static one keeps its spec as stopped (see [`DeleteChild`], [`RestartChild`]).
#[derive(Message)]
#[rtype(result = "Result<(), ChildError>")]
pub struct TerminateChild(pub String);

/// Forgets the spec of a stopped child.
#[derive(Message)]
#[rtype(result = "Result<(), ChildError>")]
pub struct DeleteChild(pub String);

/// Starts a stopped child again.
#[derive(Message)]
#[rtype(result = "Result<Pid, ChildError>")]
pub struct RestartChild(pub String);

/// An OTP-style supervisor running as an actix actor.
pub struct Supervisor {
    name: String,
    strategy: Strategy,
    intensity: Intensity,
    dynamic: bool,
    max_children: Option<usize>,
    children: Vec<Slot>,
    me: Option<ChildContext>,
    phase: Phase,
}

/// A root supervisor started with [`Supervisor::start`].
#[derive(Clone)]
pub struct SupervisorHandle {
    pub addr: Addr<Supervisor>,
    pub pid: Pid,
}

impl SupervisorHandle {
    /// Stops the tree in order (children in reverse start order) and waits for it.
    pub async fn shutdown(&self) -> ExitReason {
        self.pid.request_stop();
        self.pid.wait_exit().await
    }

    /// Waits until the supervisor exits (after an escalation, or a shutdown).
    pub async fn wait_exit(&self) -> ExitReason {
        self.pid.wait_exit().await
    }

    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, MailboxError> {
        self.addr.send(WhichChildren).await
    }

    pub async fn count_children(&self) -> Result<ChildCounts, MailboxError> {
        self.addr.send(CountChildren).await
    }

    pub async fn tree(&self) -> Result<TreeNode, MailboxError> {
        self.addr.send(DescribeTree).await
    }
}

/// Stops one child per its shutdown spec and returns how it ended.
pub(crate) async fn stop_child(id: String, pid: Pid, shutdown: Shutdown) -> ExitReason {
    if !pid.is_alive() {
        return pid.wait_exit().await;
    }
    match shutdown {
        Shutdown::BrutalKill => {
            pid.kill();
            pid.wait_exit().await
        }
        Shutdown::Infinity => {
            pid.request_stop();
            pid.wait_exit().await
        }
        Shutdown::Timeout(limit) => {
            pid.request_stop();
            match actix_rt::time::timeout(limit, pid.wait_exit()).await {
                Ok(reason) => reason,
                Err(_) => {
                    warn!(child = %id, pid = %pid, ?limit, "child did not stop in time; killing it");
                    pid.kill();
                    pid.wait_exit().await
                }
            }
        }
    }
}

/// Kills whatever it still holds when dropped: a stop sequence cut short
/// (its supervisor killed mid-shutdown) must not leave children behind.
struct KillOnDrop(Vec<Pid>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in &self.0 {
            pid.kill();
        }
    }
}

/// Stops children one after the other, in the order given.
async fn stop_in_order(supervisor: String, stops: Vec<(String, Pid, Shutdown)>) {
    let mut pending = KillOnDrop(stops.iter().map(|(_, p, _)| p.clone()).collect());
    for (id, pid, shutdown) in stops {
        let reason = stop_child(id.clone(), pid.clone(), shutdown).await;
        pending.0.retain(|p| *p != pid);
        info!(%supervisor, child = %id, %reason, "child stopped");
    }
}

impl Supervisor {
    /// Builds the actor; `me` is its own child context when it is supervised.
    pub fn from_spec(spec: SupervisorSpec, me: Option<ChildContext>) -> Self {
        if let Some(me) = &me {
            me.defer_ready();
        }
        Supervisor {
            name: spec.name,
            strategy: spec.strategy,
            intensity: Intensity::new(spec.max_restarts, spec.period),
            dynamic: spec.dynamic,
            max_children: spec.max_children,
            children: spec
                .children
                .into_iter()
                .map(|spec| Slot {
                    spec,
                    state: SlotState::Stopped,
                    seq: 0,
                    restarts: 0,
                    streak: 0,
                })
                .collect(),
            me,
            phase: Phase::Running,
        }
    }

    /// Starts a root supervisor on the current arbiter (inside a running actix
    /// system) and returns once every child of the tree has started, as OTP's
    /// `start_link` does.
    pub async fn start(spec: SupervisorSpec) -> SupervisorHandle {
        let (handle, ready) = Self::spawn_root(spec);
        // Err only means the supervisor died while starting; the handle tells why.
        let _ = ready.await;
        handle
    }

    /// Like [`Supervisor::start`] but returns at once, before the children start.
    pub fn spawn(spec: SupervisorSpec) -> SupervisorHandle {
        Self::spawn_root(spec).0
    }

    fn spawn_root(spec: SupervisorSpec) -> (SupervisorHandle, tokio::sync::oneshot::Receiver<()>) {
        let name = spec.name.clone();
        let built = Supervisor::from_spec(spec, None);
        let started = spawn_watched(
            &name,
            0,
            move |cctx: &ChildContext| {
                cctx.defer_ready();
                let mut sup = built;
                sup.me = Some(cctx.clone());
                Ok(sup)
            },
            Box::new(|_, _| {}),
        );
        match started {
            Ok(s) => (
                SupervisorHandle {
                    addr: s.addr,
                    pid: s.pid,
                },
                s.ready,
            ),
            // The factory above only moves a value into place.
            Err(_) => unreachable!("starting a prepared Supervisor cannot panic"),
        }
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.children.iter().position(|s| s.spec.id == id)
    }

    /// Starts the child in slot `idx` as a new incarnation; answers its pid
    /// and a receiver that resolves once it has started.
    fn start_slot(
        &mut self,
        idx: usize,
        ctx: &mut Context<Self>,
    ) -> (Pid, tokio::sync::oneshot::Receiver<()>) {
        let me = ctx.address();
        let name = self.name.clone();
        let slot = &mut self.children[idx];
        slot.seq += 1;
        let seq = slot.seq;
        let id = slot.spec.id.clone();
        let on_exit = Box::new(move |_: &Pid, reason: ExitReason| {
            me.do_send(ChildExited { id, seq, reason });
        });
        let started = (slot.spec.start)(slot.restarts, on_exit);
        info!(supervisor = %name, child = %slot.spec.id, pid = %started.pid, restarts = slot.restarts, "child started");
        slot.state = SlotState::Running {
            seq,
            pid: started.pid.clone(),
            supervisor: started.supervisor,
            since: Instant::now(),
        };
        (started.pid, started.ready)
    }

    /// Starts the children `ids` one at a time, each once the previous one is
    /// started (a sub-supervisor: with all its children), holding the mailbox
    /// meanwhile. `restart` starts only slots still waiting for a restart.
    fn start_sequence(
        &mut self,
        mut ids: VecDeque<String>,
        restart: bool,
        ctx: &mut Context<Self>,
    ) {
        while let Some(id) = ids.pop_front() {
            if self.phase != Phase::Running {
                return;
            }
            let Some(idx) = self.index(&id) else { continue };
            if restart {
                if !matches!(self.children[idx].state, SlotState::Restarting) {
                    continue;
                }
                self.children[idx].restarts += 1;
            }
            let (pid, ready) = self.start_slot(idx, ctx);
            if restart {
                info!(supervisor = %self.name, child = %id, %pid, "child restarted");
            }
            ctx.wait(wrap_future::<_, Self>(ready).map(move |_, act, ctx| {
                act.start_sequence(ids, restart, ctx);
            }));
            return;
        }
        if !restart {
            if let Some(me) = &self.me {
                me.signal_ready();
            }
        }
    }

    /// Starts, in start order, every slot still waiting for a restart.
    fn start_pending(&mut self, ctx: &mut Context<Self>) {
        let ids = self
            .children
            .iter()
            .filter(|s| matches!(s.state, SlotState::Restarting))
            .map(|s| s.spec.id.clone())
            .collect();
        self.start_sequence(ids, true, ctx);
    }

    /// Takes the running incarnations of `ids` out of their slots, for stopping,
    /// in reverse start order.
    fn take_for_stop(
        &mut self,
        ids: &[String],
        next: fn() -> SlotState,
    ) -> Vec<(String, Pid, Shutdown)> {
        let mut stops = Vec::new();
        for slot in self.children.iter_mut().rev() {
            if !ids.contains(&slot.spec.id) {
                continue;
            }
            let old = std::mem::replace(&mut slot.state, next());
            if let SlotState::Running { pid, .. } = old {
                stops.push((slot.spec.id.clone(), pid, slot.spec.shutdown));
            }
        }
        stops
    }

    fn handle_exit(&mut self, msg: ChildExited, ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        let Some(idx) = self.index(&msg.id) else {
            return;
        };
        let (ran_for, current) = match &self.children[idx].state {
            SlotState::Running { seq, since, .. } => (since.elapsed(), *seq == msg.seq),
            _ => (Duration::ZERO, false),
        };
        if !current {
            return;
        }
        let slot = &mut self.children[idx];
        slot.state = SlotState::Stopped;
        if msg.reason.is_normal() {
            info!(supervisor = %self.name, child = %msg.id, reason = %msg.reason, "child exited");
        } else {
            warn!(supervisor = %self.name, child = %msg.id, reason = %msg.reason, "child exited abnormally");
        }
        let restart = match slot.spec.restart {
            Restart::Permanent => true,
            Restart::Transient => !msg.reason.is_normal(),
            Restart::Temporary => false,
        };
        if !restart {
            if slot.spec.restart == Restart::Temporary || self.dynamic {
                self.children.remove(idx);
            }
            return;
        }
        if !self.intensity.record(Instant::now()) {
            let why = format!(
                "child `{}` exited ({}) and restarts exceeded {} in {:?}",
                msg.id,
                msg.reason,
                self.intensity.max_restarts(),
                self.intensity.period()
            );
            error!(supervisor = %self.name, child = %msg.id, "restart intensity exceeded; escalating");
            self.shut_down(ctx, ExitReason::Escalated(why));
            return;
        }

        // Backoff: a long enough run forgives the earlier failures.
        let delay = match slot.spec.backoff {
            Some(b) => {
                if ran_for >= b.reset_after {
                    slot.streak = 0;
                }
                let d = b.delay(slot.streak);
                slot.streak = slot.streak.saturating_add(1);
                d
            }
            None => Duration::ZERO,
        };
        let group: Vec<usize> = match self.strategy {
            Strategy::OneForOne => vec![idx],
            Strategy::OneForAll => (0..self.children.len()).collect(),
            Strategy::RestForOne => (idx..self.children.len()).collect(),
        };
        let mut restart_ids = Vec::new();
        let mut drop_ids = Vec::new();
        for &i in &group {
            let s = &self.children[i];
            if s.spec.restart == Restart::Temporary && i != idx {
                drop_ids.push(s.spec.id.clone());
            } else {
                restart_ids.push(s.spec.id.clone());
            }
        }
        let mut stops = self.take_for_stop(&drop_ids, || SlotState::Stopped);
        stops.extend(self.take_for_stop(&restart_ids, || SlotState::Restarting));
        // One reverse-start-order pass over both kinds of sibling.
        stops.sort_by_key(|(id, _, _)| std::cmp::Reverse(self.index(id)));
        self.children[idx].state = SlotState::Restarting;

        let name = self.name.clone();
        ctx.wait(
            wrap_future::<_, Self>(stop_in_order(self.name.clone(), stops)).map(
                move |_, act, ctx| {
                    act.children.retain(|s| !drop_ids.contains(&s.spec.id));
                    if delay.is_zero() {
                        act.start_pending(ctx);
                    } else {
                        info!(supervisor = %name, ?delay, "restart delayed by backoff");
                        ctx.run_later(delay, |act, ctx| act.start_pending(ctx));
                    }
                },
            ),
        );
    }

    /// Stops every child in reverse start order, then exits with `reason`.
    fn shut_down(&mut self, ctx: &mut Context<Self>, reason: ExitReason) {
        if self.phase != Phase::Running {
            return;
        }
        self.phase = Phase::ShuttingDown;
        let all: Vec<String> = self.children.iter().map(|s| s.spec.id.clone()).collect();
        let stops = self.take_for_stop(&all, || SlotState::Stopped);
        let name = self.name.clone();
        ctx.wait(
            wrap_future::<_, Self>(stop_in_order(self.name.clone(), stops)).map(
                move |_, act, ctx| {
                    if let Some(me) = &act.me {
                        me.exit.set(reason.clone());
                    }
                    if reason.is_normal() {
                        info!(supervisor = %name, %reason, "supervisor stopped");
                    } else {
                        error!(supervisor = %name, %reason, "supervisor exiting");
                    }
                    act.phase = Phase::Done;
                    ctx.stop();
                },
            ),
        );
    }

    fn info(&self) -> Vec<ChildInfo> {
        self.children
            .iter()
            .map(|s| ChildInfo {
                id: s.spec.id.clone(),
                kind: s.spec.kind,
                restart: s.spec.restart,
                status: match s.state {
                    SlotState::Running { .. } => ChildStatus::Running,
                    SlotState::Restarting => ChildStatus::Restarting,
                    SlotState::Stopped => ChildStatus::Stopped,
                },
                pid: match &s.state {
                    SlotState::Running { pid, .. } => Some(pid.id()),
                    _ => None,
                },
                restarts: s.restarts,
            })
            .collect()
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        info!(supervisor = %self.name, strategy = %self.strategy, children = self.children.len(), "supervisor started");
        let ids = self.children.iter().map(|s| s.spec.id.clone()).collect();
        self.start_sequence(ids, false, ctx);
    }

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        if tokio::runtime::Handle::try_current().is_err() {
            // Dropped while the runtime itself is going away: no timers, no
            // orderly sequence is possible. Kill the children (see Drop).
            self.phase = Phase::Done;
            return Running::Stop;
        }
        match self.phase {
            Phase::Done => Running::Stop,
            Phase::ShuttingDown => Running::Continue,
            Phase::Running => {
                self.shut_down(ctx, ExitReason::Shutdown);
                Running::Continue
            }
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // Reached with children still running only when this supervisor was
        // killed or panicked: take them down with it, as an OTP link would.
        for slot in &self.children {
            if let SlotState::Running { pid, .. } = &slot.state {
                pid.kill();
            }
        }
    }
}

impl Handler<ChildExited> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ChildExited, ctx: &mut Context<Self>) {
        self.handle_exit(msg, ctx);
    }
}

impl Handler<WhichChildren> for Supervisor {
    type Result = MessageResult<WhichChildren>;

    fn handle(&mut self, _: WhichChildren, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.info())
    }
}

impl Handler<CountChildren> for Supervisor {
    type Result = MessageResult<CountChildren>;

    fn handle(&mut self, _: CountChildren, _: &mut Context<Self>) -> Self::Result {
        let mut c = ChildCounts {
            specs: self.children.len(),
            ..ChildCounts::default()
        };
        for s in &self.children {
            if matches!(s.state, SlotState::Running { .. }) {
                c.active += 1;
            }
            match s.spec.kind {
                ChildKind::Supervisor => c.supervisors += 1,
                ChildKind::Worker => c.workers += 1,
            }
        }
        MessageResult(c)
    }
}

impl Handler<DescribeTree> for Supervisor {
    type Result = ResponseFuture<TreeNode>;

    fn handle(&mut self, _: DescribeTree, _: &mut Context<Self>) -> Self::Result {
        let header = TreeNode {
            name: self.name.clone(),
            detail: format!(
                "[{}, intensity {}/{:?}]",
                self.strategy,
                self.intensity.max_restarts(),
                self.intensity.period()
            ),
            children: Vec::new(),
        };
        let rows: Vec<(TreeNode, Option<Addr<Supervisor>>)> = self
            .children
            .iter()
            .map(|s| {
                let (status, pid, sup) = match &s.state {
                    SlotState::Running {
                        pid, supervisor, ..
                    } => ("running", Some(pid.clone()), supervisor.clone()),
                    SlotState::Restarting => ("restarting", None, None),
                    SlotState::Stopped => ("stopped", None, None),
                };
                let pid = pid.map(|p| format!(" {p}")).unwrap_or_default();
                let node = TreeNode {
                    name: s.spec.id.clone(),
                    detail: format!(
                        "({}, {}, {status}{pid}, restarts {})",
                        s.spec.kind, s.spec.restart, s.restarts
                    ),
                    children: Vec::new(),
                };
                (node, sup)
            })
            .collect();
        Box::pin(async move {
            let nested = join_all(rows.into_iter().map(|(node, sup)| async move {
                match sup {
                    Some(addr) => match addr.send(DescribeTree).await {
                        Ok(sub) => TreeNode {
                            name: node.name,
                            detail: format!("{} {}", node.detail, sub.detail),
                            children: sub.children,
                        },
                        Err(_) => node,
                    },
                    None => node,
                }
            }))
            .await;
            TreeNode {
                children: nested,
                ..header
            }
        })
    }
}

impl Handler<StartChild> for Supervisor {
    type Result = Result<Pid, ChildError>;

    fn handle(&mut self, msg: StartChild, ctx: &mut Context<Self>) -> Self::Result {
        if self.phase != Phase::Running {
            return Err(ChildError::ShuttingDown);
        }
        let id = msg.0.id.clone();
        if self.index(&id).is_some() {
            return Err(ChildError::AlreadyPresent(id));
        }
        if let Some(max) = self.max_children {
            if self.children.len() >= max {
                return Err(ChildError::MaxChildren(max));
            }
        }
        self.children.push(Slot {
            spec: msg.0,
            state: SlotState::Stopped,
            seq: 0,
            restarts: 0,
            streak: 0,
        });
        let idx = self.children.len() - 1;
        Ok(self.start_slot(idx, ctx).0)
    }
}

impl Handler<TerminateChild> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), ChildError>>;

    fn handle(&mut self, msg: TerminateChild, _: &mut Context<Self>) -> Self::Result {
        let id = msg.0;
        if self.index(&id).is_none() {
            return Box::pin(actix::fut::ready(Err(ChildError::NotFound(id))));
        }
        let stops = self.take_for_stop(std::slice::from_ref(&id), || SlotState::Stopped);
        Box::pin(
            wrap_future::<_, Self>(stop_in_order(self.name.clone(), stops)).map(
                move |_, act, _| {
                    if act.dynamic {
                        act.children.retain(|s| s.spec.id != id);
                    }
                    Ok(())
                },
            ),
        )
    }
}

impl Handler<DeleteChild> for Supervisor {
    type Result = Result<(), ChildError>;

    fn handle(&mut self, msg: DeleteChild, _: &mut Context<Self>) -> Self::Result {
        let idx = self
            .index(&msg.0)
            .ok_or_else(|| ChildError::NotFound(msg.0.clone()))?;
        if !matches!(self.children[idx].state, SlotState::Stopped) {
            return Err(ChildError::Running(msg.0));
        }
        self.children.remove(idx);
        Ok(())
    }
}

impl Handler<RestartChild> for Supervisor {
    type Result = Result<Pid, ChildError>;

    fn handle(&mut self, msg: RestartChild, ctx: &mut Context<Self>) -> Self::Result {
        if self.phase != Phase::Running {
            return Err(ChildError::ShuttingDown);
        }
        let idx = self
            .index(&msg.0)
            .ok_or_else(|| ChildError::NotFound(msg.0.clone()))?;
        if !matches!(self.children[idx].state, SlotState::Stopped) {
            return Err(ChildError::Running(msg.0));
        }
        self.children[idx].restarts += 1;
        Ok(self.start_slot(idx, ctx).0)
    }
}
