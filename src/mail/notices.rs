//! The notices' texts, rendered from the templates in `templates/mail/`
//! (one file per notice and language; its first line is the subject).
//! A notice is rendered when it is written to the outbox, so the row is
//! exactly what was sent, whatever changes later.

use askama::Template;
use time::{OffsetDateTime, UtcOffset};

use crate::error::{Error, Result};

/// The language of a notice.
///
/// No organization or account records a preferred language yet, so it
/// follows the organization's head office: Japanese for one in Japan,
/// English otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Ja,
    En,
}

impl Language {
    /// For an organization whose head office is in `country` (ISO 3166-1
    /// alpha-2).
    pub fn for_country(country: &str) -> Language {
        if country.eq_ignore_ascii_case("JP") {
            Language::Ja
        } else {
            Language::En
        }
    }

    /// A customer account's preference.
    pub fn of(language: crate::core::customer::Language) -> Language {
        match language {
            crate::core::customer::Language::Ja => Language::Ja,
            crate::core::customer::Language::En => Language::En,
        }
    }

    /// As stored in `outbox.language`.
    pub fn code(self) -> &'static str {
        match self {
            Language::Ja => "ja",
            Language::En => "en",
        }
    }
}

/// A notice's subject and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// A certificate was issued: to the account's contacts.
#[derive(Debug, Clone)]
pub struct CertificateIssued {
    /// The organization's name as in the certificate.
    pub organization: String,
    pub names: Vec<String>,
    /// Hexadecimal, as `trustgate cert` and the audit trail show it.
    pub serial: String,
    /// `ov` or `ev`.
    pub profile: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The ACME certificate URL (RFC 8555 §7.4.2).
    pub download_url: String,
}

impl CertificateIssued {
    /// `outbox.kind`.
    pub const KIND: &'static str = "certificate.issued";

    pub fn render(&self, language: Language) -> Result<Rendered> {
        let text = match language {
            Language::Ja => IssuedJa {
                n: self,
                not_before: jst(self.not_before),
                not_after: jst(self.not_after),
                profile: self.profile.to_uppercase(),
            }
            .render(),
            Language::En => IssuedEn {
                n: self,
                not_before: utc(self.not_before),
                not_after: utc(self.not_after),
                profile: self.profile.to_uppercase(),
            }
            .render(),
        };
        split(&text.map_err(|e| Error::internal(format!("rendering a notice: {e}")))?)
    }
}

#[derive(Template)]
#[template(path = "mail/certificate_issued.ja.txt")]
struct IssuedJa<'a> {
    n: &'a CertificateIssued,
    not_before: String,
    not_after: String,
    profile: String,
}

#[derive(Template)]
#[template(path = "mail/certificate_issued.en.txt")]
struct IssuedEn<'a> {
    n: &'a CertificateIssued,
    not_before: String,
    not_after: String,
    profile: String,
}

/// A certificate expires within 14 days and no newer one of its
/// organization covers all its names: to the account's contacts, once.
#[derive(Debug, Clone)]
pub struct CertificateExpiring {
    pub organization: String,
    pub names: Vec<String>,
    pub serial: String,
    pub not_after: OffsetDateTime,
}

impl CertificateExpiring {
    /// `outbox.kind`.
    pub const KIND: &'static str = "certificate.expiring";

    pub fn render(&self, language: Language) -> Result<Rendered> {
        let text = match language {
            Language::Ja => ExpiringJa {
                n: self,
                not_after: jst(self.not_after),
            }
            .render(),
            Language::En => ExpiringEn {
                n: self,
                not_after: utc(self.not_after),
            }
            .render(),
        };
        split(&text.map_err(|e| Error::internal(format!("rendering a notice: {e}")))?)
    }
}

#[derive(Template)]
#[template(path = "mail/certificate_expiring.ja.txt")]
struct ExpiringJa<'a> {
    n: &'a CertificateExpiring,
    not_after: String,
}

#[derive(Template)]
#[template(path = "mail/certificate_expiring.en.txt")]
struct ExpiringEn<'a> {
    n: &'a CertificateExpiring,
    not_after: String,
}

/// A new portal account's e-mail address is confirmed by opening a
/// one-time link: to the address given at sign-up.
#[derive(Debug, Clone)]
pub struct EmailVerification {
    /// The account holder's name as entered.
    pub contact_name: String,
    /// `portal.base_url` + `/verify?token=…`.
    pub link: String,
    /// When the link stops working.
    pub expires_at: OffsetDateTime,
}

impl EmailVerification {
    /// `outbox.kind`.
    pub const KIND: &'static str = "customer.email_verification";

    pub fn render(&self, language: Language) -> Result<Rendered> {
        let text = match language {
            Language::Ja => VerificationJa {
                n: self,
                expires: jst(self.expires_at),
            }
            .render(),
            Language::En => VerificationEn {
                n: self,
                expires: utc(self.expires_at),
            }
            .render(),
        };
        split(&text.map_err(|e| Error::internal(format!("rendering a notice: {e}")))?)
    }
}

#[derive(Template)]
#[template(path = "mail/email_verification.ja.txt")]
struct VerificationJa<'a> {
    n: &'a EmailVerification,
    expires: String,
}

#[derive(Template)]
#[template(path = "mail/email_verification.en.txt")]
struct VerificationEn<'a> {
    n: &'a EmailVerification,
    expires: String,
}

/// An invoice (or credit note) was issued: to the billing contact, its
/// PDF attached.
#[derive(Debug, Clone)]
pub struct InvoiceIssued {
    /// The billing contact's company (or name).
    pub recipient: String,
    /// The invoicing CA (`billing.issuer_name`).
    pub issuer: String,
    pub number: String,
    pub description: String,
    /// Tax included, in yen.
    pub total_yen: i64,
    pub due: time::Date,
    /// `billing.payment_instructions`.
    pub payment: Vec<String>,
}

impl InvoiceIssued {
    /// `outbox.kind`.
    pub const KIND: &'static str = "invoice.issued";

    pub fn render(&self, language: Language) -> Result<Rendered> {
        let total = yen(self.total_yen);
        let text = match language {
            Language::Ja => InvoiceJa {
                n: self,
                total,
                due: format!(
                    "{}年{}月{}日",
                    self.due.year(),
                    u8::from(self.due.month()),
                    self.due.day()
                ),
            }
            .render(),
            Language::En => InvoiceEn {
                n: self,
                total,
                due: format!(
                    "{}-{:02}-{:02}",
                    self.due.year(),
                    u8::from(self.due.month()),
                    self.due.day()
                ),
            }
            .render(),
        };
        split(&text.map_err(|e| Error::internal(format!("rendering a notice: {e}")))?)
    }
}

/// `¥33,000`: yen with thousands separators (negative for a credit note).
pub fn yen(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if amount < 0 { "-" } else { "" };
    format!("{sign}¥{grouped}")
}

#[derive(Template)]
#[template(path = "mail/invoice_issued.ja.txt")]
struct InvoiceJa<'a> {
    n: &'a InvoiceIssued,
    total: String,
    due: String,
}

#[derive(Template)]
#[template(path = "mail/invoice_issued.en.txt")]
struct InvoiceEn<'a> {
    n: &'a InvoiceIssued,
    total: String,
    due: String,
}

/// A template's text as subject (its first line) and body (the rest).
pub(super) fn split(text: &str) -> Result<Rendered> {
    let (subject, body) = text
        .split_once('\n')
        .ok_or_else(|| Error::internal("a notice template without a body"))?;
    let subject = subject.trim();
    if subject.is_empty() {
        return Err(Error::internal("a notice template without a subject"));
    }
    Ok(Rendered {
        subject: subject.to_owned(),
        body: format!("{}\n", body.trim_matches('\n')),
    })
}

/// Japan Standard Time (UTC+9, no daylight saving), as Japanese readers
/// expect.
pub(super) fn jst(t: OffsetDateTime) -> String {
    let offset = UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC);
    let t = t.to_offset(offset);
    format!(
        "{}年{}月{}日 {:02}:{:02} (日本時間)",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

pub(super) fn utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn issued() -> CertificateIssued {
        CertificateIssued {
            organization: "例示株式会社".into(),
            names: vec!["www.example.co.jp".into(), "example.co.jp".into()],
            serial: "7f3a".into(),
            profile: "ov".into(),
            not_before: datetime!(2026-12-06 15:30 UTC),
            not_after: datetime!(2027-12-06 15:29:59 UTC),
            download_url: "https://acme.example.jp/acme/cert/42".into(),
        }
    }

    /// Japanese: the subject names the first name, the body every name,
    /// the serial, the validity in JST (crossing the date line: 15:30 UTC
    /// is the next day in Japan), the URL and how to install.
    #[test]
    fn japanese_notice_has_every_fact() {
        let r = issued().render(Language::Ja).unwrap();
        assert_eq!(
            r.subject,
            "【証明書発行】www.example.co.jp ほか 1 件の OV 証明書を発行しました"
        );
        for fact in [
            "例示株式会社",
            "www.example.co.jp\n",
            "example.co.jp\n",
            "シリアル番号: 7f3a",
            "2026年12月7日 00:30 (日本時間)",
            "2027年12月7日 00:29 (日本時間)",
            "https://acme.example.jp/acme/cert/42",
            "fullchain.pem",
        ] {
            assert!(r.body.contains(fact), "{fact:?} missing from\n{}", r.body);
        }
        assert!(!r.body.contains("&"), "no HTML escaping in text mail");
    }

    #[test]
    fn the_expiring_notice_names_the_certificate() {
        let n = CertificateExpiring {
            organization: "例示株式会社".into(),
            names: vec!["www.example.co.jp".into(), "example.co.jp".into()],
            serial: "7f3a".into(),
            not_after: datetime!(2027-01-05 15:29:59 UTC),
        };
        let ja = n.render(Language::Ja).unwrap();
        assert!(
            ja.subject.contains("www.example.co.jp ほか 1 件"),
            "{}",
            ja.subject
        );
        for fact in [
            "シリアル番号: 7f3a",
            "2027年1月6日 00:29 (日本時間)",
            "  example.co.jp\n",
        ] {
            assert!(ja.body.contains(fact), "{fact:?} missing from\n{}", ja.body);
        }
        let en = n.render(Language::En).unwrap();
        assert!(en.subject.contains("and 1 more"), "{}", en.subject);
        assert!(en.body.contains("2027-01-05 15:29 UTC"), "{}", en.body);
    }

    #[test]
    fn english_notice_has_every_fact() {
        let mut n = issued();
        n.names.truncate(1);
        n.organization = "Example & Co.".into();
        let r = n.render(Language::En).unwrap();
        assert_eq!(
            r.subject,
            "[Certificate issued] OV certificate for www.example.co.jp"
        );
        for fact in [
            "Example & Co.",
            "Serial number: 7f3a",
            "2026-12-06 15:30 UTC",
            "2027-12-06 15:29 UTC",
            "https://acme.example.jp/acme/cert/42",
            "fullchain.pem",
        ] {
            assert!(r.body.contains(fact), "{fact:?} missing from\n{}", r.body);
        }
    }

    /// The link, the name and the expiry (JST / UTC), unescaped.
    #[test]
    fn verification_notice_has_the_link_in_both_languages() {
        let n = EmailVerification {
            contact_name: "山田 & 太郎".into(),
            link: "https://portal.example.jp/verify?token=abc-_123".into(),
            expires_at: datetime!(2026-12-06 15:30 UTC),
        };
        let ja = n.render(Language::Ja).unwrap();
        assert_eq!(
            ja.subject,
            "【メールアドレスの確認】trustgate お客様アカウント"
        );
        for fact in [
            "山田 & 太郎 様",
            "https://portal.example.jp/verify?token=abc-_123\n",
            "2026年12月7日 00:30 (日本時間)",
        ] {
            assert!(ja.body.contains(fact), "{fact:?} missing from\n{}", ja.body);
        }
        let en = n.render(Language::En).unwrap();
        assert_eq!(
            en.subject,
            "[Confirm your e-mail address] trustgate customer account"
        );
        for fact in [
            "Dear 山田 & 太郎,",
            "https://portal.example.jp/verify?token=abc-_123\n",
            "2026-12-06 15:30 UTC",
        ] {
            assert!(en.body.contains(fact), "{fact:?} missing from\n{}", en.body);
        }
    }

    /// The invoice e-mail: number, total with tax, due date and the bank
    /// account, in either language; yen grouped by thousands.
    #[test]
    fn invoice_notice_has_every_fact() {
        let n = InvoiceIssued {
            recipient: "例示株式会社".into(),
            issuer: "例示認証局株式会社".into(),
            number: "2026-000001".into(),
            description: "OV 証明書 www.example.jp".into(),
            total_yen: 33000,
            due: time::macros::date!(2027 - 01 - 31),
            payment: vec!["みずほ銀行 本店 普通 1234567".into()],
        };
        let ja = n.render(Language::Ja).unwrap();
        assert_eq!(
            ja.subject,
            "【請求書】2026-000001 ご請求金額 ¥33,000 (お支払期限 2027年1月31日)"
        );
        assert!(
            ja.body.contains("  みずほ銀行 本店 普通 1234567\n"),
            "{}",
            ja.body
        );
        let en = n.render(Language::En).unwrap();
        assert_eq!(en.subject, "[Invoice] 2026-000001: ¥33,000 due 2027-01-31");
        assert!(en.body.contains("OV 証明書 www.example.jp"), "{}", en.body);
        assert_eq!(yen(0), "¥0");
        assert_eq!(yen(1_234_567), "¥1,234,567");
        assert_eq!(yen(-330), "-¥330");
    }

    #[test]
    fn language_follows_the_head_office() {
        assert_eq!(Language::for_country("JP"), Language::Ja);
        assert_eq!(Language::for_country("jp"), Language::Ja);
        assert_eq!(Language::for_country("US"), Language::En);
    }
}
