//! Vetting checks (the human steps of the paper process), the status
//! machine they drive, and what approval requires.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::organization::Level;

/// Where a fact was checked: always a source independent of the
/// applicant (BR 3.2.2.1, EVG 11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThirdPartySource {
    /// Teikoku Databank company data.
    Tdb,
    /// NTT directory (NTT104).
    Ntt104,
    /// The commercial (法人) registry.
    CommercialRegistry,
    Other,
}

/// One recorded check, as staff enter it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckRecord {
    /// The organization exists, per a third-party source.
    Existence {
        source: ThirdPartySource,
        reference: String,
        passed: bool,
        #[serde(default)]
        notes: String,
    },
    /// The applicant's intent confirmed by telephone, at a number taken
    /// from a third-party source, never from the applicant.
    PhoneIntent {
        number_called: String,
        number_source: ThirdPartySource,
        person_reached: String,
        confirmed: bool,
        #[serde(default)]
        notes: String,
    },
    /// The domain scope reviewed against the organization.
    DomainScope {
        passed: bool,
        #[serde(default)]
        notes: String,
    },
    /// EV: registration and jurisdiction of incorporation verified.
    EvRegistration {
        reference: String,
        passed: bool,
        #[serde(default)]
        notes: String,
    },
    /// EV: business category verified.
    EvBusinessCategory {
        passed: bool,
        #[serde(default)]
        notes: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Existence,
    PhoneIntent,
    DomainScope,
    EvRegistration,
    EvBusinessCategory,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Existence => "existence",
            CheckKind::PhoneIntent => "phone_intent",
            CheckKind::DomainScope => "domain_scope",
            CheckKind::EvRegistration => "ev_registration",
            CheckKind::EvBusinessCategory => "ev_business_category",
        }
    }

    /// How staff and clients read it in messages.
    pub fn describe(self) -> &'static str {
        match self {
            CheckKind::Existence => "third-party existence check",
            CheckKind::PhoneIntent => "applicant telephone confirmation",
            CheckKind::DomainScope => "domain scope review",
            CheckKind::EvRegistration => "EV registration and jurisdiction verification",
            CheckKind::EvBusinessCategory => "EV business category verification",
        }
    }

    /// Checks approval requires at each level.
    pub fn required(level: Level) -> &'static [CheckKind] {
        match level {
            Level::Ov => &[
                CheckKind::Existence,
                CheckKind::PhoneIntent,
                CheckKind::DomainScope,
            ],
            Level::Ev => &[
                CheckKind::Existence,
                CheckKind::PhoneIntent,
                CheckKind::DomainScope,
                CheckKind::EvRegistration,
                CheckKind::EvBusinessCategory,
            ],
        }
    }
}

impl CheckRecord {
    pub fn kind(&self) -> CheckKind {
        match self {
            CheckRecord::Existence { .. } => CheckKind::Existence,
            CheckRecord::PhoneIntent { .. } => CheckKind::PhoneIntent,
            CheckRecord::DomainScope { .. } => CheckKind::DomainScope,
            CheckRecord::EvRegistration { .. } => CheckKind::EvRegistration,
            CheckRecord::EvBusinessCategory { .. } => CheckKind::EvBusinessCategory,
        }
    }

    pub fn passed(&self) -> bool {
        match self {
            CheckRecord::Existence { passed, .. }
            | CheckRecord::DomainScope { passed, .. }
            | CheckRecord::EvRegistration { passed, .. }
            | CheckRecord::EvBusinessCategory { passed, .. } => *passed,
            CheckRecord::PhoneIntent { confirmed, .. } => *confirmed,
        }
    }

    /// Problems with the record itself.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        match self {
            CheckRecord::Existence { reference, .. }
            | CheckRecord::EvRegistration { reference, .. } => {
                if reference.trim().is_empty() {
                    p.push("reference is required".into());
                }
            }
            CheckRecord::PhoneIntent {
                number_called,
                person_reached,
                ..
            } => {
                if !number_called.chars().any(|c| c.is_ascii_digit())
                    || !number_called
                        .chars()
                        .all(|c| c.is_ascii_digit() || "+-() ".contains(c))
                {
                    p.push("number_called must be a telephone number".into());
                }
                if person_reached.trim().is_empty() {
                    p.push("person_reached is required".into());
                }
            }
            CheckRecord::DomainScope { .. } | CheckRecord::EvBusinessCategory { .. } => {}
        }
        p
    }
}

/// A check as stored: append-only.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: i64,
    pub organization: i64,
    #[serde(flatten)]
    pub record: CheckRecord,
    pub performed_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub performed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

/// Vetting status (an append-only history of changes is in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VettingStatus {
    Pending,
    Approved,
    Rejected,
    Suspended,
    Expired,
}

impl VettingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VettingStatus::Pending => "pending",
            VettingStatus::Approved => "approved",
            VettingStatus::Rejected => "rejected",
            VettingStatus::Suspended => "suspended",
            VettingStatus::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<VettingStatus> {
        Some(match s {
            "pending" => VettingStatus::Pending,
            "approved" => VettingStatus::Approved,
            "rejected" => VettingStatus::Rejected,
            "suspended" => VettingStatus::Suspended,
            "expired" => VettingStatus::Expired,
            _ => return None,
        })
    }
}

/// What staff can do to an organization's vetting status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Approve,
    Reject,
    Suspend,
    Reinstate,
    /// Start vetting again after rejection or expiry (fresh checks needed).
    Reopen,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Approve => "approve",
            Transition::Reject => "reject",
            Transition::Suspend => "suspend",
            Transition::Reinstate => "reinstate",
            Transition::Reopen => "reopen",
        }
    }

    /// The status machine: pending → approved | rejected; approved →
    /// suspended (→ approved) | expired; rejected | expired → pending.
    pub fn apply(self, from: VettingStatus) -> Option<VettingStatus> {
        use Transition::*;
        use VettingStatus as S;
        Some(match (self, from) {
            (Approve, S::Pending) => S::Approved,
            (Reject, S::Pending) => S::Rejected,
            (Suspend, S::Approved) => S::Suspended,
            (Reinstate, S::Suspended) => S::Approved,
            (Reopen, S::Rejected | S::Expired) => S::Pending,
            _ => return None,
        })
    }

    /// Whether staff must give a reason.
    pub fn needs_reason(self) -> bool {
        !matches!(self, Transition::Approve)
    }
}

/// The checks that count for approval now: for each kind, the latest one
/// recorded after the organization's data last changed.
pub fn current_checks(
    checks: &[Check],
    data_changed_at: OffsetDateTime,
) -> std::collections::HashMap<CheckKind, &Check> {
    let mut latest: std::collections::HashMap<CheckKind, &Check> = std::collections::HashMap::new();
    for c in checks.iter().filter(|c| c.recorded_at >= data_changed_at) {
        let k = c.record.kind();
        if latest
            .get(&k)
            .is_none_or(|prev| (c.recorded_at, c.id) > (prev.recorded_at, prev.id))
        {
            latest.insert(k, c);
        }
    }
    latest
}

/// What still stands between the organization and approval; empty when it
/// may be approved. With `approver`, the four-eyes rule is applied too.
pub fn approval_blockers(
    level: Level,
    checks: &[Check],
    data_changed_at: OffsetDateTime,
    approver: Option<&str>,
) -> Vec<String> {
    let current = current_checks(checks, data_changed_at);
    let mut blockers = Vec::new();
    for kind in CheckKind::required(level) {
        match current.get(kind) {
            None => blockers.push(format!("{} not recorded", kind.describe())),
            Some(c) if !c.record.passed() => blockers.push(format!("{} failed", kind.describe())),
            Some(c) if approver == Some(c.performed_by.as_str()) => blockers.push(format!(
                "four-eyes rule: {} was recorded by the approver {:?}",
                kind.describe(),
                c.performed_by
            )),
            Some(_) => {}
        }
    }
    blockers
}

/// When the vetting data dates from: the oldest check behind approval.
pub fn vetted_at(
    level: Level,
    checks: &[Check],
    data_changed_at: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let current = current_checks(checks, data_changed_at);
    CheckKind::required(level)
        .iter()
        .map(|k| current.get(k).map(|c| c.performed_at))
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: i64, record: CheckRecord, by: &str, at: OffsetDateTime) -> Check {
        Check {
            id,
            organization: 1,
            record,
            performed_by: by.into(),
            performed_at: at,
            recorded_at: at,
        }
    }

    fn passing(now: OffsetDateTime, by: &str) -> Vec<Check> {
        vec![
            check(
                1,
                CheckRecord::Existence {
                    source: ThirdPartySource::Tdb,
                    reference: "TDB 123".into(),
                    passed: true,
                    notes: String::new(),
                },
                by,
                now,
            ),
            check(
                2,
                CheckRecord::PhoneIntent {
                    number_called: "03-1234-5678".into(),
                    number_source: ThirdPartySource::Ntt104,
                    person_reached: "佐藤".into(),
                    confirmed: true,
                    notes: String::new(),
                },
                by,
                now,
            ),
            check(
                3,
                CheckRecord::DomainScope {
                    passed: true,
                    notes: String::new(),
                },
                by,
                now,
            ),
        ]
    }

    #[test]
    fn transitions() {
        use Transition::*;
        use VettingStatus as S;
        assert_eq!(Approve.apply(S::Pending), Some(S::Approved));
        assert_eq!(Approve.apply(S::Rejected), None);
        assert_eq!(Approve.apply(S::Approved), None);
        assert_eq!(Suspend.apply(S::Pending), None);
        assert_eq!(Reinstate.apply(S::Suspended), Some(S::Approved));
        assert_eq!(Reopen.apply(S::Expired), Some(S::Pending));
        assert_eq!(Reject.apply(S::Approved), None);
    }

    #[test]
    fn approval_needs_every_check_and_four_eyes() {
        let now = OffsetDateTime::now_utc();
        let mut checks = passing(now, "alice");
        assert!(approval_blockers(Level::Ov, &checks, now, Some("bob")).is_empty());
        let four = approval_blockers(Level::Ov, &checks, now, Some("alice"));
        assert_eq!(four.len(), 3);
        assert!(four[0].contains("four-eyes"));
        let ev = approval_blockers(Level::Ev, &checks, now, Some("bob"));
        assert_eq!(ev.len(), 2, "{ev:?}");
        checks.remove(1);
        assert_eq!(
            approval_blockers(Level::Ov, &checks, now, None),
            vec!["applicant telephone confirmation not recorded"]
        );
    }

    #[test]
    fn the_latest_check_counts_and_edits_invalidate() {
        let now = OffsetDateTime::now_utc();
        let mut checks = passing(now, "alice");
        checks.push(check(
            4,
            CheckRecord::DomainScope {
                passed: false,
                notes: "not theirs".into(),
            },
            "carol",
            now + time::Duration::seconds(1),
        ));
        assert_eq!(
            approval_blockers(Level::Ov, &checks, now, None),
            vec!["domain scope review failed"]
        );
        let later = now + time::Duration::seconds(5);
        assert_eq!(approval_blockers(Level::Ov, &checks, later, None).len(), 3);
        assert_eq!(vetted_at(Level::Ov, &passing(now, "a"), now), Some(now));
    }

    #[test]
    fn phone_checks_must_come_from_a_third_party_source() {
        let v = serde_json::json!({"kind": "phone_intent", "number_called": "03-1", "number_source": "applicant", "person_reached": "x", "confirmed": true});
        assert!(serde_json::from_value::<CheckRecord>(v).is_err());
        let v = serde_json::json!({"kind": "domain_scope", "passed": true, "extra": 1});
        assert!(serde_json::from_value::<CheckRecord>(v).is_err());
    }
}
