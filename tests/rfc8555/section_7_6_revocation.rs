//! RFC 8555 §7.6 (revokeCert) and §7.3.5 (keyChange).

use hyper::StatusCode;
use serde_json::json;

use crate::support::*;

fn revoked(s: &Server) -> Vec<String> {
    s.sql_text("SELECT serial || ':' || CAST(revocation_reason AS TEXT) AS t FROM certificates WHERE revoked_at IS NOT NULL")
}

#[tokio::test]
async fn the_issuing_account_revokes_once() {
    let (s, c) = registered().await;
    let key = rcgen::KeyPair::generate().unwrap();
    let (der, _) = issue(&s, &c, &["a.example.jp"], &key).await;
    let url = c.dir("revokeCert");
    c.post(&url, Some(&json!({"certificate": b64(&der), "reason": 9})))
        .await
        .problem("badRevocationReason");
    c.post(&url, Some(&json!({"certificate": b64(&der), "reason": 2})))
        .await
        .problem("badRevocationReason");
    // keyCompromise blocks the key for everyone: only the key proves it.
    let p = c
        .post(&url, Some(&json!({"certificate": b64(&der), "reason": 1})))
        .await
        .problem("badRevocationReason");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("certificate's own key"),
        "{p}"
    );
    assert!(revoked(&s).is_empty());
    let r = c
        .post(&url, Some(&json!({"certificate": b64(&der), "reason": 4})))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(revoked(&s).len(), 1);
    assert!(revoked(&s)[0].ends_with(":4"));
    c.post(&url, Some(&json!({"certificate": b64(&der)})))
        .await
        .problem("alreadyRevoked");
    c.post(&url, Some(&json!({"certificate": b64(b"junk")})))
        .await
        .problem("malformed");
}

#[tokio::test]
async fn the_certificate_key_revokes_and_the_key_is_blocked() {
    let (s, c) = registered().await;
    let key = rcgen::KeyPair::generate().unwrap();
    let (der, _) = issue(&s, &c, &["a.example.jp"], &key).await;
    let holder = Client::with_key(&s, &key).await;
    let r = holder
        .post(
            &holder.dir("revokeCert"),
            Some(&json!({"certificate": b64(&der)})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(
        revoked(&s)[0].ends_with(":1"),
        "keyCompromise by default: {:?}",
        revoked(&s)
    );
    // The compromised key cannot be certified again.
    let order = create_order(&c, &["a.example.jp"]).await;
    assert_eq!(order["status"], "ready", "authorization reused");
    let r = c
        .post(
            order["finalize"].as_str().unwrap(),
            Some(&json!({"csr": b64(&csr_with(&["a.example.jp"], &key))})),
        )
        .await;
    assert!(r.problem("badPublicKey")["detail"]
        .as_str()
        .unwrap()
        .contains("compromised"));
}

#[tokio::test]
async fn other_keys_and_accounts_need_authorizations() {
    let (s, c) = registered().await;
    let key = rcgen::KeyPair::generate().unwrap();
    let (der, _) = issue(&s, &c, &["a.example.jp"], &key).await;
    // A stranger's key.
    let stranger = Client::with_key(&s, &rcgen::KeyPair::generate().unwrap()).await;
    stranger
        .post(
            &stranger.dir("revokeCert"),
            Some(&json!({"certificate": b64(&der)})),
        )
        .await
        .problem("unauthorized");
    // Another account without authorizations for the name.
    let mut other = Client::new(&s).await;
    other.register(&s).await;
    other
        .post(
            &other.dir("revokeCert"),
            Some(&json!({"certificate": b64(&der)})),
        )
        .await
        .problem("unauthorized");
    assert!(revoked(&s).is_empty());
    // Once it validates the name, it may revoke: not for keyCompromise,
    // which it cannot prove, and whatever it asks is recorded as
    // cessationOfOperation (it controls the name, not the key).
    let order = create_order(&other, &["a.example.jp"]).await;
    other.validate_order(&s, &order).await;
    other
        .post(
            &other.dir("revokeCert"),
            Some(&json!({"certificate": b64(&der), "reason": 1})),
        )
        .await
        .problem("badRevocationReason");
    assert!(revoked(&s).is_empty());
    let r = other
        .post(
            &other.dir("revokeCert"),
            Some(&json!({"certificate": b64(&der), "reason": 4})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(revoked(&s).len(), 1);
    assert!(revoked(&s)[0].ends_with(":5"), "{:?}", revoked(&s));
}

/// §7.3.5 line by line: each requirement on the inner JWS refused with
/// its own problem, the account's key unchanged after every one.
#[tokio::test]
async fn key_change_checks_every_rule_of_the_inner_jws() {
    let (s, c) = registered().await;
    let url = c.dir("keyChange");
    let account = c.kid.clone().unwrap();
    let new = Client::new(&s).await;
    let key_before = s.sql_text("SELECT key_thumbprint AS t FROM accounts");
    let inner_with = |kid: bool, nonce: Option<String>, alg: &str| {
        let p = Protected {
            alg: alg.into(),
            jwk: !kid,
            kid,
            nonce,
            url: Some(url.clone()),
        };
        new.sign(
            &p,
            Some(&json!({"account": account, "oldKey": c.jwk_map()})),
        )
    };
    let detail = |r: Resp, problem: &str| {
        let p = r.problem(problem);
        p["detail"].as_str().unwrap_or_default().to_owned()
    };

    // A kid instead of a jwk, or a nonce: not an inner JWS.
    let d = detail(
        c.post(&url, Some(&inner_with(true, None, "ES256"))).await,
        "malformed",
    );
    assert!(d.contains("no kid or nonce"), "{d}");
    let d = detail(
        c.post(&url, Some(&inner_with(false, Some("abc".into()), "ES256")))
            .await,
        "malformed",
    );
    assert!(d.contains("no kid or nonce"), "{d}");
    // An alg the server does not take.
    c.post(&url, Some(&inner_with(false, None, "none")))
        .await
        .problem("badSignatureAlgorithm");
    // The payload names another account.
    let other = inner_jws(&new, &url, &s.url("/acme/acct/999"), &c);
    let d = detail(c.post(&url, Some(&other)).await, "malformed");
    assert!(d.contains("account must be the URL"), "{d}");
    // The new key is the account's own: a conflict naming this account.
    let same = inner_jws(&c, &url, &account, &c);
    let r = c.post(&url, Some(&same)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.header("location").as_deref(), Some(account.as_str()));
    // An outer JWS by the new key (not the account's) is no request of it.
    let mut impostor = Client::new(&s).await;
    impostor.kid = Some(account.clone());
    impostor
        .post(&url, Some(&inner_jws(&impostor, &url, &account, &c)))
        .await
        .problem("malformed");

    assert_eq!(
        s.sql_text("SELECT key_thumbprint AS t FROM accounts"),
        key_before
    );
}

/// The keyChange payload: an inner JWS by `new` over {account, oldKey}.
fn inner_jws(new: &Client, url: &str, account: &str, old: &Client) -> serde_json::Value {
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
async fn key_change_rolls_the_account_key() {
    let (s, mut c) = registered().await;
    let url = c.dir("keyChange");
    let account = c.kid.clone().unwrap();
    let new = Client::new(&s).await;

    // Wrong inner url, and an inner JWS signed by the old key: refused.
    let bad_url = inner_jws(&new, &s.url("/acme/new-order"), &account, &c);
    c.post(&url, Some(&bad_url)).await.problem("malformed");
    let mut by_old = inner_jws(&new, &url, &account, &c);
    by_old["signature"] = inner_jws(&c, &url, &account, &c)["signature"].clone();
    c.post(&url, Some(&by_old)).await.problem("malformed");
    let not_old = inner_jws(&new, &url, &account, &new);
    c.post(&url, Some(&not_old)).await.problem("unauthorized");

    let r = c
        .post(&url, Some(&inner_jws(&new, &url, &account, &c)))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // The old key no longer signs for the account; the new one does.
    c.new_order(&["a.example.jp"]).await.problem("malformed");
    c.signer = new.signer;
    c.jwk = new.jwk;
    assert_eq!(
        c.new_order(&["a.example.jp"]).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn key_change_to_a_key_in_use_is_a_conflict() {
    let (s, c) = registered().await;
    let mut other = Client::new(&s).await;
    other.register(&s).await;
    let url = c.dir("keyChange");
    let r = c
        .post(
            &url,
            Some(&inner_jws(&other, &url, c.kid.as_ref().unwrap(), &c)),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.header("location"), other.kid);
    r.problem("malformed");
}

#[tokio::test]
async fn deactivating_an_account_deactivates_its_pending_authorizations() {
    let (s, c) = registered().await;
    let order = create_order(&c, &["a.example.jp"]).await;
    let r = c
        .post(
            c.kid.as_ref().unwrap(),
            Some(&json!({"status": "deactivated"})),
        )
        .await;
    assert_eq!(r.json()["status"], "deactivated");
    let _ = order;
    assert_eq!(
        s.sql_text("SELECT status AS t FROM authorizations"),
        vec!["deactivated"]
    );
}

/// The URI of a certificate's CRL distribution point and AIA caIssuers.
fn crl_and_issuer_urls(der: &[u8]) -> (String, String) {
    use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    let mut crl = None;
    let mut issuer = None;
    for e in cert.extensions() {
        match e.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(p) => {
                if let Some(DistributionPointName::FullName(names)) =
                    &p.points[0].distribution_point
                {
                    if let GeneralName::URI(u) = &names[0] {
                        crl = Some(u.to_string());
                    }
                }
            }
            ParsedExtension::AuthorityInfoAccess(a) => {
                if let GeneralName::URI(u) = &a.accessdescs[0].access_location {
                    issuer = Some(u.to_string());
                }
            }
            _ => {}
        }
    }
    (crl.expect("CRLDP"), issuer.expect("AIA"))
}

#[tokio::test]
async fn revocation_is_published_in_the_certificates_crl() {
    let (s, c) = registered_with(|c| c.publish.regenerate_secs = 1).await;
    let (der, _) = issue_fresh(&s, &c, &["a.example.jp"]).await;
    let (crl_url, issuer_url) = crl_and_issuer_urls(&der);
    assert!(
        crl_url.starts_with("http://") && crl_url.ends_with(".crl"),
        "{crl_url}"
    );
    let intermediate = send(&c.http, hyper::Method::GET, &issuer_url, None, vec![]).await;
    assert_eq!(
        intermediate.header("content-type").as_deref(),
        Some("application/pkix-cert")
    );

    let dir = s.dir.path();
    let pem_of = |tag: &str, der: &[u8]| pem::encode(&pem::Pem::new(tag, der.to_vec()));
    std::fs::write(dir.join("leaf.pem"), pem_of("CERTIFICATE", &der)).unwrap();
    std::fs::write(
        dir.join("int.pem"),
        pem_of("CERTIFICATE", &intermediate.body),
    )
    .unwrap();
    // The server runs on this test's runtime: fetch asynchronously, then
    // let openssl judge the CRL.
    let verify = |crl: &[u8]| {
        std::fs::write(dir.join("crl.pem"), pem_of("X509 CRL", crl)).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["verify", "-crl_check", "-CAfile"])
            .arg(dir.join("ca/root.pem"))
            .arg("-untrusted")
            .arg(dir.join("int.pem"))
            .arg("-CRLfile")
            .arg(dir.join("crl.pem"))
            .arg(dir.join("leaf.pem"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let crl = send(&c.http, hyper::Method::GET, &crl_url, None, vec![]).await;
    assert_eq!(
        crl.header("content-type").as_deref(),
        Some("application/pkix-crl")
    );
    let (ok, out) = verify(&crl.body);
    assert!(ok, "not revoked yet: {out}");

    let r = c
        .post(
            &c.dir("revokeCert"),
            Some(&json!({"certificate": b64(&der), "reason": 4})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let mut revoked = false;
    for _ in 0..50 {
        let crl = send(&c.http, hyper::Method::GET, &crl_url, None, vec![]).await;
        let (ok, out) = verify(&crl.body);
        if !ok && out.contains("certificate revoked") {
            revoked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        revoked,
        "the CRL lists the certificate within seconds of revocation"
    );
}

#[tokio::test]
async fn staff_revoke_with_privilege_withdrawn_and_it_is_audited() {
    use trustgate::core::RevocationReason;
    use trustgate::ra::revocation::revoke_by_staff;
    let (s, c) = registered().await;
    let (der, _) = issue_fresh(&s, &c, &["a.example.jp"]).await;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let serial: String = cert
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let store = trustgate::app::open_store(&s.cfg).unwrap();
    let err = revoke_by_staff(
        &store,
        "carol",
        &serial,
        RevocationReason::PrivilegeWithdrawn,
        " ",
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.kind,
        trustgate::error::ErrorKind::Malformed,
        "a reason text is required"
    );
    revoke_by_staff(
        &store,
        "carol",
        &serial,
        RevocationReason::PrivilegeWithdrawn,
        "contract ended",
    )
    .await
    .unwrap();
    assert!(revoked(&s)[0].ends_with(":9"));
    let audit = s.vetting().audit(None, 10).await.unwrap();
    let e = audit
        .iter()
        .find(|e| e.action == "certificate.revoke")
        .unwrap();
    assert_eq!(
        (e.actor.as_str(), e.reason.as_deref()),
        ("carol", Some("contract ended"))
    );
    assert!(
        e.organization.is_some(),
        "filed under the certificate's organization"
    );
    let again = revoke_by_staff(
        &store,
        "carol",
        &serial,
        RevocationReason::Superseded,
        "again",
    )
    .await;
    assert_eq!(
        again.unwrap_err().kind,
        trustgate::error::ErrorKind::AlreadyRevoked
    );
}

/// `app::start` binds the CRL listener (port 0 here), runs the generator
/// and serves; the CRL names the bound port; stop drains it.
#[tokio::test]
async fn the_app_publishes_on_its_own_listener() {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = trustgate::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..trustgate::config::Config::default()
    };
    cfg.server.listen = "127.0.0.1:0".parse().unwrap();
    cfg.server.tls = trustgate::config::TlsMode::None;
    cfg.admin.listen = None;
    cfg.publish.listen = Some("127.0.0.1:0".parse().unwrap());
    cfg.publish.crl_shards = 2;
    let running = trustgate::app::start(cfg).await.unwrap();
    let addr = running.publish_addr.unwrap();
    assert_ne!(addr.port(), 0);

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let get = |path: &str| {
        let uri: hyper::Uri = format!("http://{addr}{path}").parse().unwrap();
        let client = client.clone();
        async move {
            let r = client.get(uri).await.unwrap();
            let status = r.status();
            (status, r.into_body().collect().await.unwrap().to_bytes())
        }
    };
    let (status, der) = get("/crl/1.crl").await;
    assert_eq!(status, hyper::StatusCode::OK);
    let want = format!("http://localhost:{}/crl/1.crl", addr.port());
    assert!(
        der.windows(want.len()).any(|w| w == want.as_bytes()),
        "the CRL does not name {want}"
    );
    let (status, _) = get("/intermediate.der").await;
    assert_eq!(status, hyper::StatusCode::OK);
    let (status, _) = get("/crl/2.crl").await;
    assert_eq!(status, hyper::StatusCode::NOT_FOUND);
    tokio::time::timeout(std::time::Duration::from_secs(20), running.stop())
        .await
        .unwrap()
        .unwrap();
}
