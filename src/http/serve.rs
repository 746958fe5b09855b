//! The one serve loop: accept (at most `max_connections` open) → (TLS
//! handshake) → serve the connection behind the edge, cut when it idles,
//! until shutdown; then drain open connections.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::edge::{handle, Service};
use crate::metrics::{Cut, HttpMetrics};

/// Open connections get this long to finish after shutdown begins, and a
/// connection told to close (idle, shutdown) this long before it is dropped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of file descriptors and the like).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// At most one warning per listener this often while it sits at its cap.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// What a listener allows one connection (`[server]` in the config). A
/// slow client holds a connection no longer than these, whatever it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most. At the cap the listener stops accepting
    /// (as nginx and HAProxy do): new connections wait in the kernel's
    /// backlog until one closes, rather than being accepted and dropped.
    pub max_connections: usize,
    /// The TLS handshake must finish within this.
    pub handshake: Duration,
    /// A request's head must arrive within this, counted from the
    /// connection's start (after TLS) or, on HTTP/1.1, from the end of the
    /// previous response: it is also HTTP/1.1's keep-alive wait.
    pub header: Duration,
    /// A request's whole body must arrive within this of its head.
    pub body: Duration,
    /// A connection with no request in flight is closed after this (an
    /// HTTP/2 connection with no open stream gets a GOAWAY).
    pub idle: Duration,
    /// Streams one HTTP/2 connection may have open at once.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 PING interval; `None`: no pings.
    pub h2_keep_alive_interval: Option<Duration>,
    /// An HTTP/2 PING not answered within this closes the connection.
    pub h2_keep_alive_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            handshake: Duration::from_secs(10),
            header: Duration::from_secs(10),
            body: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            h2_max_concurrent_streams: 100,
            h2_keep_alive_interval: Some(Duration::from_secs(30)),
            h2_keep_alive_timeout: Duration::from_secs(20),
        }
    }
}

/// Serves `svc` on `listener` until `shutdown` resolves, then drains open
/// connections.
pub async fn serve<S: Service>(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    svc: Arc<S>,
    shutdown: impl Future<Output = ()>,
) {
    let name = S::LISTENER.name();
    let connections = Arc::new(Connections::new(name, tls, svc));
    let mut gate = Gate::new(connections.limits.max_connections);
    let (stop, _) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = gate.accept(name, &listener, connections.metrics()) => accepted,
            _ = &mut shutdown => break,
        };
        if let Some((stream, peer, slot)) = accepted {
            let open = Open::new(connections.svc.clone(), slot);
            tokio::spawn(
                connections
                    .clone()
                    .serve(stream, peer, open, stop.subscribe()),
            );
        }
    }
    drain(name, stop).await;
}

/// The listener's connection slots, and its warnings when they run out.
struct Gate {
    slots: Arc<Semaphore>,
    max: usize,
    last_warning: Option<Instant>,
    waits_unreported: u64,
}

impl Gate {
    fn new(max: usize) -> Self {
        let max = max.max(1);
        Gate {
            slots: Arc::new(Semaphore::new(max)),
            max,
            last_warning: None,
            waits_unreported: 0,
        }
    }

    /// A free slot, then the next connection; `None` after a failed
    /// accept, once the backoff has passed, so the loop keeps serving.
    async fn accept(
        &mut self,
        name: &'static str,
        listener: &TcpListener,
        metrics: Option<&HttpMetrics>,
    ) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
        let slot = self.slot(name, metrics).await;
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                Some((stream, peer, slot))
            }
            Err(e) => {
                tracing::warn!(listener = name, error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                None
            }
        }
    }

    /// Waits for a connection to close when all slots are taken, warning
    /// once per `CAP_WARNING_EVERY` rather than once per connection.
    async fn slot(
        &mut self,
        name: &'static str,
        metrics: Option<&HttpMetrics>,
    ) -> OwnedSemaphorePermit {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return slot;
        }
        self.waits_unreported += 1;
        if let Some(m) = metrics {
            m.connection_cap_reached();
        }
        if self
            .last_warning
            .is_none_or(|t| t.elapsed() >= CAP_WARNING_EVERY)
        {
            tracing::warn!(
                listener = name,
                max_connections = self.max,
                times = self.waits_unreported,
                "connection cap reached: new connections wait in the backlog until one closes"
            );
            self.last_warning = Some(Instant::now());
            self.waits_unreported = 0;
        }
        // The semaphore is never closed.
        loop {
            if let Ok(slot) = self.slots.clone().acquire_owned().await {
                return slot;
            }
        }
    }
}

/// Tells every connection to finish, and waits up to `DRAIN_TIMEOUT` for
/// them to close.
async fn drain(name: &'static str, stop: watch::Sender<()>) {
    tracing::info!(listener = name, "shutting down: draining open connections");
    let _ = stop.send(());
    if tokio::time::timeout(DRAIN_TIMEOUT, stop.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            "connections still open after the drain timeout; closing them"
        );
    }
}

/// One open connection: its slot, and its place in the open gauge.
struct Open<S: Service> {
    svc: Arc<S>,
    _slot: OwnedSemaphorePermit,
}

impl<S: Service> Open<S> {
    fn new(svc: Arc<S>, slot: OwnedSemaphorePermit) -> Self {
        if let Some(m) = svc.metrics() {
            m.connection_opened();
        }
        Open { svc, _slot: slot }
    }

    fn cut(&self, why: Cut) {
        if let Some(m) = self.svc.metrics() {
            m.connection_cut(why);
        }
    }
}

impl<S: Service> Drop for Open<S> {
    fn drop(&mut self) {
        if let Some(m) = self.svc.metrics() {
            m.connection_closed();
        }
    }
}

/// What every connection of one listener shares.
struct Connections<S> {
    name: &'static str,
    tls: Option<TlsAcceptor>,
    http: auto::Builder<TokioExecutor>,
    limits: ConnectionLimits,
    svc: Arc<S>,
}

impl<S: Service> Connections<S> {
    fn new(name: &'static str, tls: Option<Arc<rustls::ServerConfig>>, svc: Arc<S>) -> Self {
        let limits = svc.connection_limits();
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header);
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.h2_max_concurrent_streams)
            .keep_alive_interval(limits.h2_keep_alive_interval)
            .keep_alive_timeout(limits.h2_keep_alive_timeout);
        Connections {
            name,
            tls: tls.map(TlsAcceptor::from),
            http,
            limits,
            svc,
        }
    }

    fn metrics(&self) -> Option<&HttpMetrics> {
        self.svc.metrics()
    }

    /// One connection: the TLS handshake if the listener has TLS, then
    /// HTTP until the client, the idle timeout or the shutdown ends it.
    async fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        open: Open<S>,
        stop: watch::Receiver<()>,
    ) {
        let result = match &self.tls {
            None => self.http(stream, peer, &open, stop).await,
            Some(acceptor) => match self.handshake(acceptor, stream, peer, &open).await {
                Some(tls) => self.http(tls, peer, &open, stop).await,
                None => return,
            },
        };
        if let Err(e) = result {
            if e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
            {
                open.cut(Cut::Header);
            }
            tracing::debug!(listener = self.name, %peer, error = %e, "connection ended with an error");
        }
    }

    /// The TLS handshake, within the handshake timeout; `None` if it failed.
    async fn handshake(
        &self,
        acceptor: &TlsAcceptor,
        stream: TcpStream,
        peer: SocketAddr,
        open: &Open<S>,
    ) -> Option<TlsStream<TcpStream>> {
        match tokio::time::timeout(self.limits.handshake, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(e)) => {
                tracing::debug!(listener = self.name, %peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                open.cut(Cut::Handshake);
                None
            }
        }
    }

    /// HTTP/1.1 or HTTP/2 on `io`, every request through the edge (the
    /// peer's address in its extensions: `http::Peer`). Told to
    /// finish when it idles or the listener stops, and dropped if it has
    /// not within `DRAIN_TIMEOUT` (a client that does not read its
    /// response).
    async fn http<IO>(
        &self,
        io: IO,
        peer: SocketAddr,
        open: &Open<S>,
        mut stop: watch::Receiver<()>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let svc = self.svc.clone();
        let requests = activity.clone();
        let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(super::Peer(peer));
            let svc = svc.clone();
            let busy = requests.begin();
            async move {
                let _busy = busy;
                Ok::<_, Infallible>(handle(&*svc, req).await)
            }
        });
        let conn = self.http.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        tokio::select! {
            result = conn.as_mut() => return result,
            _ = stop.changed() => {}
            why = activity.idle(self.limits.header, self.limits.idle) => open.cut(why),
        }
        conn.as_mut().graceful_shutdown();
        // Told to close: how it ends no longer matters.
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, conn).await;
        Ok(())
    }
}

/// Requests in flight on one connection, and since when it has had none.
struct Activity(watch::Sender<Requests>);

#[derive(Clone, Copy)]
struct Requests {
    in_flight: usize,
    since: Instant,
    served: bool,
}

/// A request in flight; it ends when dropped (answered or abandoned).
struct Busy(Arc<Activity>);

impl Activity {
    fn new() -> Self {
        Activity(watch::Sender::new(Requests {
            in_flight: 0,
            since: Instant::now(),
            served: false,
        }))
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.0.send_modify(|r| r.in_flight += 1);
        Busy(self.clone())
    }

    /// Resolves once the connection has had no request in flight for
    /// `header` (before its first request: a client that connects and
    /// says nothing, or never finishes its first head) or `idle` (after).
    async fn idle(&self, header: Duration, idle: Duration) -> Cut {
        let mut rx = self.0.subscribe();
        loop {
            let now = *rx.borrow_and_update();
            if now.in_flight == 0 {
                let (limit, why) = match now.served {
                    false => (header, Cut::Header),
                    true => (idle, Cut::Idle),
                };
                let deadline = tokio::time::Instant::from_std(now.since + limit);
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => return why,
                    _ = rx.changed() => continue,
                }
            }
            // The sender lives as long as `self`.
            let _ = rx.changed().await;
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0 .0.send_modify(|r| {
            r.in_flight -= 1;
            r.since = Instant::now();
            r.served = true;
        });
    }
}
