//! The staff-facing admin API: its own plain-HTTP listener, bearer tokens
//! (`auth`), JSON in and out, the same `Vetting` service the CLI calls.
//!
//! Every endpoint is one row of `ROUTES` (method, path, role, allowed
//! query parameters, handler), and every request passes through the
//! shared edge (`crate::http`: request id, body limit, timeout, metrics,
//! log line), then `Admin`'s `Service` impl, which does authentication,
//! role checks, JSON errors and problem documents; handlers only turn a
//! `Call` into a `Reply` or an `Error`. `openapi.json` describes the same
//! table (a test holds the two together).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::de::DeserializeOwned;

use crate::acme::problem::Problem;
use crate::config::{Config, StaffRole};
use crate::console::Console;
use crate::core::urls::Urls;
use crate::core::OrganizationId;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Answer, Listener, Record};
use crate::metrics::HttpMetrics;
use crate::vetting::Vetting;

mod audit;
pub mod auth;
mod evidence;
mod handlers;
pub mod server;

pub use handlers::{parse_check_submission, parse_rfc3339};
/// The staff API's request bodies, for `crate::fuzzing`.
pub(crate) use handlers::{
    refusal_fields, CertRevokeBody, EabCreateBody, LimitsBody, ReasonBody, TransitionBody,
};

/// Every endpoint name the listener reports in metrics: the API's
/// routes and the console's pages.
pub fn endpoint_names() -> Vec<&'static str> {
    ROUTES
        .iter()
        .map(|r| r.path)
        .chain(crate::console::ENDPOINTS.iter().copied())
        .collect()
}

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
        r("GET",  "/admin/organizations/{id}/limits",       Some(View),    &[], h!(x::limits_show)),
        r("PUT",  "/admin/organizations/{id}/limits",       Some(Approve), &[], h!(x::limits_set)),
        r("GET",  "/admin/organizations/{id}/eab",          Some(View),    &[], h!(x::eab_list)),
        r("POST", "/admin/organizations/{id}/eab",          Some(Vet),     &[], h!(x::eab_create)),
        r("POST", "/admin/eab/{key_id}/revoke",             Some(Vet),     &[], h!(x::eab_revoke)),
        r("POST", "/admin/accounts/{account_id}/deactivate", Some(Vet),     &[], h!(x::account_deactivate)),
        r("POST", "/admin/certificates/{serial}/revoke",    Some(Approve), &[], h!(x::cert_revoke)),
        r("GET",  "/admin/organizations/{id}/accounts",     Some(View),    &[], h!(x::accounts)),
        r("GET",  "/admin/organizations/{id}/certificates", Some(View),    &[], h!(x::certificates)),
        r("GET",  "/admin/orders/blocked",                  Some(View),    &[], h!(x::blocked_orders)),
        r("GET",  "/admin/audit",                           Some(View),    &["organization", "limit", "since", "until", "after", "format"], h!(audit::audit)),
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
    /// The staff member's identity, `staff:NAME#ID` (empty on
    /// unauthenticated routes); the actor recorded in the audit log.
    actor: String,
    path: String,
    params: Vec<String>,
    query: Vec<(String, String)>,
    /// The `Accept` header (the audit export's media type).
    accept: Option<String>,
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
        json_body(&self.body)
    }
}

/// A request body as `T`, blank read as `{}` (see [`Call::json`]). Every
/// body is an object: serde would also read a struct from an array, by
/// position, past `deny_unknown_fields` and the OpenAPI document.
pub(crate) fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    if !body.trim_ascii_start().starts_with(b"{") {
        return Err(Error::malformed(
            "invalid request body: it must be a JSON object",
        ));
    }
    // serde_json checks UTF-8 only in the strings it keeps.
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::malformed("invalid request body: it is not UTF-8"))?;
    serde_json::from_str(text).map_err(|e| Error::malformed(format!("invalid request body: {e}")))
}

/// What a handler answers.
pub struct Reply {
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
    location: Option<String>,
    /// The next page (`Link: <…>; rel="next"`).
    next: Option<String>,
    /// A console page, rendered with its own headers.
    page: Option<Response<Full<Bytes>>>,
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
            next: None,
            page: None,
        }
    }

    fn page(page: Response<Full<Bytes>>) -> Reply {
        Reply {
            page: Some(page),
            ..Reply::raw(StatusCode::OK, "text/html", Bytes::new())
        }
    }

    fn next(mut self, path: String) -> Reply {
        self.next = Some(path);
        self
    }

    fn location(mut self, path: String) -> Reply {
        self.location = Some(path);
        self
    }
}

/// A request that did not reach a handler or that a handler refused.
pub enum Failure {
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
    /// To give staff the ACME URLs of accounts and orders.
    urls: Urls,
    timeout: Duration,
    limits: http::ConnectionLimits,
    /// notAfter of the loaded intermediate; `None` until a CA is attached
    /// (`with_ca`), which `/readyz` reports as not ready.
    ca_not_after: Option<time::OffsetDateTime>,
    /// The configured rate limits, under the organizations' overrides.
    rate_limits: crate::config::LimitsConfig,
    /// The staff console's pages, under `/console/`.
    console: Console,
}

impl Admin {
    pub fn new(cfg: &Config, vetting: Vetting) -> Result<Admin> {
        Ok(Admin {
            console: Console::new(cfg, vetting.clone()),
            vetting,
            urls: Urls::new(&cfg.base_url()),
            timeout: Duration::from_secs(cfg.server.request_timeout_secs),
            limits: cfg.server.connection_limits(),
            ca_not_after: None,
            rate_limits: cfg.limits.clone(),
        })
    }

    /// The console's invoice pages over `billing` (with `[billing]`).
    pub fn with_billing(mut self, billing: Option<crate::billing::Billing>) -> Admin {
        self.console.set_billing(billing);
        self
    }

    /// Records that `ca` is loaded: `CertificateAuthority::load` checked
    /// that the key is the intermediate's, so holding one means the key is
    /// usable; readiness then only needs the intermediate's notAfter.
    pub fn with_ca(mut self, ca: &crate::ca::CertificateAuthority) -> Admin {
        use x509_parser::prelude::{FromDer, X509Certificate};
        self.ca_not_after = X509Certificate::from_der(ca.intermediate_der())
            .ok()
            .map(|(_, c)| c.validity().not_after.to_datetime());
        self.console.set_intermediate(ca.intermediate_pem());
        self.console.set_ca_not_after(self.ca_not_after);
        self
    }

    /// Matches the route, authenticates and authorizes, then calls the
    /// handler; `record` learns the route and the staff member on the way.
    async fn dispatch(
        &self,
        req: Request<http::Body>,
        record: &mut Record,
    ) -> Result<Reply, Failure> {
        let path = record.path.clone();
        if Console::serves(&path) {
            return Ok(Reply::page(self.console.handle(req, record).await?));
        }
        let candidates: Vec<(&Route, Vec<String>)> = ROUTES
            .iter()
            .filter_map(|r| r.captures(&path).map(|p| (r, p)))
            .collect();
        if candidates.is_empty() {
            return Err(Error::not_found(format!("no resource at {path}")).into());
        }
        // A 405 still names the resource.
        if let Some((r, _)) = candidates.first() {
            record.endpoint = r.path;
        }
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
        record.endpoint = route.path;
        let actor = match route.role {
            None => String::new(),
            Some(role) => {
                let header = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                let member = auth::authenticate(&self.vetting, header)
                    .await?
                    .map_err(Failure::Unauthenticated)?;
                record.staff = Some(member.actor());
                if !member.may(role) {
                    return Err(Error::unauthorized(format!(
                        "{} does not have the {} role",
                        member.name,
                        role.as_str()
                    ))
                    .into());
                }
                member.actor()
            }
        };
        let query = parse_query(req.uri().query().unwrap_or_default(), route.query)?;
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = req.into_body()?;
        let call = Call {
            actor,
            path,
            params,
            query,
            accept,
            body,
        };
        Ok((route.handler)(self, call).await?)
    }
}

/// The admin listener behind the shared edge.
impl http::Service for Admin {
    type Reply = Reply;
    type Failure = Failure;
    const LISTENER: Listener = Listener::Admin;

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn body_limit(&self) -> usize {
        MAX_BODY_BYTES
    }

    fn metrics(&self) -> Option<&HttpMetrics> {
        Some(self.vetting.store().metrics().admin())
    }

    fn connection_limits(&self) -> http::ConnectionLimits {
        self.limits
    }

    fn route<'a>(
        &'a self,
        req: Request<http::Body>,
        record: &'a mut Record,
    ) -> impl Future<Output = Result<Reply, Failure>> + Send + 'a {
        self.dispatch(req, record)
    }

    fn render(&self, record: &Record, result: Result<Reply, Failure>) -> Answer {
        match result {
            Ok(reply) => Answer {
                response: render(reply),
                failure: None,
            },
            Err(Failure::Unauthenticated(auth::Unauthenticated(why))) => {
                let mut response = problem(&Error::unauthorized(why), StatusCode::UNAUTHORIZED);
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"trustgate-admin\""),
                );
                Answer {
                    response,
                    failure: Some(Error::unauthorized(why)),
                }
            }
            Err(Failure::Error(e)) => Answer {
                response: refusal(&record.path, &e),
                failure: Some(e),
            },
        }
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

fn render(reply: Reply) -> Response<Full<Bytes>> {
    if let Some(page) = reply.page {
        return page;
    }
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
    if let Some(next) = reply
        .next
        .and_then(|n| HeaderValue::from_str(&format!("<{n}>; rel=\"next\"")).ok())
    {
        h.insert(header::LINK, next);
    }
    no_store(h);
    resp
}

/// The problem document of a refusal, with `Allow` on a 405.
fn refusal(path: &str, e: &Error) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(Problem::from_error(e).status)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = problem(e, status);
    if e.kind == ErrorKind::MethodNotAllowed {
        if let Ok(v) = HeaderValue::from_str(&allowed_methods(path).join(", ")) {
            resp.headers_mut().insert(header::ALLOW, v);
        }
    }
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
    fn bodies_are_json_objects_not_arrays_read_by_position() {
        // Found by the admin_json fuzz target: `["why"]` was a ReasonBody.
        let err = json_body::<handlers::ReasonBody>(b" [\"why\"]").err();
        assert_eq!(
            err.map(|e| e.kind),
            Some(crate::error::ErrorKind::Malformed)
        );
        assert!(json_body::<handlers::TransitionBody>(b"[]").is_err());
        assert!(json_body::<handlers::ReasonBody>(b" {\"reason\":\"why\"}").is_ok());
        assert!(json_body::<handlers::TransitionBody>(b"  ").is_ok());
    }

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
