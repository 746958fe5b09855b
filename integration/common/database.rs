//! The database of one test server: SQLite in its data directory, or —
//! when TEST_DATABASE_URL names a PostgreSQL server — a scratch database
//! there, dropped with the server. `./scripts/test` runs the suites a
//! second time with the variable set, so every certbot test (and every
//! test of `tests/rfc8555`, which includes this file) also runs on
//! PostgreSQL.

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::RunQueryDsl;

pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl ScratchDatabase {
    /// None when the suite runs on SQLite.
    pub fn create() -> Option<ScratchDatabase> {
        static N: AtomicU32 = AtomicU32::new(0);
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))?;
        let name = format!(
            "tg_it_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = trustgate::sa::connect_postgres(&admin_url)
            .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is not reachable: {e}"));
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .expect("creating a scratch database");
        let base = admin_url
            .rsplit_once('/')
            .expect("TEST_DATABASE_URL names a database")
            .0;
        let url = format!("{base}/{name}");
        Some(ScratchDatabase {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = trustgate::sa::connect_postgres(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut c);
        }
    }
}
