//! Applications in the portal over HTTP: the form, its confirmation and
//! number, every wrong field named beside it with nothing stored, another
//! customer's application and documents answering 404, the documents
//! upload (type by signature and declaration, size), the status and the
//! renewal.
#![allow(clippy::unwrap_used)]

use diesel::prelude::*;
use hyper::{Method, Request, StatusCode};
use serde_json::Value;
use time::Duration;
use trustgate::core::OrganizationId;
use trustgate::sa::schema::{application_documents, applications, organizations};
use trustgate::vetting::applications::PortalLinks;
use trustgate::vetting::checks::{CheckRecord, Transition};

use crate::acme::Resp;
use crate::support::{encode_form, hidden, Browser, Portal};

/// The example organization as the application form posts it: JSON paths,
/// domains a line each, the validity wanted, another party billed.
fn valid_form() -> Vec<(String, String)> {
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
    let mut d: Value =
        serde_json::from_str(include_str!("../../conf/organization.example.json")).unwrap();
    d["billing_contact"]["party"] = "other".into();
    let domains = d["domains"].take();
    d.as_object_mut().unwrap().remove("domains");
    let mut out = Vec::new();
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
    out.push(("validity_days".into(), "90".into()));
    out
}

fn with(form: &[(String, String)], changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = form
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .cloned()
        .collect();
    f.extend(
        changes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    f
}

async fn post(b: &Browser<'_>, page: &str, action: &str, form: &[(String, String)]) -> Resp {
    let fields: Vec<(&str, String)> = form.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    b.submit(page, action, &fields).await
}

async fn rows(p: &Portal) -> (i64, i64) {
    p.store
        .read(|c| {
            Ok((
                organizations::table.count().get_result(c)?,
                applications::table.count().get_result(c)?,
            ))
        })
        .await
        .unwrap()
}

/// Applies with the valid form; returns the application number.
async fn apply(b: &Browser<'_>) -> String {
    let r = post(b, "/application/new", "/application/new", &valid_form()).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let to = r.header("location").unwrap();
    let number = to
        .strip_prefix("/application/")
        .and_then(|r| r.strip_suffix("/confirmation"))
        .unwrap_or_else(|| panic!("{to}"))
        .to_owned();
    number
}

fn links(p: &Portal) -> PortalLinks {
    PortalLinks {
        base_url: p.base.clone(),
    }
}

async fn org_of(p: &Portal, email: &str) -> OrganizationId {
    p.customer(email).await.unwrap().organization.unwrap()
}

#[tokio::test]
async fn an_application_gets_its_number_and_printable_confirmation() {
    let p = Portal::start().await;
    let b = p.customer_session("apply@example.co.jp").await;
    let page = b.get("/application/new").await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    assert!(
        text.contains("value=\"山田 太郎\""),
        "the account contact from the holder"
    );
    assert!(text.contains("id=\"application-legal_name\""));

    let number = apply(&b).await;
    assert!(
        number.starts_with("A-") && number.ends_with("-000001"),
        "{number}"
    );
    let conf = b.get(&format!("/application/{number}/confirmation")).await;
    assert_eq!(conf.status, StatusCode::OK);
    let text = conf.text();
    for fact in [
        number.as_str(),
        "例示株式会社",
        "180301018771",
        "example.co.jp",
        "お申込確認書",
    ] {
        assert!(text.contains(fact), "{fact} missing");
    }
    let org = org_of(&p, "apply@example.co.jp").await;
    let o = p.vetting.get(org).await.unwrap();
    assert_eq!(o.created_by, "customer:apply@example.co.jp");
    assert_eq!(o.status.as_str(), "pending");

    let status = b.get("/status").await.text();
    assert!(status.contains("data-state=\"received\""), "{status}");
    assert!(status.contains(&number));
    let home = b.get("/").await.text();
    assert!(
        home.contains("data-state=\"received\""),
        "the home page's summary"
    );
    // Applied: the form sends to the status.
    let r = b.get("/application/new").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let received: Vec<String> = p
        .store
        .read(|c| {
            use trustgate::sa::schema::outbox;
            Ok(outbox::table
                .filter(outbox::kind.eq("application.received"))
                .select(outbox::body)
                .load(c)?)
        })
        .await
        .unwrap();
    assert_eq!(received.len(), 1);
    assert!(received[0].contains(&format!("/application/{number}/confirmation")));
}

/// Each field set wrong on its own: 400, the problem beside that field
/// (its error element, and aria-invalid on the input), and nothing
/// stored.
#[tokio::test]
async fn every_wrong_field_is_named_beside_it_and_nothing_is_stored() {
    let p = Portal::start().await;
    let b = p.customer_session("wrong@example.co.jp").await;
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("legal_name", &[("legal_name", "")]),
        (
            "use_english_name",
            &[("use_english_name", "on"), ("english_name", "")],
        ),
        ("tdb_code", &[("tdb_code", "12")]),
        ("registration_number", &[("registration_number", "123")]),
        ("corporate_number", &[("corporate_number", "2180301018771")]),
        ("head_office.country", &[("head_office.country", "Japan")]),
        ("head_office.prefecture", &[("head_office.prefecture", "")]),
        ("head_office.locality", &[("head_office.locality", "")]),
        (
            "head_office.postal_code",
            &[("head_office.postal_code", "12")],
        ),
        ("head_office.street", &[("head_office.street", "")]),
        ("office.country", &[("office.country", "jp")]),
        ("office.prefecture", &[("office.prefecture", "")]),
        ("office.locality", &[("office.locality", "")]),
        ("office.postal_code", &[("office.postal_code", "1000005x")]),
        ("office.street", &[("office.street", "")]),
        ("representative.name", &[("representative.name", "")]),
        ("representative.title", &[("representative.title", "")]),
        ("applicant.name", &[("applicant.name", "")]),
        ("applicant.department", &[("applicant.department", "")]),
        ("applicant.title", &[("applicant.title", "")]),
        ("applicant.phone", &[("applicant.phone", "")]),
        ("applicant.email", &[("applicant.email", "not an address")]),
        ("account_contact.name", &[("account_contact.name", "")]),
        ("account_contact.phone", &[("account_contact.phone", "")]),
        ("account_contact.email", &[("account_contact.email", "@")]),
        ("billing_contact.name", &[("billing_contact.name", "")]),
        (
            "billing_contact.address",
            &[("billing_contact.address", "")],
        ),
        (
            "ev.jurisdiction_country",
            &[
                ("level", "ev"),
                ("ev.business_category", "Private Organization"),
                ("ev.jurisdiction_country", "japan"),
            ],
        ),
        ("domains", &[("domains", "co.jp")]),
        ("domains_exact", &[("domains_exact", "NAS.example.co.jp")]),
        ("validity_days", &[("validity_days", "500")]),
        ("validity_days", &[("validity_days", "ninety")]),
    ];
    for (field, changes) in cases {
        let form = with(&valid_form(), changes);
        let r = post(&b, "/application/new", "/application/new", &form).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.text());
        let text = r.text();
        let id = format!("application-{}", field.replace('.', "-"));
        assert!(
            text.contains(&format!("id=\"{id}-error\"")),
            "{field}: no message beside it in\n{}",
            text.split("<form").nth(1).unwrap_or(&text)
        );
        assert!(
            text.contains(&format!("aria-describedby=\"{id}-error\"")),
            "{field}"
        );
        let message = message_of(&text, &id);
        assert!(
            message.chars().any(is_japanese) && !message.contains(field),
            "{field}: the message is in Japanese on a Japanese page: {message}"
        );
        assert_eq!(rows(&p).await, (0, 0), "{field}: nothing stored");
    }
    // The form comes back as posted.
    let r = post(
        &b,
        "/application/new",
        "/application/new",
        &with(&valid_form(), &[("tdb_code", "12")]),
    )
    .await;
    assert!(r.text().contains("value=\"12\""));
}

/// The text of the message beside input `id`.
fn message_of(page: &str, id: &str) -> String {
    let start = page
        .find(&format!("id=\"{id}-error\""))
        .unwrap_or_else(|| panic!("no message for {id}"));
    let rest = &page[start..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest[open..].find("</").unwrap();
    rest[open..open + close].trim().to_owned()
}

fn is_japanese(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}')
}

/// An English page gives the same problems in English, naming the field.
#[tokio::test]
async fn an_english_page_names_the_problem_in_english() {
    let p = Portal::start().await;
    let b = p.customer_session("en@example.co.jp").await;
    b.get("/lang?to=en&return=/application/new").await;
    let form = with(&valid_form(), &[("corporate_number", "2180301018771")]);
    let r = post(&b, "/application/new", "/application/new", &form).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let message = message_of(&r.text(), "application-corporate_number");
    assert!(
        message.contains("check digit 2 but its digits give 1"),
        "{message}"
    );
}

/// Another customer's application, confirmation and documents are not
/// found; their own are.
#[tokio::test]
async fn another_customers_application_and_documents_answer_404() {
    let p = Portal::start().await;
    let a = p.customer_session("a@example.co.jp").await;
    let b = p.customer_session("b@example.co.jp").await;
    let mine = apply(&a).await;
    let theirs = apply(&b).await;
    assert_ne!(mine, theirs);
    for path in [
        format!("/application/{theirs}"),
        format!("/application/{theirs}/confirmation"),
        "/application/A-2099-000001".to_owned(),
        "/application/..%2F1".to_owned(),
    ] {
        assert_eq!(a.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        a.get(&format!("/application/{mine}")).await.status,
        StatusCode::OK
    );

    let org_b = org_of(&p, "b@example.co.jp").await;
    p.vetting
        .request_documents(
            "staff:alice#1",
            org_b,
            "登記事項証明書をお送りください",
            &links(&p),
            1 << 20,
        )
        .await
        .unwrap();
    let r = upload(
        &b,
        &[(
            "registry.pdf",
            "application/pdf",
            b"%PDF-1.4 b's document".to_vec(),
        )],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let page = a.get("/documents").await.text();
    assert!(
        !page.contains("registry.pdf"),
        "a sees none of b's documents"
    );
    assert!(
        !page.contains("登記事項証明書をお送りください"),
        "nor b's request"
    );
    assert!(b.get("/documents").await.text().contains("registry.pdf"));
    // Without an organization there is no status to scope by.
    let c = p.customer_session("c@example.co.jp").await;
    assert_eq!(c.get("/documents").await.status, StatusCode::NOT_FOUND);
}

/// A multipart upload as a browser sends it, with the page's CSRF token.
async fn upload(b: &Browser<'_>, files: &[(&str, &str, Vec<u8>)]) -> Resp {
    let page = b.get("/documents").await;
    let csrf = hidden(&page.text(), "csrf");
    let boundary = "----trustgateTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n")
            .as_bytes(),
    );
    for (name, ty, data) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {ty}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("{}/documents", b.portal.base))
        .header("cookie", b.cookie_header())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        );
    crate::acme::exchange(&b.portal.http, req, body).await
}

async fn documents_stored(p: &Portal) -> i64 {
    p.store
        .read(|c| Ok(application_documents::table.count().get_result(c)?))
        .await
        .unwrap()
}

/// HTML renamed .pdf, SVG declared as itself or as PNG, a file over the
/// limit and a body over the route's limit are refused, nothing stored;
/// a PDF is taken and the status moves on.
#[tokio::test]
async fn uploads_are_checked_by_type_and_size() {
    let p = Portal::start_with(|c| c.portal.documents_max_bytes = 64 * 1024).await;
    let b = p.customer_session("docs@example.co.jp").await;
    apply(&b).await;
    let r = upload(&b, &[("a.pdf", "application/pdf", b"%PDF-1.4".to_vec())]).await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "nothing was requested yet"
    );
    let org = org_of(&p, "docs@example.co.jp").await;
    p.vetting
        .request_documents(
            "staff:alice#1",
            org,
            "Please send the registry.",
            &links(&p),
            64 * 1024,
        )
        .await
        .unwrap();
    let status = b.get("/status").await.text();
    assert!(
        status.contains("data-state=\"documents_requested\"")
            && status.contains("Please send the registry.")
    );

    let html = b"<!doctype html><script>alert(1)</script>".to_vec();
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec();
    for (what, files) in [
        (
            "html renamed pdf",
            vec![("page.pdf", "application/pdf", html.clone())],
        ),
        (
            "svg as svg",
            vec![("logo.svg", "image/svg+xml", svg.clone())],
        ),
        ("svg as png", vec![("logo.png", "image/png", svg.clone())]),
        ("empty", vec![("a.pdf", "application/pdf", Vec::new())]),
        (
            "one good, one bad",
            vec![
                ("ok.pdf", "application/pdf", b"%PDF-1.4 ok".to_vec()),
                ("page.pdf", "application/pdf", html.clone()),
            ],
        ),
    ] {
        let r = upload(&b, &files).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text());
        assert!(r.text().contains("id=\"files-error\""), "{what}");
        assert_eq!(documents_stored(&p).await, 0, "{what}");
    }
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(64 * 1024 + 1, b'x');
    let r = upload(&b, &[("big.pdf", "application/pdf", big)]).await;
    assert!(
        matches!(
            r.status,
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE
        ),
        "{}",
        r.status
    );
    let mut huge = b"%PDF-1.4\n".to_vec();
    huge.resize(200 * 1024, b'x');
    let r = upload(&b, &[("huge.pdf", "application/pdf", huge)]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(documents_stored(&p).await, 0);
    // The other routes keep the small limit.
    let r = b
        .send(Method::POST, "/application/new", &"x=".repeat(40 * 1024))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

    let r = upload(
        &b,
        &[("登記.pdf", "application/pdf", b"%PDF-1.4 registry".to_vec())],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(documents_stored(&p).await, 1);
    let page = b.get("/documents?uploaded=1").await.text();
    assert!(page.contains("登記.pdf") && page.contains("id=\"uploaded\""));
    assert!(b
        .get("/status")
        .await
        .text()
        .contains("data-state=\"in_progress\""));
}

/// Approved, then near the vetting's end: `/renew` shows the record;
/// sent unchanged it is a renewal application, the approval standing.
#[tokio::test]
async fn the_application_is_renewed_near_the_end() {
    let p = Portal::start().await;
    let b = p.customer_session("renew@example.co.jp").await;
    apply(&b).await;
    let org = org_of(&p, "renew@example.co.jp").await;
    assert!(b.get("/renew").await.text().contains("30"), "not yet");
    for json in [
        include_str!("../../conf/checks/existence.json"),
        include_str!("../../conf/checks/phone_intent.json"),
        include_str!("../../conf/checks/domain_scope.json"),
    ] {
        let r: CheckRecord = serde_json::from_str(json).unwrap();
        p.vetting
            .record_check("staff:alice#1", org, r, None)
            .await
            .unwrap();
    }
    p.vetting
        .transition("staff:bob#2", org, Transition::Approve, None)
        .await
        .unwrap();
    assert!(b
        .get("/status")
        .await
        .text()
        .contains("data-state=\"approved\""));
    p.clock.advance(Duration::days(398 - 10));
    // The session has long ended.
    let r = b
        .login("renew@example.co.jp", crate::support::PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let status = b.get("/status").await.text();
    assert!(status.contains("data-state=\"expiring\"") && status.contains("href=\"/renew\""));
    let page = b.get("/renew").await;
    let text = page.text();
    assert!(
        text.contains("value=\"例示株式会社\""),
        "the record as it stands"
    );
    let csrf = hidden(&text, "csrf");
    let mut fields = vec![("csrf".to_owned(), csrf)];
    fields.extend(form_values(&text));
    let pairs: Vec<(&str, String)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let r = b.send(Method::POST, "/renew", &encode_form(&pairs)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let apps = p.vetting.applications(org).await.unwrap();
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0].0.kind.as_str(), "renewal");
    assert_eq!(
        p.vetting.get(org).await.unwrap().status.as_str(),
        "approved"
    );
    assert!(b
        .get("/status")
        .await
        .text()
        .contains("data-state=\"received\""));
}

/// The inputs, selects and textareas of a page's form with their values,
/// as a browser would send them (selected options, checked boxes).
fn form_values(page: &str) -> Vec<(String, String)> {
    let form = page
        .split("<form method=\"post\" action=\"/renew\"")
        .nth(1)
        .unwrap();
    let form = form.split("</form>").next().unwrap();
    let attr = |tag: &str, name: &str| -> Option<String> {
        let m = format!("{name}=\"");
        let s = tag.find(&m)? + m.len();
        Some(html_unescape(tag[s..].split('"').next()?))
    };
    let mut out = Vec::new();
    for piece in form.split('<').skip(1) {
        let tag = piece.split('>').next().unwrap_or_default();
        if tag.starts_with("input ") {
            let Some(name) = attr(tag, "name") else {
                continue;
            };
            if name == "csrf" {
                continue;
            }
            if tag.contains("type=\"checkbox\"") {
                if tag.contains(" checked") {
                    out.push((name, "on".into()));
                }
            } else {
                out.push((name, attr(tag, "value").unwrap_or_default()));
            }
        } else if tag.starts_with("textarea ") {
            let name = attr(tag, "name").unwrap();
            let text = piece.split_once('>').unwrap().1;
            out.push((name, html_unescape(text)));
        } else if tag.starts_with("select ") {
            let name = attr(tag, "name").unwrap();
            let select = &form[form.find(tag).unwrap()..];
            let select = select.split("</select>").next().unwrap();
            let chosen = select
                .split("<option ")
                .find(|o| o.contains(" selected"))
                .and_then(|o| attr(o, "value"))
                .unwrap_or_default();
            out.push((name, chosen));
        }
    }
    out
}

fn html_unescape(s: &str) -> String {
    s.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
