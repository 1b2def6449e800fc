//! The workload's clients: one thread each, running its seeded operation
//! sequence against real members over HTTP and recording every operation.
//!
//! Outcomes: a 2xx (and a 404 for GET and DELETE) is acknowledged; a
//! request that could not connect is a failure without effect; anything
//! else (a 4xx or 5xx, a timeout, a connection cut mid-request) is unknown,
//! a write that may or may not have happened: a coordinator may have
//! committed on some members before a peer refused, so only "never sent"
//! is certain. A GET body is
//! identified against the payloads; one that is no write is recorded as
//! `unmatched` with what it looked like, never dropped.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stripecast_chaos::history::{Entry, Op, OpKind, Outcome, FINAL_CLIENT};
use stripecast_chaos::payload::{self, Mismatch, WriteId};
use stripecast_chaos::ClientOp;

use crate::cmd::client::encode_name;

/// The largest body a GET reads, in bytes (the largest payload is 3 MiB).
const MAX_BODY_BYTES: u64 = 16 << 20;
/// How long one request may take before it is given up (an unknown outcome).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// A client's pause after a request that could not connect (a dead member),
/// so clients do not spin on refused connections.
const REFUSED_BACKOFF: Duration = Duration::from_millis(50);

/// What the clients share: the run's clock, the history and the stop flag.
#[derive(Clone)]
pub struct Shared {
    pub t0: Instant,
    pub history: Arc<Mutex<Vec<Entry>>>,
    pub stop: Arc<AtomicBool>,
    /// Member i's HTTP base URL.
    pub members: Arc<Vec<String>>,
}

impl Shared {
    pub fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    pub fn record(&self, e: Entry) {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e);
    }

    pub fn snapshot(&self) -> Vec<Entry> {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// One fresh connection per request: ureq resends an idempotent request
/// with no body (GET, DELETE) once when a pooled connection turns out
/// closed, so a DELETE a member applied just before it was killed came back
/// as "connection refused" (no effect) from the resend, and the checker
/// called the read that saw it applied stale. Without pooling nothing is
/// resent, and a refused connection really means the request never left.
fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(2))
        .timeout(REQUEST_TIMEOUT)
        .max_idle_connections(0)
        .build()
}

/// Runs client `client`'s operations until `shared.stop`.
pub fn run_client(shared: Shared, client: u32, ops: impl Iterator<Item = ClientOp>) {
    let agent = agent();
    for op in ops {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let recorded = execute(&agent, &shared, client, &op, false);
        let refused = recorded.outcome == Outcome::Fail;
        shared.record(Entry::Op(recorded));
        if refused {
            std::thread::sleep(REFUSED_BACKOFF);
        }
    }
}

/// Reads `key` from member `member` as a final read.
pub fn final_read(shared: &Shared, seq: u64, key: &str, member: u32) -> Op {
    let op = ClientOp {
        seq,
        kind: OpKind::Get,
        key: key.to_string(),
        len: 0,
        member,
    };
    execute(&agent(), shared, FINAL_CLIENT, &op, true)
}

fn classify_error(e: &ureq::Error, kind: OpKind) -> (Option<u16>, Outcome, String) {
    match e {
        ureq::Error::Status(code, _) => {
            let outcome = match (*code, kind) {
                (404, OpKind::Get | OpKind::Delete) => Outcome::Ok,
                _ => Outcome::Info,
            };
            (Some(*code), outcome, format!("HTTP {code}"))
        }
        ureq::Error::Transport(t) => {
            let outcome = if t.kind() == ureq::ErrorKind::ConnectionFailed {
                Outcome::Fail
            } else {
                Outcome::Info
            };
            (None, outcome, t.to_string())
        }
    }
}

fn execute(agent: &ureq::Agent, shared: &Shared, client: u32, op: &ClientOp, fin: bool) -> Op {
    let url = format!(
        "{}/v1/objects/{}",
        shared.members[op.member as usize],
        encode_name(&op.key)
    );
    let id = WriteId {
        client,
        seq: op.seq,
    };
    let mut rec = Op {
        client,
        seq: op.seq,
        kind: op.kind,
        key: op.key.clone(),
        member: op.member,
        start_us: 0,
        end_us: 0,
        status: None,
        outcome: Outcome::Info,
        value: None,
        unmatched: None,
        len: None,
        final_read: fin,
        error: None,
    };
    match op.kind {
        OpKind::Put => {
            let body = payload::encode(&op.key, id, op.len);
            rec.value = Some(id.to_string());
            rec.len = Some(body.len() as u64);
            rec.start_us = shared.now_us();
            let res = agent.put(&url).send_bytes(&body);
            finish_write(&mut rec, shared, res);
        }
        OpKind::Delete => {
            rec.start_us = shared.now_us();
            let res = agent.delete(&url).call();
            finish_write(&mut rec, shared, res);
        }
        OpKind::Get => {
            rec.start_us = shared.now_us();
            let res = agent.get(&url).call();
            let body = match res {
                Ok(r) => {
                    rec.status = Some(r.status());
                    let mut body = Vec::new();
                    match r.into_reader().take(MAX_BODY_BYTES).read_to_end(&mut body) {
                        Ok(_) => Some(body),
                        Err(e) => {
                            // A body cut short is a failed read, not wrong bytes.
                            rec.outcome = Outcome::Info;
                            rec.error = Some(format!("body: {e}"));
                            None
                        }
                    }
                }
                Err(e) => {
                    set_error(&mut rec, &e);
                    None
                }
            };
            rec.end_us = shared.now_us();
            if let Some(body) = body {
                rec.outcome = Outcome::Ok;
                rec.len = Some(body.len() as u64);
                match payload::identify(&op.key, &body) {
                    Ok(w) => rec.value = Some(w.to_string()),
                    Err(why) => rec.unmatched = Some(explain(shared, &op.key, &body, &why)),
                }
            }
        }
    }
    rec
}

/// Block size the explanation of a wrong body is told in (the cluster's stripe size).
const EXPLAIN_BLOCK_BYTES: usize = 65536;
/// The most recent writes of the key a wrong body's blocks are compared with.
const EXPLAIN_CANDIDATES: usize = 64;

/// What a body that is no write of `key` is made of, as far as the writes
/// recorded so far tell: block by block, whose bytes stand there (runs of
/// blocks from one write, zeros, or none known), and whose prefix a short
/// body is. Runs only for a wrong body.
fn explain(shared: &Shared, key: &str, body: &[u8], why: &Mismatch) -> String {
    let mut writes: Vec<(WriteId, usize)> = shared
        .snapshot()
        .iter()
        .rev()
        .filter_map(|e| match e {
            Entry::Op(o) if o.kind == OpKind::Put && o.key == key => {
                Some((o.value.as_deref()?.parse().ok()?, o.len? as usize))
            }
            _ => None,
        })
        .take(EXPLAIN_CANDIDATES)
        .collect();
    let claimed = match *why {
        Mismatch::Differs { id, len, .. } => Some((id, len)),
        Mismatch::Length { id, claimed, .. } => Some((id, claimed as usize)),
        _ => None,
    };
    if let Some(c) = claimed {
        // The write the header names is tried first.
        writes.retain(|w| *w != c);
        writes.insert(0, c);
    }
    if let Mismatch::Length { len, id, claimed } = *why {
        if payload::matches_at(key, id, claimed as usize, body, 0..len) {
            return format!("{why}: exactly its first {len} bytes");
        }
    }
    let whose = |range: std::ops::Range<usize>| {
        if body[range.clone()].iter().all(|&b| b == 0) {
            return "zeros".to_string();
        }
        writes
            .iter()
            .find(|(id, len)| payload::matches_at(key, *id, *len, body, range.clone()))
            .map_or("unknown".to_string(), |(id, _)| id.to_string())
    };
    let mut runs: Vec<(usize, usize, String)> = Vec::new();
    for block in 0..body.len().div_ceil(EXPLAIN_BLOCK_BYTES) {
        let range =
            block * EXPLAIN_BLOCK_BYTES..((block + 1) * EXPLAIN_BLOCK_BYTES).min(body.len());
        let owner = whose(range);
        match runs.last_mut() {
            Some((_, last, o)) if *o == owner => *last = block,
            _ => runs.push((block, block, owner)),
        }
    }
    let blocks = runs
        .iter()
        .map(|(a, b, o)| {
            if a == b {
                format!("#{a} {o}")
            } else {
                format!("#{a}-{b} {o}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let lengths = writes
        .iter()
        .find(|(w, l)| *l == body.len() && Some((*w, *l)) != claimed)
        .map(|(w, _)| format!("; {} bytes is the length of write {w}", body.len()))
        .unwrap_or_default();
    format!("{why}; its 64 KiB blocks: {blocks}{lengths}")
}

/// Records the end and the answer of a PUT or DELETE.
fn finish_write(rec: &mut Op, shared: &Shared, res: Result<ureq::Response, ureq::Error>) {
    rec.end_us = shared.now_us();
    match res {
        Ok(r) => {
            rec.status = Some(r.status());
            rec.outcome = Outcome::Ok;
        }
        Err(e) => set_error(rec, &e),
    }
}

fn set_error(rec: &mut Op, e: &ureq::Error) {
    let (status, outcome, msg) = classify_error(e, rec.kind);
    rec.status = status;
    rec.outcome = outcome;
    if status != Some(404) {
        rec.error = Some(msg);
    }
}
