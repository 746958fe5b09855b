//! Revocation publishing: sharded CRLs (RFC 5280 §5; BR 4.9.7, 4.10, 7.2)
//! and the issuing CA certificate for AIA caIssuers (RFC 5280 §4.2.2.1),
//! served over plain HTTP as BR 7.1.2.11.2 and 7.1.2.7.7 require.
//!
//! Every certificate is assigned a shard from its serial ([`shard_for`]);
//! its cRLDistributionPoints names that shard's URL
//! ([`PublishUrls::crl`]) and the RA stores the shard in
//! `certificates.crl_shard`. The [`generator::Generator`] keeps each
//! shard's CRL in the `crls` table fresh; [`server`] serves them.

pub mod generator;
pub mod server;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::ca::Serial;
use crate::config::{Config, PublishConfig};
use crate::error::{Error, Result};
use crate::sa::leases::Lease;

pub use generator::Generator;

/// Path of the issuing CA certificate (DER), the AIA caIssuers target.
pub const ISSUER_PATH: &str = "/intermediate.der";

/// The URLs certificates carry. Built from `publish.base_url`, which must
/// be `http://` (BR 7.1.2.11.2: CRL distribution points; BR 7.1.2.7.7:
/// caIssuers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishUrls {
    /// Without a trailing slash.
    base: String,
    shards: u32,
}

impl PublishUrls {
    /// `base` is an `http://` origin (optionally with a path prefix);
    /// `shards` is `publish.crl_shards`.
    pub fn new(base: &str, shards: u32) -> Result<PublishUrls> {
        let base = base.trim_end_matches('/');
        let rest = base.strip_prefix("http://").ok_or_else(|| {
            Error::internal(format!(
                "publish.base_url {base:?} must be an http:// URL (BR 7.1.2.11.2)"
            ))
        })?;
        if rest.is_empty()
            || rest.starts_with('/')
            || rest
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
            || !rest.is_ascii()
        {
            return Err(Error::internal(format!(
                "publish.base_url {base:?} is not a plain http:// URL (no query, fragment or spaces)"
            )));
        }
        if shards == 0 {
            return Err(Error::internal("publish.crl_shards must be at least 1"));
        }
        Ok(PublishUrls {
            base: base.to_owned(),
            shards,
        })
    }

    /// The URLs of this configuration (see [`PublishConfig::base_url`]).
    pub fn from_config(cfg: &PublishConfig) -> Result<PublishUrls> {
        Self::new(&cfg.base_url(), cfg.crl_shards)
    }

    /// `{base}/crl/{shard}.crl`: the cRLDistributionPoints URL of the
    /// certificates in `shard`, and the CRL's issuingDistributionPoint.
    pub fn crl(&self, shard: u32) -> String {
        format!("{}/crl/{shard}.crl", self.base)
    }

    /// `{base}/intermediate.der`: the AIA caIssuers URL.
    pub fn issuer(&self) -> String {
        format!("{}{ISSUER_PATH}", self.base)
    }

    /// The shard of a new certificate and its CRL URL.
    pub fn crl_for(&self, serial: &Serial) -> (u32, String) {
        let shard = shard_for(serial, self.shards);
        (shard, self.crl(shard))
    }

    pub fn shards(&self) -> u32 {
        self.shards
    }
}

/// The CRL shard of a certificate: the serial's last four octets modulo
/// `shards` (a serial is random, so shards fill evenly). Deterministic, so
/// anyone holding the serial can recompute it. `shards` 0 is taken as 1.
pub fn shard_for(serial: &Serial, shards: u32) -> u32 {
    let [.., a, b, c, d] = serial.0;
    u32::from_be_bytes([a, b, c, d]) % shards.max(1)
}

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
            tokio::spawn(server::serve(listener, generator.clone(), async move {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_and_shard_numbered() {
        let u = PublishUrls::new("http://crl.example.jp/", 16).unwrap();
        assert_eq!(u.crl(3), "http://crl.example.jp/crl/3.crl");
        assert_eq!(u.issuer(), "http://crl.example.jp/intermediate.der");
        let u = PublishUrls::new("http://example.jp/pki", 1).unwrap();
        assert_eq!(u.crl(0), "http://example.jp/pki/crl/0.crl");
        for bad in [
            "https://crl.example.jp",
            "ldap://x",
            "http://",
            "http:///x",
            "http://a b",
            "http://x/?q",
            "crl.example.jp",
        ] {
            assert!(PublishUrls::new(bad, 16).is_err(), "{bad}");
        }
        assert!(PublishUrls::new("http://x", 0).is_err());
    }

    #[test]
    fn shards_are_deterministic_and_in_range() {
        let mut s = Serial([0x11; 16]);
        s.0[12..].copy_from_slice(&[0, 0, 1, 0x13]);
        assert_eq!(shard_for(&s, 16), 0x113 % 16);
        assert_eq!(shard_for(&s, 16), shard_for(&s, 16));
        assert_eq!(shard_for(&s, 1), 0);
        assert_eq!(shard_for(&s, 0), 0);
        let mut seen = [0u32; 7];
        for _ in 0..700 {
            let s = Serial::random().unwrap();
            seen[shard_for(&s, 7) as usize] += 1;
        }
        assert!(seen.iter().all(|n| *n > 40), "{seen:?}");
        let u = PublishUrls::new("http://c.test", 7).unwrap();
        let (shard, url) = u.crl_for(&s);
        assert_eq!(url, format!("http://c.test/crl/{shard}.crl"));
    }

    /// `app::start` binds the listener (port 0 here), runs the generator
    /// and serves; the CRL names the bound port; stop drains it.
    #[tokio::test]
    async fn the_app_publishes_on_its_own_listener() {
        use http_body_util::{BodyExt, Empty};
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::TokioExecutor;

        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        cfg.server.listen = "127.0.0.1:0".parse().unwrap();
        cfg.server.tls = crate::config::TlsMode::None;
        cfg.admin.listen = None;
        cfg.publish.listen = Some("127.0.0.1:0".parse().unwrap());
        cfg.publish.crl_shards = 2;
        let running = crate::app::start(cfg).await.unwrap();
        let addr = running.publish_addr.unwrap();
        assert_ne!(addr.port(), 0);

        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
        let get = |path: &str| {
            let uri: hyper::Uri = format!("http://{addr}{path}").parse().unwrap();
            let client = client.clone();
            async move {
                let r = client.get(uri).await.unwrap();
                let status = r.status();
                (status, r.into_body().collect().await.unwrap().to_bytes())
            }
        };
        let (status, der) = get("/crl/1.crl").await;
        assert_eq!(status, hyper::StatusCode::OK);
        let want = format!("http://localhost:{}/crl/1.crl", addr.port());
        assert!(
            der.windows(want.len()).any(|w| w == want.as_bytes()),
            "the CRL does not name {want}"
        );
        let (status, _) = get("/intermediate.der").await;
        assert_eq!(status, hyper::StatusCode::OK);
        let (status, _) = get("/crl/2.crl").await;
        assert_eq!(status, hyper::StatusCode::NOT_FOUND);
        tokio::time::timeout(std::time::Duration::from_secs(20), running.stop())
            .await
            .unwrap()
            .unwrap();
    }
}
