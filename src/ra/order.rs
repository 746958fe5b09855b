//! Orders: creation (RFC 8555 §7.4), finalization and certificates.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use time::{Duration, OffsetDateTime};

use super::{owned_by, policy, Ra};
use crate::acme::{ChallengeType, NewOrderRequest, OrderStatus};
use crate::ca::{self, profile::Profile, subject::SubjectInfo, IssuanceRequest};
use crate::core::{Account, CertificateId, Order, OrderId};
use crate::error::{Error, ErrorKind, Result, SubProblem};
use crate::jose::AccountKey;
use crate::publish::PublishUrls;
use crate::sa::{self, orders::AuthzSpec};
use crate::vetting::{checks::VettingStatus, gate, Organization};

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
    pub async fn new_order(&self, acct: &Account, req: NewOrderRequest) -> Result<Order> {
        let cfg = &self.cfg().acme;
        let names = policy::order_names(&req.identifiers, cfg)?;
        let profile_name = req.profile.as_deref().unwrap_or(&cfg.default_profile);
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
        self.check_scope(acct, &names).await?;
        let replaces = match req.replaces.as_deref() {
            Some(id) => Some(self.check_replaces(acct, id).await?),
            None => None,
        };
        let now = sa::now();
        let (not_before, not_after) = self.requested_validity(&req, now)?;
        let expires_at = now + Duration::hours(cfg.order_lifetime_hours as i64);
        let authz_expires = now + Duration::hours(cfg.authz_lifetime_hours as i64);
        let account_id = acct.id;
        let profile_name = profile.name().to_owned();
        let order = self
            .store()
            .run(move |c| {
                let mut specs = Vec::with_capacity(names.len());
                for name in &names {
                    let (identifier, wildcard) = match name.strip_prefix("*.") {
                        Some(b) => (b.to_owned(), true),
                        None => (name.clone(), false),
                    };
                    // Reuse only an authorization that outlives the order.
                    if let Some(id) = sa::orders::reusable_authz(
                        c,
                        account_id,
                        &identifier,
                        wildcard,
                        expires_at,
                    )? {
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
                        expires_at: authz_expires,
                        challenges,
                    });
                }
                sa::orders::create(
                    c,
                    sa::orders::NewOrder {
                        account_id,
                        names,
                        profile: profile_name,
                        not_before,
                        not_after,
                        expires_at,
                        authorizations: specs,
                        replaces,
                    },
                    now,
                )
            })
            .await?;
        Ok(order)
    }

    /// A profile this CA offers (config `acme.profiles`).
    fn enabled_profile(&self, name: &str) -> Option<Profile> {
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
        profile: Profile,
        now: OffsetDateTime,
    ) -> Result<Organization> {
        let org = self.organization_of(acct).await?;
        let max_age = self.cfg().vetting.max_age();
        let checks = if org.effective_status(now, max_age) == VettingStatus::Pending {
            let id = org.id;
            self.store()
                .read(move |c| sa::organizations::checks(c, id))
                .await?
        } else {
            Vec::new()
        };
        let Err(refusal) = gate::check(&org, &checks, profile, &order.names, now, max_age) else {
            return Ok(org);
        };
        let name = org.data.certificate_name().to_owned();
        let detail = refusal.describe(&name);
        let record = serde_json::json!({"condition": refusal.condition(), "detail": detail, "at": now.unix_timestamp()}).to_string();
        let (order_id, org_id, actor) = (order.id, org.id, format!("acme:account/{}", acct.id));
        let d2 = detail.clone();
        let condition = refusal.condition();
        self.store().metrics().gate_refusal(condition);
        self.store()
            .write(move |c| {
                sa::organizations::set_gate_refusal(c, order_id, Some(&record))?;
                sa::audit::append(
                    c,
                    sa::audit::NewEvent {
                        actor: &actor,
                        action: "gate.refuse",
                        organization: Some(org_id),
                        subject: format!("order:{order_id}"),
                        reason: Some(&d2),
                        details: serde_json::json!({"condition": condition, "profile": profile.name()}),
                    },
                    now,
                )
            })
            .await?;
        tracing::info!(
            order = order.id.0,
            organization = org.id.0,
            condition = refusal.condition(),
            "vetting gate refused finalize"
        );
        Err(refusal.error(&name))
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

    /// finalize (RFC 8555 §7.4). A CSR the client can fix leaves the order
    /// `ready`; the certificate is stored before the order turns `valid`.
    pub async fn finalize(&self, acct: &Account, id: OrderId, csr_der: &[u8]) -> Result<Order> {
        let order = self.order(acct, id).await?;
        let now = sa::now();
        match order.status(now) {
            OrderStatus::Ready => {}
            OrderStatus::Valid | OrderStatus::Processing => {
                return Err(Error::new(
                    ErrorKind::OrderNotReady,
                    format!(
                        "order is {} and cannot be finalized again",
                        order.status(now)
                    ),
                ))
            }
            s => {
                return Err(Error::new(
                    ErrorKind::OrderNotReady,
                    format!("order is {s}, not ready: every authorization must be valid first"),
                ))
            }
        }
        let csr = ca::csr::parse(csr_der)?;
        check_csr_names(&order, &csr)?;
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
        let profile = Profile::parse(&order.profile).ok_or_else(|| {
            Error::internal(format!("order has unknown profile {}", order.profile))
        })?;
        let org = self.pass_gate(acct, &order, profile, now).await?;
        let subject = profile.requires_subject().then(|| org.subject());
        let caa_evidence = self.check_caa(acct, &order).await?;

        // The claim keeps concurrent finalizes (of any instance) apart; it
        // reports nothing done, and the synced commit of the certificate
        // follows it, so its own commit need not wait for the disk.
        let claimed = self
            .store()
            .write_deferred(move |c| sa::orders::begin_finalize(c, id, now))
            .await?;
        if !claimed {
            return Err(Error::new(
                ErrorKind::OrderNotReady,
                "order is already being finalized",
            ));
        }
        let issued = self.sign(&order, profile, subject, csr.public_key_der, now);
        let issued = match issued {
            Ok(i) => i,
            Err(e) => {
                // Nothing was issued: the order goes back to `ready` so the
                // client may retry once the fault is fixed.
                self.store()
                    .run(move |c| sa::orders::end_finalize_without_certificate(c, id, None, now))
                    .await?;
                return Err(e);
            }
        };
        let (issued, crl_shard) = issued;
        let serial = issued.serial.to_hex();
        let new_cert = sa::orders::NewCertificate {
            crl_shard,
            serial: serial.clone(),
            der: issued.der,
            not_before: issued.not_before,
            not_after: issued.not_after,
            caa_evidence,
        };
        let o2 = order.clone();
        let stored_at = sa::now();
        let cert_id = self
            .store()
            .run(move |c| sa::orders::complete_finalize(c, &o2, new_cert, stored_at))
            .await?;
        self.store().metrics().certificate_issued(profile.name());
        tracing::info!(order = id.0, account = acct.id.0, %serial, profile = profile.name(), "certificate issued");
        Ok(order.issued(cert_id))
    }

    fn sign(
        &self,
        order: &Order,
        profile: Profile,
        subject: Option<SubjectInfo>,
        public_key_der: Vec<u8>,
        now: OffsetDateTime,
    ) -> Result<(ca::IssuedCertificate, u32)> {
        let cfg = &self.cfg().ca;
        let not_before = order
            .not_before
            .unwrap_or(now - Duration::seconds(cfg.backdate_secs as i64));
        let cap = ca::schedule::max_validity(now);
        let wanted = Duration::days(cfg.validity_days as i64);
        // BR 6.3.2 counts validity inclusively, hence the second.
        let longest = not_before + wanted.min(cap) - Duration::seconds(1);
        let not_after = order.not_after.map_or(longest, |na| {
            na.min(not_before + cap - Duration::seconds(1))
        });
        let serial = ca::Serial::random()?;
        // BR 7.1.2.7: CRL distribution point and AIA caIssuers, both http.
        let urls = PublishUrls::from_config(&self.cfg().publish)?;
        let (shard, crl_url) = urls.crl_for(&serial);
        let issued = self.ca().issue(&IssuanceRequest {
            public_key_der,
            names: order.names.clone(),
            profile,
            not_before,
            not_after,
            serial,
            crl_url: Some(crl_url),
            issuer_url: Some(urls.issuer()),
            subject,
        })?;
        Ok((issued, shard))
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
