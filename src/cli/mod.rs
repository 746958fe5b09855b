//! The `trustgate` subcommands: their arguments (clap) here, each
//! command group's body in a file of its own. `main` parses, loads the
//! configuration, starts the runtime and calls `run`.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use trustgate::ca;
use trustgate::config::Config;
use trustgate::error::{Error, Result};

mod account;
mod billing;
mod cert;
mod check;
mod eab;
mod identity;
mod init;
mod logging;
mod migrate;
mod notices;
mod org;
mod perspective;
mod serve;
mod staff;

/// Used when --config is not given and this file exists.
const DEFAULT_CONFIG: &str = "conf/trustgate.toml";

#[derive(Parser)]
#[command(
    name = "trustgate",
    version,
    about = "An ACME (RFC 8555) CA for OV and EV certificates"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: conf/trustgate.toml if it
    /// exists, else built-in development defaults.
    #[arg(long, short, global = true, env = "TRUSTGATE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the ACME API (the default command).
    Serve,
    /// Write a development CA hierarchy and a config file; refuses to
    /// overwrite either. With --pkcs11-module and --token the
    /// intermediate's key is generated inside the token.
    Init(InitArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the settings a production CA must fix before `serve` starts
    /// (exit status 1 when there is any), without starting.
    CheckConfig,
    /// External Account Binding credentials.
    Eab(EabArgs),
    /// Organizations and their vetting (the admin API's operations).
    Org(OrgArgs),
    /// Staff members (password and TOTP) and their admin API tokens.
    Staff(StaffArgs),
    /// Certificates (staff revocation).
    Cert(CertArgs),
    /// ACME accounts (staff deactivation).
    Account(AccountArgs),
    /// Invoices: run the invoice job once (docs/invoices.md).
    Billing(BillingArgs),
    /// E-mail notices: run the expiry notices job once (docs/mail.md).
    Notices(NoticesArgs),
    /// Serve a remote validation perspective (the [perspective] table and
    /// [va]); `perspective init` writes a development perspective PKI.
    Perspective(PerspectiveArgs),
}

#[derive(clap::Args)]
pub struct InitArgs {
    /// PKCS#11 module (shared library): generate the intermediate's key in
    /// a token instead of a file. The PIN is read from TRUSTGATE_PKCS11_PIN.
    #[arg(long, requires = "token", value_name = "PATH")]
    pkcs11_module: Option<PathBuf>,
    /// Label of the token to generate the key in.
    #[arg(long, requires = "pkcs11_module", value_name = "LABEL")]
    token: Option<String>,
    /// Label (and id) of the key objects in the token.
    #[arg(long, default_value = "trustgate-intermediate", value_name = "LABEL")]
    object: String,
    /// Key type of a token key: p256, p384, rsa2048, rsa3072 or rsa4096.
    #[arg(long, default_value = "p256")]
    key_type: String,
}

impl InitArgs {
    /// The token to generate the key in, if one was named.
    fn into_token(self) -> Result<Option<init::TokenInit>> {
        let (Some(module), Some(token)) = (self.pkcs11_module, self.token) else {
            return Ok(None);
        };
        let kind = match self.key_type.as_str() {
            "p256" => ca::pkcs11::KeyKind::EcdsaP256,
            "p384" => ca::pkcs11::KeyKind::EcdsaP384,
            "rsa2048" => ca::pkcs11::KeyKind::Rsa(2048),
            "rsa3072" => ca::pkcs11::KeyKind::Rsa(3072),
            "rsa4096" => ca::pkcs11::KeyKind::Rsa(4096),
            other => {
                return Err(Error::malformed(format!(
                    "--key-type {other:?}: expected p256, p384, rsa2048, rsa3072 or rsa4096"
                )))
            }
        };
        Ok(Some(init::TokenInit {
            module,
            token,
            object: self.object,
            kind,
        }))
    }
}

#[derive(clap::Args)]
pub struct PerspectiveArgs {
    #[command(subcommand)]
    command: Option<PerspectiveCommand>,
}

#[derive(Subcommand)]
pub enum PerspectiveCommand {
    /// Write a perspective CA, the perspective's server certificate and
    /// the primary's client certificate; print both configuration tables.
    /// Refuses to overwrite.
    Init(PerspectiveInit),
}

#[derive(clap::Args)]
pub struct PerspectiveInit {
    /// Directory of the PEM files.
    #[arg(long, default_value = "data/perspective")]
    dir: PathBuf,
    /// The perspective's name, as the primary records it.
    #[arg(long, default_value = "perspective-1")]
    name: String,
    /// Host names and IP addresses of the server certificate (repeat the
    /// flag); the first is used in the printed URL.
    #[arg(long, default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()])]
    host: Vec<String>,
    /// The perspective's RIR region: ARIN, RIPE, APNIC, LACNIC or AFRINIC.
    #[arg(long, default_value = "ARIN")]
    region: String,
    /// The address the perspective will listen on.
    #[arg(long, default_value = "127.0.0.1:14003")]
    listen: std::net::SocketAddr,
}

#[derive(clap::Args)]
pub struct AccountArgs {
    #[command(flatten)]
    auth: identity::StaffAuth,
    #[command(subcommand)]
    command: AccountCommand,
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Deactivate an ACME account (RFC 8555 §7.3.6) by id: it can no
    /// longer order; its certificates stay valid until revoked.
    Deactivate {
        id: trustgate::core::AccountId,
        /// Why, recorded in the audit log.
        #[arg(long)]
        reason: String,
    },
}

#[derive(clap::Args)]
pub struct BillingArgs {
    #[command(flatten)]
    auth: identity::StaffAuth,
    #[command(subcommand)]
    command: BillingCommand,
}

#[derive(Subcommand)]
pub enum BillingCommand {
    /// Invoice every certificate issued before the day of --now (in
    /// Japan) that has no invoice yet, as `serve` does every
    /// billing.job_every_hours; needs the approve role.
    Run {
        /// The time to run at (RFC 3339); default: now.
        #[arg(long)]
        now: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct NoticesArgs {
    #[command(flatten)]
    auth: identity::StaffAuth,
    #[command(subcommand)]
    command: NoticesCommand,
}

#[derive(Subcommand)]
pub enum NoticesCommand {
    /// Write the notices of vettings ending within 30 days and of
    /// certificates ending within 14 days unreplaced, each once, as
    /// `serve` does every hour; needs the vet role.
    Sweep {
        /// The time to run at (RFC 3339); default: now.
        #[arg(long)]
        now: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct CertArgs {
    #[command(flatten)]
    auth: identity::StaffAuth,
    #[command(subcommand)]
    command: CertCommand,
}

#[derive(Subcommand)]
pub enum CertCommand {
    /// Revoke a certificate (or a precertificate without one) by serial
    /// (hex), with any RFC 5280 reason (privilegeWithdrawn included) and a
    /// reason text for the audit log.
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
pub struct OrgArgs {
    #[command(flatten)]
    auth: identity::StaffAuth,
    #[command(subcommand)]
    command: OrgCommand,
}

#[derive(Subcommand)]
pub enum OrgCommand {
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
    /// Print the trust seal's id and the HTML the organization embeds
    /// (approved organizations; docs/seal.md).
    Seal { id: i64 },
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
    /// The organization's rate-limit overrides and the limits in force;
    /// with --file, replace the overrides (audited) by the JSON object in
    /// it, as the admin API's `limits`, e.g.
    /// {"new_orders_per_account": {"count": 3000, "period_secs": 10800}}.
    Limits {
        id: i64,
        #[arg(long, requires = "reason")]
        file: Option<PathBuf>,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct StaffArgs {
    #[command(flatten)]
    auth: identity::StaffAuth,
    #[command(subcommand)]
    command: StaffCommand,
}

#[derive(Subcommand)]
pub enum StaffCommand {
    /// Add a member; prints a one-time password and the TOTP secret (an
    /// otpauth:// URI, and its QR code on a terminal), once. The first
    /// member is added from the host; later ones by a member with the
    /// approve role.
    Add {
        name: String,
        /// Comma-separated: view, vet, approve.
        #[arg(long)]
        roles: String,
    },
    /// List members (never their secrets).
    List,
    /// Disable a member: their password and every token stop working.
    Disable { name: String },
    /// A new one-time password and TOTP secret for a member.
    Reset { name: String },
    /// Change the acting member's own password (--staff NAME, the current
    /// password and a TOTP code; the new one from the terminal or
    /// TRUSTGATE_STAFF_NEW_PASSWORD).
    Password,
    /// Admin API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// A new API token for a member, printed once (a member makes their
    /// own; one with the approve role makes anyone's).
    Create {
        name: String,
        /// What the token is for (shown in `token list`).
        #[arg(long)]
        label: String,
    },
    /// Revoke a token by id.
    Revoke { id: i64 },
    /// A member's tokens (never the tokens).
    List { name: String },
}

#[derive(clap::Args)]
pub struct EabArgs {
    #[command(flatten)]
    auth: identity::StaffAuth,
    #[command(subcommand)]
    command: EabCommand,
}

#[derive(Subcommand)]
pub enum EabCommand {
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

/// The configuration the command runs with, loaded before the runtime
/// starts (which sizes its blocking threads by it); `None` for `init`,
/// which writes one.
pub fn load_config(cli: &Cli) -> Result<Option<Config>> {
    if matches!(cli.command, Some(Command::Init(_))) {
        return Ok(None);
    }
    let path = cli.config.clone().or_else(|| {
        Path::new(DEFAULT_CONFIG)
            .exists()
            .then(|| DEFAULT_CONFIG.into())
    });
    Config::load(path.as_deref()).map(Some)
}

/// Runs `cli`'s command; `cfg` is the loaded configuration, `None` for
/// `init`, which writes one.
pub async fn run(cli: Cli, cfg: Option<Config>) -> Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    let Some(cfg) = cfg else {
        logging::init(&trustgate::config::LogConfig::default())?;
        let path = cli.config.unwrap_or_else(|| DEFAULT_CONFIG.into());
        return match command {
            Command::Init(args) => init::run(&path, &args.into_token()?),
            _ => Ok(()),
        };
    };
    logging::init(&cfg.log)?;
    match command {
        Command::Serve => serve::run(cfg).await,
        Command::Init(_) => Ok(()),
        Command::Migrate => migrate::run(&cfg),
        Command::CheckConfig => check::run(&cfg),
        Command::Eab(args) => eab::run(cfg, &args.auth, args.command).await,
        Command::Cert(args) => cert::run(cfg, &args.auth, args.command).await,
        Command::Billing(args) => billing::run(cfg, &args.auth, args.command).await,
        Command::Notices(args) => notices::run(cfg, &args.auth, args.command).await,
        Command::Account(args) => account::run(cfg, &args.auth, args.command).await,
        Command::Org(args) => org::run(cfg, &args.auth, args.command).await,
        Command::Staff(args) => staff::run(cfg, &args.auth, args.command).await,
        Command::Perspective(args) => match args.command {
            None => perspective::serve(cfg).await,
            Some(PerspectiveCommand::Init(init)) => perspective::init(&init),
        },
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
