//! Access keys, buckets and grants: the part of the replicated metadata
//! that decides who may do what.
//!
//! Every member applies the same [`AccessCommand`]s in log order, so every
//! member authorises a request the same way, and a key survives any member
//! failure (it is in the log and the snapshots, like an object record).
//! [`AccessState::apply`] is pure; the gateway and the S3 listener only ask
//! [`AccessState::secret_of`] and [`AccessState::allows`].
//!
//! Invariants (checked by the tests):
//! * an access key id names one key, a key name one access key id;
//! * a bucket is deleted only when no object lies under `BUCKET/`
//!   (checked by the caller, which holds the objects) and its grants go
//!   with it; deleting a key removes its grants everywhere;
//! * a command is applied once: every proposal carries a random op id,
//!   and a copy of it (the runner resends what a lost or changed leader
//!   may have dropped) answers the first copy's outcome and changes
//!   nothing, even after other commands came between (a resent grant
//!   never undoes a later revoke); op ids are remembered for
//!   [`OP_HORIZON_ENTRIES`] log entries, far longer than a proposal is resent;
//! * memory is bounded: at most [`MAX_KEYS`] keys and [`MAX_BUCKETS`]
//!   buckets, each of bounded size.
//!
//! Secrets are kept as they are in the log and the snapshots (SigV4 needs
//! the secret itself to check a signature); the metadata files are the
//! member's own (mode 0600 in a 0700 directory), like the cluster secret
//! in its config.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Keys the cluster holds at most.
pub const MAX_KEYS: usize = 10_000;
/// Buckets the cluster holds at most.
pub const MAX_BUCKETS: usize = 10_000;
/// Longest key name, in bytes.
pub const MAX_KEY_NAME_BYTES: usize = 64;
/// Log entries an applied op id is remembered (a resent proposal arrives
/// within `runner::WAIT_MS`, a few thousand entries at most).
pub const OP_HORIZON_ENTRIES: u64 = 100_000;

/// One access key. Its Debug form never shows the secret (commands are
/// logged).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// The operator's name for the key (`stripecast key create NAME`).
    pub name: String,
    /// The access key id (what a request names).
    pub access_key_id: String,
    /// The secret access key (shown once, at creation).
    pub secret: String,
    /// An admin key may do everything, including changing the cluster.
    pub admin: bool,
    pub created_ns: u64,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("name", &self.name)
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"<redacted>")
            .field("admin", &self.admin)
            .field("created_ns", &self.created_ns)
            .finish()
    }
}

/// What a key may do in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub read: bool,
    pub write: bool,
}

/// One bucket: a namespace of objects named `BUCKET/KEY`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEntry {
    pub created_ns: u64,
    /// Anyone may read its objects (video players that cannot sign).
    pub public_read: bool,
    /// Key name -> what it may do here.
    pub grants: BTreeMap<String, Grant>,
}

/// A change to keys, buckets or grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessCommand {
    CreateKey(KeyEntry),
    DeleteKey {
        name: String,
    },
    CreateBucket {
        bucket: String,
        created_ns: u64,
    },
    /// Removes an empty bucket (the caller checks it is empty).
    DeleteBucket {
        bucket: String,
    },
    /// Sets (replaces) what `key` may do in `bucket`; both false removes the grant.
    Grant {
        bucket: String,
        key: String,
        grant: Grant,
    },
    PublicRead {
        bucket: String,
        public_read: bool,
    },
}

/// Why an access command changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AccessRefusal {
    #[error("a key named {0:?} exists")]
    KeyExists(String),
    #[error("no key named {0:?}")]
    NoSuchKey(String),
    #[error("the bucket {0:?} exists")]
    BucketExists(String),
    #[error("no bucket named {0:?}")]
    NoSuchBucket(String),
    #[error("the bucket {0:?} is not empty")]
    BucketNotEmpty(String),
    #[error("the cluster holds its limit of {0}")]
    Full(String),
    #[error("{0}")]
    Invalid(String),
}

/// The keys, buckets and grants of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessState {
    /// Access key id -> key.
    pub keys: BTreeMap<String, KeyEntry>,
    /// Bucket name -> bucket.
    pub buckets: BTreeMap<String, BucketEntry>,
    /// Op ids applied in the last [`OP_HORIZON_ENTRIES`] entries: the log
    /// index they applied at and their outcome.
    #[serde(default)]
    pub recent_ops: BTreeMap<u64, (u64, Option<AccessRefusal>)>,
}

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    /// Change the cluster (keys, buckets, faults, scrub).
    Admin,
}

/// Whether `name` is a bucket name S3 clients accept: 3-63 bytes of
/// lower-case letters, digits, `-` and `.`, starting and ending with a
/// letter or digit.
pub fn check_bucket_name(name: &str) -> Result<(), AccessRefusal> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&name.len())
        || !name.chars().all(ok_char)
        || !edge(name.chars().next())
        || !edge(name.chars().last())
        || name.contains("..")
    {
        return Err(AccessRefusal::Invalid(format!(
            "{name:?} is not a bucket name (3-63 of a-z 0-9 - ., starting and ending with a letter or digit)"
        )));
    }
    Ok(())
}

/// Whether `name` is a key name: 1-64 bytes of letters, digits, `-`, `_`, `.`.
pub fn check_key_name(name: &str) -> Result<(), AccessRefusal> {
    if name.is_empty()
        || name.len() > MAX_KEY_NAME_BYTES
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(AccessRefusal::Invalid(format!(
            "{name:?} is not a key name (1-{MAX_KEY_NAME_BYTES} of A-Z a-z 0-9 - _ .)"
        )));
    }
    Ok(())
}

impl AccessState {
    /// Applies the command of op `op` at log index `index`, once: a copy of
    /// an op applied before answers its outcome and changes nothing.
    pub fn apply_once(
        &mut self,
        op: u64,
        index: u64,
        cmd: &AccessCommand,
        bucket_is_empty: impl Fn(&str) -> bool,
    ) -> Result<(), AccessRefusal> {
        if let Some((_, outcome)) = self.recent_ops.get(&op) {
            return outcome.clone().map_or(Ok(()), Err);
        }
        self.recent_ops
            .retain(|_, (at, _)| index.saturating_sub(*at) < OP_HORIZON_ENTRIES);
        let outcome = self.apply(cmd, bucket_is_empty);
        self.recent_ops.insert(op, (index, outcome.clone().err()));
        outcome
    }

    /// Applies `cmd`; `bucket_is_empty` tells whether any object lies under
    /// `BUCKET/` (asked only for a delete).
    pub fn apply(
        &mut self,
        cmd: &AccessCommand,
        bucket_is_empty: impl Fn(&str) -> bool,
    ) -> Result<(), AccessRefusal> {
        match cmd {
            AccessCommand::CreateKey(key) => {
                check_key_name(&key.name)?;
                if let Some(existing) = self.keys.get(&key.access_key_id) {
                    // A retried proposal of the same key is no change.
                    return if existing == key {
                        Ok(())
                    } else {
                        Err(AccessRefusal::KeyExists(key.access_key_id.clone()))
                    };
                }
                if self.key_by_name(&key.name).is_some() {
                    return Err(AccessRefusal::KeyExists(key.name.clone()));
                }
                if self.keys.len() >= MAX_KEYS {
                    return Err(AccessRefusal::Full("keys".into()));
                }
                if key.access_key_id.is_empty() || key.secret.is_empty() {
                    return Err(AccessRefusal::Invalid("empty key id or secret".into()));
                }
                self.keys.insert(key.access_key_id.clone(), key.clone());
                Ok(())
            }
            AccessCommand::DeleteKey { name } => {
                let id = self
                    .key_by_name(name)
                    .map(|k| k.access_key_id.clone())
                    .ok_or_else(|| AccessRefusal::NoSuchKey(name.clone()))?;
                self.keys.remove(&id);
                for bucket in self.buckets.values_mut() {
                    bucket.grants.remove(name);
                }
                Ok(())
            }
            AccessCommand::CreateBucket { bucket, created_ns } => {
                check_bucket_name(bucket)?;
                if self.buckets.contains_key(bucket) {
                    return Err(AccessRefusal::BucketExists(bucket.clone()));
                }
                if self.buckets.len() >= MAX_BUCKETS {
                    return Err(AccessRefusal::Full("buckets".into()));
                }
                self.buckets.insert(
                    bucket.clone(),
                    BucketEntry {
                        created_ns: *created_ns,
                        ..BucketEntry::default()
                    },
                );
                Ok(())
            }
            AccessCommand::DeleteBucket { bucket } => {
                if !self.buckets.contains_key(bucket) {
                    return Err(AccessRefusal::NoSuchBucket(bucket.clone()));
                }
                if !bucket_is_empty(bucket) {
                    return Err(AccessRefusal::BucketNotEmpty(bucket.clone()));
                }
                self.buckets.remove(bucket);
                Ok(())
            }
            AccessCommand::Grant { bucket, key, grant } => {
                if self.key_by_name(key).is_none() {
                    return Err(AccessRefusal::NoSuchKey(key.clone()));
                }
                let b = self
                    .buckets
                    .get_mut(bucket)
                    .ok_or_else(|| AccessRefusal::NoSuchBucket(bucket.clone()))?;
                if grant.read || grant.write {
                    b.grants.insert(key.clone(), *grant);
                } else {
                    b.grants.remove(key);
                }
                Ok(())
            }
            AccessCommand::PublicRead {
                bucket,
                public_read,
            } => {
                let b = self
                    .buckets
                    .get_mut(bucket)
                    .ok_or_else(|| AccessRefusal::NoSuchBucket(bucket.clone()))?;
                b.public_read = *public_read;
                Ok(())
            }
        }
    }

    /// The key named `name`.
    pub fn key_by_name(&self, name: &str) -> Option<&KeyEntry> {
        self.keys.values().find(|k| k.name == name)
    }

    /// The key whose access key id is `id`.
    pub fn key(&self, access_key_id: &str) -> Option<&KeyEntry> {
        self.keys.get(access_key_id)
    }

    /// Whether `key` (`None`: an anonymous request) may do `action` on the
    /// object `name` (`BUCKET/KEY`) or, with `name` `None`, on the cluster.
    /// Admin keys may do everything; others only what a bucket grants them;
    /// anyone may read a public-read bucket.
    pub fn allows(&self, key: Option<&KeyEntry>, action: Action, name: Option<&str>) -> bool {
        if key.is_some_and(|k| k.admin) {
            return true;
        }
        let bucket = name
            .and_then(|n| n.split_once('/').map(|(b, _)| b))
            .and_then(|b| self.buckets.get(b).map(|entry| (b, entry)));
        let Some((_, entry)) = bucket else {
            return false;
        };
        match action {
            Action::Admin => false,
            Action::Read if entry.public_read => true,
            Action::Read => key.is_some_and(|k| entry.grants.get(&k.name).is_some_and(|g| g.read)),
            Action::Write => {
                key.is_some_and(|k| entry.grants.get(&k.name).is_some_and(|g| g.write))
            }
        }
    }

    /// Whether `key` may do `action` in `bucket` itself (list it, write into it).
    pub fn allows_bucket(&self, key: Option<&KeyEntry>, action: Action, bucket: &str) -> bool {
        self.allows(key, action, Some(&format!("{bucket}/x")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(name: &str, id: &str, admin: bool) -> KeyEntry {
        KeyEntry {
            name: name.into(),
            access_key_id: id.into(),
            secret: format!("secret-of-{id}"),
            admin,
            created_ns: 1,
        }
    }

    fn bucket(name: &str) -> AccessCommand {
        AccessCommand::CreateBucket {
            bucket: name.into(),
            created_ns: 1,
        }
    }

    #[test]
    fn grants_decide_and_admins_do_everything() {
        let mut s = AccessState::default();
        let none = |_: &str| true;
        s.apply(&AccessCommand::CreateKey(key("app", "AK1", false)), none)
            .unwrap();
        s.apply(&AccessCommand::CreateKey(key("root", "AK0", true)), none)
            .unwrap();
        s.apply(&bucket("videos"), none).unwrap();
        s.apply(&bucket("private"), none).unwrap();
        s.apply(
            &AccessCommand::Grant {
                bucket: "videos".into(),
                key: "app".into(),
                grant: Grant {
                    read: true,
                    write: false,
                },
            },
            none,
        )
        .unwrap();
        let app = s.key("AK1").cloned();
        let root = s.key("AK0").cloned();
        let table: &[(Option<&KeyEntry>, Action, Option<&str>, bool)] = &[
            (app.as_ref(), Action::Read, Some("videos/a.ts"), true),
            (app.as_ref(), Action::Write, Some("videos/a.ts"), false),
            (app.as_ref(), Action::Read, Some("private/a"), false),
            (app.as_ref(), Action::Admin, None, false),
            (app.as_ref(), Action::Read, Some("nobucket/a"), false),
            (app.as_ref(), Action::Read, Some("flat-name"), false),
            (root.as_ref(), Action::Admin, None, true),
            (root.as_ref(), Action::Write, Some("flat-name"), true),
            (None, Action::Read, Some("videos/a.ts"), false),
        ];
        for (k, action, name, want) in table {
            assert_eq!(
                s.allows(*k, *action, *name),
                *want,
                "{k:?} {action:?} {name:?}"
            );
        }
        s.apply(
            &AccessCommand::PublicRead {
                bucket: "videos".into(),
                public_read: true,
            },
            none,
        )
        .unwrap();
        assert!(s.allows(None, Action::Read, Some("videos/a.ts")));
        assert!(!s.allows(None, Action::Write, Some("videos/a.ts")));
        assert!(!s.allows(None, Action::Read, Some("private/a")));
    }

    #[test]
    fn deletes_and_refusals() {
        let mut s = AccessState::default();
        let empty = |_: &str| true;
        s.apply(&AccessCommand::CreateKey(key("app", "AK1", false)), empty)
            .unwrap();
        assert_eq!(
            s.apply(&AccessCommand::CreateKey(key("app", "AK2", false)), empty),
            Err(AccessRefusal::KeyExists("app".into()))
        );
        // The same command again (a retried proposal) is no change.
        s.apply(&AccessCommand::CreateKey(key("app", "AK1", false)), empty)
            .unwrap();
        s.apply(&bucket("videos"), empty).unwrap();
        assert_eq!(
            s.apply(&bucket("videos"), empty),
            Err(AccessRefusal::BucketExists("videos".into()))
        );
        assert!(matches!(
            s.apply(&bucket("Bad_Name"), empty),
            Err(AccessRefusal::Invalid(_))
        ));
        s.apply(
            &AccessCommand::Grant {
                bucket: "videos".into(),
                key: "app".into(),
                grant: Grant {
                    read: true,
                    write: true,
                },
            },
            empty,
        )
        .unwrap();
        assert_eq!(
            s.apply(
                &AccessCommand::DeleteBucket {
                    bucket: "videos".into()
                },
                |_| false
            ),
            Err(AccessRefusal::BucketNotEmpty("videos".into()))
        );
        s.apply(&AccessCommand::DeleteKey { name: "app".into() }, empty)
            .unwrap();
        assert!(
            s.buckets["videos"].grants.is_empty(),
            "grants go with the key"
        );
        s.apply(
            &AccessCommand::DeleteBucket {
                bucket: "videos".into(),
            },
            empty,
        )
        .unwrap();
        assert!(s.buckets.is_empty() && s.keys.is_empty());
    }

    #[test]
    fn a_resent_op_never_undoes_what_came_after_it() {
        let mut s = AccessState::default();
        let empty = |_: &str| true;
        s.apply_once(
            1,
            1,
            &AccessCommand::CreateKey(key("app", "AK1", false)),
            empty,
        )
        .unwrap();
        s.apply_once(2, 2, &bucket("videos"), empty).unwrap();
        let allow = |read, write| AccessCommand::Grant {
            bucket: "videos".into(),
            key: "app".into(),
            grant: Grant { read, write },
        };
        s.apply_once(3, 3, &allow(true, true), empty).unwrap();
        s.apply_once(4, 4, &allow(false, false), empty).unwrap();
        // The grant's proposal again (a resend): no change, same answer.
        s.apply_once(3, 5, &allow(true, true), empty).unwrap();
        assert!(s.buckets["videos"].grants.is_empty(), "the revoke stands");
        // A deleted key is not brought back by its create's copy.
        s.apply_once(
            5,
            6,
            &AccessCommand::DeleteKey { name: "app".into() },
            empty,
        )
        .unwrap();
        s.apply_once(
            1,
            7,
            &AccessCommand::CreateKey(key("app", "AK1", false)),
            empty,
        )
        .unwrap();
        assert!(s.keys.is_empty(), "the delete stands");
        // A refusal is answered again as it was.
        let twice = AccessCommand::CreateBucket {
            bucket: "videos".into(),
            created_ns: 9,
        };
        let first = s.apply_once(6, 8, &twice, empty);
        assert_eq!(first, Err(AccessRefusal::BucketExists("videos".into())));
        assert_eq!(s.apply_once(6, 9, &twice, empty), first);
        // Op ids are forgotten past the horizon (memory is bounded).
        s.apply_once(7, 10 + OP_HORIZON_ENTRIES, &bucket("later"), empty)
            .unwrap();
        assert_eq!(s.recent_ops.len(), 1);
        assert!(!format!("{:?}", key("a", "b", false)).contains("secret-of"));
    }

    fn command() -> impl Strategy<Value = AccessCommand> {
        let name = prop::sample::select(vec!["a", "b", "c"]);
        let bkt = prop::sample::select(vec!["b-one", "b-two"]);
        prop_oneof![
            (name.clone(), 0u8..3, any::<bool>()).prop_map(|(n, i, admin)| {
                AccessCommand::CreateKey(key(n, &format!("AK{i}"), admin))
            }),
            name.clone()
                .prop_map(|n| AccessCommand::DeleteKey { name: n.into() }),
            bkt.clone().prop_map(bucket),
            bkt.clone()
                .prop_map(|b| AccessCommand::DeleteBucket { bucket: b.into() }),
            (bkt.clone(), name, any::<bool>(), any::<bool>()).prop_map(|(b, k, read, write)| {
                AccessCommand::Grant {
                    bucket: b.into(),
                    key: k.into(),
                    grant: Grant { read, write },
                }
            }),
            (bkt, any::<bool>()).prop_map(|(b, p)| AccessCommand::PublicRead {
                bucket: b.into(),
                public_read: p
            }),
        ]
    }

    proptest! {
        #[test]
        fn names_stay_unique_and_grants_name_live_keys(cmds in prop::collection::vec(command(), 0..40)) {
            let mut s = AccessState::default();
            for c in &cmds {
                let before = s.clone();
                let outcome = s.apply(c, |_| true);
                if outcome.is_err() {
                    prop_assert_eq!(&s, &before, "a refusal changes nothing");
                }
                let mut again = s.clone();
                if outcome.is_ok() && !matches!(c, AccessCommand::CreateKey(_)) {
                    // Deletes and creates are refused the second time, the rest are no change.
                    let _ = again.apply(c, |_| true);
                    prop_assert_eq!(&again, &s, "replaying a command changes nothing more");
                }
                let names: std::collections::BTreeSet<&str> = s.keys.values().map(|k| k.name.as_str()).collect();
                prop_assert_eq!(names.len(), s.keys.len(), "a key name names one key");
                for (id, k) in &s.keys {
                    prop_assert_eq!(id, &k.access_key_id);
                }
                for b in s.buckets.values() {
                    for g in b.grants.keys() {
                        prop_assert!(names.contains(g.as_str()), "grant to a deleted key {}", g);
                    }
                }
            }
        }
    }
}
