//! A PostgreSQL cluster of the test's own (initdb into a temporary
//! directory, its own port on loopback), for tests that stop and start
//! the database: stopping the suite's shared server would fail every
//! other test using it. Needs the server binaries
//! (/usr/lib/postgresql/*/bin); run as root, the cluster runs as user
//! `postgres`.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::server::free_port;

pub struct PrivateCluster {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
}

/// How the cluster is stopped (`pg_ctl stop -m`).
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// Clients disconnected, transactions rolled back, a clean shutdown.
    Fast,
    /// As a crash: no shutdown checkpoint, WAL replayed at the next start.
    Immediate,
}

impl PrivateCluster {
    pub fn start() -> PrivateCluster {
        let bin = server_binaries();
        let dir = tempfile::Builder::new()
            .prefix("trustgate-pg-")
            .tempdir()
            .expect("creating the cluster's directory");
        let root = is_root();
        if root {
            // The server refuses to run as root; its files are postgres's.
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let data = dir.path().join("data");
        run(as_owner(&bin.join("initdb"), root)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"]));
        let cluster = PrivateCluster {
            dir,
            bin,
            port: free_port(),
        };
        cluster.start_again();
        cluster
    }

    /// A database URL of this cluster (its `postgres` database).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn stop(&self, how: Stop) {
        let mode = match how {
            Stop::Fast => "fast",
            Stop::Immediate => "immediate",
        };
        run(self.pg_ctl().args(["-m", mode, "-w", "-t", "60", "stop"]));
    }

    /// Starts the cluster (again); returns once it accepts connections.
    pub fn start_again(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        run(self.pg_ctl().args(["-w", "-t", "60", "-o", &opts, "start"]));
    }

    fn pg_ctl(&self) -> Command {
        let mut c = as_owner(&self.bin.join("pg_ctl"), is_root());
        c.arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("server.log"));
        c
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self
            .pg_ctl()
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// The newest installed server's bin directory.
fn server_binaries() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries (/usr/lib/postgresql, Debian's postgresql package)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
        .expect("no PostgreSQL server under /usr/lib/postgresql")
}

fn is_root() -> bool {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .expect("running id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn as_owner(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
