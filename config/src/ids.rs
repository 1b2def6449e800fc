//! [`MemberId`]: the name of one node of a cluster's peer network.
//!
//! A member id is at the same time a member's position in the block layout
//! (data members have ids `0..N`, see the crate invariants), the identity a
//! peer proves in the link handshake, and its voter id in the metadata
//! group; the witness has an id of its own, `N` or more, and no position.
//! On disk the position is one byte (a fragment's index, FIG. 6): the only
//! way to it is the checked [`MemberId::fragment_index`], never a cast.
//!
//! Invariant: a `MemberId` is a plain number with no range check of its
//! own; "is this a data member" is a question for the member list (a
//! validated config holds at most 255 members, so every data member's id
//! has a fragment index).

use std::fmt;

use serde::{Deserialize, Serialize};

/// One node of the peer network: a data member (`0..N`) or the witness.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MemberId(u32);

impl MemberId {
    /// The member with this number.
    pub const fn new(id: u32) -> MemberId {
        MemberId(id)
    }

    /// Its number (for the wire formats and metrics that carry a `u32`).
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Its position in the block layout, as an index into per-member tables.
    pub const fn position(self) -> usize {
        self.0 as usize
    }

    /// The member at `position` in the block layout (`None` past `u32::MAX`).
    pub fn at(position: usize) -> Option<MemberId> {
        u32::try_from(position).ok().map(MemberId)
    }

    /// The member at `position` of a block layout (of at most 255 members,
    /// so the position fits; one past `u32::MAX`, which no layout has,
    /// would name no member rather than wrap onto one).
    pub fn of_position(position: usize) -> MemberId {
        debug_assert!(position < u32::MAX as usize, "layout position {position}");
        MemberId(u32::try_from(position).unwrap_or(u32::MAX))
    }

    /// Ids from their numbers, in the order given (lists in tests, tools).
    pub fn from_numbers(numbers: impl IntoIterator<Item = u32>) -> Vec<MemberId> {
        numbers.into_iter().map(MemberId::new).collect()
    }

    /// The data members of an `n`-member cluster, `0..n` in order.
    pub fn all(n: usize) -> impl Iterator<Item = MemberId> {
        (0..n).map_while(MemberId::at)
    }

    /// The one-byte fragment index a data member's fragments carry on disk;
    /// `None` for an id that cannot be one (the witness of a 255-member
    /// cluster, a hand-built id past 254).
    pub fn fragment_index(self) -> Option<u8> {
        u8::try_from(self.0).ok().filter(|&i| i < u8::MAX)
    }
}

impl From<u8> for MemberId {
    /// The member whose fragments carry index `i` on disk.
    fn from(i: u8) -> MemberId {
        MemberId(u32::from(i))
    }
}

/// The bare number, as in every document and message (not `MemberId(n)`).
impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for MemberId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<MemberId, Self::Err> {
        s.parse().map(MemberId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_index_is_checked_not_cast() {
        assert_eq!(MemberId::new(0).fragment_index(), Some(0));
        assert_eq!(MemberId::new(254).fragment_index(), Some(254));
        assert_eq!(MemberId::new(255).fragment_index(), None);
        assert_eq!(
            MemberId::new(256).fragment_index(),
            None,
            "a cast would give 0"
        );
        assert_eq!(MemberId::from(7u8), MemberId::new(7));
    }

    #[test]
    fn it_is_a_bare_number_in_toml_and_text() {
        let id = MemberId::new(3);
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Doc {
            id: MemberId,
        }
        let text = toml::to_string(&Doc { id }).unwrap_or_default();
        assert_eq!(text.trim(), "id = 3");
        assert_eq!(toml::from_str::<Doc>("id = 3").ok(), Some(Doc { id }));
        assert_eq!(id.to_string(), "3");
        // in error messages and logs a list of ids reads as numbers
        assert_eq!(format!("{:?}", [id, MemberId::new(4)]), "[3, 4]");
        assert_eq!("3".parse::<MemberId>().ok(), Some(id));
        assert_eq!(MemberId::at(3), Some(id));
        assert_eq!(
            MemberId::all(3).map(MemberId::get).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }
}
