//! CAA (RFC 8659, RFC 8657; BR 3.2.2.8) just before issuance: every name
//! of the order, with the method that validated it. The evidence is kept
//! on the order whatever the outcome, for auditors.

use tokio::task::JoinSet;

use super::events::Audit;
use super::Ra;
use crate::acme::ChallengeStatus;
use crate::core::{Account, Order};
use crate::error::{Error, ErrorKind, Result, SubProblem};
use crate::sa;
use crate::va::caa::{CaaEvidence, CaaRequest};
use crate::va::remote::RemoteAnswer;

/// One name's stored CAA evidence: the primary's, as before, with each
/// remote perspective's answer beside it (BR 3.2.2.9). Evidence stored
/// before perspectives existed simply has no `perspectives`.
#[derive(serde::Serialize)]
struct NameEvidence {
    #[serde(flatten)]
    primary: CaaEvidence,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    perspectives: Vec<RemoteAnswer>,
}

impl Ra {
    /// Checks every name; on success returns the evidence (JSON) for the
    /// issuance to store with the certificate, on refusal stores it on the
    /// order.
    pub(super) async fn check_caa(
        &self,
        acct: &Account,
        order: &Order,
        audit: &Audit,
    ) -> Result<String> {
        let account_uri = format!(
            "{}{}{}",
            self.cfg().base_url(),
            crate::core::urls::ACCOUNT,
            acct.id
        );
        let identities = self.cfg().acme.caa_identities.clone();
        let mut lookups = JoinSet::new();
        for authz in &order.authorizations {
            let method = authz
                .challenges
                .iter()
                .find(|c| c.status == ChallengeStatus::Valid)
                .map(|c| c.kind)
                .ok_or_else(|| {
                    Error::internal(format!("authorization {} has no valid challenge", authz.id))
                })?;
            let (va, name, uri, ids) = (
                self.inner.va.clone(),
                authz.order_name(),
                account_uri.clone(),
                identities.clone(),
            );
            lookups.spawn(async move {
                let req = CaaRequest {
                    name: &name,
                    account_uri: &uri,
                    method,
                    caa_identities: &ids,
                };
                let outcome = va.check_caa_corroborated(&req).await;
                (name, outcome)
            });
        }
        let mut evidence = Vec::new();
        let mut refused = Vec::new();
        while let Some(done) = lookups.join_next().await {
            let (name, outcome) = done.map_err(|e| Error::internal(format!("CAA task: {e}")))?;
            evidence.push(NameEvidence {
                primary: outcome.evidence,
                perspectives: outcome.perspectives,
            });
            if let Err(e) = outcome.result {
                refused.push(SubProblem::new(e.kind, &name, e.detail));
            }
        }
        evidence.sort_by(|a, b| a.primary.name.cmp(&b.primary.name));
        let json = serde_json::to_string(&evidence)
            .map_err(|e| Error::internal(format!("encoding CAA evidence: {e}")))?;
        if refused.is_empty() {
            // Stored by the issuing finalize, with the certificate.
            return Ok(json);
        }
        let id = order.id;
        let details = serde_json::json!({
            "order": id,
            "names": order.names,
            "outcome": "refused",
            "refused": refused.iter().map(|p| &p.identifier).collect::<Vec<_>>(),
            // The evidence kept on the order (`caa_evidence`).
            "evidence": format!("order:{id}"),
        });
        let audit = audit.clone();
        self.store()
            .write(move |c| {
                sa::orders::set_caa_evidence(c, id, &json)?;
                audit.record(c, "caa.check", format!("order:{id}"), None, details)
            })
            .await?;
        match refused.len() {
            1 => {
                Err(Error::new(refused[0].kind, refused[0].detail.clone())
                    .with_subproblems(refused))
            }
            n => Err(Error::new(
                ErrorKind::Caa,
                format!("CAA prevents issuance for {n} names; see subproblems"),
            )
            .with_subproblems(refused)),
        }
    }
}
