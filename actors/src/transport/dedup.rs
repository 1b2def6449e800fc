//! The request ids already served on one connection, so a frame the
//! network (or the `duplicate` fault) delivers twice is served once.
//!
//! Request ids are unique per sender and connection, so a repeated id is a
//! duplicate, never a new request; the window is per connection (a new
//! connection starts empty). Bounded: the last `SEEN_REQUEST_IDS` ids; a
//! copy arriving later than that many requests after the original would be
//! served again, which duplicated frames (sent back to back) never are.

use std::collections::{HashSet, VecDeque};

/// Request ids remembered per connection.
pub(crate) const SEEN_REQUEST_IDS: usize = 8192;

#[derive(Debug)]
pub(crate) struct SeenIds {
    set: HashSet<u64>,
    order: VecDeque<u64>,
    limit: usize,
}

impl SeenIds {
    pub(crate) fn new(limit: usize) -> SeenIds {
        SeenIds {
            set: HashSet::with_capacity(limit.min(1024)),
            order: VecDeque::with_capacity(limit.min(1024)),
            limit: limit.max(1),
        }
    }

    /// True the first time `id` is seen (within the window).
    pub(crate) fn first_time(&mut self, id: u64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.limit {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        debug_assert_eq!(self.set.len(), self.order.len());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_caught_within_the_window_and_memory_is_bounded() {
        let mut s = SeenIds::new(3);
        assert!(s.first_time(1));
        assert!(!s.first_time(1));
        assert!(s.first_time(3));
        assert!(s.first_time(2));
        assert!(!s.first_time(3));
        assert!(s.first_time(4)); // 1 leaves the window
        assert!(s.first_time(1));
        assert_eq!(s.order.len(), 3);
    }
}
