//! Revocation publishing: sharded CRLs (RFC 5280 §5; BR 4.9.7, 4.10, 7.2)
//! and the issuing CA certificate for AIA caIssuers (RFC 5280 §4.2.2.1),
//! served over plain HTTP as BR 7.1.2.11.2 and 7.1.2.7.7 require.
//!
//! Every certificate is assigned a shard from its serial
//! ([`crate::config::crl_shard`]); its cRLDistributionPoints names that
//! shard's URL ([`crate::config::PublishUrls::crl`]) and the RA stores the shard in
//! `certificates.crl_shard`. The [`generator::Generator`] keeps each
//! shard's CRL in the `crls` table fresh; [`server`] serves them, and
//! the trust seals ([`seal`]).

pub mod generator;
pub mod seal;
pub mod server;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use crate::config::ISSUER_PATH;
use crate::config::{Config, PublishConfig};
use crate::error::{Error, Result};
use crate::sa::leases::Lease;

pub use generator::Generator;

/// Binds `publish.listen`, if set.
pub async fn bind(cfg: &PublishConfig) -> Result<Option<TcpListener>> {
    let Some(addr) = cfg.listen else {
        return Ok(None);
    };
    TcpListener::bind(addr)
        .await
        .map(Some)
        .map_err(|e| Error::internal(format!("binding the CRL listener {addr}: {e}")))
}

/// Like [`bind`], and when the configured port was 0 writes the bound
/// address back into `cfg`, so that the default `base_url` names it.
pub async fn bind_and_fix_port(cfg: &mut Config) -> Result<Option<TcpListener>> {
    let listener = bind(&cfg.publish).await?;
    if let Some(l) = &listener {
        cfg.publish.listen = Some(local_addr(l)?);
    }
    Ok(listener)
}

pub fn local_addr(listener: &TcpListener) -> Result<SocketAddr> {
    listener
        .local_addr()
        .map_err(|e| Error::internal(format!("CRL listener address: {e}")))
}

/// The generation loop and (when bound) the HTTP listener, running until
/// the shutdown signal.
pub struct Publishing {
    generator: tokio::task::JoinHandle<()>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Publishing {
    /// Starts both on the current runtime.
    pub fn spawn(
        generator: Generator,
        seals: Option<crate::vetting::seal::Seals>,
        listener: Option<TcpListener>,
        lease: Lease,
        shutdown: watch::Receiver<bool>,
    ) -> Publishing {
        let server = listener.map(|listener| {
            tracing::info!(
                addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
                crl = %generator.urls().crl(0),
                issuer = %generator.urls().issuer(),
                "serving CRLs and the issuer certificate"
            );
            let mut sd = shutdown.clone();
            let publisher = server::Publisher::new(generator.clone(), seals);
            tokio::spawn(server::serve(listener, publisher, async move {
                let _ = sd.wait_for(|s| *s).await;
            }))
        });
        Publishing {
            generator: tokio::spawn(generator.run(lease, shutdown)),
            server,
        }
    }

    /// Waits until both have stopped (after the shutdown signal).
    pub async fn stopped(self) {
        let tasks = [Some(self.generator), self.server];
        for task in tasks.into_iter().flatten() {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "a publishing task failed");
            }
        }
    }

    /// After the rest of the server ended with `result`: on success waits
    /// for publishing to drain (it saw the same shutdown signal); on an
    /// error stops it at once, since no shutdown signal may ever come.
    pub async fn finish(self, result: Result<()>) -> Result<()> {
        if result.is_ok() {
            self.stopped().await;
        } else {
            self.generator.abort();
            if let Some(server) = self.server {
                server.abort();
            }
        }
        result
    }
}
