//! A Certificate Transparency log for tests (RFC 6962 §4.1, §4.7):
//! `POST /ct/v1/add-pre-chain` answers an SCT signed with the log's own
//! ECDSA P-256 key over what the chain says (the precertificate's TBS
//! without the poison, the issuer's key hash), `GET /ct/v1/get-roots`
//! lists the issuers it has seen. It runs on 127.0.0.1 in the test's
//! runtime and can be taken down and brought back on the same port.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use trustgate::ca::ct::{sct, tbs};
use x509_parser::prelude::{FromDer, X509Certificate};

/// DER prefix of a P-256 SubjectPublicKeyInfo before the 65-octet point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

pub struct CtLog {
    pub name: String,
    pub operator: String,
    addr: SocketAddr,
    state: Arc<State>,
    task: Mutex<Option<JoinHandle<()>>>,
}

struct State {
    key: EcdsaKeyPair,
    spki: Vec<u8>,
    /// Precertificates accepted, DER.
    accepted: Mutex<Vec<Vec<u8>>>,
    roots: Mutex<Vec<Vec<u8>>>,
}

impl CtLog {
    /// A log on a free port of 127.0.0.1, up.
    pub async fn start(name: &str, operator: &str) -> CtLog {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .expect("key");
        let spki = [P256_SPKI_PREFIX, key.public_key().as_ref()].concat();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State {
            key,
            spki,
            accepted: Mutex::default(),
            roots: Mutex::default(),
        });
        let log = CtLog {
            name: name.into(),
            operator: operator.into(),
            addr,
            state,
            task: Mutex::new(None),
        };
        log.serve(listener);
        log
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Base64 of the DER SubjectPublicKeyInfo, as `ct.logs.public_key`.
    pub fn public_key_b64(&self) -> String {
        B64.encode(&self.state.spki)
    }

    pub fn public_key_der(&self) -> Vec<u8> {
        self.state.spki.clone()
    }

    /// The `[[ct.logs]]` entry of this log.
    pub fn config(&self) -> trustgate::config::CtLogConfig {
        trustgate::config::CtLogConfig {
            name: self.name.clone(),
            url: self.url(),
            public_key: self.public_key_b64(),
            operator: self.operator.clone(),
        }
    }

    /// The TOML of the entry, for a config file.
    pub fn toml(&self) -> String {
        format!(
            "[[ct.logs]]\nname = \"{}\"\nurl = \"{}\"\npublic_key = \"{}\"\noperator = \"{}\"\n",
            self.name,
            self.url(),
            self.public_key_b64(),
            self.operator
        )
    }

    /// The `i`-th precertificate accepted, DER.
    pub fn accepted_der(&self, i: usize) -> Vec<u8> {
        self.state.accepted.lock().expect("lock")[i].clone()
    }

    pub fn accepted(&self) -> usize {
        self.state.accepted.lock().expect("lock").len()
    }

    /// Stops listening: connections are refused.
    pub fn down(&self) {
        if let Some(t) = self.task.lock().expect("lock").take() {
            t.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn up(&self) {
        self.down();
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("rebinding {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let state = self.state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(handle(conn, state.clone()));
            }
        });
        *self.task.lock().expect("lock") = Some(task);
    }
}

impl Drop for CtLog {
    fn drop(&mut self) {
        self.down();
    }
}

/// One request on its own connection (the CA sends one per connection).
async fn handle(mut conn: TcpStream, state: Arc<State>) {
    let Some((head, body)) = read_request(&mut conn).await else {
        return;
    };
    let (status, answer) = if head.starts_with("POST /ct/v1/add-pre-chain ") {
        match add_pre_chain(&state, &body) {
            Ok(json) => ("200 OK", json),
            Err(why) => ("400 Bad Request", why),
        }
    } else if head.starts_with("GET /ct/v1/get-roots ") {
        let roots: Vec<String> = state
            .roots
            .lock()
            .expect("lock")
            .iter()
            .map(|r| B64.encode(r))
            .collect();
        (
            "200 OK",
            serde_json::json!({ "certificates": roots }).to_string(),
        )
    } else {
        ("404 Not Found", "not found".into())
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = conn.write_all(reply.as_bytes()).await;
    let _ = conn.shutdown().await;
}

/// The request line and headers, and the body (by content-length).
async fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0; 8192];
    loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            return Some((head, buf[end + 4..end + 4 + len].to_vec()));
        }
    }
}

/// Signs an SCT for the chain, as a log does (RFC 6962 §3.2).
fn add_pre_chain(state: &State, body: &[u8]) -> Result<String, String> {
    let req: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let chain: Vec<Vec<u8>> = req["chain"]
        .as_array()
        .ok_or("no chain")?
        .iter()
        .map(|c| {
            B64.decode(c.as_str().unwrap_or_default())
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    if chain.len() < 2 {
        return Err("the chain needs the precertificate and its issuer".into());
    }
    let (_, pre) = X509Certificate::from_der(&chain[0]).map_err(|e| e.to_string())?;
    let (_, issuer) = X509Certificate::from_der(&chain[1]).map_err(|e| e.to_string())?;
    pre.verify_signature(Some(issuer.public_key()))
        .map_err(|_| "the precertificate is not signed by the next certificate".to_string())?;
    let tbs = tbs::without_extension(pre.tbs_certificate.as_ref(), tbs::POISON_OID)?;
    let issuer_key_hash = sha256(issuer.public_key().raw);
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as u64;
    let input = sct::signed_input(timestamp, &issuer_key_hash, &tbs, &[])?;
    let sig = state
        .key
        .sign(&SystemRandom::new(), &input)
        .map_err(|_| "signing failed")?;
    let sig = sig.as_ref();
    let signed = [
        &[sct::SHA256, sct::ECDSA][..],
        &(sig.len() as u16).to_be_bytes(),
        sig,
    ]
    .concat();
    state.accepted.lock().expect("lock").push(chain[0].clone());
    let mut roots = state.roots.lock().expect("lock");
    if !roots.contains(&chain[1]) {
        roots.push(chain[1].clone());
    }
    Ok(serde_json::json!({
        "sct_version": 0,
        "id": B64.encode(sha256(&state.spki)),
        "timestamp": timestamp,
        "extensions": "",
        "signature": B64.encode(signed),
    })
    .to_string())
}

fn sha256(b: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, b);
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}
