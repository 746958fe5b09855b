//! External Account Binding credentials (RFC 8555 §7.3.4).

use diesel::prelude::*;
use time::OffsetDateTime;

use super::models::EabRow;
use super::schema::eab_credentials;
use super::{to_db, DbConn};
use crate::core::EabCredential;
use crate::error::Result;

pub struct NewEab<'a> {
    pub key_id: &'a str,
    pub organization: crate::core::OrganizationId,
    pub hmac_key: &'a [u8],
    pub note: &'a str,
    pub single_use: bool,
    pub expires_at: Option<OffsetDateTime>,
}

pub fn create(conn: &mut DbConn, new: NewEab<'_>, now: OffsetDateTime) -> Result<EabCredential> {
    let row: EabRow = diesel::insert_into(eab_credentials::table)
        .values((
            eab_credentials::key_id.eq(new.key_id),
            eab_credentials::organization_id.eq(new.organization.0),
            eab_credentials::hmac_key.eq(new.hmac_key),
            eab_credentials::note.eq(new.note),
            eab_credentials::single_use.eq(new.single_use),
            eab_credentials::created_at.eq(to_db(now)),
            eab_credentials::expires_at.eq(new.expires_at.map(to_db)),
        ))
        .returning(eab_credentials::all_columns)
        .get_result(conn)?;
    Ok(row.into_core())
}

pub fn by_key_id(conn: &mut DbConn, key_id: &str) -> Result<Option<EabCredential>> {
    Ok(eab_credentials::table
        .filter(eab_credentials::key_id.eq(key_id))
        .select(EabRow::as_select())
        .first(conn)
        .optional()?
        .map(EabRow::into_core))
}

pub fn list(
    conn: &mut DbConn,
    org: Option<crate::core::OrganizationId>,
) -> Result<Vec<EabCredential>> {
    let mut q = eab_credentials::table.into_boxed();
    if let Some(o) = org {
        q = q.filter(eab_credentials::organization_id.eq(o.0));
    }
    Ok(q.order(eab_credentials::id.asc())
        .select(EabRow::as_select())
        .load(conn)?
        .into_iter()
        .map(EabRow::into_core)
        .collect())
}

/// Revokes by key id; returns false when there is no such credential.
pub fn revoke(conn: &mut DbConn, key_id: &str, now: OffsetDateTime) -> Result<bool> {
    let n = diesel::update(
        eab_credentials::table
            .filter(eab_credentials::key_id.eq(key_id))
            .filter(eab_credentials::revoked_at.is_null()),
    )
    .set(eab_credentials::revoked_at.eq(Some(to_db(now))))
    .execute(conn)?;
    Ok(n == 1)
}
