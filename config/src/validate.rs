//! The cross-field rules a member configuration must satisfy.
//!
//! Rules run on the clean model, so the same code checks parsed files,
//! generated local clusters and hand-built configs. The first broken rule is
//! reported, as a [`Violation`] naming the field to blame; the parser maps it
//! to a line. Rules are ordered so that later ones may assume earlier ones
//! hold (e.g. the self-id check runs once ids are known to be `0..N`).
//!
//! Decisions (also in the crate docs):
//! * member ids must be exactly `0..N`: the block layout addresses a member by
//!   its position and the on-disk formats store it in one byte;
//! * N = 2 is the mirror and requires `parity = 1`; parity 0 is refused there
//!   because two members without redundancy contradict the design's definition
//!   of the 2-member case and would make `is_mirror()` ambiguous;
//! * an address may appear once across all peer *and* HTTP addresses, since
//!   each one is a listening socket;
//! * the optional `[ring]` link names two distinct switch addresses with
//!   non-zero ports (they are the switch's sockets, so they may not be checked
//!   against this cluster's own addresses).
//! * the optional `[witness]` has an id that is no member's (ids from N
//!   up; the lower id dials, so members dial it), a peer address distinct
//!   from every member's, and sits beside an even number of members only:
//!   with an odd number it would add a voter without adding a failure the
//!   group survives. Its own config has `id` = the witness's id.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::field::{Field, Violation};
use crate::limits::{
    MAX_HEAL_MB_PER_S, MAX_HEAL_OBJECTS_IN_FLIGHT, MAX_MEMBERS, MAX_READER_CACHE_FILES,
    MAX_STRIPE_SIZE, MAX_TIMEOUT_MS, MIN_MEMBERS, MIN_SECRET_LEN, MIN_STRIPE_SIZE,
};
use crate::timeouts::TimeoutKey;
use crate::{ErrorKind, MemberConfig, MemberId};

/// Checks every rule, returning the first one broken.
pub(crate) fn check(c: &MemberConfig) -> Result<(), Violation> {
    if c.data_dir.as_os_str().is_empty() {
        return Err(Violation::new(
            Field::DataDir,
            ErrorKind::DataDir,
            "data_dir must not be empty",
        ));
    }
    check_cluster_identity(c)?;
    check_stripe_size(c.cluster.stripe_size)?;
    check_timeouts(c)?;
    check_members(c)?;
    check_parity(c)?;
    check_ring(c)?;
    check_witness(c)?;
    check_store(c)?;
    check_http(c)?;
    check_tls(c)?;
    check_auth(c)
}

/// A root credential, when given, is well formed; without one, this
/// member serves only loopback addresses (anyone who reaches an open
/// port could change the cluster).
fn check_auth(c: &MemberConfig) -> Result<(), Violation> {
    match &c.auth {
        Some(a) => {
            let id_ok = (3..=128).contains(&a.access_key_id.len())
                && a.access_key_id.chars().all(|ch| ch.is_ascii_alphanumeric());
            if !id_ok {
                return Err(Violation::new(
                    Field::AuthAccessKeyId,
                    ErrorKind::Auth,
                    "an access key id is 3-128 of A-Z a-z 0-9",
                ));
            }
            let secret_ok = (16..=128).contains(&a.secret_access_key.len())
                && a.secret_access_key.chars().all(|ch| ch.is_ascii_graphic());
            if !secret_ok {
                return Err(Violation::new(
                    Field::AuthSecret,
                    ErrorKind::Auth,
                    "a secret access key is 16-128 printable ASCII characters without spaces",
                ));
            }
            Ok(())
        }
        None => {
            let Some(i) = c.members.iter().position(|m| m.id == c.id) else {
                return Ok(());
            };
            let me = &c.members[i];
            let open = [
                (Some(me.http), Field::MemberHttp(i)),
                (me.s3, Field::MemberS3(i)),
            ];
            for (addr, field) in open {
                if let Some(addr) = addr.filter(|a| !a.ip().is_loopback()) {
                    return Err(Violation::new(
                        field,
                        ErrorKind::Auth,
                        format!(
                            "{addr} is not a loopback address: serving it needs an [auth] table \
                             (access_key_id, secret_access_key), or anyone who reaches the port \
                             could read, write and change the cluster"
                        ),
                    ));
                }
            }
            Ok(())
        }
    }
}

/// A certificate comes with its key: the listeners are HTTPS with both,
/// plain HTTP with neither.
fn check_tls(c: &MemberConfig) -> Result<(), Violation> {
    let empty =
        |p: &Option<std::path::PathBuf>| p.as_ref().is_some_and(|p| p.as_os_str().is_empty());
    match (&c.http.tls_cert, &c.http.tls_key) {
        (Some(_), None) => Err(Violation::new(
            Field::TlsCert,
            ErrorKind::Tls,
            "tls_cert needs tls_key (the PEM private key of the certificate) in [http]",
        )),
        (None, Some(_)) => Err(Violation::new(
            Field::TlsKey,
            ErrorKind::Tls,
            "tls_key needs tls_cert (the PEM certificate chain) in [http]",
        )),
        _ if empty(&c.http.tls_cert) => Err(Violation::new(
            Field::TlsCert,
            ErrorKind::Tls,
            "tls_cert must name a PEM file",
        )),
        _ if empty(&c.http.tls_key) => Err(Violation::new(
            Field::TlsKey,
            ErrorKind::Tls,
            "tls_key must name a PEM file",
        )),
        _ => Ok(()),
    }
}

fn check_http(c: &MemberConfig) -> Result<(), Violation> {
    if let Some(token) = &c.http.read_token {
        let ok =
            (16..=128).contains(&token.0.len()) && token.0.chars().all(|ch| ch.is_ascii_graphic());
        if !ok {
            return Err(Violation::new(
                Field::ReadToken,
                ErrorKind::Auth,
                "a read token is 16-128 printable ASCII characters without spaces",
            ));
        }
    }
    for (i, domain) in c.http.s3_domains.iter().enumerate() {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        };
        if domain.len() > 253 || !domain.split('.').all(label_ok) {
            return Err(Violation::new(
                Field::S3Domain(i),
                ErrorKind::AllowedHost,
                "a DNS domain without port or scheme (e.g. \"s3.example.com\")",
            ));
        }
    }
    for (i, host) in c.http.allowed_hosts.iter().enumerate() {
        let bad = host.is_empty()
            || host.len() > 253
            || host
                .chars()
                .any(|ch| ch.is_whitespace() || ch == '/' || ch.is_control());
        if bad {
            return Err(Violation::new(
                Field::AllowedHost(i),
                ErrorKind::AllowedHost,
                "a host name, without port or scheme (e.g. \"localhost\" or \"storage.example\")",
            ));
        }
    }
    Ok(())
}

fn check_store(c: &MemberConfig) -> Result<(), Violation> {
    let files = c.store.reader_cache_files;
    if !(1..=MAX_READER_CACHE_FILES).contains(&files) {
        return Err(Violation::new(
            Field::ReaderCacheFiles,
            ErrorKind::Store,
            format!(
                "{files} is out of range: 1..={MAX_READER_CACHE_FILES} open fragment files \
                 (each is a file descriptor)"
            ),
        ));
    }
    let heal = c.store.heal_objects_in_flight;
    if !(1..=MAX_HEAL_OBJECTS_IN_FLIGHT).contains(&heal) {
        return Err(Violation::new(
            Field::HealObjectsInFlight,
            ErrorKind::Store,
            format!("{heal} is out of range: 1..={MAX_HEAL_OBJECTS_IN_FLIGHT} objects"),
        ));
    }
    let rate = c.store.heal_max_mb_per_s;
    if rate > MAX_HEAL_MB_PER_S {
        return Err(Violation::new(
            Field::HealMaxMbPerS,
            ErrorKind::Store,
            format!("{rate} is out of range: 0..={MAX_HEAL_MB_PER_S} MB/s (0: unthrottled)"),
        ));
    }
    let expiry = c.store.multipart_expiry_s;
    if !(1..=crate::limits::MAX_MULTIPART_EXPIRY_S).contains(&expiry) {
        return Err(Violation::new(
            Field::MultipartExpiryS,
            ErrorKind::Store,
            format!(
                "{expiry} is out of range: 1..={} seconds",
                crate::limits::MAX_MULTIPART_EXPIRY_S
            ),
        ));
    }
    Ok(())
}

fn check_witness(c: &MemberConfig) -> Result<(), Violation> {
    let Some(w) = &c.witness else {
        return Ok(());
    };
    let n = c.members.len();
    if c.member(w.id).is_some() {
        return Err(Violation::new(
            Field::WitnessId,
            ErrorKind::Witness,
            format!(
                "witness id {} is a member's id; a witness holds no data, \
                 so its id must be {n} or more",
                w.id
            ),
        ));
    }
    if n % 2 == 1 {
        return Err(Violation::new(
            Field::WitnessId,
            ErrorKind::Witness,
            format!(
                "a witness only helps an even number of members; with {n} members \
                 the group already survives as many failures without one"
            ),
        ));
    }
    if w.peer.port() == 0 {
        return Err(Violation::new(
            Field::WitnessPeer,
            ErrorKind::BadAddress,
            format!("{} has port 0; the witness needs a fixed port", w.peer),
        ));
    }
    if let Some(i) = c
        .members
        .iter()
        .position(|m| m.peer == w.peer || m.http == w.peer)
    {
        return Err(Violation::new(
            Field::WitnessPeer,
            ErrorKind::DuplicateAddress,
            format!("address {} is already used by members[{i}]", w.peer),
        ));
    }
    Ok(())
}

fn check_ring(c: &MemberConfig) -> Result<(), Violation> {
    let Some(ring) = &c.ring else {
        return Ok(());
    };
    for (addr, field) in [
        (ring.switch, Field::RingSwitch),
        (ring.switch_http, Field::RingSwitchHttp),
    ] {
        if addr.port() == 0 {
            return Err(Violation::new(
                field,
                ErrorKind::BadAddress,
                format!("{addr} has port 0; the switch listens on a fixed port"),
            ));
        }
    }
    if ring.switch == ring.switch_http {
        return Err(Violation::new(
            Field::RingSwitchHttp,
            ErrorKind::DuplicateAddress,
            format!(
                "address {} is already used by ring.switch",
                ring.switch_http
            ),
        ));
    }
    Ok(())
}

fn check_cluster_identity(c: &MemberConfig) -> Result<(), Violation> {
    if c.cluster.name.trim().is_empty() {
        return Err(Violation::new(
            Field::ClusterName,
            ErrorKind::ClusterName,
            "the cluster name must not be empty",
        ));
    }
    // Lengths only: the secret itself must never appear in a message.
    let len = c.cluster.secret.len();
    if len == 0 {
        return Err(Violation::new(
            Field::ClusterSecret,
            ErrorKind::Secret,
            "the secret must not be empty",
        ));
    }
    if len < MIN_SECRET_LEN {
        return Err(Violation::new(
            Field::ClusterSecret,
            ErrorKind::Secret,
            format!("the secret is {len} bytes long; at least {MIN_SECRET_LEN} bytes are required"),
        ));
    }
    Ok(())
}

fn check_stripe_size(size: u32) -> Result<(), Violation> {
    if !size.is_power_of_two() {
        return Err(Violation::new(
            Field::StripeSize,
            ErrorKind::StripeSize,
            format!("{size} is not a power of two"),
        ));
    }
    if !(MIN_STRIPE_SIZE..=MAX_STRIPE_SIZE).contains(&size) {
        return Err(Violation::new(
            Field::StripeSize,
            ErrorKind::StripeSize,
            format!(
                "{size} is out of range: must be between {MIN_STRIPE_SIZE} (4 KiB) \
                 and {MAX_STRIPE_SIZE} (16 MiB)"
            ),
        ));
    }
    Ok(())
}

fn check_timeouts(c: &MemberConfig) -> Result<(), Violation> {
    let t = &c.timeouts;
    for key in TimeoutKey::ALL {
        let value = key.get(t);
        if value == 0 {
            return Err(Violation::new(
                Field::Timeout(key),
                ErrorKind::Timeout,
                "must be greater than 0",
            ));
        }
        if value > MAX_TIMEOUT_MS {
            return Err(Violation::new(
                Field::Timeout(key),
                ErrorKind::Timeout,
                format!("{value} ms is too large: at most {MAX_TIMEOUT_MS} ms (one day)"),
            ));
        }
    }
    if t.heartbeat_timeout_ms <= t.heartbeat_interval_ms {
        return Err(Violation::new(
            Field::Timeout(TimeoutKey::HeartbeatTimeout),
            ErrorKind::Timeout,
            format!(
                "heartbeat_timeout_ms ({}) must be greater than heartbeat_interval_ms ({}), \
                 or every peer would be declared failed between two heartbeats",
                t.heartbeat_timeout_ms, t.heartbeat_interval_ms
            ),
        )
        .or(Field::Timeout(TimeoutKey::HeartbeatInterval)));
    }
    if t.reconnect_backoff_max_ms < t.reconnect_backoff_initial_ms {
        return Err(Violation::new(
            Field::Timeout(TimeoutKey::BackoffMax),
            ErrorKind::Timeout,
            format!(
                "reconnect_backoff_max_ms ({}) must not be less than \
                 reconnect_backoff_initial_ms ({})",
                t.reconnect_backoff_max_ms, t.reconnect_backoff_initial_ms
            ),
        )
        .or(Field::Timeout(TimeoutKey::BackoffInitial)));
    }
    Ok(())
}

fn check_members(c: &MemberConfig) -> Result<(), Violation> {
    let n = c.members.len();
    if n < MIN_MEMBERS {
        return Err(Violation::new(
            Field::Members,
            ErrorKind::TooFewMembers,
            format!("a cluster needs at least {MIN_MEMBERS} members, found {n}"),
        ));
    }
    if n > MAX_MEMBERS {
        return Err(Violation::new(
            Field::Members,
            ErrorKind::TooManyMembers,
            format!("a cluster can have at most {MAX_MEMBERS} members, found {n}"),
        ));
    }

    let mut first_index: HashMap<MemberId, usize> = HashMap::with_capacity(n);
    for (i, m) in c.members.iter().enumerate() {
        if let Some(first) = first_index.insert(m.id, i) {
            return Err(Violation::new(
                Field::MemberId(i),
                ErrorKind::DuplicateMemberId,
                format!(
                    "duplicate member id {} (also used by members[{first}])",
                    m.id
                ),
            ));
        }
    }
    for (i, m) in c.members.iter().enumerate() {
        // n <= MAX_MEMBERS, so the conversion cannot fail; a failure would only
        // make every id acceptable, never panic.
        if u32::try_from(n).is_ok_and(|n| m.id.get() >= n) {
            return Err(Violation::new(
                Field::MemberId(i),
                ErrorKind::MemberIdOutOfRange,
                format!(
                    "member id {} is out of range: with {n} members the ids must be 0..={} \
                     (an id is the member's position in the block layout)",
                    m.id,
                    n - 1
                ),
            ));
        }
    }

    let mut used: HashMap<SocketAddr, Field> = HashMap::with_capacity(2 * n);
    for (i, m) in c.members.iter().enumerate() {
        let addrs = [
            Some((m.peer, Field::MemberPeer(i))),
            Some((m.http, Field::MemberHttp(i))),
            m.s3.map(|a| (a, Field::MemberS3(i))),
        ];
        for (addr, field) in addrs.into_iter().flatten() {
            if addr.port() == 0 {
                return Err(Violation::new(
                    field,
                    ErrorKind::BadAddress,
                    format!("{addr} has port 0; members need a fixed port"),
                ));
            }
            if let Some(first) = used.insert(addr, field) {
                return Err(Violation::new(
                    field,
                    ErrorKind::DuplicateAddress,
                    format!("address {addr} is already used by {first}"),
                ));
            }
        }
    }

    if c.member(c.id).is_none() && !c.is_witness() {
        return Err(Violation::new(
            Field::Id,
            ErrorKind::SelfNotMember,
            format!(
                "this member's id {} is not in the member list (ids 0..={})",
                c.id,
                n - 1
            ),
        ));
    }
    Ok(())
}

fn check_parity(c: &MemberConfig) -> Result<(), Violation> {
    let n = c.members.len();
    let parity = c.cluster.parity;
    if n == 2 && parity != 1 {
        return Err(Violation::new(
            Field::Parity,
            ErrorKind::Parity,
            format!("a 2-member cluster is a mirror and needs parity = 1, found {parity}"),
        ));
    }
    if usize::from(parity) >= n {
        return Err(Violation::new(
            Field::Parity,
            ErrorKind::Parity,
            format!(
                "parity {parity} is too large for {n} members: parity must be less than \
                 the member count so at least one member holds data"
            ),
        ));
    }
    Ok(())
}
