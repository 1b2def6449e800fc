//! The rebuild job: makes a returning member current again, object by object.
//!
//! `Dirty` mode rebuilds exactly the objects in this member's dirty set (as a
//! current peer keeps it); `Full` mode (a new member or a replaced disk)
//! rebuilds every object the peers hold, then clears any dirty marks. For each
//! object the current record comes from a current peer; this member's
//! fragment of that incarnation is rebuilt row by row from the other
//! members' blocks (unless a verified one is already here), committed
//! locally, and the object is cleared from the dirty set on every live member
//! (each clears it only if no newer write happened meanwhile). Objects deleted
//! while the member was away are removed.
//!
//! Invariants: progress is durable after every object (the peers' dirty
//! marks, plus a sled checkpoint for `Full` mode), so a member killed
//! mid-rebuild resumes where it stopped; the member is marked current only
//! when its dirty set is empty.

use std::sync::atomic::Ordering::Relaxed;

use actix::fut::wrap_future;
use actix::prelude::*;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use stripecast_persistence::{Codec, FragmentSpec, FragmentWriter, HomeBlock, ObjectRecord};
use stripecast_supervisors::ChildContext;
use tracing::{info, warn};

use crate::protocol::{Request, Response};
use crate::service::{record_from_wire, ObjectService, Phase};

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
/// Rows fetched ahead while rebuilding one fragment.
const ROW_WINDOW: usize = 32;

pub struct RebuildJob {
    service: ObjectService,
    mode: Mode,
    cctx: ChildContext,
}

impl RebuildJob {
    pub fn new(service: ObjectService, mode: Mode, cctx: &ChildContext) -> RebuildJob {
        RebuildJob {
            service,
            mode,
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
            member = svc.me(),
            ?mode,
            restarts = self.cctx.restarts(),
            "rebuild started"
        );
        ctx.spawn(wrap_future::<_, Self>(run(svc, mode)).map(|res, act, ctx| match res {
            Ok(n) => {
                info!(member = act.service.me(), objects = n, "rebuild finished");
                ctx.stop();
            }
            Err(e) => {
                warn!(member = act.service.me(), error = %e, "rebuild failed; it will be retried");
                let cctx = act.cctx.clone();
                cctx.fail(ctx, e);
            }
        }));
    }
}

async fn call(svc: &ObjectService, member: u32, req: Request) -> Result<Response, String> {
    svc.call(member, req)
        .await
        .map_err(|e| format!("member {member}: {e:?}"))
}

/// Runs the job to the end; answers the number of objects processed.
async fn run(svc: ObjectService, mut mode: Mode) -> Result<u64, String> {
    let me = svc.me();
    let store = svc.store().clone();
    let mut ckpt: Checkpoint = store
        .run(|s| Ok(s.catalog().checkpoint(CHECKPOINT)?))
        .await
        .map_err(|e| e.to_string())?
        .and_then(|b| rmp_serde::from_slice(&b).ok())
        .unwrap_or_default();
    let mut processed = 0u64;
    loop {
        let source = *svc
            .current_peers()
            .first()
            .ok_or("no current member to rebuild from")?;
        let mut names: Vec<String> = match mode {
            Mode::Full => match call(&svc, source, Request::ListRecords).await? {
                Response::Records(rs) => rs.into_iter().map(|r| r.name).collect(),
                other => return Err(format!("unexpected answer {other:?}")),
            },
            // Every current member's marks: one that missed a write may be the
            // only one that did not hold the mark.
            Mode::Dirty => {
                let mut all = std::collections::BTreeSet::new();
                for peer in svc.current_peers() {
                    match call(&svc, peer, Request::DirtySet { member: me }).await {
                        Ok(Response::Names(n)) => all.extend(n),
                        other => {
                            warn!(member = me, peer, answer = ?other, "could not read a dirty set")
                        }
                    }
                }
                all.into_iter().collect()
            }
        };
        if mode == Mode::Full {
            if let Some(after) = &ckpt.after {
                names.retain(|n| n > after);
            }
        }
        if names.is_empty() {
            if mode == Mode::Full {
                // Everything the peers had is here; now clear the marks left for us.
                mode = Mode::Dirty;
                continue;
            }
            break;
        }
        svc.set_rebuild_remaining(names.len() as u64);
        let mut failed = 0usize;
        for (i, name) in names.iter().enumerate() {
            // One object that cannot be rebuilt now must not hold up the rest:
            // its mark stays, and the next pass (or job) tries it again.
            if let Err(e) = rebuild_object(&svc, source, name).await {
                warn!(member = me, object = %name, error = %e, "object not rebuilt; will retry");
                if mode == Mode::Full {
                    // The checkpoint only moves forward: stop here, resume here.
                    return Err(e);
                }
                failed += 1;
                continue;
            }
            processed += 1;
            svc.set_rebuild_remaining((names.len() - i - 1) as u64);
            if mode == Mode::Full {
                ckpt.after = Some(name.clone());
                let bytes = rmp_serde::to_vec(&ckpt).map_err(|e| e.to_string())?;
                store
                    .run(move |s| Ok(s.catalog().put_checkpoint(CHECKPOINT, &bytes)?))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        if failed > 0 {
            return Err(format!("{failed} objects could not be rebuilt yet"));
        }
    }
    // Current: take the volume's incarnation, clean.
    let target = svc
        .current_peers()
        .iter()
        .filter_map(|&m| svc.peer_status(m))
        .map(|s| (s.incarnation, s.volume_id))
        .max()
        .ok_or("no current member to take the incarnation from")?;
    let n = svc.layout().members() as u8;
    store
        .run(move |s| {
            let hb = match s.homeblock() {
                Some(mut hb) => {
                    hb.incarnation = hb.incarnation.max(target.0);
                    hb.set_dirty(false);
                    hb
                }
                None => HomeBlock::new(
                    target.1,
                    n,
                    me as u8,
                    target.0,
                    crate::service::now_ns(),
                    "stripecast",
                ),
            };
            s.set_homeblock(hb)?;
            s.catalog().remove_checkpoint(CHECKPOINT)?;
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    svc.set_rebuild_remaining(0);
    svc.set_phase(Phase::Up);
    Ok(processed)
}

/// Brings one object on this member up to its current record (or removes it).
async fn rebuild_object(svc: &ObjectService, source: u32, name: &str) -> Result<(), String> {
    let me = svc.me();
    let store = svc.store().clone();
    let record = match call(
        svc,
        source,
        Request::GetRecord {
            name: name.to_string(),
        },
    )
    .await?
    {
        Response::Record(r) => r.as_ref().map(record_from_wire),
        other => return Err(format!("unexpected answer {other:?}")),
    };
    // Counted only when this pass rewrote or removed something: a retried
    // pass (a dirty mark whose clearing failed on a peer) finds the work done.
    let mut did_work = false;
    let incarnation = match record {
        None => {
            let n = name.to_string();
            // A pass that finds the object already gone changed nothing.
            did_work = store
                .run(move |s| s.delete(&n, u32::MAX, &[]))
                .await
                .map_err(|e| e.to_string())?;
            None
        }
        Some(r) => {
            let (n, inc) = (name.to_string(), r.incarnation);
            let have = store
                .run(move |s| Ok(s.has_valid_fragment(&n, inc)))
                .await
                .map_err(|e| e.to_string())?;
            if !have {
                rebuild_fragment(svc, &r).await?;
                did_work = true;
            }
            let rec = r.clone();
            store
                .run(move |s| s.commit(rec, &[]))
                .await
                .map_err(|e| e.to_string())?;
            Some(r.incarnation)
        }
    };
    for peer in svc.live_and_down().0 {
        if peer == me {
            continue;
        }
        let req = Request::ClearDirty {
            member: me,
            name: name.to_string(),
            incarnation,
        };
        if let Err(e) = call(svc, peer, req).await {
            warn!(member = me, object = %name, peer, error = %e, "could not clear the dirty mark");
        }
    }
    if did_work {
        svc.metrics().objects_rebuilt.fetch_add(1, Relaxed);
    }
    info!(member = me, object = %name, incarnation = ?incarnation, did_work, "object rebuilt");
    Ok(())
}

/// Writes this member's fragment of `r`, each block decoded from its row.
async fn rebuild_fragment(svc: &ObjectService, r: &ObjectRecord) -> Result<(), String> {
    let me = svc.me();
    let layout = r.layout().map_err(|e| e.to_string())?;
    let codec = Codec::for_layout(&layout).map_err(|e| e.to_string())?;
    let rows = layout.geometry(r.length, r.stripe_size).rows();
    let spec = FragmentSpec {
        name: r.name.clone(),
        incarnation: r.incarnation,
        creation_time_ns: r.creation_time_ns,
        stripe_size: r.stripe_size,
        layout,
        fragment_index: me as usize,
    };
    let mut writer = Some(
        svc.store()
            .run(move |s| Ok(FragmentWriter::create(s.fragment_dir(), spec)?))
            .await
            .map_err(|e| e.to_string())?,
    );
    let codec = &codec;
    let mut blocks = futures::stream::iter(0..rows)
        .map(|row| async move {
            svc.rebuild_own_block(&r.name, r.incarnation, layout, codec, row)
                .await
                .ok_or_else(|| format!("{} row {row}: too few blocks readable to rebuild", r.name))
        })
        .buffered(ROW_WINDOW);
    let mut batch = Vec::new();
    loop {
        let next = blocks.next().await;
        let done = next.is_none();
        if let Some(b) = next {
            batch.push(b?);
        }
        if batch.len() >= 32 || (done && !batch.is_empty()) {
            let mut w = writer.take().ok_or("writer lost")?;
            let chunk = std::mem::take(&mut batch);
            let (w, res) = actix_rt::task::spawn_blocking(move || {
                let res = chunk.iter().try_for_each(|b| w.append_block(b));
                (w, res)
            })
            .await
            .map_err(|e| e.to_string())?;
            res.map_err(|e| e.to_string())?;
            writer = Some(w);
        }
        if done {
            break;
        }
    }
    let w = writer.take().ok_or("writer lost")?;
    let len = r.length;
    actix_rt::task::spawn_blocking(move || w.finish(len))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(())
}
