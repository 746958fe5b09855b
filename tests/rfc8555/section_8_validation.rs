//! RFC 8555 §8 (identifier validation) end to end: newOrder, the
//! authorization, the challenge POST (§7.5.1) and polling, against
//! responders on loopback (`va.allow_loopback` opens 127.0.0.0/8 and ::1
//! only). tls-alpn-01 is RFC 8737; http-01 is §8.3 with the VA's limits
//! on redirects, response size and time. Each failure must be prompt
//! (well inside `va.timeout_secs`), or for a slow responder end at the
//! timeout, and leave its error and evidence with the challenge.

use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde_json::{json, Value};

use crate::responders::{redirect, response, AlpnResponder, HttpResponder, Reply};
use crate::support::*;

/// Long enough that a failure that waits for it stands out.
const TIMEOUT_SECS: u64 = 10;
/// Well under `TIMEOUT_SECS`: what a prompt failure may take on a loaded
/// CI machine.
const PROMPT: Duration = Duration::from_secs(4);

/// A registered client of a server whose VA reaches `tweak`'s ports.
async fn server(tweak: impl FnOnce(&mut trustgate::config::Config)) -> (Server, Client) {
    registered_with(|cfg| {
        cfg.va.timeout_secs = TIMEOUT_SECS;
        tweak(cfg);
    })
    .await
}

/// One name's order, its authorization URL and the challenge of `kind`.
async fn challenge(c: &Client, name: &str, kind: &str) -> (Value, String, Value) {
    let order = create_order(c, &[name]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = c.post(&authz_url, None).await.json();
    assert_eq!(authz["status"], "pending");
    let ch = challenge_of(&authz, kind).clone();
    (order, authz_url, ch)
}

/// Answers the challenge (§7.5.1) and polls the authorization until it
/// is final; returns it and how long that took.
async fn answer(c: &Client, authz_url: &str, ch: &Value) -> (Value, Duration) {
    let start = Instant::now();
    let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({}))).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let give_up = Duration::from_secs(TIMEOUT_SECS + 5);
    loop {
        let authz = c.post(authz_url, None).await.json();
        if authz["status"] != "pending" {
            return (authz, start.elapsed());
        }
        assert!(start.elapsed() < give_up, "never final: {authz}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Asserts the authorization, its challenge and the order are invalid
/// with exactly this problem; returns the challenge.
#[track_caller]
fn assert_invalid<'a>(authz: &'a Value, kind: &str, problem: &str, detail: &str) -> &'a Value {
    assert_eq!(authz["status"], "invalid", "{authz}");
    let ch = challenge_of(authz, kind);
    assert_eq!(ch["status"], "invalid", "{ch}");
    assert_eq!(ch.get("validated"), None, "{ch}");
    assert_eq!(
        ch["error"]["type"],
        format!("urn:ietf:params:acme:error:{problem}"),
        "{ch}"
    );
    assert_eq!(ch["error"]["detail"], detail, "{ch}");
    ch
}

/// The validation records stored with the challenge whose token this is.
fn stored_records(s: &Server, token: &str) -> Value {
    let rows = s.sql_text(&format!(
        "SELECT validation_records AS t FROM challenges WHERE token = '{token}'"
    ));
    assert_eq!(rows.len(), 1, "{rows:?}");
    serde_json::from_str(&rows[0]).unwrap()
}

fn key_authorization(c: &Client, ch: &Value) -> String {
    format!("{}.{}", ch["token"].as_str().unwrap(), c.thumbprint())
}

// --- tls-alpn-01 (RFC 8737) ---

#[tokio::test]
async fn tls_alpn_01_with_the_right_acme_identifier_is_valid() {
    let alpn = AlpnResponder::start().await;
    let (s, c) = server(|cfg| cfg.va.tlsalpn01_port = alpn.port).await;
    let (order, authz_url, ch) = challenge(&c, "alpn.example.jp", "tls-alpn-01").await;
    alpn.install("alpn.example.jp", &key_authorization(&c, &ch));

    let (authz, elapsed) = answer(&c, &authz_url, &ch).await;
    assert!(elapsed < PROMPT, "{elapsed:?}");
    assert_eq!(authz["status"], "valid", "{authz}");
    let done = challenge_of(&authz, "tls-alpn-01");
    assert_eq!(done["status"], "valid");
    assert!(done["validated"].is_string(), "{done}");
    assert_eq!(done.get("error"), None);
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "ready"
    );
    // §3: SNI names the identifier and acme-tls/1 is the only protocol.
    assert_eq!(
        alpn.hellos.lock().unwrap().clone(),
        vec![(
            Some("alpn.example.jp".to_owned()),
            vec![b"acme-tls/1".to_vec()]
        )]
    );
    assert_eq!(
        stored_records(&s, ch["token"].as_str().unwrap()),
        json!([{
            "hostname": "alpn.example.jp",
            "port": alpn.port,
            "addressesResolved": ["127.0.0.1"],
            "addressUsed": "127.0.0.1",
        }])
    );
}

#[tokio::test]
async fn tls_alpn_01_with_a_wrong_acme_identifier_is_unauthorized() {
    let alpn = AlpnResponder::start().await;
    let (s, c) = server(|cfg| cfg.va.tlsalpn01_port = alpn.port).await;
    let (order, authz_url, ch) = challenge(&c, "alpn.example.jp", "tls-alpn-01").await;
    // The digest of another key authorization: an old or foreign one.
    alpn.install(
        "alpn.example.jp",
        &format!("{}.someone-else", ch["token"].as_str().unwrap()),
    );

    let (authz, elapsed) = answer(&c, &authz_url, &ch).await;
    assert!(elapsed < PROMPT, "{elapsed:?}");
    assert_invalid(
        &authz,
        "tls-alpn-01",
        "unauthorized",
        &format!(
            "Incorrect validation certificate for tls-alpn-01 challenge. Invalid \
             acmeIdentifier extension value in the certificate from 127.0.0.1:{}: it does \
             not hold the SHA-256 digest of this challenge's key authorization",
            alpn.port
        ),
    );
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "invalid"
    );
    // The evidence of the failed attempt is kept.
    let records = stored_records(&s, ch["token"].as_str().unwrap());
    assert_eq!(records[0]["addressUsed"], "127.0.0.1");
    assert_eq!(s.count("certificates"), 0);
}

// --- http-01 (§8.3) ---

/// The challenge URL the VA first requests.
fn challenge_url(name: &str, port: u16, ch: &Value) -> String {
    format!(
        "http://{name}:{port}/.well-known/acme-challenge/{}",
        ch["token"].as_str().unwrap()
    )
}

#[tokio::test]
async fn http_01_through_a_redirect_is_valid_with_one_record_per_hop() {
    // Key authorizations by token, filled in once the token is known.
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let served = bodies.clone();
    let http = HttpResponder::start(move |req, port| {
        match req.path.strip_prefix("/.well-known/acme-challenge/") {
            // RFC 8555 §8.3 allows redirects; to another name on the
            // same port.
            Some(token) => redirect(&format!("http://www.example.jp:{port}/moved/{token}")),
            None => {
                let token = req.path.trim_start_matches("/moved/");
                match served.lock().unwrap().get(token) {
                    Some(ka) => response("200 OK", &[], format!("{ka}\n").as_bytes()),
                    None => response("404 Not Found", &[], b""),
                }
            }
        }
    })
    .await;
    let (s, c) = server(|cfg| cfg.va.http01_port = http.port).await;
    let (_, authz_url, ch) = challenge(&c, "web.example.jp", "http-01").await;
    let token = ch["token"].as_str().unwrap().to_owned();
    bodies
        .lock()
        .unwrap()
        .insert(token.clone(), key_authorization(&c, &ch));

    let (authz, elapsed) = answer(&c, &authz_url, &ch).await;
    assert!(elapsed < PROMPT, "{elapsed:?}");
    assert_eq!(authz["status"], "valid", "{authz}");
    assert!(challenge_of(&authz, "http-01")["validated"].is_string());
    let urls: Vec<Value> = stored_records(&s, &token)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["url"].clone())
        .collect();
    assert_eq!(
        urls,
        [
            json!(challenge_url("web.example.jp", http.port, &ch)),
            json!(format!("http://www.example.jp:{}/moved/{token}", http.port)),
        ]
    );
}

#[tokio::test]
async fn http_01_redirect_to_a_private_address_is_refused() {
    let http =
        HttpResponder::start(|req, _| redirect(&format!("http://10.0.0.1{}", req.path))).await;
    let (s, c) = server(|cfg| cfg.va.http01_port = http.port).await;
    let (order, authz_url, ch) = challenge(&c, "web.example.jp", "http-01").await;

    let (authz, elapsed) = answer(&c, &authz_url, &ch).await;
    assert!(elapsed < PROMPT, "{elapsed:?}");
    assert_invalid(
        &authz,
        "http-01",
        "connection",
        "refusing to connect to non-public address 10.0.0.1",
    );
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "invalid"
    );
    // Only the first hop was made; 10.0.0.1 never contacted.
    assert_eq!(http.requests().len(), 1);
    let records = stored_records(&s, ch["token"].as_str().unwrap());
    assert_eq!(records.as_array().unwrap().len(), 1, "{records}");
    assert_eq!(records[0]["addressUsed"], "127.0.0.1");
}

/// Boulder follows redirects to names only; a public address literal is
/// refused before any connection to it.
#[tokio::test]
async fn http_01_redirect_to_an_ip_literal_is_refused() {
    let http =
        HttpResponder::start(|req, _| redirect(&format!("http://93.184.216.34{}", req.path))).await;
    let (_s, c) = server(|cfg| cfg.va.http01_port = http.port).await;
    let (order, authz_url, ch) = challenge(&c, "web.example.jp", "http-01").await;

    let (authz, _) = answer(&c, &authz_url, &ch).await;
    assert_invalid(
        &authz,
        "http-01",
        "connection",
        "Invalid host in redirect target \"93.184.216.34\". Only domain names are supported, \
         not IP addresses",
    );
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "invalid"
    );
    assert_eq!(http.requests().len(), 1);
}

#[tokio::test]
async fn http_01_redirect_to_port_8080_is_refused() {
    let http =
        HttpResponder::start(|req, _| redirect(&format!("http://web.example.jp:8080{}", req.path)))
            .await;
    let (_s, c) = server(|cfg| cfg.va.http01_port = http.port).await;
    let (_, authz_url, ch) = challenge(&c, "web.example.jp", "http-01").await;

    let (authz, elapsed) = answer(&c, &authz_url, &ch).await;
    assert!(elapsed < PROMPT, "{elapsed:?}");
    assert_invalid(
        &authz,
        "http-01",
        "connection",
        "Invalid port in redirect target. Only ports 80 and 443 are supported, not 8080",
    );
    assert_eq!(http.requests().len(), 1);
}

#[tokio::test]
async fn http_01_redirect_loop_stops_after_ten_redirects() {
    // A loop of ten hops: the challenge path, /loop/1 … /loop/9, back.
    let http = HttpResponder::start(|req, port| {
        let next = match req.path.strip_prefix("/loop/") {
            Some("9") => "/.well-known/acme-challenge/again".to_owned(),
            Some(n) => format!("/loop/{}", n.parse::<u32>().unwrap() + 1),
            None => "/loop/1".to_owned(),
        };
        redirect(&format!("http://{}:{port}{next}", req.host))
    })
    .await;
    let (s, c) = server(|cfg| cfg.va.http01_port = http.port).await;
    let (_, authz_url, ch) = challenge(&c, "web.example.jp", "http-01").await;

    let (authz, elapsed) = answer(&c, &authz_url, &ch).await;
    assert!(elapsed < PROMPT, "{elapsed:?}");
    assert_invalid(
        &authz,
        "http-01",
        "connection",
        &format!(
            "too many redirects (more than 10) at http://web.example.jp:{}/.well-known/acme-challenge/again",
            http.port
        ),
    );
    // The first request and ten redirects followed, each kept as evidence.
    assert_eq!(http.requests().len(), 11);
    let records = stored_records(&s, ch["token"].as_str().unwrap());
    assert_eq!(records.as_array().unwrap().len(), 11, "{records}");
}

#[tokio::test]
async fn http_01_body_of_10_mib_is_cut_off() {
    const TEN_MIB: usize = 10 * 1024 * 1024;
    // Declared up front on one name, streamed without a length on the
    // other: both must stop at the VA's cap (8 KiB by default).
    let http = HttpResponder::start(|req, _| {
        let body = vec![b'a'; TEN_MIB];
        if req.host.starts_with("declared.") {
            response("200 OK", &[], &body)
        } else {
            let mut raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
            raw.extend_from_slice(&body);
            Reply::Bytes(raw)
        }
    })
    .await;
    let (s, c) = server(|cfg| cfg.va.http01_port = http.port).await;
    let max = s.cfg.va.max_response_bytes;
    for name in ["declared.example.jp", "streamed.example.jp"] {
        let (_, authz_url, ch) = challenge(&c, name, "http-01").await;
        let (authz, elapsed) = answer(&c, &authz_url, &ch).await;
        assert!(elapsed < PROMPT, "{name}: {elapsed:?}");
        assert_invalid(
            &authz,
            "http-01",
            "unauthorized",
            &format!(
                "Invalid response from {}: response larger than {max} bytes",
                challenge_url(name, http.port, &ch)
            ),
        );
    }
}

#[tokio::test]
async fn http_01_slow_loris_is_cut_off_at_the_timeout() {
    const SLOW_TIMEOUT: u64 = 3;
    // Headers at once, then one byte a second: never silent long enough
    // for a read timeout, so only the attempt's deadline ends it.
    let http = HttpResponder::start(|_, _| Reply::Drip {
        head: b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n".to_vec(),
        body_len: 60,
        every: Duration::from_secs(1),
    })
    .await;
    let (_s, c) = server(|cfg| {
        cfg.va.http01_port = http.port;
        cfg.va.timeout_secs = SLOW_TIMEOUT;
    })
    .await;
    let (_, authz_url, ch) = challenge(&c, "slow.example.jp", "http-01").await;

    let (authz, elapsed) = answer(&c, &authz_url, &ch).await;
    assert_invalid(
        &authz,
        "http-01",
        "connection",
        &format!("timeout after {SLOW_TIMEOUT}s"),
    );
    let timeout = Duration::from_secs(SLOW_TIMEOUT);
    assert!(
        elapsed >= timeout - Duration::from_millis(500) && elapsed < timeout + PROMPT / 2,
        "{elapsed:?}"
    );
}

// --- RFC 8657 §4: CAA validationmethods names the method used ---

#[tokio::test]
async fn caa_validationmethods_must_include_the_method_that_validated() {
    let (s, c) = server(|cfg| cfg.acme.caa_identities = vec!["trustgate.jp".into()]).await;
    s.caa.add(
        "strict.example.jp",
        false,
        "issue",
        "trustgate.jp; validationmethods=dns-01",
    );
    s.caa.add(
        "open.example.jp",
        false,
        "issue",
        "trustgate.jp; validationmethods=tls-alpn-01,http-01",
    );
    // Both validated with http-01 (the fixture's validate_order).
    let open = create_order(&c, &["open.example.jp"]).await;
    c.validate_order(&s, &open).await;
    let r = c.finalize(&open, &["open.example.jp"]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );

    let strict = create_order(&c, &["strict.example.jp"]).await;
    c.validate_order(&s, &strict).await;
    let before = s.count("certificates");
    let p = c
        .finalize(&strict, &["strict.example.jp"])
        .await
        .problem("caa");
    assert_eq!(
        p["detail"],
        "CAA record for strict.example.jp prevents issuance: validationmethods \"dns-01\" \
         does not include http-01, the method used"
    );
    assert_eq!(s.count("certificates"), before, "nothing issued");
    assert_eq!(
        c.post(&order_url(&strict, &c), None).await.json()["status"],
        "ready"
    );
}
