//! Organizations, their vetting by CA staff, the gate that issuance passes
//! through, and the External Account Binding credentials that bind ACME
//! accounts to organizations.
//!
//! Every staff action goes through `Vetting` (the admin API and the CLI
//! both call it) and is written with its audit event in one transaction.

use time::{Duration, OffsetDateTime};

use crate::config::VettingConfig;
pub use crate::core::Organization;
use crate::core::{Clock, OrganizationId};
use crate::error::{Error, ErrorKind, Result};
use crate::sa::{self, audit::NewEvent, organizations::StatusChange, DbConn, Store};

pub mod accounts;
pub mod applications;
pub mod checks;
pub mod customers;
pub mod documents;
pub mod eab;
pub mod gate;
pub mod notices;
pub mod notify;
pub mod organization;
pub mod queue;
pub mod readiness;
pub mod seal;
pub mod sealing;
pub mod staff;
pub mod totp;

use checks::{
    approval_blockers, vetted_at, AgeRule, Check, CheckRecord, Transition, VettingStatus,
};
use organization::OrganizationData;

// The certificate subject is vetting's knowledge: defined here beside the
// service that vets the data it is built from.
impl Organization {
    /// The subject of certificates for this organization (BR 7.1.4.2).
    pub fn subject(&self) -> crate::ca::profile::SubjectInfo {
        let d = &self.data;
        crate::ca::profile::SubjectInfo {
            organization: d.certificate_name().to_owned(),
            country: d.office.country.clone(),
            state_or_province: Some(d.office.prefecture.clone()),
            locality: Some(d.office.locality.clone()),
            ev: d.ev.as_ref().map(|ev| crate::ca::profile::EvSubject {
                business_category: ev.business_category.as_str().to_owned(),
                serial_number: d.registration_number.clone(),
                jurisdiction_country: ev.jurisdiction_country.clone(),
                jurisdiction_state_or_province: ev.jurisdiction_state_or_province.clone(),
                jurisdiction_locality: ev.jurisdiction_locality.clone(),
            }),
        }
    }
}

/// The staff-facing service.
#[derive(Clone)]
pub struct Vetting {
    store: Store,
    cfg: VettingConfig,
    /// Vetting ages and audit times read this: the store's clock.
    clock: Clock,
    /// Set with `[mail]`: the approval notice is written.
    notices: Option<notify::NoticeLinks>,
}

fn subject(id: OrganizationId) -> String {
    format!("organization:{id}")
}

fn invalid(problems: Vec<organization::Problem>) -> Error {
    let english: Vec<String> = problems.iter().map(ToString::to_string).collect();
    Error::malformed(format!("invalid organization data: {}", english.join("; ")))
}

impl Vetting {
    /// Works on the store's clock, as every layer above the store does.
    pub fn new(store: Store, cfg: VettingConfig) -> Vetting {
        let clock = store.clock().clone();
        Vetting {
            store,
            cfg,
            clock,
            notices: None,
        }
    }

    /// With the notices `cfg` asks for (none without `[mail]`).
    pub fn from_config(store: Store, cfg: &crate::config::Config) -> Vetting {
        Vetting {
            notices: notify::NoticeLinks::from_config(cfg),
            ..Vetting::new(store, cfg.vetting.clone())
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn create(&self, actor: &str, data: OrganizationData) -> Result<Organization> {
        let problems = data.problems();
        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        let actor = actor.to_owned();
        let now = self.clock.now();
        let request = crate::http::current_request_id();
        self.store
            .write(move |c| {
                let org = sa::organizations::create(c, &data, &actor, now)?;
                sa::audit::append(
                    c,
                    NewEvent {
                        actor: &actor,
                        action: "organization.create",
                        organization: Some(org.id),
                        subject: subject(org.id),
                        reason: None,
                        details: serde_json::json!({"legal_name": data.legal_name, "level": data.level}),
                        request_id: request,
                    },
                    now,
                )?;
                Ok(org)
            })
            .await
    }

    /// Replaces the organization's data. An approved (or suspended)
    /// organization goes back to `pending`, and checks must be recorded
    /// again: they vouched for the old data.
    pub async fn edit(
        &self,
        actor: &str,
        id: OrganizationId,
        data: OrganizationData,
    ) -> Result<Organization> {
        let problems = data.problems();
        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        let actor = actor.to_owned();
        let now = self.clock.now();
        let request = crate::http::current_request_id();
        self.store
            .write(move |c| {
                let before = sa::organizations::by_id(c, id)?.ok_or_else(|| not_found(id))?;
                sa::organizations::replace_data(c, id, &data, now)?;
                sa::audit::append(
                    c,
                    NewEvent {
                        actor: &actor,
                        action: "organization.edit",
                        organization: Some(id),
                        subject: subject(id),
                        reason: None,
                        details: serde_json::json!({"status_before": before.status, "before": before.data, "after": data}),
                        request_id: request,
                    },
                    now,
                )?;
                sa::organizations::by_id(c, id)?.ok_or_else(|| not_found(id))
            })
            .await
    }

    pub async fn get(&self, id: OrganizationId) -> Result<Organization> {
        self.store
            .read(move |c| sa::organizations::by_id(c, id))
            .await?
            .ok_or_else(|| not_found(id))
    }

    pub async fn list(&self, status: Option<VettingStatus>) -> Result<Vec<Organization>> {
        self.store
            .read(move |c| sa::organizations::list(c, status))
            .await
    }

    pub async fn checks(&self, id: OrganizationId) -> Result<Vec<Check>> {
        self.get(id).await?;
        self.store
            .read(move |c| sa::organizations::checks(c, id))
            .await
    }

    /// Records a check (append-only). `performed_at` defaults to now and
    /// may not lie in the future.
    pub async fn record_check(
        &self,
        actor: &str,
        id: OrganizationId,
        record: CheckRecord,
        performed_at: Option<OffsetDateTime>,
    ) -> Result<Check> {
        let now = self.clock.now();
        let performed_at = performed_at.unwrap_or(now);
        if performed_at > now + Duration::minutes(5) {
            return Err(Error::malformed("performed_at lies in the future"));
        }
        let problems = record.problems(performed_at.date());
        if !problems.is_empty() {
            return Err(Error::malformed(format!(
                "invalid check: {}",
                problems.join("; ")
            )));
        }
        let actor = actor.to_owned();
        let request = crate::http::current_request_id();
        self.store
            .write(move |c| {
                let org = sa::organizations::by_id(c, id)?.ok_or_else(|| not_found(id))?;
                let kind = record.kind();
                if org.data.level == organization::Level::Ov && kind.ev_only() {
                    return Err(Error::malformed(format!(
                        "{} is only recorded for EV organizations",
                        kind.describe()
                    )));
                }
                let check =
                    sa::organizations::add_check(c, id, &record, &actor, performed_at, now)?;
                sa::audit::append(
                    c,
                    NewEvent {
                        actor: &actor,
                        action: "check.record",
                        organization: Some(id),
                        subject: subject(id),
                        reason: None,
                        details: serde_json::to_value(&check.record).unwrap_or_default(),
                        request_id: request,
                    },
                    now,
                )?;
                Ok(check)
            })
            .await
    }

    /// Approve, reject, suspend, reinstate or reopen. Approval is refused
    /// unless every check its level requires has passed (and, with the
    /// four-eyes rule, none was recorded by the approver).
    pub async fn transition(
        &self,
        actor: &str,
        id: OrganizationId,
        t: Transition,
        reason: Option<String>,
    ) -> Result<Organization> {
        if t.needs_reason() && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(Error::malformed(format!("{} needs a reason", t.as_str())));
        }
        let step = Step {
            actor: actor.to_owned(),
            t,
            reason,
            four_eyes: self.cfg.four_eyes,
            max_age: self.cfg.max_age(),
            now: self.clock.now(),
            request_id: crate::http::current_request_id(),
            notices: self.notices.clone(),
        };
        self.store.write(move |c| step.apply(c, id)).await
    }

    /// The audit trail, newest first.
    pub async fn audit(
        &self,
        org: Option<OrganizationId>,
        limit: i64,
    ) -> Result<Vec<sa::audit::AuditEvent>> {
        self.store
            .read(move |c| sa::audit::list(c, org, limit))
            .await
    }

    /// The organization's trust seal id, made now for one approved before
    /// seals existed; None for one never approved.
    pub async fn seal(&self, id: OrganizationId) -> Result<Option<String>> {
        let org = self.get(id).await?;
        if org.vetted_at.is_none() {
            return Ok(None);
        }
        let stored = self
            .store
            .read(move |c| sa::seals::of_organization(c, id))
            .await?;
        if stored.is_some() {
            return Ok(stored);
        }
        let now = self.clock.now();
        self.store
            .write(move |c| seal::create(c, id, now).map(Some))
            .await
    }

    /// The service that answers what seals say, on this store.
    pub fn seals(&self) -> seal::Seals {
        seal::Seals::new(self.store.clone(), self.max_age())
    }

    pub fn max_age(&self) -> Duration {
        self.cfg.max_age()
    }

    /// Whether an approver may not have recorded a check (the console
    /// shows the refusal before the button is pressed).
    pub fn four_eyes(&self) -> bool {
        self.cfg.four_eyes
    }
}

fn not_found(id: OrganizationId) -> Error {
    Error::not_found(format!("no organization {id}"))
}

/// One status transition, with what it is judged by.
struct Step {
    actor: String,
    t: Transition,
    reason: Option<String>,
    four_eyes: bool,
    max_age: Duration,
    now: OffsetDateTime,
    request_id: Option<crate::http::RequestId>,
    notices: Option<notify::NoticeLinks>,
}

impl Step {
    /// In the caller's transaction: the move must be allowed from the
    /// current status, approval must be earned, and the change and its
    /// audit event are written together.
    fn apply(&self, c: &mut DbConn, id: OrganizationId) -> Result<Organization> {
        let org = sa::organizations::by_id(c, id)?.ok_or_else(|| not_found(id))?;
        let from = org.effective_status(self.now, self.max_age);
        let to = self.t.apply(from).ok_or_else(|| {
            conflict(format!(
                "cannot {} an organization that is {}",
                self.t.as_str(),
                from.as_str()
            ))
        })?;
        if self.t == Transition::Renew && !applications::renewal_open(c, id)? {
            return Err(conflict("no renewal application is open"));
        }
        let approval = match self.t {
            Transition::Approve | Transition::Reinstate | Transition::Renew => {
                self.approval(c, &org)?
            }
            _ => None,
        };
        self.record(c, &org, to, approval)?;
        self.audit(c, id, from, to)?;
        let reason = self.reason.as_deref();
        applications::on_decision(c, id, self.t, &self.actor, reason, self.now)?;
        let after = sa::organizations::by_id(c, id)?.ok_or_else(|| not_found(id))?;
        if let (Transition::Approve, Some(links)) = (self.t, &self.notices) {
            notify::approved(c, links, &after, self.max_age, self.now)?;
        }
        Ok(after)
    }

    /// The checks behind an approval or a reinstatement: all required,
    /// passed, four-eyes (on approval) and not too old. On approval, the
    /// vetting date to store.
    fn approval(&self, c: &mut DbConn, org: &Organization) -> Result<Option<OffsetDateTime>> {
        let t = self.t;
        let checks = sa::organizations::checks(c, org.id)?;
        let approver = (self.four_eyes && t.approves()).then_some(self.actor.as_str());
        let age = AgeRule {
            now: self.now,
            cap: self.max_age,
        };
        let blockers =
            approval_blockers(org.data.level, &checks, org.data_changed_at, approver, age);
        if !blockers.is_empty() {
            return Err(conflict(format!(
                "cannot {}: {}",
                t.as_str(),
                blockers.join("; ")
            )));
        }
        let v = vetted_at(org.data.level, &checks, org.data_changed_at)
            .ok_or_else(|| Error::internal("approved checks without dates"))?;
        Ok(t.approves().then_some(v))
    }

    /// Moves the stored status (an expired approval is stored as approved;
    /// it moves from what is stored) unless someone else moved it first.
    fn record(
        &self,
        c: &mut DbConn,
        org: &Organization,
        to: VettingStatus,
        approval: Option<OffsetDateTime>,
    ) -> Result<()> {
        let changed = sa::organizations::change_status(
            c,
            org.id,
            StatusChange {
                from: org.status,
                to,
                reason: self.reason.as_deref(),
                approval: approval.map(|v| (self.actor.as_str(), v)),
                reset_checks: self.t == Transition::Reopen,
            },
            self.now,
        )?;
        if !changed {
            return Err(conflict("the organization changed meanwhile; try again"));
        }
        if to == VettingStatus::Approved {
            sa::organizations::clear_gate_refusals(c, org.id)?;
            seal::create(c, org.id, self.now)?;
        }
        Ok(())
    }

    fn audit(
        &self,
        c: &mut DbConn,
        id: OrganizationId,
        from: VettingStatus,
        to: VettingStatus,
    ) -> Result<()> {
        sa::audit::append(
            c,
            NewEvent {
                actor: &self.actor,
                action: &format!("organization.{}", self.t.as_str()),
                organization: Some(id),
                subject: subject(id),
                reason: self.reason.as_deref(),
                details: serde_json::json!({"from": from, "to": to}),
                request_id: self.request_id,
            },
            self.now,
        )
    }
}

fn conflict(detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::Conflict, detail)
}
