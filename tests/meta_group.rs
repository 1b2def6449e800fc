//! The metadata Raft group with real member processes: every member runs a
//! replica over the authenticated peer links, they agree on one leader (the
//! active controller), a killed leader is replaced by a new one in a higher
//! term, and a restarted member catches up with the group.

mod common;

use std::time::Duration;

use common::Cluster;
use stripecast_actors::meta::MetaRole;

/// (leader, term, role) as member `i` reports its replica.
fn meta(c: &Cluster, i: usize) -> Option<(u64, u64, MetaRole)> {
    let m = c.cluster_doc(i)?.meta?;
    Some((u64::from(m.leader?.get()), m.term.get(), m.role))
}

/// The leader every member in `members` agrees on, with its term.
fn agreed(c: &Cluster, members: &[usize]) -> Option<(u64, u64)> {
    let views: Vec<(u64, u64, MetaRole)> =
        members.iter().map(|&i| meta(c, i)).collect::<Option<_>>()?;
    let (leader, term, _) = views[0];
    let same = views.iter().all(|(l, t, _)| *l == leader && *t == term);
    let leader_says_so = views
        .iter()
        .zip(members)
        .any(|((_, _, role), &i)| i as u64 == leader && *role == MetaRole::Leader);
    (same && leader_says_so).then_some((leader, term))
}

#[test]
fn members_agree_on_a_leader_and_replace_a_killed_one() {
    let mut c = Cluster::start(3);
    let all = [0, 1, 2];
    c.wait_until("one leader all agree on", Duration::from_secs(20), || {
        agreed(&c, &all).is_some()
    });
    let (leader, term) = agreed(&c, &all).unwrap();
    let leader = leader as usize;
    c.kill(leader);
    let rest: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    c.wait_until("a new leader", Duration::from_secs(20), || {
        agreed(&c, &rest).is_some_and(|(l, t)| l as usize != leader && t > term)
    });
    let (new_leader, new_term) = agreed(&c, &rest).unwrap();
    // The old leader comes back as a follower of the new one and catches up.
    c.spawn(leader);
    c.wait_until("the old leader follows", Duration::from_secs(20), || {
        agreed(&c, &all).is_some_and(|(l, t)| l == new_leader && t >= new_term)
    });
    let commits: Vec<u64> = all
        .iter()
        .map(|&i| c.cluster_doc(i).unwrap().meta.unwrap().applied_index.get())
        .collect();
    assert!(commits.iter().all(|&a| a > 0), "{commits:?}");
}
