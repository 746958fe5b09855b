//! Evidence views (read-only, `view` role): what an order and a
//! certificate were validated and issued on, as auditors of a CA ask for
//! it (BR 5.4.1: domain validation and CAA records, per name). Ids are
//! the ones in the ACME URLs, which are shown alongside.
//!
//! Validation records and CAA evidence are rendered as stored (the VA's
//! camelCase records, RFC 8555 §8.3 / Boulder's `validationRecord`), not
//! re-interpreted.

use hyper::StatusCode;
use serde::Serialize;
use time::OffsetDateTime;

use super::handlers::refusal_fields;
use super::{Admin, Call, Reply};
use crate::core::{
    Account, AccountId, AccountStatus, Authorization, AuthorizationStatus, AuthzId, CertificateId,
    Challenge, ChallengeId, ChallengeStatus, ChallengeType, OrderId, OrderStatus, OrganizationId,
};
use crate::error::{Error, Result};
use crate::sa;
use crate::sa::evidence::{
    split_validation_evidence, IssuedCertificate, OrderEvidence, OrderSummary,
};
use crate::vetting::checks::VettingStatus;
use crate::vetting::organization::Level;

/// Orders listed when the request names no limit, and at most.
const ORDERS_DEFAULT_LIMIT: i64 = 100;
const ORDERS_MAX_LIMIT: i64 = 1000;

/// `GET /admin/orders/{id}`: the order, every authorization with every
/// challenge (including failed attempts), the CAA evidence, the
/// certificate, the account and the organization.
pub async fn order(a: &Admin, c: Call) -> Result<Reply> {
    let raw = c.param(0).to_owned();
    let id: OrderId = raw
        .parse()
        .map_err(|_| Error::not_found(format!("no order {raw:?}")))?;
    let ev = a
        .vetting
        .store()
        .read(move |conn| sa::evidence::order(conn, id))
        .await?
        .ok_or_else(|| Error::not_found(format!("no order {id}")))?;
    Reply::json(StatusCode::OK, &order_view(a, &ev, a.vetting.clock().now()))
}

/// `GET /admin/certificates/{serial}/evidence`: per name of the
/// certificate, the domain validation it was issued on (possibly done
/// for an earlier order and reused) and the CAA decision.
pub async fn certificate(a: &Admin, c: Call) -> Result<Reply> {
    let serial = c.param(0).to_ascii_lowercase();
    let s = serial.clone();
    let ev = a
        .vetting
        .store()
        .read(move |conn| match sa::evidence::order_of_serial(conn, &s)? {
            Some(id) => sa::evidence::order(conn, id),
            None => Ok(None),
        })
        .await?
        .ok_or_else(|| Error::not_found(format!("no certificate with serial {serial}")))?;
    let cert = ev
        .certificate
        .as_ref()
        .ok_or_else(|| Error::internal("a certificate's order has no certificate"))?;
    let o = &ev.order;
    let view = CertificateEvidenceView {
        certificate: cert_view(a, cert),
        order: OrderRef {
            id: o.id,
            url: a.urls.order(o.id),
            profile: o.profile.name(),
            created_at: o.created_at,
        },
        account: account_view(a, &ev.account),
        organization: org_view(a, &ev),
        names: o
            .authorizations
            .iter()
            .map(|authz| name_evidence(a, &ev, authz))
            .collect(),
    };
    Reply::json(StatusCode::OK, &view)
}

/// `GET /admin/organizations/{id}/orders`: newest first; `before` (an
/// order id) pages back, `limit` bounds the page.
pub async fn organization_orders(a: &Admin, c: Call) -> Result<Reply> {
    let org = c.org_id()?;
    let limit = match c.query("limit") {
        None => ORDERS_DEFAULT_LIMIT,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=ORDERS_MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Error::malformed(format!(
                    "limit {s:?} must be a number from 1 to {ORDERS_MAX_LIMIT}"
                ))
            })?,
    };
    let before = c
        .query("before")
        .map(|s| {
            s.parse::<OrderId>()
                .map_err(|_| Error::malformed(format!("before {s:?} is not an order id")))
        })
        .transpose()?;
    a.vetting.get(org).await?;
    let orders = a
        .vetting
        .store()
        .read(move |conn| sa::evidence::organization_orders(conn, org, before, limit))
        .await?;
    let now = a.vetting.clock().now();
    let list: Vec<OrderListItem> = orders.iter().map(|s| order_list_item(a, s, now)).collect();
    Reply::json(StatusCode::OK, &list)
}

#[derive(Serialize)]
struct OrderView<'a> {
    id: OrderId,
    url: String,
    /// As the ACME client sees it now (RFC 8555 §7.1.6).
    status: OrderStatus,
    names: &'a [String],
    profile: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    not_before: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    not_after: Option<OffsetDateTime>,
    replaces: Option<&'a str>,
    /// The problem document that made the order invalid.
    error: Option<&'a serde_json::Value>,
    gate_refusal: Option<GateRefusal>,
    /// The external pre-issuance linter's report (pkilint) at the latest
    /// finalize it answered, as stored: its findings and whether it refused.
    pre_issuance_lint: Option<&'a serde_json::Value>,
    account: AccountView,
    organization: Option<OrgRef>,
    certificate: Option<CertView>,
    authorizations: Vec<AuthzView<'a>>,
    /// Per name, as stored at the issuing (or latest) finalize.
    caa_evidence: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct GateRefusal {
    condition: String,
    detail: String,
    refused_at: Option<String>,
}

#[derive(Serialize)]
struct AccountView {
    id: AccountId,
    url: String,
    status: AccountStatus,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

#[derive(Serialize)]
struct OrgRef {
    id: OrganizationId,
    name: String,
    level: Level,
    /// Now, not at issuance; the audit log has the history.
    status: VettingStatus,
}

#[derive(Serialize)]
struct CertView {
    id: CertificateId,
    url: String,
    serial: String,
    #[serde(with = "time::serde::rfc3339")]
    not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    not_after: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
    /// RFC 5280 §5.3.1 reason code.
    revocation_reason: Option<i32>,
}

#[derive(Serialize)]
struct AuthzView<'a> {
    id: AuthzId,
    url: String,
    identifier: &'a str,
    wildcard: bool,
    status: AuthorizationStatus,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    /// The order the authorization was created and validated for.
    validated_for_order: Option<OrderId>,
    /// Validated for an earlier order and reused by this one (BR 4.2.1).
    reused: bool,
    challenges: Vec<ChallengeView<'a>>,
}

#[derive(Serialize)]
struct ChallengeView<'a> {
    id: ChallengeId,
    url: String,
    #[serde(rename = "type")]
    kind: ChallengeType,
    status: ChallengeStatus,
    token: &'a str,
    /// When the (last) validation attempt started.
    #[serde(with = "time::serde::rfc3339::option")]
    attempted_at: Option<OffsetDateTime>,
    /// When it succeeded.
    #[serde(with = "time::serde::rfc3339::option")]
    validated_at: Option<OffsetDateTime>,
    /// Why it failed (problem document).
    error: Option<&'a serde_json::Value>,
    /// What the VA contacted, also when it failed.
    validation_records: Option<&'a serde_json::Value>,
    /// Each remote perspective's answer (BR 3.2.2.9); absent for a
    /// validation without perspectives.
    #[serde(skip_serializing_if = "Option::is_none")]
    perspectives: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct CertificateEvidenceView<'a> {
    certificate: CertView,
    order: OrderRef<'a>,
    account: AccountView,
    organization: Option<OrgRef>,
    names: Vec<NameEvidence<'a>>,
}

#[derive(Serialize)]
struct OrderRef<'a> {
    id: OrderId,
    url: String,
    profile: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

#[derive(Serialize)]
struct NameEvidence<'a> {
    /// As in the certificate (`*.` kept for a wildcard).
    name: String,
    /// `None` only if the stored data is inconsistent: an issued order's
    /// authorizations each have a valid challenge.
    domain_validation: Option<DomainValidation<'a>>,
    caa: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct DomainValidation<'a> {
    authorization: AuthzId,
    authorization_url: String,
    validated_for_order: Option<OrderId>,
    reused: bool,
    method: ChallengeType,
    challenge: ChallengeView<'a>,
}

#[derive(Serialize)]
struct OrderListItem<'a> {
    id: OrderId,
    url: String,
    status: OrderStatus,
    names: &'a [String],
    profile: &'a str,
    account: AccountId,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    certificate: Option<CertRef<'a>>,
}

#[derive(Serialize)]
struct CertRef<'a> {
    id: CertificateId,
    url: String,
    serial: &'a str,
}

fn order_view<'a>(a: &Admin, ev: &'a OrderEvidence, now: OffsetDateTime) -> OrderView<'a> {
    let o = &ev.order;
    OrderView {
        id: o.id,
        url: a.urls.order(o.id),
        status: o.status(now),
        names: &o.names,
        profile: o.profile.name(),
        created_at: o.created_at,
        expires_at: o.expires_at,
        not_before: o.not_before,
        not_after: o.not_after,
        replaces: o.replaces.as_deref(),
        error: o.error.as_ref(),
        gate_refusal: ev.gate_refusal.as_deref().map(|r| {
            let (condition, detail, refused_at) = refusal_fields(r);
            GateRefusal {
                condition,
                detail,
                refused_at,
            }
        }),
        pre_issuance_lint: ev.lint.as_ref(),
        account: account_view(a, &ev.account),
        organization: org_view(a, ev),
        certificate: ev.certificate.as_ref().map(|c| cert_view(a, c)),
        authorizations: o
            .authorizations
            .iter()
            .map(|authz| {
                let validated_for = ev.validated_for.get(&authz.id).copied();
                AuthzView {
                    id: authz.id,
                    url: a.urls.authz(authz.id),
                    identifier: &authz.identifier,
                    wildcard: authz.wildcard,
                    status: authz.status(now),
                    expires_at: authz.expires_at,
                    validated_for_order: validated_for,
                    reused: validated_for.is_some_and(|first| first != o.id),
                    challenges: authz
                        .challenges
                        .iter()
                        .map(|ch| challenge_view(a, ch))
                        .collect(),
                }
            })
            .collect(),
        caa_evidence: ev.caa.as_ref(),
    }
}

fn name_evidence<'a>(
    a: &Admin,
    ev: &'a OrderEvidence,
    authz: &'a Authorization,
) -> NameEvidence<'a> {
    let name = authz.order_name();
    let validated_for = ev.validated_for.get(&authz.id).copied();
    let domain_validation = authz
        .challenges
        .iter()
        .find(|ch| ch.status == ChallengeStatus::Valid)
        .map(|ch| DomainValidation {
            authorization: authz.id,
            authorization_url: a.urls.authz(authz.id),
            validated_for_order: validated_for,
            reused: validated_for.is_some_and(|first| first != ev.order.id),
            method: ch.kind,
            challenge: challenge_view(a, ch),
        });
    let caa = ev
        .caa
        .as_ref()
        .and_then(serde_json::Value::as_array)
        .and_then(|names| names.iter().find(|e| e["name"] == name.as_str()));
    NameEvidence {
        name,
        domain_validation,
        caa,
    }
}

fn challenge_view<'a>(a: &Admin, ch: &'a Challenge) -> ChallengeView<'a> {
    let (records, perspectives) = split_validation_evidence(ch.validation_records.as_ref());
    ChallengeView {
        id: ch.id,
        url: a.urls.challenge(ch.id),
        kind: ch.kind,
        status: ch.status,
        token: &ch.token,
        attempted_at: ch.started_at,
        validated_at: ch.validated_at,
        error: ch.error.as_ref(),
        validation_records: records,
        perspectives,
    }
}

fn account_view(a: &Admin, acct: &Account) -> AccountView {
    AccountView {
        id: acct.id,
        url: a.urls.account(acct.id),
        status: acct.status,
        created_at: acct.created_at,
    }
}

fn org_view(a: &Admin, ev: &OrderEvidence) -> Option<OrgRef> {
    ev.organization.as_ref().map(|org| OrgRef {
        id: org.id,
        name: org.data.certificate_name().to_owned(),
        level: org.data.level,
        status: org.effective_status(a.vetting.clock().now(), a.vetting.max_age()),
    })
}

fn cert_view(a: &Admin, c: &IssuedCertificate) -> CertView {
    let cert = &c.certificate;
    CertView {
        id: cert.id,
        url: a.urls.certificate(cert.id),
        serial: cert.serial.clone(),
        not_before: cert.not_before,
        not_after: cert.not_after,
        issued_at: c.issued_at,
        revoked_at: cert.revoked_at,
        revocation_reason: cert.revocation_reason,
    }
}

fn order_list_item<'a>(a: &Admin, s: &'a OrderSummary, now: OffsetDateTime) -> OrderListItem<'a> {
    let o = &s.order;
    OrderListItem {
        id: o.id,
        url: a.urls.order(o.id),
        status: o.status(now),
        names: &o.names,
        profile: o.profile.name(),
        account: o.account_id,
        created_at: o.created_at,
        expires_at: o.expires_at,
        certificate: o
            .certificate
            .zip(s.serial.as_deref())
            .map(|(id, serial)| CertRef {
                id,
                url: a.urls.certificate(id),
                serial,
            }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::split_validation_evidence;

    #[test]
    fn stored_validation_evidence_of_either_shape_splits() {
        let old = json!([{"hostname": "a.example.jp"}]);
        assert_eq!(split_validation_evidence(Some(&old)), (Some(&old), None));
        let new = json!({
            "records": [{"hostname": "a.example.jp"}],
            "perspectives": [{"perspective": "ripe-1"}],
        });
        let (records, perspectives) = split_validation_evidence(Some(&new));
        assert_eq!(records, Some(&new["records"]));
        assert_eq!(perspectives, Some(&new["perspectives"]));
        let odd = json!({"something": 1});
        assert_eq!(split_validation_evidence(Some(&odd)), (Some(&odd), None));
        assert_eq!(split_validation_evidence(None), (None, None));
    }
}
