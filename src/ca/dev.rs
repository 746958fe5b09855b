//! A development CA hierarchy: a root and one intermediate, generated on
//! first start when `ca.generate_dev_ca` is set. Never for production: the
//! root key sits on the same disk as the server.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber,
    PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
};
use time::{Duration, OffsetDateTime};

use super::profile::whole_seconds;
use super::Serial;
use crate::error::{Error, Result};

/// File name of the root key, written next to the root certificate.
pub const ROOT_KEY_FILE: &str = "root.key";

const ROOT_VALIDITY: Duration = Duration::days(3653); // 10 years
const INTERMEDIATE_VALIDITY: Duration = Duration::days(1826); // 5 years
/// Absorbs clock skew between this host and relying parties.
const BACKDATE: Duration = Duration::hours(1);

/// Writes a development root (P-384, 10 years, CA:true, KU keyCertSign +
/// cRLSign) and an intermediate (P-256, 5 years, pathLen 0, KU
/// digitalSignature + keyCertSign + cRLSign, EKU serverAuth, AKI) to the
/// three paths, plus the root key next to the root cert as `root.key`.
/// Keys are PKCS#8 PEM with mode 0600.
///
/// Refuses to overwrite any existing file (`ServerInternal`). Creates
/// parent directories. If writing fails midway, the files it created are
/// removed again.
pub fn generate_hierarchy(
    name: &str,
    root_cert: &Path,
    intermediate_cert: &Path,
    intermediate_key: &Path,
    now: OffsetDateTime,
) -> Result<()> {
    let root_key_path = root_cert.with_file_name(ROOT_KEY_FILE);
    check_targets(&[
        root_cert,
        &root_key_path,
        intermediate_cert,
        intermediate_key,
    ])?;
    let now = whole_seconds(now);

    let int_key =
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(sign_err("intermediate key"))?;
    let (root_files, int_cert) = root_and_intermediate(name, &int_key, now)?;
    write_all(&[
        (root_cert, root_files.0, 0o644),
        (&root_key_path, root_files.1, 0o600),
        (intermediate_cert, int_cert, 0o644),
        (intermediate_key, int_key.serialize_pem(), 0o600),
    ])?;
    tracing::warn!(
        root = %root_cert.display(),
        intermediate = %intermediate_cert.display(),
        "generated a development CA hierarchy; do not use it for a production CA"
    );
    Ok(())
}

/// A development root as [`generate_hierarchy`] writes it, and an
/// intermediate certificate for `intermediate_key`, a key kept elsewhere
/// (in a PKCS#11 token): writes the root, `root.key` and the intermediate
/// certificate. Refuses to overwrite any of them.
pub fn generate_hierarchy_around(
    name: &str,
    root_cert: &Path,
    intermediate_cert: &Path,
    intermediate_key: &impl PublicKeyData,
    now: OffsetDateTime,
) -> Result<()> {
    let root_key_path = root_cert.with_file_name(ROOT_KEY_FILE);
    check_targets(&[root_cert, &root_key_path, intermediate_cert])?;
    let (root_files, int_cert) = root_and_intermediate(name, intermediate_key, whole_seconds(now))?;
    write_all(&[
        (root_cert, root_files.0, 0o644),
        (&root_key_path, root_files.1, 0o600),
        (intermediate_cert, int_cert, 0o644),
    ])
}

/// ((root certificate PEM, root key PEM), intermediate certificate PEM).
fn root_and_intermediate(
    name: &str,
    intermediate_key: &impl PublicKeyData,
    now: OffsetDateTime,
) -> Result<((String, String), String)> {
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).map_err(sign_err("root key"))?;
    let root = root_params(name, now)?;
    let root_cert_der = root.self_signed(&root_key).map_err(sign_err("root"))?;
    let root_issuer = Issuer::new(root, &root_key);
    let int_cert = intermediate_params(name, now)?
        .signed_by(intermediate_key, &root_issuer)
        .map_err(sign_err("intermediate"))?;
    Ok((
        (
            super::cert_pem(root_cert_der.der()),
            root_key.serialize_pem(),
        ),
        super::cert_pem(int_cert.der()),
    ))
}

/// None of the files exists yet, and no path is used twice. (Also for
/// the perspective PKI of `trustgate perspective init`.)
pub fn check_targets(targets: &[&Path]) -> Result<()> {
    for (i, p) in targets.iter().enumerate() {
        if p.exists() {
            return Err(Error::internal(format!(
                "refusing to generate a development CA: {} already exists",
                p.display()
            )));
        }
        if targets[..i].contains(p) {
            return Err(Error::internal(format!(
                "development CA paths collide: {} is used twice",
                p.display()
            )));
        }
    }
    Ok(())
}

fn sign_err(what: &str) -> impl Fn(rcgen::Error) -> Error {
    let what = what.to_owned();
    move |e| Error::internal(format!("generating the development {what}: {e}"))
}

/// BR §7.1.2.1 (root CA certificate profile).
fn root_params(name: &str, now: OffsetDateTime) -> Result<CertificateParams> {
    let mut root = CertificateParams::default();
    root.distinguished_name = ca_name(name, &format!("{name} Root"));
    root.not_before = now - BACKDATE;
    root.not_after = now + ROOT_VALIDITY;
    root.serial_number = Some(SerialNumber::from_slice(&Serial::random()?.0));
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    root.key_identifier_method = KeyIdMethod::Sha256;
    Ok(root)
}

/// BR §7.1.2.2 (subordinate CA certificate profile, TLS).
fn intermediate_params(name: &str, now: OffsetDateTime) -> Result<CertificateParams> {
    let mut int = CertificateParams::default();
    int.distinguished_name = ca_name(name, &format!("{name} Intermediate"));
    int.not_before = now - BACKDATE;
    int.not_after = now + INTERMEDIATE_VALIDITY;
    int.serial_number = Some(SerialNumber::from_slice(&Serial::random()?.0));
    int.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    int.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    int.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    int.use_authority_key_identifier_extension = true;
    int.key_identifier_method = KeyIdMethod::Sha256;
    Ok(int)
}

/// Writes each (path, contents, mode); if one fails, the files written
/// before it are removed again.
pub(crate) fn write_all(files: &[(&Path, String, u32)]) -> Result<()> {
    let mut written: Vec<PathBuf> = Vec::new();
    for (path, contents, mode) in files {
        if let Err(e) = write_new(path, contents.as_bytes(), *mode) {
            for p in &written {
                // Best effort: the error below is what the operator needs.
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        written.push(path.to_path_buf());
    }
    Ok(())
}

fn ca_name(org: &str, cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CommonName, cn);
    dn
}

/// Creates `path` (and its parents) exclusively: `create_new` fails if the
/// file appeared since we checked, so nothing is ever overwritten.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let io_err = |e: std::io::Error| Error::internal(format!("writing {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
    }
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(path).map_err(io_err)?;
    f.write_all(contents).map_err(io_err)?;
    f.sync_all().map_err(io_err)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ca::testutil::{have_openssl, settings, TestCa};
    use crate::ca::CertificateAuthority;
    use crate::error::ErrorKind;
    use x509_parser::prelude::*;

    #[test]
    fn generates_a_loadable_hierarchy() {
        let dir = tempfile::tempdir().unwrap();
        let (root, cert, key) = TestCa::paths(dir.path());
        generate_hierarchy(
            "Dev Org",
            &root,
            &cert,
            &key,
            crate::core::Clock::system().now(),
        )
        .unwrap();
        let root_key = root.with_file_name(ROOT_KEY_FILE);
        assert!(root_key.exists());
        CertificateAuthority::load(&root, &cert, &key, settings()).unwrap();

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for k in [&key, &root_key] {
                let mode = std::fs::metadata(k).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", k.display());
            }
        }

        let root_pem = std::fs::read_to_string(&root).unwrap();
        let root_der = ::pem::parse(&root_pem).unwrap().into_contents();
        let (_, r) = X509Certificate::from_der(&root_der).unwrap();
        assert!(r.is_ca());
        assert_eq!(r.subject(), r.issuer());
        let ku = r.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
        assert!(r.extended_key_usage().unwrap().is_none());
        assert_eq!(
            r.public_key()
                .algorithm
                .parameters
                .as_ref()
                .unwrap()
                .as_oid()
                .unwrap()
                .to_id_string(),
            "1.3.132.0.34"
        );
        let years = r.validity().not_after.to_datetime() - r.validity().not_before.to_datetime();
        assert!(years > Duration::days(3650));

        let int_der = ::pem::parse(std::fs::read_to_string(&cert).unwrap())
            .unwrap()
            .into_contents();
        let (_, i) = X509Certificate::from_der(&int_der).unwrap();
        i.verify_signature(Some(r.public_key())).unwrap();
        let bc = i.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && bc.value.ca);
        assert_eq!(bc.value.path_len_constraint, Some(0));
        let ku = i.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && ku.key_cert_sign() && ku.crl_sign());
        let eku = i.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth && !eku.any);
        let aki = i
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    a.key_identifier.as_ref().map(|k| k.0)
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(Some(aki), crate::ca::lint::subject_key_id(&r));
        assert!(i.subject().to_string().contains("Dev Org Intermediate"));

        if have_openssl() {
            let out = std::process::Command::new("openssl")
                .args(["verify", "-CAfile"])
                .arg(&root)
                .arg(&cert)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (root, cert, key) = TestCa::paths(dir.path());
        std::fs::create_dir_all(key.parent().unwrap()).unwrap();
        std::fs::write(&key, "precious").unwrap();
        let err = generate_hierarchy("x", &root, &cert, &key, crate::core::Clock::system().now())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::ServerInternal);
        assert!(err.detail.contains("already exists"), "{}", err.detail);
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "precious");
        assert!(!root.exists() && !cert.exists());

        // A second run over a complete hierarchy is refused as well.
        let dir = tempfile::tempdir().unwrap();
        let (root, cert, key) = TestCa::paths(dir.path());
        generate_hierarchy("x", &root, &cert, &key, crate::core::Clock::system().now()).unwrap();
        let before = std::fs::read(&key).unwrap();
        assert!(
            generate_hierarchy("x", &root, &cert, &key, crate::core::Clock::system().now())
                .is_err()
        );
        assert_eq!(std::fs::read(&key).unwrap(), before);
    }

    #[test]
    fn colliding_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root.pem");
        let same = dir.path().join("root.key");
        let err = generate_hierarchy(
            "x",
            &root,
            &dir.path().join("i.pem"),
            &same,
            crate::core::Clock::system().now(),
        )
        .unwrap_err();
        assert!(err.detail.contains("collide"), "{}", err.detail);
        assert!(!root.exists());
    }
}
