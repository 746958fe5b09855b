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

pub struct TestServer {
    dir: TempDir,
    staff: Staff,
    log: PathBuf,
    port: u16,
    http01_port: u16,
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
        TestServer::start_configured(publish, extra, None)
    }

    /// As [`TestServer::start_with`], resolving through `dns` (with its
    /// DNSSEC settings) instead of the harness's responder; [`TestServer::dns`]
    /// is then unavailable.
    pub fn start_with_dns(dns: &VaDns, extra: &str) -> TestServer {
        TestServer::start_configured("", extra, Some(dns))
    }

    fn start_configured(publish: &str, extra: &str, dns: Option<&VaDns>) -> TestServer {
        // Ports are picked by binding port 0 and letting go, so a parallel
        // test can take one before this server binds it: try again then.
        for _ in 0..4 {
            match TestServer::try_start(publish, extra, dns) {
                Ok(server) => return server,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("trustgate serve exited during startup\n{log}"),
            }
        }
        panic!("trustgate serve kept finding its ports taken");
    }

    fn try_start(publish: &str, extra: &str, va_dns: Option<&VaDns>) -> Result<TestServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("trustgate-it-")
            .tempdir()
            .expect("creating the test directory");
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
        let data_dir = dir.path().join("data");
        let config = dir.path().join("trustgate.toml");
        // The admin listener gets its own port too, so that parallel tests
        // never meet on the default one.
        let admin = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let staff = Staff::new(admin);
        let database = ScratchDatabase::create();
        let database_toml = match &database {
            Some(db) => format!("[database]\nurl = \"{}\"\n", db.url),
            None => String::new(),
        };
        let text = format!(
            r#"data_dir = "{data}"

{database_toml}
[server]
listen = "127.0.0.1:{port}"

[va]
http01_port = {http01_port}
allow_loopback = true
timeout_secs = 10
{dns_toml}
[admin]
listen = "{admin}"
{staff}
[publish]
listen = "127.0.0.1:{publish_port}"
{publish}
{extra}"#,
            data = data_dir.display(),
            staff = staff.config_toml(),
            publish_port = free_port(),
        );
        std::fs::write(&config, &text).expect("writing the config");

        let log = dir.path().join("server.log");
        let stderr = File::create(&log).expect("creating the server log");
        let child = binary(&config)
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
            .expect("starting trustgate serve");
        let mut server = TestServer {
            dir,
            staff,
            log,
            port,
            http01_port,
            dns,
            child,
            _database: database,
        };
        server.wait_until_ready()?;
        Ok(server)
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
    /// approved for `example.test` and every name under it: what a
    /// subscriber holds before running certbot.
    pub fn approved_eab(&self, reusable: bool) -> Eab {
        let org = self.staff.create_organization(Level::Ov, &["example.test"]);
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
