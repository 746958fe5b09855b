//! Multi-perspective issuance corroboration (BR 3.2.2.9): every domain
//! validation and every CAA check runs at the primary and at each
//! configured remote perspective at once; the rule in force on the day
//! (`ca::schedule::quorum`) decides whether they agree enough.
//!
//! - The primary's own result must be valid; its error is the answer when
//!   it is not (the existing single-perspective behaviour).
//! - A perspective that errs, times out or is cut short does not
//!   corroborate.
//! - The wait ends as soon as the outcome cannot change any more: when
//!   quorum is certain (the primary is valid and enough corroborations from
//!   enough regions are in) or impossible (too many failures), without
//!   waiting for the rest.
//! - With no perspectives configured nothing is enforced here: `app`
//!   refuses to start a production CA without them, and a development CA
//!   runs single-perspective.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::remote::{RemoteAnswer, RemoteCheck, RemoteOutcome, RemotePerspective};
use super::Validator;
use crate::acme::problem::status_and_type;
use crate::ca::schedule::{self, Quorum};
use crate::error::{Error, ErrorKind, Result};

/// Added to the validation timeout for a perspective's answer: its own
/// check is bounded by the same timeout, then the answer travels back.
const ROUND_TRIP_SECS: u64 = 2;

/// Why a perspective's answer is missing from a decided outcome.
const NOT_AWAITED: &str = "not awaited: the outcome was decided without this answer";

/// The ACME error types a perspective's `invalid` answer can carry back.
const VALIDATION_KINDS: &[ErrorKind] = &[
    ErrorKind::Caa,
    ErrorKind::Connection,
    ErrorKind::Dns,
    ErrorKind::IncorrectResponse,
    ErrorKind::Tls,
    ErrorKind::Unauthorized,
    ErrorKind::Malformed,
    ErrorKind::RejectedIdentifier,
];

/// Applies the rule: `Ok` when the primary is valid and the answers
/// corroborate it, else the error for the client. `asked` counts every
/// perspective asked, also those whose answer is not (yet) in `answers`;
/// those count as not corroborating.
pub fn decide(
    primary: &Result<()>,
    answers: &[RemoteAnswer],
    asked: usize,
    rule: &Quorum,
) -> Result<()> {
    primary.clone()?;
    if asked < rule.perspectives {
        return Err(Error::internal(format!(
            "{asked} remote perspectives configured; {}",
            rule.describe()
        )));
    }
    let corroborating: Vec<&RemoteAnswer> = answers
        .iter()
        .filter(|a| a.outcome.corroborates())
        .collect();
    let needed = Quorum::corroborations_needed(asked);
    if corroborating.len() < needed {
        let tally = count_detail(corroborating.len(), answers.len(), asked);
        return Err(Error::new(
            majority_failure(answers),
            format!("{tally}; {needed} required"),
        ));
    }
    let regions: BTreeSet<_> = corroborating.iter().filter_map(|a| a.region).collect();
    if regions.len() < rule.regions {
        return Err(Error::new(
            majority_failure(answers),
            format!(
                "corroborating perspectives span {} RIR region{}; {} required",
                regions.len(),
                if regions.len() == 1 { "" } else { "s" },
                rule.regions
            ),
        ));
    }
    Ok(())
}

/// "3 of 5 remote perspectives corroborated"; when the outcome was settled
/// before every answer came in, also how many did not and how many were
/// not awaited, so the count is not read as the final tally.
fn count_detail(corroborated: usize, answered: usize, asked: usize) -> String {
    let head = format!("{corroborated} of {asked} remote perspectives corroborated");
    if answered >= asked {
        return head;
    }
    let refused = answered - corroborated;
    format!(
        "{head}, {refused} did not, {} not awaited",
        asked - answered
    )
}

/// Whether `perspectives` can meet `rule` at all: enough of them, in
/// enough distinct RIR regions. A production CA refuses to start otherwise.
pub fn check_deployment(perspectives: &[Arc<dyn RemotePerspective>], rule: &Quorum) -> Result<()> {
    let n = perspectives.len();
    if n < rule.perspectives {
        return Err(Error::internal(format!(
            "{}; {n} configured",
            rule.describe()
        )));
    }
    let regions: BTreeSet<_> = perspectives.iter().map(|p| p.region()).collect();
    if regions.len() < rule.regions {
        return Err(Error::internal(format!(
            "{} in at least {} distinct RIR regions; {} configured",
            rule.describe(),
            rule.regions,
            regions.len()
        )));
    }
    Ok(())
}

/// The ACME error type most non-corroborating perspectives failed with;
/// a tie goes to the one configured first (answers are in configured
/// order). `unauthorized` when none failed.
fn majority_failure(answers: &[RemoteAnswer]) -> ErrorKind {
    let kinds: Vec<ErrorKind> = answers.iter().filter_map(failure_kind).collect();
    let mut best: Option<(ErrorKind, usize)> = None;
    for k in &kinds {
        let n = kinds.iter().filter(|x| *x == k).count();
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((*k, n));
        }
    }
    best.map_or(ErrorKind::Unauthorized, |(k, _)| k)
}

fn failure_kind(answer: &RemoteAnswer) -> Option<ErrorKind> {
    match &answer.outcome {
        RemoteOutcome::Valid => None,
        RemoteOutcome::Unreachable { .. } => Some(ErrorKind::Connection),
        RemoteOutcome::Invalid { problem, .. } => Some(
            VALIDATION_KINDS
                .iter()
                .copied()
                .find(|k| status_and_type(*k).1 == problem)
                .unwrap_or(ErrorKind::Unauthorized),
        ),
    }
}

/// Where a running corroboration stands.
struct Tally<'a> {
    perspectives: &'a [Arc<dyn RemotePerspective>],
    primary: Option<Result<()>>,
    /// By configured position; `None` while outstanding.
    answers: Vec<Option<RemoteAnswer>>,
    rule: Quorum,
}

impl Tally<'_> {
    fn received(&self) -> Vec<RemoteAnswer> {
        self.answers.iter().flatten().cloned().collect()
    }

    /// The decision, once nothing outstanding can change it.
    fn settled(&self) -> Option<Result<()>> {
        let asked = self.perspectives.len();
        let received = self.received();
        let primary = match &self.primary {
            Some(Err(e)) => return Some(Err(e.clone())),
            Some(Ok(())) => Ok(()),
            None => Ok(()),
        };
        let pessimistic = decide(&primary, &received, asked, &self.rule);
        if pessimistic.is_ok() && self.primary.is_some() {
            return Some(pessimistic);
        }
        if decide(&primary, &self.optimistic(), asked, &self.rule).is_err() {
            return Some(pessimistic);
        }
        None
    }

    /// The answers if every outstanding perspective corroborated.
    fn optimistic(&self) -> Vec<RemoteAnswer> {
        self.answers
            .iter()
            .zip(self.perspectives)
            .map(|(a, p)| match a {
                Some(a) => a.clone(),
                None => RemoteAnswer {
                    perspective: p.name().to_owned(),
                    region: Some(p.region()),
                    outcome: RemoteOutcome::Valid,
                    records: Vec::new(),
                    caa: None,
                    checked_at: time::OffsetDateTime::UNIX_EPOCH,
                },
            })
            .collect()
    }
}

impl Validator {
    /// Runs `primary` and asks every perspective `check` at once; returns
    /// the decision and every perspective's answer in configured order
    /// (an answer cut short is `unreachable`, "not awaited").
    pub(super) async fn corroborate<F>(
        &self,
        primary: F,
        check: &RemoteCheck,
    ) -> (Result<()>, Vec<RemoteAnswer>)
    where
        F: Future<Output = Result<()>>,
    {
        let perspectives = &self.perspectives[..];
        let mut tally = Tally {
            perspectives,
            primary: None,
            answers: vec![None; perspectives.len()],
            rule: schedule::quorum(self.clock.now()),
        };
        let mut asks: FuturesUnordered<_> = perspectives
            .iter()
            .enumerate()
            .map(|(i, p)| self.ask(i, p.as_ref(), check))
            .collect();
        let mut primary = std::pin::pin!(primary);
        let decision = loop {
            if let Some(decided) = tally.settled() {
                break decided;
            }
            tokio::select! {
                r = &mut primary, if tally.primary.is_none() => tally.primary = Some(r),
                Some((i, answer)) = asks.next() => tally.answers[i] = Some(answer),
                // Unreachable: with the primary and every answer in, the
                // outcome is settled above.
                else => break Err(Error::internal("corroboration ended undecided")),
            }
        };
        if let (Err(e), false) = (&decision, matches!(tally.primary, Some(Err(_)))) {
            // The primary's own failure is logged where it happened; this
            // detail holds only counts and the rule, never the wire's text.
            tracing::warn!(check = ?check, kind = ?e.kind, detail = %e.detail, "not corroborated");
        }
        (decision, self.answers_as_evidence(tally))
    }

    /// One perspective's answer, named from our configuration, never from
    /// the wire. The mutual-TLS client bounds itself; this bound (the
    /// perspective's own check time plus a round trip) holds for any
    /// implementation.
    async fn ask(
        &self,
        i: usize,
        p: &dyn RemotePerspective,
        check: &RemoteCheck,
    ) -> (usize, RemoteAnswer) {
        let started = Instant::now();
        let secs = self.inner.timeout_secs + ROUND_TRIP_SECS;
        let mut answer = match tokio::time::timeout(Duration::from_secs(secs), p.check(check)).await
        {
            Ok(a) => a,
            Err(_) => self.unreachable(p, format!("timeout after {secs}s")),
        };
        answer.perspective = p.name().to_owned();
        answer.region = Some(p.region());
        if let Some(m) = &self.metrics {
            m.perspective_answer(p.name(), outcome_label(&answer.outcome), started.elapsed());
        }
        (i, answer)
    }

    fn unreachable(&self, p: &dyn RemotePerspective, detail: String) -> RemoteAnswer {
        RemoteAnswer {
            perspective: p.name().to_owned(),
            region: Some(p.region()),
            outcome: RemoteOutcome::Unreachable { detail },
            records: Vec::new(),
            caa: None,
            checked_at: self.clock.now(),
        }
    }

    fn answers_as_evidence(&self, tally: Tally<'_>) -> Vec<RemoteAnswer> {
        tally
            .answers
            .into_iter()
            .zip(tally.perspectives)
            .map(|(a, p)| a.unwrap_or_else(|| self.unreachable(p.as_ref(), NOT_AWAITED.into())))
            .collect()
    }
}

/// The metric label of an outcome: a fixed word, never the wire's text.
fn outcome_label(outcome: &RemoteOutcome) -> &'static str {
    match outcome {
        RemoteOutcome::Valid => "valid",
        RemoteOutcome::Invalid { .. } => "invalid",
        RemoteOutcome::Unreachable { .. } => "unreachable",
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::core::Region;

    fn answer(region: Region, outcome: RemoteOutcome) -> RemoteAnswer {
        RemoteAnswer {
            perspective: format!("p-{region}"),
            region: Some(region),
            outcome,
            records: Vec::new(),
            caa: None,
            checked_at: datetime!(2026-12-15 00:00:00 UTC),
        }
    }

    fn valid(region: Region) -> RemoteAnswer {
        answer(region, RemoteOutcome::Valid)
    }

    fn invalid(region: Region, problem: &str) -> RemoteAnswer {
        answer(
            region,
            RemoteOutcome::Invalid {
                problem: problem.into(),
                detail: "x".into(),
            },
        )
    }

    fn down(region: Region) -> RemoteAnswer {
        answer(
            region,
            RemoteOutcome::Unreachable {
                detail: "refused".into(),
            },
        )
    }

    const DEC: Quorum = Quorum {
        since: Some(datetime!(2026-12-15 00:00:00 UTC)),
        perspectives: 5,
        regions: 2,
    };
    use Region::{Apnic, Arin, Ripe};

    #[test]
    fn all_agree_and_one_disagreeing_is_allowed() {
        let mut a = vec![
            valid(Arin),
            valid(Ripe),
            valid(Apnic),
            valid(Arin),
            valid(Ripe),
        ];
        assert!(decide(&Ok(()), &a, 5, &DEC).is_ok());
        a[4] = invalid(Ripe, "incorrectResponse");
        assert!(decide(&Ok(()), &a, 5, &DEC).is_ok());
        a[3] = down(Arin);
        let e = decide(&Ok(()), &a, 5, &DEC).unwrap_err();
        assert_eq!(
            e.detail,
            "3 of 5 remote perspectives corroborated; 4 required"
        );
    }

    #[test]
    fn a_count_settled_early_says_what_was_not_awaited() {
        let a = vec![valid(Arin), down(Ripe), invalid(Apnic, "dns")];
        let e = decide(&Ok(()), &a, 5, &DEC).unwrap_err();
        assert_eq!(
            e.detail,
            "1 of 5 remote perspectives corroborated, 2 did not, 2 not awaited; 4 required"
        );
    }

    #[test]
    fn the_primary_must_be_valid_itself() {
        let a = vec![
            valid(Arin),
            valid(Ripe),
            valid(Apnic),
            valid(Arin),
            valid(Ripe),
        ];
        let primary = Err(Error::new(ErrorKind::Dns, "no TXT"));
        let e = decide(&primary, &a, 5, &DEC).unwrap_err();
        assert_eq!((e.kind, e.detail.as_str()), (ErrorKind::Dns, "no TXT"));
    }

    #[test]
    fn the_majority_failure_is_the_error_type_and_ties_go_to_the_first() {
        let a = vec![
            valid(Arin),
            invalid(Ripe, "dns"),
            down(Apnic),
            down(Arin),
            invalid(Ripe, "dns"),
            invalid(Ripe, "caa"),
        ];
        assert_eq!(majority_failure(&a), ErrorKind::Dns);
        let tie = vec![down(Apnic), invalid(Ripe, "tls")];
        assert_eq!(majority_failure(&tie), ErrorKind::Connection);
        let tie = vec![invalid(Ripe, "tls"), down(Apnic)];
        assert_eq!(majority_failure(&tie), ErrorKind::Tls);
        let odd = vec![invalid(Ripe, "badNonce")];
        assert_eq!(majority_failure(&odd), ErrorKind::Unauthorized);
        assert_eq!(majority_failure(&[]), ErrorKind::Unauthorized);
        let e = decide(&Ok(()), &a, 6, &DEC).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Dns);
        assert_eq!(
            e.detail,
            "1 of 6 remote perspectives corroborated; 4 required"
        );
    }

    #[test]
    fn six_perspectives_allow_two_failures() {
        let mut a = vec![
            valid(Arin),
            valid(Ripe),
            valid(Apnic),
            valid(Arin),
            down(Ripe),
            down(Apnic),
        ];
        assert!(decide(&Ok(()), &a, 6, &DEC).is_ok());
        a[3] = down(Arin);
        assert!(decide(&Ok(()), &a, 6, &DEC).is_err());
    }

    #[test]
    fn corroborators_must_span_two_regions() {
        let a = vec![
            valid(Arin),
            valid(Arin),
            valid(Arin),
            valid(Arin),
            down(Ripe),
        ];
        let e = decide(&Ok(()), &a, 5, &DEC).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Connection);
        assert_eq!(
            e.detail,
            "corroborating perspectives span 1 RIR region; 2 required"
        );
    }

    #[test]
    fn too_few_perspectives_for_the_date_refuse() {
        let a = vec![valid(Arin), valid(Ripe), valid(Apnic), valid(Arin)];
        let dec14 = schedule::quorum(datetime!(2026-12-14 23:59:59 UTC));
        assert!(decide(&Ok(()), &a, 4, &dec14).is_ok());
        let e = decide(&Ok(()), &a, 4, &DEC).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ServerInternal);
        assert_eq!(
            e.detail,
            "4 remote perspectives configured; BR 3.2.2.9 requires 5 remote perspectives from 2026-12-15"
        );
    }

    #[test]
    fn before_the_first_date_one_perspective_must_agree_and_regions_do_not_count() {
        let early = schedule::quorum(datetime!(2025-09-14 23:59:59 UTC));
        assert!(decide(&Ok(()), &[valid(Arin)], 1, &early).is_ok());
        assert!(decide(&Ok(()), &[down(Arin)], 1, &early).is_err());
    }

    struct Fixed(&'static str, Region);

    impl RemotePerspective for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        fn region(&self) -> Region {
            self.1
        }
        fn check<'a>(
            &'a self,
            _: &'a RemoteCheck,
        ) -> std::pin::Pin<Box<dyn Future<Output = RemoteAnswer> + Send + 'a>> {
            Box::pin(async move { valid(self.1) })
        }
    }

    #[test]
    fn a_deployment_needs_enough_perspectives_in_enough_regions() {
        let p = |name, region| Arc::new(Fixed(name, region)) as Arc<dyn RemotePerspective>;
        let four = vec![p("a", Arin), p("b", Ripe), p("c", Apnic), p("d", Arin)];
        let e = check_deployment(&four, &DEC).unwrap_err();
        assert_eq!(
            e.detail,
            "BR 3.2.2.9 requires 5 remote perspectives from 2026-12-15; 4 configured"
        );
        let dec14 = schedule::quorum(datetime!(2026-12-14 23:59:59 UTC));
        assert!(check_deployment(&four, &dec14).is_ok());
        let one_region = vec![p("a", Arin), p("b", Arin), p("c", Arin), p("d", Arin)];
        let e = check_deployment(&one_region, &dec14).unwrap_err();
        assert!(
            e.detail
                .ends_with("in at least 2 distinct RIR regions; 1 configured"),
            "{}",
            e.detail
        );
        let early = schedule::quorum(datetime!(2025-09-14 23:59:59 UTC));
        assert!(check_deployment(&[], &early).is_ok());
    }

    /// A perspective answering `outcome` after `delay_ms`.
    struct After(&'static str, Region, RemoteOutcome, u64);

    impl RemotePerspective for After {
        fn name(&self) -> &str {
            self.0
        }
        fn region(&self) -> Region {
            self.1
        }
        fn check<'a>(
            &'a self,
            _: &'a RemoteCheck,
        ) -> std::pin::Pin<Box<dyn Future<Output = RemoteAnswer> + Send + 'a>> {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(self.3)).await;
                answer(self.1, self.2.clone())
            })
        }
    }

    fn validator(perspectives: Vec<Arc<dyn RemotePerspective>>) -> Validator {
        let cfg = crate::config::VaConfig {
            resolvers: vec!["127.0.0.1:53".parse().unwrap()],
            timeout_secs: 1,
            ..crate::config::VaConfig::default()
        };
        Validator::new(&cfg)
            .unwrap()
            .with_clock(crate::core::Clock::manual(
                datetime!(2026-12-16 00:00:00 UTC),
            ))
            .with_perspectives(perspectives)
    }

    fn check() -> RemoteCheck {
        RemoteCheck::Challenge {
            method: crate::acme::ChallengeType::Dns01,
            identifier: "example.jp".into(),
            token: "t".into(),
            key_authorization: "t.k".into(),
        }
    }

    fn p(
        name: &'static str,
        region: Region,
        outcome: RemoteOutcome,
        ms: u64,
    ) -> Arc<dyn RemotePerspective> {
        Arc::new(After(name, region, outcome, ms))
    }

    #[tokio::test]
    async fn an_impossible_quorum_returns_without_waiting_for_the_rest() {
        let down = || RemoteOutcome::Unreachable { detail: "x".into() };
        let v = validator(vec![
            p("a", Arin, down(), 10),
            p("b", Ripe, down(), 20),
            p("c", Apnic, RemoteOutcome::Valid, 60_000),
            p("d", Arin, RemoteOutcome::Valid, 60_000),
            p("e", Ripe, RemoteOutcome::Valid, 60_000),
        ]);
        let started = std::time::Instant::now();
        let primary = std::future::pending::<Result<()>>();
        let (result, answers) = v.corroborate(primary, &check()).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let e = result.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Connection);
        assert_eq!(
            e.detail,
            "0 of 5 remote perspectives corroborated, 2 did not, 3 not awaited; 4 required"
        );
        assert_eq!(answers.len(), 5);
        assert_eq!(answers[0].perspective, "a");
        assert_eq!(
            answers[4].outcome,
            RemoteOutcome::Unreachable {
                detail: NOT_AWAITED.into()
            }
        );
    }

    #[tokio::test]
    async fn a_certain_quorum_waits_for_the_primary_but_not_the_straggler() {
        let v = validator(vec![
            p("a", Arin, RemoteOutcome::Valid, 10),
            p("b", Ripe, RemoteOutcome::Valid, 10),
            p("c", Apnic, RemoteOutcome::Valid, 10),
            p("d", Arin, RemoteOutcome::Valid, 10),
            p("e", Ripe, RemoteOutcome::Valid, 60_000),
        ]);
        let started = std::time::Instant::now();
        let primary = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(())
        };
        let (result, answers) = v.corroborate(primary, &check()).await;
        assert!(result.is_ok());
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(1),
            "{took:?}"
        );
        assert_eq!(
            answers[4].outcome,
            RemoteOutcome::Unreachable {
                detail: NOT_AWAITED.into()
            }
        );
        // A failing primary decides at once, whatever the perspectives say.
        let failing = async { Err(Error::new(ErrorKind::Dns, "no TXT")) };
        let (result, _) = v.corroborate(failing, &check()).await;
        assert_eq!(result.unwrap_err().kind, ErrorKind::Dns);
    }

    #[tokio::test]
    async fn a_perspective_that_never_answers_times_out_as_unreachable() {
        let v = validator(vec![
            p("a", Arin, RemoteOutcome::Valid, 10),
            p("b", Ripe, RemoteOutcome::Valid, 3_600_000),
        ])
        .with_clock(crate::core::Clock::manual(
            datetime!(2025-09-15 00:00:00 UTC),
        ));
        let (result, answers) = v.corroborate(async { Ok(()) }, &check()).await;
        // Two asked: one may fail, but the regions fall short.
        assert_eq!(
            result.unwrap_err().detail,
            "corroborating perspectives span 1 RIR region; 2 required"
        );
        assert_eq!(
            answers[1].outcome,
            RemoteOutcome::Unreachable {
                detail: "timeout after 3s".into()
            }
        );
    }

    #[test]
    fn missing_answers_count_as_not_corroborating() {
        let a = vec![valid(Arin), valid(Ripe), valid(Apnic)];
        let e = decide(&Ok(()), &a, 5, &DEC).unwrap_err();
        assert_eq!(
            e.detail,
            "3 of 5 remote perspectives corroborated, 0 did not, 2 not awaited; 4 required"
        );
    }
}
