//! Statements on the request path run on the backend's own connection.
//!
//! Through diesel's `MultiConnection` wrapper (`DbConn` itself) every
//! execution writes out the statement's whole SQL text again, twice or
//! more, before the prepared-statement cache is even asked; on the
//! backend's own connection a statement of fixed shape is looked up by its
//! type and only its parameters are bound. And diesel prepares every
//! `UPDATE` afresh at each execution; `update` builds one that stays
//! prepared.
//!
//! A statement written out by hand (`diesel::sql_query`) is prepared afresh
//! at every execution too, since diesel cannot know its text is fixed;
//! `fixed` builds one that stays prepared.
//!
//! `native!(conn, |c| query.load(c))` runs the expression with `c` bound to
//! the SQLite or the PostgreSQL connection; the expression is compiled for
//! each, so it must be backend-neutral diesel DSL, as everything in `sa` is.

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression};
use std::marker::PhantomData;

use diesel::query_builder::{AsChangeset, AstPass, Query, QueryFragment, QueryId};
use diesel::query_source::Table;
use diesel::serialize::ToSql;
use diesel::sql_types::{Bool, HasSqlType, Untyped};
use diesel::{QueryResult, RunQueryDsl};

/// Runs `$body` with `$c` bound to the connection of `$conn`'s backend.
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::sa::DbConn::Sqlite($c) => $body,
            $crate::sa::DbConn::Pg($c) => $body,
        }
    };
}
pub(crate) use native;

/// `UPDATE table SET values WHERE filter`, kept prepared. Diesel's own
/// `diesel::update` is prepared afresh at every execution, because a
/// changeset may leave out `None` fields and so vary its text; this one is
/// cached under its SQL text, never under its type, so a text that did vary
/// would only take another cache entry. Build it with `update`.
pub struct Update<F, V, W> {
    from: F,
    values: V,
    filter: W,
}

/// An `UPDATE` of fixed shape that stays prepared (see `Update`).
pub fn update<T, V, W>(table: T, values: V, filter: W) -> Update<T::FromClause, V::Changeset, W>
where
    T: Table,
    V: AsChangeset<Target = T>,
    W: Expression<SqlType = Bool> + AppearsOnTable<T>,
{
    Update {
        from: table.from_clause(),
        values: values.as_changeset(),
        filter,
    }
}

impl<F, V, W, DB> QueryFragment<DB> for Update<F, V, W>
where
    DB: Backend,
    F: QueryFragment<DB>,
    V: QueryFragment<DB>,
    W: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.values.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())
    }
}

impl<F, V, W> QueryId for Update<F, V, W> {
    // No static id: the cache key is the SQL text (see the type's comment).
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<F, V, W, Conn> RunQueryDsl<Conn> for Update<F, V, W> {}

/// A hand-written statement of fixed text that stays prepared (cached under
/// its text): `fixed("… = ANY(").bind::<T, _>(v).sql(")")`. Each `bind`
/// is written as the backend's parameter (`$n`, `?`) where it stands.
pub fn fixed(sql: &'static str) -> Sql<()> {
    Sql((), sql)
}

/// What comes before, then `.1` as SQL text (see `fixed`).
#[derive(Debug, Clone, Copy)]
pub struct Sql<Q>(Q, &'static str);

/// What comes before, then a parameter bound to `.1` (see `fixed`).
#[derive(Debug, Clone, Copy)]
pub struct Bind<Q, V, ST>(Q, V, PhantomData<ST>);

/// Extends a `fixed` statement.
pub trait Fixed: Sized {
    /// Appends a parameter of SQL type `ST` bound to `value`.
    fn bind<ST, V>(self, value: V) -> Bind<Self, V, ST> {
        Bind(self, value, PhantomData)
    }

    /// Appends SQL text.
    fn sql(self, sql: &'static str) -> Sql<Self> {
        Sql(self, sql)
    }
}

impl<Q> Fixed for Sql<Q> {}
impl<Q, V, ST> Fixed for Bind<Q, V, ST> {}

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Sql<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(self.1);
        Ok(())
    }
}

impl<Q, V, ST, DB> QueryFragment<DB> for Bind<Q, V, ST>
where
    Q: QueryFragment<DB>,
    DB: Backend + HasSqlType<ST>,
    V: ToSql<ST, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_bind_param::<ST, V>(&self.1)
    }
}

// No static id: the cache key is the SQL text.
impl<Q> QueryId for Sql<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, V, ST> QueryId for Bind<Q, V, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Sql<Q> {
    type SqlType = Untyped;
}

impl<Q, V, ST> Query for Bind<Q, V, ST> {
    type SqlType = Untyped;
}

impl<Q, Conn> RunQueryDsl<Conn> for Sql<Q> {}
impl<Q, V, ST, Conn> RunQueryDsl<Conn> for Bind<Q, V, ST> {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::InstrumentationEvent;
    use diesel::prelude::*;

    use crate::sa::schema::used_nonces;
    use crate::sa::{crls, nonces, to_db, DbConn};

    /// Counts the statements started and the statements prepared for the
    /// cache on `conn` while `f` runs.
    fn count(conn: &mut DbConn, f: impl FnOnce(&mut DbConn)) -> (usize, usize) {
        let seen = Arc::new(Mutex::new((0, 0)));
        let s = seen.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            let mut s = s.lock().unwrap();
            match event {
                InstrumentationEvent::StartQuery { .. } => s.0 += 1,
                InstrumentationEvent::CacheQuery { .. } => s.1 += 1,
                _ => {}
            }
        });
        f(conn);
        conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
        let n = *seen.lock().unwrap();
        n
    }

    fn update(conn: &mut DbConn, nonce: &str) -> usize {
        let later = to_db(crate::core::Clock::system().now() + time::Duration::hours(2));
        native!(conn, |c| super::update(
            used_nonces::table,
            used_nonces::expires_at.eq(later),
            used_nonces::nonce.eq(nonce)
        )
        .execute(c))
        .unwrap()
    }

    /// Runs `f` on a connection of a scratch store holding the nonces.
    async fn with_nonces(
        redeemed: &'static [&'static str],
        f: impl FnOnce(&mut DbConn) + Send + 'static,
    ) {
        let (_db, store) = crls::testing::store();
        store
            .run(move |conn| {
                let expires = crate::core::Clock::system().now() + time::Duration::hours(1);
                for n in redeemed {
                    assert!(nonces::redeem(conn, n, expires).unwrap());
                }
                f(conn);
                Ok(())
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_update_is_prepared_once_and_runs_each_time() {
        with_nonces(&["a", "b"], |conn| {
            let (started, prepared) = count(conn, |c| {
                assert_eq!(update(c, "a"), 1);
                assert_eq!(update(c, "b"), 1);
                assert_eq!(update(c, "missing"), 0);
            });
            assert_eq!((started, prepared), (3, 1));

            // diesel's own UPDATE is prepared at every execution and never
            // cached: what `update` is for.
            let later = to_db(crate::core::Clock::system().now() + time::Duration::hours(3));
            let (started, prepared) = count(conn, |c| {
                for n in ["a", "b"] {
                    diesel::update(used_nonces::table.find(n))
                        .set(used_nonces::expires_at.eq(later))
                        .execute(c)
                        .unwrap();
                }
            });
            assert_eq!((started, prepared), (2, 0));
        })
        .await;
    }

    #[tokio::test]
    async fn a_select_of_fixed_shape_is_prepared_once() {
        with_nonces(&["x"], |conn| {
            let read = |c: &mut DbConn| -> Option<String> {
                native!(c, |c| used_nonces::table
                    .find("x")
                    .select(used_nonces::nonce)
                    .first::<String>(c)
                    .optional())
                .unwrap()
            };
            // On the backend's own connection a select of fixed shape is
            // cached by its type: prepared the first time only.
            let (started, prepared) = count(conn, |c| {
                assert_eq!(read(c).as_deref(), Some("x"));
                assert_eq!(read(c).as_deref(), Some("x"));
            });
            assert_eq!((started, prepared), (2, 1));
        })
        .await;
    }

    #[tokio::test]
    async fn a_hand_written_statement_is_prepared_once() {
        use super::Fixed;
        use diesel::sql_types::Text;
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            nonce: String,
        }
        with_nonces(&["x"], |conn| {
            let read = |c: &mut DbConn| -> Vec<String> {
                let q = super::fixed("SELECT nonce FROM used_nonces WHERE nonce = ")
                    .bind::<Text, _>("x");
                native!(c, |c| q.load::<Row>(c))
                    .unwrap()
                    .into_iter()
                    .map(|r| r.nonce)
                    .collect()
            };
            // `diesel::sql_query` would be prepared at both executions.
            let (started, prepared) = count(conn, |c| {
                assert_eq!(read(c), ["x"]);
                assert_eq!(read(c), ["x"]);
            });
            assert_eq!((started, prepared), (2, 1));
        })
        .await;
    }
}
