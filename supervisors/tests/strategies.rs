//! Each strategy restarts exactly the right children, in the right order, with fresh state.

mod common;

use std::time::Duration;

use common::*;
use stripecast_supervisors::{ChildStatus, Strategy, Supervisor, SupervisorSpec};

async fn three(
    strategy: Strategy,
) -> (
    stripecast_supervisors::SupervisorHandle,
    Log,
    Vec<stripecast_supervisors::ChildRef<Probe>>,
) {
    let log = new_log();
    let (a, ra) = probe("a", &log);
    let (b, rb) = probe("b", &log);
    let (c, rc) = probe("c", &log);
    let sup = Supervisor::start(
        SupervisorSpec::new("root", strategy)
            .intensity(10, Duration::from_secs(60))
            .child(a)
            .child(b)
            .child(c),
    )
    .await;
    settle(&sup.addr, &[&ra, &rb, &rc]).await;
    assert_eq!(take(&log), vec!["start a", "start b", "start c"]);
    (sup, log, vec![ra, rb, rc])
}

#[actix_rt::test]
async fn one_for_one_restarts_only_the_failed_child_with_fresh_state() {
    quiet_panics();
    let (sup, log, r) = three(Strategy::OneForOne).await;
    let (pa, pc) = (r[0].pid().unwrap(), r[2].pid().unwrap());
    for _ in 0..4 {
        r[1].live_addr().unwrap().send(Incr).await.unwrap();
    }
    exit_and_settle(&sup.addr, &r[1], How::Crash, &[&r[0], &r[1], &r[2]]).await;
    // actix runs `stopped` as it drops a panicked actor.
    assert_eq!(take(&log), vec!["stop b", "start b"]);
    assert_eq!(r[0].pid().unwrap(), pa, "a untouched");
    assert_eq!(r[2].pid().unwrap(), pc, "c untouched");
    // settle() sent one Incr to the new b: a fresh counter is now 1, not 6.
    assert_eq!(r[1].live_addr().unwrap().send(Incr).await.unwrap(), 2);
    let info = sup.which_children().await.unwrap();
    assert_eq!(
        info.iter().map(|c| c.restarts).collect::<Vec<_>>(),
        vec![0, 1, 0]
    );
    sup.shutdown().await;
}

#[actix_rt::test]
async fn one_for_all_stops_the_others_in_reverse_then_starts_all_in_order() {
    quiet_panics();
    let (sup, log, r) = three(Strategy::OneForAll).await;
    let old: Vec<_> = r.iter().map(|c| c.pid().unwrap()).collect();
    exit_and_settle(&sup.addr, &r[1], How::Crash, &[&r[0], &r[1], &r[2]]).await;
    assert_eq!(
        take(&log),
        vec!["stop b", "stop c", "stop a", "start a", "start b", "start c"]
    );
    for (c, o) in r.iter().zip(&old) {
        assert_ne!(&c.pid().unwrap(), o, "every child is a new incarnation");
    }
    sup.shutdown().await;
}

#[actix_rt::test]
async fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
    quiet_panics();
    let (sup, log, r) = three(Strategy::RestForOne).await;
    let pa = r[0].pid().unwrap();
    exit_and_settle(&sup.addr, &r[1], How::Fail, &[&r[0], &r[1], &r[2]]).await;
    assert_eq!(take(&log), vec!["stop b", "stop c", "start b", "start c"]);
    assert_eq!(r[0].pid().unwrap(), pa);
    // Failing the first child restarts everything after it.
    exit_and_settle(&sup.addr, &r[0], How::Crash, &[&r[0], &r[1], &r[2]]).await;
    assert_eq!(
        take(&log),
        vec!["stop a", "stop c", "stop b", "start a", "start b", "start c"]
    );
    let info = sup.which_children().await.unwrap();
    assert!(info.iter().all(|c| c.status == ChildStatus::Running));
    assert_eq!(
        info.iter().map(|c| c.restarts).collect::<Vec<_>>(),
        vec![1, 2, 2]
    );
    sup.shutdown().await;
}
