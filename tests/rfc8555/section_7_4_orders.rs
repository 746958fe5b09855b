//! RFC 8555 §7.4: newOrder, finalize, certificate download; §7.1.2.1 the
//! orders list.

use hyper::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn full_issuance_with_http01() {
    let (s, c) = registered().await;
    let order = create_order(&c, &["b.example.jp", "A.example.jp", "a.example.jp"]).await;
    assert_eq!(order["status"], "pending");
    assert_as_stored(&c, &order).await;
    let ids: Vec<&str> = order["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["a.example.jp", "b.example.jp"],
        "lowercased, deduplicated"
    );
    assert_eq!(order["authorizations"].as_array().unwrap().len(), 2);
    assert_eq!(order["profile"], "ov");

    c.validate_order(&s, &order).await;
    let finalize = order["finalize"].as_str().unwrap();
    let r = c
        .post(
            finalize,
            Some(&json!({"csr": b64(&csr(&["a.example.jp", "b.example.jp"]))})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let done = r.json();
    assert_eq!(done["status"], "valid");
    let cert_url = done["certificate"].as_str().unwrap();
    let mut located = done.clone();
    located["__url"] = json!(r
        .header("location")
        .expect("finalize gives the order's URL"));
    assert_as_stored(&c, &located).await;

    let r = c.post(cert_url, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/pem-certificate-chain")
    );
    let pems = pem::parse_many(&r.body).unwrap();
    assert_eq!(pems.len(), 2, "leaf + intermediate");
    let (_, leaf) = x509_parser::parse_x509_certificate(pems[0].contents()).unwrap();
    let sans: Vec<String> = leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|g| g.to_string())
        .collect();
    assert_eq!(sans, vec!["DNSName(a.example.jp)", "DNSName(b.example.jp)"]);
    assert_eq!(
        leaf.raw_serial().len(),
        16,
        "128-bit serial: {:x?}",
        leaf.raw_serial()
    );
    assert_eq!(s.count("certificates"), 1);

    // Finalizing again is refused and issues nothing more.
    let r = c
        .post(
            finalize,
            Some(&json!({"csr": b64(&csr(&["a.example.jp", "b.example.jp"]))})),
        )
        .await;
    r.problem("orderNotReady");
    assert_eq!(s.count("certificates"), 1);

    // A second order for the same names reuses the valid authorizations.
    let again = create_order(&c, &["a.example.jp"]).await;
    assert_eq!(again["status"], "ready");
    assert_eq!(again["authorizations"][0], order["authorizations"][0]);
    assert_as_stored(&c, &again).await;
}

/// newOrder and finalize answer with the order they wrote, built without
/// reading it back: it must be the order a later POST-as-GET reads.
async fn assert_as_stored(c: &Client, answer: &Value) {
    let mut stored = c.post(&order_url(answer, c), None).await.json();
    stored["__url"] = answer["__url"].clone();
    assert_eq!(&stored, answer);
}

#[tokio::test]
async fn finalize_before_ready_is_order_not_ready() {
    let (s, c) = registered().await;
    let order = create_order(&c, &["a.example.jp"]).await;
    let before = s.counts();
    let r = c.finalize(&order, &["a.example.jp"]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    r.problem("orderNotReady");
    assert_eq!(s.counts(), before);
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "pending"
    );
}

async fn ready_order(s: &Server, c: &Client, names: &[&str]) -> Value {
    let order = create_order(c, names).await;
    c.validate_order(s, &order).await;
    order
}

#[tokio::test]
async fn csr_names_must_match_the_order() {
    let (s, c) = registered().await;
    let order = ready_order(&s, &c, &["a.example.jp"]).await;
    let fin = order["finalize"].as_str().unwrap();
    let before = s.counts();
    let r = c
        .post(
            fin,
            Some(&json!({"csr": b64(&csr(&["a.example.jp", "extra.example.jp"]))})),
        )
        .await;
    assert!(r.problem("badCSR")["detail"]
        .as_str()
        .unwrap()
        .contains("extra.example.jp"));
    let r = c
        .post(fin, Some(&json!({"csr": b64(&csr(&["other.example.jp"]))})))
        .await;
    r.problem("badCSR");
    c.post(fin, Some(&json!({"csr": "!!!"})))
        .await
        .problem("badCSR");
    c.post(fin, Some(&json!({"csr": b64(b"not a csr")})))
        .await
        .problem("badCSR");
    assert_eq!(s.counts(), before);
    // The order stays ready, and a good CSR still succeeds.
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "ready"
    );
    let r = c
        .post(fin, Some(&json!({"csr": b64(&csr(&["a.example.jp"]))})))
        .await;
    assert_eq!(r.json()["status"], "valid");
}

#[tokio::test]
async fn csr_with_the_account_key_is_refused() {
    let s = Server::start().await;
    // An account whose key is an rcgen P-256 key, so the same key can sign a CSR.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut c = Client::with_key(&s, &key).await;
    c.register(&s).await;
    let order = ready_order(&s, &c, &["a.example.jp"]).await;
    let mut params = rcgen::CertificateParams::new(vec!["a.example.jp".to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let der = params.serialize_request(&key).unwrap().der().to_vec();
    let before = s.counts();
    let r = c
        .post(
            order["finalize"].as_str().unwrap(),
            Some(&json!({"csr": b64(&der)})),
        )
        .await;
    assert!(r.problem("badCSR")["detail"]
        .as_str()
        .unwrap()
        .contains("account key"));
    assert_eq!(s.counts(), before);
}

/// Runs openssl to make an RSA CSR of `bits` for `name`.
fn openssl_csr(dir: &std::path::Path, bits: u32, name: &str) -> Vec<u8> {
    let out = dir.join(format!("rsa{bits}.csr"));
    let st = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            &format!("rsa:{bits}"),
            "-nodes",
            "-keyout",
        ])
        .arg(dir.join(format!("rsa{bits}.key")))
        .args([
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            &format!("subjectAltName=DNS:{name}"),
            "-outform",
            "DER",
            "-out",
        ])
        .arg(&out)
        .output()
        .expect("openssl runs (the test script installs it)");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::fs::read(out).unwrap()
}

#[tokio::test]
async fn weak_keys_and_bad_signatures_are_refused() {
    let (s, c) = registered().await;
    let order = ready_order(&s, &c, &["a.example.jp"]).await;
    let fin = order["finalize"].as_str().unwrap();
    let before = s.counts();
    let weak = openssl_csr(s.dir.path(), 1024, "a.example.jp");
    c.post(fin, Some(&json!({"csr": b64(&weak)})))
        .await
        .problem("badPublicKey");
    let mut tampered = csr(&["a.example.jp"]);
    let n = tampered.len();
    tampered[n - 5] ^= 0x55;
    c.post(fin, Some(&json!({"csr": b64(&tampered)})))
        .await
        .problem("badCSR");
    assert_eq!(s.counts(), before);
    let good = openssl_csr(s.dir.path(), 2048, "a.example.jp");
    let r = c.post(fin, Some(&json!({"csr": b64(&good)}))).await;
    assert_eq!(
        r.json()["status"],
        "valid",
        "an RSA-2048 CSR with a CN is fine"
    );
}

/// BR 3.2.2: special-use names, names outside the ICANN TLDs, public
/// suffixes and wildcards directly under one are refused, one
/// `rejectedIdentifier` subproblem each; nothing is stored.
#[tokio::test]
async fn names_no_public_ca_certifies_are_rejected_identifiers() {
    let (s, c) = registered_with(|c| c.acme.max_names = 100).await;
    let before = s.counts();
    let refused = [
        "a.internal",
        "a.local",
        "a.onion",
        "printer.home.arpa",
        "a.test",
        "co.jp",
        "*.co.jp",
        "foo.notatld",
    ];
    let r = c.new_order(&refused).await;
    let p = r.problem("rejectedIdentifier");
    let subs = p["subproblems"].as_array().unwrap();
    let mut named: Vec<&str> = subs
        .iter()
        .map(|s| s["identifier"]["value"].as_str().unwrap())
        .collect();
    named.sort_unstable();
    let mut want = refused.to_vec();
    want.sort_unstable();
    assert_eq!(named, want, "{p}");
    assert!(subs
        .iter()
        .all(|s| s["type"] == "urn:ietf:params:acme:error:rejectedIdentifier"));
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn bad_identifiers_get_subproblems_and_create_nothing() {
    let (s, c) = registered_with(|c| c.acme.blocked_suffixes = vec!["blocked.jp".into()]).await;
    let before = s.counts();
    let r = c
        .new_order(&["ok.example.jp", "bad_name.example.jp", "x.blocked.jp"])
        .await;
    let p = r.problem("compound");
    let subs = p["subproblems"].as_array().unwrap();
    assert_eq!(subs.len(), 2, "{p}");
    assert_eq!(subs[0]["identifier"]["value"], "bad_name.example.jp");
    assert_eq!(subs[0]["type"], "urn:ietf:params:acme:error:malformed");
    assert_eq!(
        subs[1]["type"],
        "urn:ietf:params:acme:error:rejectedIdentifier"
    );
    c.new_order(&["x.blocked.jp"])
        .await
        .problem("rejectedIdentifier");
    c.new_order(&["192.0.2.1"]).await.problem("malformed");
    c.new_order(&["example.jp."]).await.problem("malformed");
    let r = c
        .post(
            &c.dir("newOrder"),
            Some(&json!({"identifiers": [{"type": "ip", "value": "192.0.2.1"}]})),
        )
        .await;
    r.problem("unsupportedIdentifier");
    c.post(&c.dir("newOrder"), Some(&json!({"identifiers": []})))
        .await
        .problem("malformed");
    let r = c.post(&c.dir("newOrder"), Some(&json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}], "profile": "nope"}))).await;
    r.problem("invalidProfile");
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn too_many_names_are_refused() {
    let (s, c) = registered_with(|c| c.acme.max_names = 2).await;
    c.new_order(&["a.example.jp", "b.example.jp", "c.example.jp"])
        .await
        .problem("rejectedIdentifier");
    assert_eq!(s.count("orders"), 0);
}

#[tokio::test]
async fn requested_validity_is_honoured_within_the_cap() {
    let (s, c) = registered().await;
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let nb = now + time::Duration::hours(1);
    let na = nb + time::Duration::days(30);
    let ids = json!([{"type": "dns", "value": "a.example.jp"}]);
    let r = c
        .post(
            &c.dir("newOrder"),
            Some(&json!({"identifiers": ids, "notBefore": fmt(nb), "notAfter": fmt(na)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let mut order = r.json();
    order["__url"] = json!(r.header("location").unwrap());
    c.validate_order(&s, &order).await;
    let done = c.finalize(&order, &["a.example.jp"]).await.json();
    let chain = c.post(done["certificate"].as_str().unwrap(), None).await;
    let pems = pem::parse_many(&chain.body).unwrap();
    let (_, leaf) = x509_parser::parse_x509_certificate(pems[0].contents()).unwrap();
    assert_eq!(leaf.validity().not_before.timestamp(), nb.unix_timestamp());
    assert!(leaf.validity().not_after.timestamp() <= na.unix_timestamp());

    let too_long = nb + time::Duration::days(400);
    let r = c
        .post(
            &c.dir("newOrder"),
            Some(&json!({"identifiers": ids, "notAfter": fmt(too_long)})),
        )
        .await;
    assert!(r.problem("malformed")["detail"]
        .as_str()
        .unwrap()
        .contains("days"));
}

#[tokio::test]
async fn orders_list_is_paginated() {
    let s = Server::start_with(|c| c.acme.orders_page_size = 2).await;
    let mut c = Client::new(&s).await;
    let acct = c.register(&s).await.json();
    let mut made = vec![];
    for n in ["a", "b", "c"] {
        let o = create_order(&c, &[&format!("{n}.example.jp")]).await;
        made.push(o["__url"].as_str().unwrap().to_owned());
    }
    let first = c.post(acct["orders"].as_str().unwrap(), None).await;
    assert_eq!(first.json()["orders"], json!(made[..2]));
    let link = first.header("link").unwrap();
    let next = link.split(['<', '>']).nth(1).unwrap().to_owned();
    assert!(link.contains("rel=\"next\""));
    let second = c.post(&next, None).await;
    assert_eq!(second.json()["orders"], json!(made[2..]));
    assert!(!second
        .headers
        .get_all("link")
        .iter()
        .any(|l| l.to_str().unwrap().contains("next")));
    // Another account cannot list them.
    let mut other = Client::new(&s).await;
    other.register(&s).await;
    other
        .post(acct["orders"].as_str().unwrap(), None)
        .await
        .problem("unauthorized");
}

#[tokio::test]
async fn other_accounts_resources_are_not_found() {
    let (s, a) = registered().await;
    let order = create_order(&a, &["a.example.jp"]).await;
    let mut b = Client::new(&s).await;
    b.register(&s).await;
    let r = b.post(&order_url(&order, &a), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = b
        .post(order["authorizations"][0].as_str().unwrap(), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Orders are read with POST-as-GET, not with a payload.
    a.post(&order_url(&order, &a), Some(&json!({})))
        .await
        .problem("malformed");
}

#[tokio::test]
async fn an_order_abandoned_mid_finalize_becomes_ready_again() {
    let (s, c) = registered().await;
    let order = ready_order(&s, &c, &["a.example.jp"]).await;
    // As if the finalizing process had died after claiming the order.
    with_db(&s.cfg.database_url(), |db| {
        db.execute("UPDATE orders SET status = 'processing', updated_at = '2000-01-01 00:00:00'")
    });
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "processing"
    );
    let store = trustgate::app::open_store(&s.cfg).unwrap();
    let clock = store.clock().clone();
    let ra = trustgate::ra::Ra::new(
        std::sync::Arc::new(s.cfg.clone()),
        store.clone(),
        std::sync::Arc::new(trustgate::app::load_ca(&s.cfg, &clock).unwrap()),
        trustgate::va::Validator::new(&s.cfg.va).unwrap(),
        clock,
    );
    assert_eq!(ra.recover_stale_finalizations().await.unwrap(), 1);
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "ready"
    );
    let r = c.finalize(&order, &["a.example.jp"]).await;
    assert_eq!(r.json()["status"], "valid");
    // A valid order with its certificate is never touched.
    assert_eq!(ra.recover_stale_finalizations().await.unwrap(), 0);
}

/// RFC 8555 §7.1.3: an order not finalized by its `expires` is invalid,
/// and finalizing it is orderNotReady. The clock is moved past the
/// configured lifetime rather than waited for.
#[tokio::test]
async fn an_order_past_its_expiry_is_invalid_and_cannot_be_finalized() {
    let start = time::macros::datetime!(2026-06-01 0:00 UTC);
    let clock = trustgate::core::Clock::manual(start);
    let (s, c) = registered_on(clock.clone(), |_| {}).await;
    let order = ready_order(&s, &c, &["late.example.jp"]).await;
    let lifetime = time::Duration::hours(s.cfg.acme.order_lifetime_hours as i64);
    let expires = time::OffsetDateTime::parse(
        order["expires"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires, start + lifetime);

    assert!(clock.advance(lifetime));
    let shown = c.post(&order_url(&order, &c), None).await.json();
    assert_eq!(shown["status"], "invalid", "{shown}");
    let r = c.finalize(&order, &["late.example.jp"]).await;
    r.problem("orderNotReady");
    assert_eq!(s.count("certificates"), 0);
}
