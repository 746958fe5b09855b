//! Domain objects shared by the layers above: statuses are enums and
//! times are `OffsetDateTime` (UTC). `sa::models` keeps the row structs.

pub mod application;
mod clock;
pub mod customer;
pub mod names;
pub mod organization;
pub mod profile;
mod region;
pub mod staff;
pub mod urls;
pub mod vetting;

pub use clock::Clock;
pub use names::DnsName;
pub use organization::Organization;
pub use profile::Profile;
pub use region::Region;
use time::OffsetDateTime;

pub use crate::acme::{
    AccountStatus, AuthorizationStatus, ChallengeStatus, ChallengeType, OrderStatus,
};

/// Row ids. Newtypes so an order id is never passed where an account id
/// belongs.
macro_rules! id_type {
    ($($name:ident),+) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { self.0.fmt(f) }
        }
        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> { s.parse().map($name) }
        }
    )+};
}
id_type!(
    AccountId,
    OrderId,
    AuthzId,
    ChallengeId,
    CertificateId,
    EabId,
    OrganizationId,
    CustomerId
);

#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    /// RFC 7638 thumbprint of the account key (base64url SHA-256).
    pub key_thumbprint: String,
    /// The account public key as a JWK JSON object.
    pub jwk: serde_json::Map<String, serde_json::Value>,
    pub contact: Vec<String>,
    pub status: AccountStatus,
    /// `None` only for an account registered without External Account
    /// Binding (tests; the server requires it).
    pub binding: Option<Binding>,
    pub created_at: OffsetDateTime,
    /// The subscriber-agreement version the account accepted (RFC 8555
    /// §7.3.3); `None` only for an account registered before versions
    /// were recorded and not yet given the version it registered under.
    pub terms_version: Option<String>,
}

/// The EAB credential an account registered with and the organization it
/// acts for through it: both fixed at registration, so an account carries
/// them (and the audit events of its requests need no lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub credential: EabId,
    pub organization: OrganizationId,
}

impl Account {
    /// The organization this account acts for.
    pub fn organization(&self) -> Option<OrganizationId> {
        self.binding.map(|b| b.organization)
    }
}

#[derive(Clone)]
pub struct EabCredential {
    pub id: EabId,
    pub key_id: String,
    /// The organization every account bound with this credential acts for.
    pub organization: OrganizationId,
    pub hmac_key: Vec<u8>,
    pub note: String,
    /// Binds at most one account.
    pub single_use: bool,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub used_at: Option<OffsetDateTime>,
}

/// Redacts the HMAC key: credentials must never reach a log.
impl std::fmt::Debug for EabCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EabCredential")
            .field("id", &self.id)
            .field("key_id", &self.key_id)
            .field("organization", &self.organization)
            .field("hmac_key", &"<redacted>")
            .field("single_use", &self.single_use)
            .finish_non_exhaustive()
    }
}

/// The stored order state. `ready` is not stored: it is derived from the
/// authorizations (see `Order::status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredOrderStatus {
    Pending,
    Processing,
    Valid,
    Invalid,
}

impl StoredOrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StoredOrderStatus::Pending => "pending",
            StoredOrderStatus::Processing => "processing",
            StoredOrderStatus::Valid => "valid",
            StoredOrderStatus::Invalid => "invalid",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => StoredOrderStatus::Pending,
            "processing" => StoredOrderStatus::Processing,
            "valid" => StoredOrderStatus::Valid,
            "invalid" => StoredOrderStatus::Invalid,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: OrderId,
    pub account_id: AccountId,
    pub stored_status: StoredOrderStatus,
    /// DNS names, lowercased, sorted, unique (wildcards as `*.name`).
    pub names: Vec<String>,
    pub profile: Profile,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    /// A problem document (JSON) explaining why the order is invalid.
    pub error: Option<serde_json::Value>,
    /// RFC 9773: the ARI identifier of the certificate this order replaces.
    pub replaces: Option<String>,
    pub authorizations: Vec<Authorization>,
    pub certificate: Option<CertificateId>,
    pub created_at: OffsetDateTime,
}

impl Order {
    /// The order as `sa::orders::complete_finalize` leaves it (it moves
    /// an order from `processing` to `valid` and links the certificate):
    /// no need to read it again.
    pub fn issued(self, certificate: CertificateId) -> Order {
        Order {
            stored_status: StoredOrderStatus::Valid,
            certificate: Some(certificate),
            ..self
        }
    }

    /// RFC 8555 §7.1.6: the order's status as the client sees it at `now`.
    pub fn status(&self, now: OffsetDateTime) -> OrderStatus {
        match self.stored_status {
            StoredOrderStatus::Valid => OrderStatus::Valid,
            StoredOrderStatus::Invalid => OrderStatus::Invalid,
            StoredOrderStatus::Processing => OrderStatus::Processing,
            StoredOrderStatus::Pending => {
                if self.expires_at <= now {
                    return OrderStatus::Invalid;
                }
                let mut all_valid = true;
                for a in &self.authorizations {
                    match a.status(now) {
                        AuthorizationStatus::Valid => {}
                        AuthorizationStatus::Pending => all_valid = false,
                        _ => return OrderStatus::Invalid,
                    }
                }
                if all_valid {
                    OrderStatus::Ready
                } else {
                    OrderStatus::Pending
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Authorization {
    pub id: AuthzId,
    pub account_id: AccountId,
    /// The DNS name without any `*.` prefix.
    pub identifier: String,
    pub wildcard: bool,
    pub stored_status: AuthorizationStatus,
    pub expires_at: OffsetDateTime,
    pub challenges: Vec<Challenge>,
}

impl Authorization {
    /// RFC 8555 §7.1.6: pending and valid authorizations expire.
    pub fn status(&self, now: OffsetDateTime) -> AuthorizationStatus {
        match self.stored_status {
            AuthorizationStatus::Pending | AuthorizationStatus::Valid if self.expires_at <= now => {
                AuthorizationStatus::Expired
            }
            s => s,
        }
    }

    /// The name as it appears in the order (`*.` restored for wildcards).
    pub fn order_name(&self) -> String {
        if self.wildcard {
            format!("*.{}", self.identifier)
        } else {
            self.identifier.clone()
        }
    }
}

#[derive(Debug, Clone)]
pub struct Challenge {
    pub id: ChallengeId,
    pub authorization_id: AuthzId,
    pub kind: ChallengeType,
    pub token: String,
    pub status: ChallengeStatus,
    pub validated_at: Option<OffsetDateTime>,
    pub error: Option<serde_json::Value>,
    pub validation_records: Option<serde_json::Value>,
    pub started_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct Certificate {
    pub id: CertificateId,
    pub serial: String,
    pub order_id: OrderId,
    pub account_id: AccountId,
    pub der: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revocation_reason: Option<i32>,
}

/// CRL reason codes (RFC 5280 §5.3.1) a certificate may be revoked with,
/// per BR 7.2.2 / 4.9.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    Unspecified = 0,
    KeyCompromise = 1,
    AffiliationChanged = 3,
    Superseded = 4,
    CessationOfOperation = 5,
    /// Only the CA may use it (BR 4.9.1.1).
    PrivilegeWithdrawn = 9,
}

impl RevocationReason {
    pub fn from_code(code: i64) -> Option<RevocationReason> {
        Some(match code {
            0 => RevocationReason::Unspecified,
            1 => RevocationReason::KeyCompromise,
            3 => RevocationReason::AffiliationChanged,
            4 => RevocationReason::Superseded,
            5 => RevocationReason::CessationOfOperation,
            9 => RevocationReason::PrivilegeWithdrawn,
            _ => return None,
        })
    }

    pub fn code(self) -> i32 {
        self as i32
    }

    /// RFC 5280 §5.3.1 names, as staff type them.
    pub fn from_name(name: &str) -> Option<RevocationReason> {
        Some(match name {
            "unspecified" => RevocationReason::Unspecified,
            "keyCompromise" => RevocationReason::KeyCompromise,
            "affiliationChanged" => RevocationReason::AffiliationChanged,
            "superseded" => RevocationReason::Superseded,
            "cessationOfOperation" => RevocationReason::CessationOfOperation,
            "privilegeWithdrawn" => RevocationReason::PrivilegeWithdrawn,
            _ => return None,
        })
    }

    /// Whether a subscriber (not the CA) may choose it.
    pub fn subscriber_may_use(self) -> bool {
        self != RevocationReason::PrivilegeWithdrawn
    }
}
