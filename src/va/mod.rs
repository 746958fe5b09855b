//! Validation authority: proves that an ACME client controls a DNS name
//! (RFC 8555 §8) by fetching what the challenge asks for, and records what
//! it contacted as evidence.
//!
//! One file per method, as in Boulder's `va/`: `http01.rs`, `dns01.rs`,
//! `tlsalpn01.rs`, and `caa.rs` for the CAA check the RA runs before
//! issuance. A method gets the shared resolver, the request, the attempt's
//! deadline and the evidence list, and returns `Result<()>`;
//! `Validator::validate` dispatches, bounds the attempt and never panics.
//!
//! What the RA must do with this module:
//! - offer http-01, dns-01 and tls-alpn-01 for a DNS name, and only dns-01
//!   for a wildcard (RFC 8555 §7.1.3, RFC 8737 §3, BR 3.2.2.4.19/.20);
//!   validate a wildcard through its base name;
//! - call `check_caa` for every name of the order (wildcards as `*.x`)
//!   right before issuance (BR 3.2.2.8; RFC 8659 §3), with the method that
//!   validated the name's authorization (RFC 8657 §4).

use std::future::Future;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::acme::ChallengeType;
use crate::config::VaConfig;
use crate::core::{Clock, DnsName};
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::Metrics;
use remote::{RemoteAnswer, RemoteCheck, RemotePerspective};

pub mod addr;
pub mod caa;
pub mod dns;
pub mod dns01;
pub mod http01;
pub mod mpic;
mod net;
pub mod remote;
mod tls;
pub mod tlsalpn01;

#[cfg(test)]
mod bind_tools;
#[cfg(test)]
mod testutil;

/// Validates challenges. Cheap to clone; all clones share one resolver.
#[derive(Clone)]
pub struct Validator {
    inner: Arc<Inner>,
    /// When a check was made, as recorded in its evidence; also which
    /// BR 3.2.2.9 rule applies.
    clock: Clock,
    /// The remote perspectives asked beside every check (BR 3.2.2.9), in
    /// configured order; none by default.
    perspectives: Arc<[Arc<dyn RemotePerspective>]>,
    /// Where each perspective's answers and latency are counted.
    metrics: Option<Arc<Metrics>>,
}

struct Inner {
    timeout_secs: u64,
    resolver: dns::Resolver,
    http01: http01::Http01,
    tlsalpn01: tlsalpn01::TlsAlpn01,
}

/// One challenge to validate.
#[derive(Clone)]
pub struct ValidationRequest {
    pub method: ChallengeType,
    /// The DNS name being validated; never a wildcard (`*.`), which is
    /// validated through its base name (RFC 8555 §7.1.3).
    pub identifier: String,
    pub token: String,
    /// `token || '.' || base64url(JWK thumbprint)` (RFC 8555 §8.1).
    pub key_authorization: String,
}

// Hand-written so a stray `{:?}` in a log line never prints the key
// authorization.
impl std::fmt::Debug for ValidationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidationRequest")
            .field("method", &self.method)
            .field("identifier", &self.identifier)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// The result of one attempt and the evidence gathered on the way, also
/// when the attempt failed.
#[derive(Debug, Clone)]
pub struct ValidationOutcome {
    pub result: Result<()>,
    pub records: Vec<ValidationRecord>,
    /// Each remote perspective's answer, in configured order; empty
    /// without perspectives.
    pub perspectives: Vec<RemoteAnswer>,
}

/// What was contacted, stored with the challenge as evidence (RFC 8555
/// §8.3; Boulder's `validationRecord`). One per HTTP request, so a
/// redirect chain gives one record per hop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ValidationRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub hostname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses_resolved: Vec<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_used: Option<IpAddr>,
    /// TXT answers seen by dns-01.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_answers: Vec<String>,
    /// CNAMEs followed, in order, as `owner -> target`: from the TXT
    /// lookup for dns-01, from the address lookup for http-01 and
    /// tls-alpn-01.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cnames: Vec<String>,
    /// DNSSEC status of the DNS answers this record relied on (the TXT
    /// answer, or the addresses resolved: "Secure", "Insecure",
    /// "Indeterminate"; RFC 4035 §4.3); absent with DNSSEC validation off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<String>,
}

impl Validator {
    pub fn new(cfg: &VaConfig) -> Result<Self> {
        Ok(Validator {
            inner: Arc::new(Inner {
                timeout_secs: cfg.timeout_secs.max(1),
                resolver: dns::Resolver::new(cfg)?,
                http01: http01::Http01::new(cfg)?,
                tlsalpn01: tlsalpn01::TlsAlpn01::new(cfg)?,
            }),
            clock: Clock::system(),
            perspectives: Arc::new([]),
            metrics: None,
        })
    }

    /// This validator on `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// This validator asking `perspectives` beside every check; with none
    /// it validates from here alone.
    pub fn with_perspectives(mut self, perspectives: Vec<Arc<dyn RemotePerspective>>) -> Self {
        self.perspectives = perspectives.into();
        self
    }

    /// This validator counting perspective answers in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The remote perspectives asked beside every check.
    pub fn perspectives(&self) -> &[Arc<dyn RemotePerspective>] {
        &self.perspectives
    }

    /// The resolver, for CAA checks and other lookups outside a challenge.
    pub fn resolver(&self) -> &dns::Resolver {
        &self.inner.resolver
    }

    /// One validation attempt; never panics; the whole attempt is bounded
    /// by `timeout_secs` (a timeout is `ErrorKind::Connection`
    /// "timeout after Ns").
    ///
    /// With remote perspectives configured, each is asked the same at once
    /// and BR 3.2.2.9's quorum decides (`mpic`).
    pub async fn validate(&self, req: &ValidationRequest) -> ValidationOutcome {
        let mut records = Vec::new();
        let (result, perspectives) = if self.perspectives.is_empty() {
            (self.primary(req, &mut records).await, Vec::new())
        } else {
            let check = RemoteCheck::Challenge {
                method: req.method,
                identifier: req.identifier.clone(),
                token: req.token.clone(),
                key_authorization: req.key_authorization.clone(),
            };
            self.corroborate(self.primary(req, &mut records), &check)
                .await
        };
        ValidationOutcome {
            result,
            records,
            perspectives,
        }
    }

    /// The attempt from here, with its evidence in `records`.
    async fn primary(
        &self,
        req: &ValidationRequest,
        records: &mut Vec<ValidationRecord>,
    ) -> Result<()> {
        let secs = self.inner.timeout_secs;
        let deadline = Instant::now() + Duration::from_secs(secs);
        let attempt = CatchUnwind(Box::pin(self.attempt(req, deadline, records)));
        let result = match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(r)) => r,
            Ok(Err(_panic)) => {
                tracing::error!(
                    identifier = %req.identifier, method = %req.method, "validation panicked"
                );
                Err(Error::internal("validation failed unexpectedly"))
            }
            Err(_) => Err(timeout_error(secs)),
        };
        // A success needs no line of its own: the RA logs every outcome
        // with the challenge and authorization ("validation finished").
        if let Err(e) = &result {
            // The detail can quote the key authorization (a mismatch says
            // what was expected), so it stays at debug.
            tracing::info!(
                identifier = %req.identifier, method = %req.method, kind = ?e.kind,
                "validation failed"
            );
            tracing::debug!(
                identifier = %req.identifier, detail = %e.detail, "validation failure detail"
            );
        }
        result
    }

    async fn attempt(
        &self,
        req: &ValidationRequest,
        deadline: Instant,
        records: &mut Vec<ValidationRecord>,
    ) -> Result<()> {
        check_identifier(&req.identifier)?;
        check_token(&req.token)?;
        let inner = &self.inner;
        match req.method {
            ChallengeType::Http01 => {
                inner
                    .http01
                    .validate(&inner.resolver, req, deadline, records)
                    .await
            }
            ChallengeType::Dns01 => dns01::validate(&inner.resolver, req, records).await,
            ChallengeType::TlsAlpn01 => {
                inner
                    .tlsalpn01
                    .validate(&inner.resolver, req, deadline, records)
                    .await
            }
        }
    }
}

/// The error for an attempt that ran out of time, wherever it happened.
pub(crate) fn timeout_error(secs: u64) -> Error {
    Error::new(ErrorKind::Connection, format!("timeout after {secs}s"))
}

/// A non-wildcard DNS name by the one syntax newOrder accepts
/// (`DnsName`), so it can be put into a URL and a Host header without
/// escaping. In any case: DNS compares names case-insensitively and the
/// VA uses the name as given.
pub(crate) fn is_dns_name(name: &str) -> bool {
    DnsName::parse(&name.to_ascii_lowercase()).is_ok_and(|n| !n.is_wildcard())
}

fn check_identifier(identifier: &str) -> Result<()> {
    if identifier.starts_with("*.") {
        // RFC 8555 §7.1.3: a wildcard authorization validates the base name.
        return Err(Error::malformed(
            "wildcard identifiers are validated through their base domain",
        ));
    }
    if !is_dns_name(identifier) {
        return Err(Error::malformed(format!(
            "invalid identifier {identifier:?} for validation"
        )));
    }
    Ok(())
}

/// RFC 8555 §8.3: a token contains only base64url characters; anything
/// else would change the path we request.
fn check_token(token: &str) -> Result<()> {
    let ok = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::malformed("invalid challenge token"))
    }
}

/// Turns a panic inside the attempt into an error so one bad response
/// cannot take a worker down with it.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testutil::DnsServer;

    async fn validator(dns: &DnsServer) -> Validator {
        Validator::new(&VaConfig {
            resolvers: vec![dns.addr],
            allow_loopback: true,
            timeout_secs: 2,
            dnssec: false,
            ..VaConfig::default()
        })
        .expect("validator builds")
    }

    fn request(method: ChallengeType, identifier: &str) -> ValidationRequest {
        ValidationRequest {
            method,
            identifier: identifier.into(),
            token: "tok".into(),
            key_authorization: "tok.thumb".into(),
        }
    }

    #[tokio::test]
    async fn wildcard_and_junk_identifiers_are_refused() {
        let dns = DnsServer::start().await;
        let v = validator(&dns).await;
        for id in [
            "*.example.jp",
            "",
            "example.jp/x",
            "a@b.jp",
            "127.0.0.1",
            "ex ample.jp",
        ] {
            let out = v.validate(&request(ChallengeType::Http01, id)).await;
            let err = out.result.expect_err(id);
            assert_eq!(err.kind, ErrorKind::Malformed, "{id}");
        }
    }

    #[tokio::test]
    async fn token_outside_base64url_is_refused() {
        let dns = DnsServer::start().await;
        let v = validator(&dns).await;
        let mut req = request(ChallengeType::Http01, "example.jp");
        req.token = "../../etc/passwd".into();
        let err = v.validate(&req).await.result.expect_err("bad token");
        assert_eq!(err.kind, ErrorKind::Malformed);
    }

    #[test]
    fn record_serializes_camel_case() {
        let rec = ValidationRecord {
            url: Some("http://example.jp/.well-known/acme-challenge/t".into()),
            hostname: "example.jp".into(),
            port: Some(80),
            addresses_resolved: vec!["::1".parse().expect("ip"), "127.0.0.1".parse().expect("ip")],
            address_used: Some("127.0.0.1".parse().expect("ip")),
            ..ValidationRecord::default()
        };
        let json = serde_json::to_value(&rec).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "url": "http://example.jp/.well-known/acme-challenge/t",
                "hostname": "example.jp",
                "port": 80,
                "addressesResolved": ["::1", "127.0.0.1"],
                "addressUsed": "127.0.0.1",
            })
        );
        let back: ValidationRecord = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, rec);
    }

    #[test]
    fn dns01_record_serializes_answers_chain_and_dnssec() {
        let rec = ValidationRecord {
            hostname: "example.jp".into(),
            dns_answers: vec!["abc".into()],
            cnames: vec!["_acme-challenge.example.jp -> x.provider.jp".into()],
            dnssec: Some("Secure".into()),
            ..ValidationRecord::default()
        };
        let json = serde_json::to_value(&rec).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "hostname": "example.jp",
                "dnsAnswers": ["abc"],
                "cnames": ["_acme-challenge.example.jp -> x.provider.jp"],
                "dnssec": "Secure",
            })
        );
        let back: ValidationRecord = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, rec);
    }

    #[test]
    fn debug_hides_key_authorization() {
        let req = request(ChallengeType::Http01, "example.jp");
        assert!(!format!("{req:?}").contains("thumb"));
    }

    #[tokio::test]
    async fn panics_become_internal_errors() {
        let out = CatchUnwind(Box::pin(async {
            if true {
                panic!("boom")
            }
        }))
        .await;
        assert!(out.is_err());
        let ok = CatchUnwind(Box::pin(async { 7 })).await;
        assert_eq!(ok.ok(), Some(7));
    }
}
