//! One check as the perspective performs it: the local validator, its
//! result as an ACME error type, and the evidence.

use super::Perspective;
use crate::acme::problem::Problem;
use crate::error::{Error, Result};
use crate::va::caa::CaaRequest;
use crate::va::remote::{RemoteAnswer, RemoteCheck, RemoteOutcome};
use crate::va::ValidationRequest;

impl Perspective {
    /// Runs `check` and answers with what was seen. The answer's
    /// perspective name and region are the primary's to set.
    pub async fn check(&self, check: &RemoteCheck) -> RemoteAnswer {
        let now = || self.clock.now();
        match check {
            RemoteCheck::Challenge {
                method,
                identifier,
                token,
                key_authorization,
            } => {
                let req = ValidationRequest {
                    method: *method,
                    identifier: identifier.clone(),
                    token: token.clone(),
                    key_authorization: key_authorization.clone(),
                };
                let out = self.validator.validate(&req).await;
                answer(&out.result, out.records, None, now())
            }
            RemoteCheck::Caa {
                name,
                account_uri,
                method,
                caa_identities,
            } => {
                let req = CaaRequest {
                    name,
                    account_uri,
                    method: *method,
                    caa_identities,
                };
                let (result, evidence) = self.validator.check_caa(&req).await;
                answer(&result, Vec::new(), Some(evidence), now())
            }
        }
    }
}

fn answer(
    result: &Result<()>,
    records: Vec<crate::va::ValidationRecord>,
    caa: Option<crate::va::caa::CaaEvidence>,
    checked_at: time::OffsetDateTime,
) -> RemoteAnswer {
    RemoteAnswer {
        perspective: String::new(),
        region: None,
        outcome: outcome(result),
        records,
        caa,
        checked_at,
    }
}

/// `valid`, or the ACME error type and detail as the primary would show
/// them (an internal error's detail stays in this process's log).
fn outcome(result: &Result<()>) -> RemoteOutcome {
    match result {
        Ok(()) => RemoteOutcome::Valid,
        Err(e) => invalid(e),
    }
}

fn invalid(e: &Error) -> RemoteOutcome {
    let problem = Problem::from_error(e);
    let kind = problem
        .kind
        .trim_start_matches(crate::acme::problem::ACME_ERROR_NS);
    RemoteOutcome::Invalid {
        problem: kind.to_owned(),
        detail: problem.detail,
    }
}
