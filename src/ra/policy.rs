//! What this CA is willing to issue for and accept: identifier syntax and
//! policy (RFC 8555 §7.1.3, §7.4; BR 3.2.2) and account contacts (§7.3).

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::acme::Identifier;
use crate::config::AcmeConfig;
use crate::error::{Error, ErrorKind, Result, SubProblem};

/// Most contacts on one account.
const MAX_CONTACTS: usize = 10;
/// RFC 5321 path limit for an address.
const MAX_EMAIL_LEN: usize = 254;

/// Checks and normalizes an order's identifiers: lowercased, unique and
/// sorted. Every bad name is reported, each as a subproblem.
pub fn order_names(ids: &[Identifier], cfg: &AcmeConfig) -> Result<Vec<String>> {
    if ids.is_empty() {
        return Err(Error::malformed("an order needs at least one identifier"));
    }
    let mut names = BTreeSet::new();
    let mut problems = Vec::new();
    for id in ids {
        match check_identifier(id, cfg) {
            Ok(n) => {
                names.insert(n);
            }
            Err(p) => problems.push(p),
        }
    }
    if !problems.is_empty() {
        let kind = if problems.iter().all(|p| p.kind == problems[0].kind) {
            problems[0].kind
        } else {
            ErrorKind::Compound
        };
        let detail = if problems.len() == 1 {
            problems[0].detail.clone()
        } else {
            format!(
                "{} identifiers were refused; see subproblems",
                problems.len()
            )
        };
        return Err(Error::new(kind, detail).with_subproblems(problems));
    }
    if names.len() > cfg.max_names {
        return Err(Error::new(
            ErrorKind::RejectedIdentifier,
            format!(
                "an order may name at most {} identifiers, this one names {}",
                cfg.max_names,
                names.len()
            ),
        ));
    }
    Ok(names.into_iter().collect())
}

fn check_identifier(id: &Identifier, cfg: &AcmeConfig) -> Result<String, SubProblem> {
    let sub = |kind, detail: String| SubProblem::new(kind, &id.value, detail);
    if id.kind != "dns" {
        return Err(sub(
            ErrorKind::UnsupportedIdentifier,
            format!(
                "identifier type {:?} is not supported; only \"dns\"",
                id.kind
            ),
        ));
    }
    let name = id.value.to_ascii_lowercase();
    check_dns_name(&name).map_err(|d| sub(ErrorKind::Malformed, format!("{:?}: {d}", id.value)))?;
    let base = name.strip_prefix("*.").unwrap_or(&name);
    for suffix in &cfg.blocked_suffixes {
        let suffix = suffix.trim_start_matches('.').to_ascii_lowercase();
        if base == suffix || base.ends_with(&format!(".{suffix}")) {
            return Err(sub(
                ErrorKind::RejectedIdentifier,
                format!("{name:?} is under {suffix:?}, for which this CA does not issue"),
            ));
        }
    }
    Ok(name)
}

/// Syntax of a DNS identifier (RFC 1035 §2.3.1, RFC 5890 A-labels,
/// RFC 8555 §7.1.3 wildcards). `name` is already lowercase.
pub fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name.ends_with('.') {
        return Err("name must not end with a dot".into());
    }
    if name.parse::<IpAddr>().is_ok() {
        return Err("an IP address is not a dns identifier".into());
    }
    if !name.is_ascii() {
        return Err("name must be ASCII; encode international names as A-labels (xn--)".into());
    }
    let base = match name.strip_prefix("*.") {
        Some(b) => b,
        None => name,
    };
    if base.contains('*') {
        return Err("a wildcard may only be the whole leftmost label (\"*.\")".into());
    }
    if base.len() > 253 {
        return Err("name is longer than 253 characters".into());
    }
    let labels: Vec<&str> = base.split('.').collect();
    if labels.len() < 2 {
        return Err("name must have at least two labels".into());
    }
    for label in &labels {
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
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("the top-level label must not be all digits".into());
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

/// Account contacts (RFC 8555 §7.3): `mailto:` only, one plain address
/// each, no header fields.
pub fn check_contacts(contacts: &[String]) -> Result<()> {
    if contacts.len() > MAX_CONTACTS {
        return Err(Error::new(
            ErrorKind::InvalidContact,
            format!("at most {MAX_CONTACTS} contacts are allowed"),
        ));
    }
    for c in contacts {
        let Some(addr) = c.strip_prefix("mailto:") else {
            return Err(Error::new(
                ErrorKind::UnsupportedContact,
                format!("contact {c:?} is not a mailto: URI; only e-mail contacts are supported"),
            ));
        };
        let invalid = |why: &str| {
            Err(Error::new(
                ErrorKind::InvalidContact,
                format!("contact {c:?} is invalid: {why}"),
            ))
        };
        if addr.contains('?') {
            return invalid("header fields (hfields) are not allowed");
        }
        if addr.contains(',') || addr.contains('%') {
            return invalid("exactly one plain address is allowed");
        }
        if addr.len() > MAX_EMAIL_LEN {
            return invalid("address is too long");
        }
        let Some((local, domain)) = addr.rsplit_once('@') else {
            return invalid("address has no '@'");
        };
        if local.is_empty()
            || !local
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>[]\\;:\"@".contains(&b))
        {
            return invalid("bad local part");
        }
        if check_dns_name(&domain.to_ascii_lowercase()).is_err() || domain.starts_with("*.") {
            return invalid("bad domain");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AcmeConfig {
        AcmeConfig {
            blocked_suffixes: vec!["blocked.test".into()],
            max_names: 3,
            ..AcmeConfig::default()
        }
    }

    fn names(v: &[&str]) -> Result<Vec<String>> {
        let ids: Vec<Identifier> = v.iter().map(|n| Identifier::dns(*n)).collect();
        order_names(&ids, &cfg())
    }

    #[test]
    fn names_are_lowercased_deduplicated_sorted() {
        assert_eq!(
            names(&["B.example.com", "a.example.com", "b.example.com"]).expect("ok"),
            vec!["a.example.com", "b.example.com"]
        );
    }

    #[test]
    fn syntax_errors_are_malformed_with_a_subproblem_each() {
        for bad in [
            "example.com.",
            "192.0.2.1",
            "a.*.example.com",
            "*example.com",
            "exa_mple.com",
            "-a.example.com",
            "ab--c.example.com",
            "xn--zz.example.com",
            "example.123",
            "com",
            "bücher.example",
        ] {
            let err = names(&[bad]).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Malformed, "{bad}");
            assert_eq!(err.subproblems.len(), 1, "{bad}");
            assert_eq!(err.subproblems[0].identifier.as_deref(), Some(bad));
        }
        let err = names(&["bad..name.com", "ok.example.com", "x.blocked.test"]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Compound);
        assert_eq!(err.subproblems.len(), 2);
    }

    #[test]
    fn valid_a_labels_and_wildcards_pass() {
        assert!(names(&["xn--bcher-kva.example", "*.example.com"]).is_ok());
    }

    #[test]
    fn blocked_suffixes_and_limits_are_rejected() {
        let err = names(&["x.blocked.test"]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::RejectedIdentifier);
        let err = names(&["a.com", "b.com", "c.com", "d.com"]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::RejectedIdentifier);
        let err = order_names(
            &[Identifier {
                kind: "ip".into(),
                value: "192.0.2.1".into(),
            }],
            &cfg(),
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnsupportedIdentifier);
    }

    #[test]
    fn contacts() {
        assert!(check_contacts(&["mailto:a@example.com".into()]).is_ok());
        let kind = |c: &str| check_contacts(&[c.into()]).unwrap_err().kind;
        assert_eq!(kind("tel:+1555"), ErrorKind::UnsupportedContact);
        assert_eq!(
            kind("mailto:a@example.com?subject=x"),
            ErrorKind::InvalidContact
        );
        assert_eq!(kind("mailto:a@b.com,c@d.com"), ErrorKind::InvalidContact);
        assert_eq!(kind("mailto:nobody"), ErrorKind::InvalidContact);
        assert_eq!(kind("mailto:a@localhost"), ErrorKind::InvalidContact);
    }
}
