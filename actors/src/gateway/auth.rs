//! What each `/v1` request needs, and who it says it is: pure functions of
//! the method, the path and the `Authorization` header (table tests), used
//! by the gateway before any route runs.
//!
//! * Object reads need a key with a read grant on the bucket (the first
//!   segment of the name), or a public-read bucket; writes and deletes a
//!   write grant; everything that changes the cluster (keys, buckets,
//!   faults, scrub, injected messages) and the listing of every object an
//!   admin key. `/v1/cluster`, `/metrics` and `/v1/ring` stay open, or,
//!   with `[http] read_token`, need that bearer token or any key.
//! * A credential is `Authorization: Bearer ACCESS_KEY_ID:SECRET` (what
//!   `STRIPECAST_KEY` holds). SigV4-signed requests are the S3 listener's.
//!
//! Invariant: the need is decided on the path the router matches (actix's
//! partly decoded path, `match_info().as_str()`), and the object name is
//! taken from it exactly as the `{name:.*}` route captures it, never
//! decoded a second time: what is authorised is what is served. Reads are
//! denied by default; only the paths in [`OPEN_READS`] are open.

use actix_web::http::Method;

use crate::meta::Action;

/// What a request must be allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Nothing: served to anyone.
    Open,
    /// `action` on the object `name`, or on the cluster (`None`).
    Allowed(Action, Option<String>),
}

/// The credential a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    None,
    Bearer {
        access_key_id: String,
        secret: String,
    },
    /// An `Authorization` header this API does not take.
    Malformed,
}

/// Paths (and what lies under them) anyone may GET or HEAD.
pub const OPEN_READS: &[&str] = &["/v1/cluster", "/metrics", "/v1/ring"];

/// What `method` on `path` (the router's path: `match_info().as_str()`) needs.
pub fn need(method: &Method, path: &str) -> Need {
    let read = method == Method::GET || method == Method::HEAD;
    if let Some(name) = path.strip_prefix("/v1/objects/") {
        let action = if read { Action::Read } else { Action::Write };
        return Need::Allowed(action, Some(name.to_string()));
    }
    let under = |p: &str| {
        path == p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'))
    };
    if read && OPEN_READS.iter().any(|p| under(p)) {
        Need::Open
    } else {
        Need::Allowed(Action::Admin, None)
    }
}

/// Whether an `Authorization` header value is `Bearer TOKEN` (compared in
/// constant time).
pub fn is_token(header: Option<&str>, token: &str) -> bool {
    header
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .is_some_and(|t| crate::authority::constant_time_eq(t.trim().as_bytes(), token.as_bytes()))
}

/// The credential of an `Authorization` header value.
pub fn credential(header: Option<&str>) -> Credential {
    let Some(value) = header else {
        return Credential::None;
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return Credential::Malformed;
    };
    match token.trim().split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Credential::Bearer {
            access_key_id: id.to_string(),
            secret: secret.to_string(),
        },
        _ => Credential::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_request_needs() {
        let table: &[(Method, &str, Need)] = &[
            (
                Method::GET,
                "/v1/objects/videos/a.ts",
                Need::Allowed(Action::Read, Some("videos/a.ts".into())),
            ),
            (
                Method::HEAD,
                "/v1/objects/videos/a%2Fb.ts",
                Need::Allowed(Action::Read, Some("videos/a%2Fb.ts".into())),
            ),
            // Anything not listed open is the admin's, encoded or not.
            (
                Method::GET,
                "/v1/%6Fbjects/p/s.ts",
                Need::Allowed(Action::Admin, None),
            ),
            (Method::GET, "/v1/keysX", Need::Allowed(Action::Admin, None)),
            (
                Method::GET,
                "/v1/clusterX",
                Need::Allowed(Action::Admin, None),
            ),
            (Method::GET, "/", Need::Allowed(Action::Admin, None)),
            (
                Method::PUT,
                "/v1/objects/videos/a.ts",
                Need::Allowed(Action::Write, Some("videos/a.ts".into())),
            ),
            (
                Method::DELETE,
                "/v1/objects/x",
                Need::Allowed(Action::Write, Some("x".into())),
            ),
            (
                Method::GET,
                "/v1/objects",
                Need::Allowed(Action::Admin, None),
            ),
            (
                Method::POST,
                "/v1/scrub",
                Need::Allowed(Action::Admin, None),
            ),
            (
                Method::PUT,
                "/v1/faults/2",
                Need::Allowed(Action::Admin, None),
            ),
            (
                Method::GET,
                "/v1/faults",
                Need::Allowed(Action::Admin, None),
            ),
            (
                Method::DELETE,
                "/v1/faults/2",
                Need::Allowed(Action::Admin, None),
            ),
            (
                Method::POST,
                "/v1/inject",
                Need::Allowed(Action::Admin, None),
            ),
            (Method::GET, "/v1/keys", Need::Allowed(Action::Admin, None)),
            (Method::POST, "/v1/keys", Need::Allowed(Action::Admin, None)),
            (
                Method::PUT,
                "/v1/buckets/b",
                Need::Allowed(Action::Admin, None),
            ),
            (
                Method::POST,
                "/v1/ring/insert",
                Need::Allowed(Action::Admin, None),
            ),
            (Method::GET, "/v1/cluster", Need::Open),
            (Method::GET, "/metrics", Need::Open),
            (Method::GET, "/v1/ring", Need::Open),
        ];
        for (method, path, want) in table {
            assert_eq!(&need(method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn a_read_token_is_a_whole_bearer_token() {
        let t = "scrape-token-0123456789";
        assert!(is_token(Some("Bearer scrape-token-0123456789"), t));
        assert!(is_token(Some("bearer scrape-token-0123456789 "), t));
        assert!(!is_token(Some("Bearer scrape-token-012345678"), t));
        assert!(!is_token(Some("Basic scrape-token-0123456789"), t));
        assert!(!is_token(Some("scrape-token-0123456789"), t));
        assert!(!is_token(None, t));
    }

    #[test]
    fn credentials_are_read_from_bearer_tokens_only() {
        assert_eq!(credential(None), Credential::None);
        assert_eq!(
            credential(Some("Bearer AK:se:cret")),
            Credential::Bearer {
                access_key_id: "AK".into(),
                secret: "se:cret".into()
            }
        );
        for bad in [
            "Basic abc",
            "Bearer nocolon",
            "Bearer :x",
            "Bearer AK:",
            "AWS4-HMAC-SHA256 x",
        ] {
            assert_eq!(credential(Some(bad)), Credential::Malformed, "{bad}");
        }
    }
}
