//! One member process: its supervision tree, its pid file, and the glue that
//! connects the object service to the transport and membership.
//!
//! ```text
//! member (rest_for_one)
//! ├── store        sled catalog + fragment files (permanent)
//! ├── transport    one_for_one: listener, one link per peer (backoff)
//! ├── membership   up/down view fed by the links, controller choice
//! ├── fragments    dynamic: one upload actor per fragment being written
//! ├── jobs         dynamic: rebuild jobs
//! ├── volume       HomeBlock standing: status, controller duty, join/rebuild decision
//! ├── (extensions) children another system adds (the binary: the video ring's processor)
//! └── gateway      HTTP API (with the extensions' routes, e.g. `/v1/ring`)
//! ```
//!
//! rest_for_one: when a child dies, everything started after it (which may
//! depend on it) restarts too; the store, started first, restarts alone
//! with all the others.
//!
//! Invariant: the member runtime knows no system built on it. Another
//! system (the video ring) plugs into a member through [`Extension`]:
//! supervised children and HTTP routes, given the member's config and
//! object service.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use stripecast_config::{MemberConfig, MemberId};
use stripecast_persistence::VolumeIncarnation;
use stripecast_supervisors::{ChildSpec, Strategy, Supervisor, SupervisorHandle, SupervisorSpec};
use tracing::info;

use crate::gateway::docs::LinkState;
use crate::gateway::{ClusterDoc, Gateway, MemberDoc, MemberState, WitnessDoc};
use crate::membership::{link_events, membership_spec, MembershipView};
use crate::meta::mirror::StoreMirror;
use crate::meta::LogIndex;
use crate::meta::{Applier, MetaActor, MetaHandle, MetaHost};
use crate::metrics::Metrics;
use crate::protocol::{Request, Response};
use crate::service::Phase;
use crate::service::{ObjectService, PeerRequester};
use crate::store::{SharedStore, StoreActor, Uploads};
use crate::transport::{transport_spec, Peers, RequestHandler, StatusSource, TransportError};
use crate::volume::VolumeActor;

/// Extra HTTP routes on a member's gateway (configured on every worker).
pub type Routes = Arc<dyn Fn(&mut actix_web::web::ServiceConfig) + Send + Sync>;

/// What another system adds to a member: supervised children, started
/// after the runtime's own and before the gateway (so rest_for_one restarts
/// them with anything they depend on), and routes on the gateway.
#[derive(Default)]
pub struct Extension {
    pub children: Vec<ChildSpec>,
    pub routes: Vec<Routes>,
}

impl Extension {
    /// Adds `other`'s children and routes after this one's.
    pub fn and(mut self, other: Extension) -> Extension {
        self.children.extend(other.children);
        self.routes.extend(other.routes);
        self
    }
}

/// Builds a member's [`Extension`] from its config and object service.
pub type Extend = Box<dyn FnOnce(&MemberConfig, &ObjectService) -> Extension>;

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
    /// `[http] tls_cert`/`tls_key` cannot be used.
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
}

impl RequestHandler for ObjectService {
    fn handle(&self, from: MemberId, req: Request) -> BoxFuture<'static, Response> {
        let svc = self.clone();
        Box::pin(async move { svc.handle(from, req).await })
    }
}

impl MetaHost for ObjectService {
    fn me(&self) -> MemberId {
        ObjectService::me(self)
    }

    fn applier(&self) -> Option<Box<dyn Applier>> {
        let members = self.layout().members() as u32;
        Some(Box::new(StoreMirror::new(self.store().clone(), members)))
    }

    fn publish(&self, handle: Option<MetaHandle>) {
        self.set_meta(handle);
    }
}

impl PeerRequester for Peers {
    fn request(
        &self,
        peer: MemberId,
        req: Request,
    ) -> BoxFuture<'static, Result<Response, TransportError>> {
        let peers = self.clone();
        Box::pin(async move { peers.request(peer, req).await })
    }

    fn is_up(&self, peer: MemberId) -> bool {
        Peers::is_up(self, peer)
    }
}

/// A supervised process of the cluster (a member or the witness), as its
/// command runs it: wait on its tree, shut it down in order.
pub trait Process {
    fn tree(&self) -> &SupervisorHandle;
    /// Stops the tree in order and removes the pid file.
    fn shutdown(self) -> impl std::future::Future<Output = ()>;
}

impl Process for Member {
    fn tree(&self) -> &SupervisorHandle {
        &self.tree
    }

    async fn shutdown(self) {
        Member::shutdown(self).await
    }
}

/// A running member.
pub struct Member {
    pub tree: SupervisorHandle,
    pub service: ObjectService,
    pub view: MembershipView,
    pid_file: PathBuf,
}

impl Member {
    /// Stops the tree in order and removes the pid file.
    pub async fn shutdown(self) {
        self.tree.shutdown().await;
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

/// Creates the data directory and writes this process's pid into it.
pub(crate) fn write_pid(data_dir: &Path) -> Result<PathBuf, NodeError> {
    std::fs::create_dir_all(data_dir).map_err(|source| NodeError::Io {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let path = data_dir.join("member.pid");
    std::fs::write(&path, format!("{}\n", std::process::id())).map_err(|source| NodeError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Starts a member inside the current actix system.
pub async fn start_member(cfg: MemberConfig) -> Result<Member, NodeError> {
    start_member_with(
        cfg,
        crate::testing::TestHooks::default(),
        Box::new(|_, _| Extension::default()),
    )
    .await
}

/// Starts a member with test-only hooks (see `crate::testing`) and what
/// `extend` adds to it.
pub async fn start_member_with(
    cfg: MemberConfig,
    hooks: crate::testing::TestHooks,
    extend: Extend,
) -> Result<Member, NodeError> {
    // A certificate that cannot be used stops the start here, with the
    // field and file named, not later as a listener that keeps failing.
    if let (Some(cert), Some(key)) = (&cfg.http.tls_cert, &cfg.http.tls_key) {
        crate::tls::server_config(cert, key, &[])?;
    }
    let pid_file = write_pid(&cfg.data_dir)?;
    let me = cfg.id;
    let shared = SharedStore::default();
    let metrics = Arc::new(Metrics::new(me, cfg.member_count()));

    let (fragments, fragments_ref) = ChildSpec::supervisor_with_ref(
        SupervisorSpec::dynamic("fragments").intensity(1000, Duration::from_secs(1)),
    );
    let (jobs, jobs_ref) = ChildSpec::supervisor_with_ref(
        SupervisorSpec::dynamic("jobs").intensity(10, Duration::from_secs(10)),
    );
    let service = ObjectService::new(
        &cfg,
        shared.clone(),
        Uploads::default(),
        fragments_ref,
        metrics,
    )
    .map_err(|e| NodeError::Setup(e.to_string()))?;
    if hooks.any() {
        tracing::warn!(member = %me, %hooks, "test-only hooks on");
    }
    service.set_test_hooks(hooks);

    let store = {
        let shared = shared.clone();
        let dir = cfg.data_dir.clone();
        let cache = cfg.store.reader_cache_files as usize;
        ChildSpec::try_new("store", move |_| {
            StoreActor::open(shared.clone(), &dir, me, cache)
        })
    };
    let (membership, membership_ref, view) = membership_spec(&cfg);
    let status = StatusSource::new();
    let events = link_events(&membership_ref);
    // Injected heartbeats (test hook `inject`) enter where the links' events do.
    let heartbeats = hooks.inject.then(|| events.clone());
    let (transport, peers) =
        transport_spec(&cfg, Arc::new(service.clone()), status.clone(), events);
    service.set_peers(Arc::new(peers.clone()));
    let meta = meta_spec(&cfg, Arc::new(service.clone()), peers.clone());
    service.set_view(view.clone());
    let volume = {
        let (cfg, service, view) = (cfg.clone(), service.clone(), view.clone());
        ChildSpec::new("volume", move |_| {
            VolumeActor::new(
                &cfg,
                service.clone(),
                view.clone(),
                membership_ref.clone(),
                status.clone(),
                jobs_ref.clone(),
            )
        })
    };

    let extension = extend(&cfg, &service);
    let gateway = {
        let service = service.clone();
        let addr = cfg.me().http;
        let cluster = cluster_doc_fn(&cfg, service.clone(), view.clone());
        let routes = extension.routes;
        let http = cfg.http.clone();
        let auth = cfg.auth.clone();
        ChildSpec::try_new("gateway", move |_| {
            Gateway::bind(
                addr,
                service.clone(),
                cluster.clone(),
                Some(peers.clone()),
                heartbeats.clone(),
                routes.clone(),
                (http.clone(), auth.clone()),
            )
        })
    };

    let spec = SupervisorSpec::new(format!("member-{me}"), Strategy::RestForOne)
        .intensity(5, Duration::from_secs(10))
        .child(store)
        .child(transport)
        .child(meta)
        .child(membership)
        .child(fragments)
        .child(jobs)
        .child(volume);
    let spec = extension
        .children
        .into_iter()
        .fold(spec, |spec, child| spec.child(child));
    let tree = Supervisor::start(spec.child(gateway)).await;
    info!(member = %me, http = %cfg.me().http, peer = %cfg.me().peer, "member started");
    Ok(Member {
        tree,
        service,
        view,
        pid_file,
    })
}

/// The supervised `meta` child: this process's replica of the group of
/// every member and the witness.
pub(crate) fn meta_spec(cfg: &MemberConfig, host: Arc<dyn MetaHost>, peers: Peers) -> ChildSpec {
    let voters = cfg.voters();
    let witness = cfg.witness.as_ref().map(|w| w.id);
    let dir = cfg.data_dir.clone();
    ChildSpec::try_new("meta", move |_| {
        MetaActor::open(
            voters.clone(),
            witness,
            dir.clone(),
            host.clone(),
            peers.clone(),
        )
    })
}

/// Builds the `/v1/cluster` document from the membership view and the HomeBlocks.
fn cluster_doc_fn(
    cfg: &MemberConfig,
    service: ObjectService,
    view: MembershipView,
) -> Arc<dyn Fn() -> ClusterDoc + Send + Sync> {
    let me = cfg.id;
    let witness = cfg.witness.as_ref().map(|w| w.id);
    let name = cfg.cluster.name.clone();
    let members: Vec<(MemberId, String)> = cfg
        .members
        .iter()
        .map(|m| (m.id, m.http.to_string()))
        .collect();
    Arc::new(move || {
        let snapshot = view.snapshot();
        let meta = service.meta().map(|m| m.status());
        let store = service.store().get().ok();
        let own = store.as_ref().and_then(|s| s.homeblock());
        let objects = store
            .as_ref()
            .map(|s| s.object_count() as usize)
            .unwrap_or(0);
        let marks = |id: MemberId| {
            store
                .as_ref()
                .and_then(|s| s.dirty_count(id).ok())
                .unwrap_or(0) as u64
        };
        ClusterDoc {
            id: me,
            cluster: name.clone(),
            incarnation: own.map(|h| h.incarnation).unwrap_or_default(),
            // The active controller is the metadata group's leader.
            controller: meta.as_ref().and_then(|m| m.leader),
            members: members
                .iter()
                .map(|(id, http)| {
                    let applied_index = if *id == me {
                        meta.as_ref()
                            .map_or(LogIndex::default(), |m| m.applied_index)
                    } else {
                        view.status(*id)
                            .map_or(LogIndex::default(), |s| s.applied_index)
                    };
                    let lag = meta
                        .as_ref()
                        .map_or(0, |m| m.commit_index.entries_since(applied_index));
                    let (state, incarnation, remaining) = if *id == me {
                        let state = if service.phase() == Phase::Up {
                            MemberState::Up
                        } else {
                            MemberState::Rebuilding
                        };
                        (
                            state,
                            own.map(|h| h.incarnation).unwrap_or_default(),
                            service.rebuild_remaining(),
                        )
                    } else if !snapshot.is_up(*id) {
                        (
                            MemberState::Down,
                            view.status(*id).map(|s| s.incarnation).unwrap_or_default(),
                            0,
                        )
                    } else {
                        match view.status(*id) {
                            Some(s) if s.rebuilding => {
                                (MemberState::Rebuilding, s.incarnation, s.rebuild_remaining)
                            }
                            Some(s) => (MemberState::Up, s.incarnation, 0),
                            None => (MemberState::Rebuilding, VolumeIncarnation::default(), 0),
                        }
                    };
                    MemberDoc {
                        id: *id,
                        state,
                        http: http.clone(),
                        incarnation,
                        dirty: marks(*id).max(remaining),
                        applied_index,
                        lag,
                    }
                })
                .collect(),
            objects,
            meta,
            witness: witness.map(|id| WitnessDoc {
                id,
                state: if service.is_up(id) {
                    LinkState::Up
                } else {
                    LinkState::Down
                },
            }),
        }
    })
}
