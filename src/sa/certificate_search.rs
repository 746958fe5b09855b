//! The staff console's certificate search: by serial, DNS name,
//! organization and issuance date, newest first, a page at a time by
//! keyset (issued at, id) — never OFFSET.
//!
//! Every filter reaches its rows through an index, so a page costs about
//! the same with 1,000,000 certificates as with ten (measured in
//! docs/console.md): the serial by its unique index; a name through
//! `authorizations_identifier` (…_certificate_search), then
//! `order_authorizations` and the certificates' unique `order_id`; an
//! organization's accounts through `eab_credentials_organization` and
//! `accounts_eab_credential`, then each account's newest through
//! `certificates_account` (account_id, created_at, id); dates and the
//! page order by `certificates_issued` (created_at, id).

use std::collections::HashMap;

use diesel::prelude::*;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::schema::{
    accounts, authorizations, certificates, eab_credentials, order_authorizations, orders,
    organizations,
};
use super::{from_db, to_db, DbConn};
use crate::core::{CertificateId, OrganizationId};
use crate::error::Result;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// What staff search by; every given filter must hold.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Lower-case hex without colons, as stored.
    pub serial: Option<String>,
    /// A DNS name as in the order (lower case, a wildcard's `*.` removed):
    /// certificates with that name, wildcard or not.
    pub name: Option<String>,
    pub organization: Option<OrgFilter>,
    /// Issued at or after.
    pub from: Option<OffsetDateTime>,
    /// Issued before.
    pub until: Option<OffsetDateTime>,
}

/// An organization by id, or by part of its legal name.
#[derive(Debug, Clone)]
pub enum OrgFilter {
    Id(OrganizationId),
    Name(String),
}

/// One line of the result.
pub struct Found {
    pub id: CertificateId,
    pub serial: String,
    pub names: Vec<String>,
    pub organization: Option<(OrganizationId, String)>,
    pub issued_at: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub revoked: bool,
}

/// A certificate row as the page query selects it.
type Row = (
    i64,
    String,
    i64,
    i64,
    PrimitiveDateTime,
    PrimitiveDateTime,
    bool,
);

/// Up to `limit` certificates matching `f`, newest first, issued before
/// the certificate `after` (the previous page's last) when given.
pub fn search(
    conn: &mut DbConn,
    f: &Filter,
    after: Option<CertificateId>,
    limit: i64,
) -> Result<Vec<Found>> {
    let cursor = match after {
        Some(id) => certificates::table
            .find(id.0)
            .select(certificates::created_at)
            .first::<PrimitiveDateTime>(conn)
            .optional()?
            .map(|at| (at, id.0)),
        None => None,
    };
    let rows = match &f.organization {
        None => page(conn, f, None, cursor, limit)?,
        // One page per account, each the newest `limit` of that account
        // by `certificates_account` (account_id, created_at, id), merged:
        // with `account_id IN (…)` both backends read and sorted every
        // certificate of the organization instead (PostgreSQL: 0.25–0.7 s
        // a page for 200,000 of 1,000,000).
        Some(org) => {
            let mut rows = Vec::new();
            for account in accounts_of(conn, org)? {
                rows.extend(page(conn, f, Some(account), cursor, limit)?);
            }
            rows.sort_by_key(|r| std::cmp::Reverse((r.4, r.0)));
            rows.truncate(usize::try_from(limit).unwrap_or(0));
            rows
        }
    };
    let order_ids: Vec<i64> = rows.iter().map(|r| r.2).collect();
    let account_ids: Vec<i64> = rows.iter().map(|r| r.3).collect();
    let names = names_of(conn, &order_ids)?;
    let orgs = organizations_of(conn, &account_ids)?;
    Ok(rows
        .into_iter()
        .map(|(id, serial, order, account, at, na, revoked)| Found {
            id: CertificateId(id),
            serial,
            names: names.get(&order).cloned().unwrap_or_default(),
            organization: orgs.get(&account).cloned(),
            issued_at: from_db(at),
            not_after: from_db(na),
            revoked,
        })
        .collect())
}

/// One page of `f`'s certificates (of `account` only, when given),
/// newest first, before `cursor` (issued at, id).
fn page(
    conn: &mut DbConn,
    f: &Filter,
    account: Option<i64>,
    cursor: Option<(PrimitiveDateTime, i64)>,
    limit: i64,
) -> Result<Vec<Row>> {
    let mut q = certificates::table
        .select((
            certificates::id,
            certificates::serial,
            certificates::order_id,
            certificates::account_id,
            certificates::created_at,
            certificates::not_after,
            certificates::revoked_at.is_not_null(),
        ))
        .order((certificates::created_at.desc(), certificates::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(a) = account {
        q = q.filter(certificates::account_id.eq(a));
    }
    if let Some(s) = &f.serial {
        q = q.filter(certificates::serial.eq(s.clone()));
    }
    if let Some(n) = &f.name {
        let orders_with_name = order_authorizations::table
            .inner_join(authorizations::table)
            .filter(authorizations::identifier.eq(n.clone()))
            .select(order_authorizations::order_id);
        q = q.filter(certificates::order_id.eq_any(orders_with_name));
    }
    if let Some(t) = f.from {
        q = q.filter(certificates::created_at.ge(to_db(t)));
    }
    if let Some(t) = f.until {
        q = q.filter(certificates::created_at.lt(to_db(t)));
    }
    if let Some((at, id)) = cursor {
        // (created_at, id) < (at, id), with the leading column bounded on
        // its own so the index range starts at the cursor.
        q = q
            .filter(certificates::created_at.le(at))
            .filter(certificates::created_at.lt(at).or(certificates::id.lt(id)));
    }
    Ok(q.load(conn)?)
}

/// The accounts bound (through their EAB credentials) to the
/// organization, or to those whose legal name contains the given part.
fn accounts_of(conn: &mut DbConn, org: &OrgFilter) -> Result<Vec<i64>> {
    let q = accounts::table
        .inner_join(eab_credentials::table)
        .select(accounts::id)
        .order(accounts::id.asc())
        .into_boxed();
    Ok(match org {
        OrgFilter::Id(id) => q
            .filter(eab_credentials::organization_id.eq(id.0))
            .load(conn)?,
        OrgFilter::Name(part) => {
            // Organizations are a few thousand rows: matching part of a
            // name is a scan of them, then the indexed path as for an id.
            let pattern = format!("%{}%", escape_like(&part.to_lowercase()));
            let orgs = organizations::table
                .filter(lower(organizations::legal_name).like(pattern).escape('\\'))
                .select(organizations::id);
            q.filter(eab_credentials::organization_id.eq_any(orgs))
                .load(conn)?
        }
    })
}

/// The names of each order (as requested, JSON in `orders.names`).
fn names_of(conn: &mut DbConn, ids: &[i64]) -> Result<HashMap<i64, Vec<String>>> {
    let rows: Vec<(i64, String)> = orders::table
        .filter(orders::id.eq_any(ids))
        .select((orders::id, orders::names))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, names)| (id, serde_json::from_str(&names).unwrap_or_default()))
        .collect())
}

/// The organization (id, legal name) of each account bound to one.
fn organizations_of(
    conn: &mut DbConn,
    ids: &[i64],
) -> Result<HashMap<i64, (OrganizationId, String)>> {
    let rows: Vec<(i64, i64, String)> = accounts::table
        .inner_join(eab_credentials::table.inner_join(organizations::table))
        .filter(accounts::id.eq_any(ids))
        .select((accounts::id, organizations::id, organizations::legal_name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(a, o, name)| (a, (OrganizationId(o), name)))
        .collect())
}

/// `%`, `_` and the escape itself taken literally in a LIKE pattern.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
