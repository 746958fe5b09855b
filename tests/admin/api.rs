//! Every admin endpoint, and the vetting rules as staff meet them.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::*;

fn org_path(org: i64, rest: &str) -> String {
    format!("/admin/organizations/{org}{rest}")
}

#[tokio::test]
async fn organizations_are_created_listed_shown_and_edited() {
    let s = Server::start().await;
    let r = s.post(VETTER, "/admin/organizations", organization()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let created = r.json();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        r.header("location").as_deref(),
        Some(org_path(id, "").as_str())
    );
    assert_eq!(created["status"], "pending");
    assert_eq!(created["effective_status"], "pending");
    assert_eq!(created["created_by"], actor(VETTER));
    let mut sent = organization();
    sent["ev"] = Value::Null;
    assert_eq!(created["data"], sent);

    let shown = s.get(VIEWER, &org_path(id, "")).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.json()["data"]["legal_name"], "例示株式会社");

    let approved = s.approved_org().await;
    let all = s.get(VIEWER, "/admin/organizations").await.json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let pending = s
        .get(VIEWER, "/admin/organizations?status=pending")
        .await
        .json();
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(pending[0]["id"], id);
    let ok = s
        .get(VIEWER, "/admin/organizations?status=approved")
        .await
        .json();
    assert_eq!(ok[0]["id"], approved);
    assert!(ok[0]["vetting_expires_at"].is_string());
    s.get(VIEWER, "/admin/organizations?status=waiting")
        .await
        .problem_status(400);
    let typo = s.get(VIEWER, "/admin/organizations?stauts=pending").await;
    assert!(typo.problem_status(400).contains("unknown query parameter"));

    let mut data = organization();
    data["applicant"]["phone"] = "03-9999-0000".into();
    let r = s.put(VETTER, &org_path(id, ""), data.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["data"]["applicant"]["phone"], "03-9999-0000");

    assert!(s
        .get(VIEWER, "/admin/organizations/999")
        .await
        .problem_status(404)
        .contains("999"));
    s.get(VIEWER, "/admin/organizations/abc")
        .await
        .problem_status(404);
    s.put(VETTER, "/admin/organizations/999", data)
        .await
        .problem_status(404);
}

#[tokio::test]
async fn bad_input_gets_a_problem_and_changes_nothing() {
    let s = Server::start().await;
    // JSON syntax: the parser's message.
    let r = s
        .raw(
            Some(VETTER.1),
            Method::POST,
            "/admin/organizations",
            b"{\"legal_name\": ".to_vec(),
        )
        .await;
    assert!(r.problem_status(400).contains("EOF"), "{}", r.text());
    // An unknown field (a typo) is refused, not dropped.
    let mut data = organization();
    data["legal_nmae"] = "typo".into();
    let r = s.post(VETTER, "/admin/organizations", data).await;
    assert!(r.problem_status(400).contains("legal_nmae"));
    // Validation names every problem.
    let mut data = organization();
    data["registration_number"] = "123".into();
    data["domains"] = json!([]);
    let detail = s
        .post(VETTER, "/admin/organizations", data)
        .await
        .problem_status(400);
    assert!(detail.contains("registration_number") && detail.contains("domains"));
    // Over the body limit.
    let big = vec![b' '; 300 * 1024];
    s.raw(Some(VETTER.1), Method::POST, "/admin/organizations", big)
        .await
        .problem_status(413);
    assert_eq!(
        s.get(VIEWER, "/admin/organizations").await.json(),
        json!([])
    );

    // Unknown paths and wrong methods.
    s.get(VIEWER, "/admin/nothing").await.problem_status(404);
    let r = s
        .raw(
            Some(VIEWER.1),
            Method::DELETE,
            "/admin/organizations",
            Vec::new(),
        )
        .await;
    r.problem_status(405);
    assert_eq!(r.header("allow").as_deref(), Some("GET, POST"));
}

#[tokio::test]
async fn checks_are_recorded_and_blockers_shown() {
    let s = Server::start().await;
    let org = s.create_org().await;
    let list = s.get(VIEWER, &org_path(org, "/checks")).await.json();
    assert_eq!(list["checks"], json!([]));
    assert_eq!(list["blockers"].as_array().unwrap().len(), 3);

    let mut existence = check("existence");
    existence["performed_at"] = "2020-01-01T09:00:00+09:00".into();
    let r = s.post(VETTER, &org_path(org, "/checks"), existence).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let c = r.json();
    assert_eq!(c["kind"], "existence");
    assert_eq!(c["source"], "tdb");
    assert_eq!(c["performed_by"], actor(VETTER));
    assert_eq!(c["performed_at"], "2020-01-01T00:00:00Z");

    let mut failed = check("domain_scope");
    failed["passed"] = false.into();
    s.post(VETTER, &org_path(org, "/checks"), failed).await;
    let list = s.get(VIEWER, &org_path(org, "/checks")).await.json();
    assert_eq!(list["checks"].as_array().unwrap().len(), 2);
    assert_eq!(
        list["blockers"],
        json!([
            "third-party existence check is older than 398 days (performed 2020-01-01); record it again",
            "applicant telephone confirmation not recorded",
            "domain scope review failed"
        ])
    );

    // Bad checks.
    let mut future = check("domain_scope");
    future["performed_at"] = "2999-01-01T00:00:00Z".into();
    assert!(s
        .post(VETTER, &org_path(org, "/checks"), future)
        .await
        .problem_status(400)
        .contains("future"));
    let mut bad_time = check("domain_scope");
    bad_time["performed_at"] = "yesterday".into();
    s.post(VETTER, &org_path(org, "/checks"), bad_time)
        .await
        .problem_status(400);
    let applicant_number = json!({"kind": "phone_intent", "number_called": "03-1", "number_source": "applicant", "person_reached": "x", "confirmed": true});
    s.post(VETTER, &org_path(org, "/checks"), applicant_number)
        .await
        .problem_status(400);
    assert!(s
        .post(VETTER, &org_path(org, "/checks"), check("ev_registration"))
        .await
        .problem_status(400)
        .contains("EV"));
    s.post(VETTER, &org_path(999, "/checks"), check("existence"))
        .await
        .problem_status(404);
    s.get(VIEWER, &org_path(999, "/checks"))
        .await
        .problem_status(404);
}

#[tokio::test]
async fn approval_is_refused_while_checks_are_missing() {
    let s = Server::start().await;
    let org = s.create_org().await;
    for kind in ["existence", "domain_scope"] {
        s.post(VETTER, &org_path(org, "/checks"), check(kind)).await;
    }
    let detail = s
        .post(APPROVER, &org_path(org, "/approve"), Value::Null)
        .await
        .problem_status(409);
    assert!(
        detail.contains("applicant telephone confirmation not recorded"),
        "{detail}"
    );
    s.post(VETTER, &org_path(org, "/checks"), check("phone_intent"))
        .await;
    let r = s
        .post(APPROVER, &org_path(org, "/approve"), Value::Null)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let o = r.json();
    assert_eq!(o["status"], "approved");
    assert_eq!(o["approved_by"], actor(APPROVER));
    assert!(o["vetted_at"].is_string());
}

#[tokio::test]
async fn invalid_transitions_are_refused() {
    let s = Server::start().await;
    let pending = s.create_org().await;
    let reason = json!({"reason": "申請者の依頼"});
    assert!(s
        .post(APPROVER, &org_path(pending, "/suspend"), reason.clone())
        .await
        .problem_status(409)
        .contains("cannot suspend an organization that is pending"));
    s.post(APPROVER, &org_path(pending, "/reinstate"), reason.clone())
        .await
        .problem_status(409);
    s.post(APPROVER, &org_path(pending, "/reopen"), reason.clone())
        .await
        .problem_status(409);
    // Reasons are required except for approval.
    assert!(s
        .post(APPROVER, &org_path(pending, "/reject"), Value::Null)
        .await
        .problem_status(400)
        .contains("reason"));
    s.post(
        APPROVER,
        &org_path(pending, "/reject"),
        json!({"reason": " "}),
    )
    .await
    .problem_status(400);
    s.post(APPROVER, &org_path(pending, "/reject"), json!({"why": "x"}))
        .await
        .problem_status(400);

    let org = s.approved_org().await;
    assert!(s
        .post(APPROVER, &org_path(org, "/approve"), Value::Null)
        .await
        .problem_status(409)
        .contains("cannot approve an organization that is approved"));
    let r = s
        .post(APPROVER, &org_path(org, "/suspend"), reason.clone())
        .await;
    assert_eq!(r.json()["status"], "suspended");
    assert_eq!(r.json()["status_reason"], "申請者の依頼");
    let r = s
        .post(
            APPROVER,
            &org_path(org, "/reinstate"),
            json!({"reason": "解決済み"}),
        )
        .await;
    assert_eq!(r.json()["status"], "approved", "{}", r.text());

    let r = s
        .post(
            APPROVER,
            &org_path(pending, "/reject"),
            json!({"reason": "実在確認できず"}),
        )
        .await;
    assert_eq!(r.json()["status"], "rejected");
    let r = s
        .post(
            APPROVER,
            &org_path(pending, "/reopen"),
            json!({"reason": "追加資料あり"}),
        )
        .await;
    assert_eq!(r.json()["status"], "pending");
    s.post(APPROVER, &org_path(999, "/approve"), Value::Null)
        .await
        .problem_status(404);
}

#[tokio::test]
async fn four_eyes_the_approver_may_not_have_recorded_a_check() {
    let s = Server::start().await;
    let org = s.create_org().await;
    s.record_ov_checks(LEAD, org).await;
    let detail = s
        .post(LEAD, &org_path(org, "/approve"), Value::Null)
        .await
        .problem_status(409);
    assert!(detail.contains("four-eyes"), "{detail}");
    assert!(detail.contains(&format!("{:?}", actor(LEAD))), "{detail}");
    // Someone else may.
    let r = s
        .post(APPROVER, &org_path(org, "/approve"), Value::Null)
        .await;
    assert_eq!(r.json()["status"], "approved", "{}", r.text());

    // With only one of the checks theirs, still refused.
    let org = s.create_org().await;
    s.record_ov_checks(VETTER, org).await;
    s.post(LEAD, &org_path(org, "/checks"), check("domain_scope"))
        .await;
    assert!(s
        .post(LEAD, &org_path(org, "/approve"), Value::Null)
        .await
        .problem_status(409)
        .contains("four-eyes rule: domain scope review"));
}

#[tokio::test]
async fn without_four_eyes_the_vetter_may_approve() {
    let s = Server::start_with(|c| c.vetting.four_eyes = false).await;
    let org = s.create_org().await;
    s.record_ov_checks(LEAD, org).await;
    let r = s.post(LEAD, &org_path(org, "/approve"), Value::Null).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["approved_by"], actor(LEAD));
}

#[tokio::test]
async fn an_edit_after_approval_returns_to_pending_and_old_checks_stop_counting() {
    let s = Server::start().await;
    let org = s.approved_org().await;
    let mut data = organization();
    data["office"]["street"] = "丸の内2-2-2".into();
    let r = s.put(VETTER, &org_path(org, ""), data).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "pending");

    let list = s.get(VIEWER, &org_path(org, "/checks")).await.json();
    assert_eq!(
        list["checks"].as_array().unwrap().len(),
        3,
        "kept, append-only"
    );
    assert_eq!(
        list["blockers"].as_array().unwrap().len(),
        3,
        "none counts: {list}"
    );
    assert!(s
        .post(APPROVER, &org_path(org, "/approve"), Value::Null)
        .await
        .problem_status(409)
        .contains("third-party existence check not recorded"));
    s.record_ov_checks(VETTER, org).await;
    let r = s
        .post(APPROVER, &org_path(org, "/approve"), Value::Null)
        .await;
    assert_eq!(r.json()["status"], "approved");
}

#[tokio::test]
async fn eab_keys_are_shown_once_and_never_listed() {
    let s = Server::start().await;
    let org = s.approved_org().await;
    let r = s
        .post(
            VETTER,
            &org_path(org, "/eab"),
            json!({"note": "web01 の certbot"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let created = r.json();
    let key_id = created["key_id"].as_str().unwrap().to_owned();
    let hmac_key = created["hmac_key"].as_str().unwrap().to_owned();
    assert_eq!(hmac_key.len(), 43, "256 bits, base64url");
    assert_eq!(created["single_use"], true);
    assert_eq!(created["state"], "active");
    assert_eq!(created["organization"], org);

    let r = s
        .post(
            VETTER,
            &org_path(org, "/eab"),
            json!({"note": "reusable", "single_use": false, "expires_days": 30}),
        )
        .await;
    assert_eq!(r.json()["single_use"], false);
    assert!(r.json()["expires_at"].is_string());

    let listed = s.get(VIEWER, &org_path(org, "/eab")).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(!listed.text().contains(&hmac_key));
    assert!(!listed.text().contains("hmac_key"));
    let list = listed.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["key_id"], key_id.as_str());
    assert_eq!(list[0]["note"], "web01 の certbot");

    let revoke = format!("/admin/eab/{key_id}/revoke");
    s.post(VETTER, &revoke, Value::Null)
        .await
        .problem_status(400);
    s.post(VIEWER, &revoke, json!({"reason": "x"}))
        .await
        .problem_status(403);
    let r = s
        .post(VETTER, &revoke, json!({"reason": "サーバ廃止"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["state"], "revoked");
    assert!(!r.text().contains(&hmac_key));
    s.post(VETTER, &revoke, json!({"reason": "again"}))
        .await
        .problem_status(409);
    s.post(VETTER, "/admin/eab/kid-nope/revoke", json!({"reason": "x"}))
        .await
        .problem_status(404);

    s.post(VETTER, &org_path(999, "/eab"), json!({"note": "x"}))
        .await
        .problem_status(404);
    s.post(VETTER, &org_path(org, "/eab"), json!({}))
        .await
        .problem_status(400);
    s.post(
        VETTER,
        &org_path(org, "/eab"),
        json!({"note": "x", "expires_days": 0}),
    )
    .await
    .problem_status(400);
    s.get(VIEWER, &org_path(999, "/eab"))
        .await
        .problem_status(404);
}

#[tokio::test]
async fn accounts_certificates_and_blocked_orders() {
    let s = Server::start().await;
    let org = s.create_org().await;
    assert_eq!(
        s.get(VIEWER, &org_path(org, "/accounts")).await.json(),
        json!([])
    );
    assert_eq!(
        s.get(VIEWER, &org_path(org, "/certificates")).await.json(),
        json!([])
    );
    assert_eq!(
        s.get(VIEWER, "/admin/orders/blocked").await.json(),
        json!([])
    );
    s.get(VIEWER, &org_path(999, "/accounts"))
        .await
        .problem_status(404);
    s.get(VIEWER, &org_path(999, "/certificates"))
        .await
        .problem_status(404);

    // What the ACME side writes: an account bound with the org's EAB
    // credential, an order the gate refused, another one issued.
    let key_id = s
        .post(VETTER, &org_path(org, "/eab"), json!({"note": "acme"}))
        .await
        .json()["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = "2026-01-01 00:00:00";
    s.sql(&format!(
        "INSERT INTO accounts (id, key_thumbprint, jwk, status, eab_credential_id, created_at) \
         SELECT 41, 'thumb', '{{}}', 'valid', id, '{now}' FROM eab_credentials WHERE key_id = '{key_id}'"
    ));
    let refusal = json!({"condition": "pending", "detail": "organization '例示株式会社' is awaiting vetting: applicant telephone confirmation not recorded", "at": 1767225600});
    for (id, status, gate) in [
        (
            7,
            "pending",
            format!("'{}'", refusal.to_string().replace('\'', "''")),
        ),
        (8, "valid", "NULL".to_owned()),
    ] {
        s.sql(&format!(
            "INSERT INTO orders (id, account_id, status, names, profile, expires_at, gate_refusal, created_at, updated_at) \
             VALUES ({id}, 41, '{status}', '[\"www.example.co.jp\"]', 'ov', '2099-01-01 00:00:00', {gate}, '{now}', '{now}')"
        ));
    }
    s.sql(&format!(
        "INSERT INTO certificates (id, serial, order_id, account_id, der, not_before, not_after, created_at) \
         VALUES (5, '0a1b2c', 8, 41, x'00', '{now}', '2026-04-01 00:00:00', '{now}')"
    ));

    let accounts = s.get(VIEWER, &org_path(org, "/accounts")).await.json();
    assert_eq!(accounts[0]["id"], 41);
    assert!(accounts[0]["url"]
        .as_str()
        .unwrap()
        .ends_with("/acme/acct/41"));
    let certs = s.get(VIEWER, &org_path(org, "/certificates")).await.json();
    assert_eq!(
        certs[0],
        json!({"id": 5, "url": certs[0]["url"], "serial": "0a1b2c", "not_after": "2026-04-01T00:00:00Z", "revoked": false})
    );
    let blocked = s.get(VIEWER, "/admin/orders/blocked").await.json();
    assert_eq!(blocked.as_array().unwrap().len(), 1, "{blocked}");
    let b = &blocked[0];
    assert_eq!(b["order"], 7);
    assert_eq!(b["account"], 41);
    assert_eq!(b["organization"], org);
    assert_eq!(b["organization_name"], "例示株式会社");
    assert_eq!(b["condition"], "pending");
    assert!(b["detail"]
        .as_str()
        .unwrap()
        .contains("telephone confirmation"));
    assert_eq!(b["refused_at"], "2026-01-01T00:00:00Z");
    assert!(b["order_url"].as_str().unwrap().ends_with("/acme/order/7"));
}

#[tokio::test]
async fn every_action_is_audited_with_its_actor() {
    let s = Server::start().await;
    let org = s.approved_org().await;
    s.post(VETTER, &org_path(org, "/eab"), json!({"note": "n"}))
        .await;
    s.post(
        APPROVER,
        &org_path(org, "/suspend"),
        json!({"reason": "支払遅延"}),
    )
    .await;
    s.put(VETTER, &org_path(org, ""), organization()).await;
    let other = s.create_org().await;

    let events = s
        .get(VIEWER, &format!("/admin/audit?organization={org}"))
        .await
        .json();
    let got: Vec<(String, String)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("organization.create", VETTER),
        ("check.record", VETTER),
        ("check.record", VETTER),
        ("check.record", VETTER),
        ("organization.approve", APPROVER),
        ("eab.create", VETTER),
        ("organization.suspend", APPROVER),
        ("organization.edit", VETTER),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), actor(*b)))
    .collect();
    assert_eq!(got, want, "oldest first");
    assert_eq!(events[6]["reason"], "支払遅延");
    assert!(events
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["organization"] == org));
    assert!(
        !events.to_string().contains("hmac"),
        "no key in the audit log"
    );

    let all = s.get(VIEWER, "/admin/audit").await.json();
    // Staff actions only: the CA's own (CRLs published) are the system's.
    let all: Vec<&serde_json::Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] != "system")
        .collect();
    assert_eq!(all.len(), want.len() + 1);
    assert_eq!(all[want.len()]["organization"], other);
    let two = s.get(VIEWER, "/admin/audit?limit=2").await.json();
    assert_eq!(two.as_array().unwrap().len(), 2);
    for bad in [
        "limit=0",
        "limit=5000",
        "limit=x",
        "organization=x",
        "org=1",
        "since=yesterday",
        "until=2026-12-06",
        "after=-1",
        "after=x",
        "format=xml",
        "since=2026-12-06T10:00:00Z&until=2026-12-06T09:00:00Z",
    ] {
        s.get(VIEWER, &format!("/admin/audit?{bad}"))
            .await
            .problem_status(400);
    }
    s.get(VIEWER, "/admin/audit?organization=999")
        .await
        .problem_status(404);
}

/// Rate-limit overrides: the configured limits shown, an override set by
/// an approver (audited with before, after and the reason) and shown as
/// in force; bad bodies, other roles and unknown organizations refused.
#[tokio::test]
async fn organization_limits_are_shown_overridden_and_audited() {
    let s = Server::start().await;
    let org = s.create_org().await;
    let path = org_path(org, "/limits");
    let shown = s.get(VIEWER, &path).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text());
    let shown = shown.json();
    assert_eq!(shown["organization"], org);
    assert_eq!(shown["overrides"]["new_orders_per_account"], Value::Null);
    assert_eq!(
        shown["effective"]["new_orders_per_account"],
        json!({"count": 300, "period_secs": 10800})
    );
    assert_eq!(
        shown["effective"]["certificates_per_name_set"],
        json!({"count": 5, "period_secs": 604800})
    );

    let body = json!({
        "limits": {
            "new_orders_per_account": {"count": 3000, "period_secs": 10800},
            "pending_authorizations_per_account": {"count": 0}
        },
        "reason": "migration of 2,000 hosts, ticket 4711"
    });
    s.put(VETTER, &path, body.clone()).await.problem_status(403);
    let r = s.put(APPROVER, &path, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let shown = s.get(VIEWER, &path).await.json();
    assert_eq!(
        shown["effective"]["new_orders_per_account"],
        json!({"count": 3000, "period_secs": 10800})
    );
    assert_eq!(
        shown["overrides"]["pending_authorizations_per_account"],
        json!({"count": 0})
    );
    assert_eq!(
        shown["effective"]["finalizes_per_account"],
        json!({"count": 300, "period_secs": 3600})
    );

    let events = s
        .get(VIEWER, &format!("/admin/audit?organization={org}"))
        .await
        .json();
    let event = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "organization.limits")
        .expect("an organization.limits event");
    assert_eq!(event["actor"], actor(APPROVER));
    assert_eq!(event["reason"], "migration of 2,000 hosts, ticket 4711");
    assert_eq!(
        event["details"]["before"]["new_orders_per_account"],
        Value::Null
    );
    assert_eq!(
        event["details"]["after"]["new_orders_per_account"]["count"],
        3000
    );

    for bad in [
        json!({"limits": {}, "reason": " "}),
        json!({"limits": {}}),
        json!({"limits": {"finalizes_per_account": {"count": 1, "period_secs": 0}}, "reason": "r"}),
        json!({"limits": {"finalizes_per_account": {"count": -1, "period_secs": 60}}, "reason": "r"}),
        json!({"limits": {"requests_per_address": {"count": 1, "period_secs": 60}}, "reason": "r"}),
        json!({"limits": {"new_orders_per_account": {"count": 1}}, "reason": "r"}),
    ] {
        s.put(APPROVER, &path, bad.clone())
            .await
            .problem_status(400);
    }
    let unchanged = s.get(VIEWER, &path).await.json();
    assert_eq!(unchanged, shown, "refused bodies change nothing");
    // Clearing every override restores the configuration's limits.
    let r = s
        .put(
            APPROVER,
            &path,
            json!({"limits": {}, "reason": "migration done"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["effective"]["new_orders_per_account"],
        json!({"count": 300, "period_secs": 10800})
    );
    s.get(VIEWER, &org_path(999, "/limits"))
        .await
        .problem_status(404);
    s.put(
        APPROVER,
        &org_path(999, "/limits"),
        json!({"limits": {}, "reason": "r"}),
    )
    .await
    .problem_status(404);
}
