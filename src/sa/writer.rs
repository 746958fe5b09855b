//! Group commit: one thread runs the writes that arrive together in one
//! transaction and commits them once.
//!
//! SQLite admits one writer at a time, and with `synchronous=FULL` every
//! commit waits for an `fsync` of the log (≈ 0.3 ms here). Committed one
//! by one, a loaded server's writes queued behind each other's syncs; here
//! a write that arrives while a synced batch runs joins it until its
//! `COMMIT`, those that arrive during the commit make the next batch, and
//! a batch costs one `BEGIN`, one `COMMIT` and one sync however many
//! requests it serves. A write that arrives alone is committed alone, at
//! once.
//!
//! Each job runs in a savepoint of its own, so a job that fails undoes its
//! own writes only and the rest of the batch commits. The transaction's
//! first job needs none (a savepoint copies every page it changes): the
//! transaction undoes it, and a new one begins for the jobs after it.
//! Nobody is answered before the batch's commit: a caller learns its write
//! is done only once it is durable, exactly as if it had committed alone.
//!
//! On SQLite every write goes through here. On PostgreSQL, where writers
//! need not take turns, only the deferred ones do (nonce redemptions,
//! which are most of the writes, and staff token use), on a connection
//! opened with `synchronous_commit = off`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Instant;

use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};
use tokio::sync::oneshot;

use super::{hide_unavailable, Access, DbConn, Pooled, Store};
use crate::error::{Error, ErrorKind, Result};

/// Most jobs one transaction takes: a bound on how long the first job of
/// a batch waits for the last.
const MAX_BATCH: usize = 64;

pub(super) struct Writer {
    queue: mpsc::Sender<Job>,
}

/// How a job wants to be run.
#[derive(Debug, Clone, Copy)]
pub(super) struct JobKind {
    /// The batch's commit must reach the disk before this job is reported
    /// done (else it is deferred, as `Store::write_deferred` describes).
    pub synced: bool,
    /// Run inside a savepoint. Only a single statement whose failure means
    /// the database itself failed (a nonce insert that ignores conflicts)
    /// may go without: it has nothing of its own to undo.
    pub savepoint: bool,
}

struct Job {
    kind: JobKind,
    queued: Instant,
    /// Runs the caller's work on the connection and keeps its result
    /// until the commit; with no connection, only makes the answer (the
    /// job is refused without running).
    work: Work,
}

type Work = Box<dyn FnOnce(Option<&mut DbConn>) -> Ran + Send>;

/// Tells a caller its result, or (`Some`) the error that kept its batch
/// from committing.
type Answer = Box<dyn FnOnce(Option<&Error>) + Send>;

impl Job {
    /// Answers the job with `e` without running it.
    fn refuse(self, e: &Error) {
        ((self.work)(None).answer)(Some(e));
    }
}

/// A job that has run: whether its writes stand, and how to answer its
/// caller once the batch's fate is known (`Some` error: it did not commit).
struct Ran {
    /// Its own error, if it failed (its writes are undone).
    error: Option<Error>,
    panicked: bool,
    answer: Answer,
}

impl Writer {
    /// Starts the thread. `store` is the writer's own copy (without a
    /// writer), so the thread ends when the last `Store` that can submit
    /// to it is dropped.
    pub(super) fn start(store: Store) -> Result<Writer> {
        let (queue, incoming) = mpsc::channel();
        std::thread::Builder::new()
            .name("sa-writer".into())
            .spawn(move || commit_batches(&store, &incoming))
            .map_err(|e| Error::internal(format!("starting the database writer: {e}")))?;
        Ok(Writer { queue })
    }

    /// Runs `f` in the next batch and returns its result once the batch
    /// has committed (or the error that kept it from committing).
    pub(super) async fn submit<T, F>(&self, kind: JobKind, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let work = Box::new(move |conn: Option<&mut DbConn>| {
            // A panic is caught here, so that the job is still answered;
            // the batch then fails (see `run_batch`).
            let r = conn.map(|c| catch_unwind(AssertUnwindSafe(|| f(c))));
            let panicked = matches!(r, Some(Err(_)));
            let r =
                r.map(|r| r.unwrap_or_else(|_| Err(Error::internal("a database write panicked"))));
            Ran {
                error: match &r {
                    Some(Err(e)) => Some(e.clone()),
                    _ => None,
                },
                panicked,
                answer: Box::new(move |failed: Option<&Error>| {
                    // A job that failed by itself keeps its own error: it
                    // changed nothing either way, and its error is the
                    // more precise answer.
                    let r = match (failed, r) {
                        // The database went away: the batch's error says
                        // so without the cause (logged once, with it).
                        (Some(e), Some(Err(own))) if own.kind == ErrorKind::Unavailable => {
                            Err(e.clone())
                        }
                        (_, Some(Err(e))) => Err(hide_unavailable(e)),
                        (None, Some(Ok(v))) => Ok(v),
                        (Some(e), _) => Err(e.clone()),
                        (None, None) => Err(Error::internal("a write was answered unrun")),
                    };
                    let _ = done.send(r);
                }),
            }
        });
        let stopped = || Error::internal("the database writer has stopped");
        self.queue
            .send(Job {
                kind,
                queued: Instant::now(),
                work,
            })
            .map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?
    }
}

fn commit_batches(store: &Store, incoming: &mpsc::Receiver<Job>) {
    while let Ok(first) = incoming.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match incoming.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(store, batch, incoming);
    }
}

/// Commits `batch`, and if it is synced the jobs that arrive while it
/// runs.
fn commit_batch(store: &Store, batch: Vec<Job>, incoming: &mpsc::Receiver<Job>) {
    if store.halted.load(std::sync::atomic::Ordering::Acquire) {
        let e = Error::unavailable("the store has been halted");
        for job in batch {
            job.refuse(&e);
        }
        return;
    }
    let started = Instant::now();
    let (batch, overdue): (Vec<Job>, Vec<Job>) = batch
        .into_iter()
        .partition(|j| started.duration_since(j.queued) <= store.checkout_timeout);
    for job in overdue {
        let waited = started.duration_since(job.queued);
        refuse_overdue(store, job, waited);
    }
    if batch.is_empty() {
        return;
    }
    let access = if batch.iter().any(|j| j.kind.synced) {
        Access::Write
    } else {
        Access::WriteDeferred
    };
    let pooled = store.checkout(&store.write_pool, store.checkout_timeout, started);
    for job in &batch {
        store.metrics.pool_wait(started.duration_since(job.queued));
    }
    let mut pooled = match pooled {
        Ok(p) => p,
        Err(e) => {
            let e = hide_unavailable(e);
            for job in batch {
                job.refuse(&e);
            }
            return;
        }
    };
    let mut ran = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let late = Late {
        incoming,
        store,
        synced: access == Access::Write,
    };
    let committed = run_batch(&mut pooled, access, &mut jobs, &late, &mut ran);
    store.metrics.write_batch(ran.len() + jobs.len());
    if let Err(e) = &committed {
        // The jobs not run are answered with the error too.
        ran.extend(jobs.map(|j| (j.work)(None)));
        if ran.iter().any(|r| r.panicked) {
            // Diesel's count of open savepoints may be off after a
            // panic: the connection is not reused (closing it undoes
            // the transaction).
            pooled.broken = true;
        } else {
            rollback_all(&mut pooled.conn);
        }
        store.check_connection(&mut pooled, e);
    }
    // Back in the pool before anyone hears of it.
    drop(pooled);
    let failed = committed.err().map(hide_unavailable);
    for r in ran {
        (r.answer)(failed.as_ref());
    }
}

/// The jobs that arrive while a synced batch runs. They join it until its
/// commit, so they are done with its sync instead of waiting for it and
/// then for a sync of their own. A deferred batch takes none: its commit
/// costs little, and on PostgreSQL every job that joined would be a round
/// trip more before its first job's answer.
struct Late<'a> {
    incoming: &'a mpsc::Receiver<Job>,
    store: &'a Store,
    synced: bool,
}

impl Late<'_> {
    fn next(&self, ran: usize) -> Option<Job> {
        if !self.synced || ran >= MAX_BATCH {
            return None;
        }
        loop {
            let job = self.incoming.try_recv().ok()?;
            let waited = job.queued.elapsed();
            if waited <= self.store.checkout_timeout {
                self.store.metrics.pool_wait(waited);
                return Some(job);
            }
            refuse_overdue(self.store, job, waited);
        }
    }
}

/// Refuses a job that waited longer than a connection checkout may: the
/// database is too slow to answer it.
fn refuse_overdue(store: &Store, job: Job, waited: std::time::Duration) {
    let e = hide_unavailable(store.no_connection(
        waited,
        format!("write queued longer than {:?}", store.checkout_timeout),
    ));
    job.refuse(&e);
}

type Manager = <DbConn as Connection>::TransactionManager;

/// Runs the jobs, and those that join it (`Late`), in one transaction,
/// each undone alone if it fails (`Undo`), and commits. Each job
/// that ran leaves its answer in `ran`; on an error the rest are left in
/// `jobs`. A lone single statement is its own transaction instead: BEGIN
/// and COMMIT would add two round trips on PostgreSQL and change nothing
/// (mostly nonces when the server is not busy).
fn run_batch(
    pooled: &mut Pooled,
    access: Access,
    jobs: &mut std::vec::IntoIter<Job>,
    late: &Late<'_>,
    ran: &mut Vec<Ran>,
) -> Result<()> {
    let alone = jobs.len() == 1 && !jobs.as_slice()[0].kind.savepoint;
    super::set_mode(pooled, access)?;
    let conn = &mut pooled.conn;
    if alone {
        return jobs.try_for_each(|job| run_job(conn, job, Undo::Nothing, ran).map(drop));
    }
    begin(conn)?;
    // No write in the transaction yet.
    let mut fresh = true;
    while let Some(job) = jobs.next().or_else(|| late.next(ran.len())) {
        let undo = match (job.kind.savepoint, fresh) {
            (false, _) => Undo::Nothing,
            (true, true) => Undo::Transaction,
            (true, false) => Undo::Savepoint,
        };
        fresh = run_job(conn, job, undo, ran)?;
    }
    Manager::commit_transaction(conn).map_err(Error::from)
}

/// What undoes a job's writes if it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Undo {
    /// Nothing: its failure fails the batch.
    Nothing,
    /// A savepoint of its own.
    Savepoint,
    /// The transaction, which holds nothing else yet; a new one begins
    /// after the rollback.
    Transaction,
}

/// Runs one job of a batch; returns whether the transaction holds no
/// write after it (it failed and took the transaction with it). An error
/// here fails the whole batch.
fn run_job(conn: &mut DbConn, job: Job, undo: Undo, ran: &mut Vec<Ran>) -> Result<bool> {
    if undo == Undo::Savepoint {
        if let Err(e) = Manager::begin_transaction(conn) {
            ran.push((job.work)(None));
            return Err(e.into());
        }
    }
    let r = (job.work)(Some(&mut *conn));
    let (error, panicked) = (r.error.clone(), r.panicked);
    ran.push(r);
    if panicked {
        return Err(Error::internal("a write of the batch panicked"));
    }
    let Some(e) = error else {
        if undo == Undo::Savepoint {
            Manager::commit_transaction(conn)?;
        }
        return Ok(false);
    };
    match undo {
        Undo::Savepoint => Manager::rollback_transaction(conn)?,
        Undo::Transaction => {
            Manager::rollback_transaction(conn)?;
            begin(conn)?;
            return Ok(true);
        }
        // Nothing to undo it by, and PostgreSQL has aborted the
        // transaction (its COMMIT would quietly roll back): the whole
        // batch fails, with this job's error (a database that went away
        // is a 503 for all).
        Undo::Nothing => return Err(e),
    }
    Ok(false)
}

/// Undoes whatever of a failed batch's transaction is still open.
fn rollback_all(conn: &mut DbConn) {
    while let Ok(Some(_)) = in_transaction(conn) {
        if Manager::rollback_transaction(conn).is_err() {
            break;
        }
    }
}

/// `BEGIN IMMEDIATE` on SQLite (the write lock up front, so a transaction
/// never fails upgrading from read to write when another process writes),
/// through diesel's transaction manager so that the savepoints inside are
/// its nested transactions.
fn begin(conn: &mut DbConn) -> Result<()> {
    let begun = match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c),
    };
    begun.map_err(Into::into)
}

/// Depth of diesel's transaction on `conn` (None outside one).
pub(super) fn in_transaction(conn: &mut DbConn) -> Result<Option<std::num::NonZeroU32>> {
    Ok(Manager::transaction_manager_status_mut(conn).transaction_depth()?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use diesel::prelude::*;
    use tokio::task::JoinHandle;

    use super::super::{nonces, schema::used_nonces, write_tx, Access, DbConn, Store};
    use crate::error::{Error, ErrorKind, Result};

    fn store(checkout_timeout: Duration) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("db.sqlite").display().to_string();
        (dir, Store::open(&url, 2, checkout_timeout).unwrap())
    }

    /// Keeps the writer busy for `busy` in a batch of `access` (synced or
    /// deferred); returns once the writer has begun. The batch answers its
    /// connection's `synchronous`.
    async fn occupy_writer(
        store: &Store,
        access: Access,
        busy: Duration,
    ) -> JoinHandle<Result<String>> {
        occupy_writer_then(store, access, busy, synchronous).await
    }

    /// As `occupy_writer`, with `then` as the held write's work once it has
    /// kept the writer busy.
    async fn occupy_writer_then<T: Send + 'static>(
        store: &Store,
        access: Access,
        busy: Duration,
        then: impl FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    ) -> JoinHandle<Result<T>> {
        let (started, begun) = tokio::sync::oneshot::channel();
        let s = store.clone();
        let held = tokio::spawn(async move {
            let work = move |c: &mut DbConn| {
                let _ = started.send(());
                std::thread::sleep(busy);
                then(c)
            };
            match access {
                Access::WriteDeferred => s.write_deferred(work).await,
                _ => s.run(work).await,
            }
        });
        begun.await.unwrap();
        held
    }

    fn redeem(c: &mut DbConn, nonce: &str) -> Result<bool> {
        nonces::redeem(
            c,
            nonce,
            crate::core::Clock::system().now() + time::Duration::minutes(5),
        )
    }

    async fn stored(store: &Store, nonce: &'static str) -> bool {
        store
            .read(move |c| {
                Ok(used_nonces::table
                    .filter(used_nonces::nonce.eq(nonce))
                    .count()
                    .get_result::<i64>(c)?)
            })
            .await
            .unwrap()
            == 1
    }

    /// The one text value `sql` selects as `v`.
    fn text_of(c: &mut DbConn, sql: &str) -> Result<String> {
        #[derive(QueryableByName)]
        struct V {
            #[diesel(sql_type = diesel::sql_types::Text)]
            v: String,
        }
        let rows: Vec<V> = diesel::sql_query(sql).load(c)?;
        Ok(rows.into_iter().next().unwrap().v)
    }

    /// The connection's `synchronous`: "2" (FULL) in a synced batch, "1"
    /// (NORMAL) in a deferred one.
    fn synchronous(c: &mut DbConn) -> Result<String> {
        text_of(
            c,
            "SELECT CAST(synchronous AS TEXT) AS v FROM pragma_synchronous",
        )
    }

    fn counter(store: &Store, name: &str) -> u64 {
        let text = store.metrics().render(None);
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// Writes that arrive together share one transaction, and a write
    /// that fails undoes its own changes only — also a failed `write_tx`
    /// inside a write that goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_undoes_only_its_own_part_of_a_shared_batch() {
        let (_dir, store) = store(Duration::from_secs(5));
        let held = occupy_writer(&store, Access::Write, Duration::from_millis(300)).await;
        let s = store.clone();
        let b = tokio::spawn(async move { s.run(|c| redeem(c, "b")).await });
        let s = store.clone();
        let c = tokio::spawn(async move {
            s.run(|c| {
                redeem(c, "c")?;
                Err::<(), _>(Error::malformed("refused after writing"))
            })
            .await
        });
        let s = store.clone();
        let d = tokio::spawn(async move { s.write(|c| redeem(c, "d")).await });
        let s = store.clone();
        let e = tokio::spawn(async move {
            s.run(|c| {
                let inner = write_tx(c, |c| {
                    redeem(c, "e1")?;
                    Err::<(), _>(Error::malformed("inner refusal"))
                });
                assert!(inner.is_err());
                redeem(c, "e2")
            })
            .await
        });
        // Let all four reach the queue before the writer is free.
        tokio::time::sleep(Duration::from_millis(100)).await;
        held.await.unwrap().unwrap();
        assert!(b.await.unwrap().unwrap());
        let refused = c.await.unwrap().unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Malformed);
        assert_eq!(refused.detail, "refused after writing");
        assert!(d.await.unwrap().unwrap());
        assert!(e.await.unwrap().unwrap());
        for (nonce, kept) in [
            ("b", true),
            ("c", false),
            ("d", true),
            ("e1", false),
            ("e2", true),
        ] {
            assert_eq!(stored(&store, nonce).await, kept, "{nonce}");
        }
        assert_eq!(counter(&store, "trustgate_db_write_batches_total"), 1);
        assert_eq!(counter(&store, "trustgate_db_writes_total"), 5);
    }

    /// The first write of a batch runs in no savepoint of its own: when it
    /// fails, the transaction it was alone in is undone and begun again,
    /// and the writes after it still share one commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_first_write_is_undone_with_the_transaction_the_rest_commit() {
        let (_dir, store) = store(Duration::from_secs(5));
        let first = occupy_writer_then(&store, Access::Write, Duration::from_millis(300), |c| {
            redeem(c, "a")?;
            Err::<(), _>(Error::malformed("first refused after writing"))
        })
        .await;
        let mut joined = Vec::new();
        for nonce in ["b", "c"] {
            let s = store.clone();
            joined.push(tokio::spawn(async move {
                s.run(move |c| redeem(c, nonce)).await
            }));
        }
        let refused = first.await.unwrap().unwrap_err();
        assert_eq!(refused.detail, "first refused after writing");
        for j in joined {
            assert!(j.await.unwrap().unwrap());
        }
        for (nonce, kept) in [("a", false), ("b", true), ("c", true)] {
            assert_eq!(stored(&store, nonce).await, kept, "{nonce}");
        }
        assert_eq!(counter(&store, "trustgate_db_write_batches_total"), 1);
        assert_eq!(counter(&store, "trustgate_db_writes_total"), 3);
    }

    /// A write that arrives while a synced batch runs joins it before its
    /// commit; one that arrives while a deferred batch runs waits for the
    /// next batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_joins_a_running_batch_only_if_that_batch_is_synced() {
        let (_dir, store) = store(Duration::from_secs(5));
        let held = occupy_writer(&store, Access::Write, Duration::from_millis(200)).await;
        let s = store.clone();
        let joined = tokio::spawn(async move { s.write_deferred(synchronous).await });
        held.await.unwrap().unwrap();
        assert_eq!(joined.await.unwrap().unwrap(), "2", "FULL: joined");
        assert_eq!(counter(&store, "trustgate_db_write_batches_total"), 1);

        let deferred =
            occupy_writer(&store, Access::WriteDeferred, Duration::from_millis(200)).await;
        let s = store.clone();
        let next = tokio::spawn(async move { s.write_deferred(synchronous).await });
        assert_eq!(deferred.await.unwrap().unwrap(), "1");
        assert_eq!(next.await.unwrap().unwrap(), "1");
        assert_eq!(counter(&store, "trustgate_db_write_batches_total"), 3);
        assert_eq!(counter(&store, "trustgate_db_writes_total"), 4);
    }

    /// One synced write makes its whole batch synced; a batch of deferred
    /// writes alone is not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_is_synced_when_any_of_its_writes_must_be() {
        let (_dir, store) = store(Duration::from_secs(5));
        let held = occupy_writer(&store, Access::Write, Duration::from_millis(200)).await;
        let s = store.clone();
        let deferred = tokio::spawn(async move { s.write_deferred(synchronous).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = store.clone();
        let synced = tokio::spawn(async move { s.run(|c| redeem(c, "s")).await });
        held.await.unwrap().unwrap();
        assert_eq!(
            deferred.await.unwrap().unwrap(),
            "2",
            "FULL: shares a synced batch"
        );
        assert!(synced.await.unwrap().unwrap());
        assert_eq!(store.write_deferred(synchronous).await.unwrap(), "1");
    }

    /// The writer's connection checkpoints the log every 4,000 pages, not
    /// SQLite's 1,000 (`pool::WRITER_CHECKPOINT`); a reader never commits
    /// and keeps the default.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_checkpoints_after_4000_pages() {
        fn checkpoint(c: &mut DbConn) -> Result<i32> {
            #[derive(QueryableByName)]
            struct Pages {
                #[diesel(sql_type = diesel::sql_types::Integer)]
                wal_autocheckpoint: i32,
            }
            let rows: Vec<Pages> = diesel::sql_query("PRAGMA wal_autocheckpoint").load(c)?;
            Ok(rows[0].wal_autocheckpoint)
        }
        let (_dir, store) = store(Duration::from_secs(5));
        assert_eq!(store.run(checkpoint).await.unwrap(), 4000);
        assert_eq!(store.read(checkpoint).await.unwrap(), 1000);
    }

    /// PostgreSQL: deferred writes (nonces, staff token use) go to the
    /// writer's connection, opened with `synchronous_commit = off`; every
    /// other write keeps the synced default. No call switches a mode.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_defers_only_what_may_be_deferred() {
        let (db, store) = crate::sa::crls::testing::store();
        if !db.is_postgres() {
            eprintln!("TEST_DATABASE_URL not set: the PostgreSQL half is skipped");
            return;
        }
        let setting =
            |c: &mut DbConn| text_of(c, "SELECT current_setting('synchronous_commit') AS v");
        let mut seen = Vec::new();
        for _ in 0..2 {
            seen.push(store.write_deferred(setting).await.unwrap());
            seen.push(store.run(setting).await.unwrap());
            seen.push(store.write(setting).await.unwrap());
        }
        assert!(store
            .redeem_nonce(
                "pg",
                crate::core::Clock::system().now() + time::Duration::minutes(5)
            )
            .await
            .unwrap());
        let batches = counter(&store, "trustgate_db_write_batches_total");
        assert_eq!(seen, ["off", "on", "on", "off", "on", "on"]);
        assert_eq!(
            batches, 3,
            "the deferred writes and the nonce went to the writer"
        );
    }

    /// A halted writer refuses a nonce redemption instead of leaving it
    /// waiting, and records nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_halted_writer_refuses_nonce_redemptions() {
        let (_dir, store) = store(Duration::from_secs(5));
        let expires = crate::core::Clock::system().now() + time::Duration::minutes(5);
        store.halt();
        let refused =
            tokio::time::timeout(Duration::from_secs(5), store.redeem_nonce("h", expires))
                .await
                .expect("answered, not left waiting");
        assert_eq!(refused.unwrap_err().kind, ErrorKind::Unavailable);
        assert!(!stored(&store, "h").await);
    }

    /// A panic fails the batch it happened in, and the writer goes on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_fails_its_batch_and_the_writer_goes_on() {
        let (_dir, store) = store(Duration::from_secs(5));
        let held = occupy_writer(&store, Access::Write, Duration::from_millis(200)).await;
        let s = store.clone();
        let q = tokio::spawn(async move { s.run(|c| redeem(c, "q")).await });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let s = store.clone();
        let p = tokio::spawn(async move {
            s.run(|c| -> Result<()> {
                redeem(c, "p")?;
                panic!("a bug in a write")
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // All three share the batch, q run before p: each fails.
        assert_eq!(
            held.await.unwrap().unwrap_err().kind,
            ErrorKind::ServerInternal
        );
        assert_eq!(
            p.await.unwrap().unwrap_err().kind,
            ErrorKind::ServerInternal
        );
        assert_eq!(
            q.await.unwrap().unwrap_err().kind,
            ErrorKind::ServerInternal
        );
        assert!(store.run(|c| redeem(c, "r")).await.unwrap());
        assert!(!stored(&store, "p").await);
        assert!(!stored(&store, "q").await);
        assert!(stored(&store, "r").await);
    }

    /// A write that waited in the queue longer than a checkout may wait
    /// is refused unrun, as a pool timeout would be: 503, nothing written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_queued_past_the_checkout_timeout_is_refused_unrun() {
        let (_dir, store) = store(Duration::from_millis(200));
        let held = occupy_writer(&store, Access::Write, Duration::from_millis(500)).await;
        let s = store.clone();
        let late = tokio::spawn(async move { s.run(|c| redeem(c, "late")).await });
        held.await.unwrap().unwrap();
        let e = late.await.unwrap().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(!stored(&store, "late").await);
        assert_eq!(counter(&store, "trustgate_db_pool_timeouts_total"), 1);
    }
}
