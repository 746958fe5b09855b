//! Web front end: HTTP routing, JWS and nonce checks, rendering, and
//! problem documents. It parses, verifies and renders; `ra` decides.
//!
//! Every request passes the shared edge (`crate::http`: request id, body
//! limit, timeout, metrics, log line), then `Wfe`'s `Service` impl, which
//! adds the headers RFC 8555 wants on every response (Replay-Nonce, Link
//! rel="index", Cache-Control) and turns errors into problem documents;
//! handlers only return a `Reply` or an `Error`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::acme::problem::Problem;
use crate::config::Config;
use crate::core::urls::PortalUrls;
use crate::core::Clock;
use crate::error::{Error, ErrorKind, Result, UserAction};
use crate::http::{self, Answer, Listener, Record};
use crate::metrics::HttpMetrics;
use crate::ra::Ra;
use crate::sa::{self, Store};

mod handlers;
pub mod jws;
pub mod nonce;
mod render;
pub mod server;
pub mod urls;

use nonce::Nonces;
use urls::{Route, Urls};

pub struct Wfe {
    cfg: Arc<Config>,
    urls: Urls,
    /// The customer portal's pages, named by `userActionRequired` problems.
    portal: Option<PortalUrls>,
    /// The current agreement (`Link` of a terms problem, RFC 8555 §7.3.3).
    terms_url: Option<String>,
    ra: Ra,
    store: Store,
    nonces: Nonces,
    /// The directory never changes while the process runs.
    directory: Bytes,
    /// The RA's clock: nonce lifetimes and the status an order is shown in.
    clock: Clock,
}

/// What a handler answers.
pub struct Reply {
    status: StatusCode,
    body: Body,
    location: Option<String>,
    links: Vec<String>,
    retry_after: Option<u64>,
}

enum Body {
    Empty,
    Json(Vec<u8>),
    PemChain(String),
}

impl Reply {
    fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Result<Reply> {
        let body = serde_json::to_vec_pretty(value)
            .map_err(|e| Error::internal(format!("rendering JSON: {e}")))?;
        Ok(Reply::new(status, Body::Json(body)))
    }
    fn new(status: StatusCode, body: Body) -> Reply {
        Reply {
            status,
            body,
            location: None,
            links: Vec::new(),
            retry_after: None,
        }
    }
    fn location(mut self, url: String) -> Reply {
        self.location = Some(url);
        self
    }
    fn link(mut self, url: &str, rel: &str) -> Reply {
        self.links.push(format!("<{url}>;rel=\"{rel}\""));
        self
    }
    fn retry_after(mut self, secs: u64) -> Reply {
        self.retry_after = Some(secs);
        self
    }
}

impl Wfe {
    /// Works on the RA's clock.
    pub async fn new(cfg: Arc<Config>, ra: Ra, store: Store) -> Result<Wfe> {
        let clock = ra.clock().clone();
        let lifetime = time::Duration::seconds(cfg.acme.nonce_lifetime_secs as i64);
        // SQLite means one process (../shared/DESIGN.md, "Scale-out"): its
        // nonces need not outlive it, nor be redeemable by another.
        let nonces = match store.backend() {
            sa::Backend::Sqlite => Nonces::local(lifetime, store.metrics().clone())?,
            sa::Backend::Postgres => {
                let now = clock.now();
                let secret = store
                    .run(move |c| {
                        sa::nonces::shared_secret(
                            c,
                            nonce::SECRET_NAME,
                            Nonces::generate_secret,
                            now,
                        )
                    })
                    .await?;
                Nonces::shared(&secret, lifetime)
            }
        };
        let urls = Urls::new(&cfg.base_url());
        let directory = serde_json::to_vec_pretty(&render::directory(&urls, &cfg))
            .map_err(|e| Error::internal(format!("rendering directory: {e}")))?
            .into();
        Ok(Wfe {
            portal: cfg.portal.public_url().as_deref().map(PortalUrls::new),
            terms_url: cfg.terms_url(),
            cfg,
            urls,
            ra,
            store,
            nonces,
            directory,
            clock,
        })
    }

    /// A rateLimited answer waits `limits.refusal_delay_ms` (at most its
    /// Retry-After): a client that retries at once, Retry-After unread,
    /// then spins at a pace the server sets, not at its own.
    async fn hold_refusal(&self, e: &Error) {
        if e.kind != ErrorKind::RateLimited {
            return;
        }
        let delay = Duration::from_millis(self.cfg.limits.refusal_delay_ms)
            .min(Duration::from_secs(e.retry_after.unwrap_or(0)));
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    /// The reply of `route`'s handler, once the method is allowed.
    async fn reply(
        &self,
        req: Request<http::Body>,
        route: Option<Route>,
        path: &str,
    ) -> Result<Reply> {
        let route = route.ok_or_else(|| Error::not_found(format!("no resource at {path}")))?;
        if !route.methods().contains(&req.method().as_str()) {
            return Err(Error::new(
                ErrorKind::MethodNotAllowed,
                format!(
                    "{} is not allowed here; use {}",
                    req.method(),
                    route.methods().join(", ")
                ),
            ));
        }
        if let Some(peer) = req.extensions().get::<http::Peer>() {
            self.ra.limit_request(peer.0.ip())?;
        }
        let client = req.extensions().get::<http::Peer>().map(|p| p.0.ip());
        let post = req.method() == Method::POST;
        match route {
            Route::Directory if !post => Ok(Reply::new(
                StatusCode::OK,
                Body::Json(self.directory.to_vec()),
            )),
            // RFC 8555 §7.2: 200 for HEAD, 204 for GET.
            Route::NewNonce if req.method() == Method::HEAD => {
                Ok(Reply::new(StatusCode::OK, Body::Empty))
            }
            Route::NewNonce if !post => Ok(Reply::new(StatusCode::NO_CONTENT, Body::Empty)),
            Route::RenewalInfo => self.renewal_info(path).await,
            _ => {
                let content_type = req
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let url = match req.uri().query() {
                    Some(q) => format!("{}?{q}", self.urls.abs(path)),
                    None => self.urls.abs(path),
                };
                let body = req.into_body()?;
                self.dispatch(route, content_type.as_deref(), &body, &url, client)
                    .await
            }
        }
    }

    fn render_reply(&self, reply: Reply) -> Response<Full<Bytes>> {
        let (body, content_type) = match reply.body {
            Body::Empty => (Bytes::new(), None),
            Body::Json(b) => (Bytes::from(b), Some("application/json")),
            Body::PemChain(s) => (Bytes::from(s), Some("application/pem-certificate-chain")),
        };
        let mut resp = Response::new(Full::new(body));
        *resp.status_mut() = reply.status;
        let h = resp.headers_mut();
        if let Some(ct) = content_type {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        if let Some(loc) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(header::LOCATION, loc);
        }
        for l in reply.links {
            if let Ok(v) = HeaderValue::from_str(&l) {
                h.append(header::LINK, v);
            }
        }
        if let Some(s) = reply.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }

    fn render_error(&self, path: &str, e: &Error) -> Response<Full<Bytes>> {
        let mut problem = Problem::from_error(e);
        let terms_link = self.user_action(e, &mut problem);
        let body = serde_json::to_vec_pretty(&problem).unwrap_or_default();
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if e.kind == ErrorKind::MethodNotAllowed {
            if let Some(route) = Route::parse(path) {
                if let Ok(v) = HeaderValue::from_str(&route.methods().join(", ")) {
                    h.insert(header::ALLOW, v);
                }
            }
        }
        if e.kind == ErrorKind::Unavailable {
            h.insert(header::RETRY_AFTER, HeaderValue::from(5u32));
        }
        if let Some(secs) = e.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(loc) = e
            .location
            .as_deref()
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            h.insert(header::LOCATION, loc);
        }
        if let Some(v) = terms_link.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.append(header::LINK, v);
        }
        resp
    }

    /// The portal page a `userActionRequired` problem sends a person to
    /// (`instance`, RFC 8555 §7.3.3), named in the detail too, as clients
    /// such as certbot show only the detail; for the agreement, also the
    /// `Link` header value naming the terms.
    fn user_action(&self, e: &Error, problem: &mut Problem) -> Option<String> {
        let (action, portal) = (e.user_action?, self.portal.as_ref()?);
        let (page, terms) = match action {
            UserAction::AcceptTerms { account } => (
                portal.acme_terms(crate::core::AccountId(account)),
                self.terms_url.as_deref(),
            ),
            UserAction::VettingStatus => (portal.status(), None),
        };
        problem.detail = format!("{}; see {page}", problem.detail);
        problem.instance = Some(page);
        terms.map(|t| format!("<{t}>;rel=\"terms-of-service\""))
    }

    /// RFC 8555 §6.5 (a fresh nonce on every response), §7.1 (Link to the
    /// directory), and no caching of account-specific resources.
    fn common_headers(&self, resp: &mut Response<Full<Bytes>>) {
        let h = resp.headers_mut();
        match self.nonces.issue(self.clock.now()) {
            Ok(n) => {
                if let Ok(v) = HeaderValue::from_str(&n) {
                    h.insert("replay-nonce", v);
                }
            }
            Err(e) => tracing::error!(error = %e, "issuing a nonce failed"),
        }
        if let Ok(v) = HeaderValue::from_str(&format!(
            "<{}>;rel=\"index\"",
            self.urls.abs(urls::DIRECTORY)
        )) {
            h.append(header::LINK, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The ACME listener behind the shared edge.
impl http::Service for Wfe {
    type Reply = Reply;
    type Failure = Error;
    const LISTENER: Listener = Listener::Acme;

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.server.request_timeout_secs)
    }

    fn body_limit(&self) -> usize {
        self.cfg.server.max_body_bytes
    }

    fn metrics(&self) -> Option<&HttpMetrics> {
        Some(self.store.metrics().acme())
    }

    fn connection_limits(&self) -> http::ConnectionLimits {
        self.cfg.server.connection_limits()
    }

    fn route<'a>(
        &'a self,
        req: Request<http::Body>,
        record: &'a mut Record,
    ) -> impl Future<Output = Result<Reply>> + Send + 'a {
        let route = Route::parse(&record.path);
        record.endpoint = endpoint(route);
        let record: &'a Record = record;
        async move {
            let result = self.reply(req, route, &record.path).await;
            if let Err(e) = &result {
                self.hold_refusal(e).await;
            }
            result
        }
    }

    fn render(&self, record: &Record, result: Result<Reply>) -> Answer {
        let (mut response, failure) = match result {
            Ok(reply) => (self.render_reply(reply), None),
            Err(e) => (self.render_error(&record.path, &e), Some(e)),
        };
        self.common_headers(&mut response);
        if record.method == Method::HEAD {
            *response.body_mut() = Full::new(Bytes::new());
        }
        Answer { response, failure }
    }
}

/// Route names: the `endpoint` of log lines and metrics, never the raw
/// path (its ids would make every order a series of its own).
pub const ENDPOINTS: &[&str] = &[
    "directory",
    "newNonce",
    "newAccount",
    "newOrder",
    "revokeCert",
    "keyChange",
    "account",
    "orders",
    "order",
    "finalize",
    "authz",
    "challenge",
    "cert",
    "renewalInfo",
];

fn endpoint(route: Option<Route>) -> &'static str {
    match route {
        Some(Route::Directory) => "directory",
        Some(Route::NewNonce) => "newNonce",
        Some(Route::NewAccount) => "newAccount",
        Some(Route::NewOrder) => "newOrder",
        Some(Route::RevokeCert) => "revokeCert",
        Some(Route::KeyChange) => "keyChange",
        Some(Route::Account(_)) => "account",
        Some(Route::Orders(_)) => "orders",
        Some(Route::Order(_)) => "order",
        Some(Route::Finalize(_)) => "finalize",
        Some(Route::Authz(_)) => "authz",
        Some(Route::Challenge(_)) => "challenge",
        Some(Route::Certificate(_)) => "cert",
        Some(Route::RenewalInfo) => "renewalInfo",
        None => crate::metrics::UNKNOWN_ENDPOINT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_name_is_a_metrics_endpoint() {
        let paths = [
            "/directory",
            "/acme/new-nonce",
            "/acme/new-account",
            "/acme/new-order",
            "/acme/revoke-cert",
            "/acme/key-change",
            "/acme/acct/1",
            "/acme/acct/1/orders",
            "/acme/order/1",
            "/acme/order/1/finalize",
            "/acme/authz/1",
            "/acme/chall/1",
            "/acme/cert/1",
            "/acme/renewal-info/x.y",
        ];
        let names: Vec<&str> = paths.iter().map(|p| endpoint(Route::parse(p))).collect();
        assert_eq!(names, ENDPOINTS);
        assert_eq!(endpoint(Route::parse("/nope")), "unknown");
    }
}
