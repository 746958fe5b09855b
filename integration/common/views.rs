//! One network view each: a DNS responder whose answers the test sets per
//! name (which address a name has, whether a CAA record forbids issuance),
//! and the attacker's web site a hijacked name points at.
//!
//! A name resolves to [`GOOD_ADDR`] unless hijacked in that view, then to
//! [`ATTACKER_ADDR`]; both are loopback, so each network namespace's
//! loopback decides what answers there.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType};
use hickory_proto::rr::rdata::{A, CAA};
use hickory_proto::rr::{RData, Record, RecordType};

/// Where a name points in a view that sees it right.
pub const GOOD_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// Where a hijacked name points: the attacker's responder.
pub const ATTACKER_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// What the attacker's site serves for every token.
pub const ATTACKER_KEY_AUTHORIZATION: &str = "attacker-token.attacker-thumbprint";
/// The issuer a forbidding CAA record names (not this CA).
const OTHER_CA: &str = "other-ca.example.net";

/// How long the server threads block before checking for shutdown.
const POLL: Duration = Duration::from_millis(50);

#[derive(Default)]
struct Answers {
    hijacked: BTreeSet<String>,
    caa_forbidden: BTreeSet<String>,
}

/// A DNS responder giving one view.
pub struct ViewDns {
    addr: SocketAddr,
    answers: Arc<Mutex<Answers>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ViewDns {
    /// Serves on `ip`, a port the OS picks.
    pub fn start(ip: Ipv4Addr) -> ViewDns {
        let socket = UdpSocket::bind((ip, 0)).expect("binding a view's DNS socket");
        socket.set_read_timeout(Some(POLL)).expect("DNS timeout");
        let addr = socket.local_addr().expect("DNS socket address");
        let answers = Arc::new(Mutex::new(Answers::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (answers, stop) = (answers.clone(), stop.clone());
            std::thread::spawn(move || serve_dns(&socket, &answers, &stop))
        };
        ViewDns {
            addr,
            answers,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// In this view `name` points at the attacker.
    pub fn hijack(&self, name: &str) {
        self.answers
            .lock()
            .unwrap()
            .hijacked
            .insert(name.to_owned());
    }

    /// In this view `name` has a CAA record naming another CA only.
    pub fn forbid_by_caa(&self, name: &str) {
        self.answers
            .lock()
            .unwrap()
            .caa_forbidden
            .insert(name.to_owned());
    }
}

impl Drop for ViewDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_dns(socket: &UdpSocket, answers: &Mutex<Answers>, stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let (len, peer) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => {
                eprintln!("view DNS: receive failed: {e}");
                continue;
            }
        };
        let Ok(request) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        if request.metadata.message_type != MessageType::Query {
            continue;
        }
        let response = answer(&request, &answers.lock().unwrap());
        if let Ok(bytes) = response.to_vec() {
            let _ = socket.send_to(&bytes, peer);
        }
    }
}

fn answer(request: &Message, answers: &Answers) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.add_queries(request.queries.iter().cloned());
    if request.edns.is_some() {
        response.set_edns(Edns::new());
    }
    for q in &request.queries {
        let name = q.name().clone();
        let key = name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
        let rdata = match q.query_type() {
            RecordType::A if answers.hijacked.contains(&key) => Some(RData::A(A(ATTACKER_ADDR))),
            RecordType::A => Some(RData::A(A(GOOD_ADDR))),
            RecordType::CAA if answers.caa_forbidden.contains(&key) => {
                let mut caa = CAA::new_issue(false, None, vec![]);
                caa.value = OTHER_CA.as_bytes().to_vec();
                Some(RData::CAA(caa))
            }
            _ => None,
        };
        if let Some(rdata) = rdata {
            response.add_answer(Record::from_rdata(name, 60, rdata));
        }
    }
    response
}

/// The attacker's web site: every request gets a key authorization that
/// is not the account's.
pub struct AttackerSite {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AttackerSite {
    pub fn start(addr: SocketAddr) -> AttackerSite {
        let listener = TcpListener::bind(addr).expect("binding the attacker's site");
        listener.set_nonblocking(true).expect("nonblocking accept");
        let addr = listener.local_addr().expect("attacker's site address");
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || serve_http(&listener, &requests, &stop))
        };
        AttackerSite {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far: who was sent here did come.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for AttackerSite {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_http(listener: &TcpListener, requests: &AtomicUsize, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                requests.fetch_add(1, Ordering::Relaxed);
                std::thread::spawn(move || answer_wrongly(stream));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => eprintln!("attacker's site: accept failed: {e}"),
        }
    }
}

/// Reads the request head, then answers 200 with a wrong key authorization.
fn answer_wrongly(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = ATTACKER_KEY_AUTHORIZATION;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
