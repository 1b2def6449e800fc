//! Who is asking, and may they: the one place a member turns a credential
//! into a key and a key into a yes or a no, for the HTTP API (`/v1`) and
//! the S3 listener alike.
//!
//! * With no `[auth]` in the config the member is open (the config allows
//!   that only on loopback addresses) and [`Authority::enabled`] is false.
//! * The root credential of `[auth]` is an admin key every member knows
//!   from its config; every other key lives in the replicated metadata
//!   (`meta::access`), read from what this member last applied, and — for
//!   a key it does not know yet (made a moment ago through another member)
//!   — once more linearizably before it is refused.
//! * Secrets are compared in constant time; no answer says whether the key
//!   id or the secret was wrong.
//! * A key id the linearizable read did not find is remembered as unknown
//!   for [`UNKNOWN_KEY_TTL`] ([`MAX_UNKNOWN_KEYS`] of them at most), so a
//!   client repeating a bad id, or guessing ids, costs a quorum round at
//!   most once per id per TTL. A key made meanwhile is still found at once
//!   once this member applies it (the local state is read first).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::meta::{Action, KeyEntry};
use crate::service::ObjectService;
use stripecast_config::AuthSettings;

/// Why a request is not served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No credential where one is needed (HTTP 401).
    #[error("authentication required")]
    Anonymous,
    /// An unknown key or a wrong secret (HTTP 403).
    #[error("invalid access key or secret")]
    BadCredential,
    /// A known key without the grant (HTTP 403).
    #[error("access denied")]
    NotAllowed,
    /// The metadata cannot be read now to check the key (HTTP 503).
    #[error("keys cannot be checked now; retry")]
    Unavailable,
}

impl Denied {
    pub fn status(&self) -> u16 {
        match self {
            Denied::Anonymous => 401,
            Denied::BadCredential | Denied::NotAllowed => 403,
            Denied::Unavailable => 503,
        }
    }
}

/// How long a key id found unknown by a linearizable read is not asked
/// about again.
pub const UNKNOWN_KEY_TTL: Duration = Duration::from_secs(1);

/// Unknown key ids remembered at most.
pub const MAX_UNKNOWN_KEYS: usize = 4096;

/// Key ids recently found unknown, with when.
#[derive(Default)]
struct UnknownKeys(Mutex<HashMap<String, Instant>>);

impl UnknownKeys {
    /// Whether `id` was found unknown less than [`UNKNOWN_KEY_TTL`] before `now`.
    fn fresh(&self, id: &str, now: Instant) -> bool {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id)
            .is_some_and(|at| now.saturating_duration_since(*at) < UNKNOWN_KEY_TTL)
    }

    /// Remembers `id` as unknown at `now`, within [`MAX_UNKNOWN_KEYS`]:
    /// stale entries go first, and all of them if none is stale.
    fn remember(&self, id: &str, now: Instant) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_UNKNOWN_KEYS && !map.contains_key(id) {
            map.retain(|_, at| now.saturating_duration_since(*at) < UNKNOWN_KEY_TTL);
            if map.len() >= MAX_UNKNOWN_KEYS {
                map.clear();
            }
        }
        map.insert(id.to_string(), now);
        debug_assert!(map.len() <= MAX_UNKNOWN_KEYS);
    }
}

/// Resolves credentials and grants for one member. Cheap to clone.
#[derive(Clone)]
pub struct Authority {
    root: Option<Arc<AuthSettings>>,
    service: ObjectService,
    unknown: Arc<UnknownKeys>,
}

impl Authority {
    pub fn new(root: Option<AuthSettings>, service: ObjectService) -> Authority {
        Authority {
            root: root.map(Arc::new),
            service,
            unknown: Arc::default(),
        }
    }

    /// Whether requests need keys (the config has `[auth]`).
    pub fn enabled(&self) -> bool {
        self.root.is_some()
    }

    /// The key with this access key id, if any.
    pub async fn key(&self, access_key_id: &str) -> Result<Option<KeyEntry>, Denied> {
        if let Some(root) = &self.root {
            if constant_time_eq(root.access_key_id.as_bytes(), access_key_id.as_bytes()) {
                return Ok(Some(KeyEntry {
                    name: "root".into(),
                    access_key_id: root.access_key_id.clone(),
                    secret: root.secret_access_key.clone(),
                    admin: true,
                    created_ns: 0,
                }));
            }
        }
        let Some(meta) = self.service.meta() else {
            return Err(Denied::Unavailable);
        };
        if let Some(k) = meta.access().key(access_key_id) {
            return Ok(Some(k.clone()));
        }
        if self.unknown.fresh(access_key_id, Instant::now()) {
            return Ok(None);
        }
        let id = access_key_id.to_string();
        let found = meta
            .read(move |s| s.access.key(&id).cloned())
            .await
            .map_err(|_| Denied::Unavailable)?;
        if found.is_none() {
            self.unknown.remember(access_key_id, Instant::now());
        }
        Ok(found)
    }

    /// The key a `(access key id, secret)` pair proves.
    pub async fn check_secret(
        &self,
        access_key_id: &str,
        secret: &str,
    ) -> Result<KeyEntry, Denied> {
        match self.key(access_key_id).await? {
            Some(k) if constant_time_eq(k.secret.as_bytes(), secret.as_bytes()) => Ok(k),
            _ => Err(Denied::BadCredential),
        }
    }

    /// Whether `key` (`None`: anonymous) may do `action` on object `name`
    /// (`None`: on the cluster). Open members allow everything.
    pub fn allows(
        &self,
        key: Option<&KeyEntry>,
        action: Action,
        name: Option<&str>,
    ) -> Result<(), Denied> {
        if !self.enabled() {
            return Ok(());
        }
        let access = self.service.meta().map(|m| m.access()).unwrap_or_default();
        if access.allows(key, action, name) {
            Ok(())
        } else if key.is_none() {
            Err(Denied::Anonymous)
        } else {
            Err(Denied::NotAllowed)
        }
    }
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_remembered_for_a_while_and_within_a_bound() {
        let u = UnknownKeys::default();
        let t0 = Instant::now();
        assert!(!u.fresh("NOSUCHKEY", t0));
        u.remember("NOSUCHKEY", t0);
        assert!(u.fresh("NOSUCHKEY", t0 + UNKNOWN_KEY_TTL / 2));
        assert!(!u.fresh("NOSUCHKEY", t0 + UNKNOWN_KEY_TTL));
        assert!(!u.fresh("OTHER", t0));
        // A flood of distinct ids never grows it past its bound.
        for i in 0..3 * MAX_UNKNOWN_KEYS {
            u.remember(&format!("GUESS{i}"), t0);
        }
        let len = u.0.lock().unwrap().len();
        assert!(len <= MAX_UNKNOWN_KEYS, "{len}");
        // Full, stale entries make room first (fresh ones are kept).
        let full = UnknownKeys::default();
        for i in 0..MAX_UNKNOWN_KEYS - 1 {
            full.remember(&format!("OLD{i}"), t0);
        }
        let later = t0 + UNKNOWN_KEY_TTL * 2;
        full.remember("RECENT", later);
        assert_eq!(full.0.lock().unwrap().len(), MAX_UNKNOWN_KEYS);
        full.remember("LATE", later);
        assert!(full.fresh("LATE", later) && full.fresh("RECENT", later));
        assert_eq!(full.0.lock().unwrap().len(), 2, "only the stale ones went");
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
