//! [`SwitchConfig::to_toml_string`]: the switch config as a TOML file.
//!
//! Like the member renderer (`crate::render`): every key is written, defaults
//! included, with comments; written by hand so it cannot fail; strings are
//! escaped TOML basic strings, so `parse(to_toml_string(c)) == c` for every
//! valid `c` whose paths are UTF-8 (a property test checks it).

use std::fmt::{self, Write as _};

use crate::render::Quoted;
use crate::{SwitchConfig, SwitchTimeouts};

impl SwitchConfig {
    /// The configuration as TOML, every key spelled out.
    pub fn to_toml_string(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_toml(&mut out);
        out
    }

    fn write_toml(&self, out: &mut String) -> fmt::Result {
        writeln!(
            out,
            "# stripecast switch fabric configuration; every key is spelled out,"
        )?;
        writeln!(out, "# defaults included.")?;
        writeln!(out)?;
        let data_dir = self.data_dir.to_string_lossy();
        writeln!(out, "data_dir = {}", Quoted(&data_dir))?;
        writeln!(out, "# TCP address processors connect to.")?;
        writeln!(out, "control = {}", Quoted(&self.control.to_string()))?;
        writeln!(out, "http = {}", Quoted(&self.http.to_string()))?;
        writeln!(
            out,
            "# Which neighbour takes a failed processor's feed: up | down | either (default)."
        )?;
        writeln!(out, "direction = {}", Quoted(&self.direction.to_string()))?;
        writeln!(
            out,
            "# Finished inserts kept (schedule, journal, /v1/ring); the oldest go first."
        )?;
        writeln!(
            out,
            "keep_finished_inserts = {}  # default {}",
            self.keep_finished_inserts,
            crate::DEFAULT_KEEP_FINISHED_INSERTS
        )?;
        writeln!(out)?;

        writeln!(out, "[cluster]")?;
        writeln!(out, "name = {}", Quoted(&self.cluster_name))?;
        writeln!(out, "# At least 16 bytes; the same on every processor.")?;
        writeln!(out, "secret = {}", Quoted(&self.secret))?;
        writeln!(out)?;

        let d = SwitchTimeouts::default();
        let t = &self.timeouts;
        writeln!(out, "[timeouts]")?;
        writeln!(
            out,
            "# Milliseconds; heartbeat_timeout_ms > heartbeat_interval_ms."
        )?;
        writeln!(
            out,
            "heartbeat_interval_ms = {}  # default {}",
            t.heartbeat_interval_ms, d.heartbeat_interval_ms
        )?;
        writeln!(
            out,
            "heartbeat_timeout_ms = {}  # default {}",
            t.heartbeat_timeout_ms, d.heartbeat_timeout_ms
        )?;

        for (g, feed) in self.feeds.iter().enumerate() {
            writeln!(out)?;
            writeln!(out, "# feed {g}")?;
            writeln!(out, "[[feeds]]")?;
            writeln!(out, "input = {}", Quoted(&format!("udp://{}", feed.input)))?;
            let output = feed.output.to_string();
            writeln!(out, "output = {}", Quoted(&output))?;
            if let Some(cue) = &feed.cue_object {
                writeln!(out, "cue_object = {}", Quoted(cue))?;
            }
        }

        let last = self.systems.len().saturating_sub(1);
        for (p, system) in self.systems.iter().enumerate() {
            writeln!(out)?;
            if p == last {
                writeln!(out, "# ring position {p} (starts as the spare)")?;
            } else {
                writeln!(out, "# ring position {p}")?;
            }
            writeln!(out, "[[systems]]")?;
            writeln!(out, "member = {}", system.member)?;
        }
        Ok(())
    }
}
