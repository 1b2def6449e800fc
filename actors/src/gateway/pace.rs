//! A request body's minimum pace: at least one block (`block_bytes`) or its
//! end within every `timeout` (the `body_progress_timeout_ms` setting).
//!
//! A PUT holds an upload open on every member while its body arrives; a
//! client that trickles (a byte every few seconds) would hold those open
//! for as long as it likes, and a thousand such clients a thousand on every
//! member. [`Paced`] ends such a body with an error, which the PUT treats
//! as any broken body: it aborts its upload on every member.
//!
//! Invariants: the window restarts each time a whole block has arrived in
//! it, so a body at or above a block per `timeout` is never cut, however
//! long; [`Progress`] is the decision, pure and table-tested; the stream
//! adds only the clock.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::time::{Instant, Sleep};

/// The pace of one body: bytes in the current window and when it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    block_bytes: u64,
    window_start_ms: u64,
    window_bytes: u64,
}

impl Progress {
    pub fn new(block_bytes: u64, now_ms: u64) -> Progress {
        Progress {
            block_bytes: block_bytes.max(1),
            window_start_ms: now_ms,
            window_bytes: 0,
        }
    }

    /// `n` bytes arrived at `now_ms`.
    pub fn bytes(&mut self, n: u64, now_ms: u64) {
        self.window_bytes += n;
        if self.window_bytes >= self.block_bytes {
            self.window_start_ms = now_ms;
            self.window_bytes = 0;
        }
    }

    /// When the current window runs out.
    pub fn deadline_ms(&self, timeout_ms: u64) -> u64 {
        self.window_start_ms.saturating_add(timeout_ms)
    }

    /// Whether the body is too slow at `now_ms`.
    pub fn too_slow(&self, now_ms: u64, timeout_ms: u64) -> bool {
        now_ms >= self.deadline_ms(timeout_ms)
    }
}

/// The error a too-slow body ends with.
#[derive(Debug, Clone, thiserror::Error)]
#[error("request body too slow: less than {block_bytes} bytes in {timeout_ms} ms")]
pub struct TooSlow {
    pub block_bytes: u64,
    pub timeout_ms: u64,
}

/// A body stream held to a [`Progress`] pace; `cut` is set when it ended
/// the body for being too slow.
pub struct Paced<S> {
    inner: S,
    progress: Progress,
    start: Instant,
    timeout_ms: u64,
    timer: Pin<Box<Sleep>>,
    cut: Arc<AtomicBool>,
}

impl<S> Paced<S> {
    pub fn new(inner: S, block_bytes: u64, timeout: Duration, cut: Arc<AtomicBool>) -> Paced<S> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let start = Instant::now();
        Paced {
            inner,
            progress: Progress::new(block_bytes, 0),
            start,
            timeout_ms,
            timer: Box::pin(tokio::time::sleep(timeout)),
            cut,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl<S, E> Stream for Paced<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<Bytes, String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let now = this.now_ms();
                this.progress.bytes(chunk.len() as u64, now);
                let at =
                    this.start + Duration::from_millis(this.progress.deadline_ms(this.timeout_ms));
                this.timer.as_mut().reset(at);
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.to_string()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        while this.timer.as_mut().poll(cx).is_ready() {
            if !this.progress.too_slow(this.now_ms(), this.timeout_ms) {
                // Woken a hair early by the clock's rounding: wait again.
                let at = this.start
                    + Duration::from_millis(this.progress.deadline_ms(this.timeout_ms) + 1);
                this.timer.as_mut().reset(at);
                continue;
            }
            this.cut.store(true, Ordering::Relaxed);
            let e = TooSlow {
                block_bytes: this.progress.block_bytes,
                timeout_ms: this.timeout_ms,
            };
            return Poll::Ready(Some(Err(e.to_string())));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (arrivals as (at_ms, bytes), checked at, too slow?) with a block of
    /// 100 bytes and a timeout of 1000 ms.
    type Case = (&'static [(u64, u64)], u64, bool);

    #[test]
    fn a_block_per_timeout_keeps_a_body_going() {
        let table: [Case; 7] = [
            (&[], 999, false),
            (&[], 1000, true),
            (&[(500, 100)], 1499, false), // a block restarts the window
            (&[(500, 100)], 1500, true),
            (&[(100, 60), (900, 39)], 1000, true), // 99 bytes: short of a block
            (&[(100, 60), (900, 40)], 1899, false),
            // a trickle: a byte every 300 ms never makes a block in time
            (&[(300, 1), (600, 1), (900, 1)], 1000, true),
        ];
        for (arrivals, at, want) in table {
            let mut p = Progress::new(100, 0);
            for &(t, n) in arrivals {
                p.bytes(n, t);
            }
            assert_eq!(p.too_slow(at, 1000), want, "{arrivals:?} at {at}");
        }
    }

    #[actix_rt::test]
    async fn a_trickling_stream_is_cut_and_says_so() {
        use futures::StreamExt as _;
        let trickle = futures::stream::unfold(0u32, |i| async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Some((Ok::<_, String>(Bytes::from_static(b"x")), i + 1))
        });
        let cut = Arc::new(AtomicBool::new(false));
        let mut paced = Paced::new(
            Box::pin(trickle),
            1000,
            Duration::from_millis(200),
            cut.clone(),
        );
        let mut got = 0;
        let err = loop {
            match paced.next().await {
                Some(Ok(_)) => got += 1,
                Some(Err(e)) => break e,
                None => panic!("ended"),
            }
        };
        assert!(err.contains("too slow"), "{err}");
        assert!(cut.load(Ordering::Relaxed));
        assert!((3..=9).contains(&got), "{got} bytes before the cut");

        let steady =
            futures::stream::iter((0..20).map(|_| Ok::<_, String>(Bytes::from(vec![0u8; 500]))));
        let cut = Arc::new(AtomicBool::new(false));
        let all: Vec<_> = Paced::new(steady, 1000, Duration::from_millis(200), cut.clone())
            .collect()
            .await;
        assert_eq!(all.len(), 20);
        assert!(all.iter().all(Result::is_ok) && !cut.load(Ordering::Relaxed));
    }
}
