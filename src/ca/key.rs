//! The intermediate's signing key: a PKCS#8 file or a key in a PKCS#11
//! token. Everything the intermediate signs (certificates, CRLs,
//! precertificates, the server's own certificate) goes through one
//! [`CaKey`], held in the CA's `rcgen::Issuer`.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm};

use super::pkcs11::{Pin, Pkcs11Uri, TokenConfig, TokenKey};
use crate::config::CaConfig;
use crate::error::{Error, Result};

/// Where the intermediate's key is, as configured by `ca.intermediate_key`.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A PKCS#8 PEM file (development, or `ca.allow_key_file = true`).
    File(PathBuf),
    /// A key in a PKCS#11 token (`pkcs11:token=…;object=…`).
    Token(TokenConfig),
}

impl KeySource {
    /// `ca.intermediate_key` read as a PKCS#11 URI when it starts with
    /// `pkcs11:`, else as a file under the data directory (`resolve`
    /// makes the path absolute). The PIN is read here, for a token.
    pub fn from_config(ca: &CaConfig, resolve: impl Fn(&Path) -> PathBuf) -> Result<KeySource> {
        let Some(uri) = token_uri(ca) else {
            return Ok(KeySource::File(resolve(&ca.intermediate_key)));
        };
        let uri = Pkcs11Uri::parse(uri)?;
        let module = ca.pkcs11_module.as_ref().ok_or_else(|| {
            Error::internal(
                "ca.intermediate_key is a PKCS#11 URI: set ca.pkcs11_module to the module's library path",
            )
        })?;
        let pin_file = ca.pkcs11_pin_file.as_deref().map(&resolve);
        Ok(KeySource::Token(TokenConfig {
            module: module.clone(),
            uri,
            pin: Pin::load(pin_file.as_deref())?,
        }))
    }
}

/// `ca.intermediate_key` when it names a token rather than a file.
pub fn token_uri(ca: &CaConfig) -> Option<&str> {
    ca.intermediate_key
        .to_str()
        .filter(|s| s.starts_with("pkcs11:"))
}

/// The intermediate's private key, wherever it is.
#[derive(Debug)]
pub enum CaKey {
    File(KeyPair),
    Token(TokenKey),
}

thread_local! {
    /// Why the last token signature on this thread failed: rcgen's error
    /// type carries no cause, so `signing_error` picks it up here (rcgen
    /// calls `sign` on the caller's thread).
    static TOKEN_FAILURE: RefCell<Option<Error>> = const { RefCell::new(None) };
}

impl PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            CaKey::File(k) => k.der_bytes(),
            CaKey::Token(k) => k.der_bytes(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            CaKey::File(k) => k.algorithm(),
            CaKey::Token(k) => k.algorithm(),
        }
    }
}

impl rcgen::SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        match self {
            CaKey::File(k) => k.sign(msg),
            CaKey::Token(k) => k.sign(msg).map_err(|f| {
                // Set here, taken by the `signing_error` of this call.
                TOKEN_FAILURE.with(|c| *c.borrow_mut() = Some(f.into_error()));
                rcgen::Error::RemoteKeyError
            }),
        }
    }
}

/// Maps a failed rcgen signing of `what` to our error: `Unavailable`
/// (503, retry) when the token was unreachable, else `ServerInternal`.
pub fn signing_error(what: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |e| {
        let token = TOKEN_FAILURE.with(|c| c.borrow_mut().take());
        match (e, token) {
            (rcgen::Error::RemoteKeyError, Some(mut err)) => {
                if err.kind != crate::error::ErrorKind::Unavailable {
                    err.detail = format!("{what}: {}", err.detail);
                }
                err
            }
            (e, _) => Error::internal(format!("{what}: {e}")),
        }
    }
}

/// Whether anyone but the owner may read the file (mode & 0o077 on Unix).
pub fn readable_by_others(path: &Path) -> Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?;
        Ok(meta.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(false)
    }
}
