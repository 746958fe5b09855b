//! The bodies of the `cargo fuzz` targets (fuzz/fuzz_targets/*.rs) and of
//! their stable replay (tests/fuzz_corpora.rs), so both run the same code.
//! Each feeds bytes to one parser through the entry point production uses
//! and asserts what must hold of whatever it accepts; a failed assertion
//! is a crash to the fuzzer. Not part of the server: nothing calls it.
//!
//! Where a signature stands between the input and the interesting code,
//! the first byte picks a mode in which the harness signs what the fuzzer
//! wrote with a fixed test key, so mutations get past the check.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{Map, Value};

use crate::acme::ChallengeType;
use crate::error::ErrorKind;
use crate::jose::AccountKey;

/// A target's body: whether the parser accepted the input.
pub type Target = fn(&[u8]) -> bool;

/// Every target by name, as `scripts/fuzz` and the replay test list them.
/// A target answers whether the parser accepted the input (and so its
/// invariants were checked), which the replay test counts.
pub const TARGETS: &[(&str, Target)] = &[
    ("jws", jws),
    ("jwk", jwk),
    ("eab", eab),
    ("csr", csr),
    ("caa", caa),
    ("http01_redirect", http01_redirect),
    ("tlsalpn01", tlsalpn01),
    ("acme_json", acme_json),
    ("admin_json", admin_json),
    ("names", names),
];

/// The URL every fuzzed request is sent to, and the account `kid` the
/// harness knows.
pub const REQUEST_URL: &str = "https://ca.test/acme/new-order";
pub const ACCOUNT_URL: &str = "https://ca.test/acme/acct/1";
pub const NEW_ACCOUNT_URL: &str = "https://ca.test/acme/new-account";
/// The fixed EAB MAC key of the `eab` target.
pub const EAB_KEY: &[u8] = b"fuzzing-eab-hmac-key-32-bytes!!!";
/// The name the `tlsalpn01` target validates, and its key authorization.
pub const ALPN_HOST: &str = "example.jp";
pub const ALPN_KEY_AUTHORIZATION: &str = "token.thumbprint";
/// The CAA identity of the `caa` target's CA.
pub const CAA_IDENTITY: &str = "ca.test";

/// The harness's Ed25519 account key (a fixed seed: signatures are
/// deterministic, so a crash replays). Made once: deriving it costs as
/// much as a whole execution of most targets.
fn ed25519() -> &'static ring::signature::Ed25519KeyPair {
    static KEY: std::sync::OnceLock<ring::signature::Ed25519KeyPair> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        ring::signature::Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).expect("a 32-byte seed")
    })
}

/// The harness key's public JWK.
pub fn account_jwk() -> Map<String, Value> {
    use ring::signature::KeyPair;
    let x = B64.encode(ed25519().public_key().as_ref());
    let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x});
    match jwk {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

fn account_key() -> &'static AccountKey {
    static KEY: std::sync::OnceLock<AccountKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        AccountKey::from_jwk(&account_jwk()).expect("the harness key is a valid JWK")
    })
}

/// `protected \0 payload` (the structured modes): the two halves.
fn split_zero(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The protected header as a JSON object, if it is one.
fn header_of(protected: &[u8]) -> Option<Map<String, Value>> {
    serde_json::from_slice(protected).ok()
}

/// A flattened JWS of `protected` and `payload`, signed by the harness
/// key when the header asks for EdDSA (else a signature that fails).
fn signed_jws(protected: &[u8], payload: &[u8]) -> Value {
    let (p, pl) = (B64.encode(protected), B64.encode(payload));
    let wants_eddsa =
        header_of(protected).is_some_and(|h| h.get("alg").and_then(Value::as_str) == Some("EdDSA"));
    let signature = if wants_eddsa {
        B64.encode(ed25519().sign(format!("{p}.{pl}").as_bytes()).as_ref())
    } else {
        B64.encode([0u8; 64])
    };
    serde_json::json!({"protected": p, "payload": pl, "signature": signature})
}

/// `jws`: the flattened-JWS verifier (`wfe::jws`) up to the account
/// lookup. Mode 0: the body as sent; mode 1: `protected \0 payload`,
/// signed by the harness. What verifies must say what RFC 8555 §6 asks.
pub fn jws(data: &[u8]) -> bool {
    use crate::wfe::jws::{verify_stateless, PostRequest, Verified};
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let body = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let (protected, payload) = split_zero(rest);
        signed_jws(protected, payload).to_string().into_bytes()
    };
    let content_type = if mode & 2 == 0 {
        Some("application/jose+json")
    } else {
        Some("application/json")
    };
    let req = PostRequest {
        content_type,
        body: &body,
        url: REQUEST_URL,
    };
    let known = account_key();
    let verified = verify_stateless(req, |kid| (kid == ACCOUNT_URL).then(|| known.clone()));
    let Ok(verified) = verified else {
        return false;
    };
    assert_eq!(content_type, Some("application/jose+json"));
    // An independent reading of what was accepted.
    let outer: Map<String, Value> = serde_json::from_slice(&body).expect("accepted body is JSON");
    assert!(!outer.contains_key("signatures") && !outer.contains_key("header"));
    let member = |k: &str| outer.get(k).and_then(Value::as_str).expect("member");
    let header: Map<String, Value> =
        serde_json::from_slice(&B64.decode(member("protected")).expect("b64")).expect("header");
    assert_eq!(header.get("url").and_then(Value::as_str), Some(REQUEST_URL));
    assert!(header.get("nonce").is_some_and(Value::is_string));
    assert!(!header.contains_key("crit"));
    assert!(header.contains_key("jwk") != header.contains_key("kid"));
    let payload = B64.decode(member("payload")).expect("payload b64");
    let signature = B64.decode(member("signature")).expect("signature b64");
    let signing_input = format!("{}.{}", member("protected"), member("payload"));
    match verified {
        Verified::Kid(kid, p) => {
            assert_eq!(kid, ACCOUNT_URL);
            assert_eq!(p.bytes(), payload.as_slice());
            assert_eq!(p.url(), REQUEST_URL);
            assert_eq!(header.get("alg").and_then(Value::as_str), Some("EdDSA"));
            use ring::signature::KeyPair;
            let public = ed25519();
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::ED25519,
                public.public_key().as_ref(),
            )
            .verify(signing_input.as_bytes(), &signature)
            .expect("what verified by kid is signed by the account key");
        }
        Verified::Jwk(post) => {
            assert_eq!(post.payload().bytes(), payload.as_slice());
            let raw = header.get("jwk").and_then(Value::as_object).expect("jwk");
            assert_eq!(post.raw_jwk(), raw);
            let again = AccountKey::from_jwk(raw).expect("the accepted key parses again");
            assert_eq!(again.thumbprint(), post.key().thumbprint());
        }
    }
    true
}

/// `jwk`: account key parsing and thumbprints (`jose`). What is accepted
/// keeps exactly RFC 7638's members, and its thumbprint is the SHA-256 of
/// their canonical JSON, whatever else the client sent.
pub fn jwk(data: &[u8]) -> bool {
    let Ok(jwk) = serde_json::from_slice::<Map<String, Value>>(data) else {
        return false;
    };
    let Ok(key) = AccountKey::from_jwk(&jwk) else {
        return false;
    };
    assert!(!jwk.contains_key("d"));
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        other => panic!("accepted key type {other:?}"),
    };
    let kept: Vec<&str> = key.jwk().keys().map(String::as_str).collect();
    assert_eq!(kept, members);
    let mut canonical = String::from("{");
    for (i, m) in members.iter().enumerate() {
        let v = jwk.get(*m).and_then(Value::as_str).expect("string member");
        assert_eq!(key.jwk().get(*m).and_then(Value::as_str), Some(v));
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&format!("{}:{}", Value::from(*m), Value::from(v)));
    }
    canonical.push('}');
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    assert_eq!(key.thumbprint(), B64.encode(digest.as_ref()));
    let again = AccountKey::from_jwk(key.jwk()).expect("the kept members parse again");
    assert_eq!(again.thumbprint(), key.thumbprint());
    if key.jwk().get("kty").and_then(Value::as_str) == Some("OKP") {
        // R = identity, S = 0: what a small-order key would accept.
        let mut forged = [0u8; 64];
        forged[0] = 1;
        let eddsa = crate::jose::Alg::EdDsa;
        assert!(key.verify(eddsa, data, &forged).is_err(), "forgeable key");
    }
    // A signature check of garbage fails, without panicking.
    for alg in ["RS256", "ES256", "ES384", "EdDSA"] {
        let alg = crate::jose::Alg::parse(alg).expect("known alg");
        assert!(key.verify(alg, data, data).is_err());
    }
    assert!(!key.matches_spki(data) || !data.is_empty());
    true
}

/// `eab`: the External Account Binding inner JWS (RFC 8555 §7.3.4) as
/// `ra` checks it, then its MAC with the harness key. Mode 0: the
/// binding as sent; mode 1: `protected \0 payload`, MACed by the harness.
pub fn eab(data: &[u8]) -> bool {
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let binding: Value = if mode & 1 == 0 {
        match serde_json::from_slice(rest) {
            Ok(v) => v,
            Err(_) => return false,
        }
    } else {
        let (protected, payload) = split_zero(rest);
        let (p, pl) = (B64.encode(protected), B64.encode(payload));
        let alg = header_of(protected)
            .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_owned));
        let algorithm = match alg.as_deref() {
            Some("HS384") => ring::hmac::HMAC_SHA384,
            Some("HS512") => ring::hmac::HMAC_SHA512,
            _ => ring::hmac::HMAC_SHA256,
        };
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(algorithm, EAB_KEY),
            format!("{p}.{pl}").as_bytes(),
        );
        serde_json::json!({"protected": p, "payload": pl, "signature": B64.encode(tag.as_ref())})
    };
    let raw_jwk = account_jwk();
    let Ok((jws, alg, kid)) = crate::ra::parse_eab(&binding, &raw_jwk, NEW_ACCOUNT_URL) else {
        return false;
    };
    assert!(!jws.header.contains_key("nonce"));
    assert_eq!(jws.header_str("url"), Some(NEW_ACCOUNT_URL));
    assert_eq!(jws.header_str("kid"), Some(kid.as_str()));
    assert_eq!(
        jws.payload_json("eab").expect("accepted payload is JSON"),
        Value::Object(raw_jwk)
    );
    let input = jws.signing_input();
    let verified = crate::jose::verify_hmac(&alg, EAB_KEY, input.as_bytes(), &jws.signature);
    let algorithm = match alg.as_str() {
        "HS256" => Some(ring::hmac::HMAC_SHA256),
        "HS384" => Some(ring::hmac::HMAC_SHA384),
        "HS512" => Some(ring::hmac::HMAC_SHA512),
        _ => None,
    };
    let expected = algorithm.is_some_and(|a| {
        ring::hmac::verify(
            &ring::hmac::Key::new(a, EAB_KEY),
            input.as_bytes(),
            &jws.signature,
        )
        .is_ok()
    });
    assert_eq!(verified.is_ok(), expected, "{alg}");
    true
}

/// The harness's P-256 subscriber key (PKCS#8), for CSRs it signs. A
/// test key: it signs nothing but fuzz inputs.
const CSR_KEY_PKCS8: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420921b52dd9571188642a0b0cccebb7477538cb2cab7b6f65aec3a32494ee4a376a14403420004b2b5820e99bc3b4ca7aba7cc42d62088ffec666ba09bc9ba6b03c69f3c08c05df790b1b16c02f99ba485d0a01e5d46f6d26bd8d4d8974819896965859cadee15";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// DER tag and length, then `content`.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A CSR around `info` (a CertificationRequestInfo), signed with the
/// harness key when `info` parses and holds its public key.
fn signed_csr(info: &[u8]) -> Vec<u8> {
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    use x509_parser::certification_request::X509CertificationRequestInfo;
    use x509_parser::prelude::FromDer;
    static KEY: std::sync::OnceLock<EcdsaKeyPair> = std::sync::OnceLock::new();
    let rng = ring::rand::SystemRandom::new();
    let key = KEY.get_or_init(|| {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &hex(CSR_KEY_PKCS8), &rng)
            .expect("the harness key parses")
    });
    let ours = match X509CertificationRequestInfo::from_der(info) {
        Ok((_, parsed)) => {
            parsed.subject_pki.subject_public_key.data.as_ref() == key.public_key().as_ref()
        }
        Err(_) => false,
    };
    let signature = if ours {
        key.sign(&rng, info).expect("signing").as_ref().to_vec()
    } else {
        vec![0x30, 0x00]
    };
    // ecdsa-with-SHA256 (1.2.840.10045.4.3.2)
    let alg = der(0x30, &der(0x06, &hex("2a8648ce3d040302")));
    let mut bits = vec![0u8];
    bits.extend(signature);
    let mut body = info.to_vec();
    body.extend(alg);
    body.extend(der(0x03, &bits));
    der(0x30, &body)
}

/// `csr`: PKCS#10 parsing for finalize (`ca::csr`). Mode 0: the DER as
/// sent; mode 1: a CertificationRequestInfo the harness signs. What is
/// accepted has a certifiable key and lowercase, distinct names.
pub fn csr(data: &[u8]) -> bool {
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let der = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        signed_csr(rest)
    };
    let Ok(parsed) = crate::ca::csr::parse(&der) else {
        return false;
    };
    assert!(!parsed.names.is_empty() || parsed.common_name.is_some());
    let kind = crate::ca::csr::KeyType::from_spki_der(&parsed.public_key_der)
        .expect("the accepted key classifies alone");
    assert_eq!(kind, parsed.key_type);
    if let crate::ca::csr::KeyType::Rsa(bits) = kind {
        assert!((2048..=4096).contains(&bits) && bits % 8 == 0, "{bits}");
    }
    for (i, n) in parsed.names.iter().enumerate() {
        assert!(!n.is_empty() && n.is_ascii() && *n == n.to_ascii_lowercase());
        assert!(!parsed.names[..i].contains(n), "duplicate {n}");
    }
    if let Some(cn) = &parsed.common_name {
        assert!(!cn.is_empty() && *cn == cn.to_ascii_lowercase());
    }
    let ids = parsed.identifiers();
    assert!(parsed.names.iter().all(|n| ids.contains(n)));
    assert!(parsed.common_name.iter().all(|c| ids.contains(c)));
    true
}

/// Runs a future that never waits (the `caa` target's lookups answer at
/// once) to completion.
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("a synthetic lookup waited"),
    }
}

/// The harness's own climb: the name, then each parent, down to the TLD.
fn steps_of(base: &str) -> Vec<String> {
    let labels: Vec<&str> = base.split('.').collect();
    (0..labels.len()).map(|i| labels[i..].join(".")).collect()
}

type Answers = std::collections::HashMap<
    String,
    crate::error::Result<Vec<hickory_resolver::proto::rr::rdata::CAA>>,
>;

/// `caa`: CAA record parsing (RDATA as DNS sends it) and the check's
/// climb and decision (`va::caa`) over synthetic answers per label.
/// Input: control byte, name length, name, then records
/// `[step][len][rdata]` (a step with the 0x80 bit fails its lookup).
pub fn caa(data: &[u8]) -> bool {
    use hickory_resolver::proto::rr::{RData, RecordType};
    use hickory_resolver::proto::serialize::binary::{BinDecoder, Restrict};
    let [ctl, name_len, rest @ ..] = data else {
        return false;
    };
    let Some((name, mut records)) = rest.split_at_checked(usize::from(*name_len)) else {
        return false;
    };
    let name = String::from_utf8_lossy(name).into_owned();
    let wildcard = name.starts_with("*.");
    let base = name
        .strip_prefix("*.")
        .unwrap_or(&name)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let steps = steps_of(&base);
    let mut answers: Answers = steps.iter().map(|s| (s.clone(), Ok(Vec::new()))).collect();
    while let [step, tail @ ..] = records {
        let at = &steps[usize::from(step & 0x7f) % steps.len()];
        if step & 0x80 != 0 {
            answers.insert(
                at.clone(),
                Err(crate::error::Error::new(ErrorKind::Dns, "SERVFAIL")),
            );
            records = tail;
            continue;
        }
        let [len, tail @ ..] = tail else { break };
        let Some((rdata, tail)) = tail.split_at_checked(usize::from(*len)) else {
            break;
        };
        records = tail;
        let mut decoder = BinDecoder::new(rdata);
        let len = Restrict::new(rdata.len() as u16);
        if let Ok(RData::CAA(c)) = RData::read(&mut decoder, RecordType::CAA, len) {
            if let Some(Ok(set)) = answers.get_mut(at) {
                set.push(c);
            }
        }
    }
    let method = match ctl % 3 {
        0 => ChallengeType::Http01,
        1 => ChallengeType::Dns01,
        _ => ChallengeType::TlsAlpn01,
    };
    let identities = if ctl & 0x10 == 0 {
        vec![CAA_IDENTITY.to_owned()]
    } else {
        Vec::new()
    };
    let (result, evidence) = caa_check(&name, method, &identities, &answers);
    let valid = crate::core::DnsName::parse(&base).is_ok_and(|n| !n.is_wildcard());
    if matches!(&result, Err(e) if e.kind == ErrorKind::Malformed) {
        assert!(!valid, "{base:?} is a valid name");
        return false;
    }
    assert!(valid, "{base:?} is not a valid name");
    // The oracle: the first step that failed or has records decides.
    let deciding = steps.iter().find(|s| {
        answers
            .get(*s)
            .is_none_or(|a| a.as_ref().map_or(true, |v| !v.is_empty()))
    });
    match deciding.map(|s| (s, answers.get(s))) {
        None => assert_eq!(result.as_deref().ok(), Some("no CAA records found")),
        Some((s, Some(Err(_)))) => {
            let e = result.expect_err("a failed lookup refuses");
            assert_eq!(e.kind, ErrorKind::Caa);
            assert!(
                e.detail.starts_with(&format!("CAA lookup failed for {s}")),
                "{}",
                e.detail
            );
        }
        Some((s, Some(Ok(set)))) => {
            assert_eq!(evidence.relevant_name.as_deref(), Some(s.as_str()));
            assert_eq!(evidence.records.len(), set.len());
            caa_decision_invariants(set, wildcard, &result, &identities);
            if !wildcard && set.iter().any(|c| c.tag.eq_ignore_ascii_case("issuewild")) {
                // issuewild is ignored for a name that is no wildcard.
                let mut without = answers.clone();
                if let Some(Ok(v)) = without.get_mut(s) {
                    v.retain(|c| !c.tag.eq_ignore_ascii_case("issuewild"));
                }
                if without
                    .get(s)
                    .is_some_and(|a| a.as_ref().is_ok_and(|v| !v.is_empty()))
                {
                    let (again, _) = caa_check(&name, method, &identities, &without);
                    assert_eq!(again.is_ok(), result.is_ok(), "issuewild changed {name}");
                }
            }
        }
        Some((_, None)) => unreachable!("every step has an answer"),
    }
    true
}

/// One CAA check over `answers`: the decision and its evidence.
fn caa_check(
    name: &str,
    method: ChallengeType,
    identities: &[String],
    answers: &Answers,
) -> (crate::error::Result<String>, crate::va::caa::CaaEvidence) {
    use crate::va::caa::{climb_and_decide, CaaEvidence, CaaRequest};
    use crate::va::dns::DnsAnswer;
    let req = CaaRequest {
        name,
        account_uri: ACCOUNT_URL,
        method,
        caa_identities: identities,
    };
    let mut evidence = CaaEvidence {
        name: name.to_owned(),
        relevant_name: None,
        records: Vec::new(),
        dnssec: None,
        decision: String::new(),
        method: Some(method),
        checked_at: None,
    };
    let lookup = |step: String| {
        let answer = answers.get(&step).cloned().unwrap_or(Ok(Vec::new()));
        async move {
            answer.map(|values| DnsAnswer {
                values,
                cnames: Vec::new(),
                dnssec: None,
            })
        }
    };
    let result = ready(climb_and_decide(&req, &mut evidence, lookup));
    (result, evidence)
}

/// What must hold of a decision on one relevant RRset.
fn caa_decision_invariants(
    set: &[hickory_resolver::proto::rr::rdata::CAA],
    wildcard: bool,
    result: &crate::error::Result<String>,
    identities: &[String],
) {
    const KNOWN: &[&str] = &["issue", "issuewild", "iodef", "issuemail", "issuevmc"];
    let unknown_critical = set
        .iter()
        .any(|c| c.issuer_critical && !KNOWN.contains(&c.tag.to_ascii_lowercase().as_str()));
    if unknown_critical {
        assert!(result.is_err(), "an unknown critical tag must refuse");
        return;
    }
    let tag = if wildcard && set.iter().any(|c| c.tag.eq_ignore_ascii_case("issuewild")) {
        "issuewild"
    } else {
        "issue"
    };
    let selected: Vec<_> = set
        .iter()
        .filter(|c| c.tag.eq_ignore_ascii_case(tag))
        .collect();
    if selected.is_empty() {
        assert!(result.is_ok(), "no {tag} property permits");
        return;
    }
    if let Ok(why) = result {
        // Permitted by a property whose issuer is us.
        assert!(why.contains("authorizes this CA"), "{why}");
        assert!(selected.iter().any(|c| {
            let v = String::from_utf8_lossy(&c.value);
            let issuer = v.split(';').next().unwrap_or_default();
            let issuer = issuer.trim_matches([' ', '\t']).trim_end_matches('.');
            identities.iter().any(|id| id.eq_ignore_ascii_case(issuer))
        }));
    }
}

/// `http01_redirect`: the http-01 redirect target parser (`va::http01`).
/// What it accepts is a DNS name on an allowed port with an absolute
/// path, and following its own URL again lands on the same target.
pub fn http01_redirect(data: &[u8]) -> bool {
    use crate::va::http01::{redirect_target, RedirectPolicy, Scheme, Target};
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let location = String::from_utf8_lossy(rest);
    let base = Target {
        scheme: if mode & 1 == 0 {
            Scheme::Http
        } else {
            Scheme::Https
        },
        host: "example.jp".into(),
        port: if mode & 1 == 0 { 80 } else { 443 },
        path: ["/.well-known/acme-challenge/token", "/", "/a/b/?q=1"][usize::from(mode >> 1) % 3]
            .into(),
    };
    let policy = RedirectPolicy {
        http_port: if mode & 0x10 == 0 { 80 } else { 5002 },
        allow_loopback: mode & 0x20 != 0,
    };
    let Ok(target) = redirect_target(&base, &location, &policy) else {
        return false;
    };
    assert!(
        target.host.parse::<std::net::IpAddr>().is_err(),
        "{target:?}"
    );
    assert!(crate::va::is_dns_name(&target.host), "{target:?}");
    assert_eq!(target.host, target.host.to_ascii_lowercase());
    assert!(
        [80, 443, policy.http_port].contains(&target.port),
        "{target:?}"
    );
    assert!(target.path.starts_with('/'), "{target:?}");
    assert!(target.path.bytes().all(|b| b.is_ascii_graphic()) && !target.path.contains('#'));
    if policy.http_port == 80 {
        let again = redirect_target(&base, &target.url(), &policy).expect("its own URL");
        assert_eq!(again, target);
    }
    true
}

/// `tlsalpn01`: the tls-alpn-01 certificate checks (RFC 8737 §3) over a
/// certificate's DER. What passes names exactly the host and carries one
/// critical acmeIdentifier with the key authorization's digest.
pub fn tlsalpn01(data: &[u8]) -> bool {
    use crate::va::tlsalpn01::{check_certificate, expected_extension_value, ACME_IDENTIFIER_OID};
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let Ok(()) = check_certificate(data, ALPN_HOST, ALPN_KEY_AUTHORIZATION, "192.0.2.1", 443)
    else {
        return false;
    };
    let (rest, cert) = X509Certificate::from_der(data).expect("accepted DER parses");
    assert!(rest.is_empty());
    let san = cert
        .subject_alternative_name()
        .expect("one SAN")
        .expect("a SAN");
    match san.value.general_names.as_slice() {
        [GeneralName::DNSName(n)] => assert!(n.eq_ignore_ascii_case(ALPN_HOST)),
        other => panic!("accepted SAN {other:?}"),
    }
    let ids: Vec<_> = cert
        .extensions()
        .iter()
        .filter(|e| e.oid.to_id_string() == ACME_IDENTIFIER_OID)
        .collect();
    assert_eq!(ids.len(), 1);
    assert!(ids[0].critical);
    assert_eq!(
        ids[0].value,
        expected_extension_value(ALPN_KEY_AUTHORIZATION).as_slice()
    );
    true
}

/// `acme_json`: every ACME request payload as the handlers read it
/// (the first byte picks the resource), then the checks on its fields
/// that need no database.
pub fn acme_json(data: &[u8]) -> bool {
    use crate::acme::{
        AccountRequest, AuthorizationUpdate, FinalizeRequest, NewOrderRequest, RevocationRequest,
    };
    use crate::wfe::jws::payload_json;
    let Some((&kind, json)) = data.split_first() else {
        return false;
    };
    match kind % 8 {
        0 | 1 => {
            // newAccount and account update.
            let Ok(req) = payload_json::<AccountRequest>(json) else {
                return false;
            };
            if let Some(contact) = &req.contact {
                if crate::ra::policy::check_contacts(contact).is_ok() {
                    assert!(contact.len() <= 10);
                    for c in contact {
                        let addr = c.strip_prefix("mailto:").expect("mailto:");
                        assert!(addr.len() <= 254 && addr.contains('@') && !addr.contains('?'));
                    }
                }
            }
        }
        2 => {
            let Ok(req) = payload_json::<NewOrderRequest>(json) else {
                return false;
            };
            let cfg = crate::config::AcmeConfig::default();
            if let Ok(names) = crate::ra::policy::order_names(&req.identifiers, &cfg) {
                assert!(!names.is_empty() && names.len() <= cfg.max_names);
                assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
                for n in &names {
                    let parsed = crate::core::DnsName::parse(n).expect("accepted name parses");
                    assert!(crate::core::names::issuable(&parsed).is_ok());
                    assert!(req
                        .identifiers
                        .iter()
                        .any(|id| id.kind == "dns" && id.value.to_ascii_lowercase() == *n));
                }
            }
        }
        3 => {
            let Ok(req) = payload_json::<FinalizeRequest>(json) else {
                return false;
            };
            let Ok(der) = B64.decode(req.csr.trim_end_matches('=')) else {
                return false;
            };
            assert_eq!(B64.encode(&der), req.csr.trim_end_matches('='));
        }
        4 => {
            let Ok(req) = payload_json::<RevocationRequest>(json) else {
                return false;
            };
            let Ok(der) = crate::ra::revocation::decode_certificate(&req.certificate) else {
                return false;
            };
            let Ok((serial, names, spki)) = crate::ra::revocation::parse_certificate(&der) else {
                return false;
            };
            assert!(serial.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(names.iter().all(|n| *n == n.to_ascii_lowercase()));
            assert!(!spki.is_empty());
        }
        5 => {
            // keyChange: the inner JWS, signed by the harness key when the
            // fuzzer asks for EdDSA (`protected \0 payload`).
            let (protected, payload) = split_zero(json);
            let inner = signed_jws(protected, payload);
            let checked = crate::ra::revocation::check_key_change(&inner, REQUEST_URL, ACCOUNT_URL);
            let Ok((new_key, old_key)) = checked else {
                return false;
            };
            assert_eq!(new_key.thumbprint(), account_key().thumbprint());
            let body: Map<String, Value> =
                serde_json::from_slice(payload).expect("accepted payload");
            assert_eq!(
                body.get("account").and_then(Value::as_str),
                Some(ACCOUNT_URL)
            );
            let old = body
                .get("oldKey")
                .and_then(Value::as_object)
                .expect("oldKey");
            assert_eq!(
                AccountKey::from_jwk(old).expect("old key").thumbprint(),
                old_key.thumbprint()
            );
        }
        6 => {
            // A challenge response: any JSON object.
            if payload_json::<Map<String, Value>>(json).is_err() {
                return false;
            }
        }
        _ => {
            let Ok(req) = payload_json::<AuthorizationUpdate>(json) else {
                return false;
            };
            let _ = req.status.as_deref() == Some("deactivated");
        }
    }
    // What the handlers accept is a JSON object (keyChange's is the inner JWS).
    if kind % 8 != 5 {
        // Valid JSON: UTF-8, an object. Not a `Value`, which refuses
        // numbers beyond f64 that JSON allows and a struct ignores.
        let text = std::str::from_utf8(json).expect("accepted JSON is UTF-8");
        assert!(text.trim_start().starts_with('{'));
        serde_json::from_str::<serde::de::IgnoredAny>(text).expect("accepted JSON parses");
    }
    true
}

/// The members a `deny_unknown_fields` body may have, and those it must.
fn only_members(json: &[u8], allowed: &[&str], required: &[&str]) {
    if json.iter().all(u8::is_ascii_whitespace) {
        assert!(required.is_empty(), "a blank body needs {required:?}");
        return;
    }
    let obj: Map<String, Value> = serde_json::from_slice(json).expect("an accepted body is JSON");
    assert!(obj.keys().all(|k| allowed.contains(&k.as_str())), "{obj:?}");
    assert!(required.iter().all(|k| obj.contains_key(*k)), "{obj:?}");
}

/// `admin_json`: the staff API's request bodies as its handlers read
/// them (`admin::json_body`), then the checks that need no database.
pub fn admin_json(data: &[u8]) -> bool {
    use crate::admin::{
        json_body, parse_check_submission, refusal_fields, CertRevokeBody, EabCreateBody,
        LimitsBody, ReasonBody, TransitionBody,
    };
    use crate::core::organization::OrganizationData;
    let Some((&kind, json)) = data.split_first() else {
        return false;
    };
    match kind % 9 {
        0 => {
            let Ok(org) = json_body::<OrganizationData>(json) else {
                return false;
            };
            let _ = org.problems();
            let _ = org.certificate_name();
            for name in ["example.jp", "*.example.jp", "www.example.jp", "jp"] {
                let _ = org.in_scope(name);
            }
            let text = serde_json::to_string(&org).expect("serializes");
            let again: OrganizationData = serde_json::from_str(&text).expect("round trip");
            assert_eq!(again, org);
        }
        1 => {
            let Ok(value) = json_body::<Value>(json) else {
                return false;
            };
            let Ok((record, performed_at)) = parse_check_submission(value) else {
                return false;
            };
            let _ = record.problems(performed_at.map_or(time::Date::MIN, |t| t.date()));
            let text = serde_json::to_string(&record).expect("serializes");
            let again = serde_json::from_str(&text).expect("round trip");
            assert_eq!(record, again);
            if let Some(t) = performed_at {
                let s = t
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("formats");
                assert_eq!(crate::admin::parse_rfc3339("t", &s).expect("parses"), t);
            }
        }
        2 => {
            if json_body::<TransitionBody>(json).is_ok() {
                only_members(json, &["reason"], &[]);
            }
        }
        3 => {
            if json_body::<EabCreateBody>(json).is_ok() {
                only_members(json, &["note", "single_use", "expires_days"], &["note"]);
            }
        }
        4 => {
            if json_body::<ReasonBody>(json).is_ok() {
                only_members(json, &["reason"], &["reason"]);
            }
        }
        5 => {
            if json_body::<CertRevokeBody>(json).is_ok() {
                only_members(json, &["code", "reason"], &["code", "reason"]);
                let obj: Map<String, Value> = serde_json::from_slice(json).expect("object");
                let code = obj.get("code").and_then(Value::as_str).expect("code");
                if let Some(r) = crate::core::RevocationReason::from_name(code) {
                    assert_eq!(
                        crate::core::RevocationReason::from_code(i64::from(r.code())),
                        Some(r)
                    );
                }
            }
        }
        8 => {
            if json_body::<LimitsBody>(json).is_ok() {
                only_members(json, &["limits", "reason"], &["limits", "reason"]);
            }
        }
        6 => {
            let text = String::from_utf8_lossy(json);
            let (condition, detail, _) = refusal_fields(&text);
            assert!(condition != "unknown" || detail == text);
        }
        _ => {
            let text = String::from_utf8_lossy(json);
            if let Ok(t) = crate::admin::parse_rfc3339("t", &text) {
                let s = t
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("formats");
                assert_eq!(crate::admin::parse_rfc3339("t", &s).expect("parses"), t);
            }
        }
    }
    true
}

/// `names`: DNS name and identifier validation (`core::names`,
/// `ra::policy`). An accepted name obeys RFC 1035's lengths and LDH
/// syntax, is lowercase, and parses again to itself.
pub fn names(data: &[u8]) -> bool {
    let Some((&kind, rest)) = data.split_first() else {
        return false;
    };
    let text = String::from_utf8_lossy(rest);
    match kind % 4 {
        0 | 1 => {
            let input = if kind % 4 == 0 {
                text.to_string()
            } else {
                text.to_ascii_lowercase()
            };
            let Ok(name) = crate::core::DnsName::parse(&input) else {
                return false;
            };
            dns_name_invariants(&name, &input);
            let issuable = crate::core::names::issuable(&name).is_ok();
            if issuable {
                let tld = name.base().rsplit('.').next().expect("a label");
                for reserved in ["test", "example", "invalid", "localhost", "local", "onion"] {
                    assert_ne!(tld, reserved, "{name}");
                }
            }
            assert_eq!(
                crate::va::is_dns_name(&input),
                !name.is_wildcard(),
                "{input}"
            );
        }
        2 => {
            let ids: Vec<crate::acme::Identifier> = text
                .split('\n')
                .map(|v| match v.strip_prefix("ip:") {
                    Some(ip) => crate::acme::Identifier {
                        kind: "ip".into(),
                        value: ip.into(),
                    },
                    None => crate::acme::Identifier::dns(v),
                })
                .collect();
            let cfg = crate::config::AcmeConfig::default();
            if let Ok(names) = crate::ra::policy::order_names(&ids, &cfg) {
                assert!(ids.iter().all(|i| i.kind == "dns"));
                for n in &names {
                    let name = crate::core::DnsName::parse(n).expect("accepted name");
                    dns_name_invariants(&name, n);
                }
            }
        }
        _ => {
            if crate::core::names::check_email_address(&text).is_ok() {
                assert!(text.len() <= 254);
                let (local, domain) = text.rsplit_once('@').expect("an @");
                assert!(!local.is_empty() && !domain.starts_with("*."));
                assert!(crate::core::DnsName::parse(&domain.to_ascii_lowercase()).is_ok());
            }
            let contacts: Vec<String> = text.split('\n').map(str::to_owned).collect();
            if crate::ra::policy::check_contacts(&contacts).is_ok() {
                assert!(contacts.iter().all(|c| c.starts_with("mailto:")));
            }
        }
    }
    true
}

fn dns_name_invariants(name: &crate::core::DnsName, input: &str) {
    assert_eq!(name.as_str(), input);
    assert!(!input.ends_with('.') && input.parse::<std::net::IpAddr>().is_err());
    assert_eq!(name.is_wildcard(), input.starts_with("*."));
    let base = name.base();
    assert!(base.len() <= 253, "{} characters", base.len());
    let labels: Vec<&str> = base.split('.').collect();
    assert!(labels.len() >= 2);
    for l in &labels {
        assert!((1..=63).contains(&l.len()), "{l:?}");
        assert!(l
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        assert!(!l.starts_with('-') && !l.ends_with('-'));
    }
    let again = crate::core::DnsName::parse(name.as_str()).expect("parses again");
    assert_eq!(&again, name);
}
