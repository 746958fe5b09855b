//! Test doubles shared by the VA's unit tests: a tiny authoritative DNS
//! responder (hickory-proto) and a raw-TCP HTTP responder whose replies a
//! test scripts byte for byte, including misbehaving ones.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, TXT};
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// Answers every name with A 127.0.0.1 and an empty (NOERROR) AAAA, except:
/// `servfail.test.` → SERVFAIL, `nx.test.` → NXDOMAIN, `v6.test.` → AAAA ::1
/// plus A 127.0.0.1, `_acme-challenge.example.test.` TXT "part1" "part2".
pub struct DnsServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl DnsServer {
    pub async fn start() -> DnsServer {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind dns");
        let addr = sock.local_addr().expect("dns addr");
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(req) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if let Ok(bytes) = answer(&req).to_vec() {
                    let _ = sock.send_to(&bytes, peer).await;
                }
            }
        });
        DnsServer { addr, task }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(req: &Message) -> Message {
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
    match (name.as_str(), q.query_type()) {
        ("servfail.test.", _) => resp.metadata.response_code = ResponseCode::ServFail,
        ("nx.test.", _) => resp.metadata.response_code = ResponseCode::NXDomain,
        ("v6.test.", RecordType::AAAA) => {
            resp.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
            ));
        }
        ("_acme-challenge.example.test.", RecordType::TXT) => {
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
