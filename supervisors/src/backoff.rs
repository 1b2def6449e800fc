//! Exponential, capped restart delay for children such as peer connections,
//! where restarting in a tight loop only burns CPU against a dead peer.
//!
//! Invariant: the delay never exceeds `max`; a child that ran for at least
//! `reset_after` before failing starts again from `initial`.

use std::time::Duration;

/// Restart delay policy for one child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// A run at least this long forgives earlier failures.
    pub reset_after: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            reset_after: max.saturating_mul(2),
        }
    }

    /// The delay before restart number `attempt` (0-based) of a failing streak.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
        let got: Vec<u128> = (0..6).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(got, vec![10, 20, 40, 80, 100, 100]);
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(100));
    }
}
