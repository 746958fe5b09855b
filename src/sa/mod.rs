//! Storage authority: the only module that talks to the database.
//!
//! SQLite (bundled) is the embedded default; PostgreSQL is chosen by a
//! `postgres://` URL. The backend is picked from the URL scheme here, never
//! by diesel's `MultiConnection::establish`, which tries every backend in
//! turn and lets SQLite accept any string as a file name.
//!
//! This file is the `Store` API (how a call gets a connection); beside it:
//! `pool` (connections and their settings), `migrate` (schema history),
//! `errors` (database errors as the crate's), `timestamps` (times in rows),
//! `writer` (SQLite's group commit), and one file per table group.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use time::OffsetDateTime;

use crate::core::{Account, AccountId, Clock};
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::{Metrics, PoolState};

pub mod account_cache;
pub mod accounts;
pub mod applications;
pub mod audit;
pub mod certificate_search;
pub mod certificates;
pub mod crls;
pub mod customer_sessions;
pub mod customers;
pub mod eab;
mod errors;
pub mod evidence;
pub mod health;
pub mod invoices;
pub mod leases;
pub mod limits;
mod migrate;
pub mod models;
pub(crate) mod native;
pub mod nonces;
pub mod orders;
pub mod organizations;
pub mod outbox;
mod pool;
pub mod portal_orders;
pub mod precertificates;
#[cfg(test)]
mod query_plans;
pub mod schema;
pub mod seals;
pub mod staff;
pub mod staff_sessions;
mod timestamps;
mod writer;

pub(crate) use errors::corrupt;
pub use errors::{db_err, db_err_unless_unique, is_unique_violation};
use errors::{hide_unavailable, UNAVAILABLE_DETAIL};
pub use migrate::migrate;
pub use pool::{connect_postgres, Backend, DbConn};
use pool::{set_mode, Access, Manager, Pooled};
pub use timestamps::{from_db, to_db};

/// The handle every other module uses. Cheap to clone.
///
/// Calls say what they do: `read`, `run` (may write, autocommit or its
/// own `write_tx`), `write` (one transaction), `write_deferred`.
#[derive(Clone)]
pub struct Store {
    /// SQLite: the readers (`query_only`); PostgreSQL: every call.
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    /// The group-commit writer's one connection (a pool of one, so that a
    /// dead connection is replaced as in `pool`). SQLite admits one
    /// writer at a time: every write of this process goes to `writer`,
    /// which commits those arriving together at once (other processes
    /// sharing the file still meet `busy_timeout`). PostgreSQL: the
    /// deferred writes.
    write_pool: r2d2::Pool<Manager>,
    checkout_timeout: Duration,
    /// Bumped whenever a pooled connection turns out dead (a database
    /// restart, a cut network). Connections older than the current epoch
    /// get one round trip before their next use, so after an outage the
    /// pool sheds its dead connections without failing a request for each
    /// — while a healthy pool pays no round trip per checkout.
    epoch: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
    /// Set by `halt`: the writer refuses everything from then on.
    halted: Arc<std::sync::atomic::AtomicBool>,
    /// Permits for calls on blocking threads, as many as `pool` has
    /// connections.
    blocking: Arc<tokio::sync::Semaphore>,
    /// The group-commit thread (`writer`): every write on SQLite, the
    /// deferred ones (nonce redemptions, staff token use) on PostgreSQL.
    /// None in the writer's own copy of the store, so the thread ends with
    /// the last store.
    writer: Option<Arc<writer::Writer>>,
    /// Accounts by id (`account`, `change_account`).
    accounts: Arc<account_cache::AccountCache>,
    /// Nonce redemptions gathered into one statement (`redeem_nonce`).
    nonces: Arc<nonces::Batcher>,
    /// The time every caller of this store works in (`app` hands the same
    /// clock to every layer).
    clock: Clock,
}

impl Store {
    /// Opens the pool and applies pending migrations; on the system clock,
    /// with a metrics registry of its own (tests and tools).
    pub fn open(url: &str, pool_size: u32, checkout_timeout: Duration) -> Result<Store> {
        Store::open_with(
            url,
            pool_size,
            checkout_timeout,
            Clock::system(),
            Arc::default(),
        )
    }

    /// `open`, with the clock the store's users read and the process's
    /// metrics registry (both built by `app`), carried to every layer.
    pub fn open_with(
        url: &str,
        pool_size: u32,
        checkout_timeout: Duration,
        clock: Clock,
        metrics: Arc<Metrics>,
    ) -> Result<Store> {
        let backend = Backend::of_url(url);
        let epoch = Arc::new(AtomicU64::new(0));
        let (pool, write_pool) = pool::open(url, pool_size, checkout_timeout, &epoch)?;
        let accounts = match backend {
            Backend::Sqlite => Arc::new(account_cache::AccountCache::local()),
            Backend::Postgres => account_cache::AccountCache::shared(url).map_err(|e| {
                Error::internal(format!("starting the account change listener: {e}"))
            })?,
        };
        let mut store = Store {
            accounts,
            pool,
            backend,
            write_pool,
            halted: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            blocking: Arc::new(tokio::sync::Semaphore::new(pool_size.max(1) as usize)),
            checkout_timeout,
            epoch,
            metrics,
            writer: None,
            nonces: Arc::default(),
            clock,
        };
        store.writer = Some(Arc::new(writer::Writer::start(store.clone())?));
        Ok(store)
    }

    /// Records a nonce as used; false if it was used before. For the
    /// shared ledger of several instances (`wfe::nonce`; SQLite's one
    /// process keeps its own in memory). Every POST redeems one, so
    /// redemptions are most of the writes. Those that arrive while a batch
    /// is written are written next, together, in one statement
    /// (`nonces::redeem_all`); they are deferred writes (a request that
    /// changes anything commits again, synced, after its nonce).
    pub async fn redeem_nonce(&self, nonce: &str, expires_at: OffsetDateTime) -> Result<bool> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        if self.nonces.add((nonce.to_owned(), expires_at, answer)) {
            // A task of its own, not this request's: a request dropped by
            // its client must not leave the others' batch unwritten.
            let store = self.clone();
            tokio::spawn(async move { store.write_nonce_batches().await });
        }
        answered
            .await
            .map_err(|_| Error::internal("a nonce redemption was dropped unanswered"))?
    }

    /// Writes the gathered redemptions, batch after batch, until none wait.
    async fn write_nonce_batches(&self) {
        /// Hands the batcher back if this task ends early.
        struct Running<'a>(Option<&'a nonces::Batcher>);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                if let Some(batcher) = self.0 {
                    batcher.abandon();
                }
            }
        }
        let mut running = Running(Some(&self.nonces));
        let kind = writer::JobKind {
            synced: false,
            // One statement that ignores conflicts: nothing of its own to undo.
            savepoint: false,
        };
        while let Some(batch) = self.nonces.next() {
            let (nonces, answers): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|(n, e, a)| ((n, e), a)).unzip();
            let written = match self.writer() {
                Ok(w) => {
                    w.submit(kind, move |c| nonces::redeem_all(c, &nonces))
                        .await
                }
                Err(e) => Err(e),
            };
            match written {
                Ok(fresh) => {
                    for (answer, fresh) in answers.into_iter().zip(fresh) {
                        let _ = answer.send(Ok(fresh));
                    }
                }
                Err(e) => {
                    for answer in answers {
                        let _ = answer.send(Err(e.clone()));
                    }
                }
            }
        }
        // `next` said none wait and a new task will be started for more.
        running.0 = None;
    }

    /// The account `id`, from the cache when it holds it (see
    /// `account_cache`).
    pub async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        let at = match self.accounts.get(id) {
            account_cache::Lookup::Hit(a) => {
                self.metrics.account_lookup(true);
                return Ok(Some(a));
            }
            account_cache::Lookup::Miss(at) => at,
        };
        self.metrics.account_lookup(false);
        let stored = self.read(move |c| accounts::by_id(c, id)).await?;
        if let Some(a) = &stored {
            self.accounts.put(at, a);
        }
        Ok(stored)
    }

    /// Changes account `id` (its key, status or contact) in one
    /// transaction that also tells the other instances (on PostgreSQL),
    /// and drops it from this instance's cache once committed. Every
    /// change to an account goes through here.
    pub async fn change_account<T, F>(&self, id: AccountId, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        let result = self
            .write(move |c| {
                let v = f(c)?;
                accounts::announce_change(c, id)?;
                Ok(v)
            })
            .await;
        // Also after a failure: the commit may have happened before the
        // connection failed.
        self.accounts.changed(id);
        result
    }

    /// As `change_account`, for every account `f` returns as changed (the
    /// accounts bound through a revoked EAB credential, say). After a
    /// failure nobody knows which: the whole cache is dropped.
    pub async fn change_accounts<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<(T, Vec<AccountId>)> + Send + 'static,
    {
        let result = self
            .write(move |c| {
                let (v, ids) = f(c)?;
                for id in &ids {
                    accounts::announce_change(c, *id)?;
                }
                Ok((v, ids))
            })
            .await;
        match result {
            Ok((v, ids)) => {
                ids.into_iter().for_each(|id| self.accounts.changed(id));
                Ok(v)
            }
            Err(e) => {
                self.accounts.clear();
                Err(e)
            }
        }
    }

    /// Stops the group-commit writer for good, as the death of the
    /// process would: every write not yet committed, and every later one,
    /// is refused. For tests that stand in for a killed instance inside
    /// one process (`app::Running::halt_writes`).
    pub fn halt(&self) {
        self.halted.store(true, Ordering::Release);
    }

    fn writer(&self) -> Result<&writer::Writer> {
        self.writer
            .as_deref()
            .ok_or_else(|| Error::internal("the writer's own store cannot submit writes"))
    }

    /// This process's metrics registry (it travels with the store because
    /// every layer already holds one).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The clock this store was opened with.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool's connections now, for the metrics page.
    pub fn pool_state(&self) -> PoolState {
        let s = self.pool.state();
        PoolState {
            connections: s.connections,
            idle: s.idle_connections,
            max: self.pool.max_size(),
        }
    }

    /// Reads: on a blocking thread, or on SQLite right here when a
    /// connection is idle (see `call`). When the database is away the
    /// error is `Unavailable` (503 with Retry-After) with a fixed detail;
    /// the cause is logged here, inside the caller's span.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        self.call(Access::Read, self.checkout_timeout, f).await
    }

    /// Work that may write: single statements in autocommit, or its own
    /// `write_tx`. On SQLite it runs in this process's writer turn.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        self.call(Access::Write, self.checkout_timeout, f).await
    }

    /// Like `run`, inside one write transaction.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        match self.backend {
            // The writer runs every job in a savepoint of its own, which
            // undoes the job's writes if it fails: all that a transaction
            // of its own would give it, without a second savepoint.
            Backend::Sqlite => self.run(f).await,
            Backend::Postgres => self.run(move |c| write_tx(c, f)).await,
        }
    }

    /// Like `run`, but the commits are not waited onto the disk: after a
    /// power loss (not a process crash) they may be missing, unless a
    /// later synced commit — of any connection — followed them, because
    /// both backends' logs are written in order. Only for records whose
    /// loss is harmless: a redeemed nonce (its request changed nothing if
    /// no synced commit followed it), a staff token's last use (a time
    /// shown to staff, not a decision). SQLite commits them with
    /// `synchronous=NORMAL`, PostgreSQL with `synchronous_commit = off`.
    pub async fn write_deferred<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        self.call(Access::WriteDeferred, self.checkout_timeout, f)
            .await
    }

    /// A round trip that reads a table, answered within about `timeout`
    /// (for readiness probes; the request path waits `checkout_timeout`).
    pub async fn ping(&self, timeout: Duration) -> Result<()> {
        let probe = self.call(Access::Read, timeout, |c| {
            schema::server_secrets::table
                .count()
                .get_result::<i64>(c)
                .map(|_| ())
                .map_err(db_err)
        });
        // A little longer than the checkout may wait, so that a pool that
        // found no connection reports why; this bounds a hung query.
        match tokio::time::timeout(timeout + Duration::from_millis(250), probe).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(
                    timeout_ms = timeout.as_millis() as u64,
                    "database did not answer"
                );
                Err(Error::unavailable(UNAVAILABLE_DETAIL))
            }
        }
    }

    async fn call<T, F>(&self, access: Access, checkout_timeout: Duration, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        // A SQLite read runs right here when a connection is idle: it is a
        // few indexed lookups in this process's page cache (tens of µs,
        // `query_plans` keeps every one indexed) and WAL readers never
        // wait for a lock, while handing it to a blocking thread and back
        // costs two context switches — most of the server's kernel time
        // before. Without an idle connection it waits on a blocking thread
        // like everything else; PostgreSQL always does (a network trip).
        // SQLite's writes and both backends' deferred writes go to the
        // group-commit writer.
        let result = match (access, self.backend) {
            (Access::Read, Backend::Sqlite) => match self
                .pool
                .try_get()
                .filter(|p| p.epoch == self.epoch.load(Ordering::Acquire))
            {
                Some(pooled) => {
                    self.metrics.pool_wait(Duration::ZERO);
                    self.call_on(pooled, access, f)
                }
                None => {
                    self.call_on_blocking_thread(access, checkout_timeout, f)
                        .await
                }
            },
            (Access::Write, Backend::Sqlite) | (Access::WriteDeferred, _) => {
                let kind = writer::JobKind {
                    synced: access == Access::Write,
                    savepoint: true,
                };
                // Already logged and hidden by the writer.
                return self.writer()?.submit(kind, f).await;
            }
            (Access::Read | Access::Write, Backend::Postgres) => {
                self.call_on_blocking_thread(access, checkout_timeout, f)
                    .await
            }
        };
        result.map_err(hide_unavailable)
    }

    async fn call_on_blocking_thread<T, F>(
        &self,
        access: Access,
        checkout_timeout: Duration,
        f: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        // One blocking thread per pooled connection at most: a call beyond
        // that waits here, without a thread of its own (each parked thread
        // kept its stack and allocator caches: 130 MB at C = 128 on
        // PostgreSQL, where every call takes this path).
        let started = Instant::now();
        let permit =
            match tokio::time::timeout(checkout_timeout, self.blocking.clone().acquire_owned())
                .await
            {
                Ok(Ok(permit)) => permit,
                _ => {
                    return Err(self.no_connection(
                        started.elapsed(),
                        format!("no database connection within {checkout_timeout:?}"),
                    ))
                }
            };
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = this.checkout(&this.pool, checkout_timeout, started)?;
            this.call_on(pooled, access, f)
        })
        .await
        .map_err(|e| Error::internal(format!("database task failed: {e}")))?
    }

    fn call_on<T>(
        &self,
        mut pooled: r2d2::PooledConnection<Manager>,
        access: Access,
        f: impl FnOnce(&mut DbConn) -> Result<T>,
    ) -> Result<T> {
        let result = set_mode(&mut pooled, access).and_then(|()| f(&mut pooled.conn));
        if let Err(e) = &result {
            self.check_connection(&mut pooled, e);
        }
        result
    }

    /// After `e`: connection trouble, or only a lock? A round trip tells;
    /// only on this error path, so the healthy path pays nothing. A dead
    /// connection is dropped and the others marked suspect.
    fn check_connection(&self, pooled: &mut Pooled, e: &Error) {
        if e.kind == ErrorKind::Unavailable && pooled.conn.batch_execute("SELECT 1").is_err() {
            pooled.broken = true;
            self.epoch.fetch_add(1, Ordering::AcqRel);
            self.metrics.connection_discarded();
        }
    }

    /// A call that waited `waited` got no connection in time (pool,
    /// blocking-thread permit or writer queue): counted, and a 503.
    fn no_connection(&self, waited: Duration, why: String) -> Error {
        self.metrics.pool_wait(waited);
        self.metrics.pool_timeout();
        Error::unavailable(why)
    }

    /// A pooled connection that works, within `timeout`. One older than
    /// the current epoch is checked first; a dead one is dropped (the pool
    /// opens a replacement) and the next is tried.
    fn checkout(
        &self,
        pool: &r2d2::Pool<Manager>,
        timeout: Duration,
        started: Instant,
    ) -> Result<r2d2::PooledConnection<Manager>> {
        let deadline = started + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pooled = match pool.get_timeout(left) {
                Ok(p) => p,
                Err(e) => {
                    return Err(self.no_connection(
                        started.elapsed(),
                        format!("no database connection within {timeout:?}: {e}"),
                    ))
                }
            };
            let epoch = self.epoch.load(Ordering::Acquire);
            if pooled.epoch == epoch || pooled.conn.batch_execute("SELECT 1").is_ok() {
                pooled.epoch = epoch;
                self.metrics.pool_wait(started.elapsed());
                return Ok(pooled);
            }
            pooled.broken = true;
            self.metrics.connection_discarded();
        }
    }
}

/// Rows in `used_nonces`, for the `trustgate_nonces_used` gauge. A full
/// count: call it rarely (the prune task does, every ten minutes).
pub fn used_nonce_count(conn: &mut DbConn) -> Result<i64> {
    Ok(schema::used_nonces::table.count().get_result(conn)?)
}

/// A write transaction. On SQLite it starts with `BEGIN IMMEDIATE` so that
/// a transaction that reads before it writes waits for the write lock up
/// front instead of failing with SQLITE_BUSY when it upgrades.
///
/// Inside a transaction already (every write on SQLite runs in a batch of
/// the group-commit writer) it is a savepoint: its failure undoes its own
/// writes only.
pub fn write_tx<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T>) -> Result<T> {
    if writer::in_transaction(conn)?.is_some() {
        return conn.transaction(|c| f(c));
    }
    match conn {
        DbConn::Sqlite(_) => {
            conn.batch_execute("BEGIN IMMEDIATE").map_err(db_err)?;
            match f(conn) {
                Ok(v) => {
                    if let Err(e) = conn.batch_execute("COMMIT") {
                        let _ = conn.batch_execute("ROLLBACK");
                        return Err(db_err(e));
                    }
                    Ok(v)
                }
                Err(e) => {
                    // The error being returned matters more than a failed
                    // rollback, which SQLite performs anyway on close.
                    let _ = conn.batch_execute("ROLLBACK");
                    Err(e)
                }
            }
        }
        DbConn::Pg(_) => conn.transaction(|c| f(c)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sqlite_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("db.sqlite").display().to_string();
        let store = Store::open(&url, 2, Duration::from_secs(5)).unwrap();
        (dir, store)
    }

    fn pragma(c: &mut DbConn, name: &str) -> Result<i32> {
        #[derive(QueryableByName)]
        struct Value {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            v: i32,
        }
        let rows: Vec<Value> =
            diesel::sql_query(format!("SELECT {name} AS v FROM pragma_{name}")).load(c)?;
        Ok(rows[0].v)
    }

    /// `read` lends a query-only connection: a write slipped into one
    /// fails (in tests, not as a race in production) and changes nothing.
    #[tokio::test]
    async fn a_write_inside_read_is_refused() {
        let (_dir, store) = sqlite_store();
        let expires = Clock::system().now() + time::Duration::minutes(5);
        let err = store
            .read(move |c| nonces::redeem(c, "n", expires))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::ServerInternal, "{}", err.detail);
        assert!(store.read(used_nonce_count).await.unwrap() == 0);
        assert!(store
            .run(move |c| nonces::redeem(c, "n", expires))
            .await
            .unwrap());
        assert!(!store
            .write_deferred(move |c| nonces::redeem(c, "n", expires))
            .await
            .unwrap());
    }

    /// Each call gets the mode it asked for, whatever the connection did
    /// before: a deferred write must not leave a connection whose next
    /// write skips the sync.
    #[tokio::test]
    async fn connections_are_in_the_mode_each_call_needs() {
        let (_dir, store) = sqlite_store();
        for _ in 0..3 {
            let deferred = store
                .write_deferred(|c| pragma(c, "synchronous"))
                .await
                .unwrap();
            assert_eq!(deferred, 1, "NORMAL inside write_deferred");
            let synced = store.run(|c| pragma(c, "synchronous")).await.unwrap();
            assert_eq!(synced, 2, "FULL inside run");
            let synced = store.write(|c| pragma(c, "synchronous")).await.unwrap();
            assert_eq!(synced, 2, "FULL inside write");
            assert_eq!(store.read(|c| pragma(c, "query_only")).await.unwrap(), 1);
            assert_eq!(store.run(|c| pragma(c, "query_only")).await.unwrap(), 0);
        }
    }

    /// SQLite's temporary files (the writer's savepoint sub-journal) stay
    /// in memory on every connection, readers' and the writer's alike:
    /// no copies of database pages in /var/tmp.
    #[tokio::test]
    async fn temporary_files_stay_in_memory() {
        let (_dir, store) = sqlite_store();
        const MEMORY: i32 = 2;
        let read = store.read(|c| pragma(c, "temp_store")).await.unwrap();
        let write = store.write(|c| pragma(c, "temp_store")).await.unwrap();
        let run = store.run(|c| pragma(c, "temp_store")).await.unwrap();
        assert_eq!([read, write, run], [MEMORY; 3], "read, write, run");
    }

    /// Many writers at once (more than the pool has connections) all get
    /// their turn, and every write lands once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_take_turns() {
        let (_dir, store) = sqlite_store();
        let expires = Clock::system().now() + time::Duration::minutes(5);
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..24 {
            let store = store.clone();
            tasks.spawn(async move {
                for i in 0..20 {
                    let n = format!("{t}-{i}");
                    let fresh = if i % 2 == 0 {
                        store.run(move |c| nonces::redeem(c, &n, expires)).await
                    } else {
                        store
                            .write_deferred(move |c| nonces::redeem(c, &n, expires))
                            .await
                    };
                    assert!(fresh.unwrap());
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert_eq!(store.read(used_nonce_count).await.unwrap(), 24 * 20);
    }

    /// Redemptions arriving together share a statement, and still each
    /// nonce is fresh exactly once — also within one batch. On both
    /// backends (PostgreSQL, whose instances share the ledger, with
    /// TEST_DATABASE_URL).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_nonce_is_fresh_once_however_many_redeem_it_at_once() {
        let (_db, store) = crls::testing::store();
        let expires = Clock::system().now() + time::Duration::minutes(5);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let store = store.clone();
            let nonce = if i % 2 == 0 {
                "same".to_owned()
            } else {
                format!("n{i}")
            };
            tasks.spawn(async move { (nonce.clone(), store.redeem_nonce(&nonce, expires).await) });
        }
        let (mut same_fresh, mut other_fresh) = (0, 0);
        while let Some(done) = tasks.join_next().await {
            let (nonce, fresh) = done.unwrap();
            match (nonce.as_str(), fresh.unwrap()) {
                ("same", true) => same_fresh += 1,
                (_, true) => other_fresh += 1,
                _ => {}
            }
        }
        assert_eq!((same_fresh, other_fresh), (1, 100));
        assert!(!store.redeem_nonce("n1", expires).await.unwrap());
        assert_eq!(store.read(used_nonce_count).await.unwrap(), 101);
    }
}
