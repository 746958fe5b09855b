//! EV vetting through the admin API: each EVG item the EV Guidelines ask
//! for is its own kind of check with its own fields, and approval of an
//! EV organization waits for every one, recent enough.

use hyper::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

/// The EVG items beyond registration and business category.
const EVG_KINDS: [&str; 5] = [
    "ev_place_of_business",
    "ev_operational_existence",
    "ev_communication",
    "ev_authority",
    "ev_denied_party_screening",
];

const EARLIER_KINDS: [&str; 5] = [
    "existence",
    "phone_intent",
    "domain_scope",
    "ev_registration",
    "ev_business_category",
];

fn checks_path(org: i64) -> String {
    format!("/admin/organizations/{org}/checks")
}

async fn create_ev_org(s: &Server) -> i64 {
    let mut data = organization();
    data["level"] = "ev".into();
    data["ev"] = json!({"business_category": "Private Organization", "jurisdiction_country": "JP"});
    let r = s.post(VETTER, "/admin/organizations", data).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().expect("id")
}

async fn record(s: &Server, org: i64, body: Value) -> Value {
    let r = s.post(VETTER, &checks_path(org), body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

async fn approve(s: &Server, org: i64) -> crate::support::Resp {
    s.post(
        APPROVER,
        &format!("/admin/organizations/{org}/approve"),
        Value::Null,
    )
    .await
}

#[tokio::test]
async fn each_evg_kind_is_recorded_with_its_fields() {
    let s = Server::start().await;
    let org = create_ev_org(&s).await;
    for kind in EVG_KINDS {
        let sent = check(kind);
        let stored = record(&s, org, sent.clone()).await;
        // Every field comes back as sent, beside who and when.
        for (field, value) in sent.as_object().unwrap() {
            assert_eq!(&stored[field], value, "{kind}.{field}");
        }
        assert_eq!(stored["performed_by"], actor(VETTER));
    }
    let c = &record(&s, org, check("ev_operational_existence")).await;
    assert_eq!(c["evidence"]["type"], "three_years_registered");
    assert_eq!(c["evidence"]["registered_on"], "1998-04-01");
    let list = s.get(VIEWER, &checks_path(org)).await.json();
    assert_eq!(list["checks"].as_array().unwrap().len(), 6);
    // What the EV organization still needs: the earlier five.
    assert_eq!(list["blockers"].as_array().unwrap().len(), 5, "{list}");
}

#[tokio::test]
async fn malformed_evg_checks_are_refused_naming_the_field() {
    let s = Server::start().await;
    let org = create_ev_org(&s).await;
    let with = |kind: &str, edit: &dyn Fn(&mut Value)| {
        let mut v = check(kind);
        edit(&mut v);
        v
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with("ev_place_of_business", &|v| {
                v.as_object_mut().unwrap().remove("address");
            }),
            "address",
        ),
        (
            with("ev_place_of_business", &|v| {
                v["method"] = "walked_past".into()
            }),
            "walked_past",
        ),
        (
            with(
                "ev_operational_existence",
                &|v| {
                    v["evidence"] =
                        json!({"type": "three_years_registered", "registered_on": "2025-01-01"})
                },
            ),
            "evidence.registered_on",
        ),
        (
            with("ev_operational_existence", &|v| {
                v["evidence"] = json!({"type": "demand_deposit_account"})
            }),
            "institution",
        ),
        (
            with("ev_communication", &|v| {
                v["method"] = json!({"channel": "telephone", "number": "call me"})
            }),
            "method.number",
        ),
        (
            with("ev_communication", &|v| {
                v["affirmative_response"] = " ".into()
            }),
            "affirmative_response",
        ),
        (
            with("ev_authority", &|v| {
                v["certificate_approver"] = json!({"name": "佐藤花子"})
            }),
            "title",
        ),
        (
            with("ev_authority", &|v| {
                v["authority_method"] = "said_so".into()
            }),
            "said_so",
        ),
        (
            with("ev_denied_party_screening", &|v| {
                v["screened"] = json!(["applicant"])
            }),
            "screened must include contract_signer",
        ),
        (
            with("ev_denied_party_screening", &|v| {
                v["lists"] = json!(["ofac_sdn"])
            }),
            "lists must include ca_high_risk",
        ),
        (
            with("ev_denied_party_screening", &|v| v["passed"] = true.into()),
            "passed",
        ),
    ];
    for (body, field) in cases {
        let detail = s
            .post(VETTER, &checks_path(org), body.clone())
            .await
            .problem_status(400);
        assert!(detail.contains(field), "{field}: {detail} for {body}");
    }
    // Nothing was recorded.
    let list = s.get(VIEWER, &checks_path(org)).await.json();
    assert_eq!(list["checks"], json!([]));
    // The EVG kinds are EV's only.
    let ov = s.create_org().await;
    for kind in EVG_KINDS {
        let detail = s
            .post(VETTER, &checks_path(ov), check(kind))
            .await
            .problem_status(400);
        assert!(detail.contains("only recorded for EV"), "{detail}");
    }
}

#[tokio::test]
async fn ev_approval_waits_for_every_evg_item_recent_enough() {
    let s = Server::start().await;
    let org = create_ev_org(&s).await;
    for kind in EARLIER_KINDS {
        record(&s, org, check(kind)).await;
    }
    // What approved an EV organization before is not enough now: the
    // refusal names each missing item.
    let detail = approve(&s, org).await.problem_status(409);
    for item in ["EVG 11.4", "EVG 11.6", "EVG 11.5", "EVG 11.8", "EVG 11.12"] {
        assert!(
            detail.contains(&format!("({item}) not recorded")),
            "{item}: {detail}"
        );
    }
    // Performed 398 days ago: too old, each named.
    let old = (time::OffsetDateTime::now_utc() - time::Duration::days(398))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for kind in EVG_KINDS {
        let mut c = check(kind);
        c["performed_at"] = old.clone().into();
        record(&s, org, c).await;
    }
    let detail = approve(&s, org).await.problem_status(409);
    assert_eq!(
        detail.matches("is older than 398 days").count(),
        5,
        "{detail}"
    );
    assert!(!detail.contains("not recorded"), "{detail}");
    // A match on a denied list fails the screening.
    for kind in EVG_KINDS {
        record(&s, org, check(kind)).await;
    }
    let mut matched = check("ev_denied_party_screening");
    matched["result"] = "match".into();
    record(&s, org, matched).await;
    let detail = approve(&s, org).await.problem_status(409);
    assert_eq!(
        detail,
        "cannot approve: EV denied-party and high-risk screening (EVG 11.12) failed"
    );
    record(&s, org, check("ev_denied_party_screening")).await;
    let r = approve(&s, org).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "approved");
}

#[tokio::test]
async fn ov_approval_is_unchanged() {
    let s = Server::start().await;
    let org = s.create_org().await;
    let list = s.get(VIEWER, &checks_path(org)).await.json();
    assert_eq!(
        list["blockers"],
        json!([
            "third-party existence check not recorded",
            "applicant telephone confirmation not recorded",
            "domain scope review not recorded"
        ])
    );
    s.record_ov_checks(VETTER, org).await;
    let r = approve(&s, org).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}
