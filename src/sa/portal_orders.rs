//! Certificate requests placed in the customer portal (issue #25): each
//! organization's portal account (`portal_accounts`), the portal's orders
//! with their CSR (`portal_orders`), and what a customer may see of the
//! organization's certificates and EAB credentials — always through the
//! organization, so another organization's row is never found.

use diesel::prelude::*;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::models::{CertificateRow, EabRow};
use super::schema::{
    accounts, certificates, eab_credentials, orders, portal_accounts, portal_orders,
};
use super::{db_err_unless_unique, from_db, to_db, DbConn};
use crate::core::{AccountId, Certificate, EabCredential, EabId, OrderId, OrganizationId};
use crate::error::{Error, ErrorKind, Result};

/// The organization's portal account, if it has one.
pub fn account_of(conn: &mut DbConn, org: OrganizationId) -> Result<Option<AccountId>> {
    Ok(portal_accounts::table
        .find(org.0)
        .select(portal_accounts::account_id)
        .first::<i64>(conn)
        .optional()?
        .map(AccountId))
}

/// Records `account` (bound through `credential`) as the organization's
/// portal account. A second one for the organization is a `Conflict`
/// (a concurrent first request made it).
pub fn bind_account(
    conn: &mut DbConn,
    org: OrganizationId,
    account: AccountId,
    credential: EabId,
    now: OffsetDateTime,
) -> Result<()> {
    diesel::insert_into(portal_accounts::table)
        .values((
            portal_accounts::organization_id.eq(org.0),
            portal_accounts::account_id.eq(account.0),
            portal_accounts::eab_credential_id.eq(credential.0),
            portal_accounts::created_at.eq(to_db(now)),
        ))
        .execute(conn)
        .map_err(|e| {
            db_err_unless_unique(e, || {
                Error::new(
                    ErrorKind::Conflict,
                    format!("organization {org} has a portal account already"),
                )
            })
        })?;
    Ok(())
}

/// An order placed in the portal, as stored beside the order itself.
#[derive(Clone)]
pub struct PortalOrder {
    pub order: OrderId,
    pub organization: OrganizationId,
    /// The CSR as pasted, DER.
    pub csr: Vec<u8>,
    pub placed_by: String,
    pub created_at: OffsetDateTime,
}

pub fn insert_order(conn: &mut DbConn, new: &PortalOrder) -> Result<()> {
    diesel::insert_into(portal_orders::table)
        .values((
            portal_orders::order_id.eq(new.order.0),
            portal_orders::organization_id.eq(new.organization.0),
            portal_orders::csr.eq(&new.csr),
            portal_orders::placed_by.eq(&new.placed_by),
            portal_orders::created_at.eq(to_db(new.created_at)),
        ))
        .execute(conn)?;
    Ok(())
}

type OrderRow = (i64, i64, Vec<u8>, String, PrimitiveDateTime);

fn order_from(row: OrderRow) -> PortalOrder {
    let (order, organization, csr, placed_by, created_at) = row;
    PortalOrder {
        order: OrderId(order),
        organization: OrganizationId(organization),
        csr,
        placed_by,
        created_at: from_db(created_at),
    }
}

/// The portal order `id`, if it is `org`'s.
pub fn order_of(
    conn: &mut DbConn,
    org: OrganizationId,
    id: OrderId,
) -> Result<Option<PortalOrder>> {
    Ok(portal_orders::table
        .find(id.0)
        .filter(portal_orders::organization_id.eq(org.0))
        .select((
            portal_orders::order_id,
            portal_orders::organization_id,
            portal_orders::csr,
            portal_orders::placed_by,
            portal_orders::created_at,
        ))
        .first::<OrderRow>(conn)
        .optional()?
        .map(order_from))
}

/// The ids of `org`'s newest `limit` portal orders, newest first.
pub fn order_ids_of(conn: &mut DbConn, org: OrganizationId, limit: i64) -> Result<Vec<OrderId>> {
    Ok(portal_orders::table
        .filter(portal_orders::organization_id.eq(org.0))
        .order(portal_orders::order_id.desc())
        .limit(limit)
        .select(portal_orders::order_id)
        .load::<i64>(conn)?
        .into_iter()
        .map(OrderId)
        .collect())
}

/// The certificate with `serial`, if an account bound to `org` holds it
/// (the portal's own, or one of the organization's ACME clients').
pub fn certificate_of(
    conn: &mut DbConn,
    org: OrganizationId,
    serial: &str,
) -> Result<Option<Certificate>> {
    Ok(certificates::table
        .inner_join(accounts::table.inner_join(eab_credentials::table))
        .filter(certificates::serial.eq(serial))
        .filter(eab_credentials::organization_id.eq(org.0))
        .select(CertificateRow::as_select())
        .first(conn)
        .optional()?
        .map(CertificateRow::into_core))
}

/// `org`'s EAB credentials for its ACME clients, oldest first: every one
/// but the credential binding the portal's own account.
pub fn client_credentials(conn: &mut DbConn, org: OrganizationId) -> Result<Vec<EabCredential>> {
    let portal = portal_accounts::table
        .filter(portal_accounts::organization_id.eq(org.0))
        .select(portal_accounts::eab_credential_id);
    Ok(eab_credentials::table
        .filter(eab_credentials::organization_id.eq(org.0))
        .filter(eab_credentials::id.ne_all(portal))
        .order(eab_credentials::id.asc())
        .select(EabRow::as_select())
        .load(conn)?
        .into_iter()
        .map(EabRow::into_core)
        .collect())
}

/// Whether `credential` binds a portal account (customers never see or
/// revoke it).
pub fn is_portal_credential(conn: &mut DbConn, credential: EabId) -> Result<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        portal_accounts::table.filter(portal_accounts::eab_credential_id.eq(credential.0)),
    ))
    .get_result(conn)?)
}

/// The gate's last refusal recorded on the order (JSON: condition,
/// detail, at), if it has one.
pub fn gate_refusal(conn: &mut DbConn, order: OrderId) -> Result<Option<String>> {
    Ok(orders::table
        .find(order.0)
        .select(orders::gate_refusal)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}
