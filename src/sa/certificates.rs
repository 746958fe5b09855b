//! Issued certificates.

use diesel::prelude::*;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::models::CertificateRow;
use super::native::native;
use super::schema::{accounts, certificates, eab_credentials, orders};
use super::{from_db, to_db, DbConn};
use crate::core::{AccountId, Certificate, CertificateId, OrganizationId};
use crate::error::Result;

pub fn by_id(conn: &mut DbConn, id: CertificateId) -> Result<Option<Certificate>> {
    Ok(native!(conn, |c| certificates::table
        .find(id.0)
        .select(CertificateRow::as_select())
        .first(c)
        .optional())?
    .map(CertificateRow::into_core))
}

pub fn by_serial(conn: &mut DbConn, serial: &str) -> Result<Option<Certificate>> {
    Ok(native!(conn, |c| certificates::table
        .filter(certificates::serial.eq(serial))
        .select(CertificateRow::as_select())
        .first(c)
        .optional())?
    .map(CertificateRow::into_core))
}

/// Marks the certificate revoked unless it already is. Returns whether it
/// changed.
pub fn revoke(
    conn: &mut DbConn,
    id: CertificateId,
    reason: i32,
    now: time::OffsetDateTime,
) -> Result<bool> {
    let n = diesel::update(
        certificates::table
            .find(id.0)
            .filter(certificates::revoked_at.is_null()),
    )
    .set((
        certificates::revoked_at.eq(Some(super::to_db(now))),
        certificates::revocation_reason.eq(Some(reason)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Blocks a key (by SHA-256 of its SubjectPublicKeyInfo) from future
/// certificates; blocking twice is not an error.
pub fn block_key(
    conn: &mut DbConn,
    spki_sha256: &str,
    reason: &str,
    now: time::OffsetDateTime,
) -> Result<()> {
    use super::schema::blocked_keys;
    match diesel::insert_into(blocked_keys::table)
        .values((
            blocked_keys::spki_sha256.eq(spki_sha256),
            blocked_keys::reason.eq(reason),
            blocked_keys::blocked_at.eq(super::to_db(now)),
        ))
        .execute(conn)
    {
        Ok(_) => Ok(()),
        Err(e) if super::is_unique_violation(&e) => Ok(()),
        Err(e) => Err(super::db_err(e)),
    }
}

pub fn key_is_blocked(conn: &mut DbConn, spki_sha256: &str) -> Result<bool> {
    use super::schema::blocked_keys;
    Ok(native!(conn, |c| blocked_keys::table
        .find(spki_sha256)
        .select(blocked_keys::spki_sha256)
        .first::<String>(c)
        .optional())?
    .is_some())
}

/// An unrevoked certificate near its end, with what its expiry notice
/// needs.
#[derive(Debug, Clone)]
pub struct Expiring {
    pub id: CertificateId,
    pub serial: String,
    pub account: AccountId,
    pub organization: OrganizationId,
    /// The order's names, as issued.
    pub names: Vec<String>,
    pub not_after: OffsetDateTime,
}

type ExpiringRow = (i64, String, i64, i64, String, PrimitiveDateTime);

fn expiring_row((id, serial, account, org, names, not_after): ExpiringRow) -> Result<Expiring> {
    Ok(Expiring {
        id: CertificateId(id),
        serial,
        account: AccountId(account),
        organization: OrganizationId(org),
        names: serde_json::from_str(&names).map_err(|_| super::corrupt("order names", &names))?,
        not_after: from_db(not_after),
    })
}

/// Unrevoked certificates whose notAfter lies in (`after`, `until`], of
/// accounts bound to an organization, soonest first.
pub fn expiring(
    conn: &mut DbConn,
    after: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Vec<Expiring>> {
    let rows: Vec<ExpiringRow> = certificates::table
        .inner_join(orders::table)
        .inner_join(accounts::table.inner_join(eab_credentials::table))
        .filter(certificates::revoked_at.is_null())
        .filter(certificates::not_after.gt(to_db(after)))
        .filter(certificates::not_after.le(to_db(until)))
        .select((
            certificates::id,
            certificates::serial,
            certificates::account_id,
            eab_credentials::organization_id,
            orders::names,
            certificates::not_after,
        ))
        .order((certificates::not_after, certificates::id))
        .load(conn)?;
    rows.into_iter().map(expiring_row).collect()
}

/// The names of the organization's unrevoked certificates issued after
/// certificate `than` and ending after `not_after`: the ones that could
/// replace it.
pub fn newer_names(
    conn: &mut DbConn,
    org: OrganizationId,
    than: CertificateId,
    not_after: OffsetDateTime,
) -> Result<Vec<Vec<String>>> {
    let rows: Vec<String> = certificates::table
        .inner_join(orders::table)
        .inner_join(accounts::table.inner_join(eab_credentials::table))
        .filter(eab_credentials::organization_id.eq(org.0))
        .filter(certificates::revoked_at.is_null())
        .filter(certificates::id.gt(than.0))
        .filter(certificates::not_after.gt(to_db(not_after)))
        .select(orders::names)
        .load(conn)?;
    rows.iter()
        .map(|n| serde_json::from_str(n).map_err(|_| super::corrupt("order names", n)))
        .collect()
}
