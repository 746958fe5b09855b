//! Certificate profiles: what a subscriber certificate contains, built
//! fresh for every issuance. Only the public key, the names and the vetted
//! organization's subject come from the request; everything else is fixed
//! here (Boulder's rule: never sign what the CSR asked for).
//!
//! `ov` (BR §7.1.2.7.4) and `ev` (EVG §9.2, BR §7.1.2.7.5) take their
//! subject from the vetted organization ([`SubjectInfo`], supplied by the
//! RA, never from the CSR); `dv` (BR §7.1.2.7.2) has an empty subject and
//! stays for tests and development. All three share one extension set and
//! differ in the subject, the policy OID (BR §7.1.6.1) and wildcards.
//!
//! No profile writes a commonName: BR §7.1.2.7.4 makes it NOT RECOMMENDED
//! and EVG §9.2.3 deprecated, and leaving it out avoids the 64-character
//! and wildcard corner cases of copying a SAN into it.

use rcgen::string::{Ia5String, PrintableString};
use rcgen::{
    CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyUsagePurpose, SanType, SerialNumber,
};
use yasna::models::ObjectIdentifier;
use yasna::Tag;

use super::csr::KeyType;
use super::ct::tbs;
use super::sign::{CertificateSpec, CtExtension};
use super::subject::StringType;
pub use super::subject::{EvSubject, SubjectInfo};
pub use crate::core::Profile;
use crate::error::{Error, ErrorKind, Result};

/// The profile chosen when an order names none (`acme.default_profile`).
pub const DEFAULT_PROFILE: &str = "ov";

/// RFC 5280 §4.2.1.4 certificatePolicies.
pub(crate) const OID_CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];
/// RFC 5280 §4.2.1.9 basicConstraints.
const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
/// RFC 5280 §4.2.2.1 authorityInfoAccess.
pub(crate) const OID_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// RFC 5280 §4.2.2.1 id-ad-caIssuers.
pub(crate) const OID_AD_CA_ISSUERS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 2];
/// BR §7.1.6.1 CA/Browser Forum reserved policy identifiers.
const OID_POLICY_DV: &[u64] = &[2, 23, 140, 1, 2, 1];
const OID_POLICY_OV: &[u64] = &[2, 23, 140, 1, 2, 2];
const OID_POLICY_EV: &[u64] = &[2, 23, 140, 1, 1];

impl Profile {
    /// The CA/Browser Forum reserved policy identifier asserted by
    /// certificates of this profile (BR §7.1.6.1).
    pub fn policy_oid(self) -> &'static [u64] {
        match self {
            Profile::Ov => OID_POLICY_OV,
            Profile::Ev => OID_POLICY_EV,
            Profile::Dv => OID_POLICY_DV,
        }
    }

    /// Whether the subject DN is empty (names only in the SAN, which then
    /// must be critical: RFC 5280 §4.2.1.6). OV/EV carry C, ST/L, O (and
    /// the EV fields).
    pub fn has_empty_subject(self) -> bool {
        !self.requires_subject()
    }

    /// BR §7.1.2.7.11: digitalSignature always; keyEncipherment only for
    /// RSA keys (it MUST NOT be set for ECDSA).
    pub fn key_usages(self, key_type: KeyType) -> Vec<KeyUsagePurpose> {
        let mut ku = vec![KeyUsagePurpose::DigitalSignature];
        if matches!(key_type, KeyType::Rsa(_)) {
            ku.push(KeyUsagePurpose::KeyEncipherment);
        }
        ku
    }

    /// The subject for `spec` under this profile: empty for `dv`; for `ov`
    /// and `ev` the validated [`SubjectInfo`] (`ServerInternal` when it is
    /// missing, which the RA's vetting gate rules out, or invalid).
    pub(crate) fn subject(self, spec: &CertificateSpec) -> Result<DistinguishedName> {
        let mut dn = DistinguishedName::new();
        let info = match (&spec.subject, self.requires_subject()) {
            (None, false) => return Ok(dn),
            (Some(info), _) => info,
            (None, true) => {
                return Err(Error::internal(format!(
                    "profile {} needs a vetted organization subject",
                    self.name()
                )))
            }
        };
        info.validate(self)?;
        for attr in info.attributes(self) {
            let value = match attr.string_type {
                StringType::Printable => DnValue::PrintableString(
                    PrintableString::try_from(attr.value.as_str()).map_err(|_| {
                        Error::internal(format!("{:?} is not a PrintableString", attr.value))
                    })?,
                ),
                StringType::Utf8 => DnValue::Utf8String(attr.value),
            };
            dn.push(DnType::from_oid(attr.oid), value);
        }
        Ok(dn)
    }

    /// The certificate parameters for `spec`, built from scratch: the only
    /// data used are the names, the vetted subject, validity, serial and
    /// URLs; the key is supplied to the signer separately.
    pub(crate) fn certificate_params(
        self,
        spec: &CertificateSpec,
        key_type: KeyType,
    ) -> Result<CertificateParams> {
        if spec.names.is_empty() {
            return Err(Error::internal("issuance request has no names"));
        }
        let mut sans = Vec::with_capacity(spec.names.len());
        for name in &spec.names {
            if name.starts_with("*.") && !self.allows_wildcards() {
                // EVG §9.8.1. The RA refuses this at new-order already.
                return Err(Error::new(
                    ErrorKind::RejectedIdentifier,
                    format!(
                        "profile {} does not allow the wildcard name {name}",
                        self.name()
                    ),
                ));
            }
            let ia5 = Ia5String::try_from(name.as_str())
                .map_err(|_| Error::internal(format!("name {name:?} is not an IA5String")))?;
            sans.push(SanType::DnsName(ia5));
        }

        let mut params = CertificateParams::default();
        // Replaces rcgen's default CN. An empty (DV) subject makes rcgen
        // mark the SAN critical, a non-empty one non-critical (RFC 5280
        // §4.2.1.6, BR §7.1.2.7.12).
        params.distinguished_name = self.subject(spec)?;
        params.subject_alt_names = sans;
        // Certificate times have whole seconds; rcgen would drop the rest
        // silently, we do it visibly so the caller's record matches the DER.
        params.not_before = whole_seconds(spec.not_before);
        params.not_after = whole_seconds(spec.not_after);
        params.serial_number = Some(SerialNumber::from_slice(&spec.serial.0));
        // No subjectKeyIdentifier: BR §7.1.2.7.6 makes it NOT RECOMMENDED
        // in a subscriber certificate (pkilint warns). rcgen writes one
        // with every basicConstraints it makes, so that extension is ours
        // (`basic_constraints`), and NoCa writes neither.
        params.is_ca = IsCa::NoCa;
        params.key_identifier_method = KeyIdMethod::Sha256;
        params.key_usages = self.key_usages(key_type);
        // BR §7.1.2.7.10: serverAuth, optionally clientAuth; we issue
        // serverAuth only.
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        // BR §7.1.2.7.6: authorityKeyIdentifier MUST be present.
        params.use_authority_key_identifier_extension = true;
        if let Some(url) = &spec.crl_url {
            check_http_url(url)?;
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![url.clone()],
            }];
        }
        params.custom_extensions =
            vec![basic_constraints(), certificate_policies(self.policy_oid())];
        if let Some(url) = &spec.issuer_url {
            params.custom_extensions.push(ca_issuers(url)?);
        }
        // Last, so a precertificate and its final certificate differ only
        // in this extension (RFC 6962 §3.1).
        match &spec.ct {
            CtExtension::None => {}
            CtExtension::Poison => {
                let mut poison =
                    CustomExtension::from_oid_content(tbs::POISON_ARCS, vec![0x05, 0x00]);
                poison.set_criticality(true);
                params.custom_extensions.push(poison);
            }
            CtExtension::Scts(list) => {
                params
                    .custom_extensions
                    .push(CustomExtension::from_oid_content(
                        tbs::SCT_LIST_ARCS,
                        tbs::sct_list_value(list),
                    ))
            }
        }
        Ok(params)
    }
}

pub(crate) fn whole_seconds(t: time::OffsetDateTime) -> time::OffsetDateTime {
    // Cannot fail: 0 is a valid nanosecond; keep `t` rather than unwrap.
    t.replace_nanosecond(0).unwrap_or(t)
}

/// BR §7.1.2.7.7 / §7.1.2.11.2: the caIssuers and CRL URLs are plain HTTP.
/// They are written as IA5String, hence ASCII only.
fn check_http_url(url: &str) -> Result<()> {
    if !url.is_ascii() || !url.starts_with("http://") || url.len() <= "http://".len() {
        return Err(Error::internal(format!(
            "CA URL {url:?} must be an ASCII http:// URL (BR §7.1.2.7.7)"
        )));
    }
    Ok(())
}

/// certificatePolicies (RFC 5280 §4.2.1.4) with one PolicyInformation
/// and no qualifiers; non-critical (BR §7.1.2.7.9).
fn certificate_policies(policy: &[u64]) -> CustomExtension {
    let der = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_oid(&ObjectIdentifier::from_slice(policy));
            });
        });
    });
    CustomExtension::from_oid_content(OID_CERTIFICATE_POLICIES, der)
}

/// authorityInfoAccess (RFC 5280 §4.2.2.1) with one caIssuers URI;
/// non-critical (BR §7.1.2.7.7).
/// RFC 5280 §4.2.1.9 basicConstraints, critical, cA FALSE (DEFAULT, so
/// omitted: an empty SEQUENCE), as BR §7.1.2.7.8 allows.
fn basic_constraints() -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(OID_BASIC_CONSTRAINTS, vec![0x30, 0x00]);
    ext.set_criticality(true);
    ext
}

fn ca_issuers(url: &str) -> Result<CustomExtension> {
    check_http_url(url)?;
    let der = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next()
                    .write_oid(&ObjectIdentifier::from_slice(OID_AD_CA_ISSUERS));
                // GeneralName uniformResourceIdentifier [6] IMPLICIT IA5String.
                w.next()
                    .write_tagged_implicit(Tag::context(6), |w| w.write_ia5_string(url));
            });
        });
    });
    Ok(CustomExtension::from_oid_content(
        OID_AUTHORITY_INFO_ACCESS,
        der,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Profile::all() {
            assert_eq!(Profile::parse(p.name()), Some(*p));
            assert!(!p.description().is_empty());
        }
        assert_eq!(Profile::parse(DEFAULT_PROFILE), Some(Profile::Ov));
        assert_eq!(Profile::parse("ev"), Some(Profile::Ev));
        assert_eq!(Profile::parse("dv"), Some(Profile::Dv));
        assert_eq!(Profile::parse("DV"), None);
        assert_eq!(Profile::parse("OV"), None);
        assert_eq!(Profile::parse(""), None);
        assert_eq!(Profile::all(), [Profile::Ov, Profile::Ev, Profile::Dv]);
    }

    #[test]
    fn ov_and_ev_profile_facts() {
        assert_eq!(Profile::Ov.policy_oid(), &[2, 23, 140, 1, 2, 2]);
        assert_eq!(Profile::Ev.policy_oid(), &[2, 23, 140, 1, 1]);
        assert!(Profile::Ov.allows_wildcards());
        assert!(!Profile::Ev.allows_wildcards());
        for p in [Profile::Ov, Profile::Ev] {
            assert!(p.requires_subject());
            assert!(!p.has_empty_subject());
            assert_eq!(
                p.key_usages(KeyType::EcdsaP384),
                vec![KeyUsagePurpose::DigitalSignature]
            );
        }
        assert!(Profile::Ev.is_ev());
        assert!(!Profile::Ov.is_ev() && !Profile::Dv.is_ev());
        assert!(!Profile::Dv.requires_subject());
    }

    #[test]
    fn dv_profile_facts() {
        assert!(Profile::Dv.allows_wildcards());
        assert!(Profile::Dv.has_empty_subject());
        assert_eq!(Profile::Dv.policy_oid(), &[2, 23, 140, 1, 2, 1]);
        assert_eq!(
            Profile::Dv.key_usages(KeyType::EcdsaP256),
            vec![KeyUsagePurpose::DigitalSignature]
        );
        assert_eq!(
            Profile::Dv.key_usages(KeyType::Rsa(2048)),
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment
            ]
        );
    }

    #[test]
    fn policy_and_aia_der() {
        let cp = certificate_policies(OID_POLICY_DV);
        // SEQUENCE { SEQUENCE { OID 2.23.140.1.2.1 } }
        assert_eq!(
            cp.content(),
            &[0x30, 0x0a, 0x30, 0x08, 0x06, 0x06, 0x67, 0x81, 0x0c, 0x01, 0x02, 0x01][..]
        );
        assert!(!cp.criticality());
        let aia = ca_issuers("http://x.jp/i").unwrap();
        assert!(aia.content().ends_with(b"\x86\x0dhttp://x.jp/i"));
        assert!(ca_issuers("https://x.jp/i").is_err());
        assert!(ca_issuers("http://ü.jp/").is_err());
    }
}
