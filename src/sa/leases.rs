//! Leader leases: background work that must run once across every
//! instance sharing the database (CRL generation, sweeps), not once per
//! instance. A lease is a row naming its holder and an expiry; the holder
//! renews it on every round of its work, and when the holder dies another
//! instance takes it over once it has expired.
//!
//! Each step is one statement, atomic on both backends: an insert that
//! only the first instance wins (primary key), or an update that only
//! succeeds for the holder or after expiry. Expiry is compared with the
//! caller's clock, so instances' clocks must agree to well within the
//! lease's lifetime (NTP does).

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use time::OffsetDateTime;

use super::schema::leases;
use super::{db_err, is_unique_violation, to_db, DbConn, Store};
use crate::error::Result;

/// Takes or renews lease `name` for `holder` until `now + ttl`. True when
/// `holder` holds it afterwards.
pub fn acquire(
    conn: &mut DbConn,
    name: &str,
    holder: &str,
    now: OffsetDateTime,
    ttl: Duration,
) -> Result<bool> {
    let until = to_db(now + ttl);
    match diesel::insert_into(leases::table)
        .values((
            leases::name.eq(name),
            leases::holder.eq(holder),
            leases::expires_at.eq(until),
        ))
        .execute(conn)
    {
        Ok(_) => return Ok(true),
        Err(e) if is_unique_violation(&e) => {}
        Err(e) => return Err(db_err(e)),
    }
    let renewed = diesel::update(
        leases::table.find(name).filter(
            leases::holder
                .eq(holder)
                .or(leases::expires_at.lt(to_db(now))),
        ),
    )
    .set((leases::holder.eq(holder), leases::expires_at.eq(until)))
    .execute(conn)?;
    Ok(renewed == 1)
}

/// Gives lease `name` up if `holder` has it, so another instance need not
/// wait for it to expire.
pub fn release(conn: &mut DbConn, name: &str, holder: &str) -> Result<()> {
    diesel::delete(leases::table.find(name).filter(leases::holder.eq(holder))).execute(conn)?;
    Ok(())
}

/// The holder of `name`, if its lease has not expired.
pub fn holder(conn: &mut DbConn, name: &str, now: OffsetDateTime) -> Result<Option<String>> {
    Ok(leases::table
        .find(name)
        .filter(leases::expires_at.ge(to_db(now)))
        .select(leases::holder)
        .first(conn)
        .optional()?)
}

/// Pauses after each failed attempt to take or renew a lease.
const RETRY_PAUSES: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::ZERO,
];

/// One named lease as this process sees it.
#[derive(Clone)]
pub struct Lease {
    store: Store,
    name: &'static str,
    holder: Arc<str>,
    ttl: Duration,
}

impl Lease {
    /// `ttl` should span a few rounds of the work, so one slow round or a
    /// failed renewal does not hand the work to another instance.
    pub fn new(store: Store, name: &'static str, holder: Arc<str>, ttl: Duration) -> Lease {
        Lease {
            store,
            name,
            holder,
            ttl,
        }
    }

    /// Takes or renews the lease; true when this process should do the
    /// work now. A database error is tried again shortly (a round may be
    /// minutes away), and counts as not holding it if it persists.
    pub async fn held(&self) -> bool {
        for pause in RETRY_PAUSES {
            let (name, holder, ttl) = (self.name, self.holder.clone(), self.ttl);
            let now = self.store.clock().now();
            match self
                .store
                .run(move |c| acquire(c, name, &holder, now, ttl))
                .await
            {
                Ok(held) => return held,
                Err(e) => {
                    tracing::warn!(lease = name, error = %e, "lease not renewed");
                    tokio::time::sleep(pause).await;
                }
            }
        }
        false
    }

    /// Gives the lease up (at shutdown).
    pub async fn release(&self) {
        let (name, holder) = (self.name, self.holder.clone());
        if let Err(e) = self.store.run(move |c| release(c, name, &holder)).await {
            tracing::debug!(lease = name, error = %e, "lease not released");
        }
    }
}

/// A name for this process in the leases table: host, pid and a random
/// part (a restarted process with a reused pid is still someone else).
pub fn instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let mut random = [0u8; 4];
    // Not a secret; a failed RNG still leaves host and pid.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{host}:{}:{hex}", std::process::id())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sa::crls::testing::store;

    const TTL: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn one_holder_at_a_time_and_takeover_after_expiry() {
        let (_db, store) = store();
        let t0 = crate::core::Clock::system().now();
        let step = |s: &str, h: &'static str, at: OffsetDateTime| {
            let s = s.to_owned();
            let store = store.clone();
            async move {
                store
                    .run(move |c| acquire(c, &s, h, at, TTL))
                    .await
                    .unwrap()
            }
        };
        assert!(step("crl", "a", t0).await, "first taker wins");
        assert!(!step("crl", "b", t0).await, "held by a");
        assert!(step("sweep", "b", t0).await, "leases are independent");
        let later = t0 + Duration::from_secs(30);
        assert!(step("crl", "a", later).await, "the holder renews");
        // a renewed at t0+30, so its lease now runs to t0+90.
        assert!(!step("crl", "b", t0 + Duration::from_secs(80)).await);
        let after = t0 + Duration::from_secs(91);
        assert!(step("crl", "b", after).await, "expired: b takes over");
        assert!(!step("crl", "a", after).await, "a lost it");
        let h = store.run(move |c| holder(c, "crl", after)).await.unwrap();
        assert_eq!(h.as_deref(), Some("b"));
    }

    #[tokio::test]
    async fn release_hands_over_at_once() {
        let (_db, store) = store();
        let a = Lease::new(store.clone(), "crl", "a".into(), TTL);
        let b = Lease::new(store.clone(), "crl", "b".into(), TTL);
        assert!(a.held().await);
        assert!(!b.held().await);
        // b cannot release what a holds.
        b.release().await;
        assert!(!b.held().await);
        a.release().await;
        assert!(b.held().await);
        assert!(!a.held().await);
    }

    #[test]
    fn instance_ids_differ() {
        assert_ne!(instance_id(), instance_id());
    }
}
