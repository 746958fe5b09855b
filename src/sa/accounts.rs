//! Accounts (RFC 8555 §7.3).

use diesel::prelude::*;
use time::OffsetDateTime;

use super::models::AccountRow;
use super::native::native;
use super::schema::{accounts, eab_credentials};
use super::{db_err, db_err_unless_unique, to_db, DbConn};
use crate::core::{Account, AccountId, AccountStatus, EabId};
use crate::error::{Error, ErrorKind, Result};

pub struct NewAccount {
    pub key_thumbprint: String,
    pub jwk: serde_json::Map<String, serde_json::Value>,
    pub contact: Vec<String>,
    pub eab_credential: Option<EabId>,
    /// The subscriber-agreement version in force at registration, which
    /// the client agreed to (RFC 8555 §7.3.3).
    pub terms_version: String,
}

/// The outcome of creating an account: a concurrent request with the same
/// key may have won the race, in which case that account is returned.
pub enum Created {
    New(Account),
    Existing(Account),
}

/// Inserts the account and binds the EAB credential in one transaction;
/// the credential's `used_at` update is conditional, so a single-use key
/// binds exactly one account even under concurrent requests.
pub fn create(conn: &mut DbConn, new: NewAccount, now: OffsetDateTime) -> Result<Created> {
    create_with(conn, new, now, |_, _| Ok(()))
}

/// `create`, with `also` (the registration's audit event) written in the
/// same transaction as a new account.
pub fn create_with(
    conn: &mut DbConn,
    new: NewAccount,
    now: OffsetDateTime,
    also: impl FnOnce(&mut DbConn, &Account) -> Result<()>,
) -> Result<Created> {
    let res = super::write_tx(conn, |c| {
        let mut organization = None;
        if let Some(eab) = new.eab_credential {
            organization = diesel::update(
                eab_credentials::table
                    .filter(eab_credentials::id.eq(eab.0))
                    .filter(
                        eab_credentials::single_use
                            .eq(false)
                            .or(eab_credentials::used_at.is_null()),
                    ),
            )
            .set(eab_credentials::used_at.eq(Some(to_db(now))))
            .returning(eab_credentials::organization_id)
            .get_result::<i64>(c)
            .optional()?;
            if organization.is_none() {
                return Err(Error::unauthorized(
                    "external account binding key has already been used to create an account",
                ));
            }
        }
        let jwk = serde_json::Value::Object(new.jwk.clone()).to_string();
        let contact = serde_json::to_string(&new.contact)
            .map_err(|e| Error::internal(format!("encoding contact: {e}")))?;
        let row: AccountRow = diesel::insert_into(accounts::table)
            .values((
                accounts::key_thumbprint.eq(&new.key_thumbprint),
                accounts::jwk.eq(jwk),
                accounts::contact.eq(contact),
                accounts::status.eq(AccountStatus::Valid.as_str()),
                accounts::eab_credential_id.eq(new.eab_credential.map(|e| e.0)),
                accounts::created_at.eq(to_db(now)),
                accounts::terms_version.eq(Some(&new.terms_version)),
                accounts::terms_accepted_at.eq(Some(to_db(now))),
            ))
            .returning(accounts::all_columns)
            .get_result(c)
            .map_err(|e| {
                db_err_unless_unique(e, || {
                    Error::new(ErrorKind::Conflict, "account key already registered")
                })
            })?;
        let account = row.into_core(organization)?;
        also(c, &account)?;
        Ok(account)
    });
    match res {
        Ok(a) => Ok(Created::New(a)),
        Err(e) if e.kind == ErrorKind::Conflict => by_thumbprint(conn, &new.key_thumbprint)?
            .map(Created::Existing)
            .ok_or(e),
        Err(e) => Err(e),
    }
}

pub fn by_id(conn: &mut DbConn, id: AccountId) -> Result<Option<Account>> {
    native!(conn, |c| accounts::table
        .left_join(eab_credentials::table)
        .filter(accounts::id.eq(id.0))
        .select((
            AccountRow::as_select(),
            eab_credentials::organization_id.nullable()
        ))
        .first::<(AccountRow, Option<i64>)>(c)
        .optional())?
    .map(|(row, org)| row.into_core(org))
    .transpose()
}

pub fn by_thumbprint(conn: &mut DbConn, thumbprint: &str) -> Result<Option<Account>> {
    native!(conn, |c| accounts::table
        .left_join(eab_credentials::table)
        .filter(accounts::key_thumbprint.eq(thumbprint))
        .select((
            AccountRow::as_select(),
            eab_credentials::organization_id.nullable()
        ))
        .first::<(AccountRow, Option<i64>)>(c)
        .optional())?
    .map(|(row, org)| row.into_core(org))
    .transpose()
}

/// Tells the other instances (PostgreSQL `NOTIFY`, delivered when the
/// transaction commits) that account `id` changed, so that they drop it
/// from their caches (`account_cache`). SQLite is one instance.
pub fn announce_change(conn: &mut DbConn, id: AccountId) -> Result<()> {
    use diesel::connection::SimpleConnection;
    if let DbConn::Pg(c) = conn {
        let channel = super::account_cache::CHANNEL;
        c.batch_execute(&format!("NOTIFY {channel}, '{}'", id.0))
            .map_err(db_err)?;
    }
    Ok(())
}

/// Records that account `id` accepted agreement `version` at `now`
/// (RFC 8555 §7.3.3). Run through `Store::change_account`, so the cached
/// account is dropped once it commits.
pub fn accept_terms(
    conn: &mut DbConn,
    id: AccountId,
    version: &str,
    now: OffsetDateTime,
) -> Result<()> {
    diesel::update(accounts::table.find(id.0))
        .set((
            accounts::terms_version.eq(Some(version)),
            accounts::terms_accepted_at.eq(Some(to_db(now))),
        ))
        .execute(conn)?;
    Ok(())
}

/// Gives every account registered before agreement versions were recorded
/// the version in force now: the one they registered under, as the
/// agreement's version is first configured with this release. Returns how
/// many accounts it filled in (none after the first start). Their
/// acceptance time stays unknown (NULL).
pub fn record_terms_in_force(conn: &mut DbConn, version: &str) -> Result<usize> {
    Ok(
        diesel::update(accounts::table.filter(accounts::terms_version.is_null()))
            .set(accounts::terms_version.eq(Some(version)))
            .execute(conn)?,
    )
}

/// Account `id` if it is bound, through its EAB credential, to
/// organization `org`; otherwise `None`, as if it did not exist.
pub fn bound_to_organization(
    conn: &mut DbConn,
    id: AccountId,
    org: crate::core::OrganizationId,
) -> Result<Option<Account>> {
    accounts::table
        .inner_join(eab_credentials::table)
        .filter(accounts::id.eq(id.0))
        .filter(eab_credentials::organization_id.eq(org.0))
        .select((AccountRow::as_select(), eab_credentials::organization_id))
        .first::<(AccountRow, i64)>(conn)
        .optional()?
        .map(|(row, org)| row.into_core(Some(org)))
        .transpose()
}

/// When account `id` accepted the agreement version it holds (`None`:
/// registered before versions were recorded).
pub fn terms_accepted_at(conn: &mut DbConn, id: AccountId) -> Result<Option<OffsetDateTime>> {
    let at: Option<Option<time::PrimitiveDateTime>> = accounts::table
        .find(id.0)
        .select(accounts::terms_accepted_at)
        .first(conn)
        .optional()?;
    Ok(at.flatten().map(super::from_db))
}

pub fn update_contact(conn: &mut DbConn, id: AccountId, contact: &[String]) -> Result<()> {
    let contact = serde_json::to_string(contact)
        .map_err(|e| Error::internal(format!("encoding contact: {e}")))?;
    diesel::update(accounts::table.find(id.0))
        .set(accounts::contact.eq(contact))
        .execute(conn)?;
    Ok(())
}

/// The valid (not deactivated) accounts bound through EAB credential
/// `credential`.
pub fn valid_bound_to(conn: &mut DbConn, credential: EabId) -> Result<Vec<AccountId>> {
    let ids: Vec<i64> = accounts::table
        .filter(accounts::eab_credential_id.eq(credential.0))
        .filter(accounts::status.eq(AccountStatus::Valid.as_str()))
        .select(accounts::id)
        .order(accounts::id)
        .load(conn)?;
    Ok(ids.into_iter().map(AccountId).collect())
}

/// Deactivates the account and, as RFC 8555 §7.3.6 asks, its pending
/// authorizations, in one transaction.
pub fn deactivate(conn: &mut DbConn, id: AccountId) -> Result<()> {
    use super::schema::authorizations;
    use crate::core::AuthorizationStatus;
    super::write_tx(conn, |c| {
        diesel::update(accounts::table.find(id.0))
            .set(accounts::status.eq(AccountStatus::Deactivated.as_str()))
            .execute(c)?;
        diesel::update(
            authorizations::table
                .filter(authorizations::account_id.eq(id.0))
                .filter(authorizations::status.eq(AuthorizationStatus::Pending.as_str())),
        )
        .set(authorizations::status.eq(AuthorizationStatus::Deactivated.as_str()))
        .execute(c)?;
        Ok(())
    })
}

/// Replaces the account key (RFC 8555 §7.3.5). A key already used by
/// another account is a `Conflict`; `ra` looks up which account has it.
pub fn change_key(
    conn: &mut DbConn,
    id: AccountId,
    thumbprint: &str,
    jwk: &serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let jwk = serde_json::Value::Object(jwk.clone()).to_string();
    // In a savepoint of its own: on PostgreSQL a failed statement spoils
    // the rest of its transaction.
    super::write_tx(conn, |c| {
        diesel::update(accounts::table.find(id.0))
            .set((
                accounts::key_thumbprint.eq(thumbprint),
                accounts::jwk.eq(&jwk),
            ))
            .execute(c)
            .map_err(|e| {
                db_err_unless_unique(e, || {
                    Error::new(
                        ErrorKind::Conflict,
                        "the new key is already in use by another account",
                    )
                })
            })
    })?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sa::crls::testing::store;

    fn new_account(thumbprint: &str, version: &str) -> NewAccount {
        NewAccount {
            key_thumbprint: thumbprint.into(),
            jwk: serde_json::Map::new(),
            contact: vec![],
            eab_credential: None,
            terms_version: version.into(),
        }
    }

    /// Accounts from before versions were recorded get the version in
    /// force, once; an account's own version is never overwritten by it.
    #[tokio::test]
    async fn accounts_without_a_version_get_the_one_in_force_once() {
        let (_db, store) = store();
        let now = crate::core::Clock::system().now();
        let (old, recent) = store
            .run(move |c| {
                let mut id = |t: &str| match create(c, new_account(t, "v1"), now)? {
                    Created::New(a) | Created::Existing(a) => Ok::<_, Error>(a.id),
                };
                let ids = (id("thumb-old")?, id("thumb-recent")?);
                // As the migration leaves an account registered before it.
                diesel::update(accounts::table.find(ids.0 .0))
                    .set((
                        accounts::terms_version.eq(None::<String>),
                        accounts::terms_accepted_at.eq(None::<time::PrimitiveDateTime>),
                    ))
                    .execute(c)?;
                Ok(ids)
            })
            .await
            .unwrap();
        let version = |id: AccountId| {
            let s = store.clone();
            async move {
                s.run(move |c| by_id(c, id))
                    .await
                    .unwrap()
                    .unwrap()
                    .terms_version
            }
        };
        assert_eq!(version(old).await, None);
        let filled = store.run(|c| record_terms_in_force(c, "v2")).await.unwrap();
        assert_eq!(filled, 1);
        assert_eq!(version(old).await.as_deref(), Some("v2"));
        assert_eq!(version(recent).await.as_deref(), Some("v1"));
        let accepted = store
            .run(move |c| Ok((terms_accepted_at(c, old)?, terms_accepted_at(c, recent)?)))
            .await
            .unwrap();
        assert_eq!(accepted.0, None, "when it was accepted stays unknown");
        assert!(accepted.1.is_some());
        let again = store.run(|c| record_terms_in_force(c, "v3")).await.unwrap();
        assert_eq!(again, 0);
        assert_eq!(version(old).await.as_deref(), Some("v2"));
    }

    /// An account carries its EAB credential and that credential's
    /// organization as registered and as read back by id or key; a
    /// single-use credential binds one account only.
    #[tokio::test]
    async fn an_account_carries_its_credential_and_organization() {
        use crate::core::Binding;
        use crate::sa::{eab, organizations};
        let (_db, store) = store();
        let now = crate::core::Clock::system().now();
        let (binding, created, by_id, by_key, second, unbound) = store
            .run(move |c| {
                let data =
                    serde_json::from_str(include_str!("../../conf/organization.example.json"))
                        .unwrap();
                let org = organizations::create(c, &data, "vetter", now)?;
                let cred = eab::create(
                    c,
                    eab::NewEab {
                        key_id: "kid-binding",
                        organization: org.id,
                        hmac_key: b"k",
                        note: "",
                        single_use: true,
                        expires_at: None,
                    },
                    now,
                )?;
                let bound = |t: &str| NewAccount {
                    eab_credential: Some(cred.id),
                    ..new_account(t, "v1")
                };
                let Created::New(created) = create(c, bound("thumb-bound"), now)? else {
                    panic!("a new account");
                };
                let second = create(c, bound("thumb-second"), now).err();
                let Created::New(unbound) = create(c, new_account("thumb-unbound", "v1"), now)?
                else {
                    panic!("a new account");
                };
                let binding = Binding {
                    credential: cred.id,
                    organization: org.id,
                };
                let by_id = by_id(c, created.id)?.unwrap();
                let by_key = by_thumbprint(c, "thumb-bound")?.unwrap();
                Ok((binding, created, by_id, by_key, second, unbound))
            })
            .await
            .unwrap();
        assert_eq!(created.binding, Some(binding));
        assert_eq!(by_id.binding, Some(binding));
        assert_eq!(by_key.binding, Some(binding));
        assert_eq!(second.map(|e| e.kind), Some(ErrorKind::Unauthorized));
        assert_eq!(unbound.binding, None);
    }
}
