//! The vetting gate at finalize (RFC 8555 §7.4 + DESIGN.md "the vetting
//! gate"): only an approved, unexpired organization at the profile's level,
//! for names in its domain scope, gets a certificate; otherwise the client
//! is told exactly why and the order stays `ready`.

use hyper::StatusCode;
use serde_json::{json, Value};
use trustgate::core::OrganizationId;
use trustgate::vetting::checks::Transition;
use trustgate::vetting::organization::Level;
use x509_parser::prelude::{parse_x509_certificate, ParsedExtension};

use crate::support::*;

/// A client registered with an EAB credential of `org`.
async fn client_of(s: &Server, org: OrganizationId) -> Client {
    let (kid, key) = s.eab_for(org, true).await;
    let mut c = Client::new(s).await;
    let url = c.dir("newAccount");
    let r = c
        .post(
            &url,
            Some(&json!({"externalAccountBinding": c.eab(&kid, &key, &url)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    c.kid = r.header("location");
    c
}

pub(crate) async fn ready(s: &Server, c: &Client, names: &[&str], profile: &str) -> Value {
    let ids: Vec<Value> = names
        .iter()
        .map(|n| json!({"type": "dns", "value": n}))
        .collect();
    let r = c
        .post(
            &c.dir("newOrder"),
            Some(&json!({"identifiers": ids, "profile": profile})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let mut order = r.json();
    order["__url"] = json!(r.header("location").unwrap());
    c.validate_order(s, &order).await;
    order
}

async fn leaf(c: &Client, done: &Value) -> Vec<u8> {
    let chain = c.post(done["certificate"].as_str().unwrap(), None).await;
    ::pem::parse_many(&chain.body).unwrap()[0]
        .contents()
        .to_vec()
}

/// (OID, ASN.1 string tag, value) of every subject attribute, in order.
fn subject_attrs(der: &[u8]) -> Vec<(String, u8, String)> {
    let (_, cert) = parse_x509_certificate(der).unwrap();
    cert.subject()
        .iter_attributes()
        .map(|a| {
            let tag = a.attr_value().header.tag().0 as u8;
            let value = a.as_str().map(str::to_owned).unwrap_or_default();
            (a.attr_type().to_id_string(), tag, value)
        })
        .collect()
}

fn policies(der: &[u8]) -> Vec<String> {
    let (_, cert) = parse_x509_certificate(der).unwrap();
    cert.extensions()
        .iter()
        .filter_map(|e| match e.parsed_extension() {
            ParsedExtension::CertificatePolicies(p) => Some(
                p.iter()
                    .map(|i| i.policy_id.to_id_string())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

const UTF8: u8 = 12;
const PRINTABLE: u8 = 19;

#[tokio::test]
async fn pending_organization_is_told_what_is_missing_then_succeeds_after_approval() {
    let s = Server::start().await;
    let org = s.organization(Level::Ov, &["example.jp"]).await;
    let c = client_of(&s, org).await;
    let order = ready(&s, &c, &["www.example.jp"], "ov").await;
    let v = s.vetting();
    // Two of three checks recorded: the refusal names the third.
    let mut checks = checks_for(Level::Ov);
    checks.remove(1);
    for ch in checks {
        v.record_check("vetter", org, ch, None).await.unwrap();
    }
    let before = s.counts();
    let r = c.finalize(&order, &["www.example.jp"]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let p = r.problem("userActionRequired");
    assert_eq!(
        p["detail"],
        "organization '例示株式会社' is awaiting vetting: applicant telephone confirmation not recorded"
    );
    assert_eq!(s.counts(), before);
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "ready"
    );
    // Staff see the blocked order and the refusal in the audit log.
    let blocked = s.sql_text("SELECT gate_refusal AS t FROM orders WHERE gate_refusal IS NOT NULL");
    assert!(blocked[0].contains("telephone"), "{blocked:?}");
    let audit = v.audit(Some(org), 50).await.unwrap();
    assert!(audit
        .iter()
        .any(|e| e.action == "gate.refuse" && e.actor.starts_with("acme:account/")));

    s.approve(org).await;
    assert!(
        s.sql_text("SELECT gate_refusal AS t FROM orders WHERE gate_refusal IS NOT NULL")
            .is_empty(),
        "approval clears the order from the blocked list"
    );
    let r = c.finalize(&order, &["www.example.jp"]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let done = r.json();
    assert_eq!(done["status"], "valid");
    let der = leaf(&c, &done).await;
    assert_eq!(
        subject_attrs(&der),
        vec![
            ("2.5.4.6".into(), PRINTABLE, "JP".into()),
            ("2.5.4.8".into(), UTF8, "東京都".into()),
            ("2.5.4.7".into(), UTF8, "千代田区".into()),
            ("2.5.4.10".into(), UTF8, "例示株式会社".into()),
        ]
    );
    assert_eq!(policies(&der), vec!["2.23.140.1.2.2"]);
    assert!(s
        .sql_text("SELECT COALESCE(gate_refusal, 'cleared') AS t FROM orders")
        .contains(&"cleared".to_string()));
}

#[tokio::test]
async fn ev_certificates_carry_the_ev_subject_and_need_an_ev_organization() {
    let s = Server::start().await;
    let ev = s.organization(Level::Ev, &["example.jp"]).await;
    s.approve(ev).await;
    let c = client_of(&s, ev).await;
    let order = ready(&s, &c, &["shop.example.jp"], "ev").await;
    let r = c.finalize(&order, &["shop.example.jp"]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let der = leaf(&c, &r.json()).await;
    let attrs = subject_attrs(&der);
    let find = |oid: &str| {
        attrs
            .iter()
            .find(|a| a.0 == oid)
            .cloned()
            .unwrap_or_else(|| panic!("{oid} in {attrs:?}"))
    };
    assert_eq!(
        find("2.5.4.15"),
        ("2.5.4.15".into(), UTF8, "Private Organization".into())
    );
    assert_eq!(
        find("2.5.4.5"),
        ("2.5.4.5".into(), PRINTABLE, "180301018771".into())
    );
    assert_eq!(
        find("1.3.6.1.4.1.311.60.2.1.3"),
        ("1.3.6.1.4.1.311.60.2.1.3".into(), PRINTABLE, "JP".into())
    );
    assert_eq!(find("2.5.4.10").2, "例示株式会社");
    assert_eq!(policies(&der), vec!["2.23.140.1.1"]);

    // EV refuses wildcards at newOrder.
    let r = c.post(&c.dir("newOrder"), Some(&json!({"identifiers": [{"type": "dns", "value": "*.example.jp"}], "profile": "ev"}))).await;
    r.problem("rejectedIdentifier");

    // An OV organization cannot get EV.
    let ov = s.organization(Level::Ov, &["example.jp"]).await;
    s.approve(ov).await;
    let c2 = client_of(&s, ov).await;
    let order = ready(&s, &c2, &["www.example.jp"], "ev").await;
    let r = c2.finalize(&order, &["www.example.jp"]).await;
    assert!(r.problem("unauthorized")["detail"]
        .as_str()
        .unwrap()
        .contains("vetted for OV certificates"));
}

#[tokio::test]
async fn names_outside_the_domain_scope_are_refused_at_new_order() {
    let s = Server::start().await;
    let org = s.organization(Level::Ov, &["example.jp"]).await;
    s.approve(org).await;
    let c = client_of(&s, org).await;
    let before = s.counts();
    let r = c
        .new_order(&["www.example.jp", "www.other.jp", "evil-example.jp"])
        .await;
    let p = r.problem("rejectedIdentifier");
    let subs: Vec<&str> = p["subproblems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["identifier"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(subs, vec!["evil-example.jp", "www.other.jp"]);
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn suspension_blocks_and_reinstatement_restores() {
    let s = Server::start().await;
    let org = s.organization(Level::Ov, &["example.jp"]).await;
    s.approve(org).await;
    let c = client_of(&s, org).await;
    let order = ready(&s, &c, &["www.example.jp"], "ov").await;
    s.vetting()
        .transition(
            "approver",
            org,
            Transition::Suspend,
            Some("invoice unpaid".into()),
        )
        .await
        .unwrap();
    let r = c.finalize(&order, &["www.example.jp"]).await;
    let p = r.problem("unauthorized");
    assert_eq!(
        p["detail"],
        "organization '例示株式会社' is suspended: invoice unpaid; contact the CA"
    );
    s.vetting()
        .transition("approver", org, Transition::Reinstate, Some("paid".into()))
        .await
        .unwrap();
    assert_eq!(
        c.finalize(&order, &["www.example.jp"]).await.json()["status"],
        "valid"
    );
}

#[tokio::test]
async fn edits_after_approval_need_vetting_again() {
    let s = Server::start().await;
    let org = s.organization(Level::Ov, &["example.jp"]).await;
    s.approve(org).await;
    let c = client_of(&s, org).await;
    let order = ready(&s, &c, &["www.example.jp"], "ov").await;
    let v = s.vetting();
    let mut data = v.get(org).await.unwrap().data;
    data.office.locality = "港区".into();
    v.edit("vetter", org, data).await.unwrap();
    let r = c.finalize(&order, &["www.example.jp"]).await;
    let p = r.problem("userActionRequired");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("third-party existence check not recorded"),
        "{p}"
    );
    s.approve(org).await;
    let done = c.finalize(&order, &["www.example.jp"]).await.json();
    let der = leaf(&c, &done).await;
    assert!(
        subject_attrs(&der).iter().any(|a| a.2 == "港区"),
        "the certificate shows the vetted edit"
    );
}

#[tokio::test]
async fn expired_vetting_blocks_issuance() {
    // The server's clock is moved past the vetting's age, not waited out.
    let clock = trustgate::core::Clock::manual(::time::macros::datetime!(2026-06-01 0:00 UTC));
    let s = Server::start_on(clock.clone(), |c| c.vetting.max_age_days = 10).await;
    let org = s.organization(Level::Ov, &["example.jp"]).await;
    let v = s.vetting();
    // Checks performed almost ten days ago: approval works, for 2 seconds.
    let then = clock.now() - ::time::Duration::days(10) + ::time::Duration::seconds(2);
    for ch in checks_for(Level::Ov) {
        v.record_check("vetter", org, ch, Some(then)).await.unwrap();
    }
    v.transition("approver", org, Transition::Approve, None)
        .await
        .unwrap();
    let c = client_of(&s, org).await;
    let order = ready(&s, &c, &["www.example.jp"], "ov").await;
    assert!(clock.advance(::time::Duration::seconds(3)));
    let r = c.finalize(&order, &["www.example.jp"]).await;
    let p = r.problem("userActionRequired");
    assert!(
        p["detail"].as_str().unwrap().contains("needs re-vetting"),
        "{p}"
    );
    assert_eq!(s.count("certificates"), 0);
}

/// A remote perspective that suspends an organization when it is asked
/// for CAA, then agrees: a suspension that arrives while CAA is being
/// looked up at finalize.
#[derive(Default)]
struct SuspendDuringCaa {
    armed: std::sync::Mutex<Option<(trustgate::vetting::Vetting, OrganizationId)>>,
}

impl trustgate::va::remote::RemotePerspective for SuspendDuringCaa {
    fn name(&self) -> &str {
        "suspender"
    }

    fn region(&self) -> trustgate::core::Region {
        trustgate::core::Region::Ripe
    }

    fn check<'a>(
        &'a self,
        check: &'a trustgate::va::remote::RemoteCheck,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = trustgate::va::remote::RemoteAnswer> + Send + 'a>,
    > {
        use trustgate::va::remote::{RemoteAnswer, RemoteCheck, RemoteOutcome};
        let armed = match check {
            RemoteCheck::Caa { .. } => self.armed.lock().unwrap().take(),
            RemoteCheck::Challenge { .. } => None,
        };
        Box::pin(async move {
            if let Some((vetting, org)) = armed {
                let why = Some("invoice unpaid".to_owned());
                let suspend = vetting.transition("approver", org, Transition::Suspend, why);
                suspend.await.unwrap();
            }
            RemoteAnswer {
                perspective: String::new(),
                region: None,
                outcome: RemoteOutcome::Valid,
                records: Vec::new(),
                caa: None,
                checked_at: time::OffsetDateTime::now_utc(),
            }
        })
    }
}

/// The gate decides again inside the transaction that claims the order:
/// a suspension during the CAA lookups stops the issuance, the order
/// stays ready, and reinstatement lets the same order finish.
#[tokio::test]
async fn a_suspension_during_caa_lookups_stops_issuance() {
    let trap = std::sync::Arc::new(SuspendDuringCaa::default());
    // Before 2025-09-15 one perspective is enough (BR 3.2.2.9).
    let clock = trustgate::core::Clock::manual(time::macros::datetime!(2025-06-02 10:00 UTC));
    let s = Server::start_with_perspectives(clock, |_| {}, vec![trap.clone()]).await;
    let org = s.organization(Level::Ov, &["example.jp"]).await;
    s.approve(org).await;
    let c = client_of(&s, org).await;
    let order = ready(&s, &c, &["www.example.jp"], "ov").await;

    *trap.armed.lock().unwrap() = Some((s.vetting(), org));
    let r = c.finalize(&order, &["www.example.jp"]).await;
    let p = r.problem("unauthorized");
    assert_eq!(
        p["detail"],
        "organization '例示株式会社' is suspended: invoice unpaid; contact the CA"
    );
    assert!(trap.armed.lock().unwrap().is_none(), "CAA was not asked");
    assert_eq!(s.count("certificates"), 0);
    let now = c.post(order["__url"].as_str().unwrap(), None).await.json();
    assert_eq!(now["status"], "ready", "{now}");
    let refusals = s.sql_text("SELECT action AS t FROM audit_events WHERE action = 'gate.refuse'");
    assert_eq!(refusals.len(), 1);

    s.vetting()
        .transition("approver", org, Transition::Reinstate, Some("paid".into()))
        .await
        .unwrap();
    let done = c.finalize(&order, &["www.example.jp"]).await.json();
    assert_eq!(done["status"], "valid", "{done}");
}
