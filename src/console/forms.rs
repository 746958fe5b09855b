//! The organization page's larger forms: the application (edited as a
//! whole) and the EV checks whose records nest. Each form is a list of
//! inputs named by the record's JSON path, so what `vetting` says is wrong
//! with a field ("reference is required") is shown beside that field.

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use super::i18n::Lang;
use crate::core::organization::{DomainScope, Level, OrganizationData};
use crate::vetting::checks::{
    AgencyMethod, AuthorityMethod, CheckRecord, CommunicationMethod, CommunicationSource,
    OperationalEvidence, Person, PlaceOfBusinessMethod, ScreenedParty, ScreeningList,
    ScreeningResult, ThirdPartySource,
};
use crate::vetting::organization::{Problem, Wrong};

/// The EV checks with a form of their own here (the older five share the
/// page's simple forms).
pub const EV_FORMS: [&str; 5] = [
    "ev_place_of_business",
    "ev_operational_existence",
    "ev_communication",
    "ev_authority",
    "ev_denied_party_screening",
];

/// The application form's id and the key of its "nothing changed" note.
pub const EDIT: &str = "edit";
/// The new organization's form id.
pub const NEW: &str = "new";

/// One input as the template draws it.
pub struct Input {
    pub id: String,
    pub name: String,
    pub label: &'static str,
    /// "text", "date", "textarea", "select", "checkbox" or "multi".
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<Choice>,
    pub required: bool,
    pub error: Option<String>,
}

pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub struct Group {
    pub legend: &'static str,
    pub inputs: Vec<Input>,
}

pub struct Form {
    pub id: String,
    pub action: String,
    pub groups: Vec<Group>,
    pub submit: &'static str,
    /// Problems no field owns.
    pub errors: Vec<String>,
    /// Drawn open (the application form is folded away until used).
    pub open: bool,
}

/// What a refused form posted, to draw it again as it was with the
/// problems beside their fields.
pub struct Posted {
    pub form: String,
    pub values: Vec<(String, String)>,
    /// (field, problem); field "" for problems no field owns.
    pub errors: Vec<(String, String)>,
}

impl Posted {
    /// `form` as posted (its CSRF token left out) with its problems.
    pub fn new(form_id: &str, form: &[(String, String)], errors: Vec<(String, String)>) -> Posted {
        Posted {
            form: form_id.to_owned(),
            values: form.iter().filter(|(k, _)| k != "csrf").cloned().collect(),
            errors,
        }
    }
}

/// How an input is drawn and read.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Optional,
    Date,
    Area,
    Check,
    Select(&'static [&'static str]),
    Multi(&'static [&'static str]),
}

type Def = (&'static str, Kind);

const PASSED: &[&str] = &["true", "false"];
const SOURCES: &[&str] = &["tdb", "ntt104", "commercial_registry", "other"];

const APPLICATION: [(&str, &[Def]); 9] = [
    (
        "organization",
        &[
            ("legal_name", Kind::Text),
            ("english_name", Kind::Optional),
            ("use_english_name", Kind::Check),
            ("tdb_code", Kind::Optional),
            ("registration_number", Kind::Text),
            ("corporate_number", Kind::Optional),
            ("level", Kind::Select(&["ov", "ev"])),
        ],
    ),
    ("head_office", &ADDRESS_HEAD),
    ("office", &ADDRESS_OFFICE),
    (
        "representative",
        &[
            ("representative.name", Kind::Text),
            ("representative.title", Kind::Text),
        ],
    ),
    (
        "applicant",
        &[
            ("applicant.name", Kind::Text),
            ("applicant.department", Kind::Text),
            ("applicant.title", Kind::Text),
            (
                "applicant.rank",
                Kind::Select(&["manager", "senior_manager", "officer", "representative"]),
            ),
            ("applicant.phone", Kind::Text),
            ("applicant.email", Kind::Text),
        ],
    ),
    (
        "account_contact",
        &[
            ("account_contact.name", Kind::Text),
            ("account_contact.organization", Kind::Text),
            ("account_contact.department", Kind::Text),
            ("account_contact.address", Kind::Text),
            ("account_contact.phone", Kind::Text),
            ("account_contact.fax", Kind::Optional),
            ("account_contact.email", Kind::Text),
        ],
    ),
    (
        "billing_contact",
        &[
            (
                "billing_contact.party",
                Kind::Select(&["organization", "account_contact", "other"]),
            ),
            ("billing_contact.name", Kind::Text),
            ("billing_contact.organization", Kind::Text),
            ("billing_contact.department", Kind::Text),
            ("billing_contact.postal_code", Kind::Text),
            ("billing_contact.address", Kind::Text),
            ("billing_contact.phone", Kind::Text),
            ("billing_contact.fax", Kind::Optional),
            ("billing_contact.email", Kind::Optional),
        ],
    ),
    (
        "ev",
        &[
            (
                "ev.business_category",
                Kind::Select(&[
                    "Private Organization",
                    "Government Entity",
                    "Business Entity",
                    "Non-Commercial Entity",
                ]),
            ),
            // Required for EV only (`OrganizationData::problems`): as
            // `required` the browser would refuse every OV application.
            ("ev.jurisdiction_country", Kind::Optional),
            ("ev.jurisdiction_state_or_province", Kind::Optional),
            ("ev.jurisdiction_locality", Kind::Optional),
        ],
    ),
    (
        "domains",
        &[("domains", Kind::Area), ("domains_exact", Kind::Area)],
    ),
];

const ADDRESS_HEAD: [Def; 5] = [
    ("head_office.country", Kind::Text),
    ("head_office.prefecture", Kind::Text),
    ("head_office.locality", Kind::Text),
    ("head_office.postal_code", Kind::Text),
    ("head_office.street", Kind::Text),
];
const ADDRESS_OFFICE: [Def; 5] = [
    ("office.country", Kind::Text),
    ("office.prefecture", Kind::Text),
    ("office.locality", Kind::Text),
    ("office.postal_code", Kind::Text),
    ("office.street", Kind::Text),
];

/// The inputs of each EV form, in the order drawn.
fn ev_defs(kind: &str) -> &'static [Def] {
    match kind {
        "ev_place_of_business" => &[
            ("address", Kind::Text),
            (
                "method",
                Kind::Select(&[
                    "qgis_of_registration",
                    "independent_listing",
                    "site_visit",
                    "verified_professional_letter",
                ]),
            ),
            ("source", Kind::Select(SOURCES)),
            ("reference", Kind::Text),
            ("passed", Kind::Select(PASSED)),
            ("notes", Kind::Area),
        ],
        "ev_operational_existence" => &[
            (
                "evidence.type",
                Kind::Select(&[
                    "three_years_registered",
                    "current_listing",
                    "demand_deposit_account",
                    "verified_professional_letter",
                ]),
            ),
            ("evidence.registered_on", Kind::Date),
            ("evidence.institution", Kind::Optional),
            ("evidence.author", Kind::Optional),
            ("source", Kind::Select(SOURCES)),
            ("reference", Kind::Text),
            ("passed", Kind::Select(PASSED)),
            ("notes", Kind::Area),
        ],
        "ev_communication" => &[
            (
                "method.channel",
                Kind::Select(&["telephone", "fax", "email", "postal"]),
            ),
            ("method.number", Kind::Optional),
            ("method.address", Kind::Optional),
            (
                "matched_in",
                Kind::Select(&[
                    "phone_company",
                    "qgis",
                    "qtis",
                    "qiis",
                    "verified_professional_letter",
                ]),
            ),
            ("reference", Kind::Text),
            ("affirmative_response", Kind::Text),
            ("passed", Kind::Select(PASSED)),
            ("notes", Kind::Area),
        ],
        "ev_authority" => &[
            ("contract_signer.name", Kind::Text),
            ("contract_signer.title", Kind::Text),
            ("certificate_approver.name", Kind::Text),
            ("certificate_approver.title", Kind::Text),
            (
                "agency_method",
                Kind::Select(&[
                    "verified_communication",
                    "independent_confirmation",
                    "verified_professional_letter",
                    "qiis_or_qgis",
                    "contract_signer_certification",
                ]),
            ),
            (
                "authority_method",
                Kind::Select(&[
                    "verified_professional_letter",
                    "corporate_resolution",
                    "independent_confirmation",
                    "contract_with_ca",
                    "prior_equivalent_authority",
                    "qiis_or_qgis",
                    "contract_signer_representation",
                ]),
            ),
            ("reference", Kind::Text),
            ("passed", Kind::Select(PASSED)),
            ("notes", Kind::Area),
        ],
        "ev_denied_party_screening" => &[
            (
                "lists",
                Kind::Multi(&[
                    "meti_end_user_list",
                    "mof_sanctions_list",
                    "ofac_sdn",
                    "bis_denied_persons",
                    "bis_entity_list",
                    "un_consolidated",
                    "ca_high_risk",
                ]),
            ),
            (
                "screened",
                Kind::Multi(&[
                    "applicant",
                    "contract_signer",
                    "certificate_approver",
                    "jurisdiction",
                    "place_of_business",
                ]),
            ),
            ("reference", Kind::Text),
            ("result", Kind::Select(&["no_match", "match"])),
            ("notes", Kind::Area),
        ],
        _ => &[],
    }
}

/// Draws a form's inputs from `values` (the stored record, or what was
/// posted) with `errors` beside their fields.
fn inputs(
    lang: Lang,
    form: &str,
    defs: &[Def],
    values: &[(String, String)],
    errors: &[(String, String)],
) -> Vec<Input> {
    defs.iter()
        .map(|(key, kind)| {
            let all: Vec<&str> = values
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect();
            let value = all.first().copied().unwrap_or_default().to_owned();
            let choices = |opts: &'static [&'static str]| {
                opts.iter()
                    .map(|o| Choice {
                        value: o,
                        label: choice_label(lang, key, o),
                        selected: all.contains(o),
                    })
                    .collect()
            };
            let (kind_name, options) = match kind {
                Kind::Text | Kind::Optional => ("text", Vec::new()),
                Kind::Date => ("date", Vec::new()),
                Kind::Area => ("textarea", Vec::new()),
                Kind::Check => ("checkbox", Vec::new()),
                Kind::Select(o) => ("select", choices(o)),
                Kind::Multi(o) => ("multi", choices(o)),
            };
            let error = errors
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, e)| e.as_str())
                .collect::<Vec<_>>();
            Input {
                id: format!("{form}-{}", key.replace('.', "-")),
                name: (*key).to_owned(),
                label: field_label(lang, form, key),
                kind: kind_name,
                value,
                options,
                required: matches!(kind, Kind::Text),
                error: (!error.is_empty()).then(|| error.join("; ")),
            }
        })
        .collect()
}

fn field_label(lang: Lang, form: &str, key: &str) -> &'static str {
    let last = key.rsplit('.').next().unwrap_or(key);
    [format!("{form}.{key}"), key.to_owned(), last.to_owned()]
        .iter()
        .map(|k| lang.label(k))
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

fn choice_label(lang: Lang, key: &str, value: &'static str) -> &'static str {
    [lang.label(&format!("{key}.{value}")), lang.label(value)]
        .into_iter()
        .find(|l| !l.is_empty())
        .unwrap_or(value)
}

// ---- The application ----

/// The application form, filled from `data`, or from what was posted.
pub fn application(lang: Lang, org: i64, data: &OrganizationData, posted: Option<&Posted>) -> Form {
    let (values, errors, open) = match posted.filter(|p| p.form == EDIT) {
        Some(p) => (p.values.clone(), p.errors.clone(), true),
        None => (application_values(data), Vec::new(), false),
    };
    let action = format!("/console/organizations/{org}/edit");
    application_form(lang, EDIT, action, &values, &errors, open, lang.org().save)
}

/// The same form empty (or as posted), for an application received on
/// paper or by e-mail: it creates the organization, pending.
pub fn new_application(lang: Lang, posted: Option<&Posted>) -> Form {
    let (values, errors) = match posted.filter(|p| p.form == NEW) {
        Some(p) => (p.values.clone(), p.errors.clone()),
        None => (
            vec![("level".to_owned(), Level::Ov.as_str().to_owned())],
            Vec::new(),
        ),
    };
    let action = "/console/organizations/new".to_owned();
    application_form(
        lang,
        NEW,
        action,
        &values,
        &errors,
        true,
        lang.org().register,
    )
}

/// The application form for another front end (the customer portal):
/// its id, action and button, drawn from `values` with `errors` beside
/// their fields; parsed back by [`parse_application`].
pub fn application_for(
    lang: Lang,
    id: &str,
    action: &str,
    submit: &'static str,
    values: &[(String, String)],
    errors: &[(String, String)],
) -> Form {
    application_form(lang, id, action.to_owned(), values, errors, true, submit)
}

/// A stored record as the form's fields.
pub fn values_of(data: &OrganizationData) -> Vec<(String, String)> {
    application_values(data)
}

/// The first value of field `key` ("" when absent).
pub fn value(values: &[(String, String)], key: &str) -> String {
    field(values, key).to_owned()
}

/// The problems of field `key`, joined, if any.
pub fn error(errors: &[(String, String)], key: &str) -> Option<String> {
    let e: Vec<&str> = errors
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, e)| e.as_str())
        .collect();
    (!e.is_empty()).then(|| e.join("; "))
}

fn application_form(
    lang: Lang,
    id: &str,
    action: String,
    values: &[(String, String)],
    errors: &[(String, String)],
    open: bool,
    submit: &'static str,
) -> Form {
    let t = lang.org();
    Form {
        id: id.into(),
        action,
        groups: APPLICATION
            .iter()
            .map(|(g, defs)| Group {
                legend: t.groups.iter().find(|(k, _)| k == g).map_or("", |(_, l)| l),
                inputs: inputs(lang, id, defs, values, errors),
            })
            .collect(),
        submit,
        errors: general(errors),
        open,
    }
}

fn general(errors: &[(String, String)]) -> Vec<String> {
    errors
        .iter()
        .filter(|(k, _)| k.is_empty())
        .map(|(_, e)| e.clone())
        .collect()
}

/// The stored application as the form's fields.
fn application_values(data: &OrganizationData) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flatten(
        "",
        &serde_json::to_value(data).unwrap_or_default(),
        &mut out,
    );
    out.retain(|(k, _)| k != "domains");
    out.retain(|(k, _)| k != "use_english_name");
    if data.use_english_name {
        out.push(("use_english_name".into(), "on".into()));
    }
    for (key, exact) in [("domains", false), ("domains_exact", true)] {
        let names: Vec<&str> = data
            .domains
            .iter()
            .filter(|d| d.exact == exact)
            .map(|d| d.name.as_str())
            .collect();
        out.push((key.into(), names.join("\n")));
    }
    out
}

fn flatten(path: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        Value::String(s) => out.push((path.into(), s.clone())),
        Value::Null => {}
        other => out.push((path.into(), other.to_string())),
    }
}

/// The posted application as data, or the problems beside their fields
/// (nothing is stored either way: that is `Vetting::edit`'s).
pub fn parse_application(
    lang: Lang,
    form: &[(String, String)],
) -> Result<OrganizationData, Vec<(String, String)>> {
    let get = |k: &str| field(form, k).trim().to_owned();
    let mut root = Map::new();
    for (_, defs) in APPLICATION {
        for (key, kind) in defs {
            if key.starts_with("ev.") || key.starts_with("domains") {
                continue;
            }
            let v = match kind {
                Kind::Check => Value::Bool(get(key) == "on"),
                Kind::Optional if get(key).is_empty() => continue,
                _ => Value::String(get(key)),
            };
            insert(&mut root, key, v);
        }
    }
    if get("level") == Level::Ev.as_str() {
        let mut ev = Map::new();
        for key in [
            "ev.business_category",
            "ev.jurisdiction_country",
            "ev.jurisdiction_state_or_province",
            "ev.jurisdiction_locality",
        ] {
            if !get(key).is_empty() || key == "ev.jurisdiction_country" {
                insert(&mut ev, &key[3..], Value::String(get(key)));
            }
        }
        root.insert("ev".into(), Value::Object(ev));
    }
    let mut domains = Vec::new();
    for (key, exact) in [("domains", false), ("domains_exact", true)] {
        for name in field(form, key)
            .lines()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            domains.push(json!(DomainScope {
                name: name.to_owned(),
                exact
            }));
        }
    }
    root.insert("domains".into(), Value::Array(domains));
    let data: OrganizationData = serde_json::from_value(Value::Object(root))
        .map_err(|e| vec![(String::new(), format!("invalid organization data: {e}"))])?;
    let problems = data.problems();
    if problems.is_empty() {
        return Ok(data);
    }
    Err(beside_fields(lang, form, &problems, &[]))
}

/// Each problem as (the form field it belongs beside, its message in
/// `lang`); field "" when no input of the form owns it. `more` names the
/// inputs a page adds to the application's.
pub fn beside_fields(
    lang: Lang,
    form: &[(String, String)],
    problems: &[Problem],
    more: &[&'static str],
) -> Vec<(String, String)> {
    let keys: Vec<&str> = APPLICATION
        .iter()
        .flat_map(|(_, d)| d.iter().map(|(k, _)| *k))
        .chain(more.iter().copied())
        .collect();
    problems
        .iter()
        .map(|p| {
            let key = if p.field == "domains" {
                domain_field(form, &p.wrong)
            } else {
                input_of(&keys, &p.field)
            };
            (key.to_owned(), p.text(lang.language()))
        })
        .collect()
}

/// Which domain list a problem about a domain belongs to.
fn domain_field(form: &[(String, String)], wrong: &Wrong) -> &'static str {
    let named = match wrong {
        Wrong::NotLowercase(n) | Wrong::Wildcard(n) | Wrong::Name { name: n, .. } => n,
        _ => return "domains",
    };
    let exact = field(form, "domains_exact");
    if exact.lines().map(str::trim).any(|n| n == named) {
        "domains_exact"
    } else {
        "domains"
    }
}

/// The input a record field belongs to: the field itself, or the
/// longest input it is part of; "" when none.
fn input_of<'a>(keys: &[&'a str], field: &str) -> &'a str {
    keys.iter()
        .filter(|k| {
            field
                .strip_prefix(**k)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
        .max_by_key(|k| k.len())
        .copied()
        .unwrap_or("")
}

/// The field a problem names first (the longest key it starts with), or
/// "" when none does.
fn owner<'a>(keys: &[&'a str], problem: &str) -> &'a str {
    keys.iter()
        .filter(|k| {
            problem
                .strip_prefix(**k)
                .is_some_and(|rest| rest.starts_with([' ', ':']))
        })
        .max_by_key(|k| k.len())
        .copied()
        .unwrap_or("")
}

fn insert(m: &mut Map<String, Value>, path: &str, v: Value) {
    match path.split_once('.') {
        Some((head, rest)) => {
            let inner = m
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                insert(inner, rest, v);
            }
        }
        None => {
            m.insert(path.to_owned(), v);
        }
    }
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

// ---- The EV checks ----

/// The EV forms of the page, `posted` drawn again where it belongs.
pub fn ev_forms(lang: Lang, org: i64, posted: Option<&Posted>) -> Vec<Form> {
    EV_FORMS
        .iter()
        .map(|kind| {
            let id = format!("check-{kind}");
            let mine = posted.filter(|p| p.form == id);
            let (values, errors) = mine.map_or((Vec::new(), Vec::new()), |p| {
                (p.values.clone(), p.errors.clone())
            });
            Form {
                groups: vec![Group {
                    legend: crate::vetting::checks::CheckKind::describe(kind_of(kind)),
                    inputs: inputs(lang, kind, ev_defs(kind), &values, &errors),
                }],
                action: format!("/console/organizations/{org}/checks/{kind}"),
                submit: lang.text().record,
                errors: general(&errors),
                open: mine.is_some(),
                id,
            }
        })
        .collect()
}

fn kind_of(kind: &str) -> crate::vetting::checks::CheckKind {
    use crate::vetting::checks::CheckKind as K;
    match kind {
        "ev_place_of_business" => K::EvPlaceOfBusiness,
        "ev_operational_existence" => K::EvOperationalExistence,
        "ev_communication" => K::EvCommunication,
        "ev_authority" => K::EvAuthority,
        _ => K::EvDeniedPartyScreening,
    }
}

/// The posted EV form as its typed record, or the problems beside their
/// fields: parsing first, then the record's own rules as of `today`.
pub fn parse_ev_check(
    lang: Lang,
    kind: &str,
    form: &[(String, String)],
    today: time::Date,
) -> Result<CheckRecord, Vec<(String, String)>> {
    let mut r = Reader {
        form,
        errors: Vec::new(),
        choose: lang.org().choose,
    };
    let record = match kind {
        "ev_place_of_business" => CheckRecord::EvPlaceOfBusiness {
            address: r.text("address"),
            method: r.choice::<PlaceOfBusinessMethod>("method"),
            source: r.choice::<ThirdPartySource>("source"),
            reference: r.text("reference"),
            passed: r.passed(),
            notes: r.text("notes"),
        },
        "ev_operational_existence" => CheckRecord::EvOperationalExistence {
            evidence: r.evidence(),
            source: r.choice::<ThirdPartySource>("source"),
            reference: r.text("reference"),
            passed: r.passed(),
            notes: r.text("notes"),
        },
        "ev_communication" => CheckRecord::EvCommunication {
            method: r.communication(),
            matched_in: r.choice::<CommunicationSource>("matched_in"),
            reference: r.text("reference"),
            affirmative_response: r.text("affirmative_response"),
            passed: r.passed(),
            notes: r.text("notes"),
        },
        "ev_authority" => CheckRecord::EvAuthority {
            contract_signer: r.person("contract_signer"),
            certificate_approver: r.person("certificate_approver"),
            agency_method: r.choice::<AgencyMethod>("agency_method"),
            authority_method: r.choice::<AuthorityMethod>("authority_method"),
            reference: r.text("reference"),
            passed: r.passed(),
            notes: r.text("notes"),
        },
        _ => CheckRecord::EvDeniedPartyScreening {
            lists: r.all::<ScreeningList>("lists"),
            screened: r.all::<ScreenedParty>("screened"),
            reference: r.text("reference"),
            result: r.choice::<ScreeningResult>("result"),
            notes: r.text("notes"),
        },
    };
    let mut errors = r.errors;
    if errors.is_empty() {
        let keys: Vec<&str> = ev_defs(kind).iter().map(|(k, _)| *k).collect();
        for p in record.problems(today) {
            errors.push((owner(&keys, &p).to_owned(), p));
        }
    }
    if errors.is_empty() {
        Ok(record)
    } else {
        Err(errors)
    }
}

/// Reads a posted form into typed values, noting what does not parse.
struct Reader<'a> {
    form: &'a [(String, String)],
    errors: Vec<(String, String)>,
    choose: &'static str,
}

impl Reader<'_> {
    fn text(&self, key: &str) -> String {
        field(self.form, key).trim().to_owned()
    }

    fn parse<T: DeserializeOwned>(&mut self, key: &str, v: Value) -> Option<T> {
        match serde_json::from_value(v) {
            Ok(t) => Some(t),
            Err(e) => {
                let msg = if e.to_string().contains("unknown variant") {
                    self.choose.to_owned()
                } else {
                    e.to_string()
                };
                self.errors.push((key.to_owned(), msg));
                None
            }
        }
    }

    /// One of an enum's values; a placeholder when it is not one (the
    /// error is noted, and the record is never used).
    fn choice<T: DeserializeOwned + Placeholder>(&mut self, key: &str) -> T {
        let v = json!(self.text(key));
        self.parse(key, v).unwrap_or_else(T::placeholder)
    }

    fn all<T: DeserializeOwned>(&mut self, key: &str) -> Vec<T> {
        let values: Vec<String> = self
            .form
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect();
        values
            .into_iter()
            .filter_map(|v| self.parse(key, json!(v)))
            .collect()
    }

    fn passed(&mut self) -> bool {
        self.text("passed") == "true"
    }

    fn person(&self, who: &str) -> Person {
        Person {
            name: self.text(&format!("{who}.name")),
            title: self.text(&format!("{who}.title")),
        }
    }

    fn evidence(&mut self) -> OperationalEvidence {
        let (ty, field, key) = match self.text("evidence.type").as_str() {
            "three_years_registered" => (
                "three_years_registered",
                "registered_on",
                "evidence.registered_on",
            ),
            "demand_deposit_account" => (
                "demand_deposit_account",
                "institution",
                "evidence.institution",
            ),
            "verified_professional_letter" => {
                ("verified_professional_letter", "author", "evidence.author")
            }
            "current_listing" => return OperationalEvidence::CurrentListing {},
            _ => {
                self.errors
                    .push(("evidence.type".into(), self.choose.to_owned()));
                return OperationalEvidence::CurrentListing {};
            }
        };
        let v = json!({"type": ty, field: self.text(key)});
        self.parse(key, v)
            .unwrap_or(OperationalEvidence::CurrentListing {})
    }

    fn communication(&mut self) -> CommunicationMethod {
        let channel = self.text("method.channel");
        let (field, key) = match channel.as_str() {
            "telephone" | "fax" => ("number", "method.number"),
            "email" | "postal" => ("address", "method.address"),
            _ => {
                self.errors
                    .push(("method.channel".into(), self.choose.to_owned()));
                return CommunicationMethod::Postal {
                    address: String::new(),
                };
            }
        };
        let v = json!({"channel": channel, field: self.text(key)});
        self.parse(key, v).unwrap_or(CommunicationMethod::Postal {
            address: String::new(),
        })
    }
}

/// A stand-in value for a choice that did not parse.
trait Placeholder {
    fn placeholder() -> Self;
}

macro_rules! placeholder {
    ($($t:ty => $v:expr),* $(,)?) => {
        $(impl Placeholder for $t {
            fn placeholder() -> Self {
                $v
            }
        })*
    };
}

placeholder! {
    PlaceOfBusinessMethod => PlaceOfBusinessMethod::SiteVisit,
    ThirdPartySource => ThirdPartySource::Other,
    CommunicationSource => CommunicationSource::Qiis,
    AgencyMethod => AgencyMethod::QiisOrQgis,
    AuthorityMethod => AuthorityMethod::QiisOrQgis,
    ScreeningResult => ScreeningResult::Match,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_problem_belongs_to_the_longest_field_it_names() {
        let keys = ["method", "method.number", "reference"];
        assert_eq!(
            owner(&keys, "method.number must be a telephone number"),
            "method.number"
        );
        assert_eq!(owner(&keys, "reference is required"), "reference");
        assert_eq!(owner(&keys, "lists must include ca_high_risk"), "");
    }

    /// Every input and choice has its words in both languages (an empty
    /// label is an input nobody can name).
    #[test]
    fn a_valid_ov_application_leaves_no_required_input_empty() {
        // A browser refuses to send a form with an empty `required`
        // input, so one OV leaves empty would block every OV edit.
        let data: OrganizationData =
            serde_json::from_str(include_str!("../../conf/organization.example.json")).unwrap();
        let form = application(Lang::En, 1, &data, None);
        for i in form.groups.iter().flat_map(|g| &g.inputs) {
            assert!(!i.required || !i.value.is_empty(), "{} is required", i.id);
        }
    }

    #[test]
    fn every_input_is_labelled_in_both_languages() {
        let data: OrganizationData =
            serde_json::from_str(include_str!("../../conf/organization.example.json")).unwrap();
        for lang in [Lang::Ja, Lang::En] {
            let mut forms = ev_forms(lang, 1, None);
            forms.push(application(lang, 1, &data, None));
            forms.push(new_application(lang, None));
            for f in &forms {
                for i in f.groups.iter().flat_map(|g| &g.inputs) {
                    assert!(!i.label.is_empty(), "{lang:?} {}", i.id);
                    for o in &i.options {
                        // A choice without words shows its value; only
                        // these read the same in words.
                        let same = ["ov", "ev"].contains(&o.value) || o.value.contains(' ');
                        assert!(o.label != o.value || same, "{lang:?} {} {}", i.id, o.value);
                    }
                }
            }
        }
    }

    #[test]
    fn the_stored_application_reads_back_unchanged() {
        let data: OrganizationData =
            serde_json::from_str(include_str!("../../conf/organization.example.json")).unwrap();
        let back = parse_application(Lang::En, &application_values(&data)).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn ev_forms_parse_into_their_records_or_name_the_field() {
        let today = time::macros::date!(2026 - 12 - 07);
        let ok = parse_ev_check(
            Lang::En,
            "ev_operational_existence",
            &posted(&[
                ("evidence.type", "three_years_registered"),
                ("evidence.registered_on", "1998-04-01"),
                ("source", "commercial_registry"),
                ("reference", "登記"),
                ("passed", "true"),
            ]),
            today,
        );
        assert!(
            matches!(
                ok,
                Ok(CheckRecord::EvOperationalExistence { passed: true, .. })
            ),
            "{ok:?}"
        );
        let bad = parse_ev_check(
            Lang::En,
            "ev_operational_existence",
            &posted(&[
                ("evidence.type", "three_years_registered"),
                ("evidence.registered_on", "1.4.1998"),
                ("source", "nowhere"),
            ]),
            today,
        )
        .unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(fields, ["evidence.registered_on", "source"], "{bad:?}");
    }
}
