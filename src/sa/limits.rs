//! Rate-limit storage (`ra::limits` decides): staff overrides per
//! organization, the pending authorizations an account holds, and the GCRA
//! buckets — one theoretical arrival time (TAT, microseconds since the
//! epoch) per key.
//!
//! On PostgreSQL the buckets are rows every instance shares. An update
//! writes the TAT it decided on only if the row still holds the TAT it
//! decided from (one statement, usually with a TAT read beforehand with the
//! account's limits); if another instance moved it meanwhile, it decides
//! again in a transaction holding the row's lock. On SQLite, one process
//! by design, the buckets live in that process.

use std::collections::HashMap;
use std::sync::Mutex;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use time::OffsetDateTime;

use super::native::{fixed, native, Fixed};
use super::schema::{accounts, authorizations, eab_credentials, limit_overrides};
use super::{to_db, write_tx, Backend, DbConn, Store};
use crate::core::{AccountId, AuthorizationStatus, OrganizationId};
use crate::error::{Error, Result};

/// One overridden limit of an organization; `period_secs` is 0 for a
/// limit that is a count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub name: String,
    pub count: u64,
    pub period_secs: u64,
}

/// The organization's overrides.
pub fn overrides(conn: &mut DbConn, org: OrganizationId) -> Result<Vec<Override>> {
    let rows: Vec<(String, i64, i64)> = limit_overrides::table
        .filter(limit_overrides::organization_id.eq(org.0))
        .select((
            limit_overrides::name,
            limit_overrides::limit_count,
            limit_overrides::period_secs,
        ))
        .order(limit_overrides::name.asc())
        .load(conn)?;
    Ok(rows.into_iter().map(to_override).collect())
}

fn to_override((name, count, period): (String, i64, i64)) -> Override {
    Override {
        name,
        count: count.max(0) as u64,
        period_secs: period.max(0) as u64,
    }
}

/// What the account's limits depend on: its organization (through its
/// EAB credential) and that organization's overrides, in one statement
/// (newOrder and finalize ask it each time).
pub fn account_limits(
    conn: &mut DbConn,
    account: AccountId,
) -> Result<(Option<OrganizationId>, Vec<Override>)> {
    type Row = (i64, Option<String>, Option<i64>, Option<i64>);
    let rows: Vec<Row> = native!(conn, |c| accounts::table
        .inner_join(eab_credentials::table)
        .left_join(
            limit_overrides::table
                .on(limit_overrides::organization_id.eq(eab_credentials::organization_id)),
        )
        .filter(accounts::id.eq(account.0))
        .select((
            eab_credentials::organization_id,
            limit_overrides::name.nullable(),
            limit_overrides::limit_count.nullable(),
            limit_overrides::period_secs.nullable(),
        ))
        .order(limit_overrides::name.asc())
        .load(c))?;
    let org = rows.first().map(|r| OrganizationId(r.0));
    let overrides = rows
        .into_iter()
        .filter_map(|(_, name, count, period)| Some((name?, count?, period?)))
        .map(to_override)
        .collect();
    Ok((org, overrides))
}

/// The authorizations the account holds pending and unexpired at `now`.
pub fn pending_authorizations(
    conn: &mut DbConn,
    account: AccountId,
    now: OffsetDateTime,
) -> Result<u64> {
    let pending: i64 = native!(conn, |c| authorizations::table
        .filter(authorizations::account_id.eq(account.0))
        .filter(authorizations::status.eq(AuthorizationStatus::Pending.as_str()))
        .filter(authorizations::expires_at.gt(to_db(now)))
        .count()
        .get_result(c))?;
    Ok(pending.max(0) as u64)
}

/// Replaces the organization's overrides with `rows` (in the caller's
/// transaction, with its audit event).
pub fn replace_overrides(conn: &mut DbConn, org: OrganizationId, rows: &[Override]) -> Result<()> {
    diesel::delete(limit_overrides::table.filter(limit_overrides::organization_id.eq(org.0)))
        .execute(conn)?;
    for r in rows {
        diesel::insert_into(limit_overrides::table)
            .values((
                limit_overrides::organization_id.eq(org.0),
                limit_overrides::name.eq(&r.name),
                limit_overrides::limit_count.eq(r.count as i64),
                limit_overrides::period_secs.eq(r.period_secs as i64),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Where the buckets are: shared rows (PostgreSQL) or this process.
pub enum Buckets {
    Shared,
    Local(Mutex<Local>),
}

/// A process's buckets. Keys whose TAT has passed are as good as absent,
/// so they are dropped whenever the map has doubled since the last sweep.
#[derive(Default)]
pub struct Local {
    tats: HashMap<String, i64>,
    prune_at: usize,
}

/// The map size that first triggers a sweep of passed keys.
const LOCAL_PRUNE_MIN: usize = 4096;

impl Buckets {
    /// Shared on PostgreSQL, in the process on SQLite.
    pub fn for_backend(backend: Backend) -> Buckets {
        match backend {
            Backend::Postgres => Buckets::Shared,
            Backend::Sqlite => Buckets::local(),
        }
    }

    pub fn local() -> Buckets {
        Buckets::Local(Mutex::default())
    }

    /// Whether the buckets are shared rows, whose TATs a caller may read
    /// ahead with `shared_tats` in a call it makes anyway.
    pub fn is_shared(&self) -> bool {
        matches!(self, Buckets::Shared)
    }

    /// Reads the TAT of `key` (`None`: no bucket), has `decide` return the
    /// TAT to store (`None`: leave it) and its answer, and stores it — the
    /// read and the write atomic with respect to every other update of
    /// `key`, on every instance. `known` is the shared bucket's TAT if the
    /// caller read it already (`shared_tats`): when nobody moved the bucket
    /// since, the update is one statement. `decide` may be asked twice.
    pub async fn update<T, F>(
        &self,
        store: &Store,
        key: String,
        now: i64,
        known: Option<Option<i64>>,
        decide: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(Option<i64>) -> (Option<i64>, T) + Send + 'static,
    {
        match self {
            Buckets::Local(m) => Ok(update_local(m, key, now, decide)),
            Buckets::Shared => {
                store
                    .run(move |c| update_shared(c, &key, known, decide))
                    .await
            }
        }
    }

    /// The TAT of `key`, if it has a bucket.
    pub async fn peek(&self, store: &Store, key: String) -> Result<Option<i64>> {
        match self {
            Buckets::Local(m) => Ok(lock(m).tats.get(&key).copied()),
            Buckets::Shared => store.read(move |c| peek_shared(c, &key)).await,
        }
    }

    /// `update` for the in-process buckets only (no database, no await):
    /// the per-request limit.
    pub fn update_local<T>(
        &self,
        key: String,
        now: i64,
        decide: impl FnOnce(Option<i64>) -> (Option<i64>, T),
    ) -> Option<T> {
        match self {
            Buckets::Local(m) => Some(update_local(m, key, now, decide)),
            Buckets::Shared => None,
        }
    }
}

fn lock(m: &Mutex<Local>) -> std::sync::MutexGuard<'_, Local> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn update_local<T>(
    m: &Mutex<Local>,
    key: String,
    now: i64,
    decide: impl FnOnce(Option<i64>) -> (Option<i64>, T),
) -> T {
    let mut local = lock(m);
    let (tat, out) = decide(local.tats.get(&key).copied());
    if let Some(tat) = tat {
        local.tats.insert(key, tat);
        if local.tats.len() >= local.prune_at.max(LOCAL_PRUNE_MIN) {
            local.tats.retain(|_, t| *t > now);
            local.prune_at = 2 * local.tats.len();
        }
    }
    out
}

#[derive(QueryableByName)]
struct Tat {
    #[diesel(sql_type = BigInt)]
    tat: i64,
}

#[derive(QueryableByName)]
struct KeyTat {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    tat: i64,
}

/// The shared buckets' TATs of `keys`, in their order (`None`: no row),
/// in one statement.
pub fn shared_tats(conn: &mut DbConn, keys: &[String]) -> Result<Vec<Option<i64>>> {
    let DbConn::Pg(c) = conn else {
        return Err(Error::internal("shared rate-limit buckets need PostgreSQL"));
    };
    let rows: Vec<KeyTat> = fixed("SELECT key, tat FROM rate_limit_buckets WHERE key = ANY(")
        .bind::<Array<Text>, _>(keys)
        .sql(")")
        .load(c)?;
    Ok(keys
        .iter()
        .map(|k| rows.iter().find(|r| &r.key == k).map(|r| r.tat))
        .collect())
}

/// Decides from the bucket's TAT (`known`, else read now) and writes the
/// decision only if the row still holds that TAT. When another update got
/// there first, decides again holding the row's lock: one round trip in
/// the usual case, and progress under contention.
fn update_shared<T>(
    conn: &mut DbConn,
    key: &str,
    known: Option<Option<i64>>,
    decide: impl Fn(Option<i64>) -> (Option<i64>, T),
) -> Result<T> {
    let tat = match known {
        Some(tat) => tat,
        None => peek_shared(conn, key)?,
    };
    let (next, out) = decide(tat);
    match next.filter(|n| Some(*n) != tat) {
        None => return Ok(out),
        Some(next) if swap_shared(conn, key, tat, next)? => return Ok(out),
        Some(_) => {}
    }
    write_tx(conn, |c| update_locked(c, key, decide))
}

/// Stores `next` if the bucket's TAT is still `seen` (`None`: no row).
/// A row pruned since was in the past, as good as none: it is written.
fn swap_shared(conn: &mut DbConn, key: &str, seen: Option<i64>, next: i64) -> Result<bool> {
    let DbConn::Pg(c) = conn else {
        return Err(Error::internal("shared rate-limit buckets need PostgreSQL"));
    };
    let written = match seen {
        None => fixed("INSERT INTO rate_limit_buckets (key, tat) VALUES (")
            .bind::<Text, _>(key)
            .sql(", ")
            .bind::<BigInt, _>(next)
            .sql(") ON CONFLICT (key) DO NOTHING")
            .execute(c)?,
        Some(seen) => fixed("INSERT INTO rate_limit_buckets (key, tat) VALUES (")
            .bind::<Text, _>(key)
            .sql(", ")
            .bind::<BigInt, _>(next)
            .sql(") ON CONFLICT (key) DO UPDATE SET tat = EXCLUDED.tat")
            .sql(" WHERE rate_limit_buckets.tat = ")
            .bind::<BigInt, _>(seen)
            .execute(c)?,
    };
    Ok(written == 1)
}

/// Inside the caller's transaction: the upsert takes the row's lock (a
/// new row starts at 0, a time long passed), so concurrent updates of the
/// same key on any instance wait for this one's commit.
fn update_locked<T>(
    conn: &mut DbConn,
    key: &str,
    decide: impl FnOnce(Option<i64>) -> (Option<i64>, T),
) -> Result<T> {
    let DbConn::Pg(c) = conn else {
        return Err(Error::internal("shared rate-limit buckets need PostgreSQL"));
    };
    let row: Tat = fixed("INSERT INTO rate_limit_buckets (key, tat) VALUES (")
        .bind::<Text, _>(key)
        .sql(", 0) ON CONFLICT (key) DO UPDATE SET tat = rate_limit_buckets.tat RETURNING tat")
        .get_result(c)?;
    let (tat, out) = decide(Some(row.tat));
    if let Some(tat) = tat.filter(|t| *t != row.tat) {
        fixed("UPDATE rate_limit_buckets SET tat = ")
            .bind::<BigInt, _>(tat)
            .sql(" WHERE key = ")
            .bind::<Text, _>(key)
            .execute(c)?;
    }
    Ok(out)
}

fn peek_shared(conn: &mut DbConn, key: &str) -> Result<Option<i64>> {
    let DbConn::Pg(c) = conn else {
        return Err(Error::internal("shared rate-limit buckets need PostgreSQL"));
    };
    Ok(fixed("SELECT tat FROM rate_limit_buckets WHERE key = ")
        .bind::<Text, _>(key)
        .get_result::<Tat>(c)
        .optional()?
        .map(|t| t.tat))
}

/// Drops shared buckets whose TAT passed before `before` (as good as
/// absent); the stale sweep calls it. Nothing to do on SQLite.
pub fn prune(conn: &mut DbConn, before: i64) -> Result<usize> {
    let DbConn::Pg(c) = conn else {
        return Ok(0);
    };
    Ok(fixed("DELETE FROM rate_limit_buckets WHERE tat < ")
        .bind::<BigInt, _>(before)
        .execute(c)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spend of one: the next TAT is one second after the later of the
    /// stored one and now, refused past `max`.
    fn spend(max: i64) -> impl Fn(Option<i64>) -> (Option<i64>, bool) + Send + 'static {
        move |tat| {
            let next = tat.unwrap_or(0).max(1_000) + 1_000_000;
            if next > max {
                (None, false)
            } else {
                (Some(next), true)
            }
        }
    }

    #[tokio::test]
    async fn local_buckets_keep_their_tat_and_prune_passed_keys() {
        let b = Buckets::local();
        assert_eq!(
            b.update_local("k".into(), 1_000, spend(3_000_000)),
            Some(true)
        );
        assert_eq!(
            b.update_local("k".into(), 1_000, spend(3_000_000)),
            Some(true)
        );
        assert_eq!(
            b.update_local("k".into(), 1_000, spend(3_000_000)),
            Some(false)
        );
        let Buckets::Local(m) = &b else { panic!() };
        assert_eq!(lock(m).tats["k"], 2_001_000);
        for i in 0..LOCAL_PRUNE_MIN {
            b.update_local(format!("old{i}"), 0, |_| (Some(-1), ()));
        }
        // The sweep ran at the threshold: only keys still ahead of now stay.
        let left = lock(m).tats.len();
        assert!(left < LOCAL_PRUNE_MIN, "{left}");
        assert!(lock(m).tats.contains_key("k"));
    }

    /// Two instances on one database spend from one bucket: of 40 spends
    /// at once, through either, exactly the 10 that fit succeed, whether
    /// they read the TAT themselves or pass one read before the others
    /// wrote. On PostgreSQL each instance has its own `Buckets` and they
    /// share the rows; SQLite is one process with one `Buckets`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_spend_from_one_bucket() {
        use std::sync::Arc;
        let (db, first) = crate::sa::crls::testing::store();
        let second = Store::open(&db.url, 4, std::time::Duration::from_secs(10)).unwrap();
        let a = Arc::new(Buckets::for_backend(first.backend()));
        let b = if db.is_postgres() {
            Arc::new(Buckets::for_backend(second.backend()))
        } else {
            a.clone()
        };
        assert_eq!(db.is_postgres(), matches!(*a, Buckets::Shared));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..40 {
            let (buckets, store) = if i % 2 == 0 {
                (a.clone(), first.clone())
            } else {
                (b.clone(), second.clone())
            };
            // A quarter pass "no row yet", soon stale.
            let known = (i % 4 == 1).then_some(None);
            tasks.spawn(async move {
                buckets
                    .update(&store, "k".into(), 1_000, known, spend(10_001_000))
                    .await
            });
        }
        let mut allowed = 0;
        while let Some(done) = tasks.join_next().await {
            allowed += usize::from(done.unwrap().unwrap());
        }
        assert_eq!(allowed, 10);
        for (buckets, store) in [(&a, &first), (&b, &second)] {
            let tat = buckets.peek(store, "k".into()).await.unwrap();
            assert_eq!(tat, Some(10_001_000));
        }
        assert_eq!(a.peek(&first, "other".into()).await.unwrap(), None);
        if db.is_postgres() {
            let keys = vec!["other".to_owned(), "k".to_owned()];
            let tats = first.read(move |c| shared_tats(c, &keys)).await.unwrap();
            assert_eq!(tats, [None, Some(10_001_000)]);
            // A TAT the row no longer holds is not written over: the
            // update decides again from the row.
            let decided_from = b
                .update(&second, "k".into(), 1_000, Some(Some(1_000)), |tat| {
                    (tat.map(|t| t + 1), tat)
                })
                .await
                .unwrap();
            assert_eq!(decided_from, Some(10_001_000));
            let tat = a.peek(&first, "k".into()).await.unwrap();
            assert_eq!(tat, Some(10_001_001));
            let pruned = first.run(|c| prune(c, 20_000_000)).await.unwrap();
            assert_eq!(pruned, 1);
            assert_eq!(a.peek(&second, "k".into()).await.unwrap(), None);
        }
    }
}
