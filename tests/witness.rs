//! The 2-member mirror with its witness (a metadata-only voter): either
//! member down, or the witness down, reads and writes go on, and nothing
//! acknowledged is lost or served wrong when members come and go.

mod common;

use std::time::Duration;

use common::{pattern, Cluster, MemberState, Opts};
use stripecast_actors::gateway::docs::LinkState;

const T: Duration = Duration::from_secs(60);

fn mirror_with_witness() -> Cluster {
    let c = Cluster::start_with(
        2,
        Opts {
            witness: true,
            ..Opts::default()
        },
    );
    c.wait_until("every member sees the witness", T, || {
        (0..2).all(|i| {
            c.cluster_doc(i).and_then(|d| d.witness).map(|w| w.state) == Some(LinkState::Up)
        })
    });
    c
}

/// PUT through member `i`, retried while the cluster settles (503 only).
fn put_eventually(c: &Cluster, i: usize, name: &str, data: &[u8]) {
    c.wait_until(&format!("PUT {name} via {i}"), T, || {
        let (status, body) = c.put(i, name, data);
        assert!(
            status == 201 || status == 503,
            "PUT {name} via {i}: {status} {body}"
        );
        status == 201
    });
}

/// GET through member `i` until 200; every 200 must carry `want`.
fn get_eventually(c: &Cluster, i: usize, name: &str, want: &[u8]) {
    c.wait_until(&format!("GET {name} via {i}"), T, || {
        let (status, got) = c.get(i, name);
        assert!(
            status == 200 || status == 503,
            "GET {name} via {i}: {status}"
        );
        assert!(
            status != 200 || got == want,
            "GET {name} via {i}: wrong bytes"
        );
        status == 200
    });
}

/// Member `i` up and current (nothing left to rebuild) in its own view.
fn wait_current(c: &Cluster, i: usize) {
    c.wait_until(&format!("member {i} current"), T, || {
        c.cluster_doc(i)
            .is_some_and(|d| d.members[i].state == MemberState::Up && d.members[i].dirty == 0)
    });
}

#[test]
fn either_member_down_reads_and_writes_go_on() {
    let mut c = mirror_with_witness();
    let a1 = pattern(200_000, 1);
    assert_eq!(c.put(0, "a", &a1).0, 201);

    // Member 0 down: member 1 and the witness are the majority.
    c.kill(0);
    c.wait_down(&[0], T);
    let a2 = pattern(150_000, 2);
    let b = pattern(90_000, 3);
    put_eventually(&c, 1, "a", &a2);
    put_eventually(&c, 1, "b", &b);
    get_eventually(&c, 1, "a", &a2);
    get_eventually(&c, 1, "b", &b);

    // Member 0 back: it catches up on what it missed, then member 1 goes.
    c.spawn(0);
    c.wait_all_up(T);
    wait_current(&c, 0);
    get_eventually(&c, 0, "a", &a2);
    c.kill(1);
    c.wait_down(&[1], T);
    let d = pattern(120_000, 4);
    put_eventually(&c, 0, "d", &d);
    get_eventually(&c, 0, "a", &a2);
    get_eventually(&c, 0, "b", &b);
    get_eventually(&c, 0, "d", &d);
    assert_eq!(c.delete(0, "b"), 204);
    assert_eq!(c.get(0, "b").0, 404);

    // Member 1 back; then the witness goes: the two members are a majority.
    c.spawn(1);
    c.wait_all_up(T);
    wait_current(&c, 1);
    c.kill_witness();
    let e = pattern(70_000, 5);
    put_eventually(&c, 1, "e", &e);
    for i in 0..2 {
        get_eventually(&c, i, "a", &a2);
        get_eventually(&c, i, "d", &d);
        get_eventually(&c, i, "e", &e);
        assert_eq!(c.get(i, "b").0, 404, "deleted b via {i}");
    }
}

#[test]
fn without_its_witness_a_mirror_with_one_member_down_refuses_writes_with_503() {
    let mut c = Cluster::start(2);
    assert_eq!(c.put(0, "x", &pattern(10_000, 6)).0, 201);
    c.kill(1);
    c.wait_down(&[1], T);
    let (status, body) = c.put(0, "y", &pattern(10_000, 7));
    assert_eq!(status, 503, "{body}");
}
