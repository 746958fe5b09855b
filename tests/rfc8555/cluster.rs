//! Several instances over one database, as behind a load balancer: what
//! one instance hands out or starts, any other honours or finishes. Every
//! instance has the same base URL, so a JWS signed for one is accepted by
//! all; requests are sent to a chosen instance's own port.
//!
//! On SQLite the instances share the database file (WAL works across
//! processes and connections); with TEST_DATABASE_URL they share a
//! PostgreSQL database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use trustgate::config::Config;

use crate::support::*;

/// A server whose peers all claim the same origin and CRL location.
async fn first_instance(tweak: impl FnOnce(&mut Config)) -> (Server, Client) {
    registered_with(|cfg| {
        cfg.publish.base_url = Some("http://crl.cluster.jp".into());
        // Abandoned work is looked for every second, so a test sees a
        // dead instance's validation taken over within seconds.
        cfg.server.sweep_secs = 1;
        tweak(cfg);
    })
    .await
}

/// The configuration of one more instance of `s`: same data directory
/// (CA), database and base URL; listeners of its own.
fn peer_config(s: &Server) -> Config {
    let mut cfg = s.cfg.clone();
    let any = "127.0.0.1:0".parse().unwrap();
    cfg.server.listen = any;
    cfg.server.base_url = Some(s.base.clone());
    cfg.admin.listen = Some(any);
    cfg.publish.listen = Some(any);
    cfg
}

/// `url` (under the shared base URL) at the instance listening on `port`.
fn at(s: &Server, port: u16, url: &str) -> String {
    let path = url.strip_prefix(&s.base).expect("a URL of this server");
    format!("http://127.0.0.1:{port}{path}")
}

/// A nonce from the instance on `port`.
async fn nonce_at(s: &Server, c: &Client, port: u16) -> String {
    send(
        &c.http,
        Method::HEAD,
        &at(s, port, &c.dir("newNonce")),
        None,
        vec![],
    )
    .await
    .header("replay-nonce")
    .expect("nonce")
}

/// A signed POST to `url`, delivered to the instance on `port`, with
/// `nonce` or a fresh one from that instance.
async fn post_at(
    s: &Server,
    c: &Client,
    port: u16,
    url: &str,
    payload: Option<&Value>,
    nonce: Option<String>,
) -> Resp {
    let mut p = c.protected(url).await;
    p.nonce = Some(match nonce {
        Some(n) => n,
        None => nonce_at(s, c, port).await,
    });
    c.post_jws(&at(s, port, url), &c.sign(&p, payload)).await
}

/// On PostgreSQL the instances share their nonces: one issued by A is
/// good once at any instance. On SQLite, one process per file
/// (`wfe::nonce`, local ledger), a process redeems only its own nonces:
/// B refuses A's, which stays good once at A. Either way, never twice.
#[tokio::test]
async fn a_nonce_is_redeemed_once_at_the_instances_that_share_it() {
    let (a, c) = first_instance(|_| {}).await;
    let b = trustgate::app::start(peer_config(&a)).await.unwrap();
    let (pa, pb) = (a.cfg.server.listen.port(), b.addr.port());
    let account = c.kid.clone().unwrap();
    let shared = a.cfg.database_url().starts_with("postgres");

    let n = nonce_at(&a, &c, pa).await;
    let at_b = post_at(&a, &c, pb, &account, None, Some(n.clone())).await;
    if shared {
        assert_eq!(at_b.status, StatusCode::OK, "A's nonce is good at B");
    } else {
        let p = at_b.problem("badNonce");
        assert_eq!(p["detail"], "nonce was not issued by this server");
        let at_a = post_at(&a, &c, pa, &account, None, Some(n.clone())).await;
        assert_eq!(at_a.status, StatusCode::OK, "A's nonce is good at A");
    }
    for port in [pa, pb] {
        let again = post_at(&a, &c, port, &account, None, Some(n.clone())).await;
        again.problem("badNonce");
    }
    b.stop().await.unwrap();
}

#[tokio::test]
async fn concurrent_finalize_on_two_instances_issues_one_certificate() {
    let (a, c) = first_instance(|_| {}).await;
    let b = trustgate::app::start(peer_config(&a)).await.unwrap();
    let ports = [a.cfg.server.listen.port(), b.addr.port()];
    let order = create_order(&c, &["www.example.jp"]).await;
    c.validate_order(&a, &order).await;

    let c = Arc::new(c);
    let a = Arc::new(a);
    let finalize = order["finalize"].as_str().unwrap().to_owned();
    // Nonces first, so the finalizes themselves go out together.
    let mut signed = Vec::new();
    for i in 0..20 {
        let port = ports[i % 2];
        let mut p = c.protected(&finalize).await;
        p.nonce = Some(nonce_at(&a, &c, port).await);
        let body = json!({"csr": b64(&csr(&["www.example.jp"]))});
        signed.push((port, c.sign(&p, Some(&body))));
    }
    let tasks: Vec<_> = signed
        .into_iter()
        .map(|(port, jws)| {
            let (a, c, url) = (a.clone(), c.clone(), at(&a, port, &finalize));
            tokio::spawn(async move {
                let _keep = a;
                c.post_jws(&url, &jws).await
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == StatusCode::OK {
            won += 1;
        } else {
            // The losers see an order that is no longer ready.
            r.problem("orderNotReady");
        }
    }
    assert_eq!(won, 1, "exactly one finalize wins");
    assert_eq!(a.count("certificates"), 1);
    let done = c.wait_status(&order_url(&order, &c), &["valid"]).await;
    assert!(done["certificate"].is_string());
    b.stop().await.unwrap();
}

/// An account deactivated at one instance authorizes nothing at another
/// that had it cached (RFC 8555 §7.3.6). PostgreSQL only: SQLite is one
/// instance (docs/deployment.md), and its account cache is the process's.
#[tokio::test]
async fn an_account_deactivated_at_one_instance_is_refused_at_another() {
    let (a, c) = first_instance(|_| {}).await;
    if !a.cfg.database_url().starts_with("postgres") {
        eprintln!("SQLite: one instance per database; runs on PostgreSQL only");
        return;
    }
    let b = trustgate::app::start(peer_config(&a)).await.unwrap();
    let (pa, pb) = (a.cfg.server.listen.port(), b.addr.port());
    let account = c.kid.clone().unwrap();
    // B reads the account (and, once its change listener is up, keeps it).
    for _ in 0..5 {
        let r = post_at(&a, &c, pb, &account, None, None).await;
        assert_eq!(r.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let r = post_at(
        &a,
        &c,
        pa,
        &account,
        Some(&json!({"status": "deactivated"})),
        None,
    )
    .await;
    assert_eq!(r.json()["status"], "deactivated");
    // B hears of it within its listener's poll (10 ms); the bound leaves room
    // for a loaded machine (without the notice B would never hear of it).
    let started = Instant::now();
    loop {
        let r = post_at(&a, &c, pb, &account, None, None).await;
        if r.status != StatusCode::OK {
            r.problem("unauthorized");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "B still accepts the deactivated account's key"
        );
    }
    let r = post_at(
        &a,
        &c,
        pb,
        &c.dir("newOrder"),
        Some(&json!({"identifiers": [{"type": "dns", "value": "a.example.jp"}]})),
        None,
    )
    .await;
    r.problem("unauthorized");
    b.stop().await.unwrap();
}

/// Accepts connections and never answers: a validation against it hangs
/// until the VA's own timeout.
async fn tarpit() -> (u16, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = l.accept().await {
            held.push(sock);
            let _ = tx.send(());
        }
    });
    (port, rx)
}

/// An instance on a runtime of its own, so that dropping the runtime
/// stops it the way a killed process stops: its tasks vanish mid-way and
/// nothing is cleaned up.
struct Doomed {
    port: u16,
    kill: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Doomed {
    fn start(cfg: Config) -> Doomed {
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (kill, killed) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            let running = rt.block_on(trustgate::app::start(cfg)).unwrap();
            port_tx.send(running.addr.port()).unwrap();
            let _ = killed.recv();
            // No graceful stop: no lease released, no task finished, and
            // nothing written after this instant (its writer is a thread
            // of this process, which would outlive the runtime).
            running.halt_writes();
            std::mem::forget(running);
            rt.shutdown_background();
        });
        let port = port_rx.recv().expect("the doomed instance starts");
        Doomed { port, kill, thread }
    }

    fn kill(self) {
        self.kill.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

#[tokio::test]
async fn a_validation_left_by_a_dead_instance_is_finished_by_another() {
    // A short VA timeout makes an abandoned validation stale sooner
    // (twice the timeout plus a margin).
    let (b, c) = first_instance(|cfg| cfg.va.timeout_secs = 1).await;
    let (trap, mut trapped) = tarpit().await;
    let mut cfg = peer_config(&b);
    cfg.va.http01_port = trap;
    // A itself must not give up on the tarpit before it is killed, or
    // its validation ends `invalid` on its own. B's short timeout is what
    // makes the leftover stale.
    cfg.va.timeout_secs = 60;
    let a = Doomed::start(cfg);

    let order = create_order(&c, &["dead.example.jp"]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = c.post(&authz_url, None).await.json();
    let ch = challenge_of(&authz, "http-01").clone();
    c.provision_http01(&b, &ch);
    let r = post_at(
        &b,
        &c,
        a.port,
        ch["url"].as_str().unwrap(),
        Some(&json!({})),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "A accepted the challenge");
    tokio::time::timeout(Duration::from_secs(10), trapped.recv())
        .await
        .expect("A started validating")
        .unwrap();
    a.kill();
    let left = c.post(ch["url"].as_str().unwrap(), None).await.json();
    assert_eq!(
        left["status"], "processing",
        "A died mid-validation: {left}"
    );

    // B's sweep takes the lease over and validates against the real
    // responder; B then issues.
    let started = Instant::now();
    let mut last = Value::Null;
    while started.elapsed() < Duration::from_secs(40) {
        last = c.post(&authz_url, None).await.json();
        if last["status"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(last["status"], "valid", "{last}");
    let r = c.finalize(&order, &["dead.example.jp"]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(b.count("certificates"), 1);
    // The survivor holds the sweep lease now.
    let holders = b.sql_text("SELECT holder AS t FROM leases WHERE name = 'stale-sweep'");
    assert_eq!(holders.len(), 1);
}

#[tokio::test]
async fn background_work_runs_on_one_instance_and_moves_when_its_holder_dies() {
    let (a, _c) = first_instance(|cfg| cfg.publish.regenerate_secs = 1).await;
    let me = &*a._running.instance;
    let all_mine = ["crl", "nonce-prune", "stale-sweep"].map(|n| format!("{n}={me}"));
    let leases = || a.sql_text("SELECT name || '=' || holder AS t FROM leases ORDER BY name");
    // The first instance takes every lease at its start.
    let started = Instant::now();
    while leases() != all_mine {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            leases()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = trustgate::app::start(peer_config(&a)).await.unwrap();
    let holder = |name: &str| {
        a.sql_text(&format!(
            "SELECT holder AS t FROM leases WHERE name = '{name}'"
        ))
    };
    // B has had a few rounds at every lease and, though it tried, took
    // none while A renewed them.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(leases(), all_mine, "B is {}", b.instance);

    // The holder of the sweep vanishes (its row names a dead process,
    // expiring in 2 s): nobody steals the lease before it expires, and a
    // live instance takes it over after.
    // As diesel writes timestamps to SQLite; PostgreSQL reads it too.
    let expiry = (trustgate::core::Clock::system().now() + Duration::from_secs(2))
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]"
        ))
        .unwrap();
    with_db(&a.cfg.database_url(), |db| {
        db.execute(&format!(
            "UPDATE leases SET holder = 'gone:1:dead', expires_at = '{expiry}' \
             WHERE name = 'stale-sweep'"
        ))
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(holder("stale-sweep"), ["gone:1:dead"]);
    let started = Instant::now();
    let taken = loop {
        let h = holder("stale-sweep");
        if h.len() == 1 && h[0] != "gone:1:dead" {
            break h[0].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not taken over: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(taken == me || taken == *b.instance, "{taken}");

    // A graceful stop gives leases up at once rather than at expiry.
    let held_by_b = a.sql_text(&format!(
        "SELECT name AS t FROM leases WHERE holder = '{}'",
        b.instance
    ));
    let before = a.count("leases");
    b.stop().await.unwrap();
    assert_eq!(a.count("leases"), before - held_by_b.len() as i64);
}

/// Answers to one challenge sent together to two instances validate it
/// once: the database claim (`pending` → `processing`) admits one.
#[tokio::test]
async fn answers_at_two_instances_validate_a_challenge_once() {
    let key_authorization = Arc::new(std::sync::Mutex::new(String::new()));
    let served = key_authorization.clone();
    let responder = crate::responders::HttpResponder::start(move |_, _| {
        let body = served.lock().unwrap().clone();
        crate::responders::response("200 OK", &[], body.as_bytes())
    })
    .await;
    let (a, c) = first_instance(|cfg| cfg.va.http01_port = responder.port).await;
    let b = trustgate::app::start(peer_config(&a)).await.unwrap();
    let ports = [a.cfg.server.listen.port(), b.addr.port()];
    let order = create_order(&c, &["claimed.example.jp"]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = c.post(&authz_url, None).await.json();
    let ch = challenge_of(&authz, "http-01").clone();
    let token = ch["token"].as_str().unwrap();
    *key_authorization.lock().unwrap() = format!("{token}.{}", c.thumbprint());

    // Nonces first, so the answers themselves go out together.
    let url = ch["url"].as_str().unwrap().to_owned();
    let mut signed = Vec::new();
    for i in 0..10 {
        let port = ports[i % 2];
        let mut p = c.protected(&url).await;
        p.nonce = Some(nonce_at(&a, &c, port).await);
        signed.push((port, c.sign(&p, Some(&json!({})))));
    }
    let c = Arc::new(c);
    let answers: Vec<_> = signed
        .into_iter()
        .map(|(port, jws)| {
            let (c, url) = (c.clone(), at(&a, port, &url));
            tokio::spawn(async move { c.post_jws(&url, &jws).await })
        })
        .collect();
    for answer in answers {
        let r = answer.await.unwrap();
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let authz = c.wait_status(&authz_url, &["valid"]).await;
    assert_eq!(
        challenge_of(&authz, "http-01")["status"],
        "valid",
        "{authz}"
    );
    assert_eq!(
        responder.requests().len(),
        1,
        "one validation for ten answers"
    );
    b.stop().await.unwrap();
}

/// A per-account limit is one bucket for the whole cluster on PostgreSQL
/// (a shared row): with 2 new orders an hour, one at A and one at B leave
/// none. On SQLite, one process per file, each process counts its own.
#[tokio::test]
async fn a_new_orders_limit_is_shared_by_the_instances_on_postgresql() {
    let (a, c) = first_instance(|cfg| {
        cfg.limits.new_orders_per_account = trustgate::config::Rate::new(2, 3600);
    })
    .await;
    let b = trustgate::app::start(peer_config(&a)).await.unwrap();
    let (pa, pb) = (a.cfg.server.listen.port(), b.addr.port());
    let shared = a.cfg.database_url().starts_with("postgres");
    let url = c.dir("newOrder");
    let order = |port: u16, name: &'static str| {
        let body = json!({"identifiers": [{"type": "dns", "value": name}]});
        let (a, c, url) = (&a, &c, url.clone());
        async move { post_at(a, c, port, &url, Some(&body), None).await }
    };
    assert_eq!(order(pa, "a.example.jp").await.status, StatusCode::CREATED);
    assert_eq!(order(pb, "b.example.jp").await.status, StatusCode::CREATED);
    let third = order(pa, "c.example.jp").await;
    if shared {
        assert_eq!(
            third.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            third.text()
        );
        third.problem("rateLimited");
    } else {
        assert_eq!(third.status, StatusCode::CREATED, "A's own second order");
        let fourth = order(pa, "d.example.jp").await;
        fourth.problem("rateLimited");
    }
    b.stop().await.unwrap();
}
