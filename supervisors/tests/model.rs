//! Property test: random sequences of crashes, failures and normal exits give
//! the same start/stop history as a small reference model of OTP's rules.
//!
//! The model follows OTP's supervisor.erl: the child that exited is restarted
//! per its restart type; a restart counts once against the intensity, and one
//! too many stops all children in reverse start order; one_for_all and
//! rest_for_one stop the rest of the group in reverse start order (temporary
//! children are dropped, not restarted), then start the group in order.
//! actix runs `stopped` also for an actor that panicked, so every exit logs a stop.

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::{prop_assert_eq, prop_oneof, proptest, Just, ProptestConfig};
use stripecast_supervisors::{ChildRef, Restart, Strategy, Supervisor, SupervisorSpec};

#[derive(Debug, Clone)]
struct MChild {
    name: String,
    restart: Restart,
    alive: bool,
}

#[derive(Debug)]
struct Model {
    strategy: Strategy,
    max_restarts: u32,
    restarts: u32,
    children: Vec<MChild>,
    dead: bool,
    log: Vec<String>,
}

impl Model {
    fn new(strategy: Strategy, max_restarts: u32, kinds: &[Restart]) -> Model {
        let children: Vec<MChild> = kinds
            .iter()
            .enumerate()
            .map(|(i, r)| MChild {
                name: format!("c{i}"),
                restart: *r,
                alive: true,
            })
            .collect();
        let log = children
            .iter()
            .map(|c| format!("start {}", c.name))
            .collect();
        Model {
            strategy,
            max_restarts,
            restarts: 0,
            children,
            dead: false,
            log,
        }
    }

    fn alive(&self, name: &str) -> bool {
        !self.dead && self.children.iter().any(|c| c.name == name && c.alive)
    }

    fn exit(&mut self, name: &str, how: How) {
        let Some(i) = self.children.iter().position(|c| c.name == name) else {
            return;
        };
        self.log.push(format!("stop {name}"));
        self.children[i].alive = false;
        let normal = how == How::Exit;
        let restart = match self.children[i].restart {
            Restart::Permanent => true,
            Restart::Transient => !normal,
            Restart::Temporary => false,
        };
        if !restart {
            if self.children[i].restart == Restart::Temporary {
                self.children.remove(i);
            }
            return;
        }
        self.restarts += 1;
        if self.restarts > self.max_restarts {
            for c in self.children.iter_mut().rev() {
                if c.alive {
                    self.log.push(format!("stop {}", c.name));
                    c.alive = false;
                }
            }
            self.dead = true;
            return;
        }
        let group: Vec<usize> = match self.strategy {
            Strategy::OneForOne => vec![i],
            Strategy::OneForAll => (0..self.children.len()).collect(),
            Strategy::RestForOne => (i..self.children.len()).collect(),
        };
        for &j in group.iter().rev() {
            if j != i && self.children[j].alive {
                self.log.push(format!("stop {}", self.children[j].name));
                self.children[j].alive = false;
            }
        }
        let dropped: Vec<String> = group
            .iter()
            .filter(|&&j| j != i && self.children[j].restart == Restart::Temporary)
            .map(|&j| self.children[j].name.clone())
            .collect();
        let restarted: Vec<String> = group
            .iter()
            .map(|&j| self.children[j].name.clone())
            .filter(|n| !dropped.contains(n))
            .collect();
        self.children.retain(|c| !dropped.contains(&c.name));
        for c in self.children.iter_mut() {
            if restarted.contains(&c.name) {
                self.log.push(format!("start {}", c.name));
                c.alive = true;
            }
        }
    }
}

fn restart_kind() -> impl proptest::strategy::Strategy<Value = Restart> {
    prop_oneof![
        Just(Restart::Permanent),
        Just(Restart::Transient),
        Just(Restart::Temporary)
    ]
}

fn strategy_kind() -> impl proptest::strategy::Strategy<Value = Strategy> {
    prop_oneof![
        Just(Strategy::OneForOne),
        Just(Strategy::OneForAll),
        Just(Strategy::RestForOne)
    ]
}

fn how() -> impl proptest::strategy::Strategy<Value = How> {
    prop_oneof![Just(How::Crash), Just(How::Fail), Just(How::Exit)]
}

impl Model {
    /// Plays `ops` (skipping those on children not running) and a final
    /// shutdown; answers the ops actually played and the whole expected log.
    fn play(mut self, ops: &[(usize, How)], n: usize) -> (Vec<(usize, How)>, Vec<String>, bool) {
        let mut played = Vec::new();
        for &(target, h) in ops {
            let name = format!("c{}", target % n);
            if !self.alive(&name) {
                continue;
            }
            played.push((target % n, h));
            self.exit(&name, h);
            if self.dead {
                break;
            }
        }
        let dead = self.dead;
        if !dead {
            for c in self.children.iter().rev() {
                if c.alive {
                    self.log.push(format!("stop {}", c.name));
                }
            }
        }
        (played, self.log, dead)
    }
}

/// Runs the real supervisor through `ops`; answers its log and whether it escalated.
fn run_real(
    strategy: Strategy,
    max_restarts: u32,
    kinds: &[Restart],
    ops: &[(usize, How)],
) -> (Vec<String>, bool) {
    let kinds = kinds.to_vec();
    let ops = ops.to_vec();
    actix::System::new().block_on(async move {
        let log = new_log();
        let mut spec = SupervisorSpec::new("root", strategy)
            .intensity(max_restarts, Duration::from_secs(3600));
        let mut refs: Vec<ChildRef<Probe>> = Vec::new();
        for (i, r) in kinds.iter().enumerate() {
            let (c, cr) = probe(&format!("c{i}"), &log);
            spec = spec.child(c.restart(*r));
            refs.push(cr);
        }
        let sup = Supervisor::start(spec).await;
        let all: Vec<&ChildRef<Probe>> = refs.iter().collect();
        settle(&sup.addr, &all).await;
        for (target, h) in ops {
            let r = &refs[target];
            if r.live_addr().is_none() {
                // The model thought it alive: the histories will differ; stop here.
                break;
            }
            exit_and_settle(&sup.addr, r, h, &all).await;
            if !sup.pid.is_alive() {
                break;
            }
        }
        let dead = !sup.pid.is_alive();
        if !dead {
            sup.shutdown().await;
        }
        (take(&log), dead)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn restart_history_matches_the_otp_model(
        strategy in strategy_kind(),
        max_restarts in 0u32..6,
        kinds in proptest::collection::vec(restart_kind(), 1..5),
        ops in proptest::collection::vec((0usize..5, how()), 0..14),
    ) {
        quiet_panics();
        let n = kinds.len();
        let (played, expected, model_dead) = Model::new(strategy, max_restarts, &kinds).play(&ops, n);
        let (got, real_dead) = run_real(strategy, max_restarts, &kinds, &played);
        prop_assert_eq!(&got, &expected, "strategy {:?} kinds {:?} ops {:?}", strategy, kinds, played);
        prop_assert_eq!(real_dead, model_dead);
    }
}
