//! Test-only hooks a member can be started with (`stripecast node
//! --test-hook NAME`, repeatable). Off by default; a member started without
//! them has neither the endpoint nor the behaviour below.
//!
//! * `inject`: `POST /v1/inject` with `{"from": PEER, "request": REQUEST}`
//!   or `{"from": PEER, "heartbeat": STATUS}`. A heartbeat STATUS (a
//!   [`crate::protocol::NodeStatus`]) enters the membership view as PEER's
//!   latest status, exactly as one arriving on PEER's link would, and stays
//!   until PEER's real status next changes (links report changes only). A
//!   member told that a peer holds a newer HomeBlock incarnation must treat
//!   itself as stale (answer 503 or rebuild), never serve or acknowledge
//!   anything wrong. A REQUEST is handed (any [`crate::protocol::Request`], in its serde JSON form,
//!   e.g. `{"Commit": {"record": {...}, "dirty": []}}`) to this member's
//!   request handler exactly as if peer PEER had sent it over its
//!   authenticated link, and answers the handler's [`crate::protocol::Response`]
//!   as JSON. What a member must do with the crafted messages `stripecast
//!   chaos` injects:
//!   * a stale `Commit` (a record whose incarnation is below the current
//!     one): answer `Committed { applied: false }` and change nothing;
//!   * a duplicate `Commit` of the current record: change nothing;
//!   * a stale `Delete` (incarnation below the current one): keep the
//!     current incarnation and its fragments;
//!   * `GetRecord`, `DirtySet`, `Ping`: answer, change nothing.
//!     Every other request is injectable too and is handled as from a peer;
//!     forging a newer commit or a block write is possible and is exactly as
//!     destructive as a malicious member would be: that is what the hook is for.
//! * `serve-unverified`: blocks are served to peers without checking their
//!   CRC-32C. A planted fault: with disk rot, such a member serves wrong
//!   bytes, which `stripecast chaos` must report.

use std::fmt;

/// The hooks a member runs with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestHooks {
    /// `POST /v1/inject` is open.
    pub inject: bool,
    /// Block reads skip checksum verification (a planted fault).
    pub serve_unverified: bool,
}

/// A hook name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown test hook `{0}` (known: inject, serve-unverified)")]
pub struct UnknownHook(pub String);

impl TestHooks {
    /// The hooks named in `names` (`inject`, `serve-unverified`).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<TestHooks, UnknownHook> {
        let mut h = TestHooks::default();
        for n in names {
            match n.as_ref() {
                "inject" => h.inject = true,
                "serve-unverified" => h.serve_unverified = true,
                other => return Err(UnknownHook(other.to_string())),
            }
        }
        Ok(h)
    }

    pub fn any(&self) -> bool {
        *self != TestHooks::default()
    }
}

impl fmt::Display for TestHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = Vec::new();
        if self.inject {
            names.push("inject");
        }
        if self.serve_unverified {
            names.push("serve-unverified");
        }
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_hooks_and_names_unknown_ones() {
        assert_eq!(TestHooks::parse::<&str>(&[]).unwrap(), TestHooks::default());
        let h = TestHooks::parse(&["inject", "serve-unverified"]).unwrap();
        assert!(h.inject && h.serve_unverified && h.any());
        assert_eq!(h.to_string(), "inject,serve-unverified");
        assert_eq!(
            TestHooks::parse(&["injekt"]).unwrap_err().to_string(),
            "unknown test hook `injekt` (known: inject, serve-unverified)"
        );
    }
}
