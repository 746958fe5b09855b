//! The console's failed mail notices (`/console/notices`): each with its
//! attempts and last error, the queue's size, and sending one again as a
//! `vet` member (audited; refused for a viewer, without the CSRF token,
//! or when the notice has not failed). A child of `console_org` for its
//! desk.

use hyper::StatusCode;
use trustgate::sa::outbox::{self, NewNotice, Outcome};

use super::{desk, pairs, Desk};

/// A notice to `to`, failed for good after one refused attempt; its id.
async fn failed_notice(d: &Desk, to: &str) -> i64 {
    let now = d.vetting.clock().now();
    let to = to.to_owned();
    d.vetting
        .store()
        .write(move |c| {
            let notice = NewNotice {
                kind: "certificate.issued",
                about: "certificate:00c0ffee".into(),
                recipient: to.clone(),
                language: "ja",
                subject: "証明書を発行しました".into(),
                body: "本文".into(),
            };
            outbox::enqueue(c, &notice, now)?;
            let id = outbox::due(c, now, 100)?.into_iter().max().unwrap();
            outbox::lease(c, id, "test", now, now + time::Duration::minutes(1))?.unwrap();
            let refused = Outcome::Failed {
                error: "550 5.1.1 no such mailbox".into(),
            };
            outbox::record_attempt(c, id, "test", now, &refused)?;
            Ok(id)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn failed_notices_are_listed_and_a_vetter_sends_one_again() {
    let d = desk().await;
    let id = failed_notice(&d, "gone@example.co.jp").await;
    let path = format!("/console/notices/{id}/resend");

    // A viewer reads the list but has no button and may not post.
    let viewer = d.login(&d.viewer).await;
    let page = d.get("/console/notices", &viewer).await;
    assert_eq!(page.status, StatusCode::OK);
    let page = page.text();
    let row = page
        .split(&format!("<tr id=\"notice-{id}\">"))
        .nth(1)
        .unwrap_or_else(|| panic!("notice {id} not listed: {page}"))
        .split("</tr>")
        .next()
        .unwrap();
    for shown in [
        "gone@example.co.jp",
        "証明書を発行しました",
        "550 5.1.1 no such mailbox",
        "certificate:00c0ffee",
    ] {
        assert!(row.contains(shown), "{shown}: {row}");
    }
    assert!(page.contains("id=\"queued\""), "{page}");
    assert!(!page.contains(&format!("id=\"resend-{id}\"")));
    let r = d.post(&path, &viewer, &pairs(&[])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The vetter: without the token refused, with it queued again.
    let vetter = d.login(&d.vetter).await;
    let page = d.get("/console/notices", &vetter).await.text();
    assert!(page.contains(&format!("id=\"resend-{id}\"")), "{page}");
    let cookie = format!("tg_session={}", vetter.cookie);
    let r = d.send(hyper::Method::POST, &path, &cookie, "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(d.audit("notice.resend").await.is_empty());
    let r = d.post(&path, &vetter, &pairs(&[])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let back = r.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(back, format!("/console/notices?resent={id}"));
    let page = d.get(&back, &vetter).await.text();
    assert!(
        !page.contains(&format!("<tr id=\"notice-{id}\">")),
        "{page}"
    );
    assert!(page.contains("id=\"resent\""), "{page}");
    let now = d.vetting.clock().now();
    let due = d
        .vetting
        .store()
        .read(move |c| outbox::due(c, now, 100))
        .await
        .unwrap();
    assert!(due.contains(&id), "due again at once: {due:?}");
    let events = d.audit("notice.resend").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, d.vetter.member.identity().actor());
    assert_eq!(events[0].subject, format!("notice:{id}"));

    // Not failed any more: a second resend is refused, nothing recorded.
    let r = d.post(&path, &vetter, &pairs(&[])).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(d.audit("notice.resend").await.len(), 1);
}
