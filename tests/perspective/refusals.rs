//! Anything but an authenticated, well-formed check is refused, and
//! nothing is validated for it; an absent perspective is `Unreachable`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use trustgate::acme::ChallengeType;
use trustgate::config::RemotePerspectiveConfig;
use trustgate::core::Region;
use trustgate::perspective::MAX_CHECK_BYTES;
use trustgate::va::remote::client::MtlsPerspective;
use trustgate::va::remote::{mtls, RemoteCheck, RemoteOutcome, RemotePerspective};

use crate::support::{paths, Setup, KEY_AUTHZ, NAME, TOKEN};

fn check() -> RemoteCheck {
    RemoteCheck::Challenge {
        method: ChallengeType::Http01,
        identifier: NAME.into(),
        token: TOKEN.into(),
        key_authorization: KEY_AUTHZ.into(),
    }
}

fn unreachable_detail(outcome: &RemoteOutcome) -> &str {
    match outcome {
        RemoteOutcome::Unreachable { detail } => detail,
        other => panic!("not unreachable: {other:?}"),
    }
}

/// One HTTP/1.1 request with the primary's client certificate.
async fn raw(
    s: &Setup,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, String, hyper::HeaderMap) {
    let [ca, cert, key] = paths(&s.pki);
    let mut cfg = (*mtls::client_config(&ca, &cert, &key).unwrap()).clone();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), headers)
}

#[tokio::test]
async fn without_a_client_certificate_the_handshake_is_refused() {
    let s = Setup::start().await;
    let ca = s.pki.ca_cert.clone();
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read_to_string(&ca).unwrap();
    for p in pem::parse_many(pem).unwrap() {
        roots.add(p.into_contents().into()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    // In TLS 1.3 the server's refusal arrives after the client's Finished:
    // the handshake or the first read fails, and no request is served.
    let refused = match TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await {
        Err(_) => true,
        Ok(mut tls) => {
            let body = serde_json::to_vec(&check()).unwrap();
            let head = format!(
                "POST /v1/check HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = tls.write_all(head.as_bytes()).await;
            let _ = tls.write_all(&body).await;
            let mut buf = Vec::new();
            match tls.read_to_end(&mut buf).await {
                Err(_) => true,
                Ok(_) => !String::from_utf8_lossy(&buf).starts_with("HTTP/1.1"),
            }
        }
    };
    assert!(refused);
    assert_eq!(s.http01.hits(), 0);
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let s = Setup::start().await;
    let other = s.other_pki("intruder");
    let cfg = RemotePerspectiveConfig {
        client_cert: other.client_cert.clone(),
        client_key: other.client_key.clone(),
        ..s.remote_config()
    };
    let answer = MtlsPerspective::new(&cfg, Duration::from_secs(5))
        .unwrap()
        .check(&check())
        .await;
    unreachable_detail(&answer.outcome);
    assert_eq!(s.http01.hits(), 0);
    // The perspective's own server certificate cannot stand in for a
    // client certificate: it is not for clientAuth.
    let cfg = RemotePerspectiveConfig {
        client_cert: s.pki.server_cert.clone(),
        client_key: s.pki.server_key.clone(),
        ..s.remote_config()
    };
    let answer = MtlsPerspective::new(&cfg, Duration::from_secs(5))
        .unwrap()
        .check(&check())
        .await;
    unreachable_detail(&answer.outcome);
    assert_eq!(s.http01.hits(), 0);
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_not_trusted() {
    let s = Setup::start().await;
    let other = s.other_pki("other");
    let cfg = RemotePerspectiveConfig {
        ca_cert: other.ca_cert.clone(),
        ..s.remote_config()
    };
    let answer = MtlsPerspective::new(&cfg, Duration::from_secs(5))
        .unwrap()
        .check(&check())
        .await;
    let detail = unreachable_detail(&answer.outcome);
    assert!(detail.contains("TLS handshake"), "{detail}");
    assert_eq!(s.http01.hits(), 0);
}

#[tokio::test]
async fn malformed_json_is_400_with_a_problem_document() {
    let s = Setup::start().await;
    for body in [
        &b"{not json"[..],
        br#"{"kind":"challenge"}"#,
        br#"{"kind":"ping"}"#,
    ] {
        let (status, text, headers) = raw(&s, Method::POST, "/v1/check", body.to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert_eq!(headers["content-type"], "application/problem+json");
        let problem: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(problem["type"], "urn:ietf:params:acme:error:malformed");
    }
    assert_eq!(s.http01.hits(), 0);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let s = Setup::start().await;
    let mut body = serde_json::to_vec(&check()).unwrap();
    body.resize(MAX_CHECK_BYTES + 1, b' ');
    let (status, text, _) = raw(&s, Method::POST, "/v1/check", body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert_eq!(s.http01.hits(), 0);
}

#[tokio::test]
async fn only_post_to_the_check_path_is_served() {
    let s = Setup::start().await;
    let (status, _, headers) = raw(&s, Method::GET, "/v1/check", vec![]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "POST");
    let body = serde_json::to_vec(&check()).unwrap();
    for path in ["/", "/v1/check/", "/v2/check", "/admin"] {
        let (status, _, _) = raw(&s, Method::POST, path, body.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(s.http01.hits(), 0);
    // The same body at the right place is served.
    let (status, text, _) = raw(&s, Method::POST, "/v1/check", body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(s.http01.hits(), 1);
}

#[tokio::test]
async fn a_stopped_perspective_is_unreachable_at_once() {
    let mut s = Setup::start().await;
    let client = s.client();
    assert!(client.check(&check()).await.outcome.corroborates());
    s.stop().await;
    let started = Instant::now();
    let answer = client.check(&check()).await;
    unreachable_detail(&answer.outcome);
    assert_eq!(answer.perspective, "p1");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_silent_perspective_is_unreachable_within_the_timeout() {
    let s = Setup::start().await;
    // Accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            open.push(c);
        }
    });
    let cfg = RemotePerspectiveConfig {
        url: format!("https://127.0.0.1:{port}"),
        region: Region::Apnic,
        ..s.remote_config()
    };
    let client = MtlsPerspective::new(&cfg, Duration::from_secs(1)).unwrap();
    let started = Instant::now();
    let answer = client.check(&check()).await;
    let detail = unreachable_detail(&answer.outcome);
    assert!(detail.contains("within 1s"), "{detail}");
    assert_eq!(answer.region, Some(Region::Apnic));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
    hold.abort();
}
