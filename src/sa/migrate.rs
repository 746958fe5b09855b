//! The schema's history: migrations embedded for each backend, applied
//! at start by whichever instance comes first.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::errors::db_err;
use super::pool::DbConn;
use crate::error::{Error, Result};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// PostgreSQL advisory lock key held while migrating ("trustgat" in ASCII).
const MIGRATION_LOCK: i64 = 0x7472_7573_7467_6174;

/// Applies the embedded migrations of the connection's backend. Instances
/// of a cluster started together take turns on PostgreSQL (an advisory
/// lock), so only the first applies a migration and the rest find it done.
pub fn migrate(conn: &mut DbConn) -> Result<()> {
    let res = match conn {
        // One write transaction around the whole run does the same for
        // processes sharing a SQLite file.
        DbConn::Sqlite(c) => c
            .immediate_transaction(|c| {
                c.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(|_| ())
                    .map_err(diesel::result::Error::QueryBuilderError)
            })
            .map_err(|e| e.into()),
        DbConn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .map_err(db_err)?;
            let res = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
            // Closing the connection would release it too.
            let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
            res
        }
    };
    res.map_err(|e| Error::internal(format!("applying migrations: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::time::Duration;

    use crate::sa::{crls, Store};

    /// The migration folder of `backend`: names of its migrations, each
    /// checked to have both scripts.
    fn migration_names(backend: &str) -> BTreeSet<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut names = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).expect("reading the migrations folder") {
            let path = entry.expect("a directory entry").path();
            for script in ["up.sql", "down.sql"] {
                assert!(
                    path.join(script).is_file(),
                    "{} lacks {script}",
                    path.display()
                );
            }
            let name = path.file_name().expect("a name").to_string_lossy();
            names.insert(name.into_owned());
        }
        names
    }

    /// Instances started together against an empty database all come up:
    /// one applies the migrations, the others find them applied.
    #[test]
    fn instances_starting_together_migrate_once() {
        let db = crls::testing::scratch();
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let url = db.url.clone();
                std::thread::spawn(move || {
                    Store::open(&url, 1, Duration::from_secs(30)).map(|_| ())
                })
            })
            .collect();
        for t in starts {
            t.join().unwrap().unwrap();
        }
    }
    /// Both backends go through the same schema history: a migration
    /// added for one and forgotten for the other fails here, not in
    /// production.
    #[test]
    fn both_backends_have_the_same_migrations() {
        let sqlite = migration_names("sqlite");
        let postgres = migration_names("postgres");
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, postgres);
    }
}
