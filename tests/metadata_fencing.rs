//! Fencing by the metadata group's term: a member that was stopped for
//! longer than an election, or cut off, gets nothing acknowledged and
//! serves nothing until it has caught up with what the group committed.

mod common;

use std::time::Duration;

use common::{pattern, Cluster};
use nix::sys::signal::Signal;
use stripecast_actors::meta::MetaStatus;

const T: Duration = Duration::from_secs(30);

/// What member `i` reports of its metadata replica.
fn meta(c: &Cluster, i: usize) -> Option<MetaStatus> {
    c.cluster_doc(i)?.meta
}

fn leader_of(c: &Cluster, i: usize) -> Option<u64> {
    meta(c, i)?.leader.map(|l| u64::from(l.get()))
}

fn term(c: &Cluster, i: usize) -> Option<u64> {
    Some(meta(c, i)?.term.get())
}

/// The member every member names as leader, once they agree.
fn agreed_leader(c: &Cluster) -> usize {
    let mut leader = None;
    c.wait_until("one leader named by every member", T, || {
        let named: Vec<Option<u64>> = (0..c.n()).map(|i| leader_of(c, i)).collect();
        leader = named[0];
        leader.is_some() && named.iter().all(|l| *l == leader)
    });
    leader.map(|l| l as usize).unwrap_or(0)
}

#[test]
fn a_leader_resumed_from_sigstop_serves_and_acknowledges_nothing_stale() {
    let c = Cluster::start(3);
    let v1 = pattern(100_000, 1);
    let v2 = pattern(100_000, 2);
    assert_eq!(c.put(0, "x", &v1).0, 201);
    let old = agreed_leader(&c);
    let term_before = term(&c, old).unwrap();
    c.signal(old, Signal::SIGSTOP);
    // Longer than an election (0.5-1 s) and than failure detection.
    let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    c.wait_until("a new leader among the others", T, || {
        others.iter().all(|&i| {
            leader_of(&c, i).is_some_and(|l| l as usize != old)
                && term(&c, i).is_some_and(|t| t > term_before)
        })
    });
    let (status, body) = c.put(others[0], "x", &v2);
    assert_eq!(status, 201, "{body}");
    c.signal(old, Signal::SIGCONT);
    // At once, before it can have heard anything: the old leader must not
    // answer from what it knew (v1), nor acknowledge a write ordered before v2.
    let (status, got) = c.get(old, "x");
    assert!(
        status == 503 || (status == 200 && got == v2),
        "resumed leader answered {status} with {} bytes of the {}",
        got.len(),
        if got == v1 {
            "OLD version"
        } else {
            "wrong bytes"
        }
    );
    let v3 = pattern(100_000, 3);
    let (status, _) = c.put(old, "x", &v3);
    assert!(
        status == 201 || status == 503,
        "PUT via the resumed member: {status}"
    );
    let expect = if status == 201 { &v3 } else { &v2 };
    // A 503 is allowed while the members' views of each other settle (the
    // resumed member may hold a fragment that another still thinks is on a
    // down member); any 200 must carry the acknowledged bytes.
    for i in 0..3 {
        c.wait_until(&format!("GET via {i} answers 200"), T, || {
            let (s, got) = c.get(i, "x");
            assert!(
                s == 200 || s == 503,
                "GET via {i} after the resumed member's PUT: {s}"
            );
            assert!(
                s != 200 || got == *expect,
                "GET via {i} after the resumed member's PUT ({status}) served wrong bytes"
            );
            s == 200
        });
    }
    let term_after = term(&c, old).unwrap();
    assert!(term_after > term_before, "it caught up with the new term");
}

#[test]
fn a_member_cut_off_from_everyone_answers_503_not_its_own_catalog() {
    let c = Cluster::start(3);
    let v1 = pattern(70_000, 4);
    let v2 = pattern(70_000, 5);
    assert_eq!(c.put(0, "y", &v1).0, 201);
    let cut = 2;
    c.isolate(cut, true);
    c.wait_down(&[cut], T);
    assert_eq!(c.put(0, "y", &v2).0, 201);
    // Member 2 still has v1 in its catalog and its fragments on disk.
    let (status, got) = c.get(cut, "y");
    assert!(
        status == 503 && got != v1,
        "the cut-off member answered {status} ({})",
        if got == v1 {
            "the OLD version"
        } else {
            "no stale bytes"
        }
    );
    assert_eq!(c.put(cut, "y", &pattern(10, 6)).0, 503);
    c.isolate(cut, false);
    c.wait_until("healed and current", T, || {
        let (s, got) = c.get(cut, "y");
        s == 200 && got == v2
    });
}

fn volume(c: &Cluster, i: usize) -> Option<(u64, Vec<u64>)> {
    let m = c.cluster_doc(i)?.meta?;
    let down: Vec<u64> = m.volume_down.iter().map(|&d| u64::from(d.get())).collect();
    Some((u64::from(m.volume_incarnation.get()), down))
}

/// The controller's step (advance the volume when members go down) is in
/// the log; the leader dying in the middle of it leaves the next leader to
/// finish it, once: the recorded down set ends right and the incarnation
/// rises once per loss, not once per leader or per retry.
#[test]
fn a_new_leader_finishes_the_dead_leaders_controller_step_once() {
    let mut c = Cluster::start(5);
    assert_eq!(c.put(0, "v", &pattern(1000, 9)).0, 201);
    let leader = agreed_leader(&c);
    let victim = (leader + 1) % 5;
    let watcher = (leader + 2) % 5;
    // A new volume's HomeBlocks start at incarnation 1 without a log entry
    // (the group's stays 0 until its first step); a step goes from the
    // larger of the two.
    let (recorded, _) = volume(&c, watcher).expect("volume state");
    let own = u64::from(c.cluster_doc(watcher).unwrap().incarnation.get());
    let before = recorded.max(own);
    // The member loss that starts the step, and its leader, at once.
    c.kill(victim);
    c.kill(leader);
    let mut want = vec![leader as u64, victim as u64];
    want.sort_unstable();
    c.wait_until("the next leader recorded both losses", T, || {
        volume(&c, watcher).is_some_and(|(_, down)| down == want)
    });
    let (after, _) = volume(&c, watcher).unwrap();
    assert!(
        (before + 1..=before + 2).contains(&after),
        "two losses: one or two steps (the dead leader's, if it got in), got {before} -> {after}"
    );
    // Finished means finished: no step repeats while nothing changes.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(volume(&c, watcher).unwrap(), (after, want.clone()));
    // Both back: the down set empties, the incarnation stays.
    c.spawn(victim);
    c.spawn(leader);
    c.wait_until("members back recorded", T, || {
        volume(&c, watcher).is_some_and(|(_, down)| down.is_empty())
    });
    assert_eq!(volume(&c, watcher).unwrap().0, after);
    let hb = u64::from(c.cluster_doc(watcher).unwrap().incarnation.get());
    assert_eq!(hb, after, "the HomeBlock took the volume incarnation");
}
