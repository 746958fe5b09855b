//! `/certificates`: the organization's certificates (its ACME clients'
//! and the portal's) with their status, one certificate's page, and its
//! downloads: the PEM chain, the DER leaf, the PKCS#7.

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_DISPOSITION};
use hyper::{Response, StatusCode};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::certs::{ok, Here};
use super::certs_text::{day, CertsText};
use super::pages::Chrome;
use crate::core::CertificateId;
use crate::error::{Error, Result};
use crate::http::page::{field, page};
use crate::ra::portal_orders::{CertificateStatus, Download};

/// Certificates a page lists.
const PAGE: i64 = 50;

/// One certificate as the list shows it.
pub struct Row {
    pub serial: String,
    pub names: String,
    pub status: &'static str,
    /// `valid`, `expired` or `revoked`: the status's class.
    pub class: &'static str,
    pub issued: String,
    pub not_after: String,
}

#[derive(Template)]
#[template(path = "portal/certificates.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<Row>,
    next: Option<i64>,
}

#[derive(Template)]
#[template(path = "portal/certificate.html")]
struct CertificatePage {
    c: Chrome,
    serial: String,
    names: Vec<String>,
    status: &'static str,
    class: &'static str,
    not_before: String,
    not_after: String,
    revoked_at: Option<String>,
}

fn status_text(t: &CertsText, s: CertificateStatus) -> &'static str {
    match s {
        CertificateStatus::Valid => t.status_valid,
        CertificateStatus::Expired => t.status_expired,
        CertificateStatus::Revoked => t.status_revoked,
    }
}

impl Here<'_> {
    /// GET `/certificates?after=ID`: a page, newest first.
    pub async fn certificates(&self) -> Result<Response<Full<Bytes>>> {
        let t = self.t();
        let after = field(&self.ctx.query, "after")
            .and_then(|a| a.parse::<i64>().ok())
            .map(CertificateId);
        let (found, next) = self
            .ra
            .organization_certificates(self.org.id, after, PAGE)
            .await?;
        let now = self.ra.clock().now();
        let rows = found
            .into_iter()
            .map(|f| {
                let st = CertificateStatus::of(f.revoked, f.not_after, now);
                Row {
                    serial: f.serial,
                    names: f.names.join(", "),
                    status: status_text(t, st),
                    class: st.as_str(),
                    issued: day(f.issued_at),
                    not_after: day(f.not_after),
                }
            })
            .collect();
        ok(&ListPage {
            c: self.chrome(t.certificates_title),
            rows,
            next: next.map(|n| n.0),
        })
    }

    /// GET `/certificates/{serial}`.
    pub async fn certificate(&self, serial: &str) -> Result<Response<Full<Bytes>>> {
        let t = self.t();
        let cert = self
            .ra
            .organization_certificate(self.org.id, serial)
            .await?;
        let st = CertificateStatus::of(
            cert.revoked_at.is_some(),
            cert.not_after,
            self.ra.clock().now(),
        );
        ok(&CertificatePage {
            c: self.chrome(&format!("{} {}", t.certificate_title, cert.serial)),
            names: dns_names(&cert.der)?,
            serial: cert.serial,
            status: status_text(t, st),
            class: st.as_str(),
            not_before: super::certs_text::when(cert.not_before),
            not_after: super::certs_text::when(cert.not_after),
            revoked_at: cert.revoked_at.map(super::certs_text::when),
        })
    }

    /// GET `/certificates/{serial}.pem|.der|.p7b`: a file to save.
    pub async fn download(&self, serial: &str, f: Download) -> Result<Response<Full<Bytes>>> {
        let cert = self
            .ra
            .organization_certificate(self.org.id, serial)
            .await?;
        let body = self.ra.certificate_file(&cert, f);
        let (content_type, ext) = match f {
            Download::PemChain => ("application/pem-certificate-chain", "pem"),
            Download::Der => ("application/pkix-cert", "der"),
            Download::Pkcs7 => ("application/pkcs7-mime", "p7b"),
        };
        let mut r = page(StatusCode::OK, content_type, Bytes::from(body));
        // The serial is lower-case hex: nothing to quote.
        let disposition = format!("attachment; filename=\"{}.{ext}\"", cert.serial);
        let value = HeaderValue::from_str(&disposition)
            .map_err(|_| Error::internal("content-disposition"))?;
        r.headers_mut().insert(CONTENT_DISPOSITION, value);
        Ok(r)
    }
}

/// The certificate's dNSNames, as issued.
fn dns_names(der: &[u8]) -> Result<Vec<String>> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| Error::internal(format!("stored certificate does not parse: {e}")))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| Error::internal(format!("stored certificate's SAN: {e}")))?;
    Ok(san
        .map(|s| {
            s.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}
