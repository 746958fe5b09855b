//! The validation of what staff enter about an organization. The record
//! itself lives in `core::organization` (`sa` stores it).

use crate::core::names::{check_email_address, issuable, DnsName};
pub use crate::core::organization::{
    Address, Applicant, ApplicantRank, BillingContact, BillingParty, BusinessCategory, Contact,
    DomainScope, EvData, Level, OrganizationData, Representative,
};

// Defined here rather than beside the type: what staff may enter is
// vetting's rule.
impl OrganizationData {
    /// Every problem with the data, so staff can fix them in one pass.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.missing_fields(&mut p);
        self.name_problems(&mut p);
        self.number_problems(&mut p);
        for (field, a) in [("head_office", &self.head_office), ("office", &self.office)] {
            address_problems(field, a, &mut p);
        }
        self.email_problems(&mut p);
        self.ev_problems(&mut p);
        self.domain_problems(&mut p);
        p
    }

    fn missing_fields(&self, p: &mut Vec<String>) {
        let mut req = |field: &str, v: &str| {
            if v.trim().is_empty() {
                p.push(format!("{field} is required"));
            }
        };
        req("legal_name", &self.legal_name);
        req("representative.name", &self.representative.name);
        req("representative.title", &self.representative.title);
        req("applicant.name", &self.applicant.name);
        req("applicant.department", &self.applicant.department);
        req("applicant.title", &self.applicant.title);
        req("applicant.phone", &self.applicant.phone);
        req("account_contact.name", &self.account_contact.name);
        req("account_contact.phone", &self.account_contact.phone);
        req("billing_contact.name", &self.billing_contact.name);
        req("billing_contact.address", &self.billing_contact.address);
    }

    /// The name that goes into certificates: present, and within X.520.
    fn name_problems(&self, p: &mut Vec<String>) {
        if self.use_english_name
            && self
                .english_name
                .as_deref()
                .is_none_or(|n| n.trim().is_empty())
        {
            p.push("use_english_name needs english_name".into());
        }
        let cert_name = self.certificate_name();
        if cert_name.chars().count() > 64 {
            p.push(format!(
                "the name used in certificates is {} characters; X.520 allows 64",
                cert_name.chars().count()
            ));
        }
    }

    /// TDB code, 会社法人等番号 and 法人番号.
    fn number_problems(&self, p: &mut Vec<String>) {
        if let Some(t) = &self.tdb_code {
            if !is_digits(t, 9) {
                p.push("tdb_code must be 9 digits".into());
            }
        }
        if !is_digits(&self.registration_number, 12) {
            p.push("registration_number (会社法人等番号) must be 12 digits".into());
        }
        if let Some(c) = &self.corporate_number {
            if let Some(why) = corporate_number_problem(c, &self.registration_number) {
                p.push(why);
            }
        }
    }

    /// The same address rules as an account's mailto: contacts.
    fn email_problems(&self, p: &mut Vec<String>) {
        for (field, e) in [
            ("applicant.email", &self.applicant.email),
            ("account_contact.email", &self.account_contact.email),
        ] {
            if check_email_address(e).is_err() {
                p.push(format!("{field} is not a valid e-mail address"));
            }
        }
        let billing = self.billing_contact.email.as_deref().map(str::trim);
        if billing.is_some_and(|e| !e.is_empty() && check_email_address(e).is_err()) {
            p.push("billing_contact.email is not a valid e-mail address".into());
        }
    }

    fn ev_problems(&self, p: &mut Vec<String>) {
        match (self.level, &self.ev) {
            (Level::Ev, None) => {
                p.push("EV organizations need ev (business category, jurisdiction)".into())
            }
            (Level::Ov, Some(_)) => p.push("ev data is only for EV organizations".into()),
            (Level::Ev, Some(ev)) => {
                if !is_country(&ev.jurisdiction_country) {
                    p.push("ev.jurisdiction_country must be an ISO 3166-1 alpha-2 code".into());
                }
            }
            (Level::Ov, None) => {}
        }
    }

    /// Scope entries are lowercase base names that a newOrder would accept
    /// (the same syntax and [`issuable`] rule).
    fn domain_problems(&self, p: &mut Vec<String>) {
        if self.domains.is_empty() {
            p.push("domains: at least one domain is required".into());
        }
        for d in &self.domains {
            let name = d.name.to_ascii_lowercase();
            if name != d.name {
                p.push(format!("domain {:?} must be lowercase", d.name));
                continue;
            }
            match DnsName::parse(&name) {
                Err(why) => p.push(format!("domain {:?}: {why}", d.name)),
                Ok(n) if n.is_wildcard() => p.push(format!(
                    "domain {:?}: list the base name; wildcards follow from it",
                    d.name
                )),
                Ok(n) => {
                    if let Err(why) = issuable(&n) {
                        p.push(format!("domain {why}"));
                    }
                }
            }
        }
    }
}

fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn address_problems(field: &str, a: &Address, p: &mut Vec<String>) {
    if !is_country(&a.country) {
        p.push(format!(
            "{field}.country must be an ISO 3166-1 alpha-2 code such as \"JP\""
        ));
    }
    for (f, v) in [
        ("prefecture", &a.prefecture),
        ("locality", &a.locality),
        ("street", &a.street),
    ] {
        if v.trim().is_empty() {
            p.push(format!("{field}.{f} is required"));
        }
    }
    if a.country == "JP" {
        let digits: String = a.postal_code.chars().filter(|c| *c != '-').collect();
        if !is_digits(&digits, 7) {
            p.push(format!(
                "{field}.postal_code must be a Japanese postal code (123-4567)"
            ));
        }
    }
}

/// 法人番号 (National Tax Agency): a check digit followed by the 12-digit
/// 会社法人等番号; check = 9 − (Σ Pn·Qn mod 9), Pn the n-th digit from the
/// right of the base, Qn = 1 for odd n and 2 for even n.
pub fn corporate_number_problem(number: &str, registration_number: &str) -> Option<String> {
    if !is_digits(number, 13) {
        return Some("corporate_number (法人番号) must be 13 digits".into());
    }
    let digits: Vec<u32> = number.bytes().map(|b| u32::from(b - b'0')).collect();
    let sum: u32 = digits[1..]
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| d * if i % 2 == 0 { 1 } else { 2 })
        .sum();
    let check = 9 - sum % 9;
    if digits[0] != check {
        return Some(format!(
            "corporate_number (法人番号) {number} has check digit {} but its digits give {check}",
            digits[0]
        ));
    }
    if &number[1..] != registration_number {
        return Some(
            "corporate_number (法人番号) must be the check digit followed by registration_number (会社法人等番号)"
                .into(),
        );
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A complete, valid OV organization, for tests across the crate.
    pub fn example(level: Level) -> OrganizationData {
        let addr = Address {
            country: "JP".into(),
            prefecture: "東京都".into(),
            locality: "千代田区".into(),
            postal_code: "100-0005".into(),
            street: "丸の内1-1-1".into(),
        };
        OrganizationData {
            legal_name: "例示株式会社".into(),
            english_name: Some("Example KK".into()),
            use_english_name: false,
            tdb_code: Some("123456789".into()),
            registration_number: "180301018771".into(),
            corporate_number: Some("1180301018771".into()),
            head_office: addr.clone(),
            office: addr,
            representative: Representative {
                name: "山田太郎".into(),
                title: "代表取締役".into(),
            },
            applicant: Applicant {
                name: "佐藤花子".into(),
                department: "情報システム部".into(),
                title: "部長".into(),
                rank: ApplicantRank::SeniorManager,
                phone: "03-1234-5678".into(),
                email: "sato@example.co.jp".into(),
            },
            account_contact: Contact {
                name: "鈴木一郎".into(),
                organization: "例示株式会社".into(),
                department: "情報システム部".into(),
                address: "東京都千代田区丸の内1-1-1".into(),
                phone: "03-1234-5679".into(),
                fax: None,
                email: "suzuki@example.co.jp".into(),
            },
            billing_contact: BillingContact {
                party: BillingParty::Organization,
                name: "経理部".into(),
                organization: "例示株式会社".into(),
                department: "経理部".into(),
                postal_code: "100-0005".into(),
                address: "東京都千代田区丸の内1-1-1".into(),
                phone: "03-1234-5670".into(),
                fax: Some("03-1234-5671".into()),
                email: Some("keiri@example.co.jp".into()),
            },
            level,
            ev: (level == Level::Ev).then(|| EvData {
                business_category: BusinessCategory::PrivateOrganization,
                jurisdiction_country: "JP".into(),
                jurisdiction_state_or_province: None,
                jurisdiction_locality: None,
            }),
            domains: vec![DomainScope {
                name: "example.co.jp".into(),
                exact: false,
            }],
        }
    }

    #[test]
    fn the_example_is_valid() {
        assert_eq!(example(Level::Ov).problems(), Vec::<String>::new());
        assert_eq!(example(Level::Ev).problems(), Vec::<String>::new());
    }

    #[test]
    fn corporate_number_check_digit() {
        assert_eq!(
            corporate_number_problem("1180301018771", "180301018771"),
            None
        );
        assert!(corporate_number_problem("2180301018771", "180301018771")
            .unwrap()
            .contains("check digit"));
        assert!(corporate_number_problem("1180301018771", "180301018772").is_some());
        assert!(corporate_number_problem("118030101877", "18030101877").is_some());
    }

    /// A scope is refused for what newOrder would refuse: it would
    /// otherwise let an organization order names no public CA certifies.
    #[test]
    fn domain_scope_refuses_special_use_and_public_suffixes() {
        for (name, why) in [
            ("corp.internal", "special-use suffix \".internal\""),
            ("nas.local", "special-use suffix \".local\""),
            ("co.jp", "is a public suffix"),
            ("example.notatld", "ICANN section"),
        ] {
            let mut o = example(Level::Ov);
            o.domains = vec![DomainScope {
                name: name.into(),
                exact: false,
            }];
            let p = o.problems();
            assert_eq!(p.len(), 1, "{name}: {p:?}");
            assert!(p[0].contains(name) && p[0].contains(why), "{p:?}");
        }
    }

    #[test]
    fn problems_are_all_reported() {
        let mut o = example(Level::Ev);
        o.registration_number = "12345".into();
        o.office.country = "Japan".into();
        o.ev = None;
        o.domains = vec![DomainScope {
            name: "*.example.co.jp".into(),
            exact: false,
        }];
        let p = o.problems();
        assert_eq!(p.len(), 5, "{p:?}");
    }

    #[test]
    fn unknown_fields_and_low_ranks_are_refused() {
        let mut v = serde_json::to_value(example(Level::Ov)).unwrap();
        v["applicant"]["rank"] = "staff".into();
        assert!(serde_json::from_value::<OrganizationData>(v.clone()).is_err());
        v["applicant"]["rank"] = "manager".into();
        v["legal_nmae"] = "typo".into();
        assert!(serde_json::from_value::<OrganizationData>(v).is_err());
    }

    #[test]
    fn domain_scope() {
        let mut o = example(Level::Ov);
        o.domains.push(DomainScope {
            name: "shop.example.com".into(),
            exact: true,
        });
        assert!(o.in_scope("example.co.jp"));
        assert!(o.in_scope("www.example.co.jp"));
        assert!(o.in_scope("*.example.co.jp"));
        assert!(!o.in_scope("badexample.co.jp"));
        assert!(o.in_scope("shop.example.com"));
        assert!(!o.in_scope("www.shop.example.com"));
        assert!(!o.in_scope("*.shop.example.com"));
    }
}
