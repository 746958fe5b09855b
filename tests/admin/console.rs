//! The staff console over HTTP, in process, on a manual clock: login with
//! password and TOTP (one message for every failure), the session cookie
//! and the page headers, CSRF on every form, roles on render and on POST,
//! the four-eyes refusal beside the form, idle and absolute timeouts,
//! logout, the per-address login limit, the language (on SQLite and, with
//! TEST_DATABASE_URL, PostgreSQL).
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hyper::{Method, Request, StatusCode};
use time::{Duration, OffsetDateTime};
use trustgate::config::{Config, StaffRole, TlsMode};
use trustgate::core::{Clock, OrganizationId};
use trustgate::vetting::staff::{totp_code, Enrolment};
use trustgate::vetting::Vetting;

use crate::acme::{Http, Resp};
use crate::support::{check, organization};

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

struct Desk {
    _running: trustgate::app::Running,
    _dir: tempfile::TempDir,
    _database: Option<crate::acme::ScratchDatabase>,
    clock: Clock,
    vetting: Vetting,
    base: String,
    http: Http,
    approver: Enrolment,
    viewer: Enrolment,
    vetter: Enrolment,
    /// Members who replaced their one-time password (with `OWN_PASSWORD`).
    changed: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// What members set in place of their one-time password.
pub(crate) const OWN_PASSWORD: &str = "correct horse battery staple";

async fn desk() -> Desk {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    cfg.server.listen = "127.0.0.1:0".parse().unwrap();
    cfg.server.tls = TlsMode::None;
    cfg.admin.listen = Some("127.0.0.1:0".parse().unwrap());
    cfg.admin.session_idle_minutes = 30;
    cfg.admin.session_absolute_hours = 1;
    cfg.publish.listen = None;
    cfg.vetting.eab_encryption_key = Some(B64.encode([7u8; 32]));
    let database = crate::acme::ScratchDatabase::create();
    if let Some(db) = &database {
        cfg.database.url = db.url.clone();
    }
    let clock = Clock::manual(OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap());
    let running = trustgate::app::start_with_clock(cfg.clone(), clock.clone())
        .await
        .unwrap();
    let store = trustgate::app::open_store_with_clock(&cfg, clock.clone()).unwrap();
    let vetting = Vetting::new(store, cfg.vetting.clone());
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
    let vetter = vetting
        .add_staff(
            Some(&approver.member.identity()),
            "vetter",
            vec![StaffRole::View, StaffRole::Vet],
        )
        .await
        .unwrap();
    Desk {
        changed: Default::default(),
        vetter,
        base: format!("http://{}", running.admin_addr.unwrap()),
        _running: running,
        _dir: dir,
        _database: database,
        clock,
        vetting,
        http: crate::acme::http(),
        approver,
        viewer,
    }
}

/// What `name="NAME" value="…"` holds in a page.
pub(crate) fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// The value of cookie `name` that a response sets.
pub(crate) fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

pub(crate) fn cookie_value(set: &str) -> String {
    set.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

impl Desk {
    async fn send(
        &self,
        method: Method,
        path: &str,
        cookies: &str,
        headers: &[(&str, &str)],
        form: &str,
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !cookies.is_empty() {
            req = req.header("cookie", cookies);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if !form.is_empty() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        crate::acme::exchange(&self.http, req, form.as_bytes().to_vec()).await
    }

    async fn get(&self, path: &str, session: &str) -> Resp {
        self.send(Method::GET, path, &format!("tg_session={session}"), &[], "")
            .await
    }

    async fn post(&self, path: &str, session: &str, form: &str) -> Resp {
        self.send(
            Method::POST,
            path,
            &format!("tg_session={session}"),
            &[],
            form,
        )
        .await
    }

    /// The login form's CSRF pair: (cookie header, form token).
    async fn login_form(&self) -> (String, String) {
        let r = self.send(Method::GET, "/console/login", "", &[], "").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let set = set_cookie(&r, "tg_login").expect("the login form's cookie");
        (
            format!("tg_login={}", cookie_value(&set)),
            hidden(&r.text(), "csrf"),
        )
    }

    async fn try_login(&self, name: &str, password: &str, code: &str) -> Resp {
        let (cookie, csrf) = self.login_form().await;
        let form = format!(
            "csrf={}&return=%2Fconsole%2F&name={}&password={}&code={code}",
            enc(&csrf),
            enc(name),
            enc(password)
        );
        self.send(Method::POST, "/console/login", &cookie, &[], &form)
            .await
    }

    fn password(&self, who: &Enrolment) -> String {
        if self.changed.lock().unwrap().contains(&who.member.name) {
            OWN_PASSWORD.to_owned()
        } else {
            who.password.expose().to_owned()
        }
    }

    /// Logs `who` in with a fresh TOTP step (replacing the one-time
    /// password first time); the session cookie's value.
    async fn login(&self, who: &Enrolment) -> String {
        self.clock.advance(Duration::seconds(30));
        let code = totp_code(who.totp_secret.expose(), self.clock.now()).unwrap();
        let r = self
            .try_login(&who.member.name, &self.password(who), &code)
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        assert_eq!(r.header("location").as_deref(), Some("/console/"));
        let session = cookie_value(&set_cookie(&r, "tg_session").expect("a session cookie"));
        self.settle(who, &session).await;
        session
    }

    /// Replaces `who`'s one-time password, if not done yet.
    async fn settle(&self, who: &Enrolment, session: &str) {
        if self.changed.lock().unwrap().contains(&who.member.name) {
            return;
        }
        let r = self.get("/console/", session).await;
        assert_eq!(r.header("location").as_deref(), Some("/console/password"));
        let page = self.get("/console/password", session).await.text();
        let csrf = enc(&hidden(&page, "csrf"));
        let own = enc(OWN_PASSWORD);
        let r = self
            .post(
                "/console/password",
                session,
                &format!("csrf={csrf}&new={own}&again={own}"),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        self.changed.lock().unwrap().insert(who.member.name.clone());
        assert_eq!(self.get("/console/", session).await.status, StatusCode::OK);
    }

    async fn org(&self) -> OrganizationId {
        let data = serde_json::from_value(organization()).unwrap();
        self.vetting
            .create("staff:someone#99", data)
            .await
            .unwrap()
            .id
    }

    async fn record_checks(&self, who: &Enrolment, org: OrganizationId) {
        for kind in ["existence", "phone_intent", "domain_scope"] {
            let (record, at) = trustgate::admin::parse_check_submission(check(kind)).unwrap();
            self.vetting
                .record_check(&who.member.identity().actor(), org, record, at)
                .await
                .unwrap();
        }
    }
}

pub(crate) fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn assert_page_headers(r: &Resp) {
    assert_eq!(r.header("content-security-policy").as_deref(), Some(CSP));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(r.header("referrer-policy").as_deref(), Some("no-referrer"));
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
}

#[tokio::test]
async fn login_sessions_csrf_roles_and_timeouts() {
    let d = desk().await;
    let org = d.org().await;

    // No session: to the login page, with the way back.
    let r = d.get(&format!("/console/organizations/{org}"), "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.header("location").as_deref(),
        Some(format!("/console/login?return=%2Fconsole%2Forganizations%2F{org}").as_str())
    );
    let r = d.send(Method::GET, "/console/login", "", &[], "").await;
    assert_page_headers(&r);
    assert!(!r.text().contains("<script"), "{}", r.text());
    let css = d.send(Method::GET, "/console/style.css", "", &[], "").await;
    assert_eq!(
        css.header("content-type").as_deref(),
        Some("text/css; charset=utf-8")
    );

    // Every failure reads the same: wrong password, unknown name, wrong code.
    let code = totp_code(d.approver.totp_secret.expose(), d.clock.now()).unwrap();
    let wrong_pw = d.try_login("approver", "not-the-password", &code).await;
    let unknown = d.try_login("nobody-here", "x", &code).await;
    let wrong_code = d
        .try_login("approver", d.approver.password.expose(), "000000")
        .await;
    for r in [&wrong_pw, &unknown, &wrong_code] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
        assert!(set_cookie(r, "tg_session").is_none());
    }
    let error = |r: &Resp| {
        r.text()
            .split("id=\"error\">")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(error(&wrong_pw), error(&unknown));
    assert_eq!(error(&wrong_pw), error(&wrong_code));
    // The login form carries its own CSRF token.
    let r = d
        .send(
            Method::POST,
            "/console/login",
            "tg_login=abc",
            &[],
            "csrf=abd&name=approver",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // A session: a 256-bit id, HttpOnly, SameSite=Strict, under /console.
    d.clock.advance(Duration::seconds(30));
    let code = totp_code(d.approver.totp_secret.expose(), d.clock.now()).unwrap();
    let r = d
        .try_login("approver", d.approver.password.expose(), &code)
        .await;
    let set = set_cookie(&r, "tg_session").unwrap();
    assert!(
        set.contains("; HttpOnly")
            && set.contains("; SameSite=Strict")
            && set.contains("; Path=/console"),
        "{set}"
    );
    let approver = cookie_value(&set);
    assert_eq!(B64.decode(&approver).unwrap().len(), 32);
    // The one-time password opens only the page that replaces it.
    let r = d
        .get(&format!("/console/organizations/{org}"), &approver)
        .await;
    assert_eq!(r.header("location").as_deref(), Some("/console/password"));
    let csrf = enc(&hidden(
        &d.get("/console/password", &approver).await.text(),
        "csrf",
    ));
    let r = d
        .post(
            "/console/password",
            &approver,
            &format!("csrf={csrf}&new=short&again=short"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = d
        .post(
            "/console/password",
            &approver,
            &format!("csrf={csrf}&new=long-enough-1&again=long-enough-2"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    d.settle(&d.approver, &approver).await;

    // The queue shows what blocks the organization.
    let r = d.get("/console/", &approver).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_page_headers(&r);
    let page = r.text();
    assert!(page.contains("例示株式会社"), "{page}");
    assert!(
        page.contains("third-party existence check not recorded"),
        "{page}"
    );
    // Searched by corporate number, by domain, and not found.
    for (q, found) in [
        ("1180301018771", true),
        ("example.co.jp", true),
        ("nothing-like-it", false),
    ] {
        let page = d.get(&format!("/console/?q={q}"), &approver).await.text();
        assert_eq!(page.contains("例示株式会社"), found, "{q}: {page}");
    }

    // The organization page: its fields by their Japanese names, the
    // approve form for an approver, with the session's CSRF token.
    let page = d
        .get(&format!("/console/organizations/{org}"), &approver)
        .await
        .text();
    assert!(
        page.contains("組織名") && page.contains("本店登記住所") && page.contains("180301018771"),
        "{page}"
    );
    assert!(page.contains("id=\"do-approve\""), "{page}");
    let csrf = hidden(&page, "csrf");
    // A POST without the token, or with another, changes nothing.
    let approve = format!("/console/organizations/{org}/approve");
    let r = d.post(&approve, &approver, "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = d.post(&approve, &approver, "csrf=forged").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // With it: vetting's refusal, beside the form.
    let r = d
        .post(&approve, &approver, &format!("csrf={}", enc(&csrf)))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("not recorded"), "{}", r.text());
    // The approver who recorded the checks meets the four-eyes rule.
    d.record_checks(&d.approver, org).await;
    let page = d
        .get(&format!("/console/organizations/{org}"), &approver)
        .await
        .text();
    assert!(page.contains("four-eyes rule"), "{page}");
    let r = d
        .post(&approve, &approver, &format!("csrf={}", enc(&csrf)))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text().contains("four-eyes rule"), "{}", r.text());
    assert_eq!(d.vetting.get(org).await.unwrap().status.as_str(), "pending");

    // A viewer sees no decision and may not post one.
    let viewer = d.login(&d.viewer).await;
    let page = d
        .get(&format!("/console/organizations/{org}"), &viewer)
        .await
        .text();
    assert!(
        page.contains("例示株式会社") && !page.contains("do-approve"),
        "{page}"
    );
    let viewer_csrf = hidden(&page, "csrf");
    let r = d
        .post(&approve, &viewer, &format!("csrf={}", enc(&viewer_csrf)))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Another session's token is not this one's.
    let r = d
        .post(&approve, &viewer, &format!("csrf={}", enc(&csrf)))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Idle for 31 minutes: the session is over; back to login.
    d.clock.advance(Duration::minutes(31));
    let r = d.get("/console/", &viewer).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/console/login?return=%2Fconsole%2F")
    );
    // Busy, but past the absolute timeout (an hour here): over too.
    let busy = d.login(&d.viewer).await;
    for _ in 0..2 {
        d.clock.advance(Duration::minutes(25));
        assert_eq!(d.get("/console/", &busy).await.status, StatusCode::OK);
    }
    d.clock.advance(Duration::minutes(25));
    assert_eq!(
        d.get("/console/", &busy).await.status,
        StatusCode::SEE_OTHER
    );

    // Logout ends the session on the server, not just in the browser.
    let s = d.login(&d.viewer).await;
    let csrf = hidden(&d.get("/console/", &s).await.text(), "csrf");
    let r = d
        .post("/console/logout", &s, &format!("csrf={}", enc(&csrf)))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(set_cookie(&r, "tg_session").unwrap().contains("Max-Age=0"));
    assert_eq!(d.get("/console/", &s).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_vetter_records_checks_and_makes_a_credential_an_approver_approves() {
    let d = desk().await;
    let org = d.org().await;
    let page_path = format!("/console/organizations/{org}");
    let vetter = d.login(&d.vetter).await;
    let approver = d.login(&d.approver).await;
    let page = d.get(&page_path, &vetter).await.text();
    assert!(
        page.contains("id=\"check-existence\"") && !page.contains("do-approve"),
        "{page}"
    );
    let csrf = enc(&hidden(&page, "csrf"));
    // The approver has no vet role: no forms, and a post is refused.
    let apage = d.get(&page_path, &approver).await.text();
    assert!(
        !apage.contains("check-existence") && !apage.contains("eab-form"),
        "{apage}"
    );
    let acsrf = enc(&hidden(&apage, "csrf"));
    let r = d
        .post(
            &format!("{page_path}/checks/domain_scope"),
            &approver,
            &format!("csrf={acsrf}&passed=true"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A check without its reference is refused beside the forms.
    let r = d
        .post(
            &format!("{page_path}/checks/existence"),
            &vetter,
            &format!("csrf={csrf}&source=tdb&passed=true"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("reference"), "{}", r.text());
    for (kind, fields) in [
        ("existence", "source=tdb&reference=TDB+123456789&passed=true&notes="),
        ("phone_intent", "number_source=ntt104&number_called=03-1234-5678&person_reached=%E4%BD%90%E8%97%A4&confirmed=true&notes=ok"),
        ("domain_scope", "passed=true&notes="),
    ] {
        let r = d
            .post(&format!("{page_path}/checks/{kind}"), &vetter, &format!("csrf={csrf}&{fields}"))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{kind}: {}", r.text());
    }
    let checks = d.vetting.checks(org).await.unwrap();
    assert_eq!(checks.len(), 3);
    assert!(checks
        .iter()
        .all(|c| c.performed_by == d.vetter.member.identity().actor()));
    // The approver's page: nothing missing; approve.
    let apage = d.get(&page_path, &approver).await.text();
    assert!(
        apage.contains("id=\"needs-none\"") && apage.contains("staff:vetter#"),
        "{apage}"
    );
    let r = d
        .post(
            &format!("{page_path}/approve"),
            &approver,
            &format!("csrf={acsrf}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let o = d.vetting.get(org).await.unwrap();
    assert_eq!(o.status.as_str(), "approved");
    assert_eq!(o.approved_by, Some(d.approver.member.identity().actor()));
    // Approval made the trust seal: its snippet is on the page (the
    // pending page had none).
    assert!(!apage.contains("id=\"seal-snippet\""), "{apage}");
    let seal = d
        .vetting
        .seal(org)
        .await
        .unwrap()
        .expect("a seal on approval");
    let approved_page = d.get(&page_path, &approver).await.text();
    assert!(
        approved_page.contains("id=\"seal-snippet\"")
            && approved_page.contains(&format!("/seal/{seal}.svg")),
        "{approved_page}"
    );
    // A credential: its key once, with the certbot line.
    let r = d
        .post(
            &format!("{page_path}/eab"),
            &vetter,
            &format!("csrf={csrf}&note=desk&single_use=on&expires_days=7"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let page = r.text();
    let creds = d.vetting.list_eab(Some(org)).await.unwrap();
    assert_eq!(creds.len(), 1);
    assert!(creds[0].single_use && creds[0].expires_at.is_some() && creds[0].note == "desk");
    let kid = &creds[0].key_id;
    assert!(
        page.contains(&format!("--eab-kid {kid} --eab-hmac-key ")),
        "{page}"
    );
    assert!(page.contains("--server http"), "{page}");
    // Days that are not a number change nothing.
    let r = d
        .post(
            &format!("{page_path}/eab"),
            &vetter,
            &format!("csrf={csrf}&expires_days=soon"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(d.vetting.list_eab(Some(org)).await.unwrap().len(), 1);
    // The audit trail on the page names both members.
    let page = d.get(&page_path, &vetter).await.text();
    for action in ["check.record", "organization.approve", "eab.create"] {
        assert!(page.contains(action), "{action}: {page}");
    }
}

#[tokio::test]
async fn language_return_paths_and_the_address_limit() {
    let d = desk().await;
    let ja = d
        .send(Method::GET, "/console/login", "", &[], "")
        .await
        .text();
    assert!(
        ja.contains("スタッフログイン") && ja.contains("lang=\"ja\""),
        "{ja}"
    );
    let en = d
        .send(
            Method::GET,
            "/console/login",
            "",
            &[("accept-language", "en-GB,en;q=0.9,ja;q=0.5")],
            "",
        )
        .await
        .text();
    assert!(
        en.contains("Staff login") && en.contains("lang=\"en\""),
        "{en}"
    );
    // The switch sets a cookie that wins over Accept-Language.
    let r = d
        .send(
            Method::GET,
            "/console/lang?to=en&return=%2Fconsole%2Flogin",
            "",
            &[],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location").as_deref(), Some("/console/login"));
    let lang = set_cookie(&r, "tg_lang").unwrap();
    let page = d
        .send(
            Method::GET,
            "/console/login",
            lang.split(';').next().unwrap(),
            &[("accept-language", "ja")],
            "",
        )
        .await
        .text();
    assert!(page.contains("Staff login"), "{page}");
    // A return path elsewhere is not followed.
    let r = d
        .send(
            Method::GET,
            "/console/lang?to=en&return=https%3A%2F%2Fevil.example%2F",
            "",
            &[],
            "",
        )
        .await;
    assert_eq!(r.header("location").as_deref(), Some("/console/"));
    let page = d
        .send(
            Method::GET,
            "/console/login?return=%2F%2Fevil.example%2F",
            "",
            &[],
            "",
        )
        .await
        .text();
    assert_eq!(hidden(&page, "return"), "/console/");

    // The address limit: 20 attempts in five minutes, whatever the names.
    for i in 0..20 {
        let r = d.try_login(&format!("guess{i}"), "x", "123456").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = d
        .try_login("approver", d.approver.password.expose(), "123456")
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    d.clock.advance(Duration::minutes(5));
    d.login(&d.approver).await;
}

#[path = "console_audit.rs"]
mod console_audit;
