//! CA/Browser Forum rules that change by date, kept as data in one table
//! (DESIGN.md: "data keyed by issuance date, in one place").
//!
//! Source: Baseline Requirements for TLS server certificates as amended by
//! ballot SC-081 ("Introduce Schedule of Reducing Validity and Data Reuse
//! Periods"). BR §6.3.2 (maximum validity) and §4.2.1 (reuse of domain and
//! IP address validation data).
//!
//! The BRs give calendar dates without a time zone; we read each as the
//! instant 00:00:00 UTC of that day, which is the earliest reading and so
//! the strict one.
//!
//! Counting (BR §1.6.4 "Validity Period" and §6.3.2): the validity period
//! runs from notBefore through notAfter *inclusive*, so a certificate whose
//! notBefore and notAfter are the same second is valid for one second. A day
//! is 86,400 seconds; any excess, even a second, counts as another day. A
//! certificate therefore complies when
//! `notAfter - notBefore + 1 s <= max_validity(issued_at)`; see
//! [`validity_period`] and [`latest_not_after`].
//!
//! Multi-perspective issuance corroboration (BR §3.2.2.9, ballot SC-067)
//! is a second table, [`QUORUM_SCHEDULE`]: how many remote network
//! perspectives must take part from each date; [`quorum`] reads it.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// One row of the schedule: the limits in force from `from` (inclusive)
/// until the next row's `from`.
struct Rule {
    from: OffsetDateTime,
    /// BR §6.3.2: maximum validity period of a subscriber certificate.
    max_validity_days: i64,
    /// BR §4.2.1: maximum age of domain validation data at issuance.
    max_dcv_reuse_days: i64,
}

/// Rows in ascending order of `from`. The first row covers everything
/// before the second (398 days has applied since 2020-09-01, BR §6.3.2).
const SCHEDULE: &[Rule] = &[
    Rule {
        from: OffsetDateTime::UNIX_EPOCH,
        max_validity_days: 398,
        max_dcv_reuse_days: 398,
    },
    Rule {
        from: datetime!(2026-03-15 00:00:00 UTC),
        max_validity_days: 200,
        max_dcv_reuse_days: 200,
    },
    Rule {
        from: datetime!(2027-03-15 00:00:00 UTC),
        max_validity_days: 100,
        max_dcv_reuse_days: 100,
    },
    Rule {
        from: datetime!(2029-03-15 00:00:00 UTC),
        max_validity_days: 47,
        max_dcv_reuse_days: 10,
    },
];

/// The row in force at `at`: the last one whose `from` is not after it.
fn rule_at(at: OffsetDateTime) -> &'static Rule {
    SCHEDULE
        .iter()
        .rev()
        .find(|r| r.from <= at)
        // Instants before the first row (1970) get the oldest, loosest row;
        // no certificate we sign is dated that early.
        .unwrap_or(&SCHEDULE[0])
}

/// Maximum TLS subscriber certificate validity by issuance date
/// (BR §6.3.2): 398 days before 2026-03-15, 200 days from 2026-03-15, 100
/// from 2027-03-15, 47 from 2029-03-15. Compare it with
/// [`validity_period`], which counts inclusively.
pub fn max_validity(issued_at: OffsetDateTime) -> Duration {
    Duration::days(rule_at(issued_at).max_validity_days)
}

/// Domain validation data reuse (BR §4.2.1): 398 days before 2026-03-15;
/// 200 from 2026-03-15, 100 from 2027-03-15, 10 from 2029-03-15.
/// Validation data completed at `t` may back issuance at `at` when
/// `at - t <= max_dcv_reuse(at)`.
pub fn max_dcv_reuse(at: OffsetDateTime) -> Duration {
    Duration::days(rule_at(at).max_dcv_reuse_days)
}

/// BR §3.2.2.9: the remote network perspectives that must take part in
/// every domain validation and CAA check from a date on, in ascending
/// order of `from`. Before the first row none are required.
const QUORUM_SCHEDULE: &[(OffsetDateTime, usize)] = &[
    (datetime!(2025-09-15 00:00:00 UTC), 2),
    (datetime!(2026-03-15 00:00:00 UTC), 3),
    (datetime!(2026-06-15 00:00:00 UTC), 4),
    (datetime!(2026-12-15 00:00:00 UTC), 5),
];

/// The distinct RIR regions the corroborating perspectives must span once
/// any perspective is required (BR §3.2.2.9).
const QUORUM_MIN_REGIONS: usize = 2;

/// The multi-perspective rule in force at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    /// When this rule took effect; `None` before the first row.
    pub since: Option<OffsetDateTime>,
    /// Remote perspectives that must be asked.
    pub perspectives: usize,
    /// Distinct RIR regions the corroborating perspectives must span.
    pub regions: usize,
}

impl Quorum {
    /// BR §3.2.2.9's table: with `asked` perspectives, how many may fail to
    /// corroborate (1 for 2–5, 2 for 6 or more; none below 2).
    pub fn allowed_failures(asked: usize) -> usize {
        match asked {
            0 | 1 => 0,
            2..=5 => 1,
            _ => 2,
        }
    }

    /// Corroborations needed when `asked` perspectives were asked.
    pub fn corroborations_needed(asked: usize) -> usize {
        asked - Self::allowed_failures(asked)
    }

    /// "BR 3.2.2.9 requires 5 remote perspectives from 2026-12-15".
    pub fn describe(&self) -> String {
        match self.since {
            Some(since) => format!(
                "BR 3.2.2.9 requires {} remote perspectives from {}",
                self.perspectives,
                since.date()
            ),
            None => "BR 3.2.2.9 requires no remote perspectives yet".to_owned(),
        }
    }
}

/// The multi-perspective rule in force at `at` (BR §3.2.2.9): 2 remote
/// perspectives from 2025-09-15, 3 from 2026-03-15, 4 from 2026-06-15, 5
/// from 2026-12-15, spanning at least two RIR regions; none before.
pub fn quorum(at: OffsetDateTime) -> Quorum {
    match QUORUM_SCHEDULE.iter().rev().find(|(from, _)| *from <= at) {
        Some(&(from, perspectives)) => Quorum {
            since: Some(from),
            perspectives,
            regions: QUORUM_MIN_REGIONS,
        },
        None => Quorum {
            since: None,
            perspectives: 0,
            regions: 0,
        },
    }
}

/// The validity period as BR §1.6.4 counts it: notBefore through notAfter
/// inclusive, i.e. `not_after - not_before + 1 second`. Certificate times
/// have whole seconds (RFC 5280 §4.1.2.5), so sub-second parts are dropped
/// before counting.
pub fn validity_period(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Duration {
    let nb = not_before.replace_nanosecond(0).unwrap_or(not_before);
    let na = not_after.replace_nanosecond(0).unwrap_or(not_after);
    na - nb + Duration::SECOND
}

/// The latest notAfter allowed for a certificate with `not_before` issued
/// at `issued_at`: `not_before + max_validity(issued_at) - 1 second`.
pub fn latest_not_after(issued_at: OffsetDateTime, not_before: OffsetDateTime) -> OffsetDateTime {
    let nb = not_before.replace_nanosecond(0).unwrap_or(not_before);
    nb + max_validity(issued_at) - Duration::SECOND
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::SECOND;

    #[test]
    fn table_is_sorted_and_never_loosens() {
        for w in SCHEDULE.windows(2) {
            assert!(w[0].from < w[1].from);
            assert!(w[0].max_validity_days >= w[1].max_validity_days);
            assert!(w[0].max_dcv_reuse_days >= w[1].max_dcv_reuse_days);
        }
    }

    #[test]
    fn max_validity_at_each_boundary() {
        let cases = [
            (datetime!(2026-03-15 00:00:00 UTC), 398, 200),
            (datetime!(2027-03-15 00:00:00 UTC), 200, 100),
            (datetime!(2029-03-15 00:00:00 UTC), 100, 47),
        ];
        for (at, before, from) in cases {
            assert_eq!(
                max_validity(at - SECOND),
                Duration::days(before),
                "{at} - 1s"
            );
            assert_eq!(max_validity(at), Duration::days(from), "{at}");
            assert_eq!(max_validity(at + SECOND), Duration::days(from), "{at} + 1s");
        }
        assert_eq!(
            max_validity(datetime!(2020-09-01 00:00:00 UTC)),
            Duration::days(398)
        );
        assert_eq!(
            max_validity(datetime!(2100-01-01 00:00:00 UTC)),
            Duration::days(47)
        );
    }

    #[test]
    fn max_dcv_reuse_at_each_boundary() {
        let cases = [
            (datetime!(2026-03-15 00:00:00 UTC), 398, 200),
            (datetime!(2027-03-15 00:00:00 UTC), 200, 100),
            (datetime!(2029-03-15 00:00:00 UTC), 100, 10),
        ];
        for (at, before, from) in cases {
            assert_eq!(
                max_dcv_reuse(at - SECOND),
                Duration::days(before),
                "{at} - 1s"
            );
            assert_eq!(max_dcv_reuse(at), Duration::days(from), "{at}");
        }
    }

    #[test]
    fn validity_counts_inclusively() {
        let nb = datetime!(2026-06-01 00:00:00 UTC);
        assert_eq!(validity_period(nb, nb), SECOND);
        // A 200-day certificate ends one second before the 200th day is up.
        let last = latest_not_after(nb, nb);
        assert_eq!(last, datetime!(2026-12-17 23:59:59 UTC));
        assert_eq!(validity_period(nb, last), Duration::days(200));
        assert!(validity_period(nb, last + SECOND) > max_validity(nb));
        // Sub-second parts do not count.
        let nb_frac = nb + Duration::milliseconds(999);
        assert_eq!(validity_period(nb_frac, nb), SECOND);
    }

    #[test]
    fn latest_not_after_follows_issuance_date() {
        let boundary = datetime!(2027-03-15 00:00:00 UTC);
        let before = latest_not_after(boundary - SECOND, boundary - SECOND);
        let at = latest_not_after(boundary, boundary);
        assert_eq!(
            validity_period(boundary - SECOND, before),
            Duration::days(200)
        );
        assert_eq!(validity_period(boundary, at), Duration::days(100));
    }

    #[test]
    fn quorum_at_each_boundary() {
        let cases = [
            (datetime!(2025-09-15 00:00:00 UTC), 0, 2),
            (datetime!(2026-03-15 00:00:00 UTC), 2, 3),
            (datetime!(2026-06-15 00:00:00 UTC), 3, 4),
            (datetime!(2026-12-15 00:00:00 UTC), 4, 5),
        ];
        for (at, before, from) in cases {
            assert_eq!(quorum(at - SECOND).perspectives, before, "{at} - 1s");
            assert_eq!(quorum(at).perspectives, from, "{at}");
            assert_eq!(quorum(at).regions, 2, "{at}");
            assert_eq!(quorum(at).since, Some(at), "{at}");
        }
        let early = quorum(datetime!(2025-09-15 00:00:00 UTC) - SECOND);
        assert_eq!(
            (early.perspectives, early.regions, early.since),
            (0, 0, None)
        );
        assert_eq!(quorum(datetime!(2100-01-01 00:00:00 UTC)).perspectives, 5);
        for w in QUORUM_SCHEDULE.windows(2) {
            assert!(w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        }
    }

    #[test]
    fn allowed_failures_follow_the_br_table() {
        let table = [
            (0, 0),
            (1, 0),
            (2, 1),
            (3, 1),
            (4, 1),
            (5, 1),
            (6, 2),
            (9, 2),
        ];
        for (asked, allowed) in table {
            assert_eq!(Quorum::allowed_failures(asked), allowed, "{asked}");
            assert_eq!(Quorum::corroborations_needed(asked), asked - allowed);
        }
    }

    #[test]
    fn the_rule_names_itself() {
        let q = quorum(datetime!(2026-12-15 00:00:00 UTC));
        assert_eq!(
            q.describe(),
            "BR 3.2.2.9 requires 5 remote perspectives from 2026-12-15"
        );
    }
}
