//! Test helpers shared by the `ca` unit tests: CSRs from rcgen and from the
//! openssl CLI, and a development hierarchy in a temporary directory.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{CertificateParams, DistinguishedName, KeyPair};
use time::{Duration, OffsetDateTime};

use super::profile::Profile;
use super::{CertificateAuthority, EvSubject, IssuanceRequest, Serial, SubjectInfo};

/// A DER CSR made by rcgen with SAN-only names.
pub fn rcgen_csr(names: &[&str], key: &KeyPair) -> Vec<u8> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.serialize_request(key).unwrap().der().to_vec()
}

/// Whether the openssl CLI runs here; tests that need it return early
/// (with a note on stderr) when it does not.
pub fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("openssl CLI not available; skipping the part of this test that needs it");
    }
    ok
}

/// `openssl req -new -newkey <newkey> -nodes <args>`, DER output.
pub fn openssl_csr(newkey: &str, args: &[&str]) -> Option<Vec<u8>> {
    if !have_openssl() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("csr.der");
    let key = dir.path().join("key.pem");
    let status = Command::new("openssl")
        .args(["req", "-new", "-newkey", newkey, "-nodes", "-keyout"])
        .arg(&key)
        .args(["-outform", "DER", "-out"])
        .arg(&out)
        .args(args)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "openssl req {newkey} {args:?} failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    Some(std::fs::read(out).unwrap())
}

/// A development hierarchy in a temporary directory.
pub struct TestCa {
    pub dir: tempfile::TempDir,
    pub ca: CertificateAuthority,
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let (root, cert, key) = Self::paths(dir.path());
        super::dev::generate_hierarchy("trustgate Test", &root, &cert, &key).unwrap();
        let ca = CertificateAuthority::load(&root, &cert, &key).unwrap();
        TestCa { dir, ca }
    }

    pub fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        (
            dir.join("ca/root.pem"),
            dir.join("ca/intermediate.pem"),
            dir.join("ca/intermediate.key"),
        )
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

/// A DV request for `names` with a fresh P-256 key, valid 90 days.
pub fn request(names: &[&str], public_key_der: Vec<u8>) -> IssuanceRequest {
    let now = OffsetDateTime::now_utc();
    IssuanceRequest {
        public_key_der,
        names: names.iter().map(|s| s.to_string()).collect(),
        profile: Profile::Dv,
        not_before: now - Duration::minutes(1),
        not_after: now + Duration::days(90),
        serial: Serial::random().unwrap(),
        crl_url: Some("http://crl.trustgate.test/1.crl".into()),
        issuer_url: Some("http://trustgate.test/intermediate.der".into()),
        subject: None,
    }
}

/// A Japanese OV organization: UTF-8 O, ST and L.
pub fn ov_subject() -> SubjectInfo {
    SubjectInfo {
        organization: "例示株式会社".into(),
        country: "JP".into(),
        state_or_province: Some("東京都".into()),
        locality: Some("千代田区".into()),
        ev: None,
    }
}

/// The OV organization with EV fields: a 13-digit corporate number,
/// incorporated in Tokyo.
pub fn ev_subject() -> SubjectInfo {
    SubjectInfo {
        ev: Some(EvSubject {
            business_category: "Private Organization".into(),
            serial_number: "0100-01-012345".into(),
            jurisdiction_country: "JP".into(),
            jurisdiction_state_or_province: Some("Tokyo".into()),
            jurisdiction_locality: None,
        }),
        ..ov_subject()
    }
}

/// `request` with the `ov` or `ev` profile and the matching subject.
pub fn vetted_request(
    profile: Profile,
    names: &[&str],
    public_key_der: Vec<u8>,
) -> IssuanceRequest {
    let subject = match profile {
        Profile::Ev => Some(ev_subject()),
        Profile::Ov => Some(ov_subject()),
        Profile::Dv => None,
    };
    IssuanceRequest {
        profile,
        subject,
        ..request(names, public_key_der)
    }
}

/// `openssl x509 -text -noout` of a PEM certificate; None without openssl.
pub fn openssl_text(pem: &str) -> Option<String> {
    if !have_openssl() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cert.pem");
    std::fs::write(&path, pem).unwrap();
    let out = Command::new("openssl")
        .args([
            "x509",
            "-text",
            "-noout",
            "-nameopt",
            "utf8,sep_comma_plus_space",
            "-in",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `openssl verify` of `leaf` against the test hierarchy; None without
/// openssl, else (success, output).
pub fn openssl_verify(ca: &TestCa, leaf_pem: &str, extra: &[&str]) -> Option<(bool, String)> {
    if !have_openssl() {
        return None;
    }
    let root = ca.write("verify-root.pem", ca.ca.root_pem());
    let inter = ca.write("verify-intermediate.pem", ca.ca.intermediate_pem());
    let leaf = ca.write("verify-leaf.pem", leaf_pem);
    let out = Command::new("openssl")
        .arg("verify")
        .args(extra)
        .arg("-CAfile")
        .arg(&root)
        .arg("-untrusted")
        .arg(&inter)
        .arg(&leaf)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}
