//! The e-mail outbox: notices written in the transaction of the event
//! they report (`enqueue`, called inside that event's write), then
//! leased, sent and marked by the delivery worker of any instance
//! (`app::mail`).
//!
//! A notice is leased one row at a time by a conditional update only one
//! instance wins (as `leases` does for whole sweeps): while the lease
//! runs no other instance sends it, and when its holder dies mid-send the
//! notice is due again once the lease has expired.

use diesel::prelude::*;
use time::OffsetDateTime;

use super::native::native;
use super::schema::{notices_once, outbox, outbox_attachments, outbox_attempts};
use super::{from_db, to_db, DbConn};
use crate::error::Result;

/// A notice to write, already rendered.
#[derive(Debug, Clone)]
pub struct NewNotice {
    /// e.g. `certificate.issued`.
    pub kind: &'static str,
    /// What it reports on, e.g. `certificate:0123…` (as audit subjects).
    pub about: String,
    pub recipient: String,
    /// `ja` or `en`.
    pub language: &'static str,
    pub subject: String,
    pub body: String,
}

/// A notice as stored.
#[derive(Debug, Clone)]
pub struct Notice {
    pub id: i64,
    pub kind: String,
    pub about: String,
    pub recipient: String,
    pub language: String,
    pub subject: String,
    pub body: String,
    pub created_at: OffsetDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<OffsetDateTime>,
    pub failed_at: Option<OffsetDateTime>,
    /// Read by `lease` only (the sender needs them; lists do not).
    pub attachments: Vec<Attachment>,
}

/// A file sent with a notice (an invoice's PDF).
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// e.g. `application/pdf`.
    pub content_type: String,
    pub content: Vec<u8>,
}

/// The name, type and size: the content may be long.
impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("bytes", &self.content.len())
            .finish()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox)]
struct NoticeRow {
    id: i64,
    kind: String,
    about: String,
    recipient: String,
    language: String,
    subject: String,
    body: String,
    created_at: time::PrimitiveDateTime,
    attempts: i32,
    last_error: Option<String>,
    sent_at: Option<time::PrimitiveDateTime>,
    failed_at: Option<time::PrimitiveDateTime>,
}

impl NoticeRow {
    fn into_notice(self) -> Notice {
        Notice {
            id: self.id,
            kind: self.kind,
            about: self.about,
            recipient: self.recipient,
            language: self.language,
            subject: self.subject,
            body: self.body,
            created_at: from_db(self.created_at),
            attempts: self.attempts,
            last_error: self.last_error,
            sent_at: self.sent_at.map(from_db),
            failed_at: self.failed_at.map(from_db),
            attachments: Vec::new(),
        }
    }
}

/// Writes `notice`, due at once. Call it inside the event's transaction.
pub fn enqueue(conn: &mut DbConn, notice: &NewNotice, now: OffsetDateTime) -> Result<()> {
    enqueue_with(conn, notice, &[], now).map(|_| ())
}

/// `enqueue` with files attached; returns the notice's id.
pub fn enqueue_with(
    conn: &mut DbConn,
    notice: &NewNotice,
    attachments: &[Attachment],
    now: OffsetDateTime,
) -> Result<i64> {
    let id: i64 = diesel::insert_into(outbox::table)
        .values((
            outbox::kind.eq(notice.kind),
            outbox::about.eq(&notice.about),
            outbox::recipient.eq(&notice.recipient),
            outbox::language.eq(notice.language),
            outbox::subject.eq(&notice.subject),
            outbox::body.eq(&notice.body),
            outbox::created_at.eq(to_db(now)),
            outbox::next_attempt_at.eq(to_db(now)),
        ))
        .returning(outbox::id)
        .get_result(conn)?;
    for a in attachments {
        diesel::insert_into(outbox_attachments::table)
            .values((
                outbox_attachments::outbox_id.eq(id),
                outbox_attachments::filename.eq(&a.filename),
                outbox_attachments::content_type.eq(&a.content_type),
                outbox_attachments::content.eq(&a.content),
            ))
            .execute(conn)?;
    }
    Ok(id)
}

/// Writes `notices` unless a notice of `kind` about `once` was written
/// before (`notices_once`); returns whether they were written. Call it
/// inside the event's transaction: the mark and the notices commit
/// together, so a notice is written at most once and never lost.
pub fn enqueue_once(
    conn: &mut DbConn,
    kind: &str,
    once: &str,
    notices: &[NewNotice],
    now: OffsetDateTime,
) -> Result<bool> {
    if notices.is_empty() {
        // Nobody to tell: nothing is marked, so a later occasion may.
        return Ok(false);
    }
    // DO NOTHING rather than catching a unique violation, which on
    // PostgreSQL would abort the event's transaction.
    let marked = native!(conn, |c| diesel::insert_into(notices_once::table)
        .values((
            notices_once::kind.eq(kind),
            notices_once::about.eq(once),
            notices_once::created_at.eq(to_db(now)),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if marked != 1 {
        return Ok(false);
    }
    for n in notices {
        enqueue(conn, n, now)?;
    }
    Ok(true)
}

/// The files attached to notice `id`, in the order they were given.
pub fn attachments(conn: &mut DbConn, id: i64) -> Result<Vec<Attachment>> {
    let rows: Vec<(String, String, Vec<u8>)> = outbox_attachments::table
        .filter(outbox_attachments::outbox_id.eq(id))
        .order(outbox_attachments::id)
        .select((
            outbox_attachments::filename,
            outbox_attachments::content_type,
            outbox_attachments::content,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(filename, content_type, content)| Attachment {
            filename,
            content_type,
            content,
        })
        .collect())
}

/// Ids of up to `limit` notices due at `now` and not leased by anyone,
/// oldest due first.
pub fn due(conn: &mut DbConn, now: OffsetDateTime, limit: i64) -> Result<Vec<i64>> {
    Ok(outbox::table
        .filter(outbox::sent_at.is_null())
        .filter(outbox::failed_at.is_null())
        .filter(outbox::next_attempt_at.le(to_db(now)))
        .filter(
            outbox::lease_expires_at
                .is_null()
                .or(outbox::lease_expires_at.lt(to_db(now))),
        )
        .order((outbox::next_attempt_at, outbox::id))
        .limit(limit)
        .select(outbox::id)
        .load(conn)?)
}

/// Leases notice `id` to `holder` until `until`, if it is still due and
/// nobody else holds it: one statement, which one instance wins. Returns
/// the notice when `holder` got it.
pub fn lease(
    conn: &mut DbConn,
    id: i64,
    holder: &str,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Option<Notice>> {
    let won = diesel::update(
        outbox::table
            .find(id)
            .filter(outbox::sent_at.is_null())
            .filter(outbox::failed_at.is_null())
            .filter(outbox::next_attempt_at.le(to_db(now)))
            .filter(
                outbox::lease_expires_at
                    .is_null()
                    .or(outbox::lease_expires_at.lt(to_db(now))),
            ),
    )
    .set((
        outbox::leased_by.eq(holder),
        outbox::lease_expires_at.eq(to_db(until)),
    ))
    .execute(conn)?;
    if won != 1 {
        return Ok(None);
    }
    let row: NoticeRow = outbox::table
        .find(id)
        .select(NoticeRow::as_select())
        .first(conn)?;
    let mut notice = row.into_notice();
    notice.attachments = attachments(conn, id)?;
    Ok(Some(notice))
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Try again from `next` on.
    Retry {
        error: String,
        next: OffsetDateTime,
    },
    /// Given up: a permanent refusal, or the attempts ran out.
    Failed {
        error: String,
    },
}

/// Records one attempt on notice `id` by `holder` and its outcome, and
/// ends the lease, in one transaction.
pub fn record_attempt(
    conn: &mut DbConn,
    id: i64,
    holder: &str,
    now: OffsetDateTime,
    outcome: &Outcome,
) -> Result<()> {
    super::write_tx(conn, |c| {
        let error = match outcome {
            Outcome::Sent => None,
            Outcome::Retry { error, .. } | Outcome::Failed { error } => Some(error.as_str()),
        };
        diesel::insert_into(outbox_attempts::table)
            .values((
                outbox_attempts::outbox_id.eq(id),
                outbox_attempts::attempted_at.eq(to_db(now)),
                outbox_attempts::instance.eq(holder),
                outbox_attempts::error.eq(error),
            ))
            .execute(c)?;
        let row = outbox::table.find(id);
        let common = (
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::last_attempt_at.eq(Some(to_db(now))),
            outbox::last_error.eq(error),
            outbox::leased_by.eq(None::<String>),
            outbox::lease_expires_at.eq(None::<time::PrimitiveDateTime>),
        );
        match outcome {
            Outcome::Sent => diesel::update(row)
                .set((common, outbox::sent_at.eq(Some(to_db(now)))))
                .execute(c)?,
            Outcome::Retry { next, .. } => diesel::update(row)
                .set((common, outbox::next_attempt_at.eq(to_db(*next))))
                .execute(c)?,
            Outcome::Failed { .. } => diesel::update(row)
                .set((common, outbox::failed_at.eq(Some(to_db(now)))))
                .execute(c)?,
        };
        Ok(())
    })
}

/// Puts a failed notice back in the queue, due at once (staff's resend).
/// False if it was not failed.
pub fn resend(conn: &mut DbConn, id: i64, now: OffsetDateTime) -> Result<bool> {
    let n = diesel::update(
        outbox::table
            .find(id)
            .filter(outbox::failed_at.is_not_null()),
    )
    .set((
        outbox::failed_at.eq(None::<time::PrimitiveDateTime>),
        outbox::next_attempt_at.eq(to_db(now)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Failed notices, newest first, a page of `limit` after id `before`
/// (keyset).
pub fn failed(conn: &mut DbConn, before: Option<i64>, limit: i64) -> Result<Vec<Notice>> {
    let mut q = outbox::table
        .filter(outbox::failed_at.is_not_null())
        .order(outbox::id.desc())
        .limit(limit)
        .select(NoticeRow::as_select())
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(outbox::id.lt(b));
    }
    let rows: Vec<NoticeRow> = q.load(conn)?;
    Ok(rows.into_iter().map(NoticeRow::into_notice).collect())
}

/// The notices about `about` (e.g. `certificate:SERIAL`), oldest first.
pub fn about(conn: &mut DbConn, about: &str) -> Result<Vec<Notice>> {
    let rows: Vec<NoticeRow> = outbox::table
        .filter(outbox::about.eq(about))
        .order(outbox::id)
        .select(NoticeRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(NoticeRow::into_notice).collect())
}

/// Notices neither sent nor failed (for the queue gauge).
pub fn queued_count(conn: &mut DbConn) -> Result<i64> {
    Ok(outbox::table
        .filter(outbox::sent_at.is_null())
        .filter(outbox::failed_at.is_null())
        .count()
        .get_result(conn)?)
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: OffsetDateTime,
    /// The instance that made it (`sa::leases::instance_id`).
    pub instance: String,
    /// None: sent.
    pub error: Option<String>,
}

/// The attempts on notice `id`, oldest first.
pub fn attempts(conn: &mut DbConn, id: i64) -> Result<Vec<Attempt>> {
    let rows: Vec<(time::PrimitiveDateTime, String, Option<String>)> = outbox_attempts::table
        .filter(outbox_attempts::outbox_id.eq(id))
        .order(outbox_attempts::id)
        .select((
            outbox_attempts::attempted_at,
            outbox_attempts::instance,
            outbox_attempts::error,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(t, instance, error)| Attempt {
            at: from_db(t),
            instance,
            error,
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sa::crls::testing::store;
    use time::Duration;

    fn notice(about: &str) -> NewNotice {
        NewNotice {
            kind: "certificate.issued",
            about: about.into(),
            recipient: "ops@example.jp".into(),
            language: "ja",
            subject: "件名".into(),
            body: "本文".into(),
        }
    }

    /// A notice is leased by one holder at a time; after its lease
    /// expires another may take it; once sent it is never due again.
    #[tokio::test]
    async fn one_holder_per_notice_then_sent_once() {
        let (_db, store) = store();
        let t0 = crate::core::Clock::system().now();
        store
            .write(move |c| enqueue(c, &notice("certificate:01"), t0))
            .await
            .unwrap();
        let ids = store.read(move |c| due(c, t0, 10)).await.unwrap();
        assert_eq!(ids.len(), 1);
        let id = ids[0];
        let until = t0 + Duration::seconds(60);
        let a = store
            .run(move |c| lease(c, id, "a", t0, until))
            .await
            .unwrap();
        assert_eq!(a.unwrap().subject, "件名");
        let b = store
            .run(move |c| lease(c, id, "b", t0, until))
            .await
            .unwrap();
        assert!(b.is_none(), "held by a");
        assert!(store
            .read(move |c| due(c, t0, 10))
            .await
            .unwrap()
            .is_empty());
        // a died: after the lease b takes it, sends it, and it is done.
        let later = until + Duration::seconds(1);
        let b = store
            .run(move |c| lease(c, id, "b", later, later + Duration::seconds(60)))
            .await
            .unwrap();
        assert!(b.is_some());
        store
            .run(move |c| record_attempt(c, id, "b", later, &Outcome::Sent))
            .await
            .unwrap();
        let far = later + Duration::days(1);
        assert!(store
            .read(move |c| due(c, far, 10))
            .await
            .unwrap()
            .is_empty());
        let a = store
            .run(move |c| lease(c, id, "a", far, far + Duration::seconds(60)))
            .await
            .unwrap();
        assert!(a.is_none(), "a sent notice is never leased again");
        let tried = store.read(move |c| attempts(c, id)).await.unwrap();
        assert_eq!(tried.len(), 1);
        assert_eq!(
            (tried[0].instance.as_str(), tried[0].error.as_deref()),
            ("b", None)
        );
    }

    /// A notice marked once is written once: the second call writes
    /// nothing; another occasion writes again; nobody to tell marks
    /// nothing.
    #[tokio::test]
    async fn once_marks_are_taken_once() {
        let (_db, store) = store();
        let t0 = crate::core::Clock::system().now();
        let once = |key: &'static str, n: Vec<NewNotice>| {
            let store = store.clone();
            async move {
                store
                    .write(move |c| enqueue_once(c, "gate.waiting", key, &n, t0))
                    .await
                    .unwrap()
            }
        };
        assert!(!once("organization:1@1", vec![]).await);
        assert!(once("organization:1@1", vec![notice("organization:1")]).await);
        assert!(!once("organization:1@1", vec![notice("organization:1")]).await);
        assert!(once("organization:1@2", vec![notice("organization:1")]).await);
        let written = store.read(|c| about(c, "organization:1")).await.unwrap();
        assert_eq!(written.len(), 2);
    }

    /// A retry waits for its time; a failure leaves the queue until staff
    /// resend it; every attempt is recorded with its error.
    #[tokio::test]
    async fn retries_wait_and_failures_wait_for_resend() {
        let (_db, store) = store();
        let t0 = crate::core::Clock::system().now();
        store
            .write(move |c| enqueue(c, &notice("certificate:02"), t0))
            .await
            .unwrap();
        let id = store.read(move |c| due(c, t0, 10)).await.unwrap()[0];
        let until = t0 + Duration::seconds(60);
        store
            .run(move |c| lease(c, id, "a", t0, until))
            .await
            .unwrap()
            .unwrap();
        let next = t0 + Duration::seconds(120);
        let retry = Outcome::Retry {
            error: "connection refused".into(),
            next,
        };
        store
            .run(move |c| record_attempt(c, id, "a", t0, &retry))
            .await
            .unwrap();
        let before = next - Duration::seconds(1);
        assert!(store
            .read(move |c| due(c, before, 10))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.read(move |c| due(c, next, 10)).await.unwrap(), [id]);
        assert_eq!(store.read(queued_count).await.unwrap(), 1);
        store
            .run(move |c| lease(c, id, "a", next, next + Duration::seconds(60)))
            .await
            .unwrap()
            .unwrap();
        let failed_outcome = Outcome::Failed {
            error: "550 no such user".into(),
        };
        store
            .run(move |c| record_attempt(c, id, "a", next, &failed_outcome))
            .await
            .unwrap();
        let far = next + Duration::days(1);
        assert!(store
            .read(move |c| due(c, far, 10))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.read(queued_count).await.unwrap(), 0);
        let listed = store.read(|c| failed(c, None, 10)).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].attempts, 2);
        assert_eq!(listed[0].last_error.as_deref(), Some("550 no such user"));
        assert!(store.run(move |c| resend(c, id, far)).await.unwrap());
        assert!(!store.run(move |c| resend(c, id, far)).await.unwrap());
        assert_eq!(store.read(move |c| due(c, far, 10)).await.unwrap(), [id]);
        assert_eq!(store.read(move |c| attempts(c, id)).await.unwrap().len(), 2);
    }
}
