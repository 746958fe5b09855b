//! Pre-issuance lint (BR §4.3.1.2 and DESIGN.md: "Every certificate is
//! checked against its profile before it is signed").
//!
//! The lint re-reads the DER with x509-parser — an implementation
//! independent of rcgen, which wrote it — and compares it with the
//! certificate's spec and the profile. `CertificateAuthority::sign` runs it
//! on a copy with a placeholder signature before the real one exists;
//! the final certificate must then carry that copy's tbsCertificate byte
//! for byte and a signature that verifies with the issuer's key
//! ([`check_final`]), so the profile checks are not run twice.

use std::collections::HashSet;

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{
    AuthorityInfoAccess, AuthorityKeyIdentifier, CRLDistributionPoints, CertificatePolicies,
    DistributionPointName, ExtendedKeyUsage, GeneralName, KeyUsage, ParsedExtension, X509Extension,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::{RelativeDistinguishedName, SubjectPublicKeyInfo, X509Name, X509Version};

use super::csr::KeyType;
use super::profile::{self, Profile};
use super::schedule;
use super::sign::{CertificateSpec, CtExtension};
use super::subject::{self, StringType, SubjectInfo};

/// The issuer a certificate must name.
pub(crate) struct Signer<'a> {
    /// DER of the issuing CA's subject Name.
    pub name_der: &'a [u8],
    /// The issuing CA's subjectKeyIdentifier, which the certificate's
    /// authorityKeyIdentifier must repeat (RFC 5280 §4.2.1.1).
    pub key_id: Option<&'a [u8]>,
    /// The CA's clock at signing: the issuance date whose validity cap
    /// applies.
    pub now: OffsetDateTime,
}

/// Pre-issuance lint (a Baseline Requirement): parses the signed DER with
/// x509-parser and checks it against the profile: v3; serial positive,
/// ≥ 64 bits of CSPRNG output (we use 128, BR §7.1), ≤ 20 octets; validity
/// within [`schedule::max_validity`]; SAN present, only dNSNames, the same
/// set as the spec's names, no wildcard for `ev`; no CA:true; EKU
/// exactly serverAuth; KU with digitalSignature and without
/// keyCertSign/cRLSign; the profile's policy OID; an allowed key type; a
/// signature by the issuer that verifies.
///
/// Subject: empty for `dv`. For `ov`/`ev` first the profile's rules, read
/// from the certificate alone (one attribute per RDN, each type once, only
/// the profile's types — no OU, no CN —, C and O present, ST or L, for EV
/// L, businessCategory, serialNumber and jurisdictionCountryName, the
/// country codes and serialNumber as PrintableString and the rest as
/// UTF8String); then exactly the spec's vetted attributes, in order,
/// with the same string types and values.
///
/// The maximum validity is the one in force at the later of notBefore and
/// now: BR §6.3.2 keys it by issuance date, and backdating notBefore must
/// not buy a longer lifetime.
pub fn check(
    der: &[u8],
    spec: &CertificateSpec,
    issuer_der: &[u8],
    now: OffsetDateTime,
) -> Result<(), String> {
    let (_, issuer) = X509Certificate::from_der(issuer_der)
        .map_err(|e| format!("issuer certificate does not parse: {e}"))?;
    let key_id = subject_key_id(&issuer);
    let signer = Signer {
        name_der: issuer.subject().as_raw(),
        key_id,
        now,
    };
    check_signed_by(der, spec, &signer, issuer.public_key())
}

/// [`check`] with the issuer given by its parts.
pub(crate) fn check_signed_by(
    der: &[u8],
    spec: &CertificateSpec,
    signer: &Signer<'_>,
    issuer_key: &SubjectPublicKeyInfo<'_>,
) -> Result<(), String> {
    let cert = parse_signed(der)?;
    check_profile(&cert, spec, signer)?;
    verify_signature(&cert, issuer_key)
}

/// [`check`] of a copy made before the real signature exists, without its
/// signature (a placeholder, which proves nothing);
/// returns the copy's tbsCertificate, which the real certificate must
/// repeat ([`check_final`]).
pub(crate) fn check_lint_copy(
    der: &[u8],
    spec: &CertificateSpec,
    signer: &Signer<'_>,
) -> Result<Vec<u8>, String> {
    let cert = parse_signed(der)?;
    check_profile(&cert, spec, signer)?;
    Ok(cert.tbs_certificate.as_ref().to_vec())
}

/// The final certificate against its linted copy: the same tbsCertificate,
/// byte for byte (so every profile check of [`check_lint_copy`] holds for
/// it too), the outer signatureAlgorithm equal to the inner one (RFC 5280
/// §4.1.1.2), and a signature that verifies with the issuer's key.
pub(crate) fn check_final(
    der: &[u8],
    linted_tbs: &[u8],
    issuer: &SubjectPublicKeyInfo<'_>,
) -> Result<(), String> {
    let cert = parse_signed(der)?;
    if cert.tbs_certificate.as_ref() != linted_tbs {
        return Err("signed tbsCertificate differs from the linted one".into());
    }
    verify_signature(&cert, issuer)
}

/// The certificate in `der`, which must be nothing else, with its outer
/// signatureAlgorithm equal to the tbsCertificate's (RFC 5280 §4.1.1.2).
fn parse_signed(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("certificate does not parse: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing data after the certificate".into());
    }
    if cert.signature_algorithm != cert.tbs_certificate.signature {
        return Err("signatureAlgorithm differs from tbsCertificate.signature".into());
    }
    Ok(cert)
}

fn verify_signature(
    cert: &X509Certificate<'_>,
    issuer: &SubjectPublicKeyInfo<'_>,
) -> Result<(), String> {
    cert.verify_signature(Some(issuer))
        .map_err(|e| format!("signature does not verify with the issuer key: {e}"))
}

/// The subjectKeyIdentifier of a CA certificate, if it has one.
pub(crate) fn subject_key_id<'a>(cert: &X509Certificate<'a>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
            _ => None,
        })
}

/// Everything [`check`] checks but the signature.
fn check_profile(
    cert: &X509Certificate<'_>,
    spec: &CertificateSpec,
    signer: &Signer<'_>,
) -> Result<(), String> {
    check_version(cert)?;
    check_serial(cert, spec)?;
    if cert.issuer().as_raw() != signer.name_der {
        return Err(format!(
            "issuer {} is not the intermediate's subject",
            cert.issuer()
        ));
    }
    check_validity(cert, spec, signer.now)?;
    check_subject(cert, spec)?;
    let key_type = check_key(cert, spec)?;
    let expected = Expected {
        spec,
        signer,
        key_type,
        empty_subject: cert.subject().iter().next().is_none(),
    };
    check_extensions(cert, &expected)
}

/// RFC 5280 §4.1.2.1: extensions require v3.
fn check_version(cert: &X509Certificate<'_>) -> Result<(), String> {
    if cert.version() != X509Version::V3 {
        return Err(format!("version is {}, not v3", cert.version().0 + 1));
    }
    Ok(())
}

/// RFC 5280 §4.1.2.2 and BR §7.1: positive, non-zero, ≤ 20 octets, ≥ 64
/// bits from a CSPRNG. Equality with the spec's 128-bit CSPRNG serial
/// proves the last.
fn check_serial(cert: &X509Certificate<'_>, spec: &CertificateSpec) -> Result<(), String> {
    let serial = cert.raw_serial();
    if serial.is_empty() || serial.len() > 20 {
        return Err(format!(
            "serial has {} octets (1..=20 allowed)",
            serial.len()
        ));
    }
    if serial[0] & 0x80 != 0 {
        return Err("serial is negative".into());
    }
    if serial.iter().all(|b| *b == 0) {
        return Err("serial is zero".into());
    }
    if serial != spec.serial.0 {
        return Err(format!(
            "serial {} differs from the requested {}",
            hex(serial),
            spec.serial.to_hex()
        ));
    }
    Ok(())
}

/// Validity (BR §6.3.2, counted inclusively, see `schedule`), issued at
/// `now`.
fn check_validity(
    cert: &X509Certificate<'_>,
    spec: &CertificateSpec,
    now: OffsetDateTime,
) -> Result<(), String> {
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    if not_before != profile::whole_seconds(spec.not_before)
        || not_after != profile::whole_seconds(spec.not_after)
    {
        return Err(format!(
            "validity {not_before} .. {not_after} differs from the request {} .. {}",
            spec.not_before, spec.not_after
        ));
    }
    if not_after < not_before {
        return Err(format!(
            "notAfter {not_after} is before notBefore {not_before}"
        ));
    }
    let governing = not_before.max(now);
    let period = schedule::validity_period(not_before, not_after);
    let max = schedule::max_validity(governing);
    if period > max {
        return Err(format!(
            "validity period of {}s exceeds the maximum of {} days in force at {governing} \
             (BR §6.3.2)",
            period.whole_seconds(),
            max.whole_days()
        ));
    }
    Ok(())
}

/// The requested key, of a type we certify.
fn check_key(cert: &X509Certificate<'_>, spec: &CertificateSpec) -> Result<KeyType, String> {
    if cert.public_key().raw != spec.public_key_der.as_slice() {
        return Err("subjectPublicKeyInfo differs from the requested key".into());
    }
    KeyType::from_spki(cert.public_key()).map_err(|e| format!("key not allowed: {}", e.detail))
}

/// What the extensions must agree with.
struct Expected<'a> {
    spec: &'a CertificateSpec,
    signer: &'a Signer<'a>,
    key_type: KeyType,
    empty_subject: bool,
}

/// Extensions: exactly the profile's set, each once.
fn check_extensions(cert: &X509Certificate<'_>, want: &Expected<'_>) -> Result<(), String> {
    let mut seen = HashSet::new();
    let mut present = HashSet::new();
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        if !seen.insert(oid.clone()) {
            return Err(format!("extension {oid} appears twice (RFC 5280 §4.2)"));
        }
        present.insert(check_extension(ext, &oid, want)?);
    }
    let spec = want.spec;
    let required = [
        (present.contains(SAN), SAN),
        (present.contains(KU), KU),
        (present.contains(EKU), EKU),
        (present.contains(BC), BC),
        (present.contains(CP), CP),
        (present.contains(AKI), AKI),
        (present.contains(AIA) || spec.issuer_url.is_none(), AIA),
        (present.contains(CRLDP) || spec.crl_url.is_none(), CRLDP),
        (
            present.contains(POISON) == (spec.ct == CtExtension::Poison),
            POISON,
        ),
        (
            present.contains(SCTS) == matches!(spec.ct, CtExtension::Scts(_)),
            SCTS,
        ),
    ];
    if let Some((_, name)) = required.iter().find(|(present, _)| !present) {
        return Err(format!("{name} is missing"));
    }
    Ok(())
}

// The extensions of the profile, by the names the lint reports.
const SAN: &str = "subjectAltName";
const KU: &str = "keyUsage";
const EKU: &str = "extKeyUsage";
const BC: &str = "basicConstraints";
const CP: &str = "certificatePolicies";
const AKI: &str = "authorityKeyIdentifier";
const AIA: &str = "authorityInfoAccess";
const CRLDP: &str = "cRLDistributionPoints";
const POISON: &str = "the CT poison (present exactly on a precertificate)";
const SCTS: &str = "the SCT list (present exactly when SCTs are embedded)";
const POISON_OID: &str = "1.3.6.1.4.1.11129.2.4.3";
const SCTS_OID: &str = "1.3.6.1.4.1.11129.2.4.2";

/// One extension against the profile; returns its name.
fn check_extension(
    ext: &X509Extension<'_>,
    oid: &str,
    want: &Expected<'_>,
) -> Result<&'static str, String> {
    let (spec, critical) = (want.spec, ext.critical);
    match oid {
        // RFC 6962 §3.1: critical, ASN.1 NULL.
        POISON_OID if spec.ct == CtExtension::Poison => {
            return if critical && ext.value == [0x05, 0x00] {
                Ok(POISON)
            } else {
                Err("the CT poison is not a critical NULL (RFC 6962 §3.1)".into())
            };
        }
        // RFC 6962 §3.3: not critical, exactly the SCTs the CA collected.
        SCTS_OID => {
            return match &spec.ct {
                CtExtension::Scts(list)
                    if !critical && ext.value == super::ct::tbs::sct_list_value(list) =>
                {
                    Ok(SCTS)
                }
                _ => Err("the SCT list is not the collected one, non-critical".into()),
            };
        }
        _ => {}
    }
    match ext.parsed_extension() {
        ParsedExtension::SubjectAlternativeName(s) => {
            // RFC 5280 §4.2.1.6: critical when the subject is empty.
            if critical != want.empty_subject {
                return Err(format!(
                    "subjectAltName critical={critical} with {} subject (RFC 5280 §4.2.1.6)",
                    if want.empty_subject { "an empty" } else { "a" }
                ));
            }
            check_names(&s.general_names, &spec.names, spec.profile).map(|()| SAN)
        }
        ParsedExtension::KeyUsage(k) => check_key_usage(k, want.key_type).map(|()| KU),
        ParsedExtension::ExtendedKeyUsage(e) => check_eku(e, critical).map(|()| EKU),
        ParsedExtension::BasicConstraints(b) => {
            if b.ca || b.path_len_constraint.is_some() {
                return Err("basicConstraints asserts a CA".into());
            }
            Ok(BC)
        }
        ParsedExtension::CertificatePolicies(p) => {
            check_policies(p, critical, spec.profile).map(|()| CP)
        }
        // BR §7.1.2.7.6: NOT RECOMMENDED for subscriber certificates.
        ParsedExtension::SubjectKeyIdentifier(_) => {
            Err("subjectKeyIdentifier is not in the profile (BR §7.1.2.7.6)".into())
        }
        ParsedExtension::AuthorityKeyIdentifier(a) => check_aki(a, want.signer).map(|()| AKI),
        ParsedExtension::AuthorityInfoAccess(a) => {
            check_aia(a, critical, spec.issuer_url.as_deref()).map(|()| AIA)
        }
        ParsedExtension::CRLDistributionPoints(p) => {
            check_crldp(p, critical, spec.crl_url.as_deref()).map(|()| CRLDP)
        }
        ParsedExtension::ParseError { error } => {
            Err(format!("extension {oid} does not parse: {error}"))
        }
        _ => Err(format!("extension {oid} is not in the profile")),
    }
}

/// BR §7.1.2.7.11: digitalSignature; keyEncipherment only for RSA;
/// nothing else.
fn check_key_usage(k: &KeyUsage, key_type: KeyType) -> Result<(), String> {
    if !k.digital_signature() {
        return Err("keyUsage lacks digitalSignature".into());
    }
    if k.key_cert_sign() || k.crl_sign() {
        return Err("keyUsage has keyCertSign or cRLSign".into());
    }
    let rsa = matches!(key_type, KeyType::Rsa(_));
    if k.key_encipherment() && !rsa {
        return Err("keyUsage keyEncipherment on an ECDSA key (BR §7.1.2.7.11)".into());
    }
    if k.non_repudiation()
        || k.data_encipherment()
        || k.key_agreement()
        || k.encipher_only()
        || k.decipher_only()
    {
        return Err(format!("keyUsage has bits outside the profile: {k}"));
    }
    Ok(())
}

/// BR §7.1.2.7.10: exactly serverAuth, non-critical.
fn check_eku(e: &ExtendedKeyUsage<'_>, critical: bool) -> Result<(), String> {
    let only_server = e.server_auth
        && !e.any
        && !e.client_auth
        && !e.code_signing
        && !e.email_protection
        && !e.time_stamping
        && !e.ocsp_signing
        && e.other.is_empty();
    if !only_server || critical {
        return Err("extKeyUsage is not exactly serverAuth, non-critical".into());
    }
    Ok(())
}

/// BR §7.1.6.1: exactly the profile's policy OID, non-critical.
fn check_policies(
    policies: &CertificatePolicies<'_>,
    critical: bool,
    profile: Profile,
) -> Result<(), String> {
    let want = oid_string(profile.policy_oid());
    let ids: Vec<String> = policies
        .iter()
        .map(|p| p.policy_id.to_id_string())
        .collect();
    if ids != [want.clone()] || critical {
        return Err(format!(
            "certificatePolicies {ids:?} is not exactly [{want}], non-critical"
        ));
    }
    Ok(())
}

/// RFC 5280 §4.2.1.1, BR §7.1.2.11.1: the issuer's key identifier only.
fn check_aki(a: &AuthorityKeyIdentifier<'_>, signer: &Signer<'_>) -> Result<(), String> {
    let got = a.key_identifier.as_ref().map(|k| k.0);
    if let Some(want) = signer.key_id {
        if got != Some(want) {
            return Err("authorityKeyIdentifier differs from the issuer's SKI".into());
        }
    }
    if a.authority_cert_issuer.is_some() || a.authority_cert_serial.is_some() {
        return Err("authorityKeyIdentifier has issuer/serial (BR §7.1.2.11.1)".into());
    }
    Ok(())
}

/// BR §7.1.2.7.7: exactly one caIssuers URL, the spec's.
fn check_aia(
    a: &AuthorityInfoAccess<'_>,
    critical: bool,
    want: Option<&str>,
) -> Result<(), String> {
    let ca_issuers = oid_string(profile::OID_AD_CA_ISSUERS);
    let got: Vec<_> = a
        .accessdescs
        .iter()
        .map(|d| (d.access_method.to_id_string(), &d.access_location))
        .collect();
    let ok = matches!(
        got.as_slice(),
        [(m, GeneralName::URI(u))] if *m == ca_issuers && Some(*u) == want
    );
    if !ok || critical {
        return Err(format!(
            "authorityInfoAccess is not exactly caIssuers {want:?}"
        ));
    }
    Ok(())
}

/// BR §7.1.2.11.2: exactly one distribution point, the spec's CRL URL.
fn check_crldp(
    points: &CRLDistributionPoints<'_>,
    critical: bool,
    want: Option<&str>,
) -> Result<(), String> {
    let ok = match points.points.as_slice() {
        [p] if p.reasons.is_none() && p.crl_issuer.is_none() => matches!(
            &p.distribution_point,
            Some(DistributionPointName::FullName(names))
                if matches!(names.as_slice(), [GeneralName::URI(u)] if Some(*u) == want)
        ),
        _ => false,
    };
    if !ok || critical {
        return Err(format!(
            "cRLDistributionPoints is not exactly one full name {want:?}"
        ));
    }
    Ok(())
}

/// One subject attribute as read from the certificate: its OID arcs,
/// universal tag and value octets.
type ReadAttribute<'a> = (&'static [u64], u32, &'a [u8]);

/// The subject (see [`check`]). BR §7.1.2.7.4 (OV), EVG §9.2 and BR
/// §7.1.2.7.5 (EV), BR §7.1.4.2 (encoding and order).
fn check_subject(cert: &X509Certificate<'_>, spec: &CertificateSpec) -> Result<(), String> {
    let profile = spec.profile;
    let name = cert.subject();
    if profile.has_empty_subject() {
        return check_empty_subject(name, spec);
    }
    let info = spec.subject.as_ref().ok_or_else(|| {
        format!(
            "profile {} needs a vetted organization subject",
            profile.name()
        )
    })?;
    info.validate(profile).map_err(|e| e.detail)?;

    // The certificate's own subject, checked against the profile's rules,
    // then against the vetted organization.
    let mut got: Vec<ReadAttribute<'_>> = Vec::new();
    for rdn in name.iter() {
        let attr = read_attribute(rdn, profile, &got)?;
        got.push(attr);
    }
    check_required_attributes(&got, profile)?;
    check_vetted_attributes(&got, info, profile, name)
}

/// `dv`: no subject in the certificate, none in the spec.
fn check_empty_subject(name: &X509Name<'_>, spec: &CertificateSpec) -> Result<(), String> {
    let profile = spec.profile;
    if name.iter().next().is_some() {
        return Err(format!(
            "profile {} requires an empty subject, found {name}",
            profile.name()
        ));
    }
    if spec.subject.is_some() {
        return Err(format!("profile {} takes no subject", profile.name()));
    }
    Ok(())
}

/// One RDN: a single attribute of the profile, not among those read
/// before (`got`), with its string type.
fn read_attribute<'a>(
    rdn: &'a RelativeDistinguishedName<'_>,
    profile: Profile,
    got: &[ReadAttribute<'_>],
) -> Result<ReadAttribute<'a>, String> {
    // BR §7.1.4.2: each RDN holds exactly one AttributeTypeAndValue.
    let [ava] = rdn.iter().collect::<Vec<_>>()[..] else {
        return Err("subject has a multi-valued RDN (BR §7.1.4.2)".into());
    };
    let oid = ava.attr_type().to_id_string();
    let arcs = profile_attribute(&oid, profile)?;
    let attr_name = subject::attribute_name(arcs).unwrap_or("attribute");
    // BR §7.1.4.2: no attribute type twice.
    if got.iter().any(|(a, _, _)| *a == arcs) {
        return Err(format!("subject {attr_name} appears twice (BR §7.1.4.2)"));
    }
    let value = ava.attr_value();
    let want_type = subject::string_type(arcs);
    if value.tag().0 != want_type.tag() {
        return Err(format!(
            "subject {attr_name} is encoded with tag {}, not {} (RFC 5280 §4.1.2.6, \
             BR §7.1.4.2)",
            value.tag().0,
            want_type.name()
        ));
    }
    let text = std::str::from_utf8(value.data)
        .map_err(|_| format!("subject {attr_name} is not valid UTF-8"))?;
    if want_type == StringType::Printable && !subject::is_printable(text) {
        return Err(format!(
            "subject {attr_name} {text:?} has characters outside PrintableString"
        ));
    }
    Ok((arcs, value.tag().0, value.data))
}

/// The arcs of `oid` if the profile has that attribute (no OU, no CN, EV
/// attributes only in `ev`).
fn profile_attribute(oid: &str, profile: Profile) -> Result<&'static [u64], String> {
    subject::ALL_ATTRIBUTES
        .iter()
        .copied()
        .find(|a| oid_string(a) == oid)
        .filter(|a| profile.is_ev() || !subject::EV_ATTRIBUTES.contains(a))
        .ok_or_else(|| match oid {
            "2.5.4.11" => {
                "subject has an organizationalUnitName (BR §7.1.2.7.4 forbids it)".to_string()
            }
            "2.5.4.3" => format!(
                "subject has a commonName; profile {} has none",
                profile.name()
            ),
            _ => format!(
                "subject attribute {oid} is not in profile {}",
                profile.name()
            ),
        })
}

/// BR §7.1.2.7.4: C, O and ST or L; EVG §9.2: also L, businessCategory,
/// jurisdictionCountryName and serialNumber.
fn check_required_attributes(got: &[ReadAttribute<'_>], profile: Profile) -> Result<(), String> {
    let has = |oid: &[u64]| got.iter().any(|(a, _, _)| *a == oid);
    let mut required: Vec<(bool, &str)> = vec![
        (has(subject::OID_COUNTRY), "countryName (BR §7.1.2.7.4)"),
        (
            has(subject::OID_ORGANIZATION),
            "organizationName (BR §7.1.2.7.4)",
        ),
        (
            has(subject::OID_STATE_OR_PROVINCE) || has(subject::OID_LOCALITY),
            "stateOrProvinceName or localityName (BR §7.1.2.7.4)",
        ),
    ];
    if profile.is_ev() {
        required.extend([
            (has(subject::OID_LOCALITY), "localityName (EVG §9.2.7)"),
            (
                has(subject::OID_BUSINESS_CATEGORY),
                "businessCategory (EVG §9.2.4)",
            ),
            (
                has(subject::OID_JURISDICTION_COUNTRY),
                "jurisdictionCountryName (EVG §9.2.5)",
            ),
            (has(subject::OID_SERIAL_NUMBER), "serialNumber (EVG §9.2.6)"),
        ]);
    }
    if let Some((_, what)) = required.iter().find(|(present, _)| !present) {
        return Err(format!("subject lacks {what}"));
    }
    Ok(())
}

/// Exactly the vetted attributes, in order (BR §7.1.4.2 fixes the
/// relative order of C, ST, L, O), with the same string types and values.
fn check_vetted_attributes(
    got: &[ReadAttribute<'_>],
    info: &SubjectInfo,
    profile: Profile,
    name: &X509Name<'_>,
) -> Result<(), String> {
    let want = info.attributes(profile);
    let same = got.len() == want.len()
        && got.iter().zip(&want).all(|((oid, tag, data), w)| {
            *oid == w.oid && *tag == w.string_type.tag() && *data == w.value.as_bytes()
        });
    if !same {
        return Err(format!(
            "subject {name} differs from the vetted organization's {:?}",
            want.iter()
                .map(|a| (
                    subject::attribute_name(a.oid).unwrap_or("?"),
                    a.value.as_str()
                ))
                .collect::<Vec<_>>()
        ));
    }
    Ok(())
}

/// SAN: only dNSNames, no duplicates, the same set as `want`; no wildcard
/// when the profile forbids them (EVG §9.8.1).
fn check_names(
    general_names: &[GeneralName<'_>],
    want: &[String],
    profile: Profile,
) -> Result<(), String> {
    if general_names.is_empty() {
        return Err("subjectAltName is empty".into());
    }
    let mut got = HashSet::new();
    for gn in general_names {
        let GeneralName::DNSName(name) = gn else {
            return Err(format!("subjectAltName has a non-DNS name: {gn:?}"));
        };
        if name.starts_with("*.") && !profile.allows_wildcards() {
            return Err(format!(
                "subjectAltName has the wildcard {name}; profile {} forbids wildcards \
                 (EVG §9.8.1)",
                profile.name()
            ));
        }
        if !want.iter().any(|w| w == name) {
            return Err(format!("subjectAltName {name} was not requested"));
        }
        if !got.insert(*name) {
            return Err(format!("subjectAltName {name} appears twice"));
        }
    }
    if let Some(missing) = want.iter().find(|w| !got.contains(w.as_str())) {
        return Err(format!("requested name {missing} is not in subjectAltName"));
    }
    Ok(())
}

fn oid_string(arcs: &[u64]) -> String {
    arcs.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ca::testutil::{ov_subject, spec, vetted_spec, TestCa};
    use rcgen::string::PrintableString;
    use rcgen::{CertificateParams, DnType, DnValue, IsCa, KeyPair, PublicKeyData};
    use time::Duration;

    fn setup() -> (TestCa, CertificateSpec, Vec<u8>) {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let req = spec(
            &["a.example.net", "*.b.example.net"],
            key.subject_public_key_info(),
        );
        let der = t.ca.sign(&req).unwrap().der;
        (t, req, der)
    }

    #[test]
    fn issued_certificate_passes() {
        let (t, req, der) = setup();
        check(
            &der,
            &req,
            t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    }

    #[test]
    fn names_that_differ_are_refused() {
        let (t, mut req, der) = setup();
        req.names = vec!["a.example.net".into(), "*.c.example.net".into()];
        let err = check(
            &der,
            &req,
            t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(err.contains("was not requested"), "{err}");

        req.names = vec![
            "a.example.net".into(),
            "*.b.example.net".into(),
            "d.example.net".into(),
        ];
        let err = check(
            &der,
            &req,
            t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(
            err.contains("d.example.net is not in subjectAltName"),
            "{err}"
        );
    }

    #[test]
    fn other_request_fields_must_match() {
        let (t, req, der) = setup();
        let issuer = t.ca.intermediate_der();

        let mut r = req.clone();
        r.serial = super::super::Serial::random().unwrap();
        assert!(check(&der, &r, issuer, OffsetDateTime::now_utc())
            .unwrap_err()
            .contains("serial"));

        let mut r = req.clone();
        r.not_after += Duration::seconds(1);
        assert!(check(&der, &r, issuer, OffsetDateTime::now_utc())
            .unwrap_err()
            .contains("validity"));

        let mut r = req.clone();
        r.public_key_der = KeyPair::generate().unwrap().subject_public_key_info();
        assert!(check(&der, &r, issuer, OffsetDateTime::now_utc())
            .unwrap_err()
            .contains("key"));

        let mut r = req.clone();
        r.crl_url = None;
        assert!(check(&der, &r, issuer, OffsetDateTime::now_utc())
            .unwrap_err()
            .contains("cRLDistributionPoints"));

        let mut r = req.clone();
        r.issuer_url = Some("http://elsewhere.jp/i.der".into());
        assert!(check(&der, &r, issuer, OffsetDateTime::now_utc())
            .unwrap_err()
            .contains("authorityInfoAccess"));
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let (t, req, der) = setup();
        let other = TestCa::new();
        let err = check(
            &der,
            &req,
            other.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(err.contains("issuer") || err.contains("signature"), "{err}");
        // The root has a different name and key.
        let root = pem::parse(t.ca.root_pem()).unwrap();
        assert!(check(&der, &req, root.contents(), OffsetDateTime::now_utc()).is_err());
    }

    #[test]
    fn final_certificate_must_carry_the_linted_tbs_and_verify() {
        let (t, req, der) = setup();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let linted = cert.tbs_certificate.as_ref().to_vec();
        let (_, inter) = X509Certificate::from_der(t.ca.intermediate_der()).unwrap();
        check_final(&der, &linted, inter.public_key()).unwrap();

        // Another certificate for the same request (another serial).
        let mut r = req.clone();
        r.serial = super::super::Serial::random().unwrap();
        let second = t.ca.sign(&r).unwrap().der;
        let err = check_final(&second, &linted, inter.public_key()).unwrap_err();
        assert!(err.contains("differs from the linted one"), "{err}");

        let other = TestCa::new();
        let (_, other_inter) = X509Certificate::from_der(other.ca.intermediate_der()).unwrap();
        let err = check_final(&der, &linted, other_inter.public_key()).unwrap_err();
        assert!(err.contains("signature does not verify"), "{err}");

        let mut trailing = der.clone();
        trailing.push(0);
        let err = check_final(&trailing, &linted, inter.public_key()).unwrap_err();
        assert!(err.contains("trailing data"), "{err}");
    }

    #[test]
    fn a_lint_copy_is_linted_without_its_signature() {
        let (t, req, der) = setup();
        let (_, inter) = X509Certificate::from_der(t.ca.intermediate_der()).unwrap();
        let other = TestCa::new();
        let (_, other_inter) = X509Certificate::from_der(other.ca.intermediate_der()).unwrap();
        let signer = Signer {
            name_der: inter.subject().as_raw(),
            key_id: subject_key_id(&inter),
            now: OffsetDateTime::now_utc(),
        };
        // Signed by the intermediate, so not by `other`'s key: refused as
        // a final certificate, accepted as a lint copy.
        let err = check_signed_by(&der, &req, &signer, other_inter.public_key()).unwrap_err();
        assert!(err.contains("signature does not verify"), "{err}");
        let tbs = check_lint_copy(&der, &req, &signer).unwrap();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(tbs, cert.tbs_certificate.as_ref());
        // The profile checks still run on a lint copy.
        let mut r = req.clone();
        r.names.push("d.example.net".into());
        let err = check_lint_copy(&der, &r, &signer).unwrap_err();
        assert!(err.contains("d.example.net"), "{err}");
    }

    #[test]
    fn too_long_validity_is_refused() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let mut req = spec(&["a.example.net"], key.subject_public_key_info());
        // One second longer than the maximum in force now.
        req.not_after =
            schedule::latest_not_after(req.not_before, req.not_before) + Duration::seconds(1);
        let params = req
            .profile
            .certificate_params(&req, KeyType::EcdsaP256)
            .unwrap();
        let spki = rcgen::SubjectPublicKeyInfo::from_der(&req.public_key_der).unwrap();
        let der = params
            .signed_by(&spki, t.ca.issuer())
            .unwrap()
            .der()
            .to_vec();
        let err = check(
            &der,
            &req,
            t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(err.contains("BR §6.3.2"), "{err}");
        // At exactly the maximum it passes.
        req.not_after -= Duration::seconds(1);
        let params = req
            .profile
            .certificate_params(&req, KeyType::EcdsaP256)
            .unwrap();
        let der = params
            .signed_by(&spki, t.ca.issuer())
            .unwrap()
            .der()
            .to_vec();
        check(
            &der,
            &req,
            t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    }

    #[test]
    fn extra_extensions_and_ca_flag_are_refused() {
        let t = TestCa::new();
        let key = KeyPair::generate().unwrap();
        let req = spec(&["a.example.net"], key.subject_public_key_info());
        let spki = rcgen::SubjectPublicKeyInfo::from_der(&req.public_key_der).unwrap();
        let base = req
            .profile
            .certificate_params(&req, KeyType::EcdsaP256)
            .unwrap();
        let sign =
            |p: &CertificateParams| p.signed_by(&spki, t.ca.issuer()).unwrap().der().to_vec();

        // The profile's basicConstraints (first custom extension) with cA
        // TRUE.
        let mut p = base.clone();
        let mut ca_true = rcgen::CustomExtension::from_oid_content(
            &[2, 5, 29, 19],
            vec![0x30, 0x03, 0x01, 0x01, 0xff],
        );
        ca_true.set_criticality(true);
        p.custom_extensions[0] = ca_true;
        let err = check(
            &sign(&p),
            &req,
            t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(err.contains("CA"), "{err}");

        // rcgen's own basicConstraints comes with a subjectKeyIdentifier,
        // which BR §7.1.2.7.6 does not recommend: refused.
        let mut p = base.clone();
        p.custom_extensions.remove(0);
        p.is_ca = IsCa::ExplicitNoCa;
        let err = check(
            &sign(&p),
            &req,
            t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(err.contains("subjectKeyIdentifier"), "{err}");

        let mut p = base.clone();
        p.custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 24],
                vec![0x30, 0x03, 0x02, 0x01, 0x05],
            ));
        let err = check(
            &sign(&p),
            &req,
            t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(err.contains("not in the profile"), "{err}");

        let mut p = base.clone();
        p.extended_key_usages
            .push(rcgen::ExtendedKeyUsagePurpose::ClientAuth);
        let err = check(
            &sign(&p),
            &req,
            t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(err.contains("extKeyUsage"), "{err}");

        let mut p = base.clone();
        p.key_usages.push(rcgen::KeyUsagePurpose::KeyCertSign);
        let err = check(
            &sign(&p),
            &req,
            t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(err.contains("keyCertSign"), "{err}");

        let mut p = base.clone();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "a.example.net");
        let err = check(
            &sign(&p),
            &req,
            t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(err.contains("empty subject"), "{err}");

        let mut p = base.clone();
        p.custom_extensions.clear();
        p.custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                profile::OID_CERTIFICATE_POLICIES,
                vec![
                    0x30, 0x0a, 0x30, 0x08, 0x06, 0x06, 0x67, 0x81, 0x0c, 0x01, 0x02, 0x02,
                ],
            ));
        let err = check(
            &sign(&p),
            &req,
            t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(err.contains("certificatePolicies"), "{err}");
    }

    /// A vetted request, its profile's parameters, and a signer that signs
    /// modified parameters with the real intermediate (bypassing `issue`).
    struct Vetted {
        t: TestCa,
        req: CertificateSpec,
        base: CertificateParams,
        spki: rcgen::SubjectPublicKeyInfo,
    }

    impl Vetted {
        fn new(profile: Profile, names: &[&str]) -> Vetted {
            let t = TestCa::new();
            let key = KeyPair::generate().unwrap();
            let req = vetted_spec(profile, names, key.subject_public_key_info());
            let spki = rcgen::SubjectPublicKeyInfo::from_der(&req.public_key_der).unwrap();
            let base = req
                .profile
                .certificate_params(&req, KeyType::EcdsaP256)
                .unwrap();
            Vetted { t, req, base, spki }
        }

        fn lint(&self, p: &CertificateParams) -> Result<(), String> {
            let der = p.signed_by(&self.spki, self.t.ca.issuer()).unwrap();
            check(
                der.der(),
                &self.req,
                self.t.ca.intermediate_der(),
                OffsetDateTime::now_utc(),
            )
        }

        fn refused(&self, p: &CertificateParams, needle: &str) {
            let err = self.lint(p).unwrap_err();
            assert!(err.contains(needle), "{needle:?} not in {err}");
        }
    }

    fn custom(oid: &[u64]) -> DnType {
        DnType::CustomDnType(oid.to_vec())
    }

    #[test]
    fn vetted_certificates_pass() {
        for p in [Profile::Ov, Profile::Ev] {
            let v = Vetted::new(p, &["a.example.net"]);
            v.lint(&v.base).unwrap();
        }
    }

    #[test]
    fn ev_certificate_missing_business_category_is_refused() {
        let v = Vetted::new(Profile::Ev, &["a.example.net"]);
        let mut p = v.base.clone();
        assert!(p
            .distinguished_name
            .remove(custom(subject::OID_BUSINESS_CATEGORY)));
        v.refused(&p, "subject lacks businessCategory (EVG §9.2.4)");

        for (oid, what) in [
            (subject::OID_SERIAL_NUMBER, "serialNumber"),
            (subject::OID_JURISDICTION_COUNTRY, "jurisdictionCountryName"),
            (subject::OID_LOCALITY, "localityName (EVG §9.2.7)"),
        ] {
            let mut p = v.base.clone();
            assert!(p.distinguished_name.remove(DnType::from_oid(oid)));
            v.refused(&p, &format!("subject lacks {what}"));
        }
        // The optional jurisdictionST is still compared with the request.
        let mut p = v.base.clone();
        assert!(p
            .distinguished_name
            .remove(custom(subject::OID_JURISDICTION_STATE_OR_PROVINCE)));
        v.refused(&p, "differs from the vetted organization");
    }

    #[test]
    fn ev_request_without_ev_fields_is_refused() {
        let mut v = Vetted::new(Profile::Ev, &["a.example.net"]);
        v.req.subject.as_mut().unwrap().ev = None;
        v.refused(&v.base.clone(), "needs businessCategory");
        v.req.subject = None;
        v.refused(&v.base.clone(), "needs a vetted organization subject");
    }

    #[test]
    fn ov_certificate_without_state_or_locality_is_refused() {
        let v = Vetted::new(Profile::Ov, &["a.example.net"]);
        let mut p = v.base.clone();
        assert!(p.distinguished_name.remove(DnType::StateOrProvinceName));
        assert!(p.distinguished_name.remove(DnType::LocalityName));
        v.refused(&p, "stateOrProvinceName or localityName (BR §7.1.2.7.4)");
        // Without only one of them the certificate no longer matches the
        // vetted organization.
        let mut p = v.base.clone();
        assert!(p.distinguished_name.remove(DnType::LocalityName));
        v.refused(&p, "differs from the vetted organization");

        // The request itself must have one of them too.
        let mut v = v;
        let s = v.req.subject.as_mut().unwrap();
        s.state_or_province = None;
        s.locality = None;
        v.refused(&v.base.clone(), "BR §7.1.2.7.4");
    }

    #[test]
    fn wrong_country_is_refused() {
        let v = Vetted::new(Profile::Ov, &["a.example.net"]);
        // Right value, wrong string type.
        let mut p = v.base.clone();
        p.distinguished_name.push(DnType::CountryName, "JP");
        v.refused(
            &p,
            "countryName is encoded with tag 12, not PrintableString",
        );
        // Wrong value.
        let mut p = v.base.clone();
        p.distinguished_name.push(
            DnType::CountryName,
            DnValue::PrintableString(PrintableString::try_from("US").unwrap()),
        );
        v.refused(&p, "differs from the vetted organization");
        // A request with an invalid country.
        let mut v = v;
        v.req.subject.as_mut().unwrap().country = "jp".into();
        v.refused(&v.base.clone(), "ISO 3166-1");
    }

    #[test]
    fn organization_must_be_utf8_and_exact() {
        let v = Vetted::new(Profile::Ov, &["a.example.net"]);
        let mut p = v.base.clone();
        p.distinguished_name.push(
            DnType::OrganizationName,
            DnValue::BmpString("例示株式会社".try_into().unwrap()),
        );
        v.refused(
            &p,
            "organizationName is encoded with tag 30, not UTF8String",
        );
        let mut p = v.base.clone();
        p.distinguished_name
            .push(DnType::OrganizationName, "例示株式会社 ");
        v.refused(&p, "differs from the vetted organization");
    }

    #[test]
    fn ou_cn_and_foreign_attributes_are_refused() {
        let v = Vetted::new(Profile::Ov, &["a.example.net"]);
        let mut p = v.base.clone();
        p.distinguished_name
            .push(DnType::OrganizationalUnitName, "IT");
        v.refused(&p, "organizationalUnitName (BR §7.1.2.7.4 forbids it)");
        let mut p = v.base.clone();
        p.distinguished_name
            .push(DnType::CommonName, "a.example.net");
        v.refused(&p, "commonName");
        // EV attributes in an OV certificate.
        let mut p = v.base.clone();
        p.distinguished_name.push(
            custom(subject::OID_BUSINESS_CATEGORY),
            "Private Organization",
        );
        v.refused(&p, "subject attribute 2.5.4.15 is not in profile ov");
        // A DV request with a subject.
        let mut v = v;
        v.req.profile = Profile::Dv;
        v.refused(&v.base.clone(), "requires an empty subject");
        let dv = Vetted::new(Profile::Dv, &["a.example.net"]);
        let mut req = dv.req.clone();
        req.subject = Some(ov_subject());
        let der = dv.base.signed_by(&dv.spki, dv.t.ca.issuer()).unwrap();
        let err = check(
            der.der(),
            &req,
            dv.t.ca.intermediate_der(),
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(err.contains("takes no subject"), "{err}");
    }

    #[test]
    fn duplicate_attribute_is_refused() {
        let v = Vetted::new(Profile::Ov, &["a.example.net"]);
        let mut p = v.base.clone();
        // rcgen keys its DN by type; a second countryName needs another
        // DnType that maps to the same OID.
        p.distinguished_name.push(
            custom(subject::OID_COUNTRY),
            DnValue::PrintableString(PrintableString::try_from("JP").unwrap()),
        );
        v.refused(&p, "countryName appears twice");
    }

    #[test]
    fn wrong_policy_for_the_profile_is_refused() {
        let v = Vetted::new(Profile::Ev, &["a.example.net"]);
        let mut p = v.base.clone();
        p.custom_extensions.retain(|e| {
            e.oid_components()
                .ne(profile::OID_CERTIFICATE_POLICIES.iter().copied())
        });
        let ov = Profile::Ov
            .certificate_params(
                &vetted_spec(
                    Profile::Ov,
                    &["a.example.net"],
                    v.req.public_key_der.clone(),
                ),
                KeyType::EcdsaP256,
            )
            .unwrap();
        p.custom_extensions
            .extend(ov.custom_extensions.into_iter().filter(|e| {
                e.oid_components()
                    .eq(profile::OID_CERTIFICATE_POLICIES.iter().copied())
            }));
        v.refused(&p, "is not exactly [2.23.140.1.1]");
    }

    #[test]
    fn ev_wildcard_san_is_refused() {
        let mut v = Vetted::new(Profile::Ev, &["a.example.net"]);
        let mut p = v.base.clone();
        p.subject_alt_names.push(rcgen::SanType::DnsName(
            "*.a.example.net".try_into().unwrap(),
        ));
        v.req.names.push("*.a.example.net".into());
        v.refused(&p, "forbids wildcards (EVG §9.8.1)");
    }
}
