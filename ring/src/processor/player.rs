//! What a processor plays: its orders from the switch, their fetched bytes,
//! and the one insert it streams at a time. Pure state, no I/O: the
//! processor actor feeds it events and sends the messages it returns.
//!
//! Invariants: at most one insert streams at a time, and only for the feed
//! the processor covers; the stream runs at most [`WINDOW_PACKETS`] packets ahead of
//! what the switch reports played, so a processor that dies takes little
//! with it and the next one resumes at the switch's count; a stream the
//! switch never acknowledges is abandoned after [`STALL`] and retried.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::protocol::{InsertOrder, RingMsg};
use stripecast_actors::service::ServiceError;
use stripecast_ts::packet::packets;
use stripecast_ts::program::ProgramWatcher;
use stripecast_ts::splice::{Insert, SpliceError};
use stripecast_ts::PACKET_SIZE;

/// Packets a stream may run ahead of the switch's played count.
pub const WINDOW_PACKETS: u64 = 700;
/// Packets per InsertData message.
pub const CHUNK_PACKETS: usize = 70;
/// A stream without progress for this long is abandoned.
pub const STALL: Duration = Duration::from_secs(5);
/// Fetch attempts before an insert is reported failed.
pub const FETCH_TRIES: u32 = 20;
/// How long before its time an insert's object is fetched.
pub const PREFETCH_MS: u64 = 30_000;

/// Why a fetched object cannot be played (it will not get better by
/// fetching it again).
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("object {name:?} is {len} bytes, not whole 188-byte TS packets")]
    NotWholePackets { name: String, len: usize },
    #[error("object {name:?}: {source}")]
    NotAnInsert {
        name: String,
        #[source]
        source: SpliceError,
    },
}

/// A fetched insert, checked and ready to stream.
#[derive(Debug, Clone)]
pub struct Media {
    pub ts: Arc<Vec<u8>>,
    /// The insert's PAT and PMT packets.
    pub psi: Vec<u8>,
}

impl Media {
    /// Checks `ts` is a whole TS with a program and extracts its PSI packets.
    pub fn new(name: &str, ts: Vec<u8>) -> Result<Media, MediaError> {
        if ts.is_empty() || ts.len() % PACKET_SIZE != 0 {
            return Err(MediaError::NotWholePackets {
                name: name.to_string(),
                len: ts.len(),
            });
        }
        Insert::new(name, &ts).map_err(|source| MediaError::NotAnInsert {
            name: name.to_string(),
            source,
        })?;
        let mut w = ProgramWatcher::new();
        let mut psi = Vec::new();
        for p in packets(&ts).flatten() {
            let pid = p.pid();
            w.push(&p);
            if pid == 0 || Some(pid) == w.pmt_pid() {
                psi.extend_from_slice(p.as_bytes());
            }
            if w.pmt().is_some() {
                break;
            }
        }
        Ok(Media {
            ts: Arc::new(ts),
            psi,
        })
    }

    fn packets(&self) -> usize {
        self.ts.len() / PACKET_SIZE
    }
}

#[derive(Debug)]
struct Order {
    order: InsertOrder,
    media: Option<Media>,
    fetching: bool,
    failures: u32,
    not_before: Option<Instant>,
}

#[derive(Debug)]
struct Stream {
    id: u64,
    feed: usize,
    media: Media,
    sent: usize,
    played: u64,
    ended: bool,
    last_news: Instant,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct Player {
    feed: Option<usize>,
    orders: BTreeMap<u64, Order>,
    stream: Option<Stream>,
}

impl Player {
    /// The insert being streamed.
    pub fn streaming(&self) -> Option<u64> {
        self.stream.as_ref().map(|s| s.id)
    }

    /// The switch's new assignment.
    pub fn assign(&mut self, feed: Option<usize>, orders: Vec<InsertOrder>) {
        if feed != self.feed {
            self.stream = None;
            self.feed = feed;
        }
        let mut old = std::mem::take(&mut self.orders);
        for o in orders.into_iter().filter(|o| Some(o.feed) == feed) {
            let kept = old.remove(&o.id);
            let (media, fetching, failures) = kept
                .map(|k| (k.media, k.fetching, k.failures))
                .unwrap_or((None, false, 0));
            self.orders.insert(
                o.id,
                Order {
                    order: o,
                    media,
                    fetching,
                    failures,
                    not_before: None,
                },
            );
        }
    }

    /// Forgets everything (the connection to the switch is gone).
    pub fn reset(&mut self) {
        *self = Player::default();
    }

    /// Orders whose object should be fetched now: `(id, object)`; marks them fetching.
    pub fn to_fetch(&mut self, now_ms: u64) -> Vec<(u64, String)> {
        let now = Instant::now();
        self.orders
            .values_mut()
            .filter(|o| {
                o.media.is_none()
                    && !o.fetching
                    && o.order.at_ms <= now_ms + PREFETCH_MS
                    && o.not_before.is_none_or(|t| t <= now)
            })
            .map(|o| {
                o.fetching = true;
                (o.order.id, o.order.object.clone())
            })
            .collect()
    }

    /// A fetch ended; returns the message to send if the insert cannot be played.
    pub fn fetched(&mut self, id: u64, result: Result<Vec<u8>, ServiceError>) -> Option<RingMsg> {
        let o = self.orders.get_mut(&id)?;
        o.fetching = false;
        // a malformed TS will not get better; a read error may
        let (error, fatal) = match result {
            Err(e) => (e.to_string(), false),
            Ok(ts) => match Media::new(&o.order.object, ts) {
                Ok(m) => {
                    o.media = Some(m);
                    return None;
                }
                Err(e) => (e.to_string(), true),
            },
        };
        o.failures += 1;
        o.not_before = Some(Instant::now() + Duration::from_millis(500));
        if fatal || o.failures >= FETCH_TRIES {
            self.orders.remove(&id);
            return Some(RingMsg::InsertFailed { id, error });
        }
        None
    }

    /// The switch's progress report.
    pub fn progress(&mut self, id: u64, played: u64, done: bool) {
        if let Some(s) = self.stream.as_mut().filter(|s| s.id == id) {
            s.played = s.played.max(played);
            s.last_news = Instant::now();
        }
        if done {
            if self.streaming() == Some(id) {
                self.stream = None;
            }
            self.orders.remove(&id);
        }
    }

    /// What to send now: a stream's next packets, or the start of the next insert due.
    pub fn drive(&mut self, now_ms: u64) -> Vec<RingMsg> {
        let mut out = Vec::new();
        if self
            .stream
            .as_ref()
            .is_some_and(|s| s.last_news.elapsed() > STALL)
        {
            if let Some(s) = self.stream.take() {
                tracing::warn!(
                    insert = s.id,
                    "no progress from the switch; stream abandoned"
                );
                if let Some(o) = self.orders.get_mut(&s.id) {
                    o.not_before = Some(Instant::now() + Duration::from_secs(1));
                }
            }
        }
        if self.stream.is_none() {
            let now = Instant::now();
            let next = self
                .orders
                .values()
                .filter(|o| {
                    o.media.is_some()
                        && o.order.at_ms <= now_ms
                        && o.not_before.is_none_or(|t| t <= now)
                })
                .min_by_key(|o| (o.order.at_ms, o.order.id));
            if let Some(o) = next {
                let Some(media) = o.media.clone() else {
                    return out;
                };
                let from = (o.order.resume_from as usize).min(media.packets());
                out.push(RingMsg::InsertStart {
                    id: o.order.id,
                    feed: o.order.feed,
                    from: from as u64,
                    psi: media.psi.clone(),
                });
                self.stream = Some(Stream {
                    id: o.order.id,
                    feed: o.order.feed,
                    media,
                    sent: from,
                    played: from as u64,
                    ended: false,
                    last_news: Instant::now(),
                });
            }
        }
        if let Some(s) = self.stream.as_mut() {
            debug_assert_eq!(Some(s.feed), self.feed);
            let total = s.media.packets();
            while s.sent < total && (s.sent as u64) < s.played + WINDOW_PACKETS {
                let to = (s.sent + CHUNK_PACKETS).min(total);
                out.push(RingMsg::InsertData {
                    id: s.id,
                    ts: s.media.ts[s.sent * PACKET_SIZE..to * PACKET_SIZE].to_vec(),
                });
                s.sent = to;
            }
            if s.sent == total && !s.ended {
                s.ended = true;
                out.push(RingMsg::InsertEnd { id: s.id });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stripecast_actors::service::Unavailable;
    use stripecast_config::MemberId;
    use stripecast_ts::gen::{generate, GenParams};

    fn media_ts(ms: u64) -> Vec<u8> {
        generate(Duration::from_millis(ms), &GenParams::new("AD")).unwrap()
    }

    fn order(id: u64, at_ms: u64, resume_from: u64) -> InsertOrder {
        InsertOrder {
            id,
            feed: 1,
            at_ms,
            object: "ad".into(),
            resume_from,
        }
    }

    #[test]
    fn streams_one_insert_within_the_window_and_resumes_at_the_count() {
        let ts = media_ts(3000);
        let total = ts.len() / PACKET_SIZE;
        let mut p = Player::default();
        p.assign(Some(1), vec![order(7, 1000, 0), order(8, 5000, 0)]);
        assert_eq!(p.to_fetch(0).len(), 2);
        assert!(p.to_fetch(0).is_empty(), "already fetching");
        assert!(p.fetched(7, Ok(ts.clone())).is_none());
        assert!(p.fetched(8, Ok(ts.clone())).is_none());
        assert!(p.drive(999).is_empty(), "not yet due");
        let msgs = p.drive(1000);
        assert!(matches!(
            msgs[0],
            RingMsg::InsertStart { id: 7, from: 0, .. }
        ));
        let sent: usize = msgs
            .iter()
            .filter_map(|m| match m {
                RingMsg::InsertData { ts, .. } => Some(ts.len() / PACKET_SIZE),
                _ => None,
            })
            .sum();
        assert_eq!(sent as u64, WINDOW_PACKETS);
        assert!(p.drive(6000).is_empty(), "window full, order 8 waits");
        p.progress(7, 140, false);
        assert_eq!(p.drive(6000).len(), 2);
        p.progress(7, total as u64, true);
        let msgs = p.drive(6000);
        assert!(matches!(msgs[0], RingMsg::InsertStart { id: 8, .. }));
        // a new coverer resumes at the switch's count
        let mut q = Player::default();
        q.assign(Some(1), vec![order(8, 5000, 300)]);
        q.to_fetch(0);
        q.fetched(8, Ok(ts));
        let msgs = q.drive(6000);
        assert!(matches!(
            msgs[0],
            RingMsg::InsertStart {
                id: 8,
                from: 300,
                ..
            }
        ));
        match &msgs[1] {
            RingMsg::InsertData { ts, .. } => {
                assert_eq!(ts.len(), CHUNK_PACKETS * PACKET_SIZE);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_feed_change_drops_the_stream_and_a_bad_object_fails() {
        let mut p = Player::default();
        p.assign(Some(1), vec![order(1, 0, 0)]);
        p.to_fetch(0);
        p.fetched(1, Ok(media_ts(500)));
        assert!(!p.drive(10).is_empty());
        assert_eq!(p.streaming(), Some(1));
        p.assign(Some(0), vec![]);
        assert_eq!(p.streaming(), None);
        p.assign(Some(1), vec![order(2, 0, 0)]);
        p.to_fetch(0);
        let msg = p.fetched(2, Ok(vec![0x47; 100]));
        assert!(matches!(msg, Some(RingMsg::InsertFailed { id: 2, .. })));
        // a read error is retried, not failed at once
        p.assign(Some(1), vec![order(3, 0, 0)]);
        p.to_fetch(0);
        assert!(p
            .fetched(
                3,
                Err(Unavailable::NoMetadata {
                    member: MemberId::new(0),
                }
                .into())
            )
            .is_none());
        assert!(p.to_fetch(0).is_empty(), "retry waits a moment");
    }
}
