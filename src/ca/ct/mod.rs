//! Certificate Transparency (RFC 6962): the CA submits each
//! precertificate to every configured log at once, keeps the SCTs whose
//! signatures verify with the log's key, and embeds them when it signs
//! the final certificate — if they meet the policy (`policy`).
//!
//! Submitting is the network step of issuance, so it lives beside the
//! signing it sits between: `ca::precert` signs the precertificate and
//! the final certificate; this module only talks to the logs.
//!
//! Files: `sct` (wire and TLS encodings, the signed bytes), `tbs` (the
//! tbsCertificate a log signs), `log` (one log: key, endpoint, checks),
//! `policy` (how many SCTs, from how many operators).

mod log;
pub mod policy;
pub mod sct;
pub mod tbs;

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

pub use log::MAX_ANSWER_BYTES;
pub use sct::Sct;

use crate::config::CtConfig;
use crate::error::{Error, ErrorKind, Result};
use log::Log;
use policy::Policy;

/// The configured logs and the policy their SCTs must meet.
#[derive(Debug)]
pub struct Logs {
    logs: Vec<Log>,
    policy: Policy,
    timeout: Duration,
}

/// A signed precertificate and what a log's signature covers besides the
/// timestamp and extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precertificate {
    pub der: Vec<u8>,
    /// Its tbsCertificate without the poison extension.
    pub tbs: Vec<u8>,
    /// SHA-256 of the issuer's SubjectPublicKeyInfo.
    pub issuer_key_hash: [u8; 32],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Logs {
    /// The logs of `cfg`, or `None` when there are none (a development CA
    /// issues without SCTs). Fails at startup on a bad key, URL or name.
    pub fn from_config(cfg: &CtConfig) -> Result<Option<Arc<Logs>>> {
        if cfg.logs.is_empty() {
            return Ok(None);
        }
        let tls = if cfg.logs.iter().any(|l| l.url.starts_with("https://")) {
            Some(tls_config(&cfg.roots_file)?)
        } else {
            None
        };
        let mut logs: Vec<Log> = Vec::new();
        for l in &cfg.logs {
            if l.name.trim().is_empty() || l.operator.trim().is_empty() {
                return Err(Error::internal(
                    "ct.logs: every log needs a name and an operator",
                ));
            }
            if logs.iter().any(|o| o.name == l.name) {
                return Err(Error::internal(format!(
                    "ct.logs: the name {:?} is used twice",
                    l.name
                )));
            }
            logs.push(Log::new(l, tls.clone())?);
        }
        let policy = Policy::new(&cfg.policy);
        Ok(Some(Arc::new(Logs {
            logs,
            policy,
            timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
        })))
    }

    /// Submits `chain` (the precertificate, then its issuer) to every log
    /// at once; returns the valid SCTs, in the order of the logs, if they
    /// meet the policy for the precertificate's lifetime. Otherwise an
    /// `Unavailable` error that names each log that gave none, and why.
    pub async fn collect(&self, pre: &Precertificate, chain: &[&[u8]]) -> Result<Vec<Sct>> {
        let signed = |timestamp: u64, extensions: &[u8]| {
            sct::signed_input(timestamp, &pre.issuer_key_hash, &pre.tbs, extensions)
        };
        let answers = futures_util::future::join_all(
            self.logs
                .iter()
                .map(|l| l.submit(chain, self.timeout, signed)),
        )
        .await;
        let mut scts = Vec::new();
        let mut operators = Vec::new();
        let mut failed = Vec::new();
        for (log, answer) in self.logs.iter().zip(answers) {
            match answer {
                Ok(sct) => {
                    operators.push(log.operator.as_str());
                    scts.push(sct);
                }
                Err(why) => {
                    tracing::warn!(log = %log.name, %why, "CT log gave no SCT");
                    failed.push(format!("{} ({why})", log.name));
                }
            }
        }
        let need = self.policy.requirement(pre.not_before, pre.not_after);
        if need.met_by(operators.iter().copied()) {
            return Ok(scts);
        }
        Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "Certificate Transparency: {} valid SCT(s) from {} log operator(s), but the CT policy needs {}; logs without an SCT: {}. The precertificate was logged where possible; retry with a new order later",
                scts.len(),
                operators.iter().collect::<std::collections::BTreeSet<_>>().len(),
                need.describe(),
                if failed.is_empty() { "none".to_owned() } else { failed.join(", ") },
            ),
        ))
    }
}

/// Client TLS for `https://` logs: the roots in the PEM bundle `path`.
fn tls_config(path: &std::path::Path) -> Result<Arc<rustls::ClientConfig>> {
    let context = |e: String| Error::internal(format!("ct.roots_file {}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| context(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for p in pem::parse_many(text).map_err(|e| context(e.to_string()))? {
        if p.tag() == "CERTIFICATE" {
            // A bundle may hold certificates webpki cannot use; skip them.
            let _ = roots.add(p.into_contents().into());
        }
    }
    if roots.is_empty() {
        return Err(context("no usable CERTIFICATE in the file".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| context(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests;
