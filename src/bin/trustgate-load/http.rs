//! One HTTP/1.1 keep-alive connection (TLS or plain) to the ACME server,
//! with its own Replay-Nonce pool.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::FlowError;

/// The pause before a request is sent again to an unavailable server.
const RIDE_OUT_PAUSE: Duration = Duration::from_millis(250);

/// Where the server is and how to reach it.
pub struct Target {
    /// `https://host:port` (or http), as the server's URLs start.
    pub origin: String,
    /// `host:port` for the Host header.
    pub authority: String,
    pub addr: SocketAddr,
    pub tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    pub request_timeout: Duration,
    /// How long a request keeps being sent again while the server is
    /// unavailable (see `Conn::send`); zero fails at once.
    pub ride_out: Duration,
}

impl Target {
    pub async fn new(
        directory: &str,
        ca_bundle: Option<&std::path::Path>,
        request_timeout: Duration,
        ride_out: Duration,
    ) -> Result<Target, String> {
        let uri: hyper::Uri = directory
            .parse()
            .map_err(|e| format!("--directory {directory:?}: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("--directory {directory:?}: not an http(s) URL")),
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("--directory {directory:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let origin = format!("{}://{authority}", if https { "https" } else { "http" });
        // Prefer IPv4: test servers listen on 127.0.0.1.
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("resolving {host}: {e}"))?
            .collect();
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| format!("{host} has no address"))?;
        let tls = if https {
            let mut roots = rustls::RootCertStore::empty();
            if let Some(path) = ca_bundle {
                let text =
                    std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                let blocks = pem::parse_many(&text)
                    .map_err(|e| format!("{}: not PEM: {e}", path.display()))?;
                for b in blocks.iter().filter(|b| b.tag() == "CERTIFICATE") {
                    roots
                        .add(b.contents().to_vec().into())
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                if roots.is_empty() {
                    return Err(format!("{}: no certificates", path.display()));
                }
            } else {
                return Err("an https directory needs --ca-bundle".into());
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = ServerName::try_from(host.clone())
                .map_err(|e| format!("{host} as a TLS name: {e}"))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(cfg)), name))
        } else {
            None
        };
        Ok(Target {
            origin,
            authority,
            addr,
            tls,
            request_timeout,
            ride_out,
        })
    }

    /// The path (and query) of a URL of this server.
    pub fn path_of<'a>(&self, url: &'a str) -> Result<&'a str, FlowError> {
        url.strip_prefix(&self.origin)
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| {
                FlowError::new(
                    "client:foreign-url",
                    format!("{url} is not under {}", self.origin),
                )
            })
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Retry-After in whole seconds (the delta-seconds form only).
    pub fn retry_after(&self) -> Option<u64> {
        self.header(header::RETRY_AFTER)
            .and_then(|v| v.trim().parse().ok())
    }

    pub fn json(&self) -> Result<serde_json::Value, FlowError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            FlowError::new(
                "client:bad-json",
                format!("{} response is not JSON: {e}", self.status),
            )
        })
    }

    /// A problem document's error, or a generic one for the status.
    pub fn problem(&self) -> FlowError {
        let doc: Option<serde_json::Value> = serde_json::from_slice(&self.body).ok();
        let typ = doc
            .as_ref()
            .and_then(|d| d.get("type"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("http:{}", self.status.as_u16()));
        let detail = doc
            .as_ref()
            .and_then(|d| d.get("detail"))
            .and_then(|t| t.as_str())
            .unwrap_or("")
            .to_owned();
        FlowError::new(typ, format!("HTTP {}: {detail}", self.status.as_u16()))
    }
}

/// One connection, reopened when it breaks, with the nonces it was given.
pub struct Conn {
    target: Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
    nonces: Vec<String>,
    /// HTTP requests sent (including newNonce and retries).
    pub requests: u64,
    /// Requests repeated after a badNonce.
    pub bad_nonce_retries: u64,
    /// Connections opened.
    pub connects: u64,
    /// Requests sent again because the server was unavailable.
    pub unavailable_retries: u64,
}

impl Conn {
    pub fn new(target: Arc<Target>) -> Conn {
        Conn {
            target,
            sender: None,
            nonces: Vec::new(),
            requests: 0,
            bad_nonce_retries: 0,
            connects: 0,
            unavailable_retries: 0,
        }
    }

    async fn connect(&mut self) -> Result<SendRequest<Full<Bytes>>, FlowError> {
        let io_err = |e: std::io::Error| FlowError::new("transport:connect", e.to_string());
        let tcp = TcpStream::connect(self.target.addr).await.map_err(io_err)?;
        tcp.set_nodelay(true).map_err(io_err)?;
        self.connects += 1;
        let hs_err = |e: hyper::Error| FlowError::new("transport:handshake", e.to_string());
        let sender = match &self.target.tls {
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| FlowError::new("transport:tls", e.to_string()))?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                    .await
                    .map_err(hs_err)?;
                tokio::spawn(conn);
                sender
            }
            None => {
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(hs_err)?;
                tokio::spawn(conn);
                sender
            }
        };
        // Nonces are not tied to a connection, but a fresh connection is
        // the moment a stale pool would show; keep them anyway.
        Ok(sender)
    }

    /// Sends one request. While the server is unavailable — the
    /// connection refused or cut (a restarting process), or 503 (its
    /// database away) — it is sent again, a pause apart, for up to
    /// `Target::ride_out`, as a client that retries would. A POST sent
    /// again carries a nonce the server may have redeemed or forgotten:
    /// it answers badNonce, which `acme::post` retries with a fresh one.
    pub async fn send(
        &mut self,
        method: Method,
        url: &str,
        content_type: Option<&'static str>,
        body: Bytes,
    ) -> Result<Response, FlowError> {
        let deadline = std::time::Instant::now() + self.target.ride_out;
        loop {
            let result = self
                .send_once(method.clone(), url, content_type, body.clone())
                .await;
            let pause = match &result {
                Err(e) if e.kind.starts_with("transport:") && e.kind != "transport:timeout" => {
                    RIDE_OUT_PAUSE
                }
                Ok(r) if r.status == StatusCode::SERVICE_UNAVAILABLE => r
                    .retry_after()
                    .map_or(RIDE_OUT_PAUSE, Duration::from_secs)
                    .min(RIDE_OUT_PAUSE * 4),
                _ => return result,
            };
            if std::time::Instant::now() + pause > deadline {
                return result;
            }
            self.unavailable_retries += 1;
            self.sender = None;
            tokio::time::sleep(pause).await;
        }
    }

    /// Sends one request; reconnects once if the kept-alive connection
    /// turned out to be closed.
    async fn send_once(
        &mut self,
        method: Method,
        url: &str,
        content_type: Option<&'static str>,
        body: Bytes,
    ) -> Result<Response, FlowError> {
        let path = self.target.path_of(url)?.to_owned();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut sender = match self.sender.take() {
                Some(s) if !s.is_closed() => s,
                _ => self.connect().await?,
            };
            let mut req = Request::builder()
                .method(method.clone())
                .uri(path.as_str())
                .header(header::HOST, self.target.authority.as_str())
                .header(header::USER_AGENT, "trustgate-load/0.1")
                .header(header::ACCEPT, "*/*");
            if let Some(ct) = content_type {
                req = req.header(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            let req = req
                .body(Full::new(body.clone()))
                .map_err(|e| FlowError::new("client:request", e.to_string()))?;
            if sender.ready().await.is_err() {
                if attempt < 2 {
                    continue;
                }
                return Err(FlowError::new("transport:closed", "connection closed"));
            }
            self.requests += 1;
            let fut = async {
                let resp = sender.send_request(req).await?;
                let (parts, body) = resp.into_parts();
                let body = body.collect().await?.to_bytes();
                Ok::<_, hyper::Error>((parts, body))
            };
            let result = tokio::time::timeout(self.target.request_timeout, fut).await;
            match result {
                Err(_) => {
                    return Err(FlowError::new(
                        "transport:timeout",
                        format!(
                            "{method} {path}: no answer within {:?}",
                            self.target.request_timeout
                        ),
                    ))
                }
                Ok(Err(e)) => {
                    // A keep-alive connection the server closed between two
                    // requests fails before anything was processed.
                    if attempt < 2
                        && (e.is_canceled() || e.is_closed() || e.is_incomplete_message())
                    {
                        continue;
                    }
                    return Err(FlowError::new(
                        "transport:io",
                        format!("{method} {path}: {e}"),
                    ));
                }
                Ok(Ok((parts, body))) => {
                    let keep = !parts
                        .headers
                        .get(header::CONNECTION)
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                    if keep {
                        self.sender = Some(sender);
                    }
                    if let Some(n) = parts
                        .headers
                        .get("replay-nonce")
                        .and_then(|v| v.to_str().ok())
                    {
                        self.nonces.push(n.to_owned());
                    }
                    return Ok(Response {
                        status: parts.status,
                        headers: parts.headers,
                        body,
                    });
                }
            }
        }
    }

    /// A nonce from the pool, or from newNonce when the pool is empty.
    pub async fn nonce(&mut self, new_nonce_url: &str) -> Result<String, FlowError> {
        if let Some(n) = self.nonces.pop() {
            return Ok(n);
        }
        let resp = self
            .send(Method::HEAD, new_nonce_url, None, Bytes::new())
            .await?;
        if !resp.status.is_success() {
            return Err(resp.problem());
        }
        self.nonces.pop().ok_or_else(|| {
            FlowError::new("client:no-nonce", "newNonce answered without Replay-Nonce")
        })
    }
}
