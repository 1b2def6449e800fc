//! Generated configurations for a local cluster (`stripecast up`).
//!
//! Member `i` gets id `i`, peer `127.0.0.1:(peer_base_port + i)`, HTTP
//! `127.0.0.1:(http_base_port + i)` and data dir `data_root/member-<i>`, with
//! default timeouts. Every generated config passes the same validation as a
//! file, so a local cluster can be saved and loaded back unchanged.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use crate::error::{ConfigError, ErrorKind};
use crate::limits::{MAX_MEMBERS, MIN_MEMBERS};
use crate::{
    ClusterConfig, MemberConfig, MemberEntry, MemberId, StoreSettings, Timeouts, WitnessEntry,
};

/// The file name errors carry: the parameters came from no file.
const ORIGIN: &str = "<local cluster>";

/// One config per member of a local cluster, in id order.
///
/// # Panics
///
/// If the parameters cannot make a valid cluster (fewer than 2 or more than
/// 255 nodes, parity too large, ports past 65535 or overlapping, short secret,
/// empty name). Use [`try_local_cluster`] to get these as errors, e.g. when
/// the parameters come from the command line.
pub fn local_cluster(
    name: &str,
    secret: &str,
    nodes: u32,
    data_root: &Path,
    http_base_port: u16,
    peer_base_port: u16,
    parity: u8,
) -> Vec<MemberConfig> {
    match try_local_cluster(
        name,
        secret,
        nodes,
        data_root,
        http_base_port,
        peer_base_port,
        parity,
    ) {
        Ok(configs) => configs,
        Err(e) => panic!("invalid local cluster parameters: {e}"),
    }
}

/// Like [`local_cluster`], reporting invalid parameters as a [`ConfigError`]
/// whose field names the config key they end up in.
pub fn try_local_cluster(
    name: &str,
    secret: &str,
    nodes: u32,
    data_root: &Path,
    http_base_port: u16,
    peer_base_port: u16,
    parity: u8,
) -> Result<Vec<MemberConfig>, ConfigError> {
    let origin = Path::new(ORIGIN);
    let error = |field: String, kind, message: String| {
        ConfigError::at(origin, b"", None, Some(field), kind, message)
    };
    // Checked before allocating: `nodes` may be any u32.
    let count = usize::try_from(nodes).unwrap_or(usize::MAX);
    if count > MAX_MEMBERS {
        return Err(error(
            "members".into(),
            ErrorKind::TooManyMembers,
            format!("a cluster can have at most {MAX_MEMBERS} members, asked for {nodes}"),
        ));
    }
    if count < MIN_MEMBERS {
        return Err(error(
            "members".into(),
            ErrorKind::TooFewMembers,
            format!("a cluster needs at least {MIN_MEMBERS} members, asked for {nodes}"),
        ));
    }

    let mut members = Vec::with_capacity(count);
    for id in 0..nodes {
        let port = |base: u16, key: &str| {
            u16::try_from(id)
                .ok()
                .and_then(|i| base.checked_add(i))
                .ok_or_else(|| {
                    error(
                        format!("members[{id}].{key}"),
                        ErrorKind::BadAddress,
                        format!("port {base} + {id} is past 65535"),
                    )
                })
        };
        let localhost = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        members.push(MemberEntry {
            id: MemberId::new(id),
            peer: localhost(port(peer_base_port, "peer")?),
            http: localhost(port(http_base_port, "http")?),
            s3: None,
        });
    }

    let configs: Vec<MemberConfig> = (0..nodes)
        .map(|id| MemberConfig {
            id: MemberId::new(id),
            data_dir: data_root.join(format!("member-{id}")),
            cluster: ClusterConfig {
                name: name.to_owned(),
                secret: secret.to_owned(),
                stripe_size: crate::limits::DEFAULT_STRIPE_SIZE,
                parity,
                peer_tls: crate::PeerTls::Auto,
            },
            timeouts: Timeouts::default(),
            store: StoreSettings::default(),
            http: crate::HttpSettings::default(),
            members: members.clone(),
            ring: None,
            witness: None,
            auth: None,
        })
        .collect();
    for config in &configs {
        config.validate_as(origin)?;
    }
    Ok(configs)
}

/// Gives the local cluster of `configs` (from [`try_local_cluster`]) a
/// witness: id N, peer `127.0.0.1:(peer_base_port + N)` (the port after the
/// members'), data dir `data_root/witness`. Every member's config names it;
/// returns the witness's own config.
pub fn try_local_witness(
    configs: &mut [MemberConfig],
    data_root: &Path,
    peer_base_port: u16,
) -> Result<MemberConfig, ConfigError> {
    let origin = Path::new(ORIGIN);
    let error = |field: &str, kind, message: String| {
        ConfigError::at(origin, b"", None, Some(field.into()), kind, message)
    };
    let Some(first) = configs.first() else {
        return Err(error(
            "members",
            ErrorKind::TooFewMembers,
            "a witness needs members".into(),
        ));
    };
    let n = first.members.len();
    let id = MemberId::new(u32::try_from(n).unwrap_or(u32::MAX));
    let port = u16::try_from(n)
        .ok()
        .and_then(|n| peer_base_port.checked_add(n))
        .ok_or_else(|| {
            error(
                "witness.peer",
                ErrorKind::BadAddress,
                format!("port {peer_base_port} + {n} is past 65535"),
            )
        })?;
    let witness = WitnessEntry {
        id,
        peer: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
    };
    let mut own = first.clone();
    own.id = id;
    own.data_dir = data_root.join("witness");
    own.ring = None;
    own.witness = Some(witness.clone());
    for config in configs.iter_mut() {
        config.witness = Some(witness.clone());
        config.validate_as(origin)?;
    }
    own.validate_as(origin)?;
    Ok(own)
}

/// Gives every member of a local cluster an S3 listener on
/// `127.0.0.1:(s3_base_port + i)` and the root credential `auth`, and
/// checks the result as a file would be.
pub fn secure_local_cluster(
    configs: &mut [MemberConfig],
    s3_base_port: u16,
    auth: &crate::AuthSettings,
) -> Result<(), ConfigError> {
    let origin = Path::new(ORIGIN);
    let n = configs.first().map_or(0, |c| c.members.len());
    let mut ports = Vec::with_capacity(n);
    for i in 0..n {
        let port = u16::try_from(i)
            .ok()
            .and_then(|i| s3_base_port.checked_add(i))
            .ok_or_else(|| {
                ConfigError::at(
                    origin,
                    b"",
                    None,
                    Some(format!("members[{i}].s3")),
                    ErrorKind::BadAddress,
                    format!("port {s3_base_port} + {i} is past 65535"),
                )
            })?;
        ports.push(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    for config in configs.iter_mut() {
        for (m, port) in config.members.iter_mut().zip(&ports) {
            m.s3 = Some(*port);
        }
        config.auth = Some(auth.clone());
        config.validate_as(origin)?;
    }
    Ok(())
}
