//! CAA (RFC 8659, RFC 8657; BR 3.2.2.8) just before issuance: every name
//! of the order, with the method that validated it. The evidence is kept
//! on the order whatever the outcome, for auditors.

use tokio::task::JoinSet;

use super::Ra;
use crate::acme::ChallengeStatus;
use crate::core::{Account, Order};
use crate::error::{Error, ErrorKind, Result, SubProblem};
use crate::sa;
use crate::va::caa::CaaRequest;

impl Ra {
    /// Checks every name; on success returns the evidence (JSON) for the
    /// issuance to store with the certificate, on refusal stores it on the
    /// order.
    pub(super) async fn check_caa(&self, acct: &Account, order: &Order) -> Result<String> {
        let account_uri = format!(
            "{}{}{}",
            self.cfg().base_url(),
            crate::wfe::urls::ACCOUNT,
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
                let (result, evidence) = va.check_caa(&req).await;
                (name, result, evidence)
            });
        }
        let mut evidence = Vec::new();
        let mut refused = Vec::new();
        while let Some(done) = lookups.join_next().await {
            let (name, result, ev) = done.map_err(|e| Error::internal(format!("CAA task: {e}")))?;
            evidence.push(ev);
            if let Err(e) = result {
                refused.push(SubProblem::new(e.kind, &name, e.detail));
            }
        }
        evidence.sort_by(|a, b| a.name.cmp(&b.name));
        let json = serde_json::to_string(&evidence)
            .map_err(|e| Error::internal(format!("encoding CAA evidence: {e}")))?;
        if refused.is_empty() {
            // Stored by the issuing finalize, with the certificate.
            return Ok(json);
        }
        let id = order.id;
        self.store()
            .run(move |c| sa::orders::set_caa_evidence(c, id, &json))
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
