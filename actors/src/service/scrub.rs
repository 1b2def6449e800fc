//! Scrub: verify every block of every fragment on this member, parity included
//! (reads never touch parity, so rot there is only found here), and rebuild
//! each bad block from the rest of its row.
//!
//! Invariants: a block is rewritten only with bytes decoded from verified
//! shards of the same incarnation; a fragment of an incarnation older than the
//! current record is garbage left by an interrupted commit and is removed;
//! one newer than the record, or of an object with no record, may belong to a
//! PUT in flight and is kept.

use serde::Serialize;
use stripecast_persistence::fragment::list_fragments;
use stripecast_persistence::{Codec, FragmentReader};
use tracing::{info, warn};

use super::{ObjectService, ServiceError};

/// What a scrub found and did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ScrubReport {
    pub fragments: u64,
    pub blocks: u64,
    pub corrupt: u64,
    pub repaired: u64,
    pub unrepairable: u64,
    pub stale_removed: u64,
}

impl ObjectService {
    /// Scrubs this member's fragments.
    pub async fn scrub(&self) -> Result<ScrubReport, ServiceError> {
        let me = self.me();
        let files = self
            .store()
            .run(|s| {
                list_fragments(s.fragment_dir()).map_err(|e| {
                    crate::store::StoreError::Internal(format!("listing fragments: {e}"))
                })
            })
            .await?;
        let mut report = ScrubReport::default();
        for (path, fname) in files {
            let p = path.clone();
            let checked = self
                .store()
                .run(move |_| {
                    let r = FragmentReader::open(&p)?;
                    let bad: Vec<u64> = r
                        .verify_all()?
                        .iter()
                        .filter(|b| !b.ok())
                        .map(|b| b.lbn)
                        .collect();
                    Ok((
                        r.object_name().to_string(),
                        r.header().incarnation,
                        r.layout(),
                        r.block_count(),
                        bad,
                    ))
                })
                .await;
            let (name, incarnation, layout, blocks, bad) = match checked {
                Ok(c) => c,
                Err(e) => {
                    warn!(member = me, path = %path.display(), error = %e, "fragment unreadable; left for the rebuild");
                    report.unrepairable += 1;
                    continue;
                }
            };
            report.fragments += 1;
            report.blocks += blocks;
            let n = name.clone();
            let current = self
                .store()
                .run(move |s| s.record(&n))
                .await?
                .map(|r| r.incarnation);
            debug_assert_eq!(fname.incarnation, incarnation, "file name and header agree");
            // No record may mean a PUT that has written but not yet committed: keep it.
            if current.is_some_and(|c| c > incarnation) {
                // Superseded while this file survived (a commit cut short): garbage.
                let p = path.clone();
                let _ = self
                    .store()
                    .run(move |_| Ok(std::fs::remove_file(&p).ok()))
                    .await;
                report.stale_removed += 1;
                info!(member = me, object = %name, incarnation, "stale fragment removed by scrub");
                continue;
            }
            let codec =
                Codec::for_layout(&layout).map_err(|e| ServiceError::Internal(e.to_string()))?;
            for row in bad {
                report.corrupt += 1;
                let rebuilt = self
                    .rebuild_own_block(&name, incarnation, layout, &codec, row)
                    .await;
                match rebuilt {
                    Some(data) => {
                        let n = name.clone();
                        self.store()
                            .run(move |s| s.write_block(&n, incarnation, row, &data))
                            .await?;
                        report.repaired += 1;
                        self.metrics()
                            .repairs
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    None => {
                        warn!(member = me, object = %name, lbn = row, "corrupt block cannot be rebuilt now");
                        report.unrepairable += 1;
                    }
                }
            }
        }
        self.metrics()
            .corrupt_blocks
            .fetch_add(report.corrupt, std::sync::atomic::Ordering::Relaxed);
        info!(member = me, ?report, "scrub finished");
        Ok(report)
    }
}
