//! A perspective on 127.0.0.1:0 with its own fake DNS (A → 127.0.0.1,
//! TXT and CAA from a zone) and an http-01 responder that counts hits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use trustgate::config::{PerspectiveConfig, RemotePerspectiveConfig, VaConfig};
use trustgate::core::{Clock, Region};
use trustgate::perspective::pki::DevPki;
use trustgate::perspective::{self, Perspective};
use trustgate::va::remote::client::MtlsPerspective;

/// The name every check is about: public-looking, resolved by the fake DNS.
pub const NAME: &str = "www.example.com";
pub const TOKEN: &str = "tok_1";
pub const KEY_AUTHZ: &str = "tok_1.thumbprint";

/// A running perspective and what it validates against.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub pki: DevPki,
    pub addr: SocketAddr,
    pub dns: Dns,
    pub http01: Http01,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<()>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.served.abort();
    }
}

impl Setup {
    pub async fn start() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let pki = dev_pki(&dir.path().join("pki"), "p1");
        let dns = Dns::start().await;
        let http01 = Http01::start(KEY_AUTHZ).await;
        let va = VaConfig {
            resolvers: vec![dns.addr],
            allow_loopback: true,
            http01_port: http01.port,
            dnssec: false,
            timeout_secs: 2,
            ..VaConfig::default()
        };
        let cfg = PerspectiveConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            region: Region::Ripe,
            tls_cert: pki.server_cert.clone(),
            tls_key: pki.server_key.clone(),
            client_ca: pki.ca_cert.clone(),
        };
        let tls = perspective::tls_config(&cfg).unwrap();
        let service = Arc::new(Perspective::new(&va, Clock::system()).unwrap());
        let listener = TcpListener::bind(cfg.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(perspective::serve(listener, tls, service, async {
            let _ = stopped.await;
        }));
        Setup {
            dir,
            pki,
            addr,
            dns,
            http01,
            stop: Some(stop),
            served,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// The primary's configuration of this perspective.
    pub fn remote_config(&self) -> RemotePerspectiveConfig {
        RemotePerspectiveConfig {
            name: "p1".into(),
            url: self.url(),
            region: Region::Ripe,
            ca_cert: self.pki.ca_cert.clone(),
            client_cert: self.pki.client_cert.clone(),
            client_key: self.pki.client_key.clone(),
        }
    }

    pub fn client(&self) -> MtlsPerspective {
        MtlsPerspective::new(&self.remote_config(), Duration::from_secs(5)).unwrap()
    }

    /// Another PKI's files under this setup's directory.
    pub fn other_pki(&self, name: &str) -> DevPki {
        dev_pki(&self.dir.path().join(name), name)
    }

    /// Stops serving and waits until the port is closed.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), &mut self.served).await;
    }
}

pub fn dev_pki(dir: &Path, name: &str) -> DevPki {
    let hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    DevPki::generate(dir, name, &hosts, Clock::system().now()).unwrap()
}

pub fn paths(p: &DevPki) -> [PathBuf; 3] {
    [
        p.ca_cert.clone(),
        p.client_cert.clone(),
        p.client_key.clone(),
    ]
}

/// Serves `key_authorization` for every http-01 request and counts them.
pub struct Http01 {
    pub port: u16,
    pub hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Http01 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Http01 {
    pub async fn start(key_authorization: &'static str) -> Http01 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let count = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf).await;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{key_authorization}",
                        key_authorization.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Http01 { port, hits, task }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

type Zone = Arc<Mutex<HashMap<String, Vec<Rr>>>>;

#[derive(Clone)]
enum Rr {
    Txt(String),
    /// (critical, tag, value)
    Caa(bool, String, String),
}

/// Answers A with 127.0.0.1, AAAA with nothing, TXT and CAA from its zone.
pub struct Dns {
    pub addr: SocketAddr,
    zone: Zone,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Dns {
    pub fn txt(&self, owner: &str, value: &str) {
        self.add(owner, Rr::Txt(value.into()));
    }

    pub fn caa(&self, owner: &str, tag: &str, value: &str) {
        self.add(owner, Rr::Caa(false, tag.into(), value.into()));
    }

    fn add(&self, owner: &str, rr: Rr) {
        let mut zone = self.zone.lock().unwrap();
        zone.entry(owner.to_ascii_lowercase()).or_default().push(rr);
    }

    pub async fn start() -> Dns {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let zone: Zone = Arc::default();
        let records = zone.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                if let Some(bytes) = answer(&buf[..n], &records) {
                    let _ = sock.send_to(&bytes, peer).await;
                }
            }
        });
        Dns { addr, zone, task }
    }
}

fn answer(query: &[u8], zone: &Zone) -> Option<Vec<u8>> {
    use hickory_proto::op::{Message, MessageType, ResponseCode};
    use hickory_proto::rr::{RData, Record, RecordType};
    use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};
    let q = Message::from_bytes(query).ok()?;
    let mut resp = Message::response(q.metadata.id, q.metadata.op_code);
    resp.metadata.message_type = MessageType::Response;
    resp.metadata.authoritative = true;
    resp.metadata.recursion_desired = q.metadata.recursion_desired;
    resp.metadata.response_code = ResponseCode::NoError;
    for query in &q.queries {
        resp.add_query(query.clone());
        let name = query.name().clone();
        let owner = name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
        let rrs = zone
            .lock()
            .unwrap()
            .get(&owner)
            .cloned()
            .unwrap_or_default();
        let rdata: Vec<RData> = match query.query_type() {
            RecordType::A => vec![RData::A(std::net::Ipv4Addr::LOCALHOST.into())],
            RecordType::TXT => rrs
                .iter()
                .filter_map(|r| match r {
                    Rr::Txt(v) => Some(RData::TXT(hickory_proto::rr::rdata::TXT::new(vec![
                        v.clone()
                    ]))),
                    _ => None,
                })
                .collect(),
            RecordType::CAA => rrs
                .iter()
                .filter_map(|r| match r {
                    Rr::Caa(critical, tag, value) => {
                        let mut c = hickory_proto::rr::rdata::CAA::new_issue(false, None, vec![]);
                        c.issuer_critical = *critical;
                        c.tag = tag.clone();
                        c.value = value.clone().into_bytes();
                        Some(RData::CAA(c))
                    }
                    _ => None,
                })
                .collect(),
            _ => vec![],
        };
        for r in rdata {
            resp.add_answer(Record::from_rdata(name.clone(), 60, r));
        }
    }
    resp.to_bytes().ok()
}
