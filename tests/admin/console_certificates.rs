//! The console's certificates pages over certificates the ACME side
//! really issued (the conformance suite's in-process server, on a manual
//! clock so TOTP codes and issuance days are the test's): the search by
//! each criterion and its keyset pages, a certificate's page with its
//! evidence and its PEM downloads, and revocation by an approver — a
//! viewer gets no form and is refused, a post without the CSRF token is
//! refused, a bad reason code or a missing reason changes nothing and is
//! shown next to its field. On SQLite and, with TEST_DATABASE_URL,
//! PostgreSQL.
#![allow(clippy::unwrap_used)]

use hyper::{Method, Request, StatusCode};
use time::Duration;
use trustgate::config::StaffRole;
use trustgate::core::Clock;
use trustgate::vetting::staff::{totp_code, Enrolment};

use crate::acme::{self, Http, Resp};
use crate::console::{cookie_value, enc, hidden, set_cookie, OWN_PASSWORD};

/// The first certificate's day; a second account of the organization
/// has one issued the next day, the first account another the day after.
const DAY_ONE: &str = "2027-01-15";

/// A server with an issuing ACME client, an approver and a viewer, and
/// a client for the console (console_invoices.rs uses it too).
pub(crate) struct Desk {
    pub s: acme::Server,
    pub c: acme::Client,
    base: String,
    http: Http,
    pub approver: Enrolment,
    pub viewer: Enrolment,
}

async fn desk() -> Desk {
    desk_with(|_| {}).await
}

/// [`desk`] with `tweak` applied to the configuration.
pub(crate) async fn desk_with(tweak: impl FnOnce(&mut trustgate::config::Config)) -> Desk {
    let start = time::macros::datetime!(2027-01-15 09:00 UTC);
    let clock = Clock::manual(start);
    let (s, c) = acme::registered_on(clock, |cfg| {
        cfg.acme.caa_identities = vec!["trustgate.jp".into()];
        tweak(cfg);
    })
    .await;
    let vetting = s.vetting();
    let approver = vetting
        .add_staff(None, "approver", vec![StaffRole::View, StaffRole::Approve])
        .await
        .unwrap();
    let viewer = vetting
        .add_staff(
            Some(&approver.member.identity()),
            "viewer",
            vec![StaffRole::View],
        )
        .await
        .unwrap();
    Desk {
        base: s.admin_url(""),
        s,
        c,
        http: acme::http(),
        approver,
        viewer,
    }
}

impl Desk {
    pub(crate) async fn send(&self, method: Method, path: &str, cookie: &str, form: &str) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !cookie.is_empty() {
            req = req.header("cookie", cookie);
        }
        if !form.is_empty() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        // English pages: the assertions read the English words.
        req = req.header("accept-language", "en");
        acme::exchange(&self.http, req, form.as_bytes().to_vec()).await
    }

    pub(crate) async fn get(&self, path: &str, session: &str) -> Resp {
        self.send(Method::GET, path, &format!("tg_session={session}"), "")
            .await
    }

    pub(crate) async fn page(&self, path: &str, session: &str) -> String {
        let r = self.get(path, session).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        r.text()
    }

    pub(crate) async fn post(&self, path: &str, session: &str, form: &str) -> Resp {
        self.send(Method::POST, path, &format!("tg_session={session}"), form)
            .await
    }

    /// Logs `who` in and replaces the one-time password: the session.
    pub(crate) async fn login(&self, who: &Enrolment) -> String {
        self.s.clock.advance(Duration::seconds(30));
        let r = self.send(Method::GET, "/console/login", "", "").await;
        let login_cookie = format!(
            "tg_login={}",
            cookie_value(&set_cookie(&r, "tg_login").unwrap())
        );
        let code = totp_code(who.totp_secret.expose(), self.s.clock.now()).unwrap();
        let form = format!(
            "csrf={}&name={}&password={}&code={code}",
            enc(&hidden(&r.text(), "csrf")),
            enc(&who.member.name),
            enc(who.password.expose())
        );
        let r = self
            .send(Method::POST, "/console/login", &login_cookie, &form)
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        let session = cookie_value(&set_cookie(&r, "tg_session").unwrap());
        let csrf = enc(&hidden(
            &self.page("/console/password", &session).await,
            "csrf",
        ));
        let own = enc(OWN_PASSWORD);
        let r = self
            .post(
                "/console/password",
                &session,
                &format!("csrf={csrf}&new={own}&again={own}"),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        session
    }

    /// Issues a certificate for `names`: its serial (lower-case hex).
    pub(crate) async fn issue(&self, names: &[&str]) -> String {
        let (der, _) = acme::issue_fresh(&self.s, &self.c, names).await;
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        hex(cert.raw_serial())
    }

    /// The serials of the rows of a search page, in order.
    fn serials(page: &str) -> Vec<String> {
        page.split("class=\"serial\">")
            .skip(1)
            .map(|s| s.split('<').next().unwrap().to_owned())
            .collect()
    }

    /// The search's `next` link, unescaped.
    fn next(page: &str) -> Option<String> {
        let at = page.find("id=\"cs-next\"")?;
        let href = page[..at].rsplit("href=\"").next().unwrap();
        let href = href.split('"').next().unwrap();
        Some(href.replace("&#38;", "&").replace("&amp;", "&"))
    }

    /// `copies` more certificates like certificate `serial`, issued at the
    /// same instant (each with its own order): rows for the pages.
    fn copy_certificate(&self, serial: &str, copies: usize) {
        acme::with_db(&self.s.cfg.database_url(), |db| {
            for i in 0..copies {
                db.execute(&format!(
                    "INSERT INTO orders (account_id, status, names, profile, not_before, \
                     not_after, expires_at, created_at, updated_at) \
                     SELECT o.account_id, o.status, o.names, o.profile, o.not_before, \
                     o.not_after, o.expires_at, o.created_at, o.updated_at \
                     FROM orders o JOIN certificates c ON c.order_id = o.id \
                     WHERE c.serial = '{serial}'"
                ));
                db.execute(&format!(
                    "INSERT INTO certificates (serial, order_id, account_id, der, not_before, \
                     not_after, created_at, crl_shard) \
                     SELECT '{:032x}', (SELECT MAX(id) FROM orders), account_id, der, \
                     not_before, not_after, created_at, crl_shard \
                     FROM certificates WHERE serial = '{serial}'",
                    0xc0de_0000_u64 + i as u64
                ));
            }
        });
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `AB:CD:…`, as openssl prints a serial.
fn with_colons(serial: &str) -> String {
    serial
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// The message next to field `id` (`<span … id="ID-error">…</span>`).
fn field_error(page: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}-error\">");
    let start = page.find(&marker)? + marker.len();
    Some(page[start..].split('<').next().unwrap().to_owned())
}

#[tokio::test]
async fn certificates_are_found_by_serial_name_organization_and_date_a_page_at_a_time() {
    let d = desk().await;
    let first = d.issue(&["a.example.jp"]).await;
    d.s.clock.advance(Duration::days(1));
    let mut other_account = acme::Client::new(&d.s).await;
    other_account.register(&d.s).await;
    let (der, _) = acme::issue_fresh(&d.s, &other_account, &["d.example.jp"]).await;
    let middle = hex(x509_parser::parse_x509_certificate(&der)
        .unwrap()
        .1
        .raw_serial());
    d.s.clock.advance(Duration::days(1));
    let second = d.issue(&["b.example.jp", "c.example.jp"]).await;
    let all = vec![second.clone(), middle.clone(), first.clone()];
    let org = d.s.vetting().list(None).await.unwrap()[0].clone();
    let viewer = d.login(&d.viewer).await;

    // No criteria: every certificate, newest first; the nav links here.
    let page = d.page("/console/certificates", &viewer).await;
    assert!(page.contains("href=\"/console/certificates\""), "{page}");
    assert_eq!(Desk::serials(&page), all);
    assert!(Desk::next(&page).is_none());

    let search = |q: String| {
        let (d, viewer) = (&d, &viewer);
        async move { Desk::serials(&d.page(&format!("/console/certificates?{q}"), viewer).await) }
    };
    // The serial: as stored, upper case with colons; exact, not a part.
    assert_eq!(search(format!("serial={first}")).await, vec![first.clone()]);
    let colons = enc(&with_colons(&second));
    assert_eq!(
        search(format!("serial={colons}")).await,
        vec![second.clone()]
    );
    assert!(search(format!("serial={}", &first[..8])).await.is_empty());
    // A DNS name: any of the certificate's names; a wildcard's `*.` and
    // letter case do not matter.
    assert_eq!(
        search("name=C.Example.JP".into()).await,
        vec![second.clone()]
    );
    assert_eq!(
        search("name=a.example.jp".into()).await,
        vec![first.clone()]
    );
    assert!(search("name=example.jp".into()).await.is_empty());
    // The organization: part of its legal name, or its id; both its
    // accounts' certificates, merged newest first.
    let part = enc(&org.data.legal_name.chars().take(2).collect::<String>());
    assert_eq!(search(format!("org={part}")).await, all);
    assert_eq!(search(format!("org={}", org.id)).await, all);
    assert!(search(format!("org={}", org.id.0 + 1000)).await.is_empty());
    assert!(search("org=nobody-of-that-name".into()).await.is_empty());
    // Issuance dates, both ends inclusive of their day.
    assert_eq!(
        search(format!("from={DAY_ONE}&until={DAY_ONE}")).await,
        vec![first.clone()]
    );
    assert_eq!(
        search("from=2027-01-16".into()).await,
        vec![second.clone(), middle.clone()]
    );
    assert_eq!(search("from=2027-01-17".into()).await, vec![second.clone()]);
    assert!(search("until=2027-01-14".into()).await.is_empty());
    // Criteria together.
    assert_eq!(
        search(format!("name=b.example.jp&org={}&from=2027-01-17", org.id)).await,
        vec![second.clone()]
    );
    assert!(search(format!("name=b.example.jp&until={DAY_ONE}"))
        .await
        .is_empty());

    // What cannot be searched is said next to its field.
    for (q, field) in [
        ("serial=xyz", "cs-serial"),
        ("name=not..a..name", "cs-name"),
        ("from=15.01.2027", "cs-from"),
    ] {
        let r = d.get(&format!("/console/certificates?{q}"), &viewer).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(field_error(&r.text(), field).is_some(), "{q}: {}", r.text());
    }

    // Pages: 50 each, by keyset; ties in the issuance time are ordered by
    // id, so no certificate is shown twice or skipped.
    d.copy_certificate(&first, 110);
    let mut seen = Vec::new();
    let mut next = Some("/console/certificates".to_owned());
    let mut pages = 0;
    while let Some(path) = next {
        let page = d.page(&path, &viewer).await;
        let serials = Desk::serials(&page);
        assert!(serials.len() <= 50, "{}", serials.len());
        next = Desk::next(&page);
        if next.is_some() {
            assert_eq!(serials.len(), 50);
            assert!(
                path == "/console/certificates" || path.contains("&after="),
                "{path}"
            );
        }
        seen.extend(serials);
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 113);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 113, "a certificate shown twice");
    assert_eq!(seen[0], second, "newest first");
    // The cursor keeps the filter: the organization's pages, merged from
    // its two accounts a page at a time, hold the same in the same order.
    let mut by_org = Vec::new();
    let mut next = Some(format!("/console/certificates?org={}", org.id));
    while let Some(path) = next {
        let page = d.page(&path, &viewer).await;
        next = Desk::next(&page);
        if let Some(n) = &next {
            assert!(n.contains(&format!("org={}", org.id)), "{n}");
        }
        by_org.extend(Desk::serials(&page));
    }
    assert_eq!(by_org, seen);
    // The organization's own page lists the newest 20 and links to the
    // rest, however many it holds.
    let page = d
        .page(&format!("/console/organizations/{}", org.id), &viewer)
        .await;
    let listed: Vec<String> = page
        .split("class=\"cert-link\">")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(listed, seen[..20]);
    assert!(
        page.contains(&format!(
            "href=\"/console/certificates?org={}\" id=\"all-certificates\"",
            org.id
        )),
        "{page}"
    );
}

#[tokio::test]
async fn a_certificate_shows_its_evidence_and_chain_and_an_approver_revokes_it() {
    let d = desk().await;
    let serial = d.issue(&["shop.example.jp"]).await;
    let org = d.s.vetting().list(None).await.unwrap()[0].id;
    let viewer = d.login(&d.viewer).await;
    let approver = d.login(&d.approver).await;
    let path = format!("/console/certificates/{serial}");

    // The organization's page links the certificate.
    let page = d
        .page(&format!("/console/organizations/{org}"), &viewer)
        .await;
    assert!(page.contains(&format!("href=\"{path}\"")), "{page}");

    // Its page: status, names, subject, the evidence per name.
    let page = d.page(&path, &viewer).await;
    assert!(page.contains("id=\"cert-status\">valid<"), "{page}");
    assert!(
        page.contains("id=\"cert-names\">shop.example.jp<"),
        "{page}"
    );
    let subject = page.split("<dt>Subject</dt><dd>").nth(1).unwrap();
    assert!(
        subject.starts_with("C=JP") || subject.contains("O="),
        "{subject}"
    );
    assert!(page.contains(&format!("href=\"/console/organizations/{org}\"")));
    let evidence = page.split("id=\"evidence\"").nth(1).unwrap();
    assert!(
        evidence.contains("<h3 id=\"ev-1\">shop.example.jp</h3>"),
        "{evidence}"
    );
    assert!(
        evidence.contains("class=\"ev-method\">http-01<"),
        "{evidence}"
    );
    assert!(
        evidence.contains("class=\"ev-caa\">permitted"),
        "{evidence}"
    );
    assert!(evidence.contains("http://shop.example.jp"), "{evidence}");
    // A viewer gets no revoke form.
    assert!(!page.contains("id=\"revoke-form\""), "{page}");
    // The same certificate by its serial in upper case with colons.
    let colons = enc(&with_colons(&serial));
    let r = d
        .get(&format!("/console/certificates/{colons}"), &viewer)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        d.get("/console/certificates/00ff00", &viewer).await.status,
        StatusCode::NOT_FOUND
    );

    // Downloads: the certificate, and the chain that verifies it.
    let r = d.get(&format!("{path}/certificate.pem"), &viewer).await;
    assert_eq!(r.status, StatusCode::OK);
    let certs = pem::parse_many(&r.body).unwrap();
    assert_eq!(certs.len(), 1);
    let (_, leaf) = x509_parser::parse_x509_certificate(certs[0].contents()).unwrap();
    assert_eq!(hex(leaf.raw_serial()), serial);
    let r = d.get(&format!("{path}/chain.pem"), &viewer).await;
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/pem-certificate-chain")
    );
    let chain = pem::parse_many(&r.body).unwrap();
    assert_eq!(chain.len(), 2, "{}", r.text());
    assert_eq!(chain[0].contents(), certs[0].contents());
    let (_, issuer) = x509_parser::parse_x509_certificate(chain[1].contents()).unwrap();
    assert_eq!(issuer.subject(), leaf.issuer());
    leaf.verify_signature(Some(issuer.public_key())).unwrap();
    assert_eq!(
        d.get(&format!("{path}/other.pem"), &viewer).await.status,
        StatusCode::NOT_FOUND
    );

    // A viewer's post is refused, with or without a form to post from.
    let csrf = hidden(&d.page("/console/certificates", &viewer).await, "csrf");
    let good = "code=4&reason=replaced&confirm=yes";
    let revoke = format!("{path}/revoke");
    let r = d
        .post(&revoke, &viewer, &format!("csrf={}&{good}", enc(&csrf)))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // No CSRF token (or another session's) from the approver: refused.
    let r = d.post(&revoke, &approver, good).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = d
        .post(&revoke, &approver, &format!("csrf={}&{good}", enc(&csrf)))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The approver's form: the reason codes the BR allow.
    let page = d.page(&path, &approver).await;
    assert!(page.contains("id=\"revoke-form\""), "{page}");
    for code in ["0", "1", "3", "4", "5", "9"] {
        assert!(
            page.contains(&format!("<option value=\"{code}\"")),
            "{code}"
        );
    }
    assert!(
        !page.contains("<option value=\"2\""),
        "cACompromise is not for leaves"
    );
    let csrf = enc(&hidden(&page, "csrf"));
    // A code the BR do not allow, no reason, no confirmation: each said
    // next to its field, and nothing revoked.
    for (form, field) in [
        ("code=2&reason=x&confirm=yes", "revoke-code"),
        ("code=keyCompromise&reason=x&confirm=yes", "revoke-code"),
        ("code=4&reason=%20&confirm=yes", "revoke-reason"),
        ("code=4&reason=replaced", "revoke-confirm"),
    ] {
        let r = d
            .post(&revoke, &approver, &format!("csrf={csrf}&{form}"))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{form}");
        let page = r.text();
        assert!(field_error(&page, field).is_some(), "{form}: {page}");
        assert!(page.contains("id=\"cert-status\">valid<"), "{form}");
    }
    let ev = d.get(&path, &viewer).await.text();
    assert!(ev.contains("id=\"cert-status\">valid<"));
    let events = d.s.vetting().audit(Some(org), 100).await.unwrap();
    assert!(!events.iter().any(|e| e.action == "certificate.revoke"));

    // Revoked: back on the page, which says so, with the reason.
    let r = d
        .post(
            &revoke,
            &approver,
            &format!("csrf={csrf}&code=4&reason=replaced+by+a+new+key&confirm=yes"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let to = r.header("location").unwrap();
    assert_eq!(to, format!("{path}?done=revoked"));
    let page = d.page(&to, &approver).await;
    assert!(page.contains("id=\"notice\""), "{page}");
    assert!(page.contains("id=\"cert-status\">revoked<"), "{page}");
    assert!(page.contains("id=\"revoked-reason\">superseded<"), "{page}");
    assert!(!page.contains("id=\"revoke-form\""), "{page}");
    // The store agrees: revoked with code 4, by the member, in the audit
    // trail with the reason text.
    let store = trustgate::app::open_store(&d.s.cfg).unwrap();
    let s2 = serial.clone();
    let cert = store
        .read(move |c| trustgate::sa::certificates::by_serial(c, &s2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cert.revocation_reason, Some(4));
    assert!(cert.revoked_at.is_some());
    let events = d.s.vetting().audit(Some(org), 100).await.unwrap();
    let e = events
        .iter()
        .find(|e| e.action == "certificate.revoke")
        .unwrap();
    assert_eq!(e.actor, d.approver.member.identity().actor());
    assert_eq!(e.reason.as_deref(), Some("replaced by a new key"));
    // The search shows it revoked; a second revocation is refused beside
    // the form.
    let page = d
        .page(&format!("/console/certificates?serial={serial}"), &viewer)
        .await;
    assert!(page.contains("<td>revoked</td>"), "{page}");
    let r = d
        .post(
            &revoke,
            &approver,
            &format!("csrf={csrf}&code=1&reason=again&confirm=yes"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        field_error(&r.text(), "revoke-code").is_some(),
        "{}",
        r.text()
    );
}
