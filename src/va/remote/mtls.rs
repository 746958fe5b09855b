//! The TLS of the primary ↔ perspective channel: each side presents a
//! certificate and trusts only the one CA configured for the other side
//! (never the system roots). Both configurations live here so they agree
//! on versions, provider (ring) and ALPN.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::error::{Error, Result};

/// HTTP/2 first (one connection carries a primary's parallel checks),
/// HTTP/1.1 for clients without it.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The primary's side: trusts only `ca_cert` for the perspective's
/// server certificate and presents `client_cert` with `client_key`.
pub fn client_config(
    ca_cert: &Path,
    client_cert: &Path,
    client_key: &Path,
) -> Result<Arc<rustls::ClientConfig>> {
    let roots = read_roots(ca_cert)?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("perspective TLS versions: {e}")))?
        .with_root_certificates(roots)
        .with_client_auth_cert(read_certs(client_cert)?, read_key(client_key)?)
        .map_err(|e| Error::internal(format!("{}: {e}", client_cert.display())))?;
    cfg.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}

/// The perspective's side: presents `cert` with `key` and refuses every
/// client without a certificate issued by `client_ca`.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: &Path,
) -> Result<Arc<rustls::ServerConfig>> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(read_roots(client_ca)?), provider())
            .build()
            .map_err(|e| Error::internal(format!("{}: {e}", client_ca.display())))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("perspective TLS versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(read_certs(cert)?, read_key(key)?)
        .map_err(|e| Error::internal(format!("{}: {e}", cert.display())))?;
    cfg.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every CERTIFICATE block of a PEM file, in order; at least one.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = read_pem(path)?
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| CertificateDer::from(p.into_contents()))
        .collect();
    if certs.is_empty() {
        return Err(Error::internal(format!(
            "{}: no CERTIFICATE in the file",
            path.display()
        )));
    }
    Ok(certs)
}

/// The file's certificates as the only trust anchors.
fn read_roots(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| Error::internal(format!("{}: {e}", path.display())))?;
    }
    Ok(roots)
}

/// The first private key of a PEM file: PKCS#8, SEC1 or PKCS#1. Errors
/// name the file, never its contents.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let key = read_pem(path)?.into_iter().find_map(|p| match p.tag() {
        "PRIVATE KEY" => Some(PrivateKeyDer::Pkcs8(p.into_contents().into())),
        "EC PRIVATE KEY" => Some(PrivateKeyDer::Sec1(p.into_contents().into())),
        "RSA PRIVATE KEY" => Some(PrivateKeyDer::Pkcs1(p.into_contents().into())),
        _ => None,
    });
    key.ok_or_else(|| Error::internal(format!("{}: no private key in the file", path.display())))
}

fn read_pem(path: &Path) -> Result<Vec<pem::Pem>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?;
    pem::parse_many(text).map_err(|e| Error::internal(format!("{}: {e}", path.display())))
}
