//! Configuration: one TOML file (see `conf/trustgate.example.toml`) plus a
//! few environment overrides for secrets and URLs. Every field has a usable
//! default, so `trustgate serve` with no file runs a development CA.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::core::staff::StaffRole;
use crate::core::Region;
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
    /// The customer portal (docs/portal.md); off unless `portal.listen`.
    pub portal: PortalConfig,
    /// The subscriber agreement customers accept (portal, ACME terms).
    pub agreement: AgreementConfig,
    pub publish: PublishConfig,
    pub log: LogConfig,
    /// Certificate Transparency: the logs precertificates go to and how
    /// many SCTs a certificate needs (`ca::ct`). No logs: no SCTs.
    pub ct: CtConfig,
    /// Rate limits (`ra::limits`; docs/operations.md, "Rate limits").
    pub limits: LimitsConfig,
    /// Present only in the configuration of a `trustgate perspective`
    /// process (a remote validation perspective, BR 3.2.2.9).
    pub perspective: Option<PerspectiveConfig>,
    /// E-mail notices over SMTP (docs/mail.md). Absent: no notice is
    /// written at all.
    pub mail: Option<MailConfig>,
    /// Invoices for issued certificates (docs/invoices.md). Absent: no
    /// certificate is billed and no invoice is made.
    pub billing: Option<BillingConfig>,
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
    /// Open connections per listener (ACME, admin, CRL); at the cap a
    /// listener stops accepting until one closes (`http::ConnectionLimits`).
    pub max_connections: usize,
    /// Seconds a client has to finish its TLS handshake.
    pub handshake_timeout_secs: u64,
    /// Seconds a request's head may take to arrive, from the connection's
    /// start or (HTTP/1.1 keep-alive) the end of the previous response.
    pub header_timeout_secs: u64,
    /// Seconds a request's whole body may take to arrive after its head.
    pub body_timeout_secs: u64,
    /// Seconds a connection may stay open with no request in flight.
    pub idle_timeout_secs: u64,
    /// Streams one HTTP/2 connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// Seconds between HTTP/2 PINGs on a connection; 0: none.
    pub http2_keep_alive_interval_secs: u64,
    /// Seconds an HTTP/2 PING may go unanswered before the connection is
    /// closed.
    pub http2_keep_alive_timeout_secs: u64,
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

/// `Debug` hides the URL's user information (`config::redact_url`).
#[derive(Clone, Deserialize)]
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
    /// The intermediate's private key: a PKCS#8 PEM file, or a key in a
    /// PKCS#11 token named by an RFC 7512 URI
    /// (`pkcs11:token=LABEL;object=LABEL`).
    pub intermediate_key: PathBuf,
    /// The PKCS#11 module (shared library) when `intermediate_key` is a
    /// `pkcs11:` URI, e.g. /usr/lib/softhsm/libsofthsm2.so.
    pub pkcs11_module: Option<PathBuf>,
    /// A file holding the token's user PIN; when unset the PIN is read
    /// from the TRUSTGATE_PKCS11_PIN environment variable.
    pub pkcs11_pin_file: Option<PathBuf>,
    /// Let a production CA (generate_dev_ca = false) sign with a key file.
    /// BR 6.2.7 wants CA private keys in hardware (a PKCS#11 token), so
    /// this must be set deliberately.
    pub allow_key_file: bool,
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
    /// pkilint's REST service (`uvicorn pkilint.rest:app`), e.g.
    /// "http://127.0.0.1:8081": every certificate and CRL is linted by it
    /// before it is signed or published (BR §4.3.1.2). A production CA
    /// refuses to start without one unless `allow_no_linter` is set.
    pub linter_url: Option<String>,
    /// How long one lint may take, in seconds; a linter that does not
    /// answer in time refuses issuance as temporarily unavailable.
    pub linter_timeout_secs: u64,
    /// Let a production CA run without `linter_url` (only `ca::lint`'s
    /// in-process checks). Meant for a short outage, not for normal work.
    pub allow_no_linter: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// Terms of service URL; when set, newAccount must agree to it.
    /// Unset with a portal (`portal.base_url`): the portal's agreement
    /// page (`Config::terms_url`).
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
    /// Remote validation perspectives (`trustgate perspective` services)
    /// asked to corroborate every validation and CAA check (BR 3.2.2.9).
    pub perspectives: Vec<RemotePerspectiveConfig>,
}

/// One remote perspective as the primary reaches it, over HTTPS with
/// mutual TLS. Paths are used as given (relative to the working
/// directory). Only paths are held, so `Debug` shows no key material.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemotePerspectiveConfig {
    /// Recorded with every answer as evidence; unique among perspectives.
    pub name: String,
    /// `https://host[:port]`, where the perspective serves `/v1/check`.
    pub url: String,
    /// The RIR region the perspective's network is in.
    pub region: Region,
    /// PEM: the CA that issued the perspective's server certificate; the
    /// only root trusted for it.
    pub ca_cert: PathBuf,
    /// PEM: the certificate (chain) the primary presents.
    pub client_cert: PathBuf,
    /// PEM (PKCS#8, SEC1 or PKCS#1): the key of `client_cert`.
    pub client_key: PathBuf,
}

/// The `[perspective]` table of a `trustgate perspective` process. Its
/// checks use the `[va]` table of the same file (resolvers, DNSSEC,
/// address checks). Paths are used as given.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerspectiveConfig {
    /// Address of the HTTPS listener.
    pub listen: SocketAddr,
    /// The RIR region this perspective's network is in (informational; the
    /// primary records the region from its own configuration).
    pub region: Region,
    /// PEM: the server certificate (chain) presented to the primary.
    pub tls_cert: PathBuf,
    /// PEM: the key of `tls_cert`.
    pub tls_key: PathBuf,
    /// PEM: the CA whose client certificates are accepted; the only one.
    pub client_ca: PathBuf,
}

/// `[mail]`: the SMTP relay notices go through (`mail`, `app::mail`).
/// No secret here: the password stays in its file until `mail` reads it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// The relay's host name (also the name its TLS certificate must bear).
    pub smtp_host: String,
    /// Default by `security`: 587 (starttls), 465 (tls), 25 (plain).
    #[serde(default)]
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls` (implicit TLS) or `plain` (tests and a
    /// relay on the same host only; no authentication over it).
    #[serde(default)]
    pub security: MailSecurity,
    /// SMTP AUTH user; with `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the SMTP password (its first line), read at startup
    /// and never logged.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The From address, e.g. `"Example CA <noreply@ca.example.jp>"`.
    pub from: String,
    /// A PEM file of extra roots for the relay's certificate (a private
    /// relay); the system's roots are trusted too.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The EHLO name; default: the host of `server.base_url`.
    #[serde(default)]
    pub hello_name: Option<String>,
    /// Seconds to connect, and for each SMTP command.
    #[serde(default = "mail_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Seconds for one whole delivery (connect to QUIT).
    #[serde(default = "mail_send_timeout")]
    pub send_timeout_secs: u64,
    /// How often each instance looks for due notices.
    #[serde(default = "mail_poll")]
    pub poll_secs: u64,
    /// Notices one instance sends per round at most.
    #[serde(default = "mail_batch")]
    pub batch: u32,
    /// The pause after the first failed attempt; it doubles after each
    /// further one, up to `retry_cap_secs`.
    #[serde(default = "mail_retry_base")]
    pub retry_base_secs: u64,
    #[serde(default = "mail_retry_cap")]
    pub retry_cap_secs: u64,
    /// Attempts before a notice is given up (and listed as failed).
    #[serde(default = "mail_max_attempts")]
    pub max_attempts: u32,
}

fn mail_connect_timeout() -> u64 {
    10
}
fn mail_send_timeout() -> u64 {
    60
}
fn mail_poll() -> u64 {
    5
}
fn mail_batch() -> u32 {
    20
}
fn mail_retry_base() -> u64 {
    60
}
fn mail_retry_cap() -> u64 {
    3600
}
fn mail_max_attempts() -> u32 {
    30
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    #[default]
    Starttls,
    Tls,
    Plain,
}

impl MailConfig {
    pub fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.security {
            MailSecurity::Starttls => 587,
            MailSecurity::Tls => 465,
            MailSecurity::Plain => 25,
        })
    }

    /// Refuses settings that would leak the password or never send.
    pub fn validate(&self) -> Result<()> {
        if self.username.is_some() != self.password_file.is_some() {
            return Err(Error::internal(
                "mail.username and mail.password_file go together",
            ));
        }
        if self.security == MailSecurity::Plain && self.username.is_some() {
            return Err(Error::internal(
                "mail.security = \"plain\" with a username would send the SMTP password in clear; use starttls or tls",
            ));
        }
        if self.max_attempts == 0 || self.batch == 0 || self.poll_secs == 0 {
            return Err(Error::internal(
                "mail.max_attempts, mail.batch and mail.poll_secs must be at least 1",
            ));
        }
        if self.retry_base_secs == 0 || self.retry_cap_secs < self.retry_base_secs {
            return Err(Error::internal(
                "mail.retry_base_secs must be at least 1 and mail.retry_cap_secs at least that",
            ));
        }
        Ok(())
    }
}

/// The invoicing CA and its price list (`billing`, docs/invoices.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingConfig {
    /// 適格請求書発行事業者登録番号: "T" and the 13 digits the National Tax
    /// Agency assigned (a check digit first, as in a 法人番号).
    pub registration_number: String,
    /// The invoicing company's name, as registered.
    pub issuer_name: String,
    /// Its address (one line).
    pub issuer_address: String,
    /// A telephone number printed under the address.
    #[serde(default)]
    pub issuer_phone: Option<String>,
    /// How to pay: the bank transfer account, one line each.
    pub payment_instructions: Vec<String>,
    /// Hours between runs of the invoice job (1–24): each run invoices
    /// every certificate issued before the current day in Japan.
    #[serde(default = "billing_job_every_hours")]
    pub job_every_hours: u64,
    /// A TrueType font with Japanese glyphs, embedded in every PDF.
    #[serde(default = "billing_font")]
    pub font: PathBuf,
    /// Unit prices before tax; every level the CA issues needs a price for
    /// plain and wildcard certificates up to `ca.validity_days`.
    pub prices: Vec<Price>,
}

fn billing_job_every_hours() -> u64 {
    24
}
fn billing_font() -> PathBuf {
    PathBuf::from("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")
}

/// One entry of the price list: a certificate of `level`, wildcard or
/// not, valid for at most `max_days`, costs `yen` before tax. The
/// smallest band that holds a certificate's validity applies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// `ov` or `ev`.
    pub level: String,
    pub wildcard: bool,
    pub max_days: u32,
    pub yen: u64,
}

/// A unit price above this is taken for a typo (and keeps sums far from
/// overflowing).
const MAX_PRICE_YEN: u64 = 100_000_000;

impl BillingConfig {
    /// Refuses a bad registration number, an empty issuer or payment
    /// text, and a price list without a price for a certificate the CA
    /// issues: a level of `profiles`, plain or wildcard, up to
    /// `validity_days`.
    pub fn validate(&self, profiles: &[String], validity_days: u32) -> Result<()> {
        if let Some(why) = registration_number_problem(&self.registration_number) {
            return Err(Error::internal(format!(
                "billing.registration_number: {why}"
            )));
        }
        let texts = [
            ("issuer_name", self.issuer_name.trim().is_empty()),
            ("issuer_address", self.issuer_address.trim().is_empty()),
            (
                "payment_instructions",
                self.payment_instructions
                    .iter()
                    .all(|l| l.trim().is_empty()),
            ),
        ];
        if let Some((name, _)) = texts.iter().find(|(_, empty)| *empty) {
            return Err(Error::internal(format!("billing.{name} must not be empty")));
        }
        if !(1..=24).contains(&self.job_every_hours) {
            return Err(Error::internal(
                "billing.job_every_hours must be between 1 and 24 (invoices are due within 10 days of issuance)",
            ));
        }
        self.validate_prices()?;
        self.validate_coverage(profiles, validity_days)
    }

    fn validate_prices(&self) -> Result<()> {
        for (i, p) in self.prices.iter().enumerate() {
            if p.level != "ov" && p.level != "ev" {
                return Err(Error::internal(format!(
                    "billing.prices[{i}].level {:?}: ov or ev",
                    p.level
                )));
            }
            if p.yen == 0 || p.yen > MAX_PRICE_YEN || p.max_days == 0 {
                return Err(Error::internal(format!(
                    "billing.prices[{i}]: yen must be 1 to {MAX_PRICE_YEN} and max_days at least 1"
                )));
            }
            let same = |q: &&Price| {
                q.level == p.level && q.wildcard == p.wildcard && q.max_days == p.max_days
            };
            if self.prices[..i].iter().any(|q| same(&q)) {
                return Err(Error::internal(format!(
                    "billing.prices[{i}] repeats {} wildcard={} max_days={}",
                    p.level, p.wildcard, p.max_days
                )));
            }
        }
        Ok(())
    }

    fn validate_coverage(&self, profiles: &[String], validity_days: u32) -> Result<()> {
        for level in ["ov", "ev"] {
            if !profiles.iter().any(|p| p == level) {
                continue;
            }
            for wildcard in [false, true] {
                if self.price(level, wildcard, validity_days).is_none() {
                    return Err(Error::internal(format!(
                        "billing.prices has no price for a {} {}certificate valid {validity_days} days \
                         (acme.profiles issues {level}; ca.validity_days = {validity_days}): add a \
                         [[billing.prices]] with level = \"{level}\", wildcard = {wildcard}, max_days >= {validity_days}",
                        level.to_uppercase(),
                        if wildcard { "wildcard " } else { "" },
                    )));
                }
            }
        }
        Ok(())
    }

    /// The unit price of a certificate of `level`, wildcard or not, valid
    /// for `days`: the smallest band that holds it.
    pub fn price(&self, level: &str, wildcard: bool, days: u32) -> Option<u64> {
        self.prices
            .iter()
            .filter(|p| p.level == level && p.wildcard == wildcard && p.max_days >= days)
            .min_by_key(|p| p.max_days)
            .map(|p| p.yen)
    }
}

/// Why `number` is not a qualified-invoice registration number: "T" and
/// 13 digits whose first is the check digit of the other twelve
/// (9 − Σ Pn·Qn mod 9, Pn the n-th digit from the right, Qn = 1 for odd n
/// and 2 for even n), as the National Tax Agency assigns them.
pub fn registration_number_problem(number: &str) -> Option<String> {
    let Some(digits) = number.strip_prefix('T') else {
        return Some(format!("{number:?} must be T followed by 13 digits"));
    };
    if digits.len() != 13 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("{number:?} must be T followed by 13 digits"));
    }
    let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    let sum: u32 = d[1..]
        .iter()
        .rev()
        .enumerate()
        .map(|(i, v)| v * if i % 2 == 0 { 1 } else { 2 })
        .sum();
    let check = 9 - sum % 9;
    (d[0] != check).then(|| {
        format!(
            "{number:?} has check digit {} but its digits give {check}",
            d[0]
        )
    })
}

/// `Debug` shows whether an EAB encryption key is set, never the key.
#[derive(Clone, Deserialize)]
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

impl std::fmt::Debug for VettingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self.eab_encryption_key.as_ref().map(|_| "<redacted>");
        f.debug_struct("VettingConfig")
            .field("four_eyes", &self.four_eyes)
            .field("max_age_days", &self.max_age_days)
            .field("eab_encryption_key", &key)
            .finish()
    }
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .finish()
    }
}

/// `url` without its user information (`postgres://…@host/db`): a
/// password there must not reach a log line or `Debug` output.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…{}", &url[..s], &url[at..]),
        _ => url.to_owned(),
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
    /// Address of the admin API and console listener. None disables it.
    /// Without `tls` it speaks plain HTTP: keep it on loopback (a
    /// production CA refuses another address without `tls`).
    pub listen: Option<SocketAddr>,
    /// TLS on the admin listener: `{ cert = "admin.pem", key = "admin.key" }`
    /// (PEM chain and PKCS#8 key, relative to `data_dir`), or
    /// `"self-issued"`: the ACME listener's self-issued certificate (a
    /// development CA only). None: plain HTTP. With TLS the console's
    /// cookies are `Secure`.
    pub tls: Option<AdminTls>,
    /// Refused (staff live in the database: `trustgate staff`).
    #[serde(rename = "staff")]
    pub retired_staff: Option<RetiredStaffTable>,
    /// A console session ends after this long without a request.
    pub session_idle_minutes: u32,
    /// A console session ends this long after login, however busy.
    pub session_absolute_hours: u32,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 14001))),
            tls: None,
            retired_staff: None,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
        }
    }
}

/// The customer portal's listener (`portal`): sign-up, applications,
/// EAB credentials and certificates for subscribers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalConfig {
    /// Address of the portal listener. None (the default) disables it.
    pub listen: Option<SocketAddr>,
    /// The public origin customers use, e.g. `https://portal.example.jp`:
    /// the links in e-mail (verification) and in ACME problems. Unset:
    /// `https://localhost:<port>` (`http://` without `tls`).
    pub base_url: Option<String>,
    /// TLS as `admin.tls`: `{ cert = "portal.pem", key = "portal.key" }`
    /// or `"self-issued"` (a development CA only). None: plain HTTP
    /// (behind a TLS-terminating proxy). With TLS, cookies are `Secure`.
    pub tls: Option<AdminTls>,
    /// A customer session ends after this long without a request.
    pub session_idle_minutes: u32,
    /// A customer session ends this long after login, however busy.
    pub session_absolute_hours: u32,
    /// Sign-ups per client address within `limit_window_minutes`.
    pub signups_per_address: u32,
    /// Login attempts per client address within `limit_window_minutes`.
    pub logins_per_address: u32,
    pub limit_window_minutes: u32,
    /// The largest document a customer may upload (bytes): one upload's
    /// files together, which only `/documents` accepts (every other
    /// route keeps a small body limit).
    pub documents_max_bytes: usize,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            listen: None,
            base_url: None,
            tls: None,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            signups_per_address: 10,
            logins_per_address: 20,
            limit_window_minutes: 15,
            documents_max_bytes: 10 * 1024 * 1024,
        }
    }
}

impl PortalConfig {
    /// The portal's origin when there is a portal (`listen` or
    /// `base_url` set): the pages ACME problems link to (`instance`) and
    /// the agreement `meta.termsOfService` names. None: no portal links,
    /// and a changed agreement version is not enforced (there is nowhere
    /// to accept it).
    pub fn public_url(&self) -> Option<String> {
        (self.listen.is_some() || self.base_url.is_some()).then(|| self.base_url())
    }

    /// The origin customers use, without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.base_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                let port = self.listen.map_or(0, |a| a.port());
                format!("{scheme}://localhost:{port}")
            }
        }
    }
}

/// The subscriber agreement in force: its version and text.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgreementConfig {
    /// Changing it makes every customer (and ACME account) accept again.
    pub version: String,
    /// The agreement's text (plain text, UTF-8), relative to `data_dir`.
    /// None: the development text bundled in the binary.
    pub text_file: Option<PathBuf>,
}

impl Default for AgreementConfig {
    fn default() -> Self {
        AgreementConfig {
            version: "development".into(),
            text_file: None,
        }
    }
}

/// Longest agreement version accepted (it is stored with every account).
pub const MAX_AGREEMENT_VERSION_LEN: usize = 64;

impl AgreementConfig {
    pub fn validate(&self) -> Result<()> {
        let v = &self.version;
        if v.is_empty()
            || v.len() > MAX_AGREEMENT_VERSION_LEN
            || !v.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(Error::internal(format!(
                "agreement.version must be 1 to {MAX_AGREEMENT_VERSION_LEN} printable ASCII characters without spaces"
            )));
        }
        Ok(())
    }
}

/// `admin.tls`: certificate files, or the self-issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    untagged,
    expecting = "a table { cert = \"….pem\", key = \"….pem\" } or \"self-issued\""
)]
pub enum AdminTls {
    Files(TlsFiles),
    SelfIssued(SelfIssued),
}

/// A serving certificate chain and its key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate, then its intermediates.
    pub cert: PathBuf,
    /// Its PKCS#8 private key.
    pub key: PathBuf,
}

/// The one word `admin.tls` takes instead of files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelfIssued {
    SelfIssued,
}

/// `[[admin.staff]]` of earlier versions: refused with what to do
/// instead, so a CA upgraded with tokens in its config does not start
/// with an admin API nobody can use without being told why.
#[derive(Debug, Clone, Default)]
pub struct RetiredStaffTable;

impl<'de> Deserialize<'de> for RetiredStaffTable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> std::result::Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "[[admin.staff]] is no longer read: staff live in the database. Create each member \
             with `trustgate staff add NAME --roles view,vet,approve` and their API token with \
             `trustgate staff token create NAME --label LABEL`, then remove [[admin.staff]]",
        ))
    }
}

/// CRLs and the issuer certificate, published over plain HTTP (see the
/// `publish` module).
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
    /// The origin the trust seal's embed snippet names (`/seal/…` on this
    /// listener), e.g. `https://seal.example.jp` behind a TLS proxy: a
    /// site served over https shows no http:// image. Defaults to
    /// `base_url`.
    pub seal_base_url: Option<String>,
}

/// Certificate Transparency (RFC 6962). With logs configured, every
/// certificate is first issued as a precertificate, submitted to every log,
/// and the final certificate embeds their SCTs; too few SCTs for `policy`
/// and no final certificate is issued.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CtConfig {
    pub logs: Vec<CtLogConfig>,
    pub policy: CtPolicyConfig,
    /// Upper bound on one log's answer to `add-pre-chain`, in seconds.
    pub timeout_secs: u64,
    /// PEM bundle of the roots trusted for `https://` log URLs.
    pub roots_file: PathBuf,
}

/// One CT log, as its operator publishes it (e.g. Chrome's log list).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtLogConfig {
    /// A name for messages and metrics.
    pub name: String,
    /// The log's base URL; `ct/v1/add-pre-chain` is appended.
    pub url: String,
    /// The log's public key: base64 of its DER SubjectPublicKeyInfo
    /// (ECDSA P-256 or RSA); its SHA-256 is the log id.
    pub public_key: String,
    /// Who runs the log: the policy counts distinct operators.
    pub operator: String,
}

/// How many embedded SCTs a certificate needs (Chrome's and Apple's CT
/// policies): `short_lifetime_scts` for a lifetime of at most
/// `short_lifetime_days`, `long_lifetime_scts` above, from at least
/// `min_operators` distinct operators.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CtPolicyConfig {
    pub short_lifetime_days: u32,
    pub short_lifetime_scts: u32,
    pub long_lifetime_scts: u32,
    pub min_operators: u32,
}

impl Default for CtConfig {
    fn default() -> Self {
        CtConfig {
            logs: Vec::new(),
            policy: CtPolicyConfig::default(),
            timeout_secs: 10,
            roots_file: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
        }
    }
}

impl Default for CtPolicyConfig {
    fn default() -> Self {
        CtPolicyConfig {
            short_lifetime_days: 180,
            short_lifetime_scts: 2,
            long_lifetime_scts: 3,
            min_operators: 2,
        }
    }
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
            seal_base_url: None,
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

    /// `seal_base_url`, else `base_url`, without a trailing slash.
    pub fn seal_base_url(&self) -> String {
        match &self.seal_base_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => self.base_url(),
        }
    }

    /// Refuses values that would publish non-conforming CRLs.
    pub fn validate(&self) -> Result<()> {
        if let Some(u) = &self.seal_base_url {
            let rest = u
                .strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"))
                .unwrap_or("");
            if rest.is_empty()
                || !rest.is_ascii()
                || rest
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '?' | '#' | '"' | '<' | '>'))
            {
                return Err(Error::internal(format!(
                    "publish.seal_base_url {u:?} must be a plain http(s):// URL"
                )));
            }
        }
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
        PublishUrls::from_config(self).map(|_| ())
    }
}

/// `count` events per `period_secs`, in a burst or spread out (GCRA:
/// one more every `period_secs / count`). `count = 0` turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub count: u64,
    pub period_secs: u64,
}

impl Rate {
    pub const fn new(count: u64, period_secs: u64) -> Rate {
        Rate { count, period_secs }
    }
}

/// Rate limits, as Boulder's users know them (docs/operations.md, "Rate
/// limits"). Per account and per organization they hold on every
/// instance together (PostgreSQL); per address and in flight, per
/// instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Page explaining the limits, named in every rateLimited problem.
    /// Default: `<acme.website or base_url>/docs/rate-limits`.
    pub documentation_url: Option<String>,
    /// newOrder, per account.
    pub new_orders_per_account: Rate,
    /// Authorizations still pending, per account (a count, not a rate).
    pub pending_authorizations_per_account: u64,
    /// Validations that failed, per account; checked at newOrder.
    pub failed_validations_per_account: Rate,
    /// finalize requests, per account.
    pub finalizes_per_account: Rate,
    /// Certificates for the same set of names, per organization.
    pub certificates_per_name_set: Rate,
    /// newAccount creating an account, per client address (IPv6: per /64).
    pub new_accounts_per_address: Rate,
    /// Every ACME request, per client address (IPv6: per /64), per instance.
    pub requests_per_address: Rate,
    /// Validations running at once in one instance; 0: no cap.
    pub validations_in_flight: u64,
    /// Milliseconds a rateLimited answer is held (at most its Retry-After),
    /// so a client that retries at once spins at this pace; 0: at once.
    pub refusal_delay_ms: u64,
    /// Addresses the per-address limits skip: a TLS-terminating proxy (all
    /// its clients share its address), monitoring, the operator's tools.
    pub exempt_addresses: Vec<IpAddr>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        const HOUR: u64 = 3600;
        LimitsConfig {
            documentation_url: None,
            new_orders_per_account: Rate::new(300, 3 * HOUR),
            pending_authorizations_per_account: 1000,
            failed_validations_per_account: Rate::new(100, HOUR),
            finalizes_per_account: Rate::new(300, HOUR),
            certificates_per_name_set: Rate::new(5, 7 * 24 * HOUR),
            new_accounts_per_address: Rate::new(10, 3 * HOUR),
            requests_per_address: Rate::new(50, 1),
            validations_in_flight: 1000,
            refusal_delay_ms: 500,
            // A local proxy or the operator's own tools.
            exempt_addresses: vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ],
        }
    }
}

/// The largest count and period a limit (or an override) takes.
pub const MAX_LIMIT_COUNT: u64 = 1_000_000_000;
pub const MAX_LIMIT_PERIOD_SECS: u64 = 366 * 24 * 3600;

impl LimitsConfig {
    /// Refuses a rate with no period or out of range, and a documentation
    /// URL that is not http(s).
    pub fn validate(&self) -> Result<()> {
        let rates = [
            ("new_orders_per_account", self.new_orders_per_account),
            (
                "failed_validations_per_account",
                self.failed_validations_per_account,
            ),
            ("finalizes_per_account", self.finalizes_per_account),
            ("certificates_per_name_set", self.certificates_per_name_set),
            ("new_accounts_per_address", self.new_accounts_per_address),
            ("requests_per_address", self.requests_per_address),
        ];
        for (name, rate) in rates {
            check_rate(&format!("limits.{name}"), rate)?;
        }
        if self.refusal_delay_ms > 10_000 {
            return Err(Error::internal(
                "limits.refusal_delay_ms must be at most 10000",
            ));
        }
        if self.pending_authorizations_per_account > MAX_LIMIT_COUNT {
            return Err(Error::internal(format!(
                "limits.pending_authorizations_per_account must be at most {MAX_LIMIT_COUNT}"
            )));
        }
        if let Some(u) = &self.documentation_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(Error::internal(
                    "limits.documentation_url must be an http(s) URL",
                ));
            }
        }
        Ok(())
    }
}

/// A rate's count and period within range (`what` names it in the error).
pub fn check_rate(what: &str, rate: Rate) -> Result<()> {
    if rate.count > MAX_LIMIT_COUNT
        || rate.period_secs > MAX_LIMIT_PERIOD_SECS
        || (rate.count > 0 && rate.period_secs == 0)
    {
        return Err(Error::internal(format!(
            "{what}: count must be at most {MAX_LIMIT_COUNT} and period_secs between 1 and {MAX_LIMIT_PERIOD_SECS}"
        )));
    }
    Ok(())
}

/// Path of the issuing CA certificate (DER), the AIA caIssuers target.
pub const ISSUER_PATH: &str = "/intermediate.der";

/// The URLs certificates carry. Built from `publish.base_url`, which must
/// be `http://` (BR 7.1.2.11.2: CRL distribution points; BR 7.1.2.7.7:
/// caIssuers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishUrls {
    /// Without a trailing slash.
    base: String,
    shards: u32,
}

impl PublishUrls {
    /// `base` is an `http://` origin (optionally with a path prefix);
    /// `shards` is `publish.crl_shards`.
    pub fn new(base: &str, shards: u32) -> Result<PublishUrls> {
        let base = base.trim_end_matches('/');
        let rest = base.strip_prefix("http://").ok_or_else(|| {
            Error::internal(format!(
                "publish.base_url {base:?} must be an http:// URL (BR 7.1.2.11.2)"
            ))
        })?;
        if rest.is_empty()
            || rest.starts_with('/')
            || rest
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
            || !rest.is_ascii()
        {
            return Err(Error::internal(format!(
                "publish.base_url {base:?} is not a plain http:// URL (no query, fragment or spaces)"
            )));
        }
        if shards == 0 {
            return Err(Error::internal("publish.crl_shards must be at least 1"));
        }
        Ok(PublishUrls {
            base: base.to_owned(),
            shards,
        })
    }

    /// The URLs of this configuration (see [`PublishConfig::base_url`]).
    pub fn from_config(cfg: &PublishConfig) -> Result<PublishUrls> {
        Self::new(&cfg.base_url(), cfg.crl_shards)
    }

    /// `{base}/crl/{shard}.crl`: the cRLDistributionPoints URL of the
    /// certificates in `shard`, and the CRL's issuingDistributionPoint.
    pub fn crl(&self, shard: u32) -> String {
        format!("{}/crl/{shard}.crl", self.base)
    }

    /// `{base}/intermediate.der`: the AIA caIssuers URL.
    pub fn issuer(&self) -> String {
        format!("{}{ISSUER_PATH}", self.base)
    }

    /// The shard of a new certificate (by its serial's octets) and its
    /// CRL URL.
    pub fn crl_for(&self, serial: &[u8; 16]) -> (u32, String) {
        let shard = crl_shard(serial, self.shards);
        (shard, self.crl(shard))
    }

    pub fn shards(&self) -> u32 {
        self.shards
    }
}

/// The CRL shard of a certificate: the serial's last four octets modulo
/// `shards` (a serial is random, so shards fill evenly). Deterministic, so
/// anyone holding the serial can recompute it. `shards` 0 is taken as 1.
pub fn crl_shard(serial: &[u8; 16], shards: u32) -> u32 {
    let [.., a, b, c, d] = *serial;
    u32::from_be_bytes([a, b, c, d]) % shards.max(1)
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
            portal: PortalConfig::default(),
            agreement: AgreementConfig::default(),
            publish: PublishConfig::default(),
            log: LogConfig::default(),
            ct: CtConfig::default(),
            limits: LimitsConfig::default(),
            perspective: None,
            mail: None,
            billing: None,
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
            max_connections: 4096,
            handshake_timeout_secs: 10,
            header_timeout_secs: 10,
            body_timeout_secs: 10,
            idle_timeout_secs: 60,
            http2_max_concurrent_streams: 100,
            http2_keep_alive_interval_secs: 30,
            http2_keep_alive_timeout_secs: 20,
            sweep_secs: 30,
        }
    }
}

impl ServerConfig {
    /// The connection limits of every listener of the process; a 0 where
    /// 0 would stop the listener counts as 1.
    pub fn connection_limits(&self) -> crate::http::ConnectionLimits {
        let secs = |s: u64| std::time::Duration::from_secs(s.max(1));
        crate::http::ConnectionLimits {
            max_connections: self.max_connections.max(1),
            handshake: secs(self.handshake_timeout_secs),
            header: secs(self.header_timeout_secs),
            body: secs(self.body_timeout_secs),
            idle: secs(self.idle_timeout_secs),
            h2_max_concurrent_streams: self.http2_max_concurrent_streams.max(1),
            h2_keep_alive_interval: (self.http2_keep_alive_interval_secs > 0)
                .then(|| secs(self.http2_keep_alive_interval_secs)),
            h2_keep_alive_timeout: secs(self.http2_keep_alive_timeout_secs),
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
            pkcs11_module: None,
            pkcs11_pin_file: None,
            allow_key_file: false,
            generate_dev_ca: true,
            dev_ca_name: "trustgate Development CA".into(),
            validity_days: 90,
            backdate_secs: 60,
            linter_url: None,
            linter_timeout_secs: 10,
            allow_no_linter: false,
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
            perspectives: vec![],
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

    /// The current subscriber agreement (the directory's
    /// `meta.termsOfService`, RFC 8555 §7.1.1): `acme.terms_of_service`,
    /// else the portal's agreement page.
    pub fn terms_url(&self) -> Option<String> {
        match (&self.acme.terms_of_service, self.portal.public_url()) {
            (Some(u), _) => Some(u.clone()),
            (None, Some(portal)) => {
                Some(format!("{portal}{}", crate::core::urls::PORTAL_AGREEMENT))
            }
            (None, None) => None,
        }
    }

    /// The page every rateLimited problem points to.
    pub fn limits_documentation_url(&self) -> String {
        match &self.limits.documentation_url {
            Some(u) => u.clone(),
            None => {
                let site = self.acme.website.clone().unwrap_or_else(|| self.base_url());
                format!("{}/docs/rate-limits", site.trim_end_matches('/'))
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
pub(crate) mod tests {
    use super::*;

    #[test]
    fn staff_tables_of_earlier_versions_are_refused_with_what_to_do() {
        let e = Config::parse(
            "[[admin.staff]]\nname = \"a\"\ntoken_sha256 = \"00\"\nroles = [\"view\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("trustgate staff add"), "{e}");
        assert!(e.contains("staff token create"), "{e}");
        assert!(Config::parse("[admin]\nlisten = \"127.0.0.1:1\"\n").is_ok());
    }

    #[test]
    fn the_terms_are_the_configured_url_else_the_portals_agreement() {
        let cfg = Config::parse("[agreement]\nversion = \"2026-12\"\n").unwrap();
        assert_eq!(cfg.terms_url(), None);
        cfg.agreement.validate().unwrap();
        let cfg = Config::parse("[portal]\nbase_url = \"https://portal.ca.jp/\"\n").unwrap();
        assert_eq!(
            cfg.terms_url().as_deref(),
            Some("https://portal.ca.jp/agreement")
        );
        let cfg = Config::parse(
            "[portal]\nbase_url = \"https://portal.ca.jp\"\n[acme]\nterms_of_service = \"https://ca.jp/tos\"\n",
        )
        .unwrap();
        assert_eq!(cfg.terms_url().as_deref(), Some("https://ca.jp/tos"));
        for bad in [
            "",
            "two words",
            "é",
            &"x".repeat(MAX_AGREEMENT_VERSION_LEN + 1),
        ] {
            let a = AgreementConfig {
                version: bad.into(),
                ..AgreementConfig::default()
            };
            assert!(a.validate().is_err(), "{bad:?}");
        }
        assert!(Config::parse("[agreement]\nrevision = \"1\"\n").is_err());
    }

    #[test]
    fn debug_shows_no_secret() {
        let cfg = Config::parse(
            "[database]\nurl = \"postgres://tg:hunter2-pw@db.internal/trustgate\"\n\
             [vetting]\neab_encryption_key = \"c2VjcmV0LWVhYi1rZXktYnl0ZXMtMzItbG9uZy4uLi4\"\n",
        )
        .expect("parses");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2-pw"), "{shown}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(
            shown.contains("postgres://…@db.internal/trustgate"),
            "{shown}"
        );
        assert!(
            shown.contains("eab_encryption_key: Some(\"<redacted>\")"),
            "{shown}"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../conf/trustgate.example.toml");
        let cfg = Config::parse(text).expect("example config parses");
        assert_eq!(cfg.va.max_redirects, 10);
        assert_eq!(cfg.va.tlsalpn01_port, 443);
        assert!(cfg.va.dnssec);
        assert!(cfg.va.trust_anchors.is_empty());
        assert!(cfg.va.perspectives.is_empty());
        assert!(cfg.perspective.is_none());
        assert_eq!(
            cfg.server.connection_limits(),
            crate::http::ConnectionLimits::default()
        );
        let defaults = LimitsConfig::default();
        assert_eq!(
            cfg.limits.new_orders_per_account,
            defaults.new_orders_per_account
        );
        assert_eq!(
            cfg.limits.certificates_per_name_set,
            defaults.certificates_per_name_set
        );
        assert_eq!(
            cfg.limits.requests_per_address,
            defaults.requests_per_address
        );
        assert_eq!(cfg.limits.exempt_addresses, defaults.exempt_addresses);
        cfg.limits.validate().unwrap();
    }

    #[test]
    fn connection_limits_read_the_server_keys() {
        let cfg = Config::parse(
            "[server]\nmax_connections = 0\nheader_timeout_secs = 0\nbody_timeout_secs = 3\nhttp2_keep_alive_interval_secs = 0\n",
        )
        .unwrap();
        let limits = cfg.server.connection_limits();
        assert_eq!(limits.max_connections, 1);
        assert_eq!(limits.header, std::time::Duration::from_secs(1));
        assert_eq!(limits.body, std::time::Duration::from_secs(3));
        assert_eq!(limits.h2_keep_alive_interval, None);
    }

    /// The commented `[[va.perspectives]]` and `[perspective]` examples
    /// are valid once uncommented.
    #[test]
    fn example_perspective_tables_parse() {
        let text = include_str!("../conf/trustgate.example.toml");
        let mut tables = String::new();
        for header in ["# [[va.perspectives]]", "# [perspective]"] {
            let lines = text.lines().skip_while(|l| *l != header);
            let block: Vec<&str> = lines.map_while(|l| l.strip_prefix("# ")).collect();
            assert!(block.len() > 3, "{header} is in the example");
            tables.push_str(&block.join("\n"));
            tables.push('\n');
        }
        let cfg = Config::parse(&tables).expect("example tables parse");
        assert_eq!(cfg.va.perspectives.len(), 1);
        assert!(cfg.perspective.is_some());
    }

    /// The commented `[billing]` example is valid once uncommented.
    #[test]
    fn example_billing_table_parses_and_validates() {
        let text = include_str!("../conf/trustgate.example.toml");
        let lines = text.lines().skip_while(|l| *l != "# [billing]");
        let block: Vec<&str> = lines.map_while(|l| l.strip_prefix("# ")).collect();
        let cfg = Config::parse(&block.join("\n")).expect("example billing parses");
        let b = cfg.billing.unwrap();
        b.validate(&profiles(), 90).unwrap();
        assert_eq!(b.price("ev", true, 90), Some(120000));
        assert_eq!(b.job_every_hours, 24);
    }

    #[test]
    fn perspective_tables_parse_and_refuse_unknown_keys() {
        let primary = r#"
[[va.perspectives]]
name = "fra-1"
url = "https://fra-1.perspectives.example:14003"
region = "RIPE"
ca_cert = "perspectives/ca.pem"
client_cert = "perspectives/primary.pem"
client_key = "perspectives/primary.key"
"#;
        let cfg = Config::parse(primary).unwrap();
        assert_eq!(cfg.va.perspectives.len(), 1);
        assert_eq!(cfg.va.perspectives[0].region, Region::Ripe);
        assert!(Config::parse(&primary.replace("RIPE", "MARS")).is_err());
        assert!(Config::parse(&format!("{primary}clientkey = \"x\"\n")).is_err());
        let remote = r#"
[perspective]
listen = "0.0.0.0:14003"
region = "APNIC"
tls_cert = "p/server.pem"
tls_key = "p/server.key"
client_ca = "p/ca.pem"
"#;
        let cfg = Config::parse(remote).unwrap();
        let p = cfg.perspective.as_ref().unwrap();
        assert_eq!(p.region, Region::Apnic);
        assert!(Config::parse(&format!("{remote}extra = 1\n")).is_err());
        assert!(Config::parse(&remote.replace("client_ca = \"p/ca.pem\"\n", "")).is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::parse("[server]\nlisten = \"127.0.0.1:1\"\nlistne = 1\n").unwrap_err();
        assert!(err.detail.contains("unknown field"), "{}", err.detail);
    }

    #[test]
    fn the_portal_is_off_unless_it_listens_and_takes_admin_like_tls() {
        let d = Config::default();
        assert_eq!(d.portal.listen, None);
        assert_eq!(d.agreement.version, "development");
        assert_eq!(d.agreement.text_file, None);
        let cfg = Config::parse(
            "[portal]\nlisten = \"127.0.0.1:8443\"\ntls = \"self-issued\"\n\
             session_idle_minutes = 10\n\
             [agreement]\nversion = \"2026-12\"\ntext_file = \"agreement.txt\"\n",
        )
        .unwrap();
        assert_eq!(
            cfg.portal.tls,
            Some(AdminTls::SelfIssued(SelfIssued::SelfIssued))
        );
        assert_eq!(cfg.portal.session_idle_minutes, 10);
        assert_eq!(cfg.portal.base_url(), "https://localhost:8443");
        assert_eq!(cfg.agreement.version, "2026-12");
        let mut plain = cfg.clone();
        plain.portal.tls = None;
        plain.portal.base_url = Some("https://portal.example.jp/".into());
        assert_eq!(plain.portal.base_url(), "https://portal.example.jp");
        for bad in ["[portal]\nlisten_on = 1\n", "[agreement]\ntext = \"x\"\n"] {
            assert!(Config::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn admin_tls_takes_files_or_self_issued() {
        assert_eq!(Config::default().admin.tls, None);
        let cfg = Config::parse("[admin]\ntls = { cert = \"a.pem\", key = \"a.key\" }\n").unwrap();
        assert_eq!(
            cfg.admin.tls,
            Some(AdminTls::Files(TlsFiles {
                cert: "a.pem".into(),
                key: "a.key".into()
            }))
        );
        let cfg = Config::parse("[admin]\ntls = \"self-issued\"\n").unwrap();
        assert_eq!(
            cfg.admin.tls,
            Some(AdminTls::SelfIssued(SelfIssued::SelfIssued))
        );
        let container = Config::parse(include_str!("../conf/container.toml")).unwrap();
        assert_eq!(container.admin.tls, cfg.admin.tls);
        for bad in [
            "tls = { cert = \"a.pem\" }",
            "tls = { cert = \"a.pem\", key = \"a.key\", chain = \"c.pem\" }",
            "tls = \"files\"",
        ] {
            let err = Config::parse(&format!("[admin]\n{bad}\n")).unwrap_err();
            assert!(err.detail.contains("self-issued"), "{bad}: {}", err.detail);
        }
    }

    #[test]
    fn env_overrides_apply() {
        let mut cfg = Config::default();
        cfg.apply_env(|k| match k {
            ENV_DATABASE_URL => Some("postgres://x@127.0.0.1/db".into()),
            ENV_BASE_URL => Some("https://acme.example.net/".into()),
            _ => None,
        });
        assert_eq!(cfg.database_url(), "postgres://x@127.0.0.1/db");
        assert_eq!(cfg.base_url(), "https://acme.example.net");
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
    fn limits_parse_validate_and_name_their_page() {
        let cfg = Config::default();
        cfg.limits.validate().unwrap();
        assert_eq!(cfg.limits.new_orders_per_account, Rate::new(300, 10800));
        assert_eq!(
            cfg.limits_documentation_url(),
            "https://localhost:14000/docs/rate-limits"
        );
        let cfg = Config::parse(
            "[limits]\nnew_orders_per_account = { count = 5, period_secs = 60 }\n\
             exempt_addresses = [\"10.0.0.1\"]\ndocumentation_url = \"https://ca.example/limits\"\n",
        )
        .unwrap();
        cfg.limits.validate().unwrap();
        assert_eq!(cfg.limits.new_orders_per_account, Rate::new(5, 60));
        assert_eq!(cfg.limits.exempt_addresses.len(), 1);
        assert_eq!(cfg.limits_documentation_url(), "https://ca.example/limits");
        for bad in [
            "[limits]\nfinalizes_per_account = { count = 5, period_secs = 0 }\n",
            "[limits]\nrequests_per_address = { count = 1, period_secs = 99999999999 }\n",
            "[limits]\ndocumentation_url = \"ftp://x\"\n",
            "[limits]\nrefusal_delay_ms = 60000\n",
        ] {
            let cfg = Config::parse(bad).unwrap();
            assert!(cfg.limits.validate().is_err(), "{bad}");
        }
        assert!(Config::parse("[limits]\nnew_orders = 1\n").is_err());
    }

    #[test]
    fn relative_sqlite_path_resolves_under_data_dir() {
        let cfg = Config::default();
        assert_eq!(cfg.database_url(), "data/trustgate.db");
    }

    #[test]
    fn urls_are_http_and_shard_numbered() {
        let u = PublishUrls::new("http://crl.example.jp/", 16).unwrap();
        assert_eq!(u.crl(3), "http://crl.example.jp/crl/3.crl");
        assert_eq!(u.issuer(), "http://crl.example.jp/intermediate.der");
        let u = PublishUrls::new("http://example.jp/pki", 1).unwrap();
        assert_eq!(u.crl(0), "http://example.jp/pki/crl/0.crl");
        for bad in [
            "https://crl.example.jp",
            "ldap://x",
            "http://",
            "http:///x",
            "http://a b",
            "http://x/?q",
            "crl.example.jp",
        ] {
            assert!(PublishUrls::new(bad, 16).is_err(), "{bad}");
        }
        assert!(PublishUrls::new("http://x", 0).is_err());
    }

    #[test]
    fn shards_are_deterministic_and_in_range() {
        let mut s = [0x11; 16];
        s[12..].copy_from_slice(&[0, 0, 1, 0x13]);
        assert_eq!(crl_shard(&s, 16), 0x113 % 16);
        assert_eq!(crl_shard(&s, 16), crl_shard(&s, 16));
        assert_eq!(crl_shard(&s, 1), 0);
        assert_eq!(crl_shard(&s, 0), 0);
        let mut seen = [0u32; 7];
        let rng = ring::rand::SystemRandom::new();
        for _ in 0..700 {
            let mut s = [0u8; 16];
            ring::rand::SecureRandom::fill(&rng, &mut s).unwrap();
            seen[crl_shard(&s, 7) as usize] += 1;
        }
        assert!(seen.iter().all(|n| *n > 40), "{seen:?}");
        let u = PublishUrls::new("http://c.jp", 7).unwrap();
        let (shard, url) = u.crl_for(&s);
        assert_eq!(url, format!("http://c.jp/crl/{shard}.crl"));
    }

    /// A `[billing]` table with a price for every OV and EV certificate
    /// of up to 100 and 200 days, without `extra_prices` left out.
    pub(crate) fn billing_toml(skip: Option<(&str, bool)>) -> String {
        let mut t = String::from(
            "[billing]\nregistration_number = \"T1180301018771\"\n\
             issuer_name = \"例示認証局株式会社\"\nissuer_address = \"東京都千代田区1-1\"\n\
             payment_instructions = [\"みずほ銀行 本店 普通 1234567\"]\n",
        );
        for level in ["ov", "ev"] {
            for wildcard in [false, true] {
                if skip == Some((level, wildcard)) {
                    continue;
                }
                for (days, yen) in [(100, 30000), (200, 50000)] {
                    let yen =
                        yen * if wildcard { 2 } else { 1 } + if level == "ev" { 100000 } else { 0 };
                    t.push_str(&format!(
                        "[[billing.prices]]\nlevel = \"{level}\"\nwildcard = {wildcard}\nmax_days = {days}\nyen = {yen}\n"
                    ));
                }
            }
        }
        t
    }

    fn profiles() -> Vec<String> {
        vec!["ov".into(), "ev".into()]
    }

    /// The smallest band holding the validity applies; none past the
    /// largest.
    #[test]
    fn prices_come_from_the_smallest_band() {
        let b = Config::parse(&billing_toml(None)).unwrap().billing.unwrap();
        b.validate(&profiles(), 90).unwrap();
        assert_eq!(b.price("ov", false, 90), Some(30000));
        assert_eq!(b.price("ov", false, 100), Some(30000));
        assert_eq!(b.price("ov", false, 101), Some(50000));
        assert_eq!(b.price("ov", true, 90), Some(60000));
        assert_eq!(b.price("ev", false, 200), Some(150000));
        assert_eq!(b.price("ev", false, 201), None);
    }

    /// A level the CA issues without a price refuses the start, naming
    /// what to add; a level it does not issue needs none.
    #[test]
    fn a_missing_level_is_refused() {
        let b = Config::parse(&billing_toml(Some(("ev", true))))
            .unwrap()
            .billing
            .unwrap();
        let e = b.validate(&profiles(), 90).unwrap_err().detail;
        assert!(e.contains("EV wildcard"), "{e}");
        assert!(e.contains("wildcard = true"), "{e}");
        b.validate(&["ov".into()], 90).unwrap();
        let full = Config::parse(&billing_toml(None)).unwrap().billing.unwrap();
        let e = full.validate(&profiles(), 250).unwrap_err().detail;
        assert!(e.contains("250 days"), "{e}");
    }

    #[test]
    fn registration_numbers_are_checked() {
        assert_eq!(registration_number_problem("T1180301018771"), None);
        for bad in [
            "1180301018771",
            "T118030101877",
            "T118030101877x",
            "T2180301018771",
            "t1180301018771",
        ] {
            assert!(registration_number_problem(bad).is_some(), "{bad}");
        }
        let text = billing_toml(None).replace("T1180301018771", "T2180301018771");
        let b = Config::parse(&text).unwrap().billing.unwrap();
        let e = b.validate(&profiles(), 90).unwrap_err().detail;
        assert!(e.contains("billing.registration_number"), "{e}");
        assert!(e.contains("check digit 2"), "{e}");
    }

    #[test]
    fn bad_prices_and_texts_are_refused() {
        let cases = [
            ("yen = 30000", "yen = 0", "yen must be"),
            ("level = \"ov\"", "level = \"dv\"", "ov or ev"),
            (
                "issuer_name = \"例示認証局株式会社\"",
                "issuer_name = \" \"",
                "issuer_name",
            ),
        ];
        for (from, to, expect) in cases {
            let text = billing_toml(None).replacen(from, to, 1);
            let b = Config::parse(&text).unwrap().billing.unwrap();
            let e = b.validate(&profiles(), 90).unwrap_err().detail;
            assert!(e.contains(expect), "{to}: {e}");
        }
        let twice = format!(
            "{}[[billing.prices]]\nlevel = \"ov\"\nwildcard = false\nmax_days = 100\nyen = 1\n",
            billing_toml(None)
        );
        let b = Config::parse(&twice).unwrap().billing.unwrap();
        assert!(b
            .validate(&profiles(), 90)
            .unwrap_err()
            .detail
            .contains("repeats"));
        assert!(Config::parse(&format!("{}colour = 1\n", billing_toml(None))).is_err());
    }
}
