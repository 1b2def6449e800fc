//! What `stripecast chaos` prints: the progress line while it runs, the
//! human summary and the JSON report.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use stripecast_chaos::{check, Report};

use super::clients::Shared;

/// Violations listed one by one in the summary; the rest are counted.
const LISTED_VIOLATIONS: usize = 20;
/// How often the progress line is redrawn (and the history checked so far).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The progress line: elapsed, operations, faults, violations so far.
pub struct Progress {
    last: Option<Instant>,
    faults_total: usize,
    pub faults_done: usize,
    tty: bool,
}

impl Progress {
    pub fn new(faults_total: usize) -> Progress {
        Progress {
            last: None,
            faults_total,
            faults_done: 0,
            tty: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    fn line(&self, shared: &Shared) -> String {
        let entries = shared.snapshot();
        let ops = entries
            .iter()
            .filter(|e| matches!(e, stripecast_chaos::Entry::Op(_)))
            .count();
        let violations = check(&entries).violations.len();
        format!(
            "chaos: {:>5.1}s  ops {ops}  faults {}/{}  violations {violations}",
            shared.t0.elapsed().as_secs_f64(),
            self.faults_done,
            self.faults_total
        )
    }

    /// Redraws the line if it is due.
    pub fn tick(&mut self, shared: &Shared) {
        if self.last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        let line = self.line(shared);
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r{line}\x1b[K");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// The last line, ended.
    pub fn finish(&mut self, shared: &Shared) {
        let line = self.line(shared);
        if self.tty {
            eprintln!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
    }
}

fn pct(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// The human summary of a report.
pub fn summary(r: &Report) -> String {
    let f = &r.figures;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "operations: {} ({} succeeded)  put {} of {}  get {} of {}  delete {} of {}",
        f.all.ops,
        pct(f.all.share),
        pct(f.puts.share),
        f.puts.ops,
        pct(f.gets.share),
        f.gets.ops,
        pct(f.deletes.share),
        f.deletes.ops
    );
    if f.faults > 0 {
        let _ = writeln!(
            s,
            "succeeded while a fault was active ({} faults):",
            f.faults
        );
        for (kind, share) in &f.per_fault {
            let _ = writeln!(
                s,
                "  {kind:<12} {:>6} of {} ops",
                pct(share.share),
                share.ops
            );
        }
        let _ = writeln!(
            s,
            "  {:<12} {:>6} of {} ops",
            "no fault",
            pct(f.no_fault.share),
            f.no_fault.ops
        );
    }
    if let Some(ms) = f.converge_ms {
        let _ = writeln!(
            s,
            "time to converge after the heal: {:.1}s",
            ms as f64 / 1000.0
        );
    }
    let _ = writeln!(s, "final reads: {}", f.final_reads);
    let _ = writeln!(s, "violations: {}", r.violations.len());
    for (kind, n) in &r.counts {
        let _ = writeln!(s, "  {:<32} {n}", kind.label());
    }
    for v in r.violations.iter().take(LISTED_VIOLATIONS) {
        let _ = writeln!(
            s,
            "  [{}] {}{}at {:.3}s: {}",
            v.kind.label(),
            v.key
                .as_deref()
                .map(|k| format!("{k} "))
                .unwrap_or_default(),
            v.member.map(|m| format!("member {m} ")).unwrap_or_default(),
            v.at_us as f64 / 1e6,
            v.detail
        );
    }
    if r.violations.len() > LISTED_VIOLATIONS {
        let _ = writeln!(
            s,
            "  ... and {} more (see --json)",
            r.violations.len() - LISTED_VIOLATIONS
        );
    }
    let _ = writeln!(
        s,
        "{}",
        if r.ok() {
            "OK: no wrong byte, no lost acknowledged write"
        } else {
            "FAILED"
        }
    );
    s
}

pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
