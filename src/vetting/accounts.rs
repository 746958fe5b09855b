//! Staff deactivating ACME accounts: one by id, or every account bound
//! through an EAB credential as it is revoked (`eab`). A deactivated
//! account can do nothing more (RFC 8555 §7.3.6); its certificates stay
//! valid until revoked on their own.

use time::OffsetDateTime;

use super::Vetting;
use crate::core::{AccountId, AccountStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::sa::{self, audit::NewEvent, DbConn};

impl Vetting {
    /// Deactivates account `id` for `reason`, audited as `actor`.
    pub async fn deactivate_account(&self, actor: &str, id: AccountId, reason: &str) -> Result<()> {
        if reason.trim().is_empty() {
            return Err(Error::malformed("deactivating an account needs a reason"));
        }
        let (actor, reason) = (actor.to_owned(), reason.to_owned());
        let now = self.clock().now();
        let request = crate::http::current_request_id();
        self.store()
            .change_account(id, move |c| {
                let account = sa::accounts::by_id(c, id)?
                    .ok_or_else(|| Error::not_found(format!("no account {id}")))?;
                if account.status != AccountStatus::Valid {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("account {id} is already {}", account.status.as_str()),
                    ));
                }
                deactivate(c, id, &actor, &reason, request, now)
            })
            .await
    }
}

/// Deactivates `id` and records it: within the caller's transaction.
pub(super) fn deactivate(
    c: &mut DbConn,
    id: AccountId,
    actor: &str,
    reason: &str,
    request_id: Option<crate::http::RequestId>,
    now: OffsetDateTime,
) -> Result<()> {
    let organization = sa::audit::organization_of(c, id)?;
    sa::accounts::deactivate(c, id)?;
    sa::audit::append(
        c,
        NewEvent {
            actor,
            action: "account.deactivate",
            organization,
            subject: format!("account:{id}"),
            reason: Some(reason),
            details: serde_json::json!({}),
            request_id,
        },
        now,
    )
}
