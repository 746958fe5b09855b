//! TLS client pieces shared by validators that speak TLS to the subscriber:
//! http-01 over an https redirect, and tls-alpn-01.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    verify_tls13_signature_with_raw_key, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, PeerMisbehaved, SignatureScheme};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::error::{Error, Result};

/// Accepts any certificate chain for any name, but still checks that the
/// server holds the key of the certificate it presented (the handshake
/// signature), so the connection is at least a well-formed TLS session.
///
/// http-01 proves control through the content served, not the certificate
/// (RFC 8555 §8.3; Let's Encrypt follows https redirects without checking
/// the certificate). tls-alpn-01 inspects the certificate itself
/// (RFC 8737 §3), so it needs no chain validation either.
#[derive(Debug)]
pub(crate) struct AcceptAnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_with_spki(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
            false,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_with_spki(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
            true,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Checks the handshake signature against the public key in the
/// certificate, without asking webpki to accept the certificate itself:
/// webpki refuses certificates with critical extensions it does not know,
/// and the tls-alpn-01 certificate must carry one (RFC 8737 §3).
fn verify_with_spki(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algs: &WebPkiSupportedAlgorithms,
    tls13: bool,
) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
    let bad_encoding = || rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
    let spki = match X509Certificate::from_der(cert.as_ref()) {
        Ok((_, c)) => c.tbs_certificate.subject_pki.raw.to_vec(),
        Err(_) => return Err(bad_encoding()),
    };
    if tls13 {
        return verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(spki.as_slice()),
            dss,
            algs,
        );
    }
    // TLS 1.2 (RFC 5246 §7.4.3): a scheme maps to several algorithms; use
    // those whose key algorithm is the certificate's, as webpki does.
    let (alg_id, key) = split_spki(&spki).ok_or_else(bad_encoding)?;
    let candidates = algs
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .map(|(_, a)| *a)
        .ok_or(rustls::Error::PeerMisbehaved(
            PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
        ))?;
    let verified = candidates
        .iter()
        .filter(|a| a.public_key_alg_id().as_ref() == alg_id)
        .any(|a| a.verify_signature(key, message, dss.signature()).is_ok());
    if verified {
        Ok(HandshakeSignatureValid::assertion())
    } else {
        Err(rustls::Error::InvalidCertificate(
            CertificateError::BadSignature,
        ))
    }
}

/// The contents of the AlgorithmIdentifier and the key bits of a DER
/// SubjectPublicKeyInfo (RFC 5280 §4.1), as webpki compares them.
fn split_spki(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, body, rest) = der_tlv(spki)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (alg_tag, alg, rest) = der_tlv(body)?;
    let (bits_tag, bits, rest) = der_tlv(rest)?;
    if alg_tag != 0x30 || bits_tag != 0x03 || !rest.is_empty() {
        return None;
    }
    // BIT STRING: the first octet counts unused bits, zero for a key.
    match bits.split_first() {
        Some((0, key)) => Some((alg, key)),
        _ => None,
    }
}

/// One DER TLV with a single-octet tag: (tag, contents, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// A rustls client configuration with the ring provider, TLS 1.2 and 1.3,
/// any server certificate accepted, and the given ALPN protocols.
pub(crate) fn client_config_accepting_any_cert(
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAnyServerCert {
        provider: provider.clone(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("va: TLS client configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
