//! Registration authority: every decision about accounts, orders,
//! authorizations and issuance. `wfe` calls in with verified requests;
//! `ra` calls `sa` to store, `va` to validate and `ca` to sign.

use std::sync::Arc;

use crate::ca::CertificateAuthority;
use crate::config::Config;
use crate::core::{Account, AccountId, AccountStatus, Clock};
use crate::error::{Error, Result};
use crate::sa::Store;
use crate::va::Validator;

mod account;
mod authz;
mod caa;
pub mod events;
pub mod limits;
pub mod notices;
mod order;
pub mod policy;
pub mod portal_orders;
pub mod renewal;
pub mod revocation;
mod validation_age;

pub(crate) use account::parse_eab;
pub use account::NewAccountOutcome;

#[derive(Clone)]
pub struct Ra {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: Arc<Config>,
    store: Store,
    ca: Arc<CertificateAuthority>,
    va: Validator,
    validating: Arc<authz::Validating>,
    limits: limits::Limits,
    /// Every dated decision (order and authorization lifetimes, the BR
    /// validity cap, reuse periods) reads this.
    clock: Clock,
}

impl Ra {
    pub fn new(
        cfg: Arc<Config>,
        store: Store,
        ca: Arc<CertificateAuthority>,
        va: Validator,
        clock: Clock,
    ) -> Ra {
        let limits = limits::Limits::new(&cfg, store.backend());
        Ra {
            inner: Arc::new(Inner {
                cfg,
                store,
                ca,
                va,
                validating: Arc::default(),
                limits,
                clock,
            }),
        }
    }

    fn cfg(&self) -> &Config {
        &self.inner.cfg
    }

    /// The time every decision of the RA is made at.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn ca(&self) -> &CertificateAuthority {
        &self.inner.ca
    }

    /// Account `id`, refused unless it is valid.
    pub async fn account_for_request(&self, id: AccountId) -> Result<Account> {
        let stored = self.store().account(id).await?;
        usable_account(id, stored)
    }
}

/// The account `id` as read from the store, refused unless it is valid
/// (RFC 8555 §7.3.6: a deactivated account's key authorizes nothing).
fn usable_account(id: AccountId, stored: Option<Account>) -> Result<Account> {
    let acct = stored.ok_or_else(|| {
        Error::new(
            crate::error::ErrorKind::AccountDoesNotExist,
            format!("account {id} does not exist"),
        )
    })?;
    if acct.status != AccountStatus::Valid {
        return Err(Error::unauthorized(format!(
            "account {id} is {}",
            acct.status
        )));
    }
    Ok(acct)
}

/// A resource of another account is refused as if it did not exist, so
/// account ids cannot be probed.
fn owned_by(owner: AccountId, acct: &Account, what: &str) -> Result<()> {
    if owner == acct.id {
        Ok(())
    } else {
        Err(Error::not_found(format!("no such {what}")))
    }
}
