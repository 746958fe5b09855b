//! Loading the hierarchy at start: the root and intermediate certificates
//! and the intermediate's key (a file or a token), checked to belong
//! together.

use std::path::Path;

use rcgen::{Issuer, KeyPair, PublicKeyData};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::pkcs11::TokenKey;
use super::{cert_pem, lint, CaKey, CertificateAuthority, KeySource, LintCopyKey, Settings};
use crate::core::Clock;
use crate::error::{Error, Result};

impl CertificateAuthority {
    /// Loads root cert PEM, intermediate cert PEM and intermediate PKCS#8
    /// key PEM from files, and checks that they belong together: the
    /// intermediate is a CA signed by the root, and the key is its key.
    /// `settings` are the CA's rules for what it issues.
    pub fn load(
        root_cert: &Path,
        intermediate_cert: &Path,
        intermediate_key: &Path,
        settings: Settings,
    ) -> Result<Self> {
        let key = KeySource::File(intermediate_key.to_path_buf());
        Self::load_with_key(root_cert, intermediate_cert, &key, settings)
    }

    /// [`Self::load`] with the key wherever `key` says: a file, or a
    /// token, which is connected to and proven to hold the intermediate's
    /// key with one signature.
    pub fn load_with_key(
        root_cert: &Path,
        intermediate_cert: &Path,
        key: &KeySource,
        settings: Settings,
    ) -> Result<Self> {
        let root_der = single_cert_der(&read(root_cert)?, root_cert)?;
        let intermediate_der = single_cert_der(&read(intermediate_cert)?, intermediate_cert)?;
        let root = parse_cert(&root_der, root_cert)?;
        let inter = parse_cert(&intermediate_der, intermediate_cert)?;
        check_signed_by_root(&inter, &root, intermediate_cert, root_cert)?;
        let key = match key {
            KeySource::File(path) => CaKey::File(read_key(&inter, path, intermediate_cert)?),
            KeySource::Token(config) => {
                CaKey::Token(TokenKey::open(config.clone(), inter.public_key().raw)?)
            }
        };

        let intermediate_key_id = lint::subject_key_id(&inter).map(<[u8]>::to_vec);
        let intermediate_name_der = inter.subject().as_raw().to_vec();
        let intermediate_spki_der = inter.public_key().raw.to_vec();
        let intermediate_pem = cert_pem(&intermediate_der);
        let lint_key = LintCopyKey {
            public_key: key.der_bytes().to_vec(),
            algorithm: key.algorithm(),
        };
        let issuer = Issuer::from_ca_cert_pem(&intermediate_pem, key)
            .map_err(|e| Error::internal(format!("{}: {e}", intermediate_cert.display())))?;
        let lint_issuer = Issuer::from_ca_cert_pem(&intermediate_pem, lint_key)
            .map_err(|e| Error::internal(format!("lint issuer: {e}")))?;

        Ok(CertificateAuthority {
            issuer,
            lint_issuer,
            root_pem: cert_pem(&root_der),
            intermediate_pem,
            intermediate_der,
            intermediate_key_id,
            intermediate_name_der,
            intermediate_spki_der,
            settings,
            clock: Clock::system(),
            linter: None,
            ct_logs: None,
        })
    }
}

/// The intermediate is a CA certificate signed by the root.
fn check_signed_by_root(
    inter: &X509Certificate<'_>,
    root: &X509Certificate<'_>,
    intermediate_cert: &Path,
    root_cert: &Path,
) -> Result<()> {
    if !inter.is_ca() {
        return Err(Error::internal(format!(
            "{}: not a CA certificate (basicConstraints cA is not TRUE)",
            intermediate_cert.display()
        )));
    }
    if inter.issuer() != root.subject() || inter.verify_signature(Some(root.public_key())).is_err()
    {
        return Err(Error::internal(format!(
            "{} is not signed by the root {}",
            intermediate_cert.display(),
            root_cert.display()
        )));
    }
    Ok(())
}

/// The intermediate's private key, which must be the key of `inter`.
fn read_key(
    inter: &X509Certificate<'_>,
    intermediate_key: &Path,
    intermediate_cert: &Path,
) -> Result<KeyPair> {
    let key = KeyPair::from_pem(&read(intermediate_key)?).map_err(|e| {
        Error::internal(format!(
            "{}: not a PKCS#8 PEM private key ring can use: {e}",
            intermediate_key.display()
        ))
    })?;
    if key.subject_public_key_info() != inter.public_key().raw {
        return Err(Error::internal(format!(
            "{} is not the key of {}",
            intermediate_key.display(),
            intermediate_cert.display()
        )));
    }
    Ok(key)
}

/// The DER of the single CERTIFICATE block in `text`.
fn single_cert_der(text: &str, path: &Path) -> Result<Vec<u8>> {
    let blocks = pem::parse_many(text)
        .map_err(|e| Error::internal(format!("{}: not PEM: {e}", path.display())))?;
    let mut certs = blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE");
    match (certs.next(), certs.next()) {
        (Some(c), None) => Ok(c.into_contents()),
        (None, _) => Err(Error::internal(format!(
            "{}: no CERTIFICATE block",
            path.display()
        ))),
        (Some(_), Some(_)) => Err(Error::internal(format!(
            "{}: more than one certificate; expected exactly one",
            path.display()
        ))),
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))
}

fn parse_cert<'a>(der: &'a [u8], path: &Path) -> Result<X509Certificate<'a>> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| Error::internal(format!("{}: not an X.509 certificate: {e}", path.display())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ca::testutil::{settings, TestCa};
    use crate::error::ErrorKind;

    #[test]
    fn load_checks_that_the_files_belong_together() {
        let a = TestCa::new();
        let b = TestCa::new();
        let (ra, ia, ka) = TestCa::paths(a.dir.path());
        let (rb, ib, kb) = TestCa::paths(b.dir.path());

        let err = CertificateAuthority::load(&ra, &ia, &kb, settings()).unwrap_err();
        assert!(err.detail.contains("is not the key of"), "{}", err.detail);
        let err = CertificateAuthority::load(&rb, &ia, &ka, settings()).unwrap_err();
        assert!(
            err.detail.contains("not signed by the root"),
            "{}",
            err.detail
        );
        // The root is not an intermediate: its own key would not match, but
        // first it must verify under the root, which a self-signed root does.
        let err = CertificateAuthority::load(&ra, &ra, &ka, settings()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::ServerInternal);
        let err = CertificateAuthority::load(&ra, &ia, &a.dir.path().join("missing"), settings())
            .unwrap_err();
        assert!(err.detail.contains("missing"), "{}", err.detail);
        let two = a.write(
            "two.pem",
            &format!("{}{}", a.ca.intermediate_pem(), a.ca.root_pem()),
        );
        let err = CertificateAuthority::load(&ra, &two, &ka, settings()).unwrap_err();
        assert!(err.detail.contains("more than one"), "{}", err.detail);
        let _ = (ib, rb);
    }

    #[test]
    fn pem_outputs_chain_cleanly() {
        let t = TestCa::new();
        assert!(t.ca.root_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(t
            .ca
            .intermediate_pem()
            .ends_with("-----END CERTIFICATE-----\n"));
        assert!(!t.ca.intermediate_pem().contains('\r'));
        assert_eq!(
            pem::parse(t.ca.intermediate_pem()).unwrap().contents(),
            t.ca.intermediate_der()
        );
        assert!(format!("{:?}", t.ca).contains("CertificateAuthority"));
    }
}
