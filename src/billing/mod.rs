//! Invoices (docs/invoices.md): what an issued certificate costs, the
//! invoice job, staff's payments and credit notes.
//!
//! - At issuance `ra` stores a billing item (`item`) in the certificate's
//!   transaction: the price from the list in force and the billing contact
//!   on record then.
//! - The job (`Billing::run`, once per cluster under a lease, or
//!   `trustgate billing run`) invoices every item issued before the
//!   current day in Japan: one invoice per certificate, numbered per year
//!   without gaps, its PDF (`pdf`) e-mailed to the billing contact in the
//!   same transaction.
//! - Staff mark invoices paid and cancel a revoked certificate's invoice
//!   with a credit note: its own numbered document, the invoice unchanged.
//!
//! Japanese qualified invoices (適格請求書): the registration number, the
//! amount per tax rate and the tax per rate, rounded once per document.
//! Rounding: the tax is floored (切り捨て) — the customer never pays a
//! fraction of a yen more than 10%.

pub mod pdf;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, OffsetDateTime, UtcOffset};

use crate::config::{BillingConfig, Config};
use crate::core::organization::Organization;
use crate::core::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::mail::notices::{yen, InvoiceIssued};
use crate::mail::Language;
use crate::sa::audit::NewEvent;
use crate::sa::invoices::{self, Draft, Filter, Invoice, Item, Kind};
use crate::sa::outbox::{Attachment, NewNotice};
use crate::sa::{self, Store};

/// The only consumption-tax rate on a certificate (標準税率).
pub const TAX_RATE_PERCENT: i64 = 10;
/// An invoice is due this many days after issuance at the latest.
pub const INVOICE_WITHIN_DAYS: i64 = 10;
/// Items invoiced per transaction batch of the job.
const JOB_BATCH: i64 = 100;

/// The amounts of a document at the one tax rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amounts {
    /// Before tax (税抜), the sum of the lines at 10%.
    pub amount: i64,
    /// The tax on `amount`, floored once for the document.
    pub tax: i64,
    pub total: i64,
}

impl Amounts {
    /// The amounts of lines all taxed at 10%: summed first, then taxed
    /// once (rounding per line is not allowed on a qualified invoice).
    pub fn of(lines: &[i64]) -> Amounts {
        let amount: i64 = lines.iter().sum();
        let tax = (amount * TAX_RATE_PERCENT).div_euclid(100);
        Amounts {
            amount,
            tax,
            total: amount + tax,
        }
    }

    /// The credit note's amounts: this document's, negated.
    pub fn negated(self) -> Amounts {
        Amounts {
            amount: -self.amount,
            tax: -self.tax,
            total: -self.total,
        }
    }
}

/// Japan Standard Time: invoices carry dates in Japan.
fn jst() -> UtcOffset {
    UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// The calendar date in Japan at `t`.
pub fn date_in_japan(t: OffsetDateTime) -> Date {
    t.to_offset(jst()).date()
}

/// The start of `t`'s day in Japan.
pub fn start_of_day_in_japan(t: OffsetDateTime) -> OffsetDateTime {
    date_in_japan(t).midnight().assume_offset(jst())
}

/// Payment is due on the last day of the month after the month of
/// issuance: December → 31 January of the next year, 31 January → the
/// end of February (29th in a leap year).
pub fn due_date(issued: Date) -> Date {
    let (year, month) = match issued.month() {
        Month::December => (issued.year() + 1, Month::January),
        m => (issued.year(), m.next()),
    };
    let last = month.length(year);
    Date::from_calendar_date(year, month, last).unwrap_or(issued)
}

/// A certificate's validity in whole days, rounded: the CA's backdating
/// of notBefore (an hour or so) does not move it into a dearer band.
pub fn validity_days(not_before: OffsetDateTime, not_after: OffsetDateTime) -> u32 {
    let secs = (not_after - not_before).whole_seconds().max(0);
    u32::try_from((secs + 43_200) / 86_400).unwrap_or(u32::MAX)
}

/// Who an invoice is addressed to, as the organization record held it at
/// issuance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub organization: String,
    pub department: String,
    pub name: String,
    pub postal_code: String,
    pub address: String,
}

impl Recipient {
    fn of(org: &Organization) -> Recipient {
        let b = &org.data.billing_contact;
        let organization = if b.organization.trim().is_empty() {
            org.data.legal_name.clone()
        } else {
            b.organization.clone()
        };
        Recipient {
            organization,
            department: b.department.clone(),
            name: b.name.clone(),
            postal_code: b.postal_code.clone(),
            address: b.address.clone(),
        }
    }

    /// The company an invoice stored as `json` is addressed to (the raw
    /// text if it does not parse).
    pub fn parse_or_raw(json: &str) -> String {
        Recipient::parse(json).map_or_else(|_| json.to_owned(), |r| r.organization)
    }

    fn parse(json: &str) -> Result<Recipient> {
        serde_json::from_str(json)
            .map_err(|e| Error::internal(format!("stored invoice recipient: {e}")))
    }
}

/// What `ra` knows of a certificate it just issued.
#[derive(Debug, Clone, Copy)]
pub struct Issued<'a> {
    pub serial: &'a str,
    pub names: &'a [String],
    /// The profile's name: `ov`, `ev` (`dv`, for tests, is not billed).
    pub profile: &'a str,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub at: OffsetDateTime,
}

/// The billing item of a certificate issued to `org`, its certificate id
/// left for the storing transaction; None when billing is off or the
/// profile has no price (a price list missing an issued level is refused
/// at startup, so that is `dv` only).
pub fn item(cfg: Option<&BillingConfig>, org: &Organization, c: Issued<'_>) -> Option<Item> {
    let cfg = cfg?;
    let wildcard = c.names.iter().any(|n| n.starts_with("*."));
    let days = validity_days(c.not_before, c.not_after);
    let price = cfg.price(c.profile, wildcard, days)?;
    Some(Item {
        certificate_id: 0,
        organization_id: org.id.0,
        serial: c.serial.to_owned(),
        level: c.profile.to_owned(),
        wildcard,
        validity_days: i32::try_from(days).unwrap_or(i32::MAX),
        names: c.names.to_vec(),
        price_yen: i64::try_from(price).unwrap_or(i64::MAX),
        recipient: serde_json::to_string(&Recipient::of(org)).unwrap_or_default(),
        recipient_email: org.data.billing_email().to_owned(),
        language: Language::for_country(&org.data.head_office.country)
            .code()
            .to_owned(),
        issued_at: c.at,
    })
}

/// The line describing a certificate on its invoice.
pub fn description(item: &Item) -> String {
    let first = item.names.first().map_or("", String::as_str);
    let more = match item.names.len() {
        0 | 1 => String::new(),
        n => format!(" ほか{}件", n - 1),
    };
    let kind = if item.wildcard {
        "ワイルドカード証明書"
    } else {
        "証明書"
    };
    format!(
        "{} {kind} {first}{more} ({}日間)",
        item.level.to_uppercase(),
        item.validity_days
    )
}

/// What one run of the job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    pub invoiced: usize,
    /// Of those, invoiced more than 10 days after issuance (the job did
    /// not run for that long).
    pub late: usize,
    /// Items that could not be invoiced (logged; tried again next run).
    pub failed: usize,
}

/// Where a document stands for its organization (the portal's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// An invoice not paid, its due date today or later.
    Due,
    Paid,
    /// An invoice not paid after its due date.
    Overdue,
    /// An invoice a credit note cancelled.
    Cancelled,
    /// A credit note.
    Credit,
}

impl Standing {
    /// `doc`'s standing on `today` (a date in Japan); `cancelled`: a
    /// credit note cancels it.
    pub fn of(doc: &Invoice, cancelled: bool, today: Date) -> Standing {
        if doc.kind == Kind::CreditNote {
            Standing::Credit
        } else if cancelled {
            Standing::Cancelled
        } else if doc.paid_at.is_some() {
            Standing::Paid
        } else if doc.due_date < today {
            Standing::Overdue
        } else {
            Standing::Due
        }
    }
}

/// Invoicing, when `[billing]` is configured.
#[derive(Clone)]
pub struct Billing {
    cfg: Arc<Config>,
    store: Store,
    clock: Clock,
    font: pdf::Font,
}

impl Billing {
    /// Billing of `cfg`; None without `[billing]`. A faulty section (a bad
    /// registration number, a price list missing a level the CA issues,
    /// an unreadable font) is an error: startup stops.
    pub fn from_config(cfg: Arc<Config>, store: Store, clock: Clock) -> Result<Option<Billing>> {
        let Some(b) = &cfg.billing else {
            return Ok(None);
        };
        b.validate(&cfg.acme.profiles, cfg.ca.validity_days)?;
        let font = pdf::Font::load(&b.font)?;
        Ok(Some(Billing {
            cfg,
            store,
            clock,
            font,
        }))
    }

    fn billing(&self) -> Result<&BillingConfig> {
        self.cfg
            .billing
            .as_ref()
            .ok_or_else(|| Error::internal("billing is not configured"))
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Hours between runs of the job.
    pub fn every(&self) -> std::time::Duration {
        let hours = self.cfg.billing.as_ref().map_or(24, |b| b.job_every_hours);
        std::time::Duration::from_secs(hours * 3600)
    }

    /// The job at `now`: invoices every item issued before `now`'s day in
    /// Japan (a certificate issued today is invoiced tomorrow), as
    /// `creator` (`job:INSTANCE`).
    pub async fn run(&self, now: OffsetDateTime, creator: &str) -> Result<RunReport> {
        let cutoff = start_of_day_in_japan(now);
        let mut report = RunReport::default();
        loop {
            let items = self
                .store
                .read(move |c| invoices::open_items(c, cutoff, JOB_BATCH))
                .await?;
            if items.is_empty() {
                return Ok(report);
            }
            let mut made = 0;
            for item in items {
                let late = now - item.issued_at > Duration::days(INVOICE_WITHIN_DAYS);
                let serial = item.serial.clone();
                match self.invoice(item, now, creator).await {
                    Ok(Some(_)) => {
                        made += 1;
                        report.invoiced += 1;
                        report.late += usize::from(late);
                    }
                    Ok(None) => {}
                    // One item's fault does not hold the others back; it
                    // stays open and is tried again at the next run.
                    Err(e) => {
                        tracing::error!(%serial, error = %e, "certificate not invoiced");
                        report.failed += 1;
                    }
                }
            }
            if made == 0 {
                // Another instance took them all: it carries on.
                return Ok(report);
            }
        }
    }

    /// The invoice of `item` at `now`, written with its e-mail; None when
    /// another instance invoiced it first.
    async fn invoice(
        &self,
        item: Item,
        now: OffsetDateTime,
        creator: &str,
    ) -> Result<Option<Invoice>> {
        let issued = date_in_japan(item.issued_at);
        let amounts = Amounts::of(&[item.price_yen]);
        let draft = Draft {
            kind: Kind::Invoice,
            certificate_id: item.certificate_id,
            credits_invoice_id: None,
            organization_id: item.organization_id,
            serial: item.serial.clone(),
            issue_date: date_in_japan(now),
            transaction_date: issued,
            due_date: due_date(issued),
            recipient: item.recipient.clone(),
            recipient_email: item.recipient_email.clone(),
            description: description(&item),
            amount_yen: amounts.amount,
            tax_yen: amounts.tax,
            total_yen: amounts.total,
            created_at: now,
            created_by: creator.to_owned(),
            reason: None,
        };
        let made = self.write(draft, item.language.clone()).await?;
        if let Some(i) = &made {
            tracing::info!(invoice = %i.number, serial = %i.serial, total = i.total_yen, "invoice issued");
        }
        Ok(made)
    }

    /// Writes `draft` with its PDF and, with `[mail]`, its e-mail, in one
    /// transaction.
    async fn write(&self, draft: Draft, language: String) -> Result<Option<Invoice>> {
        self.write_with(draft, language, |_, _| Ok(())).await
    }

    /// [`Billing::write`], then `also` (an audit event) in the same
    /// transaction: neither lands without the other.
    async fn write_with(
        &self,
        draft: Draft,
        language: String,
        also: impl FnOnce(&mut sa::DbConn, &Invoice) -> Result<()> + Send + 'static,
    ) -> Result<Option<Invoice>> {
        // The e-mail is due now by the clock the delivery workers read,
        // whatever time the job was run for (`billing run --now`).
        let (this, now) = (self.clone(), self.clock.now());
        self.store
            .write(move |c| {
                let render = |i: &Invoice| this.render(i);
                let then = |c: &mut sa::DbConn, i: &Invoice, pdf: &[u8]| {
                    this.enqueue(c, i, pdf, &language, now)?;
                    also(c, i)
                };
                invoices::create(c, &draft, render, then)
            })
            .await
    }

    /// The PDF of `invoice`.
    pub fn render(&self, invoice: &Invoice) -> Result<Vec<u8>> {
        let recipient = Recipient::parse(&invoice.recipient)?;
        layout(self.billing()?, invoice, &recipient).render(&self.font, &invoice.number)
    }

    /// The e-mail of `invoice` to its billing contact, its PDF attached;
    /// nothing without `[mail]`.
    fn enqueue(
        &self,
        c: &mut sa::DbConn,
        invoice: &Invoice,
        pdf: &[u8],
        language: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        if self.cfg.mail.is_none() {
            return Ok(());
        }
        let b = self.billing()?;
        let language = if language == "ja" {
            Language::Ja
        } else {
            Language::En
        };
        let rendered = InvoiceIssued {
            recipient: Recipient::parse(&invoice.recipient)?.organization,
            issuer: b.issuer_name.clone(),
            number: invoice.number.clone(),
            description: invoice.description.clone(),
            total_yen: invoice.total_yen,
            due: invoice.due_date,
            payment: b.payment_instructions.clone(),
        }
        .render(language)?;
        let notice = NewNotice {
            kind: InvoiceIssued::KIND,
            about: format!("invoice:{}", invoice.number),
            recipient: invoice.recipient_email.clone(),
            language: language.code(),
            subject: rendered.subject,
            body: rendered.body,
        };
        let file = Attachment {
            filename: format!("invoice-{}.pdf", invoice.number),
            content_type: "application/pdf".into(),
            content: pdf.to_vec(),
        };
        sa::outbox::enqueue_with(c, &notice, &[file], now).map(|_| ())
    }

    /// Documents matching `filter`, newest first.
    pub async fn list(&self, filter: Filter, limit: i64) -> Result<Vec<Invoice>> {
        self.store
            .read(move |c| invoices::list(c, &filter, limit))
            .await
    }

    /// Document `id` and its PDF.
    pub async fn document(&self, id: i64) -> Result<(Invoice, Vec<u8>)> {
        self.store
            .read(move |c| {
                let found = invoices::by_id(c, id)?.zip(invoices::pdf(c, id)?);
                found.ok_or_else(|| Error::not_found(format!("no invoice {id}")))
            })
            .await
    }

    /// Organization `org`'s documents, newest first (at most `limit`),
    /// each with its standing today in Japan.
    pub async fn of_organization(
        &self,
        org: crate::core::OrganizationId,
        limit: i64,
    ) -> Result<Vec<(Invoice, Standing)>> {
        let today = date_in_japan(self.clock.now());
        let (docs, cancelled) = self
            .store
            .read(move |c| invoices::of_organization(c, org.0, limit))
            .await?;
        Ok(docs
            .into_iter()
            .map(|d| {
                let standing = Standing::of(&d, cancelled.contains(&d.id), today);
                (d, standing)
            })
            .collect())
    }

    /// The number and PDF (the bytes the e-mail attached) of document
    /// `id` when it is organization `org`'s; None otherwise.
    pub async fn pdf_of(
        &self,
        org: crate::core::OrganizationId,
        id: i64,
    ) -> Result<Option<(String, Vec<u8>)>> {
        self.store
            .read(move |c| invoices::pdf_of_organization(c, org.0, id))
            .await
    }

    /// Document `id` with its credit note, if any.
    pub async fn with_credit(&self, id: i64) -> Result<(Invoice, Option<Invoice>)> {
        self.store
            .read(move |c| {
                let invoice = invoices::by_id(c, id)?
                    .ok_or_else(|| Error::not_found(format!("no invoice {id}")))?;
                Ok((invoice, invoices::credit_note_of(c, id)?))
            })
            .await
    }

    /// Records invoice `id` paid, audited as `actor`.
    pub async fn mark_paid(&self, actor: &str, id: i64) -> Result<()> {
        let (actor, now) = (actor.to_owned(), self.clock.now());
        let request = crate::http::current_request_id();
        self.store
            .write(move |c| {
                let invoice = invoices::by_id(c, id)?
                    .ok_or_else(|| Error::not_found(format!("no invoice {id}")))?;
                invoices::mark_paid(c, id, &actor, now)?;
                sa::audit::append(
                    c,
                    NewEvent {
                        actor: &actor,
                        action: "invoice.paid",
                        organization: Some(crate::core::OrganizationId(invoice.organization_id)),
                        subject: format!("invoice:{}", invoice.number),
                        reason: None,
                        details: serde_json::json!({ "total_yen": invoice.total_yen }),
                        request_id: request,
                    },
                    now,
                )
            })
            .await
    }

    /// A credit note cancelling invoice `id`, whose certificate must be
    /// revoked; e-mailed like the invoice and audited as `actor`.
    pub async fn credit(&self, actor: &str, id: i64, reason: &str) -> Result<Invoice> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(Error::malformed(
                "a reason of 1 to 500 characters is required",
            ));
        }
        let (invoice, credited) = self.with_credit(id).await?;
        if invoice.kind != Kind::Invoice || credited.is_some() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("{} is not an invoice without a credit note", invoice.number),
            ));
        }
        let cert = invoice.certificate_id;
        let revoked = self
            .store
            .read(move |c| {
                let found = sa::certificates::by_id(c, crate::core::CertificateId(cert))?;
                Ok(found.and_then(|c| c.revoked_at))
            })
            .await?;
        if revoked.is_none() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("the certificate of {} is not revoked", invoice.number),
            ));
        }
        let draft = self.credit_draft(&invoice, actor, reason);
        let language = self.language_of(cert).await?;
        let audit = self.credit_event(actor, &invoice, reason);
        self.write_with(draft, language, audit)
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Conflict,
                    format!("{} has a credit note already", invoice.number),
                )
            })
    }

    fn credit_draft(&self, invoice: &Invoice, actor: &str, reason: &str) -> Draft {
        let now = self.clock.now();
        let amounts = Amounts {
            amount: invoice.amount_yen,
            tax: invoice.tax_yen,
            total: invoice.total_yen,
        }
        .negated();
        Draft {
            kind: Kind::CreditNote,
            certificate_id: invoice.certificate_id,
            credits_invoice_id: Some(invoice.id),
            organization_id: invoice.organization_id,
            serial: invoice.serial.clone(),
            issue_date: date_in_japan(now),
            transaction_date: invoice.transaction_date,
            due_date: date_in_japan(now),
            recipient: invoice.recipient.clone(),
            recipient_email: invoice.recipient_email.clone(),
            description: format!("{} の取消 ({})", invoice.number, invoice.description),
            amount_yen: amounts.amount,
            tax_yen: amounts.tax,
            total_yen: amounts.total,
            created_at: now,
            created_by: actor.to_owned(),
            reason: Some(reason.to_owned()),
        }
    }

    async fn language_of(&self, certificate_id: i64) -> Result<String> {
        let item = self
            .store
            .read(move |c| invoices::item(c, certificate_id))
            .await?;
        Ok(item.map_or_else(|| "ja".to_owned(), |i| i.language))
    }

    /// The `invoice.credit` event of a credit note on `invoice`, written
    /// in the credit note's transaction.
    fn credit_event(
        &self,
        actor: &str,
        invoice: &Invoice,
        reason: &str,
    ) -> impl FnOnce(&mut sa::DbConn, &Invoice) -> Result<()> + Send + 'static {
        let (actor, reason, now) = (actor.to_owned(), reason.to_owned(), self.clock.now());
        let organization = Some(crate::core::OrganizationId(invoice.organization_id));
        let subject = format!("invoice:{}", invoice.number);
        let request_id = crate::http::current_request_id();
        move |c, note| {
            let event = NewEvent {
                actor: &actor,
                action: "invoice.credit",
                organization,
                subject,
                reason: Some(&reason),
                details: serde_json::json!({ "credit_note": note.number, "total_yen": note.total_yen }),
                request_id,
            };
            sa::audit::append(c, event, now)
        }
    }
}

/// `2027年1月31日`.
pub fn japanese_date(d: Date) -> String {
    format!("{}年{}月{}日", d.year(), u8::from(d.month()), d.day())
}

/// The page of `invoice` (or credit note): the qualified-invoice fields
/// in the order a Japanese reader expects them.
fn layout(cfg: &BillingConfig, invoice: &Invoice, to: &Recipient) -> pdf::Page {
    use pdf::Align::{Left, Right};
    let credit = invoice.kind == Kind::CreditNote;
    let title = if credit {
        "返還請求書 (適格返還請求書)"
    } else {
        "請求書 (適格請求書)"
    };
    let mut p = pdf::Page::new();
    p.text(0.0, Left, 18.0, title);
    p.text(0.0, Right, 10.0, format!("番号: {}", invoice.number));
    p.down(16.0).text(
        0.0,
        Right,
        10.0,
        format!("発行日: {}", japanese_date(invoice.issue_date)),
    );
    if let Some(of) = invoice
        .credits_invoice_id
        .map(|_| invoice.description.clone())
    {
        p.down(14.0).text(0.0, Right, 9.0, format!("対象: {of}"));
    }
    p.down(30.0)
        .text(0.0, Left, 13.0, format!("{} 御中", to.organization));
    let who = format!("{} {} 様", to.department, to.name);
    p.down(18.0).text(0.0, Left, 10.0, who.trim());
    p.down(14.0).text(
        0.0,
        Left,
        9.0,
        format!("〒{} {}", to.postal_code, to.address),
    );
    p.down(-32.0)
        .text(0.0, Right, 10.0, cfg.issuer_name.as_str());
    p.down(14.0)
        .text(0.0, Right, 9.0, cfg.issuer_address.as_str());
    if let Some(phone) = &cfg.issuer_phone {
        p.down(12.0).text(0.0, Right, 9.0, format!("電話 {phone}"));
    }
    p.down(12.0).text(
        0.0,
        Right,
        9.0,
        format!("登録番号: {}", cfg.registration_number),
    );
    totals(&mut p, invoice, credit);
    lines(&mut p, invoice);
    tax(&mut p, invoice);
    payment(&mut p, cfg, credit);
    p
}

fn totals(p: &mut pdf::Page, invoice: &Invoice, credit: bool) {
    use pdf::Align::Left;
    let label = if credit {
        "返還金額 (税込)"
    } else {
        "ご請求金額 (税込)"
    };
    p.down(44.0)
        .text(
            0.0,
            Left,
            14.0,
            format!("{label}: {}", yen(invoice.total_yen)),
        )
        .rule();
    if !credit {
        p.down(20.0).text(
            0.0,
            Left,
            11.0,
            format!("お支払期限: {}", japanese_date(invoice.due_date)),
        );
    }
}

fn lines(p: &mut pdf::Page, invoice: &Invoice) {
    use pdf::Align::{Left, Right};
    p.down(34.0)
        .text(0.0, Left, 9.0, "取引年月日")
        .text(90.0, Left, 9.0, "内容")
        .text(60.0, Right, 9.0, "税率")
        .text(0.0, Right, 9.0, "金額 (税抜)")
        .rule();
    p.down(18.0)
        .text(0.0, Left, 9.0, japanese_date(invoice.transaction_date))
        .text(90.0, Left, 9.0, invoice.description.as_str())
        .text(60.0, Right, 9.0, "10%")
        .text(0.0, Right, 9.0, yen(invoice.amount_yen));
    p.down(13.0)
        .text(90.0, Left, 8.0, format!("シリアル番号 {}", invoice.serial));
}

fn tax(p: &mut pdf::Page, invoice: &Invoice) {
    use pdf::Align::{Left, Right};
    p.down(14.0).rule();
    let rows = [
        ("10%対象 (税抜)", yen(invoice.amount_yen)),
        ("消費税 (10%)", yen(invoice.tax_yen)),
        ("合計 (税込)", yen(invoice.total_yen)),
    ];
    for (label, value) in rows {
        p.down(16.0)
            .text(120.0, Right, 10.0, label)
            .text(0.0, Right, 10.0, value);
    }
    p.down(16.0).text(
        0.0,
        Left,
        8.0,
        "消費税額は税率ごとに合計した金額に対して1回計算し、1円未満を切り捨てています。",
    );
}

fn payment(p: &mut pdf::Page, cfg: &BillingConfig, credit: bool) {
    use pdf::Align::Left;
    if credit {
        p.down(30.0).text(
            0.0,
            Left,
            10.0,
            "上記の請求を取り消し、金額を返還いたします。",
        );
        return;
    }
    p.down(30.0).text(0.0, Left, 10.0, "お振込先");
    for line in &cfg.payment_instructions {
        p.down(14.0).text(12.0, Left, 10.0, line.as_str());
    }
    p.down(18.0).text(
        0.0,
        Left,
        8.0,
        "お振込手数料はお客様のご負担でお願いいたします。",
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
