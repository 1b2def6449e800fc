//! The membership actor: subscribers, statuses from heartbeats, and restarts
//! of the actor while link events keep coming.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use common::*;
use stripecast_actors::membership::{link_events, membership_spec, MemberState, Subscribe};
use stripecast_actors::protocol::NodeStatus;
use stripecast_actors::transport::LinkEvent;
use stripecast_config::MemberId;
use stripecast_supervisors::{Backoff, Strategy, Supervisor, SupervisorSpec};

#[actix_rt::test]
async fn heartbeats_carry_each_members_status_into_the_others_views() {
    init_tracing();
    let cfgs = configs(3, fast_timeouts());
    let nodes = start_cluster(&cfgs).await;
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_mesh(&refs, Duration::from_secs(5)).await;
    let status = NodeStatus {
        incarnation: stripecast_persistence::VolumeIncarnation::new(7),
        dirty: true,
        rebuilding: true,
        rebuild_remaining: 42,
        ..NodeStatus::default()
    };
    nodes[1].status.set(status.clone());
    assert!(
        wait_for(Duration::from_secs(2), || {
            nodes[0].view.status(MemberId::new(1)).as_ref() == Some(&status)
                && nodes[2].view.status(MemberId::new(1)).as_ref() == Some(&status)
        })
        .await
    );
    // Subscribers saw the change, and it changed nothing else.
    let last = nodes[2].changes.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.members[1].status, Some(status));
    assert_eq!(last.members[1].state, MemberState::Up);
    for n in &nodes {
        n.sup.shutdown().await;
    }
}

#[actix_rt::test]
async fn a_restarted_membership_actor_gets_the_events_it_missed() {
    init_tracing();
    let cfg = configs(5, fast_timeouts()).remove(2);
    let (spec, membership, view) = membership_spec(&cfg);
    let events = link_events(&membership);
    // A restart delay opens a window in which no incarnation runs.
    let sup = Supervisor::start(
        SupervisorSpec::new("m", Strategy::OneForOne).child(spec.backoff(Backoff::new(
            Duration::from_millis(300),
            Duration::from_millis(300),
        ))),
    )
    .await;
    let changes = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder(changes.clone()).start();
    membership
        .addr()
        .unwrap()
        .send(Subscribe(recorder.recipient()))
        .await
        .unwrap();
    for peer in [0, 1, 3, 4] {
        events.do_send(LinkEvent::Up {
            peer: MemberId::new(peer),
        });
    }
    assert!(
        wait_for(Duration::from_secs(1), || view.live()
            == MemberId::from_numbers([0, 1, 2, 3, 4]))
        .await
    );
    assert!(view.snapshot().has_majority());

    let pid = membership.pid().unwrap();
    pid.kill();
    pid.wait_exit().await;
    // While no incarnation runs, members 0 and 1 go down and 4 reports a status.
    events.do_send(LinkEvent::Down {
        peer: MemberId::new(0),
        reason: "gone".into(),
    });
    events.do_send(LinkEvent::Down {
        peer: MemberId::new(1),
        reason: "gone".into(),
    });
    let status = NodeStatus {
        incarnation: stripecast_persistence::VolumeIncarnation::new(3),
        ..NodeStatus::default()
    };
    events.do_send(LinkEvent::Status {
        peer: MemberId::new(4),
        status: status.clone(),
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        view.live(),
        MemberId::from_numbers([0, 1, 2, 3, 4]),
        "nobody applied them yet"
    );

    assert!(
        wait_for(Duration::from_secs(2), || view.live()
            == MemberId::from_numbers([2, 3, 4]))
        .await
    );
    assert!(view.snapshot().has_majority());
    assert_eq!(view.status(MemberId::new(4)), Some(status));
    // The old subscriber hears of it too, without subscribing again.
    assert!(
        wait_for(Duration::from_secs(1), || {
            changes
                .lock()
                .unwrap()
                .last()
                .is_some_and(|v| v.live() == MemberId::from_numbers([2, 3, 4]))
        })
        .await
    );
    // And the new incarnation keeps following live events.
    events.do_send(LinkEvent::Up {
        peer: MemberId::new(1),
    });
    assert!(
        wait_for(Duration::from_secs(1), || view.live()
            == MemberId::from_numbers([1, 2, 3, 4]))
        .await
    );
    sup.shutdown().await;
}
