//! JOSE key handling shared by `wfe` (request signatures) and `ra` (key
//! authorizations, CSR key checks, EAB): account key parsing and policy,
//! RFC 7638 thumbprints, signature and MAC verification.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};

/// Signature algorithms accepted on ACME requests (RFC 8555 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
    Es384,
    EdDsa,
}

/// Names of the accepted algorithms, for `badSignatureAlgorithm` problems.
pub const SUPPORTED_ALGS: &[&str] = &["RS256", "ES256", "ES384", "EdDSA"];

impl Alg {
    pub fn parse(s: &str) -> Option<Alg> {
        Some(match s {
            "RS256" => Alg::Rs256,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "EdDSA" => Alg::EdDsa,
            _ => return None,
        })
    }
}

/// The kind of an account key, as far as policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa { bits: usize },
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    /// The one algorithm this key signs with.
    fn alg(self) -> Alg {
        match self {
            KeyKind::Rsa { .. } => Alg::Rs256,
            KeyKind::P256 => Alg::Es256,
            KeyKind::P384 => Alg::Es384,
            KeyKind::Ed25519 => Alg::EdDsa,
        }
    }
}

/// A validated public account key.
#[derive(Debug, Clone)]
pub struct AccountKey {
    /// Only the public members RFC 7638 names, so stored keys compare
    /// equal however the client decorated them.
    jwk: Map<String, Value>,
    kind: KeyKind,
    /// RFC 7638, made on first use: checking a request against an
    /// account's stored key, the usual use, never needs it.
    thumbprint: std::sync::OnceLock<String>,
}

impl AccountKey {
    /// Parses and vets a JWK from a request. Private keys, unknown key
    /// types and weak keys are refused.
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<AccountKey> {
        if jwk.contains_key("d") {
            return Err(Error::malformed("JWK contains a private key"));
        }
        let (kind, members) = match member(jwk, "kty")? {
            "RSA" => rsa_kind(jwk)?,
            "EC" => ec_kind(jwk)?,
            "OKP" => okp_kind(jwk)?,
            t => {
                return Err(Error::new(
                    ErrorKind::BadPublicKey,
                    format!("unsupported key type {t:?}"),
                ))
            }
        };
        let mut public = Map::new();
        for m in members {
            public.insert((*m).to_owned(), Value::String(member(jwk, m)?.to_owned()));
        }
        Ok(AccountKey {
            jwk: public,
            kind,
            thumbprint: std::sync::OnceLock::new(),
        })
    }

    pub fn jwk(&self) -> &Map<String, Value> {
        &self.jwk
    }

    /// RFC 7638 thumbprint, base64url.
    pub fn thumbprint(&self) -> &str {
        self.thumbprint.get_or_init(|| thumbprint(&self.jwk))
    }

    /// Verifies a JWS signature by this key. The algorithm must be the
    /// one the key type implies (RFC 8555 §6.2, RFC 7518).
    pub fn verify(&self, alg: Alg, signing_input: &[u8], signature: &[u8]) -> Result<()> {
        if alg != self.kind.alg() {
            return Err(Error::new(
                ErrorKind::BadSignatureAlgorithm,
                "the JWS algorithm does not match the key type",
            ));
        }
        // ring directly: josekit would build an OpenSSL key from the JWK on
        // every request, three times the cost (docs/benchmarks.md).
        use ring::signature::{self as sig, UnparsedPublicKey};
        let member = |k: &str| {
            self.jwk
                .get(k)
                .and_then(Value::as_str)
                .and_then(|v| B64.decode(v).ok())
                .ok_or_else(|| Error::internal("validated JWK lost a member"))
        };
        let verified = match self.kind {
            KeyKind::Rsa { .. } => {
                let (n, e) = (member("n")?, member("e")?);
                sig::RsaPublicKeyComponents {
                    n: strip_zeros(&n),
                    e: strip_zeros(&e),
                }
                .verify(&sig::RSA_PKCS1_2048_8192_SHA256, signing_input, signature)
            }
            KeyKind::P256 | KeyKind::P384 => {
                // JWS ECDSA signatures are the fixed-width r ‖ s (RFC 7518 §3.4).
                let algorithm = if self.kind == KeyKind::P256 {
                    &sig::ECDSA_P256_SHA256_FIXED
                } else {
                    &sig::ECDSA_P384_SHA384_FIXED
                };
                let mut point = vec![4u8];
                point.extend(member("x")?);
                point.extend(member("y")?);
                UnparsedPublicKey::new(algorithm, point).verify(signing_input, signature)
            }
            KeyKind::Ed25519 => {
                UnparsedPublicKey::new(&sig::ED25519, member("x")?).verify(signing_input, signature)
            }
        };
        verified.map_err(|_| Error::malformed("JWS signature is invalid"))
    }

    /// Whether a SubjectPublicKeyInfo (from a CSR) holds this same key.
    pub fn matches_spki(&self, spki_der: &[u8]) -> bool {
        use x509_parser::prelude::FromDer;
        use x509_parser::public_key::PublicKey;
        let Ok((_, spki)) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der) else {
            return false;
        };
        let member = |k: &str| {
            self.jwk
                .get(k)
                .and_then(Value::as_str)
                .and_then(|s| B64.decode(s).ok())
                .unwrap_or_default()
        };
        match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => {
                strip_zeros(rsa.modulus) == strip_zeros(&member("n"))
                    && strip_zeros(rsa.exponent) == strip_zeros(&member("e"))
            }
            Ok(PublicKey::EC(point)) => {
                let mut xy = vec![4u8];
                xy.extend(member("x"));
                xy.extend(member("y"));
                point.data() == xy.as_slice()
            }
            _ => spki.subject_public_key.data.as_ref() == member("x").as_slice(),
        }
    }
}

/// A key's kind and the members RFC 7638 names for it, sorted.
type KindAndMembers = (KeyKind, &'static [&'static str]);

/// A string member of a JWK.
fn member<'a>(jwk: &'a Map<String, Value>, k: &str) -> Result<&'a str> {
    jwk.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::malformed(format!("JWK is missing member {k:?}")))
}

/// A base64url member of a JWK, decoded.
fn member_bytes(jwk: &Map<String, Value>, k: &str) -> Result<Vec<u8>> {
    B64.decode(member(jwk, k)?)
        .map_err(|_| Error::malformed(format!("JWK member {k:?} is not base64url")))
}

/// RSA: 2048 to 4096 bits, an odd exponent of at most 33 bits.
fn rsa_kind(jwk: &Map<String, Value>) -> Result<KindAndMembers> {
    let n = member_bytes(jwk, "n")?;
    let e = member_bytes(jwk, "e")?;
    let bits = significant_bits(&n);
    if !(2048..=4096).contains(&bits) {
        return Err(Error::new(
            ErrorKind::BadPublicKey,
            format!("RSA keys must be 2048 to 4096 bits, not {bits}"),
        ));
    }
    let e_bits = significant_bits(&e);
    if !(2..=33).contains(&e_bits) || e.last().is_some_and(|b| b & 1 == 0) {
        return Err(Error::new(
            ErrorKind::BadPublicKey,
            "bad RSA public exponent",
        ));
    }
    Ok((KeyKind::Rsa { bits }, &["e", "kty", "n"]))
}

/// EC: P-256 or P-384, coordinates of the curve's length.
fn ec_kind(jwk: &Map<String, Value>) -> Result<KindAndMembers> {
    let (kind, len) = match member(jwk, "crv")? {
        "P-256" => (KeyKind::P256, 32),
        "P-384" => (KeyKind::P384, 48),
        c => {
            return Err(Error::new(
                ErrorKind::BadPublicKey,
                format!("unsupported EC curve {c:?}; use P-256 or P-384"),
            ))
        }
    };
    if member_bytes(jwk, "x")?.len() != len || member_bytes(jwk, "y")?.len() != len {
        return Err(Error::malformed("EC JWK coordinates have the wrong length"));
    }
    Ok((kind, &["crv", "kty", "x", "y"]))
}

/// OKP: Ed25519 only.
fn okp_kind(jwk: &Map<String, Value>) -> Result<KindAndMembers> {
    if member(jwk, "crv")? != "Ed25519" {
        return Err(Error::new(
            ErrorKind::BadPublicKey,
            "unsupported OKP curve; use Ed25519",
        ));
    }
    let x = member_bytes(jwk, "x")?;
    if x.len() != 32 {
        return Err(Error::malformed("Ed25519 JWK has the wrong length"));
    }
    if has_small_order(&x) {
        return Err(Error::new(
            ErrorKind::BadPublicKey,
            "Ed25519 key is a point of small order, whose signatures anyone can forge",
        ));
    }
    Ok((KeyKind::Ed25519, &["crv", "kty", "x"]))
}

/// The encodings (sign bit aside) of the Ed25519 points of order 1, 2, 4
/// and 8, canonical or not (libsodium's list). ring verifies a signature
/// by such a key as RFC 8032 says: the identity key accepts R = identity,
/// S = 0 over any message, so it proves possession of nothing.
const SMALL_ORDER: [[u8; 32]; 7] = {
    let mut p_minus_1 = [0xff; 32];
    p_minus_1[0] = 0xec;
    p_minus_1[31] = 0x7f;
    let mut p = p_minus_1;
    p[0] = 0xed;
    let mut p_plus_1 = p_minus_1;
    p_plus_1[0] = 0xee;
    let mut one = [0u8; 32];
    one[0] = 1;
    [
        [0u8; 32],
        one,
        [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
            0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
            0x6d, 0x53, 0xfc, 0x05,
        ],
        [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10,
            0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77,
            0x92, 0xac, 0x03, 0x7a,
        ],
        p_minus_1,
        p,
        p_plus_1,
    ]
};

fn has_small_order(x: &[u8]) -> bool {
    SMALL_ORDER
        .iter()
        .any(|bad| x.len() == 32 && x[..31] == bad[..31] && (x[31] & 0x7f) == bad[31])
}

/// RFC 7638 thumbprint of the public members, base64url.
fn thumbprint(public: &Map<String, Value>) -> String {
    // RFC 7638 §3: members in lexicographic order, no whitespace; the
    // members are sorted and serde_json's Map keeps keys sorted.
    let canonical = Value::Object(public.clone()).to_string();
    B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

/// A JWS in the flattened JSON serialization (RFC 7515 §7.2.2), parsed but
/// not verified. RFC 8555 §6.2 allows no other form: a `signatures` array
/// (general serialization) or an unprotected `header` is refused.
#[derive(Debug, Clone)]
pub struct FlattenedJws {
    pub header: Map<String, Value>,
    pub protected_b64: String,
    pub payload_b64: String,
    pub signature: Vec<u8>,
}

impl FlattenedJws {
    /// `what` names the JWS in error messages ("JWS", "externalAccountBinding", …).
    pub fn parse(value: &Value, what: &str) -> Result<FlattenedJws> {
        let bad = |d: &str| Error::malformed(format!("{what}: {d}"));
        let obj = value
            .as_object()
            .ok_or_else(|| bad("must be a JSON object"))?;
        if obj.contains_key("signatures") {
            return Err(bad("must use the flattened JSON serialization"));
        }
        if obj.contains_key("header") {
            return Err(bad("must not have an unprotected header"));
        }
        let member = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(&format!("is missing {k:?}")))
        };
        let (protected_b64, payload_b64, sig_b64) = (
            member("protected")?,
            member("payload")?,
            member("signature")?,
        );
        let header: Map<String, Value> = B64
            .decode(protected_b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("protected header is not base64url JSON"))?;
        let signature = B64
            .decode(sig_b64)
            .map_err(|_| bad("signature is not base64url"))?;
        Ok(FlattenedJws {
            header,
            protected_b64: protected_b64.to_owned(),
            payload_b64: payload_b64.to_owned(),
            signature,
        })
    }

    /// A string member of the protected header.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// The JWS signing input (RFC 7515 §5.2).
    pub fn signing_input(&self) -> String {
        format!("{}.{}", self.protected_b64, self.payload_b64)
    }

    pub fn payload(&self, what: &str) -> Result<Vec<u8>> {
        B64.decode(&self.payload_b64)
            .map_err(|_| Error::malformed(format!("{what}: payload is not base64url")))
    }

    /// The payload parsed as JSON.
    pub fn payload_json(&self, what: &str) -> Result<Value> {
        serde_json::from_slice(&self.payload(what)?)
            .map_err(|_| Error::malformed(format!("{what}: payload is not JSON")))
    }
}

/// Verifies an External Account Binding MAC (RFC 8555 §7.3.4) in constant
/// time. Only the HMAC algorithms of RFC 7518 §3.2 are accepted.
pub fn verify_hmac(alg: &str, key: &[u8], signing_input: &[u8], mac: &[u8]) -> Result<()> {
    let algorithm = match alg {
        "HS256" => ring::hmac::HMAC_SHA256,
        "HS384" => ring::hmac::HMAC_SHA384,
        "HS512" => ring::hmac::HMAC_SHA512,
        other => {
            return Err(Error::new(
                ErrorKind::BadSignatureAlgorithm,
                format!("external account binding must use HS256, HS384 or HS512, not {other:?}"),
            ))
        }
    };
    let key = ring::hmac::Key::new(algorithm, key);
    ring::hmac::verify(&key, signing_input, mac)
        .map_err(|_| Error::unauthorized("external account binding MAC does not verify"))
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[i..]
}

fn significant_bits(b: &[u8]) -> usize {
    let b = strip_zeros(b);
    match b.first() {
        None => 0,
        Some(&first) => (b.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_thumbprint_vector() {
        // RFC 7638 §3.1.
        let jwk: Map<String, Value> = serde_json::from_str(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .expect("vector parses");
        let key = AccountKey::from_jwk(&jwk).expect("valid key");
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert!(!key.jwk().contains_key("alg"));
    }

    #[test]
    fn weak_rsa_and_unknown_curves_are_refused() {
        let small = B64.encode([0xffu8; 128]); // 1024 bits
        let jwk = serde_json::json!({"kty":"RSA","n": small,"e":"AQAB"});
        let err = AccountKey::from_jwk(jwk.as_object().expect("object")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadPublicKey);
        let jwk = serde_json::json!({"kty":"EC","crv":"P-521","x":"AA","y":"AA"});
        let err = AccountKey::from_jwk(jwk.as_object().expect("object")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadPublicKey);
        let jwk = serde_json::json!({"kty":"oct","k":"AA"});
        let err = AccountKey::from_jwk(jwk.as_object().expect("object")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadPublicKey);
    }

    #[test]
    fn small_order_ed25519_keys_are_refused() {
        use ring::signature::{UnparsedPublicKey, ED25519};
        // The identity key: R = identity, S = 0 verifies over any message.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut forged = [0u8; 64];
        forged[0] = 1;
        assert!(UnparsedPublicKey::new(&ED25519, identity)
            .verify(b"any message", &forged)
            .is_ok());
        for bad in SMALL_ORDER.iter().chain(&[{
            let mut signed = identity;
            signed[31] |= 0x80;
            signed
        }]) {
            let jwk = serde_json::json!({"kty":"OKP","crv":"Ed25519","x": B64.encode(bad)});
            let err = AccountKey::from_jwk(jwk.as_object().expect("object")).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadPublicKey, "{bad:?}");
        }
        let mut fine = [9u8; 32];
        fine[31] = 0x10;
        let jwk = serde_json::json!({"kty":"OKP","crv":"Ed25519","x": B64.encode(fine)});
        assert!(AccountKey::from_jwk(jwk.as_object().expect("object")).is_ok());
    }

    #[test]
    fn private_keys_are_refused() {
        let jwk = serde_json::json!({"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"});
        let err = AccountKey::from_jwk(jwk.as_object().expect("object")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Malformed);
    }

    #[test]
    fn verifies_es256_es384_eddsa_rs256_as_clients_sign() {
        use josekit::jws::{EdDSA, ES256, ES384, RS256};
        let input = b"protected.payload";
        let cases: Vec<(Alg, Box<dyn josekit::jws::JwsSigner>, josekit::jwk::Jwk)> = vec![
            {
                let k = ES256.generate_key_pair().unwrap();
                (
                    Alg::Es256,
                    Box::new(ES256.signer_from_jwk(&k.to_jwk_private_key()).unwrap()),
                    k.to_jwk_public_key(),
                )
            },
            {
                let k = ES384.generate_key_pair().unwrap();
                (
                    Alg::Es384,
                    Box::new(ES384.signer_from_jwk(&k.to_jwk_private_key()).unwrap()),
                    k.to_jwk_public_key(),
                )
            },
            {
                let k = EdDSA
                    .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
                    .unwrap();
                (
                    Alg::EdDsa,
                    Box::new(EdDSA.signer_from_jwk(&k.to_jwk_private_key()).unwrap()),
                    k.to_jwk_public_key(),
                )
            },
            {
                let k = RS256.generate_key_pair(2048).unwrap();
                (
                    Alg::Rs256,
                    Box::new(RS256.signer_from_jwk(&k.to_jwk_private_key()).unwrap()),
                    k.to_jwk_public_key(),
                )
            },
        ];
        for (alg, signer, jwk) in cases {
            let key = AccountKey::from_jwk(jwk.as_ref()).unwrap();
            let signature = signer.sign(input).unwrap();
            assert!(key.verify(alg, input, &signature).is_ok(), "{alg:?}");
            assert_eq!(
                key.verify(alg, b"other", &signature).unwrap_err().kind,
                ErrorKind::Malformed
            );
        }
    }

    #[test]
    fn hmac_rejects_wrong_mac_and_alg() {
        let key = [7u8; 32];
        let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key), b"in");
        assert!(verify_hmac("HS256", &key, b"in", tag.as_ref()).is_ok());
        assert_eq!(
            verify_hmac("HS256", &key, b"other", tag.as_ref())
                .unwrap_err()
                .kind,
            ErrorKind::Unauthorized
        );
        assert_eq!(
            verify_hmac("none", &key, b"in", tag.as_ref())
                .unwrap_err()
                .kind,
            ErrorKind::BadSignatureAlgorithm
        );
    }
}
