//! Connections: the backend chosen from the URL, the r2d2 manager that
//! opens them with the settings trustgate relies on, and the commit mode
//! each call puts its connection in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::errors::{db_err, is_sqlite_busy};
use crate::error::{Error, Result};

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(diesel::SqliteConnection),
    Pg(diesel::PgConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// r2d2 manager that opens the backend the URL names, with the SQLite
/// settings trustgate relies on.
#[derive(Debug)]
pub(super) struct Manager {
    url: String,
    backend: Backend,
    /// SQLite: connections of the readers' pool are opened `query_only`.
    query_only: bool,
    /// PostgreSQL: the writer's connection, which commits only deferred
    /// writes, is opened with `synchronous_commit = off` (switching it per
    /// call cost two round trips a request).
    deferred: bool,
    /// The store's epoch (see `Store::epoch`), stamped on new connections.
    epoch: Arc<AtomicU64>,
}

/// Opens the database at `url`, applies pending migrations, and builds
/// the readers' pool and the writer's pool of one.
pub(super) fn open(
    url: &str,
    pool_size: u32,
    checkout_timeout: Duration,
    epoch: &Arc<AtomicU64>,
) -> Result<(r2d2::Pool<Manager>, r2d2::Pool<Manager>)> {
    let backend = Backend::of_url(url);
    if backend == Backend::Sqlite {
        create_parent_dir(url)?;
    }
    let manager = |query_only, deferred| Manager {
        url: url.to_owned(),
        backend,
        query_only,
        deferred,
        epoch: epoch.clone(),
    };
    // Connect once outside the pool so a wrong password or host is
    // reported as the database said it, not as a pool timeout.
    let mut first = r2d2::ManageConnection::connect(&manager(false, false))
        .map_err(|e| Error::unavailable(format!("connecting to the database: {e}")))?;
    super::migrate(&mut first.conn)?;
    drop(first);
    let build = |size: u32, manager| {
        r2d2::Pool::builder()
            .max_size(size.max(1))
            .connection_timeout(checkout_timeout)
            .test_on_check_out(false)
            .build(manager)
            .map_err(|e| Error::unavailable(format!("opening the connection pool: {e}")))
    };
    Ok(match backend {
        Backend::Sqlite => (
            build(pool_size, manager(true, false))?,
            build(1, manager(false, false))?,
        ),
        Backend::Postgres => (
            build(pool_size, manager(false, false))?,
            build(1, manager(false, true))?,
        ),
    })
}

/// SQLite creates the file but not its directory.
fn create_parent_dir(url: &str) -> Result<()> {
    let Some(dir) = std::path::Path::new(url).parent() else {
        return Ok(());
    };
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))
}

/// A pooled connection and what the pool needs to know about it.
pub(super) struct Pooled {
    pub(super) conn: DbConn,
    /// The store's epoch when this connection was last known to work.
    pub(super) epoch: u64,
    /// Found dead: the pool drops it instead of taking it back.
    pub(super) broken: bool,
    /// Whether commits are synced (as opened) rather than deferred (set by
    /// `write_deferred`).
    pub(super) synced: bool,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Pooled;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<Pooled, diesel::ConnectionError> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let conn = match self.backend {
            Backend::Postgres => {
                let mut c = connect_postgres(&self.url)?;
                if self.deferred {
                    c.batch_execute("SET synchronous_commit = off")
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                }
                DbConn::Pg(c)
            }
            Backend::Sqlite => {
                let mut c = diesel::SqliteConnection::establish(&self.url)?;
                sqlite_setup(&mut c).map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                // Set once, when the connection is opened: switching
                // `query_only` expires every prepared statement of the
                // connection.
                let pragma = if self.query_only {
                    "PRAGMA query_only=ON"
                } else {
                    WRITER_CHECKPOINT
                };
                c.batch_execute(pragma)
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                DbConn::Sqlite(c)
            }
        };
        Ok(Pooled {
            conn,
            epoch,
            broken: false,
            synced: !self.deferred,
        })
    }

    fn is_valid(&self, conn: &mut Pooled) -> Result<(), diesel::ConnectionError> {
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    /// A connection found dead, left inside a transaction diesel gave up
    /// on, or returned while its thread panicked (possibly inside a
    /// SQLite `BEGIN IMMEDIATE`) is not reused.
    fn has_broken(&self, conn: &mut Pooled) -> bool {
        use diesel::r2d2::R2D2Connection;
        conn.broken || std::thread::panicking() || conn.conn.is_broken()
    }
}

/// When a writing connection's commit checkpoints the log into the
/// database file: after 4,000 pages (16 MiB) instead of SQLite's 1,000.
/// A checkpoint copies the newest version of every page in the log, and
/// an order rewrites the same pages (the tables' and indexes' last
/// leaves) over and over: a longer log copies each of them once for more
/// orders. At C = 16: 4.6 `pread`s and 4.0 `pwrite`s an order fewer,
/// server CPU −5 % (docs/benchmarks.md). Readers never commit, so only
/// the writer's setting counts.
const WRITER_CHECKPOINT: &str = "PRAGMA wal_autocheckpoint=4000";

/// Opens a PostgreSQL connection; everything in the process that connects
/// to PostgreSQL goes through here.
///
/// libpq encrypts with OpenSSL, which on its first use registers an exit
/// handler that frees its state. A process exiting while another thread
/// still uses a connection (a pool's, a test server's) then crashes inside
/// libcrypto. openssl-sys initializes OpenSSL without that handler; doing
/// it before libpq's first use leaves the cleanup to the OS.
pub fn connect_postgres(url: &str) -> diesel::ConnectionResult<diesel::PgConnection> {
    openssl_sys::init();
    diesel::PgConnection::establish(url)
}

/// Prepares a new SQLite connection.
///
/// WAL with synchronous=FULL syncs the log at every commit, so what a
/// client was told is done (an issued certificate) survives power loss
/// too, not only a process crash (the fsync costs ≈ 0.3 ms per commit
/// here; docs/benchmarks.md). busy_timeout makes writers queue instead of
/// failing with "database is locked".
///
/// Switching a new file to WAL takes its write lock. When two connections
/// switch at once, SQLite refuses one of them at once (SQLITE_BUSY
/// without waiting out busy_timeout, since both waiting would deadlock),
/// so the refused one retries for as long as busy_timeout would have
/// waited. Once the file is in WAL the switch takes no lock.
fn sqlite_setup(c: &mut diesel::SqliteConnection) -> diesel::QueryResult<()> {
    const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
    c.batch_execute(&format!("PRAGMA busy_timeout={}", BUSY_TIMEOUT.as_millis()))?;
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match c.batch_execute("PRAGMA journal_mode=WAL") {
            Err(e) if is_sqlite_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            res => break res?,
        }
    }
    // temp_store=MEMORY keeps SQLite's temporary files in memory. On disk,
    // the group-commit writer's savepoint sub-journal (page images of the
    // CA's tables) spilled into a new file in /var/tmp every few batches:
    // open, write, unlink, outside the data directory.
    c.batch_execute("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;")
}

/// What a call intends to do with its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Reads only. On SQLite the connection is `query_only`, so a write
    /// slipped into a `read` fails (in every test) instead of racing
    /// the writer.
    Read,
    /// May write; each commit is synced before it is reported.
    Write,
    /// May write; the commit need not reach the disk before the call
    /// returns (see `Store::write_deferred`).
    WriteDeferred,
}

/// Puts a writing connection in the mode `access` needs: synced commits,
/// or deferred ones for `write_deferred`. A statement runs only when the
/// mode changes; every write passes here, so a connection left deferred
/// is synced again before a write that must be.
pub(super) fn set_mode(pooled: &mut Pooled, access: Access) -> Result<()> {
    let synced = match access {
        Access::Read => return Ok(()),
        Access::Write => true,
        Access::WriteDeferred => false,
    };
    if pooled.synced != synced {
        let statement = match (&pooled.conn, synced) {
            (DbConn::Sqlite(_), true) => "PRAGMA synchronous=FULL",
            (DbConn::Sqlite(_), false) => "PRAGMA synchronous=NORMAL",
            (DbConn::Pg(_), true) => "RESET synchronous_commit",
            (DbConn::Pg(_), false) => "SET synchronous_commit = off",
        };
        pooled.conn.batch_execute(statement).map_err(db_err)?;
        pooled.synced = synced;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A process that exits while other threads are still talking to
    /// PostgreSQL (over TLS when the server offers it) exits cleanly. The
    /// test runs itself as that process, many times over.
    #[test]
    fn exiting_while_postgres_connections_are_busy_does_not_crash() {
        const CHILD: &str = "TRUSTGATE_TEST_EXIT_CHILD";
        let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
            eprintln!("TEST_DATABASE_URL not set: skipped (PostgreSQL only)");
            return;
        };
        if std::env::var_os(CHILD).is_some() {
            for _ in 0..4 {
                let url = url.clone();
                // New connections too: a TLS handshake uses more of
                // OpenSSL's shared state than a query on an open one.
                std::thread::spawn(move || loop {
                    if let Ok(mut c) = connect_postgres(&url) {
                        let _ = c.batch_execute("SELECT 1");
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(200));
            std::process::exit(0);
        }
        let name = "sa::pool::tests::exiting_while_postgres_connections_are_busy_does_not_crash";
        for run in 0..20 {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", name, "--nocapture"])
                .env(CHILD, "1")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "run {run}: the child ended with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
