//! The foundation's pages and the frame every portal page shares
//! (`Chrome`, `render`, `message`), which the other parts' pages use.

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::i18n::{self, Text};
use super::session::Session;
use super::Ctx;
use crate::error::{Error, Result};
use crate::http::page::{encode, html};
use crate::vetting::customers::{Field, Problem};

/// The signed-in customer as the frame shows them.
pub struct Me {
    pub email: String,
    /// For the logout form.
    pub csrf: String,
}

/// What every page's frame shows (`templates/portal/base.html`).
pub struct Chrome {
    pub t: &'static Text,
    pub lang: &'static str,
    pub title: String,
    pub me: Option<Me>,
    /// The language switch's link, its language and its name.
    pub switch_href: String,
    pub switch_lang: &'static str,
    pub switch_name: &'static str,
}

/// The frame of a page titled `title`, for `s` (None: signed out).
pub fn chrome(s: Option<&Session>, ctx: &Ctx, title: &str) -> Chrome {
    let other = i18n::other(ctx.lang);
    Chrome {
        t: i18n::text(ctx.lang),
        lang: ctx.lang.code(),
        title: title.to_owned(),
        me: s.map(|s| Me {
            email: s.customer.email.clone(),
            csrf: s.csrf.clone(),
        }),
        switch_href: format!("/lang?to={}&return={}", other.code(), encode(&ctx.here)),
        switch_lang: other.code(),
        switch_name: i18n::text(other).lang_name,
    }
}

/// A rendered template as an HTML page with the portal's headers.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Result<Response<Full<Bytes>>> {
    let body = page
        .render()
        .map_err(|e| Error::internal(format!("rendering a portal page: {e}")))?;
    Ok(html(status, body))
}

#[derive(Template)]
#[template(path = "portal/message.html")]
struct MessagePage<'a> {
    c: Chrome,
    message: &'a str,
    detail: Option<&'a str>,
    link: Option<(&'a str, &'a str)>,
}

/// A refusal or a plain message as a page (404, 403, a confirmation).
pub fn message(
    s: Option<&Session>,
    ctx: &Ctx,
    status: StatusCode,
    message: &str,
) -> Result<Response<Full<Bytes>>> {
    message_with(s, ctx, status, message, None, None)
}

/// `message` with a paragraph and a link under the heading.
pub fn message_with(
    s: Option<&Session>,
    ctx: &Ctx,
    status: StatusCode,
    message: &str,
    detail: Option<&str>,
    link: Option<(&str, &str)>,
) -> Result<Response<Full<Bytes>>> {
    let c = chrome(s, ctx, message);
    render(
        status,
        &MessagePage {
            c,
            message,
            detail,
            link,
        },
    )
}

#[derive(Template)]
#[template(path = "portal/home.html")]
struct HomePage {
    c: Chrome,
    name: String,
    organization: Option<String>,
    /// The vetting's status (`applications`), once applied.
    summary: Option<super::applications::Summary>,
    w: &'static super::applications::AppWords,
}

/// `/`: whom the portal greets and their organization (the
/// applications part shows its summary here).
pub fn home(
    s: &Session,
    ctx: &Ctx,
    summary: Option<super::applications::Summary>,
) -> Result<Response<Full<Bytes>>> {
    let t = i18n::text(ctx.lang);
    let c = chrome(Some(s), ctx, t.home);
    let organization = s.customer.organization.map(|o| format!("#{o}"));
    render(
        StatusCode::OK,
        &HomePage {
            c,
            name: s.customer.holder.contact_name.clone(),
            organization,
            summary,
            w: super::applications::words(ctx.lang),
        },
    )
}

#[derive(Template)]
#[template(path = "portal/agreement.html")]
struct AgreementPage<'a> {
    c: Chrome,
    version: &'a str,
    agreement_text: &'a str,
    accepted: Option<&'a str>,
    must_accept: bool,
    /// The accept form's token: only a signed-in customer accepts here.
    accept_csrf: Option<&'a str>,
    back: &'a str,
}

/// What the agreement page shows.
pub struct AgreementView<'a> {
    pub version: &'a str,
    pub text: &'a str,
    pub back: &'a str,
}

pub fn agreement(
    s: Option<&Session>,
    ctx: &Ctx,
    a: &AgreementView<'_>,
    accepted: Option<&str>,
) -> Result<Response<Full<Bytes>>> {
    let t = i18n::text(ctx.lang);
    let must_accept = s.is_some() && accepted != Some(a.version);
    render(
        StatusCode::OK,
        &AgreementPage {
            c: chrome(s, ctx, t.agreement),
            version: a.version,
            agreement_text: a.text,
            accepted,
            must_accept,
            accept_csrf: s.filter(|_| must_accept).map(|s| s.csrf.as_str()),
            back: a.back,
        },
    )
}

/// One input of a form, with its message when it was wrong.
pub struct Input {
    pub name: &'static str,
    pub label: &'static str,
    /// The input's `type`.
    pub kind: &'static str,
    pub autocomplete: &'static str,
    pub required: bool,
    pub value: String,
    pub hint: Option<&'static str>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/signup.html")]
struct SignupPage<'a> {
    c: Chrome,
    csrf: &'a str,
    version: &'a str,
    agreement_text: &'a str,
    has_errors: bool,
    refusal: Option<&'a str>,
    agreed: bool,
    agree_error: Option<String>,
    account: Vec<Input>,
    holder: Vec<Input>,
}

/// The sign-up form as submitted (passwords are never shown again).
pub struct SignupForm<'a> {
    pub values: &'a [(String, String)],
    pub problems: &'a [(Field, Problem)],
    /// A refusal of the whole form (CSRF, too many attempts).
    pub refusal: Option<&'a str>,
}

pub fn signup(
    ctx: &Ctx,
    status: StatusCode,
    csrf: &str,
    a: &AgreementView<'_>,
    f: &SignupForm<'_>,
) -> Result<Response<Full<Bytes>>> {
    let t = i18n::text(ctx.lang);
    let error = |name: &str| {
        f.problems
            .iter()
            .find(|(field, _)| field.name() == name)
            .map(|(_, p)| i18n::problem(ctx.lang, *p))
    };
    let value = |name: &str| {
        crate::http::page::field(f.values, name)
            .unwrap_or_default()
            .to_owned()
    };
    let input = |name, label, kind, autocomplete, required, hint| Input {
        name,
        label,
        kind,
        autocomplete,
        required,
        value: if kind == "password" {
            String::new()
        } else {
            value(name)
        },
        hint,
        error: error(name),
    };
    let account = vec![
        input("email", t.email, "email", "email", true, None),
        input(
            "password",
            t.password,
            "password",
            "new-password",
            true,
            Some(t.password_hint),
        ),
        input(
            "password_again",
            t.password_again,
            "password",
            "new-password",
            true,
            None,
        ),
    ];
    let holder = vec![
        input("contact_name", t.contact_name, "text", "name", true, None),
        input(
            "organization",
            t.organization,
            "text",
            "organization",
            true,
            None,
        ),
        input("department", t.department, "text", "off", false, None),
        input(
            "postal_code",
            t.postal_code,
            "text",
            "postal-code",
            true,
            Some("123-4567"),
        ),
        input("address", t.address, "text", "street-address", true, None),
        input("phone", t.phone, "tel", "tel", true, Some("03-1234-5678")),
        input("fax", t.fax, "tel", "off", false, None),
    ];
    render(
        status,
        &SignupPage {
            c: chrome(None, ctx, t.signup),
            csrf,
            version: a.version,
            agreement_text: a.text,
            has_errors: !f.problems.is_empty(),
            refusal: f.refusal,
            agreed: value("agree") == "on",
            agree_error: error("agree"),
            account,
            holder,
        },
    )
}

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage<'a> {
    c: Chrome,
    csrf: &'a str,
    back: &'a str,
    email: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

/// What the login form shows besides its inputs.
pub struct LoginView<'a> {
    pub back: &'a str,
    pub email: &'a str,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn login(
    ctx: &Ctx,
    status: StatusCode,
    csrf: &str,
    v: &LoginView<'_>,
) -> Result<Response<Full<Bytes>>> {
    let t = i18n::text(ctx.lang);
    render(
        status,
        &LoginPage {
            c: chrome(None, ctx, t.login),
            csrf,
            back: v.back,
            email: v.email,
            notice: v.notice,
            error: v.error,
        },
    )
}

#[derive(Template)]
#[template(path = "portal/verify.html")]
struct VerifyPage<'a> {
    c: Chrome,
    csrf: &'a str,
    token: &'a str,
}

/// `/verify?token=`: a button that confirms (a GET changes nothing, so
/// a mail scanner that opens the link does not use it up).
pub fn verify(ctx: &Ctx, csrf: &str, token: &str) -> Result<Response<Full<Bytes>>> {
    let t = i18n::text(ctx.lang);
    render(
        StatusCode::OK,
        &VerifyPage {
            c: chrome(None, ctx, t.verify_title),
            csrf,
            token,
        },
    )
}
