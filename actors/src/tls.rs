//! TLS for the member's client-facing listeners (HTTP API and S3): the
//! certificate and key an operator names in `[http] tls_cert` / `tls_key`,
//! loaded once at start into a rustls server configuration.
//!
//! Invariants: one crypto provider everywhere (ring, named explicitly so a
//! second provider pulled in by another crate can never make the choice
//! ambiguous); TLS 1.2 and 1.3 only (rustls's safe defaults); a file that
//! cannot be read or holds no certificate / no key is an error at start,
//! never a listener that fails every handshake. Errors name the config
//! field and the file (they go to the operator's log, never to a client).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the listeners' TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed (`field`: the config field
    /// or CLI flag that named it).
    #[error("{field} = {path:?}: {reason}")]
    File {
        field: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// rustls refused the pair (e.g. the key is not the certificate's).
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider every TLS configuration of a member uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the certificate chain and key and builds the listeners' server
/// configuration, offering the ALPN protocols given (e.g. `http/1.1`).
pub fn server_config(
    cert: &Path,
    key: &Path,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let (chain, key) = load(cert, key)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A client configuration that trusts the certificate authorities in the
/// PEM file `ca` (and nothing else): members' certificates are usually the
/// cluster's own. For the CLI, the benchmarks and the tests.
pub fn client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let file_error = |reason: String| TlsError::File {
        field: "ca",
        path: ca.to_path_buf(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| file_error(e.to_string()))? {
        let cert = cert.map_err(|e| file_error(e.to_string()))?;
        roots.add(cert)?;
    }
    if roots.is_empty() {
        return Err(file_error("no PEM certificate in the file".into()));
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificate chain and private key of two PEM files.
pub fn load(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let file_error = |field: &'static str, path: &Path, reason: String| TlsError::File {
        field,
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error("tls_cert", cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error("tls_cert", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(file_error(
            "tls_cert",
            cert,
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        let reason = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (PKCS#8, PKCS#1 or SEC1) in the file".to_string()
            }
            other => other.to_string(),
        };
        file_error("tls_key", key, reason)
    })?;
    Ok((chain, key))
}

/// The files of a local certificate authority and the one certificate it
/// signed for a machine's members (see [`local_certificates`]).
#[derive(Debug, Clone)]
pub struct LocalCertificates {
    /// The CA's certificate (PEM): what clients trust.
    pub ca: PathBuf,
    /// The members' certificate (PEM), for `localhost`, `*.localhost`,
    /// `127.0.0.1` and `::1`.
    pub cert: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub key: PathBuf,
}

/// Makes (or, when all three files exist, keeps) a local CA and a server
/// certificate signed by it in `dir`: `ca.pem`, `member.pem`,
/// `member-key.pem`. For clusters on one machine (`up --tls`); a real
/// deployment brings certificates from its own CA.
pub fn local_certificates(dir: &Path) -> Result<LocalCertificates, TlsError> {
    let files = LocalCertificates {
        ca: dir.join("ca.pem"),
        cert: dir.join("member.pem"),
        key: dir.join("member-key.pem"),
    };
    if files.ca.is_file() && files.cert.is_file() && files.key.is_file() {
        return Ok(files);
    }
    let made = make_local(dir, &files).map_err(|reason| TlsError::File {
        field: "tls_cert",
        path: dir.to_path_buf(),
        reason,
    })?;
    Ok(made)
}

fn make_local(dir: &Path, files: &LocalCertificates) -> Result<LocalCertificates, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let e = |e: rcgen::Error| e.to_string();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "stripecast local CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(e)?;
    let ca = ca_params.self_signed(&ca_key).map_err(e)?;
    let names = ["localhost", "*.localhost", "127.0.0.1", "::1"].map(String::from);
    let mut params = CertificateParams::new(names.to_vec()).map_err(e)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "stripecast member");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(e)?;
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(e)?;
    let write = |path: &Path, text: &str, mode: u32| -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    write(&files.key, &key.serialize_pem(), 0o600)?;
    write(&files.cert, &cert.pem(), 0o644)?;
    write(&files.ca, &ca.pem(), 0o644)?;
    Ok(files.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn loads_a_pair_and_names_the_field_of_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = write(dir.path(), "cert.pem", &made.cert.pem());
        let key = write(dir.path(), "key.pem", &made.key_pair.serialize_pem());
        assert!(server_config(&cert, &key, &[b"http/1.1"]).is_ok());

        let missing = dir.path().join("missing.pem");
        let e = server_config(&missing, &key, &[]).unwrap_err().to_string();
        assert!(e.contains("tls_cert"), "{e}");
        let e = server_config(&key, &key, &[]).unwrap_err().to_string();
        assert!(
            e.contains("tls_cert") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = server_config(&cert, &cert, &[]).unwrap_err().to_string();
        assert!(
            e.contains("tls_key") && e.contains("no PEM private key"),
            "{e}"
        );

        // A local CA's certificate is served and verified by its CA.
        let local = local_certificates(&dir.path().join("local")).unwrap();
        assert!(server_config(&local.cert, &local.key, &[]).is_ok());
        assert!(client_config(&local.ca).is_ok());
        let e = client_config(&local.key).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
        let again = local_certificates(&dir.path().join("local")).unwrap();
        assert_eq!(
            std::fs::read(&again.ca).unwrap(),
            std::fs::read(&local.ca).unwrap(),
            "kept, not remade"
        );

        // A key that is not the certificate's.
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let wrong = write(dir.path(), "other.pem", &other.key_pair.serialize_pem());
        assert!(server_config(&cert, &wrong, &[]).is_err());
    }
}
