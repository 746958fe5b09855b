//! Assembly: opens the store, loads (or on first start generates) the CA,
//! builds va → ra → wfe, and runs the listener and background tasks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::{self, Admin};
use crate::ca::{self, CertificateAuthority};
use crate::config::{AdminTls, Config, TlsMode};
use crate::core::Clock;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::ra::Ra;
use crate::sa::{self, Store};
use crate::va::remote::{client, RemotePerspective};
use crate::va::{mpic, Validator};
use crate::vetting::Vetting;
use crate::wfe::{self, Wfe};

pub mod mail;
pub mod preflight;

/// The remote validation perspectives (BR 3.2.2.9) the VA asks.
pub type Perspectives = Vec<Arc<dyn RemotePerspective>>;

/// How often expired nonce records are deleted.
const NONCE_PRUNE_EVERY: Duration = Duration::from_secs(600);
/// How often the expiry notices are looked for: hourly, so a new lease
/// holder catches up within hours; each notice is written once however
/// often it runs.
const EXPIRY_NOTICES_EVERY: Duration = Duration::from_secs(3600);
/// A background lease lasts this many rounds of its work, so a slow round
/// keeps it and a dead holder's work moves on within a few rounds.
const LEASE_ROUNDS: u32 = 3;

pub struct App {
    pub cfg: Arc<Config>,
    pub store: Store,
    pub ca: Arc<CertificateAuthority>,
    pub ra: Ra,
    pub wfe: Arc<Wfe>,
    /// This process in the leases table (`sa::leases`).
    pub instance: Arc<str>,
    /// The one clock every layer reads (the system clock in production).
    pub clock: Clock,
    /// The e-mail delivery worker, with `[mail]` (`app::mail`).
    pub mail: Option<mail::Delivery>,
    /// Invoicing, with `[billing]` (its job runs under a lease).
    pub billing: Option<crate::billing::Billing>,
}

/// Opens the database (applying migrations), on the system clock, with
/// the process's metrics registry.
pub fn open_store(cfg: &Config) -> Result<Store> {
    open_store_with_clock(cfg, Clock::system())
}

/// `open_store` on `clock`.
pub fn open_store_with_clock(cfg: &Config, clock: Clock) -> Result<Store> {
    Store::open_with(
        &cfg.database_url(),
        cfg.database.pool_size,
        Duration::from_secs(cfg.database.connect_timeout_secs),
        clock,
        metrics(),
    )
}

/// The process's metrics registry, with each listener's route names as
/// its endpoint label values.
pub fn metrics() -> Arc<Metrics> {
    let admin = crate::admin::endpoint_names();
    Arc::new(Metrics::new(
        wfe::ENDPOINTS,
        &admin,
        crate::portal::ENDPOINTS,
    ))
}

/// Loads the CA on `clock`, generating a development hierarchy first if
/// configured and the files do not exist yet. A production CA signs with
/// a key in a PKCS#11 token unless `ca.allow_key_file` says otherwise.
pub fn load_ca(cfg: &Config, clock: &Clock) -> Result<CertificateAuthority> {
    let (root, int_cert, int_key) = ca_paths(cfg);
    let key = ca::KeySource::from_config(&cfg.ca, |p| cfg.data_path(p))?;
    let no_key_file = matches!(key, ca::KeySource::Token(_)) || !int_key.exists();
    if !int_cert.exists() && no_key_file && !root.exists() {
        if !cfg.ca.generate_dev_ca || matches!(key, ca::KeySource::Token(_)) {
            return Err(Error::internal(format!(
                "CA certificate {} does not exist (set ca.generate_dev_ca = true for a development CA, \
                 or run `trustgate init`)",
                int_cert.display()
            )));
        }
        tracing::warn!(dir = %root.parent().map(|p| p.display().to_string()).unwrap_or_default(),
            "generating a DEVELOPMENT CA hierarchy; never use it for real certificates");
        ca::dev::generate_hierarchy(&cfg.ca.dev_ca_name, &root, &int_cert, &int_key, clock.now())?;
    }
    if let ca::KeySource::File(path) = &key {
        check_key_file(cfg, path)?;
    }
    let ct_logs = ca::ct::Logs::from_config(&cfg.ct)?;
    if ct_logs.is_none() {
        tracing::info!("no ct.logs configured: certificates are issued without SCTs");
    }
    Ok(
        CertificateAuthority::load_with_key(&root, &int_cert, &key, ca_settings(cfg)?)?
            .with_clock(clock.clone())
            .with_linter(ca::linter::Linter::from_config(&cfg.ca)?)
            .with_ct_logs(ct_logs),
    )
}

/// BR 6.2.7 at startup: a production CA keeps its key in hardware, so a
/// key file needs `ca.allow_key_file = true`, and must then be readable
/// by its owner only. A development CA may use a file.
fn check_key_file(cfg: &Config, path: &std::path::Path) -> Result<()> {
    if cfg.ca.generate_dev_ca {
        return Ok(());
    }
    if !cfg.ca.allow_key_file {
        return Err(Error::internal(format!(
            "the intermediate key is a file ({}): a production CA keeps its key in a \
             hardware module (BR 6.2.7); set ca.intermediate_key to a pkcs11: URI with \
             ca.pkcs11_module, or set ca.allow_key_file = true to accept a key file",
            path.display()
        )));
    }
    if ca::key::readable_by_others(path)? {
        return Err(Error::internal(format!(
            "the intermediate key file {} is readable by group or others; chmod 600 it",
            path.display()
        )));
    }
    tracing::warn!(key = %path.display(), "production CA with its key in a file (ca.allow_key_file = true)");
    Ok(())
}

/// The CA's rules for what it issues, with the URLs `publish` serves.
pub fn ca_settings(cfg: &Config) -> Result<ca::Settings> {
    let urls = crate::config::PublishUrls::from_config(&cfg.publish)?;
    let crls = (0..urls.shards()).map(|shard| urls.crl(shard)).collect();
    let urls = ca::IssuerUrls::new(urls.issuer(), crls)?;
    Ok(ca::Settings::new(&cfg.ca, urls))
}

/// BR 3.2.2.9 at startup: a production CA does not start with fewer
/// perspectives or regions than the rule in force today requires; a
/// development CA may run without any, single-perspective, and says so.
fn check_perspectives(cfg: &Config, perspectives: &Perspectives, clock: &Clock) -> Result<()> {
    let rule = ca::schedule::quorum(clock.now());
    if !cfg.ca.generate_dev_ca {
        return mpic::check_deployment(perspectives, &rule);
    }
    if perspectives.is_empty() {
        tracing::warn!(
            rule = %rule.describe(),
            "development CA without remote perspectives: validations and CAA checks are single-perspective"
        );
    }
    Ok(())
}

pub fn ca_paths(cfg: &Config) -> (PathBuf, PathBuf, PathBuf) {
    (
        cfg.data_path(&cfg.ca.root_cert),
        cfg.data_path(&cfg.ca.intermediate_cert),
        cfg.data_path(&cfg.ca.intermediate_key),
    )
}

impl App {
    /// The app on the system clock.
    pub async fn build(cfg: Config) -> Result<App> {
        App::build_with_clock(cfg, Clock::system()).await
    }

    /// The app with every layer on `clock` (tests move it across dates).
    pub async fn build_with_clock(cfg: Config, clock: Clock) -> Result<App> {
        let perspectives = client::perspectives_on_clock(&cfg.va, &clock)?;
        App::build_with_perspectives(cfg, clock, perspectives).await
    }

    /// The app with `perspectives` instead of the configured ones (tests
    /// put stand-ins there).
    pub async fn build_with_perspectives(
        cfg: Config,
        clock: Clock,
        perspectives: Perspectives,
    ) -> Result<App> {
        preflight::check(&cfg)?;
        cfg.limits.validate()?;
        cfg.agreement.validate()?;
        check_perspectives(&cfg, &perspectives, &clock)?;
        let cfg = Arc::new(cfg);
        let (c2, clock2) = (cfg.clone(), clock.clone());
        let store = tokio::task::spawn_blocking(move || open_store_with_clock(&c2, clock2))
            .await
            .map_err(|e| Error::internal(format!("opening the store: {e}")))??;
        crate::vetting::sealing::check_config(&cfg.vetting)?;
        let ca = Arc::new(load_ca(&cfg, &clock)?);
        let va = Validator::new(&cfg.va)?
            .with_clock(clock.clone())
            .with_perspectives(perspectives)
            .with_metrics(store.metrics().clone());
        let ra = Ra::new(cfg.clone(), store.clone(), ca.clone(), va, clock.clone());
        ra.record_terms_in_force().await?;
        let wfe = Arc::new(Wfe::new(cfg.clone(), ra.clone(), store.clone()).await?);
        let instance: Arc<str> = sa::leases::instance_id().into();
        tracing::info!(instance = %instance, "instance id for background leases");
        let mail = mail::Delivery::from_config(&cfg, store.clone(), instance.clone())?;
        let billing =
            crate::billing::Billing::from_config(cfg.clone(), store.clone(), clock.clone())?;
        if billing.is_none() {
            tracing::info!("no [billing] section: certificates are not invoiced");
        }
        Ok(App {
            cfg,
            store,
            ca,
            ra,
            wfe,
            instance,
            clock,
            mail,
            billing,
        })
    }

    /// The TLS settings of the ACME listener.
    pub fn tls_config(&self) -> Result<Option<Arc<rustls::ServerConfig>>> {
        let s = &self.cfg.server;
        match s.tls {
            TlsMode::None => Ok(None),
            TlsMode::Files => {
                let (Some(cert), Some(key)) = (&s.tls_cert, &s.tls_key) else {
                    return Err(Error::internal(
                        "server.tls = \"files\" needs tls_cert and tls_key",
                    ));
                };
                self.tls_from_files(cert, key).map(Some)
            }
            TlsMode::SelfIssued => {
                let (chain, key) = self.self_issued_tls()?;
                crate::http::tls_config(&chain, &key).map(Some)
            }
        }
    }

    /// The TLS settings of the admin listener (`admin.tls`): its own
    /// files, or the ACME listener's self-issued certificate (same host,
    /// same names).
    pub fn admin_tls_config(&self) -> Result<Option<Arc<rustls::ServerConfig>>> {
        self.listener_tls(self.cfg.admin.tls.as_ref())
    }

    /// The TLS settings of the portal listener (`portal.tls`), as
    /// `admin.tls`.
    pub fn portal_tls_config(&self) -> Result<Option<Arc<rustls::ServerConfig>>> {
        self.listener_tls(self.cfg.portal.tls.as_ref())
    }

    /// A staff or customer listener's TLS: files, or the self-issued
    /// certificate; None: plain HTTP.
    fn listener_tls(&self, tls: Option<&AdminTls>) -> Result<Option<Arc<rustls::ServerConfig>>> {
        match tls {
            None => Ok(None),
            Some(AdminTls::Files(files)) => self.tls_from_files(&files.cert, &files.key).map(Some),
            Some(AdminTls::SelfIssued(_)) => {
                let (chain, key) = self.self_issued_tls()?;
                crate::http::tls_config(&chain, &key).map(Some)
            }
        }
    }

    /// TLS settings from a PEM chain and key file (relative to `data_dir`).
    fn tls_from_files(
        &self,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Result<Arc<rustls::ServerConfig>> {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(self.cfg.data_path(p))
                .map_err(|e| Error::internal(format!("reading {}: {e}", p.display())))
        };
        crate::http::tls_config(&read(cert)?, &read(key)?)
    }

    /// A serving certificate from our own CA, kept in the data directory
    /// and renewed when it nears expiry.
    fn self_issued_tls(&self) -> Result<(String, String)> {
        let dir = self.cfg.data_dir.join("tls");
        let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
        if let (Ok(chain), Ok(key)) = (
            std::fs::read_to_string(&cert_path),
            std::fs::read_to_string(&key_path),
        ) {
            if serving_cert_fresh(&chain, &self.cfg.server.tls_names, self.clock.now()) {
                return Ok((chain, key));
            }
        }
        let (chain, key) = self
            .ca
            .issue_server_certificate(&self.cfg.server.tls_names)?;
        std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(&cert_path, &chain))
            .and_then(|_| write_private(&key_path, &key))
            .map_err(|e| Error::internal(format!("writing {}: {e}", dir.display())))?;
        Ok((chain, key))
    }

    /// Serves on `listener` (and on `admin.listen`, when set), generates
    /// and serves CRLs (`publish`), until `shutdown` flips to true.
    pub async fn run(self, listener: TcpListener, shutdown: watch::Receiver<bool>) -> Result<()> {
        let admin = match bind_admin(&self.cfg).await? {
            Some(l) => Some((l, self.admin()?)),
            None => None,
        };
        let portal = match bind_portal(&self.cfg).await? {
            Some(l) => Some(self.spawn_portal(l, shutdown.clone())?),
            None => None,
        };
        let publish = self.publish(crate::publish::bind(&self.cfg.publish).await?, &shutdown)?;
        let result = self.run_with_admin(listener, admin, shutdown).await;
        if let Some(task) = portal {
            let _ = task.await;
        }
        publish.finish(result).await
    }

    /// `run` with the admin listener already bound.
    pub async fn run_with_admin(
        self,
        listener: TcpListener,
        admin: Option<(TcpListener, Arc<Admin>)>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        let tls = self.tls_config()?;
        let admin_task = match admin {
            Some((l, a)) => Some(spawn_admin(
                l,
                self.admin_tls_config()?,
                a,
                shutdown.clone(),
            )),
            None => None,
        };
        self.spawn_background(shutdown.clone());
        tracing::info!(
            addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            directory = %self.wfe.urls().abs(wfe::urls::DIRECTORY),
            "trustgate is serving"
        );
        wfe::server::serve(listener, tls, self.wfe.clone(), async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await;
        if let Some(task) = admin_task {
            // It saw the same shutdown signal; wait for it to drain.
            let _ = task.await;
        }
        Ok(())
    }

    /// Sweeps that must run once across the cluster, each on whichever
    /// instance holds its lease.
    fn spawn_background(&self, shutdown: watch::Receiver<bool>) {
        // On every instance: each notice is leased on its own.
        if let Some(delivery) = self.mail.clone() {
            delivery.spawn(shutdown.clone());
        }
        let store = self.store.clone();
        self.spawn_leased(
            "nonce-prune",
            NONCE_PRUNE_EVERY,
            shutdown.clone(),
            move || {
                let store = store.clone();
                async move {
                    let now = store.clock().now();
                    match store.run(move |c| sa::nonces::prune(c, now)).await {
                        Ok(n) if n > 0 => {
                            tracing::debug!(pruned = n, "expired nonce records deleted")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "pruning nonces failed"),
                    }
                    // Counted here, not per scrape: the table holds every
                    // nonce redeemed within its lifetime (millions at full
                    // load). Only the lease holder reports it. On SQLite the
                    // table is not used (`wfe::nonce`, local ledger), which
                    // reports the gauge itself.
                    if store.backend() == sa::Backend::Sqlite {
                        return;
                    }
                    match store.read(sa::used_nonce_count).await {
                        Ok(n) => store.metrics().set_nonces_used(n),
                        Err(e) => tracing::warn!(error = %e, "counting used nonces failed"),
                    }
                }
            },
        );
        self.spawn_invoicing(shutdown.clone());
        self.spawn_expiry_notices(shutdown.clone());
        let ra = self.ra.clone();
        let every = Duration::from_secs(self.cfg.server.sweep_secs.max(1));
        self.spawn_leased("stale-sweep", every, shutdown, move || {
            let ra = ra.clone();
            async move {
                match ra.resume_stale_validations().await {
                    Ok(n) if n > 0 => tracing::info!(resumed = n, "resumed abandoned validations"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "resuming validations failed"),
                }
                match ra.recover_stale_finalizations().await {
                    Ok(n) if n > 0 => tracing::warn!(
                        orders = n,
                        "returned orders abandoned mid-finalize to ready"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "recovering finalizations failed"),
                }
                if let Err(e) = ra.prune_rate_limits().await {
                    tracing::warn!(error = %e, "pruning rate-limit buckets failed");
                }
            }
        });
    }

    /// The invoice job, on whichever instance holds its lease, at start and
    /// every `billing.job_every_hours`.
    fn spawn_invoicing(&self, shutdown: watch::Receiver<bool>) {
        let Some(billing) = self.billing.clone() else {
            return;
        };
        let creator = format!("job:{}", self.instance);
        self.spawn_leased("invoices", billing.every(), shutdown, move || {
            let (billing, creator) = (billing.clone(), creator.clone());
            async move {
                let now = billing.clock().now();
                match billing.run(now, &creator).await {
                    Ok(r) if r.late > 0 || r.failed > 0 => tracing::warn!(
                        failed = r.failed,
                        invoiced = r.invoiced,
                        late = r.late,
                        "invoices issued more than 10 days after issuance"
                    ),
                    Ok(r) if r.invoiced > 0 => tracing::info!(invoiced = r.invoiced, "invoice job"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "invoice job failed"),
                }
            }
        });
    }

    /// The expiry notices (vettings ending within 30 days, certificates
    /// within 14 unreplaced), on whichever instance holds their lease, at
    /// start and every hour; only with `[mail]`.
    fn spawn_expiry_notices(&self, shutdown: watch::Receiver<bool>) {
        let Some(job) =
            crate::ra::notices::ExpiryNotices::from_config(self.store.clone(), &self.cfg)
        else {
            return;
        };
        let clock = self.clock.clone();
        self.spawn_leased(
            "expiry-notices",
            EXPIRY_NOTICES_EVERY,
            shutdown,
            move || {
                let (job, now) = (job.clone(), clock.now());
                async move {
                    match job.run(now).await {
                        Ok(r) if r.organizations + r.certificates > 0 => tracing::info!(
                            organizations = r.organizations,
                            certificates = r.certificates,
                            "expiry notices written"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "expiry notices failed"),
                    }
                }
            },
        );
    }

    /// A lease named `name` for this instance, lasting a few rounds of
    /// work done `every`.
    fn lease(&self, name: &'static str, every: Duration) -> sa::leases::Lease {
        sa::leases::Lease::new(
            self.store.clone(),
            name,
            self.instance.clone(),
            every * LEASE_ROUNDS,
        )
    }

    /// Runs `work` every `every` while this instance holds lease `name`;
    /// gives the lease up at shutdown.
    fn spawn_leased<F, Fut>(
        &self,
        name: &'static str,
        every: Duration,
        mut shutdown: watch::Receiver<bool>,
        work: F,
    ) where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let lease = self.lease(name, every);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.wait_for(|s| *s) => break,
                }
                if lease.held().await {
                    work().await;
                }
            }
            lease.release().await;
        });
    }
}

/// A running server, for tests and embedding.
pub struct Running {
    pub addr: SocketAddr,
    /// Where the admin API listens, when `admin.listen` is set.
    pub admin_addr: Option<SocketAddr>,
    /// Where the customer portal listens, when `portal.listen` is set.
    pub portal_addr: Option<SocketAddr>,
    /// Where CRLs and the issuer certificate are served, when
    /// `publish.listen` is set.
    pub publish_addr: Option<SocketAddr>,
    pub directory_url: String,
    pub root_pem: String,
    /// This instance's name in the leases table.
    pub instance: Arc<str>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<()>>,
    store: Store,
}

impl Running {
    /// Stands in for a killed process (for tests that run instances in
    /// one process): from now on its database writer commits nothing, so
    /// work cut short while its runtime is dropped cannot land afterwards
    /// as it never could from a dead process. Nothing else is stopped.
    pub fn halt_writes(&self) {
        self.store.halt();
    }

    pub async fn stop(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        self.task
            .await
            .map_err(|e| Error::internal(format!("server task: {e}")))?
    }
}

/// Binds the configured address (port 0 picks a free port, and the base
/// URL follows it), builds the app and serves in the background.
pub async fn start(cfg: Config) -> Result<Running> {
    start_with_clock(cfg, Clock::system()).await
}

/// `start` with every layer on `clock`, for tests that move time.
pub async fn start_with_clock(cfg: Config, clock: Clock) -> Result<Running> {
    let perspectives = client::perspectives_on_clock(&cfg.va, &clock)?;
    start_with_perspectives(cfg, clock, perspectives).await
}

/// `start_with_clock` with `perspectives` instead of the configured ones.
pub async fn start_with_perspectives(
    mut cfg: Config,
    clock: Clock,
    perspectives: Perspectives,
) -> Result<Running> {
    let listener = TcpListener::bind(cfg.server.listen)
        .await
        .map_err(|e| Error::internal(format!("binding {}: {e}", cfg.server.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("local address: {e}")))?;
    cfg.server.listen = addr;
    // Before the app is built, so a port-0 address is fixed in its config
    // (the certificates' CRL and issuer URLs follow it).
    let publish_listener = crate::publish::bind_and_fix_port(&mut cfg).await?;
    let publish_addr = publish_listener.as_ref().and(cfg.publish.listen);
    let admin_listener = bind_admin(&cfg).await?;
    let admin_addr = match &admin_listener {
        Some(l) => Some(
            l.local_addr()
                .map_err(|e| Error::internal(format!("admin local address: {e}")))?,
        ),
        None => None,
    };
    let portal_listener = bind_portal(&cfg).await?;
    let portal_addr = match &portal_listener {
        Some(l) => Some(
            l.local_addr()
                .map_err(|e| Error::internal(format!("portal local address: {e}")))?,
        ),
        None => None,
    };
    if let (Some(a), None) = (portal_addr, &cfg.portal.base_url) {
        // A port-0 listener: its links name the port it got.
        cfg.portal.listen = Some(a);
    }
    let app = App::build_with_perspectives(cfg, clock, perspectives).await?;
    let directory_url = app.wfe.urls().abs(wfe::urls::DIRECTORY);
    let root_pem = app.ca.root_pem().to_owned();
    let instance = app.instance.clone();
    let store = app.store.clone();
    // Built here so a failure fails `start`, not the server task.
    let admin = match admin_listener {
        Some(l) => Some((l, app.admin()?)),
        None => None,
    };
    if admin.is_some() && store.read(crate::sa::staff::count).await? == 0 {
        tracing::warn!(
            "no staff: the admin API refuses every request; add the first member with `trustgate staff add NAME --roles view,vet,approve`"
        );
    }
    let (tx, rx) = watch::channel(false);
    let publish = app.publish(publish_listener, &rx)?;
    let portal = match portal_listener {
        Some(l) => Some(app.spawn_portal(l, rx.clone())?),
        None => None,
    };
    let task = tokio::spawn(async move {
        let result = app.run_with_admin(listener, admin, rx).await;
        if let Some(task) = portal {
            let _ = task.await;
        }
        publish.finish(result).await
    });
    Ok(Running {
        addr,
        admin_addr,
        portal_addr,
        publish_addr,
        directory_url,
        root_pem,
        instance,
        shutdown: tx,
        task,
        store,
    })
}

// --- CRL publishing (src/publish): CRLs + issuer certificate over HTTP. ---

impl App {
    /// Starts CRL generation and, when `listener` is given, serving; both
    /// stop with `shutdown`. Fails on an invalid `publish` section.
    pub fn publish(
        &self,
        listener: Option<TcpListener>,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<crate::publish::Publishing> {
        let generator = crate::publish::Generator::new(
            &self.cfg.publish,
            self.store.clone(),
            self.ca.clone(),
            self.clock.clone(),
        )?;
        let lease = self.lease("crl", generator.interval());
        let seals = Vetting::new(self.store.clone(), self.cfg.vetting.clone()).seals();
        Ok(crate::publish::Publishing::spawn(
            generator,
            Some(seals),
            listener,
            lease,
            shutdown.clone(),
        ))
    }
}

// --- The admin listener (src/admin): staff API on its own address. ---

impl App {
    /// The admin service over this app's store.
    pub fn admin(&self) -> Result<Arc<Admin>> {
        let vetting = Vetting::from_config(self.store.clone(), &self.cfg);
        Admin::new(&self.cfg, vetting)
            .map(|a| Arc::new(a.with_ca(&self.ca).with_billing(self.billing.clone())))
    }
}

/// Binds `admin.listen`, if set.
pub async fn bind_admin(cfg: &Config) -> Result<Option<TcpListener>> {
    let Some(addr) = cfg.admin.listen else {
        return Ok(None);
    };
    TcpListener::bind(addr)
        .await
        .map(Some)
        .map_err(|e| Error::internal(format!("binding the admin listener {addr}: {e}")))
}

fn spawn_admin(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    admin: Arc<Admin>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tracing::info!(
        addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        tls = tls.is_some(),
        "admin API is serving"
    );
    tokio::spawn(admin::server::serve(listener, tls, admin, async move {
        let _ = shutdown.wait_for(|s| *s).await;
    }))
}

// --- The customer portal (src/portal): its own listener. ---

impl App {
    /// The portal service over this app's store.
    pub fn portal(&self) -> Result<crate::portal::Portal> {
        let vetting = Vetting::from_config(self.store.clone(), &self.cfg);
        crate::portal::Portal::new(&self.cfg, vetting).map(|p| {
            p.with_ra(self.ra.clone())
                .with_billing(self.billing.clone())
        })
    }

    /// Serves the portal on `listener` until `shutdown`; built (and its
    /// TLS loaded) before it returns, so a bad setting fails the start.
    fn spawn_portal(
        &self,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<tokio::task::JoinHandle<()>> {
        let portal = Arc::new(self.portal()?);
        let tls = self.portal_tls_config()?;
        if self.cfg.mail.is_none() {
            tracing::warn!(
                "the portal runs without [mail]: sign-up confirmation links stay in the outbox, unsent"
            );
        }
        tracing::info!(
            addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            tls = tls.is_some(),
            base_url = %portal.base_url(),
            "customer portal is serving"
        );
        Ok(tokio::spawn(crate::http::serve(
            listener,
            tls,
            portal,
            async move {
                let _ = shutdown.wait_for(|s| *s).await;
            },
        )))
    }
}

/// Binds `portal.listen`, if set.
pub async fn bind_portal(cfg: &Config) -> Result<Option<TcpListener>> {
    let Some(addr) = cfg.portal.listen else {
        return Ok(None);
    };
    TcpListener::bind(addr)
        .await
        .map(Some)
        .map_err(|e| Error::internal(format!("binding the portal listener {addr}: {e}")))
}

fn serving_cert_fresh(chain_pem: &str, names: &[String], now: ::time::OffsetDateTime) -> bool {
    use x509_parser::prelude::*;
    let Ok(p) = ::pem::parse(chain_pem) else {
        return false;
    };
    let Ok((_, cert)) = X509Certificate::from_der(p.contents()) else {
        return false;
    };
    let left = cert.validity().not_after.timestamp() - now.unix_timestamp();
    let sans = crate::ca::dns_names(&cert);
    left > 7 * 86400 && names.iter().all(|n| sans.contains(&n.as_str()))
}

/// Writes a private key readable by the owner only.
pub fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A config over a fresh development hierarchy in `dir`.
    fn config_with_key_file(dir: &std::path::Path) -> Config {
        let mut cfg = Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        };
        let clock = Clock::system();
        load_ca(&cfg, &clock).unwrap();
        cfg.ca.generate_dev_ca = false;
        cfg
    }

    /// BR 6.2.7: a production CA refuses a key file unless told, and says
    /// why; with `allow_key_file` it starts.
    #[test]
    fn production_ca_refuses_a_key_file_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config_with_key_file(dir.path());
        let err = load_ca(&cfg, &Clock::system()).unwrap_err();
        assert!(err.detail.contains("BR 6.2.7"), "{}", err.detail);
        assert!(
            err.detail.contains("ca.allow_key_file = true"),
            "{}",
            err.detail
        );
        cfg.ca.allow_key_file = true;
        load_ca(&cfg, &Clock::system()).unwrap();
    }

    /// A key file others can read stops a production CA.
    #[cfg(unix)]
    #[test]
    fn production_key_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config_with_key_file(dir.path());
        cfg.ca.allow_key_file = true;
        let (_, _, key) = ca_paths(&cfg);
        assert!(!ca::key::readable_by_others(&key).unwrap());
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(ca::key::readable_by_others(&key).unwrap());
        let err = load_ca(&cfg, &Clock::system()).unwrap_err();
        assert!(
            err.detail.contains("readable by group or others"),
            "{}",
            err.detail
        );
        // A development CA may.
        cfg.ca.generate_dev_ca = true;
        load_ca(&cfg, &Clock::system()).unwrap();
    }

    /// A pkcs11: URI needs the module, and never takes a PIN from itself.
    #[test]
    fn token_key_configuration_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        cfg.ca.intermediate_key = "pkcs11:token=ca;object=int".into();
        let err = load_ca(&cfg, &Clock::system()).unwrap_err();
        assert!(err.detail.contains("ca.pkcs11_module"), "{}", err.detail);
        cfg.ca.pkcs11_module = Some("/usr/lib/softhsm/libsofthsm2.so".into());
        cfg.ca.intermediate_key = "pkcs11:token=ca;object=int?pin-value=7777".into();
        let err = load_ca(&cfg, &Clock::system()).unwrap_err();
        assert!(!err.detail.contains("7777"), "{}", err.detail);
        // No hierarchy is generated around a token key: `trustgate init` does.
        cfg.ca.intermediate_key = "pkcs11:token=ca;object=int".into();
        let pin = dir.path().join("pin");
        std::fs::write(&pin, "1234\n").unwrap();
        cfg.ca.pkcs11_pin_file = Some(pin);
        let err = load_ca(&cfg, &Clock::system()).unwrap_err();
        assert!(err.detail.contains("trustgate init"), "{}", err.detail);
    }
}
