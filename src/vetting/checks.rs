//! Vetting checks: what a recorded check must contain, the status machine
//! they drive, and what approval requires.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

use crate::core::organization::Level;

pub use crate::core::vetting::{
    AgencyMethod, AuthorityMethod, Check, CheckKind, CheckRecord, CommunicationMethod,
    CommunicationSource, OperationalEvidence, Person, PlaceOfBusinessMethod, ScreenedParty,
    ScreeningList, ScreeningResult, ThirdPartySource, VettingStatus,
};

// The rules of vetting on the shared records (defined here, where the
// knowledge is; the types live in `core` so `sa` can store them).
impl CheckKind {
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
                CheckKind::EvPlaceOfBusiness,
                CheckKind::EvOperationalExistence,
                CheckKind::EvCommunication,
                CheckKind::EvAuthority,
                CheckKind::EvDeniedPartyScreening,
            ],
        }
    }

    /// Recorded only for EV organizations.
    pub fn ev_only(self) -> bool {
        CheckKind::required(Level::Ev)
            .iter()
            .skip(CheckKind::required(Level::Ov).len())
            .any(|k| *k == self)
    }

    /// How long the check may be relied on, counted from when it was
    /// performed: 398 days for every item (BR 4.2.1; EVG 11.14.3 (1) A–G,
    /// counted from the date collected, 11.14.3 (2)). Screening and the
    /// 11.5.2 (B) confirmation are not reusable under 11.14.1; reopening
    /// an organization discards every check, so each vetting cycle
    /// performs them afresh.
    pub fn max_age(self) -> Duration {
        Duration::days(MAX_CHECK_AGE_DAYS)
    }
}

/// BR 4.2.1 and EVG 11.14.3: the age limit of validated data.
pub const MAX_CHECK_AGE_DAYS: i64 = 398;

impl CheckRecord {
    /// Problems with the record itself, performed on `performed_on`.
    pub fn problems(&self, performed_on: Date) -> Vec<String> {
        let mut p = Vec::new();
        match self {
            CheckRecord::Existence { reference, .. }
            | CheckRecord::EvRegistration { reference, .. } => {
                require(&mut p, "reference", reference)
            }
            CheckRecord::PhoneIntent {
                number_called,
                person_reached,
                ..
            } => {
                require(&mut p, "person_reached", person_reached);
                phone_problem(&mut p, "number_called", number_called);
            }
            CheckRecord::DomainScope { .. } | CheckRecord::EvBusinessCategory { .. } => {}
            CheckRecord::EvPlaceOfBusiness {
                address, reference, ..
            } => {
                require(&mut p, "address", address);
                require(&mut p, "reference", reference);
            }
            CheckRecord::EvOperationalExistence {
                evidence,
                reference,
                ..
            } => {
                require(&mut p, "reference", reference);
                operational_problems(&mut p, evidence, performed_on);
            }
            CheckRecord::EvCommunication {
                method,
                reference,
                affirmative_response,
                ..
            } => {
                require(&mut p, "reference", reference);
                require(&mut p, "affirmative_response", affirmative_response);
                communication_problems(&mut p, method);
            }
            CheckRecord::EvAuthority {
                contract_signer,
                certificate_approver,
                reference,
                ..
            } => {
                require(&mut p, "reference", reference);
                require(&mut p, "contract_signer.name", &contract_signer.name);
                require(&mut p, "contract_signer.title", &contract_signer.title);
                require(
                    &mut p,
                    "certificate_approver.name",
                    &certificate_approver.name,
                );
                require(
                    &mut p,
                    "certificate_approver.title",
                    &certificate_approver.title,
                );
            }
            CheckRecord::EvDeniedPartyScreening {
                lists,
                screened,
                reference,
                ..
            } => {
                require(&mut p, "reference", reference);
                screening_problems(&mut p, lists, screened);
            }
        }
        p
    }
}

fn require(p: &mut Vec<String>, field: &str, value: &str) {
    if value.trim().is_empty() {
        p.push(format!("{field} is required"));
    }
}

fn phone_problem(p: &mut Vec<String>, field: &str, number: &str) {
    if !number.chars().any(|c| c.is_ascii_digit())
        || !number
            .chars()
            .all(|c| c.is_ascii_digit() || "+-() ".contains(c))
    {
        p.push(format!("{field} must be a telephone number"));
    }
}

/// EVG 11.6.2: three years counted to the day the check was performed.
fn operational_problems(p: &mut Vec<String>, evidence: &OperationalEvidence, on: Date) {
    match evidence {
        OperationalEvidence::ThreeYearsRegistered { registered_on } => {
            let third = registered_on
                .replace_year(registered_on.year() + 3)
                .unwrap_or_else(|_| registered_on.next_day().unwrap_or(*registered_on));
            if third > on {
                p.push(format!(
                    "evidence.registered_on {registered_on} is less than three years before {on}"
                ));
            }
        }
        OperationalEvidence::CurrentListing {} => {}
        OperationalEvidence::DemandDepositAccount { institution }
            if institution.trim().is_empty() =>
        {
            p.push("evidence.institution is required".into())
        }
        OperationalEvidence::VerifiedProfessionalLetter { author } if author.trim().is_empty() => {
            p.push("evidence.author is required".into())
        }
        _ => {}
    }
}

fn communication_problems(p: &mut Vec<String>, method: &CommunicationMethod) {
    match method {
        CommunicationMethod::Telephone { number } | CommunicationMethod::Fax { number } => {
            phone_problem(p, "method.number", number)
        }
        CommunicationMethod::Email { address } => {
            let ok = address
                .split_once('@')
                .is_some_and(|(l, d)| !l.trim().is_empty() && d.contains('.') && !d.contains('@'));
            if !ok {
                p.push("method.address must be an email address".into());
            }
        }
        CommunicationMethod::Postal { address } if address.trim().is_empty() => {
            p.push("method.address is required".into())
        }
        CommunicationMethod::Postal { .. } => {}
    }
}

/// EVG 11.12.2: every party screened, against at least one government
/// list and the CA's high-risk list (11.12.1).
fn screening_problems(p: &mut Vec<String>, lists: &[ScreeningList], screened: &[ScreenedParty]) {
    let list_set: std::collections::HashSet<_> = lists.iter().collect();
    let party_set: std::collections::HashSet<_> = screened.iter().collect();
    if lists.len() != list_set.len() {
        p.push("lists must not repeat a list".into());
    }
    if screened.len() != party_set.len() {
        p.push("screened must not repeat a party".into());
    }
    if !lists.iter().any(|l| *l != ScreeningList::CaHighRisk) {
        p.push("lists must include a government denied-party list".into());
    }
    if !list_set.contains(&ScreeningList::CaHighRisk) {
        p.push("lists must include ca_high_risk".into());
    }
    for party in ScreenedParty::ALL {
        if !party_set.contains(&party) {
            let name = serde_json::to_value(party).unwrap_or_default();
            p.push(format!(
                "screened must include {}",
                name.as_str().unwrap_or("?")
            ));
        }
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
    /// Approve a customer's renewal: the checks recorded since it was
    /// submitted replace the approval in force (or the expired one).
    Renew,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Approve => "approve",
            Transition::Reject => "reject",
            Transition::Suspend => "suspend",
            Transition::Reinstate => "reinstate",
            Transition::Reopen => "reopen",
            Transition::Renew => "renew",
        }
    }

    /// The status machine: pending → approved | rejected; approved →
    /// suspended (→ approved) | expired; rejected | expired → pending;
    /// approved | expired → approved again by a renewal.
    pub fn apply(self, from: VettingStatus) -> Option<VettingStatus> {
        use Transition::*;
        use VettingStatus as S;
        Some(match (self, from) {
            (Approve, S::Pending) => S::Approved,
            (Reject, S::Pending) => S::Rejected,
            (Suspend, S::Approved) => S::Suspended,
            (Reinstate, S::Suspended) => S::Approved,
            (Reopen, S::Rejected | S::Expired) => S::Pending,
            (Renew, S::Approved | S::Expired) => S::Approved,
            _ => return None,
        })
    }

    /// Whether staff must give a reason.
    pub fn needs_reason(self) -> bool {
        !matches!(self, Transition::Approve | Transition::Renew)
    }

    /// Whether it approves: the checks must be earned, by someone else
    /// than the approver under the four-eyes rule, and date the vetting.
    pub fn approves(self) -> bool {
        matches!(self, Transition::Approve | Transition::Renew)
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

/// The age rule checks are judged by: at `now`, each kind's own limit
/// (`CheckKind::max_age`), never more than the configured `cap`.
#[derive(Debug, Clone, Copy)]
pub struct AgeRule {
    pub now: OffsetDateTime,
    pub cap: Duration,
}

impl AgeRule {
    pub fn limit(&self, kind: CheckKind) -> Duration {
        kind.max_age().min(self.cap)
    }
}

/// What still stands between the organization and approval; empty when it
/// may be approved: each required check missing, failed or older than its
/// limit. With `approver`, the four-eyes rule is applied too.
pub fn approval_blockers(
    level: Level,
    checks: &[Check],
    data_changed_at: OffsetDateTime,
    approver: Option<&str>,
    age: AgeRule,
) -> Vec<String> {
    let current = current_checks(checks, data_changed_at);
    let mut blockers = Vec::new();
    for kind in CheckKind::required(level) {
        let limit = age.limit(*kind);
        match current.get(kind) {
            None => blockers.push(format!("{} not recorded", kind.describe())),
            Some(c) if !c.record.passed() => blockers.push(format!("{} failed", kind.describe())),
            Some(c) if c.performed_at + limit <= age.now => blockers.push(format!(
                "{} is older than {} days (performed {}); record it again",
                kind.describe(),
                limit.whole_days(),
                c.performed_at.date()
            )),
            Some(c) if approver.is_some_and(|a| same_person(a, &c.performed_by)) => {
                blockers.push(format!(
                    "four-eyes rule: {} was recorded by the approver {:?}",
                    kind.describe(),
                    c.performed_by
                ))
            }
            Some(_) => {}
        }
    }
    blockers
}

/// Whether two audit actors are one person. Staff identities
/// (`staff:NAME#ID`) compare by id, so every token and login of a member
/// is the same person; an actor recorded before staff identities (a bare
/// name) is the same person as a member of that name.
pub fn same_person(a: &str, b: &str) -> bool {
    use crate::core::staff::staff_id_of;
    let name = |actor: &str| -> String {
        match staff_id_of(actor) {
            Some(id) => actor
                .strip_prefix("staff:")
                .and_then(|r| r.strip_suffix(&format!("#{id}")))
                .unwrap_or(actor)
                .to_owned(),
            None => actor.to_owned(),
        }
    };
    match (staff_id_of(a), staff_id_of(b)) {
        (Some(x), Some(y)) => x == y,
        _ => name(a) == name(b),
    }
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

    fn age(now: OffsetDateTime) -> AgeRule {
        AgeRule {
            now,
            cap: Duration::days(MAX_CHECK_AGE_DAYS),
        }
    }

    /// The example check files of conf/checks, EV ones only.
    const EV_EXAMPLES: [&str; 7] = [
        include_str!("../../conf/checks/ev_registration.json"),
        include_str!("../../conf/checks/ev_business_category.json"),
        include_str!("../../conf/checks/ev_place_of_business.json"),
        include_str!("../../conf/checks/ev_operational_existence.json"),
        include_str!("../../conf/checks/ev_communication.json"),
        include_str!("../../conf/checks/ev_authority.json"),
        include_str!("../../conf/checks/ev_denied_party_screening.json"),
    ];

    /// OV's three checks by `by` at `now`, and every EV check at `ev_at`.
    fn ev_passing(now: OffsetDateTime, ev_at: OffsetDateTime, by: &str) -> Vec<Check> {
        let mut checks = passing(now, by);
        for (i, text) in EV_EXAMPLES.iter().enumerate() {
            let record: CheckRecord = serde_json::from_str(text).expect(text);
            assert_eq!(
                record.problems(ev_at.date()),
                Vec::<String>::new(),
                "{text}"
            );
            assert!(record.passed() && record.kind().ev_only(), "{text}");
            checks.push(check(10 + i as i64, record, by, ev_at));
        }
        checks
    }

    #[test]
    fn ev_approval_needs_every_evg_item_within_its_age() {
        let now = OffsetDateTime::now_utc();
        let checks = ev_passing(now, now, "alice");
        assert_eq!(
            approval_blockers(Level::Ev, &checks, now, Some("bob"), age(now)),
            Vec::<String>::new()
        );
        // Each new kind, missing, blocks by name; OV does not need it.
        for kind in &CheckKind::required(Level::Ev)[5..] {
            let without: Vec<Check> = checks
                .iter()
                .filter(|c| c.record.kind() != *kind)
                .cloned()
                .collect();
            assert_eq!(
                approval_blockers(Level::Ev, &without, now, Some("bob"), age(now)),
                vec![format!("{} not recorded", kind.describe())]
            );
            assert!(kind.ev_only() && !CheckKind::required(Level::Ov).contains(kind));
        }
        assert_eq!(CheckKind::required(Level::Ov).len(), 3);
        // 398 days after the EV items were performed, each is named as too old.
        let then = now - Duration::days(398);
        let old = ev_passing(now, then, "alice");
        let blockers = approval_blockers(Level::Ev, &old, then, Some("bob"), age(now));
        assert_eq!(blockers.len(), 7, "{blockers:?}");
        for (b, kind) in blockers.iter().zip(&CheckKind::required(Level::Ev)[3..]) {
            assert!(b.starts_with(kind.describe()), "{b}");
            assert!(b.contains("older than 398 days"), "{b}");
        }
        // A day younger, they count; a tighter configured cap is honoured.
        let fresh = now - Duration::days(397);
        let young = ev_passing(now, fresh, "alice");
        assert!(approval_blockers(Level::Ev, &young, fresh, Some("bob"), age(now)).is_empty());
        let tight = AgeRule {
            now,
            cap: Duration::days(100),
        };
        assert_eq!(
            approval_blockers(Level::Ev, &young, fresh, Some("bob"), tight).len(),
            7
        );
    }

    #[test]
    fn a_denied_party_match_fails_the_screening() {
        let now = OffsetDateTime::now_utc();
        let mut checks = ev_passing(now, now, "alice");
        let mut v: serde_json::Value = serde_json::from_str(EV_EXAMPLES[6]).unwrap();
        v["result"] = "match".into();
        let record: CheckRecord = serde_json::from_value(v).unwrap();
        assert!(!record.passed());
        checks.push(check(99, record, "carol", now + Duration::seconds(1)));
        assert_eq!(
            approval_blockers(Level::Ev, &checks, now, Some("bob"), age(now)),
            vec!["EV denied-party and high-risk screening (EVG 11.12) failed"]
        );
    }

    #[test]
    fn ev_records_are_checked_field_by_field() {
        let on = time::macros::date!(2026 - 12 - 06);
        let problems = |v: serde_json::Value| {
            serde_json::from_value::<CheckRecord>(v)
                .expect("parses")
                .problems(on)
        };
        // Three years counted to the day the check was performed.
        let mut v: serde_json::Value = serde_json::from_str(EV_EXAMPLES[3]).unwrap();
        v["evidence"]["registered_on"] = "2023-12-07".into();
        assert_eq!(
            problems(v.clone()),
            vec!["evidence.registered_on 2023-12-07 is less than three years before 2026-12-06"]
        );
        v["evidence"]["registered_on"] = "2023-12-06".into();
        assert!(problems(v).is_empty());
        let v = serde_json::json!({"kind": "ev_operational_existence", "source": "other", "reference": "r", "passed": true,
            "evidence": {"type": "demand_deposit_account", "institution": " "}});
        assert_eq!(problems(v), vec!["evidence.institution is required"]);
        let mut v: serde_json::Value = serde_json::from_str(EV_EXAMPLES[4]).unwrap();
        v["method"] = serde_json::json!({"channel": "email", "address": "soumu.example.co.jp"});
        v["affirmative_response"] = "".into();
        assert_eq!(
            problems(v),
            vec![
                "affirmative_response is required",
                "method.address must be an email address"
            ]
        );
        let mut v: serde_json::Value = serde_json::from_str(EV_EXAMPLES[5]).unwrap();
        v["certificate_approver"]["title"] = " ".into();
        assert_eq!(problems(v), vec!["certificate_approver.title is required"]);
        let mut v: serde_json::Value = serde_json::from_str(EV_EXAMPLES[6]).unwrap();
        v["lists"] = serde_json::json!(["ca_high_risk", "ca_high_risk"]);
        v["screened"] = serde_json::json!([
            "applicant",
            "contract_signer",
            "certificate_approver",
            "jurisdiction"
        ]);
        assert_eq!(
            problems(v),
            vec![
                "lists must not repeat a list",
                "lists must include a government denied-party list",
                "screened must include place_of_business"
            ]
        );
        // Kind-specific payloads are typed: unknown evidence, channel or
        // list, or a stray field, do not parse.
        for bad in [
            serde_json::json!({"kind": "ev_operational_existence", "source": "tdb", "reference": "r", "passed": true, "evidence": {"type": "vibes"}}),
            serde_json::json!({"kind": "ev_operational_existence", "source": "tdb", "reference": "r", "passed": true, "evidence": {"type": "current_listing", "x": 1}}),
            serde_json::json!({"kind": "ev_operational_existence", "source": "tdb", "reference": "r", "passed": true, "evidence": {"type": "three_years_registered", "registered_on": "-0001-01-01"}}),
            serde_json::json!({"kind": "ev_operational_existence", "source": "tdb", "reference": "r", "passed": true, "evidence": {"type": "three_years_registered", "registered_on": "2001-02-29"}}),
            serde_json::json!({"kind": "ev_communication", "method": {"channel": "pigeon", "address": "x"}, "matched_in": "qiis", "reference": "r", "affirmative_response": "y", "passed": true}),
            serde_json::json!({"kind": "ev_denied_party_screening", "lists": ["interpol"], "screened": [], "reference": "r", "result": "no_match"}),
            serde_json::json!({"kind": "ev_denied_party_screening", "lists": [], "screened": [], "reference": "r", "result": "no_match", "passed": true}),
            serde_json::json!({"kind": "ev_authority", "contract_signer": {"name": "a", "title": "b", "age": 3}, "certificate_approver": {"name": "a", "title": "b"}, "agency_method": "qiis_or_qgis", "authority_method": "qiis_or_qgis", "reference": "r", "passed": true}),
        ] {
            assert!(
                serde_json::from_value::<CheckRecord>(bad.clone()).is_err(),
                "{bad}"
            );
        }
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
    fn four_eyes_compares_identities() {
        assert!(same_person("staff:alice#1", "staff:alice#1"));
        assert!(!same_person("staff:alice#1", "staff:bob#2"));
        // Ids decide, not what precedes them.
        assert!(same_person("staff:alice#1", "staff:renamed#1"));
        assert!(!same_person("staff:alice#1", "staff:alice#3"));
        // A name recorded before staff identities is that member.
        assert!(same_person("alice", "staff:alice#1"));
        assert!(!same_person("alice", "staff:bob#2"));
        assert!(!same_person("alice", "cli:alice"));
        let now = OffsetDateTime::now_utc();
        let checks = passing(now, "staff:alice#1");
        assert!(
            !approval_blockers(Level::Ov, &checks, now, Some("staff:alice#1"), age(now)).is_empty()
        );
        assert!(
            approval_blockers(Level::Ov, &checks, now, Some("staff:bob#2"), age(now)).is_empty()
        );
    }

    #[test]
    fn approval_needs_every_check_and_four_eyes() {
        let now = OffsetDateTime::now_utc();
        let mut checks = passing(now, "alice");
        assert!(approval_blockers(Level::Ov, &checks, now, Some("bob"), age(now)).is_empty());
        let four = approval_blockers(Level::Ov, &checks, now, Some("alice"), age(now));
        assert_eq!(four.len(), 3);
        assert!(four[0].contains("four-eyes"));
        let ev = approval_blockers(Level::Ev, &checks, now, Some("bob"), age(now));
        assert_eq!(ev.len(), 7, "{ev:?}");
        checks.remove(1);
        assert_eq!(
            approval_blockers(Level::Ov, &checks, now, None, age(now)),
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
            approval_blockers(Level::Ov, &checks, now, None, age(now)),
            vec!["domain scope review failed"]
        );
        let later = now + time::Duration::seconds(5);
        assert_eq!(
            approval_blockers(Level::Ov, &checks, later, None, age(now)).len(),
            3
        );
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
