//! Ring planner and truth-table tests: hand cases for n = 3, properties for
//! n = 2..9 (every single failure, every mode, chains of failures/returns).

use proptest::prelude::*;

use super::planner::{Direction, FailOutcome, Plan, RingState, SystemState, Walk};
use super::switch_table::{route, selections, Signal};
use stripecast_config::MemberId;

const MODES: [Direction; 3] = [Direction::Up, Direction::Down, Direction::Either];

fn ring(mode: Direction, n: usize) -> RingState {
    RingState::with_feeds(mode, n).expect("n >= 2")
}

fn covered(outcome: FailOutcome) -> Plan {
    match outcome {
        FailOutcome::Covered(plan) => plan,
        other => panic!("expected a plan, got {other:?}"),
    }
}

/// Every invariant that must hold in any reachable state.
fn assert_consistent(r: &RingState) {
    r.check().unwrap_or_else(|e| panic!("{e}: {r:?}"));
    let assignment = r.assignment();
    let coverage = r.coverage();
    // Each covered feed by exactly one live processor, and back.
    for (g, p) in assignment.iter().enumerate() {
        if let Some(p) = *p {
            assert!(r.is_alive(p), "feed {g} on dead {p}");
            assert_eq!(coverage[p], Some(g));
        }
    }
    assert_eq!(
        coverage.iter().flatten().count(),
        assignment.iter().flatten().count()
    );
    // Spares are exactly the live positions covering nothing.
    let live = (0..r.positions()).filter(|&p| r.is_alive(p)).count();
    assert_eq!(r.spares().len(), live - coverage.iter().flatten().count());
    // An uncovered feed has no feasible plan (the planner missed nothing).
    for g in r.uncovered() {
        assert_eq!(r.plan(g), None, "feed {g} left uncovered: {r:?}");
    }
    // At most one dead processor: every feed is covered.
    if live + 1 >= r.positions() {
        assert!(r.uncovered().is_empty(), "uncovered with <= 1 dead: {r:?}");
    }
    // One-direction wiring only ever uses its own direction's state.
    let states = r.states();
    match r.direction() {
        Direction::Up => assert!(!states.contains(&SystemState::FailDown)),
        Direction::Down => assert!(!states.contains(&SystemState::FailUp)),
        Direction::Either => {}
    }
    // The truth table applied to the states routes every signal right.
    for (p, routed) in route(r).iter().enumerate() {
        if let Some(g) = coverage[p] {
            assert_eq!(routed.processor_input, Signal::Net(g), "proc {p}: {r:?}");
        }
        if p < r.feeds() {
            assert_eq!(routed.out.0, Signal::Net(p), "OUT{p} without insert");
            let want = assignment[p].map(|c| Signal::Insert {
                position: c,
                watching: p,
            });
            assert_eq!(routed.out.1, want, "OUT{p} insert: {r:?}");
        }
    }
}

/// The plan must be a walk of adjacent steps ending on the spare.
fn assert_plan_shape(before: &RingState, plan: &Plan) {
    let m = before.positions();
    let step = if plan.walk == Walk::Up { 1 } else { m - 1 };
    let (last, rest) = plan.shifts.split_last().expect("a plan shifts someone");
    assert_eq!(last.from, None, "the spare is used last");
    assert!(
        rest.iter().all(|s| s.from.is_some()),
        "only the last is the spare"
    );
    assert_eq!(plan.shifts[0].to, plan.feed);
    for w in plan.shifts.windows(2) {
        assert_eq!(w[1].position, (w[0].position + step) % m);
        assert_eq!(Some(w[1].to), w[0].from, "each takes the feed handed on");
    }
}

/// Fails `p` and checks the choice against both walks computed separately.
fn fail_checked(r: &mut RingState, p: usize) -> FailOutcome {
    let mut mid = r.clone();
    let feed = if r.is_alive(p) { mid.kill(p) } else { None };
    let outcome = r.fail(p).expect("valid position");
    if let (Some(g), FailOutcome::Covered(plan)) = (feed, &outcome) {
        assert_plan_shape(&mid, plan);
        let len = |w| mid.plan_walk(g, w).map(|pl| pl.shifts.len());
        let (down, up) = (len(Walk::Down), len(Walk::Up));
        let best = down.into_iter().chain(up).min();
        assert_eq!(Some(plan.shifts.len()), best, "fewest shifts");
        if down == up {
            assert_eq!(plan.walk, Walk::Down, "a tie goes down");
        }
    }
    if let (Some(_), FailOutcome::Uncovered { feed: g }) = (feed, &outcome) {
        assert_eq!(mid.plan(*g), None);
    }
    assert_consistent(r);
    outcome
}

fn expect_assignment(mode: Direction, n: usize, f: usize) -> (Vec<Option<usize>>, Walk, usize) {
    let down = (0..n)
        .map(|g| Some(if g <= f { (g + n) % (n + 1) } else { g }))
        .collect();
    let up = (0..n)
        .map(|g| Some(if g >= f { g + 1 } else { g }))
        .collect();
    let (d, u) = (f + 1, n - f);
    match mode {
        Direction::Down => (down, Walk::Down, d),
        Direction::Up => (up, Walk::Up, u),
        Direction::Either if u < d => (up, Walk::Up, u),
        Direction::Either => (down, Walk::Down, d),
    }
}

#[test]
fn n3_single_failures_exact() {
    use Direction::*;
    let s = Some;
    let cases: [(Direction, usize, [Option<usize>; 3], usize); 9] = [
        (Down, 0, [s(3), s(1), s(2)], 1),
        (Down, 1, [s(3), s(0), s(2)], 2),
        (Down, 2, [s(3), s(0), s(1)], 3),
        (Up, 0, [s(1), s(2), s(3)], 3),
        (Up, 1, [s(0), s(2), s(3)], 2),
        (Up, 2, [s(0), s(1), s(3)], 1),
        (Either, 0, [s(3), s(1), s(2)], 1),
        (Either, 1, [s(3), s(0), s(2)], 2), // tie: down
        (Either, 2, [s(0), s(1), s(3)], 1),
    ];
    for (mode, f, want, shifts) in cases {
        let mut r = ring(mode, 3);
        assert_eq!(r.spare(), Some(3));
        let plan = covered(fail_checked(&mut r, f));
        assert_eq!(r.assignment(), want, "{mode:?} fail {f}");
        assert_eq!(plan.shifts.len(), shifts, "{mode:?} fail {f}");
        assert_eq!(r.spare(), None);
    }
}

#[test]
fn n3_states_follow_fig17() {
    use SystemState::*;
    let mut r = ring(Direction::Down, 3);
    assert_eq!(r.states(), [Normal; 4]);
    r.fail(1).expect("valid");
    // 0 serves feed 1 (above), 1's feed is served from below, 3 serves feed 0.
    assert_eq!(r.states(), [FailDown, FailDown, Normal, FailDown]);
    let sel = selections(&r);
    assert_eq!(sel[0].sw, [Some(3), Some(1), Some(1)]);
    assert_eq!(sel[2].sw, [Some(2), None, Some(1)]);
    assert_eq!((sel[1].out_no_insert, sel[1].out_insert), (2, Some(4)));
    assert_eq!(sel[3].out_insert, None, "the spare slot has no output");

    let mut r = ring(Direction::Up, 3);
    r.fail(1).expect("valid");
    assert_eq!(r.states(), [Normal, FailUp, FailUp, FailUp]);
    assert_eq!(selections(&r)[2].out_insert, Some(5));
}

#[test]
fn returning_processor_becomes_the_spare_and_covers_the_next_failure() {
    for mode in MODES {
        let mut r = ring(mode, 3);
        fail_checked(&mut r, 1);
        let before = r.assignment();
        assert_eq!(r.recover(1).expect("valid"), vec![], "nothing shifts back");
        assert_eq!(r.assignment(), before);
        assert_eq!(r.spare(), Some(1));
        assert_consistent(&r);
        // The next failure beside it is covered by it, in one shift.
        let next = before
            .iter()
            .position(|&p| p == Some(if mode == Direction::Up { 2 } else { 0 }));
        let victim = before[next.expect("a neighbour covers a feed")].expect("covered");
        let plan = covered(fail_checked(&mut r, victim));
        assert_eq!(plan.shifts.last().map(|s| s.position), Some(1), "{mode:?}");
        assert!(r.uncovered().is_empty());
    }
    // Either, the example: fail 1, return 1, fail 2 -> 1 takes feed 2.
    let mut r = ring(Direction::Either, 3);
    r.fail(1).expect("valid");
    r.recover(1).expect("valid");
    let plan = covered(fail_checked(&mut r, 2));
    assert_eq!(plan.shifts.len(), 1);
    assert_eq!(r.assignment(), [Some(3), Some(0), Some(1)]);
}

#[test]
fn spare_used_up_leaves_a_feed_uncovered_until_a_return() {
    let mut r = ring(Direction::Either, 3);
    fail_checked(&mut r, 0);
    assert_eq!(fail_checked(&mut r, 2), FailOutcome::Uncovered { feed: 2 });
    let status = r.status();
    assert_eq!(status.feeds[2].system, None);
    assert_eq!(status.uncovered, [2]);
    assert_eq!(status.spare, None);
    // Processor 2 returns: it retakes the feed it anchors.
    let plans = r.recover(2).expect("valid");
    assert_eq!(plans.len(), 1);
    assert_eq!(r.assignment(), [Some(3), Some(1), Some(2)]);
    // Or instead processor 0 returns: it is a spare and the feed is retried.
    let mut r = ring(Direction::Either, 3);
    r.fail(0).expect("valid");
    r.fail(2).expect("valid");
    let plans = r.recover(0).expect("valid");
    assert_eq!(plans.len(), 1);
    assert!(r.uncovered().is_empty());
    assert_consistent(&r);
}

#[test]
fn status_after_a_failure() {
    use crate::planner::{FeedStatus, SystemStatus};
    let feed = |feed, system, member| FeedStatus {
        feed,
        system: Some(system),
        member: Some(member),
    };
    let mut r = RingState::new(
        Direction::Down,
        vec![MemberId::new(10), MemberId::new(11), MemberId::new(12)],
    )
    .expect("2 feeds");
    let s = r.status();
    assert_eq!(s.direction, Direction::Down);
    assert_eq!(s.feeds[0], feed(0, 0, MemberId::new(10)));
    assert_eq!(s.spare, Some(2));
    assert_eq!(
        s.systems[0],
        SystemStatus {
            position: 0,
            member: MemberId::new(10),
            alive: true,
            state: SystemState::Normal,
            covers: Some(0),
        }
    );
    r.fail(1).expect("valid");
    let s = r.status();
    assert_eq!(s.feeds[1], feed(1, 0, MemberId::new(10)));
    assert_eq!(s.feeds[0], feed(0, 2, MemberId::new(12)));
    assert!(!s.systems[1].alive);
    assert_eq!(s.systems[1].state, SystemState::FailDown);
    assert_eq!(s.spare, None);
}

#[test]
fn bad_inputs_are_errors() {
    assert!(RingState::new(Direction::Either, vec![MemberId::new(1), MemberId::new(2)]).is_err());
    assert!(RingState::new(Direction::Either, vec![]).is_err());
    let mut r = ring(Direction::Either, 2);
    assert!(r.fail(3).is_err());
    assert!(r.recover(9).is_err());
    assert_eq!(r.fail(2), Ok(FailOutcome::SpareLost));
    assert_eq!(r.fail(2), Ok(FailOutcome::AlreadyDead));
    assert_eq!(
        serde_json::to_value(Direction::Either).ok(),
        Some("either".into())
    );
    let d: Direction = serde_json::from_str("\"up\"").expect("lowercase");
    assert_eq!(d, Direction::Up);
}

#[test]
fn every_single_failure_every_mode_n2_to_9() {
    for n in 2..=9 {
        for mode in MODES {
            for f in 0..n {
                let mut r = ring(mode, n);
                assert_consistent(&r);
                let plan = covered(fail_checked(&mut r, f));
                let (want, walk, shifts) = expect_assignment(mode, n, f);
                assert_eq!(r.assignment(), want, "n={n} {mode:?} f={f}");
                assert_eq!(
                    (plan.walk, plan.shifts.len()),
                    (walk, shifts),
                    "n={n} {mode:?} f={f}"
                );
                // Returning: becomes the spare, nothing moves.
                r.recover(f).expect("valid");
                assert_eq!(r.assignment(), want);
                assert_eq!(r.spares(), vec![f]);
                assert_consistent(&r);
            }
            // Failing the spare itself shifts nothing.
            let mut r = ring(mode, n);
            assert_eq!(fail_checked(&mut r, n), FailOutcome::SpareLost);
            assert_eq!(r.assignment(), (0..n).map(Some).collect::<Vec<_>>());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Chains of failures and returns keep every invariant; whenever at most
    /// one processor is down every feed is covered.
    #[test]
    fn chains_of_failures_and_returns(
        n in 2usize..=9,
        mode in prop::sample::select(MODES.to_vec()),
        ops in prop::collection::vec((any::<bool>(), 0usize..10), 1..40),
    ) {
        let mut r = ring(mode, n);
        for (fail, p) in ops {
            let p = p % (n + 1);
            if fail {
                fail_checked(&mut r, p);
            } else {
                let was_dead = !r.is_alive(p);
                let before = r.assignment();
                let plans = r.recover(p).expect("valid");
                assert_consistent(&r);
                if was_dead && plans.is_empty() {
                    prop_assert_eq!(r.assignment(), before, "nothing shifts back");
                    prop_assert!(r.spares().contains(&p), "returned becomes a spare");
                }
                for plan in &plans {
                    prop_assert_eq!(plan.shifts.last().and_then(|s| s.from), None);
                }
            }
        }
    }
}

#[test]
fn truth_table_selects_only_connected_inputs() {
    use super::switch_table::{Port, INPUTS, SW4_INSERT, SW4_NO_INSERT, TRUTH_TABLE};
    let connected = |e: usize, k: u8| {
        INPUTS[e]
            .get(usize::from(k) - 1)
            .is_some_and(|p| *p != Port::NotConnected)
    };
    for (e, row) in TRUTH_TABLE.iter().enumerate() {
        assert!(
            row.iter().flatten().all(|&k| connected(e, k)),
            "SW{}",
            e + 1
        );
    }
    assert!(connected(3, SW4_NO_INSERT));
    assert!(SW4_INSERT.iter().all(|&k| connected(3, k)));
}

#[test]
fn ring_per_item_lookups_agree_with_the_tables() {
    for direction in [Direction::Up, Direction::Down, Direction::Either] {
        let mut r = RingState::new(direction, (0..6).map(MemberId::new).collect()).unwrap();
        for p in [2, 0, 4] {
            let _ = r.fail(p);
            let coverage = r.coverage();
            for (g, c) in r.assignment().into_iter().enumerate() {
                assert_eq!(r.coverer(g), c);
            }
            for (p, f) in coverage.into_iter().enumerate() {
                assert_eq!(r.covers(p), f);
            }
        }
        assert_eq!(r.coverer(99), None);
    }
}
