//! Rate limits (docs/operations.md, "Rate limits"): each refusal is a
//! rateLimited problem (HTTP 429) with Retry-After, the limit named in the
//! detail with the documentation URL, counted in the metrics, and nothing
//! changed. Each test sets its limit low in the server's configuration.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use trustgate::config::{Config, Rate};
use trustgate::core::OrganizationId;
use trustgate::ra::limits::{set_organization_limits, LimitSet};

use crate::support::*;

const DOCS: &str = "https://ca.example.jp/docs/limits";

/// Limits off but the one a test sets, so only that one can refuse.
fn only(cfg: &mut Config, set: impl FnOnce(&mut trustgate::config::LimitsConfig)) {
    let l = &mut cfg.limits;
    let off = Rate::new(0, 0);
    l.documentation_url = Some(DOCS.into());
    l.new_orders_per_account = off;
    l.pending_authorizations_per_account = 0;
    l.failed_validations_per_account = off;
    l.finalizes_per_account = off;
    l.certificates_per_name_set = off;
    l.new_accounts_per_address = off;
    l.requests_per_address = off;
    l.validations_in_flight = 0;
    set(l);
}

/// Asserts the 429 of `limit`: the problem, Retry-After (whole seconds,
/// at least 1), the detail naming what and linking the documentation;
/// returns Retry-After.
#[track_caller]
fn assert_limited(r: &Resp, limit: &str, what: &str) -> u64 {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    let p = r.problem("rateLimited");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(what), "{detail}");
    assert!(detail.contains("retry after 20"), "{detail}");
    let anchor = limit.replace('_', "-");
    assert!(
        detail.ends_with(&format!("see {DOCS}#{anchor}")),
        "{detail}"
    );
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("delta-seconds");
    assert!(retry >= 1, "{retry}");
    retry
}

/// The refusals counted under `limit` in the admin listener's metrics.
async fn refusals(s: &Server, limit: &str) -> u64 {
    let http = http();
    let text = send(&http, Method::GET, &s.admin_url("/metrics"), None, vec![])
        .await
        .text();
    let series = format!("trustgate_rate_limited_total{{limit=\"{limit}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map(|v| v.parse().unwrap())
        .unwrap_or(0)
}

/// The only organization (made by `registered`).
fn organization(s: &Server) -> OrganizationId {
    let ids = s.sql_text("SELECT CAST(id AS TEXT) AS t FROM organizations");
    assert_eq!(ids.len(), 1, "{ids:?}");
    OrganizationId(ids[0].parse().unwrap())
}

#[tokio::test]
async fn new_orders_per_account_are_held_at_the_limit() {
    let (s, c) =
        registered_with(|cfg| only(cfg, |l| l.new_orders_per_account = Rate::new(2, 3600))).await;
    create_order(&c, &["a.example.jp"]).await;
    create_order(&c, &["b.example.jp"]).await;
    let before = s.counts();
    let r = c.new_order(&["c.example.jp"]).await;
    let retry = assert_limited(
        &r,
        "new_orders_per_account",
        "too many new orders for this account (limit: 2 per 1h)",
    );
    // One more is allowed once one interval (30 min) has drained.
    assert!((1..=1800).contains(&retry), "{retry}");
    assert_eq!(s.counts(), before, "a refused newOrder stores nothing");
    assert_eq!(refusals(&s, "new_orders_per_account").await, 1);
    // Another account of the same organization has a bucket of its own.
    let mut other = Client::new(&s).await;
    other.register(&s).await;
    create_order(&other, &["c.example.jp"]).await;
}

#[tokio::test]
async fn an_organization_override_replaces_the_configured_limit() {
    let (s, c) =
        registered_with(|cfg| only(cfg, |l| l.new_orders_per_account = Rate::new(1, 3600))).await;
    let org = organization(&s);
    let store = trustgate::app::open_store_with_clock(&s.cfg, s.clock.clone()).unwrap();
    // Two overrides: the one that matters is not the first by name.
    let set = LimitSet {
        new_orders_per_account: Some(Rate::new(3, 3600)),
        failed_validations_per_account: Some(Rate::new(50, 3600)),
        ..LimitSet::default()
    };
    set_organization_limits(&store, &s.cfg.limits, "alice", org, set, "bulk renewal")
        .await
        .unwrap();
    for n in ["a", "b", "c"] {
        create_order(&c, &[&format!("{n}.example.jp")]).await;
    }
    let r = c.new_order(&["d.example.jp"]).await;
    assert_limited(&r, "new_orders_per_account", "(limit: 3 per 1h)");
    let events = s.sql_text(
        "SELECT actor || ' ' || action || ' ' || COALESCE(reason, '') AS t FROM audit_events \
         WHERE action = 'organization.limits'",
    );
    assert_eq!(
        events,
        vec!["alice organization.limits bulk renewal".to_owned()]
    );
}

#[tokio::test]
async fn pending_authorizations_per_account_are_held_at_the_limit() {
    let (s, c) =
        registered_with(|cfg| only(cfg, |l| l.pending_authorizations_per_account = 2)).await;
    create_order(&c, &["a.example.jp", "b.example.jp"]).await;
    let before = s.counts();
    let r = c.new_order(&["c.example.jp"]).await;
    assert_limited(
        &r,
        "pending_authorizations_per_account",
        "too many pending authorizations for this account (limit: 2)",
    );
    assert_eq!(s.counts(), before);
    assert_eq!(refusals(&s, "pending_authorizations_per_account").await, 1);
}

#[tokio::test]
async fn failed_validations_per_account_stop_new_orders() {
    let (s, c) = registered_with(|cfg| {
        only(cfg, |l| {
            l.failed_validations_per_account = Rate::new(1, 3600)
        })
    })
    .await;
    let order = create_order(&c, &["a.example.jp"]).await;
    let authz = c
        .post(order["authorizations"][0].as_str().unwrap(), None)
        .await
        .json();
    // Nothing provisioned: the http-01 validation fails.
    let ch = challenge_of(&authz, "http-01");
    c.post(ch["url"].as_str().unwrap(), Some(&json!({}))).await;
    c.wait_status(&order_url(&order, &c), &["invalid"]).await;
    let before = s.counts();
    let r = c.new_order(&["b.example.jp"]).await;
    assert_limited(
        &r,
        "failed_validations_per_account",
        "too many failed validations for this account (limit: 1 per 1h)",
    );
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn finalizes_per_account_are_held_at_the_limit() {
    let (s, c) =
        registered_with(|cfg| only(cfg, |l| l.finalizes_per_account = Rate::new(1, 3600))).await;
    issue_fresh(&s, &c, &["a.example.jp"]).await;
    let order = create_order(&c, &["b.example.jp"]).await;
    c.validate_order(&s, &order).await;
    let before = s.counts();
    let r = c.finalize(&order, &["b.example.jp"]).await;
    assert_limited(
        &r,
        "finalizes_per_account",
        "too many finalize requests for this account (limit: 1 per 1h)",
    );
    assert_eq!(s.counts(), before, "no certificate");
    let again: Value = c.post(&order_url(&order, &c), None).await.json();
    assert_eq!(
        again["status"], "ready",
        "the order can still be finalized later"
    );
}

#[tokio::test]
async fn certificates_per_name_set_are_held_per_organization() {
    let (s, c) = registered_with(|cfg| {
        only(cfg, |l| {
            l.certificates_per_name_set = Rate::new(1, 7 * 24 * 3600)
        })
    })
    .await;
    issue_fresh(&s, &c, &["a.example.jp", "b.example.jp"]).await;
    // Another account of the organization, the same names in another order.
    let mut other = Client::new(&s).await;
    other.register(&s).await;
    let before = s.counts();
    let r = other.new_order(&["B.example.jp", "a.example.jp"]).await;
    assert_limited(
        &r,
        "certificates_per_name_set",
        "too many certificates for this exact set of names for this organization (limit: 1 per 7d)",
    );
    assert_eq!(s.counts(), before);
    // A different set is another bucket.
    issue_fresh(&s, &other, &["a.example.jp"]).await;
}

#[tokio::test]
async fn new_accounts_per_address_are_held_at_the_limit() {
    let s = Server::start_with(|cfg| {
        only(cfg, |l| {
            l.new_accounts_per_address = Rate::new(1, 3600);
            l.exempt_addresses = vec![];
        })
    })
    .await;
    let mut first = Client::new(&s).await;
    first.register(&s).await;
    let second = Client::new(&s).await;
    let (kid, key) = s.eab(true).await;
    let url = second.dir("newAccount");
    let eab = second.eab(&kid, &key, &url);
    let before = s.counts();
    let r = second
        .post(
            &url,
            Some(&json!({"termsOfServiceAgreed": true, "externalAccountBinding": eab})),
        )
        .await;
    assert_limited(
        &r,
        "new_accounts_per_address",
        "too many new accounts from this address (limit: 1 per 1h)",
    );
    assert_eq!(s.counts(), before);
    assert_eq!(refusals(&s, "new_accounts_per_address").await, 1);
}

#[tokio::test]
async fn new_accounts_from_an_exempt_address_are_not_counted() {
    let s = Server::start_with(|cfg| {
        only(cfg, |l| {
            l.new_accounts_per_address = Rate::new(1, 3600);
            l.exempt_addresses = vec!["127.0.0.1".parse().unwrap()];
        })
    })
    .await;
    for _ in 0..2 {
        let mut c = Client::new(&s).await;
        c.register(&s).await;
    }
    assert_eq!(refusals(&s, "new_accounts_per_address").await, 0);
}

#[tokio::test]
async fn requests_per_address_are_held_at_the_limit() {
    let s = Server::start_with(|cfg| {
        only(cfg, |l| {
            l.requests_per_address = Rate::new(2, 3600);
            l.exempt_addresses = vec![];
        })
    })
    .await;
    let http = http();
    let dir = s.url("/directory");
    for _ in 0..2 {
        let r = send(&http, Method::GET, &dir, None, vec![]).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = send(&http, Method::GET, &dir, None, vec![]).await;
    assert_limited(
        &r,
        "requests_per_address",
        "too many requests from this address (limit: 2 per 1h)",
    );
    assert!(
        r.header("replay-nonce").is_some(),
        "a refusal still carries a nonce"
    );
    assert_eq!(refusals(&s, "requests_per_address").await, 1);
}

#[tokio::test]
async fn validations_in_flight_are_capped() {
    // An http-01 port that accepts and never answers: the first
    // validation stays in flight (the VA's timeout is long).
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = hole.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = hole.accept().await {
            open.push(conn);
        }
    });
    let (s, c) = registered_with(|cfg| {
        only(cfg, |l| l.validations_in_flight = 1);
        cfg.va.http01_port = port;
        cfg.va.timeout_secs = 120;
    })
    .await;
    let order = create_order(&c, &["a.example.jp", "b.example.jp"]).await;
    let mut challenges = Vec::new();
    for authz in order["authorizations"].as_array().unwrap() {
        let authz = c.post(authz.as_str().unwrap(), None).await.json();
        challenges.push(
            challenge_of(&authz, "http-01")["url"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let first = c.post(&challenges[0], Some(&json!({}))).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let r = c.post(&challenges[1], Some(&json!({}))).await;
    assert_limited(
        &r,
        "validations_in_flight",
        "too many validations in flight on this server (limit: 1)",
    );
    let second: Value = c.post(&challenges[1], None).await.json();
    assert_eq!(
        second["status"], "pending",
        "the refused challenge was not started"
    );
    drop(s);
    held.abort();
}
