//! The trust seal in the portal (`/seal`): an approved organization's
//! customer gets the HTML to embed, built from `publish.seal_base_url`
//! with the organization's one seal id (made on the spot when the
//! organization has none), a preview and the verification link; a
//! customer of an organization that is pending or suspended, or of a CA
//! that serves no seals, gets a sentence saying why and no snippet.
//! SQLite, and PostgreSQL with TEST_DATABASE_URL.
#![allow(clippy::unwrap_used)]

use hyper::StatusCode;
use trustgate::core::OrganizationId;
use trustgate::vetting::checks::Transition;

use crate::certs::{between, customer_of};
use crate::support::Portal;

const SEAL_BASE: &str = "https://seal.example.jp";

/// The page's snippet as text (the template escapes it).
fn snippet(page: &str) -> Option<String> {
    page.contains("id=\"seal-snippet\"").then(|| {
        between(page, "<code id=\"seal-snippet\">", "</code>")
            .replace("&lt;", "<")
            .replace("&#60;", "<")
            .replace("&gt;", ">")
            .replace("&#62;", ">")
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&#x2f;", "/")
            .replace("&#47;", "/")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
            .replace("&#38;", "&")
    })
}

async fn seals_of(p: &Portal, org: OrganizationId) -> i64 {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM seals WHERE organization_id = {}",
        org.0
    );
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
async fn the_seal_snippet_is_given_only_while_the_organization_is_approved() {
    let p = Portal::start_with(|cfg| cfg.publish.seal_base_url = Some(SEAL_BASE.into())).await;
    let (b, org) = customer_of(&p, "a@example.jp", "example.jp").await;
    assert!(b.get("/").await.text().contains("href=\"/seal\""));

    // Approved: the snippet of the organization's seal, its preview and
    // the verification page.
    let page = b.get("/seal").await;
    assert_eq!(page.status, StatusCode::OK);
    let page = page.text();
    let id = p.vetting.seal(org).await.unwrap().unwrap();
    let expected = trustgate::publish::seal::snippet(SEAL_BASE, &id);
    assert_eq!(snippet(&page).as_deref(), Some(expected.as_str()), "{page}");
    assert!(expected.contains(&format!("<a href=\"{SEAL_BASE}/seal/{id}\"")));
    assert!(expected.contains(&format!("<img src=\"{SEAL_BASE}/seal/{id}.svg\"")));
    assert!(page.contains("src=\"data:image/svg+xml;base64,"), "{page}");
    assert!(
        page.contains(&format!("href=\"{SEAL_BASE}/seal/{id}\"")),
        "{page}"
    );
    assert!(!page.contains("id=\"no-seal\""));

    // An organization approved before seals existed: one is made, once.
    crate::acme::with_db(&p.cfg.database_url(), |db| {
        db.execute(&format!(
            "DELETE FROM seals WHERE organization_id = {}",
            org.0
        ));
    });
    let first = snippet(&b.get("/seal").await.text()).unwrap();
    let again = snippet(&b.get("/seal").await.text()).unwrap();
    assert_eq!(first, again);
    assert!(!first.contains(&id), "a new seal id");
    assert_eq!(seals_of(&p, org).await, 1);

    // Suspended: why, and no snippet.
    p.vetting
        .transition("approver", org, Transition::Suspend, Some("unpaid".into()))
        .await
        .unwrap();
    let page = b.get("/seal").await.text();
    assert!(snippet(&page).is_none(), "{page}");
    assert!(page.contains("id=\"no-seal\""), "{page}");
    assert!(page.contains("一時停止"), "{page}");

    // Pending (never approved): why, no snippet, no seal made.
    let data = serde_json::from_str(include_str!("../../conf/organization.example.json")).unwrap();
    let pending = p.vetting.create("vetter", data).await.unwrap().id;
    let c = p.customer_session("c@example.org").await;
    let customer = p.customer("c@example.org").await.unwrap().id;
    p.store
        .run(move |conn| trustgate::sa::customers::set_organization(conn, customer, pending))
        .await
        .unwrap();
    let c = c.with_header("accept-language", "en");
    let page = c.get("/seal").await.text();
    assert!(snippet(&page).is_none(), "{page}");
    assert!(page.contains("its vetting is not finished"), "{page}");
    assert_eq!(seals_of(&p, pending).await, 0);
}

#[tokio::test]
async fn a_ca_that_serves_no_seals_says_so() {
    // The fixture has no publish listener and no seal_base_url.
    let p = Portal::start().await;
    let (b, _) = customer_of(&p, "a@example.jp", "example.jp").await;
    let page = b.get("/seal").await.text();
    assert!(snippet(&page).is_none(), "{page}");
    assert!(page.contains("認証シールを提供していません"), "{page}");
}
