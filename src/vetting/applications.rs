//! Applications from the customer portal: a customer account submits the
//! organization record staff vet (the same record, validated by the same
//! `OrganizationData::problems`), the billing contact, the level, the
//! domain scope and the validity wanted; renews it when the vetting is
//! about to expire; answers staff's documents requests with files. Each
//! step is written with its history event, its audit event and its e-mail
//! notice in one transaction. What the customer sees of the vetting is
//! `status`.

use time::{Duration, OffsetDateTime};

use super::checks::{current_checks, Transition, VettingStatus};
use super::documents::{self, DocumentProblem, Upload};
use super::organization::{OrganizationData, Problem, Wrong};
use super::{conflict, not_found, subject, Organization, Vetting};
use crate::core::application::{
    Application, ApplicationEvent, ApplicationKind, ApplicationNumber, ApplicationStatus,
    DocumentId, DocumentInfo, EventKind,
};
use crate::core::OrganizationId;
use crate::error::{Error, Result};
use crate::mail::applications::{ApplicationReceived, DocumentsRequested};
use crate::mail::Language;
use crate::sa::applications::{NewApplication, NewDocument};
use crate::sa::audit::NewEvent;
use crate::sa::outbox::NewNotice;
use crate::sa::{self, DbConn};

/// A vetting this close to its end may be renewed (and is shown as
/// expiring).
pub const RENEWAL_WINDOW: Duration = Duration::days(30);
/// The longest message staff may send with a documents request.
const MESSAGE_CHARS: usize = 2000;
/// Files in one upload.
pub const FILES_PER_UPLOAD: usize = 5;

/// The customer account acting, as the portal's session knows it.
#[derive(Debug, Clone)]
pub struct Customer {
    /// `customer_accounts.id`.
    pub account: i64,
    pub email: String,
    /// The account holder's name (notices are addressed to it).
    pub name: String,
    pub language: Language,
    /// The organization the account belongs to, once it applied.
    pub organization: Option<OrganizationId>,
}

impl From<&crate::core::customer::Customer> for Customer {
    fn from(c: &crate::core::customer::Customer) -> Customer {
        use crate::core::customer::Language as L;
        Customer {
            account: c.id.0,
            email: c.email.clone(),
            name: c.holder.contact_name.clone(),
            language: match c.language {
                L::Ja => Language::Ja,
                L::En => Language::En,
            },
            organization: c.organization,
        }
    }
}

impl Customer {
    /// As audit events and `organizations.created_by` record it.
    pub fn actor(&self) -> String {
        format!("customer:{}", self.email)
    }
}

/// What the customer fills in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationForm {
    pub data: OrganizationData,
    pub validity_days: i32,
}

/// Where the portal's pages are, for the links in notices.
#[derive(Debug, Clone)]
pub struct PortalLinks {
    /// e.g. `https://portal.example.jp` (no trailing slash).
    pub base_url: String,
}

impl PortalLinks {
    fn confirmation(&self, n: &ApplicationNumber) -> String {
        format!("{}/application/{n}/confirmation", self.base_url)
    }
    fn status(&self) -> String {
        format!("{}/status", self.base_url)
    }
    fn documents(&self) -> String {
        format!("{}/documents", self.base_url)
    }
}

/// Every problem with a form, each naming its field first (the record's
/// JSON path, or `validity_days`), so the portal shows it beside the
/// field. `now` decides the validity cap in force (BR 6.3.2).
pub fn problems(form: &ApplicationForm, now: OffsetDateTime) -> Vec<Problem> {
    let mut p = form.data.problems();
    p.extend(validity_problem(form.validity_days, now));
    p
}

/// The validity wanted, unless within the BR cap in force at `now`.
pub fn validity_problem(days: i32, now: OffsetDateTime) -> Option<Problem> {
    let cap = crate::ca::schedule::max_validity(now).whole_days();
    (days < 1 || i64::from(days) > cap).then(|| Problem {
        field: "validity_days".into(),
        wrong: Wrong::ValidityDays(cap),
    })
}

/// Malformed, naming every problem, unless `form` has none.
fn check(form: &ApplicationForm, now: OffsetDateTime) -> Result<()> {
    let p = problems(form, now);
    if p.is_empty() {
        return Ok(());
    }
    let english: Vec<String> = p.iter().map(ToString::to_string).collect();
    Err(Error::malformed(format!(
        "invalid application: {}",
        english.join("; ")
    )))
}

/// What the customer sees of their organization's vetting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Being vetted for the first time (or again after an edit).
    Pending,
    Approved,
    /// Approved, ending within `RENEWAL_WINDOW`.
    Expiring,
    Expired,
    Rejected(Option<String>),
    Suspended(Option<String>),
}

/// Where the open application stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Received,
    /// Staff's message.
    DocumentsRequested(String),
    /// Checks recorded, or documents uploaded.
    InProgress,
}

/// The status page's content.
#[derive(Debug, Clone)]
pub struct StatusView {
    pub organization: Organization,
    pub standing: Standing,
    /// Of the open application, if any.
    pub progress: Option<Progress>,
    /// When the current approval ends.
    pub vetting_until: Option<OffsetDateTime>,
    /// Whether `/renew` takes a renewal now.
    pub renewable: bool,
    /// Newest first, each with its history (oldest first).
    pub applications: Vec<(Application, Vec<ApplicationEvent>)>,
}

impl Vetting {
    /// Submits a first application: creates the organization (pending, as
    /// staff's New organization does), links it to the account, numbers
    /// the application and tells the customer. Refused when the form has
    /// problems (nothing is stored) or the account already has an
    /// organization (that is a renewal).
    pub async fn submit_application(
        &self,
        customer: &Customer,
        form: ApplicationForm,
        agreement_version: &str,
        links: &PortalLinks,
    ) -> Result<Application> {
        let now = self.clock.now();
        check(&form, now)?;
        if customer.organization.is_some() {
            return Err(conflict(
                "this account already has an organization; renew its application instead",
            ));
        }
        let w = Write {
            customer: customer.clone(),
            form,
            agreement_version: agreement_version.to_owned(),
            links: links.clone(),
            now,
            request_id: crate::http::current_request_id(),
        };
        self.store.write(move |c| w.submit(c)).await
    }

    /// Renews the organization's application: within `RENEWAL_WINDOW` of
    /// the vetting's end, or after it. Unchanged, the organization keeps
    /// its approval until it ends while staff record fresh checks and
    /// renew it (`Transition::Renew`); edited, it goes back to pending
    /// with the new data.
    pub async fn renew_application(
        &self,
        customer: &Customer,
        form: ApplicationForm,
        agreement_version: &str,
        links: &PortalLinks,
    ) -> Result<Application> {
        let now = self.clock.now();
        check(&form, now)?;
        let org = customer
            .organization
            .ok_or_else(|| Error::not_found("this account has no organization to renew"))?;
        let w = Write {
            customer: customer.clone(),
            form,
            agreement_version: agreement_version.to_owned(),
            links: links.clone(),
            now,
            request_id: crate::http::current_request_id(),
        };
        let max_age = self.max_age();
        self.store.write(move |c| w.renew(c, org, max_age)).await
    }

    /// Staff ask the customer for documents, with a message: recorded on
    /// the organization's open application, audited, and sent to the
    /// customer by e-mail.
    pub async fn request_documents(
        &self,
        actor: &str,
        org: OrganizationId,
        message: &str,
        links: &PortalLinks,
        limit_bytes: usize,
    ) -> Result<()> {
        let message = message.trim().to_owned();
        if message.is_empty() {
            return Err(Error::malformed("a documents request needs a message"));
        }
        if message.chars().count() > MESSAGE_CHARS {
            return Err(Error::malformed(format!(
                "the message is longer than {MESSAGE_CHARS} characters"
            )));
        }
        let (actor, links) = (actor.to_owned(), links.clone());
        let now = self.clock.now();
        let request_id = crate::http::current_request_id();
        self.store
            .write(move |c| {
                let o = sa::organizations::by_id(c, org)?.ok_or_else(|| not_found(org))?;
                let app = sa::applications::open_of(c, org)?.ok_or_else(|| {
                    conflict("no open application from the portal: nobody to ask")
                })?;
                sa::applications::add_event(
                    c,
                    app.id,
                    EventKind::DocumentsRequested,
                    &actor,
                    Some(&message),
                    now,
                )?;
                let n = DocumentsRequested {
                    number: app.number.to_string(),
                    organization: o.data.legal_name.clone(),
                    contact: o.data.account_contact.name.clone(),
                    message: message.clone(),
                    documents_url: links.documents(),
                    limit_mib: limit_bytes.div_ceil(1024 * 1024),
                };
                let lang = language(&app.language);
                notify(c, DocumentsRequested::KIND, &app, n.render(lang)?, now)?;
                audit(
                    c,
                    &actor,
                    "application.documents_requested",
                    org,
                    &app,
                    Some(&message),
                    request_id,
                    now,
                )
            })
            .await
    }

    /// The customer's files for the open documents request, each checked
    /// (`documents::check`); one refused file refuses them all, and
    /// nothing is stored. Returns each file's problem beside its name.
    pub async fn upload_documents(
        &self,
        customer: &Customer,
        files: Vec<(String, String, Vec<u8>)>,
        limit_bytes: usize,
    ) -> Result<std::result::Result<Vec<DocumentId>, Vec<(String, DocumentProblem)>>> {
        let org = customer
            .organization
            .ok_or_else(|| Error::not_found("this account has no organization"))?;
        if files.is_empty() {
            return Err(Error::malformed("choose at least one file"));
        }
        if files.len() > FILES_PER_UPLOAD {
            return Err(Error::malformed(format!(
                "at most {FILES_PER_UPLOAD} files at a time"
            )));
        }
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        for (name, declared, bytes) in files {
            let u = Upload {
                file_name: &name,
                declared_type: &declared,
                bytes: &bytes,
            };
            match documents::check(&u, limit_bytes) {
                Ok(a) => accepted.push((a, bytes)),
                Err(p) => refused.push((name, p)),
            }
        }
        if !refused.is_empty() {
            return Ok(Err(refused));
        }
        let actor = customer.actor();
        let now = self.clock.now();
        let request_id = crate::http::current_request_id();
        let ids = self
            .store
            .write(move |c| {
                let app = open_request(c, org)?;
                let mut ids = Vec::new();
                for (a, bytes) in &accepted {
                    let d = NewDocument {
                        application: app.id,
                        organization: org,
                        file_name: &a.file_name,
                        content_type: a.kind.content_type(),
                        content: bytes,
                    };
                    ids.push(sa::applications::add_document(c, &d, &actor, now)?);
                }
                let names: Vec<&str> = accepted.iter().map(|(a, _)| a.file_name.as_str()).collect();
                let names = names.join(", ");
                sa::applications::add_event(
                    c,
                    app.id,
                    EventKind::DocumentsUploaded,
                    &actor,
                    Some(&names),
                    now,
                )?;
                audit(
                    c,
                    &actor,
                    "application.documents_uploaded",
                    org,
                    &app,
                    Some(&names),
                    request_id,
                    now,
                )?;
                Ok(ids)
            })
            .await?;
        Ok(Ok(ids))
    }

    /// What the customer's status page shows.
    pub async fn status(&self, org: OrganizationId) -> Result<StatusView> {
        let (now, max_age) = (self.clock.now(), self.max_age());
        self.store
            .read(move |c| {
                let o = sa::organizations::by_id(c, org)?.ok_or_else(|| not_found(org))?;
                let checks = sa::organizations::checks(c, org)?;
                let mut applications = Vec::new();
                for a in sa::applications::of_organization(c, org)? {
                    let events = sa::applications::events(c, a.id)?;
                    applications.push((a, events));
                }
                let checked = !current_checks(&checks, o.data_changed_at).is_empty();
                Ok(status_view(o, checked, applications, now, max_age))
            })
            .await
    }

    /// Application `number` with its history, if it is `org`'s.
    pub async fn application(
        &self,
        org: OrganizationId,
        number: &ApplicationNumber,
    ) -> Result<Option<(Application, Vec<ApplicationEvent>)>> {
        let number = number.clone();
        self.store
            .read(move |c| {
                let Some(a) = sa::applications::by_number(c, org, &number)? else {
                    return Ok(None);
                };
                let events = sa::applications::events(c, a.id)?;
                Ok(Some((a, events)))
            })
            .await
    }

    /// The organization's applications with their histories, newest first.
    pub async fn applications(
        &self,
        org: OrganizationId,
    ) -> Result<Vec<(Application, Vec<ApplicationEvent>)>> {
        self.store
            .read(move |c| {
                let mut out = Vec::new();
                for a in sa::applications::of_organization(c, org)? {
                    let events = sa::applications::events(c, a.id)?;
                    out.push((a, events));
                }
                Ok(out)
            })
            .await
    }

    /// The organization's documents, without their bytes.
    pub async fn documents(&self, org: OrganizationId) -> Result<Vec<DocumentInfo>> {
        self.store
            .read(move |c| sa::applications::documents(c, org))
            .await
    }

    /// One of the organization's documents with its bytes.
    pub async fn document(
        &self,
        org: OrganizationId,
        id: DocumentId,
    ) -> Result<Option<(DocumentInfo, Vec<u8>)>> {
        self.store
            .read(move |c| sa::applications::document(c, org, id))
            .await
    }
}

/// A submission or renewal, with what it is written with.
struct Write {
    customer: Customer,
    form: ApplicationForm,
    agreement_version: String,
    links: PortalLinks,
    now: OffsetDateTime,
    request_id: Option<crate::http::RequestId>,
}

impl Write {
    fn submit(&self, c: &mut DbConn) -> Result<Application> {
        let actor = self.customer.actor();
        let org = sa::organizations::create(c, &self.form.data, &actor, self.now)?;
        sa::audit::append(
            c,
            NewEvent {
                actor: &actor,
                action: "organization.create",
                organization: Some(org.id),
                subject: subject(org.id),
                reason: None,
                details: serde_json::json!({"legal_name": self.form.data.legal_name, "level": self.form.data.level, "source": "portal"}),
                request_id: self.request_id,
            },
            self.now,
        )?;
        link_account(c, self.customer.account, org.id)?;
        self.record(c, org.id, ApplicationKind::New)
    }

    fn renew(&self, c: &mut DbConn, org: OrganizationId, max_age: Duration) -> Result<Application> {
        let o = sa::organizations::by_id(c, org)?.ok_or_else(|| not_found(org))?;
        if !renewable(&o, self.now, max_age) {
            return Err(conflict(
                "the vetting can be renewed from 30 days before it ends",
            ));
        }
        if sa::applications::open_of(c, org)?.is_some() {
            return Err(conflict("an application is already being vetted"));
        }
        if self.form.data == o.data {
            // Fresh checks are needed for the renewal; the approval in
            // force stands until it ends.
            sa::organizations::restart_checks(c, org, self.now)?;
        } else {
            sa::organizations::replace_data(c, org, &self.form.data, self.now)?;
        }
        let a = self.record(c, org, ApplicationKind::Renewal)?;
        let edited = self.form.data != o.data;
        sa::audit::append(
            c,
            NewEvent {
                actor: &self.customer.actor(),
                action: "application.renew",
                organization: Some(org),
                subject: subject(org),
                reason: None,
                details: serde_json::json!({"number": a.number, "edited": edited, "status_before": o.status, "before": o.data, "after": self.form.data}),
                request_id: self.request_id,
            },
            self.now,
        )?;
        Ok(a)
    }

    /// The application row, its first event, its audit event and the
    /// received notice.
    fn record(
        &self,
        c: &mut DbConn,
        org: OrganizationId,
        kind: ApplicationKind,
    ) -> Result<Application> {
        let actor = self.customer.actor();
        let new = NewApplication {
            organization: org,
            customer_account: self.customer.account,
            customer_email: &self.customer.email,
            language: self.customer.language.code(),
            kind,
            validity_days: self.form.validity_days,
            data: &self.form.data,
            agreement_version: &self.agreement_version,
        };
        let a = sa::applications::insert(c, &new, &actor, self.now)?;
        let d = &self.form.data;
        let n = ApplicationReceived {
            number: a.number.to_string(),
            organization: d.legal_name.clone(),
            contact: self.customer.name.clone(),
            renewal: kind == ApplicationKind::Renewal,
            level: d.level.as_str().to_owned(),
            validity_days: self.form.validity_days,
            domains: d.domains.iter().map(|s| s.name.clone()).collect(),
            submitted_at: self.now,
            confirmation_url: self.links.confirmation(&a.number),
            status_url: self.links.status(),
        };
        notify(
            c,
            ApplicationReceived::KIND,
            &a,
            n.render(self.customer.language)?,
            self.now,
        )?;
        audit(
            c,
            &actor,
            "application.submit",
            org,
            &a,
            None,
            self.request_id,
            self.now,
        )?;
        Ok(a)
    }
}

/// Points the customer account at its new organization: from then on
/// the portal scopes the account's pages to it.
fn link_account(c: &mut DbConn, account: i64, org: OrganizationId) -> Result<()> {
    sa::customers::set_organization(c, crate::core::CustomerId(account), org)
}

/// The open application with a documents request not yet answered.
fn open_request(c: &mut DbConn, org: OrganizationId) -> Result<Application> {
    let app = sa::applications::open_of(c, org)?
        .ok_or_else(|| conflict("no application is waiting for documents"))?;
    let events = sa::applications::events(c, app.id)?;
    match progress(&events, false) {
        Progress::DocumentsRequested(_) => Ok(app),
        _ => Err(conflict("no documents have been requested")),
    }
}

fn language(code: &str) -> Language {
    if code == "en" {
        Language::En
    } else {
        Language::Ja
    }
}

fn notify(
    c: &mut DbConn,
    kind: &'static str,
    a: &Application,
    r: crate::mail::Rendered,
    now: OffsetDateTime,
) -> Result<()> {
    let notice = NewNotice {
        kind,
        about: format!("application:{}", a.number),
        recipient: a.customer_email.clone(),
        language: language(&a.language).code(),
        subject: r.subject,
        body: r.body,
    };
    sa::outbox::enqueue(c, &notice, now)
}

#[allow(clippy::too_many_arguments)]
fn audit(
    c: &mut DbConn,
    actor: &str,
    action: &str,
    org: OrganizationId,
    a: &Application,
    message: Option<&str>,
    request_id: Option<crate::http::RequestId>,
    now: OffsetDateTime,
) -> Result<()> {
    sa::audit::append(
        c,
        NewEvent {
            actor,
            action,
            organization: Some(org),
            subject: format!("application:{}", a.number),
            reason: None,
            details: serde_json::json!({"number": a.number, "kind": a.kind, "message": message}),
            request_id,
        },
        now,
    )
}

/// Whether `/renew` takes a renewal of `o` at `now`.
pub fn renewable(o: &Organization, now: OffsetDateTime, max_age: Duration) -> bool {
    match o.effective_status(now, max_age) {
        VettingStatus::Expired => true,
        VettingStatus::Approved => o
            .vetting_expires(max_age)
            .is_some_and(|end| end - RENEWAL_WINDOW <= now),
        _ => false,
    }
}

/// The open application's progress from its history: an unanswered
/// documents request, else whether vetting has visibly begun.
fn progress(events: &[ApplicationEvent], checked: bool) -> Progress {
    let last = events.iter().rev().find(|e| {
        matches!(
            e.kind,
            EventKind::DocumentsRequested | EventKind::DocumentsUploaded
        )
    });
    match last {
        Some(e) if e.kind == EventKind::DocumentsRequested => {
            Progress::DocumentsRequested(e.message.clone().unwrap_or_default())
        }
        Some(_) => Progress::InProgress,
        None if checked => Progress::InProgress,
        None => Progress::Received,
    }
}

fn status_view(
    o: Organization,
    checked: bool,
    applications: Vec<(Application, Vec<ApplicationEvent>)>,
    now: OffsetDateTime,
    max_age: Duration,
) -> StatusView {
    let until = o.vetting_expires(max_age);
    let standing = match o.effective_status(now, max_age) {
        VettingStatus::Pending => Standing::Pending,
        VettingStatus::Approved if until.is_some_and(|u| u - RENEWAL_WINDOW <= now) => {
            Standing::Expiring
        }
        VettingStatus::Approved => Standing::Approved,
        VettingStatus::Expired => Standing::Expired,
        VettingStatus::Rejected => Standing::Rejected(o.status_reason.clone()),
        VettingStatus::Suspended => Standing::Suspended(o.status_reason.clone()),
    };
    let progress = applications
        .iter()
        .find(|(a, _)| a.status == ApplicationStatus::Open)
        .map(|(_, events)| progress(events, checked));
    let approved = matches!(standing, Standing::Approved | Standing::Expiring);
    StatusView {
        renewable: progress.is_none() && renewable(&o, now, max_age),
        vetting_until: until.filter(|_| approved),
        organization: o,
        standing,
        progress,
        applications,
    }
}

/// Called in the transaction of a staff decision on the organization:
/// closes its open applications with the decision and records it in their
/// histories.
pub(super) fn on_decision(
    c: &mut DbConn,
    org: OrganizationId,
    t: Transition,
    actor: &str,
    reason: Option<&str>,
    now: OffsetDateTime,
) -> Result<()> {
    let (status, event) = match t {
        Transition::Approve | Transition::Renew => {
            (ApplicationStatus::Approved, EventKind::Approved)
        }
        Transition::Reject => (ApplicationStatus::Rejected, EventKind::Rejected),
        _ => return Ok(()),
    };
    for id in sa::applications::decide(c, org, status, actor, reason, now)? {
        sa::applications::add_event(c, id, event, actor, reason, now)?;
    }
    Ok(())
}

/// Whether the organization has an open renewal (`Transition::Renew`
/// needs one).
pub(super) fn renewal_open(c: &mut DbConn, org: OrganizationId) -> Result<bool> {
    Ok(sa::applications::open_of(c, org)?.is_some_and(|a| a.kind == ApplicationKind::Renewal))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use diesel::prelude::*;
    use time::macros::datetime;

    use super::*;
    use crate::config::VettingConfig;
    use crate::core::organization::Level;
    use crate::core::Clock;
    use crate::sa::crls::testing::{scratch, TestDb};
    use crate::sa::schema::{application_numbers, applications, organizations, outbox};
    use crate::sa::Store;
    use crate::vetting::checks::CheckRecord;
    use crate::vetting::organization::tests::example;

    const START: OffsetDateTime = datetime!(2026-12-07 03:00 UTC);

    fn vetting() -> (TestDb, Vetting, Clock) {
        let db = scratch();
        let clock = Clock::manual(START);
        let store = Store::open_with(
            &db.url,
            4,
            std::time::Duration::from_secs(5),
            clock.clone(),
            Arc::default(),
        )
        .unwrap();
        (db, Vetting::new(store, VettingConfig::default()), clock)
    }

    fn customer(account: i64, email: &str) -> Customer {
        Customer {
            account,
            email: email.into(),
            name: "鈴木一郎".into(),
            language: Language::Ja,
            organization: None,
        }
    }

    fn links() -> PortalLinks {
        PortalLinks {
            base_url: "https://portal.example.jp".into(),
        }
    }

    fn form(level: Level) -> ApplicationForm {
        ApplicationForm {
            data: example(level),
            validity_days: 100,
        }
    }

    /// Rows in organizations, applications, outbox and the number
    /// counters.
    async fn rows(v: &Vetting) -> [i64; 4] {
        v.store()
            .read(|c| {
                Ok([
                    organizations::table.count().get_result(c)?,
                    applications::table.count().get_result(c)?,
                    outbox::table.count().get_result(c)?,
                    application_numbers::table.count().get_result(c)?,
                ])
            })
            .await
            .unwrap()
    }

    async fn check_all(v: &Vetting, org: OrganizationId, by: &str) {
        for json in [
            include_str!("../../conf/checks/existence.json"),
            include_str!("../../conf/checks/phone_intent.json"),
            include_str!("../../conf/checks/domain_scope.json"),
        ] {
            let r: CheckRecord = serde_json::from_str(json).unwrap();
            v.record_check(by, org, r, None).await.unwrap();
        }
    }

    /// A submission is the organization staff vet (pending, created by
    /// the customer), numbered without gaps, with its history, its audit
    /// event and the received notice to the customer.
    #[tokio::test]
    async fn a_submission_creates_the_organization_and_is_numbered() {
        let (_db, v, _clock) = vetting();
        let first = v
            .submit_application(
                &customer(1, "a@example.co.jp"),
                form(Level::Ov),
                "2026-12",
                &links(),
            )
            .await
            .unwrap();
        assert_eq!(first.number.as_str(), "A-2026-000001");
        let org = v.get(first.organization).await.unwrap();
        assert_eq!(org.status, VettingStatus::Pending);
        assert_eq!(org.created_by, "customer:a@example.co.jp");
        assert_eq!(org.data, example(Level::Ov));
        let second = v
            .submit_application(
                &customer(2, "b@example.co.jp"),
                form(Level::Ev),
                "2026-12",
                &links(),
            )
            .await
            .unwrap();
        assert_eq!(second.number.as_str(), "A-2026-000002");

        let (a, history) = v
            .application(first.organization, &first.number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.validity_days, a.agreement_version.as_str()),
            (100, "2026-12")
        );
        let kinds: Vec<EventKind> = history.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Submitted]);
        let notices = v
            .store()
            .read(|c| {
                Ok(outbox::table
                    .select((outbox::kind, outbox::recipient, outbox::subject))
                    .order(outbox::id)
                    .load::<(String, String, String)>(c)?)
            })
            .await
            .unwrap();
        assert_eq!(notices.len(), 2);
        assert_eq!(notices[0].0, "application.received");
        assert_eq!(notices[0].1, "a@example.co.jp");
        assert!(notices[0].2.contains("A-2026-000001"), "{}", notices[0].2);
        let audit = v.audit(Some(first.organization), 10).await.unwrap();
        let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
        assert!(
            actions.contains(&"application.submit") && actions.contains(&"organization.create"),
            "{actions:?}"
        );
        assert!(audit.iter().all(|e| e.actor == "customer:a@example.co.jp"));
    }

    /// A wrong form (here a 法人番号 with a wrong check digit and a
    /// validity over the cap) stores nothing: no organization, no
    /// application, no notice, and no number is used up.
    #[tokio::test]
    async fn a_wrong_application_stores_nothing() {
        let (_db, v, _clock) = vetting();
        let mut f = form(Level::Ov);
        f.data.corporate_number = Some("2180301018771".into());
        f.validity_days = 201;
        let p = problems(&f, START);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].field, "corporate_number", "{p:?}");
        assert!(matches!(p[0].wrong, Wrong::CheckDigit { .. }), "{p:?}");
        assert_eq!(p[1].field, "validity_days", "{p:?}");
        assert_eq!(p[1].wrong, Wrong::ValidityDays(200), "{p:?}");
        let e = v
            .submit_application(&customer(1, "a@example.co.jp"), f, "v", &links())
            .await
            .unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Malformed);
        assert_eq!(rows(&v).await, [0; 4]);
        let ok = v
            .submit_application(
                &customer(1, "a@example.co.jp"),
                form(Level::Ov),
                "v",
                &links(),
            )
            .await
            .unwrap();
        assert_eq!(ok.number.as_str(), "A-2026-000001");
        let mut again = customer(1, "a@example.co.jp");
        again.organization = Some(ok.organization);
        let e = v
            .submit_application(&again, form(Level::Ov), "v", &links())
            .await
            .unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Conflict);
    }

    /// Staff ask for documents; the customer sees the message, uploads a
    /// PDF (a renamed HTML file is refused and nothing is stored), staff
    /// approve with four eyes, and the application is approved. Another
    /// organization finds neither the application nor the document.
    #[tokio::test]
    async fn documents_then_approval() {
        let (_db, v, _clock) = vetting();
        let mut me = customer(1, "a@example.co.jp");
        let a = v
            .submit_application(&me, form(Level::Ov), "v", &links())
            .await
            .unwrap();
        me.organization = Some(a.organization);
        let other = v
            .submit_application(
                &customer(2, "b@example.co.jp"),
                form(Level::Ov),
                "v",
                &links(),
            )
            .await
            .unwrap();
        assert_eq!(
            v.status(a.organization).await.unwrap().progress,
            Some(Progress::Received)
        );

        let e = v
            .upload_documents(
                &me,
                vec![(
                    "a.pdf".into(),
                    "application/pdf".into(),
                    b"%PDF-1.4".to_vec(),
                )],
                1024,
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.kind,
            crate::error::ErrorKind::Conflict,
            "nothing was requested"
        );
        v.request_documents(
            "staff:alice#1",
            a.organization,
            "登記事項証明書をお送りください",
            &links(),
            10 << 20,
        )
        .await
        .unwrap();
        let s = v.status(a.organization).await.unwrap();
        assert_eq!(
            s.progress,
            Some(Progress::DocumentsRequested(
                "登記事項証明書をお送りください".into()
            ))
        );
        let bodies = v
            .store()
            .read(|c| {
                Ok(outbox::table
                    .filter(outbox::kind.eq("application.documents_requested"))
                    .select(outbox::body)
                    .load::<String>(c)?)
            })
            .await
            .unwrap();
        assert_eq!(bodies.len(), 1);
        assert!(
            bodies[0].contains("登記事項証明書をお送りください")
                && bodies[0].contains("https://portal.example.jp/documents")
        );

        let refused = v
            .upload_documents(
                &me,
                vec![
                    (
                        "ok.pdf".into(),
                        "application/pdf".into(),
                        b"%PDF-1.4 fine".to_vec(),
                    ),
                    (
                        "page.pdf".into(),
                        "application/pdf".into(),
                        b"<html><script>".to_vec(),
                    ),
                ],
                1024,
            )
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, "page.pdf");
        assert!(
            v.documents(a.organization).await.unwrap().is_empty(),
            "nothing stored"
        );

        let ids = v
            .upload_documents(
                &me,
                vec![(
                    "登記.pdf".into(),
                    "application/pdf".into(),
                    b"%PDF-1.4 fine".to_vec(),
                )],
                1024,
            )
            .await
            .unwrap()
            .unwrap();
        let (info, bytes) = v.document(a.organization, ids[0]).await.unwrap().unwrap();
        assert_eq!(
            (
                info.file_name.as_str(),
                info.content_type.as_str(),
                bytes.as_slice()
            ),
            ("登記.pdf", "application/pdf", &b"%PDF-1.4 fine"[..])
        );
        assert_eq!(info.sha256, sa::applications::sha256_hex(b"%PDF-1.4 fine"));
        assert!(v
            .document(other.organization, ids[0])
            .await
            .unwrap()
            .is_none());
        assert!(v
            .application(other.organization, &a.number)
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            v.status(a.organization).await.unwrap().progress,
            Some(Progress::InProgress)
        );

        check_all(&v, a.organization, "staff:alice#1").await;
        v.transition("staff:bob#2", a.organization, Transition::Approve, None)
            .await
            .unwrap();
        let s = v.status(a.organization).await.unwrap();
        assert_eq!(
            (s.standing.clone(), s.progress.clone()),
            (Standing::Approved, None)
        );
        assert!(s.vetting_until.is_some() && !s.renewable);
        let (a, history) = v
            .application(a.organization, &a.number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.status, ApplicationStatus::Approved);
        assert_eq!(a.decided_by.as_deref(), Some("staff:bob#2"));
        let kinds: Vec<EventKind> = history.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::Submitted,
                EventKind::DocumentsRequested,
                EventKind::DocumentsUploaded,
                EventKind::Approved
            ]
        );
    }

    /// Renewal: refused before the window; unchanged, the approval stands
    /// while staff check again and renew (four eyes); edited, back to
    /// pending.
    #[tokio::test]
    async fn renewal_unchanged_keeps_the_approval_until_renewed() {
        let (_db, v, clock) = vetting();
        let mut me = customer(1, "a@example.co.jp");
        let a = v
            .submit_application(&me, form(Level::Ov), "v", &links())
            .await
            .unwrap();
        me.organization = Some(a.organization);
        check_all(&v, a.organization, "staff:alice#1").await;
        v.transition("staff:bob#2", a.organization, Transition::Approve, None)
            .await
            .unwrap();

        let e = v
            .renew_application(&me, form(Level::Ov), "v", &links())
            .await
            .unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Conflict, "{e:?}");
        let e = v
            .transition("staff:bob#2", a.organization, Transition::Renew, None)
            .await
            .unwrap_err();
        assert!(e.detail.contains("no renewal application"), "{e:?}");

        clock.advance(Duration::days(398 - 20));
        let s = v.status(a.organization).await.unwrap();
        assert_eq!(s.standing, Standing::Expiring);
        assert!(s.renewable);
        let r = v
            .renew_application(&me, form(Level::Ov), "v2", &links())
            .await
            .unwrap();
        assert_eq!(
            (r.kind, r.number.as_str()),
            (ApplicationKind::Renewal, "A-2027-000001")
        );
        let org = v.get(a.organization).await.unwrap();
        assert_eq!(
            org.effective_status(clock.now(), v.max_age()),
            VettingStatus::Approved,
            "still approved"
        );
        let s = v.status(a.organization).await.unwrap();
        assert_eq!((s.progress, s.renewable), (Some(Progress::Received), false));

        let e = v
            .transition("staff:bob#2", a.organization, Transition::Renew, None)
            .await
            .unwrap_err();
        assert!(
            e.detail.contains("not recorded"),
            "old checks do not count: {e:?}"
        );
        check_all(&v, a.organization, "staff:alice#1").await;
        let e = v
            .transition("staff:alice#1", a.organization, Transition::Renew, None)
            .await
            .unwrap_err();
        assert!(e.detail.contains("four-eyes"), "{e:?}");
        v.transition("staff:bob#2", a.organization, Transition::Renew, None)
            .await
            .unwrap();
        let org = v.get(a.organization).await.unwrap();
        assert_eq!(org.vetted_at, Some(clock.now()));
        let (r, history) = v
            .application(a.organization, &r.number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, ApplicationStatus::Approved);
        let kinds: Vec<EventKind> = history.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Renewed, EventKind::Approved]);
    }

    #[tokio::test]
    async fn an_edited_renewal_goes_back_to_vetting() {
        let (_db, v, clock) = vetting();
        let mut me = customer(1, "a@example.co.jp");
        let a = v
            .submit_application(&me, form(Level::Ov), "v", &links())
            .await
            .unwrap();
        me.organization = Some(a.organization);
        check_all(&v, a.organization, "staff:alice#1").await;
        v.transition("staff:bob#2", a.organization, Transition::Approve, None)
            .await
            .unwrap();
        clock.advance(Duration::days(400));
        assert_eq!(
            v.status(a.organization).await.unwrap().standing,
            Standing::Expired
        );
        let mut edited = form(Level::Ov);
        edited.data.office.street = "丸の内2-2-2".into();
        v.renew_application(&me, edited.clone(), "v", &links())
            .await
            .unwrap();
        let org = v.get(a.organization).await.unwrap();
        assert_eq!(
            (org.status, org.data.office.street.as_str()),
            (VettingStatus::Pending, "丸の内2-2-2")
        );
        let s = v.status(a.organization).await.unwrap();
        assert_eq!(
            (s.standing, s.progress),
            (Standing::Pending, Some(Progress::Received))
        );
        let e = v
            .renew_application(&me, edited, "v", &links())
            .await
            .unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Conflict);
    }
}
