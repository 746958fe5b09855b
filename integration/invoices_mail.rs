//! Invoices (issue #26, docs/invoices.md) end to end: certbot obtains a
//! certificate from a server with `[billing]` and `[mail]`; the invoice
//! job is run at issuance + 10 days (`trustgate billing run --now`, the
//! binary's way of moving the job's clock); exactly one invoice is made,
//! and its e-mail reaches the billing contact through a real SMTP server
//! (aiosmtpd) with a PDF that `pdftotext` (poppler-utils) reads back with
//! the amount, the tax, the registration number and the due date. With
//! the relay down when the job runs, the invoice arrives once it is up,
//! once.

use std::process::Command;
use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, UtcOffset};

use crate::common::server::free_port;
use crate::common::smtp::{mail_toml, Mail, SmtpSink};
use crate::common::x509::Leaf;
use crate::common::{Certbot, TestServer};

/// `billing_contact.email` of conf/organization.example.json.
const BILLING_CONTACT: &str = "keiri@example.co.jp";
const REGISTRATION: &str = "T1180301018771";

/// A price list with OV and EV, plain and wildcard, up to 100 days: an OV
/// certificate of 90 days costs ¥30,000 before tax.
fn billing_toml() -> String {
    let mut t = format!(
        "[billing]\n\
         registration_number = \"{REGISTRATION}\"\n\
         issuer_name = \"テスト認証局株式会社\"\n\
         issuer_address = \"東京都千代田区大手町1-1-1\"\n\
         payment_instructions = [\"テスト銀行 本店 普通 7654321 テストニンショウキョク(カ\"]\n"
    );
    for (level, wildcard, yen) in [
        ("ov", false, 30000),
        ("ov", true, 60000),
        ("ev", false, 90000),
        ("ev", true, 120000),
    ] {
        t.push_str(&format!(
            "[[billing.prices]]\nlevel = \"{level}\"\nwildcard = {wildcard}\nmax_days = 100\nyen = {yen}\n"
        ));
    }
    t
}

/// The last day of the month after `issued`'s month, counted back from
/// the first of the month after that.
fn expected_due(issued: Date) -> Date {
    let mut month = issued.month();
    let mut year = issued.year();
    for _ in 0..2 {
        if month == Month::December {
            year += 1;
        }
        month = month.next();
    }
    Date::from_calendar_date(year, month, 1).unwrap() - time::Duration::days(1)
}

/// `trustgate billing run --now AT` as the approver; its output.
fn run_job(server: &TestServer, at: OffsetDateTime) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trustgate"))
        .arg("--config")
        .arg(server.config_path())
        .args(["billing", "run", "--now", &at.format(&Rfc3339).unwrap()])
        .env("TRUSTGATE_STAFF_TOKEN", server.staff().approver_token())
        .env_remove("TRUSTGATE_DATABASE_URL")
        .output()
        .expect("running trustgate billing run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "billing run: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The text of a PDF, by `pdftotext`.
fn pdftotext(path: &std::path::Path) -> String {
    let out = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext (Debian poppler-utils; ./scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn invoices(mails: &[Mail]) -> Vec<&Mail> {
    mails
        .iter()
        .filter(|m| m.subject.starts_with("【請求書】"))
        .collect()
}

/// The invoice e-mail: to the billing contact, its PDF attached with the
/// qualified invoice's facts. `issued` holds the date in Japan before and
/// after certbot ran (they differ only when it ran across midnight).
fn assert_invoice_mail(mail: &Mail, issued: [Date; 2]) {
    let text = pdftotext(&mail.attachments[0].path);
    let issued = if text.contains(&japanese(issued[0])) {
        issued[0]
    } else {
        issued[1]
    };
    let due = expected_due(issued);
    let due_ja = format!("{}年{}月{}日", due.year(), u8::from(due.month()), due.day());
    assert_eq!(mail.to, [BILLING_CONTACT], "{mail:?}");
    assert!(mail.subject.contains("¥33,000"), "{mail:?}");
    assert!(mail.body.contains(&due_ja), "{}", mail.body);
    assert!(mail.body.contains("テスト銀行"), "{}", mail.body);
    assert_eq!(mail.content_type, "multipart/mixed");
    assert_eq!(mail.attachments.len(), 1, "{mail:?}");
    let pdf = &mail.attachments[0];
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(pdf.filename.starts_with("invoice-") && pdf.filename.ends_with(".pdf"));
    let issued_ja = japanese(issued);
    for fact in [
        REGISTRATION,
        "¥30,000",
        "¥3,000",
        "¥33,000",
        due_ja.as_str(),
        issued_ja.as_str(),
        "テスト認証局株式会社",
        "例示株式会社 御中",
        "テスト銀行",
    ] {
        assert!(
            text.contains(fact),
            "{fact:?} missing from the PDF:\n{text}"
        );
    }
}

fn japanese(d: Date) -> String {
    format!("{}年{}月{}日", d.year(), u8::from(d.month()), d.day())
}

/// Today in Japan.
fn today_in_japan() -> Date {
    let jst = UtcOffset::from_hms(9, 0, 0).unwrap();
    OffsetDateTime::now_utc().to_offset(jst).date()
}

#[test]
fn invoice_reaches_the_billing_contact_with_its_pdf() {
    let sink = SmtpSink::start();
    let server = TestServer::start_with(&format!("{}{}", mail_toml(sink.port()), billing_toml()));
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "invoice");
    let before = today_in_japan();
    certbot.certonly(&eab, &["inv.example.jp"]).assert_success();
    let (issued, ten_days) = (
        [before, today_in_japan()],
        OffsetDateTime::now_utc() + time::Duration::days(10),
    );
    let leaf = Leaf::read(&certbot.lineage("inv.example.jp").cert);
    // The approval's and the issued notice arrive; no invoice yet (the
    // job bills a day's certificates the next day).
    let first = sink.wait_for(2, Duration::from_secs(30));
    assert_eq!(first.len(), 2, "{}", server.log_tail(80));
    assert!(invoices(&first).is_empty());

    let out = run_job(&server, ten_days);
    assert!(out.starts_with("1 invoice(s)"), "{out}");
    let again = run_job(&server, ten_days);
    assert!(again.starts_with("0 invoice(s)"), "{again}");

    let got = sink.wait_for(3, Duration::from_secs(30));
    let sent = invoices(&got);
    assert_eq!(sent.len(), 1, "{got:?}\n{}", server.log_tail(80));
    assert_invoice_mail(sent[0], issued);
    let text = pdftotext(&sent[0].attachments[0].path);
    let serial = leaf
        .serial
        .replace(':', "")
        .trim_start_matches('0')
        .to_ascii_lowercase();
    assert!(
        text.to_ascii_lowercase().contains(&serial),
        "serial {serial} not in\n{text}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        invoices(&sink.messages()).len(),
        1,
        "one invoice, sent once"
    );
}

/// The relay is down when the job runs: the invoice is made (the job does
/// not wait for mail), its e-mail is retried, and arrives once the relay
/// is up — once.
#[test]
fn invoice_mail_waits_for_the_relay_and_arrives_once() {
    let port = free_port();
    let server = TestServer::start_with(&format!("{}{}", mail_toml(port), billing_toml()));
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "relay");
    let before = today_in_japan();
    certbot
        .certonly(&eab, &["relay.example.jp"])
        .assert_success();
    let (issued, ten_days) = (
        [before, today_in_japan()],
        OffsetDateTime::now_utc() + time::Duration::days(10),
    );
    let out = run_job(&server, ten_days);
    assert!(out.starts_with("1 invoice(s)"), "{out}");
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        server
            .log_tail(400)
            .contains("e-mail notice not sent; will retry"),
        "no failed attempt logged\n{}",
        server.log_tail(80)
    );

    let sink = SmtpSink::start_on(port);
    let got = sink.wait_for(3, Duration::from_secs(60));
    let sent = invoices(&got);
    assert_eq!(sent.len(), 1, "{got:?}\n{}", server.log_tail(80));
    assert_invoice_mail(sent[0], issued);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        invoices(&sink.messages()).len(),
        1,
        "delivered more than once"
    );
}
