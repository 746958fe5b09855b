//! Customer accounts of the portal: who signs in (an e-mail address) and
//! the account holder's contact data. `vetting::customers` decides what
//! is valid; `sa::customers` stores them.

use time::OffsetDateTime;

use super::{CustomerId, OrganizationId};

/// The account holder's contact data, as the seed's application form
/// asks for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountHolder {
    pub contact_name: String,
    pub organization: String,
    pub department: String,
    pub postal_code: String,
    pub address: String,
    pub phone: String,
    /// Empty when there is none.
    pub fax: String,
}

/// The language of an account's pages and mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Ja,
    En,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::Ja => "ja",
            Language::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Language> {
        match s {
            "ja" => Some(Language::Ja),
            "en" => Some(Language::En),
            _ => None,
        }
    }
}

/// A customer account as stored (never its password hash).
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: CustomerId,
    /// Lowercased.
    pub email: String,
    pub verified_at: Option<OffsetDateTime>,
    pub holder: AccountHolder,
    pub language: Language,
    /// Set when the customer's first application created it.
    pub organization: Option<OrganizationId>,
    pub created_at: OffsetDateTime,
}

impl Customer {
    /// As audit events name it.
    pub fn subject(&self) -> String {
        format!("customer:{}", self.id)
    }
}
