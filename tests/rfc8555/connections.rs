//! Connection limits (issue #27) on the real ACME listener, with raw TCP
//! clients: a slow client — a slowloris head, a silent connection, a
//! stalled TLS handshake, a body dribbled a byte at a time, an idle
//! keep-alive or HTTP/2 connection — is cut at its timeout; an oversized
//! body is answered 413 with a problem document and the connection
//! closes, read or not; the cap on open connections holds the next one in
//! the backlog until one closes; HTTP/2 advertises its stream limit and
//! pings. Timeouts are set to a second or two and every bound asserted
//! adds a generous margin, so a loaded machine cannot fail them.

use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trustgate::config::TlsMode;

use crate::support::*;

/// Added to every timeout a test waits out: a loaded 2-core box may be
/// slow to fire a timer, never early.
const MARGIN: Duration = Duration::from_secs(15);

/// A server with short timeouts; `tweak` then sets what the test needs.
async fn server(tweak: impl FnOnce(&mut trustgate::config::Config)) -> Server {
    Server::start_with(|c| {
        c.server.handshake_timeout_secs = 1;
        c.server.header_timeout_secs = 1;
        c.server.body_timeout_secs = 1;
        c.server.idle_timeout_secs = 2;
        c.server.max_body_bytes = 1024;
        tweak(c);
    })
    .await
}

async fn connect(s: &Server) -> TcpStream {
    TcpStream::connect(s.cfg.server.listen).await.unwrap()
}

/// Reads until the server closes the connection (end of stream or a
/// reset), failing if it has not within `limit`; what was read, and when
/// it closed.
async fn until_closed(c: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .expect("the server closes the connection");
    (got, started.elapsed())
}

/// One HTTP/1.1 response: head (lowercased) and body (by Content-Length).
async fn response(c: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = c.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a response: {got:?}");
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(got[..end].to_vec())
        .unwrap()
        .to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = got[end..].to_vec();
    while body.len() < length {
        let n = c.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed mid-body");
        body.extend_from_slice(&buf[..n]);
    }
    (head, body)
}

/// A problem response of `status`, type malformed, that closes the
/// connection.
fn assert_problem_and_close(head: &str, body: &[u8], status: StatusCode) -> Value {
    assert!(
        head.starts_with(&format!("http/1.1 {}", status.as_u16())),
        "{head}"
    );
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert!(head.contains("connection: close"), "{head}");
    let problem: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(problem["type"], "urn:ietf:params:acme:error:malformed");
    assert_eq!(problem["status"], status.as_u16());
    problem
}

const NEW_ACCOUNT: &str =
    "POST /acme/new-account HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/jose+json\r\n";

/// The value of one series on the admin listener's `/metrics`.
async fn metric(s: &Server, series: &str) -> f64 {
    let r = send(&http(), Method::GET, &s.admin_url("/metrics"), None, vec![]).await;
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} in\n{text}"))
}

#[tokio::test]
async fn a_slowloris_head_is_cut_at_the_header_timeout() {
    let s = server(|c| c.server.idle_timeout_secs = 600).await;
    // Before the connection exists: no timer of the server starts earlier.
    let started = Instant::now();
    let mut c = connect(&s).await;
    c.write_all(b"GET /directory HTTP/1.1\r\nhost: localhost\r\n")
        .await
        .unwrap();
    // A header byte every 100 ms, for as long as the server listens.
    let dribble = async {
        for _ in 0..1000 {
            if c.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(1) + MARGIN, dribble)
        .await
        .expect("the server stops listening");
    let (got, _) = until_closed(&mut c, MARGIN).await;
    let took = started.elapsed();
    eprintln!("slowloris head cut after {took:?}");
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "{got:?}"
    );
    let cut = "trustgate_http_connections_cut_total{listener=\"acme\",reason=\"header\"}";
    assert!(metric(&s, cut).await >= 1.0);
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_header_timeout() {
    let s = server(|c| c.server.idle_timeout_secs = 600).await;
    let mut c = connect(&s).await;
    let (got, took) = until_closed(&mut c, Duration::from_secs(1) + MARGIN).await;
    eprintln!("silent connection closed after {took:?}");
    assert!(got.is_empty(), "{got:?}");
    // Half an HTTP/2 preface is no better than silence.
    let mut c = connect(&s).await;
    c.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    until_closed(&mut c, Duration::from_secs(1) + MARGIN).await;
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_closed_at_the_handshake_timeout() {
    let s = server(|c| {
        c.server.tls = TlsMode::SelfIssued;
        c.server.header_timeout_secs = 600;
        c.server.idle_timeout_secs = 600;
    })
    .await;
    // The first bytes of a ClientHello record, then nothing.
    let mut c = connect(&s).await;
    c.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).await.unwrap();
    let (got, took) = until_closed(&mut c, Duration::from_secs(1) + MARGIN).await;
    eprintln!("stalled TLS handshake closed after {took:?}");
    assert!(got.is_empty(), "{got:?}");
    let cut = "trustgate_http_connections_cut_total{listener=\"acme\",reason=\"handshake\"}";
    assert_eq!(metric(&s, cut).await, 1.0);
}

#[tokio::test]
async fn a_dribbled_body_is_answered_408_at_the_body_timeout() {
    let s = server(|c| {
        c.server.header_timeout_secs = 600;
        c.server.idle_timeout_secs = 600;
    })
    .await;
    let before = s.counts();
    let mut c = connect(&s).await;
    let head = format!("{NEW_ACCOUNT}content-length: 500\r\n\r\n");
    c.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut rd, mut wr) = c.split();
    // A body byte every 100 ms while the answer is read.
    let dribble = async {
        for _ in 0..500 {
            if wr.write_all(b"{").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::future::pending::<()>().await;
    };
    let answer = async {
        let mut got = Vec::new();
        let _ = rd.read_to_end(&mut got).await;
        got
    };
    let got = tokio::select! {
        got = answer => got,
        _ = dribble => unreachable!(),
        _ = tokio::time::sleep(Duration::from_secs(1) + MARGIN) => panic!("no answer"),
    };
    let took = started.elapsed();
    eprintln!("dribbled body answered and closed after {took:?}");
    let text = String::from_utf8(got).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let problem = assert_problem_and_close(
        &head.to_ascii_lowercase(),
        body.as_bytes(),
        StatusCode::REQUEST_TIMEOUT,
    );
    assert_eq!(problem["detail"], "request body not received within 1 s");
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn an_oversized_content_length_is_413_without_reading_the_body() {
    let s = server(|c| c.server.header_timeout_secs = 600).await;
    let before = s.counts();
    let mut c = connect(&s).await;
    // The body never comes: the answer cannot depend on reading it.
    let head = format!("{NEW_ACCOUNT}content-length: 10000000\r\n\r\n");
    c.write_all(head.as_bytes()).await.unwrap();
    let (head, body) = response(&mut c).await;
    let problem = assert_problem_and_close(&head, &body, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem["detail"], "request body is larger than 1024 bytes");
    let (rest, _) = until_closed(&mut c, MARGIN).await;
    assert!(rest.is_empty(), "{rest:?}");
    // A client that waits for 100 Continue is answered the same way.
    let mut c = connect(&s).await;
    let head = format!("{NEW_ACCOUNT}content-length: 10000000\r\nexpect: 100-continue\r\n\r\n");
    c.write_all(head.as_bytes()).await.unwrap();
    let (head, body) = response(&mut c).await;
    assert_problem_and_close(&head, &body, StatusCode::PAYLOAD_TOO_LARGE);
    until_closed(&mut c, MARGIN).await;
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn an_oversized_body_sent_in_full_still_gets_its_413() {
    let s = server(|_| {}).await;
    let mut c = connect(&s).await;
    let head = format!("{NEW_ACCOUNT}content-length: 4000000\r\n\r\n");
    c.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = c.into_split();
    // The client keeps sending while the server has already answered.
    let writer = tokio::spawn(async move {
        let chunk = vec![b'{'; 64 * 1024];
        for _ in 0..61 {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(MARGIN, read).await.unwrap();
    writer.abort();
    let text = String::from_utf8(got).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    assert_problem_and_close(
        &head.to_ascii_lowercase(),
        body.as_bytes(),
        StatusCode::PAYLOAD_TOO_LARGE,
    );
}

#[tokio::test]
async fn an_oversized_chunked_body_is_413_midway() {
    let s = server(|c| {
        c.server.header_timeout_secs = 600;
        c.server.body_timeout_secs = 600;
    })
    .await;
    let before = s.counts();
    let mut c = connect(&s).await;
    let head = format!("{NEW_ACCOUNT}transfer-encoding: chunked\r\n\r\n");
    c.write_all(head.as_bytes()).await.unwrap();
    // 1200 bytes in three chunks, past the 1024-byte limit; the body
    // never ends.
    for _ in 0..3 {
        c.write_all(format!("190\r\n{}\r\n", "{".repeat(400)).as_bytes())
            .await
            .unwrap();
    }
    let (head, body) = response(&mut c).await;
    assert_problem_and_close(&head, &body, StatusCode::PAYLOAD_TOO_LARGE);
    until_closed(&mut c, MARGIN).await;
    assert_eq!(s.counts(), before);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let s = server(|c| c.server.header_timeout_secs = 2).await;
    let mut c = connect(&s).await;
    c.write_all(b"GET /directory HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = response(&mut c).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    // Kept alive: a second request is served on the same connection.
    // The server's timers restart once it has this request, so after
    // `sent`.
    let sent = Instant::now();
    c.write_all(b"GET /directory HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = response(&mut c).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let (got, _) = until_closed(&mut c, Duration::from_secs(2) + MARGIN).await;
    let took = sent.elapsed();
    eprintln!("idle HTTP/1.1 keep-alive closed {took:?} after its last request");
    assert!(got.is_empty(), "{got:?}");
    assert!(took >= Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn the_connection_cap_holds_the_next_connection_until_one_closes() {
    let s = server(|c| {
        c.server.max_connections = 2;
        c.server.header_timeout_secs = 600;
        c.server.idle_timeout_secs = 600;
    })
    .await;
    const GET: &[u8] = b"GET /directory HTTP/1.1\r\nhost: localhost\r\n\r\n";
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut c = connect(&s).await;
        c.write_all(GET).await.unwrap();
        let (head, _) = response(&mut c).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        open.push(c);
    }
    let open_series = "trustgate_http_connections_open{listener=\"acme\"}";
    assert_eq!(metric(&s, open_series).await, 2.0);
    // The third connects (the kernel's backlog) but is not served...
    let mut third = connect(&s).await;
    third.write_all(GET).await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_secs(1), third.read(&mut byte)).await;
    assert!(early.is_err(), "served past the cap: {early:?}");
    let waits = "trustgate_http_connection_cap_waits_total{listener=\"acme\"}";
    assert!(metric(&s, waits).await >= 1.0);
    // ...until one of the two closes.
    drop(open.remove(0));
    let (head, _) = tokio::time::timeout(MARGIN, response(&mut third))
        .await
        .expect("served once a slot is free");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(metric(&s, open_series).await, 2.0);
}

// HTTP/2 with prior knowledge, frame by frame (RFC 9113 §3.4, §4.1).

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const MAX_CONCURRENT_STREAMS: u16 = 0x3;

struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The next frame; `None` once the server has closed the connection.
async fn next_frame(c: &mut TcpStream) -> Option<Frame> {
    let mut head = [0u8; 9];
    c.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    c.read_exact(&mut payload).await.ok()?;
    Some(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// Opens an HTTP/2 connection; the server's SETTINGS as (id, value).
async fn h2_connect(s: &Server) -> (TcpStream, Vec<(u16, u32)>) {
    let mut c = connect(s).await;
    c.write_all(PREFACE).await.unwrap();
    c.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    let f = next_frame(&mut c).await.expect("server SETTINGS");
    assert_eq!(f.kind, SETTINGS);
    c.write_all(&frame(SETTINGS, 0x1, 0, &[])).await.unwrap();
    let settings = f
        .payload
        .chunks(6)
        .map(|e| {
            let id = u16::from_be_bytes([e[0], e[1]]);
            (id, u32::from_be_bytes([e[2], e[3], e[4], e[5]]))
        })
        .collect();
    (c, settings)
}

/// HPACK (RFC 7541) for `method` on `path`: indexed :method and :scheme,
/// :path and :authority literal without indexing.
fn request_headers(post: bool, path: &str) -> Vec<u8> {
    let mut h = vec![if post { 0x83 } else { 0x82 }, 0x86, 0x04];
    h.push(u8::try_from(path.len()).unwrap());
    h.extend_from_slice(path.as_bytes());
    h.extend_from_slice(b"\x01\x09localhost");
    h
}

/// Frames until the server closes, or `limit` passes (a failure),
/// answering the server's PINGs if `pong`.
async fn h2_until_closed(c: &mut TcpStream, limit: Duration, pong: bool) -> Vec<Frame> {
    let mut frames = Vec::new();
    let read = async {
        while let Some(f) = next_frame(c).await {
            if pong && f.kind == PING && f.flags & 0x1 == 0 {
                let _ = c.write_all(&frame(PING, 0x1, 0, &f.payload)).await;
            }
            frames.push(f);
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .expect("the server closes the connection");
    frames
}

#[tokio::test]
async fn http2_advertises_its_stream_limit_and_closes_an_unanswered_ping() {
    let s = server(|c| {
        c.server.http2_max_concurrent_streams = 7;
        c.server.http2_keep_alive_interval_secs = 1;
        c.server.http2_keep_alive_timeout_secs = 1;
        c.server.header_timeout_secs = 600;
        c.server.idle_timeout_secs = 600;
    })
    .await;
    let (mut c, settings) = h2_connect(&s).await;
    assert!(
        settings.contains(&(MAX_CONCURRENT_STREAMS, 7)),
        "{settings:?}"
    );
    // The server pings; this client never answers, so it is dropped.
    let started = Instant::now();
    let frames = h2_until_closed(&mut c, Duration::from_secs(2) + MARGIN, false).await;
    eprintln!(
        "unanswered HTTP/2 ping: closed after {:?}",
        started.elapsed()
    );
    assert!(
        frames.iter().any(|f| f.kind == PING && f.flags & 0x1 == 0),
        "no PING"
    );
}

#[tokio::test]
async fn an_idle_http2_connection_gets_goaway() {
    let s = server(|c| {
        c.server.http2_keep_alive_interval_secs = 0;
        c.server.header_timeout_secs = 600;
    })
    .await;
    let (mut c, _) = h2_connect(&s).await;
    let get = request_headers(false, "/directory");
    c.write_all(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &get))
        .await
        .unwrap();
    let started = Instant::now();
    let frames = h2_until_closed(&mut c, Duration::from_secs(2) + MARGIN, true).await;
    eprintln!(
        "idle HTTP/2 connection closed after {:?}",
        started.elapsed()
    );
    let answered = frames
        .iter()
        .position(|f| f.kind == HEADERS && f.stream == 1);
    let goaway = frames.iter().position(|f| f.kind == GOAWAY);
    assert!(answered.is_some(), "the request was answered");
    assert!(goaway > answered, "then GOAWAY: {goaway:?}");
    let cut = "trustgate_http_connections_cut_total{listener=\"acme\",reason=\"idle\"}";
    assert_eq!(metric(&s, cut).await, 1.0);
}

#[tokio::test]
async fn an_http2_stream_that_never_sends_its_body_is_answered_408() {
    let s = server(|c| {
        c.server.header_timeout_secs = 600;
        c.server.idle_timeout_secs = 600;
    })
    .await;
    let (mut c, _) = h2_connect(&s).await;
    let post = request_headers(true, "/acme/new-account");
    c.write_all(&frame(HEADERS, END_HEADERS, 1, &post))
        .await
        .unwrap();
    let started = Instant::now();
    let mut body = Vec::new();
    let read = async {
        while let Some(f) = next_frame(&mut c).await {
            if f.kind == DATA && f.stream == 1 {
                body.extend_from_slice(&f.payload);
                if f.flags & END_STREAM != 0 {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(1) + MARGIN, read)
        .await
        .expect("the stream is answered");
    eprintln!(
        "HTTP/2 stream without a body answered after {:?}",
        started.elapsed()
    );
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["status"], 408);
    assert_eq!(problem["type"], "urn:ietf:params:acme:error:malformed");
}

#[tokio::test]
async fn an_http2_stream_past_the_limit_is_refused() {
    const RST_STREAM: u8 = 0x3;
    const REFUSED_STREAM: u32 = 0x7;
    let s = server(|c| {
        c.server.http2_max_concurrent_streams = 1;
        c.server.header_timeout_secs = 600;
        c.server.body_timeout_secs = 600;
        c.server.idle_timeout_secs = 600;
    })
    .await;
    let (mut c, _) = h2_connect(&s).await;
    // Stream 1 stays open (its body never comes); stream 3 is one too many.
    let post = request_headers(true, "/acme/new-account");
    c.write_all(&frame(HEADERS, END_HEADERS, 1, &post))
        .await
        .unwrap();
    let get = request_headers(false, "/directory");
    c.write_all(&frame(HEADERS, END_HEADERS | END_STREAM, 3, &get))
        .await
        .unwrap();
    let reset = async {
        loop {
            let f = next_frame(&mut c).await.expect("connection open");
            assert!(f.stream != 3 || f.kind == RST_STREAM, "stream 3 served");
            if f.kind == RST_STREAM && f.stream == 3 {
                break u32::from_be_bytes(f.payload[..4].try_into().unwrap());
            }
        }
    };
    let code = tokio::time::timeout(MARGIN, reset).await.expect("a reset");
    assert_eq!(code, REFUSED_STREAM);
}

#[tokio::test]
async fn shutdown_closes_idle_connections_at_once() {
    let s = server(|c| {
        c.server.header_timeout_secs = 600;
        c.server.idle_timeout_secs = 600;
    })
    .await;
    let mut h1 = connect(&s).await;
    h1.write_all(b"GET /directory HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = response(&mut h1).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let (mut h2, _) = h2_connect(&s).await;
    let Server { _running, .. } = s;
    let started = Instant::now();
    let stop = tokio::spawn(_running.stop());
    let (got, _) = until_closed(&mut h1, MARGIN).await;
    assert!(got.is_empty(), "{got:?}");
    let frames = h2_until_closed(&mut h2, MARGIN, true).await;
    assert!(frames.iter().any(|f| f.kind == GOAWAY), "no GOAWAY");
    tokio::time::timeout(MARGIN, stop)
        .await
        .expect("stopped")
        .unwrap()
        .unwrap();
    eprintln!(
        "shutdown with two idle connections took {:?}",
        started.elapsed()
    );
}
