//! The pages: what each shows, gathered from `Vetting` and the store, and
//! rendered through its template.

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use time::{Duration, OffsetDateTime};

use super::forms::{self, Form, Posted};
use super::i18n::{field_label, section_label, OrgText, Text};
use super::session::Session;
use super::web::{encode, field, html, see_other};
use super::Ctx;
use crate::core::staff::StaffRole;
use crate::core::OrganizationId;
use crate::error::{Error, ErrorKind, Result};
use crate::sa;
use crate::vetting::checks::{approval_blockers, AgeRule, Transition, VettingStatus};
use crate::vetting::queue::{QueueEntry, QueueQuery};
use crate::vetting::{Organization, Vetting};

/// Organizations per queue page.
const PAGE_SIZE: usize = 50;
/// Audit events shown on an organization's page (newest first).
const AUDIT_SHOWN: i64 = 200;
/// The newest certificates an organization's page lists; the rest are a
/// link away (`/console/certificates?org=ID`, paged): one organization
/// may hold tens of thousands.
const CERTS_SHOWN: usize = 20;
/// An approval this close to its end is flagged in the queue.
const EXPIRY_WARNING: Duration = Duration::days(30);
/// The statuses the queue offers, pending first: the desk's work.
const STATUSES: [&str; 5] = ["pending", "suspended", "expired", "approved", "rejected"];
/// The decisions the console offers (reopen stays in the API and CLI).
const DECISIONS: [&str; 4] = ["approve", "reject", "suspend", "reinstate"];

/// What every page's frame shows.
pub struct Chrome {
    pub t: &'static Text,
    pub lang: &'static str,
    pub title: String,
    /// The signed-in member's name, and the session's CSRF token.
    pub me: Option<(String, String)>,
    /// The language switch's link.
    pub switch_href: String,
    pub switch_name: &'static str,
}

pub(super) fn chrome(s: Option<&Session>, ctx: &Ctx, title: &str) -> Chrome {
    let other = ctx.lang.other();
    Chrome {
        t: ctx.lang.text(),
        lang: ctx.lang.code(),
        title: title.to_owned(),
        me: s.map(|s| (s.staff.name.clone(), s.csrf.clone())),
        switch_href: format!(
            "/console/lang?to={}&return={}",
            other.code(),
            encode(&ctx.here)
        ),
        switch_name: other.text().lang_name,
    }
}

pub(super) fn render<T: Template>(status: StatusCode, page: &T) -> Result<Response<Full<Bytes>>> {
    let body = page
        .render()
        .map_err(|e| Error::internal(format!("rendering a console page: {e}")))?;
    Ok(html(status, body))
}

/// To the second, in UTC: what staff compare with the audit log.
pub(super) fn date(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    c: Chrome,
    error: Option<&'static str>,
    csrf: &'a str,
    back: &'a str,
}

pub fn login(
    ctx: &Ctx,
    status: StatusCode,
    error: Option<&'static str>,
    csrf: &str,
    back: &str,
) -> Result<Response<Full<Bytes>>> {
    let c = chrome(None, ctx, ctx.lang.text().login_title);
    render(
        status,
        &LoginPage {
            c,
            error,
            csrf,
            back,
        },
    )
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    c: Chrome,
    message: &'a str,
}

/// A refusal or a plain message, as a page.
pub fn message(
    s: Option<&Session>,
    ctx: &Ctx,
    status: StatusCode,
    message: &str,
) -> Result<Response<Full<Bytes>>> {
    let c = chrome(s, ctx, message);
    render(status, &MessagePage { c, message })
}

struct QueueRow {
    href: String,
    name: String,
    level: &'static str,
    status: &'static str,
    created: String,
    blockers: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage {
    c: Chrome,
    /// The link to a new organization's form (role `vet`).
    may_vet: bool,
    o: &'static OrgText,
    q: String,
    status: String,
    statuses: Vec<(&'static str, bool)>,
    rows: Vec<QueueRow>,
    next: Option<String>,
}

struct Field {
    section: &'static str,
    label: &'static str,
    key: String,
    value: String,
}

struct CheckRow {
    kind: &'static str,
    passed: bool,
    details: String,
    by: String,
    performed: String,
    recorded: String,
}

struct EabRow {
    key_id: String,
    note: String,
    state: &'static str,
    created: String,
    /// Not revoked yet: the revoke link is offered (role `vet`).
    revocable: bool,
}

struct CertRow {
    serial: String,
    not_after: String,
    revoked: bool,
}

struct AuditRow {
    at: String,
    actor: String,
    action: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "console/organization.html")]
struct OrganizationPage {
    c: Chrome,
    id: i64,
    name: String,
    level: &'static str,
    status: &'static str,
    status_reason: String,
    approved_by: String,
    vetted_at: String,
    fields: Vec<Field>,
    checks: Vec<CheckRow>,
    needs: Vec<String>,
    accounts: Vec<i64>,
    eabs: Vec<EabRow>,
    /// The newest `CERTS_SHOWN`; `more_certs` when there are others.
    certs: Vec<CertRow>,
    more_certs: bool,
    audit: Vec<AuditRow>,
    /// (action, button label) the member may take from this status.
    decisions: Vec<(&'static str, &'static str)>,
    csrf: String,
    error: Option<String>,
    /// The check forms of the organization's level (for the vet role).
    check_forms: Vec<CheckForm>,
    may_vet: bool,
    o: &'static OrgText,
    /// The application form (role `vet`).
    edit: Option<Form>,
    /// The EV checks with nested records (role `vet`, EV organizations).
    ev_forms: Vec<Form>,
    /// The trust seal's HTML to embed, once the organization was approved.
    seal: Option<String>,
    /// Applications from the portal, their histories and documents.
    apps: super::applications::Section,
}

/// One kind of check's form: which inputs it has.
struct CheckForm {
    kind: &'static str,
    title: &'static str,
    /// A third-party source select, named so (`source`, `number_source`).
    source: Option<&'static str>,
    /// Text inputs: (name, label).
    texts: Vec<(&'static str, &'static str)>,
    /// The yes/no field (`passed`, or `confirmed` for the intent call).
    verdict: &'static str,
}

/// The forms of the checks `level` requires that have flat fields; the
/// EVG items with nested records (place of business, operational
/// existence, communication, authority, screening) are recorded through
/// the API or the CLI.
fn check_forms(t: &'static Text, level: crate::core::organization::Level) -> Vec<CheckForm> {
    use crate::vetting::checks::CheckKind;
    CheckKind::required(level)
        .iter()
        .filter_map(|k| {
            let (source, texts, verdict): (_, Vec<(&'static str, &'static str)>, _) = match k {
                CheckKind::Existence => {
                    (Some("source"), vec![("reference", t.reference)], "passed")
                }
                CheckKind::PhoneIntent => (
                    Some("number_source"),
                    vec![
                        ("number_called", t.number_called),
                        ("person_reached", t.person_reached),
                    ],
                    "confirmed",
                ),
                CheckKind::EvRegistration => (None, vec![("reference", t.reference)], "passed"),
                CheckKind::DomainScope | CheckKind::EvBusinessCategory => (None, vec![], "passed"),
                _ => return None,
            };
            Some(CheckForm {
                kind: k.as_str(),
                title: k.describe(),
                source,
                texts,
                verdict,
            })
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/eab.html")]
struct EabCreatedPage {
    c: Chrome,
    org: i64,
    name: String,
    key_id: String,
    hmac_key: String,
    certbot: String,
}

#[derive(Template)]
#[template(path = "console/password.html")]
struct PasswordPage {
    c: Chrome,
    error: Option<String>,
    csrf: String,
}

/// The pages behind a session.
pub struct Views<'a> {
    pub vetting: &'a Vetting,
    /// `publish.seal_base_url`, for the trust seal's embed snippet.
    pub seal_base: &'a str,
    pub s: &'a Session,
    pub ctx: &'a Ctx,
}

impl Views<'_> {
    fn t(&self) -> &'static Text {
        self.ctx.lang.text()
    }

    /// The queue: one status at a time, oldest first, `PAGE_SIZE` per page
    /// after the id in `after`, filtered by `q`.
    pub async fn queue(&self, query: &[(String, String)]) -> Result<Response<Full<Bytes>>> {
        let status = field(query, "status")
            .filter(|s| STATUSES.contains(s))
            .unwrap_or("pending");
        let q = field(query, "q").unwrap_or_default().trim().to_owned();
        let after: i64 = field(query, "after")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let wanted = VettingStatus::parse(status).ok_or_else(|| Error::internal("queue status"))?;
        let mut page = self
            .vetting
            .queue(QueueQuery {
                status: wanted,
                search: q.clone(),
                after: (after > 0).then_some(OrganizationId(after)),
                limit: PAGE_SIZE + 1,
            })
            .await?;
        let next = (page.len() > PAGE_SIZE).then(|| {
            page.truncate(PAGE_SIZE);
            let last = page.last().map_or(0, |e| e.organization.id.0);
            format!("/console/?status={status}&q={}&after={last}", encode(&q))
        });
        let rows = page.iter().map(|e| self.queue_row(e)).collect();
        let c = chrome(Some(self.s), self.ctx, self.t().queue);
        let statuses = STATUSES.iter().map(|s| (*s, *s == status)).collect();
        let status = status.to_owned();
        render(
            StatusCode::OK,
            &QueuePage {
                c,
                may_vet: self.s.staff.may(StaffRole::Vet),
                o: self.ctx.lang.org(),
                q,
                status,
                statuses,
                rows,
                next,
            },
        )
    }

    /// A queue row from the page's entry (its checks came with it).
    fn queue_row(&self, e: &QueueEntry) -> QueueRow {
        let (o, now) = (&e.organization, self.vetting.clock().now());
        let status = o.effective_status(now, self.vetting.max_age());
        let mut blockers = Vec::new();
        if matches!(
            status,
            VettingStatus::Pending | VettingStatus::Expired | VettingStatus::Suspended
        ) {
            blockers = approval_blockers(
                o.data.level,
                &e.checks,
                o.data_changed_at,
                self.approver().as_deref(),
                AgeRule {
                    now,
                    cap: self.vetting.max_age(),
                },
            );
        }
        if let Some(end) = o.vetting_expires(self.vetting.max_age()) {
            if status == VettingStatus::Approved && end - EXPIRY_WARNING <= now {
                blockers.push(format!("{}: {}", self.t().expiring, date(end)));
            }
        }
        QueueRow {
            href: format!("/console/organizations/{}", o.id),
            name: o.data.legal_name.clone(),
            level: o.data.level.as_str(),
            status: status.as_str(),
            created: date(o.created_at),
            blockers,
        }
    }

    /// The member as approver for the four-eyes rule, when it applies
    /// (to members who may approve).
    fn approver(&self) -> Option<String> {
        (self.vetting.four_eyes() && self.s.staff.may(StaffRole::Approve))
            .then(|| self.s.staff.actor())
    }

    pub async fn organization(
        &self,
        id: &str,
        error: Option<(StatusCode, String)>,
    ) -> Result<Response<Full<Bytes>>> {
        self.organization_with(id, error, None).await
    }

    /// The page, with a refused form drawn again as it was posted.
    async fn organization_with(
        &self,
        id: &str,
        error: Option<(StatusCode, String)>,
        posted: Option<Posted>,
    ) -> Result<Response<Full<Bytes>>> {
        let Ok(id) = id.parse::<i64>().map(OrganizationId) else {
            return self.no_such();
        };
        let org = match self.vetting.get(id).await {
            Ok(o) => o,
            Err(e) if e.kind == ErrorKind::NotFound => return self.no_such(),
            Err(e) => return Err(e),
        };
        let page = self
            .organization_page(org, error.as_ref().map(|e| e.1.clone()), posted.as_ref())
            .await?;
        render(error.map_or(StatusCode::OK, |e| e.0), &page)
    }

    async fn organization_page(
        &self,
        org: Organization,
        error: Option<String>,
        posted: Option<&Posted>,
    ) -> Result<OrganizationPage> {
        let (t, id, now) = (self.t(), org.id, self.vetting.clock().now());
        let checks = self.vetting.checks(id).await?;
        let store = self.vetting.store();
        let accounts = store
            .read(move |c| sa::organizations::account_ids(c, id))
            .await?;
        let filter = sa::certificate_search::Filter {
            organization: Some(sa::certificate_search::OrgFilter::Id(id)),
            ..Default::default()
        };
        let mut certs = store
            .read(move |c| sa::certificate_search::search(c, &filter, None, CERTS_SHOWN as i64 + 1))
            .await?;
        let more_certs = certs.len() > CERTS_SHOWN;
        certs.truncate(CERTS_SHOWN);
        let eabs = self.vetting.list_eab(Some(id)).await?;
        let audit = self.vetting.audit(Some(id), AUDIT_SHOWN).await?;
        let seal = self.vetting.seal(id).await?;
        let status = org.effective_status(now, self.vetting.max_age());
        let may_vet = self.s.staff.may(StaffRole::Vet);
        let needs = approval_blockers(
            org.data.level,
            &checks,
            org.data_changed_at,
            self.approver().as_deref(),
            AgeRule {
                now,
                cap: self.vetting.max_age(),
            },
        );
        let apps = self.applications_section(id).await?;
        let mut decisions: Vec<(&'static str, &'static str)> =
            if self.s.staff.may(StaffRole::Approve) {
                DECISIONS
                    .iter()
                    .filter(|d| transition(d).is_some_and(|tr| tr.apply(status).is_some()))
                    .map(|d| (*d, t.transition(d)))
                    .collect()
            } else {
                Vec::new()
            };
        // A renewal is decided only while one is open.
        if apps.renewal_open
            && self.s.staff.may(StaffRole::Approve)
            && Transition::Renew.apply(status).is_some()
        {
            decisions.insert(0, ("renew", apps.a.renew));
        }
        Ok(OrganizationPage {
            c: chrome(Some(self.s), self.ctx, &org.data.legal_name),
            id: id.0,
            name: org.data.legal_name.clone(),
            level: org.data.level.as_str(),
            status: status.as_str(),
            status_reason: org.status_reason.clone().unwrap_or_default(),
            approved_by: org.approved_by.clone().unwrap_or_default(),
            vetted_at: org.vetted_at.map(date).unwrap_or_default(),
            fields: fields(&org),
            checks: checks.iter().rev().map(check_row).collect(),
            needs,
            accounts: accounts.iter().map(|a| a.0).collect(),
            eabs: eabs.iter().map(|e| eab_row(t, e, now)).collect(),
            certs: certs
                .into_iter()
                .map(|f| CertRow {
                    serial: f.serial,
                    not_after: date(f.not_after),
                    revoked: f.revoked,
                })
                .collect(),
            more_certs,
            audit: audit
                .into_iter()
                .map(|e| AuditRow {
                    at: date(e.at),
                    actor: e.actor,
                    action: e.action,
                    reason: e.reason.unwrap_or_default(),
                })
                .collect(),
            decisions,
            csrf: self.s.csrf.clone(),
            error,
            check_forms: check_forms(t, org.data.level),
            may_vet,
            o: self.ctx.lang.org(),
            edit: may_vet.then(|| forms::application(self.ctx.lang, id.0, &org.data, posted)),
            ev_forms: if may_vet && org.data.level == crate::core::organization::Level::Ev {
                forms::ev_forms(self.ctx.lang, id.0, posted)
            } else {
                Vec::new()
            },
            apps,
            seal: seal.map(|s| crate::publish::seal::snippet(self.seal_base, &s)),
        })
    }

    /// A decision from the organization page, as the signed-in member; a
    /// refusal (four eyes, missing checks, no reason) is shown beside the
    /// form.
    pub async fn transition(
        &self,
        id: &str,
        action: &str,
        reason: Option<&str>,
    ) -> Result<Response<Full<Bytes>>> {
        let (Some(t), Ok(org)) = (
            (DECISIONS.contains(&action) || action == "renew")
                .then(|| transition(action))
                .flatten(),
            id.parse::<i64>().map(OrganizationId),
        ) else {
            return self.no_such();
        };
        let reason = reason
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        match self
            .vetting
            .transition(&self.s.staff.actor(), org, t, reason)
            .await
        {
            Ok(_) => Ok(see_other(&format!("/console/organizations/{org}"))),
            Err(e) if matches!(e.kind, ErrorKind::Conflict | ErrorKind::Malformed) => {
                let status = if e.kind == ErrorKind::Conflict {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::BAD_REQUEST
                };
                let msg = format!("{}: {}", self.t().refused, e.detail);
                self.organization(id, Some((status, msg))).await
            }
            Err(e) => Err(e),
        }
    }
}

impl Views<'_> {
    /// A check from its form, recorded as the signed-in member; what
    /// vetting refuses is shown beside the forms.
    pub async fn record_check(
        &self,
        id: &str,
        kind: &str,
        form: &[(String, String)],
    ) -> Result<Response<Full<Bytes>>> {
        let Ok(org) = id.parse::<i64>().map(OrganizationId) else {
            return self.no_such();
        };
        if forms::EV_FORMS.contains(&kind) {
            return self.record_ev_check(id, org, kind, form).await;
        }
        let mut record = serde_json::Map::new();
        record.insert("kind".into(), kind.into());
        for (k, v) in form {
            match k.as_str() {
                "csrf" => {}
                "passed" | "confirmed" => {
                    record.insert(k.clone(), (v == "true").into());
                }
                _ => {
                    record.insert(k.clone(), v.trim().into());
                }
            }
        }
        let parsed = serde_json::from_value(serde_json::Value::Object(record))
            .map_err(|e| Error::malformed(format!("invalid check: {e}")));
        let actor = self.s.staff.actor();
        let result = match parsed {
            Ok(r) => self
                .vetting
                .record_check(&actor, org, r, None)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        self.after(id, org, result).await
    }

    /// A new EAB credential: its key shown this once, with certbot's
    /// command line.
    pub async fn create_eab(
        &self,
        id: &str,
        form: &[(String, String)],
        directory: &str,
    ) -> Result<Response<Full<Bytes>>> {
        let Ok(org) = id.parse::<i64>().map(OrganizationId) else {
            return self.no_such();
        };
        let days = field(form, "expires_days")
            .map(str::trim)
            .filter(|d| !d.is_empty());
        let expires_in = match days.map(str::parse::<u16>) {
            None => None,
            Some(Ok(d)) if d > 0 => Some(Duration::days(d.into())),
            Some(_) => {
                let e = Error::malformed("expires_days must be a whole number of days, at least 1");
                return self.after(id, org, Err(e)).await;
            }
        };
        let opts = crate::vetting::eab::CreateOptions {
            note: field(form, "note").unwrap_or_default().trim().to_owned(),
            single_use: field(form, "single_use") == Some("on"),
            expires_in,
        };
        let issued = match self
            .vetting
            .create_eab(&self.s.staff.actor(), org, opts)
            .await
        {
            Ok(i) => i,
            Err(e) => return self.after(id, org, Err(e)).await,
        };
        let o = self.vetting.get(org).await?;
        let domain = o
            .data
            .domains
            .first()
            .map(|d| d.name.to_string())
            .unwrap_or_default();
        let key_id = issued.credential.key_id.clone();
        let certbot = format!(
            "certbot certonly --server {directory} --eab-kid {key_id} --eab-hmac-key {} -d {domain}",
            issued.hmac_key
        );
        let page = EabCreatedPage {
            c: chrome(Some(self.s), self.ctx, self.t().eab_created),
            org: org.0,
            name: o.data.legal_name,
            key_id,
            hmac_key: issued.hmac_key,
            certbot,
        };
        render(StatusCode::OK, &page)
    }

    pub fn password_page(
        &self,
        status: StatusCode,
        error: Option<String>,
    ) -> Result<Response<Full<Bytes>>> {
        let page = PasswordPage {
            c: chrome(Some(self.s), self.ctx, self.t().password_title),
            error,
            csrf: self.s.csrf.clone(),
        };
        render(status, &page)
    }

    /// Replaces the member's password (the one-time one, or any): the
    /// session proves who; `vetting` checks the length.
    pub async fn change_password(&self, new: &str, again: &str) -> Result<Response<Full<Bytes>>> {
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            new.as_bytes(),
            again.as_bytes(),
        )) {
            let e = self.t().passwords_differ.to_owned();
            return self.password_page(StatusCode::BAD_REQUEST, Some(e));
        }
        match self.vetting.change_password(&self.s.staff, new).await {
            Ok(()) => Ok(see_other("/console/")),
            Err(e) if e.kind == ErrorKind::Malformed => {
                self.password_page(StatusCode::BAD_REQUEST, Some(e.detail))
            }
            Err(e) => Err(e),
        }
    }

    /// After a form: back to the page, or the page with the refusal.
    async fn after(
        &self,
        id: &str,
        org: OrganizationId,
        result: Result<()>,
    ) -> Result<Response<Full<Bytes>>> {
        match result {
            Ok(()) => Ok(see_other(&format!("/console/organizations/{org}"))),
            Err(e) if matches!(e.kind, ErrorKind::Conflict | ErrorKind::Malformed) => {
                let status = if e.kind == ErrorKind::Conflict {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::BAD_REQUEST
                };
                let msg = format!("{}: {}", self.t().refused, e.detail);
                self.organization(id, Some((status, msg))).await
            }
            Err(e) if e.kind == ErrorKind::NotFound => self.no_such(),
            Err(e) => Err(e),
        }
    }
}

/// The organization page's larger forms: the application, the EV checks,
/// revoking a credential.
impl Views<'_> {
    /// The application as posted, through `Vetting::edit` (back to
    /// pending, audited); refused, nothing changes and the form comes back
    /// as posted with each problem beside its field.
    pub async fn edit_application(
        &self,
        id: &str,
        form: &[(String, String)],
    ) -> Result<Response<Full<Bytes>>> {
        let Ok(org) = id.parse::<i64>().map(OrganizationId) else {
            return self.no_such();
        };
        let current = match self.vetting.get(org).await {
            Ok(o) => o,
            Err(e) if e.kind == ErrorKind::NotFound => return self.no_such(),
            Err(e) => return Err(e),
        };
        let data = match forms::parse_application(self.ctx.lang, form) {
            Ok(d) => d,
            Err(errors) => return self.refused_form(id, forms::EDIT, form, errors).await,
        };
        if data == current.data {
            let note = self.ctx.lang.org().no_change.to_owned();
            return self.organization(id, Some((StatusCode::OK, note))).await;
        }
        let result = self
            .vetting
            .edit(&self.s.staff.actor(), org, data)
            .await
            .map(|_| ());
        self.after(id, org, result).await
    }

    /// An EV check from its own form, as the signed-in member.
    async fn record_ev_check(
        &self,
        id: &str,
        org: OrganizationId,
        kind: &str,
        form: &[(String, String)],
    ) -> Result<Response<Full<Bytes>>> {
        let today = self.vetting.clock().now().date();
        let record = match forms::parse_ev_check(self.ctx.lang, kind, form, today) {
            Ok(r) => r,
            Err(errors) => {
                let form_id = format!("check-{kind}");
                return self.refused_form(id, &form_id, form, errors).await;
            }
        };
        let result = self
            .vetting
            .record_check(&self.s.staff.actor(), org, record, None)
            .await
            .map(|_| ());
        self.after(id, org, result).await
    }

    /// The page again, 400, with the form as posted and its problems.
    async fn refused_form(
        &self,
        id: &str,
        form_id: &str,
        form: &[(String, String)],
        errors: Vec<(String, String)>,
    ) -> Result<Response<Full<Bytes>>> {
        let posted = Posted::new(form_id, form, errors);
        let note = format!("{}: {}", self.t().refused, self.ctx.lang.org().fix_fields);
        self.organization_with(id, Some((StatusCode::BAD_REQUEST, note)), Some(posted))
            .await
    }

    /// The confirmation before revoking a credential: the accounts that
    /// revocation deactivates, and the reason asked for. With `reason`
    /// (the confirmation posted), revokes through `Vetting::revoke_eab`.
    pub async fn revoke_eab(
        &self,
        id: &str,
        key_id: &str,
        reason: Option<&str>,
    ) -> Result<Response<Full<Bytes>>> {
        let Ok(org) = id.parse::<i64>().map(OrganizationId) else {
            return self.no_such();
        };
        let (cred, accounts) = match self.vetting.revocation_preview(org, key_id).await {
            Ok(p) => p,
            Err(e) if e.kind == ErrorKind::NotFound => return self.no_such(),
            Err(e) => return Err(e),
        };
        let o = self.ctx.lang.org();
        let revoked = cred.revoked_at.is_some();
        let mut error = revoked.then(|| o.already_revoked.to_owned());
        if let (Some(reason), false) = (reason.map(str::trim), revoked) {
            if reason.is_empty() {
                error = Some(o.reason_required.to_owned());
            } else {
                match self
                    .vetting
                    .revoke_eab(&self.s.staff.actor(), key_id, reason)
                    .await
                {
                    Ok(()) => return Ok(see_other(&format!("/console/organizations/{org}"))),
                    Err(e) if e.kind == ErrorKind::Conflict => error = Some(e.detail),
                    Err(e) => return Err(e),
                }
            }
        }
        let status = match (&error, reason) {
            (Some(_), Some(_)) => StatusCode::BAD_REQUEST,
            _ => StatusCode::OK,
        };
        let page = RevokeEabPage {
            c: chrome(Some(self.s), self.ctx, o.revoke_title),
            o,
            org: org.0,
            key_id: cred.key_id,
            note: cred.note,
            created: date(cred.created_at),
            accounts: accounts.iter().map(|a| a.0).collect(),
            revocable: cred.revoked_at.is_none(),
            error,
            csrf: self.s.csrf.clone(),
        };
        render(status, &page)
    }

    /// The console's 404 page.
    pub(super) fn no_such(&self) -> Result<Response<Full<Bytes>>> {
        message(
            Some(self.s),
            self.ctx,
            StatusCode::NOT_FOUND,
            self.t().not_found,
        )
    }
}

#[derive(Template)]
#[template(path = "console/organization_new.html")]
struct NewOrganizationPage {
    c: Chrome,
    o: &'static OrgText,
    form: Form,
    csrf: String,
}

/// A new organization entered by staff from an application received on
/// paper or by e-mail (role `vet`, checked by the router).
impl Views<'_> {
    pub fn new_organization(
        &self,
        status: StatusCode,
        posted: Option<&Posted>,
    ) -> Result<Response<Full<Bytes>>> {
        let o = self.ctx.lang.org();
        let page = NewOrganizationPage {
            c: chrome(Some(self.s), self.ctx, o.new_title),
            o,
            form: forms::new_application(self.ctx.lang, posted),
            csrf: self.s.csrf.clone(),
        };
        render(status, &page)
    }

    /// Creates it, pending, as the signed-in member; refused, nothing is
    /// stored and the form comes back as posted with its problems.
    pub async fn create_organization(
        &self,
        form: &[(String, String)],
    ) -> Result<Response<Full<Bytes>>> {
        let refused = |errors| {
            let posted = Posted::new(forms::NEW, form, errors);
            self.new_organization(StatusCode::BAD_REQUEST, Some(&posted))
        };
        let data = match forms::parse_application(self.ctx.lang, form) {
            Ok(d) => d,
            Err(errors) => return refused(errors),
        };
        match self.vetting.create(&self.s.staff.actor(), data).await {
            Ok(org) => Ok(see_other(&format!("/console/organizations/{}", org.id))),
            Err(e) if e.kind == ErrorKind::Malformed => refused(vec![(String::new(), e.detail)]),
            Err(e) => Err(e),
        }
    }
}

#[derive(Template)]
#[template(path = "console/eab_revoke.html")]
struct RevokeEabPage {
    c: Chrome,
    o: &'static OrgText,
    org: i64,
    key_id: String,
    note: String,
    created: String,
    /// The valid accounts bound through the credential.
    accounts: Vec<i64>,
    revocable: bool,
    error: Option<String>,
    csrf: String,
}

fn transition(name: &str) -> Option<Transition> {
    serde_json::from_value(serde_json::json!(name)).ok()
}

/// Every field of the application, flattened in the order it is stored.
fn fields(org: &Organization) -> Vec<Field> {
    let mut out = Vec::new();
    flatten(
        "",
        &serde_json::to_value(&org.data).unwrap_or_default(),
        &mut out,
    );
    out
}

fn flatten(path: &str, v: &serde_json::Value, out: &mut Vec<Field>) {
    use serde_json::Value;
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| flatten(&join(k), v, out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(&join(&i.to_string()), v, out)),
        leaf => out.push(Field {
            section: section_label(path),
            label: field_label(path),
            key: path.to_owned(),
            value: match leaf {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            },
        }),
    }
}

fn check_row(c: &crate::vetting::checks::Check) -> CheckRow {
    let details = match serde_json::to_value(&c.record) {
        Ok(serde_json::Value::Object(m)) => m
            .iter()
            .filter(|(k, v)| !matches!(k.as_str(), "kind" | "passed" | "confirmed") && !v.is_null())
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                v => format!("{k}: {v}"),
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    };
    CheckRow {
        kind: c.record.kind().describe(),
        passed: c.record.passed(),
        details,
        by: c.performed_by.clone(),
        performed: date(c.performed_at),
        recorded: date(c.recorded_at),
    }
}

fn eab_row(t: &'static Text, e: &crate::core::EabCredential, now: OffsetDateTime) -> EabRow {
    let state = if e.revoked_at.is_some() {
        t.revoked
    } else if e.single_use && e.used_at.is_some() {
        "used"
    } else if e.expires_at.is_some_and(|x| x <= now) {
        "expired"
    } else {
        "active"
    };
    EabRow {
        key_id: e.key_id.clone(),
        note: e.note.clone(),
        state,
        created: date(e.created_at),
        revocable: e.revoked_at.is_none(),
    }
}
