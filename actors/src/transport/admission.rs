//! Which inbound connection gives way when the peer port is crowded: the
//! listener's admission rule, a pure function of the handshakes in progress.
//!
//! A configured peer's handshake takes a few round trips (well under a
//! millisecond on a LAN), a stranger's can take the whole deadline. So when
//! the slots are full the listener does not turn the newcomer away (a flood
//! of silent connections would then keep every peer out for as long as it
//! lasts); it closes the oldest handshake that has said nothing yet, and
//! only when every slot is talking, the oldest of all. A flood can then only
//! push out its own connections: a peer that connects in between has sent
//! its Hello long before `max_handshakes` newer connections arrive.
//!
//! Invariants: at most `max_handshakes` handshakes at once and at most
//! `max_per_source` from one address; the newcomer is always admitted (the
//! evicted one makes room); a silent handshake is evicted before a talking
//! one, an older one before a newer one, one of the newcomer's own source
//! first when that source is over its share.

use std::net::IpAddr;

/// A handshake in progress, as the admission rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InProgress {
    /// Order of arrival (smaller: older).
    pub seq: u64,
    pub source: IpAddr,
    /// Bytes have arrived on it (a Hello, or garbage about to fail).
    pub talking: bool,
}

/// The handshakes to close before `source`'s new connection is admitted
/// (at most one: each admission makes room for one). `pending` is in any
/// order.
pub fn evict(
    pending: &[InProgress],
    source: IpAddr,
    max_handshakes: usize,
    max_per_source: usize,
) -> Option<u64> {
    let from_source = pending.iter().filter(|p| p.source == source);
    if from_source.clone().count() >= max_per_source.max(1) {
        return pick(from_source);
    }
    if pending.len() >= max_handshakes.max(1) {
        return pick(pending.iter());
    }
    None
}

/// The oldest silent handshake, else the oldest.
fn pick<'a>(candidates: impl Iterator<Item = &'a InProgress> + Clone) -> Option<u64> {
    candidates
        .clone()
        .filter(|p| !p.talking)
        .map(|p| p.seq)
        .min()
        .or_else(|| candidates.map(|p| p.seq).min())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn hs(seq: u64, source: u8, talking: bool) -> InProgress {
        InProgress {
            seq,
            source: ip(source),
            talking,
        }
    }

    /// (pending, newcomer's source, max, per source) -> evicted
    type Case = (Vec<InProgress>, u8, usize, usize, Option<u64>);

    #[test]
    fn the_oldest_silent_gives_way_first() {
        let table: Vec<Case> = vec![
            (vec![], 1, 4, 4, None),
            (vec![hs(1, 1, false), hs(2, 2, false)], 3, 4, 4, None),
            // full: the oldest silent one, wherever it is from
            (
                vec![
                    hs(1, 1, true),
                    hs(2, 2, false),
                    hs(3, 2, false),
                    hs(4, 3, true),
                ],
                5,
                4,
                4,
                Some(2),
            ),
            // full and all talking: the oldest
            (
                vec![hs(3, 1, true), hs(1, 2, true), hs(2, 3, true)],
                4,
                3,
                8,
                Some(1),
            ),
            // the source is over its share: one of its own, even if another
            // source has an older silent one
            (
                vec![hs(1, 9, false), hs(2, 1, true), hs(3, 1, false)],
                1,
                8,
                2,
                Some(3),
            ),
            (
                vec![hs(1, 9, false), hs(2, 1, true), hs(3, 1, true)],
                1,
                8,
                2,
                Some(2),
            ),
            // limits of 0 act as 1
            (vec![hs(1, 1, true)], 2, 0, 0, Some(1)),
        ];
        for (pending, source, max, per, want) in table {
            assert_eq!(
                evict(&pending, ip(source), max, per),
                want,
                "{pending:?} newcomer from {source}, max {max}/{per}"
            );
        }
    }

    proptest::proptest! {
        /// Admitting every newcomer after its eviction keeps both bounds,
        /// and a talking handshake is never evicted while a silent one of
        /// the same group waits.
        #[test]
        fn bounds_hold_and_silence_goes_first(
            arrivals in proptest::collection::vec((0u8..4, proptest::bool::ANY), 1..200),
            max in 1usize..10,
            per in 1usize..10,
        ) {
            let mut pending: Vec<InProgress> = Vec::new();
            for (seq, &(source, talks)) in arrivals.iter().enumerate() {
                if let Some(gone) = evict(&pending, ip(source), max, per) {
                    let victim = *pending.iter().find(|p| p.seq == gone).unwrap();
                    let mine = pending.iter().filter(|p| p.source == ip(source)).count();
                    let group: Vec<&InProgress> = pending
                        .iter()
                        .filter(|p| mine < per || p.source == ip(source))
                        .collect();
                    proptest::prop_assert!(group.contains(&&victim), "evicted outside its group");
                    let older_of_kind = group
                        .iter()
                        .any(|p| p.talking == victim.talking && p.seq < victim.seq);
                    proptest::prop_assert!(!older_of_kind, "a newer one evicted first");
                    if victim.talking {
                        proptest::prop_assert!(
                            group.iter().all(|p| p.talking),
                            "talking evicted while a silent one waits"
                        );
                    }
                    pending.retain(|p| p.seq != gone);
                }
                pending.push(hs(seq as u64, source, talks));
                proptest::prop_assert!(pending.len() <= max);
                let mine = pending.iter().filter(|p| p.source == ip(source)).count();
                proptest::prop_assert!(mine <= per);
            }
        }
    }
}
