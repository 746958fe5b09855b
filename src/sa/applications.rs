//! Applications from the customer portal, their history and their
//! documents (`vetting::applications` decides what goes in). Every read a
//! customer's request makes is scoped by the organization the customer
//! belongs to: a row of another organization is simply not found.

use diesel::prelude::*;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::native::native;
use super::schema::{application_documents, application_events, application_numbers, applications};
use super::{corrupt, from_db, to_db, DbConn};
use crate::core::application::{
    Application, ApplicationEvent, ApplicationId, ApplicationKind, ApplicationNumber,
    ApplicationStatus, DocumentId, DocumentInfo, EventKind,
};
use crate::core::organization::OrganizationData;
use crate::core::OrganizationId;
use crate::error::{Error, Result};

/// What `insert` writes (the number is taken inside).
pub struct NewApplication<'a> {
    pub organization: OrganizationId,
    pub customer_account: i64,
    pub customer_email: &'a str,
    pub language: &'a str,
    pub kind: ApplicationKind,
    pub validity_days: i32,
    pub data: &'a OrganizationData,
    pub agreement_version: &'a str,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = applications)]
struct Row {
    id: i64,
    number: String,
    organization_id: i64,
    customer_account_id: i64,
    customer_email: String,
    language: String,
    kind: String,
    status: String,
    validity_days: i32,
    data: String,
    agreement_version: String,
    submitted_at: PrimitiveDateTime,
    decided_at: Option<PrimitiveDateTime>,
    decided_by: Option<String>,
    decision_reason: Option<String>,
}

/// `Row`'s columns in its order (for `RETURNING`, which diesel's
/// `MultiConnection` cannot derive from the row).
type Columns = (
    applications::id,
    applications::number,
    applications::organization_id,
    applications::customer_account_id,
    applications::customer_email,
    applications::language,
    applications::kind,
    applications::status,
    applications::validity_days,
    applications::data,
    applications::agreement_version,
    applications::submitted_at,
    applications::decided_at,
    applications::decided_by,
    applications::decision_reason,
);
const COLUMNS: Columns = (
    applications::id,
    applications::number,
    applications::organization_id,
    applications::customer_account_id,
    applications::customer_email,
    applications::language,
    applications::kind,
    applications::status,
    applications::validity_days,
    applications::data,
    applications::agreement_version,
    applications::submitted_at,
    applications::decided_at,
    applications::decided_by,
    applications::decision_reason,
);

impl Row {
    fn into_core(self) -> Result<Application> {
        Ok(Application {
            id: ApplicationId(self.id),
            number: ApplicationNumber::parse(&self.number)
                .ok_or_else(|| corrupt("application number", &self.number))?,
            organization: OrganizationId(self.organization_id),
            customer_account: self.customer_account_id,
            customer_email: self.customer_email,
            language: self.language,
            kind: ApplicationKind::parse(&self.kind)
                .ok_or_else(|| corrupt("application kind", &self.kind))?,
            status: ApplicationStatus::parse(&self.status)
                .ok_or_else(|| corrupt("application status", &self.status))?,
            validity_days: self.validity_days,
            data: serde_json::from_str(&self.data)
                .map_err(|_| corrupt("application data", &self.data))?,
            agreement_version: self.agreement_version,
            submitted_at: from_db(self.submitted_at),
            decided_at: self.decided_at.map(from_db),
            decided_by: self.decided_by,
            decision_reason: self.decision_reason,
        })
    }
}

/// The next number of `year`: one statement that creates the year's
/// counter or bumps it, inside the caller's transaction, so a rolled-back
/// application leaves no gap and two at once never share a number (the
/// row is locked until commit on PostgreSQL; SQLite has one writer).
fn next_number(conn: &mut DbConn, year: i32) -> Result<ApplicationNumber> {
    let seq: i32 = native!(conn, |c| diesel::insert_into(application_numbers::table)
        .values((
            application_numbers::year.eq(year),
            application_numbers::last.eq(1)
        ))
        .on_conflict(application_numbers::year)
        .do_update()
        .set(application_numbers::last.eq(application_numbers::last + 1))
        .returning(application_numbers::last)
        .get_result(c))?;
    Ok(ApplicationNumber::new(year, seq))
}

/// Writes an application with its first event (`submitted`, or `renewed`
/// for a renewal), numbered in the year of `now`.
pub fn insert(
    conn: &mut DbConn,
    a: &NewApplication<'_>,
    actor: &str,
    now: OffsetDateTime,
) -> Result<Application> {
    let number = next_number(conn, now.year())?;
    let data = serde_json::to_string(a.data)
        .map_err(|e| Error::internal(format!("encoding an application: {e}")))?;
    let row: Row = diesel::insert_into(applications::table)
        .values((
            applications::number.eq(number.as_str()),
            applications::organization_id.eq(a.organization.0),
            applications::customer_account_id.eq(a.customer_account),
            applications::customer_email.eq(a.customer_email),
            applications::language.eq(a.language),
            applications::kind.eq(a.kind.as_str()),
            applications::status.eq(ApplicationStatus::Open.as_str()),
            applications::validity_days.eq(a.validity_days),
            applications::data.eq(data),
            applications::agreement_version.eq(a.agreement_version),
            applications::submitted_at.eq(to_db(now)),
        ))
        .returning(COLUMNS)
        .get_result(conn)?;
    let app = row.into_core()?;
    let first = match a.kind {
        ApplicationKind::New => EventKind::Submitted,
        ApplicationKind::Renewal => EventKind::Renewed,
    };
    add_event(conn, app.id, first, actor, None, now)?;
    Ok(app)
}

pub fn add_event(
    conn: &mut DbConn,
    id: ApplicationId,
    kind: EventKind,
    actor: &str,
    message: Option<&str>,
    now: OffsetDateTime,
) -> Result<()> {
    diesel::insert_into(application_events::table)
        .values((
            application_events::application_id.eq(id.0),
            application_events::at.eq(to_db(now)),
            application_events::kind.eq(kind.as_str()),
            application_events::actor.eq(actor),
            application_events::message.eq(message),
        ))
        .execute(conn)?;
    Ok(())
}

/// An organization's applications, newest first.
pub fn of_organization(conn: &mut DbConn, org: OrganizationId) -> Result<Vec<Application>> {
    applications::table
        .filter(applications::organization_id.eq(org.0))
        .order(applications::id.desc())
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Row::into_core)
        .collect()
}

/// Application `number`, if it is `org`'s.
pub fn by_number(
    conn: &mut DbConn,
    org: OrganizationId,
    number: &ApplicationNumber,
) -> Result<Option<Application>> {
    applications::table
        .filter(applications::number.eq(number.as_str()))
        .filter(applications::organization_id.eq(org.0))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Row::into_core)
        .transpose()
}

/// The organization's open application (the newest, should there be more).
pub fn open_of(conn: &mut DbConn, org: OrganizationId) -> Result<Option<Application>> {
    applications::table
        .filter(applications::organization_id.eq(org.0))
        .filter(applications::status.eq(ApplicationStatus::Open.as_str()))
        .order(applications::id.desc())
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Row::into_core)
        .transpose()
}

/// Closes the organization's open applications with staff's decision.
/// Returns the ids closed.
pub fn decide(
    conn: &mut DbConn,
    org: OrganizationId,
    status: ApplicationStatus,
    by: &str,
    reason: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<ApplicationId>> {
    let open = applications::table
        .filter(applications::organization_id.eq(org.0))
        .filter(applications::status.eq(ApplicationStatus::Open.as_str()));
    let ids: Vec<i64> = open.select(applications::id).load(conn)?;
    diesel::update(open)
        .set((
            applications::status.eq(status.as_str()),
            applications::decided_at.eq(Some(to_db(now))),
            applications::decided_by.eq(Some(by)),
            applications::decision_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(ids.into_iter().map(ApplicationId).collect())
}

#[derive(Queryable)]
struct EventRow {
    at: PrimitiveDateTime,
    kind: String,
    actor: String,
    message: Option<String>,
}

/// An application's history, oldest first.
pub fn events(conn: &mut DbConn, id: ApplicationId) -> Result<Vec<ApplicationEvent>> {
    let rows: Vec<EventRow> = application_events::table
        .filter(application_events::application_id.eq(id.0))
        .order(application_events::id.asc())
        .select((
            application_events::at,
            application_events::kind,
            application_events::actor,
            application_events::message,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            Ok(ApplicationEvent {
                at: from_db(r.at),
                kind: EventKind::parse(&r.kind).ok_or_else(|| corrupt("event kind", &r.kind))?,
                actor: r.actor,
                message: r.message,
            })
        })
        .collect()
}

/// A file to store with an application.
pub struct NewDocument<'a> {
    pub application: ApplicationId,
    pub organization: OrganizationId,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub content: &'a [u8],
}

/// Stores a document (its SHA-256 computed here, from what is stored).
pub fn add_document(
    conn: &mut DbConn,
    d: &NewDocument<'_>,
    actor: &str,
    now: OffsetDateTime,
) -> Result<DocumentId> {
    let size = i64::try_from(d.content.len())
        .map_err(|_| Error::internal("a document larger than i64"))?;
    let id: i64 = diesel::insert_into(application_documents::table)
        .values((
            application_documents::application_id.eq(d.application.0),
            application_documents::organization_id.eq(d.organization.0),
            application_documents::file_name.eq(d.file_name),
            application_documents::content_type.eq(d.content_type),
            application_documents::size.eq(size),
            application_documents::sha256.eq(sha256_hex(d.content)),
            application_documents::content.eq(d.content),
            application_documents::uploaded_by.eq(actor),
            application_documents::uploaded_at.eq(to_db(now)),
        ))
        .returning(application_documents::id)
        .get_result(conn)?;
    Ok(DocumentId(id))
}

/// Lowercase hex SHA-256, as staff compare it with `sha256sum`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

type InfoColumns = (
    application_documents::id,
    application_documents::application_id,
    application_documents::file_name,
    application_documents::content_type,
    application_documents::size,
    application_documents::sha256,
    application_documents::uploaded_by,
    application_documents::uploaded_at,
);
const INFO: InfoColumns = (
    application_documents::id,
    application_documents::application_id,
    application_documents::file_name,
    application_documents::content_type,
    application_documents::size,
    application_documents::sha256,
    application_documents::uploaded_by,
    application_documents::uploaded_at,
);

type InfoRow = (
    i64,
    i64,
    String,
    String,
    i64,
    String,
    String,
    PrimitiveDateTime,
);

fn info((id, app, file_name, content_type, size, sha256, by, at): InfoRow) -> DocumentInfo {
    DocumentInfo {
        id: DocumentId(id),
        application: ApplicationId(app),
        file_name,
        content_type,
        size,
        sha256,
        uploaded_by: by,
        uploaded_at: from_db(at),
    }
}

/// The organization's documents without their bytes, newest first.
pub fn documents(conn: &mut DbConn, org: OrganizationId) -> Result<Vec<DocumentInfo>> {
    let rows: Vec<InfoRow> = application_documents::table
        .filter(application_documents::organization_id.eq(org.0))
        .order(application_documents::id.desc())
        .select(INFO)
        .load(conn)?;
    Ok(rows.into_iter().map(info).collect())
}

/// Document `id` with its bytes, if it is `org`'s.
pub fn document(
    conn: &mut DbConn,
    org: OrganizationId,
    id: DocumentId,
) -> Result<Option<(DocumentInfo, Vec<u8>)>> {
    let row: Option<(InfoRow, Vec<u8>)> = application_documents::table
        .filter(application_documents::id.eq(id.0))
        .filter(application_documents::organization_id.eq(org.0))
        .select((INFO, application_documents::content))
        .first(conn)
        .optional()?;
    Ok(row.map(|(i, bytes)| (info(i), bytes)))
}

/// Total bytes stored for an application (a cap per application).
pub fn stored_bytes(conn: &mut DbConn, id: ApplicationId) -> Result<i64> {
    let sizes: Vec<i64> = application_documents::table
        .filter(application_documents::application_id.eq(id.0))
        .select(application_documents::size)
        .load(conn)?;
    Ok(sizes.iter().sum())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sa::crls::testing::store;

    fn example() -> OrganizationData {
        serde_json::from_str(include_str!("../../conf/organization.example.json")).unwrap()
    }

    /// Applications written at once, on as many connections, take the
    /// numbers 1..=n of their year, each once; a rolled-back one takes
    /// none; a new year starts again at 1.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn numbers_are_unique_and_gapless_per_year() {
        let (_db, store) = store();
        let now = time::macros::datetime!(2026-12-31 12:00 UTC);
        let org = store
            .write(move |c| super::super::organizations::create(c, &example(), "test", now))
            .await
            .unwrap()
            .id;
        let new = move |c: &mut DbConn, at: OffsetDateTime| {
            let data = example();
            let a = NewApplication {
                organization: org,
                customer_account: 1,
                customer_email: "a@example.jp",
                language: "ja",
                kind: ApplicationKind::New,
                validity_days: 90,
                data: &data,
                agreement_version: "1",
            };
            insert(c, &a, "customer:a@example.jp", at)
        };
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let store = store.clone();
            tasks.spawn(async move { store.write(move |c| new(c, now)).await.unwrap().number });
        }
        let failed = store
            .write(move |c| {
                new(c, now)?;
                Err::<(), _>(Error::internal("rolled back"))
            })
            .await;
        assert!(failed.is_err());
        let mut numbers = Vec::new();
        while let Some(n) = tasks.join_next().await {
            numbers.push(n.unwrap().to_string());
        }
        numbers.sort();
        let expected: Vec<String> = (1..=16).map(|i| format!("A-2026-{i:06}")).collect();
        assert_eq!(numbers, expected);
        let next_year = now + time::Duration::days(1);
        let a = store.write(move |c| new(c, next_year)).await.unwrap();
        assert_eq!(a.number.as_str(), "A-2027-000001");

        let other = store
            .write(move |c| super::super::organizations::create(c, &example(), "test", now))
            .await
            .unwrap()
            .id;
        let n = a.number.clone();
        let (mine, theirs) = store
            .read(move |c| Ok((by_number(c, org, &n)?, by_number(c, other, &n)?)))
            .await
            .unwrap();
        assert_eq!(mine.map(|m| m.id), Some(a.id));
        assert!(
            theirs.is_none(),
            "another organization's number is not found"
        );
    }
}
