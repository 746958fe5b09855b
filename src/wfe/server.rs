//! The ACME listener: TCP (+ TLS via rustls), HTTP/1.1 and HTTP/2, header
//! read timeout, and graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::Wfe;
use crate::error::{Error, Result};

/// Builds a rustls server config from a PEM chain and a PKCS#8 key.
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

/// Serves the ACME API until `shutdown` resolves (see `crate::http`).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    wfe: Arc<Wfe>,
    shutdown: impl Future<Output = ()>,
) {
    crate::http::serve(listener, tls, wfe, shutdown).await
}
