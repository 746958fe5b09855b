//! E-mail notices (issue #26) through a real SMTP server (aiosmtpd,
//! `common::smtp`): certbot obtains a certificate and the "certificate
//! issued" notice reaches the account's contact with the certificate's
//! serial; a relay that is down while the certificate is issued gets the
//! notice once it is up, exactly once; and two instances' delivery
//! workers on one database send each notice once.

use std::sync::Arc;
use std::time::Duration;

use trustgate::app::mail::Delivery;
use trustgate::config::Config;
use trustgate::sa::{outbox, Store};

use crate::common::database::ScratchDatabase;
use crate::common::server::free_port;
use crate::common::smtp::{mail_toml, Mail, SmtpSink};
use crate::common::x509::Leaf;
use crate::common::{Certbot, TestServer};

/// certbot's `-m` (`common::certbot`): the account's contact.
const CONTACT: &str = "admin@example.jp";

/// A serial as bare hex without leading zeros (x509-parser writes
/// `0a:1b:…`, and the DER integer may carry a leading zero byte).
fn bare(serial: &str) -> String {
    serial
        .replace(':', "")
        .trim_start_matches('0')
        .to_ascii_lowercase()
}

/// The notice of the certificate in `lineage`: to the contact, in
/// Japanese (the example organization is in Japan), naming the serial,
/// the name and the download URL.
fn assert_issued_notice(mail: &Mail, leaf: &Leaf, name: &str) {
    assert_eq!(mail.to, [CONTACT], "{mail:?}");
    assert!(mail.from.contains("ca@trustgate.test"), "{mail:?}");
    assert!(
        mail.subject.starts_with("【証明書発行】") && mail.subject.contains(name),
        "{mail:?}"
    );
    let serial_line = mail
        .body
        .lines()
        .find_map(|l| l.strip_prefix("■ シリアル番号: "))
        .unwrap_or_else(|| panic!("no serial in\n{}", mail.body));
    assert_eq!(bare(serial_line), bare(&leaf.serial), "{}", mail.body);
    assert!(mail.body.contains(&format!("  {name}\n")), "{}", mail.body);
    assert!(mail.body.contains("/acme/cert/"), "{}", mail.body);
    assert!(mail.message_id.contains("trustgate-notice-"), "{mail:?}");
}

/// The "certificate issued" notices among `mails` (approving the
/// organization sent its own notice first, integration/notices_mail.rs).
fn issued(mails: Vec<Mail>) -> Vec<Mail> {
    mails
        .into_iter()
        .filter(|m| m.subject.starts_with("【証明書発行】"))
        .collect()
}

#[test]
fn issued_notice_reaches_the_account_contact() {
    let sink = SmtpSink::start();
    let server = TestServer::start_with(&mail_toml(sink.port()));
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "mail");
    certbot.certonly(&eab, &["a.example.jp"]).assert_success();
    let leaf = Leaf::read(&certbot.lineage("a.example.jp").cert);

    let got = issued(sink.wait_for(2, Duration::from_secs(30)));
    assert_eq!(got.len(), 1, "{}", server.log_tail(80));
    assert_issued_notice(&got[0], &leaf, "a.example.jp");
    // Sent is sent: later rounds send nothing more.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        sink.messages().len(),
        2,
        "the approval's and the issuance's"
    );
}

/// The relay is down while the certificate is issued: issuance does not
/// wait for it, the attempts fail and are retried, and once the relay
/// is up the notice arrives, once.
#[test]
fn relay_down_at_issuance_then_up_delivers_once() {
    let port = free_port();
    let server = TestServer::start_with(&mail_toml(port));
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "down");
    certbot.certonly(&eab, &["b.example.jp"]).assert_success();
    let leaf = Leaf::read(&certbot.lineage("b.example.jp").cert);
    // A few failed attempts (every 1-2 s) before the relay comes up.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        server
            .log_tail(400)
            .contains("e-mail notice not sent; will retry"),
        "no failed attempt logged\n{}",
        server.log_tail(80)
    );

    let sink = SmtpSink::start_on(port);
    let got = issued(sink.wait_for(2, Duration::from_secs(30)));
    assert_eq!(got.len(), 1, "{}", server.log_tail(80));
    assert_issued_notice(&got[0], &leaf, "b.example.jp");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        sink.messages().len(),
        2,
        "the approval's and the issuance's, each once"
    );
}

/// Two instances on one database (PostgreSQL with TEST_DATABASE_URL,
/// else one SQLite file), each with its own store and instance id, run
/// their delivery rounds at once over a queue of notices: every notice
/// reaches the relay once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_send_each_notice_once() {
    const NOTICES: usize = 24;
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let scratch = ScratchDatabase::create();
    let url = match &scratch {
        Some(db) => db.url.clone(),
        None => dir.path().join("mail.sqlite").display().to_string(),
    };
    let mut cfg = Config::parse(&format!("{}batch = 5\n", mail_toml(sink.port()))).unwrap();
    cfg.data_dir = dir.path().to_path_buf();
    let open = || Store::open(&url, 4, Duration::from_secs(10)).unwrap();
    let (store_a, store_b) = (open(), open());
    let now = store_a.clock().now();
    store_a
        .write(move |c| {
            for i in 0..NOTICES {
                let notice = outbox::NewNotice {
                    kind: "test.notice",
                    about: format!("test:{i}"),
                    recipient: format!("user{i}@example.jp"),
                    language: "en",
                    subject: format!("notice {i}"),
                    body: format!("body {i}"),
                };
                outbox::enqueue(c, &notice, now)?;
            }
            Ok(())
        })
        .await
        .unwrap();

    let worker = |store: Store, name: &str| {
        Delivery::from_config(&cfg, store, Arc::from(name))
            .unwrap()
            .expect("[mail] is configured")
    };
    let (a, b) = (worker(store_a.clone(), "a"), worker(store_b, "b"));
    let drain = |d: Delivery, store: Store| async move {
        let mut sent = 0;
        while store.read(outbox::queued_count).await.unwrap() > 0 {
            sent += d.round().await.unwrap();
        }
        sent
    };
    let (sent_a, sent_b) = tokio::join!(
        tokio::spawn(drain(a, store_a.clone())),
        tokio::spawn(drain(b, open()))
    );
    let (sent_a, sent_b) = (sent_a.unwrap(), sent_b.unwrap());
    eprintln!("instance a sent {sent_a}, instance b sent {sent_b}");
    assert_eq!(sent_a + sent_b, NOTICES, "a sent {sent_a}, b sent {sent_b}");

    let got = tokio::task::spawn_blocking(move || {
        let got = sink.wait_for(NOTICES, Duration::from_secs(10));
        std::thread::sleep(Duration::from_secs(1));
        (got, sink.messages())
    })
    .await
    .unwrap();
    let (_, all) = got;
    let mut subjects: Vec<String> = all.iter().map(|m| m.subject.clone()).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(all.len(), NOTICES, "messages received");
    assert_eq!(subjects.len(), NOTICES, "a notice arrived twice");
    for m in &all {
        let i = m.subject.trim_start_matches("notice ");
        assert_eq!(m.to, [format!("user{i}@example.jp")]);
    }
    // Each notice has exactly one attempt, by whichever instance sent it.
    for i in 0..NOTICES {
        let about = format!("test:{i}");
        let notices = store_a
            .read(move |c| outbox::about(c, &about))
            .await
            .unwrap();
        assert_eq!(notices.len(), 1);
        assert!(notices[0].sent_at.is_some());
        let id = notices[0].id;
        let tried = store_a
            .read(move |c| outbox::attempts(c, id))
            .await
            .unwrap();
        assert_eq!(tried.len(), 1, "notice {i}: {tried:?}");
    }
    drop(scratch);
}
