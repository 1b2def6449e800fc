//! Process handles: what an Erlang pid is to a process, a [`Pid`] is to an actor
//! started through this crate.
//!
//! A `Pid` can ask its actor to stop, kill it, wait for its exit and be monitored.
//! Invariants: the exit reason is set exactly once, by the watcher task, after the
//! actor's task has ended; every monitor receives exactly one [`Down`], also when
//! it was set up after the exit (then at once).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use actix::prelude::*;
use tokio::sync::{oneshot, watch};
use tokio::task::AbortHandle;

use crate::ExitReason;

static NEXT_PID: AtomicU64 = AtomicU64::new(1);
static NEXT_MONITOR: AtomicU64 = AtomicU64::new(1);

/// Sent to every monitor of a process when it exits.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Down {
    pub monitor: MonitorRef,
    pub pid: Pid,
    pub reason: ExitReason,
}

/// Identifies one monitor, for [`Pid::demonitor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MonitorRef(u64);

/// How a stop request should end the actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopKind {
    /// `ctx.stop()`: the actor's `stopping` may refuse.
    Graceful,
}

struct State {
    exit: Option<ExitReason>,
    monitors: Vec<(MonitorRef, Recipient<Down>)>,
    stop_tx: Option<oneshot::Sender<StopKind>>,
    abort: Option<AbortHandle>,
}

struct Inner {
    id: u64,
    name: String,
    state: Mutex<State>,
    exited: watch::Sender<Option<ExitReason>>,
}

/// A handle on a running (or finished) actor. Cheap to clone; compares by id.
#[derive(Clone)]
pub struct Pid {
    inner: Arc<Inner>,
}

impl Pid {
    pub(crate) fn new(name: &str, stop_tx: oneshot::Sender<StopKind>) -> Pid {
        let (exited, _) = watch::channel(None);
        Pid {
            inner: Arc::new(Inner {
                id: NEXT_PID.fetch_add(1, Ordering::Relaxed),
                name: name.to_string(),
                state: Mutex::new(State {
                    exit: None,
                    monitors: Vec::new(),
                    stop_tx: Some(stop_tx),
                    abort: None,
                }),
                exited,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a monitor's recipient panicked mid-push;
        // the state itself is still consistent, so keep going.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn set_abort(&self, abort: AbortHandle) {
        self.state().abort = Some(abort);
    }

    /// A number unique within this OS process.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The name given at spawn (the child id for supervised children).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn is_alive(&self) -> bool {
        self.state().exit.is_none()
    }

    /// The exit reason, once the actor has exited.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.state().exit.clone()
    }

    /// Asks the actor to stop (its `stopping` may refuse). Returns false if it
    /// had already been asked or has exited.
    pub fn request_stop(&self) -> bool {
        match self.state().stop_tx.take() {
            Some(tx) => tx.send(StopKind::Graceful).is_ok(),
            None => false,
        }
    }

    /// Aborts the actor's task at its next await point: Erlang's `exit(Pid, kill)`.
    pub fn kill(&self) {
        if let Some(abort) = self.state().abort.as_ref() {
            abort.abort();
        }
    }

    /// Waits until the actor has exited and returns why.
    pub async fn wait_exit(&self) -> ExitReason {
        let mut rx = self.inner.exited.subscribe();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                // The sender lives in `inner`, which we hold: cannot happen,
                // but an answer is better than a hang.
                return self.exit_reason().unwrap_or(ExitReason::NoProc);
            }
        }
    }

    /// Monitors the actor: `recipient` gets one [`Down`] when it exits (at once if it already has).
    pub fn monitor(&self, recipient: Recipient<Down>) -> MonitorRef {
        let mref = MonitorRef(NEXT_MONITOR.fetch_add(1, Ordering::Relaxed));
        let mut st = self.state();
        match st.exit.clone() {
            Some(reason) => {
                drop(st);
                recipient.do_send(Down {
                    monitor: mref,
                    pid: self.clone(),
                    reason,
                });
            }
            None => st.monitors.push((mref, recipient)),
        }
        mref
    }

    /// Removes a monitor; its `Down` will not be sent. Returns false if it was not set.
    pub fn demonitor(&self, mref: MonitorRef) -> bool {
        let mut st = self.state();
        let before = st.monitors.len();
        st.monitors.retain(|(m, _)| *m != mref);
        st.monitors.len() != before
    }

    /// Records the exit and tells the monitors. Called once, by the watcher.
    pub(crate) fn mark_exited(&self, reason: ExitReason) {
        let monitors = {
            let mut st = self.state();
            debug_assert!(st.exit.is_none(), "a process exits once");
            st.exit = Some(reason.clone());
            st.stop_tx = None;
            st.abort = None;
            std::mem::take(&mut st.monitors)
        };
        self.inner.exited.send_replace(Some(reason.clone()));
        for (mref, recipient) in monitors {
            recipient.do_send(Down {
                monitor: mref,
                pid: self.clone(),
                reason: reason.clone(),
            });
        }
    }
}

impl PartialEq for Pid {
    fn eq(&self, other: &Self) -> bool {
        self.inner.id == other.inner.id
    }
}
impl Eq for Pid {}

impl std::hash::Hash for Pid {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.id.hash(state)
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}.{}>", self.inner.name, self.inner.id)
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
