//! The witness: a voter of the metadata group that holds no data.
//!
//! A group of two members has no majority once one is down; the witness
//! is the third vote, so the 2-member mirror keeps reading and writing with
//! either member down (the patent's behaviour). It runs the peer transport
//! and a metadata replica (its log, hard state and snapshots in sled under
//! `DATA_DIR/meta`) and nothing else: no catalog, no fragments, no HTTP.
//!
//! ```text
//! witness-<id> (rest_for_one)
//! ├── transport    links to every member (they dial it: its id is the highest)
//! ├── meta         its replica; hands leadership to a member whenever it wins
//! └── membership   which members it reaches (logged)
//! ```
//!
//! Invariants: it answers only Raft traffic (`Raft`, `RaftRelay`) and
//! `Ping`; a data request gets a `BadRequest` error naming it a witness, so
//! a misconfigured member can never take it for a data holder. It never
//! stays leader (see `MetaConfig::witness`): the controller's duty needs a
//! member's view of the data.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use stripecast_config::{MemberConfig, MemberId};
use stripecast_supervisors::{Strategy, Supervisor, SupervisorHandle, SupervisorSpec};
use tracing::info;

use crate::membership::{link_events, membership_spec};
use crate::meta::{deliver, Applier, MetaHandle, MetaHost};
use crate::node::{meta_spec, write_pid, NodeError};
use crate::protocol::{ErrorKind, Request, Response};
use crate::service::PeerRequester;
use crate::transport::{transport_spec, RequestHandler, StatusSource};

/// What the witness's transport and replica share.
struct WitnessHost {
    me: MemberId,
    meta: RwLock<Option<MetaHandle>>,
    peers: OnceLock<Arc<dyn PeerRequester>>,
}

impl WitnessHost {
    fn meta(&self) -> Option<MetaHandle> {
        self.meta.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl MetaHost for WitnessHost {
    fn me(&self) -> MemberId {
        self.me
    }

    fn applier(&self) -> Option<Box<dyn Applier>> {
        None
    }

    fn publish(&self, handle: Option<MetaHandle>) {
        *self.meta.write().unwrap_or_else(|p| p.into_inner()) = handle;
    }
}

/// The witness's answer to a peer's request.
struct WitnessHandler(Arc<WitnessHost>);

impl RequestHandler for WitnessHandler {
    fn handle(&self, from: MemberId, req: Request) -> BoxFuture<'static, Response> {
        let host = &self.0;
        let resp = match req {
            Request::Ping => Response::Pong,
            Request::Raft { msg } => {
                deliver(host.me, host.meta(), None, from, host.me, msg);
                Response::Done
            }
            Request::RaftRelay { to, msg } => {
                deliver(
                    host.me,
                    host.meta(),
                    host.peers.get().cloned(),
                    from,
                    to,
                    msg,
                );
                Response::Done
            }
            _ => Response::Error {
                kind: ErrorKind::BadRequest,
                message: format!("{} is the witness: it holds no data", host.me),
            },
        };
        Box::pin(async move { resp })
    }
}

/// A running witness.
pub struct Witness {
    pub tree: SupervisorHandle,
    host: Arc<WitnessHost>,
    pid_file: PathBuf,
}

impl Witness {
    /// Its replica's status (leader, term, applied index), while it runs.
    pub fn status(&self) -> Option<crate::meta::MetaStatus> {
        self.host.meta().map(|m| m.status())
    }

    /// Stops the tree in order and removes the pid file.
    pub async fn shutdown(self) {
        self.tree.shutdown().await;
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

impl crate::node::Process for Witness {
    fn tree(&self) -> &SupervisorHandle {
        &self.tree
    }

    async fn shutdown(self) {
        Witness::shutdown(self).await
    }
}

/// Starts the witness of `cfg` (whose `id` is the witness's) inside the
/// current actix system.
pub async fn start_witness(cfg: MemberConfig) -> Result<Witness, NodeError> {
    if !cfg.is_witness() {
        return Err(NodeError::Setup(format!(
            "id {} is not the [witness] id of this config",
            cfg.id
        )));
    }
    let pid_file = write_pid(&cfg.data_dir)?;
    let me = cfg.id;
    let host = Arc::new(WitnessHost {
        me,
        meta: RwLock::new(None),
        peers: OnceLock::new(),
    });
    let (membership, membership_ref, _view) = membership_spec(&cfg);
    let (transport, peers) = transport_spec(
        &cfg,
        Arc::new(WitnessHandler(host.clone())),
        StatusSource::new(),
        link_events(&membership_ref),
    );
    let _ = host.peers.set(Arc::new(peers.clone()));
    let meta = meta_spec(&cfg, host.clone(), peers);
    let spec = SupervisorSpec::new(format!("witness-{me}"), Strategy::RestForOne)
        .intensity(5, Duration::from_secs(10))
        .child(transport)
        .child(meta)
        .child(membership);
    let tree = Supervisor::start(spec).await;
    info!(member = %me, peer = %cfg.my_peer_addr(), "witness started");
    Ok(Witness {
        tree,
        host,
        pid_file,
    })
}
