//! [`Incarnation`]: one write of one object. Every PUT of a name gets a
//! fresh one (from a block the metadata log reserved), its fragments carry
//! it in their header and file name (FIG. 6) and its record names it, so a
//! fragment of an older write is never taken for the current one. Not the
//! volume's epoch ([`crate::VolumeIncarnation`]).
//!
//! On disk a 4-byte little-endian field and `.i<decimal>` in a fragment's
//! name (its `Display`; `LowerHex` serves the ETag); on the wire and in JSON a bare number (`serde(transparent)`).
//! 0 is never handed out.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One write of one object.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Incarnation(u32);

impl Incarnation {
    pub const fn new(n: u32) -> Incarnation {
        Incarnation(n)
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    /// The first incarnation ever handed out (0 never is).
    pub const FIRST: Incarnation = Incarnation(1);

    /// The incarnation `n` after this one (`None` past `u32::MAX`): the
    /// end of a block of `n` reserved from this one.
    pub fn checked_add(self, n: u32) -> Option<Incarnation> {
        self.0.checked_add(n).map(Incarnation)
    }

    /// Whether it lies in the block of `count` starting at `first`.
    pub fn in_block(self, first: Incarnation, count: u32) -> bool {
        first <= self && u64::from(self.0) < u64::from(first.0) + u64::from(count)
    }
}

/// The bare number, as in every document and message (not `Incarnation(n)`).
impl fmt::Debug for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::LowerHex for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}
