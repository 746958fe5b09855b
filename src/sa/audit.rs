//! The audit trail: append-only (the database refuses updates and
//! deletes; see the migrations).

use diesel::prelude::*;
use serde::Serialize;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::schema::audit_events;
use super::{from_db, to_db, DbConn};
use crate::core::OrganizationId;
use crate::error::Result;

/// One event: who did what to what, when and why.
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
}

pub struct NewEvent<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub organization: Option<OrganizationId>,
    pub subject: String,
    pub reason: Option<&'a str>,
    pub details: serde_json::Value,
}

pub fn append(conn: &mut DbConn, e: NewEvent<'_>, now: OffsetDateTime) -> Result<()> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::at.eq(to_db(now)),
            audit_events::actor.eq(e.actor),
            audit_events::action.eq(e.action),
            audit_events::organization_id.eq(e.organization.map(|o| o.0)),
            audit_events::subject.eq(e.subject),
            audit_events::reason.eq(e.reason),
            audit_events::details.eq(e.details.to_string()),
        ))
        .execute(conn)?;
    Ok(())
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
    Ok(q.load::<(
        i64,
        PrimitiveDateTime,
        String,
        String,
        Option<i64>,
        String,
        Option<String>,
        String,
    )>(conn)?
        .into_iter()
        .map(
            |(id, at, actor, action, org, subject, reason, details)| AuditEvent {
                id,
                at: from_db(at),
                actor,
                action,
                organization: org.map(OrganizationId),
                subject,
                reason,
                details: serde_json::from_str(&details)
                    .unwrap_or(serde_json::Value::String(details)),
            },
        )
        .collect())
}
