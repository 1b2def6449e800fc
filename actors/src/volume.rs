//! This member's standing in the cluster volume (the patent's HomeBlock
//! logic): what it tells its peers in every heartbeat, the controller's duty
//! when a member fails, and whether it is current when it (re)joins.
//!
//! * **Status**: every tick, the HomeBlock (incarnation, dirty bit, volume
//!   id), the phase and the rebuild progress go into the heartbeat status.
//! * **Controller** (lowest live id with a majority, the "cluster volume
//!   master"): when a member goes down, it has every live member advance to a
//!   new incarnation (one above the highest live one) with the dirty bit clear.
//!   The next write that misses the down member sets the dirty bit and adds
//!   the object to its dirty set (in the commit's own batch, on every member).
//! * **Join**: once a majority is live and every live peer has reported, the
//!   member compares its HomeBlock with theirs. Same incarnation as the newest:
//!   current. Older, and its dirty set (kept by the peers) is empty: it takes
//!   the new incarnation. Older with a non-empty dirty set: `rebuilding`, and
//!   a rebuild job runs. No HomeBlock (new member or wiped disk) while peers
//!   have one: a full rebuild. Nobody has one: a new volume, incarnation 1.
//!   The same check runs all the time, so a member that was stopped (SIGSTOP)
//!   or cut off and comes back finds out it is stale.

use std::collections::BTreeSet;
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use stripecast_config::MemberConfig;
use stripecast_persistence::HomeBlock;
use stripecast_supervisors::{
    Backoff, ChildContext, ChildError, ChildRef, Restart, StartChild, Supervisor,
};
use tracing::{error, info, warn};

use crate::jobs::rebuild::{Mode, RebuildJob};
use crate::membership::{Membership, MembershipView, Subscribe, ViewChanged};
use crate::protocol::{NodeStatus, Request, Response};
use crate::service::{now_ns, ObjectService, Phase};
use crate::transport::StatusSource;

const TICK: Duration = Duration::from_millis(100);

pub struct VolumeActor {
    me: u32,
    volume_id: u32,
    members: u8,
    service: ObjectService,
    view: MembershipView,
    membership: ChildRef<Membership>,
    status: StatusSource,
    jobs: ChildRef<Supervisor>,
    last_live: BTreeSet<u32>,
    subscribed: bool,
    busy: bool,
}

/// The volume id every member of a cluster agrees on: from the cluster name.
pub fn volume_id(cfg: &MemberConfig) -> u32 {
    stripecast_persistence::checksum::crc32c(cfg.cluster.name.as_bytes()) | 1
}

impl VolumeActor {
    pub fn new(
        cfg: &MemberConfig,
        service: ObjectService,
        view: MembershipView,
        membership: ChildRef<Membership>,
        status: StatusSource,
        jobs: ChildRef<Supervisor>,
    ) -> VolumeActor {
        VolumeActor {
            me: cfg.id,
            volume_id: volume_id(cfg),
            members: cfg.member_count() as u8,
            service,
            view,
            membership,
            status,
            jobs,
            last_live: BTreeSet::new(),
            subscribed: false,
            busy: false,
        }
    }

    fn publish(&self) {
        let Ok(store) = self.service.store().get() else {
            return;
        };
        let hb = store.homeblock();
        let phase = self.service.phase();
        self.status.set(NodeStatus {
            incarnation: hb.map(|h| h.incarnation).unwrap_or(0),
            dirty: hb.is_some_and(|h| h.is_dirty()),
            rebuilding: phase != Phase::Up,
            rebuild_remaining: self.service.rebuild_remaining(),
            fresh: hb.is_none(),
            objects: store.object_count(),
            volume_id: hb.map(|h| h.volume_id).unwrap_or(0),
            marks_for: store.marks_for(u32::from(self.members)),
        });
    }

    /// The controller's step when members went down.
    fn on_view(&mut self, ctx: &mut Context<Self>) {
        let live: BTreeSet<u32> = self.view.live().into_iter().collect();
        let lost: Vec<u32> = self.last_live.difference(&live).copied().collect();
        self.last_live = live.clone();
        if lost.is_empty() || self.view.controller() != Some(self.me) {
            return;
        }
        let svc = self.service.clone();
        let me = self.me;
        let own = svc
            .store()
            .get()
            .ok()
            .and_then(|s| s.homeblock())
            .map(|h| h.incarnation);
        let newest = live
            .iter()
            .filter_map(|&m| {
                if m == me {
                    own
                } else {
                    svc.peer_status(m).map(|s| s.incarnation)
                }
            })
            .max()
            .unwrap_or(0);
        let next = newest + 1;
        info!(
            member = me,
            ?lost,
            incarnation = next,
            "controller: members lost; advancing the volume incarnation"
        );
        ctx.spawn(wrap_future::<_, Self>(async move {
            for m in live {
                if let Err(e) = svc
                    .call(m, Request::AdvanceIncarnation { incarnation: next })
                    .await
                {
                    warn!(member = me, peer = m, error = ?e, "could not advance the incarnation");
                }
            }
        }));
    }

    /// Decides whether this member is current, and acts on it.
    fn evaluate(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.service.phase() == Phase::Rebuilding {
            return;
        }
        let snap = self.view.snapshot();
        if !snap.has_majority() {
            return;
        }
        let peers: Vec<u32> = snap.live().into_iter().filter(|&m| m != self.me).collect();
        let statuses: Vec<(u32, NodeStatus)> = peers
            .iter()
            .filter_map(|&m| self.service.peer_status(m).map(|s| (m, s)))
            .collect();
        if statuses.len() < peers.len() {
            return; // wait for every live peer's first heartbeat
        }
        let Ok(store) = self.service.store().get() else {
            return;
        };
        let own = store.homeblock();
        let known: Vec<&(u32, NodeStatus)> = statuses.iter().filter(|(_, s)| !s.fresh).collect();
        let newest = known.iter().map(|(_, s)| s.incarnation).max();
        if let Some((m, s)) = known.iter().find(|(_, s)| s.volume_id != self.volume_id) {
            error!(
                member = self.me,
                peer = *m,
                theirs = s.volume_id,
                ours = self.volume_id,
                "peer belongs to another volume"
            );
            return;
        }
        // A live peer holding dirty marks for this member is proof it missed
        // writes, whatever the incarnations say (it was absent when the volume
        // restarted, or a commit failed on it while it was up).
        let held_for_me = statuses.iter().any(|(_, s)| s.marks_for.contains(&self.me));
        if own.is_some() && held_for_me {
            info!(
                member = self.me,
                "peers hold dirty marks for this member; rebuilding"
            );
            self.start_rebuild(Mode::Dirty, ctx);
            return;
        }
        match (own, newest) {
            (None, None) => {
                if statuses.iter().all(|(_, s)| s.fresh) {
                    let hb = HomeBlock::new(
                        self.volume_id,
                        self.members,
                        self.me as u8,
                        1,
                        now_ns(),
                        "stripecast",
                    );
                    if store.set_homeblock(hb).is_ok() {
                        info!(member = self.me, "new volume: incarnation 1");
                        self.service.set_phase(Phase::Up);
                    }
                }
            }
            (None, Some(_)) => self.start_rebuild(Mode::Full, ctx),
            (Some(_), None) => self.service.set_phase(Phase::Up),
            (Some(h), Some(n)) if h.incarnation >= n => self.service.set_phase(Phase::Up),
            (Some(h), Some(n)) => {
                // Stale: ask a member at the newest incarnation for our dirty set.
                let Some(source) = known
                    .iter()
                    .find(|(_, s)| s.incarnation == n)
                    .map(|(m, _)| *m)
                else {
                    return;
                };
                self.busy = true;
                let svc = self.service.clone();
                let me = self.me;
                info!(
                    member = me,
                    ours = h.incarnation,
                    newest = n,
                    "stale HomeBlock; checking the dirty set"
                );
                ctx.spawn(
                    wrap_future::<_, Self>(async move { svc.call(source, Request::DirtySet { member: me }).await })
                        .map(move |res, act, ctx| {
                            act.busy = false;
                            match res {
                                Ok(Response::Names(names)) if names.is_empty() => {
                                    if let Ok(store) = act.service.store().get() {
                                        let mut hb = h;
                                        hb.incarnation = n;
                                        hb.set_dirty(false);
                                        if store.set_homeblock(hb).is_ok() {
                                            info!(member = act.me, incarnation = n, "nothing changed while away; current");
                                            act.service.set_phase(Phase::Up);
                                        }
                                    }
                                }
                                Ok(Response::Names(names)) => {
                                    info!(member = act.me, dirty = names.len(), "objects changed while away; rebuilding");
                                    act.start_rebuild(Mode::Dirty, ctx);
                                }
                                other => warn!(member = act.me, answer = ?other, "could not read the dirty set"),
                            }
                        }),
                );
            }
        }
    }

    fn start_rebuild(&mut self, mode: Mode, ctx: &mut Context<Self>) {
        let Some(jobs) = self.jobs.live_addr() else {
            return;
        };
        self.service.set_phase(Phase::Rebuilding);
        let svc = self.service.clone();
        let spec = stripecast_supervisors::ChildSpec::new("rebuild", move |cctx: &ChildContext| {
            RebuildJob::new(svc.clone(), mode, cctx)
        })
        .restart(Restart::Transient)
        .backoff(Backoff::new(
            Duration::from_millis(200),
            Duration::from_secs(5),
        ));
        self.busy = true;
        ctx.spawn(wrap_future::<_, Self>(jobs.send(StartChild(spec))).map(|res, act, _| {
            act.busy = false;
            match res {
                Ok(Ok(_)) | Ok(Err(ChildError::AlreadyPresent(_))) => {}
                other => {
                    warn!(member = act.me, result = ?other.map(|r| r.map(|_| ())), "could not start the rebuild");
                    act.service.set_phase(Phase::Joining);
                }
            }
        }));
    }
}

impl Actor for VolumeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(TICK, |act, ctx| {
            if !act.subscribed {
                if let Some(m) = act.membership.live_addr() {
                    m.do_send(Subscribe(ctx.address().recipient()));
                    act.subscribed = true;
                }
            }
            act.publish();
            act.evaluate(ctx);
        });
    }
}

impl Handler<ViewChanged> for VolumeActor {
    type Result = ();

    fn handle(&mut self, _: ViewChanged, ctx: &mut Context<Self>) {
        self.on_view(ctx);
        self.publish();
    }
}
