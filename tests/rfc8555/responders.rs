//! Challenge responders on loopback for the validation tests: a raw-TCP
//! HTTP server whose every byte a test scripts (redirects, huge and slow
//! bodies), and a TLS server answering tls-alpn-01 (RFC 8737) with the
//! certificate a test installs per name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{CertificateParams, CustomExtension, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One request as the HTTP responder saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Lower case, without the port.
    pub host: String,
    /// Path and query.
    pub path: String,
}

/// What the HTTP responder sends back on one connection.
pub enum Reply {
    /// These bytes, then close.
    Bytes(Vec<u8>),
    /// `head`, then `body_len` bytes of `x` one per `every`, then close:
    /// a slow-loris server that is never quite silent.
    Drip {
        head: Vec<u8>,
        body_len: usize,
        every: Duration,
    },
}

/// A complete response with a Content-Length, closing the connection.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Reply::Bytes(bytes)
}

pub fn redirect(location: &str) -> Reply {
    response("302 Found", &[("Location", location)], b"")
}

/// A raw-TCP HTTP/1.1 responder; `respond` decides each reply.
pub struct HttpResponder {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for HttpResponder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpResponder {
    pub async fn start<F>(respond: F) -> HttpResponder
    where
        F: Fn(&Seen, u16) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let respond = Arc::new(respond);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, respond) = (log.clone(), respond.clone());
                tokio::spawn(async move {
                    let _ = serve_one(stream, port, &log, respond.as_ref()).await;
                });
            }
        });
        HttpResponder { port, seen, task }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn serve_one<F>(
    mut stream: TcpStream,
    port: u16,
    log: &Mutex<Vec<Seen>>,
    respond: &F,
) -> std::io::Result<()>
where
    F: Fn(&Seen, u16) -> Reply,
{
    // The request head: the VA sends no body.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let path = text
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_default()
        .to_owned();
    let host = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("host").then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(h, _)| h)
        .to_ascii_lowercase();
    let seen = Seen { host, path };
    log.lock().expect("lock").push(seen.clone());
    match respond(&seen, port) {
        Reply::Bytes(b) => stream.write_all(&b).await?,
        Reply::Drip {
            head,
            body_len,
            every,
        } => {
            stream.write_all(&head).await?;
            for _ in 0..body_len {
                tokio::time::sleep(every).await;
                stream.write_all(b"x").await?;
            }
        }
    }
    stream.shutdown().await
}

/// A tls-alpn-01 responder (RFC 8737 §3): negotiates only `acme-tls/1`
/// and presents the certificate installed for the SNI name.
pub struct AlpnResponder {
    pub port: u16,
    certs: Arc<Mutex<HashMap<String, Arc<rustls::sign::CertifiedKey>>>>,
    /// Every ClientHello.
    pub hellos: Arc<Mutex<Vec<Hello>>>,
    task: JoinHandle<()>,
}

impl Drop for AlpnResponder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a ClientHello asked for: (SNI, ALPN protocols offered).
pub type Hello = (Option<String>, Vec<Vec<u8>>);

#[derive(Debug)]
struct BySni(Arc<Mutex<HashMap<String, Arc<rustls::sign::CertifiedKey>>>>);

impl rustls::server::ResolvesServerCert for BySni {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        self.0.lock().expect("lock").get(&name).cloned()
    }
}

impl AlpnResponder {
    pub async fn start() -> AlpnResponder {
        let certs = Arc::new(Mutex::new(HashMap::new()));
        // Not `with_single_cert`: webpki refuses a certificate with an
        // unknown critical extension, which acmeIdentifier is to it.
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(BySni(certs.clone())));
        cfg.alpn_protocols = vec![b"acme-tls/1".to_vec()];
        let cfg = Arc::new(cfg);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hellos = Arc::new(Mutex::new(Vec::new()));
        let log = hellos.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (cfg, log) = (cfg.clone(), log.clone());
                tokio::spawn(async move {
                    let acceptor = tokio_rustls::LazyConfigAcceptor::new(
                        rustls::server::Acceptor::default(),
                        tcp,
                    );
                    let Ok(start) = acceptor.await else { return };
                    let hello = start.client_hello();
                    log.lock().expect("lock").push((
                        hello.server_name().map(str::to_owned),
                        hello
                            .alpn()
                            .map(|ps| ps.map(<[u8]>::to_vec).collect())
                            .unwrap_or_default(),
                    ));
                    if let Ok(mut tls) = start.into_stream(cfg).await {
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        AlpnResponder {
            port,
            certs,
            hellos,
            task,
        }
    }

    /// Presents a self-signed certificate for `name` whose critical
    /// acmeIdentifier extension holds SHA-256 of `key_authorization`
    /// (RFC 8737 §3).
    pub fn install(&self, name: &str, key_authorization: &str) {
        let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("params");
        params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest.as_ref())];
        let cert = params.self_signed(&key).expect("self-signed");
        let signing_key = rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                key.serialize_der(),
            )))
            .expect("signing key");
        let certified = rustls::sign::CertifiedKey::new(vec![cert.der().clone()], signing_key);
        self.certs
            .lock()
            .expect("lock")
            .insert(name.to_ascii_lowercase(), Arc::new(certified));
    }
}
