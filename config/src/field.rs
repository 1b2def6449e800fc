//! [`Field`]: the fields that validation rules can blame, and their paths.
//!
//! Validation works on the clean model, which has no spans; a rule names the
//! offending field with this enum and the parser turns it into a line via the
//! raw mirror (`RawConfig::span_of`). The Display form is the dotted path used
//! in error messages, e.g. `cluster.stripe_size` or `members[2].id`.
//!
//! [`Violation`] is generic over the field type so the switch file
//! (`crate::switch_field::SwitchField`) reuses the same blame machinery.

use std::fmt;

use crate::timeouts::TimeoutKey;

/// A field of a member configuration, addressed by its TOML path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Id,
    DataDir,
    ClusterName,
    ClusterSecret,
    StripeSize,
    Parity,
    Timeout(TimeoutKey),
    Members,
    /// `members[i].id`, `i` being the position in the file.
    MemberId(usize),
    MemberPeer(usize),
    MemberHttp(usize),
    /// `ring.switch`.
    RingSwitch,
    /// `ring.switch_http`.
    RingSwitchHttp,
    /// `store.reader_cache_files`.
    ReaderCacheFiles,
    /// `store.heal_objects_in_flight`.
    HealObjectsInFlight,
    /// `store.heal_max_mb_per_s`.
    HealMaxMbPerS,
    /// `witness.id`.
    WitnessId,
    /// `witness.peer`.
    WitnessPeer,
    /// `http.allowed_hosts[i]`.
    AllowedHost(usize),
    /// `members[i].s3`.
    MemberS3(usize),
    /// `http.s3_domains[i]`.
    S3Domain(usize),
    /// `auth.access_key_id`.
    AuthAccessKeyId,
    /// `auth.secret_access_key`.
    AuthSecret,
    /// `cluster.peer_tls`.
    PeerTls,
    /// `http.tls_cert`.
    TlsCert,
    /// `http.tls_key`.
    TlsKey,
    /// `http.read_token`.
    ReadToken,
    /// `store.multipart_expiry_s`.
    MultipartExpiryS,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Id => f.write_str("id"),
            Field::DataDir => f.write_str("data_dir"),
            Field::ClusterName => f.write_str("cluster.name"),
            Field::ClusterSecret => f.write_str("cluster.secret"),
            Field::StripeSize => f.write_str("cluster.stripe_size"),
            Field::Parity => f.write_str("cluster.parity"),
            Field::Timeout(key) => write!(f, "timeouts.{}", key.name()),
            Field::Members => f.write_str("members"),
            Field::MemberId(i) => write!(f, "members[{i}].id"),
            Field::MemberPeer(i) => write!(f, "members[{i}].peer"),
            Field::MemberHttp(i) => write!(f, "members[{i}].http"),
            Field::RingSwitch => f.write_str("ring.switch"),
            Field::RingSwitchHttp => f.write_str("ring.switch_http"),
            Field::ReaderCacheFiles => f.write_str("store.reader_cache_files"),
            Field::HealObjectsInFlight => f.write_str("store.heal_objects_in_flight"),
            Field::HealMaxMbPerS => f.write_str("store.heal_max_mb_per_s"),
            Field::WitnessId => f.write_str("witness.id"),
            Field::WitnessPeer => f.write_str("witness.peer"),
            Field::AllowedHost(i) => write!(f, "http.allowed_hosts[{i}]"),
            Field::MemberS3(i) => write!(f, "members[{i}].s3"),
            Field::S3Domain(i) => write!(f, "http.s3_domains[{i}]"),
            Field::AuthAccessKeyId => f.write_str("auth.access_key_id"),
            Field::AuthSecret => f.write_str("auth.secret_access_key"),
            Field::PeerTls => f.write_str("cluster.peer_tls"),
            Field::TlsCert => f.write_str("http.tls_cert"),
            Field::TlsKey => f.write_str("http.tls_key"),
            Field::ReadToken => f.write_str("http.read_token"),
            Field::MultipartExpiryS => f.write_str("store.multipart_expiry_s"),
        }
    }
}

/// A broken rule: the fields to blame, most specific first, and why.
///
/// Several candidates exist because a key may be absent and defaulted: when
/// `heartbeat_timeout_ms` is omitted but `heartbeat_interval_ms` is set too
/// high, the interval is the line to show. The first candidate present in the
/// file is reported; without a file, the first one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Violation<F = Field> {
    pub(crate) blame: Vec<F>,
    pub(crate) kind: crate::ErrorKind,
    pub(crate) message: String,
}

impl<F> Violation<F> {
    pub(crate) fn new(field: F, kind: crate::ErrorKind, message: impl Into<String>) -> Self {
        Violation {
            blame: vec![field],
            kind,
            message: message.into(),
        }
    }

    /// Adds a fallback field to blame when the preceding ones are absent.
    pub(crate) fn or(mut self, field: F) -> Self {
        self.blame.push(field);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(Field::StripeSize.to_string(), "cluster.stripe_size");
        assert_eq!(Field::MemberId(2).to_string(), "members[2].id");
        assert_eq!(Field::RingSwitch.to_string(), "ring.switch");
        assert_eq!(
            Field::Timeout(TimeoutKey::HeartbeatTimeout).to_string(),
            "timeouts.heartbeat_timeout_ms"
        );
    }
}
