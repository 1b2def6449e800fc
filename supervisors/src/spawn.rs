//! Starting an actix actor so that its end, whatever the cause, is observed.
//!
//! actix runs an actor as one future on its arbiter; we build that future
//! ourselves (`Context::into_future`) and run it as its own task, so a panic in
//! any handler ends that task only (tokio catches it) and the task's join result
//! tells panic from abort from a normal end. A watcher task turns that result
//! into an [`ExitReason`], records it on the [`Pid`], then calls `on_exit`.
//!
//! Invariant: `on_exit` runs before any monitor receives `Down`, so a party that
//! waited for `Down` and then messages the supervisor finds the exit handled.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix::fut::wrap_future;
use actix::prelude::*;
use tokio::sync::oneshot;

use crate::pid::{Pid, StopKind};
use crate::{panic_message, ExitReason};

/// Where an actor records the reason it is about to stop with.
#[derive(Clone, Default)]
pub struct ExitSlot(Arc<Mutex<Option<ExitReason>>>);

impl ExitSlot {
    /// Keeps the first reason set: the cause, not a later consequence.
    pub(crate) fn set(&self, reason: ExitReason) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(reason);
        }
    }

    fn take(&self) -> Option<ExitReason> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Called on the arbiter once a process's task is over, before monitors hear of it.
pub(crate) type OnExit = Box<dyn FnOnce(&Pid, ExitReason)>;

/// Fires once the actor is started: at once after `started` for a worker; a
/// supervisor defers it until its own children are all started, so a parent
/// starting children in order gets OTP's synchronous start semantics.
pub(crate) struct Ready {
    tx: Mutex<Option<oneshot::Sender<()>>>,
    deferred: AtomicBool,
}

impl Ready {
    pub(crate) fn signal(&self) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(());
        }
    }
}

/// What an actor started by a supervisor can know about itself, and how it
/// stops with a reason. Handed to the child factory on every (re)start.
#[derive(Clone)]
pub struct ChildContext {
    pub(crate) id: String,
    pub(crate) pid: Pid,
    pub(crate) exit: ExitSlot,
    pub(crate) restarts: u32,
    pub(crate) ready: Arc<Ready>,
}

impl ChildContext {
    /// The actor will call [`ChildContext::signal_ready`] itself.
    pub(crate) fn defer_ready(&self) {
        self.ready.deferred.store(true, Ordering::SeqCst);
    }

    pub(crate) fn signal_ready(&self) {
        self.ready.signal();
    }
}

/// A freshly spawned process; `ready` resolves (Ok or Err) once it is started or dead.
pub(crate) struct Spawned<A: Actor> {
    pub addr: Addr<A>,
    pub pid: Pid,
    pub ready: oneshot::Receiver<()>,
}

impl ChildContext {
    /// The child id from its spec.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// This incarnation's process handle.
    pub fn pid(&self) -> &Pid {
        &self.pid
    }

    /// How many times this child has been restarted before this start.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Stops the actor with an abnormal reason: a `transient` child is restarted.
    pub fn fail<A>(&self, ctx: &mut Context<A>, message: impl Into<String>)
    where
        A: Actor<Context = Context<A>>,
    {
        self.exit.set(ExitReason::Error(message.into()));
        ctx.stop();
    }

    /// Stops the actor with the given reason.
    pub fn exit<A>(&self, ctx: &mut Context<A>, reason: ExitReason)
    where
        A: Actor<Context = Context<A>>,
    {
        self.exit.set(reason);
        ctx.stop();
    }
}

/// Spawns `make(ctx)` on the current arbiter as a watched process.
///
/// `on_exit` runs on the current arbiter once the actor's task is over. A
/// factory that panics is an abnormal exit of that process (reported through
/// `on_exit` like any other), never of the caller: `Err` carries its pid.
pub(crate) fn spawn_watched<A, F>(
    id: &str,
    restarts: u32,
    make: F,
    on_exit: OnExit,
) -> Result<Spawned<A>, Pid>
where
    A: Actor<Context = Context<A>>,
    F: FnOnce(&ChildContext) -> Result<A, String>,
{
    let (stop_tx, stop_rx) = oneshot::channel::<StopKind>();
    let (ready_tx, ready_rx) = oneshot::channel::<()>();
    let pid = Pid::new(id, stop_tx);
    let exit = ExitSlot::default();
    let cctx = ChildContext {
        id: id.to_string(),
        pid: pid.clone(),
        exit: exit.clone(),
        restarts,
        ready: Arc::new(Ready {
            tx: Mutex::new(Some(ready_tx)),
            deferred: AtomicBool::new(false),
        }),
    };
    let made = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| make(&cctx))) {
        Ok(Ok(actor)) => Ok(actor),
        Ok(Err(message)) => Err(ExitReason::Error(format!("start failed: {message}"))),
        Err(payload) => Err(ExitReason::Panic(format!(
            "start failed: {}",
            panic_message(payload)
        ))),
    };
    let actor = match made {
        Ok(actor) => actor,
        Err(reason) => {
            let watched = pid.clone();
            actix_rt::spawn(async move {
                on_exit(&watched, reason.clone());
                watched.mark_exited(reason);
            });
            return Err(pid);
        }
    };

    let mut ctx = Context::<A>::new();
    let addr = ctx.address();
    let stop_slot = exit.clone();
    // The stop listener lives inside the actor's own context, so it can reach
    // `ctx` without the actor implementing any message of ours.
    ctx.spawn(
        wrap_future::<_, A>(stop_rx).map(move |res, _act, ctx: &mut Context<A>| {
            match res {
                Ok(StopKind::Graceful) => {
                    stop_slot.set(ExitReason::Shutdown);
                    ctx.stop();
                }
                // The Pid (and with it every way to stop us) is gone: nobody can
                // supervise this actor any more, so it must not outlive its owner.
                Err(_) => {
                    stop_slot.set(ExitReason::Shutdown);
                    ctx.terminate();
                }
            }
        }),
    );
    // Items run after `started`, so the first poll of this one means "started".
    let ready = cctx.ready.clone();
    ctx.spawn(actix::fut::wrap_future::<_, A>(async move {
        if !ready.deferred.load(Ordering::SeqCst) {
            ready.signal();
        }
    }));
    drop(cctx);
    let task = actix_rt::spawn(ctx.into_future(actor));
    pid.set_abort(task.abort_handle());

    let watched = pid.clone();
    actix_rt::spawn(async move {
        let reason = match task.await {
            Ok(()) => exit.take().unwrap_or(ExitReason::Normal),
            Err(e) if e.is_panic() => ExitReason::Panic(panic_message(e.into_panic())),
            Err(_) => ExitReason::Killed,
        };
        on_exit(&watched, reason.clone());
        watched.mark_exited(reason);
    });
    Ok(Spawned {
        addr,
        pid,
        ready: ready_rx,
    })
}

/// Starts a standalone actor as a watched process (no supervisor), so that it
/// can be monitored, stopped or killed through its [`Pid`]. `Err` if `make` panicked.
pub fn spawn<A, F>(name: &str, make: F) -> Result<(Addr<A>, Pid), ExitReason>
where
    A: Actor<Context = Context<A>>,
    F: FnOnce(&ChildContext) -> A,
{
    spawn_watched(name, 0, |c: &ChildContext| Ok(make(c)), Box::new(|_, _| {}))
        .map(|s| (s.addr, s.pid))
        .map_err(|pid| {
            // The reason is recorded asynchronously; the cause is the factory's panic.
            pid.exit_reason()
                .unwrap_or_else(|| ExitReason::Panic("start failed".into()))
        })
}
