//! Test doubles shared by the VA's unit tests: a tiny authoritative DNS
//! responder (hickory-proto) and a raw-TCP HTTP responder whose replies a
//! test scripts byte for byte, including misbehaving ones.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CAA, CNAME, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use super::bind_tools::{keygen, sign, tool};

use crate::config::VaConfig;

/// Answers every name with A 127.0.0.1 and an empty (NOERROR) AAAA, except:
/// `servfail.jp.` → SERVFAIL, `nx.jp.` → NXDOMAIN, `v6.jp.` → AAAA ::1
/// plus A 127.0.0.1, `_acme-challenge.example.jp.` TXT "part1" "part2".
///
/// A test can add records per name (`add`) and SERVFAIL per name
/// (`servfail`). A name with added records is answered from them only
/// (NOERROR without data for other types), with CNAMEs followed inside the
/// zone and the target's records added to the answer, as a recursive
/// resolver does.
pub struct DnsServer {
    pub addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Zone {
    records: HashMap<String, Vec<RData>>,
    servfail: HashSet<String>,
    /// Each answer leaves this long after its query; answers overlap.
    delay: Duration,
}

impl DnsServer {
    pub async fn start() -> DnsServer {
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind dns"));
        let addr = sock.local_addr().expect("dns addr");
        let zone = Arc::new(Mutex::new(Zone::default()));
        let shared = zone.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(req) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let (resp, delay) = {
                    let zone = shared.lock().expect("zone lock");
                    (answer(&req, &zone), zone.delay)
                };
                let Ok(bytes) = resp.to_vec() else {
                    continue;
                };
                if delay.is_zero() {
                    let _ = sock.send_to(&bytes, peer).await;
                } else {
                    let sock = sock.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = sock.send_to(&bytes, peer).await;
                    });
                }
            }
        });
        DnsServer { addr, zone, task }
    }

    /// Adds one record at `name` (trailing dot optional).
    pub fn add(&self, name: &str, data: RData) {
        self.zone
            .lock()
            .expect("zone lock")
            .records
            .entry(key(name))
            .or_default()
            .push(data);
    }

    /// Makes every query for `name` answer SERVFAIL.
    pub fn servfail(&self, name: &str) {
        self.zone
            .lock()
            .expect("zone lock")
            .servfail
            .insert(key(name));
    }

    /// Holds every answer back by `delay`, each on its own, as a distant
    /// server would.
    pub fn delay(&self, delay: Duration) {
        self.zone.lock().expect("zone lock").delay = delay;
    }

    /// A VA configuration resolving through this server, with DNSSEC off
    /// (nothing here is signed) and loopback allowed.
    pub fn config(&self) -> VaConfig {
        VaConfig {
            resolvers: vec![self.addr],
            allow_loopback: true,
            timeout_secs: 3,
            dnssec: false,
            ..VaConfig::default()
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn key(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

fn name(s: &str) -> Name {
    Name::from_ascii(key(s)).expect("test name")
}

/// TXT with these character-strings.
pub fn txt(chunks: &[&str]) -> RData {
    RData::TXT(TXT::new(chunks.iter().map(|c| (*c).to_owned()).collect()))
}

pub fn cname(target: &str) -> RData {
    RData::CNAME(CNAME(name(target)))
}

/// CAA with raw flags, tag and value (RFC 8659 §4.1), so tests can write
/// values hickory's constructors would refuse.
pub fn caa(flags: u8, tag: &str, value: &str) -> RData {
    let mut c = CAA::new_issue(false, None, vec![]);
    c.issuer_critical = flags & 0x80 != 0;
    c.reserved_flags = flags & 0x7f;
    c.tag = tag.to_owned();
    c.value = value.as_bytes().to_vec();
    RData::CAA(c)
}

fn answer(req: &Message, zone: &Zone) -> Message {
    let mut resp = Message::response(req.metadata.id, OpCode::Query);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.metadata.authoritative = true;
    let Some(q) = req.queries.first() else {
        resp.metadata.response_code = ResponseCode::FormErr;
        return resp;
    };
    resp.add_query(q.clone());
    let name = q.name().to_ascii().to_ascii_lowercase();
    if zone.servfail.contains(&name) {
        resp.metadata.response_code = ResponseCode::ServFail;
        return resp;
    }
    if zone.records.contains_key(&name) {
        answer_from_zone(&mut resp, zone, q.name().clone(), q.query_type());
        return resp;
    }
    match (name.as_str(), q.query_type()) {
        ("servfail.jp.", _) => resp.metadata.response_code = ResponseCode::ServFail,
        ("nx.jp.", _) => resp.metadata.response_code = ResponseCode::NXDomain,
        ("v6.jp.", RecordType::AAAA) => {
            resp.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
            ));
        }
        ("_acme-challenge.example.jp.", RecordType::TXT) => {
            resp.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::TXT(TXT::new(vec!["part1".into(), "part2".into()])),
            ));
        }
        (_, RecordType::A) => {
            resp.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::A(A(Ipv4Addr::LOCALHOST)),
            ));
        }
        _ => {}
    }
    resp
}

fn answer_from_zone(resp: &mut Message, zone: &Zone, qname: Name, qtype: RecordType) {
    let mut current = qname;
    // Bounded so a CNAME loop in a test zone ends (the answer then holds
    // the loop, which the resolver must refuse).
    for _ in 0..12 {
        let key = current.to_ascii().to_ascii_lowercase();
        if zone.servfail.contains(&key) {
            resp.metadata.response_code = ResponseCode::ServFail;
            return;
        }
        let Some(data) = zone.records.get(&key) else {
            return;
        };
        let target = data.iter().find_map(|d| match d {
            RData::CNAME(c) if qtype != RecordType::CNAME => Some(c.0.clone()),
            _ => None,
        });
        if let Some(target) = target {
            resp.add_answer(Record::from_rdata(
                current.clone(),
                60,
                RData::CNAME(CNAME(target.clone())),
            ));
            current = target;
            continue;
        }
        for d in data.iter().filter(|d| d.record_type() == qtype) {
            resp.add_answer(Record::from_rdata(current.clone(), 60, d.clone()));
        }
        return;
    }
}

/// What the HTTP responder sends on one connection.
pub enum Reply {
    /// These bytes, then close.
    Bytes(Vec<u8>),
    /// `head`, then one byte of body per `every`, forever (slow loris).
    Dribble { head: Vec<u8>, every: Duration },
}

/// A raw HTTP/1.1 responder on 127.0.0.1. `respond` gets the request head
/// and the server's own port (for self-referencing redirects).
pub struct HttpServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl HttpServer {
    pub async fn start<F>(respond: F) -> HttpServer
    where
        F: Fn(&str, u16) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
        let port = listener.local_addr().expect("http addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let respond = Arc::new(respond);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let respond = respond.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    seen.lock().expect("lock").push(head.clone());
                    match respond(&head, port) {
                        Reply::Bytes(b) => {
                            let _ = stream.write_all(&b).await;
                            let _ = stream.shutdown().await;
                        }
                        Reply::Dribble { head, every } => {
                            if stream.write_all(&head).await.is_err() {
                                return;
                            }
                            loop {
                                tokio::time::sleep(every).await;
                                if stream.write_all(b"x").await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        HttpServer {
            port,
            requests,
            task,
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A complete response with Content-Length and `Connection: close`.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Reply::Bytes(bytes)
}

/// A port on 127.0.0.1 where nothing listens (connect is refused).
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr").port()
}

/// BIND 9 on loopback serving offline-signed zones, for DNSSEC tests
/// (notes/dns.md). Zones, signed at start because RRSIGs expire:
/// - `jp.` signed with its own key, which is the trust anchor; it holds
///   the DS of `example.jp.` and an unsigned delegation to
///   `insecure.jp.` (so that zone is provably Insecure);
/// - `example.jp.` signed; `example_records` are added to it;
/// - `insecure.jp.` unsigned; `insecure_records` are added to it.
///
/// With `tamper = Some((from, to))`, the signed `example.jp.` file is
/// served with `from` replaced by `to` after signing, so the RRSIGs no
/// longer match (Bogus). `named` runs in the foreground and is killed on
/// drop. A missing BIND is a test failure, not a skip.
pub struct Bind {
    pub addr: SocketAddr,
    /// File with the `jp.` DNSKEY, for `VaConfig::trust_anchors`.
    pub anchor: std::path::PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Bind {
    pub async fn start(
        example_records: &str,
        insecure_records: &str,
        tamper: Option<(&str, &str)>,
    ) -> Bind {
        let named = tool("named");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let soa = |zone: &str| {
            format!(
                "$TTL 60\n@ IN SOA ns.jp. admin.jp. 1 3600 600 86400 60\n\
                 @ IN NS ns.jp.\n; zone {zone}\n"
            )
        };
        let example_key = keygen(d, "example.jp");
        std::fs::write(
            d.join("example.jp.db"),
            format!(
                "{}$INCLUDE {example_key}.key\n{example_records}\n",
                soa("example.jp")
            ),
        )
        .expect("write zone");
        sign(d, "example.jp", &example_key);

        let test_key = keygen(d, "jp");
        std::fs::write(
            d.join("jp.db"),
            format!(
                "{}ns IN A 127.0.0.1\n$INCLUDE {test_key}.key\n\
                 example IN NS ns.jp.\n$INCLUDE dsset-example.jp.\n\
                 insecure IN NS ns.jp.\n",
                soa("jp")
            ),
        )
        .expect("write zone");
        sign(d, "jp", &test_key);

        std::fs::write(
            d.join("insecure.jp.db"),
            format!("{}{insecure_records}\n", soa("insecure.jp")),
        )
        .expect("write zone");

        if let Some((from, to)) = tamper {
            let path = d.join("example.jp.signed");
            let signed = std::fs::read_to_string(&path).expect("signed zone");
            assert!(signed.contains(from), "{from} not in the signed zone");
            std::fs::write(&path, signed.replace(from, to)).expect("tamper");
        }

        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let conf = format!(
                "options {{ directory \"{dir}\"; pid-file none; \
                 session-keyfile \"{dir}/session.key\"; \
                 listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }}; \
                 recursion no; dnssec-validation no; allow-transfer {{ none; }}; }};\n\
                 controls {{ }};\n\
                 zone \"jp\" {{ type primary; file \"jp.signed\"; }};\n\
                 zone \"example.jp\" {{ type primary; file \"example.jp.signed\"; }};\n\
                 zone \"insecure.jp\" {{ type primary; file \"insecure.jp.db\"; }};\n",
                dir = d.display()
            );
            std::fs::write(d.join("named.conf"), conf).expect("write conf");
            let mut child = std::process::Command::new(&named)
                .arg("-f")
                .arg("-c")
                .arg(d.join("named.conf"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn named");
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            if wait_for_soa(addr, &mut child).await {
                return Bind {
                    addr,
                    anchor: d.join(format!("{test_key}.key")),
                    child,
                    _dir: dir,
                };
            }
            let _ = child.kill();
            if let Ok(out) = child.wait_with_output() {
                last_err = String::from_utf8_lossy(&out.stderr).into_owned();
            }
        }
        panic!("named did not start: {last_err}");
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on 127.0.0.1 for both UDP and TCP right now.
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Polls `addr` for the SOA of example.jp (the last zone to matter)
/// until named answers it, up to 15 s, or named exits.
async fn wait_for_soa(addr: SocketAddr, child: &mut std::process::Child) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut id = 0u16;
    while tokio::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        id = id.wrapping_add(1);
        let mut q = Message::query();
        q.metadata.id = id;
        q.add_query(hickory_proto::op::Query::query(
            Name::from_ascii("example.jp.").expect("name"),
            RecordType::SOA,
        ));
        if let Ok(bytes) = q.to_vec() {
            let _ = sock.send_to(&bytes, addr).await;
        }
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), sock.recv(&mut buf)).await
        {
            if let Ok(resp) = Message::from_vec(&buf[..n]) {
                if resp.metadata.response_code == ResponseCode::NoError && !resp.answers.is_empty()
                {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
