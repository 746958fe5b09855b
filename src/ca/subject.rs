//! The subject of an OV or EV certificate: the vetted organization's data,
//! supplied by the RA from the organization record, never from the CSR
//! (DESIGN.md core rules).
//!
//! One function, [`SubjectInfo::attributes`], turns it into the ordered
//! attribute list; the profile writes exactly that list and the lint
//! compares the certificate with it.
//!
//! Attribute order: BR §7.1.4.2 fixes the relative order of the attributes
//! it lists (countryName, stateOrProvinceName, localityName, ...,
//! organizationName, ..., commonName); the EV attributes are not in that
//! table, so they follow organizationName: businessCategory, serialNumber,
//! jurisdictionCountryName, jurisdictionStateOrProvinceName,
//! jurisdictionLocalityName.
//!
//! No commonName: BR §7.1.2.7.4 makes it NOT RECOMMENDED and EVG §9.2.3
//! deprecated; every name is in the subjectAltName.

use super::profile::Profile;
use crate::error::{Error, Result};

/// The vetted organization's subject fields for an OV or EV certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectInfo {
    /// organizationName (O), UTF8String: the legal name, or the English
    /// name when the organization record says so. 1..=64 characters
    /// (RFC 5280 ub-organization-name). May be Japanese, e.g. "例示株式会社".
    pub organization: String,
    /// countryName (C), PrintableString: ISO 3166-1 alpha-2, e.g. "JP".
    pub country: String,
    /// stateOrProvinceName (ST), UTF8String, ≤ 128 characters, e.g.
    /// "東京都". OV needs ST or L (BR §7.1.2.7.4).
    pub state_or_province: Option<String>,
    /// localityName (L), UTF8String, ≤ 128 characters. OV needs ST or L
    /// (BR §7.1.2.7.4); EV needs L (EVG §9.2.7).
    pub locality: Option<String>,
    /// EV fields (EVG §9.2.4–9.2.6): required by `ev`, ignored by `ov`, so
    /// one `SubjectInfo` per organization serves both profiles.
    pub ev: Option<EvSubject>,
}

/// The subject fields only EV certificates carry (EVG §9.2.4–9.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvSubject {
    /// businessCategory (2.5.4.15), UTF8String: one of
    /// [`EV_BUSINESS_CATEGORIES`] (EVG §9.2.4).
    pub business_category: String,
    /// serialNumber (2.5.4.5), PrintableString: the registration number
    /// (in Japan the 13-digit corporate number), ≤ 64 characters
    /// (EVG §9.2.6).
    pub serial_number: String,
    /// jurisdictionCountryName (1.3.6.1.4.1.311.60.2.1.3), PrintableString,
    /// ISO 3166-1 alpha-2 (EVG §9.2.5).
    pub jurisdiction_country: String,
    /// jurisdictionStateOrProvinceName (1.3.6.1.4.1.311.60.2.1.2),
    /// UTF8String, ≤ 128 characters; when incorporated at that level.
    pub jurisdiction_state_or_province: Option<String>,
    /// jurisdictionLocalityName (1.3.6.1.4.1.311.60.2.1.1), UTF8String,
    /// ≤ 128 characters; when incorporated at that level.
    pub jurisdiction_locality: Option<String>,
}

/// The businessCategory values EVG §9.2.4 allows, one per EVG §8.5
/// organization class.
pub const EV_BUSINESS_CATEGORIES: [&str; 4] = [
    "Private Organization",
    "Government Entity",
    "Business Entity",
    "Non-Commercial Entity",
];

pub(crate) const OID_COUNTRY: &[u64] = &[2, 5, 4, 6];
pub(crate) const OID_STATE_OR_PROVINCE: &[u64] = &[2, 5, 4, 8];
pub(crate) const OID_LOCALITY: &[u64] = &[2, 5, 4, 7];
pub(crate) const OID_ORGANIZATION: &[u64] = &[2, 5, 4, 10];
pub(crate) const OID_BUSINESS_CATEGORY: &[u64] = &[2, 5, 4, 15];
pub(crate) const OID_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
pub(crate) const OID_JURISDICTION_COUNTRY: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3];
pub(crate) const OID_JURISDICTION_STATE_OR_PROVINCE: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 2];
pub(crate) const OID_JURISDICTION_LOCALITY: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 1];

/// Every attribute type an `ov` or `ev` subject may carry.
pub(crate) const ALL_ATTRIBUTES: &[&[u64]] = &[
    OID_COUNTRY,
    OID_STATE_OR_PROVINCE,
    OID_LOCALITY,
    OID_ORGANIZATION,
    OID_BUSINESS_CATEGORY,
    OID_SERIAL_NUMBER,
    OID_JURISDICTION_COUNTRY,
    OID_JURISDICTION_STATE_OR_PROVINCE,
    OID_JURISDICTION_LOCALITY,
];

/// The attribute types only `ev` subjects carry (EVG §9.2.4-9.2.6).
pub(crate) const EV_ATTRIBUTES: &[&[u64]] = &[
    OID_BUSINESS_CATEGORY,
    OID_SERIAL_NUMBER,
    OID_JURISDICTION_COUNTRY,
    OID_JURISDICTION_STATE_OR_PROVINCE,
    OID_JURISDICTION_LOCALITY,
];

/// RFC 5280 Appendix A upper bounds, in characters.
const UB_ORGANIZATION_NAME: usize = 64;
const UB_STATE_NAME: usize = 128;
const UB_LOCALITY_NAME: usize = 128;
const UB_SERIAL_NUMBER: usize = 64;
/// X.520 ub-business-category.
const UB_BUSINESS_CATEGORY: usize = 128;

/// The ASN.1 string type of an attribute value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StringType {
    /// Universal tag 19 (0x13).
    Printable,
    /// Universal tag 12 (0x0c).
    Utf8,
}

impl StringType {
    pub(crate) fn tag(self) -> u32 {
        match self {
            StringType::Printable => 19,
            StringType::Utf8 => 12,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            StringType::Printable => "PrintableString",
            StringType::Utf8 => "UTF8String",
        }
    }
}

/// One subject attribute as it is written: one per RDN, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attribute {
    pub oid: &'static [u64],
    pub string_type: StringType,
    pub value: String,
}

/// The short name used in messages.
pub(crate) fn attribute_name(oid: &[u64]) -> Option<&'static str> {
    Some(match oid {
        OID_COUNTRY => "countryName",
        OID_STATE_OR_PROVINCE => "stateOrProvinceName",
        OID_LOCALITY => "localityName",
        OID_ORGANIZATION => "organizationName",
        OID_BUSINESS_CATEGORY => "businessCategory",
        OID_SERIAL_NUMBER => "serialNumber",
        OID_JURISDICTION_COUNTRY => "jurisdictionCountryName",
        OID_JURISDICTION_STATE_OR_PROVINCE => "jurisdictionStateOrProvinceName",
        OID_JURISDICTION_LOCALITY => "jurisdictionLocalityName",
        _ => return None,
    })
}

/// The string type our profiles use for `oid`: PrintableString for the
/// country codes (RFC 5280 Appendix A, X.520) and serialNumber (X.520
/// `PrintableString (SIZE (1..ub-serial-number))`), UTF8String for the
/// rest (RFC 5280 §4.1.2.6: DirectoryString MUST be UTF8String).
pub(crate) fn string_type(oid: &[u64]) -> StringType {
    match oid {
        OID_COUNTRY | OID_JURISDICTION_COUNTRY | OID_SERIAL_NUMBER => StringType::Printable,
        _ => StringType::Utf8,
    }
}

/// X.680 §41.4 PrintableString alphabet.
pub(crate) fn is_printable(s: &str) -> bool {
    s.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b' ' | b'\'' | b'(' | b')' | b'+' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?'
            )
    })
}

fn invalid(detail: String) -> Error {
    Error::internal(format!("vetted subject: {detail}"))
}

/// ISO 3166-1 alpha-2 shape: exactly two uppercase ASCII letters.
fn check_country(field: &str, value: &str) -> Result<()> {
    if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(format!(
            "{field} {value:?} is not an ISO 3166-1 alpha-2 code (two uppercase letters)"
        )));
    }
    Ok(())
}

/// A non-empty value of at most `max` characters (not bytes: the upper
/// bounds count characters), without control characters or surrounding
/// whitespace (BR §7.1.4 forbids values that are only metadata such as
/// '.', '-' or ' '; padding is never part of a vetted name).
fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    let chars = value.chars().count();
    if chars == 0 || chars > max {
        return Err(invalid(format!(
            "{field} has {chars} characters (1..={max} allowed)"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} {value:?} has a control character"
        )));
    }
    if value.trim() != value {
        return Err(invalid(format!(
            "{field} {value:?} has leading or trailing whitespace"
        )));
    }
    if value
        .chars()
        .all(|c| matches!(c, '.' | '-' | ' ' | '\u{3000}'))
    {
        return Err(invalid(format!(
            "{field} {value:?} is only punctuation (BR §7.1.4)"
        )));
    }
    Ok(())
}

fn check_optional(field: &str, value: Option<&String>, max: usize) -> Result<()> {
    match value {
        Some(v) => check_text(field, v, max),
        None => Ok(()),
    }
}

impl SubjectInfo {
    /// Checks the fields `profile` writes (it must take a subject):
    /// lengths, country codes, PrintableString values, the ST/L rule, and
    /// for `ev` the EV fields (for `ov` they are not checked: not written).
    /// A failure is `ServerInternal`: the vetting module is meant to store
    /// only valid data.
    pub fn validate(&self, profile: Profile) -> Result<()> {
        if !profile.requires_subject() {
            return Err(invalid(format!(
                "profile {} takes no subject (names only in the subjectAltName)",
                profile.name()
            )));
        }
        check_text("organizationName", &self.organization, UB_ORGANIZATION_NAME)?;
        check_country("countryName", &self.country)?;
        check_optional(
            "stateOrProvinceName",
            self.state_or_province.as_ref(),
            UB_STATE_NAME,
        )?;
        check_optional("localityName", self.locality.as_ref(), UB_LOCALITY_NAME)?;
        // BR §7.1.2.7.4: stateOrProvinceName MUST be present if
        // localityName is absent, and localityName if stateOrProvinceName
        // is absent.
        if self.state_or_province.is_none() && self.locality.is_none() {
            return Err(invalid(
                "neither stateOrProvinceName nor localityName is given; BR §7.1.2.7.4 \
                 requires at least one"
                    .into(),
            ));
        }
        match (&self.ev, profile.is_ev()) {
            (None, true) => Err(invalid(
                "the ev profile needs businessCategory, serialNumber and jurisdiction \
                 fields (EVG §9.2.4-9.2.6)"
                    .into(),
            )),
            (_, false) => Ok(()),
            (Some(ev), true) => {
                // EVG §9.2.7: localityName is required for EV, ST only
                // where applicable.
                if self.locality.is_none() {
                    return Err(invalid(
                        "the ev profile requires localityName (EVG §9.2.7)".into(),
                    ));
                }
                ev.validate()
            }
        }
    }

    /// The subject attributes `profile` writes, in order, one per RDN:
    /// the EV ones only for `ev`.
    pub(crate) fn attributes(&self, profile: Profile) -> Vec<Attribute> {
        let mut out = Vec::with_capacity(9);
        let mut push = |oid: &'static [u64], value: &str| {
            out.push(Attribute {
                oid,
                string_type: string_type(oid),
                value: value.to_owned(),
            })
        };
        push(OID_COUNTRY, &self.country);
        if let Some(st) = &self.state_or_province {
            push(OID_STATE_OR_PROVINCE, st);
        }
        if let Some(l) = &self.locality {
            push(OID_LOCALITY, l);
        }
        push(OID_ORGANIZATION, &self.organization);
        if let Some(ev) = self.ev.as_ref().filter(|_| profile.is_ev()) {
            push(OID_BUSINESS_CATEGORY, &ev.business_category);
            push(OID_SERIAL_NUMBER, &ev.serial_number);
            push(OID_JURISDICTION_COUNTRY, &ev.jurisdiction_country);
            if let Some(st) = &ev.jurisdiction_state_or_province {
                push(OID_JURISDICTION_STATE_OR_PROVINCE, st);
            }
            if let Some(l) = &ev.jurisdiction_locality {
                push(OID_JURISDICTION_LOCALITY, l);
            }
        }
        out
    }
}

impl EvSubject {
    fn validate(&self) -> Result<()> {
        check_text(
            "businessCategory",
            &self.business_category,
            UB_BUSINESS_CATEGORY,
        )?;
        if !EV_BUSINESS_CATEGORIES.contains(&self.business_category.as_str()) {
            return Err(invalid(format!(
                "businessCategory {:?} is not one of {EV_BUSINESS_CATEGORIES:?} (EVG §9.2.4)",
                self.business_category
            )));
        }
        check_text("serialNumber", &self.serial_number, UB_SERIAL_NUMBER)?;
        if !is_printable(&self.serial_number) {
            return Err(invalid(format!(
                "serialNumber {:?} is not a PrintableString (EVG §9.2.6)",
                self.serial_number
            )));
        }
        check_country("jurisdictionCountryName", &self.jurisdiction_country)?;
        check_optional(
            "jurisdictionStateOrProvinceName",
            self.jurisdiction_state_or_province.as_ref(),
            UB_STATE_NAME,
        )?;
        check_optional(
            "jurisdictionLocalityName",
            self.jurisdiction_locality.as_ref(),
            UB_LOCALITY_NAME,
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ca::testutil::{ev_subject, ov_subject};
    use crate::error::ErrorKind;

    fn refused(s: &SubjectInfo, p: Profile, needle: &str) {
        let err = s.validate(p).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ServerInternal);
        assert!(
            err.detail.contains(needle),
            "{needle:?} not in {}",
            err.detail
        );
    }

    #[test]
    fn valid_subjects_pass() {
        ov_subject().validate(Profile::Ov).unwrap();
        ev_subject().validate(Profile::Ev).unwrap();
        let mut s = ov_subject();
        s.locality = None;
        s.validate(Profile::Ov).unwrap();
        let mut s = ov_subject();
        s.state_or_province = None;
        s.validate(Profile::Ov).unwrap();
        // 64 characters, 192 UTF-8 bytes: the bound counts characters.
        let mut s = ov_subject();
        s.organization = "例".repeat(64);
        s.validate(Profile::Ov).unwrap();
    }

    #[test]
    fn profile_and_ev_fields_must_agree() {
        refused(&ov_subject(), Profile::Dv, "takes no subject");
        refused(&ov_subject(), Profile::Ev, "needs businessCategory");
        // An EV-vetted organization's subject serves OV orders too.
        ev_subject().validate(Profile::Ov).unwrap();
        let mut s = ev_subject();
        s.ev.as_mut().unwrap().business_category = "nonsense".into();
        s.validate(Profile::Ov).unwrap();
        assert_eq!(
            s.attributes(Profile::Ov),
            ov_subject().attributes(Profile::Ov)
        );
    }

    #[test]
    fn organization_bounds() {
        let mut s = ov_subject();
        s.organization = "例".repeat(65);
        refused(&s, Profile::Ov, "65 characters");
        s.organization = String::new();
        refused(&s, Profile::Ov, "0 characters");
        s.organization = " Example".into();
        refused(&s, Profile::Ov, "whitespace");
        s.organization = "Ex\nample".into();
        refused(&s, Profile::Ov, "control");
        s.organization = "-".into();
        refused(&s, Profile::Ov, "punctuation");
    }

    #[test]
    fn country_must_be_two_uppercase_letters() {
        for bad in ["jp", "JPN", "J", "", "J1", "ＪＰ"] {
            let mut s = ov_subject();
            s.country = bad.into();
            refused(&s, Profile::Ov, "ISO 3166-1");
            let mut s = ev_subject();
            s.ev.as_mut().unwrap().jurisdiction_country = bad.into();
            refused(&s, Profile::Ev, "jurisdictionCountryName");
        }
    }

    #[test]
    fn state_or_locality_rules() {
        let mut s = ov_subject();
        s.state_or_province = None;
        s.locality = None;
        refused(&s, Profile::Ov, "BR §7.1.2.7.4");
        let mut s = ov_subject();
        s.state_or_province = Some("州".repeat(129));
        refused(&s, Profile::Ov, "129 characters");
        s.state_or_province = Some("州".repeat(128));
        s.validate(Profile::Ov).unwrap();
        let mut s = ev_subject();
        s.locality = None;
        refused(&s, Profile::Ev, "EVG §9.2.7");
    }

    #[test]
    fn ev_fields() {
        let mut s = ev_subject();
        s.ev.as_mut().unwrap().business_category = "Private organization".into();
        refused(&s, Profile::Ev, "EVG §9.2.4");
        for c in EV_BUSINESS_CATEGORIES {
            s.ev.as_mut().unwrap().business_category = c.into();
            s.validate(Profile::Ev).unwrap();
        }
        let mut s = ev_subject();
        s.ev.as_mut().unwrap().serial_number = "０１２３".into();
        refused(&s, Profile::Ev, "not a PrintableString");
        s.ev.as_mut().unwrap().serial_number = "a_b".into();
        refused(&s, Profile::Ev, "not a PrintableString");
        s.ev.as_mut().unwrap().serial_number = "1".repeat(65);
        refused(&s, Profile::Ev, "65 characters");
        let mut s = ev_subject();
        s.ev.as_mut().unwrap().jurisdiction_locality = Some(String::new());
        refused(&s, Profile::Ev, "jurisdictionLocalityName");
    }

    #[test]
    fn attributes_are_in_br_order_with_their_string_types() {
        let attrs = ev_subject().attributes(Profile::Ev);
        let got: Vec<(&str, StringType)> = attrs
            .iter()
            .map(|a| (attribute_name(a.oid).unwrap(), a.string_type))
            .collect();
        use StringType::{Printable, Utf8};
        assert_eq!(
            got,
            [
                ("countryName", Printable),
                ("stateOrProvinceName", Utf8),
                ("localityName", Utf8),
                ("organizationName", Utf8),
                ("businessCategory", Utf8),
                ("serialNumber", Printable),
                ("jurisdictionCountryName", Printable),
                ("jurisdictionStateOrProvinceName", Utf8),
            ]
        );
        assert!(is_printable("Aa0 '()+,-./:=?"));
        assert!(!is_printable("a@b") && !is_printable("a*b") && !is_printable("é"));
    }
}
