//! Certificate revocation lists signed by the intermediate (RFC 5280 §5,
//! BR 4.9.7 and 7.2).
//!
//! Subscriber certificates are partitioned over several CRLs ("shards");
//! each certificate's cRLDistributionPoints names the one CRL that will
//! list it, and that CRL carries the same URL in its critical
//! issuingDistributionPoint (BR 7.2.2: required for partitioned CRLs).

use rcgen::{
    CertificateRevocationListParams, CrlDistributionPoint, CrlIssuingDistributionPoint, CrlScope,
    KeyIdMethod, RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use super::{lint, CertificateAuthority};
use crate::core::RevocationReason;
use crate::error::{Error, Result};

/// BR 4.9.7: nextUpdate is at most ten days after thisUpdate.
pub const MAX_CRL_VALIDITY: Duration = Duration::days(10);

/// One revoked certificate as the CRL lists it (RFC 5280 §5.1.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// The certificate's serial number, big-endian magnitude (a positive
    /// INTEGER; leading zero octets are dropped when encoded).
    pub serial: Vec<u8>,
    /// When the CA processed the revocation (revocationDate).
    pub revoked_at: OffsetDateTime,
    pub reason: RevocationReason,
    /// When the key was (or may have been) compromised, if known
    /// (RFC 5280 §5.3.2).
    pub invalidity_date: Option<OffsetDateTime>,
}

/// What to sign: the CRL of one shard.
#[derive(Debug, Clone)]
pub struct CrlRequest<'a> {
    /// cRLNumber (RFC 5280 §5.2.3): strictly increasing per shard.
    pub number: u64,
    /// Whole seconds are used; a sub-second part is dropped.
    pub this_update: OffsetDateTime,
    /// At most [`MAX_CRL_VALIDITY`] after `this_update`.
    pub next_update: OffsetDateTime,
    /// The shard's http:// URL: the issuingDistributionPoint fullName, and
    /// the cRLDistributionPoints URL of every certificate it covers.
    pub url: &'a str,
    pub entries: &'a [RevokedEntry],
}

impl CertificateAuthority {
    /// Signs a version 2 CRL with the intermediate key: AKI (the
    /// intermediate's subjectKeyIdentifier) and cRLNumber (RFC 5280 §5.2:
    /// both required), a critical issuingDistributionPoint with the shard
    /// URL and onlyContainsUserCerts (BR 7.2.2.1), and one entry per
    /// revoked certificate. A reasonCode is written for every reason except
    /// unspecified, which BR 7.2.2 (and RFC 5280 §5.3.1) says to omit.
    ///
    /// The result is parsed back and checked before it is returned, as
    /// certificates are linted: a CRL that fails is never published.
    pub fn sign_crl(&self, req: &CrlRequest<'_>) -> Result<Vec<u8>> {
        let this_update = super::profile::whole_seconds(req.this_update);
        let next_update = super::profile::whole_seconds(req.next_update);
        if next_update <= this_update {
            return Err(Error::internal("CRL nextUpdate must be after thisUpdate"));
        }
        if next_update - this_update > MAX_CRL_VALIDITY {
            return Err(Error::internal(
                "CRL nextUpdate is more than ten days after thisUpdate (BR 4.9.7)",
            ));
        }
        if req.number == 0 {
            return Err(Error::internal("CRL numbers start at 1"));
        }
        // BR 7.1.2.11.2: distribution points are http:// URLs.
        if !req.url.starts_with("http://") {
            return Err(Error::internal(format!(
                "CRL distribution point {:?} is not an http:// URL",
                req.url
            )));
        }

        let inter = X509Certificate::from_der(&self.intermediate_der)
            .map(|(_, c)| c)
            .map_err(|e| Error::internal(format!("intermediate does not parse: {e}")))?;
        // RFC 5280 §5.2.1: the AKI must identify the signing key the way the
        // issuer's certificate does, so reuse its subjectKeyIdentifier.
        let key_identifier_method = match lint::subject_key_id(&inter) {
            Some(ski) => KeyIdMethod::PreSpecified(ski.to_vec()),
            None => KeyIdMethod::Sha256,
        };

        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(req.number),
            issuing_distribution_point: Some(CrlIssuingDistributionPoint {
                distribution_point: CrlDistributionPoint {
                    uris: vec![req.url.to_owned()],
                },
                // BR 7.2.2.1: TRUE when the CRL covers only subscriber
                // certificates, as ours do.
                scope: Some(CrlScope::UserCertsOnly),
            }),
            revoked_certs: req.entries.iter().map(revoked_params).collect(),
            key_identifier_method,
        };
        let crl = params
            .signed_by(&self.issuer)
            .map_err(super::key::signing_error("signing the CRL"))?;
        let der = crl.der().to_vec();
        check_crl(&der, req, &inter).map_err(|m| {
            tracing::error!(number = req.number, url = req.url, problem = %m, "CRL check failed");
            Error::internal(format!("CRL check failed: {m}"))
        })?;
        Ok(der)
    }
}

impl CertificateAuthority {
    /// [`Self::sign_crl`], then the external linter (pkilint's RFC 5280
    /// CRL profile), when one is configured, before anything is stored or
    /// published: FATAL or ERROR findings refuse (`ServerInternal`), a
    /// linter that cannot be asked is `Unavailable` (the next round
    /// retries). `rt` runs the lint: signing happens inside the store's
    /// blocking transaction, off the async workers.
    pub fn sign_crl_linted(
        &self,
        req: &CrlRequest<'_>,
        rt: &tokio::runtime::Handle,
    ) -> Result<Vec<u8>> {
        let der = self.sign_crl(req)?;
        let Some(linter) = &self.linter else {
            return Ok(der);
        };
        let findings = rt.block_on(linter.lint_crl(&der)).map_err(|e| {
            tracing::warn!(number = req.number, url = req.url, error = %e.detail, "CRL linter unavailable");
            Error::unavailable("the CRL linter is unavailable")
        })?;
        if findings.refuses() {
            let refusal = findings.describe_refusal();
            tracing::error!(number = req.number, url = req.url, lint = %refusal, "pkilint refused a CRL");
            return Err(Error::internal(format!("CRL lint (pkilint): {refusal}")));
        }
        for f in findings.at_least(super::linter::Severity::Warning) {
            tracing::warn!(number = req.number, url = req.url, finding = %f, "pkilint CRL finding");
        }
        Ok(der)
    }
}

fn revoked_params(e: &RevokedEntry) -> RevokedCertParams {
    use rcgen::RevocationReason as R;
    // BR 7.2.2: reasonCode absent for unspecified, present otherwise.
    let reason_code = match e.reason {
        RevocationReason::Unspecified => None,
        RevocationReason::KeyCompromise => Some(R::KeyCompromise),
        RevocationReason::AffiliationChanged => Some(R::AffiliationChanged),
        RevocationReason::Superseded => Some(R::Superseded),
        RevocationReason::CessationOfOperation => Some(R::CessationOfOperation),
        RevocationReason::PrivilegeWithdrawn => Some(R::PrivilegeWithdrawn),
    };
    RevokedCertParams {
        serial_number: SerialNumber::from_slice(&e.serial),
        revocation_time: super::profile::whole_seconds(e.revoked_at),
        reason_code,
        invalidity_date: e.invalidity_date.map(super::profile::whole_seconds),
    }
}

/// Parses the signed CRL and checks what RFC 5280 §5 and BR 7.2 require of
/// it, and that it says what was asked.
fn check_crl(der: &[u8], req: &CrlRequest<'_>, inter: &X509Certificate<'_>) -> Result<(), String> {
    use x509_parser::x509::X509Version;

    let (rest, crl) =
        CertificateRevocationList::from_der(der).map_err(|e| format!("does not parse: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing data after the CRL".into());
    }
    crl.verify_signature(inter.public_key())
        .map_err(|e| format!("signature does not verify with the intermediate: {e}"))?;
    // RFC 5280 §5.1.2.1: version 2 because extensions are present.
    if crl.version() != Some(X509Version::V2) {
        return Err("not a version 2 CRL".into());
    }
    if crl.issuer().as_raw() != inter.subject().as_raw() {
        return Err("issuer differs from the intermediate's subject".into());
    }
    if crl.next_update().is_none() {
        return Err("nextUpdate missing (RFC 5280 §5.1.2.5)".into());
    }
    let number = crl.crl_number().ok_or("cRLNumber missing")?;
    if number.to_u64_digits() != [req.number] {
        return Err(format!("cRLNumber is {number}, expected {}", req.number));
    }

    let mut aki = false;
    let mut idp = false;
    for ext in crl.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                let want = lint::subject_key_id(inter);
                aki = want.is_none() || a.key_identifier.as_ref().map(|k| k.0) == want;
                if !aki {
                    return Err("authorityKeyIdentifier differs from the intermediate's SKI".into());
                }
            }
            ParsedExtension::IssuingDistributionPoint(p) => {
                if !ext.critical {
                    return Err("issuingDistributionPoint is not critical (RFC 5280 §5.2.5)".into());
                }
                let uris = match &p.distribution_point {
                    Some(x509_parser::extensions::DistributionPointName::FullName(names)) => names
                        .iter()
                        .filter_map(|n| match n {
                            x509_parser::extensions::GeneralName::URI(u) => Some(*u),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                    _ => vec![],
                };
                if uris != [req.url] || !p.only_contains_user_certs {
                    return Err(format!(
                        "issuingDistributionPoint is {uris:?} (user certs only: {}), expected [{:?}]",
                        p.only_contains_user_certs, req.url
                    ));
                }
                idp = true;
            }
            _ => {}
        }
    }
    if !aki {
        return Err("authorityKeyIdentifier missing (RFC 5280 §5.2.1)".into());
    }
    if !idp {
        return Err("issuingDistributionPoint missing (BR 7.2.2)".into());
    }
    let listed = crl.iter_revoked_certificates().count();
    if listed != req.entries.len() {
        return Err(format!(
            "lists {listed} certificates, expected {}",
            req.entries.len()
        ));
    }
    Ok(())
}

/// The `ca` test helpers, for the publishing tests outside `ca` (the
/// helper module itself is private to `ca`).
#[cfg(test)]
pub(crate) mod test_support {
    pub(crate) use crate::ca::testutil::{have_openssl, openssl_verify, settings, TestCa};
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::process::Command;

    use rcgen::{KeyPair, PublicKeyData};
    use x509_parser::prelude::FromDer;

    use super::*;
    use crate::ca::testutil::{have_openssl, openssl_verify, spec, TestCa};
    use crate::ca::Serial;

    const URL: &str = "http://crl.trustgate.jp/crl/3.crl";

    fn entry(serial: Serial, reason: RevocationReason) -> RevokedEntry {
        RevokedEntry {
            serial: serial.0.to_vec(),
            revoked_at: OffsetDateTime::now_utc() - Duration::hours(1),
            reason,
            invalidity_date: None,
        }
    }

    fn crl_request<'a>(number: u64, entries: &'a [RevokedEntry]) -> CrlRequest<'a> {
        let now = OffsetDateTime::now_utc();
        CrlRequest {
            number,
            this_update: now,
            next_update: now + Duration::days(7),
            url: URL,
            entries,
        }
    }

    fn openssl_crl_text(t: &TestCa, der: &[u8]) -> String {
        let p = t.dir.path().join("crl.der");
        std::fs::write(&p, der).unwrap();
        let out = Command::new("openssl")
            .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn crl_lists_entries_with_reason_codes() {
        let t = TestCa::new();
        let unspecified = Serial::random().unwrap();
        let compromised = Serial::random().unwrap();
        let superseded = Serial::random().unwrap();
        let mut with_date = entry(compromised, RevocationReason::KeyCompromise);
        with_date.invalidity_date = Some(OffsetDateTime::now_utc() - Duration::days(2));
        let entries = [
            entry(unspecified, RevocationReason::Unspecified),
            with_date,
            entry(superseded, RevocationReason::Superseded),
        ];
        let der = t.ca.sign_crl(&crl_request(7, &entries)).unwrap();

        let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
        let listed: Vec<_> = crl.iter_revoked_certificates().collect();
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[0].raw_serial(), unspecified.0);
        assert!(listed[0].reason_code().is_none());
        assert!(listed[0].extensions().is_empty());
        assert_eq!(listed[1].reason_code().unwrap().1 .0, 1);
        assert!(listed[1].invalidity_date().is_some());
        assert_eq!(listed[2].reason_code().unwrap().1 .0, 4);
        let span = crl.next_update().unwrap().timestamp() - crl.last_update().timestamp();
        assert!(span <= MAX_CRL_VALIDITY.whole_seconds(), "{span}");

        if !have_openssl() {
            return;
        }
        let text = openssl_crl_text(&t, &der);
        assert!(text.contains("Version 2"), "{text}");
        assert!(
            text.contains("X509v3 CRL Number: \n                7"),
            "{text}"
        );
        assert!(
            text.contains("X509v3 Issuing Distribution Point: critical"),
            "{text}"
        );
        assert!(text.contains(&format!("URI:{URL}")), "{text}");
        assert!(text.contains("Only User Certificates"), "{text}");
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
        assert!(text.contains("Key Compromise"), "{text}");
        assert!(text.contains("Superseded"), "{text}");
        assert!(text.contains("Invalidity Date"), "{text}");
        assert!(!text.contains("Unspecified"), "{text}");
        // The unspecified entry (first) has no CRL entry extensions.
        let first = text
            .split("Serial Number: ")
            .nth(1)
            .unwrap()
            .to_ascii_lowercase();
        assert!(first.starts_with(&unspecified.to_hex()), "{first}");
        assert!(!first.contains("crl entry extensions"), "{first}");
    }

    #[test]
    fn empty_crl_has_no_revoked_certificates_field() {
        let t = TestCa::new();
        let der = t.ca.sign_crl(&crl_request(1, &[])).unwrap();
        let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
        assert_eq!(crl.iter_revoked_certificates().count(), 0);
        if have_openssl() {
            let text = openssl_crl_text(&t, &der);
            assert!(text.contains("No Revoked Certificates."), "{text}");
        }
    }

    #[test]
    fn refuses_long_validity_non_http_urls_and_number_zero() {
        let t = TestCa::new();
        let mut r = crl_request(1, &[]);
        r.next_update = r.this_update + Duration::days(10) + Duration::seconds(1);
        assert!(t.ca.sign_crl(&r).unwrap_err().detail.contains("BR 4.9.7"));
        r.next_update = r.this_update + Duration::days(10);
        t.ca.sign_crl(&r).unwrap();
        r.next_update = r.this_update;
        assert!(t.ca.sign_crl(&r).is_err());

        let mut r = crl_request(1, &[]);
        r.url = "https://crl.trustgate.jp/crl/0.crl";
        assert!(t.ca.sign_crl(&r).unwrap_err().detail.contains("http://"));
        let r = crl_request(0, &[]);
        assert!(t.ca.sign_crl(&r).is_err());
    }

    /// `openssl verify -crl_check`: the revoked leaf fails, another leaf
    /// with the same CRL distribution point passes.
    #[test]
    fn openssl_verify_honours_the_crl() {
        let t = TestCa::new();
        let leaf = |t: &TestCa| {
            let key = KeyPair::generate().unwrap();
            let mut req = spec(&["a.example.net"], key.subject_public_key_info());
            req.crl_url = Some(URL.into());
            t.ca.sign(&req).unwrap()
        };
        let revoked = leaf(&t);
        let good = leaf(&t);
        let entries = [entry(revoked.serial, RevocationReason::KeyCompromise)];
        let der = t.ca.sign_crl(&crl_request(2, &entries)).unwrap();
        let crl_pem = pem::encode(&pem::Pem::new("X509 CRL", der));
        let crl_path = t.write("verify.crl.pem", &crl_pem);
        let crl_path = crl_path.to_str().unwrap();
        let args = ["-crl_check", "-CRLfile", crl_path];

        let Some((ok, out)) = openssl_verify(&t, &revoked.pem, &args) else {
            return;
        };
        assert!(!ok, "a revoked certificate verified: {out}");
        assert!(out.contains("certificate revoked"), "{out}");
        let (ok, out) = openssl_verify(&t, &good.pem, &args).unwrap();
        assert!(ok, "{out}");
    }
}
