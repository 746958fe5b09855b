//! An application from the customer portal: the organization record a
//! customer asks the CA to vet (or to vet again), its number, its history
//! and the documents uploaded for it. `vetting::applications` decides,
//! `sa::applications` stores.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use super::organization::OrganizationData;
use super::OrganizationId;

/// An application's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ApplicationId(pub i64);

/// A document's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DocumentId(pub i64);

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `A-2026-000123`: the year it was received (UTC) and its place in that
/// year's count, from 1 without gaps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ApplicationNumber(String);

impl ApplicationNumber {
    pub fn new(year: i32, seq: i32) -> ApplicationNumber {
        ApplicationNumber(format!("A-{year:04}-{seq:06}"))
    }

    /// A number as a customer types or a URL carries it; anything else is
    /// no number (so a lookup never sees arbitrary text).
    pub fn parse(s: &str) -> Option<ApplicationNumber> {
        let b = s.as_bytes();
        let shape = b.len() == 13
            && b[0] == b'A'
            && b[1] == b'-'
            && b[6] == b'-'
            && b[2..6].iter().all(u8::is_ascii_digit)
            && b[7..].iter().all(u8::is_ascii_digit);
        shape.then(|| ApplicationNumber(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApplicationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A first application, or a renewal of an organization's vetting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationKind {
    New,
    Renewal,
}

/// Open until staff decide on the organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationStatus {
    Open,
    Approved,
    Rejected,
}

/// One step of an application's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Submitted,
    DocumentsRequested,
    DocumentsUploaded,
    Approved,
    Rejected,
    /// A renewal application was submitted (its first event).
    Renewed,
}

macro_rules! string_enum {
    ($t:ty { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),+ }
            }
            pub fn parse(s: &str) -> Option<$t> {
                match s { $($s => Some(<$t>::$v),)+ _ => None }
            }
        }
    };
}

string_enum!(ApplicationKind { New => "new", Renewal => "renewal" });
string_enum!(ApplicationStatus { Open => "open", Approved => "approved", Rejected => "rejected" });
string_enum!(EventKind {
    Submitted => "submitted",
    DocumentsRequested => "documents_requested",
    DocumentsUploaded => "documents_uploaded",
    Approved => "approved",
    Rejected => "rejected",
    Renewed => "renewed",
});

/// An application as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Application {
    pub id: ApplicationId,
    pub number: ApplicationNumber,
    pub organization: OrganizationId,
    pub customer_account: i64,
    /// Where its notices go, and in which language (`ja`, `en`).
    pub customer_email: String,
    pub language: String,
    pub kind: ApplicationKind,
    pub status: ApplicationStatus,
    /// The certificate validity asked for, in days.
    pub validity_days: i32,
    /// The record as applied for (staff may correct the organization's
    /// own copy afterwards).
    pub data: OrganizationData,
    pub agreement_version: String,
    pub submitted_at: OffsetDateTime,
    pub decided_at: Option<OffsetDateTime>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
}

/// One step of an application's history.
#[derive(Debug, Clone, Serialize)]
pub struct ApplicationEvent {
    pub at: OffsetDateTime,
    pub kind: EventKind,
    pub actor: String,
    /// Staff's message with a documents request; the file names with an
    /// upload; the reason with a rejection.
    pub message: Option<String>,
}

/// An uploaded document, without its bytes.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentInfo {
    pub id: DocumentId,
    pub application: ApplicationId,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_by: String,
    pub uploaded_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_one_shape() {
        let n = ApplicationNumber::new(2026, 123);
        assert_eq!(n.as_str(), "A-2026-000123");
        assert_eq!(ApplicationNumber::parse("A-2026-000123"), Some(n));
        for bad in [
            "A-2026-00012",
            "A-2026-0001234",
            "B-2026-000123",
            "A-20x6-000123",
            "A-2026_000123",
            "A-2026-00012\u{0663}",
            "../etc/passwd",
        ] {
            assert_eq!(ApplicationNumber::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn kinds_read_back() {
        for k in [
            EventKind::Submitted,
            EventKind::DocumentsRequested,
            EventKind::DocumentsUploaded,
            EventKind::Approved,
            EventKind::Rejected,
            EventKind::Renewed,
        ] {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(
            ApplicationStatus::parse("open"),
            Some(ApplicationStatus::Open)
        );
        assert_eq!(
            ApplicationKind::parse("renewal"),
            Some(ApplicationKind::Renewal)
        );
        assert_eq!(ApplicationKind::parse("x"), None);
    }
}
