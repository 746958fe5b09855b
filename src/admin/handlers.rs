//! Admin endpoints: each parses its `Call`, asks `Vetting` (or, for the
//! read-only listings vetting has no method for, the store), and renders
//! JSON. Authentication, roles, limits and errors are the wrapper's.

use bytes::Bytes;
use hyper::StatusCode;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::{Admin, Call, Reply};
use crate::core::{AccountId, EabCredential, OrderId, OrganizationId};
use crate::error::{Error, Result};
use crate::vetting::checks::{approval_blockers, AgeRule, CheckRecord, Transition, VettingStatus};
use crate::vetting::eab::CreateOptions;
use crate::vetting::organization::OrganizationData;
use crate::vetting::Organization;
use crate::{ra, sa};

pub async fn healthz(_: &Admin, _: Call) -> Result<Reply> {
    Ok(Reply::raw(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        Bytes::from_static(b"ok\n"),
    ))
}

/// Ready to serve ACME (`Vetting::readiness`: the database and the CA
/// key). 503 names what failed.
pub async fn readyz(a: &Admin, _: Call) -> Result<Reply> {
    let r = a.vetting.readiness(a.ca_not_after).await;
    let status = if r.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Reply::json(
        status,
        &serde_json::json!({"ready": r.ready(), "checks": {"database": r.database, "ca": r.ca}}),
    )
}

/// Prometheus text exposition format 0.0.4 (see `crate::metrics`).
pub async fn metrics(a: &Admin, _: Call) -> Result<Reply> {
    let store = a.vetting.store();
    let text = store.metrics().render(Some(store.pool_state()));
    Ok(Reply::raw(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        Bytes::from(text),
    ))
}

pub async fn openapi(_: &Admin, _: Call) -> Result<Reply> {
    Ok(Reply::raw(
        StatusCode::OK,
        "application/json",
        Bytes::from_static(super::OPENAPI.as_bytes()),
    ))
}

/// An organization with what staff need at a glance: the status in force
/// now (an approval past its age reads `expired` before any sweep) and
/// when the vetting stops being usable.
#[derive(Serialize)]
struct OrgView<'a> {
    #[serde(flatten)]
    org: &'a Organization,
    effective_status: VettingStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    vetting_expires_at: Option<OffsetDateTime>,
}

fn org_reply(a: &Admin, status: StatusCode, org: &Organization) -> Result<Reply> {
    Reply::json(status, &org_view(a, org))
}

fn org_view<'a>(a: &Admin, org: &'a Organization) -> OrgView<'a> {
    let max_age = a.vetting.max_age();
    OrgView {
        org,
        effective_status: org.effective_status(a.vetting.clock().now(), max_age),
        vetting_expires_at: org.vetting_expires(max_age),
    }
}

fn org_path(id: OrganizationId) -> String {
    format!("/admin/organizations/{id}")
}

pub async fn org_list(a: &Admin, c: Call) -> Result<Reply> {
    let status = c
        .query("status")
        .map(|s| {
            VettingStatus::parse(s).ok_or_else(|| {
                Error::malformed(format!(
                    "status {s:?} is not one of pending, approved, rejected, suspended, expired"
                ))
            })
        })
        .transpose()?;
    let orgs = a.vetting.list(status).await?;
    let views: Vec<OrgView> = orgs.iter().map(|o| org_view(a, o)).collect();
    Reply::json(StatusCode::OK, &views)
}

pub async fn org_create(a: &Admin, c: Call) -> Result<Reply> {
    let data: OrganizationData = c.json()?;
    let org = a.vetting.create(&c.actor, data).await?;
    Ok(org_reply(a, StatusCode::CREATED, &org)?.location(org_path(org.id)))
}

pub async fn org_show(a: &Admin, c: Call) -> Result<Reply> {
    let org = a.vetting.get(c.org_id()?).await?;
    org_reply(a, StatusCode::OK, &org)
}

pub async fn org_edit(a: &Admin, c: Call) -> Result<Reply> {
    let data: OrganizationData = c.json()?;
    let org = a.vetting.edit(&c.actor, c.org_id()?, data).await?;
    org_reply(a, StatusCode::OK, &org)
}

pub async fn check_list(a: &Admin, c: Call) -> Result<Reply> {
    let id = c.org_id()?;
    let org = a.vetting.get(id).await?;
    let checks = a.vetting.checks(id).await?;
    // Without an approver: who may approve is not known yet, and the
    // four-eyes rule is reported when someone tries.
    let age = AgeRule {
        now: a.vetting.clock().now(),
        cap: a.vetting.max_age(),
    };
    let blockers = approval_blockers(org.data.level, &checks, org.data_changed_at, None, age);
    Reply::json(
        StatusCode::OK,
        &serde_json::json!({
            "organization": id,
            "data_changed_at": rfc3339(org.data_changed_at),
            "checks": checks,
            "blockers": blockers,
        }),
    )
}

/// A check as the API and `trustgate org check` take it: the check
/// record (tagged by `kind`) plus an optional `performed_at` (RFC 3339),
/// for a check done before it was entered.
pub fn parse_check_submission(
    mut value: serde_json::Value,
) -> Result<(CheckRecord, Option<OffsetDateTime>)> {
    let performed_at = match value.as_object_mut() {
        Some(obj) => obj.remove("performed_at"),
        None => return Err(Error::malformed("a check must be a JSON object")),
    };
    let performed_at = match performed_at {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(parse_rfc3339("performed_at", &s)?),
        Some(_) => return Err(Error::malformed("performed_at must be an RFC 3339 string")),
    };
    let record = serde_json::from_value(value)
        .map_err(|e| Error::malformed(format!("invalid check: {e}")))?;
    Ok((record, performed_at))
}

pub fn parse_rfc3339(field: &str, s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::malformed(format!("{field} {s:?} is not an RFC 3339 time: {e}")))
}

pub async fn check_record(a: &Admin, c: Call) -> Result<Reply> {
    let (record, performed_at) = parse_check_submission(c.json()?)?;
    let check = a
        .vetting
        .record_check(&c.actor, c.org_id()?, record, performed_at)
        .await?;
    Reply::json(StatusCode::CREATED, &check)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransitionBody {
    #[serde(default)]
    reason: Option<String>,
}

/// approve, reject, suspend, reinstate and reopen: the last path segment
/// names the transition.
pub async fn transition(a: &Admin, c: Call) -> Result<Reply> {
    let name = c.path.rsplit('/').next().unwrap_or_default();
    let t: Transition = serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| Error::not_found(format!("no transition {name:?}")))?;
    let body: TransitionBody = c.json()?;
    let org = a
        .vetting
        .transition(&c.actor, c.org_id()?, t, body.reason)
        .await?;
    org_reply(a, StatusCode::OK, &org)
}

/// A credential as listed: never its key.
#[derive(Serialize)]
struct EabView<'a> {
    key_id: &'a str,
    organization: OrganizationId,
    note: &'a str,
    single_use: bool,
    state: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    used_at: Option<OffsetDateTime>,
}

fn eab_view(c: &EabCredential, now: OffsetDateTime) -> EabView<'_> {
    let state = if c.revoked_at.is_some() {
        "revoked"
    } else if c.single_use && c.used_at.is_some() {
        "used"
    } else if c.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    };
    EabView {
        key_id: &c.key_id,
        organization: c.organization,
        note: &c.note,
        single_use: c.single_use,
        state,
        created_at: c.created_at,
        expires_at: c.expires_at,
        revoked_at: c.revoked_at,
        used_at: c.used_at,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EabCreateBody {
    note: String,
    #[serde(default = "yes")]
    single_use: bool,
    #[serde(default)]
    expires_days: Option<u32>,
}

fn yes() -> bool {
    true
}

pub async fn eab_create(a: &Admin, c: Call) -> Result<Reply> {
    let body: EabCreateBody = c.json()?;
    if body.expires_days == Some(0) {
        return Err(Error::malformed("expires_days must be at least 1"));
    }
    let issued = a
        .vetting
        .create_eab(
            &c.actor,
            c.org_id()?,
            CreateOptions {
                note: body.note,
                single_use: body.single_use,
                expires_in: body.expires_days.map(|d| Duration::days(d.into())),
            },
        )
        .await?;
    #[derive(Serialize)]
    struct Created<'a> {
        #[serde(flatten)]
        view: EabView<'a>,
        /// The only time the key is shown.
        hmac_key: &'a str,
    }
    Reply::json(
        StatusCode::CREATED,
        &Created {
            view: eab_view(&issued.credential, a.vetting.clock().now()),
            hmac_key: &issued.hmac_key,
        },
    )
}

pub async fn eab_list(a: &Admin, c: Call) -> Result<Reply> {
    let id = c.org_id()?;
    a.vetting.get(id).await?;
    let creds = a.vetting.list_eab(Some(id)).await?;
    let now = a.vetting.clock().now();
    let views: Vec<EabView> = creds.iter().map(|c| eab_view(c, now)).collect();
    Reply::json(StatusCode::OK, &views)
}

/// The organization's rate-limit overrides and the limits in force.
pub async fn limits_show(a: &Admin, c: Call) -> Result<Reply> {
    let org = a.vetting.get(c.org_id()?).await?;
    let view = ra::limits::organization_limits(a.vetting.store(), &a.rate_limits, org.id).await?;
    Reply::json(StatusCode::OK, &view)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsBody {
    limits: ra::limits::LimitSet,
    reason: String,
}

/// Replaces the organization's overrides (audited with the reason).
pub async fn limits_set(a: &Admin, c: Call) -> Result<Reply> {
    let body: LimitsBody = c.json()?;
    if body.reason.trim().is_empty() {
        return Err(Error::malformed(
            "changing an organization's limits needs a reason",
        ));
    }
    let org = a.vetting.get(c.org_id()?).await?;
    let view = ra::limits::set_organization_limits(
        a.vetting.store(),
        &a.rate_limits,
        &c.actor,
        org.id,
        body.limits,
        &body.reason,
    )
    .await?;
    Reply::json(StatusCode::OK, &view)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonBody {
    reason: String,
}

pub async fn eab_revoke(a: &Admin, c: Call) -> Result<Reply> {
    let body: ReasonBody = c.json()?;
    if body.reason.trim().is_empty() {
        return Err(Error::malformed("revoking a credential needs a reason"));
    }
    let key_id = c.param(0).to_owned();
    a.vetting
        .revoke_eab(&c.actor, &key_id, &body.reason)
        .await?;
    let cred = a
        .vetting
        .store()
        .read(move |conn| sa::eab::by_key_id(conn, &key_id))
        .await?
        .ok_or_else(|| Error::internal("a revoked credential vanished"))?;
    Reply::json(StatusCode::OK, &eab_view(&cred, a.vetting.clock().now()))
}

/// Staff deactivation of one account (RFC 8555 §7.3.6 on its behalf).
pub async fn account_deactivate(a: &Admin, c: Call) -> Result<Reply> {
    let body: ReasonBody = c.json()?;
    let id: crate::core::AccountId = c
        .param(0)
        .parse()
        .map_err(|_| Error::not_found(format!("no account {:?}", c.param(0))))?;
    a.vetting
        .deactivate_account(&c.actor, id, &body.reason)
        .await?;
    let view = serde_json::json!({"id": id, "url": a.urls.account(id), "status": "deactivated"});
    Reply::json(StatusCode::OK, &view)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertRevokeBody {
    /// RFC 5280 §5.3.1 name, e.g. "privilegeWithdrawn".
    code: String,
    /// Why, for the audit log.
    reason: String,
}

/// Staff revocation: any reason code, privilegeWithdrawn included.
pub async fn cert_revoke(a: &Admin, c: Call) -> Result<Reply> {
    let body: CertRevokeBody = c.json()?;
    let code = crate::core::RevocationReason::from_name(&body.code).ok_or_else(|| {
        Error::new(
            crate::error::ErrorKind::BadRevocationReason,
            format!(
                "unknown reason code {:?}; use unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation or privilegeWithdrawn",
                body.code
            ),
        )
    })?;
    let serial = c.param(0).to_owned();
    crate::ra::revocation::revoke_by_staff(
        a.vetting.store(),
        &c.actor,
        &serial,
        code,
        &body.reason,
    )
    .await?;
    Reply::json(
        StatusCode::OK,
        &serde_json::json!({"serial": serial, "revoked": true, "code": body.code}),
    )
}

pub async fn accounts(a: &Admin, c: Call) -> Result<Reply> {
    let id = c.org_id()?;
    a.vetting.get(id).await?;
    let ids = a
        .vetting
        .store()
        .read(move |conn| sa::organizations::account_ids(conn, id))
        .await?;
    let list: Vec<_> = ids
        .into_iter()
        .map(|acct| serde_json::json!({"id": acct, "url": a.urls.account(acct)}))
        .collect();
    Reply::json(StatusCode::OK, &list)
}

pub async fn certificates(a: &Admin, c: Call) -> Result<Reply> {
    let id = c.org_id()?;
    a.vetting.get(id).await?;
    let certs = a
        .vetting
        .store()
        .read(move |conn| sa::organizations::certificate_summaries(conn, id))
        .await?;
    let list: Vec<_> = certs
        .into_iter()
        .map(|(cert, serial, not_after, revoked)| {
            serde_json::json!({
                "id": cert,
                "url": a.urls.certificate(crate::core::CertificateId(cert)),
                "serial": serial,
                "not_after": rfc3339(not_after),
                "revoked": revoked,
            })
        })
        .collect();
    Reply::json(StatusCode::OK, &list)
}

/// What `ra` stores when the gate refuses a finalize.
#[derive(Deserialize)]
struct StoredRefusal {
    condition: String,
    detail: String,
    /// Unix seconds.
    at: Option<i64>,
}

pub async fn blocked_orders(a: &Admin, _: Call) -> Result<Reply> {
    let now = a.vetting.clock().now();
    let blocked = a
        .vetting
        .store()
        .read(move |c| sa::organizations::blocked_orders(c, now))
        .await?;
    let orgs = a.vetting.list(None).await?;
    let list: Vec<_> = blocked
        .into_iter()
        .map(|(order, account, org, refusal)| blocked_view(a, &orgs, order, account, org, &refusal))
        .collect();
    Reply::json(StatusCode::OK, &list)
}

fn blocked_view(
    a: &Admin,
    orgs: &[Organization],
    order: OrderId,
    account: AccountId,
    org: OrganizationId,
    refusal: &str,
) -> serde_json::Value {
    let (condition, detail, at) = refusal_fields(refusal);
    let name = orgs
        .iter()
        .find(|o| o.id == org)
        .map(|o| o.data.certificate_name());
    serde_json::json!({
        "order": order,
        "order_url": a.urls.order(order),
        "account": account,
        "account_url": a.urls.account(account),
        "organization": org,
        "organization_name": name,
        "condition": condition,
        "detail": detail,
        "refused_at": at,
    })
}

/// (condition, detail, refused_at) of a refusal as `ra` stores it. A
/// record this code cannot read is shown as stored rather than hiding the
/// order from staff.
pub(crate) fn refusal_fields(refusal: &str) -> (String, String, Option<String>) {
    match serde_json::from_str::<StoredRefusal>(refusal) {
        Ok(r) => (
            r.condition,
            r.detail,
            r.at.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                .map(rfc3339),
        ),
        Err(_) => ("unknown".to_owned(), refusal.to_owned(), None),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    // Formatting a UTC time as RFC 3339 fails only for years beyond 9999.
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
