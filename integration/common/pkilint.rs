//! pkilint, the external linter: its REST service (`uvicorn
//! pkilint.rest:app`) as a process of its own per test, and its command
//! line linters for checking what the server issued and published. Both
//! come from `<repo>/.venv`, which `./scripts/test` installs them into; a
//! missing one fails the test.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http;
use super::server::free_port;

/// How long uvicorn may take to import pkilint and listen: seconds alone,
/// minutes on a loaded CI machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(240);

/// A program of the test venv; panics, saying how to get it, if missing.
pub fn venv_bin(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    assert!(
        path.is_file(),
        "{} not found: run ./scripts/test (it installs pkilint[rest] and uvicorn into .venv)",
        path.display()
    );
    path
}

/// pkilint's REST service on 127.0.0.1; killed on drop.
pub struct Pkilint {
    child: Child,
    port: u16,
    /// uvicorn's output, shown when it does not come up.
    log: tempfile::NamedTempFile,
}

impl Pkilint {
    /// On a free port.
    pub fn start() -> Pkilint {
        Pkilint::start_on(free_port())
    }

    /// On `port` (a linter coming back where the server expects it).
    pub fn start_on(port: u16) -> Pkilint {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(venv_bin("uvicorn"))
            .args(["pkilint.rest:app", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("starting uvicorn pkilint.rest:app");
        let mut p = Pkilint { child, port, log };
        p.wait_until_ready();
        p
    }

    /// What `ca.linter_url` names.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn wait_until_ready(&mut self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "uvicorn pkilint.rest:app exited during startup ({status})\n{}",
                    self.log_text()
                );
            }
            let listed =
                http::plain_request(addr, None, "GET", "/certificate/cabf-serverauth", None);
            if matches!(listed, Ok(r) if r.status == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pkilint REST not ready after {STARTUP_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Pkilint {
    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Pkilint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Findings of pkilint's command line at WARNING and above for the
/// certificate in `pem` as `kind` (e.g. `OV-FINAL-CERTIFICATE`); empty
/// when clean.
pub fn cli_certificate_findings(pem: &Path, kind: &str) -> String {
    cli(
        "lint_cabf_serverauth_cert",
        &["lint", "-t", kind, "-s", "WARNING"],
        pem,
    )
}

/// Findings at WARNING and above of the CA/B Forum CRL profile (BR 7.2),
/// which only the command line has.
pub fn cli_crl_findings(der: &Path) -> String {
    cli(
        "lint_crl",
        &["lint", "-t", "CRL", "-p", "BR", "-s", "WARNING"],
        der,
    )
}

fn cli(program: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(venv_bin(program))
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // pkilint exits non-zero when it reports findings; anything but a
    // finding list (a usage error) is a failed test.
    assert!(
        out.status.success() || !text.trim().is_empty(),
        "{program} failed: {text}"
    );
    text.trim().to_owned()
}

/// A proxy in front of pkilint that asks for `to` where the server asked
/// for `from` (e.g. an OV certificate linted as EV): real pkilint findings
/// about a certificate the in-process lint accepts, without any switch in
/// the server. Runs until the test ends.
pub fn rewriting_proxy(upstream: u16, from: &'static str, to: &'static str) -> u16 {
    assert_eq!(from.len(), to.len(), "the body length must not change");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || relay(client, upstream, from, to));
        }
    });
    port
}

fn relay(mut client: TcpStream, upstream: u16, from: &str, to: &str) {
    use std::io::{Read, Write};
    let Ok(mut server) = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)) else {
        return;
    };
    let mut first = vec![0u8; 64 * 1024];
    let n = client.read(&mut first).unwrap_or(0);
    let head = String::from_utf8_lossy(&first[..n]).replacen(from, to, 1);
    if server.write_all(head.as_bytes()).is_err() {
        return;
    }
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut server, &mut client);
}
