//! The e-mail notices that failed for good (`/console/notices`): newest
//! first, 50 a page (keyset: `before=ID`), each with its recipient,
//! subject, every attempt and the last error; how many wait to be sent;
//! and, for the `vet` role, sending one again (`POST
//! /console/notices/{id}/resend`, `Vetting::resend_notice`, audited).

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::pages::{chrome, date, message, render, Chrome, Views};
use super::web::{field, see_other};
use crate::core::staff::StaffRole;
use crate::error::{ErrorKind, Result};
use crate::vetting::notices::FailedNotice;

const PAGE_SIZE: usize = 50;

struct Row {
    id: i64,
    kind: String,
    about: String,
    recipient: String,
    subject: String,
    created: String,
    failed: String,
    last_error: String,
    /// "time — error" (or "sent") per attempt, oldest first.
    attempts: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/notices.html")]
struct NoticesPage {
    c: Chrome,
    rows: Vec<Row>,
    queued: i64,
    may_resend: bool,
    csrf: String,
    /// What the last resend did (`?resent=ID`).
    resent: Option<i64>,
    next: Option<String>,
}

/// `GET /console/notices`.
pub async fn page(v: &Views<'_>, query: &[(String, String)]) -> Result<Response<Full<Bytes>>> {
    let before = field(query, "before").and_then(|b| b.parse().ok());
    let (mut failed, queued) = v
        .vetting
        .failed_notices(before, PAGE_SIZE as i64 + 1)
        .await?;
    let next = (failed.len() > PAGE_SIZE).then(|| {
        failed.truncate(PAGE_SIZE);
        let last = failed.last().map_or(0, |f| f.notice.id);
        format!("/console/notices?before={last}")
    });
    let page = NoticesPage {
        c: chrome(Some(v.s), v.ctx, v.ctx.lang.text().notices),
        rows: failed.into_iter().map(row).collect(),
        queued,
        may_resend: v.s.staff.may(StaffRole::Vet),
        csrf: v.s.csrf.clone(),
        resent: field(query, "resent").and_then(|r| r.parse().ok()),
        next,
    };
    render(StatusCode::OK, &page)
}

/// `POST /console/notices/{id}/resend` (role `vet`, checked by the router).
pub async fn resend(v: &Views<'_>, id: &str) -> Result<Response<Full<Bytes>>> {
    let t = v.ctx.lang.text();
    let Ok(id) = id.parse::<i64>() else {
        return message(Some(v.s), v.ctx, StatusCode::NOT_FOUND, t.not_found);
    };
    match v.vetting.resend_notice(&v.s.staff.actor(), id).await {
        Ok(()) => Ok(see_other(&format!("/console/notices?resent={id}"))),
        Err(e) if e.kind == ErrorKind::Conflict => {
            message(Some(v.s), v.ctx, StatusCode::CONFLICT, t.notice_not_failed)
        }
        Err(e) => Err(e),
    }
}

fn row(f: FailedNotice) -> Row {
    let n = f.notice;
    Row {
        id: n.id,
        kind: n.kind,
        about: n.about,
        recipient: n.recipient,
        subject: n.subject,
        created: date(n.created_at),
        failed: n.failed_at.map(date).unwrap_or_default(),
        last_error: n.last_error.unwrap_or_default(),
        attempts: f
            .attempts
            .iter()
            .map(|a| match &a.error {
                Some(e) => format!("{} ({}): {e}", date(a.at), a.instance),
                None => format!("{} ({}): sent", date(a.at), a.instance),
            })
            .collect(),
    }
}
