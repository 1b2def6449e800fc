//! Names for the metadata log's numbers: [`Term`] (a leadership epoch)
//! and [`LogIndex`] (a position in the log), so neither passes for the
//! other or for a count. raft-rs speaks bare `u64`s; the conversion is at
//! the group's edge (`group.rs`, `storage.rs`) and nowhere else.
//!
//! Both are bare numbers on the wire and in JSON (`serde(transparent)`),
//! ordered, and 0 means "none yet" as in raft-rs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Raft term: at most one leader per term; a higher one wins.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Term(u64);

/// A position in the metadata log (1 is the first entry; 0: none yet).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LogIndex(u64);

impl Term {
    pub const fn new(term: u64) -> Term {
        Term(term)
    }

    pub const fn get(self) -> u64 {
        self.0
    }
}

impl LogIndex {
    pub const fn new(index: u64) -> LogIndex {
        LogIndex(index)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    /// Entries from `earlier` (exclusive) to this one: how far behind a
    /// replica at `earlier` is (0 when it is not behind).
    pub const fn entries_since(self, earlier: LogIndex) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// The bare number, as in every document and message (not `Term(n)`).
impl fmt::Debug for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The bare number, as in every document and message (not `LogIndex(n)`).
impl fmt::Debug for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_a_count_and_never_negative() {
        assert_eq!(LogIndex::new(10).entries_since(LogIndex::new(7)), 3);
        assert_eq!(LogIndex::new(7).entries_since(LogIndex::new(10)), 0);
        assert!(Term::new(3) > Term::new(2));
        assert_eq!(
            serde_json::to_string(&(Term::new(4), LogIndex::new(9))).ok(),
            Some("[4,9]".into())
        );
    }
}
