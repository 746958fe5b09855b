//! Test helpers shared by the `ca` unit tests: CSRs from rcgen and from the
//! openssl CLI, and a development hierarchy in a temporary directory.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{CertificateParams, DistinguishedName, KeyPair};
use time::{Duration, OffsetDateTime};

use super::profile::Profile;
use super::sign::CertificateSpec;
use super::{CertificateAuthority, EvSubject, IssuerUrls, Serial, Settings, SubjectInfo};

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
        super::dev::generate_hierarchy(
            "trustgate Test",
            &root,
            &cert,
            &key,
            crate::core::Clock::system().now(),
        )
        .unwrap();
        let ca = CertificateAuthority::load(&root, &cert, &key, settings()).unwrap();
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

/// The test CA's rules: 90 days, a minute's backdating, two CRL shards.
pub fn settings() -> Settings {
    let crls = (0..2)
        .map(|s| format!("http://crl.trustgate.jp/{s}.crl"))
        .collect();
    Settings {
        validity: Duration::days(90),
        backdate: Duration::minutes(1),
        urls: IssuerUrls::new("http://trustgate.jp/intermediate.der".into(), crls).unwrap(),
    }
}

/// A DV certificate for `names` with a fresh P-256 key, valid 90 days.
pub fn spec(names: &[&str], public_key_der: Vec<u8>) -> CertificateSpec {
    let now = OffsetDateTime::now_utc();
    CertificateSpec {
        public_key_der,
        names: names.iter().map(|s| s.to_string()).collect(),
        profile: Profile::Dv,
        not_before: now - Duration::minutes(1),
        not_after: now + Duration::days(90),
        serial: Serial::random().unwrap(),
        crl_url: Some("http://crl.trustgate.jp/1.crl".into()),
        issuer_url: Some("http://trustgate.jp/intermediate.der".into()),
        subject: None,
        ct: super::CtExtension::None,
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

/// `spec` with the `ov` or `ev` profile and the matching subject.
pub fn vetted_spec(profile: Profile, names: &[&str], public_key_der: Vec<u8>) -> CertificateSpec {
    let subject = match profile {
        Profile::Ev => Some(ev_subject()),
        Profile::Ov => Some(ov_subject()),
        Profile::Dv => None,
    };
    CertificateSpec {
        profile,
        subject,
        ..spec(names, public_key_der)
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

/// The SoftHSM2 module the PKCS#11 tests drive.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of every test token.
pub const TOKEN_PIN: &str = "4321-test-pin";
/// The tokens of this test binary: SOFTHSM2_CONF is process-wide and a
/// module initialised in-process does not see tokens made later, so all
/// are made once, before the first test opens the module.
const TOKENS: &[&str] = &["p256", "p384", "rsa2048", "crl", "pin", "attrs", "pool"];

/// A configuration for the test token `label` (one of `TOKENS`, one per
/// test), its key object labelled "intermediate". Panics if SoftHSM2 is
/// not installed: scripts/test installs it.
pub fn softhsm_token(label: &str) -> super::pkcs11::TokenConfig {
    use std::sync::OnceLock;
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    assert!(TOKENS.contains(&label), "add {label:?} to TOKENS");
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\n",
                dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        // Set before any thread of this binary loads the module.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        for t in TOKENS {
            let out = Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", t, "--pin", TOKEN_PIN])
                .args(["--so-pin", "so-secret"])
                .env("SOFTHSM2_CONF", &conf)
                .output()
                .expect("softhsm2-util not found: install softhsm2 (scripts/test does)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        dir
    });
    super::pkcs11::TokenConfig {
        module: SOFTHSM_MODULE.into(),
        uri: super::pkcs11::Pkcs11Uri::parse(&format!("pkcs11:token={label};object=intermediate"))
            .unwrap(),
        pin: super::pkcs11::Pin::new(TOKEN_PIN.into()),
    }
}

/// A development root and an intermediate whose key is generated in the
/// test token `label`, loaded as a CA signing with that token.
pub fn token_ca(label: &str, kind: super::pkcs11::KeyKind) -> TestCa {
    let token = softhsm_token(label);
    let public = super::pkcs11::generate_key(&token.module, &token.uri, &token.pin, kind).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (root, cert, _) = TestCa::paths(dir.path());
    super::dev::generate_hierarchy_around(
        "trustgate Token Test",
        &root,
        &cert,
        &public,
        crate::core::Clock::system().now(),
    )
    .unwrap();
    let key = super::KeySource::Token(token);
    let ca = CertificateAuthority::load_with_key(&root, &cert, &key, settings()).unwrap();
    TestCa { dir, ca }
}
