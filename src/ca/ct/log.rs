//! One CT log: its key (the log id is the key's SHA-256), its
//! `add-pre-chain` endpoint (RFC 6962 §4.1), and the check of what it
//! answers. A log that fails in any way gives no SCT, never an error.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::sct::{self, Sct};
use crate::config::CtLogConfig;
use crate::error::{Error, Result};

/// Largest answer read from a log: an SCT is a few hundred octets.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;
const ADD_PRE_CHAIN: &str = "ct/v1/add-pre-chain";

const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

pub struct Log {
    pub name: String,
    pub operator: String,
    id: [u8; 32],
    key: LogKey,
    endpoint: Endpoint,
}

/// The log's public key, as ring verifies with it.
struct LogKey {
    algorithm: &'static dyn ring::signature::VerificationAlgorithm,
    /// TLS SignatureAlgorithm the log's SCTs must name.
    tls_algorithm: u8,
    /// subjectPublicKey contents: an EC point or an RSAPublicKey.
    public: Vec<u8>,
}

struct Endpoint {
    /// The log's URL with `ct/v1/add-pre-chain`, for messages.
    uri: Uri,
    /// Its path, sent in origin form.
    path: String,
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("name", &self.name)
            .field("operator", &self.operator)
            .field("url", &self.endpoint.uri)
            .finish_non_exhaustive()
    }
}

impl Log {
    /// The log `cfg` describes; `tls` is used for an `https://` URL.
    pub fn new(cfg: &CtLogConfig, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Log> {
        let context = |d: String| Error::internal(format!("ct.logs {:?}: {d}", cfg.name));
        let spki = B64
            .decode(cfg.public_key.trim())
            .map_err(|_| context("public_key is not base64".into()))?;
        let key = LogKey::from_spki(&spki).map_err(context)?;
        let endpoint = Endpoint::parse(&cfg.url, tls).map_err(context)?;
        Ok(Log {
            name: cfg.name.clone(),
            operator: cfg.operator.clone(),
            id: sha256(&spki),
            key,
            endpoint,
        })
    }

    /// Submits the chain (precertificate first) and checks the SCT's
    /// signature over `signed` (the RFC 6962 input without timestamp and
    /// extensions, which the SCT supplies: see `sct::signed_input`).
    pub async fn submit(
        &self,
        chain: &[&[u8]],
        timeout: Duration,
        signed: impl Fn(u64, &[u8]) -> std::result::Result<Vec<u8>, String>,
    ) -> std::result::Result<Sct, String> {
        let body: Vec<String> = chain.iter().map(|c| B64.encode(c)).collect();
        let body =
            serde_json::to_vec(&serde_json::json!({ "chain": body })).map_err(|e| e.to_string())?;
        let answer = tokio::time::timeout(timeout, self.endpoint.post(body))
            .await
            .map_err(|_| format!("no answer within {}s", timeout.as_secs()))??;
        let sct = Sct::from_json(&answer)?;
        self.verify(&sct, &signed(sct.timestamp, &sct.extensions)?)?;
        Ok(sct)
    }

    /// The SCT is this log's, and its signature verifies over `input`.
    pub fn verify(&self, sct: &Sct, input: &[u8]) -> std::result::Result<(), String> {
        if sct.log_id != self.id {
            return Err("SCT log id is not this log's key".into());
        }
        if sct.hash_algorithm != sct::SHA256 || sct.signature_algorithm != self.key.tls_algorithm {
            return Err(format!(
                "SCT signature algorithm ({}, {}) is not this log's",
                sct.hash_algorithm, sct.signature_algorithm
            ));
        }
        ring::signature::UnparsedPublicKey::new(self.key.algorithm, &self.key.public)
            .verify(input, &sct.signature)
            .map_err(|_| "SCT signature does not verify with the log's key".to_owned())
    }
}

impl LogKey {
    fn from_spki(der: &[u8]) -> std::result::Result<LogKey, String> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| format!("public_key is not a SubjectPublicKeyInfo: {e}"))?;
        if !rest.is_empty() {
            return Err("public_key has trailing data".into());
        }
        let alg = spki.algorithm.algorithm.to_id_string();
        let params = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string());
        let (algorithm, tls_algorithm): (&'static dyn ring::signature::VerificationAlgorithm, u8) =
            match (alg.as_str(), params.as_deref()) {
                (EC_PUBLIC_KEY, Some(P256)) => {
                    (&ring::signature::ECDSA_P256_SHA256_ASN1, sct::ECDSA)
                }
                (RSA_ENCRYPTION, _) => (&ring::signature::RSA_PKCS1_2048_8192_SHA256, sct::RSA),
                _ => return Err(format!("public_key {alg} is not ECDSA P-256 or RSA")),
            };
        Ok(LogKey {
            algorithm,
            tls_algorithm,
            public: spki.subject_public_key.data.to_vec(),
        })
    }
}

impl Endpoint {
    fn parse(
        url: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> std::result::Result<Endpoint, String> {
        let base: Uri = url
            .parse()
            .map_err(|_| format!("url {url:?} does not parse"))?;
        let https = match base.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("url {url:?} is not http:// or https://")),
        };
        let host = base
            .host()
            .ok_or(format!("url {url:?} has no host"))?
            .to_owned();
        let port = base.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = base.path().trim_end_matches('/');
        let path = format!("{path}/{ADD_PRE_CHAIN}");
        let authority = base.authority().map_or(host.as_str(), |a| a.as_str());
        let scheme = if https { "https" } else { "http" };
        let uri: Uri = format!("{scheme}://{authority}{path}")
            .parse()
            .map_err(|_| format!("url {url:?} does not make a valid endpoint"))?;
        let tls = if https {
            let cfg = tls.ok_or("https:// needs ct.roots_file")?;
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                .map_err(|_| format!("url {url:?}: host is not a TLS server name"))?;
            Some((TlsConnector::from(cfg), name))
        } else {
            None
        };
        Ok(Endpoint {
            uri,
            path,
            host,
            port,
            tls,
        })
    }

    /// One HTTP/1.1 POST on a connection of its own; the body of a 200
    /// answer, read up to [`MAX_ANSWER_BYTES`].
    async fn post(&self, body: Vec<u8>) -> std::result::Result<Bytes, String> {
        let tcp = TcpStream::connect((self.host.trim_matches(['[', ']']), self.port))
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                self.exchange(TokioIo::new(tls), body).await
            }
            None => self.exchange(TokioIo::new(tcp), body).await,
        }
    }

    async fn exchange<T>(&self, io: TokioIo<T>, body: Vec<u8>) -> std::result::Result<Bytes, String>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = http1::handshake::<_, Full<Bytes>>(io)
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(conn);
        let authority = self
            .uri
            .authority()
            .map_or(self.host.as_str(), |a| a.as_str());
        let request = Request::post(self.path.as_str())
            .header(HOST, authority)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|_| format!("answer is unreadable or over {MAX_ANSWER_BYTES} octets"))?
            .to_bytes();
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(format!("HTTP {status}: {text}"));
        }
        Ok(body)
    }
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}
