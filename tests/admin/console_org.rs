//! The console's organization page and vetting queue, over HTTP on the
//! real server (ACME and admin listeners, a manual clock): the queue's
//! search and status filter in SQL with keyset pages, editing the
//! application, the EV check forms, revoking an EAB credential (its
//! accounts named first, then deactivated and refused by ACME), and the
//! audit of console logins. SQLite, and PostgreSQL with TEST_DATABASE_URL.
#![allow(clippy::unwrap_used)]

use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};
use trustgate::config::StaffRole;
use trustgate::core::organization::{Level, OrganizationData};
use trustgate::core::{Clock, OrganizationId};
use trustgate::vetting::checks::{CheckKind, Transition};
use trustgate::vetting::staff::{totp_code, Enrolment};
use trustgate::vetting::Vetting;

use crate::acme::{Client, Resp, Server};

const OWN_PASSWORD: &str = "correct horse battery staple";

struct Desk {
    s: Server,
    vetting: Vetting,
    vetter: Enrolment,
    approver: Enrolment,
    viewer: Enrolment,
    http: crate::acme::Http,
}

async fn desk() -> Desk {
    let clock = Clock::manual(OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap());
    let s = Server::start_on(clock, |_| {}).await;
    let vetting = s.vetting();
    let approver = vetting
        .add_staff(None, "approver", vec![StaffRole::View, StaffRole::Approve])
        .await
        .unwrap();
    let by = approver.member.identity();
    let vetter = vetting
        .add_staff(Some(&by), "vetter", vec![StaffRole::View, StaffRole::Vet])
        .await
        .unwrap();
    let viewer = vetting
        .add_staff(Some(&by), "viewer", vec![StaffRole::View])
        .await
        .unwrap();
    Desk {
        s,
        vetting,
        vetter,
        approver,
        viewer,
        http: crate::acme::http(),
    }
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn form(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// What `name="NAME" value="…"` holds in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| {
            c.split(';')
                .next()
                .unwrap()
                .split_once('=')
                .unwrap()
                .1
                .to_owned()
        })
}

/// A signed-in member's session and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

impl Desk {
    async fn send(&self, method: Method, path: &str, cookie: &str, body: &str) -> Resp {
        let addr = self.s._running.admin_addr.unwrap();
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header("accept-language", "en");
        if !cookie.is_empty() {
            req = req.header("cookie", cookie);
        }
        if !body.is_empty() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        crate::acme::exchange(&self.http, req, body.as_bytes().to_vec()).await
    }

    async fn get(&self, path: &str, who: &Session) -> Resp {
        self.send(Method::GET, path, &format!("tg_session={}", who.cookie), "")
            .await
    }

    /// Posts `fields` with the session's CSRF token.
    async fn post(&self, path: &str, who: &Session, fields: &[(String, String)]) -> Resp {
        let mut all = vec![("csrf".to_owned(), who.csrf.clone())];
        all.extend_from_slice(fields);
        self.send(
            Method::POST,
            path,
            &format!("tg_session={}", who.cookie),
            &form(&all),
        )
        .await
    }

    async fn try_login(&self, name: &str, password: &str, code: &str) -> Resp {
        let r = self.send(Method::GET, "/console/login", "", "").await;
        let cookie = format!("tg_login={}", set_cookie(&r, "tg_login").unwrap());
        let csrf = hidden(&r.text(), "csrf");
        let body = form(&pairs(&[
            ("csrf", &csrf),
            ("return", "/console/"),
            ("name", name),
            ("password", password),
            ("code", code),
        ]));
        self.send(Method::POST, "/console/login", &cookie, &body)
            .await
    }

    fn code(&self, who: &Enrolment) -> String {
        totp_code(who.totp_secret.expose(), self.s.clock.now()).unwrap()
    }

    /// Logs in with the one-time password and replaces it.
    async fn login(&self, who: &Enrolment) -> Session {
        self.s.clock.advance(Duration::seconds(30));
        let r = self
            .try_login(&who.member.name, who.password.expose(), &self.code(who))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        let cookie = set_cookie(&r, "tg_session").unwrap();
        let s = format!("tg_session={cookie}");
        let page = self.send(Method::GET, "/console/password", &s, "").await;
        let csrf = hidden(&page.text(), "csrf");
        let body = form(&pairs(&[
            ("csrf", &csrf),
            ("new", OWN_PASSWORD),
            ("again", OWN_PASSWORD),
        ]));
        let r = self
            .send(Method::POST, "/console/password", &s, &body)
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        Session { cookie, csrf }
    }

    /// Logs in again, with the password set at the first login.
    async fn relogin(&self, who: &Enrolment) -> Session {
        self.s.clock.advance(Duration::seconds(30));
        let r = self
            .try_login(&who.member.name, OWN_PASSWORD, &self.code(who))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        let cookie = set_cookie(&r, "tg_session").unwrap();
        let page = self
            .send(
                Method::GET,
                "/console/",
                &format!("tg_session={cookie}"),
                "",
            )
            .await;
        let csrf = hidden(&page.text(), "csrf");
        Session { cookie, csrf }
    }

    async fn create(&self, data: Value) -> OrganizationId {
        let data: OrganizationData = serde_json::from_value(data).unwrap();
        self.vetting.create("staff:desk#0", data).await.unwrap().id
    }

    /// Every check of the level by the vetter, approved by the approver.
    async fn approve(&self, org: OrganizationId) {
        let level = self.vetting.get(org).await.unwrap().data.level;
        for record in crate::acme::checks_for(level) {
            self.vetting
                .record_check(&self.vetter.member.identity().actor(), org, record, None)
                .await
                .unwrap();
        }
        self.vetting
            .transition(
                &self.approver.member.identity().actor(),
                org,
                Transition::Approve,
                None,
            )
            .await
            .unwrap();
    }

    async fn audit(&self, action: &str) -> Vec<trustgate::sa::audit::AuditEvent> {
        let mut all = self.vetting.audit(None, 1000).await.unwrap();
        all.retain(|e| e.action == action);
        all
    }
}

fn example() -> Value {
    crate::support::organization()
}

fn ev(mut data: Value) -> Value {
    data["level"] = "ev".into();
    data["ev"] = json!({"business_category": "Private Organization", "jurisdiction_country": "JP"});
    data
}

/// 法人番号: the check digit, then the 12-digit registration number.
fn corporate_number(registration: &str) -> String {
    let sum: u32 = registration
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 2 })
        .sum();
    format!("{}{registration}", 9 - sum % 9)
}

/// The example organization, renamed and renumbered.
fn numbered(i: u32, name: &str, english: &str, domain: &str) -> Value {
    let mut d = example();
    let reg = format!("{:012}", 180_301_000_000u64 + u64::from(i));
    d["legal_name"] = name.into();
    d["english_name"] = english.into();
    d["tdb_code"] = format!("{:09}", 900_000_000 + i).into();
    d["corporate_number"] = corporate_number(&reg).into();
    d["registration_number"] = reg.into();
    d["domains"] = json!([{"name": domain, "exact": false}]);
    d
}

/// The organization names a queue page lists, in order.
fn listed(page: &str) -> Vec<String> {
    let Some((_, table)) = page.split_once("<table id=\"queue\">") else {
        return Vec::new();
    };
    table
        .split("<a href=\"/console/organizations/")
        .skip(1)
        .map(|s| {
            s.split_once("\">")
                .unwrap()
                .1
                .split('<')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn next_link(page: &str) -> Option<String> {
    page.split("<a href=\"")
        .filter_map(|s| s.split_once("\" rel=\"next\""))
        .map(|(href, _)| href.replace("&#38;", "&"))
        .next()
}

#[tokio::test]
async fn the_queue_searches_filters_and_pages_in_sql() {
    let d = desk().await;
    let a = d
        .create(numbered(
            1,
            "青葉商事株式会社",
            "Aoba Trading",
            "aoba.co.jp",
        ))
        .await;
    let b = d
        .create(numbered(
            2,
            "桜川工業株式会社",
            "Sakuragawa Industries",
            "sakura-kogyo.jp",
        ))
        .await;
    let c = d
        .create(numbered(
            3,
            "青葉物流株式会社",
            "Aoba Logistics",
            "aoba-logi.jp",
        ))
        .await;
    let viewer = d.login(&d.viewer).await;
    let search = |q: &str| format!("/console/?q={}", enc(q));
    for (q, want) in [
        ("青葉", vec!["青葉商事株式会社", "青葉物流株式会社"]),
        ("aoba trading", vec!["青葉商事株式会社"]),
        ("INDUSTRIES", vec!["桜川工業株式会社"]),
        ("900000002", vec!["桜川工業株式会社"]),
        ("180301000003", vec!["青葉物流株式会社"]),
        (&corporate_number("180301000001"), vec!["青葉商事株式会社"]),
        ("aoba-logi.jp", vec!["青葉物流株式会社"]),
        // What a Japanese input method types: full-width digits.
        ("９０００００００３", vec!["青葉物流株式会社"]),
        ("kogyo", vec!["桜川工業株式会社"]),
        ("nothing-like-it", vec![]),
        ("%", vec![]),
    ] {
        let page = d.get(&search(q), &viewer).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(listed(&page.text()), want, "{q}");
    }

    // The status filter: approved ones leave the pending tab.
    d.approve(a).await;
    let pending = d.get("/console/", &viewer).await.text();
    assert_eq!(listed(&pending), ["桜川工業株式会社", "青葉物流株式会社"]);
    let approved = d
        .get("/console/?status=approved&q=aoba", &viewer)
        .await
        .text();
    assert_eq!(listed(&approved), ["青葉商事株式会社"]);
    // Past the vetting age an approval is listed as expired, not approved.
    d.s.clock.advance(Duration::days(400));
    let viewer = d.relogin(&d.viewer).await;
    let approved = d.get("/console/?status=approved", &viewer).await.text();
    assert!(listed(&approved).is_empty(), "{approved}");
    let expired = d.get("/console/?status=expired", &viewer).await.text();
    assert_eq!(listed(&expired), ["青葉商事株式会社"]);

    // Blockers come with each row: c has the existence check, b none.
    let existence = serde_json::from_value(crate::support::check("existence")).unwrap();
    d.vetting
        .record_check("staff:vetter#2", c, existence, None)
        .await
        .unwrap();
    let page = d.get("/console/", &viewer).await.text();
    let row = |name: &str| {
        page.split("<tr>")
            .find(|r| r.contains(name))
            .unwrap()
            .to_owned()
    };
    assert!(row("桜川工業").contains("third-party existence check not recorded"));
    assert!(!row("青葉物流").contains("third-party existence check not recorded"));
    assert!(row("青葉物流").contains("applicant telephone confirmation not recorded"));

    // Keyset pages: 50 a page, oldest first, `after=` the last id.
    for i in 0..52 {
        d.create(numbered(
            100 + i,
            &format!("頁送り{i:02}株式会社"),
            "Paging KK",
            "paging.jp",
        ))
        .await;
    }
    let first = d.get(&search("paging"), &viewer).await.text();
    let names = listed(&first);
    assert_eq!(names.len(), 50);
    assert_eq!(names[0], "頁送り00株式会社");
    assert_eq!(names[49], "頁送り49株式会社");
    let next = next_link(&first).expect("a next page");
    assert!(
        next.contains("q=paging") && next.contains("after="),
        "{next}"
    );
    let second = d.get(&next, &viewer).await.text();
    assert_eq!(listed(&second), ["頁送り50株式会社", "頁送り51株式会社"]);
    assert_eq!(next_link(&second), None);
    let _ = b;
}

/// The application as the edit form posts it: JSON paths, domains a line
/// each.
fn application_form(data: &Value) -> Vec<(String, String)> {
    fn walk(path: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(&p, v, out);
                }
            }
            Value::Null | Value::Bool(false) => {}
            Value::Bool(true) => out.push((path.into(), "on".into())),
            Value::String(s) => out.push((path.into(), s.clone())),
            other => out.push((path.into(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    let mut d = data.clone();
    let domains = d["domains"].take();
    d.as_object_mut().unwrap().remove("domains");
    walk("", &d, &mut out);
    let names = |exact: bool| {
        domains
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["exact"] == exact)
            .map(|x| x["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    };
    out.push(("domains".into(), names(false)));
    out.push(("domains_exact".into(), names(true)));
    out
}

#[tokio::test]
async fn the_vetter_edits_the_application_back_to_pending() {
    let d = desk().await;
    let org = d.create(example()).await;
    d.approve(org).await;
    let path = format!("/console/organizations/{org}");
    let vetter = d.login(&d.vetter).await;
    let page = d.get(&path, &vetter).await.text();
    assert!(page.contains("id=\"edit\""), "{page}");
    assert!(
        page.contains("id=\"edit-legal_name\" name=\"legal_name\" value=\"例示株式会社\""),
        "{page}"
    );
    assert!(
        page.contains("name=\"domains\" rows=\"2\">example.co.jp</textarea>"),
        "{page}"
    );

    // Invalid: nothing changes; each problem beside its field.
    let before = d.vetting.get(org).await.unwrap();
    let edits = d.audit("organization.edit").await.len();
    let mut bad = example();
    bad["registration_number"] = "12345".into();
    bad["applicant"]["email"] = "not-an-address".into();
    bad["domains"] = json!([{"name": "Example.co.jp", "exact": false}, {"name": "corp.internal", "exact": true}]);
    let r = d
        .post(&format!("{path}/edit"), &vetter, &application_form(&bad))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let page = r.text();
    for (field, words) in [
        ("edit-registration_number-error", "must be 12 digits"),
        ("edit-applicant-email-error", "not a valid e-mail address"),
        ("edit-domains-error", "must be lowercase"),
        ("edit-domains_exact-error", "special-use suffix"),
    ] {
        let at = page
            .find(&format!("id=\"{field}\""))
            .unwrap_or_else(|| panic!("no {field}: {page}"));
        assert!(
            page[at..].split("</span>").next().unwrap().contains(words),
            "{field}: {page}"
        );
    }
    // The form comes back as posted, open.
    assert!(page.contains("value=\"12345\"") && page.contains("id=\"edit-application\" open"));
    let after = d.vetting.get(org).await.unwrap();
    assert_eq!(after.data, before.data);
    assert_eq!(after.status.as_str(), "approved");
    assert_eq!(d.audit("organization.edit").await.len(), edits);

    // Unchanged: nothing is saved, the approval stands.
    let r = d
        .post(
            &format!("{path}/edit"),
            &vetter,
            &application_form(&example()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        d.vetting.get(org).await.unwrap().status.as_str(),
        "approved"
    );

    // A viewer may not.
    let viewer = d.login(&d.viewer).await;
    assert!(!d.get(&path, &viewer).await.text().contains("id=\"edit\""));
    let mut good = example();
    good["legal_name"] = "例示ホールディングス株式会社".into();
    good["office"]["street"] = "丸の内2-2-2".into();
    let r = d
        .post(&format!("{path}/edit"), &viewer, &application_form(&good))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The vetter: changed, pending again, audited as them.
    let r = d
        .post(&format!("{path}/edit"), &vetter, &application_form(&good))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let o = d.vetting.get(org).await.unwrap();
    assert_eq!(o.data.legal_name, "例示ホールディングス株式会社");
    assert_eq!(o.data.office.street, "丸の内2-2-2");
    assert_eq!(o.status.as_str(), "pending");
    let events = d.audit("organization.edit").await;
    assert_eq!(events.len(), edits + 1);
    assert_eq!(events[0].actor, d.vetter.member.identity().actor());
    assert_eq!(
        events[0].details["after"]["legal_name"],
        "例示ホールディングス株式会社"
    );
    // And the queue finds it by its new name.
    let page = d
        .get(&format!("/console/?q={}", enc("ホールディングス")), &vetter)
        .await
        .text();
    assert_eq!(listed(&page), ["例示ホールディングス株式会社"]);
}

#[tokio::test]
async fn the_vetter_registers_an_application_received_on_paper() {
    let d = desk().await;
    let vetter = d.login(&d.vetter).await;
    let queue = d.get("/console/", &vetter).await.text();
    assert!(
        queue.contains("href=\"/console/organizations/new\""),
        "{queue}"
    );
    let page = d.get("/console/organizations/new", &vetter).await;
    assert_eq!(page.status, StatusCode::OK);
    let page = page.text();
    assert!(page.contains("id=\"new\"") && page.contains("id=\"new-legal_name\""));

    // Invalid: nothing is stored; each problem beside its field, the
    // form as posted.
    let created = d.audit("organization.create").await.len();
    let mut bad = example();
    bad["registration_number"] = "12345".into();
    bad["domains"] = json!([]);
    let r = d
        .post(
            "/console/organizations/new",
            &vetter,
            &application_form(&bad),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let page = r.text();
    for (field, words) in [
        ("new-registration_number-error", "must be 12 digits"),
        ("new-domains-error", "domain"),
    ] {
        let at = page
            .find(&format!("id=\"{field}\""))
            .unwrap_or_else(|| panic!("no {field}: {page}"));
        assert!(
            page[at..].split("</span>").next().unwrap().contains(words),
            "{field}: {page}"
        );
    }
    assert!(page.contains("value=\"12345\""));
    assert_eq!(d.audit("organization.create").await.len(), created);

    // A viewer sees no link and may not post.
    let viewer = d.login(&d.viewer).await;
    assert!(!d
        .get("/console/", &viewer)
        .await
        .text()
        .contains("/console/organizations/new"));
    let r = d.get("/console/organizations/new", &viewer).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = d
        .post(
            "/console/organizations/new",
            &viewer,
            &application_form(&example()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(d.audit("organization.create").await.len(), created);

    // The vetter: created pending, as the example says, audited as them.
    let r = d
        .post(
            "/console/organizations/new",
            &vetter,
            &application_form(&example()),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.headers["location"].to_str().unwrap().to_owned();
    let id: i64 = location
        .strip_prefix("/console/organizations/")
        .unwrap()
        .parse()
        .unwrap();
    let o = d.vetting.get(OrganizationId(id)).await.unwrap();
    let expected: OrganizationData = serde_json::from_value(example()).unwrap();
    assert_eq!(o.data, expected);
    assert_eq!(o.status.as_str(), "pending");
    let events = d.audit("organization.create").await;
    assert_eq!(events.len(), created + 1);
    assert_eq!(events[0].actor, d.vetter.member.identity().actor());
    assert_eq!(events[0].organization, Some(OrganizationId(id)));
}

/// Valid posts of the five EV forms.
fn ev_posts() -> Vec<(&'static str, Vec<(String, String)>)> {
    vec![
        (
            "ev_place_of_business",
            pairs(&[
                ("address", "東京都千代田区丸の内一丁目1番1号"),
                ("method", "independent_listing"),
                ("source", "tdb"),
                ("reference", "TDB 123456789"),
                ("passed", "true"),
                ("notes", ""),
            ]),
        ),
        (
            "ev_operational_existence",
            pairs(&[
                ("evidence.type", "three_years_registered"),
                ("evidence.registered_on", "1998-04-01"),
                ("source", "commercial_registry"),
                ("reference", "履歴事項全部証明書"),
                ("passed", "true"),
            ]),
        ),
        (
            "ev_communication",
            pairs(&[
                ("method.channel", "telephone"),
                ("method.number", "03-1234-5678"),
                ("method.address", ""),
                ("matched_in", "phone_company"),
                ("reference", "NTT 104"),
                ("affirmative_response", "総務部 田中氏が確認"),
                ("passed", "true"),
            ]),
        ),
        (
            "ev_authority",
            pairs(&[
                ("contract_signer.name", "山田太郎"),
                ("contract_signer.title", "代表取締役"),
                ("certificate_approver.name", "佐藤花子"),
                ("certificate_approver.title", "部長"),
                ("agency_method", "qiis_or_qgis"),
                ("authority_method", "independent_confirmation"),
                ("reference", "登記簿"),
                ("passed", "true"),
            ]),
        ),
        (
            "ev_denied_party_screening",
            pairs(&[
                ("lists", "meti_end_user_list"),
                ("lists", "ca_high_risk"),
                ("screened", "applicant"),
                ("screened", "contract_signer"),
                ("screened", "certificate_approver"),
                ("screened", "jurisdiction"),
                ("screened", "place_of_business"),
                ("reference", "SCR-1"),
                ("result", "no_match"),
            ]),
        ),
    ]
}

#[tokio::test]
async fn each_ev_form_records_its_check_and_ov_has_none() {
    let d = desk().await;
    let ov = d.create(example()).await;
    let org = d.create(ev(example())).await;
    let vetter = d.login(&d.vetter).await;
    let ov_page = d
        .get(&format!("/console/organizations/{ov}"), &vetter)
        .await
        .text();
    let page = d
        .get(&format!("/console/organizations/{org}"), &vetter)
        .await
        .text();
    for (kind, _) in ev_posts() {
        assert!(!ov_page.contains(&format!("id=\"check-{kind}\"")), "{kind}");
        assert!(
            page.contains(&format!("id=\"check-{kind}\"")),
            "{kind}: {page}"
        );
    }
    // An approver (no vet role) sees none of them.
    let approver = d.login(&d.approver).await;
    let apage = d
        .get(&format!("/console/organizations/{org}"), &approver)
        .await
        .text();
    assert!(!apage.contains("check-ev_authority"));

    // Refused: the problem beside its field, nothing recorded.
    let base = format!("/console/organizations/{org}/checks");
    let mut authority = ev_posts().remove(3).1;
    authority.retain(|(k, _)| k != "contract_signer.name");
    let r = d
        .post(&format!("{base}/ev_authority"), &vetter, &authority)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(
        r.text().contains(
            "id=\"ev_authority-contract_signer-name-error\">contract_signer.name is required"
        ),
        "{}",
        r.text()
    );
    let mut screening = ev_posts().remove(4).1;
    screening.retain(|(_, v)| v != "ca_high_risk");
    let r = d
        .post(
            &format!("{base}/ev_denied_party_screening"),
            &vetter,
            &screening,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text().contains(
            "id=\"ev_denied_party_screening-lists-error\">lists must include ca_high_risk"
        ),
        "{}",
        r.text()
    );
    let r = d
        .post(
            &format!("{base}/ev_operational_existence"),
            &vetter,
            &pairs(&[
                ("evidence.type", "three_years_registered"),
                ("evidence.registered_on", "2026-01-01"),
                ("source", "tdb"),
                ("reference", "x"),
                ("passed", "true"),
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r
        .text()
        .contains("id=\"ev_operational_existence-evidence-registered_on-error\">evidence.registered_on 2026-01-01 is less than three years"));
    assert!(d.vetting.checks(org).await.unwrap().is_empty());

    // Each form records its own kind, as the vetter.
    for (kind, fields) in ev_posts() {
        let r = d.post(&format!("{base}/{kind}"), &vetter, &fields).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{kind}: {}", r.text());
        let checks = d.vetting.checks(org).await.unwrap();
        let last = checks.last().unwrap();
        assert_eq!(last.record.kind().as_str(), kind);
        assert!(last.record.passed(), "{kind}");
        assert_eq!(last.performed_by, d.vetter.member.identity().actor());
    }
    let checks = d.vetting.checks(org).await.unwrap();
    let value = serde_json::to_value(&checks[2].record).unwrap();
    assert_eq!(
        value["method"],
        json!({"channel": "telephone", "number": "03-1234-5678"})
    );
    // The approver's page no longer asks for the five (it still asks for
    // the earlier checks).
    let apage = d
        .get(&format!("/console/organizations/{org}"), &approver)
        .await
        .text();
    assert!(
        apage.contains("third-party existence check not recorded"),
        "{apage}"
    );
    for (kind, _) in ev_posts() {
        let kind: CheckKind = serde_json::from_value(json!(kind)).unwrap();
        let needed = format!("{} not recorded", kind.describe());
        assert!(page.contains(&needed), "{needed}: {page}");
        assert!(!apage.contains(&needed), "{needed}: {apage}");
    }

    // For an OV organization the kind is refused, the form or not.
    let (kind, fields) = ev_posts().remove(0);
    let r = d
        .post(
            &format!("/console/organizations/{ov}/checks/{kind}"),
            &vetter,
            &fields,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(d.vetting.checks(ov).await.unwrap().is_empty());
}

/// Registers `c` through credential (`kid`, `key`).
async fn register_with(s: &Server, c: &mut Client, kid: &str, key: &[u8]) {
    let url = c.dir("newAccount");
    let eab = c.eab(kid, key, &url);
    let r = c
        .post(
            &url,
            Some(&json!({"termsOfServiceAgreed": true, "contact": ["mailto:ops@example.jp"], "externalAccountBinding": eab})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    c.kid = r.header("location");
    let _ = s;
}

fn account_id(c: &Client) -> i64 {
    c.kid
        .as_deref()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn revoking_a_credential_names_then_deactivates_its_accounts() {
    let d = desk().await;
    let org = d.s.organization(Level::Ov, &["example.jp"]).await;
    d.approve(org).await;
    let (kid, key) = d.s.eab_for(org, false).await;
    let (other_kid, other_key) = d.s.eab_for(org, true).await;
    let (mut a, mut b, mut keep) = (
        Client::new(&d.s).await,
        Client::new(&d.s).await,
        Client::new(&d.s).await,
    );
    register_with(&d.s, &mut a, &kid, &key).await;
    register_with(&d.s, &mut b, &kid, &key).await;
    register_with(&d.s, &mut keep, &other_kid, &other_key).await;
    let path = format!("/console/organizations/{org}");
    let confirm = format!("{path}/eab/{kid}/revoke");

    // A viewer has no link and may not open the step.
    let viewer = d.login(&d.viewer).await;
    assert!(!d.get(&path, &viewer).await.text().contains(&confirm));
    assert_eq!(d.get(&confirm, &viewer).await.status, StatusCode::FORBIDDEN);

    let vetter = d.login(&d.vetter).await;
    let page = d.get(&path, &vetter).await.text();
    assert!(page.contains(&format!("href=\"{confirm}\"")), "{page}");
    // The confirmation names the accounts bound through it, no others.
    let r = d.get(&confirm, &vetter).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let step = r.text();
    let bound: Vec<String> = step
        .split("<ul id=\"bound\">")
        .nth(1)
        .unwrap()
        .split("</ul>")
        .next()
        .unwrap()
        .split("<li>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        bound,
        [
            format!("acct/{}", account_id(&a)),
            format!("acct/{}", account_id(&b))
        ]
    );
    // Another organization's path does not reach the credential.
    let stranger = d.create(example()).await;
    let r = d
        .get(
            &format!("/console/organizations/{stranger}/eab/{kid}/revoke"),
            &vetter,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // No reason: refused beside the field, nothing revoked.
    let r = d.post(&confirm, &vetter, &pairs(&[("reason", "  ")])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .contains("id=\"revoke-reason-error\">a reason is required"),
        "{}",
        r.text()
    );
    create_order_ok(&a).await;

    let r = d
        .post(
            &confirm,
            &vetter,
            &pairs(&[("reason", "key leaked in a ticket")]),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    // RFC 8555 §7.3.6: the bound accounts are refused from now on.
    a.new_order(&["a.example.jp"]).await.problem("unauthorized");
    b.new_order(&["b.example.jp"]).await.problem("unauthorized");
    create_order_ok(&keep).await;
    let revoked = d.audit("eab.revoke").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].actor, d.vetter.member.identity().actor());
    assert_eq!(revoked[0].reason.as_deref(), Some("key leaked in a ticket"));
    assert_eq!(
        revoked[0].details["accounts_deactivated"],
        json!([account_id(&a), account_id(&b)])
    );
    // The list shows it revoked, with no link; the step says so.
    let page = d.get(&path, &vetter).await.text();
    let row = page.split("<tr>").find(|r| r.contains(&kid)).unwrap();
    assert!(
        row.contains("<td class=\"eab-state\">revoked</td>") && !row.contains("href"),
        "{row}"
    );
    let step = d.get(&confirm, &vetter).await.text();
    assert!(
        step.contains("revoked already") && !step.contains("revoke-form"),
        "{step}"
    );
}

async fn create_order_ok(c: &Client) {
    let r = c.new_order(&["www.example.jp"]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

#[tokio::test]
async fn console_logins_are_audited_without_secrets() {
    let d = desk().await;
    let secret = "not-the-password-but-close";
    let code = d.code(&d.vetter);
    let r = d.try_login("vetter", secret, &code).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    d.try_login("mallory", secret, "123456").await;
    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    d.try_login("vetter", d.vetter.password.expose(), wrong_code)
        .await;
    let refused = d.audit("staff.login_refused").await;
    let seen: Vec<(String, String, String)> = refused
        .iter()
        .rev()
        .map(|e| {
            (
                e.subject.clone(),
                e.details["name"].as_str().unwrap().to_owned(),
                e.details["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let vetter = d.vetter.member.identity().actor();
    assert_eq!(
        seen,
        [
            (vetter.clone(), "vetter".into(), "wrong_password".into()),
            (
                "staff:mallory".into(),
                "mallory".into(),
                "unknown_name".into()
            ),
            (vetter.clone(), "vetter".into(), "wrong_code".into()),
        ]
    );
    for e in &refused {
        assert_eq!(e.actor, "unauthenticated");
        assert_eq!(e.details["address"], "127.0.0.1");
        let text = e.details.to_string();
        assert!(
            !text.contains(secret) && !text.contains(d.vetter.password.expose()),
            "{text}"
        );
        assert!(e.request_id.is_some());
    }
    // Locked out: three more failures make five; then even the right
    // password and code are refused as locked.
    for _ in 0..3 {
        d.try_login("vetter", secret, &code).await;
    }
    assert_eq!(d.audit("staff.locked").await.len(), 1);
    d.s.clock.advance(Duration::seconds(30));
    let r = d
        .try_login("vetter", d.vetter.password.expose(), &d.code(&d.vetter))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let last = &d.audit("staff.login_refused").await[0];
    assert_eq!(last.details["reason"], "locked");

    // A login: one `staff.login` event, as the member.
    assert!(d.audit("staff.login").await.is_empty());
    d.login(&d.approver).await;
    let logins = d.audit("staff.login").await;
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].actor, d.approver.member.identity().actor());
    assert_eq!(logins[0].details["address"], "127.0.0.1");
}

#[path = "console_notices.rs"]
mod console_notices;

/// A portal application on the organization page: its number and
/// history; the vetter asks for documents (audited, the customer told by
/// e-mail); the customer's upload is listed with a download served as an
/// attachment of its own type, nosniff; another organization's document
/// id answers 404; a viewer cannot ask for documents.
#[tokio::test]
async fn staff_ask_for_documents_and_download_them() {
    use trustgate::vetting::applications::{ApplicationForm, Customer, PortalLinks};
    let d = desk().await;
    let links = PortalLinks {
        base_url: "https://portal.example.jp".into(),
    };
    let data: OrganizationData = serde_json::from_value(example()).unwrap();
    let mut me = Customer {
        account: 1,
        email: "customer@example.co.jp".into(),
        name: "鈴木一郎".into(),
        language: trustgate::mail::Language::En,
        organization: None,
    };
    let form = ApplicationForm {
        data: data.clone(),
        validity_days: 90,
    };
    let app = d
        .vetting
        .submit_application(&me, form.clone(), "1", &links)
        .await
        .unwrap();
    me.organization = Some(app.organization);
    let other = d.create(example()).await;
    let org = app.organization;

    let vetter = d.login(&d.vetter).await;
    let page = d
        .get(&format!("/console/organizations/{org}"), &vetter)
        .await;
    let text = page.text();
    assert!(text.contains(app.number.as_str()), "{text}");
    assert!(text.contains("id=\"request-documents\""));

    let viewer = d.login(&d.viewer).await;
    let r = d
        .post(
            &format!("/console/organizations/{org}/documents"),
            &viewer,
            &pairs(&[("message", "x")]),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = d
        .post(
            &format!("/console/organizations/{org}/documents"),
            &vetter,
            &pairs(&[("message", "  ")]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = d
        .post(
            &format!("/console/organizations/{org}/documents"),
            &vetter,
            &pairs(&[("message", "Send the certificate of registry, please.")]),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(d.audit("application.documents_requested").await.len(), 1);

    let pdf = b"%PDF-1.4\n%test document\n".to_vec();
    let ids = d
        .vetting
        .upload_documents(
            &me,
            vec![("registry.pdf".into(), "application/pdf".into(), pdf.clone())],
            1 << 20,
        )
        .await
        .unwrap()
        .unwrap();
    let page = d
        .get(&format!("/console/organizations/{org}"), &vetter)
        .await
        .text();
    let href = format!("/console/organizations/{org}/documents/{}", ids[0]);
    assert!(
        page.contains(&href) && page.contains("registry.pdf"),
        "{page}"
    );
    assert!(page.contains("Send the certificate of registry, please."));
    let r = d.get(&href, &viewer).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type").as_deref(), Some("application/pdf"));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment; filename=\"registry.pdf\""));
    assert_eq!(r.body.as_ref(), pdf.as_slice());
    let r = d
        .get(
            &format!("/console/organizations/{other}/documents/{}", ids[0]),
            &viewer,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
