//! `trustgate-load`: an ACME load generator. Registers K accounts (with
//! External Account Binding), then runs N orders with C concurrent
//! workers, each over its own keep-alive connection with its own nonce
//! pool: newOrder → authorizations → http-01 (served by a built-in
//! responder) → poll → finalize with a fresh P-256 CSR → poll → download.
//! Prints throughput, latency percentiles per phase and errors by problem
//! type; exits non-zero if any order failed. Works against any RFC 8555
//! server (trustgate, Pebble). See docs/benchmarks.md.
//!
//! For fault injection (`scripts/chaos`): `--retry-unavailable-secs`
//! rides out a server that restarts or loses its database, `--record`
//! keeps what the server told, and `--check-record` holds it to that
//! afterwards (`record`); SIGUSR1 ends a run early, finishing the orders
//! in flight.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use clap::Parser;
use ring::rand::SystemRandom;
use serde_json::json;

#[path = "trustgate-load/acme.rs"]
mod acme;
/// The integration suite's RFC 6962 test log, for `--serve-ct-logs`.
#[path = "../../integration/common/ctlog.rs"]
mod ctlog;
#[path = "trustgate-load/http.rs"]
mod http;
#[path = "trustgate-load/record.rs"]
mod record;
#[path = "trustgate-load/responder.rs"]
mod responder;

use acme::{Account, Directory, Flow, OrderSpec, Timings, Told};
use http::{Conn, Target};
use responder::Tokens;

#[derive(Parser)]
#[command(name = "trustgate-load", version, about = "ACME load generator")]
struct Args {
    /// The server's directory URL.
    #[arg(long, required_unless_present = "serve_ct_logs")]
    directory: Option<String>,
    /// PEM file of certificates to trust for an https directory.
    #[arg(long, value_name = "PEM")]
    ca_bundle: Option<PathBuf>,
    /// External Account Binding key id.
    #[arg(long)]
    eab_kid: Option<String>,
    /// External Account Binding HMAC key, base64url.
    #[arg(long)]
    eab_hmac: Option<String>,
    /// Orders to complete.
    #[arg(short = 'n', long, default_value_t = 100)]
    orders: usize,
    /// Concurrent workers (one connection and nonce pool each).
    #[arg(short = 'c', long, default_value_t = 8)]
    concurrency: usize,
    /// Accounts, created first; orders go to them round-robin.
    #[arg(short = 'k', long, default_value_t = 1)]
    accounts: usize,
    /// DNS names per order.
    #[arg(long, default_value_t = 1)]
    names: usize,
    /// Port of the built-in http-01 responder (on 127.0.0.1).
    #[arg(long, default_value_t = 5002)]
    http01_port: u16,
    /// Names are o<i>-<j>.<run>.<domain> (a random run label keeps
    /// repeated runs from reusing authorizations).
    #[arg(long, default_value = "bench.jp")]
    domain: String,
    /// How each order is polled: `client` as real clients do (the order
    /// until ready, finalize, the order until valid: 8 requests an order
    /// when each poll finds the order moved on), `bench` each
    /// authorization until valid instead (6).
    #[arg(long, value_enum, default_value_t = Flow::Client)]
    flow: Flow,
    /// Profile to ask for in newOrder (omitted when not given).
    #[arg(long)]
    profile: Option<String>,
    /// Longest sleep between polls, in milliseconds (Retry-After is
    /// honoured up to this cap).
    #[arg(long, default_value_t = 50)]
    poll_cap_ms: u64,
    /// First sleep between polls, in milliseconds; it doubles with each
    /// poll up to --poll-cap-ms (set both equal for a fixed interval).
    #[arg(long, default_value_t = 10)]
    poll_min_ms: u64,
    /// Give up on one polled object after this many seconds.
    #[arg(long, default_value_t = 60)]
    poll_timeout_secs: u64,
    /// Give up on one HTTP request after this many seconds.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// Also run a DNS responder here (every A → 127.0.0.1), e.g.
    /// 127.0.0.1:8053, for servers with no other test DNS.
    #[arg(long, value_name = "ADDR")]
    dns_listen: Option<SocketAddr>,
    /// Instead of a load run: serve this many test Certificate
    /// Transparency logs (RFC 6962 add-pre-chain, each its own key and
    /// operator) on 127.0.0.1 until killed, after writing their
    /// `[[ct.logs]]` tables to --ct-toml.
    #[arg(long, value_name = "N", requires = "ct_toml")]
    serve_ct_logs: Option<usize>,
    /// Where --serve-ct-logs writes the logs' configuration.
    #[arg(long, value_name = "FILE")]
    ct_toml: Option<PathBuf>,
    /// Write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Append one JSON line per account (with its key) and per order's
    /// outcome (order and certificate URL as told, names, error kind) to
    /// this file as it happens; see --check-record.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Instead of a load run: check a --record file against the server
    /// (every certificate told still downloads the same leaf, no serial
    /// twice, every failed order retried to success by its account);
    /// exits non-zero if any check fails.
    #[arg(long, value_name = "FILE", conflicts_with = "record")]
    check_record: Option<PathBuf>,
    /// Send a request again while the server is unavailable (connection
    /// refused or cut, or 503), for up to this many seconds; 0 fails the
    /// order at once.
    #[arg(long, default_value_t = 0)]
    retry_unavailable_secs: u64,
}

/// An error of one flow, grouped by `kind` (an ACME problem type, or
/// `transport:*` / `client:*` for failures before one).
#[derive(Debug)]
pub struct FlowError {
    pub kind: String,
    pub detail: String,
}

impl FlowError {
    pub fn new(kind: impl Into<String>, detail: impl Into<String>) -> FlowError {
        FlowError {
            kind: kind.into(),
            detail: detail.into(),
        }
    }
}

pub struct PollSettings {
    pub min: Duration,
    pub cap: Duration,
    pub timeout: Duration,
}

#[derive(Clone, Copy)]
pub enum Phase {
    NewOrder = 0,
    Authz = 1,
    Challenge = 2,
    Finalize = 3,
    Download = 4,
}

impl Phase {
    pub const COUNT: usize = 5;
    const NAMES: [&'static str; Phase::COUNT] = [
        "newOrder",
        "authz",
        "challenge+poll",
        "finalize",
        "download",
    ];
}

/// What the workers collect.
#[derive(Default)]
struct Collected {
    flows: Vec<Duration>,
    phases: [Vec<Duration>; Phase::COUNT],
    errors: BTreeMap<String, (u64, String)>,
    requests: u64,
    bad_nonce_retries: u64,
    connects: u64,
    unavailable_retries: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("trustgate-load: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("trustgate-load: {e}");
            ExitCode::from(2)
        }
    }
}

/// Serves `n` test CT logs of distinct operators until killed.
async fn serve_ct_logs(n: usize, toml: &std::path::Path) -> Result<bool, String> {
    let mut logs = Vec::new();
    for i in 1..=n {
        logs.push(
            ctlog::CtLog::start(&format!("bench-log-{i}"), &format!("bench-operator-{i}")).await,
        );
    }
    let text: String = logs.iter().map(|l| l.toml() + "\n").collect();
    std::fs::write(toml, text).map_err(|e| format!("writing {}: {e}", toml.display()))?;
    std::future::pending::<()>().await;
    Ok(true)
}

fn random_label(rng: &SystemRandom) -> Result<String, String> {
    let mut b = [0u8; 4];
    ring::rand::SecureRandom::fill(rng, &mut b).map_err(|_| "OS RNG failed".to_owned())?;
    Ok(format!(
        "r{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

/// Ok(true) when every order succeeded.
async fn run(args: Args) -> Result<bool, String> {
    if let (Some(n), Some(toml)) = (args.serve_ct_logs, &args.ct_toml) {
        return serve_ct_logs(n, toml).await;
    }
    let directory = args.directory.clone().unwrap_or_default();
    if args.concurrency == 0 || args.accounts == 0 || args.names == 0 {
        return Err("-c, -k and --names must be at least 1".into());
    }
    let rng = SystemRandom::new();
    let eab = match (&args.eab_kid, &args.eab_hmac) {
        (Some(kid), Some(hmac)) => {
            let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(hmac.trim_end_matches('='))
                .map_err(|e| format!("--eab-hmac is not base64url: {e}"))?;
            Some((kid.clone(), key))
        }
        (None, None) => None,
        _ => return Err("--eab-kid and --eab-hmac go together".into()),
    };
    if let Some(addr) = args.dns_listen {
        responder::serve_dns(addr)
            .await
            .map_err(|e| format!("DNS responder on {addr}: {e}"))?;
    }
    let tokens = Tokens::default();
    let http01: SocketAddr = ([127, 0, 0, 1], args.http01_port).into();
    responder::serve_http01(http01, tokens.clone())
        .await
        .map_err(|e| format!("http-01 responder on {http01}: {e}"))?;

    let target = Arc::new(
        Target::new(
            &directory,
            args.ca_bundle.as_deref(),
            Duration::from_secs(args.request_timeout_secs),
            Duration::from_secs(args.retry_unavailable_secs),
        )
        .await?,
    );
    let mut conn = Conn::new(target.clone());
    let dir = Directory::fetch(&mut conn, &directory)
        .await
        .map_err(|e| format!("directory: {}: {}", e.kind, e.detail))?;
    let poll = Arc::new(PollSettings {
        min: Duration::from_millis(args.poll_min_ms.min(args.poll_cap_ms)),
        cap: Duration::from_millis(args.poll_cap_ms),
        timeout: Duration::from_secs(args.poll_timeout_secs),
    });
    if let Some(path) = &args.check_record {
        let server = record::Server {
            dir: &dir,
            tokens: &tokens,
            poll: &poll,
            profile: args.profile.as_deref(),
        };
        return record::check(path, &mut conn, server, args.json.as_deref()).await;
    }
    if dir.eab_required && eab.is_none() {
        return Err(
            "the server requires External Account Binding: pass --eab-kid/--eab-hmac".into(),
        );
    }
    // SIGUSR1 ends the run early, the orders in flight finished (how
    // scripts/chaos ends its load); registered before any order starts.
    let drain = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        .map_err(|e| format!("SIGUSR1: {e}"))?;
    let recorder = match &args.record {
        Some(path) => Some(Arc::new(record::Recorder::open(path)?)),
        None => None,
    };
    let dir = Arc::new(dir);

    // Accounts, min(C, K) at a time.
    let t_accounts = Instant::now();
    let mut accounts = Vec::with_capacity(args.accounts);
    for _ in 0..args.accounts {
        accounts.push(Account::generate(&rng)?);
    }
    let accounts = {
        let queue = Arc::new(Mutex::new(accounts));
        let done = Arc::new(Mutex::new(Vec::new()));
        let eab = Arc::new(eab);
        let mut tasks = Vec::new();
        for _ in 0..args.concurrency.min(args.accounts) {
            let (queue, done, eab, dir, target) = (
                queue.clone(),
                done.clone(),
                eab.clone(),
                dir.clone(),
                target.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let rng = SystemRandom::new();
                let mut conn = Conn::new(target);
                loop {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).pop();
                    let Some(mut acct) = next else {
                        return Ok::<(), String>(());
                    };
                    let e = eab
                        .as_ref()
                        .as_ref()
                        .map(|(k, h)| (k.as_str(), h.as_slice()));
                    acme::register(&mut conn, &rng, &dir, &mut acct, e)
                        .await
                        .map_err(|e| format!("newAccount: {}: {}", e.kind, e.detail))?;
                    done.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(acct);
                }
            }));
        }
        for t in tasks {
            t.await.map_err(|e| format!("account task: {e}"))??;
        }
        let v = std::mem::take(&mut *done.lock().unwrap_or_else(PoisonError::into_inner));
        Arc::new(v)
    };
    let accounts_secs = t_accounts.elapsed().as_secs_f64();
    if let Some(r) = &recorder {
        accounts.iter().for_each(|a| r.account(a));
    }

    // Orders.
    let run_label = random_label(&rng)?;
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(start_no_more(drain, next.clone(), args.orders));
    let profile = Arc::new(args.profile.clone());
    let started = Instant::now();
    let completed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.min(args.orders.max(1)) {
        let (completed, recorder) = (completed.clone(), recorder.clone());
        let (next, accounts, dir, target, tokens, poll, profile) = (
            next.clone(),
            accounts.clone(),
            dir.clone(),
            target.clone(),
            tokens.clone(),
            poll.clone(),
            profile.clone(),
        );
        let (n, per_order, domain, flow) = (
            args.orders,
            args.names,
            format!("{run_label}.{}", args.domain.trim_matches('.')),
            args.flow,
        );
        tasks.push(tokio::spawn(async move {
            let rng = SystemRandom::new();
            let mut conn = Conn::new(target);
            let mut c = Collected::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let acct = &accounts[i % accounts.len()];
                let names: Vec<String> = (0..per_order)
                    .map(|j| format!("o{i}-{j}.{domain}"))
                    .collect();
                let (mut t, mut told) = (Timings::default(), Told::default());
                let t0 = Instant::now();
                let spec = OrderSpec {
                    names: &names,
                    profile: profile.as_deref(),
                    flow,
                };
                let result = acme::run_order(
                    &mut conn, &rng, &dir, acct, &tokens, &poll, spec, &mut t, &mut told,
                )
                .await;
                if let Some(r) = &recorder {
                    r.order(acct, &names, &told, &result);
                }
                match result {
                    Ok(()) => {
                        completed.fetch_add(1, Ordering::Relaxed);
                        c.flows.push(t0.elapsed());
                        for (k, d) in t.phases.iter().enumerate() {
                            c.phases[k].push(*d);
                        }
                    }
                    Err(e) => {
                        let entry = c.errors.entry(e.kind).or_insert((0, e.detail));
                        entry.0 += 1;
                    }
                }
            }
            c.requests = conn.requests;
            c.bad_nonce_retries = conn.bad_nonce_retries;
            c.connects = conn.connects;
            c.unavailable_retries = conn.unavailable_retries;
            c
        }));
    }
    // A stalled server shows as a run that never ends: whoever stops us
    // (e.g. `timeout`) still gets a line, and a JSON file, saying how far
    // it got.
    let finished = async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.map_err(|e| format!("worker: {e}"))?);
        }
        Ok::<_, String>(out)
    };
    let collected = tokio::select! {
        r = finished => r?,
        _ = terminated() => {
            let ok = completed.load(Ordering::Relaxed);
            let secs = started.elapsed().as_secs_f64();
            println!(
                "interrupted after {secs:.1} s: {ok} of {} orders completed",
                args.orders
            );
            if let Some(path) = &args.json {
                let doc = json!({"interrupted": true, "orders": args.orders, "ok": ok,
                                 "concurrency": args.concurrency, "seconds": secs});
                let _ = std::fs::write(path, format!("{doc:#}\n"));
            }
            return Err("interrupted".into());
        }
    };
    let mut all = Collected::default();
    for c in collected {
        all.flows.extend(c.flows);
        for (k, v) in c.phases.into_iter().enumerate() {
            all.phases[k].extend(v);
        }
        for (k, (n, d)) in c.errors {
            all.errors.entry(k).or_insert((0, d)).0 += n;
        }
        all.requests += c.requests;
        all.bad_nonce_retries += c.bad_nonce_retries;
        all.connects += c.connects;
        all.unavailable_retries += c.unavailable_retries;
    }
    let secs = started.elapsed().as_secs_f64();
    report(&args, &all, secs, accounts_secs)?;
    Ok(all.errors.is_empty())
}

/// On SIGUSR1, moves the next order's index past the last.
async fn start_no_more(
    mut drain: tokio::signal::unix::Signal,
    next: Arc<AtomicUsize>,
    orders: usize,
) {
    if drain.recv().await.is_some() {
        next.fetch_max(orders, Ordering::Relaxed);
    }
}

/// SIGTERM or SIGINT.
async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn percentiles(v: &mut [Duration]) -> [f64; 4] {
    if v.is_empty() {
        return [0.0; 4];
    }
    v.sort_unstable();
    let at = |q: f64| {
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v[i].as_secs_f64() * 1000.0
    };
    [at(0.50), at(0.90), at(0.99), at(1.0)]
}

fn report(args: &Args, all: &Collected, secs: f64, accounts_secs: f64) -> Result<(), String> {
    let ok = all.flows.len();
    let failed: u64 = all.errors.values().map(|(n, _)| n).sum();
    println!(
        "trustgate-load: {} orders × {} name(s), {} workers, {} account(s) → {}",
        args.orders,
        args.names,
        args.concurrency,
        args.accounts,
        args.directory.as_deref().unwrap_or_default()
    );
    println!(
        "accounts: {} registered in {accounts_secs:.2} s",
        args.accounts
    );
    println!(
        "orders:   {ok} ok, {failed} failed in {secs:.2} s → {:.1} orders/s, {:.1} requests/s \
         ({} requests, {:.1}/order, {} badNonce retries, {} connections, \
         {} sent again while unavailable)",
        ok as f64 / secs,
        all.requests as f64 / secs,
        all.requests,
        all.requests as f64 / (ok.max(1) as f64),
        all.bad_nonce_retries,
        all.connects,
        all.unavailable_retries,
    );
    println!(
        "{:<16}{:>10}{:>10}{:>10}{:>10}   (ms)",
        "latency", "p50", "p90", "p99", "max"
    );
    let mut rows = Vec::new();
    let mut flows = all.flows.clone();
    let mut phase_rows: Vec<(&str, Vec<Duration>)> = Phase::NAMES
        .iter()
        .zip(all.phases.iter())
        .map(|(n, v)| (*n, v.clone()))
        .collect();
    phase_rows.push(("flow", std::mem::take(&mut flows)));
    for (name, mut v) in phase_rows {
        let p = percentiles(&mut v);
        println!(
            "{name:<16}{:>10.1}{:>10.1}{:>10.1}{:>10.1}",
            p[0], p[1], p[2], p[3]
        );
        rows.push((name, p));
    }
    if !all.errors.is_empty() {
        println!("errors:");
        for (k, (n, d)) in &all.errors {
            println!("  {n:>6}  {k}  (e.g. {d})");
        }
    }
    if let Some(path) = &args.json {
        let latency: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(n, p)| {
                (
                    (*n).to_owned(),
                    json!({"p50": p[0], "p90": p[1], "p99": p[2], "max": p[3]}),
                )
            })
            .collect();
        let errors: serde_json::Map<String, serde_json::Value> = all
            .errors
            .iter()
            .map(|(k, (n, _))| (k.clone(), json!(n)))
            .collect();
        let doc = json!({
            "orders": args.orders,
            "ok": ok,
            "failed": failed,
            "concurrency": args.concurrency,
            "flow": format!("{:?}", args.flow).to_lowercase(),
            "accounts": args.accounts,
            "names": args.names,
            "seconds": secs,
            "orders_per_sec": ok as f64 / secs,
            "requests": all.requests,
            "requests_per_sec": all.requests as f64 / secs,
            "bad_nonce_retries": all.bad_nonce_retries,
            "unavailable_retries": all.unavailable_retries,
            "latency_ms": latency,
            "errors": errors,
        });
        std::fs::write(path, format!("{doc:#}\n"))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}
