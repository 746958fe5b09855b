//! How many embedded SCTs a certificate needs (Chrome's CT policy, which
//! Apple's matches): by the certificate's lifetime, from distinct log
//! operators.

use std::collections::BTreeSet;

use time::{Duration, OffsetDateTime};

use crate::config::CtPolicyConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    short_lifetime: Duration,
    short_lifetime_scts: usize,
    long_lifetime_scts: usize,
    min_operators: usize,
}

/// What a certificate with the given validity needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    pub scts: usize,
    pub operators: usize,
}

impl Policy {
    pub fn new(cfg: &CtPolicyConfig) -> Policy {
        Policy {
            short_lifetime: Duration::days(i64::from(cfg.short_lifetime_days)),
            short_lifetime_scts: cfg.short_lifetime_scts as usize,
            long_lifetime_scts: cfg.long_lifetime_scts as usize,
            min_operators: cfg.min_operators as usize,
        }
    }

    /// The requirement for a certificate valid from `not_before` to
    /// `not_after` (inclusive, as the BRs count it).
    pub fn requirement(
        &self,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Requirement {
        let lifetime = crate::ca::schedule::validity_period(not_before, not_after);
        let scts = if lifetime <= self.short_lifetime {
            self.short_lifetime_scts
        } else {
            self.long_lifetime_scts
        };
        Requirement {
            scts,
            operators: self.min_operators,
        }
    }
}

impl Requirement {
    /// Whether SCTs from logs of these operators (one entry per valid
    /// SCT) meet it.
    pub fn met_by<'a>(&self, operators: impl IntoIterator<Item = &'a str>) -> bool {
        let operators: Vec<&str> = operators.into_iter().collect();
        let distinct: BTreeSet<&str> = operators.iter().copied().collect();
        operators.len() >= self.scts && distinct.len() >= self.operators
    }

    pub fn describe(&self) -> String {
        format!(
            "{} SCTs from at least {} distinct log operators",
            self.scts, self.operators
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_default_policy_counts_by_lifetime_and_operator() {
        let p = Policy::new(&CtPolicyConfig::default());
        let nb = datetime!(2026-12-01 00:00:00 UTC);
        let short = p.requirement(nb, nb + Duration::days(180) - Duration::SECOND);
        assert_eq!(
            short,
            Requirement {
                scts: 2,
                operators: 2
            }
        );
        let long = p.requirement(nb, nb + Duration::days(180));
        assert_eq!(
            long,
            Requirement {
                scts: 3,
                operators: 2
            }
        );

        assert!(short.met_by(["google", "cloudflare"]));
        assert!(!short.met_by(["google", "google"]), "one operator");
        assert!(!short.met_by(["google"]));
        assert!(!long.met_by(["google", "cloudflare"]));
        assert!(long.met_by(["google", "google", "cloudflare"]));
        assert!(long.describe().contains("3 SCTs from at least 2"));
    }
}
