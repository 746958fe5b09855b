//! A tiny authoritative DNS responder on loopback UDP, the resolver the
//! server's VA is pointed at (`va.resolvers`).
//!
//! Every A query is answered with 127.0.0.1, every other type with an empty
//! NOERROR answer (so AAAA gives "no records" and the VA uses IPv4), except
//! names whose first label is [`NXDOMAIN_LABEL`], which get NXDOMAIN.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

/// `nx.example.jp`, `nx.anything` … do not exist.
pub const NXDOMAIN_LABEL: &str = "nx";

/// How long the responder thread blocks before checking for shutdown.
const POLL: Duration = Duration::from_millis(100);

pub struct DnsResponder {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    queries: Arc<Mutex<BTreeSet<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl DnsResponder {
    pub fn start() -> DnsResponder {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding the DNS socket");
        socket
            .set_read_timeout(Some(POLL))
            .expect("setting the DNS socket timeout");
        let addr = socket.local_addr().expect("DNS socket address");
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(Mutex::new(BTreeSet::new()));
        let thread = {
            let (stop, queries) = (stop.clone(), queries.clone());
            std::thread::Builder::new()
                .name(format!("dns-{}", addr.port()))
                .spawn(move || serve(&socket, &stop, &queries))
                .expect("spawning the DNS thread")
        };
        DnsResponder {
            addr,
            stop,
            queries,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether anyone asked for `name` (any type), i.e. whether the server
    /// really resolved it through us.
    pub fn was_queried(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.queries.lock().unwrap().contains(&name)
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(socket: &UdpSocket, stop: &AtomicBool, queries: &Mutex<BTreeSet<String>>) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let (len, peer) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => {
                eprintln!("test DNS responder: receive failed: {e}");
                continue;
            }
        };
        let Ok(request) = Message::from_vec(&buf[..len]) else {
            continue; // not DNS; a real server would answer FORMERR
        };
        if request.metadata.message_type != MessageType::Query {
            continue;
        }
        for q in &request.queries {
            let name = q
                .name()
                .to_ascii()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            queries.lock().unwrap().insert(name);
        }
        match answer(&request).to_vec() {
            Ok(bytes) => {
                let _ = socket.send_to(&bytes, peer);
            }
            Err(e) => eprintln!("test DNS responder: encoding the answer: {e}"),
        }
    }
}

fn answer(request: &Message) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.add_queries(request.queries.iter().cloned());
    if request.edns.is_some() {
        // RFC 6891 §6.1.1: a query with OPT gets an answer with OPT.
        response.set_edns(Edns::new());
    }
    for q in &request.queries {
        let name = q.name().clone();
        let first_label = name
            .to_ascii()
            .split('.')
            .next()
            .map(str::to_ascii_lowercase);
        if first_label.as_deref() == Some(NXDOMAIN_LABEL) {
            response.metadata.response_code = ResponseCode::NXDomain;
            continue;
        }
        if q.query_type() == RecordType::A {
            response.add_answer(Record::from_rdata(
                name,
                60,
                RData::A(A(Ipv4Addr::LOCALHOST)),
            ));
        }
    }
    response
}
