//! Safe production configuration: the settings a production CA (one that
//! does not generate a development hierarchy) must not run with. `serve`
//! refuses to start naming every offending setting and its fix at once;
//! `trustgate check-config` prints the same list without starting.
//!
//! Each check is a function of the configuration (and, for the database,
//! the file's mode) returning at most one [`Verdict`]; add a check by
//! adding it to [`CHECKS`].

use std::fmt;
use std::path::Path;

use crate::config::{AdminTls, Config, TlsMode};
use crate::error::{Error, Result};

/// One setting a production CA must not run with, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The setting, as written in the configuration file.
    pub setting: &'static str,
    /// What is wrong with it.
    pub problem: String,
    /// What to do instead.
    pub fix: String,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.setting, self.problem, self.fix)
    }
}

type Check = fn(&Config) -> Option<Verdict>;

/// Every production check, in the order they are reported.
pub const CHECKS: &[Check] = &[
    self_issued_tls,
    unsealed_eab_keys,
    no_publish_base_url,
    loopback_validation,
    readable_database,
    no_linter,
    key_file,
    plain_admin_off_loopback,
    self_issued_admin_tls,
    plain_portal_off_loopback,
    self_issued_portal_tls,
    no_portal_base_url,
    development_agreement,
];

/// Whether `cfg` runs a production CA: not the generated development
/// hierarchy (the same test as the BR 3.2.2.9 startup check).
pub fn is_production(cfg: &Config) -> bool {
    !cfg.ca.generate_dev_ca
}

/// What a production CA must fix before it starts; empty for a
/// development CA.
pub fn verdicts(cfg: &Config) -> Vec<Verdict> {
    if !is_production(cfg) {
        return Vec::new();
    }
    CHECKS.iter().filter_map(|check| check(cfg)).collect()
}

/// `Err` naming every verdict, one a line, when there is any.
pub fn check(cfg: &Config) -> Result<()> {
    let found = verdicts(cfg);
    if found.is_empty() {
        return Ok(());
    }
    Err(Error::internal(refusal(&found)))
}

/// The refusal text: a heading and one line per verdict.
pub fn refusal(verdicts: &[Verdict]) -> String {
    let mut text = format!(
        "refusing to start a production CA: {} setting(s) to fix",
        verdicts.len()
    );
    for v in verdicts {
        text.push_str(&format!("\n  - {v}"));
    }
    text
}

fn self_issued_tls(cfg: &Config) -> Option<Verdict> {
    (cfg.server.tls == TlsMode::SelfIssued).then(|| Verdict {
        setting: "server.tls",
        problem: "\"self-issued\" serves ACME with a certificate from this CA, which clients \
                  do not trust"
            .into(),
        fix: "set server.tls = \"files\" with server.tls_cert and server.tls_key, or \
              \"none\" behind a TLS-terminating proxy"
            .into(),
    })
}

fn unsealed_eab_keys(cfg: &Config) -> Option<Verdict> {
    cfg.vetting.eab_encryption_key.is_none().then(|| Verdict {
        setting: "vetting.eab_encryption_key",
        problem: "unset: EAB HMAC keys would be stored unsealed in the database".into(),
        fix: "set TRUSTGATE_EAB_ENCRYPTION_KEY (or vetting.eab_encryption_key) to base64url \
              of 32 random bytes: openssl rand 32 | basenc --base64url | tr -d ="
            .into(),
    })
}

fn no_publish_base_url(cfg: &Config) -> Option<Verdict> {
    cfg.publish.base_url.is_none().then(|| Verdict {
        setting: "publish.base_url",
        problem: "unset: certificates would name CRL and issuer URLs on http://localhost".into(),
        fix: "set publish.base_url to the public http:// origin that serves the CRLs and the \
              issuer certificate, e.g. \"http://crl.example.com\""
            .into(),
    })
}

fn loopback_validation(cfg: &Config) -> Option<Verdict> {
    cfg.va.allow_loopback.then(|| Verdict {
        setting: "va.allow_loopback",
        problem: "true: domain validation would connect to loopback addresses".into(),
        fix: "remove va.allow_loopback (it is for tests)".into(),
    })
}

/// The SQLite file must be its owner's only: it holds account keys,
/// vetting records and (sealed) EAB keys. Any group or other permission
/// (mode & 0o077) refuses, as for the CA key file (`ca::key`); a file
/// not created yet is not judged (`trustgate migrate` creates it; then
/// `chmod 600` it).
fn readable_database(cfg: &Config) -> Option<Verdict> {
    let url = cfg.database_url();
    if url.starts_with("postgres") || url == ":memory:" {
        return None;
    }
    let mode = file_mode(Path::new(&url))?;
    (mode & 0o077 != 0).then(|| Verdict {
        setting: "database.url",
        problem: format!("the SQLite file {url} is open to group or others (mode {mode:o})"),
        fix: format!("chmod 600 {url} (and its -wal and -shm files)"),
    })
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> Option<u32> {
    None
}

fn no_linter(cfg: &Config) -> Option<Verdict> {
    (cfg.ca.linter_url.is_none() && !cfg.ca.allow_no_linter).then(|| Verdict {
        setting: "ca.linter_url",
        problem: "unset: certificates and CRLs would be signed without the external \
                  pre-issuance linter (BR 4.3.1.2)"
            .into(),
        fix: "run pkilint's REST service (uvicorn pkilint.rest:app --host 127.0.0.1 --port 8081) \
              and set ca.linter_url = \"http://127.0.0.1:8081\"; or, for a short outage only, \
              ca.allow_no_linter = true"
            .into(),
    })
}

/// BR 6.2.7: a production CA keeps its key in a hardware module; a key
/// file needs `ca.allow_key_file`, and then must be its owner's only.
/// (`app::load_ca` checks the same when it loads the key.)
fn key_file(cfg: &Config) -> Option<Verdict> {
    let key = &cfg.ca.intermediate_key;
    if key.to_string_lossy().starts_with("pkcs11:") {
        return None;
    }
    let path = cfg.data_path(key);
    if !cfg.ca.allow_key_file {
        return Some(Verdict {
            setting: "ca.intermediate_key",
            problem: format!(
                "a key file ({}): a production CA keeps its key in a hardware module (BR 6.2.7)",
                path.display()
            ),
            fix: "set ca.intermediate_key to a pkcs11: URI with ca.pkcs11_module, or \
                  ca.allow_key_file = true to accept a key file"
                .into(),
        });
    }
    let mode = file_mode(&path)?;
    (mode & 0o077 != 0).then(|| Verdict {
        setting: "ca.intermediate_key",
        problem: format!(
            "the key file {} is open to group or others (mode {mode:o})",
            path.display()
        ),
        fix: format!("chmod 600 {}", path.display()),
    })
}

/// Staff passwords, TOTP codes, session cookies and API tokens cross the
/// admin listener: in clear text only on loopback (a TLS proxy on the
/// same host may front it).
fn plain_admin_off_loopback(cfg: &Config) -> Option<Verdict> {
    let addr = cfg.admin.listen?;
    (cfg.admin.tls.is_none() && !addr.ip().is_loopback()).then(|| Verdict {
        setting: "admin.listen",
        problem: format!(
            "{addr} without admin.tls: staff passwords, TOTP codes, console cookies and API \
             tokens would cross the network in clear text"
        ),
        fix: "set admin.tls = { cert = \"….pem\", key = \"….pem\" }, or listen on \
              127.0.0.1 behind a TLS-terminating proxy on the same host"
            .into(),
    })
}

fn self_issued_admin_tls(cfg: &Config) -> Option<Verdict> {
    matches!(cfg.admin.tls, Some(AdminTls::SelfIssued(_))).then(|| Verdict {
        setting: "admin.tls",
        problem: "\"self-issued\" would have this CA issue an unlinted serving certificate \
                  for itself"
            .into(),
        fix: "set admin.tls = { cert = \"….pem\", key = \"….pem\" } with a certificate \
              staff browsers trust"
            .into(),
    })
}

/// Customer passwords and session cookies cross the portal listener: in
/// clear text only on loopback (behind a TLS proxy on the same host).
fn plain_portal_off_loopback(cfg: &Config) -> Option<Verdict> {
    let addr = cfg.portal.listen?;
    (cfg.portal.tls.is_none() && !addr.ip().is_loopback()).then(|| Verdict {
        setting: "portal.listen",
        problem: format!(
            "{addr} without portal.tls: customer passwords and session cookies would cross \
             the network in clear text"
        ),
        fix: "set portal.tls = { cert = \"….pem\", key = \"….pem\" }, or listen on \
              127.0.0.1 behind a TLS-terminating proxy on the same host"
            .into(),
    })
}

fn self_issued_portal_tls(cfg: &Config) -> Option<Verdict> {
    let on = cfg.portal.listen.is_some();
    (on && matches!(cfg.portal.tls, Some(AdminTls::SelfIssued(_)))).then(|| Verdict {
        setting: "portal.tls",
        problem: "\"self-issued\" serves customers a certificate from this CA, which their \
                  browsers do not trust"
            .into(),
        fix: "set portal.tls = { cert = \"….pem\", key = \"….pem\" } with a publicly \
              trusted certificate, or run behind a TLS-terminating proxy"
            .into(),
    })
}

fn no_portal_base_url(cfg: &Config) -> Option<Verdict> {
    (cfg.portal.listen.is_some() && cfg.portal.base_url.is_none()).then(|| Verdict {
        setting: "portal.base_url",
        problem: "unset: e-mail confirmation links would point to https://localhost".into(),
        fix: "set portal.base_url to the portal's public origin, e.g. \
              \"https://portal.example.jp\""
            .into(),
    })
}

fn development_agreement(cfg: &Config) -> Option<Verdict> {
    (cfg.portal.listen.is_some() && cfg.agreement.text_file.is_none()).then(|| Verdict {
        setting: "agreement.text_file",
        problem: "unset: customers would accept the bundled development agreement".into(),
        fix: "set agreement.text_file to the subscriber agreement's text and \
              agreement.version to its version"
            .into(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A production configuration that passes every check.
    fn good() -> Config {
        let mut cfg = Config::default();
        cfg.ca.generate_dev_ca = false;
        cfg.server.tls = TlsMode::Files;
        cfg.vetting.eab_encryption_key = Some("k".into());
        cfg.publish.base_url = Some("http://crl.example.com".into());
        cfg.va.allow_loopback = false;
        cfg.database.url = "postgres://db/trustgate".into();
        cfg.ca.linter_url = Some("http://127.0.0.1:8081".into());
        cfg.ca.intermediate_key = "pkcs11:token=ca;object=int".into();
        cfg
    }

    fn settings(cfg: &Config) -> Vec<&'static str> {
        verdicts(cfg).iter().map(|v| v.setting).collect()
    }

    #[test]
    fn a_good_production_configuration_has_no_verdict() {
        assert_eq!(settings(&good()), Vec::<&str>::new());
        assert!(check(&good()).is_ok());
    }

    #[test]
    fn a_development_ca_is_not_judged() {
        let mut cfg = Config::default();
        cfg.va.allow_loopback = true;
        assert!(cfg.ca.generate_dev_ca);
        assert!(verdicts(&cfg).is_empty());
    }

    #[test]
    fn self_issued_tls_refuses() {
        let mut cfg = good();
        cfg.server.tls = TlsMode::SelfIssued;
        assert_eq!(settings(&cfg), ["server.tls"]);
        cfg.server.tls = TlsMode::None;
        assert!(settings(&cfg).is_empty());
    }

    #[test]
    fn unsealed_eab_keys_refuse() {
        let mut cfg = good();
        cfg.vetting.eab_encryption_key = None;
        assert_eq!(settings(&cfg), ["vetting.eab_encryption_key"]);
    }

    #[test]
    fn no_publish_base_url_refuses() {
        let mut cfg = good();
        cfg.publish.base_url = None;
        assert_eq!(settings(&cfg), ["publish.base_url"]);
    }

    #[test]
    fn loopback_validation_refuses() {
        let mut cfg = good();
        cfg.va.allow_loopback = true;
        assert_eq!(settings(&cfg), ["va.allow_loopback"]);
    }

    #[test]
    fn no_linter_refuses_unless_allowed() {
        let mut cfg = good();
        cfg.ca.linter_url = None;
        assert_eq!(settings(&cfg), ["ca.linter_url"]);
        cfg.ca.allow_no_linter = true;
        assert!(settings(&cfg).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_database_readable_by_others_refuses() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("trustgate.db");
        std::fs::write(&db, b"").unwrap();
        let mut cfg = good();
        cfg.database.url = db.to_string_lossy().into_owned();
        for (mode, refuses) in [(0o600, false), (0o640, true), (0o604, true), (0o620, true)] {
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(!settings(&cfg).is_empty(), refuses, "mode {mode:o}");
        }
        // Not created yet: not judged.
        cfg.database.url = dir.path().join("new.db").to_string_lossy().into_owned();
        assert!(settings(&cfg).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_needs_allow_key_file_and_owner_only_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = good();
        cfg.data_dir = dir.path().to_path_buf();
        cfg.ca.intermediate_key = "intermediate.key".into();
        let key = dir.path().join("intermediate.key");
        std::fs::write(&key, b"").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let v = verdicts(&cfg);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].setting, "ca.intermediate_key");
        assert!(v[0].fix.contains("ca.allow_key_file = true"), "{}", v[0]);
        cfg.ca.allow_key_file = true;
        assert!(settings(&cfg).is_empty());
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(verdicts(&cfg)[0].fix.starts_with("chmod 600"));
    }

    #[test]
    fn a_plain_admin_listener_off_loopback_refuses() {
        let mut cfg = good();
        for (listen, refuses) in [
            ("127.0.0.1:14001", false),
            ("[::1]:14001", false),
            ("0.0.0.0:14001", true),
            ("192.0.2.10:14001", true),
            ("[::]:14001", true),
        ] {
            cfg.admin.listen = Some(listen.parse().unwrap());
            let found = verdicts(&cfg);
            assert_eq!(!found.is_empty(), refuses, "{listen}");
            if refuses {
                assert_eq!(settings(&cfg), ["admin.listen"]);
                assert!(found[0].fix.contains("admin.tls"), "{}", found[0]);
            }
        }
        cfg.admin.tls = Some(AdminTls::Files(crate::config::TlsFiles {
            cert: "admin.pem".into(),
            key: "admin.key".into(),
        }));
        assert!(settings(&cfg).is_empty());
        cfg.admin.listen = None;
        cfg.admin.tls = None;
        assert!(settings(&cfg).is_empty());
    }

    #[test]
    fn a_self_issued_admin_certificate_refuses() {
        let mut cfg = good();
        cfg.admin.listen = Some("0.0.0.0:14001".parse().unwrap());
        cfg.admin.tls = Some(AdminTls::SelfIssued(crate::config::SelfIssued::SelfIssued));
        assert_eq!(settings(&cfg), ["admin.tls"]);
    }

    #[test]
    fn every_offence_is_named_at_once() {
        let mut cfg = good();
        cfg.server.tls = TlsMode::SelfIssued;
        cfg.vetting.eab_encryption_key = None;
        cfg.publish.base_url = None;
        cfg.va.allow_loopback = true;
        cfg.ca.linter_url = None;
        let e = check(&cfg).unwrap_err();
        for s in [
            "server.tls",
            "vetting.eab_encryption_key",
            "publish.base_url",
            "va.allow_loopback",
            "ca.linter_url",
        ] {
            assert!(
                e.detail.contains(&format!("\n  - {s}: ")),
                "{s}: {}",
                e.detail
            );
        }
        assert!(e
            .detail
            .starts_with("refusing to start a production CA: 5 setting(s)"));
    }

    #[test]
    fn an_unsafe_portal_refuses_and_an_absent_one_is_not_judged() {
        use crate::config::{SelfIssued, TlsFiles};
        let mut cfg = good();
        cfg.portal.tls = Some(AdminTls::SelfIssued(SelfIssued::SelfIssued));
        assert!(settings(&cfg).is_empty(), "no portal.listen: off");
        cfg.portal.listen = Some("0.0.0.0:443".parse().unwrap());
        assert_eq!(
            settings(&cfg),
            ["portal.tls", "portal.base_url", "agreement.text_file"]
        );
        cfg.portal.tls = None;
        assert_eq!(
            settings(&cfg),
            ["portal.listen", "portal.base_url", "agreement.text_file"]
        );
        cfg.portal.tls = Some(AdminTls::Files(TlsFiles {
            cert: "p.pem".into(),
            key: "p.key".into(),
        }));
        cfg.portal.base_url = Some("https://portal.example.jp".into());
        cfg.agreement.text_file = Some("agreement.txt".into());
        assert!(settings(&cfg).is_empty());
    }
}
