//! Authorizations and challenges (RFC 8555 §7.5): answering a challenge
//! starts an asynchronous validation by the VA.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

use super::{owned_by, Ra};
use crate::ca;
use crate::core::{Account, Authorization, AuthzId, Challenge, ChallengeId, ChallengeStatus};
use crate::error::{Error, Result};
use crate::sa;
use crate::va::ValidationRequest;

/// Beyond twice the VA's own bound, a validation still `processing`
/// belongs to a process that died (the margin covers clock skew between
/// instances and a slow database); another instance takes it over.
const STALE_VALIDATION_MARGIN: Duration = Duration::seconds(10);

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
                authz.status(sa::now())
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
    /// An answer that waits tells the client nothing until the outcome is
    /// stored, so the move to `processing` is committed with the outcome,
    /// in one write, instead of in a commit of its own before the
    /// validation. Only if the validation outlasts the wait is `processing`
    /// committed first, before the answer says so.
    pub async fn respond_challenge(
        &self,
        acct: &Account,
        id: ChallengeId,
    ) -> Result<(Authorization, Challenge)> {
        let now = sa::now();
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
        let thumbprint = acct.key_thumbprint.clone();
        // No claim while this process validates the challenge already (the
        // client answered twice): the second answer only records the
        // start, and the running validation stores the outcome.
        match self.inner.validating.claim(id) {
            Some(claim) if !unanswered_sibling => {
                let validation = self.spawn_validation(thumbprint, authz, chall, now, claim);
                // Dropping the handle at the deadline leaves the task running.
                let finished = tokio::time::timeout(self.challenge_wait(), validation).await;
                if let Ok(Ok(Some(stored))) = finished {
                    return own_challenge(acct, Some(stored), id);
                }
                // Still running (or its write failed): `processing` is
                // committed before the answer says so. If the outcome was
                // stored meanwhile, this changes nothing.
                self.store()
                    .run(move |c| sa::orders::start_challenge(c, id, now))
                    .await?;
            }
            claim => {
                let started = self
                    .store()
                    .run(move |c| sa::orders::start_challenge(c, id, now))
                    .await?;
                if let (true, Some(claim)) = (started, claim) {
                    drop(self.spawn_validation(thumbprint, authz, chall, now, claim));
                }
            }
        }
        self.challenge(acct, id).await
    }

    fn challenge_wait(&self) -> std::time::Duration {
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
        thumbprint: String,
        authz: Authorization,
        chall: Challenge,
        started: OffsetDateTime,
        claim: Claim,
    ) -> tokio::task::JoinHandle<Option<Authorization>> {
        use tracing::Instrument;
        let ra = self.clone();
        // In the span of the request that started it, so its log lines
        // carry that request id.
        tokio::spawn(
            async move {
                let stored = ra.validate(&thumbprint, &authz, &chall, started).await;
                drop(claim);
                match stored {
                    Ok(stored) => stored,
                    Err(e) => {
                        // The challenge stays as it was (`pending` if only a
                        // waiting answer had started it); the stale sweep
                        // retries a `processing` one.
                        tracing::error!(challenge = chall.id.0, error = %e, "recording validation failed");
                        None
                    }
                }
            }
            .in_current_span(),
        )
    }

    async fn validate(
        &self,
        thumbprint: &str,
        authz: &Authorization,
        chall: &Challenge,
        started: OffsetDateTime,
    ) -> Result<Option<Authorization>> {
        let req = ValidationRequest {
            method: chall.kind,
            identifier: authz.identifier.clone(),
            token: chall.token.clone(),
            // RFC 8555 §8.1.
            key_authorization: format!("{}.{}", chall.token, thumbprint),
        };
        let outcome = self.inner.va.validate(&req).await;
        self.store()
            .metrics()
            .validation(chall.kind.as_str(), &outcome.result);
        let now = sa::now();
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
            records: serde_json::to_value(&outcome.records)
                .map_err(|e| Error::internal(format!("encoding validation records: {e}")))?,
            valid_until: now + reuse,
        };
        let (cid, aid) = (chall.id, authz.id);
        self.store()
            .run(move |c| {
                // The start, unless committed already (an answer that did
                // not wait, or outlasted its wait), commits with the outcome.
                sa::orders::start_challenge(c, cid, started)?;
                sa::orders::finish_challenge(c, cid, aid, result, now)?;
                // Inside the same write: on SQLite the writer's connection
                // holds these pages already, where a reader's would fetch
                // them again after the commit. A failed read-back must not
                // undo the outcome; a waiting answer then reads again.
                Ok(sa::orders::load_authz(c, aid).ok().flatten())
            })
            .await
    }

    /// Returns orders whose finalizing process died to `ready`.
    pub async fn recover_stale_finalizations(&self) -> Result<usize> {
        let now = sa::now();
        // Finalize is bounded by the request timeout; twice that and more
        // is certainly abandoned.
        let timeout = Duration::seconds(2 * self.cfg().server.request_timeout_secs as i64 + 60);
        let stale_before = now - timeout;
        self.store()
            .run(move |c| sa::orders::recover_stale_finalizations(c, stale_before, now))
            .await
    }

    /// Picks up validations another (dead) process left `processing`.
    pub async fn resume_stale_validations(&self) -> Result<usize> {
        let now = sa::now();
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
                drop(self.spawn_validation(acct.key_thumbprint, authz, chall, now, claim));
                resumed += 1;
            }
        }
        Ok(resumed)
    }
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

/// The challenges this process is validating. A challenge's start is
/// committed with its outcome when its answer waits, so the stored status
/// cannot tell a second answer that a validation already runs; this set
/// can, within the process. (Another instance may validate the same
/// challenge once more: the first outcome stored stands.)
#[derive(Default)]
pub(super) struct Validating(Mutex<HashSet<ChallengeId>>);

impl Validating {
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
