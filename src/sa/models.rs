//! Row structs, kept apart from the domain types in `crate::core`; each
//! converts with `into_core`, failing on values no code path writes.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::*;
use super::{corrupt, from_db};
use crate::core::*;
use crate::error::Result;

#[derive(Queryable, Selectable)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub id: i64,
    pub key_thumbprint: String,
    pub jwk: String,
    pub contact: String,
    pub status: String,
    pub eab_credential_id: Option<i64>,
    pub created_at: PrimitiveDateTime,
    pub terms_version: Option<String>,
    pub terms_accepted_at: Option<PrimitiveDateTime>,
}

impl AccountRow {
    /// With the organization of its EAB credential (`eab_credentials`
    /// joined).
    pub fn into_core(self, organization: Option<i64>) -> Result<Account> {
        let binding = match (self.eab_credential_id, organization) {
            (Some(credential), Some(organization)) => Some(Binding {
                credential: EabId(credential),
                organization: OrganizationId(organization),
            }),
            (None, None) => None,
            _ => return Err(corrupt("account binding", &self.id.to_string())),
        };
        let jwk = match serde_json::from_str(&self.jwk) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return Err(corrupt("account jwk", &self.jwk)),
        };
        Ok(Account {
            id: AccountId(self.id),
            key_thumbprint: self.key_thumbprint,
            jwk,
            contact: serde_json::from_str(&self.contact)
                .map_err(|_| corrupt("account contact", &self.contact))?,
            status: AccountStatus::parse(&self.status)
                .ok_or_else(|| corrupt("account status", &self.status))?,
            binding,
            created_at: from_db(self.created_at),
            terms_version: self.terms_version,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = eab_credentials)]
pub struct EabRow {
    pub id: i64,
    pub key_id: String,
    pub organization_id: i64,
    pub hmac_key: Vec<u8>,
    pub note: String,
    pub single_use: bool,
    pub created_at: PrimitiveDateTime,
    pub expires_at: Option<PrimitiveDateTime>,
    pub revoked_at: Option<PrimitiveDateTime>,
    pub used_at: Option<PrimitiveDateTime>,
}

impl EabRow {
    pub fn into_core(self) -> EabCredential {
        EabCredential {
            id: EabId(self.id),
            key_id: self.key_id,
            organization: OrganizationId(self.organization_id),
            hmac_key: self.hmac_key,
            note: self.note,
            single_use: self.single_use,
            created_at: from_db(self.created_at),
            expires_at: self.expires_at.map(from_db),
            revoked_at: self.revoked_at.map(from_db),
            used_at: self.used_at.map(from_db),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = orders)]
pub struct OrderRow {
    pub id: i64,
    pub account_id: i64,
    pub status: String,
    pub names: String,
    pub profile: String,
    pub not_before: Option<PrimitiveDateTime>,
    pub not_after: Option<PrimitiveDateTime>,
    pub expires_at: PrimitiveDateTime,
    pub error: Option<String>,
    pub gate_refusal: Option<String>,
    pub caa_evidence: Option<String>,
    pub replaces: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl OrderRow {
    pub fn into_core(
        self,
        authorizations: Vec<Authorization>,
        certificate: Option<CertificateId>,
    ) -> Result<Order> {
        Ok(Order {
            id: OrderId(self.id),
            account_id: AccountId(self.account_id),
            stored_status: StoredOrderStatus::parse(&self.status)
                .ok_or_else(|| corrupt("order status", &self.status))?,
            names: serde_json::from_str(&self.names)
                .map_err(|_| corrupt("order names", &self.names))?,
            profile: Profile::parse(&self.profile)
                .ok_or_else(|| corrupt("order profile", &self.profile))?,
            not_before: self.not_before.map(from_db),
            not_after: self.not_after.map(from_db),
            expires_at: from_db(self.expires_at),
            error: parse_json_opt(self.error.as_deref(), "order error")?,
            replaces: self.replaces,
            authorizations,
            certificate,
            created_at: from_db(self.created_at),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = authorizations)]
pub struct AuthzRow {
    pub id: i64,
    pub account_id: i64,
    pub identifier: String,
    pub wildcard: bool,
    pub status: String,
    pub expires_at: PrimitiveDateTime,
    pub created_at: PrimitiveDateTime,
}

impl AuthzRow {
    pub fn into_core(self, challenges: Vec<Challenge>) -> Result<Authorization> {
        Ok(Authorization {
            id: AuthzId(self.id),
            account_id: AccountId(self.account_id),
            identifier: self.identifier,
            wildcard: self.wildcard,
            stored_status: AuthorizationStatus::parse(&self.status)
                .ok_or_else(|| corrupt("authorization status", &self.status))?,
            expires_at: from_db(self.expires_at),
            challenges,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = challenges)]
pub struct ChallengeRow {
    pub id: i64,
    pub authorization_id: i64,
    pub kind: String,
    pub token: String,
    pub status: String,
    pub validated_at: Option<PrimitiveDateTime>,
    pub error: Option<String>,
    pub validation_records: Option<String>,
    pub started_at: Option<PrimitiveDateTime>,
}

impl ChallengeRow {
    pub fn into_core(self) -> Result<Challenge> {
        Ok(Challenge {
            id: ChallengeId(self.id),
            authorization_id: AuthzId(self.authorization_id),
            kind: ChallengeType::parse(&self.kind)
                .ok_or_else(|| corrupt("challenge type", &self.kind))?,
            token: self.token,
            status: ChallengeStatus::parse(&self.status)
                .ok_or_else(|| corrupt("challenge status", &self.status))?,
            validated_at: self.validated_at.map(from_db),
            error: parse_json_opt(self.error.as_deref(), "challenge error")?,
            validation_records: parse_json_opt(
                self.validation_records.as_deref(),
                "validation records",
            )?,
            started_at: self.started_at.map(from_db),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = certificates)]
pub struct CertificateRow {
    pub id: i64,
    pub serial: String,
    pub order_id: i64,
    pub account_id: i64,
    pub der: Vec<u8>,
    pub not_before: PrimitiveDateTime,
    pub not_after: PrimitiveDateTime,
    pub created_at: PrimitiveDateTime,
    pub revoked_at: Option<PrimitiveDateTime>,
    pub revocation_reason: Option<i32>,
    pub crl_shard: i32,
}

impl CertificateRow {
    pub fn into_core(self) -> Certificate {
        Certificate {
            id: CertificateId(self.id),
            serial: self.serial,
            order_id: OrderId(self.order_id),
            account_id: AccountId(self.account_id),
            der: self.der,
            not_before: from_db(self.not_before),
            not_after: from_db(self.not_after),
            revoked_at: self.revoked_at.map(from_db),
            revocation_reason: self.revocation_reason,
        }
    }
}

fn parse_json_opt(s: Option<&str>, what: &str) -> Result<Option<serde_json::Value>> {
    s.map(|s| serde_json::from_str(s).map_err(|_| corrupt(what, s)))
        .transpose()
}
