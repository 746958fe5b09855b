//! The console's audit log and health pages, over HTTP in process on the
//! `console` fixture (a child module, to share its desk): each filter
//! narrows the log (rows of the filter in, others out), the keyset pages
//! neither overlap nor skip, the CSV export (header, RFC 4180 quoting,
//! formulas defused), the health page's readiness, CRL shards and queue
//! counts, a viewer reads both, no session goes to login (on SQLite and,
//! with TEST_DATABASE_URL, PostgreSQL).

use std::collections::HashSet;

use hyper::{Method, StatusCode};
use time::Duration;
use trustgate::sa::audit::{self, NewEvent};

use super::{desk, enc, Desk};

/// The log's table as (id, actor, action, organization cell) per row.
fn rows(page: &str) -> Vec<(i64, String, String, String)> {
    page.split("<tr id=\"event-")
        .skip(1)
        .map(|r| {
            let r = r.split("</tr>").next().unwrap();
            let id: i64 = r.split('"').next().unwrap().parse().unwrap();
            let cells: Vec<&str> = r
                .split("<td>")
                .skip(1)
                .map(|c| c.split("</td>").next().unwrap())
                .collect();
            (
                id,
                cells[2].to_owned(),
                cells[3].to_owned(),
                cells[4].to_owned(),
            )
        })
        .collect()
}

/// The log's times (column "when"), as shown.
fn times(page: &str) -> Vec<String> {
    page.split("<tr id=\"event-")
        .skip(1)
        .map(|r| {
            r.split("<td>")
                .nth(2)
                .unwrap()
                .split("</td>")
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// `href` of the link with `id`.
fn link(page: &str, id: &str) -> Option<String> {
    let at = page.find(&format!("id=\"{id}\""))?;
    let start = page[..at].rfind("href=\"")? + 6;
    Some(page[start..].split('"').next()?.replace("&#38;", "&"))
}

/// RFC 4180 records: quoted fields may hold commas, quotes and line
/// breaks; records end with CRLF.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut records, mut record, mut cell) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut cell)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "a bare CR");
                record.push(std::mem::take(&mut cell));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(cell.is_empty() && record.is_empty(), "no CRLF at the end");
    records
}

impl Desk {
    /// Appends an event as the CA's code would.
    async fn event(&self, actor: &str, action: &str, subject: &str, reason: Option<&str>) {
        let (actor, action, subject) = (actor.to_owned(), action.to_owned(), subject.to_owned());
        let reason = reason.map(str::to_owned);
        let now = self.clock.now();
        self.vetting
            .store()
            .write(move |c| {
                audit::append(
                    c,
                    NewEvent {
                        actor: &actor,
                        action: &action,
                        organization: None,
                        subject,
                        reason: reason.as_deref(),
                        details: serde_json::json!({"step": 1, "nested": {"k": ["v"]}}),
                        request_id: None,
                    },
                    now,
                )
            })
            .await
            .unwrap();
    }

    /// Waits for the CRL generator's first run (it starts with the
    /// server); the CRLs as stored.
    async fn crls_published(&self) -> Vec<trustgate::sa::health::CrlSummary> {
        for _ in 0..200 {
            let crls = self
                .vetting
                .store()
                .read(trustgate::sa::health::crls)
                .await
                .unwrap();
            if crls.len() >= 16 {
                return crls;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the CRLs were not published");
    }
}

#[tokio::test]
async fn console_audit_log_filters_pages_and_exports() {
    let d = desk().await;
    d.crls_published().await;
    let vetter_actor = d.vetter.member.identity().actor();

    // Two organizations two days apart; the first gets the vetter's checks.
    let a = d.org().await;
    d.record_checks(&d.vetter, a).await;
    d.clock.advance(Duration::days(2));
    let b = d.org().await;
    let day_b = d
        .clock
        .now()
        .format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap();
    // (After the clock's jump: a session lasts an hour.)
    let viewer = d.login(&d.viewer).await;

    let get = |q: String| {
        let viewer = viewer.clone();
        let d = &d;
        async move {
            let r = d.get(&format!("/console/audit{q}"), &viewer).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
            r.text()
        }
    };

    // Unfiltered: newest first, every kind, the time zone said.
    let all = get(String::new()).await;
    assert!(all.contains("id=\"tz\""), "{all}");
    let everything = rows(&all);
    let when = times(&all);
    assert!(
        when.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {when:?}"
    );
    assert!(when[0] > when[when.len() - 1], "{when:?}");
    let actions: HashSet<&str> = everything.iter().map(|r| r.2.as_str()).collect();
    for want in ["organization.create", "check.record", "crl.publish"] {
        assert!(actions.contains(want), "{want} in {actions:?}");
        // The action select offers what the log holds.
        assert!(all.contains(&format!("<option value=\"{want}\"")), "{want}");
    }

    // By action.
    let only = rows(&get("?action=check.record".into()).await);
    assert_eq!(only.len(), 3, "{only:?}");
    assert!(only.iter().all(|r| r.2 == "check.record"));

    // By actor: a staff member's name, the CA itself.
    let by_vetter = rows(&get("?actor=vetter".into()).await);
    assert!(
        by_vetter.iter().all(|r| r.1 == vetter_actor),
        "{by_vetter:?}"
    );
    assert!(by_vetter.iter().any(|r| r.2 == "check.record"));
    assert!(everything.iter().any(|r| r.1 == "staff:someone#99"));
    let by_system = rows(&get("?actor=system".into()).await);
    assert!(by_system.len() >= 16, "{by_system:?}");
    assert!(by_system
        .iter()
        .all(|r| r.1 == "system" && r.2 == "crl.publish"));

    // By organization: its name links to its page; the other's rows are out.
    let org_a = get(format!("?organization={a}")).await;
    let in_a = rows(&org_a);
    assert_eq!(in_a.len(), 4, "created + three checks: {in_a:?}");
    assert!(in_a.iter().all(|r| r
        .3
        .starts_with(&format!("<a href=\"/console/organizations/{a}\">"))));
    assert!(!org_a.contains(&format!("/console/organizations/{b}\"")));

    // By dates (UTC days, the last one included).
    let from_b = rows(&get(format!("?from={day_b}")).await);
    assert!(from_b
        .iter()
        .any(|r| r.3.contains(&format!("/organizations/{b}\""))));
    assert!(!from_b
        .iter()
        .any(|r| r.3.contains(&format!("/organizations/{a}\""))));
    let day_before = (d.clock.now() - Duration::days(1))
        .format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap();
    let until_a = rows(&get(format!("?to={day_before}&organization={a}")).await);
    assert_eq!(until_a.len(), 4);
    let until_b = rows(&get(format!("?to={day_before}&organization={b}")).await);
    assert!(until_b.is_empty(), "{until_b:?}");

    // Wrong input is refused beside its field.
    for (q, field) in [
        ("?from=2026-13-40", "from-error"),
        ("?to=yesterday", "to-error"),
        ("?actor=nobody-of-that-name", "actor-error"),
        ("?organization=abc", "organization-error"),
        ("?from=2027-02-02&to=2027-02-01", "to-error"),
    ] {
        let r = d.get(&format!("/console/audit{q}"), &viewer).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(r.text().contains(&format!("id=\"{field}\"")), "{q}");
    }

    // Keyset pages: 100, then the rest, no overlap, nothing skipped.
    for i in 0..150 {
        d.event("system", "console.test", &format!("item:{i}"), None)
            .await;
    }
    let first = get("?action=console.test".into()).await;
    let page1 = rows(&first);
    assert_eq!(page1.len(), 100);
    let next = link(&first, "next").expect("a next page");
    assert!(
        next.starts_with("/console/audit?action=console%2Etest&before="),
        "{next}"
    );
    let second = d.get(&next, &viewer).await.text();
    let page2 = rows(&second);
    assert_eq!(page2.len(), 50);
    assert!(link(&second, "next").is_none());
    assert!(link(&second, "newest").is_some());
    let min1 = page1.iter().map(|r| r.0).min().unwrap();
    assert!(page2.iter().all(|r| r.0 < min1), "no overlap");
    let ids: HashSet<i64> = page1.iter().chain(&page2).map(|r| r.0).collect();
    assert_eq!(ids.len(), 150);

    // Details read as key and value; nested JSON is indented.
    assert!(first.contains("<dt>step</dt><dd>1</dd>"), "{first}");
    assert!(
        first.contains("<dt>nested</dt><dd><pre>{\n  &#34;k&#34;: ["),
        "{first}"
    );

    // The CSV: a header, every row, quoting, formulas defused.
    d.event(
        "staff:mallory#7",
        "console.csv",
        "=HYPERLINK(\"http://evil.example\")",
        Some("a, \"quoted\"\nreason"),
    )
    .await;
    d.event("system", "console.csv", "-2+3", Some("@SUM(A1)"))
        .await;
    let r = d
        .get("/console/audit.csv?action=console.csv", &viewer)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    let disposition = r.header("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"trustgate-audit-"),
        "{disposition}"
    );
    let text = r.text();
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
        "{text}"
    );
    let csv = parse_csv(&text);
    assert_eq!(
        csv[0],
        [
            "id",
            "at",
            "actor",
            "action",
            "organization_id",
            "organization",
            "subject",
            "reason",
            "request_id",
            "details"
        ]
    );
    assert_eq!(csv.len(), 3, "{csv:?}");
    // Oldest first.
    assert_eq!(csv[1][2], "staff:mallory#7");
    assert_eq!(csv[1][6], "'=HYPERLINK(\"http://evil.example\")");
    assert_eq!(csv[1][7], "a, \"quoted\"\nreason");
    assert_eq!(csv[2][6], "'-2+3");
    assert_eq!(csv[2][7], "'@SUM(A1)");
    let details: serde_json::Value = serde_json::from_str(&csv[2][9]).unwrap();
    assert_eq!(details["step"], 1);
    // The export keeps the page's filters; a bad one is refused as there.
    let r = d.get("/console/audit.csv?from=nope", &viewer).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let page = get("?action=console.csv&actor=system".into()).await;
    assert_eq!(
        link(&page, "export").as_deref(),
        Some("/console/audit.csv?actor=system&action=console%2Ecsv")
    );
}

#[tokio::test]
async fn console_audit_health_shows_readiness_crls_and_queues() {
    let d = desk().await;
    let crls = d.crls_published().await;
    let viewer = std::sync::Mutex::new(d.login(&d.viewer).await);
    let health = || async {
        let session = viewer.lock().unwrap().clone();
        let r = d.get("/console/health", &session).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.text()
    };
    let count = |page: &str, id: &str| -> i64 {
        let marker = format!("id=\"{id}\">");
        page.split(&marker)
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };

    let page = health().await;
    assert!(page.contains("class=\"state ok\" id=\"ready\""), "{page}");
    assert!(
        page.contains("<tr class=\"ok\" id=\"check-database\">"),
        "{page}"
    );
    assert!(page.contains("<tr class=\"ok\" id=\"check-ca\">"), "{page}");
    assert!(page.contains(&format!("id=\"version\">{}<", env!("CARGO_PKG_VERSION"))));
    // Every configured shard, with its number and times.
    assert_eq!(crls.len(), 16);
    for crl in &crls {
        let (shard, number) = (crl.shard, crl.number);
        let row = page
            .split(&format!("id=\"crl-{shard}\">"))
            .nth(1)
            .unwrap_or_else(|| panic!("shard {shard} in {page}"))
            .split("</tr>")
            .next()
            .unwrap();
        assert!(
            row.starts_with(&format!("<td>{shard}</td><td>{number}</td>")),
            "{row}"
        );
    }
    assert!(page.contains("<tr class=\"ok\" id=\"crl-0\">"), "{page}");

    // A new organization is one more pending.
    let pending = count(&page, "pending-organizations");
    assert_eq!(count(&page, "processing-orders"), 0);
    d.org().await;
    let page = health().await;
    assert_eq!(count(&page, "pending-organizations"), pending + 1);

    // Past nextUpdate (seven days), a CRL is flagged in words and class,
    // unless the generator's next run already replaced it.
    d.clock.advance(Duration::days(8));
    *viewer.lock().unwrap() = d.login(&d.viewer).await;
    let page = health().await;
    let row = page.split("id=\"crl-0\">").nth(1).unwrap();
    if row.starts_with(&format!("<td>0</td><td>{}</td>", crls[0].number)) {
        assert!(page.contains("<tr class=\"bad\" id=\"crl-0\">"), "{page}");
        // (No Accept-Language: the page is in Japanese.)
        let row = row.split("</tr>").next().unwrap();
        assert!(row.contains("<strong>期限切れ"), "{row}");
    }
}

#[tokio::test]
async fn console_audit_pages_need_a_session_and_a_viewer_reads_them() {
    let d = desk().await;
    for path in [
        "/console/audit",
        "/console/audit.csv?action=x",
        "/console/health",
    ] {
        let r = d.send(Method::GET, path, "", &[], "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            r.header("location"),
            Some(format!("/console/login?return={}", enc(path))),
            "{path}"
        );
    }
    // The navigation names both pages, for every member.
    let vetter = d.login(&d.vetter).await;
    let queue = d.get("/console/", &vetter).await.text();
    assert!(queue.contains("<a href=\"/console/audit\">"), "{queue}");
    assert!(queue.contains("<a href=\"/console/health\">"), "{queue}");
    let viewer = d.login(&d.viewer).await;
    for path in ["/console/audit", "/console/audit.csv", "/console/health"] {
        assert_eq!(d.get(path, &viewer).await.status, StatusCode::OK, "{path}");
    }
}
