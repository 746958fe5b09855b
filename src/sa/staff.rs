//! Staff members and their API tokens (`vetting::staff` decides).

use diesel::prelude::*;
use time::OffsetDateTime;

use super::schema::{staff, staff_tokens};
use super::{db_err_unless_unique, from_db, to_db, DbConn};
use crate::core::staff::{StaffId, StaffMember, StaffRole, StaffToken};
use crate::error::{Error, ErrorKind, Result};

#[derive(Queryable, Selectable)]
#[diesel(table_name = staff)]
struct StaffRow {
    id: i64,
    name: String,
    roles: String,
    password_hash: String,
    totp_secret: Vec<u8>,
    totp_last_step: Option<i64>,
    must_change_password: bool,
    failed_logins: i32,
    locked_until: Option<time::PrimitiveDateTime>,
    disabled_at: Option<time::PrimitiveDateTime>,
    created_at: time::PrimitiveDateTime,
    created_by: String,
}

/// A member with what logging in is checked against.
pub struct StaffRecord {
    pub member: StaffMember,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Sealed (`vetting::sealing`).
    pub totp_secret: Vec<u8>,
    pub totp_last_step: Option<i64>,
    pub failed_logins: i32,
    pub locked_until: Option<OffsetDateTime>,
}

/// Redacts the password hash and the sealed TOTP secret.
impl std::fmt::Debug for StaffRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffRecord")
            .field("member", &self.member)
            .field("failed_logins", &self.failed_logins)
            .finish_non_exhaustive()
    }
}

impl StaffRow {
    fn into_record(self) -> Result<StaffRecord> {
        let roles = StaffRole::parse_list(&self.roles)
            .ok_or_else(|| super::corrupt("staff roles", &self.roles))?;
        Ok(StaffRecord {
            member: StaffMember {
                id: StaffId(self.id),
                name: self.name,
                roles,
                must_change_password: self.must_change_password,
                disabled_at: self.disabled_at.map(from_db),
                created_at: from_db(self.created_at),
                created_by: self.created_by,
            },
            password_hash: self.password_hash,
            totp_secret: self.totp_secret,
            totp_last_step: self.totp_last_step,
            failed_logins: self.failed_logins,
            locked_until: self.locked_until.map(from_db),
        })
    }
}

pub struct NewStaff<'a> {
    pub name: &'a str,
    pub roles: &'a [StaffRole],
    pub password_hash: &'a str,
    pub totp_secret: &'a [u8],
    pub created_by: &'a str,
}

/// In the caller's transaction: concurrent bootstraps (`count` then
/// `insert`) take turns, so two hosts cannot both add a "first" member.
/// SQLite's one writer already serializes them.
pub fn lock_for_bootstrap(conn: &mut DbConn) -> Result<()> {
    use diesel::connection::SimpleConnection;
    if let DbConn::Pg(c) = conn {
        c.batch_execute("LOCK TABLE staff IN SHARE ROW EXCLUSIVE MODE")
            .map_err(super::db_err)?;
    }
    Ok(())
}

pub fn count(conn: &mut DbConn) -> Result<i64> {
    Ok(staff::table.count().get_result(conn)?)
}

pub fn insert(conn: &mut DbConn, new: NewStaff<'_>, now: OffsetDateTime) -> Result<StaffMember> {
    let row: StaffRow = diesel::insert_into(staff::table)
        .values((
            staff::name.eq(new.name),
            staff::roles.eq(StaffRole::join(new.roles)),
            staff::password_hash.eq(new.password_hash),
            staff::totp_secret.eq(new.totp_secret),
            staff::must_change_password.eq(true),
            staff::failed_logins.eq(0),
            staff::created_at.eq(to_db(now)),
            staff::created_by.eq(new.created_by),
        ))
        .returning(staff::all_columns)
        .get_result(conn)
        .map_err(|e| {
            db_err_unless_unique(e, || {
                Error::new(
                    ErrorKind::Conflict,
                    format!("a staff member is already named {:?}", new.name),
                )
            })
        })?;
    Ok(row.into_record()?.member)
}

pub fn by_name(conn: &mut DbConn, name: &str) -> Result<Option<StaffRecord>> {
    staff::table
        .filter(staff::name.eq(name))
        .select(StaffRow::as_select())
        .first(conn)
        .optional()?
        .map(StaffRow::into_record)
        .transpose()
}

pub fn by_id(conn: &mut DbConn, id: StaffId) -> Result<Option<StaffRecord>> {
    staff::table
        .find(id.0)
        .select(StaffRow::as_select())
        .first(conn)
        .optional()?
        .map(StaffRow::into_record)
        .transpose()
}

pub fn list(conn: &mut DbConn) -> Result<Vec<StaffMember>> {
    staff::table
        .order(staff::id.asc())
        .select(StaffRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|r| r.into_record().map(|r| r.member))
        .collect()
}

/// False when the member was already disabled.
pub fn disable(conn: &mut DbConn, id: StaffId, now: OffsetDateTime) -> Result<bool> {
    let n = diesel::update(staff::table.find(id.0).filter(staff::disabled_at.is_null()))
        .set(staff::disabled_at.eq(Some(to_db(now))))
        .execute(conn)?;
    Ok(n == 1)
}

/// New one-time password and TOTP secret; the lock and the used step go.
pub fn reset(
    conn: &mut DbConn,
    id: StaffId,
    password_hash: &str,
    totp_secret: &[u8],
) -> Result<()> {
    diesel::update(staff::table.find(id.0))
        .set((
            staff::password_hash.eq(password_hash),
            staff::totp_secret.eq(totp_secret),
            staff::totp_last_step.eq(None::<i64>),
            staff::must_change_password.eq(true),
            staff::failed_logins.eq(0),
            staff::locked_until.eq(None::<time::PrimitiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records `step` as used; false when it (or a later one) already was,
/// so two logins cannot spend one code.
pub fn claim_totp_step(conn: &mut DbConn, id: StaffId, step: i64) -> Result<bool> {
    let n = diesel::update(
        staff::table.find(id.0).filter(
            staff::totp_last_step
                .is_null()
                .or(staff::totp_last_step.lt(step)),
        ),
    )
    .set((
        staff::totp_last_step.eq(Some(step)),
        staff::failed_logins.eq(0),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// A failed login: the count, and the lock once it is reached.
pub fn login_failed(
    conn: &mut DbConn,
    id: StaffId,
    failures: i32,
    locked_until: Option<OffsetDateTime>,
) -> Result<()> {
    diesel::update(staff::table.find(id.0))
        .set((
            staff::failed_logins.eq(failures),
            staff::locked_until.eq(locked_until.map(to_db)),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_password(conn: &mut DbConn, id: StaffId, password_hash: &str) -> Result<()> {
    diesel::update(staff::table.find(id.0))
        .set((
            staff::password_hash.eq(password_hash),
            staff::must_change_password.eq(false),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = staff_tokens)]
struct TokenRow {
    id: i64,
    staff_id: i64,
    label: String,
    created_at: time::PrimitiveDateTime,
    revoked_at: Option<time::PrimitiveDateTime>,
    last_used_at: Option<time::PrimitiveDateTime>,
}

impl TokenRow {
    fn into_core(self) -> StaffToken {
        StaffToken {
            id: self.id,
            staff: StaffId(self.staff_id),
            label: self.label,
            created_at: from_db(self.created_at),
            revoked_at: self.revoked_at.map(from_db),
            last_used_at: self.last_used_at.map(from_db),
        }
    }
}

/// `sha256_hex` is the token's hash (lowercase hex); its first 8 digits
/// are the lookup prefix.
pub fn insert_token(
    conn: &mut DbConn,
    id: StaffId,
    label: &str,
    sha256_hex: &str,
    now: OffsetDateTime,
) -> Result<StaffToken> {
    let row: TokenRow = diesel::insert_into(staff_tokens::table)
        .values((
            staff_tokens::staff_id.eq(id.0),
            staff_tokens::label.eq(label),
            staff_tokens::token_prefix.eq(&sha256_hex[..8]),
            staff_tokens::token_sha256.eq(sha256_hex),
            staff_tokens::created_at.eq(to_db(now)),
        ))
        .returning((
            staff_tokens::id,
            staff_tokens::staff_id,
            staff_tokens::label,
            staff_tokens::created_at,
            staff_tokens::revoked_at,
            staff_tokens::last_used_at,
        ))
        .get_result(conn)?;
    Ok(row.into_core())
}

/// The tokens whose hash starts with `prefix`, with their hashes (the
/// caller compares in constant time).
pub fn tokens_with_prefix(conn: &mut DbConn, prefix: &str) -> Result<Vec<(StaffToken, String)>> {
    let rows: Vec<(TokenRow, String)> = staff_tokens::table
        .filter(staff_tokens::token_prefix.eq(prefix))
        .select((TokenRow::as_select(), staff_tokens::token_sha256))
        .load(conn)?;
    Ok(rows.into_iter().map(|(r, h)| (r.into_core(), h)).collect())
}

pub fn token(conn: &mut DbConn, id: i64) -> Result<Option<StaffToken>> {
    Ok(staff_tokens::table
        .find(id)
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?
        .map(TokenRow::into_core))
}

pub fn tokens_of(conn: &mut DbConn, id: StaffId) -> Result<Vec<StaffToken>> {
    Ok(staff_tokens::table
        .filter(staff_tokens::staff_id.eq(id.0))
        .order(staff_tokens::id.asc())
        .select(TokenRow::as_select())
        .load(conn)?
        .into_iter()
        .map(TokenRow::into_core)
        .collect())
}

/// False when it was already revoked.
pub fn revoke_token(conn: &mut DbConn, id: i64, now: OffsetDateTime) -> Result<bool> {
    let n = diesel::update(
        staff_tokens::table
            .find(id)
            .filter(staff_tokens::revoked_at.is_null()),
    )
    .set(staff_tokens::revoked_at.eq(Some(to_db(now))))
    .execute(conn)?;
    Ok(n == 1)
}

/// Marks the token used (callers do so at most once an hour per token).
pub fn token_used(conn: &mut DbConn, id: i64, now: OffsetDateTime) -> Result<()> {
    diesel::update(staff_tokens::table.find(id))
        .set(staff_tokens::last_used_at.eq(Some(to_db(now))))
        .execute(conn)?;
    Ok(())
}
