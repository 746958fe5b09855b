//! `trustgate perspective`: a remote validation perspective (BR 3.2.2.9).
//! It performs the checks the primary VA asks for — a domain validation
//! or a CAA check — with its own resolvers, DNSSEC and address checks
//! (its own `[va]` table), and answers with the outcome and its evidence.
//! It never touches a database and never decides issuance.
//!
//! The API is one route, `POST /v1/check` (`server`), over HTTPS with
//! mandatory client certificates from `perspective.client_ca` only.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::{PerspectiveConfig, VaConfig};
use crate::core::Clock;
use crate::error::Result;
use crate::va::Validator;

mod check;
pub mod pki;
mod server;

pub use server::{CHECK_PATH, MAX_CHECK_BYTES};

/// The perspective: its validator on its clock.
pub struct Perspective {
    validator: Validator,
    clock: Clock,
    /// Bounds one request; the validator bounds the check itself by
    /// `va.timeout_secs`.
    timeout: Duration,
}

impl Perspective {
    pub fn new(va: &VaConfig, clock: Clock) -> Result<Perspective> {
        Ok(Perspective {
            validator: Validator::new(va)?.with_clock(clock.clone()),
            clock,
            timeout: Duration::from_secs(va.timeout_secs.max(1) + 1),
        })
    }
}

/// The listener's TLS: `tls_cert`/`tls_key`, and only client
/// certificates issued by `client_ca`. Fails on an unreadable file.
pub fn tls_config(cfg: &PerspectiveConfig) -> Result<Arc<rustls::ServerConfig>> {
    crate::va::remote::mtls::server_config(&cfg.tls_cert, &cfg.tls_key, &cfg.client_ca)
}

/// Serves the perspective API on `listener` until `shutdown` resolves
/// (see `crate::http`).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    perspective: Arc<Perspective>,
    shutdown: impl Future<Output = ()>,
) {
    crate::http::serve(listener, Some(tls), perspective, shutdown).await
}
