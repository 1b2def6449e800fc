//! Why a supervised actor stopped.
//!
//! The reason decides what a supervisor does next: `transient` children are
//! restarted only after an abnormal exit, and monitors receive it in `Down`.
//! `Normal` and `Shutdown` are the only normal reasons, as in OTP.

use std::fmt;

/// The exit reason of an actor started through this crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// The actor stopped on its own, without recording a reason.
    Normal,
    /// The actor stopped because its supervisor (or a holder of its [`crate::Pid`]) asked it to.
    Shutdown,
    /// The actor was aborted: brutal kill, or it did not stop within its shutdown timeout.
    Killed,
    /// A handler (or `started`/`stopping`) panicked; the payload's message.
    Panic(String),
    /// The actor stopped itself with an error (see [`crate::ChildContext::fail`]).
    Error(String),
    /// A supervisor gave up: its restart intensity was exceeded.
    Escalated(String),
    /// The process was already gone when a monitor was set up.
    NoProc,
}

impl ExitReason {
    /// `Normal` and `Shutdown` are normal; everything else is abnormal (OTP's rule).
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Shutdown)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::Panic(m) => write!(f, "panic: {m}"),
            ExitReason::Error(m) => write!(f, "error: {m}"),
            ExitReason::Escalated(m) => write!(f, "escalated: {m}"),
            ExitReason::NoProc => f.write_str("noproc"),
        }
    }
}

/// Turns a panic payload into the message that panicked.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_normal_and_shutdown_are_normal() {
        assert!(ExitReason::Normal.is_normal());
        assert!(ExitReason::Shutdown.is_normal());
        for r in [
            ExitReason::Killed,
            ExitReason::Panic("x".into()),
            ExitReason::Error("x".into()),
            ExitReason::Escalated("x".into()),
            ExitReason::NoProc,
        ] {
            assert!(!r.is_normal(), "{r} must be abnormal");
        }
    }

    #[test]
    fn panic_messages_are_extracted() {
        assert_eq!(panic_message(Box::new("boom")), "boom");
        assert_eq!(panic_message(Box::new(String::from("bang"))), "bang");
        assert_eq!(panic_message(Box::new(7u32)), "non-string panic payload");
    }
}
