//! This member's standing in the cluster volume (the patent's HomeBlock
//! logic): what it tells its peers in every heartbeat, the controller's duty
//! when a member fails, and whether it is current when it (re)joins.
//!
//! * **Status**: every tick, the HomeBlock (incarnation, dirty bit, volume
//!   id), the phase and the rebuild progress go into the heartbeat status.
//! * **Controller** (the metadata group's leader, the "cluster volume
//!   master"; the followers are its standbys): when a member goes down, it
//!   commits the next volume incarnation (`AdvanceVolume`); every member's
//!   HomeBlock takes it when it applies the entry, and the HomeBlock's dirty
//!   bit follows the group's dirty sets (`crate::meta::mirror`).
//! * **Join**: no HomeBlock (new member or wiped disk) while live peers have
//!   one: a full rebuild; nobody has one: a new volume, incarnation 1. With
//!   a HomeBlock, the member asks the group (read-index) for its dirty set
//!   every half second: empty -> `up`, else `rebuilding` and a rebuild job.
//!   A member that was stopped (SIGSTOP) or cut off finds out the same way,
//!   and meanwhile cannot get anything acknowledged (the group fences it).

use std::collections::BTreeSet;
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use stripecast_config::{MemberConfig, MemberId};
use stripecast_persistence::HomeBlock;
use stripecast_persistence::VolumeIncarnation;
use stripecast_supervisors::{
    Backoff, ChildContext, ChildError, ChildRef, Restart, StartChild, Supervisor,
};
use tracing::{error, info, warn};

use crate::jobs::rebuild::{Mode, RebuildJob};
use crate::membership::{Membership, MembershipView, Subscribe, ViewChanged};
use crate::meta::runner::WaitError;
use crate::meta::LogIndex;
use crate::meta::MetaCommand;
use crate::protocol::NodeStatus;
use crate::service::{now_ns, ObjectService, Phase};
use crate::transport::StatusSource;

const TICK: Duration = Duration::from_millis(100);

pub struct VolumeActor {
    me: MemberId,
    volume_id: u32,
    members: u8,
    service: ObjectService,
    view: MembershipView,
    membership: ChildRef<Membership>,
    status: StatusSource,
    jobs: ChildRef<Supervisor>,
    subscribed: bool,
    busy: bool,
    /// A controller step is in flight.
    advancing: bool,
    ticks: u64,
}

/// Ticks between two checks of this member's dirty set with the group.
const DIRTY_CHECK_TICKS: u64 = 5;

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
            members: service.layout().fragment_count(),
            service,
            view,
            membership,
            status,
            jobs,
            subscribed: false,
            busy: false,
            advancing: false,
            ticks: 0,
        }
    }

    fn publish(&self) {
        let Ok(store) = self.service.store().get() else {
            return;
        };
        let hb = store.homeblock();
        let phase = self.service.phase();
        self.status.set(NodeStatus {
            incarnation: hb.map(|h| h.incarnation).unwrap_or_default(),
            dirty: hb.is_some_and(|h| h.is_dirty()),
            rebuilding: phase != Phase::Up,
            rebuild_remaining: self.service.rebuild_remaining(),
            fresh: hb.is_none(),
            objects: store.object_count(),
            volume_id: hb.map(|h| h.volume_id).unwrap_or(0),
            marks_for: store.marks_for(usize::from(self.members)),
            applied_index: self
                .service
                .meta()
                .map_or(LogIndex::default(), |m| m.status().applied_index),
        });
    }

    /// The controller's duty, level-triggered so that a new leader resumes
    /// what a dead one left half done: when the members down in this
    /// member's view differ from those the group recorded at its last step,
    /// the leader (the active controller) commits the next step: a higher
    /// volume incarnation if a member went down, the same one if members
    /// only came back. Every member's HomeBlock takes it when it applies it.
    fn controller_duty(&mut self, ctx: &mut Context<Self>) {
        if self.advancing {
            return;
        }
        let Some(meta) = self.service.meta() else {
            return;
        };
        if meta.status().leader != Some(self.me) {
            return;
        }
        let snap = self.view.snapshot();
        let down: BTreeSet<MemberId> = MemberId::all(usize::from(self.members))
            .filter(|&m| !snap.is_up(m))
            .collect();
        let me = self.me;
        let own = self
            .service
            .store()
            .get()
            .ok()
            .and_then(|s| s.homeblock())
            .map(|h| h.incarnation)
            .unwrap_or_default();
        self.advancing = true;
        ctx.spawn(
            wrap_future::<_, Self>(async move {
                let (volume, recorded) = meta
                    .read(|s| (s.volume_incarnation, s.volume_down.clone()))
                    .await?;
                let Some(next) = controller_step(volume, own, &recorded, &down) else {
                    return Ok(());
                };
                let lost: Vec<MemberId> = down.difference(&recorded).copied().collect();
                info!(
                    member = %me,
                    ?lost,
                    ?down,
                    incarnation = %next,
                    "controller: members changed; stepping the volume"
                );
                let cmd = MetaCommand::AdvanceVolume {
                    incarnation: next,
                    down: down.into_iter().collect(),
                };
                meta.propose(cmd).await.map(drop)
            })
            .map(move |res: Result<(), WaitError>, act, _| {
                act.advancing = false;
                if let Err(e) = res {
                    warn!(member = %me, error = %e, "controller: could not step the volume");
                }
            }),
        );
    }

    /// Decides whether this member is current, and acts on it: a member
    /// without a HomeBlock joins (a new volume, or a full rebuild); one with
    /// a HomeBlock is current once the metadata group confirms (read-index)
    /// that it has nothing to rebuild, and rebuilds otherwise.
    fn evaluate(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.service.phase() == Phase::Rebuilding {
            return;
        }
        let Ok(store) = self.service.store().get() else {
            return;
        };
        if store.homeblock().is_some() {
            self.check_dirty(ctx);
            return;
        }
        let snap = self.view.snapshot();
        if !snap.has_majority() {
            return;
        }
        let peers: Vec<MemberId> = snap.live().into_iter().filter(|&m| m != self.me).collect();
        let statuses: Vec<(MemberId, Option<NodeStatus>)> = peers
            .iter()
            .map(|&m| (m, self.service.peer_status(m)))
            .collect();
        match join_verdict(self.volume_id, &statuses) {
            // Wait for every live peer's first heartbeat.
            Join::Wait => {}
            Join::ForeignVolume { peer, theirs } => error!(
                member = %self.me,
                %peer,
                theirs,
                ours = self.volume_id,
                "peer belongs to another volume"
            ),
            Join::NewVolume => self.start_volume(&store),
            Join::FullRebuild => self.start_rebuild(Mode::Full, ctx),
        }
    }

    /// This member starts a new volume (it and every live peer are fresh).
    fn start_volume(&self, store: &crate::store::LocalStore) {
        {
            let Some(index) = self.me.fragment_index() else {
                error!(member = %self.me, "a member id past 254 cannot hold fragments");
                return;
            };
            let hb = HomeBlock::new(
                self.volume_id,
                self.members,
                index,
                VolumeIncarnation::FIRST,
                now_ns(),
                "stripecast",
            );
            if store.set_homeblock(hb).is_ok() {
                // `up` once the group confirms there is nothing to rebuild.
                info!(member = %self.me, "new volume: incarnation 1");
            }
        }
    }

    /// Asks the group (linearizably, every `DIRTY_CHECK_TICKS`) whether this
    /// member missed anything: rebuild if so, current if not.
    fn check_dirty(&mut self, ctx: &mut Context<Self>) {
        self.ticks += 1;
        if self.ticks % DIRTY_CHECK_TICKS != 0 {
            return;
        }
        let Some(meta) = self.service.meta() else {
            return;
        };
        let me = self.me;
        self.busy = true;
        ctx.spawn(
            wrap_future::<_, Self>(async move {
                meta.read(move |s| s.dirty.get(&me).map_or(0, |d| d.len()))
                    .await
            })
            .map(move |res, act, ctx| {
                act.busy = false;
                match res {
                    Ok(0) => act.service.set_phase(Phase::Up),
                    Ok(n) => {
                        info!(
                            member = %act.me,
                            dirty = n,
                            "objects changed while away; rebuilding"
                        );
                        act.start_rebuild(Mode::Dirty, ctx);
                    }
                    // No leader confirms: stay as we are; reads and writes
                    // answer 503 meanwhile anyway.
                    Err(e) => {
                        tracing::debug!(member = %act.me, error = %e, "cannot confirm the dirty set")
                    }
                }
            }),
        );
    }

    fn start_rebuild(&mut self, mode: Mode, ctx: &mut Context<Self>) {
        let Some(jobs) = self.jobs.live_addr() else {
            return;
        };
        self.service.set_phase(Phase::Rebuilding);
        let svc = self.service.clone();
        let volume_id = self.volume_id;
        let spec = stripecast_supervisors::ChildSpec::new("rebuild", move |cctx: &ChildContext| {
            RebuildJob::new(svc.clone(), mode, volume_id, cctx)
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
                    warn!(member = %act.me, result = ?other.map(|r| r.map(|_| ())), "could not start the rebuild");
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
            if act.ticks % DIRTY_CHECK_TICKS == 0 {
                act.controller_duty(ctx);
            }
        });
    }
}

impl Handler<ViewChanged> for VolumeActor {
    type Result = ();

    fn handle(&mut self, _: ViewChanged, ctx: &mut Context<Self>) {
        self.controller_duty(ctx);
        self.publish();
    }
}

/// The controller's step when the members down in its view (`down`) differ
/// from those the group recorded at its last step: the next incarnation
/// past both the group's and this member's HomeBlock's if a member went
/// down, the same one if members only came back; `None` if nothing changed.
fn controller_step(
    volume: VolumeIncarnation,
    own: VolumeIncarnation,
    recorded: &BTreeSet<MemberId>,
    down: &BTreeSet<MemberId>,
) -> Option<VolumeIncarnation> {
    if recorded == down {
        return None;
    }
    if down.is_subset(recorded) {
        Some(volume)
    } else {
        Some(volume.max(own).next())
    }
}

/// What a member without a HomeBlock does, given its live peers' statuses
/// (`None`: no heartbeat from that peer yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    /// Some live peer has not told its status yet.
    Wait,
    /// A peer that has joined belongs to another volume: never mix them.
    ForeignVolume { peer: MemberId, theirs: u32 },
    /// Nobody live has joined: this is a new volume, incarnation 1.
    NewVolume,
    /// Live peers hold the volume: rebuild everything from them.
    FullRebuild,
}

fn join_verdict(volume_id: u32, peers: &[(MemberId, Option<NodeStatus>)]) -> Join {
    let mut statuses = Vec::with_capacity(peers.len());
    for (m, s) in peers {
        match s {
            Some(s) => statuses.push((*m, s)),
            None => return Join::Wait,
        }
    }
    if let Some((peer, s)) = statuses
        .iter()
        .find(|(_, s)| !s.fresh && s.volume_id != volume_id)
    {
        return Join::ForeignVolume {
            peer: *peer,
            theirs: s.volume_id,
        };
    }
    if statuses.iter().all(|(_, s)| s.fresh) {
        Join::NewVolume
    } else {
        Join::FullRebuild
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u32]) -> BTreeSet<MemberId> {
        MemberId::from_numbers(ids.iter().copied())
            .into_iter()
            .collect()
    }

    /// (group's incarnation, this member's, recorded down, down now) -> step.
    type StepCase = (u32, u32, &'static [u32], &'static [u32], Option<u32>);

    #[test]
    fn controller_steps() {
        let v = VolumeIncarnation::new;
        let table: [StepCase; 6] = [
            (3, 3, &[], &[], None),         // nothing changed
            (3, 3, &[2], &[2], None),       // already recorded
            (3, 3, &[], &[2], Some(4)),     // a member went down
            (3, 5, &[], &[2], Some(6)),     // past this member's HomeBlock too
            (4, 4, &[2], &[], Some(4)),     // it came back: same incarnation
            (4, 4, &[2], &[1, 2], Some(5)), // another went down
        ];
        for (group, own, recorded, down, want) in table {
            assert_eq!(
                controller_step(v(group), v(own), &set(recorded), &set(down)),
                want.map(v),
                "group {group}, own {own}, recorded {recorded:?}, down {down:?}"
            );
        }
        // One back, another down at once: a member went down, so a step.
        assert_eq!(
            controller_step(v(4), v(4), &set(&[1]), &set(&[2])),
            Some(v(5))
        );
    }

    fn status(fresh: bool, volume_id: u32) -> Option<NodeStatus> {
        Some(NodeStatus {
            fresh,
            volume_id: if fresh { 0 } else { volume_id },
            ..NodeStatus::default()
        })
    }

    #[test]
    fn join_verdicts() {
        let (m1, m2) = (MemberId::new(1), MemberId::new(2));
        let table = [
            (vec![], Join::NewVolume),
            (vec![(m1, status(true, 0))], Join::NewVolume),
            (vec![(m1, status(true, 0)), (m2, None)], Join::Wait),
            (vec![(m1, status(false, 7))], Join::FullRebuild),
            (
                vec![(m1, status(true, 0)), (m2, status(false, 7))],
                Join::FullRebuild,
            ),
            (
                vec![(m1, status(false, 7)), (m2, status(false, 9))],
                Join::ForeignVolume {
                    peer: m2,
                    theirs: 9,
                },
            ),
        ];
        for (peers, want) in table {
            assert_eq!(join_verdict(7, &peers), want, "{peers:?}");
        }
    }
}
