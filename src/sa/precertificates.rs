//! Reserved serials and precertificates (RFC 6962). A serial is reserved
//! before anything carrying it is signed; a precertificate is stored
//! before any CT log sees it. Both count as issuance: a precertificate is
//! revocable by its serial and listed on its CRL shard (see `crls`).

use diesel::prelude::*;
use time::OffsetDateTime;

use super::native::native;
use super::schema::{precertificates, serials};
use super::{db_err_unless_unique, from_db, to_db, DbConn};
use crate::core::{AccountId, OrderId};
use crate::error::{Error, ErrorKind, Result};

/// Records that `serial` is about to be signed for `order`; a serial
/// reserved before (a 2^-64 collision) is refused.
pub fn reserve_serial(
    conn: &mut DbConn,
    serial: &str,
    order: OrderId,
    now: OffsetDateTime,
) -> Result<()> {
    diesel::insert_into(serials::table)
        .values((
            serials::serial.eq(serial),
            serials::order_id.eq(order.0),
            serials::reserved_at.eq(to_db(now)),
        ))
        .execute(conn)
        .map_err(|e| {
            db_err_unless_unique(e, || {
                Error::new(ErrorKind::ServerInternal, "serial already reserved")
            })
        })?;
    Ok(())
}

/// The order a serial was reserved for.
pub fn reservation(conn: &mut DbConn, serial: &str) -> Result<Option<OrderId>> {
    Ok(native!(conn, |c| serials::table
        .find(serial)
        .select(serials::order_id)
        .first::<i64>(c)
        .optional())?
    .map(OrderId))
}

pub struct NewPrecertificate {
    /// Hex, as `certificates.serial`; reserved already.
    pub serial: String,
    pub order_id: OrderId,
    pub account_id: AccountId,
    pub der: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub crl_shard: u32,
}

pub fn insert(conn: &mut DbConn, pre: &NewPrecertificate, now: OffsetDateTime) -> Result<()> {
    let shard = i32::try_from(pre.crl_shard)
        .map_err(|_| Error::internal(format!("CRL shard {} out of range", pre.crl_shard)))?;
    diesel::insert_into(precertificates::table)
        .values((
            precertificates::serial.eq(&pre.serial),
            precertificates::order_id.eq(pre.order_id.0),
            precertificates::account_id.eq(pre.account_id.0),
            precertificates::der.eq(&pre.der),
            precertificates::not_before.eq(to_db(pre.not_before)),
            precertificates::not_after.eq(to_db(pre.not_after)),
            precertificates::crl_shard.eq(shard),
            precertificates::created_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A stored precertificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precertificate {
    pub serial: String,
    pub order_id: OrderId,
    pub account_id: AccountId,
    pub der: Vec<u8>,
    pub revoked_at: Option<OffsetDateTime>,
    pub revocation_reason: Option<i32>,
}

type Row = (
    String,
    i64,
    i64,
    Vec<u8>,
    Option<time::PrimitiveDateTime>,
    Option<i32>,
);

pub fn by_serial(conn: &mut DbConn, serial: &str) -> Result<Option<Precertificate>> {
    let row: Option<Row> = native!(conn, |c| precertificates::table
        .find(serial)
        .select((
            precertificates::serial,
            precertificates::order_id,
            precertificates::account_id,
            precertificates::der,
            precertificates::revoked_at,
            precertificates::revocation_reason,
        ))
        .first(c)
        .optional())?;
    Ok(row.map(
        |(serial, order, account, der, revoked_at, reason)| Precertificate {
            serial,
            order_id: OrderId(order),
            account_id: AccountId(account),
            der,
            revoked_at: revoked_at.map(from_db),
            revocation_reason: reason,
        },
    ))
}

/// Marks the precertificate revoked unless it already is; whether it
/// changed.
pub fn revoke(conn: &mut DbConn, serial: &str, reason: i32, now: OffsetDateTime) -> Result<bool> {
    let n = diesel::update(
        precertificates::table
            .find(serial)
            .filter(precertificates::revoked_at.is_null()),
    )
    .set((
        precertificates::revoked_at.eq(Some(to_db(now))),
        precertificates::revocation_reason.eq(Some(reason)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
