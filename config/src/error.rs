//! [`ConfigError`]: what went wrong, in which file, at which line, in which field.
//!
//! Display is `FILE:LINE:COLUMN: FIELD: MESSAGE`, dropping the parts that are
//! unknown (an I/O error has no line; a syntax error may have no field), e.g.
//! `/etc/sc/member-0.toml:7:15: cluster.stripe_size: 1000 is not a power of two`.
//! Messages never contain the cluster secret.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::position::{position, Position};

/// The category of a [`ConfigError`], for callers and tests that branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read or written.
    Io,
    /// Not valid TOML (or not UTF-8), including duplicate keys.
    Syntax,
    /// A key the configuration does not know.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong type or out of the type's range.
    InvalidValue,
    /// A socket address that does not parse or has port 0.
    BadAddress,
    /// Fewer than 2 members.
    TooFewMembers,
    /// More than 255 members.
    TooManyMembers,
    /// Two members with the same id.
    DuplicateMemberId,
    /// A member id outside `0..N`.
    MemberIdOutOfRange,
    /// This member's `id` is not in the member list.
    SelfNotMember,
    /// The same socket address used twice (peer or HTTP, any member).
    DuplicateAddress,
    /// Stripe size not a power of two or out of range.
    StripeSize,
    /// Parity too large for the member count.
    Parity,
    /// Secret empty or too short.
    Secret,
    /// Cluster name empty.
    ClusterName,
    /// Data directory empty.
    DataDir,
    /// A timeout is zero, too large, or inconsistent with another one.
    Timeout,
    /// Fewer than 2 feeds in a switch file.
    TooFewFeeds,
    /// More than `limits::MAX_RING_FEEDS` feeds in a switch file.
    TooManyFeeds,
    /// The number of `[[systems]]` is not the number of feeds + 1.
    SystemCount,
    /// Two ring positions naming the same member.
    DuplicateSystemMember,
    /// An output that is neither `udp://IP:PORT` nor `file://PATH`.
    BadOutput,
    /// The same output file used by two feeds.
    DuplicateOutput,
    /// A `cue_object` name that is empty, too long or malformed.
    CueObject,
    /// A `[witness]` with a member's id, or beside an odd number of members.
    Witness,
    /// An `[http]` allowed host name that is empty or malformed.
    AllowedHost,
    /// A `[store]` bound out of its range.
    Store,
    /// A malformed `[auth]` credential, or a member serving a non-loopback
    /// address without one.
    Auth,
    /// A `tls_cert` without its `tls_key` (or the reverse), or an unknown
    /// `peer_tls` setting.
    Tls,
}

/// A configuration error naming the file, position and field.
#[derive(Debug, thiserror::Error)]
#[error("{}", Rendered(self))]
pub struct ConfigError {
    file: PathBuf,
    position: Option<Position>,
    field: Option<String>,
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<io::Error>,
}

impl ConfigError {
    /// An error located at byte `span` of `text` (the contents of `file`).
    pub(crate) fn at(
        file: &Path,
        text: &[u8],
        span: Option<Range<usize>>,
        field: Option<String>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            position: span.map(|s| position(text, s.start)),
            field,
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An I/O failure on `file`; `doing` says what was attempted.
    pub(crate) fn io(file: &Path, doing: &str, err: io::Error) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            position: None,
            field: None,
            kind: ErrorKind::Io,
            message: format!("{doing}: {err}"),
            source: Some(err),
        }
    }

    /// The file the error is about (the `origin` given to `parse`).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// 1-based line, when the error has a place in the text.
    pub fn line(&self) -> Option<usize> {
        self.position.map(|p| p.line)
    }

    /// 1-based column in characters, when the error has a place in the text.
    pub fn column(&self) -> Option<usize> {
        self.position.map(|p| p.column)
    }

    /// The field path, e.g. `cluster.stripe_size` or `members[2].id`.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The category of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message alone, without file, position or field.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Display adapter; thiserror's format string cannot express optional parts.
struct Rendered<'a>(&'a ConfigError);

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        write!(f, "{}", e.file.display())?;
        if let Some(p) = e.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        if let Some(field) = &e.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_file_line_column_field_message() {
        let text = b"id = 0\n\n\n\n\n[cluster]\nstripe_size = 1000\n";
        let e = ConfigError::at(
            Path::new("/etc/sc/member-0.toml"),
            text,
            Some(35..39),
            Some("cluster.stripe_size".into()),
            ErrorKind::StripeSize,
            "1000 is not a power of two",
        );
        assert_eq!(
            e.to_string(),
            "/etc/sc/member-0.toml:7:15: cluster.stripe_size: 1000 is not a power of two"
        );
        assert_eq!(e.line(), Some(7));
        assert_eq!(e.column(), Some(15));
    }

    #[test]
    fn display_drops_unknown_parts() {
        let e = ConfigError::at(
            Path::new("a.toml"),
            b"",
            None,
            None,
            ErrorKind::Syntax,
            "bad",
        );
        assert_eq!(e.to_string(), "a.toml: bad");
    }

    #[test]
    fn io_errors_keep_their_source() {
        let e = ConfigError::io(
            Path::new("a.toml"),
            "cannot read",
            io::Error::new(io::ErrorKind::NotFound, "gone"),
        );
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.to_string(), "a.toml: cannot read: gone");
        assert!(std::error::Error::source(&e).is_some());
    }
}
