//! The certificate pages over HTTP (`portal::certs`): a customer of an
//! approved organization makes an EAB credential (its key on that page
//! only) and revokes it after the confirmation; pastes a CSR (each bad
//! field refused beside it, nothing stored), places the http-01 file the
//! page shows, presses "Check now", and downloads the certificate as PEM
//! chain, DER and PKCS#7; another organization's customer gets 404 for
//! every one of those pages and files. SQLite, and PostgreSQL with
//! TEST_DATABASE_URL.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper::{Method, StatusCode};
use trustgate::core::OrganizationId;
use trustgate::vetting::checks::Transition;
use trustgate::vetting::organization::{DomainScope, Level, OrganizationData};

use crate::support::{encode_form, hidden, Browser, Portal};

/// The fake DNS and http-01 responder the portal's VA asks.
pub(crate) struct Net {
    pub http01: Arc<Mutex<HashMap<String, String>>>,
    _dns: crate::acme::DnsResponder,
}

/// A portal whose VA resolves every name to loopback and fetches http-01
/// from the test's responder.
async fn portal() -> (Portal, Net) {
    portal_with(|_| {}).await
}

/// [`portal`] with `tweak` applied to the configuration too.
pub(crate) async fn portal_with(
    tweak: impl FnOnce(&mut trustgate::config::Config),
) -> (Portal, Net) {
    let dns = crate::acme::DnsResponder::start(Default::default(), Default::default()).await;
    let http01 = Arc::new(Mutex::new(HashMap::new()));
    let port = crate::acme::serve_http01(http01.clone()).await;
    let resolver = dns.addr;
    let p = Portal::start_with(move |cfg| {
        cfg.va.http01_port = port;
        cfg.va.allow_loopback = true;
        cfg.va.resolvers = vec![resolver];
        cfg.va.dnssec = false;
        cfg.va.timeout_secs = 5;
        tweak(cfg);
    })
    .await;
    (p, Net { http01, _dns: dns })
}

/// An approved OV organization for `domain`, the customer `email`'s.
pub(crate) async fn customer_of<'p>(
    p: &'p Portal,
    email: &str,
    domain: &str,
) -> (Browser<'p>, OrganizationId) {
    let mut data: OrganizationData =
        serde_json::from_str(include_str!("../../conf/organization.example.json")).unwrap();
    data.level = Level::Ov;
    data.ev = None;
    data.domains = vec![DomainScope {
        name: domain.into(),
        exact: false,
    }];
    let org = p.vetting.create("vetter", data).await.unwrap().id;
    for record in crate::acme::checks_for(Level::Ov) {
        p.vetting
            .record_check("vetter", org, record, None)
            .await
            .unwrap();
    }
    p.vetting
        .transition("approver", org, Transition::Approve, None)
        .await
        .unwrap();
    let b = p.customer_session(email).await;
    let id = p.customer(email).await.unwrap().id;
    p.store
        .run(move |c| trustgate::sa::customers::set_organization(c, id, org))
        .await
        .unwrap();
    (b, org)
}

pub(crate) fn csr_pem(names: &[&str]) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    // rcgen's default subject has a commonName that is not a DNS name
    // (it would count as one of the CSR's names).
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.serialize_request(&key).unwrap().pem().unwrap()
}

/// Every `<code class="CLASS" …>TEXT</code>` of a page, in order.
pub(crate) fn codes(page: &str, class: &str) -> Vec<String> {
    let marker = format!("<code class=\"{class}\"");
    page.match_indices(&marker)
        .map(|(i, _)| {
            let rest = &page[i..];
            let start = rest.find('>').unwrap() + 1;
            let end = rest.find("</code>").unwrap();
            rest[start..end]
                .replace("&#43;", "+")
                .replace("&#x2d;", "-")
        })
        .collect()
}

async fn rows(p: &Portal, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    crate::acme::with_db(&p.cfg.database_url(), |db| {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        db.load::<N>(&sql)[0].n
    })
}

#[tokio::test]
async fn a_customer_makes_an_eab_credential_sees_its_key_once_and_revokes_it() {
    let (p, _net) = portal().await;
    let (b, org) = customer_of(&p, "ops@example.jp", "example.jp").await;
    let page = b.get("/eab").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("id=\"eab-form\""));
    let r = b
        .submit("/eab", "/eab", &[("note", "web server".into())])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let created = r.text();
    let kid = between(&created, "<code id=\"eab-kid\">", "</code>");
    let key = between(&created, "<code id=\"eab-key\">", "</code>");
    assert!(kid.starts_with("kid-"), "{kid}");
    assert_eq!(key.len(), 43, "a 256-bit key, base64url");
    let directory = &p._running.directory_url;
    let certbot =
        format!("certbot certonly --server {directory} --eab-kid {kid} --eab-hmac-key={key}");
    assert!(created.contains(&certbot), "{certbot}\n{created}");
    let lego = format!("lego --server {directory} --eab --kid {kid} --hmac={key}");
    assert!(created.contains(&lego), "{lego}\n{created}");
    // Listed without its key; the key is on no other page.
    let list = b.get("/eab").await.text();
    assert!(list.contains(&kid) && list.contains("web server"));
    assert!(!list.contains(&key));
    let creds = p.vetting.customer_eab(org).await.unwrap();
    assert_eq!(creds.len(), 1);
    // A note too long: the message beside it, nothing made.
    let r = b.submit("/eab", "/eab", &[("note", "x".repeat(201))]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("id=\"note-error\""), "{}", r.text());
    assert_eq!(p.vetting.customer_eab(org).await.unwrap().len(), 1);

    let confirm = b.get(&format!("/eab/{kid}/revoke")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.text().contains("id=\"no-accounts\""));
    let path = format!("/eab/{kid}/revoke");
    let r = b.submit(&path, &path, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(p.vetting.customer_eab(org).await.unwrap()[0]
        .revoked_at
        .is_some());
    // Without the session's CSRF token nothing is revoked or made.
    let before = rows(&p, "eab_credentials").await;
    let r = b
        .send(
            Method::POST,
            "/eab",
            &encode_form(&[("note", "forged".into())]),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(rows(&p, "eab_credentials").await, before);
}

#[tokio::test]
async fn a_pasted_csr_is_proven_with_the_file_the_page_shows_and_downloaded_three_ways() {
    let (p, net) = portal().await;
    let (b, _org) = customer_of(&p, "ops@example.jp", "example.jp").await;
    let form = b.get("/orders/new").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text());
    let fields = [
        ("csr", csr_pem(&["www.example.jp"])),
        ("level", "ov".into()),
        ("validity_days", "30".into()),
    ];
    let r = b.submit("/orders/new", "/orders/new", &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let order = r.header("location").unwrap();
    let page = b.get(&order).await.text();
    let urls = codes(&page, "http-url");
    let contents = codes(&page, "http-content");
    assert_eq!(urls.len(), 1, "{page}");
    assert!(urls[0].starts_with("http://www.example.jp/.well-known/acme-challenge/"));
    assert_eq!(codes(&page, "dns-name"), ["_acme-challenge.www.example.jp"]);
    let token = urls[0].rsplit('/').next().unwrap().to_owned();
    net.http01
        .lock()
        .unwrap()
        .insert(token, contents[0].clone());
    let authz = hidden_radio(&page);

    let check = format!("{order}/check");
    let mut status = String::new();
    for _ in 0..50 {
        let r = b
            .submit(&order, &check, &[(authz.as_str(), "http-01".into())])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        let page = b.get(&order).await.text();
        if page.contains("id=\"issued\"") {
            status = page;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let serial = between(&status, "</a>: <code>", "</code>");
    assert!(!serial.is_empty(), "{status}");

    let list = b.get("/certificates").await.text();
    assert!(
        list.contains(&serial) && list.contains("www.example.jp"),
        "{list}"
    );
    let one = b.get(&format!("/certificates/{serial}")).await;
    assert_eq!(one.status, StatusCode::OK);
    let pem = b.get(&format!("/certificates/{serial}.pem")).await;
    assert_eq!(
        pem.header("content-type").as_deref(),
        Some("application/pem-certificate-chain")
    );
    assert_eq!(
        pem.header("content-disposition"),
        Some(format!("attachment; filename=\"{serial}.pem\""))
    );
    assert_eq!(pem.text().matches("BEGIN CERTIFICATE").count(), 2);
    let der = b.get(&format!("/certificates/{serial}.der")).await;
    assert_eq!(
        der.header("content-type").as_deref(),
        Some("application/pkix-cert")
    );
    let leaf = ::pem::parse_many(&pem.body).unwrap();
    assert_eq!(der.body.as_ref(), leaf[0].contents());
    let p7 = b.get(&format!("/certificates/{serial}.p7b")).await;
    assert_eq!(
        p7.header("content-type").as_deref(),
        Some("application/pkcs7-mime")
    );
    for cert in &leaf {
        let c = cert.contents();
        assert!(
            p7.body.windows(c.len()).any(|w| w == c),
            "PKCS#7 holds each"
        );
    }
}

#[tokio::test]
async fn a_bad_request_gets_its_message_beside_the_field_and_stores_nothing() {
    let (p, _net) = portal().await;
    let (b, _org) = customer_of(&p, "ops@example.jp", "example.jp").await;
    let before = (rows(&p, "orders").await, rows(&p, "portal_orders").await);
    for (fields, id, says) in [
        (
            vec![("csr", "not a csr".to_owned()), ("level", "ov".into())],
            "csr-error",
            "CSR は受け付けられません",
        ),
        (
            vec![("csr", "not a csr".to_owned()), ("level", "ov".into())],
            "csr-error",
            "not PEM",
        ),
        (
            vec![("csr", csr_pem(&["www.other.jp"])), ("level", "ov".into())],
            "csr-error",
            "outside the domain scope",
        ),
        (
            vec![
                ("csr", csr_pem(&["www.example.jp"])),
                ("level", "ev".into()),
            ],
            "level-error",
            "審査済みのレベルから選んでください: OV",
        ),
        (
            vec![
                ("csr", csr_pem(&["www.example.jp"])),
                ("level", "ov".into()),
                ("validity_days", "many".into()),
            ],
            "validity-error",
            "日数",
        ),
        (
            vec![
                ("csr", csr_pem(&["www.example.jp"])),
                ("level", "ov".into()),
                ("validity_days", "9999".into()),
            ],
            "validity-error",
            "1 日から",
        ),
    ] {
        let r = b.submit("/orders/new", "/orders/new", &fields).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        let text = r.text();
        let at = text
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no {id}: {text}"));
        assert!(
            text[at..].split("</span>").next().unwrap().contains(says),
            "{id} {says}: {text}"
        );
        // What was pasted is kept in the form.
        assert!(text.contains(fields[0].1.lines().next().unwrap()));
    }
    assert_eq!(
        (rows(&p, "orders").await, rows(&p, "portal_orders").await),
        before
    );
}

#[tokio::test]
async fn another_organizations_request_certificate_and_credential_are_not_found() {
    let (p, net) = portal().await;
    let (a, _) = customer_of(&p, "a@example.jp", "example.jp").await;
    let (other, _) = customer_of(&p, "b@example.com", "example.com").await;
    // a's credential, request and certificate.
    let created = a
        .submit("/eab", "/eab", &[("note", String::new())])
        .await
        .text();
    let kid = between(&created, "<code id=\"eab-kid\">", "</code>");
    let fields = [("csr", csr_pem(&["a.example.jp"])), ("level", "ov".into())];
    let order = a
        .submit("/orders/new", "/orders/new", &fields)
        .await
        .header("location")
        .unwrap();
    let page = a.get(&order).await.text();
    let url = &codes(&page, "http-url")[0];
    net.http01.lock().unwrap().insert(
        url.rsplit('/').next().unwrap().into(),
        codes(&page, "http-content")[0].clone(),
    );
    let authz = hidden_radio(&page);
    let mut serial = String::new();
    for _ in 0..50 {
        a.submit(
            &order,
            &format!("{order}/check"),
            &[(authz.as_str(), "http-01".into())],
        )
        .await;
        let page = a.get(&order).await.text();
        if page.contains("id=\"issued\"") {
            serial = between(&page, "</a>: <code>", "</code>");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(!serial.is_empty());

    for path in [
        order.clone(),
        format!("/certificates/{serial}"),
        format!("/certificates/{serial}.pem"),
        format!("/certificates/{serial}.der"),
        format!("/certificates/{serial}.p7b"),
        format!("/eab/{kid}/revoke"),
    ] {
        let r = other.get(&path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text());
        // (The page names the path asked for, nothing of the certificate.)
        assert!(!r.text().contains("a.example.jp"), "{path}");
    }
    // Their POSTs too (with the other customer's own valid token).
    let token = hidden(&other.get("/eab").await.text(), "csrf");
    for path in [
        format!("{order}/check"),
        format!("{order}/repeat"),
        format!("/eab/{kid}/revoke"),
    ] {
        let body = encode_form(&[("csrf", token.clone())]);
        let r = other.send(Method::POST, &path, &body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    let lists = [
        other.get("/certificates").await.text(),
        other.get("/eab").await.text(),
    ];
    for l in lists {
        assert!(!l.contains(&serial) && !l.contains(&kid));
    }
    // a still sees all of it, unrevoked.
    assert_eq!(
        a.get(&format!("/eab/{kid}/revoke")).await.status,
        StatusCode::OK
    );
}

/// The `name` of the first method radio (`method-AUTHZ`).
pub(crate) fn hidden_radio(page: &str) -> String {
    let start = page.find("name=\"method-").unwrap() + "name=\"".len();
    page[start..].split('"').next().unwrap().to_owned()
}

pub(crate) fn between(s: &str, from: &str, to: &str) -> String {
    let start = s.find(from).unwrap_or_else(|| panic!("no {from} in {s}")) + from.len();
    s[start..].split(to).next().unwrap().to_owned()
}

/// RFC 8555 §7.3.3: the page a `userActionRequired` problem's `instance`
/// names. The organization's customer accepts the agreement in force for
/// its ACME account (recorded and audited); another organization's
/// customer gets 404 for the page and its POST.
#[tokio::test]
async fn an_acme_account_accepts_the_agreement_in_force_on_its_portal_page() {
    let (p, _net) = portal().await;
    let (b, org) = customer_of(&p, "ops@example.jp", "example.jp").await;
    let (other, _) = customer_of(&p, "ops@example.com", "example.com").await;
    // A pasted CSR makes the organization's portal account: an ACME account
    // bound to the organization like any other.
    let fields = [
        ("csr", csr_pem(&["www.example.jp"])),
        ("level", "ov".into()),
        ("validity_days", "30".into()),
    ];
    let r = b.submit("/orders/new", "/orders/new", &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let id = p
        .store
        .read(move |c| trustgate::sa::portal_orders::account_of(c, org))
        .await
        .unwrap()
        .expect("the portal account");
    let now = p.clock.now();
    p.store
        .run(move |c| trustgate::sa::accounts::accept_terms(c, id, "an older version", now))
        .await
        .unwrap();
    let page = format!("/terms/acme/{}", id.0);
    let current = p.cfg.agreement.version.clone();

    let r = other.get(&page).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    // A POST with the other customer's own CSRF token.
    let r = other
        .submit("/eab", &page, &[("version", current.clone())])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let shown = b.get(&page).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text());
    assert_eq!(hidden(&shown.text(), "version"), current);

    let r = b
        .submit(&page, &page, &[("version", current.clone())])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let account = p.vetting.account_of_organization(org, id).await.unwrap();
    assert_eq!(account.terms_version.as_deref(), Some(current.as_str()));
    let audited = p.audit_actions().await;
    assert!(
        audited
            .iter()
            .any(|(action, _, _)| action == "account.terms_accept"),
        "{audited:?}"
    );
    // Accepted: the page has no accept form any more.
    let after = b.get(&page).await.text();
    assert!(!after.contains("name=\"version\""), "{after}");
}
