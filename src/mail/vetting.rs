//! The notices of an organization's vetting: approved (how to get EAB
//! credentials), an order waiting on vetting (the first gate refusal),
//! and the vetting ending soon (how to renew).

use askama::Template;
use time::OffsetDateTime;

use super::notices::{jst, split, utc, Language, Rendered};
use crate::error::{Error, Result};

/// Staff approved the organization: to its account contact (and the
/// customer account that applied in the portal).
#[derive(Debug, Clone)]
pub struct OrganizationApproved {
    pub organization: String,
    /// `ov` or `ev`.
    pub level: String,
    /// When the vetting stops being usable.
    pub vetting_ends: OffsetDateTime,
    /// The portal's `/eab` page; None: ask CA staff.
    pub eab_url: Option<String>,
}

impl OrganizationApproved {
    /// `outbox.kind`.
    pub const KIND: &'static str = "organization.approved";

    pub fn render(&self, language: Language) -> Result<Rendered> {
        let level = self.level.to_uppercase();
        let text = match language {
            Language::Ja => ApprovedJa {
                n: self,
                ends: jst(self.vetting_ends),
                level,
            }
            .render(),
            Language::En => ApprovedEn {
                n: self,
                ends: utc(self.vetting_ends),
                level,
            }
            .render(),
        };
        finish(text)
    }
}

#[derive(Template)]
#[template(path = "mail/organization_approved.ja.txt")]
struct ApprovedJa<'a> {
    n: &'a OrganizationApproved,
    ends: String,
    level: String,
}

#[derive(Template)]
#[template(path = "mail/organization_approved.en.txt")]
struct ApprovedEn<'a> {
    n: &'a OrganizationApproved,
    ends: String,
    level: String,
}

/// An ACME order was held because the organization is not yet approved:
/// to its account contact, the first time in a vetting.
#[derive(Debug, Clone)]
pub struct OrderWaiting {
    pub organization: String,
    /// The held order's names.
    pub names: Vec<String>,
    /// The portal's status page; None: no portal.
    pub status_url: Option<String>,
}

impl OrderWaiting {
    /// `outbox.kind`.
    pub const KIND: &'static str = "gate.waiting";

    pub fn render(&self, language: Language) -> Result<Rendered> {
        let text = match language {
            Language::Ja => WaitingJa { n: self }.render(),
            Language::En => WaitingEn { n: self }.render(),
        };
        finish(text)
    }
}

#[derive(Template)]
#[template(path = "mail/gate_waiting.ja.txt")]
struct WaitingJa<'a> {
    n: &'a OrderWaiting,
}

#[derive(Template)]
#[template(path = "mail/gate_waiting.en.txt")]
struct WaitingEn<'a> {
    n: &'a OrderWaiting,
}

/// The organization's vetting ends within 30 days: to its account
/// contact (and the customer account of the portal), once per vetting.
#[derive(Debug, Clone)]
pub struct VettingExpiring {
    pub organization: String,
    pub vetting_ends: OffsetDateTime,
    /// The portal's `/renew` page; None: ask CA staff.
    pub renew_url: Option<String>,
}

impl VettingExpiring {
    /// `outbox.kind`.
    pub const KIND: &'static str = "organization.vetting_expiring";

    pub fn render(&self, language: Language) -> Result<Rendered> {
        let text = match language {
            Language::Ja => ExpiringJa {
                n: self,
                ends: jst(self.vetting_ends),
            }
            .render(),
            Language::En => ExpiringEn {
                n: self,
                ends: utc(self.vetting_ends),
            }
            .render(),
        };
        finish(text)
    }
}

#[derive(Template)]
#[template(path = "mail/vetting_expiring.ja.txt")]
struct ExpiringJa<'a> {
    n: &'a VettingExpiring,
    ends: String,
}

#[derive(Template)]
#[template(path = "mail/vetting_expiring.en.txt")]
struct ExpiringEn<'a> {
    n: &'a VettingExpiring,
    ends: String,
}

fn finish(text: askama::Result<String>) -> Result<Rendered> {
    split(&text.map_err(|e| Error::internal(format!("rendering a notice: {e}")))?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_approved_notice_says_where_eab_credentials_come_from() {
        let mut n = OrganizationApproved {
            organization: "例示株式会社".into(),
            level: "ov".into(),
            vetting_ends: datetime!(2027-12-31 15:00 UTC),
            eab_url: Some("https://portal.example.jp/eab".into()),
        };
        let ja = n.render(Language::Ja).unwrap();
        assert_eq!(
            ja.subject,
            "【審査完了】例示株式会社 様の審査が完了しました"
        );
        for fact in [
            "OV",
            "2028年1月1日 00:00 (日本時間)",
            "https://portal.example.jp/eab",
        ] {
            assert!(ja.body.contains(fact), "{fact:?} missing from\n{}", ja.body);
        }
        n.eab_url = None;
        let en = n.render(Language::En).unwrap();
        assert!(en.subject.contains("例示株式会社"), "{}", en.subject);
        assert!(en.body.contains("2027-12-31 15:00 UTC"), "{}", en.body);
        assert!(en.body.contains("ask CA staff"), "{}", en.body);
        assert!(!en.body.contains("/eab"), "{}", en.body);
    }

    #[test]
    fn the_waiting_notice_names_the_order_and_the_status_page() {
        let mut n = OrderWaiting {
            organization: "Example & Co.".into(),
            names: vec!["www.example.jp".into(), "example.jp".into()],
            status_url: Some("https://portal.example.jp/status".into()),
        };
        for lang in [Language::Ja, Language::En] {
            let r = n.render(lang).unwrap();
            assert!(r.subject.contains("Example & Co."), "{}", r.subject);
            assert!(r.body.contains("  example.jp\n"), "{}", r.body);
            assert!(
                r.body.contains("https://portal.example.jp/status"),
                "{}",
                r.body
            );
        }
        n.status_url = None;
        let en = n.render(Language::En).unwrap();
        assert!(!en.body.contains("https://"), "{}", en.body);
    }

    #[test]
    fn the_expiring_notice_has_the_end_and_the_renewal_page() {
        let n = VettingExpiring {
            organization: "例示株式会社".into(),
            vetting_ends: datetime!(2027-01-05 03:00 UTC),
            renew_url: Some("https://portal.example.jp/renew".into()),
        };
        let ja = n.render(Language::Ja).unwrap();
        assert!(
            ja.subject.starts_with("【審査期限のお知らせ】"),
            "{}",
            ja.subject
        );
        assert!(
            ja.body.contains("2027年1月5日 12:00 (日本時間)"),
            "{}",
            ja.body
        );
        assert!(ja.body.contains("https://portal.example.jp/renew"));
        let en = n.render(Language::En).unwrap();
        assert!(en.body.contains("2027-01-05 03:00 UTC"), "{}", en.body);
    }
}
