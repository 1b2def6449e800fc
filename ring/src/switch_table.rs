//! The switched system of FIG. 16 and its truth table (FIG. 17), as data.
//!
//! Every ring position has one switched system with four switch elements
//! (many inputs, one output each). The seed's FIG. 16 drawing is missing, so
//! the port numbering below is derived so that FIG. 17's numbers hold as
//! printed; its one unreadable cell (SW4 "Insert" in the normal column) is
//! 3, the own processor's insert. Inputs marked `NotConnected` are positions
//! the derivation does not need. The links: SW2's output goes to the upper
//! neighbour, arriving there as `LowerLink`; SW3's goes to the lower
//! neighbour, arriving as `UpperLink`.
//!
//! | element          | 1         | 2         | 3         | 4          | 5         |
//! |------------------|-----------|-----------|-----------|------------|-----------|
//! | SW1 (180) proc in| LowerLink | OwnNet    | UpperLink |            |           |
//! | SW2 (182) to up  | OwnInsert | n/c       | OwnNet    |            |           |
//! | SW3 (184) to down| OwnNet    | n/c       | n/c       | OwnInsert  |           |
//! | SW4 (186) OUT    | n/c       | OwnNet    | OwnInsert | LowerLink  | UpperLink |
//!
//! Invariant: for every ring state the planner can reach, applying
//! [`TRUTH_TABLE`] to [`RingState::states`] routes feed `g`'s network video
//! to the processor covering `g` and that processor's insert to `OUT_g`
//! ([`route`] computes it; the tests check it for every reachable state).

use serde::{Deserialize, Serialize};

use super::planner::{RingState, SystemState};

/// What a switch element input is wired to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Port {
    /// This position's network feed (none at a position without a feed).
    OwnNet,
    /// This position's processor's insert output.
    OwnInsert,
    /// The lower neighbour's SW2 output.
    LowerLink,
    /// The upper neighbour's SW3 output.
    UpperLink,
    NotConnected,
}

use Port::{LowerLink, NotConnected, OwnInsert, OwnNet, UpperLink};

/// Inputs of SW1..SW4, input `k` at index `k - 1`.
pub const INPUTS: [&[Port]; 4] = [
    &[LowerLink, OwnNet, UpperLink],
    &[OwnInsert, NotConnected, OwnNet],
    &[OwnNet, NotConnected, NotConnected, OwnInsert],
    &[NotConnected, OwnNet, OwnInsert, LowerLink, UpperLink],
];

/// FIG. 17 columns, in this order.
pub const STATES: [SystemState; 3] = [
    SystemState::Normal,
    SystemState::FailUp,
    SystemState::FailDown,
];

/// FIG. 17 for SW1..SW3: the input selected in each state of [`STATES`];
/// `None` is "x" (don't care).
pub const TRUTH_TABLE: [[Option<u8>; 3]; 3] = [
    [Some(2), Some(1), Some(3)], // SW1 (180): processor input
    [None, Some(3), Some(1)],    // SW2 (182): link to the upper neighbour
    [Some(1), Some(4), Some(1)], // SW3 (184): link to the lower neighbour
];

/// FIG. 17 for SW4 (186), the output: "No Insert" in every state.
pub const SW4_NO_INSERT: u8 = 2;
/// FIG. 17 for SW4 (186), the output: "Insert" in each state of [`STATES`].
pub const SW4_INSERT: [u8; 3] = [3, 5, 4];

fn column(state: SystemState) -> usize {
    match state {
        SystemState::Normal => 0,
        SystemState::FailUp => 1,
        SystemState::FailDown => 2,
    }
}

/// The selections of one switched system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    pub position: usize,
    pub state: SystemState,
    /// SW1..SW3 inputs (`None`: don't care).
    pub sw: [Option<u8>; 3],
    /// SW4 input between inserts.
    pub out_no_insert: u8,
    /// SW4 input during an insert; `None` when its feed is uncovered (the
    /// output then carries the network feed only) or it has no feed.
    pub out_insert: Option<u8>,
}

/// Each switched system's selections for the ring's current assignment.
pub fn selections(ring: &RingState) -> Vec<Selection> {
    let assignment = ring.assignment();
    ring.states()
        .into_iter()
        .enumerate()
        .map(|(position, state)| {
            let c = column(state);
            let has_insert = assignment.get(position).is_some_and(Option::is_some);
            Selection {
                position,
                state,
                sw: [TRUTH_TABLE[0][c], TRUTH_TABLE[1][c], TRUTH_TABLE[2][c]],
                out_no_insert: SW4_NO_INSERT,
                out_insert: has_insert.then_some(SW4_INSERT[c]),
            }
        })
        .collect()
}

/// A signal on a wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Nothing (unconnected, don't care, no feed, dead processor).
    None,
    /// Feed `g`'s network video.
    Net(usize),
    /// Inserts made by the processor at `position` for the feed it watches.
    Insert { position: usize, watching: usize },
}

/// What the wires carry for one switched system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routed {
    /// What SW1 gives the processor.
    pub processor_input: Signal,
    /// OUT between inserts and during an insert (`None`: no insert possible).
    pub out: (Signal, Option<Signal>),
}

/// Follows the wires: what each processor sees and each output carries.
pub fn route(ring: &RingState) -> Vec<Routed> {
    let sel = selections(ring);
    let r = Router { ring, sel: &sel };
    (0..ring.positions())
        .map(|p| Routed {
            processor_input: r.element(p, 0, 0),
            out: (
                r.input(p, 3, Some(sel[p].out_no_insert), 0),
                sel[p].out_insert.map(|k| r.input(p, 3, Some(k), 0)),
            ),
        })
        .collect()
}

struct Router<'a> {
    ring: &'a RingState,
    sel: &'a [Selection],
}

impl Router<'_> {
    /// The output of element `e` (0-based) of position `p`.
    fn element(&self, p: usize, e: usize, depth: usize) -> Signal {
        match e {
            0..=2 => self.input(p, e, self.sel[p].sw[e], depth),
            _ => Signal::None,
        }
    }

    fn input(&self, p: usize, e: usize, k: Option<u8>, depth: usize) -> Signal {
        let m = self.ring.positions();
        let port = k
            .and_then(|k| INPUTS[e].get(usize::from(k).wrapping_sub(1)))
            .copied()
            .unwrap_or(NotConnected);
        if depth > 2 * m {
            return Signal::None;
        }
        match port {
            OwnNet if p < self.ring.feeds() => Signal::Net(p),
            OwnInsert if self.ring.is_alive(p) => match self.element(p, 0, depth + 1) {
                Signal::Net(g) => Signal::Insert {
                    position: p,
                    watching: g,
                },
                _ => Signal::None,
            },
            LowerLink => self.element((p + m - 1) % m, 1, depth + 1),
            UpperLink => self.element((p + 1) % m, 2, depth + 1),
            _ => Signal::None,
        }
    }
}
