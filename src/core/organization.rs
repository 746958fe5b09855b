//! An organization as the paper OV/EV application collects it, and the
//! state of its vetting. Stored as JSON (`organizations.data`); unknown
//! fields are refused so a typo never silently drops data.
//!
//! Shared by `sa` (which stores it), `vetting` (which changes it and
//! defines `OrganizationData::problems`, the check of what staff enter) and
//! `ra` (the gate and the certificate subject).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::vetting::VettingStatus;
use super::OrganizationId;

/// An organization and the state of its vetting.
#[derive(Debug, Clone, Serialize)]
pub struct Organization {
    pub id: OrganizationId,
    pub data: OrganizationData,
    pub status: VettingStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub data_changed_at: OffsetDateTime,
    pub status_reason: Option<String>,
    pub approved_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub approved_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub vetted_at: Option<OffsetDateTime>,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Organization {
    /// The status at `now`: an approval whose data is older than `max_age`
    /// has expired, whether or not a sweep has recorded it yet.
    pub fn effective_status(&self, now: OffsetDateTime, max_age: Duration) -> VettingStatus {
        match (self.status, self.vetted_at) {
            (VettingStatus::Approved, Some(v)) if v + max_age > now => VettingStatus::Approved,
            (VettingStatus::Approved, _) => VettingStatus::Expired,
            (s, _) => s,
        }
    }

    /// When the vetting stops being usable, if approved.
    pub fn vetting_expires(&self, max_age: Duration) -> Option<OffsetDateTime> {
        self.vetted_at.map(|v| v + max_age)
    }
}

/// Validation level an organization is vetted for (BR / EV Guidelines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ov,
    Ev,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ov => "ov",
            Level::Ev => "ev",
        }
    }
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "ov" => Some(Level::Ov),
            "ev" => Some(Level::Ev),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationData {
    /// 組織名: the legal name, as registered (Japanese text in UTF-8).
    pub legal_name: String,
    /// English name, used in certificates when `use_english_name`.
    #[serde(default)]
    pub english_name: Option<String>,
    #[serde(default)]
    pub use_english_name: bool,
    /// TDB企業コード: Teikoku Databank company code (9 digits).
    #[serde(default)]
    pub tdb_code: Option<String>,
    /// 会社法人等番号: corporate registration number (12 digits).
    pub registration_number: String,
    /// 法人番号: national corporate number (13 digits, leading check digit).
    #[serde(default)]
    pub corporate_number: Option<String>,
    /// 本店登記住所: registered head office.
    pub head_office: Address,
    /// 事業所所在地住所: the office the certificate's subject locates.
    pub office: Address,
    /// 代表者 / 代表者役職.
    pub representative: Representative,
    /// 申請責任者: manager level or above.
    pub applicant: Applicant,
    /// アカウント担当者.
    pub account_contact: Contact,
    /// 請求書担当者.
    pub billing_contact: BillingContact,
    pub level: Level,
    /// Required for EV, absent for OV.
    #[serde(default)]
    pub ev: Option<EvData>,
    /// Names certificates may be issued for.
    pub domains: Vec<DomainScope>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// ISO 3166-1 alpha-2, e.g. "JP".
    pub country: String,
    /// 都道府県 (stateOrProvince), e.g. "東京都" or "Tokyo".
    pub prefecture: String,
    /// 市区町村 (locality).
    pub locality: String,
    pub postal_code: String,
    pub street: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Representative {
    pub name: String,
    pub title: String,
}

/// Ranks that may apply for a certificate on the organization's behalf:
/// manager level or above. Anything lower cannot be entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicantRank {
    /// 課長 and equivalent.
    Manager,
    /// 部長 and equivalent.
    SeniorManager,
    /// 取締役, 執行役員.
    Officer,
    /// 代表取締役 and other representatives.
    Representative,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applicant {
    pub name: String,
    pub department: String,
    pub title: String,
    pub rank: ApplicantRank,
    pub phone: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    pub organization: String,
    pub department: String,
    pub address: String,
    pub phone: String,
    #[serde(default)]
    pub fax: Option<String>,
    pub email: String,
}

/// Who invoices go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingParty {
    /// The organization itself.
    Organization,
    /// The account contact.
    AccountContact,
    /// Another company.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingContact {
    pub party: BillingParty,
    pub name: String,
    pub organization: String,
    pub department: String,
    pub postal_code: String,
    pub address: String,
    pub phone: String,
    #[serde(default)]
    pub fax: Option<String>,
    /// Where invoices are e-mailed; without it, to the account contact.
    #[serde(default)]
    pub email: Option<String>,
}

impl OrganizationData {
    /// The address invoices are e-mailed to: the billing contact's, else
    /// the account contact's.
    pub fn billing_email(&self) -> &str {
        match self.billing_contact.email.as_deref().map(str::trim) {
            Some(e) if !e.is_empty() => e,
            _ => self.account_contact.email.trim(),
        }
    }
}

/// EV Guidelines 7.1.4.2: businessCategory values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BusinessCategory {
    #[serde(rename = "Private Organization")]
    PrivateOrganization,
    #[serde(rename = "Government Entity")]
    GovernmentEntity,
    #[serde(rename = "Business Entity")]
    BusinessEntity,
    #[serde(rename = "Non-Commercial Entity")]
    NonCommercialEntity,
}

impl BusinessCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            BusinessCategory::PrivateOrganization => "Private Organization",
            BusinessCategory::GovernmentEntity => "Government Entity",
            BusinessCategory::BusinessEntity => "Business Entity",
            BusinessCategory::NonCommercialEntity => "Non-Commercial Entity",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvData {
    pub business_category: BusinessCategory,
    /// Jurisdiction of incorporation (ISO 3166-1 alpha-2).
    pub jurisdiction_country: String,
    #[serde(default)]
    pub jurisdiction_state_or_province: Option<String>,
    #[serde(default)]
    pub jurisdiction_locality: Option<String>,
}

/// One entry of the domain scope: a registrable domain covers itself and
/// every name under it; an exact name covers only itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainScope {
    pub name: String,
    #[serde(default)]
    pub exact: bool,
}

impl OrganizationData {
    /// The organizationName placed in certificates.
    pub fn certificate_name(&self) -> &str {
        match (&self.english_name, self.use_english_name) {
            (Some(e), true) => e,
            _ => &self.legal_name,
        }
    }

    /// Whether `name` (possibly `*.`-prefixed) lies in the domain scope.
    pub fn in_scope(&self, name: &str) -> bool {
        let (base, wildcard) = match name.strip_prefix("*.") {
            Some(b) => (b, true),
            None => (name, false),
        };
        self.domains.iter().any(|d| {
            if d.exact {
                !wildcard && base == d.name
            } else {
                base == d.name || base.ends_with(&format!(".{}", d.name))
            }
        })
    }
}
