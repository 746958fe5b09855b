//! Signing a decided certificate: built fresh from its profile, linted
//! before the CA key signs it (BR §4.3.1.2), and checked again after.

use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::{cert_pem, csr, lint, profile, CertificateAuthority, Serial, SubjectInfo};
use crate::error::{Error, ErrorKind, Result};

/// Every field of a subscriber certificate that its profile does not fix,
/// as the CA decided it (`CertificateAuthority::issue`). The profile fixes
/// every other field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSpec {
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
    /// The Certificate Transparency extension it carries, if any.
    pub ct: CtExtension,
}

/// The Certificate Transparency extension of a certificate (RFC 6962):
/// the last extension, so a precertificate and its final certificate
/// differ in nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CtExtension {
    #[default]
    None,
    /// The critical poison (§3.1): this is a precertificate.
    Poison,
    /// The TLS-encoded SignedCertificateTimestampList (§3.3).
    Scts(Vec<u8>),
}

/// A signed subscriber certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    pub serial: Serial,
    pub der: Vec<u8>,
    pub pem: String,
    /// As written in the certificate (whole seconds).
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl CertificateAuthority {
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
    /// an error. The validity cap is the one in force at `now`.
    pub(super) fn sign_at(
        &self,
        spec: &CertificateSpec,
        now: OffsetDateTime,
    ) -> Result<IssuedCertificate> {
        let prepared = self.prepare(spec.clone(), now)?;
        self.finish(prepared)
    }

    /// Builds the certificate from its profile and lints its copy in
    /// process (`lint::check_lint_copy`); nothing is signed with the CA
    /// key yet. The copy is what an external linter reads next.
    pub(super) fn prepare(&self, spec: CertificateSpec, now: OffsetDateTime) -> Result<Prepared> {
        let key_type = csr::KeyType::from_spki_der(&spec.public_key_der)?;
        let spki = rcgen::SubjectPublicKeyInfo::from_der(&spec.public_key_der).map_err(|e| {
            Error::new(
                ErrorKind::BadPublicKey,
                format!("public key not supported: {e}"),
            )
        })?;
        let params = spec.profile.certificate_params(&spec, key_type)?;
        // The lint copy is linted before the CA key signs anything (BR
        // §4.3.1.2); the real certificate must then match it.
        let signer = lint::Signer {
            name_der: &self.intermediate_name_der,
            key_id: self.intermediate_key_id.as_deref(),
            now,
        };
        let copy = params
            .signed_by(&spki, &self.lint_issuer)
            .map_err(|e| Error::internal(format!("making the lint copy: {e}")))?;
        let lint_copy = copy.der().to_vec();
        let linted_tbs = lint::check_lint_copy(&lint_copy, &spec, &signer)
            .map_err(|m| lint_failure(&spec, &m))?;
        Ok(Prepared {
            spec,
            params,
            spki,
            lint_copy,
            linted_tbs,
        })
    }

    /// Signs a prepared certificate with the intermediate and checks the
    /// result against its linted copy (`lint::check_final`).
    pub(super) fn finish(&self, prepared: Prepared) -> Result<IssuedCertificate> {
        let Prepared {
            spec,
            params,
            spki,
            linted_tbs,
            ..
        } = prepared;
        let issuer_key = SubjectPublicKeyInfo::from_der(&self.intermediate_spki_der)
            .map(|(_, k)| k)
            .map_err(|e| Error::internal(format!("intermediate key does not parse: {e}")))?;
        let cert = params
            .signed_by(&spki, &self.issuer)
            .map_err(super::key::signing_error("signing"))?;
        let der = cert.der().to_vec();
        lint::check_final(&der, &linted_tbs, &issuer_key).map_err(|m| lint_failure(&spec, &m))?;

        tracing::info!(serial = %spec.serial, names = ?spec.names, profile = spec.profile.name(), "issued certificate");
        Ok(IssuedCertificate {
            serial: spec.serial,
            pem: cert_pem(&der),
            der,
            not_before: profile::whole_seconds(spec.not_before),
            not_after: profile::whole_seconds(spec.not_after),
        })
    }
}

/// A certificate built and linted in process, not yet signed: its lint
/// copy (same tbsCertificate, placeholder signature) is what an external
/// linter is shown before [`CertificateAuthority::finish`] signs it.
pub struct Prepared {
    spec: CertificateSpec,
    params: rcgen::CertificateParams,
    spki: rcgen::SubjectPublicKeyInfo,
    lint_copy: Vec<u8>,
    linted_tbs: Vec<u8>,
}

impl Prepared {
    /// DER of the lint copy.
    pub fn lint_copy(&self) -> &[u8] {
        &self.lint_copy
    }

    pub fn spec(&self) -> &CertificateSpec {
        &self.spec
    }
}

#[cfg(test)]
impl CertificateAuthority {
    /// [`Self::sign_at`] now by the CA's clock, for tests that probe the
    /// signer and the lint with specs of their own.
    pub(super) fn sign(&self, spec: &CertificateSpec) -> Result<IssuedCertificate> {
        self.sign_at(spec, self.clock.now())
    }
}

fn lint_failure(spec: &CertificateSpec, message: &str) -> Error {
    tracing::error!(
        serial = %spec.serial,
        names = ?spec.names,
        profile = spec.profile.name(),
        lint = message,
        "pre-issuance lint refused a certificate"
    );
    Error::internal(format!("pre-issuance lint: {message}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::profile::Profile;
    use super::super::testutil::{
        ev_subject, openssl_csr, openssl_text, openssl_verify, ov_subject, rcgen_csr, spec,
        vetted_spec, TestCa,
    };
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose, PublicKeyData, PKCS_ECDSA_P384_SHA384,
    };
    use time::Duration;
    use x509_parser::certificate::X509Certificate;
    use x509_parser::extensions::{GeneralName, ParsedExtension};

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
        let mut req = spec(&[], parsed.public_key_der.clone());
        req.names = parsed.names.clone();
        let issued = t.ca.sign(&req).unwrap();
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
                    GeneralName::URI("http://trustgate.jp/intermediate.der")
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
        // BR §7.1.2.7.6: no subjectKeyIdentifier in a subscriber certificate.
        assert!(c
            .extensions()
            .iter()
            .all(|e| e.oid.to_id_string() != "2.5.29.14"));
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
                "/CN=rsa.example.net",
                "-addext",
                "subjectAltName=DNS:rsa.example.net",
            ],
        ) else {
            return;
        };
        let t = TestCa::new();
        let parsed = csr::parse(&der).unwrap();
        let req = CertificateSpec {
            names: parsed.identifiers(),
            ..spec(&[], parsed.public_key_der)
        };
        let issued = t.ca.sign(&req).unwrap();
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
        let mut evil = CertificateParams::new(vec!["victim.example.net".to_string()]).unwrap();
        evil.distinguished_name
            .push(DnType::OrganizationName, "Evil Corp");
        evil.distinguished_name
            .push(DnType::CommonName, "victim.example.net");
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

        let req = CertificateSpec {
            names: parsed.identifiers(),
            ..spec(&[], parsed.public_key_der)
        };
        let issued = t.ca.sign(&req).unwrap();
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
        let mut req = spec(&["a.example.net"], key.subject_public_key_info());
        req.not_after = req.not_before + Duration::days(400);
        let err = t.ca.sign(&req).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ServerInternal);
        assert!(err.detail.contains("pre-issuance lint"), "{}", err.detail);
        assert!(err.detail.contains("BR §6.3.2"), "{}", err.detail);
    }

    #[test]
    fn bad_requests_are_refused() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let good = spec(&["a.example.net"], key.subject_public_key_info());

        let mut r = good.clone();
        r.names.clear();
        assert_eq!(t.ca.sign(&r).unwrap_err().kind, ErrorKind::ServerInternal);

        let mut r = good.clone();
        r.public_key_der = b"junk".to_vec();
        assert_eq!(t.ca.sign(&r).unwrap_err().kind, ErrorKind::BadPublicKey);

        let mut r = good.clone();
        r.crl_url = Some("ldap://x".into());
        assert_eq!(t.ca.sign(&r).unwrap_err().kind, ErrorKind::ServerInternal);

        let mut r = good;
        r.names = vec!["ünicode.example.net".into()];
        assert_eq!(t.ca.sign(&r).unwrap_err().kind, ErrorKind::ServerInternal);
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
                    GeneralName::URI("http://trustgate.jp/intermediate.der")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ext(c, "2.5.29.31").parsed_extension(),
            ParsedExtension::CRLDistributionPoints(_)
        ));
        assert!(c
            .extensions()
            .iter()
            .all(|e| e.oid.to_id_string() != "2.5.29.14"));
        let (_, inter) = X509Certificate::from_der(t.ca.intermediate_der()).unwrap();
        match ext(c, "2.5.29.35").parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => assert_eq!(
                Some(a.key_identifier.as_ref().unwrap().0),
                lint::subject_key_id(&inter)
            ),
            other => panic!("{other:?}"),
        }
        c.verify_signature(Some(inter.public_key())).unwrap();
        assert_eq!(c.extensions().len(), 8, "{:?}", c.extensions());
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
        let req = vetted_spec(Profile::Ov, &names, public_key_der);
        let issued = t.ca.sign(&req).unwrap();
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
        let req = vetted_spec(Profile::Ev, &names, key.subject_public_key_info());
        let issued = t.ca.sign(&req).unwrap();
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
        let mut req = vetted_spec(
            Profile::Ev,
            &["a.example.net"],
            key.subject_public_key_info(),
        );
        req.issuer_url = None;
        req.crl_url = None;
        let issued = t.ca.sign(&req).unwrap();
        let (_, c) = X509Certificate::from_der(&issued.der).unwrap();
        let oids: Vec<String> = c
            .extensions()
            .iter()
            .map(|e| e.oid.to_id_string())
            .collect();
        assert!(!oids.contains(&"1.3.6.1.5.5.7.1.1".to_string()), "{oids:?}");
        assert!(!oids.contains(&"2.5.29.31".to_string()), "{oids:?}");
        assert_eq!(oids.len(), 6, "{oids:?}");
    }

    /// One SubjectInfo per organization: an EV-vetted organization's
    /// subject serves an OV order, whose certificate has no EV attributes.
    #[test]
    fn ov_order_of_an_ev_organization_gets_the_ov_subject() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let mut req = vetted_spec(
            Profile::Ov,
            &["a.example.net"],
            key.subject_public_key_info(),
        );
        req.subject = Some(ev_subject());
        let issued = t.ca.sign(&req).unwrap();
        let (_, c) = X509Certificate::from_der(&issued.der).unwrap();
        let oids: Vec<String> = subject_attrs(&c).into_iter().map(|a| a.0).collect();
        assert_eq!(oids, ["2.5.4.6", "2.5.4.8", "2.5.4.7", "2.5.4.10"]);
        assert_eq!(policies(&c), ["2.23.140.1.2.2"]);
    }

    #[test]
    fn ev_refuses_wildcards_as_rejected_identifier() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let req = vetted_spec(
            Profile::Ev,
            &["example.jp", "*.example.jp"],
            key.subject_public_key_info(),
        );
        let err = t.ca.sign(&req).unwrap_err();
        assert_eq!(err.kind, ErrorKind::RejectedIdentifier);
        assert!(err.detail.contains("*.example.jp"), "{}", err.detail);
        // OV allows them (BR §7.1.2.7.12).
        let req = CertificateSpec {
            profile: Profile::Ov,
            subject: Some(ov_subject()),
            ..req
        };
        t.ca.sign(&req).unwrap();
    }

    #[test]
    fn vetted_profiles_need_a_valid_subject() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let refused = |req: &CertificateSpec, needle: &str| {
            let err = t.ca.sign(req).unwrap_err();
            assert_eq!(err.kind, ErrorKind::ServerInternal, "{}", err.detail);
            assert!(
                err.detail.contains(needle),
                "{needle:?} not in {}",
                err.detail
            );
        };
        let ov = vetted_spec(
            Profile::Ov,
            &["a.example.net"],
            key.subject_public_key_info(),
        );
        let ev = vetted_spec(
            Profile::Ev,
            &["a.example.net"],
            key.subject_public_key_info(),
        );

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

        let mut r = spec(&["a.example.net"], key.subject_public_key_info());
        r.subject = Some(ov_subject());
        refused(&r, "takes no subject");
    }
}
