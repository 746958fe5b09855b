//! Multi-row INSERTs through diesel's schema. The multi-backend connection
//! cannot batch `.values(&[rows])`, so the same statement is run on the
//! inner connection of each backend.

use diesel::connection::SimpleConnection;
use trustgate::sa::DbConn;

/// Bind parameters one statement may carry: SQLite's default
/// SQLITE_MAX_VARIABLE_NUMBER is 32,766, PostgreSQL's limit 65,535.
pub fn max_params(conn: &DbConn) -> usize {
    match conn {
        DbConn::Sqlite(_) => 32_000,
        DbConn::Pg(_) => 65_000,
    }
}

/// Inserts `$rows` (a slice of `Insertable` structs with `$cols` columns)
/// into `$table`, as many rows per statement as the backend allows.
#[macro_export]
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr, $cols:expr) => {{
        let per = $crate::insert::max_params($conn) / $cols;
        for part in $rows.chunks(per.max(1)) {
            match &mut *$conn {
                trustgate::sa::DbConn::Sqlite(c) => {
                    diesel::insert_into($table).values(part).execute(c)?
                }
                trustgate::sa::DbConn::Pg(c) => {
                    diesel::insert_into($table).values(part).execute(c)?
                }
            };
        }
    }};
}

/// Runs `f` in one transaction (plain BEGIN: the seed is the only writer).
pub fn in_transaction(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<(), diesel::result::Error>,
) -> Result<(), String> {
    conn.batch_execute("BEGIN")
        .map_err(|e| format!("BEGIN: {e}"))?;
    match f(conn) {
        Ok(()) => conn
            .batch_execute("COMMIT")
            .map_err(|e| format!("COMMIT: {e}")),
        Err(e) => {
            let _ = conn.batch_execute("ROLLBACK");
            Err(format!("inserting: {e}"))
        }
    }
}
