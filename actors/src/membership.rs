//! Membership: which members are up and what they last said about
//! themselves, as seen from this member: the data path's fast failure
//! detector (heartbeats). Who the controller is, is not decided here: it is
//! the metadata group's leader (`crate::meta`).
//!
//! The [`Membership`] actor is fed [`LinkEvent`]s by the transport and keeps
//! the view: per member `Up`/`Down`, its last [`NodeStatus`], since when, and
//! why it went down. Every change (up/down, or a changed status) bumps the
//! view's `epoch` and is pushed at once to every subscriber as [`ViewChanged`];
//! request handlers read the same view synchronously through the cheap
//! [`MembershipView`] handle.
//!
//! Restarts. The view and the subscriber list live in the [`MembershipView`]'s
//! shared state, created once by [`membership_spec`], so a restarted actor
//! starts from the current view with the same subscribers. Events sent while
//! no incarnation runs would be lost, so the transport should send them
//! through [`link_events`]: a relay that forwards each event to the current
//! incarnation and keeps the latest state per peer, which it replays to every
//! new incarnation (at the latest [`RELAY_CHECK`] after it starts). Changes
//! that happened during the gap reach subscribers as one `ViewChanged`.
//!
//! Invariants: this member is always `Up` in its own view; member ids are
//! `0..N` and `members[i].id == i`; events about unknown ids are ignored.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use stripecast_config::{MemberConfig, MemberId};
use stripecast_supervisors::{ChildRef, ChildSpec, Pid};
use tracing::{info, warn};

use crate::protocol::NodeStatus;
use crate::transport::LinkEvent;

/// How often the relay checks whether the membership actor was restarted.
pub const RELAY_CHECK: Duration = Duration::from_millis(50);

/// Whether a member is reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberState {
    Up,
    Down,
}

/// One member in the view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    pub id: MemberId,
    pub state: MemberState,
    /// The status it last reported (kept while it is down); `None` until its
    /// first heartbeat (and always for this member itself).
    pub status: Option<NodeStatus>,
    /// When `state` last changed (start of the view for the initial state).
    pub since: SystemTime,
    /// Why it is down (`None` while up).
    pub reason: Option<String>,
}

/// The whole view at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewSnapshot {
    /// The member this view belongs to.
    pub me: MemberId,
    /// Incremented on every change.
    pub epoch: u64,
    /// All members, indexed by id.
    pub members: Vec<MemberView>,
}

impl ViewSnapshot {
    fn new(me: MemberId, n: usize) -> Self {
        let now = SystemTime::now();
        ViewSnapshot {
            me,
            epoch: 0,
            members: MemberId::all(n)
                .map(|id| MemberView {
                    id,
                    state: if id == me {
                        MemberState::Up
                    } else {
                        MemberState::Down
                    },
                    status: None,
                    since: now,
                    reason: (id != me).then(|| "not connected yet".to_string()),
                })
                .collect(),
        }
    }

    /// N, the number of members.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    pub fn member(&self, id: MemberId) -> Option<&MemberView> {
        self.members.get(id.position())
    }

    pub fn is_up(&self, id: MemberId) -> bool {
        self.member(id).is_some_and(|m| m.state == MemberState::Up)
    }

    /// The ids of the members up, ascending (this member included).
    pub fn live(&self) -> Vec<MemberId> {
        self.members
            .iter()
            .filter(|m| m.state == MemberState::Up)
            .map(|m| m.id)
            .collect()
    }

    /// Whether the live members are a strict majority of N.
    pub fn has_majority(&self) -> bool {
        self.live().len() * 2 > self.members.len()
    }

    /// Applies one link event; true if the view changed.
    fn apply(&mut self, event: &LinkEvent) -> bool {
        let me = self.me;
        let Some(m) = self.members.get_mut(event.peer().position()) else {
            warn!(
                member = %me,
                peer = %event.peer(),
                "link event about an unknown member ignored"
            );
            return false;
        };
        if m.id == me {
            return false;
        }
        let changed = match event {
            LinkEvent::Up { .. } if m.state != MemberState::Up => {
                m.state = MemberState::Up;
                m.reason = None;
                m.since = SystemTime::now();
                true
            }
            LinkEvent::Down { reason, .. } if m.state != MemberState::Down => {
                m.state = MemberState::Down;
                m.reason = Some(reason.clone());
                m.since = SystemTime::now();
                true
            }
            LinkEvent::Status { status, .. } if m.status.as_ref() != Some(status) => {
                m.status = Some(status.clone());
                true
            }
            _ => false,
        };
        if changed {
            self.epoch += 1;
        }
        changed
    }
}

/// Sent to every subscriber on each change of the view.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct ViewChanged {
    pub view: ViewSnapshot,
}

/// Subscribes a recipient to [`ViewChanged`]. It gets the current view at
/// once, then every change; it is dropped when its actor is gone. The
/// subscription survives restarts of the membership actor, and subscribing
/// the same recipient twice subscribes it once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe(pub Recipient<ViewChanged>);

/// The latest state of every link, replayed to a new membership incarnation.
#[derive(Message)]
#[rtype(result = "()")]
struct Replay(Vec<LinkEvent>);

struct ViewShared {
    view: RwLock<ViewSnapshot>,
    subscribers: Mutex<Vec<Recipient<ViewChanged>>>,
}

/// A cheap, synchronous, read-only handle on the view (clone freely).
#[derive(Clone)]
pub struct MembershipView {
    shared: Arc<ViewShared>,
}

impl MembershipView {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, ViewSnapshot> {
        self.shared.view.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn snapshot(&self) -> ViewSnapshot {
        self.read().clone()
    }

    pub fn is_up(&self, id: MemberId) -> bool {
        self.read().is_up(id)
    }

    pub fn live(&self) -> Vec<MemberId> {
        self.read().live()
    }

    pub fn epoch(&self) -> u64 {
        self.read().epoch
    }

    /// The status `id` last reported, if any.
    pub fn status(&self, id: MemberId) -> Option<NodeStatus> {
        self.read().member(id).and_then(|m| m.status.clone())
    }
}

/// The membership actor (see the module docs).
pub struct Membership {
    shared: Arc<ViewShared>,
}

impl Membership {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, ViewSnapshot> {
        self.shared.view.write().unwrap_or_else(|p| p.into_inner())
    }

    fn subscribers(&self) -> std::sync::MutexGuard<'_, Vec<Recipient<ViewChanged>>> {
        self.shared
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Applies events; publishes one `ViewChanged` if anything changed.
    fn apply(&mut self, events: &[LinkEvent]) {
        let snapshot = {
            let mut view = self.write();
            let mut changed = false;
            for e in events {
                if view.apply(e) {
                    changed = true;
                    match e {
                        LinkEvent::Up { peer } => {
                            info!(member = %view.me, %peer, epoch = view.epoch, "member up")
                        }
                        LinkEvent::Down { peer, reason } => {
                            warn!(member = %view.me, %peer, epoch = view.epoch, %reason, "member down")
                        }
                        LinkEvent::Status { .. } => {}
                    }
                }
            }
            if !changed {
                return;
            }
            view.clone()
        };
        self.subscribers().retain(|s| {
            if !s.connected() {
                return false;
            }
            s.do_send(ViewChanged {
                view: snapshot.clone(),
            });
            true
        });
    }
}

impl Actor for Membership {
    type Context = Context<Self>;
}

impl Handler<LinkEvent> for Membership {
    type Result = ();

    fn handle(&mut self, event: LinkEvent, _: &mut Context<Self>) {
        self.apply(std::slice::from_ref(&event));
    }
}

impl Handler<Replay> for Membership {
    type Result = ();

    fn handle(&mut self, Replay(events): Replay, _: &mut Context<Self>) {
        self.apply(&events);
    }
}

impl Handler<Subscribe> for Membership {
    type Result = ();

    fn handle(&mut self, Subscribe(r): Subscribe, _: &mut Context<Self>) {
        let view = self
            .shared
            .view
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        r.do_send(ViewChanged { view });
        // Subscriptions outlive restarts of this actor; subscribing again is harmless.
        let mut subs = self.subscribers();
        if !subs.contains(&r) {
            subs.push(r);
        }
    }
}

/// The membership child (`membership`, permanent), a handle on its current
/// incarnation and the synchronous view.
pub fn membership_spec(cfg: &MemberConfig) -> (ChildSpec, ChildRef<Membership>, MembershipView) {
    let shared = Arc::new(ViewShared {
        view: RwLock::new(ViewSnapshot::new(cfg.id, cfg.member_count())),
        subscribers: Mutex::new(Vec::new()),
    });
    let for_actor = shared.clone();
    let (spec, r) = ChildSpec::new_with_ref("membership", move |_| Membership {
        shared: for_actor.clone(),
    });
    (spec, r, MembershipView { shared })
}

/// The recipient to give the transport as `events`: forwards each event to the
/// current incarnation of `membership` and replays the latest state of every
/// link to each new incarnation. Starts a small relay actor on the current
/// arbiter (unsupervised: it does no I/O and cannot fail), which lives as long
/// as the returned recipient.
pub fn link_events(membership: &ChildRef<Membership>) -> Recipient<LinkEvent> {
    LinkRelay {
        target: membership.clone(),
        latest: BTreeMap::new(),
        delivered_to: None,
    }
    .start()
    .recipient()
}

#[derive(Default, Clone)]
struct LinkState {
    updown: Option<LinkEvent>,
    status: Option<LinkEvent>,
}

struct LinkRelay {
    target: ChildRef<Membership>,
    latest: BTreeMap<MemberId, LinkState>,
    /// The incarnation that has seen everything in `latest`.
    delivered_to: Option<Pid>,
}

impl LinkRelay {
    /// If a new incarnation runs, replays the latest state to it and answers
    /// `None`; answers the current incarnation's address if it was already up
    /// to date (`None` too when no incarnation is running).
    fn catch_up(&mut self) -> Option<Addr<Membership>> {
        let pid = self.target.pid()?;
        let addr = self.target.live_addr()?;
        if self.delivered_to.as_ref() != Some(&pid) {
            let events = self
                .latest
                .values()
                .flat_map(|s| s.updown.iter().chain(s.status.iter()).cloned())
                .collect();
            addr.do_send(Replay(events));
            self.delivered_to = Some(pid);
            return None;
        }
        Some(addr)
    }
}

impl Actor for LinkRelay {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(RELAY_CHECK, |act, _| {
            act.catch_up();
        });
    }
}

impl Handler<LinkEvent> for LinkRelay {
    type Result = ();

    fn handle(&mut self, event: LinkEvent, _: &mut Context<Self>) {
        let state = self.latest.entry(event.peer()).or_default();
        match &event {
            LinkEvent::Status { .. } => state.status = Some(event.clone()),
            _ => state.updown = Some(event.clone()),
        }
        // A replay already carries this event; otherwise forward it.
        if let Some(addr) = self.catch_up() {
            addr.do_send(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(peer: MemberId) -> LinkEvent {
        LinkEvent::Up { peer }
    }

    fn down(peer: MemberId) -> LinkEvent {
        LinkEvent::Down {
            peer,
            reason: "test".into(),
        }
    }

    #[test]
    fn majority_is_strictly_more_than_half() {
        let mut v = ViewSnapshot::new(MemberId::new(2), 5);
        assert_eq!(v.live(), vec![MemberId::new(2)]);
        assert!(!v.has_majority());
        assert!(v.apply(&up(MemberId::new(4))));
        assert!(!v.has_majority(), "2 of 5 is no majority");
        assert!(v.apply(&up(MemberId::new(3))));
        assert!(v.has_majority());
        assert!(v.apply(&down(MemberId::new(4))));
        assert!(!v.has_majority());

        // Even N: half is not a majority.
        let mut v = ViewSnapshot::new(MemberId::new(1), 4);
        v.apply(&up(MemberId::new(3)));
        assert!(!v.has_majority());
        v.apply(&up(MemberId::new(0)));
        assert!(v.has_majority());
    }

    #[test]
    fn self_is_always_up_and_repeats_change_nothing() {
        let mut v = ViewSnapshot::new(MemberId::new(1), 3);
        assert!(!v.apply(&down(MemberId::new(1))));
        assert!(v.is_up(MemberId::new(1)));
        assert!(v.apply(&up(MemberId::new(0))));
        assert!(!v.apply(&up(MemberId::new(0))));
        assert!(!v.apply(&up(MemberId::new(9))), "unknown member");
        let s = NodeStatus {
            incarnation: stripecast_persistence::VolumeIncarnation::new(4),
            ..Default::default()
        };
        let status = LinkEvent::Status {
            peer: MemberId::new(0),
            status: s.clone(),
        };
        assert!(v.apply(&status));
        assert!(!v.apply(&status));
        assert_eq!(v.member(MemberId::new(0)).unwrap().status, Some(s));
        assert_eq!(v.epoch, 2);
    }
}
