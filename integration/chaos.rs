//! Faults under load, the CI version of `scripts/chaos` (issue #27):
//! `trustgate-load` runs orders and records what it is told while the
//! server is killed with SIGKILL and started again (or, on PostgreSQL,
//! the database is stopped and started under a running server). Then,
//! once the sweeps have run: every certificate told still downloads the
//! same leaf and is the database's certificate of that serial, no serial
//! is issued twice, nothing is left `processing`, and every order the
//! load generator saw fail is retried by its account to success
//! (`trustgate-load --check-record`).
//!
//! The faults strike when the record has grown by a random number of
//! outcomes since the last one (an event, not a timer), so they land at
//! varying points of the orders in flight. That client rides out a
//! fault (it sends a request again while the server is away); then an
//! impatient one, which does not, runs into one more fault and is told
//! to start no more orders once one has failed (a fault that waits for
//! the orders in flight to be cut could miss them all): the ones that
//! failed must be retried to success like any other.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl};
use serde_json::Value;

use crate::common::postgres::{PrivateCluster, Stop};
use crate::common::staff::Eab;
use crate::common::TestServer;

/// Abandoned work is looked for every second and an order cut
/// mid-finalize is stale after 2 × 3 s + 2 × 1 s, so the sweeps finish
/// within seconds of the load.
const SERVER_KEYS: &str = "sweep_secs = 1\nrequest_timeout_secs = 3\n";
/// A validation left `processing` is stale after 2 × this + 10 s.
const VA_TIMEOUT_SECS: u64 = 4;

/// Orders in the load run; the faults come within the first half.
const ORDERS: usize = 48;
/// The impatient run's orders at most: enough to outlast the fault's
/// start (a stop of PostgreSQL takes a moment), few enough that the
/// orders failing while the server is down (each at once, connection
/// refused) stay within the account's new-orders limit when retried.
const IMPATIENT_ORDERS: usize = 40;
/// Generous for a loaded 2-core machine; nothing here is timed.
const DEADLINE: Duration = Duration::from_secs(240);

#[test]
fn killed_under_load_the_server_loses_nothing_and_every_failure_can_be_retried() {
    let mut server = TestServer::start_on(SERVER_KEYS, VA_TIMEOUT_SECS, None, "");
    let eab = server.approved_eab(true);
    let dir = server.scratch_dir("chaos");
    let mut load = Load::start(&server, &eab, &dir, Patience::RidesOut);
    for kill in faults(2) {
        load.wait_for_outcomes(kill, &server);
        server.kill_and_restart();
    }
    load.wait();
    // One at a time: each run serves http-01 on the server's one port.
    let mut impatient = Load::start(&server, &eab, &dir, Patience::None);
    impatient.wait_for_outcomes(1, &server);
    server.kill();
    impatient.wait_for_failures(1, &server);
    impatient.start_no_more();
    server.restart();
    impatient.wait();
    finish(&server, &[load, impatient], &Db::of(&server));
}

/// PostgreSQL stopped (fast and immediate, i.e. as a crash) and started
/// again under load, trustgate running on; on a private cluster, as
/// stopping the suite's shared server would fail every other test.
#[test]
fn database_restarts_under_load_lose_nothing_and_every_failure_can_be_retried() {
    if std::env::var("TEST_DATABASE_URL").map_or(true, |u| !u.starts_with("postgres")) {
        eprintln!("TEST_DATABASE_URL not set: the database restart test runs with PostgreSQL");
        return;
    }
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let server = TestServer::start_on(SERVER_KEYS, VA_TIMEOUT_SECS, Some(&url), "");
    let eab = server.approved_eab(true);
    let dir = server.scratch_dir("chaos");
    let mut load = Load::start(&server, &eab, &dir, Patience::RidesOut);
    for (at, how) in faults(2).into_iter().zip([Stop::Fast, Stop::Immediate]) {
        load.wait_for_outcomes(at, &server);
        cluster.stop(how);
        cluster.start_again();
    }
    load.wait();
    let mut impatient = Load::start(&server, &eab, &dir, Patience::None);
    impatient.wait_for_outcomes(1, &server);
    cluster.stop(Stop::Fast);
    impatient.wait_for_failures(1, &server);
    impatient.start_no_more();
    cluster.start_again();
    impatient.wait();
    finish(&server, &[load, impatient], &Db::Postgres(url));
}

/// Record lengths (outcomes so far) at which `n` faults strike: a random
/// 3 to 8 outcomes apart, all within the first half of the run.
fn faults(n: usize) -> Vec<usize> {
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.subsec_nanos() as usize);
    let mut at = 2;
    (0..n)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            at += 3 + (seed >> 16) % 6;
            at
        })
        .inspect(|at| assert!(*at < ORDERS / 2))
        .collect()
}

fn load_command(server: &TestServer) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trustgate-load"));
    cmd.arg("--directory")
        .arg(server.directory_url())
        .arg("--ca-bundle")
        .arg(server.root_pem())
        .args(["--http01-port", &server.http01_port().to_string()])
        .args(["--domain", "example.jp"])
        .args(["--request-timeout-secs", "60", "--poll-timeout-secs", "120"])
        .stdin(Stdio::null());
    cmd
}

#[derive(Clone, Copy, PartialEq)]
enum Patience {
    /// Sends a request again while the server is away, and polls
    /// patiently.
    RidesOut,
    /// Fails an order on the first refused connection or 503; polls
    /// briefly apart, so no poll sleeps through a fault.
    None,
}

/// One trustgate-load run recording to its own file.
struct Load {
    child: Child,
    record: PathBuf,
    patience: Patience,
}

impl Load {
    fn start(server: &TestServer, eab: &Eab, dir: &Path, patience: Patience) -> Load {
        let (name, orders, ride_out, poll_cap) = match patience {
            Patience::RidesOut => ("patient", ORDERS, "120", "500"),
            // Until told to stop (start_no_more), or IMPATIENT_ORDERS.
            Patience::None => ("impatient", IMPATIENT_ORDERS, "0", "50"),
        };
        let record = dir.join(format!("{name}.jsonl"));
        let out = std::fs::File::create(record.with_extension("out")).unwrap();
        let child = load_command(server)
            .arg(format!("--eab-kid={}", eab.kid))
            .arg(format!("--eab-hmac={}", eab.hmac_key))
            .args(["-n", &orders.to_string(), "-c", "2", "-k", "2"])
            .args(["--retry-unavailable-secs", ride_out])
            .args(["--poll-min-ms", "20", "--poll-cap-ms", poll_cap])
            .arg("--record")
            .arg(&record)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting trustgate-load");
        Load {
            child,
            record,
            patience,
        }
    }

    /// Order outcomes in the record so far (account lines aside).
    fn outcomes(&self) -> usize {
        self.count_lines(|l| l.contains("\"names\""))
    }

    /// Orders recorded as failed so far.
    fn failures(&self) -> usize {
        self.count_lines(|l| l.contains("\"names\"") && !l.contains("\"error\":null"))
    }

    fn count_lines(&self, keep: impl Fn(&str) -> bool) -> usize {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter(|l| keep(l))
            .count()
    }

    fn wait_for_outcomes(&mut self, n: usize, server: &TestServer) {
        self.wait_until(|l| l.outcomes() >= n, &format!("{n} outcomes"), server);
    }

    fn wait_for_failures(&mut self, n: usize, server: &TestServer) {
        self.wait_until(|l| l.failures() >= n, &format!("{n} failures"), server);
    }

    fn wait_until(&mut self, done: impl Fn(&Load) -> bool, what: &str, server: &TestServer) {
        let deadline = Instant::now() + DEADLINE;
        while !done(self) {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "trustgate-load ended after {} outcomes, before {what}:\n{}\n{}",
                self.outcomes(),
                self.output(),
                server.log_tail(80)
            );
            assert!(
                Instant::now() < deadline,
                "{} outcomes after {DEADLINE:?}, waiting for {what}\n{}",
                self.outcomes(),
                server.log_tail(80)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGUSR1: no new order; those in flight go on.
    fn start_no_more(&self) {
        let status = Command::new("kill")
            .args(["-USR1", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the run's end; failed orders are allowed (retried
    /// later), a run that could not run is not.
    fn wait(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "trustgate-load still running");
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = self.child.wait().unwrap();
        // Exit 1: some order failed; 2: the run itself failed.
        assert!(
            status.code().is_some_and(|c| c <= 1),
            "trustgate-load: {status}\n{}",
            self.output()
        );
    }

    fn output(&self) -> String {
        crate::common::server::tail(&self.record.with_extension("out"), 60)
    }

    /// `trustgate-load --check-record` over this run's record: its JSON.
    fn check(&self, server: &TestServer) -> Value {
        let json = self.record.with_extension("check.json");
        let out = load_command(server)
            .arg("--check-record")
            .arg(&self.record)
            .arg("--json")
            .arg(&json)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{said}");
        assert!(out.status.success(), "{said}\n{}", server.log_tail(80));
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap()
    }
}

/// The load runs' end, the sweeps, and every check.
fn finish(server: &TestServer, loads: &[Load], db: &Db) {
    assert_eq!(loads[0].outcomes(), ORDERS, "an outcome for every order");

    // The sweeps return what the faults left `processing`.
    let deadline = Instant::now() + DEADLINE;
    let processing = "SELECT (SELECT count(*) FROM orders WHERE status = 'processing') \
                      + (SELECT count(*) FROM challenges WHERE status = 'processing') AS n";
    while db.count(processing) > 0 {
        assert!(
            Instant::now() < deadline,
            "still processing after the sweeps\n{}",
            server.log_tail(80)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Checked first: the retries issue certificates too.
    let checks: Vec<Value> = loads.iter().map(|l| l.check(server)).collect();
    let stored = db.certificates();
    let mut serials = std::collections::HashSet::new();
    for (load, check) in loads.iter().zip(checks) {
        assert_eq!(check["orders"], load.outcomes(), "{check}");
        assert_eq!(check["certificates_verified"], check["certificates_told"]);
        assert_eq!(check["lost"], serde_json::json!([]));
        assert_eq!(check["retried_ok"], check["failures"]);
        assert_eq!(check["retry_failed"], serde_json::json!([]));
        assert_eq!(check["duplicate_serials"], serde_json::json!([]));
        if load.patience == Patience::None {
            // Its orders in flight at the fault failed, and were retried.
            assert!(check["failures"].as_u64().unwrap() >= 1, "{check}");
        }
        // Each certificate downloaded is the database's of its serial,
        // and no serial was told twice across the runs.
        for c in check["certificates"].as_array().unwrap() {
            let serial = c["serial"].as_str().unwrap();
            assert_eq!(
                stored.get(serial).map(String::as_str),
                c["sha256"].as_str(),
                "serial {serial} as downloaded and as stored"
            );
            assert!(serials.insert(serial.to_owned()), "serial {serial} twice");
        }
    }
    assert!(serials.len() >= ORDERS);
    // No serial twice: reserved once, and certified only for its order.
    let twice = "SELECT count(*) AS n FROM certificates c JOIN serials s ON s.serial = c.serial \
                 WHERE s.order_id <> c.order_id";
    assert_eq!(db.count(twice), 0);
    let two_certs = "SELECT count(*) AS n FROM (SELECT order_id FROM certificates \
                     GROUP BY order_id HAVING count(*) > 1) t";
    assert_eq!(db.count(two_certs), 0);
    assert_eq!(db.count(processing), 0);
}

enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Stored {
    #[diesel(sql_type = diesel::sql_types::Text)]
    serial: String,
    #[diesel(sql_type = diesel::sql_types::Binary)]
    der: Vec<u8>,
}

impl Db {
    /// The server's database as its configuration names it.
    fn of(server: &TestServer) -> Db {
        let cfg = trustgate::config::Config::load(Some(server.config_path())).unwrap();
        let url = cfg.database_url();
        if url.starts_with("postgres") {
            Db::Postgres(url)
        } else {
            Db::Sqlite(PathBuf::from(url))
        }
    }

    fn count(&self, sql: &str) -> i64 {
        let rows: Vec<Count> = match self {
            Db::Sqlite(path) => {
                let mut c = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
                diesel::sql_query(sql).load(&mut c).unwrap()
            }
            Db::Postgres(url) => {
                let mut c = trustgate::sa::connect_postgres(url).unwrap();
                diesel::sql_query(sql).load(&mut c).unwrap()
            }
        };
        rows[0].n
    }

    /// serial → SHA-256 (hex) of the stored certificate's DER.
    fn certificates(&self) -> std::collections::HashMap<String, String> {
        let sql = "SELECT serial, der FROM certificates";
        let rows: Vec<Stored> = match self {
            Db::Sqlite(path) => {
                let mut c = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
                diesel::sql_query(sql).load(&mut c).unwrap()
            }
            Db::Postgres(url) => {
                let mut c = trustgate::sa::connect_postgres(url).unwrap();
                diesel::sql_query(sql).load(&mut c).unwrap()
            }
        };
        rows.into_iter()
            .map(|r| {
                let sha = ring::digest::digest(&ring::digest::SHA256, &r.der);
                let hex = sha.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                (r.serial, hex)
            })
            .collect()
    }
}
