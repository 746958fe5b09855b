//! The certificate authority: holds the intermediate's key, builds
//! subscriber certificates from a profile, lints and signs them.
//!
//! The registration authority decides *whether* to issue; this module only
//! turns an [`IssuanceRequest`] into a certificate that matches its profile,
//! or refuses.

pub mod crl;
pub mod csr;
pub mod dev;
pub mod lint;
pub mod profile;
pub mod schedule;
pub mod subject;
#[cfg(test)]
mod testutil;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use rcgen::{Issuer, KeyPair, PublicKeyData, SanType};
use ring::rand::{SecureRandom, SystemRandom};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::{Error, ErrorKind, Result};

pub use subject::{EvSubject, SubjectInfo};

/// What the RA asks the CA to sign. The CA adds nothing from elsewhere:
/// the profile fixes every other field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuanceRequest {
    /// SubjectPublicKeyInfo DER from the CSR.
    pub public_key_der: Vec<u8>,
    /// DNS names, already validated and lowercased; may include `*.x`
    /// wildcards when the profile allows them.
    pub names: Vec<String>,
    pub profile: profile::Profile,
    /// Whole seconds are used; a sub-second part is dropped.
    pub not_before: OffsetDateTime,
    /// Inclusive (BR §1.6.4); see `schedule::latest_not_after`.
    pub not_after: OffsetDateTime,
    pub serial: Serial,
    /// CRL Distribution Point URL (http://).
    pub crl_url: Option<String>,
    /// AIA caIssuers URL (http://) where the intermediate can be fetched.
    pub issuer_url: Option<String>,
    /// The vetted organization's subject: required by `ov` and `ev`
    /// ([`profile::Profile::requires_subject`]; `ov` ignores its EV
    /// fields), `None` for `dv`. Never taken from the CSR.
    pub subject: Option<SubjectInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    pub serial: Serial,
    pub der: Vec<u8>,
    pub pem: String,
    /// As written in the certificate (whole seconds).
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// A certificate serial number: 128 bits from the OS CSPRNG (BR §7.1
/// requires ≥ 64), positive and never zero (RFC 5280 §4.1.2.2).
///
/// [`Serial::random`] also keeps the first octet non-zero, so the DER
/// INTEGER is always exactly these 16 octets and the hex form is the
/// serial as openssl prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Serial(pub [u8; 16]);

impl Serial {
    pub fn random() -> Result<Self> {
        let rng = SystemRandom::new();
        loop {
            let mut b = [0u8; 16];
            rng.fill(&mut b)
                .map_err(|_| Error::internal("the OS random number generator failed"))?;
            // Clear the sign bit (a DER INTEGER with it set is negative).
            b[0] &= 0x7f;
            // Rejection sampling (probability 1/128): a zero first octet
            // would make the encoded serial shorter than 16 octets.
            if b[0] != 0 {
                return Ok(Serial(b));
            }
        }
    }

    /// Lowercase hex, 32 characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Inverse of [`Serial::to_hex`]: exactly 32 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        // Check the digits ourselves: from_str_radix also accepts a sign.
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Serial(out))
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Lifetime of the server's own TLS certificate.
const SERVER_CERT_VALIDITY: Duration = Duration::days(90);
/// Backdating of the server's own certificate, for client clock skew.
const SERVER_CERT_BACKDATE: Duration = Duration::minutes(5);

pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    /// Makes the copy of each certificate that the pre-issuance lint reads,
    /// so a certificate that fails it never carries the real signature.
    /// Same name and key identifier as the intermediate; see `LintCopyKey`.
    lint_issuer: Issuer<'static, LintCopyKey>,
    root_pem: String,
    intermediate_pem: String,
    intermediate_der: Vec<u8>,
    /// The intermediate's subject key identifier: every certificate's AKI,
    /// and the first half of an ARI certificate identifier (RFC 9773).
    intermediate_key_id: Option<Vec<u8>>,
    /// DER of the intermediate's subject Name (every certificate's issuer)
    /// and of its subjectPublicKeyInfo (what every signature must verify
    /// with), taken once at load rather than parsed from the certificate
    /// at every issuance.
    intermediate_name_der: Vec<u8>,
    intermediate_spki_der: Vec<u8>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("CertificateAuthority")
            .field("intermediate_der_len", &self.intermediate_der.len())
            .finish_non_exhaustive()
    }
}

/// "Signs" the lint copy with zeros. The lint reads everything but the
/// copy's signature, which would prove nothing (`lint::check_lint_copy`),
/// and the real certificate must repeat the copy's tbsCertificate byte
/// for byte, so an ECDSA signature by a throwaway key (as before) only
/// cost a signing operation an order. It also lets the lint run before
/// signing for every key type, where a throwaway RSA key could not be
/// generated with ring.
struct LintCopyKey {
    /// The intermediate's public key and algorithm: what the copy's
    /// signature fields name, as the real certificate's do.
    public_key: Vec<u8>,
    algorithm: &'static rcgen::SignatureAlgorithm,
}

impl PublicKeyData for LintCopyKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.algorithm
    }
}

impl rcgen::SigningKey for LintCopyKey {
    fn sign(&self, _tbs: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        // Not the real signature's length (up to 104 octets for ECDSA
        // P-384, 512 for RSA-4096): it changes nothing the lint reads.
        Ok(vec![0; 64])
    }
}

/// PEM of one certificate, LF line endings, ending in a newline, so PEMs
/// concatenate into a chain.
pub(crate) fn cert_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The DER of the single CERTIFICATE block in `text`.
fn single_cert_der(text: &str, path: &Path) -> Result<Vec<u8>> {
    let blocks = pem::parse_many(text)
        .map_err(|e| Error::internal(format!("{}: not PEM: {e}", path.display())))?;
    let mut certs = blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE");
    match (certs.next(), certs.next()) {
        (Some(c), None) => Ok(c.into_contents()),
        (None, _) => Err(Error::internal(format!(
            "{}: no CERTIFICATE block",
            path.display()
        ))),
        (Some(_), Some(_)) => Err(Error::internal(format!(
            "{}: more than one certificate; expected exactly one",
            path.display()
        ))),
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))
}

fn parse_cert<'a>(der: &'a [u8], path: &Path) -> Result<X509Certificate<'a>> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| Error::internal(format!("{}: not an X.509 certificate: {e}", path.display())))
}

impl CertificateAuthority {
    /// Loads root cert PEM, intermediate cert PEM and intermediate PKCS#8
    /// key PEM from files, and checks that they belong together: the
    /// intermediate is a CA signed by the root, and the key is its key.
    pub fn load(
        root_cert: &Path,
        intermediate_cert: &Path,
        intermediate_key: &Path,
    ) -> Result<Self> {
        let root_der = single_cert_der(&read(root_cert)?, root_cert)?;
        let intermediate_der = single_cert_der(&read(intermediate_cert)?, intermediate_cert)?;
        let root = parse_cert(&root_der, root_cert)?;
        let inter = parse_cert(&intermediate_der, intermediate_cert)?;

        if !inter.is_ca() {
            return Err(Error::internal(format!(
                "{}: not a CA certificate (basicConstraints cA is not TRUE)",
                intermediate_cert.display()
            )));
        }
        if inter.issuer() != root.subject()
            || inter.verify_signature(Some(root.public_key())).is_err()
        {
            return Err(Error::internal(format!(
                "{} is not signed by the root {}",
                intermediate_cert.display(),
                root_cert.display()
            )));
        }

        let key = KeyPair::from_pem(&read(intermediate_key)?).map_err(|e| {
            Error::internal(format!(
                "{}: not a PKCS#8 PEM private key ring can use: {e}",
                intermediate_key.display()
            ))
        })?;
        if key.subject_public_key_info() != inter.public_key().raw {
            return Err(Error::internal(format!(
                "{} is not the key of {}",
                intermediate_key.display(),
                intermediate_cert.display()
            )));
        }

        let intermediate_key_id = lint::subject_key_id(&inter).map(<[u8]>::to_vec);
        let intermediate_name_der = inter.subject().as_raw().to_vec();
        let intermediate_spki_der = inter.public_key().raw.to_vec();
        let intermediate_pem = cert_pem(&intermediate_der);
        let lint_key = LintCopyKey {
            public_key: key.der_bytes().to_vec(),
            algorithm: key.algorithm(),
        };
        let issuer = Issuer::from_ca_cert_pem(&intermediate_pem, key)
            .map_err(|e| Error::internal(format!("{}: {e}", intermediate_cert.display())))?;
        let lint_issuer = Issuer::from_ca_cert_pem(&intermediate_pem, lint_key)
            .map_err(|e| Error::internal(format!("lint issuer: {e}")))?;

        Ok(CertificateAuthority {
            issuer,
            lint_issuer,
            root_pem: cert_pem(&root_der),
            intermediate_pem,
            intermediate_der,
            intermediate_key_id,
            intermediate_name_der,
            intermediate_spki_der,
        })
    }

    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// PEM of the intermediate: appended after the leaf in the chain served
    /// to clients.
    pub fn intermediate_pem(&self) -> &str {
        &self.intermediate_pem
    }

    /// The intermediate's subject key identifier, if it has one.
    pub fn intermediate_key_id(&self) -> Option<&[u8]> {
        self.intermediate_key_id.as_deref()
    }

    /// DER of the intermediate (what an AIA caIssuers URL serves, RFC 5280
    /// §4.2.2.1).
    pub fn intermediate_der(&self) -> &[u8] {
        &self.intermediate_der
    }

    #[cfg(test)]
    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    /// Signs a subscriber certificate. The parameters are built fresh from
    /// the profile: only the public key, the names and (for `ov`/`ev`) the
    /// vetted organization's subject come from the request. An `ev` request
    /// with a wildcard name is `RejectedIdentifier`; a missing or invalid
    /// subject is `ServerInternal`.
    ///
    /// Pre-issuance lint (BR §4.3.1.2): a copy of the certificate with a
    /// placeholder signature (`LintCopyKey`) is made first and linted; only
    /// if that passes is it signed with the intermediate, and the result
    /// must carry the same tbsCertificate, byte for byte, and a signature
    /// that verifies with the intermediate's key (`lint::check_final`). A
    /// lint failure returns `ServerInternal` with the lint message and logs
    /// an error.
    pub fn issue(&self, req: &IssuanceRequest) -> Result<IssuedCertificate> {
        let key_type = csr::KeyType::from_spki_der(&req.public_key_der)?;
        let spki = rcgen::SubjectPublicKeyInfo::from_der(&req.public_key_der).map_err(|e| {
            Error::new(
                ErrorKind::BadPublicKey,
                format!("public key not supported: {e}"),
            )
        })?;
        let params = req.profile.certificate_params(req, key_type)?;

        let issuer_key = SubjectPublicKeyInfo::from_der(&self.intermediate_spki_der)
            .map(|(_, k)| k)
            .map_err(|e| Error::internal(format!("intermediate key does not parse: {e}")))?;

        // The lint copy is linted before the CA key signs anything (BR
        // §4.3.1.2); the real certificate must then match it.
        let signer = lint::Signer {
            name_der: &self.intermediate_name_der,
            key_id: self.intermediate_key_id.as_deref(),
        };
        let copy = params
            .signed_by(&spki, &self.lint_issuer)
            .map_err(|e| Error::internal(format!("making the lint copy: {e}")))?;
        let linted =
            lint::check_lint_copy(copy.der(), req, &signer).map_err(|m| lint_failure(req, &m))?;

        let cert = params
            .signed_by(&spki, &self.issuer)
            .map_err(|e| Error::internal(format!("signing: {e}")))?;
        let der = cert.der().to_vec();
        lint::check_final(&der, &linted, &issuer_key).map_err(|m| lint_failure(req, &m))?;

        tracing::info!(serial = %req.serial, names = ?req.names, profile = req.profile.name(), "issued certificate");
        Ok(IssuedCertificate {
            serial: req.serial,
            pem: cert_pem(&der),
            der,
            not_before: profile::whole_seconds(req.not_before),
            not_after: profile::whole_seconds(req.not_after),
        })
    }

    /// A TLS serving certificate and a fresh P-256 key for the server
    /// itself (`server.tls = "self-issued"`). `names` are DNS names; when
    /// "localhost" is among them the IP SAN 127.0.0.1 is added too. Returns
    /// (chain PEM: leaf + intermediate, PKCS#8 key PEM).
    ///
    /// This is the DV profile plus that IP address, which the subscriber
    /// lint would refuse (BR §7.1.2.7.12 forbids reserved IPs), so it is
    /// not linted. It suits a development CA; a production CA should serve
    /// with `tls = "files"`.
    pub fn issue_server_certificate(&self, names: &[String]) -> Result<(String, String)> {
        let key = KeyPair::generate()
            .map_err(|e| Error::internal(format!("generating the server key: {e}")))?;
        let now = OffsetDateTime::now_utc();
        let not_before = now - SERVER_CERT_BACKDATE;
        let not_after = (not_before + SERVER_CERT_VALIDITY - Duration::SECOND)
            .min(schedule::latest_not_after(now, not_before));
        let names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        let req = IssuanceRequest {
            public_key_der: key.subject_public_key_info(),
            names,
            profile: profile::Profile::Dv,
            not_before,
            not_after,
            serial: Serial::random()?,
            crl_url: None,
            issuer_url: None,
            subject: None,
        };
        let mut params = req
            .profile
            .certificate_params(&req, csr::KeyType::EcdsaP256)?;
        if req.names.iter().any(|n| n == "localhost") {
            params
                .subject_alt_names
                .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        }
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| Error::internal(format!("signing the server certificate: {e}")))?;
        let chain = format!("{}{}", cert_pem(cert.der()), self.intermediate_pem);
        Ok((chain, key.serialize_pem()))
    }
}

/// The dNSNames of a certificate's subjectAltName, as written (none when
/// it has no SAN or the extension does not parse).
pub fn dns_names<'a>(cert: &'a X509Certificate<'_>) -> Vec<&'a str> {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|g| match g {
            GeneralName::DNSName(d) => Some(*d),
            _ => None,
        })
        .collect()
}

fn lint_failure(req: &IssuanceRequest, message: &str) -> Error {
    tracing::error!(
        serial = %req.serial,
        names = ?req.names,
        profile = req.profile.name(),
        lint = message,
        "pre-issuance lint refused a certificate"
    );
    Error::internal(format!("pre-issuance lint: {message}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::profile::Profile;
    use super::testutil::{
        ev_subject, openssl_csr, openssl_text, openssl_verify, ov_subject, rcgen_csr, request,
        vetted_request, TestCa,
    };
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyUsagePurpose, PKCS_ECDSA_P384_SHA384,
    };
    use x509_parser::extensions::{GeneralName, ParsedExtension};

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn authority_is_send_and_sync() {
        assert_send_sync::<CertificateAuthority>();
    }

    #[test]
    fn serial_is_positive_128_bit_and_round_trips() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let s = Serial::random().unwrap();
            assert!(s.0[0] != 0 && s.0[0] < 0x80);
            let h = s.to_hex();
            assert_eq!(h.len(), 32);
            assert_eq!(h, h.to_lowercase());
            assert_eq!(Serial::from_hex(&h), Some(s));
            assert_eq!(Serial::from_hex(&h.to_uppercase()), Some(s));
            assert!(seen.insert(s));
        }
        assert_eq!(Serial::from_hex(""), None);
        assert_eq!(Serial::from_hex(&"0".repeat(31)), None);
        assert_eq!(Serial::from_hex(&"0".repeat(33)), None);
        assert_eq!(Serial::from_hex(&"g".repeat(32)), None);
        assert_eq!(Serial::from_hex(&format!("+{}", "1".repeat(31))), None);
        assert_eq!(Serial::from_hex(&"é".repeat(16)), None);
    }

    fn ext<'a>(
        c: &'a X509Certificate<'a>,
        oid: &str,
    ) -> &'a x509_parser::extensions::X509Extension<'a> {
        c.extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == oid)
            .unwrap_or_else(|| panic!("extension {oid} missing"))
    }

    #[test]
    fn issues_a_dv_certificate_that_openssl_verifies() {
        let t = TestCa::new();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let parsed = csr::parse(&rcgen_csr(&["www.example.com", "*.example.com"], &key)).unwrap();
        let mut req = request(&[], parsed.public_key_der.clone());
        req.names = parsed.names.clone();
        let issued = t.ca.issue(&req).unwrap();
        assert_eq!(issued.serial, req.serial);
        assert_eq!(
            issued.not_before,
            req.not_before.replace_nanosecond(0).unwrap()
        );

        let (_, c) = X509Certificate::from_der(&issued.der).unwrap();
        assert_eq!(c.version(), x509_parser::x509::X509Version::V3);
        assert_eq!(c.raw_serial(), &req.serial.0[..]);
        assert_eq!(c.raw_serial().len(), 16);
        assert!(c.subject().iter().next().is_none(), "subject must be empty");
        assert!(!c.is_ca());

        let san = c.subject_alternative_name().unwrap().unwrap();
        assert!(san.critical, "SAN must be critical with an empty subject");
        let names: Vec<_> = san
            .value
            .general_names
            .iter()
            .map(|g| match g {
                GeneralName::DNSName(n) => *n,
                other => panic!("unexpected SAN {other:?}"),
            })
            .collect();
        assert_eq!(names, ["www.example.com", "*.example.com"]);

        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth && !eku.any && eku.other.is_empty());
        let ku = c.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.digital_signature());
        assert!(!ku.value.key_encipherment() && !ku.value.key_cert_sign());
        let bc = c.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && !bc.value.ca);

        match ext(&c, "2.5.29.32").parsed_extension() {
            ParsedExtension::CertificatePolicies(p) => {
                assert_eq!(p.len(), 1);
                assert_eq!(p[0].policy_id.to_id_string(), "2.23.140.1.2.1");
            }
            other => panic!("{other:?}"),
        }
        match ext(&c, "1.3.6.1.5.5.7.1.1").parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(a) => {
                assert_eq!(
                    a.accessdescs[0].access_method.to_id_string(),
                    "1.3.6.1.5.5.7.48.2"
                );
                assert_eq!(
                    a.accessdescs[0].access_location,
                    GeneralName::URI("http://trustgate.test/intermediate.der")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ext(&c, "2.5.29.31").parsed_extension(),
            ParsedExtension::CRLDistributionPoints(_)
        ));

        let (_, inter) = X509Certificate::from_der(t.ca.intermediate_der()).unwrap();
        let aki = match ext(&c, "2.5.29.35").parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.as_ref().unwrap().0,
            other => panic!("{other:?}"),
        };
        assert_eq!(Some(aki), lint::subject_key_id(&inter));
        assert!(matches!(
            ext(&c, "2.5.29.14").parsed_extension(),
            ParsedExtension::SubjectKeyIdentifier(_)
        ));
        assert_eq!(c.issuer(), inter.subject());
        c.verify_signature(Some(inter.public_key())).unwrap();

        if let Some((ok, out)) = openssl_verify(&t, &issued.pem, &[]) {
            assert!(ok, "openssl verify: {out}");
        }
        if let Some((ok, out)) = openssl_verify(&t, &issued.pem, &["-purpose", "sslserver"]) {
            assert!(ok, "openssl verify -purpose sslserver: {out}");
        }
    }

    #[test]
    fn openssl_rsa_csr_gets_key_encipherment() {
        let Some(der) = openssl_csr(
            "rsa:2048",
            &[
                "-subj",
                "/CN=rsa.example",
                "-addext",
                "subjectAltName=DNS:rsa.example",
            ],
        ) else {
            return;
        };
        let t = TestCa::new();
        let parsed = csr::parse(&der).unwrap();
        let req = IssuanceRequest {
            names: parsed.identifiers(),
            ..request(&[], parsed.public_key_der)
        };
        let issued = t.ca.issue(&req).unwrap();
        let (_, c) = X509Certificate::from_der(&issued.der).unwrap();
        let ku = c.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && ku.key_encipherment());
        let (ok, out) = openssl_verify(&t, &issued.pem, &["-purpose", "sslserver"]).unwrap();
        assert!(ok, "{out}");
    }

    /// rcgen's CSR params would copy requested CA:true, KU and EKU; we never
    /// use them, so nothing the CSR asks for reaches the certificate.
    #[test]
    fn csr_requested_extensions_never_leak() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let mut evil = CertificateParams::new(vec!["victim.example".to_string()]).unwrap();
        evil.distinguished_name
            .push(DnType::OrganizationName, "Evil Corp");
        evil.distinguished_name
            .push(DnType::CommonName, "victim.example");
        evil.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        evil.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        evil.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::CodeSigning,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        evil.custom_extensions = vec![
            // TLS feature (must-staple) and an OCSP no-check.
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 24],
                vec![0x30, 0x03, 0x02, 0x01, 0x05],
            ),
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 48, 1, 5], vec![0x05, 0x00]),
        ];
        let csr_der = evil.serialize_request(&key).unwrap().der().to_vec();
        // rcgen itself refuses to parse this CSR (stack.md); we accept it.
        assert!(rcgen::CertificateSigningRequestParams::from_der(&csr_der.clone().into()).is_err());
        let parsed = csr::parse(&csr_der).unwrap();

        let req = IssuanceRequest {
            names: parsed.identifiers(),
            ..request(&[], parsed.public_key_der)
        };
        let issued = t.ca.issue(&req).unwrap();
        let (_, c) = X509Certificate::from_der(&issued.der).unwrap();
        assert!(!c.is_ca());
        assert!(
            c.subject().iter().next().is_none(),
            "subject leaked: {}",
            c.subject()
        );
        let ku = c.key_usage().unwrap().unwrap().value;
        assert!(!ku.key_cert_sign() && !ku.crl_sign());
        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.code_signing && !eku.client_auth);
        let oids: Vec<String> = c
            .extensions()
            .iter()
            .map(|e| e.oid.to_id_string())
            .collect();
        assert!(
            !oids.contains(&"1.3.6.1.5.5.7.1.24".to_string()),
            "{oids:?}"
        );
        assert!(
            !oids.contains(&"1.3.6.1.5.5.7.48.1.5".to_string()),
            "{oids:?}"
        );
    }

    #[test]
    fn lint_failure_is_server_internal_and_nothing_is_returned() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let mut req = request(&["a.example"], key.subject_public_key_info());
        req.not_after = req.not_before + Duration::days(400);
        let err = t.ca.issue(&req).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ServerInternal);
        assert!(err.detail.contains("pre-issuance lint"), "{}", err.detail);
        assert!(err.detail.contains("BR §6.3.2"), "{}", err.detail);
    }

    #[test]
    fn bad_requests_are_refused() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let good = request(&["a.example"], key.subject_public_key_info());

        let mut r = good.clone();
        r.names.clear();
        assert_eq!(t.ca.issue(&r).unwrap_err().kind, ErrorKind::ServerInternal);

        let mut r = good.clone();
        r.public_key_der = b"junk".to_vec();
        assert_eq!(t.ca.issue(&r).unwrap_err().kind, ErrorKind::BadPublicKey);

        let mut r = good.clone();
        r.crl_url = Some("ldap://x".into());
        assert_eq!(t.ca.issue(&r).unwrap_err().kind, ErrorKind::ServerInternal);

        let mut r = good;
        r.names = vec!["ünicode.example".into()];
        assert_eq!(t.ca.issue(&r).unwrap_err().kind, ErrorKind::ServerInternal);
    }

    #[test]
    fn server_certificate_for_localhost() {
        let t = TestCa::new();
        let (chain, key_pem) =
            t.ca.issue_server_certificate(&["localhost".to_string()])
                .unwrap();
        assert!(chain.ends_with(t.ca.intermediate_pem()));
        let blocks = pem::parse_many(&chain).unwrap();
        assert_eq!(blocks.len(), 2);
        let key = KeyPair::from_pem(&key_pem).unwrap();
        let (_, c) = X509Certificate::from_der(blocks[0].contents()).unwrap();
        assert_eq!(c.public_key().raw, key.subject_public_key_info().as_slice());
        let san = c.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(
            san.general_names,
            vec![
                GeneralName::DNSName("localhost"),
                GeneralName::IPAddress(&[127, 0, 0, 1])
            ]
        );
        // dns_names keeps the dNSNames only; a CA certificate has none.
        assert_eq!(dns_names(&c), ["localhost"]);
        let (_, issuer) = X509Certificate::from_der(blocks[1].contents()).unwrap();
        assert!(dns_names(&issuer).is_empty());
        let leaf = pem::encode(&blocks[0]);
        if let Some((ok, out)) = openssl_verify(&t, &leaf, &["-purpose", "sslserver"]) {
            assert!(ok, "{out}");
        }

        let (chain, _) =
            t.ca.issue_server_certificate(&["acme.example".to_string()])
                .unwrap();
        let blocks = pem::parse_many(&chain).unwrap();
        let (_, c) = X509Certificate::from_der(blocks[0].contents()).unwrap();
        let san = c.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(
            san.general_names,
            vec![GeneralName::DNSName("acme.example")]
        );
    }

    #[test]
    fn load_checks_that_the_files_belong_together() {
        let a = TestCa::new();
        let b = TestCa::new();
        let (ra, ia, ka) = TestCa::paths(a.dir.path());
        let (rb, ib, kb) = TestCa::paths(b.dir.path());

        let err = CertificateAuthority::load(&ra, &ia, &kb).unwrap_err();
        assert!(err.detail.contains("is not the key of"), "{}", err.detail);
        let err = CertificateAuthority::load(&rb, &ia, &ka).unwrap_err();
        assert!(
            err.detail.contains("not signed by the root"),
            "{}",
            err.detail
        );
        // The root is not an intermediate: its own key would not match, but
        // first it must verify under the root, which a self-signed root does.
        let err = CertificateAuthority::load(&ra, &ra, &ka).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ServerInternal);
        let err = CertificateAuthority::load(&ra, &ia, &a.dir.path().join("missing")).unwrap_err();
        assert!(err.detail.contains("missing"), "{}", err.detail);
        let two = a.write(
            "two.pem",
            &format!("{}{}", a.ca.intermediate_pem(), a.ca.root_pem()),
        );
        let err = CertificateAuthority::load(&ra, &two, &ka).unwrap_err();
        assert!(err.detail.contains("more than one"), "{}", err.detail);
        let _ = (ib, rb);
    }

    #[test]
    fn pem_outputs_chain_cleanly() {
        let t = TestCa::new();
        assert!(t.ca.root_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(t
            .ca
            .intermediate_pem()
            .ends_with("-----END CERTIFICATE-----\n"));
        assert!(!t.ca.intermediate_pem().contains('\r'));
        assert_eq!(
            pem::parse(t.ca.intermediate_pem()).unwrap().contents(),
            t.ca.intermediate_der()
        );
        assert!(format!("{:?}", t.ca).contains("CertificateAuthority"));
    }

    /// (attribute OID, universal tag, value) for each RDN of the subject.
    fn subject_attrs(c: &X509Certificate<'_>) -> Vec<(String, u32, String)> {
        c.subject()
            .iter()
            .map(|rdn| {
                let avas: Vec<_> = rdn.iter().collect();
                assert_eq!(avas.len(), 1, "multi-valued RDN");
                let v = avas[0].attr_value();
                (
                    avas[0].attr_type().to_id_string(),
                    v.tag().0,
                    String::from_utf8(v.data.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    const PRINTABLE: u32 = 0x13;
    const UTF8: u32 = 0x0c;

    fn policies(c: &X509Certificate<'_>) -> Vec<String> {
        match ext(c, "2.5.29.32").parsed_extension() {
            ParsedExtension::CertificatePolicies(p) => {
                p.iter().map(|p| p.policy_id.to_id_string()).collect()
            }
            other => panic!("{other:?}"),
        }
    }

    /// The extensions every OV/EV certificate shares with DV, apart from
    /// the SAN's criticality.
    fn assert_common_extensions(t: &TestCa, c: &X509Certificate<'_>, names: &[&str]) {
        let san = c.subject_alternative_name().unwrap().unwrap();
        // RFC 5280 §4.2.1.6: with a non-empty subject the SAN is not critical.
        assert!(!san.critical, "SAN must not be critical with a subject");
        let got: Vec<_> = san
            .value
            .general_names
            .iter()
            .map(|g| match g {
                GeneralName::DNSName(n) => *n,
                other => panic!("unexpected SAN {other:?}"),
            })
            .collect();
        assert_eq!(got, names);
        let eku = c.extended_key_usage().unwrap().unwrap();
        assert!(!eku.critical);
        let eku = eku.value;
        assert!(eku.server_auth && !eku.client_auth && !eku.any && eku.other.is_empty());
        let bc = c.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && !bc.value.ca && bc.value.path_len_constraint.is_none());
        match ext(c, "1.3.6.1.5.5.7.1.1").parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(a) => {
                assert_eq!(a.accessdescs.len(), 1);
                assert_eq!(
                    a.accessdescs[0].access_method.to_id_string(),
                    "1.3.6.1.5.5.7.48.2"
                );
                assert_eq!(
                    a.accessdescs[0].access_location,
                    GeneralName::URI("http://trustgate.test/intermediate.der")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ext(c, "2.5.29.31").parsed_extension(),
            ParsedExtension::CRLDistributionPoints(_)
        ));
        assert!(matches!(
            ext(c, "2.5.29.14").parsed_extension(),
            ParsedExtension::SubjectKeyIdentifier(_)
        ));
        let (_, inter) = X509Certificate::from_der(t.ca.intermediate_der()).unwrap();
        match ext(c, "2.5.29.35").parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => assert_eq!(
                Some(a.key_identifier.as_ref().unwrap().0),
                lint::subject_key_id(&inter)
            ),
            other => panic!("{other:?}"),
        }
        c.verify_signature(Some(inter.public_key())).unwrap();
        assert_eq!(c.extensions().len(), 9, "{:?}", c.extensions());
    }

    /// An OV certificate for an openssl RSA CSR whose own subject (CN, O,
    /// OU) is ignored: the subject is the vetted organization's.
    #[test]
    fn issues_an_ov_certificate_for_an_rsa_key() {
        let names = ["www.example.jp", "*.example.jp"];
        let rsa = openssl_csr(
            "rsa:2048",
            &[
                "-subj",
                "/C=US/O=Evil Corp/OU=IT/CN=www.example.jp",
                "-addext",
                "subjectAltName=DNS:www.example.jp,DNS:*.example.jp",
            ],
        );
        let (public_key_der, is_rsa) = match rsa {
            Some(der) => (csr::parse(&der).unwrap().public_key_der, true),
            None => (
                KeyPair::generate().unwrap().subject_public_key_info(),
                false,
            ),
        };
        let t = TestCa::new();
        let req = vetted_request(Profile::Ov, &names, public_key_der);
        let issued = t.ca.issue(&req).unwrap();
        let (_, c) = X509Certificate::from_der(&issued.der).unwrap();

        assert_eq!(
            subject_attrs(&c),
            [
                ("2.5.4.6".to_string(), PRINTABLE, "JP".to_string()),
                ("2.5.4.8".to_string(), UTF8, "東京都".to_string()),
                ("2.5.4.7".to_string(), UTF8, "千代田区".to_string()),
                ("2.5.4.10".to_string(), UTF8, "例示株式会社".to_string()),
            ]
        );
        // The O value is the UTF-8 bytes, wrapped in a UTF8String (0x0c).
        let o = "例示株式会社".as_bytes();
        let mut tlv = vec![0x0c, o.len() as u8];
        tlv.extend_from_slice(o);
        assert!(issued.der.windows(tlv.len()).any(|w| w == tlv));
        assert_eq!(policies(&c), ["2.23.140.1.2.2"]);
        let ku = c.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.digital_signature());
        assert_eq!(ku.value.key_encipherment(), is_rsa);
        assert!(!ku.value.key_cert_sign() && !ku.value.crl_sign());
        assert_common_extensions(&t, &c, &names);

        if let Some((ok, out)) = openssl_verify(&t, &issued.pem, &["-purpose", "sslserver"]) {
            assert!(ok, "openssl verify: {out}");
        }
        if let Some(text) = openssl_text(&issued.pem) {
            assert!(text.contains("Policy: 2.23.140.1.2.2"), "{text}");
            assert!(
                text.contains("Subject: C=JP, ST=東京都, L=千代田区, O=例示株式会社\n"),
                "{text}"
            );
            assert!(
                text.contains("X509v3 Subject Alternative Name: \n"),
                "{text}"
            );
            assert!(!text.contains("Evil") && !text.contains("OU="), "{text}");
        }
    }

    #[test]
    fn issues_an_ev_certificate() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let names = ["www.example.jp", "example.jp"];
        let req = vetted_request(Profile::Ev, &names, key.subject_public_key_info());
        let issued = t.ca.issue(&req).unwrap();
        let (_, c) = X509Certificate::from_der(&issued.der).unwrap();

        let s = |oid: &str, tag, v: &str| (oid.to_string(), tag, v.to_string());
        assert_eq!(
            subject_attrs(&c),
            [
                s("2.5.4.6", PRINTABLE, "JP"),
                s("2.5.4.8", UTF8, "東京都"),
                s("2.5.4.7", UTF8, "千代田区"),
                s("2.5.4.10", UTF8, "例示株式会社"),
                s("2.5.4.15", UTF8, "Private Organization"),
                s("2.5.4.5", PRINTABLE, "0100-01-012345"),
                s("1.3.6.1.4.1.311.60.2.1.3", PRINTABLE, "JP"),
                s("1.3.6.1.4.1.311.60.2.1.2", UTF8, "Tokyo"),
            ]
        );
        assert_eq!(policies(&c), ["2.23.140.1.1"]);
        let ku = c.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && !ku.key_encipherment());
        assert_common_extensions(&t, &c, &names);

        if let Some((ok, out)) = openssl_verify(&t, &issued.pem, &["-purpose", "sslserver"]) {
            assert!(ok, "openssl verify: {out}");
        }
        if let Some(text) = openssl_text(&issued.pem) {
            assert!(text.contains("Policy: 2.23.140.1.1\n"), "{text}");
            assert!(
                text.contains("businessCategory=Private Organization"),
                "{text}"
            );
            assert!(text.contains("jurisdictionC=JP"), "{text}");
            assert!(text.contains("serialNumber=0100-01-012345"), "{text}");
        }
    }

    #[test]
    fn vetted_certificate_without_urls_has_no_aia_or_crldp() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let mut req = vetted_request(Profile::Ev, &["a.example"], key.subject_public_key_info());
        req.issuer_url = None;
        req.crl_url = None;
        let issued = t.ca.issue(&req).unwrap();
        let (_, c) = X509Certificate::from_der(&issued.der).unwrap();
        let oids: Vec<String> = c
            .extensions()
            .iter()
            .map(|e| e.oid.to_id_string())
            .collect();
        assert!(!oids.contains(&"1.3.6.1.5.5.7.1.1".to_string()), "{oids:?}");
        assert!(!oids.contains(&"2.5.29.31".to_string()), "{oids:?}");
        assert_eq!(oids.len(), 7, "{oids:?}");
    }

    /// One SubjectInfo per organization: an EV-vetted organization's
    /// subject serves an OV order, whose certificate has no EV attributes.
    #[test]
    fn ov_order_of_an_ev_organization_gets_the_ov_subject() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let mut req = vetted_request(Profile::Ov, &["a.example"], key.subject_public_key_info());
        req.subject = Some(ev_subject());
        let issued = t.ca.issue(&req).unwrap();
        let (_, c) = X509Certificate::from_der(&issued.der).unwrap();
        let oids: Vec<String> = subject_attrs(&c).into_iter().map(|a| a.0).collect();
        assert_eq!(oids, ["2.5.4.6", "2.5.4.8", "2.5.4.7", "2.5.4.10"]);
        assert_eq!(policies(&c), ["2.23.140.1.2.2"]);
    }

    #[test]
    fn ev_refuses_wildcards_as_rejected_identifier() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let req = vetted_request(
            Profile::Ev,
            &["example.jp", "*.example.jp"],
            key.subject_public_key_info(),
        );
        let err = t.ca.issue(&req).unwrap_err();
        assert_eq!(err.kind, ErrorKind::RejectedIdentifier);
        assert!(err.detail.contains("*.example.jp"), "{}", err.detail);
        // OV allows them (BR §7.1.2.7.12).
        let req = IssuanceRequest {
            profile: Profile::Ov,
            subject: Some(ov_subject()),
            ..req
        };
        t.ca.issue(&req).unwrap();
    }

    #[test]
    fn vetted_profiles_need_a_valid_subject() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let refused = |req: &IssuanceRequest, needle: &str| {
            let err = t.ca.issue(req).unwrap_err();
            assert_eq!(err.kind, ErrorKind::ServerInternal, "{}", err.detail);
            assert!(
                err.detail.contains(needle),
                "{needle:?} not in {}",
                err.detail
            );
        };
        let ov = vetted_request(Profile::Ov, &["a.example"], key.subject_public_key_info());
        let ev = vetted_request(Profile::Ev, &["a.example"], key.subject_public_key_info());

        for base in [&ov, &ev] {
            let mut r = base.clone();
            r.subject = None;
            refused(&r, "needs a vetted organization subject");
        }

        let mut r = ov.clone();
        let s = r.subject.as_mut().unwrap();
        s.state_or_province = None;
        s.locality = None;
        refused(&r, "BR §7.1.2.7.4");

        for bad in ["jp", "JPN", "Japan"] {
            let mut r = ov.clone();
            r.subject.as_mut().unwrap().country = bad.into();
            refused(&r, "ISO 3166-1");
        }

        let mut r = ev.clone();
        r.subject.as_mut().unwrap().ev = None;
        refused(&r, "businessCategory");

        let mut r = ev.clone();
        r.subject
            .as_mut()
            .unwrap()
            .ev
            .as_mut()
            .unwrap()
            .serial_number = "第0100号".into();
        refused(&r, "PrintableString");

        let mut r = request(&["a.example"], key.subject_public_key_info());
        r.subject = Some(ov_subject());
        refused(&r, "takes no subject");
    }
}
