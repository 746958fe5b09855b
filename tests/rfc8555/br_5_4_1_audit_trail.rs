//! BR 5.4.1: the audit trail an auditor reads at `GET /admin/audit` —
//! every certificate lifecycle and account event with its actor and the
//! request id the server answered with; paging and JSON lines export over
//! any period; the table refuses UPDATE and DELETE (on PostgreSQL too,
//! with TEST_DATABASE_URL).

use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};
use trustgate::config::{Config, StaffRole};
use trustgate::sa::audit::{append, NewEvent};

use crate::support::*;

const AUDITOR_TOKEN: &str = "auditor-token";

fn with_auditor(cfg: &mut Config) {
    cfg.publish.regenerate_secs = 1;
}

/// The auditor (role view), enrolled once the server runs.
async fn enrol_auditor(s: &Server) {
    add_staff(&s.cfg, "auditor", AUDITOR_TOKEN, &[StaffRole::View]).await;
}

/// GET on the admin listener as the auditor.
async fn admin_get(s: &Server, path: &str, accept: Option<&str>) -> Resp {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(s.admin_url(path))
        .header("authorization", format!("Bearer {AUDITOR_TOKEN}"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    exchange(&http(), req, vec![]).await
}

/// Every event of `query`, following the `Link: rel="next"` pages;
/// returns the events and the number of pages.
async fn all_pages(s: &Server, query: &str) -> (Vec<Value>, usize) {
    let mut path = format!("/admin/audit?{query}");
    let (mut events, mut pages) = (Vec::new(), 0);
    loop {
        let r = admin_get(s, &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        pages += 1;
        events.extend(r.json().as_array().unwrap().iter().cloned());
        let Some(link) = r.header("link") else { break };
        let next = link
            .strip_prefix('<')
            .and_then(|l| l.strip_suffix(">; rel=\"next\""))
            .unwrap_or_else(|| panic!("Link {link:?}"));
        path = next.to_owned();
    }
    (events, pages)
}

async fn jsonl(s: &Server, path: &str, accept: Option<&str>) -> Vec<Value> {
    let r = admin_get(s, path, accept).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/jsonl")
    );
    r.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn request_id(r: &Resp) -> String {
    r.header("x-request-id").expect("X-Request-Id")
}

/// Answers every http-01 challenge of the order; the request ids.
async fn validate(s: &Server, c: &Client, order: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for authz_url in order["authorizations"].as_array().unwrap() {
        let authz = c.post(authz_url.as_str().unwrap(), None).await.json();
        let ch = challenge_of(&authz, "http-01").clone();
        c.provision_http01(s, &ch);
        let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        ids.push(request_id(&r));
    }
    c.wait_status(&order_url(order, c), &["ready"]).await;
    ids
}

/// The keyChange payload: an inner JWS by `new` over {account, oldKey}.
fn key_change(new: &Client, url: &str, account: &str, old: &Client) -> Value {
    let p = Protected {
        alg: "ES256".into(),
        jwk: true,
        kid: false,
        nonce: None,
        url: Some(url.into()),
    };
    new.sign(
        &p,
        Some(&json!({"account": account, "oldKey": old.jwk_map()})),
    )
}

#[tokio::test]
async fn an_issuance_is_audited_from_registration_to_revocation() {
    let s = Server::start_with(with_auditor).await;
    enrol_auditor(&s).await;
    let mut c = Client::new(&s).await;
    let registered = c.register(&s).await;
    let account_url = c.kid.clone().unwrap();
    let account: i64 = account_url.rsplit('/').next().unwrap().parse().unwrap();
    let actor = format!("acme:account/{account}");
    let kid = s.sql_text("SELECT key_id AS t FROM eab_credentials")[0].clone();
    let org: i64 = s.sql_text("SELECT CAST(organization_id AS TEXT) AS t FROM eab_credentials")[0]
        .parse()
        .unwrap();

    let names = ["www.example.jp"];
    let order = create_order(&c, &names).await;
    let validated = validate(&s, &c, &order).await;
    let finalized = c.finalize(&order, &names).await;
    assert_eq!(finalized.status, StatusCode::OK, "{}", finalized.text());
    let serial = s.sql_text("SELECT serial AS t FROM certificates")[0].clone();
    let chain = c
        .post(finalized.json()["certificate"].as_str().unwrap(), None)
        .await;
    let leaf = pem::parse_many(&chain.body).unwrap()[0].contents().to_vec();
    let revoked = c
        .post(
            &c.dir("revokeCert"),
            Some(&json!({"certificate": b64(&leaf), "reason": 4})),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text());

    let new = Client::new(&s).await;
    let url = c.dir("keyChange");
    let changed = c
        .post(&url, Some(&key_change(&new, &url, &account_url, &c)))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    let (old_tp, new_tp) = (c.thumbprint(), new.thumbprint());
    c.signer = new.signer;
    c.jwk = new.jwk;
    let deactivated = c
        .post(&account_url, Some(&json!({"status": "deactivated"})))
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.text());

    // Pages of two: the cursor carries the reader through everything.
    let (events, pages) = all_pages(&s, "limit=2").await;
    assert!(pages > 5, "{pages}");
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "oldest first, once each"
    );
    let mine: Vec<&Value> = events.iter().filter(|e| e["actor"] == actor).collect();
    let actions: Vec<&str> = mine.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "account.register",
            "authorization.validate",
            "caa.check",
            "certificate.request",
            "certificate.issue",
            "certificate.revoke",
            "account.key-change",
            "account.deactivate",
        ]
    );
    let [reg, validation, caa, request, issue, revoke, key, deactivate] = mine[..] else {
        unreachable!()
    };
    assert!(mine.iter().all(|e| e["organization"] == org), "{mine:?}");

    assert_eq!(reg["details"]["eab_key_id"], kid.as_str());
    assert_eq!(reg["details"]["organization"], org);
    assert_eq!(reg["request_id"], request_id(&registered).as_str());

    let authz_id = order["authorizations"][0]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(validation["subject"], format!("authorization:{authz_id}"));
    assert_eq!(validation["details"]["method"], "http-01");
    assert_eq!(validation["details"]["outcome"], "valid");
    assert!(validation["details"]["evidence"]
        .as_str()
        .unwrap()
        .starts_with("challenge:"));
    assert_eq!(validation["request_id"], validated[0].as_str());

    assert_eq!(caa["details"]["outcome"], "permitted");
    assert_eq!(caa["details"]["names"], json!(names));
    assert!(caa["details"]["evidence"]
        .as_str()
        .unwrap()
        .starts_with("order:"));

    let finalize_id = request_id(&finalized);
    for e in [caa, request, issue] {
        assert_eq!(e["request_id"], finalize_id.as_str(), "{e}");
    }
    assert_eq!(request["details"]["names"], json!(names));
    assert_eq!(request["details"]["profile"], "ov");
    assert_eq!(request["details"]["organization"], org);
    assert_eq!(issue["subject"], format!("certificate:{serial}"));
    assert_eq!(issue["details"]["serial"], serial.as_str());
    assert_eq!(issue["details"]["account"], account);
    assert_eq!(issue["details"]["names"], json!(names));
    assert_eq!(issue["details"]["organization"], org);

    assert_eq!(revoke["details"]["reason"], 4);
    assert_eq!(revoke["request_id"], request_id(&revoked).as_str());
    assert_eq!(key["details"]["old_thumbprint"], old_tp.as_str());
    assert_eq!(key["details"]["new_thumbprint"], new_tp.as_str());
    assert_eq!(key["request_id"], request_id(&changed).as_str());
    assert_eq!(deactivate["request_id"], request_id(&deactivated).as_str());

    // The CRL that lists the revocation is published, by the CA itself.
    let revoke_id = revoke["id"].as_i64().unwrap();
    let mut published = None;
    for _ in 0..100 {
        let (events, _) = all_pages(&s, &format!("after={revoke_id}&limit=1000")).await;
        published = events.into_iter().find(|e| e["action"] == "crl.publish");
        if published.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let crl = published.expect("a CRL published after the revocation");
    assert_eq!(crl["actor"], "system");
    assert!(crl["details"]["number"].as_u64().unwrap() > 0, "{crl}");
    assert!(crl["details"]["shard"].is_u64(), "{crl}");
    assert!(crl["details"]["this_update"].is_string(), "{crl}");

    // The JSON lines export holds the same events, line by line (the CA
    // goes on publishing CRLs meanwhile: a later read may hold more).
    let exported = jsonl(&s, "/admin/audit?format=jsonl", None).await;
    let by_accept = jsonl(&s, "/admin/audit", Some("application/jsonl")).await;
    let (events, _) = all_pages(&s, "limit=1000").await;
    assert!(exported.len() > mine.len());
    assert_eq!(exported, by_accept[..exported.len()]);
    assert_eq!(by_accept, events[..by_accept.len()]);
}

#[tokio::test]
async fn pages_and_exports_return_every_event_of_a_period_exactly_once() {
    let s = Server::start_with(with_auditor).await;
    enrol_auditor(&s).await;
    let store = trustgate::app::open_store_with_clock(&s.cfg, s.clock.clone()).unwrap();
    let base = time::macros::datetime!(2020-01-01 00:00 UTC);
    store
        .write(move |c| {
            for i in 0..1205i64 {
                append(
                    c,
                    NewEvent {
                        actor: "system",
                        action: "test.event",
                        organization: None,
                        subject: format!("n:{i}"),
                        reason: None,
                        details: json!({"i": i}),
                        request_id: None,
                    },
                    base + time::Duration::seconds(i),
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let numbers = |events: &[Value]| -> Vec<i64> {
        events
            .iter()
            .map(|e| e["details"]["i"].as_i64().unwrap())
            .collect()
    };

    // The whole of 2020-01-01: more than one page of the largest size.
    let day = "since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z";
    let (events, pages) = all_pages(&s, &format!("{day}&limit=1000")).await;
    assert_eq!(pages, 2);
    assert_eq!(numbers(&events), (0..1205).collect::<Vec<_>>());
    let exported = jsonl(&s, &format!("/admin/audit?{day}&format=jsonl"), None).await;
    assert_eq!(exported, events);

    // A period inside it (since inclusive, until exclusive), with an
    // offset written as %2B, in pages of 300.
    let period = "since=2020-01-01T09:01:40%2B09:00&until=2020-01-01T00:18:20Z";
    let (events, pages) = all_pages(&s, &format!("{period}&limit=300")).await;
    assert_eq!(pages, 4);
    assert_eq!(numbers(&events), (100..1100).collect::<Vec<_>>());

    // Resuming from a cursor in the middle.
    let after = events[499]["id"].as_i64().unwrap();
    let (rest, _) = all_pages(&s, &format!("{period}&after={after}&limit=1000")).await;
    assert_eq!(numbers(&rest), (600..1100).collect::<Vec<_>>());

    // Without a period: everything, the server's own events included.
    let (all, _) = all_pages(&s, "limit=1000").await;
    assert!(all.len() > 1205);
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn the_audit_table_refuses_update_and_delete() {
    let (s, _c) = registered().await;
    // The CA may append (CRLs) meanwhile: compare the rows that existed.
    let rows = "SELECT CAST(id AS TEXT) || ' ' || actor || ' ' || COALESCE(request_id, '') AS t \
                FROM audit_events WHERE id <= 5 ORDER BY id";
    let before = s.sql_text(rows);
    assert_eq!(before.len(), 5);
    for sql in [
        "UPDATE audit_events SET actor = 'someone else'",
        "UPDATE audit_events SET request_id = NULL",
        "DELETE FROM audit_events",
    ] {
        let refused = with_db(&s.cfg.database_url(), |db| {
            use diesel::RunQueryDsl;
            match db {
                Db::Sqlite(c) => diesel::sql_query(sql).execute(c),
                Db::Pg(c) => diesel::sql_query(sql).execute(c),
            }
        });
        let e = refused.expect_err(sql).to_string();
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
    assert_eq!(s.sql_text(rows), before);
    assert!(s
        .sql_text("SELECT actor AS t FROM audit_events")
        .iter()
        .all(|a| a != "someone else"));
}

#[tokio::test]
async fn bad_audit_queries_are_refused_with_a_problem() {
    let s = Server::start_with(with_auditor).await;
    enrol_auditor(&s).await;
    for q in [
        "since=2020-13-01T00:00:00Z",
        "until=tomorrow",
        "after=-5",
        "format=csv",
        "limit=1001",
    ] {
        let r = admin_get(&s, &format!("/admin/audit?{q}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/problem+json")
        );
    }
}
