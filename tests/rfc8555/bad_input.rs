//! The bad-input table: every request here is wrong in one way, gets the
//! problem document RFC 8555 names for it, and changes nothing stored.
//! One server and a few accounts, orders and a certificate are set up
//! first; after every case the stored state is compared with the state
//! before the first.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hyper::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::support::*;

/// What must not change: row counts, every status, keys, contacts,
/// revocations and the audit trail's length.
fn state(s: &Server) -> Vec<String> {
    s.sql_texts(&[
        "SELECT CAST(COUNT(*) AS TEXT) AS t FROM eab_credentials",
        "SELECT status || ' ' || key_thumbprint || ' ' || contact AS t FROM accounts ORDER BY id",
        "SELECT status AS t FROM orders ORDER BY id",
        "SELECT status AS t FROM authorizations ORDER BY id",
        "SELECT status AS t FROM challenges ORDER BY id",
        "SELECT COALESCE(CAST(revocation_reason AS TEXT), '-') AS t FROM certificates ORDER BY id",
        // The CA's own events (CRLs published meanwhile) are not requests'.
        "SELECT CAST(COUNT(*) AS TEXT) AS t FROM audit_events WHERE actor <> 'system'",
        "SELECT CAST(COUNT(*) AS TEXT) AS t FROM blocked_keys",
    ])
}

/// The fixture every case runs against.
struct World {
    s: Server,
    c: Client,
    other: Client,
    pending_order: Value,
    other_order: Value,
    cert_der: Vec<u8>,
    before: Vec<String>,
    cases: usize,
    misses: Vec<String>,
}

impl World {
    async fn new() -> World {
        let (s, c) = registered().await;
        let mut other = Client::new(&s).await;
        other.register(&s).await;
        let key = rcgen::KeyPair::generate().unwrap();
        let (cert_der, _) = issue(&s, &c, &["issued.example.jp"], &key).await;
        let pending_order = create_order(&c, &["pending.example.jp"]).await;
        let other_order = create_order(&other, &["other.example.jp"]).await;
        let before = state(&s);
        World {
            s,
            c,
            other,
            pending_order,
            other_order,
            cert_der,
            before,
            cases: 0,
            misses: Vec::new(),
        }
    }

    /// The case got `problem`, and nothing changed; a miss is recorded
    /// (and reported at the end, all together).
    fn check(&mut self, case: &str, r: Resp, problem: &str) {
        self.cases += 1;
        let want = format!("urn:ietf:params:acme:error:{problem}");
        let p: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let is_problem = r.header("content-type").as_deref() == Some("application/problem+json");
        let has_detail = p["detail"].as_str().is_some_and(|d| !d.is_empty());
        if !is_problem
            || p["type"] != want.as_str()
            || p["status"] != r.status.as_u16()
            || !has_detail
        {
            self.misses.push(format!(
                "{case}: want {problem}, got {} {}",
                r.status,
                r.text()
            ));
        }
        let now = state(&self.s);
        if now != self.before {
            self.misses.push(format!("{case}: changed stored state"));
            self.before = now;
        }
    }

    fn url(&self, name: &str) -> String {
        self.c.dir(name)
    }

    fn order_url(&self) -> String {
        self.pending_order["__url"].as_str().unwrap().to_owned()
    }

    fn finalize_url(&self) -> String {
        self.pending_order["finalize"].as_str().unwrap().to_owned()
    }

    fn authz_url(&self) -> String {
        self.pending_order["authorizations"][0]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn challenge_url(&self) -> String {
        let authz = self.c.post(&self.authz_url(), None).await.json();
        challenge_of(&authz, "http-01")["url"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A JWS of `c` over `payload` (raw base64url) with `header` as its
    /// protected header, as given.
    fn jws(&self, header: Value, payload: &str) -> Value {
        let protected = B64.encode(header.to_string());
        let sig = self
            .c
            .signer
            .sign(format!("{protected}.{payload}").as_bytes())
            .expect("sign");
        json!({"protected": protected, "payload": payload, "signature": B64.encode(sig)})
    }

    /// A well-formed kid header for `url` with a fresh nonce.
    async fn kid_header(&self, url: &str) -> Map<String, Value> {
        let mut h = Map::new();
        h.insert("alg".into(), json!("ES256"));
        h.insert("kid".into(), json!(self.c.kid.clone().unwrap()));
        h.insert("nonce".into(), json!(self.c.nonce().await));
        h.insert("url".into(), json!(url));
        h
    }

    /// A well-formed request to `url` with a fresh nonce.
    async fn good_jws(&self, url: &str, payload: &str) -> Value {
        let h = self.kid_header(url).await;
        self.jws(Value::Object(h), payload)
    }

    async fn post_raw(&self, url: &str, ct: Option<&str>, body: Vec<u8>) -> Resp {
        send(&self.c.http, Method::POST, url, ct, body).await
    }

    async fn post_value(&self, url: &str, jws: &Value) -> Resp {
        self.c.post_jws(url, jws).await
    }

    /// `c` posts `payload` to `url`, signed as usual.
    async fn post(&self, url: &str, payload: Value) -> Resp {
        self.c.post(url, Some(&payload)).await
    }
}

fn enc(v: &Value) -> String {
    B64.encode(v.to_string())
}

#[tokio::test]
async fn every_bad_request_gets_its_problem_and_changes_nothing() {
    let mut w = World::new().await;
    envelope(&mut w).await;
    protected_header(&mut w).await;
    new_account(&mut w).await;
    new_order(&mut w).await;
    finalize(&mut w).await;
    resources(&mut w).await;
    revocation(&mut w).await;
    renewal_info(&mut w).await;
    assert!(
        w.misses.is_empty(),
        "{} of {} cases:\n{}",
        w.misses.len(),
        w.cases,
        w.misses.join("\n")
    );
    assert!(w.cases >= 120, "only {} bad-input cases", w.cases);
}

/// The flattened JWS JSON itself (RFC 8555 §6.2, RFC 7515 §7.2.2).
async fn envelope(w: &mut World) {
    let url = w.url("newOrder");
    let ct = Some("application/jose+json");
    let ok_payload = enc(&json!({"identifiers": [{"type": "dns", "value": "x.example.jp"}]}));

    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty body", vec![]),
        ("not JSON", b"identifiers please".to_vec()),
        ("a JSON array", b"[]".to_vec()),
        ("a JSON string", b"\"eyJ.eyJ.sig\"".to_vec()),
        (
            "compact serialization",
            b"eyJhbGciOiJFUzI1NiJ9.e30.c2ln".to_vec(),
        ),
        ("truncated JSON", br#"{"protected": "eyJ"#.to_vec()),
        ("JSON with a NUL", b"{\"protected\":\"\0\"}".to_vec()),
        ("null", b"null".to_vec()),
    ];
    for (case, body) in bodies {
        let r = w.post_raw(&url, ct, body).await;
        w.check(case, r, "malformed");
    }
    for field in ["protected", "payload", "signature"] {
        let mut j = w.good_jws(&url, &ok_payload).await;
        j.as_object_mut().unwrap().remove(field);
        let r = w.post_value(&url, &j).await;
        w.check(&format!("no {field}"), r, "malformed");
        let mut j = w.good_jws(&url, &ok_payload).await;
        j[field] = json!(42);
        let r = w.post_value(&url, &j).await;
        w.check(&format!("{field} a number"), r, "malformed");
        let mut j = w.good_jws(&url, &ok_payload).await;
        j[field] = json!("not*base64url!");
        let r = w.post_value(&url, &j).await;
        w.check(&format!("{field} not base64url"), r, "malformed");
    }
    let mut j = w.good_jws(&url, &ok_payload).await;
    j["header"] = json!({"alg": "ES256"});
    let r = w.post_value(&url, &j).await;
    w.check("an unprotected header", r, "malformed");
    let mut j = w.good_jws(&url, &ok_payload).await;
    j["signatures"] = json!([{"protected": j["protected"], "signature": j["signature"]}]);
    let r = w.post_value(&url, &j).await;
    w.check("general serialization", r, "malformed");
    let mut j = w.good_jws(&url, &ok_payload).await;
    j["signature"] = json!(B64.encode([7u8; 64]));
    let r = w.post_value(&url, &j).await;
    w.check("a wrong signature", r, "malformed");
    let mut j = w.good_jws(&url, &ok_payload).await;
    j["payload"] = json!(enc(
        &json!({"identifiers": [{"type": "dns", "value": "y.example.jp"}]})
    ));
    let r = w.post_value(&url, &j).await;
    w.check("a payload the signature does not cover", r, "malformed");
    let mut j = w.good_jws(&url, &ok_payload).await;
    j["protected"] = json!(B64.encode("not json"));
    let r = w.post_value(&url, &j).await;
    w.check("protected not JSON", r, "malformed");
    let mut j = w.good_jws(&url, &ok_payload).await;
    j["protected"] = json!(B64.encode("[1,2]"));
    let r = w.post_value(&url, &j).await;
    w.check("protected a JSON array", r, "malformed");
    let mut j = w.good_jws(&url, &ok_payload).await;
    j["payload"] = json!(B64.encode("not json"));
    let r = w.post_value(&url, &j).await;
    w.check("payload not JSON", r, "malformed");

    // RFC 8555 §6.2: application/jose+json and nothing else.
    for (case, ct) in [
        ("no content type", None),
        ("application/json", Some("application/json")),
        ("text/plain", Some("text/plain")),
    ] {
        let body = w.good_jws(&url, &ok_payload).await.to_string();
        let r = w.post_raw(&url, ct, body.into_bytes()).await;
        w.check(case, r, "malformed");
    }
}

/// The protected header's members (RFC 8555 §6.2, §6.4, §6.5).
async fn protected_header(w: &mut World) {
    let url = w.url("newOrder");
    let payload = enc(&json!({"identifiers": [{"type": "dns", "value": "x.example.jp"}]}));
    type Edit = fn(&mut Map<String, Value>);
    let edits: Vec<(&str, Edit, &str)> = vec![
        (
            "no alg",
            |h| {
                h.remove("alg");
            },
            "malformed",
        ),
        (
            "alg none",
            |h| {
                h.insert("alg".into(), json!("none"));
            },
            "badSignatureAlgorithm",
        ),
        (
            "alg HS256",
            |h| {
                h.insert("alg".into(), json!("HS256"));
            },
            "badSignatureAlgorithm",
        ),
        (
            "alg ES999",
            |h| {
                h.insert("alg".into(), json!("ES999"));
            },
            "badSignatureAlgorithm",
        ),
        (
            "alg RS256 for an EC key",
            |h| {
                h.insert("alg".into(), json!("RS256"));
            },
            "badSignatureAlgorithm",
        ),
        (
            "alg a number",
            |h| {
                h.insert("alg".into(), json!(256));
            },
            "malformed",
        ),
        (
            "no kid nor jwk",
            |h| {
                h.remove("kid");
            },
            "malformed",
        ),
        (
            "kid not a string",
            |h| {
                h.insert("kid".into(), json!(1));
            },
            "malformed",
        ),
        (
            "kid of no account",
            |h| {
                let kid = h["kid"]
                    .as_str()
                    .unwrap()
                    .rsplit_once('/')
                    .unwrap()
                    .0
                    .to_owned();
                h.insert("kid".into(), json!(format!("{kid}/99999")));
            },
            "accountDoesNotExist",
        ),
        (
            "kid not an account URL",
            |h| {
                h.insert("kid".into(), json!("https://elsewhere.example/acct/1"));
            },
            "accountDoesNotExist",
        ),
        (
            "kid and jwk both",
            |h| {
                h.insert("jwk".into(), json!({"kty": "EC"}));
            },
            "malformed",
        ),
        (
            "no nonce",
            |h| {
                h.remove("nonce");
            },
            "badNonce",
        ),
        (
            "a nonce not ours",
            |h| {
                h.insert("nonce".into(), json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
            },
            "badNonce",
        ),
        (
            "a nonce not base64url",
            |h| {
                h.insert("nonce".into(), json!("!!!"));
            },
            "badNonce",
        ),
        (
            "a nonce a number",
            |h| {
                h.insert("nonce".into(), json!(7));
            },
            "badNonce",
        ),
        (
            "no url",
            |h| {
                h.remove("url");
            },
            "malformed",
        ),
        (
            "another resource's url",
            |h| {
                let u = h["url"]
                    .as_str()
                    .unwrap()
                    .replace("new-order", "new-account");
                h.insert("url".into(), json!(u));
            },
            "unauthorized",
        ),
        (
            "url a number",
            |h| {
                h.insert("url".into(), json!(1));
            },
            "malformed",
        ),
        (
            "crit",
            |h| {
                h.insert("crit".into(), json!(["b64"]));
            },
            "malformed",
        ),
    ];
    for (case, edit, problem) in edits {
        let mut h = w.kid_header(&url).await;
        edit(&mut h);
        let j = w.jws(Value::Object(h), &payload);
        let r = w.post_value(&url, &j).await;
        w.check(case, r, problem);
    }
    // A nonce used once already.
    let h = w.kid_header(&url).await;
    let j = w.jws(Value::Object(h.clone()), &enc(&json!({})));
    let first = w.post_value(&w.url("newNonce"), &j).await;
    assert!(first.status.is_client_error());
    let j = w.jws(Value::Object(h), &payload);
    let r = w.post_value(&url, &j).await;
    w.check("a nonce used before", r, "badNonce");
    // Signed by another account's key, naming this one.
    let mut h = w.kid_header(&url).await;
    h.insert("kid".into(), json!(w.other.kid.clone().unwrap()));
    let j = w.jws(Value::Object(h), &payload);
    let r = w.post_value(&url, &j).await;
    w.check("another account's kid", r, "malformed");
}

/// newAccount: jwk-signed, payload and External Account Binding (§7.3).
async fn new_account(w: &mut World) {
    let url = w.url("newAccount");
    let fresh = Client::new(&w.s).await;
    let (kid, hmac) = w.s.eab(true).await;
    w.before = state(&w.s); // the credential these cases fail to use
    let post = |payload: Value| {
        let (fresh, url) = (&fresh, url.clone());
        async move { fresh.post(&url, Some(&payload)).await }
    };
    let eab = fresh.eab(&kid, &hmac, &url);

    let r = post(json!({"termsOfServiceAgreed": true})).await;
    w.check("no EAB", r, "externalAccountRequired");
    let r = post(json!({"onlyReturnExisting": true})).await;
    w.check("onlyReturnExisting, no account", r, "accountDoesNotExist");
    let r = post(json!({"contact": "mailto:a@example.jp", "externalAccountBinding": eab})).await;
    w.check("contact not an array", r, "malformed");
    let r = post(json!({"contact": ["tel:+81312345678"], "externalAccountBinding": eab})).await;
    w.check("a tel: contact", r, "unsupportedContact");
    let r =
        post(json!({"contact": ["mailto:a@example.jp?subject=hi"], "externalAccountBinding": eab}))
            .await;
    w.check("mailto with hfields", r, "invalidContact");
    let r =
        post(json!({"contact": ["mailto:a@b@example.jp"], "externalAccountBinding": eab})).await;
    w.check("mailto with two @", r, "invalidContact");
    let r = post(json!({"contact": ["mailto:"], "externalAccountBinding": eab})).await;
    w.check("empty mailto", r, "invalidContact");
    let r = post(json!({"termsOfServiceAgreed": "yes", "externalAccountBinding": eab})).await;
    w.check("termsOfServiceAgreed a string", r, "malformed");
    let r = post(json!({"externalAccountBinding": "kid"})).await;
    w.check("EAB a string", r, "malformed");
    let r = post(json!({"externalAccountBinding": fresh.eab(&kid, &[0u8; 32], &url)})).await;
    w.check("EAB with the wrong MAC key", r, "unauthorized");
    let r = post(json!({"externalAccountBinding": fresh.eab("kid-nosuch", &hmac, &url)})).await;
    w.check("EAB of no credential", r, "unauthorized");
    let r =
        post(json!({"externalAccountBinding": fresh.eab(&kid, &hmac, &w.url("newOrder"))})).await;
    w.check("EAB for another URL", r, "malformed");
    // The EAB's payload is another key than the one signing.
    let other_eab = w.other.eab(&kid, &hmac, &url);
    let r = post(json!({"externalAccountBinding": other_eab})).await;
    w.check("EAB binding another key", r, "malformed");
    let mut bad_alg = eab.clone();
    bad_alg["protected"] = json!(enc(&json!({"alg": "none", "kid": kid, "url": url})));
    let r = post(json!({"externalAccountBinding": bad_alg})).await;
    w.check("EAB alg none", r, "badSignatureAlgorithm");
    let mut with_nonce = eab.clone();
    with_nonce["protected"] = json!(enc(
        &json!({"alg": "HS256", "kid": kid, "url": url, "nonce": "x"})
    ));
    let r = post(json!({"externalAccountBinding": with_nonce})).await;
    w.check("EAB with a nonce", r, "malformed");
    // newAccount signed by kid: it takes a jwk.
    let r = w.post(&url, json!({"termsOfServiceAgreed": true})).await;
    w.check("newAccount with a kid", r, "malformed");
    // A key the server does not take.
    let mut h = Map::new();
    h.insert("alg".into(), json!("ES256"));
    h.insert("jwk".into(), json!({"kty": "oct", "k": "c2VjcmV0"}));
    h.insert("nonce".into(), json!(w.c.nonce().await));
    h.insert("url".into(), json!(url));
    let j = w.jws(Value::Object(h), &enc(&json!({})));
    let r = w.post_value(&url, &j).await;
    w.check("a symmetric jwk", r, "badPublicKey");
    let mut h = Map::new();
    h.insert("alg".into(), json!("ES256"));
    let mut jwk = w.c.jwk_map();
    jwk.insert("d".into(), json!("c2VjcmV0"));
    h.insert("jwk".into(), Value::Object(jwk));
    h.insert("nonce".into(), json!(w.c.nonce().await));
    h.insert("url".into(), json!(url));
    let j = w.jws(Value::Object(h), &enc(&json!({})));
    let r = w.post_value(&url, &j).await;
    w.check("a jwk with its private part", r, "malformed");
}

/// newOrder identifiers and fields (§7.4, BR 3.2.2, the name policy).
async fn new_order(w: &mut World) {
    let url = w.url("newOrder");
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no identifiers", json!({}), "malformed"),
        ("identifiers empty", json!({"identifiers": []}), "malformed"),
        (
            "identifiers an object",
            json!({"identifiers": {"type": "dns"}}),
            "malformed",
        ),
        (
            "an ip identifier",
            json!({"identifiers": [{"type": "ip", "value": "192.0.2.1"}]}),
            "unsupportedIdentifier",
        ),
        (
            "an email identifier",
            json!({"identifiers": [{"type": "email", "value": "a@example.jp"}]}),
            "unsupportedIdentifier",
        ),
        (
            "no value",
            json!({"identifiers": [{"type": "dns"}]}),
            "malformed",
        ),
        (
            "an empty name",
            json!({"identifiers": [{"type": "dns", "value": ""}]}),
            "malformed",
        ),
        (
            "a label of 64",
            json!({"identifiers": [{"type": "dns", "value": format!("{}.example.jp", "a".repeat(64))}]}),
            "malformed",
        ),
        (
            "a name of 254",
            json!({"identifiers": [{"type": "dns", "value": format!("{}example.jp", "abcdefghi.".repeat(25))}]}),
            "malformed",
        ),
        (
            "an underscore",
            json!({"identifiers": [{"type": "dns", "value": "a_b.example.jp"}]}),
            "malformed",
        ),
        (
            "a space",
            json!({"identifiers": [{"type": "dns", "value": "a b.example.jp"}]}),
            "malformed",
        ),
        (
            "a trailing dot",
            json!({"identifiers": [{"type": "dns", "value": "a.example.jp."}]}),
            "malformed",
        ),
        (
            "an empty label",
            json!({"identifiers": [{"type": "dns", "value": "a..example.jp"}]}),
            "malformed",
        ),
        (
            "a leading hyphen",
            json!({"identifiers": [{"type": "dns", "value": "-a.example.jp"}]}),
            "malformed",
        ),
        (
            "an IP address as dns",
            json!({"identifiers": [{"type": "dns", "value": "192.0.2.1"}]}),
            "malformed",
        ),
        (
            "a bad punycode label",
            json!({"identifiers": [{"type": "dns", "value": "xn--a.example.jp"}]}),
            "malformed",
        ),
        (
            "a wildcard in the middle",
            json!({"identifiers": [{"type": "dns", "value": "a.*.example.jp"}]}),
            "malformed",
        ),
        (
            "two wildcards",
            json!({"identifiers": [{"type": "dns", "value": "*.*.example.jp"}]}),
            "malformed",
        ),
        (
            "a partial wildcard",
            json!({"identifiers": [{"type": "dns", "value": "a*.example.jp"}]}),
            "malformed",
        ),
        (
            "an .internal name",
            json!({"identifiers": [{"type": "dns", "value": "db.internal"}]}),
            "rejectedIdentifier",
        ),
        (
            "a .local name",
            json!({"identifiers": [{"type": "dns", "value": "printer.local"}]}),
            "rejectedIdentifier",
        ),
        (
            "a .onion name",
            json!({"identifiers": [{"type": "dns", "value": "abc.onion"}]}),
            "rejectedIdentifier",
        ),
        (
            "localhost",
            json!({"identifiers": [{"type": "dns", "value": "localhost"}]}),
            "malformed",
        ),
        (
            "a TLD outside the ICANN list",
            json!({"identifiers": [{"type": "dns", "value": "a.corp"}]}),
            "rejectedIdentifier",
        ),
        (
            "a public suffix",
            json!({"identifiers": [{"type": "dns", "value": "co.jp"}]}),
            "rejectedIdentifier",
        ),
        (
            "a wildcard under a public suffix",
            json!({"identifiers": [{"type": "dns", "value": "*.co.jp"}]}),
            "rejectedIdentifier",
        ),
        (
            "a name outside the domain scope",
            json!({"identifiers": [{"type": "dns", "value": "www.other.jp"}]}),
            "rejectedIdentifier",
        ),
        (
            "notBefore",
            json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}], "notBefore": "2030-01-01T00:00:00Z"}),
            "malformed",
        ),
        (
            "notAfter",
            json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}], "notAfter": "2030-01-01T00:00:00Z"}),
            "malformed",
        ),
        (
            "an unknown profile",
            json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}], "profile": "gold"}),
            "invalidProfile",
        ),
        (
            "a profile a number",
            json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}], "profile": 1}),
            "malformed",
        ),
        (
            "replaces a certificate not ours",
            json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}], "replaces": "AAAA.AAAA"}),
            "malformed",
        ),
    ];
    for (case, payload, problem) in cases {
        let r = w.post(&url, payload).await;
        w.check(case, r, problem);
    }
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"type": "dns", "value": format!("n{i}.example.jp")}))
        .collect();
    let r = w.post(&url, json!({"identifiers": many})).await;
    w.check("101 identifiers", r, "rejectedIdentifier");
}

/// finalize (§7.4): the order's state, the CSR's bytes and names.
async fn finalize(w: &mut World) {
    let url = w.finalize_url();
    let key = rcgen::KeyPair::generate().unwrap();
    let good_csr = b64(&csr_with(&["pending.example.jp"], &key));
    let cases: Vec<(&str, Value, &str)> = vec![
        ("order not ready", json!({"csr": good_csr}), "orderNotReady"),
        ("no csr", json!({}), "malformed"),
        ("csr a number", json!({"csr": 7}), "malformed"),
        ("csr not base64url", json!({"csr": "MIIB+/=="}), "badCSR"),
    ];
    for (case, payload, problem) in cases {
        let r = w.post(&url, payload).await;
        w.check(case, r, problem);
    }
    // Another account's order.
    let other = w.other_order["finalize"].as_str().unwrap().to_owned();
    let r = w.post(&other, json!({"csr": good_csr})).await;
    w.check("another account's order", r, "malformed");
    let r = w
        .post(
            &w.url("newOrder")
                .replace("new-order", "order/99999/finalize"),
            json!({"csr": good_csr}),
        )
        .await;
    w.check("finalize of no order", r, "malformed");
}

/// Orders, authorizations, challenges, accounts: what each takes.
async fn resources(w: &mut World) {
    let order = w.order_url();
    let authz = w.authz_url();
    let challenge = w.challenge_url().await;
    let account = w.c.kid.clone().unwrap();
    let other_authz = w.other_order["authorizations"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let other_order = w.other_order["__url"].as_str().unwrap().to_owned();

    let r = w.post(&order, json!({"status": "valid"})).await;
    w.check("an order is read with POST-as-GET only", r, "malformed");
    let r = w.c.post(&other_order, None).await;
    w.check("another account's order", r, "malformed");
    let r = w.c.post(&other_authz, None).await;
    w.check("another account's authorization", r, "malformed");
    let r = w.post(&authz, json!({"status": "valid"})).await;
    w.check("an authorization set valid", r, "malformed");
    let r = w.post(&authz, json!({"status": 1})).await;
    w.check("an authorization status a number", r, "malformed");
    let r = w.post(&other_authz, json!({"status": "deactivated"})).await;
    w.check(
        "deactivating another account's authorization",
        r,
        "malformed",
    );
    let r = w.post(&challenge, json!([])).await;
    w.check("a challenge answered with an array", r, "malformed");
    let r = w.post(&account, json!({"status": "revoked"})).await;
    w.check("an account set revoked", r, "malformed");
    let r = w
        .post(&account, json!({"contact": ["ftp://example.jp"]}))
        .await;
    w.check("an account contact by ftp", r, "unsupportedContact");
    let r = w.post(&account, json!({"contact": [7]})).await;
    w.check("an account contact a number", r, "malformed");
    let r = w
        .post(&w.other.kid.clone().unwrap(), json!({"contact": []}))
        .await;
    w.check("updating another account", r, "unauthorized");
    let r = w.post(&format!("{account}/orders"), json!({})).await;
    w.check("the orders list with a payload", r, "malformed");
    let other_orders = format!("{}/orders", w.other.kid.clone().unwrap());
    let r = w.c.post(&other_orders, None).await;
    w.check("another account's orders list", r, "unauthorized");
    let cert_url = w.url("newOrder").replace("new-order", "cert/99999");
    let r = w.c.post(&cert_url, None).await;
    w.check("a certificate that does not exist", r, "malformed");
    let r = w
        .post(&w.url("keyChange"), json!({"account": account}))
        .await;
    w.check("keyChange without an inner JWS", r, "malformed");
    // Unknown paths and wrong methods.
    for path in [
        "/acme/nope",
        "/acme/order/x",
        "/acme/authz/-1",
        "/acme/chall/1/2",
    ] {
        let r = w.c.post(&w.s.url(path), None).await;
        w.check(path, r, "malformed");
    }
    let r = send(&w.c.http, Method::GET, &order, None, vec![]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    w.check("GET of an order", r, "malformed");
    let r = send(&w.c.http, Method::DELETE, &account, None, vec![]).await;
    w.check("DELETE of an account", r, "malformed");
}

/// revokeCert (§7.6).
async fn revocation(w: &mut World) {
    let url = w.url("revokeCert");
    let cert = b64(&w.cert_der);
    let mut foreign = w.cert_der.clone();
    let last = foreign.len() - 1;
    foreign[last] ^= 1;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no certificate", json!({}), "malformed"),
        (
            "certificate a number",
            json!({"certificate": 1}),
            "malformed",
        ),
        (
            "certificate not base64url",
            json!({"certificate": "MII+/"}),
            "malformed",
        ),
        (
            "certificate garbage DER",
            json!({"certificate": B64.encode(b"junk")}),
            "malformed",
        ),
        (
            "a certificate with another signature",
            json!({"certificate": b64(&foreign)}),
            "malformed",
        ),
        (
            "reason 2 (cACompromise)",
            json!({"certificate": cert, "reason": 2}),
            "badRevocationReason",
        ),
        (
            "reason 7 (unused)",
            json!({"certificate": cert, "reason": 7}),
            "badRevocationReason",
        ),
        (
            "reason 9 (CA only)",
            json!({"certificate": cert, "reason": 9}),
            "badRevocationReason",
        ),
        (
            "reason -1",
            json!({"certificate": cert, "reason": -1}),
            "badRevocationReason",
        ),
        (
            "reason a string",
            json!({"certificate": cert, "reason": "keyCompromise"}),
            "malformed",
        ),
        (
            "keyCompromise by the account",
            json!({"certificate": cert, "reason": 1}),
            "badRevocationReason",
        ),
    ];
    for (case, payload, problem) in cases {
        let r = w.post(&url, payload).await;
        w.check(case, r, problem);
    }
    let r = w
        .other
        .post(&url, Some(&json!({"certificate": cert})))
        .await;
    w.check("an account with no claim to the names", r, "unauthorized");
}

/// renewalInfo (RFC 9773 §4.1): the certificate identifier.
async fn renewal_info(w: &mut World) {
    let base = w.c.directory["renewalInfo"].as_str().unwrap().to_owned();
    for (case, id) in [
        ("no dot", "AAAA"),
        ("not base64url", "!!.!!"),
        ("an empty serial", "AAAA."),
        ("an unknown certificate", "AAAAAAAAAAAAAAAAAAAAAAAAAAA.AQID"),
        ("three parts", "AA.BB.CC"),
    ] {
        let r = send(
            &w.c.http,
            Method::GET,
            &format!("{base}/{id}"),
            None,
            vec![],
        )
        .await;
        w.check(case, r, "malformed");
    }
}
