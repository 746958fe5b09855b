//! Certificate Transparency (RFC 6962) with certbot and two test logs of
//! different operators (`common::ctlog`, in this process): the
//! certificate chains with `openssl verify`, `openssl x509 -text` shows
//! its two SCTs and Python `cryptography` verifies each with its log's key
//! over `tbs_precertificate_bytes` (`ct_check.py`). With one log down the
//! policy is unmet: certbot fails with the problem naming that log, the
//! precertificate is revocable by serial and listed on its CRL; with the
//! log back, a new order succeeds. And all of an audited CA at once: the
//! key in SoftHSM2, CT and pkilint in the loop, OV and EV.

use std::path::{Path, PathBuf};
use std::process::Command;

use x509_parser::prelude::FromDer;

use crate::common::certbot::certbot_path;
use crate::common::ctlog::CtLog;
use crate::common::pkilint::{self, Pkilint};
use crate::common::server::Setup;
use crate::common::softhsm::SoftHsm;
use crate::common::staff::Level;
use crate::common::x509::{self, Leaf};
use crate::common::{http, Certbot, TestServer};

struct Logs {
    runtime: tokio::runtime::Runtime,
    a: CtLog,
    b: CtLog,
}

fn logs() -> Logs {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let a = runtime.block_on(CtLog::start("test-log-a", "Operator A"));
    let b = runtime.block_on(CtLog::start("test-log-b", "Operator B"));
    Logs { runtime, a, b }
}

fn server(logs: &Logs) -> TestServer {
    TestServer::start_with_publish("regenerate_secs = 1", &ct_toml(logs))
}

fn ct_toml(logs: &Logs) -> String {
    format!(
        "[ct]\ntimeout_secs = 3\n\n{}\n{}",
        logs.a.toml(),
        logs.b.toml()
    )
}

/// `openssl x509 -text` of a PEM file.
fn openssl_text(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `ct_check.py` with the venv's Python (certbot's, which brings
/// `cryptography`): every SCT verifies with one of the logs' keys.
fn python_check(dir: &Path, cert: &Path, chain: &Path, logs: &[&CtLog]) -> String {
    let python = certbot_path().with_file_name("python");
    let mut keys: Vec<PathBuf> = Vec::new();
    for log in logs {
        let path = dir.join(format!("{}.der", log.name));
        std::fs::write(&path, log.public_key_der()).unwrap();
        keys.push(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/ct_check.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(cert)
        .arg(chain)
        .args(&keys)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ct_check.py failed:\n{text}");
    text
}

fn fetch_crl(url: &str) -> Vec<u8> {
    let (port, path) = url
        .strip_prefix("http://localhost:")
        .and_then(|rest| rest.split_once('/'))
        .unwrap_or_else(|| panic!("not a CRL URL of the test server: {url}"));
    let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port.parse().unwrap()));
    let r = http::plain_request(addr, None, "GET", &format!("/{path}"), None)
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(r.status, 200, "GET {url}: {r:?}");
    r.body
}

fn crl_serials(der: &[u8]) -> Vec<String> {
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der).unwrap();
    crl.iter_revoked_certificates()
        .map(|r| r.raw_serial().iter().map(|b| format!("{b:02x}")).collect())
        .collect()
}

/// Two SCTs from two operators: the chain verifies, openssl prints the
/// SCTs, and Python `cryptography` verifies both signatures.
#[test]
fn certbot_gets_a_certificate_with_two_verified_scts() {
    let logs = logs();
    let server = server(&logs);
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "ct");
    certbot.certonly(&eab, &["ct.example.jp"]).assert_success();
    let lineage = certbot.lineage("ct.example.jp");

    x509::openssl_verify(&server.root_pem(), &lineage.chain, &lineage.cert).unwrap();
    let text = openssl_text(&lineage.cert);
    assert!(text.contains("CT Precertificate SCTs"), "{text}");
    assert_eq!(
        text.matches("Signed Certificate Timestamp:").count(),
        2,
        "{text}"
    );
    assert!(!text.contains("Poison"), "{text}");
    let checked = python_check(
        &server.scratch_dir("ct-check"),
        &lineage.cert,
        &lineage.chain,
        &[&logs.a, &logs.b],
    );
    assert!(checked.contains("2 SCTs verified"), "{checked}");
    assert_eq!((logs.a.accepted(), logs.b.accepted()), (1, 1));
}

/// One of two logs down: certbot fails with the problem naming it; the
/// precertificate (which the other log accepted) is revoked by serial and
/// its CRL lists it; with the log back a new order succeeds.
#[test]
fn a_log_down_fails_certbot_and_the_precertificate_is_revocable() {
    let logs = logs();
    let server = server(&logs);
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "ct-down");
    logs.b.down();
    certbot
        .certonly(&eab, &["down.example.jp"])
        .assert_failure()
        .assert_output_contains("test-log-b (connecting")
        .assert_output_contains(
            "the CT policy needs 2 SCTs from at least 2 distinct log operators",
        );

    // The precertificate as the log that was up received it.
    assert_eq!(logs.a.accepted(), 1);
    let dir = server.scratch_dir("precert");
    let pre_pem = dir.join("precert.pem");
    let pre_der = logs.a.accepted_der(0);
    std::fs::write(
        &pre_pem,
        pem::encode(&pem::Pem::new("CERTIFICATE", pre_der)),
    )
    .unwrap();
    assert!(openssl_text(&pre_pem).contains("CT Precertificate Poison: critical"));
    let pre = Leaf::read(&pre_pem);
    let serial = pre.serial.replace(':', "");

    server
        .staff()
        .revoke_serial(&serial, "superseded", "CT policy unmet; never used");
    let crl_url = &pre.crl_urls[0];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !crl_serials(&fetch_crl(crl_url)).contains(&serial) {
        assert!(
            std::time::Instant::now() < deadline,
            "the CRL does not list {serial}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    logs.runtime.block_on(logs.b.up());
    certbot
        .certonly(&eab, &["down.example.jp"])
        .assert_success();
    let lineage = certbot.lineage("down.example.jp");
    assert_eq!(
        openssl_text(&lineage.cert)
            .matches("Signed Certificate Timestamp:")
            .count(),
        2
    );
    assert_ne!(Leaf::read(&lineage.cert).serial, pre.serial);
}

/// The audited CA of issue #23 in one run: the intermediate's key in a
/// SoftHSM2 token, every precertificate logged to two test logs of
/// different operators, pkilint in the loop. For OV and EV: certbot's
/// certificate verifies against the served chain, carries two SCTs that
/// Python `cryptography` verifies, and pkilint's command line finds
/// nothing in it nor in its precertificate (linted as one).
#[test]
fn audited_ca_key_in_softhsm_ct_and_pkilint_for_ov_and_ev() {
    let logs = logs();
    let linter = Pkilint::start();
    let hsm = SoftHsm::new();
    let extra = format!(
        "[ca]\nlinter_url = \"{}\"\nlinter_timeout_secs = 20\n{}\n{}",
        linter.url(),
        hsm.ca_lines(),
        ct_toml(&logs)
    );
    let init = |dir: &Path| drop(hsm.init_ca(dir));
    let conf = hsm.conf();
    let setup = Setup {
        prepare: Some(&init),
        env: &[("SOFTHSM2_CONF", conf.as_str())],
    };
    // A public name in the URLs, as in production: pkilint refuses
    // `localhost` (an internal name).
    let server = TestServer::start_prepared("base_url = \"http://crl.example.jp\"", &extra, &setup);
    hsm.assert_private_key_stays_in_the_token();
    let staff = server.staff();
    for (i, (level, profile, domain)) in [
        (Level::Ov, "ov", "ov.example.jp"),
        (Level::Ev, "ev", "ev.example.jp"),
    ]
    .into_iter()
    .enumerate()
    {
        let org = staff.create_organization(level, &[domain]);
        staff.vet_and_approve(org);
        let eab = staff.create_eab(org, false);
        let certbot = Certbot::new(&server, profile);
        let name = format!("www.{domain}");
        certbot
            .certonly_profile(&eab, &[&name], profile)
            .assert_success();
        let lineage = certbot.lineage(&name);
        x509::openssl_verify(&server.root_pem(), &lineage.chain, &lineage.cert).unwrap();
        let checked = python_check(
            &server.scratch_dir(&format!("{profile}-sct")),
            &lineage.cert,
            &lineage.chain,
            &[&logs.a, &logs.b],
        );
        assert!(checked.contains("2 SCTs verified"), "{checked}");
        let kind = profile.to_ascii_uppercase();
        let findings =
            pkilint::cli_certificate_findings(&lineage.cert, &format!("{kind}-FINAL-CERTIFICATE"));
        assert!(findings.is_empty(), "pkilint {kind} final: {findings}");

        let pre = server.scratch_dir(profile).join("precert.pem");
        let der = logs.a.accepted_der(i);
        std::fs::write(&pre, pem::encode(&pem::Pem::new("CERTIFICATE", der))).unwrap();
        let findings = pkilint::cli_certificate_findings(&pre, &format!("{kind}-PRE-CERTIFICATE"));
        assert!(
            findings.is_empty(),
            "pkilint {kind} precertificate: {findings}"
        );
        assert_eq!(
            Leaf::read(&pre).serial,
            Leaf::read(&lineage.cert).serial,
            "the precertificate and the certificate share the serial"
        );
    }
}
