//! The staff console: server-rendered HTML pages on the admin listener
//! under `/console/`, for staff who log in with a password and a TOTP code
//! (`session`). It works without JavaScript; every page carries a strict
//! Content-Security-Policy (no script, one stylesheet from the binary);
//! every form carries the session's CSRF token. Pages are askama
//! templates (`templates/console/`), escaped by default, in Japanese or
//! English (`i18n`). Decisions are `Vetting`'s, made as the logged-in
//! member's identity.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header;
use hyper::{Method, Request, Response, StatusCode};
use time::Duration;

use crate::config::Config;
use crate::core::staff::StaffRole;
use crate::error::{ErrorKind, Result};
use crate::http::{self, Record};
use crate::vetting::Vetting;

mod applications;
mod audit;
mod certificates;
pub(crate) mod forms;
mod health;
pub(crate) mod i18n;
mod invoices;
mod notices;
mod pages;
mod session;
mod web;

use i18n::{Lang, LANG_COOKIE};
use session::{Session, Sessions};
use web::{cookie, field, local_path, see_other, set_cookie};

/// The endpoint names of the console's pages (the metrics' labels).
pub const ENDPOINTS: &[&str] = &[
    "/console/",
    "/console/login",
    "/console/logout",
    "/console/lang",
    "/console/style.css",
    "/console/organizations/{id}",
    "/console/organizations/{id}/{action}",
    "/console/organizations/{id}/checks/{kind}",
    "/console/organizations/{id}/eab",
    "/console/password",
    "/console/certificates",
    "/console/certificates/{serial}",
    "/console/certificates/{serial}/{pem}",
    "/console/certificates/{serial}/revoke",
    "/console/audit",
    "/console/audit.csv",
    "/console/health",
    "/console/notices",
    "/console/notices/{id}/resend",
    "/console/organizations/{id}/edit",
    "/console/organizations/{id}/eab/{key_id}/revoke",
    "/console/organizations/new",
    "/console/organizations/{id}/documents",
    "/console/organizations/{id}/documents/{document}",
    "/console/invoices",
    "/console/invoices.csv",
    "/console/invoices/{id}",
    "/console/invoices/{id}/pdf",
    "/console/invoices/{id}/paid",
    "/console/invoices/{id}/credit",
];

/// The one stylesheet, served from the binary.
const CSS: &str = include_str!("../../templates/console/style.css");
/// The login form's own CSRF cookie (no session exists yet).
const LOGIN_COOKIE: &str = "tg_login";
/// Login attempts per client address and window, beside the per-member
/// lockout that `vetting::staff` applies.
const LOGIN_ATTEMPTS: u32 = 20;
const LOGIN_WINDOW: Duration = Duration::minutes(5);

pub struct Console {
    vetting: Vetting,
    sessions: Sessions,
    limiter: web::Limiter,
    /// `Secure` on cookies: whenever the admin listener serves TLS.
    secure: bool,
    /// The ACME directory URL, for the certbot line of a new credential.
    directory: String,
    /// The intermediate's PEM, for the chain download; `None` until a CA
    /// is attached (`set_intermediate`).
    intermediate: Option<String>,
    /// For the health page: the CRLs' schedule, and the loaded
    /// intermediate's notAfter (readiness; `None` until a CA is attached).
    crl_schedule: health::CrlSchedule,
    ca_not_after: Option<time::OffsetDateTime>,
    /// The customer portal, for the links in a documents request, and
    /// the size limit of one uploaded file it states.
    portal: crate::vetting::applications::PortalLinks,
    documents_limit: usize,
    /// `publish.seal_base_url`, for the trust seal's embed snippet.
    seal_base: String,
    /// Invoicing, with `[billing]` (`set_billing`).
    billing: Option<crate::billing::Billing>,
}

/// What a page needs to know about the request.
struct Ctx {
    lang: Lang,
    /// The path and query, for the language switch and the return path.
    here: String,
}

impl Console {
    pub fn new(cfg: &Config, vetting: Vetting) -> Console {
        let sessions = Sessions::new(
            vetting.clone(),
            Duration::minutes(cfg.admin.session_idle_minutes.into()),
            Duration::hours(cfg.admin.session_absolute_hours.into()),
        );
        Console {
            vetting,
            sessions,
            limiter: web::Limiter::new(LOGIN_ATTEMPTS, LOGIN_WINDOW),
            secure: cfg.admin.tls.is_some(),
            directory: format!("{}{}", cfg.base_url(), crate::core::urls::DIRECTORY),
            intermediate: None,
            crl_schedule: health::CrlSchedule::new(&cfg.publish),
            ca_not_after: None,
            portal: crate::vetting::applications::PortalLinks {
                base_url: cfg.base_url(),
            },
            documents_limit: 10 << 20,
            seal_base: cfg.publish.seal_base_url(),
            billing: None,
        }
    }

    /// The invoices' pages work on `billing`.
    pub fn set_billing(&mut self, billing: Option<crate::billing::Billing>) {
        self.billing = billing;
    }

    /// The issuing intermediate (PEM), served after a certificate in its
    /// chain download.
    pub fn set_intermediate(&mut self, pem: &str) {
        self.intermediate = Some(pem.to_owned());
    }

    /// The loaded intermediate's notAfter, which readiness checks.
    pub fn set_ca_not_after(&mut self, t: Option<time::OffsetDateTime>) {
        self.ca_not_after = t;
    }

    /// Whether `path` is the console's.
    pub fn serves(path: &str) -> bool {
        path == "/console" || path.starts_with("/console/")
    }

    /// Answers a console request; an `Err` is an internal failure only.
    pub async fn handle(
        &self,
        req: Request<http::Body>,
        record: &mut Record,
    ) -> Result<Response<Full<Bytes>>> {
        let path = record.path.clone();
        let h = req.headers();
        let ctx = Ctx {
            lang: Lang::pick(
                cookie(h, LANG_COOKIE),
                h.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
            ),
            here: req
                .uri()
                .path_and_query()
                .map_or(path.clone(), |p| p.as_str().to_owned()),
        };
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let method = req.method().clone();
        let (endpoint, page) = match (&method, segs.as_slice()) {
            (&Method::GET, ["console", "style.css"]) => (ENDPOINTS[4], Page::Css),
            (&Method::GET, ["console", "lang"]) => (ENDPOINTS[3], Page::Lang),
            (_, ["console", "login"]) => (ENDPOINTS[1], Page::Login),
            (&Method::POST, ["console", "logout"]) => (ENDPOINTS[2], Page::Logout),
            (_, ["console", "password"]) => (ENDPOINTS[9], Page::Password),
            (&Method::GET, ["console"] | ["console", ""]) => (ENDPOINTS[0], Page::Queue),
            (&Method::GET, ["console", "audit"]) => ("/console/audit", Page::Audit),
            (&Method::GET, ["console", "audit.csv"]) => ("/console/audit.csv", Page::AuditCsv),
            (&Method::GET, ["console", "health"]) => ("/console/health", Page::Health),
            (&Method::GET, ["console", "notices"]) => ("/console/notices", Page::Notices),
            (&Method::GET, ["console", "invoices"]) => ("/console/invoices", Page::Invoices),
            (&Method::GET, ["console", "invoices.csv"]) => {
                ("/console/invoices.csv", Page::InvoicesCsv)
            }
            (&Method::GET, ["console", "invoices", id]) => {
                ("/console/invoices/{id}", Page::Invoice(id.to_string()))
            }
            (&Method::GET, ["console", "invoices", id, "pdf"]) => (
                "/console/invoices/{id}/pdf",
                Page::InvoicePdf(id.to_string()),
            ),
            (&Method::POST, ["console", "invoices", id, "paid"]) => (
                "/console/invoices/{id}/paid",
                Page::InvoicePaid(id.to_string()),
            ),
            (&Method::POST, ["console", "invoices", id, "credit"]) => (
                "/console/invoices/{id}/credit",
                Page::InvoiceCredit(id.to_string()),
            ),
            (&Method::POST, ["console", "notices", id, "resend"]) => (
                "/console/notices/{id}/resend",
                Page::ResendNotice(id.to_string()),
            ),
            (&Method::GET | &Method::POST, ["console", "organizations", "new"]) => {
                ("/console/organizations/new", Page::NewOrganization)
            }
            (&Method::GET, ["console", "organizations", id]) => {
                (ENDPOINTS[5], Page::Organization(id.to_string()))
            }
            (&Method::POST, ["console", "organizations", id, "checks", kind]) => {
                (ENDPOINTS[7], Page::Check(id.to_string(), kind.to_string()))
            }
            (&Method::POST, ["console", "organizations", id, "eab"]) => {
                (ENDPOINTS[8], Page::Eab(id.to_string()))
            }
            (&Method::GET, ["console", "certificates"]) => {
                ("/console/certificates", Page::Certificates)
            }
            (&Method::GET, ["console", "certificates", serial]) => (
                "/console/certificates/{serial}",
                Page::Certificate(serial.to_string()),
            ),
            (&Method::GET, ["console", "certificates", serial, pem]) => (
                "/console/certificates/{serial}/{pem}",
                Page::CertificatePem(serial.to_string(), pem.to_string()),
            ),
            (&Method::POST, ["console", "certificates", serial, "revoke"]) => (
                "/console/certificates/{serial}/revoke",
                Page::Revoke(serial.to_string()),
            ),
            (&Method::POST, ["console", "organizations", id, "documents"]) => (
                "/console/organizations/{id}/documents",
                Page::RequestDocuments(id.to_string()),
            ),
            (&Method::GET, ["console", "organizations", id, "documents", doc]) => (
                "/console/organizations/{id}/documents/{document}",
                Page::Document(id.to_string(), doc.to_string()),
            ),
            (&Method::POST, ["console", "organizations", id, "edit"]) => (
                "/console/organizations/{id}/edit",
                Page::Edit(id.to_string()),
            ),
            (
                &Method::GET | &Method::POST,
                ["console", "organizations", id, "eab", kid, "revoke"],
            ) => (
                "/console/organizations/{id}/eab/{key_id}/revoke",
                Page::RevokeEab(id.to_string(), kid.to_string()),
            ),
            (&Method::POST, ["console", "organizations", id, action]) => (
                ENDPOINTS[6],
                Page::Transition(id.to_string(), action.to_string()),
            ),
            _ => (ENDPOINTS[0], Page::NotFound),
        };
        record.endpoint = endpoint;
        match page {
            Page::Css => Ok(web::page(
                StatusCode::OK,
                "text/css; charset=utf-8",
                Bytes::from_static(CSS.as_bytes()),
            )),
            Page::Lang => Ok(self.switch_language(&req)),
            Page::Login if method == Method::POST => self.login(req, &ctx).await,
            Page::Login => self.login_page(&req, &ctx, StatusCode::OK, None),
            Page::NotFound => {
                pages::message(None, &ctx, StatusCode::NOT_FOUND, ctx.lang.text().not_found)
            }
            page => {
                let Some(s) = self.session(&req).await? else {
                    return Ok(to_login(&ctx.here, method == Method::GET));
                };
                record.staff = Some(s.staff.actor());
                self.authenticated(req, page, s, &ctx).await
            }
        }
    }

    async fn session(&self, req: &Request<http::Body>) -> Result<Option<Session>> {
        match cookie(req.headers(), session::COOKIE) {
            Some(id) => self.sessions.find(id).await,
            None => Ok(None),
        }
    }

    /// Pages behind a session; every POST proves its form came from one.
    async fn authenticated(
        &self,
        req: Request<http::Body>,
        page: Page,
        s: Session,
        ctx: &Ctx,
    ) -> Result<Response<Full<Bytes>>> {
        let is_post = req.method() == Method::POST;
        let query = web::form(req.uri().query().unwrap_or_default().as_bytes());
        let form = if is_post {
            web::form(&req.into_body()?)
        } else {
            Vec::new()
        };
        if is_post && !s.csrf_ok(field(&form, "csrf")) {
            let t = ctx.lang.text();
            return pages::message(Some(&s), ctx, StatusCode::FORBIDDEN, t.csrf_refused);
        }
        // A one-time password opens only the page that replaces it.
        if s.must_change_password && !matches!(page, Page::Password | Page::Logout) {
            return Ok(see_other("/console/password"));
        }
        if page.role().is_some_and(|r| !s.staff.may(r)) {
            let t = ctx.lang.text();
            return pages::message(Some(&s), ctx, StatusCode::FORBIDDEN, t.forbidden);
        }
        let v = pages::Views {
            vetting: &self.vetting,
            seal_base: &self.seal_base,
            s: &s,
            ctx,
        };
        match page {
            Page::Logout => {
                self.sessions.end_session(&s).await?;
                let mut r = see_other("/console/login");
                set_cookie(&mut r, self.cookie(session::COOKIE, "", "/console", true));
                Ok(r)
            }
            Page::Queue => v.queue(&query).await,
            Page::Audit => audit::page(&v, &query).await,
            Page::AuditCsv => audit::csv(&v, &query).await,
            Page::Health => health::page(&v, self.crl_schedule, self.ca_not_after).await,
            Page::Notices => notices::page(&v, &query).await,
            Page::ResendNotice(id) => notices::resend(&v, &id).await,
            Page::Invoices => invoices::list(&v, self.billing.as_ref(), &query).await,
            Page::InvoicesCsv => invoices::csv(&v, self.billing.as_ref(), &query).await,
            Page::Invoice(id) => invoices::document(&v, self.billing.as_ref(), &id, &query).await,
            Page::InvoicePdf(id) => invoices::pdf(&v, self.billing.as_ref(), &id).await,
            Page::InvoicePaid(id) => invoices::mark_paid(&v, self.billing.as_ref(), &id).await,
            Page::InvoiceCredit(id) => {
                invoices::credit(&v, self.billing.as_ref(), &id, &form).await
            }
            Page::Password if is_post => {
                let new = field(&form, "new").unwrap_or_default();
                let again = field(&form, "again").unwrap_or_default();
                v.change_password(new, again).await
            }
            Page::Password => v.password_page(StatusCode::OK, None),
            Page::Organization(id) => v.organization(&id, None).await,
            Page::Transition(id, action) => {
                v.transition(&id, &action, field(&form, "reason")).await
            }
            Page::Check(id, kind) => v.record_check(&id, &kind, &form).await,
            Page::Eab(id) => v.create_eab(&id, &form, &self.directory).await,
            Page::Certificates => v.certificates(&query).await,
            Page::Certificate(serial) => v.certificate(&serial, &query).await,
            Page::CertificatePem(serial, what) => {
                v.certificate_pem(&serial, &what, self.intermediate.as_deref())
                    .await
            }
            Page::Revoke(serial) => v.revoke(&serial, &form).await,
            Page::NewOrganization => {
                if is_post {
                    v.create_organization(&form).await
                } else {
                    v.new_organization(StatusCode::OK, None)
                }
            }
            Page::Edit(id) => v.edit_application(&id, &form).await,
            Page::RequestDocuments(id) => {
                v.request_documents(&id, &form, &self.portal, self.documents_limit)
                    .await
            }
            Page::Document(id, doc) => v.document(&id, &doc).await,
            Page::RevokeEab(id, kid) => {
                let reason = is_post.then(|| field(&form, "reason").unwrap_or_default());
                v.revoke_eab(&id, &kid, reason).await
            }
            _ => v.no_such(),
        }
    }

    fn login_page(
        &self,
        req: &Request<http::Body>,
        ctx: &Ctx,
        status: StatusCode,
        error: Option<&'static str>,
    ) -> Result<Response<Full<Bytes>>> {
        let query = web::form(req.uri().query().unwrap_or_default().as_bytes());
        let back = field(&query, "return")
            .and_then(local_path)
            .unwrap_or("/console/");
        let token = session::random_token(32)?;
        let mut r = pages::login(ctx, status, error, &token, back)?;
        set_cookie(
            &mut r,
            self.cookie(LOGIN_COOKIE, &token, "/console/login", false),
        );
        Ok(r)
    }

    /// Password and TOTP code, checked by `Vetting::login` (which locks a
    /// member out after repeated failures); one message for every failure.
    async fn login(&self, req: Request<http::Body>, ctx: &Ctx) -> Result<Response<Full<Bytes>>> {
        let t = ctx.lang.text();
        let expected = cookie(req.headers(), LOGIN_COOKIE).map(str::to_owned);
        let peer = req.extensions().get::<http::Peer>().map(|p| p.0.ip());
        let (parts, body) = req.into_parts();
        let form = web::form(&body?);
        let req = Request::from_parts(parts, Ok(Bytes::new()));
        let given = field(&form, "csrf");
        let csrf_ok = match (expected.as_deref(), given) {
            (Some(e), Some(g)) => {
                bool::from(subtle::ConstantTimeEq::ct_eq(e.as_bytes(), g.as_bytes()))
            }
            _ => false,
        };
        if !csrf_ok {
            return self.login_page(&req, ctx, StatusCode::FORBIDDEN, Some(t.csrf_refused));
        }
        let now = self.vetting.clock().now();
        if peer.is_some_and(|ip| !self.limiter.allow(ip, now)) {
            return self.login_page(&req, ctx, StatusCode::TOO_MANY_REQUESTS, Some(t.too_many));
        }
        let name = field(&form, "name").unwrap_or_default().trim();
        let password = field(&form, "password").unwrap_or_default();
        let code = field(&form, "code").unwrap_or_default().trim();
        let member = match self.vetting.login_audited(name, password, code, peer).await {
            Ok(m) => m,
            Err(e) if e.kind == ErrorKind::Unauthorized => {
                tracing::info!(reason = %e.detail, "console login refused");
                return self.login_page(&req, ctx, StatusCode::UNAUTHORIZED, Some(t.login_failed));
            }
            Err(e) => return Err(e),
        };
        let id = self.sessions.start(&member).await?;
        let back = field(&form, "return")
            .and_then(local_path)
            .unwrap_or("/console/");
        let mut r = see_other(back);
        set_cookie(&mut r, self.cookie(session::COOKIE, &id, "/console", false));
        set_cookie(
            &mut r,
            self.cookie(LOGIN_COOKIE, "", "/console/login", true),
        );
        Ok(r)
    }

    /// `GET /console/lang?to=en&return=/console/...`: the switch.
    fn switch_language(&self, req: &Request<http::Body>) -> Response<Full<Bytes>> {
        let q = web::form(req.uri().query().unwrap_or_default().as_bytes());
        let back = field(&q, "return")
            .and_then(local_path)
            .unwrap_or("/console/");
        let mut r = see_other(back);
        if let Some(l) = field(&q, "to").and_then(Lang::parse) {
            let secure = if self.secure { "; Secure" } else { "" };
            set_cookie(
                &mut r,
                format!(
                    "{LANG_COOKIE}={}; Path=/console; SameSite=Strict; Max-Age=31536000{secure}",
                    l.code()
                ),
            );
        }
        r
    }

    /// An HttpOnly, SameSite=Strict cookie; `clear` expires it.
    fn cookie(&self, name: &str, value: &str, path: &str, clear: bool) -> String {
        let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
        if clear {
            c.push_str("; Max-Age=0");
        }
        if self.secure {
            c.push_str("; Secure");
        }
        c
    }
}

enum Page {
    Css,
    Lang,
    Login,
    Logout,
    Queue,
    Organization(String),
    Transition(String, String),
    Check(String, String),
    Eab(String),
    Certificates,
    Certificate(String),
    CertificatePem(String, String),
    Revoke(String),
    NewOrganization,
    Edit(String),
    RevokeEab(String, String),
    Password,
    Audit,
    AuditCsv,
    Health,
    Notices,
    ResendNotice(String),
    RequestDocuments(String),
    Document(String, String),
    Invoices,
    InvoicesCsv,
    Invoice(String),
    InvoicePdf(String),
    InvoicePaid(String),
    InvoiceCredit(String),
    NotFound,
}

impl Page {
    /// The role a page needs beyond a session (checked before it is
    /// served, form or not); None: any signed-in member.
    fn role(&self) -> Option<StaffRole> {
        match self {
            Page::Audit | Page::AuditCsv | Page::Health | Page::Notices | Page::Document(..) => {
                Some(StaffRole::View)
            }
            Page::Invoices | Page::InvoicesCsv | Page::Invoice(_) | Page::InvoicePdf(_) => {
                Some(StaffRole::View)
            }
            // Recording a payment states a fact from the bank statement;
            // cancelling an invoice gives money back: an approver's.
            Page::InvoicePaid(_) => Some(StaffRole::Vet),
            Page::InvoiceCredit(_) => Some(StaffRole::Approve),
            // Revoking a credential is `vet`'s, as the API's: it only takes
            // rights away, and a leaked key must not wait for an approver.
            // Sending a customer's notice again takes no approval either:
            // it repeats what the CA already decided to tell.
            Page::Check(..)
            | Page::Eab(_)
            | Page::NewOrganization
            | Page::Edit(_)
            | Page::RevokeEab(..)
            | Page::ResendNotice(_)
            | Page::RequestDocuments(_) => Some(StaffRole::Vet),
            // Revoking a certificate ends a subscriber's certificate before
            // its time: a decision of the weight of approving or suspending
            // the organization, so the `approve` role's, not the vetters'
            // who gather evidence (BR 4.9.1 makes it the CA's act).
            Page::Transition(..) | Page::Revoke(_) => Some(StaffRole::Approve),
            _ => None,
        }
    }
}

/// No session (none, expired, ended): to the login page, coming back
/// here afterwards when this was a page (a form is not resubmitted).
fn to_login(here: &str, come_back: bool) -> Response<Full<Bytes>> {
    match come_back.then(|| local_path(here)).flatten() {
        Some(p) => see_other(&format!("/console/login?return={}", web::encode(p))),
        None => see_other("/console/login"),
    }
}
