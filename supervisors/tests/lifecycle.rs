//! Restart types, intensity and escalation, panic isolation, shutdown order and
//! timeouts, nested trees, backoff, failing factories.

mod common;

use std::time::{Duration, Instant};

use actix::prelude::*;
use common::*;
use stripecast_supervisors::{
    Backoff, ChildContext, ChildSpec, ChildStatus, ExitReason, Restart, Shutdown, Strategy,
    Supervisor, SupervisorSpec,
};

fn spec(strategy: Strategy) -> SupervisorSpec {
    SupervisorSpec::new("root", strategy).intensity(10, Duration::from_secs(60))
}

#[actix_rt::test]
async fn transient_restarts_only_after_an_abnormal_exit() {
    quiet_panics();
    let log = new_log();
    let (t, rt) = probe("t", &log);
    let sup =
        Supervisor::start(spec(Strategy::OneForOne).child(t.restart(Restart::Transient))).await;
    settle(&sup.addr, &[&rt]).await;
    take(&log);
    exit_and_settle(&sup.addr, &rt, How::Fail, &[&rt]).await;
    assert_eq!(take(&log), vec!["stop t", "start t"], "error exit restarts");
    exit_and_settle(&sup.addr, &rt, How::Crash, &[&rt]).await;
    assert_eq!(take(&log), vec!["stop t", "start t"], "panic restarts");
    exit_and_settle(&sup.addr, &rt, How::Exit, &[&rt]).await;
    assert_eq!(take(&log), vec!["stop t"], "a normal exit is final");
    let info = sup.which_children().await.unwrap();
    assert_eq!(info.len(), 1, "a static supervisor keeps the spec");
    assert_eq!(info[0].status, ChildStatus::Stopped);
    assert_eq!(rt.pid().unwrap().exit_reason(), Some(ExitReason::Normal));
    sup.shutdown().await;
}

#[actix_rt::test]
async fn temporary_is_never_restarted_and_is_forgotten() {
    quiet_panics();
    let log = new_log();
    let (t, rt) = probe("t", &log);
    let (p, rp) = probe("p", &log);
    let sup = Supervisor::start(
        spec(Strategy::OneForOne)
            .child(t.restart(Restart::Temporary))
            .child(p),
    )
    .await;
    settle(&sup.addr, &[&rt, &rp]).await;
    take(&log);
    exit_and_settle(&sup.addr, &rt, How::Crash, &[&rt, &rp]).await;
    assert_eq!(take(&log), vec!["stop t"]);
    let ids: Vec<String> = sup
        .which_children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec!["p"]);
    sup.shutdown().await;
}

#[actix_rt::test]
async fn permanent_restarts_even_after_a_normal_exit() {
    let log = new_log();
    let (p, rp) = probe("p", &log);
    let sup = Supervisor::start(spec(Strategy::OneForOne).child(p)).await;
    settle(&sup.addr, &[&rp]).await;
    take(&log);
    exit_and_settle(&sup.addr, &rp, How::Exit, &[&rp]).await;
    assert_eq!(take(&log), vec!["stop p", "start p"]);
    sup.shutdown().await;
}

#[actix_rt::test]
async fn more_than_max_restarts_within_period_escalates() {
    quiet_panics();
    let log = new_log();
    let (a, ra) = probe("a", &log);
    let (b, rb) = probe("b", &log);
    let sup = Supervisor::start(
        SupervisorSpec::new("root", Strategy::OneForOne)
            .intensity(3, Duration::from_secs(60))
            .child(a)
            .child(b),
    )
    .await;
    settle(&sup.addr, &[&ra, &rb]).await;
    for _ in 0..3 {
        exit_and_settle(&sup.addr, &rb, How::Crash, &[&ra, &rb]).await;
    }
    assert!(sup.pid.is_alive(), "three restarts are allowed");
    take(&log);
    rb.live_addr().unwrap().do_send(Crash);
    let reason = sup.wait_exit().await;
    assert!(matches!(reason, ExitReason::Escalated(_)), "got {reason}");
    // The remaining children were stopped in reverse start order: only a was left.
    assert_eq!(take(&log), vec!["stop b", "stop a"]);
    assert!(!ra.pid().unwrap().is_alive());
}

#[actix_rt::test]
async fn restarts_spread_over_longer_than_the_period_do_not_escalate() {
    quiet_panics();
    let log = new_log();
    let (a, ra) = probe("a", &log);
    let sup = Supervisor::start(
        SupervisorSpec::new("root", Strategy::OneForOne)
            .intensity(2, Duration::from_millis(150))
            .child(a),
    )
    .await;
    settle(&sup.addr, &[&ra]).await;
    for _ in 0..6 {
        exit_and_settle(&sup.addr, &ra, How::Crash, &[&ra]).await;
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        sup.pid.is_alive(),
        "6 crashes, never more than 2 within 150 ms"
    );
    assert_eq!(sup.which_children().await.unwrap()[0].restarts, 6);
    sup.shutdown().await;
}

#[actix_rt::test]
async fn a_panicking_child_does_not_stop_its_siblings_or_the_system() {
    quiet_panics();
    let log = new_log();
    let (a, ra) = probe("a", &log);
    let (b, rb) = probe("b", &log);
    let sup = Supervisor::start(spec(Strategy::OneForOne).child(a).child(b)).await;
    settle(&sup.addr, &[&ra, &rb]).await;
    let sibling = ra.live_addr().unwrap();
    sibling.send(Incr).await.unwrap(); // settle's Incr made it 1; now 2
    exit_and_settle(&sup.addr, &rb, How::Crash, &[&rb]).await;
    assert_eq!(
        sibling.send(Incr).await.unwrap(),
        3,
        "the sibling kept its state"
    );
    // An actor outside the tree on the same arbiter still works.
    let (outsider, _pid) =
        stripecast_supervisors::spawn("outsider", |_: &ChildContext| OutsideCounter(0)).unwrap();
    assert_eq!(outsider.send(Bump).await.unwrap(), 1);
    sup.shutdown().await;
}

struct OutsideCounter(u32);
impl Actor for OutsideCounter {
    type Context = Context<Self>;
}
#[derive(Message)]
#[rtype(result = "u32")]
struct Bump;
impl Handler<Bump> for OutsideCounter {
    type Result = u32;
    fn handle(&mut self, _: Bump, _: &mut Context<Self>) -> u32 {
        self.0 += 1;
        self.0
    }
}

#[actix_rt::test]
async fn shutdown_stops_children_in_reverse_start_order() {
    let log = new_log();
    let (a, ra) = probe("a", &log);
    let (b, rb) = probe("b", &log);
    let (c, rc) = probe("c", &log);
    let sup = Supervisor::start(spec(Strategy::OneForOne).child(a).child(b).child(c)).await;
    settle(&sup.addr, &[&ra, &rb, &rc]).await;
    take(&log);
    assert_eq!(sup.shutdown().await, ExitReason::Shutdown);
    assert_eq!(take(&log), vec!["stop c", "stop b", "stop a"]);
    for r in [&ra, &rb, &rc] {
        assert_eq!(r.pid().unwrap().exit_reason(), Some(ExitReason::Shutdown));
    }
}

#[actix_rt::test]
async fn a_child_that_ignores_stop_is_killed_after_its_timeout() {
    let log = new_log();
    let (a, ra) = probe("a", &log);
    let (stubborn, rs) = probe_with("stubborn", &log, true);
    let sup = Supervisor::start(
        spec(Strategy::OneForOne)
            .child(a)
            .child(stubborn.shutdown(Shutdown::Timeout(Duration::from_millis(100)))),
    )
    .await;
    settle(&sup.addr, &[&ra, &rs]).await;
    take(&log);
    let t0 = Instant::now();
    sup.shutdown().await;
    assert!(
        t0.elapsed() >= Duration::from_millis(100),
        "the timeout was honoured"
    );
    assert_eq!(rs.pid().unwrap().exit_reason(), Some(ExitReason::Killed));
    assert_eq!(ra.pid().unwrap().exit_reason(), Some(ExitReason::Shutdown));
    let events = take(&log);
    assert_eq!(events.first().map(String::as_str), Some("refuse stubborn"));
    assert_eq!(
        events.last().map(String::as_str),
        Some("stop a"),
        "a stops after the kill: {events:?}"
    );
    assert!(!events.contains(&"stop stubborn".to_string()), "{events:?}");
}

#[actix_rt::test]
async fn brutal_kill_does_not_wait() {
    let log = new_log();
    let (stubborn, rs) = probe_with("stubborn", &log, true);
    let sup =
        Supervisor::start(spec(Strategy::OneForOne).child(stubborn.shutdown(Shutdown::BrutalKill)))
            .await;
    settle(&sup.addr, &[&rs]).await;
    sup.shutdown().await;
    assert_eq!(rs.pid().unwrap().exit_reason(), Some(ExitReason::Killed));
}

#[actix_rt::test]
async fn an_escalation_from_a_sub_supervisor_is_handled_by_the_parents_strategy() {
    quiet_panics();
    let log = new_log();
    let (x, rx) = probe("x", &log);
    let (y, ry) = probe("y", &log);
    let (z, rz) = probe("z", &log);
    let sub = SupervisorSpec::new("sub", Strategy::OneForOne)
        .intensity(0, Duration::from_secs(60))
        .child(y);
    let (sub_spec, rsub) = ChildSpec::supervisor_with_ref(sub);
    let root = Supervisor::start(spec(Strategy::OneForAll).child(x).child(sub_spec).child(z)).await;
    settle(&root.addr, &[&rx, &ry, &rz]).await;
    take(&log);
    let first_sub = rsub.pid().unwrap();
    ry.live_addr().unwrap().do_send(Crash);
    let reason = first_sub.wait_exit().await;
    assert!(
        matches!(reason, ExitReason::Escalated(_)),
        "sub escalated: {reason}"
    );
    settle(&root.addr, &[&rx, &ry, &rz]).await;
    // sub gave up (y is gone), then root's one_for_all restarted everything in order.
    assert_eq!(
        take(&log),
        vec!["stop y", "stop z", "stop x", "start x", "start y", "start z"]
    );
    let info = root.which_children().await.unwrap();
    assert_eq!(
        info.iter().map(|c| c.restarts).collect::<Vec<_>>(),
        vec![1, 1, 1]
    );
    assert!(info.iter().all(|c| c.status == ChildStatus::Running));
    let tree = root.tree().await.unwrap().to_string();
    assert!(
        tree.contains("sub") && tree.contains("└── z") && tree.contains("y (worker"),
        "{tree}"
    );
    root.shutdown().await;
    assert!(
        !ry.pid().unwrap().is_alive(),
        "grandchildren stop with the tree"
    );
}

#[actix_rt::test]
async fn killing_a_supervisor_takes_its_children_down() {
    let log = new_log();
    let (y, ry) = probe("y", &log);
    let sub = Supervisor::start(spec(Strategy::OneForOne).child(y)).await;
    settle(&sub.addr, &[&ry]).await;
    sub.pid.kill();
    assert_eq!(sub.wait_exit().await, ExitReason::Killed);
    let reason = ry.pid().unwrap().wait_exit().await;
    assert!(
        !ry.pid().unwrap().is_alive(),
        "child outlived its supervisor ({reason})"
    );
}

#[actix_rt::test]
async fn backoff_delays_restarts() {
    quiet_panics();
    let log = new_log();
    let (a, ra) = probe("a", &log);
    let sup = Supervisor::start(spec(Strategy::OneForOne).child(a.backoff(Backoff::new(
        Duration::from_millis(80),
        Duration::from_millis(300),
    ))))
    .await;
    settle(&sup.addr, &[&ra]).await;
    let first = ra.pid().unwrap();
    let t0 = Instant::now();
    ra.live_addr().unwrap().do_send(Crash);
    first.wait_exit().await;
    let info = sup.which_children().await.unwrap();
    assert_eq!(info[0].status, ChildStatus::Restarting);
    while ra.pid().unwrap() == first {
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(80),
        "restarted after {:?}",
        t0.elapsed()
    );
    // The second failure of the streak waits twice as long.
    let second = ra.pid().unwrap();
    settle(&sup.addr, &[&ra]).await;
    let t1 = Instant::now();
    ra.live_addr().unwrap().do_send(Crash);
    second.wait_exit().await;
    while ra.pid().unwrap() == second {
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        t1.elapsed() >= Duration::from_millis(160),
        "restarted after {:?}",
        t1.elapsed()
    );
    sup.shutdown().await;
}

struct Fragile;
impl Actor for Fragile {
    type Context = Context<Self>;
}

#[actix_rt::test]
async fn a_factory_that_panics_is_a_failed_child_not_a_failed_supervisor() {
    quiet_panics();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = attempts.clone();
    let sup = Supervisor::start(
        SupervisorSpec::new("root", Strategy::OneForOne)
            .intensity(2, Duration::from_secs(60))
            .child(ChildSpec::new("fragile", move |_: &ChildContext| {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                panic!("factory fails on purpose");
                #[allow(unreachable_code)]
                Fragile
            })),
    )
    .await;
    let reason = sup.wait_exit().await;
    assert!(
        matches!(reason, ExitReason::Escalated(ref m) if m.contains("start failed")),
        "{reason}"
    );
    assert_eq!(
        attempts.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "first start + 2 restarts"
    );
}

#[actix_rt::test]
async fn a_factory_that_returns_an_error_is_an_abnormal_exit() {
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = attempts.clone();
    let (spec, r) = ChildSpec::try_new_with_ref("opener", move |_: &ChildContext| {
        // Fails twice (say, a disk not yet mounted), then succeeds.
        if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            Err("disk not ready")
        } else {
            Ok(Fragile)
        }
    });
    let sup = Supervisor::start(
        SupervisorSpec::new("root", Strategy::OneForOne)
            .intensity(5, Duration::from_secs(60))
            .child(spec),
    )
    .await;
    while r.live_addr().is_none() {
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 3);
    let info = sup.which_children().await.unwrap();
    assert_eq!(info[0].restarts, 2);
    sup.shutdown().await;
}
