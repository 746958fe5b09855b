//! What this CA is willing to issue for and accept: identifier syntax and
//! policy (RFC 8555 §7.1.3, §7.4; BR 3.2.2) and account contacts (§7.3).

use std::collections::BTreeSet;

use crate::acme::Identifier;
use crate::config::AcmeConfig;
use crate::core::names::{check_email_address, issuable, DnsName};
use crate::error::{Error, ErrorKind, Result, SubProblem};

/// Most contacts on one account.
const MAX_CONTACTS: usize = 10;

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
    let name = DnsName::parse(&id.value.to_ascii_lowercase())
        .map_err(|d| sub(ErrorKind::Malformed, format!("{:?}: {d}", id.value)))?;
    let base = name.base();
    for suffix in &cfg.blocked_suffixes {
        let suffix = suffix.trim_start_matches('.').to_ascii_lowercase();
        if base == suffix || base.ends_with(&format!(".{suffix}")) {
            return Err(sub(
                ErrorKind::RejectedIdentifier,
                format!(
                    "{:?} is under {suffix:?}, for which this CA does not issue",
                    name.as_str()
                ),
            ));
        }
    }
    issuable(&name).map_err(|why| sub(ErrorKind::RejectedIdentifier, why.to_string()))?;
    Ok(name.into())
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
        if let Err(why) = check_email_address(addr) {
            return Err(Error::new(
                ErrorKind::InvalidContact,
                format!("contact {c:?} is invalid: {why}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AcmeConfig {
        AcmeConfig {
            blocked_suffixes: vec!["blocked.jp".into()],
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
            "bücher.example.net",
        ] {
            let err = names(&[bad]).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Malformed, "{bad}");
            assert_eq!(err.subproblems.len(), 1, "{bad}");
            assert_eq!(err.subproblems[0].identifier.as_deref(), Some(bad));
        }
        let err = names(&["bad..name.com", "ok.example.com", "x.blocked.jp"]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Compound);
        assert_eq!(err.subproblems.len(), 2);
    }

    #[test]
    fn valid_a_labels_and_wildcards_pass() {
        assert!(names(&["xn--bcher-kva.example.net", "*.example.com"]).is_ok());
    }

    #[test]
    fn blocked_suffixes_and_limits_are_rejected() {
        let err = names(&["x.blocked.jp"]).unwrap_err();
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

    /// One `rejectedIdentifier` subproblem per name the CA will not
    /// certify, beside the names it would.
    #[test]
    fn special_use_and_public_suffix_names_are_rejected_one_subproblem_each() {
        let cfg = AcmeConfig {
            max_names: 100,
            ..cfg()
        };
        let refused = [
            "a.test",
            "a.example",
            "a.invalid",
            "a.localhost",
            "a.home.arpa",
            "a.onion",
            "a.local",
            "a.internal",
            "a.alt",
            "a.corp",
            "a.home",
            "a.lan",
            "a.intranet",
            "a.private",
            "co.jp",
            "*.co.jp",
            "foo.notatld",
        ];
        let mut ids: Vec<Identifier> = refused.iter().map(|n| Identifier::dns(*n)).collect();
        ids.push(Identifier::dns("*.example.co.jp"));
        let err = order_names(&ids, &cfg).unwrap_err();
        assert_eq!(err.kind, ErrorKind::RejectedIdentifier);
        assert_eq!(err.subproblems.len(), refused.len(), "{err:?}");
        for (sub, name) in err.subproblems.iter().zip(refused) {
            assert_eq!(sub.kind, ErrorKind::RejectedIdentifier, "{name}");
            assert_eq!(sub.identifier.as_deref(), Some(name));
        }
        assert_eq!(
            order_names(&[Identifier::dns("*.example.co.jp")], &cfg).expect("issuable"),
            ["*.example.co.jp"]
        );
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
