//! RFC 8555 §7.5 (authorizations, challenges), §7.5.2 (deactivation) and
//! §8.3 (http-01) outcomes as the client sees them.

use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde_json::json;

use crate::responders::{HttpResponder, Reply};
use crate::support::*;

#[tokio::test]
async fn the_answer_to_a_challenge_carries_a_validation_that_finished_in_time() {
    let (s, c) = registered().await;
    let order = create_order(&c, &["quick.example.jp"]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = c.post(&authz_url, None).await.json();
    let ch = challenge_of(&authz, "http-01").clone();
    c.provision_http01(&s, &ch);

    let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("link").unwrap().contains(&authz_url));
    assert_eq!(r.header("retry-after"), None, "nothing left to poll for");
    let answered = r.json();
    assert_eq!(answered["status"], "valid", "{answered}");
    assert!(answered["validated"].is_string(), "{answered}");
    // The first poll finds it: no client needs to sleep and ask again.
    let authz = c.post(&authz_url, None).await.json();
    assert_eq!(authz["status"], "valid", "{authz}");
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "ready"
    );
}

/// An http-01 responder that takes `SLOW` to answer (headers at once,
/// then a byte every 300 ms), and not with the key authorization.
const SLOW: Duration = Duration::from_millis(1200);
async fn slow_wrong_responder() -> HttpResponder {
    HttpResponder::start(|_, _| Reply::Drip {
        head: b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n".to_vec(),
        body_len: 4,
        every: SLOW / 4,
    })
    .await
}

/// A registered client of a server whose http-01 validations go to
/// `slow_wrong_responder` and whose challenge answers wait up to `wait`.
async fn slow_validations(wait: Duration) -> (HttpResponder, Server, Client) {
    let http = slow_wrong_responder().await;
    let (s, c) = registered_with(|cfg| {
        cfg.va.http01_port = http.port;
        cfg.acme.challenge_wait_ms = wait.as_millis() as u64;
    })
    .await;
    (http, s, c)
}

#[tokio::test]
async fn a_validation_slower_than_the_wait_is_answered_processing_and_goes_on() {
    const WAIT: Duration = Duration::from_millis(500);
    let (_http, _s, c) = slow_validations(WAIT).await;
    let order = create_order(&c, &["slow.example.jp"]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = c.post(&authz_url, None).await.json();
    let ch = challenge_of(&authz, "http-01").clone();

    let started = Instant::now();
    let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({}))).await;
    let waited = started.elapsed();
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.json()["status"], "processing");
    assert!(waited >= WAIT && waited < SLOW, "answered after {waited:?}");
    // The validation outlives the answer and stores its outcome.
    let authz = c.wait_status(&authz_url, &["invalid"]).await;
    assert_eq!(
        challenge_of(&authz, "http-01")["error"]["type"],
        "urn:ietf:params:acme:error:unauthorized",
        "{authz}"
    );
}

#[tokio::test]
async fn a_second_answer_during_the_wait_starts_no_second_validation() {
    let (http, _s, c) = slow_validations(Duration::from_secs(10)).await;
    let order = create_order(&c, &["twice.example.jp"]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = c.post(&authz_url, None).await.json();
    let url = challenge_of(&authz, "http-01")["url"]
        .as_str()
        .unwrap()
        .to_owned();

    let answer = json!({});
    let started = Instant::now();
    let (first, second) = tokio::join!(c.post(&url, Some(&answer)), async {
        tokio::time::sleep(SLOW / 4).await;
        // The start is committed before the validation fetches anything.
        let stored = c.post(&authz_url, None).await.json();
        assert_eq!(challenge_of(&stored, "http-01")["status"], "processing");
        // The first answer's validation runs: this one does not wait on
        // it, and says `processing` once that is stored.
        let second = c.post(&url, Some(&answer)).await;
        assert!(started.elapsed() < SLOW, "{:?}", started.elapsed());
        let stored = c.post(&authz_url, None).await.json();
        assert_eq!(challenge_of(&stored, "http-01")["status"], "processing");
        second
    });
    assert_eq!(second.json()["status"], "processing");
    assert!(second.header("retry-after").is_some());
    assert_eq!(first.json()["status"], "invalid", "the first answer waited");
    let authz = c.post(&authz_url, None).await.json();
    assert_eq!(authz["status"], "invalid", "{authz}");
    assert_eq!(http.requests().len(), 1, "one validation");
}

#[tokio::test]
async fn only_the_last_unanswered_authorization_of_an_order_waits() {
    let (_http, _s, c) = slow_validations(Duration::from_secs(10)).await;
    let order = create_order(&c, &["a.example.jp", "b.example.jp"]).await;
    let mut authz_urls = Vec::new();
    let mut challenge_urls = Vec::new();
    for url in order["authorizations"].as_array().unwrap() {
        let url = url.as_str().unwrap().to_owned();
        let authz = c.post(&url, None).await.json();
        challenge_urls.push(
            challenge_of(&authz, "http-01")["url"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        authz_urls.push(url);
    }

    // b is still unanswered: a's answer does not wait.
    let started = Instant::now();
    let first = c.post(&challenge_urls[0], Some(&json!({}))).await.json();
    assert_eq!(first["status"], "processing", "{first}");
    assert!(started.elapsed() < SLOW, "{:?}", started.elapsed());
    // b is the last: its answer waits for its validation, and a's ran
    // meanwhile.
    let last = c.post(&challenge_urls[1], Some(&json!({}))).await.json();
    assert_eq!(last["status"], "invalid", "{last}");
    assert!(started.elapsed() < 2 * SLOW, "{:?}", started.elapsed());
    c.wait_status(&authz_urls[0], &["invalid"]).await;
}

#[tokio::test]
async fn a_wrong_key_authorization_invalidates_with_the_error_stored() {
    let s = Server::start().await;
    let mut c = Client::new(&s).await;
    c.register(&s).await;
    let order = create_order(&c, &["a.example.jp"]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = c.post(&authz_url, None).await.json();
    assert_eq!(authz["status"], "pending");
    assert_eq!(authz["identifier"]["value"], "a.example.jp");
    let ch = authz["challenges"][0].clone();
    assert_eq!(ch["type"], "http-01");
    let token = ch["token"].as_str().unwrap().to_owned();
    s.http01
        .lock()
        .unwrap()
        .insert(token.clone(), format!("{token}.wrong-thumbprint"));
    let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("link").unwrap().contains(&authz_url));
    let authz = c.wait_status(&authz_url, &["invalid"]).await;
    let ch = &authz["challenges"][0];
    assert_eq!(ch["status"], "invalid");
    assert_eq!(
        ch["error"]["type"], "urn:ietf:params:acme:error:unauthorized",
        "{ch}"
    );
    assert!(
        ch["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("wrong-thumbprint"),
        "{ch}"
    );
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "invalid"
    );
    let records = s.sql_text(
        "SELECT validation_records AS t FROM challenges WHERE validation_records IS NOT NULL",
    );
    assert!(
        records[0].contains("127.0.0.1"),
        "addresses used are stored: {records:?}"
    );
    // Answering again changes nothing.
    let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({}))).await;
    assert_eq!(r.json()["status"], "invalid");
}

#[tokio::test]
async fn nothing_listening_is_a_connection_error() {
    let s = Server::start_with(|c| c.va.http01_port = 9).await;
    let mut c = Client::new(&s).await;
    c.register(&s).await;
    let order = create_order(&c, &["a.example.jp"]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = c.post(&authz_url, None).await.json();
    c.post(
        authz["challenges"][0]["url"].as_str().unwrap(),
        Some(&json!({})),
    )
    .await;
    let authz = c.wait_status(&authz_url, &["invalid"]).await;
    assert_eq!(
        authz["challenges"][0]["error"]["type"],
        "urn:ietf:params:acme:error:connection"
    );
}

#[tokio::test]
async fn authorizations_can_be_deactivated() {
    let s = Server::start().await;
    let mut c = Client::new(&s).await;
    c.register(&s).await;
    let order = create_order(&c, &["a.example.jp"]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap();
    c.post(authz_url, Some(&json!({"status": "valid"})))
        .await
        .problem("malformed");
    let r = c
        .post(authz_url, Some(&json!({"status": "deactivated"})))
        .await;
    assert_eq!(r.json()["status"], "deactivated");
    c.post(authz_url, Some(&json!({"status": "deactivated"})))
        .await
        .problem("malformed");
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "invalid"
    );
}

/// Makes the database refuse (or accept again) every write that would
/// mark a challenge `invalid`: a fault at exactly the write that stores a
/// failed validation.
fn refuse_failures(s: &Server, refuse: bool) {
    let postgres = s.cfg.database_url().starts_with("postgres");
    let sql: &[&str] = match (postgres, refuse) {
        (false, true) => &[
            "CREATE TRIGGER refuse_failures BEFORE UPDATE ON challenges \
             WHEN NEW.status = 'invalid' BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
        ],
        (false, false) => &["DROP TRIGGER refuse_failures"],
        (true, true) => &[
            "CREATE FUNCTION refuse_failures() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$",
            "CREATE TRIGGER refuse_failures BEFORE UPDATE ON challenges FOR EACH ROW \
             WHEN (NEW.status = 'invalid') EXECUTE FUNCTION refuse_failures()",
        ],
        (true, false) => &[
            "DROP TRIGGER refuse_failures ON challenges",
            "DROP FUNCTION refuse_failures()",
        ],
    };
    with_db(&s.cfg.database_url(), |db| {
        for q in sql {
            db.execute(q);
        }
    });
}

/// The `trustgate_validation_store_retries_total` counter.
async fn store_retries(s: &Server) -> u64 {
    let r = send(
        &http(),
        hyper::Method::GET,
        &s.admin_url("/metrics"),
        None,
        vec![],
    )
    .await;
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("trustgate_validation_store_retries_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no store retry counter in\n{text}"))
}

/// A failed validation whose outcome cannot be written stays `processing`
/// (never `pending` again, which would give the applicant another try),
/// a second answer starts nothing, and the failure is written once the
/// database takes it, without validating again.
#[tokio::test]
async fn a_failure_whose_write_fails_stays_processing_until_it_is_stored() {
    let wrong =
        HttpResponder::start(|_, _| crate::responders::response("404 Not Found", &[], b"")).await;
    let (s, c) = registered_with(|cfg| cfg.va.http01_port = wrong.port).await;
    let order = create_order(&c, &["refused-write.example.jp"]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = c.post(&authz_url, None).await.json();
    let url = challenge_of(&authz, "http-01")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    refuse_failures(&s, true);

    let first = c.post(&url, Some(&json!({}))).await;
    assert_eq!(
        first.json()["status"],
        "processing",
        "the outcome was not stored"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while store_retries(&s).await < 2 {
        assert!(
            Instant::now() < deadline,
            "the outcome's write was never tried again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = c.post(&url, Some(&json!({}))).await;
    assert_eq!(again.json()["status"], "processing");
    let stored = c.post(&authz_url, None).await.json();
    assert_eq!(stored["status"], "pending", "{stored}");
    assert_eq!(
        challenge_of(&stored, "http-01")["status"],
        "processing",
        "{stored}"
    );

    refuse_failures(&s, false);
    let authz = c.wait_status(&authz_url, &["invalid"]).await;
    assert_eq!(
        challenge_of(&authz, "http-01")["error"]["type"],
        "urn:ietf:params:acme:error:unauthorized",
        "{authz}"
    );
    assert_eq!(wrong.requests().len(), 1, "validated once, stored later");
}
