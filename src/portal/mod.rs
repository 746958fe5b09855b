//! The customer portal: server-rendered pages on their own listener
//! (`portal.listen`) where subscribers sign up, accept the subscriber
//! agreement, apply, follow their vetting and get certificates. Like the
//! console it needs no JavaScript, carries a strict CSP (`http::page`)
//! and a CSRF token in every form; pages are askama templates in
//! `templates/portal/`, in Japanese or English (`i18n`). Decisions are
//! `vetting`'s (`vetting::customers` for accounts).
//!
//! # Adding pages (for the parts built on this foundation)
//!
//! 1. Name the page in [`Page`] and give it a route in [`route`] (its
//!    endpoint name, a path pattern, goes into [`ENDPOINTS`] too: the
//!    metrics' label).
//! 2. Answer it in [`Portal::signed_in`]: a page there always has a live
//!    [`Session`] (no session: redirected to `/login?return=…` for a GET),
//!    the customer has accepted the agreement in force (else every page
//!    redirects to `/agreement` first), and a POST's CSRF token has been
//!    checked (its fields are the [`Form`] handed in).
//! 3. Scope every read to the customer's organization:
//!    `let org = s.organization()?;` (no organization yet: 404), then load
//!    through it (`WHERE organization_id = org`) and turn a miss into a
//!    404 with [`found`]. An `Err` of kind `NotFound` renders the portal's
//!    404 page, `Malformed` a 400 page; other errors a 500 page without
//!    their detail.
//! 4. Render with [`pages::render`] and a template that
//!    `{% extends "portal/base.html" %}` and holds `c: pages::Chrome`
//!    (from [`pages::chrome`]`(Some(&s), ctx, title)`); refusals and
//!    confirmations with [`pages::message`]. Redirect after a POST with
//!    `http::page::see_other`.
//!
//! What a handler gets: [`Ctx`] (language, path and query, client
//! address), [`Session`] (`s.customer`: the account with its `id`,
//! `email`, `holder`, `language`, `organization`; `s.account()`,
//! `s.organization()`, `s.csrf` for the forms), [`Form`] (a POST's
//! fields), and [`Portal::vetting`] / [`Portal::base_url`].

use std::net::IpAddr;
use std::time::Duration as StdDuration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header;
use hyper::{Method, Request, Response, StatusCode};
use time::Duration;

use crate::billing::Billing;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::http::page::{cookie, field, local_path, random_token, same_secret, see_other};
use crate::http::{self, Answer, Listener, Record};
use crate::metrics::HttpMetrics;
use crate::ra::Ra;
use crate::vetting::customers::{LoginRefusal, SignUp, SignedUp};
use crate::vetting::staff::Secret;
use crate::vetting::Vetting;

pub mod applications;
mod certificates;
pub mod certs;
pub mod certs_text;
mod eab;
pub mod i18n;
mod invoices;
pub mod multipart;
mod orders;
pub mod pages;
mod seal;
pub mod session;
pub mod terms;

use i18n::{Lang, LANG_COOKIE};
pub use session::Session;

/// The endpoint names of the portal's pages (the metrics' labels).
pub const ENDPOINTS: &[&str] = &[
    "/",
    "/agreement",
    "/signup",
    "/signup/sent",
    "/verify",
    "/login",
    "/logout",
    "/lang",
    "/static/style.css",
    "/application/new",
    "/application/{number}",
    "/application/{number}/confirmation",
    "/status",
    "/documents",
    "/renew",
    // The certificate pages (`certs::ENDPOINTS`).
    "/certificates",
    "/certificates/{serial}",
    "/certificates/{serial}.{format}",
    "/eab",
    "/eab/{key_id}/revoke",
    "/orders/new",
    "/orders/{id}",
    "/orders/{id}/check",
    "/orders/{id}/repeat",
    "/terms/acme/{account}",
    "/invoices",
    "/invoices/{id}.pdf",
    "/seal",
];

/// The one stylesheet, served from the binary.
const CSS: &str = include_str!("../../templates/portal/style.css");
/// The development agreement, used when `agreement.text_file` is unset.
const DEVELOPMENT_AGREEMENT: &str =
    include_str!("../../templates/portal/agreement.development.txt");
/// The CSRF cookie of the forms shown before a session exists (sign-up,
/// login, e-mail confirmation): its value must come back in the form.
const FORM_COOKIE: &str = "tg_portal_form";
/// A sign-up form with every field filled is well under this; uploads
/// (documents) are the applications part's, with their own limit.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Bound on one request.
const TIMEOUT: StdDuration = StdDuration::from_secs(30);

/// The subscriber agreement in force.
#[derive(Debug, Clone)]
pub struct Agreement {
    pub version: String,
    pub text: String,
}

impl Agreement {
    /// From `[agreement]`: its file (relative to `data_dir`), or the
    /// bundled development text.
    pub fn from_config(cfg: &Config) -> Result<Agreement> {
        let text = match &cfg.agreement.text_file {
            Some(p) => std::fs::read_to_string(cfg.data_path(p)).map_err(|e| {
                Error::internal(format!("reading agreement.text_file {}: {e}", p.display()))
            })?,
            None => DEVELOPMENT_AGREEMENT.to_owned(),
        };
        Ok(Agreement {
            version: cfg.agreement.version.clone(),
            text,
        })
    }
}

pub struct Portal {
    vetting: Vetting,
    sessions: session::Sessions,
    signups: http::page::Limiter,
    logins: http::page::Limiter,
    /// `Secure` on cookies: whenever the listener serves TLS.
    secure: bool,
    base_url: String,
    agreement: Agreement,
    limits: http::ConnectionLimits,
    /// The largest upload on `/documents` (`portal.documents_max_bytes`).
    documents_limit: usize,
    /// Certificate requests and downloads (`with_ra`).
    ra: Option<Ra>,
    /// The ACME directory URL, for the EAB credential's command lines.
    directory: String,
    /// The organization's invoices (`with_billing`; None: billing is off).
    billing: Option<Billing>,
    /// `publish.seal_base_url`; None when seals are not served (no
    /// publish listener and no `seal_base_url`).
    seal_base: Option<String>,
}

/// What every page knows about its request.
pub struct Ctx {
    pub lang: Lang,
    /// The path and query, for the language switch and return paths.
    pub here: String,
    /// The client's address (the TCP peer).
    pub peer: Option<IpAddr>,
    /// The query string's fields.
    pub query: Vec<(String, String)>,
}

/// Decoded form or query fields, in order.
type Fields = Vec<(String, String)>;

/// A POST's form fields (CSRF already checked for pages behind a session).
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        field(&self.0, name)
    }
}

/// `Some(x)`, or the portal's 404: for a row loaded through the session's
/// organization that is not there (or is another organization's).
pub fn found<T>(x: Option<T>) -> Result<T> {
    x.ok_or_else(|| Error::not_found("no such page for this customer"))
}

/// The portal's pages. Other parts add theirs here and in [`route`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    Css,
    Lang,
    Signup,
    SignupSent,
    Verify,
    Login,
    Logout,
    Agreement,
    Home,
    ApplicationNew,
    Application(String),
    Confirmation(String),
    Status,
    Documents,
    Renew,
    /// EAB credentials, certificates, certificate requests.
    Certs(certs::CertsPage),
    /// `/terms/acme/{account}`: the agreement for an ACME account.
    AcmeTerms(String),
    Invoices,
    /// `/invoices/{id}.pdf`.
    InvoicePdf(i64),
    Seal,
    NotFound,
}

/// The page a request is for, and its endpoint name.
pub fn route(method: &Method, path: &str) -> (&'static str, Page) {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (get, post) = (method == Method::GET, method == Method::POST);
    let (either, page) = (get || post, segs.as_slice());
    match page {
        [""] if get => ("/", Page::Home),
        ["static", "style.css"] if get => ("/static/style.css", Page::Css),
        ["lang"] if get => ("/lang", Page::Lang),
        ["signup"] if either => ("/signup", Page::Signup),
        ["signup", "sent"] if get => ("/signup/sent", Page::SignupSent),
        ["verify"] if either => ("/verify", Page::Verify),
        ["login"] if either => ("/login", Page::Login),
        ["logout"] if post => ("/logout", Page::Logout),
        ["agreement"] if either => ("/agreement", Page::Agreement),
        ["application", "new"] if either => ("/application/new", Page::ApplicationNew),
        ["application", n] if get => ("/application/{number}", Page::Application(n.to_string())),
        ["application", n, "confirmation"] if get => (
            "/application/{number}/confirmation",
            Page::Confirmation(n.to_string()),
        ),
        ["status"] if get => ("/status", Page::Status),
        ["documents"] if either => ("/documents", Page::Documents),
        ["renew"] if either => ("/renew", Page::Renew),
        ["terms", "acme", id] if either => {
            ("/terms/acme/{account}", Page::AcmeTerms(id.to_string()))
        }
        ["invoices"] if get => ("/invoices", Page::Invoices),
        ["invoices", f] if get => match invoices::pdf_id(f) {
            Some(id) => ("/invoices/{id}.pdf", Page::InvoicePdf(id)),
            None => (crate::metrics::UNKNOWN_ENDPOINT, Page::NotFound),
        },
        ["seal"] if get => ("/seal", Page::Seal),
        _ => match certs::route(method, page) {
            Some((endpoint, p)) => (endpoint, Page::Certs(p)),
            None => (crate::metrics::UNKNOWN_ENDPOINT, Page::NotFound),
        },
    }
}

impl Portal {
    pub fn new(cfg: &Config, vetting: Vetting) -> Result<Portal> {
        let p = &cfg.portal;
        let sessions = session::Sessions::new(
            vetting.clone(),
            Duration::minutes(p.session_idle_minutes.max(1).into()),
            Duration::hours(p.session_absolute_hours.max(1).into()),
        );
        let window = Duration::minutes(p.limit_window_minutes.max(1).into());
        Ok(Portal {
            vetting,
            sessions,
            signups: http::page::Limiter::new(p.signups_per_address, window),
            logins: http::page::Limiter::new(p.logins_per_address, window),
            secure: p.tls.is_some(),
            base_url: p.base_url(),
            agreement: Agreement::from_config(cfg)?,
            limits: cfg.server.connection_limits(),
            documents_limit: p.documents_max_bytes,
            ra: None,
            directory: certs::directory(cfg),
            billing: None,
            seal_base: (cfg.publish.listen.is_some() || cfg.publish.seal_base_url.is_some())
                .then(|| cfg.publish.seal_base_url()),
        })
    }

    /// With the base URL the listener is reachable at (a port-0 address
    /// is known only once bound).
    pub fn with_base_url(mut self, base_url: String) -> Portal {
        self.base_url = base_url.trim_end_matches('/').to_owned();
        self
    }

    /// With the RA the certificate pages ask.
    pub fn with_ra(mut self, ra: Ra) -> Portal {
        self.ra = Some(ra);
        self
    }

    /// With the billing the invoice pages read (None: billing is off).
    pub fn with_billing(mut self, billing: Option<Billing>) -> Portal {
        self.billing = billing;
        self
    }

    pub fn vetting(&self) -> &Vetting {
        &self.vetting
    }

    /// The public origin, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn agreement(&self) -> &Agreement {
        &self.agreement
    }

    /// The largest upload on `/documents`.
    pub fn documents_limit(&self) -> usize {
        self.documents_limit
    }

    /// Answers a request; an `Err` is an internal failure (or a body the
    /// edge refused) only.
    async fn dispatch(
        &self,
        req: Request<http::Body>,
        record: &mut Record,
    ) -> Result<Response<Full<Bytes>>> {
        let ctx = context(&req);
        let (endpoint, page) = route(req.method(), req.uri().path());
        record.endpoint = endpoint;
        let result = self.answer(req, page, &ctx).await;
        match result {
            Err(e) if e.kind == ErrorKind::NotFound => {
                let t = i18n::text(ctx.lang);
                pages::message(None, &ctx, StatusCode::NOT_FOUND, t.not_found)
            }
            Err(e) if e.kind == ErrorKind::Malformed => {
                tracing::info!(detail = %e.detail, "portal request refused");
                let t = i18n::text(ctx.lang);
                pages::message(None, &ctx, StatusCode::BAD_REQUEST, t.bad_request)
            }
            other => other,
        }
    }

    async fn answer(
        &self,
        req: Request<http::Body>,
        page: Page,
        ctx: &Ctx,
    ) -> Result<Response<Full<Bytes>>> {
        let post = req.method() == Method::POST;
        match page {
            Page::Css => Ok(http::page::page(
                StatusCode::OK,
                "text/css; charset=utf-8",
                Bytes::from_static(CSS.as_bytes()),
            )),
            Page::Lang => self.switch_language(&req, ctx).await,
            Page::Signup if post => self.signup(req, ctx).await,
            Page::Signup => self.signup_page(&req, ctx, StatusCode::OK, &[], &[], None),
            Page::SignupSent => {
                let t = i18n::text(ctx.lang);
                let link = Some(("/login", t.login));
                pages::message_with(
                    None,
                    ctx,
                    StatusCode::OK,
                    t.check_mail_title,
                    Some(t.check_mail),
                    link,
                )
            }
            Page::Verify if post => self.verify(req, ctx).await,
            Page::Verify => {
                let token = field(&ctx.query, "token").unwrap_or_default().to_owned();
                let csrf = form_token(&req)?;
                let mut r = pages::verify(ctx, &csrf, &token)?;
                self.set_form_cookie(&mut r, &csrf);
                Ok(r)
            }
            Page::Login if post => self.login(req, ctx).await,
            Page::Login => self.login_page(&req, ctx, StatusCode::OK, None, ""),
            Page::NotFound => Err(Error::not_found("no such page")),
            page => match self.session(&req).await? {
                Some(s) => self.signed_in(req, page, s, ctx).await,
                None if page == Page::Agreement && !post => {
                    pages::agreement(None, ctx, &self.agreement_view("/"), None)
                }
                None => Ok(to_login(&ctx.here, !post)),
            },
        }
    }

    async fn session(&self, req: &Request<http::Body>) -> Result<Option<Session>> {
        match cookie(req.headers(), session::COOKIE) {
            Some(id) => self.sessions.find(id).await,
            None => Ok(None),
        }
    }

    /// Pages behind a session: every POST proves its form came from one,
    /// and a customer who has not accepted the agreement in force sees
    /// it before anything else.
    async fn signed_in(
        &self,
        req: Request<http::Body>,
        page: Page,
        s: Session,
        ctx: &Ctx,
    ) -> Result<Response<Full<Bytes>>> {
        let post = req.method() == Method::POST;
        let (form, files) = if post {
            read_post(req)?
        } else {
            (Form(Vec::new()), Vec::new())
        };
        if post && !s.csrf_ok(form.get("csrf")) {
            let t = i18n::text(ctx.lang);
            return pages::message(Some(&s), ctx, StatusCode::FORBIDDEN, t.csrf_refused);
        }
        let accepted = self.vetting.accepted_agreement(s.account()).await?;
        let current = accepted.as_deref() == Some(self.agreement.version.as_str());
        if !current && !matches!(page, Page::Agreement | Page::Logout) {
            let back = if post { "/" } else { ctx.here.as_str() };
            return Ok(see_other(&format!(
                "/agreement?return={}",
                http::page::encode(back)
            )));
        }
        match page {
            Page::Logout => self.logout(&s).await,
            Page::Agreement if post => self.accept_agreement(&s, &form, ctx).await,
            Page::Agreement => {
                let back = portal_path(field(&ctx.query, "return"));
                let view = self.agreement_view(back);
                pages::agreement(Some(&s), ctx, &view, accepted.as_deref())
            }
            Page::Home => {
                let summary = self.home_summary(&s, ctx).await?;
                pages::home(&s, ctx, summary)
            }
            Page::ApplicationNew => self.application_new(&s, ctx, post.then_some(&form)).await,
            Page::Application(n) => self.application_page(&s, ctx, &n, false).await,
            Page::Confirmation(n) => self.application_page(&s, ctx, &n, true).await,
            Page::Status => self.status_page(&s, ctx).await,
            Page::Documents => self.documents_page(&s, ctx, post.then_some(files)).await,
            Page::Renew => self.renew(&s, ctx, post.then_some(&form)).await,
            Page::Certs(p) => self.certs(p, post, &s, &form, ctx).await,
            Page::AcmeTerms(id) => {
                let id = terms::account_id(&id)?;
                self.acme_terms(&s, ctx, id, post.then_some(&form)).await
            }
            Page::Invoices => self.invoices(&s, ctx).await,
            Page::InvoicePdf(id) => self.invoice_pdf(&s, id).await,
            Page::Seal => self.seal_page(&s, ctx).await,
            // The other parts' pages are answered here.
            _ => Err(Error::not_found("no such page")),
        }
    }

    fn agreement_view<'a>(&'a self, back: &'a str) -> pages::AgreementView<'a> {
        pages::AgreementView {
            version: &self.agreement.version,
            text: &self.agreement.text,
            back,
        }
    }

    async fn accept_agreement(
        &self,
        s: &Session,
        form: &Form,
        ctx: &Ctx,
    ) -> Result<Response<Full<Bytes>>> {
        // The version the page showed: a newer one in force since is
        // shown again rather than accepted unseen.
        if form.get("version") != Some(self.agreement.version.as_str()) {
            return Ok(see_other("/agreement"));
        }
        self.vetting
            .accept_agreement(s.account(), &self.agreement.version, ctx.peer)
            .await?;
        Ok(see_other(portal_path(form.get("return"))))
    }

    async fn logout(&self, s: &Session) -> Result<Response<Full<Bytes>>> {
        self.sessions.end(s).await?;
        let mut r = see_other("/login");
        http::page::set_cookie(&mut r, self.cookie(session::COOKIE, "", true));
        Ok(r)
    }

    fn signup_page(
        &self,
        req: &Request<http::Body>,
        ctx: &Ctx,
        status: StatusCode,
        values: &[(String, String)],
        problems: &[(
            crate::vetting::customers::Field,
            crate::vetting::customers::Problem,
        )],
        refusal: Option<&str>,
    ) -> Result<Response<Full<Bytes>>> {
        let csrf = form_token(req)?;
        let form = pages::SignupForm {
            values,
            problems,
            refusal,
        };
        let mut r = pages::signup(ctx, status, &csrf, &self.agreement_view("/"), &form)?;
        self.set_form_cookie(&mut r, &csrf);
        Ok(r)
    }

    /// The sign-up form: checked field by field by `vetting`; on success
    /// to the "check your e-mail" page (the same whether or not the
    /// address had an account).
    async fn signup(&self, req: Request<http::Body>, ctx: &Ctx) -> Result<Response<Full<Bytes>>> {
        let t = i18n::text(ctx.lang);
        let (req, values) = read_form(req)?;
        if !self.form_csrf_ok(&req, &values) {
            let refusal = Some(t.csrf_refused);
            return self.signup_page(&req, ctx, StatusCode::FORBIDDEN, &values, &[], refusal);
        }
        let now = self.vetting.clock().now();
        if ctx.peer.is_some_and(|ip| !self.signups.allow(ip, now)) {
            let refusal = Some(t.too_many);
            let status = StatusCode::TOO_MANY_REQUESTS;
            return self.signup_page(&req, ctx, status, &values, &[], refusal);
        }
        let sign_up = sign_up_of(&values, ctx);
        let outcome = self
            .vetting
            .sign_up(sign_up, &self.agreement.version, &self.base_url)
            .await?;
        match outcome {
            Ok(SignedUp::LinkSent | SignedUp::AddressTaken) => Ok(see_other("/signup/sent")),
            Err(problems) => {
                let status = StatusCode::BAD_REQUEST;
                self.signup_page(&req, ctx, status, &values, &problems, None)
            }
        }
    }

    async fn verify(&self, req: Request<http::Body>, ctx: &Ctx) -> Result<Response<Full<Bytes>>> {
        let t = i18n::text(ctx.lang);
        let (req, values) = read_form(req)?;
        if !self.form_csrf_ok(&req, &values) {
            return pages::message(None, ctx, StatusCode::FORBIDDEN, t.csrf_refused);
        }
        let token = field(&values, "token").unwrap_or_default();
        if token.is_empty() || token.len() > 64 {
            return pages::message(None, ctx, StatusCode::BAD_REQUEST, t.verify_failed);
        }
        match self.vetting.verify_email(token).await? {
            Some(_) => {
                let link = Some(("/login", t.login));
                let (title, detail) = (t.verified_title, Some(t.verified));
                pages::message_with(None, ctx, StatusCode::OK, title, detail, link)
            }
            None => pages::message(None, ctx, StatusCode::BAD_REQUEST, t.verify_failed),
        }
    }

    fn login_page(
        &self,
        req: &Request<http::Body>,
        ctx: &Ctx,
        status: StatusCode,
        error: Option<&str>,
        email: &str,
    ) -> Result<Response<Full<Bytes>>> {
        let csrf = form_token(req)?;
        let view = pages::LoginView {
            back: portal_path(field(&ctx.query, "return")),
            email,
            notice: None,
            error,
        };
        let mut r = pages::login(ctx, status, &csrf, &view)?;
        self.set_form_cookie(&mut r, &csrf);
        Ok(r)
    }

    /// E-mail address and password, checked by `vetting` (audited), within
    /// the per-address limit; one message for a wrong address or password.
    async fn login(&self, req: Request<http::Body>, ctx: &Ctx) -> Result<Response<Full<Bytes>>> {
        let t = i18n::text(ctx.lang);
        let (req, values) = read_form(req)?;
        let email = field(&values, "email").unwrap_or_default().trim();
        if !self.form_csrf_ok(&req, &values) {
            return self.login_page(
                &req,
                ctx,
                StatusCode::FORBIDDEN,
                Some(t.csrf_refused),
                email,
            );
        }
        let now = self.vetting.clock().now();
        if ctx.peer.is_some_and(|ip| !self.logins.allow(ip, now)) {
            let status = StatusCode::TOO_MANY_REQUESTS;
            return self.login_page(&req, ctx, status, Some(t.too_many), email);
        }
        let password = field(&values, "password").unwrap_or_default();
        let customer = match self
            .vetting
            .customer_login(email, password, ctx.peer)
            .await?
        {
            Ok(c) => c,
            Err(refusal) => {
                let why = match refusal {
                    LoginRefusal::Wrong => t.login_failed,
                    LoginRefusal::Unverified => t.unverified,
                };
                return self.login_page(&req, ctx, StatusCode::UNAUTHORIZED, Some(why), email);
            }
        };
        let id = self.sessions.start(customer.id).await?;
        let mut r = see_other(portal_path(field(&values, "return")));
        http::page::set_cookie(&mut r, self.cookie(session::COOKIE, &id, false));
        http::page::set_cookie(&mut r, self.cookie(FORM_COOKIE, "", true));
        Ok(r)
    }

    /// `GET /lang?to=en&return=/…`: the switch; a signed-in customer's
    /// mail follows it too.
    async fn switch_language(
        &self,
        req: &Request<http::Body>,
        ctx: &Ctx,
    ) -> Result<Response<Full<Bytes>>> {
        let mut r = see_other(portal_path(field(&ctx.query, "return")));
        let Some(l) = field(&ctx.query, "to").and_then(Lang::parse) else {
            return Ok(r);
        };
        let secure = if self.secure { "; Secure" } else { "" };
        http::page::set_cookie(
            &mut r,
            format!(
                "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000{secure}",
                l.code()
            ),
        );
        if let Some(s) = self.session(req).await? {
            self.vetting.set_customer_language(s.account(), l).await?;
        }
        Ok(r)
    }

    /// Whether the form carries the token its page set in `FORM_COOKIE`.
    fn form_csrf_ok(&self, req: &Request<http::Body>, values: &[(String, String)]) -> bool {
        match cookie(req.headers(), FORM_COOKIE) {
            Some(expected) if !expected.is_empty() => same_secret(expected, field(values, "csrf")),
            _ => false,
        }
    }

    fn set_form_cookie(&self, r: &mut Response<Full<Bytes>>, token: &str) {
        http::page::set_cookie(r, self.cookie(FORM_COOKIE, token, false));
    }

    /// An HttpOnly, SameSite=Strict cookie for the whole site; `clear`
    /// expires it.
    fn cookie(&self, name: &str, value: &str, clear: bool) -> String {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
        if clear {
            c.push_str("; Max-Age=0");
        }
        if self.secure {
            c.push_str("; Secure");
        }
        c
    }
}

/// The request's language, path and query, and client address.
fn context(req: &Request<http::Body>) -> Ctx {
    let h = req.headers();
    Ctx {
        lang: i18n::pick(
            cookie(h, LANG_COOKIE),
            h.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
        ),
        here: req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        peer: req.extensions().get::<http::Peer>().map(|p| p.0.ip()),
        query: http::page::form(req.uri().query().unwrap_or_default().as_bytes()),
    }
}

/// A POST's fields, and its files when it is `multipart/form-data` (the
/// documents upload; its CSRF token is a field like any form's).
fn read_post(req: Request<http::Body>) -> Result<(Form, Vec<multipart::Part>)> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = req.into_body()?;
    let Some(boundary) = multipart::boundary(&content_type) else {
        return Ok((Form(http::page::form(&body)), Vec::new()));
    };
    let parts = multipart::parse(&body, &boundary).map_err(|e| Error::malformed(e.to_string()))?;
    let (files, fields): (Vec<_>, Vec<_>) = parts.into_iter().partition(|p| p.file_name.is_some());
    let fields = fields
        .into_iter()
        .map(|p| (p.name, String::from_utf8_lossy(&p.data).into_owned()))
        .collect();
    Ok((Form(fields), files))
}

/// The body's form fields, and the request without its body.
fn read_form(req: Request<http::Body>) -> Result<(Request<http::Body>, Fields)> {
    let (parts, body) = req.into_parts();
    let values = http::page::form(&body?);
    Ok((Request::from_parts(parts, Ok(Bytes::new())), values))
}

/// The form token of a page shown before a session: the browser's
/// current one when it has a plausible one (two tabs keep working), else
/// a new one.
fn form_token(req: &Request<http::Body>) -> Result<String> {
    match cookie(req.headers(), FORM_COOKIE) {
        Some(t)
            if t.len() == 43
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(t.to_owned())
        }
        _ => random_token(32),
    }
}

/// A return path within the portal, else home.
fn portal_path(p: Option<&str>) -> &str {
    p.and_then(|p| local_path(p, "/")).unwrap_or("/")
}

fn sign_up_of(values: &[(String, String)], ctx: &Ctx) -> SignUp {
    let v = |name: &str| field(values, name).unwrap_or_default().to_owned();
    SignUp {
        email: v("email"),
        password: Secret::new(v("password")),
        password_again: Secret::new(v("password_again")),
        holder: crate::core::customer::AccountHolder {
            contact_name: v("contact_name"),
            organization: v("organization"),
            department: v("department"),
            postal_code: v("postal_code"),
            address: v("address"),
            phone: v("phone"),
            fax: v("fax"),
        },
        language: ctx.lang,
        accepted_version: (v("agree") == "on").then(|| v("agreement_version")),
        address: ctx.peer,
    }
}

/// No session: to the login page, coming back here afterwards when this
/// was a page (a form is not resubmitted).
fn to_login(here: &str, come_back: bool) -> Response<Full<Bytes>> {
    match come_back.then(|| local_path(here, "/")).flatten() {
        Some(p) if p != "/" => see_other(&format!("/login?return={}", http::page::encode(p))),
        _ => see_other("/login"),
    }
}

impl http::Service for Portal {
    type Reply = Response<Full<Bytes>>;
    type Failure = Error;
    const LISTENER: Listener = Listener::Portal;

    fn timeout(&self) -> StdDuration {
        TIMEOUT
    }

    fn body_limit(&self) -> usize {
        MAX_BODY_BYTES
    }

    /// Only the documents upload takes files; it may carry up to
    /// `documents_max_bytes` of them (and the form around them).
    fn body_limit_for(&self, method: &Method, path: &str) -> usize {
        if method == Method::POST && path == "/documents" {
            self.documents_limit.saturating_add(MAX_BODY_BYTES)
        } else {
            MAX_BODY_BYTES
        }
    }

    fn metrics(&self) -> Option<&HttpMetrics> {
        Some(self.vetting.store().metrics().portal())
    }

    fn connection_limits(&self) -> http::ConnectionLimits {
        self.limits
    }

    fn route<'a>(
        &'a self,
        req: Request<http::Body>,
        record: &'a mut Record,
    ) -> impl std::future::Future<Output = Result<Response<Full<Bytes>>>> + Send + 'a {
        self.dispatch(req, record)
    }

    fn render(&self, _record: &Record, result: Result<Response<Full<Bytes>>>) -> Answer {
        match result {
            Ok(response) => Answer {
                response,
                failure: None,
            },
            Err(e) => Answer {
                response: error_page(&e),
                failure: Some(e),
            },
        }
    }
}

/// A failure outside any page (a body too large or too slow, a timeout,
/// an internal error): a short page in both languages, never the detail.
fn error_page(e: &Error) -> Response<Full<Bytes>> {
    let (status, text) = match e.kind {
        ErrorKind::PayloadTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "送信内容が大きすぎます。 / The submitted data is too large.",
        ),
        ErrorKind::RequestTimeout => (
            StatusCode::REQUEST_TIMEOUT,
            "送信に時間がかかりすぎました。 / The request took too long.",
        ),
        ErrorKind::Malformed => (
            StatusCode::BAD_REQUEST,
            "リクエストを処理できませんでした。 / The request could not be processed.",
        ),
        ErrorKind::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ただいま混み合っています。 / The service is busy; try again shortly.",
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "サーバーでエラーが発生しました。 / Something went wrong on our side.",
        ),
    };
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <link rel=\"stylesheet\" href=\"/static/style.css\"></head>\
         <body><main><h1>{text}</h1><p><a href=\"/\">trustgate</a></p></main></body></html>\n",
        status.as_u16()
    );
    http::page::html(status, body)
}
