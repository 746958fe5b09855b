//! Orders, authorizations and challenges (RFC 8555 §7.1.3–7.1.5, §7.4,
//! §7.5, §8).

use diesel::prelude::*;
use time::OffsetDateTime;

use super::models::{AuthzRow, ChallengeRow, OrderRow};
use super::native::{native, update};
use super::schema::{authorizations, certificates, challenges, order_authorizations, orders};
use super::{db_err_unless_unique, to_db, DbConn};
use crate::core::*;
use crate::error::{Error, ErrorKind, Result};

/// One authorization of a new order: reuse a valid one or create it.
pub enum AuthzSpec {
    Reuse(AuthzId),
    New {
        identifier: String,
        wildcard: bool,
        expires_at: OffsetDateTime,
        challenges: Vec<(ChallengeType, String)>,
    },
}

pub struct NewOrder {
    pub account_id: AccountId,
    pub names: Vec<String>,
    pub profile: Profile,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    pub authorizations: Vec<AuthzSpec>,
    pub replaces: Option<String>,
}

/// Creates the order with its new authorizations and challenges in one
/// transaction and returns it as stored: the inserts return their rows
/// (a reused authorization is read), so nothing is read back.
pub fn create(conn: &mut DbConn, new: NewOrder, now: OffsetDateTime) -> Result<Order> {
    super::write_tx(conn, |c| {
        let order = insert_order(c, &new, now)?;
        let mut authorizations = Vec::with_capacity(new.authorizations.len());
        for spec in &new.authorizations {
            let authz = authorization_for(c, new.account_id, spec, now)?;
            link_authz(c, order.id, authz.id)?;
            authorizations.push(authz);
        }
        // As `load` orders them.
        authorizations.sort_by_key(|a| a.id);
        order.into_core(authorizations, None)
    })
}

/// The order's own row, pending.
fn insert_order(c: &mut DbConn, new: &NewOrder, now: OffsetDateTime) -> Result<OrderRow> {
    let names = serde_json::to_string(&new.names)
        .map_err(|e| Error::internal(format!("encoding names: {e}")))?;
    Ok(native!(c, |c| diesel::insert_into(orders::table)
        .values((
            orders::account_id.eq(new.account_id.0),
            orders::status.eq(StoredOrderStatus::Pending.as_str()),
            orders::names.eq(names),
            orders::profile.eq(new.profile.name()),
            orders::not_before.eq(new.not_before.map(to_db)),
            orders::not_after.eq(new.not_after.map(to_db)),
            orders::expires_at.eq(to_db(new.expires_at)),
            orders::replaces.eq(&new.replaces),
            orders::created_at.eq(to_db(now)),
            orders::updated_at.eq(to_db(now)),
        ))
        .returning(OrderRow::as_returning())
        .get_result(c))?)
}

/// The authorization `spec` asks for: the reused one as stored, or a new
/// one with its challenges.
fn authorization_for(
    c: &mut DbConn,
    account: AccountId,
    spec: &AuthzSpec,
    now: OffsetDateTime,
) -> Result<Authorization> {
    match spec {
        AuthzSpec::Reuse(id) => load_authz(c, *id)?
            .ok_or_else(|| Error::internal(format!("reused authorization {} is gone", id.0))),
        AuthzSpec::New {
            identifier,
            wildcard,
            expires_at,
            challenges: challs,
        } => {
            let row: AuthzRow = native!(c, |c| diesel::insert_into(authorizations::table)
                .values((
                    authorizations::account_id.eq(account.0),
                    authorizations::identifier.eq(identifier),
                    authorizations::wildcard.eq(*wildcard),
                    authorizations::status.eq(AuthorizationStatus::Pending.as_str()),
                    authorizations::expires_at.eq(to_db(*expires_at)),
                    authorizations::created_at.eq(to_db(now)),
                ))
                .returning(AuthzRow::as_returning())
                .get_result(c))?;
            let challenges = insert_challenges(c, row.id, challs)?;
            row.into_core(challenges)
        }
    }
}

/// The challenges of a new authorization, in one multi-row INSERT,
/// returned in id order as `load_authz` returns them.
fn insert_challenges(
    c: &mut DbConn,
    authz: i64,
    challs: &[(ChallengeType, String)],
) -> Result<Vec<Challenge>> {
    // (An empty VALUES list is no statement at all.)
    if challs.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<_> = challs
        .iter()
        .map(|(kind, token)| {
            (
                challenges::authorization_id.eq(authz),
                challenges::kind.eq(kind.as_str()),
                challenges::token.eq(token.clone()),
                challenges::status.eq(ChallengeStatus::Pending.as_str()),
            )
        })
        .collect();
    macro_rules! insert {
        ($rows:expr) => {
            native!(c, |c| diesel::insert_into(challenges::table)
                .values($rows)
                .returning(ChallengeRow::as_returning())
                .get_results(c))
        };
    }
    // diesel keeps an array's INSERT prepared but prepares a Vec's afresh
    // each time (its text depends on its length), nearly half the cost
    // of the insert. An authorization has three challenges, or one for a
    // wildcard.
    let mut inserted: Vec<ChallengeRow> = match <[_; 3]>::try_from(values) {
        Ok(three) => insert!(three)?,
        Err(values) => match <[_; 1]>::try_from(values) {
            Ok(one) => insert!(one)?,
            Err(values) => insert!(values)?,
        },
    };
    // Neither backend promises RETURNING's row order.
    inserted.sort_by_key(|ch| ch.id);
    inserted.into_iter().map(ChallengeRow::into_core).collect()
}

/// Makes `authz` one of the order's authorizations.
fn link_authz(c: &mut DbConn, order: i64, authz: AuthzId) -> Result<()> {
    native!(c, |c| diesel::insert_into(order_authorizations::table)
        .values((
            order_authorizations::order_id.eq(order),
            order_authorizations::authorization_id.eq(authz.0),
        ))
        .execute(c))?;
    Ok(())
}

/// A valid, unexpired authorization of this account for the name whose
/// challenge was validated after `validated_after`, if any (authorization
/// reuse, BR 4.2.1: the age is read with today's reuse period, not the
/// expiry fixed when it was validated).
pub fn reusable_authz(
    conn: &mut DbConn,
    account: AccountId,
    identifier: &str,
    wildcard: bool,
    valid_until_at_least: OffsetDateTime,
    validated_after: OffsetDateTime,
) -> Result<Option<AuthzId>> {
    Ok(native!(conn, |c| authorizations::table
        .filter(authorizations::account_id.eq(account.0))
        .filter(authorizations::identifier.eq(identifier))
        .filter(authorizations::status.eq(AuthorizationStatus::Valid.as_str()))
        .filter(authorizations::expires_at.gt(to_db(valid_until_at_least)))
        .filter(authorizations::wildcard.eq(wildcard))
        .filter(diesel::dsl::exists(
            challenges::table
                .filter(challenges::authorization_id.eq(authorizations::id))
                .filter(challenges::status.eq(ChallengeStatus::Valid.as_str()))
                .filter(challenges::validated_at.gt(to_db(validated_after)))
        ))
        .order(authorizations::expires_at.desc())
        .select(authorizations::id)
        .first::<i64>(c)
        .optional())?
    .map(AuthzId))
}

/// Loads an order with its authorizations, challenges and certificate id,
/// in two statements (every poll of an order runs this).
pub fn load(conn: &mut DbConn, id: OrderId) -> Result<Option<Order>> {
    // certificates.order_id is unique: at most one row.
    let Some((row, cert)) = native!(conn, |c| orders::table
        .left_join(certificates::table)
        .filter(orders::id.eq(id.0))
        .select((OrderRow::as_select(), certificates::id.nullable()))
        .first::<(OrderRow, Option<i64>)>(c)
        .optional())?
    else {
        return Ok(None);
    };
    let rows = native!(conn, |c| order_authorizations::table
        .inner_join(authorizations::table.left_join(challenges::table))
        .filter(order_authorizations::order_id.eq(id.0))
        .order((authorizations::id.asc(), challenges::id.asc()))
        .select((AuthzRow::as_select(), Option::<ChallengeRow>::as_select()))
        .load(c))?;
    Ok(Some(row.into_core(
        with_challenges(rows)?,
        cert.map(CertificateId),
    )?))
}

/// Loads an authorization with its challenges, in one statement.
pub fn load_authz(conn: &mut DbConn, id: AuthzId) -> Result<Option<Authorization>> {
    let rows = native!(conn, |c| authorizations::table
        .left_join(challenges::table)
        .filter(authorizations::id.eq(id.0))
        .order(challenges::id.asc())
        .select((AuthzRow::as_select(), Option::<ChallengeRow>::as_select()))
        .load(c))?;
    Ok(with_challenges(rows)?.pop())
}

/// Loads the authorization challenge `id` belongs to, with its challenges,
/// in one statement.
pub fn load_authz_of_challenge(
    conn: &mut DbConn,
    id: ChallengeId,
) -> Result<Option<Authorization>> {
    let owner = diesel::alias!(challenges as owner);
    let authz_id = owner
        .filter(owner.field(challenges::id).eq(id.0))
        .select(owner.field(challenges::authorization_id))
        .single_value();
    let rows = native!(conn, |c| authorizations::table
        .left_join(challenges::table)
        .filter(authorizations::id.nullable().eq(authz_id))
        .order(challenges::id.asc())
        .select((AuthzRow::as_select(), Option::<ChallengeRow>::as_select()))
        .load(c))?;
    Ok(with_challenges(rows)?.pop())
}

/// Authorizations left-joined with their challenges, ordered by
/// authorization: each authorization with its challenges.
fn with_challenges(rows: Vec<(AuthzRow, Option<ChallengeRow>)>) -> Result<Vec<Authorization>> {
    let mut grouped: Vec<(AuthzRow, Vec<Challenge>)> = Vec::new();
    for (authz, challenge) in rows {
        let challenge = challenge.map(ChallengeRow::into_core).transpose()?;
        match grouped.last_mut() {
            Some((last, challenges)) if last.id == authz.id => challenges.extend(challenge),
            _ => grouped.push((authz, challenge.into_iter().collect())),
        }
    }
    grouped
        .into_iter()
        .map(|(authz, challenges)| authz.into_core(challenges))
        .collect()
}

/// The authorization id a challenge belongs to.
pub fn challenge_authz(conn: &mut DbConn, id: ChallengeId) -> Result<Option<AuthzId>> {
    Ok(challenges::table
        .find(id.0)
        .select(challenges::authorization_id)
        .first::<i64>(conn)
        .optional()?
        .map(AuthzId))
}

/// Moves a pending challenge to `processing` (RFC 8555 §7.5.1). Returns
/// false if it was not pending (already answered), which is not an error.
pub fn start_challenge(conn: &mut DbConn, id: ChallengeId, now: OffsetDateTime) -> Result<bool> {
    let n = native!(conn, |c| update(
        challenges::table,
        (
            challenges::status.eq(ChallengeStatus::Processing.as_str()),
            challenges::started_at.eq(Some(to_db(now))),
        ),
        challenges::id
            .eq(id.0)
            .and(challenges::status.eq(ChallengeStatus::Pending.as_str())),
    )
    .execute(c))?;
    Ok(n == 1)
}

/// Whether an order this authorization belongs to has another unexpired
/// authorization still waiting for its client's answer (pending, no
/// challenge started): a client answering an order's challenges one after
/// another has not reached that one yet.
pub fn has_unanswered_sibling(conn: &mut DbConn, id: AuthzId, now: OffsetDateTime) -> Result<bool> {
    let mine = diesel::alias!(order_authorizations as mine);
    let orders_of_mine = mine
        .filter(mine.field(order_authorizations::authorization_id).eq(id.0))
        .select(mine.field(order_authorizations::order_id));
    let started = challenges::table
        .filter(challenges::authorization_id.eq(authorizations::id))
        .filter(challenges::status.ne(ChallengeStatus::Pending.as_str()))
        .select(challenges::id);
    let unanswered = order_authorizations::table
        .inner_join(authorizations::table)
        .filter(order_authorizations::order_id.eq_any(orders_of_mine))
        .filter(order_authorizations::authorization_id.ne(id.0))
        .filter(authorizations::status.eq(AuthorizationStatus::Pending.as_str()))
        .filter(authorizations::expires_at.gt(to_db(now)))
        .filter(diesel::dsl::not(diesel::dsl::exists(started)))
        .select(authorizations::id);
    Ok(native!(conn, |c| diesel::select(diesel::dsl::exists(
        unanswered
    ))
    .get_result::<bool>(c))?)
}

/// Challenges left `processing` since before `stale_before` (their
/// validating process died); they are validated again.
pub fn stale_challenges(
    conn: &mut DbConn,
    stale_before: OffsetDateTime,
    limit: i64,
) -> Result<Vec<ChallengeId>> {
    Ok(challenges::table
        .filter(challenges::status.eq(ChallengeStatus::Processing.as_str()))
        .filter(challenges::started_at.lt(to_db(stale_before)))
        .select(challenges::id)
        .limit(limit)
        .load::<i64>(conn)?
        .into_iter()
        .map(ChallengeId)
        .collect())
}

/// Claims a stale challenge for this process by moving its start time.
pub fn reclaim_challenge(
    conn: &mut DbConn,
    id: ChallengeId,
    stale_before: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool> {
    let n = diesel::update(
        challenges::table
            .find(id.0)
            .filter(challenges::status.eq(ChallengeStatus::Processing.as_str()))
            .filter(challenges::started_at.lt(to_db(stale_before))),
    )
    .set(challenges::started_at.eq(Some(to_db(now))))
    .execute(conn)?;
    Ok(n == 1)
}

#[derive(Clone)]
pub struct ValidationResult {
    /// None when validation succeeded; otherwise the problem document.
    pub error: Option<serde_json::Value>,
    pub records: serde_json::Value,
    /// When a valid authorization stops being reusable.
    pub valid_until: OffsetDateTime,
}

/// Records a finished validation: the challenge and its authorization
/// become valid or invalid together (RFC 8555 §7.1.6), and `also` (the
/// audit event) runs in the same transaction. Nothing, and `also` not,
/// if another instance finished it first.
pub fn finish_challenge(
    conn: &mut DbConn,
    id: ChallengeId,
    authz: AuthzId,
    result: ValidationResult,
    now: OffsetDateTime,
    also: impl FnOnce(&mut DbConn) -> Result<()>,
) -> Result<()> {
    super::write_tx(conn, |c| {
        let ok = result.error.is_none();
        let (cs, az) = if ok {
            (ChallengeStatus::Valid, AuthorizationStatus::Valid)
        } else {
            (ChallengeStatus::Invalid, AuthorizationStatus::Invalid)
        };
        let error = result.error.as_ref().map(|e| e.to_string());
        let records = Some(result.records.to_string());
        let n = native!(c, |c| update(
            challenges::table,
            (
                challenges::status.eq(cs.as_str()),
                challenges::validated_at.eq(ok.then(|| to_db(now))),
                challenges::error.eq(&error),
                challenges::validation_records.eq(&records),
            ),
            challenges::id
                .eq(id.0)
                .and(challenges::status.eq(ChallengeStatus::Processing.as_str())),
        )
        .execute(c))?;
        if n == 0 {
            // Another instance finished it first; its result stands.
            return Ok(());
        }
        let expires = if ok {
            to_db(result.valid_until)
        } else {
            to_db(now)
        };
        native!(c, |c| update(
            authorizations::table,
            (
                authorizations::status.eq(az.as_str()),
                authorizations::expires_at.eq(expires),
            ),
            authorizations::id
                .eq(authz.0)
                .and(authorizations::status.eq(AuthorizationStatus::Pending.as_str())),
        )
        .execute(c))?;
        also(c)
    })
}

/// Deactivates an authorization (RFC 8555 §7.5.2); only pending or valid
/// ones can be.
pub fn deactivate_authz(conn: &mut DbConn, id: AuthzId) -> Result<bool> {
    let n = diesel::update(
        authorizations::table
            .find(id.0)
            .filter(authorizations::status.eq_any([
                AuthorizationStatus::Pending.as_str(),
                AuthorizationStatus::Valid.as_str(),
            ])),
    )
    .set(authorizations::status.eq(AuthorizationStatus::Deactivated.as_str()))
    .execute(conn)?;
    Ok(n == 1)
}

/// Order ids of an account, oldest first, after `after` (keyset paging).
pub fn ids_for_account(
    conn: &mut DbConn,
    account: AccountId,
    after: Option<OrderId>,
    limit: i64,
) -> Result<Vec<OrderId>> {
    let mut q = orders::table
        .filter(orders::account_id.eq(account.0))
        .select(orders::id)
        .order(orders::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(orders::id.gt(a.0));
    }
    Ok(q.load::<i64>(conn)?.into_iter().map(OrderId).collect())
}

/// Claims a ready order for finalization: exactly one caller wins, however
/// many finalize it at once (RFC 8555 §7.4).
pub fn begin_finalize(conn: &mut DbConn, id: OrderId, now: OffsetDateTime) -> Result<bool> {
    let n = native!(conn, |c| update(
        orders::table,
        (
            orders::status.eq(StoredOrderStatus::Processing.as_str()),
            orders::updated_at.eq(to_db(now)),
        ),
        orders::id
            .eq(id.0)
            .and(orders::status.eq(StoredOrderStatus::Pending.as_str())),
    )
    .execute(c))?;
    Ok(n == 1)
}

/// Returns a claimed order to `pending` (so it is `ready` again) after a
/// refusal the client can fix, or marks it invalid with `error`. Returns
/// whether it did (false: the order was no longer `processing`).
pub fn end_finalize_without_certificate(
    conn: &mut DbConn,
    id: OrderId,
    invalid_with: Option<serde_json::Value>,
    now: OffsetDateTime,
) -> Result<bool> {
    let status = if invalid_with.is_some() {
        StoredOrderStatus::Invalid
    } else {
        StoredOrderStatus::Pending
    };
    let error = invalid_with.map(|e| e.to_string());
    let n = native!(conn, |c| update(
        orders::table,
        (
            orders::status.eq(status.as_str()),
            orders::error.eq(&error),
            orders::updated_at.eq(to_db(now)),
        ),
        orders::id
            .eq(id.0)
            .and(orders::status.eq(StoredOrderStatus::Processing.as_str())),
    )
    .execute(c))?;
    Ok(n == 1)
}

#[derive(Clone)]
pub struct NewCertificate {
    /// The CRL shard that will list it if revoked (its CRLDP URL).
    pub crl_shard: u32,
    pub serial: String,
    pub der: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The CAA evidence (JSON) this issuance relied on, written to the
    /// order with the certificate so that no concurrent finalize attempt
    /// can leave other evidence behind on an issued order.
    pub caa_evidence: String,
    /// What the external linter said about it (JSON, `ca::linter::LintReport`).
    pub lint_report: Option<String>,
}

/// Stores the certificate and marks the order valid in one transaction,
/// with whatever `also` writes (the audit event of the issuance): the
/// order is never `valid` without its certificate on disk.
pub fn complete_finalize(
    conn: &mut DbConn,
    order: &Order,
    cert: NewCertificate,
    now: OffsetDateTime,
    also: impl FnOnce(&mut DbConn, CertificateId) -> Result<()>,
) -> Result<CertificateId> {
    super::write_tx(conn, |c| {
        // crl_shards is validated to at most 65,536 at start-up.
        let shard = i32::try_from(cert.crl_shard).unwrap_or(0);
        let id: i64 = native!(c, |c| diesel::insert_into(certificates::table)
            .values((
                certificates::serial.eq(&cert.serial),
                certificates::order_id.eq(order.id.0),
                certificates::account_id.eq(order.account_id.0),
                certificates::der.eq(&cert.der),
                certificates::not_before.eq(to_db(cert.not_before)),
                certificates::not_after.eq(to_db(cert.not_after)),
                certificates::crl_shard.eq(shard),
                certificates::created_at.eq(to_db(now)),
            ))
            .returning(certificates::id)
            .get_result(c))
        .map_err(|e| {
            db_err_unless_unique(e, || {
                Error::new(
                    ErrorKind::ServerInternal,
                    "certificate serial or order collision",
                )
            })
        })?;
        let n = native!(c, |c| update(
            orders::table,
            (
                orders::status.eq(StoredOrderStatus::Valid.as_str()),
                orders::gate_refusal.eq(None::<String>),
                orders::caa_evidence.eq(Some(&cert.caa_evidence)),
                orders::lint_report.eq(&cert.lint_report),
                orders::updated_at.eq(to_db(now)),
            ),
            orders::id
                .eq(order.id.0)
                .and(orders::status.eq(StoredOrderStatus::Processing.as_str())),
        )
        .execute(c))?;
        if n != 1 {
            return Err(Error::internal("order left processing during issuance"));
        }
        also(c, CertificateId(id))?;
        Ok(CertificateId(id))
    })
}

/// Whether a live order (not invalid, not expired) already replaces the
/// certificate with this ARI identifier (RFC 9773 §5).
pub fn replacement_exists(conn: &mut DbConn, cert_id: &str, now: OffsetDateTime) -> Result<bool> {
    Ok(native!(conn, |c| orders::table
        .filter(orders::replaces.eq(cert_id))
        .filter(orders::status.ne(StoredOrderStatus::Invalid.as_str()))
        .filter(
            orders::expires_at
                .gt(to_db(now))
                .or(orders::status.eq(StoredOrderStatus::Valid.as_str())),
        )
        .select(orders::id)
        .first::<i64>(c)
        .optional())?
    .is_some())
}

/// Keeps what the external linter said at a finalize attempt that it
/// refused, while that attempt still holds the order (`processing`).
pub fn set_lint_report(conn: &mut DbConn, id: OrderId, report: &str) -> Result<()> {
    native!(conn, |c| update(
        orders::table,
        orders::lint_report.eq(Some(report)),
        orders::id
            .eq(id.0)
            .and(orders::status.eq(StoredOrderStatus::Processing.as_str())),
    )
    .execute(c))?;
    Ok(())
}

/// Keeps the CAA evidence of the latest finalize attempt, while the order
/// waits for one: once another attempt has claimed it (`processing`) or it
/// is issued, the evidence is that attempt's (`complete_finalize`).
pub fn set_caa_evidence(conn: &mut DbConn, id: OrderId, evidence: &str) -> Result<()> {
    native!(conn, |c| update(
        orders::table,
        orders::caa_evidence.eq(Some(evidence)),
        orders::id
            .eq(id.0)
            .and(orders::status.eq(StoredOrderStatus::Pending.as_str())),
    )
    .execute(c))?;
    Ok(())
}

/// Orders left `processing` since before `stale_before` without a
/// certificate belong to a finalize whose process died (finalize is bounded
/// by the request timeout); they go back to `pending`, i.e. `ready`, so the
/// client can finalize again. Nothing was issued: the certificate and the
/// order's `valid` status are written in one transaction.
pub fn recover_stale_finalizations(
    conn: &mut DbConn,
    stale_before: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<usize> {
    // NOT EXISTS, not NOT IN: PostgreSQL evaluates `id <> ALL (SELECT
    // order_id FROM certificates)` by reading every certificate, each sweep;
    // the correlated form probes the unique index once per stale order.
    let issued = certificates::table
        .filter(certificates::order_id.eq(orders::id))
        .select(certificates::id);
    Ok(diesel::update(
        orders::table
            .filter(orders::status.eq(StoredOrderStatus::Processing.as_str()))
            .filter(orders::updated_at.lt(to_db(stale_before)))
            .filter(diesel::dsl::not(diesel::dsl::exists(issued))),
    )
    .set((
        orders::status.eq(StoredOrderStatus::Pending.as_str()),
        orders::updated_at.eq(to_db(now)),
    ))
    .execute(conn)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::sa::accounts;
    use crate::sa::crls::testing::{cached_while, store};

    /// `create` answers with the order as `load` reads it back: the
    /// challenges of its one multi-row INSERT in id order, each with its
    /// own kind and token.
    #[tokio::test]
    async fn create_answers_with_what_load_reads() {
        let (_db, store) = store();
        let (created, loaded) = store
            .write(|c| {
                let now = crate::core::Clock::system().now();
                let account = account(c, "thumb-create")?;
                let created = create(c, new_order(account, &["a.example.jp"], now), now)?;
                let loaded = load(c, created.id)?.unwrap();
                Ok((created, loaded))
            })
            .await
            .unwrap();
        let challenges = &created.authorizations[0].challenges;
        assert_eq!(challenges.len(), 3);
        assert!(challenges.windows(2).all(|w| w[0].id < w[1].id));
        for ch in challenges {
            assert_eq!(ch.token, format!("tok-{:?}", ch.kind), "{ch:?}");
        }
        assert_eq!(format!("{created:?}"), format!("{loaded:?}"));
    }

    /// The challenges' INSERT for three challenges, or one (a wildcard's),
    /// stays prepared (diesel prepares a Vec's anew at every execution);
    /// any other number is stored and answered all the same.
    #[tokio::test]
    async fn the_usual_challenge_inserts_stay_prepared() {
        let (_db, store) = store();
        let ((), cached) = store
            .write(|c| {
                let now = crate::core::Clock::system().now();
                let account = account(c, "thumb-prepared")?;
                cached_while(c, |c| {
                    for kept in [3, 1, 2, 3, 1] {
                        let name = format!("n{kept}.example.jp");
                        let mut new = new_order(account, &[&name], now);
                        if let AuthzSpec::New { challenges, .. } = &mut new.authorizations[0] {
                            challenges.truncate(kept);
                        }
                        let created = create(c, new, now)?;
                        assert_eq!(created.authorizations[0].challenges.len(), kept);
                        let loaded = load(c, created.id)?.unwrap();
                        assert_eq!(format!("{created:?}"), format!("{loaded:?}"));
                    }
                    Ok(())
                })
            })
            .await
            .unwrap();
        let inserts: Vec<_> = cached
            .iter()
            .filter(|sql| sql.starts_with("INSERT") && sql.contains("challenges"))
            .collect();
        assert_eq!(inserts.len(), 2, "{inserts:#?}");
    }

    /// An authorization's siblings are the other authorizations of its
    /// orders; one is unanswered while pending, unexpired and with no
    /// challenge started.
    #[tokio::test]
    async fn an_unanswered_sibling_is_a_pending_one_with_no_challenge_started() {
        let (_db, store) = store();
        store
            .write(|c| {
                let now = crate::core::Clock::system().now();
                let account = account(c, "thumb-siblings")?;
                let single = create(c, new_order(account, &["one.example.jp"], now), now)?;
                let pair = create(
                    c,
                    new_order(account, &["a.example.jp", "b.example.jp"], now),
                    now,
                )?;
                let (a, b) = (&pair.authorizations[0], &pair.authorizations[1]);
                assert!(!has_unanswered_sibling(
                    c,
                    single.authorizations[0].id,
                    now
                )?);
                assert!(has_unanswered_sibling(c, a.id, now)?);
                assert!(has_unanswered_sibling(c, b.id, now)?);
                // b's challenge answered: a has no unanswered sibling left.
                assert!(start_challenge(c, b.challenges[0].id, now)?);
                assert!(!has_unanswered_sibling(c, a.id, now)?);
                assert!(has_unanswered_sibling(c, b.id, now)?);
                // An expired authorization waits for nobody.
                let later = now + Duration::days(8);
                assert!(!has_unanswered_sibling(c, b.id, later)?);
                Ok(())
            })
            .await
            .unwrap();
    }

    fn account(c: &mut DbConn, thumbprint: &str) -> Result<AccountId> {
        let new = accounts::NewAccount {
            key_thumbprint: thumbprint.into(),
            jwk: serde_json::Map::new(),
            contact: vec![],
            eab_credential: None,
            terms_version: "1".into(),
        };
        Ok(
            match accounts::create(c, new, crate::core::Clock::system().now())? {
                accounts::Created::New(a) | accounts::Created::Existing(a) => a.id,
            },
        )
    }

    /// An order for `names` with one new authorization each, offering all
    /// three challenge types (tokens `tok-<kind>`); all expire in 7 days.
    fn new_order(account: AccountId, names: &[&str], now: OffsetDateTime) -> NewOrder {
        let kinds = [
            ChallengeType::Http01,
            ChallengeType::Dns01,
            ChallengeType::TlsAlpn01,
        ];
        NewOrder {
            account_id: account,
            names: names.iter().map(|n| n.to_string()).collect(),
            profile: Profile::Ov,
            not_before: None,
            not_after: None,
            expires_at: now + Duration::days(7),
            authorizations: names
                .iter()
                .map(|n| AuthzSpec::New {
                    identifier: n.to_string(),
                    wildcard: false,
                    expires_at: now + Duration::days(7),
                    challenges: kinds.iter().map(|k| (*k, format!("tok-{k:?}"))).collect(),
                })
                .collect(),
            replaces: None,
        }
    }
}
