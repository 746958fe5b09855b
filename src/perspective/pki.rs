//! A development PKI for one perspective (`trustgate perspective init`):
//! a perspective CA, the perspective's server certificate and the
//! primary's client certificate, as PEM files with keys 0600. Both sides
//! trust only this CA for the other: the server certificate carries only
//! serverAuth, the client certificate only clientAuth, so neither can
//! stand in for the other. For production, issue the same three from a CA
//! kept off these hosts.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use time::{Duration, OffsetDateTime};

use crate::ca::dev::{check_targets, write_all};
use crate::ca::Serial;
use crate::core::Region;
use crate::error::{Error, Result};

const CA_VALIDITY: Duration = Duration::days(5 * 365);
/// The leaf certificates: rotate at least yearly.
const LEAF_VALIDITY: Duration = Duration::days(365);
/// Absorbs clock skew between the primary and the perspective.
const BACKDATE: Duration = Duration::hours(1);

/// Where `generate` writes, under one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevPki {
    /// The perspective CA: the primary's `ca_cert` and the perspective's
    /// `client_ca`.
    pub ca_cert: PathBuf,
    /// Keep it to issue the next certificates; it is no file either
    /// process reads.
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl DevPki {
    pub fn paths(dir: &Path) -> DevPki {
        DevPki {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("primary.pem"),
            client_key: dir.join("primary.key"),
        }
    }

    /// Writes the CA, a server certificate for `hosts` (DNS names or IP
    /// addresses) and the primary's client certificate under `dir`;
    /// refuses to overwrite any file.
    pub fn generate(
        dir: &Path,
        name: &str,
        hosts: &[String],
        now: OffsetDateTime,
    ) -> Result<DevPki> {
        let pki = DevPki::paths(dir);
        check_targets(&pki.all())?;
        if hosts.is_empty() {
            return Err(Error::internal(
                "the server certificate needs a host name or address",
            ));
        }
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let ca_key = new_key("CA key")?;
        let ca_params = ca_params(name, now)?;
        let ca_der = ca_params.self_signed(&ca_key).map_err(sign_err("CA"))?;
        let issuer = Issuer::new(ca_params, &ca_key);
        let server_key = new_key("server key")?;
        let server = server_params(name, hosts, now)?
            .signed_by(&server_key, &issuer)
            .map_err(sign_err("server certificate"))?;
        let client_key = new_key("client key")?;
        let client = client_params(name, now)?
            .signed_by(&client_key, &issuer)
            .map_err(sign_err("client certificate"))?;
        write_all(&[
            (&pki.ca_cert, crate::ca::cert_pem(ca_der.der()), 0o644),
            (&pki.ca_key, ca_key.serialize_pem(), 0o600),
            (&pki.server_cert, crate::ca::cert_pem(server.der()), 0o644),
            (&pki.server_key, server_key.serialize_pem(), 0o600),
            (&pki.client_cert, crate::ca::cert_pem(client.der()), 0o644),
            (&pki.client_key, client_key.serialize_pem(), 0o600),
        ])?;
        Ok(pki)
    }

    fn all(&self) -> [&Path; 6] {
        [
            &self.ca_cert,
            &self.ca_key,
            &self.server_cert,
            &self.server_key,
            &self.client_cert,
            &self.client_key,
        ]
    }

    /// The `[perspective]` table for the perspective's configuration.
    pub fn perspective_snippet(&self, listen: &str, region: Region) -> String {
        format!(
            "[perspective]\nlisten = \"{listen}\"\nregion = \"{region}\"\ntls_cert = {}\ntls_key = {}\nclient_ca = {}\n",
            toml_path(&self.server_cert),
            toml_path(&self.server_key),
            toml_path(&self.ca_cert),
        )
    }

    /// The `[[va.perspectives]]` table for the primary's configuration.
    pub fn primary_snippet(&self, name: &str, url: &str, region: Region) -> String {
        format!(
            "[[va.perspectives]]\nname = {}\nurl = {}\nregion = \"{region}\"\nca_cert = {}\nclient_cert = {}\nclient_key = {}\n",
            toml_str(name),
            toml_str(url),
            toml_path(&self.ca_cert),
            toml_path(&self.client_cert),
            toml_path(&self.client_key),
        )
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn toml_path(p: &Path) -> String {
    toml_str(&p.to_string_lossy())
}

fn new_key(what: &str) -> Result<KeyPair> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(sign_err(what))
}

fn sign_err(what: &str) -> impl Fn(rcgen::Error) -> Error {
    let what = what.to_owned();
    move |e| Error::internal(format!("generating the perspective {what}: {e}"))
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::OrganizationName,
        "trustgate development perspectives",
    );
    dn.push(DnType::CommonName, cn);
    dn
}

fn serial() -> Result<SerialNumber> {
    Ok(SerialNumber::from_slice(&Serial::random()?.0))
}

fn ca_params(name: &str, now: OffsetDateTime) -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&format!("perspective CA {name}"));
    p.not_before = now - BACKDATE;
    p.not_after = now + CA_VALIDITY;
    p.serial_number = Some(serial()?);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(p)
}

/// Names that parse as IP addresses become iPAddress SANs.
fn server_params(name: &str, hosts: &[String], now: OffsetDateTime) -> Result<CertificateParams> {
    let mut p = CertificateParams::new(hosts.to_vec())
        .map_err(|e| Error::internal(format!("perspective host names: {e}")))?;
    p.distinguished_name = dn(&format!("perspective {name}"));
    leaf(&mut p, now, ExtendedKeyUsagePurpose::ServerAuth)?;
    Ok(p)
}

fn client_params(name: &str, now: OffsetDateTime) -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&format!("primary of perspective {name}"));
    leaf(&mut p, now, ExtendedKeyUsagePurpose::ClientAuth)?;
    Ok(p)
}

fn leaf(
    p: &mut CertificateParams,
    now: OffsetDateTime,
    eku: ExtendedKeyUsagePurpose,
) -> Result<()> {
    p.not_before = now - BACKDATE;
    p.not_after = now + LEAF_VALIDITY;
    p.serial_number = Some(serial()?);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![eku];
    p.use_authority_key_identifier_extension = true;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn writes_six_files_keys_private_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let now = crate::core::Clock::system().now();
        let hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let pki = DevPki::generate(dir.path(), "p1", &hosts, now).unwrap();
        for p in pki.all() {
            assert!(p.exists(), "{}", p.display());
        }
        #[cfg(unix)]
        for k in [&pki.ca_key, &pki.server_key, &pki.client_key] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(k).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", k.display());
        }
        // Both sides' TLS configurations load from the files.
        crate::va::remote::mtls::server_config(&pki.server_cert, &pki.server_key, &pki.ca_cert)
            .unwrap();
        crate::va::remote::mtls::client_config(&pki.ca_cert, &pki.client_cert, &pki.client_key)
            .unwrap();
        assert!(DevPki::generate(dir.path(), "p1", &hosts, now).is_err());
    }

    #[test]
    fn snippets_parse_as_configuration() {
        let pki = DevPki::paths(Path::new("data/perspective \"x\""));
        let text = format!(
            "{}\n{}",
            pki.primary_snippet("p1", "https://localhost:14003", Region::Ripe),
            pki.perspective_snippet("127.0.0.1:14003", Region::Ripe)
        );
        let cfg = crate::config::Config::parse(&text).unwrap();
        assert_eq!(cfg.va.perspectives[0].client_key, pki.client_key);
        assert_eq!(cfg.perspective.unwrap().client_ca, pki.ca_cert);
    }
}
