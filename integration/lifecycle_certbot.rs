//! A certificate's life after issuance, with certbot: unattended renewal
//! steered by ACME Renewal Information (RFC 9773), and revocation
//! (RFC 8555 §7.6) reaching the CRL the certificate points to (RFC 5280
//! §4.2.1.13), as openssl sees it.

use std::time::{Duration, Instant};

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::common::certbot::Lineage;
use crate::common::http::{self, Response};
use crate::common::issued::{assert_issued, OV_POLICY};
use crate::common::x509::{self, Leaf};
use crate::common::{Certbot, TestServer};

/// How long a revocation may take to reach the CRL with
/// `regenerate_secs = 1`.
const CRL_DEADLINE: Duration = Duration::from_secs(10);

/// RFC 9773 with certbot 5.8, which consults `renewalInfo` on every
/// `certbot renew` (and honours its Retry-After):
///
/// 1. A fresh certificate: the window is days 60–75 of 90, certbot asks
///    for it and renews nothing.
/// 2. The subscriber revokes it (account key, `superseded`); the server's
///    window moves into the past at once, but certbot does not ask again
///    before the Retry-After (6 h) it stored in the renewal configuration,
///    so an immediate `certbot renew` still renews nothing.
/// 3. Once that Retry-After has passed (simulated by backdating what
///    certbot stored), `certbot renew` asks again, finds the window past
///    and renews: a new certificate with a new serial.
#[test]
fn renewal_follows_the_ari_window() {
    let server = TestServer::start();
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "ari");
    let name = "ari.example.jp";
    certbot.certonly(&eab, &[name]).assert_success();
    let lineage = certbot.lineage(name);
    let first = assert_ov(&server, &lineage, name);
    let ari_get = format!(
        "GET request to {}/{}",
        renewal_info_url(&server),
        first.ari_id
    );

    // 1. Not due: certbot asked the server, which said days 60–75.
    let window = renewal_info(&server, &first);
    let now = OffsetDateTime::now_utc();
    assert!(
        window.0 > now + time::Duration::days(59) && window.1 < now + time::Duration::days(76),
        "a fresh 90-day certificate's window is {window:?}"
    );
    let run = certbot.renew();
    run.assert_success()
        .assert_output_contains("Certificate not yet due for renewal");
    let log = certbot.last_log();
    assert!(
        log.contains(&ari_get),
        "certbot never asked {ari_get}\n{run}"
    );
    assert_serial(&lineage, &first, &run);
    let conf = read(&certbot.renewal_conf(name));
    assert!(
        conf.contains("ari_retry_after"),
        "certbot stored no ARI Retry-After:\n{conf}"
    );

    // 2. Revoked: the server's window is in the past, but certbot keeps
    // to the Retry-After it was given and does not ask yet.
    certbot
        .revoke_lineage(name, "superseded")
        .assert_success()
        .assert_output_contains("Congratulations! You have successfully revoked");
    let window = renewal_info(&server, &first);
    assert!(
        window.1 < OffsetDateTime::now_utc(),
        "a revoked certificate's window is {window:?}, not in the past"
    );
    let run = certbot.renew();
    run.assert_success()
        .assert_output_contains("Certificate not yet due for renewal");
    let log = certbot.last_log();
    assert!(
        log.contains("Skipped ACME Renewal Info check because ari_retry_after")
            && !log.contains(&ari_get),
        "certbot asked for renewal information before its Retry-After\n{run}"
    );
    assert_serial(&lineage, &first, &run);

    // 3. The Retry-After has passed: certbot asks, and renews.
    backdate_ari_retry_after(&certbot.renewal_conf(name));
    let run = certbot.renew();
    run.assert_success()
        .assert_output_contains("Congratulations, all renewals succeeded");
    let log = certbot.last_log();
    assert!(
        log.contains(&ari_get),
        "certbot never asked {ari_get}\n{run}"
    );
    let second = assert_ov(&server, &lineage, name);
    assert_ne!(first.serial, second.serial, "not renewed\n{run}");
    assert_eq!(
        certbot.archived_certificates().len(),
        2,
        "expected the revoked and the renewed certificate\n{run}"
    );
    let window = renewal_info(&server, &second);
    assert!(
        window.0 > OffsetDateTime::now_utc() + time::Duration::days(59),
        "the replacement's window is {window:?}"
    );
}

/// RFC 8555 §7.6 with the certificate's own key (no account: certbot signs
/// with a jwk), reason keyCompromise; the CRL named in the certificate's
/// CRL distribution point, fetched from the publish listener, first lets
/// `openssl verify -crl_check` pass (it is a valid CRL of the issuer) and,
/// within the regeneration interval, makes it fail with "certificate
/// revoked", the entry carrying the reason.
#[test]
fn revocation_with_the_certificate_key_reaches_the_crl() {
    let server = TestServer::start_with_publish("regenerate_secs = 1", "");
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "crl");
    let name = "crl.example.jp";
    certbot.certonly(&eab, &[name]).assert_success();
    let lineage = certbot.lineage(name);
    let leaf = assert_ov(&server, &lineage, name);
    let [crl_url] = leaf.crl_urls.as_slice() else {
        panic!("expected one CRL distribution point: {leaf:?}");
    };
    assert!(
        crl_url.starts_with("http://localhost:") && crl_url.ends_with(".crl"),
        "{crl_url}"
    );
    let verify = |crl: &[u8]| {
        x509::openssl_verify_with_crl(&server.root_pem(), &lineage.chain, &lineage.cert, crl)
    };

    let crl = fetch_crl(crl_url);
    let (ok, out) = verify(&crl);
    assert!(
        ok,
        "openssl rejects the certificate before revocation: {out}"
    );

    certbot
        .revoke_with_cert_key(&lineage.cert, &lineage.privkey, "keycompromise")
        .assert_success()
        .assert_output_contains("Congratulations! You have successfully revoked");

    let deadline = Instant::now() + CRL_DEADLINE;
    let crl = loop {
        let crl = fetch_crl(crl_url);
        let (ok, out) = verify(&crl);
        if !ok {
            assert!(
                out.contains("certificate revoked"),
                "openssl rejects the certificate for another reason: {out}"
            );
            break crl;
        }
        assert!(
            Instant::now() < deadline,
            "the revocation is not on {crl_url} after {CRL_DEADLINE:?}\n{}",
            server.log_tail(100)
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let text = x509::openssl_crl_text(&crl);
    let serial = leaf.serial.replace(':', "").to_ascii_uppercase();
    assert!(
        text.contains(&format!("Serial Number: {serial}")) && text.contains("Key Compromise"),
        "no keyCompromise entry for {serial} in the CRL:\n{text}"
    );
}

fn assert_ov(server: &TestServer, lineage: &Lineage, name: &str) -> Leaf {
    assert_issued(server, lineage, &[name], OV_POLICY)
}

/// The lineage still holds the certificate `expected`.
fn assert_serial(lineage: &Lineage, expected: &Leaf, run: &impl std::fmt::Display) {
    assert_eq!(
        Leaf::read(&lineage.cert).serial,
        expected.serial,
        "the certificate was replaced\n{run}"
    );
    assert_eq!(
        read(&lineage.cert).matches("BEGIN CERTIFICATE").count(),
        1,
        "{}",
        lineage.cert.display()
    );
}

/// The directory's `renewalInfo` URL.
fn renewal_info_url(server: &TestServer) -> String {
    let dir = acme_get(server, "/directory").json();
    dir["renewalInfo"]
        .as_str()
        .unwrap_or_else(|| panic!("no renewalInfo in {dir}"))
        .to_owned()
}

/// The suggested window the server gives `leaf` now (RFC 9773 §4.2).
fn renewal_info(server: &TestServer, leaf: &Leaf) -> (OffsetDateTime, OffsetDateTime) {
    let url = format!("{}/{}", renewal_info_url(server), leaf.ari_id);
    let path = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or_else(|| panic!("not a URL: {url}"));
    let r = acme_get(server, path);
    assert!(
        r.header("retry-after").is_some(),
        "no Retry-After on {url}: {r:?}"
    );
    let info: Value = r.json();
    let at = |k: &str| {
        let text = info["suggestedWindow"][k]
            .as_str()
            .unwrap_or_else(|| panic!("no suggestedWindow.{k} in {info}"));
        OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text}: {e}"))
    };
    let window = (at("start"), at("end"));
    assert!(window.0 <= window.1, "{info}");
    window
}

fn acme_get(server: &TestServer, path: &str) -> Response {
    let r = http::request(&server.root_pem(), server.port(), "GET", path, None)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(r.status, 200, "GET {path}: {r:?}");
    r
}

/// GET of a CRL distribution point on the publish listener, DER.
fn fetch_crl(url: &str) -> Vec<u8> {
    let (port, path) = url
        .strip_prefix("http://localhost:")
        .and_then(|rest| rest.split_once('/'))
        .unwrap_or_else(|| panic!("not a CRL URL of the test server: {url}"));
    let port: u16 = port.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
    let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
    let r = http::plain_request(addr, None, "GET", &format!("/{path}"), None)
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(r.status, 200, "GET {url}: {r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("application/pkix-crl"),
        "{url}"
    );
    r.body
}

/// What certbot would find once the ARI Retry-After it stored (the server
/// says 6 h) has passed: the stored time moved into the past.
fn backdate_ari_retry_after(conf: &std::path::Path) {
    let text = read(conf);
    let mut found = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("ari_retry_after") {
                found = true;
                "ari_retry_after = 2000-01-01T00:00:00".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert!(found, "no ari_retry_after in {}:\n{text}", conf.display());
    std::fs::write(conf, out.join("\n") + "\n")
        .unwrap_or_else(|e| panic!("writing {}: {e}", conf.display()));
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
