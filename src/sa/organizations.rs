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

/// `OrgRow`'s columns in its order (`search_text` is only searched).
type OrgColumns = (
    organizations::id,
    organizations::legal_name,
    organizations::level,
    organizations::status,
    organizations::data,
    organizations::data_changed_at,
    organizations::status_reason,
    organizations::approved_by,
    organizations::approved_at,
    organizations::vetted_at,
    organizations::created_by,
    organizations::created_at,
    organizations::updated_at,
);
const ORG_COLUMNS: OrgColumns = (
    organizations::id,
    organizations::legal_name,
    organizations::level,
    organizations::status,
    organizations::data,
    organizations::data_changed_at,
    organizations::status_reason,
    organizations::approved_by,
    organizations::approved_at,
    organizations::vetted_at,
    organizations::created_by,
    organizations::created_at,
    organizations::updated_at,
);

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

/// What the queue's search reads (`search_text`): the fields staff search
/// by, one a line, ASCII-lowercased (the migration's backfill builds the
/// same text in SQL; Japanese has no case to fold).
pub fn search_text(data: &OrganizationData) -> String {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let mut lines = vec![
        data.legal_name.clone(),
        opt(&data.english_name),
        opt(&data.tdb_code),
        data.registration_number.clone(),
        opt(&data.corporate_number),
    ];
    lines.push(
        data.domains
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    lines.join("\n").to_ascii_lowercase()
}

/// Which organizations a queue page lists.
pub struct QueueFilter<'a> {
    /// The effective status: an approval vetted at or before `expired_before`
    /// counts as expired, whatever is stored.
    pub status: VettingStatus,
    pub expired_before: OffsetDateTime,
    /// Text the search text must contain (already normalized by the caller).
    pub text: Option<&'a str>,
}

/// Up to `limit` organizations of the filter, oldest first, after `after`
/// (keyset: the last id of the previous page). One status at a time walks
/// `organizations_status_id`; the text is matched on the rows it reaches.
pub fn queue(
    conn: &mut DbConn,
    f: &QueueFilter<'_>,
    after: Option<OrganizationId>,
    limit: i64,
) -> Result<Vec<Organization>> {
    let cutoff = to_db(f.expired_before);
    let mut q = organizations::table
        .select(OrgRow::as_select())
        .order(organizations::id.asc())
        .limit(limit)
        .into_boxed();
    q = match f.status {
        VettingStatus::Approved => q
            .filter(organizations::status.eq(VettingStatus::Approved.as_str()))
            .filter(organizations::vetted_at.gt(cutoff)),
        VettingStatus::Expired => q
            .filter(organizations::status.eq_any([
                VettingStatus::Approved.as_str(),
                VettingStatus::Expired.as_str(),
            ]))
            .filter(
                organizations::status
                    .eq(VettingStatus::Expired.as_str())
                    .nullable()
                    .or(organizations::vetted_at.is_null().nullable())
                    .or(organizations::vetted_at.le(cutoff)),
            ),
        s => q.filter(organizations::status.eq(s.as_str())),
    };
    if let Some(a) = after {
        q = q.filter(organizations::id.gt(a.0));
    }
    if let Some(t) = f.text.filter(|t| !t.is_empty()) {
        q = q.filter(
            organizations::search_text
                .like(like_pattern(t))
                .escape('\\'),
        );
    }
    q.load(conn)?.into_iter().map(OrgRow::into_core).collect()
}

/// `%text%`, with LIKE's wildcards in `text` taken literally.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
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
            organizations::search_text.eq(search_text(data)),
        ))
        .returning(ORG_COLUMNS)
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
            organizations::search_text.eq(search_text(data)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Makes earlier checks stop counting for the next approval without
/// touching the status: an unchanged renewal, whose approval in force
/// stands until it ends while staff check again.
pub fn restart_checks(conn: &mut DbConn, id: OrganizationId, now: OffsetDateTime) -> Result<()> {
    diesel::update(organizations::table.find(id.0))
        .set((
            organizations::data_changed_at.eq(to_db(now)),
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

/// The checks of several organizations in one statement (a queue page's),
/// in the order each was recorded.
pub fn checks_of(conn: &mut DbConn, orgs: &[OrganizationId]) -> Result<Vec<Check>> {
    let ids: Vec<i64> = orgs.iter().map(|o| o.0).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    vetting_checks::table
        .filter(vetting_checks::organization_id.eq_any(ids))
        .order(vetting_checks::id.asc())
        .select(CheckRow::as_select())
        .load(conn)?
        .into_iter()
        .map(CheckRow::into_core)
        .collect()
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

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;

    use super::*;
    use crate::core::organization::DomainScope;

    /// The migration's statements after its `-- backfill` line.
    fn backfill(conn: &DbConn) -> &'static str {
        let up = match conn {
            DbConn::Sqlite(_) => {
                include_str!("../../migrations/sqlite/2026-12-07-000300_org_search/up.sql")
            }
            DbConn::Pg(_) => {
                include_str!("../../migrations/postgres/2026-12-07-000300_org_search/up.sql")
            }
        };
        let (_, rest) = up.split_once("-- backfill").expect("a backfill part");
        rest.split_once('\n').expect("the backfill's statements").1
    }

    #[tokio::test]
    async fn the_backfill_writes_what_the_code_writes_and_the_queue_finds_it() {
        let (_db, store) = super::super::crls::testing::store();
        store
            .run(|c| {
                let mut data: OrganizationData =
                    serde_json::from_str(include_str!("../../conf/organization.example.json"))
                        .expect("example");
                data.english_name = Some("Example KK".into());
                data.domains.push(DomainScope {
                    name: "shop.example.com".into(),
                    exact: true,
                });
                let now = crate::core::Clock::system().now();
                let org = create(c, &data, "test", now)?;
                let other = create(
                    c,
                    &{
                        let mut d = data.clone();
                        d.legal_name = "別会社 100%".into();
                        d.english_name = None;
                        d.domains.truncate(1);
                        d.domains[0].name = "other.jp".into();
                        d
                    },
                    "test",
                    now,
                )?;
                diesel::update(organizations::table)
                    .set(organizations::search_text.eq(""))
                    .execute(c)?;
                c.batch_execute(backfill(c))
                    .map_err(|e| Error::internal(e.to_string()))?;
                let stored: String = organizations::table
                    .find(org.id.0)
                    .select(organizations::search_text)
                    .first(c)?;
                assert_eq!(stored, search_text(&data));
                assert!(stored.contains("example kk\n") && stored.ends_with("\nshop.example.com"));

                let find = |c: &mut DbConn, text: &str| -> Result<Vec<i64>> {
                    let f = QueueFilter {
                        status: VettingStatus::Pending,
                        expired_before: now,
                        text: Some(text),
                    };
                    Ok(queue(c, &f, None, 10)?.iter().map(|o| o.id.0).collect())
                };
                assert_eq!(find(c, "example kk")?, [org.id.0]);
                assert_eq!(find(c, "shop.example")?, [org.id.0]);
                assert_eq!(find(c, "other.jp")?, [other.id.0]);
                assert_eq!(find(c, "180301018771")?, [org.id.0, other.id.0]);
                // LIKE's wildcards are literal.
                assert_eq!(find(c, "100%")?, [other.id.0]);
                assert_eq!(find(c, "_")?, Vec::<i64>::new());
                assert_eq!(find(c, "%")?, [other.id.0]);
                Ok(())
            })
            .await
            .expect("ran");
    }

    /// The queue with 10,000 organizations: a first page, a page deep in
    /// the list, a search that matches few and one that matches none (the
    /// worst case: every row of the status is read). `cargo test --lib
    /// queue_at_ten_thousand -- --ignored --nocapture` prints the times.
    #[tokio::test]
    #[ignore = "a measurement; run by hand"]
    async fn queue_at_ten_thousand() {
        let (_db, store) = super::super::crls::testing::store();
        store
            .run(|c| {
                let base: OrganizationData =
                    serde_json::from_str(include_str!("../../conf/organization.example.json"))
                        .expect("example");
                let now = crate::core::Clock::system().now();
                let started = std::time::Instant::now();
                c.transaction(|c| {
                    for i in 0..10_000 {
                        let mut d = base.clone();
                        d.legal_name = format!("組織{i:05}株式会社");
                        d.english_name = Some(format!("Org {i:05} KK"));
                        d.domains[0].name = format!("org{i:05}.example.jp");
                        create(c, &d, "seed", now)?;
                    }
                    Ok::<_, Error>(())
                })?;
                eprintln!("10,000 organizations in {:?}", started.elapsed());
                // What the console did before: every organization of the
                // status loaded and parsed, then filtered in memory.
                let t = std::time::Instant::now();
                let all = list(c, Some(VettingStatus::Pending))?;
                eprintln!(
                    "loading all {} (the former way): {:?}",
                    all.len(),
                    t.elapsed()
                );
                let cases: [(&str, Option<&str>, Option<OrganizationId>); 4] = [
                    ("first page", None, None),
                    ("page after id 9000", None, Some(OrganizationId(9000))),
                    ("search org09999", Some("org09999"), None),
                    ("search with no match", Some("no-such-name"), None),
                ];
                for (what, text, after) in cases {
                    let f = QueueFilter {
                        status: VettingStatus::Pending,
                        expired_before: now,
                        text,
                    };
                    let mut times = Vec::new();
                    let mut n = 0;
                    for _ in 0..20 {
                        let t = std::time::Instant::now();
                        let page = queue(c, &f, after, 51)?;
                        let ids: Vec<OrganizationId> = page.iter().map(|o| o.id).collect();
                        checks_of(c, &ids)?;
                        times.push(t.elapsed());
                        n = page.len();
                    }
                    times.sort();
                    eprintln!(
                        "{what}: {n} rows, median {:?}, max {:?}",
                        times[10], times[19]
                    );
                    assert!(times[10] < std::time::Duration::from_millis(250), "{what}");
                }
                Ok(())
            })
            .await
            .expect("ran");
    }
}
