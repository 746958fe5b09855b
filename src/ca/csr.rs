//! PKCS#10 certificate signing requests (RFC 2986) as ACME finalize
//! delivers them (RFC 8555 §7.4).
//!
//! Parsed with x509-parser, not rcgen's `CertificateSigningRequestParams`:
//! rcgen rejects CSRs with extensions it does not know (e.g. the TLS
//! feature "must-staple") and copies requested basicConstraints, key usage
//! and EKU into parameters we would then have to scrub. We take exactly two
//! things from a CSR: the public key and the names.

use std::fmt;

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Version};

use crate::error::{Error, ErrorKind, Result};

/// What a CSR contributes to a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCsr {
    /// SubjectPublicKeyInfo DER, exactly as in the CSR.
    pub public_key_der: Vec<u8>,
    pub key_type: KeyType,
    /// subjectAltName dNSNames, lowercased, in CSR order, deduplicated.
    pub names: Vec<String>,
    /// The subject commonName, lowercased. RFC 8555 §7.4 lets a CSR carry a
    /// name only here; see [`ParsedCsr::identifiers`].
    pub common_name: Option<String>,
}

impl ParsedCsr {
    /// Every DNS name the CSR requests: `names`, then the commonName if the
    /// SAN does not already list it (RFC 8555 §7.4: identifiers "MUST appear
    /// either in the commonName ... or in an extensionRequest ... or both").
    /// Compare this set with the order's identifiers.
    pub fn identifiers(&self) -> Vec<String> {
        let mut ids = self.names.clone();
        if let Some(cn) = &self.common_name {
            if !ids.contains(cn) {
                ids.push(cn.clone());
            }
        }
        ids
    }
}

/// Subscriber key types we certify (BR §6.1.5 allows RSA ≥ 2048 and ECDSA
/// P-256/P-384/P-521; P-521 is left out because ring cannot verify it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// Modulus size in bits.
    Rsa(u32),
    EcdsaP256,
    EcdsaP384,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::Rsa(bits) => write!(f, "RSA {bits}"),
            KeyType::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyType::EcdsaP384 => f.write_str("ECDSA P-384"),
        }
    }
}

const RSA_MIN_BITS: u32 = 2048;
const RSA_MAX_BITS: u32 = 4096;

const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";
const OID_ED25519: &str = "1.3.101.112";
const OID_ED448: &str = "1.3.101.113";

/// CSR signature algorithms we accept: SHA-2 with RSA PKCS#1 v1.5 or
/// ECDSA. SHA-1 and MD5 are refused (BR §7.1.3.2 forbids them for the
/// certificates themselves; a proof of possession made with them is no
/// proof).
const CSR_SIGNATURE_ALGORITHMS: &[&str] = &[
    "1.2.840.113549.1.1.11", // sha256WithRSAEncryption
    "1.2.840.113549.1.1.12", // sha384WithRSAEncryption
    "1.2.840.113549.1.1.13", // sha512WithRSAEncryption
    "1.2.840.10045.4.3.2",   // ecdsa-with-SHA256
    "1.2.840.10045.4.3.3",   // ecdsa-with-SHA384
];

fn bad_key(detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadPublicKey, detail)
}

impl KeyType {
    /// Classifies a SubjectPublicKeyInfo DER, refusing weak or unsupported
    /// keys with `BadPublicKey`.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| bad_key(format!("public key does not parse: {e}")))?;
        if !rest.is_empty() {
            return Err(bad_key("trailing data after the public key"));
        }
        Self::from_spki(&spki)
    }

    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self> {
        let alg = spki.algorithm.algorithm.to_id_string();
        match alg.as_str() {
            OID_RSA_ENCRYPTION => match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => rsa_key_type(rsa.modulus, rsa.exponent),
                _ => Err(bad_key("RSA public key does not parse")),
            },
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .ok_or_else(|| bad_key("ECDSA key without a named curve"))?;
                // SEC 1 §2.3.3 uncompressed point: 0x04 || X || Y. ring
                // accepts only this form.
                let point = &spki.subject_public_key.data;
                let (key_type, len) = match curve.as_str() {
                    OID_P256 => (KeyType::EcdsaP256, 65),
                    OID_P384 => (KeyType::EcdsaP384, 97),
                    OID_P521 => {
                        return Err(bad_key(
                            "ECDSA P-521 keys are not supported; use P-256 or P-384",
                        ))
                    }
                    other => {
                        return Err(bad_key(format!(
                            "ECDSA curve {other} is not supported; use P-256 or P-384"
                        )))
                    }
                };
                if point.len() != len || point.first() != Some(&0x04) {
                    return Err(bad_key(format!(
                        "{key_type} public key must be an uncompressed point"
                    )));
                }
                Ok(key_type)
            }
            OID_ED25519 | OID_ED448 => Err(bad_key(
                "EdDSA keys are not accepted for TLS certificates (BR §6.1.5); \
                 use RSA 2048-4096 or ECDSA P-256/P-384",
            )),
            other => Err(bad_key(format!(
                "public key algorithm {other} is not supported; \
                 use RSA 2048-4096 or ECDSA P-256/P-384"
            ))),
        }
    }
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

/// BR §6.1.5: modulus at least 2048 bits and a multiple of 8; we also cap
/// at 4096. BR §6.1.6: odd exponent ≥ 3, SHOULD be ≥ 2^16+1; we require
/// ≥ 65537 and < 2^32 (ring refuses exponents of 2^33 and above, so a
/// larger one would yield a certificate rustls clients cannot use).
fn rsa_key_type(modulus: &[u8], exponent: &[u8]) -> Result<KeyType> {
    let n = strip_leading_zeros(modulus);
    let Some(&top) = n.first() else {
        return Err(bad_key("RSA modulus is zero"));
    };
    let bits = (n.len() as u64 - 1) * 8 + u64::from(8 - top.leading_zeros());
    if bits < u64::from(RSA_MIN_BITS) {
        return Err(bad_key(format!(
            "RSA key of {bits} bits is too small; {RSA_MIN_BITS} to {RSA_MAX_BITS} bits required"
        )));
    }
    if bits > u64::from(RSA_MAX_BITS) {
        return Err(bad_key(format!(
            "RSA key of {bits} bits is too large; {RSA_MIN_BITS} to {RSA_MAX_BITS} bits required"
        )));
    }
    if bits % 8 != 0 {
        return Err(bad_key(format!(
            "RSA modulus of {bits} bits is not a multiple of 8 (BR §6.1.5)"
        )));
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Err(bad_key("RSA modulus is even"));
    }
    let e = strip_leading_zeros(exponent);
    if e.len() > 4 {
        return Err(bad_key("RSA public exponent is too large (must be < 2^32)"));
    }
    let e = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if e < 65537 || e % 2 == 0 {
        return Err(bad_key(format!(
            "RSA public exponent {e} is not allowed; use an odd exponent ≥ 65537 (BR §6.1.6)"
        )));
    }
    // bits ≤ 4096 was checked above, so this cannot truncate.
    Ok(KeyType::Rsa(bits as u32))
}

/// RFC 8555 §7.4: parses a DER CSR, checks the key (RSA 2048..=4096, ECDSA
/// P-256/P-384) and the proof of possession (signature), and collects the
/// names.
///
/// Errors: `BadCsr` for anything malformed, a bad signature or a
/// non-DNS subjectAltName; `BadPublicKey` for a weak or unsupported key.
/// Extensions other than subjectAltName are ignored (must-staple and
/// friends are fine): the profile decides what the certificate contains.
pub fn parse(der: &[u8]) -> Result<ParsedCsr> {
    let csr = parse_request(der)?;
    let info = &csr.certification_request_info;
    // Classify the key before checking the signature: a P-521 or Ed25519
    // request is a key problem (badPublicKey), whether or not we could
    // verify its signature.
    let key_type = KeyType::from_spki(&info.subject_pki)?;
    // The key must also be one rcgen can place in a certificate.
    rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw)
        .map_err(|e| bad_key(format!("public key encoding is not supported: {e}")))?;
    check_signature(&csr)?;
    let names = san_names(&csr)?;
    let common_name = common_name(&csr)?;
    if names.is_empty() && common_name.is_none() {
        return Err(Error::bad_csr(
            "CSR names no identifier: neither a subjectAltName dNSName nor a commonName",
        ));
    }
    Ok(ParsedCsr {
        public_key_der: info.subject_pki.raw.to_vec(),
        key_type,
        names,
        common_name,
    })
}

/// The DER request, nothing after it, version 1 (RFC 2986 §4.1: the only
/// one defined).
fn parse_request(der: &[u8]) -> Result<X509CertificationRequest<'_>> {
    let (rest, csr) = X509CertificationRequest::from_der(der)
        .map_err(|e| Error::bad_csr(format!("CSR is not a valid DER PKCS#10 request: {e}")))?;
    if !rest.is_empty() {
        return Err(Error::bad_csr("trailing data after the CSR"));
    }
    let version = csr.certification_request_info.version;
    if version != X509Version(0) {
        return Err(Error::bad_csr(format!(
            "CSR version {} is not v1",
            version.0
        )));
    }
    Ok(csr)
}

/// The proof of possession: an accepted algorithm, and a signature that
/// verifies with the requested key.
fn check_signature(csr: &X509CertificationRequest<'_>) -> Result<()> {
    let sig_alg = csr.signature_algorithm.algorithm.to_id_string();
    if !CSR_SIGNATURE_ALGORITHMS.contains(&sig_alg.as_str()) {
        return Err(Error::bad_csr(format!(
            "CSR signature algorithm {sig_alg} is not accepted; \
             use SHA-256/384/512 with RSA PKCS#1 v1.5 or ECDSA"
        )));
    }
    csr.verify_signature()
        .map_err(|_| Error::bad_csr("CSR signature does not verify with its public key"))
}

/// The dNSNames of the requested subjectAltName (at most one), lowercased
/// and deduplicated in CSR order; other requested extensions are ignored.
fn san_names(csr: &X509CertificationRequest<'_>) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    let mut seen_san = false;
    for ext in csr.requested_extensions().into_iter().flatten() {
        match ext {
            ParsedExtension::SubjectAlternativeName(san) => {
                if seen_san {
                    return Err(Error::bad_csr(
                        "CSR requests more than one subjectAltName extension",
                    ));
                }
                seen_san = true;
                for gn in &san.general_names {
                    let name = dns_name(gn)?;
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            ParsedExtension::ParseError { error } => {
                return Err(Error::bad_csr(format!(
                    "CSR requests a malformed extension: {error}"
                )));
            }
            _ => {}
        }
    }
    Ok(names)
}

/// The subject's commonName, lowercased; at most one, empty is none.
fn common_name(csr: &X509CertificationRequest<'_>) -> Result<Option<String>> {
    let mut cns = csr.certification_request_info.subject.iter_common_name();
    let common_name = match cns.next() {
        None => None,
        Some(cn) => {
            let s = cn
                .as_str()
                .map_err(|_| Error::bad_csr("CSR commonName is not a string"))?;
            if s.is_empty() {
                None
            } else {
                Some(s.to_ascii_lowercase())
            }
        }
    };
    if cns.next().is_some() {
        return Err(Error::bad_csr("CSR subject has more than one commonName"));
    }
    Ok(common_name)
}

fn dns_name(gn: &GeneralName<'_>) -> Result<String> {
    let kind = match gn {
        GeneralName::DNSName(s) => {
            if s.is_empty() {
                return Err(Error::bad_csr("CSR requests an empty dNSName"));
            }
            if !s.is_ascii() {
                return Err(Error::bad_csr(format!(
                    "CSR dNSName {s:?} is not ASCII; use the IDNA A-label form"
                )));
            }
            return Ok(s.to_ascii_lowercase());
        }
        GeneralName::IPAddress(_) => "an IP address",
        GeneralName::RFC822Name(_) => "an e-mail address",
        GeneralName::URI(_) => "a URI",
        GeneralName::DirectoryName(_) => "a directory name",
        GeneralName::OtherName(..) => "an otherName",
        GeneralName::RegisteredID(_) => "a registeredID",
        GeneralName::X400Address(_) | GeneralName::EDIPartyName(_) => "an unsupported name form",
        GeneralName::Invalid(..) => "a malformed name",
    };
    Err(Error::bad_csr(format!(
        "CSR requests {kind} in subjectAltName; only DNS names are supported"
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ca::testutil::{openssl_csr, rcgen_csr};
    use rcgen::{
        CertificateParams, KeyPair, PublicKeyData, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
    };

    fn kind(r: Result<ParsedCsr>) -> ErrorKind {
        r.expect_err("CSR should be refused").kind
    }

    #[test]
    fn rcgen_p256_and_p384() {
        for (alg, kt) in [
            (&PKCS_ECDSA_P256_SHA256, KeyType::EcdsaP256),
            (&PKCS_ECDSA_P384_SHA384, KeyType::EcdsaP384),
        ] {
            let key = KeyPair::generate_for(alg).unwrap();
            let der = rcgen_csr(&["WWW.Example.com", "example.com", "www.example.com"], &key);
            let p = parse(&der).unwrap();
            assert_eq!(p.key_type, kt);
            assert_eq!(p.names, vec!["www.example.com", "example.com"]);
            assert_eq!(p.public_key_der, key.subject_public_key_info());
            assert_eq!(p.common_name, None);
        }
    }

    #[test]
    fn openssl_rsa_2048_and_4096_accepted() {
        for bits in [2048, 4096] {
            let Some(der) = openssl_csr(
                &format!("rsa:{bits}"),
                &[
                    "-subj",
                    "/CN=Example.COM",
                    "-addext",
                    "subjectAltName=DNS:example.com,DNS:*.example.com",
                ],
            ) else {
                return;
            };
            let p = parse(&der).unwrap();
            assert_eq!(p.key_type, KeyType::Rsa(bits));
            assert_eq!(p.names, vec!["example.com", "*.example.com"]);
            assert_eq!(p.common_name.as_deref(), Some("example.com"));
            assert_eq!(p.identifiers(), vec!["example.com", "*.example.com"]);
        }
    }

    #[test]
    fn openssl_weak_or_unsupported_keys_are_bad_public_key() {
        let cases: &[(&str, &[&str])] = &[
            ("rsa:1024", &[]),
            ("rsa:4104", &[]),
            ("ec", &["-pkeyopt", "ec_paramgen_curve:P-521"]),
            ("ed25519", &[]),
        ];
        for (newkey, extra) in cases {
            let mut args = vec!["-subj", "/CN=example.com"];
            args.extend_from_slice(extra);
            let Some(der) = openssl_csr(newkey, &args) else {
                return;
            };
            let err = parse(&der).expect_err(newkey);
            assert_eq!(
                err.kind,
                ErrorKind::BadPublicKey,
                "{newkey}: {}",
                err.detail
            );
        }
    }

    #[test]
    fn openssl_must_staple_is_accepted() {
        let Some(der) = openssl_csr(
            "ec",
            &[
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-subj",
                "/",
                "-addext",
                "subjectAltName=DNS:staple.example.net",
                "-addext",
                "tlsfeature=status_request",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
            ],
        ) else {
            return;
        };
        let p = parse(&der).unwrap();
        assert_eq!(p.key_type, KeyType::EcdsaP256);
        assert_eq!(p.names, vec!["staple.example.net"]);
    }

    #[test]
    fn tampered_signature_is_bad_csr() {
        let key = KeyPair::generate().unwrap();
        let mut der = rcgen_csr(&["example.com"], &key);
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let err = parse(&der).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadCsr);
        assert!(err.detail.contains("signature"), "{}", err.detail);

        if let Some(mut der) = openssl_csr("rsa:2048", &["-subj", "/CN=example.com"]) {
            let last = der.len() - 1;
            der[last] ^= 0x80;
            assert_eq!(kind(parse(&der)), ErrorKind::BadCsr);
        }
    }

    #[test]
    fn garbage_is_bad_csr() {
        assert_eq!(kind(parse(b"")), ErrorKind::BadCsr);
        assert_eq!(kind(parse(b"not a csr")), ErrorKind::BadCsr);
        let key = KeyPair::generate().unwrap();
        let mut der = rcgen_csr(&["example.com"], &key);
        der.push(0);
        assert_eq!(kind(parse(&der)), ErrorKind::BadCsr);
    }

    #[test]
    fn non_dns_sans_are_bad_csr() {
        let key = KeyPair::generate().unwrap();
        for (sans, what) in [
            (
                vec!["example.com".to_string(), "192.0.2.1".to_string()],
                "IP address",
            ),
            (vec!["::1".to_string()], "IP address"),
        ] {
            let params = CertificateParams::new(sans).unwrap();
            let der = params.serialize_request(&key).unwrap().der().to_vec();
            let err = parse(&der).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadCsr);
            assert!(err.detail.contains(what), "{}", err.detail);
        }
        if let Some(der) = openssl_csr(
            "ec",
            &[
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-subj",
                "/",
                "-addext",
                "subjectAltName=DNS:a.example.net,email:x@a.example.net,URI:https://a.example.net/",
            ],
        ) {
            let err = parse(&der).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadCsr);
            assert!(err.detail.contains("e-mail"), "{}", err.detail);
        }
    }

    #[test]
    fn no_identifier_is_bad_csr() {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let der = params.serialize_request(&key).unwrap().der().to_vec();
        assert_eq!(kind(parse(&der)), ErrorKind::BadCsr);
    }

    #[test]
    fn common_name_only_counts_as_identifier() {
        let key = KeyPair::generate().unwrap();
        // rcgen's default subject is CN=rcgen self signed cert; use ours.
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "CN-Only.Example.net");
        let der = params.serialize_request(&key).unwrap().der().to_vec();
        let p = parse(&der).unwrap();
        assert!(p.names.is_empty());
        assert_eq!(p.identifiers(), vec!["cn-only.example.net"]);
    }

    #[test]
    fn rsa_key_rules() {
        let mut n = vec![0xC1u8; 256];
        n[255] = 0x01;
        assert_eq!(rsa_key_type(&n, &[1, 0, 1]).unwrap(), KeyType::Rsa(2048));
        // Leading zero octet (DER INTEGER sign byte) is not counted.
        let mut n0 = vec![0u8];
        n0.extend_from_slice(&n);
        assert_eq!(rsa_key_type(&n0, &[1, 0, 1]).unwrap(), KeyType::Rsa(2048));
        assert!(rsa_key_type(&n, &[3]).is_err());
        assert!(rsa_key_type(&n, &[1, 0, 0]).is_err());
        assert!(rsa_key_type(&n, &[1, 0, 0, 0, 1]).is_err());
        let mut even = n.clone();
        even[255] = 0x02;
        assert!(rsa_key_type(&even, &[1, 0, 1]).is_err());
        // 2047 bits: top byte 0x7f.
        let mut short = n.clone();
        short[0] = 0x7f;
        assert!(rsa_key_type(&short, &[1, 0, 1]).is_err());
    }
}
