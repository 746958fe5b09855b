//! The e-mail notices of issuance: written into the outbox
//! (`sa::outbox`) in the transaction that stores the certificate, so a
//! notice exists exactly when the certificate does. Nothing is written
//! when `[mail]` is not configured.

use time::OffsetDateTime;

use super::Ra;
use crate::core::urls::Urls;
use crate::core::{Account, CertificateId};
use crate::error::Result;
use crate::mail::{self, notices::CertificateIssued, Language};
use crate::sa::{self, outbox::NewNotice};
use crate::vetting::Organization;

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
