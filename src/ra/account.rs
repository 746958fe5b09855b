//! Accounts (RFC 8555 §7.3) and External Account Binding (§7.3.4).

use serde_json::{Map, Value};

use super::events::Audit;
use super::{policy, Ra};
use crate::acme::AccountRequest;
use crate::core::{Account, AccountStatus, EabId, OrganizationId};
use crate::error::{Error, ErrorKind, Result, UserAction};
use crate::jose::{self, AccountKey, FlattenedJws};
use crate::sa::{self, accounts::Created};

pub enum NewAccountOutcome {
    /// 201: a new account.
    Created(Account),
    /// 200: the key already has an account (RFC 8555 §7.3.1).
    Existing(Account),
}

impl Ra {
    /// newAccount (RFC 8555 §7.3). `raw_jwk` is the key exactly as the
    /// client sent it: the EAB payload must equal it. `client` is the
    /// peer's address (the new-accounts-per-address limit).
    pub async fn new_account(
        &self,
        key: &AccountKey,
        raw_jwk: &Map<String, Value>,
        req: AccountRequest,
        new_account_url: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<NewAccountOutcome> {
        let thumbprint = key.thumbprint().to_owned();
        let existing = self
            .store()
            .read(move |c| sa::accounts::by_thumbprint(c, &thumbprint))
            .await?;
        if let Some(acct) = existing {
            if acct.status != AccountStatus::Valid {
                return Err(Error::unauthorized(format!(
                    "account {} is {}",
                    acct.id, acct.status
                )));
            }
            return Ok(NewAccountOutcome::Existing(acct));
        }
        if req.only_return_existing {
            return Err(Error::new(
                ErrorKind::AccountDoesNotExist,
                "no account exists with this key",
            ));
        }
        if self.cfg().terms_url().is_some() && req.terms_of_service_agreed != Some(true) {
            return Err(Error::malformed(
                "the terms of service must be agreed to (termsOfServiceAgreed: true)",
            ));
        }
        let contact = req.contact.unwrap_or_default();
        policy::check_contacts(&contact)?;
        let eab = match req.external_account_binding {
            Some(v) => Some(self.check_eab(&v, raw_jwk, new_account_url).await?),
            None if self.cfg().acme.external_account_required => {
                return Err(Error::new(
                    ErrorKind::ExternalAccountRequired,
                    "this CA requires an external account binding (externalAccountBinding) from your CA account",
                ))
            }
            None => None,
        };
        self.limit_new_account(client).await?;
        let new = sa::accounts::NewAccount {
            key_thumbprint: key.thumbprint().to_owned(),
            jwk: key.jwk().clone(),
            contact,
            eab_credential: eab.as_ref().map(|e| e.id),
            terms_version: self.cfg().agreement.version.clone(),
        };
        let now = self.clock().now();
        // The actor is the new account, named once its id is known.
        let audit = Audit::by(String::new(), eab.as_ref().map(|e| e.organization), now);
        match self
            .store()
            .run(move |c| {
                sa::accounts::create_with(c, new, now, |c, a| record_registration(c, audit, a, eab))
            })
            .await?
        {
            Created::New(a) => {
                tracing::info!(account = a.id.0, eab = ?a.binding.map(|b| b.credential.0), "account created");
                Ok(NewAccountOutcome::Created(a))
            }
            Created::Existing(a) => Ok(NewAccountOutcome::Existing(a)),
        }
    }

    /// Gives the accounts registered before agreement versions were
    /// recorded the version configured now: the one they registered
    /// under, since the version is first configured with the release that
    /// records it. Run once at start; afterwards it finds none.
    pub async fn record_terms_in_force(&self) -> Result<usize> {
        let version = self.cfg().agreement.version.clone();
        let filled = self
            .store()
            .run(move |c| sa::accounts::record_terms_in_force(c, &version))
            .await?;
        if filled > 0 {
            tracing::info!(
                accounts = filled,
                version = %self.cfg().agreement.version,
                "accounts registered before agreement versions were recorded hold the version in force"
            );
        }
        Ok(filled)
    }

    /// RFC 8555 §7.3.3: once the agreement's version has changed, the
    /// account must accept the new one before it orders, answers a
    /// challenge or finalizes — each step towards a certificate. Reads,
    /// contact updates, key changes, deactivation and revocation stay
    /// open, so an account that does not accept can still look after what
    /// it has. Acceptance is in the customer portal (a person, as §7.3.3
    /// asks, not the client re-sending termsOfServiceAgreed), so without a
    /// portal nothing is enforced. Reads only the account the request
    /// already holds.
    pub(super) fn require_current_terms(&self, acct: &Account) -> Result<()> {
        let cfg = self.cfg();
        let current = &cfg.agreement.version;
        match acct.terms_version.as_deref() {
            _ if cfg.portal.public_url().is_none() => Ok(()),
            // Registered before versions were recorded: its version is
            // filled in when the server starts (`sa::accounts`).
            None => Ok(()),
            Some(v) if v == current => Ok(()),
            Some(v) => Err(Error::new(
                ErrorKind::UserActionRequired,
                format!(
                    "the subscriber agreement has changed to version {current} (this account accepted {v}); \
                     a person must accept it for ACME account {} in the customer portal, then retry",
                    acct.id
                ),
            )
            .with_user_action(UserAction::AcceptTerms {
                account: acct.id.0,
            })),
        }
    }

    /// Verifies the binding JWS (RFC 8555 §7.3.4) and returns the
    /// credential it names. Whether a single-use credential is still
    /// unused is decided atomically when the account row is written.
    async fn check_eab(
        &self,
        eab: &Value,
        raw_jwk: &Map<String, Value>,
        new_account_url: &str,
    ) -> Result<BoundCredential> {
        let (jws, alg, kid) = parse_eab(eab, raw_jwk, new_account_url)?;
        let (alg, kid) = (alg.as_str(), kid.as_str());
        let key_id = kid.to_owned();
        let cred = self
            .store()
            .read(move |c| sa::eab::by_key_id(c, &key_id))
            .await?
            .ok_or_else(|| {
                Error::unauthorized(format!(
                    "external account binding key id {kid:?} is unknown"
                ))
            })?;
        let hmac_key =
            crate::vetting::sealing::open(&self.cfg().vetting, &cred.key_id, &cred.hmac_key)?;
        jose::verify_hmac(
            alg,
            &hmac_key,
            jws.signing_input().as_bytes(),
            &jws.signature,
        )?;
        let now = self.clock().now();
        if cred.revoked_at.is_some() {
            return Err(Error::unauthorized(format!(
                "external account binding key {kid:?} has been revoked"
            )));
        }
        if cred.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::unauthorized(format!(
                "external account binding key {kid:?} has expired"
            )));
        }
        if cred.single_use && cred.used_at.is_some() {
            return Err(Error::unauthorized(format!(
                "external account binding key {kid:?} has already been used to create an account"
            )));
        }
        Ok(BoundCredential {
            id: cred.id,
            key_id: cred.key_id,
            organization: cred.organization,
        })
    }

    /// Account update and deactivation (RFC 8555 §7.3.2, §7.3.6).
    pub async fn update_account(&self, acct: Account, req: AccountRequest) -> Result<Account> {
        let mut acct = acct;
        if let Some(status) = req.status.as_deref() {
            if status != AccountStatus::Deactivated.as_str() {
                return Err(Error::malformed(format!(
                    "account status can only be changed to \"deactivated\", not {status:?}"
                )));
            }
        }
        if let Some(contact) = req.contact {
            policy::check_contacts(&contact)?;
            let id = acct.id;
            let c2 = contact.clone();
            self.store()
                .change_account(id, move |c| sa::accounts::update_contact(c, id, &c2))
                .await?;
            acct.contact = contact;
        }
        if req.status.is_some() {
            let id = acct.id;
            let audit = Audit::account(id, acct.organization(), self.clock().now());
            self.store()
                .change_account(id, move |c| {
                    sa::accounts::deactivate(c, id)?;
                    audit.record(
                        c,
                        "account.deactivate",
                        format!("account:{id}"),
                        None,
                        serde_json::json!({"account": id}),
                    )
                })
                .await?;
            tracing::info!(account = id.0, "account deactivated");
            acct.status = AccountStatus::Deactivated;
        }
        Ok(acct)
    }
}

/// The binding JWS checked as far as it can be without its key (RFC 8555
/// §7.3.4): syntax, no nonce, the newAccount URL, the account key as
/// payload. Returns the JWS, its `alg` and its `kid`.
pub(crate) fn parse_eab(
    eab: &Value,
    raw_jwk: &Map<String, Value>,
    new_account_url: &str,
) -> Result<(FlattenedJws, String, String)> {
    const WHAT: &str = "externalAccountBinding";
    let bad = |d: &str| Error::malformed(format!("{WHAT}: {d}"));
    let jws = FlattenedJws::parse(eab, WHAT)?;
    let alg = jws.header_str("alg").ok_or_else(|| bad("missing alg"))?;
    let kid = jws.header_str("kid").ok_or_else(|| bad("missing kid"))?;
    if jws.header.contains_key("nonce") {
        return Err(bad("must not contain a nonce"));
    }
    if jws.header_str("url") != Some(new_account_url) {
        return Err(bad("url must be the newAccount URL"));
    }
    if jws.payload_json(WHAT)? != Value::Object(raw_jwk.clone()) {
        return Err(bad("payload must be the account key (jwk) of the request"));
    }
    let (alg, kid) = (alg.to_owned(), kid.to_owned());
    Ok((jws, alg, kid))
}

/// The EAB credential a new account binds (RFC 8555 §7.3.4).
struct BoundCredential {
    id: EabId,
    key_id: String,
    organization: OrganizationId,
}

/// The registration's audit event, in the account's own transaction:
/// the EAB key id and the organization it binds the account to.
fn record_registration(
    c: &mut sa::DbConn,
    audit: Audit,
    account: &Account,
    eab: Option<BoundCredential>,
) -> Result<()> {
    let id = account.id;
    audit.acting_as(id).record(
        c,
        "account.register",
        format!("account:{id}"),
        None,
        serde_json::json!({
            "account": id,
            "key_thumbprint": account.key_thumbprint,
            "eab_key_id": eab.as_ref().map(|e| e.key_id.as_str()),
            "organization": eab.as_ref().map(|e| e.organization),
            "terms_version": account.terms_version,
        }),
    )
}
