//! What the CA decides for every subscriber certificate (as Boulder's
//! `ca/ca.go` does): the RA asks for a certificate for this key, these
//! names and this profile; the CA picks the serial, backdates notBefore,
//! caps the validity by the BR rule in force on the issuance date, and
//! names the CRL shard and the issuer's URLs.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::linter::{CertificateType, LintReport, Linter};
use super::sign::{CertificateSpec, IssuedCertificate, Prepared};
use super::{profile::Profile, schedule, CertificateAuthority, Serial, SubjectInfo};
use crate::config::CaConfig;
use crate::error::{Error, Result};

/// What the client reads when the external linter cannot be asked: the
/// order stays `ready` and the finalize may be retried.
const LINTER_UNAVAILABLE: &str =
    "pre-issuance linting is temporarily unavailable; retry the finalize later";

/// What the RA asks the CA to sign. Everything else the CA decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuanceRequest {
    /// SubjectPublicKeyInfo DER from the CSR.
    pub public_key_der: Vec<u8>,
    /// DNS names, already validated and lowercased; may include `*.x`
    /// wildcards when the profile allows them.
    pub names: Vec<String>,
    pub profile: Profile,
    /// The vetted organization's subject: required by `ov` and `ev`
    /// ([`Profile::requires_subject`]), `None` for `dv`. Never taken from
    /// the CSR.
    pub subject: Option<SubjectInfo>,
    /// The order's notBefore and notAfter (RFC 8555 §7.4), when the client
    /// asked for them; honoured within the maximum validity in force.
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
}

/// What [`CertificateAuthority::issue`] signed, and the CRL shard that
/// will list it if it is revoked (the shard its CRL URL names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub certificate: IssuedCertificate,
    pub crl_shard: u32,
    /// What the external linter said (warnings and notes: it did not
    /// refuse), when one is configured.
    pub lint: Option<LintReport>,
}

/// Why [`CertificateAuthority::issue_linted`] signed nothing, with the
/// external linter's findings when it refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueFailure {
    pub error: Error,
    pub lint: Option<LintReport>,
}

impl From<Error> for IssueFailure {
    fn from(error: Error) -> Self {
        IssueFailure { error, lint: None }
    }
}

/// The CA's own rules for every subscriber certificate, fixed at start
/// from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The lifetime asked for (`ca.validity_days`); the BR maximum in
    /// force at issuance caps it.
    pub validity: Duration,
    /// notBefore is set this far before the issuance (`ca.backdate_secs`)
    /// to absorb client clock skew.
    pub backdate: Duration,
    pub urls: IssuerUrls,
}

/// Where relying parties find the issuer and the CRLs: the AIA caIssuers
/// URL and one cRLDistributionPoints URL per CRL shard (BR 7.1.2.7.7,
/// 7.1.2.11.2), as `publish` serves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerUrls {
    issuer: String,
    /// Indexed by shard number.
    crls: Vec<String>,
    shards: u32,
}

impl Settings {
    pub fn new(cfg: &CaConfig, urls: IssuerUrls) -> Settings {
        Settings {
            validity: Duration::days(i64::from(cfg.validity_days)),
            backdate: Duration::seconds(cfg.backdate_secs as i64),
            urls,
        }
    }

    /// notBefore and notAfter of a certificate issued at `now`: the
    /// requested ones, or notBefore backdated and the configured lifetime;
    /// never longer than the BR maximum in force at `now`.
    fn validity(
        &self,
        req: &IssuanceRequest,
        now: OffsetDateTime,
    ) -> (OffsetDateTime, OffsetDateTime) {
        let not_before = req.not_before.unwrap_or(now - self.backdate);
        let cap = schedule::max_validity(now);
        // BR 6.3.2 counts validity inclusively, hence the second.
        let longest = not_before + self.validity.min(cap) - Duration::SECOND;
        let not_after = req
            .not_after
            .map_or(longest, |na| na.min(not_before + cap - Duration::SECOND));
        (not_before, not_after)
    }
}

impl IssuerUrls {
    /// `issuer` is the caIssuers URL; `crls[shard]` the CRL URL of each
    /// shard, at least one.
    pub fn new(issuer: String, crls: Vec<String>) -> Result<IssuerUrls> {
        let shards = u32::try_from(crls.len())
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| Error::internal("the CA needs between 1 and 2^32-1 CRL URLs"))?;
        Ok(IssuerUrls {
            issuer,
            crls,
            shards,
        })
    }

    /// The shard of the certificate with `serial` (`Serial::crl_shard`)
    /// and that shard's CRL URL.
    fn crl_for(&self, serial: &Serial) -> Result<(u32, &str)> {
        let shard = serial.crl_shard(self.shards);
        let url = self
            .crls
            .get(shard as usize)
            .ok_or_else(|| Error::internal(format!("no CRL URL for shard {shard}")))?;
        Ok((shard, url))
    }
}

impl CertificateAuthority {
    /// Issues the certificate `req` asks for, now by the CA's clock:
    /// decides serial, validity and URLs, then builds, lints and signs it
    /// (`sign`). Signing is CPU work: call it off the async workers. A CA
    /// with an external linter refuses: it issues through
    /// [`Self::issue_linted`] only.
    pub fn issue(&self, req: IssuanceRequest) -> Result<Issued> {
        if self.linter.is_some() || self.ct_logs.is_some() {
            return Err(Error::internal(
                "this CA has an external linter or CT logs: issue through issue_linted or the RA",
            ));
        }
        let now = self.clock.now();
        let (spec, crl_shard) = self.decide(req, now)?;
        let certificate = self.sign_at(&spec, now)?;
        Ok(Issued {
            certificate,
            crl_shard,
            lint: None,
        })
    }

    /// Issues as [`Self::issue`] does, with the external linter (pkilint)
    /// between the in-process lint and the signature: decide and prepare
    /// (off the async workers), lint the copy, then sign. FATAL or ERROR
    /// findings refuse (`ServerInternal`, findings in the failure); a
    /// linter that cannot be asked refuses as `Unavailable` (retry).
    pub async fn issue_linted(
        self: &Arc<Self>,
        req: IssuanceRequest,
    ) -> Result<Issued, IssueFailure> {
        let plan = self.plan(req)?;
        self.sign_planned(&plan).await
    }

    /// Signs `spec` as decided at `at`: built and linted in process, then
    /// linted by the external linter when one is configured (as a
    /// precertificate when `spec` carries the poison), then signed.
    pub(super) async fn sign_linted(
        self: &Arc<Self>,
        spec: CertificateSpec,
        at: OffsetDateTime,
    ) -> Result<(IssuedCertificate, Option<LintReport>), IssueFailure> {
        let Some(linter) = self.linter.clone() else {
            let certificate = self.blocking(move |ca| ca.sign_at(&spec, at)).await?;
            return Ok((certificate, None));
        };
        let prepared = self.blocking(move |ca| ca.prepare(spec, at)).await?;
        let report = external_lint(&linter, &prepared).await?;
        let certificate = self.blocking(move |ca| ca.finish(prepared)).await?;
        Ok((certificate, Some(report)))
    }

    /// `f` on a blocking thread: building and signing are CPU work.
    pub(super) async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&CertificateAuthority) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let ca = self.clone();
        tokio::task::spawn_blocking(move || f(&ca))
            .await
            .map_err(|e| Error::internal(format!("issuing: {e}")))?
    }

    /// The certificate's serial, validity and URLs (BR 7.1.2.7: CRL
    /// distribution point and AIA caIssuers, both http), and its CRL shard.
    pub(super) fn decide(
        &self,
        req: IssuanceRequest,
        now: OffsetDateTime,
    ) -> Result<(CertificateSpec, u32)> {
        let serial = Serial::random()?;
        let (not_before, not_after) = self.settings.validity(&req, now);
        let urls = &self.settings.urls;
        let (crl_shard, crl_url) = urls.crl_for(&serial)?;
        let spec = CertificateSpec {
            public_key_der: req.public_key_der,
            names: req.names,
            profile: req.profile,
            not_before,
            not_after,
            serial,
            crl_url: Some(crl_url.to_owned()),
            issuer_url: Some(urls.issuer.clone()),
            subject: req.subject,
            ct: super::CtExtension::None,
        };
        Ok((spec, crl_shard))
    }
}

/// pkilint's verdict on the prepared certificate's lint copy.
async fn external_lint(linter: &Linter, prepared: &Prepared) -> Result<LintReport, IssueFailure> {
    let spec = prepared.spec();
    let kind = match spec.ct {
        super::CtExtension::Poison => CertificateType::pre_of(spec.profile),
        _ => CertificateType::final_of(spec.profile),
    };
    let findings = match linter.lint_certificate(prepared.lint_copy(), kind).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(serial = %spec.serial, error = %e.detail, "pre-issuance linter unavailable");
            return Err(Error::unavailable(LINTER_UNAVAILABLE).into());
        }
    };
    let report = LintReport::new(kind, findings);
    if !report.refused {
        return Ok(report);
    }
    let refusal = report.describe_refusal();
    tracing::error!(
        serial = %spec.serial,
        names = ?spec.names,
        profile = spec.profile.name(),
        lint = %refusal,
        "pkilint refused a certificate"
    );
    Err(IssueFailure {
        error: Error::internal(format!("pre-issuance lint (pkilint): {refusal}")),
        lint: Some(report),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rcgen::{KeyPair, PublicKeyData};
    use time::macros::datetime;
    use x509_parser::certificate::X509Certificate;
    use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
    use x509_parser::prelude::FromDer;

    use super::*;
    use crate::ca::testutil::{ov_subject, settings, TestCa};
    use crate::core::Clock;

    fn ov_request(key: &KeyPair) -> IssuanceRequest {
        IssuanceRequest {
            public_key_der: key.subject_public_key_info(),
            names: vec!["www.example.jp".into()],
            profile: Profile::Ov,
            subject: Some(ov_subject()),
            not_before: None,
            not_after: None,
        }
    }

    /// The CRL URL and the caIssuers URL written in a certificate.
    fn urls_in(der: &[u8]) -> (String, String) {
        let (_, c) = X509Certificate::from_der(der).unwrap();
        let mut crl = String::new();
        let mut issuer = String::new();
        for ext in c.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::CRLDistributionPoints(p) => {
                    if let Some(DistributionPointName::FullName(names)) =
                        &p.points[0].distribution_point
                    {
                        if let GeneralName::URI(u) = names[0] {
                            crl = u.to_owned();
                        }
                    }
                }
                ParsedExtension::AuthorityInfoAccess(a) => {
                    if let GeneralName::URI(u) = a.accessdescs[0].access_location {
                        issuer = u.to_owned();
                    }
                }
                _ => {}
            }
        }
        (crl, issuer)
    }

    #[test]
    fn the_ca_picks_serial_validity_and_urls() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        // After 2029-03-15 the BR maximum is 47 days, below the 90 asked.
        let now = datetime!(2030-01-10 12:00:00.75 UTC);
        let ca = t.ca.with_clock(Clock::manual(now));
        let a = ca.issue(ov_request(&key)).unwrap();
        let b = ca.issue(ov_request(&key)).unwrap();
        assert_ne!(a.certificate.serial, b.certificate.serial);

        let c = &a.certificate;
        assert_eq!(c.not_before, datetime!(2030-01-10 11:59:00 UTC));
        assert_eq!(
            c.not_after,
            datetime!(2030-01-10 11:59:00 UTC) + Duration::days(47) - Duration::SECOND
        );
        let (_, parsed) = X509Certificate::from_der(&c.der).unwrap();
        assert_eq!(parsed.raw_serial(), &c.serial.0[..]);
        assert_eq!(parsed.validity().not_before.to_datetime(), c.not_before);
        assert_eq!(parsed.validity().not_after.to_datetime(), c.not_after);

        // The shard is the one publish computes from the serial, and the
        // certificate names that shard's CRL.
        for issued in [&a, &b] {
            let shard = issued.certificate.serial.crl_shard(2);
            assert_eq!(issued.crl_shard, shard);
            let (crl, issuer) = urls_in(&issued.certificate.der);
            assert_eq!(crl, format!("http://crl.trustgate.jp/{shard}.crl"));
            assert_eq!(issuer, "http://trustgate.jp/intermediate.der");
        }
    }

    #[test]
    fn validity_is_capped_by_the_rule_in_force_on_the_issuance_date() {
        let s = Settings {
            validity: Duration::days(398),
            backdate: Duration::minutes(5),
            ..settings()
        };
        let key = KeyPair::generate().unwrap();
        let req = ov_request(&key);
        for (now, days) in [
            (datetime!(2026-03-14 23:59:59 UTC), 398),
            (datetime!(2026-03-15 00:00:00 UTC), 200),
            (datetime!(2027-03-15 00:00:00 UTC), 100),
            (datetime!(2029-03-15 00:00:00 UTC), 47),
        ] {
            let (nb, na) = s.validity(&req, now);
            assert_eq!(nb, now - Duration::minutes(5));
            assert_eq!(na, nb + Duration::days(days) - Duration::SECOND, "{now}");
            assert_eq!(schedule::validity_period(nb, na), Duration::days(days));
        }
        // A shorter configured lifetime is kept.
        let s = Settings {
            validity: Duration::days(7),
            ..s
        };
        let now = datetime!(2026-06-01 00:00:00 UTC);
        let (nb, na) = s.validity(&req, now);
        assert_eq!(na, nb + Duration::days(7) - Duration::SECOND);
    }

    #[test]
    fn requested_validity_is_honoured_within_the_cap() {
        let s = settings();
        let key = KeyPair::generate().unwrap();
        let now = datetime!(2026-06-01 00:00:00 UTC);
        let asked_nb = now + Duration::days(2);
        let req = IssuanceRequest {
            not_before: Some(asked_nb),
            not_after: Some(asked_nb + Duration::days(10)),
            ..ov_request(&key)
        };
        assert_eq!(
            s.validity(&req, now),
            (asked_nb, asked_nb + Duration::days(10))
        );
        // Too long a notAfter is cut to the maximum in force (200 days).
        let req = IssuanceRequest {
            not_after: Some(asked_nb + Duration::days(300)),
            ..req
        };
        assert_eq!(
            s.validity(&req, now).1,
            asked_nb + Duration::days(200) - Duration::SECOND
        );
        // Only a notBefore: the configured lifetime from it.
        let req = IssuanceRequest {
            not_after: None,
            ..req
        };
        assert_eq!(
            s.validity(&req, now).1,
            asked_nb + s.validity - Duration::SECOND
        );
    }

    /// Without an external linter, issue_linted issues as issue does.
    #[tokio::test]
    async fn without_a_linter_issue_linted_signs_and_reports_nothing() {
        let t = TestCa::new();
        let ca = std::sync::Arc::new(t.ca);
        let key = KeyPair::generate().unwrap();
        let issued = ca.issue_linted(ov_request(&key)).await.unwrap();
        assert!(issued.lint.is_none());
        assert!(!issued.certificate.der.is_empty());
    }

    /// A linter that cannot be asked: `Unavailable` with a fixed detail
    /// (the client retries), no findings; and the blocking `issue`, which
    /// would skip the linter, refuses on such a CA.
    #[tokio::test]
    async fn a_linter_that_is_down_refuses_as_unavailable() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let linter = Linter::new(
            &format!("http://127.0.0.1:{port}"),
            std::time::Duration::from_secs(2),
        )
        .unwrap();
        let ca = std::sync::Arc::new(TestCa::new().ca.with_linter(Some(linter)));
        let key = KeyPair::generate().unwrap();
        let failure = ca.issue_linted(ov_request(&key)).await.unwrap_err();
        assert_eq!(failure.error.kind, crate::error::ErrorKind::Unavailable);
        assert_eq!(failure.error.detail, LINTER_UNAVAILABLE);
        assert!(failure.lint.is_none());
        let e = ca.issue(ov_request(&key)).unwrap_err();
        assert!(e.detail.contains("issue_linted"), "{e}");
    }

    #[test]
    fn issuer_urls_need_a_crl_url() {
        assert!(IssuerUrls::new("http://x/i.der".into(), Vec::new()).is_err());
        let urls = IssuerUrls::new("http://x/i.der".into(), vec!["http://x/0.crl".into()]).unwrap();
        let serial = Serial::random().unwrap();
        assert_eq!(urls.crl_for(&serial).unwrap(), (0, "http://x/0.crl"));
    }
}
