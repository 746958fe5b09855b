//! Trust seals: one per organization (`vetting::seal` decides what a
//! seal says; `publish::seal` serves it). A seal is found by the SHA-256
//! of its id (`lookup`), never by the id itself, so that a guess is
//! compared digest against digest and how much of a real id it matches
//! shows in no timing.

use diesel::prelude::*;
use time::OffsetDateTime;

use super::schema::seals;
use super::{is_unique_violation, to_db, DbConn};
use crate::core::OrganizationId;
use crate::error::Result;

/// Stores `seal_id` (and its digest `lookup`) as the organization's seal
/// unless it has one already; returns the seal id in force either way.
pub fn create_if_absent(
    conn: &mut DbConn,
    org: OrganizationId,
    seal_id: &str,
    lookup: &str,
    now: OffsetDateTime,
) -> Result<String> {
    if let Some(existing) = of_organization(conn, org)? {
        return Ok(existing);
    }
    let inserted = diesel::insert_into(seals::table)
        .values((
            seals::organization_id.eq(org.0),
            seals::seal_id.eq(seal_id),
            seals::lookup.eq(lookup),
            seals::created_at.eq(to_db(now)),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(seal_id.to_owned()),
        // Another instance made one at the same moment: theirs stands.
        Err(e) if is_unique_violation(&e) => Ok(of_organization(conn, org)?.unwrap_or_default()),
        Err(e) => Err(super::db_err(e)),
    }
}

/// The organization's seal id, if it has one.
pub fn of_organization(conn: &mut DbConn, org: OrganizationId) -> Result<Option<String>> {
    Ok(seals::table
        .find(org.0)
        .select(seals::seal_id)
        .first(conn)
        .optional()?)
}

/// The organization whose seal id has the digest `lookup`: one indexed
/// equality on the digest, the same statement for a hit and a miss.
pub fn organization_by_lookup(conn: &mut DbConn, lookup: &str) -> Result<Option<OrganizationId>> {
    Ok(by_lookup(lookup)
        .first::<i64>(conn)
        .optional()?
        .map(OrganizationId))
}

/// The statement [`organization_by_lookup`] runs (tests print it).
fn by_lookup(lookup: &str) -> ByLookup<'_> {
    seals::table
        .filter(seals::lookup.eq(lookup))
        .select(seals::organization_id)
}

type ByLookup<'a> = diesel::dsl::Select<
    diesel::dsl::Filter<seals::table, diesel::dsl::Eq<seals::lookup, &'a str>>,
    seals::organization_id,
>;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sa::crls::testing::store;

    /// A hit and a miss run one statement: an equality on the digest
    /// column, the digest bound as a parameter (never the id, never a
    /// prefix match).
    #[test]
    fn hits_and_misses_run_the_same_statement() {
        let sql = |d: &str| {
            let q = by_lookup(d);
            let text = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&q).to_string();
            text.split(" -- binds:").next().unwrap().to_owned()
        };
        let hit = sql("digest-of-a-real-id");
        assert_eq!(hit, sql("digest-of-a-guess"));
        assert!(hit.contains("`seals`.`lookup` = ?"), "{hit}");
        assert!(!hit.to_lowercase().contains("like"), "{hit}");
    }

    /// One seal per organization, kept when asked again; found by digest
    /// only (SQLite, and PostgreSQL with TEST_DATABASE_URL).
    #[tokio::test]
    async fn one_seal_per_organization() {
        let (_db, store) = store();
        let now = store.clock().now();
        let (first, again, by_digest, by_id) = store
            .write(move |c| {
                let data: crate::core::organization::OrganizationData =
                    serde_json::from_str(include_str!("../../conf/organization.example.json"))
                        .expect("example");
                let org = super::super::organizations::create(c, &data, "t", now)?;
                let first = create_if_absent(c, org.id, "sealone", "digest-one", now)?;
                let again = create_if_absent(c, org.id, "sealtwo", "digest-two", now)?;
                Ok((
                    first,
                    again,
                    organization_by_lookup(c, "digest-one")?.map(|o| o == org.id),
                    organization_by_lookup(c, "sealone")?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(first, "sealone");
        assert_eq!(again, "sealone");
        assert_eq!(by_digest, Some(true));
        assert_eq!(by_id, None);
    }
}
