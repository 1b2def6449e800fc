//! Multipart uploads left open expire: an upload neither completed nor
//! aborted within `[store] multipart_expiry_s` (24 h by default, as
//! MinIO's stale-upload sweep and S3's AbortIncompleteMultipartUpload
//! rule do) is removed with its parts, so an abandoned upload does not
//! hold disk forever.
//!
//! * The decision is pure ([`expired_uploads`]): an upload's age is that
//!   of its `info` object (when it was initiated), or, for parts left
//!   without one (an abort cut short), that of its newest part.
//! * The sweep ([`UploadExpiry`]) runs on every member that serves S3 but
//!   acts only while it is the metadata leader, so one member sweeps at a
//!   time (two would be harmless: removals are idempotent). Each sweep
//!   scans at most [`MAX_SCANNED_PER_SWEEP`] names from a cursor that
//!   wraps around and removes at most [`MAX_EXPIRED_PER_SWEEP`] uploads:
//!   parts first, `info` last, so a sweep cut short is finished by a later
//!   one.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::prelude::*;
use stripecast_actors::service::{ObjectService, ServiceError};

use crate::multipart;

/// Names of `.multipart/` objects one sweep looks at.
pub const MAX_SCANNED_PER_SWEEP: usize = 100_000;

/// Uploads one sweep removes.
pub const MAX_EXPIRED_PER_SWEEP: usize = 100;

/// One `.multipart/` object: its name past `.multipart/` and creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub created_ns: u64,
}

/// The uploads (`BUCKET/UPLOAD_ID/` prefixes) among `entries` (in name
/// order) older than `expiry_ns` at `now_ns`, at most `limit`, each with
/// the names to remove (parts first, `info` last).
pub fn expired_uploads(
    entries: &[Entry],
    now_ns: u64,
    expiry_ns: u64,
    limit: usize,
) -> Vec<(String, Vec<String>)> {
    // upload prefix -> (info's time, newest part's time, names)
    let mut uploads: BTreeMap<&str, (Option<u64>, u64, Vec<&str>)> = BTreeMap::new();
    for e in entries {
        let mut parts = e.name.splitn(3, '/');
        let (Some(bucket), Some(id), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if !multipart::valid_upload_id(id) {
            continue;
        }
        let prefix = &e.name[..bucket.len() + id.len() + 2];
        let u = uploads.entry(prefix).or_insert((None, 0, Vec::new()));
        if rest == "info" {
            u.0 = Some(e.created_ns);
        } else {
            u.1 = u.1.max(e.created_ns);
        }
        u.2.push(&e.name);
    }
    uploads
        .into_iter()
        .filter(|(_, (info, newest_part, _))| {
            let born = info.unwrap_or(*newest_part);
            now_ns.saturating_sub(born) > expiry_ns
        })
        .take(limit)
        .map(|(prefix, (_, _, mut names))| {
            // `info` last: a sweep cut short leaves the upload listed.
            names.sort_by_key(|n| n.ends_with("/info"));
            (
                prefix.to_string(),
                names
                    .into_iter()
                    .map(|n| format!("{}/{n}", multipart::ROOT))
                    .collect(),
            )
        })
        .collect()
}

/// How often the sweep runs for an expiry: a quarter of it, within
/// 1 s..=5 min.
pub fn sweep_interval(expiry: Duration) -> Duration {
    (expiry / 4).clamp(Duration::from_secs(1), Duration::from_secs(300))
}

/// The sweeping actor of one member.
pub struct UploadExpiry {
    service: ObjectService,
    expiry: Duration,
    /// Where the next sweep's scan starts (past `.multipart/`); `None`:
    /// from the beginning.
    cursor: Option<String>,
    busy: bool,
}

impl UploadExpiry {
    pub fn new(service: ObjectService, expiry: Duration) -> UploadExpiry {
        UploadExpiry {
            service,
            expiry,
            cursor: None,
            busy: false,
        }
    }
}

impl Actor for UploadExpiry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(sweep_interval(self.expiry), |act, ctx| act.sweep(ctx));
    }
}

impl UploadExpiry {
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        let Some(meta) = self.service.meta() else {
            return;
        };
        let status = meta.status();
        if status.leader != Some(self.service.me()) {
            return;
        }
        self.busy = true;
        let service = self.service.clone();
        let cursor = self.cursor.clone();
        let expiry_ns = u64::try_from(self.expiry.as_nanos()).unwrap_or(u64::MAX);
        let fut = async move {
            let scan_from = cursor.clone();
            let entries = meta
                .read(move |s| {
                    s.page(multipart::ROOT, "", scan_from.as_deref())
                        .take(MAX_SCANNED_PER_SWEEP)
                        .filter_map(|(r, _)| {
                            Some(Entry {
                                name: r
                                    .name
                                    .strip_prefix(multipart::ROOT)?
                                    .strip_prefix('/')?
                                    .to_string(),
                                created_ns: r.creation_time_ns,
                            })
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .ok()?;
            let now_ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
                .unwrap_or(0);
            // A full scan ends mid-way: resume after its last upload whole
            // (its last name may be one of several of that upload).
            let next = if entries.len() < MAX_SCANNED_PER_SWEEP {
                None
            } else {
                entries.last().map(|e| e.name.clone())
            };
            let expired = expired_uploads(&entries, now_ns, expiry_ns, MAX_EXPIRED_PER_SWEEP);
            for (upload, names) in &expired {
                for name in names {
                    match service.delete(name).await {
                        Ok(_) | Err(ServiceError::NotFound(_)) => {}
                        Err(e) => {
                            tracing::debug!(%upload, object = %name, error = %e, "expired upload not removed yet");
                            break;
                        }
                    }
                }
                tracing::info!(member = %service.me(), %upload, objects = names.len(), "expired multipart upload removed");
            }
            Some(next)
        };
        ctx.spawn(fut.into_actor(self).map(|next, act, _| {
            act.busy = false;
            if let Some(next) = next {
                act.cursor = next;
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID_A: &str = "0123456789abcdef0123456789abcdef";
    const ID_B: &str = "fedcba9876543210fedcba9876543210";
    const H: u64 = 3_600_000_000_000;

    fn e(name: String, created_ns: u64) -> Entry {
        Entry { name, created_ns }
    }

    #[test]
    fn an_upload_expires_by_its_info_and_parts_alone_by_the_newest() {
        let entries = vec![
            e(format!("films/{ID_A}/info"), H),
            e(format!("films/{ID_A}/p00001"), 30 * H),
            e(format!("films/{ID_A}/p00002"), 30 * H),
            // Parts without info (an abort cut short): the newest counts.
            e(format!("films/{ID_B}/p00001"), H),
            e(format!("films/{ID_B}/p00002"), 20 * H),
            // Not an upload id: never touched.
            e("films/not-an-id/p00001".to_string(), 0),
        ];
        let now = 40 * H;
        let got = expired_uploads(&entries, now, 24 * H, 10);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, format!("films/{ID_A}/"));
        assert_eq!(
            got[0].1,
            vec![
                format!(".multipart/films/{ID_A}/p00001"),
                format!(".multipart/films/{ID_A}/p00002"),
                format!(".multipart/films/{ID_A}/info"),
            ],
            "parts first, info last"
        );
        // Later, the orphaned parts expire too; the limit holds.
        let got = expired_uploads(&entries, 50 * H, 24 * H, 10);
        assert_eq!(got.len(), 2);
        assert_eq!(expired_uploads(&entries, 50 * H, 24 * H, 1).len(), 1);
        // A clock that went back removes nothing.
        assert!(expired_uploads(&entries, 0, 24 * H, 10).is_empty());
    }

    #[test]
    fn the_sweep_interval_follows_the_expiry_within_bounds() {
        assert_eq!(
            sweep_interval(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(40)),
            Duration::from_secs(10)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(86_400)),
            Duration::from_secs(300)
        );
    }
}
