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

use super::schema::{accounts, audit_events, eab_credentials};
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
    let mut details = e.details;
    // An action from the CLI names the person at the terminal too.
    if let Some(user) = crate::core::staff::os_user() {
        if details.is_null() {
            details = serde_json::json!({});
        }
        if let Some(m) = details.as_object_mut() {
            m.insert("os_user".into(), user.into());
        }
    }
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::at.eq(to_db(now)),
            audit_events::actor.eq(e.actor),
            audit_events::action.eq(e.action),
            audit_events::organization_id.eq(e.organization.map(|o| o.0)),
            audit_events::subject.eq(e.subject),
            audit_events::reason.eq(e.reason),
            audit_events::details.eq(details.to_string()),
            audit_events::request_id.eq(e.request_id.as_ref().map(RequestId::as_str)),
        ))
        .execute(conn)?;
    Ok(())
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

/// Which events a page holds: `since <= at < until`, ids after `after`,
/// of one organization or all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    pub organization: Option<OrganizationId>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub after: Option<i64>,
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

/// Oldest first (by id), at most `limit`: the page after `f.after`.
pub fn page(conn: &mut DbConn, f: Filter, limit: i64) -> Result<Vec<AuditEvent>> {
    let mut q = audit_events::table
        .order(audit_events::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(o) = f.organization {
        q = q.filter(audit_events::organization_id.eq(o.0));
    }
    if let Some(t) = f.since {
        q = q.filter(audit_events::at.ge(to_db(t)));
    }
    if let Some(t) = f.until {
        q = q.filter(audit_events::at.lt(to_db(t)));
    }
    if let Some(id) = f.after {
        q = q.filter(audit_events::id.gt(id));
    }
    Ok(q.load::<Row>(conn)?.into_iter().map(event).collect())
}

/// Newest first, at most `limit`.
pub fn list(conn: &mut DbConn, org: Option<OrganizationId>, limit: i64) -> Result<Vec<AuditEvent>> {
    let mut q = audit_events::table
        .order(audit_events::id.desc())
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
