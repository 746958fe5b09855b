//! Billing items, invoices and credit notes (`billing` decides, this
//! stores; docs/invoices.md).
//!
//! A billing item is written in the transaction that stores its
//! certificate. A document (invoice or credit note) takes the next number
//! of its series and year from `document_counters` in the transaction
//! that writes it: the counter row is locked until that transaction ends
//! (PostgreSQL row lock; SQLite has one writer), and a transaction that
//! rolls back gives its number back, so numbers have no gaps.

use diesel::prelude::*;
use time::{Date, OffsetDateTime};

use super::schema::{billing_items, document_counters, invoices};
use super::{from_db, is_unique_violation, to_db, write_tx, DbConn};
use crate::error::{Error, ErrorKind, Result};

/// What one issued certificate costs and who pays for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub certificate_id: i64,
    pub organization_id: i64,
    pub serial: String,
    /// `ov` or `ev`.
    pub level: String,
    pub wildcard: bool,
    pub validity_days: i32,
    pub names: Vec<String>,
    pub price_yen: i64,
    /// JSON of the billing contact as it was at issuance.
    pub recipient: String,
    pub recipient_email: String,
    /// `ja` or `en`.
    pub language: String,
    pub issued_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = billing_items)]
struct ItemRow {
    certificate_id: i64,
    organization_id: i64,
    serial: String,
    level: String,
    wildcard: bool,
    validity_days: i32,
    names: String,
    price_yen: i64,
    recipient: String,
    recipient_email: String,
    language: String,
    issued_at: time::PrimitiveDateTime,
}

impl ItemRow {
    fn into_item(self) -> Result<Item> {
        Ok(Item {
            names: serde_json::from_str(&self.names)
                .map_err(|e| super::corrupt("billing_items.names", &e.to_string()))?,
            certificate_id: self.certificate_id,
            organization_id: self.organization_id,
            serial: self.serial,
            level: self.level,
            wildcard: self.wildcard,
            validity_days: self.validity_days,
            price_yen: self.price_yen,
            recipient: self.recipient,
            recipient_email: self.recipient_email,
            language: self.language,
            issued_at: from_db(self.issued_at),
        })
    }
}

/// Writes `item`. Call it inside the transaction that stores its
/// certificate.
pub fn record_item(conn: &mut DbConn, item: &Item) -> Result<()> {
    let names = serde_json::to_string(&item.names)
        .map_err(|e| Error::internal(format!("billing item names: {e}")))?;
    diesel::insert_into(billing_items::table)
        .values((
            billing_items::certificate_id.eq(item.certificate_id),
            billing_items::organization_id.eq(item.organization_id),
            billing_items::serial.eq(&item.serial),
            billing_items::level.eq(&item.level),
            billing_items::wildcard.eq(item.wildcard),
            billing_items::validity_days.eq(item.validity_days),
            billing_items::names.eq(names),
            billing_items::price_yen.eq(item.price_yen),
            billing_items::recipient.eq(&item.recipient),
            billing_items::recipient_email.eq(&item.recipient_email),
            billing_items::language.eq(&item.language),
            billing_items::issued_at.eq(to_db(item.issued_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Up to `limit` items not invoiced yet issued before `before`, oldest
/// first.
pub fn open_items(conn: &mut DbConn, before: OffsetDateTime, limit: i64) -> Result<Vec<Item>> {
    let rows: Vec<ItemRow> = billing_items::table
        .filter(billing_items::invoice_id.is_null())
        .filter(billing_items::issued_at.lt(to_db(before)))
        .order((billing_items::issued_at, billing_items::certificate_id))
        .limit(limit)
        .select(ItemRow::as_select())
        .load(conn)?;
    rows.into_iter().map(ItemRow::into_item).collect()
}

/// The item of certificate `id`, if it was billable.
pub fn item(conn: &mut DbConn, certificate_id: i64) -> Result<Option<Item>> {
    billing_items::table
        .find(certificate_id)
        .select(ItemRow::as_select())
        .first(conn)
        .optional()?
        .map(ItemRow::into_item)
        .transpose()
}

/// An invoice, or a credit note cancelling one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invoice,
    CreditNote,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Invoice => "invoice",
            Kind::CreditNote => "credit_note",
        }
    }

    fn parse(s: &str) -> Result<Kind> {
        match s {
            "invoice" => Ok(Kind::Invoice),
            "credit_note" => Ok(Kind::CreditNote),
            other => Err(super::corrupt("invoices.kind", other)),
        }
    }

    /// The numbering series: invoices `2026-000001`, credit notes
    /// `C2026-000001`.
    fn series(self) -> &'static str {
        match self {
            Kind::Invoice => "",
            Kind::CreditNote => "C",
        }
    }
}

/// A document to write; its number is given when it is written.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: Kind,
    pub certificate_id: i64,
    pub credits_invoice_id: Option<i64>,
    pub organization_id: i64,
    pub serial: String,
    pub issue_date: Date,
    pub transaction_date: Date,
    pub due_date: Date,
    pub recipient: String,
    pub recipient_email: String,
    pub description: String,
    pub amount_yen: i64,
    pub tax_yen: i64,
    pub total_yen: i64,
    pub created_at: OffsetDateTime,
    pub created_by: String,
    pub reason: Option<String>,
}

/// A document as stored (its PDF apart: `pdf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: i64,
    pub number: String,
    pub kind: Kind,
    pub certificate_id: i64,
    pub credits_invoice_id: Option<i64>,
    pub organization_id: i64,
    pub serial: String,
    pub issue_date: Date,
    pub transaction_date: Date,
    pub due_date: Date,
    pub recipient: String,
    pub recipient_email: String,
    pub description: String,
    pub amount_yen: i64,
    pub tax_yen: i64,
    pub total_yen: i64,
    pub created_at: OffsetDateTime,
    pub created_by: String,
    pub reason: Option<String>,
    pub paid_at: Option<OffsetDateTime>,
    pub paid_by: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = invoices)]
struct InvoiceRow {
    id: i64,
    number: String,
    kind: String,
    certificate_id: i64,
    credits_invoice_id: Option<i64>,
    organization_id: i64,
    serial: String,
    issue_date: String,
    transaction_date: String,
    due_date: String,
    recipient: String,
    recipient_email: String,
    description: String,
    amount_yen: i64,
    tax_yen: i64,
    total_yen: i64,
    created_at: time::PrimitiveDateTime,
    created_by: String,
    reason: Option<String>,
    paid_at: Option<time::PrimitiveDateTime>,
    paid_by: Option<String>,
}

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A calendar date as stored: `YYYY-MM-DD`, which sorts as text.
pub fn date_text(d: Date) -> String {
    d.format(DATE).unwrap_or_default()
}

fn parse_date(s: &str) -> Result<Date> {
    Date::parse(s, DATE).map_err(|e| super::corrupt(&format!("invoice date ({e})"), s))
}

impl InvoiceRow {
    fn into_invoice(self) -> Result<Invoice> {
        Ok(Invoice {
            kind: Kind::parse(&self.kind)?,
            issue_date: parse_date(&self.issue_date)?,
            transaction_date: parse_date(&self.transaction_date)?,
            due_date: parse_date(&self.due_date)?,
            id: self.id,
            number: self.number,
            certificate_id: self.certificate_id,
            credits_invoice_id: self.credits_invoice_id,
            organization_id: self.organization_id,
            serial: self.serial,
            recipient: self.recipient,
            recipient_email: self.recipient_email,
            description: self.description,
            amount_yen: self.amount_yen,
            tax_yen: self.tax_yen,
            total_yen: self.total_yen,
            created_at: from_db(self.created_at),
            created_by: self.created_by,
            reason: self.reason,
            paid_at: self.paid_at.map(from_db),
            paid_by: self.paid_by,
        })
    }
}

/// The next number of `kind`'s series in `year`, taken inside the
/// caller's transaction.
fn next_number(conn: &mut DbConn, kind: Kind, year: i32) -> Result<String> {
    let key = || {
        document_counters::table
            .filter(document_counters::series.eq(kind.series()))
            .filter(document_counters::year.eq(year))
    };
    let bumped: Option<i64> = diesel::update(key())
        .set(document_counters::last_number.eq(document_counters::last_number + 1))
        .returning(document_counters::last_number)
        .get_result(conn)
        .optional()?;
    let n = match bumped {
        Some(n) => n,
        None => first_of_year(conn, kind, year)?,
    };
    Ok(format!("{}{year}-{n:06}", kind.series()))
}

/// Number 1 of a year, or — when another writer started the year at the
/// same moment — the next after its. The insert runs in a savepoint so
/// that losing the race leaves the caller's transaction usable.
fn first_of_year(conn: &mut DbConn, kind: Kind, year: i32) -> Result<i64> {
    let inserted = conn.transaction(|c| {
        diesel::insert_into(document_counters::table)
            .values((
                document_counters::series.eq(kind.series()),
                document_counters::year.eq(year),
                document_counters::last_number.eq(1i64),
            ))
            .execute(c)
    });
    match inserted {
        Ok(_) => Ok(1),
        Err(e) if is_unique_violation(&e) => Ok(diesel::update(
            document_counters::table
                .filter(document_counters::series.eq(kind.series()))
                .filter(document_counters::year.eq(year)),
        )
        .set(document_counters::last_number.eq(document_counters::last_number + 1))
        .returning(document_counters::last_number)
        .get_result(conn)?),
        Err(e) => Err(e.into()),
    }
}

/// Writes `draft` with the next number of its series in the year of its
/// issue date, its PDF made by `render` from the document as numbered,
/// then `then` (the e-mail) — all in one transaction. For an invoice the
/// certificate's billing item is marked invoiced. None when the
/// certificate already has its invoice (another instance was first), or
/// the invoice already has its credit note.
pub fn create(
    conn: &mut DbConn,
    draft: &Draft,
    render: impl FnOnce(&Invoice) -> Result<Vec<u8>>,
    then: impl FnOnce(&mut DbConn, &Invoice, &[u8]) -> Result<()>,
) -> Result<Option<Invoice>> {
    let attempt = write_tx(conn, |c| {
        if draft.kind == Kind::Invoice && !item_open(c, draft.certificate_id)? {
            return Ok(None);
        }
        let number = next_number(c, draft.kind, draft.issue_date.year())?;
        let mut invoice = numbered(draft, number);
        let pdf = render(&invoice)?;
        invoice.id = insert(c, &invoice, &pdf)?;
        if draft.kind == Kind::Invoice {
            diesel::update(billing_items::table.find(draft.certificate_id))
                .set(billing_items::invoice_id.eq(invoice.id))
                .execute(c)?;
        }
        then(c, &invoice, &pdf)?;
        Ok(Some(invoice))
    });
    match attempt {
        // The unique indexes: one invoice per certificate, one credit
        // note per invoice. Whoever lost rolled back, number and all.
        Err(e) if e.kind == ErrorKind::Conflict => Ok(None),
        other => other,
    }
}

fn item_open(conn: &mut DbConn, certificate_id: i64) -> Result<bool> {
    Ok(billing_items::table
        .find(certificate_id)
        .filter(billing_items::invoice_id.is_null())
        .count()
        .get_result::<i64>(conn)?
        == 1)
}

fn numbered(d: &Draft, number: String) -> Invoice {
    Invoice {
        id: 0,
        number,
        kind: d.kind,
        certificate_id: d.certificate_id,
        credits_invoice_id: d.credits_invoice_id,
        organization_id: d.organization_id,
        serial: d.serial.clone(),
        issue_date: d.issue_date,
        transaction_date: d.transaction_date,
        due_date: d.due_date,
        recipient: d.recipient.clone(),
        recipient_email: d.recipient_email.clone(),
        description: d.description.clone(),
        amount_yen: d.amount_yen,
        tax_yen: d.tax_yen,
        total_yen: d.total_yen,
        created_at: d.created_at,
        created_by: d.created_by.clone(),
        reason: d.reason.clone(),
        paid_at: None,
        paid_by: None,
    }
}

fn insert(conn: &mut DbConn, i: &Invoice, pdf: &[u8]) -> Result<i64> {
    let id = diesel::insert_into(invoices::table)
        .values((
            invoices::number.eq(&i.number),
            invoices::kind.eq(i.kind.as_str()),
            invoices::certificate_id.eq(i.certificate_id),
            invoices::credits_invoice_id.eq(i.credits_invoice_id),
            invoices::organization_id.eq(i.organization_id),
            invoices::serial.eq(&i.serial),
            invoices::issue_date.eq(date_text(i.issue_date)),
            invoices::transaction_date.eq(date_text(i.transaction_date)),
            invoices::due_date.eq(date_text(i.due_date)),
            invoices::recipient.eq(&i.recipient),
            invoices::recipient_email.eq(&i.recipient_email),
            invoices::description.eq(&i.description),
            invoices::amount_yen.eq(i.amount_yen),
            invoices::tax_yen.eq(i.tax_yen),
            invoices::total_yen.eq(i.total_yen),
            invoices::pdf.eq(pdf),
            invoices::created_at.eq(to_db(i.created_at)),
            invoices::created_by.eq(&i.created_by),
            invoices::reason.eq(&i.reason),
        ))
        .returning(invoices::id)
        .get_result(conn)
        .map_err(|e| {
            super::db_err_unless_unique(e, || {
                Error::new(ErrorKind::Conflict, format!("{} exists already", i.number))
            })
        })?;
    Ok(id)
}

/// Document `id`.
pub fn by_id(conn: &mut DbConn, id: i64) -> Result<Option<Invoice>> {
    invoices::table
        .find(id)
        .select(InvoiceRow::as_select())
        .first(conn)
        .optional()?
        .map(InvoiceRow::into_invoice)
        .transpose()
}

/// The invoice of certificate `certificate_id`.
pub fn of_certificate(conn: &mut DbConn, certificate_id: i64) -> Result<Option<Invoice>> {
    invoices::table
        .filter(invoices::certificate_id.eq(certificate_id))
        .filter(invoices::kind.eq(Kind::Invoice.as_str()))
        .select(InvoiceRow::as_select())
        .first(conn)
        .optional()?
        .map(InvoiceRow::into_invoice)
        .transpose()
}

/// The credit note cancelling invoice `id`, if any.
pub fn credit_note_of(conn: &mut DbConn, id: i64) -> Result<Option<Invoice>> {
    invoices::table
        .filter(invoices::credits_invoice_id.eq(id))
        .select(InvoiceRow::as_select())
        .first(conn)
        .optional()?
        .map(InvoiceRow::into_invoice)
        .transpose()
}

/// The PDF of document `id`.
pub fn pdf(conn: &mut DbConn, id: i64) -> Result<Option<Vec<u8>>> {
    Ok(invoices::table
        .find(id)
        .select(invoices::pdf)
        .first(conn)
        .optional()?)
}

/// Which documents a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Issued in this month: its first and the next month's first day.
    pub month: Option<(Date, Date)>,
    /// Invoices neither paid nor cancelled by a credit note.
    pub unpaid: bool,
    /// Of those, the ones due before this day.
    pub overdue_on: Option<Date>,
    /// Keyset: ids below this one.
    pub before: Option<i64>,
}

/// Documents matching `filter`, newest first, at most `limit`.
pub fn list(conn: &mut DbConn, filter: &Filter, limit: i64) -> Result<Vec<Invoice>> {
    let mut q = invoices::table
        .order(invoices::id.desc())
        .limit(limit)
        .select(InvoiceRow::as_select())
        .into_boxed();
    if let Some((from, to)) = filter.month {
        q = q
            .filter(invoices::issue_date.ge(date_text(from)))
            .filter(invoices::issue_date.lt(date_text(to)));
    }
    if filter.unpaid || filter.overdue_on.is_some() {
        // Credit notes are few (a revoked certificate's invoice), so the
        // cancelled invoices' ids are read first and left out by value.
        let cancelled: Vec<Option<i64>> = invoices::table
            .filter(invoices::credits_invoice_id.is_not_null())
            .select(invoices::credits_invoice_id)
            .load(conn)?;
        let cancelled: Vec<i64> = cancelled.into_iter().flatten().collect();
        q = q
            .filter(invoices::kind.eq(Kind::Invoice.as_str()))
            .filter(invoices::paid_at.is_null())
            .filter(invoices::id.ne_all(cancelled));
    }
    if let Some(day) = filter.overdue_on {
        q = q.filter(invoices::due_date.lt(date_text(day)));
    }
    if let Some(b) = filter.before {
        q = q.filter(invoices::id.lt(b));
    }
    let rows: Vec<InvoiceRow> = q.load(conn)?;
    rows.into_iter().map(InvoiceRow::into_invoice).collect()
}

/// Organization `org`'s documents (invoices and credit notes), newest
/// first, at most `limit`, with the ids among them that a credit note
/// cancels.
pub fn of_organization(
    conn: &mut DbConn,
    org: i64,
    limit: i64,
) -> Result<(Vec<Invoice>, Vec<i64>)> {
    let rows: Vec<InvoiceRow> = invoices::table
        .filter(invoices::organization_id.eq(org))
        .order(invoices::id.desc())
        .limit(limit)
        .select(InvoiceRow::as_select())
        .load(conn)?;
    let docs = rows
        .into_iter()
        .map(InvoiceRow::into_invoice)
        .collect::<Result<Vec<_>>>()?;
    let ids: Vec<i64> = docs.iter().map(|d| d.id).collect();
    let cancelled: Vec<Option<i64>> = invoices::table
        .filter(invoices::credits_invoice_id.eq_any(ids))
        .select(invoices::credits_invoice_id)
        .load(conn)?;
    Ok((docs, cancelled.into_iter().flatten().collect()))
}

/// Document `id` with its PDF when it is organization `org`'s; None for
/// another organization's as for none.
pub fn pdf_of_organization(
    conn: &mut DbConn,
    org: i64,
    id: i64,
) -> Result<Option<(String, Vec<u8>)>> {
    Ok(invoices::table
        .find(id)
        .filter(invoices::organization_id.eq(org))
        .select((invoices::number, invoices::pdf))
        .first(conn)
        .optional()?)
}

/// Records invoice `id` as paid by `by` at `at`. Conflict when it is not
/// an unpaid invoice.
pub fn mark_paid(conn: &mut DbConn, id: i64, by: &str, at: OffsetDateTime) -> Result<()> {
    let n = diesel::update(
        invoices::table
            .find(id)
            .filter(invoices::kind.eq(Kind::Invoice.as_str()))
            .filter(invoices::paid_at.is_null()),
    )
    .set((
        invoices::paid_at.eq(Some(to_db(at))),
        invoices::paid_by.eq(Some(by)),
    ))
    .execute(conn)?;
    if n != 1 {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!("document {id} is not an unpaid invoice"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::sa::crls::testing::{insert_certificate, store};
    use crate::sa::Store;
    use time::macros::{date, datetime};

    pub(crate) fn item(certificate_id: i64, issued_at: OffsetDateTime) -> Item {
        Item {
            certificate_id,
            organization_id: 1,
            serial: format!("{certificate_id:x}"),
            level: "ov".into(),
            wildcard: false,
            validity_days: 90,
            names: vec!["www.example.jp".into()],
            price_yen: 30000,
            recipient: r#"{"organization":"例示株式会社","department":"経理部","name":"経理 担当","postal_code":"100-0005","address":"東京都千代田区丸の内1-1-1"}"#.into(),
            recipient_email: "keiri@example.jp".into(),
            language: "ja".into(),
            issued_at,
        }
    }

    fn draft(certificate_id: i64, issue_date: Date) -> Draft {
        Draft {
            kind: Kind::Invoice,
            certificate_id,
            credits_invoice_id: None,
            organization_id: 1,
            serial: format!("{certificate_id:x}"),
            issue_date,
            transaction_date: issue_date,
            due_date: issue_date,
            recipient: "{}".into(),
            recipient_email: "keiri@example.jp".into(),
            description: "OV".into(),
            amount_yen: 30000,
            tax_yen: 3000,
            total_yen: 33000,
            created_at: datetime!(2026-12-08 00:00 UTC),
            created_by: "job:test".into(),
            reason: None,
        }
    }

    pub(crate) async fn certificates(store: &Store, n: usize) -> Vec<i64> {
        store
            .write(move |c| {
                Ok((0..n)
                    .map(|i| {
                        let serial = format!("{:032x}", i + 0x1000);
                        let at = datetime!(2027-03-01 00:00 UTC);
                        insert_certificate(c, &serial, b"der", 0, at).0
                    })
                    .collect())
            })
            .await
            .unwrap()
    }

    /// `n` certificates, each with its billing item issued at `issued`.
    async fn billed_certificates(store: &Store, n: usize, issued: OffsetDateTime) -> Vec<i64> {
        let certs = certificates(store, n).await;
        for &c in &certs {
            store
                .write(move |x| record_item(x, &item(c, issued)))
                .await
                .unwrap();
        }
        certs
    }

    async fn invoice(store: &Store, cert: i64, day: Date) -> Option<Invoice> {
        store
            .write(move |c| {
                create(
                    c,
                    &draft(cert, day),
                    |i| Ok(i.number.clone().into_bytes()),
                    |_, _, _| Ok(()),
                )
            })
            .await
            .unwrap()
    }

    /// Numbers count up from 1 in each year and start again at 1 in the
    /// next; a certificate gets one invoice however often it is asked.
    #[tokio::test]
    async fn numbers_restart_each_year_and_one_invoice_per_certificate() {
        let (_db, store) = store();
        let certs = billed_certificates(&store, 4, datetime!(2026-12-01 00:00 UTC)).await;
        let a = invoice(&store, certs[0], date!(2026 - 12 - 30))
            .await
            .unwrap();
        let b = invoice(&store, certs[1], date!(2026 - 12 - 31))
            .await
            .unwrap();
        let c = invoice(&store, certs[2], date!(2027 - 01 - 01))
            .await
            .unwrap();
        let d = invoice(&store, certs[3], date!(2027 - 01 - 02))
            .await
            .unwrap();
        let numbers: Vec<&str> = [&a, &b, &c, &d].iter().map(|i| i.number.as_str()).collect();
        assert_eq!(
            numbers,
            ["2026-000001", "2026-000002", "2027-000001", "2027-000002"]
        );
        assert!(invoice(&store, certs[0], date!(2027 - 01 - 03))
            .await
            .is_none());
        let id = a.id;
        let stored = store.read(move |c| pdf(c, id)).await.unwrap().unwrap();
        assert_eq!(stored, b"2026-000001", "the PDF was made with the number");
        let later = datetime!(2027-12-01 00:00 UTC);
        assert!(store
            .read(move |c| open_items(c, later, 10))
            .await
            .unwrap()
            .is_empty());
    }

    /// Creators running at once on several connections: every
    /// certificate gets exactly one invoice and the numbers are 1..=n with
    /// no gap and no repeat, whoever loses a race.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_creators_leave_no_gap() {
        const N: usize = 24;
        let (db, store) = store();
        let certs = billed_certificates(&store, N, datetime!(2026-12-01 00:00 UTC)).await;
        let mut tasks = Vec::new();
        for worker in 0..4 {
            // A store of its own: another instance on the same database.
            let other = Store::open(&db.url, 2, std::time::Duration::from_secs(30)).unwrap();
            let mut mine = certs.clone();
            mine.rotate_left(worker * 5);
            tasks.push(tokio::spawn(async move {
                let mut made = 0;
                for c in mine {
                    made += usize::from(invoice(&other, c, date!(2026 - 12 - 10)).await.is_some());
                }
                made
            }));
        }
        let mut made = 0;
        for t in tasks {
            made += t.await.unwrap();
        }
        assert_eq!(made, N, "one invoice per certificate");
        let all = store
            .read(|c| list(c, &Filter::default(), 1000))
            .await
            .unwrap();
        let mut numbers: Vec<String> = all.iter().map(|i| i.number.clone()).collect();
        numbers.sort();
        let expected: Vec<String> = (1..=N).map(|n| format!("2026-{n:06}")).collect();
        assert_eq!(numbers, expected);
    }

    /// Unpaid leaves out paid and cancelled invoices; overdue those due
    /// before the day; a month those issued in it; paying twice conflicts.
    #[tokio::test]
    async fn filters_and_payment() {
        let (_db, store) = store();
        let certs = billed_certificates(&store, 3, datetime!(2026-11-01 00:00 UTC)).await;
        let a = invoice(&store, certs[0], date!(2026 - 11 - 05))
            .await
            .unwrap();
        let b = invoice(&store, certs[1], date!(2026 - 12 - 05))
            .await
            .unwrap();
        let c = invoice(&store, certs[2], date!(2026 - 12 - 06))
            .await
            .unwrap();
        let (a_id, b_id) = (a.id, b.id);
        let now = datetime!(2026-12-10 00:00 UTC);
        store
            .run(move |x| mark_paid(x, a_id, "staff:k#1", now))
            .await
            .unwrap();
        let again = store
            .run(move |x| mark_paid(x, a_id, "staff:k#1", now))
            .await;
        assert_eq!(again.unwrap_err().kind, ErrorKind::Conflict);
        let mut credit = draft(certs[1], date!(2026 - 12 - 07));
        credit.kind = Kind::CreditNote;
        credit.credits_invoice_id = Some(b_id);
        let cn = store
            .write(move |x| create(x, &credit, |_| Ok(vec![]), |_, _, _| Ok(())))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cn.number, "C2026-000001");
        let ids = |f: Filter| {
            let store = store.clone();
            async move {
                let l = store.read(move |x| list(x, &f, 100)).await.unwrap();
                l.iter().map(|i| i.id).collect::<Vec<_>>()
            }
        };
        let unpaid = Filter {
            unpaid: true,
            ..Filter::default()
        };
        assert_eq!(ids(unpaid).await, [c.id]);
        let overdue = Filter {
            overdue_on: Some(date!(2026 - 12 - 06)),
            ..Filter::default()
        };
        assert!(ids(overdue).await.is_empty());
        let overdue = Filter {
            overdue_on: Some(date!(2026 - 12 - 07)),
            ..Filter::default()
        };
        assert_eq!(ids(overdue).await, [c.id]);
        let november = Filter {
            month: Some((date!(2026 - 11 - 01), date!(2026 - 12 - 01))),
            ..Filter::default()
        };
        assert_eq!(ids(november).await, [a.id]);
        let paid = store.read(move |x| by_id(x, a_id)).await.unwrap().unwrap();
        assert_eq!(paid.paid_by.as_deref(), Some("staff:k#1"));
    }
}
