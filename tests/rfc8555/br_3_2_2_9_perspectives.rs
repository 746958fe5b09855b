//! Baseline Requirements §3.2.2.9 (multi-perspective issuance
//! corroboration), through the whole path: a server whose VA asks stand-in
//! remote perspectives (answering valid, invalid, unreachable, or never)
//! beside every validation and every CAA check at finalize.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;
use trustgate::config::StaffRole;
use trustgate::core::{ChallengeType, Clock, Region};
use trustgate::va::remote::{RemoteAnswer, RemoteCheck, RemoteOutcome, RemotePerspective};
use trustgate::va::ValidationRecord;

use crate::responders::AlpnResponder;
use crate::support::*;

/// After 2026-12-15: five perspectives required, one may fail.
const FIVE_REQUIRED: OffsetDateTime = datetime!(2026-12-16 12:00 UTC);
const AUDITOR_TOKEN: &str = "tok-auditor-5ee5a11";

#[derive(Clone, Copy, Debug)]
enum Says {
    Valid,
    Invalid(&'static str),
    Down,
    /// Never answers (the VA's timeout ends the wait).
    Silent,
}

/// A remote perspective whose answers the test sets, separately for
/// challenges and CAA checks.
struct Stand {
    name: String,
    region: Region,
    challenge: Mutex<Says>,
    caa: Mutex<Says>,
    /// The methods of the challenges asked, in order.
    methods: Mutex<Vec<ChallengeType>>,
}

impl Stand {
    fn new(name: &str, region: Region) -> Arc<Stand> {
        Arc::new(Stand {
            name: name.into(),
            region,
            challenge: Mutex::new(Says::Valid),
            caa: Mutex::new(Says::Valid),
            methods: Mutex::new(Vec::new()),
        })
    }

    fn says(&self, says: Says) {
        *self.challenge.lock().unwrap() = says;
    }

    fn says_caa(&self, says: Says) {
        *self.caa.lock().unwrap() = says;
    }
}

impl RemotePerspective for Stand {
    fn name(&self) -> &str {
        &self.name
    }

    fn region(&self) -> Region {
        self.region
    }

    fn check<'a>(
        &'a self,
        check: &'a RemoteCheck,
    ) -> Pin<Box<dyn Future<Output = RemoteAnswer> + Send + 'a>> {
        let says = match check {
            RemoteCheck::Challenge { method, .. } => {
                self.methods.lock().unwrap().push(*method);
                *self.challenge.lock().unwrap()
            }
            RemoteCheck::Caa { .. } => *self.caa.lock().unwrap(),
        };
        Box::pin(async move {
            let outcome = match says {
                Says::Valid => RemoteOutcome::Valid,
                Says::Invalid(problem) => RemoteOutcome::Invalid {
                    problem: problem.into(),
                    detail: format!("{} saw otherwise", self.name),
                },
                Says::Down => RemoteOutcome::Unreachable {
                    detail: "connection refused".into(),
                },
                Says::Silent => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    RemoteOutcome::Valid
                }
            };
            RemoteAnswer {
                // The primary names the answer from its configuration.
                perspective: "spoofed".into(),
                region: None,
                outcome,
                records: vec![ValidationRecord {
                    hostname: "seen-from-afar".into(),
                    dnssec: Some("Insecure".into()),
                    ..ValidationRecord::default()
                }],
                caa: None,
                checked_at: OffsetDateTime::now_utc(),
            }
        })
    }
}

/// Five perspectives in three RIR regions.
fn five() -> Vec<Arc<Stand>> {
    vec![
        Stand::new("arin-1", Region::Arin),
        Stand::new("ripe-1", Region::Ripe),
        Stand::new("apnic-1", Region::Apnic),
        Stand::new("arin-2", Region::Arin),
        Stand::new("ripe-2", Region::Ripe),
    ]
}

async fn server_at(at: OffsetDateTime, stands: &[Arc<Stand>]) -> (Server, Client) {
    server_with(at, stands, |_| {}).await
}

async fn server_with(
    at: OffsetDateTime,
    stands: &[Arc<Stand>],
    tweak: impl FnOnce(&mut trustgate::config::Config),
) -> (Server, Client) {
    let perspectives = stands
        .iter()
        .map(|s| s.clone() as Arc<dyn RemotePerspective>)
        .collect();
    let s = Server::start_with_perspectives(Clock::manual(at), tweak, perspectives).await;
    add_staff(&s.cfg, "auditor", AUDITOR_TOKEN, &[StaffRole::View]).await;
    let mut c = Client::new(&s).await;
    c.register(&s).await;
    (s, c)
}

/// Orders `name`, answers its http-01 challenge (published unless
/// `publish` is false) and returns the final authorization.
async fn validate(s: &Server, c: &Client, name: &str, publish: bool) -> Value {
    let order = create_order(c, &[name]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = c.post(&authz_url, None).await.json();
    let ch = challenge_of(&authz, "http-01").clone();
    if publish {
        c.provision_http01(s, &ch);
    }
    let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    c.wait_status(&authz_url, &["valid", "invalid"]).await
}

#[track_caller]
fn assert_refused(authz: &Value, problem: &str, detail: &[&str]) {
    assert_eq!(authz["status"], "invalid", "{authz}");
    let ch = challenge_of(authz, "http-01");
    assert_eq!(ch["status"], "invalid", "{ch}");
    assert_eq!(
        ch["error"]["type"],
        format!("urn:ietf:params:acme:error:{problem}"),
        "{ch}"
    );
    let got = ch["error"]["detail"].as_str().unwrap_or_default();
    for part in detail {
        assert!(got.contains(part), "{got:?} lacks {part:?}");
    }
}

async fn evidence(s: &Server, order_url: &str) -> Value {
    let id = order_url.rsplit('/').next().unwrap();
    let req = Request::builder()
        .method(Method::GET)
        .uri(s.admin_url(&format!("/admin/orders/{id}")))
        .header("authorization", format!("Bearer {AUDITOR_TOKEN}"));
    let r = exchange(&http(), req, Vec::new()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

#[track_caller]
fn assert_each_perspective(answers: &Value, stands: &[Arc<Stand>]) {
    let answers = answers.as_array().expect("perspectives");
    assert_eq!(answers.len(), stands.len(), "{answers:?}");
    for (a, st) in answers.iter().zip(stands) {
        assert_eq!(a["perspective"], st.name.as_str(), "{a}");
        assert_eq!(a["region"], st.region.as_str(), "{a}");
        assert!(a["outcome"]["status"].is_string(), "{a}");
        assert!(a["checkedAt"].is_string(), "{a}");
    }
}

#[tokio::test]
async fn all_agree_the_certificate_issues_and_the_evidence_shows_each_perspective() {
    let stands = five();
    let (s, c) = server_at(FIVE_REQUIRED, &stands).await;
    let (_, done) = issue_fresh(&s, &c, &["agree.example.jp"]).await;
    assert_eq!(done["status"], "valid");
    // The issued order's URL is the finalize URL without its suffix.
    let finalize = done["finalize"].as_str().unwrap();
    let order_url = finalize.trim_end_matches("/finalize");
    let ev = evidence(&s, order_url).await;
    let ch = &ev["authorizations"][0]["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == "valid")
        .cloned()
        .expect("a valid challenge");
    assert_each_perspective(&ch["perspectives"], &stands);
    assert_eq!(ch["perspectives"][0]["outcome"]["status"], "valid");
    assert_eq!(
        ch["perspectives"][0]["records"][0]["hostname"],
        "seen-from-afar"
    );
    assert!(ch["validation_records"].is_array(), "{ch}");
    let caa = &ev["caa_evidence"][0];
    assert_eq!(caa["name"], "agree.example.jp");
    assert_each_perspective(&caa["perspectives"], &stands);

    let metrics = send(&http(), Method::GET, &s.admin_url("/metrics"), None, vec![])
        .await
        .text();
    assert!(
        metrics.contains(
            "trustgate_perspective_answers_total{perspective=\"arin-1\",outcome=\"valid\"} 2"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("trustgate_perspective_duration_seconds_count{perspective=\"ripe-2\"}")
    );
}

#[tokio::test]
async fn the_primary_must_see_it_too() {
    let stands = five();
    let (s, c) = server_at(FIVE_REQUIRED, &stands).await;
    // Nothing published: every perspective says valid, the primary 404s.
    let authz = validate(&s, &c, "hijacked.example.jp", false).await;
    assert_eq!(authz["status"], "invalid", "{authz}");
    let ch = challenge_of(&authz, "http-01");
    assert_eq!(
        ch["error"]["type"],
        "urn:ietf:params:acme:error:unauthorized"
    );
}

#[tokio::test]
async fn one_of_five_may_disagree_or_be_down_but_not_two() {
    let stands = five();
    let (s, c) = server_at(FIVE_REQUIRED, &stands).await;
    stands[1].says(Says::Invalid("incorrectResponse"));
    let authz = validate(&s, &c, "one-off.example.jp", true).await;
    assert_eq!(authz["status"], "valid", "{authz}");

    stands[3].says(Says::Invalid("incorrectResponse"));
    let authz = validate(&s, &c, "two-off.example.jp", true).await;
    assert_refused(
        &authz,
        "incorrectResponse",
        &["of 5 remote perspectives corroborated", "; 4 required"],
    );

    stands[1].says(Says::Valid);
    stands[3].says(Says::Down);
    let authz = validate(&s, &c, "one-down.example.jp", true).await;
    assert_eq!(authz["status"], "valid", "{authz}");

    stands[4].says(Says::Down);
    let authz = validate(&s, &c, "two-down.example.jp", true).await;
    assert_refused(
        &authz,
        "connection",
        &["of 5 remote perspectives corroborated", "; 4 required"],
    );
}

#[tokio::test]
async fn corroborators_in_one_region_are_not_enough() {
    let stands = vec![
        Stand::new("arin-1", Region::Arin),
        Stand::new("arin-2", Region::Arin),
        Stand::new("arin-3", Region::Arin),
        Stand::new("arin-4", Region::Arin),
        Stand::new("ripe-1", Region::Ripe),
    ];
    let (s, c) = server_at(FIVE_REQUIRED, &stands).await;
    stands[4].says(Says::Invalid("dns"));
    let authz = validate(&s, &c, "one-region.example.jp", true).await;
    assert_refused(
        &authz,
        "dns",
        &["corroborating perspectives span 1 RIR region; 2 required"],
    );
}

#[tokio::test]
async fn a_silent_perspective_does_not_hold_the_answer() {
    let stands = five();
    let (s, c) = server_at(FIVE_REQUIRED, &stands).await;
    stands[2].says(Says::Silent);
    let started = Instant::now();
    let authz = validate(&s, &c, "silent.example.jp", true).await;
    assert_eq!(authz["status"], "valid", "{authz}");
    // The VA's timeout is 5 s; four agreeing answers settle it at once.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn caa_forbidding_issuance_seen_by_four_of_five_refuses_the_order() {
    let stands = five();
    let (s, c) = server_at(FIVE_REQUIRED, &stands).await;
    for st in &stands[..4] {
        st.says_caa(Says::Invalid("caa"));
    }
    let order = create_order(&c, &["caa.example.jp"]).await;
    c.validate_order(&s, &order).await;
    let r = c
        .post(
            order["finalize"].as_str().unwrap(),
            Some(&json!({"csr": b64(&csr(&["caa.example.jp"]))})),
        )
        .await;
    let p = r.problem("caa");
    // Decided once two refusals are in, whether or not the fifth answered.
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("of 5 remote perspectives corroborated")
            && detail.ends_with("; 4 required"),
        "{p}"
    );
    let ev = evidence(&s, &order_url(&order, &c)).await;
    let caa = &ev["caa_evidence"][0];
    assert_each_perspective(&caa["perspectives"], &stands);
    assert_eq!(caa["perspectives"][0]["outcome"]["problem"], "caa");
    // The primary sees no CAA record; the refusal may settle before it
    // answers, and then is not held for it.
    let decision = caa["decision"].as_str().unwrap();
    assert!(
        decision.starts_with("permitted") || decision.starts_with("not awaited"),
        "{caa}"
    );
}

#[tokio::test]
async fn four_perspectives_are_enough_until_2026_12_15() {
    let stands: Vec<_> = five().into_iter().take(4).collect();
    let (s, c) = server_at(datetime!(2026-12-14 23:59:00 UTC), &stands).await;
    let authz = validate(&s, &c, "eve.example.jp", true).await;
    assert_eq!(authz["status"], "valid", "{authz}");

    assert!(s.clock.set(datetime!(2026-12-15 00:00:00 UTC)));
    let authz = validate(&s, &c, "day.example.jp", true).await;
    assert_eq!(authz["status"], "invalid", "{authz}");
    let ch = challenge_of(&authz, "http-01");
    assert_eq!(
        ch["error"]["type"],
        "urn:ietf:params:acme:error:serverInternal"
    );
}

/// A production CA (no development hierarchy) does not start without the
/// perspectives today's rule requires, and names the rule.
#[tokio::test]
async fn a_production_ca_refuses_to_start_short_of_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = trustgate::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..trustgate::config::Config::default()
    };
    cfg.server.listen = "127.0.0.1:0".parse().unwrap();
    cfg.ca.generate_dev_ca = false;
    // Otherwise a safe production configuration (app::preflight), so that
    // the perspectives are what refuses.
    cfg.server.tls = trustgate::config::TlsMode::None;
    cfg.vetting.eab_encryption_key = Some("A".repeat(43));
    cfg.publish.base_url = Some("http://crl.example.jp".into());
    cfg.ca.allow_no_linter = true;
    cfg.ca.allow_key_file = true;
    let start = |stands: Vec<Arc<Stand>>| {
        let perspectives = stands
            .into_iter()
            .map(|s| s as Arc<dyn RemotePerspective>)
            .collect();
        trustgate::app::start_with_perspectives(
            cfg.clone(),
            Clock::manual(FIVE_REQUIRED),
            perspectives,
        )
    };
    let four: Vec<_> = five().into_iter().take(4).collect();
    let Err(e) = start(four).await else {
        panic!("started with four perspectives")
    };
    assert_eq!(
        e.detail,
        "BR 3.2.2.9 requires 5 remote perspectives from 2026-12-15; 4 configured"
    );
    let one_region = (1..=5)
        .map(|i| Stand::new(&format!("arin-{i}"), Region::Arin))
        .collect();
    let Err(e) = start(one_region).await else {
        panic!("started with one region")
    };
    assert!(
        e.detail.contains("2 distinct RIR regions; 1 configured"),
        "{}",
        e.detail
    );
    // Enough perspectives: startup goes on, to the missing CA files.
    let Err(e) = start(five()).await else {
        panic!("started without CA files")
    };
    assert!(e.detail.contains("does not exist"), "{}", e.detail);
}

#[tokio::test]
async fn tls_alpn_01_is_corroborated_the_same_way() {
    let alpn = AlpnResponder::start().await;
    let stands = five();
    let (_s, c) = server_with(FIVE_REQUIRED, &stands, |cfg| {
        cfg.va.tlsalpn01_port = alpn.port
    })
    .await;
    let answer = |name: &'static str| {
        let (c, alpn) = (&c, &alpn);
        async move {
            let order = create_order(c, &[name]).await;
            let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
            let authz = c.post(&authz_url, None).await.json();
            let ch = challenge_of(&authz, "tls-alpn-01").clone();
            let token = ch["token"].as_str().unwrap();
            alpn.install(name, &format!("{token}.{}", c.thumbprint()));
            let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({}))).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            c.wait_status(&authz_url, &["valid", "invalid"]).await
        }
    };
    let authz = answer("alpn.example.jp").await;
    assert_eq!(authz["status"], "valid", "{authz}");
    assert_eq!(
        stands[0].methods.lock().unwrap().clone(),
        vec![ChallengeType::TlsAlpn01]
    );

    stands[0].says(Says::Invalid("tls"));
    stands[2].says(Says::Invalid("tls"));
    let authz = answer("alpn2.example.jp").await;
    assert_eq!(authz["status"], "invalid", "{authz}");
    let ch = challenge_of(&authz, "tls-alpn-01");
    assert_eq!(
        ch["error"]["type"], "urn:ietf:params:acme:error:tls",
        "{ch}"
    );
}

#[tokio::test]
async fn dns_01_is_corroborated_the_same_way() {
    let stands = five();
    let (s, c) = server_at(FIVE_REQUIRED, &stands).await;
    // Orders `name`, publishes its TXT record (or a stale one) in the
    // primary's DNS and answers the dns-01 challenge.
    let answer = |name: &'static str, publish: bool| {
        let (s, c) = (&s, &c);
        async move {
            let order = create_order(c, &[name]).await;
            let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
            let authz = c.post(&authz_url, None).await.json();
            let ch = challenge_of(&authz, "dns-01").clone();
            if publish {
                c.provision_dns01(s, name, &ch);
            } else {
                let stale = "bm90LXRoZS1yaWdodC1kaWdlc3Qtbm90LXRoZS1yaWdodA";
                s.txt.set(&format!("_acme-challenge.{name}"), &[stale]);
            }
            let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({}))).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            (
                order,
                c.wait_status(&authz_url, &["valid", "invalid"]).await,
            )
        }
    };
    let dns01_error = |authz: &Value| challenge_of(authz, "dns-01")["error"].clone();

    // Every view agrees: valid, and each perspective was asked for dns-01.
    let (order, authz) = answer("txt.example.jp", true).await;
    assert_eq!(authz["status"], "valid", "{authz}");
    for st in &stands {
        assert_eq!(
            st.methods.lock().unwrap().clone(),
            vec![ChallengeType::Dns01],
            "{}",
            st.name
        );
    }
    let shown = evidence(&s, order["__url"].as_str().unwrap()).await;
    let challenges = shown["authorizations"][0]["challenges"].as_array().unwrap();
    let ch = challenges
        .iter()
        .find(|c| c["status"] == "valid")
        .expect("valid");
    assert_eq!(ch["type"], "dns-01", "{ch}");
    assert_each_perspective(&ch["perspectives"], &stands);

    // The primary's own lookup finds only a stale record: the five remote
    // views cannot outvote it.
    let (_, authz) = answer("stale.example.jp", false).await;
    assert_eq!(authz["status"], "invalid", "{authz}");
    let error = dns01_error(&authz);
    assert_eq!(
        error["type"], "urn:ietf:params:acme:error:unauthorized",
        "{error}"
    );

    // One view differs: still valid. Two differ: the quorum is missed,
    // with the majority's error type and the count in the detail.
    stands[0].says(Says::Invalid("unauthorized"));
    let (_, authz) = answer("txt-one-off.example.jp", true).await;
    assert_eq!(authz["status"], "valid", "{authz}");
    stands[2].says(Says::Invalid("unauthorized"));
    let (_, authz) = answer("txt-two-off.example.jp", true).await;
    assert_eq!(authz["status"], "invalid", "{authz}");
    let error = dns01_error(&authz);
    assert_eq!(
        error["type"], "urn:ietf:params:acme:error:unauthorized",
        "{error}"
    );
    let detail = error["detail"].as_str().unwrap_or_default();
    // Two refusals settle it; the rest may not have been awaited.
    let full = "3 of 5 remote perspectives corroborated; 4 required".to_owned();
    let early = (0..3).map(|n| {
        format!(
            "{n} of 5 remote perspectives corroborated, 2 did not, {} not awaited; 4 required",
            3 - n
        )
    });
    assert!(early.chain([full]).any(|d| d == detail), "{detail}");
}
