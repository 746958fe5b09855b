//! Issued certificates.

use diesel::prelude::*;

use super::models::CertificateRow;
use super::native::native;
use super::schema::certificates;
use super::DbConn;
use crate::core::{Certificate, CertificateId};
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
