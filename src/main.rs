//! The `trustgate` command: serve the ACME CA, or administer it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::sync::watch;
use trustgate::app::{self, App};
use trustgate::config::{Config, LogConfig, LogFormat};
use trustgate::core::OrganizationId;
use trustgate::error::{Error, Result};
use trustgate::vetting::checks::{approval_blockers, Transition, VettingStatus};
use trustgate::vetting::{eab, Vetting};

/// glibc's allocator took about a tenth of the server's CPU under load
/// (many small short-lived allocations across threads); mimalloc's
/// thread-local free lists make that cheaper (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Used when --config is not given and this file exists.
const DEFAULT_CONFIG: &str = "conf/trustgate.toml";

#[derive(Parser)]
#[command(
    name = "trustgate",
    version,
    about = "An ACME (RFC 8555) CA for OV and EV certificates"
)]
struct Cli {
    /// Configuration file (TOML). Default: conf/trustgate.toml if it
    /// exists, else built-in development defaults.
    #[arg(long, short, global = true, env = "TRUSTGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the ACME API (the default command).
    Serve,
    /// Write a development CA hierarchy and a config file; refuses to
    /// overwrite either.
    Init,
    /// Apply pending database migrations and exit.
    Migrate,
    /// External Account Binding credentials.
    #[command(subcommand)]
    Eab(EabCommand),
    /// Organizations and their vetting (the admin API's operations).
    Org(OrgArgs),
    /// Admin API staff.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Certificates (staff revocation).
    Cert(CertArgs),
}

#[derive(clap::Args)]
struct CertArgs {
    /// Record this staff name in the audit log instead of cli:$USER.
    #[arg(long = "as", global = true, value_name = "NAME")]
    as_name: Option<String>,
    #[command(subcommand)]
    command: CertCommand,
}

#[derive(Subcommand)]
enum CertCommand {
    /// Revoke a certificate by serial (hex), with any RFC 5280 reason
    /// (privilegeWithdrawn included) and a reason text for the audit log.
    Revoke {
        serial: String,
        /// unspecified, keyCompromise, affiliationChanged, superseded,
        /// cessationOfOperation or privilegeWithdrawn.
        #[arg(long)]
        code: String,
        /// Why, recorded in the audit log.
        #[arg(long)]
        reason: String,
    },
}

#[derive(clap::Args)]
struct OrgArgs {
    /// Record this staff name in the audit log instead of cli:$USER (so
    /// that checks and approval can be done as different people, as the
    /// four-eyes rule wants).
    #[arg(long = "as", global = true, value_name = "NAME")]
    as_name: Option<String>,
    #[command(subcommand)]
    command: OrgCommand,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization from a JSON file (see
    /// conf/organization.example.json); prints its id.
    Create {
        #[arg(long)]
        file: PathBuf,
    },
    /// List organizations.
    List {
        /// pending, approved, rejected, suspended or expired.
        #[arg(long)]
        status: Option<String>,
    },
    /// Show an organization, its checks and what blocks approval (JSON).
    Show { id: i64 },
    /// Replace an organization's data; it returns to pending and its
    /// checks must be recorded again.
    Edit {
        id: i64,
        #[arg(long)]
        file: PathBuf,
    },
    /// Record a vetting check from a JSON file (see conf/checks/).
    Check {
        id: i64,
        #[arg(long)]
        file: PathBuf,
        /// When the check was done (RFC 3339), if not now.
        #[arg(long)]
        performed_at: Option<String>,
    },
    /// Approve (pending → approved).
    Approve {
        id: i64,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject (pending → rejected).
    Reject {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Suspend (approved → suspended).
    Suspend {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Reinstate (suspended → approved).
    Reinstate {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Reopen (rejected or expired → pending).
    Reopen {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// Orders the vetting gate refused and that are still waiting.
    Blocked,
    /// The audit trail, newest first.
    Audit {
        /// Only events about this organization.
        id: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Print a fresh bearer token and the token_sha256 to configure for it.
    Token,
}

#[derive(Subcommand)]
enum EabCommand {
    /// Create a credential; its HMAC key is printed once and never again.
    Create {
        /// The organization every account bound with it acts for.
        #[arg(long)]
        org: i64,
        /// Who the credential is for (shown to staff).
        #[arg(long)]
        note: String,
        /// Allow more than one account to bind with it.
        #[arg(long)]
        reusable: bool,
        /// Days until the credential can no longer be used.
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List credentials (never their keys).
    List,
    /// Revoke a credential by key id.
    Revoke {
        key_id: String,
        #[arg(long)]
        reason: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config_path = cli.config.clone().or_else(|| {
        Path::new(DEFAULT_CONFIG)
            .exists()
            .then(|| DEFAULT_CONFIG.into())
    });
    // Loaded before the runtime starts, which sizes its blocking threads by it.
    let cfg = match cli.command {
        Some(Command::Init) => None,
        _ => match Config::load(config_path.as_deref()) {
            Ok(cfg) => Some(cfg),
            Err(e) => {
                eprintln!("trustgate: {}", e.detail);
                return ExitCode::FAILURE;
            }
        },
    };
    // Blocking threads are database calls (and a little file I/O). The
    // store runs one per pooled connection at most (calls beyond wait
    // without a thread), but tokio starts a new thread whenever none is
    // idle at the instant of a call, and each thread keeps its
    // allocator's pages: uncapped, 22 to 29 blocking threads served 8
    // connections at C = 512 on PostgreSQL (peak RSS 99–111 MiB; capped
    // like this, 84–88 MiB).
    let pool = cfg
        .as_ref()
        .map_or(8, |c| c.database.pool_size.max(1) as usize);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(pool + 4)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("trustgate: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trustgate: {}", e.detail);
            ExitCode::FAILURE
        }
    }
}

/// Runs `cli`'s command; `cfg` is the loaded configuration, `None` for
/// `init`, which writes one.
async fn run(cli: Cli, cfg: Option<Config>) -> Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    let Some(cfg) = cfg else {
        init_logging(&LogConfig::default())?;
        return init(&cli.config.unwrap_or_else(|| DEFAULT_CONFIG.into()));
    };
    init_logging(&cfg.log)?;
    match command {
        Command::Serve => serve(cfg).await,
        Command::Init => Ok(()),
        Command::Migrate => {
            app::open_store(&cfg)?;
            println!("migrations applied to {}", redact_url(&cfg.database_url()));
            Ok(())
        }
        Command::Eab(cmd) => eab_command(cfg, &cli_actor(), cmd).await,
        Command::Cert(args) => {
            let actor = args.as_name.clone().unwrap_or_else(cli_actor);
            let CertCommand::Revoke {
                serial,
                code,
                reason,
            } = args.command;
            let code = trustgate::core::RevocationReason::from_name(&code)
                .ok_or_else(|| Error::malformed(format!("unknown reason code {code:?}")))?;
            let store = app::open_store(&cfg)?;
            trustgate::ra::revocation::revoke_by_staff(&store, &actor, &serial, code, &reason)
                .await?;
            println!("revoked {serial}");
            Ok(())
        }
        Command::Org(args) => {
            let actor = args.as_name.clone().unwrap_or_else(cli_actor);
            org_command(cfg, &actor, args.command).await
        }
        Command::Staff(StaffCommand::Token) => {
            let token = trustgate::admin::auth::new_token()?;
            // The token goes to the staff member; only the hash goes in
            // the config.
            println!("token:        {token}");
            println!(
                "token_sha256: {}",
                trustgate::admin::auth::token_sha256_hex(&token)
            );
            Ok(())
        }
    }
}

/// Logs go to standard error, as text or one JSON object per line; in
/// JSON the request span (with `request_id`) is the `span` member.
fn init_logging(cfg: &LogConfig) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match EnvFilter::try_from_default_env() {
        Ok(f) => f,
        Err(_) => EnvFilter::try_new(&cfg.level)
            .map_err(|e| Error::internal(format!("log.level {:?}: {e}", cfg.level)))?,
    };
    // Colours only for a person at a terminal, not into files or journald.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let installed = match cfg.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|e| Error::internal(format!("setting up logging: {e}")))
}

async fn serve(cfg: Config) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .map_err(|e| Error::internal(format!("binding {}: {e}", cfg.server.listen)))?;
    let app = App::build(cfg).await?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("signal received; shutting down");
        let _ = tx.send(true);
    });
    app.run(listener, rx).await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
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
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// `trustgate init`: a config file pointing at ./data and a development
/// CA in it.
fn init(config_path: &Path) -> Result<()> {
    if config_path.exists() {
        return Err(Error::internal(format!(
            "{} already exists; not overwriting it",
            config_path.display()
        )));
    }
    let cfg = Config::default();
    let (root, int_cert, int_key) = app::ca_paths(&cfg);
    trustgate::ca::dev::generate_hierarchy(&cfg.ca.dev_ca_name, &root, &int_cert, &int_key)?;
    if let Some(dir) = config_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
    }
    let text = r#"# Written by `trustgate init`; see conf/trustgate.example.toml for every key.
data_dir = "data"

[ca]
root_cert = "ca/root.pem"
intermediate_cert = "ca/intermediate.pem"
intermediate_key = "ca/intermediate.key"
# The hierarchy above exists now; never generate another silently.
generate_dev_ca = false
"#;
    std::fs::write(config_path, text)
        .map_err(|e| Error::internal(format!("writing {}: {e}", config_path.display())))?;
    println!("wrote {}", config_path.display());
    println!(
        "wrote development CA: {}, {}, {}",
        root.display(),
        int_cert.display(),
        int_key.display()
    );
    Ok(())
}

/// Who an operator command is recorded as in the audit log.
fn cli_actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

async fn eab_command(cfg: Config, actor: &str, cmd: EabCommand) -> Result<()> {
    let vetting = Vetting::new(app::open_store(&cfg)?, cfg.vetting.clone());
    match cmd {
        EabCommand::Create {
            org,
            note,
            reusable,
            expires_days,
        } => {
            let issued = vetting
                .create_eab(
                    actor,
                    OrganizationId(org),
                    eab::CreateOptions {
                        note,
                        single_use: !reusable,
                        expires_in: expires_days.map(|d| time::Duration::days(d.into())),
                    },
                )
                .await?;
            // Printed once, to stdout only; it is stored but never shown again.
            println!("key_id:   {}", issued.credential.key_id);
            println!("hmac_key: {}", issued.hmac_key);
            Ok(())
        }
        EabCommand::List => {
            for c in vetting.list_eab(None).await? {
                let state = if c.revoked_at.is_some() {
                    "revoked"
                } else if c.single_use && c.used_at.is_some() {
                    "used"
                } else {
                    "active"
                };
                println!(
                    "{}\torganization {}\t{state}\t{}",
                    c.key_id, c.organization, c.note
                );
            }
            Ok(())
        }
        EabCommand::Revoke { key_id, reason } => {
            vetting.revoke_eab(actor, &key_id, &reason).await?;
            println!("revoked {key_id}");
            Ok(())
        }
    }
}

async fn org_command(cfg: Config, actor: &str, cmd: OrgCommand) -> Result<()> {
    if actor.trim().is_empty() {
        return Err(Error::malformed("--as needs a name"));
    }
    let vetting = Vetting::new(app::open_store(&cfg)?, cfg.vetting.clone());
    let transition = |id: i64, t: Transition, reason: Option<String>| {
        let vetting = vetting.clone();
        async move {
            let org = vetting
                .transition(actor, OrganizationId(id), t, reason)
                .await?;
            println!("organization {} is now {}", org.id, org.status.as_str());
            Ok(())
        }
    };
    match cmd {
        OrgCommand::Create { file } => {
            let org = vetting.create(actor, read_json(&file)?).await?;
            println!("{}", org.id);
            Ok(())
        }
        OrgCommand::List { status } => {
            let status = status
                .map(|s| {
                    VettingStatus::parse(&s)
                        .ok_or_else(|| Error::malformed(format!("unknown status {s:?}")))
                })
                .transpose()?;
            let now = time::OffsetDateTime::now_utc();
            for o in vetting.list(status).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    o.id,
                    o.effective_status(now, vetting.max_age()).as_str(),
                    o.data.level.as_str(),
                    o.data.legal_name
                );
            }
            Ok(())
        }
        OrgCommand::Show { id } => {
            let org = vetting.get(OrganizationId(id)).await?;
            let checks = vetting.checks(org.id).await?;
            let blockers = approval_blockers(org.data.level, &checks, org.data_changed_at, None);
            print_json(&serde_json::json!({
                "organization": org,
                "effective_status": org.effective_status(time::OffsetDateTime::now_utc(), vetting.max_age()),
                "checks": checks,
                "blockers": blockers,
            }))
        }
        OrgCommand::Edit { id, file } => {
            let org = vetting
                .edit(actor, OrganizationId(id), read_json(&file)?)
                .await?;
            println!(
                "organization {} updated; it is {}",
                org.id,
                org.status.as_str()
            );
            Ok(())
        }
        OrgCommand::Check {
            id,
            file,
            performed_at,
        } => {
            let (record, from_file) = trustgate::admin::parse_check_submission(read_json(&file)?)?;
            let performed_at = match performed_at {
                Some(s) => Some(trustgate::admin::parse_rfc3339("--performed-at", &s)?),
                None => from_file,
            };
            let check = vetting
                .record_check(actor, OrganizationId(id), record, performed_at)
                .await?;
            println!(
                "recorded check {} ({}, {}) for organization {id}",
                check.id,
                check.record.kind().as_str(),
                if check.record.passed() {
                    "passed"
                } else {
                    "failed"
                }
            );
            Ok(())
        }
        OrgCommand::Approve { id, reason } => transition(id, Transition::Approve, reason).await,
        OrgCommand::Reject { id, reason } => transition(id, Transition::Reject, Some(reason)).await,
        OrgCommand::Suspend { id, reason } => {
            transition(id, Transition::Suspend, Some(reason)).await
        }
        OrgCommand::Reinstate { id, reason } => {
            transition(id, Transition::Reinstate, Some(reason)).await
        }
        OrgCommand::Reopen { id, reason } => transition(id, Transition::Reopen, Some(reason)).await,
        OrgCommand::Blocked => {
            let blocked = vetting
                .store()
                .read(trustgate::sa::organizations::blocked_orders)
                .await?;
            for (order, account, org, refusal) in blocked {
                let (condition, detail) = serde_json::from_str::<serde_json::Value>(&refusal)
                    .ok()
                    .map(|v| {
                        (
                            v["condition"].as_str().unwrap_or("unknown").to_owned(),
                            v["detail"].as_str().unwrap_or(&refusal).to_owned(),
                        )
                    })
                    .unwrap_or_else(|| ("unknown".into(), refusal.clone()));
                println!(
                    "order {order}\taccount {account}\torganization {org}\t{condition}\t{detail}"
                );
            }
            Ok(())
        }
        OrgCommand::Audit { id, limit } => {
            for e in vetting.audit(id.map(OrganizationId), limit).await? {
                println!(
                    "{}\t{}\t{}\t{}{}",
                    e.at.format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                    e.actor,
                    e.action,
                    e.subject,
                    e.reason.map(|r| format!("\t{r}")).unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::malformed(format!("reading {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::malformed(format!("{}: {e}", path.display())))
}

fn print_json(v: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Error::internal(format!("rendering JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Database URLs may carry a password.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…{}", &url[..s], &url[at..]),
        _ => url.to_owned(),
    }
}
