//! RFC 8555 wire types (serde) and nothing else: no logic lives here.

use serde::{Deserialize, Serialize};

pub mod problem;

/// An identifier (RFC 8555 §9.7.7). Only `dns` is supported; other types
/// are refused with `unsupportedIdentifier` by `ra::policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

impl Identifier {
    pub fn dns(value: impl Into<String>) -> Self {
        Identifier {
            kind: "dns".into(),
            value: value.into(),
        }
    }
}

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// RFC 8555 §7.1.6 account states.
    AccountStatus { Valid = "valid", Deactivated = "deactivated", Revoked = "revoked" }
);
wire_enum!(
    /// RFC 8555 §7.1.6 order states.
    OrderStatus { Pending = "pending", Ready = "ready", Processing = "processing", Valid = "valid", Invalid = "invalid" }
);
wire_enum!(
    /// RFC 8555 §7.1.6 authorization states.
    AuthorizationStatus { Pending = "pending", Valid = "valid", Invalid = "invalid", Deactivated = "deactivated", Expired = "expired", Revoked = "revoked" }
);
wire_enum!(
    /// RFC 8555 §7.1.6 challenge states.
    ChallengeStatus { Pending = "pending", Processing = "processing", Valid = "valid", Invalid = "invalid" }
);
wire_enum!(
    /// Challenge types this server can offer.
    ChallengeType { Http01 = "http-01", Dns01 = "dns-01", TlsAlpn01 = "tls-alpn-01" }
);

/// RFC 8555 §7.1.1.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    pub new_nonce: String,
    pub new_account: String,
    pub new_order: String,
    pub revoke_cert: String,
    pub key_change: String,
    /// RFC 9773 §4.
    pub renewal_info: String,
    pub meta: DirectoryMeta,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms_of_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub caa_identities: Vec<String>,
    pub external_account_required: bool,
    /// draft-ietf-acme-profiles: profile name → human description.
    pub profiles: std::collections::BTreeMap<String, String>,
}

/// RFC 8555 §7.1.2, as rendered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub status: AccountStatus,
    pub contact: Vec<String>,
    pub orders: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_account_binding: Option<serde_json::Value>,
}

/// newAccount / account update payload (RFC 8555 §7.3). Unknown fields are
/// ignored as §7.3 requires of servers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRequest {
    pub contact: Option<Vec<String>>,
    pub terms_of_service_agreed: Option<bool>,
    #[serde(default)]
    pub only_return_existing: bool,
    pub external_account_binding: Option<serde_json::Value>,
    pub status: Option<String>,
}

/// RFC 8555 §7.1.3, as rendered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub status: OrderStatus,
    pub expires: String,
    pub identifiers: Vec<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    pub authorizations: Vec<String>,
    pub finalize: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// newOrder payload (RFC 8555 §7.4).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrderRequest {
    pub identifiers: Vec<Identifier>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub profile: Option<String>,
    /// RFC 9773 §5: the ARI certificate identifier this order replaces.
    pub replaces: Option<String>,
}

/// finalize payload (RFC 8555 §7.4).
#[derive(Debug, Clone, Deserialize)]
pub struct FinalizeRequest {
    pub csr: String,
}

/// revokeCert payload (RFC 8555 §7.6).
#[derive(Debug, Clone, Deserialize)]
pub struct RevocationRequest {
    pub certificate: String,
    pub reason: Option<i64>,
}

/// RFC 8555 §7.1.4, as rendered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    pub identifier: Identifier,
    pub status: AuthorizationStatus,
    pub expires: String,
    pub challenges: Vec<Challenge>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub wildcard: bool,
}

/// Authorization update (deactivation, RFC 8555 §7.5.2).
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizationUpdate {
    pub status: Option<String>,
}

/// RFC 8555 §8, as rendered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    #[serde(rename = "type")]
    pub kind: ChallengeType,
    pub url: String,
    pub status: ChallengeStatus,
    pub token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
}

/// The orders list of an account (RFC 8555 §7.1.2.1).
#[derive(Debug, Clone, Serialize)]
pub struct OrdersList {
    pub orders: Vec<String>,
}

/// RFC 9773 §4.2: the renewal information of a certificate.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalInfo {
    pub suggested_window: SuggestedWindow,
    #[serde(rename = "explanationURL", skip_serializing_if = "Option::is_none")]
    pub explanation_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuggestedWindow {
    pub start: String,
    pub end: String,
}
