//! One `trustgate serve` process per test, with its own data directory,
//! ports and DNS (the harness's responder, or a BIND the test started);
//! killed when the value is dropped.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::database::ScratchDatabase;
use super::dns::DnsResponder;
use super::http;
use super::staff::{Eab, Level, Staff};

/// A first start generates the CA hierarchy and runs the migrations.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables of the binary that would make a test depend on
/// the shell it was started from.
const SERVER_ENV: &[&str] = &[
    "TRUSTGATE_CONFIG",
    "TRUSTGATE_DATA_DIR",
    "TRUSTGATE_DATABASE_URL",
    "TRUSTGATE_BASE_URL",
    "TRUSTGATE_LISTEN",
];

/// What a test does before its server starts.
#[derive(Default)]
pub struct Setup<'a> {
    /// Runs in the test directory before the config is written.
    pub prepare: Option<&'a dyn Fn(&Path)>,
    /// Environment variables of the server process.
    pub env: &'a [(&'a str, &'a str)],
}

pub struct TestServer {
    dir: TempDir,
    staff: Staff,
    log: PathBuf,
    config: PathBuf,
    env: Vec<(String, String)>,
    port: u16,
    http01_port: u16,
    /// The publish listener (CRLs, issuer certificate), plain HTTP.
    publish_port: u16,
    /// `None` when the VA resolves through a server the test owns.
    dns: Option<DnsResponder>,
    child: Child,
    /// Declared after `child`: the server is stopped before its database
    /// is dropped.
    _database: Option<ScratchDatabase>,
}

/// The `[va]` DNS settings of a server that resolves through a name server
/// the test runs itself (see `common::bind`) instead of the harness's
/// responder.
#[derive(Debug, Clone)]
pub struct VaDns {
    /// `va.resolvers`: the one server asked.
    pub resolver: SocketAddr,
    /// `va.dnssec`.
    pub dnssec: bool,
    /// `va.trust_anchors`: files of DNSKEY records.
    pub trust_anchors: Vec<PathBuf>,
}

impl TestServer {
    /// Starts a server and waits until its directory answers over TLS.
    pub fn start() -> TestServer {
        TestServer::start_with("")
    }

    /// As [`TestServer::start`], with `extra` TOML appended to the config
    /// (whole tables the base config does not have, e.g. `[vetting]`).
    pub fn start_with(extra: &str) -> TestServer {
        TestServer::start_with_publish("", extra)
    }

    /// As [`TestServer::start_with`], with `publish` (keys, one a line)
    /// added to the `[publish]` table, e.g. `regenerate_secs = 1`.
    pub fn start_with_publish(publish: &str, extra: &str) -> TestServer {
        TestServer::start_configured(publish, extra, None, &Setup::default())
    }

    /// As [`TestServer::start_with`], with `server` (keys, one a line)
    /// added to the `[server]` table, `va.timeout_secs` set (10 s
    /// otherwise) and, when `database_url` is given, that database instead
    /// of the suite's (`common::database`).
    pub fn start_on(
        server: &str,
        va_timeout_secs: u64,
        database_url: Option<&str>,
        extra: &str,
    ) -> TestServer {
        let base = Base {
            server,
            va_timeout_secs: Some(va_timeout_secs),
            database_url,
        };
        TestServer::start_base("", extra, None, &Setup::default(), &base)
    }

    /// As [`TestServer::start_with_publish`], after `setup.prepare` ran in
    /// the test directory (the parent of `data/`, where the CA lives) and
    /// with `setup.env` set for the server.
    pub fn start_prepared(publish: &str, extra: &str, setup: &Setup<'_>) -> TestServer {
        TestServer::start_configured(publish, extra, None, setup)
    }

    /// As [`TestServer::start_with`], resolving through `dns` (with its
    /// DNSSEC settings) instead of the harness's responder; [`TestServer::dns`]
    /// is then unavailable.
    pub fn start_with_dns(dns: &VaDns, extra: &str) -> TestServer {
        TestServer::start_configured("", extra, Some(dns), &Setup::default())
    }

    fn start_configured(
        publish: &str,
        extra: &str,
        dns: Option<&VaDns>,
        setup: &Setup<'_>,
    ) -> TestServer {
        TestServer::start_base(publish, extra, dns, setup, &Base::default())
    }

    fn start_base(
        publish: &str,
        extra: &str,
        dns: Option<&VaDns>,
        setup: &Setup<'_>,
        base: &Base<'_>,
    ) -> TestServer {
        // Ports are picked by binding port 0 and letting go, so a parallel
        // test can take one before this server binds it: try again then.
        for _ in 0..4 {
            match TestServer::try_start(publish, extra, dns, setup, base) {
                Ok(server) => return server,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("trustgate serve exited during startup\n{log}"),
            }
        }
        panic!("trustgate serve kept finding its ports taken");
    }

    fn try_start(
        publish: &str,
        extra: &str,
        va_dns: Option<&VaDns>,
        setup: &Setup<'_>,
        base: &Base<'_>,
    ) -> Result<TestServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("trustgate-it-")
            .tempdir()
            .expect("creating the test directory");
        if let Some(prepare) = setup.prepare {
            prepare(dir.path());
        }
        let (dns, dns_toml) = match va_dns {
            Some(v) => (None, va_dns_toml(v)),
            None => {
                let responder = DnsResponder::start();
                let toml = format!(
                    "resolvers = [\"{}\"]\n\
                     # The test DNS responder signs nothing (DNSSEC is covered in va::dns).\n\
                     dnssec = false\n",
                    responder.addr()
                );
                (Some(responder), toml)
            }
        };
        let port = free_port();
        let http01_port = free_port();
        let publish_port = free_port();
        let data_dir = dir.path().join("data");
        let config = dir.path().join("trustgate.toml");
        // The admin listener gets its own port too, so that parallel tests
        // never meet on the default one.
        let admin = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let database = match base.database_url {
            Some(_) => None,
            None => ScratchDatabase::create(),
        };
        let database_toml = match (base.database_url, &database) {
            (Some(url), _) => format!("[database]\nurl = \"{url}\"\n"),
            (None, Some(db)) => format!("[database]\nurl = \"{}\"\n", db.url),
            (None, None) => String::new(),
        };
        let text = format!(
            r#"data_dir = "{data}"

{database_toml}
[server]
listen = "127.0.0.1:{port}"
{server_keys}

[va]
http01_port = {http01_port}
allow_loopback = true
timeout_secs = {va_timeout}
{dns_toml}
[admin]
listen = "{admin}"

[publish]
listen = "127.0.0.1:{publish_port}"
{publish}
{extra}"#,
            data = data_dir.display(),
            server_keys = base.server,
            va_timeout = base.va_timeout_secs.unwrap_or(10),
        );
        std::fs::write(&config, &text).expect("writing the config");
        let staff = Staff::enrol(admin, || {
            let mut cmd = binary(&config);
            cmd.envs(setup.env.iter().copied());
            cmd
        });

        let log = dir.path().join("server.log");
        let env: Vec<(String, String)> = setup
            .env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let child = serve(&config, &env, &log);
        let mut server = TestServer {
            dir,
            staff,
            log,
            config,
            env,
            port,
            http01_port,
            publish_port,
            dns,
            child,
            _database: database,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// Kills the server with SIGKILL, as a crash would, and starts it
    /// again on the same configuration and database; returns once its
    /// directory answers.
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.restart();
    }

    /// SIGKILL; the server stays down until `restart`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again after `kill`, on the same port and files.
    pub fn restart(&mut self) {
        self.child = serve(&self.config, &self.env, &self.log);
        if let Err(log) = self.wait_until_ready() {
            panic!("trustgate serve did not come back after a kill\n{log}");
        }
    }

    /// The server's configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Err(the server's log) if it exited during startup.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut last_error = String::from("root.pem not written yet");
        loop {
            if let Some(status) = self.child.try_wait().expect("polling trustgate serve") {
                return Err(format!("({status})\n{}", self.log_tail(200)));
            }
            if self.root_pem().exists() {
                match http::request(&self.root_pem(), self.port, "GET", "/directory", None) {
                    Ok(r) if r.status == 200 => return Ok(()),
                    Ok(r) => last_error = format!("GET /directory answered {}", r.status),
                    Err(e) => last_error = format!("GET /directory: {e}"),
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "trustgate serve not ready after {STARTUP_TIMEOUT:?} ({last_error})\n{}",
                    self.log_tail(200)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// CA staff, working through this server's admin API.
    pub fn staff(&self) -> &Staff {
        &self.staff
    }

    /// A credential of a new OV organization that staff have vetted and
    /// approved for `example.jp` and every name under it: what a
    /// subscriber holds before running certbot.
    pub fn approved_eab(&self, reusable: bool) -> Eab {
        let org = self.staff.create_organization(Level::Ov, &["example.jp"]);
        self.staff.vet_and_approve(org);
        self.staff.create_eab(org, reusable)
    }

    pub fn directory_url(&self) -> String {
        format!("https://localhost:{}/directory", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port the VA connects to for http-01.
    pub fn publish_port(&self) -> u16 {
        self.publish_port
    }

    pub fn http01_port(&self) -> u16 {
        self.http01_port
    }

    pub fn root_pem(&self) -> PathBuf {
        self.dir.path().join("data/ca/root.pem")
    }

    /// The harness's DNS responder; a server started with
    /// [`TestServer::start_with_dns`] has none.
    pub fn dns(&self) -> &DnsResponder {
        self.dns
            .as_ref()
            .expect("this server resolves through the test's own DNS, not the harness's responder")
    }

    /// A fresh directory for one client's state, inside the test directory.
    pub fn scratch_dir(&self, name: &str) -> PathBuf {
        let d = self.dir.path().join(name);
        std::fs::create_dir_all(&d).expect("creating a scratch directory");
        d
    }

    /// The last `lines` lines of the server's stderr, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        format!(
            "---- trustgate serve stderr ({}) ----\n{}",
            self.log.display(),
            tail(&self.log, lines)
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        stop_and_keep_if_failed(&mut self.child, &mut self.dir, "test");
    }
}

/// What a test sets before the server starts that other tests leave at
/// the harness's defaults.
#[derive(Default)]
struct Base<'a> {
    /// Keys of the `[server]` table, one a line.
    server: &'a str,
    /// `va.timeout_secs`.
    va_timeout_secs: Option<u64>,
    /// A database the test owns instead of the suite's.
    database_url: Option<&'a str>,
}

/// `trustgate serve` on `config`, its stderr appended to `log`.
fn serve(config: &Path, env: &[(String, String)], log: &Path) -> Child {
    let stderr = File::options()
        .create(true)
        .append(true)
        .open(log)
        .expect("opening the server log");
    binary(config)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .arg("serve")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info,trustgate=debug".into()),
        )
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("starting trustgate serve")
}

/// Stops a process the harness started and, when the test is failing and
/// `TRUSTGATE_KEEP_TEST_DIRS` is set, keeps its directory (`what` names
/// it in the message).
pub fn stop_and_keep_if_failed(child: &mut Child, dir: &mut TempDir, what: &str) {
    let _ = child.kill();
    let _ = child.wait();
    if std::thread::panicking() && std::env::var_os("TRUSTGATE_KEEP_TEST_DIRS").is_some() {
        let kept = std::mem::replace(
            dir,
            TempDir::new().expect("creating a placeholder directory"),
        );
        eprintln!("kept {what} directory {}", kept.keep().display());
    }
}

/// The `[va]` keys for resolving through `dns`.
fn va_dns_toml(dns: &VaDns) -> String {
    let anchors: Vec<String> = dns
        .trust_anchors
        .iter()
        .map(|p| format!("{:?}", p.to_str().expect("test paths are UTF-8")))
        .collect();
    format!(
        "resolvers = [\"{}\"]\ndnssec = {}\ntrust_anchors = [{}]\n",
        dns.resolver,
        dns.dnssec,
        anchors.join(", ")
    )
}

fn binary(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trustgate"));
    for var in SERVER_ENV {
        cmd.env_remove(var);
    }
    cmd.arg("--config").arg(config);
    cmd
}

/// A port nothing listens on right now. Another process could take it
/// before we do; the OS hands out ephemeral ports in rotation, so in
/// practice it does not.
/// A port nothing listens on, chosen below the kernel's ephemeral range
/// (32768 and up by default) so that no outgoing connection of the tests
/// (certbot, validation) can be holding it when the server binds it. Each
/// port is handed out once per test run.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Spread concurrent test runs apart by process id.
    let start = 20_000 + (std::process::id() % 100) as u16 * 100;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(port < 32_000, "ran out of test ports");
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
}

/// The last `lines` lines of a text file (or why it could not be read).
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
