//! Three replicas on their own threads, wired by in-process "links" that a
//! test can cut: proposals answer once applied, reads are linearizable, an
//! isolated member acknowledges nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::*;
use stripecast_config::MemberId;

#[derive(Clone, Default)]
struct Links {
    handles: Arc<RwLock<BTreeMap<MemberId, MetaHandle>>>,
    cut: Arc<RwLock<BTreeSet<MemberId>>>,
}

struct Group {
    _dirs: Vec<tempfile::TempDir>,
    links: Links,
}

impl Group {
    fn start(n: u32) -> Group {
        let links = Links::default();
        let members: Vec<MemberId> = (0..n).map(MemberId::new).collect();
        let mut dirs = Vec::new();
        for m in (0..n).map(MemberId::new) {
            let dir = tempfile::tempdir().unwrap();
            let db = stripecast_persistence::DurableDb::open(dir.path().join("meta")).unwrap();
            dirs.push(dir);
            let l = links.clone();
            let send: Sender = Arc::new(move |to, msg| {
                let cut = l.cut.read().unwrap();
                if cut.contains(&m) || cut.contains(&to) {
                    return;
                }
                if let Some(h) = l.handles.read().unwrap().get(&to) {
                    h.step(m, msg);
                }
            });
            let h = MetaHandle::start(
                m,
                members.clone(),
                db,
                MetaConfig::default(),
                Duration::from_millis(10),
                send,
                None,
            )
            .unwrap();
            links.handles.write().unwrap().insert(m, h);
        }
        Group { _dirs: dirs, links }
    }

    fn handle(&self, m: MemberId) -> MetaHandle {
        self.links.handles.read().unwrap()[&m].clone()
    }

    async fn leader(&self) -> MemberId {
        for _ in 0..500 {
            let leaders: Vec<MemberId> = self
                .links
                .handles
                .read()
                .unwrap()
                .iter()
                .filter(|(m, h)| {
                    h.status().role == crate::meta::MetaRole::Leader
                        && !self.links.cut.read().unwrap().contains(m)
                })
                .map(|(m, _)| *m)
                .collect();
            if leaders.len() == 1 {
                return leaders[0];
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no leader");
    }

    fn stop(self) {
        let handles = std::mem::take(&mut *self.links.handles.write().unwrap());
        for (_, h) in handles {
            h.stop();
        }
    }
}

use crate::meta::test_record as record;

/// Reserves incarnations 1..=4 for `member` and commits `name` at
/// incarnation 2, through `h` (acknowledged: applied on that member).
async fn reserve_and_commit(h: &MetaHandle, member: MemberId, name: &str) {
    let got = h.propose(MetaCommand::Reserve { member, count: 4 }).await;
    assert_eq!(
        got,
        Ok(Applied::Reserved {
            first: stripecast_persistence::Incarnation::new(1),
            count: 4
        })
    );
    let got = h
        .propose(MetaCommand::Commit {
            record: record(name, stripecast_persistence::Incarnation::new(2)),
            missing: vec![],
            attrs: None,
            bucket: None,
        })
        .await;
    assert_eq!(got, Ok(Applied::Committed { replaced: None }));
}

#[tokio::test]
async fn proposals_answer_when_applied_and_reads_see_them_everywhere() {
    let g = Group::start(3);
    let leader = g.leader().await;
    let follower = MemberId::new((leader.get() + 1) % 3);
    reserve_and_commit(&g.handle(follower), follower, "a").await;
    // Acknowledged on the follower: a read on any member sees it at once.
    for m in 0..3 {
        let inc = g
            .handle(MemberId::new(m))
            .read(|s| s.objects.get("a").map(|r| r.incarnation))
            .await;
        assert_eq!(
            inc,
            Ok(Some(stripecast_persistence::Incarnation::new(2))),
            "member {m}"
        );
    }
    g.stop();
}

#[tokio::test]
async fn an_isolated_member_acknowledges_nothing() {
    let g = Group::start(3);
    let leader = g.leader().await;
    g.handle(leader)
        .propose(MetaCommand::Reserve {
            member: leader,
            count: 4,
        })
        .await
        .unwrap();
    // Cut the leader off: it may still believe it leads for a moment, but
    // neither a proposal nor a read can complete through it.
    g.links.cut.write().unwrap().insert(leader);
    let isolated = g.handle(leader);
    let p = isolated.propose(MetaCommand::Commit {
        record: record("x", stripecast_persistence::Incarnation::new(1)),
        missing: vec![],
        attrs: None,
        bucket: None,
    });
    let r = isolated.read(|s| s.objects.len());
    let (p, r) = tokio::join!(p, r);
    assert!(
        matches!(p, Err(WaitError::Timeout | WaitError::Refused(_))),
        "{p:?}"
    );
    assert!(matches!(r, Err(WaitError::Timeout)), "{r:?}");
    // The majority elects another leader and goes on.
    let new = g.leader().await;
    assert_ne!(new, leader);
    let got = g
        .handle(new)
        .propose(MetaCommand::Commit {
            record: record("y", stripecast_persistence::Incarnation::new(2)),
            missing: vec![leader],
            attrs: None,
            bucket: None,
        })
        .await;
    assert_eq!(got, Ok(Applied::Committed { replaced: None }));
    let seen = g
        .handle(new)
        .read(|s| (s.objects.contains_key("x"), s.objects.contains_key("y")))
        .await;
    assert_eq!(seen, Ok((false, true)));
    g.stop();
}

#[tokio::test]
async fn concurrent_reads_share_read_index_requests() {
    let g = Group::start(3);
    let leader = g.leader().await;
    let follower = MemberId::new((leader.get() + 1) % 3);
    reserve_and_commit(&g.handle(leader), leader, "v").await;
    let h = g.handle(follower);
    let before = h.status().read_index_requests;
    const READS: usize = 1000;
    let reads = (0..READS).map(|_| {
        let h = h.clone();
        async move { h.read(|s| s.objects.get("v").map(|r| r.incarnation)).await }
    });
    let got = futures::future::join_all(reads).await;
    // Every read answers, and sees the committed write.
    assert!(
        got.iter()
            .all(|r| *r == Ok(Some(stripecast_persistence::Incarnation::new(2)))),
        "{:?}",
        got.iter()
            .find(|r| **r != Ok(Some(stripecast_persistence::Incarnation::new(2))))
    );
    // ... through far fewer read-index rounds than reads (one per turn of
    // the replica's loop, which takes up to READY_BATCH_EVENTS at once).
    let sent = h.status().read_index_requests - before;
    assert!(sent >= 1);
    assert!(
        sent * 10 <= READS as u64,
        "{sent} read-index requests for {READS} reads"
    );
    g.stop();
}
