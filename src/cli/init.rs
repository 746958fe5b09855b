//! `trustgate init`: a first configuration and a development CA, its
//! intermediate key in a file or generated inside a PKCS#11 token.

use std::path::{Path, PathBuf};

use trustgate::app;
use trustgate::ca;
use trustgate::ca::pkcs11::{KeyKind, Pin, Pkcs11Uri};
use trustgate::config::Config;
use trustgate::core::Clock;
use trustgate::error::{Error, Result};

/// A token to generate the intermediate's key in.
pub struct TokenInit {
    pub module: PathBuf,
    pub token: String,
    pub object: String,
    pub kind: KeyKind,
}

/// `trustgate init`: a config file pointing at ./data and a development
/// CA in it; with `token`, the intermediate's key is generated in the
/// token (never leaving it) and the root and intermediate certificate are
/// written around it.
pub fn run(config_path: &Path, token: &Option<TokenInit>) -> Result<()> {
    if config_path.exists() {
        return Err(Error::internal(format!(
            "{} already exists; not overwriting it",
            config_path.display()
        )));
    }
    let cfg = Config::default();
    let (root, int_cert, int_key) = app::ca_paths(&cfg);
    let key_lines = match token {
        None => {
            ca::dev::generate_hierarchy(
                &cfg.ca.dev_ca_name,
                &root,
                &int_cert,
                &int_key,
                Clock::system().now(),
            )?;
            FILE_KEY_LINES.to_owned()
        }
        Some(t) => generate_in_token(&cfg, t, &root, &int_cert)?,
    };
    if let Some(dir) = config_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
    }
    let text = format!(
        r#"# Written by `trustgate init`; see conf/trustgate.example.toml for every key.
data_dir = "data"

[ca]
root_cert = "ca/root.pem"
intermediate_cert = "ca/intermediate.pem"
# The hierarchy above exists now; never generate another silently.
generate_dev_ca = false
{key_lines}"#
    );
    std::fs::write(config_path, &text)
        .map_err(|e| Error::internal(format!("writing {}: {e}", config_path.display())))?;
    println!("wrote {}", config_path.display());
    match token {
        None => println!(
            "wrote development CA: {}, {}, {}",
            root.display(),
            int_cert.display(),
            int_key.display()
        ),
        Some(t) => {
            println!(
                "generated the intermediate key in token {:?}; wrote development root {} and intermediate {}",
                t.token,
                root.display(),
                int_cert.display()
            );
            println!("configuration ([ca]):\n{key_lines}");
        }
    }
    Ok(())
}

const FILE_KEY_LINES: &str = r#"intermediate_key = "ca/intermediate.key"
# The development intermediate's key is a file. A production CA keeps it
# in a PKCS#11 token instead (BR 6.2.7; see docs/deployment.md).
allow_key_file = true
"#;

/// Generates the key in the token and the certificates around it; the
/// `[ca]` lines that name it.
fn generate_in_token(cfg: &Config, t: &TokenInit, root: &Path, int_cert: &Path) -> Result<String> {
    let uri_text = format!(
        "pkcs11:token={};object={}",
        uri_escape(&t.token),
        uri_escape(&t.object)
    );
    let uri = Pkcs11Uri::parse(&uri_text)?;
    let pin = Pin::load(None)?;
    // Refuse before touching the token if the certificates exist.
    ca::dev::check_targets(&[root, &root.with_file_name(ca::dev::ROOT_KEY_FILE), int_cert])?;
    let public = ca::pkcs11::generate_key(&t.module, &uri, &pin, t.kind)?;
    ca::dev::generate_hierarchy_around(
        &cfg.ca.dev_ca_name,
        root,
        int_cert,
        &public,
        Clock::system().now(),
    )?;
    Ok(format!(
        r#"intermediate_key = "{uri_text}"
pkcs11_module = "{}"
# The user PIN: TRUSTGATE_PKCS11_PIN in the environment, or a file:
# pkcs11_pin_file = "/etc/trustgate/pkcs11.pin"
"#,
        t.module.display()
    ))
}

/// Percent-encodes what RFC 7512 does not allow in a path attribute value.
fn uri_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
