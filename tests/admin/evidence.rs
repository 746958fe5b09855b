//! The evidence views (orders, certificates, an organization's orders)
//! over orders the ACME side really validated, refused and issued: the
//! conformance suite's in-process server with staff configured, on SQLite
//! and, with TEST_DATABASE_URL, on PostgreSQL.
#![allow(clippy::unwrap_used)]

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::acme;
use crate::support::{self, Who, NOBODY, VIEWER};

/// The ACME fixture with the admin test staff, and a registered client.
struct Fixture {
    s: acme::Server,
    c: acme::Client,
    admin: String,
    http: support::Http,
}

impl Fixture {
    async fn start() -> Fixture {
        let s = acme::Server::start_with(|cfg| {
            cfg.acme.caa_identities = vec!["trustgate.jp".into()];
        })
        .await;
        support::enrol_staff(&s.cfg).await;
        let admin = format!(
            "http://{}",
            s._running.admin_addr.expect("admin listener bound")
        );
        let mut c = acme::Client::new(&s).await;
        c.register(&s).await;
        Fixture {
            s,
            c,
            admin,
            http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http(),
        }
    }

    async fn get(&self, who: Who, path: &str) -> support::Resp {
        support::request(
            &self.http,
            &self.admin,
            Some(who.1),
            Method::GET,
            path,
            Vec::new(),
        )
        .await
    }

    /// GET as the viewer, expecting 200.
    async fn view(&self, path: &str) -> Value {
        let r = self.get(VIEWER, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        r.json()
    }

    /// The one organization the fixture made.
    async fn org(&self) -> i64 {
        let orgs = self.view("/admin/organizations").await;
        assert_eq!(orgs.as_array().unwrap().len(), 1, "{orgs}");
        orgs[0]["id"].as_i64().unwrap()
    }

    /// newOrder, http-01 for every authorization, wait until ready; the
    /// order (with `__url`).
    async fn ready_order(&self, names: &[&str]) -> Value {
        let order = acme::create_order(&self.c, names).await;
        self.c.validate_order(&self.s, &order).await;
        order
    }

    /// POSTs the finalize request with a fresh key's CSR.
    async fn finalize(&self, order: &Value, names: &[&str]) -> acme::Resp {
        self.c
            .post(
                order["finalize"].as_str().unwrap(),
                Some(&json!({"csr": acme::b64(&acme::csr(names))})),
            )
            .await
    }
}

/// The id at the end of an ACME URL.
fn id_of(url: &str) -> i64 {
    url.rsplit('/').next().unwrap().parse().unwrap()
}

fn time(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.as_str().unwrap_or_else(|| panic!("not a time: {v}")),
        &Rfc3339,
    )
    .unwrap()
}

#[tokio::test]
async fn a_certificate_shows_per_name_the_validation_and_caa_it_was_issued_on() {
    let f = Fixture::start().await;
    let org = f.org().await;

    // a.example.jp validated for a first order, then reused by a second
    // that also validates b.example.jp and is issued.
    let first = f.ready_order(&["a.example.jp"]).await;
    let first_url = acme::order_url(&first, &f.c);
    let a_authz_url = first["authorizations"][0].as_str().unwrap().to_owned();
    let order = acme::create_order(&f.c, &["a.example.jp", "b.example.jp"]).await;
    let order_url = acme::order_url(&order, &f.c);
    assert!(
        order["authorizations"]
            .as_array()
            .unwrap()
            .contains(&json!(a_authz_url)),
        "the server reuses a's authorization: {order}"
    );
    f.c.validate_order(&f.s, &order).await;
    let r = f.finalize(&order, &["a.example.jp", "b.example.jp"]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let cert_url = r.json()["certificate"].as_str().unwrap().to_owned();

    // What the ACME client saw of each authorization: its http-01 token.
    let mut tokens = std::collections::HashMap::new();
    for url in order["authorizations"].as_array().unwrap() {
        let authz = f.c.post(url.as_str().unwrap(), None).await.json();
        let ch = acme::challenge_of(&authz, "http-01").clone();
        tokens.insert(
            authz["identifier"]["value"].as_str().unwrap().to_owned(),
            ch,
        );
    }

    let certs = f
        .view(&format!("/admin/organizations/{org}/certificates"))
        .await;
    assert_eq!(certs.as_array().unwrap().len(), 1, "{certs}");
    let serial = certs[0]["serial"].as_str().unwrap().to_owned();

    let ev = f
        .view(&format!("/admin/certificates/{serial}/evidence"))
        .await;
    // The ids and URLs are the ones the ACME client knows.
    assert_eq!(ev["certificate"]["serial"], serial.as_str());
    assert_eq!(ev["certificate"]["url"], cert_url.as_str());
    assert_eq!(ev["certificate"]["id"], id_of(&cert_url));
    assert_eq!(ev["certificate"]["revoked_at"], Value::Null);
    assert_eq!(ev["order"]["url"], order_url.as_str());
    assert_eq!(ev["order"]["id"], id_of(&order_url));
    assert_eq!(ev["order"]["profile"], "ov");
    assert_eq!(ev["account"]["url"], f.c.kid.clone().unwrap().as_str());
    assert_eq!(ev["account"]["status"], "valid");
    assert_eq!(ev["organization"]["id"], org);
    assert_eq!(ev["organization"]["status"], "approved");
    let issued_at = time(&ev["certificate"]["issued_at"]);

    let names = ev["names"].as_array().unwrap();
    let listed: Vec<&str> = names.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(listed, ["a.example.jp", "b.example.jp"]);
    for n in names {
        let name = n["name"].as_str().unwrap();
        let dv = &n["domain_validation"];
        let ch = &tokens[name];
        assert_eq!(dv["method"], "http-01", "{name}");
        assert_eq!(dv["challenge"]["url"], ch["url"], "{name}");
        assert_eq!(dv["challenge"]["status"], "valid", "{name}");
        assert_eq!(dv["challenge"]["error"], Value::Null, "{name}");
        let validated = time(&dv["challenge"]["validated_at"]);
        assert!(
            time(&dv["challenge"]["attempted_at"]) <= validated,
            "{name}"
        );
        assert!(validated <= issued_at, "{name}: validated before issuance");
        // What the VA contacted, exactly.
        let port = f.s.cfg.va.http01_port;
        let token = ch["token"].as_str().unwrap();
        assert_eq!(
            dv["challenge"]["validation_records"],
            json!([{
                "url": format!("http://{name}:{port}/.well-known/acme-challenge/{token}"),
                "hostname": name,
                "port": port,
                "addressesResolved": ["127.0.0.1"],
                "addressUsed": "127.0.0.1",
            }]),
            "{name}"
        );
        // The CAA decision for the name, with the method it was checked
        // against and when, before issuance.
        let caa = &n["caa"];
        assert_eq!(caa["name"], name);
        assert_eq!(caa["decision"], "permitted: no CAA records found");
        assert_eq!(caa["method"], "http-01");
        assert_eq!(caa.get("relevantName"), None, "no CAA RRset anywhere");
        assert!(time(&caa["checkedAt"]) <= issued_at, "{name}");
    }
    // a was validated for the first order and reused; b for this one.
    let (a, b) = (
        &names[0]["domain_validation"],
        &names[1]["domain_validation"],
    );
    assert_eq!(a["authorization_url"], a_authz_url.as_str());
    assert_eq!(a["reused"], true);
    assert_eq!(a["validated_for_order"], id_of(&first_url));
    assert_eq!(b["reused"], false);
    assert_eq!(b["validated_for_order"], id_of(&order_url));

    // Serials are hex: either case finds it.
    let upper = f
        .view(&format!(
            "/admin/certificates/{}/evidence",
            serial.to_ascii_uppercase()
        ))
        .await;
    assert_eq!(upper["certificate"]["id"], ev["certificate"]["id"]);

    // The order view: the same evidence, and every challenge offered.
    let o = f
        .view(&format!("/admin/orders/{}", id_of(&order_url)))
        .await;
    assert_eq!(o["url"], order_url.as_str());
    assert_eq!(o["status"], "valid");
    assert_eq!(o["names"], json!(["a.example.jp", "b.example.jp"]));
    assert_eq!(o["certificate"]["serial"], serial.as_str());
    assert_eq!(o["gate_refusal"], Value::Null);
    assert_eq!(o["error"], Value::Null);
    assert_eq!(o["account"]["id"], id_of(f.c.kid.as_ref().unwrap()));
    let authzs = o["authorizations"].as_array().unwrap();
    assert_eq!(authzs.len(), 2);
    assert_eq!(authzs[0]["url"], a_authz_url.as_str());
    assert_eq!(authzs[0]["reused"], true);
    assert_eq!(authzs[1]["reused"], false);
    for authz in authzs {
        assert_eq!(authz["status"], "valid");
        let kinds: Vec<(&str, &str)> = authz["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["type"].as_str().unwrap(), c["status"].as_str().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("http-01", "valid"),
                ("dns-01", "pending"),
                ("tls-alpn-01", "pending")
            ]
        );
    }
    assert_eq!(
        o["caa_evidence"],
        json!([names[0]["caa"], names[1]["caa"]]),
        "the order keeps the issuing finalize's CAA evidence"
    );
    // The first order shows its own (unreused) authorization.
    let o1 = f
        .view(&format!("/admin/orders/{}", id_of(&first_url)))
        .await;
    assert_eq!(o1["status"], "ready");
    assert_eq!(o1["authorizations"][0]["reused"], false);
    assert_eq!(o1["caa_evidence"], Value::Null, "never finalized");
}

#[tokio::test]
async fn refused_caa_and_failed_validation_are_shown_with_their_reasons() {
    let f = Fixture::start().await;
    let org = f.org().await;
    // Another CA's CAA record at the parent refuses c.example.jp.
    f.s.caa.add("example.jp", false, "issue", "other-ca.jp");
    let refused = f.ready_order(&["c.example.jp"]).await;
    let refused_id = id_of(&acme::order_url(&refused, &f.c));
    f.finalize(&refused, &["c.example.jp"]).await.problem("caa");

    let o = f.view(&format!("/admin/orders/{refused_id}")).await;
    assert_eq!(o["status"], "ready", "a CAA refusal leaves the order ready");
    assert_eq!(o["certificate"], Value::Null);
    let caa = &o["caa_evidence"][0];
    assert_eq!(caa["name"], "c.example.jp");
    assert_eq!(caa["relevantName"], "example.jp");
    assert_eq!(caa["records"], json!(["0 issue \"other-ca.jp\""]));
    assert_eq!(caa["method"], "http-01");
    let decision = caa["decision"].as_str().unwrap();
    assert!(
        decision.starts_with("refused: CAA record for example.jp prevents issuance"),
        "{decision}"
    );
    assert!(
        decision
            .ends_with("no issue property authorizes this CA (trustgate.jp); found: other-ca.jp"),
        "{decision}"
    );

    // A wrong key authorization: the failed attempt keeps its evidence.
    let failed = acme::create_order(&f.c, &["d.example.jp"]).await;
    let failed_id = id_of(&acme::order_url(&failed, &f.c));
    let authz_url = failed["authorizations"][0].as_str().unwrap();
    let authz = f.c.post(authz_url, None).await.json();
    let ch = authz["challenges"][0].clone();
    assert_eq!(ch["type"], "http-01");
    let token = ch["token"].as_str().unwrap();
    f.s.http01
        .lock()
        .unwrap()
        .insert(token.to_owned(), format!("{token}.wrong-thumbprint"));
    f.c.post(ch["url"].as_str().unwrap(), Some(&json!({})))
        .await;
    f.c.wait_status(authz_url, &["invalid"]).await;

    let o = f.view(&format!("/admin/orders/{failed_id}")).await;
    assert_eq!(o["status"], "invalid");
    let authz = &o["authorizations"][0];
    assert_eq!(authz["status"], "invalid");
    let chs = authz["challenges"].as_array().unwrap();
    let http = &chs[0];
    assert_eq!(http["type"], "http-01");
    assert_eq!(http["status"], "invalid");
    assert_eq!(http["validated_at"], Value::Null);
    time(&http["attempted_at"]);
    assert_eq!(
        http["error"]["type"],
        "urn:ietf:params:acme:error:unauthorized"
    );
    assert!(
        http["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("wrong-thumbprint"),
        "{http}"
    );
    let rec = &http["validation_records"][0];
    assert_eq!(rec["hostname"], "d.example.jp");
    assert_eq!(rec["addressUsed"], "127.0.0.1");
    // The challenges never answered have no evidence.
    for other in &chs[1..] {
        assert_eq!(other["status"], "pending");
        assert_eq!(other["attempted_at"], Value::Null);
        assert_eq!(other["validation_records"], Value::Null);
    }

    // The organization's orders: newest first, paged by id.
    let path = format!("/admin/organizations/{org}/orders");
    let list = f.view(&path).await;
    let got: Vec<(i64, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_i64().unwrap(), o["status"].as_str().unwrap()))
        .collect();
    assert_eq!(got, [(failed_id, "invalid"), (refused_id, "ready")]);
    assert_eq!(list[1]["names"], json!(["c.example.jp"]));
    assert_eq!(list[1]["certificate"], Value::Null);
    assert_eq!(list[1]["account"], id_of(f.c.kid.as_ref().unwrap()));
    assert_eq!(list[1]["url"], acme::order_url(&refused, &f.c).as_str());
    let page = f.view(&format!("{path}?limit=1")).await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"], failed_id);
    let next = f.view(&format!("{path}?limit=1&before={failed_id}")).await;
    assert_eq!(next.as_array().unwrap().len(), 1);
    assert_eq!(next[0]["id"], refused_id);
    for bad in ["limit=0", "limit=1001", "limit=x", "before=x", "cursor=1"] {
        f.get(VIEWER, &format!("{path}?{bad}"))
            .await
            .problem_status(400);
    }
}

#[tokio::test]
async fn evidence_needs_the_view_role_and_unknown_ids_are_404() {
    let s = support::Server::start().await;
    let org = s.create_org().await;
    let paths = [
        "/admin/orders/1".to_owned(),
        "/admin/certificates/0123456789abcdef0123456789abcdef/evidence".to_owned(),
        format!("/admin/organizations/{org}/orders"),
    ];
    for path in &paths {
        let r = s.raw(None, Method::GET, path, Vec::new()).await;
        r.problem_status(401);
        assert!(r.header("www-authenticate").is_some(), "{path}");
        s.raw(Some("tok-unknown"), Method::GET, path, Vec::new())
            .await
            .problem_status(401);
        let r = s.get(NOBODY, path).await;
        assert!(
            r.problem_status(403).contains("view"),
            "{path}: {}",
            r.text()
        );
        // Read-only: no other method.
        s.post(VIEWER, path, Value::Null).await.problem_status(405);
    }
    // An organization without orders lists none.
    assert_eq!(s.get(VIEWER, &paths[2]).await.json(), json!([]));

    for missing in [
        "/admin/orders/999999",
        "/admin/orders/abc",
        "/admin/orders/-1",
        "/admin/certificates/0123456789abcdef0123456789abcdef/evidence",
        "/admin/certificates/not-hex/evidence",
        "/admin/organizations/999999/orders",
        "/admin/organizations/abc/orders",
    ] {
        s.get(VIEWER, missing).await.problem_status(404);
    }
    // The literal route still wins over /admin/orders/{id}.
    assert_eq!(
        s.get(VIEWER, "/admin/orders/blocked").await.json(),
        json!([])
    );
}
