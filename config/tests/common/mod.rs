//! Shared fixtures for the integration tests: a valid 3-member file with
//! known line numbers, and helpers that edit it line by line.
//!
//! Edits replace a whole line (blanking it removes a key) so the line numbers
//! in the table below stay valid in every test.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::Path;

pub mod switch;

use stripecast_config::{ConfigError, ErrorKind, MemberConfig};

/// The origin every test parses with.
pub const ORIGIN: &str = "/etc/sc/member-0.toml";

/// A valid member file. Line numbers:
///
/// ```text
///  1 id                      18 [[members]]  (members[0])
///  2 data_dir                19   id = 0
///  4 [cluster]               20   peer
///  5   name                  21   http
///  6   secret                23 [[members]]  (members[1])
///  7   stripe_size           24   id = 1
///  8   parity                25   peer
/// 10 [timeouts]              26   http
/// 11   heartbeat_interval_ms 28 [[members]]  (members[2])
/// 12   heartbeat_timeout_ms  29   id = 2
/// 13   connect_timeout_ms    30   peer
/// 14   request_timeout_ms    31   http
/// 15   reconnect_backoff_initial_ms
/// 16   reconnect_backoff_max_ms
/// ```
///
/// Lines 3, 9, 17, 22 and 27 are blank and free for inserting one line.
pub const BASE: &str = r#"id = 0
data_dir = "/var/lib/stripecast/member-0"

[cluster]
name = "demo"
secret = "0123456789abcdef-secret"
stripe_size = 65536
parity = 1

[timeouts]
heartbeat_interval_ms = 100
heartbeat_timeout_ms = 500
connect_timeout_ms = 1000
request_timeout_ms = 10000
reconnect_backoff_initial_ms = 50
reconnect_backoff_max_ms = 2000

[[members]]
id = 0
peer = "127.0.0.1:7400"
http = "127.0.0.1:8400"

[[members]]
id = 1
peer = "127.0.0.1:7401"
http = "127.0.0.1:8401"

[[members]]
id = 2
peer = "127.0.0.1:7402"
http = "127.0.0.1:8402"
"#;

/// `BASE` with line `n` (1-based) replaced by `text` for each `(n, text)`.
pub fn with(edits: &[(usize, &str)]) -> String {
    edit(BASE, edits)
}

/// `doc` with line `n` (1-based) replaced by `text` for each `(n, text)`.
pub fn edit(doc: &str, edits: &[(usize, &str)]) -> String {
    let mut lines: Vec<String> = doc.lines().map(str::to_owned).collect();
    for &(n, text) in edits {
        assert!(n >= 1 && n <= lines.len(), "no line {n} in fixture");
        lines[n - 1] = text.to_owned();
    }
    lines.join("\n") + "\n"
}

/// The first `n` lines of `BASE`.
pub fn first_lines(n: usize) -> String {
    BASE.lines().take(n).collect::<Vec<_>>().join("\n") + "\n"
}

/// `BASE` cut down to members 0 and 1: the 2-member mirror.
pub fn mirror() -> String {
    first_lines(26)
}

pub fn parse(text: &str) -> Result<MemberConfig, ConfigError> {
    MemberConfig::parse(text, Path::new(ORIGIN))
}

/// Parses `text`, which must fail, and returns the error.
pub fn parse_err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(c) => panic!("expected an error, parsed {c:?} from:\n{text}"),
        Err(e) => e,
    }
}

/// Asserts that `text` fails with `kind` at `line` in `field`, naming the
/// origin file; returns the error for further checks.
#[track_caller]
pub fn assert_error(text: &str, kind: ErrorKind, line: usize, field: &str) -> ConfigError {
    let e = parse_err(text);
    assert_eq!(e.kind(), kind, "kind of: {e}");
    assert_eq!(e.file(), Path::new(ORIGIN), "file of: {e}");
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
