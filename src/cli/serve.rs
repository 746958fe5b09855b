//! `trustgate serve` (the default command): the ACME API and, when
//! configured, the admin and CRL listeners, until SIGTERM or Ctrl-C.

use tokio::sync::watch;
use trustgate::app::App;
use trustgate::config::Config;
use trustgate::error::{Error, Result};

pub async fn run(cfg: Config) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .map_err(|e| Error::internal(format!("binding {}: {e}", cfg.server.listen)))?;
    let app = App::build(cfg).await?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("signal received; shutting down");
        let _ = tx.send(true);
    });
    app.run(listener, rx).await
}

pub(super) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
