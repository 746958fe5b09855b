//! The application pages (#25): the application form (`/application/new`,
//! the console's application form — the same inputs named by the record's
//! JSON path, parsed by the same code — with the validity wanted), each
//! application and its printable confirmation (お申込確認書), the vetting's
//! status, the documents upload and the renewal (`/renew`). Decisions are
//! `vetting::applications`'; every read goes through the session's
//! organization, so another customer's number answers 404.

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::multipart::Part;
use super::pages::{chrome, message_with, render, Chrome};
use super::{found, Ctx, Form, Portal, Session};
use crate::console::forms::{self, Form as AppForm};
use crate::core::application::{Application, ApplicationEvent, ApplicationNumber};
use crate::core::organization::OrganizationData;
use crate::error::{ErrorKind, Result};
use crate::http::page::see_other;
use crate::vetting::applications::{
    ApplicationForm, Customer, PortalLinks, Progress, Standing, StatusView, FILES_PER_UPLOAD,
};

mod text;
pub use text::{words, AppWords};

/// The application form's id (its inputs' ids start with it).
const FORM_ID: &str = "application";
/// Fields the form has beside the record's.
const VALIDITY: &str = "validity_days";

impl Portal {
    fn links(&self) -> PortalLinks {
        PortalLinks {
            base_url: self.base_url().to_owned(),
        }
    }

    /// `GET /application/new`: the empty form, the account contact filled
    /// from the account holder. An account with an organization has
    /// applied already: to its status.
    pub(super) async fn application_new(
        &self,
        s: &Session,
        ctx: &Ctx,
        form: Option<&Form>,
    ) -> Result<Response<Full<Bytes>>> {
        if s.customer.organization.is_some() {
            return Ok(see_other("/status"));
        }
        let Some(form) = form else {
            let values = holder_values(s);
            return self.form_page(s, ctx, StatusCode::OK, Mode::New, &values, &[]);
        };
        let values = posted(form);
        let parsed = match parse(ctx.lang, &values, self.vetting().clock().now()) {
            Ok(p) => p,
            Err(errors) => {
                let status = StatusCode::BAD_REQUEST;
                return self.form_page(s, ctx, status, Mode::New, &values, &errors);
            }
        };
        let customer = customer(s);
        let version = &self.agreement().version;
        match self
            .vetting()
            .submit_application(&customer, parsed, version, &self.links())
            .await
        {
            Ok(a) => Ok(see_other(&format!(
                "/application/{}/confirmation",
                a.number
            ))),
            Err(e) if matches!(e.kind, ErrorKind::Malformed | ErrorKind::Conflict) => {
                let errors = vec![(String::new(), e.detail)];
                let status = StatusCode::BAD_REQUEST;
                self.form_page(s, ctx, status, Mode::New, &values, &errors)
            }
            Err(e) => Err(e),
        }
    }

    /// `/renew`: the current record to confirm or edit, while the vetting
    /// may be renewed; otherwise why not.
    pub(super) async fn renew(
        &self,
        s: &Session,
        ctx: &Ctx,
        form: Option<&Form>,
    ) -> Result<Response<Full<Bytes>>> {
        let org = s.organization()?;
        let view = self.vetting().status(org).await?;
        let w = words(ctx.lang);
        if !view.renewable {
            let link = Some(("/status", w.status_title));
            let (status, detail) = (StatusCode::OK, Some(w.renew_not_yet));
            return message_with(Some(s), ctx, status, w.renew_title, detail, link);
        }
        let Some(form) = form else {
            let mut values = forms::values_of(&view.organization.data);
            let last = view
                .applications
                .first()
                .map_or(90, |(a, _)| a.validity_days);
            values.push((VALIDITY.into(), last.to_string()));
            return self.form_page(s, ctx, StatusCode::OK, Mode::Renew, &values, &[]);
        };
        let values = posted(form);
        let parsed = match parse(ctx.lang, &values, self.vetting().clock().now()) {
            Ok(p) => p,
            Err(errors) => {
                let status = StatusCode::BAD_REQUEST;
                return self.form_page(s, ctx, status, Mode::Renew, &values, &errors);
            }
        };
        let version = &self.agreement().version;
        match self
            .vetting()
            .renew_application(&customer(s), parsed, version, &self.links())
            .await
        {
            Ok(a) => Ok(see_other(&format!(
                "/application/{}/confirmation",
                a.number
            ))),
            Err(e) if matches!(e.kind, ErrorKind::Malformed | ErrorKind::Conflict) => {
                let errors = vec![(String::new(), e.detail)];
                let status = StatusCode::BAD_REQUEST;
                self.form_page(s, ctx, status, Mode::Renew, &values, &errors)
            }
            Err(e) => Err(e),
        }
    }

    fn form_page(
        &self,
        s: &Session,
        ctx: &Ctx,
        status: StatusCode,
        mode: Mode,
        values: &[(String, String)],
        errors: &[(String, String)],
    ) -> Result<Response<Full<Bytes>>> {
        let w = words(ctx.lang);
        let (title, action, submit, intro) = match mode {
            Mode::New => (w.new_title, "/application/new", w.submit, w.new_intro),
            Mode::Renew => (w.renew_title, "/renew", w.renew_submit, w.renew_intro),
        };
        let lang = console_lang(ctx.lang);
        let mut f = forms::application_for(lang, FORM_ID, action, submit, values, errors);
        for i in f.groups.iter_mut().flat_map(|g| g.inputs.iter_mut()) {
            // Filled from the organization or the account holder unless
            // another party pays (`parse`).
            if i.name.starts_with("billing_contact.") && i.name != "billing_contact.party" {
                i.required = false;
            }
        }
        let cap = crate::ca::schedule::max_validity(self.vetting().clock().now()).whole_days();
        let validity = forms::Input {
            id: format!("{FORM_ID}-{VALIDITY}"),
            name: VALIDITY.into(),
            label: w.validity,
            kind: "number",
            value: forms::value(values, VALIDITY),
            options: Vec::new(),
            required: true,
            error: forms::error(errors, VALIDITY),
        };
        f.groups.push(forms::Group {
            legend: w.certificate,
            inputs: vec![validity],
        });
        let page = FormPage {
            c: chrome(Some(s), ctx, title),
            w,
            intro,
            billing_hint: w.billing_hint,
            cap,
            f,
            csrf: s.csrf.clone(),
        };
        render(status, &page)
    }

    /// `/application/{number}`, and with `print` its confirmation.
    pub(super) async fn application_page(
        &self,
        s: &Session,
        ctx: &Ctx,
        number: &str,
        print: bool,
    ) -> Result<Response<Full<Bytes>>> {
        let org = s.organization()?;
        let number = found(ApplicationNumber::parse(number))?;
        let (a, history) = found(self.vetting().application(org, &number).await?)?;
        let w = words(ctx.lang);
        let title = if print {
            format!("{} {}", w.confirmation_title, a.number)
        } else {
            format!("{} {}", w.application_title, a.number)
        };
        let page = ApplicationPage {
            c: chrome(Some(s), ctx, &title),
            w,
            print,
            number: a.number.to_string(),
            kind: w.kind(a.kind.as_str()),
            state: w.application_state(a.status.as_str()),
            submitted: jst(a.submitted_at),
            validity_days: a.validity_days,
            agreement_version: a.agreement_version.clone(),
            applicant_email: a.customer_email.clone(),
            sections: sections(ctx, &a.data),
            domains: a
                .data
                .domains
                .iter()
                .map(|d| (d.name.clone(), d.exact))
                .collect(),
            history: history_rows(w, &history),
            reason: a.decision_reason.clone().unwrap_or_default(),
        };
        render(StatusCode::OK, &page)
    }

    /// `/status`: where the vetting stands, as the customer sees it.
    pub(super) async fn status_page(
        &self,
        s: &Session,
        ctx: &Ctx,
    ) -> Result<Response<Full<Bytes>>> {
        let w = words(ctx.lang);
        let Some(org) = s.customer.organization else {
            let link = Some(("/application/new", w.new_title));
            return message_with(
                Some(s),
                ctx,
                StatusCode::OK,
                w.status_title,
                Some(w.no_application),
                link,
            );
        };
        let view = self.vetting().status(org).await?;
        let page = StatusPage {
            c: chrome(Some(s), ctx, w.status_title),
            w,
            summary: summary(w, &view),
            applications: view
                .applications
                .iter()
                .map(|(a, _)| AppLink::of(w, a))
                .collect(),
        };
        render(StatusCode::OK, &page)
    }

    /// `/documents`: staff's request and the upload form (GET), or the
    /// upload (POST, multipart: `files` are its file parts).
    pub(super) async fn documents_page(
        &self,
        s: &Session,
        ctx: &Ctx,
        files: Option<Vec<Part>>,
    ) -> Result<Response<Full<Bytes>>> {
        let org = s.organization()?;
        let w = words(ctx.lang);
        let limit = self.documents_limit();
        let mut problems = Vec::new();
        if let Some(files) = files {
            let chosen: Vec<(String, String, Vec<u8>)> = files
                .into_iter()
                .filter(|p| p.file_name.as_deref().is_some_and(|n| !n.is_empty()))
                .map(|p| (p.file_name.unwrap_or_default(), p.content_type, p.data))
                .collect();
            if chosen.is_empty() {
                problems.push(w.choose_file.to_owned());
            } else if chosen.len() > FILES_PER_UPLOAD {
                problems.push(w.too_many_files.to_owned());
            } else {
                match self
                    .vetting()
                    .upload_documents(&customer(s), chosen, limit)
                    .await
                {
                    Ok(Ok(_)) => return Ok(see_other("/documents?uploaded=1")),
                    Ok(Err(refused)) => problems.extend(
                        refused
                            .into_iter()
                            .map(|(name, p)| format!("{name}: {}", w.document_problem(&p))),
                    ),
                    Err(e) if e.kind == ErrorKind::Conflict => {
                        problems.push(w.nothing_requested.to_owned())
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let view = self.vetting().status(org).await?;
        let request = match &view.progress {
            Some(Progress::DocumentsRequested(m)) => Some(m.clone()),
            _ => None,
        };
        let docs = self.vetting().documents(org).await?;
        let status = if problems.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        let page = DocumentsPage {
            c: chrome(Some(s), ctx, w.documents_title),
            w,
            request,
            uploaded: ctx.query.iter().any(|(k, _)| k == "uploaded"),
            problems,
            limit_mib: limit.div_ceil(1 << 20),
            docs: docs
                .into_iter()
                .map(|d| (d.file_name, d.size, jst(d.uploaded_at)))
                .collect(),
            csrf: s.csrf.clone(),
        };
        render(status, &page)
    }

    /// The home page's status summary (None before an application).
    pub(super) async fn home_summary(&self, s: &Session, ctx: &Ctx) -> Result<Option<Summary>> {
        let Some(org) = s.customer.organization else {
            return Ok(None);
        };
        let view = self.vetting().status(org).await?;
        Ok(Some(summary(words(ctx.lang), &view)))
    }
}

#[derive(Clone, Copy)]
enum Mode {
    New,
    Renew,
}

/// The customer as `vetting::applications` knows them.
fn customer(s: &Session) -> Customer {
    Customer::from(&s.customer)
}

fn console_lang(l: super::i18n::Lang) -> crate::console::i18n::Lang {
    match l {
        super::i18n::Lang::Ja => crate::console::i18n::Lang::Ja,
        super::i18n::Lang::En => crate::console::i18n::Lang::En,
    }
}

/// A new form's values: OV, the account contact from the account holder,
/// the billing party the organization itself.
fn holder_values(s: &Session) -> Vec<(String, String)> {
    let h = &s.customer.holder;
    let address = format!("〒{} {}", h.postal_code, h.address);
    [
        ("level", "ov"),
        ("account_contact.name", h.contact_name.as_str()),
        ("account_contact.organization", h.organization.as_str()),
        ("account_contact.department", h.department.as_str()),
        ("account_contact.address", address.as_str()),
        ("account_contact.phone", h.phone.as_str()),
        ("account_contact.fax", h.fax.as_str()),
        ("account_contact.email", s.customer.email.as_str()),
        ("billing_contact.party", "organization"),
        ("head_office.country", "JP"),
        ("office.country", "JP"),
        (VALIDITY, "90"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// The posted fields without the CSRF token.
fn posted(form: &Form) -> Vec<(String, String)> {
    form.0
        .iter()
        .filter(|(k, _)| k != "csrf")
        .cloned()
        .collect()
}

/// The form as an application, or every problem beside its field in
/// `lang`. A billing party other than "another party" takes its contact
/// data from the organization or the account contact before the record
/// is checked.
fn parse(
    lang: super::i18n::Lang,
    values: &[(String, String)],
    now: time::OffsetDateTime,
) -> std::result::Result<ApplicationForm, Vec<(String, String)>> {
    let values = fill_billing(values);
    let days = forms::value(&values, VALIDITY)
        .trim()
        .parse::<i32>()
        .unwrap_or(0);
    let lang_c = console_lang(lang);
    match forms::parse_application(lang_c, &values) {
        Ok(data) => {
            let form = ApplicationForm {
                data,
                validity_days: days,
            };
            let p = crate::vetting::applications::problems(&form, now);
            if p.is_empty() {
                return Ok(form);
            }
            Err(forms::beside_fields(lang_c, &values, &p, &[VALIDITY]))
        }
        Err(mut errors) => {
            if let Some(p) = crate::vetting::applications::validity_problem(days, now) {
                errors.push((VALIDITY.to_owned(), p.text(lang)));
            }
            Err(errors)
        }
    }
}

/// The billing fields from the party chosen (the organization's head
/// office and applicant, or the account contact), unless another party.
fn fill_billing(values: &[(String, String)]) -> Vec<(String, String)> {
    let get = |k: &str| forms::value(values, k);
    let fill: Vec<(&str, String)> = match get("billing_contact.party").as_str() {
        "organization" => vec![
            ("name", get("representative.name")),
            ("organization", get("legal_name")),
            ("department", get("applicant.department")),
            ("postal_code", get("head_office.postal_code")),
            (
                "address",
                format!(
                    "{}{}{}",
                    get("head_office.prefecture"),
                    get("head_office.locality"),
                    get("head_office.street")
                ),
            ),
            ("phone", get("applicant.phone")),
            ("fax", String::new()),
        ],
        "account_contact" => vec![
            ("name", get("account_contact.name")),
            ("organization", get("account_contact.organization")),
            ("department", get("account_contact.department")),
            ("postal_code", String::new()),
            ("address", get("account_contact.address")),
            ("phone", get("account_contact.phone")),
            ("fax", get("account_contact.fax")),
        ],
        _ => return values.to_vec(),
    };
    let mut out: Vec<(String, String)> = values
        .iter()
        .filter(|(k, _)| !k.starts_with("billing_contact.") || k == "billing_contact.party")
        .cloned()
        .collect();
    for (k, v) in fill {
        out.push((format!("billing_contact.{k}"), v));
    }
    out
}

/// The status summary (the status page's and the home page's).
pub struct Summary {
    /// A stable name for tests and styles (`received`, `approved`, …).
    pub state: &'static str,
    pub headline: &'static str,
    /// Staff's message, a rejection's reason.
    pub detail: String,
    pub vetting_until: String,
    pub documents_link: bool,
    pub renew_link: bool,
}

fn summary(w: &'static AppWords, v: &StatusView) -> Summary {
    let (state, detail) = match (&v.standing, &v.progress) {
        (Standing::Rejected(r), _) => ("rejected", r.clone().unwrap_or_default()),
        (Standing::Suspended(r), _) => ("suspended", r.clone().unwrap_or_default()),
        (_, Some(Progress::DocumentsRequested(m))) => ("documents_requested", m.clone()),
        (_, Some(Progress::InProgress)) => ("in_progress", String::new()),
        (_, Some(Progress::Received)) => ("received", String::new()),
        (Standing::Approved, None) => ("approved", String::new()),
        (Standing::Expiring, None) => ("expiring", String::new()),
        (Standing::Expired, None) => ("expired", String::new()),
        (Standing::Pending, None) => ("in_progress", String::new()),
    };
    Summary {
        state,
        headline: w.state(state),
        detail,
        vetting_until: v.vetting_until.map(jst).unwrap_or_default(),
        documents_link: state == "documents_requested",
        renew_link: v.renewable,
    }
}

pub struct AppLink {
    pub number: String,
    pub kind: &'static str,
    pub state: &'static str,
    pub submitted: String,
}

impl AppLink {
    fn of(w: &'static AppWords, a: &Application) -> AppLink {
        AppLink {
            number: a.number.to_string(),
            kind: w.kind(a.kind.as_str()),
            state: w.application_state(a.status.as_str()),
            submitted: jst(a.submitted_at),
        }
    }
}

pub struct HistoryRow {
    pub at: String,
    pub what: &'static str,
    pub message: String,
}

/// The history as the customer reads it (staff are "the CA").
fn history_rows(w: &'static AppWords, events: &[ApplicationEvent]) -> Vec<HistoryRow> {
    events
        .iter()
        .map(|e| HistoryRow {
            at: jst(e.at),
            what: w.event(e.kind.as_str()),
            message: e.message.clone().unwrap_or_default(),
        })
        .collect()
}

/// A confirmation section: its heading and (label, value) rows.
pub struct Section {
    pub title: &'static str,
    pub rows: Vec<(&'static str, String)>,
}

/// The record in the form's groups, labelled as the form labels them.
fn sections(ctx: &Ctx, data: &OrganizationData) -> Vec<Section> {
    let lang = console_lang(ctx.lang);
    let values = forms::values_of(data);
    let form = forms::application_for(lang, FORM_ID, "", "", &values, &[]);
    form.groups
        .into_iter()
        .filter(|g| !g.inputs.iter().all(|i| i.value.is_empty()))
        .map(|g| Section {
            title: g.legend,
            rows: g
                .inputs
                .into_iter()
                .filter(|i| !i.value.is_empty() && !i.name.starts_with("domains"))
                .map(|i| {
                    let shown = i
                        .options
                        .iter()
                        .find(|o| o.selected)
                        .map_or(i.value.clone(), |o| o.label.to_owned());
                    (i.label, shown)
                })
                .collect(),
        })
        .filter(|s| !s.rows.is_empty())
        .collect()
}

/// Japan time to the minute, as the confirmation and mail show it.
fn jst(t: time::OffsetDateTime) -> String {
    let offset = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let t = t.to_offset(offset);
    format!(
        "{}-{:02}-{:02} {:02}:{:02} JST",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

#[derive(Template)]
#[template(path = "portal/application_form.html")]
struct FormPage {
    c: Chrome,
    w: &'static AppWords,
    intro: &'static str,
    billing_hint: &'static str,
    cap: i64,
    f: AppForm,
    csrf: String,
}

#[derive(Template)]
#[template(path = "portal/application.html")]
struct ApplicationPage {
    c: Chrome,
    w: &'static AppWords,
    print: bool,
    number: String,
    kind: &'static str,
    state: &'static str,
    submitted: String,
    validity_days: i32,
    agreement_version: String,
    applicant_email: String,
    sections: Vec<Section>,
    domains: Vec<(String, bool)>,
    history: Vec<HistoryRow>,
    reason: String,
}

#[derive(Template)]
#[template(path = "portal/status.html")]
struct StatusPage {
    c: Chrome,
    w: &'static AppWords,
    summary: Summary,
    applications: Vec<AppLink>,
}

#[derive(Template)]
#[template(path = "portal/documents.html")]
struct DocumentsPage {
    c: Chrome,
    w: &'static AppWords,
    request: Option<String>,
    uploaded: bool,
    problems: Vec<String>,
    limit_mib: usize,
    docs: Vec<(String, i64, String)>,
    csrf: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn billing_comes_from_the_party_chosen() {
        let values = v(&[
            ("billing_contact.party", "organization"),
            ("billing_contact.name", "ignored"),
            ("legal_name", "例示株式会社"),
            ("representative.name", "山田太郎"),
            ("head_office.postal_code", "100-0005"),
            ("head_office.prefecture", "東京都"),
            ("head_office.locality", "千代田区"),
            ("head_office.street", "丸の内1-1-1"),
        ]);
        let out = fill_billing(&values);
        assert_eq!(forms::value(&out, "billing_contact.name"), "山田太郎");
        assert_eq!(
            forms::value(&out, "billing_contact.organization"),
            "例示株式会社"
        );
        assert_eq!(
            forms::value(&out, "billing_contact.address"),
            "東京都千代田区丸の内1-1-1"
        );
        let other = v(&[
            ("billing_contact.party", "other"),
            ("billing_contact.name", "請求 太郎"),
        ]);
        assert_eq!(fill_billing(&other), other);
    }
}
