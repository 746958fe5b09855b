//! Orders: creation (RFC 8555 §7.4), finalization and certificates.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use time::{Duration, OffsetDateTime};

use super::events::Audit;
use super::{owned_by, policy, validation_age, Ra};
use crate::acme::{problem::Problem, ChallengeType, NewOrderRequest, OrderStatus};
use crate::ca::{self, profile::Profile, IssuanceRequest};
use crate::core::{Account, AccountId, CertificateId, Order, OrderId};
use crate::error::{Error, ErrorKind, Result, SubProblem};
use crate::http::RequestId;
use crate::jose::AccountKey;
use crate::sa::{self, orders::AuthzSpec};
use crate::vetting::notify::{self, NoticeLinks};
use crate::vetting::{checks::VettingStatus, gate, Organization};

/// Why issuance stopped, and whether a precertificate had been logged
/// by then (then the order cannot go back to `ready`).
struct Stopped {
    failure: ca::IssueFailure,
    precertificate_logged: bool,
}

impl From<ca::IssueFailure> for Stopped {
    fn from(failure: ca::IssueFailure) -> Self {
        Stopped {
            failure,
            precertificate_logged: false,
        }
    }
}

impl From<Error> for Stopped {
    fn from(error: Error) -> Self {
        ca::IssueFailure::from(error).into()
    }
}

/// What passed the gate and CAA at finalize.
struct Cleared {
    /// What the CA is asked to sign.
    request: IssuanceRequest,
    /// The CAA evidence, stored with the certificate.
    caa_evidence: String,
    /// The account and organization the issuance's events are recorded for.
    audit: Audit,
    /// The organization that passed the gate (its contact and language
    /// for the issued notice).
    organization: Organization,
}

/// Challenge types offered for a name. A wildcard can only be validated
/// through DNS (RFC 8555 §7.1.3, BR 3.2.2.4.7).
fn offered(wildcard: bool) -> &'static [ChallengeType] {
    if wildcard {
        &[ChallengeType::Dns01]
    } else {
        &[
            ChallengeType::Http01,
            ChallengeType::Dns01,
            ChallengeType::TlsAlpn01,
        ]
    }
}

impl Ra {
    /// newOrder (RFC 8555 §7.4): check the names and the profile, the
    /// domain scope, `replaces` and the requested validity, then store the
    /// order with its authorizations.
    pub async fn new_order(&self, acct: &Account, req: NewOrderRequest) -> Result<Order> {
        self.require_current_terms(acct)?;
        let cfg = &self.cfg().acme;
        let names = policy::order_names(&req.identifiers, cfg)?;
        let profile = self.order_profile(req.profile.as_deref(), &names)?;
        self.check_scope(acct, &names).await?;
        let replaces = match req.replaces.as_deref() {
            Some(id) => Some(self.check_replaces(acct, id).await?),
            None => None,
        };
        let now = self.clock().now();
        let (not_before, not_after) = self.requested_validity(&req, now)?;
        self.limit_new_order(acct.id, &names).await?;
        let new = sa::orders::NewOrder {
            account_id: acct.id,
            names,
            profile,
            not_before,
            not_after,
            expires_at: now + Duration::hours(cfg.order_lifetime_hours as i64),
            authorizations: Vec::new(),
            replaces,
        };
        let authz_expires = now + Duration::hours(cfg.authz_lifetime_hours as i64);
        self.store()
            .run(move |c| {
                let mut new = new;
                new.authorizations = authz_specs(c, &new, authz_expires, now)?;
                sa::orders::create(c, new, now)
            })
            .await
    }

    /// The order's profile (the default when it names none), which must be
    /// offered and allow the names (no wildcards for `ev`).
    fn order_profile(&self, asked: Option<&str>, names: &[String]) -> Result<Profile> {
        let profile_name = asked.unwrap_or(&self.cfg().acme.default_profile);
        let profile = self.enabled_profile(profile_name).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidProfile,
                format!("unknown profile {profile_name:?}; see the directory's meta.profiles"),
            )
        })?;
        if !profile.allows_wildcards() {
            if let Some(w) = names.iter().find(|n| n.starts_with("*.")) {
                let detail = format!("profile {:?} does not allow wildcard names", profile.name());
                return Err(Error::new(ErrorKind::RejectedIdentifier, detail.clone())
                    .with_subproblems(vec![SubProblem::new(
                        ErrorKind::RejectedIdentifier,
                        w,
                        detail,
                    )]));
            }
        }
        Ok(profile)
    }

    /// A profile this CA offers (config `acme.profiles`).
    pub(super) fn enabled_profile(&self, name: &str) -> Option<Profile> {
        Profile::parse(name).filter(|_| self.cfg().acme.profiles.iter().any(|p| p == name))
    }

    /// Names outside the organization's domain scope are refused at
    /// newOrder, one subproblem per name.
    async fn check_scope(&self, acct: &Account, names: &[String]) -> Result<()> {
        let org = self.organization_of(acct).await?;
        let outside: Vec<SubProblem> = names
            .iter()
            .filter(|n| !org.data.in_scope(n))
            .map(|n| {
                SubProblem::new(
                    ErrorKind::RejectedIdentifier,
                    n,
                    format!(
                        "{n:?} is outside the domain scope approved for organization '{}'",
                        org.data.certificate_name()
                    ),
                )
            })
            .collect();
        if outside.is_empty() {
            return Ok(());
        }
        let detail = if outside.len() == 1 {
            outside[0].detail.clone()
        } else {
            format!(
                "{} names are outside the organization's domain scope; see subproblems",
                outside.len()
            )
        };
        Err(Error::new(ErrorKind::RejectedIdentifier, detail).with_subproblems(outside))
    }

    /// The organization the account acts for, through its EAB credential.
    async fn organization_of(&self, acct: &Account) -> Result<Organization> {
        let id = acct.id;
        self.store()
            .read(move |c| sa::organizations::for_account(c, id))
            .await?
            .ok_or_else(|| Error::unauthorized("this account is not bound to an organization (register with an EAB credential from the CA)"))
    }

    /// The vetting gate. A refusal is recorded on the order (for staff)
    /// and in the audit log, and the order stays `ready`.
    async fn pass_gate(
        &self,
        acct: &Account,
        order: &Order,
        now: OffsetDateTime,
    ) -> Result<Organization> {
        let gate = self.gate_of(acct, order, now);
        let refused = match self.store().read(move |c| gate.decide(c)).await? {
            Ok(org) => return Ok(org),
            Err(refused) => refused,
        };
        let refused = self
            .store()
            .write(move |c| refused.record(c).map(|()| refused))
            .await?;
        Err(self.refused(refused))
    }

    /// What the gate needs to decide on `order` for `acct`, at `now`.
    fn gate_of(&self, acct: &Account, order: &Order, now: OffsetDateTime) -> Gate {
        Gate {
            account: acct.id,
            order: order.id,
            profile: order.profile,
            names: order.names.clone(),
            max_age: self.cfg().vetting.max_age(),
            now,
            request_id: crate::http::current_request_id(),
            notices: NoticeLinks::from_config(self.cfg()),
        }
    }

    /// A recorded refusal as the client's error.
    fn refused(&self, refused: GateRefusal) -> Error {
        self.store()
            .metrics()
            .gate_refusal(refused.refusal.condition());
        tracing::info!(
            order = refused.order.0,
            organization = refused.organization.0,
            condition = refused.refusal.condition(),
            "vetting gate refused finalize"
        );
        refused.refusal.error(&refused.name)
    }

    /// notBefore/notAfter of newOrder (RFC 8555 §7.4), honoured within the
    /// maximum validity in force.
    fn requested_validity(
        &self,
        req: &NewOrderRequest,
        now: OffsetDateTime,
    ) -> Result<(Option<OffsetDateTime>, Option<OffsetDateTime>)> {
        let parse = |field: &str, v: &Option<String>| -> Result<Option<OffsetDateTime>> {
            v.as_deref()
                .map(|s| {
                    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| Error::malformed(format!("{field} is not an RFC 3339 date")))
                })
                .transpose()
        };
        let nb = parse("notBefore", &req.not_before)?;
        let na = parse("notAfter", &req.not_after)?;
        let max = ca::schedule::max_validity(now);
        let start = nb.unwrap_or(now);
        if let Some(nb) = nb {
            if nb < now - Duration::days(1) || nb > now + Duration::days(30) {
                return Err(Error::malformed(
                    "notBefore must be within a day before and 30 days after now",
                ));
            }
        }
        if let Some(na) = na {
            if na <= start || na - start > max {
                return Err(Error::malformed(format!(
                    "notAfter must be after notBefore and at most {} days after it",
                    max.whole_days()
                )));
            }
        }
        Ok((nb, na))
    }

    pub async fn order(&self, acct: &Account, id: OrderId) -> Result<Order> {
        let order = self.load_order(id).await?;
        owned_by(order.account_id, acct, "order")?;
        Ok(order)
    }

    async fn load_order(&self, id: OrderId) -> Result<Order> {
        self.store()
            .read(move |c| sa::orders::load(c, id))
            .await?
            .ok_or_else(|| Error::not_found("no such order"))
    }

    /// One page of the account's orders (RFC 8555 §7.1.2.1) and the cursor
    /// of the next page, if there is one.
    pub async fn orders_page(
        &self,
        acct: &Account,
        after: Option<OrderId>,
    ) -> Result<(Vec<OrderId>, Option<OrderId>)> {
        let limit = self.cfg().acme.orders_page_size.max(1) as i64;
        let id = acct.id;
        let mut ids = self
            .store()
            .read(move |c| sa::orders::ids_for_account(c, id, after, limit + 1))
            .await?;
        let next = if ids.len() as i64 > limit {
            ids.truncate(limit as usize);
            ids.last().copied()
        } else {
            None
        };
        Ok((ids, next))
    }

    /// finalize (RFC 8555 §7.4): check the order, the age of its
    /// validations (BR 4.2.1) and the CSR, pass the
    /// vetting gate and CAA, then issue and store. A CSR the client can
    /// fix leaves the order `ready`; the certificate is stored before the
    /// order turns `valid`.
    pub async fn finalize(&self, acct: &Account, id: OrderId, csr_der: &[u8]) -> Result<Order> {
        self.require_current_terms(acct)?;
        let order = self.order(acct, id).await?;
        let now = self.clock().now();
        check_ready(&order, now)?;
        check_validation_age(&order, now)?;
        let per_names = self.limit_finalize(acct.id, &order.names).await?;
        let public_key_der = self.check_csr(acct, &order, csr_der).await?;
        let cleared = self.gate_and_caa(acct, &order, public_key_der, now).await?;
        let issued = self.issue_and_store(acct, order, cleared, now).await?;
        self.certificate_issued(per_names).await;
        Ok(issued)
    }

    /// The CSR names exactly the order's identifiers, with a key that is
    /// neither the account's nor a compromised one; returns that key.
    async fn check_csr(&self, acct: &Account, order: &Order, csr_der: &[u8]) -> Result<Vec<u8>> {
        let csr = ca::csr::parse(csr_der)?;
        check_csr_names(order, &csr)?;
        let account_key = AccountKey::from_jwk(&acct.jwk)?;
        if account_key.matches_spki(&csr.public_key_der) {
            return Err(Error::bad_csr(
                "the CSR's public key must not be the account key",
            ));
        }
        let key_hash = super::revocation::spki_hash(&csr.public_key_der);
        if self
            .store()
            .read(move |c| sa::certificates::key_is_blocked(c, &key_hash))
            .await?
        {
            return Err(Error::new(
                ErrorKind::BadPublicKey,
                "this key was reported compromised and cannot be certified; generate a new key",
            ));
        }
        Ok(csr.public_key_der)
    }

    /// The vetting gate and CAA; returns what to ask the CA for, the
    /// CAA evidence to store with the certificate, and who to record the
    /// issuance's events for.
    async fn gate_and_caa(
        &self,
        acct: &Account,
        order: &Order,
        public_key_der: Vec<u8>,
        now: OffsetDateTime,
    ) -> Result<Cleared> {
        let profile = order.profile;
        let org = self.pass_gate(acct, order, now).await?;
        let subject = profile.requires_subject().then(|| org.subject());
        let audit = Audit::account(acct.id, Some(org.id), now);
        let caa_evidence = self.check_caa(acct, order, &audit).await?;
        let request = IssuanceRequest {
            public_key_der,
            names: order.names.clone(),
            profile,
            subject,
            not_before: order.not_before,
            not_after: order.not_after,
        };
        Ok(Cleared {
            request,
            caa_evidence,
            audit,
            organization: org,
        })
    }

    /// Claims the order, has the CA issue, and stores the certificate with
    /// the order turning `valid`. A failure before any precertificate
    /// exists returns the order to `ready` so the client may retry once
    /// the fault is fixed; after one (too few SCTs), the order turns
    /// `invalid` with the problem as its error and the client retries with
    /// a new order.
    async fn issue_and_store(
        &self,
        acct: &Account,
        order: Order,
        cleared: Cleared,
        now: OffsetDateTime,
    ) -> Result<Order> {
        let Cleared {
            request,
            caa_evidence,
            audit,
            organization,
        } = cleared;
        let id = order.id;
        let profile = request.profile;
        let plan = self.ca().plan(request)?;
        self.claim(acct, &order, &plan, audit.clone(), now).await?;
        let issued = match self.issue(&order, plan, &audit).await {
            Ok(issued) => issued,
            Err(stopped) => {
                return Err(self
                    .end_without_certificate(id, stopped, audit.clone(), now)
                    .await)
            }
        };
        let cert = issued.certificate;
        let serial = cert.serial.to_hex();
        let facts = super::notices::IssuedFacts {
            names: &order.names,
            serial: &serial,
            profile: profile.name(),
            not_before: cert.not_before,
            not_after: cert.not_after,
        };
        let notices = self.issued_notices(acct, &organization, facts);
        let billed = crate::billing::Issued {
            serial: &serial,
            names: &order.names,
            profile: profile.name(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            at: self.clock().now(),
        };
        let billing_item = crate::billing::item(self.cfg().billing.as_ref(), &organization, billed);
        let queued = notices.as_ref().map_or(0, |n| n.count());
        let new_cert = sa::orders::NewCertificate {
            crl_shard: issued.crl_shard,
            serial: serial.clone(),
            der: cert.der,
            not_before: cert.not_before,
            not_after: cert.not_after,
            caa_evidence,
            lint_report: issued.lint.as_ref().map(lint_json),
        };
        let o2 = order.clone();
        let stored_at = self.clock().now();
        let issue_event = audit.at(stored_at);
        let details = serde_json::json!({
            "serial": serial,
            "names": order.names,
            "profile": profile.name(),
            "organization": issue_event.organization(),
            "account": acct.id,
            "order": id,
        });
        let subject = format!("certificate:{serial}");
        let tried = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let store_certificate = move |c: &mut sa::DbConn| {
            // A try whose commit landed unanswered (the database went away
            // right after it) stored the certificate already.
            if tried.swap(true, std::sync::atomic::Ordering::Relaxed) {
                if let Some(stored) = sa::certificates::by_serial(c, &new_cert.serial)? {
                    if stored.order_id == o2.id {
                        return Ok(stored.id);
                    }
                }
            }
            let (event, subject, details) = (issue_event.clone(), subject.clone(), details.clone());
            let notices = notices.clone();
            let billing_item = billing_item.clone();
            sa::orders::complete_finalize(c, &o2, new_cert.clone(), stored_at, |c, cert_id| {
                event.record(c, "certificate.issue", subject, None, details)?;
                // In the same transaction: the price and the billing
                // contact as they are now, for the invoice job.
                if let Some(mut item) = billing_item {
                    item.certificate_id = cert_id.0;
                    item.issued_at = stored_at;
                    sa::invoices::record_item(c, &item)?;
                }
                // In the same transaction: a notice for every stored
                // certificate, and none for one that was not.
                match &notices {
                    Some(n) => n.enqueue(c, cert_id, stored_at),
                    None => Ok(()),
                }
            })
        };
        let cert_id = until_stored(self.store(), self.finalize_bound(), store_certificate).await?;
        self.store().metrics().certificate_issued(profile.name());
        self.store().metrics().mail_queued(queued);
        tracing::info!(order = id.0, account = acct.id.0, %serial, profile = profile.name(), "certificate issued");
        Ok(order.issued(cert_id))
    }

    /// The claim keeps concurrent finalizes (of any instance) apart. The
    /// vetting gate decides again inside it, so a suspension that came
    /// while CAA was looked up stops the issuance. The winner records the
    /// CAA decision it acts on and the certificate request, and reserves
    /// the planned serial, in the same synced write: the serial is on disk
    /// before anything is signed with it.
    async fn claim(
        &self,
        acct: &Account,
        order: &Order,
        plan: &ca::Planned,
        audit: Audit,
        now: OffsetDateTime,
    ) -> Result<()> {
        let id = order.id;
        let serial = plan.serial().to_hex();
        let gate = self.gate_of(acct, order, now);
        let caa = serde_json::json!({
            "order": id,
            "names": order.names,
            "outcome": "permitted",
            // Stored with the order by the issuing write (`caa_evidence`).
            "evidence": format!("order:{id}"),
        });
        let request = serde_json::json!({
            "order": id,
            "names": order.names,
            "profile": order.profile.name(),
            "organization": audit.organization(),
        });
        let claimed = self
            .store()
            .write(move |c| {
                if let Err(refused) = gate.decide(c)? {
                    refused.record(c)?;
                    return Ok(Claim::Refused(refused));
                }
                if !sa::orders::begin_finalize(c, id, now)? {
                    return Ok(Claim::Busy);
                }
                let subject = format!("order:{id}");
                audit.record_all(
                    c,
                    [
                        ("caa.check", subject.clone(), None, caa),
                        ("certificate.request", subject, None, request),
                    ],
                )?;
                sa::precertificates::reserve_serial(c, &serial, id, now)?;
                Ok(Claim::Won)
            })
            .await?;
        match claimed {
            Claim::Won => Ok(()),
            Claim::Refused(refused) => Err(self.refused(refused)),
            Claim::Busy => Err(Error::new(
                ErrorKind::OrderNotReady,
                "order is already being finalized",
            )),
        }
    }

    /// The CA's issuance of the planned certificate, whose serial the
    /// claim reserved: signed directly, or through a precertificate and
    /// the CT logs when they are configured.
    async fn issue(
        &self,
        order: &Order,
        plan: ca::Planned,
        audit: &Audit,
    ) -> Result<ca::Issued, Stopped> {
        let ca = self.inner.ca.clone();
        let Some(logs) = ca.ct_logs().cloned() else {
            return Ok(ca.sign_planned(&plan).await?);
        };
        let pre = ca.sign_precertificate(&plan).await?;
        self.record_precertificate(order, &plan, &pre, audit)
            .await?;
        let logged = |failure: ca::IssueFailure| Stopped {
            failure,
            precertificate_logged: true,
        };
        let chain = [pre.der.as_slice(), ca.intermediate_der()];
        let scts = logs
            .collect(&pre, &chain)
            .await
            .map_err(|e| logged(e.into()))?;
        ca.sign_with_scts(&plan, &pre, &scts).await.map_err(logged)
    }

    /// Stores the precertificate before any log sees it: from then on it
    /// counts as issued (revocable by serial, listed on its CRL).
    async fn record_precertificate(
        &self,
        order: &Order,
        plan: &ca::Planned,
        pre: &ca::ct::Precertificate,
        audit: &Audit,
    ) -> Result<()> {
        let new = sa::precertificates::NewPrecertificate {
            serial: plan.serial().to_hex(),
            order_id: order.id,
            account_id: order.account_id,
            der: pre.der.clone(),
            not_before: pre.not_before,
            not_after: pre.not_after,
            crl_shard: plan.crl_shard(),
        };
        let at = self.clock().now();
        let audit = audit.at(at);
        let details = serde_json::json!({
            "serial": new.serial,
            "names": order.names,
            "order": order.id,
            "account": order.account_id,
        });
        let subject = format!("precertificate:{}", new.serial);
        self.store()
            .write(move |c| {
                sa::precertificates::insert(c, &new, at)?;
                audit.record(c, "precertificate.issue", subject, None, details)
            })
            .await?;
        tracing::info!(order = order.id.0, serial = %plan.serial(), "precertificate issued");
        Ok(())
    }

    /// A finalize the CA refused: the order goes back to `ready` (the
    /// client may retry once the fault is fixed) with the external
    /// linter's findings, if it refused, as the order's evidence. After a
    /// precertificate was logged (too few SCTs) it turns `invalid` with
    /// the problem as its error instead; a new order is the retry.
    async fn end_without_certificate(
        &self,
        id: OrderId,
        stopped: Stopped,
        audit: Audit,
        now: OffsetDateTime,
    ) -> Error {
        let Stopped {
            failure,
            precertificate_logged,
        } = stopped;
        let report = failure.lint.as_ref().map(lint_json);
        let invalid = precertificate_logged
            .then(|| serde_json::to_value(Problem::from_error(&failure.error)).ok())
            .flatten();
        let detail = failure.error.detail.clone();
        let end = move |c: &mut sa::DbConn| {
            sa::write_tx(c, |c| {
                if let Some(r) = &report {
                    sa::orders::set_lint_report(c, id, r)?;
                }
                // Not `processing` any more: an earlier try of this write
                // landed, unanswered, and recorded the event.
                if !sa::orders::end_finalize_without_certificate(c, id, invalid.clone(), now)? {
                    return Ok(());
                }
                audit.clone().record(
                    c,
                    "certificate.issue-failed",
                    format!("order:{id}"),
                    Some(&detail),
                    serde_json::json!({"order": id, "linted": report.is_some(), "precertificate_logged": precertificate_logged}),
                )
            })
        };
        let ended = until_stored(self.store(), self.finalize_bound(), end).await;
        match ended {
            Ok(()) => failure.error,
            Err(e) => e,
        }
    }

    /// The PEM chain of a certificate: leaf, then intermediate (RFC 8555
    /// §7.4.2).
    pub async fn certificate_chain(&self, acct: &Account, id: CertificateId) -> Result<String> {
        let cert = self
            .store()
            .read(move |c| sa::certificates::by_id(c, id))
            .await?
            .ok_or_else(|| Error::not_found("no such certificate"))?;
        owned_by(cert.account_id, acct, "certificate")?;
        let leaf = pem::encode(&pem::Pem::new("CERTIFICATE", cert.der));
        Ok(format!("{leaf}{}", self.ca().intermediate_pem()))
    }
}

impl Ra {
    /// How long a claimed finalize keeps trying to record its end: the
    /// request's own bound, past which the client has its answer (a 503)
    /// and the order is left to the sweep.
    fn finalize_bound(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.cfg().server.request_timeout_secs)
    }
}

/// First pause before a write that ends a claimed finalize is tried
/// again; it doubles up to the cap.
const STORE_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(100);
const STORE_RETRY_CAP: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the write that ends a claimed finalize (the certificate, or the
/// order back to `ready`), again while the database is unavailable, for
/// up to `within`. Only this finalize may end the order, which is
/// `processing` meanwhile; a database restart shorter than `within` then
/// leaves no order for the sweep (scripts/chaos db-restart had orders
/// wait two minutes for it). Any other error is returned at once.
async fn until_stored<T, F>(store: &sa::Store, within: std::time::Duration, f: F) -> Result<T>
where
    T: Send + 'static,
    F: Fn(&mut sa::DbConn) -> Result<T> + Clone + Send + 'static,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut pause = STORE_RETRY_FIRST;
    loop {
        match store.run(f.clone()).await {
            Err(e)
                if e.kind == ErrorKind::Unavailable
                    && tokio::time::Instant::now() + pause < deadline =>
            {
                tracing::warn!(error = %e, retry_in = ?pause, "ending a finalize failed; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(STORE_RETRY_CAP);
            }
            r => return r,
        }
    }
}

/// The linter's report as stored with the order.
fn lint_json(report: &ca::linter::LintReport) -> String {
    serde_json::to_string(report).unwrap_or_default()
}

/// Only a `ready` order is finalized (RFC 8555 §7.4).
fn check_ready(order: &Order, now: OffsetDateTime) -> Result<()> {
    match order.status(now) {
        OrderStatus::Ready => Ok(()),
        s @ (OrderStatus::Valid | OrderStatus::Processing) => Err(Error::new(
            ErrorKind::OrderNotReady,
            format!("order is {s} and cannot be finalized again"),
        )),
        s => Err(Error::new(
            ErrorKind::OrderNotReady,
            format!("order is {s}, not ready: every authorization must be valid first"),
        )),
    }
}

/// BR 4.2.1: every authorization's domain validation must still count on
/// the issuance date. One that became too old (a shorter reuse period
/// started) cannot be refreshed in this order: the client places a new
/// one, which validates again.
fn check_validation_age(order: &Order, now: OffsetDateTime) -> Result<()> {
    let stale: Vec<SubProblem> = order
        .authorizations
        .iter()
        .filter(|a| validation_age::too_old(a, now))
        .map(|a| {
            let name = a.order_name();
            let detail = format!(
                "the domain validation of {name:?} is older than the {} days BR 4.2.1 allows \
                 for issuance on {}; place a new order to validate it again",
                ca::schedule::max_dcv_reuse(now).whole_days(),
                now.date()
            );
            SubProblem::new(ErrorKind::Unauthorized, &name, detail)
        })
        .collect();
    match stale.len() {
        0 => Ok(()),
        1 => Err(Error::unauthorized(stale[0].detail.clone()).with_subproblems(stale)),
        n => Err(Error::unauthorized(format!(
            "the domain validations of {n} names are too old for issuance on {} \
             (BR 4.2.1); place a new order to validate them again",
            now.date()
        ))
        .with_subproblems(stale)),
    }
}

/// RFC 8555 §7.4: the CSR must name exactly the order's identifiers, each
/// in a subjectAltName or the common name.
fn check_csr_names(order: &Order, csr: &ca::csr::ParsedCsr) -> Result<()> {
    let mut names = csr.identifiers();
    names.sort();
    names.dedup();
    if names != order.names {
        let extra: Vec<_> = names.iter().filter(|n| !order.names.contains(n)).collect();
        let missing: Vec<_> = order.names.iter().filter(|n| !names.contains(n)).collect();
        return Err(Error::bad_csr(format!(
            "the CSR's names must be exactly the order's identifiers; not in the order: {extra:?}, missing from the CSR: {missing:?}"
        )));
    }
    Ok(())
}

/// One authorization per name of `order`: a valid one of the account's
/// that outlives the order is reused; otherwise a new one with the
/// challenges the name allows.
fn authz_specs(
    c: &mut sa::DbConn,
    order: &sa::orders::NewOrder,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Vec<AuthzSpec>> {
    // BR 4.2.1: a validation counts while younger than today's period.
    let validated_after = now - ca::schedule::max_dcv_reuse(now);
    let mut specs = Vec::with_capacity(order.names.len());
    for name in &order.names {
        let (identifier, wildcard) = match name.strip_prefix("*.") {
            Some(b) => (b.to_owned(), true),
            None => (name.clone(), false),
        };
        // Reuse only an authorization that outlives the order and whose
        // validation still counts.
        let reusable = sa::orders::reusable_authz(
            c,
            order.account_id,
            &identifier,
            wildcard,
            order.expires_at,
            validated_after,
        )?;
        if let Some(id) = reusable {
            specs.push(AuthzSpec::Reuse(id));
            continue;
        }
        let kinds = offered(wildcard);
        let mut challenges = Vec::with_capacity(kinds.len());
        for kind in kinds {
            challenges.push((*kind, new_token()?));
        }
        specs.push(AuthzSpec::New {
            identifier,
            wildcard,
            expires_at,
            challenges,
        });
    }
    Ok(specs)
}

/// A challenge token: 128 bits from the OS CSPRNG, base64url (RFC 8555
/// §8.3 asks for at least 128 bits of entropy).
fn new_token() -> Result<String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Error::internal("OS random number generator failed"))?;
    Ok(B64.encode(b))
}

/// How a finalize's claim ended.
enum Claim {
    Won,
    /// Another finalize of the order holds it.
    Busy,
    Refused(GateRefusal),
}

/// The vetting gate's inputs for one finalize; `decide` reads the
/// organization and its checks on the caller's connection, so the claim's
/// transaction decides on what it commits with.
struct Gate {
    account: AccountId,
    order: OrderId,
    profile: Profile,
    names: Vec<String>,
    max_age: Duration,
    now: OffsetDateTime,
    request_id: Option<RequestId>,
    /// Set with `[mail]`: a refusal while the organization is vetted
    /// tells its contact, once per vetting.
    notices: Option<NoticeLinks>,
}

/// A refusal of the gate, with what recording it needs.
struct GateRefusal {
    refusal: gate::Refusal,
    order: OrderId,
    organization: crate::core::OrganizationId,
    /// The organization's name as the client sees it in the detail.
    name: String,
    account: AccountId,
    profile: Profile,
    now: OffsetDateTime,
    request_id: Option<RequestId>,
    /// The organization being vetted and the order's names, when its
    /// contact is to be told the order waits (`notify::order_waiting`).
    /// Boxed: an organization record is large, and rarely here.
    waiting: Option<Box<Waiting>>,
}

struct Waiting {
    links: NoticeLinks,
    organization: Organization,
    names: Vec<String>,
}

impl Gate {
    fn decide(&self, c: &mut sa::DbConn) -> Result<std::result::Result<Organization, GateRefusal>> {
        let org = sa::organizations::for_account(c, self.account)?
            .ok_or_else(|| Error::unauthorized("this account is not bound to an organization (register with an EAB credential from the CA)"))?;
        let checks = if org.effective_status(self.now, self.max_age) == VettingStatus::Pending {
            sa::organizations::checks(c, org.id)?
        } else {
            Vec::new()
        };
        let decided = gate::check(
            &org,
            &checks,
            self.profile,
            &self.names,
            self.now,
            self.max_age,
        );
        Ok(decided
            .map(|()| org.clone())
            .map_err(|refusal| GateRefusal {
                waiting: match (&refusal, &self.notices) {
                    (gate::Refusal::Pending(_), Some(links)) => Some(Box::new(Waiting {
                        links: links.clone(),
                        organization: org.clone(),
                        names: self.names.clone(),
                    })),
                    _ => None,
                },
                refusal,
                order: self.order,
                organization: org.id,
                name: org.data.certificate_name().to_owned(),
                account: self.account,
                profile: self.profile,
                now: self.now,
                request_id: self.request_id,
            }))
    }
}

impl GateRefusal {
    /// On the order (for staff) and in the audit trail.
    fn record(&self, c: &mut sa::DbConn) -> Result<()> {
        let detail = self.refusal.describe(&self.name);
        let condition = self.refusal.condition();
        let record = serde_json::json!({"condition": condition, "detail": detail, "at": self.now.unix_timestamp()});
        sa::organizations::set_gate_refusal(c, self.order, Some(&record.to_string()))?;
        if let Some(w) = &self.waiting {
            notify::order_waiting(c, &w.links, &w.organization, &w.names, self.now)?;
        }
        sa::audit::append(
            c,
            sa::audit::NewEvent {
                actor: &format!("acme:account/{}", self.account),
                action: "gate.refuse",
                organization: Some(self.organization),
                subject: format!("order:{}", self.order),
                reason: Some(&detail),
                details: serde_json::json!({"condition": condition, "profile": self.profile.name()}),
                request_id: self.request_id,
            },
            self.now,
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::sa::crls::testing::store;

    /// The write ending a claimed finalize rides out a database that is
    /// away for a while (its attempts fail `Unavailable`), gives up on it
    /// at the bound, and never repeats a write that failed otherwise.
    #[tokio::test]
    async fn ending_a_finalize_is_tried_again_only_while_the_database_is_away() {
        let (_db, store) = store();
        let attempts = Arc::new(AtomicU32::new(0));
        let failing_first = |n: u32, error: fn() -> Error| {
            let attempts = attempts.clone();
            attempts.store(0, Ordering::SeqCst);
            move |_: &mut sa::DbConn| {
                if attempts.fetch_add(1, Ordering::SeqCst) < n {
                    Err(error())
                } else {
                    Ok(7)
                }
            }
        };
        let away = || Error::unavailable("database: gone");
        let within = Duration::from_secs(30);
        assert_eq!(
            until_stored(&store, within, failing_first(3, away))
                .await
                .unwrap(),
            7
        );
        assert_eq!(attempts.load(Ordering::SeqCst), 4);

        let broken = || Error::internal("database: constraint");
        let e = until_stored(&store, within, failing_first(3, broken))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::ServerInternal);
        assert_eq!(attempts.load(Ordering::SeqCst), 1);

        let short = Duration::from_millis(250);
        let e = until_stored(&store, short, failing_first(1000, away))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        let tried = attempts.load(Ordering::SeqCst);
        assert!((1..10).contains(&tried), "{tried} attempts within 250 ms");
    }
}
