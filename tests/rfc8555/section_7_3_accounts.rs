//! RFC 8555 §7.3: accounts, External Account Binding (§7.3.4), update
//! (§7.3.2) and deactivation (§7.3.6).

use hyper::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn new_account_with_eab_then_same_key_returns_it() {
    let s = Server::start().await;
    let mut c = Client::new(&s).await;
    let r = c.register(&s).await;
    let acct = r.json();
    assert_eq!(acct["status"], "valid");
    assert_eq!(acct["contact"][0], "mailto:ops@example.jp");
    let loc = r.header("location").unwrap();
    assert!(acct["orders"].as_str().unwrap().starts_with(&loc));
    // The same key again, even without EAB: 200 and the same Location.
    let url = c.dir("newAccount");
    let mut p = c.protected(&url).await;
    p.kid = false;
    p.jwk = true;
    let r = c
        .post_jws(
            &url,
            &c.sign(&p, Some(&json!({"termsOfServiceAgreed": true}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("location"), Some(loc.clone()));
    // onlyReturnExisting finds it too.
    let p = Protected {
        nonce: Some(c.nonce().await),
        ..p
    };
    let r = c
        .post_jws(
            &url,
            &c.sign(&p, Some(&json!({"onlyReturnExisting": true}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("location"), Some(loc));
    assert_eq!(s.count("accounts"), 1);
}

#[tokio::test]
async fn only_return_existing_for_an_unknown_key() {
    let s = Server::start().await;
    let c = Client::new(&s).await;
    let r = c
        .post(
            &c.dir("newAccount"),
            Some(&json!({"onlyReturnExisting": true})),
        )
        .await;
    r.problem("accountDoesNotExist");
    assert_eq!(s.count("accounts"), 0);
}

#[tokio::test]
async fn eab_is_required() {
    let s = Server::start().await;
    let c = Client::new(&s).await;
    let r = c
        .post(
            &c.dir("newAccount"),
            Some(&json!({"termsOfServiceAgreed": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    r.problem("externalAccountRequired");
    assert_eq!(s.count("accounts"), 0);
}

#[tokio::test]
async fn eab_with_wrong_mac_unknown_kid_or_wrong_payload_is_refused() {
    let s = Server::start().await;
    let c = Client::new(&s).await;
    let url = c.dir("newAccount");
    let (kid, key) = s.eab(true).await;

    let bad = c.eab(&kid, b"0123456789abcdef0123456789abcdef", &url);
    let r = c
        .post(&url, Some(&json!({"externalAccountBinding": bad})))
        .await;
    assert!(r.problem("unauthorized")["detail"]
        .as_str()
        .unwrap()
        .contains("MAC"));

    let unknown = c.eab("kid-unknown", &key, &url);
    let r = c
        .post(&url, Some(&json!({"externalAccountBinding": unknown})))
        .await;
    assert!(r.problem("unauthorized")["detail"]
        .as_str()
        .unwrap()
        .contains("unknown"));

    let wrong_url = c.eab(&kid, &key, &s.url("/acme/new-order"));
    c.post(&url, Some(&json!({"externalAccountBinding": wrong_url})))
        .await
        .problem("malformed");

    let other = Client::new(&s).await;
    let foreign_payload = other.eab(&kid, &key, &url);
    c.post(
        &url,
        Some(&json!({"externalAccountBinding": foreign_payload})),
    )
    .await
    .problem("malformed");

    c.post(&url, Some(&json!({"externalAccountBinding": "nope"})))
        .await
        .problem("malformed");
    assert_eq!(s.count("accounts"), 0);
    assert_eq!(
        s.sql_text("SELECT COALESCE(CAST(used_at AS TEXT), 'unused') AS t FROM eab_credentials"),
        vec!["unused"]
    );
}

#[tokio::test]
async fn a_single_use_eab_binds_once_and_revoked_keys_fail() {
    let s = Server::start().await;
    let (kid, key) = s.eab(true).await;
    let a = Client::new(&s).await;
    let url = a.dir("newAccount");
    let r = a
        .post(
            &url,
            Some(&json!({"externalAccountBinding": a.eab(&kid, &key, &url)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let b = Client::new(&s).await;
    let r = b
        .post(
            &url,
            Some(&json!({"externalAccountBinding": b.eab(&kid, &key, &url)})),
        )
        .await;
    assert!(r.problem("unauthorized")["detail"]
        .as_str()
        .unwrap()
        .contains("already been used"));
    assert_eq!(s.count("accounts"), 1);

    let (kid2, key2) = s.eab(false).await;
    s.vetting()
        .revoke_eab("vetter", &kid2, "leaked in a ticket")
        .await
        .unwrap();
    let r = b
        .post(
            &url,
            Some(&json!({"externalAccountBinding": b.eab(&kid2, &key2, &url)})),
        )
        .await;
    assert!(r.problem("unauthorized")["detail"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    assert_eq!(s.count("accounts"), 1);
}

#[tokio::test]
async fn a_reusable_eab_binds_several_accounts() {
    let s = Server::start().await;
    let (kid, key) = s.eab(false).await;
    for _ in 0..2 {
        let c = Client::new(&s).await;
        let url = c.dir("newAccount");
        let r = c
            .post(
                &url,
                Some(&json!({"externalAccountBinding": c.eab(&kid, &key, &url)})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    assert_eq!(s.count("accounts"), 2);
}

#[tokio::test]
async fn contacts_are_validated() {
    let s = Server::start().await;
    let c = Client::new(&s).await;
    let url = c.dir("newAccount");
    let (kid, key) = s.eab(true).await;
    for (contact, kind) in [
        ("tel:+81312345678", "unsupportedContact"),
        ("mailto:a@example.jp?subject=hi", "invalidContact"),
        ("mailto:not-an-address", "invalidContact"),
    ] {
        let r = c
            .post(&url, Some(&json!({"contact": [contact], "externalAccountBinding": c.eab(&kid, &key, &url)})))
            .await;
        r.problem(kind);
    }
    assert_eq!(s.count("accounts"), 0);
}

#[tokio::test]
async fn terms_of_service_must_be_agreed_when_configured() {
    let s =
        Server::start_with(|c| c.acme.terms_of_service = Some("https://ca.example.net/tos".into()))
            .await;
    let c = Client::new(&s).await;
    let url = c.dir("newAccount");
    let (kid, key) = s.eab(true).await;
    let r = c
        .post(
            &url,
            Some(&json!({"externalAccountBinding": c.eab(&kid, &key, &url)})),
        )
        .await;
    assert!(r.problem("malformed")["detail"]
        .as_str()
        .unwrap()
        .contains("terms of service"));
    assert_eq!(s.count("accounts"), 0);
}

#[tokio::test]
async fn account_update_and_deactivation() {
    let (s, mut c) = registered().await;
    let kid = c.kid.clone().unwrap();
    let r = c
        .post(&kid, Some(&json!({"contact": ["mailto:new@example.jp"]})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["contact"][0], "mailto:new@example.jp");
    let r = c.post(&kid, None).await;
    assert_eq!(r.json()["contact"][0], "mailto:new@example.jp");

    c.post(&kid, Some(&json!({"status": "valid"})))
        .await
        .problem("malformed");
    c.post(&kid, Some(&json!({"contact": ["ftp://x"]})))
        .await
        .problem("unsupportedContact");

    let r = c.post(&kid, Some(&json!({"status": "deactivated"}))).await;
    assert_eq!(r.json()["status"], "deactivated");
    // RFC 8555 §7.3.6: the key authorizes nothing afterwards.
    c.new_order(&["a.example.jp"]).await.problem("unauthorized");
    c.post(&kid, None).await.problem("unauthorized");
    assert_eq!(s.count("orders"), 0);
    // No way back (§7.3.6 has no reactivation), no key change, and
    // newAccount with its key finds it only to refuse it.
    c.post(&kid, Some(&json!({"status": "valid"})))
        .await
        .problem("unauthorized");
    c.post(&c.dir("keyChange"), Some(&json!({})))
        .await
        .problem("unauthorized");
    c.kid = None;
    let existing = json!({"onlyReturnExisting": true});
    let p = c
        .post(&c.dir("newAccount"), Some(&existing))
        .await
        .problem("unauthorized");
    assert!(p["detail"].as_str().unwrap().contains("deactivated"), "{p}");
    assert_eq!(
        s.sql_text("SELECT status AS t FROM accounts"),
        ["deactivated"]
    );
}

#[tokio::test]
async fn another_accounts_url_is_refused() {
    let s = Server::start().await;
    let mut a = Client::new(&s).await;
    a.register(&s).await;
    let mut b = Client::new(&s).await;
    b.register(&s).await;
    let r = b
        .post(a.kid.as_ref().unwrap(), Some(&json!({"contact": []})))
        .await;
    r.problem("unauthorized");
    let r = a.post(a.kid.as_ref().unwrap(), None).await;
    assert_eq!(r.json()["contact"][0], "mailto:ops@example.jp");
}
