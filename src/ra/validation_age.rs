//! How long a domain validation counts (BR 4.2.1, 3.2.2.4): while
//! `validated_at + the reuse period in force on the issuance date` is in
//! the future. The period shrinks on the schedule's dates (200 → 100 → 10
//! days), so a validation's life is decided when it is used, not fixed
//! when it happened.

use time::{Duration, OffsetDateTime};

use crate::acme::ChallengeStatus;
use crate::ca::schedule::max_dcv_reuse;
use crate::core::Authorization;

/// When the authorization's domain validation was completed: the time of
/// its valid challenge. None for an authorization without one (not valid,
/// or stored before challenges recorded the time).
pub fn validated_at(a: &Authorization) -> Option<OffsetDateTime> {
    a.challenges
        .iter()
        .filter(|c| c.status == ChallengeStatus::Valid)
        .filter_map(|c| c.validated_at)
        .max()
}

/// Whether validation data completed at `validated_at` may back issuance
/// at `at`.
pub fn counts(validated_at: OffsetDateTime, at: OffsetDateTime) -> bool {
    validated_at + max_dcv_reuse(at) > at
}

/// The authorization's validation is too old for issuance at `at`. An
/// authorization without a validation time keeps its stored expiry, as
/// before this rule.
pub fn too_old(a: &Authorization, at: OffsetDateTime) -> bool {
    validated_at(a).is_some_and(|t| !counts(t, at))
}

/// The first instant from `now` on at which validation data completed at
/// `validated_at` stops counting. It can come before
/// `validated_at + max_dcv_reuse(now)` when a shorter period starts in
/// between.
pub fn stops_counting(validated_at: OffsetDateTime, now: OffsetDateTime) -> OffsetDateTime {
    let end = validated_at + max_dcv_reuse(now);
    if end <= now {
        return end;
    }
    // `counts` turns false once and stays false (the period never grows),
    // so the change is found by bisection over whole seconds of age:
    // it counts at age `lo`, not at age `hi`.
    let at = |age: i64| validated_at + Duration::seconds(age);
    let (mut lo, mut hi) = (
        (now - validated_at).whole_seconds(),
        (end - validated_at).whole_seconds(),
    );
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if counts(validated_at, at(mid)) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    at(hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn counts_by_the_period_in_force_at_issuance() {
        let v = datetime!(2026-12-01 12:00 UTC);
        // 200 days until 2027-03-15, then 100.
        assert!(counts(v, datetime!(2027-03-14 23:59:59 UTC)));
        assert!(!counts(v, datetime!(2027-03-15 00:00 UTC)));
        let v = datetime!(2026-12-10 12:00 UTC);
        assert!(counts(v, datetime!(2027-03-15 12:00 UTC)));
        assert!(!counts(v, v + Duration::days(100)));
        // 100 days until 2029-03-15, then 10.
        let v = datetime!(2029-03-01 00:00 UTC);
        assert!(counts(v, datetime!(2029-03-14 23:59:59 UTC)));
        assert!(!counts(v, datetime!(2029-03-15 00:00 UTC)));
        let v = datetime!(2029-03-10 00:00 UTC);
        assert!(counts(v, datetime!(2029-03-19 23:59:59 UTC)));
        assert!(!counts(v, datetime!(2029-03-20 00:00 UTC)));
    }

    #[test]
    fn stops_counting_at_a_date_that_shortens_the_period() {
        let now = datetime!(2027-01-01 00:00 UTC);
        // Older than 100 days on 2027-03-15: it stops on that date.
        let v = datetime!(2026-11-01 00:00 UTC);
        assert_eq!(stops_counting(v, now), datetime!(2027-03-15 00:00 UTC));
        // Younger: 100 days after it was done.
        let v = datetime!(2026-12-31 00:00 UTC);
        assert_eq!(stops_counting(v, now), v + Duration::days(100));
        // No date in between: the period in force.
        let now = datetime!(2027-06-01 00:00 UTC);
        let v = datetime!(2027-05-01 00:00 UTC);
        assert_eq!(stops_counting(v, now), v + Duration::days(100));
        // Already too old: the instant it stopped.
        let v = datetime!(2027-01-01 00:00 UTC);
        assert_eq!(stops_counting(v, now), v + Duration::days(100));
        let now = datetime!(2029-03-12 00:00 UTC);
        let v = datetime!(2029-03-01 00:00 UTC);
        assert_eq!(stops_counting(v, now), datetime!(2029-03-15 00:00 UTC));
    }
}
