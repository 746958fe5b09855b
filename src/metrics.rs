//! Prometheus metrics in the text exposition format (0.0.4), served on the
//! admin listener at `/metrics`. No metrics crate: a few families whose
//! label values are fixed by the code.
//!
//! - The per-request path (HTTP counters and latency) touches only atomics:
//!   every combination of endpoint, method and status has its own cell,
//!   so no request waits on another's lock.
//! - Rarer events (validations, issuance, gate refusals) count in a small
//!   map behind a mutex. Their label values are `&'static str`, so no value
//!   can come from client input and cardinality is bounded by the code.
//! - Gauges that need a query (pool state, the nonce table) are read at
//!   scrape time or sampled by a background task; see `render`.
//!
//! One registry per process (per test server in tests), built by `app`
//! with the route names of each listener and carried by the `Store`, so
//! every layer reaches it through the store it already holds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use crate::error::Error;

/// Upper bounds of the request latency buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds of the pool checkout buckets, in seconds: a healthy pool
/// answers in microseconds; seconds mean the pool is exhausted or the
/// database is away.
const POOL_WAIT_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];

/// Upper bounds of the remote perspective latency buckets, in seconds: a
/// check crosses continents and may resolve and fetch several times.
const PERSPECTIVE_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// A perspective's answer outcomes (`mpic`), in rendering order.
const PERSPECTIVE_OUTCOMES: &[&str] = &["valid", "invalid", "unreachable"];

/// Methods with a cell of their own; anything else counts as "other".
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "other"];
/// Statuses with a cell of their own (every status the two listeners
/// produce today); any other goes to a small overflow map.
const STATUSES: &[u16] = &[
    200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503,
];
/// The endpoint label of a path no route matches.
pub const UNKNOWN_ENDPOINT: &str = "unknown";

/// Every metric of one trustgate process.
pub struct Metrics {
    acme: HttpMetrics,
    admin: HttpMetrics,
    portal: HttpMetrics,
    validations: Family<2>,
    issued: Family<1>,
    gate_refusals: Family<1>,
    rate_limited: Family<1>,
    /// Per remote perspective (names from configuration only): answers by
    /// outcome and latency.
    perspectives: Mutex<BTreeMap<String, PerspectiveCells>>,
    validation_store_retries: AtomicU64,
    pool_wait: Histogram,
    pool_timeouts: AtomicU64,
    connections_discarded: AtomicU64,
    write_batches: AtomicU64,
    writes: AtomicU64,
    account_cache_hits: AtomicU64,
    account_cache_misses: AtomicU64,
    /// Rows of `used_nonces` at the last sample; negative until sampled.
    nonces_used: AtomicI64,
    /// E-mail notices by outcome (queued, sent, retry, failed).
    mail: Family<1>,
    /// Notices neither sent nor given up at the delivery worker's last
    /// round; negative until sampled (or without `[mail]`).
    mail_queue: AtomicI64,
}

/// What the pool looks like at scrape time (`r2d2::State` plus the limit).
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
}

/// A registry without route names (every request counts as `unknown`),
/// for tests and tools that serve no listener.
impl Default for Metrics {
    fn default() -> Self {
        Self::new(&[], &[], &[])
    }
}

impl Metrics {
    /// A registry whose request metrics know each listener's route names:
    /// `app` hands in `wfe::ENDPOINTS` and the admin route paths. A name
    /// listed twice counts once; any other endpoint counts as `unknown`.
    pub fn new(
        acme_endpoints: &[&'static str],
        admin_endpoints: &[&'static str],
        portal_endpoints: &[&'static str],
    ) -> Metrics {
        Metrics {
            acme: HttpMetrics::new("acme", acme_endpoints),
            admin: HttpMetrics::new("admin", admin_endpoints),
            portal: HttpMetrics::new("portal", portal_endpoints),
            validations: Family::new(
                "trustgate_validations_total",
                "Challenge validations finished, by method and outcome (valid, or the ACME error type).",
                ["method", "outcome"],
            ),
            issued: Family::new(
                "trustgate_certificates_issued_total",
                "Certificates issued (stored and reported), by profile.",
                ["profile"],
            ),
            gate_refusals: Family::new(
                "trustgate_gate_refusals_total",
                "Finalize requests refused by the vetting gate, by reason.",
                ["reason"],
            ),
            rate_limited: Family::new(
                "trustgate_rate_limited_total",
                "Requests refused with rateLimited (429), by limit (the [limits] key).",
                ["limit"],
            ),
            perspectives: Mutex::new(BTreeMap::new()),
            validation_store_retries: AtomicU64::new(0),
            pool_wait: Histogram::new(POOL_WAIT_BUCKETS),
            pool_timeouts: AtomicU64::new(0),
            connections_discarded: AtomicU64::new(0),
            write_batches: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            account_cache_hits: AtomicU64::new(0),
            account_cache_misses: AtomicU64::new(0),
            nonces_used: AtomicI64::new(-1),
            mail: Family::new(
                "trustgate_mail_notices_total",
                "E-mail notices: queued (written with their event), sent, retry (an attempt failed, tried again later), failed (given up).",
                ["outcome"],
            ),
            mail_queue: AtomicI64::new(-1),
        }
    }

    /// The ACME listener's request metrics.
    pub fn acme(&self) -> &HttpMetrics {
        &self.acme
    }

    /// The admin listener's request metrics.
    pub fn admin(&self) -> &HttpMetrics {
        &self.admin
    }

    /// The customer portal's request metrics.
    pub fn portal(&self) -> &HttpMetrics {
        &self.portal
    }

    /// A validation finished: `valid`, or the ACME error type it failed with.
    pub fn validation(&self, method: &'static str, result: &Result<(), Error>) {
        let outcome = match result {
            Ok(()) => "valid",
            Err(e) => crate::acme::problem::status_and_type(e.kind).1,
        };
        self.validations.inc([method, outcome]);
    }

    /// A remote perspective answered (`outcome` one of
    /// `PERSPECTIVE_OUTCOMES`) after `took`. `perspective` is a configured
    /// name, so the label set is bounded by the configuration.
    pub fn perspective_answer(&self, perspective: &str, outcome: &'static str, took: Duration) {
        let mut all = lock(&self.perspectives);
        let cells = all
            .entry(perspective.to_owned())
            .or_insert_with(PerspectiveCells::new);
        if let Some(i) = PERSPECTIVE_OUTCOMES.iter().position(|o| *o == outcome) {
            cells.answers[i] += 1;
        }
        cells.latency.observe(took);
    }

    pub fn certificate_issued(&self, profile: &'static str) {
        self.issued.inc([profile]);
    }

    /// `reason` is `vetting::gate::Refusal::condition`.
    pub fn gate_refusal(&self, reason: &'static str) {
        self.gate_refusals.inc([reason]);
    }

    /// A request was refused by rate limit `limit` (`ra::limits::Limit::name`).
    pub fn rate_limited(&self, limit: &'static str) {
        self.rate_limited.inc([limit]);
    }

    /// Time spent getting a usable pooled connection (also when none came).
    pub fn pool_wait(&self, waited: Duration) {
        self.pool_wait.observe(waited);
    }

    /// No connection within the checkout timeout.
    pub fn pool_timeout(&self) {
        self.pool_timeouts.fetch_add(1, Relaxed);
    }

    /// Storing a validation's outcome failed and will be tried again.
    pub fn validation_store_retry(&self) {
        self.validation_store_retries.fetch_add(1, Relaxed);
    }

    /// A pooled connection was found dead and dropped.
    pub fn connection_discarded(&self) {
        self.connections_discarded.fetch_add(1, Relaxed);
    }

    /// The group-commit writer ran `jobs` writes in one transaction.
    pub fn write_batch(&self, jobs: usize) {
        self.write_batches.fetch_add(1, Relaxed);
        self.writes.fetch_add(jobs as u64, Relaxed);
    }

    /// A signing account was looked up: found in the cache, or read.
    pub fn account_lookup(&self, cached: bool) {
        let counter = if cached {
            &self.account_cache_hits
        } else {
            &self.account_cache_misses
        };
        counter.fetch_add(1, Relaxed);
    }

    /// Records a fresh count of the `used_nonces` table.
    pub fn set_nonces_used(&self, rows: i64) {
        self.nonces_used.store(rows.max(0), Relaxed);
    }

    /// `n` notices were written to the outbox.
    pub fn mail_queued(&self, n: usize) {
        for _ in 0..n {
            self.mail.inc(["queued"]);
        }
    }

    /// A delivery attempt ended: `sent`, `retry` or `failed`.
    pub fn mail_attempt(&self, outcome: &'static str) {
        self.mail.inc([outcome]);
    }

    /// Records the outbox's queue length.
    pub fn set_mail_queue(&self, rows: i64) {
        self.mail_queue.store(rows.max(0), Relaxed);
    }

    /// The whole registry in the text exposition format.
    pub fn render(&self, pool: Option<PoolState>) -> String {
        let mut out = String::with_capacity(16 * 1024);
        HttpMetrics::render_all(&[&self.acme, &self.admin, &self.portal], &mut out);
        self.validations.render(&mut out);
        self.issued.render(&mut out);
        self.gate_refusals.render(&mut out);
        self.rate_limited.render(&mut out);
        self.render_perspectives(&mut out);
        self.render_database(&mut out);
        self.render_account_cache(&mut out);
        if let Some(p) = pool {
            render_pool_state(p, &mut out);
        }
        self.render_nonces(&mut out);
        self.render_mail(&mut out);
        out
    }

    fn render_perspectives(&self, out: &mut String) {
        let all = lock(&self.perspectives);
        const ANSWERS: &str = "trustgate_perspective_answers_total";
        const LATENCY: &str = "trustgate_perspective_duration_seconds";
        header(
            out,
            ANSWERS,
            "counter",
            "Remote perspective answers (BR 3.2.2.9), by perspective and outcome (valid, invalid, unreachable).",
        );
        for (name, cells) in all.iter() {
            for (outcome, n) in PERSPECTIVE_OUTCOMES.iter().zip(cells.answers) {
                sample(
                    out,
                    ANSWERS,
                    &[("perspective", name), ("outcome", outcome)],
                    n,
                );
            }
        }
        header(
            out,
            LATENCY,
            "histogram",
            "Time from asking a remote perspective to its answer (or its timeout).",
        );
        for (name, cells) in all.iter() {
            cells.latency.render(LATENCY, &[("perspective", name)], out);
        }
    }

    /// The pool's checkouts and the group-commit writer.
    fn render_database(&self, out: &mut String) {
        scalar(
            out,
            "trustgate_validation_store_retries_total",
            "counter",
            "Validation outcomes whose write failed and was tried again (the challenge stays processing meanwhile).",
            self.validation_store_retries.load(Relaxed),
        );
        header(
            out,
            "trustgate_db_pool_wait_seconds",
            "histogram",
            "Time to get a usable pooled database connection.",
        );
        self.pool_wait
            .render("trustgate_db_pool_wait_seconds", &[], out);
        scalar(
            out,
            "trustgate_db_pool_timeouts_total",
            "counter",
            "Checkouts that got no pooled connection in time (database.connect_timeout_secs; 2 s for /readyz).",
            self.pool_timeouts.load(Relaxed),
        );
        scalar(
            out,
            "trustgate_db_connections_discarded_total",
            "counter",
            "Pooled connections found dead (e.g. after a database restart) and replaced.",
            self.connections_discarded.load(Relaxed),
        );
        scalar(
            out,
            "trustgate_db_write_batches_total",
            "counter",
            "Transactions of the group-commit writer (each one commit for the writes that arrived together).",
            self.write_batches.load(Relaxed),
        );
        scalar(
            out,
            "trustgate_db_writes_total",
            "counter",
            "Writes run by the group-commit writer (every write on SQLite, nonce redemptions on PostgreSQL).",
            self.writes.load(Relaxed),
        );
    }

    fn render_account_cache(&self, out: &mut String) {
        scalar(
            out,
            "trustgate_account_cache_hits_total",
            "counter",
            "Account lookups served from this instance's cache.",
            self.account_cache_hits.load(Relaxed),
        );
        scalar(
            out,
            "trustgate_account_cache_misses_total",
            "counter",
            "Account lookups that read the database (not cached yet, changed, or the cache bypassed while its change listener is down).",
            self.account_cache_misses.load(Relaxed),
        );
    }

    /// Absent until sampled, rather than a misleading 0.
    fn render_nonces(&self, out: &mut String) {
        let nonces = self.nonces_used.load(Relaxed);
        if nonces >= 0 {
            scalar(
                out,
                "trustgate_nonces_used",
                "gauge",
                "Redeemed nonces remembered: rows in used_nonces, counted after each prune (PostgreSQL); or in this process's window (SQLite).",
                nonces,
            );
        }
    }
}

impl Metrics {
    fn render_mail(&self, out: &mut String) {
        self.mail.render(out);
        let queue = self.mail_queue.load(Relaxed);
        if queue >= 0 {
            scalar(
                out,
                "trustgate_mail_queue",
                "gauge",
                "E-mail notices waiting to be sent (neither sent nor given up), at the delivery worker's last round.",
                queue,
            );
        }
    }
}

/// The pool gauges, read at scrape time.
fn render_pool_state(p: PoolState, out: &mut String) {
    scalar(
        out,
        "trustgate_db_pool_connections",
        "gauge",
        "Open connections in the pool.",
        p.connections,
    );
    scalar(
        out,
        "trustgate_db_pool_idle_connections",
        "gauge",
        "Idle connections in the pool.",
        p.idle,
    );
    scalar(
        out,
        "trustgate_db_pool_max_connections",
        "gauge",
        "Configured pool size (database.pool_size).",
        p.max,
    );
}

/// Request counts and latency of one listener.
pub struct HttpMetrics {
    listener: &'static str,
    endpoints: Vec<&'static str>,
    /// endpoints × METHODS × STATUSES, then one row per endpoint for the
    /// unknown endpoint at the end.
    requests: Box<[AtomicU64]>,
    /// (endpoint, method, status) for statuses not in `STATUSES`.
    other_statuses: Mutex<BTreeMap<(usize, usize, u16), u64>>,
    latency: Box<[Histogram]>,
    connections_open: AtomicI64,
    connections_accepted: AtomicU64,
    /// Times the accept loop found every connection slot taken.
    connection_cap_waits: AtomicU64,
    /// By `Cut`, in `Cut::ALL` order.
    connections_cut: [AtomicU64; 3],
}

/// Why the serve loop closed a connection on a slow client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The TLS handshake did not finish in time.
    Handshake,
    /// A request's head did not arrive in time.
    Header,
    /// No request in flight for the idle timeout.
    Idle,
}

impl Cut {
    const ALL: [Cut; 3] = [Cut::Handshake, Cut::Header, Cut::Idle];

    fn label(self) -> &'static str {
        match self {
            Cut::Handshake => "handshake",
            Cut::Header => "header",
            Cut::Idle => "idle",
        }
    }
}

impl HttpMetrics {
    fn new(listener: &'static str, names: &[&'static str]) -> HttpMetrics {
        let mut endpoints: Vec<&'static str> = Vec::with_capacity(names.len() + 1);
        for n in names {
            if !endpoints.contains(n) {
                endpoints.push(n);
            }
        }
        endpoints.push(UNKNOWN_ENDPOINT);
        let cells = endpoints.len() * METHODS.len() * STATUSES.len();
        HttpMetrics {
            listener,
            requests: (0..cells).map(|_| AtomicU64::new(0)).collect(),
            other_statuses: Mutex::new(BTreeMap::new()),
            latency: endpoints
                .iter()
                .map(|_| Histogram::new(LATENCY_BUCKETS))
                .collect(),
            endpoints,
            connections_open: AtomicI64::new(0),
            connections_accepted: AtomicU64::new(0),
            connection_cap_waits: AtomicU64::new(0),
            connections_cut: Default::default(),
        }
    }

    /// A connection was accepted (`connection_closed` when it ends).
    pub fn connection_opened(&self) {
        self.connections_accepted.fetch_add(1, Relaxed);
        self.connections_open.fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    /// The accept loop waits: every connection slot is taken.
    pub fn connection_cap_reached(&self) {
        self.connection_cap_waits.fetch_add(1, Relaxed);
    }

    /// A slow client's connection was closed.
    pub fn connection_cut(&self, why: Cut) {
        if let Some(i) = Cut::ALL.iter().position(|c| *c == why) {
            self.connections_cut[i].fetch_add(1, Relaxed);
        }
    }

    /// Counts one answered request. `endpoint` is a route name of this
    /// listener; any other string counts as `unknown`.
    pub fn observe(&self, endpoint: &str, method: &hyper::Method, status: u16, took: Duration) {
        let e = self
            .endpoints
            .iter()
            .position(|n| *n == endpoint)
            .unwrap_or(self.endpoints.len() - 1);
        let m = METHODS
            .iter()
            .position(|n| *n == method.as_str())
            .unwrap_or(METHODS.len() - 1);
        match STATUSES.iter().position(|s| *s == status) {
            Some(s) => {
                let i = (e * METHODS.len() + m) * STATUSES.len() + s;
                if let Some(cell) = self.requests.get(i) {
                    cell.fetch_add(1, Relaxed);
                }
            }
            None => {
                *lock(&self.other_statuses)
                    .entry((e, m, status))
                    .or_insert(0) += 1;
            }
        }
        if let Some(h) = self.latency.get(e) {
            h.observe(took);
        }
    }

    /// The two families over every listener, each header once.
    fn render_all(listeners: &[&HttpMetrics], out: &mut String) {
        const REQUESTS: &str = "trustgate_http_requests_total";
        const LATENCY: &str = "trustgate_http_request_duration_seconds";
        header(
            out,
            REQUESTS,
            "counter",
            "Requests answered, by listener, endpoint (route name), method and status.",
        );
        for l in listeners {
            let mut rows: BTreeMap<(usize, usize, u16), u64> = BTreeMap::new();
            for (i, cell) in l.requests.iter().enumerate() {
                let n = cell.load(Relaxed);
                if n > 0 {
                    let s = i % STATUSES.len();
                    let m = (i / STATUSES.len()) % METHODS.len();
                    let e = i / STATUSES.len() / METHODS.len();
                    rows.insert((e, m, STATUSES[s]), n);
                }
            }
            for (k, n) in lock(&l.other_statuses).iter() {
                rows.insert(*k, *n);
            }
            for ((e, m, status), n) in rows {
                let status = status.to_string();
                sample(
                    out,
                    REQUESTS,
                    &[
                        ("listener", l.listener),
                        ("endpoint", l.endpoints[e]),
                        ("method", METHODS[m]),
                        ("status", &status),
                    ],
                    n,
                );
            }
        }
        header(
            out,
            LATENCY,
            "histogram",
            "Time from request to response, by listener and endpoint.",
        );
        for l in listeners {
            for (e, h) in l.latency.iter().enumerate() {
                if h.count() > 0 {
                    h.render(
                        LATENCY,
                        &[("listener", l.listener), ("endpoint", l.endpoints[e])],
                        out,
                    );
                }
            }
        }
        Self::render_connections(listeners, out);
    }

    /// The connection families over every listener, each header once.
    fn render_connections(listeners: &[&HttpMetrics], out: &mut String) {
        const OPEN: &str = "trustgate_http_connections_open";
        const ACCEPTED: &str = "trustgate_http_connections_accepted_total";
        const CAP: &str = "trustgate_http_connection_cap_waits_total";
        const CUT: &str = "trustgate_http_connections_cut_total";
        header(out, OPEN, "gauge", "Open connections, by listener.");
        for l in listeners {
            let n = l.connections_open.load(Relaxed);
            sample(out, OPEN, &[("listener", l.listener)], n);
        }
        header(
            out,
            ACCEPTED,
            "counter",
            "Connections accepted, by listener.",
        );
        for l in listeners {
            let n = l.connections_accepted.load(Relaxed);
            sample(out, ACCEPTED, &[("listener", l.listener)], n);
        }
        header(
            out,
            CAP,
            "counter",
            "Times the listener stopped accepting because server.max_connections were open.",
        );
        for l in listeners {
            let n = l.connection_cap_waits.load(Relaxed);
            sample(out, CAP, &[("listener", l.listener)], n);
        }
        header(
            out,
            CUT,
            "counter",
            "Connections closed on a slow client, by listener and the timeout that expired.",
        );
        for l in listeners {
            for (cut, n) in Cut::ALL.iter().zip(&l.connections_cut) {
                let labels = [("listener", l.listener), ("reason", cut.label())];
                sample(out, CUT, &labels, n.load(Relaxed));
            }
        }
    }
}

/// One remote perspective's answers by outcome and its latency.
struct PerspectiveCells {
    answers: [u64; 3],
    latency: Histogram,
}

impl PerspectiveCells {
    fn new() -> Self {
        PerspectiveCells {
            answers: [0; 3],
            latency: Histogram::new(PERSPECTIVE_BUCKETS),
        }
    }
}

/// A histogram with fixed buckets; observing is three relaxed atomic adds.
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative), the last one for +Inf.
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Relaxed);
        }
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }

    fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Buckets cumulative, as the format wants; `_count` is the +Inf
    /// bucket, so the two agree even while requests are being counted.
    fn render(&self, name: &str, labels: &[(&str, &str)], out: &mut String) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Relaxed);
            let le = match self.bounds.get(i) {
                Some(b) => b.to_string(),
                None => "+Inf".to_owned(),
            };
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            sample(out, &bucket, &with_le, cumulative);
        }
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        sample(out, &format!("{name}_sum"), labels, sum);
        sample(out, &format!("{name}_count"), labels, cumulative);
    }
}

/// A counter keyed by `N` label values.
struct Family<const N: usize> {
    name: &'static str,
    help: &'static str,
    labels: [&'static str; N],
    values: Mutex<BTreeMap<[&'static str; N], u64>>,
}

impl<const N: usize> Family<N> {
    fn new(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Self {
        Family {
            name,
            help,
            labels,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    fn inc(&self, key: [&'static str; N]) {
        *lock(&self.values).entry(key).or_insert(0) += 1;
    }

    fn render(&self, out: &mut String) {
        header(out, self.name, "counter", self.help);
        for (key, n) in lock(&self.values).iter() {
            let pairs: Vec<(&str, &str)> = self
                .labels
                .iter()
                .copied()
                .zip(key.iter().copied())
                .collect();
            sample(out, self.name, &pairs, *n);
        }
    }
}

/// A counter's value matters more than a panic elsewhere poisoning it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, kind, help);
    sample(out, name, &[], value);
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"");
            escape(out, v);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label value escaping of the text format: backslash, quote, newline.
fn escape(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A few route names of each listener, as `app` hands them in.
    fn registry() -> Metrics {
        Metrics::new(
            &["directory", "newNonce", "newOrder", "finalize", "newOrder"],
            &["/healthz", "/metrics"],
            &["/", "/login"],
        )
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn requests_are_counted_per_route_method_and_status() {
        let m = registry();
        let get = hyper::Method::GET;
        let post = hyper::Method::POST;
        m.acme()
            .observe("newOrder", &post, 201, Duration::from_millis(3));
        m.acme()
            .observe("newOrder", &post, 201, Duration::from_millis(30));
        m.acme()
            .observe("newOrder", &post, 400, Duration::from_millis(1));
        m.acme().observe("/acme/order/7", &get, 404, Duration::ZERO);
        // A status outside the fast table still counts.
        m.acme().observe("directory", &get, 418, Duration::ZERO);
        let t = m.render(None);
        let s = |l: &str| {
            value(
                &t,
                &format!("trustgate_http_requests_total{{listener=\"acme\",{l}}}"),
            )
        };
        assert_eq!(
            s("endpoint=\"newOrder\",method=\"POST\",status=\"201\""),
            Some(2.0)
        );
        assert_eq!(
            s("endpoint=\"newOrder\",method=\"POST\",status=\"400\""),
            Some(1.0)
        );
        // A raw path is never a label value.
        assert_eq!(
            s("endpoint=\"unknown\",method=\"GET\",status=\"404\""),
            Some(1.0)
        );
        assert!(!t.contains("/acme/order/7"));
        assert_eq!(
            s("endpoint=\"directory\",method=\"GET\",status=\"418\""),
            Some(1.0)
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_count_matches() {
        let m = registry();
        let post = hyper::Method::POST;
        for ms in [0, 3, 3, 40, 2000, 60_000] {
            m.acme()
                .observe("finalize", &post, 200, Duration::from_millis(ms));
        }
        let t = m.render(None);
        let name = "trustgate_http_request_duration_seconds";
        let labels = "listener=\"acme\",endpoint=\"finalize\"";
        let b = |le: &str| value(&t, &format!("{name}_bucket{{{labels},le=\"{le}\"}}")).unwrap();
        assert_eq!(b("0.001"), 1.0);
        assert_eq!(b("0.005"), 3.0);
        assert_eq!(b("0.05"), 4.0);
        assert_eq!(b("2.5"), 5.0);
        assert_eq!(b("30"), 5.0);
        assert_eq!(b("+Inf"), 6.0);
        assert_eq!(value(&t, &format!("{name}_count{{{labels}}}")), Some(6.0));
        let sum = value(&t, &format!("{name}_sum{{{labels}}}")).unwrap();
        assert!((sum - 62.046).abs() < 1e-9, "{sum}");
        // Endpoints never requested have no series.
        assert!(!t.contains("endpoint=\"newNonce\""));
    }

    #[test]
    fn event_counters_and_gauges_render() {
        let m = registry();
        m.validation("http-01", &Ok(()));
        m.validation(
            "http-01",
            &Err(Error::new(ErrorKind::Connection, "refused")),
        );
        m.validation(
            "http-01",
            &Err(Error::new(ErrorKind::Connection, "refused")),
        );
        m.certificate_issued("ov");
        m.gate_refusal("pending");
        m.rate_limited("new_orders_per_account");
        m.pool_wait(Duration::from_micros(50));
        m.pool_timeout();
        let t = m.render(Some(PoolState {
            connections: 3,
            idle: 2,
            max: 8,
        }));
        let v = |s: &str| value(&t, s);
        assert_eq!(
            v("trustgate_validations_total{method=\"http-01\",outcome=\"valid\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("trustgate_validations_total{method=\"http-01\",outcome=\"connection\"}"),
            Some(2.0)
        );
        assert_eq!(
            v("trustgate_certificates_issued_total{profile=\"ov\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("trustgate_gate_refusals_total{reason=\"pending\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("trustgate_rate_limited_total{limit=\"new_orders_per_account\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("trustgate_db_pool_wait_seconds_bucket{le=\"0.0001\"}"),
            Some(1.0)
        );
        assert_eq!(v("trustgate_db_pool_wait_seconds_count"), Some(1.0));
        assert_eq!(v("trustgate_db_pool_timeouts_total"), Some(1.0));
        assert_eq!(v("trustgate_db_pool_idle_connections"), Some(2.0));
        // Not sampled yet: absent rather than a misleading 0.
        assert!(!t.contains("trustgate_nonces_used"));
        m.set_nonces_used(42);
        assert_eq!(value(&m.render(None), "trustgate_nonces_used"), Some(42.0));
    }

    #[test]
    fn every_family_has_help_and_type_once() {
        let m = registry();
        m.acme()
            .observe("newNonce", &hyper::Method::HEAD, 200, Duration::ZERO);
        m.admin()
            .observe("/healthz", &hyper::Method::GET, 200, Duration::ZERO);
        let t = m.render(None);
        let mut types = std::collections::HashSet::new();
        for l in t.lines().filter(|l| l.starts_with("# TYPE ")) {
            assert!(types.insert(l.to_owned()), "duplicate {l}");
        }
        // Each sample belongs to a family declared above it.
        for l in t.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|b| t.contains(&format!("# TYPE {b} histogram")))
                .unwrap_or(name);
            assert!(t.contains(&format!("# TYPE {base} ")), "{l}");
        }
        assert!(t.contains("listener=\"admin\",endpoint=\"/healthz\""));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "x", &[("a", "q\"b\\n\nl")], 1);
        assert_eq!(out, "x{a=\"q\\\"b\\\\n\\nl\"} 1\n");
    }

    #[test]
    fn perspective_answers_and_latency_are_counted_per_perspective() {
        let m = Metrics::default();
        m.perspective_answer("ripe-1", "valid", Duration::from_millis(30));
        m.perspective_answer("ripe-1", "unreachable", Duration::from_secs(3));
        m.perspective_answer("arin-1", "invalid", Duration::from_millis(200));
        let t = m.render(None);
        assert!(
            t.contains("# TYPE trustgate_perspective_answers_total counter"),
            "{t}"
        );
        assert!(t.contains(
            "trustgate_perspective_answers_total{perspective=\"ripe-1\",outcome=\"valid\"} 1"
        ));
        assert!(t.contains(
            "trustgate_perspective_answers_total{perspective=\"ripe-1\",outcome=\"unreachable\"} 1"
        ));
        assert!(t.contains(
            "trustgate_perspective_answers_total{perspective=\"arin-1\",outcome=\"invalid\"} 1"
        ));
        assert!(
            t.contains("trustgate_perspective_duration_seconds_count{perspective=\"ripe-1\"} 2")
        );
        assert!(t.contains(
            "trustgate_perspective_duration_seconds_bucket{perspective=\"arin-1\",le=\"0.25\"} 1"
        ));
    }
}
