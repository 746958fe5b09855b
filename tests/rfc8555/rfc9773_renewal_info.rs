//! RFC 9773: ACME Renewal Information and `replaces`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hyper::{Method, StatusCode};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_parser::prelude::{parse_x509_certificate, ParsedExtension};

use crate::support::*;

/// base64url(AKI keyIdentifier) "." base64url(serial).
fn cert_id(der: &[u8]) -> String {
    let (_, cert) = parse_x509_certificate(der).unwrap();
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .unwrap();
    format!("{}.{}", B64.encode(aki), B64.encode(cert.raw_serial()))
}

fn validity(der: &[u8]) -> (i64, i64) {
    let (_, cert) = parse_x509_certificate(der).unwrap();
    (
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    )
}

fn ts(v: &serde_json::Value) -> i64 {
    OffsetDateTime::parse(v.as_str().unwrap(), &Rfc3339)
        .unwrap()
        .unix_timestamp()
}

#[tokio::test]
async fn renewal_info_suggests_the_last_part_of_validity_and_now_once_revoked() {
    let s = Server::start_with(|c| {
        c.acme.ari_explanation_url = Some("https://ca.example.net/renewal".into())
    })
    .await;
    let mut c = Client::new(&s).await;
    c.register(&s).await;
    let base = c.dir("renewalInfo");
    assert!(base.ends_with("/acme/renewal-info"));
    let key = rcgen::KeyPair::generate().unwrap();
    let (der, _) = issue(&s, &c, &["a.example.jp"], &key).await;
    let url = format!("{base}/{}", cert_id(&der));
    let r = send(&c.http, Method::GET, &url, None, vec![]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("retry-after").as_deref(), Some("21600"));
    let w = r.json();
    let (nb, na) = validity(&der);
    let (start, end) = (
        ts(&w["suggestedWindow"]["start"]),
        ts(&w["suggestedWindow"]["end"]),
    );
    let life = na - nb;
    assert!((start - (nb + life * 2 / 3)).abs() <= 1, "{w}");
    assert!(start < end && end < na, "{w}");
    assert!(
        w.get("explanationURL").is_none(),
        "default window needs no explanation"
    );

    c.post(
        &c.dir("revokeCert"),
        Some(&json!({"certificate": b64(&der), "reason": 4})),
    )
    .await;
    let w = send(&c.http, Method::GET, &url, None, vec![]).await.json();
    assert!(
        ts(&w["suggestedWindow"]["end"]) < OffsetDateTime::now_utc().unix_timestamp(),
        "{w}"
    );
    assert_eq!(w["explanationURL"], "https://ca.example.net/renewal");

    let r = send(
        &c.http,
        Method::GET,
        &format!("{base}/AAAA.AAAA"),
        None,
        vec![],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    send(&c.http, Method::GET, &format!("{base}/nodot"), None, vec![])
        .await
        .problem("malformed");
}

#[tokio::test]
async fn expiring_vetting_moves_the_window_earlier() {
    let (s, c) = registered_with(|c| c.vetting.max_age_days = 30).await;
    let (der, _) = issue_fresh(&s, &c, &["a.example.jp"]).await;
    let base = c.dir("renewalInfo");
    let w = send(
        &c.http,
        Method::GET,
        &format!("{base}/{}", cert_id(&der)),
        None,
        vec![],
    )
    .await
    .json();
    let end = ts(&w["suggestedWindow"]["end"]);
    let in_30_days = OffsetDateTime::now_utc().unix_timestamp() + 30 * 86400;
    assert!(end < in_30_days, "renew before the vetting expires: {w}");
}

#[tokio::test]
async fn replaces_is_checked() {
    let (s, c) = registered().await;
    let (der, _) = issue_fresh(&s, &c, &["a.example.jp"]).await;
    let id = cert_id(&der);
    let ids = json!([{"type": "dns", "value": "a.example.jp"}]);
    let mut other = Client::new(&s).await;
    other.register(&s).await;
    let r = other
        .post(
            &other.dir("newOrder"),
            Some(&json!({"identifiers": ids, "replaces": id})),
        )
        .await;
    r.problem("unauthorized");
    let r = c
        .post(
            &c.dir("newOrder"),
            Some(&json!({"identifiers": ids, "replaces": id})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["replaces"], id);
    let r = c
        .post(
            &c.dir("newOrder"),
            Some(&json!({"identifiers": ids, "replaces": id})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    r.problem("alreadyReplaced");
}
