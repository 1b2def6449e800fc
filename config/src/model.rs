//! The public configuration model: what a member process runs with.
//!
//! These are plain data structs with public fields so other crates can read
//! them freely. Values obtained through `parse`/`load`/`try_local_cluster` are
//! validated (see the crate docs for the invariants); a struct built or changed
//! by hand is only trustworthy after [`MemberConfig::validate`].
//!
//! The serde derives describe the same shape as the TOML file (same names,
//! same defaults, unknown keys rejected), but deserializing through serde
//! directly skips validation and the file/line/field errors; use
//! [`MemberConfig::parse`] for files.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ids::MemberId;
use crate::limits::{
    DEFAULT_HEAL_OBJECTS_IN_FLIGHT, DEFAULT_PARITY, DEFAULT_READER_CACHE_FILES, DEFAULT_STRIPE_SIZE,
};
use crate::switch_model::RingLink;
use crate::timeouts::Timeouts;

/// The configuration of one cluster member (one TOML file).
///
/// Serializing it (serde or [`MemberConfig::to_toml_string`]) includes the
/// cluster secret: never expose it over HTTP as is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    /// This member's id; one of `members[..].id`.
    pub id: MemberId,
    /// Directory holding this member's fragments and catalog. A relative path
    /// is relative to the process's working directory, not to the file.
    pub data_dir: PathBuf,
    /// Settings every member of the cluster must agree on.
    pub cluster: ClusterConfig,
    /// Failure detection and networking timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Bounds of the member's local store (`[store]`).
    #[serde(default)]
    pub store: StoreSettings,
    /// The member's HTTP API (`[http]`).
    #[serde(default)]
    pub http: HttpSettings,
    /// All members of the cluster, this one included, in file order.
    pub members: Vec<MemberEntry>,
    /// This member's link to the ring's switch fabric (`[ring]`); `None`:
    /// the member hosts no video system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring: Option<RingLink>,
    /// The cluster's witness (`[witness]`): a voter of the metadata group
    /// that holds no data, so an even number of members (the 2-member
    /// mirror) keeps a majority when one of them is down. `None`: no witness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<WitnessEntry>,
    /// The cluster's root credential (`[auth]`); `None`: no authentication,
    /// allowed only while this member serves on loopback addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSettings>,
}

/// The root credential (the optional `[auth]` table): an admin key every
/// member knows from its config, as MinIO's root user, so a new cluster
/// can be administered (and more keys made, in the replicated metadata)
/// before any other key exists. With it, every request that reads or
/// changes data, and every operation on the cluster, needs a key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// 3-128 of `A-Z a-z 0-9`.
    pub access_key_id: String,
    /// 16-128 printable ASCII characters, no space.
    pub secret_access_key: String,
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Cluster-wide settings (the `[cluster]` table).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Human-readable cluster name; checked in the peer handshake.
    pub name: String,
    /// Shared secret for the HMAC challenge-response handshake (>= 16 bytes).
    pub secret: String,
    /// Block size in bytes: a power of two in 4 KiB..=16 MiB.
    #[serde(default = "default_stripe_size")]
    pub stripe_size: u32,
    /// Parity blocks per stripe row: 0 = RAID-0, 1 = XOR (RAID-5) or the
    /// 2-member mirror, m >= 2 = Reed-Solomon with k = N - m data blocks.
    #[serde(default = "default_parity")]
    pub parity: u8,
    /// Whether member-to-member traffic is encrypted (TLS bound to the
    /// secret handshake); the same on every member.
    #[serde(default)]
    pub peer_tls: PeerTls,
}

/// `[cluster] peer_tls`: whether the peer mesh runs inside TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerTls {
    /// Encrypted when any member's (or the witness's) peer address is not
    /// a loopback address: traffic that never leaves the host is not.
    #[default]
    Auto,
    /// Always encrypted.
    On,
    /// Never encrypted (a network already protected, e.g. by IPsec); a
    /// member warns when it then talks over a non-loopback address.
    Off,
}

impl PeerTls {
    /// The name written in a config file.
    pub fn name(self) -> &'static str {
        match self {
            PeerTls::Auto => "auto",
            PeerTls::On => "on",
            PeerTls::Off => "off",
        }
    }
}

impl ClusterConfig {
    /// Why the secret, though accepted, is weak (`None`: it is not): shorter
    /// than [`crate::limits::STRONG_SECRET_LEN`] bytes or made of few
    /// distinct bytes. Says nothing of the secret itself.
    pub fn secret_weakness(&self) -> Option<String> {
        use crate::limits::{STRONG_SECRET_DISTINCT, STRONG_SECRET_LEN};
        let bytes = self.secret.as_bytes();
        let distinct = bytes
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        if bytes.len() < STRONG_SECRET_LEN {
            Some(format!(
                "the secret is {} bytes; use at least {STRONG_SECRET_LEN} random ones",
                bytes.len()
            ))
        } else if distinct < STRONG_SECRET_DISTINCT {
            Some(format!(
                "the secret has only {distinct} distinct characters; use random ones"
            ))
        } else {
            None
        }
    }
}

// Hand-written so that logging a config (`{:?}`) cannot leak the secret.
impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("name", &self.name)
            .field(
                "secret",
                &format_args!("<redacted, {} bytes>", self.secret.len()),
            )
            .field("stripe_size", &self.stripe_size)
            .field("parity", &self.parity)
            .field("peer_tls", &self.peer_tls)
            .finish()
    }
}

/// The member's HTTP API (the optional `[http]` table).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Host names (without port) a request's `Host` header may name; a
    /// request naming another is refused (403), so a web page cannot reach
    /// a member through a DNS name rebound to its address. Empty: any.
    pub allowed_hosts: Vec<String>,
    /// Domains under which the S3 listener takes virtual-host-style
    /// requests: `BUCKET.DOMAIN` names the bucket (a wildcard DNS name
    /// pointing at the members). Any other Host is path-style. Empty: only
    /// `BUCKET.localhost`.
    pub s3_domains: Vec<String>,
    /// PEM certificate chain of this member's HTTP and S3 listeners; with
    /// `tls_key`, they serve HTTPS only. `None` (both): plain HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// When set, the reads open to anyone (`/metrics`, `/v1/cluster`,
    /// `/v1/ring`) need `Authorization: Bearer TOKEN` (what a Prometheus
    /// scrape sends) or any key. `None`: they stay open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_token: Option<Token>,
}

/// A bearer token: compared, never shown (`Debug` redacts it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Token(pub String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted, {} bytes>", self.0.len())
    }
}

impl HttpSettings {
    /// Whether the listeners serve HTTPS.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// The scheme of this member's HTTP and S3 URLs.
    pub fn scheme(&self) -> &'static str {
        if self.tls() {
            "https"
        } else {
            "http"
        }
    }

    /// Whether a request with this `Host` header value may be served.
    pub fn allows(&self, host_header: Option<&str>) -> bool {
        if self.allowed_hosts.is_empty() {
            return true;
        }
        let Some(value) = host_header else {
            return false;
        };
        let host = match value.strip_prefix('[') {
            // [v6]:port
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => value.rsplit_once(':').map_or(value, |(h, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    value
                }
            }),
        };
        self.allowed_hosts
            .iter()
            .any(|a| a.eq_ignore_ascii_case(host))
    }
}

/// The member's local store (the optional `[store]` table).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Fragment files kept open for reads (an LRU-ish cache; pinned files
    /// of reads in progress are never closed), 1..=65,536.
    pub reader_cache_files: u32,
    /// Objects a returning member rebuilds at once, 1..=64.
    pub heal_objects_in_flight: u32,
    /// Fragment bytes a returning member writes per second while it heals,
    /// in MB/s, so clients keep their throughput; 0 is unthrottled.
    pub heal_max_mb_per_s: u32,
    /// Seconds an S3 multipart upload may stay open (neither completed nor
    /// aborted) before it is removed with its parts, 1..=31,536,000.
    pub multipart_expiry_s: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            reader_cache_files: DEFAULT_READER_CACHE_FILES,
            heal_objects_in_flight: DEFAULT_HEAL_OBJECTS_IN_FLIGHT,
            heal_max_mb_per_s: 0,
            multipart_expiry_s: crate::limits::DEFAULT_MULTIPART_EXPIRY_S,
        }
    }
}

/// One member of the cluster (one `[[members]]` entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberEntry {
    /// Member id, in `0..N`; also its position in the block layout.
    pub id: MemberId,
    /// Address of the member-to-member (peer) port.
    pub peer: SocketAddr,
    /// Address of the HTTP API.
    pub http: SocketAddr,
    /// Address of the S3 API; `None`: the member serves no S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<SocketAddr>,
}

/// The witness (the `[witness]` table): a metadata-only voter. Its id is
/// not a member id (it has no place in the block layout) and it serves no
/// HTTP; members' `/v1/cluster` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessEntry {
    /// Its id, at least N (after every member's).
    pub id: MemberId,
    /// Address of its peer port.
    pub peer: SocketAddr,
}

fn default_stripe_size() -> u32 {
    DEFAULT_STRIPE_SIZE
}

fn default_parity() -> u8 {
    DEFAULT_PARITY
}

impl MemberConfig {
    /// Whether this config is the witness's (its `id` is the witness's).
    pub fn is_witness(&self) -> bool {
        self.witness.as_ref().is_some_and(|w| w.id == self.id)
    }

    /// The address this process listens on for peers (member or witness).
    ///
    /// # Panics
    ///
    /// Like [`MemberConfig::me`], only on a config that was not validated.
    pub fn my_peer_addr(&self) -> SocketAddr {
        match &self.witness {
            Some(w) if w.id == self.id => w.peer,
            _ => self.me().peer,
        }
    }

    /// Every process this one keeps a peer link to: the other members and
    /// the witness (or, for the witness, every member), as (id, peer address).
    pub fn links(&self) -> impl Iterator<Item = (MemberId, SocketAddr)> + '_ {
        self.peers()
            .map(|m| (m.id, m.peer))
            .chain(self.witness.iter().map(|w| (w.id, w.peer)))
            .filter(move |(id, _)| *id != self.id)
    }

    /// Whether this process's peer links run inside TLS (`[cluster]
    /// peer_tls`, `auto` deciding by the peer addresses).
    pub fn peer_encrypted(&self) -> bool {
        match self.cluster.peer_tls {
            PeerTls::On => true,
            PeerTls::Off => false,
            PeerTls::Auto => !self.all_peers_loopback(),
        }
    }

    /// Whether every peer address (members' and witness's) is loopback.
    pub fn all_peers_loopback(&self) -> bool {
        self.members
            .iter()
            .map(|m| m.peer)
            .chain(self.witness.iter().map(|w| w.peer))
            .all(|a| a.ip().is_loopback())
    }

    /// The voters of the metadata group: every member and the witness.
    pub fn voters(&self) -> Vec<MemberId> {
        self.members
            .iter()
            .map(|m| m.id)
            .chain(self.witness.iter().map(|w| w.id))
            .collect()
    }

    /// This member's own entry.
    ///
    /// # Panics
    ///
    /// If `id` is not in `members`, which validation rules out for a member's
    /// config; the witness's config has no member entry (use
    /// [`MemberConfig::my_peer_addr`]). Only a config built or mutated by
    /// hand without [`MemberConfig::validate`], or the witness's, can panic.
    pub fn me(&self) -> &MemberEntry {
        match self.member(self.id) {
            Some(entry) => entry,
            None => panic!(
                "member id {} is not in the member list (config was not validated)",
                self.id
            ),
        }
    }

    /// The entry of member `id`, if it exists.
    pub fn member(&self, id: MemberId) -> Option<&MemberEntry> {
        self.members.iter().find(|m| m.id == id)
    }

    /// Every member except this one, in file order.
    pub fn peers(&self) -> impl Iterator<Item = &MemberEntry> + '_ {
        self.members.iter().filter(move |m| m.id != self.id)
    }

    /// N, the number of members.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Data blocks per stripe row: N - parity. For the 2-member mirror this is
    /// 1 (each member holds a whole copy).
    pub fn data_members(&self) -> usize {
        self.members
            .len()
            .saturating_sub(usize::from(self.cluster.parity))
    }

    /// Whether this is the 2-member mirror rather than a striped cluster.
    pub fn is_mirror(&self) -> bool {
        self.members.len() == 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_hosts_match_the_host_without_its_port() {
        let open = HttpSettings::default();
        assert!(open.allows(None) && open.allows(Some("evil.example")));
        let h = HttpSettings {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            ..HttpSettings::default()
        };
        for (header, ok) in [
            (Some("localhost"), true),
            (Some("LOCALHOST:8400"), true),
            (Some("127.0.0.1:8400"), true),
            (Some("[::1]:8400"), true),
            (Some("rebound.example:8400"), false),
            (Some("localhost.evil.example"), false),
            (Some(""), false),
            (None, false),
        ] {
            assert_eq!(h.allows(header), ok, "{header:?}");
        }
    }

    #[test]
    fn weak_secrets_are_told_apart() {
        let c = |secret: &str| ClusterConfig {
            name: "c".into(),
            secret: secret.into(),
            stripe_size: 65536,
            parity: 1,
            peer_tls: PeerTls::Auto,
        };
        assert!(
            c("0123456789abcdef").secret_weakness().is_some(),
            "16 bytes"
        );
        assert!(
            c(&"ab".repeat(20)).secret_weakness().is_some(),
            "2 distinct"
        );
        assert!(c("9f3c1e7a0b5d24c86e1f03a7b9d5c2e4")
            .secret_weakness()
            .is_none());
        let why = c("hunter2hunter2hunter2!").secret_weakness().unwrap();
        assert!(!why.contains("hunter"), "never the secret itself: {why}");
    }

    fn entry(id: u32) -> MemberEntry {
        MemberEntry {
            id: MemberId::new(id),
            peer: SocketAddr::from(([127, 0, 0, 1], 7400 + id as u16)),
            http: SocketAddr::from(([127, 0, 0, 1], 8400 + id as u16)),
            s3: None,
        }
    }

    fn config(n: u32, parity: u8) -> MemberConfig {
        MemberConfig {
            id: MemberId::new(1),
            data_dir: PathBuf::from("/tmp/x"),
            cluster: ClusterConfig {
                name: "demo".into(),
                secret: "super secret value!".into(),
                stripe_size: DEFAULT_STRIPE_SIZE,
                parity,
                peer_tls: PeerTls::Auto,
            },
            timeouts: Timeouts::default(),
            store: StoreSettings::default(),
            http: HttpSettings::default(),
            members: (0..n).map(entry).collect(),
            ring: None,
            witness: None,
            auth: None,
        }
    }

    #[test]
    fn convenience_accessors() {
        let c = config(4, 1);
        assert_eq!(c.me(), &entry(1));
        assert_eq!(c.member(MemberId::new(3)), Some(&entry(3)));
        assert_eq!(c.member(MemberId::new(4)), None);
        assert_eq!(c.member_count(), 4);
        assert_eq!(c.data_members(), 3);
        assert!(!c.is_mirror());
        let peers: Vec<u32> = c.peers().map(|m| m.id.get()).collect();
        assert_eq!(peers, vec![0, 2, 3]);
    }

    #[test]
    fn a_witness_is_a_voter_and_a_link_but_not_a_member() {
        let mut c = config(2, 1);
        c.witness = Some(WitnessEntry {
            id: MemberId::new(2),
            peer: SocketAddr::from(([127, 0, 0, 1], 7402)),
        });
        assert_eq!(c.voters(), [0, 1, 2].map(MemberId::new));
        let links: Vec<u32> = c.links().map(|(id, _)| id.get()).collect();
        assert_eq!(links, vec![0, 2]);
        assert_eq!(c.member_count(), 2);
        assert!(!c.is_witness());
        c.id = MemberId::new(2);
        assert!(c.is_witness());
        assert_eq!(c.my_peer_addr().port(), 7402);
        let links: Vec<u32> = c.links().map(|(id, _)| id.get()).collect();
        assert_eq!(links, vec![0, 1]);
    }

    #[test]
    fn reed_solomon_and_mirror_data_members() {
        assert_eq!(config(6, 2).data_members(), 4);
        assert_eq!(config(3, 0).data_members(), 3);
        let mirror = config(2, 1);
        assert!(mirror.is_mirror());
        assert_eq!(mirror.data_members(), 1);
    }

    #[test]
    #[should_panic(expected = "not in the member list")]
    fn me_panics_only_on_unvalidated_config() {
        let mut c = config(3, 1);
        c.id = MemberId::new(9);
        let _ = c.me();
    }

    #[test]
    fn debug_does_not_leak_the_secret() {
        let c = config(3, 1);
        let text = format!("{c:?}");
        assert!(!text.contains("super secret"), "{text}");
        assert!(text.contains("<redacted, 19 bytes>"), "{text}");
    }
}
