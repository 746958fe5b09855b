//! Published CRLs, one row per shard: the latest signed DER with its
//! cRLNumber and validity, and how many revoked certificates of the shard
//! existed when it was built (to notice new revocations without trusting
//! clocks).

use std::collections::{BTreeMap, BTreeSet};

use diesel::dsl::count_star;
use diesel::prelude::*;
use time::{Duration, OffsetDateTime};

use super::schema::{certificates, crls, precertificates};
use super::{corrupt, db_err_unless_unique, from_db, to_db, write_tx, DbConn};
use crate::ca::crl::RevokedEntry;
use crate::core::RevocationReason;
use crate::error::{Error, ErrorKind, Result};

/// How long after a revoked certificate expires it stays listed. BR 4.10.1
/// forbids removing an entry before the certificate's expiry; a few days
/// more cover relying parties with slow clocks.
pub const EXPIRED_GRACE: Duration = Duration::days(7);

/// The stored CRL of one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedCrl {
    pub shard: u32,
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub der: Vec<u8>,
}

/// What the signer gets inside the generating transaction.
#[derive(Debug)]
pub struct CrlContent<'a> {
    pub shard: u32,
    /// Larger than every number this shard has had.
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub entries: &'a [RevokedEntry],
}

/// What the signer returns.
#[derive(Debug)]
pub struct SignedCrl {
    pub der: Vec<u8>,
    pub next_update: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = crls)]
struct CrlRow {
    shard: i32,
    number: i64,
    this_update: time::PrimitiveDateTime,
    next_update: time::PrimitiveDateTime,
    der: Vec<u8>,
}

impl CrlRow {
    fn into_published(self) -> Result<PublishedCrl> {
        Ok(PublishedCrl {
            shard: u32::try_from(self.shard)
                .map_err(|_| corrupt("CRL shard", &self.shard.to_string()))?,
            number: u64::try_from(self.number)
                .map_err(|_| corrupt("CRL number", &self.number.to_string()))?,
            this_update: from_db(self.this_update),
            next_update: from_db(self.next_update),
            der: self.der,
        })
    }
}

fn db_shard(shard: u32) -> Result<i32> {
    i32::try_from(shard).map_err(|_| Error::internal(format!("CRL shard {shard} out of range")))
}

/// The entries of a shard's CRL: every revoked certificate of the shard
/// that has not expired, or expired less than [`EXPIRED_GRACE`] ago,
/// ordered by revocation time.
pub fn revoked_entries(
    conn: &mut DbConn,
    shard: u32,
    now: OffsetDateTime,
) -> Result<Vec<RevokedEntry>> {
    let db_shard = db_shard(shard)?;
    let live = to_db(now - EXPIRED_GRACE);
    let mut rows: Vec<RevokedRow> = certificates::table
        .filter(certificates::crl_shard.eq(db_shard))
        .filter(certificates::revoked_at.is_not_null())
        .filter(certificates::not_after.gt(live))
        .select((
            certificates::serial,
            certificates::revoked_at,
            certificates::revocation_reason,
        ))
        .load(conn)?;
    // A revoked precertificate without a final certificate is listed too
    // (RFC 6962 §3.1: it counts as issued); with one, that one is.
    let finals = certificates::table
        .filter(certificates::serial.eq(precertificates::serial))
        .select(certificates::id);
    let precerts: Vec<RevokedRow> = precertificates::table
        .filter(precertificates::crl_shard.eq(db_shard))
        .filter(precertificates::revoked_at.is_not_null())
        .filter(precertificates::not_after.gt(live))
        .filter(diesel::dsl::not(diesel::dsl::exists(finals)))
        .select((
            precertificates::serial,
            precertificates::revoked_at,
            precertificates::revocation_reason,
        ))
        .load(conn)?;
    rows.extend(precerts);
    rows.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    rows.into_iter()
        .map(|(serial, revoked_at, reason)| {
            let revoked_at = revoked_at.ok_or_else(|| corrupt("revoked_at", "NULL"))?;
            Ok(RevokedEntry {
                serial: decode_serial(&serial)?,
                revoked_at: from_db(revoked_at),
                reason: entry_reason(&serial, reason),
                invalidity_date: None,
            })
        })
        .collect()
}

/// Serial, revocation time and reason code of a CRL entry.
type RevokedRow = (String, Option<time::PrimitiveDateTime>, Option<i32>);

/// An unknown stored reason must not keep the certificate off the CRL: it
/// is listed without a reasonCode (which reads as unspecified).
fn entry_reason(serial: &str, code: Option<i32>) -> RevocationReason {
    let code = code.unwrap_or(0);
    RevocationReason::from_code(code.into()).unwrap_or_else(|| {
        tracing::error!(serial, code, "stored revocation reason is not allowed by BR 7.2.2; listing the certificate without a reasonCode");
        RevocationReason::Unspecified
    })
}

/// Serials are stored as hex (see `ca::Serial::to_hex`).
fn decode_serial(hex: &str) -> Result<Vec<u8>> {
    if hex.is_empty() || hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(corrupt("certificate serial", hex));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| corrupt("certificate serial", hex))
        })
        .collect()
}

/// Revoked certificates of each shard, expired ones included (the count
/// only grows, so a change means a new revocation).
fn revoked_counts(conn: &mut DbConn) -> Result<BTreeMap<i32, i64>> {
    let mut counts: BTreeMap<i32, i64> = BTreeMap::new();
    let certs: Vec<(i32, i64)> = certificates::table
        .filter(certificates::revoked_at.is_not_null())
        .group_by(certificates::crl_shard)
        .select((certificates::crl_shard, count_star()))
        .load(conn)?;
    let precerts: Vec<(i32, i64)> = precertificates::table
        .filter(precertificates::revoked_at.is_not_null())
        .group_by(precertificates::crl_shard)
        .select((precertificates::crl_shard, count_star()))
        .load(conn)?;
    for (shard, n) in certs.into_iter().chain(precerts) {
        *counts.entry(shard).or_default() += n;
    }
    Ok(counts)
}

/// Revoked certificates and precertificates of a shard (a change means a
/// new revocation).
fn revoked_count(conn: &mut DbConn, shard: i32) -> Result<i64> {
    let certs: i64 = certificates::table
        .filter(certificates::crl_shard.eq(shard))
        .filter(certificates::revoked_at.is_not_null())
        .select(count_star())
        .first(conn)?;
    let precerts: i64 = precertificates::table
        .filter(precertificates::crl_shard.eq(shard))
        .filter(precertificates::revoked_at.is_not_null())
        .select(count_star())
        .first(conn)?;
    Ok(certs + precerts)
}

/// Builds and stores the next CRL of `shard` in one write transaction:
/// takes the next cRLNumber, reads the entries, calls `sign`, and stores
/// the result.
///
/// The cRLNumber is `max(previous + 1, this_update as Unix seconds)`: it
/// grows by at least one per CRL even when several instances generate
/// (the first statement locks the shard's row on PostgreSQL; SQLite
/// serializes writers), and it still grows after a database restored from
/// a backup has forgotten the last numbers (RFC 5280 §5.2.3: numbers
/// increase monotonically). Entries are read after the lock, so a CRL
/// never lists fewer revocations than one with a lower number.
///
/// Two instances creating a shard's first CRL at once: the loser gets an
/// `Unavailable` error and nothing is stored; retrying is safe.
pub fn next_number_and_store(
    conn: &mut DbConn,
    shard: u32,
    now: OffsetDateTime,
    sign: impl FnOnce(CrlContent<'_>) -> Result<SignedCrl>,
) -> Result<PublishedCrl> {
    let db_shard = db_shard(shard)?;
    let this_update = crate::ca::profile::whole_seconds(now);
    write_tx(conn, |c| {
        let previous: Option<i64> = diesel::update(crls::table.find(db_shard))
            .set(crls::number.eq(crls::number + 1))
            .returning(crls::number)
            .get_result(c)
            .optional()?;
        let floor = this_update.unix_timestamp();
        let number = previous.map_or(floor.max(1), |n| n.max(floor));
        let number_u64 =
            u64::try_from(number).map_err(|_| Error::internal("CRL number out of range"))?;
        // Counted before the entries are read: a revocation committed in
        // between is listed but not counted, which only causes one more
        // regeneration, never a missed entry.
        let count = revoked_count(c, db_shard)?;
        let entries = revoked_entries(c, shard, now)?;
        let signed = sign(CrlContent {
            shard,
            number: number_u64,
            this_update,
            entries: &entries,
        })?;
        let values = (
            crls::number.eq(number),
            crls::this_update.eq(to_db(this_update)),
            crls::next_update.eq(to_db(signed.next_update)),
            crls::der.eq(&signed.der),
            crls::revoked_count.eq(count),
            crls::generated_at.eq(to_db(now)),
        );
        if previous.is_some() {
            diesel::update(crls::table.find(db_shard))
                .set(values)
                .execute(c)?;
        } else {
            diesel::insert_into(crls::table)
                .values((crls::shard.eq(db_shard), values))
                .execute(c)
                .map_err(|e| {
                    db_err_unless_unique(e, || {
                        Error::new(
                            ErrorKind::Unavailable,
                            format!("CRL shard {shard} was created concurrently; retry"),
                        )
                    })
                })?;
        }
        Ok(PublishedCrl {
            shard,
            number: number_u64,
            this_update,
            next_update: signed.next_update,
            der: signed.der,
        })
    })
}

/// The stored CRL of `shard`, if one was generated.
pub fn latest(conn: &mut DbConn, shard: u32) -> Result<Option<PublishedCrl>> {
    crls::table
        .find(db_shard(shard)?)
        .select(CrlRow::as_select())
        .first(conn)
        .optional()?
        .map(CrlRow::into_published)
        .transpose()
}

/// Shards whose CRL must be (re)generated: every shard in `0..shards` plus
/// any shard that has a CRL or a revoked certificate (so certificates
/// issued under a larger `crl_shards` stay covered), for which
/// - no CRL exists yet, or
/// - a certificate was revoked since (the shard's revoked count changed), or
/// - half of `period` has passed since thisUpdate or less than half of it
///   remains before nextUpdate (BR 4.9.7: reissue at least every seven days,
///   well before nextUpdate).
pub fn needing_regeneration(
    conn: &mut DbConn,
    shards: u32,
    now: OffsetDateTime,
    period: Duration,
) -> Result<Vec<u32>> {
    let stored: Vec<(i32, time::PrimitiveDateTime, time::PrimitiveDateTime, i64)> = crls::table
        .select((
            crls::shard,
            crls::this_update,
            crls::next_update,
            crls::revoked_count,
        ))
        .load(conn)?;
    let counts = revoked_counts(conn)?;
    let stored: BTreeMap<i32, _> = stored
        .into_iter()
        .map(|(s, this, next, count)| (s, (from_db(this), from_db(next), count)))
        .collect();

    let mut candidates: BTreeSet<i32> = (0..db_shard(shards)?).collect();
    candidates.extend(stored.keys());
    candidates.extend(counts.keys().filter(|s| **s >= 0));

    let half = period / 2;
    Ok(candidates
        .into_iter()
        .filter(|s| match stored.get(s) {
            None => true,
            Some((this_update, next_update, count)) => {
                counts.get(s).copied().unwrap_or(0) != *count
                    || now - *this_update >= half
                    || *next_update - now <= half
            }
        })
        .filter_map(|s| u32::try_from(s).ok())
        .collect())
}

/// Whether `shard` is one a certificate may name: configured, already
/// published, or holding a revoked certificate.
pub fn shard_exists(conn: &mut DbConn, shard: u32, shards: u32) -> Result<bool> {
    if shard < shards {
        return Ok(true);
    }
    let Ok(db_shard) = i32::try_from(shard) else {
        return Ok(false);
    };
    let published = crls::table
        .find(db_shard)
        .select(crls::shard)
        .first::<i32>(conn)
        .optional()?
        .is_some();
    Ok(published || revoked_count(conn, db_shard)? > 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod testing {
    //! Rows for tests: an account, an order and a certificate in a shard.

    use diesel::prelude::*;
    use time::{Duration, OffsetDateTime};

    use crate::core::CertificateId;
    use crate::sa::schema::{accounts, certificates, orders};
    use crate::sa::{to_db, DbConn, Store};

    /// A scratch database: PostgreSQL when TEST_DATABASE_URL names one (a
    /// database of its own, dropped afterwards), else SQLite in a
    /// temporary directory. Keep it alive while the store is used.
    pub struct TestDb {
        _dir: tempfile::TempDir,
        pg: Option<(String, String)>,
        /// For more instances on the same database.
        pub url: String,
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            if let Some((admin, name)) = &self.pg {
                if let Ok(mut c) = crate::sa::connect_postgres(admin) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut c);
                }
            }
        }
    }

    impl TestDb {
        pub fn is_postgres(&self) -> bool {
            self.pg.is_some()
        }
    }

    /// Runs `f` on `conn`; with its result, the SQL of every statement
    /// diesel prepared for its cache meanwhile (a statement prepared
    /// afresh at each execution is not among them).
    pub fn cached_while<T>(
        conn: &mut DbConn,
        f: impl FnOnce(&mut DbConn) -> crate::error::Result<T>,
    ) -> crate::error::Result<(T, Vec<String>)> {
        use diesel::connection::InstrumentationEvent;
        use std::sync::{Arc, Mutex};
        let cached = Arc::new(Mutex::new(Vec::new()));
        let seen = cached.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                seen.lock().unwrap().push(sql.to_owned());
            }
        });
        let out = f(conn);
        conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
        let cached = cached.lock().unwrap().clone();
        Ok((out?, cached))
    }

    /// A scratch database with a store open on it (migrated).
    pub fn store() -> (TestDb, Store) {
        let db = scratch();
        let store = Store::open(&db.url, 4, std::time::Duration::from_secs(5)).unwrap();
        (db, store)
    }

    /// An empty scratch database, nothing applied.
    pub fn scratch() -> TestDb {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = tempfile::tempdir().unwrap();
        let pg = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
            .map(|admin| {
                let name = format!(
                    "tg_sa_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                );
                let mut c = crate::sa::connect_postgres(&admin).unwrap();
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut c)
                    .unwrap();
                (admin, name)
            });
        let url = match &pg {
            Some((admin, name)) => format!("{}/{name}", admin.rsplit_once('/').unwrap().0),
            None => dir.path().join("test.db").to_str().unwrap().to_owned(),
        };
        TestDb { _dir: dir, pg, url }
    }

    /// Stores a certificate row (with a fresh account and order) and
    /// returns its id.
    pub fn insert_certificate(
        conn: &mut DbConn,
        serial: &str,
        der: &[u8],
        shard: u32,
        not_after: OffsetDateTime,
    ) -> CertificateId {
        let now = OffsetDateTime::now_utc();
        let account: i64 = diesel::insert_into(accounts::table)
            .values((
                accounts::key_thumbprint.eq(format!("thumb-{serial}")),
                accounts::jwk.eq("{}"),
                accounts::contact.eq("[]"),
                accounts::status.eq("valid"),
                accounts::created_at.eq(to_db(now)),
            ))
            .returning(accounts::id)
            .get_result(conn)
            .unwrap();
        let order: i64 = diesel::insert_into(orders::table)
            .values((
                orders::account_id.eq(account),
                orders::status.eq("valid"),
                orders::names.eq("[\"a.example.net\"]"),
                orders::profile.eq("ov"),
                orders::expires_at.eq(to_db(now + Duration::days(7))),
                orders::created_at.eq(to_db(now)),
                orders::updated_at.eq(to_db(now)),
            ))
            .returning(orders::id)
            .get_result(conn)
            .unwrap();
        let id: i64 = diesel::insert_into(certificates::table)
            .values((
                certificates::serial.eq(serial),
                certificates::order_id.eq(order),
                certificates::account_id.eq(account),
                certificates::der.eq(der),
                certificates::not_before.eq(to_db(now - Duration::days(1))),
                certificates::not_after.eq(to_db(not_after)),
                certificates::created_at.eq(to_db(now)),
                certificates::crl_shard.eq(shard as i32),
            ))
            .returning(certificates::id)
            .get_result(conn)
            .unwrap();
        CertificateId(id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::sa::certificates::revoke;
    use crate::sa::Store;

    fn fake_sign(content: CrlContent<'_>) -> Result<SignedCrl> {
        Ok(SignedCrl {
            der: format!("crl {} #{}", content.shard, content.entries.len()).into_bytes(),
            next_update: content.this_update + Duration::days(7),
        })
    }

    #[tokio::test]
    async fn numbers_grow_and_entries_follow_revocations() {
        let (_dir, store) = store();
        let now = crate::core::Clock::system().now();
        let later = now + Duration::days(30);
        store
            .write(move |c| {
                let a = insert_certificate(c, "7f01", b"a", 2, later);
                let b = insert_certificate(c, "7f02", b"b", 2, later);
                insert_certificate(c, "7f03", b"c", 3, later);
                let old = insert_certificate(c, "7f04", b"d", 2, now - Duration::days(8));
                let recent = insert_certificate(c, "7f05", b"e", 2, now - Duration::days(1));
                revoke(c, a, 1, now - Duration::hours(2))?;
                revoke(c, old, 4, now - Duration::days(20))?;
                revoke(c, recent, 0, now - Duration::days(20))?;
                let _ = b;
                Ok(())
            })
            .await
            .unwrap();

        let first = store
            .run(move |c| next_number_and_store(c, 2, now, fake_sign))
            .await
            .unwrap();
        // Expired more than EXPIRED_GRACE ago: gone; expired yesterday: kept.
        assert_eq!(first.der, b"crl 2 #2");
        assert!(first.number >= now.unix_timestamp() as u64);
        let entries = store
            .run(move |c| revoked_entries(c, 2, now))
            .await
            .unwrap();
        let serials: Vec<_> = entries.iter().map(|e| e.serial.clone()).collect();
        assert_eq!(serials, [vec![0x7f, 0x05], vec![0x7f, 0x01]]);
        assert_eq!(entries[1].reason, RevocationReason::KeyCompromise);
        assert_eq!(entries[0].reason, RevocationReason::Unspecified);

        // Regenerating in the same second still increments.
        let second = store
            .run(move |c| next_number_and_store(c, 2, now, fake_sign))
            .await
            .unwrap();
        assert_eq!(second.number, first.number + 1);
        let third = store
            .run(move |c| next_number_and_store(c, 2, now + Duration::seconds(1), fake_sign))
            .await
            .unwrap();
        assert_eq!(third.number, second.number + 1);

        let stored = store.run(move |c| latest(c, 2)).await.unwrap().unwrap();
        assert_eq!(stored, third);
        assert!(store.run(move |c| latest(c, 5)).await.unwrap().is_none());
    }

    /// Several writers (instances) at once: every CRL gets its own number,
    /// and the stored one carries the largest.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_generators_never_reuse_a_number() {
        let (_dir, store) = store();
        let now = crate::core::Clock::system().now();
        store
            .run(move |c| next_number_and_store(c, 0, now, fake_sign))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut numbers = Vec::new();
                for _ in 0..5 {
                    let crl = store
                        .run(move |c| {
                            next_number_and_store(
                                c,
                                0,
                                crate::core::Clock::system().now(),
                                fake_sign,
                            )
                        })
                        .await
                        .unwrap();
                    numbers.push(crl.number);
                }
                numbers
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            let numbers = t.await.unwrap();
            assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
            all.extend(numbers);
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 20);
        let stored = store.run(move |c| latest(c, 0)).await.unwrap().unwrap();
        assert_eq!(Some(&stored.number), all.last());
    }

    #[tokio::test]
    async fn failed_signing_stores_nothing_and_keeps_the_number() {
        let (_dir, store) = store();
        let now = crate::core::Clock::system().now();
        let first = store
            .run(move |c| next_number_and_store(c, 0, now, fake_sign))
            .await
            .unwrap();
        let err = store
            .run(move |c| {
                next_number_and_store(c, 0, now, |_| Err(Error::internal("signer broke")))
            })
            .await
            .unwrap_err();
        assert!(err.detail.contains("signer broke"));
        let stored = store.run(move |c| latest(c, 0)).await.unwrap().unwrap();
        assert_eq!(stored, first);
    }

    #[tokio::test]
    async fn regeneration_is_needed_when_missing_revoked_or_half_expired() {
        let (_dir, store) = store();
        let now = crate::core::Clock::system().now();
        let period = Duration::days(7);
        let need = move |store: &Store, at: OffsetDateTime| -> tokio::task::JoinHandle<Vec<u32>> {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .run(move |c| needing_regeneration(c, 3, at, period))
                    .await
                    .unwrap()
            })
        };
        assert_eq!(need(&store, now).await.unwrap(), [0, 1, 2]);

        for shard in 0..3 {
            store
                .run(move |c| next_number_and_store(c, shard, now, fake_sign))
                .await
                .unwrap();
        }
        assert!(need(&store, now).await.unwrap().is_empty());
        let almost_half = now + Duration::days(3);
        assert!(need(&store, almost_half).await.unwrap().is_empty());
        let half = now + Duration::hours(84);
        assert_eq!(need(&store, half).await.unwrap(), [0, 1, 2]);

        // A revocation in shard 1, and a certificate of an old shard 7.
        store
            .write(move |c| {
                let id = insert_certificate(c, "7f10", b"x", 1, now + Duration::days(9));
                revoke(c, id, 5, now)?;
                let id = insert_certificate(c, "7f11", b"y", 7, now + Duration::days(9));
                revoke(c, id, 5, now)?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(need(&store, now).await.unwrap(), [1, 7]);
        assert!(store.run(move |c| shard_exists(c, 7, 3)).await.unwrap());
        assert!(!store.run(move |c| shard_exists(c, 8, 3)).await.unwrap());
        assert!(store.run(move |c| shard_exists(c, 2, 3)).await.unwrap());
    }

    #[test]
    fn serials_decode_from_hex() {
        assert_eq!(decode_serial("7F00ff").unwrap(), [0x7f, 0, 0xff]);
        assert!(decode_serial("7f0").is_err());
        assert!(decode_serial("+f").is_err());
        assert!(decode_serial("").is_err());
    }
}
