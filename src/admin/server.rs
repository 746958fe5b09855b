//! The admin listener: plain HTTP/1.1 and HTTP/2 (it belongs on loopback
//! or a management network; put a TLS proxy in front otherwise), a header
//! read timeout, and graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::Admin;

/// Serves the admin API until `shutdown` resolves (see `crate::http`).
pub async fn serve(listener: TcpListener, admin: Arc<Admin>, shutdown: impl Future<Output = ()>) {
    crate::http::serve(listener, None, admin, shutdown).await
}
