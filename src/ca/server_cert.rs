//! The server's own TLS certificate (`server.tls = "self-issued"`).

use std::net::{IpAddr, Ipv4Addr};

use rcgen::{KeyPair, PublicKeyData, SanType};
use time::Duration;

use super::sign::CertificateSpec;
use super::{cert_pem, csr, profile, schedule, CertificateAuthority, Serial};
use crate::error::{Error, Result};

/// Lifetime of the server's own TLS certificate.
const SERVER_CERT_VALIDITY: Duration = Duration::days(90);
/// Backdating of the server's own certificate, for client clock skew.
const SERVER_CERT_BACKDATE: Duration = Duration::minutes(5);

impl CertificateAuthority {
    /// A TLS serving certificate and a fresh P-256 key for the server
    /// itself (`server.tls = "self-issued"`). `names` are DNS names; when
    /// "localhost" is among them the IP SAN 127.0.0.1 is added too. Returns
    /// (chain PEM: leaf + intermediate, PKCS#8 key PEM).
    ///
    /// This is the DV profile plus that IP address, which the subscriber
    /// lint would refuse (BR §7.1.2.7.12 forbids reserved IPs), so it is
    /// not linted. It suits a development CA; a production CA should serve
    /// with `tls = "files"`.
    pub fn issue_server_certificate(&self, names: &[String]) -> Result<(String, String)> {
        let key = KeyPair::generate()
            .map_err(|e| Error::internal(format!("generating the server key: {e}")))?;
        let now = self.clock.now();
        let not_before = now - SERVER_CERT_BACKDATE;
        let not_after = (not_before + SERVER_CERT_VALIDITY - Duration::SECOND)
            .min(schedule::latest_not_after(now, not_before));
        let names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        let spec = CertificateSpec {
            public_key_der: key.subject_public_key_info(),
            names,
            profile: profile::Profile::Dv,
            not_before,
            not_after,
            serial: Serial::random()?,
            crl_url: None,
            issuer_url: None,
            subject: None,
            ct: super::CtExtension::None,
        };
        let mut params = spec
            .profile
            .certificate_params(&spec, csr::KeyType::EcdsaP256)?;
        if spec.names.iter().any(|n| n == "localhost") {
            params
                .subject_alt_names
                .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        }
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(super::key::signing_error("signing the server certificate"))?;
        let chain = format!("{}{}", cert_pem(cert.der()), self.intermediate_pem);
        Ok((chain, key.serialize_pem()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use x509_parser::certificate::X509Certificate;
    use x509_parser::extensions::GeneralName;
    use x509_parser::prelude::FromDer;

    use super::super::dns_names;
    use super::super::testutil::{openssl_verify, TestCa};
    use super::*;

    #[test]
    fn server_certificate_for_localhost() {
        let t = TestCa::new();
        let (chain, key_pem) =
            t.ca.issue_server_certificate(&["localhost".to_string()])
                .unwrap();
        assert!(chain.ends_with(t.ca.intermediate_pem()));
        let blocks = pem::parse_many(&chain).unwrap();
        assert_eq!(blocks.len(), 2);
        let key = KeyPair::from_pem(&key_pem).unwrap();
        let (_, c) = X509Certificate::from_der(blocks[0].contents()).unwrap();
        assert_eq!(c.public_key().raw, key.subject_public_key_info().as_slice());
        let san = c.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(
            san.general_names,
            vec![
                GeneralName::DNSName("localhost"),
                GeneralName::IPAddress(&[127, 0, 0, 1])
            ]
        );
        // dns_names keeps the dNSNames only; a CA certificate has none.
        assert_eq!(dns_names(&c), ["localhost"]);
        let (_, issuer) = X509Certificate::from_der(blocks[1].contents()).unwrap();
        assert!(dns_names(&issuer).is_empty());
        let leaf = pem::encode(&blocks[0]);
        if let Some((ok, out)) = openssl_verify(&t, &leaf, &["-purpose", "sslserver"]) {
            assert!(ok, "{out}");
        }

        let (chain, _) =
            t.ca.issue_server_certificate(&["acme.example.net".to_string()])
                .unwrap();
        let blocks = pem::parse_many(&chain).unwrap();
        let (_, c) = X509Certificate::from_der(blocks[0].contents()).unwrap();
        let san = c.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(
            san.general_names,
            vec![GeneralName::DNSName("acme.example.net")]
        );
    }
}
