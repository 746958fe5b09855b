//! `/orders`: a certificate request without an ACME client. The customer
//! pastes a CSR and chooses the level and validity (`/orders/new`), then
//! places a file or a TXT record for each name and presses "Check now"
//! (`/orders/{id}`); once every name is proven the certificate is issued
//! and downloaded from its page. `ra::portal_orders` decides all of it.

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::certs::{ok, Here};
use super::certs_text::{when, CertsText};
use super::i18n::Lang;
use super::pages::{render, Chrome};
use super::Form;
use crate::acme::{AuthorizationStatus, ChallengeType, OrderStatus};
use crate::core::{AuthzId, OrderId};
use crate::error::{ErrorKind, Result};
use crate::http::page::see_other;
use crate::ra::portal_orders::{Field, Placed, PortalOrderView, PortalRequest, MAX_CSR_TEXT};

/// The request form as submitted, with a message per field.
#[derive(Default)]
pub struct Posted {
    pub csr: String,
    pub level: String,
    pub validity: String,
    pub csr_error: Option<String>,
    pub level_error: Option<String>,
    pub validity_error: Option<String>,
}

impl Posted {
    fn has_errors(&self) -> bool {
        self.csr_error.is_some() || self.level_error.is_some() || self.validity_error.is_some()
    }
}

/// A level the form offers.
pub struct LevelChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

/// One of the organization's recent requests.
pub struct Recent {
    pub id: i64,
    pub names: String,
    pub status: &'static str,
    pub placed: String,
}

#[derive(Template)]
#[template(path = "portal/order_new.html")]
struct NewPage<'a> {
    c: Chrome,
    csrf: String,
    may_order: bool,
    f: &'a Posted,
    has_errors: bool,
    levels: Vec<LevelChoice>,
    max_days: i64,
    recent: Vec<Recent>,
}

/// One name of a request as its page shows it.
pub struct NameRow {
    pub authz: i64,
    pub name: String,
    pub status: &'static str,
    pub pending: bool,
    pub http_url: Option<String>,
    pub http_content: Option<String>,
    pub dns_name: Option<String>,
    pub dns_value: Option<String>,
    /// http-01 is the default choice where it is offered.
    pub dns_checked: bool,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/order.html")]
struct OrderPage {
    c: Chrome,
    csrf: String,
    id: i64,
    status: &'static str,
    placed: String,
    level: String,
    names: Vec<NameRow>,
    pending: bool,
    checking: bool,
    invalid: bool,
    serial: Option<String>,
    problem: Option<String>,
    error: Option<String>,
}

fn order_status(t: &CertsText, s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Pending => t.st_pending,
        OrderStatus::Ready => t.st_ready,
        OrderStatus::Processing => t.st_processing,
        OrderStatus::Valid => t.st_valid,
        OrderStatus::Invalid => t.st_invalid,
    }
}

impl Here<'_> {
    /// The request form (`f`: as submitted, with its messages).
    pub async fn order_form(
        &self,
        status: StatusCode,
        f: &Posted,
    ) -> Result<Response<Full<Bytes>>> {
        let t = self.t();
        let levels = self
            .ra
            .portal_levels(&self.org)
            .into_iter()
            .enumerate()
            .map(|(i, p)| LevelChoice {
                value: p.name(),
                label: if p.is_ev() { t.level_ev } else { t.level_ov },
                checked: if f.level.is_empty() {
                    i == 0
                } else {
                    f.level == p.name()
                },
            })
            .collect();
        let now = self.ra.clock().now();
        let recent = self
            .ra
            .portal_orders(self.org.id)
            .await?
            .into_iter()
            .map(|o| Recent {
                id: o.id.0,
                names: o.names.join(", "),
                status: order_status(t, o.status(now)),
                placed: when(o.created_at),
            })
            .collect();
        let page = NewPage {
            c: self.chrome(t.order_new_title),
            csrf: self.s.csrf.clone(),
            may_order: self.ra.portal_may_order(&self.org),
            f,
            has_errors: f.has_errors(),
            levels,
            max_days: self.ra.portal_max_validity_days(),
            recent,
        };
        render(status, &page)
    }

    /// POST `/orders/new`: placed (to its page), or the form again with a
    /// message beside each field at fault and nothing stored.
    pub async fn place_order(&self, form: &Form) -> Result<Response<Full<Bytes>>> {
        let mut posted = Posted {
            csr: form
                .get("csr")
                .unwrap_or_default()
                .chars()
                .take(MAX_CSR_TEXT + 1)
                .collect(),
            level: form.get("level").unwrap_or_default().to_owned(),
            validity: form
                .get("validity_days")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            ..Posted::default()
        };
        let validity_days = match posted.validity.as_str() {
            "" => None,
            v => match v.parse::<u32>() {
                Ok(d) => Some(d),
                Err(_) => {
                    posted.validity_error = Some(not_a_number(self.ctx.lang));
                    return self.order_form(StatusCode::BAD_REQUEST, &posted).await;
                }
            },
        };
        let req = PortalRequest {
            csr: posted.csr.clone(),
            level: posted.level.clone(),
            validity_days,
        };
        let placed = self
            .ra
            .place_portal_order(&self.org, &self.actor(), req)
            .await;
        match placed {
            Ok(Placed::Order(id)) => Ok(see_other(&format!("/orders/{id}"))),
            Ok(Placed::Refused(problems)) => {
                for (field, text) in problems {
                    let message = self.refusal(field, text);
                    let slot = match field {
                        Field::Csr => &mut posted.csr_error,
                        Field::Level => &mut posted.level_error,
                        Field::Validity => &mut posted.validity_error,
                    };
                    *slot = Some(message);
                }
                self.order_form(StatusCode::BAD_REQUEST, &posted).await
            }
            Err(e) if e.kind == ErrorKind::Unauthorized => {
                self.refused(StatusCode::FORBIDDEN, self.t().order_after_approval)
            }
            Err(e) if e.kind == ErrorKind::RateLimited => {
                self.refused(StatusCode::TOO_MANY_REQUESTS, &e.detail)
            }
            Err(e) => Err(e),
        }
    }

    /// GET `/orders/{id}`: what to place for each name, the status, the
    /// certificate once issued (`error`: why the last check stopped).
    pub async fn order_page(
        &self,
        id: i64,
        status: StatusCode,
        error: Option<String>,
    ) -> Result<Response<Full<Bytes>>> {
        let t = self.t();
        let v = self.ra.portal_order(self.org.id, OrderId(id)).await?;
        let names: Vec<NameRow> = v.names.iter().map(|n| name_row(t, n)).collect();
        let checking = v.status == OrderStatus::Processing || v.names.iter().any(|n| n.checking);
        let page = OrderPage {
            c: self.chrome(&format!("{} #{id}", t.order_title)),
            csrf: self.s.csrf.clone(),
            id,
            status: order_status(t, v.status),
            placed: when(v.placed_at),
            level: v.order.profile.name().to_uppercase(),
            pending: matches!(v.status, OrderStatus::Pending | OrderStatus::Ready) && !checking,
            checking,
            invalid: v.status == OrderStatus::Invalid,
            names,
            serial: v.serial.clone(),
            problem: problem_of(&v),
            error,
        };
        if status == StatusCode::OK {
            ok(&page)
        } else {
            render(status, &page)
        }
    }

    /// POST `/orders/{id}/check`: the chosen method of each pending name
    /// is checked, and the certificate issued once all are proven.
    pub async fn check_order(&self, id: i64, form: &Form) -> Result<Response<Full<Bytes>>> {
        let methods: Vec<(AuthzId, ChallengeType)> = form
            .0
            .iter()
            .filter_map(|(k, v)| {
                let authz = k.strip_prefix("method-")?.parse::<i64>().ok()?;
                let kind = ChallengeType::parse(v)?;
                Some((AuthzId(authz), kind))
            })
            .collect();
        match self
            .ra
            .check_portal_order(self.org.id, OrderId(id), &methods)
            .await
        {
            Ok(_) => Ok(see_other(&format!("/orders/{id}"))),
            Err(e) if e.kind == ErrorKind::NotFound || e.kind == ErrorKind::ServerInternal => {
                Err(e)
            }
            Err(e) if e.kind == ErrorKind::Unavailable => Err(e),
            // The gate's refusal, a rate limit, a CAA refusal: shown on
            // the request's page.
            Err(e) => {
                self.order_page(id, StatusCode::CONFLICT, Some(e.detail))
                    .await
            }
        }
    }

    /// POST `/orders/{id}/repeat`: a new request with the same CSR.
    pub async fn repeat_order(&self, id: i64) -> Result<Response<Full<Bytes>>> {
        match self
            .ra
            .repeat_portal_order(&self.org, &self.actor(), OrderId(id))
            .await?
        {
            Placed::Order(new) => Ok(see_other(&format!("/orders/{new}"))),
            Placed::Refused(problems) => {
                let text: Vec<String> = problems
                    .into_iter()
                    .map(|(field, text)| self.refusal(field, text))
                    .collect();
                self.order_page(id, StatusCode::CONFLICT, Some(text.join(" ")))
                    .await
            }
        }
    }
}

fn name_row(t: &CertsText, n: &crate::ra::portal_orders::NameProof) -> NameRow {
    let status = if n.checking {
        t.name_checking
    } else {
        match n.status {
            AuthorizationStatus::Valid => t.name_valid,
            AuthorizationStatus::Pending => t.name_pending,
            _ => t.name_invalid,
        }
    };
    NameRow {
        authz: n.authorization.0,
        name: n.name.clone(),
        status,
        pending: n.status == AuthorizationStatus::Pending && !n.checking,
        http_url: n.http01.as_ref().map(|h| h.url.clone()),
        http_content: n.http01.as_ref().map(|h| h.content.clone()),
        dns_name: n.dns01.as_ref().map(|d| d.name.clone()),
        dns_value: n.dns01.as_ref().map(|d| d.value.clone()),
        dns_checked: n.http01.is_none(),
        error: n.error.clone(),
    }
}

fn problem_of(v: &PortalOrderView) -> Option<String> {
    v.problem.clone()
}

impl Here<'_> {
    /// The RA's refusal of a field in the page's language. The level and
    /// validity rules are restated; a CSR's fault keeps the RA's English
    /// detail (it quotes RFC 8555 and key rules) after a Japanese lead.
    fn refusal(&self, field: Field, english: String) -> String {
        if self.ctx.lang == Lang::En {
            return english;
        }
        match field {
            Field::Level => {
                let names: Vec<String> = self
                    .ra
                    .portal_levels(&self.org)
                    .iter()
                    .map(|p| p.name().to_uppercase())
                    .collect();
                format!("審査済みのレベルから選んでください: {}", names.join(", "))
            }
            Field::Validity => format!(
                "有効期間は 1 日から {} 日の間で入力してください。",
                self.ra.portal_max_validity_days()
            ),
            Field::Csr => format!("この CSR は受け付けられません: {english}"),
        }
    }
}

fn not_a_number(l: Lang) -> String {
    match l {
        Lang::Ja => "日数を数字で入力してください。".into(),
        Lang::En => "Enter the number of days.".into(),
    }
}
