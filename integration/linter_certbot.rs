//! The external pre-issuance linter (BR 4.3.1.2) in the loop: pkilint's
//! REST service, a process of its own, lints every certificate before the
//! CA signs it and every CRL before it is published. certbot gets OV and
//! EV certificates that pkilint's command line finds clean too; with the
//! linter down finalize is refused as retryable (503) and nothing is
//! issued, and once it is back certbot succeeds; a certificate pkilint
//! flags is refused with serverInternal and the findings are in the
//! order's evidence.

use std::path::Path;

use serde_json::Value;

use crate::common::issued::{assert_issued, assert_nothing_issued, EV_POLICY, OV_POLICY};
use crate::common::pkilint::{self, Pkilint};
use crate::common::server::free_port;
use crate::common::staff::{Level, Organization, Staff};
use crate::common::{http, Certbot, TestServer};

/// Where the certificates say relying parties find CRLs and the issuer:
/// a public name, as in production (pkilint refuses `localhost`, an
/// internal name); the tests fetch from the publish listener itself.
const PUBLISH: &str = "base_url = \"http://crl.example.jp\"";

/// A server with the linter at `url` in the loop.
fn server_with_linter(url: &str) -> TestServer {
    let extra = format!("[ca]\nlinter_url = \"{url}\"\nlinter_timeout_secs = 20\n");
    TestServer::start_with_publish(PUBLISH, &extra)
}

/// Whole orders of `org`, newest first, with their evidence.
fn orders(staff: &Staff, org: Organization) -> Vec<Value> {
    staff
        .organization_orders(org)
        .iter()
        .map(|o| staff.order(o["id"].as_i64().expect("order id")))
        .collect()
}

/// The CRL at `url`, fetched from `server`'s publish listener, written to
/// `dir`.
fn fetch_crl(server: &TestServer, url: &str, dir: &Path) -> std::path::PathBuf {
    let path = url
        .strip_prefix("http://crl.example.jp")
        .unwrap_or_else(|| panic!("not a CRL URL of the test server: {url}"));
    let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, server.publish_port()));
    let r = http::plain_request(addr, None, "GET", path, None).unwrap();
    assert_eq!(r.status, 200, "GET {url}: {r:?}");
    let file = dir.join("shard.crl");
    std::fs::write(&file, &r.body).unwrap();
    file
}

/// OV and EV through certbot with pkilint in the loop: issued, lint clean
/// by pkilint's command line (no error, no warning), the report in the
/// order's evidence; the CRL the certificate names is clean under the
/// CA/B Forum CRL profile too.
#[test]
fn ov_and_ev_certificates_lint_clean_with_pkilint_in_the_loop() {
    let linter = Pkilint::start();
    let server = server_with_linter(&linter.url());
    let staff = server.staff();
    for (level, profile, policy, kind, domain) in [
        (
            Level::Ov,
            "ov",
            OV_POLICY,
            "OV-FINAL-CERTIFICATE",
            "ov.example.jp",
        ),
        (
            Level::Ev,
            "ev",
            EV_POLICY,
            "EV-FINAL-CERTIFICATE",
            "ev.example.jp",
        ),
    ] {
        let org = staff.create_organization(level, &[domain]);
        staff.vet_and_approve(org);
        let eab = staff.create_eab(org, false);
        let certbot = Certbot::new(&server, profile);
        let name = format!("www.{domain}");
        certbot
            .certonly_profile(&eab, &[&name], profile)
            .assert_success();
        let lineage = certbot.lineage(&name);
        let leaf = assert_issued(&server, &lineage, &[&name], policy);
        let findings = pkilint::cli_certificate_findings(&lineage.cert, kind);
        assert!(findings.is_empty(), "pkilint {kind}: {findings}");

        let [order] = orders(staff, org).try_into().unwrap();
        let report = &order["pre_issuance_lint"];
        assert_eq!(report["linter"], "pkilint", "{order}");
        assert_eq!(report["certificate_type"], kind, "{order}");
        assert_eq!(report["refused"], false, "{order}");

        let [crl_url] = leaf.crl_urls.as_slice() else {
            panic!("one CRL URL expected: {leaf:?}")
        };
        let crl = fetch_crl(&server, crl_url, &server.scratch_dir(profile));
        let findings = pkilint::cli_crl_findings(&crl);
        assert!(findings.is_empty(), "pkilint CRL (BR profile): {findings}");
    }
}

/// The linter down: finalize answers 503 serverInternal with Retry-After
/// (RFC 8555 clients retry), nothing is signed, the order stays ready;
/// with the linter back on the same port, certbot's retry succeeds.
#[test]
fn linter_down_is_retryable_and_a_retry_succeeds_once_it_is_back() {
    let port = free_port();
    let server = server_with_linter(&format!("http://127.0.0.1:{port}"));
    let staff = server.staff();
    let org = staff.create_organization(Level::Ov, &["example.jp"]);
    staff.vet_and_approve(org);
    let eab = staff.create_eab(org, false);
    let certbot = Certbot::new(&server, "down");
    let name = "down.example.jp";

    let run = certbot.certonly(&eab, &[name]);
    run.assert_failure();
    run.assert_output_contains("pre-issuance linting is temporarily unavailable");
    let log = certbot.last_log();
    assert!(log.contains("HTTP 503"), "no 503 in certbot's log:\n{log}");
    assert!(
        log.contains("retry-after: 5"),
        "no Retry-After in certbot's log:\n{log}"
    );
    assert_nothing_issued(&certbot, name, &run);
    let [order] = orders(staff, org).try_into().unwrap();
    assert_eq!(order["status"], "ready", "{order}");
    assert!(order["certificate"].is_null(), "{order}");

    let _linter = Pkilint::start_on(port);
    certbot.certonly(&eab, &[name]).assert_success();
    assert_issued(&server, &certbot.lineage(name), &[name], OV_POLICY);
}

/// A certificate pkilint flags (here: the OV certificate linted as EV,
/// through a proxy the test puts in front of pkilint, so the findings are
/// pkilint's own while the server has no switch for it): refused with
/// serverInternal, nothing issued, the ERROR findings in the order's
/// evidence.
#[test]
fn a_certificate_pkilint_flags_is_refused_with_the_findings_in_evidence() {
    let linter = Pkilint::start();
    let proxy = pkilint::rewriting_proxy(linter.port(), "OV-FINAL", "EV-FINAL");
    let server = server_with_linter(&format!("http://127.0.0.1:{proxy}"));
    let staff = server.staff();
    let org = staff.create_organization(Level::Ov, &["example.jp"]);
    staff.vet_and_approve(org);
    let eab = staff.create_eab(org, false);
    let certbot = Certbot::new(&server, "flagged");
    let name = "flagged.example.jp";

    let run = certbot.certonly(&eab, &[name]);
    run.assert_failure();
    let log = certbot.last_log();
    assert!(
        log.contains("urn:ietf:params:acme:error:serverInternal"),
        "certbot's log:\n{log}"
    );
    assert_nothing_issued(&certbot, name, &run);

    let [order] = orders(staff, org).try_into().unwrap();
    assert_eq!(order["status"], "ready", "{order}");
    let report = &order["pre_issuance_lint"];
    assert_eq!(report["refused"], true, "{order}");
    let errors: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "ERROR" || f["severity"] == "FATAL")
        .collect();
    assert!(!errors.is_empty(), "{report}");
    assert!(
        errors
            .iter()
            .all(|f| f["code"].as_str().is_some_and(|c| !c.is_empty())),
        "{report}"
    );
    let log = server.log_tail(400);
    assert!(log.contains("pkilint refused a certificate"), "{log}");
}
