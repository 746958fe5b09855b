//! Staff deactivating ACME accounts: one by id, or every account bound
//! through an EAB credential as it is revoked (`eab`). A deactivated
//! account can do nothing more (RFC 8555 §7.3.6); its certificates stay
//! valid until revoked on their own.
//!
//! Customers accepting a changed subscriber agreement for an ACME account
//! of their organization (RFC 8555 §7.3.3), in the portal.

use std::net::IpAddr;

use time::OffsetDateTime;

use super::Vetting;
use crate::core::{Account, AccountId, AccountStatus, OrganizationId};
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

/// A customer accepting agreement `version` for ACME account `account`.
pub struct TermsAcceptance<'a> {
    /// The customer as the audit log names them (`customer:ID`).
    pub actor: &'a str,
    /// The customer's organization: only its accounts can be accepted for.
    pub organization: OrganizationId,
    pub account: AccountId,
    pub version: &'a str,
    pub remote_address: Option<IpAddr>,
}

/// What an acceptance did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    Recorded,
    /// The account already held this version; nothing was written.
    AlreadyCurrent,
}

impl Vetting {
    /// ACME account `id` as a customer of `organization` may see it: bound
    /// to that organization through its EAB credential, else `NotFound`
    /// (another organization's account looks like no account).
    pub async fn account_of_organization(
        &self,
        organization: OrganizationId,
        id: AccountId,
    ) -> Result<Account> {
        self.store()
            .read(move |c| sa::accounts::bound_to_organization(c, id, organization))
            .await?
            .ok_or_else(|| Error::not_found(format!("no account {id}")))
    }

    /// Records the acceptance on the account (which drops it from every
    /// instance's account cache, so its next request goes on) with its
    /// audit event: who, when, from where, which version.
    pub async fn accept_terms(&self, a: TermsAcceptance<'_>) -> Result<Accepted> {
        let (actor, version) = (a.actor.to_owned(), a.version.to_owned());
        let (id, organization, remote) = (a.account, a.organization, a.remote_address);
        let now = self.clock().now();
        let request_id = crate::http::current_request_id();
        self.store()
            .change_account(id, move |c| {
                let account = sa::accounts::bound_to_organization(c, id, organization)?
                    .ok_or_else(|| Error::not_found(format!("no account {id}")))?;
                if account.status != AccountStatus::Valid {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("account {id} is {}", account.status.as_str()),
                    ));
                }
                if account.terms_version.as_deref() == Some(version.as_str()) {
                    return Ok(Accepted::AlreadyCurrent);
                }
                sa::accounts::accept_terms(c, id, &version, now)?;
                sa::audit::append(
                    c,
                    NewEvent {
                        actor: &actor,
                        action: "account.terms_accept",
                        organization: Some(organization),
                        subject: format!("account:{id}"),
                        reason: None,
                        details: serde_json::json!({
                            "version": version,
                            "previous_version": account.terms_version,
                            "remote_address": remote.map(|r| r.to_string()),
                        }),
                        request_id,
                    },
                    now,
                )?;
                Ok(Accepted::Recorded)
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
