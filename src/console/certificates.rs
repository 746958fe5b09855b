//! Certificates in the console: the search (serial, DNS name,
//! organization, issuance dates; keyset pages), one certificate's page
//! (status, names, the evidence it was issued on, its PEM and chain), and
//! revocation by staff through `ra::revocation::revoke_by_staff`, as the
//! signed-in member.

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use time::{Date, OffsetDateTime};

use super::i18n::CertText;
use super::pages::{chrome, date, render, Chrome, Views};
use super::web::{encode, field, page, see_other};
use crate::core::staff::StaffRole;
use crate::core::{OrganizationId, RevocationReason};
use crate::error::{ErrorKind, Result};
use crate::sa;
use crate::sa::certificate_search::{Filter, Found, OrgFilter};
use crate::sa::evidence::{split_validation_evidence, OrderEvidence};

/// Certificates per search page.
const PAGE_SIZE: i64 = 50;

/// The reason codes staff may revoke with (RFC 5280 §5.3.1, as BR 7.2.2
/// and 4.9.1.1 allow them for subscriber certificates), by their RFC
/// names; `privilegeWithdrawn` is the CA's own.
const REASONS: [(RevocationReason, &str); 6] = [
    (RevocationReason::Unspecified, "unspecified"),
    (RevocationReason::KeyCompromise, "keyCompromise"),
    (RevocationReason::AffiliationChanged, "affiliationChanged"),
    (RevocationReason::Superseded, "superseded"),
    (
        RevocationReason::CessationOfOperation,
        "cessationOfOperation",
    ),
    (RevocationReason::PrivilegeWithdrawn, "privilegeWithdrawn"),
];

/// What the search form holds, as typed (shown back in the form).
#[derive(Default)]
struct Query {
    serial: String,
    name: String,
    org: String,
    from: String,
    until: String,
}

/// A problem with one field, shown next to it.
struct FieldError {
    field: &'static str,
    message: &'static str,
}

struct Row {
    serial: String,
    names: String,
    org: Option<(i64, String)>,
    issued: String,
    not_after: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "console/certificates.html")]
struct SearchPage {
    c: Chrome,
    k: &'static CertText,
    q: Query,
    errors: Vec<FieldError>,
    rows: Vec<Row>,
    next: Option<String>,
}

impl SearchPage {
    fn error(&self, name: &str) -> Option<&'static str> {
        self.errors
            .iter()
            .find(|e| e.field == name)
            .map(|e| e.message)
    }
}

/// One validated name: how, where from, and what CAA said.
struct NameRow {
    name: String,
    method: String,
    validated_at: String,
    reused: bool,
    /// One line per record: host, addresses, DNSSEC.
    records: Vec<String>,
    /// One line per remote perspective: name, region, outcome.
    perspectives: Vec<String>,
    caa_decision: String,
    caa_records: Vec<String>,
    caa_dnssec: String,
    caa_checked: String,
    caa_perspectives: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/certificate.html")]
struct DetailPage {
    c: Chrome,
    k: &'static CertText,
    serial: String,
    subject: String,
    issuer: String,
    not_before: String,
    not_after: String,
    issued: String,
    /// valid, expired or revoked.
    status: &'static str,
    revoked_at: String,
    reason: String,
    org: Option<(i64, String)>,
    account: i64,
    account_status: String,
    order: i64,
    profile: String,
    names: Vec<NameRow>,
    /// The revoke form, for members who may approve a still valid one.
    may_revoke: bool,
    reasons: Vec<(i32, &'static str)>,
    csrf: String,
    /// The form as submitted (kept after a refusal).
    form_code: String,
    form_reason: String,
    errors: Vec<FieldError>,
    notice: Option<&'static str>,
}

impl DetailPage {
    fn error(&self, name: &str) -> Option<&'static str> {
        self.errors
            .iter()
            .find(|e| e.field == name)
            .map(|e| e.message)
    }
}

impl Views<'_> {
    fn k(&self) -> &'static CertText {
        self.ctx.lang.certs()
    }

    /// `GET /console/certificates`: newest first, `PAGE_SIZE` a page
    /// after the certificate in `after`, filtered by what the form holds.
    pub async fn certificates(&self, query: &[(String, String)]) -> Result<Response<Full<Bytes>>> {
        let k = self.k();
        let q = Query {
            serial: field(query, "serial").unwrap_or_default().trim().to_owned(),
            name: field(query, "name").unwrap_or_default().trim().to_owned(),
            org: field(query, "org").unwrap_or_default().trim().to_owned(),
            from: field(query, "from").unwrap_or_default().trim().to_owned(),
            until: field(query, "until").unwrap_or_default().trim().to_owned(),
        };
        let after = field(query, "after")
            .and_then(|a| a.parse().ok())
            .map(crate::core::CertificateId);
        let (filter, errors) = parse_filter(&q, k);
        let mut found = Vec::new();
        if errors.is_empty() {
            let f = filter.clone();
            found = self
                .vetting
                .store()
                .read(move |c| sa::certificate_search::search(c, &f, after, PAGE_SIZE + 1))
                .await?;
        }
        let next = (found.len() as i64 > PAGE_SIZE).then(|| {
            found.truncate(PAGE_SIZE as usize);
            let last = found.last().map_or(0, |f| f.id.0);
            format!(
                "/console/certificates?serial={}&name={}&org={}&from={}&until={}&after={last}",
                encode(&q.serial),
                encode(&q.name),
                encode(&q.org),
                encode(&q.from),
                encode(&q.until)
            )
        });
        let status = if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        let page = SearchPage {
            c: chrome(Some(self.s), self.ctx, k.title),
            k,
            q,
            errors,
            rows: found.into_iter().map(row).collect(),
            next,
        };
        render(status, &page)
    }

    /// `GET /console/certificates/{serial}`.
    pub async fn certificate(
        &self,
        serial: &str,
        query: &[(String, String)],
    ) -> Result<Response<Full<Bytes>>> {
        let notice = (field(query, "done") == Some("revoked")).then_some(self.k().revoked_notice);
        self.detail(serial, StatusCode::OK, Vec::new(), ("", ""), notice)
            .await
    }

    async fn detail(
        &self,
        serial: &str,
        status: StatusCode,
        errors: Vec<FieldError>,
        (form_code, form_reason): (&str, &str),
        notice: Option<&'static str>,
    ) -> Result<Response<Full<Bytes>>> {
        let Some(ev) = self.evidence(serial).await? else {
            return self.no_such();
        };
        let Some(issued) = &ev.certificate else {
            return self.no_such();
        };
        let (k, now) = (self.k(), self.vetting.clock().now());
        let cert = &issued.certificate;
        let (subject, issuer) = subject_and_issuer(&cert.der);
        let state = if cert.revoked_at.is_some() {
            "revoked"
        } else if cert.not_after <= now {
            "expired"
        } else {
            "valid"
        };
        let page = DetailPage {
            c: chrome(Some(self.s), self.ctx, &cert.serial),
            k,
            serial: cert.serial.clone(),
            subject,
            issuer,
            not_before: date(cert.not_before),
            not_after: date(cert.not_after),
            issued: date(issued.issued_at),
            status: state,
            revoked_at: cert.revoked_at.map(date).unwrap_or_default(),
            reason: cert
                .revocation_reason
                .map(|r| reason_name(r).to_owned())
                .unwrap_or_default(),
            org: ev
                .organization
                .as_ref()
                .map(|o| (o.id.0, o.data.legal_name.clone())),
            account: ev.account.id.0,
            account_status: ev.account.status.as_str().to_owned(),
            order: ev.order.id.0,
            profile: ev.order.profile.name().to_owned(),
            names: name_rows(&ev),
            may_revoke: state != "revoked" && self.s.staff.may(StaffRole::Approve),
            reasons: REASONS.iter().map(|(r, n)| (r.code(), *n)).collect(),
            csrf: self.s.csrf.clone(),
            form_code: form_code.to_owned(),
            form_reason: form_reason.to_owned(),
            errors,
            notice,
        };
        render(status, &page)
    }

    async fn evidence(&self, serial: &str) -> Result<Option<OrderEvidence>> {
        let Some(s) = normalize_serial(serial) else {
            return Ok(None);
        };
        self.vetting
            .store()
            .read(move |c| match sa::evidence::order_of_serial(c, &s)? {
                Some(id) => sa::evidence::order(c, id),
                None => Ok(None),
            })
            .await
    }

    /// `GET /console/certificates/{serial}/certificate.pem` or
    /// `chain.pem` (the certificate, then the intermediate: what an ACME
    /// client downloads, RFC 8555 §7.4.2).
    pub async fn certificate_pem(
        &self,
        serial: &str,
        what: &str,
        intermediate: Option<&str>,
    ) -> Result<Response<Full<Bytes>>> {
        let Some(s) = normalize_serial(serial) else {
            return self.no_such();
        };
        let s2 = s.clone();
        let Some(cert) = self
            .vetting
            .store()
            .read(move |c| sa::certificates::by_serial(c, &s2))
            .await?
        else {
            return self.no_such();
        };
        let leaf = pem::encode(&pem::Pem::new("CERTIFICATE", cert.der));
        let body = match (what, intermediate) {
            ("certificate.pem", _) => leaf,
            ("chain.pem", Some(i)) => format!("{leaf}{i}"),
            _ => return self.no_such(),
        };
        let mut r = page(
            StatusCode::OK,
            "application/pem-certificate-chain",
            Bytes::from(body),
        );
        let name = format!("attachment; filename=\"{s}-{what}\"");
        if let Ok(v) = hyper::header::HeaderValue::from_str(&name) {
            r.headers_mut()
                .insert(hyper::header::CONTENT_DISPOSITION, v);
        }
        Ok(r)
    }

    /// `POST /console/certificates/{serial}/revoke`: a reason code, the
    /// reason text and the confirmation; refusals next to their field.
    /// The caller has checked the `approve` role.
    pub async fn revoke(
        &self,
        serial: &str,
        form: &[(String, String)],
    ) -> Result<Response<Full<Bytes>>> {
        let k = self.k();
        let Some(s) = normalize_serial(serial) else {
            return self.no_such();
        };
        let code_text = field(form, "code").unwrap_or_default().trim();
        let reason = field(form, "reason").unwrap_or_default().trim();
        let mut errors = Vec::new();
        let code = code_text
            .parse::<i64>()
            .ok()
            .and_then(RevocationReason::from_code);
        if code.is_none() {
            errors.push(FieldError {
                field: "code",
                message: k.bad_code,
            });
        }
        if reason.is_empty() {
            errors.push(FieldError {
                field: "reason",
                message: k.reason_required,
            });
        }
        if field(form, "confirm") != Some("yes") {
            errors.push(FieldError {
                field: "confirm",
                message: k.confirm_required,
            });
        }
        let refused = |errors, status| self.detail(&s, status, errors, (code_text, reason), None);
        let Some(code) = code.filter(|_| errors.is_empty()) else {
            return refused(errors, StatusCode::BAD_REQUEST).await;
        };
        let actor = self.s.staff.actor();
        match crate::ra::revocation::revoke_by_staff(self.vetting.store(), &actor, &s, code, reason)
            .await
        {
            Ok(()) => Ok(see_other(&format!(
                "/console/certificates/{s}?done=revoked"
            ))),
            Err(e) if e.kind == ErrorKind::NotFound => self.no_such(),
            Err(e) if e.kind == ErrorKind::AlreadyRevoked => {
                let e = FieldError {
                    field: "code",
                    message: k.already_revoked,
                };
                refused(vec![e], StatusCode::CONFLICT).await
            }
            Err(e) if e.kind == ErrorKind::Malformed => {
                let e = FieldError {
                    field: "reason",
                    message: k.reason_required,
                };
                refused(vec![e], StatusCode::BAD_REQUEST).await
            }
            Err(e) => Err(e),
        }
    }
}

/// The form's fields as a filter, or what is wrong with each.
fn parse_filter(q: &Query, k: &'static CertText) -> (Filter, Vec<FieldError>) {
    let mut f = Filter::default();
    let mut errors = Vec::new();
    let mut bad = |field, message| errors.push(FieldError { field, message });
    if !q.serial.is_empty() {
        match normalize_serial(&q.serial) {
            Some(s) => f.serial = Some(s),
            None => bad("serial", k.bad_serial),
        }
    }
    if !q.name.is_empty() {
        let n = q.name.trim_end_matches('.').to_ascii_lowercase();
        let n = n.strip_prefix("*.").unwrap_or(&n).to_owned();
        match crate::core::names::DnsName::parse(&n) {
            Ok(_) => f.name = Some(n),
            Err(_) => bad("name", k.bad_name),
        }
    }
    if !q.org.is_empty() {
        f.organization = Some(match q.org.parse::<i64>() {
            Ok(id) => OrgFilter::Id(OrganizationId(id)),
            Err(_) => OrgFilter::Name(q.org.clone()),
        });
    }
    for (name, text) in [("from", &q.from), ("until", &q.until)] {
        if text.is_empty() {
            continue;
        }
        match parse_day(text) {
            Some(day) if name == "from" => f.from = Some(day),
            // "until" is inclusive of its day.
            Some(day) => f.until = Some(day + time::Duration::days(1)),
            None => bad(name, k.bad_date),
        }
    }
    (f, errors)
}

/// `YYYY-MM-DD`, the start of that day in UTC.
fn parse_day(s: &str) -> Option<OffsetDateTime> {
    let d = Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(d.midnight().assume_utc())
}

/// A serial as staff paste it (either case, with or without colons or
/// spaces; percent-encoded in a URL path) as stored: lower-case hex.
fn normalize_serial(s: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(s).decode_utf8_lossy();
    let hex: String = decoded
        .chars()
        .filter(|c| !matches!(c, ':' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    (!hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(hex)
}

fn reason_name(code: i32) -> &'static str {
    REASONS
        .iter()
        .find(|(r, _)| r.code() == code)
        .map_or("?", |(_, n)| n)
}

fn row(f: Found) -> Row {
    Row {
        serial: f.serial,
        names: f.names.join(", "),
        org: f.organization.map(|(id, name)| (id.0, name)),
        issued: date(f.issued_at),
        not_after: date(f.not_after),
        revoked: f.revoked,
    }
}

/// The subject and issuer DNs as RFC 4514 strings.
fn subject_and_issuer(der: &[u8]) -> (String, String) {
    use x509_parser::prelude::{FromDer, X509Certificate};
    match X509Certificate::from_der(der) {
        Ok((_, c)) => (c.subject().to_string(), c.issuer().to_string()),
        Err(_) => (String::new(), String::new()),
    }
}

/// Per name: the validation it was issued on (perhaps reused from an
/// earlier order), the perspectives' answers, and the CAA decision.
fn name_rows(ev: &OrderEvidence) -> Vec<NameRow> {
    use crate::core::ChallengeStatus;
    ev.order
        .authorizations
        .iter()
        .map(|authz| {
            let name = authz.order_name();
            let valid = authz
                .challenges
                .iter()
                .find(|ch| ch.status == ChallengeStatus::Valid);
            let (records, perspectives) =
                split_validation_evidence(valid.and_then(|ch| ch.validation_records.as_ref()));
            let caa = ev
                .caa
                .as_ref()
                .and_then(serde_json::Value::as_array)
                .and_then(|all| all.iter().find(|e| e["name"] == name.as_str()));
            let text = |v: Option<&serde_json::Value>, key: &str| {
                v.and_then(|v| v[key].as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            NameRow {
                method: valid
                    .map(|ch| ch.kind.as_str().to_owned())
                    .unwrap_or_default(),
                validated_at: valid
                    .and_then(|ch| ch.validated_at)
                    .map(date)
                    .unwrap_or_default(),
                reused: ev
                    .validated_for
                    .get(&authz.id)
                    .is_some_and(|first| *first != ev.order.id),
                records: lines(records, record_line),
                perspectives: lines(perspectives, perspective_line),
                caa_decision: text(caa, "decision"),
                caa_records: caa
                    .and_then(|c| c["records"].as_array())
                    .map(|r| {
                        r.iter()
                            .filter_map(|x| x.as_str())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                caa_dnssec: text(caa, "dnssec"),
                caa_checked: text(caa, "checkedAt"),
                caa_perspectives: lines(caa.map(|c| &c["perspectives"]), perspective_line),
                name,
            }
        })
        .collect()
}

fn lines(v: Option<&serde_json::Value>, f: fn(&serde_json::Value) -> String) -> Vec<String> {
    v.and_then(serde_json::Value::as_array)
        .map(|a| a.iter().map(f).collect())
        .unwrap_or_default()
}

/// A validation record (va::ValidationRecord, camelCase as stored).
fn record_line(r: &serde_json::Value) -> String {
    let mut parts = vec![r["url"]
        .as_str()
        .or(r["hostname"].as_str())
        .unwrap_or_default()
        .to_owned()];
    if let Some(a) = r["addressUsed"].as_str() {
        parts.push(format!("→ {a}"));
    }
    if let Some(d) = r["dnsAnswers"].as_array().filter(|d| !d.is_empty()) {
        parts.push(format!("TXT {}", joined(d)));
    }
    if let Some(d) = r["dnssec"].as_str() {
        parts.push(format!("DNSSEC {d}"));
    }
    parts.join(" ")
}

/// A remote perspective's answer (va::remote::RemoteAnswer).
fn perspective_line(p: &serde_json::Value) -> String {
    let outcome = &p["outcome"];
    let mut s = format!(
        "{} ({}): {}",
        p["perspective"].as_str().unwrap_or("?"),
        p["region"].as_str().unwrap_or("-"),
        outcome["status"].as_str().unwrap_or("?")
    );
    if let Some(d) = outcome["detail"].as_str() {
        s.push_str(&format!(" — {d}"));
    }
    if let Some(d) = p["caa"]["decision"].as_str() {
        s.push_str(&format!(" — CAA {d}"));
    }
    if let Some(t) = p["checkedAt"].as_str() {
        s.push_str(&format!(" @ {t}"));
    }
    s
}

fn joined(a: &[serde_json::Value]) -> String {
    a.iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect::<Vec<_>>()
        .join(", ")
}
