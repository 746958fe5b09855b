//! The e-mail notices of certificates: issued, written into the outbox
//! (`sa::outbox`) in the transaction that stores the certificate, so a
//! notice exists exactly when the certificate does; and the hourly expiry
//! job (`ExpiryNotices`: certificates ending within 14 days that nothing
//! newer replaces, and vettings ending within 30, `vetting::notify`).
//! Nothing is written when `[mail]` is not configured.

use time::{Duration, OffsetDateTime};

use super::Ra;
use crate::config::Config;
use crate::core::urls::Urls;
use crate::core::{Account, CertificateId};
use crate::error::Result;
use crate::mail::notices::{CertificateExpiring, CertificateIssued};
use crate::mail::{self, Language};
use crate::sa::{self, certificates::Expiring, outbox::NewNotice, DbConn, Store};
use crate::vetting::notify::{self, NoticeLinks};
use crate::vetting::Organization;

/// How long before its end an unreplaced certificate's notice is written.
pub const CERTIFICATE_NOTICE_BEFORE: Duration = Duration::days(14);

/// The "certificate issued" notices of one issuance, but for the
/// certificate's id (known only inside the storing transaction).
#[derive(Debug, Clone)]
pub(super) struct IssuedNotices {
    recipients: Vec<String>,
    language: Language,
    facts: CertificateIssued,
    urls: Urls,
}

/// What the notice says about a certificate.
pub(super) struct IssuedFacts<'a> {
    pub names: &'a [String],
    pub serial: &'a str,
    pub profile: &'static str,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Ra {
    /// The notices for a certificate issued to `acct` for `org`; None
    /// when mail is off or nobody can be written to.
    pub(super) fn issued_notices(
        &self,
        acct: &Account,
        org: &Organization,
        facts: IssuedFacts<'_>,
    ) -> Option<IssuedNotices> {
        self.cfg().mail.as_ref()?;
        let recipients = recipients(acct, org);
        if recipients.is_empty() {
            tracing::warn!(
                account = acct.id.0,
                organization = org.id.0,
                "no e-mail address for the issued notice"
            );
            return None;
        }
        Some(IssuedNotices {
            recipients,
            language: Language::for_country(&org.data.head_office.country),
            facts: CertificateIssued {
                organization: org.data.certificate_name().to_owned(),
                names: facts.names.to_vec(),
                serial: facts.serial.to_owned(),
                profile: facts.profile.to_owned(),
                not_before: facts.not_before,
                not_after: facts.not_after,
                download_url: String::new(),
            },
            urls: Urls::new(&self.cfg().base_url()),
        })
    }
}

impl IssuedNotices {
    /// How many notices `enqueue` writes.
    pub(super) fn count(&self) -> usize {
        self.recipients.len()
    }

    /// Renders the notice and writes one row per recipient. Called inside
    /// the transaction that stores certificate `id`. A notice that cannot
    /// be rendered (a template fault) does not stop the issuance: it is
    /// logged as an error instead.
    pub(super) fn enqueue(
        &self,
        c: &mut sa::DbConn,
        id: CertificateId,
        now: OffsetDateTime,
    ) -> Result<()> {
        let facts = CertificateIssued {
            download_url: self.urls.certificate(id),
            ..self.facts.clone()
        };
        let rendered = match facts.render(self.language) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(serial = %facts.serial, error = %e, "issued notice not rendered");
                return Ok(());
            }
        };
        for to in &self.recipients {
            let notice = NewNotice {
                kind: CertificateIssued::KIND,
                about: format!("certificate:{}", facts.serial),
                recipient: to.clone(),
                language: self.language.code(),
                subject: rendered.subject.clone(),
                body: rendered.body.clone(),
            };
            sa::outbox::enqueue(c, &notice, now)?;
        }
        Ok(())
    }
}

/// The account's `mailto:` contacts, else the organization's account
/// contact (アカウント担当者) from the vetted record.
fn recipients(acct: &Account, org: &Organization) -> Vec<String> {
    let mut to: Vec<String> = acct
        .contact
        .iter()
        .filter_map(|c| mail::mailto_address(c))
        .collect();
    to.dedup();
    if to.is_empty() {
        let fallback = org.data.account_contact.email.trim();
        if mail::is_address(fallback) {
            to.push(fallback.to_owned());
        }
    }
    to
}

/// The expiry job: run hourly, leased as `expiry-notices` (`app`), or once
/// by `trustgate notices sweep`. Each notice is written once, with its
/// mark in `notices_once`, however often the job runs.
#[derive(Clone)]
pub struct ExpiryNotices {
    store: Store,
    links: NoticeLinks,
    max_age: Duration,
}

/// What one run wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpiryReport {
    /// Organizations told their vetting ends within 30 days.
    pub organizations: usize,
    /// Certificates whose contacts were told they end within 14 days.
    pub certificates: usize,
}

impl ExpiryNotices {
    /// None without `[mail]`.
    pub fn from_config(store: Store, cfg: &Config) -> Option<ExpiryNotices> {
        Some(ExpiryNotices {
            store,
            links: NoticeLinks::from_config(cfg)?,
            max_age: cfg.vetting.max_age(),
        })
    }

    /// Writes the notices due at `at` (the store's clock's now, but for a
    /// catch-up or a test), dated now so they are sent at once.
    pub async fn run(&self, at: OffsetDateTime) -> Result<ExpiryReport> {
        let (links, max_age) = (self.links.clone(), self.max_age);
        let now = self.store.clock().now();
        let organizations = self
            .store
            .write(move |c| notify::sweep(c, &links, max_age, at, now))
            .await?;
        let certificates = self
            .store
            .write(move |c| expiring_certificates(c, at, now))
            .await?;
        Ok(ExpiryReport {
            organizations,
            certificates,
        })
    }
}

/// One notice (per contact) for each unrevoked certificate ending within
/// `CERTIFICATE_NOTICE_BEFORE` that no newer certificate of its
/// organization replaces, at `at`; once per certificate, written at
/// `now`. Returns how many certificates' contacts were told.
fn expiring_certificates(c: &mut DbConn, at: OffsetDateTime, now: OffsetDateTime) -> Result<usize> {
    let mut told = 0;
    for cert in sa::certificates::expiring(c, at, at + CERTIFICATE_NOTICE_BEFORE)? {
        if replaced(c, &cert)? {
            continue;
        }
        let notices = expiring_notices(c, &cert)?;
        let once = format!("certificate:{}", cert.serial);
        if sa::outbox::enqueue_once(c, CertificateExpiring::KIND, &once, &notices, now)? {
            told += 1;
        }
    }
    Ok(told)
}

/// Whether a newer unrevoked certificate of the organization, ending
/// later, covers every name of `cert` (a wildcard covering a name one
/// label below it).
fn replaced(c: &mut DbConn, cert: &Expiring) -> Result<bool> {
    let newer = sa::certificates::newer_names(c, cert.organization, cert.id, cert.not_after)?;
    Ok(newer
        .iter()
        .any(|names| cert.names.iter().all(|n| covers(names, n))))
}

fn covers(names: &[String], name: &str) -> bool {
    let wildcard = name
        .split_once('.')
        .map(|(_, parent)| format!("*.{parent}"));
    names
        .iter()
        .any(|n| n == name || Some(n) == wildcard.as_ref())
}

/// The notices for `cert`, to its account's contacts as for issuance.
fn expiring_notices(c: &mut DbConn, cert: &Expiring) -> Result<Vec<NewNotice>> {
    let (Some(acct), Some(org)) = (
        sa::accounts::by_id(c, cert.account)?,
        sa::organizations::by_id(c, cert.organization)?,
    ) else {
        return Ok(Vec::new());
    };
    let language = Language::for_country(&org.data.head_office.country);
    let n = CertificateExpiring {
        organization: org.data.certificate_name().to_owned(),
        names: cert.names.clone(),
        serial: cert.serial.clone(),
        not_after: cert.not_after,
    };
    let to: Vec<notify::Recipient> = recipients(&acct, &org)
        .into_iter()
        .map(|address| notify::Recipient { address, language })
        .collect();
    let about = format!("certificate:{}", cert.serial);
    Ok(notify::notices(
        CertificateExpiring::KIND,
        &about,
        &to,
        |l| n.render(l),
    ))
}
