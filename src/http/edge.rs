//! The request edge, one wrapper around every listener's routes (as
//! Pebble registers every handler through one helper, or axum wraps every
//! route in the same layers): a request id and its span, the body read
//! once within the listener's limit and its time, the timeout, the request
//! metrics and the one log line. A listener only routes and renders
//! (`Service`).

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH};
use hyper::{HeaderMap, Method, Request, Response, Version};
use tracing::Instrument;

use super::{millis, ConnectionLimits, RequestId, REQUEST_ID_HEADER};

/// The response header that carries the server's time (admin listener).
const SERVER_TIMING: &str = "server-timing";
use crate::error::{Error, ErrorKind};
use crate::metrics::{HttpMetrics, UNKNOWN_ENDPOINT};

/// A request body as the edge read it, or why it could not (larger than
/// the listener's limit: `PayloadTooLarge`; not all there within the body
/// timeout: `RequestTimeout`; cut off: `Malformed`). A route
/// that takes no body ignores it, so a 404 or a 401 is answered as if no
/// body had been sent.
pub type Body = Result<Bytes, Error>;

/// Which listener a request came to: the name of its span, of its log
/// line and of the serve loop's own lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Acme,
    Admin,
    Crl,
    /// A remote validation perspective's API (`trustgate perspective`).
    Perspective,
    /// The customer portal (`portal.listen`).
    Portal,
}

impl Listener {
    pub fn name(self) -> &'static str {
        match self {
            Listener::Acme => "acme",
            Listener::Admin => "admin",
            Listener::Crl => "crl",
            Listener::Perspective => "perspective",
            Listener::Portal => "portal",
        }
    }

    /// tracing wants span names known at compile time: one arm each.
    fn span(self, id: RequestId) -> tracing::Span {
        match self {
            Listener::Acme => tracing::info_span!("acme", request_id = %id),
            Listener::Admin => tracing::info_span!("admin", request_id = %id),
            Listener::Crl => tracing::info_span!("crl", request_id = %id),
            Listener::Perspective => tracing::info_span!("perspective", request_id = %id),
            Listener::Portal => tracing::info_span!("portal", request_id = %id),
        }
    }

    /// The message of the request's log line.
    fn message(self) -> &'static str {
        match self {
            Listener::Admin => "admin request",
            Listener::Portal => "portal request",
            Listener::Acme | Listener::Crl | Listener::Perspective => "request",
        }
    }

    /// Staff act on the admin listener only; there the line always names
    /// who (empty before authentication).
    fn names_staff(self) -> bool {
        self == Listener::Admin
    }

    /// The admin listener tells its (staff) clients how long the server
    /// took (`Server-Timing`), so page times can be measured from
    /// outside; the public listeners keep that to the log.
    fn tells_time(self) -> bool {
        self == Listener::Admin
    }
}

/// What the log line and the metrics say of one request. The listener
/// names the endpoint (and the staff member) as soon as it knows them, so
/// a request that times out is still counted under its route.
pub struct Record {
    pub method: Method,
    pub path: String,
    /// The route's name, never the raw path (its ids would make every
    /// order a metrics series of its own); `unknown` until a route matched.
    pub endpoint: &'static str,
    /// The authenticated staff member.
    pub staff: Option<String>,
}

/// A listener's rendered answer.
pub struct Answer {
    pub response: Response<Full<Bytes>>,
    /// The error behind a refusal, for the log line.
    pub failure: Option<Error>,
}

/// One listener behind the edge: its limits, its routes, its rendering.
pub trait Service: Send + Sync + 'static {
    /// What `route` answers with.
    type Reply: Send;
    /// What `route` refuses with; the edge's own refusal (the timeout) is
    /// an `Error`.
    type Failure: From<Error> + Send;

    const LISTENER: Listener;

    /// Bound on one request, from reading its body to its reply.
    fn timeout(&self) -> Duration;

    /// The largest body the edge reads.
    fn body_limit(&self) -> usize;

    /// The largest body the edge reads for `method` `path`: `body_limit`,
    /// unless a listener lets one route (an upload) take more.
    fn body_limit_for(&self, method: &Method, path: &str) -> usize {
        let _ = (method, path);
        self.body_limit()
    }

    /// Where requests are counted; `None`: not counted.
    fn metrics(&self) -> Option<&HttpMetrics>;

    /// What one connection may hold the listener for.
    fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits::default()
    }

    /// Answers `req`, naming its endpoint in `record` as soon as known.
    fn route<'a>(
        &'a self,
        req: Request<Body>,
        record: &'a mut Record,
    ) -> impl Future<Output = Result<Self::Reply, Self::Failure>> + Send + 'a;

    /// The response to send, headers included.
    fn render(&self, record: &Record, result: Result<Self::Reply, Self::Failure>) -> Answer;
}

/// Answers one request through `svc`: inside the request's span, and with
/// its id in the `X-Request-Id` header.
pub async fn handle<S: Service>(svc: &S, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let id = RequestId::generate();
    let mut resp = super::within_request(Some(id), answer(svc, req))
        .instrument(S::LISTENER.span(id))
        .await;
    resp.headers_mut()
        .insert(REQUEST_ID_HEADER, id.header_value());
    resp
}

/// Route within the timeout → render → count → log. An HTTP/1 request
/// whose body was not read to its end is answered `Connection: close`:
/// what is left of it cannot be told from the next request.
async fn answer<S: Service>(svc: &S, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let mut record = Record {
        method: req.method().clone(),
        path: req.uri().path().to_owned(),
        endpoint: UNKNOWN_ENDPOINT,
        staff: None,
    };
    let http1 = req.version() < Version::HTTP_2;
    let mut body_read = false;
    let routed = read_and_route(svc, req, &mut record, &mut body_read);
    let result = match tokio::time::timeout(svc.timeout(), routed).await {
        Ok(r) => r,
        Err(_) => Err(Error::unavailable("request timed out").into()),
    };
    let Answer {
        mut response,
        failure,
    } = svc.render(&record, result);
    if http1 && !body_read {
        let close = HeaderValue::from_static("close");
        response.headers_mut().insert(CONNECTION, close);
    }
    let status = response.status().as_u16();
    let took = started.elapsed();
    if S::LISTENER.tells_time() {
        response
            .headers_mut()
            .insert(SERVER_TIMING, server_timing(took));
    }
    if let Some(metrics) = svc.metrics() {
        metrics.observe(record.endpoint, &record.method, status, took);
    }
    log(S::LISTENER, &record, status, took, failure.as_ref());
    response
}

/// Reads the body (`body_read` says whether to its end), then routes.
async fn read_and_route<S: Service>(
    svc: &S,
    req: Request<Incoming>,
    record: &mut Record,
    body_read: &mut bool,
) -> Result<S::Reply, S::Failure> {
    let (head, body) = req.into_parts();
    let within = svc.connection_limits().body;
    let limit = svc.body_limit_for(&head.method, head.uri.path());
    let body = read_body(&head.headers, body, limit, within).await;
    *body_read = body.is_ok();
    // Boxed: a listener's routing future holds every handler's state (tens
    // of KB for the WFE's), and each wrapper above would copy it whole
    // when it moves the future.
    Box::pin(svc.route(Request::from_parts(head, body), record)).await
}

/// The whole body, refused unread when Content-Length says it is too
/// large, as soon as it grows past `limit` otherwise, and when it has not
/// all come `within` (a body dribbled a byte at a time).
async fn read_body(headers: &HeaderMap, body: Incoming, limit: usize, within: Duration) -> Body {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    match tokio::time::timeout(within, Limited::new(body, limit).collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Ok(Err(e)) => Err(Error::malformed(format!("reading the request body: {e}"))),
        Err(_) => Err(Error::new(
            ErrorKind::RequestTimeout,
            format!(
                "request body not received within {} s",
                within.as_secs_f64()
            ),
        )),
    }
}

/// `app;dur=MS` (W3C Server Timing): from the request's head to its
/// rendered response, as the log line's `ms`.
fn server_timing(took: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!("app;dur={}", millis(took)))
        .unwrap_or(HeaderValue::from_static("app"))
}

fn too_large(limit: usize) -> Error {
    Error::new(
        ErrorKind::PayloadTooLarge,
        format!("request body is larger than {limit} bytes"),
    )
}

/// The one log line of a request. Never the body: it holds JWS payloads,
/// EAB MACs, CSRs and organization data. A refusal's detail is what the
/// client was told; an internal error's detail (never shown to the
/// client) is logged here, at error (or warn when the cause is a
/// dependency that is away).
fn log(listener: Listener, record: &Record, status: u16, took: Duration, failure: Option<&Error>) {
    let message = listener.message();
    let (method, path, endpoint) = (&record.method, record.path.as_str(), record.endpoint);
    let staff = listener
        .names_staff()
        .then(|| record.staff.as_deref().unwrap_or_default());
    let ms = millis(took);
    let Some(e) = failure else {
        tracing::info!(%method, path, endpoint, staff, status, ms, "{message}");
        return;
    };
    let problem = crate::acme::problem::status_and_type(e.kind).1;
    match e.kind {
        ErrorKind::ServerInternal => {
            tracing::error!(%method, path, endpoint, staff, status, ms, problem, error = %e.detail, "{message}")
        }
        ErrorKind::Unavailable => {
            tracing::warn!(%method, path, endpoint, staff, status, ms, problem, error = %e.detail, "{message}")
        }
        _ => {
            tracing::info!(%method, path, endpoint, staff, status, ms, problem, detail = %e.detail, "{message}")
        }
    }
}
