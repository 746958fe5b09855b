//! The perspective API behind the shared edge (`crate::http`):
//!
//! - `POST /v1/check`, a `RemoteCheck` as JSON → 200 with a `RemoteAnswer`
//! - another method on it → 405; any other path → 404
//! - a body over `MAX_CHECK_BYTES` → 413; JSON that is not a check → 400
//!
//! Refusals are problem documents (RFC 7807). Who may ask is settled
//! before any of this, in the TLS handshake (client certificates).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::Perspective;
use crate::acme::problem::Problem;
use crate::error::{Error, ErrorKind};
use crate::http::{self, Answer, Listener, Record};
use crate::metrics::HttpMetrics;
use crate::va::remote::{RemoteAnswer, RemoteCheck};

pub use crate::va::remote::client::CHECK_PATH;
/// Largest request read: a check is a few hundred bytes.
pub const MAX_CHECK_BYTES: usize = 16 * 1024;

impl http::Service for Perspective {
    type Reply = RemoteAnswer;
    type Failure = Error;
    const LISTENER: Listener = Listener::Perspective;

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn body_limit(&self) -> usize {
        MAX_CHECK_BYTES
    }

    /// The primary measures each perspective (answers, latency); the
    /// perspective's own requests are in its log.
    fn metrics(&self) -> Option<&HttpMetrics> {
        None
    }

    async fn route(
        &self,
        req: Request<http::Body>,
        record: &mut Record,
    ) -> Result<RemoteAnswer, Error> {
        if record.path != CHECK_PATH {
            return Err(Error::not_found("no such resource"));
        }
        record.endpoint = "check";
        if req.method() != Method::POST {
            return Err(Error::new(
                ErrorKind::MethodNotAllowed,
                "only POST is allowed here",
            ));
        }
        let check = parse(req.into_body())?;
        Ok(self.check(&check).await)
    }

    fn render(&self, _: &Record, result: Result<RemoteAnswer, Error>) -> Answer {
        match result {
            Ok(answer) => Answer {
                response: json(StatusCode::OK, "application/json", &answer),
                failure: None,
            },
            Err(e) => Answer {
                response: problem(&e),
                failure: Some(e),
            },
        }
    }
}

/// The body as a `RemoteCheck`, or why not (too large: 413, else 400).
fn parse(body: http::Body) -> Result<RemoteCheck, Error> {
    let bytes = body?;
    serde_json::from_slice(&bytes).map_err(|e| Error::malformed(format!("not a check: {e}")))
}

fn problem(e: &Error) -> Response<Full<Bytes>> {
    let p = Problem::from_error(e);
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json(status, "application/problem+json", &p.to_json());
    if e.kind == ErrorKind::MethodNotAllowed {
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    r
}

fn json(
    status: StatusCode,
    content_type: &'static str,
    v: &impl serde::Serialize,
) -> Response<Full<Bytes>> {
    // Our own types of strings, numbers and lists always serialize.
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}
