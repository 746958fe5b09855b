//! The e-mail notices of issue #26 that the CA writes on its own (docs/
//! mail.md), on the injected clock: the organization approved, an order
//! waiting on vetting (once per vetting, however often the client
//! retries), the vetting ending within 30 days and a certificate ending
//! within 14 days unreplaced (each once, however often the job runs).
//! The relay is a closed port: the notices stay in the outbox to count.

use hyper::StatusCode;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use trustgate::config::Config;
use trustgate::core::{Clock, OrganizationId};
use trustgate::ra::notices::{ExpiryNotices, ExpiryReport};
use trustgate::vetting::organization::Level;

use crate::support::*;
use crate::vetting_gate::ready;

/// The account contact of conf/organization.example.json.
const CONTACT: &str = "suzuki@example.co.jp";

fn with_mail(cfg: &mut Config) {
    cfg.mail = Some(
        toml::from_str(
            "smtp_host = \"127.0.0.1\"\nsmtp_port = 9\nsecurity = \"plain\"\nfrom = \"CA <noreply@ca.example.jp>\"\npoll_secs = 3600\n",
        )
        .unwrap(),
    );
    cfg.portal.base_url = Some("https://portal.example.jp".into());
}

/// (about, recipient, subject) of the notices of `kind`, oldest first.
fn notices(s: &Server, kind: &str) -> Vec<(String, String, String)> {
    let q = format!(
        "SELECT about || '|' || recipient || '|' || subject || '|' || body AS t FROM outbox WHERE kind = '{kind}' ORDER BY id"
    );
    s.sql_text(&q)
        .into_iter()
        .map(|t| {
            let mut p = t.splitn(4, '|').map(str::to_owned);
            let about = p.next().unwrap();
            let to = p.next().unwrap();
            let subject = p.next().unwrap();
            (about, to, format!("{subject}\n{}", p.next().unwrap()))
        })
        .collect()
}

/// A client registered with an EAB credential of `org`, agreeing to the
/// terms (the portal is configured, so they are enforced).
async fn client_of(s: &Server, org: OrganizationId) -> Client {
    let (kid, key) = s.eab_for(org, true).await;
    let mut c = Client::new(s).await;
    let url = c.dir("newAccount");
    let eab = c.eab(&kid, &key, &url);
    let r = c
        .post(
            &url,
            Some(&json!({"termsOfServiceAgreed": true, "externalAccountBinding": eab})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    c.kid = r.header("location");
    c
}

fn job(s: &Server) -> ExpiryNotices {
    let store = trustgate::app::open_store_with_clock(&s.cfg, s.clock.clone()).unwrap();
    ExpiryNotices::from_config(store, &s.cfg).expect("with [mail]")
}

async fn issue(s: &Server, c: &Client, names: &[&str]) -> String {
    let order = ready(s, c, names, "ov").await;
    let r = c.finalize(&order, names).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    s.sql_text("SELECT serial AS t FROM certificates ORDER BY id DESC")
        .remove(0)
}

async fn not_after(s: &Server, serial: &str) -> OffsetDateTime {
    let store = trustgate::app::open_store_with_clock(&s.cfg, s.clock.clone()).unwrap();
    let serial = serial.to_owned();
    store
        .read(move |c| trustgate::sa::certificates::by_serial(c, &serial))
        .await
        .unwrap()
        .expect("stored")
        .not_after
}

/// A refused finalize of a pending organization tells its contact once,
/// with the status page, however often the client tries; approval tells
/// it where EAB credentials come from; the approved organization's
/// finalize writes no waiting notice; an edit starts a new vetting,
/// whose first refusal tells again.
#[tokio::test]
async fn waiting_once_per_vetting_then_approved() {
    let s = Server::start_with(with_mail).await;
    let org = s.organization(Level::Ov, &["example.jp"]).await;
    let c = client_of(&s, org).await;
    let order = ready(&s, &c, &["www.example.jp"], "ov").await;
    for _ in 0..3 {
        let r = c.finalize(&order, &["www.example.jp"]).await;
        r.problem("userActionRequired");
    }
    let waiting = notices(&s, "gate.waiting");
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    let (about, to, text) = &waiting[0];
    assert_eq!(
        (about.as_str(), to.as_str()),
        (format!("organization:{org}").as_str(), CONTACT)
    );
    assert!(text.starts_with("【審査待ち】"), "{text}");
    assert!(text.contains("  www.example.jp\n"), "{text}");
    assert!(text.contains("https://portal.example.jp/status"), "{text}");

    s.approve(org).await;
    let approved = notices(&s, "organization.approved");
    assert_eq!(approved.len(), 1, "{approved:?}");
    assert_eq!(approved[0].1, CONTACT);
    assert!(
        approved[0].2.contains("https://portal.example.jp/eab"),
        "{}",
        approved[0].2
    );
    assert_eq!(s.count("notices_once"), 1);
    let r = c.finalize(&order, &["www.example.jp"]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(notices(&s, "gate.waiting").len(), 1);
    assert_eq!(notices(&s, "certificate.issued").len(), 1);

    // Edited: pending again, a new vetting; its first refusal tells again.
    let v = s.vetting();
    let mut data = v.get(org).await.unwrap().data;
    data.account_contact.department = "情報セキュリティ部".into();
    v.edit("vetter", org, data).await.unwrap();
    let again = ready(&s, &c, &["shop.example.jp"], "ov").await;
    for _ in 0..2 {
        c.finalize(&again, &["shop.example.jp"])
            .await
            .problem("userActionRequired");
    }
    assert_eq!(notices(&s, "gate.waiting").len(), 2);
}

/// Without `[mail]` a refusal and an approval write no notice and no mark.
#[tokio::test]
async fn nothing_is_written_without_mail() {
    let s = Server::start().await;
    let org = s.organization(Level::Ov, &["example.jp"]).await;
    let c = client_of(&s, org).await;
    let order = ready(&s, &c, &["www.example.jp"], "ov").await;
    c.finalize(&order, &["www.example.jp"])
        .await
        .problem("userActionRequired");
    s.approve(org).await;
    assert_eq!(s.count("outbox"), 0);
    assert_eq!(s.count("notices_once"), 0);
}

/// An organization approved before its first order never sees a waiting
/// notice; nothing but the issued notice is written at finalize.
#[tokio::test]
async fn an_approved_organizations_finalize_writes_no_waiting_notice() {
    let s = Server::start_with(with_mail).await;
    let org = s.organization(Level::Ov, &["example.jp"]).await;
    s.approve(org).await;
    let c = client_of(&s, org).await;
    issue(&s, &c, &["www.example.jp"]).await;
    assert!(notices(&s, "gate.waiting").is_empty());
    assert_eq!(s.count("notices_once"), 0);
    assert_eq!(notices(&s, "certificate.issued").len(), 1);
}

/// The job, run twice at each time: a certificate that a newer one covers
/// is not mentioned; each other one is, once; the vetting's end is told
/// once, and again for the next vetting after re-approval.
#[tokio::test]
async fn expiry_notices_once_each_and_not_for_replaced_certificates() {
    let start = OffsetDateTime::now_utc();
    let s = Server::start_on(Clock::manual(start), with_mail).await;
    let org: OrganizationId = s.organization(Level::Ov, &["example.jp"]).await;
    s.approve(org).await;
    let c = client_of(&s, org).await;
    let replaced = issue(&s, &c, &["www.example.jp", "example.jp"]).await;
    let alone = issue(&s, &c, &["shop.example.jp"]).await;
    s.clock.advance(Duration::minutes(5));
    let newer = issue(&s, &c, &["example.jp", "www.example.jp"]).await;
    let job = job(&s);

    let at = not_after(&s, &replaced).await - Duration::days(10);
    for expected in [1, 0] {
        let r = job.run(at).await.unwrap();
        assert_eq!(r.certificates, expected * 2, "{r:?}");
    }
    let told: Vec<String> = notices(&s, "certificate.expiring")
        .into_iter()
        .map(|(about, to, _)| {
            assert_eq!(to, CONTACT);
            about
        })
        .collect();
    assert_eq!(
        told,
        [
            format!("certificate:{alone}"),
            format!("certificate:{newer}")
        ]
    );

    // The vetting's end: nothing 31 days before it, once within 30.
    let max_age = s.cfg.vetting.max_age();
    let vetted = s.vetting().get(org).await.unwrap().vetted_at.unwrap();
    let ends = vetted + max_age;
    let early = job.run(ends - Duration::days(31)).await.unwrap();
    assert_eq!(early.organizations, 0);
    for expected in [1, 0] {
        let r: ExpiryReport = job.run(ends - Duration::days(29)).await.unwrap();
        assert_eq!(r.organizations, expected, "{r:?}");
    }
    let expiring = notices(&s, "organization.vetting_expiring");
    assert_eq!(expiring.len(), 1);
    assert!(
        expiring[0].2.contains("https://portal.example.jp/renew"),
        "{}",
        expiring[0].2
    );

    // The next vetting: checked again later, approved again; its end is
    // told once more.
    s.clock.advance(Duration::days(100));
    let v = s.vetting();
    let mut data = v.get(org).await.unwrap().data;
    data.account_contact.department = "情報セキュリティ部".into();
    v.edit("vetter", org, data).await.unwrap();
    s.approve(org).await;
    let ends = v.get(org).await.unwrap().vetted_at.unwrap() + max_age;
    for expected in [1, 0] {
        let r = job.run(ends - Duration::days(29)).await.unwrap();
        assert_eq!(r.organizations, expected, "{r:?}");
    }
    assert_eq!(notices(&s, "organization.vetting_expiring").len(), 2);
    assert_eq!(notices(&s, "organization.approved").len(), 2);
}
