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

/// The member a token of the fixture's staff belongs to.
async fn identity(
    v: &trustgate::vetting::Vetting,
    who: Who,
) -> trustgate::core::staff::StaffIdentity {
    match v.authenticate_token(who.1).await.expect("lookup") {
        trustgate::vetting::staff::TokenCheck::Valid(id) => id,
        other => panic!("{who:?}: {other:?}"),
    }
}

#[tokio::test]
async fn tokens_are_per_member_and_die_with_revocation_or_the_member() {
    let s = Server::start().await;
    let v = s.vetting();
    let lead = identity(&v, LEAD).await;
    assert_eq!(lead.actor(), actor(LEAD));
    // A second token of the lead is the lead: the four-eyes rule holds
    // across tokens.
    let (second, token) = v.create_token(&lead, "lead", "laptop").await.unwrap();
    let lead2 = Who(
        "lead",
        Box::leak(token.expose().to_owned().into_boxed_str()),
    );
    let org = s.create_org().await;
    s.record_ov_checks(LEAD, org).await;
    let approve = format!("/admin/organizations/{org}/approve");
    let r = s.post(lead2, &approve, serde_json::Value::Null).await;
    assert!(r.problem_status(409).contains("four-eyes"), "{}", r.text());
    let r = s
        .get(lead2, &format!("/admin/audit?organization={org}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let events = r.json();
    let checks: Vec<&serde_json::Value> = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["action"] == "check.record")
        .collect();
    assert_eq!(checks.len(), 3, "{events}");
    assert!(checks.iter().all(|e| e["actor"] == actor(LEAD)), "{events}");

    // Revoked: 401, and the member's other token still works.
    v.revoke_token(&lead, second.id).await.unwrap();
    let r = s.get(lead2, "/admin/organizations").await;
    assert!(r.problem_status(401).contains("revoked"), "{}", r.text());
    assert_eq!(
        s.get(LEAD, "/admin/organizations").await.status,
        StatusCode::OK
    );

    // Disabled: every token of the member is refused.
    assert_eq!(
        s.get(VIEWER, "/admin/organizations").await.status,
        StatusCode::OK
    );
    v.disable_staff(&lead, "viewer").await.unwrap();
    let r = s.get(VIEWER, "/admin/organizations").await;
    assert!(r.problem_status(401).contains("disabled"), "{}", r.text());
    assert_eq!(r.json()["type"], "urn:ietf:params:acme:error:unauthorized");
    // Staff management is the approve role's.
    let vetter = identity(&v, VETTER).await;
    let e = v.disable_staff(&vetter, "lead").await.unwrap_err();
    assert!(e.to_string().contains("approve role"), "{e}");
    let e = v
        .create_token(&vetter, "lead", "mine now")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("approve role"), "{e}");
}
