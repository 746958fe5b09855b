//! RFC 8555 §6.2–§6.5: request authentication, URL and nonce checks.

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn missing_bad_and_replayed_nonces_are_bad_nonce() {
    let (s, c) = registered().await;
    let url = c.dir("newOrder");
    let payload = json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}]});
    let before = s.counts();

    let mut p = c.protected(&url).await;
    p.nonce = None;
    c.post_jws(&url, &c.sign(&p, Some(&payload)))
        .await
        .problem("badNonce");

    p.nonce = Some("not-a-nonce-of-ours".into());
    let r = c.post_jws(&url, &c.sign(&p, Some(&payload))).await;
    r.problem("badNonce");
    assert!(
        r.header("replay-nonce").is_some(),
        "badNonce carries a fresh nonce"
    );

    let p = c.protected(&url).await;
    let jws = c.sign(&p, Some(&payload));
    assert_eq!(c.post_jws(&url, &jws).await.status, StatusCode::CREATED);
    let after_one = s.count("orders");
    c.post_jws(&url, &jws).await.problem("badNonce");
    assert_eq!(s.count("orders"), after_one, "a replay creates nothing");
    assert_eq!(
        after_one,
        before.iter().find(|(t, _)| t == "orders").unwrap().1 + 1
    );
}

#[tokio::test]
async fn url_must_match_the_request() {
    let (s, c) = registered().await;
    let before = s.counts();
    let url = c.dir("newOrder");
    let mut p = c.protected(&url).await;
    p.url = Some(s.url("/acme/new-order-elsewhere"));
    let payload = json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}]});
    c.post_jws(&url, &c.sign(&p, Some(&payload)))
        .await
        .problem("unauthorized");
    p = c.protected(&url).await;
    p.url = None;
    c.post_jws(&url, &c.sign(&p, Some(&payload)))
        .await
        .problem("malformed");
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn jwk_and_kid_together_or_neither_are_malformed() {
    let (s, c) = registered().await;
    let before = s.counts();
    let url = c.dir("newOrder");
    let payload = json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}]});
    let mut p = c.protected(&url).await;
    p.jwk = true;
    p.kid = true;
    let r = c.post_jws(&url, &c.sign(&p, Some(&payload))).await;
    assert!(r.problem("malformed")["detail"]
        .as_str()
        .unwrap()
        .contains("both jwk and kid"));
    let mut p = c.protected(&url).await;
    p.jwk = false;
    p.kid = false;
    c.post_jws(&url, &c.sign(&p, Some(&payload)))
        .await
        .problem("malformed");
    // newOrder signed with a jwk instead of the account's kid.
    let mut p = c.protected(&url).await;
    p.jwk = true;
    p.kid = false;
    c.post_jws(&url, &c.sign(&p, Some(&payload)))
        .await
        .problem("malformed");
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn general_serialization_and_unprotected_headers_are_malformed() {
    let (s, c) = registered().await;
    let before = s.counts();
    let url = c.dir("newOrder");
    let payload = json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}]});
    let p = c.protected(&url).await;
    let jws = c.sign(&p, Some(&payload));
    let general = json!({"payload": jws["payload"], "signatures": [{"protected": jws["protected"], "signature": jws["signature"]}]});
    let r = c.post_jws(&url, &general).await;
    assert!(r.problem("malformed")["detail"]
        .as_str()
        .unwrap()
        .contains("flattened"));
    let p = c.protected(&url).await;
    let mut jws = c.sign(&p, Some(&payload));
    jws["header"] = json!({"kid": "x"});
    c.post_jws(&url, &jws).await.problem("malformed");
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn unsupported_algorithms_are_refused() {
    let (s, c) = registered().await;
    let before = s.counts();
    let url = c.dir("newOrder");
    let payload = json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}]});
    for alg in ["none", "HS256", "PS256", "XX999"] {
        let mut p = c.protected(&url).await;
        p.alg = alg.into();
        let r = c.post_jws(&url, &c.sign(&p, Some(&payload))).await;
        let prob = r.problem("badSignatureAlgorithm");
        assert!(
            prob["algorithms"]
                .as_array()
                .unwrap()
                .contains(&json!("ES256")),
            "{prob}"
        );
    }
    // A supported algorithm that does not fit the key.
    let mut p = c.protected(&url).await;
    p.alg = "RS256".into();
    c.post_jws(&url, &c.sign(&p, Some(&payload)))
        .await
        .problem("badSignatureAlgorithm");
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn a_bad_signature_is_malformed() {
    let (s, c) = registered().await;
    let before = s.counts();
    let url = c.dir("newOrder");
    let p = c.protected(&url).await;
    let mut jws = c.sign(
        &p,
        Some(&json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}]})),
    );
    let other = c.sign(
        &p,
        Some(&json!({"identifiers": [{"type": "dns", "value": "b.example.jp"}]})),
    );
    jws["payload"] = other["payload"].clone();
    c.post_jws(&url, &jws).await.problem("malformed");
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn unknown_kid_is_account_does_not_exist() {
    let (s, mut c) = registered().await;
    let before = s.counts();
    c.kid = Some(s.url("/acme/acct/999999"));
    let r = c.new_order(&["a.example.jp"]).await;
    r.problem("accountDoesNotExist");
    c.kid = Some("https://elsewhere.jp/acme/acct/1".into());
    c.new_order(&["a.example.jp"])
        .await
        .problem("accountDoesNotExist");
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn content_type_must_be_jose_json() {
    let (s, c) = registered().await;
    let url = c.dir("newOrder");
    let p = c.protected(&url).await;
    let jws = c.sign(&p, Some(&json!({"identifiers": []})));
    let r = send(
        &c.http,
        Method::POST,
        &url,
        Some("application/json"),
        jws.to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    r.problem("malformed");
    let _ = s;
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_parsing() {
    let s = Server::start_with(|c| c.server.max_body_bytes = 4096).await;
    let c = Client::new(&s).await;
    let before = s.counts();
    let url = c.dir("newAccount");
    let r = send(
        &c.http,
        Method::POST,
        &url,
        Some("application/jose+json"),
        vec![b'{'; 10_000],
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    r.problem("malformed");
    assert_eq!(s.counts(), before);
}

/// RFC 8555 §6.5: a nonce is good for `acme.nonce_lifetime_secs` and then
/// badNonce. The server's clock is moved instead of waiting out the hour.
#[tokio::test]
async fn a_nonce_past_its_lifetime_is_bad_nonce() {
    let clock = trustgate::core::Clock::manual(time::macros::datetime!(2026-06-01 0:00 UTC));
    let (s, c) = registered_on(clock.clone(), |_| {}).await;
    let lifetime = time::Duration::seconds(s.cfg.acme.nonce_lifetime_secs as i64);
    let url = c.dir("newOrder");
    let payload = json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}]});

    let p = c.protected(&url).await;
    assert!(clock.advance(lifetime - time::Duration::SECOND));
    let r = c.post_jws(&url, &c.sign(&p, Some(&payload))).await;
    assert_eq!(r.status, StatusCode::CREATED, "a second before it expires");

    let p = c.protected(&url).await;
    assert!(clock.advance(lifetime + time::Duration::SECOND));
    let r = c.post_jws(&url, &c.sign(&p, Some(&payload))).await;
    r.problem("badNonce");
}
