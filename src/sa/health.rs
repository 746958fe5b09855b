//! What the console's health page counts: the work waiting on staff or
//! on the CA, and the CRLs as stored. Each count reads its rows through
//! an index (see `query_plans`), so the page costs the same with a
//! million certificates.

use diesel::dsl::{exists, not};
use diesel::prelude::*;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::schema::{certificates, challenges, crls, orders, organizations, precertificates};
use super::{corrupt, from_db, DbConn};
use crate::core::vetting::VettingStatus;
use crate::core::{ChallengeStatus, StoredOrderStatus};
use crate::error::Result;

/// The queues, as counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queues {
    /// Organizations waiting for vetting.
    pub pending_organizations: i64,
    /// Orders the vetting gate refused that still wait for an approval.
    pub blocked_orders: i64,
    /// Orders being finalized (signing, CT logs) right now, or left
    /// `processing` for the sweep.
    pub processing_orders: i64,
    /// Challenges being validated.
    pub processing_challenges: i64,
    /// Precertificates of orders that have no certificate (not `valid`):
    /// being finalized, or stopped after the precertificate was logged.
    pub precertificates_without_final: i64,
}

pub fn queues(conn: &mut DbConn, now: OffsetDateTime) -> Result<Queues> {
    // `ready` is stored as `pending`.
    let unfinished = [
        StoredOrderStatus::Pending.as_str(),
        StoredOrderStatus::Processing.as_str(),
        StoredOrderStatus::Invalid.as_str(),
    ];
    Ok(Queues {
        pending_organizations: organizations::table
            .filter(organizations::status.eq(VettingStatus::Pending.as_str()))
            .count()
            .get_result(conn)?,
        blocked_orders: super::organizations::blocked_orders(conn, now)?.len() as i64,
        processing_orders: orders::table
            .filter(orders::status.eq(StoredOrderStatus::Processing.as_str()))
            .count()
            .get_result(conn)?,
        processing_challenges: challenges::table
            .filter(challenges::status.eq(ChallengeStatus::Processing.as_str()))
            .count()
            .get_result(conn)?,
        precertificates_without_final: precertificates::table
            .filter(
                precertificates::order_id.eq_any(
                    orders::table
                        .filter(orders::status.eq_any(unfinished))
                        .select(orders::id),
                ),
            )
            .filter(not(exists(
                certificates::table
                    .filter(certificates::serial.eq(precertificates::serial))
                    .select(certificates::id),
            )))
            .count()
            .get_result(conn)?,
    })
}

/// A stored CRL without its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlSummary {
    pub shard: u32,
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
}

/// Every stored CRL, by shard.
pub fn crls(conn: &mut DbConn) -> Result<Vec<CrlSummary>> {
    crls::table
        .select((
            crls::shard,
            crls::number,
            crls::this_update,
            crls::next_update,
        ))
        .order(crls::shard.asc())
        .load::<(i32, i64, PrimitiveDateTime, PrimitiveDateTime)>(conn)?
        .into_iter()
        .map(|(shard, number, this, next)| {
            Ok(CrlSummary {
                shard: u32::try_from(shard)
                    .map_err(|_| corrupt("CRL shard", &shard.to_string()))?,
                number: u64::try_from(number)
                    .map_err(|_| corrupt("CRL number", &number.to_string()))?,
                this_update: from_db(this),
                next_update: from_db(next),
            })
        })
        .collect()
}
