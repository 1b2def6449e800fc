//! The metadata group over a simulated network: every member a real
//! `MetaNode` on its own sled database, messages delivered (or dropped by a
//! partition) by the test, time advanced tick by tick.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::*;
use stripecast_config::MemberId;

struct Net {
    dirs: Vec<tempfile::TempDir>,
    nodes: BTreeMap<u32, MetaNode>,
    queue: VecDeque<(u32, u32, Vec<u8>)>,
    /// Members cut off from everyone else.
    cut: BTreeSet<u32>,
    applied: BTreeMap<u32, Vec<AppliedEntry>>,
    cfg: MetaConfig,
    members: Vec<u32>,
}

impl Net {
    fn new(n: u32, cfg: MetaConfig) -> Net {
        let members: Vec<u32> = (0..n).collect();
        let mut net = Net {
            dirs: (0..n).map(|_| tempfile::tempdir().unwrap()).collect(),
            nodes: BTreeMap::new(),
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            applied: BTreeMap::new(),
            cfg,
            members,
        };
        for m in 0..n {
            net.start(m);
        }
        net
    }

    fn start(&mut self, m: u32) {
        let db = stripecast_persistence::DurableDb::open(self.dirs[m as usize].path().join("meta"))
            .unwrap();
        let members: Vec<MemberId> = self.members.iter().copied().map(MemberId::new).collect();
        let node = MetaNode::open(MemberId::new(m), &members, &db, &self.cfg).unwrap();
        self.nodes.insert(m, node);
    }

    fn crash(&mut self, m: u32) {
        self.nodes.remove(&m);
        self.queue.retain(|(_, to, _)| *to != m);
    }

    fn pump(&mut self) {
        for _ in 0..1000 {
            let ids: Vec<u32> = self.nodes.keys().copied().collect();
            for id in ids {
                let out = self.nodes.get_mut(&id).unwrap().ready().unwrap();
                for (to, msg) in out.messages {
                    self.queue.push_back((id, to.get(), msg));
                }
                self.applied.entry(id).or_default().extend(out.applied);
            }
            let Some((from, to, msg)) = self.queue.pop_front() else {
                return;
            };
            if self.cut.contains(&from) || self.cut.contains(&to) {
                continue;
            }
            if let Some(node) = self.nodes.get_mut(&to) {
                node.step(MemberId::new(from), &msg).unwrap();
            }
        }
    }

    fn tick(&mut self, n: usize) {
        for _ in 0..n {
            for node in self.nodes.values_mut() {
                node.tick();
            }
            self.pump();
        }
    }

    fn leader(&self) -> Option<u32> {
        let leaders: Vec<u32> = self
            .nodes
            .values()
            .filter(|n| n.is_leader() && !self.cut.contains(&n.me().get()))
            .map(|n| n.me().get())
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    fn elect(&mut self) -> u32 {
        for _ in 0..100 {
            self.tick(1);
            if let Some(l) = self.leader() {
                return l;
            }
        }
        panic!("no leader elected");
    }

    fn propose(&mut self, at: u32, cmd: MetaCommand) -> ProposalId {
        let id = self.nodes.get_mut(&at).unwrap().propose(&cmd).unwrap();
        self.pump();
        id
    }

    /// The result of proposal `id`, once applied on its proposer.
    fn result(&self, id: ProposalId) -> Option<Applied> {
        self.applied
            .get(&id.member.get())?
            .iter()
            .find(|a| a.proposal == Some(id))
            .map(|a| a.result.clone())
    }
}

use crate::meta::test_record as record;

/// Proposes a `Reserve` of one incarnation at `at`, then lets a tick pass.
fn reserve_one(net: &mut Net, at: u32) {
    net.propose(
        at,
        MetaCommand::Reserve {
            member: MemberId::new(0),
            count: 1,
        },
    );
    net.tick(1);
}

/// Three members with a leader that has committed one `Reserve` of `count`.
fn group_with_one_entry(count: u32) -> (Net, u32) {
    let mut net = Net::new(3, MetaConfig::default());
    let leader = net.elect();
    net.propose(
        leader,
        MetaCommand::Reserve {
            member: MemberId::new(0),
            count,
        },
    );
    net.tick(3);
    (net, leader)
}

#[test]
fn a_leader_is_elected_and_every_member_applies_the_same_log() {
    let mut net = Net::new(3, MetaConfig::default());
    let leader = net.elect();
    let follower = (leader + 1) % 3;
    // A proposal on a follower is forwarded to the leader.
    let r = net.propose(
        follower,
        MetaCommand::Reserve {
            member: MemberId::new(follower),
            count: 5,
        },
    );
    net.tick(3);
    assert_eq!(
        net.result(r),
        Some(Applied::Reserved {
            first: stripecast_persistence::Incarnation::new(1),
            count: 5
        })
    );
    let c = net.propose(
        leader,
        MetaCommand::Commit {
            record: record("a", stripecast_persistence::Incarnation::new(2)),
            missing: vec![],
            attrs: None,
            bucket: None,
        },
    );
    net.tick(3);
    assert_eq!(net.result(c), Some(Applied::Committed { replaced: None }));
    let states: Vec<&MetaState> = net.nodes.values().map(|n| n.state()).collect();
    assert!(states.windows(2).all(|w| w[0] == w[1]), "{states:?}");
    assert_eq!(
        states[0].objects["a"].incarnation,
        stripecast_persistence::Incarnation::new(2)
    );
}

#[test]
fn an_isolated_leader_commits_nothing_and_the_majority_goes_on() {
    let mut net = Net::new(3, MetaConfig::default());
    let old = net.elect();
    let old_term = net.nodes[&old].term();
    net.cut.insert(old);
    // The deposed leader accepts a proposal but can never commit it.
    let lost = net.propose(
        old,
        MetaCommand::Reserve {
            member: MemberId::new(old),
            count: 7,
        },
    );
    let new = net.elect();
    assert_ne!(new, old);
    assert!(net.nodes[&new].term() > old_term);
    let won = net.propose(
        new,
        MetaCommand::Reserve {
            member: MemberId::new(new),
            count: 3,
        },
    );
    net.tick(5);
    assert_eq!(
        net.result(won),
        Some(Applied::Reserved {
            first: stripecast_persistence::Incarnation::new(1),
            count: 3
        })
    );
    assert_eq!(net.result(lost), None);
    // Healed, the old leader steps down, drops its entry and catches up.
    net.cut.clear();
    net.tick(30);
    assert_eq!(net.result(lost), None);
    assert!(!net.nodes[&old].is_leader() || net.leader() == Some(old));
    let states: Vec<&MetaState> = net.nodes.values().map(|n| n.state()).collect();
    assert!(
        states
            .iter()
            .all(|s| s.next_incarnation == stripecast_persistence::Incarnation::new(4)),
        "{states:?}"
    );
}

#[test]
fn a_restarted_member_recovers_its_state_from_sled_and_catches_up() {
    let (mut net, leader) = group_with_one_entry(10);
    let victim = (leader + 1) % 3;
    net.crash(victim);
    for i in 1..=5 {
        net.propose(
            leader,
            MetaCommand::Commit {
                record: record(
                    &format!("o{i}"),
                    stripecast_persistence::Incarnation::new(i),
                ),
                missing: vec![MemberId::new(victim)],
                attrs: None,
                bucket: None,
            },
        );
    }
    net.tick(3);
    net.start(victim);
    net.tick(20);
    let want = net.nodes[&leader].state().clone();
    assert_eq!(want.objects.len(), 5);
    assert_eq!(net.nodes[&victim].state(), &want);
    assert_eq!(want.dirty[&MemberId::new(victim)].len(), 5);
}

#[test]
fn a_member_that_fell_behind_a_compaction_gets_a_snapshot() {
    let cfg = MetaConfig {
        compact_every_entries: 4,
        ..MetaConfig::default()
    };
    let mut net = Net::new(3, cfg);
    let leader = net.elect();
    let lagging = (leader + 2) % 3;
    net.cut.insert(lagging);
    for _ in 0..12 {
        reserve_one(&mut net, leader);
    }
    net.tick(3);
    let first = raft::Storage::first_index(&net.nodes[&leader].storage).unwrap();
    assert!(
        first > 4,
        "the leader compacted its log (first index {first})"
    );
    net.cut.clear();
    net.tick(30);
    let want = net.nodes[&leader].state().clone();
    assert_eq!(
        want.next_incarnation,
        stripecast_persistence::Incarnation::new(13)
    );
    assert_eq!(net.nodes[&lagging].state(), &want);
    // And it survives a restart from that snapshot.
    net.crash(lagging);
    net.start(lagging);
    net.tick(10);
    assert_eq!(
        net.nodes[&lagging].state().next_incarnation,
        stripecast_persistence::Incarnation::new(13)
    );
}

#[test]
fn garbage_from_a_peer_is_an_error_not_a_panic() {
    let mut net = Net::new(3, MetaConfig::default());
    let node = net.nodes.get_mut(&0).unwrap();
    assert!(matches!(
        node.step(MemberId::new(1), b"\xff\xff\xff garbage"),
        Err(MetaError::BadMessage(_))
    ));
}

#[test]
fn forged_and_stale_messages_change_nothing() {
    use crate::testing::{stale_raft_message, StaleRaft};
    let mut net = Net::new(3, MetaConfig::default());
    let leader = net.elect();
    // A second election, so a stale term above 0 exists.
    net.cut.insert(leader);
    net.tick(40);
    net.cut.clear();
    let leader = net.elect();
    let term = net.nodes[&leader].term().get();
    assert!(term >= 2, "term {term}");
    let r = net.propose(
        leader,
        MetaCommand::Reserve {
            member: MemberId::new(0),
            count: 4,
        },
    );
    net.tick(2);
    assert!(net.result(r).is_some());
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let before = net.nodes[&follower].state().clone();
    let forged = StaleRaft::Append {
        command: MetaCommand::Commit {
            record: record("x", stripecast_persistence::Incarnation::new(1)),
            missing: vec![],
            attrs: None,
            bucket: None,
        },
        index: before.applied_index.get(),
    };
    for kind in [forged, StaleRaft::Vote, StaleRaft::Heartbeat] {
        // Term 0 would skip raft's term check: refused outright.
        let msg =
            stale_raft_message(&kind, MemberId::new(other), MemberId::new(follower), 0).unwrap();
        let node = net.nodes.get_mut(&follower).unwrap();
        assert!(matches!(
            node.step(MemberId::new(other), &msg),
            Err(MetaError::BadMessage(_))
        ));
        // Addressed to another member, or claiming to come from this one: refused.
        let msg = stale_raft_message(&kind, MemberId::new(other), MemberId::new(leader), term + 5)
            .unwrap();
        assert!(matches!(
            node.step(MemberId::new(other), &msg),
            Err(MetaError::BadMessage(_))
        ));
        let msg = stale_raft_message(
            &kind,
            MemberId::new(follower),
            MemberId::new(follower),
            term + 5,
        )
        .unwrap();
        assert!(matches!(
            node.step(MemberId::new(other), &msg),
            Err(MetaError::BadMessage(_))
        ));
        // A deposed member's message (an older term): stepped and ignored.
        let msg = stale_raft_message(
            &kind,
            MemberId::new(other),
            MemberId::new(follower),
            term - 1,
        )
        .unwrap();
        node.step(MemberId::new(other), &msg).unwrap();
        net.pump();
    }
    net.tick(5);
    let after = net.nodes[&follower].state();
    assert_eq!(after.objects, before.objects);
    assert!(after.objects.is_empty());
    assert_eq!(net.nodes[&follower].term().get(), term);
    assert_eq!(net.leader(), Some(leader));
}

#[test]
fn a_member_whose_disk_was_replaced_catches_up_without_a_panic() {
    let mut net = Net::new(3, MetaConfig::default());
    let leader = net.elect();
    let wiped = (leader + 1) % 3;
    for _ in 0..5 {
        net.propose(
            leader,
            MetaCommand::Reserve {
                member: MemberId::new(0),
                count: 2,
            },
        );
    }
    net.tick(5);
    assert_eq!(
        net.nodes[&wiped].state().next_incarnation,
        stripecast_persistence::Incarnation::new(11)
    );
    net.crash(wiped);
    net.dirs[wiped as usize] = tempfile::tempdir().unwrap();
    net.start(wiped);
    net.tick(30);
    assert_eq!(net.leader(), Some(leader));
    net.propose(
        leader,
        MetaCommand::Reserve {
            member: MemberId::new(0),
            count: 2,
        },
    );
    net.tick(10);
    assert_eq!(
        net.nodes[&wiped].state().next_incarnation,
        stripecast_persistence::Incarnation::new(13)
    );
    assert_eq!(net.nodes[&wiped].state(), net.nodes[&leader].state());
}

#[test]
fn an_empty_replica_votes_for_no_candidate_with_a_log() {
    use protobuf::Message as _;
    let (mut net, leader) = group_with_one_entry(2);
    let wiped = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    net.crash(wiped);
    net.dirs[wiped as usize] = tempfile::tempdir().unwrap();
    net.start(wiped);
    let node = net.nodes.get_mut(&wiped).unwrap();
    let before = node.raw.raft.vote;
    let mut vote = raft::eraftpb::Message {
        from: raft_id(MemberId::new(other)),
        to: raft_id(MemberId::new(wiped)),
        term: 50,
        index: 7,
        log_term: 3,
        ..Default::default()
    };
    vote.set_msg_type(MessageType::MsgRequestVote);
    node.step(MemberId::new(other), &vote.write_to_bytes().unwrap())
        .unwrap();
    assert_eq!(node.raw.raft.vote, before, "no vote granted");
    assert_eq!(node.term(), Term::new(0), "not even the term moved");
    // Malformed forwarded messages are refused, not a panic.
    let mut prop = raft::eraftpb::Message {
        from: raft_id(MemberId::new(other)),
        to: raft_id(MemberId::new(wiped)),
        ..Default::default()
    };
    prop.set_msg_type(MessageType::MsgPropose);
    assert!(matches!(
        node.step(MemberId::new(other), &prop.write_to_bytes().unwrap()),
        Err(MetaError::BadMessage(_))
    ));
    prop.set_msg_type(MessageType::MsgReadIndex);
    assert!(matches!(
        node.step(MemberId::new(other), &prop.write_to_bytes().unwrap()),
        Err(MetaError::BadMessage(_))
    ));
}

#[test]
fn a_witness_hands_leadership_to_the_member_furthest_along() {
    assert_eq!(
        hand_over_to(&[
            (MemberId::new(0), 5, true),
            (MemberId::new(1), 9, true),
            (MemberId::new(3), 9, true)
        ]),
        Some(MemberId::new(1))
    );
    assert_eq!(
        hand_over_to(&[(MemberId::new(0), 5, true), (MemberId::new(1), 9, false)]),
        Some(MemberId::new(0))
    );
    assert_eq!(hand_over_to(&[(MemberId::new(0), 5, false)]), None);
    assert_eq!(hand_over_to(&[]), None);
}

/// The mirror's group: members 0 and 1 and witness 2. The witness may hold
/// the only complete log besides a dead member's; it is elected, brings
/// the other member up to date and hands leadership to it.
#[test]
fn a_witness_elected_with_the_most_complete_log_hands_over_to_a_member() {
    let cfg = MetaConfig {
        witness: Some(MemberId::new(2)),
        ..MetaConfig::default()
    };
    let mut net = Net::new(3, cfg);
    net.elect();
    net.tick(30);
    // Member 1 misses an entry that 0 and the witness commit (it has the
    // log up to there: an empty replica would refuse every vote).
    net.cut.insert(1);
    let leader = loop {
        let l = net.elect();
        if l == 0 {
            break l;
        }
        // The witness hands over to 0, the only member it reaches.
        net.tick(1);
    };
    let id = net.propose(
        leader,
        MetaCommand::Reserve {
            member: MemberId::new(0),
            count: 5,
        },
    );
    net.tick(3);
    assert_eq!(
        net.result(id),
        Some(Applied::Reserved {
            first: stripecast_persistence::Incarnation::new(1),
            count: 5
        })
    );
    // 0 dies; 1 comes back behind the witness, which refuses it its vote.
    net.crash(0);
    net.cut.clear();
    let mut led_by_member = false;
    for _ in 0..400 {
        net.tick(1);
        if net.leader() == Some(1) {
            led_by_member = true;
            break;
        }
    }
    assert!(led_by_member, "member 1 never took over from the witness");
    // It applies the entry once it commits one of its own term (how many
    // ticks that takes depends on raft's randomized timeouts).
    for _ in 0..100 {
        if net.nodes[&1].state().next_incarnation == stripecast_persistence::Incarnation::new(6) {
            break;
        }
        net.tick(1);
    }
    assert_eq!(
        net.nodes[&1].state().next_incarnation,
        stripecast_persistence::Incarnation::new(6),
        "it has the entry"
    );
    // And it goes on committing with the witness alone.
    let next = net.propose(
        1,
        MetaCommand::Reserve {
            member: MemberId::new(1),
            count: 1,
        },
    );
    net.tick(3);
    assert_eq!(
        net.result(next),
        Some(Applied::Reserved {
            first: stripecast_persistence::Incarnation::new(6),
            count: 1
        })
    );
}

#[test]
fn snapshots_are_spaced_by_the_size_of_the_state() {
    use super::compaction_due;
    // (entries in the log, objects in the state, every) -> due
    let table = [
        ((9_999, 0, 10_000), false),
        ((10_000, 0, 10_000), true),
        ((10_000, 5_000, 10_000), true),
        ((10_000, 10_001, 10_000), false),
        ((99_999, 100_000, 10_000), false),
        ((100_000, 100_000, 10_000), true),
        ((1, 0, 0), true),
        ((0, 0, 0), false),
    ];
    for ((entries, objects, every), due) in table {
        assert_eq!(
            compaction_due(entries, objects, every),
            due,
            "{entries} entries, {objects} objects, every {every}"
        );
    }
}

/// An applier whose writes are durable only once `persist` is called:
/// what a crash loses is `volatile`.
#[derive(Clone, Default)]
struct LazyMirror {
    durable: std::sync::Arc<std::sync::Mutex<BTreeSet<u64>>>,
    volatile: std::sync::Arc<std::sync::Mutex<BTreeSet<u64>>>,
}

impl Applier for LazyMirror {
    fn reset(&mut self, state: &MetaState, _: TermAt<'_>) -> Result<(), StoreError> {
        // A snapshot's reconcile is durable at once (as the store's is).
        self.durable
            .lock()
            .unwrap()
            .extend(1..=state.applied_index.get());
        Ok(())
    }

    fn applied(
        &mut self,
        entries: &[AppliedEntry],
        _: &MetaState,
        _: TermAt<'_>,
    ) -> Result<(), StoreError> {
        self.volatile
            .lock()
            .unwrap()
            .extend(entries.iter().map(|e| e.index.get()));
        Ok(())
    }

    fn persist(&mut self) -> Result<(), StoreError> {
        let mut v = self.volatile.lock().unwrap();
        self.durable.lock().unwrap().append(&mut v);
        Ok(())
    }
}

/// The mirror may lag the log (its writes unflushed): whatever it had not
/// made durable when a member crashed is handed to it again after the
/// restart, across compactions, because the log is compacted only after
/// the mirror persisted.
#[test]
fn an_unflushed_mirror_loses_nothing_across_crashes_and_compactions() {
    let cfg = MetaConfig {
        compact_every_entries: 4,
        ..MetaConfig::default()
    };
    let mut net = Net::new(3, cfg);
    let leader = net.elect();
    let follower = (leader + 1) % 3;
    let mut mirror = LazyMirror::default();
    net.nodes
        .get_mut(&follower)
        .unwrap()
        .set_applier(Box::new(mirror.clone()));
    for round in 0..4 {
        for _ in 0..7 {
            reserve_one(&mut net, leader);
        }
        net.tick(3);
        // Crash: what was not persisted is lost.
        net.crash(follower);
        mirror = LazyMirror {
            durable: mirror.durable.clone(),
            volatile: Default::default(),
        };
        net.start(follower);
        net.nodes
            .get_mut(&follower)
            .unwrap()
            .set_applier(Box::new(mirror.clone()));
        net.tick(10);
        let committed: BTreeSet<u64> = net.applied[&leader].iter().map(|e| e.index.get()).collect();
        let seen: BTreeSet<u64> = mirror
            .durable
            .lock()
            .unwrap()
            .union(&mirror.volatile.lock().unwrap())
            .copied()
            .collect();
        let lost: Vec<u64> = committed.difference(&seen).copied().collect();
        assert!(
            lost.is_empty(),
            "round {round}: the mirror lost entries {lost:?}"
        );
    }
    let first = raft::Storage::first_index(&net.nodes[&follower].storage).unwrap();
    assert!(
        first > 8,
        "the follower compacted its log (first index {first})"
    );
}
