//! Encryption of the peer mesh: every member-to-member connection runs
//! inside TLS 1.3 when `[cluster] peer_tls` says so (`auto`: whenever a peer
//! address is not loopback), and the secret handshake runs inside it.
//!
//! Who is on the other end is proven by the handshake (HMAC over a
//! challenge with the cluster secret, see `handshake`), not by a
//! certificate: members share a secret, not a PKI. Each process makes a
//! throw-away self-signed certificate at start and accepts any certificate
//! from its peer; the TLS session is then bound to the secret handshake by
//! mixing the session's exported keying material (RFC 5705/8446 exporter,
//! [`channel_binding`]) into both proofs. A man in the middle who
//! terminates TLS towards each side holds two sessions with two different
//! exporters, so the proofs he relays do not verify and the connection is
//! refused: confidentiality and integrity hold against anyone who does not
//! know the cluster secret.
//!
//! Invariants: TLS 1.3 only; one crypto provider (`crate::tls::provider`);
//! the peer's handshake signature is still checked against the certificate
//! it sent (the session is a complete, well-formed TLS 1.3 session), only
//! the certificate's issuer is not; the binding is [`BINDING_LEN`] bytes
//! from both ends of one session.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

use super::stream::PeerStream;

/// Bytes of exported keying material mixed into the handshake's proofs.
pub const BINDING_LEN: usize = 32;

/// The exporter label (RFC 8446 7.5); changing it changes the protocol.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-stripecast-peer-v1";

/// The name dialers put in their ClientHello; it names no host and is not
/// checked (the secret handshake authenticates).
const PEER_SERVER_NAME: &str = "stripecast-peer";

/// Why the peer mesh's TLS could not be set up or run.
#[derive(Debug, thiserror::Error)]
pub enum SecureError {
    #[error("cannot make the peer certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("peer TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("peer TLS handshake: {0}")]
    Io(#[from] std::io::Error),
}

/// Both ends of the peer mesh's TLS for one process. Cheap to clone.
#[derive(Clone)]
pub struct PeerTlsConfig {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl std::fmt::Debug for PeerTlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTlsConfig(TLS 1.3, bound to the secret handshake)")
    }
}

impl PeerTlsConfig {
    /// A fresh throw-away certificate and both configurations.
    pub fn generate() -> Result<PeerTlsConfig, SecureError> {
        let made = rcgen::generate_simple_self_signed(vec![PEER_SERVER_NAME.to_string()])?;
        let cert = CertificateDer::from(made.cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
        let provider = crate::tls::provider();
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)?;
        let client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
            .with_no_client_auth();
        Ok(PeerTlsConfig {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }

    /// The dialer's side: TLS over a connected socket.
    pub async fn connect(&self, tcp: TcpStream) -> Result<PeerStream, SecureError> {
        let name = ServerName::try_from(PEER_SERVER_NAME)
            .map_err(|_| rustls::Error::General("peer server name".into()))?;
        let tls = self.connector.connect(name, tcp).await?;
        Ok(PeerStream::Tls(Box::new(tls.into())))
    }

    /// The acceptor's side: TLS over an accepted socket.
    pub async fn accept(&self, tcp: TcpStream) -> Result<PeerStream, SecureError> {
        let tls = self.acceptor.accept(tcp).await?;
        Ok(PeerStream::Tls(Box::new(tls.into())))
    }
}

/// The session's exported keying material (empty on a plain connection):
/// what both proofs of the secret handshake cover.
pub fn channel_binding(stream: &PeerStream) -> Vec<u8> {
    match stream {
        PeerStream::Plain(_) => Vec::new(),
        PeerStream::Tls(tls) => {
            let out = [0u8; BINDING_LEN];
            let exported = match tls.as_ref() {
                TlsStream::Client(c) => {
                    c.get_ref()
                        .1
                        .export_keying_material(out, EXPORTER_LABEL, None)
                }
                TlsStream::Server(s) => {
                    s.get_ref()
                        .1
                        .export_keying_material(out, EXPORTER_LABEL, None)
                }
            };
            // Fails only before the handshake ends; an empty binding then
            // fails the proofs against any TLS peer, the safe side.
            exported.map(|b| b.to_vec()).unwrap_or_default()
        }
    }
}

/// Accepts any certificate: peers are authenticated by the secret
/// handshake bound to this session, not by a certificate authority. The
/// handshake signature is still verified against the presented key.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // TLS 1.2 is not offered.
        Err(rustls::Error::General(
            "TLS 1.2 is not spoken between peers".into(),
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn both_ends_of_one_session_share_a_binding_and_bytes_pass() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server_side = PeerTlsConfig::generate().unwrap();
        let client_side = PeerTlsConfig::generate().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut s = server_side.accept(tcp).await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
            s.flush().await.unwrap();
            channel_binding(&s)
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut c = client_side.connect(tcp).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        c.flush().await.unwrap();
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        let mine = channel_binding(&c);
        let theirs = server.await.unwrap();
        assert_eq!(mine.len(), BINDING_LEN);
        assert_eq!(mine, theirs, "one session, one binding");

        // Another session has another binding: a relay cannot reuse proofs.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server_side = PeerTlsConfig::generate().unwrap();
        let server =
            tokio::spawn(
                async move { server_side.accept(listener.accept().await.unwrap().0).await },
            );
        let c2 = client_side
            .connect(TcpStream::connect(addr).await.unwrap())
            .await
            .unwrap();
        let _s2 = server.await.unwrap().unwrap();
        assert_ne!(channel_binding(&c2), mine);
    }

    #[tokio::test]
    async fn a_plain_peer_cannot_talk_to_a_tls_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = PeerTlsConfig::generate().unwrap();
        let server =
            tokio::spawn(async move { tls.accept(listener.accept().await.unwrap().0).await });
        let mut plain = TcpStream::connect(addr).await.unwrap();
        plain.write_all(&[0u8; 64]).await.unwrap();
        assert!(server.await.unwrap().is_err());
    }
}
