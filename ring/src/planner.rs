//! The ring planner: which live processor covers which network feed, and how
//! the ring shifts when a processor fails or returns (patent FIG. 13-16).
//!
//! Model. `n` feeds, `n + 1` ring positions (`0..n` start active, `n` starts
//! as the spare); position `n - 1` is adjacent to `n`, and `n` to `0`. Feed
//! `g`'s switched system (NET_g in, OUT_g out) sits at position `g`; position
//! `n` has no feed of its own. Switched systems never fail; processors do.
//! Each feed `g` has a signed offset `delta[g]` in `-1..=1`: it is covered by
//! the processor at position `g + delta[g]` (mod `n + 1`).
//!
//! Invariants (checked by [`RingState::check`], asserted by the tests):
//! * a covered feed's processor is alive and covers that feed only;
//! * `delta[g]` is allowed by the wiring ([`Direction`]): `Down` (FIG. 13/14)
//!   allows `-1, 0`, `Up` allows `0, +1`, `Either` (FIG. 15/16) all three;
//! * virtual positions `g + delta[g]` are strictly increasing in `g` and do
//!   not use both ends (`-1` and `n` are the same physical position): feeds
//!   keep their ring order, so no two neighbours ever swap feeds (a swap would
//!   need one ring link to carry two signals);
//! * an uncovered feed keeps its `delta` as an anchor: the dead position that
//!   last covered it, from which a later plan starts;
//! * live positions covering nothing are spares.
//!
//! Shifting. When the processor at `p` covering feed `g` dies, a walk from
//! `p` one step at a time in direction `d` (`+1` = up, `-1` = down) hands each
//! feed on to the next position (`delta += d`) until it reaches a live spare.
//! A walk is feasible if it meets no dead position and every new `delta`
//! keeps the invariants. The planner tries both walks and takes the one with
//! fewer shifts (processors that change feed, the spare included; the spare
//! is always the last); a tie goes `Down`, the patent's FIG. 13/14 direction.
//! From the initial arrangement this is exactly: `Up` shifts `n - f`
//! processors (`f+1..n-1` take the feed below, the spare takes `n-1`), `Down`
//! shifts `f + 1` (`f-1..0` take the feed above, the spare takes `0`),
//! `Either` the fewer. After returns the ring is displaced and the walk may go
//! against the wiring's name (a `Down`-wired ring can walk up to undo a
//! displacement); the wiring constraint, not the walk, is what is configured.
//!
//! Returns. A returning processor never takes back its old feed by shifting
//! others: if it is the anchor of an uncovered feed it takes that feed again
//! (its own wiring allowed it), otherwise it becomes a spare (there may be
//! several; a walk stops at the first one it meets). Then every uncovered feed
//! is retried from its anchor. With no reachable spare a feed stays
//! uncovered: OUT carries its network feed without inserts, and the status
//! reports it.

use serde::{Deserialize, Serialize};
use stripecast_config::MemberId;

/// The wiring of the switched systems: which neighbour a processor may serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Fails up: a feed may be served by the processor one position above.
    Up,
    /// Fails down (FIG. 13/14): served by the processor one position below.
    Down,
    /// Either (FIG. 15/16): the shorter shift is chosen, tie `Down`.
    #[default]
    Either,
}

impl From<stripecast_config::RingDirection> for Direction {
    fn from(d: stripecast_config::RingDirection) -> Self {
        match d {
            stripecast_config::RingDirection::Up => Direction::Up,
            stripecast_config::RingDirection::Down => Direction::Down,
            stripecast_config::RingDirection::Either => Direction::Either,
        }
    }
}

impl Direction {
    fn allows(self, delta: i8) -> bool {
        match self {
            Direction::Up => (0..=1).contains(&delta),
            Direction::Down => (-1..=0).contains(&delta),
            Direction::Either => (-1..=1).contains(&delta),
        }
    }
}

/// The direction a shift walks along the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Walk {
    /// Toward higher positions: each processor takes the feed one below.
    Up,
    /// Toward lower positions: each processor takes the feed one above.
    Down,
}

impl Walk {
    fn step(self) -> i8 {
        match self {
            Walk::Up => 1,
            Walk::Down => -1,
        }
    }
}

/// What a switched system is doing (FIG. 17's columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemState {
    /// Its processor serves its own feed, or nothing involves it.
    Normal,
    /// Its processor serves the feed below, or its feed is served from above.
    FailUp,
    /// Its processor serves the feed above, or its feed is served from below.
    FailDown,
}

/// One processor changing feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    /// Ring position of the processor.
    pub position: usize,
    /// The feed it served before (`None`: it was the spare).
    pub from: Option<usize>,
    /// The feed it serves now.
    pub to: usize,
}

/// A way to cover one feed: the shifts in walk order, the spare last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub feed: usize,
    pub walk: Walk,
    pub shifts: Vec<Shift>,
}

/// What a failure did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum FailOutcome {
    /// The position was already dead: nothing changed.
    AlreadyDead,
    /// The position covered no feed (a spare or idle): one spare fewer.
    SpareLost,
    /// Its feed is covered again by this plan.
    Covered(Plan),
    /// No reachable spare: the feed's output carries the raw network feed.
    Uncovered { feed: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    #[error("a ring needs at least 2 feeds, got {0}")]
    TooFewFeeds(usize),
    #[error("no ring position {position} (ring has {positions})")]
    BadPosition { position: usize, positions: usize },
}

/// One feed in the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStatus {
    pub feed: usize,
    /// Ring position of the covering video system; `None` when uncovered.
    pub system: Option<usize>,
    /// Member at that position; `None` when uncovered.
    pub member: Option<MemberId>,
}

/// One switched system / processor in the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemStatus {
    pub position: usize,
    pub member: MemberId,
    pub alive: bool,
    pub state: SystemState,
    /// The feed its processor serves (`None`: spare or dead).
    pub covers: Option<usize>,
}

/// The planner's view of the ring: what the switch's status document
/// (`switch::status::RingDoc`, the one document of `/v1/ring`) is built
/// from, with the switch's own counters added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingStatus {
    pub direction: Direction,
    pub feeds: Vec<FeedStatus>,
    /// The idle spare a shift would use first (lowest position); `None` when used.
    pub spare: Option<usize>,
    pub spares: Vec<usize>,
    pub systems: Vec<SystemStatus>,
    /// Feeds whose output carries the network feed without inserts.
    pub uncovered: Vec<usize>,
}

/// The ring: pure state, no I/O.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingState {
    direction: Direction,
    /// Member id per ring position.
    members: Vec<MemberId>,
    alive: Vec<bool>,
    /// Per feed: offset of its (last) processor from its own position.
    delta: Vec<i8>,
    /// Per feed: whether the processor at `g + delta[g]` serves it now.
    covered: Vec<bool>,
}

impl RingState {
    /// `members[p]` is the member at ring position `p`; there must be one per
    /// position, so `members.len() - 1` feeds (at least 2).
    pub fn new(direction: Direction, members: Vec<MemberId>) -> Result<Self, RingError> {
        let n = members.len().saturating_sub(1);
        if n < 2 {
            return Err(RingError::TooFewFeeds(n));
        }
        Ok(Self {
            direction,
            alive: vec![true; n + 1],
            members,
            delta: vec![0; n],
            covered: vec![true; n],
        })
    }

    /// A ring of `feeds` feeds whose position `p` is member `p`.
    pub fn with_feeds(direction: Direction, feeds: usize) -> Result<Self, RingError> {
        let members = (0..=feeds).map(MemberId::of_position).collect();
        Self::new(direction, members)
    }

    pub fn feeds(&self) -> usize {
        self.delta.len()
    }

    pub fn positions(&self) -> usize {
        self.alive.len()
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    pub fn members(&self) -> &[MemberId] {
        &self.members
    }

    pub fn is_alive(&self, position: usize) -> bool {
        self.alive.get(position).copied().unwrap_or(false)
    }

    fn at(&self, feed: usize, delta: i8) -> usize {
        let m = self.positions() as isize;
        (feed as isize + delta as isize).rem_euclid(m) as usize
    }

    /// Physical position of feed `g`'s (last) processor, covered or not.
    fn anchor(&self, feed: usize) -> usize {
        self.at(feed, self.delta[feed])
    }

    /// The ring position of the processor covering `feed` (no allocation:
    /// the switch asks this for every datagram).
    pub fn coverer(&self, feed: usize) -> Option<usize> {
        (*self.covered.get(feed)?).then(|| self.anchor(feed))
    }

    /// The feed the processor at `position` covers.
    pub fn covers(&self, position: usize) -> Option<usize> {
        (0..self.feeds()).find(|&g| self.coverer(g) == Some(position))
    }

    /// Feed -> ring position of the processor covering it.
    pub fn assignment(&self) -> Vec<Option<usize>> {
        (0..self.feeds()).map(|g| self.coverer(g)).collect()
    }

    /// Ring position -> the feed its processor covers.
    pub fn coverage(&self) -> Vec<Option<usize>> {
        let mut by_position = vec![None; self.positions()];
        for (g, p) in self.assignment().into_iter().enumerate() {
            if let Some(p) = p {
                by_position[p] = Some(g);
            }
        }
        by_position
    }

    /// Live positions covering nothing, lowest first.
    pub fn spares(&self) -> Vec<usize> {
        let coverage = self.coverage();
        (0..self.positions())
            .filter(|&p| self.alive[p] && coverage[p].is_none())
            .collect()
    }

    /// The lowest idle spare, `None` when all are used.
    pub fn spare(&self) -> Option<usize> {
        self.spares().first().copied()
    }

    pub fn uncovered(&self) -> Vec<usize> {
        (0..self.feeds()).filter(|&g| !self.covered[g]).collect()
    }

    /// The state of each switched system, by position (see [`SystemState`]).
    pub fn states(&self) -> Vec<SystemState> {
        let coverage = self.coverage();
        (0..self.positions())
            .map(|p| {
                // Offset of the feed the processor serves, seen from p.
                let serves = coverage[p].map(|g| -self.delta[g]);
                // Offset of the processor serving p's own feed.
                let served_by = (p < self.feeds() && self.covered[p]).then(|| self.delta[p]);
                match (serves, served_by) {
                    (Some(0), _) => SystemState::Normal,
                    (Some(1), _) | (_, Some(-1)) => SystemState::FailDown,
                    (Some(-1), _) | (_, Some(1)) => SystemState::FailUp,
                    _ => SystemState::Normal,
                }
            })
            .collect()
    }

    /// Checks every invariant in the module doc; `Err` names the first broken.
    pub fn check(&self) -> Result<(), String> {
        let n = self.feeds();
        let mut seen = vec![false; self.positions()];
        for g in 0..n {
            if !self.direction.allows(self.delta[g]) {
                return Err(format!("feed {g}: offset {} not wired", self.delta[g]));
            }
            let p = self.anchor(g);
            if std::mem::replace(&mut seen[p], true) {
                return Err(format!("position {p} anchors two feeds"));
            }
            if self.covered[g] && !self.alive[p] {
                return Err(format!("feed {g} covered by dead position {p}"));
            }
            if !self.covered[g] && self.alive[p] {
                return Err(format!("feed {g} uncovered but its position {p} is alive"));
            }
        }
        let virt: Vec<isize> = (0..n)
            .map(|g| g as isize + self.delta[g] as isize)
            .collect();
        if virt.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("feeds out of ring order: {virt:?}"));
        }
        if virt.first() == Some(&-1) && virt.last() == Some(&(n as isize)) {
            return Err("both ends of the ring used".into());
        }
        Ok(())
    }

    /// The walk covering feed `g` (whose anchor has no live processor) in one
    /// direction, if feasible: no dead position on the way, invariants kept.
    pub fn plan_walk(&self, feed: usize, walk: Walk) -> Option<Plan> {
        if feed >= self.feeds() || self.covered[feed] {
            return None;
        }
        let coverage = self.coverage();
        let mut next = self.clone();
        let mut shifts = Vec::new();
        let (mut g, mut p) = (feed, self.anchor(feed));
        for _ in 0..self.positions() {
            p = self.at(p, walk.step());
            if !self.alive[p] {
                return None;
            }
            next.delta[g] += walk.step();
            next.covered[g] = true;
            let from = coverage[p];
            shifts.push(Shift {
                position: p,
                from,
                to: g,
            });
            match from {
                None => {
                    return next.check().is_ok().then_some(Plan { feed, walk, shifts });
                }
                Some(f) => g = f,
            }
        }
        None
    }

    /// The plan the ring would use for uncovered feed `g`: the feasible walk
    /// with fewer shifts, a tie going `Down`.
    pub fn plan(&self, feed: usize) -> Option<Plan> {
        let down = self.plan_walk(feed, Walk::Down);
        let up = self.plan_walk(feed, Walk::Up);
        match (down, up) {
            (Some(d), Some(u)) if u.shifts.len() < d.shifts.len() => Some(u),
            (Some(d), _) => Some(d),
            (None, u) => u,
        }
    }

    fn apply(&mut self, plan: &Plan) {
        for s in &plan.shifts {
            self.delta[s.to] += plan.walk.step();
            self.covered[s.to] = true;
        }
    }

    fn position_ok(&self, position: usize) -> Result<(), RingError> {
        if position < self.positions() {
            Ok(())
        } else {
            Err(RingError::BadPosition {
                position,
                positions: self.positions(),
            })
        }
    }

    /// Marks `position` dead, uncovering its feed (returned), without a plan.
    pub(super) fn kill(&mut self, position: usize) -> Option<usize> {
        let feed = self.coverage()[position];
        self.alive[position] = false;
        if let Some(g) = feed {
            self.covered[g] = false;
        }
        feed
    }

    /// The processor at `position` failed: shift the ring to cover its feed.
    pub fn fail(&mut self, position: usize) -> Result<FailOutcome, RingError> {
        self.position_ok(position)?;
        if !self.alive[position] {
            return Ok(FailOutcome::AlreadyDead);
        }
        let Some(feed) = self.kill(position) else {
            return Ok(FailOutcome::SpareLost);
        };
        Ok(match self.plan(feed) {
            Some(plan) => {
                self.apply(&plan);
                FailOutcome::Covered(plan)
            }
            None => FailOutcome::Uncovered { feed },
        })
    }

    /// The processor at `position` is back. It takes back a feed it anchors
    /// (uncovered since it died) or becomes a spare; then every uncovered feed
    /// is retried. Returns the shifts made (a retaken feed is a one-shift plan).
    pub fn recover(&mut self, position: usize) -> Result<Vec<Plan>, RingError> {
        self.position_ok(position)?;
        if self.alive[position] {
            return Ok(Vec::new());
        }
        self.alive[position] = true;
        let mut plans = Vec::new();
        if let Some(g) = (0..self.feeds()).find(|&g| !self.covered[g] && self.anchor(g) == position)
        {
            self.covered[g] = true;
            let shift = Shift {
                position,
                from: None,
                to: g,
            };
            let walk = if self.delta[g] > 0 {
                Walk::Up
            } else {
                Walk::Down
            };
            plans.push(Plan {
                feed: g,
                walk,
                shifts: vec![shift],
            });
        }
        for g in self.uncovered() {
            if let Some(plan) = self.plan(g) {
                self.apply(&plan);
                plans.push(plan);
            }
        }
        Ok(plans)
    }

    pub fn status(&self) -> RingStatus {
        let coverage = self.coverage();
        let states = self.states();
        let feeds = self
            .assignment()
            .into_iter()
            .enumerate()
            .map(|(feed, system)| FeedStatus {
                feed,
                system,
                member: system.and_then(|p| self.members.get(p).copied()),
            })
            .collect();
        let systems = (0..self.positions())
            .map(|p| SystemStatus {
                position: p,
                member: self.members[p],
                alive: self.alive[p],
                state: states[p],
                covers: coverage[p],
            })
            .collect();
        let spares = self.spares();
        RingStatus {
            direction: self.direction,
            feeds,
            spare: spares.first().copied(),
            spares,
            systems,
            uncovered: self.uncovered(),
        }
    }
}
