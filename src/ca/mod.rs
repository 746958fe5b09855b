//! The certificate authority: holds the intermediate's key and decides
//! what it signs.
//!
//! The registration authority decides *whether* to issue and asks for a
//! certificate for a key, names and a profile ([`IssuanceRequest`]). This
//! module decides everything else, as Boulder's CA does: the serial, the
//! validity (backdated, capped by the BR rule in force on the issuance
//! date), the CRL shard and the URLs; then builds the certificate from the
//! profile, lints it and signs it, or refuses.
//!
//! Files: `load` reads the hierarchy and its key at start; `key` is that
//! key (a file or, in `pkcs11`, a key in a token); `issue` makes
//! the decisions (an [`IssuanceRequest`] becomes a `CertificateSpec`);
//! `sign` lints and signs a decided certificate; `server_cert` issues the
//! server's own TLS certificate; `serial` is the serial number;
//! `precert` issues in steps (plan, precertificate, final certificate
//! with SCTs) and `ct` submits precertificates to the CT logs.

pub mod crl;
pub mod csr;
pub mod ct;
pub mod dev;
mod issue;
pub mod key;
pub mod lint;
pub mod linter;
mod load;
pub mod pkcs11;
pub mod pkcs7;
mod precert;
pub mod profile;
pub mod schedule;
mod serial;
mod server_cert;
mod sign;
pub mod subject;
#[cfg(test)]
mod testutil;

use std::fmt;
use std::sync::Arc;

use rcgen::{Issuer, PublicKeyData};
use x509_parser::certificate::X509Certificate;

use crate::core::Clock;

pub use issue::{IssuanceRequest, IssueFailure, Issued, IssuerUrls, Settings};
pub use key::{CaKey, KeySource};
pub use precert::Planned;
pub use serial::Serial;
pub use sign::{CertificateSpec, CtExtension, IssuedCertificate, Prepared};
pub use subject::{EvSubject, SubjectInfo};

pub struct CertificateAuthority {
    /// Signs with the intermediate's key: everything the intermediate
    /// signs goes through it.
    issuer: Issuer<'static, CaKey>,
    /// Makes the copy of each certificate that the pre-issuance lint reads,
    /// so a certificate that fails it never carries the real signature.
    /// Same name and key identifier as the intermediate; see `LintCopyKey`.
    lint_issuer: Issuer<'static, LintCopyKey>,
    root_pem: String,
    intermediate_pem: String,
    intermediate_der: Vec<u8>,
    /// The intermediate's subject key identifier: every certificate's AKI,
    /// and the first half of an ARI certificate identifier (RFC 9773).
    intermediate_key_id: Option<Vec<u8>>,
    /// DER of the intermediate's subject Name (every certificate's issuer)
    /// and of its subjectPublicKeyInfo (what every signature must verify
    /// with), taken once at load rather than parsed from the certificate
    /// at every issuance.
    intermediate_name_der: Vec<u8>,
    intermediate_spki_der: Vec<u8>,
    /// The CA's own rules for every subscriber certificate.
    settings: Settings,
    /// The issuance date every BR-dated rule is read at.
    clock: Clock,
    /// pkilint's REST service, asked between the in-process lint and the
    /// signature (`issue_linted`), and about every CRL (`crl`).
    linter: Option<linter::Linter>,
    /// The CT logs every certificate is first logged to as a
    /// precertificate; `None` issues without SCTs.
    ct_logs: Option<Arc<ct::Logs>>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("CertificateAuthority")
            .field("intermediate_der_len", &self.intermediate_der.len())
            .finish_non_exhaustive()
    }
}

/// "Signs" the lint copy with zeros. The lint reads everything but the
/// copy's signature, which would prove nothing (`lint::check_lint_copy`),
/// and the real certificate must repeat the copy's tbsCertificate byte
/// for byte, so an ECDSA signature by a throwaway key (as before) only
/// cost a signing operation an order. It also lets the lint run before
/// signing for every key type, where a throwaway RSA key could not be
/// generated with ring.
struct LintCopyKey {
    /// The intermediate's public key and algorithm: what the copy's
    /// signature fields name, as the real certificate's do.
    public_key: Vec<u8>,
    algorithm: &'static rcgen::SignatureAlgorithm,
}

impl PublicKeyData for LintCopyKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.algorithm
    }
}

impl rcgen::SigningKey for LintCopyKey {
    fn sign(&self, _tbs: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        // Not the real signature's length (up to 104 octets for ECDSA
        // P-384, 512 for RSA-4096): it changes nothing the lint reads.
        Ok(vec![0; 64])
    }
}

impl CertificateAuthority {
    /// This CA on `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// This CA with `linter` checking what it signs.
    pub fn with_linter(mut self, linter: Option<linter::Linter>) -> Self {
        self.linter = linter;
        self
    }

    pub fn linter(&self) -> Option<&linter::Linter> {
        self.linter.as_ref()
    }

    /// This CA logging every certificate to `logs` first (RFC 6962).
    pub fn with_ct_logs(mut self, logs: Option<Arc<ct::Logs>>) -> Self {
        self.ct_logs = logs;
        self
    }

    /// The CT logs, when certificates must carry SCTs.
    pub fn ct_logs(&self) -> Option<&Arc<ct::Logs>> {
        self.ct_logs.as_ref()
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// PEM of the intermediate: appended after the leaf in the chain served
    /// to clients.
    pub fn intermediate_pem(&self) -> &str {
        &self.intermediate_pem
    }

    /// The intermediate's subject key identifier, if it has one.
    pub fn intermediate_key_id(&self) -> Option<&[u8]> {
        self.intermediate_key_id.as_deref()
    }

    /// DER of the intermediate (what an AIA caIssuers URL serves, RFC 5280
    /// §4.2.2.1).
    pub fn intermediate_der(&self) -> &[u8] {
        &self.intermediate_der
    }

    #[cfg(test)]
    pub(crate) fn issuer(&self) -> &Issuer<'static, CaKey> {
        &self.issuer
    }
}

/// PEM of one certificate, LF line endings, ending in a newline, so PEMs
/// concatenate into a chain.
pub(crate) fn cert_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The dNSNames of a certificate's subjectAltName, as written (none when
/// it has no SAN or the extension does not parse).
pub fn dns_names<'a>(cert: &'a X509Certificate<'_>) -> Vec<&'a str> {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|g| match g {
            GeneralName::DNSName(d) => Some(*d),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn authority_is_send_and_sync() {
        assert_send_sync::<CertificateAuthority>();
    }
}
