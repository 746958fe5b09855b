//! The e-mail delivery worker, on every instance: every `mail.poll_secs`
//! it leases due notices from the outbox (`sa::outbox`) one at a time,
//! sends each through the relay (`mail::smtp`) and records the attempt:
//! sent; tried again after a pause that doubles up to a cap; or given up
//! (a permanent refusal, or `mail.max_attempts` spent) and listed as
//! failed for staff.
//!
//! Delivery is at least once: a notice's lease keeps other instances off
//! it while it is sent, but a relay that took a message whose answer was
//! lost, or a crash between the relay's answer and its record, sends it
//! again. Its Message-ID (`trustgate-notice-ID`) is the same every time,
//! so a mail system can tell.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

use crate::config::{Config, MailConfig};
use crate::error::Result;
use crate::mail::{smtp::File, Mailer, SendError};
use crate::sa::outbox::{self, Notice, Outcome};
use crate::sa::Store;

/// How often recording an attempt is tried before the lease is left to
/// expire (then the notice is sent again).
const RECORD_TRIES: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::ZERO,
];

/// When a failed notice is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
}

impl Backoff {
    pub fn from_config(cfg: &MailConfig) -> Backoff {
        Backoff {
            base: Duration::from_secs(cfg.retry_base_secs),
            cap: Duration::from_secs(cfg.retry_cap_secs),
            max_attempts: cfg.max_attempts,
        }
    }

    /// The pause after the `failed`-th failed attempt (1 for the first):
    /// `base`, doubled for each further one, at most `cap`.
    pub fn pause(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << doublings)
            .map_or(self.cap, |p| p.min(self.cap))
    }

    /// What becomes of a notice whose attempt number `attempt` (1 for the
    /// first) failed with `error` at `now`.
    pub fn after(&self, attempt: u32, error: SendError, now: OffsetDateTime) -> Outcome {
        match error {
            SendError::Permanent(error) => Outcome::Failed { error },
            SendError::Transient(error) if attempt >= self.max_attempts => Outcome::Failed {
                error: format!("{error} (gave up after {attempt} attempts)"),
            },
            SendError::Transient(error) => Outcome::Retry {
                error,
                next: now + self.pause(attempt),
            },
        }
    }
}

/// Delivers the outbox through the relay.
#[derive(Clone)]
pub struct Delivery {
    store: Store,
    mailer: Mailer,
    instance: Arc<str>,
    backoff: Backoff,
    poll: Duration,
    batch: i64,
    /// How long a notice stays leased to this instance while it is sent:
    /// longer than a send may take.
    lease: Duration,
}

impl Delivery {
    /// The worker of `cfg.mail`; None without `[mail]`. A faulty section
    /// (an unreadable password file, a bad From address) stops startup.
    pub fn from_config(cfg: &Config, store: Store, instance: Arc<str>) -> Result<Option<Delivery>> {
        let Some(mail) = &cfg.mail else {
            tracing::info!("no [mail] section: e-mail notices are off (the CA writes none; the portal's stay in the outbox, unsent)");
            return Ok(None);
        };
        let mailer = Mailer::from_config(mail, &host_of(&cfg.base_url()), |p| cfg.data_path(p))?;
        tracing::info!(relay = ?mailer, "e-mail notices on");
        let send = Duration::from_secs(mail.send_timeout_secs);
        Ok(Some(Delivery {
            store,
            mailer,
            instance,
            backoff: Backoff::from_config(mail),
            poll: Duration::from_secs(mail.poll_secs),
            batch: i64::from(mail.batch),
            lease: 2 * send + Duration::from_secs(30),
        }))
    }

    /// Runs rounds every `mail.poll_secs` until `shutdown`.
    pub fn spawn(self, mut shutdown: watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.wait_for(|s| *s) => break,
                }
                if let Err(e) = self.round().await {
                    tracing::warn!(error = %e, "e-mail delivery round failed");
                }
            }
        });
    }

    /// One round: every due notice this instance wins, up to `mail.batch`;
    /// returns how many were sent.
    pub async fn round(&self) -> Result<usize> {
        let (now, batch) = (self.store.clock().now(), self.batch);
        let due = self.store.read(move |c| outbox::due(c, now, batch)).await?;
        let mut sent = 0;
        for id in due {
            if let Some(notice) = self.lease(id).await? {
                sent += usize::from(self.deliver(notice).await);
            }
        }
        let queued = self.store.read(outbox::queued_count).await?;
        self.store.metrics().set_mail_queue(queued);
        Ok(sent)
    }

    /// Notice `id`, if this instance wins its lease.
    async fn lease(&self, id: i64) -> Result<Option<Notice>> {
        let (holder, now) = (self.instance.clone(), self.store.clock().now());
        let until = now + self.lease;
        self.store
            .run(move |c| outbox::lease(c, id, &holder, now, until))
            .await
    }

    /// Sends a leased notice and records the attempt; true when sent.
    async fn deliver(&self, notice: Notice) -> bool {
        let message_id = format!("trustgate-notice-{}", notice.id);
        let files: Vec<File<'_>> = notice
            .attachments
            .iter()
            .map(|a| File {
                name: &a.filename,
                content_type: &a.content_type,
                content: &a.content,
            })
            .collect();
        let result = self
            .mailer
            .send_with(
                &message_id,
                &notice.recipient,
                &notice.subject,
                &notice.body,
                &files,
            )
            .await;
        let now = self.store.clock().now();
        let attempt = u32::try_from(notice.attempts).unwrap_or(0) + 1;
        let outcome = match result {
            Ok(()) => Outcome::Sent,
            Err(e) => self.backoff.after(attempt, e, now),
        };
        self.log(&notice, attempt, &outcome);
        self.record(notice.id, now, outcome.clone()).await;
        outcome == Outcome::Sent
    }

    fn log(&self, notice: &Notice, attempt: u32, outcome: &Outcome) {
        let (id, kind) = (notice.id, notice.kind.as_str());
        let metric = match outcome {
            Outcome::Sent => {
                tracing::info!(notice = id, kind, attempt, "e-mail notice sent");
                "sent"
            }
            Outcome::Retry { error, next } => {
                tracing::warn!(notice = id, kind, attempt, %error, retry_at = %next, "e-mail notice not sent; will retry");
                "retry"
            }
            Outcome::Failed { error } => {
                tracing::error!(notice = id, kind, attempt, %error, "e-mail notice failed; staff may resend it");
                "failed"
            }
        };
        self.store.metrics().mail_attempt(metric);
    }

    /// Records the attempt, trying a few times: an unrecorded sent notice
    /// would be sent again after its lease.
    async fn record(&self, id: i64, now: OffsetDateTime, outcome: Outcome) {
        for pause in RECORD_TRIES {
            let (holder, o) = (self.instance.clone(), outcome.clone());
            match self
                .store
                .run(move |c| outbox::record_attempt(c, id, &holder, now, &o))
                .await
            {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(notice = id, error = %e, "recording an e-mail attempt failed");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// The host of a base URL, for the EHLO name.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    host.trim_matches(|c| c == '[' || c == ']').to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        base: Duration::from_secs(60),
        cap: Duration::from_secs(3600),
        max_attempts: 5,
    };

    /// 1, 2, 4, 8, 16, 32 minutes, then the cap of an hour, however many.
    #[test]
    fn pauses_double_up_to_the_cap() {
        let minutes: Vec<u64> = (1..=8).map(|n| BACKOFF.pause(n).as_secs() / 60).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(BACKOFF.pause(u32::MAX), Duration::from_secs(3600));
        assert_eq!(BACKOFF.pause(0), Duration::from_secs(60));
    }

    /// A transient failure is retried until the attempts run out; a
    /// permanent one is given up at once.
    #[test]
    fn outcomes_follow_the_error_and_the_count() {
        let now = crate::core::Clock::system().now();
        let down = || SendError::Transient("connection refused".into());
        assert_eq!(
            BACKOFF.after(3, down(), now),
            Outcome::Retry {
                error: "connection refused".into(),
                next: now + Duration::from_secs(240),
            }
        );
        match BACKOFF.after(5, down(), now) {
            Outcome::Failed { error } => assert!(error.contains("after 5 attempts"), "{error}"),
            other => panic!("{other:?}"),
        }
        let refused = SendError::Permanent("550 5.1.1 no such user".into());
        assert_eq!(
            BACKOFF.after(1, refused, now),
            Outcome::Failed {
                error: "550 5.1.1 no such user".into()
            }
        );
    }

    #[test]
    fn the_hello_name_is_the_base_url_host() {
        assert_eq!(host_of("https://acme.example.jp:14000"), "acme.example.jp");
        assert_eq!(host_of("https://acme.example.jp/"), "acme.example.jp");
        assert_eq!(host_of("http://[::1]:8080"), "::1");
    }
}
