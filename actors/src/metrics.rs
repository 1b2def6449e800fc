//! Counters of one member, rendered as Prometheus text at `/metrics`.
//!
//! Plain atomics: incremented on hot paths without locks; a scrape reads them
//! without stopping anything.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use stripecast_config::MemberId;

#[derive(Debug)]
pub struct Metrics {
    member: MemberId,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Blocks read, indexed by the member that held them.
    blocks_read: Vec<AtomicU64>,
    pub reconstructions: AtomicU64,
    pub repairs: AtomicU64,
    pub corrupt_blocks: AtomicU64,
    pub objects_rebuilt: AtomicU64,
    /// Fragment bytes this member wrote while rebuilding.
    pub rebuild_bytes: AtomicU64,
    /// Time rebuild jobs ran, in microseconds (rendered in seconds).
    pub rebuild_us: AtomicU64,
    requests: Mutex<BTreeMap<(String, u16), u64>>,
}

impl Metrics {
    pub fn new(member: MemberId, members: usize) -> Metrics {
        Metrics {
            member,
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            blocks_read: (0..members).map(|_| AtomicU64::new(0)).collect(),
            reconstructions: AtomicU64::new(0),
            repairs: AtomicU64::new(0),
            corrupt_blocks: AtomicU64::new(0),
            objects_rebuilt: AtomicU64::new(0),
            rebuild_bytes: AtomicU64::new(0),
            rebuild_us: AtomicU64::new(0),
            requests: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn block_read(&self, from: MemberId) {
        if let Some(c) = self.blocks_read.get(from.position()) {
            c.fetch_add(1, Relaxed);
        }
    }

    pub fn request(&self, method: &str, status: u16) {
        let mut r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *r.entry((method.to_string(), status)).or_default() += 1;
    }

    /// Prometheus text exposition; `links` is (peer, up) for each other member.
    pub fn render(&self, links: &[(MemberId, bool)], extra: &[(&str, &str, u64)]) -> String {
        let mut out = String::new();
        let m = self.member;
        header(
            &mut out,
            "stripecast_bytes_in_total",
            "Object bytes received from clients.",
            "counter",
        );
        let _ = writeln!(
            out,
            "stripecast_bytes_in_total{{member=\"{m}\"}} {}",
            self.bytes_in.load(Relaxed)
        );
        header(
            &mut out,
            "stripecast_bytes_out_total",
            "Object bytes sent to clients.",
            "counter",
        );
        let _ = writeln!(
            out,
            "stripecast_bytes_out_total{{member=\"{m}\"}} {}",
            self.bytes_out.load(Relaxed)
        );
        header(
            &mut out,
            "stripecast_http_requests_total",
            "HTTP requests by method and status.",
            "counter",
        );
        for ((method, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(out, "stripecast_http_requests_total{{member=\"{m}\",method=\"{method}\",status=\"{status}\"}} {n}");
        }
        header(
            &mut out,
            "stripecast_blocks_read_total",
            "Data blocks read for clients, by the member holding them.",
            "counter",
        );
        for (i, c) in self.blocks_read.iter().enumerate() {
            let _ = writeln!(
                out,
                "stripecast_blocks_read_total{{member=\"{m}\",from=\"{i}\"}} {}",
                c.load(Relaxed)
            );
        }
        for (name, help, value) in [
            (
                "stripecast_reconstructions_total",
                "Blocks rebuilt from the rest of their row for a reader.",
                self.reconstructions.load(Relaxed),
            ),
            (
                "stripecast_block_repairs_total",
                "Corrupt blocks rewritten from parity.",
                self.repairs.load(Relaxed),
            ),
            (
                "stripecast_corrupt_blocks_total",
                "Blocks that failed their checksum.",
                self.corrupt_blocks.load(Relaxed),
            ),
            (
                "stripecast_objects_rebuilt_total",
                "Objects this member rebuilt after returning.",
                self.objects_rebuilt.load(Relaxed),
            ),
            (
                "stripecast_rebuild_bytes_total",
                "Fragment bytes this member wrote while rebuilding.",
                self.rebuild_bytes.load(Relaxed),
            ),
            (
                "stripecast_fragment_dir_scans_total",
                "Fragment directories listed (start-up, scrub; never a read or a write).",
                stripecast_persistence::fragment::tree::directory_scans(),
            ),
        ] {
            header(&mut out, name, help, "counter");
            let _ = writeln!(out, "{name}{{member=\"{m}\"}} {value}");
        }
        header(
            &mut out,
            "stripecast_rebuild_seconds_total",
            "Time this member's rebuild jobs ran.",
            "counter",
        );
        let _ = writeln!(
            out,
            "stripecast_rebuild_seconds_total{{member=\"{m}\"}} {:.6}",
            self.rebuild_us.load(Relaxed) as f64 / 1e6
        );
        header(
            &mut out,
            "stripecast_peer_up",
            "Whether the link to a peer is up (1) or down (0).",
            "gauge",
        );
        for (peer, up) in links {
            let _ = writeln!(
                out,
                "stripecast_peer_up{{member=\"{m}\",peer=\"{peer}\"}} {}",
                u8::from(*up)
            );
        }
        for (name, help, value) in extra {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            header(&mut out, name, help, kind);
            let _ = writeln!(out, "{name}{{member=\"{m}\"}} {value}");
        }
        out
    }
}

/// The `# HELP` and `# TYPE` lines of one metric family.
fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
