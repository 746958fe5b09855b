//! Issuance in steps, for Certificate Transparency (RFC 6962) and for a
//! serial the RA records before anything is signed: `plan` decides the
//! certificate (serial included), then either `sign_planned` signs it
//! as it is, or `sign_precertificate` signs it with the poison and
//! `sign_with_scts` signs the final certificate with the SCTs in its
//! place. Each goes through the in-process lint and, when configured,
//! the external linter (the precertificate as a precertificate), and is
//! signed by the intermediate's one signer (no precertificate signing
//! CA: BR 7.1.2.9 as amended by SC-092).

use std::sync::Arc;

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::ct::{self, tbs, Precertificate, Sct};
use super::issue::IssueFailure;
use super::sign::{CertificateSpec, CtExtension};
use super::{CertificateAuthority, IssuanceRequest, Issued, Serial};
use crate::error::{Error, Result};

/// A decided certificate, not yet signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    spec: CertificateSpec,
    crl_shard: u32,
    /// The issuance date every BR-dated rule of this certificate is read at.
    at: OffsetDateTime,
}

impl Planned {
    pub fn serial(&self) -> Serial {
        self.spec.serial
    }

    pub fn crl_shard(&self) -> u32 {
        self.crl_shard
    }

    /// The planned certificate with `ct` as its CT extension.
    fn with(&self, ct: CtExtension) -> CertificateSpec {
        CertificateSpec {
            ct,
            ..self.spec.clone()
        }
    }
}

impl CertificateAuthority {
    /// Decides serial, validity and URLs for `req`, now by the CA's clock.
    pub fn plan(&self, req: IssuanceRequest) -> Result<Planned> {
        let at = self.clock.now();
        let (spec, crl_shard) = self.decide(req, at)?;
        Ok(Planned {
            spec,
            crl_shard,
            at,
        })
    }

    /// The certificate as planned, without CT (no logs configured).
    pub async fn sign_planned(self: &Arc<Self>, plan: &Planned) -> Result<Issued, IssueFailure> {
        let (certificate, lint) = self
            .sign_linted(plan.with(CtExtension::None), plan.at)
            .await?;
        Ok(Issued {
            certificate,
            crl_shard: plan.crl_shard,
            lint,
        })
    }

    /// The precertificate: the planned certificate with the poison.
    pub async fn sign_precertificate(
        self: &Arc<Self>,
        plan: &Planned,
    ) -> Result<Precertificate, IssueFailure> {
        let (signed, _) = self
            .sign_linted(plan.with(CtExtension::Poison), plan.at)
            .await?;
        let tbs = tbs::without_extension(&tbs_of(&signed.der)?, tbs::POISON_OID)
            .map_err(|e| Error::internal(format!("precertificate: {e}")))?;
        Ok(Precertificate {
            der: signed.der,
            tbs,
            issuer_key_hash: self.issuer_key_hash(),
            not_before: signed.not_before,
            not_after: signed.not_after,
        })
    }

    /// The final certificate: the precertificate's tbsCertificate with the
    /// SCT list for the poison, checked to be exactly that, so every SCT
    /// (signed over the precertificate's) holds for it.
    pub async fn sign_with_scts(
        self: &Arc<Self>,
        plan: &Planned,
        pre: &Precertificate,
        scts: &[Sct],
    ) -> Result<Issued, IssueFailure> {
        let list = CtExtension::Scts(ct::sct::encode_list(scts));
        let (certificate, lint) = self.sign_linted(plan.with(list), plan.at).await?;
        let tbs = tbs::without_extension(&tbs_of(&certificate.der)?, tbs::SCT_LIST_OID)
            .map_err(|e| Error::internal(format!("final certificate: {e}")))?;
        if tbs != pre.tbs {
            return Err(Error::internal(
                "the final certificate's tbsCertificate is not the precertificate's",
            )
            .into());
        }
        Ok(Issued {
            certificate,
            crl_shard: plan.crl_shard,
            lint,
        })
    }

    /// SHA-256 of the intermediate's SubjectPublicKeyInfo: the
    /// `issuer_key_hash` of every SCT for our precertificates.
    pub fn issuer_key_hash(&self) -> [u8; 32] {
        let d = ring::digest::digest(&ring::digest::SHA256, &self.intermediate_spki_der);
        let mut out = [0; 32];
        out.copy_from_slice(d.as_ref());
        out
    }
}

/// The raw tbsCertificate of a certificate we just signed.
fn tbs_of(der: &[u8]) -> Result<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| Error::internal(format!("signed certificate does not parse: {e}")))?;
    Ok(cert.tbs_certificate.as_ref().to_vec())
}
