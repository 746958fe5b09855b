//! Organizations, their vetting by CA staff, the gate that issuance passes
//! through, and the External Account Binding credentials that bind ACME
//! accounts to organizations.
//!
//! Every staff action goes through `Vetting` (the admin API and the CLI
//! both call it) and is written with its audit event in one transaction.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::config::VettingConfig;
use crate::core::OrganizationId;
use crate::error::{Error, ErrorKind, Result};
use crate::sa::{self, audit::NewEvent, organizations::StatusChange, Store};

pub mod checks;
pub mod eab;
pub mod gate;
pub mod organization;
pub mod sealing;

use checks::{approval_blockers, vetted_at, Check, CheckRecord, Transition, VettingStatus};
use organization::OrganizationData;

/// An organization and the state of its vetting.
#[derive(Debug, Clone, Serialize)]
pub struct Organization {
    pub id: OrganizationId,
    pub data: OrganizationData,
    pub status: VettingStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub data_changed_at: OffsetDateTime,
    pub status_reason: Option<String>,
    pub approved_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub approved_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub vetted_at: Option<OffsetDateTime>,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Organization {
    /// The status at `now`: an approval whose data is older than `max_age`
    /// has expired, whether or not a sweep has recorded it yet.
    pub fn effective_status(&self, now: OffsetDateTime, max_age: Duration) -> VettingStatus {
        match (self.status, self.vetted_at) {
            (VettingStatus::Approved, Some(v)) if v + max_age > now => VettingStatus::Approved,
            (VettingStatus::Approved, _) => VettingStatus::Expired,
            (s, _) => s,
        }
    }

    /// When the vetting stops being usable, if approved.
    pub fn vetting_expires(&self, max_age: Duration) -> Option<OffsetDateTime> {
        self.vetted_at.map(|v| v + max_age)
    }

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
}

fn subject(id: OrganizationId) -> String {
    format!("organization:{id}")
}

fn invalid(problems: Vec<String>) -> Error {
    Error::malformed(format!(
        "invalid organization data: {}",
        problems.join("; ")
    ))
}

impl Vetting {
    pub fn new(store: Store, cfg: VettingConfig) -> Vetting {
        Vetting { store, cfg }
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
        let now = sa::now();
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
        let now = sa::now();
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
        let problems = record.problems();
        if !problems.is_empty() {
            return Err(Error::malformed(format!(
                "invalid check: {}",
                problems.join("; ")
            )));
        }
        let now = sa::now();
        let performed_at = performed_at.unwrap_or(now);
        if performed_at > now + Duration::minutes(5) {
            return Err(Error::malformed("performed_at lies in the future"));
        }
        let actor = actor.to_owned();
        self.store
            .write(move |c| {
                let org = sa::organizations::by_id(c, id)?.ok_or_else(|| not_found(id))?;
                let kind = record.kind();
                if org.data.level == organization::Level::Ov
                    && matches!(
                        kind,
                        checks::CheckKind::EvRegistration | checks::CheckKind::EvBusinessCategory
                    )
                {
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
        let actor = actor.to_owned();
        let four_eyes = self.cfg.four_eyes;
        let max_age = self.cfg.max_age();
        let now = sa::now();
        self.store
            .write(move |c| {
                let org = sa::organizations::by_id(c, id)?.ok_or_else(|| not_found(id))?;
                let from = org.effective_status(now, max_age);
                let to = t.apply(from).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "cannot {} an organization that is {}",
                            t.as_str(),
                            from.as_str()
                        ),
                    )
                })?;
                let mut approval = None;
                if t == Transition::Approve || t == Transition::Reinstate {
                    let checks = sa::organizations::checks(c, id)?;
                    let approver =
                        (four_eyes && t == Transition::Approve).then_some(actor.as_str());
                    let blockers =
                        approval_blockers(org.data.level, &checks, org.data_changed_at, approver);
                    if !blockers.is_empty() {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!("cannot {}: {}", t.as_str(), blockers.join("; ")),
                        ));
                    }
                    let v = vetted_at(org.data.level, &checks, org.data_changed_at)
                        .ok_or_else(|| Error::internal("approved checks without dates"))?;
                    if v + max_age <= now {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!(
                                "cannot {}: the checks are older than {} days; record them again",
                                t.as_str(),
                                max_age.whole_days()
                            ),
                        ));
                    }
                    if t == Transition::Approve {
                        approval = Some(v);
                    }
                }
                // An expired approval is stored as approved; move it from
                // what is stored.
                let changed = sa::organizations::change_status(
                    c,
                    id,
                    StatusChange {
                        from: org.status,
                        to,
                        reason: reason.as_deref(),
                        approval: approval.map(|v| (actor.as_str(), v)),
                        reset_checks: t == Transition::Reopen,
                    },
                    now,
                )?;
                if !changed {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        "the organization changed meanwhile; try again",
                    ));
                }
                if to == VettingStatus::Approved {
                    sa::organizations::clear_gate_refusals(c, id)?;
                }
                sa::audit::append(
                    c,
                    NewEvent {
                        actor: &actor,
                        action: &format!("organization.{}", t.as_str()),
                        organization: Some(id),
                        subject: subject(id),
                        reason: reason.as_deref(),
                        details: serde_json::json!({"from": from, "to": to}),
                    },
                    now,
                )?;
                sa::organizations::by_id(c, id)?.ok_or_else(|| not_found(id))
            })
            .await
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

    pub fn max_age(&self) -> Duration {
        self.cfg.max_age()
    }
}

fn not_found(id: OrganizationId) -> Error {
    Error::not_found(format!("no organization {id}"))
}
