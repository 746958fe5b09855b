//! The HTTP edge every listener (ACME, admin, CRL publication) shares:
//! the serve loop (`serve`: TCP with optional TLS, its settings from
//! `tls_config`, HTTP/1.1 and HTTP/2, a cap on open connections,
//! handshake, header and idle timeouts, graceful shutdown) and the
//! request edge (`edge`: request id and span, body limit and body
//! timeout, timeout, metrics, the log line, the admin listener's
//! `Server-Timing`). Each listener supplies only its routes and
//! rendering, as a `Service`.

use std::time::Duration;

use hyper::header::HeaderValue;

mod edge;
pub mod page;
mod serve;
mod tls;

pub use edge::{handle, Answer, Body, Listener, Record, Service};
pub use serve::{serve, ConnectionLimits};
pub use tls::tls_config;

/// The address a request came from (the TCP peer: a proxy in front of
/// the listener is the peer), in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub std::net::SocketAddr);

/// The response header that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A request's id: 16 hex digits, sent back as `X-Request-Id` and recorded
/// in the request's span, so every log line of the request carries it and
/// a client can quote it.
#[derive(Clone, Copy)]
pub struct RequestId([u8; 16]);

impl RequestId {
    /// 64 bits, unique enough across instances, and not a counter that
    /// tells clients how busy the CA is: a counter under SipHash with a
    /// key drawn from the OS once per process, so no system call per
    /// request.
    pub fn generate() -> RequestId {
        use std::hash::{BuildHasher, RandomState};
        use std::sync::atomic::{AtomicU64, Ordering};
        static KEY: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let raw = KEY.get_or_init(RandomState::new).hash_one(n).to_be_bytes();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 16];
        for (i, b) in raw.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
        RequestId(out)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.0).unwrap_or(HeaderValue::from_static("0"))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

tokio::task_local! {
    /// The request the current task serves, set by the edge around the
    /// whole of `route`.
    static REQUEST: RequestId;
}

/// The id of the request the current task serves (`None` outside one: a
/// sweep, a CRL run, a spawned task not run `within_request`). Read it in
/// async code: the database's threads are outside every request.
pub fn current_request_id() -> Option<RequestId> {
    REQUEST.try_with(|id| *id).ok()
}

/// Runs `f` as part of request `id`: for a task spawned by a request
/// (task-locals do not cross `tokio::spawn`).
pub async fn within_request<F: std::future::Future>(id: Option<RequestId>, f: F) -> F::Output {
    match id {
        Some(id) => REQUEST.scope(id, f).await,
        None => f.await,
    }
}

/// Milliseconds with two decimals, for log lines.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_hex_and_differ() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_eq!(a.as_str().len(), 16);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(a.header_value().to_str().unwrap(), a.as_str());
    }

    #[test]
    fn millis_rounds_to_hundredths() {
        assert_eq!(millis(Duration::from_micros(12_346)), 12.35);
        assert_eq!(millis(Duration::ZERO), 0.0);
    }
}
