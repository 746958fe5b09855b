//! The ACME listener: TCP (+ TLS via rustls), HTTP/1.1 and HTTP/2, header
//! read timeout, and graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::Wfe;

/// Serves the ACME API until `shutdown` resolves (see `crate::http`).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    wfe: Arc<Wfe>,
    shutdown: impl Future<Output = ()>,
) {
    crate::http::serve(listener, tls, wfe, shutdown).await
}
