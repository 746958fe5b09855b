//! http-01 (RFC 8555 §8.3; CA/B Forum BR 3.2.2.4.19): fetch
//! `http://<name>/.well-known/acme-challenge/<token>` and compare the body
//! with the key authorization.
//!
//! Every hop is one hyper HTTP/1.1 connection to an address we chose and
//! checked, never a pooled client, so the address in the evidence is the
//! address that answered and no redirect can steer us into private space.

use std::net::IpAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, CONNECTION, CONTENT_LENGTH, HOST, LOCATION, USER_AGENT};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{timeout_at, Instant};

use super::addr::may_connect;
use super::dns::Resolver;
use super::net::{allowed_addresses, connect_first, non_public};
use super::{is_dns_name, timeout_error, ValidationRecord, ValidationRequest};
use crate::config::VaConfig;
use crate::error::{Error, ErrorKind, Result};

const USER_AGENT_VALUE: &str = "trustgate-va";
/// Response head bytes hyper buffers at most; a challenge response needs
/// far less, and a server sending more is not serving a challenge.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How much of a wrong body is quoted back in the error.
const QUOTE_CHARS: usize = 64;

/// The http-01 validator: settings taken from `VaConfig` once, and the TLS
/// client used when a redirect leads to https.
pub(crate) struct Http01 {
    port: u16,
    max_redirects: usize,
    max_response_bytes: usize,
    allow_loopback: bool,
    timeout_secs: u64,
    tls: tokio_rustls::TlsConnector,
}

/// URL scheme of one hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// One URL the validator fetches, already checked against the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    /// Lower-case DNS name, or an IP literal without brackets.
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Target {
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority(),
            self.path
        )
    }

    /// `host[:port]`, the port left out when it is the scheme's default;
    /// also the Host header (RFC 9110 §7.2).
    fn authority(&self) -> String {
        let host = match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => self.host.clone(),
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    fn ip_literal(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// What a redirect may lead to.
#[derive(Debug, Clone, Copy)]
pub struct RedirectPolicy {
    /// The configured http-01 port (80 in production): the port of an
    /// `http` URL without one, and allowed besides 80 and 443 so tests can
    /// follow redirects on a high port.
    pub http_port: u16,
    pub allow_loopback: bool,
}

/// Resolves a `Location` header against the URL that sent it and applies
/// the redirect policy (RFC 8555 §8.3 allows redirects; Boulder's rules):
/// only `http` and `https`, only ports 80 and 443 (or `http_port`), no
/// user-info, a valid DNS name as host (never an IP literal).
pub fn redirect_target(base: &Target, location: &str, policy: &RedirectPolicy) -> Result<Target> {
    let redirect = Redirect {
        base,
        location,
        policy,
    };
    let uri: Uri = redirect
        .absolute()?
        .parse()
        .map_err(|_| redirect.invalid("not a valid URL"))?;
    let scheme = redirect.scheme(&uri)?;
    Ok(Target {
        scheme,
        host: redirect.host(&uri)?,
        port: redirect.port(&uri, scheme)?,
        path: request_path(&uri),
    })
}

/// A `Location` header being checked, with the URL that sent it.
struct Redirect<'a> {
    base: &'a Target,
    location: &'a str,
    policy: &'a RedirectPolicy,
}

impl Redirect<'_> {
    fn invalid(&self, why: &str) -> Error {
        Error::new(
            ErrorKind::Connection,
            format!(
                "Invalid redirect target {:?} from {}: {why}",
                self.location,
                self.base.url()
            ),
        )
    }

    /// The absolute URL the header names; only `http` and `https` URLs.
    fn absolute(&self) -> Result<String> {
        // The fragment is never sent (RFC 9110 §4.2.5).
        let location = self.location.trim();
        let location = location.split_once('#').map_or(location, |(l, _)| l);
        if location.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(self.invalid("not a valid URL"));
        }
        if let Some(scheme) = uri_scheme(location) {
            let lower = scheme.to_ascii_lowercase();
            if lower != "http" && lower != "https" {
                return Err(Error::new(
                    ErrorKind::Connection,
                    format!(
                        "Invalid protocol scheme in redirect target. Only \"http\" and \"https\" \
                         protocol schemes are supported, not {scheme:?}"
                    ),
                ));
            }
            Ok(location.to_owned())
        } else if location.starts_with("//") {
            Ok(format!("{}:{location}", self.base.scheme.as_str()))
        } else {
            Ok(resolve_relative(self.base, location))
        }
    }

    fn scheme(&self, uri: &Uri) -> Result<Scheme> {
        match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => Ok(Scheme::Http),
            Some("https") => Ok(Scheme::Https),
            _ => Err(self.invalid("not a valid URL")),
        }
    }

    /// The host, lower case and without brackets or a trailing dot: a
    /// valid DNS name, or an IP literal we may connect to.
    fn host(&self, uri: &Uri) -> Result<String> {
        let authority = uri.authority().ok_or_else(|| self.invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(self.invalid("user information is not allowed"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        match host.parse::<IpAddr>() {
            Ok(ip) if !may_connect(ip, self.policy.allow_loopback) => Err(non_public(ip)),
            // Boulder follows redirects to names only: an address literal
            // would validate a host no DNS answer for the name points to.
            Ok(_) => Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "Invalid host in redirect target {host:?}. Only domain names are \
                     supported, not IP addresses"
                ),
            )),
            Err(_) if is_dns_name(&host) => Ok(host),
            Err(_) => Err(self.invalid("invalid host")),
        }
    }

    /// The port: the scheme's default (`http_port` for `http`), or one
    /// the policy allows.
    fn port(&self, uri: &Uri, scheme: Scheme) -> Result<u16> {
        match uri.port_u16() {
            None if scheme == Scheme::Http => Ok(self.policy.http_port),
            None => Ok(443),
            Some(p) if p == 80 || p == 443 || p == self.policy.http_port => Ok(p),
            Some(p) => Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "Invalid port in redirect target. Only ports 80 and 443 are supported, \
                     not {p}"
                ),
            )),
        }
    }
}

/// A relative reference resolved against `base` (RFC 3986 §5.2).
fn resolve_relative(base: &Target, location: &str) -> String {
    let base_path = base
        .path
        .split_once('?')
        .map_or(base.path.as_str(), |(p, _)| p);
    let merged = if location.is_empty() {
        base.path.clone()
    } else if location.starts_with('/') {
        location.to_owned()
    } else if location.starts_with('?') {
        format!("{base_path}{location}")
    } else {
        let dir = base_path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{location}")
    };
    let (path, query) = merged
        .split_once('?')
        .map_or((merged.as_str(), None), |(p, q)| (p, Some(q)));
    let mut path = remove_dot_segments(path);
    if let Some(q) = query {
        path.push('?');
        path.push_str(q);
    }
    format!("{}://{}{}", base.scheme.as_str(), base.authority(), path)
}

/// Path and query, always starting with `/`.
fn request_path(uri: &Uri) -> String {
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// The scheme of an absolute URI (RFC 3986 §3.1), if `s` has one.
fn uri_scheme(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    (first.is_ascii_alphabetic()
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
    .then_some(scheme)
}

/// RFC 3986 §5.2.4 for an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => {
                out.push(s);
                continue;
            }
        }
        // "a/." and "a/.." name a directory: keep the trailing slash.
        if last {
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

/// How one hop ended, when it did not fail.
enum Hop {
    Redirect(String),
    Body(Vec<u8>),
}

impl Http01 {
    pub(crate) fn new(cfg: &VaConfig) -> Result<Self> {
        // ALPN http/1.1 because hyper speaks only HTTP/1.1 here.
        let tls = super::tls::client_config_accepting_any_cert(&[b"http/1.1"])?;
        Ok(Http01 {
            port: cfg.http01_port,
            max_redirects: cfg.max_redirects,
            max_response_bytes: cfg.max_response_bytes,
            allow_loopback: cfg.allow_loopback,
            timeout_secs: cfg.timeout_secs.max(1),
            tls: tokio_rustls::TlsConnector::from(tls),
        })
    }

    pub(crate) async fn validate(
        &self,
        resolver: &Resolver,
        req: &ValidationRequest,
        deadline: Instant,
        records: &mut Vec<ValidationRecord>,
    ) -> Result<()> {
        let policy = RedirectPolicy {
            http_port: self.port,
            allow_loopback: self.allow_loopback,
        };
        // RFC 8555 §8.3: the first request goes to the identifier itself on
        // port 80 (configurable for tests).
        let mut target = Target {
            scheme: Scheme::Http,
            host: req.identifier.to_ascii_lowercase(),
            port: self.port,
            path: format!("/.well-known/acme-challenge/{}", req.token),
        };
        let mut redirects = 0;
        loop {
            match self.hop(resolver, &target, deadline, records).await? {
                Hop::Body(body) => return check_body(&body, &req.key_authorization),
                Hop::Redirect(location) => {
                    if redirects >= self.max_redirects {
                        return Err(Error::new(
                            ErrorKind::Connection,
                            format!(
                                "too many redirects (more than {}) at {}",
                                self.max_redirects,
                                target.url()
                            ),
                        ));
                    }
                    redirects += 1;
                    target = redirect_target(&target, &location, &policy)?;
                    tracing::debug!(url = %target.url(), "http-01 following redirect");
                }
            }
        }
    }

    /// One request: resolve, connect, fetch. Pushes its record first so a
    /// timeout still leaves the evidence of where it was going.
    async fn hop(
        &self,
        resolver: &Resolver,
        target: &Target,
        deadline: Instant,
        records: &mut Vec<ValidationRecord>,
    ) -> Result<Hop> {
        let url = target.url();
        // `records[idx]` below is the record pushed here.
        let idx = records.len();
        records.push(ValidationRecord {
            url: Some(url.clone()),
            hostname: target.host.clone(),
            port: Some(target.port),
            ..ValidationRecord::default()
        });

        let resolved = match target.ip_literal() {
            Some(ip) => vec![ip],
            None => {
                let answer = resolver.lookup_addresses(&target.host).await?;
                records[idx].cnames = answer.cnames;
                records[idx].dnssec = answer.dnssec;
                answer.values
            }
        };
        records[idx].addresses_resolved = resolved.clone();
        let allowed = allowed_addresses(&target.host, &resolved, self.allow_loopback)?;
        let (tcp, ip) =
            connect_first(&allowed, target.port, &url, deadline, self.timeout_secs).await?;
        records[idx].address_used = Some(ip);
        tracing::debug!(%url, address = %ip, "http-01 connected");

        match target.scheme {
            Scheme::Http => {
                self.exchange(TokioIo::new(tcp), target, &url, deadline)
                    .await
            }
            Scheme::Https => {
                let name = ServerName::try_from(target.host.clone()).map_err(|e| {
                    Error::new(
                        ErrorKind::Tls,
                        format!("invalid TLS name {}: {e}", target.host),
                    )
                })?;
                let tls = timeout_at(deadline, self.tls.connect(name, tcp))
                    .await
                    .map_err(|_| timeout_error(self.timeout_secs))?
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Tls,
                            format!("TLS handshake with {ip} for {url} failed: {e}"),
                        )
                    })?;
                self.exchange(TokioIo::new(tls), target, &url, deadline)
                    .await
            }
        }
    }

    /// One HTTP/1.1 request on a fresh connection: handshake → send →
    /// a redirect, a refusal, or the body.
    async fn exchange<IO>(
        &self,
        io: TokioIo<IO>,
        target: &Target,
        url: &str,
        deadline: Instant,
    ) -> Result<Hop>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // `_conn` drives the connection until the body is read.
        let (mut sender, _conn) = self.handshake(io, url, deadline).await?;
        let request = challenge_request(target, url)?;
        let response: Response<Incoming> = timeout_at(deadline, async {
            sender.ready().await?;
            sender.send_request(request).await
        })
        .await
        .map_err(|_| timeout_error(self.timeout_secs))?
        .map_err(fetch_error(url))?;
        if let Some(location) = redirect_location(&response, url)? {
            return Ok(Hop::Redirect(location));
        }
        if response.status() != StatusCode::OK {
            return Err(Error::unauthorized(format!(
                "Invalid response from {url}: {}",
                response.status().as_u16()
            )));
        }
        self.read_body(response, url, deadline).await.map(Hop::Body)
    }

    /// The HTTP/1.1 handshake, and the task that drives the connection;
    /// it must not outlive the attempt (timeouts drop this future), so it
    /// is aborted when the returned guard is dropped.
    async fn handshake<IO>(
        &self,
        io: TokioIo<IO>,
        url: &str,
        deadline: Instant,
    ) -> Result<(SendRequest<Empty<Bytes>>, AbortOnDrop)>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = timeout_at(
            deadline,
            hyper::client::conn::http1::Builder::new()
                .max_buf_size(MAX_HEAD_BYTES)
                .handshake::<_, Empty<Bytes>>(io),
        )
        .await
        .map_err(|_| timeout_error(self.timeout_secs))?
        .map_err(fetch_error(url))?;
        let conn = AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "http-01 connection ended with an error");
            }
        }));
        Ok((sender, conn))
    }

    /// The body, read frame by frame, each read bounded by the deadline,
    /// and dropped as soon as the cap is passed: a slow or endless body
    /// costs at most the attempt's budget and `max_response_bytes` of
    /// memory.
    async fn read_body(
        &self,
        response: Response<Incoming>,
        url: &str,
        deadline: Instant,
    ) -> Result<Vec<u8>> {
        let too_large = || {
            Error::unauthorized(format!(
                "Invalid response from {url}: response larger than {} bytes",
                self.max_response_bytes
            ))
        };
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_response_bytes as u64) {
            return Err(too_large());
        }
        let mut body = response.into_body();
        let mut buf = Vec::new();
        loop {
            let frame = match timeout_at(deadline, body.frame()).await {
                Err(_) => return Err(timeout_error(self.timeout_secs)),
                Ok(None) => return Ok(buf),
                Ok(Some(frame)) => frame.map_err(fetch_error(url))?,
            };
            if let Some(data) = frame.data_ref() {
                if buf.len() + data.len() > self.max_response_bytes {
                    return Err(too_large());
                }
                buf.extend_from_slice(data);
            }
        }
    }
}

/// GET of the challenge path, closing the connection after the answer.
fn challenge_request(target: &Target, url: &str) -> Result<Request<Empty<Bytes>>> {
    Request::get(target.path.as_str())
        .header(HOST, target.authority())
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(ACCEPT, "*/*")
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| Error::internal(format!("building the http-01 request for {url}: {e}")))
}

/// The `Location` of a redirect answer; `None` for any other answer.
fn redirect_location(response: &Response<Incoming>, url: &str) -> Result<Option<String>> {
    let status = response.status();
    if !matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    ) {
        return Ok(None);
    }
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Connection,
                format!(
                    "Redirect from {url} ({}) without a valid Location header",
                    status.as_u16()
                ),
            )
        })?;
    Ok(Some(location.to_owned()))
}

fn fetch_error(url: &str) -> impl Fn(hyper::Error) -> Error + '_ {
    move |e| Error::new(ErrorKind::Connection, format!("Fetching {url}: {e}"))
}

/// RFC 8555 §8.3: the body must be the key authorization; surrounding
/// whitespace (a trailing newline from `echo`, CRLF) is ignored.
fn check_body(body: &[u8], key_authorization: &str) -> Result<()> {
    let got = body.trim_ascii();
    if got == key_authorization.as_bytes() {
        return Ok(());
    }
    tracing::debug!(expected = %key_authorization, "http-01 key authorization mismatch");
    let quoted: String = String::from_utf8_lossy(got)
        .chars()
        .take(QUOTE_CHARS)
        .collect();
    Err(Error::unauthorized(format!(
        "The key authorization file from the server did not match this challenge. \
         Expected \"{}\" (got \"{}\")",
        key_authorization,
        quoted.escape_debug()
    )))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::ChallengeType;
    use crate::va::testutil::{closed_port, response, DnsServer, HttpServer, Reply};
    use crate::va::{ValidationOutcome, Validator};
    use std::sync::Arc;
    use std::time::Duration;

    const TOKEN: &str = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
    const KEY_AUTH: &str =
        "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

    fn config(dns: &DnsServer, port: u16) -> VaConfig {
        VaConfig {
            http01_port: port,
            timeout_secs: 5,
            resolvers: vec![dns.addr],
            allow_loopback: true,
            max_redirects: 10,
            max_response_bytes: 8 * 1024,
            // The test responder signs nothing.
            dnssec: false,
            ..VaConfig::default()
        }
    }

    async fn run(cfg: &VaConfig, identifier: &str) -> ValidationOutcome {
        let v = Validator::new(cfg).expect("validator builds");
        v.validate(&ValidationRequest {
            method: ChallengeType::Http01,
            identifier: identifier.into(),
            token: TOKEN.into(),
            key_authorization: KEY_AUTH.into(),
        })
        .await
    }

    fn ok_body(body: &'static [u8]) -> impl Fn(&str, u16) -> Reply + Send + Sync + 'static {
        move |_, _| response("200 OK", &[], body)
    }

    fn localhost() -> IpAddr {
        IpAddr::from([127, 0, 0, 1])
    }

    #[tokio::test]
    async fn success_and_request_shape() {
        let dns = DnsServer::start().await;
        let srv = HttpServer::start(ok_body(KEY_AUTH.as_bytes())).await;
        let out = run(&config(&dns, srv.port), "Example.JP").await;
        out.result.expect("validates");

        let url = format!(
            "http://example.jp:{}/.well-known/acme-challenge/{TOKEN}",
            srv.port
        );
        assert_eq!(
            out.records,
            vec![ValidationRecord {
                url: Some(url),
                hostname: "example.jp".into(),
                port: Some(srv.port),
                addresses_resolved: vec![localhost()],
                address_used: Some(localhost()),
                ..ValidationRecord::default()
            }]
        );
        let head = srv.requests.lock().expect("lock")[0].to_ascii_lowercase();
        assert!(
            head.starts_with(&format!(
                "get /.well-known/acme-challenge/{} http/1.1\r\n",
                TOKEN.to_ascii_lowercase()
            )),
            "{head}"
        );
        assert!(
            head.contains(&format!("host: example.jp:{}\r\n", srv.port)),
            "{head}"
        );
        assert!(head.contains("user-agent: trustgate-va\r\n"), "{head}");
        assert!(head.contains("accept: */*\r\n"), "{head}");
        assert!(head.contains("connection: close\r\n"), "{head}");
    }

    #[test]
    fn host_header_omits_default_port() {
        let t = |scheme, port| Target {
            scheme,
            host: "example.com".into(),
            port,
            path: "/".into(),
        };
        assert_eq!(t(Scheme::Http, 80).authority(), "example.com");
        assert_eq!(t(Scheme::Https, 443).authority(), "example.com");
        assert_eq!(t(Scheme::Http, 443).authority(), "example.com:443");
        assert_eq!(t(Scheme::Http, 8080).url(), "http://example.com:8080/");
        let v6 = Target {
            host: "2001:db8::1".into(),
            ..t(Scheme::Https, 443)
        };
        assert_eq!(v6.url(), "https://[2001:db8::1]/");
    }

    #[tokio::test]
    async fn surrounding_whitespace_is_accepted() {
        let dns = DnsServer::start().await;
        for body in ["KA\n", "KA\r\n", "  KA \t\r\n\r\n"] {
            let body: &'static [u8] = body.replace("KA", KEY_AUTH).into_bytes().leak();
            let srv = HttpServer::start(ok_body(body)).await;
            let out = run(&config(&dns, srv.port), "example.jp").await;
            out.result.expect("trailing whitespace accepted");
        }
    }

    #[tokio::test]
    async fn wrong_body_is_unauthorized() {
        let dns = DnsServer::start().await;
        let srv = HttpServer::start(ok_body(b"not the key authorization\n")).await;
        let err = run(&config(&dns, srv.port), "example.jp")
            .await
            .result
            .expect_err("mismatch");
        assert_eq!(err.kind, ErrorKind::Unauthorized);
        assert_eq!(
            err.detail,
            format!(
                "The key authorization file from the server did not match this challenge. \
                 Expected \"{KEY_AUTH}\" (got \"not the key authorization\")"
            )
        );
    }

    #[tokio::test]
    async fn wrong_body_is_quoted_truncated_and_escaped() {
        let dns = DnsServer::start().await;
        let long: &'static [u8] = format!("\"{}", "a".repeat(200)).into_bytes().leak();
        let srv = HttpServer::start(ok_body(long)).await;
        let err = run(&config(&dns, srv.port), "example.jp")
            .await
            .result
            .expect_err("mismatch");
        assert_eq!(err.kind, ErrorKind::Unauthorized);
        let expected_got = format!("(got \"\\\"{}\")", "a".repeat(63));
        assert!(err.detail.ends_with(&expected_got), "{}", err.detail);
    }

    #[tokio::test]
    async fn not_found_is_unauthorized() {
        let dns = DnsServer::start().await;
        let srv = HttpServer::start(|_: &str, _| response("404 Not Found", &[], b"nope")).await;
        let err = run(&config(&dns, srv.port), "example.jp")
            .await
            .result
            .expect_err("404");
        assert_eq!(err.kind, ErrorKind::Unauthorized);
        assert_eq!(
            err.detail,
            format!(
                "Invalid response from http://example.jp:{}/.well-known/acme-challenge/{TOKEN}: 404",
                srv.port
            )
        );
    }

    #[tokio::test]
    async fn private_address_refused_unless_allowed() {
        let dns = DnsServer::start().await;
        let srv = HttpServer::start(ok_body(KEY_AUTH.as_bytes())).await;
        let cfg = VaConfig {
            allow_loopback: false,
            ..config(&dns, srv.port)
        };
        let out = run(&cfg, "example.jp").await;
        let err = out.result.expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Connection);
        assert_eq!(
            err.detail,
            "refusing to connect to non-public address 127.0.0.1"
        );
        assert_eq!(out.records[0].addresses_resolved, vec![localhost()]);
        assert_eq!(out.records[0].address_used, None);
        assert!(
            srv.requests.lock().expect("lock").is_empty(),
            "no request made"
        );
    }

    #[tokio::test]
    async fn cnames_of_the_address_lookup_are_recorded() {
        let dns = DnsServer::start().await;
        dns.add(
            "www.example.jp",
            crate::va::testutil::cname("host.example.jp"),
        );
        dns.add(
            "host.example.jp",
            hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A(std::net::Ipv4Addr::LOCALHOST)),
        );
        let srv = HttpServer::start(ok_body(KEY_AUTH.as_bytes())).await;
        let out = run(&config(&dns, srv.port), "www.example.jp").await;
        out.result.expect("validates through the CNAME");
        // Followed for A and AAAA alike, recorded once; no DNSSEC status
        // with validation off.
        assert_eq!(
            out.records[0].cnames,
            vec!["www.example.jp -> host.example.jp".to_owned()]
        );
        assert_eq!(out.records[0].dnssec, None);
        assert_eq!(out.records[0].addresses_resolved, vec![localhost()]);
    }

    #[tokio::test]
    async fn redirects_are_followed_and_recorded() {
        let dns = DnsServer::start().await;
        let srv = HttpServer::start(|head: &str, port| {
            if head.starts_with("GET /.well-known/") {
                // Absolute, to another name on the same (allowed) port.
                let loc = format!("http://other.jp:{port}/step2?x=1");
                response("301 Moved Permanently", &[("Location", &loc)], b"")
            } else if head.starts_with("GET /step2?x=1 ") {
                // Relative.
                response("307 Temporary Redirect", &[("Location", "final")], b"")
            } else if head.starts_with("GET /final ") {
                response("200 OK", &[], KEY_AUTH.as_bytes())
            } else {
                response("404 Not Found", &[], b"")
            }
        })
        .await;
        let out = run(&config(&dns, srv.port), "example.jp").await;
        out.result.expect("validates through redirects");
        let urls: Vec<_> = out
            .records
            .iter()
            .map(|r| r.url.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            urls,
            vec![
                format!(
                    "http://example.jp:{}/.well-known/acme-challenge/{TOKEN}",
                    srv.port
                ),
                format!("http://other.jp:{}/step2?x=1", srv.port),
                format!("http://other.jp:{}/final", srv.port),
            ]
        );
        assert_eq!(out.records[1].hostname, "other.jp");
        assert!(out
            .records
            .iter()
            .all(|r| r.address_used == Some(localhost())));
        let heads = srv.requests.lock().expect("lock").clone();
        assert!(heads[1]
            .to_ascii_lowercase()
            .contains(&format!("host: other.jp:{}", srv.port)));
    }

    #[tokio::test]
    async fn redirect_to_other_port_is_refused() {
        let dns = DnsServer::start().await;
        let srv = HttpServer::start(|_: &str, _| {
            response(
                "302 Found",
                &[("Location", "http://example.jp:8080/x")],
                b"",
            )
        })
        .await;
        let out = run(&config(&dns, srv.port), "example.jp").await;
        let err = out.result.expect_err("port refused");
        assert_eq!(err.kind, ErrorKind::Connection);
        assert!(
            err.detail.contains("Invalid port in redirect target"),
            "{}",
            err.detail
        );
        assert!(err.detail.contains("8080"), "{}", err.detail);
        assert_eq!(out.records.len(), 1);
    }

    #[tokio::test]
    async fn redirect_loop_ends_with_too_many_redirects() {
        let dns = DnsServer::start().await;
        let srv = HttpServer::start(|_: &str, port| {
            let loc = format!("http://example.jp:{port}/.well-known/acme-challenge/{TOKEN}");
            response("302 Found", &[("Location", &loc)], b"")
        })
        .await;
        let cfg = VaConfig {
            max_redirects: 3,
            ..config(&dns, srv.port)
        };
        let out = run(&cfg, "example.jp").await;
        let err = out.result.expect_err("loop");
        assert_eq!(err.kind, ErrorKind::Connection);
        assert!(err.detail.contains("too many redirects"), "{}", err.detail);
        assert_eq!(out.records.len(), 4, "initial request plus 3 redirects");
        assert_eq!(srv.requests.lock().expect("lock").len(), 4);
    }

    #[test]
    fn redirect_to_private_ip_literal_is_refused() {
        let policy = RedirectPolicy {
            http_port: 5002,
            allow_loopback: false,
        };
        let base = target(Scheme::Http, "example.jp", 5002, "/");
        let err =
            redirect_target(&base, "http://10.0.0.1:5002/x", &policy).expect_err("private literal");
        assert_eq!(err.kind, ErrorKind::Connection);
        assert_eq!(
            err.detail,
            "refusing to connect to non-public address 10.0.0.1"
        );
    }

    #[tokio::test]
    async fn huge_body_fails_promptly() {
        let dns = DnsServer::start().await;
        let ten_mib = vec![b'a'; 10 * 1024 * 1024];
        // With Content-Length: refused before reading.
        let big: &'static [u8] = ten_mib.clone().leak();
        let srv = HttpServer::start(ok_body(big)).await;
        let start = std::time::Instant::now();
        let err = run(&config(&dns, srv.port), "example.jp")
            .await
            .result
            .expect_err("too large");
        assert_eq!(err.kind, ErrorKind::Unauthorized);
        assert!(
            err.detail.contains("response larger than 8192 bytes"),
            "{}",
            err.detail
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );

        // Without Content-Length (close-delimited): the cap stops the read.
        let mut raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        raw.extend_from_slice(&ten_mib);
        let srv = HttpServer::start(move |_: &str, _| Reply::Bytes(raw.clone())).await;
        let start = std::time::Instant::now();
        let err = run(&config(&dns, srv.port), "example.jp")
            .await
            .result
            .expect_err("too large");
        assert_eq!(err.kind, ErrorKind::Unauthorized);
        assert!(
            err.detail.contains("response larger than 8192 bytes"),
            "{}",
            err.detail
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn slow_loris_is_cut_off_at_the_timeout() {
        let dns = DnsServer::start().await;
        let srv = HttpServer::start(|_: &str, _| Reply::Dribble {
            head: b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec(),
            every: Duration::from_millis(500),
        })
        .await;
        let cfg = VaConfig {
            timeout_secs: 2,
            ..config(&dns, srv.port)
        };
        let start = std::time::Instant::now();
        let out = run(&cfg, "example.jp").await;
        let err = out.result.expect_err("timeout");
        let elapsed = start.elapsed();
        assert_eq!(err.kind, ErrorKind::Connection);
        assert_eq!(err.detail, "timeout after 2s");
        assert!(elapsed >= Duration::from_millis(1900), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert_eq!(
            out.records[0].address_used,
            Some(localhost()),
            "evidence kept"
        );
    }

    #[tokio::test]
    async fn silent_server_is_cut_off_at_the_timeout() {
        // Accepts, reads the request, never answers.
        let dns = DnsServer::start().await;
        let srv = HttpServer::start(|_: &str, _| Reply::Dribble {
            head: Vec::new(),
            every: Duration::from_secs(3600),
        })
        .await;
        let cfg = VaConfig {
            timeout_secs: 1,
            ..config(&dns, srv.port)
        };
        let start = std::time::Instant::now();
        let err = run(&cfg, "example.jp").await.result.expect_err("timeout");
        assert_eq!(err.detail, "timeout after 1s");
        assert!(start.elapsed() < Duration::from_millis(1500));
    }

    #[tokio::test]
    async fn nxdomain_is_dns_error() {
        let dns = DnsServer::start().await;
        let out = run(&config(&dns, 1), "nx.jp").await;
        let err = out.result.expect_err("nxdomain");
        assert_eq!(err.kind, ErrorKind::Dns);
        assert!(
            err.detail.contains("no valid A or AAAA records for nx.jp"),
            "{}",
            err.detail
        );
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.records[0].hostname, "nx.jp");
    }

    #[tokio::test]
    async fn servfail_is_dns_error() {
        let dns = DnsServer::start().await;
        let err = run(&config(&dns, 1), "servfail.jp")
            .await
            .result
            .expect_err("servfail");
        assert_eq!(err.kind, ErrorKind::Dns);
        assert!(err.detail.contains("SERVFAIL"), "{}", err.detail);
    }

    #[tokio::test]
    async fn connection_refused_is_connection_error() {
        let dns = DnsServer::start().await;
        let port = closed_port().await;
        let out = run(&config(&dns, port), "example.jp").await;
        let err = out.result.expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Connection);
        assert!(
            err.detail
                .contains(&format!("127.0.0.1:{port}: connection refused")),
            "{}",
            err.detail
        );
        assert_eq!(out.records[0].address_used, None);
    }

    #[tokio::test]
    async fn falls_back_to_next_address_on_connect_failure() {
        // v6.jp resolves to ::1 (first) and 127.0.0.1; the server listens
        // only on 127.0.0.1.
        let dns = DnsServer::start().await;
        let srv = HttpServer::start(ok_body(KEY_AUTH.as_bytes())).await;
        let out = run(&config(&dns, srv.port), "v6.jp").await;
        out.result.expect("falls back to IPv4");
        let rec = &out.records[0];
        assert_eq!(
            rec.addresses_resolved,
            vec![IpAddr::from(std::net::Ipv6Addr::LOCALHOST), localhost()]
        );
        assert_eq!(rec.address_used, Some(localhost()));
    }

    #[tokio::test]
    async fn https_hop_accepts_any_certificate() {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let ck =
            rcgen::generate_simple_self_signed(vec!["somewhere-else.jp".to_owned()]).expect("cert");
        let cert: CertificateDer<'static> = ck.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
        let mut server_cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
        server_cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut tls = acceptor.accept(tcp).await.expect("handshake");
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            let mut buf = vec![0u8; 4096];
            let n = tls.read(&mut buf).await.expect("read");
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{KEY_AUTH}",
                KEY_AUTH.len()
            );
            tls.write_all(resp.as_bytes()).await.expect("write");
            tls.shutdown().await.expect("shutdown");
            (alpn, head)
        });

        let dns = DnsServer::start().await;
        let cfg = config(&dns, 80);
        let http01 = Http01::new(&cfg).expect("http01");
        let resolver = Resolver::new(&cfg).expect("resolver");
        let target = Target {
            scheme: Scheme::Https,
            host: "example.jp".into(),
            port,
            path: "/.well-known/acme-challenge/x".into(),
        };
        let mut records = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let hop = http01
            .hop(&resolver, &target, deadline, &mut records)
            .await
            .expect("https hop");
        match hop {
            Hop::Body(b) => assert_eq!(b, KEY_AUTH.as_bytes()),
            Hop::Redirect(l) => panic!("unexpected redirect to {l}"),
        }
        let (alpn, head) = server.await.expect("server");
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
        assert!(head
            .to_ascii_lowercase()
            .contains(&format!("host: example.jp:{port}")));
        assert_eq!(
            records[0].url.as_deref(),
            Some(&*format!(
                "https://example.jp:{port}/.well-known/acme-challenge/x"
            ))
        );
    }

    // Redirect policy as a pure function: ports 80/443 cannot be bound in
    // tests, so their acceptance is checked here.

    fn base() -> Target {
        Target {
            scheme: Scheme::Http,
            host: "example.com".into(),
            port: 80,
            path: "/.well-known/acme-challenge/tok?q=1".into(),
        }
    }

    const PROD: RedirectPolicy = RedirectPolicy {
        http_port: 80,
        allow_loopback: false,
    };

    fn follow(location: &str) -> Result<Target> {
        redirect_target(&base(), location, &PROD)
    }

    fn target(scheme: Scheme, host: &str, port: u16, path: &str) -> Target {
        Target {
            scheme,
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn policy_allows_http_and_https_on_80_and_443() {
        assert_eq!(
            follow("http://www.example.com/a").expect("ok"),
            target(Scheme::Http, "www.example.com", 80, "/a")
        );
        assert_eq!(
            follow("https://www.example.com/a?b=c").expect("ok"),
            target(Scheme::Https, "www.example.com", 443, "/a?b=c")
        );
        assert_eq!(
            follow("HTTPS://WWW.Example.COM:443").expect("ok"),
            target(Scheme::Https, "www.example.com", 443, "/")
        );
        assert_eq!(
            follow("http://www.example.com:443/x").expect("ok"),
            target(Scheme::Http, "www.example.com", 443, "/x")
        );
        assert_eq!(
            follow("https://www.example.com:80/x").expect("ok"),
            target(Scheme::Https, "www.example.com", 80, "/x")
        );
    }

    #[test]
    fn policy_refuses_other_ports() {
        for loc in [
            "http://example.com:8080/",
            "https://example.com:8443/",
            "http://example.com:22/",
            "http://example.com:0/",
        ] {
            let err = follow(loc).expect_err(loc);
            assert_eq!(err.kind, ErrorKind::Connection);
            assert!(err.detail.contains("Invalid port"), "{loc}: {}", err.detail);
        }
        // The configured test port is allowed besides 80 and 443.
        let test = RedirectPolicy {
            http_port: 5002,
            allow_loopback: false,
        };
        assert_eq!(
            redirect_target(&base(), "http://example.com/x", &test)
                .expect("ok")
                .port,
            5002
        );
        assert!(redirect_target(&base(), "http://example.com:5002/x", &test).is_ok());
    }

    #[test]
    fn policy_refuses_other_schemes() {
        for loc in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "gopher://example.com:70/",
            "javascript:alert(1)",
        ] {
            let err = follow(loc).expect_err(loc);
            assert_eq!(err.kind, ErrorKind::Connection);
            assert!(
                err.detail.contains("Invalid protocol scheme"),
                "{loc}: {}",
                err.detail
            );
        }
    }

    #[test]
    fn policy_resolves_relative_references() {
        assert_eq!(
            follow("/x/y").expect("ok"),
            target(Scheme::Http, "example.com", 80, "/x/y")
        );
        assert_eq!(
            follow("other").expect("ok"),
            target(
                Scheme::Http,
                "example.com",
                80,
                "/.well-known/acme-challenge/other"
            )
        );
        assert_eq!(
            follow("../../up?z").expect("ok"),
            target(Scheme::Http, "example.com", 80, "/up?z")
        );
        assert_eq!(
            follow("?only=query").expect("ok"),
            target(
                Scheme::Http,
                "example.com",
                80,
                "/.well-known/acme-challenge/tok?only=query"
            )
        );
        assert_eq!(
            follow("//cdn.example.net/p#frag").expect("ok"),
            target(Scheme::Http, "cdn.example.net", 80, "/p")
        );
        assert_eq!(
            follow("/a/./b/../c/").expect("ok"),
            target(Scheme::Http, "example.com", 80, "/a/c/")
        );
        let https_base = target(Scheme::Https, "example.com", 443, "/a/b");
        assert_eq!(
            redirect_target(&https_base, "//x.example.com/", &PROD).expect("ok"),
            target(Scheme::Https, "x.example.com", 443, "/")
        );
        assert_eq!(
            redirect_target(&https_base, "c", &PROD).expect("ok"),
            target(Scheme::Https, "example.com", 443, "/a/c")
        );
    }

    #[test]
    fn policy_checks_ip_literals() {
        for loc in [
            "http://127.0.0.1/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:192.168.0.1]/",
            "http://0.0.0.0/",
        ] {
            let err = follow(loc).expect_err(loc);
            assert_eq!(err.kind, ErrorKind::Connection);
            assert!(
                err.detail
                    .starts_with("refusing to connect to non-public address"),
                "{loc}: {}",
                err.detail
            );
        }
        // Public literals too: only names are followed (as Boulder does).
        for loc in ["http://93.184.216.34/x", "https://[2606:4700:4700::1111]/"] {
            let err = follow(loc).expect_err(loc);
            assert_eq!(err.kind, ErrorKind::Connection, "{loc}");
            assert!(
                err.detail
                    .ends_with("Only domain names are supported, not IP addresses"),
                "{loc}: {}",
                err.detail
            );
        }
        let lab = RedirectPolicy {
            http_port: 80,
            allow_loopback: true,
        };
        for loc in ["http://127.0.0.1/", "http://[::1]/"] {
            let err = redirect_target(&base(), loc, &lab).expect_err(loc);
            assert!(
                err.detail.contains("not IP addresses"),
                "{loc}: {}",
                err.detail
            );
        }
        // The test setting opens loopback only.
        for loc in [
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://[fd00::1]/",
        ] {
            let err = redirect_target(&base(), loc, &lab).expect_err(loc);
            assert_eq!(err.kind, ErrorKind::Connection, "{loc}");
        }
    }

    #[test]
    fn policy_refuses_junk() {
        for loc in [
            "http://user:pass@example.com/",
            "http:///nohost",
            "http://exa mple.com/",
            "http://under_score.example.com/",
            "http://例え.jp/",
            "http://example.com\r\nX-Injected: 1",
        ] {
            let err = follow(loc).expect_err(loc);
            assert_eq!(err.kind, ErrorKind::Connection, "{loc}");
        }
    }

    #[test]
    fn body_comparison_trims_ascii_whitespace_only() {
        assert!(check_body(b"ka\n", "ka").is_ok());
        assert!(check_body(b"\r\n ka \t", "ka").is_ok());
        assert!(check_body("ka\u{a0}".as_bytes(), "ka").is_err());
        assert!(check_body(b"k a", "ka").is_err());
        assert!(check_body(b"", "ka").is_err());
    }
}
