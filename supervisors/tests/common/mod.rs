//! A probe actor for supervision tests: it logs `start X` / `stop X`, keeps a
//! counter (to show a restart brings fresh state) and crashes on request.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use actix::prelude::*;
use stripecast_supervisors::{ChildContext, ChildRef, ChildSpec, Pid, Supervisor, WhichChildren};

pub type Log = Arc<Mutex<Vec<String>>>;

pub fn new_log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

pub fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

pub struct Probe {
    name: String,
    log: Log,
    counter: u32,
    ignore_stop: bool,
    cctx: ChildContext,
}

impl Actor for Probe {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.log
            .lock()
            .unwrap()
            .push(format!("start {}", self.name));
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        if self.ignore_stop {
            self.log
                .lock()
                .unwrap()
                .push(format!("refuse {}", self.name));
            Running::Continue
        } else {
            Running::Stop
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.log.lock().unwrap().push(format!("stop {}", self.name));
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Fail;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Exit;

#[derive(Message)]
#[rtype(result = "u32")]
pub struct Incr;

impl Handler<Crash> for Probe {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("probe {} crashed on purpose", self.name);
    }
}

impl Handler<Fail> for Probe {
    type Result = ();
    fn handle(&mut self, _: Fail, ctx: &mut Context<Self>) {
        let cctx = self.cctx.clone();
        cctx.fail(ctx, format!("{} failed on purpose", self.name));
    }
}

impl Handler<Exit> for Probe {
    type Result = ();
    fn handle(&mut self, _: Exit, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Incr> for Probe {
    type Result = u32;
    fn handle(&mut self, _: Incr, _: &mut Context<Self>) -> u32 {
        self.counter += 1;
        self.counter
    }
}

pub fn probe(name: &str, log: &Log) -> (ChildSpec, ChildRef<Probe>) {
    probe_with(name, log, false)
}

pub fn probe_with(name: &str, log: &Log, ignore_stop: bool) -> (ChildSpec, ChildRef<Probe>) {
    let log = log.clone();
    let n = name.to_string();
    ChildSpec::new_with_ref(name, move |cctx: &ChildContext| Probe {
        name: n.clone(),
        log: log.clone(),
        counter: 0,
        ignore_stop,
        cctx: cctx.clone(),
    })
}

/// How a test makes a child exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Crash,
    Fail,
    Exit,
}

/// Makes the child exit, then waits until its supervisor has dealt with it
/// and every restarted child has run `started`.
pub async fn exit_and_settle(
    sup: &Addr<Supervisor>,
    child: &ChildRef<Probe>,
    how: How,
    all: &[&ChildRef<Probe>],
) {
    let pid: Pid = child.pid().expect("child started");
    let addr = child.live_addr().expect("child alive");
    match how {
        How::Crash => addr.do_send(Crash),
        How::Fail => addr.do_send(Fail),
        How::Exit => addr.do_send(Exit),
    }
    pid.wait_exit().await;
    settle(sup, all).await;
}

/// Waits until the supervisor's mailbox is drained past now and live children have started.
pub async fn settle(sup: &Addr<Supervisor>, all: &[&ChildRef<Probe>]) {
    let _ = sup.send(WhichChildren).await;
    for c in all {
        if let Some(a) = c.live_addr() {
            let _ = a.send(Incr).await;
        }
    }
}

/// Silences the default panic printout for tests that panic on purpose.
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_purpose = info
                .payload()
                .downcast_ref::<String>()
                .map(|s| s.contains("on purpose"))
                .or_else(|| {
                    info.payload()
                        .downcast_ref::<&str>()
                        .map(|s| s.contains("on purpose"))
                })
                .unwrap_or(false);
            if !on_purpose {
                default(info);
            }
        }));
    });
}
