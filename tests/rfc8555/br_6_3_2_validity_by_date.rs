//! Baseline Requirements §6.3.2 (maximum validity by issuance date), read
//! through the whole issuance path: a server on a manual clock issues on
//! either side of each date of `ca::schedule`, and the certificate carries
//! the cap in force that day.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use trustgate::core::Clock;

use crate::support::*;

/// Longer than every cap, so the cap in force is what limits the lifetime.
const ASKED_DAYS: u32 = 400;

/// (notBefore, notAfter) of a certificate issued with the server's clock
/// standing at `at`.
async fn issued_at(at: OffsetDateTime) -> (i64, i64) {
    let (s, c) = registered_on(Clock::manual(at), |cfg| {
        cfg.ca.validity_days = ASKED_DAYS;
    })
    .await;
    let (der, _) = issue_fresh(&s, &c, &["dated.example.jp"]).await;
    validity(&der)
}

fn validity(der: &[u8]) -> (i64, i64) {
    let (_, leaf) = x509_parser::parse_x509_certificate(der).unwrap();
    let v = leaf.validity();
    (v.not_before.timestamp(), v.not_after.timestamp())
}

/// BR §6.3.2 counts notBefore through notAfter inclusively, so a cap of
/// `days` leaves notAfter − notBefore = days − 1 s.
fn span(days: i64) -> i64 {
    (Duration::days(days) - Duration::SECOND).whole_seconds()
}

#[tokio::test]
async fn each_issuance_date_gets_the_validity_cap_in_force() {
    let backdate = trustgate::config::Config::default().ca.backdate_secs as i64;
    let cases = [
        (datetime!(2026-03-14 12:00 UTC), 398),
        (datetime!(2026-03-16 12:00 UTC), 200),
        (datetime!(2027-03-16 12:00 UTC), 100),
        (datetime!(2029-03-16 12:00 UTC), 47),
    ];
    for (at, days) in cases {
        let (not_before, not_after) = issued_at(at).await;
        assert_eq!(
            not_before,
            at.unix_timestamp() - backdate,
            "notBefore at {at}"
        );
        assert_eq!(not_after - not_before, span(days), "validity at {at}");
    }
}

/// One server, its clock moved across 2026-03-15: the same account and
/// name get 398 days before the date and 200 after it.
#[tokio::test]
async fn moving_the_clock_across_a_date_changes_the_cap() {
    let clock = Clock::manual(datetime!(2026-03-14 23:00 UTC));
    let (s, c) = registered_on(clock.clone(), |cfg| {
        cfg.ca.validity_days = ASKED_DAYS;
    })
    .await;
    let (before, _) = issue_fresh(&s, &c, &["step.example.jp"]).await;
    let (nb, na) = validity(&before);
    assert_eq!(na - nb, span(398));

    assert!(clock.advance(Duration::hours(2)));
    let (after, _) = issue_fresh(&s, &c, &["step.example.jp"]).await;
    let (nb2, na2) = validity(&after);
    assert_eq!(nb2 - nb, Duration::hours(2).whole_seconds());
    assert_eq!(na2 - nb2, span(200));
}
