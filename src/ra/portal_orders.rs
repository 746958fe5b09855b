//! Certificate requests in the customer portal, without an ACME client
//! (issue #25): the customer pastes a CSR, chooses the level and the
//! validity, places a file or a TXT record for each name, and downloads
//! the certificate.
//!
//! Internally each is an ordinary ACME order of the organization's portal
//! account — an account like any client's (its public key stored, bound
//! to the organization through an EAB credential of its own), whose
//! private key was never kept. So the names are checked by `new_order`,
//! proven by `respond_challenge` (the same VA, perspectives and evidence),
//! and the certificate issued by `finalize` with the pasted CSR (the same
//! CSR checks, vetting gate, CAA, issuance, storage, audit events and
//! notices). What is the portal's own: the account, the stored CSR, who
//! placed the order, and that every look-up goes through the customer's
//! organization.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Map, Value};
use time::{Duration, OffsetDateTime};

use super::events::Audit;
use super::{policy, Ra};
use crate::acme::{
    AuthorizationStatus, ChallengeStatus, ChallengeType, Identifier, NewOrderRequest, OrderStatus,
};
use crate::ca::{self, profile::Profile};
use crate::core::{
    Account, AuthzId, Certificate, CertificateId, EabId, Order, OrderId, Organization,
    OrganizationId,
};
use crate::error::{Error, ErrorKind, Result};
use crate::jose::AccountKey;
use crate::sa::{self, accounts::Created, certificate_search, portal_orders::PortalOrder};
use crate::vetting::checks::VettingStatus;
use crate::vetting::organization::Level;

/// The most a pasted CSR may weigh (PEM text): a 4096-bit RSA request
/// with a hundred names is well under it, and form-encoded it stays
/// within the portal's body limit.
pub const MAX_CSR_TEXT: usize = 16 * 1024;
/// How many of the organization's portal orders the portal lists.
const LISTED_ORDERS: i64 = 20;
/// The note of the credential binding a portal account (staff see it).
const PORTAL_NOTE: &str = "customer portal: certificate requests without an ACME client";

/// The form fields of a request, for a problem shown beside its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Csr,
    Level,
    Validity,
}

/// What the customer asked for, as the portal read it from the form.
pub struct PortalRequest {
    /// The CSR as pasted: PEM (`CERTIFICATE REQUEST`).
    pub csr: String,
    /// `ov` or `ev`.
    pub level: String,
    /// Days of validity; `None`: the most allowed.
    pub validity_days: Option<u32>,
}

/// The outcome of placing a request.
pub enum Placed {
    Order(OrderId),
    /// Nothing was stored; a message for each field at fault.
    Refused(Vec<(Field, String)>),
}

/// A request that passed the form's checks.
struct Checked {
    csr_der: Vec<u8>,
    names: Vec<String>,
    profile: Profile,
    not_after: Option<OffsetDateTime>,
}

/// A portal order as the customer sees it.
pub struct PortalOrderView {
    pub order: Order,
    pub status: OrderStatus,
    pub placed_by: String,
    pub placed_at: OffsetDateTime,
    pub names: Vec<NameProof>,
    /// The issued certificate's serial.
    pub serial: Option<String>,
    /// Why it stopped: the order's problem, or the gate's last refusal.
    pub problem: Option<String>,
}

/// What to place for one name, and how its validation stands.
pub struct NameProof {
    pub authorization: AuthzId,
    /// As in the order (`*.` for a wildcard).
    pub name: String,
    pub status: AuthorizationStatus,
    /// A check is running.
    pub checking: bool,
    /// `None` for a wildcard (BR 3.2.2.4.7: DNS only).
    pub http01: Option<Http01>,
    pub dns01: Option<Dns01>,
    /// The failed check's reason.
    pub error: Option<String>,
}

/// RFC 8555 §8.3: this content at this URL, over plain HTTP on port 80.
pub struct Http01 {
    pub url: String,
    pub content: String,
}

/// RFC 8555 §8.4: a TXT record with this value at this name.
pub struct Dns01 {
    pub name: String,
    pub value: String,
}

/// A certificate's state as the customer reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStatus {
    Valid,
    Expired,
    Revoked,
}

impl CertificateStatus {
    pub fn of(revoked: bool, not_after: OffsetDateTime, now: OffsetDateTime) -> Self {
        if revoked {
            CertificateStatus::Revoked
        } else if not_after <= now {
            CertificateStatus::Expired
        } else {
            CertificateStatus::Valid
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::Valid => "valid",
            CertificateStatus::Expired => "expired",
            CertificateStatus::Revoked => "revoked",
        }
    }
}

/// The download formats of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    /// Leaf, then intermediate, PEM (RFC 8555 §7.4.2's chain).
    PemChain,
    /// The leaf, DER.
    Der,
    /// Leaf and intermediate in a certs-only PKCS#7, DER.
    Pkcs7,
}

impl Ra {
    /// The levels the organization may ask for, among the profiles this
    /// CA offers: OV always, EV when it is vetted for EV.
    pub fn portal_levels(&self, org: &Organization) -> Vec<Profile> {
        [Profile::Ov, Profile::Ev]
            .into_iter()
            .filter(|p| self.enabled_profile(p.name()).is_some())
            .filter(|p| !p.is_ev() || org.data.level == Level::Ev)
            .collect()
    }

    /// Whether the organization may request certificates now: its vetting
    /// is approved and holds (the gate decides again at issuance).
    pub fn portal_may_order(&self, org: &Organization) -> bool {
        self.vetting_status(org) == VettingStatus::Approved
    }

    fn vetting_status(&self, org: &Organization) -> VettingStatus {
        org.effective_status(self.clock().now(), self.cfg().vetting.max_age())
    }

    /// The longest validity a certificate issued now may have, in days.
    pub fn portal_max_validity_days(&self) -> i64 {
        ca::schedule::max_validity(self.clock().now()).whole_days()
    }

    /// Places a request for `org`, made by `placed_by` (the customer, as
    /// the audit trail names them): checked as finalize checks a CSR,
    /// then an order of the portal account, with the CSR kept for its
    /// finalize. A refusal stores nothing.
    pub async fn place_portal_order(
        &self,
        org: &Organization,
        placed_by: &str,
        req: PortalRequest,
    ) -> Result<Placed> {
        if !self.portal_may_order(org) {
            return Err(Error::unauthorized(format!(
                "certificates are requested once the organization is approved; its vetting is {}",
                self.vetting_status(org).as_str()
            )));
        }
        let checked = match self.check_portal_request(org, &req).await? {
            Ok(checked) => checked,
            Err(problems) => return Ok(Placed::Refused(problems)),
        };
        let acct = self.portal_account(org.id).await?;
        self.order_for(&acct, org.id, placed_by, checked).await
    }

    /// A new order with the CSR, level and validity of the earlier order
    /// `id` (one whose validation failed or that expired).
    pub async fn repeat_portal_order(
        &self,
        org: &Organization,
        placed_by: &str,
        id: OrderId,
    ) -> Result<Placed> {
        let (stored, order) = self.portal_order_of(org.id, id).await?;
        let csr = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", stored.csr));
        let validity_days = order
            .not_after
            .map(|na| (na - order.created_at).whole_days().max(1) as u32);
        let req = PortalRequest {
            csr,
            level: order.profile.name().to_owned(),
            validity_days,
        };
        self.place_portal_order(org, placed_by, req).await
    }

    /// The request's fields checked one by one, so that each problem is
    /// shown beside its field.
    async fn check_portal_request(
        &self,
        org: &Organization,
        req: &PortalRequest,
    ) -> Result<std::result::Result<Checked, Vec<(Field, String)>>> {
        let mut problems = Vec::new();
        let profile = self.portal_level(org, &req.level, &mut problems);
        let not_after = self.portal_validity(req.validity_days, &mut problems);
        let csr = match self.portal_csr(org, &req.csr, profile).await? {
            Ok(csr) => Some(csr),
            Err(detail) => {
                problems.push((Field::Csr, detail));
                None
            }
        };
        match (csr, profile, not_after) {
            (Some((csr_der, names)), Some(profile), Some(not_after)) if problems.is_empty() => {
                Ok(Ok(Checked {
                    csr_der,
                    names,
                    profile,
                    not_after,
                }))
            }
            _ => Ok(Err(problems)),
        }
    }

    fn portal_level(
        &self,
        org: &Organization,
        level: &str,
        problems: &mut Vec<(Field, String)>,
    ) -> Option<Profile> {
        let allowed = self.portal_levels(org);
        let found = Profile::parse(level).filter(|p| allowed.contains(p));
        if found.is_none() {
            let names: Vec<_> = allowed.iter().map(|p| p.name().to_uppercase()).collect();
            problems.push((
                Field::Level,
                format!(
                    "choose a level the organization is vetted for: {}",
                    names.join(", ")
                ),
            ));
        }
        found
    }

    /// `Some(None)`: the most allowed; `None`: out of range.
    fn portal_validity(
        &self,
        days: Option<u32>,
        problems: &mut Vec<(Field, String)>,
    ) -> Option<Option<OffsetDateTime>> {
        let max = self.portal_max_validity_days();
        match days.map(i64::from) {
            None => Some(None),
            Some(d) if d == max => Some(None),
            Some(d) if (1..max).contains(&d) => Some(Some(self.clock().now() + Duration::days(d))),
            Some(_) => {
                problems.push((
                    Field::Validity,
                    format!("the validity must be between 1 and {max} days"),
                ));
                None
            }
        }
    }

    /// The CSR as finalize checks it (RFC 8555 §7.4: signature, key
    /// policy, a key never reported compromised) and its names as newOrder
    /// does (issuable, within the organization's scope, no wildcard for
    /// EV). Its subject is ignored: the certificate's comes from the
    /// vetted record. `Err` is the message for the CSR field.
    async fn portal_csr(
        &self,
        org: &Organization,
        text: &str,
        profile: Option<Profile>,
    ) -> Result<std::result::Result<(Vec<u8>, Vec<String>), String>> {
        let der = match csr_der(text) {
            Ok(der) => der,
            Err(detail) => return Ok(Err(detail)),
        };
        let csr = match ca::csr::parse(&der) {
            Ok(csr) => csr,
            Err(e) => return Ok(Err(e.detail)),
        };
        let key_hash = super::revocation::spki_hash(&csr.public_key_der);
        if self
            .store()
            .read(move |c| sa::certificates::key_is_blocked(c, &key_hash))
            .await?
        {
            return Ok(Err(
                "this key was reported compromised and cannot be certified; generate a new key"
                    .into(),
            ));
        }
        let ids: Vec<Identifier> = csr.identifiers().into_iter().map(Identifier::dns).collect();
        let names = match policy::order_names(&ids, &self.cfg().acme) {
            Ok(names) => names,
            Err(e) => return Ok(Err(with_subproblems(&e))),
        };
        Ok(names_problem(org, &names, profile)
            .map(Err)
            .unwrap_or(Ok((der, names))))
    }

    /// The order, created through `new_order` as a client's is, then the
    /// CSR and who placed it, with the audit event naming them.
    async fn order_for(
        &self,
        acct: &Account,
        org: OrganizationId,
        placed_by: &str,
        checked: Checked,
    ) -> Result<Placed> {
        let rfc3339 = &time::format_description::well_known::Rfc3339;
        let not_after = checked
            .not_after
            .map(|t| t.format(rfc3339))
            .transpose()
            .map_err(|e| Error::internal(format!("formatting notAfter: {e}")))?;
        let req = NewOrderRequest {
            identifiers: checked.names.iter().map(Identifier::dns).collect(),
            not_before: None,
            not_after,
            profile: Some(checked.profile.name().to_owned()),
            replaces: None,
        };
        let order = match self.new_order(acct, req).await {
            Ok(order) => order,
            // The names were checked against the same rules; a scope that
            // changed meanwhile is still the CSR's problem.
            Err(e) if e.kind == ErrorKind::RejectedIdentifier => {
                return Ok(Placed::Refused(vec![(Field::Csr, with_subproblems(&e))]))
            }
            Err(e) => return Err(e),
        };
        let now = self.clock().now();
        let stored = PortalOrder {
            order: order.id,
            organization: org,
            csr: checked.csr_der,
            placed_by: placed_by.to_owned(),
            created_at: now,
        };
        let audit = Audit::by(placed_by.to_owned(), Some(org), now);
        let details = json!({"order": order.id, "account": acct.id, "names": order.names, "profile": order.profile.name(), "not_after": order.not_after.map(|t| t.unix_timestamp())});
        self.store()
            .write(move |c| {
                sa::portal_orders::insert_order(c, &stored)?;
                audit.record(
                    c,
                    "portal.order",
                    format!("order:{}", stored.order),
                    None,
                    details,
                )
            })
            .await?;
        tracing::info!(
            order = order.id.0,
            organization = org.0,
            "portal order placed"
        );
        Ok(Placed::Order(order.id))
    }

    /// The organization's portal account, made on its first request.
    async fn portal_account(&self, org: OrganizationId) -> Result<Account> {
        let existing = self
            .store()
            .read(move |c| sa::portal_orders::account_of(c, org))
            .await?;
        let id = match existing {
            Some(id) => id,
            None => match self.create_portal_account(org).await {
                Ok(id) => id,
                // A concurrent first request made it.
                Err(e) if e.kind == ErrorKind::Conflict => self
                    .store()
                    .read(move |c| sa::portal_orders::account_of(c, org))
                    .await?
                    .ok_or(e)?,
                Err(e) => return Err(e),
            },
        };
        self.account_for_request(id).await.map_err(|_| {
            Error::unauthorized(
                "certificate requests in the portal are stopped for this organization \
                 (its portal account was deactivated by the CA); contact the CA",
            )
        })
    }

    /// A new key whose private half is dropped here: the account can act
    /// only through the portal, never over ACME. Its credential, the
    /// account and the binding are written in one transaction, with the
    /// registration's audit event.
    async fn create_portal_account(&self, org: OrganizationId) -> Result<crate::core::AccountId> {
        let key = AccountKey::from_jwk(&new_public_jwk()?)?;
        let (key_id, hmac) = (random_key_id()?, random_bytes::<32>()?);
        let sealed = crate::vetting::sealing::seal(&self.cfg().vetting, &key_id, &hmac)?;
        let now = self.clock().now();
        let audit = Audit::by(String::new(), Some(org), now);
        let new = sa::accounts::NewAccount {
            key_thumbprint: key.thumbprint().to_owned(),
            jwk: key.jwk().clone(),
            contact: Vec::new(),
            eab_credential: None,
            // The customer placing the request accepted the agreement in
            // the portal.
            terms_version: self.cfg().agreement.version.clone(),
        };
        self.store()
            .write(move |c| {
                let cred = sa::eab::create(
                    c,
                    sa::eab::NewEab {
                        key_id: &key_id,
                        organization: org,
                        hmac_key: &sealed,
                        note: PORTAL_NOTE,
                        single_use: true,
                        expires_at: None,
                    },
                    now,
                )?;
                let new = sa::accounts::NewAccount {
                    eab_credential: Some(cred.id),
                    ..new
                };
                let created = sa::accounts::create_with(c, new, now, |c, a| {
                    sa::portal_orders::bind_account(c, org, a.id, cred.id, now)?;
                    record_portal_account(c, audit, a, &key_id, cred.id, org)
                })?;
                match created {
                    Created::New(a) => Ok(a.id),
                    Created::Existing(_) => Err(Error::internal("a fresh key was registered")),
                }
            })
            .await
    }

    /// The portal order `id` of `org` with the order itself; another
    /// organization's is not found.
    async fn portal_order_of(
        &self,
        org: OrganizationId,
        id: OrderId,
    ) -> Result<(PortalOrder, Order)> {
        self.store()
            .read(move |c| {
                let stored = sa::portal_orders::order_of(c, org, id)?
                    .ok_or_else(|| Error::not_found("no such request"))?;
                let order =
                    sa::orders::load(c, id)?.ok_or_else(|| Error::not_found("no such request"))?;
                Ok((stored, order))
            })
            .await
    }

    /// The portal order `id` of `org`, with what to place for each name.
    pub async fn portal_order(&self, org: OrganizationId, id: OrderId) -> Result<PortalOrderView> {
        let (stored, order) = self.portal_order_of(org, id).await?;
        let acct = self.store().account(order.account_id).await?;
        let thumbprint = acct.map(|a| a.key_thumbprint).unwrap_or_default();
        let refusal = self
            .store()
            .read(move |c| sa::portal_orders::gate_refusal(c, id))
            .await?
            .and_then(|r| serde_json::from_str::<Value>(&r).ok())
            .and_then(|r| r["detail"].as_str().map(str::to_owned));
        let cert_id = order.certificate;
        let serial = match cert_id {
            Some(cid) => self
                .store()
                .read(move |c| sa::certificates::by_id(c, cid))
                .await?
                .map(|c| c.serial),
            None => None,
        };
        Ok(view(
            stored,
            order,
            &thumbprint,
            refusal,
            serial,
            self.clock().now(),
        ))
    }

    /// The organization's newest portal orders.
    pub async fn portal_orders(&self, org: OrganizationId) -> Result<Vec<Order>> {
        self.store()
            .read(move |c| {
                let ids = sa::portal_orders::order_ids_of(c, org, LISTED_ORDERS)?;
                let mut orders = Vec::with_capacity(ids.len());
                for id in ids {
                    orders.extend(sa::orders::load(c, id)?);
                }
                Ok(orders)
            })
            .await
    }

    /// "Check now": answers the chosen challenge of every pending name
    /// (`methods`: the authorization and the method the customer placed;
    /// http-01 where none is given and it is offered), waits for the
    /// checks, and once every name is valid finalizes with the stored CSR.
    pub async fn check_portal_order(
        &self,
        org: OrganizationId,
        id: OrderId,
        methods: &[(AuthzId, ChallengeType)],
    ) -> Result<OrderStatus> {
        let (stored, order) = self.portal_order_of(org, id).await?;
        let acct = self.account_for_request(order.account_id).await?;
        let now = self.clock().now();
        if order.status(now) == OrderStatus::Pending {
            for authz in &order.authorizations {
                if authz.status(now) != AuthorizationStatus::Pending {
                    continue;
                }
                let chosen = methods.iter().find(|(a, _)| *a == authz.id).map(|m| m.1);
                if let Some(ch) = pick_challenge(authz, chosen) {
                    self.respond_challenge(&acct, ch).await?;
                }
            }
        }
        let order = self.settled(&acct, id).await?;
        if order.status(self.clock().now()) != OrderStatus::Ready {
            return Ok(order.status(self.clock().now()));
        }
        let order = self.finalize(&acct, id, &stored.csr).await?;
        Ok(order.status(self.clock().now()))
    }

    /// The order once no check of it is running any more, or as it is
    /// when the wait (`acme.challenge_wait_ms`) runs out.
    async fn settled(&self, acct: &Account, id: OrderId) -> Result<Order> {
        let deadline = tokio::time::Instant::now() + self.challenge_wait();
        loop {
            let order = self.order(acct, id).await?;
            let running = order.authorizations.iter().any(|a| {
                a.challenges
                    .iter()
                    .any(|c| c.status == ChallengeStatus::Processing)
            });
            if !running || tokio::time::Instant::now() >= deadline {
                return Ok(order);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// One page of the organization's certificates (its ACME clients' and
    /// the portal's), newest first, and the cursor of the next page.
    pub async fn organization_certificates(
        &self,
        org: OrganizationId,
        after: Option<CertificateId>,
        limit: i64,
    ) -> Result<(Vec<certificate_search::Found>, Option<CertificateId>)> {
        let filter = certificate_search::Filter {
            organization: Some(certificate_search::OrgFilter::Id(org)),
            ..Default::default()
        };
        let mut found = self
            .store()
            .read(move |c| certificate_search::search(c, &filter, after, limit + 1))
            .await?;
        let next = if found.len() as i64 > limit {
            found.truncate(limit as usize);
            found.last().map(|f| f.id)
        } else {
            None
        };
        Ok((found, next))
    }

    /// The organization's certificate with `serial` (hex, any case, colons
    /// allowed); another organization's is not found.
    pub async fn organization_certificate(
        &self,
        org: OrganizationId,
        serial: &str,
    ) -> Result<Certificate> {
        let serial =
            normalize_serial(serial).ok_or_else(|| Error::not_found("no such certificate"))?;
        self.store()
            .read(move |c| sa::portal_orders::certificate_of(c, org, &serial))
            .await?
            .ok_or_else(|| Error::not_found("no such certificate"))
    }

    /// The certificate in `format`.
    pub fn certificate_file(&self, cert: &Certificate, format: Download) -> Vec<u8> {
        match format {
            Download::PemChain => {
                let leaf = pem::encode(&pem::Pem::new("CERTIFICATE", cert.der.clone()));
                format!("{leaf}{}", self.ca().intermediate_pem()).into_bytes()
            }
            Download::Der => cert.der.clone(),
            Download::Pkcs7 => ca::pkcs7::certs_only(&[&cert.der, self.ca().intermediate_der()]),
        }
    }
}

/// The DER of a pasted PEM request, or the message for the field.
fn csr_der(text: &str) -> std::result::Result<Vec<u8>, String> {
    if text.trim().is_empty() {
        return Err("paste the CSR (PEM, \"-----BEGIN CERTIFICATE REQUEST-----\")".into());
    }
    if text.len() > MAX_CSR_TEXT {
        return Err(format!(
            "the CSR is longer than {} KiB",
            MAX_CSR_TEXT / 1024
        ));
    }
    let parsed = pem::parse(text.trim()).map_err(|_| {
        "the CSR is not PEM: paste it with its \"-----BEGIN CERTIFICATE REQUEST-----\" and \"-----END CERTIFICATE REQUEST-----\" lines".to_owned()
    })?;
    match parsed.tag() {
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => Ok(parsed.into_contents()),
        other => Err(format!(
            "this is a {other:?} PEM block, not a CSR (\"CERTIFICATE REQUEST\")"
        )),
    }
}

/// The CSR's names outside the organization's scope, or wildcards for EV.
fn names_problem(org: &Organization, names: &[String], profile: Option<Profile>) -> Option<String> {
    let outside: Vec<&str> = names
        .iter()
        .filter(|n| !org.data.in_scope(n))
        .map(String::as_str)
        .collect();
    if !outside.is_empty() {
        return Some(format!(
            "outside the domain scope approved for '{}': {}",
            org.data.certificate_name(),
            outside.join(", ")
        ));
    }
    let wildcard = names.iter().find(|n| n.starts_with("*."));
    match (profile, wildcard) {
        (Some(p), Some(w)) if !p.allows_wildcards() => Some(format!(
            "{} certificates cannot name a wildcard ({w})",
            p.name().to_uppercase()
        )),
        _ => None,
    }
}

/// An error's detail with its subproblems' details, for one message.
fn with_subproblems(e: &Error) -> String {
    if e.subproblems.is_empty() {
        return e.detail.clone();
    }
    let parts: Vec<&str> = e.subproblems.iter().map(|s| s.detail.as_str()).collect();
    parts.join("; ")
}

/// Lower-case hex without colons, as stored; `None` when it cannot be a
/// serial (nothing is looked up for it).
fn normalize_serial(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(|c| *c != ':').collect();
    let ok = !hex.is_empty() && hex.len() <= 64 && hex.chars().all(|c| c.is_ascii_hexdigit());
    ok.then(|| hex.to_ascii_lowercase())
}

/// The challenge of `authz` to answer: the chosen method's, or http-01's
/// when it is offered, else dns-01's; only a pending one.
fn pick_challenge(
    authz: &crate::core::Authorization,
    chosen: Option<ChallengeType>,
) -> Option<crate::core::ChallengeId> {
    let find = |kind: ChallengeType| authz.challenges.iter().find(|c| c.kind == kind);
    let ch = match chosen {
        Some(kind) => find(kind),
        None => find(ChallengeType::Http01).or_else(|| find(ChallengeType::Dns01)),
    }?;
    (ch.status == ChallengeStatus::Pending).then_some(ch.id)
}

/// The order as the customer's page shows it.
fn view(
    stored: PortalOrder,
    order: Order,
    thumbprint: &str,
    refusal: Option<String>,
    serial: Option<String>,
    now: OffsetDateTime,
) -> PortalOrderView {
    let names = order
        .authorizations
        .iter()
        .map(|a| name_proof(a, thumbprint, now))
        .collect();
    let status = order.status(now);
    let problem = order
        .error
        .as_ref()
        .and_then(|e| e["detail"].as_str().map(str::to_owned))
        .or_else(|| (status == OrderStatus::Ready).then_some(refusal).flatten());
    PortalOrderView {
        status,
        placed_by: stored.placed_by,
        placed_at: stored.created_at,
        names,
        serial,
        problem,
        order,
    }
}

fn name_proof(a: &crate::core::Authorization, thumbprint: &str, now: OffsetDateTime) -> NameProof {
    let key_authorization = |token: &str| format!("{token}.{thumbprint}");
    let http01 = a
        .challenges
        .iter()
        .find(|c| c.kind == ChallengeType::Http01)
        .map(|c| Http01 {
            url: format!(
                "http://{}/.well-known/acme-challenge/{}",
                a.identifier, c.token
            ),
            content: key_authorization(&c.token),
        });
    let dns01 = a
        .challenges
        .iter()
        .find(|c| c.kind == ChallengeType::Dns01)
        .map(|c| Dns01 {
            name: crate::va::dns01::challenge_name(&a.identifier),
            value: crate::va::dns01::expected_txt(&key_authorization(&c.token)),
        });
    let error = a
        .challenges
        .iter()
        .filter_map(|c| c.error.as_ref())
        .find_map(|e| e["detail"].as_str().map(str::to_owned));
    NameProof {
        authorization: a.id,
        name: a.order_name(),
        status: a.status(now),
        checking: a
            .challenges
            .iter()
            .any(|c| c.status == ChallengeStatus::Processing),
        http01,
        dns01,
        error,
    }
}

/// The registration of a portal account, in its own transaction.
fn record_portal_account(
    c: &mut sa::DbConn,
    audit: Audit,
    account: &Account,
    key_id: &str,
    credential: EabId,
    org: OrganizationId,
) -> Result<()> {
    let id = account.id;
    audit.acting_as(id).record(
        c,
        "account.register",
        format!("account:{id}"),
        None,
        json!({
            "account": id,
            "key_thumbprint": account.key_thumbprint,
            "eab_key_id": key_id,
            "eab_credential": credential,
            "organization": org,
            "portal": true,
        }),
    )
}

/// A P-256 public key as a JWK (RFC 7518 §6.2.1); the private key is
/// generated and dropped.
fn new_public_jwk() -> Result<Map<String, Value>> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| Error::internal("generating the portal account key failed"))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| Error::internal("reading the portal account key failed"))?;
    // Uncompressed point: 0x04, x (32 bytes), y (32 bytes).
    let point = pair.public_key().as_ref();
    if point.len() != 65 {
        return Err(Error::internal("unexpected P-256 public key length"));
    }
    let jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": B64.encode(&point[1..33]),
        "y": B64.encode(&point[33..]),
    });
    match jwk {
        Value::Object(m) => Ok(m),
        _ => Err(Error::internal("JWK is not an object")),
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Error::internal("OS random number generator failed"))?;
    Ok(b)
}

/// A credential key id as `vetting::eab` makes them.
fn random_key_id() -> Result<String> {
    Ok(format!("kid-{}", B64.encode(random_bytes::<12>()?)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_serial_is_looked_up_only_when_it_can_be_one() {
        assert_eq!(normalize_serial("0A:1b:FF").as_deref(), Some("0a1bff"));
        assert_eq!(normalize_serial(""), None);
        assert_eq!(normalize_serial("12g4"), None);
        assert_eq!(normalize_serial(&"a".repeat(65)), None);
    }

    #[test]
    fn a_certificate_is_revoked_before_it_is_expired() {
        let now = OffsetDateTime::now_utc();
        let past = now - Duration::days(1);
        let future = now + Duration::days(1);
        assert_eq!(
            CertificateStatus::of(true, future, now),
            CertificateStatus::Revoked
        );
        assert_eq!(
            CertificateStatus::of(true, past, now),
            CertificateStatus::Revoked
        );
        assert_eq!(
            CertificateStatus::of(false, past, now),
            CertificateStatus::Expired
        );
        assert_eq!(
            CertificateStatus::of(false, future, now),
            CertificateStatus::Valid
        );
    }

    #[test]
    fn a_pasted_csr_must_be_a_request_in_pem() {
        assert!(csr_der("   ").unwrap_err().contains("paste the CSR"));
        assert!(csr_der("MIIB...").unwrap_err().contains("not PEM"));
        let cert = pem::encode(&pem::Pem::new("CERTIFICATE", vec![1, 2, 3]));
        assert!(csr_der(&cert)
            .unwrap_err()
            .contains("\"CERTIFICATE\" PEM block"));
        let req = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", vec![1, 2, 3]));
        assert_eq!(csr_der(&req).unwrap(), vec![1, 2, 3]);
        let long = format!("{req}{}", " ".repeat(MAX_CSR_TEXT));
        assert!(csr_der(&long).unwrap_err().contains("longer than"));
    }

    #[test]
    fn the_portal_account_key_is_a_p256_jwk_with_a_thumbprint() {
        let jwk = new_public_jwk().unwrap();
        let key = AccountKey::from_jwk(&jwk).unwrap();
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(key.thumbprint().len(), 43);
        assert_ne!(new_public_jwk().unwrap(), jwk, "a fresh key each time");
    }
}
