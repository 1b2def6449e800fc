//! The raw mirror of the TOML file: the public structs with spans on the leaves.
//!
//! Deserializing into these types gives serde's checks (types, required keys,
//! unknown keys rejected everywhere via `deny_unknown_fields`) with byte spans,
//! and keeps every value's span for the validation errors that come later.
//! Optional keys are `Option`s so the defaults are applied in one place,
//! [`RawConfig::to_model`], and so a rule can tell a written key from a default.
//!
//! Tables are deliberately not wrapped in `Spanned`: toml 0.8 cannot give a
//! span to a table written with dotted keys (`cluster.name = "x"`), and that
//! is valid TOML an operator may use.
//!
//! Socket addresses are read as strings and parsed here, so the error can say
//! what form is expected instead of serde's terse "invalid socket address
//! syntax".

use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::field::{Field, Violation};
use crate::limits::{
    DEFAULT_HEAL_OBJECTS_IN_FLIGHT, DEFAULT_PARITY, DEFAULT_READER_CACHE_FILES, DEFAULT_STRIPE_SIZE,
};
use crate::parse::RawDocument;
use crate::timeouts::TimeoutKey;
use crate::{
    AuthSettings, ClusterConfig, ErrorKind, HttpSettings, MemberConfig, MemberEntry, MemberId,
    PeerTls, RingLink, StoreSettings, Timeouts, WitnessEntry,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    id: Spanned<u32>,
    data_dir: Spanned<String>,
    cluster: RawCluster,
    #[serde(default)]
    timeouts: RawTimeouts,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    http: RawHttp,
    members: Spanned<Vec<RawMember>>,
    ring: Option<RawRing>,
    witness: Option<RawWitness>,
    auth: Option<RawAuth>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    access_key_id: Spanned<String>,
    secret_access_key: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: Spanned<String>,
    secret: Spanned<String>,
    stripe_size: Option<Spanned<u32>>,
    parity: Option<Spanned<u8>>,
    peer_tls: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    heartbeat_interval_ms: Option<Spanned<u64>>,
    heartbeat_timeout_ms: Option<Spanned<u64>>,
    connect_timeout_ms: Option<Spanned<u64>>,
    request_timeout_ms: Option<Spanned<u64>>,
    reconnect_backoff_initial_ms: Option<Spanned<u64>>,
    reconnect_backoff_max_ms: Option<Spanned<u64>>,
    body_progress_timeout_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    allowed_hosts: Option<Vec<Spanned<String>>>,
    s3_domains: Option<Vec<Spanned<String>>>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
    read_token: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    reader_cache_files: Option<Spanned<u32>>,
    heal_objects_in_flight: Option<Spanned<u32>>,
    heal_max_mb_per_s: Option<Spanned<u32>>,
    multipart_expiry_s: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    id: Spanned<u32>,
    peer: Spanned<String>,
    http: Spanned<String>,
    s3: Option<Spanned<String>>,
}

/// The optional `[witness]` table: the metadata-only voter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWitness {
    id: Spanned<u32>,
    peer: Spanned<String>,
}

/// The optional `[ring]` table: this member's link to the switch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRing {
    switch: Spanned<String>,
    switch_http: Spanned<String>,
}

impl RawRing {
    fn to_model(&self) -> Result<RingLink, Violation> {
        Ok(RingLink {
            switch: socket_addr(&self.switch, Field::RingSwitch)?,
            switch_http: socket_addr(&self.switch_http, Field::RingSwitchHttp)?,
        })
    }
}

impl RawTimeouts {
    fn get(&self, key: TimeoutKey) -> Option<&Spanned<u64>> {
        match key {
            TimeoutKey::HeartbeatInterval => self.heartbeat_interval_ms.as_ref(),
            TimeoutKey::HeartbeatTimeout => self.heartbeat_timeout_ms.as_ref(),
            TimeoutKey::Connect => self.connect_timeout_ms.as_ref(),
            TimeoutKey::Request => self.request_timeout_ms.as_ref(),
            TimeoutKey::BackoffInitial => self.reconnect_backoff_initial_ms.as_ref(),
            TimeoutKey::BackoffMax => self.reconnect_backoff_max_ms.as_ref(),
            TimeoutKey::BodyProgress => self.body_progress_timeout_ms.as_ref(),
        }
    }

    fn value(&self, key: TimeoutKey, default: &Timeouts) -> u64 {
        self.get(key)
            .map_or_else(|| key.get(default), |v| *v.get_ref())
    }
}

impl RawDocument for RawConfig {
    type Field = Field;
    type Model = MemberConfig;

    /// The public model with defaults applied. Fails only on socket addresses;
    /// the other rules are checked on the model by `validate`.
    fn to_model(&self) -> Result<MemberConfig, Violation> {
        let d = Timeouts::default();
        let t = &self.timeouts;
        let timeouts = Timeouts {
            heartbeat_interval_ms: t.value(TimeoutKey::HeartbeatInterval, &d),
            heartbeat_timeout_ms: t.value(TimeoutKey::HeartbeatTimeout, &d),
            connect_timeout_ms: t.value(TimeoutKey::Connect, &d),
            request_timeout_ms: t.value(TimeoutKey::Request, &d),
            reconnect_backoff_initial_ms: t.value(TimeoutKey::BackoffInitial, &d),
            reconnect_backoff_max_ms: t.value(TimeoutKey::BackoffMax, &d),
            body_progress_timeout_ms: t.value(TimeoutKey::BodyProgress, &d),
        };
        let members = self
            .members
            .get_ref()
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Ok(MemberEntry {
                    id: MemberId::new(*m.id.get_ref()),
                    peer: socket_addr(&m.peer, Field::MemberPeer(i))?,
                    http: socket_addr(&m.http, Field::MemberHttp(i))?,
                    s3: m
                        .s3
                        .as_ref()
                        .map(|a| socket_addr(a, Field::MemberS3(i)))
                        .transpose()?,
                })
            })
            .collect::<Result<Vec<_>, Violation>>()?;
        Ok(MemberConfig {
            id: MemberId::new(*self.id.get_ref()),
            data_dir: PathBuf::from(self.data_dir.get_ref()),
            cluster: ClusterConfig {
                name: self.cluster.name.get_ref().clone(),
                secret: self.cluster.secret.get_ref().clone(),
                stripe_size: self
                    .cluster
                    .stripe_size
                    .as_ref()
                    .map_or(DEFAULT_STRIPE_SIZE, |s| *s.get_ref()),
                parity: self
                    .cluster
                    .parity
                    .as_ref()
                    .map_or(DEFAULT_PARITY, |p| *p.get_ref()),
                peer_tls: match self.cluster.peer_tls.as_ref().map(|v| v.get_ref().as_str()) {
                    None | Some("auto") => PeerTls::Auto,
                    Some("on") => PeerTls::On,
                    Some("off") => PeerTls::Off,
                    Some(other) => {
                        return Err(Violation::new(
                            Field::PeerTls,
                            ErrorKind::Tls,
                            format!("{other:?} is not one of \"auto\", \"on\", \"off\""),
                        ))
                    }
                },
            },
            timeouts,
            store: StoreSettings {
                reader_cache_files: self
                    .store
                    .reader_cache_files
                    .as_ref()
                    .map_or(DEFAULT_READER_CACHE_FILES, |v| *v.get_ref()),
                heal_objects_in_flight: self
                    .store
                    .heal_objects_in_flight
                    .as_ref()
                    .map_or(DEFAULT_HEAL_OBJECTS_IN_FLIGHT, |v| *v.get_ref()),
                heal_max_mb_per_s: self
                    .store
                    .heal_max_mb_per_s
                    .as_ref()
                    .map_or(0, |v| *v.get_ref()),
                multipart_expiry_s: self
                    .store
                    .multipart_expiry_s
                    .as_ref()
                    .map_or(crate::limits::DEFAULT_MULTIPART_EXPIRY_S, |v| *v.get_ref()),
            },
            http: HttpSettings {
                allowed_hosts: self
                    .http
                    .allowed_hosts
                    .iter()
                    .flatten()
                    .map(|h| h.get_ref().clone())
                    .collect(),
                s3_domains: self
                    .http
                    .s3_domains
                    .iter()
                    .flatten()
                    .map(|h| h.get_ref().clone())
                    .collect(),
                tls_cert: self
                    .http
                    .tls_cert
                    .as_ref()
                    .map(|p| PathBuf::from(p.get_ref())),
                tls_key: self
                    .http
                    .tls_key
                    .as_ref()
                    .map(|p| PathBuf::from(p.get_ref())),
                read_token: self
                    .http
                    .read_token
                    .as_ref()
                    .map(|t| crate::Token(t.get_ref().clone())),
            },
            members,
            ring: self.ring.as_ref().map(RawRing::to_model).transpose()?,
            witness: self
                .witness
                .as_ref()
                .map(|w| {
                    Ok(WitnessEntry {
                        id: MemberId::new(*w.id.get_ref()),
                        peer: socket_addr(&w.peer, Field::WitnessPeer)?,
                    })
                })
                .transpose()?,
            auth: self.auth.as_ref().map(|a| AuthSettings {
                access_key_id: a.access_key_id.get_ref().clone(),
                secret_access_key: a.secret_access_key.get_ref().clone(),
            }),
        })
    }

    /// The span of `field`'s value, if the key was written in the file.
    fn span_of(&self, field: Field) -> Option<Range<usize>> {
        let member = |i: usize| self.members.get_ref().get(i);
        match field {
            Field::Id => Some(self.id.span()),
            Field::DataDir => Some(self.data_dir.span()),
            Field::ClusterName => Some(self.cluster.name.span()),
            Field::ClusterSecret => Some(self.cluster.secret.span()),
            Field::StripeSize => self.cluster.stripe_size.as_ref().map(Spanned::span),
            Field::Parity => self.cluster.parity.as_ref().map(Spanned::span),
            Field::Timeout(key) => self.timeouts.get(key).map(Spanned::span),
            Field::Members => Some(self.members.span()),
            Field::MemberId(i) => member(i).map(|m| m.id.span()),
            Field::MemberPeer(i) => member(i).map(|m| m.peer.span()),
            Field::MemberHttp(i) => member(i).map(|m| m.http.span()),
            Field::RingSwitch => self.ring.as_ref().map(|r| r.switch.span()),
            Field::RingSwitchHttp => self.ring.as_ref().map(|r| r.switch_http.span()),
            Field::ReaderCacheFiles => self.store.reader_cache_files.as_ref().map(Spanned::span),
            Field::HealObjectsInFlight => self
                .store
                .heal_objects_in_flight
                .as_ref()
                .map(Spanned::span),
            Field::HealMaxMbPerS => self.store.heal_max_mb_per_s.as_ref().map(Spanned::span),
            Field::MultipartExpiryS => self.store.multipart_expiry_s.as_ref().map(Spanned::span),
            Field::WitnessId => self.witness.as_ref().map(|w| w.id.span()),
            Field::WitnessPeer => self.witness.as_ref().map(|w| w.peer.span()),
            Field::AllowedHost(i) => self
                .http
                .allowed_hosts
                .as_ref()
                .and_then(|h| h.get(i))
                .map(Spanned::span),
            Field::S3Domain(i) => self
                .http
                .s3_domains
                .as_ref()
                .and_then(|h| h.get(i))
                .map(Spanned::span),
            Field::MemberS3(i) => member(i).and_then(|m| m.s3.as_ref().map(Spanned::span)),
            Field::AuthAccessKeyId => self.auth.as_ref().map(|a| a.access_key_id.span()),
            Field::AuthSecret => self.auth.as_ref().map(|a| a.secret_access_key.span()),
            Field::PeerTls => self.cluster.peer_tls.as_ref().map(Spanned::span),
            Field::TlsCert => self.http.tls_cert.as_ref().map(Spanned::span),
            Field::TlsKey => self.http.tls_key.as_ref().map(Spanned::span),
            Field::ReadToken => self.http.read_token.as_ref().map(Spanned::span),
        }
    }
}

/// Parses a written socket address, blaming `field` when it does not parse.
pub(crate) fn socket_addr<F>(
    value: &Spanned<String>,
    field: F,
) -> Result<SocketAddr, Violation<F>> {
    let text = value.get_ref();
    text.parse().map_err(|_| {
        Violation::new(
            field,
            ErrorKind::BadAddress,
            format!(
                "{text:?} is not a socket address; expected IP:port such as \
                 \"127.0.0.1:7400\" or \"[::1]:7400\" (host names are not resolved)"
            ),
        )
    })
}
