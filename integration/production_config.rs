//! A production CA (no development hierarchy) refuses to start with an
//! unsafe configuration, naming every offending setting and its fix in one
//! run; `trustgate check-config` prints the same list without starting and
//! exits non-zero. The real binary, as an operator runs it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// Every setting `app::preflight` judges, as it names them.
const OFFENCES: &[&str] = &[
    "server.tls",
    "vetting.eab_encryption_key",
    "publish.base_url",
    "va.allow_loopback",
    "database.url",
    "ca.linter_url",
    "ca.intermediate_key",
    "admin.listen",
];

fn trustgate(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trustgate"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("TRUSTGATE_EAB_ENCRYPTION_KEY")
        .env("NO_COLOR", "1")
        .output()
        .expect("running trustgate")
}

/// A production configuration in `dir`; `safe` fixes every setting.
fn write_config(dir: &Path, safe: bool) -> std::path::PathBuf {
    let db = dir.join("trustgate.db");
    std::fs::write(&db, b"").unwrap();
    let mode = if safe { 0o600 } else { 0o644 };
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(mode)).unwrap();
    let text = if safe {
        r#"
[server]
listen = "127.0.0.1:0"
tls = "none"
[ca]
generate_dev_ca = false
intermediate_key = "pkcs11:token=ca;object=intermediate"
linter_url = "http://127.0.0.1:8081"
[vetting]
eab_encryption_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
[publish]
base_url = "http://crl.example.jp"
"#
    } else {
        r#"
[server]
listen = "127.0.0.1:0"
tls = "self-issued"
[ca]
generate_dev_ca = false
[va]
allow_loopback = true
[admin]
listen = "0.0.0.0:0"
"#
    };
    let config = dir.join("trustgate.toml");
    let data = format!("data_dir = \"{}\"\n", dir.display());
    std::fs::write(&config, data + text).unwrap();
    config
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn check_config_and_serve_name_every_unsafe_setting_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), false);

    let check = trustgate(&config, &["check-config"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    let listed = String::from_utf8_lossy(&check.stdout);
    for setting in OFFENCES {
        assert!(
            listed.contains(&format!("  - {setting}: ")),
            "check-config does not name {setting}:\n{listed}"
        );
    }
    assert!(listed.contains("fix: "), "{listed}");

    let serve = trustgate(&config, &["serve"]);
    assert!(!serve.status.success(), "serve started:\n{}", text(&serve));
    let refused = String::from_utf8_lossy(&serve.stderr);
    assert!(
        refused.contains(&format!(
            "refusing to start a production CA: {} setting(s) to fix",
            OFFENCES.len()
        )),
        "{refused}"
    );
    for setting in OFFENCES {
        assert!(
            refused.contains(&format!("  - {setting}: ")),
            "serve does not name {setting}:\n{refused}"
        );
    }
}

#[test]
fn check_config_passes_a_safe_production_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), true);
    let check = trustgate(&config, &["check-config"]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("nothing to fix"), "{}", text(&check));
}
