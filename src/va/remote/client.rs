//! The primary's client of a `trustgate perspective` service: HTTPS with
//! mutual TLS (`mtls`), `POST {url}/v1/check` with a `RemoteCheck`, a
//! `RemoteAnswer` back. It never fails: a timeout, a refused handshake, an
//! HTTP error or an answer that does not parse is `Unreachable`, which does
//! not corroborate.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::{http1, http2};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{mtls, RemoteAnswer, RemoteCheck, RemoteOutcome, RemotePerspective};
use crate::config::{RemotePerspectiveConfig, VaConfig};
use crate::core::{Clock, Region};
use crate::error::{Error, Result};

/// The path of the perspective API, below the configured URL.
pub const CHECK_PATH: &str = "/v1/check";
/// Largest answer read: records and CAA evidence fit in a few KiB.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Added to `va.timeout_secs`, which bounds the perspective's own check,
/// for the round trip and the handshake.
const TIMEOUT_MARGIN: Duration = Duration::from_secs(2);
/// Longest failure detail kept from the wire.
const MAX_DETAIL_CHARS: usize = 200;

/// Every `[[va.perspectives]]` of `cfg` as a client on the system clock;
/// fails at startup on an unreadable file, a bad URL or a repeated name.
pub fn perspectives_from_config(cfg: &VaConfig) -> Result<Vec<Arc<dyn RemotePerspective>>> {
    perspectives_on_clock(cfg, &Clock::system())
}

/// As [`perspectives_from_config`], with `clock` dating `Unreachable`
/// answers.
pub fn perspectives_on_clock(
    cfg: &VaConfig,
    clock: &Clock,
) -> Result<Vec<Arc<dyn RemotePerspective>>> {
    let timeout = Duration::from_secs(cfg.timeout_secs.max(1)) + TIMEOUT_MARGIN;
    let mut out: Vec<Arc<dyn RemotePerspective>> = Vec::new();
    for p in &cfg.perspectives {
        if out.iter().any(|q| q.name() == p.name) {
            return Err(Error::internal(format!(
                "va.perspectives: the name {:?} is used twice",
                p.name
            )));
        }
        let client = MtlsPerspective::new(p, timeout)?.with_clock(clock.clone());
        out.push(Arc::new(client));
    }
    Ok(out)
}

/// One remote perspective over mutual TLS. Concurrent checks share one
/// HTTP/2 connection, opened on first use and replaced when it closes.
pub struct MtlsPerspective {
    name: String,
    region: Region,
    endpoint: Endpoint,
    tls: TlsConnector,
    timeout: Duration,
    clock: Clock,
    h2: tokio::sync::Mutex<Option<http2::SendRequest<Full<Bytes>>>>,
}

impl std::fmt::Debug for MtlsPerspective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtlsPerspective")
            .field("name", &self.name)
            .field("region", &self.region)
            .field("url", &self.endpoint.authority)
            .finish_non_exhaustive()
    }
}

impl MtlsPerspective {
    /// Reads the TLS files now, so a missing or bad file stops startup.
    /// `timeout` bounds one whole check, connection included.
    pub fn new(cfg: &RemotePerspectiveConfig, timeout: Duration) -> Result<Self> {
        let context =
            |e: Error| Error::internal(format!("va.perspectives {:?}: {}", cfg.name, e.detail));
        if cfg.name.trim().is_empty() {
            return Err(Error::internal(
                "va.perspectives: a perspective needs a name",
            ));
        }
        let endpoint = Endpoint::parse(&cfg.url).map_err(context)?;
        let tls = mtls::client_config(&cfg.ca_cert, &cfg.client_cert, &cfg.client_key)
            .map_err(context)?;
        Ok(MtlsPerspective {
            name: cfg.name.clone(),
            region: cfg.region,
            endpoint,
            tls: TlsConnector::from(tls),
            timeout,
            clock: Clock::system(),
            h2: tokio::sync::Mutex::new(None),
        })
    }

    /// This client dating its `Unreachable` answers by `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Bounded ask → the answer labelled with this perspective's name and
    /// region from the configuration, never from the wire.
    async fn answer(&self, check: &RemoteCheck) -> RemoteAnswer {
        let asked = tokio::time::timeout(self.timeout, self.ask(check)).await;
        let mut answer = match asked {
            Ok(Ok(answer)) => answer,
            Ok(Err(detail)) => self.unreachable(detail),
            Err(_) => self.unreachable(format!("no answer within {}s", self.timeout.as_secs())),
        };
        answer.perspective = self.name.clone();
        answer.region = Some(self.region);
        if let RemoteOutcome::Unreachable { detail } = &answer.outcome {
            tracing::warn!(perspective = %self.name, %detail, "remote perspective unreachable");
        }
        answer
    }

    fn unreachable(&self, detail: String) -> RemoteAnswer {
        RemoteAnswer {
            perspective: String::new(),
            region: None,
            outcome: RemoteOutcome::Unreachable { detail },
            records: Vec::new(),
            caa: None,
            checked_at: self.clock.now(),
        }
    }

    /// One POST; a kept connection that turns out to be closed is replaced
    /// once (a check is safe to repeat).
    async fn ask(&self, check: &RemoteCheck) -> std::result::Result<RemoteAnswer, String> {
        let body = Bytes::from(serde_json::to_vec(check).map_err(|e| e.to_string())?);
        let response = match self.post(body.clone(), false).await {
            Err(Sent::OnKeptConnection(_)) => self.post(body, true).await,
            other => other,
        };
        let response = response.map_err(Sent::into_detail)?;
        read_answer(response).await
    }

    /// Sends `body` on the shared HTTP/2 connection (a new one when
    /// `fresh`), or on a connection of its own when the server speaks only
    /// HTTP/1.1.
    async fn post(
        &self,
        body: Bytes,
        fresh: bool,
    ) -> std::result::Result<Response<hyper::body::Incoming>, Sent> {
        let mut kept = self.h2.lock().await;
        let reusable = kept.as_ref().filter(|s| !fresh && !s.is_closed()).cloned();
        let (sender, reused) = match reusable {
            Some(s) => (Sender::H2(s), true),
            None => {
                *kept = None;
                let sender = self.connect().await.map_err(Sent::Failed)?;
                if let Sender::H2(s) = &sender {
                    *kept = Some(s.clone());
                }
                (sender, false)
            }
        };
        drop(kept);
        let result = sender.send(&self.endpoint, body).await;
        result.map_err(|e| {
            let detail = format!("request failed: {e}");
            if reused {
                Sent::OnKeptConnection(detail)
            } else {
                Sent::Failed(detail)
            }
        })
    }

    /// TCP → TLS (the perspective's certificate from `ca_cert`, ours
    /// presented) → HTTP/2 or HTTP/1.1 as ALPN chose.
    async fn connect(&self) -> std::result::Result<Sender, String> {
        let e = &self.endpoint;
        let tcp = TcpStream::connect((e.host.as_str(), e.port))
            .await
            .map_err(|err| format!("connecting to {}: {err}", e.authority))?;
        let _ = tcp.set_nodelay(true);
        let tls = self
            .tls
            .connect(e.server_name.clone(), tcp)
            .await
            .map_err(|err| format!("TLS handshake with {}: {err}", e.authority))?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        let failed = |err: hyper::Error| format!("HTTP handshake with {}: {err}", e.authority);
        if h2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(failed)?;
            tokio::spawn(conn);
            Ok(Sender::H2(sender))
        } else {
            let (sender, conn) = http1::handshake(io).await.map_err(failed)?;
            tokio::spawn(conn);
            Ok(Sender::H1(sender))
        }
    }
}

impl RemotePerspective for MtlsPerspective {
    fn name(&self) -> &str {
        &self.name
    }

    fn region(&self) -> Region {
        self.region
    }

    fn check<'a>(
        &'a self,
        check: &'a RemoteCheck,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = RemoteAnswer> + Send + 'a>> {
        Box::pin(self.answer(check))
    }
}

/// Why a POST did not get a response.
enum Sent {
    /// On a connection opened earlier: it may have closed meanwhile.
    OnKeptConnection(String),
    Failed(String),
}

impl Sent {
    fn into_detail(self) -> String {
        match self {
            Sent::OnKeptConnection(d) | Sent::Failed(d) => d,
        }
    }
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    async fn send(
        self,
        endpoint: &Endpoint,
        body: Bytes,
    ) -> std::result::Result<Response<hyper::body::Incoming>, String> {
        match self {
            // HTTP/2 takes :scheme and :authority from an absolute URI.
            Sender::H2(mut s) => {
                let req = endpoint.request(endpoint.absolute.clone(), body)?;
                s.ready().await.map_err(|e| e.to_string())?;
                s.send_request(req).await.map_err(|e| e.to_string())
            }
            Sender::H1(mut s) => {
                let req = endpoint.request(endpoint.origin.clone(), body)?;
                s.ready().await.map_err(|e| e.to_string())?;
                s.send_request(req).await.map_err(|e| e.to_string())
            }
        }
    }
}

/// 200 with a `RemoteAnswer` within `MAX_ANSWER_BYTES`, or why not.
async fn read_answer(
    response: Response<hyper::body::Incoming>,
) -> std::result::Result<RemoteAnswer, String> {
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    if status != StatusCode::OK {
        return Err(format!(
            "HTTP {}: {}",
            status.as_u16(),
            problem_detail(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("malformed answer: {e}"))
}

/// The `detail` of a problem document, shortened; empty if there is none.
fn problem_detail(body: &[u8]) -> String {
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("detail")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    detail.chars().take(MAX_DETAIL_CHARS).collect()
}

/// Where a perspective is, parsed from its `https://host[:port][/prefix]`.
#[derive(Debug, Clone)]
struct Endpoint {
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    authority: String,
    /// `https://authority/prefix/v1/check`, for HTTP/2.
    absolute: Uri,
    /// `/prefix/v1/check`, for HTTP/1.1 (with a Host header).
    origin: Uri,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint> {
        let bad = |why: &str| Error::internal(format!("url {url:?}: {why}"));
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("https") {
            return Err(bad("must be https://"));
        }
        let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') || uri.query().is_some() {
            return Err(bad("must not carry user information or a query"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let server_name =
            ServerName::try_from(host.to_owned()).map_err(|_| bad("invalid host name"))?;
        let path = format!("{}{CHECK_PATH}", uri.path().trim_end_matches('/'));
        let absolute = format!("https://{authority}{path}");
        Ok(Endpoint {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(443),
            server_name,
            authority: authority.as_str().to_owned(),
            absolute: absolute.parse().map_err(|_| bad("not a URL"))?,
            origin: path.parse().map_err(|_| bad("invalid path"))?,
        })
    }

    fn request(&self, uri: Uri, body: Bytes) -> std::result::Result<Request<Full<Bytes>>, String> {
        Request::post(uri)
            .header(HOST, self.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_plain_https() {
        let e = Endpoint::parse("https://p1.example:14003").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("p1.example", 14003));
        assert_eq!(e.absolute.to_string(), "https://p1.example:14003/v1/check");
        assert_eq!(e.origin.to_string(), "/v1/check");
        let e = Endpoint::parse("https://[::1]/mpic/").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 443));
        assert_eq!(e.origin.to_string(), "/mpic/v1/check");
        for bad in [
            "http://p1.example",
            "p1.example:14003",
            "https://u@p1.example",
            "https://p1.example/?x=1",
            "https://",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn problem_details_are_shortened() {
        let long = format!("{{\"detail\":\"{}\"}}", "x".repeat(1000));
        assert_eq!(problem_detail(long.as_bytes()).len(), MAX_DETAIL_CHARS);
        assert_eq!(problem_detail(b"not json"), "");
    }

    #[test]
    fn startup_fails_on_a_missing_file() {
        let p = RemotePerspectiveConfig {
            name: "p1".into(),
            url: "https://p1.example".into(),
            region: Region::Arin,
            ca_cert: "/nonexistent/ca.pem".into(),
            client_cert: "/nonexistent/c.pem".into(),
            client_key: "/nonexistent/c.key".into(),
        };
        let cfg = VaConfig {
            perspectives: vec![p],
            ..VaConfig::default()
        };
        let err = perspectives_from_config(&cfg).err().expect("missing files");
        assert!(err.detail.contains("/nonexistent/ca.pem"), "{}", err.detail);
        assert!(perspectives_from_config(&VaConfig::default())
            .expect("none configured")
            .is_empty());
    }
}
