//! Child specifications: what a supervisor needs to (re)start a child.
//!
//! A spec holds a factory that builds a *fresh* actor on every start, so a
//! restarted child never inherits the state that made it crash. Specs are
//! cheap to clone (the factory is shared), which lets a supervisor that is
//! itself a child rebuild its whole subtree on restart.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;

use crate::spawn::{spawn_watched, ChildContext, OnExit};
use crate::{Backoff, Pid};

/// When a child that exited is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Always.
    Permanent,
    /// Only after an abnormal exit (not `normal`/`shutdown`).
    Transient,
    /// Never; the child is forgotten when it exits.
    Temporary,
}

/// How a child is stopped by its supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Aborted at once, no `stopping`/`stopped`.
    BrutalKill,
    /// Asked to stop; aborted if still running after this long.
    Timeout(Duration),
    /// Asked to stop, and waited for as long as it takes (for supervisors).
    Infinity,
}

/// Whether the child is a worker or a supervisor (shown in trees and counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    Worker,
    Supervisor,
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Restart::Permanent => "permanent",
            Restart::Transient => "transient",
            Restart::Temporary => "temporary",
        })
    }
}

impl fmt::Display for ChildKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChildKind::Worker => "worker",
            ChildKind::Supervisor => "supervisor",
        })
    }
}

/// What starting a child produced.
pub(crate) struct Started {
    pub pid: Pid,
    /// Set when the child is a [`crate::Supervisor`], for introspection of the tree.
    pub supervisor: Option<Addr<crate::Supervisor>>,
    /// Resolves when the child has started (or is gone).
    pub ready: tokio::sync::oneshot::Receiver<()>,
}

/// Starts one incarnation; `on_exit` reports its end to the supervisor.
pub(crate) type Starter = dyn Fn(u32, OnExit) -> Started + Send + Sync;

/// The current incarnation's address and pid, shared by every [`ChildRef`] clone.
type Slot<A> = Arc<Mutex<Option<(Addr<A>, Pid)>>>;

/// The address of a child's current incarnation, updated on every restart:
/// the way to reach a supervised actor that may have been replaced.
pub struct ChildRef<A: Actor> {
    slot: Slot<A>,
}

impl<A: Actor> Clone for ChildRef<A> {
    fn clone(&self) -> Self {
        ChildRef {
            slot: self.slot.clone(),
        }
    }
}

impl<A: Actor> Default for ChildRef<A> {
    fn default() -> Self {
        ChildRef {
            slot: Arc::new(Mutex::new(None)),
        }
    }
}

impl<A: Actor> ChildRef<A> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Addr<A>, Pid)>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The address of the incarnation started last (it may have exited since).
    pub fn addr(&self) -> Option<Addr<A>> {
        self.lock().as_ref().map(|(a, _)| a.clone())
    }

    /// The pid of the incarnation started last.
    pub fn pid(&self) -> Option<Pid> {
        self.lock().as_ref().map(|(_, p)| p.clone())
    }

    /// The address, only if that incarnation is still alive.
    pub fn live_addr(&self) -> Option<Addr<A>> {
        self.lock()
            .as_ref()
            .filter(|(_, p)| p.is_alive())
            .map(|(a, _)| a.clone())
    }

    fn publish(&self, addr: Addr<A>, pid: Pid) {
        *self.lock() = Some((addr, pid));
    }
}

/// A child specification (OTP's child_spec).
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) id: String,
    pub(crate) restart: Restart,
    pub(crate) shutdown: Shutdown,
    pub(crate) kind: ChildKind,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) start: Arc<Starter>,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("kind", &self.kind)
            .field("backoff", &self.backoff)
            .finish()
    }
}

/// The default shutdown for workers, as OTP's: 5 seconds.
pub const DEFAULT_WORKER_SHUTDOWN: Shutdown = Shutdown::Timeout(Duration::from_secs(5));

impl ChildSpec {
    /// A permanent worker built by `factory` on every start.
    pub fn new<A, F>(id: impl Into<String>, factory: F) -> ChildSpec
    where
        A: Actor<Context = Context<A>>,
        F: Fn(&ChildContext) -> A + Send + Sync + 'static,
    {
        Self::build(id.into(), factory, None)
    }

    /// Like [`ChildSpec::new`], and a [`ChildRef`] that always points at the current incarnation.
    pub fn new_with_ref<A, F>(id: impl Into<String>, factory: F) -> (ChildSpec, ChildRef<A>)
    where
        A: Actor<Context = Context<A>>,
        F: Fn(&ChildContext) -> A + Send + Sync + 'static,
    {
        let r = ChildRef::default();
        (Self::build(id.into(), factory, Some(r.clone())), r)
    }

    /// A permanent worker whose factory may fail: `Err(message)` is an abnormal
    /// exit of this child (restarted per its policy, counted against intensity).
    pub fn try_new<A, E, F>(id: impl Into<String>, factory: F) -> ChildSpec
    where
        A: Actor<Context = Context<A>>,
        E: std::fmt::Display,
        F: Fn(&ChildContext) -> Result<A, E> + Send + Sync + 'static,
    {
        Self::build_fallible(id.into(), factory, None)
    }

    /// Like [`ChildSpec::try_new`], with a [`ChildRef`].
    pub fn try_new_with_ref<A, E, F>(id: impl Into<String>, factory: F) -> (ChildSpec, ChildRef<A>)
    where
        A: Actor<Context = Context<A>>,
        E: std::fmt::Display,
        F: Fn(&ChildContext) -> Result<A, E> + Send + Sync + 'static,
    {
        let r = ChildRef::default();
        (Self::build_fallible(id.into(), factory, Some(r.clone())), r)
    }

    fn build<A, F>(id: String, factory: F, publish: Option<ChildRef<A>>) -> ChildSpec
    where
        A: Actor<Context = Context<A>>,
        F: Fn(&ChildContext) -> A + Send + Sync + 'static,
    {
        Self::build_fallible(
            id,
            move |c: &ChildContext| Ok::<A, std::convert::Infallible>(factory(c)),
            publish,
        )
    }

    fn build_fallible<A, E, F>(id: String, factory: F, publish: Option<ChildRef<A>>) -> ChildSpec
    where
        A: Actor<Context = Context<A>>,
        E: std::fmt::Display,
        F: Fn(&ChildContext) -> Result<A, E> + Send + Sync + 'static,
    {
        let name = id.clone();
        let start = move |restarts: u32, on_exit: OnExit| {
            let make = |c: &ChildContext| factory(c).map_err(|e| e.to_string());
            match spawn_watched(&name, restarts, make, on_exit) {
                Ok(spawned) => {
                    let supervisor = (&spawned.addr as &dyn std::any::Any)
                        .downcast_ref::<Addr<crate::Supervisor>>()
                        .cloned();
                    if let Some(r) = &publish {
                        r.publish(spawned.addr, spawned.pid.clone());
                    }
                    Started {
                        pid: spawned.pid,
                        supervisor,
                        ready: spawned.ready,
                    }
                }
                // The failed start already reports itself as an exit; a dropped
                // sender makes `ready` resolve at once.
                Err(pid) => Started {
                    pid,
                    supervisor: None,
                    ready: tokio::sync::oneshot::channel().1,
                },
            }
        };
        ChildSpec {
            id,
            restart: Restart::Permanent,
            shutdown: DEFAULT_WORKER_SHUTDOWN,
            kind: ChildKind::Worker,
            backoff: None,
            start: Arc::new(start),
        }
    }

    /// A child that is itself a supervisor built from `spec` (shutdown `infinity`).
    pub fn supervisor(spec: crate::SupervisorSpec) -> ChildSpec {
        Self::supervisor_with_ref(spec).0
    }

    /// Like [`ChildSpec::supervisor`], with a [`ChildRef`] to the nested supervisor.
    pub fn supervisor_with_ref(
        spec: crate::SupervisorSpec,
    ) -> (ChildSpec, ChildRef<crate::Supervisor>) {
        let id = spec.name.clone();
        let (mut child, r) = Self::new_with_ref(id, move |cctx: &ChildContext| {
            crate::Supervisor::from_spec(spec.clone(), Some(cctx.clone()))
        });
        child.kind = ChildKind::Supervisor;
        child.shutdown = Shutdown::Infinity;
        (child, r)
    }

    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    pub fn kind(mut self, kind: ChildKind) -> Self {
        self.kind = kind;
        self
    }

    /// Delays restarts of this child exponentially (capped).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn restart_type(&self) -> Restart {
        self.restart
    }

    pub fn shutdown_type(&self) -> Shutdown {
        self.shutdown
    }

    pub fn child_kind(&self) -> ChildKind {
        self.kind
    }
}
