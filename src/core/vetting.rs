//! The records of vetting: the checks staff record (the human steps of
//! the paper process) and the status they lead to. Shared by `sa` (which
//! stores them) and `vetting` (which decides what approval requires).

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

/// Where a fact was checked: always a source independent of the
/// applicant (BR 3.2.2.1, EVG 11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThirdPartySource {
    /// Teikoku Databank company data.
    Tdb,
    /// NTT directory (NTT104).
    Ntt104,
    /// The commercial (法人) registry.
    CommercialRegistry,
    Other,
}

/// One recorded check, as staff enter it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckRecord {
    /// The organization exists, per a third-party source.
    Existence {
        source: ThirdPartySource,
        reference: String,
        passed: bool,
        #[serde(default)]
        notes: String,
    },
    /// The applicant's intent confirmed by telephone, at a number taken
    /// from a third-party source, never from the applicant.
    PhoneIntent {
        number_called: String,
        number_source: ThirdPartySource,
        person_reached: String,
        confirmed: bool,
        #[serde(default)]
        notes: String,
    },
    /// The domain scope reviewed against the organization.
    DomainScope {
        passed: bool,
        #[serde(default)]
        notes: String,
    },
    /// EV: registration and jurisdiction of incorporation verified.
    EvRegistration {
        reference: String,
        passed: bool,
        #[serde(default)]
        notes: String,
    },
    /// EV: business category verified.
    EvBusinessCategory {
        passed: bool,
        #[serde(default)]
        notes: String,
    },
    /// EV (EVG 11.4.1): the address of the applicant's Place of Business,
    /// where it conducts business operations (not a mail drop, P.O. box
    /// or c/o address).
    EvPlaceOfBusiness {
        /// The address as verified.
        address: String,
        method: PlaceOfBusinessMethod,
        source: ThirdPartySource,
        reference: String,
        passed: bool,
        #[serde(default)]
        notes: String,
    },
    /// EV (EVG 11.6): the applicant's operational existence.
    EvOperationalExistence {
        evidence: OperationalEvidence,
        source: ThirdPartySource,
        reference: String,
        passed: bool,
        #[serde(default)]
        notes: String,
    },
    /// EV (EVG 11.5): a Verified Method of Communication, matched to a
    /// Place of Business (11.5.2 A) and confirmed by an affirmative
    /// response through it (11.5.2 B).
    EvCommunication {
        method: CommunicationMethod,
        matched_in: CommunicationSource,
        reference: String,
        /// Who answered, and what they confirmed.
        affirmative_response: String,
        passed: bool,
        #[serde(default)]
        notes: String,
    },
    /// EV (EVG 11.8): name, title, agency and authority of the Contract
    /// Signer and the Certificate Approver.
    EvAuthority {
        contract_signer: Person,
        certificate_approver: Person,
        agency_method: AgencyMethod,
        authority_method: AuthorityMethod,
        reference: String,
        passed: bool,
        #[serde(default)]
        notes: String,
    },
    /// EV (EVG 11.12.1, 11.12.2): the applicant, the Contract Signer, the
    /// Certificate Approver and the jurisdiction and place of business
    /// screened against denied-party lists and the CA's high-risk list.
    /// It passes only with `no_match`.
    EvDeniedPartyScreening {
        lists: Vec<ScreeningList>,
        screened: Vec<ScreenedParty>,
        reference: String,
        result: ScreeningResult,
        #[serde(default)]
        notes: String,
    },
}

/// How a Place of Business was verified (EVG 11.4.1 (2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceOfBusinessMethod {
    /// The address in the QGIS used for legal existence (A)(iv).
    QgisOfRegistration,
    /// Listed at that address in another QGIS, a QIIS or a QTIS (A)(i)(1).
    IndependentListing,
    /// A documented site visit by a reliable person or firm (A)(i)(2).
    SiteVisit,
    /// A Verified Professional Letter (A)(ii), (B).
    VerifiedProfessionalLetter,
}

/// The evidence of operational existence (EVG 11.6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OperationalEvidence {
    /// In existence for at least three years per the Incorporating or
    /// Registration Agency (1): the date it records.
    ThreeYearsRegistered {
        #[serde(with = "iso_date")]
        registered_on: Date,
    },
    /// Listed in a current QIIS or QTIS (2).
    CurrentListing {},
    /// An active Demand Deposit Account, documented directly by a
    /// Regulated Financial Institution (3).
    DemandDepositAccount { institution: String },
    /// A Verified Professional Letter stating such an account (4).
    VerifiedProfessionalLetter { author: String },
}

/// A calendar date as `YYYY-MM-DD`, exactly (no sign, no wider year).
mod iso_date {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use time::{macros::format_description, Date};

    const FORMAT: &[time::format_description::FormatItem<'_>] =
        format_description!("[year]-[month]-[day]");

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.format(FORMAT).map_err(serde::ser::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        let shape = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        if !shape {
            return Err(D::Error::custom("expected a date as YYYY-MM-DD"));
        }
        Date::parse(&text, FORMAT).map_err(D::Error::custom)
    }
}

/// A Verified Method of Communication (EVG 11.5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case", deny_unknown_fields)]
pub enum CommunicationMethod {
    Telephone { number: String },
    Fax { number: String },
    Email { address: String },
    Postal { address: String },
}

/// Where the method was matched to a Place of Business (EVG 11.5.2 A).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommunicationSource {
    /// Records of the phone company (e.g. NTT directory).
    PhoneCompany,
    Qgis,
    Qtis,
    Qiis,
    VerifiedProfessionalLetter,
}

/// A natural person acting for the applicant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub name: String,
    pub title: String,
}

/// How agency (employee or appointed agent) was verified (EVG 11.8.2 (2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgencyMethod {
    /// Confirmed by the applicant through a Verified Method of Communication (A).
    VerifiedCommunication,
    /// Independent Confirmation From Applicant (11.11.4) (B).
    IndependentConfirmation,
    /// A Verified Professional Letter (B).
    VerifiedProfessionalLetter,
    /// A QIIS or QGIS names them as employees (C).
    QiisOrQgis,
    /// The Certificate Approver's agency certified by a verified Contract Signer.
    ContractSignerCertification,
}

/// How signing authority and EV authority were verified (EVG 11.8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorityMethod {
    VerifiedProfessionalLetter,
    CorporateResolution,
    IndependentConfirmation,
    /// A contract between the CA and the applicant signed by the Contract Signer.
    ContractWithCa,
    PriorEquivalentAuthority,
    QiisOrQgis,
    /// The Contract Signer's representation/warranty (Appendix E).
    ContractSignerRepresentation,
}

/// A list screened against (EVG 11.12.2 (2); BR 4.2.1 for high risk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScreeningList {
    /// METI End User List (外国ユーザーリスト).
    MetiEndUserList,
    /// MOF list of persons subject to economic sanctions (外為法).
    MofSanctionsList,
    /// US Treasury OFAC Specially Designated Nationals.
    OfacSdn,
    /// BIS Denied Persons List.
    BisDeniedPersons,
    /// BIS Entity List.
    BisEntityList,
    /// UN Security Council consolidated list.
    UnConsolidated,
    /// The CA's own High Risk Certificate Request list (EVG 11.12.1, BR 4.2.1).
    CaHighRisk,
}

/// Who or what was screened (EVG 11.12.2 (1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScreenedParty {
    Applicant,
    ContractSigner,
    CertificateApprover,
    /// The Jurisdiction of Incorporation or Registration.
    Jurisdiction,
    /// The country of the Place of Business.
    PlaceOfBusiness,
}

impl ScreenedParty {
    pub const ALL: [ScreenedParty; 5] = [
        ScreenedParty::Applicant,
        ScreenedParty::ContractSigner,
        ScreenedParty::CertificateApprover,
        ScreenedParty::Jurisdiction,
        ScreenedParty::PlaceOfBusiness,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScreeningResult {
    NoMatch,
    /// A possible or confirmed match: EVG 11.12.2 forbids issuance.
    Match,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Existence,
    PhoneIntent,
    DomainScope,
    EvRegistration,
    EvBusinessCategory,
    EvPlaceOfBusiness,
    EvOperationalExistence,
    EvCommunication,
    EvAuthority,
    EvDeniedPartyScreening,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Existence => "existence",
            CheckKind::PhoneIntent => "phone_intent",
            CheckKind::DomainScope => "domain_scope",
            CheckKind::EvRegistration => "ev_registration",
            CheckKind::EvBusinessCategory => "ev_business_category",
            CheckKind::EvPlaceOfBusiness => "ev_place_of_business",
            CheckKind::EvOperationalExistence => "ev_operational_existence",
            CheckKind::EvCommunication => "ev_communication",
            CheckKind::EvAuthority => "ev_authority",
            CheckKind::EvDeniedPartyScreening => "ev_denied_party_screening",
        }
    }

    /// How staff and clients read it in messages.
    pub fn describe(self) -> &'static str {
        match self {
            CheckKind::Existence => "third-party existence check",
            CheckKind::PhoneIntent => "applicant telephone confirmation",
            CheckKind::DomainScope => "domain scope review",
            CheckKind::EvRegistration => "EV registration and jurisdiction verification",
            CheckKind::EvBusinessCategory => "EV business category verification",
            CheckKind::EvPlaceOfBusiness => "EV place of business verification (EVG 11.4)",
            CheckKind::EvOperationalExistence => "EV operational existence verification (EVG 11.6)",
            CheckKind::EvCommunication => "EV verified method of communication (EVG 11.5)",
            CheckKind::EvAuthority => {
                "EV contract signer and certificate approver authority (EVG 11.8)"
            }
            CheckKind::EvDeniedPartyScreening => {
                "EV denied-party and high-risk screening (EVG 11.12)"
            }
        }
    }
}

impl CheckRecord {
    pub fn kind(&self) -> CheckKind {
        match self {
            CheckRecord::Existence { .. } => CheckKind::Existence,
            CheckRecord::PhoneIntent { .. } => CheckKind::PhoneIntent,
            CheckRecord::DomainScope { .. } => CheckKind::DomainScope,
            CheckRecord::EvRegistration { .. } => CheckKind::EvRegistration,
            CheckRecord::EvBusinessCategory { .. } => CheckKind::EvBusinessCategory,
            CheckRecord::EvPlaceOfBusiness { .. } => CheckKind::EvPlaceOfBusiness,
            CheckRecord::EvOperationalExistence { .. } => CheckKind::EvOperationalExistence,
            CheckRecord::EvCommunication { .. } => CheckKind::EvCommunication,
            CheckRecord::EvAuthority { .. } => CheckKind::EvAuthority,
            CheckRecord::EvDeniedPartyScreening { .. } => CheckKind::EvDeniedPartyScreening,
        }
    }

    pub fn passed(&self) -> bool {
        match self {
            CheckRecord::Existence { passed, .. }
            | CheckRecord::DomainScope { passed, .. }
            | CheckRecord::EvRegistration { passed, .. }
            | CheckRecord::EvBusinessCategory { passed, .. }
            | CheckRecord::EvPlaceOfBusiness { passed, .. }
            | CheckRecord::EvOperationalExistence { passed, .. }
            | CheckRecord::EvCommunication { passed, .. }
            | CheckRecord::EvAuthority { passed, .. } => *passed,
            CheckRecord::PhoneIntent { confirmed, .. } => *confirmed,
            CheckRecord::EvDeniedPartyScreening { result, .. } => {
                *result == ScreeningResult::NoMatch
            }
        }
    }
}

/// A check as stored: append-only.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: i64,
    pub organization: i64,
    #[serde(flatten)]
    pub record: CheckRecord,
    pub performed_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub performed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

/// Vetting status (an append-only history of changes is in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VettingStatus {
    Pending,
    Approved,
    Rejected,
    Suspended,
    Expired,
}

impl VettingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VettingStatus::Pending => "pending",
            VettingStatus::Approved => "approved",
            VettingStatus::Rejected => "rejected",
            VettingStatus::Suspended => "suspended",
            VettingStatus::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<VettingStatus> {
        Some(match s {
            "pending" => VettingStatus::Pending,
            "approved" => VettingStatus::Approved,
            "rejected" => VettingStatus::Rejected,
            "suspended" => VettingStatus::Suspended,
            "expired" => VettingStatus::Expired,
            _ => return None,
        })
    }
}
