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

/// How far another instance's clock may lag the pruning one's. A record
/// pruned while a lagging instance still takes its nonce as unexpired
/// would let that nonce be replayed there once more.
pub const CLOCK_SKEW_MARGIN: time::Duration = time::Duration::minutes(10);

/// Deletes records of nonces that every instance takes as expired (by
/// `CLOCK_SKEW_MARGIN`); keeps the table bounded by (request rate ×
/// (nonce lifetime + margin)).
pub fn prune(conn: &mut DbConn, now: OffsetDateTime) -> Result<usize> {
    let before = to_db(now - CLOCK_SKEW_MARGIN);
    Ok(
        diesel::delete(used_nonces::table.filter(used_nonces::expires_at.lt(before)))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sa::crls::testing::store;

    #[tokio::test]
    async fn a_record_outlives_its_nonce_by_the_skew_margin() {
        let (_db, store) = store();
        let now = crate::core::Clock::system().now();
        let just_expired = now - CLOCK_SKEW_MARGIN + time::Duration::seconds(30);
        let long_expired = now - CLOCK_SKEW_MARGIN - time::Duration::seconds(30);
        let (kept, replayed, pruned) = store
            .write(move |c| {
                assert!(redeem(c, "recent", just_expired)?);
                assert!(redeem(c, "old", long_expired)?);
                let pruned = prune(c, now)?;
                Ok((
                    redeem(c, "old", long_expired)?,
                    redeem(c, "recent", just_expired)?,
                    pruned,
                ))
            })
            .await
            .unwrap();
        assert_eq!(pruned, 1);
        // The old record went (its nonce is expired everywhere); the one
        // within the margin still refuses a replay.
        assert!(kept);
        assert!(!replayed);
    }
}
