//! The built-in http-01 responder (key authorizations of every account)
//! and an optional tiny DNS responder (every A query → 127.0.0.1).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, UdpSocket};

const PREFIX: &str = "/.well-known/acme-challenge/";

/// token → key authorization.
#[derive(Clone, Default)]
pub struct Tokens(Arc<Mutex<HashMap<String, String>>>);

impl Tokens {
    pub fn insert(&self, token: &str, key_authz: String) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.to_owned(), key_authz);
    }
    pub fn remove(&self, token: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
    }
    fn get(&self, token: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned()
    }
}

/// Binds `addr` and serves http-01 until the process exits.
pub async fn serve_http01(addr: SocketAddr, tokens: Tokens) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tokens = tokens.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let tokens = tokens.clone();
                    async move { Ok::<_, Infallible>(answer(&tokens, &req)) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(())
}

fn answer(tokens: &Tokens, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let found = req
        .uri()
        .path()
        .strip_prefix(PREFIX)
        .and_then(|t| tokens.get(t));
    let (status, body) = match found {
        Some(ka) => (StatusCode::OK, Bytes::from(ka)),
        None => (
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"unknown token\n"),
        ),
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp
}

/// Binds a UDP socket and answers every A query with 127.0.0.1 and every
/// other type with an empty NOERROR answer (so CAA finds no records).
pub async fn serve_dns(addr: SocketAddr) -> std::io::Result<()> {
    let sock = UdpSocket::bind(addr).await?;
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                continue;
            };
            if let Some(reply) = dns_reply(&buf[..n]) {
                let _ = sock.send_to(&reply, peer).await;
            }
        }
    });
    Ok(())
}

fn dns_reply(q: &[u8]) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    // The question: labels up to the root, then QTYPE and QCLASS.
    let mut i = 12;
    loop {
        let len = *q.get(i)? as usize;
        if len & 0xc0 != 0 {
            return None;
        }
        i += 1 + len;
        if len == 0 {
            break;
        }
    }
    let question = q.get(12..i + 4)?;
    let qtype = u16::from_be_bytes([q[i], q[i + 1]]);
    let is_a = qtype == 1;
    let mut r = Vec::with_capacity(question.len() + 28);
    r.extend_from_slice(&q[0..2]); // id
    r.push(0x84 | (q[2] & 0x01)); // QR, AA, RD copied
    r.push(0x80); // RA, NOERROR
    r.extend_from_slice(&[0, 1, 0, u8::from(is_a), 0, 0, 0, 0]);
    r.extend_from_slice(question);
    if is_a {
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::dns_reply;

    #[test]
    fn a_query_gets_loopback() {
        // id 0x1234, RD, one question: a.jp A IN
        let q = [
            0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 4, b't', b'e', b's', b't', 0,
            0, 1, 0, 1,
        ];
        let r = dns_reply(&q).unwrap();
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        assert_eq!(r[7], 1);
        assert_eq!(&r[r.len() - 4..], &[127, 0, 0, 1]);
    }
}
