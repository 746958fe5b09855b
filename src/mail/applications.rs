//! The notices of the customer portal's applications: received (with the
//! confirmation's link) and documents requested (with staff's message).

use askama::Template;
use time::OffsetDateTime;

use super::notices::{jst, split, utc, Language, Rendered};
use crate::error::{Error, Result};

/// An application was received: to the customer who submitted it.
#[derive(Debug, Clone)]
pub struct ApplicationReceived {
    pub number: String,
    pub organization: String,
    /// The account holder's name.
    pub contact: String,
    pub renewal: bool,
    /// `ov` or `ev`.
    pub level: String,
    pub validity_days: i32,
    pub domains: Vec<String>,
    pub submitted_at: OffsetDateTime,
    /// The printable confirmation in the portal.
    pub confirmation_url: String,
    pub status_url: String,
}

impl ApplicationReceived {
    /// `outbox.kind`.
    pub const KIND: &'static str = "application.received";

    pub fn render(&self, language: Language) -> Result<Rendered> {
        let level = self.level.to_uppercase();
        let text = match language {
            Language::Ja => ReceivedJa {
                n: self,
                submitted: jst(self.submitted_at),
                level,
            }
            .render(),
            Language::En => ReceivedEn {
                n: self,
                submitted: utc(self.submitted_at),
                level,
            }
            .render(),
        };
        split(&text.map_err(|e| Error::internal(format!("rendering a notice: {e}")))?)
    }
}

#[derive(Template)]
#[template(path = "mail/application_received.ja.txt")]
struct ReceivedJa<'a> {
    n: &'a ApplicationReceived,
    submitted: String,
    level: String,
}

#[derive(Template)]
#[template(path = "mail/application_received.en.txt")]
struct ReceivedEn<'a> {
    n: &'a ApplicationReceived,
    submitted: String,
    level: String,
}

/// Staff asked for documents: to the customer, with their message.
#[derive(Debug, Clone)]
pub struct DocumentsRequested {
    pub number: String,
    pub organization: String,
    pub contact: String,
    pub message: String,
    /// The upload page in the portal.
    pub documents_url: String,
    /// The size limit of one file, in MiB.
    pub limit_mib: usize,
}

impl DocumentsRequested {
    /// `outbox.kind`.
    pub const KIND: &'static str = "application.documents_requested";

    pub fn render(&self, language: Language) -> Result<Rendered> {
        let text = match language {
            Language::Ja => RequestedJa { n: self }.render(),
            Language::En => RequestedEn { n: self }.render(),
        };
        split(&text.map_err(|e| Error::internal(format!("rendering a notice: {e}")))?)
    }
}

#[derive(Template)]
#[template(path = "mail/documents_requested.ja.txt")]
struct RequestedJa<'a> {
    n: &'a DocumentsRequested,
}

#[derive(Template)]
#[template(path = "mail/documents_requested.en.txt")]
struct RequestedEn<'a> {
    n: &'a DocumentsRequested,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn received() -> ApplicationReceived {
        ApplicationReceived {
            number: "A-2026-000007".into(),
            organization: "例示株式会社".into(),
            contact: "鈴木一郎".into(),
            renewal: false,
            level: "ev".into(),
            validity_days: 100,
            domains: vec!["example.co.jp".into(), "shop.example.com".into()],
            submitted_at: datetime!(2026-12-07 15:10 UTC),
            confirmation_url: "https://portal.example.jp/application/A-2026-000007/confirmation"
                .into(),
            status_url: "https://portal.example.jp/status".into(),
        }
    }

    #[test]
    fn the_received_notice_has_the_number_and_the_confirmation() {
        let ja = received().render(Language::Ja).unwrap();
        assert_eq!(
            ja.subject,
            "【お申込受付】A-2026-000007 例示株式会社 様のお申込みを受け付けました"
        );
        for fact in [
            "鈴木一郎 様",
            "お申込番号: A-2026-000007",
            "2026年12月8日 00:10 (日本時間)",
            "EV 証明書 (有効期間 100 日)",
            "  shop.example.com\n",
            "/application/A-2026-000007/confirmation",
            "https://portal.example.jp/status",
        ] {
            assert!(ja.body.contains(fact), "{fact:?} missing from\n{}", ja.body);
        }
        let mut r = received();
        r.renewal = true;
        r.organization = "Example & Co.".into();
        let en = r.render(Language::En).unwrap();
        assert!(en.subject.ends_with("(renewal)"), "{}", en.subject);
        for fact in ["Example & Co.", "2026-12-07 15:10 UTC", "renewal of the"] {
            assert!(en.body.contains(fact), "{fact:?} missing from\n{}", en.body);
        }
    }

    #[test]
    fn the_documents_notice_carries_staffs_message() {
        let n = DocumentsRequested {
            number: "A-2026-000007".into(),
            organization: "例示株式会社".into(),
            contact: "鈴木一郎".into(),
            message: "登記事項証明書 (3 か月以内) をお送りください。<b>".into(),
            documents_url: "https://portal.example.jp/documents".into(),
            limit_mib: 10,
        };
        for lang in [Language::Ja, Language::En] {
            let r = n.render(lang).unwrap();
            assert!(r.subject.contains("A-2026-000007"), "{}", r.subject);
            assert!(r
                .body
                .contains("登記事項証明書 (3 か月以内) をお送りください。<b>"));
            assert!(r.body.contains("https://portal.example.jp/documents"));
            assert!(r.body.contains("10 MiB"), "{}", r.body);
        }
    }
}
