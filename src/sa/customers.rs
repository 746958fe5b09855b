//! Customer accounts, their e-mail verification tokens and their
//! acceptances of the subscriber agreement (`vetting::customers`
//! decides).

use diesel::prelude::*;
use time::OffsetDateTime;

use super::schema::{agreement_acceptances, customer_accounts, customer_email_tokens};
use super::{from_db, is_unique_violation, to_db, DbConn};
use crate::core::customer::{AccountHolder, Customer, Language};
use crate::core::{CustomerId, OrganizationId};
use crate::error::Result;

#[derive(Queryable, Selectable)]
#[diesel(table_name = customer_accounts)]
struct CustomerRow {
    id: i64,
    email: String,
    password_hash: String,
    verified_at: Option<time::PrimitiveDateTime>,
    contact_name: String,
    organization_name: String,
    department: String,
    postal_code: String,
    address: String,
    phone: String,
    fax: String,
    language: String,
    organization_id: Option<i64>,
    created_at: time::PrimitiveDateTime,
}

impl CustomerRow {
    fn into_record(self) -> Result<CustomerRecord> {
        let language = Language::parse(&self.language)
            .ok_or_else(|| super::corrupt("customer language", &self.language))?;
        Ok(CustomerRecord {
            customer: Customer {
                id: CustomerId(self.id),
                email: self.email,
                verified_at: self.verified_at.map(from_db),
                holder: AccountHolder {
                    contact_name: self.contact_name,
                    organization: self.organization_name,
                    department: self.department,
                    postal_code: self.postal_code,
                    address: self.address,
                    phone: self.phone,
                    fax: self.fax,
                },
                language,
                organization: self.organization_id.map(OrganizationId),
                created_at: from_db(self.created_at),
            },
            password_hash: self.password_hash,
        })
    }
}

/// A customer with what logging in is checked against.
pub struct CustomerRecord {
    pub customer: Customer,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// Redacts the password hash.
impl std::fmt::Debug for CustomerRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerRecord")
            .field("customer", &self.customer)
            .finish_non_exhaustive()
    }
}

/// A new account, before it is stored.
pub struct NewCustomer<'a> {
    /// Lowercased by the caller.
    pub email: &'a str,
    pub password_hash: &'a str,
    pub holder: &'a AccountHolder,
    pub language: Language,
}

/// The new account, or `None` when the address is taken.
pub fn insert(
    conn: &mut DbConn,
    new: &NewCustomer<'_>,
    now: OffsetDateTime,
) -> Result<Option<Customer>> {
    let h = new.holder;
    let row = diesel::insert_into(customer_accounts::table)
        .values((
            customer_accounts::email.eq(new.email),
            customer_accounts::password_hash.eq(new.password_hash),
            customer_accounts::contact_name.eq(&h.contact_name),
            customer_accounts::organization_name.eq(&h.organization),
            customer_accounts::department.eq(&h.department),
            customer_accounts::postal_code.eq(&h.postal_code),
            customer_accounts::address.eq(&h.address),
            customer_accounts::phone.eq(&h.phone),
            customer_accounts::fax.eq(&h.fax),
            customer_accounts::language.eq(new.language.code()),
            customer_accounts::created_at.eq(to_db(now)),
        ))
        .returning(customer_accounts::all_columns)
        .get_result::<CustomerRow>(conn);
    match row {
        Ok(r) => Ok(Some(r.into_record()?.customer)),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An unverified account's data replaced by a new sign-up's (its
/// verification links are spent); as new from `now`.
pub fn replace_unverified(
    conn: &mut DbConn,
    id: CustomerId,
    new: &NewCustomer<'_>,
    now: OffsetDateTime,
) -> Result<Customer> {
    let h = new.holder;
    diesel::update(
        customer_email_tokens::table
            .filter(customer_email_tokens::customer_id.eq(id.0))
            .filter(customer_email_tokens::used_at.is_null()),
    )
    .set(customer_email_tokens::used_at.eq(to_db(now)))
    .execute(conn)?;
    let row: CustomerRow = diesel::update(
        customer_accounts::table
            .find(id.0)
            .filter(customer_accounts::verified_at.is_null()),
    )
    .set((
        customer_accounts::password_hash.eq(new.password_hash),
        customer_accounts::contact_name.eq(&h.contact_name),
        customer_accounts::organization_name.eq(&h.organization),
        customer_accounts::department.eq(&h.department),
        customer_accounts::postal_code.eq(&h.postal_code),
        customer_accounts::address.eq(&h.address),
        customer_accounts::phone.eq(&h.phone),
        customer_accounts::fax.eq(&h.fax),
        customer_accounts::language.eq(new.language.code()),
        customer_accounts::created_at.eq(to_db(now)),
    ))
    .returning(customer_accounts::all_columns)
    .get_result(conn)?;
    Ok(row.into_record()?.customer)
}

pub fn by_email(conn: &mut DbConn, email: &str) -> Result<Option<CustomerRecord>> {
    customer_accounts::table
        .filter(customer_accounts::email.eq(email))
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?
        .map(CustomerRow::into_record)
        .transpose()
}

pub fn by_id(conn: &mut DbConn, id: CustomerId) -> Result<Option<Customer>> {
    customer_accounts::table
        .find(id.0)
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?
        .map(|r| r.into_record().map(|r| r.customer))
        .transpose()
}

/// The customer accounts of an organization (the one whose application
/// created it), oldest first.
pub fn of_organization(conn: &mut DbConn, org: OrganizationId) -> Result<Vec<Customer>> {
    customer_accounts::table
        .filter(customer_accounts::organization_id.eq(org.0))
        .order(customer_accounts::id)
        .select(CustomerRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|r| r.into_record().map(|r| r.customer))
        .collect()
}

pub fn set_language(conn: &mut DbConn, id: CustomerId, language: Language) -> Result<()> {
    diesel::update(customer_accounts::table.find(id.0))
        .set(customer_accounts::language.eq(language.code()))
        .execute(conn)?;
    Ok(())
}

/// Binds the account to the organization its application created.
pub fn set_organization(conn: &mut DbConn, id: CustomerId, org: OrganizationId) -> Result<()> {
    diesel::update(customer_accounts::table.find(id.0))
        .set(customer_accounts::organization_id.eq(org.0))
        .execute(conn)?;
    Ok(())
}

pub fn insert_email_token(
    conn: &mut DbConn,
    token_sha256: &str,
    customer: CustomerId,
    expires_at: OffsetDateTime,
) -> Result<()> {
    diesel::insert_into(customer_email_tokens::table)
        .values((
            customer_email_tokens::token_sha256.eq(token_sha256),
            customer_email_tokens::customer_id.eq(customer.0),
            customer_email_tokens::expires_at.eq(to_db(expires_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Uses the token: marks it used and the account verified, when it is
/// unused and unexpired at `now`; the account it verified, else `None`.
/// One conditional update, so of two uses at once only one wins.
pub fn use_email_token(
    conn: &mut DbConn,
    token_sha256: &str,
    now: OffsetDateTime,
) -> Result<Option<CustomerId>> {
    let claimed: Option<i64> = diesel::update(
        customer_email_tokens::table
            .find(token_sha256)
            .filter(customer_email_tokens::used_at.is_null())
            .filter(customer_email_tokens::expires_at.gt(to_db(now))),
    )
    .set(customer_email_tokens::used_at.eq(to_db(now)))
    .returning(customer_email_tokens::customer_id)
    .get_result(conn)
    .optional()?;
    let Some(id) = claimed else {
        return Ok(None);
    };
    diesel::update(
        customer_accounts::table
            .find(id)
            .filter(customer_accounts::verified_at.is_null()),
    )
    .set(customer_accounts::verified_at.eq(to_db(now)))
    .execute(conn)?;
    Ok(Some(CustomerId(id)))
}

pub fn insert_acceptance(
    conn: &mut DbConn,
    customer: CustomerId,
    version: &str,
    remote_address: Option<&str>,
    now: OffsetDateTime,
) -> Result<()> {
    diesel::insert_into(agreement_acceptances::table)
        .values((
            agreement_acceptances::customer_id.eq(customer.0),
            agreement_acceptances::version.eq(version),
            agreement_acceptances::accepted_at.eq(to_db(now)),
            agreement_acceptances::remote_address.eq(remote_address),
        ))
        .execute(conn)?;
    Ok(())
}

/// The version of the agreement the customer accepted last, and when.
pub fn accepted_version(
    conn: &mut DbConn,
    customer: CustomerId,
) -> Result<Option<(String, OffsetDateTime)>> {
    Ok(agreement_acceptances::table
        .filter(agreement_acceptances::customer_id.eq(customer.0))
        .order(agreement_acceptances::id.desc())
        .select((
            agreement_acceptances::version,
            agreement_acceptances::accepted_at,
        ))
        .first::<(String, time::PrimitiveDateTime)>(conn)
        .optional()?
        .map(|(v, t)| (v, from_db(t))))
}
