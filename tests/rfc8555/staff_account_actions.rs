//! Staff ending an ACME account's rights: revoking the EAB credential it
//! was bound with deactivates it (and every other account bound through
//! it), and staff can deactivate one account. Both are RFC 8555 §7.3.6
//! deactivation done by the CA, through the admin API, audited.

use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};
use trustgate::config::StaffRole;

use crate::support::*;

const VETTER_TOKEN: &str = "tok-vetter-0ac75e";

async fn server_with_staff() -> (Server, Client) {
    let (s, c) = registered().await;
    add_staff(
        &s.cfg,
        "vera",
        VETTER_TOKEN,
        &[StaffRole::View, StaffRole::Vet],
    )
    .await;
    (s, c)
}

async fn staff_post(s: &Server, path: &str, body: Value) -> Resp {
    let req = Request::builder()
        .method(Method::POST)
        .uri(s.admin_url(path))
        .header("authorization", format!("Bearer {VETTER_TOKEN}"))
        .header("content-type", "application/json");
    exchange(&http(), req, body.to_string().into_bytes()).await
}

fn account_id(c: &Client) -> String {
    let kid = c.kid.clone().expect("registered");
    kid.rsplit('/').next().unwrap().to_owned()
}

fn audit(s: &Server, action: &str) -> Vec<String> {
    s.sql_text(&format!(
        "SELECT actor || ' ' || subject || ' ' || COALESCE(reason, '') AS t \
         FROM audit_events WHERE action = '{action}' ORDER BY id"
    ))
}

#[tokio::test]
async fn revoking_the_eab_credential_deactivates_its_accounts() {
    let (s, c) = server_with_staff().await;
    // An order in progress: its authorization is pending.
    let order = create_order(&c, &["pending.example.jp"]).await;
    let kid = s.sql_text("SELECT key_id AS t FROM eab_credentials")[0].clone();

    let r = staff_post(
        &s,
        &format!("/admin/eab/{kid}/revoke"),
        json!({"reason": "contract ended"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // RFC 8555 §7.3.6: the account's key authorizes nothing any more, and
    // its pending authorization went with it.
    c.new_order(&["other.example.jp"])
        .await
        .problem("unauthorized");
    let authz = order["authorizations"][0].as_str().unwrap();
    c.post(authz, None).await.problem("unauthorized");
    assert_eq!(
        s.sql_text("SELECT status AS t FROM authorizations"),
        ["deactivated"]
    );
    assert_eq!(
        s.sql_text("SELECT status AS t FROM accounts"),
        ["deactivated"]
    );
    let id = account_id(&c);
    assert_eq!(
        audit(&s, "account.deactivate"),
        [format!(
            "staff:vera#1 account:{id} EAB credential {kid} revoked: contract ended"
        )]
    );
    assert_eq!(
        audit(&s, "eab.revoke"),
        [format!("staff:vera#1 eab:{kid} contract ended")]
    );
}

#[tokio::test]
async fn staff_deactivate_one_account_and_only_that_one() {
    let (s, a) = server_with_staff().await;
    let mut b = Client::new(&s).await;
    b.register(&s).await;
    let (ida, idb) = (account_id(&a), account_id(&b));
    let path = format!("/admin/accounts/{ida}/deactivate");

    let r = staff_post(&s, &path, json!({"reason": " "})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = staff_post(
        &s,
        "/admin/accounts/99999/deactivate",
        json!({"reason": "x"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = staff_post(&s, "/admin/accounts/x/deactivate", json!({"reason": "x"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    // Nothing changed yet.
    assert!(audit(&s, "account.deactivate").is_empty());
    create_order(&a, &["still.example.jp"]).await;

    let r = staff_post(&s, &path, json!({"reason": "abuse report 42"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "deactivated");
    assert_eq!(r.json()["url"], a.kid.clone().unwrap().as_str());

    a.new_order(&["a.example.jp"]).await.problem("unauthorized");
    create_order(&b, &["b.example.jp"]).await;
    let r = staff_post(&s, &path, json!({"reason": "again"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(
        audit(&s, "account.deactivate"),
        [format!("staff:vera#1 account:{ida} abuse report 42")]
    );
    let statuses =
        s.sql_text("SELECT CAST(id AS TEXT) || ':' || status AS t FROM accounts ORDER BY id");
    assert_eq!(
        statuses,
        [format!("{ida}:deactivated"), format!("{idb}:valid")]
    );
}

/// `trustgate account deactivate` is another process on the database: a
/// live server sees the change within its cache's freshness (5 s on
/// SQLite; at once on PostgreSQL, by notice).
#[tokio::test]
async fn a_deactivation_from_another_process_takes_effect_within_seconds() {
    let (s, c) = server_with_staff().await;
    create_order(&c, &["warm.example.jp"]).await; // the account is cached
    let id: trustgate::core::AccountId = account_id(&c).parse().unwrap();
    s.vetting()
        .deactivate_account("cli:operator", id, "abuse report 43")
        .await
        .unwrap();
    assert_eq!(
        s.sql_text("SELECT status AS t FROM accounts"),
        ["deactivated"]
    );
    let started = std::time::Instant::now();
    loop {
        let r = c.new_order(&["after.example.jp"]).await;
        if r.status != StatusCode::CREATED {
            r.problem("unauthorized");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(7),
            "still ordering after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
