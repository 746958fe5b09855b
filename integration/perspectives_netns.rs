//! Multi-perspective issuance corroboration (BR 3.2.2.9) with real
//! processes: the primary (`trustgate serve`) and five `trustgate
//! perspective` processes, each in its own network namespace with its own
//! DNS view and its own loopback "web site", one RIR region each.
//!
//! In namespace N a name resolves (through that view's DNS) to 127.0.0.1,
//! where socat forwards to certbot on the host (the right key
//! authorization), or, when the test hijacks the name in that view, to
//! 127.0.0.2, where socat forwards to an attacker's site (a wrong one).
//! The primary resolves through its own view the same way. The rule in
//! force is read from the system clock: on and after 2026-06-15 four of
//! five perspectives must corroborate, from at least two regions.
//!
//! One set-up serves every case (each case uses its own name, so no
//! authorization is reused); the cases that stop perspectives run last.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::common::certbot::Run;
use crate::common::issued::{assert_issued, assert_nothing_issued, OV_POLICY};
use crate::common::netns::{Namespace, Namespaces, Process};
use crate::common::server::VaDns;
use crate::common::staff::Eab;
use crate::common::views::{AttackerSite, ViewDns, ATTACKER_ADDR, ATTACKER_KEY_AUTHORIZATION};
use crate::common::{Certbot, TestServer};

/// The port every perspective listens on, inside its own namespace.
const PERSPECTIVE_PORT: u16 = 14003;
/// One region each: the corroborating ones always span several RIRs.
const REGIONS: [&str; 5] = ["ARIN", "RIPE", "APNIC", "LACNIC", "AFRINIC"];
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One case: sets up its views, runs certbot, checks the outcome.
type Case = fn(&mut World, &Eab);

#[test]
fn five_perspectives_in_network_namespaces() {
    let started = Instant::now();
    let mut w = World::start();
    let eab = w.server.approved_eab(true);
    let cases: [(&str, Case); 7] = [
        ("all views agree", all_views_agree),
        ("one perspective sees another answer", one_view_differs),
        ("two perspectives see another answer", two_views_differ),
        ("the primary's view is hijacked", primary_hijacked),
        ("CAA forbids in four views", caa_seen_by_four),
        ("one perspective down", one_perspective_down),
        ("two perspectives down", two_perspectives_down),
    ];
    for (what, case) in cases {
        let t = Instant::now();
        case(&mut w, &eab);
        eprintln!("perspectives_netns: {what}: ok ({:.1?})", t.elapsed());
    }
    eprintln!("perspectives_netns: total {:.1?}", started.elapsed());
}

/// certbot gets the certificate, and its evidence holds all five answers.
fn all_views_agree(w: &mut World, eab: &Eab) {
    let name = "agree.example.jp";
    let (certbot, run) = w.obtain(eab, "agree", name);
    run.assert_success();
    let leaf = assert_issued(&w.server, &certbot.lineage(name), &[name], OV_POLICY);
    let serial = leaf.serial.replace(':', "").to_ascii_lowercase();
    let evidence = w.server.staff().certificate_evidence(&serial);
    let name_evidence = &evidence["names"][0];
    let validation = &name_evidence["domain_validation"]["challenge"]["perspectives"];
    for a in corroborations(validation, &evidence) {
        assert!(
            a["records"].as_array().is_some_and(|r| !r.is_empty()),
            "a corroboration without the addresses it connected to: {a}"
        );
    }
    for a in corroborations(&name_evidence["caa"]["perspectives"], &evidence) {
        assert!(
            a["caa"]["decision"]
                .as_str()
                .is_some_and(|d| d.starts_with("permitted")),
            "a CAA corroboration without its decision: {a}"
        );
    }
}

/// One disagreement is allowed among five.
fn one_view_differs(w: &mut World, eab: &Eab) {
    let name = "one-differs.example.jp";
    w.perspectives[0].dns.hijack(name);
    let (certbot, run) = w.obtain(eab, "one-differs", name);
    run.assert_success();
    let leaf = assert_issued(&w.server, &certbot.lineage(name), &[name], OV_POLICY);
    // Four corroborations settle the quorum, so p1's answer may be cut
    // short before its fetch: it went to the attacker or was not awaited.
    let serial = leaf.serial.replace(':', "").to_ascii_lowercase();
    let evidence = w.server.staff().certificate_evidence(&serial);
    let answers = &evidence["names"][0]["domain_validation"]["challenge"]["perspectives"];
    let p1 = answers
        .as_array()
        .and_then(|a| a.iter().find(|a| a["perspective"] == "p1"))
        .unwrap_or_else(|| panic!("no answer from p1: {evidence:#}"));
    let fetched = p1["outcome"]["status"] != "unreachable";
    assert_ne!(
        p1["outcome"]["status"], "valid",
        "p1 corroborated the attacker's site: {p1}"
    );
    w.assert_sent_to_attacker(if fetched { &[0] } else { &[] }, &[0]);
}

/// Two disagreements leave three of the four required.
fn two_views_differ(w: &mut World, eab: &Eab) {
    let name = "two-differ.example.jp";
    w.perspectives[0].dns.hijack(name);
    w.perspectives[1].dns.hijack(name);
    let (certbot, run) = w.obtain(eab, "two-differ", name);
    run.assert_failure()
        .assert_output_contains("Certbot failed to authenticate some domains");
    assert_quorum_missed(&run, 3);
    assert_nothing_issued(&certbot, name, &run);
    w.assert_sent_to_attacker(&[0, 1], &[]);
}

/// All five perspectives see the right site, the primary the attacker's:
/// the primary's own result must be valid too.
fn primary_hijacked(w: &mut World, eab: &Eab) {
    let name = "hijacked.example.jp";
    w.primary_dns.hijack(name);
    let (certbot, run) = w.obtain(eab, "hijacked", name);
    run.assert_failure();
    assert!(
        run.output().contains(ATTACKER_KEY_AUTHORIZATION),
        "the failure does not show the primary reached the attacker's site\n{run}"
    );
    assert_nothing_issued(&certbot, name, &run);
}

/// Validation passes everywhere; at finalize four perspectives find a CAA
/// record naming another CA, so only one corroborates the primary's
/// "permitted".
fn caa_seen_by_four(w: &mut World, eab: &Eab) {
    let name = "caa-four.example.jp";
    for p in &w.perspectives[..4] {
        p.dns.forbid_by_caa(name);
    }
    let (certbot, run) = w.obtain(eab, "caa-four", name);
    run.assert_failure();
    assert_quorum_missed(&run, 1);
    // The finalize's problem (acme's `Error.__str__`: type :: title :: detail).
    let prefix = format!("Problem for {name}: urn:ietf:params:acme:error:caa :: ");
    assert!(
        certbot.last_log().lines().any(|l| l.starts_with(&prefix)
            && l.contains(QUORUM_MISSED)
            && l.ends_with("; 4 required")),
        "certbot's log has no {prefix:?} with a quorum detail\n{run}"
    );
    assert_nothing_issued(&certbot, name, &run);
}

fn one_perspective_down(w: &mut World, eab: &Eab) {
    w.perspectives[4].stop();
    let name = "one-down.example.jp";
    let (certbot, run) = w.obtain(eab, "one-down", name);
    run.assert_success();
    assert_issued(&w.server, &certbot.lineage(name), &[name], OV_POLICY);
}

fn two_perspectives_down(w: &mut World, eab: &Eab) {
    w.perspectives[3].stop();
    let name = "two-down.example.jp";
    let (certbot, run) = w.obtain(eab, "two-down", name);
    run.assert_failure()
        .assert_output_contains("Certbot failed to authenticate some domains");
    assert_quorum_missed(&run, 3);
    assert_nothing_issued(&certbot, name, &run);
}

/// The count in the problem detail of a missed quorum.
const QUORUM_MISSED: &str = " of 5 remote perspectives corroborated";

/// certbot shows the detail "N of 5 remote perspectives corroborated[, M
/// did not, K not awaited]; 4 required" with N at most `most`: the
/// outcome settles as soon as it cannot change.
fn assert_quorum_missed(run: &Run, most: u32) {
    let output = run.output();
    let at = output.find(QUORUM_MISSED);
    let count = at.and_then(|end| {
        let digits = output[..end].rsplit(|c: char| !c.is_ascii_digit()).next()?;
        digits.parse::<u32>().ok()
    });
    let required = at.is_some_and(|end| {
        let rest = &output[end..];
        rest[..rest.find('\n').unwrap_or(rest.len())].contains("; 4 required")
    });
    assert!(
        count.is_some_and(|n| n <= most) && required,
        "certbot does not show a missed quorum with at most {most} corroborations\n{run}"
    );
}

/// The corroborating answers in `answers` (a `perspectives` array of the
/// evidence), after checking that every perspective is recorded with its
/// region and time, that at least four corroborated, and that any other
/// was only not awaited (the outcome settled without it): every view
/// agreed.
fn corroborations<'a>(answers: &'a Value, evidence: &Value) -> Vec<&'a Value> {
    let answers = answers
        .as_array()
        .unwrap_or_else(|| panic!("no perspectives in the evidence: {evidence:#}"));
    let mut names: Vec<&str> = answers
        .iter()
        .map(|a| a["perspective"].as_str().unwrap_or_default())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["p1", "p2", "p3", "p4", "p5"], "{evidence:#}");
    let mut regions: Vec<&str> = answers
        .iter()
        .filter_map(|a| a["region"].as_str())
        .collect();
    regions.sort_unstable();
    regions.dedup();
    assert_eq!(regions.len(), 5, "{evidence:#}");
    for a in answers {
        assert!(a["checkedAt"].is_string(), "{a}");
        let settled_without = a["outcome"]["status"] == "unreachable"
            && a["outcome"]["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("not awaited"));
        assert!(a["outcome"]["status"] == "valid" || settled_without, "{a}");
    }
    let valid: Vec<&Value> = answers
        .iter()
        .filter(|a| a["outcome"]["status"] == "valid")
        .collect();
    assert!(valid.len() >= 4, "{evidence:#}");
    valid
}

/// The primary, its view, and the five perspectives with theirs.
struct World {
    server: TestServer,
    primary_dns: ViewDns,
    _primary_attacker: AttackerSite,
    perspectives: Vec<RemoteView>,
    _dir: TempDir,
    /// Last: removed after every process in them has been stopped.
    namespaces: Namespaces,
}

/// One namespace's perspective, DNS view and forwarders.
struct RemoteView {
    dns: ViewDns,
    process: Option<Process>,
    log: PathBuf,
    attacker: AttackerSite,
    /// `attacker.requests()` when last looked at.
    attacker_seen: usize,
    _forwarders: Vec<Process>,
}

impl RemoteView {
    fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }
}

impl World {
    fn start() -> World {
        let namespaces = Namespaces::create(5);
        let dir = tempfile::Builder::new()
            .prefix("trustgate-netns-")
            .tempdir()
            .expect("creating the test directory");
        let pki: Vec<Pki> = namespaces
            .iter()
            .zip(REGIONS)
            .map(|(ns, region)| Pki::init(ns, region, dir.path()))
            .collect();
        let primary_dns = ViewDns::start(Ipv4Addr::LOCALHOST);
        let va_dns = VaDns {
            resolver: primary_dns.addr(),
            dnssec: false,
            trust_anchors: vec![],
        };
        let primary_tables: Vec<&str> = pki.iter().map(|p| p.primary_table.as_str()).collect();
        let server = TestServer::start_with_dns(&va_dns, &primary_tables.join("\n"));
        let port = server.http01_port();
        let primary_attacker = AttackerSite::start(SocketAddr::from((ATTACKER_ADDR, port)));
        let perspectives = namespaces
            .iter()
            .zip(&pki)
            .map(|(ns, pki)| RemoteView::start(ns, pki, port, dir.path()))
            .collect();
        let mut world = World {
            server,
            primary_dns,
            _primary_attacker: primary_attacker,
            perspectives,
            _dir: dir,
            namespaces,
        };
        world.wait_until_ready();
        world
    }

    /// Every perspective accepts connections on its veth address.
    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addrs: Vec<SocketAddr> = self
            .namespaces
            .iter()
            .map(|ns| SocketAddr::from((ns.inner_ip(), PERSPECTIVE_PORT)))
            .collect();
        for (p, addr) in self.perspectives.iter_mut().zip(addrs) {
            while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                let log = p.log.clone();
                if let Some(process) = p.process.as_mut() {
                    process.assert_running("trustgate perspective", &log);
                }
                assert!(
                    Instant::now() < deadline,
                    "perspective at {addr} not ready after {READY_TIMEOUT:?}\n{}",
                    crate::common::server::tail(&log, 50)
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Since the last call, the perspectives at `hijacked` have fetched
    /// from their view's attacker site, those at `may` perhaps (an answer
    /// cut short by early settling), and no other.
    fn assert_sent_to_attacker(&mut self, hijacked: &[usize], may: &[usize]) {
        for (i, p) in self.perspectives.iter_mut().enumerate() {
            let now = p.attacker.requests();
            let came = now > p.attacker_seen;
            p.attacker_seen = now;
            if may.contains(&i) && !hijacked.contains(&i) {
                continue;
            }
            assert_eq!(
                came,
                hijacked.contains(&i),
                "perspective p{} fetched from the attacker's site: {came}",
                i + 1
            );
        }
    }

    /// certbot (its own installation, `label`) asks for `name` over http-01.
    fn obtain(&self, eab: &Eab, label: &str, name: &str) -> (Certbot<'_>, Run) {
        let certbot = Certbot::new(&self.server, label);
        let run = certbot.certonly(eab, &[name]);
        (certbot, run)
    }
}

impl RemoteView {
    /// Starts the view's DNS, the forwarders of its loopback sites and its
    /// perspective; `port` is the http-01 port.
    fn start(ns: &Namespace, pki: &Pki, port: u16, dir: &Path) -> RemoteView {
        let dns = ViewDns::start(ns.host_ip());
        let attacker = AttackerSite::start(SocketAddr::from((ns.host_ip(), 0)));
        let socat = Path::new("socat");
        let log = |what: &str| dir.join(format!("{}-{what}.log", ns.name()));
        let host = ns.host_ip();
        let forwarders = vec![
            // Host: the veth address to certbot on the host's loopback.
            Process::spawn(
                socat,
                &[
                    &format!("TCP-LISTEN:{port},bind={host},fork,reuseaddr"),
                    &format!("TCP:127.0.0.1:{port}"),
                ],
                &log("relay"),
            ),
            // Namespace: its 127.0.0.1 is the right site ...
            ns.spawn(
                socat,
                &[
                    &format!("TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr"),
                    &format!("TCP:{host}:{port}"),
                ],
                &log("site"),
            ),
            // ... its 127.0.0.2 the attacker's.
            ns.spawn(
                socat,
                &[
                    &format!("TCP-LISTEN:{port},bind={ATTACKER_ADDR},fork,reuseaddr"),
                    &format!("TCP:{}", attacker.addr()),
                ],
                &log("attacker"),
            ),
        ];
        let config = dir.join(format!("{}.toml", ns.name()));
        let text = format!(
            "[va]\nhttp01_port = {port}\nallow_loopback = true\ntimeout_secs = 5\n\
             resolvers = [\"{}\"]\n\
             # The view's DNS signs nothing (DNSSEC is covered in va::dns).\n\
             dnssec = false\n\n{}",
            dns.addr(),
            pki.perspective_table
        );
        std::fs::write(&config, text).expect("writing a perspective's config");
        let log = log("perspective");
        let binary = Path::new(env!("CARGO_BIN_EXE_trustgate"));
        let config_arg = config.to_str().expect("test paths are UTF-8");
        let process = ns.spawn(binary, &["--config", config_arg, "perspective"], &log);
        RemoteView {
            dns,
            process: Some(process),
            log,
            attacker,
            attacker_seen: 0,
            _forwarders: forwarders,
        }
    }
}

/// What `trustgate perspective init` printed for one perspective.
struct Pki {
    perspective_table: String,
    primary_table: String,
}

impl Pki {
    fn init(ns: &Namespace, region: &str, dir: &Path) -> Pki {
        let name = format!("p{}", &ns.name()[3..]);
        let pki_dir = dir.join(&name);
        let listen = SocketAddr::from((ns.inner_ip(), PERSPECTIVE_PORT));
        let out = Command::new(env!("CARGO_BIN_EXE_trustgate"))
            .args(["perspective", "init", "--name", &name, "--region", region])
            .arg("--dir")
            .arg(&pki_dir)
            .args(["--host", &ns.inner_ip().to_string()])
            .args(["--listen", &listen.to_string()])
            .output()
            .expect("running trustgate perspective init");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "trustgate perspective init failed\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Pki {
            perspective_table: table(&stdout, "[perspective]"),
            primary_table: table(&stdout, "[[va.perspectives]]"),
        }
    }
}

/// The lines from `header` to the next blank line.
fn table(text: &str, header: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim() != header)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(!lines.is_empty(), "no {header} table in\n{text}");
    lines.join("\n") + "\n"
}
