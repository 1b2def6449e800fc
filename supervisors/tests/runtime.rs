//! Monitors, the dynamic supervisor and introspection.

mod common;

use std::time::Duration;

use actix::prelude::*;
use common::*;
use stripecast_supervisors::{
    ChildContext, ChildError, ChildKind, ChildSpec, CountChildren, DeleteChild, Down, ExitReason,
    MonitorRef, Restart, RestartChild, StartChild, Strategy, Supervisor, SupervisorSpec,
    TerminateChild,
};

/// Collects Down messages.
struct Watcher(std::sync::Arc<std::sync::Mutex<Vec<(MonitorRef, ExitReason)>>>);
impl Actor for Watcher {
    type Context = Context<Self>;
}
impl Handler<Down> for Watcher {
    type Result = ();
    fn handle(&mut self, d: Down, _: &mut Context<Self>) {
        self.0.lock().unwrap().push((d.monitor, d.reason));
    }
}

#[actix_rt::test]
async fn monitors_receive_down_with_the_exit_reason() {
    quiet_panics();
    let downs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let watcher = Watcher(downs.clone()).start();
    let log = new_log();
    let (a, ra) = probe("a", &log);
    let sup = Supervisor::start(
        SupervisorSpec::new("root", Strategy::OneForOne).child(a.restart(Restart::Temporary)),
    )
    .await;
    settle(&sup.addr, &[&ra]).await;
    let pid = ra.pid().unwrap();
    let m1 = pid.monitor(watcher.clone().recipient());
    let m2 = pid.monitor(watcher.clone().recipient());
    assert!(pid.demonitor(m2));
    ra.live_addr().unwrap().do_send(Crash);
    pid.wait_exit().await;
    // A monitor set up after the exit gets its Down at once.
    let m3 = pid.monitor(watcher.clone().recipient());
    actix_rt::time::sleep(Duration::from_millis(20)).await;
    let got = downs.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, m1);
    assert!(matches!(&got[0].1, ExitReason::Panic(m) if m.contains("probe a crashed on purpose")));
    assert_eq!(got[1].0, m3);
    sup.shutdown().await;
}

#[actix_rt::test]
async fn dynamic_supervisor_adds_and_removes_children_at_run_time() {
    quiet_panics();
    let log = new_log();
    let sup = Supervisor::start(
        SupervisorSpec::dynamic("jobs")
            .intensity(5, Duration::from_secs(60))
            .max_children(2),
    )
    .await;
    let (j1, r1) = probe("job-1", &log);
    let (j2, r2) = probe("job-2", &log);
    sup.addr
        .send(StartChild(j1.clone().restart(Restart::Transient)))
        .await
        .unwrap()
        .unwrap();
    let dup = sup.addr.send(StartChild(j1)).await.unwrap();
    assert_eq!(dup, Err(ChildError::AlreadyPresent("job-1".into())));
    sup.addr
        .send(StartChild(j2.restart(Restart::Transient)))
        .await
        .unwrap()
        .unwrap();
    let (j3, _) = probe("job-3", &log);
    assert_eq!(
        sup.addr.send(StartChild(j3)).await.unwrap(),
        Err(ChildError::MaxChildren(2))
    );
    settle(&sup.addr, &[&r1, &r2]).await;
    assert_eq!(sup.addr.send(CountChildren).await.unwrap().active, 2);

    // A transient job that fails is restarted; one that finishes is forgotten.
    exit_and_settle(&sup.addr, &r1, How::Crash, &[&r1, &r2]).await;
    assert_eq!(sup.which_children().await.unwrap().len(), 2);
    exit_and_settle(&sup.addr, &r1, How::Exit, &[&r1, &r2]).await;
    let ids: Vec<String> = sup
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec!["job-2"]);

    sup.addr
        .send(TerminateChild("job-2".into()))
        .await
        .unwrap()
        .unwrap();
    assert!(sup.which_children().await.unwrap().is_empty());
    assert_eq!(r2.pid().unwrap().exit_reason(), Some(ExitReason::Shutdown));
    assert_eq!(
        sup.addr.send(TerminateChild("nope".into())).await.unwrap(),
        Err(ChildError::NotFound("nope".into()))
    );
    sup.shutdown().await;
}

#[actix_rt::test]
async fn static_supervisor_terminate_restart_delete() {
    let log = new_log();
    let (a, ra) = probe("a", &log);
    let sup = Supervisor::start(SupervisorSpec::new("root", Strategy::OneForOne).child(a)).await;
    settle(&sup.addr, &[&ra]).await;
    sup.addr
        .send(TerminateChild("a".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sup.which_children().await.unwrap().len(), 1, "spec kept");
    assert_eq!(
        sup.addr.send(DeleteChild("nope".into())).await.unwrap(),
        Err(ChildError::NotFound("nope".into()))
    );
    sup.addr
        .send(RestartChild("a".into()))
        .await
        .unwrap()
        .unwrap();
    settle(&sup.addr, &[&ra]).await;
    assert!(ra.live_addr().is_some());
    assert_eq!(
        sup.addr.send(DeleteChild("a".into())).await.unwrap(),
        Err(ChildError::Running("a".into()))
    );
    sup.addr
        .send(TerminateChild("a".into()))
        .await
        .unwrap()
        .unwrap();
    sup.addr
        .send(DeleteChild("a".into()))
        .await
        .unwrap()
        .unwrap();
    assert!(sup.which_children().await.unwrap().is_empty());
    sup.shutdown().await;
}

struct Idle;
impl Actor for Idle {
    type Context = Context<Self>;
}

#[actix_rt::test]
async fn introspection_counts_and_prints_the_tree() {
    let idle = |_: &ChildContext| Idle;
    let inner = SupervisorSpec::new("transport", Strategy::OneForOne)
        .child(ChildSpec::new("listener", idle))
        .child(ChildSpec::new("peer-1", idle));
    let sup = Supervisor::start(
        SupervisorSpec::new("member", Strategy::RestForOne)
            .child(ChildSpec::new("store", idle))
            .child(ChildSpec::supervisor(inner)),
    )
    .await;
    let counts = sup.count_children().await.unwrap();
    assert_eq!(
        (
            counts.specs,
            counts.active,
            counts.workers,
            counts.supervisors
        ),
        (2, 2, 1, 1)
    );
    let kinds: Vec<ChildKind> = sup
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(kinds, vec![ChildKind::Worker, ChildKind::Supervisor]);
    let tree = sup.tree().await.unwrap();
    let names: Vec<&str> = tree.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["store", "transport"]);
    let nested: Vec<&str> = tree.children[1]
        .children
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(nested, vec!["listener", "peer-1"]);
    let text = tree.to_string();
    assert!(text.starts_with("member [rest_for_one"), "{text}");
    assert!(
        text.contains("    └── peer-1 (worker, permanent, running"),
        "{text}"
    );
    sup.shutdown().await;
}
