//! certbot, run as a subprocess against a [`TestServer`], with all of its
//! state kept in a directory of the test.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::server::{tail, TestServer};
use super::staff::Eab;

/// An order with a few http-01 challenges takes 2–5 s; this only catches
/// a hang.
const CERTBOT_TIMEOUT: Duration = Duration::from_secs(180);

/// How long certbot-dns-rfc2136 waits after its update. The tests' BIND is
/// the authoritative server the VA asks, and serves an update (signed,
/// when the zone is) before it answers it: nothing to wait for but
/// certbot's own wait, kept short.
const RFC2136_PROPAGATION_SECS: &str = "1";

/// Proxy settings would send certbot's requests to localhost elsewhere.
const PROXY_ENV: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// `$TRUSTGATE_CERTBOT`, else the venv `./scripts/test` creates.
pub fn certbot_path() -> PathBuf {
    let path = std::env::var_os("TRUSTGATE_CERTBOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/certbot"));
    assert!(
        path.is_file(),
        "certbot not found at {}: run ./scripts/test (it creates .venv with certbot) \
         or set TRUSTGATE_CERTBOT to a certbot executable",
        path.display()
    );
    path
}

/// One certbot installation: its own config, work and logs directories.
pub struct Certbot<'s> {
    server: &'s TestServer,
    dir: PathBuf,
}

/// The outcome of one certbot invocation.
pub struct Run {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    log_tail: String,
    server_log: String,
}

/// The files certbot keeps under `live/<name>/`.
pub struct Lineage {
    pub cert: PathBuf,
    pub chain: PathBuf,
    pub fullchain: PathBuf,
    pub privkey: PathBuf,
}

impl<'s> Certbot<'s> {
    /// `label` names the state directory (two installations against one
    /// server need different labels).
    pub fn new(server: &'s TestServer, label: &str) -> Certbot<'s> {
        Certbot {
            server,
            dir: server.scratch_dir(&format!("certbot-{label}")),
        }
    }

    /// `certbot register` with a credential, or without one.
    pub fn register(&self, eab: Option<&Eab>) -> Run {
        let mut args = vec!["register".to_owned()];
        args.extend(account_args(eab));
        self.run(&args)
    }

    /// `certbot certonly --standalone` for `names`, answering http-01 on
    /// the server's http-01 port.
    pub fn certonly(&self, eab: &Eab, names: &[&str]) -> Run {
        self.certonly_with(eab, names, self.server.http01_port(), &[])
    }

    /// As [`Certbot::certonly`], with certbot's http-01 responder on
    /// `port` (a port the server does not look at makes validation fail).
    pub fn certonly_on_port(&self, eab: &Eab, names: &[&str], port: u16) -> Run {
        self.certonly_with(eab, names, port, &[])
    }

    /// As [`Certbot::certonly`], asking for the ACME profile `profile`
    /// (`--required-profile`: no fallback to the default profile).
    pub fn certonly_profile(&self, eab: &Eab, names: &[&str], profile: &str) -> Run {
        let port = self.server.http01_port();
        self.certonly_with(eab, names, port, &["--required-profile", profile])
    }

    fn certonly_with(&self, eab: &Eab, names: &[&str], port: u16, extra: &[&str]) -> Run {
        let mut args: Vec<String> = ["certonly", "--standalone", "--preferred-challenges"]
            .map(String::from)
            .into();
        args.push("http-01".into());
        args.extend(http01_args(port));
        args.extend(account_args(Some(eab)));
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args.extend(domain_args(names));
        self.run(&args)
    }

    /// `certbot certonly --dns-rfc2136`: dns-01 through the
    /// certbot-dns-rfc2136 plugin, which adds the TXT records with
    /// TSIG-signed dynamic updates to the server in `credentials` and
    /// removes them afterwards.
    pub fn certonly_rfc2136(&self, eab: &Eab, names: &[&str], credentials: &Path) -> Run {
        let mut args: Vec<String> = ["certonly", "--dns-rfc2136", "--dns-rfc2136-credentials"]
            .map(String::from)
            .into();
        args.push(path_str(credentials).to_owned());
        args.extend(
            [
                "--dns-rfc2136-propagation-seconds",
                RFC2136_PROPAGATION_SECS,
                "--preferred-challenges",
                "dns-01",
            ]
            .map(String::from),
        );
        args.extend(account_args(Some(eab)));
        args.extend(domain_args(names));
        let run = self.run(&args);
        // Without the plugin certbot rejects its options (or, given only
        // `--dns-rfc2136`, says it is not installed).
        let output = run.output();
        assert!(
            !output.contains("unrecognized arguments: --dns-rfc2136")
                && !output.contains("plugin does not appear to be installed"),
            "certbot at {} has no dns-rfc2136 plugin: install certbot-dns-rfc2136 into \
             its environment (./scripts/test does for .venv)\n{run}",
            certbot_path().display()
        );
        run
    }

    /// `certbot certonly --manual` for dns-01, with hook scripts doing the
    /// DNS work (certbot gives them `CERTBOT_DOMAIN` and
    /// `CERTBOT_VALIDATION`).
    pub fn certonly_manual_dns(
        &self,
        eab: &Eab,
        names: &[&str],
        auth_hook: &Path,
        cleanup_hook: Option<&Path>,
    ) -> Run {
        let mut args: Vec<String> = [
            "certonly",
            "--manual",
            "--preferred-challenges",
            "dns-01",
            "--manual-auth-hook",
        ]
        .map(String::from)
        .into();
        args.push(path_str(auth_hook).to_owned());
        if let Some(hook) = cleanup_hook {
            args.push("--manual-cleanup-hook".into());
            args.push(path_str(hook).to_owned());
        }
        args.extend(account_args(Some(eab)));
        args.extend(domain_args(names));
        self.run(&args)
    }

    /// The URI of the account certbot registered with the test server.
    pub fn account_uri(&self) -> String {
        let accounts = self.accounts();
        assert_eq!(accounts.len(), 1, "expected one account: {accounts:?}");
        let path = accounts[0].join("regr.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let regr: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        regr["uri"]
            .as_str()
            .unwrap_or_else(|| panic!("no uri in {}: {text}", path.display()))
            .to_owned()
    }

    /// `certbot renew --force-renewal`: every lineage, using the settings
    /// certbot saved when it obtained them; with a new key unless
    /// `reuse_key`.
    pub fn force_renew(&self, reuse_key: bool) -> Run {
        let mut args: Vec<String> = ["renew", "--force-renewal", "--no-random-sleep-on-renew"]
            .map(String::from)
            .into();
        if reuse_key {
            args.push("--reuse-key".into());
        }
        self.run(&args)
    }

    /// `certbot revoke --cert-path` (signed with the account key), keeping
    /// the lineage on disk.
    pub fn revoke(&self, cert: &Path, reason: &str) -> Run {
        self.run(&revoke_args(&["--cert-path", path_str(cert)], reason))
    }

    /// `certbot renew` as a timer runs it: a lineage is renewed only when
    /// certbot finds it due (ARI's window, else two thirds of its life).
    pub fn renew(&self) -> Run {
        self.run(&["renew".into(), "--no-random-sleep-on-renew".into()])
    }

    /// `certbot revoke --cert-name`: the lineage's certificate, the request
    /// signed with the account key (RFC 8555 §7.6 kid); the lineage stays.
    pub fn revoke_lineage(&self, name: &str, reason: &str) -> Run {
        self.run(&revoke_args(&["--cert-name", name], reason))
    }

    /// `certbot revoke --cert-path --key-path`: the request signed with the
    /// certificate's own key (RFC 8555 §7.6 jwk), no account involved.
    pub fn revoke_with_cert_key(&self, cert: &Path, key: &Path, reason: &str) -> Run {
        let (cert, key) = (path_str(cert), path_str(key));
        self.run(&revoke_args(
            &["--cert-path", cert, "--key-path", key],
            reason,
        ))
    }

    /// certbot's debug log of its last run (it starts a new file, and
    /// rotates the old ones, every run).
    pub fn last_log(&self) -> String {
        let path = self.dir.join("logs/letsencrypt.log");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// The renewal configuration certbot keeps for lineage `name`.
    pub fn renewal_conf(&self, name: &str) -> PathBuf {
        self.dir.join(format!("config/renewal/{name}.conf"))
    }

    pub fn lineage(&self, name: &str) -> Lineage {
        let live = self.dir.join("config/live").join(name);
        Lineage {
            cert: live.join("cert.pem"),
            chain: live.join("chain.pem"),
            fullchain: live.join("fullchain.pem"),
            privkey: live.join("privkey.pem"),
        }
    }

    /// Every certificate file certbot has written in this installation.
    pub fn archived_certificates(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let archive = self.dir.join("config/archive");
        for lineage in std::fs::read_dir(&archive).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(lineage.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if f.file_name().to_string_lossy().starts_with("cert") {
                    found.push(f.path());
                }
            }
        }
        found
    }

    /// Account directories certbot has stored, over all servers.
    pub fn accounts(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.dir.join("config/accounts")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.join("regr.json").is_file() {
                    found.push(p);
                } else if p.is_dir() {
                    stack.push(p);
                }
            }
        }
        found
    }

    pub fn run(&self, args: &[String]) -> Run {
        let config = self.dir.join("config");
        let work = self.dir.join("work");
        let logs = self.dir.join("logs");
        let url = self.server.directory_url();
        let mut full: Vec<OsString> = args.iter().map(OsString::from).collect();
        full.extend(
            [
                "--non-interactive",
                "--config-dir",
                path_str(&config),
                "--work-dir",
                path_str(&work),
                "--logs-dir",
                path_str(&logs),
                "--server",
                url.as_str(),
            ]
            .map(OsString::from),
        );
        let program = certbot_path();
        let command = format!(
            "{} {}",
            program.display(),
            full.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );

        let stdout_path = self.dir.join("last-stdout.txt");
        let stderr_path = self.dir.join("last-stderr.txt");
        let mut cmd = Command::new(&program);
        cmd.args(&full)
            .env("REQUESTS_CA_BUNDLE", self.server.root_pem())
            .env("NO_PROXY", "localhost,127.0.0.1")
            .env("no_proxy", "localhost,127.0.0.1")
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path).expect("creating certbot's stdout file"))
            .stderr(File::create(&stderr_path).expect("creating certbot's stderr file"));
        for var in PROXY_ENV {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let deadline = Instant::now() + CERTBOT_TIMEOUT;
        let status = loop {
            if let Some(s) = child.try_wait().expect("polling certbot") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "certbot did not finish within {CERTBOT_TIMEOUT:?}: {command}\n{}\n{}",
                    tail(&logs.join("letsencrypt.log"), 80),
                    self.server.log_tail(200)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Run {
            command,
            status,
            stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
            log_tail: tail(&logs.join("letsencrypt.log"), 80),
            server_log: self.server.log_tail(200),
        }
    }
}

impl Run {
    /// stdout and stderr together (certbot prints errors on stderr).
    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub fn assert_success(&self) -> &Run {
        assert!(self.status.success(), "certbot failed\n{self}");
        self
    }

    pub fn assert_failure(&self) -> &Run {
        assert!(
            !self.status.success(),
            "certbot unexpectedly succeeded\n{self}"
        );
        self
    }

    pub fn assert_output_contains(&self, needle: &str) -> &Run {
        assert!(
            self.output().contains(needle),
            "certbot's output does not contain {needle:?}\n{self}"
        );
        self
    }
}

/// The diagnostics a failed assertion prints: the command, what certbot
/// said, its log, and what the server logged meanwhile.
impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "---- command ----\n{}\n---- exit: {} ----\n---- certbot stdout ----\n{}\n\
             ---- certbot stderr ----\n{}\n---- letsencrypt.log (tail) ----\n{}\n{}",
            self.command, self.status, self.stdout, self.stderr, self.log_tail, self.server_log
        )
    }
}

fn account_args(eab: Option<&Eab>) -> Vec<String> {
    let mut args: Vec<String> = ["--agree-tos", "-m", "admin@example.jp"]
        .map(String::from)
        .into();
    if let Some(eab) = eab {
        // `--opt=value`: a base64url key may start with '-', which
        // certbot's argument parser would take for an option.
        args.extend([
            format!("--eab-kid={}", eab.kid),
            format!("--eab-hmac-key={}", eab.hmac_key),
        ]);
    }
    args
}

fn domain_args(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| ["-d".to_owned(), (*n).to_owned()])
        .collect()
}

fn revoke_args(which: &[&str], reason: &str) -> Vec<String> {
    let mut args = vec!["revoke".to_owned()];
    args.extend(which.iter().map(|a| (*a).to_owned()));
    args.extend(["--reason", reason, "--no-delete-after-revoke"].map(String::from));
    args
}

fn http01_args(port: u16) -> Vec<String> {
    vec![
        "--http-01-port".into(),
        port.to_string(),
        "--http-01-address".into(),
        "127.0.0.1".into(),
    ]
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}
