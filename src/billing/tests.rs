//! Amounts, rounding, dates and the job on SQLite (and PostgreSQL with
//! TEST_DATABASE_URL); the PDF read back with `pdftotext`.

use std::process::Command;

use time::macros::{date, datetime};

use super::*;
use crate::sa::crls::testing::store;
use crate::sa::invoices::tests::{certificates, item as stored_item};

/// The tax is taken once on the sum, floored: 999 + 999 = 1,998 gives
/// ¥199, where rounding each line would give ¥198.
#[test]
fn tax_is_floored_once_per_document() {
    assert_eq!(
        Amounts::of(&[30000]),
        Amounts {
            amount: 30000,
            tax: 3000,
            total: 33000
        }
    );
    assert_eq!(Amounts::of(&[12345]).tax, 1234, "1,234.5 floored");
    assert_eq!(Amounts::of(&[999, 999]).tax, 199);
    assert_eq!(Amounts::of(&[9]).tax, 0);
    let credit = Amounts::of(&[12345]).negated();
    assert_eq!(
        (credit.amount, credit.tax, credit.total),
        (-12345, -1234, -13579)
    );
}

/// The last day of the month after issuance: across a year's end, from
/// the 31st into February, and the leap day.
#[test]
fn due_dates_cross_month_and_year_ends() {
    let cases = [
        (date!(2026 - 12 - 01), date!(2027 - 01 - 31)),
        (date!(2026 - 12 - 31), date!(2027 - 01 - 31)),
        (date!(2027 - 01 - 31), date!(2027 - 02 - 28)),
        (date!(2028 - 01 - 31), date!(2028 - 02 - 29)),
        (date!(2028 - 01 - 01), date!(2028 - 02 - 29)),
        (date!(2027 - 11 - 30), date!(2027 - 12 - 31)),
        (date!(2027 - 03 - 31), date!(2027 - 04 - 30)),
    ];
    for (issued, due) in cases {
        assert_eq!(due_date(issued), due, "issued {issued}");
    }
}

/// Dates are Japan's: 15:00 UTC on 31 December is New Year's Day there.
#[test]
fn dates_are_taken_in_japan() {
    assert_eq!(
        date_in_japan(datetime!(2026-12-31 14:59:59 UTC)),
        date!(2026 - 12 - 31)
    );
    assert_eq!(
        date_in_japan(datetime!(2026-12-31 15:00 UTC)),
        date!(2027 - 01 - 01)
    );
    assert_eq!(
        start_of_day_in_japan(datetime!(2026-12-31 16:00 UTC)),
        datetime!(2026-12-31 15:00 UTC)
    );
}

/// Backdating by an hour does not make a 90-day certificate a 91-day one.
#[test]
fn validity_is_rounded_to_days() {
    let nb = datetime!(2026-12-01 00:00 UTC);
    let na = nb + Duration::days(90) + Duration::hours(1);
    assert_eq!(validity_days(nb, na), 90);
    assert_eq!(validity_days(nb, nb + Duration::hours(13)), 1);
    assert_eq!(validity_days(na, nb), 0);
}

fn config(mail: bool) -> Config {
    let mut text = crate::config::tests::billing_toml(None);
    if mail {
        text.push_str(
            "[mail]\nsmtp_host = \"127.0.0.1\"\nsecurity = \"plain\"\nfrom = \"ca@example.jp\"\n",
        );
    }
    Config::parse(&text).unwrap()
}

/// The text `pdftotext` (Debian poppler-utils) reads from `pdf`.
pub(crate) fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("invoice.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (apt-get install poppler-utils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The job: nothing for a certificate issued today; at issuance + 10
/// days one invoice, its e-mail with the PDF in the outbox; nothing on a
/// second run; a certificate issued in December and invoiced in January
/// takes January's first number, due at the end of January.
#[tokio::test]
async fn the_job_invoices_each_certificate_once() {
    let (_db, store) = store();
    let clock = Clock::manual(datetime!(2026-12-20 03:00 UTC));
    let billing = Billing::from_config(Arc::new(config(true)), store.clone(), clock.clone())
        .unwrap()
        .unwrap();
    let certs = certificates(&store, 2).await;
    let issued = datetime!(2026-12-20 02:00 UTC);
    // After the ten-day run: invoiced by January's first run.
    let late_december = datetime!(2026-12-31 02:00 UTC);
    for (c, at) in [(certs[0], issued), (certs[1], late_december)] {
        store
            .write(move |x| invoices::record_item(x, &stored_item(c, at)))
            .await
            .unwrap();
    }
    let same_day = billing
        .run(issued + Duration::hours(1), "job:a")
        .await
        .unwrap();
    assert_eq!(
        same_day,
        RunReport::default(),
        "issued today: tomorrow's job"
    );
    let ten_days = issued + Duration::days(10);
    let r = billing.run(ten_days, "job:a").await.unwrap();
    assert_eq!((r.invoiced, r.late), (1, 0));
    assert_eq!(billing.run(ten_days, "job:b").await.unwrap().invoiced, 0);
    let c0 = certs[0];
    let inv = store
        .read(move |x| invoices::of_certificate(x, c0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inv.number, "2026-000001");
    assert_eq!(
        (inv.amount_yen, inv.tax_yen, inv.total_yen),
        (30000, 3000, 33000)
    );
    assert_eq!(inv.due_date, date!(2027 - 01 - 31));
    assert_eq!(inv.issue_date, date!(2026 - 12 - 30));
    let about = format!("invoice:{}", inv.number);
    let notices = store
        .read(move |x| sa::outbox::about(x, &about))
        .await
        .unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].recipient, "keiri@example.jp");
    let files = {
        let id = notices[0].id;
        store
            .read(move |x| sa::outbox::attachments(x, id))
            .await
            .unwrap()
    };
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].content_type, "application/pdf");
    let text = pdftotext(&files[0].content);
    for fact in [
        "2026-000001",
        "T1180301018771",
        "¥33,000",
        "¥3,000",
        "¥30,000",
        "2027年1月31日",
        "2026年12月20日",
        "みずほ銀行",
        "適格請求書",
    ] {
        assert!(text.contains(fact), "{fact:?} missing from\n{text}");
    }
    // New Year: the December certificate invoiced on 2 January.
    let r = billing
        .run(datetime!(2027-01-02 01:00 UTC), "job:a")
        .await
        .unwrap();
    assert_eq!(r.invoiced, 1);
    let c1 = certs[1];
    let jan = store
        .read(move |x| invoices::of_certificate(x, c1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(jan.number, "2027-000001");
    assert_eq!(jan.due_date, date!(2027 - 01 - 31));
}

/// A job that did not run for 11 days still invoices, and says it was
/// late; without `[mail]` no e-mail is written.
#[tokio::test]
async fn late_runs_are_reported_and_mail_is_optional() {
    let (_db, store) = store();
    let clock = Clock::manual(datetime!(2026-12-20 03:00 UTC));
    let billing = Billing::from_config(Arc::new(config(false)), store.clone(), clock)
        .unwrap()
        .unwrap();
    let certs = certificates(&store, 1).await;
    let issued = datetime!(2026-12-01 02:00 UTC);
    let c = certs[0];
    store
        .write(move |x| invoices::record_item(x, &stored_item(c, issued)))
        .await
        .unwrap();
    let r = billing
        .run(issued + Duration::days(11), "job:a")
        .await
        .unwrap();
    assert_eq!((r.invoiced, r.late), (1, 1));
    assert_eq!(store.read(sa::outbox::queued_count).await.unwrap(), 0);
}

/// A credit note only for a revoked certificate's invoice, once; its own
/// number; the invoice itself unchanged; both audited.
#[tokio::test]
async fn credit_notes_cancel_revoked_certificates_invoices() {
    let (_db, store) = store();
    let clock = Clock::manual(datetime!(2026-12-20 03:00 UTC));
    let billing = Billing::from_config(Arc::new(config(false)), store.clone(), clock.clone())
        .unwrap()
        .unwrap();
    let certs = certificates(&store, 1).await;
    let c = certs[0];
    let issued = datetime!(2026-12-10 02:00 UTC);
    let org = organization(&store).await;
    let cfg = config(false);
    let names = ["*.example.jp".to_owned(), "example.jp".to_owned()];
    let facts = Issued {
        serial: "7f3a",
        names: &names,
        profile: "ov",
        not_before: issued - Duration::hours(1),
        not_after: issued + Duration::days(90),
        at: issued,
    };
    let mut snapshot = item(cfg.billing.as_ref(), &org, facts).unwrap();
    assert_eq!(
        (
            snapshot.wildcard,
            snapshot.validity_days,
            snapshot.price_yen
        ),
        (true, 90, 60000)
    );
    assert_eq!(snapshot.recipient_email, "keiri@example.co.jp");
    assert!(
        snapshot.recipient.contains("経理部"),
        "{}",
        snapshot.recipient
    );
    let dv = Issued {
        profile: "dv",
        ..facts
    };
    assert!(
        item(cfg.billing.as_ref(), &org, dv).is_none(),
        "dv is not billed"
    );
    assert!(item(None, &org, facts).is_none(), "billing off");
    snapshot.certificate_id = c;
    snapshot.price_yen = 30000;
    store
        .write(move |x| invoices::record_item(x, &snapshot))
        .await
        .unwrap();
    billing.run(clock.now(), "job:a").await.unwrap();
    let inv = store
        .read(move |x| invoices::of_certificate(x, c))
        .await
        .unwrap()
        .unwrap();
    let refused = billing
        .credit("staff:a#1", inv.id, "revoked")
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Conflict, "{}", refused.detail);
    let serial = inv.serial.clone();
    store
        .write(move |x| {
            diesel::update(crate::sa::schema::certificates::table.find(c))
                .set(crate::sa::schema::certificates::revoked_at.eq(Some(sa::to_db(issued))))
                .execute(x)?;
            Ok(serial)
        })
        .await
        .unwrap();
    let note = billing
        .credit("staff:a#1", inv.id, "certificate revoked")
        .await
        .unwrap();
    assert_eq!(note.number, "C2026-000001");
    assert_eq!(
        (note.amount_yen, note.tax_yen, note.total_yen),
        (-30000, -3000, -33000)
    );
    let again = billing
        .credit("staff:a#1", inv.id, "again")
        .await
        .unwrap_err();
    assert_eq!(again.kind, ErrorKind::Conflict);
    let (same, credit) = billing.with_credit(inv.id).await.unwrap();
    assert_eq!(same, inv, "the invoice is never changed");
    assert_eq!(credit.map(|n| n.id), Some(note.id));
    let (_, pdf) = billing.document(note.id).await.unwrap();
    let text = pdftotext(&pdf);
    assert!(
        text.contains("-¥33,000") && text.contains("2026-000001"),
        "{text}"
    );
    billing.mark_paid("staff:a#1", inv.id).await.unwrap();
    let events = store
        .read(|x| {
            crate::sa::schema::audit_events::table
                .select(crate::sa::schema::audit_events::action)
                .load::<String>(x)
                .map_err(Into::into)
        })
        .await
        .unwrap();
    assert!(events.contains(&"invoice.credit".to_owned()), "{events:?}");
    assert!(events.contains(&"invoice.paid".to_owned()), "{events:?}");
}

use diesel::prelude::*;

/// An organization row (the audit events of staff's actions name it).
async fn organization(store: &Store) -> Organization {
    let data = crate::vetting::organization::tests::example(crate::core::organization::Level::Ov);
    let now = datetime!(2026-12-01 00:00 UTC);
    store
        .write(move |c| sa::organizations::create(c, &data, "staff:test#1", now))
        .await
        .unwrap()
}

/// Where a document stands for its organization: due until the end of
/// its due date in Japan, overdue after, paid once recorded, cancelled by
/// a credit note whatever else; a credit note is a credit.
#[test]
fn standing_follows_the_due_date_payment_and_credit_notes() {
    let due = date!(2027 - 02 - 28);
    let mut doc = Invoice {
        id: 1,
        number: "2027-000001".into(),
        kind: Kind::Invoice,
        certificate_id: 1,
        credits_invoice_id: None,
        organization_id: 1,
        serial: "01".into(),
        issue_date: date!(2027 - 01 - 16),
        transaction_date: date!(2027 - 01 - 15),
        due_date: due,
        recipient: String::new(),
        recipient_email: String::new(),
        description: String::new(),
        amount_yen: 30000,
        tax_yen: 3000,
        total_yen: 33000,
        created_at: datetime!(2027-01-16 00:00 UTC),
        created_by: "job:test".into(),
        reason: None,
        paid_at: None,
        paid_by: None,
    };
    let next = date!(2027 - 03 - 01);
    assert_eq!(Standing::of(&doc, false, due), Standing::Due);
    assert_eq!(Standing::of(&doc, false, next), Standing::Overdue);
    assert_eq!(Standing::of(&doc, true, next), Standing::Cancelled);
    doc.paid_at = Some(datetime!(2027-03-02 00:00 UTC));
    assert_eq!(Standing::of(&doc, false, next), Standing::Paid);
    doc.kind = Kind::CreditNote;
    assert_eq!(Standing::of(&doc, false, next), Standing::Credit);
}
