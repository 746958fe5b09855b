//! EAB credentials: created by staff for one organization, shown once,
//! bound to one account (or several, when not single-use).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use time::Duration;

use super::checks::VettingStatus;
use super::Vetting;
use crate::core::{AccountId, EabCredential, OrganizationId};
use crate::error::{Error, Result};
use crate::sa::{self, audit::NewEvent};

/// A credential as shown to staff the one time its key is visible.
pub struct IssuedCredential {
    pub credential: EabCredential,
    /// base64url of the 256-bit HMAC key, as ACME clients take it
    /// (certbot `--eab-hmac-key`).
    pub hmac_key: String,
}

/// How long a credential made in the portal can bind an account: a key
/// id and HMAC key copied somewhere and never used stop working.
pub const CUSTOMER_EAB_LIFETIME: Duration = Duration::days(30);
/// The longest note a customer may give a credential.
pub const MAX_NOTE_CHARS: usize = 200;

pub struct CreateOptions {
    pub note: String,
    pub single_use: bool,
    pub expires_in: Option<Duration>,
}

impl Vetting {
    pub async fn create_eab(
        &self,
        actor: &str,
        org: OrganizationId,
        opts: CreateOptions,
    ) -> Result<IssuedCredential> {
        let rng = SystemRandom::new();
        let mut id = [0u8; 12];
        let mut key = vec![0u8; 32];
        rng.fill(&mut id)
            .and_then(|_| rng.fill(&mut key))
            .map_err(|_| Error::internal("OS random number generator failed"))?;
        let key_id = format!("kid-{}", B64.encode(id));
        let now = self.clock.now();
        let expires_at = opts.expires_in.map(|d| now + d);
        let hmac_key = B64.encode(&key);
        let sealed = super::sealing::seal(&self.cfg, &key_id, &key)?;
        let actor = actor.to_owned();
        let request = crate::http::current_request_id();
        let credential = self
            .store()
            .write(move |c| {
                sa::organizations::by_id(c, org)?
                    .ok_or_else(|| Error::not_found(format!("no organization {org}")))?;
                let cred = sa::eab::create(
                    c,
                    sa::eab::NewEab {
                        key_id: &key_id,
                        organization: org,
                        hmac_key: &sealed,
                        note: &opts.note,
                        single_use: opts.single_use,
                        expires_at,
                    },
                    now,
                )?;
                sa::audit::append(
                    c,
                    NewEvent {
                        actor: &actor,
                        action: "eab.create",
                        organization: Some(org),
                        subject: format!("eab:{key_id}"),
                        reason: None,
                        // Never the key.
                        details: serde_json::json!({"note": opts.note, "single_use": opts.single_use, "expires_at": expires_at.map(|t| t.unix_timestamp())}),
                        request_id: request,
                    },
                    now,
                )?;
                Ok(cred)
            })
            .await?;
        Ok(IssuedCredential {
            credential,
            hmac_key,
        })
    }

    pub async fn list_eab(&self, org: Option<OrganizationId>) -> Result<Vec<EabCredential>> {
        self.store().read(move |c| sa::eab::list(c, org)).await
    }

    /// A credential a customer makes in the portal for one of their ACME
    /// clients: only once the organization is approved (and while its
    /// vetting holds), single-use, able to bind an account for
    /// `CUSTOMER_EAB_LIFETIME`.
    pub async fn create_customer_eab(
        &self,
        actor: &str,
        org: OrganizationId,
        note: &str,
    ) -> Result<IssuedCredential> {
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(Error::malformed(format!(
                "the note is longer than {MAX_NOTE_CHARS} characters"
            )));
        }
        let found = self
            .store()
            .read(move |c| sa::organizations::by_id(c, org))
            .await?;
        let org = found.ok_or_else(|| Error::not_found(format!("no organization {org}")))?;
        let status = org.effective_status(self.clock.now(), self.cfg.max_age());
        if status != VettingStatus::Approved {
            return Err(Error::unauthorized(format!(
                "EAB credentials are made once the organization is approved; its vetting is {}",
                status.as_str()
            )));
        }
        let opts = CreateOptions {
            note: note.trim().to_owned(),
            single_use: true,
            expires_in: Some(CUSTOMER_EAB_LIFETIME),
        };
        self.create_eab(actor, org.id, opts).await
    }

    /// The organization's credentials for its ACME clients, oldest first
    /// (not the one binding the portal's own account).
    pub async fn customer_eab(&self, org: OrganizationId) -> Result<Vec<EabCredential>> {
        self.store()
            .read(move |c| sa::portal_orders::client_credentials(c, org))
            .await
    }

    /// `revocation_preview` for a customer of `org`.
    pub async fn customer_revocation_preview(
        &self,
        org: OrganizationId,
        key_id: &str,
    ) -> Result<(EabCredential, Vec<AccountId>)> {
        let k = key_id.to_owned();
        self.store()
            .read(move |c| {
                let cred = sa::eab::by_key_id(c, &k)?
                    .ok_or_else(|| Error::not_found(format!("no EAB credential {k:?}")))?;
                customer_visible(c, &cred, org)?;
                let bound = sa::accounts::valid_bound_to(c, cred.id)?;
                Ok((cred, bound))
            })
            .await
    }

    /// What revoking `key_id` would do, for a confirmation: the credential
    /// (it must be `org`'s) and the valid accounts bound through it, which
    /// `revoke_eab` deactivates.
    pub async fn revocation_preview(
        &self,
        org: OrganizationId,
        key_id: &str,
    ) -> Result<(EabCredential, Vec<AccountId>)> {
        let k = key_id.to_owned();
        self.store()
            .read(move |c| {
                let cred = sa::eab::by_key_id(c, &k)?
                    .filter(|cred| cred.organization == org)
                    .ok_or_else(|| {
                        Error::not_found(format!("no EAB credential {k:?} of organization {org}"))
                    })?;
                let bound = sa::accounts::valid_bound_to(c, cred.id)?;
                Ok((cred, bound))
            })
            .await
    }

    /// Revokes the credential and deactivates every account bound through
    /// it, in one transaction: a revoked credential leaves no account able
    /// to order for its organization.
    pub async fn revoke_eab(&self, actor: &str, key_id: &str, reason: &str) -> Result<()> {
        self.revoke(actor, key_id, reason, None).await
    }

    /// `revoke_eab` for a customer of `org` (the portal): only the
    /// organization's own credentials for its clients; any other is not
    /// found.
    pub async fn revoke_customer_eab(
        &self,
        actor: &str,
        org: OrganizationId,
        key_id: &str,
        reason: &str,
    ) -> Result<()> {
        self.revoke(actor, key_id, reason, Some(org)).await
    }

    async fn revoke(
        &self,
        actor: &str,
        key_id: &str,
        reason: &str,
        customer_of: Option<OrganizationId>,
    ) -> Result<()> {
        let (k, actor, reason) = (key_id.to_owned(), actor.to_owned(), reason.to_owned());
        let now = self.clock.now();
        let request = crate::http::current_request_id();
        self.store()
            .change_accounts(move |c| {
                let cred = sa::eab::by_key_id(c, &k)?
                    .ok_or_else(|| Error::not_found(format!("no EAB credential {k:?}")))?;
                if let Some(org) = customer_of {
                    customer_visible(c, &cred, org)?;
                }
                if !sa::eab::revoke(c, &k, now)? {
                    return Err(Error::new(
                        crate::error::ErrorKind::Conflict,
                        format!("EAB credential {k:?} is already revoked"),
                    ));
                }
                let bound = sa::accounts::valid_bound_to(c, cred.id)?;
                let why = format!("EAB credential {k} revoked: {reason}");
                for id in &bound {
                    super::accounts::deactivate(c, *id, &actor, &why, request, now)?;
                }
                let deactivated: Vec<i64> = bound.iter().map(|a| a.0).collect();
                sa::audit::append(
                    c,
                    NewEvent {
                        actor: &actor,
                        action: "eab.revoke",
                        organization: Some(cred.organization),
                        subject: format!("eab:{k}"),
                        reason: Some(&reason),
                        details: serde_json::json!({"accounts_deactivated": deactivated}),
                        request_id: request,
                    },
                    now,
                )?;
                Ok(((), bound))
            })
            .await
    }
}

/// A customer of `org` sees the organization's credentials for its ACME
/// clients; another organization's, or the one binding the portal's own
/// account, is not found.
fn customer_visible(c: &mut sa::DbConn, cred: &EabCredential, org: OrganizationId) -> Result<()> {
    if cred.organization != org || sa::portal_orders::is_portal_credential(c, cred.id)? {
        return Err(Error::not_found(format!(
            "no EAB credential {:?} of this organization",
            cred.key_id
        )));
    }
    Ok(())
}
