//! Index audit: every statement a request or a periodic sweep runs must
//! reach its rows through an index, so its cost does not grow with the
//! tables (issue #7: latency flat with 1,000,000 certificates).
//!
//! The statements are the ones the `sa` functions really send: each
//! scenario calls them on a connection with diesel instrumentation that
//! records the SQL, and each recorded statement is then explained. On
//! SQLite, `EXPLAIN QUERY PLAN` must show no `SCAN` of a table that grows
//! (the planner has no statistics, as on a live server, which never runs
//! ANALYZE). On PostgreSQL (TEST_DATABASE_URL) the generic plan is
//! explained with sequential scans disabled: a `Seq Scan` that remains
//! means no index can serve the statement. PostgreSQL shows a condition
//! on a non-leading index column (a walk of the whole index) as an index
//! condition like any other, so the SQLite plans are the stricter check.

use std::sync::{Arc, Mutex};

use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use time::Duration;

use super::accounts::{self, Created, NewAccount};
use super::orders::{self, AuthzSpec, NewCertificate, NewOrder, ValidationResult};
use super::{
    audit, certificates, crls, eab, leases, nonces, organizations, outbox, portal_orders,
    precertificates, DbConn,
};
use crate::core::organization::OrganizationData;
use crate::core::vetting::CheckRecord;
use crate::core::{ChallengeId, ChallengeType, EabId, OrderId};
use crate::error::Result;

/// Tables whose size is fixed by configuration, not by traffic: a scan
/// of them costs the same on day one and in year five.
const SMALL_TABLES: &[&str] = &["crls", "leases", "server_secrets"];

/// A statement as diesel reports it: the SQL, then ` -- binds: [...]`.
fn sql_of(reported: &str) -> String {
    reported
        .split(" -- binds: ")
        .next()
        .unwrap_or(reported)
        .trim()
        .to_owned()
}

/// Runs `f` with every statement it sends recorded, in order, once each.
fn recorded(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<()>) -> Vec<String> {
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = log.clone();
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            let sql = sql_of(&query.to_string());
            let mut log = sink.lock().expect("recorder lock");
            if !log.contains(&sql) {
                log.push(sql);
            }
        }
    });
    let result = f(conn);
    conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
    result.expect("scenario ran");
    let statements: Vec<String> = log.lock().expect("recorder lock").clone();
    statements
        .into_iter()
        .filter(|s| {
            let head = s.trim_start().to_ascii_uppercase();
            ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"]
                .iter()
                .any(|k| head.starts_with(k))
        })
        .collect()
}

#[derive(QueryableByName)]
struct SqlitePlanLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlan {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[diesel(column_name = "QUERY PLAN")]
    json: String,
}

#[derive(QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    tbl: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    def: String,
}

/// One table read in full, and the index it was read through, if any.
#[derive(Debug)]
struct FullRead {
    table: String,
    index: Option<String>,
}

/// The plan of one statement, as readable lines, and what it reads in
/// full.
fn plan(conn: &mut DbConn, sql: &str) -> (Vec<String>, Vec<FullRead>) {
    match conn {
        DbConn::Sqlite(c) => {
            let lines: Vec<String> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load::<SqlitePlanLine>(c)
                .unwrap_or_else(|e| panic!("EXPLAIN QUERY PLAN {sql}: {e}"))
                .into_iter()
                .map(|l| l.detail)
                .collect();
            // "SCAN t", "SCAN t USING [COVERING] INDEX i"; a "SEARCH" goes
            // through an index or the primary key. "SCAN CONSTANT ROW" and
            // "SCAN 3-ROW VALUES CLAUSE" (a multi-row INSERT) read no table.
            let reads = lines
                .iter()
                .filter_map(|l| {
                    let l = l.trim();
                    let mut words = l.strip_prefix("SCAN ")?.split_whitespace();
                    let table = words.next()?.to_owned();
                    let index = words.skip_while(|w| *w != "INDEX").nth(1);
                    let no_table = table == "CONSTANT" || l.ends_with("-ROW VALUES CLAUSE");
                    (!no_table).then(|| FullRead {
                        table,
                        index: index.map(str::to_owned),
                    })
                })
                .collect();
            (lines, reads)
        }
        DbConn::Pg(c) => {
            // A generic plan does not depend on parameter values, so NULLs
            // stand in for them.
            let params = (1..=99)
                .take_while(|n| sql.contains(&format!("${n}")))
                .count();
            c.batch_execute(&format!(
                "SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan; \
                 PREPARE tg_plan AS {sql}"
            ))
            .unwrap_or_else(|e| panic!("PREPARE {sql}: {e}"));
            let args = if params == 0 {
                String::new()
            } else {
                format!("({})", vec!["NULL"; params].join(", "))
            };
            let plan = diesel::sql_query(format!("EXPLAIN (FORMAT JSON) EXECUTE tg_plan{args}"))
                .get_result::<PgPlan>(c)
                .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"));
            c.batch_execute("DEALLOCATE tg_plan; RESET enable_seqscan; RESET plan_cache_mode")
                .expect("DEALLOCATE");
            let doc: serde_json::Value = serde_json::from_str(&plan.json).expect("JSON plan");
            let (mut lines, mut reads) = (Vec::new(), Vec::new());
            pg_walk(&doc[0]["Plan"], &mut lines, &mut reads);
            (lines, reads)
        }
    }
}

/// Flattens a PostgreSQL JSON plan. A sequential scan reads its table in
/// full; so does an index scan without an index condition (it walks the
/// whole index).
fn pg_walk(node: &serde_json::Value, lines: &mut Vec<String>, reads: &mut Vec<FullRead>) {
    let kind = node["Node Type"].as_str().unwrap_or("?");
    let table = node["Relation Name"].as_str();
    let index = node["Index Name"].as_str();
    let cond = node["Index Cond"].as_str();
    lines.push(
        [Some(kind), table, index, cond]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
    );
    match kind {
        "Seq Scan" => reads.push(FullRead {
            table: table.unwrap_or("?").to_owned(),
            index: None,
        }),
        "Index Scan" | "Index Only Scan" | "Bitmap Index Scan" if cond.is_none() => {
            reads.push(FullRead {
                table: table.unwrap_or("(by index)").to_owned(),
                index: index.map(str::to_owned),
            })
        }
        _ => {}
    }
    if let Some(children) = node["Plans"].as_array() {
        for child in children {
            pg_walk(child, lines, reads);
        }
    }
}

/// The schema's indexes (index → table), and which of them are partial.
struct Indexes {
    table_of: std::collections::HashMap<String, String>,
    /// Indexes with a WHERE clause hold only the rows it selects (e.g.
    /// revoked certificates), so reading one in full reads only those.
    partial: Vec<String>,
}

fn indexes(conn: &mut DbConn) -> Indexes {
    let query = match conn {
        DbConn::Sqlite(_) => {
            "SELECT name, tbl_name AS tbl, sql AS def FROM sqlite_master \
                              WHERE type = 'index' AND sql IS NOT NULL"
        }
        DbConn::Pg(_) => {
            "SELECT indexname AS name, tablename AS tbl, indexdef AS def \
                          FROM pg_indexes WHERE schemaname = current_schema()"
        }
    };
    let all = diesel::sql_query(query)
        .load::<IndexDef>(conn)
        .expect("listing indexes");
    Indexes {
        partial: all
            .iter()
            .filter(|i| i.def.to_ascii_uppercase().contains(" WHERE "))
            .map(|i| i.name.clone())
            .collect(),
        table_of: all.into_iter().map(|i| (i.name, i.tbl)).collect(),
    }
}

/// Explains every statement; returns a report of those that read a
/// growing table in full.
fn audit(conn: &mut DbConn, scenario: &str, statements: &[String]) -> Vec<String> {
    let indexes = indexes(conn);
    let mut failures = Vec::new();
    for sql in statements {
        let (lines, mut reads) = plan(conn, sql);
        for r in &mut reads {
            // A bitmap index scan names only its index.
            if let Some(t) = r.index.as_ref().and_then(|i| indexes.table_of.get(i)) {
                r.table.clone_from(t);
            }
        }
        let bad: Vec<&FullRead> = reads
            .iter()
            .filter(|r| !SMALL_TABLES.contains(&r.table.as_str()))
            .filter(|r| {
                !r.index
                    .as_ref()
                    .is_some_and(|i| indexes.partial.contains(i))
            })
            .collect();
        if !bad.is_empty() {
            failures.push(format!(
                "[{scenario}] reads in full: {bad:?}\n  {sql}\n  plan: {}",
                lines.join(" | ")
            ));
        }
    }
    failures
}

fn organization_data() -> OrganizationData {
    serde_json::from_str(include_str!("../../conf/organization.example.json"))
        .expect("the example organization parses")
}

/// What the request scenarios leave behind for the others.
struct Fixture {
    org: crate::core::OrganizationId,
    account: crate::core::AccountId,
    order: OrderId,
    certificate: crate::core::CertificateId,
    serial: String,
}

/// Staff set-up (organization, check, credential): not a request path,
/// but the rows the request paths need.
fn staff_setup(c: &mut DbConn) -> Result<(crate::core::OrganizationId, EabId)> {
    let now = crate::core::Clock::system().now();
    let org = organizations::create(c, &organization_data(), "staff", now)?;
    let check: CheckRecord = serde_json::from_str(include_str!("../../conf/checks/existence.json"))
        .expect("the example check parses");
    organizations::add_check(c, org.id, &check, "vetter", now, now)?;
    let cred = eab::create(
        c,
        eab::NewEab {
            key_id: "kid-plan",
            organization: org.id,
            hmac_key: &[0u8; 33],
            note: "",
            single_use: false,
            expires_at: None,
        },
        now,
    )?;
    Ok((org.id, cred.id))
}

/// newNonce/JWS, newAccount, account lookups, newOrder, authorization and
/// challenge, validation, finalize, download, revocation, ARI, orders
/// list, account updates, CRL serving: what `ra` and `wfe` call per
/// request.
fn requests(c: &mut DbConn, eab_id: EabId) -> Result<Fixture> {
    let now = crate::core::Clock::system().now();
    let (account, org) = new_account(c, eab_id, now)?;
    let order = new_order(c, account, now)?;
    let loaded = orders::load(c, order)?.expect("the order just made");
    validate(c, &loaded.authorizations[0], now)?;
    let (certificate, serial) = finalize(c, &loaded, org, now)?;
    after_issuance(c, &loaded, certificate, &serial, now)?;
    Ok(Fixture {
        org,
        account,
        order,
        certificate,
        serial,
    })
}

/// newNonce/JWS, EAB and newAccount, then the account's organization.
fn new_account(
    c: &mut DbConn,
    eab_id: EabId,
    now: time::OffsetDateTime,
) -> Result<(crate::core::AccountId, crate::core::OrganizationId)> {
    nonces::redeem(c, "nonce-plan", now + Duration::hours(1))?;
    eab::by_key_id(c, "kid-plan")?;
    accounts::by_thumbprint(c, "thumb-plan")?;
    let Created::New(acct) = accounts::create(
        c,
        NewAccount {
            key_thumbprint: "thumb-plan".into(),
            jwk: serde_json::Map::new(),
            contact: vec![],
            eab_credential: Some(eab_id),
            terms_version: "1".into(),
        },
        now,
    )?
    else {
        panic!("a fresh key makes a new account");
    };
    accounts::by_id(c, acct.id)?;
    let org = organizations::for_account(c, acct.id)?.expect("bound to an organization");
    organizations::checks(c, org.id)?;
    Ok((acct.id, org.id))
}

/// newOrder: authorization reuse, renewal, the insert (the read of every
/// poll follows in `requests`).
fn new_order(
    c: &mut DbConn,
    account: crate::core::AccountId,
    now: time::OffsetDateTime,
) -> Result<OrderId> {
    orders::reusable_authz(c, account, "www.example.co.jp", false, now, now)?;
    orders::replacement_exists(c, "aki.serial", now)?;
    let order = orders::create(
        c,
        NewOrder {
            account_id: account,
            names: vec!["www.example.co.jp".into()],
            profile: crate::core::Profile::Ov,
            not_before: None,
            not_after: None,
            expires_at: now + Duration::days(7),
            authorizations: vec![AuthzSpec::New {
                identifier: "www.example.co.jp".into(),
                wildcard: false,
                expires_at: now + Duration::days(7),
                challenges: vec![
                    (ChallengeType::Http01, "tok-1".into()),
                    (ChallengeType::Dns01, "tok-2".into()),
                ],
            }],
            replaces: Some("aki.serial".into()),
        },
        now,
    )?;
    Ok(order.id)
}

/// Authorization and challenge, validation.
fn validate(
    c: &mut DbConn,
    authz: &crate::core::Authorization,
    now: time::OffsetDateTime,
) -> Result<()> {
    let chall = authz.challenges[0].id;
    let one = orders::load_authz(c, authz.id)?.expect("the authorization");
    assert_eq!(one.challenges.len(), 2);
    let of_challenge = orders::load_authz_of_challenge(c, chall)?.expect("its authorization");
    assert_eq!(of_challenge.id, authz.id);
    assert_eq!(of_challenge.challenges.len(), 2);
    assert!(orders::load_authz_of_challenge(c, ChallengeId(i64::MAX))?.is_none());
    orders::challenge_authz(c, chall)?;
    assert!(!orders::has_unanswered_sibling(c, authz.id, now)?);
    orders::start_challenge(c, chall, now)?;
    orders::finish_challenge(
        c,
        chall,
        authz.id,
        ValidationResult {
            error: None,
            records: serde_json::json!([]),
            valid_until: now + Duration::days(30),
        },
        now,
        |_| Ok(()),
    )?;
    Ok(())
}

/// finalize: blocked keys, the vetting gate's refusal record, CAA
/// evidence, the claim, a refusal that returns the order, issuance.
fn finalize(
    c: &mut DbConn,
    loaded: &crate::core::Order,
    org: crate::core::OrganizationId,
    now: time::OffsetDateTime,
) -> Result<(crate::core::CertificateId, String)> {
    let order = loaded.id;
    certificates::key_is_blocked(c, "spki-plan")?;
    organizations::set_gate_refusal(c, order, Some("{}"))?;
    audit::append(
        c,
        audit::NewEvent {
            actor: "acme",
            action: "gate.refuse",
            organization: Some(org),
            subject: format!("order:{order}"),
            reason: None,
            details: serde_json::json!({}),
            request_id: None,
        },
        now,
    )?;
    orders::set_caa_evidence(c, order, "[]")?;
    orders::begin_finalize(c, order, now)?;
    orders::end_finalize_without_certificate(c, order, None, now)?;
    orders::begin_finalize(c, order, now)?;
    let serial = "7f0102030405060708090a0b0c0d0e0f".to_owned();
    precertificates::reserve_serial(c, &serial, order, now)?;
    precertificates::reservation(c, &serial)?;
    precertificates::insert(
        c,
        &precertificates::NewPrecertificate {
            serial: serial.clone(),
            order_id: order,
            account_id: loaded.account_id,
            der: vec![0x30, 0x00],
            not_before: now,
            not_after: now + Duration::days(90),
            crl_shard: 3,
        },
        now,
    )?;
    let cert = orders::complete_finalize(
        c,
        loaded,
        NewCertificate {
            crl_shard: 3,
            serial: serial.clone(),
            der: vec![0x30, 0x00],
            not_before: now,
            not_after: now + Duration::days(90),
            caa_evidence: "[]".to_owned(),
            lint_report: None,
        },
        now,
        |_, _| Ok(()),
    )?;
    Ok((cert, serial))
}

/// Download, ARI and revocation (by serial), orders list; account
/// updates and authorization deactivation; CRLs served per request.
fn after_issuance(
    c: &mut DbConn,
    loaded: &crate::core::Order,
    cert: crate::core::CertificateId,
    serial: &str,
    now: time::OffsetDateTime,
) -> Result<()> {
    let (order, account) = (loaded.id, loaded.account_id);
    certificates::by_id(c, cert)?;
    certificates::by_serial(c, serial)?;
    certificates::revoke(c, cert, 1, now)?;
    precertificates::by_serial(c, serial)?;
    precertificates::revoke(c, serial, 1, now)?;
    certificates::block_key(c, "spki-plan", "keyCompromise", now)?;
    orders::ids_for_account(c, account, None, 10)?;
    orders::ids_for_account(c, account, Some(order), 10)?;

    orders::deactivate_authz(c, loaded.authorizations[0].id)?;
    accounts::update_contact(c, account, &["mailto:a@example.co.jp".into()])?;
    accounts::change_key(c, account, "thumb-plan-2", &serde_json::Map::new())?;
    // Every account event files itself under the account's organization.
    audit::organization_of(c, account)?;
    // newOrder and finalize: the limits in force, and newOrder's count.
    super::limits::account_limits(c, account)?;
    super::limits::pending_authorizations(c, account, now)?;

    crls::latest(c, 3)?;
    crls::shard_exists(c, 40, 16)?;
    Ok(())
}

/// The periodic work (nonce pruning, stale validations and finalizations,
/// CRL generation, leases): it runs every few seconds on a live server.
fn sweeps(c: &mut DbConn) -> Result<()> {
    let now = crate::core::Clock::system().now();
    nonces::prune(c, now)?;
    orders::stale_challenges(c, now, 100)?;
    orders::reclaim_challenge(c, crate::core::ChallengeId(1), now, now)?;
    orders::recover_stale_finalizations(c, now, now)?;
    crls::needing_regeneration(c, 16, now, Duration::days(1))?;
    crls::next_number_and_store(c, 3, now, |content| {
        Ok(crls::SignedCrl {
            der: vec![content.entries.len() as u8],
            next_update: content.this_update + Duration::days(7),
        })
    })?;
    leases::acquire(c, "crl", "me", now, std::time::Duration::from_secs(60))?;
    leases::holder(c, "crl", now)?;
    leases::release(c, "crl", "me")?;
    mail_delivery(c, now)?;
    expiry_notices(c, now)?;
    Ok(())
}

/// The expiry notices job (hourly): certificates ending soon, what could
/// replace one, an organization's customer accounts, the once-marks.
fn expiry_notices(c: &mut DbConn, now: time::OffsetDateTime) -> Result<()> {
    let org = crate::core::OrganizationId(1);
    certificates::expiring(c, now, now + Duration::days(14))?;
    certificates::newer_names(c, org, crate::core::CertificateId(1), now)?;
    super::customers::of_organization(c, org)?;
    let notice = outbox::NewNotice {
        kind: "certificate.expiring",
        about: "certificate:plan".into(),
        recipient: "ops@example.jp".into(),
        language: "ja",
        subject: "s".into(),
        body: "b".into(),
    };
    outbox::enqueue_once(
        c,
        notice.kind,
        "certificate:plan",
        std::slice::from_ref(&notice),
        now,
    )?;
    Ok(())
}

/// The e-mail delivery worker's round, on every instance every few
/// seconds: due notices, a lease, the attempt. (The queue gauge's count
/// and the failed list walk the unsent and the failed notices only, by
/// their partial indexes; SQLite's plan calls that a scan, so they are
/// not listed.)
fn mail_delivery(c: &mut DbConn, now: time::OffsetDateTime) -> Result<()> {
    let notice = outbox::NewNotice {
        kind: "certificate.issued",
        about: "certificate:plan".into(),
        recipient: "ops@example.jp".into(),
        language: "ja",
        subject: "s".into(),
        body: "b".into(),
    };
    outbox::enqueue(c, &notice, now)?;
    let id = outbox::due(c, now, 20)?.first().copied().unwrap_or(1);
    outbox::lease(c, id, "me", now, now + Duration::minutes(2))?;
    outbox::record_attempt(c, id, "me", now, &outbox::Outcome::Sent)?;
    outbox::about(c, "certificate:plan")?;
    outbox::attempts(c, id)?;
    outbox::resend(c, id, now)?;
    outbox::failed(c, None, 51)?;
    outbox::failed(c, Some(id), 51)?;
    outbox::queued_count(c)?;
    Ok(())
}

/// Staff views of one organization (admin API): they return rows of that
/// organization only, so they too must not read the whole table.
fn staff(c: &mut DbConn, f: &Fixture) -> Result<()> {
    organizations::by_id(c, f.org)?;
    organizations::account_ids(c, f.org)?;
    organizations::certificate_summaries(c, f.org)?;
    organizations::blocked_orders(c, crate::core::Clock::system().now())?;
    organizations::clear_gate_refusals(c, f.org)?;
    // The console's queue: each status, searched, after a cursor; the
    // checks of a page's organizations at once.
    let now = crate::core::Clock::system().now();
    for status in [
        crate::core::vetting::VettingStatus::Pending,
        crate::core::vetting::VettingStatus::Approved,
        crate::core::vetting::VettingStatus::Expired,
    ] {
        for text in [None, Some("example")] {
            let filter = organizations::QueueFilter {
                status,
                expired_before: now,
                text,
            };
            organizations::queue(c, &filter, Some(f.org), 51)?;
        }
    }
    organizations::checks_of(c, &[f.org])?;
    eab::list(c, Some(f.org))?;
    audit::list(c, Some(f.org), 50)?;
    // The auditor's pages: a period, resumed after a cursor.
    let now = crate::core::Clock::system().now();
    let period = audit::Filter {
        since: Some(now - Duration::days(30)),
        until: Some(now),
        after: Some(1),
        ..audit::Filter::default()
    };
    // (Without a filter a page is the next `limit` rows in primary key
    // order: a bounded walk SQLite's plan calls a scan, so not listed.)
    audit::page(c, period.clone(), 1000)?;
    // The console's log: newest first, a page before a cursor, by actor,
    // by action, by organization, by period.
    // (A cursor must name an event: its time is read first.)
    let cursor = audit::list(c, Some(f.org), 1)?.first().map(|e| e.id);
    assert!(cursor.is_some(), "the scenarios appended events");
    let newest = audit::Filter {
        order: audit::Order::NewestFirst,
        before: cursor,
        ..audit::Filter::default()
    };
    for filter in [
        audit::Filter {
            actor: Some(audit::SYSTEM.into()),
            ..newest.clone()
        },
        audit::Filter {
            action: Some("organization.approve".into()),
            ..newest.clone()
        },
        audit::Filter {
            organization: Some(f.org),
            ..newest.clone()
        },
        audit::Filter {
            after: None,
            order: audit::Order::NewestFirst,
            ..period
        },
    ] {
        audit::page(c, filter, 101)?;
    }
    // The export: a period, oldest first, after a cursor.
    audit::page(
        c,
        audit::Filter {
            since: Some(now - Duration::days(30)),
            until: Some(now),
            after: cursor,
            order: audit::Order::OldestFirst,
            ..audit::Filter::default()
        },
        1000,
    )?;
    audit::organization_names(c, &[f.org])?;
    // The health page's counts (the CRLs' table is small).
    super::health::queues(c, now)?;
    eab::revoke(c, "kid-plan", crate::core::Clock::system().now())?;
    // Last: deactivation touches the account's pending authorizations.
    accounts::deactivate(c, f.account)?;
    let _ = (f.order, f.certificate, &f.serial);
    Ok(())
}

/// The customer portal's requests (`portal_orders`): its account, its
/// orders and CSRs, the organization's certificate by serial and its
/// credentials — each through the organization.
fn portal(c: &mut DbConn, f: &Fixture, eab_id: EabId) -> Result<()> {
    let now = crate::core::Clock::system().now();
    portal_orders::account_of(c, f.org)?;
    portal_orders::bind_account(c, f.org, f.account, eab_id, now)?;
    portal_orders::insert_order(
        c,
        &portal_orders::PortalOrder {
            order: f.order,
            organization: f.org,
            csr: vec![0x30, 0],
            placed_by: "customer".into(),
            created_at: now,
        },
    )?;
    portal_orders::order_of(c, f.org, f.order)?;
    portal_orders::order_ids_of(c, f.org, 20)?;
    portal_orders::gate_refusal(c, f.order)?;
    portal_orders::certificate_of(c, f.org, &f.serial)?;
    portal_orders::client_credentials(c, f.org)?;
    portal_orders::is_portal_credential(c, eab_id)?;
    Ok(())
}

#[tokio::test]
async fn hot_queries_use_indexes() {
    let (_db, store) = crls::testing::store();
    let failures = store
        .run(|c| {
            let (_, eab_id) = staff_setup(c)?;
            let mut fixture = None;
            let requests = recorded(c, |c| {
                fixture = Some(requests(c, eab_id)?);
                Ok(())
            });
            let fixture = fixture.expect("requests ran");
            let sweeps = recorded(c, sweeps);
            let portal = recorded(c, |c| portal(c, &fixture, eab_id));
            let staff = recorded(c, |c| staff(c, &fixture));
            // The recorder saw the statements (a diesel upgrade that
            // changed its report would otherwise pass silently).
            assert!(requests.len() >= 30, "recorded only {requests:?}");
            assert!(
                requests.iter().any(|s| s.contains("authorizations")),
                "{requests:?}"
            );
            assert!(sweeps.len() >= 8, "recorded only {sweeps:?}");
            let mut failures = audit(c, "request", &requests);
            failures.extend(audit(c, "sweep", &sweeps));
            failures.extend(audit(c, "portal", &portal));
            failures.extend(audit(c, "staff", &staff));
            Ok(failures)
        })
        .await
        .expect("scenarios ran");
    assert!(
        failures.is_empty(),
        "statements that read a whole table:\n{}",
        failures.join("\n")
    );
}

/// The check itself: a lookup on a column without an index is caught.
#[tokio::test]
async fn an_unindexed_lookup_is_reported() {
    let (_db, store) = crls::testing::store();
    let failures = store
        .run(|c| {
            let statements = recorded(c, |c| {
                use super::schema::certificates;
                certificates::table
                    .filter(
                        certificates::not_before
                            .lt(super::to_db(crate::core::Clock::system().now())),
                    )
                    .select(certificates::id)
                    .load::<i64>(c)?;
                Ok(())
            });
            assert_eq!(statements.len(), 1, "{statements:?}");
            Ok(audit(c, "probe", &statements))
        })
        .await
        .expect("probe ran");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("certificates"), "{failures:?}");
}
