//! EAB credentials: created by staff for one organization, shown once,
//! bound to one account (or several, when not single-use).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use time::Duration;

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
        let (k, actor, reason) = (key_id.to_owned(), actor.to_owned(), reason.to_owned());
        let now = self.clock.now();
        let request = crate::http::current_request_id();
        self.store()
            .change_accounts(move |c| {
                let cred = sa::eab::by_key_id(c, &k)?
                    .ok_or_else(|| Error::not_found(format!("no EAB credential {k:?}")))?;
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
