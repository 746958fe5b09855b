//! `GET /admin/audit`: the audit trail for auditors (BR 5.4.1), oldest
//! first, in pages of at most `AUDIT_MAX_LIMIT` with a `Link: rel="next"`
//! cursor (`after=<id>`), or the whole of a period as JSON lines
//! (`?format=jsonl` or `Accept: application/jsonl`), read in pages.

use bytes::{BufMut, Bytes, BytesMut};
use hyper::StatusCode;

use super::handlers::parse_rfc3339;
use super::{Admin, Call, Reply};
use crate::core::OrganizationId;
use crate::error::{Error, Result};
use crate::sa::audit::{self, AuditEvent, Filter};

/// Events per page when the request names no limit, and at most.
const AUDIT_DEFAULT_LIMIT: i64 = 100;
const AUDIT_MAX_LIMIT: i64 = 1000;

/// The media type of the export: one JSON event per line.
pub const JSONL: &str = "application/jsonl";

pub async fn audit(a: &Admin, c: Call) -> Result<Reply> {
    let filter = filter(&c)?;
    let limit = limit(&c)?;
    if let Some(id) = filter.organization {
        a.vetting.get(id).await?;
    }
    if wants_jsonl(&c)? {
        return export(a, filter).await;
    }
    let mut events = page(a, filter, limit + 1).await?;
    let more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    let reply = Reply::json(StatusCode::OK, &events)?;
    Ok(match events.last() {
        Some(last) if more => reply.next(next_link(&c, last.id, limit)),
        _ => reply,
    })
}

/// `organization`, `since`, `until` (RFC 3339; `since <= at < until`)
/// and the cursor `after`.
fn filter(c: &Call) -> Result<Filter> {
    let organization = c
        .query("organization")
        .map(|s| {
            s.parse::<OrganizationId>()
                .map_err(|_| Error::malformed(format!("organization {s:?} is not an id")))
        })
        .transpose()?;
    let time = |name: &str| {
        c.query(name)
            .map(|s| parse_rfc3339(name, &percent_decode(s)))
            .transpose()
    };
    let after = c
        .query("after")
        .map(|s| {
            s.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| Error::malformed(format!("after {s:?} is not an event id")))
        })
        .transpose()?;
    let f = Filter {
        organization,
        since: time("since")?,
        until: time("until")?,
        after,
        ..Filter::default()
    };
    if let (Some(s), Some(u)) = (f.since, f.until) {
        if u < s {
            return Err(Error::malformed("until must not be before since"));
        }
    }
    Ok(f)
}

fn limit(c: &Call) -> Result<i64> {
    match c.query("limit") {
        None => Ok(AUDIT_DEFAULT_LIMIT),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=AUDIT_MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Error::malformed(format!(
                    "limit {s:?} must be a number from 1 to {AUDIT_MAX_LIMIT}"
                ))
            }),
    }
}

/// JSON lines when `format=jsonl` or the client accepts only that;
/// `format=json` (or none) is the paged JSON array.
fn wants_jsonl(c: &Call) -> Result<bool> {
    match c.query("format") {
        Some("jsonl") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(Error::malformed(format!(
            "format {other:?} is not json or jsonl"
        ))),
        None => Ok(c
            .accept
            .as_deref()
            .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with(JSONL)))),
    }
}

async fn page(a: &Admin, filter: Filter, limit: i64) -> Result<Vec<AuditEvent>> {
    a.vetting
        .store()
        .read(move |c| audit::page(c, filter, limit))
        .await
}

/// Every event of the filter, oldest first, one JSON object per line,
/// read a page at a time (each read short, so no read holds a
/// connection long).
async fn export(a: &Admin, mut filter: Filter) -> Result<Reply> {
    let mut out = BytesMut::new();
    loop {
        let events = page(a, filter.clone(), AUDIT_MAX_LIMIT).await?;
        for e in &events {
            let line = serde_json::to_vec(e)
                .map_err(|e| Error::internal(format!("rendering an audit event: {e}")))?;
            out.put_slice(&line);
            out.put_u8(b'\n');
        }
        match events.last() {
            Some(last) if events.len() as i64 == AUDIT_MAX_LIMIT => filter.after = Some(last.id),
            _ => break,
        }
    }
    Ok(Reply::raw(StatusCode::OK, JSONL, Bytes::from(out)))
}

/// The same query with `after` moved past `last`.
fn next_link(c: &Call, last: i64, limit: i64) -> String {
    let mut query: Vec<String> = c
        .query
        .iter()
        .filter(|(k, _)| k != "after" && k != "limit")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    query.push(format!("limit={limit}"));
    query.push(format!("after={last}"));
    format!("{}?{}", c.path, query.join("&"))
}

/// `%XX` escapes (a `+` of a time offset arrives as `%2B`); anything
/// malformed is left as it is, for the parse to refuse.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_in_times_are_decoded() {
        assert_eq!(
            percent_decode("2026-12-06T10%3A00%3A00%2B09%3A00"),
            "2026-12-06T10:00:00+09:00"
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
