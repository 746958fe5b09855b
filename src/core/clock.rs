//! The one source of "now". Every rule that depends on the date (BR
//! validity caps, reuse periods, vetting ages, nonce and order lifetimes)
//! reads it through a [`Clock`] handed down from `app`, so a test can move
//! time across a Baseline Requirements date without waiting for it.

use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

/// The system clock in production; a settable clock in tests. Cheap to
/// clone: clones of a manual clock share its time.
#[derive(Clone, Default)]
pub struct Clock(Source);

#[derive(Clone, Default)]
enum Source {
    #[default]
    System,
    Manual(Arc<Mutex<OffsetDateTime>>),
}

impl Clock {
    /// The operating system's UTC time.
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// A clock that stands at `start` until it is set or advanced.
    pub fn manual(start: OffsetDateTime) -> Clock {
        Clock(Source::Manual(Arc::new(Mutex::new(truncate(start)))))
    }

    /// Current time, truncated to microseconds: SQLite keeps nanoseconds
    /// and PostgreSQL microseconds, so values read back compare equal on
    /// both.
    pub fn now(&self) -> OffsetDateTime {
        match &self.0 {
            Source::System => truncate(OffsetDateTime::now_utc()),
            Source::Manual(t) => *t.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Moves a manual clock to `t`. A system clock cannot be moved: the
    /// call is ignored and returns false.
    pub fn set(&self, t: OffsetDateTime) -> bool {
        match &self.0 {
            Source::System => false,
            Source::Manual(m) => {
                *m.lock().unwrap_or_else(|p| p.into_inner()) = truncate(t);
                true
            }
        }
    }

    /// Moves a manual clock forward (or back, with a negative `by`).
    pub fn advance(&self, by: Duration) -> bool {
        self.set(self.now() + by)
    }

    pub fn is_manual(&self) -> bool {
        matches!(self.0, Source::Manual(_))
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Manual(_) => write!(f, "Clock::manual({})", self.now()),
        }
    }
}

fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_it() {
        let c = Clock::manual(datetime!(2027-03-14 23:59:59.123456789 UTC));
        assert_eq!(c.now(), datetime!(2027-03-14 23:59:59.123456 UTC));
        let other = c.clone();
        assert!(other.advance(Duration::seconds(1)));
        assert_eq!(c.now(), datetime!(2027-03-15 00:00:00.123456 UTC));
        assert!(c.set(datetime!(2029-03-15 0:00 UTC)));
        assert_eq!(other.now(), datetime!(2029-03-15 0:00 UTC));
    }

    #[test]
    fn system_clock_cannot_be_set_and_has_microsecond_precision() {
        let c = Clock::system();
        assert!(!c.set(datetime!(2000-01-01 0:00 UTC)));
        assert_eq!(c.now().nanosecond() % 1000, 0);
        assert!(c.now().year() >= 2026);
    }
}
