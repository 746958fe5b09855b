//! DNS names and e-mail addresses: one syntax for every layer. newOrder
//! (`ra::policy`), an organization's domain scope (`vetting`) and the VA
//! all parse names with [`DnsName::parse`]; newOrder and domain scopes
//! also apply [`issuable`], the rule of which names a public CA may
//! certify (the VA validates what it is given and decides no policy).

use std::net::IpAddr;

/// RFC 5321 path limit for an address.
const MAX_EMAIL_LEN: usize = 254;

/// A syntactically valid DNS identifier (RFC 1035 §2.3.1, RFC 5890
/// A-labels), possibly a wildcard whose `*` is the whole leftmost label
/// (RFC 8555 §7.1.3). Lowercase ASCII, no trailing dot, at least two
/// labels, not an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsName(String);

/// Why a string is not a [`DnsName`], in words for a problem document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidName(String);

impl std::fmt::Display for InvalidName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidName {}

impl DnsName {
    /// Parses `name`, which must already be lowercase (callers decide
    /// whether to lowercase what a client sent).
    pub fn parse(name: &str) -> Result<DnsName, InvalidName> {
        let invalid = |why: String| Err(InvalidName(why));
        if name.is_empty() {
            return invalid("empty name".into());
        }
        if name.ends_with('.') {
            return invalid("name must not end with a dot".into());
        }
        if name.parse::<IpAddr>().is_ok() {
            return invalid("an IP address is not a dns identifier".into());
        }
        if !name.is_ascii() {
            return invalid(
                "name must be ASCII; encode international names as A-labels (xn--)".into(),
            );
        }
        let base = name.strip_prefix("*.").unwrap_or(name);
        if base.contains('*') {
            return invalid("a wildcard may only be the whole leftmost label (\"*.\")".into());
        }
        if base.len() > 253 {
            return invalid("name is longer than 253 characters".into());
        }
        check_labels(base).map_err(InvalidName)?;
        Ok(DnsName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the leftmost label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// The name without a wildcard label.
    pub fn base(&self) -> &str {
        self.0.strip_prefix("*.").unwrap_or(&self.0)
    }
}

impl std::fmt::Display for DnsName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<DnsName> for String {
    fn from(n: DnsName) -> String {
        n.0
    }
}

/// Special-use and never-delegated suffixes: no public CA certifies a
/// name under them, whoever answers for it on some network.
const RESERVED_SUFFIXES: &[(&str, &str)] = &[
    ("test", "RFC 6761"),
    ("example", "RFC 6761"),
    ("invalid", "RFC 6761"),
    ("localhost", "RFC 6761"),
    ("home.arpa", "RFC 8375"),
    ("onion", "RFC 7686"),
    ("local", "RFC 6762"),
    ("internal", "reserved for private use by ICANN in 2024"),
    ("alt", "RFC 9476"),
    ("corp", "not delegated, common on private networks"),
    ("home", "not delegated, common on private networks"),
    ("lan", "not delegated, common on private networks"),
    ("intranet", "not delegated, common on private networks"),
    ("private", "not delegated, common on private networks"),
];

/// Why a syntactically valid name is not one this CA certifies, in words
/// for a `rejectedIdentifier` subproblem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotIssuable(String);

impl std::fmt::Display for NotIssuable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotIssuable {}

/// Whether a public CA may certify `name` (BR 3.2.2.4, RFC 8555 §7.1.3):
/// not under a special-use suffix, ending in a top-level domain of the
/// ICANN section of the Public Suffix List, not itself a public suffix,
/// and not a wildcard directly under one. The ICANN section alone decides,
/// as in Boulder: a private-section entry (`github.io`) is a registrable
/// name its owner can validate.
pub fn issuable(name: &DnsName) -> Result<(), NotIssuable> {
    let base = name.base();
    let refuse = |why: String| Err(NotIssuable(format!("{:?} {why}", name.as_str())));
    if let Some((suffix, source)) = reserved_suffix(base) {
        return refuse(format!(
            "is under the special-use suffix \".{suffix}\" ({source}), for which no public CA issues"
        ));
    }
    let tld = base.rsplit('.').next().unwrap_or(base);
    if !is_icann_suffix(tld) {
        return refuse(format!(
            "does not end in a top-level domain of the ICANN section of the Public Suffix List (\".{tld}\")"
        ));
    }
    if is_icann_suffix(base) {
        return if name.is_wildcard() {
            refuse(format!(
                "is a wildcard directly under the public suffix \"{base}\""
            ))
        } else {
            refuse("is a public suffix; only names registered under one can be certified".into())
        };
    }
    Ok(())
}

/// The special-use suffix `base` is or ends in, with its source.
fn reserved_suffix(base: &str) -> Option<(&'static str, &'static str)> {
    RESERVED_SUFFIXES.iter().copied().find(|(suffix, _)| {
        base == *suffix
            || base
                .strip_suffix(suffix)
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

/// Whether `name` is, as a whole, a suffix of the ICANN section of the
/// Public Suffix List (an explicit or wildcard rule; the default `*` rule
/// for unknown names does not count).
fn is_icann_suffix(name: &str) -> bool {
    psl::suffix(name.as_bytes())
        .is_some_and(|s| s.typ() == Some(psl::Type::Icann) && s.as_bytes() == name.as_bytes())
}

/// The labels of a name without its wildcard: LDH, no hyphen at either
/// end, `--` only in valid A-labels, a top-level label not all digits.
fn check_labels(base: &str) -> Result<(), String> {
    let labels: Vec<&str> = base.split('.').collect();
    if labels.len() < 2 {
        return Err("name must have at least two labels".into());
    }
    for label in &labels {
        check_label(label)?;
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("the top-level label must not be all digits".into());
    }
    Ok(())
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > 63 {
        return Err("every label must be 1 to 63 characters".into());
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "label {label:?} has characters other than letters, digits and '-'"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label {label:?} starts or ends with '-'"));
    }
    if label.len() >= 4 && &label[2..4] == "--" {
        if !label.starts_with("xn--") {
            return Err(format!("label {label:?} uses the reserved '--' form"));
        }
        check_a_label(label)?;
    }
    Ok(())
}

/// An `xn--` label must be a valid A-label: it decodes, and encoding the
/// result gives it back (RFC 5891 §5.4).
fn check_a_label(label: &str) -> Result<(), String> {
    let (unicode, res) = idna::domain_to_unicode(label);
    if res.is_err() {
        return Err(format!("label {label:?} is not a valid A-label"));
    }
    match idna::domain_to_ascii_strict(&unicode) {
        Ok(back) if back == label => Ok(()),
        _ => Err(format!("label {label:?} is not a valid A-label")),
    }
}

/// One plain e-mail address (the part after `mailto:` in RFC 8555 §7.3
/// contacts): no header fields, no second address, a plain local part, a
/// non-wildcard domain. The error says what is wrong.
pub fn check_email_address(addr: &str) -> Result<(), &'static str> {
    if addr.contains('?') {
        return Err("header fields (hfields) are not allowed");
    }
    if addr.contains(',') || addr.contains('%') {
        return Err("exactly one plain address is allowed");
    }
    if addr.len() > MAX_EMAIL_LEN {
        return Err("address is too long");
    }
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Err("address has no '@'");
    };
    if local.is_empty()
        || !local
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>[]\\;:\"@".contains(&b))
    {
        return Err("bad local part");
    }
    if DnsName::parse(&domain.to_ascii_lowercase()).is_err() || domain.starts_with("*.") {
        return Err("bad domain");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_wildcards_parse() {
        let n = DnsName::parse("*.example.com").expect("wildcard");
        assert!(n.is_wildcard());
        assert_eq!(n.base(), "example.com");
        assert_eq!(n.as_str(), "*.example.com");
        let n = DnsName::parse("xn--bcher-kva.example.net").expect("A-label");
        assert!(!n.is_wildcard());
    }

    #[test]
    fn bad_names_say_why() {
        for (bad, why) in [
            ("", "empty name"),
            ("example.com.", "must not end with a dot"),
            ("192.0.2.1", "IP address"),
            ("bücher.example.net", "must be ASCII"),
            ("a.*.example.com", "wildcard"),
            ("*example.com", "wildcard"),
            ("com", "at least two labels"),
            ("bad..name.com", "1 to 63"),
            ("exa_mple.com", "other than letters"),
            ("Example.com", "other than letters"),
            ("-a.example.com", "starts or ends"),
            ("ab--c.example.com", "reserved"),
            ("xn--zz.example.com", "not a valid A-label"),
            ("example.123", "all digits"),
        ] {
            let err = DnsName::parse(bad).expect_err(bad);
            assert!(err.to_string().contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn email_addresses() {
        assert_eq!(check_email_address("a@example.com"), Ok(()));
        for bad in [
            "a@example.com?subject=x",
            "a@b.com,c@d.com",
            "nobody",
            "a@localhost",
            "a@*.example.com",
            "a(b@example.com",
        ] {
            assert!(check_email_address(bad).is_err(), "{bad}");
        }
    }

    fn issuable_str(name: &str) -> Result<(), NotIssuable> {
        issuable(&DnsName::parse(name).expect("syntax"))
    }

    #[test]
    fn special_use_suffixes_are_not_issuable() {
        for (name, suffix) in [
            ("x.test", "test"),
            ("x.example", "example"),
            ("x.invalid", "invalid"),
            ("x.localhost", "localhost"),
            ("printer.home.arpa", "home.arpa"),
            ("home.arpa", "home.arpa"),
            ("x.onion", "onion"),
            ("nas.local", "local"),
            ("x.internal", "internal"),
            ("*.x.internal", "internal"),
            ("x.alt", "alt"),
            ("x.corp", "corp"),
            ("x.home", "home"),
            ("x.lan", "lan"),
            ("x.intranet", "intranet"),
            ("x.private", "private"),
        ] {
            let why = issuable_str(name).expect_err(name).to_string();
            assert!(why.contains(&format!("\".{suffix}\"")), "{name}: {why}");
        }
    }

    #[test]
    fn names_must_end_in_an_icann_tld_and_sit_below_a_public_suffix() {
        let why = issuable_str("foo.notatld")
            .expect_err("unknown TLD")
            .to_string();
        assert!(why.contains("ICANN section"), "{why}");
        for ps in ["co.jp", "com.au", "x.kawasaki.jp"] {
            let why = issuable_str(ps).expect_err(ps).to_string();
            assert!(why.contains("is a public suffix"), "{ps}: {why}");
        }
        for w in ["*.co.jp", "*.com.au"] {
            let why = issuable_str(w).expect_err(w).to_string();
            assert!(why.contains("wildcard directly under"), "{w}: {why}");
        }
        for ok in [
            "example.jp",
            "www.example.co.jp",
            "*.example.co.jp",
            "example.com",
            "*.example.net",
            "city.kawasaki.jp",
            "x.github.io",
            "github.io",
            "sub.notexample.com",
        ] {
            issuable_str(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }
}
