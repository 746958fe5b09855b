//! Read-only lookups behind the staff's evidence views (admin API): an
//! order with everything it was validated and issued on, the order of a
//! certificate, and an organization's orders.
//!
//! Every lookup path is indexed (migrations/*/…_init): orders and
//! certificates by primary key or their unique `serial`/`order_id`,
//! `order_authorizations` by its primary key (order first) and by
//! `order_authorizations_authz`, challenges by `challenges_authorization`,
//! an organization's accounts by `eab_credentials_organization` and
//! `accounts_eab_credential`, their orders by `orders_account`.

use std::collections::HashMap;

use diesel::connection::SimpleConnection;
use diesel::dsl::min;
use diesel::prelude::*;
use time::OffsetDateTime;

use super::models::{AuthzRow, CertificateRow, OrderRow};
use super::schema::{
    accounts, authorizations, certificates, eab_credentials, order_authorizations, orders,
};
use super::{corrupt, from_db, DbConn};
use crate::core::Organization;
use crate::core::{Account, AuthzId, Certificate, CertificateId, Order, OrderId, OrganizationId};
use crate::error::Result;

/// An order as staff and auditors see it: the order with its
/// authorizations and challenges (validation records and errors), the
/// CAA evidence, the certificate, and who asked.
pub struct OrderEvidence {
    pub order: Order,
    /// CAA evidence of the issuing (or latest) finalize: a JSON array of
    /// `va::caa::CaaEvidence`, as stored, each with the remote
    /// perspectives' answers in `perspectives` when there were any.
    pub caa: Option<serde_json::Value>,
    /// The vetting gate's last refusal (JSON, as stored), until issuance
    /// clears it.
    pub gate_refusal: Option<String>,
    /// What the external pre-issuance linter said at the latest finalize
    /// it answered: the refusing findings, or the issued certificate's
    /// warnings and notes (JSON, `ca::linter::LintReport`).
    pub lint: Option<serde_json::Value>,
    /// For each authorization, the order it was created (and validated)
    /// for: another order than this one means it was reused.
    pub validated_for: HashMap<AuthzId, OrderId>,
    pub account: Account,
    /// `None` for an account without an EAB credential.
    pub organization: Option<Organization>,
    pub certificate: Option<IssuedCertificate>,
}

/// A certificate and when it was stored (issued).
pub struct IssuedCertificate {
    pub certificate: Certificate,
    pub issued_at: OffsetDateTime,
}

/// One line of an organization's order list.
pub struct OrderSummary {
    /// Its authorizations carry no challenges: the list needs only the
    /// order's status.
    pub order: Order,
    pub serial: Option<String>,
}

/// The order with its evidence, read from one snapshot so that a
/// finalize or validation completing meanwhile is seen whole or not at
/// all (SQLite: one read transaction; PostgreSQL: REPEATABLE READ, as
/// READ COMMITTED would give each statement its own snapshot).
pub fn order(conn: &mut DbConn, id: OrderId) -> Result<Option<OrderEvidence>> {
    conn.transaction(|c| {
        if let DbConn::Pg(_) = c {
            c.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        order_in_tx(c, id)
    })
}

fn order_in_tx(conn: &mut DbConn, id: OrderId) -> Result<Option<OrderEvidence>> {
    let Some(order) = super::orders::load(conn, id)? else {
        return Ok(None);
    };
    let (caa, gate_refusal, lint): (Option<String>, Option<String>, Option<String>) = orders::table
        .find(id.0)
        .select((
            orders::caa_evidence,
            orders::gate_refusal,
            orders::lint_report,
        ))
        .first(conn)?;
    let (caa, lint) = (as_json(caa), as_json(lint));
    let authz_ids: Vec<i64> = order.authorizations.iter().map(|a| a.id.0).collect();
    let validated_for = order_authorizations::table
        .filter(order_authorizations::authorization_id.eq_any(&authz_ids))
        .group_by(order_authorizations::authorization_id)
        .select((
            order_authorizations::authorization_id,
            min(order_authorizations::order_id),
        ))
        .load::<(i64, Option<i64>)>(conn)?
        .into_iter()
        .filter_map(|(a, o)| o.map(|o| (AuthzId(a), OrderId(o))))
        .collect();
    let account = super::accounts::by_id(conn, order.account_id)?
        .ok_or_else(|| corrupt("order account", &order.account_id.to_string()))?;
    let organization = super::organizations::for_account(conn, order.account_id)?;
    let certificate = match order.certificate {
        Some(cert) => Some(issued(conn, cert)?),
        None => None,
    };
    Ok(Some(OrderEvidence {
        order,
        caa,
        gate_refusal,
        lint,
        validated_for,
        account,
        organization,
        certificate,
    }))
}

fn issued(conn: &mut DbConn, id: CertificateId) -> Result<IssuedCertificate> {
    let row: CertificateRow = certificates::table
        .find(id.0)
        .select(CertificateRow::as_select())
        .first(conn)?;
    let issued_at = from_db(row.created_at);
    Ok(IssuedCertificate {
        certificate: row.into_core(),
        issued_at,
    })
}

/// The order a certificate was issued for, by serial (lower-case hex).
pub fn order_of_serial(conn: &mut DbConn, serial: &str) -> Result<Option<OrderId>> {
    Ok(certificates::table
        .filter(certificates::serial.eq(serial))
        .select(certificates::order_id)
        .first::<i64>(conn)
        .optional()?
        .map(OrderId))
}

/// The stored validation evidence split into the primary's records and
/// the perspectives' answers: an array (records only) as stored without
/// perspectives, or `{"records", "perspectives"}` (`ra::authz`).
pub fn split_validation_evidence(
    stored: Option<&serde_json::Value>,
) -> (Option<&serde_json::Value>, Option<&serde_json::Value>) {
    match stored {
        Some(v @ serde_json::Value::Object(o)) => match o.get("records") {
            Some(records) => (Some(records), o.get("perspectives")),
            None => (Some(v), None),
        },
        other => (other, None),
    }
}

/// The organization's orders, newest first, older than `before` when
/// given (keyset paging), at most `limit`.
pub fn organization_orders(
    conn: &mut DbConn,
    org: OrganizationId,
    before: Option<OrderId>,
    limit: i64,
) -> Result<Vec<OrderSummary>> {
    let org_accounts = accounts::table
        .inner_join(eab_credentials::table)
        .filter(eab_credentials::organization_id.eq(org.0))
        .select(accounts::id);
    let mut q = orders::table
        .filter(orders::account_id.eq_any(org_accounts))
        .select(OrderRow::as_select())
        .order(orders::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(orders::id.lt(b.0));
    }
    let rows: Vec<OrderRow> = q.load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();

    let mut authzs: HashMap<i64, Vec<crate::core::Authorization>> = HashMap::new();
    for (order_id, row) in order_authorizations::table
        .inner_join(authorizations::table)
        .filter(order_authorizations::order_id.eq_any(&ids))
        .order(authorizations::id.asc())
        .select((order_authorizations::order_id, AuthzRow::as_select()))
        .load::<(i64, AuthzRow)>(conn)?
    {
        authzs
            .entry(order_id)
            .or_default()
            .push(row.into_core(Vec::new())?);
    }
    let mut certs: HashMap<i64, (CertificateId, String)> = certificates::table
        .filter(certificates::order_id.eq_any(&ids))
        .select((
            certificates::order_id,
            certificates::id,
            certificates::serial,
        ))
        .load::<(i64, i64, String)>(conn)?
        .into_iter()
        .map(|(o, c, s)| (o, (CertificateId(c), s)))
        .collect();
    rows.into_iter()
        .map(|row| {
            let id = row.id;
            let cert = certs.remove(&id);
            let order = row.into_core(
                authzs.remove(&id).unwrap_or_default(),
                cert.as_ref().map(|(c, _)| *c),
            )?;
            Ok(OrderSummary {
                order,
                serial: cert.map(|(_, s)| s),
            })
        })
        .collect()
}

/// A stored JSON column; one this code cannot read is shown as the string
/// stored rather than hiding the order's other evidence from staff.
fn as_json(s: Option<String>) -> Option<serde_json::Value> {
    s.map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Instrumentation, InstrumentationEvent};
    use time::Duration;

    use super::*;
    use crate::core::{AccountId, ChallengeType};
    use crate::sa::crls::testing::store;
    use crate::sa::orders::{AuthzSpec, NewCertificate, NewOrder, ValidationResult};
    use crate::sa::{accounts, eab, organizations};

    /// An organization with one account bound by an EAB credential.
    fn org_with_account(c: &mut DbConn, tag: &str) -> (OrganizationId, AccountId) {
        let now = crate::core::Clock::system().now();
        let data =
            serde_json::from_str(include_str!("../../conf/organization.example.json")).unwrap();
        let org = organizations::create(c, &data, "vetter", now).unwrap();
        let cred = eab::create(
            c,
            eab::NewEab {
                key_id: &format!("kid-{tag}"),
                organization: org.id,
                hmac_key: b"k",
                note: "",
                single_use: false,
                expires_at: None,
            },
            now,
        )
        .unwrap();
        let acct = match accounts::create(
            c,
            accounts::NewAccount {
                key_thumbprint: format!("thumb-{tag}"),
                jwk: serde_json::Map::new(),
                contact: vec![],
                eab_credential: Some(cred.id),
                terms_version: "1".into(),
            },
            now,
        )
        .unwrap()
        {
            accounts::Created::New(a) | accounts::Created::Existing(a) => a,
        };
        (org.id, acct.id)
    }

    fn new_order(account: AccountId, name: &str, authz: AuthzSpec) -> NewOrder {
        NewOrder {
            account_id: account,
            names: vec![name.to_owned()],
            profile: crate::core::Profile::Ov,
            not_before: None,
            not_after: None,
            expires_at: crate::core::Clock::system().now() + Duration::days(7),
            authorizations: vec![authz],
            replaces: None,
        }
    }

    fn fresh(name: &str) -> AuthzSpec {
        AuthzSpec::New {
            identifier: name.to_owned(),
            wildcard: false,
            expires_at: crate::core::Clock::system().now() + Duration::days(7),
            challenges: vec![(ChallengeType::Http01, format!("tok-{name}"))],
        }
    }

    /// A validated order for `name` whose authorization a second order
    /// reuses and which is issued; returns (first, second, serial).
    fn issued_with_reuse(c: &mut DbConn, account: AccountId) -> (OrderId, OrderId, String) {
        let now = crate::core::Clock::system().now();
        let first = crate::sa::orders::create(
            c,
            new_order(account, "a.example.jp", fresh("a.example.jp")),
            now,
        )
        .unwrap()
        .id;
        let authz = crate::sa::orders::load(c, first)
            .unwrap()
            .unwrap()
            .authorizations[0]
            .clone();
        let chall = authz.challenges[0].id;
        assert!(crate::sa::orders::start_challenge(c, chall, now).unwrap());
        let records = serde_json::json!([{"hostname": "a.example.jp", "addressUsed": "127.0.0.1"}]);
        crate::sa::orders::finish_challenge(
            c,
            chall,
            authz.id,
            ValidationResult {
                error: None,
                records,
                valid_until: now + Duration::days(30),
            },
            now,
            |_| Ok(()),
        )
        .unwrap();
        let second = crate::sa::orders::create(
            c,
            new_order(account, "a.example.jp", AuthzSpec::Reuse(authz.id)),
            now,
        )
        .unwrap()
        .id;
        let order = crate::sa::orders::load(c, second).unwrap().unwrap();
        assert!(crate::sa::orders::begin_finalize(c, second, now).unwrap());
        let serial = "0123456789abcdef0123456789abcdef".to_owned();
        crate::sa::orders::complete_finalize(
            c,
            &order,
            NewCertificate {
                crl_shard: 0,
                serial: serial.clone(),
                der: b"der".to_vec(),
                not_before: now,
                not_after: now + Duration::days(90),
                caa_evidence:
                    r#"[{"name":"a.example.jp","decision":"permitted: no CAA records found"}]"#
                        .into(),
                lint_report: None,
            },
            now,
            |_, _| Ok(()),
        )
        .unwrap();
        (first, second, serial)
    }

    #[tokio::test]
    async fn a_certificate_leads_to_its_order_and_a_reused_authorization_to_its_first_order() {
        let (_db, store) = store();
        store
            .run(|c| {
                let (org, account) = org_with_account(c, "a");
                let (first, second, serial) = issued_with_reuse(c, account);
                assert_eq!(order_of_serial(c, &serial)?, Some(second));
                assert_eq!(order_of_serial(c, "ff")?, None);

                let ev = order(c, second)?.unwrap();
                let authz = ev.order.authorizations[0].id;
                assert_eq!(ev.validated_for.get(&authz), Some(&first), "reused");
                assert_eq!(ev.account.id, account);
                assert_eq!(ev.organization.as_ref().map(|o| o.id), Some(org));
                let cert = ev.certificate.unwrap();
                assert_eq!(cert.certificate.serial, serial);
                // complete_finalize stores the issuing attempt's CAA evidence.
                assert_eq!(ev.caa.unwrap()[0]["name"], "a.example.jp");
                let ch = &ev.order.authorizations[0].challenges[0];
                assert_eq!(
                    ch.validation_records.as_ref().unwrap()[0]["addressUsed"],
                    "127.0.0.1"
                );

                let ev = order(c, first)?.unwrap();
                assert_eq!(ev.validated_for.get(&authz), Some(&first), "not reused");
                assert!(ev.certificate.is_none());
                assert!(order(c, OrderId(999_999))?.is_none());
                Ok(())
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn later_caa_evidence_never_overwrites_the_issuing_one() {
        let (_db, store) = store();
        store
            .run(|c| {
                let (_, account) = org_with_account(c, "b");
                let (_, second, _) = issued_with_reuse(c, account);
                // A concurrent finalize attempt that lost the race.
                crate::sa::orders::set_caa_evidence(
                    c,
                    second,
                    r#"[{"name":"a.example.jp","decision":"refused: x"}]"#,
                )?;
                let caa = order(c, second)?.unwrap().caa.unwrap();
                assert_eq!(caa[0]["decision"], "permitted: no CAA records found");
                Ok(())
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn organization_orders_are_its_own_newest_first_and_paged() {
        let (_db, store) = store();
        store
            .run(|c| {
                let now = crate::core::Clock::system().now();
                let (org, account) = org_with_account(c, "c");
                let (_, other) = org_with_account(c, "d");
                let mut mine = Vec::new();
                for i in 0..3 {
                    let name = format!("n{i}.example.jp");
                    mine.push(
                        crate::sa::orders::create(c, new_order(account, &name, fresh(&name)), now)?
                            .id,
                    );
                    crate::sa::orders::create(c, new_order(other, &name, fresh(&name)), now)?;
                }
                let ids = |v: Vec<OrderSummary>| v.iter().map(|s| s.order.id).collect::<Vec<_>>();
                let page = organization_orders(c, org, None, 2)?;
                assert_eq!(page[0].order.authorizations.len(), 1, "status needs them");
                assert_eq!(ids(page), vec![mine[2], mine[1]]);
                let rest = organization_orders(c, org, Some(mine[1]), 2)?;
                assert_eq!(ids(rest), vec![mine[0]]);
                assert!(organization_orders(c, OrganizationId(999_999), None, 10)?.is_empty());
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Records the SQL of every statement a connection runs.
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Instrumentation for Recorder {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                let sql = query.to_string();
                let sql = sql.split(" -- binds:").next().unwrap_or_default();
                self.0.lock().unwrap().push(sql.to_owned());
            }
        }
    }

    /// Every statement the evidence lookups run is answered from an index
    /// (SQLite's plan has no full `SCAN` of a table), so the views stay
    /// fast however many orders the CA holds.
    #[test]
    fn every_lookup_is_indexed() {
        use diesel::connection::SimpleConnection;
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("plan.db");
        let mut raw = diesel::SqliteConnection::establish(url.to_str().unwrap()).unwrap();
        raw.batch_execute("PRAGMA foreign_keys=ON").unwrap();
        let mut c = DbConn::Sqlite(raw);
        crate::sa::migrate(&mut c).unwrap();
        let (org, account) = org_with_account(&mut c, "e");
        let (_, second, serial) = issued_with_reuse(&mut c, account);

        let seen = Arc::new(Mutex::new(Vec::new()));
        let DbConn::Sqlite(raw) = &mut c else {
            unreachable!("opened as SQLite")
        };
        raw.set_instrumentation(Recorder(seen.clone()));
        order_of_serial(&mut c, &serial).unwrap().unwrap();
        order(&mut c, second).unwrap().unwrap();
        organization_orders(&mut c, org, Some(OrderId(i64::MAX)), 10).unwrap();

        #[derive(QueryableByName)]
        struct Plan {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        // Taken now: the EXPLAINs below are recorded too.
        let selects: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.starts_with("SELECT"))
            .cloned()
            .collect();
        assert!(selects.len() >= 8, "{selects:#?}");
        for sql in selects {
            let DbConn::Sqlite(raw) = &mut c else {
                unreachable!("opened as SQLite")
            };
            let plan: Vec<Plan> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load(raw)
                .unwrap();
            let scans: Vec<&str> = plan
                .iter()
                .map(|p| p.detail.as_str())
                .filter(|d| d.starts_with("SCAN "))
                .collect();
            assert!(scans.is_empty(), "{sql}\n{scans:?}");
        }
    }
}
