//! `--record FILE`: one JSON line per account and per order's outcome,
//! written as it happens, so the record of what the server told survives
//! whatever happens to either process. `--check-record FILE` then holds
//! the server to it: every certificate URL told still downloads the same
//! leaf, no serial is told twice, and every order that failed is retried
//! (its certificate downloaded again, or a new order for its names by the
//! same account) to success.
//!
//! The record holds the load accounts' private keys (a later run signs as
//! them); it is created readable by its owner only.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use serde_json::{json, Value};

use super::acme::{self, Account, Directory, Flow, OrderSpec, Timings, Told};
use super::http::Conn;
use super::responder::Tokens;
use super::{FlowError, PollSettings};

pub struct Recorder(Mutex<std::fs::File>);

impl Recorder {
    /// Appends to `path` (created with mode 0600).
    pub fn open(path: &Path) -> Result<Recorder, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("--record {}: {e}", path.display()))?;
        Ok(Recorder(Mutex::new(file)))
    }

    pub fn account(&self, acct: &Account) {
        self.line(&json!({"account": acct.kid, "pkcs8": B64.encode(&acct.pkcs8)}));
    }

    pub fn order(
        &self,
        acct: &Account,
        names: &[String],
        told: &Told,
        result: &Result<(), FlowError>,
    ) {
        let (serial, sha256) = told.leaf.clone().unzip();
        let error = result.as_ref().err();
        self.line(&json!({
            "account": acct.kid,
            "names": names,
            "order": told.order,
            "certificate": told.certificate,
            "serial": serial,
            "sha256": sha256,
            "error": error.map(|e| &e.kind),
            "detail": error.map(|e| &e.detail),
        }));
    }

    /// One unbuffered write per line: a line is the kernel's once written.
    fn line(&self, v: &Value) {
        let mut file = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = file.write_all(format!("{v}\n").as_bytes()) {
            eprintln!("trustgate-load: writing the record: {e}");
        }
    }
}

/// One order's line of a record.
struct Outcome {
    account: String,
    names: Vec<String>,
    certificate: Option<String>,
    leaf: Option<(String, String)>,
    error: Option<String>,
}

fn read(
    path: &Path,
    rng: &SystemRandom,
) -> Result<(BTreeMap<String, Account>, Vec<Outcome>), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut accounts, mut orders) = (BTreeMap::new(), Vec::new());
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        // The last line of a killed writer may be cut short.
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            eprintln!(
                "trustgate-load: {} line {}: not JSON, skipped",
                path.display(),
                i + 1
            );
            continue;
        };
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let account = s("account").unwrap_or_default();
        if let Some(key) = s("pkcs8") {
            let der = B64
                .decode(key)
                .map_err(|e| format!("line {}: pkcs8: {e}", i + 1))?;
            accounts.insert(account.clone(), Account::from_pkcs8(rng, &der, account)?);
            continue;
        }
        let names = v
            .get("names")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        orders.push(Outcome {
            account,
            names,
            certificate: s("certificate"),
            leaf: s("serial").zip(s("sha256")),
            error: s("error"),
        });
    }
    Ok((accounts, orders))
}

/// What `--check-record` found.
#[derive(Default)]
struct Checked {
    told: usize,
    verified: usize,
    /// Certificate URLs that no longer download, or download another leaf.
    lost: Vec<String>,
    failures: usize,
    retried_ok: usize,
    retry_failed: Vec<String>,
    /// (serial, leaf SHA-256, URL) of every certificate verified or issued
    /// by a retry.
    certificates: Vec<(String, String, String)>,
}

pub struct Server<'a> {
    pub dir: &'a Directory,
    pub tokens: &'a Tokens,
    pub poll: &'a PollSettings,
    pub profile: Option<&'a str>,
}

/// Checks the record at `path` against the server; Ok(true) when nothing
/// was lost, no serial repeats and every failure was retried to success.
pub async fn check(
    path: &Path,
    conn: &mut Conn,
    server: Server<'_>,
    json_out: Option<&Path>,
) -> Result<bool, String> {
    let rng = SystemRandom::new();
    let (accounts, orders) = read(path, &rng)?;
    let mut c = Checked::default();
    for o in &orders {
        let acct = accounts
            .get(&o.account)
            .ok_or_else(|| format!("the record has no key for account {}", o.account))?;
        let mut downloaded = false;
        if let Some(url) = &o.certificate {
            c.told += 1;
            match acme::download(conn, &rng, server.dir, acct, url).await {
                Ok(leaf) if o.leaf.as_ref().is_none_or(|l| *l == leaf) => {
                    c.verified += 1;
                    downloaded = true;
                    c.certificates.push((leaf.0, leaf.1, url.clone()));
                }
                Ok(_) => c
                    .lost
                    .push(format!("{url}: another leaf than was downloaded before")),
                Err(e) => c.lost.push(format!("{url}: {}: {}", e.kind, e.detail)),
            }
        }
        let Some(kind) = &o.error else { continue };
        c.failures += 1;
        // A certificate told but not downloaded: downloading it is the retry.
        if o.certificate.is_some() {
            if downloaded {
                c.retried_ok += 1;
            } else {
                c.retry_failed.push(format!(
                    "{:?} (failed with {kind}): its certificate is lost",
                    o.names
                ));
            }
            continue;
        }
        let mut told = Told::default();
        let spec = OrderSpec {
            names: &o.names,
            profile: server.profile,
            flow: Flow::Client,
        };
        let retried = acme::run_order(
            conn,
            &rng,
            server.dir,
            acct,
            server.tokens,
            server.poll,
            spec,
            &mut Timings::default(),
            &mut told,
        )
        .await;
        match (retried, told.leaf, told.certificate) {
            (Ok(()), Some((serial, sha)), Some(url)) => {
                c.retried_ok += 1;
                c.certificates.push((serial, sha, url));
            }
            (r, _, _) => c.retry_failed.push(format!(
                "{:?} (failed with {kind}): retry {}",
                o.names,
                r.err().map_or("told no certificate".into(), |e| format!(
                    "{}: {}",
                    e.kind, e.detail
                ))
            )),
        }
    }
    let mut seen = HashSet::new();
    let duplicates: Vec<&str> = c
        .certificates
        .iter()
        .filter(|(serial, _, _)| !seen.insert(serial.as_str()))
        .map(|(serial, _, _)| serial.as_str())
        .collect();
    println!(
        "record {}: {} orders; {} certificates told, {} verified, {} lost; {} failures, {} retried to \
         success, {} retry failures; {} duplicate serials",
        path.display(),
        orders.len(),
        c.told,
        c.verified,
        c.lost.len(),
        c.failures,
        c.retried_ok,
        c.retry_failed.len(),
        duplicates.len()
    );
    for l in c.lost.iter().chain(&c.retry_failed) {
        println!("  {l}");
    }
    if let Some(out) = json_out {
        let certs: Vec<Value> = c
            .certificates
            .iter()
            .map(|(serial, sha, url)| json!({"serial": serial, "sha256": sha, "url": url}))
            .collect();
        let doc = json!({
            "orders": orders.len(),
            "certificates_told": c.told,
            "certificates_verified": c.verified,
            "lost": c.lost,
            "failures": c.failures,
            "retried_ok": c.retried_ok,
            "retry_failed": c.retry_failed,
            "duplicate_serials": duplicates,
            "certificates": certs,
        });
        std::fs::write(out, format!("{doc:#}\n"))
            .map_err(|e| format!("writing {}: {e}", out.display()))?;
    }
    Ok(c.lost.is_empty() && c.retry_failed.is_empty() && duplicates.is_empty())
}
