//! Baseline Requirements §4.2.1 / §3.2.2.4 (reuse of domain validation
//! data by date), read through newOrder, finalize and ARI: a server on a
//! manual clock validates a name, the clock crosses 2027-03-15 (200 → 100
//! days) or 2029-03-15 (100 → 10 days), and the validation counts only
//! while it is younger than the period in force that day.

use hyper::{Method, StatusCode};
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use trustgate::core::Clock;

use crate::support::*;

/// Validates `old` at `start`, `young` `young_after` later, then moves the
/// clock to half a day before `step`: an order for both reuses both
/// authorizations. Half a day after `step` the shorter period makes
/// `old`'s validation too old to finalize on, while `young`'s still counts.
async fn finalize_across(start: OffsetDateTime, young_after: Duration, step: OffsetDateTime) {
    let (old, young) = ("old.example.jp", "young.example.jp");
    let clock = Clock::manual(start);
    let (s, c) = registered_on(clock.clone(), |_| {}).await;
    issue_fresh(&s, &c, &[old]).await;
    assert!(clock.advance(young_after));
    issue_fresh(&s, &c, &[young]).await;
    assert!(clock.set(step - Duration::hours(12)));

    let both = create_order(&c, &[old, young]).await;
    assert_eq!(both["status"], "ready", "both validations reused: {both}");
    assert!(clock.advance(Duration::days(1)));

    let r = c.finalize(&both, &[old, young]).await;
    let p = r.problem("unauthorized");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(old) && detail.contains("new order"), "{p}");
    let subs = p["subproblems"].as_array().unwrap();
    assert_eq!(subs.len(), 1, "{p}");
    assert_eq!(subs[0]["identifier"]["value"], old, "{p}");

    // The young validation still backs issuance; the old one is not
    // reused, so a new order asks for a new validation.
    let only_young = create_order(&c, &[young]).await;
    assert_eq!(only_young["status"], "ready", "{only_young}");
    let r = c.finalize(&only_young, &[young]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let again = create_order(&c, &[old]).await;
    assert_eq!(again["status"], "pending", "not reused: {again}");
    c.validate_order(&s, &again).await;
    let r = c.finalize(&again, &[old]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

/// 2026-12-01 is 104 days before 2027-03-15 12:00: too old for 100 days;
/// 2026-12-10 is 95 days before it.
#[tokio::test]
async fn validations_older_than_100_days_stop_counting_on_2027_03_15() {
    finalize_across(
        datetime!(2026-12-01 12:00 UTC),
        Duration::days(9),
        datetime!(2027-03-15 00:00 UTC),
    )
    .await;
}

/// 2029-03-01 is 14 days before 2029-03-15 12:00: too old for 10 days;
/// 2029-03-10 is 5 days before it.
#[tokio::test]
async fn validations_older_than_10_days_stop_counting_on_2029_03_15() {
    finalize_across(
        datetime!(2029-03-01 12:00 UTC),
        Duration::days(9),
        datetime!(2029-03-15 00:00 UTC),
    )
    .await;
}

/// ARI (RFC 9773): a certificate issued on 2027-03-01 with 200 days of
/// validity would normally be renewed around day 167, but its validation
/// stops counting 100 days after it was done (the period in force from
/// 2027-03-15), so the window ends a day before that.
#[tokio::test]
async fn ari_window_ends_before_the_validation_stops_counting() {
    let validated = datetime!(2027-03-01 12:00 UTC);
    let (s, c) = registered_on(Clock::manual(validated), |cfg| {
        cfg.ca.validity_days = 200;
    })
    .await;
    let (der, _) = issue_fresh(&s, &c, &["ari.example.jp"]).await;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let (nb, na) = (
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    );
    assert!(na - nb > 199 * 86400, "200 days of validity");

    let id = {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        use base64::Engine;
        use x509_parser::prelude::ParsedExtension;
        let aki = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => None,
            })
            .unwrap();
        format!("{}.{}", B64.encode(aki), B64.encode(cert.raw_serial()))
    };
    let url = format!("{}/{id}", c.dir("renewalInfo"));
    let w = send(&c.http, Method::GET, &url, None, vec![]).await.json();
    let end =
        OffsetDateTime::parse(w["suggestedWindow"]["end"].as_str().unwrap(), &Rfc3339).unwrap();
    let stops = validated + Duration::days(100);
    assert_eq!(end, stops - Duration::days(1), "{w}");
    assert!(
        end.unix_timestamp() < nb + (na - nb) * 5 / 6,
        "earlier than the usual window: {w}"
    );
}
