//! RFC 8555 §7.3.3 (changes of terms of service) and §6.7 (`instance`):
//! the directory names the current agreement; an account that accepted an
//! older version is refused the steps towards a certificate with
//! `userActionRequired`, an `instance` link to the portal page where a
//! person accepts, and a `Link` to the terms; it goes on once accepted.
//! The vetting gate's `userActionRequired` links the portal's status page.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde_json::{json, Value};
use trustgate::core::{AccountId, OrganizationId};
use trustgate::error::ErrorKind;
use trustgate::vetting::accounts::{Accepted, TermsAcceptance};
use trustgate::vetting::organization::Level;

use crate::support::*;

const PORTAL: &str = "https://portal.ca.example";

fn with_portal(c: &mut trustgate::config::Config) {
    c.portal.base_url = Some(format!("{PORTAL}/"));
    c.agreement.version = "2026-12".into();
}

fn account_id(c: &Client) -> AccountId {
    let kid = c.kid.as_deref().expect("registered");
    AccountId(kid.rsplit('/').next().unwrap().parse().unwrap())
}

/// Makes account `id` hold agreement `version`, as if it had accepted an
/// older one, through the store's one way of changing an account (so the
/// server's cache hears of it on PostgreSQL; on SQLite its entry ages out).
async fn holds_version(s: &Server, id: AccountId, version: &str) {
    let sql = format!("UPDATE accounts SET terms_version = '{version}' WHERE id = {id}");
    s.vetting()
        .store()
        .change_account(id, move |c| {
            use diesel::RunQueryDsl;
            diesel::sql_query(sql).execute(c).map_err(Into::into)
        })
        .await
        .unwrap();
}

/// Posts a finalize (`csr`) until the answer's status is `want`: a change
/// made by another instance reaches the server's account cache within
/// seconds.
async fn finalize_until(c: &Client, order: &Value, csr: &str, want: StatusCode) -> Resp {
    let started = Instant::now();
    loop {
        let r = c
            .post(
                order["finalize"].as_str().unwrap(),
                Some(&json!({ "csr": csr })),
            )
            .await;
        if r.status == want {
            return r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "finalize never answered {want}: {} {}",
            r.status,
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every `Link` header of `r`, joined.
fn links(r: &Resp) -> String {
    r.headers
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The agreement problem, checked in full: status, type, `instance` and
/// the `Link` naming the terms.
#[track_caller]
fn agreement_problem(r: &Resp, id: AccountId) -> Value {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let p = r.problem("userActionRequired");
    assert_eq!(p["instance"], format!("{PORTAL}/terms/acme/{id}"));
    let links = links(r);
    assert!(
        links.contains(&format!("<{PORTAL}/agreement>;rel=\"terms-of-service\"")),
        "{links}"
    );
    // Clients that show only the detail (certbot) show the page too.
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("version 2026-12"), "{p}");
    assert!(
        detail.ends_with(&format!("; see {PORTAL}/terms/acme/{id}")),
        "{p}"
    );
    p
}

#[tokio::test]
async fn the_directory_names_the_current_agreement() {
    let s = Server::start_with(with_portal).await;
    let c = Client::new(&s).await;
    let d = send(
        &http(),
        hyper::Method::GET,
        &s.url("/directory"),
        None,
        vec![],
    )
    .await
    .json();
    assert_eq!(d["meta"]["termsOfService"], format!("{PORTAL}/agreement"));
    // newAccount must agree to it (RFC 8555 §7.3).
    let url = c.dir("newAccount");
    let (kid, key) = s.eab(true).await;
    let r = c
        .post(
            &url,
            Some(&json!({"externalAccountBinding": c.eab(&kid, &key, &url)})),
        )
        .await;
    r.problem("malformed");
    assert_eq!(s.count("accounts"), 0);

    // A configured URL is named instead.
    let s = Server::start_with(|c| {
        with_portal(c);
        c.acme.terms_of_service = Some("https://ca.example/terms-v2".into());
    })
    .await;
    let d = send(
        &http(),
        hyper::Method::GET,
        &s.url("/directory"),
        None,
        vec![],
    )
    .await
    .json();
    assert_eq!(d["meta"]["termsOfService"], "https://ca.example/terms-v2");
}

#[tokio::test]
async fn a_new_account_records_the_version_it_agreed_to() {
    let (s, c) = registered_with(with_portal).await;
    let id = account_id(&c);
    let held = s.sql_text(&format!(
        "SELECT terms_version || ' ' || CAST(terms_accepted_at IS NOT NULL AS TEXT) AS t FROM accounts WHERE id = {id}"
    ));
    assert!(
        held == ["2026-12 1"] || held == ["2026-12 true"],
        "{held:?}"
    );
    // The current version: orders go through.
    create_order(&c, &["www.example.jp"]).await;
}

#[tokio::test]
async fn a_changed_agreement_stops_orders_until_it_is_accepted_in_the_portal() {
    let (s, c) = registered_with(with_portal).await;
    let id = account_id(&c);
    let org = s.default_organization().expect("registered through it");
    let ready = create_order(&c, &["www.example.jp"]).await;
    c.validate_order(&s, &ready).await;
    let pending = create_order(&c, &["api.example.jp"]).await;
    let authz = c
        .post(pending["authorizations"][0].as_str().unwrap(), None)
        .await
        .json();
    let challenge = challenge_of(&authz, "http-01")["url"]
        .as_str()
        .unwrap()
        .to_owned();

    holds_version(&s, id, "2026-06").await;
    // finalize: refused before the CSR (three zero bytes) is even parsed.
    let r = finalize_until(&c, &ready, "AAAA", StatusCode::FORBIDDEN).await;
    agreement_problem(&r, id);
    let orders = s.count("orders");
    agreement_problem(&c.new_order(&["www.example.jp"]).await, id);
    assert_eq!(
        s.count("orders"),
        orders,
        "a refused newOrder stores nothing"
    );
    agreement_problem(&c.post(&challenge, Some(&json!({}))).await, id);

    // What the account has stays readable and manageable.
    let kid = c.kid.clone().unwrap();
    assert_eq!(c.post(&kid, None).await.status, StatusCode::OK);
    let r = c
        .post(&kid, Some(&json!({"contact": ["mailto:new@example.jp"]})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let order = c.post(&order_url(&ready, &c), None).await;
    assert_eq!(order.json()["status"], "ready");
    // RFC 8555 §7.3.3 wants a person: the client re-agreeing is not it.
    let r = c
        .post(&kid, Some(&json!({"termsOfServiceAgreed": true})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    agreement_problem(&c.new_order(&["www.example.jp"]).await, id);

    // Another organization's customer cannot accept for this account.
    let v = s.vetting();
    let other = s.organization(Level::Ov, &["example.net"]).await;
    let acceptance = |organization: OrganizationId| TermsAcceptance {
        actor: "customer:7",
        organization,
        account: id,
        version: "2026-12",
        remote_address: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
    };
    let e = v.accept_terms(acceptance(other)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(
        v.account_of_organization(other, id).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(v.account_of_organization(org, id).await.unwrap().id, id);

    // The customer of the account's organization accepts.
    assert_eq!(
        v.accept_terms(acceptance(org)).await.unwrap(),
        Accepted::Recorded
    );
    assert_eq!(
        v.accept_terms(acceptance(org)).await.unwrap(),
        Accepted::AlreadyCurrent
    );
    let audited = s.sql_text(
        "SELECT actor || ' ' || subject || ' ' || details AS t FROM audit_events WHERE action = 'account.terms_accept'",
    );
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(audited[0].starts_with(&format!("customer:7 account:{id} ")));
    for part in ["2026-12", "2026-06", "192.0.2.7"] {
        assert!(audited[0].contains(part), "{audited:?}");
    }

    // ...and the same requests go on.
    let done = finalize_until(&c, &ready, &b64(&csr(&["www.example.jp"])), StatusCode::OK).await;
    assert_eq!(done.json()["status"], "valid");
    assert_eq!(
        c.new_order(&["www.example.jp"]).await.status,
        StatusCode::CREATED
    );
}

/// Without a portal there is nowhere to accept, so a changed version
/// refuses nothing.
#[tokio::test]
async fn without_a_portal_nothing_is_refused() {
    let (s, c) = registered_with(|c| c.agreement.version = "2".into()).await;
    holds_version(&s, account_id(&c), "1").await;
    let r = c.new_order(&["www.example.jp"]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

/// The gate's `userActionRequired` (vetting not finished) links the
/// portal's status page; without a portal, no link.
#[tokio::test]
async fn the_gates_refusal_links_the_portal_status_page() {
    for portal in [true, false] {
        let s = Server::start_with(|c| {
            if portal {
                with_portal(c);
            }
        })
        .await;
        let org = s.organization(Level::Ov, &["example.jp"]).await;
        let (kid, key) = s.eab_for(org, true).await;
        let mut c = Client::new(&s).await;
        let url = c.dir("newAccount");
        let r = c
            .post(
                &url,
                Some(&json!({"termsOfServiceAgreed": true, "externalAccountBinding": c.eab(&kid, &key, &url)})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        c.kid = r.header("location");
        let order = create_order(&c, &["www.example.jp"]).await;
        c.validate_order(&s, &order).await;
        let r = c.finalize(&order, &["www.example.jp"]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
        let p = r.problem("userActionRequired");
        assert!(p["detail"].as_str().unwrap().contains("awaiting vetting"));
        if portal {
            assert_eq!(p["instance"], format!("{PORTAL}/status"));
            let detail = p["detail"].as_str().unwrap();
            assert!(detail.ends_with(&format!("; see {PORTAL}/status")), "{p}");
        } else {
            assert!(p.get("instance").is_none(), "{p}");
        }
        let links = links(&r);
        assert!(!links.contains("terms-of-service"), "{links}");
    }
}
