//! The validation of what staff enter about an organization. The record
//! itself lives in `core::organization` (`sa` stores it).

use crate::core::names::{check_email_address, issuable, DnsName};
pub use crate::core::organization::{
    Address, Applicant, ApplicantRank, BillingContact, BillingParty, BusinessCategory, Contact,
    DomainScope, EvData, Level, OrganizationData, Representative,
};

use crate::core::customer::Language;

/// One thing wrong with an organization record (or an application): the
/// field it is about, as the record's JSON path (`head_office.country`),
/// and what is wrong with it. The forms put it beside that field in the
/// reader's language; the admin API reports it in English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub wrong: Wrong,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wrong {
    Required,
    /// `use_english_name` without an English name.
    EnglishNameMissing,
    /// The name certificates carry is this many characters (X.520: 64).
    NameTooLong(usize),
    /// Must be exactly this many digits.
    Digits(usize),
    /// 法人番号 whose check digit is not what its other digits give.
    CheckDigit {
        has: u32,
        expected: u32,
    },
    /// 法人番号 that is not the check digit + 会社法人等番号.
    NotRegistrationNumber,
    NotEmail,
    /// An ISO 3166-1 alpha-2 code was expected.
    Country,
    /// A Japanese postal code (123-4567) was expected.
    PostalCode,
    EvDataMissing,
    EvDataNotOv,
    NoDomain,
    NotLowercase(String),
    /// A wildcard in the scope (the base name covers them).
    Wildcard(String),
    /// A name newOrder would refuse, with the reason (in English: it
    /// quotes the DNS and public-suffix rules).
    Name {
        name: String,
        why: String,
    },
    /// The validity wanted is outside 1..=this many days (BR 6.3.2).
    ValidityDays(i64),
}

impl Problem {
    fn new(field: &str, wrong: Wrong) -> Problem {
        Problem {
            field: field.to_owned(),
            wrong,
        }
    }

    /// The message in `lang`, for a reader looking at the field (the
    /// English one names the field, as the admin API always did).
    pub fn text(&self, lang: Language) -> String {
        match lang {
            Language::En => self.to_string(),
            Language::Ja => self.japanese(),
        }
    }

    fn japanese(&self) -> String {
        match &self.wrong {
            Wrong::Required => "入力してください。".into(),
            Wrong::EnglishNameMissing => "英文名を証明書に使うには英文名を入力してください。".into(),
            Wrong::NameTooLong(n) => {
                format!("証明書に入る名前が {n} 文字あります。64 文字以内にしてください。")
            }
            Wrong::Digits(n) => format!("{n} 桁の数字で入力してください。"),
            Wrong::CheckDigit { has, expected } => format!(
                "法人番号のチェックデジットが {has} ですが、残りの桁からは {expected} になります。"
            ),
            Wrong::NotRegistrationNumber => {
                "法人番号はチェックデジットと会社法人等番号（12 桁）を続けたものです。".into()
            }
            Wrong::NotEmail => "メールアドレスの形式ではありません。".into(),
            Wrong::Country => "国は ISO 3166-1 の 2 文字コード（例: JP）で入力してください。".into(),
            Wrong::PostalCode => "郵便番号は 123-4567 の形で入力してください。".into(),
            Wrong::EvDataMissing => "EV には事業区分と設立の法域が必要です。".into(),
            Wrong::EvDataNotOv => "EV の項目は EV の申込みにだけ入力します。".into(),
            Wrong::NoDomain => "ドメインを 1 つ以上入力してください。".into(),
            Wrong::NotLowercase(n) => format!("ドメイン {n} は小文字で入力してください。"),
            Wrong::Wildcard(n) => format!(
                "{n}: ワイルドカードではなく基のドメイン名を入力してください（ワイルドカードはそれに含まれます）。"
            ),
            Wrong::Name { name, why } => {
                format!("ドメイン {name} には証明書を発行できません（{why}）。")
            }
            Wrong::ValidityDays(cap) => format!("1 日から {cap} 日の間で入力してください。"),
        }
    }
}

/// English, naming the field: the admin API's and the CLI's wording.
impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let field = &self.field;
        match &self.wrong {
            Wrong::Required => write!(f, "{field} is required"),
            Wrong::EnglishNameMissing => write!(f, "use_english_name needs english_name"),
            Wrong::NameTooLong(n) => write!(
                f,
                "the name used in certificates is {n} characters; X.520 allows 64"
            ),
            Wrong::Digits(n) => write!(f, "{} must be {n} digits", described(field)),
            Wrong::CheckDigit { has, expected } => write!(
                f,
                "corporate_number (法人番号) has check digit {has} but its digits give {expected}"
            ),
            Wrong::NotRegistrationNumber => write!(
                f,
                "corporate_number (法人番号) must be the check digit followed by registration_number (会社法人等番号)"
            ),
            Wrong::NotEmail => write!(f, "{field} is not a valid e-mail address"),
            Wrong::Country => write!(
                f,
                "{field} must be an ISO 3166-1 alpha-2 code such as \"JP\""
            ),
            Wrong::PostalCode => write!(
                f,
                "{field} must be a Japanese postal code (123-4567)"
            ),
            Wrong::EvDataMissing => write!(
                f,
                "EV organizations need ev (business category, jurisdiction)"
            ),
            Wrong::EvDataNotOv => write!(f, "ev data is only for EV organizations"),
            Wrong::NoDomain => write!(f, "domains: at least one domain is required"),
            Wrong::NotLowercase(n) => write!(f, "domain {n:?} must be lowercase"),
            Wrong::Wildcard(n) => write!(
                f,
                "domain {n:?}: list the base name; wildcards follow from it"
            ),
            Wrong::Name { name, why } => write!(f, "domain {name:?}: {why}"),
            Wrong::ValidityDays(cap) => write!(
                f,
                "{field} must be between 1 and {cap} days (the Baseline Requirements' limit today)"
            ),
        }
    }
}

/// A numbered field with its Japanese name, as staff know it.
fn described(field: &str) -> String {
    match field {
        "registration_number" => "registration_number (会社法人等番号)".into(),
        "corporate_number" => "corporate_number (法人番号)".into(),
        other => other.into(),
    }
}

// Defined here rather than beside the type: what staff may enter is
// vetting's rule.
impl OrganizationData {
    /// Every problem with the data, so staff can fix them in one pass.
    pub fn problems(&self) -> Vec<Problem> {
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

    fn missing_fields(&self, p: &mut Vec<Problem>) {
        let mut req = |field: &str, v: &str| {
            if v.trim().is_empty() {
                p.push(Problem::new(field, Wrong::Required));
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
    fn name_problems(&self, p: &mut Vec<Problem>) {
        if self.use_english_name
            && self
                .english_name
                .as_deref()
                .is_none_or(|n| n.trim().is_empty())
        {
            p.push(Problem::new("use_english_name", Wrong::EnglishNameMissing));
        }
        let chars = self.certificate_name().chars().count();
        if chars > 64 {
            let field = if self.use_english_name {
                "english_name"
            } else {
                "legal_name"
            };
            p.push(Problem::new(field, Wrong::NameTooLong(chars)));
        }
    }

    /// TDB code, 会社法人等番号 and 法人番号.
    fn number_problems(&self, p: &mut Vec<Problem>) {
        if let Some(t) = &self.tdb_code {
            if !is_digits(t, 9) {
                p.push(Problem::new("tdb_code", Wrong::Digits(9)));
            }
        }
        if !is_digits(&self.registration_number, 12) {
            p.push(Problem::new("registration_number", Wrong::Digits(12)));
        }
        if let Some(c) = &self.corporate_number {
            if let Some(wrong) = corporate_number_problem(c, &self.registration_number) {
                p.push(Problem::new("corporate_number", wrong));
            }
        }
    }

    /// The same address rules as an account's mailto: contacts.
    fn email_problems(&self, p: &mut Vec<Problem>) {
        for (field, e) in [
            ("applicant.email", &self.applicant.email),
            ("account_contact.email", &self.account_contact.email),
        ] {
            if check_email_address(e).is_err() {
                p.push(Problem::new(field, Wrong::NotEmail));
            }
        }
        let billing = self.billing_contact.email.as_deref().map(str::trim);
        if billing.is_some_and(|e| !e.is_empty() && check_email_address(e).is_err()) {
            p.push(Problem::new("billing_contact.email", Wrong::NotEmail));
        }
    }

    fn ev_problems(&self, p: &mut Vec<Problem>) {
        match (self.level, &self.ev) {
            (Level::Ev, None) => p.push(Problem::new("ev", Wrong::EvDataMissing)),
            (Level::Ov, Some(_)) => p.push(Problem::new("ev", Wrong::EvDataNotOv)),
            (Level::Ev, Some(ev)) => {
                if !is_country(&ev.jurisdiction_country) {
                    p.push(Problem::new("ev.jurisdiction_country", Wrong::Country));
                }
            }
            (Level::Ov, None) => {}
        }
    }

    /// Scope entries are lowercase base names that a newOrder would accept
    /// (the same syntax and [`issuable`] rule).
    fn domain_problems(&self, p: &mut Vec<Problem>) {
        if self.domains.is_empty() {
            p.push(Problem::new("domains", Wrong::NoDomain));
        }
        for d in &self.domains {
            if let Some(wrong) = scope_problem(&d.name) {
                p.push(Problem::new("domains", wrong));
            }
        }
    }
}

/// What is wrong with one scope entry, if anything.
fn scope_problem(name: &str) -> Option<Wrong> {
    let lower = name.to_ascii_lowercase();
    if lower != name {
        return Some(Wrong::NotLowercase(name.to_owned()));
    }
    let refused = |why: String| Wrong::Name {
        name: name.to_owned(),
        why,
    };
    match DnsName::parse(name) {
        Err(why) => Some(refused(why.to_string())),
        Ok(n) if n.is_wildcard() => Some(Wrong::Wildcard(name.to_owned())),
        Ok(n) => issuable(&n).err().map(|why| refused(why.to_string())),
    }
}

fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn address_problems(field: &str, a: &Address, p: &mut Vec<Problem>) {
    let at = |f: &str| format!("{field}.{f}");
    if !is_country(&a.country) {
        p.push(Problem::new(&at("country"), Wrong::Country));
    }
    for (f, v) in [
        ("prefecture", &a.prefecture),
        ("locality", &a.locality),
        ("street", &a.street),
    ] {
        if v.trim().is_empty() {
            p.push(Problem::new(&at(f), Wrong::Required));
        }
    }
    if a.country == "JP" {
        let digits: String = a.postal_code.chars().filter(|c| *c != '-').collect();
        if !is_digits(&digits, 7) {
            p.push(Problem::new(&at("postal_code"), Wrong::PostalCode));
        }
    }
}

/// 法人番号 (National Tax Agency): a check digit followed by the 12-digit
/// 会社法人等番号; check = 9 − (Σ Pn·Qn mod 9), Pn the n-th digit from the
/// right of the base, Qn = 1 for odd n and 2 for even n.
pub fn corporate_number_problem(number: &str, registration_number: &str) -> Option<Wrong> {
    if !is_digits(number, 13) {
        return Some(Wrong::Digits(13));
    }
    let digits: Vec<u32> = number.bytes().map(|b| u32::from(b - b'0')).collect();
    let sum: u32 = digits[1..]
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| d * if i % 2 == 0 { 1 } else { 2 })
        .sum();
    let expected = 9 - sum % 9;
    if digits[0] != expected {
        return Some(Wrong::CheckDigit {
            has: digits[0],
            expected,
        });
    }
    if &number[1..] != registration_number {
        return Some(Wrong::NotRegistrationNumber);
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
        assert_eq!(example(Level::Ov).problems(), Vec::<Problem>::new());
        assert_eq!(example(Level::Ev).problems(), Vec::<Problem>::new());
    }

    #[test]
    fn corporate_number_check_digit() {
        assert_eq!(
            corporate_number_problem("1180301018771", "180301018771"),
            None
        );
        assert_eq!(
            corporate_number_problem("2180301018771", "180301018771"),
            Some(Wrong::CheckDigit {
                has: 2,
                expected: 1
            })
        );
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
            let text = p[0].to_string();
            assert!(text.contains(name) && text.contains(why), "{p:?}");
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

    /// A Japanese reader gets Japanese beside the field; the English text
    /// (the admin API's) names the field.
    #[test]
    fn problems_read_in_both_languages() {
        let mut o = example(Level::Ev);
        o.registration_number = "12345".into();
        o.head_office.postal_code = "1".into();
        o.applicant.email = "nobody".into();
        o.ev = None;
        o.domains = vec![DomainScope {
            name: "Example.co.jp".into(),
            exact: false,
        }];
        let p = o.problems();
        assert_eq!(p.len(), 6, "{p:?}");
        for problem in &p {
            let ja = problem.text(Language::Ja);
            assert!(
                ja.chars().any(|c| ('\u{3040}'..='\u{9fff}').contains(&c)),
                "{ja}"
            );
            assert!(!ja.contains(problem.field.as_str()), "{ja}");
            let en = problem.text(Language::En);
            let named = en.contains(problem.field.as_str()) || en.starts_with("domain ");
            assert!(named || problem.field == "ev", "{en}");
        }
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
