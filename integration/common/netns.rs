//! Network namespaces `tgp1`, `tgp2` … for tests that need several
//! network views on one machine, and the processes run inside them.
//!
//! Namespace N is reached from the host over a veth pair: the host side is
//! 10.250.N.1/30, the namespace side 10.250.N.2/30; inside, `lo` is up, so
//! each namespace has its own 127.0.0.1. Needs root and iproute2's `ip`;
//! without them the test fails (the suite never skips silently).

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The namespace names are fixed, so two test runs on one machine (the
/// SQLite and PostgreSQL passes, or two worktrees) take turns. The lock is
/// an abstract socket: the kernel lets go of it when its holder dies.
const LOCK_NAME: &[u8] = b"trustgate-integration-netns";
const LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// One namespace, `tgp{index}`.
pub struct Namespace {
    index: u8,
}

impl Namespace {
    pub fn name(&self) -> String {
        format!("tgp{}", self.index)
    }

    /// The host's end of the veth pair.
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 250, self.index, 1)
    }

    /// The namespace's end of the veth pair.
    pub fn inner_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 250, self.index, 2)
    }

    fn host_link(&self) -> String {
        format!("tgv{}", self.index)
    }

    fn inner_link(&self) -> String {
        format!("tgv{}p", self.index)
    }

    /// Starts `program args` inside the namespace; stderr goes to `log`.
    pub fn spawn(&self, program: &Path, args: &[&str], log: &Path) -> Process {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name()])
            .arg(program)
            .args(args);
        Process::start(&mut cmd, log)
    }
}

/// The namespaces of one test, removed (with everything still running in
/// them) when dropped.
pub struct Namespaces {
    list: Vec<Namespace>,
    _lock: UnixListener,
}

impl Namespaces {
    /// Removes leftovers of an earlier, killed run, then creates
    /// `tgp1` … `tgp{count}`.
    pub fn create(count: u8) -> Namespaces {
        require_root_and_ip();
        let lock = take_lock();
        let list: Vec<Namespace> = (1..=count).map(|index| Namespace { index }).collect();
        for ns in &list {
            remove(ns);
        }
        let namespaces = Namespaces { list, _lock: lock };
        for ns in &namespaces.list {
            add(ns);
        }
        namespaces
    }

    pub fn iter(&self) -> impl Iterator<Item = &Namespace> {
        self.list.iter()
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.list {
            remove(ns);
        }
    }
}

/// A process the test started (inside a namespace or on the host),
/// killed when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    /// Starts `program args` on the host; stderr goes to `log`.
    pub fn spawn(program: &Path, args: &[&str], log: &Path) -> Process {
        Process::start(Command::new(program).args(args), log)
    }

    fn start(cmd: &mut Command, log: &Path) -> Process {
        let stderr = File::create(log).expect("creating a process log");
        let child = cmd
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        Process { child }
    }

    /// Stops it now (a perspective going down).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Panics with `log` if it has exited.
    pub fn assert_running(&mut self, what: &str, log: &Path) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{what} exited ({status})\n{}", super::server::tail(log, 50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Fails the test loudly: the suite runs as root in CI.
fn require_root_and_ip() {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .expect("running id -u");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "FAILED, NOT SKIPPED: network namespace tests must run as root (CI does)"
    );
    let ip = Command::new("ip").arg("-V").output();
    assert!(
        ip.is_ok_and(|o| o.status.success()),
        "FAILED, NOT SKIPPED: iproute2's `ip` is missing (./scripts/test installs it)"
    );
}

fn take_lock() -> UnixListener {
    let addr = UnixAddr::from_abstract_name(LOCK_NAME).expect("an abstract socket name");
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        match UnixListener::bind_addr(&addr) {
            Ok(lock) => return lock,
            Err(e) if Instant::now() > deadline => {
                panic!("another test run held the network namespaces for {LOCK_TIMEOUT:?}: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn add(ns: &Namespace) {
    let (name, host, inner) = (ns.name(), ns.host_link(), ns.inner_link());
    ip(&["netns", "add", &name]);
    ip(&["link", "add", &host, "type", "veth", "peer", "name", &inner]);
    ip(&["link", "set", &inner, "netns", &name]);
    ip(&["addr", "add", &format!("{}/30", ns.host_ip()), "dev", &host]);
    ip(&[
        "-n",
        &name,
        "addr",
        "add",
        &format!("{}/30", ns.inner_ip()),
        "dev",
        &inner,
    ]);
    ip(&["link", "set", &host, "up"]);
    ip(&["-n", &name, "link", "set", &inner, "up"]);
    ip(&["-n", &name, "link", "set", "lo", "up"]);
}

/// Kills what runs inside (only this harness starts processes in `tgp*`),
/// then deletes the namespace and the host's end of the pair.
fn remove(ns: &Namespace) {
    let name = ns.name();
    if let Ok(out) = Command::new("ip").args(["netns", "pids", &name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
    let quiet = |args: &[&str]| {
        let _ = Command::new("ip")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    quiet(&["netns", "del", &name]);
    quiet(&["link", "del", &ns.host_link()]);
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
