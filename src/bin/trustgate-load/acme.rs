//! The ACME side: account keys, JWS (ES256 with ring), accounts with EAB,
//! and one order's flow, timed phase by phase.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use bytes::Bytes;
use hyper::header;
use hyper::Method;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use super::http::{Conn, Response};
use super::responder::Tokens;
use super::{FlowError, Phase, PollSettings};

const JOSE: &str = "application/jose+json";
/// Attempts of one POST when the server answers badNonce (RFC 8555 §6.5:
/// the client retries with the nonce from the error response).
const BAD_NONCE_ATTEMPTS: u32 = 5;
const BAD_NONCE: &str = "urn:ietf:params:acme:error:badNonce";

pub struct Directory {
    pub new_nonce: String,
    pub new_account: String,
    pub new_order: String,
    pub eab_required: bool,
}

impl Directory {
    pub async fn fetch(conn: &mut Conn, url: &str) -> Result<Directory, FlowError> {
        let resp = conn.send(Method::GET, url, None, Bytes::new()).await?;
        if !resp.status.is_success() {
            return Err(resp.problem());
        }
        let d = resp.json()?;
        let s = |k: &str| {
            d.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| FlowError::new("client:directory", format!("directory has no {k}")))
        };
        Ok(Directory {
            new_nonce: s("newNonce")?,
            new_account: s("newAccount")?,
            new_order: s("newOrder")?,
            eab_required: d
                .pointer("/meta/externalAccountRequired")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// An ES256 account key and, once registered, its URL.
pub struct Account {
    key: EcdsaKeyPair,
    /// The key's PKCS#8 document, for `--record` (a later run signs as
    /// the same account).
    pub pkcs8: Vec<u8>,
    jwk: Value,
    pub thumbprint: String,
    pub kid: String,
}

impl Account {
    pub fn generate(rng: &SystemRandom) -> Result<Account, String> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng)
            .map_err(|_| "generating a P-256 key failed".to_owned())?;
        Account::from_pkcs8(rng, pkcs8.as_ref(), String::new())
    }

    /// The account of a P-256 PKCS#8 key, registered at `kid` (empty
    /// until it is).
    pub fn from_pkcs8(rng: &SystemRandom, pkcs8: &[u8], kid: String) -> Result<Account, String> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, rng)
            .map_err(|_| "loading the P-256 key failed".to_owned())?;
        // Uncompressed point: 0x04 ‖ x ‖ y.
        let point = key.public_key().as_ref();
        if point.len() != 65 {
            return Err("unexpected P-256 public key encoding".into());
        }
        let x = B64.encode(&point[1..33]);
        let y = B64.encode(&point[33..65]);
        // RFC 7638: members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = B64.encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        ));
        Ok(Account {
            key,
            pkcs8: pkcs8.to_vec(),
            jwk: json!({"crv": "P-256", "kty": "EC", "x": x, "y": y}),
            thumbprint,
            kid,
        })
    }

    /// A flattened JWS. `payload: None` is POST-as-GET (empty payload).
    fn jws(
        &self,
        rng: &SystemRandom,
        url: &str,
        nonce: &str,
        payload: Option<&Value>,
        use_jwk: bool,
    ) -> Result<Bytes, FlowError> {
        let mut protected = json!({"alg": "ES256", "nonce": nonce, "url": url});
        if use_jwk {
            protected["jwk"] = self.jwk.clone();
        } else {
            protected["kid"] = Value::String(self.kid.clone());
        }
        let protected = B64.encode(protected.to_string());
        let payload = match payload {
            Some(p) => B64.encode(p.to_string()),
            None => String::new(),
        };
        let input = format!("{protected}.{payload}");
        let sig = self
            .key
            .sign(rng, input.as_bytes())
            .map_err(|_| FlowError::new("client:sign", "ES256 signing failed"))?;
        let body = json!({
            "protected": protected,
            "payload": payload,
            "signature": B64.encode(sig.as_ref()),
        });
        Ok(Bytes::from(body.to_string()))
    }

    /// The External Account Binding JWS (RFC 8555 §7.3.4).
    fn eab(&self, url: &str, kid: &str, hmac: &[u8]) -> Value {
        let protected = B64.encode(json!({"alg": "HS256", "kid": kid, "url": url}).to_string());
        let payload = B64.encode(self.jwk.to_string());
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, hmac);
        let tag = ring::hmac::sign(&key, format!("{protected}.{payload}").as_bytes());
        json!({"protected": protected, "payload": payload, "signature": B64.encode(tag.as_ref())})
    }
}

/// Signs and sends a POST with a pooled nonce, retrying on badNonce.
pub async fn post(
    conn: &mut Conn,
    rng: &SystemRandom,
    dir: &Directory,
    acct: &Account,
    url: &str,
    payload: Option<&Value>,
    use_jwk: bool,
) -> Result<Response, FlowError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let nonce = conn.nonce(&dir.new_nonce).await?;
        let body = acct.jws(rng, url, &nonce, payload, use_jwk)?;
        let resp = conn.send(Method::POST, url, Some(JOSE), body).await?;
        if resp.status.is_success() {
            return Ok(resp);
        }
        let problem = resp.problem();
        if problem.kind == BAD_NONCE && attempt < BAD_NONCE_ATTEMPTS {
            conn.bad_nonce_retries += 1;
            continue;
        }
        return Err(problem);
    }
}

/// Registers the account (with EAB when given); sets `acct.kid`.
pub async fn register(
    conn: &mut Conn,
    rng: &SystemRandom,
    dir: &Directory,
    acct: &mut Account,
    eab: Option<(&str, &[u8])>,
) -> Result<(), FlowError> {
    let mut payload = json!({"termsOfServiceAgreed": true});
    if let Some((kid, hmac)) = eab {
        payload["externalAccountBinding"] = acct.eab(&dir.new_account, kid, hmac);
    }
    let resp = post(conn, rng, dir, acct, &dir.new_account, Some(&payload), true).await?;
    acct.kid = resp
        .header(header::LOCATION)
        .ok_or_else(|| FlowError::new("client:no-location", "newAccount without Location"))?
        .to_owned();
    Ok(())
}

/// Per-phase durations of one order.
#[derive(Default)]
pub struct Timings {
    pub phases: [Duration; Phase::COUNT],
}

fn status_of(v: &Value) -> &str {
    v.get("status").and_then(Value::as_str).unwrap_or("")
}

fn str_member(v: &Value, k: &str, what: &str) -> Result<String, FlowError> {
    v.get(k)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| FlowError::new("client:bad-object", format!("{what} has no {k}")))
}

/// The error an invalid object carries (its own or its first challenge's).
fn invalid_error(v: &Value, what: &str) -> FlowError {
    let err = v.get("error").or_else(|| {
        v.get("challenges")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find_map(|c| c.get("error")))
    });
    let typ = err
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("client:invalid-without-error");
    let detail = err
        .and_then(|e| e.get("detail"))
        .and_then(Value::as_str)
        .unwrap_or("");
    FlowError::new(typ, format!("{what} became invalid: {detail}"))
}

/// Sleeps before poll number `n` (0-based): `poll.min` doubling per poll,
/// never past Retry-After, never past `poll.cap`.
async fn pause(resp: &Response, poll: &PollSettings, n: u32) {
    let backoff = poll.min.saturating_mul(1u32 << n.min(16));
    let wait = resp
        .retry_after()
        .map(Duration::from_secs)
        .unwrap_or(poll.cap)
        .min(backoff)
        .min(poll.cap);
    tokio::time::sleep(wait).await;
}

/// What the server told the client about one order, as it was told
/// (kept when the order fails later on).
#[derive(Default)]
pub struct Told {
    pub order: Option<String>,
    pub certificate: Option<String>,
    /// The downloaded leaf: its serial (lowercase hex, 32 digits, as
    /// trustgate stores it) and the SHA-256 of its DER (hex).
    pub leaf: Option<(String, String)>,
}

/// A finalize answered "not ready" may be one the server took already
/// (the answer to it lost); the order is polled then, and finalized again
/// if it is back to `ready`, at most this many times.
const FINALIZE_ATTEMPTS: u32 = 3;
const ORDER_NOT_READY: &str = "urn:ietf:params:acme:error:orderNotReady";

pub struct OrderSpec<'a> {
    pub names: &'a [String],
    pub profile: Option<&'a str>,
    pub flow: Flow,
}

/// How an order is driven between answering its challenges and
/// downloading its certificate.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Flow {
    /// As certbot, lego and instant-acme do: the order (not each
    /// authorization) is polled until `ready`, then again after finalize
    /// until `valid`.
    Client,
    /// Each authorization is polled until `valid`; then finalize and the
    /// order polled until `valid` (fewer requests when the answer to the
    /// last challenge waits for the outcome).
    Bench,
}

/// newOrder → authz(s) → http-01 → poll → finalize → poll → download,
/// polling as `spec.flow` says.
#[allow(clippy::too_many_arguments)]
pub async fn run_order(
    conn: &mut Conn,
    rng: &SystemRandom,
    dir: &Directory,
    acct: &Account,
    tokens: &Tokens,
    poll: &PollSettings,
    spec: OrderSpec<'_>,
    t: &mut Timings,
    told: &mut Told,
) -> Result<(), FlowError> {
    let mut clock = Instant::now();
    let lap = |t: &mut Timings, p: Phase, clock: &mut Instant| {
        let now = Instant::now();
        t.phases[p as usize] += now - *clock;
        *clock = now;
    };

    // newOrder
    let ids: Vec<Value> = spec
        .names
        .iter()
        .map(|n| json!({"type": "dns", "value": n}))
        .collect();
    let mut req = json!({ "identifiers": ids });
    if let Some(p) = spec.profile {
        req["profile"] = Value::String(p.to_owned());
    }
    let resp = post(conn, rng, dir, acct, &dir.new_order, Some(&req), false).await?;
    let order_url = resp
        .header(header::LOCATION)
        .ok_or_else(|| FlowError::new("client:no-location", "newOrder without Location"))?
        .to_owned();
    told.order = Some(order_url.clone());
    let order = resp.json()?;
    let finalize_url = str_member(&order, "finalize", "order")?;
    let authz_urls: Vec<String> = order
        .get("authorizations")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    lap(t, Phase::NewOrder, &mut clock);

    // Authorizations: find each pending one's http-01 challenge.
    let mut pending = Vec::new(); // (authz url, challenge url, token)
    for url in &authz_urls {
        let authz = post(conn, rng, dir, acct, url, None, false).await?.json()?;
        match status_of(&authz) {
            "valid" => continue,
            "pending" => {}
            s => {
                return Err(FlowError::new(
                    "client:unexpected-status",
                    format!("authorization is {s:?}, not pending"),
                ))
            }
        }
        let chall = authz
            .get("challenges")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("http-01"))
            })
            .ok_or_else(|| {
                FlowError::new("client:no-http-01", "authorization offers no http-01")
            })?;
        let token = str_member(chall, "token", "challenge")?;
        let curl = str_member(chall, "url", "challenge")?;
        tokens.insert(&token, format!("{token}.{}", acct.thumbprint));
        pending.push((url.clone(), curl, token));
    }
    lap(t, Phase::Authz, &mut clock);

    // Answer every challenge, then poll each authorization until valid.
    let result = async {
        for (_, curl, _) in &pending {
            post(conn, rng, dir, acct, curl, Some(&json!({})), false).await?;
        }
        if spec.flow == Flow::Client {
            return poll_order_ready(conn, rng, dir, acct, &order_url, poll).await;
        }
        for (aurl, _, _) in &pending {
            let deadline = Instant::now() + poll.timeout;
            let mut polls = 0;
            loop {
                let resp = post(conn, rng, dir, acct, aurl, None, false).await?;
                let authz = resp.json()?;
                match status_of(&authz) {
                    "valid" => break,
                    "pending" | "processing" => {}
                    _ => return Err(invalid_error(&authz, "authorization")),
                }
                if Instant::now() > deadline {
                    return Err(FlowError::new(
                        "client:poll-timeout",
                        "authorization did not become valid in time",
                    ));
                }
                pause(&resp, poll, polls).await;
                polls += 1;
            }
        }
        Ok(())
    }
    .await;
    for (_, _, token) in &pending {
        tokens.remove(token);
    }
    result?;
    lap(t, Phase::Challenge, &mut clock);

    // Finalize with a fresh key's CSR; poll while processing.
    let csr = json!({ "csr": make_csr(spec.names)? });
    clock = Instant::now(); // the CSR is the client's work, not the server's
    let finalize_url = finalize_url.as_str();
    let mut finalized = 1;
    let mut resp = match post(conn, rng, dir, acct, finalize_url, Some(&csr), false).await {
        Err(e) if e.kind == ORDER_NOT_READY => {
            post(conn, rng, dir, acct, &order_url, None, false).await?
        }
        r => r?,
    };
    let deadline = Instant::now() + poll.timeout;
    let mut polls = 0;
    let cert_url = loop {
        let order = resp.json()?;
        match status_of(&order) {
            "valid" => break str_member(&order, "certificate", "valid order")?,
            "processing" => {}
            // Back to ready: a finalize cut short (the server's sweep
            // returned the order) or one that never arrived.
            "ready" if finalized < FINALIZE_ATTEMPTS => {
                finalized += 1;
                resp = post(conn, rng, dir, acct, finalize_url, Some(&csr), false).await?;
                continue;
            }
            "ready" => {}
            _ => return Err(invalid_error(&order, "order")),
        }
        if Instant::now() > deadline {
            return Err(FlowError::new(
                "client:poll-timeout",
                "order did not become valid in time",
            ));
        }
        pause(&resp, poll, polls).await;
        polls += 1;
        resp = post(conn, rng, dir, acct, &order_url, None, false).await?;
    };
    told.certificate = Some(cert_url.clone());
    lap(t, Phase::Finalize, &mut clock);

    // Download the chain.
    told.leaf = Some(download(conn, rng, dir, acct, &cert_url).await?);
    lap(t, Phase::Download, &mut clock);
    Ok(())
}

/// Polls the order until it is `ready` (every authorization valid).
async fn poll_order_ready(
    conn: &mut Conn,
    rng: &SystemRandom,
    dir: &Directory,
    acct: &Account,
    order_url: &str,
    poll: &PollSettings,
) -> Result<(), FlowError> {
    let deadline = Instant::now() + poll.timeout;
    let mut polls = 0;
    loop {
        let resp = post(conn, rng, dir, acct, order_url, None, false).await?;
        let order = resp.json()?;
        match status_of(&order) {
            "ready" | "processing" | "valid" => return Ok(()),
            "pending" => {}
            _ => return Err(invalid_error(&order, "order")),
        }
        if Instant::now() > deadline {
            return Err(FlowError::new(
                "client:poll-timeout",
                "order did not become ready in time",
            ));
        }
        pause(&resp, poll, polls).await;
        polls += 1;
    }
}

/// Downloads a certificate chain; returns its leaf's serial (lowercase
/// hex, 32 digits) and the SHA-256 of the leaf's DER (hex).
pub async fn download(
    conn: &mut Conn,
    rng: &SystemRandom,
    dir: &Directory,
    acct: &Account,
    cert_url: &str,
) -> Result<(String, String), FlowError> {
    let resp = post(conn, rng, dir, acct, cert_url, None, false).await?;
    let bad = |why: String| FlowError::new("client:bad-chain", why);
    let pems = pem::parse_many(&resp.body).map_err(|e| bad(format!("not PEM: {e}")))?;
    let leaf = pems
        .iter()
        .find(|p| p.tag() == "CERTIFICATE")
        .ok_or_else(|| bad("certificate download has no PEM certificate".into()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.contents())
        .map_err(|e| bad(format!("the leaf does not parse: {e}")))?;
    let raw = cert.raw_serial();
    let digits = raw
        .iter()
        .skip_while(|b| **b == 0)
        .map(|b| format!("{b:02x}"));
    let serial = format!("{:0>32}", digits.collect::<String>());
    let sha = ring::digest::digest(&ring::digest::SHA256, leaf.contents());
    let sha: String = sha.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    Ok((serial, sha))
}

/// base64url DER of a CSR for `names` with a fresh P-256 key.
fn make_csr(names: &[String]) -> Result<String, FlowError> {
    let err = |e: rcgen::Error| FlowError::new("client:csr", e.to_string());
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(err)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).map_err(err)?;
    Ok(B64.encode(csr.der()))
}
