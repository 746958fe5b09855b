//! Console sessions (`console::session` decides what is valid).

use diesel::prelude::*;
use time::OffsetDateTime;

use super::schema::staff_sessions;
use super::{from_db, to_db, DbConn};
use crate::core::staff::StaffId;
use crate::error::Result;

/// A stored session: whose, its CSRF token and its times.
#[derive(Debug, Clone)]
pub struct StoredSession {
    pub staff: StaffId,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

pub fn insert(
    conn: &mut DbConn,
    id_sha256: &str,
    staff: StaffId,
    csrf_token: &str,
    now: OffsetDateTime,
) -> Result<()> {
    diesel::insert_into(staff_sessions::table)
        .values((
            staff_sessions::id_sha256.eq(id_sha256),
            staff_sessions::staff_id.eq(staff.0),
            staff_sessions::csrf_token.eq(csrf_token),
            staff_sessions::created_at.eq(to_db(now)),
            staff_sessions::last_seen_at.eq(to_db(now)),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn by_hash(conn: &mut DbConn, id_sha256: &str) -> Result<Option<StoredSession>> {
    Ok(staff_sessions::table
        .find(id_sha256)
        .select((
            staff_sessions::staff_id,
            staff_sessions::csrf_token,
            staff_sessions::created_at,
            staff_sessions::last_seen_at,
        ))
        .first::<(
            i64,
            String,
            time::PrimitiveDateTime,
            time::PrimitiveDateTime,
        )>(conn)
        .optional()?
        .map(|(s, csrf, c, l)| StoredSession {
            staff: StaffId(s),
            csrf_token: csrf,
            created_at: from_db(c),
            last_seen_at: from_db(l),
        }))
}

pub fn touch(conn: &mut DbConn, id_sha256: &str, now: OffsetDateTime) -> Result<()> {
    diesel::update(staff_sessions::table.find(id_sha256))
        .set(staff_sessions::last_seen_at.eq(to_db(now)))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConn, id_sha256: &str) -> Result<()> {
    diesel::delete(staff_sessions::table.find(id_sha256)).execute(conn)?;
    Ok(())
}

/// Sessions idle since `idle_before` or begun before `created_before`.
pub fn delete_expired(
    conn: &mut DbConn,
    idle_before: OffsetDateTime,
    created_before: OffsetDateTime,
) -> Result<usize> {
    Ok(diesel::delete(
        staff_sessions::table.filter(
            staff_sessions::last_seen_at
                .lt(to_db(idle_before))
                .or(staff_sessions::created_at.lt(to_db(created_before))),
        ),
    )
    .execute(conn)?)
}
