//! The organization's invoices in the portal (`/invoices`): a certificate
//! requested in the portal is invoiced by the job; the list shows its
//! number, date, amount with tax, due date and status (due, overdue
//! once the manual clock passes the due date, paid once staff record
//! it), in Japanese and English; the PDF download is the attachment of
//! the invoice e-mail, byte for byte; another organization's customer
//! gets 404 for it and does not see it listed. SQLite, and PostgreSQL
//! with TEST_DATABASE_URL.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use hyper::StatusCode;
use time::Duration;
use trustgate::billing::Billing;
use trustgate::config::{BillingConfig, MailConfig, Price};

use crate::certs::{between, codes, csr_pem, customer_of, hidden_radio, portal_with, Net};
use crate::support::{Browser, Portal, PASSWORD};

/// OV and EV, plain and wildcard, ¥30,000 before tax up to 400 days.
fn billing_config() -> BillingConfig {
    let mut prices = Vec::new();
    for level in ["ov", "ev"] {
        for wildcard in [false, true] {
            prices.push(Price {
                level: level.into(),
                wildcard,
                max_days: 400,
                yen: 30_000,
            });
        }
    }
    BillingConfig {
        registration_number: "T1180301018771".into(),
        issuer_name: "テスト認証局株式会社".into(),
        issuer_address: "東京都千代田区大手町1-1-1".into(),
        issuer_phone: None,
        payment_instructions: vec!["テスト銀行 本店 普通 7654321".into()],
        job_every_hours: 24,
        font: "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf".into(),
        prices,
    }
}

/// Mail to a port nothing listens on: the invoice e-mail stays in the
/// outbox, its PDF attached, for the test to compare.
fn mail_config() -> MailConfig {
    toml::from_str(
        "smtp_host = \"127.0.0.1\"\nsmtp_port = 9\nsecurity = \"plain\"\nfrom = \"ca@example.jp\"\n",
    )
    .unwrap()
}

/// Requests a certificate for `name` through the portal and proves it:
/// its serial.
async fn issue(b: &Browser<'_>, net: &Net, name: &str) -> String {
    let fields = [
        ("csr", csr_pem(&[name])),
        ("level", "ov".into()),
        ("validity_days", "30".into()),
    ];
    let r = b.submit("/orders/new", "/orders/new", &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let order = r.header("location").unwrap();
    let page = b.get(&order).await.text();
    let token = codes(&page, "http-url")[0]
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let content = codes(&page, "http-content")[0].clone();
    net.http01.lock().unwrap().insert(token, content);
    let authz = hidden_radio(&page);
    for _ in 0..50 {
        let check = format!("{order}/check");
        b.submit(&order, &check, &[(authz.as_str(), "http-01".into())])
            .await;
        let page = b.get(&order).await.text();
        if page.contains("id=\"issued\"") {
            return between(&page, "</a>: <code>", "</code>");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("not issued");
}

fn billing(p: &Portal) -> Billing {
    Billing::from_config(Arc::new(p.cfg.clone()), p.store.clone(), p.clock.clone())
        .unwrap()
        .unwrap()
}

/// The class of the status cell of the row of invoice `number`.
fn status_of(page: &str, number: &str) -> String {
    let row = between(
        page,
        &format!("<td class=\"number\">{number}</td>"),
        "</tr>",
    );
    between(&row, "class=\"status-", "\"")
}

#[tokio::test]
async fn a_customer_lists_the_organizations_invoices_and_downloads_their_pdfs() {
    let (p, net) = portal_with(|cfg| {
        cfg.billing = Some(billing_config());
        cfg.mail = Some(mail_config());
    })
    .await;
    let (a, org) = customer_of(&p, "a@example.jp", "example.jp").await;
    let (other, _) = customer_of(&p, "b@example.com", "example.com").await;
    let nav = a.get("/").await.text();
    assert!(nav.contains("href=\"/invoices\""), "{nav}");
    let empty = a.get("/invoices").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(
        empty.text().contains("id=\"no-invoices\""),
        "{}",
        empty.text()
    );

    let serial = issue(&a, &net, "www.example.jp").await;
    let job = billing(&p);
    let report = job
        .run(p.clock.now() + Duration::days(1), "job:test")
        .await
        .unwrap();
    assert_eq!(report.invoiced, 1, "{report:?}");
    let (invoice, _) = job.of_organization(org, 10).await.unwrap().remove(0);
    assert_eq!(invoice.serial, serial);
    let number = invoice.number.clone();

    // Listed: number, issue date, ¥33,000 with tax, due date, due.
    let page = a.get("/invoices").await.text();
    assert!(page.contains(&number), "{page}");
    assert!(page.contains("33,000"), "{page}");
    assert!(page.contains(&invoice.due_date.to_string()), "{page}");
    assert!(page.contains(&invoice.issue_date.to_string()), "{page}");
    assert_eq!(status_of(&page, &number), "due");
    assert!(page.contains("お支払い待ち"), "{page}");

    // The PDF: the e-mail's attachment, byte for byte.
    let href = format!("/invoices/{}.pdf", invoice.id);
    assert!(page.contains(&format!("href=\"{href}\"")), "{page}");
    let pdf = a.get(&href).await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert_eq!(
        pdf.header("content-type").as_deref(),
        Some("application/pdf")
    );
    assert_eq!(
        pdf.header("content-disposition"),
        Some(format!("attachment; filename=\"invoice-{number}.pdf\""))
    );
    assert_eq!(
        pdf.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(pdf.body.starts_with(b"%PDF"), "a PDF");
    let about = format!("invoice:{number}");
    let mailed = p
        .store
        .read(move |c| {
            let notice = trustgate::sa::outbox::about(c, &about)?.remove(0);
            trustgate::sa::outbox::attachments(c, notice.id)
        })
        .await
        .unwrap();
    assert_eq!(mailed.len(), 1);
    assert_eq!(pdf.body.as_ref(), mailed[0].content.as_slice());

    // Another organization: not listed, 404 for the file; no such id: 404.
    let theirs = other.get("/invoices").await.text();
    assert!(!theirs.contains(&number) && theirs.contains("id=\"no-invoices\""));
    let r = other.get(&href).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.body.starts_with(b"%PDF"));
    let none = format!("/invoices/{}.pdf", invoice.id + 1000);
    assert_eq!(a.get(&none).await.status, StatusCode::NOT_FOUND);
    assert_eq!(a.get("/invoices/x.pdf").await.status, StatusCode::NOT_FOUND);

    // After the due date (by the clock): overdue; recorded paid: paid.
    p.clock.advance(Duration::days(70));
    let r = a.login("a@example.jp", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = a.get("/invoices").await.text();
    assert_eq!(status_of(&page, &number), "overdue", "{page}");
    job.mark_paid("staff:keiri#1", invoice.id).await.unwrap();
    let en = a.get("/lang?to=en&return=/invoices").await;
    assert_eq!(en.status, StatusCode::SEE_OTHER);
    let page = a.get("/invoices").await.text();
    assert_eq!(status_of(&page, &number), "paid", "{page}");
    assert!(
        page.contains("<h1>Invoices</h1>") && page.contains(">Paid<"),
        "{page}"
    );
}
