//! The peer handshake: who is on the other end, and do they know the secret.
//!
//! The member with the lower id dials, the higher one accepts, so every pair
//! of members has exactly one connection. Four frames:
//!
//! ```text
//! dialer  -> Hello { version, cluster, from: dialer, to: acceptor, nonce_d }
//! acceptor-> Hello { version, cluster, from: acceptor, to: dialer, nonce_a }
//! dialer  -> Proof { HMAC(secret, "dialer"   | transcript) }
//! acceptor-> Proof { HMAC(secret, "acceptor" | transcript) }
//! ```
//!
//! where the transcript is the protocol version, the cluster name, both ids and
//! both nonces. Each side proves it knows the cluster secret over a challenge
//! the other side chose; the role tag stops one side's proof from being
//! reflected back as the other's. The dialer proves first, so a stranger
//! learns nothing about the secret, not even a MAC to study. MACs are compared
//! in constant time (`Mac::verify_slice`).
//!
//! Invariants: a handshake either returns the authenticated peer id or an
//! error and the caller closes the connection; the acceptor only admits a
//! known member with a lower id that names it as the target; nothing here
//! panics on input. Time limits are the caller's (connect_timeout).

use std::collections::BTreeSet;
use std::fmt;

use futures::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use stripecast_config::{MemberConfig, MemberId};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use super::wire::{self, Frame, FrameCodec, Hello, WireError};

/// Version of the member-to-member protocol; both sides must match exactly.
/// 2: the proofs cover the channel binding (the mesh's TLS, `secure`), so
/// a member of version 1 is told so rather than failing on a proof.
pub const PROTOCOL_VERSION: u16 = 2;

/// Bytes of each side's challenge.
pub const NONCE_LEN: usize = 32;

const DOMAIN: &[u8] = b"stripecast/handshake/v1\0";

type HmacSha256 = Hmac<Sha256>;

/// What a member needs to run handshakes.
#[derive(Clone)]
pub struct HandshakeConfig {
    pub me: MemberId,
    pub cluster: String,
    secret: Vec<u8>,
    /// Every member id of the cluster (this one included).
    pub members: BTreeSet<MemberId>,
}

impl fmt::Debug for HandshakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandshakeConfig")
            .field("me", &self.me)
            .field("cluster", &self.cluster)
            .field("secret", &"<redacted>")
            .field("members", &self.members)
            .finish()
    }
}

impl HandshakeConfig {
    pub fn new(
        me: MemberId,
        cluster: impl Into<String>,
        secret: impl AsRef<[u8]>,
        members: impl IntoIterator<Item = MemberId>,
    ) -> Self {
        HandshakeConfig {
            me,
            cluster: cluster.into(),
            secret: secret.as_ref().to_vec(),
            members: members.into_iter().collect(),
        }
    }

    pub fn from_config(cfg: &MemberConfig) -> Self {
        Self::new(
            cfg.id,
            cfg.cluster.name.clone(),
            cfg.cluster.secret.as_bytes(),
            cfg.voters(),
        )
    }
}

/// Why a handshake failed; the connection is closed in every case.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("wire error: {0}")]
    Wire(#[from] WireError),
    #[error("connection closed during the handshake")]
    Closed,
    #[error("handshake timed out")]
    Timeout,
    #[error("expected {expected}, got a {got} frame")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("protocol version {theirs}, we speak {ours}")]
    Version { ours: u16, theirs: u16 },
    #[error("peer belongs to cluster {0:?}")]
    Cluster(String),
    #[error("member {0} is not in this cluster")]
    UnknownMember(MemberId),
    #[error("member {from} may not dial member {me}: the lower id dials")]
    WrongDirection { from: MemberId, me: MemberId },
    #[error("peer claims to be member {got}, expected member {expected}")]
    WrongPeer { expected: MemberId, got: MemberId },
    #[error("peer meant to reach member {named}, but this is member {me}")]
    WrongTarget { me: MemberId, named: MemberId },
    #[error("nonce of {0} bytes, expected {NONCE_LEN}")]
    BadNonce(usize),
    #[error("proof of the cluster secret is wrong")]
    BadProof,
    #[error("connections from member {0} are refused (partitioned by fault injection)")]
    Refused(MemberId),
}

fn nonce() -> Vec<u8> {
    let mut n = vec![0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut n);
    n
}

/// The MAC one side sends: over the role tag and the whole transcript.
fn proof(
    hs: &HandshakeConfig,
    role: &[u8],
    dialer: MemberId,
    acceptor: MemberId,
    nonce_d: &[u8],
    nonce_a: &[u8],
    binding: &[u8],
) -> HmacSha256 {
    // HMAC takes keys of any length; the error arm cannot happen.
    let mut mac = match HmacSha256::new_from_slice(&hs.secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(DOMAIN);
    mac.update(role);
    mac.update(&PROTOCOL_VERSION.to_le_bytes());
    mac.update(&(hs.cluster.len() as u64).to_le_bytes());
    mac.update(hs.cluster.as_bytes());
    mac.update(&dialer.get().to_le_bytes());
    mac.update(&acceptor.get().to_le_bytes());
    mac.update(nonce_d);
    mac.update(nonce_a);
    // The TLS session's exporter (empty on plain TCP): a proof made for one
    // session does not verify on another (see `secure`).
    mac.update(&(binding.len() as u64).to_le_bytes());
    mac.update(binding);
    mac
}

async fn send<S>(framed: &mut Framed<S, FrameCodec>, frame: &Frame) -> Result<(), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let body = wire::encode_limited(frame, wire::HANDSHAKE_MAX_FRAME_BYTES)?;
    framed.send(body).await?;
    Ok(())
}

async fn recv<S>(framed: &mut Framed<S, FrameCodec>) -> Result<Frame, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match framed.next().await {
        Some(Ok(frame)) => Ok(frame),
        Some(Err(e)) => Err(e.into()),
        None => Err(HandshakeError::Closed),
    }
}

async fn recv_hello<S>(framed: &mut Framed<S, FrameCodec>) -> Result<Hello, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match recv(framed).await? {
        Frame::Hello(h) => Ok(h),
        other => Err(HandshakeError::Unexpected {
            expected: "hello",
            got: other.kind(),
        }),
    }
}

async fn recv_proof<S>(framed: &mut Framed<S, FrameCodec>) -> Result<Vec<u8>, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match recv(framed).await? {
        Frame::Proof { mac } => Ok(mac),
        other => Err(HandshakeError::Unexpected {
            expected: "proof",
            got: other.kind(),
        }),
    }
}

fn check_common(hs: &HandshakeConfig, h: &Hello) -> Result<(), HandshakeError> {
    if h.version != PROTOCOL_VERSION {
        return Err(HandshakeError::Version {
            ours: PROTOCOL_VERSION,
            theirs: h.version,
        });
    }
    if h.cluster != hs.cluster {
        return Err(HandshakeError::Cluster(h.cluster.clone()));
    }
    if h.nonce.len() != NONCE_LEN {
        return Err(HandshakeError::BadNonce(h.nonce.len()));
    }
    Ok(())
}

/// Runs the dialer's side against member `peer` (which must have a higher id).
/// The codec should be [`FrameCodec::handshake`]; `binding` is the channel
/// binding of the stream (`secure::channel_binding`; empty on plain TCP),
/// the same at both ends of one connection.
pub async fn dial<S>(
    framed: &mut Framed<S, FrameCodec>,
    hs: &HandshakeConfig,
    peer: MemberId,
    binding: &[u8],
) -> Result<(), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let nonce_d = nonce();
    send(
        framed,
        &Frame::Hello(Hello {
            version: PROTOCOL_VERSION,
            cluster: hs.cluster.clone(),
            from: hs.me,
            to: peer,
            nonce: nonce_d.clone(),
        }),
    )
    .await?;
    let theirs = recv_hello(framed).await?;
    check_common(hs, &theirs)?;
    if theirs.from != peer {
        return Err(HandshakeError::WrongPeer {
            expected: peer,
            got: theirs.from,
        });
    }
    if theirs.to != hs.me {
        return Err(HandshakeError::WrongTarget {
            me: hs.me,
            named: theirs.to,
        });
    }
    let mine = proof(hs, b"dialer", hs.me, peer, &nonce_d, &theirs.nonce, binding);
    send(
        framed,
        &Frame::Proof {
            mac: mine.finalize().into_bytes().to_vec(),
        },
    )
    .await?;
    let mac = recv_proof(framed).await?;
    proof(
        hs,
        b"acceptor",
        hs.me,
        peer,
        &nonce_d,
        &theirs.nonce,
        binding,
    )
    .verify_slice(&mac)
    .map_err(|_| HandshakeError::BadProof)
}

/// Runs the acceptor's side; returns the authenticated dialer's id.
/// `admit(id)` may refuse a member by id before anything is proven (used for
/// injected partitions).
pub async fn accept<S>(
    framed: &mut Framed<S, FrameCodec>,
    hs: &HandshakeConfig,
    binding: &[u8],
    admit: impl Fn(MemberId) -> bool,
) -> Result<MemberId, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let theirs = recv_hello(framed).await?;
    check_common(hs, &theirs)?;
    let dialer = theirs.from;
    if !hs.members.contains(&dialer) {
        return Err(HandshakeError::UnknownMember(dialer));
    }
    if dialer >= hs.me {
        return Err(HandshakeError::WrongDirection {
            from: dialer,
            me: hs.me,
        });
    }
    if theirs.to != hs.me {
        return Err(HandshakeError::WrongTarget {
            me: hs.me,
            named: theirs.to,
        });
    }
    if !admit(dialer) {
        return Err(HandshakeError::Refused(dialer));
    }
    let nonce_a = nonce();
    send(
        framed,
        &Frame::Hello(Hello {
            version: PROTOCOL_VERSION,
            cluster: hs.cluster.clone(),
            from: hs.me,
            to: dialer,
            nonce: nonce_a.clone(),
        }),
    )
    .await?;
    let mac = recv_proof(framed).await?;
    proof(
        hs,
        b"dialer",
        dialer,
        hs.me,
        &theirs.nonce,
        &nonce_a,
        binding,
    )
    .verify_slice(&mac)
    .map_err(|_| HandshakeError::BadProof)?;
    let mine = proof(
        hs,
        b"acceptor",
        dialer,
        hs.me,
        &theirs.nonce,
        &nonce_a,
        binding,
    );
    send(
        framed,
        &Frame::Proof {
            mac: mine.finalize().into_bytes().to_vec(),
        },
    )
    .await?;
    Ok(dialer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;

    const M0: MemberId = MemberId::new(0);
    const M1: MemberId = MemberId::new(1);
    const M2: MemberId = MemberId::new(2);
    const M7: MemberId = MemberId::new(7);

    fn cfg(me: MemberId, secret: &str) -> HandshakeConfig {
        HandshakeConfig::new(me, "demo", secret, MemberId::from_numbers(0..3))
    }

    fn pair() -> (
        Framed<DuplexStream, FrameCodec>,
        Framed<DuplexStream, FrameCodec>,
    ) {
        let (a, b) = tokio::io::duplex(1 << 16);
        (
            Framed::new(a, FrameCodec::handshake()),
            Framed::new(b, FrameCodec::handshake()),
        )
    }

    async fn run(
        dialer: HandshakeConfig,
        target: MemberId,
        acceptor: HandshakeConfig,
    ) -> (Result<(), HandshakeError>, Result<MemberId, HandshakeError>) {
        run_bound(dialer, target, acceptor, (b"", b"")).await
    }

    /// `run` with each end's channel binding.
    async fn run_bound(
        dialer: HandshakeConfig,
        target: MemberId,
        acceptor: HandshakeConfig,
        (bind_d, bind_a): (&'static [u8], &'static [u8]),
    ) -> (Result<(), HandshakeError>, Result<MemberId, HandshakeError>) {
        let (mut d, mut a) = pair();
        let acc = async move {
            let r = accept(&mut a, &acceptor, bind_a, |_| true).await;
            drop(a); // a failing acceptor closes the connection
            r
        };
        let dial = async move {
            let r = dial(&mut d, &dialer, target, bind_d).await;
            drop(d);
            r
        };
        futures::join!(dial, acc)
    }

    #[actix_rt::test]
    async fn matching_secrets_authenticate_both_ways() {
        let (d, a) = run(cfg(M0, "0123456789abcdef"), M2, cfg(M2, "0123456789abcdef")).await;
        d.unwrap();
        assert_eq!(a.unwrap(), M0);
    }

    #[actix_rt::test]
    async fn proofs_hold_only_on_the_session_they_were_made_for() {
        let s = "0123456789abcdef";
        let (d, a) = run_bound(cfg(M0, s), M1, cfg(M1, s), (b"session-1", b"session-1")).await;
        d.unwrap();
        assert_eq!(a.unwrap(), M0);
        // A relay in the middle holds two TLS sessions: two bindings.
        let (d, a) = run_bound(cfg(M0, s), M1, cfg(M1, s), (b"session-1", b"session-2")).await;
        assert!(matches!(a, Err(HandshakeError::BadProof)), "{a:?}");
        assert!(d.is_err());
    }

    #[actix_rt::test]
    async fn wrong_secret_fails_on_both_sides() {
        let (d, a) = run(cfg(M0, "0123456789abcdef"), M1, cfg(M1, "fedcba9876543210")).await;
        assert!(matches!(a, Err(HandshakeError::BadProof)), "{a:?}");
        assert!(matches!(d, Err(HandshakeError::Closed)), "{d:?}");
    }

    #[actix_rt::test]
    async fn wrong_cluster_version_direction_and_target_are_refused() {
        let s = "0123456789abcdef";
        let other = HandshakeConfig::new(M0, "other", s, MemberId::from_numbers(0..3));
        let (_, a) = run(other, M1, cfg(M1, s)).await;
        assert!(matches!(a, Err(HandshakeError::Cluster(c)) if c == "other"));

        // The higher id may not dial the lower one.
        let (_, a) = run(cfg(M2, s), M1, cfg(M1, s)).await;
        assert!(matches!(
            a,
            Err(HandshakeError::WrongDirection { from: M2, me: M1 })
        ));

        // A dialer that meant to reach member 2 but reached member 1.
        let (d, a) = run(cfg(M0, s), M2, cfg(M1, s)).await;
        assert!(matches!(
            a,
            Err(HandshakeError::WrongTarget { me: M1, named: M2 })
        ));
        assert!(d.is_err());

        // Not a member at all.
        let stranger = HandshakeConfig::new(M7, "demo", s, MemberId::from_numbers([7, 9]));
        let (_, a) = run(
            stranger,
            MemberId::new(9),
            HandshakeConfig::new(MemberId::new(9), "demo", s, MemberId::from_numbers(0..10)),
        )
        .await;
        assert!(a.is_ok(), "7 is a member of 0..10");
        let stranger = HandshakeConfig::new(M7, "demo", s, MemberId::from_numbers([7, 9]));
        let (_, a) = run(stranger, M2, cfg(M2, s)).await;
        assert!(matches!(a, Err(HandshakeError::UnknownMember(M7))));

        // Another version.
        let (mut d, mut a) = pair();
        let bad = Frame::Hello(Hello {
            version: PROTOCOL_VERSION + 1,
            cluster: "demo".into(),
            from: M0,
            to: M1,
            nonce: vec![0; NONCE_LEN],
        });
        send(&mut d, &bad).await.unwrap();
        let r = accept(&mut a, &cfg(M1, s), b"", |_| true).await;
        assert!(matches!(r, Err(HandshakeError::Version { .. })), "{r:?}");
    }

    #[actix_rt::test]
    async fn refused_member_gets_no_hello() {
        let s = "0123456789abcdef";
        let (mut d, mut a) = pair();
        let hs0 = cfg(M0, s);
        let dialer = async move {
            let r = dial(&mut d, &hs0, M1, b"").await;
            drop(d);
            r
        };
        let acceptor = async move {
            let r = accept(&mut a, &cfg(M1, s), b"", |id| id != M0).await;
            drop(a);
            r
        };
        let (d, a) = futures::join!(dialer, acceptor);
        assert!(matches!(a, Err(HandshakeError::Refused(M0))));
        assert!(matches!(d, Err(HandshakeError::Closed)));
    }

    #[actix_rt::test]
    async fn a_reflected_proof_is_rejected() {
        // The acceptor's proof over the same transcript is not the dialer's.
        let hs = cfg(M1, "0123456789abcdef");
        let a = proof(&hs, b"acceptor", M0, M1, &[1; 32], &[2; 32], b"")
            .finalize()
            .into_bytes();
        assert!(proof(&hs, b"dialer", M0, M1, &[1; 32], &[2; 32], b"")
            .verify_slice(&a)
            .is_err());
    }
}
