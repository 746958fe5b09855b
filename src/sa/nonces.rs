//! Replay protection (RFC 8555 §6.5). Nonces are MACed by `wfe::nonce`
//! and not stored when issued; redeeming one inserts it here, so the
//! primary key makes each redeemable exactly once across all instances.

use std::sync::mpsc;

use diesel::prelude::*;
use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::schema::{server_secrets, used_nonces};
use super::{db_err, is_unique_violation, to_db, Access, DbConn, Store};
use crate::error::{Error, Result};

/// Most redemptions one transaction takes.
const MAX_BATCH: usize = 256;

/// Every POST redeems a nonce, so redemptions are most of the writes. One
/// thread takes them and commits those that arrived while the previous
/// batch was committing in one transaction: under load one writer turn
/// and one commit serve dozens of requests, instead of each request
/// handing a write of its own to a blocking thread. A redemption that
/// arrives alone is committed alone, at once.
pub(super) struct Redeemer {
    queue: mpsc::Sender<Redemption>,
}

struct Redemption {
    nonce: String,
    expires_at: OffsetDateTime,
    done: oneshot::Sender<Result<bool>>,
}

impl Redeemer {
    /// Starts the thread; it ends when the last store is dropped.
    pub(super) fn start(store: Store) -> Result<Redeemer> {
        let (queue, incoming) = mpsc::channel();
        std::thread::Builder::new()
            .name("nonce-redeemer".into())
            .spawn(move || redeem_batches(&store, &incoming))
            .map_err(|e| Error::internal(format!("starting the nonce redeemer: {e}")))?;
        Ok(Redeemer { queue })
    }

    pub(super) async fn redeem(&self, nonce: &str, expires_at: OffsetDateTime) -> Result<bool> {
        let (done, result) = oneshot::channel();
        let stopped = || Error::internal("the nonce redeemer has stopped");
        self.queue
            .send(Redemption {
                nonce: nonce.to_owned(),
                expires_at,
                done,
            })
            .map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?
    }
}

fn redeem_batches(store: &Store, incoming: &mpsc::Receiver<Redemption>) {
    while let Ok(first) = incoming.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match incoming.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let nonces: Vec<(String, OffsetDateTime)> = batch
            .iter()
            .map(|r| (r.nonce.clone(), r.expires_at))
            .collect();
        // A panic fails this batch's requests, not every later one.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.call_blocking(Access::WriteDeferred, store.checkout_timeout, |c| {
                super::write_tx(c, |c| {
                    nonces
                        .iter()
                        .map(|(nonce, expires_at)| redeem(c, nonce, *expires_at))
                        .collect::<Result<Vec<bool>>>()
                })
            })
        }))
        .unwrap_or_else(|_| Err(Error::internal("redeeming nonces panicked")))
        .map_err(super::hide_unavailable);
        match result {
            Ok(fresh) => {
                for (r, fresh) in batch.into_iter().zip(fresh) {
                    let _ = r.done.send(Ok(fresh));
                }
            }
            Err(e) => {
                for r in batch {
                    let _ = r.done.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Records the nonce as used. Returns false if it was used before.
pub fn redeem(conn: &mut DbConn, nonce: &str, expires_at: OffsetDateTime) -> Result<bool> {
    // DO NOTHING rather than catching a unique violation, which on
    // PostgreSQL would abort a transaction around the redemption.
    // (diesel's multi-backend connection has no ON CONFLICT, hence the
    // same statement per backend.)
    let row = (
        used_nonces::nonce.eq(nonce),
        used_nonces::expires_at.eq(to_db(expires_at)),
    );
    let insert = diesel::insert_into(used_nonces::table).values(row);
    let inserted = match conn {
        DbConn::Sqlite(c) => insert.on_conflict_do_nothing().execute(c)?,
        DbConn::Pg(c) => insert.on_conflict_do_nothing().execute(c)?,
    };
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
