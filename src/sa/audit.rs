//! The audit trail (BR 5.4.1): staff actions, and every certificate
//! lifecycle and account event, each with its actor and the request that
//! caused it. Append-only: the database refuses updates and deletes (see
//! the migrations).
//!
//! An event is written with `append` on the connection of the write whose
//! state change it describes, so that the two commit together (one
//! round trip inside the group-commit writer's batch). Actors are strings:
//! a staff member's name, `acme:account/<id>` (`account_actor`),
//! `acme:certificate-key`, or `system` (`SYSTEM`).

use diesel::prelude::*;
use serde::Serialize;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::native::native;
use super::schema::{accounts, audit_events, eab_credentials, organizations};
use super::{from_db, to_db, DbConn};
use crate::core::{AccountId, OrganizationId};
use crate::error::Result;
use crate::http::RequestId;

/// The actor of what the CA does by itself (CRLs, sweeps).
pub const SYSTEM: &str = "system";

/// The actor an ACME account is recorded as.
pub fn account_actor(id: AccountId) -> String {
    format!("acme:account/{id}")
}

/// One event: who did what to what, when and why, in which request.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub organization: Option<OrganizationId>,
    pub subject: String,
    pub reason: Option<String>,
    pub details: serde_json::Value,
    /// The `X-Request-Id` of the request that caused it (none for what
    /// the CA did by itself).
    pub request_id: Option<String>,
}

pub struct NewEvent<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub organization: Option<OrganizationId>,
    pub subject: String,
    pub reason: Option<&'a str>,
    pub details: serde_json::Value,
    /// `crate::http::current_request_id()`, read in the async caller (the
    /// write itself runs on another thread).
    pub request_id: Option<RequestId>,
}

pub fn append(conn: &mut DbConn, e: NewEvent<'_>, now: OffsetDateTime) -> Result<()> {
    append_all(conn, [e], now)
}

/// Appends `N` events in one statement (a fixed `N` keeps it prepared).
pub fn append_all<const N: usize>(
    conn: &mut DbConn,
    events: [NewEvent<'_>; N],
    now: OffsetDateTime,
) -> Result<()> {
    let at = to_db(now);
    let rows = events.map(|e| {
        (
            audit_events::at.eq(at),
            audit_events::actor.eq(e.actor.to_owned()),
            audit_events::action.eq(e.action.to_owned()),
            audit_events::organization_id.eq(e.organization.map(|o| o.0)),
            audit_events::subject.eq(e.subject),
            audit_events::reason.eq(e.reason.map(str::to_owned)),
            audit_events::details.eq(with_os_user(e.details).to_string()),
            audit_events::request_id.eq(e.request_id.map(|r| r.as_str().to_owned())),
        )
    });
    native!(conn, |c| diesel::insert_into(audit_events::table)
        .values(rows)
        .execute(c))?;
    Ok(())
}

/// An action from the CLI names the person at the terminal too.
fn with_os_user(mut details: serde_json::Value) -> serde_json::Value {
    if let Some(user) = crate::core::staff::os_user() {
        if details.is_null() {
            details = serde_json::json!({});
        }
        if let Some(m) = details.as_object_mut() {
            m.insert("os_user".into(), user.into());
        }
    }
    details
}

/// The organization account `id` acts for (through its EAB credential),
/// for the events of that account.
pub fn organization_of(conn: &mut DbConn, id: AccountId) -> Result<Option<OrganizationId>> {
    Ok(accounts::table
        .inner_join(eab_credentials::table)
        .filter(accounts::id.eq(id.0))
        .select(eab_credentials::organization_id)
        .first::<i64>(conn)
        .optional()?
        .map(OrganizationId))
}

/// The legal names of the organizations `ids`, to show beside their
/// events.
pub fn organization_names(
    conn: &mut DbConn,
    ids: &[OrganizationId],
) -> Result<Vec<(OrganizationId, String)>> {
    let ids: Vec<i64> = ids.iter().map(|o| o.0).collect();
    Ok(organizations::table
        .filter(organizations::id.eq_any(ids))
        .select((organizations::id, organizations::legal_name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .map(|(id, name)| (OrganizationId(id), name))
        .collect())
}

/// Which events a page holds: `since <= at < until`, of one
/// organization, actor and action (each exact) or all, after the event
/// `after` or before the event `before` in `order`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub organization: Option<OrganizationId>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub order: Order,
}

/// The order of a page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// By id, the order events were appended in (the API's pages).
    #[default]
    Appended,
    /// By (at, id): what a filter on time and one column reads straight
    /// off an index (`audit_events_at`, `…_actor_at`, `…_action_at`,
    /// `…_organization_at`), without sorting the period. The console's log
    /// (newest first) and its export (oldest first).
    NewestFirst,
    OldestFirst,
}

type Row = (
    i64,
    PrimitiveDateTime,
    String,
    String,
    Option<i64>,
    String,
    Option<String>,
    String,
    Option<String>,
);

/// At most `limit` events of the filter, in its order. In the time
/// orders a cursor is the event's (at, id); an unknown cursor is an
/// empty page.
pub fn page(conn: &mut DbConn, f: Filter, limit: i64) -> Result<Vec<AuditEvent>> {
    let cursor = match (f.order, f.after.or(f.before)) {
        (Order::NewestFirst | Order::OldestFirst, Some(id)) => match at_of(conn, id)? {
            Some(at) => Some((at, id)),
            None => return Ok(Vec::new()),
        },
        _ => None,
    };
    let mut q = audit_events::table.limit(limit).into_boxed();
    q = match f.order {
        Order::Appended => q.order(audit_events::id.asc()),
        Order::NewestFirst => q.order((audit_events::at.desc(), audit_events::id.desc())),
        Order::OldestFirst => q.order((audit_events::at.asc(), audit_events::id.asc())),
    };
    if let Some(o) = f.organization {
        q = q.filter(audit_events::organization_id.eq(o.0));
    }
    if let Some(a) = f.actor {
        q = q.filter(audit_events::actor.eq(a));
    }
    if let Some(a) = f.action {
        q = q.filter(audit_events::action.eq(a));
    }
    if let Some(t) = f.since {
        q = q.filter(audit_events::at.ge(to_db(t)));
    }
    if let Some(t) = f.until {
        q = q.filter(audit_events::at.lt(to_db(t)));
    }
    match cursor {
        // (at, id) past the cursor's; the plain bound on `at` is what
        // the index range uses.
        Some((at, id)) if f.after.is_some() => {
            q = q
                .filter(audit_events::at.ge(at))
                .filter(audit_events::at.gt(at).or(audit_events::id.gt(id)));
        }
        Some((at, id)) => {
            q = q
                .filter(audit_events::at.le(at))
                .filter(audit_events::at.lt(at).or(audit_events::id.lt(id)));
        }
        None => {
            if let Some(id) = f.after {
                q = q.filter(audit_events::id.gt(id));
            }
            if let Some(id) = f.before {
                q = q.filter(audit_events::id.lt(id));
            }
        }
    }
    Ok(q.load::<Row>(conn)?.into_iter().map(event).collect())
}

/// The stored time of event `id`, as stored (a cursor compares with it).
fn at_of(conn: &mut DbConn, id: i64) -> Result<Option<PrimitiveDateTime>> {
    Ok(audit_events::table
        .find(id)
        .select(audit_events::at)
        .first(conn)
        .optional()?)
}

#[derive(QueryableByName)]
struct ActionRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    action: String,
}

/// The actions the log holds, sorted: one index probe per distinct
/// action (a loose scan of `audit_events_action`), not a read of every
/// event.
pub fn actions(conn: &mut DbConn) -> Result<Vec<String>> {
    let rows = diesel::sql_query(
        "WITH RECURSIVE seen(action) AS ( \
           SELECT MIN(action) FROM audit_events \
           UNION ALL \
           SELECT (SELECT MIN(e.action) FROM audit_events e WHERE e.action > seen.action) \
           FROM seen WHERE seen.action IS NOT NULL) \
         SELECT action FROM seen WHERE action IS NOT NULL",
    )
    .load::<ActionRow>(conn)?;
    Ok(rows.into_iter().map(|r| r.action).collect())
}

/// Newest first by (at, id), as the console's pages are, at most
/// `limit`.
pub fn list(conn: &mut DbConn, org: Option<OrganizationId>, limit: i64) -> Result<Vec<AuditEvent>> {
    let mut q = audit_events::table
        .order((audit_events::at.desc(), audit_events::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(o) = org {
        q = q.filter(audit_events::organization_id.eq(o.0));
    }
    Ok(q.load::<Row>(conn)?.into_iter().map(event).collect())
}

fn event((id, at, actor, action, org, subject, reason, details, request_id): Row) -> AuditEvent {
    AuditEvent {
        id,
        at: from_db(at),
        actor,
        action,
        organization: org.map(OrganizationId),
        subject,
        reason,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
        request_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sa::crls::testing::{cached_while, store};

    fn event(action: &str, n: i64) -> NewEvent<'_> {
        NewEvent {
            actor: SYSTEM,
            action,
            organization: None,
            subject: format!("order:{n}"),
            reason: None,
            details: serde_json::json!({ "n": n }),
            request_id: None,
        }
    }

    /// Events appended together are stored in the order given, each whole,
    /// by one INSERT per count of events that stays prepared.
    #[tokio::test]
    async fn events_appended_together_keep_their_order_in_one_prepared_insert() {
        let (_db, store) = store();
        let ((), cached) = store
            .write(|c| {
                let now = crate::core::Clock::system().now();
                cached_while(c, |c| {
                    for n in [1, 3, 5] {
                        let two = [event("caa.check", n), event("certificate.request", n + 1)];
                        append_all(c, two, now)?;
                        append(c, event("certificate.issue", n + 2), now)?;
                    }
                    Ok(())
                })
            })
            .await
            .unwrap();
        let mut stored = store.read(|c| list(c, None, 10)).await.unwrap();
        stored.sort_by_key(|e| e.id);
        let got: Vec<_> = stored
            .iter()
            .map(|e| {
                (
                    e.action.as_str(),
                    e.subject.clone(),
                    e.details["n"].as_i64(),
                )
            })
            .collect();
        let want: Vec<_> = [1, 3, 5]
            .into_iter()
            .flat_map(|n| {
                [
                    ("caa.check", n),
                    ("certificate.request", n + 1),
                    ("certificate.issue", n + 2),
                ]
            })
            .map(|(action, n)| (action, format!("order:{n}"), Some(n)))
            .collect();
        assert_eq!(got, want);
        let inserts = cached
            .iter()
            .filter(|sql| sql.starts_with("INSERT"))
            .count();
        assert_eq!(
            inserts, 2,
            "one prepared INSERT for two events, one for one: {cached:#?}"
        );
    }
}
