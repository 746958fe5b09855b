//! Staff's side of the e-mail outbox: the notices that failed for good
//! (`mail.max_attempts` reached, or a permanent refusal), with their
//! attempts, and sending one again — audited as the member who did.

use super::Vetting;
use crate::error::{Error, ErrorKind, Result};
use crate::sa::outbox::{Attempt, Notice};
use crate::sa::{self, audit::NewEvent};

/// A failed notice and every attempt made on it, oldest first.
pub struct FailedNotice {
    pub notice: Notice,
    pub attempts: Vec<Attempt>,
}

impl Vetting {
    /// Failed notices, newest first, `limit` of them with ids below
    /// `before` (keyset); and how many wait to be sent.
    pub async fn failed_notices(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<(Vec<FailedNotice>, i64)> {
        self.store()
            .read(move |c| {
                let failed = sa::outbox::failed(c, before, limit)?
                    .into_iter()
                    .map(|notice| {
                        let attempts = sa::outbox::attempts(c, notice.id)?;
                        Ok(FailedNotice { notice, attempts })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok((failed, sa::outbox::queued_count(c)?))
            })
            .await
    }

    /// Puts failed notice `id` back in the queue, due now, and audits it.
    /// Conflict when it is not failed (sent, or already queued again).
    pub async fn resend_notice(&self, actor: &str, id: i64) -> Result<()> {
        let actor = actor.to_owned();
        let now = self.clock.now();
        let request = crate::http::current_request_id();
        self.store()
            .write(move |c| {
                if !sa::outbox::resend(c, id, now)? {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("notice {id} is not a failed notice"),
                    ));
                }
                sa::audit::append(
                    c,
                    NewEvent {
                        actor: &actor,
                        action: "notice.resend",
                        organization: None,
                        subject: format!("notice:{id}"),
                        reason: None,
                        details: serde_json::json!({}),
                        request_id: request,
                    },
                    now,
                )
            })
            .await
    }
}
