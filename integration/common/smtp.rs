//! A real SMTP server for the mail tests: aiosmtpd (from PyPI, in the
//! venv `./scripts/test` makes) with the handler in
//! `integration/smtp_sink.py`, which writes every accepted message to a
//! directory, parsed by Python's email package. Stopped when dropped.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::certbot::certbot_path;
use super::server::free_port;

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope recipients (RCPT TO).
    pub to: Vec<String>,
    pub from: String,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    /// `multipart/mixed` with attachments, else `text/plain`.
    pub content_type: String,
    pub attachments: Vec<MailFile>,
}

/// A file attached to a message, saved by the sink.
#[derive(Debug, Clone)]
pub struct MailFile {
    pub filename: String,
    pub content_type: String,
    pub path: PathBuf,
}

pub struct SmtpSink {
    child: Child,
    dir: TempDir,
    port: u16,
}

impl SmtpSink {
    /// Starts on a free port and waits until it accepts connections.
    pub fn start() -> SmtpSink {
        SmtpSink::start_on(free_port())
    }

    /// Starts on `port` (a server already configured to send there).
    pub fn start_on(port: u16) -> SmtpSink {
        let dir = tempfile::Builder::new()
            .prefix("trustgate-smtp-")
            .tempdir()
            .expect("creating the mail directory");
        let python = certbot_path().with_file_name("python");
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "smtp_sink.Sink"])
            .arg(dir.path())
            .env("PYTHONPATH", integration_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting aiosmtpd with {}: {e} (run ./scripts/test)",
                    python.display()
                )
            });
        let mut sink = SmtpSink { child, dir, port };
        sink.wait_until_listening();
        sink
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where each received message is written (`.json`, `.eml`), for
    /// scripts that read mail themselves (integration/portal/portal.py).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.try_wait().expect("polling aiosmtpd") {
                panic!("aiosmtpd exited ({status}); is it installed in .venv? (./scripts/test)");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("reading the mail directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort();
        files.iter().map(parse).collect()
    }

    /// Waits up to `within` for at least `n` messages; returns them all.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.messages();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn integration_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("integration")
}

fn parse(path: &PathBuf) -> Mail {
    let text = std::fs::read_to_string(path).expect("reading a received message");
    let v: Value = serde_json::from_str(&text).expect("the sink writes JSON");
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    Mail {
        to: v["rcpt_tos"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        from: s("from"),
        subject: s("subject"),
        body: s("body"),
        message_id: s("message_id"),
        content_type: s("content_type"),
        attachments: v["attachments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| MailFile {
                        filename: f["filename"].as_str().unwrap_or_default().to_owned(),
                        content_type: f["content_type"].as_str().unwrap_or_default().to_owned(),
                        path: PathBuf::from(f["path"].as_str().unwrap_or_default()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The `[mail]` section of a server sending to `port` on loopback, plain
/// SMTP, looking every second and retrying within seconds.
pub fn mail_toml(port: u16) -> String {
    format!(
        "[mail]\n\
         smtp_host = \"127.0.0.1\"\n\
         smtp_port = {port}\n\
         security = \"plain\"\n\
         from = \"trustgate test CA <ca@trustgate.test>\"\n\
         connect_timeout_secs = 2\n\
         send_timeout_secs = 5\n\
         poll_secs = 1\n\
         retry_base_secs = 1\n\
         retry_cap_secs = 2\n"
    )
}
