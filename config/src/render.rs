//! [`MemberConfig::to_toml_string`]: the config as a TOML file an operator reads.
//!
//! Every key is written, defaults included, so the file shows everything in
//! force; comments give each key's meaning and default. Written by hand rather
//! than through `toml::to_string` so it cannot fail (serde would refuse `u64`s
//! above `i64::MAX`) and can carry comments. Strings are TOML basic strings with
//! all control characters escaped, so `parse(to_toml_string(c)) == c` holds for
//! every valid `c` (a property test checks it). Non-UTF-8 parts of `data_dir`
//! are written lossily; such paths cannot be expressed in TOML at all.
//!
//! [`Quoted`] is shared with the switch file's renderer.

use std::fmt::{self, Write as _};

use crate::limits::{
    DEFAULT_HEAL_OBJECTS_IN_FLIGHT, DEFAULT_PARITY, DEFAULT_READER_CACHE_FILES,
    DEFAULT_STRIPE_SIZE, MAX_HEAL_MB_PER_S, MAX_HEAL_OBJECTS_IN_FLIGHT, MAX_READER_CACHE_FILES,
};
use crate::timeouts::TimeoutKey;
use crate::{MemberConfig, Timeouts};

impl MemberConfig {
    /// The configuration as TOML, every key spelled out.
    pub fn to_toml_string(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; the Result only exists because
        // `fmt::Write` is shared with fallible sinks.
        let _ = self.write_toml(&mut out);
        out
    }

    fn write_toml(&self, out: &mut String) -> fmt::Result {
        writeln!(
            out,
            "# stripecast member configuration; every key is spelled out,"
        )?;
        writeln!(out, "# defaults included.")?;
        writeln!(out)?;
        writeln!(out, "# This member's id (one of the [[members]] ids).")?;
        writeln!(out, "id = {}", self.id)?;
        let data_dir = self.data_dir.to_string_lossy();
        writeln!(out, "data_dir = {}", Quoted(&data_dir))?;
        writeln!(out)?;

        let c = &self.cluster;
        writeln!(out, "[cluster]")?;
        writeln!(out, "name = {}", Quoted(&c.name))?;
        writeln!(out, "# At least 16 bytes; the same on every member.")?;
        writeln!(out, "secret = {}", Quoted(&c.secret))?;
        writeln!(
            out,
            "# Block size in bytes: a power of two, 4096..=16777216 (default {DEFAULT_STRIPE_SIZE})."
        )?;
        writeln!(out, "stripe_size = {}", c.stripe_size)?;
        writeln!(
            out,
            "# 0 = RAID-0, 1 = XOR parity (RAID-5) or the 2-member mirror,"
        )?;
        writeln!(
            out,
            "# m >= 2 = Reed-Solomon k+m; must be < member count (default {DEFAULT_PARITY})."
        )?;
        writeln!(out, "parity = {}", c.parity)?;
        writeln!(
            out,
            "# Peer traffic in TLS: \"auto\" (when a peer address is not loopback), \"on\", \"off\"."
        )?;
        writeln!(out, "peer_tls = {}", Quoted(c.peer_tls.name()))?;
        writeln!(out)?;

        let defaults = Timeouts::default();
        writeln!(out, "[timeouts]")?;
        writeln!(
            out,
            "# Milliseconds; heartbeat_timeout_ms > heartbeat_interval_ms."
        )?;
        for key in TimeoutKey::ALL {
            writeln!(
                out,
                "{} = {}  # default {}",
                key.name(),
                key.get(&self.timeouts),
                key.get(&defaults)
            )?;
        }

        writeln!(out)?;
        writeln!(out, "[store]")?;
        writeln!(
            out,
            "# Fragment files kept open for reads, 1..={MAX_READER_CACHE_FILES} (default {DEFAULT_READER_CACHE_FILES})."
        )?;
        writeln!(
            out,
            "reader_cache_files = {}",
            self.store.reader_cache_files
        )?;
        writeln!(
            out,
            "# Objects a returning member rebuilds at once, 1..={MAX_HEAL_OBJECTS_IN_FLIGHT} (default {DEFAULT_HEAL_OBJECTS_IN_FLIGHT})."
        )?;
        writeln!(
            out,
            "heal_objects_in_flight = {}",
            self.store.heal_objects_in_flight
        )?;
        writeln!(
            out,
            "# MB/s a returning member writes while it heals, 0..={MAX_HEAL_MB_PER_S} (0: unthrottled)."
        )?;
        writeln!(out, "heal_max_mb_per_s = {}", self.store.heal_max_mb_per_s)?;
        writeln!(
            out,
            "# Seconds an S3 multipart upload may stay open before it is removed (default {}).",
            crate::limits::DEFAULT_MULTIPART_EXPIRY_S
        )?;
        writeln!(
            out,
            "multipart_expiry_s = {}",
            self.store.multipart_expiry_s
        )?;

        writeln!(out)?;
        writeln!(out, "[http]")?;
        writeln!(
            out,
            "# Host names a request's Host header may name (empty: any); others get 403."
        )?;
        let hosts: Vec<String> = self
            .http
            .allowed_hosts
            .iter()
            .map(|h| Quoted(h).to_string())
            .collect();
        writeln!(out, "allowed_hosts = [{}]", hosts.join(", "))?;
        writeln!(
            out,
            "# Domains for virtual-host-style S3 (BUCKET.DOMAIN); empty: BUCKET.localhost only."
        )?;
        let domains: Vec<String> = self
            .http
            .s3_domains
            .iter()
            .map(|h| Quoted(h).to_string())
            .collect();
        writeln!(out, "s3_domains = [{}]", domains.join(", "))?;
        match &self.http.read_token {
            Some(token) => {
                writeln!(
                    out,
                    "# /metrics, /v1/cluster, /v1/ring need Authorization: Bearer TOKEN (or a key)."
                )?;
                writeln!(out, "read_token = {}", Quoted(&token.0))?;
            }
            None => writeln!(
                out,
                "# read_token = \"...\": put /metrics, /v1/cluster, /v1/ring behind a bearer token."
            )?,
        }
        match (&self.http.tls_cert, &self.http.tls_key) {
            (Some(cert), Some(key)) => {
                writeln!(out, "# HTTPS on the HTTP and S3 listeners (PEM files).")?;
                writeln!(out, "tls_cert = {}", Quoted(&cert.to_string_lossy()))?;
                writeln!(out, "tls_key = {}", Quoted(&key.to_string_lossy()))?;
            }
            _ => {
                writeln!(
                    out,
                    "# HTTPS on the HTTP and S3 listeners: tls_cert = \"cert.pem\", tls_key = \"key.pem\"."
                )?;
            }
        }

        if let Some(auth) = &self.auth {
            writeln!(out)?;
            writeln!(
                out,
                "# The root credential: an admin key. Requests need a key; keep this file private."
            )?;
            writeln!(out, "[auth]")?;
            writeln!(out, "access_key_id = {}", Quoted(&auth.access_key_id))?;
            writeln!(
                out,
                "secret_access_key = {}",
                Quoted(&auth.secret_access_key)
            )?;
        }

        if let Some(ring) = &self.ring {
            writeln!(out)?;
            writeln!(out, "# This member's link to the ring's switch fabric.")?;
            writeln!(out, "[ring]")?;
            writeln!(out, "switch = {}", Quoted(&ring.switch.to_string()))?;
            writeln!(
                out,
                "switch_http = {}",
                Quoted(&ring.switch_http.to_string())
            )?;
        }

        if let Some(w) = &self.witness {
            writeln!(out)?;
            writeln!(
                out,
                "# The metadata-only voter that keeps an even member count's majority."
            )?;
            writeln!(out, "[witness]")?;
            writeln!(out, "id = {}", w.id)?;
            writeln!(out, "peer = {}", Quoted(&w.peer.to_string()))?;
        }

        for m in &self.members {
            writeln!(out)?;
            writeln!(out, "[[members]]")?;
            writeln!(out, "id = {}", m.id)?;
            writeln!(out, "peer = {}", Quoted(&m.peer.to_string()))?;
            writeln!(out, "http = {}", Quoted(&m.http.to_string()))?;
            if let Some(s3) = m.s3 {
                writeln!(out, "s3 = {}", Quoted(&s3.to_string()))?;
            }
        }
        Ok(())
    }
}

/// A string as a TOML basic string.
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                // TOML forbids raw control characters in basic strings.
                c if c.is_control() => write!(f, "\\u{:04X}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &str) -> String {
        let doc = format!("v = {}", Quoted(s));
        let table: toml::Table = toml::from_str(&doc).unwrap();
        table["v"].as_str().unwrap().to_owned()
    }

    #[test]
    fn quoting_round_trips_awkward_strings() {
        for s in [
            "",
            "plain",
            "quote \" and backslash \\",
            "tab\tnewline\ncr\r",
            "nul\u{0}del\u{7f}c1\u{85}",
            "unicode é ✓ 🦀",
            "'''\"\"\"",
        ] {
            assert_eq!(round_trip(s), s);
        }
    }
}
