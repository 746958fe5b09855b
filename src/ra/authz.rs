//! Authorizations and challenges (RFC 8555 §7.5): answering a challenge
//! starts an asynchronous validation by the VA.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

use super::events::Audit;
use super::{owned_by, Ra};
use crate::ca;
use crate::core::{
    Account, Authorization, AuthzId, Challenge, ChallengeId, ChallengeStatus, OrganizationId,
};
use crate::error::{Error, Result};
use crate::sa;
use crate::va::{ValidationOutcome, ValidationRequest};

/// Beyond twice the VA's own bound, a validation still `processing`
/// belongs to a process that died (the margin covers clock skew between
/// instances and a slow database); another instance takes it over.
const STALE_VALIDATION_MARGIN: Duration = Duration::seconds(10);
/// First and longest pause between attempts to store an outcome.
const STORE_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(100);
const STORE_RETRY_CAP: std::time::Duration = std::time::Duration::from_secs(5);

impl Ra {
    pub async fn authorization(&self, acct: &Account, id: AuthzId) -> Result<Authorization> {
        let authz = self
            .store()
            .read(move |c| sa::orders::load_authz(c, id))
            .await?
            .ok_or_else(|| Error::not_found("no such authorization"))?;
        owned_by(authz.account_id, acct, "authorization")?;
        Ok(authz)
    }

    /// RFC 8555 §7.5.2.
    pub async fn deactivate_authorization(
        &self,
        acct: &Account,
        id: AuthzId,
    ) -> Result<Authorization> {
        let authz = self.authorization(acct, id).await?;
        let changed = self
            .store()
            .run(move |c| sa::orders::deactivate_authz(c, id))
            .await?;
        if !changed {
            return Err(Error::malformed(format!(
                "an authorization that is {} cannot be deactivated",
                authz.status(self.clock().now())
            )));
        }
        self.authorization(acct, id).await
    }

    /// The challenge and its authorization, checked to be the account's.
    pub async fn challenge(
        &self,
        acct: &Account,
        id: ChallengeId,
    ) -> Result<(Authorization, Challenge)> {
        let authz = self
            .store()
            .read(move |c| sa::orders::load_authz_of_challenge(c, id))
            .await?;
        own_challenge(acct, authz, id)
    }

    /// Responding to a challenge (RFC 8555 §7.5.1): a pending challenge of
    /// a pending authorization moves to `processing` and is validated in
    /// the background; any other state is returned unchanged.
    ///
    /// The answer waits up to `acme.challenge_wait_ms` for the validation,
    /// so that it and the client's first poll usually carry the result:
    /// clients sleep after a poll that finds the authorization still
    /// pending (certbot a whole second). Clients answer an order's
    /// challenges one after another, so the answer waits only when no
    /// other authorization of the order is still unanswered: the
    /// validations of the earlier ones run meanwhile, as they would
    /// without the wait.
    ///
    /// The move to `processing` is committed before anything is fetched,
    /// as a conditional update only one answer wins, so one validation
    /// runs per challenge however many instances the answers reach.
    pub async fn respond_challenge(
        &self,
        acct: &Account,
        id: ChallengeId,
    ) -> Result<(Authorization, Challenge)> {
        self.require_current_terms(acct)?;
        let now = self.clock().now();
        let (authz, unanswered_sibling) = self
            .store()
            .read(move |c| {
                let Some(authz) = sa::orders::load_authz_of_challenge(c, id)? else {
                    return Ok((None, false));
                };
                let sibling = sa::orders::has_unanswered_sibling(c, authz.id, now)?;
                Ok((Some(authz), sibling))
            })
            .await?;
        let (authz, chall) = own_challenge(acct, authz, id)?;
        if chall.status != ChallengeStatus::Pending
            || authz.status(now) != crate::acme::AuthorizationStatus::Pending
        {
            return Ok((authz, chall));
        }
        // Refused before the claim, so a refusal changes nothing.
        self.limit_validations_in_flight(self.inner.validating.len())?;
        let claimed = self
            .store()
            .run(move |c| sa::orders::start_challenge(c, id, now))
            .await?;
        // Another answer claimed it first; its validation stores the outcome.
        let Some(claim) = claimed.then(|| self.inner.validating.claim(id)).flatten() else {
            return self.challenge(acct, id).await;
        };
        let validation = self.spawn_validation(acct, authz, chall, claim);
        if !unanswered_sibling {
            // Dropping the handle at the deadline leaves the task running.
            let finished = tokio::time::timeout(self.challenge_wait(), validation).await;
            if let Ok(Ok(Some(stored))) = finished {
                return own_challenge(acct, Some(stored), id);
            }
        }
        self.challenge(acct, id).await
    }

    pub(super) fn challenge_wait(&self) -> std::time::Duration {
        let cfg = self.cfg();
        std::time::Duration::from_millis(cfg.acme.challenge_wait_ms)
            .min(std::time::Duration::from_secs(cfg.server.request_timeout_secs) / 2)
    }

    /// Validates in a task of its own, which outlives the request; the
    /// handle ends when the outcome is stored (or storing it failed), with
    /// the authorization as the outcome's write left it. The claim is let
    /// go then.
    fn spawn_validation(
        &self,
        acct: &Account,
        authz: Authorization,
        chall: Challenge,
        claim: Claim,
    ) -> tokio::task::JoinHandle<Option<Authorization>> {
        use tracing::Instrument;
        let ra = self.clone();
        let owner = Owner {
            thumbprint: acct.key_thumbprint.clone(),
            organization: acct.organization(),
        };
        let request_id = crate::http::current_request_id();
        // In the span of the request that started it, so its log lines
        // and its audit event carry that request id.
        tokio::spawn(
            crate::http::within_request(request_id, async move {
                let stored = ra.validate(&owner, &authz, &chall).await;
                drop(claim);
                match stored {
                    Ok(stored) => stored,
                    Err(e) => {
                        // Only the evidence could not be encoded; the
                        // challenge stays `processing` for the sweep.
                        tracing::error!(challenge = chall.id.0, error = %e, "recording validation failed");
                        None
                    }
                }
            })
            .in_current_span(),
        )
    }

    async fn validate(
        &self,
        owner: &Owner,
        authz: &Authorization,
        chall: &Challenge,
    ) -> Result<Option<Authorization>> {
        let req = ValidationRequest {
            method: chall.kind,
            identifier: authz.identifier.clone(),
            token: chall.token.clone(),
            // RFC 8555 §8.1.
            key_authorization: format!("{}.{}", chall.token, owner.thumbprint),
        };
        let outcome = self.inner.va.validate(&req).await;
        if outcome.result.is_err() {
            self.validation_failed(authz.account_id).await;
        }
        self.store()
            .metrics()
            .validation(chall.kind.as_str(), &outcome.result);
        let now = self.clock().now();
        let error = match &outcome.result {
            Ok(()) => None,
            Err(e) => Some(crate::acme::problem::Problem::from_error(e).to_json()),
        };
        tracing::info!(
            challenge = chall.id.0,
            authz = authz.id.0,
            method = %chall.kind,
            identifier = %authz.identifier,
            ok = error.is_none(),
            "validation finished"
        );
        let reuse = Duration::days(self.cfg().acme.authz_reuse_days as i64)
            .min(ca::schedule::max_dcv_reuse(now));
        let result = sa::orders::ValidationResult {
            error,
            records: validation_evidence(&outcome)?,
            valid_until: now + reuse,
        };
        let (cid, aid) = (chall.id, authz.id);
        let account = authz.account_id;
        let audit = Audit::account(account, owner.organization, now);
        let decision = serde_json::json!({
            "authorization": aid,
            "challenge": cid,
            "identifier": authz.order_name(),
            "method": chall.kind.as_str(),
            "outcome": if outcome.result.is_ok() { "valid" } else { "invalid" },
            "error": result.error,
            // Where the evidence is: the challenge's validation records,
            // shown with its authorization at /admin/orders/{id}.
            "evidence": format!("challenge:{cid}"),
        });
        let outcome = Outcome {
            challenge: cid,
            authz: aid,
            result,
            decision,
        };
        Ok(self.store_outcome(outcome, audit, now).await)
    }

    /// Stores a validation's outcome, trying again until the database
    /// takes it: the challenge is `processing` meanwhile, so a failure
    /// whose write failed never becomes a second attempt (the claim held
    /// by the caller keeps this process's sweep off it, and the outcome
    /// written first stands against any other's).
    async fn store_outcome(
        &self,
        outcome: Outcome,
        audit: Audit,
        now: OffsetDateTime,
    ) -> Option<Authorization> {
        let (cid, aid) = (outcome.challenge, outcome.authz);
        let mut pause = STORE_RETRY_FIRST;
        loop {
            let (result, decision) = (outcome.result.clone(), outcome.decision.clone());
            let audit = audit.clone();
            let stored = self
                .store()
                .run(move |c| {
                    sa::orders::finish_challenge(c, cid, aid, result, now, |c| {
                        audit.record(
                            c,
                            "authorization.validate",
                            format!("authorization:{aid}"),
                            None,
                            decision,
                        )
                    })?;
                    // Inside the same write: on SQLite the writer's
                    // connection holds these pages already, where a
                    // reader's would fetch them again after the commit. A
                    // failed read-back must not undo the outcome; a waiting
                    // answer then reads again.
                    Ok(sa::orders::load_authz(c, aid).ok().flatten())
                })
                .await;
            match stored {
                Ok(stored) => return stored,
                Err(e) => {
                    self.store().metrics().validation_store_retry();
                    tracing::warn!(challenge = cid.0, error = %e, retry_in = ?pause, "storing a validation outcome failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(STORE_RETRY_CAP);
                }
            }
        }
    }

    /// Returns orders whose finalizing process died to `ready`.
    pub async fn recover_stale_finalizations(&self) -> Result<usize> {
        let now = self.clock().now();
        // Finalize is bounded by the request timeout; twice that and more
        // is certainly abandoned. The margin is the clock skew instances
        // are allowed (well within a lease, three sweeps; with the default
        // sweep every 30 s it is a minute).
        let cfg = &self.cfg().server;
        let timeout = Duration::seconds(
            2 * cfg.request_timeout_secs as i64 + 2 * cfg.sweep_secs.max(1) as i64,
        );
        let stale_before = now - timeout;
        self.store()
            .run(move |c| sa::orders::recover_stale_finalizations(c, stale_before, now))
            .await
    }

    /// Picks up validations another (dead) process left `processing`.
    pub async fn resume_stale_validations(&self) -> Result<usize> {
        let now = self.clock().now();
        let stale_before = now
            - Duration::seconds(2 * self.cfg().va.timeout_secs as i64)
            - STALE_VALIDATION_MARGIN;
        let ids = self
            .store()
            .read(move |c| sa::orders::stale_challenges(c, stale_before, 100))
            .await?;
        let mut resumed = 0;
        for id in ids {
            let claimed = self
                .store()
                .run(move |c| sa::orders::reclaim_challenge(c, id, stale_before, now))
                .await?;
            if !claimed {
                continue;
            }
            let Some(authz_id) = self
                .store()
                .read(move |c| sa::orders::challenge_authz(c, id))
                .await?
            else {
                continue;
            };
            let Some(authz) = self
                .store()
                .read(move |c| sa::orders::load_authz(c, authz_id))
                .await?
            else {
                continue;
            };
            let owner = authz.account_id;
            let Some(acct) = self.store().account(owner).await? else {
                continue;
            };
            let Some(chall) = authz.challenges.iter().find(|c| c.id == id).cloned() else {
                continue;
            };
            // A validation of it running here already stores the outcome.
            if let Some(claim) = self.inner.validating.claim(id) {
                // Nobody waits on a resumed validation.
                drop(self.spawn_validation(&acct, authz, chall, claim));
                resumed += 1;
            }
        }
        Ok(resumed)
    }
}

/// The evidence stored with a challenge: the primary's records as an
/// array, as always; with remote perspectives (BR 3.2.2.9) an object
/// `{"records": [...], "perspectives": [...]}` that also keeps each
/// perspective's answer.
fn validation_evidence(outcome: &ValidationOutcome) -> Result<serde_json::Value> {
    let encode =
        |e: serde_json::Error| Error::internal(format!("encoding validation records: {e}"));
    let records = serde_json::to_value(&outcome.records).map_err(encode)?;
    if outcome.perspectives.is_empty() {
        return Ok(records);
    }
    let perspectives = serde_json::to_value(&outcome.perspectives).map_err(encode)?;
    Ok(serde_json::json!({ "records": records, "perspectives": perspectives }))
}

/// The challenge `id` of `authz`, if the account owns it.
fn own_challenge(
    acct: &Account,
    authz: Option<Authorization>,
    id: ChallengeId,
) -> Result<(Authorization, Challenge)> {
    let authz = authz.ok_or_else(|| Error::not_found("no such challenge"))?;
    owned_by(authz.account_id, acct, "challenge")?;
    let chall = authz
        .challenges
        .iter()
        .find(|c| c.id == id)
        .cloned()
        .ok_or_else(|| Error::not_found("no such challenge"))?;
    Ok((authz, chall))
}

/// What a validation needs of the account that owns the authorization.
struct Owner {
    /// For the key authorization (RFC 8555 §8.1).
    thumbprint: String,
    /// For the audit event.
    organization: Option<OrganizationId>,
}

/// A finished validation, as it is stored.
struct Outcome {
    challenge: ChallengeId,
    authz: AuthzId,
    result: sa::orders::ValidationResult,
    /// The audit event's details.
    decision: serde_json::Value,
}

/// The challenges this process is validating (or storing the outcome
/// of), so that its stale sweep never starts a second validation of one;
/// the database claim keeps other answers and instances off it.
#[derive(Default)]
pub(super) struct Validating(Mutex<HashSet<ChallengeId>>);

impl Validating {
    /// Validations running in this process.
    pub(super) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// `None` while a validation of `id` runs in this process.
    fn claim(self: &Arc<Self>, id: ChallengeId) -> Option<Claim> {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(id).then(|| Claim {
            set: self.clone(),
            id,
        })
    }
}

/// A running validation's hold on its challenge, let go when dropped.
struct Claim {
    set: Arc<Validating>,
    id: ChallengeId,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut set = self.set.0.lock().unwrap_or_else(|e| e.into_inner());
        set.remove(&self.id);
    }
}
