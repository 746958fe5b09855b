//! The audit log (`/console/audit`): every event, newest first, 100 a
//! page (keyset: `before=ID`), filtered in SQL by actor, organization,
//! action and UTC dates; and its CSV export (`/console/audit.csv`, same
//! filters, oldest first, at most `CSV_MAX` events).

use std::collections::HashMap;

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use time::{Date, Duration, OffsetDateTime, Time};

use super::pages::{chrome, date, render, Chrome, Views};
use super::web::{self, encode, field};
use crate::core::OrganizationId;
use crate::error::Result;
use crate::sa::audit::{self, AuditEvent, Filter, Order};

/// Events per page.
const PAGE_SIZE: i64 = 100;
/// Events per read of the export (each read short).
const CSV_CHUNK: i64 = 1000;
/// Events in one export at most; more is refused with a message rather
/// than cut short (an auditor must not take a partial file for the whole).
const CSV_MAX: usize = 100_000;
/// The export's columns.
const CSV_HEADER: [&str; 10] = [
    "id",
    "at",
    "actor",
    "action",
    "organization_id",
    "organization",
    "subject",
    "reason",
    "request_id",
    "details",
];

/// (back to the newest events, the next page).
type Links = (Option<String>, Option<String>);
const NO_LINKS: Links = (None, None);

/// The filter as the form holds it, and what is wrong with it, by field.
#[derive(Default)]
struct Form {
    actor: String,
    organization: String,
    action: String,
    from: String,
    to: String,
    errors: Vec<(&'static str, String)>,
}

impl Form {
    fn read(query: &[(String, String)]) -> Form {
        let get = |k: &str| field(query, k).unwrap_or_default().trim().to_owned();
        Form {
            actor: get("actor"),
            organization: get("organization"),
            action: get("action"),
            from: get("from"),
            to: get("to"),
            errors: Vec::new(),
        }
    }

    fn error(&self, name: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, e)| e.as_str())
    }

    /// The query string of this filter (for the next page and the export).
    fn query(&self) -> String {
        [
            ("actor", &self.actor),
            ("organization", &self.organization),
            ("action", &self.action),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }
}

struct Detail {
    key: String,
    value: String,
    /// Nested JSON, shown pretty-printed.
    block: bool,
}

struct Row {
    id: i64,
    at: String,
    actor: String,
    action: String,
    organization: Option<(i64, String)>,
    subject: String,
    reason: String,
    details: Vec<Detail>,
    request_id: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    c: Chrome,
    f: Form,
    actions: Vec<String>,
    actors: Vec<String>,
    rows: Vec<Row>,
    export: String,
    first: Option<String>,
    next: Option<String>,
    error: Option<String>,
}

/// `GET /console/audit`.
pub async fn page(v: &Views<'_>, query: &[(String, String)]) -> Result<Response<Full<Bytes>>> {
    let mut form = Form::read(query);
    let before = field(query, "before").and_then(|b| b.parse::<i64>().ok());
    let filter = match filter(v, &mut form).await? {
        Some(f) => Filter {
            before,
            order: Order::NewestFirst,
            ..f
        },
        None => return show(v, form, Vec::new(), NO_LINKS, StatusCode::BAD_REQUEST, None).await,
    };
    let has_before = before.is_some();
    let mut events = read(v, filter, PAGE_SIZE + 1).await?;
    let next = (events.len() as i64 > PAGE_SIZE).then(|| {
        events.truncate(PAGE_SIZE as usize);
        let last = events.last().map_or(0, |e| e.id);
        with_query("/console/audit", &form.query(), &format!("before={last}"))
    });
    let first = has_before.then(|| with_query("/console/audit", &form.query(), ""));
    let rows = rows(v, events).await?;
    show(v, form, rows, (first, next), StatusCode::OK, None).await
}

/// `GET /console/audit.csv`: the filtered events, oldest first, as
/// RFC 4180 CSV with a header row; refused with a message past `CSV_MAX`.
pub async fn csv(v: &Views<'_>, query: &[(String, String)]) -> Result<Response<Full<Bytes>>> {
    let mut form = Form::read(query);
    let Some(mut filter) = filter(v, &mut form).await? else {
        return show(v, form, Vec::new(), NO_LINKS, StatusCode::BAD_REQUEST, None).await;
    };
    filter.order = Order::OldestFirst;
    let mut out = csv_line(CSV_HEADER.iter().map(|s| s.to_string()));
    let mut names: HashMap<OrganizationId, String> = HashMap::new();
    let mut count = 0usize;
    loop {
        let events = read(v, filter.clone(), CSV_CHUNK).await?;
        count += events.len();
        if count > CSV_MAX {
            let msg = v
                .ctx
                .lang
                .text()
                .export_too_large
                .replace("{max}", &CSV_MAX.to_string());
            return show(
                v,
                form,
                Vec::new(),
                NO_LINKS,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(msg),
            )
            .await;
        }
        learn_names(v, &events, &mut names).await?;
        for e in &events {
            out.push_str(&csv_event(e, &names));
        }
        match events.last() {
            Some(last) if events.len() as i64 == CSV_CHUNK => filter.after = Some(last.id),
            _ => break,
        }
    }
    let mut r = web::page(StatusCode::OK, "text/csv; charset=utf-8", Bytes::from(out));
    let stamp = v
        .vetting
        .clock()
        .now()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    if let Ok(h) = HeaderValue::from_str(&format!(
        "attachment; filename=\"trustgate-audit-{stamp}.csv\""
    )) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, h);
    }
    Ok(r)
}

/// The SQL filter of the form (no order, no cursor yet), or `None` with
/// the form's errors set.
async fn filter(v: &Views<'_>, form: &mut Form) -> Result<Option<Filter>> {
    let t = v.ctx.lang.text();
    let mut f = Filter::default();
    if !form.actor.is_empty() {
        match actor(v, &form.actor).await? {
            Some(a) => f.actor = Some(a),
            None => form.errors.push(("actor", t.unknown_actor.to_owned())),
        }
    }
    if !form.organization.is_empty() {
        match form.organization.parse::<i64>() {
            Ok(id) => f.organization = Some(OrganizationId(id)),
            Err(_) => form
                .errors
                .push(("organization", t.bad_organization.to_owned())),
        }
    }
    if !form.action.is_empty() {
        f.action = Some(form.action.clone());
    }
    let from = day(&form.from);
    let to = day(&form.to);
    match from {
        Some(Err(())) => form.errors.push(("from", t.bad_date.to_owned())),
        Some(Ok(d)) => f.since = Some(d),
        None => {}
    }
    match to {
        Some(Err(())) => form.errors.push(("to", t.bad_date.to_owned())),
        // The whole of the last day.
        Some(Ok(d)) => f.until = Some(d + Duration::days(1)),
        None => {}
    }
    if let (Some(s), Some(u)) = (f.since, f.until) {
        if u <= s {
            form.errors.push(("to", t.to_before_from.to_owned()));
        }
    }
    Ok(form.errors.is_empty().then_some(f))
}

/// The actor column's value for what staff type: `system`, an account
/// (`account/7`, `acme:account/7`), a staff member's name (their actor
/// `staff:NAME#ID`), or any other actor as written in the log
/// (`acme:certificate-key`, `staff:NAME#ID`). `None`: no such member.
async fn actor(v: &Views<'_>, typed: &str) -> Result<Option<String>> {
    if typed == audit::SYSTEM || typed.contains(':') {
        return Ok(Some(typed.to_owned()));
    }
    if let Some(id) = typed.strip_prefix("account/") {
        return Ok(id
            .parse::<i64>()
            .ok()
            .map(|id| audit::account_actor(crate::core::AccountId(id))));
    }
    let staff = v.vetting.list_staff().await?;
    Ok(staff
        .iter()
        .find(|m| m.name == typed)
        .map(|m| m.identity().actor()))
}

/// `YYYY-MM-DD` as the start of that day in UTC.
fn day(s: &str) -> Option<std::result::Result<OffsetDateTime, ()>> {
    (!s.is_empty()).then(|| {
        Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
            .map(|d| d.with_time(Time::MIDNIGHT).assume_utc())
            .map_err(|_| ())
    })
}

async fn read(v: &Views<'_>, f: Filter, limit: i64) -> Result<Vec<AuditEvent>> {
    v.vetting
        .store()
        .read(move |c| audit::page(c, f, limit))
        .await
}

/// Adds the names of organizations in `events` not yet in `names`.
async fn learn_names(
    v: &Views<'_>,
    events: &[AuditEvent],
    names: &mut HashMap<OrganizationId, String>,
) -> Result<()> {
    let mut ids: Vec<OrganizationId> = events
        .iter()
        .filter_map(|e| e.organization)
        .filter(|o| !names.contains_key(o))
        .collect();
    ids.sort_by_key(|o| o.0);
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let found = v
        .vetting
        .store()
        .read(move |c| audit::organization_names(c, &ids))
        .await?;
    names.extend(found);
    Ok(())
}

async fn rows(v: &Views<'_>, events: Vec<AuditEvent>) -> Result<Vec<Row>> {
    let mut names = HashMap::new();
    learn_names(v, &events, &mut names).await?;
    Ok(events
        .into_iter()
        .map(|e| Row {
            id: e.id,
            at: date(e.at),
            organization: e.organization.map(|o| {
                let name = names.get(&o).cloned().unwrap_or_else(|| o.to_string());
                (o.0, name)
            }),
            details: details(&e.details),
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            reason: e.reason.unwrap_or_default(),
            request_id: e.request_id.unwrap_or_default(),
        })
        .collect())
}

/// An event's details, one line per key: text as it is, nested values as
/// indented JSON.
fn details(v: &serde_json::Value) -> Vec<Detail> {
    use serde_json::Value;
    let line = |key: &str, v: &Value| match v {
        Value::String(s) => Detail {
            key: key.to_owned(),
            value: s.clone(),
            block: false,
        },
        Value::Object(_) | Value::Array(_) => Detail {
            key: key.to_owned(),
            value: serde_json::to_string_pretty(v).unwrap_or_default(),
            block: true,
        },
        other => Detail {
            key: key.to_owned(),
            value: other.to_string(),
            block: false,
        },
    };
    match v {
        Value::Null => Vec::new(),
        Value::Object(m) => m.iter().map(|(k, v)| line(k, v)).collect(),
        other => vec![line("", other)],
    }
}

async fn show(
    v: &Views<'_>,
    f: Form,
    rows: Vec<Row>,
    (first, next): Links,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response<Full<Bytes>>> {
    let t = v.ctx.lang.text();
    let actions = v.vetting.store().read(audit::actions).await?;
    let mut actors: Vec<String> = v
        .vetting
        .list_staff()
        .await?
        .into_iter()
        .map(|m| m.name)
        .collect();
    actors.push(audit::SYSTEM.to_owned());
    let export = with_query("/console/audit.csv", &f.query(), "");
    let page = AuditPage {
        c: chrome(Some(v.s), v.ctx, t.audit_log),
        f,
        actions,
        actors,
        rows,
        export,
        first,
        next,
        error,
    };
    render(status, &page)
}

fn with_query(path: &str, query: &str, extra: &str) -> String {
    let q: Vec<&str> = [query, extra]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", q.join("&"))
    }
}

fn csv_event(e: &AuditEvent, names: &HashMap<OrganizationId, String>) -> String {
    let at =
        e.at.to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
    let org = e.organization;
    csv_line([
        e.id.to_string(),
        at,
        e.actor.clone(),
        e.action.clone(),
        org.map(|o| o.to_string()).unwrap_or_default(),
        org.and_then(|o| names.get(&o).cloned()).unwrap_or_default(),
        e.subject.clone(),
        e.reason.clone().unwrap_or_default(),
        e.request_id.clone().unwrap_or_default(),
        if e.details.is_null() {
            String::new()
        } else {
            e.details.to_string()
        },
    ])
}

/// One CSV record, CRLF-terminated (RFC 4180 §2).
fn csv_line(cells: impl IntoIterator<Item = String>) -> String {
    let mut line = cells
        .into_iter()
        .map(|c| csv_cell(&c))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
/// tab, CR first) gets a `'` in front (OWASP "CSV injection"); a cell with
/// a comma, quote or line break is quoted, its quotes doubled (RFC 4180
/// §2.6, §2.7).
pub(super) fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("+81"), "'+81");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("=\"x\",y"), "\"'=\"\"x\"\",y\"");
        assert_eq!(csv_line(["a".into(), "".into()]), "a,\r\n");
    }

    #[test]
    fn dates_are_utc_days() {
        let d = day("2026-12-06").unwrap().unwrap();
        assert_eq!(d.unix_timestamp(), 1_796_515_200);
        assert!(day("2026-13-01").unwrap().is_err());
        assert!(day("").is_none());
    }

    #[test]
    fn details_read_as_lines() {
        let d = details(&serde_json::json!({"from": "pending", "n": 3, "x": {"a": [1]}}));
        assert_eq!(d.len(), 3);
        assert_eq!(
            (d[0].key.as_str(), d[0].value.as_str()),
            ("from", "pending")
        );
        assert_eq!(d[1].value, "3");
        assert!(d[2].block && d[2].value.contains("\n"), "{}", d[2].value);
        assert!(details(&serde_json::Value::Null).is_empty());
    }
}
