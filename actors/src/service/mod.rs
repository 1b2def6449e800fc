//! The object service: what a member does for a client (PUT, GET, DELETE,
//! list) as the coordinator of a striped operation, and what it does for a
//! peer's request on its own fragments.
//!
//! One place reads blocks ([`ObjectService::block`]): it reads the block where
//! the layout puts it and, when that member is down or the block fails its
//! checksum, rebuilds it from the rest of its row. Requests to this member
//! itself never touch the network.
//!
//! Which incarnation of an object is current is the metadata group's
//! decision (`crate::meta`): records are read from it linearizably and a
//! write is acknowledged only once its commit is applied here.
//!
//! Invariants: writes need max(N - parity, majority) members holding their
//! fragment (one on the 2-member mirror), and the group's majority for the
//! commit; a read needs all but
//! at most `parity` fragments; otherwise the answer is `Unavailable` (503),
//! never bytes that might be wrong.

mod error;
mod get;
mod handler;
mod put;
mod rows;
mod scrub;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use stripecast_persistence::Incarnation;

use futures::future::BoxFuture;
use stripecast_config::{MemberConfig, MemberId};
use stripecast_persistence::{Codec, Layout, ObjectRecord};
use stripecast_supervisors::{ChildRef, Supervisor};

pub use error::{Internal, ServiceError, Unavailable};
pub use get::OpenObject;
pub use put::{PutOutcome, Seal};
pub use scrub::ScrubReport;

use crate::meta::runner::WaitError;
use crate::meta::{Applied, MetaCommand, MetaHandle};
use crate::metrics::Metrics;
use crate::protocol::{ErrorKind, RecordWire, Request, Response};
use crate::store::{SharedStore, Uploads};
use crate::transport::TransportError;

/// How the service reaches other members (the transport, or a test harness).
pub trait PeerRequester: Send + Sync + 'static {
    /// Sends `req` to `peer`; a failure keeps its kind (down, busy, timed
    /// out...), so callers can tell a member that is gone from one that is
    /// only loaded.
    fn request(
        &self,
        peer: MemberId,
        req: Request,
    ) -> BoxFuture<'static, Result<Response, TransportError>>;
    fn is_up(&self, peer: MemberId) -> bool;
}

/// Why a call to a member failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The member could not be reached (down, timed out, link lost, busy).
    Down(TransportError),
    /// The member answered with an error.
    Remote(ErrorKind, String),
}

impl CallError {
    fn into_service(self, member: MemberId) -> ServiceError {
        match self {
            CallError::Down(cause) => ServiceError::Unreachable { member, cause },
            CallError::Remote(kind, m) => ServiceError::from_wire(member, kind, &m),
        }
    }
}

/// Where this member stands in the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Started, has not yet compared its HomeBlock with its peers'.
    Joining,
    /// Stale: rebuilding what changed while it was away.
    Rebuilding,
    /// Current.
    Up,
}

struct Inner {
    me: MemberId,
    phase: std::sync::RwLock<Phase>,
    rebuild_remaining: AtomicU64,
    view: OnceLock<crate::membership::MembershipView>,
    layout: Layout,
    codec: Codec,
    stripe: u32,
    store: SharedStore,
    uploads: Uploads,
    fragments: ChildRef<Supervisor>,
    peers: OnceLock<Arc<dyn PeerRequester>>,
    /// Test-only hooks (see `crate::testing`), set once at start.
    hooks: OnceLock<crate::testing::TestHooks>,
    /// The metadata replica, while the `meta` child runs.
    meta: std::sync::RwLock<Option<crate::meta::MetaHandle>>,
    metrics: Arc<Metrics>,
    /// Incarnations reserved from the metadata group and not used yet.
    incarnations: Mutex<put::IncarnationPool>,
    /// Alternates mirror reads between the two copies.
    mirror_turn: AtomicU64,
    read_ahead: usize,
    /// Read-ahead of all GET streams together, in KiB (see `get::stream`).
    read_ahead_budget: Arc<tokio::sync::Semaphore>,
    write_window: usize,
    /// `[store] heal_objects_in_flight` and `heal_max_mb_per_s`.
    heal: HealSettings,
    /// `[timeouts] body_progress_timeout_ms`.
    body_progress: std::time::Duration,
}

/// How a returning member heals (from `[store]`).
#[derive(Debug, Clone, Copy)]
pub struct HealSettings {
    /// Objects rebuilt at once.
    pub objects_in_flight: usize,
    /// Fragment MB/s written while healing; 0 is unthrottled.
    pub max_mb_per_s: u32,
}

/// Cheap to clone; shared by the HTTP workers and the transport.
#[derive(Clone)]
pub struct ObjectService {
    inner: Arc<Inner>,
}

impl ObjectService {
    pub fn new(
        cfg: &MemberConfig,
        store: SharedStore,
        uploads: Uploads,
        fragments: ChildRef<Supervisor>,
        metrics: Arc<Metrics>,
    ) -> Result<ObjectService, ServiceError> {
        let layout = Layout::new(cfg.member_count(), usize::from(cfg.cluster.parity))
            .map_err(|e| ServiceError::BadRequest(format!("layout: {e}")))?;
        let codec = Codec::for_layout(&layout)
            .map_err(|e| ServiceError::BadRequest(format!("codec: {e}")))?;
        let n = cfg.member_count();
        Ok(ObjectService {
            inner: Arc::new(Inner {
                me: cfg.id,
                phase: std::sync::RwLock::new(Phase::Joining),
                rebuild_remaining: AtomicU64::new(0),
                view: OnceLock::new(),
                layout,
                codec,
                stripe: cfg.cluster.stripe_size,
                store,
                uploads,
                fragments,
                peers: OnceLock::new(),
                hooks: OnceLock::new(),
                meta: std::sync::RwLock::new(None),
                metrics,
                incarnations: Mutex::new(put::IncarnationPool::empty()),
                mirror_turn: AtomicU64::new(0),
                read_ahead: (2 * n).clamp(4, 32),
                read_ahead_budget: Arc::new(tokio::sync::Semaphore::new(
                    get::READ_AHEAD_BUDGET_KIB,
                )),
                write_window: 8,
                heal: HealSettings {
                    objects_in_flight: cfg.store.heal_objects_in_flight.max(1) as usize,
                    max_mb_per_s: cfg.store.heal_max_mb_per_s,
                },
                body_progress: cfg.timeouts.body_progress_timeout(),
            }),
        })
    }

    /// The pace a request body must keep: a block (bytes) per this time.
    pub fn body_pace(&self) -> (u64, std::time::Duration) {
        (u64::from(self.inner.stripe), self.inner.body_progress)
    }

    /// How this member heals when it returns.
    pub fn heal_settings(&self) -> HealSettings {
        self.inner.heal
    }

    /// Connects the service to the other members (once, after the transport exists).
    pub fn set_peers(&self, peers: Arc<dyn PeerRequester>) {
        let _ = self.inner.peers.set(peers);
    }

    pub fn me(&self) -> MemberId {
        self.inner.me
    }

    /// Gives the service the membership view (once, after it exists).
    /// Publishes (or withdraws) the metadata replica.
    pub fn set_meta(&self, meta: Option<crate::meta::MetaHandle>) {
        *self.inner.meta.write().unwrap_or_else(|p| p.into_inner()) = meta;
    }

    /// The metadata replica, while it runs.
    pub fn meta(&self) -> Option<crate::meta::MetaHandle> {
        self.inner
            .meta
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Turns on test-only hooks (once, at start).
    pub fn set_test_hooks(&self, hooks: crate::testing::TestHooks) {
        let _ = self.inner.hooks.set(hooks);
    }

    /// The test-only hooks this member runs with (none by default).
    pub fn test_hooks(&self) -> crate::testing::TestHooks {
        self.inner.hooks.get().copied().unwrap_or_default()
    }

    pub fn set_view(&self, view: crate::membership::MembershipView) {
        let _ = self.inner.view.set(view);
    }

    pub fn phase(&self) -> Phase {
        *self.inner.phase.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_phase(&self, phase: Phase) {
        let mut p = self.inner.phase.write().unwrap_or_else(|p| p.into_inner());
        if *p != phase {
            tracing::info!(member = %self.inner.me, from = ?*p, to = ?phase, "member phase");
            *p = phase;
        }
    }

    /// The status `member` last reported in its heartbeats.
    pub fn peer_status(&self, member: MemberId) -> Option<crate::protocol::NodeStatus> {
        self.inner.view.get()?.status(member)
    }

    pub fn rebuild_remaining(&self) -> u64 {
        self.inner.rebuild_remaining.load(Ordering::Relaxed)
    }

    pub fn set_rebuild_remaining(&self, n: u64) {
        self.inner.rebuild_remaining.store(n, Ordering::Relaxed);
    }

    pub fn layout(&self) -> Layout {
        self.inner.layout
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    pub fn store(&self) -> &SharedStore {
        &self.inner.store
    }

    pub fn is_up(&self, member: MemberId) -> bool {
        member == self.inner.me || self.inner.peers.get().is_some_and(|p| p.is_up(member))
    }

    /// Members 0..N split into (live, down).
    pub fn live_and_down(&self) -> (Vec<MemberId>, Vec<MemberId>) {
        MemberId::all(self.inner.layout.members()).partition(|&m| self.is_up(m))
    }

    /// Live members a write needs: max(N - parity, majority); on the
    /// 2-member mirror one copy (the patent's mirror writes on with either
    /// member down; the group, with its witness, still orders the commit).
    pub fn write_quorum(&self) -> usize {
        write_quorum(self.inner.layout.members(), self.inner.layout.parity())
    }

    /// Sends `req` to `member`, or handles it here when it is this member.
    pub(crate) async fn call(&self, member: MemberId, req: Request) -> Result<Response, CallError> {
        let resp = if member == self.inner.me {
            self.handle(member, req).await
        } else {
            let peers = self
                .inner
                .peers
                .get()
                .ok_or(CallError::Down(TransportError::NotStarted))?;
            peers.request(member, req).await.map_err(CallError::Down)?
        };
        match resp {
            Response::Error { kind, message } => Err(CallError::Remote(kind, message)),
            other => Ok(other),
        }
    }

    /// The metadata replica, or 503 while it is not running.
    pub(crate) fn meta_handle(&self) -> Result<MetaHandle, ServiceError> {
        self.meta().ok_or_else(|| {
            Unavailable::NoMetadata {
                member: self.inner.me,
            }
            .into()
        })
    }

    /// Every object record, read linearizably from the metadata group.
    pub async fn list(&self) -> Result<Vec<ObjectRecord>, ServiceError> {
        let meta = self.meta_handle()?;
        let records = meta
            .read(|s| s.objects.values().map(record_from_wire).collect::<Vec<_>>())
            .await
            .map_err(|e| self.meta_unavailable(e))?;
        Ok(records)
    }

    /// The current record of `name`, read linearizably from the metadata
    /// group (read-index); 503 when no leader confirms it in time, never
    /// this member's own possibly old catalog.
    pub async fn record(&self, name: &str) -> Result<ObjectRecord, ServiceError> {
        let meta = self.meta_handle()?;
        let n = name.to_string();
        meta.read(move |s| s.objects.get(&n).map(record_from_wire))
            .await
            .map_err(|e| self.meta_unavailable(e))?
            .ok_or_else(|| ServiceError::NotFound(format!("no object named {name:?}")))
    }

    /// A failed wait on the metadata group as the client sees it.
    pub(crate) fn meta_unavailable(&self, e: WaitError) -> ServiceError {
        Unavailable::Metadata {
            member: self.inner.me,
            cause: e,
        }
        .into()
    }

    /// Removes the object: a `Delete` through the metadata group,
    /// acknowledged once applied here; every member removes its fragment
    /// when it applies the entry (a member that is down, when it catches up).
    pub async fn delete(&self, name: &str) -> Result<Incarnation, ServiceError> {
        let meta = self.meta_handle()?;
        let record = self.record(name).await?;
        // Down members remove it when they catch up with the log; the
        // dirty mark makes their rebuild account for it like any change.
        let (_, down) = self.live_and_down();
        let cmd = MetaCommand::Delete {
            name: name.to_string(),
            incarnation: record.incarnation,
            missing: down,
        };
        match meta.propose(cmd).await {
            Ok(Applied::Deleted { removed: Some(inc) }) => {
                tracing::info!(member = %self.inner.me, object = %name, incarnation = %inc, "object deleted");
                Ok(inc)
            }
            // Another delete, or a newer write, came first: this delete is
            // ordered just before it (the incarnation read was current when
            // read), so it did happen and the newer write stands.
            Ok(Applied::Deleted { removed: None }) => {
                tracing::info!(member = %self.inner.me, object = %name, incarnation = %record.incarnation, "object deleted (overtaken)");
                Ok(record.incarnation)
            }
            Ok(other) => Err(Internal::Unexpected {
                what: format!("delete of {name:?}"),
                outcome: Box::new(other),
            }
            .into()),
            Err(e) => Err(self.meta_unavailable(e)),
        }
    }

    fn require_write_quorum(
        &self,
        live: &[MemberId],
        down: &[MemberId],
    ) -> Result<(), ServiceError> {
        if live.len() < self.write_quorum() {
            return Err(Unavailable::MembersDown {
                down: down.to_vec(),
                needed: self.write_quorum(),
                members: self.inner.layout.members(),
            }
            .into());
        }
        Ok(())
    }
}

/// The wire form of a catalog record.
pub fn record_to_wire(r: &ObjectRecord) -> RecordWire {
    RecordWire {
        name: r.name.clone(),
        length: r.length,
        incarnation: r.incarnation,
        members: r.fragment_count,
        parity: r.parity,
        stripe_size: r.stripe_size,
        crc32c: r.checksum,
        creation_time_ns: r.creation_time_ns,
    }
}

/// The catalog form of a wire record.
pub fn record_from_wire(w: &RecordWire) -> ObjectRecord {
    ObjectRecord {
        name: w.name.clone(),
        length: w.length,
        incarnation: w.incarnation,
        fragment_count: w.members,
        parity: w.parity,
        stripe_size: w.stripe_size,
        layout_version: stripecast_persistence::layout::LAYOUT_VERSION,
        checksum: w.crc32c,
        creation_time_ns: w.creation_time_ns,
    }
}

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub(crate) fn next_id() -> u64 {
    rand::random::<u64>()
}

impl ObjectService {
    pub(crate) fn next_mirror_turn(&self) -> u64 {
        self.inner.mirror_turn.fetch_add(1, Ordering::Relaxed)
    }
}

/// Members that must hold their fragment for a write of `members` with
/// `parity`: max(N - parity, majority of N), or 1 on the 2-member mirror.
pub(crate) fn write_quorum(members: usize, parity: usize) -> usize {
    if members == 2 {
        return 1;
    }
    (members - parity).max(members / 2 + 1)
}

#[cfg(test)]
mod quorum_tests {
    #[test]
    fn write_quorum_by_layout() {
        use super::write_quorum;
        assert_eq!(write_quorum(2, 1), 1, "the mirror writes one copy");
        assert_eq!(write_quorum(3, 1), 2);
        assert_eq!(write_quorum(5, 1), 4);
        assert_eq!(write_quorum(5, 2), 3);
        assert_eq!(write_quorum(4, 2), 3, "a majority beyond N - parity");
        assert_eq!(write_quorum(3, 0), 3);
    }
}
