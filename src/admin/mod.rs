//! The staff-facing admin API: its own plain-HTTP listener, bearer tokens
//! (`auth`), JSON in and out, the same `Vetting` service the CLI calls.
//!
//! Every endpoint is one row of `ROUTES` (method, path, role, allowed
//! query parameters, handler), and every request passes through
//! `Admin::handle`, which does authentication, role checks, the body
//! limit, JSON errors and problem documents; handlers only turn a `Call`
//! into a `Reply` or an `Error`. `openapi.json` describes the same table
//! (a test holds the two together).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::acme::problem::Problem;
use crate::config::{Config, StaffRole};
use crate::core::OrganizationId;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{RequestId, REQUEST_ID_HEADER};
use crate::vetting::Vetting;
use crate::wfe::urls::Urls;

pub mod auth;
mod evidence;
mod handlers;
pub mod server;

pub use handlers::{parse_check_submission, parse_rfc3339};

/// The OpenAPI 3.0 description of `ROUTES`, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Organization data with every field filled is a few KiB; this leaves
/// room without letting a client make the server buffer much.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
type Handler = for<'a> fn(&'a Admin, Call) -> BoxFuture<'a, Result<Reply>>;

/// One endpoint.
pub struct Route {
    pub method: &'static str,
    /// Segments in braces match any one non-empty segment (OpenAPI's
    /// path template syntax, so the document can be compared with it).
    pub path: &'static str,
    /// `None`: served without authentication.
    pub role: Option<StaffRole>,
    /// Query parameters accepted; any other is refused, so a typo in a
    /// filter never silently lists everything.
    pub query: &'static [&'static str],
    handler: Handler,
}

macro_rules! h {
    ($f:path) => {
        |a, c| Box::pin($f(a, c))
    };
}

/// Every endpoint the admin listener serves.
#[rustfmt::skip]
pub static ROUTES: &[Route] = {
    use handlers as x;
    use StaffRole::{Approve, Vet, View};
    const fn r(
        method: &'static str,
        path: &'static str,
        role: Option<StaffRole>,
        query: &'static [&'static str],
        handler: Handler,
    ) -> Route {
        Route { method, path, role, query, handler }
    }
    &[
        r("GET",  "/healthz",                               None,          &[], h!(x::healthz)),
        r("GET",  "/readyz",                                None,          &[], h!(x::readyz)),
        r("GET",  "/metrics",                               None,          &[], h!(x::metrics)),
        r("GET",  "/openapi.json",                          None,          &[], h!(x::openapi)),
        r("GET",  "/admin/organizations",                   Some(View),    &["status"], h!(x::org_list)),
        r("POST", "/admin/organizations",                   Some(Vet),     &[], h!(x::org_create)),
        r("GET",  "/admin/organizations/{id}",              Some(View),    &[], h!(x::org_show)),
        r("PUT",  "/admin/organizations/{id}",              Some(Vet),     &[], h!(x::org_edit)),
        r("GET",  "/admin/organizations/{id}/checks",       Some(View),    &[], h!(x::check_list)),
        r("POST", "/admin/organizations/{id}/checks",       Some(Vet),     &[], h!(x::check_record)),
        r("POST", "/admin/organizations/{id}/approve",      Some(Approve), &[], h!(x::transition)),
        r("POST", "/admin/organizations/{id}/reject",       Some(Approve), &[], h!(x::transition)),
        r("POST", "/admin/organizations/{id}/suspend",      Some(Approve), &[], h!(x::transition)),
        r("POST", "/admin/organizations/{id}/reinstate",    Some(Approve), &[], h!(x::transition)),
        r("POST", "/admin/organizations/{id}/reopen",       Some(Approve), &[], h!(x::transition)),
        r("GET",  "/admin/organizations/{id}/eab",          Some(View),    &[], h!(x::eab_list)),
        r("POST", "/admin/organizations/{id}/eab",          Some(Vet),     &[], h!(x::eab_create)),
        r("POST", "/admin/eab/{key_id}/revoke",             Some(Vet),     &[], h!(x::eab_revoke)),
        r("POST", "/admin/certificates/{serial}/revoke",    Some(Approve), &[], h!(x::cert_revoke)),
        r("GET",  "/admin/organizations/{id}/accounts",     Some(View),    &[], h!(x::accounts)),
        r("GET",  "/admin/organizations/{id}/certificates", Some(View),    &[], h!(x::certificates)),
        r("GET",  "/admin/orders/blocked",                  Some(View),    &[], h!(x::blocked_orders)),
        r("GET",  "/admin/audit",                           Some(View),    &["organization", "limit"], h!(x::audit)),
        // Evidence (read-only): what orders and certificates were validated and
        // issued on. After /admin/orders/blocked: the first match wins.
        r("GET",  "/admin/orders/{id}",                     Some(View),    &[], h!(evidence::order)),
        r("GET",  "/admin/certificates/{serial}/evidence",  Some(View),    &[], h!(evidence::certificate)),
        r("GET",  "/admin/organizations/{id}/orders",       Some(View),    &["limit", "before"], h!(evidence::organization_orders)),
    ]
};

impl Route {
    /// The path parameters if `path` matches this route's template.
    fn captures(&self, path: &str) -> Option<Vec<String>> {
        let mut want = self.path.split('/');
        let mut got = path.split('/');
        let mut params = Vec::new();
        loop {
            match (want.next(), got.next()) {
                (None, None) => return Some(params),
                (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                    if g.is_empty() {
                        return None;
                    }
                    params.push(g.to_owned());
                }
                (Some(w), Some(g)) if w == g => {}
                _ => return None,
            }
        }
    }
}

/// What a handler gets: who calls, the path parameters, the query and
/// the body, already checked against the route.
pub struct Call {
    /// The staff member's name (empty on unauthenticated routes); the
    /// actor recorded in the audit log.
    actor: String,
    path: String,
    params: Vec<String>,
    query: Vec<(String, String)>,
    body: Bytes,
}

impl Call {
    fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or_default()
    }

    /// The organization id in the path; anything but a number names no
    /// organization.
    fn org_id(&self) -> Result<OrganizationId> {
        self.param(0)
            .parse()
            .map_err(|_| Error::not_found(format!("no organization {:?}", self.param(0))))
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as `T`; an empty body reads as `{}` so that endpoints
    /// whose fields are all optional need none, and one with required
    /// fields names the first missing.
    fn json<T: DeserializeOwned>(&self) -> Result<T> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.body
        };
        serde_json::from_slice(body)
            .map_err(|e| Error::malformed(format!("invalid request body: {e}")))
    }
}

/// What a handler answers.
pub struct Reply {
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
    location: Option<String>,
}

impl Reply {
    fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Result<Reply> {
        let body = serde_json::to_vec_pretty(value)
            .map_err(|e| Error::internal(format!("rendering JSON: {e}")))?;
        Ok(Reply::raw(status, "application/json", body.into()))
    }

    fn raw(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
        Reply {
            status,
            body,
            content_type,
            location: None,
        }
    }

    fn location(mut self, path: String) -> Reply {
        self.location = Some(path);
        self
    }
}

/// What the wrapper learns while routing, for the log line and metrics.
#[derive(Default)]
struct Seen {
    /// The route's path template (the metrics' `endpoint`).
    endpoint: Option<&'static str>,
    /// The authenticated staff member.
    actor: Option<String>,
}

/// A request that did not reach a handler or that a handler refused.
enum Failure {
    Error(Error),
    /// 401 with `WWW-Authenticate` (RFC 6750 §3), not an `Error` kind:
    /// ACME has no unauthenticated status.
    Unauthenticated(auth::Unauthenticated),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Error(e)
    }
}

/// The admin service behind the listener.
pub struct Admin {
    vetting: Vetting,
    staff: auth::Staff,
    /// To give staff the ACME URLs of accounts and orders.
    urls: Urls,
    timeout: Duration,
    /// notAfter of the loaded intermediate; `None` until a CA is attached
    /// (`with_ca`), which `/readyz` reports as not ready.
    ca_not_after: Option<time::OffsetDateTime>,
}

impl Admin {
    pub fn new(cfg: &Config, vetting: Vetting) -> Result<Admin> {
        let staff = auth::Staff::from_config(&cfg.admin)?;
        if staff.is_empty() {
            tracing::warn!("admin.staff is empty: the admin API will refuse every request");
        }
        Ok(Admin {
            vetting,
            staff,
            urls: Urls::new(&cfg.base_url()),
            timeout: Duration::from_secs(cfg.server.request_timeout_secs),
            ca_not_after: None,
        })
    }

    /// Records that `ca` is loaded: `CertificateAuthority::load` checked
    /// that the key is the intermediate's, so holding one means the key is
    /// usable; readiness then only needs the intermediate's notAfter.
    pub fn with_ca(mut self, ca: &crate::ca::CertificateAuthority) -> Admin {
        use x509_parser::prelude::{FromDer, X509Certificate};
        self.ca_not_after = X509Certificate::from_der(ca.intermediate_der())
            .ok()
            .map(|(_, c)| c.validity().not_after.to_datetime());
        self
    }

    /// The one wrapper every request passes through: a request id (sent
    /// as X-Request-Id and in the span of every log line of the request),
    /// the timeout, problem documents, one log line and the metrics.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let id = RequestId::generate();
        let span = tracing::info_span!("admin", request_id = %id);
        let mut resp = self.handle_in_span(req).instrument(span).await;
        resp.headers_mut()
            .insert(REQUEST_ID_HEADER, id.header_value());
        resp
    }

    async fn handle_in_span(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let mut seen = Seen::default();
        let result = match tokio::time::timeout(self.timeout, self.route(req, &mut seen)).await {
            Ok(r) => r,
            Err(_) => Err(Error::unavailable("request timed out").into()),
        };
        let staff = seen.actor.unwrap_or_default();
        let endpoint = seen.endpoint.unwrap_or(crate::metrics::UNKNOWN_ENDPOINT);
        let (resp, failure) = match result {
            Ok(reply) => (render(reply), None),
            Err(Failure::Unauthenticated(auth::Unauthenticated(why))) => {
                let mut resp = problem(&Error::unauthorized(why), StatusCode::UNAUTHORIZED);
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"trustgate-admin\""),
                );
                (resp, Some(Error::unauthorized(why)))
            }
            Err(Failure::Error(e)) => {
                let status = StatusCode::from_u16(Problem::from_error(&e).status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut resp = problem(&e, status);
                if e.kind == ErrorKind::MethodNotAllowed {
                    if let Ok(v) = HeaderValue::from_str(&allowed_methods(&path).join(", ")) {
                        resp.headers_mut().insert(header::ALLOW, v);
                    }
                }
                (resp, Some(e))
            }
        };
        let status = resp.status().as_u16();
        let took = started.elapsed();
        self.vetting
            .store()
            .metrics()
            .admin()
            .observe(endpoint, &method, status, took);
        let ms = crate::http::millis(took);
        // Never the body: organization data is personal data.
        match failure {
            None => tracing::info!(%method, path, endpoint, staff, status, ms, "admin request"),
            Some(e) => match e.kind {
                ErrorKind::ServerInternal | ErrorKind::Unavailable => {
                    tracing::error!(%method, path, endpoint, staff, status, ms, error = %e, "admin request")
                }
                _ => {
                    tracing::info!(%method, path, endpoint, staff, status, ms, detail = %e.detail, "admin request")
                }
            },
        }
        resp
    }

    async fn route(&self, req: Request<Incoming>, seen: &mut Seen) -> Result<Reply, Failure> {
        let path = req.uri().path().to_owned();
        let candidates: Vec<(&Route, Vec<String>)> = ROUTES
            .iter()
            .filter_map(|r| r.captures(&path).map(|p| (r, p)))
            .collect();
        if candidates.is_empty() {
            return Err(Error::not_found(format!("no resource at {path}")).into());
        }
        // A 405 still names the resource.
        seen.endpoint = candidates.first().map(|(r, _)| r.path);
        let Some((route, params)) = candidates
            .into_iter()
            .find(|(r, _)| r.method == req.method().as_str())
        else {
            return Err(Error::new(
                ErrorKind::MethodNotAllowed,
                format!("{} is not allowed on {path}", req.method()),
            )
            .into());
        };
        seen.endpoint = Some(route.path);
        let name = match route.role {
            None => String::new(),
            Some(role) => {
                let header = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                let member = self
                    .staff
                    .authenticate(header)
                    .map_err(Failure::Unauthenticated)?;
                seen.actor = Some(member.name.clone());
                if !member.may(role) {
                    return Err(Error::unauthorized(format!(
                        "{} does not have the {} role",
                        member.name,
                        role_name(role)
                    ))
                    .into());
                }
                member.name.clone()
            }
        };
        let query = parse_query(req.uri().query().unwrap_or_default(), route.query)?;
        let body = read_body(req).await?;
        let call = Call {
            actor: name,
            path,
            params,
            query,
            body,
        };
        Ok((route.handler)(self, call).await?)
    }
}

fn role_name(role: StaffRole) -> &'static str {
    match role {
        StaffRole::View => "view",
        StaffRole::Vet => "vet",
        StaffRole::Approve => "approve",
    }
}

fn allowed_methods(path: &str) -> Vec<&'static str> {
    ROUTES
        .iter()
        .filter(|r| r.captures(path).is_some())
        .map(|r| r.method)
        .collect()
}

/// `a=1&b=2`, refusing parameters the route does not take. Values are
/// ids, numbers and status names, so no percent-decoding is needed; one
/// that would need it is refused by the handler's parse.
fn parse_query(q: &str, allowed: &[&str]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !allowed.contains(&k) {
            return Err(Error::malformed(match allowed {
                [] => format!("unknown query parameter {k:?}; this resource takes none"),
                _ => format!(
                    "unknown query parameter {k:?}; this resource takes {}",
                    allowed.join(", ")
                ),
            }));
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes> {
    let too_large = || {
        Error::new(
            ErrorKind::PayloadTooLarge,
            format!("request body is larger than {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(Error::malformed(format!("reading the request body: {e}"))),
    }
}

fn render(reply: Reply) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(reply.body));
    *resp.status_mut() = reply.status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    if let Some(loc) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, loc);
    }
    no_store(h);
    resp
}

/// The problem document of `e` (the one mapping, `Problem::from_error`),
/// sent with `status`.
fn problem(e: &Error, status: StatusCode) -> Response<Full<Bytes>> {
    let mut p = Problem::from_error(e);
    p.status = status.as_u16();
    let body = serde_json::to_vec_pretty(&p).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if e.kind == ErrorKind::Unavailable {
        h.insert(header::RETRY_AFTER, HeaderValue::from(5u32));
    }
    no_store(h);
    resp
}

/// Organization data is personal data; no proxy or browser keeps it.
fn no_store(h: &mut hyper::HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_segments() {
        let r = ROUTES
            .iter()
            .find(|r| r.path == "/admin/organizations/{id}/checks")
            .unwrap();
        assert_eq!(
            r.captures("/admin/organizations/7/checks"),
            Some(vec!["7".to_owned()])
        );
        assert_eq!(r.captures("/admin/organizations//checks"), None);
        assert_eq!(r.captures("/admin/organizations/7/checks/"), None);
        assert_eq!(r.captures("/admin/organizations/7"), None);
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    #[test]
    fn a_literal_segment_is_matched_before_a_template() {
        // `route` takes the first match: /admin/orders/blocked must not
        // be read as the order "blocked".
        let first = ROUTES
            .iter()
            .find(|r| r.method == "GET" && r.captures("/admin/orders/blocked").is_some())
            .unwrap();
        assert_eq!(first.path, "/admin/orders/blocked");
        let first = ROUTES
            .iter()
            .find(|r| r.method == "GET" && r.captures("/admin/orders/7").is_some())
            .unwrap();
        assert_eq!(first.path, "/admin/orders/{id}");
    }

    #[test]
    fn unknown_query_parameters_are_refused() {
        assert!(parse_query("status=pending", &["status"]).is_ok());
        assert!(parse_query("stauts=pending", &["status"]).is_err());
        assert!(parse_query("", &[]).unwrap().is_empty());
    }

    #[test]
    fn the_openapi_document_is_json() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    }
}
