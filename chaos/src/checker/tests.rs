//! Hand-written histories, one per violation kind and per valid concurrent
//! pattern, and a property: every history produced by a real register with
//! linearization points inside the operations' intervals passes.

use proptest::prelude::*;

use super::*;

fn op(kind: OpKind, client: u32, start_us: u64, end_us: u64, value: Option<&str>) -> Op {
    Op {
        client,
        seq: start_us,
        kind,
        key: "k".into(),
        member: client,
        start_us,
        end_us,
        status: Some(200),
        outcome: Outcome::Ok,
        value: value.map(str::to_string),
        unmatched: None,
        len: None,
        final_read: false,
        error: None,
    }
}

fn put(v: &str, s: u64, e: u64) -> Op {
    op(OpKind::Put, 0, s, e, Some(v))
}
fn del(s: u64, e: u64) -> Op {
    op(OpKind::Delete, 0, s, e, None)
}
fn get(v: Option<&str>, s: u64, e: u64) -> Op {
    op(OpKind::Get, 1, s, e, v)
}
fn info(mut o: Op) -> Op {
    o.outcome = Outcome::Info;
    o.status = Some(503);
    o
}
fn fin(mut o: Op, member: u32) -> Op {
    o.final_read = true;
    o.member = member;
    o.client = crate::history::FINAL_CLIENT;
    o
}

fn kinds(ops: Vec<Op>) -> Vec<ViolationKind> {
    check(&ops.into_iter().map(Entry::Op).collect::<Vec<_>>())
        .violations
        .into_iter()
        .map(|v| v.kind)
        .collect()
}

#[test]
fn sequential_history_is_valid() {
    assert!(kinds(vec![
        get(None, 0, 1),
        put("a", 2, 3),
        get(Some("a"), 4, 5),
        del(6, 7),
        get(None, 8, 9),
        put("b", 10, 11),
        get(Some("b"), 12, 13),
    ])
    .is_empty());
}

#[test]
fn overlapping_writes_may_take_either_order() {
    // a and b overlap, so either may be last: reading a after both is fine.
    let h = vec![
        put("a", 0, 10),
        put("b", 5, 15),
        get(Some("a"), 20, 21),
        get(Some("b"), 22, 23),
    ];
    assert!(kinds(h).is_empty());
}

#[test]
fn reads_during_a_write_may_see_old_or_new() {
    let h = vec![
        put("a", 0, 10),
        put("b", 20, 30),
        get(Some("a"), 21, 22),
        get(Some("b"), 23, 24),
        get(Some("a"), 25, 26),
        // A read that started before b ended but ends after: either.
        get(Some("a"), 29, 40),
        // A delete in flight: a read may see absent or the old value.
        del(50, 60),
        get(None, 51, 52),
        get(Some("b"), 53, 54),
    ];
    assert!(kinds(h).is_empty());
}

#[test]
fn an_unacknowledged_write_may_land_any_time_later() {
    let h = vec![
        info(put("a", 0, 10)),
        put("b", 20, 30),
        get(Some("a"), 40, 50),
        info(del(60, 61)),
        put("c", 70, 80),
        get(None, 90, 91),
    ];
    assert!(kinds(h).is_empty());
}

#[test]
fn stale_value_is_caught() {
    let h = vec![put("a", 0, 10), put("b", 20, 30), get(Some("a"), 40, 50)];
    assert_eq!(kinds(h), vec![ViolationKind::StaleRead]);
}

#[test]
fn value_after_an_acknowledged_delete_is_stale() {
    let h = vec![put("a", 0, 10), del(20, 30), get(Some("a"), 40, 50)];
    assert_eq!(kinds(h), vec![ViolationKind::StaleRead]);
}

#[test]
fn absent_after_an_acknowledged_put_is_stale() {
    let h = vec![put("a", 0, 10), get(None, 20, 30)];
    assert_eq!(kinds(h), vec![ViolationKind::StaleRead]);
    // A delete that ended before the put began cannot explain it either.
    let h = vec![del(0, 3), put("a", 5, 10), get(None, 20, 30)];
    assert_eq!(kinds(h), vec![ViolationKind::StaleRead]);
    // A delete concurrent with the put can.
    let h = vec![del(4, 12), put("a", 5, 10), get(None, 20, 30)];
    assert!(kinds(h).is_empty());
}

#[test]
fn wrong_bytes_are_caught() {
    let mut mixed = get(None, 20, 30);
    mixed.unmatched = Some("1000 bytes whose header is write c1.1 of 1300000 bytes".into());
    assert_eq!(
        kinds(vec![put("a", 0, 10), mixed]),
        vec![ViolationKind::WrongBytes]
    );
    // A value no write wrote.
    assert_eq!(
        kinds(vec![put("a", 0, 10), get(Some("zz"), 20, 30)]),
        vec![ViolationKind::WrongBytes]
    );
    // A value from a write that began after the read ended.
    assert_eq!(
        kinds(vec![get(Some("a"), 0, 5), put("a", 10, 20)]),
        vec![ViolationKind::WrongBytes]
    );
    // A value from a refused write.
    let mut refused = put("a", 0, 10);
    refused.outcome = Outcome::Fail;
    assert_eq!(
        kinds(vec![refused, get(Some("a"), 20, 30)]),
        vec![ViolationKind::WrongBytes]
    );
}

#[test]
fn final_state_checks() {
    // Lost write: the final read returns what an acknowledged write replaced.
    let h = vec![
        put("a", 0, 10),
        put("b", 20, 30),
        fin(get(Some("a"), 100, 101), 0),
        fin(get(Some("b"), 102, 103), 1),
    ];
    let k = kinds(h);
    assert!(k.contains(&ViolationKind::LostWrite), "{k:?}");
    assert!(k.contains(&ViolationKind::Divergence), "{k:?}");

    // A final 503 after convergence.
    let mut refused = fin(get(None, 100, 101), 2);
    refused.outcome = Outcome::Info;
    refused.status = Some(503);
    assert_eq!(
        kinds(vec![
            put("a", 0, 10),
            fin(get(Some("a"), 100, 101), 0),
            refused
        ]),
        vec![ViolationKind::UnavailableAfterConvergence]
    );

    // Agreement on the last value is fine.
    let h = vec![
        put("a", 0, 10),
        fin(get(Some("a"), 100, 101), 0),
        fin(get(Some("a"), 102, 103), 1),
    ];
    assert!(kinds(h).is_empty());
}

#[test]
fn scrub_and_convergence_entries() {
    let r = check(&[
        Entry::Converged {
            after_ms: 90_000,
            converged: false,
        },
        Entry::Scrub {
            member: 2,
            corrupt: 3,
            repaired: 2,
            unrepairable: 1,
            error: None,
        },
        Entry::Scrub {
            member: 3,
            corrupt: 0,
            repaired: 0,
            unrepairable: 0,
            error: Some("HTTP 503".into()),
        },
    ]);
    let k: Vec<_> = r.violations.iter().map(|v| v.kind).collect();
    assert_eq!(
        k,
        vec![
            ViolationKind::UnavailableAfterConvergence,
            ViolationKind::NotConverged,
            ViolationKind::UnrepairedRot
        ]
    );
    assert_eq!(r.figures.converge_ms, Some(90_000));
    assert_eq!(r.counts[&ViolationKind::UnrepairedRot], 1);
    assert_eq!(r.counts[&ViolationKind::WrongBytes], 0);
}

#[test]
fn figures_per_fault_kind() {
    let mut failed = info(put("b", 12, 18));
    failed.status = None;
    let entries = vec![
        Entry::Op(put("a", 0, 5)),
        Entry::Op(failed),
        Entry::Op(get(Some("a"), 14, 16)),
        Entry::Op(get(Some("a"), 30, 31)),
        Entry::Fault(FaultSpan {
            kind: "kill".into(),
            members: vec![1],
            start_us: 10,
            end_us: 20,
            detail: String::new(),
        }),
    ];
    let f = check(&entries).figures;
    assert_eq!(f.all.ops, 4);
    assert_eq!(f.all.ok, 3);
    assert_eq!(f.per_fault["kill"].ops, 2);
    assert_eq!(f.per_fault["kill"].ok, 1);
    assert!((f.per_fault["kill"].share - 0.5).abs() < 1e-9);
    assert_eq!(f.no_fault.ops, 2);
    assert_eq!(f.faults, 1);
}

/// One operation of a generated history: a linearization point and slack around it.
#[derive(Debug, Clone)]
struct Gen {
    kind: u8,
    slack_before: u64,
    slack_after: u64,
    acked: bool,
    lands: bool,
}

fn gen() -> impl Strategy<Value = Gen> {
    (
        0u8..3,
        0u64..40,
        0u64..40,
        prop::bool::weighted(0.8),
        any::<bool>(),
    )
        .prop_map(|(kind, slack_before, slack_after, acked, lands)| Gen {
            kind,
            slack_before,
            slack_after,
            acked,
            lands,
        })
}

proptest! {
    /// Histories of a real register, operations placed around linearization
    /// points 10 µs apart with random overlap, some writes unacknowledged
    /// (taking effect or not): the checker never flags one.
    #[test]
    fn linearizable_histories_are_never_flagged(ops in prop::collection::vec(gen(), 1..60)) {
        let mut register: Option<String> = None;
        let mut history = Vec::new();
        for (i, g) in ops.iter().enumerate() {
            let t = 100 + 10 * i as u64;
            let (s, e) = (t - g.slack_before, t + g.slack_after);
            let o = match g.kind {
                0 => {
                    let v = format!("w{i}");
                    if g.acked || g.lands {
                        register = Some(v.clone());
                    }
                    let o = put(&v, s, e);
                    if g.acked { o } else { info(o) }
                }
                1 => {
                    if g.acked || g.lands {
                        register = None;
                    }
                    let o = del(s, e);
                    if g.acked { o } else { info(o) }
                }
                _ => get(register.as_deref(), s, e),
            };
            history.push(Entry::Op(o));
        }
        let report = check(&history);
        prop_assert!(report.ok(), "{:?}", report.violations);
    }
}
