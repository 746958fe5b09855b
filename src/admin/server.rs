//! The admin listener: HTTP/1.1 and HTTP/2, over TLS when `admin.tls` is
//! set (plain HTTP otherwise: loopback, or a management network behind a
//! TLS proxy), a header read timeout, and graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::Admin;

/// Serves the admin API and the console until `shutdown` resolves (see
/// `crate::http`).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    admin: Arc<Admin>,
    shutdown: impl Future<Output = ()>,
) {
    crate::http::serve(listener, tls, admin, shutdown).await
}
