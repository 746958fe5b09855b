//! The plain-HTTP listener for CRLs and the issuer certificate. Relying
//! parties fetch these without TLS (BR 7.1.2.11.2 and 7.1.2.7.7 require
//! http:// URLs; fetching a CRL over https could need that CRL itself).
//!
//! - `GET|HEAD /crl/{n}.crl` → `application/pkix-crl` (RFC 5280 §4.2.1.13,
//!   RFC 2585 §4.2), DER
//! - `GET|HEAD /intermediate.der` → `application/pkix-cert` (RFC 5280
//!   §4.2.2.1), DER
//! - `GET|HEAD /seal/{id}` and `/seal/{id}.svg` → the trust seal's page
//!   and image (`publish::seal`)
//! - anything else → 404 (405 for other methods)

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use time::OffsetDateTime;
use tokio::net::TcpListener;

use super::seal::{self, SealPath};
use super::{Generator, ISSUER_PATH};
use crate::error::{Error, ErrorKind};
use crate::http::{self, Answer, Listener, Record};
use crate::metrics::HttpMetrics;
use crate::vetting::seal::Seals;

/// Upper bound on answering one request (an on-demand CRL included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Caching of the issuer certificate, which changes only with a new CA.
const ISSUER_MAX_AGE_SECS: u64 = 24 * 3600;

type Body = Full<Bytes>;

/// What the listener serves: CRLs and the issuer from the generator,
/// trust seals when given the service that answers them.
#[derive(Clone)]
pub struct Publisher {
    generator: Generator,
    seals: Option<Seals>,
}

impl Publisher {
    pub fn new(generator: Generator, seals: Option<Seals>) -> Publisher {
        Publisher { generator, seals }
    }
}

/// Serves CRLs, the issuer and seals until `shutdown` resolves (see
/// `crate::http`).
pub async fn serve(
    listener: TcpListener,
    publisher: Publisher,
    shutdown: impl Future<Output = ()>,
) {
    crate::http::serve(listener, None, Arc::new(publisher), shutdown).await
}

/// The CRL listener behind the shared edge: GET and HEAD only, answers in
/// plain text, DER, HTML or SVG, never problem documents.
impl http::Service for Publisher {
    type Reply = Response<Body>;
    type Failure = Error;
    const LISTENER: Listener = Listener::Crl;

    /// Bounds an on-demand CRL too.
    fn timeout(&self) -> Duration {
        REQUEST_TIMEOUT
    }

    /// Requests are GET and HEAD: no body is wanted, and a sent one is
    /// refused unread (and ignored).
    fn body_limit(&self) -> usize {
        0
    }

    /// The request metrics are the ACME and admin listeners' (README).
    fn metrics(&self) -> Option<&HttpMetrics> {
        None
    }

    fn route<'a>(
        &'a self,
        req: Request<http::Body>,
        record: &'a mut Record,
    ) -> impl Future<Output = Result<Response<Body>, Error>> + Send + 'a {
        record.endpoint = endpoint(&record.path);
        let record: &'a Record = record;
        async move {
            let head = match *req.method() {
                Method::GET => false,
                Method::HEAD => true,
                _ => return Ok(method_not_allowed()),
            };
            let r = match (parse_path_seal(&record.path), &self.seals) {
                (Some(what), Some(seals)) => {
                    seal::respond(seals, what, req.uri().query(), req.headers()).await
                }
                _ => respond(&self.generator, &record.path).await,
            };
            Ok(if head { strip_body(r) } else { r })
        }
    }

    /// Only the timeout fails here; other errors are answered by `route`.
    fn render(&self, _: &Record, result: Result<Response<Body>, Error>) -> Answer {
        match result {
            Ok(response) => Answer {
                response,
                failure: None,
            },
            Err(e) => Answer {
                response: plain(StatusCode::SERVICE_UNAVAILABLE, "timed out; retry later\n"),
                failure: Some(e),
            },
        }
    }
}

/// The log line's name of a path.
fn endpoint(path: &str) -> &'static str {
    if path == ISSUER_PATH {
        "issuer"
    } else if parse_crl_path(path).is_some() {
        "crl"
    } else if let Some(what) = parse_path_seal(path) {
        match what {
            SealPath::Page(_) => "seal",
            SealPath::Image(_) => "seal_image",
        }
    } else {
        crate::metrics::UNKNOWN_ENDPOINT
    }
}

fn method_not_allowed() -> Response<Body> {
    let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

async fn respond(generator: &Generator, path: &str) -> Response<Body> {
    if path == ISSUER_PATH {
        return der_response(
            "application/pkix-cert",
            generator.intermediate_der().to_vec(),
            ISSUER_MAX_AGE_SECS,
            None,
        );
    }
    let Some(shard) = parse_crl_path(path) else {
        return not_found();
    };
    match generator.current(shard).await {
        Ok(Some(crl)) => {
            let now = generator.clock().now();
            // A cache must not keep a CRL past its nextUpdate, nor much
            // longer than it takes a new revocation to be published.
            let left = u64::try_from((crl.next_update - now).whole_seconds()).unwrap_or(0);
            let max_age = left.min(generator.interval().as_secs());
            der_response(
                "application/pkix-crl",
                crl.der,
                max_age,
                Some(crl.this_update),
            )
        }
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(shard, error = %e, "serving a CRL failed");
            if e.kind == ErrorKind::Unavailable {
                let mut r = plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable; retry later\n",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                r
            } else {
                plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
            }
        }
    }
}

fn parse_path_seal(path: &str) -> Option<SealPath<'_>> {
    seal::parse_path(path)
}

/// `/crl/{n}.crl` with `n` a canonical decimal u32 (no sign, no leading
/// zeros), so each CRL has exactly one URL.
fn parse_crl_path(path: &str) -> Option<u32> {
    let n = path.strip_prefix("/crl/")?.strip_suffix(".crl")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return None;
    }
    n.parse().ok()
}

fn der_response(
    content_type: &'static str,
    der: Vec<u8>,
    max_age: u64,
    last_modified: Option<OffsetDateTime>,
) -> Response<Body> {
    let len = der.len();
    let mut r = Response::new(Full::new(Bytes::from(der)));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if let Some(v) = last_modified
        .and_then(http_date)
        .and_then(|d| HeaderValue::from_str(&d).ok())
    {
        h.insert(header::LAST_MODIFIED, v);
    }
    r
}

/// IMF-fixdate (RFC 9110 §5.6.7).
fn http_date(t: OffsetDateTime) -> Option<String> {
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC).format(&f).ok()
}

/// HEAD: the GET headers (Content-Length included), no body.
fn strip_body(r: Response<Body>) -> Response<Body> {
    let (parts, _) = r.into_parts();
    Response::from_parts(parts, Full::new(Bytes::new()))
}

fn not_found() -> Response<Body> {
    plain(StatusCode::NOT_FOUND, "not found\n")
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use http_body_util::BodyExt;
    use hyper_util::client::legacy::Client;
    use tokio::sync::watch;

    use super::*;
    use crate::publish::generator::tests::fixture;
    use hyper_util::rt::TokioExecutor;

    #[test]
    fn crl_paths_are_canonical() {
        assert_eq!(parse_crl_path("/crl/0.crl"), Some(0));
        assert_eq!(parse_crl_path("/crl/15.crl"), Some(15));
        for bad in [
            "/crl/.crl",
            "/crl/01.crl",
            "/crl/+1.crl",
            "/crl/-1.crl",
            "/crl/1.crl/",
            "/crl/1",
            "/crl/99999999999.crl",
            "/crl/1.der",
            "/crls/1.crl",
        ] {
            assert_eq!(parse_crl_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates_are_imf_fixdate() {
        let t = time::macros::datetime!(1994-11-06 08:49:37 UTC);
        assert_eq!(http_date(t).unwrap(), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[tokio::test]
    async fn serves_crls_and_the_issuer_over_http() {
        let f = fixture(2);
        let (_, shard, id) = f.issue().await;
        f.revoke(id, 1).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = watch::channel(false);
        let publisher = Publisher::new(f.generator.clone(), None);
        let server = tokio::spawn(serve(listener, publisher, async move {
            let _ = rx.wait_for(|s| *s).await;
        }));
        let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
        let fetch = |method: Method, path: &str| {
            let req = Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}"))
                .body(Body::default())
                .unwrap();
            let client = client.clone();
            async move {
                let r = client.request(req).await.unwrap();
                let (parts, body) = r.into_parts();
                (parts, body.collect().await.unwrap().to_bytes())
            }
        };

        // Not generated yet: made on demand, and it lists the revocation.
        let (parts, body) = fetch(Method::GET, &format!("/crl/{shard}.crl")).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(parts.headers[header::CONTENT_TYPE], "application/pkix-crl");
        let max_age: u64 = parts.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .strip_prefix("public, max-age=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(max_age <= 60, "{max_age}");
        assert!(parts.headers.contains_key(header::LAST_MODIFIED));
        let stored = f.generator.current(shard).await.unwrap().unwrap();
        assert_eq!(body.as_ref(), stored.der.as_slice());

        let (parts, body) = fetch(Method::HEAD, &format!("/crl/{shard}.crl")).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert!(body.is_empty());
        assert_eq!(
            parts.headers[header::CONTENT_LENGTH],
            stored.der.len().to_string().as_str()
        );

        let (parts, body) = fetch(Method::GET, "/intermediate.der").await;
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(parts.headers[header::CONTENT_TYPE], "application/pkix-cert");
        assert_eq!(body.as_ref(), f.generator.intermediate_der());

        for path in [
            "/crl/2.crl",
            "/crl/01.crl",
            "/",
            "/crl/",
            "/intermediate.pem",
        ] {
            let (parts, _) = fetch(Method::GET, path).await;
            assert_eq!(parts.status, StatusCode::NOT_FOUND, "{path}");
        }
        let (parts, _) = fetch(Method::POST, "/crl/0.crl").await;
        assert_eq!(parts.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(parts.headers[header::ALLOW], "GET, HEAD");

        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(15), server)
            .await
            .unwrap()
            .unwrap();
    }
}
