//! Erlang/OTP-style supervision on actix 0.13.
//!
//! actix restarts one actor in place, forever, and a panic in a handler takes
//! the actor down unobserved. This crate adds what OTP gives: child specs with
//! a factory that builds a fresh actor on every start, restart types
//! (`permanent`, `transient`, `temporary`), shutdown policies (`brutal_kill`,
//! `timeout`, `infinity`), the strategies `one_for_one`, `one_for_all`,
//! `rest_for_one`, a dynamic supervisor, restart intensity with escalation to
//! the parent, per-child restart backoff, monitors with `Down` messages,
//! introspection and a printable tree. It knows nothing of storage.
//!
//! How it works: every child runs as its own task (its actix context turned into
//! a future), watched by a second task that sees how it ended: a normal end, a
//! panic (caught by the runtime: the arbiter and every other actor go on), or an
//! abort. That exit reaches the supervisor as a message and any monitor as
//! [`Down`]. A tracing event marks each start, exit (with its reason), restart
//! and escalation.
//!
//! # Embedding
//!
//! ```
//! use actix::prelude::*;
//! use stripecast_supervisors::{ChildSpec, Restart, Strategy, Supervisor, SupervisorSpec};
//! use std::time::Duration;
//!
//! struct Worker;
//! impl Actor for Worker { type Context = Context<Self>; }
//!
//! #[derive(Message)]
//! #[rtype(result = "()")]
//! struct Crash;
//! impl Handler<Crash> for Worker {
//!     type Result = ();
//!     fn handle(&mut self, _: Crash, _: &mut Context<Self>) { panic!("on purpose"); }
//! }
//!
//! actix::System::new().block_on(async {
//!     let (worker, worker_ref) = ChildSpec::new_with_ref("worker", |_| Worker);
//!     let tree = Supervisor::start(
//!         SupervisorSpec::new("root", Strategy::OneForOne)
//!             .intensity(3, Duration::from_secs(5))
//!             .child(worker.restart(Restart::Permanent)),
//!     ).await;
//!     let first = worker_ref.pid().unwrap();
//!     worker_ref.addr().unwrap().do_send(Crash);
//!     first.wait_exit().await;
//!     // The supervisor has restarted the worker: a new incarnation runs.
//!     let children = tree.which_children().await.unwrap();
//!     assert_eq!(children[0].restarts, 1);
//!     assert_ne!(worker_ref.pid().unwrap(), first);
//!     println!("{}", tree.tree().await.unwrap());
//!     tree.shutdown().await;
//! });
//! ```

mod backoff;
mod intensity;
mod introspect;
mod pid;
mod reason;
mod spawn;
mod spec;
mod supervisor;

pub use backoff::Backoff;
pub use intensity::{Intensity, DEFAULT_MAX_RESTARTS, DEFAULT_PERIOD};
pub use introspect::{
    ChildCounts, ChildInfo, ChildStatus, CountChildren, DescribeTree, TreeNode, WhichChildren,
};
pub use pid::{Down, MonitorRef, Pid};
pub(crate) use reason::panic_message;
pub use reason::ExitReason;
pub use spawn::{spawn, ChildContext};
pub use spec::{ChildKind, ChildRef, ChildSpec, Restart, Shutdown, DEFAULT_WORKER_SHUTDOWN};
pub use supervisor::{
    ChildError, DeleteChild, RestartChild, StartChild, Strategy, Supervisor, SupervisorHandle,
    SupervisorSpec, TerminateChild,
};
