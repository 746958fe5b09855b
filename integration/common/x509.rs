//! Looking at what the CA issued: openssl for chain building (an
//! independent implementation), x509-parser for the fields.

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};

/// What the tests assert about an end-entity certificate.
#[derive(Debug)]
pub struct Leaf {
    /// Hex of the DER INTEGER contents.
    pub serial: String,
    pub dns_names: Vec<String>,
    /// Any other kind of SAN entry (IP, email, URI …), rendered.
    pub other_names: Vec<String>,
    pub is_ca: bool,
    pub server_auth: bool,
    pub spki_der: Vec<u8>,
    /// Subject organizationName and countryName values.
    pub organization: Vec<String>,
    pub country: Vec<String>,
    /// Every subject attribute in order: (dotted OID, value).
    pub subject: Vec<(String, String)>,
    /// certificatePolicies OIDs, dotted.
    pub policies: Vec<String>,
    /// The URIs of the CRL distribution points.
    pub crl_urls: Vec<String>,
    /// RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial),
    /// the certificate's name under `renewalInfo`.
    pub ari_id: String,
}

impl Leaf {
    /// The first certificate of a PEM file.
    pub fn read(path: &Path) -> Leaf {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let block = pem::parse_many(&text)
            .unwrap_or_else(|e| panic!("{} is not PEM: {e}", path.display()))
            .into_iter()
            .find(|p| p.tag() == "CERTIFICATE")
            .unwrap_or_else(|| panic!("no certificate in {}", path.display()));
        let (_, cert) = x509_parser::parse_x509_certificate(block.contents())
            .unwrap_or_else(|e| panic!("parsing the certificate in {}: {e}", path.display()));
        let mut dns_names = Vec::new();
        let mut other_names = Vec::new();
        if let Some(san) = cert.subject_alternative_name().expect("a well-formed SAN") {
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(d) => dns_names.push((*d).to_owned()),
                    other => other_names.push(other.to_string()),
                }
            }
        }
        let is_ca = cert
            .basic_constraints()
            .expect("a well-formed basicConstraints")
            .is_some_and(|bc| bc.value.ca);
        let server_auth = cert
            .extended_key_usage()
            .expect("a well-formed extendedKeyUsage")
            .is_some_and(|eku| eku.value.server_auth);
        let text_of = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| {
            a.as_str().expect("a string attribute").to_owned()
        };
        let policies = cert
            .extensions()
            .iter()
            .filter_map(|e| match e.parsed_extension() {
                ParsedExtension::CertificatePolicies(p) => Some(p),
                _ => None,
            })
            .flatten()
            .map(|p| p.policy_id.to_id_string())
            .collect();
        let mut crl_urls = Vec::new();
        let mut aki = None;
        for e in cert.extensions() {
            match e.parsed_extension() {
                ParsedExtension::CRLDistributionPoints(points) => {
                    for p in points.iter() {
                        if let Some(DistributionPointName::FullName(names)) = &p.distribution_point
                        {
                            for n in names {
                                if let GeneralName::URI(u) = n {
                                    crl_urls.push((*u).to_owned());
                                }
                            }
                        }
                    }
                }
                ParsedExtension::AuthorityKeyIdentifier(k) => {
                    aki = k.key_identifier.as_ref().map(|id| id.0.to_vec());
                }
                _ => {}
            }
        }
        let aki = aki.unwrap_or_else(|| panic!("no AKI keyIdentifier in {}", path.display()));
        let ari_id = format!("{}.{}", B64.encode(aki), B64.encode(cert.raw_serial()));
        Leaf {
            organization: cert.subject().iter_organization().map(text_of).collect(),
            country: cert.subject().iter_country().map(text_of).collect(),
            subject: cert
                .subject()
                .iter_attributes()
                .map(|a| (a.attr_type().to_id_string(), text_of(a)))
                .collect(),
            policies,
            crl_urls,
            ari_id,
            serial: cert.raw_serial_as_string(),
            dns_names,
            other_names,
            is_ca,
            server_auth,
            spki_der: cert.public_key().raw.to_vec(),
        }
    }

    /// The values of subject attribute `oid` (dotted).
    pub fn subject_values(&self, oid: &str) -> Vec<&str> {
        self.subject
            .iter()
            .filter(|(o, _)| o == oid)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The SAN's DNS names, sorted, asserting there is nothing else in it.
    pub fn sorted_dns_names(&self) -> Vec<String> {
        assert!(
            self.other_names.is_empty(),
            "unexpected SAN entries {:?}",
            self.other_names
        );
        let mut names = self.dns_names.clone();
        names.sort();
        names
    }
}

/// `openssl verify -CAfile root -untrusted chain cert`: the certificate
/// chains to the root through what the server sent as the chain, and is
/// fit for TLS servers.
pub fn openssl_verify(root: &Path, chain: &Path, cert: &Path) -> Result<(), String> {
    let out = Command::new("openssl")
        .arg("verify")
        .arg("-purpose")
        .arg("sslserver")
        .arg("-CAfile")
        .arg(root)
        .arg("-untrusted")
        .arg(chain)
        .arg(cert)
        .output()
        .map_err(|e| format!("running openssl: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && text.contains(": OK") {
        Ok(())
    } else {
        Err(format!("openssl verify failed ({}):\n{text}", out.status))
    }
}

/// The DER SubjectPublicKeyInfo of a PEM private key, per openssl.
pub fn public_key_of(private_key: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .arg("pkey")
        .arg("-in")
        .arg(private_key)
        .args(["-pubout", "-outform", "DER"])
        .output()
        .expect("running openssl pkey");
    assert!(
        out.status.success(),
        "openssl pkey failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `openssl verify -crl_check` of `cert` against the CRL `crl_der`
/// (written next to `cert` as PEM): whether it passed, and what openssl
/// said (a revoked certificate is "certificate revoked", on stderr).
pub fn openssl_verify_with_crl(
    root: &Path,
    chain: &Path,
    cert: &Path,
    crl_der: &[u8],
) -> (bool, String) {
    let crl_pem = cert.with_extension("crl.pem");
    std::fs::write(&crl_pem, pem::encode(&pem::Pem::new("X509 CRL", crl_der)))
        .unwrap_or_else(|e| panic!("writing {}: {e}", crl_pem.display()));
    let out = Command::new("openssl")
        .args(["verify", "-crl_check", "-CAfile"])
        .arg(root)
        .arg("-untrusted")
        .arg(chain)
        .arg("-CRLfile")
        .arg(&crl_pem)
        .arg(cert)
        .output()
        .expect("running openssl verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `openssl crl -text` of a DER CRL.
pub fn openssl_crl_text(crl_der: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running openssl crl");
    child
        .stdin
        .take()
        .expect("openssl's stdin")
        .write_all(crl_der)
        .expect("writing the CRL to openssl");
    let out = child.wait_with_output().expect("waiting for openssl crl");
    assert!(
        out.status.success(),
        "openssl crl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
