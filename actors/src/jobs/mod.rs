//! Long-running jobs run under the member's `jobs` dynamic supervisor
//! (transient: restarted with backoff after a failure, forgotten when done).

pub mod rebuild;
pub mod throttle;
