//! The console's invoice pages over HTTP (`console::invoices`), on
//! certificates the ACME side really issued and the invoice job really
//! invoiced: the list and its filters (month, unpaid, overdue by the
//! manual clock), marking an invoice paid (refused without the CSRF
//! token and for members without the vet role: 403), a month's CSV
//! (header and a row) and a credit note for a revoked certificate's
//! invoice, audited in its transaction. On SQLite and, with
//! TEST_DATABASE_URL, PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use hyper::{Method, StatusCode};
use time::Duration;
use trustgate::billing::Billing;
use trustgate::config::{BillingConfig, Price, StaffRole};
use trustgate::vetting::staff::{totp_code, Enrolment};

use crate::console::{cookie_value, enc, hidden, set_cookie, OWN_PASSWORD};
use crate::console_certificates::{desk_with, Desk};

/// OV and EV, plain and wildcard, ¥30,000 before tax up to 400 days.
pub(crate) fn billing_config() -> BillingConfig {
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

fn billing(d: &Desk) -> Billing {
    let store = trustgate::app::open_store_with_clock(&d.s.cfg, d.s.clock.clone()).unwrap();
    Billing::from_config(Arc::new(d.s.cfg.clone()), store, d.s.clock.clone())
        .unwrap()
        .unwrap()
}

/// Logs `who` in again (their own password set at the first login): a
/// new session.
async fn login_again(d: &Desk, who: &Enrolment) -> String {
    d.s.clock.advance(Duration::seconds(30));
    let r = d.send(Method::GET, "/console/login", "", "").await;
    let cookie = format!(
        "tg_login={}",
        cookie_value(&set_cookie(&r, "tg_login").unwrap())
    );
    let code = totp_code(who.totp_secret.expose(), d.s.clock.now()).unwrap();
    let form = format!(
        "csrf={}&name={}&password={}&code={code}",
        enc(&hidden(&r.text(), "csrf")),
        enc(&who.member.name),
        enc(OWN_PASSWORD)
    );
    let r = d.send(Method::POST, "/console/login", &cookie, &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    cookie_value(&set_cookie(&r, "tg_session").unwrap())
}

/// The ids of the list's rows (`/console/invoices/{id}` links), in order.
fn ids(page: &str) -> Vec<i64> {
    page.split("href=\"/console/invoices/")
        .skip(1)
        .filter_map(|s| s.split('"').next().unwrap().parse().ok())
        .collect()
}

#[tokio::test]
async fn staff_list_filter_mark_paid_export_and_credit_invoices() {
    let d = desk_with(|cfg| cfg.billing = Some(billing_config())).await;
    let a = d.issue(&["a.example.jp"]).await;
    let b = d.issue(&["b.example.jp"]).await;
    // Issued 2027-01-15; the job invoices them the next day in Japan.
    let job = billing(&d);
    let report = job
        .run(d.s.clock.now() + Duration::days(1), "job:test")
        .await
        .unwrap();
    assert_eq!(report.invoiced, 2, "{report:?}");
    let vetter =
        d.s.vetting()
            .add_staff(
                Some(&d.approver.member.identity()),
                "vetter",
                vec![StaffRole::View, StaffRole::Vet],
            )
            .await
            .unwrap();
    let viewer = d.login(&d.viewer).await;
    let approver = d.login(&d.approver).await;
    let vet = d.login(&vetter).await;

    // The list: both, newest first, filtered by month.
    let all = d.page("/console/invoices", &viewer).await;
    let listed = ids(&all);
    assert_eq!(listed.len(), 2, "{all}");
    assert!(listed[0] > listed[1]);
    assert!(all.contains("33,000"), "{all}");
    let jan = d.page("/console/invoices?month=2027-01", &viewer).await;
    assert_eq!(ids(&jan), listed);
    let feb = d.page("/console/invoices?month=2027-02", &viewer).await;
    assert!(ids(&feb).is_empty(), "{feb}");
    let bad = d.get("/console/invoices?month=2027-1", &viewer).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // Due on 28 February: not overdue yet, overdue in March.
    let overdue = d.page("/console/invoices?status=overdue", &viewer).await;
    assert!(ids(&overdue).is_empty(), "{overdue}");

    // Marking paid: a viewer and an approver lack the vet role; no token,
    // or another session's, is refused; nothing changes.
    let (first, second) = (listed[1], listed[0]);
    let paid = format!("/console/invoices/{first}/paid");
    let page = d.page(&format!("/console/invoices/{first}"), &vet).await;
    assert!(page.contains("id=\"mark-paid\""), "{page}");
    let token = enc(&hidden(&page, "csrf"));
    for who in [&viewer, &approver] {
        let csrf = enc(&hidden(&d.page("/console/invoices", who).await, "csrf"));
        let r = d.post(&paid, who, &format!("csrf={csrf}")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    }
    let r = d.post(&paid, &vet, "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let other = enc(&hidden(&d.page("/console/invoices", &viewer).await, "csrf"));
    let r = d.post(&paid, &vet, &format!("csrf={other}")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let unpaid = d.page("/console/invoices?status=unpaid", &viewer).await;
    assert_eq!(ids(&unpaid), listed);

    let r = d.post(&paid, &vet, &format!("csrf={token}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let page = d.page(&r.header("location").unwrap(), &vet).await;
    assert!(page.contains("id=\"state\">Paid"), "{page}");
    assert!(!page.contains("id=\"mark-paid\""), "{page}");
    let unpaid = d.page("/console/invoices?status=unpaid", &viewer).await;
    assert_eq!(ids(&unpaid), vec![second]);
    // Twice: a conflict, still paid once.
    let r = d.post(&paid, &vet, &format!("csrf={token}")).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    d.s.clock.advance(Duration::days(45));
    // Sessions do not last 45 days.
    let vet = login_again(&d, &vetter).await;
    let viewer = login_again(&d, &d.viewer).await;
    let approver = login_again(&d, &d.approver).await;
    let overdue = d.page("/console/invoices?status=overdue", &viewer).await;
    assert_eq!(ids(&overdue), vec![second], "{overdue}");

    // The month's CSV: the header, then a row per document.
    let csv = d.get("/console/invoices.csv?month=2027-01", &viewer).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let text = csv.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0].trim_start_matches('\u{feff}').split(',').next(),
        Some("number")
    );
    assert!(lines[0].ends_with("paid_by"), "{}", lines[0]);
    assert_eq!(lines.len(), 3, "{text}");
    let row = lines
        .iter()
        .find(|l| l.contains(&a) || l.contains(&b))
        .unwrap();
    assert!(row.contains(",invoice,") && row.contains("33000"), "{row}");

    // A credit note: refused while the certificate is valid, then made
    // for it revoked, with its audit event.
    let credit = format!("/console/invoices/{second}/credit");
    let page = d
        .page(&format!("/console/invoices/{second}"), &approver)
        .await;
    let csrf = enc(&hidden(&page, "csrf"));
    let vet_csrf = enc(&hidden(&d.page("/console/invoices", &vet).await, "csrf"));
    let r = d
        .post(&credit, &vet, &format!("csrf={vet_csrf}&reason=x"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a vetter may not credit");
    let r = d
        .post(&credit, &approver, &format!("csrf={csrf}&reason=revoked"))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let serial = job.with_credit(second).await.unwrap().0.serial;
    let cert = format!("/console/certificates/{serial}");
    let r = d
        .post(
            &format!("{cert}/revoke"),
            &approver,
            &format!("csrf={csrf}&code=4&reason=replaced&confirm=yes"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let r = d
        .post(&credit, &approver, &format!("csrf={csrf}&reason=%20"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = d
        .post(
            &credit,
            &approver,
            &format!("csrf={csrf}&reason=certificate+revoked"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let page = d.page(&r.header("location").unwrap(), &approver).await;
    assert!(page.contains("id=\"credit-note\""), "{page}");
    let (invoice, note) = job.with_credit(second).await.unwrap();
    let note = note.unwrap();
    assert_eq!(note.total_yen, -invoice.total_yen);
    assert!(note.number.starts_with('C'), "{}", note.number);
    let org = trustgate::core::OrganizationId(invoice.organization_id);
    let events = d.s.vetting().audit(Some(org), 100).await.unwrap();
    let credited: Vec<_> = events
        .iter()
        .filter(|e| e.action == "invoice.credit")
        .collect();
    assert_eq!(credited.len(), 1);
    assert_eq!(credited[0].details["credit_note"], note.number.as_str());
    assert_eq!(credited[0].reason.as_deref(), Some("certificate revoked"));
    // A second credit note: refused.
    let r = d
        .post(&credit, &approver, &format!("csrf={csrf}&reason=again"))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let march = d.page("/console/invoices?month=2027-03", &viewer).await;
    assert_eq!(ids(&march), vec![note.id], "the credit note is March's");
}
