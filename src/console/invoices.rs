//! Invoices in the console (`/console/invoices`, docs/invoices.md): the
//! list with its filters (month of issue, unpaid, overdue; keyset pages),
//! one document's page with its PDF, marking an invoice paid (role vet)
//! and cancelling a revoked certificate's invoice with a credit note
//! (role approve) — both audited by `billing` as the member —, and a
//! month's documents as CSV for accounting. The decisions are
//! `billing::Billing`'s.

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use time::{Date, Month};

use super::audit::csv_cell;
use super::i18n::Lang;
use super::pages::{chrome, date, message, render, Chrome, Views};
use super::web::{field, page, see_other};
use crate::billing::{date_in_japan, japanese_date, Billing, Recipient};
use crate::core::staff::StaffRole;
use crate::error::{ErrorKind, Result};
use crate::mail::notices::yen;
use crate::sa::invoices::{Filter, Invoice, Kind};

const PAGE_SIZE: i64 = 50;
/// A month's CSV holds at most this many documents.
const CSV_MAX: i64 = 50_000;

/// The CSV's columns, in order (docs/invoices.md).
pub const CSV_HEADER: [&str; 16] = [
    "number",
    "kind",
    "issue_date",
    "transaction_date",
    "due_date",
    "organization_id",
    "recipient",
    "serial",
    "description",
    "amount_yen",
    "tax_rate",
    "tax_yen",
    "total_yen",
    "credits",
    "paid_at",
    "paid_by",
];

/// The labels of these pages.
pub struct Text {
    title: &'static str,
    off: &'static str,
    month: &'static str,
    month_bad: &'static str,
    status: &'static str,
    all: &'static str,
    unpaid: &'static str,
    overdue: &'static str,
    show: &'static str,
    csv: &'static str,
    csv_needs_month: &'static str,
    number: &'static str,
    kind_invoice: &'static str,
    kind_credit: &'static str,
    issued: &'static str,
    transaction: &'static str,
    due: &'static str,
    recipient: &'static str,
    description: &'static str,
    amount: &'static str,
    tax: &'static str,
    total: &'static str,
    paid: &'static str,
    unpaid_state: &'static str,
    credited: &'static str,
    pdf: &'static str,
    mark_paid: &'static str,
    credit: &'static str,
    reason: &'static str,
    reason_needed: &'static str,
    not_revoked: &'static str,
    none: &'static str,
    older: &'static str,
    done_paid: &'static str,
    done_credit: &'static str,
}

const JA: Text = Text {
    title: "請求書",
    off: "請求書は設定されていません ([billing] がありません)。",
    month: "発行月",
    month_bad: "発行月は 2026-12 の形で入力してください。",
    status: "状態",
    all: "すべて",
    unpaid: "未入金",
    overdue: "支払期限超過",
    show: "表示",
    csv: "この月を CSV で書き出す",
    csv_needs_month: "CSV の書き出しには発行月が必要です。",
    number: "番号",
    kind_invoice: "請求書",
    kind_credit: "返還請求書",
    issued: "発行日",
    transaction: "取引年月日",
    due: "支払期限",
    recipient: "請求先",
    description: "内容",
    amount: "金額 (税抜)",
    tax: "消費税 (10%)",
    total: "合計 (税込)",
    paid: "入金済み",
    unpaid_state: "未入金",
    credited: "取消済み",
    pdf: "PDF",
    mark_paid: "入金済みにする",
    credit: "返還請求書を発行する (失効した証明書)",
    reason: "理由",
    reason_needed: "理由を 1〜500 文字で入力してください。",
    not_revoked: "証明書が失効していないか、すでに返還請求書があります。",
    none: "該当する請求書はありません。",
    older: "さらに古いもの",
    done_paid: "入金済みにしました。",
    done_credit: "返還請求書を発行しました。",
};

const EN: Text = Text {
    title: "Invoices",
    off: "Invoicing is not configured (no [billing] table).",
    month: "Month of issue",
    month_bad: "Enter the month as 2026-12.",
    status: "Status",
    all: "All",
    unpaid: "Unpaid",
    overdue: "Overdue",
    show: "Show",
    csv: "Export this month as CSV",
    csv_needs_month: "Choose a month to export.",
    number: "Number",
    kind_invoice: "Invoice",
    kind_credit: "Credit note",
    issued: "Issued",
    transaction: "Transaction date",
    due: "Due",
    recipient: "Billed to",
    description: "Description",
    amount: "Amount before tax",
    tax: "Tax (10%)",
    total: "Total",
    paid: "Paid",
    unpaid_state: "Unpaid",
    credited: "Cancelled",
    pdf: "PDF",
    mark_paid: "Mark paid",
    credit: "Issue a credit note (revoked certificate)",
    reason: "Reason",
    reason_needed: "Give a reason of 1 to 500 characters.",
    not_revoked: "The certificate is not revoked, or the invoice has a credit note already.",
    none: "No invoices.",
    older: "Older",
    done_paid: "Marked paid.",
    done_credit: "Credit note issued.",
};

fn text(lang: Lang) -> &'static Text {
    match lang {
        Lang::Ja => &JA,
        Lang::En => &EN,
    }
}

struct Row {
    id: i64,
    number: String,
    kind: &'static str,
    issued: String,
    due: String,
    recipient: String,
    total: String,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "console/invoices.html")]
struct ListPage<'a> {
    c: Chrome,
    x: &'a Text,
    month: String,
    month_error: Option<&'static str>,
    status: String,
    rows: Vec<Row>,
    csv: Option<String>,
    next: Option<String>,
}

/// The list's form: month (`YYYY-MM`) and status (`all`, `unpaid`,
/// `overdue`), and a keyset cursor.
struct Query {
    month: String,
    status: String,
    before: Option<i64>,
}

impl Query {
    fn read(q: &[(String, String)]) -> Query {
        let status = match field(q, "status") {
            Some(s @ ("unpaid" | "overdue")) => s.to_owned(),
            _ => "all".to_owned(),
        };
        Query {
            month: field(q, "month").unwrap_or_default().trim().to_owned(),
            status,
            before: field(q, "before").and_then(|b| b.parse().ok()),
        }
    }

    /// The SQL filter, or Err when the month is not `YYYY-MM`.
    fn filter(&self, today: Date) -> std::result::Result<Filter, ()> {
        let month = if self.month.is_empty() {
            None
        } else {
            Some(month_bounds(&self.month).ok_or(())?)
        };
        Ok(Filter {
            month,
            unpaid: self.status == "unpaid",
            overdue_on: (self.status == "overdue").then_some(today),
            before: self.before,
        })
    }

    fn href(&self, before: i64) -> String {
        format!(
            "/console/invoices?month={}&status={}&before={before}",
            self.month, self.status
        )
    }
}

/// The first day of `YYYY-MM` and of the month after.
pub fn month_bounds(s: &str) -> Option<(Date, Date)> {
    let (y, m) = s.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let year: i32 = y.parse().ok()?;
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    let first = Date::from_calendar_date(year, month, 1).ok()?;
    let next = match month {
        Month::December => Date::from_calendar_date(year + 1, Month::January, 1).ok()?,
        m => Date::from_calendar_date(year, m.next(), 1).ok()?,
    };
    Some((first, next))
}

fn off(v: &Views<'_>) -> Result<Response<Full<Bytes>>> {
    message(
        Some(v.s),
        v.ctx,
        StatusCode::NOT_FOUND,
        text(v.ctx.lang).off,
    )
}

/// `GET /console/invoices`.
pub async fn list(
    v: &Views<'_>,
    billing: Option<&Billing>,
    q: &[(String, String)],
) -> Result<Response<Full<Bytes>>> {
    let Some(billing) = billing else {
        return off(v);
    };
    let x = text(v.ctx.lang);
    let query = Query::read(q);
    let today = date_in_japan(billing.clock().now());
    let Ok(filter) = query.filter(today) else {
        let bad = Listed::refused(x.month_bad);
        return list_page(v, x, &query, bad, StatusCode::BAD_REQUEST);
    };
    let mut found = billing.list(filter, PAGE_SIZE + 1).await?;
    let next = (found.len() as i64 > PAGE_SIZE).then(|| {
        found.truncate(PAGE_SIZE as usize);
        query.href(found.last().map_or(0, |i| i.id))
    });
    let mut rows = Vec::with_capacity(found.len());
    for i in found {
        let (_, credit) = billing.with_credit(i.id).await?;
        rows.push(row(x, &i, credit.is_some()));
    }
    let listed = Listed {
        rows,
        next,
        month_error: None,
    };
    list_page(v, x, &query, listed, StatusCode::OK)
}

/// What the list shows: a page of rows and the next page's link, or why
/// the form was refused.
struct Listed {
    rows: Vec<Row>,
    next: Option<String>,
    month_error: Option<&'static str>,
}

impl Listed {
    fn refused(why: &'static str) -> Listed {
        Listed {
            rows: Vec::new(),
            next: None,
            month_error: Some(why),
        }
    }
}

fn list_page(
    v: &Views<'_>,
    x: &'static Text,
    q: &Query,
    listed: Listed,
    status: StatusCode,
) -> Result<Response<Full<Bytes>>> {
    let Listed {
        rows,
        next,
        month_error,
    } = listed;
    let csv = (!q.month.is_empty() && month_error.is_none())
        .then(|| format!("/console/invoices.csv?month={}", q.month));
    render(
        status,
        &ListPage {
            c: chrome(Some(v.s), v.ctx, x.title),
            x,
            month: q.month.clone(),
            month_error,
            status: q.status.clone(),
            rows,
            csv,
            next,
        },
    )
}

fn row(x: &Text, i: &Invoice, credited: bool) -> Row {
    Row {
        id: i.id,
        number: i.number.clone(),
        kind: kind(x, i.kind),
        issued: i.issue_date.to_string(),
        due: i.due_date.to_string(),
        recipient: Recipient::parse_or_raw(&i.recipient),
        total: yen(i.total_yen),
        state: state(x, i, credited),
    }
}

fn kind(x: &Text, k: Kind) -> &'static str {
    match k {
        Kind::Invoice => x.kind_invoice,
        Kind::CreditNote => x.kind_credit,
    }
}

fn state(x: &Text, i: &Invoice, credited: bool) -> &'static str {
    match (i.kind, i.paid_at, credited) {
        (Kind::CreditNote, ..) => "",
        (_, _, true) => x.credited,
        (_, Some(_), _) => x.paid,
        _ => x.unpaid_state,
    }
}

#[derive(Template)]
#[template(path = "console/invoice.html")]
struct DocumentPage<'a> {
    c: Chrome,
    x: &'a Text,
    i: Invoice,
    kind: &'static str,
    state: &'static str,
    recipient: String,
    issued: String,
    transaction: String,
    due: String,
    amount: String,
    tax: String,
    total: String,
    paid: String,
    credit: Option<(i64, String)>,
    credits: Option<i64>,
    may_pay: bool,
    may_credit: bool,
    csrf: String,
    done: Option<&'static str>,
    error: Option<&'static str>,
}

/// `GET /console/invoices/{id}`.
pub async fn document(
    v: &Views<'_>,
    billing: Option<&Billing>,
    id: &str,
    q: &[(String, String)],
) -> Result<Response<Full<Bytes>>> {
    let done = match field(q, "done") {
        Some("paid") => Some(text(v.ctx.lang).done_paid),
        Some("credit") => Some(text(v.ctx.lang).done_credit),
        _ => None,
    };
    show(v, billing, id, done, None, StatusCode::OK).await
}

async fn show(
    v: &Views<'_>,
    billing: Option<&Billing>,
    id: &str,
    done: Option<&'static str>,
    error: Option<&'static str>,
    status: StatusCode,
) -> Result<Response<Full<Bytes>>> {
    let Some(billing) = billing else {
        return off(v);
    };
    let x = text(v.ctx.lang);
    let Some(id) = id.parse::<i64>().ok() else {
        return v.no_such();
    };
    let (i, credit) = match billing.with_credit(id).await {
        Ok(found) => found,
        Err(e) if e.kind == ErrorKind::NotFound => return v.no_such(),
        Err(e) => return Err(e),
    };
    let open = i.kind == Kind::Invoice && credit.is_none();
    let page = DocumentPage {
        c: chrome(Some(v.s), v.ctx, &format!("{} {}", x.title, i.number)),
        x,
        kind: kind(x, i.kind),
        state: state(x, &i, credit.is_some()),
        recipient: Recipient::parse_or_raw(&i.recipient),
        issued: japanese_date(i.issue_date),
        transaction: japanese_date(i.transaction_date),
        due: japanese_date(i.due_date),
        amount: yen(i.amount_yen),
        tax: yen(i.tax_yen),
        total: yen(i.total_yen),
        paid: i.paid_at.map(date).unwrap_or_default(),
        credit: credit.map(|c| (c.id, c.number)),
        credits: i.credits_invoice_id,
        may_pay: open && i.paid_at.is_none() && v.s.staff.may(StaffRole::Vet),
        may_credit: open && v.s.staff.may(StaffRole::Approve),
        csrf: v.s.csrf.clone(),
        done,
        error,
        i,
    };
    render(status, &page)
}

/// `GET /console/invoices/{id}/pdf`.
pub async fn pdf(
    v: &Views<'_>,
    billing: Option<&Billing>,
    id: &str,
) -> Result<Response<Full<Bytes>>> {
    let Some(billing) = billing else {
        return off(v);
    };
    let Some(id) = id.parse::<i64>().ok() else {
        return v.no_such();
    };
    let (i, pdf) = match billing.document(id).await {
        Ok(found) => found,
        Err(e) if e.kind == ErrorKind::NotFound => return v.no_such(),
        Err(e) => return Err(e),
    };
    let mut r = page(StatusCode::OK, "application/pdf", Bytes::from(pdf));
    if let Ok(h) = HeaderValue::from_str(&format!(
        "attachment; filename=\"invoice-{}.pdf\"",
        i.number
    )) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, h);
    }
    Ok(r)
}

/// `POST /console/invoices/{id}/paid` (role vet, checked by the router).
pub async fn mark_paid(
    v: &Views<'_>,
    billing: Option<&Billing>,
    id: &str,
) -> Result<Response<Full<Bytes>>> {
    let Some(billing) = billing else {
        return off(v);
    };
    let Some(n) = id.parse::<i64>().ok() else {
        return v.no_such();
    };
    match billing.mark_paid(&v.s.staff.actor(), n).await {
        Ok(()) => Ok(see_other(&format!("/console/invoices/{n}?done=paid"))),
        Err(e) if e.kind == ErrorKind::NotFound => v.no_such(),
        Err(e) if e.kind == ErrorKind::Conflict => {
            show(v, Some(billing), id, None, None, StatusCode::CONFLICT).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/invoices/{id}/credit` with `reason` (role approve).
pub async fn credit(
    v: &Views<'_>,
    billing: Option<&Billing>,
    id: &str,
    form: &[(String, String)],
) -> Result<Response<Full<Bytes>>> {
    let Some(billing) = billing else {
        return off(v);
    };
    let x = text(v.ctx.lang);
    let Some(n) = id.parse::<i64>().ok() else {
        return v.no_such();
    };
    let reason = field(form, "reason").unwrap_or_default();
    match billing.credit(&v.s.staff.actor(), n, reason).await {
        Ok(_) => Ok(see_other(&format!("/console/invoices/{n}?done=credit"))),
        Err(e) if e.kind == ErrorKind::Malformed => {
            show(
                v,
                Some(billing),
                id,
                None,
                Some(x.reason_needed),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) if e.kind == ErrorKind::Conflict => {
            show(
                v,
                Some(billing),
                id,
                None,
                Some(x.not_revoked),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) if e.kind == ErrorKind::NotFound => v.no_such(),
        Err(e) => Err(e),
    }
}

/// `GET /console/invoices.csv?month=YYYY-MM`: every document issued in
/// the month, oldest first (UTF-8, CRLF lines, RFC 4180 quoting).
pub async fn csv(
    v: &Views<'_>,
    billing: Option<&Billing>,
    q: &[(String, String)],
) -> Result<Response<Full<Bytes>>> {
    let Some(billing) = billing else {
        return off(v);
    };
    let x = text(v.ctx.lang);
    let query = Query::read(q);
    let Some(bounds) = month_bounds(&query.month) else {
        let why = if query.month.is_empty() {
            x.csv_needs_month
        } else {
            x.month_bad
        };
        return list_page(v, x, &query, Listed::refused(why), StatusCode::BAD_REQUEST);
    };
    let filter = Filter {
        month: Some(bounds),
        ..Filter::default()
    };
    let mut docs = billing.list(filter, CSV_MAX).await?;
    docs.reverse();
    let mut out = csv_row(CSV_HEADER.iter().map(|h| csv_cell(h)));
    for d in &docs {
        let credits = match d.credits_invoice_id {
            Some(id) => billing.with_credit(id).await?.0.number,
            None => String::new(),
        };
        out.push_str(&csv_document(d, &credits));
    }
    let mut r = page(StatusCode::OK, "text/csv; charset=utf-8", Bytes::from(out));
    if let Ok(h) = HeaderValue::from_str(&format!(
        "attachment; filename=\"trustgate-invoices-{}.csv\"",
        query.month
    )) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, h);
    }
    Ok(r)
}

fn csv_row(cells: impl Iterator<Item = String>) -> String {
    let mut line = cells.collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// One document: text cells guarded against formulas, amounts as plain
/// (possibly negative) integers.
pub fn csv_document(d: &Invoice, credits: &str) -> String {
    let kind = match d.kind {
        Kind::Invoice => "invoice",
        Kind::CreditNote => "credit_note",
    };
    let text = |s: &str| csv_cell(s);
    csv_row(
        [
            text(&d.number),
            text(kind),
            d.issue_date.to_string(),
            d.transaction_date.to_string(),
            d.due_date.to_string(),
            d.organization_id.to_string(),
            text(&Recipient::parse_or_raw(&d.recipient)),
            text(&d.serial),
            text(&d.description),
            d.amount_yen.to_string(),
            "10%".to_owned(),
            d.tax_yen.to_string(),
            d.total_yen.to_string(),
            text(credits),
            d.paid_at.map(date).unwrap_or_default(),
            text(d.paid_by.as_deref().unwrap_or_default()),
        ]
        .into_iter(),
    )
}
