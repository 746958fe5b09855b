//! Customer accounts through the portal's pages: sign-up (every field
//! wrong in turn: its message beside it and nothing stored), the
//! verification link (once, not after 24 hours, not before: login is
//! refused until it is used), login (one message for a wrong address or
//! password, a per-address limit), sessions (CSRF on every POST, idle
//! and absolute timeouts, logout), the agreement in force (an old
//! acceptance sends every page to /agreement first), the language, and
//! the audit events of each step.
#![allow(clippy::unwrap_used)]

use hyper::{Method, StatusCode};
use time::Duration;

use crate::support::{encode_form, signup_form, Portal, CSP, PASSWORD};

fn assert_page_headers(r: &crate::acme::Resp) {
    assert_eq!(r.header("content-security-policy").as_deref(), Some(CSP));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
}

#[tokio::test]
async fn sign_up_verify_log_in_and_out() {
    let p = Portal::start().await;
    let b = p.browser();
    let email = "Taro@Example.co.jp";
    let page = b.get("/signup").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_page_headers(&page);
    assert!(
        page.text().contains("<html lang=\"ja\">"),
        "{}",
        page.text()
    );
    assert!(
        page.text().contains("開発用 利用規約"),
        "the agreement is shown"
    );
    let r = b.sign_up(&signup_form(email)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location").as_deref(), Some("/signup/sent"));
    // Stored lowercased, unverified, with the holder's data.
    let c = p.customer("taro@example.co.jp").await.expect("stored");
    assert!(c.verified_at.is_none());
    assert_eq!(c.holder.organization, "例示株式会社");
    assert_eq!(c.holder.postal_code, "100-0005");
    let notices = p.notices(&c).await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].recipient, "taro@example.co.jp");
    assert_eq!(notices[0].language, "ja");
    assert!(notices[0].subject.contains("メールアドレスの確認"));
    let token = p.verification_token("taro@example.co.jp").await;
    assert_eq!(token.len(), 43, "256 bits, base64url");

    // Not before the link is used, even with the right password.
    let r = b.login(email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.text().contains("メールアドレスの確認が済んでいません"),
        "{}",
        r.text()
    );
    // Opening the link changes nothing; its button does, once.
    let r = b.get(&format!("/verify?token={token}")).await;
    assert_eq!(r.status, StatusCode::OK);
    let c = p.customer("taro@example.co.jp").await.unwrap();
    assert!(c.verified_at.is_none());
    let r = b.verify(&token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("メールアドレスを確認しました"));
    let r = b.verify(&token).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "single use");
    assert!(p
        .customer("taro@example.co.jp")
        .await
        .unwrap()
        .verified_at
        .is_some());

    // One message for a wrong password and an unknown address.
    let wrong = b.login(email, "not the password at all").await;
    let unknown = b.login("nobody@example.co.jp", PASSWORD).await;
    for r in [&wrong, &unknown] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r
            .text()
            .contains("メールアドレスまたはパスワードが正しくありません"));
    }
    assert!(b.cookie("tg_portal_session").is_none());
    let r = b.login(email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location").as_deref(), Some("/"));
    let set = r.header("set-cookie").unwrap_or_default();
    let all: Vec<String> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = all
        .iter()
        .find(|c| c.starts_with("tg_portal_session="))
        .unwrap_or_else(|| panic!("no session cookie in {all:?} ({set})"));
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    let home = b.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert_page_headers(&home);
    assert!(home.text().contains("山田 太郎"), "{}", home.text());
    assert!(home.text().contains("id=\"no-application\""));

    // Logout is a POST with the session's token; then the cookie is worth nothing.
    let stolen = b.cookie("tg_portal_session").unwrap();
    let r = b.send(Method::POST, "/logout", "csrf=forged").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b.submit("/", "/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location").as_deref(), Some("/login"));
    let replay = p.browser();
    replay
        .cookies
        .lock()
        .unwrap()
        .insert("tg_portal_session".into(), stolen);
    let r = replay.get("/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location").as_deref(), Some("/login"));

    let actions: Vec<String> = p.audit_actions().await.into_iter().map(|a| a.0).collect();
    for a in [
        "customer.signup",
        "customer.verify",
        "customer.login",
        "customer.login_refused",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    let refused: Vec<serde_json::Value> = p
        .audit_actions()
        .await
        .into_iter()
        .filter(|a| a.0 == "customer.login_refused")
        .map(|a| a.2)
        .collect();
    let reasons: Vec<&str> = refused
        .iter()
        .filter_map(|d| d["reason"].as_str())
        .collect();
    for why in ["unverified", "wrong_password", "unknown_address"] {
        assert!(reasons.contains(&why), "{why} in {reasons:?}");
    }
    assert!(
        !format!("{refused:?}").contains(PASSWORD),
        "no password in the audit trail"
    );
}

/// Each field wrong in turn: 400, the message beside that field (and
/// only there), the values kept but never a password, nothing stored.
#[tokio::test]
async fn every_wrong_sign_up_field_is_named_beside_it_and_nothing_is_stored() {
    let p = Portal::start_with(|cfg| cfg.portal.signups_per_address = 100).await;
    let b = p.browser().with_header("accept-language", "en");
    let email = "hanako@example.co.jp";
    let cases: &[(&str, &str, &str, &str)] = &[
        // (field set, value, field whose message shows, message)
        (
            "email",
            "not-an-address",
            "email",
            "This is not an e-mail address",
        ),
        ("email", "", "email", "Enter a value."),
        (
            "password",
            "short",
            "password",
            "Use at least 12 characters.",
        ),
        (
            "password_again",
            "something else entirely",
            "password_again",
            "The passwords differ.",
        ),
        ("contact_name", "  ", "contact_name", "Enter a value."),
        (
            "contact_name",
            &"長".repeat(101),
            "contact_name",
            "Use at most 100 characters.",
        ),
        ("organization", "", "organization", "Enter a value."),
        (
            "department",
            "a\nb",
            "department",
            "Line breaks and control characters",
        ),
        (
            "postal_code",
            "1000005x",
            "postal_code",
            "Enter a Japanese postal code",
        ),
        (
            "postal_code",
            "10-00005",
            "postal_code",
            "Enter a Japanese postal code",
        ),
        ("address", "", "address", "Enter a value."),
        ("phone", "call me", "phone", "Enter a phone number"),
        ("phone", "12345", "phone", "Enter a phone number"),
        ("fax", "03-1234-567x", "fax", "Enter a phone number"),
        ("agree", "", "agree", "Accept the subscriber agreement"),
        (
            "agreement_version",
            "an older one",
            "agree",
            "Accept the subscriber agreement",
        ),
    ];
    for (field, value, shown, message) in cases {
        let form: Vec<(&str, String)> = signup_form(email)
            .into_iter()
            .map(|(k, v)| {
                if k == *field {
                    (k, value.to_string())
                } else {
                    (k, v)
                }
            })
            .collect();
        let r = b.sign_up(&form).await;
        let page = r.text();
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{field}={value:?}: {page}"
        );
        let beside = format!("<span class=\"field-error\" id=\"{shown}-error\">{message}");
        assert!(
            page.contains(&beside),
            "{field}={value:?}: no {beside:?} in {page}"
        );
        assert_eq!(
            page.matches("class=\"field-error\"").count(),
            1,
            "{field}={value:?}: only that field is marked"
        );
        assert!(page.contains("id=\"error\""), "the summary at the top");
        assert!(
            !page.contains(PASSWORD),
            "{field}: a password was sent back"
        );
        if *field != "contact_name" {
            assert!(page.contains("value=\"山田 太郎\""), "values are kept");
        }
        assert!(p.customer(email).await.is_none(), "{field}: stored");
        assert_eq!(p.queued_notices().await, 0, "{field}: mail written");
    }
    let audited = p.audit_actions().await;
    assert!(
        !audited.iter().any(|a| a.0.starts_with("customer.")),
        "nothing audited: {audited:?}"
    );
}

/// A form without the token its page set, or with another, changes
/// nothing; so does a session's form without the session's token.
#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let p = Portal::start().await;
    let b = p.browser();
    let form = encode_form(&signup_form("jiro@example.co.jp"));
    let r = b
        .send(Method::POST, "/signup", &format!("csrf=x&{form}"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    b.get("/signup").await;
    assert!(b.cookie("tg_portal_form").is_some());
    let r = b
        .send(Method::POST, "/signup", &format!("csrf=x&{form}"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("確認トークンが無効です"));
    assert!(p.customer("jiro@example.co.jp").await.is_none());
    let r = b
        .send(Method::POST, "/login", "csrf=x&email=a%40b.jp&password=x")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let s = p.customer_session("saburo@example.co.jp").await;
    let r = s
        .send(Method::POST, "/agreement", "version=development")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s.send(Method::POST, "/logout", "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(s.get("/").await.status, StatusCode::OK, "still signed in");
}

/// The session ends 30 minutes after the last request, and 12 hours after
/// login however busy; the link 24 hours after sign-up.
#[tokio::test]
async fn sessions_and_links_expire() {
    let p = Portal::start().await;
    let s = p.customer_session("shiro@example.co.jp").await;
    p.clock.advance(Duration::minutes(31));
    let r = s.get("/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location").as_deref(), Some("/login"));
    let r = s.login("shiro@example.co.jp", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    for _ in 0..28 {
        p.clock.advance(Duration::minutes(25));
        assert_eq!(s.get("/").await.status, StatusCode::OK);
    }
    p.clock.advance(Duration::minutes(25));
    let r = s.get("/agreement").await;
    assert_eq!(r.status, StatusCode::OK, "a public page");
    assert!(!r.text().contains("id=\"me\""), "but no longer signed in");
    let r = s.get("/").await;
    assert_eq!(r.header("location").as_deref(), Some("/login"));

    // A link unused for 24 hours is dead, and the address free again.
    let b = p.browser();
    let email = "goro@example.co.jp";
    assert_eq!(
        b.sign_up(&signup_form(email)).await.status,
        StatusCode::SEE_OTHER
    );
    let old = p.verification_token(email).await;
    p.clock.advance(Duration::hours(24));
    assert_eq!(b.verify(&old).await.status, StatusCode::BAD_REQUEST);
    let mut again = signup_form(email);
    again.retain(|(k, _)| *k != "contact_name");
    again.push(("contact_name", "五郎".into()));
    assert_eq!(b.sign_up(&again).await.status, StatusCode::SEE_OTHER);
    let c = p.customer(email).await.unwrap();
    assert_eq!(c.holder.contact_name, "五郎");
    let new = p.verification_token(email).await;
    assert_ne!(new, old);
    assert_eq!(b.verify(&new).await.status, StatusCode::OK);
    // A verified address is not taken over: same answer, nothing changes.
    assert_eq!(
        b.sign_up(&signup_form(email)).await.status,
        StatusCode::SEE_OTHER
    );
    let same = p.customer(email).await.unwrap();
    assert_eq!(same.holder.contact_name, "五郎");
    assert_eq!(
        p.notices(&same).await.len(),
        2,
        "no mail for a taken address"
    );
}

/// 3 attempts per address in the window; the fourth is refused even with
/// the right password, and allowed again after the window.
#[tokio::test]
async fn logins_and_sign_ups_are_limited_per_address() {
    let p = Portal::start_with(|cfg| {
        cfg.portal.logins_per_address = 3;
        cfg.portal.signups_per_address = 1;
        cfg.portal.limit_window_minutes = 10;
    })
    .await;
    let s = p.customer_session("rokuro@example.co.jp").await;
    let b = p.browser();
    let r = b.sign_up(&signup_form("nanako@example.co.jp")).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the first sign-up counted"
    );
    assert!(p.customer("nanako@example.co.jp").await.is_none());
    for _ in 0..2 {
        let r = s.login("rokuro@example.co.jp", "wrong password here").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = s.login("rokuro@example.co.jp", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().contains("試行回数が多すぎます"));
    p.clock.advance(Duration::minutes(10));
    let r = s.login("rokuro@example.co.jp", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

/// A customer whose newest acceptance is of another version sees the
/// agreement before any page, accepts it, and is sent back.
#[tokio::test]
async fn an_old_acceptance_sends_every_page_to_the_agreement_first() {
    let p = Portal::start().await;
    let s = p.customer_session("hachiro@example.co.jp").await;
    let c = p.customer("hachiro@example.co.jp").await.unwrap();
    assert_eq!(
        p.vetting.accepted_agreement(c.id).await.unwrap().as_deref(),
        Some("development"),
        "accepted at sign-up"
    );
    p.vetting
        .accept_agreement(c.id, "2025-01", None)
        .await
        .unwrap();
    let r = s.get("/?x=1").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/agreement?return=%2F%3Fx%3D1")
    );
    let page = s.get("/agreement?return=%2F%3Fx%3D1").await.text();
    assert!(page.contains("id=\"accept-again\""), "{page}");
    assert!(page.contains("id=\"accepted-version\">2025-01<"));
    let r = s
        .submit(
            "/agreement?return=%2F%3Fx%3D1",
            "/agreement",
            &[
                ("version", "development".into()),
                ("return", "/?x=1".into()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location").as_deref(), Some("/?x=1"));
    assert_eq!(s.get("/").await.status, StatusCode::OK);
    let accepted = p
        .audit_actions()
        .await
        .into_iter()
        .find(|a| a.0 == "agreement.accept")
        .expect("audited");
    assert_eq!(accepted.2["version"], "development");
    assert_eq!(accepted.2["address"], "127.0.0.1");
}

/// English by Accept-Language; the switch sets a cookie and, signed in,
/// the account's language (which its mail follows).
#[tokio::test]
async fn the_language_follows_the_browser_then_the_switch() {
    let p = Portal::start().await;
    let b = p.browser().with_header("accept-language", "en-US,en;q=0.9");
    let page = b.get("/signup").await.text();
    assert!(page.contains("<html lang=\"en\">") && page.contains("Create account"));
    let mut form = signup_form("kuro@example.co.jp");
    form.retain(|(k, _)| *k != "email");
    form.push(("email", "kuro@example.co.jp".into()));
    assert_eq!(b.sign_up(&form).await.status, StatusCode::SEE_OTHER);
    let c = p.customer("kuro@example.co.jp").await.unwrap();
    let n = &p.notices(&c).await[0];
    assert_eq!(n.language, "en");
    assert!(n.subject.starts_with("[Confirm your e-mail address]"));
    let r = b.get("/lang?to=ja&return=%2Fsignup").await;
    assert_eq!(r.header("location").as_deref(), Some("/signup"));
    assert_eq!(b.cookie("tg_portal_lang").as_deref(), Some("ja"));
    assert!(b.get("/signup").await.text().contains("<html lang=\"ja\">"));
    // Never off the site.
    let r = b.get("/lang?to=en&return=%2F%2Fevil.example%2F").await;
    assert_eq!(r.header("location").as_deref(), Some("/"));

    let token = p.verification_token("kuro@example.co.jp").await;
    b.verify(&token).await;
    b.login("kuro@example.co.jp", PASSWORD).await;
    b.get("/lang?to=ja&return=%2F").await;
    let c = p.customer("kuro@example.co.jp").await.unwrap();
    assert_eq!(c.language.code(), "ja");
}

/// Unknown pages are 404 pages; a body over the limit is refused unread.
#[tokio::test]
async fn unknown_pages_and_oversized_forms_are_refused() {
    let p = Portal::start().await;
    let b = p.browser();
    let r = b.get("/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_page_headers(&r);
    assert!(r.text().contains("ページが見つかりません"));
    let big = format!("csrf=x&email={}", "a".repeat(100 * 1024));
    let r = b.send(Method::POST, "/signup", &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let css = b.get("/static/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(
        css.header("content-type").as_deref(),
        Some("text/css; charset=utf-8")
    );
}
