//! Database errors as the crate's `Error`: connection trouble is
//! `Unavailable` (503, retry) with a fixed detail for the client, anything
//! else internal; unique violations for callers that expect one.

use crate::error::{Error, ErrorKind};

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        db_err(e)
    }
}

/// Maps a database error: connection trouble is `Unavailable` (503, retry),
/// anything else an internal error whose detail is only logged.
///
/// A broken transaction manager is connection trouble too: diesel reports
/// it once a BEGIN, COMMIT or ROLLBACK failed, as they do when the server
/// goes away mid-transaction (a PostgreSQL restart under the writer's
/// batch). The pool drops that connection (`has_broken`); a retry gets
/// another.
pub fn db_err(e: diesel::result::Error) -> Error {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    match &e {
        E::NotFound => Error::not_found("no such resource"),
        E::DatabaseError(K::ClosedConnection | K::UnableToSendCommand, _)
        | E::BrokenTransactionManager => Error::unavailable(format!("database: {e}")),
        _ if is_sqlite_busy(&e) => Error::unavailable(format!("database: {e}")),
        _ => Error::internal(format!("database: {e}")),
    }
}

/// `db_err`, except that a unique-constraint violation is `unique()`: the
/// caller knows which constraint a statement can break and what that means.
pub fn db_err_unless_unique(e: diesel::result::Error, unique: impl FnOnce() -> Error) -> Error {
    if is_unique_violation(&e) {
        unique()
    } else {
        db_err(e)
    }
}

pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

pub(super) fn is_sqlite_busy(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info)
        if info.message().contains("database is locked"))
}

/// What a client is told when the database is away; the cause is logged.
pub(super) const UNAVAILABLE_DETAIL: &str = "the database is unavailable; retry later";

/// Logs why the database is away (in the caller's span) and gives the
/// client the fixed detail instead.
pub(super) fn hide_unavailable(e: Error) -> Error {
    if e.kind != ErrorKind::Unavailable {
        return e;
    }
    tracing::warn!(error = %e.detail, "database unavailable");
    Error::unavailable(UNAVAILABLE_DETAIL)
}

/// An unexpected value in a row is a bug or corruption, never client input.
pub(crate) fn corrupt(what: &str, value: &str) -> Error {
    Error::new(
        ErrorKind::ServerInternal,
        format!("stored {what} has unexpected value {value:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PostgreSQL restart under a write transaction surfaced as
    /// "The transaction manager is broken" and answered 500 (scripts/chaos
    /// db-restart); it is the database going away: 503, retry.
    #[test]
    fn a_broken_transaction_manager_is_unavailable_not_internal() {
        let e = db_err(diesel::result::Error::BrokenTransactionManager);
        assert_eq!(e.kind, ErrorKind::Unavailable);
        let e = db_err(diesel::result::Error::RollbackTransaction);
        assert_eq!(e.kind, ErrorKind::ServerInternal);
    }
}
