//! Replay protection (RFC 8555 §6.5) shared by instances. Nonces are
//! MACed by `wfe::nonce` and not stored when issued; redeeming one inserts
//! it here, so the primary key makes each redeemable exactly once across
//! all instances. (A lone SQLite process keeps its redemptions in memory:
//! `wfe::nonce`, local ledger.)

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Timestamp};
use time::{OffsetDateTime, PrimitiveDateTime};
use tokio::sync::oneshot;

use super::native::{fixed, native, Fixed};
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

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = Text)]
    nonce: String,
}

/// Records the nonces of `batch` (nonce, expiry) as used; for each, in
/// order, whether it was fresh. A nonce that appears twice is fresh at
/// most at its first place. On PostgreSQL one statement of fixed text
/// (kept prepared) however long the batch.
pub fn redeem_all(conn: &mut DbConn, batch: &[(String, OffsetDateTime)]) -> Result<Vec<bool>> {
    let mut inserted: HashSet<String> = match conn {
        DbConn::Pg(c) => {
            let nonces: Vec<&str> = batch.iter().map(|(n, _)| n.as_str()).collect();
            let expiries: Vec<PrimitiveDateTime> = batch.iter().map(|(_, e)| to_db(*e)).collect();
            fixed("INSERT INTO used_nonces (nonce, expires_at) SELECT * FROM unnest(")
                .bind::<Array<Text>, _>(nonces)
                .sql("::text[], ")
                .bind::<Array<Timestamp>, _>(expiries)
                .sql("::timestamp[]) ON CONFLICT DO NOTHING RETURNING nonce")
                .load::<Inserted>(c)?
                .into_iter()
                .map(|r| r.nonce)
                .collect()
        }
        // SQLite has no arrays to bind, and only tests share its ledger.
        DbConn::Sqlite(_) => {
            let mut fresh = HashSet::new();
            for (nonce, expires_at) in batch {
                if redeem(conn, nonce, *expires_at)? {
                    fresh.insert(nonce.clone());
                }
            }
            fresh
        }
    };
    Ok(batch.iter().map(|(n, _)| inserted.remove(n)).collect())
}

/// Redemptions waiting to be written together (`Store::redeem_nonce`).
/// While one batch is being written the next gathers; one task writes them
/// one after another, so concurrent requests share a statement.
#[derive(Default)]
pub(super) struct Batcher {
    state: Mutex<Gathering>,
}

#[derive(Default)]
struct Gathering {
    waiting: Vec<Waiting>,
    /// A task is writing batches; it takes `waiting` next.
    writing: bool,
}

/// A nonce to redeem, its expiry, and where its answer goes.
pub(super) type Waiting = (String, OffsetDateTime, oneshot::Sender<Result<bool>>);

impl Batcher {
    /// Adds a redemption; true if no task is writing, so the caller must
    /// start one (which then calls `next` until it gets `None`).
    pub(super) fn add(&self, waiting: Waiting) -> bool {
        let mut g = self.lock();
        g.waiting.push(waiting);
        !std::mem::replace(&mut g.writing, true)
    }

    /// The redemptions gathered since the last batch; `None` (and the
    /// writing task must end) when there are none.
    pub(super) fn next(&self) -> Option<Vec<Waiting>> {
        let mut g = self.lock();
        if g.waiting.is_empty() {
            g.writing = false;
            return None;
        }
        Some(std::mem::take(&mut g.waiting))
    }

    /// The writing task ended without `next` saying so (it panicked, or
    /// its runtime shut down): those waiting are answered with an error
    /// (their senders dropped), and the next redemption starts a new task.
    pub(super) fn abandon(&self) {
        let mut g = self.lock();
        g.waiting.clear();
        g.writing = false;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gathering> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
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

    /// In one batch a used nonce is refused, a fresh one accepted once,
    /// and a nonce sent twice at once (a replay racing its original) is
    /// fresh only at its first place.
    #[tokio::test]
    async fn a_batch_redeems_each_nonce_once() {
        let (_db, store) = store();
        let expires = crate::core::Clock::system().now() + time::Duration::hours(1);
        let batch: Vec<(String, OffsetDateTime)> = ["used", "a", "b", "a", "used", "c"]
            .iter()
            .map(|n| (n.to_string(), expires))
            .collect();
        let fresh = store
            .write(move |c| {
                assert!(redeem(c, "used", expires)?);
                redeem_all(c, &batch)
            })
            .await
            .unwrap();
        assert_eq!(fresh, [false, true, true, false, false, true]);
        let again = store
            .write(move |c| redeem_all(c, &[("b".to_owned(), expires)]))
            .await
            .unwrap();
        assert_eq!(again, [false]);
    }

    /// One task writes at a time: only the redemption that finds none
    /// writing starts one, and it ends when nothing is left to take.
    #[test]
    fn the_batcher_starts_one_writer_and_hands_it_what_gathers() {
        let b = Batcher::default();
        let now = crate::core::Clock::system().now();
        let add = |n: &str| b.add((n.to_owned(), now, oneshot::channel().0));
        assert!(add("a"));
        assert!(!add("b"));
        let first: Vec<String> = b.next().unwrap().into_iter().map(|w| w.0).collect();
        assert_eq!(first, ["a", "b"]);
        assert!(!add("c"), "the writer has not ended: it takes c next");
        assert_eq!(b.next().unwrap().len(), 1);
        assert!(b.next().is_none());
        assert!(add("d"), "the writer ended: the next redemption starts one");
        b.abandon();
        assert!(add("e"), "an abandoned writer is replaced");
        assert_eq!(b.next().unwrap().len(), 1, "d was answered by the abandon");
    }
}
