//! The TLS settings a listener serves with (`serve` does the handshake):
//! one builder for the ACME and the admin listener.

use std::sync::Arc;

use crate::error::{Error, Result};

/// A rustls server config from a PEM chain (leaf first) and its PKCS#8
/// key, offering HTTP/2 and HTTP/1.1.
pub fn tls_config(chain_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>> {
    let certs = pem::parse_many(chain_pem)
        .map_err(|e| Error::internal(format!("TLS certificate PEM: {e}")))?
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| rustls::pki_types::CertificateDer::from(p.into_contents()))
        .collect::<Vec<_>>();
    let key = pem::parse(key_pem).map_err(|e| Error::internal(format!("TLS key PEM: {e}")))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.into_contents().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::internal(format!("TLS certificate: {e}")))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
