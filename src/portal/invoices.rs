//! `/invoices`: the organization's invoices and credit notes with where
//! each stands today (due, paid, overdue by the injected clock), and
//! each one's PDF — the bytes its e-mail attached. Read through the
//! session's organization; another organization's document is the
//! portal's 404. `billing` owns the documents (docs/invoices.md).

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_DISPOSITION};
use hyper::{Response, StatusCode};

use super::i18n::Lang;
use super::pages::{chrome, render, Chrome};
use super::{found, Ctx, Portal, Session};
use crate::billing::{Billing, Standing};
use crate::error::{Error, Result};
use crate::http::page::page;
use crate::mail::notices::yen;
use crate::sa::invoices::{date_text, Kind};

/// The documents the list shows: years of monthly certificates.
const LIST_MAX: i64 = 500;

/// The words of the page.
pub struct Text {
    title: &'static str,
    intro: &'static str,
    off: &'static str,
    none: &'static str,
    number: &'static str,
    kind: &'static str,
    issued: &'static str,
    total: &'static str,
    due: &'static str,
    status: &'static str,
    pdf: &'static str,
    invoice: &'static str,
    credit_note: &'static str,
    st_due: &'static str,
    st_paid: &'static str,
    st_overdue: &'static str,
    st_cancelled: &'static str,
    st_credit: &'static str,
}

const JA: Text = Text {
    title: "請求書",
    intro: "証明書ごとの請求書と返還請求書です。PDF は請求書のメールに添付したものと同じです。",
    off: "この認証局では請求書を発行していません。",
    none: "請求書はまだありません。証明書の発行の翌日に発行されます。",
    number: "番号",
    kind: "種類",
    issued: "発行日",
    total: "金額 (税込)",
    due: "支払期限",
    status: "状態",
    pdf: "PDF",
    invoice: "請求書",
    credit_note: "返還請求書",
    st_due: "お支払い待ち",
    st_paid: "入金済み",
    st_overdue: "支払期限超過",
    st_cancelled: "取消済み",
    st_credit: "返還",
};

const EN: Text = Text {
    title: "Invoices",
    intro: "One invoice per certificate, and credit notes. Each PDF is the one attached to the invoice e-mail.",
    off: "This CA does not issue invoices.",
    none: "No invoices yet. A certificate is invoiced the day after its issuance.",
    number: "Number",
    kind: "Kind",
    issued: "Issued",
    total: "Amount (incl. tax)",
    due: "Due",
    status: "Status",
    pdf: "PDF",
    invoice: "Invoice",
    credit_note: "Credit note",
    st_due: "Due",
    st_paid: "Paid",
    st_overdue: "Overdue",
    st_cancelled: "Cancelled",
    st_credit: "Credit",
};

fn text(l: Lang) -> &'static Text {
    match l {
        Lang::Ja => &JA,
        Lang::En => &EN,
    }
}

/// One document as the list shows it.
struct Row {
    id: i64,
    number: String,
    kind: &'static str,
    issued: String,
    total: String,
    /// None for a credit note: nothing to pay.
    due: Option<String>,
    status: &'static str,
    /// `due`, `paid`, `overdue`, `cancelled` or `credit`: the status's class.
    class: &'static str,
}

#[derive(Template)]
#[template(path = "portal/invoices.html")]
struct ListPage {
    c: Chrome,
    w: &'static Text,
    /// None: billing is off.
    rows: Option<Vec<Row>>,
}

fn standing(w: &Text, s: Standing) -> (&'static str, &'static str) {
    match s {
        Standing::Due => (w.st_due, "due"),
        Standing::Paid => (w.st_paid, "paid"),
        Standing::Overdue => (w.st_overdue, "overdue"),
        Standing::Cancelled => (w.st_cancelled, "cancelled"),
        Standing::Credit => (w.st_credit, "credit"),
    }
}

impl Portal {
    /// GET `/invoices`.
    pub(super) async fn invoices(&self, s: &Session, ctx: &Ctx) -> Result<Response<Full<Bytes>>> {
        let org = s.organization()?;
        let w = text(ctx.lang);
        let rows = match &self.billing {
            Some(b) => Some(rows(b, org, w).await?),
            None => None,
        };
        render(
            StatusCode::OK,
            &ListPage {
                c: chrome(Some(s), ctx, w.title),
                w,
                rows,
            },
        )
    }

    /// GET `/invoices/{id}.pdf`: the document's PDF, to save.
    pub(super) async fn invoice_pdf(&self, s: &Session, id: i64) -> Result<Response<Full<Bytes>>> {
        let org = s.organization()?;
        let billing = found(self.billing.as_ref())?;
        let (number, pdf) = found(billing.pdf_of(org, id).await?)?;
        let mut r = page(StatusCode::OK, "application/pdf", Bytes::from(pdf));
        // Numbers are digits, a dash and `C`: nothing to quote.
        let disposition = format!("attachment; filename=\"invoice-{number}.pdf\"");
        let value = HeaderValue::from_str(&disposition)
            .map_err(|_| Error::internal("content-disposition"))?;
        r.headers_mut().insert(CONTENT_DISPOSITION, value);
        Ok(r)
    }
}

async fn rows(b: &Billing, org: crate::core::OrganizationId, w: &Text) -> Result<Vec<Row>> {
    let docs = b.of_organization(org, LIST_MAX).await?;
    Ok(docs
        .into_iter()
        .map(|(d, st)| {
            let (status, class) = standing(w, st);
            let credit = d.kind == Kind::CreditNote;
            Row {
                id: d.id,
                kind: if credit { w.credit_note } else { w.invoice },
                issued: date_text(d.issue_date),
                total: yen(d.total_yen),
                due: (!credit).then(|| date_text(d.due_date)),
                status,
                class,
                number: d.number,
            }
        })
        .collect())
}

/// `7.pdf` → 7.
pub fn pdf_id(file: &str) -> Option<i64> {
    file.strip_suffix(".pdf")?
        .parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
}
