//! The CT flow in process: a precertificate from the test CA, logs on
//! 127.0.0.1 that answer well or badly, and the final certificate.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rcgen::{KeyPair, PublicKeyData};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use super::*;
use crate::ca::profile::Profile;
use crate::ca::testutil::{openssl_text, ov_subject, TestCa};
use crate::ca::IssuanceRequest;
use crate::config::{CtConfig, CtLogConfig, CtPolicyConfig};

/// How a test log answers `add-pre-chain`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Good,
    BadSignature,
    WrongLogId,
    Garbage,
    Oversized,
    ServerError,
    Silent,
}

struct TestLog {
    url: String,
    spki: Vec<u8>,
}

const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A log on 127.0.0.1 with its own P-256 key, answering in `mode`.
async fn test_log(mode: Mode) -> TestLog {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let key = Arc::new(
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap(),
    );
    let spki = [P256_SPKI_PREFIX, key.public_key().as_ref()].concat();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/logs/test/", listener.local_addr().unwrap());
    let id = log::sha256(&spki);
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let key = key.clone();
            tokio::spawn(async move {
                let body = read_request(&mut conn).await;
                if mode == Mode::Silent {
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                }
                let (status, answer) = answer(mode, &key, id, &body);
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    answer.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(&answer).await;
            });
        }
    });
    TestLog { url, spki }
}

/// The request body (the path must be the RFC 6962 one).
async fn read_request(conn: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let n = conn.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        assert!(
            head.starts_with("post /logs/test/ct/v1/add-pre-chain "),
            "{head}"
        );
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        if buf.len() >= end + 4 + len {
            return buf[end + 4..end + 4 + len].to_vec();
        }
    }
}

/// What a log would sign for the chain in `body`, computed from the
/// chain alone as a log does.
fn answer(mode: Mode, key: &EcdsaKeyPair, id: [u8; 32], body: &[u8]) -> (&'static str, Vec<u8>) {
    match mode {
        Mode::Garbage => return ("200 OK", b"{\"sct_version\": 0, \"id\": 12}".to_vec()),
        Mode::Oversized => return ("200 OK", vec![b' '; MAX_ANSWER_BYTES + 1]),
        Mode::ServerError => return ("500 Internal Server Error", b"down".to_vec()),
        _ => {}
    }
    let req: serde_json::Value = serde_json::from_slice(body).unwrap();
    let chain: Vec<Vec<u8>> = req["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| B64.decode(c.as_str().unwrap()).unwrap())
        .collect();
    let (_, pre) = X509Certificate::from_der(&chain[0]).unwrap();
    let (_, issuer) = X509Certificate::from_der(&chain[1]).unwrap();
    let tbs = tbs::without_extension(pre.tbs_certificate.as_ref(), tbs::POISON_OID).unwrap();
    let timestamp = 1_796_000_000_000;
    let input =
        sct::signed_input(timestamp, &log::sha256(issuer.public_key().raw), &tbs, &[]).unwrap();
    let mut sig = key
        .sign(&SystemRandom::new(), &input)
        .unwrap()
        .as_ref()
        .to_vec();
    if mode == Mode::BadSignature {
        let last = sig.len() - 1;
        sig[last] ^= 1;
    }
    let id = if mode == Mode::WrongLogId {
        [0; 32]
    } else {
        id
    };
    let signed = [
        &[sct::SHA256, sct::ECDSA][..],
        &(sig.len() as u16).to_be_bytes(),
        &sig,
    ]
    .concat();
    let json = serde_json::json!({"sct_version": 0, "id": B64.encode(id), "timestamp": timestamp,
        "extensions": "", "signature": B64.encode(signed)});
    ("200 OK", json.to_string().into_bytes())
}

fn log_config(name: &str, operator: &str, log: &TestLog) -> CtLogConfig {
    CtLogConfig {
        name: name.into(),
        url: log.url.clone(),
        public_key: B64.encode(&log.spki),
        operator: operator.into(),
    }
}

fn logs(entries: Vec<CtLogConfig>) -> Arc<Logs> {
    let cfg = CtConfig {
        logs: entries,
        policy: CtPolicyConfig::default(),
        timeout_secs: 2,
        ..CtConfig::default()
    };
    Logs::from_config(&cfg).unwrap().unwrap()
}

/// The test CA, shared as issuance needs it, and the directory it lives in.
fn test_ca() -> (tempfile::TempDir, Arc<crate::ca::CertificateAuthority>) {
    let TestCa { dir, ca } = TestCa::new();
    (dir, Arc::new(ca))
}

fn request() -> IssuanceRequest {
    IssuanceRequest {
        public_key_der: KeyPair::generate().unwrap().subject_public_key_info(),
        names: vec!["www.example.jp".into(), "example.jp".into()],
        profile: Profile::Ov,
        subject: Some(ov_subject()),
        not_before: None,
        not_after: None,
    }
}

#[tokio::test]
async fn two_operators_give_a_certificate_with_their_scts() {
    let (_dir, ca) = test_ca();
    let (a, b) = (test_log(Mode::Good).await, test_log(Mode::Good).await);
    let logs = logs(vec![
        log_config("a", "Operator A", &a),
        log_config("b", "Operator B", &b),
    ]);
    let plan = ca.plan(request()).unwrap();
    let pre = ca.sign_precertificate(&plan).await.unwrap();
    let chain = [pre.der.as_slice(), ca.intermediate_der()];
    let scts = logs.collect(&pre, &chain).await.unwrap();
    assert_eq!(scts.len(), 2);
    let issued = ca.sign_with_scts(&plan, &pre, &scts).await.unwrap();

    let (_, p) = X509Certificate::from_der(&pre.der).unwrap();
    let poison = p.extensions().last().unwrap();
    assert_eq!(poison.oid.to_id_string(), "1.3.6.1.4.1.11129.2.4.3");
    assert!(poison.critical);
    let (_, c) = X509Certificate::from_der(&issued.certificate.der).unwrap();
    assert_eq!(c.raw_serial(), p.raw_serial());
    assert_eq!(c.validity(), p.validity());
    let last = c.extensions().last().unwrap();
    assert!(!last.critical);
    match last.parsed_extension() {
        ParsedExtension::SCT(list) => {
            assert_eq!(list.len(), 2);
            assert_eq!(list[0].id.key_id, &log::sha256(&a.spki));
            assert_eq!(list[1].id.key_id, &log::sha256(&b.spki));
        }
        other => panic!("{other:?}"),
    }
    let tbs = tbs::without_extension(c.tbs_certificate.as_ref(), tbs::SCT_LIST_OID).unwrap();
    assert_eq!(tbs, pre.tbs);
    if let Some(text) = openssl_text(&issued.certificate.pem) {
        assert!(text.contains("CT Precertificate SCTs"), "{text}");
        assert_eq!(
            text.matches("Signed Certificate Timestamp:").count(),
            2,
            "{text}"
        );
    }
    if let Some(text) = openssl_text(&crate::ca::cert_pem(&pre.der)) {
        assert!(
            text.contains("CT Precertificate Poison: critical"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn bad_answers_give_no_sct_and_the_error_names_each_log() {
    let (_dir, ca) = test_ca();
    let good = test_log(Mode::Good).await;
    let mut entries = vec![log_config("good", "Operator A", &good)];
    let modes = [
        ("bad-signature", Mode::BadSignature, "does not verify"),
        ("wrong-id", Mode::WrongLogId, "log id"),
        ("garbage", Mode::Garbage, "not an SCT"),
        ("oversized", Mode::Oversized, "over 16384 octets"),
        ("http-500", Mode::ServerError, "HTTP 500"),
        ("silent", Mode::Silent, "no answer within 2s"),
    ];
    for (name, mode, _) in modes {
        entries.push(log_config(
            name,
            &format!("Operator {name}"),
            &test_log(mode).await,
        ));
    }
    // A log whose port refuses connections.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = TestLog {
        url: format!("http://{}/", closed.local_addr().unwrap()),
        spki: good.spki.clone(),
    };
    drop(closed);
    entries.push(log_config("refused", "Operator R", &refused));
    let logs = logs(entries);

    let plan = ca.plan(request()).unwrap();
    let pre = ca.sign_precertificate(&plan).await.unwrap();
    let chain = [pre.der.as_slice(), ca.intermediate_der()];
    let started = std::time::Instant::now();
    let err = logs.collect(&pre, &chain).await.unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "logs are asked in parallel"
    );
    assert_eq!(err.kind, ErrorKind::Unavailable);
    let d = &err.detail;
    assert!(d.contains("1 valid SCT(s) from 1 log operator(s)"), "{d}");
    assert!(
        d.contains("needs 2 SCTs from at least 2 distinct log operators"),
        "{d}"
    );
    assert!(!d.contains("good ("), "{d}");
    for (name, _, why) in modes {
        let at = d
            .find(&format!("{name} ("))
            .unwrap_or_else(|| panic!("{name}: {d}"));
        assert!(
            d[at..].split(", ").next().unwrap().contains(why),
            "{name}: {d}"
        );
    }
    assert!(d.contains("refused (connecting"), "{d}");
}

#[tokio::test]
async fn one_operator_is_not_enough() {
    let (_dir, ca) = test_ca();
    let (a, b) = (test_log(Mode::Good).await, test_log(Mode::Good).await);
    let logs = logs(vec![
        log_config("a", "Same", &a),
        log_config("b", "Same", &b),
    ]);
    let plan = ca.plan(request()).unwrap();
    let pre = ca.sign_precertificate(&plan).await.unwrap();
    let chain = [pre.der.as_slice(), ca.intermediate_der()];
    let err = logs.collect(&pre, &chain).await.unwrap_err();
    assert!(
        err.detail.contains("2 valid SCT(s) from 1 log operator(s)"),
        "{}",
        err.detail
    );
}

#[test]
fn bad_log_configurations_stop_startup() {
    let key = B64.encode([P256_SPKI_PREFIX, &[4; 65]].concat());
    let entry = |name: &str, url: &str, public_key: &str| CtLogConfig {
        name: name.into(),
        url: url.into(),
        public_key: public_key.into(),
        operator: "Op".into(),
    };
    let cfg = |logs| CtConfig {
        logs,
        ..CtConfig::default()
    };
    assert!(Logs::from_config(&CtConfig::default()).unwrap().is_none());
    for (logs, why) in [
        (vec![entry("a", "ftp://x/", &key)], "not http"),
        (vec![entry("a", "http://x/", "!!")], "not base64"),
        (
            vec![entry("a", "http://x/", &B64.encode(b"junk"))],
            "SubjectPublicKeyInfo",
        ),
        (
            vec![entry("a", "http://x/", &key), entry("a", "http://y/", &key)],
            "used twice",
        ),
        (vec![entry("", "http://x/", &key)], "needs a name"),
    ] {
        let err = Logs::from_config(&cfg(logs)).unwrap_err();
        assert!(err.detail.contains(why), "{why}: {}", err.detail);
    }
}

/// An RSA log (RFC 6962 allows RSA PKCS#1 v1.5 with SHA-256): its SCTs
/// verify, and not with the ECDSA algorithm byte.
#[test]
fn rsa_log_keys_verify_their_scts() {
    if !crate::ca::testutil::have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("log.der");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let key_path = key.to_str().unwrap();
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-outform",
        "DER",
        "-out",
        key_path,
    ]);
    let spki = run(&[
        "pkey", "-inform", "DER", "-in", key_path, "-pubout", "-outform", "DER",
    ]);
    let pkcs1 = run(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        key_path,
        "-traditional",
        "-outform",
        "DER",
    ]);
    let pair = ring::signature::RsaKeyPair::from_der(&pkcs1).unwrap();
    let cfg = CtLogConfig {
        name: "rsa".into(),
        url: "http://127.0.0.1:1/".into(),
        public_key: B64.encode(&spki),
        operator: "Op".into(),
    };
    let log = log::Log::new(&cfg, None).unwrap();
    let input = sct::signed_input(7, &[1; 32], &[0x30, 0x00], &[]).unwrap();
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        &input,
        &mut signature,
    )
    .unwrap();
    let mut sct = Sct {
        log_id: log::sha256(&spki),
        timestamp: 7,
        extensions: vec![],
        hash_algorithm: sct::SHA256,
        signature_algorithm: sct::RSA,
        signature,
    };
    log.verify(&sct, &input).unwrap();
    let other = sct::signed_input(8, &[1; 32], &[0x30, 0x00], &[]).unwrap();
    assert!(log
        .verify(&sct, &other)
        .unwrap_err()
        .contains("does not verify"));
    sct.signature_algorithm = sct::ECDSA;
    assert!(log.verify(&sct, &input).unwrap_err().contains("algorithm"));
}
