//! The notices of issue #26 the CA writes on its own, end to end through
//! a real SMTP server (aiosmtpd, `common::smtp`): certbot is held by the
//! gate while the organization is vetted and its contact hears so once,
//! however often certbot tries; approval tells where EAB credentials come
//! from (the portal's page); and the expiry job, run through the binary
//! at a later time (`trustgate notices sweep --now`, as `billing run`
//! moves its clock), tells of the certificate and of the vetting ending —
//! each once, however often it runs.

use std::process::Command;
use std::time::Duration;

use crate::common::staff::Level;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::common::smtp::{mail_toml, Mail, SmtpSink};
use crate::common::{Certbot, TestServer};

/// `account_contact.email` of conf/organization.example.json.
const ORG_CONTACT: &str = "suzuki@example.co.jp";
/// certbot's `-m` (`common::certbot`).
const ACME_CONTACT: &str = "admin@example.jp";
const PORTAL: &str = "https://portal.example.jp";

fn with_subject<'a>(mails: &'a [Mail], prefix: &str) -> Vec<&'a Mail> {
    mails
        .iter()
        .filter(|m| m.subject.starts_with(prefix))
        .collect()
}

/// `trustgate notices sweep --now AT` as the vetter; its output.
fn sweep(server: &TestServer, at: OffsetDateTime) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trustgate"))
        .arg("--config")
        .arg(server.config_path())
        .args(["notices", "sweep", "--now", &at.format(&Rfc3339).unwrap()])
        .env("TRUSTGATE_STAFF_TOKEN", server.staff().vetter_token())
        .env_remove("TRUSTGATE_DATABASE_URL")
        .output()
        .expect("running trustgate notices sweep");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "notices sweep: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn not_after(pem_path: &std::path::Path) -> OffsetDateTime {
    let text = std::fs::read_to_string(pem_path).unwrap();
    let der = pem::parse(text).unwrap().contents().to_vec();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).unwrap()
}

#[test]
fn the_vetting_and_expiry_notices_arrive_once() {
    let sink = SmtpSink::start();
    let server = TestServer::start_with(&format!(
        "{}\n[portal]\nbase_url = \"{PORTAL}\"\n",
        mail_toml(sink.port())
    ));
    let staff = server.staff();
    let org = staff.create_organization(Level::Ov, &["example.jp"]);
    let eab = staff.create_eab(org, true);
    let certbot = Certbot::new(&server, "notices");
    let name = "wait.example.jp";
    for _ in 0..2 {
        certbot
            .certonly(&eab, &[name])
            .assert_failure()
            .assert_output_contains("is awaiting vetting");
    }
    let got = sink.wait_for(1, Duration::from_secs(30));
    let waiting = with_subject(&got, "【審査待ち】");
    assert_eq!(waiting.len(), 1, "{got:?}\n{}", server.log_tail(80));
    assert_eq!(waiting[0].to, [ORG_CONTACT], "{:?}", waiting[0]);
    for fact in [format!("  {name}\n"), format!("{PORTAL}/status")] {
        assert!(
            waiting[0].body.contains(&fact),
            "{fact:?} missing from\n{}",
            waiting[0].body
        );
    }

    staff.vet_and_approve(org);
    let got = sink.wait_for(2, Duration::from_secs(30));
    let approved = with_subject(&got, "【審査完了】");
    assert_eq!(approved.len(), 1, "{got:?}\n{}", server.log_tail(80));
    assert_eq!(approved[0].to, [ORG_CONTACT]);
    assert!(
        approved[0].body.contains(&format!("{PORTAL}/eab")),
        "{}",
        approved[0].body
    );

    certbot.certonly(&eab, &[name]).assert_success();
    let ends = not_after(&certbot.lineage(name).cert);
    let got = sink.wait_for(3, Duration::from_secs(30));
    assert_eq!(with_subject(&got, "【証明書発行】").len(), 1, "{got:?}");

    // Ten days before the certificate ends: it is told, once.
    let at = ends - time::Duration::days(10);
    let first = sweep(&server, at);
    assert!(first.contains(", 1 certificate(s)"), "{first}");
    let again = sweep(&server, at);
    assert!(again.contains(", 0 certificate(s)"), "{again}");
    let got = sink.wait_for(4, Duration::from_secs(30));
    let expiring = with_subject(&got, "【証明書の有効期限】");
    assert_eq!(expiring.len(), 1, "{got:?}\n{}", server.log_tail(80));
    assert_eq!(expiring[0].to, [ACME_CONTACT]);
    assert!(
        expiring[0].body.contains(&format!("  {name}\n")),
        "{}",
        expiring[0].body
    );

    // 29 days before the vetting ends: the organization is told, once.
    let view = staff.organization(org);
    let vetting_ends =
        OffsetDateTime::parse(view["vetting_expires_at"].as_str().unwrap(), &Rfc3339).unwrap();
    let at = vetting_ends - time::Duration::days(29);
    assert!(sweep(&server, at).starts_with("1 organization(s)"));
    assert!(sweep(&server, at).starts_with("0 organization(s)"));
    let got = sink.wait_for(5, Duration::from_secs(30));
    let vetting = with_subject(&got, "【審査期限のお知らせ】");
    assert_eq!(vetting.len(), 1, "{got:?}\n{}", server.log_tail(80));
    assert_eq!(vetting[0].to, [ORG_CONTACT]);
    assert!(
        vetting[0].body.contains(&format!("{PORTAL}/renew")),
        "{}",
        vetting[0].body
    );

    // Nothing more arrives: each was sent once.
    std::thread::sleep(Duration::from_secs(3));
    let all = sink.messages();
    assert_eq!(all.len(), 5, "{all:?}");
}
