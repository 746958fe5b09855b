//! One `trustgate serve` process per test, with its own data directory,
//! ports and DNS responder; killed when the value is dropped.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::dns::DnsResponder;
use super::https;
use super::staff::{Organization, Staff};

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

/// An External Account Binding credential from `trustgate eab create`.
#[derive(Debug, Clone)]
pub struct Eab {
    pub kid: String,
    pub hmac_key: String,
}

pub struct TestServer {
    dir: TempDir,
    config: PathBuf,
    parsed_config: trustgate::config::Config,
    log: PathBuf,
    port: u16,
    http01_port: u16,
    dns: DnsResponder,
    child: Child,
}

impl TestServer {
    /// Starts a server and waits until its directory answers over TLS.
    pub fn start() -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("trustgate-it-")
            .tempdir()
            .expect("creating the test directory");
        let dns = DnsResponder::start();
        let port = free_port();
        let http01_port = free_port();
        let data_dir = dir.path().join("data");
        let config = dir.path().join("trustgate.toml");
        // The admin listener gets its own port too, so that parallel tests
        // never meet on the default one.
        let text = format!(
            r#"data_dir = "{data}"

[server]
listen = "127.0.0.1:{port}"

[va]
http01_port = {http01_port}
allow_private_addresses = true
resolvers = ["{dns}"]
timeout_secs = 10
# The test DNS responder signs nothing (DNSSEC is covered in va::dns).
dnssec = false

[admin]
listen = "127.0.0.1:{admin_port}"

[publish]
listen = "127.0.0.1:{publish_port}"
"#,
            data = data_dir.display(),
            dns = dns.addr(),
            admin_port = free_port(),
            publish_port = free_port(),
        );
        std::fs::write(&config, &text).expect("writing the config");
        let parsed_config = trustgate::config::Config::parse(&text)
            .unwrap_or_else(|e| panic!("the test config does not parse: {}", e.detail));

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
            config,
            parsed_config,
            log,
            port,
            http01_port,
            dns,
            child,
        };
        server.wait_until_ready();
        server
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut last_error = String::from("root.pem not written yet");
        loop {
            if let Some(status) = self.child.try_wait().expect("polling trustgate serve") {
                panic!(
                    "trustgate serve exited during startup ({status})\n{}",
                    self.log_tail(200)
                );
            }
            if self.root_pem().exists() {
                match https::request(&self.root_pem(), self.port, "GET", "/directory", None) {
                    Ok(r) if r.status == 200 => return,
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

    /// CA staff, working on this server's database.
    pub fn staff(&self) -> Staff {
        Staff::new(&self.parsed_config)
    }

    /// A credential of a new organization that staff have vetted and
    /// approved for `example.test` and every name under it: what a
    /// subscriber holds before running certbot.
    pub fn approved_eab(&self, reusable: bool) -> Eab {
        let staff = self.staff();
        let org = staff.create_organization(&["example.test"]);
        staff.approve(org);
        self.create_eab(org, reusable)
    }

    /// `trustgate eab create --org`; a reusable credential binds any
    /// number of accounts, a single-use one exactly one.
    pub fn create_eab(&self, org: Organization, reusable: bool) -> Eab {
        let mut cmd = binary(&self.config);
        cmd.args(["eab", "create", "--org", &org.id.to_string()]);
        cmd.args(["--note", "integration test"]);
        if reusable {
            cmd.arg("--reusable");
        }
        let out = cmd
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("running trustgate eab create");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "trustgate eab create failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        // The contract: exactly two lines, `key_id:   <kid>` and
        // `hmac_key: <base64url>`.
        let lines: Vec<&str> = stdout.lines().collect();
        let field = |i: usize, label: &str| -> String {
            lines
                .get(i)
                .and_then(|l| l.strip_prefix(label))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| panic!("unexpected `eab create` output:\n{stdout}"))
        };
        assert_eq!(lines.len(), 2, "unexpected `eab create` output:\n{stdout}");
        let eab = Eab {
            kid: field(0, "key_id:"),
            hmac_key: field(1, "hmac_key:"),
        };
        assert!(
            eab.hmac_key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "hmac_key is not base64url: {}",
            eab.hmac_key
        );
        eab
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

    pub fn dns(&self) -> &DnsResponder {
        &self.dns
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
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() && std::env::var_os("TRUSTGATE_KEEP_TEST_DIRS").is_some() {
            let kept = std::mem::replace(
                &mut self.dir,
                TempDir::new().expect("creating a placeholder directory"),
            );
            eprintln!("kept test directory {}", kept.keep().display());
        }
    }
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
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("finding a free port")
        .port()
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
