//! Replay protection (RFC 8555 §6.5) shared by instances. Nonces are
//! MACed by `wfe::nonce` and not stored when issued; redeeming one inserts
//! it here, so the primary key makes each redeemable exactly once across
//! all instances. (A lone SQLite process keeps its redemptions in memory:
//! `wfe::nonce`, local ledger.)

use diesel::prelude::*;
use time::OffsetDateTime;

use super::native::native;
use super::schema::{server_secrets, used_nonces};
use super::{db_err, is_unique_violation, to_db, DbConn};
use crate::error::Result;

/// Records the nonce as used. Returns false if it was used before.
pub fn redeem(conn: &mut DbConn, nonce: &str, expires_at: OffsetDateTime) -> Result<bool> {
    // DO NOTHING rather than catching a unique violation, which on
    // PostgreSQL would abort a transaction around the redemption.
    // (diesel's multi-backend connection has no ON CONFLICT: `native!`.)
    let inserted = native!(conn, |c| diesel::insert_into(used_nonces::table)
        .values((
            used_nonces::nonce.eq(nonce),
            used_nonces::expires_at.eq(to_db(expires_at)),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// Deletes records of nonces that have expired anyway; keeps the table
/// bounded by (request rate × nonce lifetime).
pub fn prune(conn: &mut DbConn, now: OffsetDateTime) -> Result<usize> {
    Ok(
        diesel::delete(used_nonces::table.filter(used_nonces::expires_at.lt(to_db(now))))
            .execute(conn)?,
    )
}

/// Returns the shared secret `name`, creating it from `generate` if no
/// instance has yet. Concurrent creators race on the primary key; every
/// one of them then reads the winner's value.
pub fn shared_secret(
    conn: &mut DbConn,
    name: &str,
    generate: impl FnOnce() -> Result<Vec<u8>>,
    now: OffsetDateTime,
) -> Result<Vec<u8>> {
    let read = |conn: &mut DbConn| -> Result<Option<Vec<u8>>> {
        Ok(server_secrets::table
            .find(name)
            .select(server_secrets::secret)
            .first(conn)
            .optional()?)
    };
    if let Some(s) = read(conn)? {
        return Ok(s);
    }
    let fresh = generate()?;
    match diesel::insert_into(server_secrets::table)
        .values((
            server_secrets::name.eq(name),
            server_secrets::secret.eq(&fresh),
            server_secrets::created_at.eq(to_db(now)),
        ))
        .execute(conn)
    {
        Ok(_) => Ok(fresh),
        Err(e) if is_unique_violation(&e) => read(conn)?.ok_or_else(|| db_err(e)),
        Err(e) => Err(db_err(e)),
    }
}
