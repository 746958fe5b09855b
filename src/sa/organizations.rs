//! Organizations, their vetting checks, and the lookups the gate and staff
//! need.

use diesel::prelude::*;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::native::{native, update};
use super::schema::{
    accounts, certificates, eab_credentials, orders, organizations, vetting_checks,
};
use super::{corrupt, from_db, to_db, DbConn};
use crate::core::organization::{Organization, OrganizationData};
use crate::core::vetting::{Check, CheckRecord, VettingStatus};
use crate::core::{AccountId, OrderId, OrganizationId};
use crate::error::{Error, Result};

#[derive(Queryable, Selectable)]
#[diesel(table_name = organizations)]
struct OrgRow {
    id: i64,
    #[allow(dead_code)]
    legal_name: String,
    #[allow(dead_code)]
    level: String,
    status: String,
    data: String,
    data_changed_at: PrimitiveDateTime,
    status_reason: Option<String>,
    approved_by: Option<String>,
    approved_at: Option<PrimitiveDateTime>,
    vetted_at: Option<PrimitiveDateTime>,
    created_by: String,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

impl OrgRow {
    fn into_core(self) -> Result<Organization> {
        Ok(Organization {
            id: OrganizationId(self.id),
            data: serde_json::from_str(&self.data)
                .map_err(|_| corrupt("organization data", &self.data))?,
            status: VettingStatus::parse(&self.status)
                .ok_or_else(|| corrupt("vetting status", &self.status))?,
            data_changed_at: from_db(self.data_changed_at),
            status_reason: self.status_reason,
            approved_by: self.approved_by,
            approved_at: self.approved_at.map(from_db),
            vetted_at: self.vetted_at.map(from_db),
            created_by: self.created_by,
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
        })
    }
}

fn encode(data: &OrganizationData) -> Result<String> {
    serde_json::to_string(data).map_err(|e| Error::internal(format!("encoding organization: {e}")))
}

pub fn create(
    conn: &mut DbConn,
    data: &OrganizationData,
    actor: &str,
    now: OffsetDateTime,
) -> Result<Organization> {
    let row: OrgRow = diesel::insert_into(organizations::table)
        .values((
            organizations::legal_name.eq(&data.legal_name),
            organizations::level.eq(data.level.as_str()),
            organizations::status.eq(VettingStatus::Pending.as_str()),
            organizations::data.eq(encode(data)?),
            organizations::data_changed_at.eq(to_db(now)),
            organizations::created_by.eq(actor),
            organizations::created_at.eq(to_db(now)),
            organizations::updated_at.eq(to_db(now)),
        ))
        .returning(organizations::all_columns)
        .get_result(conn)?;
    row.into_core()
}

pub fn by_id(conn: &mut DbConn, id: OrganizationId) -> Result<Option<Organization>> {
    organizations::table
        .find(id.0)
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?
        .map(OrgRow::into_core)
        .transpose()
}

pub fn list(conn: &mut DbConn, status: Option<VettingStatus>) -> Result<Vec<Organization>> {
    let mut q = organizations::table
        .select(OrgRow::as_select())
        .order(organizations::id.asc())
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(organizations::status.eq(s.as_str()));
    }
    q.load(conn)?.into_iter().map(OrgRow::into_core).collect()
}

/// Replaces the data; the organization returns to `pending` and earlier
/// checks stop counting.
pub fn replace_data(
    conn: &mut DbConn,
    id: OrganizationId,
    data: &OrganizationData,
    now: OffsetDateTime,
) -> Result<()> {
    diesel::update(organizations::table.find(id.0))
        .set((
            organizations::legal_name.eq(&data.legal_name),
            organizations::level.eq(data.level.as_str()),
            organizations::status.eq(VettingStatus::Pending.as_str()),
            organizations::data.eq(encode(data)?),
            organizations::data_changed_at.eq(to_db(now)),
            organizations::status_reason.eq(None::<String>),
            organizations::updated_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

pub struct StatusChange<'a> {
    pub from: VettingStatus,
    pub to: VettingStatus,
    pub reason: Option<&'a str>,
    /// Set on approval: who approved and how old the data is.
    pub approval: Option<(&'a str, OffsetDateTime)>,
    /// Reopening makes earlier checks stop counting.
    pub reset_checks: bool,
}

/// Changes the status only if it is still `from`: concurrent staff
/// actions cannot both succeed. Returns whether it changed.
pub fn change_status(
    conn: &mut DbConn,
    id: OrganizationId,
    ch: StatusChange<'_>,
    now: OffsetDateTime,
) -> Result<bool> {
    let target = organizations::table
        .find(id.0)
        .filter(organizations::status.eq(ch.from.as_str()));
    let n = match ch.approval {
        Some((by, vetted_at)) => diesel::update(target)
            .set((
                organizations::status.eq(ch.to.as_str()),
                organizations::status_reason.eq(ch.reason),
                organizations::approved_by.eq(Some(by)),
                organizations::approved_at.eq(Some(to_db(now))),
                organizations::vetted_at.eq(Some(to_db(vetted_at))),
                organizations::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?,
        None if ch.reset_checks => diesel::update(target)
            .set((
                organizations::status.eq(ch.to.as_str()),
                organizations::status_reason.eq(ch.reason),
                organizations::data_changed_at.eq(to_db(now)),
                organizations::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                organizations::status.eq(ch.to.as_str()),
                organizations::status_reason.eq(ch.reason),
                organizations::updated_at.eq(to_db(now)),
            ))
            .execute(conn)?,
    };
    Ok(n == 1)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = vetting_checks)]
struct CheckRow {
    id: i64,
    organization_id: i64,
    #[allow(dead_code)]
    kind: String,
    #[allow(dead_code)]
    passed: bool,
    details: String,
    performed_by: String,
    performed_at: PrimitiveDateTime,
    recorded_at: PrimitiveDateTime,
}

impl CheckRow {
    fn into_core(self) -> Result<Check> {
        Ok(Check {
            id: self.id,
            organization: self.organization_id,
            record: serde_json::from_str::<CheckRecord>(&self.details)
                .map_err(|_| corrupt("vetting check", &self.details))?,
            performed_by: self.performed_by,
            performed_at: from_db(self.performed_at),
            recorded_at: from_db(self.recorded_at),
        })
    }
}

pub fn add_check(
    conn: &mut DbConn,
    org: OrganizationId,
    record: &CheckRecord,
    performed_by: &str,
    performed_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Check> {
    let details = serde_json::to_string(record)
        .map_err(|e| Error::internal(format!("encoding check: {e}")))?;
    let row: CheckRow = diesel::insert_into(vetting_checks::table)
        .values((
            vetting_checks::organization_id.eq(org.0),
            vetting_checks::kind.eq(record.kind().as_str()),
            vetting_checks::passed.eq(record.passed()),
            vetting_checks::details.eq(details),
            vetting_checks::performed_by.eq(performed_by),
            vetting_checks::performed_at.eq(to_db(performed_at)),
            vetting_checks::recorded_at.eq(to_db(now)),
        ))
        .returning(vetting_checks::all_columns)
        .get_result(conn)?;
    row.into_core()
}

pub fn checks(conn: &mut DbConn, org: OrganizationId) -> Result<Vec<Check>> {
    native!(conn, |c| vetting_checks::table
        .filter(vetting_checks::organization_id.eq(org.0))
        .order(vetting_checks::id.asc())
        .select(CheckRow::as_select())
        .load(c))?
    .into_iter()
    .map(CheckRow::into_core)
    .collect()
}

/// The organization an account acts for (through its EAB credential).
pub fn for_account(conn: &mut DbConn, account: AccountId) -> Result<Option<Organization>> {
    native!(conn, |c| accounts::table
        .inner_join(eab_credentials::table.inner_join(organizations::table))
        .filter(accounts::id.eq(account.0))
        .select(OrgRow::as_select())
        .first(c)
        .optional())?
    .map(OrgRow::into_core)
    .transpose()
}

/// Account ids bound to the organization.
pub fn account_ids(conn: &mut DbConn, org: OrganizationId) -> Result<Vec<AccountId>> {
    Ok(accounts::table
        .inner_join(eab_credentials::table)
        .filter(eab_credentials::organization_id.eq(org.0))
        .select(accounts::id)
        .order(accounts::id.asc())
        .load::<i64>(conn)?
        .into_iter()
        .map(AccountId)
        .collect())
}

/// (certificate id, serial, not_after, revoked) of the organization's
/// certificates.
pub fn certificate_summaries(
    conn: &mut DbConn,
    org: OrganizationId,
) -> Result<Vec<(i64, String, OffsetDateTime, bool)>> {
    Ok(certificates::table
        .inner_join(accounts::table.inner_join(eab_credentials::table))
        .filter(eab_credentials::organization_id.eq(org.0))
        .select((
            certificates::id,
            certificates::serial,
            certificates::not_after,
            certificates::revoked_at.is_not_null(),
        ))
        .order(certificates::id.asc())
        .load::<(i64, String, PrimitiveDateTime, bool)>(conn)?
        .into_iter()
        .map(|(id, s, na, r)| (id, s, from_db(na), r))
        .collect())
}

/// Orders the gate refused and that are still waiting (unexpired, and no
/// approval since, which clears refusals): (order, account, organization,
/// refusal JSON).
pub fn blocked_orders(
    conn: &mut DbConn,
    now: OffsetDateTime,
) -> Result<Vec<(OrderId, AccountId, OrganizationId, String)>> {
    Ok(orders::table
        .inner_join(accounts::table.inner_join(eab_credentials::table))
        .filter(orders::status.eq(crate::core::StoredOrderStatus::Pending.as_str()))
        .filter(orders::expires_at.gt(to_db(now)))
        .filter(orders::gate_refusal.is_not_null())
        .select((
            orders::id,
            orders::account_id,
            eab_credentials::organization_id,
            orders::gate_refusal.assume_not_null(),
        ))
        .order(orders::id.asc())
        .load::<(i64, i64, i64, String)>(conn)?
        .into_iter()
        .map(|(o, a, g, r)| (OrderId(o), AccountId(a), OrganizationId(g), r))
        .collect())
}

/// Forgets the gate refusals of an organization's orders: once staff
/// approve (or reinstate) it, those orders are no longer waiting on them.
pub fn clear_gate_refusals(conn: &mut DbConn, org: OrganizationId) -> Result<usize> {
    let org_accounts = accounts::table
        .inner_join(eab_credentials::table)
        .filter(eab_credentials::organization_id.eq(org.0))
        .select(accounts::id);
    Ok(diesel::update(
        orders::table
            .filter(orders::gate_refusal.is_not_null())
            .filter(orders::account_id.eq_any(org_accounts)),
    )
    .set(orders::gate_refusal.eq(None::<String>))
    .execute(conn)?)
}

/// Remembers (or clears) why the gate refused an order.
pub fn set_gate_refusal(conn: &mut DbConn, order: OrderId, refusal: Option<&str>) -> Result<()> {
    native!(conn, |c| update(
        orders::table,
        orders::gate_refusal.eq(refusal),
        orders::id.eq(order.0)
    )
    .execute(c))?;
    Ok(())
}
