//! The per-order cryptography floor: what one ACME order costs in CPU for
//! signatures alone, whatever the database and HTTP stack do.
//!
//! One order (newOrder, authz POST-as-GET, challenge, one authz poll,
//! finalize, certificate download) is 6 JWS requests: the challenge's
//! answer carries its validation, so the first poll finds it done, and
//! finalize answers with the valid order, so there is no order poll. Each is
//! verified the way `wfe::jws` does it (`AccountKey::from_jwk` on the
//! stored key, then `verify`); finalize parses and verifies one CSR; the CA
//! signs one certificate: one ECDSA signature over its tbsCertificate with
//! the intermediate's key. `per-order floor` runs exactly that.
//!
//! What trustgate's `CertificateAuthority::issue` does besides that one
//! signature (building the DER, signing and linting a throwaway copy first,
//! checking the real signature) is its own work, not the floor's; it is
//! timed separately for reference.
//!
//! The intermediate's key in a PKCS#11 token is timed against the same key
//! type in a file: one ECDSA P-256 signature through SoftHSM2 (a pooled,
//! logged-in session) and through `CaKey::File` (ring).
//!
//! Run: `cargo bench --bench crypto` (see docs/benchmarks.md).

use std::hint::black_box;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde_json::{json, Map, Value};
use trustgate::ca::profile::Profile;
use trustgate::ca::{CertificateAuthority, IssuanceRequest, IssuerUrls, Settings, SubjectInfo};
use trustgate::config::CaConfig;
use trustgate::jose::{AccountKey, Alg};

/// JWS verifications one order needs (see the module comment).
const VERIFICATIONS_PER_ORDER: usize = 6;

struct Fixture {
    jwk: Map<String, Value>,
    /// (signing input, signature) of each of the order's requests.
    requests: Vec<(String, Vec<u8>)>,
    csr_der: Vec<u8>,
    /// The tbsCertificate of a certificate the CA issued for `request`,
    /// and the intermediate's key that signs it.
    tbs: Vec<u8>,
    intermediate_key: EcdsaKeyPair,
    request: IssuanceRequest,
    ca: CertificateAuthority,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("P-256 key");
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .expect("P-256 key loads");
    let point = key.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
    });
    let jwk = jwk.as_object().expect("object").clone();

    let base = "https://localhost:14000/acme";
    let urls = [
        format!("{base}/new-order"),
        format!("{base}/authz/1"),
        format!("{base}/chall/1"),
        format!("{base}/authz/1"),
        format!("{base}/order/1/finalize"),
        format!("{base}/cert/1"),
    ];
    let requests = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let protected = B64.encode(
                json!({"alg": "ES256", "kid": format!("{base}/acct/1"),
                       "nonce": format!("nonce-{i}-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                       "url": url})
                .to_string(),
            );
            let payload = B64.encode(r#"{"identifiers":[{"type":"dns","value":"a.example.jp"}]}"#);
            let input = format!("{protected}.{payload}");
            let sig = key.sign(&rng, input.as_bytes()).expect("sign");
            (input, sig.as_ref().to_vec())
        })
        .collect::<Vec<_>>();
    assert_eq!(requests.len(), VERIFICATIONS_PER_ORDER);

    let names = vec!["a.example.jp".to_owned()];
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let mut params = rcgen::CertificateParams::new(names.clone()).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr_der = params
        .serialize_request(&leaf_key)
        .expect("CSR")
        .der()
        .to_vec();

    let dir = tempfile::tempdir().expect("tempdir");
    let (root, cert, ikey) = (
        dir.path().join("ca/root.pem"),
        dir.path().join("ca/intermediate.pem"),
        dir.path().join("ca/intermediate.key"),
    );
    let at = trustgate::core::Clock::system().now();
    trustgate::ca::dev::generate_hierarchy("trustgate Bench", &root, &cert, &ikey, at)
        .expect("dev hierarchy");
    let urls = IssuerUrls::new(
        "http://localhost:14002/intermediate.der".into(),
        (0..16)
            .map(|s| format!("http://localhost:14002/crl/{s}.crl"))
            .collect(),
    )
    .expect("URLs");
    let settings = Settings::new(&CaConfig::default(), urls);
    let ca = CertificateAuthority::load(&root, &cert, &ikey, settings).expect("CA loads");
    let request = IssuanceRequest {
        public_key_der: rcgen::PublicKeyData::subject_public_key_info(&leaf_key),
        names,
        profile: Profile::Ov,
        not_before: None,
        not_after: None,
        subject: Some(SubjectInfo {
            organization: "例示株式会社".into(),
            country: "JP".into(),
            state_or_province: Some("東京都".into()),
            locality: Some("千代田区".into()),
            ev: None,
        }),
    };
    let issued = ca.issue(request.clone()).expect("issues").certificate;
    let (_, cert) = x509_parser::parse_x509_certificate(&issued.der).expect("certificate parses");
    let tbs = cert.tbs_certificate.as_ref().to_vec();
    let key_pem = std::fs::read_to_string(&ikey).expect("intermediate key");
    let key_der = pem::parse(key_pem).expect("key PEM");
    let intermediate_key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, key_der.contents(), &rng)
            .expect("the dev intermediate has a P-256 PKCS#8 key");
    Fixture {
        jwk,
        requests,
        csr_der,
        tbs,
        intermediate_key,
        request,
        ca,
        _dir: dir,
    }
}

/// One request's signature check as the WFE does it: the stored JWK is
/// vetted (and thumbprinted) again, then the signature verified.
fn verify_one(f: &Fixture, i: usize) {
    let (input, sig) = &f.requests[i];
    let key = AccountKey::from_jwk(&f.jwk).expect("key");
    key.verify(Alg::Es256, input.as_bytes(), sig)
        .expect("signature verifies");
}

fn verify_order(f: &Fixture) {
    for i in 0..VERIFICATIONS_PER_ORDER {
        verify_one(f, i);
    }
}

fn csr(f: &Fixture) {
    black_box(trustgate::ca::csr::parse(black_box(&f.csr_der)).expect("CSR parses"));
}

/// The one signature a certificate needs (X.509 ECDSA: ASN.1 DER form).
fn sign_certificate(f: &Fixture) {
    let rng = SystemRandom::new();
    black_box(
        f.intermediate_key
            .sign(&rng, black_box(&f.tbs))
            .expect("signs"),
    );
}

fn issue(f: &Fixture) {
    black_box(f.ca.issue(black_box(f.request.clone())).expect("issues"));
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    // The pieces each also run once outside the timer, so a broken
    // fixture fails loudly rather than timing an error path.
    verify_order(&f);
    csr(&f);
    sign_certificate(&f);
    issue(&f);

    let key = AccountKey::from_jwk(&f.jwk).expect("key");
    let (input, sig) = &f.requests[0];
    c.bench_function("jws: AccountKey::verify (JWK already vetted)", |b| {
        b.iter(|| {
            key.verify(Alg::Es256, black_box(input.as_bytes()), black_box(sig))
                .expect("verifies")
        })
    });
    // Reference, not part of the floor: the same check with ring alone,
    // the primitive the rest of the crate (CSR, certificates) uses.
    let point = {
        let x = B64.decode(f.jwk["x"].as_str().expect("x")).expect("b64");
        let y = B64.decode(f.jwk["y"].as_str().expect("y")).expect("b64");
        [&[4u8][..], &x, &y].concat()
    };
    let ring_key =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point);
    c.bench_function("reference: ring ES256 verify", |b| {
        b.iter(|| {
            ring_key
                .verify(black_box(input.as_bytes()), black_box(sig))
                .expect("verifies")
        })
    });
    c.bench_function("jws: from_jwk + ES256 verify (one request)", |b| {
        b.iter(|| verify_one(&f, 0))
    });
    c.bench_function("jws: 6 verifications (one order)", |b| {
        b.iter(|| verify_order(&f))
    });
    c.bench_function("csr: parse + verify", |b| b.iter(|| csr(&f)));
    c.bench_function(
        "ca: one certificate signature (ECDSA P-256 over the tbsCertificate)",
        |b| b.iter(|| sign_certificate(&f)),
    );
    // Reference, not part of the floor: trustgate's whole issuance step.
    c.bench_function(
        "reference: CertificateAuthority::issue (DER, lint copy, signature, checks)",
        |b| b.iter(|| issue(&f)),
    );
    c.bench_function(
        "per-order floor (6 JWS + CSR + one certificate signature)",
        |b| {
            b.iter(|| {
                verify_order(&f);
                csr(&f);
                sign_certificate(&f);
            })
        },
    );
}

/// A SoftHSM2 token in a temporary directory holding a generated P-256
/// key, opened as the CA opens it; None (with a note) without SoftHSM2.
fn softhsm_key() -> Option<(trustgate::ca::pkcs11::TokenKey, tempfile::TempDir)> {
    use rcgen::PublicKeyData;
    use trustgate::ca::pkcs11::{self, KeyKind, Pin, Pkcs11Uri, TokenConfig};
    const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("softhsm2.conf");
    std::fs::create_dir(dir.path().join("tokens")).expect("tokens dir");
    let line = format!(
        "directories.tokendir = {}\n",
        dir.path().join("tokens").display()
    );
    std::fs::write(&conf, line).expect("softhsm2.conf");
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let made = std::process::Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            "1234",
        ])
        .args(["--so-pin", "5678"])
        .output();
    if !made.is_ok_and(|o| o.status.success()) {
        eprintln!("softhsm2-util not available: skipping the PKCS#11 signature");
        return None;
    }
    let uri = Pkcs11Uri::parse("pkcs11:token=bench;object=intermediate").expect("uri");
    let pin = Pin::new("1234".into());
    let public =
        pkcs11::generate_key(MODULE.as_ref(), &uri, &pin, KeyKind::EcdsaP256).expect("key");
    let config = TokenConfig {
        module: MODULE.into(),
        uri,
        pin,
    };
    let key = pkcs11::TokenKey::open(config, &public.subject_public_key_info()).expect("opens");
    Some((key, dir))
}

fn key_benches(c: &mut Criterion) {
    use rcgen::SigningKey;
    let tbs = fixture().tbs;
    let file = trustgate::ca::CaKey::File(
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key"),
    );
    c.bench_function("ca key: ECDSA P-256 signature, key file (ring)", |b| {
        b.iter(|| file.sign(black_box(&tbs)).expect("signs"))
    });
    if let Some((token, _dir)) = softhsm_key() {
        c.bench_function("ca key: ECDSA P-256 signature, SoftHSM2 token", |b| {
            b.iter(|| token.sign(black_box(&tbs)).expect("signs"))
        });
    }
}

criterion_group! {
    name = crypto;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = benches, key_benches
}
criterion_main!(crypto);
