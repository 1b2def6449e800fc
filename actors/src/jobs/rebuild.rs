//! The rebuild job: makes a returning member current again, object by object.
//!
//! `Dirty` mode rebuilds exactly the objects in this member's dirty set as
//! the metadata group holds it; `Full` mode (a new member or a replaced
//! disk) rebuilds every object the group lists, then clears any dirty
//! marks. For each object the current record comes from the group
//! (read-index); this member's fragment of that incarnation is rebuilt row
//! by row from the other members' blocks (unless a verified one is already
//! here), and `ClearDirty` goes through the group, which clears the mark
//! only if no newer write happened meanwhile.
//!
//! Several objects are rebuilt at once (`[store] heal_objects_in_flight`),
//! each fragment from runs of rows read with one request per member, all
//! paced by `[store] heal_max_mb_per_s`.
//!
//! Invariants: progress is durable after every object (the group's dirty
//! marks, plus a sled checkpoint for `Full` mode), so a member killed
//! mid-rebuild resumes where it stopped; the member is marked current only
//! when its dirty set is empty.

use std::ops::Bound::{Excluded, Unbounded};
use std::sync::atomic::Ordering::Relaxed;

use actix::fut::wrap_future;
use actix::prelude::*;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use stripecast_persistence::fragment::fragment_image;
use stripecast_persistence::packed::packable;
use stripecast_persistence::VolumeIncarnation;
use stripecast_persistence::{
    Codec, CodecError, DecodeError, FragmentError, FragmentSpec, FragmentWriter, HomeBlock,
    ObjectRecord,
};
use stripecast_supervisors::ChildContext;
use tracing::{info, warn};

use crate::jobs::throttle::Throttle;
use crate::meta::runner::WaitError;
use crate::meta::{Applied, MetaCommand, MetaHandle};
use crate::service::{ObjectService, Phase, ServiceError};
use crate::store::StoreError;

/// Which objects to rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    Dirty,
    Full,
}

/// Durable progress of a `Full` rebuild: names are processed in order.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    after: Option<String>,
}

const CHECKPOINT: &str = "rebuild";
/// Rows read from each member in one request while rebuilding a fragment
/// (1 MiB at a 64 KiB stripe).
const HEAL_BATCH_ROWS: u64 = 16;
/// Runs of rows fetched ahead while rebuilding one fragment.
const HEAL_RUNS_IN_FLIGHT: usize = 4;

pub struct RebuildJob {
    service: ObjectService,
    mode: Mode,
    /// The cluster volume id (for a fresh member's new HomeBlock).
    volume_id: u32,
    cctx: ChildContext,
}

impl RebuildJob {
    pub fn new(
        service: ObjectService,
        mode: Mode,
        volume_id: u32,
        cctx: &ChildContext,
    ) -> RebuildJob {
        RebuildJob {
            service,
            mode,
            volume_id,
            cctx: cctx.clone(),
        }
    }
}

impl Actor for RebuildJob {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let svc = self.service.clone();
        let mode = self.mode;
        svc.set_phase(Phase::Rebuilding);
        info!(
            member = %svc.me(),
            ?mode,
            restarts = self.cctx.restarts(),
            "rebuild started"
        );
        ctx.spawn(wrap_future::<_, Self>(run(svc, mode, self.volume_id)).map(|res, act, ctx| match res {
            Ok(n) => {
                info!(member = %act.service.me(), objects = n, "rebuild finished");
                ctx.stop();
            }
            Err(e) => {
                warn!(member = %act.service.me(), error = %e, "rebuild failed; it will be retried");
                let cctx = act.cctx.clone();
                cctx.fail(ctx, e.to_string());
            }
        }));
    }
}

/// Why a rebuild pass stopped (the job is retried by its supervisor).
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("the metadata replica is not running")]
    NoMetadata,
    #[error("{what}: {source}")]
    Metadata {
        what: &'static str,
        #[source]
        source: WaitError,
    },
    #[error("clearing the dirty mark: the group answered {0:?}")]
    NotCleared(Applied),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("the object's record: {0}")]
    Record(#[from] DecodeError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Fragment(#[from] FragmentError),
    #[error("{object} rows {rows:?}: too few blocks readable to rebuild")]
    Unreadable {
        object: String,
        rows: std::ops::Range<u64>,
    },
    #[error("the checkpoint does not encode: {0}")]
    Checkpoint(#[from] rmp_serde::encode::Error),
    #[error("a blocking task failed: {0}")]
    Blocking(String),
    #[error("{0} objects could not be rebuilt yet")]
    Left(usize),
}

fn metadata(what: &'static str) -> impl FnOnce(WaitError) -> RebuildError {
    move |source| RebuildError::Metadata { what, source }
}

/// What a pass over the pending names leads to, given the mode it ran in
/// and whether it found anything to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Rebuild the names found, in this mode.
    Pass(Mode),
    /// Every object the group had is here: now clear the marks left for
    /// this member (a `Full` rebuild ends with a `Dirty` one).
    Dirty,
    /// Nothing left: this member is current.
    Current,
}

/// Decides the next step from the mode and whether names are pending.
fn next_step(mode: Mode, pending: bool) -> Next {
    match (mode, pending) {
        (mode, true) => Next::Pass(mode),
        (Mode::Full, false) => Next::Dirty,
        (Mode::Dirty, false) => Next::Current,
    }
}

/// Whether an object that failed to rebuild ends the pass: a `Full`
/// rebuild's checkpoint only moves forward (stop there, resume there); a
/// `Dirty` one leaves the object's mark and goes on with the rest.
fn failure_ends_pass(mode: Mode) -> bool {
    mode == Mode::Full
}

/// Runs the job to the end; answers the number of objects processed.
async fn run(svc: ObjectService, mode: Mode, volume_id: u32) -> Result<u64, RebuildError> {
    let began = std::time::Instant::now();
    let result = run_passes(&svc, mode, volume_id).await;
    let us = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
    svc.metrics().rebuild_us.fetch_add(us, Relaxed);
    result
}

/// The passes of [`run`], until this member is current.
async fn run_passes(
    svc: &ObjectService,
    mut mode: Mode,
    volume_id: u32,
) -> Result<u64, RebuildError> {
    let svc = svc.clone();
    let meta = svc.meta().ok_or(RebuildError::NoMetadata)?;
    let mut ckpt = load_checkpoint(&svc).await?;
    let throttle = Throttle::new(svc.heal_settings().max_mb_per_s);
    let mut processed = 0u64;
    loop {
        let names = pending(&svc, &meta, mode, &ckpt).await?;
        match next_step(mode, !names.is_empty()) {
            Next::Pass(m) => {
                processed += rebuild_pass(&svc, &names, m, &throttle, &mut ckpt).await?;
            }
            Next::Dirty => mode = Mode::Dirty,
            Next::Current => break,
        }
    }
    take_homeblock(&svc, &meta, volume_id).await?;
    svc.set_rebuild_remaining(0);
    svc.set_phase(Phase::Up);
    Ok(processed)
}

/// Where an interrupted `Full` rebuild stopped (nothing: from the start).
async fn load_checkpoint(svc: &ObjectService) -> Result<Checkpoint, RebuildError> {
    Ok(svc
        .store()
        .run(|s| Ok(s.catalog().checkpoint(CHECKPOINT)?))
        .await?
        .and_then(|b| rmp_serde::from_slice(&b).ok())
        .unwrap_or_default())
}

/// The names this pass must rebuild, by a linearizable read (what the
/// group had committed when asked): every object past the checkpoint
/// (`Full`), or this member's dirty set (`Dirty`).
async fn pending(
    svc: &ObjectService,
    meta: &MetaHandle,
    mode: Mode,
    ckpt: &Checkpoint,
) -> Result<Vec<String>, RebuildError> {
    let me = svc.me();
    match mode {
        Mode::Full => {
            let after = ckpt.after.clone();
            meta.read(move |s| match &after {
                Some(after) => s
                    .objects
                    .range::<String, _>((Excluded(after), Unbounded))
                    .map(|(n, _)| n.clone())
                    .collect::<Vec<_>>(),
                None => s.objects.keys().cloned().collect::<Vec<_>>(),
            })
            .await
            .map_err(metadata("listing the objects"))
        }
        Mode::Dirty => meta
            .read(move |s| {
                s.dirty
                    .get(&me)
                    .map(|d| d.iter().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .await
            .map_err(metadata("reading the dirty set")),
    }
}

/// One pass: rebuilds `names` (several objects at once, answers and the
/// checkpoint in order); answers how many were rebuilt.
async fn rebuild_pass(
    svc: &ObjectService,
    names: &[String],
    mode: Mode,
    throttle: &Throttle,
    ckpt: &mut Checkpoint,
) -> Result<u64, RebuildError> {
    let me = svc.me();
    svc.set_rebuild_remaining(names.len() as u64);
    let mut results = futures::stream::iter(names.iter())
        .map(|name| rebuild_object(svc, name, mode, throttle))
        .buffered(svc.heal_settings().objects_in_flight);
    let (mut processed, mut failed) = (0u64, 0usize);
    let mut i = 0usize;
    while let Some(result) = results.next().await {
        let name = &names[i];
        i += 1;
        // One object that cannot be rebuilt now must not hold up the rest:
        // its mark stays, and the next pass (or job) tries it again.
        if let Err(e) = result {
            warn!(member = %me, object = %name, error = %e, "object not rebuilt; will retry");
            if failure_ends_pass(mode) {
                return Err(e);
            }
            failed += 1;
            continue;
        }
        processed += 1;
        svc.set_rebuild_remaining((names.len() - i) as u64);
        if mode == Mode::Full {
            ckpt.after = Some(name.clone());
            let bytes = rmp_serde::to_vec(&*ckpt)?;
            svc.store()
                .run(move |s| Ok(s.catalog().put_checkpoint(CHECKPOINT, &bytes)?))
                .await?;
        }
    }
    if failed > 0 {
        return Err(RebuildError::Left(failed));
    }
    Ok(processed)
}

/// The last step: a member that is current (a fresh one) takes the
/// volume's HomeBlock, and the checkpoint goes.
async fn take_homeblock(
    svc: &ObjectService,
    meta: &MetaHandle,
    volume_id: u32,
) -> Result<(), RebuildError> {
    let me = svc.me();
    let incarnation = meta
        .read(|s| s.volume_incarnation)
        .await
        .map_err(metadata("reading the volume incarnation"))?
        .max(VolumeIncarnation::FIRST);
    let n = svc.layout().fragment_count();
    svc.store()
        .run(move |s| {
            if s.homeblock().is_none() {
                let index = me.fragment_index().ok_or_else(|| {
                    StoreError::Internal(format!("member id {me} cannot hold fragments"))
                })?;
                s.set_homeblock(HomeBlock::new(
                    volume_id,
                    n,
                    index,
                    incarnation,
                    crate::service::now_ns(),
                    "stripecast",
                ))?;
            }
            s.catalog().remove_checkpoint(CHECKPOINT)?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// Brings one object on this member up to its current record: rebuilds
/// this member's fragment of the current incarnation unless a verified one
/// is here, then clears the dirty mark through the group (which clears it
/// only if no newer write happened meanwhile). A deleted object needs
/// nothing: every member removes it when it applies the delete.
async fn rebuild_object(
    svc: &ObjectService,
    name: &str,
    mode: Mode,
    throttle: &Throttle,
) -> Result<(), RebuildError> {
    let me = svc.me();
    let store = svc.store().clone();
    let record = match svc.record(name).await {
        Ok(r) => Some(r),
        Err(ServiceError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    // Counted only when this pass rewrote something: a retried pass (a
    // dirty mark whose clearing failed) finds the work done.
    let mut did_work = false;
    let mut bytes = 0u64;
    if let Some(r) = &record {
        let (n, inc) = (name.to_string(), r.incarnation);
        let have = store
            .run(move |s| Ok(s.has_valid_fragment(&n, inc)))
            .await?;
        if !have {
            bytes = rebuild_fragment(svc, r, throttle).await?;
            svc.metrics().rebuild_bytes.fetch_add(bytes, Relaxed);
            did_work = true;
            // The group may have replaced or deleted this incarnation while
            // its fragment was written: this member then removed the old
            // fragment before it existed. Asked again now that it does, a
            // later change removes it as it applies; an earlier one is
            // undone here, so no fragment outlives its incarnation.
            let current = match svc.record(name).await {
                Ok(now) => Some(now.incarnation),
                Err(ServiceError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            if current != Some(r.incarnation) {
                let (n, inc, count) = (name.to_string(), r.incarnation, r.fragment_count);
                store
                    .run(move |s| {
                        s.drop_fragment(&n, inc, count);
                        Ok(())
                    })
                    .await?;
                info!(member = %me, object = %name, incarnation = %r.incarnation, "rebuilt fragment outlived its incarnation; removed");
            }
        }
    }
    let incarnation = record.as_ref().map(|r| r.incarnation);
    if mode == Mode::Dirty {
        let meta = svc.meta().ok_or(RebuildError::NoMetadata)?;
        let cmd = MetaCommand::ClearDirty {
            member: me,
            name: name.to_string(),
            incarnation,
        };
        match meta.propose(cmd).await {
            // A deleted object's fragment went when this member applied the
            // delete; clearing its mark is this pass's part of that change.
            Ok(Applied::Cleared(cleared)) => did_work |= cleared && record.is_none(),
            Ok(other) => return Err(RebuildError::NotCleared(other)),
            Err(e) => return Err(metadata("clearing the dirty mark")(e)),
        }
    }
    if did_work {
        svc.metrics().objects_rebuilt.fetch_add(1, Relaxed);
    }
    info!(member = %me, object = %name, incarnation = ?incarnation, did_work, bytes, "object rebuilt");
    Ok(())
}

/// Writes this member's fragment of `r`, each block decoded from its row:
/// runs of `HEAL_BATCH_ROWS` rows read with one request per member, a
/// window of runs in flight, paced by `throttle`. A fragment of one row
/// that fits is stored packed, as a PUT stores it. Answers the fragment
/// bytes written.
async fn rebuild_fragment(
    svc: &ObjectService,
    r: &ObjectRecord,
    throttle: &Throttle,
) -> Result<u64, RebuildError> {
    let me = svc.me();
    let layout = r.layout()?;
    let codec = Codec::for_layout(&layout)?;
    let rows = layout.geometry(r.length, r.stripe_size).rows();
    let spec = FragmentSpec {
        name: r.name.clone(),
        incarnation: r.incarnation,
        creation_time_ns: r.creation_time_ns,
        stripe_size: r.stripe_size,
        layout,
        fragment_index: me.position(),
    };
    let codec = &codec;
    let mut runs = futures::stream::iter((0..rows).step_by(HEAL_BATCH_ROWS as usize))
        .map(|start| async move {
            let run = start..(start + HEAL_BATCH_ROWS).min(rows);
            svc.rebuild_own_rows(&r.name, r.incarnation, layout, codec, run.clone())
                .await
                .ok_or_else(|| RebuildError::Unreadable {
                    object: r.name.clone(),
                    rows: run,
                })
        })
        .buffered(HEAL_RUNS_IN_FLIGHT);
    if packable(rows, r.stripe_size, r.name.len()) {
        let blocks = match runs.next().await {
            Some(b) => b?,
            None => Vec::new(),
        };
        let refs: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
        let image = fragment_image(&spec, r.length, &refs)?;
        let bytes = image.len() as u64;
        throttle.pace(bytes).await;
        let store = svc.store().get()?;
        store.put_packed(&spec.fragment_name(), image).await?;
        return Ok(bytes);
    }
    let mut written = 0u64;
    let mut writer = Some(
        svc.store()
            .run(move |s| Ok(FragmentWriter::create(s.fragment_dir(), spec)?))
            .await?,
    );
    while let Some(run) = runs.next().await {
        let run = run?;
        let run_bytes = run.len() as u64 * u64::from(r.stripe_size);
        throttle.pace(run_bytes).await;
        written += run_bytes;
        let Some(mut w) = writer.take() else {
            return Err(RebuildError::Blocking(
                "the fragment writer was lost".into(),
            ));
        };
        let (w, res) = actix_rt::task::spawn_blocking(move || {
            let res = run.iter().try_for_each(|b| w.append_block(b));
            (w, res)
        })
        .await
        .map_err(|e| RebuildError::Blocking(e.to_string()))?;
        res?;
        writer = Some(w);
    }
    let Some(w) = writer.take() else {
        return Err(RebuildError::Blocking(
            "the fragment writer was lost".into(),
        ));
    };
    let len = r.length;
    actix_rt::task::spawn_blocking(move || w.finish(len))
        .await
        .map_err(|e| RebuildError::Blocking(e.to_string()))??;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_rebuild_ends_with_a_dirty_pass_then_current() {
        // (mode, names pending) -> next step
        let table = [
            ((Mode::Full, true), Next::Pass(Mode::Full)),
            ((Mode::Full, false), Next::Dirty),
            ((Mode::Dirty, true), Next::Pass(Mode::Dirty)),
            ((Mode::Dirty, false), Next::Current),
        ];
        for ((mode, pending), want) in table {
            assert_eq!(next_step(mode, pending), want, "{mode:?} {pending}");
        }
        // only a full rebuild (checkpointed in order) stops at a failure
        assert!(failure_ends_pass(Mode::Full));
        assert!(!failure_ends_pass(Mode::Dirty));
    }
}
