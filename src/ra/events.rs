//! The audit events of the RA's decisions (BR 5.4.1): account
//! registration, key change and deactivation, each validation decision,
//! CAA at finalize, the certificate requested, issued or not, and revoked.
//!
//! An `Audit` is made in the async caller (where the request id is known)
//! and moved into the write whose state change the event describes, so
//! the event commits with the change or not at all. Other issuance steps
//! (e.g. a precertificate) record theirs the same way:
//! `audit.record(c, "precertificate.issue", subject, None, details)`
//! inside the write that stores them.

use serde_json::Value;
use time::OffsetDateTime;

use crate::core::{AccountId, OrganizationId};
use crate::error::Result;
use crate::http::RequestId;
use crate::sa::{self, DbConn};

/// Who acts, for which organization, in which request, when.
#[derive(Clone)]
pub struct Audit {
    actor: String,
    organization: Option<OrganizationId>,
    request_id: Option<RequestId>,
    now: OffsetDateTime,
}

impl Audit {
    /// Events of account `id`, in the current request (if any).
    pub fn account(
        id: AccountId,
        organization: Option<OrganizationId>,
        now: OffsetDateTime,
    ) -> Audit {
        Audit::by(sa::audit::account_actor(id), organization, now)
    }

    /// Events with another actor (staff name, `system`), in the current
    /// request (if any).
    pub fn by(actor: String, organization: Option<OrganizationId>, now: OffsetDateTime) -> Audit {
        Audit {
            actor,
            organization,
            request_id: crate::http::current_request_id(),
            now,
        }
    }

    /// The same, with account `id` as the actor (known only once created).
    pub fn acting_as(mut self, id: AccountId) -> Audit {
        self.actor = sa::audit::account_actor(id);
        self
    }

    /// The same, at `now` (a later step of the same decision).
    pub fn at(&self, now: OffsetDateTime) -> Audit {
        Audit {
            now,
            ..self.clone()
        }
    }

    pub fn organization(&self) -> Option<OrganizationId> {
        self.organization
    }

    /// Appends one event on `c`, the connection of the write it belongs to.
    pub fn record(
        &self,
        c: &mut DbConn,
        action: &str,
        subject: String,
        reason: Option<&str>,
        details: Value,
    ) -> Result<()> {
        self.record_all(c, [(action, subject, reason, details)])
    }

    /// Appends the `N` events of one step in one statement, as `record`
    /// appends one: (action, subject, reason, details) each.
    pub fn record_all<const N: usize>(
        &self,
        c: &mut DbConn,
        events: [(&str, String, Option<&str>, Value); N],
    ) -> Result<()> {
        let events = events.map(|(action, subject, reason, details)| sa::audit::NewEvent {
            actor: &self.actor,
            action,
            organization: self.organization,
            subject,
            reason,
            details,
            request_id: self.request_id,
        });
        sa::audit::append_all(c, events, self.now)
    }
}
