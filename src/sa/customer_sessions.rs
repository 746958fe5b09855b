//! Portal sessions (`portal::session` decides what is valid).

use diesel::prelude::*;
use time::OffsetDateTime;

use super::schema::customer_sessions;
use super::{from_db, to_db, DbConn};
use crate::core::CustomerId;
use crate::error::Result;

/// A stored session: whose, its CSRF token and its times.
#[derive(Debug, Clone)]
pub struct StoredSession {
    pub customer: CustomerId,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

pub fn insert(
    conn: &mut DbConn,
    id_sha256: &str,
    customer: CustomerId,
    csrf_token: &str,
    now: OffsetDateTime,
) -> Result<()> {
    diesel::insert_into(customer_sessions::table)
        .values((
            customer_sessions::id_sha256.eq(id_sha256),
            customer_sessions::customer_id.eq(customer.0),
            customer_sessions::csrf_token.eq(csrf_token),
            customer_sessions::created_at.eq(to_db(now)),
            customer_sessions::last_seen_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn by_hash(conn: &mut DbConn, id_sha256: &str) -> Result<Option<StoredSession>> {
    Ok(customer_sessions::table
        .find(id_sha256)
        .select((
            customer_sessions::customer_id,
            customer_sessions::csrf_token,
            customer_sessions::created_at,
            customer_sessions::last_seen_at,
        ))
        .first::<(
            i64,
            String,
            time::PrimitiveDateTime,
            time::PrimitiveDateTime,
        )>(conn)
        .optional()?
        .map(|(s, csrf, c, l)| StoredSession {
            customer: CustomerId(s),
            csrf_token: csrf,
            created_at: from_db(c),
            last_seen_at: from_db(l),
        }))
}

pub fn touch(conn: &mut DbConn, id_sha256: &str, now: OffsetDateTime) -> Result<()> {
    diesel::update(customer_sessions::table.find(id_sha256))
        .set(customer_sessions::last_seen_at.eq(to_db(now)))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConn, id_sha256: &str) -> Result<()> {
    diesel::delete(customer_sessions::table.find(id_sha256)).execute(conn)?;
    Ok(())
}

/// Sessions idle since `idle_before` or begun before `created_before`.
pub fn delete_expired(
    conn: &mut DbConn,
    idle_before: OffsetDateTime,
    created_before: OffsetDateTime,
) -> Result<usize> {
    Ok(diesel::delete(
        customer_sessions::table.filter(
            customer_sessions::last_seen_at
                .lt(to_db(idle_before))
                .or(customer_sessions::created_at.lt(to_db(created_before))),
        ),
    )
    .execute(conn)?)
}
