//! The vetting gate (RFC 8555 §7.4 finalize): a certificate is issued only
//! for an organization whose vetting is approved, unexpired, at the
//! profile's level, and whose domain scope covers every name.

use time::{Duration, OffsetDateTime};

use super::checks::{approval_blockers, AgeRule, Check, VettingStatus};
use super::organization::Level;
use super::Organization;
use crate::ca::profile::Profile;
use crate::error::{Error, ErrorKind, UserAction};

/// Why the gate refused, as a condition staff can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Vetting is not finished; what is missing.
    Pending(Vec<String>),
    Rejected(Option<String>),
    Suspended(Option<String>),
    /// The vetting data is older than the allowed age.
    Expired {
        vetted_at: Option<OffsetDateTime>,
    },
    /// The profile needs a higher validation level (EV from an OV org).
    Level {
        organization: Level,
        profile: Profile,
    },
    /// Names outside the organization's domain scope.
    OutOfScope(Vec<String>),
}

impl Refusal {
    /// A short, stable label (for listings and metrics).
    pub fn condition(&self) -> &'static str {
        match self {
            Refusal::Pending(_) => "pending",
            Refusal::Rejected(_) => "rejected",
            Refusal::Suspended(_) => "suspended",
            Refusal::Expired { .. } => "expired",
            Refusal::Level { .. } => "level",
            Refusal::OutOfScope(_) => "out_of_scope",
        }
    }

    /// The sentence the client and staff read.
    pub fn describe(&self, org_name: &str) -> String {
        match self {
            Refusal::Pending(missing) => format!(
                "organization '{org_name}' is awaiting vetting: {}",
                missing.join("; ")
            ),
            Refusal::Rejected(reason) => format!(
                "organization '{org_name}' was rejected by the CA{}",
                reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
            ),
            Refusal::Suspended(reason) => format!(
                "organization '{org_name}' is suspended{}; contact the CA",
                reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
            ),
            Refusal::Expired { vetted_at } => format!(
                "organization '{org_name}' needs re-vetting: its vetting data{} is older than the CA may rely on",
                vetted_at
                    .map(|t| format!(" (from {})", t.date()))
                    .unwrap_or_default()
            ),
            Refusal::Level { organization, profile } => format!(
                "organization '{org_name}' is vetted for {} certificates, not for profile {:?}",
                organization.as_str().to_uppercase(),
                profile.name()
            ),
            Refusal::OutOfScope(names) => format!(
                "organization '{org_name}' is not approved for {}",
                names.join(", ")
            ),
        }
    }

    /// The problem the ACME client gets. Waiting on the CA is
    /// `userActionRequired` (RFC 8555 §6.7); a decision against the
    /// organization is `unauthorized`.
    pub fn error(&self, org_name: &str) -> Error {
        match self {
            // The portal's status page says what the organization still
            // has to do (the edge adds it as `instance`).
            Refusal::Pending(_) | Refusal::Expired { .. } => {
                Error::new(ErrorKind::UserActionRequired, self.describe(org_name))
                    .with_user_action(UserAction::VettingStatus)
            }
            _ => Error::new(ErrorKind::Unauthorized, self.describe(org_name)),
        }
    }
}

/// The gate itself. `checks` are needed only to explain a pending status.
pub fn check(
    org: &Organization,
    checks: &[Check],
    profile: Profile,
    names: &[String],
    now: OffsetDateTime,
    max_age: Duration,
) -> Result<(), Refusal> {
    match org.effective_status(now, max_age) {
        VettingStatus::Approved => {}
        VettingStatus::Pending => {
            let age = AgeRule { now, cap: max_age };
            let mut missing =
                approval_blockers(org.data.level, checks, org.data_changed_at, None, age);
            if missing.is_empty() {
                missing.push("approval by CA staff not yet given".into());
            }
            return Err(Refusal::Pending(missing));
        }
        VettingStatus::Rejected => return Err(Refusal::Rejected(org.status_reason.clone())),
        VettingStatus::Suspended => return Err(Refusal::Suspended(org.status_reason.clone())),
        VettingStatus::Expired => {
            return Err(Refusal::Expired {
                vetted_at: org.vetted_at,
            })
        }
    }
    if profile == Profile::Ev && org.data.level != Level::Ev {
        return Err(Refusal::Level {
            organization: org.data.level,
            profile,
        });
    }
    let outside: Vec<String> = names
        .iter()
        .filter(|n| !org.data.in_scope(n))
        .cloned()
        .collect();
    if !outside.is_empty() {
        return Err(Refusal::OutOfScope(outside));
    }
    Ok(())
}
