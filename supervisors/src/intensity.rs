//! Restart intensity: at most `max_restarts` restarts within any `period`.
//!
//! Invariant: `times` holds only restarts younger than `period`, oldest first.
//! One more restart than allowed inside the window means the supervisor gives up
//! (OTP's rule: restarts > intensity within period).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// OTP's defaults: 1 restart in 5 seconds.
pub const DEFAULT_MAX_RESTARTS: u32 = 1;
/// OTP's defaults: 1 restart in 5 seconds.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(5);

/// A sliding window of restart times.
#[derive(Debug, Clone)]
pub struct Intensity {
    max_restarts: u32,
    period: Duration,
    times: VecDeque<Instant>,
}

impl Intensity {
    pub fn new(max_restarts: u32, period: Duration) -> Self {
        Intensity {
            max_restarts,
            period,
            times: VecDeque::new(),
        }
    }

    /// Records a restart at `now`; returns false when this restart exceeds the intensity.
    pub fn record(&mut self, now: Instant) -> bool {
        while let Some(&t) = self.times.front() {
            if now.duration_since(t) >= self.period {
                self.times.pop_front();
            } else {
                break;
            }
        }
        self.times.push_back(now);
        self.times.len() as u64 <= u64::from(self.max_restarts)
    }

    pub fn max_restarts(&self) -> u32 {
        self.max_restarts
    }

    pub fn period(&self) -> Duration {
        self.period
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_exactly_max_restarts_in_a_burst() {
        let t0 = Instant::now();
        let mut i = Intensity::new(3, Duration::from_secs(1));
        assert!(i.record(t0));
        assert!(i.record(t0));
        assert!(i.record(t0));
        assert!(
            !i.record(t0),
            "the fourth restart within the period exceeds 3"
        );
    }

    #[test]
    fn restarts_spread_over_time_do_not_accumulate() {
        let t0 = Instant::now();
        let mut i = Intensity::new(1, Duration::from_millis(100));
        for k in 0..10 {
            assert!(i.record(t0 + Duration::from_millis(150 * k)));
        }
    }

    #[test]
    fn zero_intensity_refuses_the_first_restart() {
        let mut i = Intensity::new(0, Duration::from_secs(5));
        assert!(!i.record(Instant::now()));
    }
}
