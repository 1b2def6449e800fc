//! Fault injection on peer links, settable at run time (DESIGN.md section 5).
//!
//! Every link of a member passes its outgoing frames through the faults set
//! for that peer in the member's [`FaultHandle`]: `drop`, `delay_ms`,
//! `duplicate`, `reorder` and `corrupt` act on outgoing frames only (set them
//! on both members for a two-way fault); `partition` is two-way by itself: the
//! link drops everything it would send *and* everything it receives, and
//! connections between the two members are neither dialed nor accepted. So a
//! partition looks like silence to both sides, which declare each other down
//! after the heartbeat timeout, as with a real network partition.
//!
//! Decisions (drop, duplicate, corrupt: which frame, which byte) come from
//! the thread's RNG, or, when `seed` is set, from a per-link RNG seeded with
//! `seed` and the peer id: then a given seed and frame sequence always give
//! the same decisions (`stripecast chaos` sets one per fault it injects).
//!
//! Invariants: faults act on encoded frames (after the handshake); `corrupt`
//! flips bits of one byte of the frame body, which the receiver's CRC-32C
//! always detects (a burst of at most 8 bits), so a corrupt frame always costs
//! the connection, never a silently wrong block. Probabilities are clamped to
//! 0..=1. [`LinkFaults`] is plain serde data so an HTTP endpoint can expose it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use bytes::{Bytes, BytesMut};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use stripecast_config::MemberId;

/// The faults injected on the link to one peer. The default is no fault.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkFaults {
    /// Drop every frame both ways and refuse connections: the link goes down.
    pub partition: bool,
    /// Probability that an outgoing frame is dropped.
    pub drop: f64,
    /// Delay added to every outgoing frame, in milliseconds (order is kept).
    pub delay_ms: u64,
    /// Probability that an outgoing frame is sent twice.
    pub duplicate: f64,
    /// Hold each outgoing frame and send it after the next one (pairwise swap).
    pub reorder: bool,
    /// Probability that an outgoing frame has one byte flipped.
    pub corrupt: f64,
    /// Seed of this link's fault decisions (reproducible runs); `None`: fresh randomness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl LinkFaults {
    /// True when no fault is set (a seed alone is no fault).
    pub fn is_clear(&self) -> bool {
        LinkFaults {
            seed: None,
            ..self.clone()
        } == LinkFaults::default()
    }

    /// A partition.
    pub fn partition() -> Self {
        LinkFaults {
            partition: true,
            ..Self::default()
        }
    }
}

/// Shared, run-time settable faults of one member, per peer id. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct FaultHandle {
    inner: Arc<RwLock<BTreeMap<MemberId, LinkFaults>>>,
}

impl FaultHandle {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<MemberId, LinkFaults>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<MemberId, LinkFaults>> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the faults on the link to `peer` (clearing them if `faults` is clear).
    pub fn set(&self, peer: MemberId, faults: LinkFaults) {
        let mut map = self.write();
        if faults.is_clear() {
            map.remove(&peer);
        } else {
            map.insert(peer, faults);
        }
    }

    /// Changes the faults on the link to `peer` in place.
    pub fn update(&self, peer: MemberId, f: impl FnOnce(&mut LinkFaults)) {
        let mut current = self.get(peer);
        f(&mut current);
        self.set(peer, current);
    }

    /// Sets or heals a partition from `peer`, leaving other faults as they are.
    pub fn partition(&self, peer: MemberId, on: bool) {
        self.update(peer, |f| f.partition = on);
    }

    /// The faults on the link to `peer`.
    pub fn get(&self, peer: MemberId) -> LinkFaults {
        self.read().get(&peer).cloned().unwrap_or_default()
    }

    pub fn is_partitioned(&self, peer: MemberId) -> bool {
        self.read().get(&peer).is_some_and(|f| f.partition)
    }

    pub fn clear(&self, peer: MemberId) {
        self.write().remove(&peer);
    }

    pub fn clear_all(&self) {
        self.write().clear();
    }

    /// Every link with a fault set.
    pub fn snapshot(&self) -> BTreeMap<MemberId, LinkFaults> {
        self.read().clone()
    }
}

/// What the fault layer does with one outgoing frame.
#[derive(Debug)]
pub(crate) struct Verdict {
    /// The copies to send (0 = dropped, 2 = duplicated), possibly corrupted.
    pub copies: Vec<Bytes>,
    /// Hold this frame and send it after the next one.
    pub hold: bool,
}

/// The source of one link's fault decisions: seeded when the faults carry a
/// seed (reseeded whenever the seed changes), from entropy otherwise.
#[derive(Debug)]
pub(crate) struct FaultRng {
    peer: MemberId,
    seed: Option<u64>,
    rng: ChaCha8Rng,
}

impl FaultRng {
    pub(crate) fn new(peer: MemberId) -> FaultRng {
        FaultRng {
            peer,
            seed: None,
            rng: ChaCha8Rng::from_entropy(),
        }
    }

    /// The RNG to decide with under `faults`.
    fn for_faults(&mut self, faults: &LinkFaults) -> &mut ChaCha8Rng {
        if faults.seed != self.seed {
            self.seed = faults.seed;
            self.rng = match faults.seed {
                Some(s) => ChaCha8Rng::seed_from_u64(
                    s ^ u64::from(self.peer.get()).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                ),
                None => ChaCha8Rng::from_entropy(),
            };
        }
        &mut self.rng
    }
}

fn roll(p: f64, rng: &mut impl Rng) -> bool {
    p > 0.0 && rng.gen::<f64>() < p.min(1.0)
}

/// Flips the bits of one random byte of `frame` with a random nonzero mask.
pub(crate) fn corrupt(frame: &Bytes, rng: &mut impl Rng) -> Bytes {
    if frame.is_empty() {
        return frame.clone();
    }
    let mut copy = BytesMut::from(&frame[..]);
    let i = rng.gen_range(0..copy.len());
    copy[i] ^= rng.gen_range(1..=255u8);
    copy.freeze()
}

/// Applies `faults` (except the delay, which the writer applies) to one frame.
pub(crate) fn apply(faults: &LinkFaults, frame: Bytes, rng: &mut FaultRng) -> Verdict {
    let rng = rng.for_faults(faults);
    if faults.partition || roll(faults.drop, rng) {
        return Verdict {
            copies: Vec::new(),
            hold: false,
        };
    }
    let frame = if roll(faults.corrupt, rng) {
        corrupt(&frame, rng)
    } else {
        frame
    };
    let copies = if roll(faults.duplicate, rng) {
        vec![frame.clone(), frame]
    } else {
        vec![frame]
    };
    Verdict {
        copies,
        hold: faults.reorder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_clear_and_serde() {
        let h = FaultHandle::new();
        assert!(h.get(MemberId::new(1)).is_clear());
        h.partition(MemberId::new(1), true);
        assert!(h.is_partitioned(MemberId::new(1)));
        h.update(MemberId::new(1), |f| f.delay_ms = 5);
        h.partition(MemberId::new(1), false);
        assert_eq!(h.get(MemberId::new(1)).delay_ms, 5);
        h.set(MemberId::new(1), LinkFaults::default());
        assert!(h.snapshot().is_empty());

        let f: LinkFaults = serde_json::from_str(r#"{"drop": 0.5, "reorder": true}"#).unwrap();
        assert_eq!(f.drop, 0.5);
        assert!(f.reorder && !f.partition);
        assert!(serde_json::from_str::<LinkFaults>(r#"{"dorp": 1}"#).is_err());
    }

    #[test]
    fn verdicts() {
        let frame = Bytes::from_static(b"0123456789");
        let mut rng = FaultRng::new(MemberId::new(1));
        let v = apply(&LinkFaults::partition(), frame.clone(), &mut rng);
        assert!(v.copies.is_empty());
        let v = apply(
            &LinkFaults {
                drop: 1.0,
                ..Default::default()
            },
            frame.clone(),
            &mut rng,
        );
        assert!(v.copies.is_empty());
        let v = apply(
            &LinkFaults {
                duplicate: 1.0,
                reorder: true,
                ..Default::default()
            },
            frame.clone(),
            &mut rng,
        );
        assert_eq!(v.copies, vec![frame.clone(), frame.clone()]);
        assert!(v.hold);
        let v = apply(
            &LinkFaults {
                corrupt: 1.0,
                ..Default::default()
            },
            frame.clone(),
            &mut rng,
        );
        assert_eq!(v.copies.len(), 1);
        assert_ne!(v.copies[0], frame);
        let diff = v.copies[0]
            .iter()
            .zip(frame.iter())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(diff, 1);
    }

    #[test]
    fn a_seed_makes_decisions_reproducible() {
        let faults = LinkFaults {
            drop: 0.3,
            duplicate: 0.3,
            corrupt: 0.3,
            seed: Some(99),
            ..Default::default()
        };
        assert!(!faults.is_clear());
        assert!(LinkFaults {
            seed: Some(1),
            ..Default::default()
        }
        .is_clear());
        let frames: Vec<Bytes> = (0..200u32)
            .map(|i| Bytes::from(i.to_le_bytes().repeat(8)))
            .collect();
        let run = |peer: MemberId| {
            let mut rng = FaultRng::new(peer);
            frames
                .iter()
                .map(|f| apply(&faults, f.clone(), &mut rng).copies)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(MemberId::new(1)), run(MemberId::new(1)));
        assert_ne!(run(MemberId::new(1)), run(MemberId::new(2)));
        let unseeded = LinkFaults {
            seed: None,
            ..faults.clone()
        };
        let mut a = FaultRng::new(MemberId::new(1));
        let mut b = FaultRng::new(MemberId::new(1));
        let differ = frames.iter().any(|f| {
            apply(&unseeded, f.clone(), &mut a).copies != apply(&unseeded, f.clone(), &mut b).copies
        });
        assert!(differ);
    }
}
