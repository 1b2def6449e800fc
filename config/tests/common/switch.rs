//! Shared fixture for the switch-file tests: a valid 2-feed file with known
//! line numbers, and helpers to edit it line by line.

use std::path::Path;

use stripecast_config::{ConfigError, ErrorKind, SwitchConfig};

/// The origin every switch test parses with.
pub const ORIGIN: &str = "switch.toml";

/// A valid switch file. Line numbers:
///
/// ```text
///  1 data_dir               13 [[feeds]] (feeds[0])   23 [[systems]] (systems[0])
///  2 control                14   input                24   member = 0
///  3 http                   15   output               26 [[systems]] (systems[1])
///  4 direction              16   cue_object           27   member = 1
///  6 [cluster]              18 [[feeds]] (feeds[1])   29 [[systems]] (systems[2])
///  7   name                 19   input                30   member = 2
///  8   secret               20   output
/// 10 [timeouts]             21   (blank, free)
/// 11   heartbeat_interval_ms
/// 12   heartbeat_timeout_ms
/// ```
pub const BASE: &str = r#"data_dir = "/tmp/ring/switch"
control = "127.0.0.1:8600"
http = "127.0.0.1:8601"
direction = "either"

[cluster]
name = "demo"
secret = "0123456789abcdef"

[timeouts]
heartbeat_interval_ms = 100
heartbeat_timeout_ms = 500
[[feeds]]
input = "udp://127.0.0.1:9000"
output = "udp://127.0.0.1:9100"
cue_object = "ad-cue"

[[feeds]]
input = "udp://127.0.0.1:9001"
output = "file:///tmp/out1.ts"


[[systems]]
member = 0

[[systems]]
member = 1

[[systems]]
member = 2
"#;

/// `BASE` with line `n` (1-based) replaced by `text` for each `(n, text)`.
pub fn with(edits: &[(usize, &str)]) -> String {
    super::edit(BASE, edits)
}

pub fn parse(text: &str) -> Result<SwitchConfig, ConfigError> {
    SwitchConfig::parse(text, Path::new(ORIGIN))
}

/// Asserts that `text` fails with `kind` at `line` in `field`; returns the
/// error for further checks.
#[track_caller]
pub fn assert_error(text: &str, kind: ErrorKind, line: usize, field: &str) -> ConfigError {
    let e = match parse(text) {
        Ok(c) => panic!("expected an error, parsed {c:?} from:\n{text}"),
        Err(e) => e,
    };
    assert_eq!(e.kind(), kind, "kind of: {e}");
    assert_eq!(e.line(), Some(line), "line of: {e}");
    assert_eq!(e.field(), Some(field), "field of: {e}");
    assert!(e.column().is_some(), "column of: {e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{ORIGIN}:{line}:")),
        "display: {shown}"
    );
    assert!(shown.contains(&format!(": {field}: ")), "display: {shown}");
    e
}
