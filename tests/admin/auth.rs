//! Bearer tokens and roles.

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn healthz_needs_no_token() {
    let s = Server::start().await;
    let r = s.raw(None, Method::GET, "/healthz", Vec::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text().trim(), "ok");
    // Probes and scrapers carry no token either.
    for path in ["/readyz", "/metrics"] {
        let r = s.raw(None, Method::GET, path, Vec::new()).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        assert!(r.header("www-authenticate").is_none(), "{path}");
    }
}

#[tokio::test]
async fn missing_or_unknown_tokens_get_401_with_a_bearer_challenge() {
    let s = Server::start().await;
    let none = s
        .raw(None, Method::GET, "/admin/organizations", Vec::new())
        .await;
    let wrong = s
        .raw(
            Some("tok-nobody"),
            Method::GET,
            "/admin/organizations",
            Vec::new(),
        )
        .await;
    // A staff member's token hash presented as the token is not the token.
    let hash = s
        .raw(
            Some(&sha256_hex(VETTER.1)),
            Method::GET,
            "/admin/organizations",
            Vec::new(),
        )
        .await;
    for r in [&none, &wrong, &hash] {
        r.problem_status(401);
        assert_eq!(r.json()["type"], "urn:ietf:params:acme:error:unauthorized");
        assert!(r
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer")));
    }
    assert!(none
        .problem_status(401)
        .contains("Bearer token is required"));
    assert!(wrong.problem_status(401).contains("not valid"));
    // Basic credentials are not a bearer token.
    let mut req = hyper::Request::builder()
        .uri(format!("{}/admin/organizations", s.admin))
        .header("authorization", format!("Basic {}", VETTER.1));
    req = req.method(Method::GET);
    let resp = s
        .http
        .request(
            req.body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn roles_decide_what_staff_may_do() {
    let s = Server::start().await;
    // A viewer sees, but cannot create.
    assert_eq!(
        s.get(VIEWER, "/admin/organizations").await.status,
        StatusCode::OK
    );
    let r = s.post(VIEWER, "/admin/organizations", organization()).await;
    assert!(r.problem_status(403).contains("vet"), "{}", r.text());
    assert_eq!(
        s.get(VIEWER, "/admin/organizations").await.json(),
        json!([]),
        "nothing was created"
    );

    let org = s.create_org().await;
    s.record_ov_checks(VETTER, org).await;
    // The vetter cannot approve what they vetted, nor anything else.
    let r = s
        .post(
            VETTER,
            &format!("/admin/organizations/{org}/approve"),
            serde_json::Value::Null,
        )
        .await;
    assert!(r.problem_status(403).contains("approve"));
    // The approver cannot record checks or create EAB credentials.
    let r = s
        .post(
            APPROVER,
            &format!("/admin/organizations/{org}/checks"),
            check("domain_scope"),
        )
        .await;
    r.problem_status(403);
    let r = s
        .post(
            APPROVER,
            &format!("/admin/organizations/{org}/eab"),
            json!({"note": "x"}),
        )
        .await;
    r.problem_status(403);
    // Vet and approve imply view.
    for who in [VETTER, APPROVER, LEAD] {
        let r = s.get(who, &format!("/admin/organizations/{org}")).await;
        assert_eq!(r.status, StatusCode::OK, "{who:?}");
    }
}
