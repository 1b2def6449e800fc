//! Real-bitrate pacing: the wall-clock send time of every packet of a TS,
//! derived from its PCRs, and the stream cut into UDP datagrams (7 packets =
//! 1316 bytes each by default).
//!
//! Invariants:
//! - the PCR PID is the first PID seen carrying a PCR; between two of its
//!   PCRs, packet times are interpolated linearly by packet index (the
//!   MPEG-2 T-STD rule), before the first and after the last they are
//!   extrapolated at the nearest known rate;
//! - a PCR step flagged as a discontinuity, or larger than 1 s, or zero, does
//!   not move time by its value: time goes on at the previous rate instead;
//! - without two usable PCRs the stream is paced at `fallback_bitrate`;
//! - times start at 0 and never decrease.
//!
//! [`LoopStamper`] rewrites a stream's PCR, PTS/DTS and CCs for its n-th
//! repetition so a looped file stays one continuous valid TS.

use super::check::MAX_PCR_STEP;
use super::packet::{Packet, PacketError, PACKET_SIZE};
use super::pes;
use super::{PCR_HZ, PCR_WRAP};
use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;
use thiserror::Error;

/// The usual UDP payload: 7 packets.
pub const PACKETS_PER_DATAGRAM: usize = 7;

/// Why a stream cannot be paced.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PacerError {
    #[error("packet {index}: {source}")]
    Packet { index: usize, source: PacketError },
    #[error("empty stream")]
    Empty,
    #[error("fallback bitrate must be > 0")]
    Bitrate,
}

/// Send times of every packet of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Offset from the stream start, per packet.
    pub times: Vec<Duration>,
    /// The stream's length: the last packet's time plus one packet interval.
    pub duration: Duration,
}

/// One datagram: the byte range of the stream and its send time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub at: Duration,
    pub bytes: Range<usize>,
}

fn ticks_to_duration(t: f64) -> Duration {
    Duration::from_secs_f64((t / PCR_HZ as f64).max(0.0))
}

/// The schedule of `ts` (whole packets; a trailing partial packet is an error).
pub fn schedule(ts: &[u8], fallback_bitrate: u64) -> Result<Schedule, PacerError> {
    if fallback_bitrate == 0 {
        return Err(PacerError::Bitrate);
    }
    let mut pcr_pid = None;
    let mut anchors: Vec<(usize, u64, bool)> = Vec::new();
    let mut n = 0;
    for (index, chunk) in ts.chunks(PACKET_SIZE).enumerate() {
        let p = Packet::parse(chunk).map_err(|source| PacerError::Packet { index, source })?;
        n += 1;
        if let Some(pcr) = p.pcr() {
            let pid = *pcr_pid.get_or_insert(p.pid());
            if pid == p.pid() {
                anchors.push((index, pcr, p.discontinuity()));
            }
        }
    }
    if n == 0 {
        return Err(PacerError::Empty);
    }
    let fallback = 1504.0 * PCR_HZ as f64 / fallback_bitrate as f64; // ticks per packet
                                                                     // unwrap anchors into a monotonic timeline (ticks), with a rate per segment
    let mut timeline: Vec<(usize, f64)> = Vec::with_capacity(anchors.len());
    let mut rate = None::<f64>;
    for (k, &(idx, pcr, disc)) in anchors.iter().enumerate() {
        if k == 0 {
            timeline.push((idx, 0.0));
            continue;
        }
        let (pidx, pt) = timeline[k - 1];
        let dp = (idx - pidx) as f64;
        let step = (pcr + PCR_WRAP - anchors[k - 1].1) % PCR_WRAP;
        let t = if disc || step == 0 || step > MAX_PCR_STEP || dp == 0.0 {
            pt + dp * rate.unwrap_or(fallback)
        } else {
            rate = Some(step as f64 / dp);
            pt + step as f64
        };
        timeline.push((idx, t));
    }
    let first_rate = rate_between(&timeline, 0).or(rate).unwrap_or(fallback);
    let last_rate = rate.unwrap_or(fallback);
    let mut times = Vec::with_capacity(n);
    let mut seg = 0;
    for i in 0..n {
        while seg + 1 < timeline.len() && timeline[seg + 1].0 <= i {
            seg += 1;
        }
        let t = match timeline.get(seg) {
            None => i as f64 * fallback,
            Some(&(ai, at)) if i < ai => at - (ai - i) as f64 * first_rate,
            Some(&(ai, at)) => match timeline.get(seg + 1) {
                Some(&(bi, bt)) => at + (bt - at) * (i - ai) as f64 / (bi - ai) as f64,
                None => at + (i - ai) as f64 * last_rate,
            },
        };
        times.push(t);
    }
    let t0 = times.first().copied().unwrap_or(0.0);
    let mut out = Vec::with_capacity(n);
    let mut last = Duration::ZERO;
    for t in &times {
        let d = ticks_to_duration(t - t0).max(last);
        last = d;
        out.push(d);
    }
    let duration = last + ticks_to_duration(last_rate);
    Ok(Schedule {
        times: out,
        duration,
    })
}

fn rate_between(timeline: &[(usize, f64)], k: usize) -> Option<f64> {
    let (a, b) = (timeline.get(k)?, timeline.get(k + 1)?);
    (b.0 > a.0).then(|| (b.1 - a.1) / (b.0 - a.0) as f64)
}

/// `ts` cut into datagrams of `per` packets (the last may be shorter), each
/// timed by its first packet.
pub fn datagrams(
    ts: &[u8],
    per: usize,
    fallback_bitrate: u64,
) -> Result<(Vec<Datagram>, Duration), PacerError> {
    let s = schedule(ts, fallback_bitrate)?;
    let per = per.max(1);
    let out = s
        .times
        .chunks(per)
        .enumerate()
        .map(|(k, c)| {
            let start = k * per * PACKET_SIZE;
            Datagram {
                at: c.first().copied().unwrap_or_default(),
                bytes: start..(start + c.len() * PACKET_SIZE).min(ts.len()),
            }
        })
        .collect();
    Ok((out, s.duration))
}

/// Rewrites a stream for its n-th repetition: PCRs move by `n * duration`,
/// PTS/DTS by the same in 90 kHz, and each PID's CC by `n * (its payload
/// packets per repetition)` so CCs stay continuous across the loop point.
#[derive(Debug, Clone)]
pub struct LoopStamper {
    duration_ticks: u64,
    payload_counts: HashMap<u16, u64>,
}

impl LoopStamper {
    /// Prepares for `ts` whose length is `duration`.
    pub fn new(ts: &[u8], duration: Duration) -> Self {
        let mut payload_counts = HashMap::new();
        for p in ts.chunks(PACKET_SIZE).filter_map(|c| Packet::parse(c).ok()) {
            if p.has_payload() {
                *payload_counts.entry(p.pid()).or_insert(0) += 1;
            }
        }
        let duration_ticks = (duration.as_nanos() * u128::from(PCR_HZ) / 1_000_000_000) as u64;
        LoopStamper {
            duration_ticks,
            payload_counts,
        }
    }

    /// The bytes of repetition `n` (0 returns `ts` unchanged). Bad packets are copied as they are.
    pub fn stamp(&self, ts: &[u8], n: u64) -> Vec<u8> {
        if n == 0 {
            return ts.to_vec();
        }
        let pcr_shift =
            (u128::from(n) * u128::from(self.duration_ticks) % u128::from(PCR_WRAP)) as u64;
        let pts_shift = pcr_shift / 300;
        let mut out = Vec::with_capacity(ts.len());
        for c in ts.chunks(PACKET_SIZE) {
            let Ok(mut p) = Packet::parse(c) else {
                out.extend_from_slice(c);
                continue;
            };
            if p.has_payload() {
                let k = self.payload_counts.get(&p.pid()).copied().unwrap_or(0);
                p.set_cc(((u64::from(p.cc()) + n.wrapping_mul(k)) & 0x0F) as u8);
            }
            if let Some(pcr) = p.pcr() {
                let _ = p.set_pcr((pcr + pcr_shift) % PCR_WRAP);
            }
            if p.pusi() {
                let _ = pes::shift_timestamps(p.payload_mut(), pts_shift);
            }
            out.extend_from_slice(p.as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::gen::{generate, GenParams};

    #[test]
    fn ts_pacer_ten_seconds_at_2mbit() {
        let mut p = GenParams::new("FEED0");
        p.bitrate = 2_000_000;
        let ts = generate(Duration::from_secs(10), &p).unwrap();
        let s = schedule(&ts, 1_000_000).unwrap();
        let d = s.duration.as_secs_f64();
        assert!((d - 10.0).abs() < 0.01, "{d}");
        assert!(s.times.windows(2).all(|w| w[0] <= w[1]));
        let (dg, dur) = datagrams(&ts, PACKETS_PER_DATAGRAM, 1_000_000).unwrap();
        assert_eq!(dur, s.duration);
        assert!(dg
            .iter()
            .all(|g| g.bytes.len() == 1316 || g.bytes.end == ts.len()));
        assert_eq!(dg.last().map(|g| g.bytes.end), Some(ts.len()));
        let last = dg.last().unwrap().at.as_secs_f64();
        assert!((last - 10.0).abs() < 0.02, "{last}");
    }

    #[test]
    fn ts_pacer_without_pcr_uses_fallback() {
        let ts: Vec<u8> = (0..100).flat_map(|_| *Packet::null().as_bytes()).collect();
        let s = schedule(&ts, 1_504_000).unwrap();
        // 1000 packets per second
        assert!((s.duration.as_secs_f64() - 0.1).abs() < 1e-6);
        assert!(schedule(&[], 1).is_err());
        assert!(matches!(
            schedule(&[0x47; 100], 1),
            Err(PacerError::Packet { index: 0, .. })
        ));
    }

    #[test]
    fn ts_pacer_loop_stays_valid() {
        let p = GenParams::new("LOOP");
        let ts = generate(Duration::from_millis(700), &p).unwrap();
        let s = schedule(&ts, 1_000_000).unwrap();
        let st = LoopStamper::new(&ts, s.duration);
        let mut all = Vec::new();
        for n in 0..3 {
            all.extend(st.stamp(&ts, n));
        }
        let r = check(&all);
        assert!(r.is_valid(), "{:?}", r.errors());
        assert!(
            (r.duration_secs - 3.0 * s.duration.as_secs_f64()).abs() < 0.1,
            "{}",
            r.duration_secs
        );
        let s3 = schedule(&all, 1_000_000).unwrap();
        assert!((s3.duration.as_secs_f64() - 3.0 * s.duration.as_secs_f64()).abs() < 0.01);
    }
}
