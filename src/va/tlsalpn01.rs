//! tls-alpn-01 (RFC 8737; CA/B Forum BR 3.2.2.4.20): a TLS handshake with
//! the name on port 443, offering only the ALPN protocol `acme-tls/1`, must
//! present a self-signed certificate for exactly that name that carries the
//! SHA-256 digest of the key authorization in a critical acmeIdentifier
//! extension.
//!
//! The certificate is never chain-validated (RFC 8737 §3: it is
//! self-signed); the accept-any verifier in `tls.rs` still checks that the
//! server holds its key. No application data is exchanged: the connection
//! is closed after the handshake (RFC 8737 §3).

use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::time::{timeout_at, Instant};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::dns::Resolver;
use super::net::{allowed_addresses, connect_first};
use super::{timeout_error, ValidationRecord, ValidationRequest};
use crate::config::VaConfig;
use crate::error::{Error, ErrorKind, Result};

/// The ALPN protocol ID of RFC 8737 §6.2.
pub const ACME_TLS_1: &[u8] = b"acme-tls/1";
/// id-pe-acmeIdentifier (RFC 8737 §6.1).
pub const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

const INCORRECT: &str = "Incorrect validation certificate for tls-alpn-01 challenge.";

/// The tls-alpn-01 validator: settings from `VaConfig` and a TLS client
/// that offers only `acme-tls/1`.
pub(crate) struct TlsAlpn01 {
    port: u16,
    allow_loopback: bool,
    timeout_secs: u64,
    tls: tokio_rustls::TlsConnector,
}

impl TlsAlpn01 {
    pub(crate) fn new(cfg: &VaConfig) -> Result<Self> {
        // RFC 8737 §3: the client offers `acme-tls/1` and nothing else, so a
        // server that does not know the challenge cannot answer with its
        // normal certificate by accident. TLS 1.2 and 1.3 only (§4).
        let tls = super::tls::client_config_accepting_any_cert(&[ACME_TLS_1])?;
        Ok(TlsAlpn01 {
            port: cfg.tlsalpn01_port,
            allow_loopback: cfg.allow_loopback,
            timeout_secs: cfg.timeout_secs.max(1),
            tls: tokio_rustls::TlsConnector::from(tls),
        })
    }

    /// One attempt. Pushes its record first so a failure still leaves the
    /// evidence of where it was going.
    pub(crate) async fn validate(
        &self,
        resolver: &Resolver,
        req: &ValidationRequest,
        deadline: Instant,
        records: &mut Vec<ValidationRecord>,
    ) -> Result<()> {
        let host = req.identifier.to_ascii_lowercase();
        let port = self.port;
        // `records[idx]` below is the record pushed here.
        let idx = records.len();
        records.push(ValidationRecord {
            hostname: host.clone(),
            port: Some(port),
            ..ValidationRecord::default()
        });

        let answer = resolver.lookup_addresses(&host).await?;
        let resolved = answer.values;
        records[idx].addresses_resolved = resolved.clone();
        records[idx].cnames = answer.cnames;
        records[idx].dnssec = answer.dnssec;
        let allowed = allowed_addresses(&host, &resolved, self.allow_loopback)?;
        let what = format!("{host}:{port}");
        let (tcp, ip) = connect_first(&allowed, port, &what, deadline, self.timeout_secs).await?;
        records[idx].address_used = Some(ip);
        tracing::debug!(target_name = %what, address = %ip, "tls-alpn-01 connected");

        // RFC 8737 §3: SNI carries the name being validated.
        let name = ServerName::try_from(host.clone())
            .map_err(|e| Error::new(ErrorKind::Tls, format!("invalid TLS name {host}: {e}")))?;
        let mut tls = timeout_at(deadline, self.tls.connect(name, tcp))
            .await
            .map_err(|_| timeout_error(self.timeout_secs))?
            .map_err(|e| {
                Error::new(
                    ErrorKind::Tls,
                    format!(
                        "TLS handshake with {ip} for tls-alpn-01 challenge at {what} failed: {e}"
                    ),
                )
            })?;
        let (_, conn) = tls.get_ref();
        // RFC 8737 §3: the server must negotiate acme-tls/1; rustls refuses
        // a protocol we did not offer, so anything else here is "none".
        if conn.alpn_protocol() != Some(ACME_TLS_1) {
            return Err(Error::new(
                ErrorKind::Tls,
                format!(
                    "Cannot negotiate ALPN protocol \"acme-tls/1\" for tls-alpn-01 challenge \
                     with {ip} at {what}"
                ),
            ));
        }
        let leaf = conn
            .peer_certificates()
            .and_then(|certs| certs.first())
            .map(|c| c.as_ref().to_vec())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Tls,
                    format!("no certificate presented by {ip} for tls-alpn-01 challenge"),
                )
            })?;
        // Best effort: the verdict does not depend on a clean close.
        let _ = timeout_at(deadline, tls.shutdown()).await;

        check_certificate(&leaf, &host, &req.key_authorization, &format!("{ip}"), port)
    }
}

/// RFC 8737 §3: the leaf must name exactly the identifier in its
/// subjectAltName and carry a critical acmeIdentifier extension whose
/// value is the DER OCTET STRING of SHA-256(key authorization).
pub fn check_certificate(
    der: &[u8],
    host: &str,
    key_authorization: &str,
    ip: &str,
    port: u16,
) -> Result<()> {
    let from = format!("{ip}:{port}");
    let cert = match X509Certificate::from_der(der) {
        Ok((&[], cert)) => cert,
        Ok(_) | Err(_) => {
            return Err(Error::unauthorized(format!(
                "{INCORRECT} The certificate from {from} cannot be parsed"
            )))
        }
    };
    check_names(&cert, host, &from)?;
    check_acme_identifier(&cert, key_authorization, &from)
}

/// RFC 8737 §3: "contains a subjectAltName extension containing the
/// dNSName being validated and no other entries".
fn check_names(cert: &X509Certificate<'_>, host: &str, from: &str) -> Result<()> {
    let general_names = match cert.subject_alternative_name() {
        Ok(Some(san)) => &san.value.general_names[..],
        Ok(None) => &[],
        Err(_) => {
            return Err(Error::unauthorized(format!(
                "{INCORRECT} The certificate from {from} has an invalid subjectAltName"
            )))
        }
    };
    if let [GeneralName::DNSName(one)] = general_names {
        if one.eq_ignore_ascii_case(host) {
            return Ok(());
        }
    }
    let shown: Vec<String> = general_names
        .iter()
        .map(|g| match g {
            GeneralName::DNSName(n) => format!("{n:?}"),
            other => format!("{:?}", format!("{other}")),
        })
        .collect();
    Err(Error::unauthorized(format!(
        "{INCORRECT} Requested {host} from {from}. Received certificate containing \
         {} (exactly one dNSName {host} is required)",
        if shown.is_empty() {
            "no subjectAltName".to_owned()
        } else {
            shown.join(", ")
        }
    )))
}

/// RFC 8737 §3: exactly one acmeIdentifier extension, critical, holding
/// the digest of this challenge's key authorization.
fn check_acme_identifier(
    cert: &X509Certificate<'_>,
    key_authorization: &str,
    from: &str,
) -> Result<()> {
    let ids: Vec<_> = cert
        .extensions()
        .iter()
        .filter(|e| e.oid.to_id_string() == ACME_IDENTIFIER_OID)
        .collect();
    let ext = match ids.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::unauthorized(format!(
                "{INCORRECT} The certificate from {from} has no acmeIdentifier extension \
                 ({ACME_IDENTIFIER_OID})"
            )))
        }
        _ => {
            return Err(Error::unauthorized(format!(
                "{INCORRECT} The certificate from {from} has more than one acmeIdentifier \
                 extension"
            )))
        }
    };
    // RFC 8737 §3: "The acmeIdentifier extension MUST be critical".
    if !ext.critical {
        return Err(Error::unauthorized(format!(
            "{INCORRECT} The acmeIdentifier extension in the certificate from {from} is \
             not critical"
        )));
    }
    if ext.value != expected_extension_value(key_authorization) {
        return Err(Error::unauthorized(format!(
            "{INCORRECT} Invalid acmeIdentifier extension value in the certificate from \
             {from}: it does not hold the SHA-256 digest of this challenge's key \
             authorization"
        )));
    }
    Ok(())
}

/// DER of `Authorization ::= OCTET STRING (SIZE (32))` holding
/// SHA-256(key authorization) (RFC 8737 §3, §6.1).
pub fn expected_extension_value(key_authorization: &str) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
    let mut v = vec![0x04, 0x20];
    v.extend_from_slice(digest.as_ref());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::ChallengeType;
    use crate::va::testutil::DnsServer;
    use crate::va::{ValidationOutcome, Validator};
    use rcgen::{CertificateParams, CustomExtension, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::net::IpAddr;
    use std::sync::{Arc, Mutex};
    use tokio::task::JoinHandle;

    const KEY_AUTH: &str =
        "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

    fn digest(key_auth: &str) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA256, key_auth.as_bytes())
            .as_ref()
            .to_vec()
    }

    /// A self-signed challenge certificate for `sans` with the given
    /// acmeIdentifier extension (or none).
    fn challenge_cert(
        sans: &[&str],
        ext: Option<CustomExtension>,
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .expect("params");
        params.custom_extensions = ext.into_iter().collect();
        let cert = params.self_signed(&key).expect("self-signed");
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }

    fn good_ext() -> CustomExtension {
        CustomExtension::new_acme_identifier(&digest(KEY_AUTH))
    }

    /// What the responder saw in the ClientHello.
    #[derive(Debug, Default, Clone)]
    struct Hello {
        sni: Option<String>,
        alpn: Vec<Vec<u8>>,
    }

    /// A TLS responder on 127.0.0.1 presenting `cert`, selecting from
    /// `alpn` (empty: never negotiates ALPN).
    struct AlpnServer {
        port: u16,
        hellos: Arc<Mutex<Vec<Hello>>>,
        task: JoinHandle<()>,
    }

    impl Drop for AlpnServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    #[derive(Debug)]
    struct OneCert(Arc<rustls::sign::CertifiedKey>);

    impl rustls::server::ResolvesServerCert for OneCert {
        fn resolve(
            &self,
            _hello: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    async fn serve(
        cert_key: (CertificateDer<'static>, PrivateKeyDer<'static>),
        alpn: &[&[u8]],
    ) -> AlpnServer {
        serve_with(cert_key, alpn, rustls::DEFAULT_VERSIONS).await
    }

    async fn serve_with(
        (cert, key): (CertificateDer<'static>, PrivateKeyDer<'static>),
        alpn: &[&[u8]],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> AlpnServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Not `with_single_cert`: webpki refuses to load a certificate with
        // an unknown critical extension, which acmeIdentifier is to it.
        let signing_key = provider
            .key_provider
            .load_private_key(key)
            .expect("signing key");
        let certified = Arc::new(rustls::sign::CertifiedKey::new(vec![cert], signing_key));
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(OneCert(certified)));
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let cfg = Arc::new(cfg);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hellos = Arc::new(Mutex::new(Vec::new()));
        let seen = hellos.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let cfg = cfg.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let acceptor = tokio_rustls::LazyConfigAcceptor::new(
                        rustls::server::Acceptor::default(),
                        tcp,
                    );
                    let Ok(start) = acceptor.await else { return };
                    let hello = start.client_hello();
                    seen.lock().expect("lock").push(Hello {
                        sni: hello.server_name().map(str::to_owned),
                        alpn: hello
                            .alpn()
                            .map(|ps| ps.map(<[u8]>::to_vec).collect())
                            .unwrap_or_default(),
                    });
                    if let Ok(mut tls) = start.into_stream(cfg).await {
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        AlpnServer { port, hellos, task }
    }

    async fn run(dns: &DnsServer, port: u16, identifier: &str) -> ValidationOutcome {
        let cfg = VaConfig {
            tlsalpn01_port: port,
            ..dns.config()
        };
        let v = Validator::new(&cfg).expect("validator builds");
        v.validate(&ValidationRequest {
            method: ChallengeType::TlsAlpn01,
            identifier: identifier.into(),
            token: "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0".into(),
            key_authorization: KEY_AUTH.into(),
        })
        .await
    }

    #[tokio::test]
    async fn success_and_client_hello_shape() {
        let dns = DnsServer::start().await;
        let srv = serve(
            challenge_cert(&["example.jp"], Some(good_ext())),
            &[ACME_TLS_1],
        )
        .await;
        let out = run(&dns, srv.port, "Example.Jp").await;
        out.result.expect("valid");
        let localhost: IpAddr = "127.0.0.1".parse().expect("ip");
        assert_eq!(
            out.records,
            vec![ValidationRecord {
                hostname: "example.jp".into(),
                port: Some(srv.port),
                addresses_resolved: vec![localhost],
                address_used: Some(localhost),
                ..ValidationRecord::default()
            }]
        );
        let hellos = srv.hellos.lock().expect("lock").clone();
        assert_eq!(hellos.len(), 1);
        assert_eq!(hellos[0].sni.as_deref(), Some("example.jp"));
        assert_eq!(hellos[0].alpn, vec![ACME_TLS_1.to_vec()]);
    }

    #[tokio::test]
    async fn tls12_only_server_succeeds() {
        let dns = DnsServer::start().await;
        let srv = serve_with(
            challenge_cert(&["example.jp"], Some(good_ext())),
            &[ACME_TLS_1],
            &[&rustls::version::TLS12],
        )
        .await;
        run(&dns, srv.port, "example.jp")
            .await
            .result
            .expect("valid over TLS 1.2");
    }

    #[tokio::test]
    async fn wrong_digest_is_unauthorized() {
        let dns = DnsServer::start().await;
        let ext = CustomExtension::new_acme_identifier(&digest("other.key-authorization"));
        let srv = serve(challenge_cert(&["example.jp"], Some(ext)), &[ACME_TLS_1]).await;
        let err = run(&dns, srv.port, "example.jp")
            .await
            .result
            .expect_err("wrong digest");
        assert_eq!(err.kind, ErrorKind::Unauthorized);
        assert!(err.detail.starts_with(INCORRECT), "{}", err.detail);
        assert!(
            err.detail.contains("Invalid acmeIdentifier"),
            "{}",
            err.detail
        );
    }

    #[tokio::test]
    async fn non_critical_extension_is_unauthorized() {
        let dns = DnsServer::start().await;
        let mut ext = good_ext();
        ext.set_criticality(false);
        let srv = serve(challenge_cert(&["example.jp"], Some(ext)), &[ACME_TLS_1]).await;
        let err = run(&dns, srv.port, "example.jp")
            .await
            .result
            .expect_err("non-critical");
        assert_eq!(err.kind, ErrorKind::Unauthorized);
        assert!(err.detail.contains("is not critical"), "{}", err.detail);
    }

    #[tokio::test]
    async fn missing_extension_is_unauthorized() {
        let dns = DnsServer::start().await;
        let srv = serve(challenge_cert(&["example.jp"], None), &[ACME_TLS_1]).await;
        let err = run(&dns, srv.port, "example.jp")
            .await
            .result
            .expect_err("missing");
        assert_eq!(err.kind, ErrorKind::Unauthorized);
        assert!(err.detail.contains("no acmeIdentifier"), "{}", err.detail);
    }

    #[tokio::test]
    async fn wrong_or_extra_san_is_unauthorized() {
        let dns = DnsServer::start().await;
        for sans in [&["other.jp"][..], &["example.jp", "other.jp"][..], &[][..]] {
            let srv = serve(challenge_cert(sans, Some(good_ext())), &[ACME_TLS_1]).await;
            let err = run(&dns, srv.port, "example.jp")
                .await
                .result
                .expect_err("wrong SAN");
            assert_eq!(err.kind, ErrorKind::Unauthorized, "{sans:?}");
            assert!(
                err.detail.contains("Requested example.jp from 127.0.0.1"),
                "{}",
                err.detail
            );
        }
    }

    #[tokio::test]
    async fn alpn_not_negotiated_is_tls_error() {
        let dns = DnsServer::start().await;
        // A server that ignores ALPN completes the handshake without it.
        let srv = serve(challenge_cert(&["example.jp"], Some(good_ext())), &[]).await;
        let err = run(&dns, srv.port, "example.jp")
            .await
            .result
            .expect_err("no ALPN");
        assert_eq!(err.kind, ErrorKind::Tls);
        assert!(
            err.detail.contains("Cannot negotiate ALPN"),
            "{}",
            err.detail
        );

        // A server that speaks only http/1.1 refuses the handshake.
        let srv = serve(
            challenge_cert(&["example.jp"], Some(good_ext())),
            &[b"http/1.1"],
        )
        .await;
        let err = run(&dns, srv.port, "example.jp")
            .await
            .result
            .expect_err("ALPN mismatch");
        assert_eq!(err.kind, ErrorKind::Tls, "{}", err.detail);
    }

    #[tokio::test]
    async fn connection_refused_is_connection_error() {
        let dns = DnsServer::start().await;
        let port = crate::va::testutil::closed_port().await;
        let out = run(&dns, port, "example.jp").await;
        let err = out.result.expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Connection);
        assert_eq!(out.records[0].address_used, None);
    }

    #[tokio::test]
    async fn private_address_refused_unless_allowed() {
        let dns = DnsServer::start().await;
        let cfg = VaConfig {
            allow_loopback: false,
            tlsalpn01_port: 1,
            ..dns.config()
        };
        let v = Validator::new(&cfg).expect("validator");
        let out = v
            .validate(&ValidationRequest {
                method: ChallengeType::TlsAlpn01,
                identifier: "example.jp".into(),
                token: "t".into(),
                key_authorization: KEY_AUTH.into(),
            })
            .await;
        let err = out.result.expect_err("private");
        assert_eq!(err.kind, ErrorKind::Connection);
        assert!(err.detail.contains("non-public"), "{}", err.detail);
    }

    #[test]
    fn extension_value_is_der_octet_string() {
        let v = expected_extension_value(KEY_AUTH);
        assert_eq!(v.len(), 34);
        assert_eq!(&v[..2], &[0x04, 0x20]);
        // rcgen encodes the same DER for the same digest.
        assert_eq!(good_ext().content(), &v[..]);
    }
}
