//! A byte-rate throttle for background work (the heal): callers say how
//! many bytes they are about to write and wait until the configured rate
//! allows them, so clients keep their throughput while a member catches up.
//!
//! Invariant: over any run, bytes paced through one throttle never exceed
//! `rate x elapsed` plus one call's worth; a rate of 0 never waits.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shared by every object a job works on at once.
pub struct Throttle {
    bytes_per_s: u64,
    /// When pacing started, and the bytes paced since.
    state: Mutex<(Instant, u64)>,
}

/// When `total_bytes` are due at `bytes_per_s`, counted from the start
/// (zero when unthrottled).
fn due(total_bytes: u64, bytes_per_s: u64) -> Duration {
    if bytes_per_s == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(total_bytes as f64 / bytes_per_s as f64)
}

impl Throttle {
    /// A throttle at `mb_per_s` (10^6 bytes per second); 0 is unthrottled.
    pub fn new(mb_per_s: u32) -> Throttle {
        Throttle {
            bytes_per_s: u64::from(mb_per_s) * 1_000_000,
            state: Mutex::new((Instant::now(), 0)),
        }
    }

    /// How long to wait before `bytes` more may go.
    fn delay(&self, bytes: u64) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.1 = s.1.saturating_add(bytes);
        due(s.1, self.bytes_per_s).saturating_sub(s.0.elapsed())
    }

    /// Waits until `bytes` more may go.
    pub async fn pace(&self, bytes: u64) {
        let d = self.delay(bytes);
        if !d.is_zero() {
            actix_rt::time::sleep(d).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_due_at_the_rate() {
        assert_eq!(due(25_000_000, 10_000_000), Duration::from_millis(2500));
        assert_eq!(due(1, 0), Duration::ZERO);
        assert_eq!(due(u64::MAX, 0), Duration::ZERO);
    }

    #[test]
    fn a_burst_waits_and_an_unthrottled_one_does_not() {
        let t = Throttle::new(10);
        let first = t.delay(5_000_000);
        assert!(first > Duration::from_millis(400) && first <= Duration::from_millis(500));
        let second = t.delay(5_000_000);
        assert!(second > Duration::from_millis(900), "{second:?}");
        assert_eq!(Throttle::new(0).delay(u64::MAX), Duration::ZERO);
    }
}
