//! The health page (`/console/health`): readiness as `/readyz` answers it
//! (`Vetting::readiness`), each CRL shard and whether its nextUpdate has
//! passed or is near, the queues, the build.

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use time::{Duration, OffsetDateTime};

use super::pages::{chrome, date, render, Chrome, Views};
use crate::config::PublishConfig;
use crate::error::Result;
use crate::sa::health::{self, CrlSummary, Queues};

/// How the CRLs are meant to be kept, from `[publish]`.
#[derive(Debug, Clone, Copy)]
pub struct CrlSchedule {
    shards: u32,
    /// nextUpdate − thisUpdate.
    validity: Duration,
    /// How often the generator looks for work.
    every: Duration,
}

impl CrlSchedule {
    pub fn new(cfg: &PublishConfig) -> CrlSchedule {
        CrlSchedule {
            shards: cfg.crl_shards,
            validity: Duration::hours(cfg.next_update_hours.into()),
            every: Duration::seconds(i64::try_from(cfg.regenerate_secs).unwrap_or(i64::MAX)),
        }
    }

    /// The state of a shard's CRL at `now`. The generator reissues a CRL
    /// once half its validity has passed (`sa::crls::needing_regeneration`),
    /// so one with less than half left, beyond a little slack, means the
    /// generator is behind: flagged before nextUpdate passes.
    fn state(&self, crl: Option<&CrlSummary>, now: OffsetDateTime) -> CrlState {
        let Some(crl) = crl else {
            return CrlState::Missing;
        };
        let slack: Duration = Ord::max(self.every * 2, Duration::minutes(10));
        if crl.next_update <= now {
            CrlState::Overdue
        } else if crl.next_update - now < self.validity / 2 - slack {
            CrlState::Near
        } else {
            CrlState::Ok
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CrlState {
    Ok,
    Near,
    Overdue,
    Missing,
}

impl CrlState {
    /// The row's class (the text says the same).
    fn class(self) -> &'static str {
        match self {
            CrlState::Ok => "ok",
            CrlState::Near => "warn",
            CrlState::Overdue | CrlState::Missing => "bad",
        }
    }
}

struct Check {
    name: &'static str,
    ok: bool,
    outcome: String,
}

struct CrlRow {
    shard: u32,
    number: String,
    this_update: String,
    next_update: String,
    class: &'static str,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "console/health.html")]
struct HealthPage {
    c: Chrome,
    now: String,
    ready: bool,
    checks: Vec<Check>,
    crls: Vec<CrlRow>,
    /// `None` when the database did not answer.
    queues: Option<Queues>,
    version: &'static str,
}

/// `GET /console/health`.
pub async fn page(
    v: &Views<'_>,
    schedule: CrlSchedule,
    ca_not_after: Option<OffsetDateTime>,
) -> Result<Response<Full<Bytes>>> {
    let t = v.ctx.lang.text();
    let now = v.vetting.clock().now();
    let readiness = v.vetting.readiness(ca_not_after).await;
    // A database that does not answer is shown as such, not as a 500.
    let stored = v
        .vetting
        .store()
        .read(move |c| Ok((health::queues(c, now)?, health::crls(c)?)))
        .await;
    let (queues, crls) = match stored {
        Ok((q, c)) => (Some(q), Some(c)),
        Err(e) => {
            tracing::warn!(error = %e, "health page: the store did not answer");
            (None, None)
        }
    };
    let checks = readiness
        .checks()
        .into_iter()
        .map(|(name, outcome)| Check {
            name,
            ok: outcome == "ok",
            outcome: outcome.to_owned(),
        })
        .collect();
    let page = HealthPage {
        c: chrome(Some(v.s), v.ctx, t.health),
        now: date(now),
        ready: readiness.ready(),
        checks,
        crls: crls
            .map(|c| crl_rows(v, schedule, &c, now))
            .unwrap_or_default(),
        queues,
        version: env!("CARGO_PKG_VERSION"),
    };
    // 200 either way: the page rendered; `/readyz` is what probes read.
    render(StatusCode::OK, &page)
}

/// The configured shards, then any other stored one (certificates keep
/// the shard they were issued with when `crl_shards` shrinks).
fn crl_rows(
    v: &Views<'_>,
    schedule: CrlSchedule,
    stored: &[CrlSummary],
    now: OffsetDateTime,
) -> Vec<CrlRow> {
    let t = v.ctx.lang.text();
    let mut shards: Vec<u32> = (0..schedule.shards).collect();
    shards.extend(
        stored
            .iter()
            .map(|c| c.shard)
            .filter(|s| *s >= schedule.shards),
    );
    shards
        .into_iter()
        .map(|shard| {
            let crl = stored.iter().find(|c| c.shard == shard);
            let state = schedule.state(crl, now);
            CrlRow {
                shard,
                number: crl.map(|c| c.number.to_string()).unwrap_or_default(),
                this_update: crl.map(|c| date(c.this_update)).unwrap_or_default(),
                next_update: crl.map(|c| date(c.next_update)).unwrap_or_default(),
                class: state.class(),
                state: match state {
                    CrlState::Ok => t.crl_ok,
                    CrlState::Near => t.crl_near,
                    CrlState::Overdue => t.crl_overdue,
                    CrlState::Missing => t.crl_missing,
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crl_is_near_once_the_generator_is_late_and_overdue_after_next_update() {
        let s = CrlSchedule {
            shards: 1,
            validity: Duration::days(7),
            every: Duration::minutes(1),
        };
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(100);
        let crl = |left: Duration| CrlSummary {
            shard: 0,
            number: 1,
            this_update: now + left - Duration::days(7),
            next_update: now + left,
        };
        assert_eq!(s.state(Some(&crl(Duration::days(6))), now), CrlState::Ok);
        // Just past half: the generator's next look reissues it.
        assert_eq!(
            s.state(Some(&crl(Duration::hours(84) - Duration::minutes(1))), now),
            CrlState::Ok
        );
        assert_eq!(s.state(Some(&crl(Duration::days(2))), now), CrlState::Near);
        assert_eq!(s.state(Some(&crl(Duration::ZERO)), now), CrlState::Overdue);
        assert_eq!(s.state(None, now), CrlState::Missing);
    }
}
