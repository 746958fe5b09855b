//! The e-mail notices about an organization's vetting and who gets them:
//! approved (written with the approval), an order waiting on vetting
//! (written with the gate's first refusal of a vetting, by `ra`), and the
//! vetting ending within 30 days (`sweep`, from the hourly expiry job).
//! Nothing is written without `[mail]` (`NoticeLinks::from_config`).

use time::{Duration, OffsetDateTime};

use super::Organization;
use crate::config::Config;
use crate::core::urls::PORTAL_STATUS;
use crate::error::Result;
use crate::mail::vetting::{OrderWaiting, OrganizationApproved, VettingExpiring};
use crate::mail::{self, Language, Rendered};
use crate::sa::{self, outbox::NewNotice, DbConn};

/// How long before its end the vetting-expiring notice is written.
pub const VETTING_NOTICE_BEFORE: Duration = Duration::days(30);

/// What the notices link to. Exists only with `[mail]`: without it no
/// notice is written.
#[derive(Debug, Clone)]
pub struct NoticeLinks {
    /// The portal's origin when the CA runs the portal.
    pub portal: Option<String>,
}

impl NoticeLinks {
    pub fn from_config(cfg: &Config) -> Option<NoticeLinks> {
        cfg.mail.as_ref()?;
        Some(NoticeLinks {
            portal: cfg.portal.public_url(),
        })
    }

    fn page(&self, path: &str) -> Option<String> {
        self.portal.as_ref().map(|base| format!("{base}{path}"))
    }
}

/// An address and the language to write to it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    pub language: Language,
}

/// The organization's account contact (アカウント担当者), in its head
/// office's language; None without a usable address.
pub fn account_contact(org: &Organization) -> Option<Recipient> {
    let address = org.data.account_contact.email.trim();
    mail::is_address(address).then(|| Recipient {
        address: address.to_owned(),
        language: Language::for_country(&org.data.head_office.country),
    })
}

/// The account contact and the portal's customer accounts of the
/// organization (each in its own language), each address once.
pub fn organization_recipients(c: &mut DbConn, org: &Organization) -> Result<Vec<Recipient>> {
    let mut to: Vec<Recipient> = account_contact(org).into_iter().collect();
    for customer in sa::customers::of_organization(c, org.id)? {
        let known = to
            .iter()
            .any(|r| r.address.eq_ignore_ascii_case(&customer.email));
        if !known && mail::is_address(&customer.email) {
            to.push(Recipient {
                address: customer.email,
                language: Language::of(customer.language),
            });
        }
    }
    Ok(to)
}

/// One notice per recipient, each rendered in its language. A notice
/// that cannot be rendered (a template fault) is logged, not written:
/// the event it reports goes ahead.
pub fn notices(
    kind: &'static str,
    about: &str,
    to: &[Recipient],
    render: impl Fn(Language) -> Result<Rendered>,
) -> Vec<NewNotice> {
    to.iter()
        .filter_map(|r| match render(r.language) {
            Ok(text) => Some(NewNotice {
                kind,
                about: about.to_owned(),
                recipient: r.address.clone(),
                language: r.language.code(),
                subject: text.subject,
                body: text.body,
            }),
            Err(e) => {
                tracing::error!(kind, about, error = %e, "notice not rendered");
                None
            }
        })
        .collect()
}

fn about(org: &Organization) -> String {
    format!("organization:{}", org.id)
}

/// The approval notice, in the approving transaction: `org` as approved.
pub fn approved(
    c: &mut DbConn,
    links: &NoticeLinks,
    org: &Organization,
    max_age: Duration,
    now: OffsetDateTime,
) -> Result<()> {
    let Some(ends) = org.vetting_expires(max_age) else {
        return Ok(());
    };
    let n = OrganizationApproved {
        organization: org.data.certificate_name().to_owned(),
        level: org.data.level.as_str().to_owned(),
        vetting_ends: ends,
        eab_url: links.page("/eab"),
    };
    let to = organization_recipients(c, org)?;
    for notice in notices(OrganizationApproved::KIND, &about(org), &to, |l| {
        n.render(l)
    }) {
        sa::outbox::enqueue(c, &notice, now)?;
    }
    Ok(())
}

/// The order-waiting notice, in the transaction that records a gate
/// refusal of `org` while it is being vetted: written the first time in
/// this vetting only (a vetting starts again when its data changes or it
/// is reopened). Returns whether it was written.
pub fn order_waiting(
    c: &mut DbConn,
    links: &NoticeLinks,
    org: &Organization,
    names: &[String],
    now: OffsetDateTime,
) -> Result<bool> {
    let Some(to) = account_contact(org) else {
        return Ok(false);
    };
    let n = OrderWaiting {
        organization: org.data.certificate_name().to_owned(),
        names: names.to_vec(),
        status_url: links.page(PORTAL_STATUS),
    };
    let vetting = org.data_changed_at.unix_timestamp_nanos() / 1000;
    let once = format!("{}@{vetting}", about(org));
    let written = notices(OrderWaiting::KIND, &about(org), &[to], |l| n.render(l));
    sa::outbox::enqueue_once(c, OrderWaiting::KIND, &once, &written, now)
}

/// The vetting-expiring notices: one per approved organization whose
/// vetting ends within `VETTING_NOTICE_BEFORE` of `at`, once per vetting
/// end, written at `now`. Returns how many organizations were told.
pub fn sweep(
    c: &mut DbConn,
    links: &NoticeLinks,
    max_age: Duration,
    at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<usize> {
    let mut told = 0;
    for org in sa::organizations::list(c, Some(super::VettingStatus::Approved))? {
        let Some(ends) = org.vetting_expires(max_age) else {
            continue;
        };
        if ends <= at || ends > at + VETTING_NOTICE_BEFORE {
            continue;
        }
        let n = VettingExpiring {
            organization: org.data.certificate_name().to_owned(),
            vetting_ends: ends,
            renew_url: links.page("/renew"),
        };
        let to = organization_recipients(c, &org)?;
        let written = notices(VettingExpiring::KIND, &about(&org), &to, |l| n.render(l));
        let once = format!("{}@{}", about(&org), ends.date());
        if sa::outbox::enqueue_once(c, VettingExpiring::KIND, &once, &written, now)? {
            told += 1;
        }
    }
    Ok(told)
}
