//! CAA (RFC 8659, with the ACME parameters of RFC 8657; CA/B Forum BR
//! 3.2.2.8): before issuing for a name, find its relevant CAA RRset and
//! issue only if a property there authorizes us.
//!
//! - Relevant RRset (RFC 8659 §3): the CAA RRset of the name (the base name
//!   for a wildcard), else of its parent, and so on up to and including the
//!   TLD; CNAMEs are followed by ordinary resolution. None anywhere:
//!   any CA may issue.
//! - Property selection (RFC 8659 §4.2, §4.3): `issue` for a name;
//!   `issuewild` for a wildcard when the set has one, else `issue`. A set
//!   without the selected properties permits issuance.
//! - Authorization: a property whose issuer-domain-name is one of our
//!   `caa_identities` (case-insensitive), with its parameters satisfied:
//!   `accounturi` equal to the requesting account's URI (RFC 8657 §3),
//!   `validationmethods` listing the method that validated the name
//!   (RFC 8657 §4); a parameter given twice makes the property unusable.
//!   `issue ";"` names no CA and so authorizes nobody. Other parameters are
//!   ignored (RFC 8659 §4.2).
//! - A critical property with a tag we do not know forbids issuance
//!   (RFC 8659 §4.1). Known: issue, issuewild, iodef (ignored: we send no
//!   reports), issuemail and issuevmc (they govern other certificate
//!   types, RFC 9495 and the VMC requirements).
//! - A lookup failure (SERVFAIL, timeout, DNSSEC Bogus) is never read as
//!   "no CAA": it refuses with "CAA lookup failed". BR 3.2.2.8 would allow
//!   some failures to count as permission; we do not take that option.
//! - With no `caa_identities` configured, any property naming a CA refuses:
//!   we cannot tell whether it names us.

use serde::{Deserialize, Serialize};

use super::dns::DnsAnswer;
use super::remote::{RemoteAnswer, RemoteCheck};
use super::{is_dns_name, Validator};
use crate::acme::ChallengeType;
use crate::error::{Error, ErrorKind, Result};
use hickory_resolver::proto::rr::rdata::CAA as Caa;

/// Property tags we understand (RFC 8659 §4.1: an unknown critical tag
/// forbids issuance).
const KNOWN_TAGS: &[&str] = &["issue", "issuewild", "iodef", "issuemail", "issuevmc"];

/// One CAA check: the name about to be issued for, and who asks.
#[derive(Debug, Clone, Copy)]
pub struct CaaRequest<'a> {
    /// The DNS name as it will appear in the certificate; may start with
    /// `*.`.
    pub name: &'a str,
    /// The ACME account URI of the order (RFC 8657 §3 `accounturi`).
    pub account_uri: &'a str,
    /// The method that validated the name's authorization (RFC 8657 §4
    /// `validationmethods`).
    pub method: ChallengeType,
    /// Issuer domain names that denote this CA in CAA records.
    pub caa_identities: &'a [String],
}

/// What the check saw and decided, kept with the order as evidence
/// (BR 3.2.2.8 requires the CA to log its CAA processing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaaEvidence {
    /// The name checked, as requested (wildcards keep their `*.`).
    pub name: String,
    /// Where the relevant RRset was found; `None` when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevant_name: Option<String>,
    /// The relevant RRset in presentation form (`0 issue "ca.example.net"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<String>,
    /// DNSSEC status of the answer the decision rests on (the relevant
    /// RRset, or the weakest of the empty answers on the way up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<String>,
    /// "permitted: …", "refused: …" or "lookup failed: …".
    pub decision: String,
    /// The method that validated the name, which `validationmethods`
    /// (RFC 8657 §4) was checked against. Absent in evidence stored
    /// before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<ChallengeType>,
    /// When the decision was made (BR 3.2.2.8: at most 8 hours before
    /// issuance). Absent in evidence stored before it was recorded.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub checked_at: Option<time::OffsetDateTime>,
}

/// A CAA check from here and from every remote perspective.
#[derive(Debug, Clone)]
pub struct CaaOutcome {
    /// The primary's result, corroborated by the quorum in force (BR
    /// 3.2.2.9) when perspectives are configured.
    pub result: Result<()>,
    /// What the primary saw and decided.
    pub evidence: CaaEvidence,
    /// Each remote perspective's answer, in configured order.
    pub perspectives: Vec<RemoteAnswer>,
}

impl Validator {
    /// Checks CAA for one name here and at every remote perspective
    /// (BR 3.2.2.8, 3.2.2.9); what the RA runs before issuance.
    pub async fn check_caa_corroborated(&self, req: &CaaRequest<'_>) -> CaaOutcome {
        if self.perspectives.is_empty() {
            let (result, evidence) = self.check_caa(req).await;
            return CaaOutcome {
                result,
                evidence,
                perspectives: Vec::new(),
            };
        }
        let check = RemoteCheck::Caa {
            name: req.name.to_owned(),
            account_uri: req.account_uri.to_owned(),
            method: req.method,
            caa_identities: req.caa_identities.to_vec(),
        };
        let mut primary_evidence = None;
        let primary = async {
            let (result, evidence) = self.check_caa(req).await;
            primary_evidence = Some(evidence);
            result
        };
        let (result, perspectives) = self.corroborate(primary, &check).await;
        let evidence = primary_evidence.unwrap_or_else(|| CaaEvidence {
            name: req.name.to_owned(),
            relevant_name: None,
            records: Vec::new(),
            dnssec: None,
            decision: "not awaited: the remote perspectives decided".into(),
            method: Some(req.method),
            checked_at: Some(self.clock.now()),
        });
        CaaOutcome {
            result,
            evidence,
            perspectives,
        }
    }

    /// Checks CAA for one name from here only (what a remote perspective
    /// runs). Never panics; bounded by the validation timeout. The evidence
    /// is returned whatever the outcome.
    pub async fn check_caa(&self, req: &CaaRequest<'_>) -> (Result<()>, CaaEvidence) {
        let mut evidence = CaaEvidence {
            name: req.name.to_owned(),
            relevant_name: None,
            records: Vec::new(),
            dnssec: None,
            decision: String::new(),
            method: Some(req.method),
            checked_at: None,
        };
        let secs = self.inner.timeout_secs;
        let bounded = tokio::time::timeout(
            std::time::Duration::from_secs(secs),
            self.caa_inner(req, &mut evidence),
        )
        .await;
        let result = match bounded {
            Ok(r) => r,
            Err(_) => Err(Error::new(
                ErrorKind::Caa,
                format!(
                    "CAA lookup failed for {}: timeout after {secs}s",
                    base_name(req.name)
                ),
            )),
        };
        evidence.checked_at = Some(self.clock.now());
        evidence.decision = match &result {
            Ok(reason) => format!("permitted: {reason}"),
            Err(e) if e.detail.starts_with("CAA lookup failed") => {
                format!("lookup failed: {}", e.detail)
            }
            Err(e) => format!("refused: {}", e.detail),
        };
        let relevant = evidence.relevant_name.as_deref().unwrap_or("none");
        match &result {
            Ok(_) => {
                tracing::info!(name = %req.name, decision = %evidence.decision, relevant = %relevant, "CAA check")
            }
            Err(_) => {
                tracing::warn!(name = %req.name, decision = %evidence.decision, relevant = %relevant, "CAA check")
            }
        }
        (result.map(|_| ()), evidence)
    }

    async fn caa_inner(&self, req: &CaaRequest<'_>, evidence: &mut CaaEvidence) -> Result<String> {
        let resolver = &self.inner.resolver;
        climb_and_decide(req, evidence, |step| async move {
            resolver.lookup_caa(&step).await
        })
        .await
    }
}

/// The check over any CAA lookup: the name, the relevant RRset, the
/// decision (`Ok(why permitted)`). `crate::fuzzing` runs it over
/// synthetic answers.
pub(crate) async fn climb_and_decide<F, Fut>(
    req: &CaaRequest<'_>,
    evidence: &mut CaaEvidence,
    lookup: F,
) -> Result<String>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<DnsAnswer<Caa>>>,
{
    let wildcard = req.name.starts_with("*.");
    let base = base_name(req.name);
    if !is_dns_name(&base) {
        return Err(Error::malformed(format!(
            "invalid name {:?} for a CAA check",
            req.name
        )));
    }
    let Some((relevant, answer)) = relevant_rrset(&base, evidence, lookup).await? else {
        return Ok("no CAA records found".into());
    };
    evidence.relevant_name = Some(relevant.clone());
    evidence.records = answer.values.iter().map(|c| c.to_string()).collect();
    evidence.dnssec = answer.dnssec.clone();
    let props: Vec<Property> = answer.values.iter().map(Property::from).collect();
    decide(&props, wildcard, req).map_err(|reason| {
        Error::new(
            ErrorKind::Caa,
            format!("CAA record for {relevant} prevents issuance: {reason}"),
        )
    })
}

/// RFC 8659 §3: climb from `base` to the TLD until a non-empty CAA
/// RRset. A failed lookup at any step ends the climb with an error: the
/// step might have held the relevant set. Every step is asked at once
/// (one round trip, not one a label, as Boulder does) and the answers
/// are read in the climb's order, so the outcome is the sequential
/// climb's: the lookups above the relevant set are dropped unread, and
/// a slow or failing one there delays nothing.
async fn relevant_rrset<F, Fut>(
    base: &str,
    evidence: &mut CaaEvidence,
    lookup: F,
) -> Result<Option<(String, DnsAnswer<Caa>)>>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<DnsAnswer<Caa>>>,
{
    use futures_util::stream::{FuturesOrdered, StreamExt};
    let lookup = &lookup;
    let mut answers: FuturesOrdered<_> = climb(base)
        .map(|step| async move { (step, lookup(step.to_owned()).await) })
        .collect();
    let mut proofs: Vec<String> = Vec::new();
    while let Some((candidate, answer)) = answers.next().await {
        let answer = answer.map_err(|e| {
            Error::new(
                ErrorKind::Caa,
                format!(
                    "CAA lookup failed for {candidate}: {}",
                    e.detail.trim_start_matches("DNS problem: ")
                ),
            )
        })?;
        if !answer.values.is_empty() {
            return Ok(Some((candidate.to_owned(), answer)));
        }
        proofs.extend(answer.dnssec);
    }
    evidence.dnssec = weakest_status(&proofs);
    Ok(None)
}

/// The name without a wildcard label, lower case, without a trailing dot.
fn base_name(name: &str) -> String {
    name.strip_prefix("*.")
        .unwrap_or(name)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// `a.b.example.com`, `b.example.com`, `example.com`, `com`.
fn climb(name: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(name), |n| n.split_once('.').map(|(_, rest)| rest))
        .filter(|n| !n.is_empty())
}

fn weakest_status(statuses: &[String]) -> Option<String> {
    ["Indeterminate", "Insecure", "Secure"]
        .into_iter()
        .find(|s| statuses.iter().any(|x| x == s))
        .map(str::to_owned)
}

/// One CAA property, as far as the decision needs it.
#[derive(Debug)]
struct Property {
    critical: bool,
    /// Lower case (RFC 8659 §4.1: tags match case-insensitively).
    tag: String,
    value: String,
}

impl From<&Caa> for Property {
    fn from(c: &Caa) -> Self {
        Property {
            critical: c.issuer_critical,
            tag: c.tag.to_ascii_lowercase(),
            value: String::from_utf8_lossy(&c.value).into_owned(),
        }
    }
}

/// The decision on the relevant RRset: `Ok(why permitted)` or
/// `Err(why refused)`.
fn decide(
    props: &[Property],
    wildcard: bool,
    req: &CaaRequest<'_>,
) -> std::result::Result<String, String> {
    // RFC 8659 §4.1: an unknown critical property forbids issuance.
    if let Some(p) = props
        .iter()
        .find(|p| p.critical && !KNOWN_TAGS.contains(&p.tag.as_str()))
    {
        return Err(format!("unknown critical property tag \"{}\"", p.tag));
    }
    // RFC 8659 §4.3: for a wildcard, issuewild properties take precedence
    // over issue; for any other name they are ignored.
    let tag = if wildcard && props.iter().any(|p| p.tag == "issuewild") {
        "issuewild"
    } else {
        "issue"
    };
    let selected: Vec<&Property> = props.iter().filter(|p| p.tag == tag).collect();
    if selected.is_empty() {
        return Ok(if wildcard {
            "no issue or issuewild property".into()
        } else {
            "no issue property".into()
        });
    }

    let mut ours: Vec<String> = Vec::new();
    let mut forbids_all = false;
    let mut others: Vec<String> = Vec::new();
    for p in &selected {
        match parse_issue_value(&p.value) {
            Err(why) => others.push(format!("malformed {tag} value \"{}\" ({why})", p.value)),
            Ok(IssueValue { issuer: None, .. }) => forbids_all = true,
            Ok(IssueValue {
                issuer: Some(issuer),
                params,
            }) => {
                if !req
                    .caa_identities
                    .iter()
                    .any(|id| id.trim_end_matches('.').eq_ignore_ascii_case(&issuer))
                {
                    others.push(issuer);
                    continue;
                }
                match check_params(&params, req) {
                    Ok(()) => return Ok(format!("{tag} \"{}\" authorizes this CA", p.value)),
                    Err(why) => ours.push(why),
                }
            }
        }
    }
    // The most specific reason first: a property that names us but whose
    // parameters do not fit says what to fix.
    if let Some(why) = ours.first() {
        return Err(why.clone());
    }
    if forbids_all && others.is_empty() {
        return Err(format!("{tag} \";\" forbids issuance by any CA"));
    }
    if req.caa_identities.is_empty() {
        return Err(format!(
            "{tag} properties name a CA and this CA has no CAA identity configured"
        ));
    }
    Err(format!(
        "no {tag} property authorizes this CA ({}); found: {}",
        req.caa_identities.join(", "),
        others.join(", ")
    ))
}

/// RFC 8657 §3 and §4 for a property that names us.
fn check_params(
    params: &[(String, String)],
    req: &CaaRequest<'_>,
) -> std::result::Result<(), String> {
    let get = |key: &str| -> std::result::Result<Option<&str>, String> {
        let mut found = params.iter().filter(|(k, _)| k.eq_ignore_ascii_case(key));
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some((_, v)), None) => Ok(Some(v.as_str())),
            // RFC 8657 §3, §4: a repeated parameter makes the record unusable.
            (Some(_), Some(_)) => Err(format!("{key} parameter appears more than once")),
        }
    };
    if let Some(uri) = get("accounturi")? {
        if uri != req.account_uri {
            return Err(format!(
                "accounturi does not match (record allows {uri}, order is from {})",
                req.account_uri
            ));
        }
    }
    if let Some(methods) = get("validationmethods")? {
        let method = req.method.as_str();
        if !methods.split(',').any(|m| m.trim() == method) {
            return Err(format!(
                "validationmethods {methods:?} does not include {method}, the method used"
            ));
        }
    }
    Ok(())
}

/// An `issue`/`issuewild` value (RFC 8659 §4.2).
#[derive(Debug, PartialEq, Eq)]
struct IssueValue {
    /// Lower case, no trailing dot; `None` for `;` (no CA).
    issuer: Option<String>,
    params: Vec<(String, String)>,
}

/// RFC 8659 §4.2:
/// `issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]`,
/// `parameter = tag *WSP "=" *WSP value`, `value = *(%x21-3A / %x3C-7E)`.
fn parse_issue_value(raw: &str) -> std::result::Result<IssueValue, &'static str> {
    let wsp = |c: char| c == ' ' || c == '\t';
    let (name, rest) = match raw.split_once(';') {
        Some((n, r)) => (n.trim_matches(wsp), Some(r)),
        None => (raw.trim_matches(wsp), None),
    };
    let issuer = if name.is_empty() {
        None
    } else {
        let n = name.trim_end_matches('.');
        if !n.split('.').all(is_label) {
            return Err("invalid issuer-domain-name");
        }
        Some(n.to_ascii_lowercase())
    };
    let mut params = Vec::new();
    for part in rest.into_iter().flat_map(|r| r.split(';')) {
        let part = part.trim_matches(wsp);
        if part.is_empty() {
            continue;
        }
        let (tag, value) = part.split_once('=').ok_or("parameter without \"=\"")?;
        let (tag, value) = (tag.trim_matches(wsp), value.trim_matches(wsp));
        if !is_label(tag) {
            return Err("invalid parameter tag");
        }
        if !value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b';')
        {
            return Err("invalid parameter value");
        }
        params.push((tag.to_owned(), value.to_owned()));
    }
    Ok(IssueValue { issuer, params })
}

/// `(ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))`.
fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::va::testutil::{caa, cname, DnsServer};

    const ACCOUNT: &str = "https://acme.trustgate.jp/acme/acct/1";

    fn ids() -> Vec<String> {
        vec!["trustgate.jp".to_owned()]
    }

    async fn check(
        dns: &DnsServer,
        name: &str,
        method: ChallengeType,
    ) -> (Result<()>, CaaEvidence) {
        let v = Validator::new(&dns.config()).expect("validator");
        let ids = ids();
        v.check_caa(&CaaRequest {
            name,
            account_uri: ACCOUNT,
            method,
            caa_identities: &ids,
        })
        .await
    }

    fn refused(r: &Result<()>) -> String {
        let e = r.as_ref().expect_err("refused");
        assert_eq!(e.kind, ErrorKind::Caa, "{}", e.detail);
        e.detail.clone()
    }

    #[tokio::test]
    async fn no_records_permits() {
        let dns = DnsServer::start().await;
        let (r, ev) = check(&dns, "www.example.org", ChallengeType::Http01).await;
        r.expect("permitted");
        assert_eq!(ev.relevant_name, None);
        assert!(ev.records.is_empty());
        assert_eq!(ev.decision, "permitted: no CAA records found");
        assert_eq!(ev.dnssec, None);
        assert_eq!(ev.method, Some(ChallengeType::Http01));
        assert!(ev.checked_at.is_some());
    }

    #[test]
    fn evidence_serializes_method_and_time_and_reads_older_rows() {
        let ev = CaaEvidence {
            name: "*.example.org".into(),
            relevant_name: Some("example.org".into()),
            records: vec!["0 issue \"trustgate.jp\"".into()],
            dnssec: None,
            decision: "permitted: issue \"trustgate.jp\" authorizes this CA".into(),
            method: Some(ChallengeType::Dns01),
            checked_at: Some(time::macros::datetime!(2026-11-25 09:30:00 UTC)),
        };
        let json = serde_json::to_value(&ev).expect("serializes");
        assert_eq!(json["method"], "dns-01");
        assert_eq!(json["checkedAt"], "2026-11-25T09:30:00Z");
        assert_eq!(json["relevantName"], "example.org");
        let back: CaaEvidence = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, ev);
        // Evidence written before method and time were kept still reads.
        let old: CaaEvidence = serde_json::from_str(
            r#"{"name":"example.org","decision":"permitted: no CAA records found"}"#,
        )
        .expect("older evidence");
        assert_eq!((old.method, old.checked_at), (None, None));
    }

    #[tokio::test]
    async fn issue_for_us_permits_with_evidence() {
        let dns = DnsServer::start().await;
        dns.add("example.org", caa(0, "issue", "other-ca.jp"));
        dns.add("example.org", caa(0, "issue", "TrustGate.jp."));
        dns.add("example.org", caa(0, "iodef", "mailto:sec@example.org"));
        let (r, ev) = check(&dns, "example.org", ChallengeType::Http01).await;
        r.expect("permitted");
        assert_eq!(ev.relevant_name.as_deref(), Some("example.org"));
        assert_eq!(ev.records.len(), 3);
        assert!(ev.records.contains(&"0 issue \"TrustGate.jp.\"".to_owned()));
        assert!(
            ev.decision.starts_with("permitted: issue"),
            "{}",
            ev.decision
        );
        let json = serde_json::to_value(&ev).expect("json");
        assert_eq!(json["relevantName"], "example.org");
        assert!(json.get("dnssec").is_none());
    }

    #[tokio::test]
    async fn issue_for_another_ca_refuses() {
        let dns = DnsServer::start().await;
        dns.add("example.org", caa(0, "issue", "other-ca.jp"));
        let (r, ev) = check(&dns, "example.org", ChallengeType::Http01).await;
        let d = refused(&r);
        assert!(
            d.starts_with("CAA record for example.org prevents issuance"),
            "{d}"
        );
        assert!(d.contains("other-ca.jp"), "{d}");
        assert!(ev.decision.starts_with("refused: "), "{}", ev.decision);
    }

    #[tokio::test]
    async fn empty_issuer_forbids() {
        let dns = DnsServer::start().await;
        dns.add("example.org", caa(0, "issue", ";"));
        let (r, _) = check(&dns, "example.org", ChallengeType::Http01).await;
        assert_eq!(
            refused(&r),
            "CAA record for example.org prevents issuance: issue \";\" forbids issuance by any CA"
        );
    }

    #[tokio::test]
    async fn issuewild_forbids_only_wildcards() {
        let dns = DnsServer::start().await;
        dns.add("example.org", caa(0, "issue", "trustgate.jp"));
        dns.add("example.org", caa(0, "issuewild", ";"));
        let (r, _) = check(&dns, "example.org", ChallengeType::Dns01).await;
        r.expect("name permitted");
        let (r, ev) = check(&dns, "*.example.org", ChallengeType::Dns01).await;
        assert!(refused(&r).contains("issuewild \";\""));
        assert_eq!(ev.name, "*.example.org");
        // A wildcard without issuewild falls back to issue.
        let dns = DnsServer::start().await;
        dns.add("example.org", caa(0, "issue", "trustgate.jp"));
        let (r, _) = check(&dns, "*.example.org", ChallengeType::Dns01).await;
        r.expect("wildcard permitted by issue");
        // issuewild naming us permits a wildcard even when issue forbids.
        let dns = DnsServer::start().await;
        dns.add("example.org", caa(0, "issue", ";"));
        dns.add("example.org", caa(0, "issuewild", "trustgate.jp"));
        let (r, _) = check(&dns, "*.example.org", ChallengeType::Dns01).await;
        r.expect("wildcard permitted by issuewild");
        let (r, _) = check(&dns, "example.org", ChallengeType::Dns01).await;
        refused(&r);
    }

    #[tokio::test]
    async fn accounturi_mismatch_refuses() {
        let dns = DnsServer::start().await;
        dns.add(
            "example.org",
            caa(
                0,
                "issue",
                "trustgate.jp; accounturi=https://acme.trustgate.jp/acme/acct/2",
            ),
        );
        let (r, _) = check(&dns, "example.org", ChallengeType::Http01).await;
        let d = refused(&r);
        assert!(
            d.starts_with(
                "CAA record for example.org prevents issuance: accounturi does not match"
            ),
            "{d}"
        );
        // The right account is permitted.
        let dns = DnsServer::start().await;
        dns.add(
            "example.org",
            caa(0, "issue", &format!("trustgate.jp; accounturi={ACCOUNT}")),
        );
        let (r, _) = check(&dns, "example.org", ChallengeType::Http01).await;
        r.expect("permitted for the account");
        // RFC 8657 §3: accounturi twice makes the record unusable.
        let dns = DnsServer::start().await;
        dns.add(
            "example.org",
            caa(
                0,
                "issue",
                &format!("trustgate.jp; accounturi={ACCOUNT}; accounturi={ACCOUNT}"),
            ),
        );
        let (r, _) = check(&dns, "example.org", ChallengeType::Http01).await;
        assert!(refused(&r).contains("more than once"));
    }

    #[tokio::test]
    async fn validationmethods_excluding_the_method_refuses() {
        let dns = DnsServer::start().await;
        dns.add(
            "example.org",
            caa(
                0,
                "issue",
                "trustgate.jp; validationmethods=dns-01,tls-alpn-01",
            ),
        );
        let (r, _) = check(&dns, "example.org", ChallengeType::Http01).await;
        let d = refused(&r);
        assert!(d.contains("validationmethods"), "{d}");
        assert!(d.contains("http-01"), "{d}");
        let (r, _) = check(&dns, "example.org", ChallengeType::TlsAlpn01).await;
        r.expect("tls-alpn-01 listed");
    }

    #[tokio::test]
    async fn unknown_critical_tag_refuses_unknown_noncritical_is_ignored() {
        let dns = DnsServer::start().await;
        dns.add("example.org", caa(0, "issue", "trustgate.jp"));
        dns.add("example.org", caa(128, "tbs", "unknown"));
        let (r, _) = check(&dns, "example.org", ChallengeType::Http01).await;
        assert_eq!(
            refused(&r),
            "CAA record for example.org prevents issuance: unknown critical property tag \"tbs\""
        );
        let dns = DnsServer::start().await;
        dns.add("example.org", caa(0, "issue", "trustgate.jp"));
        dns.add("example.org", caa(0, "tbs", "unknown"));
        dns.add("example.org", caa(128, "iodef", "mailto:x@example.org"));
        let (r, _) = check(&dns, "example.org", ChallengeType::Http01).await;
        r.expect("non-critical unknown and critical iodef are fine");
    }

    #[tokio::test]
    async fn servfail_is_lookup_failure_not_permission() {
        let dns = DnsServer::start().await;
        dns.servfail("www.example.org");
        let (r, ev) = check(&dns, "www.example.org", ChallengeType::Http01).await;
        let d = refused(&r);
        assert!(
            d.starts_with("CAA lookup failed for www.example.org: "),
            "{d}"
        );
        assert!(d.contains("SERVFAIL"), "{d}");
        assert!(
            ev.decision.starts_with("lookup failed: "),
            "{}",
            ev.decision
        );
        // A failure at the parent, after an empty child, fails too.
        let dns = DnsServer::start().await;
        dns.servfail("example.org");
        let (r, _) = check(&dns, "www.example.org", ChallengeType::Http01).await;
        assert!(refused(&r).starts_with("CAA lookup failed for example.org: "));
    }

    #[tokio::test]
    async fn record_found_at_parent_after_climbing() {
        let dns = DnsServer::start().await;
        dns.add("example.org", caa(0, "issue", "other-ca.jp"));
        let (r, ev) = check(&dns, "*.a.b.example.org", ChallengeType::Dns01).await;
        let d = refused(&r);
        assert!(d.starts_with("CAA record for example.org prevents"), "{d}");
        assert_eq!(ev.relevant_name.as_deref(), Some("example.org"));
        // The closest set wins: a permissive child hides a strict parent.
        dns.add("b.example.org", caa(0, "issue", "trustgate.jp"));
        let (r, ev) = check(&dns, "a.b.example.org", ChallengeType::Dns01).await;
        r.expect("child set permits");
        assert_eq!(ev.relevant_name.as_deref(), Some("b.example.org"));
    }

    #[tokio::test]
    async fn the_climbs_steps_are_asked_at_once_and_read_in_order() {
        const RTT: std::time::Duration = std::time::Duration::from_millis(300);
        let dns = DnsServer::start().await;
        dns.delay(RTT);
        dns.add("example.org", caa(0, "issue", "trustgate.jp"));
        // Above the relevant set: the sequential climb never asked, so its
        // failure must not count.
        dns.servfail("org");
        let started = std::time::Instant::now();
        let (r, ev) = check(&dns, "a.b.example.org", ChallengeType::Http01).await;
        let took = started.elapsed();
        r.expect("example.org permits; org is above it");
        assert_eq!(ev.relevant_name.as_deref(), Some("example.org"));
        // One after another, the three steps down to example.org take
        // 3 × RTT; waiting on org's SERVFAIL (retried) takes as long.
        assert!(took < 2 * RTT, "{took:?}");
        // Below the relevant set, a failure still ends the climb.
        dns.servfail("b.example.org");
        let (r, _) = check(&dns, "a.b.example.org", ChallengeType::Http01).await;
        assert!(refused(&r).starts_with("CAA lookup failed for b.example.org: "));
    }

    #[tokio::test]
    async fn cname_target_records_are_the_names_records() {
        let dns = DnsServer::start().await;
        dns.add("www.example.org", cname("cdn.provider.jp"));
        dns.add("cdn.provider.jp", caa(0, "issue", ";"));
        let (r, ev) = check(&dns, "www.example.org", ChallengeType::Http01).await;
        refused(&r);
        assert_eq!(ev.relevant_name.as_deref(), Some("www.example.org"));
    }

    #[tokio::test]
    async fn no_identities_refuses_any_named_ca() {
        let dns = DnsServer::start().await;
        dns.add("example.org", caa(0, "issue", "trustgate.jp"));
        let v = Validator::new(&dns.config()).expect("validator");
        let (r, _) = v
            .check_caa(&CaaRequest {
                name: "example.org",
                account_uri: ACCOUNT,
                method: ChallengeType::Http01,
                caa_identities: &[],
            })
            .await;
        assert!(refused(&r).contains("no CAA identity configured"));
    }

    #[test]
    fn issue_values_parse_per_rfc8659() {
        let p =
            parse_issue_value("  ca.example.net ;  accounturi = https://a/b ; x=y ;").expect("ok");
        assert_eq!(p.issuer.as_deref(), Some("ca.example.net"));
        assert_eq!(
            p.params,
            vec![
                ("accounturi".to_owned(), "https://a/b".to_owned()),
                ("x".to_owned(), "y".to_owned())
            ]
        );
        assert_eq!(parse_issue_value(";").expect("ok").issuer, None);
        assert_eq!(parse_issue_value("").expect("ok").issuer, None);
        assert!(parse_issue_value("ca example").is_err());
        assert!(parse_issue_value("ca.example.net; novalue").is_err());
        assert!(parse_issue_value("-ca.example.net").is_err());
    }

    #[test]
    fn climb_stops_at_the_tld() {
        assert_eq!(
            climb("a.b.example.org").collect::<Vec<_>>(),
            vec!["a.b.example.org", "b.example.org", "example.org", "org"]
        );
    }
}
