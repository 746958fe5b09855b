//! Certificate Transparency (RFC 6962) through finalize: the serial is
//! reserved and the precertificate stored before any log sees it, the
//! final certificate embeds the logs' SCTs, and a policy the logs cannot
//! meet leaves the order invalid with a problem that names the failed
//! log, and a precertificate that staff can revoke and the CRL lists.

use hyper::StatusCode;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use crate::support::*;

#[path = "../../integration/common/ctlog.rs"]
mod ctlog;
use ctlog::CtLog;

async fn two_logs() -> (CtLog, CtLog) {
    (
        CtLog::start("test-log-a", "Operator A").await,
        CtLog::start("test-log-b", "Operator B").await,
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(b: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, b)
        .as_ref()
        .to_vec()
}

/// The log ids of the SCTs a certificate embeds.
fn sct_log_ids(der: &[u8]) -> Vec<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SCT(list) => {
                assert!(!e.critical);
                Some(list.iter().map(|s| s.id.key_id.to_vec()).collect())
            }
            _ => None,
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_certificate_embeds_an_sct_from_each_operator() {
    let (a, b) = two_logs().await;
    let (ca, cb) = (a.config(), b.config());
    let (s, c) = registered_with(move |cfg| cfg.ct.logs = vec![ca, cb]).await;
    let (der, _) = issue_fresh(&s, &c, &["www.example.jp"]).await;
    assert_eq!(
        sct_log_ids(&der),
        [sha256(&a.public_key_der()), sha256(&b.public_key_der())]
    );
    assert_eq!((a.accepted(), b.accepted()), (1, 1));

    // The serial was reserved and the precertificate stored, under the
    // certificate's serial.
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let serial = hex(cert.raw_serial());
    assert_eq!(
        s.sql_text("SELECT serial AS t FROM serials"),
        std::slice::from_ref(&serial)
    );
    assert_eq!(
        s.sql_text("SELECT serial AS t FROM precertificates"),
        std::slice::from_ref(&serial)
    );
    assert_eq!(s.sql_text("SELECT serial AS t FROM certificates"), [serial]);
}

#[tokio::test]
async fn without_logs_there_are_no_scts_and_no_precertificates() {
    let (s, c) = registered().await;
    let (der, _) = issue_fresh(&s, &c, &["www.example.jp"]).await;
    assert!(sct_log_ids(&der).is_empty());
    assert_eq!(s.count("serials"), 1);
    assert_eq!(s.count("precertificates"), 0);
}

#[tokio::test]
async fn a_log_down_fails_the_order_and_leaves_a_revocable_precertificate() {
    let (a, b) = two_logs().await;
    let (ca, cb) = (a.config(), b.config());
    let (s, c) = registered_with(move |cfg| {
        cfg.ct.logs = vec![ca, cb];
        cfg.ct.timeout_secs = 2;
        cfg.publish.regenerate_secs = 1;
    })
    .await;
    b.down();
    let names = ["www.example.jp"];
    let order = create_order(&c, &names).await;
    c.validate_order(&s, &order).await;
    let r = c.finalize(&order, &names).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    let p = r.problem("serverInternal");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("test-log-b (connecting"), "{detail}");
    assert!(
        detail.contains("needs 2 SCTs from at least 2 distinct log operators"),
        "{detail}"
    );
    assert!(!detail.contains("test-log-a ("), "{detail}");

    // The order is invalid with that problem; no certificate exists.
    let url = order_url(&order, &c);
    let now = c.post(&url, None).await.json();
    assert_eq!(now["status"], "invalid");
    assert_eq!(now["error"]["detail"].as_str(), Some(detail));
    assert_eq!(s.count("certificates"), 0);

    // The precertificate was logged where possible and is on record.
    assert_eq!(a.accepted(), 1);
    let serials = s.sql_text("SELECT serial AS t FROM precertificates");
    assert_eq!(serials.len(), 1);
    let serial = serials[0].clone();
    let ders: Vec<Vec<u8>> = with_db(&s.cfg.database_url(), |db| {
        #[derive(diesel::QueryableByName)]
        struct D {
            #[diesel(sql_type = diesel::sql_types::Binary)]
            der: Vec<u8>,
        }
        db.load::<D>("SELECT der FROM precertificates")
            .into_iter()
            .map(|d| d.der)
            .collect()
    });
    let (_, pre) = x509_parser::parse_x509_certificate(&ders[0]).unwrap();
    assert_eq!(hex(pre.raw_serial()), serial);

    // Staff revoke it by serial; its CRL shard lists it.
    let store = trustgate::app::open_store(&s.cfg).unwrap();
    trustgate::ra::revocation::revoke_by_staff(
        &store,
        "carol",
        &serial,
        trustgate::core::RevocationReason::Superseded,
        "CT policy unmet; the precertificate is not used",
    )
    .await
    .unwrap();
    let crl_url = crl_url(&ders[0]);
    let mut listed = false;
    for _ in 0..50 {
        let crl = send(&c.http, hyper::Method::GET, &crl_url, None, vec![]).await;
        if crl.status == StatusCode::OK && crl_serials(&crl.body).contains(&serial) {
            listed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(listed, "the CRL lists the revoked precertificate");
    assert_eq!(
        s.sql_text(
            "SELECT action AS t FROM audit_events WHERE action LIKE 'precertificate%' ORDER BY id"
        ),
        ["precertificate.issue", "precertificate.revoke"]
    );

    // With the log back, a new order is issued with both SCTs.
    b.up().await;
    let (der, _) = issue_fresh(&s, &c, &names).await;
    assert_eq!(sct_log_ids(&der).len(), 2);
}

fn crl_url(der: &[u8]) -> String {
    use x509_parser::extensions::{DistributionPointName, GeneralName};
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    for e in cert.extensions() {
        if let ParsedExtension::CRLDistributionPoints(p) = e.parsed_extension() {
            if let Some(DistributionPointName::FullName(names)) = &p.points[0].distribution_point {
                if let GeneralName::URI(u) = &names[0] {
                    return u.to_string();
                }
            }
        }
    }
    panic!("no CRLDP");
}

fn crl_serials(der: &[u8]) -> Vec<String> {
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der).unwrap();
    crl.iter_revoked_certificates()
        .map(|r| hex(r.raw_serial()))
        .collect()
}
