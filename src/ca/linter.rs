//! The external pre-issuance linter (BR §4.3.1.2): pkilint's REST service.
//!
//! `ca::lint` is the first line of checks (in process, always on); this
//! client asks pkilint, an independent implementation of the CA/B Forum
//! profiles, about the same to-be-signed certificate (the lint copy, whose
//! placeholder signature pkilint does not verify) and about every CRL
//! before it is published. FATAL and ERROR findings refuse; WARNING,
//! NOTICE and INFO findings are kept as evidence.
//!
//! Wire (pkilint 0.13 `pkilint.rest`): `POST {url}/certificate/cabf-serverauth/{type}`
//! or `POST {url}/crl/pkix/crl` with `{"b64": DER}`, answered by
//! `{"results": [{"validator", "node_path", "finding_descriptions":
//! [{"severity", "code", "message"}]}]}`. A linter that cannot be reached,
//! times out, answers with an HTTP error or with what does not parse is
//! `Unavailable`: nothing is signed and the client may retry.

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

use crate::config::CaConfig;
use crate::core::Profile;
use crate::error::{Error, Result};

/// Largest answer read. A certificate's findings fit in a few KiB; the
/// bound keeps a misbehaving linter from filling memory.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// How long one lint may take, connection included, when the
/// configuration does not say (`ca.linter_timeout_secs`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest piece of an error answer kept for the log.
const MAX_DETAIL_CHARS: usize = 200;

/// What pkilint is asked to check a certificate as (its CLI and REST
/// spell these `OV-FINAL-CERTIFICATE` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum CertificateType {
    DvFinal,
    OvFinal,
    EvFinal,
    /// RFC 6962 precertificates (with the poison extension).
    DvPre,
    OvPre,
    EvPre,
}

impl CertificateType {
    /// The final certificate of `profile`.
    pub fn final_of(profile: Profile) -> CertificateType {
        match profile {
            Profile::Dv => CertificateType::DvFinal,
            Profile::Ov => CertificateType::OvFinal,
            Profile::Ev => CertificateType::EvFinal,
        }
    }

    /// The precertificate of `profile`.
    pub fn pre_of(profile: Profile) -> CertificateType {
        match profile {
            Profile::Dv => CertificateType::DvPre,
            Profile::Ov => CertificateType::OvPre,
            Profile::Ev => CertificateType::EvPre,
        }
    }

    /// pkilint's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateType::DvFinal => "DV-FINAL-CERTIFICATE",
            CertificateType::OvFinal => "OV-FINAL-CERTIFICATE",
            CertificateType::EvFinal => "EV-FINAL-CERTIFICATE",
            CertificateType::DvPre => "DV-PRE-CERTIFICATE",
            CertificateType::OvPre => "OV-PRE-CERTIFICATE",
            CertificateType::EvPre => "EV-PRE-CERTIFICATE",
        }
    }
}

impl From<CertificateType> for &'static str {
    fn from(t: CertificateType) -> &'static str {
        t.as_str()
    }
}

impl fmt::Display for CertificateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// pkilint's severities, least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Info,
    Notice,
    Warning,
    Error,
    Fatal,
}

impl Severity {
    /// FATAL and ERROR refuse issuance (or publication); the rest are
    /// recorded.
    pub fn refuses(self) -> bool {
        self >= Severity::Error
    }
}

/// One finding: which validator, where in the structure, what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: String,
    pub message: Option<String>,
    pub validator: String,
    pub node_path: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {} at {}", self.severity, self.code, self.node_path)?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

/// Everything pkilint found in one document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    /// The findings that refuse (FATAL, ERROR).
    pub fn refusing(&self) -> impl Iterator<Item = &Finding> {
        self.0.iter().filter(|f| f.severity.refuses())
    }

    pub fn refuses(&self) -> bool {
        self.refusing().next().is_some()
    }

    /// Findings at `severity` or above.
    pub fn at_least(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.0.iter().filter(move |f| f.severity >= severity)
    }

    /// The refusing findings in one line, for a log or an error detail.
    pub fn describe_refusal(&self) -> String {
        let parts: Vec<String> = self.refusing().map(ToString::to_string).collect();
        parts.join("; ")
    }
}

/// What the external linter said about one certificate: kept as the
/// order's evidence whether it refused or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintReport {
    pub linter: &'static str,
    pub certificate_type: CertificateType,
    /// Whether a FATAL or ERROR finding refused issuance.
    pub refused: bool,
    pub findings: Vec<Finding>,
}

impl LintReport {
    pub fn new(certificate_type: CertificateType, findings: Findings) -> LintReport {
        LintReport {
            linter: "pkilint",
            certificate_type,
            refused: findings.refuses(),
            findings: findings.0,
        }
    }

    /// The refusing findings in one line.
    pub fn describe_refusal(&self) -> String {
        let parts: Vec<String> = self
            .findings
            .iter()
            .filter(|f| f.severity.refuses())
            .map(ToString::to_string)
            .collect();
        parts.join("; ")
    }
}

/// pkilint's answer, as sent.
#[derive(Deserialize)]
struct Answer {
    results: Vec<ResultEntry>,
}

#[derive(Deserialize)]
struct ResultEntry {
    validator: String,
    node_path: String,
    finding_descriptions: Vec<Description>,
}

#[derive(Deserialize)]
struct Description {
    severity: Severity,
    code: String,
    message: Option<String>,
}

/// Parses pkilint's answer into findings, one per finding description.
pub fn parse_findings(body: &[u8]) -> Result<Findings> {
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| Error::unavailable(format!("the linter's answer does not parse: {e}")))?;
    let findings = answer
        .results
        .into_iter()
        .flat_map(|r| {
            let (validator, node_path) = (r.validator, r.node_path);
            r.finding_descriptions.into_iter().map(move |d| Finding {
                severity: d.severity,
                code: d.code,
                message: d.message,
                validator: validator.clone(),
                node_path: node_path.clone(),
            })
        })
        .collect();
    Ok(Findings(findings))
}

/// A client of one pkilint REST service.
#[derive(Clone)]
pub struct Linter {
    /// `host:port`, for the connection and the Host header.
    authority: String,
    /// The URL's path, without a trailing slash ("" for the root).
    base_path: String,
    timeout: Duration,
}

impl fmt::Debug for Linter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Linter")
            .field("authority", &self.authority)
            .field("base_path", &self.base_path)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Linter {
    /// The linter `ca.linter_url` names, if any.
    pub fn from_config(cfg: &CaConfig) -> Result<Option<Linter>> {
        let timeout = Duration::from_secs(cfg.linter_timeout_secs.max(1));
        cfg.linter_url
            .as_deref()
            .map(|url| Linter::new(url, timeout))
            .transpose()
    }

    /// The service at `url` (`http://host:port[/path]`); each lint gives
    /// up after `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Linter> {
        let uri: Uri = url
            .parse()
            .map_err(|e| Error::internal(format!("ca.linter_url {url:?}: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(Error::internal(format!(
                "ca.linter_url {url:?}: only http:// is supported (run pkilint beside the CA)"
            )));
        }
        let authority = uri
            .authority()
            .filter(|a| a.port_u16().is_some())
            .ok_or_else(|| {
                Error::internal(format!("ca.linter_url {url:?}: needs a host and a port"))
            })?
            .to_string();
        Ok(Linter {
            authority,
            base_path: uri.path().trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// pkilint's findings about a certificate (or precertificate) of
    /// `kind`, DER.
    pub async fn lint_certificate(&self, der: &[u8], kind: CertificateType) -> Result<Findings> {
        self.lint(&format!("/certificate/cabf-serverauth/{kind}"), der)
            .await
    }

    /// pkilint's findings about a CRL, DER (RFC 5280 profile: the REST
    /// service has no CA/B Forum CRL linter).
    pub async fn lint_crl(&self, der: &[u8]) -> Result<Findings> {
        self.lint("/crl/pkix/crl", der).await
    }

    async fn lint(&self, path: &str, der: &[u8]) -> Result<Findings> {
        let body = serde_json::json!({ "b64": B64.encode(der) }).to_string();
        let answer = tokio::time::timeout(self.timeout, self.post(path, body))
            .await
            .map_err(|_| {
                Error::unavailable(format!(
                    "the linter at {} did not answer within {:?}",
                    self.authority, self.timeout
                ))
            })??;
        parse_findings(&answer)
    }

    /// One POST on a fresh connection; the body of a 200 answer.
    async fn post(&self, path: &str, body: String) -> Result<Bytes> {
        let down = |e: &dyn fmt::Display| {
            Error::unavailable(format!("the linter at {}: {e}", self.authority))
        };
        let tcp = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| down(&e))?;
        let (mut sender, conn) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| down(&e))?;
        tokio::spawn(conn);
        let req = Request::post(format!("{}{path}", self.base_path))
            .header(HOST, &self.authority)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| down(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| down(&e))?;
        let status = resp.status();
        let bytes = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| down(&e))?
            .to_bytes();
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&bytes);
            let text: String = text.chars().take(MAX_DETAIL_CHARS).collect();
            return Err(down(&format!("HTTP {status}: {text}")));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// An answer as pkilint 0.13.3 gives it for an OV leaf with one
    /// warning, and an error added by hand.
    const ANSWER: &str = r#"{"results": [
      {"validator": "SubscriberSubjectValidator", "node_path": "certificate.tbsCertificate.subject",
       "finding_descriptions": [{"severity": "ERROR", "code": "cabf.serverauth.ov.subject_missing_org", "message": null}]},
      {"validator": "AuthorityKeyIdentifierValidator", "node_path": "certificate.tbsCertificate.extensions.2",
       "finding_descriptions": [
         {"severity": "WARNING", "code": "cabf.serverauth.some_warning", "message": "why"},
         {"severity": "INFO", "code": "pkix.info_only", "message": null}]}
    ]}"#;

    #[test]
    fn findings_parse_one_per_description() {
        let f = parse_findings(ANSWER.as_bytes()).unwrap();
        assert_eq!(f.0.len(), 3);
        assert_eq!(f.0[0].severity, Severity::Error);
        assert_eq!(f.0[0].validator, "SubscriberSubjectValidator");
        assert_eq!(f.0[1].node_path, "certificate.tbsCertificate.extensions.2");
        assert_eq!(f.0[1].message.as_deref(), Some("why"));
        assert!(f.refuses());
        assert_eq!(f.refusing().count(), 1);
        assert_eq!(f.at_least(Severity::Warning).count(), 2);
        assert!(f
            .describe_refusal()
            .contains("cabf.serverauth.ov.subject_missing_org"));
    }

    #[test]
    fn severities_order_and_refuse_from_error_up() {
        for (s, refuses) in [
            ("FATAL", true),
            ("ERROR", true),
            ("WARNING", false),
            ("NOTICE", false),
            ("INFO", false),
        ] {
            let body = format!(
                r#"{{"results": [{{"validator": "v", "node_path": "p",
                   "finding_descriptions": [{{"severity": "{s}", "code": "c"}}]}}]}}"#
            );
            assert_eq!(parse_findings(body.as_bytes()).unwrap().refuses(), refuses);
        }
        assert!(!parse_findings(br#"{"results": []}"#).unwrap().refuses());
    }

    #[test]
    fn an_answer_that_does_not_parse_is_unavailable() {
        for body in [&b"<html>"[..], br#"{"results": [{"validator": 1}]}"#] {
            let e = parse_findings(body).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unavailable);
        }
        let unknown = br#"{"results": [{"validator": "v", "node_path": "p",
            "finding_descriptions": [{"severity": "SEVERE", "code": "c"}]}]}"#;
        assert!(parse_findings(unknown).is_err());
    }

    #[test]
    fn urls_need_http_host_and_port() {
        let l = Linter::new("http://127.0.0.1:8081/", DEFAULT_TIMEOUT).unwrap();
        assert_eq!(
            (l.authority.as_str(), l.base_path.as_str()),
            ("127.0.0.1:8081", "")
        );
        let l = Linter::new("http://lint:80/pkilint", DEFAULT_TIMEOUT).unwrap();
        assert_eq!(l.base_path, "/pkilint");
        for bad in [
            "https://127.0.0.1:8081",
            "http://127.0.0.1",
            "127.0.0.1:8081",
            "x",
        ] {
            assert!(Linter::new(bad, DEFAULT_TIMEOUT).is_err(), "{bad}");
        }
    }

    #[test]
    fn certificate_types_are_spelled_as_pkilint_does() {
        assert_eq!(
            CertificateType::final_of(Profile::Ov).as_str(),
            "OV-FINAL-CERTIFICATE"
        );
        assert_eq!(
            CertificateType::pre_of(Profile::Ev).to_string(),
            "EV-PRE-CERTIFICATE"
        );
    }

    /// Nothing listens: the lint is `Unavailable`, quickly.
    #[tokio::test]
    async fn a_linter_that_is_down_is_unavailable() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let l = Linter::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2)).unwrap();
        let e = l
            .lint_certificate(b"\x30\x00", CertificateType::OvFinal)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
    }

    /// A linter that accepts the connection and never answers times out.
    #[tokio::test]
    async fn a_linter_that_hangs_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _hold = tokio::spawn(async move {
            let (_s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let l = Linter::new(&format!("http://{addr}"), Duration::from_millis(300)).unwrap();
        let e = l.lint_crl(b"\x30\x00").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(e.detail.contains("did not answer"), "{e}");
    }
}
