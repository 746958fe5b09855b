//! Configuration: one TOML file (see `conf/trustgate.example.toml`) plus a
//! few environment overrides for secrets and URLs. Every field has a usable
//! default, so `trustgate serve` with no file runs a development CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// Environment variables that override the file (12-factor deployments).
pub const ENV_DATABASE_URL: &str = "TRUSTGATE_DATABASE_URL";
pub const ENV_BASE_URL: &str = "TRUSTGATE_BASE_URL";
pub const ENV_LISTEN: &str = "TRUSTGATE_LISTEN";
pub const ENV_DATA_DIR: &str = "TRUSTGATE_DATA_DIR";
pub const ENV_EAB_ENCRYPTION_KEY: &str = "TRUSTGATE_EAB_ENCRYPTION_KEY";
/// `text` or `json`; overrides `log.format`.
pub const ENV_LOG_FORMAT: &str = "TRUSTGATE_LOG_FORMAT";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for the SQLite database and the development CA when their
    /// paths are relative.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub ca: CaConfig,
    pub acme: AcmeConfig,
    pub va: VaConfig,
    pub vetting: VettingConfig,
    pub admin: AdminConfig,
    pub publish: PublishConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the ACME listener binds.
    pub listen: SocketAddr,
    /// The URL clients use to reach the directory's origin, without a
    /// trailing slash (e.g. `https://acme.example.com`). Defaults to
    /// `https://localhost:<port>` (or `http://` when `tls = "none"`).
    pub base_url: Option<String>,
    /// `self-issued`: a serving certificate the CA issues to itself for the
    /// names in `tls_names`; `files`: `tls_cert` + `tls_key` PEM files;
    /// `none`: plain HTTP behind a TLS-terminating proxy.
    pub tls: TlsMode,
    /// DNS names of the self-issued serving certificate.
    pub tls_names: Vec<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes (a JWS with a 4096-bit RSA
    /// CSR is well under 16 KiB).
    pub max_body_bytes: usize,
    /// Upper bound on handling one request, in seconds.
    pub request_timeout_secs: u64,
    /// Seconds between sweeps for work a dead instance abandoned
    /// (validations left `processing`, orders left mid-finalize). One
    /// instance of a cluster sweeps; if it dies, another takes over
    /// within three of these.
    pub sweep_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    SelfIssued,
    Files,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` (or a bare path) for the embedded default;
    /// `postgres://…` to scale out.
    pub url: String,
    /// Connections in the pool (on SQLite: the readers; one more
    /// connection writes).
    pub pool_size: u32,
    /// Seconds to wait for a pooled connection before answering 503.
    pub connect_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaConfig {
    /// PEM of the root certificate (served to operators; not in the chain).
    pub root_cert: PathBuf,
    /// PEM of the intermediate that signs subscriber certificates.
    pub intermediate_cert: PathBuf,
    /// PKCS#8 PEM private key of the intermediate.
    pub intermediate_key: PathBuf,
    /// Generate a development root + intermediate on first start when the
    /// files above do not exist. Never enable this for a production CA.
    pub generate_dev_ca: bool,
    /// Organization name written into a generated development hierarchy.
    pub dev_ca_name: String,
    /// Certificate lifetime in days, capped by the CA/Browser Forum maximum
    /// in force at issuance (see `ca::schedule`).
    pub validity_days: u32,
    /// Backdate notBefore by this many seconds to absorb client clock skew.
    pub backdate_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// Terms of service URL; when set, newAccount must agree to it.
    pub terms_of_service: Option<String>,
    pub website: Option<String>,
    /// Domain names that CAA `issue` records must name for this CA.
    pub caa_identities: Vec<String>,
    /// External Account Binding is required (RFC 8555 §7.3.4); an OV/EV CA
    /// always requires it, the switch exists for completeness.
    pub external_account_required: bool,
    /// Most DNS names in one order.
    pub max_names: usize,
    /// Names under these suffixes are refused with rejectedIdentifier.
    pub blocked_suffixes: Vec<String>,
    /// Lifetime of a pending order, in hours.
    pub order_lifetime_hours: u64,
    /// Lifetime of a pending authorization, in hours.
    pub authz_lifetime_hours: u64,
    /// Days a valid authorization is reused for later orders of the same
    /// account, capped by the BR limit in force (see `ca::schedule`).
    pub authz_reuse_days: u32,
    /// How long the response to a challenge waits for its validation, in
    /// milliseconds, so that a client's first poll finds the result
    /// (certbot sleeps a second after each poll that finds `pending`). A
    /// validation that takes longer goes on in the background and the
    /// response says `processing`. Only the answer to an order's last
    /// unanswered authorization waits, so an order's validations still run
    /// side by side. 0 answers at once; capped at half of
    /// `server.request_timeout_secs`.
    pub challenge_wait_ms: u64,
    /// Lifetime of a nonce, in seconds (on SQLite also bounded by
    /// `wfe::nonce::WINDOW` newer nonces).
    pub nonce_lifetime_secs: u64,
    /// Orders per page of an account's orders list.
    pub orders_page_size: usize,
    /// Profile used when an order names none.
    pub default_profile: String,
    /// Page explaining an early ARI renewal window (RFC 9773
    /// `explanationURL`), sent when the window was moved earlier.
    pub ari_explanation_url: Option<String>,
    /// Profiles offered (directory `meta.profiles`): "ov", "ev", and for
    /// testing "dv" (subject-free; the vetting gate still applies).
    pub profiles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaConfig {
    /// Port http-01 connects to. 80 in production; tests use a high port.
    pub http01_port: u16,
    /// Overall bound on one validation attempt, in seconds.
    pub timeout_secs: u64,
    /// DNS resolvers (`ip:port`); empty means the system's.
    pub resolvers: Vec<SocketAddr>,
    /// Allow validation to loopback (127.0.0.0/8, ::1). Only for tests on
    /// one machine; private and reserved space is refused regardless.
    pub allow_loopback: bool,
    /// Redirects followed during http-01 (RFC 8555 §8.3 allows them).
    pub max_redirects: usize,
    /// Bytes of an http-01 response body read at most.
    pub max_response_bytes: usize,
    /// Port tls-alpn-01 connects to. RFC 8737 §3 fixes 443; tests use a
    /// high port.
    pub tlsalpn01_port: u16,
    /// Validate DNSSEC on every VA lookup (A/AAAA, TXT, CAA). A Bogus
    /// answer fails the lookup; unsigned zones (Insecure) proceed. Turn off
    /// only when the configured resolvers strip DNSSEC records.
    pub dnssec: bool,
    /// DNSSEC trust anchors: files of DNSKEY records (BIND `K*.key` files
    /// or the root's `root.key`), any owner name. Empty means the IANA root
    /// KSKs built into hickory (key tags 20326 and 38696). DS lines are not
    /// accepted.
    pub trust_anchors: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VettingConfig {
    /// The approver must differ from whoever recorded the checks.
    pub four_eyes: bool,
    /// Days vetting data may be relied on, counted from the oldest check
    /// behind the approval; never more than the CA/Browser Forum's 398.
    pub max_age_days: u32,
    /// base64url of 32 random bytes: EAB HMAC keys are stored sealed with
    /// it (AES-256-GCM), so a copy of the database (backup, replica) does
    /// not yield them. Prefer the TRUSTGATE_EAB_ENCRYPTION_KEY environment
    /// variable. Without it keys are stored unsealed (development only; a
    /// warning is logged).
    pub eab_encryption_key: Option<String>,
}

impl Default for VettingConfig {
    fn default() -> Self {
        VettingConfig {
            four_eyes: true,
            max_age_days: MAX_IDENTITY_REUSE_DAYS,
            eab_encryption_key: None,
        }
    }
}

/// BR 4.2.1: subject identity information may be reused for 398 days.
pub const MAX_IDENTITY_REUSE_DAYS: u32 = 398;

impl VettingConfig {
    pub fn max_age(&self) -> time::Duration {
        time::Duration::days(self.max_age_days.min(MAX_IDENTITY_REUSE_DAYS).into())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin API listener (plain HTTP; keep it on loopback
    /// or a private management network). None disables it.
    pub listen: Option<SocketAddr>,
    /// Staff allowed to use the admin API.
    pub staff: Vec<StaffConfig>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 14001))),
            staff: vec![],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffConfig {
    /// The name recorded in the audit log.
    pub name: String,
    /// Hex SHA-256 of the bearer token (`trustgate staff token` makes one);
    /// the token itself is never stored.
    pub token_sha256: String,
    /// What the member may do: "view", "vet" (create/edit organizations,
    /// record checks, manage EAB credentials) and "approve".
    pub roles: Vec<StaffRole>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StaffRole {
    View,
    Vet,
    Approve,
}

/// CRLs and the issuer certificate, published over plain HTTP (see
/// `crate::publish`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Address of the plain-HTTP listener for CRLs and the issuer
    /// certificate. None: this instance only generates CRLs (into the
    /// database); another instance or a proxy must serve `base_url`.
    pub listen: Option<SocketAddr>,
    /// The http:// origin (optionally with a path) placed in certificates'
    /// CRL distribution points and AIA caIssuers, without a trailing slash;
    /// `https://` is refused (BR 7.1.2.11.2, 7.1.2.7.7). Defaults to
    /// `http://localhost:<listen port>`. Certificates keep the URLs they
    /// were issued with: change it only with a redirect from the old one.
    pub base_url: Option<String>,
    /// CRL shards new certificates are spread over (at least 1). A
    /// certificate keeps its shard when this changes; shards that still
    /// hold revoked certificates keep being published.
    pub crl_shards: u32,
    /// nextUpdate − thisUpdate of each CRL, in hours: at most 240 (BR
    /// 4.9.7: ten days). A CRL is reissued when half of it has passed.
    pub next_update_hours: u32,
    /// Seconds between checks for new revocations; a revocation is on its
    /// CRL within about this long. Also the CRL's Cache-Control max-age.
    pub regenerate_secs: u64,
}

/// Logging (to standard error). Every request is one line at `info` with
/// its request id; bodies (JWS payloads, EAB MACs, CSRs) are never logged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` (one object per line) for log shippers.
    /// TRUSTGATE_LOG_FORMAT overrides it.
    pub format: LogFormat,
    /// A level (`info`) or tracing filter directives
    /// (`info,trustgate::va=debug`). RUST_LOG, when set, takes precedence.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// BR 4.9.7: nextUpdate at most ten days after thisUpdate.
pub const MAX_CRL_NEXT_UPDATE_HOURS: u32 = 240;
/// More shards than this is a configuration mistake.
pub const MAX_CRL_SHARDS: u32 = 65_536;

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 14002))),
            base_url: None,
            crl_shards: 16,
            next_update_hours: 7 * 24,
            regenerate_secs: 60,
        }
    }
}

impl PublishConfig {
    /// `base_url`, or `http://localhost:<listen port>` (port 80 when the
    /// listener is disabled), without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.base_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => match self.listen {
                Some(a) => format!("http://localhost:{}", a.port()),
                None => "http://localhost".to_owned(),
            },
        }
    }

    /// Refuses values that would publish non-conforming CRLs.
    pub fn validate(&self) -> Result<()> {
        if self.crl_shards == 0 || self.crl_shards > MAX_CRL_SHARDS {
            return Err(Error::internal(format!(
                "publish.crl_shards must be between 1 and {MAX_CRL_SHARDS}"
            )));
        }
        if self.next_update_hours == 0 || self.next_update_hours > MAX_CRL_NEXT_UPDATE_HOURS {
            return Err(Error::internal(format!(
                "publish.next_update_hours must be between 1 and {MAX_CRL_NEXT_UPDATE_HOURS} (BR 4.9.7: ten days)"
            )));
        }
        if self.regenerate_secs == 0 {
            return Err(Error::internal(
                "publish.regenerate_secs must be at least 1",
            ));
        }
        crate::publish::PublishUrls::from_config(self).map(|_| ())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            ca: CaConfig::default(),
            acme: AcmeConfig::default(),
            va: VaConfig::default(),
            vetting: VettingConfig::default(),
            admin: AdminConfig::default(),
            publish: PublishConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 14000)),
            base_url: None,
            tls: TlsMode::SelfIssued,
            tls_names: vec!["localhost".into()],
            tls_cert: None,
            tls_key: None,
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 30,
            sweep_secs: 30,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://trustgate.db".into(),
            pool_size: 8,
            connect_timeout_secs: 5,
        }
    }
}

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            root_cert: PathBuf::from("ca/root.pem"),
            intermediate_cert: PathBuf::from("ca/intermediate.pem"),
            intermediate_key: PathBuf::from("ca/intermediate.key"),
            generate_dev_ca: true,
            dev_ca_name: "trustgate Development CA".into(),
            validity_days: 90,
            backdate_secs: 60,
        }
    }
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            terms_of_service: None,
            website: None,
            caa_identities: vec![],
            external_account_required: true,
            max_names: 100,
            blocked_suffixes: vec![],
            order_lifetime_hours: 7 * 24,
            authz_lifetime_hours: 7 * 24,
            authz_reuse_days: 398,
            challenge_wait_ms: 2000,
            nonce_lifetime_secs: 3600,
            orders_page_size: 100,
            default_profile: "ov".into(),
            profiles: vec!["ov".into(), "ev".into()],
            ari_explanation_url: None,
        }
    }
}

impl Default for VaConfig {
    fn default() -> Self {
        VaConfig {
            http01_port: 80,
            timeout_secs: 10,
            resolvers: vec![],
            allow_loopback: false,
            max_redirects: 10,
            max_response_bytes: 8 * 1024,
            tlsalpn01_port: 443,
            dnssec: true,
            trust_anchors: vec![],
        }
    }
}

impl Config {
    /// Reads `path` (if given) and applies the environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| Error::internal(format!("reading config {}: {e}", p.display())))?;
                Self::parse(&text)?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok());
        Ok(cfg)
    }

    pub fn parse(text: &str) -> Result<Config> {
        toml::from_str(text).map_err(|e| Error::internal(format!("invalid configuration: {e}")))
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(v) = get(ENV_EAB_ENCRYPTION_KEY) {
            self.vetting.eab_encryption_key = Some(v);
        }
        if let Some(v) = get(ENV_DATA_DIR) {
            self.data_dir = v.into();
        }
        if let Some(v) = get(ENV_DATABASE_URL) {
            self.database.url = v;
        }
        if let Some(v) = get(ENV_BASE_URL) {
            self.server.base_url = Some(v);
        }
        if let Some(f) = get(ENV_LOG_FORMAT).as_deref().and_then(LogFormat::parse) {
            self.log.format = f;
        }
        if let Some(v) = get(ENV_LISTEN) {
            if let Ok(addr) = v.parse() {
                self.server.listen = addr;
            }
        }
    }

    /// A path from the config, relative to `data_dir` unless absolute.
    pub fn data_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.data_dir.join(p)
        }
    }

    /// The origin clients use, without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.server.base_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.server.tls == TlsMode::None {
                    "http"
                } else {
                    "https"
                };
                format!("{scheme}://localhost:{}", self.server.listen.port())
            }
        }
    }

    /// The database URL with a relative SQLite path resolved against
    /// `data_dir`.
    pub fn database_url(&self) -> String {
        let url = &self.database.url;
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return url.clone();
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if path == ":memory:" {
            return path.into();
        }
        self.data_path(Path::new(path))
            .to_string_lossy()
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../conf/trustgate.example.toml");
        let cfg = Config::parse(text).expect("example config parses");
        assert_eq!(cfg.va.max_redirects, 10);
        assert_eq!(cfg.va.tlsalpn01_port, 443);
        assert!(cfg.va.dnssec);
        assert!(cfg.va.trust_anchors.is_empty());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::parse("[server]\nlisten = \"127.0.0.1:1\"\nlistne = 1\n").unwrap_err();
        assert!(err.detail.contains("unknown field"), "{}", err.detail);
    }

    #[test]
    fn env_overrides_apply() {
        let mut cfg = Config::default();
        cfg.apply_env(|k| match k {
            ENV_DATABASE_URL => Some("postgres://x@127.0.0.1/db".into()),
            ENV_BASE_URL => Some("https://acme.example/".into()),
            _ => None,
        });
        assert_eq!(cfg.database_url(), "postgres://x@127.0.0.1/db");
        assert_eq!(cfg.base_url(), "https://acme.example");
    }

    #[test]
    fn publish_settings_are_checked() {
        let cfg = Config::default();
        cfg.publish.validate().unwrap();
        assert_eq!(cfg.publish.base_url(), "http://localhost:14002");
        let bad = [
            "[publish]\nnext_update_hours = 241\n",
            "[publish]\nnext_update_hours = 0\n",
            "[publish]\ncrl_shards = 0\n",
            "[publish]\nregenerate_secs = 0\n",
            "[publish]\nbase_url = \"https://crl.example.jp\"\n",
        ];
        for text in bad {
            let cfg = Config::parse(text).unwrap();
            assert!(cfg.publish.validate().is_err(), "{text}");
        }
        let cfg = Config::parse(
            "[publish]\nnext_update_hours = 240\nbase_url = \"http://crl.example.jp/\"\n",
        )
        .unwrap();
        cfg.publish.validate().unwrap();
        assert_eq!(cfg.publish.base_url(), "http://crl.example.jp");
    }

    #[test]
    fn log_settings_parse_and_env_overrides_the_format() {
        let cfg = Config::parse("[log]\nformat = \"json\"\nlevel = \"debug\"\n").unwrap();
        assert_eq!(cfg.log.format, LogFormat::Json);
        assert_eq!(cfg.log.level, "debug");
        assert!(Config::parse("[log]\nformat = \"xml\"\n").is_err());
        let mut cfg = Config::default();
        assert_eq!(cfg.log.format, LogFormat::Text);
        cfg.apply_env(|k| (k == ENV_LOG_FORMAT).then(|| "json".into()));
        assert_eq!(cfg.log.format, LogFormat::Json);
    }

    #[test]
    fn relative_sqlite_path_resolves_under_data_dir() {
        let cfg = Config::default();
        assert_eq!(cfg.database_url(), "data/trustgate.db");
    }
}
