//! Operations (issue #6): readiness, Prometheus metrics, request ids and
//! structured logs, and what clients see while the database is away —
//! 503 with Retry-After and a problem document, nothing changed, and
//! recovery without a restart once it is back.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::Connection;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use trustgate::core::OrganizationId;
use trustgate::vetting::organization::Level;

use crate::support::*;

/// The detail clients get while the database is away (its cause is only
/// logged).
const UNAVAILABLE: &str = "the database is unavailable; retry later";

/// Series → value of a scrape of `/metrics`.
struct Scrape {
    text: String,
    values: HashMap<String, f64>,
}

impl Scrape {
    fn get(&self, series: &str) -> f64 {
        self.values.get(series).copied().unwrap_or(0.0)
    }

    /// The `le` buckets of one histogram series, in order.
    fn buckets(&self, prefix: &str) -> Vec<(String, f64)> {
        self.text
            .lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter_map(|rest| {
                let (le, v) = rest.split_once("\"} ")?;
                Some((le.to_owned(), v.parse().ok()?))
            })
            .collect()
    }
}

async fn scrape(s: &Server) -> Scrape {
    let r = send(&http(), Method::GET, &s.admin_url("/metrics"), None, vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let values = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, v) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), v.parse::<f64>().unwrap())
        })
        .collect();
    Scrape { text, values }
}

async fn readyz(s: &Server) -> Resp {
    send(&http(), Method::GET, &s.admin_url("/readyz"), None, vec![]).await
}

fn acme_requests(endpoint: &str, method: &str, status: u16) -> String {
    format!(
        "trustgate_http_requests_total{{listener=\"acme\",endpoint=\"{endpoint}\",method=\"{method}\",status=\"{status}\"}}"
    )
}

#[tokio::test]
async fn readyz_is_ok_with_the_database_and_ca_up() {
    let s = Server::start().await;
    let r = readyz(&s).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        r.json(),
        json!({"ready": true, "checks": {"database": "ok", "ca": "ok"}})
    );
    // Like /healthz, it needs no token (probes carry none).
    assert!(r.header("www-authenticate").is_none());
}

#[tokio::test]
async fn metrics_count_requests_by_route_name() {
    let s = Server::start().await;
    let h = http();
    let before = scrape(&s).await;
    for _ in 0..3 {
        let r = send(&h, Method::HEAD, &s.url("/acme/new-nonce"), None, vec![]).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = send(&h, Method::GET, &s.url("/acme/new-nonce"), None, vec![]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    for _ in 0..2 {
        let r = send(&h, Method::GET, &s.url("/acme/order/999999"), None, vec![]).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    }
    let r = send(&h, Method::GET, &s.url("/acme/nothing/here"), None, vec![]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A checkout for the pool metrics below (on SQLite, nonces need none).
    assert_eq!(readyz(&s).await.status, StatusCode::OK);
    let after = scrape(&s).await;
    let delta = |series: &str| after.get(series) - before.get(series);

    assert_eq!(delta(&acme_requests("newNonce", "HEAD", 200)), 3.0);
    assert_eq!(delta(&acme_requests("newNonce", "GET", 204)), 1.0);
    assert_eq!(delta(&acme_requests("order", "GET", 405)), 2.0);
    assert_eq!(delta(&acme_requests("unknown", "GET", 404)), 1.0);
    // The first scrape, counted on the admin listener once it was answered.
    assert_eq!(
        delta("trustgate_http_requests_total{listener=\"admin\",endpoint=\"/metrics\",method=\"GET\",status=\"200\"}"),
        1.0
    );
    // Labels are route names, never paths with ids in them.
    assert!(!after.text.contains("999999"));
    assert!(!after.text.contains("/acme/nothing"));

    // newNonce's latency histogram: cumulative buckets ending in +Inf,
    // which equals _count, which counts the four requests.
    let name = "trustgate_http_request_duration_seconds";
    let labels = "listener=\"acme\",endpoint=\"newNonce\"";
    let buckets = after.buckets(&format!("{name}_bucket{{{labels},le=\""));
    assert!(buckets.len() > 5, "{buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    let (last_le, inf) = buckets.last().unwrap();
    assert_eq!(last_le, "+Inf");
    let count = after.get(&format!("{name}_count{{{labels}}}"));
    assert_eq!(*inf, count);
    assert_eq!(
        count - before.get(&format!("{name}_count{{{labels}}}")),
        4.0
    );
    assert!(after.get(&format!("{name}_sum{{{labels}}}")) > 0.0);

    // The pool as r2d2 sees it, and checkouts timed.
    let max = after.get("trustgate_db_pool_max_connections");
    assert_eq!(max, f64::from(s.cfg.database.pool_size));
    assert!(after.get("trustgate_db_pool_connections") <= max);
    assert!(after.get("trustgate_db_pool_wait_seconds_count") > 0.0);
}

/// A client registered with an EAB credential of `org`.
async fn client_of(s: &Server, org: OrganizationId) -> Client {
    let (kid, key) = s.eab_for(org, true).await;
    let mut c = Client::new(s).await;
    let url = c.dir("newAccount");
    let r = c
        .post(
            &url,
            Some(&json!({"externalAccountBinding": c.eab(&kid, &key, &url)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    c.kid = r.header("location");
    c
}

#[tokio::test]
async fn issuance_validations_and_gate_refusals_are_counted() {
    let (s, c) = registered().await;
    issue_fresh(&s, &c, &["www.example.jp"]).await;
    let m = scrape(&s).await;
    assert_eq!(
        m.get("trustgate_certificates_issued_total{profile=\"ov\"}"),
        1.0
    );
    assert_eq!(
        m.get("trustgate_validations_total{method=\"http-01\",outcome=\"valid\"}"),
        1.0
    );
    assert_eq!(m.get(&acme_requests("finalize", "POST", 200)), 1.0);

    // An organization still being vetted: validation passes, the gate refuses.
    let org = s.organization(Level::Ov, &["pending.jp"]).await;
    let c2 = client_of(&s, org).await;
    let order = create_order(&c2, &["www.pending.jp"]).await;
    c2.validate_order(&s, &order).await;
    let r = c2.finalize(&order, &["www.pending.jp"]).await;
    r.problem("userActionRequired");
    let m = scrape(&s).await;
    assert_eq!(
        m.get("trustgate_gate_refusals_total{reason=\"pending\"}"),
        1.0
    );
    assert_eq!(
        m.get("trustgate_validations_total{method=\"http-01\",outcome=\"valid\"}"),
        2.0
    );
    assert_eq!(
        m.get("trustgate_certificates_issued_total{profile=\"ov\"}"),
        1.0
    );
    assert_eq!(m.get(&acme_requests("finalize", "POST", 403)), 1.0);
}

#[tokio::test]
async fn every_response_carries_a_fresh_request_id() {
    let s = Server::start().await;
    let h = http();
    let mut ids = HashSet::new();
    let mut check = |r: &Resp| {
        let id = r.header("x-request-id").expect("X-Request-Id");
        assert_eq!(id.len(), 16, "{id}");
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(ids.insert(id.clone()), "{id} twice");
    };
    for _ in 0..10 {
        check(&send(&h, Method::HEAD, &s.url("/acme/new-nonce"), None, vec![]).await);
    }
    // Problem documents too, on both listeners.
    let r = send(
        &h,
        Method::POST,
        &s.url("/acme/new-order"),
        None,
        b"{}".to_vec(),
    )
    .await;
    r.problem("malformed");
    check(&r);
    check(&send(&h, Method::GET, &s.admin_url("/healthz"), None, vec![]).await);
    let r = send(
        &h,
        Method::GET,
        &s.admin_url("/admin/organizations"),
        None,
        vec![],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    check(&r);
    assert_eq!(ids.len(), 13);
}

/// What the problem of a request refused because the database is away
/// looks like: RFC 8555 has no "unavailable" type, so serverInternal with
/// 503 and Retry-After (RFC 9110 §10.2.3), and no internal detail.
#[track_caller]
fn assert_unavailable(r: &Resp) {
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let p = r.problem("serverInternal");
    assert_eq!(p["detail"], UNAVAILABLE, "{p}");
    let secs: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(secs > 0);
    assert!(r.header("x-request-id").is_some());
}

/// SQLite has no server to lose: what takes it away is another process
/// holding the write lock past busy_timeout (a stuck writer, a careless
/// backup). Writes then fail with 503 and nothing changes; reads — the
/// readiness probe among them — go on from the readers' connections (WAL
/// readers do not wait for the writer); writes recover when the lock goes.
#[tokio::test]
async fn sqlite_held_lock_gives_503_then_recovers() {
    let s = Server::start_with(|cfg| {
        cfg.database.url = "sqlite://trustgate.db".into();
        cfg.database.pool_size = 1;
    })
    .await;
    let mut c = Client::new(&s).await;
    c.register(&s).await;
    let before = s.counts();

    let mut blocker = diesel::SqliteConnection::establish(&s.cfg.database_url()).unwrap();
    blocker
        .batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE;")
        .unwrap();
    let started = Instant::now();
    let (r, ready) = tokio::join!(c.new_order(&["www.example.jp"]), async {
        // The order's nonce redemption now waits for the lock.
        tokio::time::sleep(Duration::from_millis(500)).await;
        readyz(&s).await
    });
    assert_unavailable(&r);
    // It waited for the lock (busy_timeout, 10 s) or, when a background
    // task had the writing connection first, for that connection (5 s).
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.json());
    let m = scrape(&s).await;
    assert_eq!(m.get(&acme_requests("newOrder", "POST", 503)), 1.0);

    blocker.batch_execute("ROLLBACK").unwrap();
    assert_eq!(s.counts(), before, "a refused request changed nothing");
    assert_eq!(readyz(&s).await.status, StatusCode::OK);
    let order = create_order(&c, &["www.example.jp"]).await;
    assert_eq!(order["status"], "pending");
}

/// A TCP proxy in front of PostgreSQL that the test can cut (closing
/// every open connection and refusing new ones, as a restarting server
/// does) and restore — the machine's PostgreSQL is never touched.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (up2, open2) = (up.clone(), open.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    // Down: the connection is closed at once.
                    continue;
                }
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                open2.lock().unwrap().push(pipe.abort_handle());
            }
        });
        Proxy {
            addr,
            up,
            open,
            accept,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for pipe in self.open.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// `postgres://user@host:port/db` → (`host:port`, the URL with `via`
/// instead).
fn split_authority(url: &str, via: SocketAddr) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let (user, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    (host, format!("{scheme}://{user}{via}/{path}"))
}

/// The honest database restart: PostgreSQL behind a proxy that drops
/// every connection. Clients get 503 + Retry-After, nothing changes,
/// everything acknowledged before survives, and the server recovers by
/// itself — the first request after the database is back succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_gives_503_then_recovers() {
    let Some(admin) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    else {
        eprintln!("TEST_DATABASE_URL not set: skipping the PostgreSQL restart test");
        return;
    };
    let (upstream, _) = split_authority(&admin, "127.0.0.1:1".parse().unwrap());
    let proxy = Proxy::start(upstream).await;
    let mut direct = String::new();
    let s = Server::start_with(|cfg| {
        direct = cfg.database.url.clone();
        cfg.database.url = split_authority(&cfg.database.url, proxy.addr).1;
        cfg.database.connect_timeout_secs = 2;
    })
    .await;
    // Row counts straight from PostgreSQL, not through the proxy.
    let counts = || -> Vec<i64> {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        [
            "accounts",
            "orders",
            "authorizations",
            "challenges",
            "used_nonces",
        ]
        .iter()
        .map(|t| {
            with_db(&direct, |c| {
                c.load::<N>(&format!("SELECT COUNT(*) AS n FROM {t}"))
            })[0]
                .n
        })
        .collect()
    };
    let mut c = Client::new(&s).await;
    c.register(&s).await;
    let acknowledged = create_order(&c, &["www.example.jp"]).await;
    let before = counts();

    proxy.cut();
    // The pooled connection is dead: found out on use, dropped, 503.
    assert_unavailable(&c.new_order(&["a.example.jp"]).await);
    // Then no connection can be made: 503 after the checkout timeout.
    assert_unavailable(&c.new_order(&["a.example.jp"]).await);
    assert_unavailable(&c.post(&order_url(&acknowledged, &c), None).await);
    let r = readyz(&s).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json()["checks"]["ca"], "ok");
    let m = scrape(&s).await;
    assert!(m.get("trustgate_db_connections_discarded_total") >= 1.0);
    assert!(m.get("trustgate_db_pool_timeouts_total") >= 1.0);
    assert_eq!(counts(), before, "refused requests changed nothing");

    proxy.restore();
    // No restart, no failed request once the database is back.
    let o = c.post(&order_url(&acknowledged, &c), None).await;
    assert_eq!(
        o.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&o.body)
    );
    assert_eq!(o.json()["identifiers"], acknowledged["identifiers"]);
    for name in ["b.example.jp", "c.example.jp", "d.example.jp"] {
        assert_eq!(create_order(&c, &[name]).await["status"], "pending");
    }
    assert_eq!(readyz(&s).await.status, StatusCode::OK);
}

/// `[log] format = "json"` in the real binary: every line on stderr is a
/// JSON object, and each request is one line at info whose span carries
/// the request id sent back as X-Request-Id — problems included.
#[tokio::test]
async fn json_logs_have_one_line_per_request_with_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("trustgate.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[server]\nlisten = \"127.0.0.1:0\"\ntls = \"none\"\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n[publish]\nlisten = \"127.0.0.1:0\"\n\
             [log]\nformat = \"json\"\n",
            dir.path().to_str().unwrap()
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trustgate"));
    cmd.arg("--config")
        .arg(&config)
        .arg("serve")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("TRUSTGATE_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<Value> = Vec::new();
    // Reads lines until one satisfies `want`; every line must be JSON.
    let mut wait_for = |want: &dyn Fn(&Value) -> bool| -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("log line in time");
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert!(
                v["timestamp"].is_string() && v["level"].is_string(),
                "{line}"
            );
            lines.push(v.clone());
            if want(&v) {
                return v;
            }
        }
    };
    let serving = wait_for(&|v| v["message"] == "trustgate is serving");
    let addr = serving["addr"].as_str().unwrap().to_owned();

    let h = http();
    let ok = send(
        &h,
        Method::GET,
        &format!("http://{addr}/directory"),
        None,
        vec![],
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let ok_id = ok.header("x-request-id").unwrap();
    let bad = send(
        &h,
        Method::GET,
        &format!("http://{addr}/acme/nope"),
        None,
        vec![],
    )
    .await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
    let bad_id = bad.header("x-request-id").unwrap();

    let line = wait_for(&|v| v["span"]["request_id"] == ok_id.as_str());
    assert_eq!(line["message"], "request");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["span"]["name"], "acme");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["endpoint"], "directory");
    assert_eq!(line["status"], 200);
    assert!(line["ms"].is_number());
    assert!(line.get("problem").is_none());
    let line = wait_for(&|v| v["span"]["request_id"] == bad_id.as_str());
    assert_eq!(line["endpoint"], "unknown");
    assert_eq!(line["status"], 404);
    assert_eq!(line["problem"], "malformed");
    let _ = child.kill();
    let _ = child.wait();
    // Exactly one line per request.
    let per_request = lines
        .iter()
        .filter(|v| v["span"]["request_id"] == ok_id.as_str())
        .count();
    assert_eq!(per_request, 1);
}
