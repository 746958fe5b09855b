//! `trustgate-seed`: fills a trustgate database (SQLite or PostgreSQL)
//! with N certificates and everything around them, so that request
//! latency can be measured on a large database (docs/benchmarks.md,
//! "Latency on a seeded database").
//!
//! It applies the migrations (`sa::Store::open`), creates organizations
//! with their checks, approvals and EAB credentials through the vetting
//! service, inserts accounts with real P-256 keys, then per certificate a
//! valid order, its valid authorizations with their three challenges and
//! the validation records, the links and the certificate (a random
//! 128-bit serial, one real DER body, the CRL shard the server would
//! pick; some revoked, their compromised keys blocked), and among them
//! abandoned and failed orders. Rows are written with multi-row INSERTs
//! built from the crate's schema, thousands per statement, one
//! transaction per `--batch` orders; a second thread generates rows while
//! the first inserts. Ids are assigned here (from the current maximum),
//! so a database may be seeded more than once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::sync_channel;
use std::time::{Duration as StdDuration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use ring::rand::SecureRandom;
use time::Duration;
use trustgate::config::Config;
use trustgate::sa::schema::{
    audit_events, authorizations, blocked_keys, certificates, challenges, order_authorizations,
    orders,
};
use trustgate::sa::{Backend, DbConn, Store};

#[path = "trustgate-seed/insert.rs"]
mod insert;
#[path = "trustgate-seed/orgs.rs"]
mod orgs;
#[path = "trustgate-seed/rows.rs"]
mod rows;

use rows::{Chunk, Generator, Mix, NextIds, Plan};

#[derive(Parser)]
#[command(
    name = "trustgate-seed",
    version,
    about = "Fill a trustgate database with certificates, orders and authorizations"
)]
struct Args {
    /// trustgate configuration: its database, vetting settings (the EAB
    /// sealing key), CRL shards, lifetimes and validity are used.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database to seed: a SQLite path or a postgres:// URL (overrides the
    /// configuration's).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Certificates to insert, each with its valid order and authorizations.
    #[arg(long, default_value_t = 1_000_000)]
    certificates: u64,
    /// Organizations (approved, each with a reusable EAB credential).
    #[arg(long, default_value_t = 300)]
    organizations: usize,
    /// Of them, left awaiting vetting (one check recorded, no credential).
    #[arg(long, default_value_t = 0)]
    pending: usize,
    /// Accounts, spread over the organizations; a few own most rows.
    #[arg(long, default_value_t = 3_000)]
    accounts: usize,
    /// Every Nth organization is EV (0: none).
    #[arg(long, default_value_t = 5)]
    ev_every: usize,
    /// Orders left pending (abandoned), per 100 certificates.
    #[arg(long, default_value_t = 8.0)]
    abandoned_percent: f64,
    /// Orders that failed (invalid authorization or refused finalize), per
    /// 100 certificates.
    #[arg(long, default_value_t = 2.0)]
    failed_percent: f64,
    /// Revoked certificates, per 1,000.
    #[arg(long, default_value_t = 10)]
    revoked_per_mille: u32,
    /// Days of history the rows are spread over (ending now); older
    /// certificates have expired.
    #[arg(long, default_value_t = 400)]
    days: u32,
    /// Orders per transaction.
    #[arg(long, default_value_t = 10_000)]
    batch: u64,
    /// Also write each certificate's `certificate.issue` audit event, as
    /// the server does (an audit log as long as the certificate list).
    #[arg(long)]
    certificate_events: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trustgate-seed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[seed] {}", msg.as_ref());
}

fn run(args: Args) -> Result<(), String> {
    let cfg = Config::load(args.config.as_deref()).map_err(|e| e.to_string())?;
    let url = match &args.database_url {
        Some(u) => u.strip_prefix("sqlite://").unwrap_or(u).to_owned(),
        None => cfg.database_url(),
    };
    let backend = Backend::of_url(&url);
    if args.accounts == 0 || args.organizations <= args.pending {
        return Err("--accounts must be at least 1, --organizations more than --pending".into());
    }
    let started = Instant::now();
    let now = trustgate::core::Clock::system().now();
    let span = Duration::days(args.days.into());

    // Migrations, organizations and credentials through the crate itself.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let orgs = runtime.block_on(async {
        let store = Store::open(&url, 2, StdDuration::from_secs(30))
            .map_err(|e| format!("opening {url}: {e}"))?;
        log(format!(
            "creating {} organizations (checks, approval, EAB credential each; {} pending)",
            args.organizations, args.pending
        ));
        orgs::create_organizations(
            &store,
            cfg.vetting.clone(),
            args.organizations,
            args.ev_every,
            args.pending,
            "seed",
        )
        .await
    })?;
    drop(runtime);
    log(format!(
        "organizations done in {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    let mut conn = bulk_connection(&url, backend)?;
    let seed = {
        let mut b = [0u8; 8];
        ring::rand::SystemRandom::new()
            .fill(&mut b)
            .map_err(|_| "the OS random number generator failed".to_owned())?;
        u64::from_le_bytes(b)
    };
    let mut mix = Mix::new(seed);
    let first_account = max_id(&mut conn, "accounts")? + 1;
    let owners = orgs::create_accounts(
        &mut conn,
        &orgs,
        args.accounts,
        first_account,
        now,
        span,
        &mut mix,
    )?;
    log(format!("{} accounts inserted", owners.len()));

    let (der, ari_key_id) = sample_certificate(&cfg)?;
    let plan = Plan {
        certificates: args.certificates,
        abandoned: (args.certificates as f64 * args.abandoned_percent / 100.0).round() as u64,
        failed: (args.certificates as f64 * args.failed_percent / 100.0).round() as u64,
        revoked_per_mille: args.revoked_per_mille.min(1000),
        span,
        now,
        crl_shards: cfg.publish.crl_shards.max(1),
        order_lifetime: Duration::hours(cfg.acme.order_lifetime_hours as i64),
        authz_lifetime: Duration::hours(cfg.acme.authz_lifetime_hours as i64),
        authz_reuse_days: cfg.acme.authz_reuse_days,
        validity_days: cfg.ca.validity_days,
        backdate: Duration::seconds(cfg.ca.backdate_secs as i64),
        // One body shared by every row for the whole run.
        der: Box::leak(der.into_boxed_slice()),
        ari_key_id,
        certificate_events: args.certificate_events,
    };
    let next = NextIds {
        order: max_id(&mut conn, "orders")? + 1,
        authz: max_id(&mut conn, "authorizations")? + 1,
        challenge: max_id(&mut conn, "challenges")? + 1,
        certificate: max_id(&mut conn, "certificates")? + 1,
    };
    let totals = bulk(&mut conn, &plan, &owners, next, mix.next_u64(), args.batch)?;

    if backend == Backend::Postgres {
        log("advancing sequences past the seeded ids, then ANALYZE");
        for table in [
            "accounts",
            "orders",
            "authorizations",
            "challenges",
            "certificates",
        ] {
            conn.batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 (SELECT MAX(id) FROM {table}))"
            ))
            .map_err(|e| format!("setval {table}: {e}"))?;
        }
        // A live database has statistics (autovacuum); a bulk load has none
        // until autovacuum gets to it.
        conn.batch_execute("ANALYZE")
            .map_err(|e| format!("ANALYZE: {e}"))?;
    } else {
        log("checkpointing the WAL");
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
            .map_err(|e| format!("checkpoint: {e}"))?;
    }
    verify(&mut conn, &plan, next)?;
    let secs = started.elapsed().as_secs_f64();
    log(format!(
        "done: {} certificates, {} orders, {} authorizations, {} challenges, {} blocked keys, \
         {} audit events; {} rows in {:.1} s ({:.0} rows/s, {:.0} certificates/s overall)",
        totals.certificates,
        totals.orders,
        totals.authzs,
        totals.challenges,
        totals.blocked_keys,
        totals.events,
        totals.rows,
        secs,
        totals.rows as f64 / secs,
        totals.certificates as f64 / secs,
    ));
    if backend == Backend::Sqlite {
        if let Ok(m) = std::fs::metadata(&url) {
            log(format!("{url}: {:.0} MB", m.len() as f64 / 1e6));
        }
    }
    Ok(())
}

/// A connection tuned for loading: the seed is the only writer, and a
/// crash mid-seed only means seeding again.
fn bulk_connection(url: &str, backend: Backend) -> Result<DbConn, String> {
    let mut conn = match backend {
        Backend::Postgres => trustgate::sa::connect_postgres(url).map(DbConn::Pg),
        Backend::Sqlite => diesel::SqliteConnection::establish(url).map(DbConn::Sqlite),
    }
    .map_err(|e| format!("connecting to {url}: {e}"))?;
    let setup = match backend {
        Backend::Postgres => "SET synchronous_commit = off",
        Backend::Sqlite => {
            "PRAGMA busy_timeout=10000; PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; \
             PRAGMA foreign_keys=ON; PRAGMA cache_size=-524288; PRAGMA temp_store=MEMORY"
        }
    };
    conn.batch_execute(setup)
        .map_err(|e| format!("configuring the connection: {e}"))?;
    Ok(conn)
}

#[derive(diesel::QueryableByName)]
struct MaxId {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    id: Option<i64>,
}

fn max_id(conn: &mut DbConn, table: &str) -> Result<i64, String> {
    let row: MaxId = diesel::sql_query(format!("SELECT MAX(id) AS id FROM {table}"))
        .get_result(conn)
        .map_err(|e| format!("reading the largest {table} id: {e}"))?;
    Ok(row.id.unwrap_or(0))
}

/// One real certificate, issued by a throwaway development CA the way the
/// server issues (OV profile, CRLDP and AIA): every seeded row carries its
/// DER, so rows have the size real ones have. Also the key identifier
/// renewals name in `replaces`.
fn sample_certificate(cfg: &Config) -> Result<(Vec<u8>, String), String> {
    use trustgate::ca::profile::Profile;
    use trustgate::ca::{CertificateAuthority, IssuanceRequest, SubjectInfo};
    let dir = std::env::temp_dir().join(format!("trustgate-seed-{}", std::process::id()));
    let (root, cert, key) = (
        dir.join("root.pem"),
        dir.join("intermediate.pem"),
        dir.join("intermediate.key"),
    );
    let result = (|| {
        let at = trustgate::core::Clock::system().now();
        trustgate::ca::dev::generate_hierarchy("trustgate Seed", &root, &cert, &key, at)
            .map_err(|e| format!("sample CA: {e}"))?;
        let settings =
            trustgate::app::ca_settings(cfg).map_err(|e| format!("publish URLs: {e}"))?;
        let ca = CertificateAuthority::load(&root, &cert, &key, settings)
            .map_err(|e| format!("sample CA: {e}"))?;
        let leaf = rcgen::KeyPair::generate().map_err(|e| format!("sample key: {e}"))?;
        let request = IssuanceRequest {
            public_key_der: rcgen::PublicKeyData::subject_public_key_info(&leaf),
            names: vec!["www0-1.org0.seed.example.net".into()],
            profile: Profile::Ov,
            subject: Some(SubjectInfo {
                organization: "例示株式会社0".into(),
                country: "JP".into(),
                state_or_province: Some("東京都".into()),
                locality: Some("千代田区".into()),
                ev: None,
            }),
            not_before: None,
            not_after: None,
        };
        let issued = ca
            .issue(request)
            .map_err(|e| format!("sample certificate: {e}"))?
            .certificate;
        let key_id = ca
            .intermediate_key_id()
            .map(|k| B64.encode(k))
            .unwrap_or_else(|| "c2VlZA".into());
        Ok((issued.der, key_id))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Reads a sample of the seeded rows back through the server's own
/// storage code, which refuses any value it would not have written
/// itself (statuses, JSON columns, serials).
fn verify(conn: &mut DbConn, plan: &Plan, first: NextIds) -> Result<(), String> {
    use trustgate::acme::OrderStatus;
    use trustgate::core::{CertificateId, OrderId};
    use trustgate::sa;
    let orders = plan.certificates + plan.abandoned + plan.failed;
    if orders == 0 {
        return Ok(());
    }
    let now = trustgate::core::Clock::system().now();
    let fail = |what: &str, e: trustgate::error::Error| format!("verifying {what}: {e}");
    let mut mix = Mix::new(orders);
    let (mut valid, mut issued) = (0, 0);
    for _ in 0..500 {
        let id = OrderId(first.order + mix.below(orders) as i64);
        let order = sa::orders::load(conn, id)
            .map_err(|e| fail("an order", e))?
            .ok_or_else(|| format!("seeded order {id} is missing"))?;
        if order.authorizations.is_empty() {
            return Err(format!("seeded order {id} has no authorizations"));
        }
        sa::accounts::by_id(conn, order.account_id)
            .map_err(|e| fail("an account", e))?
            .ok_or_else(|| format!("the account of order {id} is missing"))?;
        sa::organizations::for_account(conn, order.account_id)
            .map_err(|e| fail("an organization", e))?
            .ok_or_else(|| format!("the account of order {id} has no organization"))?;
        if let Some(cert_id) = order.certificate {
            let cert = sa::certificates::by_id(conn, cert_id)
                .map_err(|e| fail("a certificate", e))?
                .ok_or_else(|| format!("certificate {cert_id} is missing"))?;
            sa::certificates::by_serial(conn, &cert.serial)
                .map_err(|e| fail("a certificate by serial", e))?
                .filter(|c| c.id == cert_id)
                .ok_or_else(|| format!("certificate {cert_id} is not found by its serial"))?;
            issued += 1;
        }
        if order.status(now) == OrderStatus::Valid {
            valid += 1;
        }
    }
    if valid != issued {
        return Err(format!(
            "{valid} sampled orders are valid but {issued} have certificates"
        ));
    }
    // Every shard's revoked entries decode (serials, reasons).
    let mut listed = 0;
    for shard in 0..plan.crl_shards.min(64) {
        listed += sa::crls::revoked_entries(conn, shard, now)
            .map_err(|e| fail("CRL entries", e))?
            .len();
    }
    let last = CertificateId(first.certificate + plan.certificates as i64 - 1);
    if plan.certificates > 0 && sa::certificates::by_id(conn, last).ok().flatten().is_none() {
        return Err(format!("the last seeded certificate {last} is missing"));
    }
    log(format!(
        "verified 500 orders through the server's storage code ({issued} with certificates); \
         {listed} revoked certificates on the current CRLs"
    ));
    Ok(())
}

#[derive(Default)]
struct Totals {
    orders: u64,
    authzs: u64,
    challenges: u64,
    certificates: u64,
    blocked_keys: u64,
    events: u64,
    rows: u64,
}

/// Generates on a second thread while this one inserts, one transaction
/// per chunk, with progress after each.
fn bulk(
    conn: &mut DbConn,
    plan: &Plan,
    owners: &[rows::Owner],
    next: NextIds,
    seed: u64,
    batch: u64,
) -> Result<Totals, String> {
    let total_units = plan.certificates + plan.abandoned + plan.failed;
    log(format!(
        "inserting {} orders: {} with certificates, {} abandoned, {} failed",
        total_units, plan.certificates, plan.abandoned, plan.failed
    ));
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut units_done = 0u64;
    let mut last_report = Instant::now();
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<Result<Chunk, String>>(2);
        s.spawn(move || {
            let mut generator = Generator::new(plan, owners, next, seed);
            while !generator.done() {
                let chunk = generator.chunk(batch.max(1));
                let failed = chunk.is_err();
                if tx.send(chunk).is_err() || failed {
                    return;
                }
            }
        });
        for chunk in rx {
            let chunk = chunk?;
            insert_chunk(conn, &chunk)?;
            units_done += chunk.units;
            totals.orders += chunk.orders.len() as u64;
            totals.authzs += chunk.authzs.len() as u64;
            totals.challenges += chunk.challenges.len() as u64;
            totals.certificates += chunk.certificates.len() as u64;
            totals.blocked_keys += chunk.blocked_keys.len() as u64;
            totals.events += chunk.events.len() as u64;
            totals.rows += chunk.rows();
            if last_report.elapsed() >= StdDuration::from_secs(2) || units_done == total_units {
                last_report = Instant::now();
                let secs = started.elapsed().as_secs_f64();
                log(format!(
                    "{units_done}/{total_units} orders ({:.1} %), {} certificates, {} rows, \
                     {:.0} rows/s, {:.0} certificates/s, {secs:.0} s",
                    100.0 * units_done as f64 / total_units.max(1) as f64,
                    totals.certificates,
                    totals.rows,
                    totals.rows as f64 / secs,
                    totals.certificates as f64 / secs,
                ));
            }
        }
        Ok::<(), String>(())
    })?;
    if units_done != total_units {
        return Err(format!(
            "the generator stopped after {units_done} of {total_units} orders"
        ));
    }
    Ok(totals)
}

/// Parents before children, so the foreign keys hold row by row.
fn insert_chunk(conn: &mut DbConn, c: &Chunk) -> Result<(), String> {
    insert::in_transaction(conn, |conn| {
        insert_rows!(conn, orders::table, &c.orders, rows::ORDER_COLUMNS);
        insert_rows!(conn, authorizations::table, &c.authzs, rows::AUTHZ_COLUMNS);
        insert_rows!(
            conn,
            order_authorizations::table,
            &c.links,
            rows::LINK_COLUMNS
        );
        insert_rows!(
            conn,
            challenges::table,
            &c.challenges,
            rows::CHALLENGE_COLUMNS
        );
        insert_rows!(
            conn,
            certificates::table,
            &c.certificates,
            rows::CERTIFICATE_COLUMNS
        );
        insert_rows!(
            conn,
            blocked_keys::table,
            &c.blocked_keys,
            rows::BLOCKED_KEY_COLUMNS
        );
        insert_rows!(conn, audit_events::table, &c.events, rows::EVENT_COLUMNS);
        Ok(())
    })
}
